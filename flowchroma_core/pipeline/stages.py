"""Decode, model and encode overlapped: a reader thread, the calling thread, a writer thread.

An export is three stages in a row. ``Stages`` runs the decoding (PyAV, plus whatever the
caller asks to prepare per frame) on a reader thread and the encoding and muxing on a
writer thread, while the model runs on the calling thread; bounded queues join them, so at
most ``depth`` (``write_depth``) frames wait between two stages and memory stays flat
however long the film.
PyAV and torch release the GIL inside their heavy calls (``benchmarks/gil_overlap.py``
measures it), so the three overlap.

The guarantees of the serial export are kept:

* order: frames reach the writer in the order the colorizer yields them, from one thread;
* errors: the first error of any stage stops all three, and the error raised in the calling
  thread names the stage (``decode``, ``model`` or ``encode``): a ``FlowChromaError`` keeps
  its class with the stage put in front of its message, anything else becomes a
  ``StageError``; the original is chained as the cause (and so in the log);
* cancel: ``Cancelled`` is raised as it is (never renamed), and stops all three;
* nothing half-written: the output stays the caller's (``VideoWriter`` in a ``with``), which
  commits only when the writer thread has drained without error; every helper thread is
  joined before ``Stages`` is left, on success, error and cancel alike.

``overlap=False`` runs the same three stages in series on the calling thread (the switch the
benchmarks use to compare, and the fallback where threads are unwanted): the output is the
same frame for frame.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, Literal, TypeVar

from flowchroma_core.errors import Cancelled, CancelToken, FlowChromaError

logger = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F")  # a decoded frame
C = TypeVar("C")  # a colorized frame
Stage = Literal["decode", "model", "encode"]
STAGES: tuple[Stage, ...] = ("decode", "model", "encode")

DEFAULT_DEPTH = 24
"""Decoded frames that may wait for the model: a window and a half of the default 16."""

WRITE_DEPTH = 8
"""Colorized frames that may wait for the writer: their chroma is float32 at full size
(66 MB a frame at 4K), so fewer wait here than decoded lumas (8 MB at 4K) wait above."""

_overlap = True  # the default of Stages(overlap=None); benchmarks switch it with serial()

_POLL = 0.05  # seconds between looks at the stop flag while a queue is full or empty
_JOIN_WARNING = 30.0  # seconds before a helper thread slow to stop is logged


class StageError(FlowChromaError):
    """A stage failed with an error that was not already a ``FlowChromaError``."""

    stage: str = ""


def name_stage(error: BaseException, stage: Stage) -> BaseException:
    """``error`` with its message naming ``stage``; already named errors, cancels and
    interruptions (Ctrl+C, the CLI's termination signals: not ``Exception``s) pass."""
    if (
        isinstance(error, Cancelled)
        or not isinstance(error, Exception)
        or getattr(error, "stage", None)
    ):
        return error
    if isinstance(error, FlowChromaError):
        message = f"{stage} stage: {error}"
        try:
            named: BaseException = type(error)(message)
        except Exception:  # a subclass with another constructor
            named = StageError(message)
    else:
        named = StageError(f"{stage} stage failed: {type(error).__name__}: {error}")
    named.stage = stage  # type: ignore[attr-defined]
    named.__cause__ = error
    return named


@contextlib.contextmanager
def serial() -> Iterator[None]:
    """Run every export in this process without helper threads while inside (benchmarks
    compare the two; the output is the same)."""
    global _overlap
    previous, _overlap = _overlap, False
    try:
        yield
    finally:
        _overlap = previous


def run_stages(
    parts: Iterable[Callable[[], Iterable[F]]],
    colorize: Callable[[Iterator[F]], Iterable[C]],
    write: Callable[[C], None],
    *,
    cancel: CancelToken | None = None,
    progress: Callable[[int], None] | None = None,
    prepare: Callable[[F], F] | None = None,
    overlap: bool | None = None,
    name: str = "export",
) -> Stages:
    """Decode each of ``parts`` (callables giving the frames of a shot, a range...), pass
    each part's frames through ``colorize`` and every colorized frame to ``write``, the
    three overlapped; ``progress(n)`` after each frame written. Returns the finished
    ``Stages`` (``seconds`` per stage); raises the first error named for its stage."""
    with Stages(cancel, overlap=overlap, name=name) as stages:
        sink = stages.write(write)
        for frames in stages.read(parts, prepare=prepare):
            for item in stages.model(colorize(frames)):
                sink.put(item)
                sink.report(progress)
        sink.finish()
        sink.report(progress)
    return stages


class _End:
    """The end of one part of the read (or of the writes)."""


_END = _End()


class Stages:
    """The helper threads of one export; use as a context manager around the whole run.

    ``read`` hands back frames decoded on the reader thread, ``write`` hands frames to the
    writer thread; ``model`` wraps the colorizer's iteration so that its errors are named
    too. Leaving the block stops and joins every thread; leaving it with an error raises
    that error named for its stage.
    """

    def __init__(
        self,
        cancel: CancelToken | None = None,
        *,
        overlap: bool | None = None,
        depth: int = DEFAULT_DEPTH,
        write_depth: int = WRITE_DEPTH,
        name: str = "export",
    ) -> None:
        if depth < 1 or write_depth < 1:
            raise ValueError(
                f"depth and write_depth must be at least 1, got {depth}, {write_depth}"
            )
        self.cancel = cancel
        self.overlap = _overlap if overlap is None else overlap
        self.depth = depth
        self.write_depth = write_depth
        self.name = name
        self.seconds: dict[Stage, float] = dict.fromkeys(STAGES, 0.0)  # busy time per stage
        self.written = 0  # frames the writer stage has finished with
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None  # the first error of a helper thread
        self._lock = threading.Lock()

    # -- the three stages -----------------------------------------------------------------

    def read(
        self,
        parts: Iterable[Callable[[], Iterable[T]]],
        *,
        prepare: Callable[[T], T] | None = None,
    ) -> Iterator[Iterator[T]]:
        """Decode ``parts`` one after another (each a callable returning the frames of one
        part, e.g. one shot) on one reader thread; yields one iterator per part, to be read
        to its end in order. ``prepare`` runs on the reader thread for every frame."""
        if not self.overlap:
            for part in parts:
                yield self._serial_part(part, prepare)
            return
        q: queue.Queue[object] = queue.Queue(maxsize=self.depth)
        self._start("decode", self._reader_loop, parts, prepare, q)
        while True:
            head = self._get(q)
            if head is _END:
                return
            yield self._part_from(q)

    def model(self, frames: Iterable[T]) -> Iterator[T]:
        """The colorizer's frames, with its errors (and the reader's) named for their stage."""
        iterator = iter(frames)
        while True:
            begin = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            except BaseException as error:
                self._stop.set()
                named = name_stage(error, "model")
                if named is error:
                    raise
                raise named from error
            finally:
                self.seconds["model"] += time.perf_counter() - begin
            yield item

    def write(self, consume: Callable[[T], None]) -> Sink[T]:
        """A sink whose ``put`` hands frames to ``consume`` on the writer thread, in order."""
        return Sink(self, consume)

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> Stages:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if exc is None:
            self.raise_error()

    def close(self) -> None:
        """Stop every helper thread and wait for it; safe to call twice."""
        self._stop.set()
        for thread in self._threads:
            try:
                thread.join(_JOIN_WARNING)
            except RuntimeError:  # never started: a signal landed between append and start
                continue
            if thread.is_alive():
                logger.warning("%s: thread %s is slow to stop; waiting", self.name, thread.name)
                thread.join()
        self._threads.clear()

    def raise_error(self) -> None:
        """Raise the first error of a helper thread, named for its stage, if there was one."""
        if self._error is not None:
            error = self._error
            raise error from error.__cause__

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- helpers --------------------------------------------------------------------------

    def _start(self, stage: Stage, target: Callable[..., None], *args: object) -> None:
        def body() -> None:
            try:
                target(*args)
            except BaseException as error:
                with self._lock:
                    if self._error is None and not isinstance(error, Cancelled):
                        self._error = name_stage(error, stage)
                        logger.debug("%s: the %s stage failed", self.name, stage, exc_info=True)
                self._stop.set()

        thread = threading.Thread(target=body, name=f"{self.name}-{stage}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _check(self) -> None:
        """Raise the cancel, or a helper's error, in the calling thread."""
        if self.cancel is not None:
            self.cancel.check()
        self.raise_error()
        if self._stop.is_set():
            raise Cancelled(f"{self.name} was stopped")

    def _put(self, q: queue.Queue[object], item: object) -> bool:
        """Put from a helper thread; False when the stages are stopping."""
        while not self._stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue[object]) -> object:
        """Get in the calling thread, raising a cancel or a helper's error meanwhile."""
        while True:
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                self._check()

    def _reader_loop(
        self,
        parts: Iterable[Callable[[], Iterable[T]]],
        prepare: Callable[[T], T] | None,
        q: queue.Queue[object],
    ) -> None:
        for part in parts:
            if not self._put(q, part):  # a part starts
                return
            frames = iter(part())
            try:
                while not self._stop.is_set():
                    if self.cancel is not None and self.cancel.cancelled:
                        return
                    begin = time.perf_counter()
                    frame = next(frames, _END)
                    if frame is not _END and prepare is not None:
                        frame = prepare(frame)  # type: ignore[arg-type]
                    self.seconds["decode"] += time.perf_counter() - begin
                    if not self._put(q, frame) or frame is _END:
                        break
            finally:
                close = getattr(frames, "close", None)
                if close is not None:
                    close()  # the container is released on this thread
            if self._stop.is_set():
                return
        self._put(q, _END)

    def _part_from(self, q: queue.Queue[object]) -> Iterator[T]:
        while True:
            item = self._get(q)
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def _serial_part(
        self, part: Callable[[], Iterable[T]], prepare: Callable[[T], T] | None
    ) -> Iterator[T]:
        """One part read on the calling thread, its errors named ``decode``."""
        try:
            frames = iter(part())
        except BaseException as error:
            raise name_stage(error, "decode") from error
        try:
            while True:
                begin = time.perf_counter()
                try:
                    frame = next(frames)
                    if prepare is not None:
                        frame = prepare(frame)
                except StopIteration:
                    return
                except BaseException as error:
                    raise name_stage(error, "decode") from error
                finally:
                    self.seconds["decode"] += time.perf_counter() - begin
                yield frame
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()


class Sink(Generic[T]):
    """The writer stage: ``put`` frames in order, then ``finish`` (which waits for them)."""

    def __init__(self, stages: Stages, consume: Callable[[T], None]) -> None:
        self._stages = stages
        self._consume = consume
        self.written = 0  # frames the writer has finished with
        self._reported = 0
        self._finished = False
        self._queue: queue.Queue[object] | None = None
        if stages.overlap:
            self._queue = queue.Queue(maxsize=stages.write_depth)
            stages._start("encode", self._loop)

    def put(self, item: T) -> None:
        """Hand one frame to the writer; blocks while ``write_depth`` frames are waiting."""
        stages = self._stages
        stages._check()
        if self._queue is None:
            self._run(item, named=True)
            return
        while True:
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                stages._check()

    def finish(self) -> None:
        """Wait until every frame put is written; raises the writer's error if it failed."""
        if self._finished:
            return
        self._finished = True
        if self._queue is None:
            return
        stages = self._stages
        while True:
            stages._check()
            try:
                self._queue.put(_END, timeout=_POLL)
                break
            except queue.Full:
                continue
        for thread in stages._threads:
            if thread.name.endswith("-encode"):
                while thread.is_alive():
                    thread.join(_POLL)
                    if stages.cancel is not None:
                        stages.cancel.check()
        stages.raise_error()

    def report(self, callback: Callable[[int], None] | None) -> None:
        """Call ``callback(n)`` on the calling thread for each frame written since the last
        report, in order (progress comes from the calling thread only)."""
        while self._reported < self.written:
            self._reported += 1
            if callback is not None:
                callback(self._reported)

    def _run(self, item: T, *, named: bool) -> None:
        begin = time.perf_counter()
        try:
            self._consume(item)
        except BaseException as error:
            if not named:
                raise
            raise name_stage(error, "encode") from error
        finally:
            self._stages.seconds["encode"] += time.perf_counter() - begin
        self.written += 1
        self._stages.written += 1

    def _loop(self) -> None:
        assert self._queue is not None
        stages = self._stages
        while True:
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if stages.stopping:
                    return
                continue
            if item is _END or stages.stopping:
                return
            self._run(item, named=False)  # type: ignore[arg-type]
