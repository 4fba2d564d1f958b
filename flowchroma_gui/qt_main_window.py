"""The main window: open a film, scrub it, compare source and colorized, export.

The window owns the widgets, the playhead and the film that is open (its path, metadata,
shot map) with the processing settings; it starts the jobs that read the film and hands
the rest to its parts:

* ``qt_actions``: every action, the toolbar, the menus and the recent-files list;
* ``qt_transport``: playing, stepping, jumping and the in/out marks;
* ``qt_preview_controller``: the preview thread and cache, showing the colours of the
  frame on screen;
* ``qt_export_controller``: exports in the background, their dialog and progress.

Background work, all through ``qthreading`` (the GUI thread never imports torch or PyAV;
it sees plain data and numpy arrays):

* ``warm_up`` (pool) imports torch and the core and loads the saved settings; until it
  returns, opening a film is queued and export and settings wait;
* ``open_film`` (pool) reads the metadata; ``scan_film`` (pool) decodes the film once for
  thumbnails and shot cuts, filling the ``ShotMap`` that the preview reads;
* the decoder thread (latest request wins) decodes the frame to show;
* the preview thread (latest request wins; see the preview controller);
* ``export_film`` (pool; see the export controller).
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter

from flowchroma_core import __version__
from flowchroma_core.fileio import config_dir
from flowchroma_gui.jobs import (
    CoreReady,
    FilmOpened,
    ScanProgress,
    SourceDecoder,
    SourceImage,
    SourceRequest,
    open_film,
    scan_film,
    warm_up,
)
from flowchroma_gui.model_host import ModelHost
from flowchroma_gui.notifications import log_file_path, notification_manager
from flowchroma_gui.playhead import Playhead
from flowchroma_gui.qt_actions import RecentFiles, WindowActions
from flowchroma_gui.qt_error_dialog import NotificationBridge
from flowchroma_gui.qt_export_controller import ExportController
from flowchroma_gui.qt_guidance_controller import GuidanceController
from flowchroma_gui.qt_info_panel import InfoPanel
from flowchroma_gui.qt_preview_controller import PreviewContext, PreviewController
from flowchroma_gui.qt_settings_dialog import SettingsDialog
from flowchroma_gui.qt_timeline import Timeline
from flowchroma_gui.qt_transport import Transport
from flowchroma_gui.qt_viewer import Viewer, ViewMode
from flowchroma_gui.qthreading import GeneratorWorker, WorkerManager
from flowchroma_gui.shot_map import ShotMap

if TYPE_CHECKING:
    from flowchroma_core.settings import Settings
    from flowchroma_core.video.reader import VideoInfo
    from flowchroma_gui.preview import PreviewCache, PreviewEngine, PreviewKey
    from flowchroma_gui.qt_export_dialog import ExportDialog
    from flowchroma_gui.qthreading import LatestRequestThread

logger = logging.getLogger(__name__)

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
        self.decoder = SourceDecoder()
        self.decoder_thread = self.workers.thread(
            self.decoder.handle, name="decoder", cleanup=self.decoder.close
        )
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
        self.settings_dialog: SettingsDialog | None = None
        self._pending_open: str | None = None
        self._closing = False
        self.state = QSettings(str(gui_state_path()), QSettings.Format.IniFormat)
        self.recent = RecentFiles(self.state, self.open_path)

        self.transport = Transport(self.playhead, self.seek, self)
        self.transport.marks_changed.connect(self._marks_changed)
        self.window_actions = WindowActions(self)
        self.transport.playing_changed.connect(self.window_actions.show_playing)
        self._build_ui()
        self.window_actions.build_menus(self.recent, self.info_dock)
        self.preview = PreviewController(
            self.workers, self.host, self.viewer, self.timeline, self._preview_context, self
        )
        self.preview.shown.connect(lambda frame: self.frame_shown.emit(frame, True))
        self.preview.activity.connect(self._set_activity)
        self.preview.host_changed.connect(self._show_host)
        self.exports = ExportController(self.workers, self.host, self)
        self.exports.status.connect(self.export_label.setText)
        self.guidance = GuidanceController(self)
        self.preview.model_vividness.connect(self.guidance.show_model_vividness)
        self._update_actions()
        geometry = self.state.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.workers.start(warm_up, name="starting the engine", on_returned=self._core_ready)
        self._set_activity("starting the engine…")

    def _build_ui(self) -> None:
        self.viewer = Viewer(self)
        self.timeline = Timeline(self.window_actions.timeline_buttons(), self)
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
        self.toolbar = self.window_actions.build_toolbar()

        status = self.statusBar()
        self.device_label = QLabel("Device: –", self)
        self.model_label = QLabel("Model: –", self)
        self.activity_label = QLabel("", self)
        self.export_label = QLabel("", self)
        status.addWidget(self.activity_label, 1)
        status.addPermanentWidget(self.export_label)
        status.addPermanentWidget(self.model_label)
        status.addPermanentWidget(self.device_label)

    # ------------------------------------------------------------------ the parts, by name

    @property
    def cache(self) -> PreviewCache:
        return self.preview.cache

    @property
    def preview_engine(self) -> PreviewEngine:
        return self.preview.engine

    @property
    def preview_thread(self) -> LatestRequestThread:
        return self.preview.thread

    @property
    def export_dialog(self) -> ExportDialog | None:
        return self.exports.dialog

    def current_key(self) -> PreviewKey | None:
        return self.preview.current_key()

    def request_preview(self) -> None:
        self.preview.request()

    def export_running(self) -> bool:
        return self.exports.running()

    def recent_files(self) -> list[str]:
        return self.recent.files()

    # ------------------------------------------------------------------ start-up

    def _core_ready(self, core: object) -> None:
        assert isinstance(core, CoreReady)
        self.core = core
        self.settings = core.settings
        self.guidance.show_vividness(core.settings.vividness)
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
        self.recent.forget(path)
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
        self.recent.add(opened.path)
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
        self.shots = ShotMap(self.info.frame_count, threshold=self.settings.cut_threshold)
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
        source = self.exports.running_source()
        if source is not None and source == self.path:
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
        self.preview.film_closed()
        self.decoder_thread.cancel_current()
        self.path = self.info = self.shots = None
        self.playhead.reset(0, Fraction(25))
        self.timeline.clear()
        self.info_panel.set_info(None)
        self.viewer.clear()

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
        self.transport.step(frames)

    def stop_playing(self) -> None:
        self.transport.stop()

    def jump_cut(self, direction: int) -> None:
        """Up/Down: the previous or next shot start (once the scan has found cuts)."""
        if self.shots is not None:
            self.transport.jump_cut(direction, self.shots.cuts())

    @property
    def play_timer(self) -> QTimer:
        return self.transport.timer

    def _marks_changed(self) -> None:
        self.timeline.set_range(self.playhead.in_point, self.playhead.out_point)
        self.request_preview()  # the range's first frame starts a shot in the export

    # ------------------------------------------------------------------ showing frames

    def _preview_context(self) -> PreviewContext | None:
        """What the preview should colorize now (None: nothing to preview yet)."""
        if self.path is None or self.shots is None or self.settings is None:
            return None
        return PreviewContext(
            path=self.path,
            frame=self.position,
            shots=self.shots,
            settings=self.settings,
            export_range=self.playhead.marked_range(),
            guidance=self.guidance.preview_input() if hasattr(self, "guidance") else None,
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
        exact = self.viewer.result_index == event.index and not self.viewer.result_approximate
        self.frame_shown.emit(event.index, exact)

    def _source_failed(self, request_id: int, exc: object) -> None:
        if request_id == self.decoder_thread.last_id:
            notification_manager.receive_error(exc, title="Cannot decode the frame")  # type: ignore[arg-type]

    def _show_host(self, device: str, model: str) -> None:
        self.device_label.setText(f"Device: {device}")
        self.model_label.setText(f"Model: {model}")

    def set_view_mode(self, mode: ViewMode) -> None:
        self.window_actions.modes[mode].setChecked(True)
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
        self.preview.settings_changed()
        self.guidance.show_vividness(settings.vividness)
        if settings.model != getattr(old, "model", None) or settings.device != getattr(
            old, "device", None
        ):
            self.model_label.setText("Model: loads on next preview")
        if self.path is not None:
            if old is None or settings.cut_threshold != old.cut_threshold:
                self._start_scan()
            self.request_preview()
        logger.info("settings changed; preview cache cleared")

    # ------------------------------------------------------------------ export

    def show_export(self) -> None:
        if self.core is None or self.settings is None:
            return
        self.exports.show(
            self.core,
            source=self.path,
            frame_count=self.playhead.frame_count,
            marked=self.playhead.marked_range(),
            settings=self.settings,
        )

    def cancel_export(self) -> None:
        self.exports.cancel()

    # ------------------------------------------------------------------ misc

    def _update_actions(self) -> None:
        self.window_actions.update(has_film=self.path is not None, core_ready=self.core is not None)

    def open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file_path().parent)))

    def about(self) -> None:
        QMessageBox.about(
            self,
            "About FlowChroma Studio",
            f"<b>FlowChroma Studio {__version__}</b><br>Colorizes black-and-white film with "
            "FlowChroma, a recurrent video colorizer.<br><br>Log file: "
            f"{log_file_path()}",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask before abandoning an export; then stop every worker and wait for it."""
        if not self._closing and not self.exports.may_close():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Cancel and join every background job and thread (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.transport.timer.stop()
        self.preview.stop()
        self.guidance.shutdown()
        self.state.setValue("window/geometry", self.saveGeometry())
        self.state.sync()
        if self.shots is not None:
            self.shots.stop()
        self.workers.shutdown()
        self.bridge.close()
        self.host.release()
        logger.info("window closed; background work stopped")
