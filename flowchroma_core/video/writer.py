"""Writing colorized video: the only place that touches PyAV for output.

The colorizer keeps the source's own luma and only invents chroma, so :class:`VideoWriter`
takes, per frame, the source's native luma code values plus full-resolution Cb/Cr and
builds the output planes itself: luma is moved to the output's bit depth exactly (8 -> 10
bits is ``<< 2``), chroma is area-averaged for 4:2:0 / 4:2:2 and rounded to codes. For RGB
image sequences (PNG, TIFF, DPX) the colour is first limited to the RGB gamut by giving up
saturation, never luma. No swscale conversion touches the pixels.

Decisions worth knowing:

* Odd frame sizes: 4:2:0 needs an even width and height, 4:2:2 an even width. For such
  sizes a preset's 4:4:4 variant is used (H.264 High 4:4:4, H.265 RExt, ProRes 4444,
  DNxHR 444) and a note says so; a preset without one raises :class:`VideoWriteError`.
* Range: the output keeps the source's range (so luma can stay bit-exact), except where a
  codec only carries video range (ProRes, DNxHR): full-range luma is rescaled with rounding
  there, within half a code value. RGB outputs are full range by nature.
* Image sequences: ``destination`` names the sequence *folder*. A destination ending in
  the format's extension (``reel1.dpx``) means the folder ``reel1``. Frames inside are
  ``<folder>_000000.<ext>``, ``<folder>_000001.<ext>``, ...; audio goes beside them in the
  same folder as ``<folder>.wav`` (24- or 16-bit PCM; further tracks ``<folder>_2.wav``).
  The folder is built under a temporary name beside it and renamed at the end. An existing
  folder is replaced only when it holds nothing but such files.
* Audio is copied packet for packet when the container can hold the codec and re-encoded
  losslessly otherwise (PCM in .mov and .mxf, ALAC in .mp4, FLAC in .mkv; AAC 320 kb/s
  only when no lossless encoder is available). Every such decision lands in
  :attr:`VideoWriter.notes`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, cast

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from flowchroma_core.colour.ycbcr import (
    COLOR_RANGES,
    MATRICES,
    ColorRange,
    Matrix,
    chroma_to_codes,
    limit_to_gamut,
    luma_to_float,
    rescale_luma_codes,
    ycbcr_to_rgb,
)
from flowchroma_core.errors import Cancelled, VideoReadError, VideoWriteError
from flowchroma_core.fileio import atomic_path

logger = logging.getLogger(__name__)

ChromaLayout = Literal["420", "422", "444", "rgb"]


class SourceInfo(Protocol):
    """What the writer needs to know about the source (``video_reader.VideoInfo`` fits)."""

    @property
    def path(self) -> Path | str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def sample_aspect(self) -> Fraction: ...
    @property
    def frame_rate(self) -> Fraction: ...
    @property
    def time_base(self) -> Fraction: ...
    @property
    def bit_depth(self) -> int: ...
    @property
    def color_range(self) -> str: ...
    @property
    def color_space(self) -> str: ...
    @property
    def color_primaries(self) -> str: ...
    @property
    def color_trc(self) -> str: ...
    @property
    def rotation(self) -> float:
        """Clockwise turn, in degrees, a player applies for display (the frames are not turned)."""
        ...

    @property
    def variable_frame_rate(self) -> bool: ...


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

_DEFAULT_CODEC_BY_EXTENSION: dict[str, str] = {
    ".mp4": "h264",
    ".mov": "prores",
    ".mkv": "ffv1",
    ".mxf": "dnxhr",
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".dpx": "dpx",
}

# ffmpeg's names (av_color_*_name) -> AVColor* enum values, plus a few common aliases.
_COLORSPACES: dict[str, int] = {
    "gbr": 0, "rgb": 0, "bt709": 1, "unknown": 2, "unspecified": 2, "fcc": 4, "bt470bg": 5,
    "smpte170m": 6, "bt601": 6, "smpte240m": 7, "ycgco": 8, "bt2020nc": 9, "bt2020": 9,
    "bt2020c": 10, "smpte2085": 11, "chroma-derived-nc": 12, "chroma-derived-c": 13,
    "ictcp": 14,
}  # fmt: skip
_PRIMARIES: dict[str, int] = {
    "bt709": 1, "unknown": 2, "unspecified": 2, "bt470m": 4, "bt470bg": 5, "smpte170m": 6,
    "smpte240m": 7, "film": 8, "bt2020": 9, "smpte428": 10, "smpte431": 11, "smpte432": 12,
    "ebu3213": 22, "jedec-p22": 22,
}  # fmt: skip
_TRANSFERS: dict[str, int] = {
    "bt709": 1, "unknown": 2, "unspecified": 2, "bt470m": 4, "gamma22": 4, "bt470bg": 5,
    "gamma28": 5, "smpte170m": 6, "smpte240m": 7, "linear": 8, "log100": 9, "log316": 10,
    "iec61966-2-4": 11, "bt1361e": 12, "iec61966-2-1": 13, "srgb": 13, "bt2020-10": 14,
    "bt2020-12": 15, "smpte2084": 16, "smpte428": 17, "arib-std-b67": 18,
}  # fmt: skip
_UNSPECIFIED = 2
_RANGE_TAG = {"tv": 1, "pc": 2}  # AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG
_MATRIX_COLORSPACE = {"bt709": 1, "bt601": 6, "bt2020": 9}
_BT601_COLORSPACES = {5, 6}

_TIMECODE_RE = re.compile(r"^(\d{2}):([0-5]\d):([0-5]\d)([:;.])(\d{2,3})$")

# Audio codecs each container takes as they are (the muxers accept more, players do not).
_MOV_PCM = {
    "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be",
    "pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_f64be", "pcm_s8", "pcm_u8",
}  # fmt: skip
_COPYABLE_AUDIO: dict[str, set[str] | None] = {
    "mov": {"aac", "alac", "mp3", "ac3", "eac3", *_MOV_PCM},
    "mp4": {"aac", "alac", "mp3", "ac3", "eac3", "opus", "flac"},
    "matroska": None,  # whatever the muxer knows
    "mxf": {"pcm_s16le", "pcm_s24le"},
}
# Where the pixel aspect ratio is lost: PyAV cannot set the track-level aspect that the
# Matroska and MXF muxers write, and FFV1 / DNxHR carry none in their own bitstreams.
_LOSES_SAMPLE_ASPECT = {("ffv1", "matroska"), ("dnxhd", "mxf")}
_SIXTEEN_BIT_SAMPLE_FORMATS = {"u8", "u8p", "s16", "s16p"}
# Demux this far past the end so decoders can flush; audio also trails the video by this
# much while frames are written, so no audio frame is cut before its end is known.
_AUDIO_LOOKAHEAD = Fraction(1)


def codec_for_path(path: Path | str) -> str:
    """The default codec for a destination's extension (.mp4 -> h264, .mov -> prores, ...)."""
    suffix = Path(path).suffix.lower()
    try:
        return _DEFAULT_CODEC_BY_EXTENSION[suffix]
    except KeyError:
        allowed = ", ".join(_DEFAULT_CODEC_BY_EXTENSION)
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


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _floor_half(x: Fraction) -> int:
    """Round half up (Python's round() on a Fraction rounds half to even)."""
    return math.floor(x + Fraction(1, 2))


