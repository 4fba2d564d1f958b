"""The main window, offscreen, on a real film with a tiny model.

Covers opening (command line path, drag and drop, recent files, a bad file), scrubbing
with the slider, keys and typed timecodes, in/out marks, the background preview and its
agreement with an export, export and cancel, settings validation, worker errors shown as
dialogs, and that no worker or thread outlives the window.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from gui_helpers import WAIT, open_film, wait_colorized, wait_scanned
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from flowchroma_core.video.reader import open_video
from flowchroma_gui.qt_main_window import MainWindow
from flowchroma_gui.qt_settings_dialog import SettingsDialog
from flowchroma_gui.qt_viewer import ViewMode, array_from_qimage
from flowchroma_gui.qthreading import live_workers


def shown_source(win: MainWindow) -> np.ndarray:
    assert win.viewer.source_image is not None
    return array_from_qimage(win.viewer.source_image)


def expected_gray(path: Path, index: int) -> np.ndarray:
    with open_video(path) as reader:
        return np.rint(np.clip(reader[index].gray(), 0, 1) * 255).astype(np.uint8)


def test_opens_a_real_film_and_shows_its_metadata(qtbot, window, chaplin):
    open_film(qtbot, window, chaplin)
    assert window.timeline.frame_count == 241
    assert "241 frames at 25 fps" in window.info_panel.text.toPlainText()
    assert window.windowTitle().startswith("chaplin.mp4")
    assert window.recent_files()[0] == str(chaplin)
    assert np.array_equal(shown_source(window), expected_gray(chaplin, 0))
    # the background scan finds no cut in this one-shot film and makes thumbnails
    qtbot.waitUntil(lambda: window.shots is not None and window.shots.complete, timeout=WAIT)
    assert window.shots.cuts() == ()
    qtbot.waitUntil(lambda: window.timeline.strip.thumbnail_count() > 0, timeout=WAIT)


def test_scrubbing_is_frame_accurate(qtbot, window, chaplin):
    open_film(qtbot, window, chaplin)
    window.timeline.slider.setValue(137)
    qtbot.waitUntil(lambda: window.viewer.source_index == 137, timeout=WAIT)
    assert np.array_equal(shown_source(window), expected_gray(chaplin, 137))
    assert window.timeline.timecode_label.text() == "00:00:05:12"

    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.position == 138
    qtbot.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert window.position == 163
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.position == 137
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.position == 240
    qtbot.waitUntil(lambda: window.viewer.source_index == 240, timeout=WAIT)
    assert np.array_equal(shown_source(window), expected_gray(chaplin, 240))

    edit = window.timeline.position_edit
    edit.setText("00:00:02:00")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert window.position == 50
    edit.setText("9999")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert window.position == 50
    assert "outside the film" in window.timeline.entry_error


def test_play_and_shuttle_keys(qtbot, window, chaplin):
    open_film(qtbot, window, chaplin)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.position >= 5, timeout=WAIT)
    qtbot.keyClick(window, Qt.Key.Key_K)
    stopped = window.position
    qtbot.wait(200)
    assert window.position == stopped
    qtbot.keyClick(window, Qt.Key.Key_L)
    qtbot.keyClick(window, Qt.Key.Key_L)
    assert window.playhead.speed == 2
    qtbot.keyClick(window, Qt.Key.Key_J)
    assert window.playhead.speed == -1
    qtbot.keyClick(window, Qt.Key.Key_K)
    assert not window.play_timer.isActive()


def test_in_out_marks_set_the_export_range(qtbot, window, chaplin):
    open_film(qtbot, window, chaplin)
    window.seek(20)
    qtbot.keyClick(window, Qt.Key.Key_I)
    window.seek(59)
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert window.playhead.export_range() == (20, 60)
    qtbot.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ShiftModifier)
    assert window.position == 20
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)
    assert window.position == 59
    assert "(40 frames)" in window.timeline.range_label.text()
    window.show_export()
    dialog = window.export_dialog
    assert dialog.in_out.isChecked()
    assert dialog.request().start == 20 and dialog.request().stop == 60
    dialog.hide()
    qtbot.keyClick(window, Qt.Key.Key_X, Qt.KeyboardModifier.AltModifier)
    assert window.playhead.export_range() == (0, 241)


def test_preview_colorizes_in_the_background_and_caches(qtbot, window, chaplin):
    # the stream's own cache (far jumps from checkpoints: tests/gui/test_preview_latency.py)
    window.preview.checkpoints.enabled = False
    open_film(qtbot, window, chaplin)
    wait_colorized(qtbot, window, 0)
    result = array_from_qimage(window.viewer.result_image)
    assert result.shape == (360, 640, 3)
    window.seek(9)
    wait_colorized(qtbot, window, 9)
    # frames 0..9 came out of one stream and are cached; stepping back is instant
    assert {k.frame for k in window.cache.snapshot()} >= set(range(10))
    window.seek(3)
    assert window.viewer.result_index == 3
    # the timeline marks the cached frames (runs of frames, refreshed 4 times a second)
    qtbot.waitUntil(lambda: window.timeline.slider.cached[-1:] == [(0, 9)], timeout=5000)
    assert "Device: CPU" in window.device_label.text()
    assert "tiny.safetensors" in window.model_label.text()
    # every view mode shows something
    for mode in ViewMode:
        window.set_view_mode(mode)
        assert window.viewer.mode == mode
    window.viewer.actual_size()
    assert window.viewer.zoom() == pytest.approx(1.0)


def test_preview_agrees_with_the_export(qtbot, window, chaplin, tmp_path):
    open_film(qtbot, window, chaplin)
    window.seek(0)
    qtbot.keyClick(window, Qt.Key.Key_I)
    window.seek(11)
    qtbot.keyClick(window, Qt.Key.Key_O)
    wait_colorized(qtbot, window, 11)
    preview = array_from_qimage(window.viewer.result_image).astype(int)

    destination = tmp_path / "range.mkv"
    window.show_export()
    dialog = window.export_dialog
    dialog.destination.setText(str(destination))
    dialog.codec.setCurrentIndex(dialog.codec.findData("ffv1"))
    dialog.destination.setText(str(destination))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running and dialog.last_output is not None, timeout=WAIT)
    assert Path(dialog.last_output) == destination

    with av.open(str(destination)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 12
    diff = np.abs(frames[11].astype(int) - preview)
    assert diff.mean() < 1.0 and diff.max() <= 6, (diff.mean(), diff.max())
    dialog.message_box.close()


def test_export_runs_in_the_background_and_cancels_cleanly(qtbot, window, chaplin, tmp_path):
    open_film(qtbot, window, chaplin)
    destination = tmp_path / "whole.mov"
    window.show_export()
    dialog = window.export_dialog
    dialog.codec.setCurrentIndex(dialog.codec.findData("prores"))
    dialog.destination.setText(str(destination))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=WAIT)
    # the window is still usable while it runs
    window.seek(100)
    qtbot.waitUntil(lambda: window.viewer.source_index == 100, timeout=WAIT)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT)
    assert "cancelled" in dialog.progress_label.text()
    assert not destination.exists()
    assert list(tmp_path.iterdir()) == []


def test_settings_dialog_refuses_invalid_values_and_applies_valid_ones(qtbot, window, chaplin):
    open_film(qtbot, window, chaplin)
    wait_colorized(qtbot, window, 0)
    assert len(window.cache) > 0
    dialog = SettingsDialog(window.core, window.settings, window)
    qtbot.addWidget(dialog)
    dialog.form.clip_length.setValue(8)
    dialog.form.overlap.setValue(8)
    assert not dialog.validate()
    assert "overlap" in dialog.problems_label.text()
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted
    dialog.form.overlap.setValue(2)
    assert not dialog.hardware_video.isChecked()  # off unless asked for
    dialog.hardware_video.setChecked(True)
    assert dialog.validate()
    dialog.accept()
    assert dialog.saved.window_frames == 8 and dialog.saved.overlap == 2
    assert dialog.saved.export_hardware_video
    window.apply_settings(dialog.saved)
    assert all(
        (k.options.window_frames, k.options.overlap) == (8, 2) for k in window.cache.snapshot()
    )
    # saved where the command line reads them
    from flowchroma_core.settings import load_settings

    assert load_settings().overlap == 2
    wait_colorized(qtbot, window, 0)


def test_a_bad_file_is_answered_with_a_dialog(qtbot, window, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a film\n" * 50)
    window.open_path(bad)
    qtbot.waitUntil(lambda: any(b.isVisible() for b in window.bridge.boxes), timeout=WAIT)
    box = next(b for b in window.bridge.boxes if b.isVisible())
    assert "notes.mp4" in box.text()
    assert window.path is None
    box.close()


def test_drop_opens_a_film(qtbot, window, chaplin):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(chaplin))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.path == str(chaplin), timeout=WAIT)


def test_closing_during_an_export_asks_and_stops_every_thread(
    qtbot, window, chaplin, tmp_path, monkeypatch
):
    open_film(qtbot, window, chaplin)
    destination = tmp_path / "out.mkv"
    window.show_export()
    dialog = window.export_dialog
    dialog.destination.setText(str(destination))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=WAIT)
    asked = []
    monkeypatch.setattr(
        QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No
    )
    window.close()
    assert asked and window.isVisible() and window.export_running()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.close()
    assert not window.isVisible()
    assert live_workers() == []
    assert window.workers.pool.activeThreadCount() == 0
    assert not window.preview_thread.isRunning() and not window.decoder_thread.isRunning()
    assert not destination.exists()
    assert [t for t in threading.enumerate() if t.name.startswith("flowchroma")] == []


def test_gui_thread_never_imports_torch_or_av():
    """Importing the window must not pull in torch or PyAV (workers import them)."""
    code = (
        "import sys; import flowchroma_gui.app, flowchroma_gui.qt_main_window; "
        "bad = [m for m in ('torch', 'av', 'cv2') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_command_line_path_and_smoke_test(chaplin, tiny_model, tmp_path):
    """``flowchroma-gui --smoke-test FILM`` opens it, shows its colours and exits 0."""
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "FLOWCHROMA_CONFIG_DIR": str(tmp_path / "config"),
        "FLOWCHROMA_LOG_DIR": str(tmp_path / "logs"),
        "HF_HUB_OFFLINE": "1",
    }
    env = {**os.environ, **env}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.toml").write_text(f'model = "{tiny_model}"\nclip_length = 4\n')
    done = subprocess.run(
        [sys.executable, "-m", "flowchroma_gui.app", "--smoke-test", str(chaplin)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smoke test passed" in done.stdout


def test_shot_cuts_are_marked_and_jumped_to(qtbot, window, shared_data):
    """The a-bomb film's three cuts: on the timeline, Up/Down jump between them."""
    film = shared_data / "bw" / "a-bomb_blast_effects_part.mp4"
    open_film(qtbot, window, film)
    wait_scanned(qtbot, window)
    assert window.shots.cuts() == (44, 134, 299)
    assert window.timeline.slider.cuts == (44, 134, 299)
    qtbot.keyClick(window, Qt.Key.Key_Down)
    assert window.position == 44
    qtbot.keyClick(window, Qt.Key.Key_Down)
    assert window.position == 134
    qtbot.keyClick(window, Qt.Key.Key_Up)
    assert window.position == 44
    # the preview of a frame after a cut starts from the cut, as the export does
    window.seek(46)
    wait_colorized(qtbot, window, 46)
    assert window.current_key().shot_start == 44
