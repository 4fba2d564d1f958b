"""The viewer: source and colorized frame side by side, or as a split wipe, or alone.

Both panes share one ``ViewState`` (zoom and the image point at the pane's centre), so
zoom and pan stay synchronised. Fit, 100 %, wheel zoom about the cursor and drag to pan;
in wipe mode a divider, dragged with the mouse, shows the source left of it and the
colorized frame right of it. Images arrive as numpy arrays; the QImages are made here,
on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QWidget

logger = logging.getLogger(__name__)

MIN_ZOOM = 0.05
MAX_ZOOM = 32.0
BACKGROUND = QColor(24, 24, 26)


def qimage_from_array(array: np.ndarray) -> QImage:
    """An owned QImage of an (H, W) grey or (H, W, 3) RGB uint8 array (GUI thread only)."""
    array = np.ascontiguousarray(array)
    if array.ndim == 2:
        h, w = array.shape
        fmt = QImage.Format.Format_Grayscale8
    elif array.ndim == 3 and array.shape[2] == 3:
        h, w = array.shape[:2]
        fmt = QImage.Format.Format_RGB888
    else:
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8, got {array.shape}")
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8, got {array.dtype}")
    return QImage(array.data, w, h, array.strides[0], fmt).copy()


def array_from_qimage(image: QImage) -> np.ndarray:
    """The pixels of a Grayscale8 or RGB888 QImage as a numpy array (for tests and tools)."""
    w, h = image.width(), image.height()
    channels = 1 if image.format() == QImage.Format.Format_Grayscale8 else 3
    if channels == 3 and image.format() != QImage.Format.Format_RGB888:
        image = image.convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.bytesPerLine() * h)
    rows = data.reshape(h, image.bytesPerLine())[:, : w * channels]
    return rows.reshape(h, w) if channels == 1 else rows.reshape(h, w, 3).copy()


class ViewMode(StrEnum):
    SIDE_BY_SIDE = "side"
    WIPE = "wipe"
    SOURCE = "source"
    RESULT = "result"


class ViewState:
    """Zoom and centre shared by the panes; ``fit`` means "whatever fits the pane"."""

    def __init__(self) -> None:
        self.fit = True
        self.zoom = 1.0
        self.center = QPointF(0.0, 0.0)  # image coordinates at the pane's centre
        self.panes: list[ImagePane] = []

    def changed(self) -> None:
        for pane in self.panes:
            pane.update()


class ImagePane(QWidget):
    """Paints one image (or two, split by the wipe divider) with the shared view state."""

    divider_moved = Signal(float)

    def __init__(self, state: ViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        state.panes.append(self)
        self.left: QPixmap | None = None
        self.right: QPixmap | None = None  # drawn right of the divider in wipe mode
        self.wipe = False
        self.divider = 0.5  # fraction of the pane's width
        self.caption = ""
        self.right_caption = ""
        self.message = ""  # shown over the picture, e.g. "Colorizing frame 12…"
        self._drag: str | None = None
        self._last = QPointF()
        # drawn over the picture, in pane coordinates (e.g. the guidance points)
        self.overlays: list[Callable[[QPainter, ImagePane], None]] = []
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def sizeHint(self) -> QSize:
        return QSize(640, 400)

    # ------------------------------------------------------------------ geometry

    def image_size(self) -> QSize | None:
        for pix in (self.left, self.right):
            if pix is not None and not pix.isNull():
                return pix.size()
        return None

    def fit_zoom(self) -> float:
        size = self.image_size()
        if size is None or size.isEmpty():
            return 1.0
        return max(MIN_ZOOM, min(self.width() / size.width(), self.height() / size.height()))

    def scale_and_center(self) -> tuple[float, QPointF]:
        size = self.image_size()
        if self.state.fit or size is None:
            w, h = (size.width(), size.height()) if size is not None else (0, 0)
            return self.fit_zoom(), QPointF(w / 2, h / 2)
        return self.state.zoom, self.state.center

    def transform(self) -> QTransform:
        """Image coordinates to pane coordinates."""
        scale, center = self.scale_and_center()
        ox = self.width() / 2 - center.x() * scale
        oy = self.height() / 2 - center.y() * scale
        return QTransform(scale, 0, 0, scale, ox, oy)

    def _pin(self) -> None:
        """Leave "fit" for an explicit zoom and centre, keeping the picture where it is."""
        if self.state.fit:
            scale, center = self.scale_and_center()
            self.state.zoom, self.state.center, self.state.fit = scale, center, False

    def zoom_about(self, factor: float, anchor: QPointF) -> None:
        """Zoom by ``factor`` keeping the image point under ``anchor`` (pane coordinates)."""
        if self.image_size() is None:
            return
        self._pin()
        old = self.state.zoom
        new = min(MAX_ZOOM, max(MIN_ZOOM, old * factor))
        point = self.transform().inverted()[0].map(anchor)
        widget_center = QPointF(self.width() / 2, self.height() / 2)
        self.state.zoom = new
        self.state.center = point - (anchor - widget_center) / new
        self.state.changed()

    # ------------------------------------------------------------------ painting

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        transform = self.transform()
        scale = transform.m11()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 2.0)
        x_div = round(self.divider * self.width())
        if self.wipe:
            if self.left is not None:
                painter.setClipRect(0, 0, x_div, self.height())
                painter.setTransform(transform)
                painter.drawPixmap(0, 0, self.left)
                painter.resetTransform()
            if self.right is not None:
                painter.setClipRect(x_div, 0, self.width() - x_div, self.height())
                painter.setTransform(transform)
                painter.drawPixmap(0, 0, self.right)
                painter.resetTransform()
            painter.setClipping(False)
        elif self.left is not None:
            painter.setTransform(transform)
            painter.drawPixmap(0, 0, self.left)
            painter.resetTransform()
        for overlay in self.overlays:
            painter.save()
            overlay(painter, self)
            painter.restore()
        if self.message:
            self._draw_message(painter)
        self._draw_caption(painter, self.caption, left=True)
        if self.wipe:
            self._draw_caption(painter, self.right_caption, left=False)
            pen = QPen(QColor(255, 255, 255, 220), 2)
            painter.setPen(pen)
            painter.drawLine(x_div, 0, x_div, self.height())
            painter.setBrush(QColor(255, 255, 255, 230))
            painter.setPen(QPen(QColor(0, 0, 0, 160), 1))
            painter.drawEllipse(QPointF(x_div, self.height() / 2), 7, 7)
        painter.end()

    def _draw_caption(self, painter: QPainter, text: str, *, left: bool) -> None:
        if not text:
            return
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF() * 0.95))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        w = metrics.horizontalAdvance(text) + 14
        h = metrics.height() + 6
        x = 8 if left else self.width() - w - 8
        box = QRectF(x, 8, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_message(self, painter: QPainter) -> None:
        painter.fillRect(self.rect(), QColor(0, 0, 0, 110))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        painter.setFont(font)
        painter.setPen(QColor(240, 240, 240))
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)

    # ------------------------------------------------------------------ interaction

    def _near_divider(self, x: float) -> bool:
        return self.wipe and abs(x - self.divider * self.width()) <= 10

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        pos = event.position()
        if self._near_divider(pos.x()):
            self._drag = "divider"
        elif self.image_size() is not None:
            self._drag = "pan"
            self._pin()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        self._last = pos
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == "divider":
            self.set_divider(pos.x() / max(1, self.width()))
            self.divider_moved.emit(self.divider)
        elif self._drag == "pan":
            delta = pos - self._last
            self.state.center = self.state.center - delta / self.state.zoom
            self.state.changed()
        elif self._near_divider(pos.x()):
            self.setCursor(Qt.CursorShape.SplitHCursor)
        else:
            self.unsetCursor()
        self._last = pos

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        self.unsetCursor()
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.state.fit = True
        self.state.changed()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_about(1.25**steps, event.position())
        event.accept()

    def set_divider(self, fraction: float) -> None:
        self.divider = min(1.0, max(0.0, fraction))
        self.update()


class Viewer(QWidget):
    """Two synchronised panes, or one with a wipe, showing the source and the result."""

    zoom_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = ViewState()
        self.left_pane = ImagePane(self.state, self)
        self.right_pane = ImagePane(self.state, self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.left_pane)
        layout.addWidget(self.right_pane)
        self.mode = ViewMode.SIDE_BY_SIDE
        self.source_index: int | None = None
        self.source_image: QImage | None = None
        self.result_index: int | None = None
        self.result_image: QImage | None = None
        self.result_message = ""
        self.result_approximate = False
        self._source_pixmap: QPixmap | None = None
        self._result_pixmap: QPixmap | None = None
        self._refresh()

    # ------------------------------------------------------------------ content

    def set_source(self, index: int, gray: np.ndarray) -> None:
        """Show source frame ``index`` ((H, W) uint8)."""
        self.source_index = index
        self.source_image = qimage_from_array(gray)
        self._source_pixmap = QPixmap.fromImage(self.source_image)
        self._refresh()

    def set_result(
        self,
        index: int | None,
        rgb: np.ndarray | None,
        message: str = "",
        *,
        approximate: bool = False,
    ) -> None:
        """Show colorized frame ``index`` ((H, W, 3) uint8), or ``message`` without one;
        ``approximate``: the frame colorized alone, captioned so until the exact one comes."""
        self.result_approximate = approximate and rgb is not None
        self.result_index = index if rgb is not None else None
        self.result_image = qimage_from_array(rgb) if rgb is not None else None
        self._result_pixmap = (
            QPixmap.fromImage(self.result_image) if self.result_image is not None else None
        )
        self.result_message = message
        self._refresh()

    def clear(self) -> None:
        self.source_index = self.result_index = None
        self.source_image = self.result_image = None
        self._source_pixmap = self._result_pixmap = None
        self.result_message = ""
        self.result_approximate = False
        self.state.fit = True
        self._refresh()

    def set_mode(self, mode: ViewMode | str) -> None:
        self.mode = ViewMode(mode)
        self._refresh()

    def _refresh(self) -> None:
        """Give each pane what the mode shows."""
        left, right = self.left_pane, self.right_pane
        src_caption = "Source" if self.source_index is None else f"Source · {self.source_index}"
        res_caption = "Colorized" + (
            f" · {self.result_index}" if self.result_index is not None else ""
        )
        if self.result_approximate:
            res_caption += " · approximate"
        # without a colorized frame yet, the result side shows the source, dimmed, with a note
        result_pix = self._result_pixmap or self._source_pixmap
        message = (
            "" if self._result_pixmap is not None else (self.result_message or "Not colorized")
        )
        if self._source_pixmap is None:
            message = ""
        left.wipe = right.wipe = False
        left.message = right.message = ""
        if self.mode == ViewMode.SIDE_BY_SIDE:
            left.left, left.caption = self._source_pixmap, src_caption
            right.left, right.caption, right.message = result_pix, res_caption, message
            right.setVisible(True)
        elif self.mode == ViewMode.WIPE:
            left.wipe = True
            left.left, left.right = self._source_pixmap, result_pix
            left.caption, left.right_caption, left.message = src_caption, res_caption, message
            right.setVisible(False)
        elif self.mode == ViewMode.SOURCE:
            left.left, left.caption = self._source_pixmap, src_caption
            right.setVisible(False)
        else:
            left.left, left.caption, left.message = result_pix, res_caption, message
            right.setVisible(False)
        left.update()
        right.update()

    # ------------------------------------------------------------------ zoom

    def fit(self) -> None:
        self.state.fit = True
        self.state.changed()
        self.zoom_changed.emit()

    def actual_size(self) -> None:
        """100 %: one image pixel per screen pixel, keeping the centre."""
        pane = self.left_pane
        _, center = pane.scale_and_center()
        self.state.zoom, self.state.center, self.state.fit = 1.0, center, False
        self.state.changed()
        self.zoom_changed.emit()

    def zoom_by(self, factor: float) -> None:
        pane = self.left_pane
        pane.zoom_about(factor, QPointF(pane.width() / 2, pane.height() / 2))
        self.zoom_changed.emit()

    def zoom(self) -> float:
        """The zoom in effect (the fit zoom when fitting)."""
        return self.left_pane.scale_and_center()[0]
