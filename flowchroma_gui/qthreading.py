"""The one module that owns threads: generator workers and latest-request threads.

Two kinds of background work, after superqt and Qt's Mandelbrot example:

* ``GeneratorWorker``: a job function run once on a thread pool. A generator job yields
  progress (``yielded``), its return value is ``returned``; a plain function may report
  progress through ``ctx.report``. Cancelling is cooperative: ``ctx`` is checked between
  yields and by the core's own cancel checks; an aborted worker emits ``aborted`` and
  never ``returned``. Exceptions are logged with their traceback and emitted as
  ``errored``.
* ``LatestRequestThread``: one long-lived thread serving requests where only the latest
  one counts (decoding the frame to show, colorizing the preview). A new request cancels
  the one running; stale results are never emitted.

Every job receives a ``JobContext`` as its first argument. ``WorkerManager`` starts them,
connects their signals and, on shutdown, cancels everything and waits. Signals carry plain
data; nothing here touches torch or PyAV itself.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot

from flowchroma_core.errors import Cancelled, CancelToken
from flowchroma_gui.notifications import notification_manager

logger = logging.getLogger(__name__)

_live_lock = threading.Lock()
_live: set[object] = set()  # every worker and thread not yet finished, for tests and shutdown


def live_workers() -> list[object]:
    """Workers and threads that have not finished yet (tests check this is empty)."""
    with _live_lock:
        return list(_live)


class JobContext(CancelToken):
    """Handed to every job: the core's cancel protocol (it is a ``CancelToken``, so jobs
    pass it straight to the core) plus progress reports to the GUI."""

    def __init__(self, report: Callable[[object], None] | None = None) -> None:
        super().__init__()
        self._report = report

    def report(self, value: object) -> None:
        """Send a progress value to the GUI now (for jobs that are not generators)."""
        if self._report is not None and not self.cancelled:
            self._report(value)


class WorkerSignals(QObject):
    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    aborted = Signal()
    finished = Signal()


class GeneratorWorker(QRunnable):
    """Runs ``func(ctx, *args, **kwargs)`` once on a pool thread; see the module docstring."""

    def __init__(self, func: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python keeps it alive until ``finished`` is handled
        self.signals = WorkerSignals()
        self.name = name or getattr(func, "__name__", "job")
        self.ctx = JobContext(report=self.signals.yielded.emit)
        self._func = func
        self._args = args
        self._kwargs = kwargs
        self.is_running = False
        self.is_finished = False

    def quit(self) -> None:
        """Ask the job to stop at its next check; it then emits ``aborted``."""
        logger.debug("cancelling %s", self.name)
        self.ctx.cancel()

    def run(self) -> None:
        self.is_running = True
        self.signals.started.emit()
        try:
            result = self._func(self.ctx, *self._args, **self._kwargs)
            if inspect.isgenerator(result):
                result = self._drive(result)
            if self.ctx.cancelled:
                logger.info("%s stopped: cancelled", self.name)
                self.signals.aborted.emit()
            else:
                self.signals.returned.emit(result)
        except Cancelled:
            logger.info("%s stopped: cancelled", self.name)
            self.signals.aborted.emit()
        except Exception as exc:
            if self.ctx.cancelled:
                logger.warning("%s failed while cancelling", self.name, exc_info=exc)
                self.signals.aborted.emit()
            else:
                logger.error("%s failed", self.name, exc_info=exc)
                self.signals.errored.emit(exc)
        finally:
            self.is_running = False
            self.is_finished = True
            with _live_lock:
                _live.discard(self)
            self.signals.finished.emit()

    def _drive(self, generator: Iterator[object]) -> object:
        """Pull the generator, emitting each value, until it returns or we are cancelled."""
        try:
            while True:
                if self.ctx.cancelled:
                    generator.close()  # type: ignore[attr-defined]
                    return None
                try:
                    value = next(generator)
                except StopIteration as stop:
                    return stop.value
                self.signals.yielded.emit(value)
        finally:
            generator.close()  # type: ignore[attr-defined]


class LatestRequestThread(QThread):
    """A thread serving requests where only the newest counts (Mandelbrot style).

    ``handler(request, ctx)`` returns an iterator of events (or None). ``submit`` cancels
    the request being handled; events of a cancelled request are not emitted. Events
    carry the request's id so that the receiver can also drop anything already queued.
    """

    event = Signal(int, object)  # request id, event
    failed = Signal(int, object)  # request id, exception
    completed = Signal(int)  # request id, handled to the end (not superseded)

    def __init__(
        self,
        handler: Callable[[Any, JobContext], Iterator[object] | None],
        *,
        name: str,
        cleanup: Callable[[], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``cleanup`` runs on the thread itself when it ends (to close files it opened)."""
        super().__init__(parent)
        self.setObjectName(name)
        self.name = name
        self._handler = handler
        self._cleanup = cleanup
        self._cond = threading.Condition()
        self._pending: tuple[int, Any] | None = None
        self._ctx: JobContext | None = None
        self._quitting = False
        self._ids = itertools.count(1)
        self.last_id = 0

    def submit(self, request: Any) -> int:
        """Queue ``request`` instead of any waiting one and cancel the one running."""
        with self._cond:
            if self._quitting:
                return 0
            request_id = next(self._ids)
            self.last_id = request_id
            self._pending = (request_id, request)
            if self._ctx is not None:
                self._ctx.cancel()
            self._cond.notify_all()
        if not self.isRunning():
            with _live_lock:
                _live.add(self)
            self.start()
        return request_id

    def pending(self) -> Any | None:
        """The request waiting to be handled next (None: none), from any thread."""
        with self._cond:
            return None if self._pending is None else self._pending[1]

    def cancel_current(self) -> None:
        """Drop the waiting request and cancel the running one."""
        with self._cond:
            self._pending = None
            if self._ctx is not None:
                self._ctx.cancel()

    def stop(self, timeout_ms: int = 60_000) -> bool:
        """Cancel everything, end the thread and wait for it; False if it would not end."""
        with self._cond:
            self._quitting = True
            self._pending = None
            if self._ctx is not None:
                self._ctx.cancel()
            self._cond.notify_all()
        ended = self.wait(timeout_ms) if self.isRunning() else True
        if ended:
            with _live_lock:
                _live.discard(self)
        else:
            logger.error("%s did not stop within %d ms", self.name, timeout_ms)
        return ended

    def run(self) -> None:
        try:
            while True:
                with self._cond:
                    while self._pending is None and not self._quitting:
                        self._cond.wait()
                    if self._quitting:
                        return
                    request_id, request = self._pending  # type: ignore[misc]
                    self._pending = None
                    ctx = self._ctx = JobContext()
                self._handle(request_id, request, ctx)
                with self._cond:
                    self._ctx = None
        finally:
            if self._cleanup is not None:
                try:
                    self._cleanup()
                except Exception:
                    logger.exception("%s: cleaning up failed", self.name)
            with _live_lock:
                _live.discard(self)

    def _handle(self, request_id: int, request: Any, ctx: JobContext) -> None:
        events = None
        try:
            events = self._handler(request, ctx)
            for item in events or ():
                if ctx.cancelled:
                    return
                self.event.emit(request_id, item)
            if not ctx.cancelled:
                self.completed.emit(request_id)
        except Cancelled:
            logger.debug("%s: request %d superseded", self.name, request_id)
        except Exception as exc:
            if ctx.cancelled:
                logger.warning("%s: request %d failed while cancelled", self.name, request_id)
                return
            logger.error("%s: request %d failed", self.name, request_id, exc_info=exc)
            self.failed.emit(request_id, exc)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()


