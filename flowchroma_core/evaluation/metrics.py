"""Image and video quality measures for colorization, on 8-bit RGB frames.

Every function takes uint8 RGB frames of shape (H, W, 3) (or sequences of them), as
decoders hand them out, and computes in float64. The formulas:

* **PSNR** = 10·log10(255² / MSE), the MSE over all pixels and the three channels. Identical
  frames give +inf; ``mean_psnr`` caps each value at ``PSNR_CAP_DB`` (100 dB) before
  averaging so one perfect frame cannot make a mean infinite.
* **SSIM** (Wang et al. 2004): ((2μxμy + C1)(2σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))
  with local statistics weighted by an 11x11 Gaussian (σ = 1.5), C1 = (0.01·255)²,
  C2 = (0.03·255)², population (not sample) covariances; the map is averaged over each
  channel with the 5-pixel border the window does not fit into left out, then over the
  channels. This is ``skimage.metrics.structural_similarity(gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)``.
* **Colourfulness** (Hasler & Süsstrunk 2003, M^(3)): rg = R − G, yb = ½(R + G) − B,
  M = sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²) on 0..255 values; 0 for any grey image.
  Many colorization papers use a variant with |rg| and |yb| (popularised by a PyImageSearch
  post), which gives smaller values; ``absolute=True`` computes that one for comparison.
* **CDC**, colour distribution consistency (Liu et al. 2021, "Temporally consistent video
  colorization with deep feature propagation and self-regularization learning"): for each
  step dt in (1, 2, 4) and each frame t with a frame t + dt, the Jensen–Shannon divergence
  (natural log, so at most ln 2) between the normalised 256-bin histograms of each of R, G
  and B of frames t and t + dt; averaged over the channels, then over t, then over the
  steps that have at least one pair. Lower is steadier; identical frames give 0.
* **Warp error** (after Lai et al. 2018, "Learning blind video temporal consistency"):
  dense optical flow from frame t − 1 to frame t, measured on the *original* frames'
  grey (OpenCV DIS, medium preset), warps frame t onto frame t − 1 (bilinear); pixels that
  fail a forward–backward consistency check (Sundaram et al. 2010:
  |w + ŵ|² > 0.01(|w|² + |ŵ|²) + 0.5, ŵ the backward flow at the forward flow's target)
  or whose target leaves the picture are masked out as occluded. The error of a pair is
  the mean over the remaining pixels of the *squared* Euclidean RGB difference, values
  scaled to [0, 1] (so summed over the three channels, as Lai et al.); the sequence's
  error is the mean over pairs. Lower is steadier. The flow depends only on the originals,
  so ``compute_flows`` runs once per sequence and every method reuses its result.

Undefined values (a sequence too short for CDC or warp error) are NaN.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import cv2
import numpy as np

logger = logging.getLogger(__name__)

PSNR_CAP_DB = 100.0
"""PSNR of identical frames (infinite) counts as this in averages."""

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

CDC_STEPS: tuple[int, ...] = (1, 2, 4)
"""Frame distances whose colour-distribution changes CDC averages (Liu et al.)."""

# Forward-backward consistency thresholds (Sundaram et al. 2010, as Ruder et al. 2016).
OCCLUSION_ALPHA = 0.01
OCCLUSION_BETA = 0.5

_PEAK = 255.0


# ---------------------------------------------------------------------------------------
# Checks


def _check_frame(frame: np.ndarray, name: str = "frame") -> np.ndarray:
    """The frame itself if it is uint8 (H, W, 3); ValueError naming what is wrong otherwise."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"{name} must be uint8 RGB of shape (H, W, 3), got {frame.dtype} {frame.shape}"
        )
    return frame


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _check_frame(a, "a"), _check_frame(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"frames differ in size: {a.shape} and {b.shape}")
    return a, b


