"""Where the user is in the film: position, in/out points and shuttle speed; no Qt here.

Like napari's ``Dims``: a small model the window and the timeline read and change, kept
apart from the widgets so that keyboard handling and range maths can be tested alone.
The out point is inclusive (the frame the user marked is exported); ``export_range``
returns Python slice bounds.
"""

from __future__ import annotations

import logging
from fractions import Fraction

logger = logging.getLogger(__name__)

SHUTTLE_SPEEDS = (1, 2, 4, 8)


class Playhead:
    """Position, marks and shuttle speed of one film."""

    def __init__(self, frame_count: int = 0, rate: Fraction = Fraction(25)) -> None:
        self.frame_count = frame_count
        self.rate = rate
        self.position = 0
        self.in_point: int | None = None
        self.out_point: int | None = None
        self.speed = 0  # frames per tick; negative plays backwards, 0 is stopped

    def reset(self, frame_count: int, rate: Fraction) -> None:
        self.__init__(frame_count, rate)  # type: ignore[misc]

    @property
    def last(self) -> int:
        return max(0, self.frame_count - 1)

    def clamp(self, frame: int) -> int:
        return min(max(0, int(frame)), self.last)

    def seek(self, frame: int) -> int:
        self.position = self.clamp(frame)
        return self.position

    def step(self, frames: int) -> int:
        return self.seek(self.position + frames)

    @property
    def one_second(self) -> int:
        """Frames in one second, rounded (25 at 25 fps, 24 at 23.976)."""
        return max(1, round(self.rate))

    # ------------------------------------------------------------------ marks

    def mark_in(self) -> None:
        self.in_point = self.position
        if self.out_point is not None and self.out_point < self.in_point:
            self.out_point = None

    def mark_out(self) -> None:
        self.out_point = self.position
        if self.in_point is not None and self.in_point > self.out_point:
            self.in_point = None

    def clear_marks(self) -> None:
        self.in_point = self.out_point = None

    @property
    def has_marks(self) -> bool:
        return self.in_point is not None or self.out_point is not None

    def export_range(self) -> tuple[int, int]:
        """``[start, stop)`` the marks select; the whole film when there are none."""
        start = 0 if self.in_point is None else self.in_point
        stop = self.frame_count if self.out_point is None else self.out_point + 1
        return start, stop

    def marked_range(self) -> tuple[int, int] | None:
        """``export_range()`` when marks are set, else None."""
        return self.export_range() if self.has_marks else None

    # ------------------------------------------------------------------ playing

    def toggle_play(self) -> None:
        """Space: play forwards at normal speed, or stop."""
        if self.speed:
            self.speed = 0
        else:
            if self.position >= self.last:
                self.position = 0
            self.speed = 1

    def shuttle_forward(self) -> None:
        """L: play forwards; again to go faster (1x, 2x, 4x, 8x)."""
        self.speed = 1 if self.speed <= 0 else min(self.speed * 2, SHUTTLE_SPEEDS[-1])

    def shuttle_backward(self) -> None:
        """J: play backwards; again to go faster."""
        self.speed = -1 if self.speed >= 0 else max(self.speed * 2, -SHUTTLE_SPEEDS[-1])

    def stop(self) -> None:
        """K."""
        self.speed = 0

    def tick(self) -> int:
        """Advance one tick of the play timer; stops at either end."""
        if not self.speed:
            return self.position
        target = self.position + self.speed
        self.seek(target)
        if target <= 0 or target >= self.last:
            self.speed = 0
        return self.position
