"""Quality measures: known values, an independent SSIM, and steadiness on synthetic motion."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from flowchroma_core.evaluation import metrics

H, W = 96, 128


def _texture(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """A smooth random colour picture: something optical flow can lock onto."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min()) * 235 + 10
    return smooth.astype(np.uint8)


def _panning(frames: int, step: int = 2) -> list[np.ndarray]:
    """Frames of a camera panning right over a large picture by ``step`` pixels a frame."""
    scene = _texture(1, H, W + step * frames)
    return [scene[:, t * step : t * step + W].copy() for t in range(frames)]


def _flicker(frames: list[np.ndarray], amount: float, seed: int = 2) -> list[np.ndarray]:
    """The same frames with a random colour cast added to each."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        cast = rng.uniform(-amount, amount, 3)
        out.append(np.clip(f.astype(np.float64) + cast, 0, 255).astype(np.uint8))
    return out


# ------------------------------------------------------------------------------ PSNR


def test_psnr_known_values() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    assert metrics.psnr(a, a) == math.inf
    assert metrics.psnr(a, a + 1) == pytest.approx(10 * math.log10(255**2), abs=1e-9)  # 48.13
    assert metrics.psnr(a, a + 255) == pytest.approx(0.0, abs=1e-12)
    b = a.copy()
    b[..., 0] = 10  # one channel off by 10: MSE = 100 / 3
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 * 3 / 100), abs=1e-9)


def test_mean_psnr_caps_identical_frames() -> None:
    assert metrics.mean_psnr([math.inf, 40.0]) == pytest.approx((metrics.PSNR_CAP_DB + 40) / 2)
    assert math.isnan(metrics.mean_psnr([]))


def test_frames_must_be_rgb_uint8_of_one_size() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8 RGB"):
        metrics.psnr(a.astype(np.float32), a)
    with pytest.raises(ValueError, match="differ in size"):
        metrics.psnr(a, np.zeros((8, 9, 3), np.uint8))


# ------------------------------------------------------------------------------ SSIM


def test_ssim_of_identical_frames_is_one() -> None:
    a = _texture(3)
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("noise", [5.0, 40.0])
def test_ssim_matches_scikit_image(noise: float) -> None:
    skimage_metrics = pytest.importorskip("skimage.metrics")
    a = _texture(4)
    rng = np.random.default_rng(5)
    b = np.clip(a + rng.normal(0, noise, a.shape), 0, 255).astype(np.uint8)
    b[:, : W // 3] = _texture(6)[:, : W // 3]  # part of the picture unrelated
    expected = skimage_metrics.structural_similarity(
        a,
        b,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert metrics.ssim(a, b) == pytest.approx(expected, abs=1e-3)
    assert metrics.ssim(a, b) < 0.99


def test_ssim_needs_room_for_its_window() -> None:
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(np.zeros((10, 40, 3), np.uint8), np.zeros((10, 40, 3), np.uint8))


# ------------------------------------------------------------------------------ colourfulness


def test_colourfulness_of_grey_is_zero() -> None:
    grey = np.repeat(_texture(7)[..., :1], 3, axis=-1)
    assert metrics.colourfulness(grey) == 0.0
    assert metrics.colourfulness(grey, absolute=True) == 0.0


def test_colourfulness_of_saturated_colours() -> None:
    """Half pure red, half pure green: rg = ±255, yb = 127.5, so M = 255 + 0.3·127.5."""
    f = np.zeros((4, 8, 3), np.uint8)
    f[:, :4, 0] = 255
    f[:, 4:, 1] = 255
    assert metrics.colourfulness(f) == pytest.approx(255 + 0.3 * 127.5)
    # |rg| = 255 everywhere: no spread, mean 255
    assert metrics.colourfulness(f, absolute=True) == pytest.approx(0.3 * math.hypot(255, 127.5))
    assert metrics.colourfulness(f) > 10 * metrics.colourfulness(_flicker([f * 0 + 128], 5)[0])


# ------------------------------------------------------------------------------ CDC


def test_js_divergence_bounds() -> None:
    p = np.array([0.5, 0.5, 0.0, 0.0])
    q = np.array([0.0, 0.0, 0.5, 0.5])
    assert metrics.js_divergence(p, p) == pytest.approx(0.0)
    assert metrics.js_divergence(p, q) == pytest.approx(math.log(2))
    assert metrics.js_divergence(p, q) == pytest.approx(metrics.js_divergence(q, p))


def test_cdc_of_a_still_sequence_is_zero() -> None:
    frame = _texture(8)
    assert metrics.cdc([frame] * 6) == 0.0
    assert math.isnan(metrics.cdc([frame]))


def test_cdc_averages_steps_then_frames_as_documented() -> None:
    frames = _flicker([_texture(9)] * 6, 20)
    hists = [metrics.channel_histograms(f) for f in frames]
    per_step = [
        np.mean([metrics.js_divergence(hists[t], hists[t + dt]).mean() for t in range(6 - dt)])
        for dt in (1, 2, 4)
    ]
    assert metrics.cdc(frames) == pytest.approx(np.mean(per_step), rel=1e-12)


def test_cdc_flicker_scores_worse_than_steady() -> None:
    steady = _panning(10)
    assert metrics.cdc(_flicker(steady, 25)) > 5 * metrics.cdc(steady)


# ------------------------------------------------------------------------------ warp error


def test_flow_follows_the_motion() -> None:
    """Panning right moves the content left: 2 px per frame, found for most pixels."""
    frames = _panning(3)
    (flow, valid), _ = metrics.compute_flows([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    assert valid.mean() > 0.8
    assert np.median(flow[..., 0][valid]) == pytest.approx(-2.0, abs=0.1)
    assert np.median(flow[..., 1][valid]) == pytest.approx(0.0, abs=0.1)
    assert not valid[:, 0].any()  # the left edge has left the next frame


def test_warp_error_of_a_still_sequence_is_zero() -> None:
    frames = [_texture(10)] * 5
    assert metrics.warp_error(frames, flow_from=frames) == pytest.approx(0.0, abs=1e-6)


def test_warp_error_flicker_scores_worse_than_steady() -> None:
    steady = _panning(8)
    flows = metrics.compute_flows(steady)
    clean = metrics.warp_error(steady, flow_from=flows)
    flickering = metrics.warp_error(_flicker(steady, 25), flow_from=flows)
    assert clean < 2e-3
    assert flickering > 10 * clean


def test_warp_error_takes_frames_or_precomputed_flows() -> None:
    frames = _panning(4)
    tested = _flicker(frames, 10)
    from_frames = metrics.warp_error(tested, flow_from=frames)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    from_flows = metrics.warp_error(tested, flow_from=metrics.compute_flows(gray))
    assert from_frames == pytest.approx(from_flows, rel=1e-6)
    with pytest.raises(ValueError, match="need 3 flows"):
        metrics.warp_error(tested, flow_from=metrics.compute_flows(gray[:3]))
