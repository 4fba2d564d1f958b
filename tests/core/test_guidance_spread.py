"""Points spread over their regions (``guidance.spread``): geodesic nearest point."""

from __future__ import annotations

import math

import pytest
import torch

from flowchroma_core.guidance.spread import spread_hints

H, W = 40, 60


def _hint(*points: tuple[int, int, float, float]) -> torch.Tensor:
    hint = torch.zeros(3, H, W)
    for y, x, a, b in points:
        hint[:, y, x] = torch.tensor([a, b, 1.0])
    return hint


def test_colour_stays_on_its_side_of_an_edge() -> None:
    grey = torch.full((H, W), 0.3)
    grey[:, 30:] = 0.7
    out = spread_hints(_hint((20, 5, 0.5, -0.2), (20, 55, -0.3, 0.4)), grey)
    # every pixel of the left part has the left point's colour, and so on
    assert torch.equal(out[0, :, :30], torch.full((H, 30), 0.5))
    assert torch.equal(out[1, :, 30:], torch.full((H, 30), 0.4))
    # right next to the edge, the far point is nearer in pixels but the near side wins
    assert out[0, 20, 29] == 0.5 and out[0, 20, 30] == pytest.approx(-0.3)


def test_confidence_fades_with_the_distance_along_the_frame() -> None:
    grey = torch.zeros(H, W)
    out = spread_hints(_hint((10, 10, 0.5, 0.5)), grey, reach=20.0, texture=0.0)
    assert out[2, 10, 10] == 1.0  # the point itself
    assert out[2, 10, 30].item() == pytest.approx(math.exp(-20 / 20), rel=1e-5)
    # steps go along rows and columns: 10 across and 10 down is 20 away
    assert out[2, 20, 20].item() == pytest.approx(math.exp(-20 / 20), rel=1e-5)
    # an edge of 0.5 grey on the way adds edge * 0.5 to the distance
    wall = torch.zeros(H, W)
    wall[:, 20:] = 0.5
    behind = spread_hints(_hint((10, 10, 0.5, 0.5)), wall, reach=20.0, edge=30.0, texture=0.0)
    assert behind[2, 10, 30].item() == pytest.approx(math.exp(-(20 + 15) / 20), rel=1e-5)


def test_colour_goes_round_a_wall_not_through_it() -> None:
    grey = torch.zeros(H, W)
    grey[5:, 30] = 1.0  # a wall from row 5 down: the way round is over the top
    out = spread_hints(_hint((30, 25, 0.5, 0.5)), grey, reach=20.0, edge=1000.0, texture=0.0)
    # (30, 35) is 10 px away straight through the wall; round it: 26 up, 10 over, 26 down
    assert out[2, 30, 35].item() == pytest.approx(math.exp(-(26 + 10 + 26) / 20), rel=1e-4)
    assert out[0, 30, 35] == 0.5


def test_points_keep_their_own_colour_and_a_map_without_points_is_unchanged() -> None:
    hint = _hint((3, 3, 0.25, -0.75))
    hint[2, 3, 3] = 1.0
    out = spread_hints(hint, torch.rand(H, W))
    assert out[:, 3, 3].tolist() == [0.25, -0.75, 1.0]
    empty = torch.zeros(3, H, W)
    assert spread_hints(empty, torch.rand(H, W)) is empty
    with pytest.raises(ValueError, match="same size"):
        spread_hints(empty, torch.rand(H, W + 1))


def test_texture_keeps_grass_colour_off_smooth_cloth_of_the_same_grey() -> None:
    rng = torch.Generator().manual_seed(0)
    grey = torch.full((H, W), 0.4)
    grey[:, :30] += (torch.rand(H, 30, generator=rng) - 0.5) * 0.3  # grass: same mean grey
    hint = _hint((20, 28, -0.4, 0.4), (20, 58, 0.1, -0.3))  # a green point, a navy one

    def green_on_cloth(texture: float) -> int:
        out = spread_hints(hint, grey, texture=texture)
        return int((out[0, :, 30:] < 0).sum())

    plain = green_on_cloth(0.0)  # 440 pixels of the cloth turn green
    assert green_on_cloth(3.0) < 0.8 * plain  # the default: 320
    assert green_on_cloth(10.0) < 0.25 * plain
