"""Y'CbCr <-> R'G'B' and integer code values, the way video files store them.

The colorizer keeps the source's own luma code values and only invents chroma, so the
writer needs exact, documented conversions between code values and analog values:

* ``y`` is luma in [0, 1] (black to white), ``cb`` / ``cr`` are colour differences in
  [-0.5, 0.5], all non-constant-luminance (ITU-R BT.709 / BT.601 / BT.2020 NCL).
* Code values follow ITU-T H.273 / ffmpeg: "tv" (limited) range puts luma on 16..235 and
  chroma on 16..240, scaled by 2^(bits-8); "pc" (full) range puts luma on 0..2^bits-1 and
  chroma on 2^(bits-1) + (2^bits-1)·c.
* Conversions to integers round half up, never truncate, and clip to the legal code range
  0..2^bits-1.

Everything is computed in float32 (float64 only where exactness of an integer rescale needs
it); RGB images are (..., 3) with the channels last.

``LUMA_COEFFICIENTS`` is the one table of the matrices' constants. The colorizer computes
Cb/Cr and limits them on the model's device with the torch functions of ``ycbcr_torch``,
which read the same table; ``tests/core/test_ycbcr.py`` checks the two agree.
"""

from __future__ import annotations

import logging
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

Matrix = Literal["bt709", "bt601", "bt2020"]
ColorRange = Literal["tv", "pc"]

MATRICES: tuple[str, ...] = get_args(Matrix)
COLOR_RANGES: tuple[str, ...] = get_args(ColorRange)

# (Kr, Kb) of each non-constant-luminance matrix: ITU-R BT.709-6, BT.601-7, BT.2020-2.
LUMA_COEFFICIENTS: dict[str, tuple[float, float]] = {
    "bt709": (0.2126, 0.0722),
    "bt601": (0.299, 0.114),
    "bt2020": (0.2627, 0.0593),
}

MIN_BITS = 8
MAX_BITS = 16

FloatArray = NDArray[np.float32]
CodeArray = NDArray[np.uint8] | NDArray[np.uint16]


def coefficients(matrix: str) -> tuple[float, float, float]:
    """(Kr, Kg, Kb) for ``matrix``; ValueError listing the allowed names otherwise."""
    if matrix not in LUMA_COEFFICIENTS:
        raise ValueError(f"unknown matrix {matrix!r}; allowed: {', '.join(MATRICES)}")
    kr, kb = LUMA_COEFFICIENTS[matrix]
    return kr, 1.0 - kr - kb, kb


def _check_bits_range(bit_depth: int, color_range: str) -> None:
    if not MIN_BITS <= int(bit_depth) <= MAX_BITS:
        raise ValueError(f"bit_depth must be {MIN_BITS}..{MAX_BITS}, got {bit_depth}")
    if color_range not in COLOR_RANGES:
        raise ValueError(f"unknown color_range {color_range!r}; allowed: {', '.join(COLOR_RANGES)}")


def code_dtype(bit_depth: int) -> type[np.uint8] | type[np.uint16]:
    """The numpy type that holds ``bit_depth`` code values: uint8 up to 8 bits, else uint16."""
    return np.uint8 if bit_depth <= 8 else np.uint16


def luma_scale(bit_depth: int, color_range: str) -> tuple[int, int]:
    """(offset, span) of luma codes: code = offset + span·y (exact integers)."""
    _check_bits_range(bit_depth, color_range)
    if color_range == "tv":
        step = 1 << (bit_depth - 8)
        return 16 * step, 219 * step
    return 0, (1 << bit_depth) - 1


def chroma_scale(bit_depth: int, color_range: str) -> tuple[int, int]:
    """(offset, span) of chroma codes: code = offset + span·c (exact integers)."""
    _check_bits_range(bit_depth, color_range)
    if color_range == "tv":
        step = 1 << (bit_depth - 8)
        return 128 * step, 224 * step
    return 1 << (bit_depth - 1), (1 << bit_depth) - 1


def _round_to_codes(x: NDArray[np.floating], bit_depth: int) -> CodeArray:
    """Round half up, clip to 0..2^bits-1 and store in the smallest unsigned type."""
    top = (1 << bit_depth) - 1
    return np.clip(np.floor(x + 0.5), 0, top).astype(code_dtype(bit_depth))


def luma_from_rgb(r: ArrayLike, g: ArrayLike, b: ArrayLike, matrix: Matrix) -> NDArray[np.floating]:
    """Y' = Kr·R' + Kg·G' + Kb·B' in the inputs' own precision and scale (codes stay codes).

    The reader computes the luma of RGB scans with it; ``ycbcr_torch.chroma_from_rgb`` is
    its counterpart for Cb/Cr on the model's device.
    """
    kr, kg, kb = coefficients(matrix)
    return kr * np.asarray(r) + kg * np.asarray(g) + kb * np.asarray(b)


