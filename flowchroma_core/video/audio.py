"""Sound on export: which audio tracks go where and how, and the relay that moves them.

Audio is copied packet for packet when the container can hold the codec and re-encoded
losslessly otherwise (PCM in .mov and .mxf, ALAC in .mp4, FLAC in .mkv; AAC 320 kb/s only
when no lossless encoder is available). For image sequences each track is written beside
the frames as a WAV file (24- or 16-bit PCM). Every such decision is added to the writer's
notes. The relay moves the audio in step with the video, trailing it by a second so that no
audio frame is cut before its end is known, and trims the result to the sample.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet

from flowchroma_core.errors import VideoReadError, VideoWriteError
from flowchroma_core.video.source import one_line
from flowchroma_core.video.timing import round_half_up

logger = logging.getLogger(__name__)

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
_SIXTEEN_BIT_SAMPLE_FORMATS = {"u8", "u8p", "s16", "s16p"}
# Demux this far past the end so decoders can flush; audio also trails the video by this
# much while frames are written, so no audio frame is cut before its end is known.
AUDIO_LOOKAHEAD = Fraction(1)


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
        if start > AUDIO_LOOKAHEAD:
            # Skip the film before the range instead of reading through it; a little early,
            # since the packets are filtered by time anyway.
            try:
                source.seek(math.floor((start - AUDIO_LOOKAHEAD) * av.time_base), backward=True)
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
            if end is not None and t >= end + AUDIO_LOOKAHEAD:
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
        self.pump(until=end - self._start + AUDIO_LOOKAHEAD, end=end)
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
        offset = round_half_up(self._start / packet.time_base)
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
                if round_half_up(first * rate) > 0:
                    self._push(track, _silence(frame, round_half_up(first * rate)))
            else:
                track.next_pts = max(0, round_half_up(first * track.stream.rate))
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


class AudioOutput:
    """The audio of one file going into an output: its tracks, any WAV sidecars, the relay.

    Tracks are added to ``container`` (or, for an image sequence, to WAV files created in
    ``sidecar_dir``) before the caller starts encoding; ``start()`` then readies the
    resamplers. Output time 0 is ``audio_start`` after the file's first video frame, which
    lies at ``zero`` on the file's own clock. Decisions are appended to ``notes``.
    """

    def __init__(
        self,
        path: Path,
        *,
        container: OutputContainer,
        muxer: str,
        destination: Path,
        sidecar_dir: Path | None,
        audio_start: Fraction,
        notes: list[str],
    ) -> None:
        try:
            source = av.open(str(path))
        except (av.FFmpegError, OSError) as error:
            raise VideoReadError(f"Cannot read the audio of {path}: {one_line(error)}") from error
        self.input: InputContainer | None = source
        self.sidecars: list[OutputContainer] = []
        self.tracks: list[_AudioTrack] = []
        self.relay: _AudioRelay | None = None
        self.zero = Fraction(0)
        self._muxer = muxer
        self._destination = destination
        self._sidecar_dir = sidecar_dir
        self._notes = notes
        try:
            self._plan_tracks(path, source, container, audio_start)
        except BaseException:
            self.close()
            raise

    def _plan_tracks(
        self, path: Path, source: InputContainer, container: OutputContainer, audio_start: Fraction
    ) -> None:
        streams = list(source.streams.audio)
        if not streams:
            self._notes.append(f"{path.name} has no audio; the output is silent.")
            return
        for number, stream in enumerate(streams, start=1):
            if self._sidecar_dir is not None:
                self.tracks.append(self._sidecar_track(number, stream))
            else:
                self.tracks.append(self._container_track(number, stream, container))
        if source.streams.video:
            video = source.streams.video[0]
            if video.start_time is not None and video.time_base is not None:
                self.zero = video.start_time * video.time_base
        self.relay = _AudioRelay(source, self.tracks, start=self.zero + audio_start)

    def start(self) -> None:
        """Start the sidecar files and ready the resamplers; after the output's own start."""
        for sidecar in self.sidecars:
            sidecar.start_encoding()
        for track in self.tracks:
            if not track.copy:
                frame_size = track.stream.codec_context.frame_size
                track.resampler = av.AudioResampler(
                    format=track.stream.format.name,
                    layout=track.stream.layout,
                    rate=track.stream.rate,
                    frame_size=frame_size or None,
                )

    def pump(self, *, until: Fraction, end: Fraction | None) -> None:
        """Move the audio before output time ``until``; see ``_AudioRelay.pump``."""
        if self.relay is not None:
            self.relay.pump(until=until, end=end)

    def finish(self, *, end: Fraction) -> None:
        """Move the rest up to ``end`` (audio clock) and flush; see ``_AudioRelay.finish``."""
        if self.relay is not None:
            self.relay.finish(end=end)

    def close(self) -> None:
        """Close the sidecar files and the audio source; safe to call twice."""
        for sidecar in self.sidecars:
            sidecar.close()
        self.sidecars = []
        self.close_input()

    def close_input(self) -> None:
        if self.input is not None:
            self.input.close()
            self.input = None

    def discard(self) -> None:
        """Close everything without finishing it, ignoring errors: the output is thrown away."""
        for sidecar in self.sidecars:
            with contextlib.suppress(Exception):
                sidecar.close()
        self.sidecars = []
        with contextlib.suppress(Exception):
            self.close_input()

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
            self._notes.append(
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
            self._notes.append(
                f"Audio track {number} ({codec_name}) cannot go into "
                f".{self._destination.suffix.lstrip('.')} as it is; re-encoded to {label}."
            )
            return stream
        raise VideoWriteError(
            f"Cannot write {self._destination}: "
            f"no encoder for its audio ({codec_name}) is available"
        )

    def _sidecar_track(self, number: int, source: AudioStream) -> _AudioTrack:
        assert self._sidecar_dir is not None
        suffix = "" if number == 1 else f"_{number}"
        name = f"{self._destination.name}{suffix}.wav"
        container = av.open(str(self._sidecar_dir / name), "w")
        self.sidecars.append(container)
        sixteen = source.format.name in _SIXTEEN_BIT_SAMPLE_FORMATS
        codec, sample_format = ("pcm_s16le", "s16") if sixteen else ("pcm_s24le", "s32")
        stream = container.add_stream(codec, rate=source.sample_rate, layout=source.layout)
        assert isinstance(stream, AudioStream)
        stream.format = sample_format
        self._notes.append(
            f"Audio track {number} written beside the frames as {name} "
            f"({16 if sixteen else 24}-bit PCM)."
        )
        return _AudioTrack(number, source, container, stream, copy=False, sidecar=True)
