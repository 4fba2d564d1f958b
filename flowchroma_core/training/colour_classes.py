"""Colour classes for training: the a*b* bins, their prior, soft targets and the losses.

Following Zhang, Isola and Efros (2016): a*b* is quantised on a grid of 10; the bins are
those our own training data ever reaches (about 300); a pixel's target is a Gaussian soft
encoding over its 5 nearest bins (sigma 5); each pixel's loss is weighted by the inverse of
the smoothed, half-uniform prior of its bin, so that rare saturated colours are not
drowned by the grey-brown majority (the cause of the sepia cast of a mean-regression model).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

GRID = 10
EDGE = 110  # a*b* bins cover [-110, 110)
SIGMA = 5.0
NEIGHBOURS = 5
MIX = 0.5  # weight of the uniform distribution in the rebalancing prior


def histogram(ab: np.ndarray) -> np.ndarray:
    """Counts of a*b* values (..., 2) on the 22x22 grid."""
    n = 2 * EDGE // GRID
    idx = np.clip(((ab.reshape(-1, 2) + EDGE) // GRID).astype(np.int64), 0, n - 1)
    return np.bincount(idx[:, 0] * n + idx[:, 1], minlength=n * n).reshape(n, n)


def bins_and_weights(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres (Q, 2) of the bins the data reaches, and their rebalancing weights (Q,)."""
    n = counts.shape[0]
    occupied = np.argwhere(counts > 0)
    centres = (occupied * GRID - EDGE + GRID / 2).astype(np.float32)
    prior = counts.astype(np.float64) / counts.sum()
    blurred = cv2.GaussianBlur(prior, (0, 0), sigmaX=SIGMA / GRID, borderType=cv2.BORDER_CONSTANT)
    smooth = blurred[occupied[:, 0], occupied[:, 1]]
    smooth = smooth / smooth.sum()
    weights = 1.0 / ((1 - MIX) * smooth + MIX / len(occupied))
    weights = weights / (smooth * weights).sum()  # expected weight 1 under the prior
    assert n * n >= len(occupied)
    return centres, weights.astype(np.float32)


def soft_targets(ab: Tensor, bins: Tensor) -> tuple[Tensor, Tensor]:
    """a*b* (N, 2, y, x) in CIE units -> soft targets (N, Q, y, x) and nearest bin (N, y, x)."""
    n, _, y, x = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d2 = torch.cdist(flat, bins.to(flat))  # (P, Q)
    near_d, near_i = d2.topk(NEIGHBOURS, dim=1, largest=False)
    w = torch.exp(-(near_d**2) / (2 * SIGMA**2))
    w = w / w.sum(1, keepdim=True)
    target = torch.zeros(flat.shape[0], bins.shape[0], device=ab.device)
    target.scatter_(1, near_i, w)
    target = target.view(n, y, x, -1).permute(0, 3, 1, 2)
    return target, near_i[:, 0].view(n, y, x)


def class_loss(
    logits: Tensor, ab: Tensor, bins: Tensor, weights: Tensor, valid: Tensor | None = None
) -> Tensor:
    """Rebalanced cross-entropy of logits (N, Q, y, x) against true a*b* (N, 2, y, x)."""
    target, nearest = soft_targets(ab, bins)
    ce = -(target * F.log_softmax(logits.float(), dim=1)).sum(1)  # (N, y, x)
    w = weights.to(ce)[nearest]
    if valid is None:
        return (ce * w).mean()
    return (ce * w * valid).sum() / valid.sum().clamp_min(1.0)


def expected_ab(logits: Tensor, bins: Tensor, temperature: float = 1.0) -> Tensor:
    """Annealed mean a*b* (N, 2, y, x) in CIE units of logits (N, Q, y, x)."""
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("nkyx,kc->ncyx", p, bins.float())


def warp(x: Tensor, flow: Tensor) -> Tensor:
    """Sample x (N, C, y, x) at positions + flow (N, 2, y, x) in pixels (backward warp)."""
    h, w = x.shape[-2:]
    gy, gx = torch.meshgrid(
        torch.arange(h, device=x.device, dtype=x.dtype),
        torch.arange(w, device=x.device, dtype=x.dtype),
        indexing="ij",
    )
    px = (gx + flow[:, 0]) / max(1, w - 1) * 2 - 1
    py = (gy + flow[:, 1]) / max(1, h - 1) * 2 - 1
    grid = torch.stack([px, py], -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def temporal_loss(ab: Tensor, flow: Tensor) -> Tensor:
    """Occlusion-masked, flow-warped consistency of consecutive frames.

    ab (B, T, 2, y, x) predicted, in CIE units / 110; flow (B, T, 3, y, x): for frame t the
    backward flow to t - 1 (dx, dy in pixels) and a validity mask (forward-backward check).
    """
    prev = warp(ab[:, :-1].flatten(0, 1), flow[:, 1:, :2].flatten(0, 1).to(ab))
    mask = flow[:, 1:, 2:3].flatten(0, 1).to(ab)
    diff = (ab[:, 1:].flatten(0, 1) - prev).abs() * mask
    return diff.sum() / (2 * mask.sum()).clamp_min(1.0)
