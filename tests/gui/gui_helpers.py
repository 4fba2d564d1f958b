"""Waiting helpers shared by the GUI tests (imported by name: tests/gui is on sys.path)."""

from __future__ import annotations

from pathlib import Path

from flowchroma_gui.qt_main_window import MainWindow

WAIT = 240_000  # ms; generous: CI shares two cores with whatever else runs


def open_film(qtbot, win: MainWindow, path: Path) -> None:
    win.open_path(path)
    qtbot.waitUntil(lambda: win.path == str(path) and win.viewer.source_index == 0, timeout=WAIT)


def wait_colorized(qtbot, win: MainWindow, frame: int) -> None:
    qtbot.waitUntil(
        lambda: (
            win.viewer.result_index == frame
            and win.viewer.source_index == frame
            and not win.viewer.result_approximate
        ),  # the exact colours, not the stand-in
        timeout=WAIT,
    )


def wait_scanned(qtbot, win: MainWindow) -> None:
    """Until the background scan has decided every cut and the timeline shows them all.

    The scan's last progress reaches the window through a queued signal, after the
    shot map is complete: wait for both.
    """
    qtbot.waitUntil(lambda: win.shots is not None and win.shots.complete, timeout=WAIT)
    qtbot.waitUntil(lambda: win.timeline.slider.cuts == win.shots.cuts(), timeout=WAIT)
