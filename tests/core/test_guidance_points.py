"""Points as hint channels: placement through the letterbox, rasterising, simulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowchroma_core.guidance.points import (
    HINT_AB_SCALE,
    Patch,
    ab_to_hint_map,
    hint_map_to_ab,
    patch_from_fractions,
    rasterise,
    simulate_points,
)
from flowchroma_core.pipeline.framing import plan_placement


def test_rasterise_writes_scaled_colour_and_confidence() -> None:
    hint = rasterise([Patch(y=2, x=3, side=4, a=55.0, b=-22.0, confidence=0.5)], 10, 12)
    assert hint.shape == (3, 10, 12)
    inside = hint[:, 2:6, 3:7]
    assert torch.allclose(inside[0], torch.full((4, 4), 55.0 / HINT_AB_SCALE))
    assert torch.allclose(inside[1], torch.full((4, 4), -22.0 / HINT_AB_SCALE))
    assert torch.allclose(inside[2], torch.full((4, 4), 0.5))
    assert int((hint[2] > 0).sum()) == 16  # nothing outside the patch
    with pytest.raises(ValueError):
        rasterise([Patch(0, 0, 2, 0.0, 0.0, confidence=1.5)], 4, 4)


def test_points_land_inside_the_letterboxed_picture() -> None:
    # a 4:3 film in a 240x427 (16:9) model input: pillarbox, picture in columns 53..372
    placement = plan_placement(480, 640, 240, 427)
    assert placement.left == 53 and placement.inner_w == 320
    left_edge = patch_from_fractions(0.0, 0.5, 0.02, 10.0, 20.0, placement)
    assert left_edge.x == placement.left  # clipped into the picture, never on the padding
    centre = patch_from_fractions(0.5, 0.5, 0.05, 10.0, 20.0, placement)
    assert centre.side == 16  # 5 % of the picture's 320 px
    assert centre.x + centre.side / 2 == pytest.approx(53 + 160, abs=1)
    assert centre.y + centre.side / 2 == pytest.approx(120, abs=1)
    right = patch_from_fractions(1.0, 1.0, 0.02, 0.0, 0.0, placement)
    assert right.x + right.side == placement.left + placement.inner_w
    assert right.y + right.side == 240


def test_hint_map_round_trip_through_flow_format() -> None:
    hint = rasterise([Patch(1, 1, 3, 40.0, -60.0)], 8, 8)
    ab, presence = hint_map_to_ab(hint)
    assert ab[2, 2].tolist() == pytest.approx([40.0, -60.0])
    assert presence.sum() == 9
    carried = np.concatenate([ab, presence[..., None] * 0.25], axis=-1)
    back = ab_to_hint_map(carried)
    assert torch.allclose(back[:2], hint[:2], atol=1e-6)
    assert torch.allclose(back[2], hint[2] * 0.25)


def test_simulated_count_is_geometric_from_zero() -> None:
    rng = np.random.default_rng(0)
    ab = torch.zeros(2, 32, 32)
    counts = np.array([len(simulate_points(ab, None, rng)) for _ in range(4000)])
    assert abs((counts == 0).mean() - 0.125) < 0.02  # 12.5 % without any point
    assert abs(counts.mean() - 7.0) < 0.5  # mean (1 - p) / p = 7
    assert len(simulate_points(ab, 5, rng)) == 5 and simulate_points(ab, 0, rng) == []


def test_simulated_patches_carry_the_true_patch_mean() -> None:
    rng = np.random.default_rng(1)
    ab = torch.randn(2, 240, 320) * 30
    patches = simulate_points(ab, 200, rng)
    sides = [p.side for p in patches]
    # 1..9 px at 176 px, scaled to 240 px: 1..12
    assert min(sides) == 1 and max(sides) == 12
    for p in patches:
        assert 0 <= p.y <= 240 - p.side and 0 <= p.x <= 320 - p.side
        window = ab[:, p.y : p.y + p.side, p.x : p.x + p.side].double().mean(dim=(1, 2))
        assert (p.a, p.b) == pytest.approx(window.tolist(), abs=1e-3)
    ys = np.array([p.y + p.side / 2 for p in patches])
    assert abs(ys.mean() - 120) < 8  # centred, spread about a quarter of the height
    assert 40 < ys.std() < 75
