"""The Y'CbCr formulas the colorizer runs on the model's device, in torch: Cb/Cr of R'G'B'
(``chroma_from_rgb``) and limiting chroma to what the source's luma can carry
(``limit_chroma``).

They are the torch counterparts of ``ycbcr.luma_from_rgb`` / ``ycbcr.limit_to_gamut`` and
take their constants from the same table (``ycbcr.LUMA_COEFFICIENTS``); the frames never
leave the device between the model and these, and only the two chroma planes are copied
back. ``tests/core/test_ycbcr.py`` checks each against its NumPy counterpart.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from flowchroma_core.colour.lab import select
from flowchroma_core.colour.ycbcr import Matrix, coefficients

logger = logging.getLogger(__name__)


def limit_chroma(y: Tensor, cb: Tensor, cr: Tensor, matrix: Matrix) -> tuple[Tensor, Tensor]:
    """Scale (Cb, Cr) down where the source's luma ``y`` (full range, [0, 1]) plus that
    chroma would leave the RGB cube, so that no channel needs clipping when decoded.

    The source's luma is kept as it is; without this a black or white area would be decoded
    with a tint (black with a* > 0 comes out dark red) because one channel clips and the
    others do not. Hue is kept; only saturation is reduced, and only where it must be.
    ``ycbcr.limit_to_gamut`` is the same limit in NumPy, for the writer's RGB outputs.
    """
    kr, kg, kb = coefficients(matrix)
    dr = 2 * (1 - kr) * cr  # R - Y
    db = 2 * (1 - kb) * cb  # B - Y
    dg = -(kr * dr + kb * db) / kg  # G - Y
    up, down = (1 - y).clamp_(min=0), y.clamp(min=0)  # room above and below the luma
    scale = torch.ones_like(y)
    for d in (dr, dg, db):
        room = select(d > 0, up, down).div_(d.abs().clamp_(min=1e-12))
        torch.minimum(scale, room, out=scale)
    return cb * scale, cr * scale


def chroma_from_rgb(rgb: Tensor, matrix: Matrix) -> tuple[Tensor, Tensor]:
    """Cb and Cr in [-0.5, 0.5] of non-linear RGB (3, H, W) for a luma matrix."""
    kr, kg, kb = coefficients(matrix)
    r, g, b = rgb.unbind(0)
    y = kr * r + kg * g + kb * b
    return (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
