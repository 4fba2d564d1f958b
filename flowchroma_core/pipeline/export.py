"""Colorize a film (or a range of it) into a new file: the main job, for the CLI and the GUI.

Reading, colorizing and writing are streamed, so memory is bounded by one clip. The output
is written to a temporary file beside the destination and renamed only on success: a
failure or a cancel leaves the destination as it was. The options, with the source's luma
matrix, are recorded in the result (and in the file's metadata where the format has any).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from flowchroma_core.errors import CancelToken, FlowChromaError
from flowchroma_core.fileio import current_umask
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.batching import BatchStats, PassBatcher
from flowchroma_core.pipeline.guided import GuidanceSource
from flowchroma_core.pipeline.journal import (
    Journal,
    JournalMismatchError,
    WorkFolder,
    finished_segments,
    model_identity,
)
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.segments import (
    SEGMENT_FRAMES,
    Part,
    Segment,
    assemble,
    encoder_notes,
    part_name,
    plan_segments,
    render_segment,
)
from flowchroma_core.video.fields import FIELD_ORDER_WORDS, interlaced_field_order
from flowchroma_core.video.reader import VideoInfo, luma_matrix, open_video
from flowchroma_core.video.writer import check_destination, codec_for_path

logger = logging.getLogger(__name__)


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
    segments: int = 1  # segments the export was made in
    resumed_frames: int = 0  # frames taken from an earlier, interrupted run
    batching: BatchStats | None = None  # how full the batches were (shot_batch > 1 only)


class OutputExistsError(FlowChromaError):
    """The destination exists and the caller did not say to replace it."""


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
    overwrite: bool = False,
    restart: bool = False,
    segment_frames: int = SEGMENT_FRAMES,
    guidance: GuidanceSource | None = None,
    hardware_video: bool = False,
    shot_batch: int = 1,
) -> ExportResult:
    """Colorize frames ``[start, stop)`` of ``source`` into ``destination``.

    ``session`` is the loaded model (loaded from ``options`` when None). The source's luma
    matrix replaces ``options.matrix``. An existing destination is replaced only with
    ``overwrite``. Video files are made segment by segment (``segments``) in the work
    folder ``.NAME.parts/`` beside the destination, with a journal: running the same
    export again after a crash or a cancel resumes at the first unfinished segment
    (``restart`` discards what was done). Raises ``Cancelled`` when ``cancel`` is set
    (nothing appears at the destination; finished segments stay for a resume),
    ``DestinationBusyError`` while another export writes there, ``JournalMismatchError`` for an
    unfinished export of other settings, and other ``FlowChromaError`` subclasses for
    problems the user can act on. ``hardware_video``: decode on NVDEC and encode H.264 on
    NVENC where they work here, in software otherwise; the notes say which.
    ``shot_batch``: render up to this many segments at once, their network passes batched
    together (``render_side_by_side``): for a GPU that one shot's passes leave idle.
    """
    source, destination = Path(source), Path(destination)
    codec = codec or codec_for_path(destination)
    begin = time.perf_counter()
    with open_video(source, frame_rate=frame_rate) as reader:
        info = reader.info
    stop = info.frame_count if stop is None else stop
    written = check_export(info, destination, codec=codec, start=start, stop=stop)
    check_overwrite(written, overwrite=overwrite)
    options = options.replace(matrix=luma_matrix(info))
    check_memory(info, options)
    if order := interlaced_field_order(source):
        logger.warning(
            "%s is interlaced (%s): colorized as progressive frames; the output keeps the "
            "field order tag", source.name, FIELD_ORDER_WORDS[order],
        )  # fmt: skip
    if session is None:
        session = ModelSession.load(
            options.model, device=options.device, precision=options.precision
        )
    work = WorkFolder(destination).acquire()
    try:
        if restart:
            work.clear()
        key = Journal.make_key(
            film=source, options=options, model=model_identity(session), codec=codec,
            start=start, stop=stop, frame_rate=None if frame_rate is None else str(frame_rate),
            guidance=None if guidance is None else guidance.revision, hardware=hardware_video,
        )  # fmt: skip
        journal = Journal.load(work.path, key)
        if journal is None:
            segments = plan_segments(
                source, options, start=start, stop=stop, target_frames=segment_frames,
                cancel=cancel, frame_rate=frame_rate,
            )  # fmt: skip
            journal = Journal(work.path, key, segments)
            journal.save()
        resumed = sum(p.frames for p in journal.done.values())
        if journal.done:
            logger.warning(
                "resuming %s: %d of %d segment(s) already done (%d frames), %d to colorize",
                destination.name, len(journal.done), len(journal.segments), resumed,
                len(journal.pending()),
            )  # fmt: skip
        counts: dict[int, int] = {}  # frames done per segment rendering now
        lock = threading.Lock()

        def render(segment: Segment, stop_all: CancelToken | None, batcher=None) -> Part:
            def progress(n: int) -> None:
                with lock:
                    counts[segment.index] = n
                    done = resumed + sum(counts.values())
                if on_progress is not None:
                    on_progress(Progress(done, stop - start, time.perf_counter() - begin))

            return render_segment(
                session, source, segment, options, work.path / part_name(segment, destination),
                stop_all, progress, codec=codec, range_start=start, frame_rate=frame_rate,
                guidance=guidance, hardware=hardware_video, batcher=batcher,
            )  # fmt: skip

        batching = None
        if shot_batch > 1 and len(journal.pending()) > 1:
            batching = render_side_by_side(journal, render, shot_batch, session, cancel)
        else:
            for segment in journal.pending():
                journal.finish(render(segment, cancel))
        if cancel is not None:
            cancel.check()
        parts = journal.parts()
        output, notes = assemble(
            parts, destination, info, options, codec=codec, start=start, stop=stop
        )
    except BaseException as error:
        if not isinstance(error, JournalMismatchError) and not finished_segments(work.path):
            work.remove()  # nothing to resume from
        else:
            work.release()
        raise
    work.remove()
    apply_umask(output)
    damaged = sorted(i for p in parts for i in p.damaged)
    corrupt = sorted(i for p in parts for i in p.corrupt)
    notes.extend(encoder_notes(parts))
    _note_damage(notes, damaged, corrupt)
    frames = sum(p.frames for p in parts)
    result = ExportResult(
        output=output,
        frames=frames,
        seconds=time.perf_counter() - begin,
        options=options,
        notes=notes,
        damaged_frames=damaged,
        cuts=[shot for s in journal.segments for shot in s.shots if shot != start],
        model_seconds=sum(p.model_seconds for p in parts),
        segments=len(journal.segments),
        resumed_frames=resumed,
        batching=batching,
    )
    logger.info(
        "exported %d frames to %s in %.1f s (%d resumed)", frames, output, result.seconds, resumed
    )
    return result


def render_side_by_side(
    journal: Journal,
    render: Callable[..., Part],
    width: int,
    session: ModelSession,
    cancel: CancelToken | None,
) -> BatchStats:
    """Render the journal's pending segments ``width`` at a time on as many threads, their
    passes gathered by one ``PassBatcher``: ``render(segment, stop_all, batcher)`` makes a
    segment's part. Each finished part is journaled at once (a crash keeps it); the first
    error stops the others and is raised once all have stopped. Returns how full the
    batches were."""
    batcher = PassBatcher(session)
    stop_all = CancelToken()
    if cancel is not None:
        cancel.on_cancel(stop_all.cancel)
    error: BaseException | None = None
    with ThreadPoolExecutor(width, thread_name_prefix="segment") as pool:
        futures = [pool.submit(render, s, stop_all, batcher) for s in journal.pending()]
        try:
            for future in as_completed(futures):
                journal.finish(future.result())
        except BaseException as exc:
            error = exc
            stop_all.cancel()
            for future in futures:
                future.cancel()
    if error is not None:
        # ``as_completed`` yields the futures already done in no set order, so an error
        # can be seen before a part that finished first: journal every finished part
        # (the pool has joined) so that a resume keeps it, then raise.
        try:
            for future in futures:
                if future.done() and not future.cancelled() and future.exception() is None:
                    journal.finish(future.result())
        except OSError as exc:  # the journal itself cannot be written: the first error counts
            logger.warning("finished parts could not be journaled: %s", exc)
        raise error
    stats = batcher.stats
    logger.info(
        "%d segment(s) side by side, %d at a time: %d passes in %d batches (mean %.2f, "
        "largest %d)", len(futures), width, stats.requests, stats.batches, stats.mean,
        stats.largest,
    )  # fmt: skip
    return stats


def _note_damage(notes: list[str], damaged: list[int], corrupt: list[int]) -> None:
    if damaged:
        notes.append(
            f"{len(damaged)} damaged frame(s) could not be decoded and were skipped: {damaged[:10]}"
        )
    if corrupt:
        notes.append(
            f"{len(corrupt)} frame(s) decoded with errors the decoder concealed; "
            f"check them by eye: {corrupt[:10]}"
        )


def check_overwrite(output: Path, *, overwrite: bool) -> None:
    """Refuse to replace an existing file or folder unless ``overwrite`` says so."""
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} already exists; use --overwrite to replace it")


def apply_umask(path: Path) -> None:
    """Give a finished output the permissions the user's umask asks for (temporary files
    are created 0600, folders 0700): files ``0o666 & ~umask``, folders ``0o777 & ~umask``."""
    umask = current_umask()
    if path.is_dir():
        path.chmod(0o777 & ~umask)
        for entry in path.iterdir():
            if entry.is_file():
                entry.chmod(0o666 & ~umask)
    elif path.exists():
        path.chmod(0o666 & ~umask)


def check_memory(info: VideoInfo, options: ColorizeOptions) -> None:
    """Refuse frames too large for the memory available, before anything slow starts.

    The colorizer holds a window (plus two frames read ahead) of full-size frames, each as
    the source's luma, a float grey image and its model input, and makes float a*b*, RGB
    and chroma planes for one frame at a time: about 40 bytes per pixel per held frame.
    """
    available = available_memory()
    if available is None:
        return
    pixels = info.width * info.height
    need = pixels * (40 * (options.window_frames + 2) + 64)
    if need > available:
        gib = 1 << 30
        raise FlowChromaError(
            f"{info.path}: frames of {info.width}x{info.height} need about {need / gib:.1f} GiB "
            f"with windows of {options.window_frames} frames, but only {available / gib:.1f} GiB "
            "of memory is free; use a smaller --window-frames or close other programs"
        )


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``; free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


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
