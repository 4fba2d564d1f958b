"""Synthetic moving pictures for the guidance tests: a smooth colour texture panned
across the frame, so flow is known exactly."""

from __future__ import annotations

import cv2
import numpy as np


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth, strongly textured uint8 RGB image (blurred noise, stretched)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3)
    lo, hi = smooth.min(axis=(0, 1)), smooth.max(axis=(0, 1))
    return np.clip((smooth - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)


def panning(frames: int, h: int, w: int, *, dx: int = 2, dy: int = 0, seed: int = 0) -> list:
    """``frames`` RGB crops of one texture, each ``dx``, ``dy`` px further: content moves
    by (-dx, -dy) per frame."""
    big = texture(h + abs(dy) * frames + 1, w + abs(dx) * frames + 1, seed)
    out = []
    for t in range(frames):
        y = t * dy if dy >= 0 else abs(dy) * (frames - t)
        x = t * dx if dx >= 0 else abs(dx) * (frames - t)
        out.append(np.ascontiguousarray(big[y : y + h, x : x + w]))
    return out