class _Relay(QObject):
    """Lives on the GUI thread: the worker's signals reach the callbacks through it, queued."""

    def __init__(
        self,
        worker: GeneratorWorker,
        manager: WorkerManager,
        on_yielded: Callable[[object], None] | None,
        on_returned: Callable[[object], None] | None,
        on_errored: Callable[[object], None],
        on_aborted: Callable[[], None] | None,
        on_finished: Callable[[], None] | None,
    ) -> None:
        super().__init__()
        self._worker = worker
        self._manager = manager
        self._callbacks = (on_yielded, on_returned, on_errored, on_aborted, on_finished)
        signals = worker.signals
        signals.yielded.connect(self._yielded)
        signals.returned.connect(self._returned)
        signals.errored.connect(self._errored)
        signals.aborted.connect(self._aborted)
        signals.finished.connect(self._finished)

    @Slot(object)
    def _yielded(self, value: object) -> None:
        if self._callbacks[0] is not None and not self._worker.ctx.cancelled:
            self._callbacks[0](value)

    @Slot(object)
    def _returned(self, value: object) -> None:
        if self._callbacks[1] is not None:
            self._callbacks[1](value)

    @Slot(object)
    def _errored(self, exc: object) -> None:
        self._callbacks[2](exc)

    @Slot()
    def _aborted(self) -> None:
        if self._callbacks[3] is not None:
            self._callbacks[3]()

    @Slot()
    def _finished(self) -> None:
        if self._callbacks[4] is not None:
            self._callbacks[4]()
        self._manager._forget(self._worker)


class WorkerManager(QObject):
    """Starts workers and threads, keeps them alive while they run, stops them all at the end."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)
        self._workers: dict[GeneratorWorker, _Relay] = {}
        self._threads: list[LatestRequestThread] = []
        self._closed = False

    def start(
        self,
        func: Callable[..., Any],
        *args: Any,
        name: str = "",
        on_yielded: Callable[[object], None] | None = None,
        on_returned: Callable[[object], None] | None = None,
        on_errored: Callable[[object], None] | None = None,
        on_aborted: Callable[[], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> GeneratorWorker:
        """Run ``func(ctx, *args, **kwargs)`` in the pool; errors go to the notification
        manager unless ``on_errored`` is given."""
        if self._closed:
            raise RuntimeError("the worker manager has been shut down")
        worker = GeneratorWorker(func, *args, name=name, **kwargs)
        if on_errored is None:

            def on_errored(exc: object) -> None:
                notification_manager.receive_error(exc, title=f"{worker.name} failed")  # type: ignore[arg-type]

        relay = _Relay(worker, self, on_yielded, on_returned, on_errored, on_aborted, on_finished)
        self._workers[worker] = relay
        with _live_lock:
            _live.add(worker)
        logger.debug("starting %s", worker.name)
        self.pool.start(worker)
        return worker

    def _forget(self, worker: GeneratorWorker) -> None:
        self._workers.pop(worker, None)

    def thread(
        self,
        handler: Callable[[Any, JobContext], Iterator[object] | None],
        *,
        name: str,
        cleanup: Callable[[], None] | None = None,
    ) -> LatestRequestThread:
        """A latest-request thread, stopped by ``shutdown``."""
        thread = LatestRequestThread(handler, name=name, cleanup=cleanup, parent=self)
        self._threads.append(thread)
        return thread

    def running(self) -> list[GeneratorWorker]:
        return [w for w in self._workers if not w.is_finished]

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel every job, stop every thread and wait for them; True if all ended."""
        self._closed = True
        for worker in list(self._workers):
            worker.quit()
        ok = True
        for thread in self._threads:
            ok = thread.stop(timeout_ms) and ok
        ok = self.pool.waitForDone(timeout_ms) and ok
        if not ok:
            logger.error("some background work did not stop in time")
        return ok
