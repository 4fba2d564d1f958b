"""The guidance baselines on colour footage: what a guided model must beat, in one run.

For a colour sequence (8-bit RGB frames) and a keyframe whose true colours are given:

* ``"no colour"``: a* = b* = 0 (the grey source itself);
* ``"pasted"``: the keyframe's true a*b* pasted unchanged on every frame;
* ``"flow"``: the keyframe's true a*b* carried frame to frame by DIS flow (``FlowCarry``).

Every prediction keeps the source's own CIE L* (so only the colour is judged) and is
rebuilt to 8-bit RGB, then compared with the original by PSNR: 10·log10(255² / MSE), the
MSE over all pixels and channels of uint8 RGB, each frame capped at 100 dB, means over
frames (``evaluation.metrics``'s formula, restated here so that guidance stays below
evaluation in the layers). Frames scored: every ``every``-th from ``start``
(5, 10, 15, ... by default: the keyframe 0 itself, where pasting is exact, is left out).
Scores are kept per frame with the distance from the keyframe, so a table of PSNR against
distance comes from the same run. The flow runs on the grey source (L* rendered as 8-bit
grey). Which JPEG decoder produced the "true" frames matters: on DAVIS, OpenCV's gives
about 0.1-0.4 dB more than PyAV's on each row (see the benchmark). The model rows come
from ``evaluation.guided``.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from flowchroma_core.colour.lab import lab_to_rgb, merge_luminance, rgb_to_lab, to_uint8
from flowchroma_core.guidance.propagate import FlowCarry, FlowField, to_gray8

logger = logging.getLogger(__name__)

BASELINES: tuple[str, ...] = ("no colour", "pasted", "flow")
PSNR_CAP_DB = 100.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of one shape (capped at ``PSNR_CAP_DB``)."""
    if a.shape != b.shape or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"expected two uint8 images of one shape, got {a.shape}, {b.shape}")
    mse = float(np.mean(np.square(a.astype(np.float64) - b.astype(np.float64))))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10.0 * math.log10(255.0**2 / mse))


def mean_psnr(values: Sequence[float]) -> float:
    """Mean of PSNR values (NaN for none)."""
    return float(np.mean(values)) if len(values) else math.nan


def split_lab(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB (H, W, 3) to L* (H, W) and a*b* (H, W, 2), float32."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0
    lab = rgb_to_lab(t).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(lab[..., 0]), np.ascontiguousarray(lab[..., 1:])


def compose(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """L* (H, W) and a*b* (H, W, 2) to uint8 RGB (H, W, 3), clipped to the gamut."""
    lab = merge_luminance(
        torch.from_numpy(np.ascontiguousarray(lightness, dtype=np.float32))[None],
        torch.from_numpy(np.ascontiguousarray(ab, dtype=np.float32)).permute(2, 0, 1),
    )
    return to_uint8(lab_to_rgb(lab)).permute(1, 2, 0).numpy()


def grey_of(lightness: np.ndarray) -> np.ndarray:
    """The grey source as the flow sees it: L* rendered as 8-bit neutral grey."""
    return to_gray8(compose(lightness, np.zeros((*lightness.shape, 2), np.float32))[..., 0])


@dataclass
class SequenceScores:
    """Per-method PSNR of one sequence, each as (distance from keyframe, dB) pairs."""

    name: str
    frames: int
    psnr: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def mean(self, method: str) -> float:
        """Mean PSNR of ``method`` over the scored frames (NaN if none)."""
        values = [v for _, v in self.psnr.get(method, [])]
        return mean_psnr(values)


def evaluate_sequence(
    frames: Iterable[np.ndarray],
    *,
    name: str = "",
    every: int = 5,
    start: int = 5,
    methods: Sequence[str] = BASELINES,
    flow: FlowField | None = None,
) -> SequenceScores:
    """Score the baselines on one colour sequence (frames in order; frame 0 is the keyframe)."""
    unknown = set(methods) - set(BASELINES)
    if unknown:
        raise ValueError(f"unknown method(s) {sorted(unknown)}; allowed: {', '.join(BASELINES)}")
    if every < 1 or start < 1:
        raise ValueError(f"every and start must be >= 1, got {every} and {start}")
    scores = SequenceScores(name=name, frames=0, psnr={m: [] for m in methods})
    carry = FlowCarry(flow=flow)
    key_ab: np.ndarray | None = None
    for t, rgb in enumerate(frames):
        lightness, ab = split_lab(rgb)
        grey = grey_of(lightness)
        scores.frames += 1
        if t == 0:
            key_ab = ab
            carry.reset(grey, ab)
            continue
        assert key_ab is not None
        carried = carry.push(grey) if "flow" in methods else None
        if t < start or (t - start) % every:
            continue
        predictions = {"no colour": np.zeros_like(ab), "pasted": key_ab, "flow": carried}
        for method in methods:
            predicted = compose(lightness, predictions[method])
            scores.psnr[method].append((t, psnr(predicted, rgb)))
    if scores.frames == 0:
        raise ValueError(f"{name or 'sequence'}: no frames")
    return scores


def by_distance(
    results: Sequence[SequenceScores], method: str, *, bins: Sequence[int] = (5, 10, 20, 40, 80)
) -> list[tuple[str, float, int]]:
    """PSNR of ``method`` against distance from the keyframe: (bin label, mean dB, count).

    Bins are ``[1, bins[0]], (bins[0], bins[1]], ...`` and a last open bin; frames pooled
    over all sequences (each frame weighs the same within a bin).
    """
    edges = [0, *bins]
    labels = [f"{lo + 1}-{hi}" for lo, hi in itertools.pairwise(edges)]
    labels.append(f">{edges[-1]}")
    pooled: dict[int, list[float]] = defaultdict(list)
    for seq in results:
        for distance, value in seq.psnr.get(method, []):
            index = next((i for i, hi in enumerate(bins) if distance <= hi), len(bins))
            pooled[index].append(value)
    return [
        (labels[i], mean_psnr(pooled[i]), len(pooled[i])) for i in range(len(labels)) if pooled[i]
    ]
