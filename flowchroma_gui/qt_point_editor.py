"""Points on the viewer, as in ideepcolor's editor: the mouse side of the guidance editor.

With the Points tool on (the P key), on either pane (source or colorized side):

* a left click adds a point (valued with the model's colour at that pixel when the frame is
  colorized, else neutral) and opens the colour popover for it; a click on a point selects
  it and opens the popover; dragging a point moves it;
* a right click on a point removes it (Delete removes the selected one);
* the wheel over a point sets its patch size (the spin box in the guidance toolbar too);
* Alt-click is the eyedropper: the colour of the selected reference still at the same
  place of the frame is given to the selected point (or to a new point there).

Each change is handed to the controller as an edit (``edit_point`` etc.), which makes it
undoable; a drag is one edit, from where it started to where it ended. Points are drawn
over the panes (``ImagePane.overlays``) with the similarity overlay when it is on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QWheelEvent

from flowchroma_core.guidance.project import Point
from flowchroma_gui.guidance_model import (
    DEFAULT_SIZE,
    MAX_SIZE,
    MIN_SIZE,
    ab_of_rgb8,
    ab_to_rgb8,
    lightness_of_grey,
    snap_ab,
    with_point,
)
from flowchroma_gui.qt_colour_popover import ColourPopover
from flowchroma_gui.qt_viewer import ImagePane, Viewer

if TYPE_CHECKING:
    from flowchroma_gui.qt_guidance_controller import GuidanceController

logger = logging.getLogger(__name__)

WHEEL_FACTOR = 1.15

_POINT_PEN = QPen(QColor(0, 0, 0), 1.5)
_SELECTED_PEN = QPen(QColor(255, 220, 40), 3)
_RING_PEN = QPen(QColor(255, 255, 255), 1)


class PointEditor(QObject):
    """See the module docstring."""

    def __init__(self, controller: GuidanceController, viewer: Viewer) -> None:
        super().__init__(controller)
        self.controller = controller
        self.viewer = viewer
        self.enabled = False
        self.selected: Point | None = None
        self.default_size = DEFAULT_SIZE
        self.popover = ColourPopover(viewer)
        self.popover.chosen.connect(self._colour_chosen)
        self.popover.palette_changed.connect(controller.set_palette)
        self._popover_point: Point | None = None
        self._drag_from: Point | None = None
        self._drag_moved = False
        self.similarity: np.ndarray | None = None  # (h, w) in [0, 1] for the frame shown
        self._swatches: dict[tuple[Point, int | None], QColor] = {}
        self.similarity_image = None
        for pane in (viewer.left_pane, viewer.right_pane):
            pane.installEventFilter(self)
            pane.overlays.append(self._paint)

    # ------------------------------------------------------------------ geometry

    def _frame_size(self) -> tuple[int, int] | None:
        image = self.viewer.source_image
        return None if image is None else (image.width(), image.height())

    def fraction_at(self, pane: ImagePane, pos: QPointF) -> tuple[float, float] | None:
        """The pane position as fractions of the frame, or None outside it."""
        size = self._frame_size()
        if size is None:
            return None
        p = pane.transform().inverted()[0].map(pos)
        x, y = p.x() / size[0], p.y() / size[1]
        return (x, y) if 0 <= x <= 1 and 0 <= y <= 1 else None

    def _pixel(self, x: float, y: float) -> tuple[int, int]:
        w, h = self._frame_size() or (1, 1)
        return min(w - 1, int(x * w)), min(h - 1, int(y * h))

    def lightness_at(self, x: float, y: float) -> float:
        image = self.viewer.source_image
        if image is None:
            return 50.0
        px, py = self._pixel(x, y)
        return lightness_of_grey(image.pixelColor(px, py).red())

    def model_ab_at(self, x: float, y: float) -> tuple[float, float] | None:
        """The colorized frame's a*b* there (None when the frame on screen is not colorized)."""
        image = self.viewer.result_image
        if image is None or self.viewer.result_index != self.viewer.source_index:
            return None
        px, py = self._pixel(x, y)
        c = image.pixelColor(px, py)
        return ab_of_rgb8((c.red(), c.green(), c.blue()))

    # ------------------------------------------------------------------ events

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if not self.enabled or not isinstance(obj, ImagePane) or self.controller.doc is None:
            return False
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress:
            return self._press(obj, event)  # type: ignore[arg-type]
        if kind == QEvent.Type.MouseMove and self._drag_from is not None:
            return self._move(obj, event)  # type: ignore[arg-type]
        if kind == QEvent.Type.MouseButtonRelease and self._drag_from is not None:
            return self._release(obj, event)  # type: ignore[arg-type]
        if kind == QEvent.Type.Wheel:
            return self._wheel(obj, event)  # type: ignore[arg-type]
        return False

    def _hit(self, x: float, y: float) -> Point | None:
        doc, frame = self.controller.doc, self.viewer.source_index
        size = self._frame_size()
        if doc is None or frame is None or size is None:
            return None
        return doc.point_at(frame, x, y, size[0] / size[1])

    def _press(self, pane: ImagePane, event: QMouseEvent) -> bool:
        at = self.fraction_at(pane, event.position())
        frame = self.viewer.source_index
        if at is None or frame is None:
            return False
        x, y = at
        hit = self._hit(x, y)
        if event.button() == Qt.MouseButton.RightButton:
            if hit is not None:
                self.controller.remove_point(hit)
            return True
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        if event.modifiers() & Qt.KeyboardModifier.AltModifier:
            self._eyedropper(frame, x, y, hit)
            return True
        if hit is None:
            lightness = self.lightness_at(x, y)
            a, b = snap_ab(lightness, *(self.model_ab_at(x, y) or (0.0, 0.0)))
            point = Point(frame, x, y, round(a, 2), round(b, 2), self.default_size)
            self.controller.add_point(point)
            self.select(point)
            self.open_popover(point, pane.mapToGlobal(event.position().toPoint()))
            return True
        self.select(hit)
        self._drag_from, self._drag_moved = hit, False
        return True

    def _move(self, pane: ImagePane, event: QMouseEvent) -> bool:
        at = self.fraction_at(pane, event.position())
        doc = self.controller.doc
        if at is None or doc is None or self.selected is None:
            return True
        moved = with_point(self.selected, x=round(at[0], 4), y=round(at[1], 4))
        doc.replace_point(self.selected, moved)  # live; the edit is recorded on release
        self.selected = moved
        self._drag_moved = True
        self.refresh()
        return True

    def _release(self, pane: ImagePane, event: QMouseEvent) -> bool:
        start, self._drag_from = self._drag_from, None
        doc = self.controller.doc
        if start is None or doc is None or self.selected is None:
            return True
        if self._drag_moved and self.selected != start:
            end = self.selected
            doc.replace_point(end, start)  # the undo command does the move again
            self.controller.replace_point(start, end, "Move point")
            self.select(end)
        else:
            self.open_popover(self.selected, pane.mapToGlobal(event.position().toPoint()))
        return True

    def _wheel(self, pane: ImagePane, event: QWheelEvent) -> bool:
        at = self.fraction_at(pane, event.position())
        hit = None if at is None else self._hit(*at)
        if hit is None:
            return False
        steps = event.angleDelta().y() / 120.0
        self.resize(hit, hit.size * WHEEL_FACTOR**steps)
        return True

    def resize(self, point: Point, size: float) -> None:
        size = round(min(MAX_SIZE, max(MIN_SIZE, size)), 4)
        self.default_size = size
        if size != point.size:
            new = with_point(point, size=size)
            self.controller.replace_point(point, new, "Resize point")
            self.select(new)

    def _eyedropper(self, frame: int, x: float, y: float, hit: Point | None) -> None:
        still = self.controller.reference_strip.selected_image()
        if still is None:
            self.controller.status("Eyedropper: load a reference still for this shot first")
            return
        c = still.pixelColor(
            min(still.width() - 1, int(x * still.width())),
            min(still.height() - 1, int(y * still.height())),
        )
        a, b = snap_ab(self.lightness_at(x, y), *ab_of_rgb8((c.red(), c.green(), c.blue())))
        target = hit or self.selected
        if target is not None and target.frame == frame:
            new = with_point(target, a=round(a, 2), b=round(b, 2))
            self.controller.replace_point(target, new, "Colour from the still")
        else:
            new = Point(frame, x, y, round(a, 2), round(b, 2), self.default_size)
            self.controller.add_point(new)
        self.select(new)

    # ------------------------------------------------------------------ popover

    def open_popover(self, point: Point, global_pos: object) -> None:
        doc = self.controller.doc
        if doc is None:
            return
        self._popover_point = point
        self.popover.open_at(
            global_pos,  # type: ignore[arg-type]
            lightness=self.lightness_at(point.x, point.y),
            ab=(point.a, point.b),
            model_ab=self.model_ab_at(point.x, point.y),
            recent=doc.recent_colours,
            palette=doc.project.palette,
        )

    def _colour_chosen(self, a: float, b: float) -> None:
        point, doc = self._popover_point, self.controller.doc
        if point is None or doc is None or point not in doc.points(point.frame):
            return
        new = with_point(point, a=round(a, 2), b=round(b, 2))
        if new != point:
            self.controller.replace_point(point, new, "Colour point")
            self._popover_point = new
            self.select(new)
        doc.remember_colour(a, b)

    def select(self, point: Point | None) -> None:
        self.selected = point
        self.controller.point_selected(point)
        self.refresh()

    def forget_missing(self) -> None:
        """After undo/redo: the selection may be gone."""
        doc = self.controller.doc
        if self.selected is not None and (
            doc is None or self.selected not in doc.points(self.selected.frame)
        ):
            self.selected = None
            self.controller.point_selected(None)

    def set_similarity(self, values: np.ndarray | None) -> None:
        self.similarity = values
        if values is None:
            self.similarity_image = None
        else:
            # matched: clear; ignored (similarity near 0): a red veil
            alpha = np.clip((0.6 - values) / 0.6, 0, 1)
            rgba = np.zeros((*values.shape, 4), np.uint8)
            rgba[..., 0] = 220
            rgba[..., 3] = np.rint(alpha * 170).astype(np.uint8)
            rgba = np.ascontiguousarray(rgba)
            h, w = values.shape
            image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
            self.similarity_image = (image, rgba[..., 3].copy())
        self.refresh()

    def refresh(self) -> None:
        self.viewer.left_pane.update()
        self.viewer.right_pane.update()

    # ------------------------------------------------------------------ painting

    def _paint(self, painter: QPainter, pane: ImagePane) -> None:
        size = self._frame_size()
        doc, frame = self.controller.doc, self.viewer.source_index
        if size is None or doc is None or frame is None:
            return
        transform = pane.transform()
        if self.similarity_image is not None and self._is_result(pane):
            self._paint_similarity(painter, pane, size)
        points = doc.points(frame)
        if not points:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = size
        for p in points:
            side = max(p.size * w, 3.0)
            rect = transform.mapRect(QRectF(p.x * w - side / 2, p.y * h - side / 2, side, side))
            if rect.width() < 9:
                rect = QRectF(rect.center().x() - 4.5, rect.center().y() - 4.5, 9, 9)
            painter.setBrush(self._swatch(p))
            painter.setPen(_SELECTED_PEN if p == self.selected else _POINT_PEN)
            painter.drawRect(rect)
            painter.setPen(_RING_PEN)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(-2, -2, 2, 2))

    def _swatch(self, p: Point) -> QColor:
        """The point's colour at the film's L* under it (kept: a point is drawn on every
        repaint, and the Lab maths per point held the GUI thread during an export)."""
        key = (p, self.viewer.source_index)
        colour = self._swatches.get(key)
        if colour is None:
            colour = QColor(*ab_to_rgb8(self.lightness_at(p.x, p.y), p.a, p.b))
            if len(self._swatches) > 4096:
                self._swatches.clear()
            self._swatches[key] = colour
        return colour

    def _is_result(self, pane: ImagePane) -> bool:
        mode = self.viewer.mode.value
        return (mode == "side" and pane is self.viewer.right_pane) or mode == "result"

    def _paint_similarity(self, painter: QPainter, pane: ImagePane, size: tuple[int, int]) -> None:
        image, _ = self.similarity_image  # type: ignore[misc]
        painter.setTransform(pane.transform())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF(0, 0, size[0], size[1]), image)
        painter.resetTransform()

    def overlay_array(self) -> np.ndarray | None:
        """The similarity overlay's opacity per cell (for tests)."""
        return None if self.similarity_image is None else self.similarity_image[1]
