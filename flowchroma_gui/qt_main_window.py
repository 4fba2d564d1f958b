"""The main window: open a film, scrub it, compare source and colorized, export.

The window owns the playhead and the widgets; everything slow runs elsewhere:

* ``warm_up`` (pool) imports torch and the core and loads the saved settings; until it
  returns, opening a film works but export and settings wait.
* ``open_film`` (pool) reads the metadata; ``scan_film`` (pool) decodes the film once for
  thumbnails and shot cuts, filling the ``ShotMap`` that the preview reads.
* the decoder thread (latest request wins) decodes the frame to show;
* the preview thread (latest request wins) colorizes it exactly as an export would and
  puts every frame it makes in the ``PreviewCache``, which the GUI thread reads directly;
* ``export_film`` (pool) writes the export while the user goes on scrubbing.

The GUI thread never imports torch or PyAV: it sees plain data and numpy arrays.
"""

from __future__ import annotations

import logging
import os
import time
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStyle,
)

from flowchroma_core import __version__
from flowchroma_core.fileio import config_dir
from flowchroma_gui.jobs import (
    CoreReady,
    ExportDone,
    ExportProgress,
    ExportRequest,
    FilmOpened,
    ScanProgress,
    SourceDecoder,
    SourceImage,
    SourceRequest,
    export_film,
    open_film,
    scan_film,
    warm_up,
)
from flowchroma_gui.model_host import ModelHost
from flowchroma_gui.notifications import (
    describe_exception,
    log_file_path,
    notification_manager,
)
from flowchroma_gui.playhead import Playhead
from flowchroma_gui.preview import (
    PreviewActivity,
    PreviewCache,
    PreviewCached,
    PreviewEngine,
    PreviewHost,
    PreviewKey,
    PreviewReady,
    PreviewRequest,
    ShotMap,
    preview_key,
)
from flowchroma_gui.qt_error_dialog import NotificationBridge
from flowchroma_gui.qt_export_dialog import ExportDialog
from flowchroma_gui.qt_info_panel import InfoPanel
from flowchroma_gui.qt_settings_dialog import SettingsDialog
from flowchroma_gui.qt_timeline import Timeline
from flowchroma_gui.qt_viewer import Viewer, ViewMode
from flowchroma_gui.qthreading import GeneratorWorker, WorkerManager

if TYPE_CHECKING:
    from flowchroma_core.settings import Settings
    from flowchroma_core.video.reader import VideoInfo

logger = logging.getLogger(__name__)

MAX_RECENT = 10
VIDEO_FILTER = (
    "Films and scans (*.mp4 *.mov *.mkv *.avi *.mxf *.m4v *.mpg *.mpeg *.ts *.webm *.wmv "
    "*.dv *.y4m *.png *.tif *.tiff *.dpx);;All files (*)"
)


def gui_state_path() -> Path:
    """The GUI's own state (recent files, geometry) beside the core's settings file."""
    return config_dir() / "gui.ini"


