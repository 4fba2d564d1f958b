"""Reading films and scans: exact metadata and frame-accurate access to native luma.

This is the only module that opens inputs with PyAV. It serves two kinds of input:

* a video file (anything FFmpeg demuxes: MP4/MOV, MKV, AVI, MPEG-TS, MXF, ...), and
* an image sequence (a folder of DPX/TIFF/PNG/JPEG frames, or a printf pattern such as
  ``scan_%06d.dpx``), as film scans are delivered.

Frames are handed out as their *native* luma code values, read straight from plane 0 of
the decoded picture (line padding removed) and never passed through swscale, so an
8-bit film gives uint8 and a 10-bit one uint16 holding 0..1023, exactly as coded. For RGB
sources (most scans) luma is computed from R, G and B with the source's matrix (see
``luma_matrix``), rounded to the source's bit depth, in full range (or in limited range
for the rare RGB picture flagged as such).

Random access is frame-accurate: at open time every packet's presentation timestamp is
collected by demuxing (no decoding), so ``reader[n]`` seeks to the keyframe at or before
frame ``n`` and decodes forward to the frame whose timestamp is the n-th one. Nothing is
trusted from the header that can be counted instead: the frame count, the frame rate and
whether the rate is variable all come from the timestamps.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import operator
import os
import re
import struct
import time
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.error
import numpy as np

from flowchroma_core.colour.ycbcr import LUMA_COEFFICIENTS, ColorRange, Matrix
from flowchroma_core.errors import VideoReadError

logger = logging.getLogger(__name__)

LumaMatrix = Matrix

IMAGE_EXTENSIONS: tuple[str, ...] = (".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
# Film scans are nearly always made at sound speed; a sequence has no timing of its own.
DEFAULT_SEQUENCE_RATE = Fraction(24)


# FFmpeg's names for AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic.
_COLOR_SPACE_NAMES = {
    0: "gbr", 1: "bt709", 2: "unknown", 4: "fcc", 5: "bt470bg", 6: "smpte170m",
    7: "smpte240m", 8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 11: "smpte2085",
    12: "chroma-derived-nc", 13: "chroma-derived-c", 14: "ictcp", 15: "ipt-c2",
}  # fmt: skip
_COLOR_PRIMARIES_NAMES = {
    1: "bt709", 2: "unknown", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
    8: "film", 9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213",
}  # fmt: skip
_COLOR_TRC_NAMES = {
    1: "bt709", 2: "unknown", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m",
    8: "linear", 9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e",
    13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428",
    18: "arib-std-b67",
}  # fmt: skip
_MATRIX_OF_SPACE: dict[str, LumaMatrix] = {
    "bt709": "bt709",
    "smpte240m": "bt709",
    "bt470bg": "bt601",
    "smpte170m": "bt601",
    "fcc": "bt601",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
}
# Rates a measured frame period is snapped to; 16, 18 and 20 are silent-film speeds.
_STANDARD_RATES = tuple(
    Fraction(r)
    for r in (
        "24000/1001", "24", "25", "30000/1001", "30", "48000/1001", "48", "50",
        "60000/1001", "60", "16", "18", "20", "22", "12", "15", "100", "120",
    )
)  # fmt: skip
# Packed RGB formats read directly: the letter order of the samples in a pixel.
_PACKED_RGB = {
    "rgb24": "rgb", "bgr24": "bgr", "rgba": "rgba", "bgra": "bgra", "argb": "argb",
    "abgr": "abgr", "rgb0": "rgbx", "bgr0": "bgrx", "0rgb": "xrgb", "0bgr": "xbgr",
    "rgb48le": "rgb", "rgb48be": "rgb", "bgr48le": "bgr", "bgr48be": "bgr",
    "rgba64le": "rgba", "rgba64be": "rgba", "bgra64le": "bgra", "bgra64be": "bgra",
}  # fmt: skip
# Top-level boxes an MP4 or MOV file starts with.
_MP4_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
# Video "codecs" FFmpeg uses to show text files (ANSI art): not films.
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
# Pixel formats with floating-point samples (EXR-like): no integer code values to read.
_FLOAT_FORMAT = re.compile(r"f(16|32|64)")
# How many earlier keyframes a seek that lands after its target may fall back to.
_MAX_SEEK_RETRIES = 3
# Decoding problems logged as warnings per reader before the rest go to debug.
_MAX_WARNINGS = 10


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
        assumed = "" if _MATRIX_OF_SPACE.get(self.color_space) else " (assumed)"
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


def _matrix_for(color_space: str, height: int) -> LumaMatrix:
    return _MATRIX_OF_SPACE.get(color_space, "bt601" if height <= 576 else "bt709")


def luma_matrix(info: VideoInfo) -> LumaMatrix:
    """The matrix that relates the source's luma to RGB.

    Taken from the file where it says; otherwise BT.601 for standard definition (576
    lines or fewer) and BT.709 above, as FFmpeg and most players assume.
    """
    return _matrix_for(info.color_space, info.height)


# ---------------------------------------------------------------------------------------
# Native luma from a decoded picture


def _plane_samples(
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
        p = _plane_samples(
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
            _plane_samples(
                frame.planes[c.plane], width=w, height=h, itemsize=itemsize, big=fmt.is_big_endian
            )
            for c in comps
        )
        return r, g, b, bits
    # Anything else (palette, float, bit-packed, XYZ): swscale to plain RGB first.
    deep = max(c.bits for c in fmt.components) > 8
    logger.debug("converting %s to %s to compute luma", name, "rgb48le" if deep else "rgb24")
    return _rgb_channels(frame.reformat(format="rgb48le" if deep else "rgb24"))


def _native_luma(frame: av.VideoFrame, matrix: LumaMatrix) -> tuple[np.ndarray, int, ColorRange]:
    """Luma code values of a decoded picture, its bit depth and its range."""
    fmt = frame.format
    rng = _default_range(frame)
    if _is_rgb_like(fmt):
        r, g, b, bits = _rgb_channels(frame)
        kr, kb = LUMA_COEFFICIENTS[matrix]
        y = kr * r.astype(np.float64) + (1.0 - kr - kb) * g + kb * b
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
        luma = _plane_samples(
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
    luma = _plane_samples(
        gray.planes[0],
        width=gray.width,
        height=gray.height,
        itemsize=1 if bits <= 8 else 2,
        big=False,
    )
    return luma, min(bits, 16), rng


def _color_name(table: dict[int, str], *values: int) -> str:
    """The first specified value's FFmpeg name ("unknown" for unspecified or reserved)."""
    for value in values:
        name = table.get(int(value))
        if name and name != "unknown":
            return name
    return "unknown"


