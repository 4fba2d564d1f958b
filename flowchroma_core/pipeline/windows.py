"""Sliding-window arithmetic: which frames each clip covers, where state is carried.

A film is walked shot by shot. Inside a shot, clips of ``clip_length`` frames follow each
other with ``overlap`` frames shared; the first clip of a shot starts with a fresh LSTM
state, every later clip starts from the state its predecessor had just before the frames
they share, so the recurrence sees every frame once and in order. Over the shared frames
the two clips' a*b* are cross-faded. A clip never crosses a cut.

``walk_windows`` is the walk the colorizer makes: it asks its caller where the shot that
holds each window's first frame ends, so the caller can read the stream (and find cuts)
only as far as it must.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from flowchroma_core.pipeline.options import ColorizeOptions

logger = logging.getLogger(__name__)


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


def plan_window(start: int, *, reset: bool, limit: int, options: ColorizeOptions) -> Window:
    """The window starting at ``start``; ``limit`` is the next cut or the end of the range.

    ``options`` guarantees ``0 <= overlap < window_frames``, so every window moves on.
    """
    if start >= limit:
        raise ValueError(f"empty window: start {start} >= limit {limit}")
    overlap = options.overlap
    stop = min(start + options.window_frames, limit)
    carry_at = None if stop == limit else stop - overlap - start
    return Window(start, stop, reset, 0 if reset else overlap, carry_at)


def next_start(window: Window) -> tuple[int, bool]:
    """Where the following window starts, and whether it starts a new shot."""
    if window.carry_at is None:
        return window.stop, True
    return window.start + window.carry_at, False


def walk_windows(
    options: ColorizeOptions,
    shot_end: Callable[[int], int],
    *,
    start: int = 0,
    reset: bool = True,
) -> Iterator[Window]:
    """Every window from ``start`` on; ``start`` begins a shot unless ``reset`` is False
    (a run resumed at a window boundary inside a shot, ``checkpoints.Checkpoint``).

    ``shot_end(s)`` says where the shot holding frame ``s`` ends: the next cut after ``s``
    or the end of the stream, whichever comes first; the walk ends when that is ``<= s``.
    Frames before ``s`` are never asked for again once ``shot_end(s)`` has been called.
    """
    while True:
        limit = shot_end(start)
        if start >= limit:
            return
        window = plan_window(start, reset=reset, limit=limit, options=options)
        yield window
        start, reset = next_start(window)


def fade_weights(n: int) -> np.ndarray:
    """Weights of the newer clip over ``n`` shared frames: strictly between 0 and 1, rising."""
    return (np.arange(1, n + 1, dtype=np.float32) / (n + 1)).astype(np.float32)