# ---------------------------------------------------------------------------------------
# Fidelity to the original


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (peak 255) over all pixels and channels; +inf if equal."""
    a, b = _check_pair(a, b)
    mse = float(np.mean(np.square(a.astype(np.float64) - b.astype(np.float64))))
    return math.inf if mse == 0.0 else 10.0 * math.log10(_PEAK * _PEAK / mse)


def mean_psnr(values: Iterable[float]) -> float:
    """The mean of PSNR values with each capped at ``PSNR_CAP_DB``; NaN for none."""
    capped = [min(float(v), PSNR_CAP_DB) for v in values]
    return float(np.mean(capped)) if capped else math.nan


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004), per channel then averaged; 1 when equal."""
    a, b = _check_pair(a, b)
    h, w = a.shape[:2]
    if min(h, w) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {w}x{h}")
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    c1 = (SSIM_K1 * _PEAK) ** 2
    c2 = (SSIM_K2 * _PEAK) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        # the border is cropped below, so the padding mode never reaches the mean
        return cv2.GaussianBlur(
            z, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT
        )

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    r = SSIM_WINDOW // 2
    return float(s[r:-r, r:-r].mean())


# ---------------------------------------------------------------------------------------
# Colour without a reference


def colourfulness(frame: np.ndarray, *, absolute: bool = False) -> float:
    """Hasler & Süsstrunk's M^(3) on 0..255 RGB; ``absolute`` uses |rg| and |yb| instead."""
    f = _check_frame(frame).astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    if absolute:
        rg, yb = np.abs(rg), np.abs(yb)
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


# ---------------------------------------------------------------------------------------
# Temporal consistency: colour distribution (CDC)


def channel_histograms(frame: np.ndarray) -> np.ndarray:
    """(3, 256) histograms of R, G and B, each normalised to sum to 1."""
    f = _check_frame(frame)
    n = f.shape[0] * f.shape[1]
    flat = f.reshape(-1, 3)
    return np.stack([np.bincount(flat[:, c], minlength=256) for c in range(3)]) / float(n)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence (natural log) of distributions along the last axis."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    m = 0.5 * (p + q)

    def kl(x: np.ndarray) -> np.ndarray:
        # 0·log(0/m) = 0; where x > 0, m > 0 too
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(x > 0, x * np.log(x / m), 0.0)
        return terms.sum(axis=-1)

    return 0.5 * kl(p) + 0.5 * kl(q)


class CDCMeter:
    """CDC of a stream: push frames in order; ``value`` equals ``cdc`` of the frames so far.

    Keeps only the last ``max(steps)`` histograms, so memory does not grow with the film.
    """

    def __init__(self, steps: Sequence[int] = CDC_STEPS) -> None:
        if not steps or min(steps) < 1:
            raise ValueError(f"CDC steps must be positive frame distances, got {steps}")
        self.steps = tuple(steps)
        self._recent: deque[np.ndarray] = deque(maxlen=max(self.steps))
        self._sums = dict.fromkeys(self.steps, 0.0)
        self._counts = dict.fromkeys(self.steps, 0)

    def push(self, frame: np.ndarray) -> None:
        hist = channel_histograms(frame)
        for dt in self.steps:
            if len(self._recent) >= dt:
                self._sums[dt] += float(js_divergence(self._recent[-dt], hist).mean())
                self._counts[dt] += 1
        self._recent.append(hist)

    @property
    def value(self) -> float:
        means = [self._sums[dt] / self._counts[dt] for dt in self.steps if self._counts[dt]]
        return float(np.mean(means)) if means else math.nan


def cdc(frames: Iterable[np.ndarray], *, steps: Sequence[int] = CDC_STEPS) -> float:
    """Colour distribution consistency of a sequence (see the module docstring); lower is
    steadier, NaN for fewer than two frames."""
    meter = CDCMeter(steps)
    for frame in frames:
        meter.push(frame)
    return meter.value


# ---------------------------------------------------------------------------------------
# Temporal consistency: flow warping error


class FlowPair(NamedTuple):
    """Optical flow from one frame to the next, on the earlier frame's pixel grid.

    ``flow`` (H, W, 2) float32 gives, for each pixel (x, y) of frame t − 1, the offset
    (dx, dy) of the same point in frame t; ``valid`` (H, W) bool is False where that point
    is occluded or outside frame t.
    """

    flow: np.ndarray
    valid: np.ndarray


