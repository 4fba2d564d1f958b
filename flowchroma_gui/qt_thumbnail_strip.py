"""A strip of thumbnails across the whole film; click or drag on it to scrub."""

from __future__ import annotations

import bisect
import logging

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from flowchroma_gui.qt_timeline_slider import CUT_COLOR, RANGE_COLOR
from flowchroma_gui.qt_viewer import qimage_from_array

logger = logging.getLogger(__name__)


class ThumbnailStrip(QWidget):
    """Thumbnails (as the background scan makes them), the playhead, cuts and the range."""

    scrubbed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frame_count = 0
        self.position = 0
        self.cuts: tuple[int, ...] = ()
        self.export_range: tuple[int, int] | None = None
        self._thumbs: dict[int, QImage] = {}
        self._order: list[int] = []
        self.setFixedHeight(60)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Thumbnails of the film: click or drag to jump")
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(600, 60)

    def reset(self, frame_count: int) -> None:
        self.frame_count = frame_count
        self.position = 0
        self.cuts = ()
        self.export_range = None
        self._thumbs.clear()
        self._order.clear()
        self.update()

    def add_thumbnails(self, thumbs: tuple[tuple[int, np.ndarray], ...]) -> None:
        for index, gray in thumbs:
            if index not in self._thumbs:
                bisect.insort(self._order, index)
            self._thumbs[index] = qimage_from_array(gray)
        if thumbs:
            self.update()

    def thumbnail_count(self) -> int:
        return len(self._thumbs)

    def set_position(self, frame: int) -> None:
        if frame != self.position:
            self.position = frame
            self.update()

    def _x(self, frame: float) -> float:
        return (frame + 0.5) * self.width() / max(1, self.frame_count)

    def frame_at(self, x: float) -> int:
        if self.frame_count <= 0:
            return 0
        return min(self.frame_count - 1, max(0, int(x * self.frame_count / max(1, self.width()))))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(18, 18, 20))
        h = self.height() - 6
        if self._order and self.frame_count:
            first = self._thumbs[self._order[0]]
            tile = max(8, round(first.width() * h / max(1, first.height())))
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            x = 0
            while x < self.width():
                frame = self.frame_at(x + tile / 2)
                i = bisect.bisect_right(self._order, frame) - 1
                if i >= 0:
                    painter.drawImage(QRectF(x, 3, tile - 1, h), self._thumbs[self._order[i]])
                x += tile
        if self.export_range is not None and self.frame_count:
            start, stop = self.export_range
            x0, x1 = start * self.width() / self.frame_count, stop * self.width() / self.frame_count
            painter.fillRect(QRectF(x0, 0, x1 - x0, self.height()), RANGE_COLOR)
        painter.setPen(QPen(CUT_COLOR, 2))
        for cut in self.cuts:
            x = cut * self.width() / max(1, self.frame_count)
            painter.drawLine(round(x), 0, round(x), 8)
        if self.frame_count:
            x = self._x(self.position)
            painter.setPen(QPen(QColor(255, 70, 70), 2))
            painter.drawLine(round(x), 0, round(x), self.height())
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.frame_count:
            self.scrubbed.emit(self.frame_at(event.position().x()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton and self.frame_count:
            self.scrubbed.emit(self.frame_at(event.position().x()))
