"""Fixtures of the GUI tests: a real film and a main window on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_helpers import WAIT

from flowchroma_core.settings import Settings, save_settings
from flowchroma_gui.qt_main_window import MainWindow
from flowchroma_gui.qthreading import live_workers


@pytest.fixture
def chaplin(shared_data: Path) -> Path:
    return shared_data / "bw" / "chaplin.mp4"


@pytest.fixture
def a_bomb(shared_data: Path) -> Path:
    """A film with three shot cuts, at frames 44, 134 and 299."""
    return shared_data / "bw" / "a-bomb_blast_effects_part.mp4"


@pytest.fixture
def window(qtbot, tiny_model: Path):
    """A window whose saved settings select the tiny model, engine started."""
    save_settings(Settings(model=str(tiny_model), window_frames=4))
    win = MainWindow()  # not qtbot.addWidget: its teardown would close it before ours
    win.show()
    qtbot.waitUntil(lambda: win.core is not None, timeout=WAIT)
    yield win
    win.shutdown()  # cancels a running export without asking (the asking is tested)
    win.close()
    assert live_workers() == []
