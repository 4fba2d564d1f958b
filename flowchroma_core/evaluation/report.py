"""What an evaluation measured: per-video and mean scores, as a table and as JSON.

``run`` fills these in; ``metrics`` documents every formula.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.evaluation import metrics
from flowchroma_core.evaluation.contact_sheet import SheetRow
from flowchroma_core.fileio import atomic_path

logger = logging.getLogger(__name__)


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
                    f.name: nanmean(getattr(v.methods[m], f.name) for v in self.videos)
                    for f in dataclasses.fields(Scores)
                }
            )
            for m in self.methods
        }

    def mean_original(self) -> Reference:
        """The originals' measures averaged over videos."""
        return Reference(
            **{
                f.name: nanmean(getattr(v.original, f.name) for v in self.videos)
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


def nanmean(values: Iterable[float]) -> float:
    """The mean of the values that are not NaN (NaN if none is)."""
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
