"""Samples between NumPy arrays and PyAV picture planes, both ways, with no swscale on the
pixels: native luma out of a decoded picture (read as coded, or computed from R'G'B'), and
the planes of an output picture built from luma codes and Cb/Cr.
"""

from __future__ import annotations

import logging
import re

import av
import numpy as np

from flowchroma_core.colour.ycbcr import (
    ColorRange,
    Matrix,
    chroma_to_codes,
    limit_to_gamut,
    luma_from_rgb,
    luma_to_float,
    rescale_luma_codes,
    rgb_to_codes,
    ycbcr_to_rgb,
)
from flowchroma_core.video.presets import ChromaLayout, PixelFormat

logger = logging.getLogger(__name__)

# Packed RGB formats read directly: the letter order of the samples in a pixel.
_PACKED_RGB = {
    "rgb24": "rgb", "bgr24": "bgr", "rgba": "rgba", "bgra": "bgra", "argb": "argb",
    "abgr": "abgr", "rgb0": "rgbx", "bgr0": "bgrx", "0rgb": "xrgb", "0bgr": "xbgr",
    "rgb48le": "rgb", "rgb48be": "rgb", "bgr48le": "bgr", "bgr48be": "bgr",
    "rgba64le": "rgba", "rgba64be": "rgba", "bgra64le": "bgra", "bgra64be": "bgra",
}  # fmt: skip
# Pixel formats with floating-point samples (EXR-like): no integer code values to read.
_FLOAT_FORMAT = re.compile(r"f(16|32|64)")


# ---------------------------------------------------------------------------------------
# Decoded pictures -> native luma


def plane_samples(
    plane: av.video.plane.VideoPlane, *, width: int, height: int, itemsize: int, big: bool
) -> np.ndarray:
    """A (height, width) copy of a plane's samples in native byte order, stride removed."""
    dtype = np.dtype(np.uint8) if itemsize == 1 else np.dtype(">u2" if big else "<u2")
    row = plane.line_size // itemsize
    data = np.frombuffer(plane, dtype=dtype, count=row * height).reshape(height, row)
    return data[:, :width].astype(np.uint8 if itemsize == 1 else np.uint16)


def _is_rgb_like(fmt: av.video.format.VideoFormat) -> bool:
    """RGB, palette and XYZ pictures: luma has to be computed, not read."""
    return fmt.is_rgb or fmt.has_palette or fmt.name.startswith(("xyz", "bayer"))


def _default_range(frame: av.VideoFrame) -> ColorRange:
    """The frame's range as flagged; unflagged YUV is tv, unflagged RGB or gray is pc."""
    if frame.color_range == 1:
        return "tv"
    if frame.color_range == 2:
        return "pc"
    fmt = frame.format
    if fmt.name.startswith(("yuvj", "gray", "ya", "mono")) or _is_rgb_like(fmt):
        return "pc"
    return "tv"


