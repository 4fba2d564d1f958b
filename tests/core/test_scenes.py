"""Shot-cut detection on real footage: joins are cuts; motion and flashes are not."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from flowchroma_core.pipeline.shots import CutDetector


def detect_cuts(grays: list[np.ndarray], **kwargs: float) -> list[int]:
    """The positions of the frames that start a shot, as the colorizer's detector sees them."""
    detector = CutDetector(**kwargs)
    found = [cut for i, g in enumerate(grays) if (cut := detector.push(g, i)) is not None]
    assert found == detector.cuts
    return found


def _grays(path: Path, n: int) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="gray").astype(np.float32) / 255.0)
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="module")
def clips(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "clips").glob("*.mp4"))


def test_joins_of_real_clips_are_found_and_nothing_else(clips: list[Path]) -> None:
    a, b, c = (_grays(p, 40) for p in clips[:3])
    frames = a + b + c
    assert detect_cuts(frames) == [40, 80]


def test_continuous_real_clips_have_no_cuts(clips: list[Path]) -> None:
    false_cuts = {p.name: detect_cuts(_grays(p, 120)) for p in clips[:8]}
    assert sum(len(v) for v in false_cuts.values()) <= 1, false_cuts


def test_a_one_frame_flash_is_not_a_cut(clips: list[Path]) -> None:
    frames = _grays(clips[0], 40)
    frames[20] = np.clip(frames[20] * 2.5 + 0.3, 0, 1)  # overexposed frame, as old film has
    assert detect_cuts(frames) == []


def test_short_shots_are_merged_and_threshold_validated() -> None:
    rng = np.random.default_rng(0)
    shots = [
        np.full((36, 64), v, np.float32) + rng.random((36, 64), np.float32) * 0.02
        for v in (0.1, 0.8, 0.3)
    ]
    frames = [shots[0]] * 20 + [shots[1]] * 3 + [shots[2]] * 20
    assert detect_cuts(frames, min_shot=8) == [20]
    with pytest.raises(ValueError, match="threshold"):
        CutDetector(threshold=0)
    # labels name the frames (frame indexes where damaged frames were skipped)
    detector = CutDetector(min_shot=8)
    labels = [10 * i for i in range(len(frames))]
    found = [detector.push(g, n) for g, n in zip(frames, labels, strict=True)]
    assert [c for c in found if c is not None] == [200]


def test_the_cuts_of_a_real_archival_film(shared_data: Path) -> None:
    # checked by eye: a soldier / a road sign, the sign / trucks, trucks / soldiers in brush
    frames = _grays(shared_data / "bw" / "a-bomb_blast_effects_part.mp4", 400)
    assert detect_cuts(frames) == [44, 134, 299]
    # chaplin.mp4 is a single continuous shot
    assert detect_cuts(_grays(shared_data / "bw" / "chaplin.mp4", 400)) == []