def _color_space(frame: av.VideoFrame, *fallbacks: int) -> str:
    """The frame's matrix name; an RGB picture that does not say is "gbr"."""
    name = _color_name(_COLOR_SPACE_NAMES, frame.colorspace, *fallbacks)
    return "gbr" if name == "unknown" and frame.format.is_rgb else name


# ---------------------------------------------------------------------------------------
# Timing


def _snap_rate(
    candidates: list[Fraction], period: Fraction | None, slack: Fraction
) -> Fraction | None:
    """The first candidate whose frame period matches the measured one within ``slack``."""
    for rate in candidates:
        if rate > 0 and (period is None or abs(1 / rate - period) <= slack):
            return rate
    return None


def _timing(
    pts: list[int],
    tb: Fraction,
    stream_rates: list[Fraction],
    last_duration: int,
    name: str,
) -> tuple[Fraction, bool, Fraction]:
    """Frame rate, whether it varies, and duration, from sorted presentation timestamps."""
    count = len(pts)
    if count >= 2:
        steps = np.diff(np.asarray(pts, dtype=np.int64))
        median = float(np.median(steps))
        vfr = bool(np.any(np.abs(steps - median) > max(1.0, 0.01 * median)))
        period = Fraction(pts[-1] - pts[0]) * tb / (count - 1)
        # Timestamps are rounded to ticks: the mean period is good to a tick over the span.
        slack = tb * Fraction(101, 100) / (count - 1) + period / 10000
    else:
        vfr, period, slack = False, None, Fraction(0)
    if vfr:
        assert period is not None
        average = next((r for r in stream_rates if r > 0), None)
        rate = average if average is not None else (1 / period).limit_denominator(100000)
        tail = last_duration if last_duration > 0 else round(median)
        duration = Fraction(pts[-1] - pts[0] + tail) * tb
        return rate, True, duration
    rate = _snap_rate(stream_rates, period, slack) or _snap_rate(
        list(_STANDARD_RATES), period, slack
    )
    if rate is None:
        if period is not None and period > 0:
            rate = (1 / period).limit_denominator(100000)
        else:
            rate = Fraction(25)
            logger.warning("%s: no frame rate in the file; assuming 25 fps", name)
    return rate, False, Fraction(count) / rate


# ---------------------------------------------------------------------------------------
# Sources: a video container or a sequence of image files behind one interface


class _Source(Protocol):
    info: VideoInfo

    def read(self, index: int) -> Frame: ...

    def iterate(self, start: int, stop: int) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def _ffmpeg_reason(err: av.error.FFmpegError) -> str:
    return str(getattr(err, "strerror", None) or err)


