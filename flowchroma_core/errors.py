"""Typed exceptions with messages a restorer can act on, and the one cancel protocol.

Every error the core raises for a user's mistake or an environment problem is a
``FlowChromaError``; the CLI and the GUI show its message as one line and send the
traceback to the log only.

Cancelling is cooperative and the same everywhere: whoever may stop a job holds a
``CancelToken`` and calls ``cancel()`` from any thread; the job calls ``check()`` between
steps, which raises ``Cancelled``. The GUI's ``JobContext`` is a ``CancelToken``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class FlowChromaError(Exception):
    """Base class: the message is complete and meant for the user."""


class ModelFileError(FlowChromaError):
    """A model file cannot be read: wrong format, pickle, or a mismatched configuration."""


class BackboneWeightsError(FlowChromaError):
    """Pretrained backbone weights could not be found, downloaded or loaded."""


class ModelOutputError(FlowChromaError):
    """The model produced unusable output (NaN or infinite colours): the export stops."""


class DeviceError(FlowChromaError):
    """The requested compute device or precision is not available here."""


class VideoReadError(FlowChromaError):
    """An input cannot be opened or decoded; the message names the file."""


class VideoWriteError(FlowChromaError):
    """An output cannot be written; the message names the destination."""


class Cancelled(Exception):  # noqa: N818 - a cancel is an outcome, not an error
    """The user cancelled; callers treat this as an outcome, never as a failure."""


class CancelToken:
    """Set from any thread; jobs check it between steps (``check`` raises ``Cancelled``)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Ask the job to stop; callbacks registered with ``on_cancel`` run now, once."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("a cancel callback failed")

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the token is cancelled (at once if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def check(self) -> None:
        """Raise ``Cancelled`` if the token has been cancelled."""
        if self._event.is_set():
            raise Cancelled()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on cancel; True if cancelled."""
        return self._event.wait(seconds)
