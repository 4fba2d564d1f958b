"""Video files: opening a container with errors a restorer can act on, choosing the picture
stream, indexing every packet's timestamp at open (demuxing, no decoding) and frame-accurate
random access by seeking to the keyframe before a frame and decoding forward.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.codec.hwaccel import HWAccel

from flowchroma_core.errors import VideoReadError
from flowchroma_core.video.colour_tags import (
    PRIMARIES_NAMES,
    TRC_NAMES,
    color_name,
    frame_color_space,
)
from flowchroma_core.video.hardware import decoding_accel
from flowchroma_core.video.info import (
    Frame,
    VideoInfo,
    audio_info,
    find_timecode,
    luma_matrix,
    matrix_for,
    rotation_of,
)
from flowchroma_core.video.planes import native_luma
from flowchroma_core.video.source import Damage, ffmpeg_reason
from flowchroma_core.video.timing import measure_timing

logger = logging.getLogger(__name__)

# Top-level boxes an MP4 or MOV file starts with.
_MP4_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
# Video "codecs" FFmpeg uses to show text files (ANSI art): not films.
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
# How many earlier keyframes a seek that lands after its target may fall back to.
_MAX_SEEK_RETRIES = 3

# A transport stream's packet sizes: plain, M2TS (timecode prefix), Reed-Solomon.
_TS_PACKET_SIZES = (188, 192, 204)

_Decoding = Generator[tuple[int, av.VideoFrame], None, None]


def _looks_like_mp4(path: Path) -> bool:
    """Whether the file starts with an ISO media box (MP4, MOV, M4V, 3GP)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8)[4:8] in _MP4_FIRST_BOXES
    except OSError:
        return False


def _ends_inside_a_packet(path: Path, format_name: str, pid: int) -> bool:
    """Whether an MPEG transport stream was cut short inside its last video packet.

    A transport stream has no index and its video PES packets carry no length, so a file
    cut short hands the demuxer a last packet with part of a picture, which the decoder
    may conceal without saying so (the frame shows the one before it). A whole stream is
    a run of 188-byte TS packets (192 in M2TS, 204 with Reed-Solomon), and each PES packet
    ends with its TS packet padded out by adaptation-field stuffing. So a file of another
    size was cut inside a TS packet, and one whose last TS packet of the video PID is full
    of payload was cut between two (a PES of exactly that length is flagged too: rare,
    and a warning on one frame costs nothing).
    """
    if "mpegts" not in format_name.split(","):
        return False
    try:
        size = path.stat().st_size
        unit = next((u for u in _TS_PACKET_SIZES if size % u == 0), None)
        if unit is None:
            return True
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 512 * unit))
            tail = fh.read()
    except OSError:
        return False
    prefix = 4 if unit == 192 else 0  # M2TS: a 4-byte timecode before each packet
    for end in range(len(tail), unit - 1, -unit):
        packet = tail[end - unit + prefix : end - unit + prefix + 188]
        if packet[0] != 0x47 or ((packet[1] & 0x1F) << 8 | packet[2]) != pid:
            continue
        return _stuffing(packet) == 0  # no padding: the PES goes on past the end of the file
    return False


def _stuffing(packet: bytes) -> int:
    """How many stuffing bytes a 188-byte TS packet's adaptation field holds."""
    if not packet[3] & 0x20 or packet[4] == 0:  # no adaptation field, or an empty one
        return 0 if not packet[3] & 0x20 else 1
    length, flags = packet[4], packet[5]
    used = 1  # the flags byte
    used += 6 if flags & 0x10 else 0  # PCR
    used += 6 if flags & 0x08 else 0  # OPCR
    used += 1 if flags & 0x04 else 0  # splice countdown
    if flags & 0x02 and 5 + used < 188:  # private data, led by its length
        used += 1 + packet[5 + used]
    if flags & 0x01 and 5 + used < 188:  # the adaptation field extension, led by its length
        used += 1 + packet[5 + used]
    return max(0, length - used)