@dataclass
class _AudioTrack:
    """One source audio stream and where it goes."""

    number: int
    source: AudioStream
    container: OutputContainer
    stream: AudioStream
    copy: bool
    sidecar: bool
    resampler: av.AudioResampler | None = None
    next_pts: int | None = None


class _AudioRelay:
    """Moves the audio of one file into the output(s) in step with the video.

    ``start`` and ``end`` are times on the audio file's own clock; output time 0 is
    ``start``. Copied tracks take the packets whose time lies in [start, end), shifted by
    ``start``; re-encoded tracks are trimmed to the sample.
    """

    def __init__(self, source: InputContainer, tracks: list[_AudioTrack], *, start: Fraction):
        self._source = source
        self._tracks = {t.source.index: t for t in tracks}
        self._start = start
        if start > _AUDIO_LOOKAHEAD:
            # Skip the film before the range instead of reading through it; a little early,
            # since the packets are filtered by time anyway.
            try:
                source.seek(math.floor((start - _AUDIO_LOOKAHEAD) * av.time_base), backward=True)
            except av.FFmpegError as error:
                logger.debug("cannot seek %s (%s); reading from the start", source.name, error)
        self._packets: Iterator[Packet] = source.demux(*[t.source for t in tracks])
        self._pending: Packet | None = None
        self._exhausted = False

    def pump(self, *, until: Fraction, end: Fraction | None) -> None:
        """Handle every packet before output time ``until`` (the audio file's ``start + until``)."""
        limit = self._start + until
        while not self._exhausted:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            self._pending = None
            if packet is None:
                self._exhausted = True
                break
            if packet.pts is None or packet.size == 0 or packet.time_base is None:
                continue
            t = packet.pts * packet.time_base
            if t >= limit:
                self._pending = packet
                break
            if end is not None and t >= end + _AUDIO_LOOKAHEAD:
                self._exhausted = True
                break
            track = self._tracks[packet.stream.index]
            if track.copy:
                self._copy(track, packet, t, end)
            else:
                for frame in track.source.codec_context.decode(packet):
                    self._encode(track, frame, end)

    def finish(self, *, end: Fraction) -> None:
        """Handle the rest up to ``end`` (audio clock), then flush decoders and encoders."""
        self.pump(until=end - self._start + _AUDIO_LOOKAHEAD, end=end)
        for track in self._tracks.values():
            if track.copy:
                continue
            for frame in track.source.codec_context.decode(None):
                self._encode(track, frame, end)
            self._push(track, None)
            track.container.mux(track.stream.encode(None))

    def _copy(self, track: _AudioTrack, packet: Packet, t: Fraction, end: Fraction | None) -> None:
        if t < self._start or (end is not None and t >= end):
            return
        assert packet.time_base is not None and packet.pts is not None
        offset = _floor_half(self._start / packet.time_base)
        packet.pts -= offset
        if packet.dts is not None:
            packet.dts -= offset
        packet.stream = track.stream
        track.container.mux(packet)

    def _encode(self, track: _AudioTrack, frame: av.AudioFrame, end: Fraction | None) -> None:
        rate = frame.sample_rate
        if frame.pts is None or frame.time_base is None or frame.samples == 0:
            return
        t0 = frame.pts * frame.time_base
        lo = max(0, math.ceil((self._start - t0) * rate))
        hi = frame.samples
        if end is not None:
            hi = min(hi, math.ceil((end - t0) * rate))
        if lo >= hi:
            return
        if track.next_pts is None:
            # The audio may begin after the first frame: delay it, or in a WAV (which has no
            # timestamps) pad the gap with silence.
            first = t0 + Fraction(lo, rate) - self._start
            track.next_pts = 0
            if track.sidecar:
                if _floor_half(first * rate) > 0:
                    self._push(track, _silence(frame, _floor_half(first * rate)))
            else:
                track.next_pts = max(0, _floor_half(first * track.stream.rate))
        if lo > 0 or hi < frame.samples:
            frame = _slice_audio(frame, lo, hi)
        self._push(track, frame)

    def _push(self, track: _AudioTrack, frame: av.AudioFrame | None) -> None:
        assert track.resampler is not None
        if frame is not None:
            frame.pts = None
        for out in track.resampler.resample(frame):
            out.pts = track.next_pts or 0
            out.time_base = Fraction(1, track.stream.rate)
            track.next_pts = (track.next_pts or 0) + out.samples
            track.container.mux(track.stream.encode(out))