def _gray8(frame: np.ndarray) -> np.ndarray:
    """uint8 grey (H, W) from grey or RGB uint8 (RGB via BT.601 luma, OpenCV's weights)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames for optical flow must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(_check_frame(frame), cv2.COLOR_RGB2GRAY)


def _squared_norm(v: np.ndarray) -> np.ndarray:
    """Squared Euclidean norm over the last axis (much faster than a strided np.sum)."""
    return np.einsum("...k,...k->...", v, v)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def optical_flow(previous: np.ndarray, current: np.ndarray) -> FlowPair:
    """Flow from ``previous`` to ``current`` (grey or RGB uint8) with its occlusion mask."""
    g0, g1 = _gray8(previous), _gray8(current)
    if g0.shape != g1.shape:
        raise ValueError(f"frames differ in size: {g0.shape} and {g1.shape}")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # ~0.1 ms to make
    forward = dis.calc(g0, g1, None)
    backward = dis.calc(g1, g0, None)
    h, w = g0.shape
    xs, ys = _grid(h, w)
    tx = xs + forward[..., 0]
    ty = ys + forward[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    back = cv2.remap(backward, tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    loop = _squared_norm(forward + back)
    size = _squared_norm(forward) + _squared_norm(back)
    consistent = loop <= OCCLUSION_ALPHA * size + OCCLUSION_BETA
    return FlowPair(forward, inside & consistent)


def compute_flows(gray_frames: Iterable[np.ndarray]) -> list[FlowPair]:
    """Flow between each pair of neighbouring frames: entry t − 1 maps frame t − 1 to t.

    Compute it once on the original (ground-truth) frames and pass it to ``warp_error``
    for every method: it is the slow part.
    """
    flows: list[FlowPair] = []
    previous: np.ndarray | None = None
    for frame in gray_frames:
        gray = _gray8(frame)
        if previous is not None:
            flows.append(optical_flow(previous, gray))
        previous = gray
    return flows


def pair_warp_error(previous: np.ndarray, current: np.ndarray, flow: FlowPair) -> float:
    """Mean over non-occluded pixels of |previous − warp(current)|² (RGB in [0, 1], summed
    over channels); NaN when every pixel is occluded."""
    previous, current = _check_pair(previous, current)
    if flow.flow.shape[:2] != previous.shape[:2]:
        raise ValueError(f"flow is {flow.flow.shape[:2]} but frames are {previous.shape[:2]}")
    count = int(flow.valid.sum())
    if count == 0:
        return math.nan
    h, w = previous.shape[:2]
    xs, ys = _grid(h, w)
    warped = cv2.remap(
        current.astype(np.float32),
        xs + flow.flow[..., 0],
        ys + flow.flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    diff = (previous.astype(np.float32) - warped) * np.float32(1.0 / _PEAK)
    squared = _squared_norm(diff)
    return float(squared[flow.valid].sum(dtype=np.float64) / count)


class WarpErrorMeter:
    """Warp error of a stream: push each frame with the flow from the previous original
    frame to this one (None for the first); ``value`` is the mean over pairs so far."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self._sum = 0.0
        self._count = 0

    def push(self, frame: np.ndarray, flow: FlowPair | None) -> None:
        frame = _check_frame(frame)
        if self._previous is not None:
            if flow is None:
                raise ValueError("every frame after the first needs the flow from its previous one")
            error = pair_warp_error(self._previous, frame, flow)
            if math.isnan(error):
                logger.debug("warp error: every pixel occluded; pair left out")
            else:
                self._sum += error
                self._count += 1
        self._previous = frame

    @property
    def value(self) -> float:
        return self._sum / self._count if self._count else math.nan


def warp_error(
    frames: Sequence[np.ndarray],
    *,
    flow_from: Sequence[np.ndarray] | Sequence[FlowPair],
) -> float:
    """Flow warping error of ``frames`` (see the module docstring); lower is steadier.

    ``flow_from`` is either the original frames (grey or RGB uint8), whose flow is then
    computed here, or ``compute_flows`` of them, computed once and reused.
    """
    if len(frames) < 2:
        return math.nan
    if len(flow_from) and isinstance(flow_from[0], FlowPair):
        flows = list(flow_from)
    else:
        flows = compute_flows(flow_from)  # type: ignore[arg-type]
    if len(flows) != len(frames) - 1:
        raise ValueError(f"{len(frames)} frames need {len(frames) - 1} flows, got {len(flows)}")
    meter = WarpErrorMeter()
    for i, frame in enumerate(frames):
        meter.push(frame, flows[i - 1] if i else None)
    return meter.value