def _looks_like_mp4(path: Path) -> bool:
    """Whether the file starts with an ISO media box (MP4, MOV, M4V, 3GP)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8)[4:8] in _MP4_FIRST_BOXES
    except OSError:
        return False


def _open_container(path: Path) -> av.container.InputContainer:
    """av.open with every failure turned into a one-line VideoReadError naming the file."""
    try:
        return av.open(str(path), mode="r")
    except av.error.InvalidDataError as err:
        if _looks_like_mp4(path):
            # The moov atom (the index of every frame) is written last: a copy or a
            # recording cut short has the pictures but nothing that says where they are.
            raise VideoReadError(
                f"{path.name}: an MP4/MOV file whose index (moov atom) is missing or damaged,"
                " as in a file cut short; it cannot be read"
            ) from err
        raise VideoReadError(
            f"{path.name}: not a video FFmpeg can read ({_ffmpeg_reason(err)})"
        ) from err
    except PermissionError as err:
        raise VideoReadError(f"{path.name}: permission denied") from err
    except (av.error.FFmpegError, OSError) as err:
        raise VideoReadError(f"{path.name}: cannot be opened ({_ffmpeg_reason(err)})") from err


def _pick_video_stream(
    container: av.container.InputContainer, name: str
) -> av.video.stream.VideoStream:
    """The film's picture stream: the default one where there are several; cover art is not."""
    pictures = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    if not pictures:
        if container.streams.audio:
            extra = " with cover art" if container.streams.video else ""
            raise VideoReadError(f"{name}: no video stream (audio only{extra})")
        raise VideoReadError(f"{name}: no video stream")
    chosen = next(
        (s for s in pictures if s.disposition & av.stream.Disposition.default), pictures[0]
    )
    if chosen.codec_context is None:
        raise VideoReadError(f"{name}: its video codec is not supported by this FFmpeg build")
    if chosen.codec_context.name in _TEXT_CODECS:
        raise VideoReadError(f"{name}: not a video FFmpeg can read (it looks like text)")
    if len(pictures) > 1:
        logger.info("%s: %d video streams; reading stream #%d", name, len(pictures), chosen.index)
    return chosen


def _metadata_get(metadata: dict[str, str], key: str) -> str | None:
    for k, v in metadata.items():
        if k.lower() == key and v:
            return v
    return None


def _find_timecode(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    frame: av.VideoFrame,
) -> str | None:
    """Start timecode from the stream, the container, a tmcd track or the first frame."""
    sources = [stream.metadata, container.metadata]
    sources += [s.metadata for s in container.streams if s.type == "data"]
    sources.append(dict(frame.metadata))
    for metadata in sources:
        value = _metadata_get(metadata, "timecode")
        if value:
            return value
    return None


def _audio_info(container: av.container.InputContainer) -> tuple[AudioStreamInfo, ...]:
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