def open_container(path: Path, hwaccel: HWAccel | None = None) -> av.container.InputContainer:
    """av.open with every failure turned into a one-line VideoReadError naming the file;
    ``hwaccel`` decodes on a hardware engine (``hardware.decoding_accel``)."""
    try:
        if hwaccel is not None:
            return av.open(str(path), mode="r", hwaccel=hwaccel)
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
            f"{path.name}: not a video FFmpeg can read ({ffmpeg_reason(err)})"
        ) from err
    except PermissionError as err:
        raise VideoReadError(f"{path.name}: permission denied") from err
    except (av.error.FFmpegError, OSError) as err:
        raise VideoReadError(f"{path.name}: cannot be opened ({ffmpeg_reason(err)})") from err


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


@dataclass(frozen=True)
class _Packet:
    pts: int | None
    dts: int | None
    key: bool
    duration: int


class ContainerSource:
    """A video file: a packet index built at open, one container kept for random access."""

    def __init__(self, path: Path, damage: Damage, *, hardware: bool = False) -> None:
        """``hardware``: stream (``iterate``) through NVDEC where it works here; random
        access (``read``) always decodes in software."""
        self.path = path
        self._hardware = hardware
        self.name = path.name
        self._damage = damage
        started = time.perf_counter()
        with open_container(path) as scan:
            stream = _pick_video_stream(scan, self.name)
            self._stream_index = stream.index
            packets = self._scan_packets(scan, stream)
            cut_short = _ends_inside_a_packet(path, scan.format.name, stream.id)
        if not packets:
            raise VideoReadError(f"{self.name}: the video stream holds no frames")
        self._build_index(packets)
        # The frame of the last packet demuxed, when the file ends inside that packet.
        self._incomplete: int | None = None
        if cut_short and self._indexed and packets[-1].pts is not None:
            self._incomplete = self._index_of[packets[-1].pts]
        self._container = open_container(path)
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
                    self.name, len(packets), ffmpeg_reason(err),
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
            rate, vfr, duration = measure_timing(self._pts, tb, stream_rates, last, self.name)
        else:
            rate, vfr, duration = measure_timing([], tb, stream_rates, 0, self.name)
            duration = Fraction(self._count) / rate
        width, height = first.width, first.height
        sar = stream.sample_aspect_ratio or cc.sample_aspect_ratio or Fraction(1)
        if sar <= 0:
            sar = Fraction(1)
        color_space = frame_color_space(first, cc.colorspace)
        _, bits, rng = native_luma(first, matrix_for(color_space, height))
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
            color_primaries=color_name(PRIMARIES_NAMES, first.color_primaries, cc.color_primaries),
            color_trc=color_name(TRC_NAMES, first.color_trc, cc.color_trc),
            rotation=rotation_of(first, stream),
            variable_frame_rate=vfr,
            start_timecode=find_timecode(container, stream, first),
            audio=audio_info(container),
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
                logger.warning("%s: the file's data ends early (%s)", self.name, ffmpeg_reason(err))
                break
            drained = packet.size == 0
            try:
                frames = packet.decode()
            except av.error.FFmpegError as err:
                self._damage.warn(
                    "%s: a packet (pts %s) cannot be decoded: %s",
                    self.name,
                    packet.pts,
                    ffmpeg_reason(err),
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
                    f"{self.name}: cannot seek to frame {target} ({ffmpeg_reason(err)})"
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
        luma, bits, rng = native_luma(frame, self._matrix)
        if frame.is_corrupt:
            self._damage.mark_corrupt(index)
        elif index == self._incomplete:
            self._damage.mark_corrupt(index, "may be incomplete: the file ends inside it")
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
                self._container = open_container(self.path)
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
        accel = decoding_accel(self.info.codec) if self._hardware else None
        try:
            opened = open_container(self.path, accel)
        except VideoReadError as error:
            if accel is None:
                raise
            logger.warning("%s: NVDEC cannot take it (%s); decoding in software", self.name, error)
            opened = open_container(self.path)
        with opened as container:
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
