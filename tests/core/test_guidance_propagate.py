"""Flow propagation: hints follow the picture, decay, die at the frame edge; FlowCarry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from flowchroma_core.guidance.propagate import (
    ColourChain,
    FlowCarry,
    FlowField,
    Step,
    carry_colour,
    carry_hints,
    confidence_at,
    merge_nearest,
)
from tests.core.guidance_media import panning, texture

H, W = 96, 128


def _greys(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [f.mean(axis=2).astype(np.uint8) for f in frames]


def _patch_map(y: int, x: int, side: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    ab = np.zeros((H, W, 2), np.float32)
    presence = np.zeros((H, W), np.float32)
    ab[y : y + side, x : x + side] = (a, b)
    presence[y : y + side, x : x + side] = 1
    return ab, presence


def test_hint_follows_the_motion_and_decays() -> None:
    greys = _greys(panning(9, H, W, dx=2))  # content moves 2 px left per frame
    ab, presence = _patch_map(40, 60, 8, 50.0, -20.0)
    out = carry_hints(greys, 4, ab, presence)
    assert out.shape == (9, H, W, 3)
    for t in range(9):
        alive = out[t, ..., 2] > 0
        assert alive.sum() >= 36, t  # most of the 8x8 patch survives
        ys, xs = np.nonzero(alive)
        shift = 2 * (t - 4)
        assert xs.mean() == pytest.approx(60 + 3.5 - shift, abs=1.0), t
        assert ys.mean() == pytest.approx(43.5, abs=1.0), t
        assert out[t, alive, 0] == pytest.approx(50.0, abs=0.5)
        assert out[t, alive, 1] == pytest.approx(-20.0, abs=0.5)
        assert np.allclose(out[t, alive, 2], confidence_at(t - 4))
    assert confidence_at(16) == pytest.approx(np.exp(-1))
    assert out[4, 43, 63, 2] == 1.0  # the restorer's own point


def test_hint_leaving_the_frame_is_dropped() -> None:
    greys = _greys(panning(12, H, W, dx=3))
    ab, presence = _patch_map(40, 4, 4, 30.0, 30.0)  # near the left edge, moving out
    out = carry_hints(greys, 0, ab, presence)
    assert (out[0, ..., 2] > 0).sum() == 16
    assert (out[-1, ..., 2] > 0).sum() == 0
    assert np.abs(out[-1, ..., :2]).max() == 0


def test_inconsistent_flow_drops_the_hint() -> None:
    greys = _greys(panning(2, H, W, dx=2))
    other = _greys(panning(1, H, W, seed=9))[0]  # an unrelated picture: the check fails
    ab, presence = _patch_map(40, 60, 8, 50.0, -20.0)
    kept = carry_hints(greys, 0, ab, presence)[1, ..., 2]
    lost = carry_hints([greys[0], other], 0, ab, presence)[1, ..., 2]
    assert (kept > 0).sum() > 40
    assert (lost > 0).sum() < (kept > 0).sum() / 2


def test_merge_keeps_the_nearest_keyframe() -> None:
    near = np.zeros((2, 2, 3), np.float32)
    far = np.zeros((2, 2, 3), np.float32)
    near[0, 0] = (10, 10, 0.9)
    far[0, 0] = (-10, -10, 0.5)
    far[1, 1] = (-10, -10, 0.5)
    merged = merge_nearest([far, near])
    assert merged[0, 0].tolist() == pytest.approx([10, 10, 0.9])
    assert merged[1, 1].tolist() == pytest.approx([-10, -10, 0.5])


def test_flow_carry_warps_the_keyframe_colours() -> None:
    frames = panning(6, H, W, dx=2)
    greys = _greys(frames)
    ab0 = frames[0][..., :2].astype(np.float32)  # any colour field tied to the texture
    carry = FlowCarry(flow=FlowField())
    with pytest.raises(RuntimeError):
        carry.push(greys[1])
    carry.reset(greys[0], ab0)
    for t in range(1, 6):
        carried = carry.push(greys[t])
        truth = frames[t][..., :2].astype(np.float32)
        inner = (slice(8, -8), slice(8, -8 - 2 * t))
        err = np.abs(carried[inner] - truth[inner]).mean()
        pasted = np.abs(ab0[inner] - truth[inner]).mean()
        assert err < 0.25 * pasted, (t, err, pasted)
    assert carry.steps == 5


def _colour_of(frame: np.ndarray) -> np.ndarray:
    """A stand-in a*b* that moves with the picture: two of its RGB channels, centred."""
    return np.stack([frame[..., 0], frame[..., 2]], -1).astype(np.float32) - 128.0


def test_a_still_of_its_own_frame_is_carried_everywhere_with_a_confidence() -> None:
    frames = panning(9, H, W, dx=2)
    out = carry_colour(_greys(frames), 4, _colour_of(frames[4]))
    assert out.shape == (9, H, W, 3)
    assert (out[..., 2] > 0).all()  # nothing is dropped, unlike a point
    assert out[4, ..., 2].min() == 1.0
    inner = np.s_[8:-8, 20:-20]  # away from the edges the pan brings in
    for t in (0, 2, 6, 8):
        truth = _colour_of(frames[t])
        assert np.abs(out[t, ..., :2][inner] - truth[inner]).mean() < 3.0, t
        conf = out[t, ..., 2][inner]
        assert np.median(conf) > 0.8, t  # the flow holds: no decay with time alone


def test_carried_colour_loses_confidence_where_the_picture_no_longer_matches() -> None:
    frames = panning(6, H, W, dx=2)
    greys = _greys(frames)
    greys[5] = _greys(panning(1, H, W, seed=7))[0]  # another picture: a cut the scan missed
    out = carry_colour(greys, 0, _colour_of(frames[0]))
    assert np.median(out[4, ..., 2]) > 0.9
    assert np.median(out[5, ..., 2]) < 0.5


def test_the_flow_follows_a_small_moving_thing() -> None:
    # a 10 px textured square moves by (4, 3) px over a still, lightly textured ground: at
    # the medium preset's own finest level (half resolution) its motion comes out ~0.26 px
    # short; refined to full resolution it is found to ~0.02 px
    rng = np.random.default_rng(0)
    ground = cv2.GaussianBlur((rng.random((H, W)) * 60 + 60).astype(np.float32), (0, 0), 1.0)
    thing = (rng.random((10, 10)) * 100 + 150).astype(np.float32)
    before, after = ground.copy(), ground.copy()
    before[40:50, 50:60] = thing
    after[43:53, 54:64] = thing
    back = FlowField().flow(after.astype(np.uint8), before.astype(np.uint8))
    inside = back[45:51, 56:62]  # where the square is now; it came from 4 left, 3 up
    assert np.abs(inside - np.array([-4.0, -3.0])).mean() < 0.1


def test_an_anchored_chain_does_not_drift_on_a_shaking_camera() -> None:
    # the camera shakes by fractions of a pixel around one place: chained step by step the
    # colour blurs and drifts with every resampling, while the keyframe pulled straight
    # onto each frame stays sharp; the anchored carry restarts the chain from it
    ground = texture(H, W, 0).astype(np.float32)

    def shaken(t: int) -> np.ndarray:
        shift = np.float32([[1, 0, 2.5 * np.sin(0.9 * t)], [0, 1, 1.5 * np.cos(0.7 * t)]])
        moved = cv2.warpAffine(
            ground, shift, (W, H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
        )
        return np.clip(moved, 0, 255)

    frames = [shaken(t) for t in range(40)]
    greys = _greys(frames)
    inner = np.s_[8:-8, 12:-12]

    def error(anchored: bool) -> float:
        out = carry_colour(greys, 0, _colour_of(frames[0]), directions=(1,), anchored=anchored)
        return float(np.abs(out[39, ..., :2][inner] - _colour_of(frames[39])[inner]).mean())

    chained, anchored = error(False), error(True)
    assert chained > 4.0  # the drift this guards against
    assert anchored < 2.0


def test_an_anchored_chain_ends_in_the_same_state_whether_its_steps_were_checked() -> None:
    # far before the frames handed out a chain is carried by unchecked steps (one field
    # instead of two); where it restarts from the keyframe must not depend on that, or a
    # run started mid-shot would colour differently from one that walked there
    frames = panning(6, H, W, dx=2)
    greys = _greys(frames)
    flow = FlowField()
    checked = ColourChain(_colour_of(frames[0]), np.ones((H, W), np.float32), greys[0], flow=flow)
    unchecked = checked.copy()
    for t in range(1, 6):
        step = flow.step(greys[t - 1], greys[t])
        half = np.zeros_like(step.valid)
        half[:, : W // 2] = True  # the check failing over half the frame
        checked.advance(Step(step.map_x, step.map_y, half), greys[t])
        unchecked.advance(Step(step.map_x, step.map_y, np.ones_like(half)), greys[t])
    assert np.array_equal(checked.state, unchecked.state)
