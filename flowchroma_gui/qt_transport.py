"""The transport: playing, shuttling, stepping, jumping and the in/out marks.

It drives the window's ``Playhead`` (the Qt-free model of position, marks and speed) with
a play timer, and moves the picture only through the ``seek`` it is given, so that every
move, whether from a key, a button or the timer, shows the frame the same way. Nothing
plays while no film is open (the playhead then has no frames).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from flowchroma_gui.playhead import Playhead

logger = logging.getLogger(__name__)


class Transport(QObject):
    """See the module docstring."""

    playing_changed = Signal(bool)
    marks_changed = Signal()

    def __init__(
        self, playhead: Playhead, seek: Callable[[int], None], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.playhead = playhead
        self._seek = seek
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)

    def step(self, frames: int) -> None:
        """Stop playing and move ``frames`` (negative: back)."""
        self.stop()
        self._seek(self.playhead.position + frames)

    def toggle_play(self) -> None:
        self.playhead.toggle_play()
        self._sync()

    def shuttle_forward(self) -> None:
        self.playhead.shuttle_forward()
        self._sync()

    def shuttle_backward(self) -> None:
        self.playhead.shuttle_backward()
        self._sync()

    def stop(self) -> None:
        self.playhead.stop()
        self._sync()

    def go_to_mark(self, mark: int | None) -> None:
        """Shift+I / Shift+O: jump to the in or out point, if it is set."""
        if mark is not None:
            self.step(mark - self.playhead.position)

    def jump_cut(self, direction: int, cuts: tuple[int, ...]) -> None:
        """Up/Down, as in editing software: the previous or next shot start."""
        position = self.playhead.position
        starts = [0, *cuts]
        if direction > 0:
            later = [c for c in starts if c > position]
            target = later[0] if later else self.playhead.last
        else:
            earlier = [c for c in starts if c < position]
            target = earlier[-1] if earlier else 0
        self.step(target - position)

    def mark_in(self) -> None:
        self.playhead.mark_in()
        self.marks_changed.emit()

    def mark_out(self) -> None:
        self.playhead.mark_out()
        self.marks_changed.emit()

    def clear_marks(self) -> None:
        self.playhead.clear_marks()
        self.marks_changed.emit()

    def _sync(self) -> None:
        """Run the timer at the film's rate while the playhead has a speed."""
        if self.playhead.speed and self.playhead.frame_count > 0:
            interval = max(1, round(1000 / float(self.playhead.rate)))
            if not self.timer.isActive() or self.timer.interval() != interval:
                self.timer.start(interval)
            self.playing_changed.emit(True)
        else:
            self.timer.stop()
            self.playing_changed.emit(False)

    def _tick(self) -> None:
        before = self.playhead.position
        after = self.playhead.tick()
        if after != before:
            self._seek(after)
        self._sync()
