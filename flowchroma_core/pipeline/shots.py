"""Shot-cut detection on luminance, streaming, so temporal state resets at every cut.

Why not PySceneDetect: it requires the GUI build of OpenCV (``opencv-python``), whose
bundled Qt plugins clash with PySide6 in one process, and its frame API changed between
0.6 and 0.7. Film restorers also need what it does not offer by default: robustness to
the flicker and single-frame flashes of old film (a flash is not a cut).

The score of frame n compares it with frame n-1 on a small grayscale thumbnail: the larger
of the histogram distance (a change of content) and three times the mean absolute
difference (a change of layout), both in [0, 1]. Frame n starts a new shot when its score
passes the threshold, stands well above the recent scores (camera motion raises them all),
the shot so far is long enough, and frame n+1 does not return to frame n-1 (a flash).
Decisions therefore come one frame late.

``CutDetector`` is the one loop over frames: the colorizer, the GUI's background scan and
evaluation all feed it full-size lumas and get back the label (stream position or frame
index) of each frame that starts a shot.
"""

from __future__ import annotations

import logging
from collections import deque

import cv2
import numpy as np

logger = logging.getLogger(__name__)

THUMB_SIZE = (64, 36)
HIST_BINS = 32


def _thumbnail(gray: np.ndarray) -> np.ndarray:
    """A float32 (36, 64) thumbnail of a (H, W) luminance image in [0, 1]."""
    return cv2.resize(gray.astype(np.float32, copy=False), THUMB_SIZE, interpolation=cv2.INTER_AREA)


def _score(a: np.ndarray, b: np.ndarray) -> float:
    ha = np.histogram(a, bins=HIST_BINS, range=(0.0, 1.0))[0] / a.size
    hb = np.histogram(b, bins=HIST_BINS, range=(0.0, 1.0))[0] / b.size
    hist = 0.5 * float(np.abs(ha - hb).sum())
    mad = float(np.abs(a - b).mean())
    return max(hist, min(1.0, 3.0 * mad))


class CutDetector:
    """Feed lumas in order with ``push``; it returns confirmed cuts one frame late."""

    def __init__(self, *, threshold: float = 0.35, min_shot: int = 8, history: int = 12) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.min_shot = min_shot
        self._recent: deque[float] = deque(maxlen=history)
        self._thumbs: deque[np.ndarray] = deque(maxlen=3)
        self._scores: deque[float] = deque(maxlen=2)
        self._index = -1
        self._shot_start = 0
        self._flash = -2  # index of the last frame judged a flash
        self._labels: deque[int] = deque(maxlen=3)
        self.cuts: list[int] = []  # labels of the frames found to start a shot

    def push(self, gray: np.ndarray, label: int | None = None) -> int | None:
        """Add the next frame, a (H, W) luminance in [0, 1]; return the label of a frame
        that starts a new shot, if one is now decided.

        ``label`` names the frame in what is returned (a frame index, say, where damaged
        frames are skipped); by default frames are counted from 0 as they are pushed.
        """
        self._index += 1
        self._labels.append(self._index if label is None else label)
        self._thumbs.append(_thumbnail(gray))
        if len(self._thumbs) >= 2:
            self._scores.append(_score(self._thumbs[-2], self._thumbs[-1]))
        if len(self._thumbs) < 3:
            return None
        # judge the previous frame now that the frame after it is known
        candidate = self._index - 1
        score = self._scores[-2]
        baseline = float(np.median(self._recent)) if self._recent else 0.0
        self._recent.append(score)
        if score < self.threshold or score < 3.0 * baseline + 0.05:
            return None
        if candidate - self._shot_start < self.min_shot or candidate == self._flash + 1:
            return None  # too short a shot, or the return from a flash
        if _score(self._thumbs[0], self._thumbs[2]) < 0.5 * self.threshold:
            logger.debug("frame %d: a flash, not a cut (score %.2f)", candidate, score)
            self._flash = candidate
            return None
        self._shot_start = candidate
        cut = self._labels[-2]  # the candidate is the middle of the last three frames
        self.cuts.append(cut)
        return cut
