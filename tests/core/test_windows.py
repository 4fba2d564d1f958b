"""Window planning, as the colorizer walks it: coverage, cuts respected, state carried at
the right frame."""

from __future__ import annotations

import numpy as np
import pytest

from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.windows import Window, fade_weights, walk_windows


def plan_windows(
    start: int, stop: int, *, window_frames: int, overlap: int, cuts=()
) -> list[Window]:
    """Every window of ``[start, stop)`` with the cuts known in advance."""
    bounds = sorted(c for c in cuts if start < c < stop)

    def shot_end(s: int) -> int:
        return next((c for c in bounds if c > s), stop)

    options = ColorizeOptions(window_frames=window_frames, overlap=overlap)
    return list(walk_windows(options, shot_end, start=start))


@pytest.mark.parametrize("window_frames, overlap", [(16, 0), (16, 4), (5, 2), (1, 0), (8, 7)])
@pytest.mark.parametrize("cuts", [(), (37,), (10, 11, 50)])
def test_windows_cover_every_frame_once_and_never_cross_a_cut(
    window_frames, overlap, cuts
) -> None:
    start, stop = 3, 70
    windows = plan_windows(start, stop, window_frames=window_frames, overlap=overlap, cuts=cuts)
    emitted = []
    for prev, w in zip([None, *windows], windows, strict=False):
        assert 1 <= len(w) <= window_frames
        assert not any(w.start < c < w.stop for c in cuts), (w, cuts)
        if prev is None or prev.carry_at is None:
            assert w.reset and w.fade == 0
        else:
            assert not w.reset and w.start == prev.start + prev.carry_at
            assert w.fade == prev.stop - w.start == overlap
        emitted += range(w.start if prev is None else max(w.start, prev.emit_stop), w.emit_stop)
    assert emitted == list(range(start, stop))
    shot_starts = sorted({start} | {c for c in cuts if start < c < stop})
    assert [w.start for w in windows if w.reset] == shot_starts


def test_plain_example() -> None:
    ws = plan_windows(0, 40, window_frames=16, overlap=4, cuts=[30])
    assert [(w.start, w.stop, w.reset, w.fade, w.carry_at) for w in ws] == [
        (0, 16, True, 0, 12),
        (12, 28, False, 4, 12),
        (24, 30, False, 4, None),
        (30, 40, True, 0, None),
    ]


def test_bad_overlap_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap: must be at least 0 and less than"):
        plan_windows(0, 10, window_frames=16, overlap=16)


def test_fade_weights_rise_strictly_inside_zero_one() -> None:
    w = fade_weights(4)
    np.testing.assert_allclose(w, [0.2, 0.4, 0.6, 0.8])
    assert fade_weights(0).size == 0
