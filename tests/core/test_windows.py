"""Window planning: coverage, cuts respected, state carried at the right frame."""

from __future__ import annotations

import numpy as np
import pytest

from flowchroma_core.pipeline.windows import fade_weights, plan_windows


@pytest.mark.parametrize("clip_length, overlap", [(16, 0), (16, 4), (5, 2), (1, 0), (8, 7)])
@pytest.mark.parametrize("cuts", [(), (37,), (10, 11, 50)])
def test_windows_cover_every_frame_once_and_never_cross_a_cut(clip_length, overlap, cuts) -> None:
    start, stop = 3, 70
    windows = plan_windows(start, stop, clip_length=clip_length, overlap=overlap, cuts=cuts)
    emitted = []
    for prev, w in zip([None, *windows], windows, strict=False):
        assert 1 <= len(w) <= clip_length
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
    ws = plan_windows(0, 40, clip_length=16, overlap=4, cuts=[30])
    assert [(w.start, w.stop, w.reset, w.fade, w.carry_at) for w in ws] == [
        (0, 16, True, 0, 12),
        (12, 28, False, 4, 12),
        (24, 30, False, 4, None),
        (30, 40, True, 0, None),
    ]


def test_bad_overlap_is_refused() -> None:
    with pytest.raises(ValueError, match=r"overlap must be in 0\.\.15"):
        plan_windows(0, 10, clip_length=16, overlap=16)


def test_fade_weights_rise_strictly_inside_zero_one() -> None:
    w = fade_weights(4)
    np.testing.assert_allclose(w, [0.2, 0.4, 0.6, 0.8])
    assert fade_weights(0).size == 0
