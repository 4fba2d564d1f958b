"""The steadier: a frame's a*b* pulled towards the last frame's along the guidance's flow,
only where the flow held and the lightness matches; never across a cut or a gap; the bars
of a letterbox untouched."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from flowchroma_core.pipeline.framing import plan_placement
from flowchroma_core.pipeline.steady import STRENGTH, Steadier

H, W = 20, 32  # model input
PLACEMENT = plan_placement(10, 32, H, W)  # a 16:5 picture letterboxed: 5 rows of bar each side


@dataclass
class _Step:
    map_x: np.ndarray
    map_y: np.ndarray
    valid: np.ndarray


def _shift(dx: float, valid: np.ndarray | None = None) -> _Step:
    """Content moving right by ``dx`` picture pixels: pixel x samples x - dx before."""
    ys, xs = np.mgrid[0 : PLACEMENT.inner_h, 0 : PLACEMENT.inner_w].astype(np.float32)
    ok = np.ones(xs.shape, bool) if valid is None else valid
    return _Step(xs - dx, ys, ok)


def _frame(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, H, W, generator=g) - 0.5, torch.zeros(H, W)


def test_placement_is_a_letterbox() -> None:
    assert (PLACEMENT.top, PLACEMENT.inner_h, PLACEMENT.left, PLACEMENT.inner_w) == (5, 10, 0, 32)


def test_a_still_frame_is_pulled_by_strength_towards_the_last_inside_the_picture() -> None:
    steady = Steadier()
    ab0, l = _frame(0)
    ab1, _ = _frame(1)
    assert steady(7, ab0, l, PLACEMENT, None) is ab0  # nothing before it: as made
    out = steady(8, ab1, l, PLACEMENT, _shift(0.0))
    rows = slice(5, 15)
    expected = ab1[:, rows] + STRENGTH * (ab0[:, rows] - ab1[:, rows])
    torch.testing.assert_close(out[:, rows], expected)
    torch.testing.assert_close(out[:, :5], ab1[:, :5])  # the bars: untouched
    torch.testing.assert_close(out[:, 15:], ab1[:, 15:])
    assert steady.steadied == 1
    assert steady.state is not None and steady.state[0] == 8 and steady.state[1] is out


def test_the_pull_follows_the_motion() -> None:
    steady = Steadier()
    ab0, l = _frame(0)
    steady(0, ab0, l, PLACEMENT, None)
    out = steady(1, torch.zeros(2, H, W), l, PLACEMENT, _shift(3.0))
    # pixel x of frame 1 is pulled towards pixel x - 3 of frame 0 (left edge: replicated)
    torch.testing.assert_close(out[:, 5:15, 3:], STRENGTH * ab0[:, 5:15, :-3])


def test_no_pull_where_the_flow_failed_or_the_lightness_differs() -> None:
    steady = Steadier()
    ab0, l0 = _frame(0)
    ab1, _ = _frame(1)
    steady(0, ab0, l0, PLACEMENT, None)
    valid = np.ones((10, 32), bool)
    valid[:, :16] = False  # the check failed on the left half
    l1 = l0.clone()
    l1[:, 24:] = 0.6  # 30 L* brighter on the right quarter: not the same surface
    out = steady(1, ab1, l1, PLACEMENT, _shift(0.0, valid))
    torch.testing.assert_close(out[:, 5:15, :16], ab1[:, 5:15, :16])
    gap = (out - ab1)[:, 5:15, 24:].abs().max()
    pulled = (out - ab1)[:, 5:15, 16:24].abs().max()
    assert gap < 0.01 * pulled  # exp(-30 / 5) of the pull


@pytest.mark.parametrize("what", ["cut", "gap"])
def test_nothing_is_pulled_across_a_cut_or_a_gap(what: str) -> None:
    steady = Steadier()
    ab0, l = _frame(0)
    ab1, _ = _frame(1)
    steady(4, ab0, l, PLACEMENT, None)
    if what == "cut":
        steady.reset()
        frame = 5
    else:
        frame = 6  # frame 5 was skipped (damaged): the step from 5 says nothing about 4
    assert steady(frame, ab1, l, PLACEMENT, _shift(0.0)) is ab1
    assert steady.steadied == 0
