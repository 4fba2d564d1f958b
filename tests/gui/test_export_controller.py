"""The export controller in the real window: a cancelled export ends cancelled, never done.

The status line and the dialog are what the user reads; both must say "cancelled", and
nothing may report the export as finished or leave a file behind.
"""

from __future__ import annotations

from pathlib import Path

from gui_helpers import WAIT, open_film
from PySide6.QtCore import Qt


def test_a_cancelled_export_ends_cancelled_never_done(qtbot, window, chaplin: Path, tmp_path):
    statuses: list[str] = []
    window.exports.status.connect(statuses.append)
    open_film(qtbot, window, chaplin)
    destination = tmp_path / "whole.mkv"
    window.show_export()
    dialog = window.export_dialog
    dialog.codec.setCurrentIndex(dialog.codec.findData("ffv1"))
    dialog.destination.setText(str(destination))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=WAIT)
    assert window.export_running()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert not window.export_running()  # winding down: closing no longer asks
    qtbot.waitUntil(lambda: window.exports.worker is None, timeout=WAIT)
    qtbot.wait(100)  # anything still queued behind the worker's last signal arrives now
    assert statuses[-1] == "Export cancelled", statuses
    assert "Export done" not in statuses and "Export failed" not in statuses
    assert not dialog.running and "cancelled" in dialog.progress_label.text()
    assert dialog.last_output is None
    assert list(tmp_path.iterdir()) == []
