"""Colour points as the network's hint channels, and ideepcolor-style simulated points.

The hint tensor of one frame is (3, h, w) at the model's input size: a_h = a*/110,
b_h = b*/110 (about [-1, 1]), and confidence c in [0, 1] (1 = the restorer's own point,
< 1 = carried by flow, 0 = no hint). A point is a square patch of one colour; its centre
and side are fractions of the source frame, mapped into the model input through the
letterbox ``Placement`` (so points never land on the padding).

``simulate_points`` draws training/evaluation points as Zhang et al. 2017 (ideepcolor,
``add_color_patches_rand_gt``) do: the count is geometric from 0 with p = 1/8 (a point is
added while a uniform draw stays below 7/8: 12.5 % of samples get none, mean 7); the patch
side is uniform in 1..9 px at 176 px, scaled to the image's height; the patch's top-left
corner is drawn from N((H - P + 1)/2, (H - P + 1)/4) per axis, clipped into the image; the
value is the true a*b* averaged over the patch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from flowchroma_core.pipeline.framing import Placement

logger = logging.getLogger(__name__)

HINT_AB_SCALE = 110.0
"""a*, b* are divided by this in the hint channels (as ideepcolor's ``ab_norm``)."""

GEOMETRIC_P = 1.0 / 8.0
IDEEPCOLOR_SIZE = 176
IDEEPCOLOR_PATCH = (1, 9)  # inclusive range of patch sides at IDEEPCOLOR_SIZE


@dataclass(frozen=True)
class Patch:
    """A square hint in pixels of some image: top-left (y, x), side, value a*, b*, confidence."""

    y: int
    x: int
    side: int
    a: float
    b: float
    confidence: float = 1.0


def patch_from_fractions(
    x: float,
    y: float,
    size: float,
    a: float,
    b: float,
    placement: Placement,
    *,
    confidence: float = 1.0,
) -> Patch:
    """A point given in fractions of the source frame, placed in the model input.

    ``x``, ``y``: the centre as fractions of the frame's width and height; ``size``: the
    side as a fraction of the frame's width (at least one model-input pixel).
    """
    side = max(1, round(size * placement.inner_w))
    side = min(side, placement.inner_h, placement.inner_w)
    cx = placement.left + x * placement.inner_w
    cy = placement.top + y * placement.inner_h
    left = int(
        np.clip(round(cx - side / 2), placement.left, placement.left + placement.inner_w - side)
    )
    top = int(
        np.clip(round(cy - side / 2), placement.top, placement.top + placement.inner_h - side)
    )
    return Patch(y=top, x=left, side=side, a=a, b=b, confidence=confidence)


def rasterise(patches: Iterable[Patch], height: int, width: int) -> Tensor:
    """(3, height, width) hint map: a/110, b/110 and confidence; later patches win overlaps."""
    hint = torch.zeros(3, height, width)
    for p in patches:
        if p.side < 1 or not 0.0 <= p.confidence <= 1.0:
            raise ValueError(f"bad patch {p}: side must be >= 1 and confidence in [0, 1]")
        window = hint[:, max(p.y, 0) : p.y + p.side, max(p.x, 0) : p.x + p.side]
        window[0] = p.a / HINT_AB_SCALE
        window[1] = p.b / HINT_AB_SCALE
        window[2] = p.confidence
    return hint


def hint_map_to_ab(hint: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """A (3, h, w) hint map as (h, w, 2) a*b* and (h, w) presence (confidence > 0), for flow."""
    ab = (hint[:2] * HINT_AB_SCALE).permute(1, 2, 0).numpy().astype(np.float32)
    return ab, (hint[2] > 0).numpy().astype(np.float32)


def ab_to_hint_map(carried: np.ndarray) -> Tensor:
    """(h, w, 3) carried (a*, b*, confidence) from ``propagate`` as a (3, h, w) hint map."""
    t = torch.from_numpy(np.ascontiguousarray(carried, dtype=np.float32)).permute(2, 0, 1).clone()
    t[:2] /= HINT_AB_SCALE
    t[:2] *= (t[2:] > 0).float()
    return t


def simulate_points(
    ab_true: Tensor | np.ndarray, n: int | None, rng: np.random.Generator
) -> list[Patch]:
    """Points drawn as ideepcolor draws them, valued from the true a*b* (2, H, W).

    ``n`` None draws the count (geometric from 0, p = 1/8); an integer fixes it (for a
    point sweep). Patch sides are uniform in 1..9 px at 176 px, scaled to H.
    """
    ab = torch.as_tensor(ab_true, dtype=torch.float32)
    if ab.ndim != 3 or ab.shape[0] != 2:
        raise ValueError(f"ab_true must be (2, H, W), got {tuple(ab.shape)}")
    if n is not None and n < 0:
        raise ValueError(f"n must be >= 0 or None, got {n}")
    _, h, w = ab.shape
    if n is None:
        n = 0
        while rng.random() < 1.0 - GEOMETRIC_P:
            n += 1
    if n == 0:
        return []
    scale = h / IDEEPCOLOR_SIZE
    lo = max(1, round(IDEEPCOLOR_PATCH[0] * scale))
    hi = max(lo, round(IDEEPCOLOR_PATCH[1] * scale))
    sides = rng.integers(lo, hi + 1, size=n)
    sides = np.minimum(sides, min(h, w))
    ys = rng.normal((h - sides + 1) / 2.0, (h - sides + 1) / 4.0)
    xs = rng.normal((w - sides + 1) / 2.0, (w - sides + 1) / 4.0)
    ys = np.clip(np.rint(ys), 0, h - sides).astype(int)
    xs = np.clip(np.rint(xs), 0, w - sides).astype(int)
    # patch means from a summed-area table: no per-pixel loops
    table = torch.nn.functional.pad(ab.double().cumsum(1).cumsum(2), (1, 0, 1, 0))
    y0, x0, s = torch.from_numpy(ys), torch.from_numpy(xs), torch.from_numpy(sides)
    y1, x1 = y0 + s, x0 + s
    sums = table[:, y1, x1] - table[:, y0, x1] - table[:, y1, x0] + table[:, y0, x0]
    means = (sums / (s * s)).float()
    return [
        Patch(
            y=int(ys[i]),
            x=int(xs[i]),
            side=int(sides[i]),
            a=float(means[0, i]),
            b=float(means[1, i]),
        )
        for i in range(n)
    ]
