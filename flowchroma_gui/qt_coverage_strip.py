"""The guidance track under the timeline slider: shot bands, keyframe diamonds, coverage.

Painted frame for frame at the slider's x positions (``x_of`` is the slider's, so the
marks line up with its handle): alternating bands for the shots, a diamond on every frame
that carries points or a reference still, and a coverage strip: green where colour comes
from the restorer's points (fading with the distance to the keyframe, as the carried
hints do), blue where the shot has a reference still, dark red where the model guesses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

logger = logging.getLogger(__name__)

SHOT_COLOURS = (QColor(58, 58, 64), QColor(44, 44, 50))
GUESS_COLOUR = QColor(110, 40, 40)
POINT_COLOUR = np.array([70, 200, 90])
REFERENCE_COLOUR = np.array([70, 120, 220])
DIAMOND_COLOUR = QColor(250, 210, 60)


class CoverageStrip(QWidget):
    """See the module docstring; ``seek_requested`` when a diamond or the strip is clicked."""

    seek_requested = Signal(int)

    def __init__(self, x_of: Callable[[float], float], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.x_of = x_of
        self.frame_count = 0
        self.shots: list[tuple[int, int]] = []
        self.keyframes: list[int] = []
        self.points = np.zeros(0, np.float32)
        self.references = np.zeros(0, np.float32)
        self.position = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(22)
        self.setToolTip(
            "Guidance: diamonds are keyframes; green = colour from points, blue = from a "
            "reference still, red = the model guesses"
        )

    def sizeHint(self) -> QSize:
        return QSize(600, 22)

    def set_guidance(
        self,
        frame_count: int,
        shots: list[tuple[int, int]],
        keyframes: list[int],
        points: np.ndarray,
        references: np.ndarray,
    ) -> None:
        self.frame_count = frame_count
        self.shots, self.keyframes = shots, keyframes
        self.points, self.references = points, references
        self.update()

    def set_position(self, frame: int) -> None:
        self.position = frame
        self.update()

    def colours(self) -> np.ndarray:
        """(frames, 3) RGB of the coverage strip (what is painted; tests read it)."""
        n = self.frame_count
        out = np.tile(
            np.array([GUESS_COLOUR.red(), GUESS_COLOUR.green(), GUESS_COLOUR.blue()]), (n, 1)
        )
        ref = self.references[:n, None] > 0
        out = np.where(ref, REFERENCE_COLOUR, out)
        p = self.points[:n, None]
        out = out * (1 - p) + POINT_COLOUR * p
        return np.rint(out).astype(np.uint8)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        h = self.height()
        if self.frame_count <= 0:
            painter.end()
            return
        # x is linear in the frame: ask the slider twice per paint, not once per mark
        # (each of its answers builds a style option; thousands per paint starve the GUI)
        lo, hi = self.x_of(0), self.x_of(max(1, self.frame_count - 1))
        step = (hi - lo) / max(1, self.frame_count - 1)

        def x_of(frame: float) -> float:
            return lo + step * frame

        for i, (start, end) in enumerate(self.shots):
            x0, x1 = x_of(start - 0.5), x_of(end - 0.5)
            painter.fillRect(QRect(round(x0), 0, max(1, round(x1 - x0)), 9), SHOT_COLOURS[i % 2])
        colours = self.colours()
        # one rectangle per run of equal colour (a feature film has 150k frames)
        change = np.flatnonzero(np.any(np.diff(colours.astype(int), axis=0) != 0, axis=1)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [self.frame_count]])
        for a, b in zip(starts, ends, strict=True):
            r, g, bl = (int(v) for v in colours[a])
            x0, x1 = x_of(a - 0.5), x_of(b - 0.5)
            painter.fillRect(QRect(round(x0), 11, max(1, round(x1 - x0)), h - 11), QColor(r, g, bl))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(20, 20, 20))
        painter.setBrush(DIAMOND_COLOUR)
        for k in self.keyframes:
            x = x_of(k)
            painter.drawPolygon(
                QPolygonF([QPointF(x, 0), QPointF(x + 5, 5), QPointF(x, 10), QPointF(x - 5, 5)])
            )
        painter.setPen(QColor(255, 255, 255))
        x = round(x_of(self.position))
        painter.drawLine(x, 0, x, h)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.frame_count <= 0 or event.button() != Qt.MouseButton.LeftButton:
            return
        x = event.position().x()
        near = [k for k in self.keyframes if abs(self.x_of(k) - x) <= 6]
        if near:
            self.seek_requested.emit(min(near, key=lambda k: abs(self.x_of(k) - x)))
            return
        lo, hi = self.x_of(0), self.x_of(max(1, self.frame_count - 1))
        frame = round((x - lo) / max(1.0, hi - lo) * (self.frame_count - 1))
        self.seek_requested.emit(int(min(max(frame, 0), self.frame_count - 1)))
