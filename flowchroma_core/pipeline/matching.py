"""A reference still of other content, matched to each frame and handed on as hints.

A still of the shot's own frame is carried densely by optical flow (``guidance.propagate``).
A still of *other* content (another moment of the shot, a costume photograph, a frame
graded in an outside editor and given back for a later frame) cannot be: nothing flows
from it. The network's own learned matcher (``FlowChromaV2._reference_maps``) barely uses
such a still (measured: true frame 0 of a clip as that still, +0.04 dB over automatic), so
the still is also matched here, by a fixed rule, and its colours reach the network as hint
maps, the input the network and its full-resolution blend do trust:

* each frame's stride-8 cell is described by the frozen backbone's stride-8 and stride-16
  maps (each centred over its channels and unit-normalised, then joined and normalised):
  the very features the colorizer computed for the frame, and once per shot for the still;
* a cell takes the softmax (``TEMPERATURE``) mean of the still's a*b* over the still's
  cells, weighted by cosine similarity;
* its confidence is ``(best similarity - MIN_SIMILARITY) / (1 - MIN_SIMILARITY)``, and 0
  unless the match is mutual: the still's cell that the frame's cell likes best must like,
  in turn, a cell of the frame within one cell of it;
* and the whole frame's confidence is scaled by where the mean of its cells' best
  similarities lies in ``FRAME_GATE``: a frame that shows what the still shows, even
  grainy or moved, scores 0.7 to 0.95; one of unrelated content 0.5 to 0.65 (measured on
  DAVIS, colour clips and the black-and-white films), and so takes nothing from it.

The constants were chosen on four colour clips of the training corpus (frame 0 as a still
of other content, frames 1-59 measured, and frame 0 of another clip as a mismatched still),
never on DAVIS: the true still +2.01 dB over automatic, a mismatched one -0.03 dB on
average, -0.15 at worst (``docs/TRAINING.md``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

TEMPERATURE = 0.05
"""Softmax temperature over cosine similarities (sharp: a cell takes its best matches)."""

MIN_SIMILARITY = 0.5
"""Cosine similarity at and below which a match gives no confidence (1 at similarity 1)."""

MUTUAL_CELLS = 1
"""A match counts when the still's best cell leads back within this many cells."""

FRAME_GATE = (0.65, 0.75)
"""A frame's confidence is scaled by where the mean of its cells' best similarities lies
between these: 0 at or below the first, 1 at or above the second."""


def matching_features(model: Any, features: Tensor, h: int, w: int) -> Tensor:
    """Packed backbone features (N, D) of (h, w) inputs -> (N, C, h/8, w/8) unit vectors."""
    _, maps = model.unpack_features(features.float(), h, w)
    f8, f16 = maps[1], maps[2]
    f16 = F.interpolate(f16 - f16.mean(1, keepdim=True), size=f8.shape[-2:], mode="nearest")
    f8 = f8 - f8.mean(1, keepdim=True)
    return F.normalize(torch.cat([F.normalize(f8, dim=1), F.normalize(f16, dim=1)], 1), dim=1)


def match_still(query: Tensor, key: Tensor, key_ab: Tensor, size: tuple[int, int]) -> Tensor:
    """Hint maps (T, 3, H, W) for frames described by ``query`` (T, C, y, x), from a still
    described by ``key`` (C, y, x) whose a*b* (as hints scale them) is ``key_ab`` (2, H', W'):
    matched a*b* and a confidence in [0, 1], bilinear up to ``size`` (H, W)."""
    t, c, y, x = query.shape
    cos = torch.einsum("tcp,cq->tpq", query.reshape(t, c, y * x), key.reshape(c, -1))
    ab = F.adaptive_avg_pool2d(key_ab[None].float(), key.shape[-2:]).reshape(2, -1)
    warped = torch.einsum("tpq,cq->tcp", torch.softmax(cos / TEMPERATURE, -1), ab)
    best, choice = cos.max(-1)  # (T, P): each frame cell's best still cell
    back = torch.gather(cos.argmax(1), 1, choice)  # that still cell's best frame cell
    cells = torch.arange(y * x, device=query.device)
    mutual = ((back // x - cells // x).abs() <= MUTUAL_CELLS) & (
        (back % x - cells % x).abs() <= MUTUAL_CELLS
    )
    above = ((best - MIN_SIMILARITY) / (1.0 - MIN_SIMILARITY)).clamp(0.0, 1.0)
    low, high = FRAME_GATE
    gate = ((best.mean(1, keepdim=True) - low) / (high - low)).clamp(0.0, 1.0)
    confidence = above * mutual * gate
    maps = torch.cat([warped, confidence[:, None]], 1).reshape(t, 3, y, x)
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def merge_hints(hints: Tensor | None, matched: Tensor) -> Tensor:
    """Per pixel the more confident of the window's hints and the matched ones (same shape)."""
    if hints is None:
        return matched
    return torch.where(matched[:, :, 2:3] > hints[:, :, 2:3], matched.to(hints), hints)
