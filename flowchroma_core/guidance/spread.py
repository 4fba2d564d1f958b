"""The restorer's points spread over their regions: geodesic nearest point, edge-aware.

A point is a small patch; the network alone carries its colour only a little way (the
point sweep measured +0.04 dB at 10 points). A restorer who clicks a dress expects the
dress to turn that colour. So before the network sees them, a frame's points are spread:
every pixel takes the colour of the point nearest to it along the frame, where a step
costs its length plus ``EDGE`` times the change of grey it crosses (``|Δgrey|`` in 0..1),
plus ``TEXTURE`` times the change of local texture, so colour flows freely through an even
area and hardly across an edge or from grass onto cloth of the same grey. The spread hint's
confidence is ``exp(-distance / REACH)``: 1 on the points themselves, fading with the
geodesic distance; the network (and its full-resolution ``GuideBlend``) weighs it as it
weighs colour carried by flow.

The distance is computed by alternating directional scans (left to right, right to left,
top down, bottom up), each one ``torch.cummin`` over a row: along a row the geodesic
distance from the left is ``C[x] + min_{k <= x}(d[k] - C[k])`` with ``C`` the running
step cost, and ``cummin`` also says which pixel the minimum came from, so the colour
travels with it. ``ROUNDS`` rounds of four scans reach around most shapes (paths with
more turns than that are taken the long way, and only lose confidence).
"""

from __future__ import annotations

import torch
from torch import Tensor

EDGE = 30.0
"""Cost of crossing a change of grey, in pixels per unit of grey (0..1): an edge of 0.2
costs as much as six pixels of even ground."""

REACH = 64.0
"""Geodesic distance (in model-input pixels, a fifth of a 320-pixel-wide input) over which
the spread confidence falls by e."""

ROUNDS = 3
"""Rounds of the four directional scans."""

TEXTURE = 3.0
"""Weight of a change of local texture (the grey's standard deviation over 5x5 pixels)
against a change of grey: grass and cloth of one grey differ in it.

EDGE, REACH and TEXTURE were chosen on 40 held-out photographs with simulated points
(``benchmarks/guidance_measure.py sweep``; +2.2 dB at 10 points, against +0.03 dB without
the spread) and by eye on chaplin and a-bomb, where a lower edge cost or a longer reach
scored higher but carried a point's colour onto the pavement and the background."""

TEXTURE_WINDOW = 5


def _guide(grey: Tensor, texture: float) -> Tensor:
    """(C, H, W) what a step is charged for changing: the grey, and its local texture."""
    if texture <= 0:
        return grey[None]
    pad = TEXTURE_WINDOW // 2
    x = grey[None, None]
    mean = torch.nn.functional.avg_pool2d(x, TEXTURE_WINDOW, 1, pad, count_include_pad=False)
    square = torch.nn.functional.avg_pool2d(x * x, TEXTURE_WINDOW, 1, pad, count_include_pad=False)
    std = (square - mean * mean).clamp_(min=0).sqrt_()
    return torch.cat([grey[None], texture * std[0]])


def _scan(d: Tensor, ab: Tensor, total: Tensor) -> tuple[Tensor, Tensor]:
    """One left-to-right pass over every row: ``d`` (H, W) distances, ``ab`` (2, H, W) the
    colour of each pixel's nearest point, ``total`` (H, W) the running cost along the row
    (the cumulative sum of the cost of entering each pixel from its left neighbour)."""
    best, index = torch.cummin(d - total, dim=1)
    through = best + total
    better = through < d
    carried = torch.gather(ab, 2, index.unsqueeze(0).expand_as(ab))
    return torch.where(better, through, d), torch.where(better, carried, ab)


def _running(step: Tensor) -> Tensor:
    """Running cost along each row, from the cost of entering each pixel (column 0 unused)."""
    step = step.clone()
    step[:, 0] = 0.0
    return torch.cumsum(step, dim=1).contiguous()


def spread_hints(
    hint: Tensor,
    grey: Tensor,
    *,
    edge: float = EDGE,
    reach: float = REACH,
    texture: float = TEXTURE,
) -> Tensor:
    """Spread a (3, H, W) hint map (a/110, b/110, confidence; confidence 1 on the points)
    over the frame whose grey (H, W, in 0..1) it belongs to; see the module docstring.

    Returns a new (3, H, W) map; pixels of the points keep their own colour and confidence,
    every other pixel gets the nearest point's colour with confidence ``exp(-d / reach)``
    (0 where no point reaches). A map without points is returned unchanged.
    """
    if hint.ndim != 3 or hint.shape[0] != 3 or hint.shape[1:] != grey.shape:
        raise ValueError(
            f"hint must be (3, H, W) and grey (H, W) of the same size: "
            f"{tuple(hint.shape)}, {tuple(grey.shape)}"
        )
    seeds = hint[2] > 0
    if not bool(seeds.any()):
        return hint
    g = _guide(grey.to(torch.float32), texture)
    # the cost of entering each pixel from its left neighbour and from the one above
    across = torch.ones_like(g[0])
    across[:, 1:] += edge * (g[:, :, 1:] - g[:, :, :-1]).abs().sum(0)
    down = torch.ones_like(g[0])
    down[1:] += edge * (g[:, 1:] - g[:, :-1]).abs().sum(0)
    # each pass as a left-to-right scan of a flipped and/or transposed grid
    views = {
        "right": (lambda t: t, _running(across)),
        "left": (lambda t: t.flip(-1), _running(_shifted(across.flip(-1), -1))),
        "down": (lambda t: t.mT, _running(down.mT)),
        "up": (lambda t: t.flip(-2).mT, _running(_shifted(down.flip(-2), -2).mT)),
    }
    back = {
        "right": lambda t: t,
        "left": lambda t: t.flip(-1),
        "down": lambda t: t.mT,
        "up": lambda t: t.mT.flip(-2),
    }
    d = torch.where(seeds, 0.0, torch.inf)
    ab = hint[:2].float() * seeds
    for _ in range(ROUNDS):
        for name, (view, total) in views.items():
            d2, ab2 = _scan(view(d).contiguous(), view(ab).contiguous(), total)
            d, ab = back[name](d2), back[name](ab2)
    out = torch.empty_like(hint)
    out[:2] = torch.where(seeds, hint[:2], ab.to(hint.dtype))
    out[2] = torch.where(seeds, hint[2], torch.exp(-d / reach).to(hint.dtype))
    return out


def _shifted(step: Tensor, dim: int) -> Tensor:
    """Costs of a grid flipped along ``dim``: entering a pixel from its new neighbour
    before it costs what entering that neighbour from this pixel cost before the flip,
    which is the flipped cost one place back (the first place wraps round, and is unused)."""
    return torch.roll(step, 1, dims=dim)