class MainWindow(QMainWindow):
    """FlowChroma Studio's window; see the module docstring."""

    # emitted when the frame on screen changes: (index, has colorized result)
    frame_shown = Signal(int, bool)
    film_opened = Signal(str)
    core_ready = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("FlowChroma Studio")
        self.setAcceptDrops(True)
        self.resize(1440, 860)

        self.workers = WorkerManager(self)
        self.host = ModelHost()
        self.cache = PreviewCache()
        self.preview_engine = PreviewEngine(self.host, self.cache)
        self.decoder = SourceDecoder()
        self.preview_thread = self.workers.thread(
            self.preview_engine.handle, name="preview", cleanup=self.preview_engine.close
        )
        self.decoder_thread = self.workers.thread(
            self.decoder.handle, name="decoder", cleanup=self.decoder.close
        )
        self.preview_thread.event.connect(self._preview_event)
        self.preview_thread.failed.connect(self._preview_failed)
        self.decoder_thread.event.connect(self._source_event)
        self.decoder_thread.failed.connect(self._source_failed)
        self.bridge = NotificationBridge(notification_manager, self)

        self.core: CoreReady | None = None
        self.settings: Settings | None = None
        self.path: str | None = None
        self.info: VideoInfo | None = None
        self.shots: ShotMap | None = None
        self.playhead = Playhead()
        self.scan_worker: GeneratorWorker | None = None
        self.export_worker: GeneratorWorker | None = None
        self._export_request: ExportRequest | None = None
        self.export_dialog: ExportDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.preview_requested: PreviewKey | None = None
        self.preview_started = 0.0
        self.preview_latencies: list[float] = []  # seconds from request to picture, for benchmarks
        self._pending_open: str | None = None
        self._closing = False
        self._cached_dirty = False
        self.state = QSettings(str(gui_state_path()), QSettings.Format.IniFormat)

        self._build_actions()
        self._build_ui()
        self._build_menus()
        self.play_timer = QTimer(self)
        self.play_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.play_timer.timeout.connect(self._play_tick)
        self.marks_timer = QTimer(self)  # cache marks are redrawn at most 4 times a second
        self.marks_timer.setInterval(250)
        self.marks_timer.timeout.connect(self._refresh_cached_marks)
        self.marks_timer.start()
        self._update_actions()
        geometry = self.state.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.workers.start(warm_up, name="starting the engine", on_returned=self._core_ready)
        self._set_activity("starting the engine…")

    # ------------------------------------------------------------------ construction

    def _action(
        self,
        text: str,
        slot: object,
        shortcut: QKeySequence | str | list | None = None,
        tip: str = "",
        checkable: bool = False,
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, list):
                action.setShortcuts(shortcut)
            else:
                action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
            action.setStatusTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)  # type: ignore[arg-type]
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        key = QKeySequence.StandardKey
        self.open_action = self._action("&Open film…", self.open_dialog, key.Open, "Open a film")
        self.export_action = self._action(
            "&Export…", self.show_export, "Ctrl+E", "Export the colorized film or the in/out range"
        )
        self.settings_action = self._action(
            "&Settings…", self.show_settings, "Ctrl+,", "Processing settings and export defaults"
        )
        self.quit_action = self._action("&Quit", self.close, key.Quit)
        self.close_film_action = self._action("&Close film", self.close_film, key.Close)

        self.mode_group = QActionGroup(self)
        self.mode_actions: dict[ViewMode, QAction] = {}
        for mode, text, shortcut in (
            (ViewMode.SIDE_BY_SIDE, "Side by side", "1"),
            (ViewMode.WIPE, "Split wipe", "2"),
            (ViewMode.SOURCE, "Source only", "3"),
            (ViewMode.RESULT, "Colorized only", "4"),
        ):
            action = self._action(
                text, lambda _=False, m=mode: self.set_view_mode(m), shortcut, text, True
            )
            self.mode_group.addAction(action)
            self.mode_actions[mode] = action
        self.mode_actions[ViewMode.SIDE_BY_SIDE].setChecked(True)
        self.fit_action = self._action("&Fit", lambda: self.viewer.fit(), "F", "Fit to the window")
        self.actual_action = self._action(
            "100 %", lambda: self.viewer.actual_size(), "Ctrl+1", "One image pixel per screen pixel"
        )
        self.zoom_in_action = self._action(
            "Zoom in", lambda: self.viewer.zoom_by(1.25), ["+", "="], "Zoom in"
        )
        self.zoom_out_action = self._action(
            "Zoom out", lambda: self.viewer.zoom_by(0.8), "-", "Zoom out"
        )

        self.play_action = self._action("Play/Pause", self.toggle_play, "Space", "Play or pause")
        self.back_action = self._action(
            "Previous frame", lambda: self.step(-1), "Left", "One frame back"
        )
        self.forward_action = self._action(
            "Next frame", lambda: self.step(1), "Right", "One frame forward"
        )
        self.back_second_action = self._action(
            "Back one second", lambda: self.step(-self.playhead.one_second), "Shift+Left"
        )
        self.forward_second_action = self._action(
            "Forward one second", lambda: self.step(self.playhead.one_second), "Shift+Right"
        )
        self.start_action = self._action("Go to start", lambda: self.seek(0), "Home", "First frame")
        self.end_action = self._action(
            "Go to end", lambda: self.seek(self.playhead.last), "End", "Last frame"
        )
        self.shuttle_back_action = self._action(
            "Shuttle backwards", self.shuttle_backward, "J", "Play backwards; again: faster"
        )
        self.shuttle_stop_action = self._action("Stop", self.stop_playing, "K", "Stop")
        self.shuttle_forward_action = self._action(
            "Shuttle forwards", self.shuttle_forward, "L", "Play forwards; again: faster"
        )
        self.in_action = self._action("Mark in", self.mark_in, "I", "Mark the export's first frame")
        self.out_action = self._action(
            "Mark out", self.mark_out, "O", "Mark the export's last frame"
        )
        self.clear_marks_action = self._action(
            "Clear in/out", self.clear_marks, "Alt+X", "Export the whole film again"
        )
        self.go_in_action = self._action(
            "Go to in",
            lambda: self.go_to_mark(self.playhead.in_point),
            "Shift+I",
            "Jump to the in point",
        )
        self.go_out_action = self._action(
            "Go to out",
            lambda: self.go_to_mark(self.playhead.out_point),
            "Shift+O",
            "Jump to the out point",
        )
        self.prev_cut_action = self._action(
            "Previous shot", lambda: self.jump_cut(-1), "Up", "Jump to the previous shot cut"
        )
        self.next_cut_action = self._action(
            "Next shot", lambda: self.jump_cut(1), "Down", "Jump to the next shot cut"
        )
        self.transport_actions = (
            self.start_action,
            self.back_action,
            self.play_action,
            self.forward_action,
            self.end_action,
            self.back_second_action,
            self.forward_second_action,
            self.shuttle_back_action,
            self.shuttle_stop_action,
            self.shuttle_forward_action,
            self.in_action,
            self.out_action,
            self.clear_marks_action,
            self.go_in_action,
            self.go_out_action,
            self.prev_cut_action,
            self.next_cut_action,
        )

    def _build_ui(self) -> None:
        self.viewer = Viewer(self)
        style = self.style()
        pixmap = QStyle.StandardPixmap
        for action, icon in (
            (self.start_action, pixmap.SP_MediaSkipBackward),
            (self.back_action, pixmap.SP_MediaSeekBackward),
            (self.play_action, pixmap.SP_MediaPlay),
            (self.forward_action, pixmap.SP_MediaSeekForward),
            (self.end_action, pixmap.SP_MediaSkipForward),
        ):
            action.setIcon(style.standardIcon(icon))
        self.in_action.setIconText("[ In")
        self.out_action.setIconText("Out ]")
        self.timeline = Timeline(
            [
                self.start_action,
                self.back_action,
                self.play_action,
                self.forward_action,
                self.end_action,
                None,
                self.in_action,
                self.out_action,
            ],
            self,
        )
        self.timeline.seek_requested.connect(self.seek)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.viewer)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setCollapsible(0, False)
        self.setCentralWidget(splitter)
        # keys (J/K/L, I/O, digits) go to the window's shortcuts unless the user clicks
        # into the frame box: the viewer, not the first text field, takes the focus
        self.viewer.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFocusProxy(self.viewer)

        self.info_panel = InfoPanel(self)
        dock = QDockWidget("Film", self)
        dock.setObjectName("film_dock")
        dock.setWidget(self.info_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.info_dock = dock

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.open_action)
        toolbar.addAction(self.export_action)
        toolbar.addAction(self.settings_action)
        toolbar.addSeparator()
        for mode in ViewMode:
            toolbar.addAction(self.mode_actions[mode])
        toolbar.addSeparator()
        toolbar.addAction(self.fit_action)
        toolbar.addAction(self.actual_action)
        self.toolbar = toolbar

        status = self.statusBar()
        self.device_label = QLabel("Device: –", self)
        self.model_label = QLabel("Model: –", self)
        self.activity_label = QLabel("", self)
        self.export_label = QLabel("", self)
        status.addWidget(self.activity_label, 1)
        status.addPermanentWidget(self.export_label)
        status.addPermanentWidget(self.model_label)
        status.addPermanentWidget(self.device_label)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(self.close_film_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        for mode in ViewMode:
            view_menu.addAction(self.mode_actions[mode])
        view_menu.addSeparator()
        for action in (
            self.fit_action,
            self.actual_action,
            self.zoom_in_action,
            self.zoom_out_action,
        ):
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(self.info_dock.toggleViewAction())
        play_menu = bar.addMenu("&Playback")
        for action in self.transport_actions:
            play_menu.addAction(action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("Open the log folder", self._open_log_folder))
        help_menu.addAction(self._action("About FlowChroma Studio", self._about))

    # ------------------------------------------------------------------ start-up

    def _core_ready(self, core: object) -> None:
        assert isinstance(core, CoreReady)
        self.core = core
        self.settings = core.settings
        self.device_label.setText(f"Device: {core.device_text}")
        self.model_label.setText("Model: loads on first preview")
        self._set_activity("ready" if self.path is None else self.activity_label.text())
        if core.settings_problem:
            notification_manager.receive_message(
                f"{core.settings_problem}\n\nThe default settings are used until you save "
                "new ones.",
                title="Settings not usable",
                severity="warning",
            )
        self._update_actions()
        self.core_ready.emit()
        if self._pending_open is not None:
            path, self._pending_open = self._pending_open, None
            self.open_path(path)
        elif self.path is not None:
            self._start_scan()
            self.request_preview()

    # ------------------------------------------------------------------ opening films

    def open_dialog(self) -> None:
        start = str(Path(self.path).parent) if self.path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open film", start, VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | os.PathLike[str]) -> None:
        """Open a film (its metadata is read on a worker; the window stays live)."""
        path = str(Path(path).expanduser())
        if self.settings is None:  # the engine is still starting: open once it is ready
            self._pending_open = path
            self._set_activity(f"opening {Path(path).name} once the engine has started…")
            return
        self._set_activity(f"opening {Path(path).name}…")
        self.workers.start(
            open_film,
            path,
            name=f"opening {Path(path).name}",
            on_returned=self._film_opened,
            on_errored=lambda exc: self._open_failed(path, exc),
        )

    def _open_failed(self, path: str, exc: object) -> None:
        self._set_activity("")
        self._forget_recent(path)
        notification_manager.receive_error(exc, title="Cannot open the film")  # type: ignore[arg-type]

    def _film_opened(self, opened: object) -> None:
        assert isinstance(opened, FilmOpened)
        self._unload_film()
        info = opened.info
        self.path, self.info = opened.path, info
        self.setWindowTitle(f"{Path(opened.path).name} — FlowChroma Studio")
        self.playhead.reset(info.frame_count, info.frame_rate)
        self.timeline.set_film(info.frame_count, info.frame_rate, info.start_timecode)
        self.info_panel.set_info(info)
        self.viewer.clear()
        self._add_recent(opened.path)
        self._update_actions()
        self._start_scan()
        self.seek(0)
        self.viewer.setFocus()
        self.film_opened.emit(opened.path)
        logger.info("opened %s: %s", opened.path, info.summary().replace("\n", "; "))

    def _start_scan(self) -> None:
        assert self.info is not None and self.path is not None and self.settings is not None
        if self.scan_worker is not None:
            self.scan_worker.quit()
        self.shots = ShotMap(self.info.frame_count, threshold=self.settings.scene_cut_threshold)
        self.timeline.set_cuts(())
        worker_shots = self.shots
        self.scan_worker = self.workers.start(
            scan_film,
            self.path,
            worker_shots,
            name="scanning the film",
            on_yielded=lambda p: self._scan_progress(worker_shots, p),
            on_errored=lambda exc: self._scan_failed(worker_shots, exc),
        )

    def _scan_progress(self, shots: ShotMap, progress: object) -> None:
        if shots is not self.shots:
            return
        assert isinstance(progress, ScanProgress)
        self.timeline.set_cuts(progress.cuts)
        self.timeline.add_thumbnails(progress.thumbnails)
        self.info_panel.set_shots(
            progress.cuts, finished=progress.finished, threshold=shots.threshold
        )
        if progress.finished:
            self.timeline.set_scan_status(f"{len(progress.cuts)} shot cut(s)")
        else:
            self.timeline.set_scan_status(
                f"scanning {100 * progress.done // max(1, progress.total)} %"
            )

    def _scan_failed(self, shots: ShotMap, exc: object) -> None:
        if shots is not self.shots:
            return
        self.timeline.set_scan_status("scan stopped early")
        notification_manager.receive_error(exc, title="Reading the film stopped early")  # type: ignore[arg-type]

    def close_film(self) -> None:
        if self.export_running() and self.export_request_source() == self.path:
            QMessageBox.information(
                self, "Export running", "The film is being exported; cancel the export first."
            )
            return
        self._unload_film()
        self.setWindowTitle("FlowChroma Studio")
        self._update_actions()

    def _unload_film(self) -> None:
        self.stop_playing()
        if self.scan_worker is not None:
            self.scan_worker.quit()
            self.scan_worker = None
        if self.shots is not None:
            self.shots.stop()
        self.preview_thread.cancel_current()
        self.decoder_thread.cancel_current()
        self.path = self.info = self.shots = None
        self.preview_requested = None
        self.playhead.reset(0, Fraction(25))
        self.timeline.clear()
        self.info_panel.set_info(None)
        self.viewer.clear()

    # ------------------------------------------------------------------ recent files

    def recent_files(self) -> list[str]:
        value = self.state.value("recent/files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def _add_recent(self, path: str) -> None:
        files = [path, *[p for p in self.recent_files() if p != path]][:MAX_RECENT]
        self.state.setValue("recent/files", files)

    def _forget_recent(self, path: str) -> None:
        self.state.setValue("recent/files", [p for p in self.recent_files() if p != path])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for path in files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not files:
            self.recent_menu.addAction("No recent films").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction(
                "Clear the list", lambda: self.state.setValue("recent/files", [])
            )

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                event.acceptProposedAction()
                return

    # ------------------------------------------------------------------ position

    @property
    def position(self) -> int:
        return self.playhead.position

    def seek(self, frame: int) -> None:
        """Show ``frame``: the source at once from the decoder, the colours when ready."""
        if self.path is None:
            return
        frame = self.playhead.seek(frame)
        self.timeline.set_position(frame)
        self.decoder_thread.submit(SourceRequest(self.path, frame))
        self.request_preview()

    def step(self, frames: int) -> None:
        self.stop_playing()
        self.seek(self.playhead.position + frames)

    def toggle_play(self) -> None:
        self.playhead.toggle_play()
        self._sync_play_timer()

    def shuttle_forward(self) -> None:
        self.playhead.shuttle_forward()
        self._sync_play_timer()

    def shuttle_backward(self) -> None:
        self.playhead.shuttle_backward()
        self._sync_play_timer()

    def stop_playing(self) -> None:
        self.playhead.stop()
        self._sync_play_timer()

    def _sync_play_timer(self) -> None:
        if self.playhead.speed and self.path is not None:
            interval = max(1, round(1000 / float(self.playhead.rate)))
            if not self.play_timer.isActive() or self.play_timer.interval() != interval:
                self.play_timer.start(interval)
            self.play_action.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        else:
            self.play_timer.stop()
            self.play_action.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))

    def _play_tick(self) -> None:
        before = self.playhead.position
        after = self.playhead.tick()
        if after != before:
            self.seek(after)
        self._sync_play_timer()

    def mark_in(self) -> None:
        self.playhead.mark_in()
        self._marks_changed()

    def mark_out(self) -> None:
        self.playhead.mark_out()
        self._marks_changed()

    def clear_marks(self) -> None:
        self.playhead.clear_marks()
        self._marks_changed()

    def go_to_mark(self, mark: int | None) -> None:
        """Shift+I / Shift+O: jump to the in or out point, if it is set."""
        if mark is not None:
            self.step(mark - self.position)

    def jump_cut(self, direction: int) -> None:
        """Up/Down, as in editing software: the previous or next shot start."""
        if self.shots is None:
            return
        starts = [0, *self.shots.cuts()]
        if direction > 0:
            later = [c for c in starts if c > self.position]
            target = later[0] if later else self.playhead.last
        else:
            earlier = [c for c in starts if c < self.position]
            target = earlier[-1] if earlier else 0
        self.step(target - self.position)

    def _marks_changed(self) -> None:
        self.timeline.set_range(self.playhead.in_point, self.playhead.out_point)
        self.request_preview()  # the range's first frame starts a shot in the export

    # ------------------------------------------------------------------ showing frames

    def current_key(self) -> PreviewKey | None:
        if self.path is None or self.shots is None or self.settings is None:
            return None
        return preview_key(
            self.position,
            film=self.path,
            cuts=self.shots.cuts(),
            frame_count=self.shots.frame_count,
            export_range=self.playhead.marked_range(),
            settings=self.settings,
        )

    def request_preview(self) -> None:
        """Show the current frame's colours from the cache, or ask the preview thread."""
        if self.path is None or self.shots is None or self.settings is None:
            return
        key = self.current_key()
        assert key is not None
        image = self.cache.get(key)
        if image is not None:
            self.viewer.set_result(key.frame, image)
            self.frame_shown.emit(key.frame, True)
            return
        self.viewer.set_result(None, None, f"Colorizing frame {key.frame}…")
        if key == self.preview_requested:
            return
        self.preview_requested = key
        self.preview_started = time.perf_counter()
        self.preview_thread.submit(
            PreviewRequest(
                self.path,
                self.position,
                self.settings,
                self.shots,
                self.playhead.marked_range(),
            )
        )

    def _source_event(self, request_id: int, event: object) -> None:
        if request_id != self.decoder_thread.last_id or not isinstance(event, SourceImage):
            return
        if event.path != self.path or event.index != self.position:
            return
        first = self.viewer.source_index is None
        self.viewer.set_source(event.index, event.gray)
        if first:
            self.viewer.fit()
        self.frame_shown.emit(event.index, self.viewer.result_index == event.index)

    def _source_failed(self, request_id: int, exc: object) -> None:
        if request_id == self.decoder_thread.last_id:
            notification_manager.receive_error(exc, title="Cannot decode the frame")  # type: ignore[arg-type]

    def _preview_event(self, request_id: int, event: object) -> None:
        if isinstance(event, PreviewActivity):
            if request_id == self.preview_thread.last_id:
                self._set_activity(f"Preview: {event.text}")
        elif isinstance(event, PreviewHost):
            self.device_label.setText(f"Device: {event.status.device}")
            self.model_label.setText(f"Model: {event.status.model}")
        elif isinstance(event, PreviewCached):
            self._cached_dirty = True
            self._show_if_current(event.key)
        elif isinstance(event, PreviewReady):
            self._show_if_current(event.key)
            if event.key == self.preview_requested:
                self.preview_requested = None

    def _show_if_current(self, key: PreviewKey) -> None:
        if key != self.current_key():
            return
        image = self.cache.get(key)
        if image is None:
            return
        if self.viewer.result_index != key.frame:
            self.preview_latencies.append(time.perf_counter() - self.preview_started)
        self.viewer.set_result(key.frame, image)
        self.frame_shown.emit(key.frame, True)

    def _preview_failed(self, request_id: int, exc: object) -> None:
        self.preview_requested = None
        if request_id != self.preview_thread.last_id:
            return
        self.viewer.set_result(None, None, "Preview failed (see the message)")
        self._set_activity("Preview: failed")
        notification_manager.receive_error(exc, title="Preview failed")  # type: ignore[arg-type]

    def _refresh_cached_marks(self) -> None:
        if not self._cached_dirty:
            return
        self._cached_dirty = False
        current = self.current_key()
        if current is None:
            self.timeline.set_cached(())
            return
        frames = [
            k.frame
            for k in self.cache.snapshot()
            if k.film == current.film and k.settings == current.settings
        ]
        self.timeline.set_cached(frames)

    def set_view_mode(self, mode: ViewMode) -> None:
        self.mode_actions[mode].setChecked(True)
        self.viewer.set_mode(mode)

    def _set_activity(self, text: str) -> None:
        self.activity_label.setText(text)

    # ------------------------------------------------------------------ settings

    def show_settings(self) -> None:
        if self.core is None or self.settings is None:
            return
        dialog = SettingsDialog(self.core, self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.saved))
        dialog.finished.connect(lambda *_: setattr(self, "settings_dialog", None))
        self.settings_dialog = dialog
        dialog.open()

    def apply_settings(self, settings: Settings | None) -> None:
        """Use new settings: the preview cache is dropped and the frame colorized again."""
        if settings is None or settings == self.settings:
            return
        old = self.settings
        self.settings = settings
        self.cache.clear()
        self.preview_requested = None
        self.preview_thread.cancel_current()
        self._cached_dirty = True
        if settings.model != getattr(old, "model", None) or settings.device != getattr(
            old, "device", None
        ):
            self.model_label.setText("Model: loads on next preview")
        if self.path is not None:
            if old is None or settings.scene_cut_threshold != old.scene_cut_threshold:
                self._start_scan()
            self.request_preview()
        logger.info("settings changed; preview cache cleared")

    # ------------------------------------------------------------------ export

    def show_export(self) -> None:
        if self.core is None or self.settings is None:
            return
        if self.export_dialog is None:
            self.export_dialog = ExportDialog(self.core, self)
            self.export_dialog.start_requested.connect(self.start_export)
            self.export_dialog.cancel_requested.connect(self.cancel_export)
        if self.path is not None and not self.export_running():
            self.export_dialog.prepare(
                source=self.path,
                frame_count=self.playhead.frame_count,
                marked=self.playhead.marked_range(),
                settings=self.settings,
            )
        self.export_dialog.show()
        self.export_dialog.raise_()

    def export_running(self) -> bool:
        """An export runs and has not been cancelled (a cancelled one is only winding down)."""
        worker = self.export_worker
        return worker is not None and not worker.is_finished and not worker.ctx.cancelled

    def export_request_source(self) -> str | None:
        if not self.export_running() or self._export_request is None:
            return None
        return self._export_request.source

    def start_export(self, request: object) -> None:
        assert isinstance(request, ExportRequest) and self.export_dialog is not None
        if self.export_running():
            return
        dialog = self.export_dialog
        self._export_request = request
        dialog.show_started(request.stop - request.start)
        self.export_label.setText("Export starting…")
        logger.info("export of %s to %s (%s)", request.source, request.destination, request.codec)

        def progress(p: object) -> None:
            assert isinstance(p, ExportProgress)
            dialog.show_progress(p)
            if p.stage == "colorizing" and p.done:
                self.export_label.setText(f"Export {100 * p.done // max(1, p.total)} %")
            else:
                self.export_label.setText(f"Export: {p.stage}…")

        def done(result: object) -> None:
            assert isinstance(result, ExportDone)
            self.export_label.setText("Export done")
            dialog.show_done(result)

        def failed(exc: object) -> None:
            self.export_label.setText("Export failed")
            dialog.show_failed(describe_exception(exc), str(log_file_path()))  # type: ignore[arg-type]

        def cancelled() -> None:
            self.export_label.setText("Export cancelled")
            dialog.show_cancelled()

        self.export_worker = self.workers.start(
            export_film,
            request,
            self.host,
            name="export",
            on_yielded=progress,
            on_returned=done,
            on_errored=failed,
            on_aborted=cancelled,
            on_finished=self._export_finished,
        )

    def _export_finished(self) -> None:
        self.export_worker = None

    def cancel_export(self) -> None:
        if self.export_running():
            assert self.export_worker is not None and self.export_dialog is not None
            self.export_worker.quit()
            self.export_dialog.show_cancelling()
            self.export_label.setText("Export cancelling…")

    # ------------------------------------------------------------------ misc

    def _update_actions(self) -> None:
        has_film = self.path is not None
        ready = self.core is not None
        self.export_action.setEnabled(has_film and ready)
        self.settings_action.setEnabled(ready)
        self.close_film_action.setEnabled(has_film)
        for action in self.transport_actions:
            action.setEnabled(has_film)

    def _open_log_folder(self) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file_path().parent)))

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About FlowChroma Studio",
            f"<b>FlowChroma Studio {__version__}</b><br>Colorizes black-and-white film with "
            "FlowChroma, a recurrent video colorizer.<br><br>Log file: "
            f"{log_file_path()}",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask before abandoning an export; then stop every worker and wait for it."""
        if self.export_running() and not self._closing:
            answer = QMessageBox.question(
                self,
                "Export running",
                "An export is running. Cancel it and quit? Nothing is written to its "
                "destination when it is cancelled.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Cancel and join every background job and thread (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.play_timer.stop()
        self.marks_timer.stop()
        self.state.setValue("window/geometry", self.saveGeometry())
        self.state.sync()
        if self.shots is not None:
            self.shots.stop()
        self.workers.shutdown()
        self.bridge.close()
        self.host.release()
        logger.info("window closed; background work stopped")
