"""The export controller: runs exports in the background while the user goes on working.

It owns the export dialog, the one export worker (``jobs.export_film`` on the pool,
sharing the loaded network through the ``ModelHost``), its progress in the dialog and the
status line, cancelling, and the question asked when the window closes during an export.
A cancelled export is only winding down: it no longer counts as running, so closing does
not ask again, and it ends in ``show_cancelled``, never in ``show_done``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from flowchroma_gui.jobs import ExportDone, ExportProgress, ExportRequest, export_film
from flowchroma_gui.notifications import describe_exception, log_file_path
from flowchroma_gui.qt_export_dialog import ExportDialog

if TYPE_CHECKING:
    from flowchroma_core.settings import Settings
    from flowchroma_gui.jobs import CoreReady
    from flowchroma_gui.model_host import ModelHost
    from flowchroma_gui.qthreading import GeneratorWorker, WorkerManager

logger = logging.getLogger(__name__)


class ExportController(QObject):
    """See the module docstring."""

    status = Signal(str)  # the export's line in the status bar

    def __init__(self, workers: WorkerManager, host: ModelHost, window: QWidget) -> None:
        super().__init__(window)
        self._workers = workers
        self._host = host
        self._window = window
        self.dialog: ExportDialog | None = None
        self.worker: GeneratorWorker | None = None
        self._request: ExportRequest | None = None
        # film -> its project file when it has guidance (set by the guidance controller)
        self.project_for: Callable[[str], str | None] | None = None

    def show(
        self,
        core: CoreReady,
        *,
        source: str | None,
        frame_count: int,
        marked: tuple[int, int] | None,
        settings: Settings,
    ) -> ExportDialog:
        """Show the dialog, set up for ``source`` unless an export is running."""
        if self.dialog is None:
            self.dialog = ExportDialog(core, self._window)
            self.dialog.start_requested.connect(self.start)
            self.dialog.cancel_requested.connect(self.cancel)
        if source is not None and not self.running():
            self.dialog.prepare(
                source=source, frame_count=frame_count, marked=marked, settings=settings
            )
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def running(self) -> bool:
        """An export runs and has not been cancelled (a cancelled one is only winding down)."""
        worker = self.worker
        return worker is not None and not worker.is_finished and not worker.ctx.cancelled

    def running_source(self) -> str | None:
        """The film being exported, if an export runs."""
        if not self.running() or self._request is None:
            return None
        return self._request.source

    def start(self, request: object) -> None:
        assert isinstance(request, ExportRequest) and self.dialog is not None
        if self.running():
            return
        dialog = self.dialog
        if self.project_for is not None:  # the film's guidance, saved first
            request = dataclasses.replace(request, project=self.project_for(request.source))
        self._request = request
        dialog.show_started(request.stop - request.start)
        self.status.emit("Export starting…")
        logger.info("export of %s to %s (%s)", request.source, request.destination, request.codec)

        def progress(p: object) -> None:
            assert isinstance(p, ExportProgress)
            dialog.show_progress(p)
            if p.stage == "colorizing" and p.done:
                self.status.emit(f"Export {100 * p.done // max(1, p.total)} %")
            else:
                self.status.emit(f"Export: {p.stage}…")

        def done(result: object) -> None:
            assert isinstance(result, ExportDone)
            self.status.emit("Export done")
            dialog.show_done(result)

        def failed(exc: object) -> None:
            self.status.emit("Export failed")
            dialog.show_failed(describe_exception(exc), str(log_file_path()))  # type: ignore[arg-type]

        def cancelled() -> None:
            self.status.emit("Export cancelled")
            dialog.show_cancelled()

        self.worker = self._workers.start(
            export_film,
            request,
            self._host,
            name="export",
            on_yielded=progress,
            on_returned=done,
            on_errored=failed,
            on_aborted=cancelled,
            on_finished=self._finished,
        )

    def _finished(self) -> None:
        self.worker = None

    def cancel(self) -> None:
        if self.running():
            assert self.worker is not None and self.dialog is not None
            self.worker.quit()
            self.dialog.show_cancelling()
            self.status.emit("Export cancelling…")

    def may_close(self) -> bool:
        """Whether the window may close: asks first while an export runs."""
        if not self.running():
            return True
        answer = QMessageBox.question(
            self._window,
            "Export running",
            "An export is running. Cancel it and quit? Nothing is written to its "
            "destination when it is cancelled.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes
