"""The timeline: thumbnails, the frame slider with its marks, position entry and transport.

Frame-accurate: the slider's value is the frame number. The position box takes a frame
number, seconds (``4.5s``) or a timecode; the timecode shown follows the film's start
timecode. The buttons are the window's actions, so keys and buttons do the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from fractions import Fraction

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from flowchroma_core.video.timecode import frames_to_timecode, parse_position, timecode_to_frames
from flowchroma_gui.qt_thumbnail_strip import ThumbnailStrip
from flowchroma_gui.qt_timeline_slider import TimelineSlider

logger = logging.getLogger(__name__)


class Timeline(QWidget):
    """See the module docstring; emits ``seek_requested`` for every jump the user asks."""

    seek_requested = Signal(int)

    def __init__(
        self, actions: Iterable[QAction | None] = (), parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.frame_count = 0
        self.rate = Fraction(25)
        self.start_timecode: str | None = None
        self._origin = 0
        self.position = 0
        self.entry_error = ""

        self.strip = ThumbnailStrip(self)
        self.slider = TimelineSlider(self)
        self.position_edit = QLineEdit(self)
        self.position_edit.setPlaceholderText("frame or timecode")
        self.position_edit.setToolTip(
            "Type a frame number, seconds (4.5s) or a timecode (00:01:02:12) and press Enter"
        )
        self.position_edit.setFixedWidth(110)
        self.position_edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.count_label = QLabel("/ 0", self)
        self.timecode_label = QLabel("--:--:--:--", self)
        self.timecode_label.setToolTip("Timecode of the current frame")
        font = self.timecode_label.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.timecode_label.setFont(font)
        self.range_label = QLabel("In –  Out –", self)
        self.range_label.setToolTip("Export range: I marks the in point, O the out point")
        self.scan_label = QLabel("", self)
        self.scan_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.scan_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        controls = QHBoxLayout()
        controls.setContentsMargins(4, 0, 4, 0)
        for action in actions:
            if action is None:
                controls.addSpacing(10)
                continue
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            controls.addWidget(button)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Frame", self))
        controls.addWidget(self.position_edit)
        controls.addWidget(self.count_label)
        controls.addSpacing(12)
        controls.addWidget(self.timecode_label)
        controls.addSpacing(18)
        controls.addWidget(self.range_label)
        controls.addWidget(self.scan_label, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        layout.addWidget(self.strip)
        layout.addWidget(self.slider)
        layout.addLayout(controls)

        self.slider.valueChanged.connect(self._slider_moved)
        self.strip.scrubbed.connect(self.seek_requested)
        self.position_edit.returnPressed.connect(self._typed)
        self.position_edit.textEdited.connect(lambda _: self._set_entry_error(""))
        self.setEnabled(False)

    # ------------------------------------------------------------------ film

    def set_film(self, frame_count: int, rate: Fraction, start_timecode: str | None) -> None:
        self.frame_count = frame_count
        self.rate = rate
        self.start_timecode = start_timecode
        try:
            self._origin = timecode_to_frames(start_timecode, rate) if start_timecode else 0
        except ValueError:
            logger.warning("ignoring the unreadable start timecode %r", start_timecode)
            self._origin = 0
        self.strip.reset(frame_count)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, frame_count - 1))
        self.slider.setPageStep(max(1, round(rate)))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.slider.set_marks(cuts=(), cached=(), export_range=None)
        self.count_label.setText(f"/ {max(0, frame_count - 1)}")
        self.scan_label.setText("")
        self.set_range(None, None)
        self.setEnabled(frame_count > 0)
        self.set_position(0)

    def clear(self) -> None:
        self.set_film(0, Fraction(25), None)
        self.timecode_label.setText("--:--:--:--")
        self.position_edit.clear()

    def timecode(self, frame: int) -> str:
        return frames_to_timecode(self._origin + frame, self.rate)

    # ------------------------------------------------------------------ position and marks

    def set_position(self, frame: int) -> None:
        """Show ``frame`` as the current one (does not emit ``seek_requested``)."""
        self.position = frame
        if self.slider.value() != frame:
            self.slider.blockSignals(True)
            self.slider.setValue(frame)
            self.slider.blockSignals(False)
        self.strip.set_position(frame)
        if not self.position_edit.hasFocus():
            self.position_edit.setText(str(frame))
        if self.frame_count:
            self.timecode_label.setText(self.timecode(frame))

    def set_range(self, in_point: int | None, out_point: int | None) -> None:
        """Show the in/out marks (``out_point`` inclusive)."""
        if in_point is None and out_point is None:
            self.range_label.setText("In –  Out –")
            export_range = None
        else:
            start = 0 if in_point is None else in_point
            stop = self.frame_count if out_point is None else out_point + 1
            export_range = (start, stop)
            text_in = "–" if in_point is None else f"{in_point}"
            text_out = "–" if out_point is None else f"{out_point}"
            self.range_label.setText(f"In {text_in}  Out {text_out}  ({stop - start} frames)")
        self.slider.set_marks(export_range=export_range)
        self.strip.export_range = export_range
        self.strip.update()

    def set_cuts(self, cuts: tuple[int, ...]) -> None:
        self.slider.set_marks(cuts=cuts)
        self.strip.cuts = tuple(cuts)
        self.strip.update()

    def set_cached(self, frames: Iterable[int]) -> None:
        self.slider.set_marks(cached=frames)

    def add_thumbnails(self, thumbs: tuple[tuple[int, np.ndarray], ...]) -> None:
        self.strip.add_thumbnails(thumbs)

    def set_scan_status(self, text: str) -> None:
        self.scan_label.setText(text)

    # ------------------------------------------------------------------ input

    def _slider_moved(self, value: int) -> None:
        self.seek_requested.emit(value)

    def _typed(self) -> None:
        text = self.position_edit.text().strip()
        if not text or not self.frame_count:
            return
        try:
            frame = parse_position(text, self.rate, start_timecode=self.start_timecode)
        except ValueError as e:
            self._set_entry_error(str(e))
            return
        if not 0 <= frame < self.frame_count:
            self._set_entry_error(f"{text} is outside the film (0 to {self.frame_count - 1})")
            return
        self._set_entry_error("")
        self.position_edit.clearFocus()
        self.seek_requested.emit(frame)
        self.position_edit.setText(str(frame))

    def _set_entry_error(self, message: str) -> None:
        self.position_edit.setStyleSheet(
            "QLineEdit { border: 1px solid #e0504a; }" if message else ""
        )
        self.position_edit.setToolTip(
            message
            or "Type a frame number, seconds (4.5s) or a timecode (00:01:02:12) and press Enter"
        )
        self.entry_error = message
