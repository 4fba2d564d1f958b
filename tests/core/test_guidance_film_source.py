"""A still read as a grid of points, the guided evaluation's mode names, the frame export's
refusals: no model needed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.evaluation.guided import GuidanceMode
from flowchroma_core.guidance.film_source import export_frame, still_points


def _halves(h: int, w: int) -> torch.Tensor:
    """Float RGB: the left half red, the right half blue."""
    rgb = torch.zeros(3, h, w)
    rgb[0, :, : w // 2] = 0.9
    rgb[2, :, w // 2 :] = 0.9
    return rgb


def test_still_points_cover_the_frame_with_the_stills_colours() -> None:
    points = still_points(_halves(90, 160), 7, (360, 640), 0.1)
    assert len(points) == 10 * 6  # 160 px / 16 px across, 90 px / 16 px down (centres < 90)
    assert all(p.frame == 7 and 0 < p.x < 1 and 0 < p.y < 1 for p in points)
    left = [p for p in points if p.x < 0.45]
    right = [p for p in points if p.x > 0.55]
    assert left and right
    assert all(p.a > 40 for p in left)  # red: a* strongly positive
    assert all(p.b < -40 for p in right)  # blue: b* strongly negative
    assert points[0].size == pytest.approx(5 / 160)


def test_still_points_refuse_another_aspect(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert still_points(_halves(100, 100), 0, (360, 640), 0.1) == []
    assert "another aspect" in caplog.text


@pytest.mark.parametrize(
    ("text", "kind", "n"), [("first-frame", "first-frame", 0), ("points:10", "points", 10)]
)
def test_guidance_modes(text: str, kind: str, n: int) -> None:
    mode = GuidanceMode.parse(text)
    assert (mode.kind, mode.points, str(mode)) == (kind, n, text)


@pytest.mark.parametrize("text", ["points", "points:-1", "first", "points:2.5"])
def test_bad_guidance_modes(text: str) -> None:
    with pytest.raises(ValueError, match="expected first-frame or points:N"):
        GuidanceMode.parse(text)


def test_export_frame_wants_a_png_in_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(FlowChromaError, match="written as PNG"):
        export_frame(tmp_path / "film.mp4", 0, tmp_path / "still.jpg")
    with pytest.raises(FlowChromaError, match="no such folder"):
        export_frame(tmp_path / "film.mp4", 0, tmp_path / "missing" / "still.png")
    assert not list(tmp_path.iterdir())
