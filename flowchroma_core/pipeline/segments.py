"""Shot-segmented export: a film cut into segments (runs of whole shots) that are colorized
one by one into part files and stream-copied into the final output at the end.

Why this is exact: the temporal state is reset at every shot cut, so a shot colorized on
its own gives the very frames an uninterrupted run gives. ``plan_segments`` finds the cuts
with the colorizer's own detector (``shots.CutDetector``, fed the same frames from the
range's start, so it decides the same cuts) and groups whole shots into segments of about
``SEGMENT_FRAMES`` frames; a long shot stays whole. ``render_segment`` colorizes each shot
of a segment as a fresh run with cut detection off (the plan already knows the cuts) and
writes a part file in the output's codec; ``assemble`` copies the parts' packets, rebased,
into the destination with the source's audio (``VideoWriter`` in copy mode).

This is the unit of work of ``colorize_file`` (resumable through ``journal.Journal``) and of
``flowchroma batch`` (local or on Ray).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

from flowchroma_core.errors import CancelToken, FlowChromaError, VideoReadError
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.batching import PassBatcher
from flowchroma_core.pipeline.colorizer import ColorFrame, Colorizer, ColorizeRun
from flowchroma_core.pipeline.guided import GuidanceSource
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.shots import CutDetector
from flowchroma_core.pipeline.stages import run_stages
from flowchroma_core.video.reader import Frame, VideoInfo, open_video
from flowchroma_core.video.timecode import offset_timecode
from flowchroma_core.video.writer import VideoWriter

logger = logging.getLogger(__name__)

_MILLISECOND_CONTAINERS = {".mkv", ".mka", ".webm"}

SEGMENT_FRAMES = 250
"""Short shots are merged into segments of about this many frames (a long shot stays whole)."""

OPTIONS_TAG = "flowchroma_options"
"""The container tag that records the ``ColorizeOptions`` of an export, as JSON."""


@dataclass(frozen=True)
class Segment:
    """Source frames ``[start, stop)``: whole shots, the first starting at ``start``."""

    index: int
    start: int
    stop: int
    shots: tuple[int, ...]  # the first source frame of each shot, ``start`` first

    @property
    def frames(self) -> int:
        return self.stop - self.start

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start": self.start,
            "stop": self.stop,
            "shots": list(self.shots),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        return cls(int(data["index"]), int(data["start"]), int(data["stop"]),
                   tuple(int(s) for s in data["shots"]))  # fmt: skip


@dataclass(frozen=True)
class Part:
    """A finished segment's part file, as the journal records it."""

    index: int
    path: Path
    frames: int  # frames written (damaged source frames are skipped)
    offset: Fraction  # seconds its timestamps are moved by when copied into the output
    size: int
    sha256: str
    seconds: float = 0.0
    model_seconds: float = 0.0
    damaged: tuple[int, ...] = ()  # source frames that could not be decoded (skipped)
    corrupt: tuple[int, ...] = ()  # source frames decoded with concealed errors
    encoder_note: str = ""  # the part's writer's note on the hardware encoder, if asked for

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "file": self.path.name,
            "frames": self.frames,
            "offset": str(self.offset),
            "size": self.size,
            "sha256": self.sha256,
            "seconds": round(self.seconds, 3),
            "model_seconds": round(self.model_seconds, 3),
            "damaged": list(self.damaged),
            "corrupt": list(self.corrupt),
            "encoder_note": self.encoder_note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> Part:
        return cls(
            index=int(data["index"]),
            path=folder / str(data["file"]),
            frames=int(data["frames"]),
            offset=Fraction(str(data["offset"])),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            seconds=float(data.get("seconds", 0.0)),
            model_seconds=float(data.get("model_seconds", 0.0)),
            damaged=tuple(int(i) for i in data.get("damaged", ())),
            corrupt=tuple(int(i) for i in data.get("corrupt", ())),
            encoder_note=str(data.get("encoder_note", "")),
        )


def encoder_notes(parts: Sequence[Part]) -> list[str]:
    """The parts' notes on the hardware encoder, each once, in order."""
    return list(dict.fromkeys(p.encoder_note for p in parts if p.encoder_note))


def _files(path: Path) -> list[Path]:
    """A part's files: the file itself, or an image sequence part's frames, in order."""
    return sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]


