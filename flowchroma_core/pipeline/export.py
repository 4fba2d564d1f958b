"""Colorize a film (or a range of it) into a new file: the main job, for the CLI and the GUI.

Reading, colorizing and writing are streamed, so memory is bounded by one clip. The output
is written to a temporary file beside the destination and renamed only on success: a
failure or a cancel leaves the destination as it was. The options, with the source's luma
matrix, are recorded in the result (and in the file's metadata where the format has any).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from flowchroma_core.errors import CancelToken, FlowChromaError, VideoReadError
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.colorizer import Colorizer
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import VideoInfo, luma_matrix, open_video
from flowchroma_core.video.timecode import offset_timecode
from flowchroma_core.video.writer import VideoWriter, check_destination, codec_for_path

logger = logging.getLogger(__name__)

OPTIONS_TAG = "flowchroma_options"
"""The container tag that records the ``ColorizeOptions`` of an export, as JSON."""


@dataclass(frozen=True)
class Progress:
    """Frames done of total, with the rate so far and the time left."""

    done: int
    total: int
    elapsed: float

    @property
    def fps(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, or None before the rate is known."""
        return (self.total - self.done) / self.fps if self.done and self.fps > 0 else None


@dataclass
class ExportResult:
    """What an export produced, for the user and for tests."""

    output: Path
    frames: int
    seconds: float
    options: ColorizeOptions  # as run: the source's matrix included
    notes: list[str] = field(default_factory=list)
    damaged_frames: list[int] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)
    model_seconds: float = 0.0


def colorize_file(
    source: Path,
    destination: Path,
    *,
    options: ColorizeOptions,
    session: ModelSession | None = None,
    codec: str | None = None,
    start: int = 0,
    stop: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
    frame_rate: Fraction | None = None,
) -> ExportResult:
    """Colorize frames ``[start, stop)`` of ``source`` into ``destination``.

    ``session`` is the loaded model (loaded from ``options`` when None). The source's luma
    matrix replaces ``options.matrix``. Raises ``Cancelled`` when ``cancel`` is set
    (nothing is left at the destination) and ``FlowChromaError`` subclasses for problems
    the user can act on.
    """
    source, destination = Path(source), Path(destination)
    codec = codec or codec_for_path(destination)
    begin = time.perf_counter()
    with open_video(source, frame_rate=frame_rate) as reader:
        info = reader.info
        stop = info.frame_count if stop is None else stop
        check_export(info, destination, codec=codec, start=start, stop=stop)
        options = options.replace(matrix=luma_matrix(info))
        if session is None:
            session = ModelSession.load(
                options.model, device=options.device, precision=options.precision
            )
        first_time = None
        timecode = (
            offset_timecode(info.start_timecode, start, info.frame_rate)
            if info.start_timecode
            else None
        )
        audio_start = Fraction(start) / info.frame_rate
        audio_end = Fraction(stop) / info.frame_rate
        done = 0
        run = Colorizer(session).run(reader.frames(start, stop), options, cancel)
        with VideoWriter(
            destination,
            codec=codec,
            source=info,
            matrix=options.matrix,
            audio_from=source if info.audio else None,
            audio_start=audio_start,
            audio_end=audio_end,
            timecode=timecode,
            metadata={OPTIONS_TAG: options.to_json()},
        ) as writer:
            for frame in run:
                if first_time is None:
                    first_time = frame.time
                writer.write(frame.luma, frame.cb, frame.cr, time=frame.time - first_time)
                done += 1
                if on_progress is not None:
                    on_progress(Progress(done, stop - start, time.perf_counter() - begin))
            if cancel is not None:
                cancel.check()  # a cancel after the last clip still discards the output
            if done == 0:
                raise VideoReadError(
                    f"{source}: no frame in the range {start}..{stop} could be decoded"
                )
            notes = list(writer.notes)
        written = writer.destination  # a folder for image sequences
    damaged = list(reader.damaged_frames)
    if damaged:
        notes.append(
            f"{len(damaged)} damaged frame(s) could not be decoded and were skipped: {damaged[:10]}"
        )
    if corrupt := list(reader.corrupt_frames):
        notes.append(
            f"{len(corrupt)} frame(s) decoded with errors the decoder concealed; "
            f"check them by eye: {corrupt[:10]}"
        )
    result = ExportResult(
        output=written,
        frames=done,
        seconds=time.perf_counter() - begin,
        options=options,
        notes=notes,
        damaged_frames=damaged,
        cuts=list(run.report.cuts),
        model_seconds=run.report.model_seconds,
    )
    logger.info("exported %d frames to %s in %.1f s", done, written, result.seconds)
    return result


def check_export(
    info: VideoInfo,
    destination: Path,
    *,
    codec: str | None = None,
    start: int = 0,
    stop: int | None = None,
) -> Path:
    """Refuse a bad range or destination at once, before slow work such as loading a model.

    Returns the path the export will produce (a folder for image sequences).
    """
    _check_range(info, start, info.frame_count if stop is None else stop)
    return check_destination(
        destination, codec=codec, source=info, audio_from=info.path if info.audio else None
    )


def _check_range(info: VideoInfo, start: int, stop: int) -> None:
    n = info.frame_count
    if not (0 <= start < n and 0 < stop <= n):
        raise FlowChromaError(
            f"{info.path}: range {start}..{stop} is outside the film's {n} frames"
        )
    if start >= stop:
        raise FlowChromaError(
            f"{info.path}: range {start}..{stop} is empty; the end must come after the start"
        )
