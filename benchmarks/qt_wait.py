"""Waiting on a live Qt event loop, for the GUI benchmark scripts (no pytest-qt here)."""

from __future__ import annotations

import time
from collections.abc import Callable

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
