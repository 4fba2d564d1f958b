"""``ShotMap``: one film's shot cuts, filled in by the background scan while the preview
and the checkpoint pass read them (and wait for the frames not judged yet); no Qt here."""

from __future__ import annotations

import bisect
import threading
from typing import TYPE_CHECKING

from flowchroma_core.errors import Cancelled

if TYPE_CHECKING:
    from flowchroma_gui.qthreading import JobContext


class ShotMap:
    """The cuts of one film, filled in by the scan while the preview reads them; thread-safe.

    ``decided`` is how far the scan has got: whether frame ``i`` starts a shot is known
    for every ``i < decided`` (the detector judges a frame once it has seen the next).
    """

    def __init__(self, frame_count: int, *, threshold: float) -> None:
        self.frame_count = frame_count
        self.threshold = threshold
        self._cond = threading.Condition()
        self._cuts: list[int] = []
        self._cut_set: set[int] = set()
        self._decided = 0 if threshold > 0 else frame_count
        self._stopped = False

    @property
    def decided(self) -> int:
        with self._cond:
            return self._decided

    @property
    def complete(self) -> bool:
        with self._cond:
            return self._decided >= self.frame_count

    def cuts(self) -> tuple[int, ...]:
        with self._cond:
            return tuple(self._cuts)

    def is_cut(self, index: int) -> bool:
        with self._cond:
            return index in self._cut_set

    def add_cut(self, index: int) -> None:
        with self._cond:
            if index not in self._cut_set:
                bisect.insort(self._cuts, index)
                self._cut_set.add(index)
            self._cond.notify_all()

    def advance(self, decided: int) -> None:
        with self._cond:
            self._decided = max(self._decided, min(decided, self.frame_count))
            self._cond.notify_all()

    def finish(self) -> None:
        """The scan reached the end (or gave up): every frame not listed is not a cut."""
        self.advance(self.frame_count)

    def stop(self) -> None:
        """The scan was cancelled: waiters give up."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def wait_decided(self, index: int, ctx: JobContext) -> None:
        """Block until whether ``index`` starts a shot is known; ``Cancelled`` on cancel."""
        with self._cond:
            while self._decided <= index:
                if ctx.cancelled or self._stopped:
                    raise Cancelled()
                self._cond.wait(0.1)