def _slice_audio(frame: av.AudioFrame, lo: int, hi: int) -> av.AudioFrame:
    """Samples lo..hi of an audio frame as a new frame (planar or packed)."""
    array = frame.to_ndarray()
    if frame.format.is_planar:
        part = array[:, lo:hi]
    else:
        channels = len(frame.layout.channels)
        part = array[:, lo * channels : hi * channels]
    out = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(part), format=frame.format.name, layout=frame.layout
    )
    out.sample_rate = frame.sample_rate
    return out


def _silence(like: av.AudioFrame, samples: int) -> av.AudioFrame:
    out = av.AudioFrame(format=like.format.name, layout=like.layout, samples=max(1, samples))
    out.sample_rate = like.sample_rate
    for plane in out.planes:
        plane.update(bytes(plane.buffer_size))
    return out


class VideoWriter:
    """Writes colorized frames to a video file or image sequence, atomically.

    Use as a context manager: on leaving the block normally the file (or folder) appears at
    its destination; on an exception, or after :meth:`abort`, nothing appears there and the
    temporary output is removed.

    ``audio_start`` / ``audio_end`` are seconds from the first video frame of ``audio_from``
    (the clock of ``video_reader.Frame.time``; from the file's time 0 where it has no
    video): the audio at ``audio_start`` plays with the first written frame, and
    ``audio_end=None`` ends the audio with the last written frame. ``timecode``
    (``HH:MM:SS:FF``, ``;`` before FF for drop frame) is the timecode of the first frame.
    """

    def __init__(
        self,
        destination: Path | str,
        *,
        codec: str | None = None,
        source: SourceInfo,
        matrix: Matrix,
        audio_from: Path | str | None = None,
        audio_start: Fraction = Fraction(0),
        audio_end: Fraction | None = None,
        timecode: str | None = None,
    ) -> None:
        if matrix not in MATRICES:
            raise ValueError(f"unknown matrix {matrix!r}; allowed: {', '.join(MATRICES)}")
        self._plan(destination, codec=codec, source=source, audio_from=audio_from)
        if timecode is not None:
            self._check_timecode(timecode, Fraction(source.frame_rate))
        self.matrix: Matrix = matrix
        self.frames_written = 0
        self._closed = False
        self._stack = contextlib.ExitStack()
        self._container: OutputContainer | None = None
        self._sidecars: list[OutputContainer] = []
        self._audio_input: InputContainer | None = None
        self._audio: _AudioRelay | None = None
        self._tmp_dir: Path | None = None
        self._audio_tracks: list[_AudioTrack] = []
        self._last_pts: int | None = None
        self._last_dts: int | None = None
        self._end_time = Fraction(0)
        self._audio_start = Fraction(audio_start)
        self._audio_end = None if audio_end is None else Fraction(audio_end)
        self._audio_zero = Fraction(0)
        try:
            self._open(source, audio_from, timecode)
        except BaseException as error:
            self._discard(error)
            if isinstance(error, av.FFmpegError | OSError):
                raise VideoWriteError(
                    f"Cannot write {self.destination}: {_one_line(error)}"
                ) from error
            raise
        for note in self.notes:
            logger.info("%s: %s", self.destination.name, note)

    # -- set-up ---------------------------------------------------------------------------

    def _plan(
        self,
        destination: Path | str,
        *,
        codec: str | None,
        source: SourceInfo,
        audio_from: Path | str | None,
    ) -> None:
        """Choose the preset, path and pixel format, refusing what cannot work; opens nothing."""
        requested = Path(destination)
        self.preset = get_preset(codec if codec is not None else codec_for_path(requested))
        self.notes: list[str] = []
        self._source = source
        self.destination = self._final_path(requested)
        self._check_source(source)
        self._check_destination(source, audio_from)
        self._choose_format(source)
        self._frame_step = 1 / Fraction(source.frame_rate)
        if self.preset.codec not in av.codecs_available:
            raise VideoWriteError(
                f"Cannot write {self.destination}: this build of PyAV has no "
                f"{self.preset.codec} encoder for {self.preset.name}"
            )

    def _final_path(self, requested: Path) -> Path:
        """The file, or for sequences the folder, that appears at the end."""
        path = Path(os.path.abspath(requested))
        suffix = path.suffix.lower()
        if self.preset.is_image_sequence:
            if suffix in _DEFAULT_CODEC_BY_EXTENSION and suffix not in self.preset.extensions:
                raise VideoWriteError(
                    f"Cannot write {path}: {self.preset.name} frames are "
                    f"{self.preset.extensions[0]} files, not {suffix}"
                )
            if suffix in self.preset.extensions:
                path = path.with_suffix("")
            self._frame_ext = self.preset.extensions[0]
            return path
        if suffix not in self.preset.extensions:
            raise VideoWriteError(
                f"Cannot write {path}: {self.preset.name} goes into "
                f"{' / '.join(self.preset.extensions)} files, not {path.suffix or 'no extension'}"
            )
        return path

    def _check_source(self, source: SourceInfo) -> None:
        if source.color_range not in COLOR_RANGES:
            raise ValueError(
                f"source color_range must be one of {', '.join(COLOR_RANGES)}, "
                f"got {source.color_range!r}"
            )
        self._source_range = cast(ColorRange, source.color_range)
        if not 8 <= int(source.bit_depth) <= 16:
            raise ValueError(f"source bit_depth must be 8..16, got {source.bit_depth}")
        if not source.frame_rate or Fraction(source.frame_rate) <= 0:
            raise ValueError(f"source frame_rate must be positive, got {source.frame_rate}")

    def _check_destination(self, source: SourceInfo, audio_from: Path | str | None) -> None:
        final = self.destination
        parent = final.parent
        if not parent.is_dir():
            problem = "is a file, not a folder" if parent.exists() else "does not exist"
            raise VideoWriteError(f"Cannot write {final}: the folder {parent} {problem}")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise VideoWriteError(f"Cannot write {final}: the folder {parent} is not writable")
        resolved = final.resolve()
        for name, other in (("source", source.path), ("audio source", audio_from)):
            if other is None:
                continue
            other_path = Path(other).resolve()
            if other_path == resolved or (
                self.preset.is_image_sequence and resolved in other_path.parents
            ):
                raise VideoWriteError(
                    f"Cannot write {final}: it is the {name} itself; choose another name"
                )
        if self.preset.is_image_sequence:
            if final.exists() and not final.is_dir():
                raise VideoWriteError(f"Cannot write {final}: a file of that name is in the way")
            if final.is_dir():
                strangers = [p.name for p in final.iterdir() if not self._is_ours(p.name)]
                if strangers:
                    raise VideoWriteError(
                        f"Cannot write {final}: the folder exists and holds other files "
                        f"({strangers[0]}, ...); choose a new or empty folder"
                    )
        elif final.is_dir():
            raise VideoWriteError(f"Cannot write {final}: a folder of that name is in the way")

    def _is_ours(self, name: str) -> bool:
        """Whether ``name`` is a file this writer would put in its sequence folder."""
        stem = re.escape(self.destination.name)
        ext = re.escape(self._frame_ext)
        return re.fullmatch(rf"{stem}_\d{{6,}}{ext}|{stem}(_\d+)?\.wav", name) is not None

    def _choose_format(self, source: SourceInfo) -> None:
        preset = self.preset
        width, height = int(source.width), int(source.height)
        min_w, min_h = preset.min_size
        if width < min_w or height < min_h:
            raise VideoWriteError(
                f"Cannot write {self.destination}: {preset.name} needs frames of at least "
                f"{min_w}x{min_h}, the source is {width}x{height}"
            )
        fmt = preset.pixel_format(bit_depth=int(source.bit_depth), width=width, height=height)
        if fmt is None:
            raise VideoWriteError(
                f"Cannot write {self.destination}: {preset.name} needs an even frame size, "
                f"the source is {width}x{height}"
            )
        if fmt.chroma != preset.chroma:
            self.notes.append(
                f"The frame size {width}x{height} is odd, which {preset.chroma} chroma cannot "
                f"hold; written as {fmt.pix_fmt} ({preset.name} 4:4:4) instead."
            )
        if preset.name == "h264" and fmt.bit_depth > 8:
            self.notes.append(
                "10-bit H.264 (High 10) keeps the source's luma but does not play in web "
                "browsers or QuickTime; choose h265 or prores for those."
            )
        out_range: ColorRange
        if fmt.chroma == "rgb":
            out_range = "pc"
        elif preset.video_range_only and self._source_range == "pc":
            out_range = "tv"
            self.notes.append(
                f"{preset.name} carries video range only; the full-range luma was rescaled to "
                "video range (within half a code value)."
            )
        else:
            out_range = self._source_range
        if fmt.chroma != "rgb" and fmt.bit_depth < int(source.bit_depth):
            self.notes.append(
                f"{preset.name} holds {fmt.bit_depth} bits; the {source.bit_depth}-bit luma "
                "was rounded to fit."
            )
        self.pixel_format = fmt
        self.color_range = out_range
        self._width, self._height = width, height
        self._bits = fmt.bit_depth
        self._big_endian = fmt.pix_fmt.endswith("be")

    def _check_timecode(self, timecode: str, rate: Fraction) -> None:
        match = _TIMECODE_RE.match(timecode)
        fps = math.ceil(rate)
        if match is None or int(match.group(5)) >= fps:
            raise VideoWriteError(
                f"Cannot write {self.destination}: {timecode!r} is not a timecode at "
                f"{float(rate):.3f} frames/s (HH:MM:SS:FF, ';' before FF for drop frame)"
            )
        if match.group(4) == ";" and (rate * Fraction(1001, 30000)).denominator != 1:
            raise VideoWriteError(
                f"Cannot write {self.destination}: drop-frame timecode {timecode!r} needs "
                "29.97 or 59.94 frames/s"
            )

    def _time_base(self, source: SourceInfo, muxer: str) -> Fraction:
        """The source's time base where the output can use it, else one tick per frame."""
        rate = Fraction(source.frame_rate)
        tb = Fraction(source.time_base) if source.time_base else None
        fits = tb is not None and 0 < tb <= 1 / rate and tb.denominator < 2**31
        if muxer in {"mxf", "image2"} or not fits:
            if source.variable_frame_rate and muxer == "mxf":
                raise VideoWriteError(
                    f"Cannot write {self.destination}: MXF holds a constant frame rate only and "
                    "the source's frame rate varies; choose .mov or .mkv"
                )
            return 1 / rate
        assert tb is not None
        return tb

    def _open(
        self, source: SourceInfo, audio_from: Path | str | None, timecode: str | None
    ) -> None:
        preset = self.preset
        if preset.is_image_sequence:
            final = self.destination
            self._tmp_dir = Path(
                tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
            )
            pattern = self._tmp_dir / f"{final.name}_%06d{self._frame_ext}"
            container = av.open(
                str(pattern), "w", format="image2", container_options={"start_number": "0"}
            )
        else:
            tmp = self._stack.enter_context(atomic_path(self.destination))
            container = av.open(str(tmp), "w")
        self._container = container
        muxer = "image2" if preset.is_image_sequence else container.format.name.split(",")[0]
        self._muxer = muxer
        self.time_base = self._time_base(source, muxer)
        self._frame_ticks = max(1, _floor_half(self._frame_step / self.time_base))

        options = dict(preset.options) | dict(self.pixel_format.options)
        stream = container.add_stream(
            preset.codec,
            rate=Fraction(source.frame_rate),
            options=options,
            time_base=self.time_base,
        )
        assert isinstance(stream, VideoStream)
        stream.width, stream.height = self._width, self._height
        stream.pix_fmt = self.pixel_format.pix_fmt
        self._tag_colour(stream, source)
        aspect = Fraction(source.sample_aspect) if source.sample_aspect else Fraction(1)
        if aspect > 0 and aspect != 1:
            stream.codec_context.sample_aspect_ratio = aspect
            if (preset.codec, muxer) in _LOSES_SAMPLE_ASPECT:
                self.notes.append(
                    f"The pixels are not square ({aspect.numerator}:{aspect.denominator}), but "
                    f"{preset.name} in {self.destination.suffix} cannot record that here; set "
                    "the aspect ratio when playing or remuxing, or choose .mov."
                )
        rotation = float(source.rotation or 0) % 360
        if rotation:
            if muxer in {"mov", "mp4", "matroska"}:
                stream.set_display_rotation(-rotation)  # PyAV counts counter-clockwise
            else:
                self.notes.append(
                    f"The source is shown turned {rotation:g}° clockwise; {muxer} output cannot "
                    "say so, the frames are stored as they are coded."
                )
        if preset.name == "h265" and muxer in {"mov", "mp4"}:
            stream.codec_tag = "hvc1"  # what Apple players look for
        self._stream = stream
        if source.variable_frame_rate and preset.is_image_sequence:
            self.notes.append("The source's frame rate varies; an image sequence keeps no timing.")

        if timecode is not None:
            if preset.is_image_sequence:
                self.notes.append(f"Image sequences carry no timecode; {timecode} was not stored.")
            else:
                container.metadata["timecode"] = timecode
        if audio_from is not None:
            self._open_audio(Path(audio_from))
        container.start_encoding()
        for sidecar in self._sidecars:
            sidecar.start_encoding()
        for track in self._audio_tracks:
            if not track.copy:
                frame_size = track.stream.codec_context.frame_size
                track.resampler = av.AudioResampler(
                    format=track.stream.format.name,
                    layout=track.stream.layout,
                    rate=track.stream.rate,
                    frame_size=frame_size or None,
                )

    def _tag_colour(self, stream: VideoStream, source: SourceInfo) -> None:
        """Range, matrix, primaries and transfer: from the source, or defaults that say so."""
        ctx = stream.codec_context
        primaries = _PRIMARIES.get(str(source.color_primaries).lower(), _UNSPECIFIED)
        transfer = _TRANSFERS.get(str(source.color_trc).lower(), _UNSPECIFIED)
        source_space = _COLORSPACES.get(str(source.color_space).lower(), _UNSPECIFIED)
        if self.pixel_format.chroma == "rgb":
            colorspace = 0
        elif self.matrix == "bt601" and source_space in _BT601_COLORSPACES:
            colorspace = source_space
        else:
            colorspace = _MATRIX_COLORSPACE[self.matrix]
        if (
            source_space not in (_UNSPECIFIED, 0)
            and colorspace not in (0, source_space)
            and not (self.matrix == "bt601" and source_space in _BT601_COLORSPACES)
        ):
            logger.warning(
                "%s: the source is tagged %s but the chroma was made with the %s matrix; "
                "tagging the output %s",
                self.destination.name,
                source.color_space,
                self.matrix,
                self.matrix,
            )
        if primaries == _UNSPECIFIED or transfer == _UNSPECIFIED:
            default_p, default_t = self._default_colour()
            guessed = []
            if primaries == _UNSPECIFIED:
                primaries = default_p
                guessed.append("primaries")
            if transfer == _UNSPECIFIED:
                transfer = default_t
                guessed.append("transfer")
            names = {v: k for k, v in reversed(_PRIMARIES.items())}
            logger.info(
                "%s: the source does not say its colour %s; tagging %s (%dx%d, %s matrix)",
                self.destination.name,
                " or ".join(guessed),
                names.get(primaries, primaries),
                self._width,
                self._height,
                self.matrix,
            )
        self._colour = (_RANGE_TAG[self.color_range], colorspace, primaries, transfer)
        ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = self._colour

    def _default_colour(self) -> tuple[int, int]:
        """(primaries, transfer) to assume: BT.709 for HD, BT.601 625/525 for SD, BT.2020."""
        if self.matrix == "bt2020":
            return _PRIMARIES["bt2020"], _TRANSFERS["bt2020-10"]
        if self.matrix == "bt601" or (self._height < 720 and self._width < 1280):
            primaries = "bt470bg" if self._height > 500 else "smpte170m"
            return _PRIMARIES[primaries], _TRANSFERS["smpte170m"]
        return _PRIMARIES["bt709"], _TRANSFERS["bt709"]

    def _open_audio(self, path: Path) -> None:
        try:
            source = av.open(str(path))
        except (av.FFmpegError, OSError) as error:
            raise VideoReadError(f"Cannot read the audio of {path}: {_one_line(error)}") from error
        self._audio_input = source
        streams = list(source.streams.audio)
        if not streams:
            self.notes.append(f"{path.name} has no audio; the output is silent.")
            return
        assert self._container is not None
        tracks = []
        for number, stream in enumerate(streams, start=1):
            if self.preset.is_image_sequence:
                tracks.append(self._sidecar_track(number, stream))
            else:
                tracks.append(self._container_track(number, stream, self._container))
        self._audio_tracks = tracks
        # Output time 0 is audio_start after the file's first video frame.
        zero = Fraction(0)
        if source.streams.video:
            video = source.streams.video[0]
            if video.start_time is not None and video.time_base is not None:
                zero = video.start_time * video.time_base
        self._audio_zero = zero
        self._audio = _AudioRelay(source, tracks, start=zero + self._audio_start)

    def _container_track(
        self, number: int, source: AudioStream, container: OutputContainer
    ) -> _AudioTrack:
        codec = source.codec_context.codec.canonical_name  # "mp3", not the decoder "mp3float"
        muxer = self._muxer
        allowed = _COPYABLE_AUDIO.get(muxer)
        fits = codec in container.supported_codecs if allowed is None else codec in allowed
        if muxer == "mxf" and source.sample_rate != 48000:
            fits = False
        if fits:
            try:
                stream = container.add_stream_from_template(source)
            except ValueError:
                pass
            else:
                return _AudioTrack(number, source, container, stream, copy=True, sidecar=False)
        stream = self._add_audio_encoder(number, source, container, muxer)
        return _AudioTrack(number, source, container, stream, copy=False, sidecar=False)

    def _add_audio_encoder(
        self, number: int, source: AudioStream, container: OutputContainer, muxer: str
    ) -> AudioStream:
        """A lossless encoder for a track the container cannot take as it is."""
        codec_name = source.codec_context.codec.canonical_name
        sixteen = source.format.name in _SIXTEEN_BIT_SAMPLE_FORMATS
        pcm = ("pcm_s16le", "s16", "16-bit PCM") if sixteen else ("pcm_s24le", "s32", "24-bit PCM")
        alac = ("alac", "s16p" if sixteen else "s32p", "ALAC (lossless)")
        flac = ("flac", "s16" if sixteen else "s32", "FLAC (lossless)")
        aac = ("aac", "fltp", "AAC at 320 kb/s")
        candidates = {
            "mov": [pcm, alac, aac],
            "mp4": [alac, flac, aac],
            "matroska": [flac, pcm, aac],
            "mxf": [pcm],
        }.get(muxer, [aac])
        rate = source.sample_rate
        if muxer == "mxf" and rate != 48000:
            rate = 48000
            self.notes.append(
                f"Audio track {number} was resampled from {source.sample_rate} Hz to 48000 Hz: "
                "MXF holds 48 kHz audio only."
            )
        for name, sample_format, label in candidates:
            if name not in av.codecs_available:
                continue
            stream = container.add_stream(name, rate=rate, layout=source.layout)
            assert isinstance(stream, AudioStream)
            stream.format = sample_format
            if name == "aac":
                stream.bit_rate = 320_000
            self.notes.append(
                f"Audio track {number} ({codec_name}) cannot go into "
                f".{self.destination.suffix.lstrip('.')} as it is; re-encoded to {label}."
            )
            return stream
        raise VideoWriteError(
            f"Cannot write {self.destination}: no encoder for its audio ({codec_name}) is available"
        )

    def _sidecar_track(self, number: int, source: AudioStream) -> _AudioTrack:
        assert self._tmp_dir is not None
        suffix = "" if number == 1 else f"_{number}"
        name = f"{self.destination.name}{suffix}.wav"
        container = av.open(str(self._tmp_dir / name), "w")
        self._sidecars.append(container)
        sixteen = source.format.name in _SIXTEEN_BIT_SAMPLE_FORMATS
        codec, sample_format = ("pcm_s16le", "s16") if sixteen else ("pcm_s24le", "s32")
        stream = container.add_stream(codec, rate=source.sample_rate, layout=source.layout)
        assert isinstance(stream, AudioStream)
        stream.format = sample_format
        self.notes.append(
            f"Audio track {number} written beside the frames as {name} "
            f"({16 if sixteen else 24}-bit PCM)."
        )
        return _AudioTrack(number, source, container, stream, copy=False, sidecar=True)

    # -- writing --------------------------------------------------------------------------

    def write(self, luma: np.ndarray, cb: np.ndarray, cr: np.ndarray, *, time: Fraction) -> None:
        """Add one frame: native luma codes, Cb/Cr in [-0.5, 0.5], ``time`` from frame 0.

        ``luma`` holds the source's code values at its bit depth and range, unchanged;
        ``cb`` and ``cr`` are full-resolution analog chroma of the output matrix.
        """
        if self._closed or self._container is None:
            raise RuntimeError("write() after close() or abort()")
        time = Fraction(time)
        if time < 0:
            raise ValueError(f"frame time must not be negative, got {float(time):.6f}s")
        pts = _floor_half(time / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(
                f"frame time {float(time):.6f}s is not after the previous frame's "
                f"(time base {self.time_base})"
            )
        frame = self.frame_for(luma, cb, cr)
        frame.pts = pts
        frame.time_base = self.time_base
        frame.duration = self._frame_ticks
        (frame.color_range, frame.colorspace, frame.color_primaries, frame.color_trc) = self._colour
        try:
            self._mux_video(self._stream.encode(frame))
            self._last_pts = pts
            self.frames_written += 1
            self._end_time = time + self._frame_step
            if self._audio is not None:
                end = None if self._audio_end is None else self._audio_zero + self._audio_end
                self._audio.pump(until=time - _AUDIO_LOOKAHEAD, end=end)
        except (av.FFmpegError, OSError) as error:
            raise VideoWriteError(f"Cannot write {self.destination}: {_one_line(error)}") from error

    def _mux_video(self, packets: list[Packet]) -> None:
        """Mux encoded video, mending a decode timestamp that cannot be right.

        libx265 hands back an uninitialised DTS when a stream holds a single frame, which
        the MP4 muxer rejects; a DTS after the PTS, or more than 1000 frames before it, is
        replaced by the nearest one that keeps the DTS increasing.
        """
        assert self._container is not None
        for packet in packets:
            if packet.pts is not None and packet.dts is not None:
                if not packet.pts - 1000 * self._frame_ticks <= packet.dts <= packet.pts:
                    logger.debug("mending DTS %d of the packet at PTS %d", packet.dts, packet.pts)
                    last = self._last_dts
                    packet.dts = packet.pts if last is None or packet.pts > last else last + 1
                self._last_dts = packet.dts
            self._container.mux(packet)

    def frame_for(self, luma: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> av.VideoFrame:
        """The frame exactly as write() hands it to the encoder (no timing, no tags)."""
        shape = (self._height, self._width)
        if luma.shape != shape or cb.shape != shape or cr.shape != shape:
            raise ValueError(
                f"luma, cb and cr must all be {shape}, got {luma.shape}, {cb.shape}, {cr.shape}"
            )
        if not np.issubdtype(luma.dtype, np.integer):
            raise TypeError(f"luma must hold integer code values, got {luma.dtype}")
        cb = np.asarray(cb, dtype=np.float32)
        cr = np.asarray(cr, dtype=np.float32)
        fmt = self.pixel_format
        src_bits, src_range = int(self._source.bit_depth), self._source_range
        frame = av.VideoFrame(self._width, self._height, fmt.pix_fmt)
        if fmt.chroma == "rgb":
            y = luma_to_float(luma, src_bits, src_range)
            cb, cr = limit_to_gamut(y, cb, cr, self.matrix)
            rgb = np.clip(ycbcr_to_rgb(y, cb, cr, self.matrix), 0.0, 1.0)
            top = (1 << self._bits) - 1
            codes = np.floor(rgb * np.float32(top) + np.float32(0.5))
            codes = codes.astype(np.uint8 if self._bits == 8 else np.uint16)
            if fmt.pix_fmt.startswith("gbrp"):
                planes = [codes[..., 1], codes[..., 2], codes[..., 0]]
            else:
                planes = [codes.reshape(self._height, self._width * 3)]
        else:
            out_range = self.color_range
            planes = [rescale_luma_codes(luma, src_bits, src_range, self._bits, out_range)]
            for c in (cb, cr):
                planes.append(chroma_to_codes(_subsample(c, fmt.chroma), self._bits, out_range))
        for plane, values in zip(frame.planes, planes, strict=True):
            _fill_plane(plane, values, big_endian=self._big_endian)
        return frame

    # -- finishing ------------------------------------------------------------------------

    def close(self) -> None:
        """Finish the file and move it to its destination; abort() on any failure."""
        if self._closed:
            return
        try:
            if self.frames_written == 0:
                raise VideoWriteError(f"Cannot write {self.destination}: no frames were written")
            assert self._container is not None
            try:
                self._mux_video(self._stream.encode(None))
                if self._audio is not None:
                    end = self._audio_start + self._end_time
                    if self._audio_end is not None:
                        end = self._audio_end
                    self._audio.finish(end=self._audio_zero + end)
                for container in (*self._sidecars, self._container):
                    container.close()
                self._close_input()
            except (av.FFmpegError, OSError) as error:
                raise VideoWriteError(
                    f"Cannot write {self.destination}: {_one_line(error)}"
                ) from error
            self._commit()
        except BaseException as error:
            self._discard(error)
            raise
        self._closed = True
        logger.info(
            "wrote %s (%d frames, %s %s)",
            self.destination,
            self.frames_written,
            self.preset.name,
            self.pixel_format.pix_fmt,
        )

    def abort(self) -> None:
        """Stop and remove everything written so far; the destination is left untouched."""
        if not self._closed:
            self._discard(Cancelled(f"writing {self.destination} was aborted"))

    def _commit(self) -> None:
        if self._tmp_dir is None:
            self._stack.close()  # atomic_path renames the temporary file over the destination
            return
        final = self.destination
        old: Path | None = None
        if final.exists():
            if not final.is_dir() or not all(self._is_ours(p.name) for p in final.iterdir()):
                raise VideoWriteError(
                    f"Cannot write {final}: something else appeared there while writing"
                )
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, old)
        try:
            os.replace(self._tmp_dir, final)
        except OSError:
            if old is not None:
                os.replace(old, final)
            raise
        self._tmp_dir = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        logger.debug("wrote %s", final)

    def _close_input(self) -> None:
        if self._audio_input is not None:
            self._audio_input.close()
            self._audio_input = None

    def _discard(self, error: BaseException) -> None:
        """Close everything without finishing it and delete the temporary output."""
        self._closed = True
        for container in (*self._sidecars, self._container):
            if container is None:
                continue
            with contextlib.suppress(Exception):
                container.close()
        with contextlib.suppress(Exception):
            self._close_input()
        # atomic_path deletes its temporary file when it sees the exception
        with contextlib.suppress(BaseException):
            self._stack.__exit__(type(error), error, error.__traceback__)
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._discard(exc)


def check_destination(
    destination: Path | str,
    *,
    codec: str | None = None,
    source: SourceInfo,
    audio_from: Path | str | None = None,
) -> Path:
    """Refuse, without creating anything, a destination that ``VideoWriter`` would refuse.

    Runs the writer's own checks (codec and extension, the folder, the source itself, the
    frame size), so that a caller can answer a bad destination at once, before slow work
    such as loading a model. Returns the path that would appear (a folder for sequences).
    """
    planned = object.__new__(VideoWriter)  # the checks only, not __init__'s opening
    planned._plan(destination, codec=codec, source=source, audio_from=audio_from)
    return planned.destination


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


__all__ = [
    "CODECS",
    "CODEC_NAMES",
    "ChromaLayout",
    "CodecPreset",
    "PixelFormat",
    "SourceInfo",
    "VideoWriter",
    "check_destination",
    "codec_for_path",
    "get_preset",
]
