"""What a source is: ``VideoInfo``, ``AudioStreamInfo`` and ``Frame``, the luma matrix a
source implies, and the fields read out of PyAV's containers (timecode, sound, rotation).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from flowchroma_core.colour.ycbcr import ColorRange, Matrix

logger = logging.getLogger(__name__)

LumaMatrix = Matrix
MATRIX_OF_SPACE: dict[str, LumaMatrix] = {
    "bt709": "bt709",
    "smpte240m": "bt709",
    "bt470bg": "bt601",
    "smpte170m": "bt601",
    "fcc": "bt601",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
}


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of a film, for display and for passing sound through on export."""

    index: int
    codec: str
    channels: int
    sample_rate: int
    language: str | None
    sample_format: str
    # Bits per sample for PCM; None for compressed audio, where it has no meaning.
    bit_depth: int | None


@dataclass(frozen=True)
class VideoInfo:
    """What a restorer needs to know about a source before processing it.

    ``frame_count``, ``frame_rate``, ``duration`` and ``variable_frame_rate`` come from
    the packets' timestamps, not from the header. ``rotation`` is the clockwise turn, in
    degrees, that a player applies for display (as the legacy ``rotate`` tag); frames are
    delivered as coded, unrotated. Colour fields use FFmpeg's names, "unknown" when the
    file does not say.
    """

    path: Path
    container_format: str
    codec: str
    width: int
    height: int
    sample_aspect: Fraction
    display_aspect: Fraction
    frame_rate: Fraction
    time_base: Fraction
    frame_count: int
    duration: Fraction
    pix_fmt: str
    bit_depth: int
    color_range: ColorRange
    color_space: str
    color_primaries: str
    color_trc: str
    rotation: int
    variable_frame_rate: bool
    start_timecode: str | None
    audio: tuple[AudioStreamInfo, ...]
    is_image_sequence: bool

    def summary(self) -> str:
        """A few human-readable lines, as ``flowchroma info`` prints them."""
        rate = f"{float(self.frame_rate):.3f}".rstrip("0").rstrip(".")
        if self.frame_rate.denominator != 1:
            rate += f" ({self.frame_rate.numerator}/{self.frame_rate.denominator})"
        timing = "variable" if self.variable_frame_rate else "constant"
        seconds = float(self.duration)
        clock = f"{int(seconds // 3600)}:{int(seconds // 60 % 60):02d}:{seconds % 60:06.3f}"
        kind = "image sequence" if self.is_image_sequence else self.container_format
        matrix = luma_matrix(self)
        assumed = "" if MATRIX_OF_SPACE.get(self.color_space) else " (assumed)"
        lines = [
            f"{self.path.name}: {kind}, {self.codec}",
            f"{self.width}x{self.height}, SAR {_ratio(self.sample_aspect)}, "
            f"DAR {_ratio(self.display_aspect)}",
            f"{self.frame_count} frames at {rate} fps ({timing}), {clock}",
            f"{self.pix_fmt}, {self.bit_depth}-bit, {self.color_range} range, "
            f"matrix {matrix}{assumed}, primaries {self.color_primaries}, "
            f"transfer {self.color_trc}",
        ]
        extras = []
        if self.start_timecode:
            extras.append(f"start timecode {self.start_timecode}")
        if self.rotation:
            extras.append(f"display rotation {self.rotation}° clockwise (not applied)")
        if extras:
            lines.append(", ".join(extras))
        for a in self.audio:
            depth = f", {a.bit_depth}-bit" if a.bit_depth else ""
            language = f", {a.language}" if a.language else ""
            lines.append(
                f"audio #{a.index}: {a.codec}, {a.channels} ch, {a.sample_rate} Hz{depth}{language}"
            )
        return "\n".join(lines)


def _ratio(value: Fraction) -> str:
    return f"{value.numerator}:{value.denominator}"


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame's native luma code values and where it sits in time.

    ``luma`` is (H, W), uint8 for 8-bit sources and uint16 (holding 0..2**bit_depth - 1)
    above that. ``time`` is in seconds from the first frame.
    """

    index: int
    pts: int | None
    time: Fraction
    luma: np.ndarray
    bit_depth: int
    color_range: ColorRange

    def gray(self) -> np.ndarray:
        """Luma as float32 in [0, 1], full range: black 0, white 1."""
        y = self.luma.astype(np.float32)
        if self.color_range == "tv":
            scale = float(1 << (self.bit_depth - 8))
            return np.clip((y - 16.0 * scale) / (219.0 * scale), 0.0, 1.0)
        return y / float((1 << self.bit_depth) - 1)


def matrix_for(color_space: str, height: int) -> LumaMatrix:
    return MATRIX_OF_SPACE.get(color_space, "bt601" if height <= 576 else "bt709")


def luma_matrix(info: VideoInfo) -> LumaMatrix:
    """The matrix that relates the source's luma to RGB.

    Taken from the file where it says; otherwise BT.601 for standard definition (576
    lines or fewer) and BT.709 above, as FFmpeg and most players assume.
    """
    return matrix_for(info.color_space, info.height)


def metadata_get(metadata: dict[str, str], key: str) -> str | None:
    for k, v in metadata.items():
        if k.lower() == key and v:
            return v
    return None


def find_timecode(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    frame: av.VideoFrame,
) -> str | None:
    """Start timecode from the stream, the container, a tmcd track or the first frame."""
    sources = [stream.metadata, container.metadata]
    sources += [s.metadata for s in container.streams if s.type == "data"]
    sources.append(dict(frame.metadata))
    for metadata in sources:
        value = metadata_get(metadata, "timecode")
        if value:
            return value
    return None


def audio_info(container: av.container.InputContainer) -> tuple[AudioStreamInfo, ...]:
    """The film's sound streams, described for display and for export."""
    streams = []
    for s in container.streams.audio:
        cc = s.codec_context
        if cc is None:  # no decoder in this FFmpeg build; still worth listing
            streams.append(AudioStreamInfo(s.index, "unknown", 0, 0, s.language, "unknown", None))
            continue
        language = s.language if s.language and s.language != "und" else None
        depth = re.match(r"pcm_[a-z]+?(\d+)", cc.name)
        streams.append(
            AudioStreamInfo(
                index=s.index,
                codec=cc.codec.canonical_name,
                channels=cc.channels,
                sample_rate=cc.sample_rate,
                language=language,
                sample_format=cc.format.name if cc.format else "unknown",
                bit_depth=int(depth.group(1)) if depth else None,
            )
        )
    return tuple(streams)


def rotation_of(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> int:
    """Clockwise display rotation: the display matrix (counter-clockwise) or the rotate tag."""
    ccw = frame.rotation
    if ccw:
        return round(-ccw) % 360
    tag = metadata_get(stream.metadata, "rotate")
    try:
        return round(float(tag)) % 360 if tag else 0
    except ValueError:
        return 0
