"""Writing colorized video: ``VideoWriter``, the only place that opens outputs with PyAV.

The colorizer keeps the source's own luma and only invents chroma, so the writer takes, per
frame, the source's native luma code values plus full-resolution Cb/Cr and builds the output
planes itself (``planes.py``): luma is moved to the output's bit depth exactly (8 -> 10 bits
is ``<< 2``), chroma is area-averaged for 4:2:0 / 4:2:2 and rounded to codes. For RGB image
sequences (PNG, TIFF, DPX) the colour is first limited to the RGB gamut by giving up
saturation, never luma. No swscale conversion touches the pixels.

Decisions worth knowing (the choices live in ``presets.py`` and ``destination.py``, the
sound in ``audio.py``, the colour tags in ``colour_tags.py``):

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
  losslessly otherwise. Every such decision lands in :attr:`VideoWriter.notes`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from flowchroma_core.colour.ycbcr import MATRICES, Matrix
from flowchroma_core.errors import Cancelled, VideoWriteError
from flowchroma_core.fileio import atomic_path
from flowchroma_core.video.audio import AUDIO_LOOKAHEAD, AudioOutput
from flowchroma_core.video.colour_tags import output_tags
from flowchroma_core.video.destination import (
    SourceInfo,
    check_destination,
    plan_output,
)
from flowchroma_core.video.fields import FIELD_ORDERS, field_order_code
from flowchroma_core.video.hardware import (
    HARDWARE_ENCODERS,
    NVENC_PIXEL_FORMATS,
    encoder_choice,
)
from flowchroma_core.video.planes import pack_frame
from flowchroma_core.video.presets import (
    CODEC_NAMES,
    CODECS,
    ChromaLayout,
    CodecPreset,
    PixelFormat,
    codec_for_path,
    get_preset,
)
from flowchroma_core.video.source import one_line
from flowchroma_core.video.timecode import check_timecode
from flowchroma_core.video.timing import round_half_up

logger = logging.getLogger(__name__)

# Where the pixel aspect ratio is lost: PyAV cannot set the track-level aspect that the
# Matroska and MXF muxers write, and FFV1 / DNxHR carry none in their own bitstreams.
_LOSES_SAMPLE_ASPECT = {("ffv1", "matroska"), ("dnxhd", "mxf")}


def choose_encoder(
    preset: CodecPreset, pixel_format: PixelFormat, *, hardware: bool
) -> tuple[str, dict[str, str], str | None]:
    """The encoder, its options and a note on the choice (None when ``hardware`` was not
    asked for): the preset's software encoder, or NVENC when ``hardware`` is asked for,
    the preset has a hardware counterpart, the pixel format is one NVENC takes as this
    writer packs it (8-bit planar) and NVENC opens here."""
    software = preset.codec, dict(preset.options) | dict(pixel_format.options)
    if not hardware:
        return *software, None
    if preset.codec not in HARDWARE_ENCODERS:
        return *software, f"{preset.name} has no hardware encoder; encoded in software."
    if pixel_format.pix_fmt not in NVENC_PIXEL_FORMATS:
        note = (
            f"NVENC does not take {pixel_format.pix_fmt} as written here; encoded in software "
            f"({preset.codec})."
        )
        return *software, note
    encoder, options = encoder_choice(preset.codec, dict(preset.options), hardware=True)
    if encoder == preset.codec:
        return *software, f"No working NVENC here; encoded in software ({preset.codec})."
    note = (
        f"Encoded on the GPU with {encoder} (NVENC, constant quality "
        f"{options.get('cq', 'default')}): close to the software preset's quality, not the "
        "same bits."
    )
    return encoder, options, note


def fill_decode_times(packets: Iterable[Packet], frame_step: Fraction) -> Iterator[Packet]:
    """``packets`` in order, each with a decode time.

    Matroska stores presentation times only: for a stream with B-frames its demuxer leaves
    the first packets without a decode time and derives the rest (two frames behind at
    x264's settings). Copied into another file after a part, such packets would be given
    decode times that go backwards, which the muxer refuses. The ones without a time get
    those just before the first time the demuxer gives, one frame apart (what the encoder
    gave them); a part with no time at all gets its sorted presentation times moved back
    by as many frames as it has packets, which keeps each at or before its presentation.
    """
    waiting: list[Packet] = []

    def ticks(packet: Packet) -> int:
        return max(1, round_half_up(frame_step / Fraction(packet.time_base)))

    for packet in packets:
        if packet.dts is None and packet.pts is not None:
            waiting.append(packet)
            continue
        if waiting and packet.dts is not None:
            for back, early in enumerate(reversed(waiting), 1):
                early.dts = packet.dts - back * ticks(early)
        yield from waiting
        waiting.clear()
        yield packet
    presentation = sorted(p.pts for p in waiting)
    for early, pts in zip(waiting, presentation, strict=True):
        early.dts = pts - len(waiting) * ticks(early)
    yield from waiting


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
        metadata: dict[str, str] | None = None,
        template: Path | str | None = None,
        hardware: bool = False,
    ) -> None:
        """``metadata``: container tags (e.g. the colorization options); image sequences
        have nowhere to keep them. ``template``: a file this writer's own settings wrote
        (a segment's part); the writer then copies encoded parts (``copy_part``) instead of
        encoding frames, the video stream's parameters taken from it. ``hardware``: encode
        H.264 on NVENC where it works here (``choose_encoder``); a note says what was used."""
        if matrix not in MATRICES:
            raise ValueError(f"unknown matrix {matrix!r}; allowed: {', '.join(MATRICES)}")
        plan = plan_output(destination, codec=codec, source=source, audio_from=audio_from)
        self._plan = plan
        self.preset: CodecPreset = plan.preset
        self.destination: Path = plan.destination
        self.notes: list[str] = plan.notes
        self.pixel_format: PixelFormat = plan.pixel_format
        self.color_range = plan.color_range
        self._source = source
        self._frame_step = 1 / Fraction(source.frame_rate)
        if timecode is not None:
            try:
                check_timecode(timecode, Fraction(source.frame_rate))
            except ValueError as error:
                raise VideoWriteError(
                    f"Cannot write {self.destination}: {error} "
                    "(HH:MM:SS:FF, ';' before FF for drop frame)"
                ) from error
        self.matrix: Matrix = matrix
        self.frames_written = 0
        self._closed = False
        self._stack = contextlib.ExitStack()
        self._container: OutputContainer | None = None
        self._audio: AudioOutput | None = None
        self._tmp_dir: Path | None = None
        self._last_pts: int | None = None
        self._last_dts: int | None = None
        self._end_time = Fraction(0)
        self._audio_start = Fraction(audio_start)
        self._audio_end = None if audio_end is None else Fraction(audio_end)
        self._metadata = dict(metadata or {})
        self._template = None if template is None else Path(template)
        self._hardware = hardware
        self.encoder_note: str | None = None  # what ``hardware`` led to, when it was asked
        try:
            self._open(source, audio_from, timecode)
        except BaseException as error:
            self._discard(error)
            if isinstance(error, av.FFmpegError | OSError):
                raise VideoWriteError(
                    f"Cannot write {self.destination}: {one_line(error)}"
                ) from error
            raise
        for note in self.notes:
            logger.info("%s: %s", self.destination.name, note)

    # -- set-up ---------------------------------------------------------------------------

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
            pattern = self._tmp_dir / f"{final.name}_%06d{self._plan.frame_ext}"
            container = av.open(
                str(pattern), "w", format="image2", container_options={"start_number": "0"}
            )
        else:
            tmp = self._stack.enter_context(atomic_path(self.destination))
            container = av.open(str(tmp), "w")
        self._container = container
        muxer = "image2" if preset.is_image_sequence else container.format.name.split(",")[0]
        self.time_base = self._time_base(source, muxer)
        self._frame_ticks = max(1, round_half_up(self._frame_step / self.time_base))

        if self._template is not None:
            stream = self._stream_from_template(container, self._template, source)
        else:
            encoder, options, self.encoder_note = choose_encoder(
                preset, self.pixel_format, hardware=self._hardware
            )
            if self.encoder_note:
                self.notes.append(self.encoder_note)
            stream = container.add_stream(
                encoder,
                rate=Fraction(source.frame_rate),
                options=options,
                time_base=self.time_base,
            )
            assert isinstance(stream, VideoStream)
            stream.width, stream.height = self._plan.width, self._plan.height
            stream.pix_fmt = self.pixel_format.pix_fmt
        self._tag_colour(stream, source)
        if (order := field_order_code(source.path)) in FIELD_ORDERS:
            stream.codec_context.field_order = order  # interlaced: keep the tag
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
        if not preset.is_image_sequence:
            container.metadata.update(self._metadata)
        if audio_from is not None:
            self._audio = AudioOutput(
                Path(audio_from),
                container=container,
                muxer=muxer,
                destination=self.destination,
                sidecar_dir=self._tmp_dir,
                audio_start=self._audio_start,
                notes=self.notes,
            )
        container.start_encoding()
        if self._audio is not None:
            self._audio.start()

    def _stream_from_template(
        self, container: OutputContainer, template: Path, source: SourceInfo
    ) -> VideoStream:
        """The output's video stream with the codec parameters of a part file (copy mode)."""
        with self._open_part(template) as part:
            stream = container.add_stream_from_template(part.streams.video[0], opaque=True)
        assert isinstance(stream, VideoStream)
        stream.time_base = self.time_base
        if source.frame_rate:  # the MOV muxer writes the timecode track only with a rate
            stream.codec_context.framerate = Fraction(source.frame_rate)
        return stream

    def _open_part(self, part: Path) -> InputContainer:
        """A part for reading its packets: a file, or an image sequence part's folder of
        frames (read as the image2 demuxer's pattern, one packet a file, timed at the
        source's rate so that the parts' timestamps follow on)."""
        if not self.preset.is_image_sequence:
            return av.open(str(part))
        pattern = part / f"{part.name}_%06d{self._plan.frame_ext}"
        rate = Fraction(self._source.frame_rate)
        return av.open(
            str(pattern),
            format="image2",
            options={"framerate": f"{rate.numerator}/{rate.denominator}", "start_number": "0"},
        )

    def _tag_colour(self, stream: VideoStream, source: SourceInfo) -> None:
        """Range, matrix, primaries and transfer: from the source, or defaults that say so."""
        self._colour = output_tags(
            name=self.destination.name,
            matrix=self.matrix,
            rgb=self.pixel_format.chroma == "rgb",
            color_range=self.color_range,
            width=self._plan.width,
            height=self._plan.height,
            color_space=source.color_space,
            color_primaries=source.color_primaries,
            color_trc=source.color_trc,
        )
        ctx = stream.codec_context
        ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = self._colour

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
        pts = round_half_up(time / self.time_base)
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
                end = None if self._audio_end is None else self._audio.zero + self._audio_end
                self._audio.pump(until=time - AUDIO_LOOKAHEAD, end=end)
        except (av.FFmpegError, OSError) as error:
            raise VideoWriteError(f"Cannot write {self.destination}: {one_line(error)}") from error

    def copy_part(self, part: Path | str, *, offset: Fraction = Fraction(0)) -> int:
        """Copy the encoded video of ``part`` packet for packet, its timestamps moved by
        ``offset`` seconds; returns the frames copied.

        The part was written by a writer with the same settings and its first packet is a
        keyframe. Copy mode only (``template``).
        """
        if self._template is None or self._container is None or self._closed:
            raise RuntimeError("copy_part() needs an open writer made with a template")
        frames = 0
        try:
            with self._open_part(Path(part)) as source:
                video = source.streams.video[0]
                last_time = self._end_time
                packets = (p for p in source.demux(video) if p.size)  # no flush packet
                for packet in fill_decode_times(packets, self._frame_step):
                    if frames == 0 and not packet.is_keyframe:
                        raise VideoWriteError(f"{part}: does not start with a keyframe")
                    tb = Fraction(packet.time_base)
                    shift = round_half_up(Fraction(offset) / tb)
                    if packet.pts is not None:
                        packet.pts += shift
                    if packet.dts is not None:
                        packet.dts += shift
                    if packet.dts is not None:
                        dts = packet.dts * tb
                        if self._last_dts is not None and dts <= self._last_dts * tb:
                            raise VideoWriteError(
                                f"{part}: decode times overlap the previous part's"
                            )
                        self._last_dts = packet.dts
                    if packet.pts is not None:
                        last_time = max(last_time, packet.pts * tb)
                    packet.stream = self._stream
                    self._container.mux(packet)
                    frames += 1
                    self.frames_written += 1
                    if self._audio is not None:
                        end = self._audio_end
                        end = None if end is None else self._audio.zero + end
                        self._audio.pump(until=last_time - AUDIO_LOOKAHEAD, end=end)
                self._end_time = max(self._end_time, last_time + self._frame_step)
        except (av.FFmpegError, OSError) as error:
            raise VideoWriteError(f"Cannot write {self.destination}: {one_line(error)}") from error
        return frames

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
        shape = (self._plan.height, self._plan.width)
        if luma.shape != shape or cb.shape != shape or cr.shape != shape:
            raise ValueError(
                f"luma, cb and cr must all be {shape}, got {luma.shape}, {cb.shape}, {cr.shape}"
            )
        if not np.issubdtype(luma.dtype, np.integer):
            raise TypeError(f"luma must hold integer code values, got {luma.dtype}")
        return pack_frame(
            luma,
            np.asarray(cb, dtype=np.float32),
            np.asarray(cr, dtype=np.float32),
            pixel_format=self.pixel_format,
            src_bits=int(self._source.bit_depth),
            src_range=self._plan.source_range,
            out_range=self.color_range,
            matrix=self.matrix,
        )

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
                if self._template is None:
                    self._mux_video(self._stream.encode(None))
                if self._audio is not None:
                    end = self._audio_start + self._end_time
                    if self._audio_end is not None:
                        end = self._audio_end
                    self._audio.finish(end=self._audio.zero + end)
                    self._audio.close()
                self._container.close()
            except (av.FFmpegError, OSError) as error:
                raise VideoWriteError(
                    f"Cannot write {self.destination}: {one_line(error)}"
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
            if not final.is_dir() or not all(self._plan.is_ours(p.name) for p in final.iterdir()):
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

    def _discard(self, error: BaseException) -> None:
        """Close everything without finishing it and delete the temporary output."""
        self._closed = True
        if self._audio is not None:
            self._audio.discard()
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
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