def file_sha256(path: Path) -> str:
    """SHA-256 of a part file, or of an image sequence part's file names and contents."""
    digest = hashlib.sha256()
    folder = path.is_dir()
    for file in _files(path):
        if folder:
            digest.update(f"{file.name}\n".encode())
        with open(file, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def part_size(path: Path) -> int:
    """Bytes in a part file, or in an image sequence part's files."""
    return sum(f.stat().st_size for f in _files(path))


# ---------------------------------------------------------------------------------------
# Planning


def find_shots(
    film_path: Path,
    options: ColorizeOptions,
    *,
    start: int = 0,
    stop: int | None = None,
    cancel: CancelToken | None = None,
    frame_rate: Fraction | None = None,
) -> tuple[list[int], int]:
    """The first frame of every shot in ``[start, stop)`` (``start`` first) and the end of
    the range; one decode, the colorizer's detector fed exactly as an export feeds it."""
    with open_video(film_path, frame_rate=frame_rate) as reader:
        stop = reader.info.frame_count if stop is None else stop
        first: int | None = None
        cuts: list[int] = []
        detector = CutDetector(threshold=options.cut_threshold) if options.detects_cuts else None
        for position, frame in enumerate(reader.frames(start, stop)):
            if cancel is not None and position % 32 == 0:
                cancel.check()
            if first is None:
                first = frame.index
            if detector is not None:
                cut = detector.push(frame.gray(), frame.index)
                if cut is not None:
                    cuts.append(cut)
    if first is None:
        raise VideoReadError(f"{film_path}: no frame in the range {start}..{stop} could be decoded")
    return [start, *cuts], stop


def group_shots(
    shot_starts: Sequence[int], stop: int, *, target_frames: int = SEGMENT_FRAMES
) -> list[Segment]:
    """Whole shots grouped in order into segments of about ``target_frames`` frames."""
    if target_frames < 1:
        raise ValueError(f"target_frames must be at least 1, got {target_frames}")
    bounds = [*shot_starts, stop]
    segments: list[Segment] = []
    group: list[int] = []
    for lo, hi in itertools.pairwise(bounds):
        if group and hi - group[0] > target_frames:
            segments.append(Segment(len(segments), group[0], lo, tuple(group)))
            group = []
        group.append(lo)
    if group:
        segments.append(Segment(len(segments), group[0], stop, tuple(group)))
    return segments


def plan_segments(
    film_path: Path,
    options: ColorizeOptions,
    *,
    start: int = 0,
    stop: int | None = None,
    target_frames: int = SEGMENT_FRAMES,
    cancel: CancelToken | None = None,
    frame_rate: Fraction | None = None,
) -> list[Segment]:
    """Scan ``[start, stop)`` of the film for cuts and group its shots into segments."""
    begin = time.perf_counter()
    shot_starts, stop = find_shots(
        Path(film_path), options, start=start, stop=stop, cancel=cancel, frame_rate=frame_rate
    )
    segments = group_shots(shot_starts, stop, target_frames=target_frames)
    logger.info(
        "%s: %d shot(s) in %d segment(s), planned in %.1f s",
        Path(film_path).name, len(shot_starts), len(segments), time.perf_counter() - begin,
    )  # fmt: skip
    return segments


# ---------------------------------------------------------------------------------------
# Rendering one segment


def part_name(segment: Segment, destination: Path) -> str:
    """``part_0003.mkv``: a segment's part file, in the destination's container (for an
    image sequence the folder ``part_0003``, whatever the destination's extension)."""
    return f"part_{segment.index:04d}{Path(destination).suffix}"


def render_segment(
    session: ModelSession,
    film_path: Path,
    segment: Segment,
    options: ColorizeOptions,
    part_path: Path,
    cancel: CancelToken | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    codec: str,
    range_start: int | None = None,
    frame_rate: Fraction | None = None,
    guidance: GuidanceSource | None = None,
    hardware: bool = False,
    batcher: PassBatcher | None = None,
) -> Part:
    """Colorize ``segment`` into ``part_path`` (written atomically; no audio).

    ``options`` are the options as run (the source's matrix included, as ``colorize_file``
    sets it). Each shot is a fresh run with cut detection off, exactly as an uninterrupted
    run treats it. ``progress(n)`` is called with the frames done in this segment so far.
    ``range_start`` is the export's first frame (the part's time offset is measured from
    it; default the segment's start). ``hardware``: decode on NVDEC and encode H.264 on
    NVENC where they work here (``video/hardware.py``). ``batcher``: share the network's
    passes with segments rendered on other threads (``batching.py``). Raises ``Cancelled``
    (no part file is left).
    """
    begin = time.perf_counter()
    part_path = Path(part_path)
    shot_options = options.replace(cut_threshold=0.0)
    colorizer = Colorizer(session, batcher=batcher)
    membership = batcher.member() if batcher is not None else contextlib.nullcontext()
    with membership, open_video(film_path, frame_rate=frame_rate, hardware=hardware) as reader:
        info = reader.info
        origin = _frame_time(reader, info, segment.start if range_start is None else range_start)
        done = 0
        first_time: Fraction | None = None
        # Matroska keeps milliseconds, so its parts are timed from the export's first frame
        # (their timestamps are the final ones, rounded once); other containers keep the
        # writer's time base exactly, so parts start at 0 and are shifted when copied (an
        # MP4 starting later would round its start through an edit list).
        absolute = part_path.suffix.lower() in _MILLISECOND_CONTAINERS
        zero = origin
        with VideoWriter(
            part_path, codec=codec, source=info, matrix=options.matrix, audio_from=None,
            hardware=hardware,
        ) as writer:  # fmt: skip
            bounds = [*segment.shots, segment.stop]
            runs: list[ColorizeRun] = []

            def colorize(frames: Iterator[Frame]) -> ColorizeRun:
                runs.append(colorizer.run(frames, shot_options, cancel, guidance=guidance))
                return runs[-1]

            def write(frame: ColorFrame) -> None:  # on the writer thread (pipeline/stages.py)
                nonlocal first_time, zero
                if first_time is None:
                    first_time = frame.time
                    zero = origin if absolute else frame.time
                writer.write(frame.luma, frame.cb, frame.cr, time=frame.time - zero)

            shots = [partial(reader.frames, lo, hi) for lo, hi in itertools.pairwise(bounds)]
            done = run_stages(shots, colorize, write, cancel=cancel, progress=progress).written
            model_seconds = sum(run.report.model_seconds for run in runs)
            if cancel is not None:
                cancel.check()
            if done == 0 or first_time is None:
                raise VideoReadError(
                    f"{film_path}: no frame of segment {segment.index} "
                    f"({segment.start}..{segment.stop}) could be decoded"
                )
        part_path = writer.destination  # an image sequence's folder drops the extension
    part = Part(
        index=segment.index,
        path=part_path,
        frames=done,
        offset=Fraction(0) if absolute else first_time - origin,
        size=part_size(part_path),
        sha256=file_sha256(part_path),
        seconds=time.perf_counter() - begin,
        model_seconds=model_seconds,
        damaged=tuple(reader.damaged_frames),
        corrupt=tuple(reader.corrupt_frames),
        encoder_note=writer.encoder_note or "",
    )
    logger.info(
        "segment %d (%d..%d, %d shot(s)): %d frames in %.1f s",
        segment.index, segment.start, segment.stop, len(segment.shots), done, part.seconds,
    )  # fmt: skip
    return part


def _frame_time(reader: Any, info: VideoInfo, index: int) -> Fraction:
    """The time of the first decodable frame at or after ``index``."""
    for frame in reader.frames(index, info.frame_count):
        return Fraction(frame.time)
    raise VideoReadError(f"{info.path}: no frame at or after {index} could be decoded")


# ---------------------------------------------------------------------------------------
# Assembling


def assemble(
    parts: Sequence[Part],
    destination: Path,
    film: VideoInfo,
    options: ColorizeOptions,
    *,
    codec: str,
    start: int = 0,
    stop: int | None = None,
) -> tuple[Path, list[str]]:
    """Stream-copy ``parts`` (in order) into ``destination`` with the film's audio for
    ``[start, stop)``, its timecode and the options tag; written to a temporary file and
    renamed into place. Returns the path written and the writer's notes."""
    stop = film.frame_count if stop is None else stop
    if not parts:
        raise FlowChromaError(f"Cannot write {destination}: no segment was colorized")
    timecode = (
        offset_timecode(film.start_timecode, start, film.frame_rate)
        if film.start_timecode
        else None
    )
    with VideoWriter(
        destination,
        codec=codec,
        source=film,
        matrix=options.matrix,
        audio_from=film.path if film.audio else None,
        audio_start=Fraction(start) / film.frame_rate,
        audio_end=Fraction(stop) / film.frame_rate,
        timecode=timecode,
        metadata={OPTIONS_TAG: options.to_json()},
        template=parts[0].path,
    ) as writer:
        for part in parts:
            copied = writer.copy_part(part.path, offset=part.offset)
            if copied != part.frames:
                raise FlowChromaError(
                    f"{part.path}: holds {copied} frames, the journal says {part.frames}"
                )
        notes = list(writer.notes)
    return writer.destination, notes
