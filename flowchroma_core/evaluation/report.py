"""Measure colorization against colour originals, and show it on a contact sheet.

Each colour video (or folder of frames) is turned grey by the pipeline's own input (the
video's luma, read by ``video_reader``), colorized, and compared with the decoded colour
frames (PyAV ``rgb24``) as the restorer would see them: 8-bit RGB rebuilt from the
source's luma codes and the colorizer's chroma with the source's matrix.

Methods compared:

* ``"model"``: the colorizer as given (state carried through each shot);
* ``"no colour"``: chroma zero, i.e. the grey input itself: the floor every colorizer must
  beat in PSNR, and the reference for perfect temporal steadiness;
* ``"per-frame"``: the same network with its temporal state reset at every frame
  (``clip_length=1, carry_state=False``): what the recurrence buys.

PSNR, SSIM and colourfulness are measured on every ``every``-th frame (0, every, 2·every,
...), CDC and warp error over all frames (the first ``max_frames``). The flow for the warp
error comes from the originals, once per video, shared by all methods. Videos are streamed
in lock-step (originals, grey input and every method side by side), so memory stays
bounded by one clip per method whatever the film's length. Means are over videos, each
weighing the same. ``metrics`` documents every formula.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import cv2
import numpy as np

from flowchroma_core.colour.ycbcr import Matrix, luma_to_float, ycbcr_to_rgb
from flowchroma_core.errors import FlowChromaError
from flowchroma_core.evaluation import metrics
from flowchroma_core.fileio import atomic_path
from flowchroma_core.video.reader import (
    IMAGE_EXTENSIONS,
    Frame,
    VideoInfo,
    luma_matrix,
    open_video,
    read_rgb,
)

if TYPE_CHECKING:  # torch loads only when a model runs: ``flowchroma --help`` stays quick
    from flowchroma_core.pipeline.colorizer import Colorizer
    from flowchroma_core.settings import Settings

logger = logging.getLogger(__name__)

Method = Literal["model", "no colour", "per-frame"]
METHODS: tuple[str, ...] = get_args(Method)
MODEL_METHODS = frozenset({"model", "per-frame"})

SHEET_MAX_WIDTH = 2000
"""Contact sheets are downscaled to at most this many pixels across."""
_TILE_MAX_WIDTH = 640  # tiles are kept no larger than this while a video is read
_SHEET_BACKGROUND = (32, 32, 32)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class EvaluationError(FlowChromaError):
    """A video cannot be evaluated (e.g. frames missing); the message names it."""


# ---------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Scores:
    """One method's measures on one video (or their mean over videos)."""

    psnr: float  # dB, mean over sampled frames, each capped at metrics.PSNR_CAP_DB
    ssim: float
    colourfulness: float  # mean over sampled frames
    cdc: float
    warp_error: float


@dataclass(frozen=True)
class Reference:
    """The originals' own colourfulness and temporal measures, to read the methods against."""

    colourfulness: float
    cdc: float
    warp_error: float


@dataclass
class VideoResult:
    """Measures of every method on one video."""

    name: str
    path: str
    frames: int
    sampled: int
    original: Reference
    methods: dict[str, Scores]
    seconds: float


@dataclass(frozen=True)
class SheetRow:
    """One row of a contact sheet: labelled tiles of one frame, left to right."""

    caption: str
    tiles: tuple[tuple[str, np.ndarray], ...]


