"""Evaluate the restorer's guidance on colour footage: ``flowchroma eval --guidance MODE``.

The keyframe is each sequence's first frame, and its true colours are the guidance:

* ``first-frame``: the true frame 0 as a reference still (written to a PNG and read back as
  a restorer's still would be);
* ``points:N``: N points simulated on the true frame 0 as ideepcolor draws them
  (``guidance.points.simulate_points``, a fixed seed per sequence), carried through the
  sequence by the colorizer's own flow propagation.

Measured in the same run, on the same frames (see ``run`` for how frames are rebuilt and
``metrics`` for the formulas):

* ``no colour``: the grey input;
* ``automatic``: the model without guidance;
* ``pasted``: frame 0's true a*b* on every frame, with each frame's own L*;
* ``flow``: frame 0's true a*b* carried frame to frame by DIS flow, the very flow the
  guidance uses (``propagate.FlowField``, at the film's own size; ``guidance.baselines``);
* ``guided``: the model with the guidance.

PSNR, SSIM and colourfulness on every ``every``-th frame from ``every`` on (the keyframe
itself, where pasting is exact, is left out), CDC and warp error over all frames; and PSNR
against the distance from the keyframe, pooled over sequences by bins.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from flowchroma_core.evaluation import metrics
from flowchroma_core.evaluation.report import (
    EvalReport,
    EvaluationError,
    VideoResult,
    _clean,
)
from flowchroma_core.evaluation.run import _MethodMeter, to_rgb8, video_result
from flowchroma_core.fileio import atomic_path
from flowchroma_core.guidance import baselines
from flowchroma_core.guidance.film_source import FilmGreys, guidance_for_film
from flowchroma_core.guidance.points import simulate_points
from flowchroma_core.guidance.project import Point, Project, Shot, Source
from flowchroma_core.guidance.propagate import FlowCarry
from flowchroma_core.guidance.references import ReferenceSpec
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import luma_matrix, open_video, read_rgb

if TYPE_CHECKING:
    from flowchroma_core.guidance.film import Guidance
    from flowchroma_core.model.session import ModelSession

logger = logging.getLogger(__name__)

GUIDED_METHODS: tuple[str, ...] = ("no colour", "automatic", "pasted", "flow", "guided")
DISTANCE_BINS: tuple[int, ...] = (5, 10, 20, 40, 80)


@dataclass(frozen=True)
class GuidanceMode:
    """``first-frame`` or ``points:N``."""

    kind: str  # "first-frame" or "points"
    points: int = 0

    @classmethod
    def parse(cls, text: str) -> GuidanceMode:
        if text == "first-frame":
            return cls("first-frame")
        match = re.fullmatch(r"points:(\d+)", text)
        if match:
            return cls("points", int(match.group(1)))
        raise ValueError(f'--guidance "{text}": expected first-frame or points:N (e.g. points:10)')

    def __str__(self) -> str:
        return self.kind if self.kind == "first-frame" else f"points:{self.points}"


@dataclass
class GuidedReport:
    """The usual report of the five methods, with PSNR by distance from the keyframe."""

    mode: GuidanceMode
    report: EvalReport
    distances: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def by_distance(
        self, bins: Sequence[int] = DISTANCE_BINS
    ) -> dict[str, list[tuple[str, float, int]]]:
        """Per method: (bin label, mean PSNR, frames), pooled over sequences."""
        out = {}
        for method, pairs in self.distances.items():
            seq = baselines.SequenceScores(name="all", frames=0, psnr={method: pairs})
            out[method] = baselines.by_distance([seq], method, bins=bins)
        return out

    def table(self, *, per_video: bool = False) -> str:
        lines = [f"guidance: {self.mode} (keyframe: frame 0 of each sequence)"]
        lines.append(self.report.table(per_video=per_video))
        binned = self.by_distance()
        labels = [label for label, _, _ in binned.get("flow", [])]
        if labels:
            lines += ["", "PSNR (dB) by distance from the keyframe (frames)"]
            lines.append(f"{'method':<11} " + " ".join(f"{lab:>8}" for lab in labels))
            for method, rows in binned.items():
                values = {label: v for label, v, _ in rows}
                cells = [f"{values[lab]:8.2f}" if lab in values else f"{'-':>8}" for lab in labels]
                lines.append(f"{method:<11} " + " ".join(cells))
            counts = {label: n for label, _, n in binned["flow"]}
            lines.append(f"{'frames':<11} " + " ".join(f"{counts[lab]:>8d}" for lab in labels))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        data = self.report.to_dict()
        data["guidance"] = str(self.mode)
        data["by_distance"] = {
            m: [{"bin": b, "psnr": v, "frames": n} for b, v, n in rows]
            for m, rows in self.by_distance().items()
        }
        return data


def first_frame_points(rgb: np.ndarray, n: int, seed: int) -> list[Point]:
    """``n`` simulated points on a true colour frame (uint8 RGB), as fractions of it."""
    h, w = rgb.shape[:2]
    _, ab = baselines.split_lab(rgb)
    patches = simulate_points(np.moveaxis(ab, -1, 0), n, np.random.default_rng(seed))
    return [
        Point(
            frame=0,
            x=(p.x + p.side / 2) / w,
            y=(p.y + p.side / 2) / h,
            a=p.a,
            b=p.b,
            size=p.side / w,
            label="simulated",
        )
        for p in patches
    ]


def _guidance_for(
    path: Path,
    mode: GuidanceMode,
    first: np.ndarray,
    frames: int,
    model_size: tuple[int, int],
    options: ColorizeOptions,
    folder: Path,
    seed: int,
    greys: FilmGreys,
    still_hints: float,
) -> Guidance:
    project = Project(Source(path.name, "", frames, "24"), shots=[Shot(0, frames)])
    specs: list[ReferenceSpec] = []
    if mode.kind == "first-frame":
        still = folder / f"{path.stem}_ref_000000.png"
        cv2.imwrite(str(still), np.ascontiguousarray(first[..., ::-1]))
        specs.append(ReferenceSpec(0, still))
    else:
        project.shots[0].points = first_frame_points(first, mode.points, seed)
    return guidance_for_film(
        path,
        model_size=model_size,
        cut_threshold=options.cut_threshold,
        project=project,
        references=specs,
        grey_frames=greys,
        still_hints=still_hints,
    )


def _stream(session: ModelSession, options, frames, info, guidance=None) -> Iterator[np.ndarray]:
    from flowchroma_core.pipeline.colorizer import Colorizer

    for f in Colorizer(session).run(frames, options, guidance=guidance):
        yield to_rgb8(f.luma, f.cb, f.cr, info=info, matrix=options.matrix)


def evaluate_guided_video(
    path: Path,
    *,
    session: ModelSession,
    mode: GuidanceMode,
    options: ColorizeOptions,
    every: int = 5,
    max_frames: int | None = None,
    seed: int = 0,
    reference: np.ndarray | None = None,
    automatic: bool = True,
    still_hints: float = 0.0,
) -> tuple[VideoResult, dict[str, list[tuple[int, float]]]]:
    """Measure the five methods on one colour sequence; also (distance, PSNR) per method.

    ``reference`` (uint8 RGB) replaces the true frame 0 as the still in ``first-frame``
    mode: a mismatched reference, to see what a wrong still costs. ``automatic=False``
    skips the automatic run (its row is then the grey input), when it is known already.
    """
    path = Path(path)
    begin = time.perf_counter()
    cfg = session.model.config
    model_size = (cfg.input_height, cfg.input_width)
    truth = list(read_rgb(path, max_frames=max_frames or 0))
    if not truth:
        raise EvaluationError(f"{path}: no frame could be read")
    n = len(truth)
    meters = {m: _MethodMeter() for m in GUIDED_METHODS}
    original = _MethodMeter()
    distances: dict[str, list[tuple[int, float]]] = {m: [] for m in GUIDED_METHODS}
    with tempfile.TemporaryDirectory(prefix="flowchroma-eval-") as tmp, open_video(path) as r1:
        info = r1.info
        run_options = options.replace(matrix=luma_matrix(info))
        greys = FilmGreys(path, model_size)
        guidance = _guidance_for(
            path,
            mode,
            truth[0] if reference is None else reference,
            info.frame_count,
            model_size,
            run_options,
            Path(tmp),
            seed,
            greys,
            still_hints,
        )
        with open_video(path) as r2:
            auto = (
                _stream(session, run_options, r1.frames(0, n), info)
                if automatic
                else (
                    to_rgb8(f.luma, None, None, info=info, matrix=run_options.matrix)
                    for f in r1.frames(0, n)
                )
            )
            guided = _stream(session, run_options, r2.frames(0, n), info, guidance)
            carry = FlowCarry()
            key_ab: np.ndarray | None = None
            previous: np.ndarray | None = None
            for t, (gt, a, g) in enumerate(itertools.zip_longest(truth, auto, guided)):
                if gt is None or a is None or g is None or a.shape != gt.shape:
                    raise EvaluationError(
                        f"{path}: the colour decode and the luma reader disagree at frame {t}"
                    )
                lightness, ab = baselines.split_lab(gt)
                grey_l = baselines.grey_of(lightness)
                if t == 0:
                    key_ab = ab
                    carry.reset(grey_l, ab)
                    flowed = ab
                else:
                    flowed = carry.push(grey_l)
                assert key_ab is not None
                outs = {
                    "no colour": baselines.compose(lightness, np.zeros_like(ab)),
                    "automatic": a,
                    "pasted": baselines.compose(lightness, key_ab),
                    "flow": baselines.compose(lightness, flowed),
                    "guided": g,
                }
                gray = cv2.cvtColor(gt, cv2.COLOR_RGB2GRAY)
                flow = metrics.optical_flow(previous, gray) if previous is not None else None
                previous = gray
                sampled = t >= every and t % every == 0
                original.push(gt, None, flow, sampled)
                for m in GUIDED_METHODS:
                    meters[m].push(outs[m], gt, flow, sampled)
                    if sampled:
                        distances[m].append((t, meters[m].psnr[-1]))
        greys.close()
    result = video_result(path, n, original, meters, begin)
    logger.info(
        "%s (%s): %s",
        path.name,
        mode,
        ", ".join(f"{m} {s.psnr:.2f} dB" for m, s in result.methods.items()),
    )
    return result, distances


def evaluate_guided(
    videos: Sequence[Path],
    *,
    session: ModelSession,
    mode: GuidanceMode,
    options: ColorizeOptions | None = None,
    every: int = 5,
    max_frames: int | None = None,
    out_json: Path | None = None,
    still_hints: float = 0.0,
) -> GuidedReport:
    """``evaluate_guided_video`` over sequences (seed = the sequence's position)."""
    from flowchroma_core.pipeline.guided import check_guidance_model

    check_guidance_model(session.model)
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    options = options or ColorizeOptions(precision=session.precision)
    begin = time.perf_counter()
    results: list[VideoResult] = []
    distances: dict[str, list[tuple[int, float]]] = {m: [] for m in GUIDED_METHODS}
    for i, path in enumerate(videos):
        result, d = evaluate_guided_video(
            Path(path),
            session=session,
            mode=mode,
            options=options,
            every=every,
            max_frames=max_frames,
            seed=i,
            still_hints=still_hints,
        )
        results.append(result)
        for m in GUIDED_METHODS:
            distances[m] += d[m]
    report = GuidedReport(
        mode=mode,
        report=EvalReport(
            videos=results,
            methods=GUIDED_METHODS,
            every=every,
            max_frames=max_frames,
            model=session.name,
            seconds=time.perf_counter() - begin,
        ),
        distances=distances,
    )
    if out_json is not None:
        with atomic_path(Path(out_json)) as tmp:
            tmp.write_text(json.dumps(_clean(report.to_dict()), indent=2) + "\n", encoding="utf-8")
    return report
