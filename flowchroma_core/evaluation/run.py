"""Run an evaluation: colorize colour videos turned grey, measure them against the
originals, and collect contact-sheet rows; also the sheet of black-and-white films.

Each colour video (or folder of frames) is turned grey by the pipeline's own input (the
video's luma, read by ``video_reader``), colorized, and compared with the decoded colour
frames (PyAV ``rgb24``) as the restorer would see them: 8-bit RGB rebuilt from the
source's luma codes and the colorizer's chroma with the source's matrix.

Methods compared:

* ``"model"``: the colorizer with the options given (state carried through each shot);
* ``"no colour"``: chroma zero, i.e. the grey input itself: the floor every colorizer must
  beat in PSNR, and the reference for perfect temporal steadiness;
* ``"per-frame"``: the same network with its temporal state reset at every frame
  (``window_frames=1, carry_state=False``): what the recurrence buys.

PSNR, SSIM and colourfulness are measured on every ``every``-th frame (0, every, 2·every,
...), CDC and warp error over all frames (the first ``max_frames``). The flow for the warp
error comes from the originals, once per video, shared by all methods. Videos are streamed
in lock-step (originals, grey input and every method side by side), so memory stays
bounded by one clip per method whatever the film's length. Means are over videos, each
weighing the same. ``metrics`` documents every formula.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import cv2
import numpy as np

from flowchroma_core.colour.ycbcr import Matrix, luma_to_float, rgb_to_codes, ycbcr_to_rgb
from flowchroma_core.evaluation import metrics
from flowchroma_core.evaluation.contact_sheet import (
    SheetRow,
    sample_indices,
    sheet_row,
    write_contact_sheet,
)
from flowchroma_core.evaluation.report import (
    EvalReport,
    EvaluationError,
    Reference,
    Scores,
    VideoResult,
    nanmean,
)
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import (
    IMAGE_EXTENSIONS,
    Frame,
    VideoInfo,
    luma_matrix,
    open_video,
    read_rgb,
)

if TYPE_CHECKING:  # torch loads only when a model runs: ``flowchroma --help`` stays quick
    from flowchroma_core.model.session import ModelSession

logger = logging.getLogger(__name__)


Method = Literal["model", "no colour", "per-frame"]
METHODS: tuple[str, ...] = get_args(Method)
MODEL_METHODS = frozenset({"model", "per-frame"})


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Videos and frame folders to evaluate: a folder with images is one sequence; a folder
    without (a data set such as DAVIS) stands for its sub-folders and video files, sorted."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir() and not any(
            p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir() if p.is_file()
        ):
            inside = sorted(p for p in path.iterdir() if not p.name.startswith("."))
            if not inside:
                raise EvaluationError(f"{path}: an empty folder; nothing to evaluate")
            out += inside
        else:
            out.append(path)
    return out


def to_rgb8(
    luma: np.ndarray,
    cb: np.ndarray | None,
    cr: np.ndarray | None,
    *,
    info: VideoInfo,
    matrix: Matrix,
) -> np.ndarray:
    """8-bit RGB (H, W, 3) from native luma codes and chroma (None: grey), clipped, rounded."""
    y = luma_to_float(luma, info.bit_depth, info.color_range)
    if cb is None or cr is None:
        rgb = np.repeat(y[..., None], 3, axis=-1)
    else:
        rgb = ycbcr_to_rgb(y, cb, cr, matrix)
    return rgb_to_codes(rgb, 8)


def method_options(method: str, options: ColorizeOptions, matrix: Matrix) -> ColorizeOptions:
    """The options a model method runs with on a source with luma ``matrix``."""
    if method == "per-frame":
        return options.replace(matrix=matrix, window_frames=1, overlap=0, carry_state=False)
    return options.replace(matrix=matrix)


def _check_options(methods: Sequence[str], every: int, max_frames: int | None) -> tuple[str, ...]:
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(
            f"unknown method(s) {unknown or '(none given)'}; allowed: {', '.join(METHODS)}"
        )
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1 (or None for all), got {max_frames}")
    return tuple(dict.fromkeys(methods))


# ---------------------------------------------------------------------------------------
# Evaluation


@dataclass
class _MethodMeter:
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    colourfulness: list[float] = field(default_factory=list)
    cdc: metrics.CDCMeter = field(default_factory=metrics.CDCMeter)
    warp: metrics.WarpErrorMeter = field(default_factory=metrics.WarpErrorMeter)

    def push(
        self,
        out: np.ndarray,
        truth: np.ndarray | None,
        flow: metrics.FlowPair | None,
        sampled: bool,
    ) -> None:
        """One frame of the method (``truth`` None: the originals themselves)."""
        if sampled:
            if truth is not None:
                self.psnr.append(metrics.psnr(out, truth))
                self.ssim.append(metrics.ssim(out, truth))
            self.colourfulness.append(metrics.colourfulness(out))
        self.cdc.push(out)
        self.warp.push(out, flow)

    def scores(self) -> Scores:
        return Scores(
            psnr=metrics.mean_psnr(self.psnr),
            ssim=nanmean(self.ssim),
            colourfulness=nanmean(self.colourfulness),
            cdc=self.cdc.value,
            warp_error=self.warp.value,
        )


def video_result(
    path: Path, frames: int, original: _MethodMeter, meters: dict[str, _MethodMeter], begin: float
) -> VideoResult:
    """One video's scores: each method's meter, and the originals' own colourfulness, CDC
    and warp error (what the methods are compared with)."""
    return VideoResult(
        name=path.name,
        path=str(path),
        frames=frames,
        sampled=len(original.colourfulness),
        original=Reference(
            colourfulness=nanmean(original.colourfulness),
            cdc=original.cdc.value,
            warp_error=original.warp.value,
        ),
        methods={m: meter.scores() for m, meter in meters.items()},
        seconds=time.perf_counter() - begin,
    )


def _colour_stream(
    session: ModelSession, options: ColorizeOptions, frames: Iterator[Frame], info: VideoInfo
) -> Iterator[tuple[int, np.ndarray]]:
    from flowchroma_core.pipeline.colorizer import Colorizer

    matrix = options.matrix
    for f in Colorizer(session).run(frames, options):
        yield f.index, to_rgb8(f.luma, f.cb, f.cr, info=info, matrix=matrix)


def _grey_stream(
    frames: Iterator[Frame], info: VideoInfo, matrix: Matrix
) -> Iterator[tuple[int, np.ndarray]]:
    for f in frames:
        yield f.index, to_rgb8(f.luma, None, None, info=info, matrix=matrix)


def evaluate_video(
    path: Path,
    *,
    session: ModelSession | None,
    options: ColorizeOptions | None = None,
    methods: Sequence[str] = METHODS,
    every: int = 5,
    max_frames: int | None = None,
    sheet_frames: int = 0,
) -> tuple[VideoResult, list[SheetRow]]:
    """Measure ``methods`` on one colour video; also the contact-sheet rows of
    ``sheet_frames`` frames spread over it ([grey | ours | original])."""
    path = Path(path)
    methods = _check_options(methods, every, max_frames)
    if session is None and MODEL_METHODS.intersection(methods):
        raise ValueError(f"methods {sorted(MODEL_METHODS)} need a model session")
    options = options or ColorizeOptions(precision=session.precision if session else "fp32")
    begin = time.perf_counter()
    with open_video(path) as reader:
        info = reader.info
        matrix = luma_matrix(info)
        n = len(reader) if max_frames is None else min(len(reader), max_frames)
        coloured = [m for m in methods if m in MODEL_METHODS]
        grey_src, *colour_src = itertools.tee(reader.frames(0, n), 1 + len(coloured))
        streams: dict[str, Iterator[tuple[int, np.ndarray]]] = {
            "grey": _grey_stream(grey_src, info, matrix)
        }
        for m, src in zip(coloured, colour_src, strict=True):
            assert session is not None  # checked above
            run_options = method_options(m, options, matrix)
            streams[m] = _colour_stream(session, run_options, src, info)
        truth = read_rgb(path, max_frames=n)
        meters = {m: _MethodMeter() for m in methods}
        original = _MethodMeter()
        sheet_at = set(sample_indices(n, sheet_frames))
        rows: list[SheetRow] = []
        previous_gray: np.ndarray | None = None
        t = -1
        for t, (gt, *outs) in enumerate(itertools.zip_longest(truth, *streams.values())):
            if gt is None or any(o is None for o in outs):
                raise EvaluationError(
                    f"{path}: the colour decode and the luma reader disagree on the number "
                    f"of frames (at frame {t}); damaged frames cannot be evaluated"
                )
            indexed = dict(zip(streams, outs, strict=True))
            for name, (index, picture) in indexed.items():
                if index != t or picture.shape != gt.shape:
                    raise EvaluationError(
                        f"{path}: frame {t} of {name} is frame {index}, {picture.shape}, "
                        f"but the original is {gt.shape}; damaged frames cannot be evaluated"
                    )
            gray = cv2.cvtColor(gt, cv2.COLOR_RGB2GRAY)
            flow = metrics.optical_flow(previous_gray, gray) if previous_gray is not None else None
            previous_gray = gray
            sampled = t % every == 0
            original.push(gt, None, flow, sampled)
            for m in methods:
                source = "grey" if m == "no colour" else m
                meters[m].push(indexed[source][1], gt, flow, sampled)
            if t in sheet_at:
                pictures = {name: picture for name, (_, picture) in indexed.items()}
                rows.append(sheet_row(f"{path.name} #{t}", pictures, gt))
    frames = t + 1
    if frames == 0:
        raise EvaluationError(f"{path}: no frame could be read")
    result = video_result(path, frames, original, {m: meters[m] for m in methods}, begin)
    logger.info(
        "%s: %d frames in %.1f s; %s",
        path.name,
        frames,
        result.seconds,
        ", ".join(f"{m} {s.psnr:.2f} dB" for m, s in result.methods.items()),
    )
    return result, rows


def evaluate(
    videos: Sequence[Path],
    *,
    session: ModelSession | None = None,
    options: ColorizeOptions | None = None,
    every: int = 5,
    max_frames: int | None = None,
    methods: Sequence[str] = METHODS,
    out_json: Path | None = None,
    contact_sheet: Path | None = None,
    sheet_frames: int = 2,
) -> EvalReport:
    """Measure ``methods`` on colour videos or frame folders (see the module docstring).

    The model is ``session``, or else the one ``options`` name (the defaults when neither
    is given), loaded only when a model method is asked for. ``out_json`` and
    ``contact_sheet`` are written atomically when given.
    """
    methods = _check_options(methods, every, max_frames)
    videos = [Path(v) for v in videos]
    if not videos:
        raise ValueError("no video to evaluate")
    begin = time.perf_counter()
    model_name = "none"
    if MODEL_METHODS.intersection(methods):
        if session is None:
            from flowchroma_core.model.session import ModelSession

            options = options or ColorizeOptions()
            session = ModelSession.load(
                options.model, device=options.device, precision=options.precision
            )
        model_name = session.name
    results: list[VideoResult] = []
    rows: list[SheetRow] = []
    for path in videos:
        result, video_rows = evaluate_video(
            path,
            session=session,
            options=options,
            methods=methods,
            every=every,
            max_frames=max_frames,
            sheet_frames=sheet_frames if contact_sheet is not None else 0,
        )
        results.append(result)
        rows += video_rows
    report = EvalReport(
        videos=results,
        methods=methods,
        every=every,
        max_frames=max_frames,
        model=model_name,
        seconds=time.perf_counter() - begin,
        sheet_rows=rows,
    )
    if out_json is not None:
        report.write_json(out_json)
    if contact_sheet is not None and rows:
        write_contact_sheet(rows, contact_sheet)
    return report


def black_and_white_sheet(
    videos: Sequence[Path],
    session: ModelSession,
    out_png: Path,
    frames_per_video: int = 4,
    *,
    options: ColorizeOptions | None = None,
    max_frames: int | None = None,
) -> Path:
    """[grey | ours] rows for films without colour originals (black-and-white films).

    Each film is colorized from its first frame up to the last frame shown (or its first
    ``max_frames``), so every frame shown is exactly what an export would give.
    """
    from flowchroma_core.pipeline.colorizer import Colorizer

    options = options or ColorizeOptions(precision=session.precision)
    rows: list[SheetRow] = []
    for path in map(Path, videos):
        with open_video(path) as reader:
            info = reader.info
            matrix = luma_matrix(info)
            n = len(reader) if max_frames is None else min(len(reader), max_frames)
            wanted = sample_indices(n, frames_per_video)
            if not wanted:
                continue
            frames = reader.frames(0, wanted[-1] + 1)
            for f in Colorizer(session).run(frames, options.replace(matrix=matrix)):
                if f.index in wanted:
                    pictures = {
                        "grey": to_rgb8(f.luma, None, None, info=info, matrix=matrix),
                        "model": to_rgb8(f.luma, f.cb, f.cr, info=info, matrix=matrix),
                    }
                    rows.append(sheet_row(f"{path.name} #{f.index}", pictures, None))
    if not rows:
        raise EvaluationError("no frame could be read from the given films")
    return write_contact_sheet(rows, out_png)