def _rotation(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> int:
    """Clockwise display rotation: the display matrix (counter-clockwise) or the rotate tag."""
    ccw = frame.rotation
    if ccw:
        return round(-ccw) % 360
    tag = _metadata_get(stream.metadata, "rotate")
    try:
        return round(float(tag)) % 360 if tag else 0
    except ValueError:
        return 0


_Decoding = Generator[tuple[int, av.VideoFrame], None, None]


class _Damage:
    """A reader's damaged and corrupt frames, and warnings that do not flood the log."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.damaged: list[int] = []
        self.corrupt: list[int] = []
        self._warnings = 0

    def warn(self, message: str, *args: object) -> None:
        """Log a decoding problem; after the first few, only at debug level."""
        self._warnings += 1
        if self._warnings <= _MAX_WARNINGS:
            logger.warning(message, *args)
        else:
            if self._warnings == _MAX_WARNINGS + 1:
                logger.warning("%s: more decoding problems, logged at debug level", self.name)
            logger.debug(message, *args)

    def mark_damaged(self, index: int, detail: str = "") -> None:
        """Frame ``index`` could not be decoded at all."""
        if index not in self.damaged:
            self.warn("%s: frame %d is damaged and cannot be decoded%s", self.name, index, detail)
            bisect.insort(self.damaged, index)

    def mark_corrupt(self, index: int) -> None:
        """Frame ``index`` decoded with errors that the decoder concealed."""
        if index not in self.corrupt:
            self.warn("%s: frame %d decoded with errors (concealed)", self.name, index)
            bisect.insort(self.corrupt, index)


@dataclass(frozen=True)
class _Packet:
    pts: int | None
    dts: int | None
    key: bool
    duration: int


class _ContainerSource:
    """A video file: a packet index built at open, one container kept for random access."""

    def __init__(self, path: Path, damage: _Damage) -> None:
        self.path = path
        self.name = path.name
        self._damage = damage
        started = time.perf_counter()
        with _open_container(path) as scan:
            stream = _pick_video_stream(scan, self.name)
            self._stream_index = stream.index
            packets = self._scan_packets(scan, stream)
        if not packets:
            raise VideoReadError(f"{self.name}: the video stream holds no frames")
        self._build_index(packets)
        self._container = _open_container(path)
        self._cursor: _Decoding | None = None
        self._last = -1
        try:
            self._stream = self._container.streams[self._stream_index]
            self._stream.thread_type = "AUTO"
            first_index, first = self._probe()
            self.info = self._describe(packets, first)
            self._matrix = luma_matrix(self.info)
            self._first = (first_index, first)
        except BaseException:
            self.close()
            raise
        logger.debug(
            "opened %s in %.3f s: %d frames", self.name, time.perf_counter() - started, self._count
        )

    # -- opening -------------------------------------------------------------------------

    def _scan_packets(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> list[_Packet]:
        """Every video packet's timestamps and key flag, demuxed without decoding."""
        packets: list[_Packet] = []
        demux = container.demux(stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except av.error.FFmpegError as err:
                logger.warning(
                    "%s: the file's data ends early after %d video packets (%s)",
                    self.name, len(packets), _ffmpeg_reason(err),
                )  # fmt: skip
                break
            if packet.size == 0 or packet.is_discard:
                continue
            packets.append(
                _Packet(packet.pts, packet.dts, packet.is_keyframe, packet.duration or 0)
            )
        return packets

    def _build_index(self, packets: list[_Packet]) -> None:
        """Presentation-order timestamps and the keyframes to seek to for each frame."""
        self._count = len(packets)
        all_pts = [p.pts for p in packets]
        self._indexed = None not in all_pts and len(set(all_pts)) == len(all_pts)
        self._pts: list[int] = []
        self._index_of: dict[int, int] = {}
        self._keys: list[int] = [0]
        self._seek_ts: dict[int, int] = {}
        if not self._indexed:
            logger.warning(
                "%s: packets lack unique timestamps; frames are counted by decoding in order,"
                " so random access is slow",
                self.name,
            )
            return
        self._pts = sorted(p.pts for p in packets if p.pts is not None)
        self._index_of = {pts: i for i, pts in enumerate(self._pts)}
        stamps = [t for p in packets for t in (p.pts, p.dts) if t is not None]
        self._seek_ts[0] = min(stamps)
        for p in packets:
            if p.key and p.pts is not None:
                index = self._index_of[p.pts]
                # Seek by the keyframe's decode time: mp4 indexes by it, mkv by pts <= it.
                self._seek_ts.setdefault(index, p.dts if p.dts is not None else p.pts)
        self._keys = sorted(self._seek_ts)

    def _probe(self) -> tuple[int, av.VideoFrame]:
        """The first decodable frame; a file with none is refused."""
        self._cursor = self._frames_from(self._container, self._stream, 0)
        for index, frame in self._cursor:
            self._last = index
            return index, frame
        raise VideoReadError(f"{self.name}: no frame of the video stream can be decoded")

    def _describe(self, packets: list[_Packet], first: av.VideoFrame) -> VideoInfo:
        stream, container = self._stream, self._container
        cc = stream.codec_context
        tb = stream.time_base or Fraction(1, 90000)
        stream_rates = [
            r
            for r in (stream.average_rate, stream.guessed_rate, cc.framerate, stream.base_rate)
            if r
        ]
        if self._indexed:
            by_pts = {p.pts: p for p in packets}
            last = by_pts[self._pts[-1]].duration
            rate, vfr, duration = _timing(self._pts, tb, stream_rates, last, self.name)
        else:
            rate, vfr, duration = _timing([], tb, stream_rates, 0, self.name)
            duration = Fraction(self._count) / rate
        width, height = first.width, first.height
        sar = stream.sample_aspect_ratio or cc.sample_aspect_ratio or Fraction(1)
        if sar <= 0:
            sar = Fraction(1)
        color_space = _color_space(first, cc.colorspace)
        _, bits, rng = _native_luma(first, _matrix_for(color_space, height))
        if rate.denominator != 1 or vfr:
            logger.debug("%s: frame rate %s (vfr=%s)", self.name, rate, vfr)
        return VideoInfo(
            path=self.path,
            container_format=container.format.name,
            codec=cc.codec.canonical_name,
            width=width,
            height=height,
            sample_aspect=Fraction(sar),
            display_aspect=Fraction(width, height) * sar,
            frame_rate=rate,
            time_base=Fraction(tb),
            frame_count=self._count,
            duration=duration,
            pix_fmt=first.format.name,
            bit_depth=bits,
            color_range=rng,
            color_space=color_space,
            color_primaries=_color_name(
                _COLOR_PRIMARIES_NAMES, first.color_primaries, cc.color_primaries
            ),
            color_trc=_color_name(_COLOR_TRC_NAMES, first.color_trc, cc.color_trc),
            rotation=_rotation(first, stream),
            variable_frame_rate=vfr,
            start_timecode=_find_timecode(container, stream, first),
            audio=_audio_info(container),
            is_image_sequence=False,
        )

    # -- decoding ------------------------------------------------------------------------

    def _decoded(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Generator[av.VideoFrame, None, None]:
        """Decoded frames from the current position; undecodable packets are logged and skipped."""
        demux = container.demux(stream)
        drained = False
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except av.error.FFmpegError as err:
                logger.warning(
                    "%s: the file's data ends early (%s)", self.name, _ffmpeg_reason(err)
                )
                break
            drained = packet.size == 0
            try:
                frames = packet.decode()
            except av.error.FFmpegError as err:
                self._damage.warn(
                    "%s: a packet (pts %s) cannot be decoded: %s",
                    self.name,
                    packet.pts,
                    _ffmpeg_reason(err),
                )
                continue
            yield from frames
        if not drained:
            try:
                yield from stream.codec_context.decode(None)
            except (av.error.FFmpegError, EOFError) as err:
                logger.debug("%s: draining the decoder: %s", self.name, err)

    def _frames_from(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        target: int,
    ) -> _Decoding:
        """(index, frame) in presentation order from a keyframe at or before ``target``.

        Without usable timestamps frames are numbered as they come from a freshly opened
        container, which the caller provides.
        """
        if not self._indexed:
            yield from enumerate(self._decoded(container, stream))
            return
        k = bisect.bisect_right(self._keys, target) - 1
        for attempt in range(_MAX_SEEK_RETRIES + 1):
            key = self._keys[k]
            try:
                container.seek(self._seek_ts[key], stream=stream, backward=True, any_frame=False)
            except av.error.FFmpegError as err:
                raise VideoReadError(
                    f"{self.name}: cannot seek to frame {target} ({_ffmpeg_reason(err)})"
                ) from err
            frames = self._decoded(container, stream)
            overshoot = False
            first = True
            try:
                for frame in frames:
                    index = self._index_of.get(frame.pts) if frame.pts is not None else None
                    if index is None:
                        logger.debug(
                            "%s: decoded a frame with unknown pts %s", self.name, frame.pts
                        )
                        continue
                    if first:
                        first = False
                        if index > target and k > 0 and attempt < _MAX_SEEK_RETRIES:
                            overshoot = True
                            break
                    yield index, frame
            finally:
                frames.close()
            if not overshoot:
                return
            logger.debug(
                "%s: seek for frame %d landed after it; one keyframe earlier", self.name, target
            )
            k -= 1

    def _to_frame(self, index: int, frame: av.VideoFrame) -> Frame:
        luma, bits, rng = _native_luma(frame, self._matrix)
        if frame.is_corrupt:
            self._damage.mark_corrupt(index)
        if self._indexed:
            pts = frame.pts
            seconds = Fraction(pts - self._pts[0]) * self.info.time_base
        else:
            pts = None
            seconds = Fraction(index) / self.info.frame_rate
        return Frame(index=index, pts=pts, time=seconds, luma=luma, bit_depth=bits, color_range=rng)

    def _key_of(self, index: int) -> int:
        if not self._indexed:
            return 0
        return self._keys[bisect.bisect_right(self._keys, index) - 1]

    def read(self, index: int) -> Frame:
        """Frame ``index``: decode on from where the last read stopped, or seek."""
        if self._first is not None and self._first[0] == index:
            first = self._first[1]
            return self._to_frame(index, first)
        if self._cursor is None or not (self._key_of(index) <= self._last < index):
            if self._cursor is not None:
                self._cursor.close()
            if not self._indexed:  # no timestamps to seek by: start again from the top
                self._container.close()
                self._container = _open_container(self.path)
                self._stream = self._container.streams[self._stream_index]
                self._stream.thread_type = "AUTO"
            self._cursor = self._frames_from(self._container, self._stream, index)
            self._last = -1
        for found, frame in self._cursor:
            self._last = found
            if found == index:
                return self._to_frame(index, frame)
            if found > index:
                break
        self._cursor = None
        self._damage.mark_damaged(index)
        raise VideoReadError(f"{self.name}: frame {index} is damaged and cannot be decoded")

    def iterate(self, start: int, stop: int) -> Iterator[Frame]:
        """Frames start..stop-1 from a container of their own, decoder threads on."""
        expected = start
        produced = 0
        with _open_container(self.path) as container:
            stream = container.streams[self._stream_index]
            stream.thread_type = "AUTO"
            frames = self._frames_from(container, stream, start)
            try:
                for index, frame in frames:
                    if index < expected:
                        continue
                    for missing in range(expected, min(index, stop)):
                        self._damage.mark_damaged(missing)
                    if index >= stop:
                        expected = stop
                        break
                    yield self._to_frame(index, frame)
                    produced += 1
                    expected = index + 1
                    if expected >= stop:
                        break
            finally:
                frames.close()
        for missing in range(expected, stop):
            self._damage.mark_damaged(missing)
        if produced == 0 and stop > start:
            raise VideoReadError(
                f"{self.name}: none of frames {start} to {stop - 1} can be decoded"
            )

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
        self._first = None
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()


# ---------------------------------------------------------------------------------------
# Image sequences


class _Undecodable(Exception):  # noqa: N818 - internal signal, turned into damaged_frames
    """One image file cannot be decoded."""


def _natural_key(path: Path) -> tuple[object, ...]:
    """Sort key that orders frame_2 before frame_10."""
    parts = re.split(r"(\d+)", path.name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)


def _is_pattern(path: Path) -> bool:
    return re.search(r"%0?\d*d", path.name) is not None


def _pattern_files(path: Path) -> list[Path]:
    """The existing files of a printf pattern such as ``scan_%06d.dpx``, by number."""
    folder = path.parent
    if not folder.is_dir():
        raise VideoReadError(f"{path}: folder {folder} not found")
    spec = re.search(r"%0?\d*d", path.name)
    assert spec is not None
    before, after = path.name[: spec.start()], path.name[spec.end() :]
    regex = re.compile(
        re.escape(before.replace("%%", "%"))
        + r"(\d+)"
        + re.escape(after.replace("%%", "%"))
        + r"\Z"
    )
    numbered = []
    for entry in os.scandir(folder):
        match = regex.match(entry.name)
        # the number must print back the same way (%06d: zero-padded to six digits)
        if match and entry.is_file() and spec.group() % int(match.group(1)) == match.group(1):
            numbered.append((int(match.group(1)), Path(entry.path)))
    if not numbered:
        raise VideoReadError(f"{path.name}: no files match this pattern in {folder}")
    numbered.sort()
    _warn_gaps([n for n, _ in numbered], path.name)
    return [p for _, p in numbered]


def _folder_files(folder: Path) -> list[Path]:
    """The image files of a folder, naturally sorted; other extensions are left out."""
    by_ext: dict[str, list[Path]] = {}
    for entry in os.scandir(folder):
        suffix = Path(entry.name).suffix.lower()
        if suffix in IMAGE_EXTENSIONS and not entry.name.startswith(".") and entry.is_file():
            key = ".jpg" if suffix == ".jpeg" else ".tif" if suffix == ".tiff" else suffix
            by_ext.setdefault(key, []).append(Path(entry.path))
    if not by_ext:
        raise VideoReadError(
            f"{folder.name}: folder holds no images ({', '.join(IMAGE_EXTENSIONS)})"
        )
    ext, files = max(by_ext.items(), key=lambda item: len(item[1]))
    if len(by_ext) > 1:
        others = sum(len(v) for k, v in by_ext.items() if k != ext)
        logger.warning(
            "%s: reading the %d %s files; %d other images left out",
            folder.name,
            len(files),
            ext,
            others,
        )
    files.sort(key=_natural_key)
    numbers = []
    for f in files:
        digits = re.findall(r"\d+", f.stem)
        if not digits:
            break
        numbers.append(int(digits[-1]))
    else:
        _warn_gaps(numbers, folder.name)
    return files


def _warn_gaps(numbers: list[int], label: str) -> None:
    """A missing number in a scan is worth telling the restorer about."""
    gaps = [(a, b) for a, b in itertools.pairwise(numbers) if b != a + 1]
    if gaps:
        a, b = gaps[0]
        logger.warning("%s: numbering jumps from %d to %d (%d gaps in all)", label, a, b, len(gaps))


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG, DPX, TIFF or JPEG header, or None if it can't be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                return w, h
            if head[:4] in (b"SDPX", b"XPDS"):
                order = ">" if head[:4] == b"SDPX" else "<"
                w, h = struct.unpack(order + "II", head[772:780])
                return w, h
            if head[:4] in (b"II*\x00", b"MM\x00*"):
                order = "<" if head[:2] == b"II" else ">"
                (ifd,) = struct.unpack(order + "I", head[4:8])
                fh.seek(ifd)  # the first directory may follow the image data
                return _tiff_size(fh.read(2 + 12 * 64), order)
            if head[:2] == b"\xff\xd8":
                return _jpeg_size(head)
    except (OSError, struct.error):
        return None
    return None


def _tiff_size(ifd: bytes, order: str) -> tuple[int, int] | None:
    """ImageWidth and ImageLength from the bytes of a TIFF's first directory."""
    (count,) = struct.unpack(order + "H", ifd[:2])
    found: dict[int, int] = {}
    for i in range(min(count, 64)):
        entry = ifd[2 + 12 * i : 14 + 12 * i]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            fmt = "H" if kind == 3 else "I"
            (found[tag],) = struct.unpack(order + fmt, entry[8 : 8 + struct.calcsize(fmt)])
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's start-of-frame marker, if it is in ``head``."""
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", head[pos + 2 : pos + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return w, h
        pos += 2 + length
    return None


def _decode_image(path: Path) -> tuple[av.VideoFrame, str]:
    """Decode one image file with FFmpeg; the codec follows the extension."""
    try:
        with av.open(str(path), format="image2", options={"pattern_type": "none"}) as container:
            if not container.streams.video:
                raise _Undecodable(f"{path.name}: no image in the file")
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                return frame, stream.codec_context.codec.canonical_name
    except av.error.FFmpegError as err:
        raise _Undecodable(f"{path.name}: cannot be decoded ({_ffmpeg_reason(err)})") from err
    raise _Undecodable(f"{path.name}: no image could be decoded")


class _SequenceSource:
    """Numbered image files read as a film at a given rate."""

    def __init__(self, path: Path, files: list[Path], rate: Fraction, damage: _Damage) -> None:
        self.path = path
        self.name = path.name
        self._files = files
        self._rate = rate
        self._damage = damage
        for index, file in enumerate(files):
            try:
                first, codec = _decode_image(file)
                break
            except _Undecodable as err:
                self._damage.mark_damaged(index, f" ({err})")
        else:
            raise VideoReadError(f"{self.name}: none of its {len(files)} images can be decoded")
        self._size = (first.width, first.height)
        self._reference = files[index]
        self._check_headers()
        color_space = _color_space(first)
        self._matrix = _matrix_for(color_space, first.height)
        _, bits, rng = _native_luma(first, self._matrix)
        self.info = VideoInfo(
            path=path,
            container_format="image2",
            codec=codec,
            width=first.width,
            height=first.height,
            sample_aspect=Fraction(1),
            display_aspect=Fraction(first.width, first.height),
            frame_rate=rate,
            time_base=1 / rate,
            frame_count=len(files),
            duration=len(files) / rate,
            pix_fmt=first.format.name,
            bit_depth=bits,
            color_range=rng,
            color_space=color_space,
            color_primaries=_color_name(_COLOR_PRIMARIES_NAMES, first.color_primaries),
            color_trc=_color_name(_COLOR_TRC_NAMES, first.color_trc),
            rotation=0,
            variable_frame_rate=False,
            start_timecode=_metadata_get(dict(first.metadata), "timecode"),
            audio=(),
            is_image_sequence=True,
        )

    def _check_headers(self) -> None:
        """Refuse a sequence whose files differ in size, reading only their headers."""
        for file in self._files:
            size = _header_size(file)
            if size is not None and size != self._size:
                raise VideoReadError(self._size_message(file, size))

    def _size_message(self, file: Path, size: tuple[int, int]) -> str:
        w, h = self._size
        size_text = f"{size[0]}x{size[1]}"
        return f"{file.name}: {size_text}, but the sequence is {w}x{h} (as {self._reference.name})"

    def _load(self, index: int) -> Frame:
        file = self._files[index]
        frame, _ = _decode_image(file)
        if (frame.width, frame.height) != self._size:
            raise VideoReadError(self._size_message(file, (frame.width, frame.height)))
        luma, bits, rng = _native_luma(frame, self._matrix)
        return Frame(
            index=index,
            pts=index,
            time=index / self._rate,
            luma=luma,
            bit_depth=bits,
            color_range=rng,
        )

    def read(self, index: int) -> Frame:
        try:
            return self._load(index)
        except _Undecodable as err:
            self._damage.mark_damaged(index, f" ({err})")
            raise VideoReadError(f"{err}; frame {index} is damaged") from err

    def iterate(self, start: int, stop: int) -> Iterator[Frame]:
        """Frames start..stop-1, decoded a few files ahead on worker threads."""
        workers = max(1, min(8, os.cpu_count() or 1))
        window: deque[tuple[int, Future[Frame]]] = deque()
        produced = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flowchroma-seq") as pool:
            try:
                upcoming = start
                while window or upcoming < stop:
                    while upcoming < stop and len(window) < 2 * workers:
                        window.append((upcoming, pool.submit(self._load, upcoming)))
                        upcoming += 1
                    index, future = window.popleft()
                    try:
                        frame = future.result()
                    except _Undecodable as err:
                        self._damage.mark_damaged(index, f" ({err})")
                        continue
                    yield frame
                    produced += 1
            finally:
                for _, future in window:
                    future.cancel()
        if produced == 0 and stop > start:
            raise VideoReadError(
                f"{self.name}: none of frames {start} to {stop - 1} can be decoded"
            )

    def close(self) -> None:
        """Nothing stays open between files."""


# ---------------------------------------------------------------------------------------
# Public reader


class VideoReader:
    """Frame-accurate access to a film or a scan's native luma.

    ``reader[n]`` returns frame ``n`` (negative indexes count from the end) by seeking to
    the keyframe before it and decoding forward; reading frames in increasing order
    decodes on without seeking again. ``frames(start, stop)`` streams a range with
    decoder threads on. A frame that cannot be decoded is logged and its index added to
    ``damaged_frames``: ``frames()`` skips it, ``reader[n]`` raises ``VideoReadError``.
    A frame the decoder flags as corrupt (damage it concealed) is still returned, and its
    index is added to ``corrupt_frames`` so that it can be checked by eye.

    The display rotation in ``info.rotation`` is reported, not applied: frames come out
    as coded. A reader is not thread-safe; give each thread its own.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, frame_rate: Fraction | int | None = None
    ) -> None:
        path = Path(path)
        damage = _Damage(path.name)
        # Both lists grow as frames are decoded; they are sorted.
        self.damaged_frames: list[int] = damage.damaged
        self.corrupt_frames: list[int] = damage.corrupt
        self._closed = False
        rate = None if frame_rate is None else Fraction(frame_rate)
        if rate is not None and rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {frame_rate}")
        files: list[Path] | None = None
        if _is_pattern(path):
            files = _pattern_files(path)
        elif path.is_dir():
            files = _folder_files(path)
        elif not path.exists():
            raise VideoReadError(f"{path}: file not found")
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            files = [path]
        self._source: _Source
        if files is not None:
            self._source = _SequenceSource(path, files, rate or DEFAULT_SEQUENCE_RATE, damage)
        else:
            if rate is not None:
                raise VideoReadError(
                    f"{path.name}: a frame rate can be given for image sequences only;"
                    " a video file has its own timing"
                )
            self._source = _ContainerSource(path, damage)

    @property
    def info(self) -> VideoInfo:
        return self._source.info

    def __len__(self) -> int:
        return self._source.info.frame_count

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"reader of {self.info.path.name} is closed")

    def __getitem__(self, index: int) -> Frame:
        self._check_open()
        n = operator.index(index)
        count = len(self)
        if n < 0:
            n += count
        if not 0 <= n < count:
            raise IndexError(f"frame {index} is out of range for {count} frames")
        return self._source.read(n)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Frames ``start`` to ``stop - 1`` in order (Python slice bounds), damaged ones skipped."""
        self._check_open()
        first, last, _ = slice(start, stop).indices(len(self))
        if first >= last:
            return iter(())
        return self._source.iterate(first, last)

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def close(self) -> None:
        """Release the file; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._source.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoReader({str(self.info.path)!r}, frames={len(self)})"


def open_video(
    path: str | os.PathLike[str], *, frame_rate: Fraction | int | None = None
) -> VideoReader:
    """Open a video file, an image folder or a printf pattern of images for reading.

    ``frame_rate`` is the rate of an image sequence (24 when not given); a video file has
    its own timing, and giving one for it raises ``VideoReadError``.
    """
    return VideoReader(path, frame_rate=frame_rate)


def read_rgb(path: str | os.PathLike[str], *, max_frames: int = 0) -> Iterator[np.ndarray]:
    """Decoded frames as 8-bit RGB (H, W, 3) in presentation order, for training and
    evaluation against colour originals; ``max_frames`` 0 reads all. Undecodable
    packets are skipped, as in ``VideoReader.frames``.
    """
    path = Path(path)
    count = 0
    if path.is_dir() or _is_pattern(path):
        files = _pattern_files(path) if _is_pattern(path) else _folder_files(path)
        for file in files:
            frame, _ = _decode_image(file)
            yield frame.to_ndarray(format="rgb24")
            count += 1
            if count == max_frames:
                return
        return
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
                count += 1
                if count == max_frames:
                    return
    except av.error.FFmpegError as err:
        if count == 0:
            raise VideoReadError(f"{path}: {_ffmpeg_reason(err)}") from err
        logger.warning("%s: decoding stopped after %d frames: %s", path, count, err)
