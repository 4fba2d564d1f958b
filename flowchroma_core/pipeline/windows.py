"""Sliding-window arithmetic: which frames each clip covers, where state is carried.

A film is walked shot by shot. Inside a shot, clips of ``clip_length`` frames follow each
other with ``overlap`` frames shared; the first clip of a shot starts with a fresh LSTM
state, every later clip starts from the state its predecessor had just before the frames
they share, so the recurrence sees every frame once and in order. Over the shared frames
the two clips' a*b* are cross-faded. A clip never crosses a cut.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """Frames ``start`` to ``stop - 1`` processed together as one clip."""

    start: int
    stop: int
    reset: bool  # first clip of a shot: fresh temporal state
    fade: int  # leading frames shared with the previous clip, cross-faded
    carry_at: int | None  # offset where the next clip starts; None if the shot ends here

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def emit_stop(self) -> int:
        """Frames from here on are shared with the next clip and finished by it."""
        return self.stop if self.carry_at is None else self.start + self.carry_at


def plan_window(start: int, *, reset: bool, limit: int, clip_length: int, overlap: int) -> Window:
    """The clip starting at ``start``; ``limit`` is the next cut or the end of the range."""
    if not 0 <= overlap < clip_length:
        raise ValueError(f"overlap must be in 0..{clip_length - 1}, got {overlap}")
    if start >= limit:
        raise ValueError(f"empty window: start {start} >= limit {limit}")
    stop = min(start + clip_length, limit)
    carry_at = None if stop == limit else stop - overlap - start
    return Window(start, stop, reset, 0 if reset else overlap, carry_at)


def next_start(window: Window) -> tuple[int, bool]:
    """Where the following clip starts, and whether it starts a new shot."""
    if window.carry_at is None:
        return window.stop, True
    return window.start + window.carry_at, False


def plan_windows(
    start: int, stop: int, *, clip_length: int, overlap: int, cuts: Sequence[int] = ()
) -> list[Window]:
    """All clips of the range ``[start, stop)``; ``start`` always begins a shot."""
    bounds = sorted({c for c in cuts if start < c < stop})
    windows: list[Window] = []
    pos, reset = start, True
    while pos < stop:
        i = bisect.bisect_right(bounds, pos)
        limit = bounds[i] if i < len(bounds) else stop
        window = plan_window(
            pos, reset=reset, limit=limit, clip_length=clip_length, overlap=overlap
        )
        windows.append(window)
        pos, reset = next_start(window)
    return windows


def fade_weights(n: int) -> np.ndarray:
    """Weights of the newer clip over ``n`` shared frames: strictly between 0 and 1, rising."""
    return (np.arange(1, n + 1, dtype=np.float32) / (n + 1)).astype(np.float32)
