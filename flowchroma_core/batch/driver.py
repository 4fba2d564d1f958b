"""What every way of running a batch shares: the request, the queue of films that prepares
them one at a time (a film that cannot start is failed or skipped, the others go on),
and the end of each film (assembled, failed or left to resume).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction

from flowchroma_core.batch.films import BatchFilm
from flowchroma_core.batch.report import BatchProgress, FilmOutcome
from flowchroma_core.batch.work import FilmWork
from flowchroma_core.errors import Cancelled, CancelToken, FlowChromaError
from flowchroma_core.pipeline.export import OutputExistsError
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.segments import SEGMENT_FRAMES, Part

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchRequest:
    """The films and how to make them; the same for every film of the batch."""

    films: tuple[BatchFilm, ...]
    options: ColorizeOptions
    codec: str
    overwrite: bool = False
    restart: bool = False
    segment_frames: int = SEGMENT_FRAMES
    frame_rate: Fraction | None = None
    hardware_video: bool = False  # NVDEC/NVENC where they work on the machine rendering


@dataclass
class BatchResult:
    """Every film's outcome, in the order asked; ``cancelled`` when Ctrl+C stopped it."""

    outcomes: list[FilmOutcome]
    seconds: float
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[FilmOutcome]:
        return [o for o in self.outcomes if o.failed]


def describe(error: BaseException) -> str:
    """One line: a ``FlowChromaError``'s own message, else the type and message."""
    if isinstance(error, FlowChromaError | OSError | ValueError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class FilmQueue:
    """Prepares the request's films in order and keeps every film's outcome."""

    def __init__(
        self,
        request: BatchRequest,
        *,
        model: str,
        progress: BatchProgress,
        cancel: CancelToken | None = None,
    ) -> None:
        self.request = request
        self.model = model
        self.progress = progress
        self.cancel = cancel
        self.outcomes = [FilmOutcome(f.source, output=f.destination) for f in request.films]
        self._next = 0
        self.open: dict[int, FilmWork] = {}  # prepared, not finished, by position
        self.begin = time.perf_counter()

    def has_more(self) -> bool:
        return self._next < len(self.request.films)

    def next_work(self, *, plan: bool = True) -> tuple[int, FilmWork] | None:
        """Prepare the next film that can start; None when none is left. ``plan=False``:
        a new film is left for the caller to plan (``FilmWork.needs_plan``)."""
        request = self.request
        while self._next < len(request.films):
            position = self._next
            self._next += 1
            film = request.films[position]
            try:
                work = FilmWork.prepare(
                    film, options=request.options, codec=request.codec, model=self.model,
                    overwrite=request.overwrite, restart=request.restart,
                    segment_frames=request.segment_frames, cancel=self.cancel,
                    frame_rate=request.frame_rate, plan=plan, hardware=request.hardware_video,
                )  # fmt: skip
            except (Cancelled, KeyboardInterrupt):
                self._next = position  # not started: reported as cancelled
                raise
            except OutputExistsError as error:
                self._close(position, "skipped", str(error).split(";")[0] + " (--overwrite)")
                continue
            except Exception as error:
                logger.info("%s: cannot start", film.source, exc_info=True)  # the log file
                logger.warning("%s: cannot start: %s", film.source, describe(error))
                self._close(position, "failed", describe(error))
                continue
            self.outcomes[position] = work.outcome
            self.open[position] = work
            journal = work.journal
            done = journal.done.values() if journal is not None else ()
            self.progress.planned(
                work.outcome.frames, 0 if work.needs_plan else work.outcome.segments,
                done_frames=sum(p.frames for p in done), done_segments=len(done),
            )  # fmt: skip
            logger.info("%s: %d segment(s) to colorize", film.name, len(work.pending()))
            return position, work
        return None

    def record(self, position: int, part: Part) -> None:
        self.open[position].record(part)
        self.progress.segment_done(part.frames)

    def complete(self, position: int) -> None:
        """All of a film's segments are recorded: assemble it (a failure fails this film)."""
        work = self.open.pop(position)
        try:
            work.finish()
        except Exception as error:
            self._fail_work(position, work, error)
            return
        self.progress.film_done()
        logger.info("%s: done, %s", work.film.name, work.outcome.output)

    def fail(self, position: int, error: BaseException) -> None:
        """A film's segment failed for good: the film fails, its journal stays to resume."""
        work = self.open.pop(position, None)
        if work is not None:
            self._fail_work(position, work, error)

    def stop(self) -> None:
        """Cancelled: every open film keeps its journal; films not started are cancelled."""
        for position, work in list(self.open.items()):
            work.abandon()
            work.outcome.result = "cancelled"
            work.outcome.seconds = time.perf_counter() - work.begin
            self.open.pop(position)
        for outcome in self.outcomes:
            if outcome.result == "waiting":
                outcome.result = "cancelled"

    def result(self, *, cancelled: bool = False) -> BatchResult:
        return BatchResult(self.outcomes, time.perf_counter() - self.begin, cancelled)

    def _fail_work(self, position: int, work: FilmWork, error: BaseException) -> None:
        logger.info("%s: failed", work.film.source, exc_info=error)  # the log file
        logger.warning("%s: failed: %s", work.film.source, describe(error))
        work.abandon()
        outcome = work.outcome
        outcome.result = "failed"
        outcome.message = describe(error)
        outcome.seconds = time.perf_counter() - work.begin
        left = work.outcome.frames - sum(p.frames for p in work.journal.done.values()) \
            if work.journal is not None else work.outcome.frames  # fmt: skip
        self.progress.film_done(frames_left=left)

    def _close(self, position: int, result: str, message: str) -> None:
        outcome = self.outcomes[position]
        outcome.result = result  # type: ignore[assignment]
        outcome.message = message
        self.progress.film_done()
