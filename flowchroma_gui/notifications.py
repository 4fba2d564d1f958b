"""One place where errors from workers and uncaught exceptions go; no Qt here.

Like napari's notification manager: producers (workers, ``sys.excepthook``,
``threading.excepthook``) hand an exception or a message to ``notification_manager``;
subscribers (the GUI's dialog bridge) are called with a plain ``Notification``. A
subscriber may be called from any thread; the GUI's bridge re-emits it as a queued Qt
signal so that dialogs are always made on the GUI thread.

Tracebacks always go to the log file; the user sees the message and where the log is.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.fileio import user_dir

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    """What the user is told: a title, a one-line message, details for the curious."""

    severity: str  # "error", "crash", "warning" or "info"
    title: str
    message: str
    details: str = ""
    log_file: str = ""


def describe_exception(exc: BaseException) -> str:
    """The message for the user: a FlowChromaError's own text, otherwise the type too."""
    if isinstance(exc, FlowChromaError):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def log_file_path() -> Path:
    """Where the log file is (``flowchroma_core.fileio.user_dir`` decides the folder)."""
    return user_dir("log") / "flowchroma.log"


class NotificationManager:
    """Receives errors and messages from any thread and passes them to subscribers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[Notification], None]] = []
        self._previous_hooks: tuple | None = None
        self.history: list[Notification] = []  # the last few, for tests and the crash dialog

    def subscribe(self, callback: Callable[[Notification], None]) -> Callable[[], None]:
        """Call ``callback`` for every notification; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def notify(self, notification: Notification) -> None:
        """Hand a notification to every subscriber; a failing subscriber is logged, not fatal."""
        with self._lock:
            self.history = [*self.history[-19:], notification]
            subscribers = list(self._subscribers)
        if not subscribers:
            logger.warning(
                "%s: %s (no window to show it)", notification.title, notification.message
            )
        for callback in subscribers:
            try:
                callback(notification)
            except Exception:
                logger.exception("a notification subscriber failed")

    def receive_error(self, exc: BaseException, *, title: str = "Error") -> None:
        """Tell the user about an exception whose traceback is already in the log."""
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.notify(
            Notification(
                severity="error",
                title=title,
                message=describe_exception(exc),
                details=details,
                log_file=str(log_file_path()),
            )
        )

    def receive_message(self, message: str, *, title: str, severity: str = "info") -> None:
        self.notify(Notification(severity=severity, title=title, message=message))

    # ------------------------------------------------------------------ hooks

    def excepthook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        """``sys.excepthook``: log the traceback, then show a crash notification."""
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        logger.critical("uncaught exception", exc_info=(exc_type, exc, tb))
        self.notify(
            Notification(
                severity="crash",
                title="FlowChroma Studio hit an unexpected error",
                message=describe_exception(exc),
                details="".join(traceback.format_exception(exc_type, exc, tb)),
                log_file=str(log_file_path()),
            )
        )

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self.excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    def install_hooks(self) -> None:
        """Route uncaught exceptions of every thread here (undo with ``uninstall_hooks``)."""
        if self._previous_hooks is None:
            self._previous_hooks = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = self._thread_excepthook

    def uninstall_hooks(self) -> None:
        if self._previous_hooks is not None:
            sys.excepthook, threading.excepthook = self._previous_hooks
            self._previous_hooks = None


notification_manager = NotificationManager()