def _rgb_channels(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """R, G and B sample arrays and their bit depth, read without conversion if possible."""
    fmt = frame.format
    w, h = frame.width, frame.height
    name = fmt.name
    order = _PACKED_RGB.get(name)
    if order is not None:
        itemsize = 2 if name.endswith(("48le", "48be", "64le", "64be")) else 1
        n = len(order)
        p = plane_samples(
            frame.planes[0], width=w * n, height=h, itemsize=itemsize, big=fmt.is_big_endian
        )
        pix = p.reshape(h, w, n)
        r, g, b = (pix[..., order.index(c)] for c in "rgb")
        return r, g, b, 8 * itemsize
    if name.startswith("gbr") and not _FLOAT_FORMAT.search(name):
        comps = fmt.components[:3]  # R, G, B, each on its own plane
        bits = comps[0].bits
        itemsize = 1 if bits <= 8 else 2
        r, g, b = (
            plane_samples(
                frame.planes[c.plane], width=w, height=h, itemsize=itemsize, big=fmt.is_big_endian
            )
            for c in comps
        )
        return r, g, b, bits
    # Anything else (palette, float, bit-packed, XYZ): swscale to plain RGB first.
    deep = max(c.bits for c in fmt.components) > 8
    logger.debug("converting %s to %s to compute luma", name, "rgb48le" if deep else "rgb24")
    return _rgb_channels(frame.reformat(format="rgb48le" if deep else "rgb24"))


def native_luma(frame: av.VideoFrame, matrix: Matrix) -> tuple[np.ndarray, int, ColorRange]:
    """Luma code values of a decoded picture, its bit depth and its range."""
    fmt = frame.format
    rng = _default_range(frame)
    if _is_rgb_like(fmt):
        r, g, b, bits = _rgb_channels(frame)
        y = luma_from_rgb(r.astype(np.float64), g, b, matrix)
        peak = (1 << bits) - 1
        luma = np.clip(np.rint(y), 0, peak).astype(np.uint8 if bits <= 8 else np.uint16)
        return luma, bits, rng
    comp = fmt.components[0]
    bits = comp.bits
    alone = all(c.plane != 0 for c in fmt.components[1:])
    if (
        comp.is_luma
        and comp.plane == 0
        and alone
        and 8 <= bits <= 16
        and not _FLOAT_FORMAT.search(fmt.name)
    ):
        itemsize = 1 if bits <= 8 else 2
        luma = plane_samples(
            frame.planes[0],
            width=frame.width,
            height=frame.height,
            itemsize=itemsize,
            big=fmt.is_big_endian,
        )
        if re.match(r"p[0-9]{3}", fmt.name):  # P010 and kin keep their bits at the top
            luma >>= 16 - bits
        return luma, bits, rng
    # Packed YUV (yuyv422, v210, ...), gray with alpha, 1-bit: unpack luma only, same range.
    bits = 8 if bits <= 8 else min(bits, 16)
    target = "gray" if bits == 8 else f"gray{bits}le"
    logger.debug("unpacking luma of %s via %s", fmt.name, target)
    # swscale treats gray as full range: stating full range on both sides makes it a copy.
    gray = frame.reformat(format=target, src_color_range="JPEG", dst_color_range="JPEG")
    luma = plane_samples(
        gray.planes[0],
        width=gray.width,
        height=gray.height,
        itemsize=1 if bits <= 8 else 2,
        big=False,
    )
    return luma, min(bits, 16), rng


# ---------------------------------------------------------------------------------------
# Luma codes and Cb/Cr -> an output picture


def pack_frame(
    luma: np.ndarray,
    cb: np.ndarray,
    cr: np.ndarray,
    *,
    pixel_format: PixelFormat,
    src_bits: int,
    src_range: ColorRange,
    out_range: ColorRange,
    matrix: Matrix,
) -> av.VideoFrame:
    """An output picture in ``pixel_format`` from the source's luma codes and Cb/Cr.

    Luma is moved to the output's depth and range exactly where possible; chroma is
    area-averaged to the plane size and rounded to codes. For RGB formats the colour is first
    limited to the gamut by giving up saturation, never luma.
    """
    height, width = luma.shape
    bits = pixel_format.bit_depth
    frame = av.VideoFrame(width, height, pixel_format.pix_fmt)
    if pixel_format.chroma == "rgb":
        y = luma_to_float(luma, src_bits, src_range)
        cb, cr = limit_to_gamut(y, cb, cr, matrix)
        codes = rgb_to_codes(ycbcr_to_rgb(y, cb, cr, matrix), bits)
        if pixel_format.pix_fmt.startswith("gbrp"):
            planes = [codes[..., 1], codes[..., 2], codes[..., 0]]
        else:
            planes = [codes.reshape(height, width * 3)]
    else:
        planes = [rescale_luma_codes(luma, src_bits, src_range, bits, out_range)]
        for c in (cb, cr):
            planes.append(chroma_to_codes(_subsample(c, pixel_format.chroma), bits, out_range))
    big_endian = pixel_format.pix_fmt.endswith("be")
    for plane, values in zip(frame.planes, planes, strict=True):
        _fill_plane(plane, values, big_endian=big_endian)
    return frame


def _subsample(c: np.ndarray, chroma: ChromaLayout) -> np.ndarray:
    """Area-average chroma to the plane size of ``chroma`` (sizes are even where needed)."""
    if chroma == "420":
        h, w = c.shape
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3), dtype=np.float32)
    if chroma == "422":
        h, w = c.shape
        return c.reshape(h, w // 2, 2).mean(axis=2, dtype=np.float32)
    return c


def _fill_plane(plane: av.video.plane.VideoPlane, values: np.ndarray, *, big_endian: bool) -> None:
    """Copy a (rows, samples) array into a frame plane, respecting its line size."""
    rows, samples = values.shape
    itemsize = values.dtype.itemsize
    if itemsize > 1:
        values = values.astype(">u2" if big_endian else "<u2", copy=False)
    raw = values.view(np.uint8).reshape(rows, samples * itemsize)
    buffer = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    buffer[:rows, : samples * itemsize] = raw
