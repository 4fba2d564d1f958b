"""Output formats: the codec presets (encoder, containers, pixel formats by bit depth and
frame size, settings) and the default codec of each destination extension.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

ChromaLayout = Literal["420", "422", "444", "rgb"]


@dataclass(frozen=True)
class PixelFormat:
    """One output pixel format of a preset, with the codec options that go with it."""

    pix_fmt: str
    bit_depth: int
    chroma: ChromaLayout
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CodecPreset:
    """A named output format: encoder, containers, pixel formats and settings.

    ``formats`` is ordered by bit depth: a source gets the first one at least as deep as
    itself (or the deepest). ``odd_size_formats`` are the 4:4:4 stand-ins for sizes that
    chroma subsampling cannot hold.
    """

    name: str
    codec: str
    extensions: tuple[str, ...]
    formats: tuple[PixelFormat, ...]
    lossless: bool
    is_image_sequence: bool = False
    options: tuple[tuple[str, str], ...] = ()
    odd_size_formats: tuple[PixelFormat, ...] = ()
    video_range_only: bool = False
    min_size: tuple[int, int] = (1, 1)
    description: str = ""

    @property
    def chroma(self) -> ChromaLayout:
        """The chroma layout of the preset's usual pixel format."""
        return self.formats[0].chroma

    def pixel_format(self, *, bit_depth: int, width: int, height: int) -> PixelFormat | None:
        """The pixel format for a source, or None when the size fits no format of this preset."""
        candidates = self.formats
        if not all(_size_fits(f.chroma, width, height) for f in candidates):
            candidates = self.odd_size_formats
        if not candidates:
            return None
        for fmt in candidates:
            if fmt.bit_depth >= bit_depth:
                return fmt
        return candidates[-1]


def _size_fits(chroma: ChromaLayout, width: int, height: int) -> bool:
    if chroma == "420":
        return width % 2 == 0 and height % 2 == 0
    if chroma == "422":
        return width % 2 == 0
    return True


def _fmt(pix_fmt: str, bits: int, chroma: ChromaLayout, **options: str) -> PixelFormat:
    return PixelFormat(pix_fmt, bits, chroma, tuple(options.items()))


CODECS: dict[str, CodecPreset] = {
    "h264": CodecPreset(
        name="h264",
        codec="libx264",
        extensions=(".mp4", ".mov", ".mkv"),
        formats=(_fmt("yuv420p", 8, "420"), _fmt("yuv420p10le", 10, "420")),
        odd_size_formats=(_fmt("yuv444p", 8, "444"), _fmt("yuv444p10le", 10, "444")),
        lossless=False,
        options=(("crf", "16"), ("preset", "slow")),
        description="H.264 for viewing copies (10-bit sources stay 10-bit: High 10 profile)",
    ),
    "h265": CodecPreset(
        name="h265",
        codec="libx265",
        extensions=(".mp4", ".mov", ".mkv"),
        formats=(_fmt("yuv420p10le", 10, "420"),),
        odd_size_formats=(_fmt("yuv444p10le", 10, "444"),),
        lossless=False,
        options=(("crf", "18"), ("x265-params", "log-level=error")),
        description="H.265 / HEVC Main 10",
    ),
    "prores": CodecPreset(
        name="prores",
        codec="prores_ks",
        extensions=(".mov",),
        formats=(_fmt("yuv422p10le", 10, "422", profile="3"),),
        odd_size_formats=(_fmt("yuv444p10le", 10, "444", profile="4"),),
        lossless=False,
        options=(("vendor", "apl0"),),
        video_range_only=True,
        description="Apple ProRes 422 HQ",
    ),
    "prores4444": CodecPreset(
        name="prores4444",
        codec="prores_ks",
        extensions=(".mov",),
        formats=(_fmt("yuv444p10le", 10, "444", profile="4"),),
        lossless=False,
        options=(("vendor", "apl0"),),
        video_range_only=True,
        description="Apple ProRes 4444",
    ),
    "dnxhr": CodecPreset(
        name="dnxhr",
        codec="dnxhd",
        extensions=(".mxf", ".mov"),
        formats=(
            _fmt("yuv422p", 8, "422", profile="dnxhr_hq"),
            _fmt("yuv422p10le", 10, "422", profile="dnxhr_hqx"),
        ),
        odd_size_formats=(_fmt("yuv444p10le", 10, "444", profile="dnxhr_444"),),
        lossless=False,
        video_range_only=True,
        min_size=(256, 120),
        description="Avid DNxHR HQ (8-bit) / HQX (10-bit)",
    ),
    "ffv1": CodecPreset(
        name="ffv1",
        codec="ffv1",
        extensions=(".mkv",),
        formats=(
            _fmt("yuv444p", 8, "444"),
            _fmt("yuv444p10le", 10, "444"),
            _fmt("yuv444p12le", 12, "444"),
            _fmt("yuv444p16le", 16, "444"),
        ),
        lossless=True,
        # version 3, CRC per slice, every frame a keyframe: the archival settings.
        options=(("level", "3"), ("slicecrc", "1"), ("g", "1")),
        description="FFV1 version 3, lossless archival master",
    ),
    "png": CodecPreset(
        name="png",
        codec="png",
        extensions=(".png",),
        formats=(_fmt("rgb24", 8, "rgb"), _fmt("rgb48be", 16, "rgb")),
        lossless=True,
        is_image_sequence=True,
        description="PNG sequence, 8 or 16 bits per channel by source depth",
    ),
    "tiff": CodecPreset(
        name="tiff",
        codec="tiff",
        extensions=(".tif", ".tiff"),
        formats=(_fmt("rgb48le", 16, "rgb"),),
        lossless=True,
        is_image_sequence=True,
        description="16-bit TIFF sequence",
    ),
    "dpx": CodecPreset(
        name="dpx",
        codec="dpx",
        extensions=(".dpx",),
        formats=(
            _fmt("gbrp10be", 10, "rgb"),
            _fmt("gbrp12be", 12, "rgb"),
            _fmt("rgb48be", 16, "rgb"),
        ),
        lossless=True,
        is_image_sequence=True,
        description="DPX sequence, 10-bit (12 or 16 for deeper sources)",
    ),
}
CODEC_NAMES: tuple[str, ...] = tuple(CODECS)

DEFAULT_CODEC_BY_EXTENSION: dict[str, str] = {
    ".mp4": "h264",
    ".mov": "prores",
    ".mkv": "ffv1",
    ".mxf": "dnxhr",
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".dpx": "dpx",
}


def codec_for_path(path: Path | str) -> str:
    """The default codec for a destination's extension (.mp4 -> h264, .mov -> prores, ...)."""
    suffix = Path(path).suffix.lower()
    try:
        return DEFAULT_CODEC_BY_EXTENSION[suffix]
    except KeyError:
        allowed = ", ".join(DEFAULT_CODEC_BY_EXTENSION)
        raise ValueError(
            f"no default codec for {Path(path).name!r}; use one of the extensions {allowed} "
            f"or name a codec ({', '.join(CODEC_NAMES)})"
        ) from None


def get_preset(name: str) -> CodecPreset:
    """The preset called ``name``; ValueError listing the allowed names otherwise."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; allowed: {', '.join(CODEC_NAMES)}") from None