@dataclass
class EvalReport:
    """What ``evaluate`` measured, per video and as means over videos."""

    videos: list[VideoResult]
    methods: tuple[str, ...]
    every: int
    max_frames: int | None
    model: str
    seconds: float
    sheet_rows: list[SheetRow] = field(default_factory=list, repr=False)

    def mean(self) -> dict[str, Scores]:
        """Each method's measures averaged over videos (NaNs left out)."""
        return {
            m: Scores(
                **{
                    f.name: _nanmean(getattr(v.methods[m], f.name) for v in self.videos)
                    for f in dataclasses.fields(Scores)
                }
            )
            for m in self.methods
        }

    def mean_original(self) -> Reference:
        """The originals' measures averaged over videos."""
        return Reference(
            **{
                f.name: _nanmean(getattr(v.original, f.name) for v in self.videos)
                for f in dataclasses.fields(Reference)
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: NaN becomes null."""
        return _clean(
            {
                "model": self.model,
                "methods": list(self.methods),
                "every": self.every,
                "max_frames": self.max_frames,
                "psnr_cap_db": metrics.PSNR_CAP_DB,
                "seconds": self.seconds,
                "mean": {
                    "videos": len(self.videos),
                    "original": dataclasses.asdict(self.mean_original()),
                    "methods": {m: dataclasses.asdict(s) for m, s in self.mean().items()},
                },
                "videos": [
                    {
                        "name": v.name,
                        "path": v.path,
                        "frames": v.frames,
                        "sampled": v.sampled,
                        "seconds": v.seconds,
                        "original": dataclasses.asdict(v.original),
                        "methods": {m: dataclasses.asdict(s) for m, s in v.methods.items()},
                    }
                    for v in self.videos
                ],
            }
        )

    def write_json(self, path: Path) -> Path:
        """Write ``to_dict`` atomically; returns the path."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        with atomic_path(path) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")
        return path

    def table(self, *, per_video: bool = False) -> str:
        """A compact text table of the means (and of each video with ``per_video``)."""
        lines = [
            f"{len(self.videos)} video(s), {sum(v.frames for v in self.videos)} frames, "
            f"PSNR/SSIM/colourfulness on every {self.every}th frame; model: {self.model}"
        ]
        lines += _table_rows(self.mean(), self.mean_original())
        if per_video:
            for v in self.videos:
                lines += ["", f"{v.name}: {v.frames} frames, {v.seconds:.1f} s"]
                lines += _table_rows(v.methods, v.original)
        return "\n".join(lines)


def _nanmean(values: Iterable[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def _clean(value: Any) -> Any:
    """NaN (and infinities) to None, recursively, so the JSON is strict."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def _table_rows(scores: dict[str, Scores], original: Reference) -> list[str]:
    head = f"{'method':<11} {'PSNR dB':>8} {'SSIM':>7} {'colourful':>10} {'CDC':>9} {'warp err':>9}"
    rows = [head, "-" * len(head)]
    for name, s in scores.items():
        rows.append(
            f"{name:<11} {_fmt(s.psnr, '8.2f')} {_fmt(s.ssim, '7.4f')} "
            f"{_fmt(s.colourfulness, '10.2f')} {_fmt(s.cdc, '9.5f')} {_fmt(s.warp_error, '9.5f')}"
        )
    rows.append(
        f"{'original':<11} {'-':>8} {'-':>7} {_fmt(original.colourfulness, '10.2f')} "
        f"{_fmt(original.cdc, '9.5f')} {_fmt(original.warp_error, '9.5f')}"
    )
    return rows


# ---------------------------------------------------------------------------------------
# Inputs and pictures


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
    return np.clip(np.floor(rgb * np.float32(255.0) + np.float32(0.5)), 0, 255).astype(np.uint8)


def sample_indices(count: int, per_video: int) -> list[int]:
    """``per_video`` frames spread evenly over ``count`` (the middles of equal parts)."""
    k = max(0, min(per_video, count))
    return sorted({(2 * i + 1) * count // (2 * k) for i in range(k)})


def _shrink(frame: np.ndarray, max_width: int) -> np.ndarray:
    h, w = frame.shape[:2]
    if w <= max_width:
        return frame
    size = (max_width, max(1, round(h * max_width / w)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _label(tile: np.ndarray, text: str, *, line: int = 0) -> None:
    """White text on a dark box in the tile's top-left corner (drawn in place)."""
    scale, thickness = 0.4, 1
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    top = 2 + line * (th + base + 4)
    cv2.rectangle(tile, (2, top), (6 + tw, top + th + base + 2), (0, 0, 0), thickness=-1)
    cv2.putText(
        tile, text, (4, top + th + 1), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA
    )


def render_contact_sheet(
    rows: Sequence[SheetRow], *, max_width: int = SHEET_MAX_WIDTH
) -> np.ndarray:
    """The rows as one RGB picture: tiles of equal size (letterboxed), labelled.

    Its height is ``len(rows)`` times the tile height, its width at most ``max_width``.
    """
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    columns = max(len(r.tiles) for r in rows)
    first = rows[0].tiles[0][1]
    tile_w = min(max(t.shape[1] for r in rows for _, t in r.tiles), max_width // columns)
    tile_h = max(1, round(tile_w * first.shape[0] / first.shape[1]))
    sheet = np.empty((tile_h * len(rows), tile_w * columns, 3), np.uint8)
    sheet[:] = _SHEET_BACKGROUND
    for r, row in enumerate(rows):
        for c, (name, picture) in enumerate(row.tiles):
            h, w = picture.shape[:2]
            scale = min(tile_w / w, tile_h / h)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            fitted = cv2.resize(
                picture, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            )
            tile = sheet[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w]
            y0, x0 = (tile_h - size[1]) // 2, (tile_w - size[0]) // 2
            tile[y0 : y0 + size[1], x0 : x0 + size[0]] = fitted
            _label(tile, name)
            if c == 0:
                _label(tile, row.caption, line=1)
    return sheet


def write_contact_sheet(
    rows: Sequence[SheetRow], path: Path, *, max_width: int = SHEET_MAX_WIDTH
) -> Path:
    """Render the rows and write them as an image (PNG by the extension), atomically."""
    path = Path(path)
    sheet = render_contact_sheet(rows, max_width=max_width)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: the contact sheet could not be written")
    logger.info("contact sheet %s: %d rows, %dx%d", path, len(rows), sheet.shape[1], sheet.shape[0])
    return path


# ---------------------------------------------------------------------------------------
# Colorizers


def _variant(base: Colorizer, *, matrix: Matrix, **changes: Any) -> Colorizer:
    """A fresh colorizer sharing ``base``'s model and settings (fresh cut list and timers)."""
    from flowchroma_core.pipeline.colorizer import Colorizer

    options: dict[str, Any] = {
        "device": base.device,
        "precision": base.precision,
        "padding": base.padding,
        "clip_length": base.clip_length,
        "overlap": base.overlap,
        "cut_threshold": base.cut_threshold,
        "carry_state": base.carry_state,
        "matrix": matrix,
    }
    options.update(changes)
    return Colorizer(base.model, **options)


def _method_colorizer(method: str, base: Colorizer, matrix: Matrix) -> Colorizer:
    if method == "per-frame":
        return _variant(base, matrix=matrix, clip_length=1, overlap=0, carry_state=False)
    return _variant(base, matrix=matrix)


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
            ssim=_nanmean(self.ssim),
            colourfulness=_nanmean(self.colourfulness),
            cdc=self.cdc.value,
            warp_error=self.warp.value,
        )


def _colour_stream(
    colorizer: Colorizer, frames: Iterator[Frame], info: VideoInfo, matrix: Matrix
) -> Iterator[tuple[int, np.ndarray]]:
    for f in colorizer.colorize(frames):
        yield f.index, to_rgb8(f.luma, f.cb, f.cr, info=info, matrix=matrix)


def _grey_stream(
    frames: Iterator[Frame], info: VideoInfo, matrix: Matrix
) -> Iterator[tuple[int, np.ndarray]]:
    for f in frames:
        yield f.index, to_rgb8(f.luma, None, None, info=info, matrix=matrix)


def _sheet_row(
    caption: str, pictures: dict[str, np.ndarray], original: np.ndarray | None
) -> SheetRow:
    """[grey | ours | original]: ours is the model, else the per-frame model, else left out."""
    tiles = [("grey", pictures["grey"])]
    ours = next((m for m in ("model", "per-frame") if m in pictures), None)
    if ours is not None:
        tiles.append(("ours" if ours == "model" else ours, pictures[ours]))
    if original is not None:
        tiles.append(("original", original))
    return SheetRow(caption, tuple((name, _shrink(p, _TILE_MAX_WIDTH)) for name, p in tiles))


def evaluate_video(
    path: Path,
    *,
    colorizer: Colorizer | None,
    methods: Sequence[str] = METHODS,
    every: int = 5,
    max_frames: int | None = None,
    sheet_frames: int = 0,
) -> tuple[VideoResult, list[SheetRow]]:
    """Measure ``methods`` on one colour video; also the contact-sheet rows of
    ``sheet_frames`` frames spread over it ([grey | ours | original])."""
    path = Path(path)
    methods = _check_options(methods, every, max_frames)
    if colorizer is None and MODEL_METHODS.intersection(methods):
        raise ValueError(f"methods {sorted(MODEL_METHODS)} need a colorizer")
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
            assert colorizer is not None  # checked above
            streams[m] = _colour_stream(_method_colorizer(m, colorizer, matrix), src, info, matrix)
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
                rows.append(_sheet_row(f"{path.name} #{t}", pictures, gt))
    frames = t + 1
    if frames == 0:
        raise EvaluationError(f"{path}: no frame could be read")
    result = VideoResult(
        name=path.name,
        path=str(path),
        frames=frames,
        sampled=len(original.colourfulness),
        original=Reference(
            colourfulness=_nanmean(original.colourfulness),
            cdc=original.cdc.value,
            warp_error=original.warp.value,
        ),
        methods={m: meters[m].scores() for m in methods},
        seconds=time.perf_counter() - begin,
    )
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
    colorizer_factory: Callable[[], Colorizer] | None = None,
    settings: Settings | None = None,
    every: int = 5,
    max_frames: int | None = None,
    methods: Sequence[str] = METHODS,
    out_json: Path | None = None,
    contact_sheet: Path | None = None,
    sheet_frames: int = 2,
) -> EvalReport:
    """Measure ``methods`` on colour videos or frame folders (see the module docstring).

    The colorizer comes from ``colorizer_factory`` (called once; each video and method gets
    a fresh colorizer sharing its model) or else from ``settings`` (the saved defaults when
    neither is given); it is not loaded at all when only ``"no colour"`` is asked for.
    ``out_json`` and ``contact_sheet`` are written atomically when given.
    """
    methods = _check_options(methods, every, max_frames)
    videos = [Path(v) for v in videos]
    if not videos:
        raise ValueError("no video to evaluate")
    begin = time.perf_counter()
    colorizer: Colorizer | None = None
    model_name = "none"
    if MODEL_METHODS.intersection(methods):
        if colorizer_factory is None:
            from flowchroma_core.model.files import default_model_path
            from flowchroma_core.pipeline.export import load_colorizer
            from flowchroma_core.settings import Settings

            settings = settings or Settings()
            colorizer = load_colorizer(settings)
            model_name = settings.model or str(default_model_path() or "untrained default")
        else:
            colorizer = colorizer_factory()
            model_name = f"{type(colorizer.model).__name__} from colorizer_factory"
    results: list[VideoResult] = []
    rows: list[SheetRow] = []
    for path in videos:
        result, video_rows = evaluate_video(
            path,
            colorizer=colorizer,
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


def contact_sheet(
    videos: Sequence[Path],
    colorizer: Colorizer,
    out_png: Path,
    frames_per_video: int = 4,
    *,
    max_frames: int | None = None,
) -> Path:
    """[grey | ours] rows for films without colour originals (black-and-white films).

    Each film is colorized from its first frame up to the last frame shown (or its first
    ``max_frames``), so every frame shown is exactly what an export would give.
    """
    rows: list[SheetRow] = []
    for path in map(Path, videos):
        with open_video(path) as reader:
            info = reader.info
            matrix = luma_matrix(info)
            n = len(reader) if max_frames is None else min(len(reader), max_frames)
            wanted = sample_indices(n, frames_per_video)
            if not wanted:
                continue
            run = _variant(colorizer, matrix=matrix)
            for f in run.colorize(reader.frames(0, wanted[-1] + 1)):
                if f.index in wanted:
                    pictures = {
                        "grey": to_rgb8(f.luma, None, None, info=info, matrix=matrix),
                        "model": to_rgb8(f.luma, f.cb, f.cr, info=info, matrix=matrix),
                    }
                    rows.append(_sheet_row(f"{path.name} #{f.index}", pictures, None))
    if not rows:
        raise EvaluationError("no frame could be read from the given films")
    return write_contact_sheet(rows, out_png)


# ---------------------------------------------------------------------------------------
# Command line (wired into ``flowchroma`` by cli.py)


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``flowchroma eval`` to the CLI's sub-commands; returns its parser."""
    p = subparsers.add_parser(
        "eval",
        help="measure colorization against colour originals",
        description="Turn colour videos grey, colorize them and compare with the originals: "
        "PSNR, SSIM, colourfulness, CDC and warp error, for the model and baselines.",
    )
    p.add_argument(
        "input",
        nargs="+",
        type=Path,
        help="colour videos or frame folders; a folder of folders (DAVIS) means each of them",
    )
    p.add_argument("--out-json", type=Path, help="write the full report here (JSON)")
    p.add_argument("--contact-sheet", type=Path, help="write [grey | ours | original] rows here")
    p.add_argument("--model", type=Path, help="a FlowChroma .safetensors model file")
    p.add_argument("--device", help="auto, cuda or cpu (default: the saved setting)")
    p.add_argument("--every", type=int, default=5, help="PSNR/SSIM on every Nth frame (5)")
    p.add_argument("--max-frames", type=int, help="only the first N frames of each video")
    p.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the no-colour and per-frame baselines (default: yes)",
    )
    p.add_argument("--per-video", action="store_true", help="print each video's table too")
    p.add_argument(
        "--black-and-white",
        action="store_true",
        help="the inputs are black-and-white films with no colour original: only write the "
        "contact sheet (grey | ours), no scores",
    )
    p.add_argument("--sheet-frames", type=int, default=4, help="frames per film on the sheet (4)")
    p.set_defaults(func=_cmd_eval)
    return p


def _cmd_eval(args: argparse.Namespace) -> int:
    """Run ``evaluate`` from parsed arguments and print the table."""
    from flowchroma_core.settings import load_settings

    overrides = {
        name: value
        for name, value in (
            ("model", str(args.model) if args.model else None),
            ("device", args.device),
        )
        if value is not None
    }
    settings = load_settings().replace(**overrides).validated()
    if args.black_and_white:
        if not args.contact_sheet:
            raise EvaluationError("--black-and-white needs --contact-sheet FILE.png")
        from flowchroma_core.pipeline.export import load_colorizer

        colorizer = load_colorizer(settings)
        contact_sheet(
            expand_inputs(args.input),
            colorizer,
            args.contact_sheet,
            args.sheet_frames,
            max_frames=args.max_frames,
        )
        print(f"contact sheet: {args.contact_sheet}")
        return 0
    report = evaluate(
        expand_inputs(args.input),
        settings=settings,
        every=args.every,
        max_frames=args.max_frames,
        methods=METHODS if args.baselines else ("model",),
        out_json=args.out_json,
        contact_sheet=args.contact_sheet,
    )
    print(report.table(per_video=args.per_video))
    if args.out_json:
        print(f"report: {args.out_json}")
    if args.contact_sheet:
        print(f"contact sheet: {args.contact_sheet}")
    return 0
