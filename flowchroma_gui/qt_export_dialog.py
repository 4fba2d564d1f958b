"""The export dialog: range, destination, codec and processing settings; then progress.

It does not run anything itself: ``start_requested`` carries an ``ExportRequest`` to the
window, which runs it on a worker and feeds progress back here. The dialog is not modal,
so the user can go on scrubbing while an export runs; closing it only hides it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from flowchroma_gui.jobs import ExportDone, ExportProgress, ExportRequest
from flowchroma_gui.qt_settings_dialog import ERROR_STYLE, codec_combo
from flowchroma_gui.qt_settings_form import ProcessingForm

if TYPE_CHECKING:
    from flowchroma_core.settings import Settings
    from flowchroma_gui.jobs import CoreReady

logger = logging.getLogger(__name__)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ExportDialog(QDialog):
    """See the module docstring."""

    start_requested = Signal(object)  # ExportRequest
    cancel_requested = Signal()

    def __init__(self, core: CoreReady, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export colorized film")
        self.setModal(False)
        self.core = core
        self._codecs = {c.name: c for c in core.codecs}
        self.source = ""
        self.frame_count = 0
        self.marked: tuple[int, int] | None = None
        self.base: Settings | None = None
        self.running = False
        self.message_box: QMessageBox | None = None  # the last result message, for tests
        self.last_output: str | None = None

        self.source_label = QLabel(self)
        self.source_label.setWordWrap(True)
        self.whole = QRadioButton(self)
        self.in_out = QRadioButton(self)
        self.range_group = QButtonGroup(self)
        self.range_group.addButton(self.whole)
        self.range_group.addButton(self.in_out)
        range_box = QGroupBox("Range", self)
        range_layout = QVBoxLayout(range_box)
        range_layout.addWidget(self.whole)
        range_layout.addWidget(self.in_out)

        self.destination = QLineEdit(self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        dest_row = QHBoxLayout()
        dest_row.addWidget(self.destination, 1)
        dest_row.addWidget(browse)
        self.codec = codec_combo(core, self)
        self.codec.currentIndexChanged.connect(self._codec_changed)
        output = QGroupBox("Output", self)
        out_form = QFormLayout(output)
        out_form.addRow("Destination", dest_row)
        out_form.addRow("Codec", self.codec)

        self.form = ProcessingForm(core, self)
        processing = QGroupBox("Processing", self)
        proc_layout = QVBoxLayout(processing)
        proc_layout.addWidget(self.form)
        note = QLabel(
            "Changes here apply to this export only. Settings… changes the defaults and the "
            "preview, which shows exactly what an export with the same settings produces.",
            self,
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        proc_layout.addWidget(note)

        self.problems_label = QLabel(self)
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet(ERROR_STYLE)

        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label = QLabel("", self)
        self.progress_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.export_button = QPushButton("Export", self)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self._start)
        self.cancel_button = QPushButton("Cancel export", self)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.setVisible(False)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.hide)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.source_label)
        layout.addWidget(range_box)
        layout.addWidget(output)
        layout.addWidget(processing)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addLayout(buttons)
        self._inputs: tuple[QWidget, ...] = (range_box, output, processing)

        self.form.changed.connect(self.validate)
        self.destination.textChanged.connect(self.validate)
        self.range_group.buttonToggled.connect(lambda *_: self.validate())
        self.resize(620, self.sizeHint().height())

    # ------------------------------------------------------------------ set-up

    def prepare(
        self,
        *,
        source: str,
        frame_count: int,
        marked: tuple[int, int] | None,
        settings: Settings,
    ) -> None:
        """Fill the dialog for a film (unless an export is running)."""
        if self.running:
            return
        self.source, self.frame_count, self.marked, self.base = (
            source,
            frame_count,
            marked,
            settings,
        )
        self.source_label.setText(f"<b>{Path(source).name}</b> — {frame_count} frames")
        self.whole.setText(f"Whole film (frames 0 to {frame_count - 1}, {frame_count} frames)")
        if marked is not None:
            start, stop = marked
            self.in_out.setText(f"In to out (frames {start} to {stop - 1}, {stop - start} frames)")
            self.in_out.setEnabled(True)
            self.in_out.setChecked(True)
        else:
            self.in_out.setText("In to out (mark them with I and O on the timeline)")
            self.in_out.setEnabled(False)
            self.whole.setChecked(True)
        self.form.set_settings(settings)
        i = self.codec.findData(settings.export_codec)
        self.codec.blockSignals(True)
        self.codec.setCurrentIndex(max(0, i))
        self.codec.blockSignals(False)
        self.destination.setText(str(self.default_destination()))
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText("")
        self.validate()

    def default_destination(self) -> Path:
        source = Path(self.source)
        folder = (
            Path(self.base.export_folder).expanduser()
            if self.base and self.base.export_folder
            else source.parent
        )
        return folder / f"{source.stem}_colorized{self._extension()}"

    def _extension(self) -> str:
        codec = self._codecs.get(self.codec.currentData())
        return codec.extensions[0] if codec else ".mkv"

    def _codec_changed(self) -> None:
        text = self.destination.text().strip()
        if text:
            self.destination.setText(str(Path(text).with_suffix(self._extension())))
        self.validate()

    def _browse(self) -> None:
        codec = self._codecs.get(self.codec.currentData())
        patterns = " ".join(f"*{e}" for e in codec.extensions) if codec else "*"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export to", self.destination.text(), f"{self.codec.currentData()} ({patterns})"
        )
        if path:
            self.destination.setText(path)

    # ------------------------------------------------------------------ request

    def export_range(self) -> tuple[int, int]:
        if self.in_out.isChecked() and self.marked is not None:
            return self.marked
        return 0, self.frame_count

    def request(self) -> ExportRequest:
        assert self.base is not None
        start, stop = self.export_range()
        return ExportRequest(
            source=self.source,
            destination=self.destination.text().strip(),
            codec=self.codec.currentData(),
            start=start,
            stop=stop,
            settings=self.form.settings(self.base),
        )

    def problems(self) -> list[str]:
        if self.base is None:
            return ["no film is open"]
        problems = self.form.settings(self.base).problems()
        dest = self.destination.text().strip()
        if not dest:
            problems.append("destination: choose where to write the export")
        elif Path(dest).expanduser().resolve() == Path(self.source).resolve():
            problems.append("destination: that is the source film itself")
        return problems

    def validate(self) -> bool:
        problems = self.problems()
        self.problems_label.setText("\n".join(problems))
        self.problems_label.setVisible(bool(problems))
        self.export_button.setEnabled(not problems and not self.running)
        return not problems

    def _start(self) -> None:
        if self.running or not self.validate():
            return
        request = self.request()
        dest = Path(request.destination).expanduser()
        if dest.exists() and not self.confirm_replace(dest):
            return
        self.start_requested.emit(request)

    def confirm_replace(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self, "Replace?", f"{path} already exists. Replace it when the export succeeds?"
        )
        return answer == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ progress

    def set_running(self, running: bool) -> None:
        self.running = running
        for widget in self._inputs:
            widget.setEnabled(not running)
        self.destination.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.export_button.setVisible(not running)
        self.validate()

    def show_started(self, total: int) -> None:
        self.set_running(True)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self.progress_label.setText("Starting…")

    def show_progress(self, p: ExportProgress) -> None:
        if p.stage != "colorizing" or not p.done:
            self.progress.setRange(0, 0)  # busy
            self.progress_label.setText(p.stage.capitalize() + "…")
            return
        self.progress.setRange(0, max(1, p.total))
        self.progress.setValue(p.done)
        self.progress_label.setText(
            f"Frame {p.done} of {p.total} · {p.fps:.1f} frames/s · {format_seconds(p.eta)} left"
        )

    def show_cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress_label.setText("Cancelling after the current clip…")

    def show_done(self, done: ExportDone) -> None:
        self.set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.last_output = done.output
        self.progress_label.setText(
            f"Done: {done.frames} frames in {format_seconds(done.seconds)} → {done.output}"
        )
        text = f"Exported {done.frames} frames to\n{done.output}"
        if done.notes:
            text += "\n\n" + "\n".join(f"• {n}" for n in done.notes)
        box = QMessageBox(QMessageBox.Icon.Information, "Export finished", text, parent=self)
        open_button = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Close)
        output = Path(done.output)
        folder = output if output.is_dir() else output.parent
        open_button.clicked.connect(lambda: self.open_folder(folder))
        self._show_box(box)

    def open_folder(self, folder: Path) -> None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            logger.warning("could not open %s in the file manager", folder)

    def show_failed(self, message: str, log_file: str) -> None:
        self.set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText("Export failed.")
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            "Export failed",
            f"{message}\n\nNothing was written to the destination. "
            f"The full report is in the log:\n{log_file}",
            parent=self,
        )
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._show_box(box)

    def show_cancelled(self) -> None:
        self.set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText("Export cancelled; nothing was written.")

    def _show_box(self, box: QMessageBox) -> None:
        """Show a message without blocking the event loop (workers keep reporting)."""
        if self.message_box is not None:
            self.message_box.close()
        self.message_box = box
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing only hides the dialog; a running export goes on (see the status bar)."""
        self.hide()
        event.ignore()
