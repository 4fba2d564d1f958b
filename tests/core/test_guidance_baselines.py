"""The DAVIS baselines' arithmetic on synthetic and real footage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flowchroma_core.evaluation import metrics
from flowchroma_core.guidance.baselines import (
    by_distance,
    compose,
    evaluate_sequence,
    psnr,
    split_lab,
)
from flowchroma_core.video.reader import read_rgb
from tests.core.guidance_media import panning


def test_psnr_matches_the_evaluation_formula() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert psnr(a, b) == pytest.approx(metrics.psnr(a, b), abs=1e-9)
    assert psnr(a, a) == 100.0


def test_keeping_the_true_colour_round_trips() -> None:
    frame = panning(1, 40, 50)[0]
    lightness, ab = split_lab(frame)
    assert psnr(compose(lightness, ab), frame) > 45


def test_flow_beats_pasting_beats_grey_on_panning_colour() -> None:
    frames = panning(21, 64, 96, dx=2)
    scores = evaluate_sequence(frames, name="pan")
    assert scores.frames == 21
    assert [d for d, _ in scores.psnr["flow"]] == [5, 10, 15, 20]
    flow = scores.mean("flow")
    assert flow > scores.mean("pasted") + 3 and flow > scores.mean("no colour") + 3
    table = by_distance([scores], "flow", bins=(5, 10))
    assert [(label, n) for label, _, n in table] == [("1-5", 1), ("6-10", 1), (">10", 2)]
    assert table[-1][1] == pytest.approx(np.mean([v for _, v in scores.psnr["flow"][2:]]))
    # carried colour degrades with distance from the keyframe (new picture, drift)
    assert table[0][1] > table[-1][1] + 1


def test_static_scene_pasting_is_exact(shared_data: Path) -> None:
    frame = next(read_rgb(shared_data / "davis" / "blackswan", max_frames=1))
    scores = evaluate_sequence([frame] * 6, methods=("no colour", "pasted"))
    assert scores.mean("pasted") > 45 > scores.mean("no colour")