def _chroma_deltas(
    cb: FloatArray, cr: FloatArray, kr: float, kg: float, kb: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """What chroma adds to luma in each of R', G', B' (R' = Y' + dr, ...)."""
    dr = cr * np.float32(2.0 * (1.0 - kr))
    db = cb * np.float32(2.0 * (1.0 - kb))
    dg = -(np.float32(kr) * dr + np.float32(kb) * db) * np.float32(1.0 / kg)
    return dr, dg, db


def ycbcr_to_rgb(y: ArrayLike, cb: ArrayLike, cr: ArrayLike, matrix: Matrix) -> FloatArray:
    """(y, cb, cr) to R'G'B', channels last; not clipped, so out-of-gamut values show."""
    kr, kg, kb = coefficients(matrix)
    y = np.asarray(y, dtype=np.float32)
    cb = np.asarray(cb, dtype=np.float32)
    cr = np.asarray(cr, dtype=np.float32)
    dr, dg, db = _chroma_deltas(cb, cr, kr, kg, kb)
    return np.stack([y + dr, y + dg, y + db], axis=-1).astype(np.float32)


def rgb_to_codes(rgb: ArrayLike, bit_depth: int) -> CodeArray:
    """R'G'B' to integer codes 0..2^bits-1: clipped to [0, 1], scaled, rounded half up.

    The one rounding of colour to integers: RGB image sequences are written with it, and the
    8-bit pictures people look at (the preview, contact sheets) are made with it, so the
    screen shows exactly the codes an 8-bit export holds. Half up rather than NumPy's
    half-to-even ``rint``, as every code conversion in this module: a value k + 0.5 always
    goes up, whatever the parity of k.
    """
    rgb = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    return _round_to_codes(rgb * np.float32((1 << bit_depth) - 1), bit_depth)


def limit_to_gamut(
    y: ArrayLike, cb: ArrayLike, cr: ArrayLike, matrix: Matrix
) -> tuple[FloatArray, FloatArray]:
    """Scale chroma toward grey, per pixel, just enough that the R'G'B' lands in [0, 1].

    Luma is never touched: the hue is kept and only saturation is given up, which is what a
    restorer wants when an invented colour would otherwise clip. Where ``y`` itself is
    outside [0, 1] (super-white, sub-black) no chroma can help; such pixels become grey.
    """
    kr, kg, kb = coefficients(matrix)
    y = np.asarray(y, dtype=np.float32)
    cb = np.asarray(cb, dtype=np.float32)
    cr = np.asarray(cr, dtype=np.float32)
    yc = np.clip(y, 0.0, 1.0)
    scale = np.ones(np.broadcast_shapes(y.shape, cb.shape, cr.shape), dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for d in _chroma_deltas(cb, cr, kr, kg, kb):
            room = np.where(d > 0, (1.0 - yc) / d, np.where(d < 0, -yc / d, np.inf))
            scale = np.minimum(scale, room.astype(np.float32))
    scale = np.where((y < 0.0) | (y > 1.0), np.float32(0.0), np.clip(scale, 0.0, 1.0))
    # Float rounding can leave a channel a hair outside; shave a relative 1e-6 off the scale.
    scale = np.where(scale < 1.0, scale * np.float32(1.0 - 1e-6), scale).astype(np.float32)
    return (cb * scale).astype(np.float32), (cr * scale).astype(np.float32)


def luma_to_float(codes: ArrayLike, bit_depth: int, color_range: ColorRange) -> FloatArray:
    """Luma code values to y (0 = black, 1 = white); codes outside the range give y < 0 or > 1."""
    offset, span = luma_scale(bit_depth, color_range)
    codes = np.asarray(codes)
    return ((codes.astype(np.float32) - np.float32(offset)) / np.float32(span)).astype(np.float32)


def chroma_to_codes(c: ArrayLike, bit_depth: int, color_range: ColorRange) -> CodeArray:
    """Cb or Cr in [-0.5, 0.5] to code values (H.273): rounded half up, clipped."""
    offset, span = chroma_scale(bit_depth, color_range)
    c = np.asarray(c, dtype=np.float32)
    return _round_to_codes(np.float32(offset) + np.float32(span) * c, bit_depth)


def rescale_luma_codes(
    codes: ArrayLike,
    src_bits: int,
    src_range: ColorRange,
    dst_bits: int,
    dst_range: ColorRange,
) -> CodeArray:
    """Move luma codes to another bit depth and/or range, exactly where that is possible.

    Same range: a bit shift (8 -> 10 bits is ``<< 2``, so ``dst >> 2`` gives the source
    back; 10 -> 8 bits rounds half up). In pc range this is the zero-padding convention
    (255 -> 1020), matching tv range and what decoders compare against. Different ranges:
    ``round(dst_offset + (code - src_offset) · dst_span / src_span)`` in exact integer
    arithmetic, clipped to 0..2^dst_bits-1.
    """
    src_off, src_span = luma_scale(src_bits, src_range)
    dst_off, dst_span = luma_scale(dst_bits, dst_range)
    c = np.asarray(codes)
    if not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"luma codes must be integers, got {c.dtype}")
    c = c.astype(np.int64)
    top = (1 << dst_bits) - 1
    if src_range == dst_range:
        shift = dst_bits - src_bits
        # widening shifts left; narrowing adds half a step first (round half up)
        out = c << shift if shift >= 0 else (c + (1 << (-shift - 1))) >> -shift
    else:
        num = (c - src_off) * dst_span
        # round half up of num / src_span with floor division (works for negative num too)
        out = dst_off + (2 * num + src_span) // (2 * src_span)
    return np.clip(out, 0, top).astype(code_dtype(dst_bits))
