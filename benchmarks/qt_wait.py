"""Waiting on a live Qt event loop, for the GUI benchmark scripts (no pytest-qt here)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication


def pump(app: QApplication, seconds: float) -> None:
    """Process events for ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def wait_until(app: QApplication, condition: Callable[[], bool], timeout: float = 900.0) -> float:
    """Process events until ``condition()``; returns the seconds it took."""
    start = time.perf_counter()
    while not condition():
        app.processEvents()
        time.sleep(0.001)
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"gave up waiting after {timeout:.0f} s")
    return time.perf_counter() - start


@dataclass
class Stalls:
    """An export timed against a 5 ms timer: seconds, and the gaps between its ticks (ms)."""

    seconds: float
    gaps: list[float]

    @property
    def longest(self) -> float:
        return max(0.0, max(self.gaps) - 5.0)

    @property
    def p99(self) -> float:
        stalls = sorted(max(0.0, g - 5.0) for g in self.gaps)
        return stalls[int(0.99 * (len(stalls) - 1))]


def stalls_during_export(
    app: QApplication, window, action: Callable[[], None], every_ms: int = 150
) -> Stalls:
    """Run an FFV1 export from ``window``'s export dialog (into a temporary folder) while
    ``action`` runs every ``every_ms`` ms and a 5 ms timer records how late each tick is."""
    out = Path(tempfile.mkdtemp(prefix="fc-bench-out-")) / "export.mkv"
    window.show_export()
    dialog = window.export_dialog
    dialog.codec.setCurrentIndex(dialog.codec.findData("ffv1"))
    dialog.destination.setText(str(out))
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    ticker, actor = QTimer(), QTimer()
    ticker.setInterval(5)
    ticker.timeout.connect(tick)
    actor.setInterval(every_ms)
    actor.timeout.connect(action)
    started = time.perf_counter()
    dialog.export_button.click()
    ticker.start()
    actor.start()
    wait_until(app, lambda: not dialog.running and dialog.last_output is not None, timeout=3600)
    seconds = time.perf_counter() - started
    ticker.stop()
    actor.stop()
    if dialog.message_box is not None:
        dialog.message_box.close()
    return Stalls(seconds, gaps)
