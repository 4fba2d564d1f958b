"""The main window's actions, toolbar, menus and recent-files list.

Every command the user can give (menu entry, toolbar button, transport button, key) is one
``QAction`` made here, so that keys and buttons always do the same thing. The actions call
the window's public methods; this module decides names, keys, tips, icons and where each
action appears, nothing else. Recent files live in the window's ``QSettings`` (the core's
settings file is for processing settings only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QStyle, QToolBar

from flowchroma_gui.qt_viewer import ViewMode

if TYPE_CHECKING:
    from flowchroma_gui.qt_main_window import MainWindow

logger = logging.getLogger(__name__)

MAX_RECENT = 10

Shortcut = QKeySequence | QKeySequence.StandardKey | str | list[QKeySequence | str] | None


def make_action(
    window: QMainWindow,
    text: str,
    slot: Callable[..., object],
    shortcut: Shortcut = None,
    tip: str = "",
    checkable: bool = False,
) -> QAction:
    """An action of ``window``: its key works wherever the focus is inside the window."""
    action = QAction(text, window)
    if shortcut is not None:
        if isinstance(shortcut, list):
            action.setShortcuts([QKeySequence(s) for s in shortcut])
        else:
            action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
        action.setStatusTip(tip)
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    window.addAction(action)
    return action


class WindowActions:
    """The window's actions, grouped as the toolbar, the timeline and the menus use them."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window
        w = window

        def act(*args: object, **kwargs: object) -> QAction:
            return make_action(w, *args, **kwargs)  # type: ignore[arg-type]

        key = QKeySequence.StandardKey
        self.open = act("&Open film…", w.open_dialog, key.Open, "Open a film")
        self.export = act(
            "&Export…", w.show_export, "Ctrl+E", "Export the colorized film or the in/out range"
        )
        self.settings = act(
            "&Settings…", w.show_settings, "Ctrl+,", "Processing settings and export defaults"
        )
        self.quit = act("&Quit", w.close, key.Quit)
        self.close_film = act("&Close film", w.close_film, key.Close)

        self.mode_group = QActionGroup(w)
        self.modes: dict[ViewMode, QAction] = {}
        for mode, text, shortcut in (
            (ViewMode.SIDE_BY_SIDE, "Side by side", "1"),
            (ViewMode.WIPE, "Split wipe", "2"),
            (ViewMode.SOURCE, "Source only", "3"),
            (ViewMode.RESULT, "Colorized only", "4"),
        ):
            action = act(text, lambda _=False, m=mode: w.set_view_mode(m), shortcut, text, True)
            self.mode_group.addAction(action)
            self.modes[mode] = action
        self.modes[ViewMode.SIDE_BY_SIDE].setChecked(True)
        self.fit = act("&Fit", lambda: w.viewer.fit(), "F", "Fit to the window")
        self.actual = act(
            "100 %", lambda: w.viewer.actual_size(), "Ctrl+1", "One image pixel per screen pixel"
        )
        self.zoom_in = act("Zoom in", lambda: w.viewer.zoom_by(1.25), ["+", "="], "Zoom in")
        self.zoom_out = act("Zoom out", lambda: w.viewer.zoom_by(0.8), "-", "Zoom out")

        t = w.transport
        self.play = act("Play/Pause", t.toggle_play, "Space", "Play or pause")
        self.back = act("Previous frame", lambda: t.step(-1), "Left", "One frame back")
        self.forward = act("Next frame", lambda: t.step(1), "Right", "One frame forward")
        self.back_second = act(
            "Back one second", lambda: t.step(-w.playhead.one_second), "Shift+Left"
        )
        self.forward_second = act(
            "Forward one second", lambda: t.step(w.playhead.one_second), "Shift+Right"
        )
        self.start = act("Go to start", lambda: w.seek(0), "Home", "First frame")
        self.end = act("Go to end", lambda: w.seek(w.playhead.last), "End", "Last frame")
        self.shuttle_back = act(
            "Shuttle backwards", t.shuttle_backward, "J", "Play backwards; again: faster"
        )
        self.shuttle_stop = act("Stop", t.stop, "K", "Stop")
        self.shuttle_forward = act(
            "Shuttle forwards", t.shuttle_forward, "L", "Play forwards; again: faster"
        )
        self.mark_in = act("Mark in", t.mark_in, "I", "Mark the export's first frame")
        self.mark_out = act("Mark out", t.mark_out, "O", "Mark the export's last frame")
        self.clear_marks = act(
            "Clear in/out", t.clear_marks, "Alt+X", "Export the whole film again"
        )
        self.go_in = act(
            "Go to in", lambda: t.go_to_mark(w.playhead.in_point), "Shift+I", "Jump to the in point"
        )
        self.go_out = act(
            "Go to out",
            lambda: t.go_to_mark(w.playhead.out_point),
            "Shift+O",
            "Jump to the out point",
        )
        self.prev_cut = act(
            "Previous shot", lambda: w.jump_cut(-1), "Up", "Jump to the previous shot cut"
        )
        self.next_cut = act("Next shot", lambda: w.jump_cut(1), "Down", "Jump to the next shot cut")
        self.open_log_folder = act("Open the log folder", w.open_log_folder)
        self.about = act("About FlowChroma Studio", w.about)

        self.transport = (
            self.start,
            self.back,
            self.play,
            self.forward,
            self.end,
            self.back_second,
            self.forward_second,
            self.shuttle_back,
            self.shuttle_stop,
            self.shuttle_forward,
            self.mark_in,
            self.mark_out,
            self.clear_marks,
            self.go_in,
            self.go_out,
            self.prev_cut,
            self.next_cut,
        )
        pixmap = QStyle.StandardPixmap
        for action, icon in (
            (self.start, pixmap.SP_MediaSkipBackward),
            (self.back, pixmap.SP_MediaSeekBackward),
            (self.play, pixmap.SP_MediaPlay),
            (self.forward, pixmap.SP_MediaSeekForward),
            (self.end, pixmap.SP_MediaSkipForward),
        ):
            action.setIcon(w.style().standardIcon(icon))
        self.mark_in.setIconText("[ In")
        self.mark_out.setIconText("Out ]")

    def timeline_buttons(self) -> list[QAction | None]:
        """The transport buttons under the viewer (None: a gap)."""
        return [
            self.start,
            self.back,
            self.play,
            self.forward,
            self.end,
            None,
            self.mark_in,
            self.mark_out,
        ]

    def show_playing(self, playing: bool) -> None:
        """The play button shows pause while playing."""
        pixmap = QStyle.StandardPixmap
        icon = pixmap.SP_MediaPause if playing else pixmap.SP_MediaPlay
        self.play.setIcon(self._window.style().standardIcon(icon))

    def update(self, *, has_film: bool, core_ready: bool) -> None:
        """Enable what can be done now."""
        self.export.setEnabled(has_film and core_ready)
        self.settings.setEnabled(core_ready)
        self.close_film.setEnabled(has_film)
        for action in self.transport:
            action.setEnabled(has_film)

    def build_toolbar(self) -> QToolBar:
        toolbar = self._window.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.open)
        toolbar.addAction(self.export)
        toolbar.addAction(self.settings)
        toolbar.addSeparator()
        for mode in ViewMode:
            toolbar.addAction(self.modes[mode])
        toolbar.addSeparator()
        toolbar.addAction(self.fit)
        toolbar.addAction(self.actual)
        return toolbar

    def build_menus(self, recent: RecentFiles, info_dock: QDockWidget) -> None:
        bar = self._window.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open)
        recent.attach(file_menu.addMenu("Open &recent"))
        file_menu.addAction(self.close_film)
        file_menu.addSeparator()
        file_menu.addAction(self.export)
        file_menu.addSeparator()
        file_menu.addAction(self.settings)
        file_menu.addSeparator()
        file_menu.addAction(self.quit)
        view_menu = bar.addMenu("&View")
        for mode in ViewMode:
            view_menu.addAction(self.modes[mode])
        view_menu.addSeparator()
        for action in (self.fit, self.actual, self.zoom_in, self.zoom_out):
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(info_dock.toggleViewAction())
        play_menu = bar.addMenu("&Playback")
        for action in self.transport:
            play_menu.addAction(action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.open_log_folder)
        help_menu.addAction(self.about)


class RecentFiles:
    """The last films opened, newest first, kept in the GUI's ``QSettings``."""

    def __init__(self, state: QSettings, open_path: Callable[[str], None]) -> None:
        self._state = state
        self._open_path = open_path
        self.menu: QMenu | None = None

    def files(self) -> list[str]:
        value = self._state.value("recent/files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def add(self, path: str) -> None:
        files = [path, *[p for p in self.files() if p != path]][:MAX_RECENT]
        self._state.setValue("recent/files", files)

    def forget(self, path: str) -> None:
        self._state.setValue("recent/files", [p for p in self.files() if p != path])

    def clear(self) -> None:
        self._state.setValue("recent/files", [])

    def attach(self, menu: QMenu) -> None:
        """Fill ``menu`` with the list each time it opens."""
        self.menu = menu
        menu.aboutToShow.connect(self.fill_menu)

    def fill_menu(self) -> None:
        menu = self.menu
        assert menu is not None
        menu.clear()
        files = self.files()
        for path in files:
            action = menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self._open_path(p))
        if not files:
            menu.addAction("No recent films").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list", self.clear)
