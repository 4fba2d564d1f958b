"""The guidance editor's controller: the project of the open film, its undo stack, the
menus, the strips and the link to the preview.

``GuidanceController(window)`` attaches itself to the main window:

* when a film opens, its project ``FILM.flowchroma.json`` is reopened (or a new one
  started); the film's cuts from the background scan split it into shots;
* every edit (add, move, resize, recolour and remove a point; add and remove a reference
  still; the palette) is a ``QUndoCommand`` on one ``QUndoStack`` (Edit > Undo Ctrl+Z,
  Redo Ctrl+Shift+Z); after each the overlay, the strips and the preview follow;
* the project is saved on Ctrl+S and autosaved atomically a moment after each edit
  (``guidance.project.save_project`` writes a temporary file, then renames); recent
  projects are listed in File > Open recent project;
* File > Load reference (or drop an image on the viewer) adds a still for the current
  frame's shot; File > Export frame writes the current source frame as a PNG to colour
  outside and load back;
* the preview gets ``preview_input()``: a snapshot of the project with a content hash,
  or None when there is nothing to guide with (then preview and export are unguided);
* the similarity overlay (toggle) asks the model, on a worker, where the stills match;
* the vividness slider sets ``Settings.vividness`` live (0 muted .. 1 vivid).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QFileDialog,
    QVBoxLayout,
)

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.guidance.project import PaletteColour, Point, ReferenceStill
from flowchroma_gui.guidance_jobs import SimilarityMap, export_still, similarity
from flowchroma_gui.guidance_model import GuidanceDoc
from flowchroma_gui.notifications import notification_manager
from flowchroma_gui.preview import GuidanceInput
from flowchroma_gui.qt_actions import RecentFiles
from flowchroma_gui.qt_coverage_strip import CoverageStrip
from flowchroma_gui.qt_guidance_actions import build_guidance_actions
from flowchroma_gui.qt_point_editor import PointEditor
from flowchroma_gui.qt_reference_strip import ReferenceStrip

if TYPE_CHECKING:
    from flowchroma_gui.qt_main_window import MainWindow

logger = logging.getLogger(__name__)

AUTOSAVE_MS = 1500
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp)"


class _Edit(QUndoCommand):
    """One guidance edit: ``apply`` on redo, ``revert`` on undo, then ``after``."""

    def __init__(
        self,
        text: str,
        apply: Callable[[], object],
        revert: Callable[[], object],
        after: Callable[[], None],
    ) -> None:
        super().__init__(text)
        self._apply, self._revert, self._after = apply, revert, after

    def redo(self) -> None:
        self._apply()
        self._after()

    def undo(self) -> None:
        self._revert()
        self._after()


class RecentProjects(RecentFiles):
    """The last project files opened or saved (opening one opens its film)."""

    KEY = "recent/projects"

    def files(self) -> list[str]:
        value = self._state.value(self.KEY, [])
        return [value] if isinstance(value, str) else [str(v) for v in value or []]

    def add(self, path: str) -> None:
        self._state.setValue(self.KEY, [path, *[p for p in self.files() if p != path]][:10])

    def forget(self, path: str) -> None:
        self._state.setValue(self.KEY, [p for p in self.files() if p != path])

    def clear(self) -> None:
        self._state.setValue(self.KEY, [])


class GuidanceController(QObject):
    """See the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.doc: GuidanceDoc | None = None
        self.undo_stack = QUndoStack(self)
        self._input: tuple[int, GuidanceInput | None] | None = None
        self._cuts: tuple[int, ...] = ()
        self._similarity_key: tuple[str, int, str] | None = None
        self.reference_strip = ReferenceStrip(window)
        self.reference_strip.jump_requested.connect(window.seek)
        self.reference_strip.remove_requested.connect(self.remove_reference_at)
        self.coverage = CoverageStrip(window.timeline.slider.x_of, window.timeline)
        self.coverage.seek_requested.connect(window.seek)
        layout = window.timeline.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(2, self.coverage)  # under the slider, aligned with it
        splitter = window.centralWidget()
        splitter.insertWidget(1, self.reference_strip)  # type: ignore[attr-defined]
        splitter.setCollapsible(1, True)  # type: ignore[attr-defined]
        self.reference_strip.hide()  # shown when the shot has stills
        self.editor = PointEditor(self, window.viewer)
        self.autosave = QTimer(self)
        self.autosave.setSingleShot(True)
        self.autosave.setInterval(AUTOSAVE_MS)
        self.autosave.timeout.connect(self.save_if_dirty)
        self.cuts_timer = QTimer(self)
        self.cuts_timer.setInterval(500)
        self.cuts_timer.timeout.connect(self._follow_cuts)
        self.cuts_timer.start()
        self.recent = RecentProjects(window.state, self.open_project_file)
        build_guidance_actions(self)
        window.viewer.setAcceptDrops(True)
        window.viewer.installEventFilter(self)
        window.exports.project_for = self.project_for_export
        window.film_opened.connect(self.film_opened)
        window.frame_shown.connect(lambda *_: self._frame_changed())

    # ------------------------------------------------------------------ actions

    def status(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 5000)

    # ------------------------------------------------------------------ project

    def film_opened(self, path: str) -> None:
        """Reopen the film's project (or start one); the undo history starts empty."""
        self.save_if_dirty()
        self.undo_stack.clear()
        self.doc, self._cuts, self._input = None, (), None
        info = self.window.info
        assert info is not None
        try:
            self.doc = GuidanceDoc.open_for(
                path, frames=info.frame_count, rate=str(info.frame_rate)
            )
        except FlowChromaError as exc:
            notification_manager.receive_error(exc, title="The film's project cannot be opened")
            return
        if self.doc.path.is_file():
            self.recent.add(str(self.doc.path))
        self._follow_cuts()
        self._refresh()

    def open_project_file(self, path: str) -> None:
        """Open the film a project was made for (beside it, by name); its project follows."""
        from flowchroma_core.guidance.project import load_project

        try:
            project = load_project(path)
        except FlowChromaError as exc:
            self.recent.forget(path)
            notification_manager.receive_error(exc, title="Cannot open the project")
            return
        self.window.open_path(Path(path).parent / project.source.name)

    def save(self) -> None:
        if self.doc is None:
            return
        try:
            saved = self.doc.save()
        except (FlowChromaError, OSError) as exc:
            notification_manager.receive_error(exc, title="The project was not saved")
            return
        self.recent.add(str(saved))
        self.undo_stack.setClean()
        self.status(f"Saved {saved.name}")

    def save_if_dirty(self) -> None:
        if self.doc is not None and self.doc.dirty:
            self.save()

    def _follow_cuts(self) -> None:
        shots = self.window.shots
        if self.doc is None or shots is None:
            return
        cuts = shots.cuts()
        if cuts != self._cuts:
            self._cuts = cuts
            saved = self.doc.revision == self.doc.saved_revision
            self.doc.set_cuts(cuts)
            if saved:  # the cuts are the film's, not an edit
                self.doc.saved_revision = self.doc.revision
            self._refresh_strips()

    # ------------------------------------------------------------------ edits

    def _push(self, text: str, apply: Callable[[], object], revert: Callable[[], object]) -> None:
        self.undo_stack.push(_Edit(text, apply, revert, self._edited))

    def add_point(self, point: Point) -> None:
        doc = self._doc()
        self._push("Add point", lambda: doc.add_point(point), lambda: doc.remove_point(point))

    def remove_point(self, point: Point) -> None:
        doc = self._doc()
        self._push("Remove point", lambda: doc.remove_point(point), lambda: doc.add_point(point))

    def replace_point(self, old: Point, new: Point, text: str) -> None:
        doc = self._doc()
        self._push(text, lambda: doc.replace_point(old, new), lambda: doc.replace_point(new, old))

    def delete_selected(self) -> None:
        if self.editor.selected is not None:
            self.remove_point(self.editor.selected)

    def add_reference(self, image: Path, frame: int) -> None:
        doc = self._doc()
        old = [r for r in doc.references(frame) if r.frame == frame]
        ref = doc.import_reference(image, frame)

        def apply() -> None:
            for r in old:
                doc.remove_reference(r)
            doc.add_reference(ref)

        def revert() -> None:
            doc.remove_reference(ref)
            for r in old:
                doc.add_reference(r)

        self._push("Add reference still", apply, revert)

    def remove_reference_at(self, frame: int) -> None:
        doc = self._doc()
        refs: list[ReferenceStill] = [r for r in doc.references(frame) if r.frame == frame]
        if refs:
            ref = refs[0]
            self._push(
                "Remove reference still",
                lambda: doc.remove_reference(ref),
                lambda: doc.add_reference(ref),
            )

    def set_palette(self, palette: list[PaletteColour]) -> None:
        doc = self._doc()
        old = list(doc.project.palette)
        self._push("Palette", lambda: doc.set_palette(palette), lambda: doc.set_palette(old))

    def _doc(self) -> GuidanceDoc:
        if self.doc is None:
            raise RuntimeError("no film is open")
        return self.doc

    def _edited(self) -> None:
        self.editor.forget_missing()
        self._refresh()
        self.autosave.start()
        self.window.request_preview()
        if self.similarity_action.isChecked():
            self._ask_similarity()

    # ------------------------------------------------------------------ references

    def load_reference_dialog(self) -> None:
        if self.doc is None or self.window.path is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Load a reference still", str(self.doc.folder), IMAGE_FILTER
        )
        if path:
            self.add_reference(Path(path), self.window.position)

    def export_frame_dialog(self) -> None:
        film, frame = self.window.path, self.window.position
        if film is None:
            return
        default = Path(film).with_name(f"{Path(film).stem}_frame{frame:06d}.png")
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export frame", str(default), "PNG (*.png)"
        )
        if path:
            self.export_frame(path, frame)

    def export_frame(self, destination: str, frame: int) -> None:
        assert self.window.path is not None
        self.window.workers.start(
            export_still,
            self.window.path,
            frame,
            destination,
            name="exporting the frame",
            on_returned=lambda p: self.status(
                f"Frame {frame} written to {p}; colour it, then load it back"
            ),
        )

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Images dropped on the viewer become the current shot's reference stills."""
        if obj is not self.window.viewer or self.doc is None:
            return False
        if event.type() in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if self._dropped_images(event):
                event.acceptProposedAction()  # type: ignore[attr-defined]
                return True
        elif event.type() == QEvent.Type.Drop:
            images = self._dropped_images(event)
            if images:
                self.add_reference(images[0], self.window.position)
                event.acceptProposedAction()  # type: ignore[attr-defined]
                return True
        return False

    @staticmethod
    def _dropped_images(event: QEvent) -> list[Path]:
        data = event.mimeData()  # type: ignore[attr-defined]
        if not data.hasUrls():
            return []
        paths = [Path(u.toLocalFile()) for u in data.urls() if u.isLocalFile()]
        return [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES]

    # ------------------------------------------------------------------ preview

    def preview_input(self) -> GuidanceInput | None:
        """The guidance for the preview (None: unguided, exactly the automatic result)."""
        doc = self.doc
        if doc is None:
            return None
        if self._input is not None and self._input[0] == doc.revision:
            return self._input[1]
        shots = doc.project.shots
        guided = any(s.points or s.references for s in shots)
        value = None
        if guided:
            snapshot = doc.snapshot()
            # what decides the colours: the shots with their points and stills (repr of
            # frozen dataclasses: exact, and far cheaper than the JSON of the whole project)
            data = repr([(s.start, s.end, s.points, s.references) for s in snapshot.shots])
            revision = hashlib.sha256(data.encode()).hexdigest()[:16]
            value = GuidanceInput(snapshot, str(doc.folder), revision)
        self._input = (doc.revision, value)
        return value

    def project_for_export(self, film: str) -> str | None:
        """The project file an export of ``film`` is guided by (saved now), or None."""
        if self.doc is None or film != self.window.path or self.preview_input() is None:
            return None
        self.save()
        return str(self.doc.path)

    # ------------------------------------------------------------------ tools

    def set_points_mode(self, on: bool) -> None:
        self.editor.enabled = on
        self.editor.refresh()

    def point_selected(self, point: Point | None) -> None:
        if point is not None:
            self.size_box.blockSignals(True)
            self.size_box.setValue(point.size * 100)
            self.size_box.blockSignals(False)

    def _size_typed(self, percent: float) -> None:
        if self.editor.selected is not None:
            self.editor.resize(self.editor.selected, percent / 100)
        else:
            self.editor.default_size = percent / 100

    def show_vividness(self, value: float | None) -> None:
        """Put the slider at the settings' vividness (None: left for the model's default,
        shown when the model is loaded) without applying it again."""
        if value is None:
            return
        self.vividness.blockSignals(True)
        self.vividness.setValue(round(value * 100))
        self.vividness.blockSignals(False)

    def show_model_vividness(self, default: float) -> None:
        """The loaded model's default, on the slider while the settings leave it unset."""
        settings = self.window.settings
        if settings is not None and settings.vividness is None:
            self.show_vividness(default)

    def _apply_vividness(self) -> None:
        settings = self.window.settings
        if settings is not None:
            self.window.apply_settings(
                dataclasses.replace(settings, vividness=self.vividness.value() / 100)
            )

    def set_similarity(self, on: bool) -> None:
        if on:
            self._ask_similarity()
        else:
            self._similarity_key = None
            self.editor.set_similarity(None)

    def _ask_similarity(self) -> None:
        doc, w = self.doc, self.window
        if doc is None or w.path is None or w.settings is None:
            return
        frame = w.position
        stills = [str(doc.reference_file(r)) for r in doc.references(frame)]
        if not stills:
            self.editor.set_similarity(None)
            self.status("Similarity overlay: this shot has no reference still")
            return
        inp = self.preview_input()
        key = (w.path, frame, inp.revision if inp else "")
        if key == self._similarity_key:
            return
        self._similarity_key = key
        w.workers.start(
            similarity,
            w.host,
            w.settings,
            w.path,
            frame,
            stills,
            key[2],
            name="similarity map",
            on_returned=self._similarity_ready,
        )

    def _similarity_ready(self, result: object) -> None:
        assert isinstance(result, SimilarityMap)
        if (
            result.path,
            result.frame,
            result.revision,
        ) == self._similarity_key and self.similarity_action.isChecked():
            self.editor.set_similarity(result.values)

    # ------------------------------------------------------------------ showing

    def _frame_changed(self) -> None:
        self._refresh_strips()
        if self.similarity_action.isChecked():
            key = self._similarity_key
            if key is None or key[1] != self.window.position:
                self.editor.set_similarity(None)
                self._ask_similarity()
        self.editor.refresh()

    def _refresh(self) -> None:
        self._refresh_strips()
        self.editor.refresh()
        title = self.window.windowTitle().lstrip("*")
        self.window.setWindowTitle(("*" if self.doc is not None and self.doc.dirty else "") + title)

    def _refresh_strips(self) -> None:
        doc = self.doc
        if doc is None:
            self.coverage.set_guidance(
                0, [], [], self.coverage.points[:0], self.coverage.references[:0]
            )
            self.reference_strip.set_references([])
            return
        points, refs = doc.coverage()
        shots = [(s.start, s.end) for s in doc.project.shots]
        keys = sorted({k for s in doc.project.shots for k in s.keyframes})
        self.coverage.set_guidance(doc.project.source.frames, shots, keys, points, refs)
        self.coverage.set_position(self.window.position)
        stills = [(r.frame, doc.reference_file(r)) for r in doc.references(self.window.position)]
        if [f for f, _ in stills] != [
            self.reference_strip.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.reference_strip.count())
        ]:
            self.reference_strip.set_references(stills)

    def shutdown(self) -> None:
        self.cuts_timer.stop()
        self.autosave.stop()
        self.save_if_dirty()
