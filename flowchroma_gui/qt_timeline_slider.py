"""The frame slider with marks: the in/out range, shot cuts and frames already colorized."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSlider, QStyle, QStyleOptionSlider, QWidget

logger = logging.getLogger(__name__)

CUT_COLOR = QColor(255, 150, 40)
CACHED_COLOR = QColor(70, 200, 110)
RANGE_COLOR = QColor(70, 140, 255, 70)


def runs(frames: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted frame numbers as ``(first, last)`` runs of consecutive frames."""
    out: list[tuple[int, int]] = []
    for f in sorted(set(frames)):
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


class TimelineSlider(QSlider):
    """A horizontal QSlider over the frames that also paints the timeline's marks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setRange(0, 0)
        self.setSingleStep(1)
        self.setPageStep(25)
        self.setTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrow keys belong to the window
        self.cuts: tuple[int, ...] = ()
        self.cached: list[tuple[int, int]] = []
        self.export_range: tuple[int, int] | None = None  # [start, stop)
        self.setToolTip(
            "Drag to scrub. Orange ticks: shot cuts. Green: frames colorized in the preview. "
            "Blue: the in/out range."
        )

    def sizeHint(self) -> QSize:
        return QSize(600, 30)

    def set_marks(
        self,
        *,
        cuts: tuple[int, ...] | None = None,
        cached: Iterable[int] | None = None,
        export_range: tuple[int, int] | bool | None = False,
    ) -> None:
        """Change some marks; ``export_range=None`` clears the range, False leaves it."""
        if cuts is not None:
            self.cuts = tuple(cuts)
        if cached is not None:
            self.cached = runs(cached)
        if export_range is not False:
            self.export_range = export_range  # type: ignore[assignment]
        self.update()

    def _track(self) -> tuple[int, int]:
        """Pixel x of the first and last frame's handle centre."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        style = self.style()
        groove = style.subControlRect(
            QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self
        )
        handle = style.subControlRect(
            QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self
        )
        half = handle.width() // 2
        return groove.left() + half, groove.right() - half

    def x_of(self, frame: float) -> float:
        lo, hi = self._track()
        span = max(1, self.maximum() - self.minimum())
        return lo + (hi - lo) * (frame - self.minimum()) / span

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        h = self.height()
        if self.export_range is not None:
            start, stop = self.export_range
            x0, x1 = self.x_of(start), self.x_of(max(start, stop - 1))
            painter.fillRect(QRect(round(x0), 2, max(2, round(x1 - x0)), h - 4), RANGE_COLOR)
        for first, last in self.cached:
            x0, x1 = self.x_of(first), self.x_of(last)
            painter.fillRect(QRect(round(x0), h - 5, max(2, round(x1 - x0) + 1), 4), CACHED_COLOR)
        painter.setPen(CUT_COLOR)
        for cut in self.cuts:
            x = round(self.x_of(cut))
            painter.drawLine(x, 1, x, h - 7)
            painter.drawLine(x + 1, 1, x + 1, h - 7)
        painter.end()
        super().paintEvent(event)
