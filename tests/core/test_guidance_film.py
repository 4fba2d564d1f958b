"""``Guidance``: per window hints and references from a project and CLI stills; no cut crossed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from flowchroma_core.guidance.baselines import split_lab
from flowchroma_core.guidance.film import STILL_REACH, Guidance, NearbyGuidance, specs_from_cli
from flowchroma_core.guidance.points import HINT_AB_SCALE
from flowchroma_core.guidance.project import (
    Point,
    ReferenceStill,
    Shot,
    new_project,
    project_path_for,
    save_project,
)
from flowchroma_core.guidance.references import ReferenceError
from tests.core.guidance_media import panning, texture

FRAMES, H, W = 24, 48, 64  # the film: 48x64; the model input: 48x64 too (no letterbox)


def _still(path: Path, colour: tuple[int, int, int]) -> Path:
    image = np.zeros((30, 60, 3), np.uint8)
    image[...] = colour[::-1]
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def film(tmp_path: Path) -> tuple[Guidance, Path]:
    path = tmp_path / "reel.mkv"
    path.write_bytes(b"film bytes" * 10)
    (tmp_path / "refs").mkdir()
    _still(tmp_path / "refs" / "ref_000003.png", (200, 30, 40))
    _still(tmp_path / "cli.png", (30, 40, 200))
    project = new_project(path, frames=FRAMES, rate=Fraction(24))
    project.shots = [
        Shot(
            0,
            12,
            keyframes=[10],
            points=[Point(frame=10, x=0.5, y=0.5, a=60.0, b=40.0, size=0.125, label="coat")],
            references=[ReferenceStill("refs/ref_000003.png", 3)],
        ),
        Shot(12, FRAMES),
    ]
    save_project(project, project_path_for(path))
    greys = [f.mean(axis=2).astype(np.uint8) for f in panning(FRAMES, H, W, dx=1)]
    calls: list[tuple[int, int]] = []

    def grey_frames(a: int, b: int) -> list[np.ndarray]:
        calls.append((a, b))
        return greys[a:b]

    guidance = Guidance.from_files(
        film=path,
        frames=FRAMES,
        frame_size=(H, W),
        model_size=(H, W),
        project=project_path_for(path),
        references=specs_from_cli([f"15:{tmp_path / 'cli.png'}"]),
        grey_frames=grey_frames,
    )
    guidance.calls = calls  # type: ignore[attr-defined]
    return guidance, tmp_path


def test_window_gets_carried_points_and_its_shots_stills(film: tuple[Guidance, Path]) -> None:
    guidance, _ = film
    assert guidance.cuts == [12] and guidance.keyframes == [10]
    win = guidance.window(4, 12)
    assert (win.shot_start, win.shot_end) == (0, 12)
    assert win.hints.shape == (8, 3, H, W)
    own = win.hints[10 - 4]
    assert float(own[2].max()) == 1.0  # the restorer's point on its frame
    assert float(own[0][own[2] > 0].mean()) == pytest.approx(60.0 / HINT_AB_SCALE, abs=1e-4)
    # spread over the frame around the point, fading with the geodesic distance
    assert float(own[2].min()) > 0.0 and float(own[2].median()) < 1.0
    assert float((own[2] > 0.05).float().mean()) > 0.5
    before = win.hints[8 - 4]  # carried two frames back: also times exp(-2/16)
    assert 0.97 * np.exp(-2 / 16) <= float(before[2].max()) <= np.exp(-2 / 16) + 1e-6
    assert win.references is not None and win.references.shape == (1, 3, H, W)
    assert win.reference_frames == (3,)
    assert float(win.references[0, 1].mean()) > 0.3  # the red still's a* / 110
    kwargs = win.model_kwargs()
    assert kwargs["hints"].shape == (1, 8, 3, H, W)
    assert kwargs["references"].shape == (1, 1, 3, H, W)


def test_nothing_crosses_a_cut(film: tuple[Guidance, Path]) -> None:
    guidance, _ = film
    win = guidance.window(12, 20)  # two frames after the keyframe's shot ends
    assert not win.has_hints
    assert float(win.hints.abs().max()) == 0.0
    assert win.reference_frames == (15,)  # the CLI still, not shot 0's
    assert not any(a < 12 < b for a, b in guidance.calls)  # no flow read across the cut
    with pytest.raises(ValueError, match="crosses the shot"):
        guidance.window(8, 16)


def test_caller_given_shot_bounds(film: tuple[Guidance, Path]) -> None:
    guidance, _ = film
    win = guidance.window(4, 8, shot=(4, 12))  # the colorizer found a cut at 4
    assert win.reference_frames == ()  # the still at frame 3 belongs to the shot before
    assert win.references is None
    assert float(win.hints[:, 2].max()) > 0


def test_bad_guidance_is_refused_with_the_file(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((10, 10, 3), 128, np.uint8))
    with pytest.raises(ReferenceError, match=r"grey\.png: is grey"):
        Guidance(
            frames=10,
            frame_size=(H, W),
            model_size=(H, W),
            references=specs_from_cli([f"2:{grey}"]),
        )
    red = _still(tmp_path / "red.png", (200, 30, 40))
    with pytest.raises(ReferenceError, match="frame 10 is outside the film"):
        Guidance(
            frames=10,
            frame_size=(H, W),
            model_size=(H, W),
            references=specs_from_cli([f"10:{red}"]),
        )
    blue = _still(tmp_path / "blue.png", (30, 40, 200))
    with pytest.raises(ReferenceError, match="already has a reference"):
        specs_from_cli([f"2:{red}", f"2:{blue}"])


def test_a_still_of_its_own_frame_is_carried_through_the_shot(tmp_path: Path) -> None:
    frames = panning(FRAMES, H, W, dx=1)
    still = tmp_path / "coloured_frame_5.png"
    assert cv2.imwrite(str(still), np.ascontiguousarray(frames[5][..., ::-1]))
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]  # luma, as a film's
    guidance = Guidance(
        frames=FRAMES,
        frame_size=(H, W),
        model_size=(H, W),
        cuts=[12],
        references=specs_from_cli([f"5:{still}"]),
        grey_frames=lambda a, b: greys[a:b],
    )
    win = guidance.window(2, 10)
    conf = win.hints[:, 2]
    assert (conf > 0).all()  # every pixel of every frame has carried colour
    assert float(conf[5 - 2].min()) == pytest.approx(1.0)
    assert float(conf[9 - 2].median()) > 0.8
    assert win.references is not None  # and the still is matched by features as well
    assert not (guidance.window(12, 16).hints[:, 2] > 0).any()  # not across the cut


def test_a_carried_still_never_takes_colour_from_the_letterbox(tmp_path: Path) -> None:
    # the film (48x64) sits in a 64x64 model input between 8-row white bars (as FilmGreys
    # fits it); it tilts, so new picture enters at its bottom edge, next to the bar
    frames = panning(FRAMES, H, W, dx=0, dy=2)
    still = tmp_path / "coloured_frame_0.png"
    assert cv2.imwrite(str(still), np.ascontiguousarray(frames[0][..., ::-1]))
    top = (W - H) // 2
    greys = []
    for f in frames:
        boxed = np.full((W, W), 255, np.uint8)
        boxed[top : top + H] = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        greys.append(boxed)
    guidance = Guidance(
        frames=FRAMES,
        frame_size=(H, W),
        model_size=(W, W),
        references=specs_from_cli([f"0:{still}"]),
        grey_frames=lambda a, b: greys[a:b],
    )
    hints = guidance.window(0, 12).hints
    assert not (hints[:, 2, :top] > 0).any() and not (hints[:, 2, top + H :] > 0).any()
    chroma = hints[:, :2].norm(dim=1)  # carried |a*b*| / 110
    picture = float(chroma[0, top : top + H].mean())
    bottom = float(chroma[11, top + H - 6 : top + H].mean())  # the rows that entered
    assert bottom > 0.7 * picture  # the colour next to them, not the bars' grey


def _swaying(frames: int) -> list[np.ndarray]:
    """A texture swaying left and right by up to 6 px: it stays in the picture for good."""
    big = texture(H, W + 13, seed=3)
    return [
        np.ascontiguousarray(big[:, x : x + W])
        for x in (6 + np.rint(6 * np.sin(np.arange(frames) / 9)).astype(int))
    ]


def test_a_still_is_carried_through_a_long_shot_window_by_window(tmp_path: Path) -> None:
    frames = _swaying(170)
    still = tmp_path / "coloured_frame_0.png"
    assert cv2.imwrite(str(still), np.ascontiguousarray(frames[0][..., ::-1]))
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    asked: list[int] = []  # every frame handed out, as often as it was asked for

    def grey_frames(a: int, b: int) -> list[np.ndarray]:
        asked.extend(range(a, b))
        return greys[a:b]

    def guidance() -> Guidance:
        return Guidance(
            frames=len(frames),
            frame_size=(H, W),
            model_size=(H, W),
            references=specs_from_cli([f"0:{still}"]),
            grey_frames=grey_frames,
        )

    walked = guidance()
    for start in range(0, 160, 16):  # the colorizer's walk
        last = walked.window(start, start + 16)
    assert len(walked._steps) <= 16 + 64 + 1  # the flow is not kept for the whole shot
    assert max(asked.count(i) for i in range(160)) <= 3  # nor asked for again and again
    hints = last.hints  # frames 144..159: well past STILL_REACH (128) from the still
    assert (hints[:, 2] > 0).all() and float(hints[:, 2].median()) > 0.5
    truth = np.stack([split_lab(f)[1] for f in frames[144:160]])  # (T, H, W, 2)
    carried = hints[:, :2].permute(0, 2, 3, 1).numpy() * HINT_AB_SCALE
    assert np.abs(carried - truth).mean() < 0.25 * np.abs(truth).mean()
    # a window asked for out of the walk starts again from the state kept at frame 128 (a
    # preview scrubbed back), or from the still (a fresh run), with the same colours
    asked.clear()
    back = walked.window(150, 151).hints
    assert torch.allclose(back[0], hints[150 - 144], atol=1e-4)
    assert min(asked) >= 128
    fresh = guidance().window(144, 160).hints
    assert torch.allclose(fresh, hints, atol=1e-4)


def test_a_frame_asked_for_alone_does_not_wait_for_a_far_still(tmp_path: Path) -> None:
    frames = _swaying(200)
    still = tmp_path / "coloured_frame_0.png"
    assert cv2.imwrite(str(still), np.ascontiguousarray(frames[0][..., ::-1]))
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    asked: list[int] = []

    def grey_frames(a: int, b: int) -> list[np.ndarray]:
        asked.extend(range(a, b))
        return greys[a:b]

    guidance = Guidance(
        frames=len(frames),
        frame_size=(H, W),
        model_size=(H, W),
        references=specs_from_cli([f"0:{still}"]),
        grey_frames=grey_frames,
    )
    near = NearbyGuidance(guidance)
    assert near.cuts == guidance.cuts and near.shot_of(190) == guidance.shot_of(190)
    near.window(0, 1)  # the still is read: its own frame
    asked.clear()
    alone = near.window(190, 191)  # 190 frames on: matched by features, not carried
    assert not (alone.hints[:, 2] > 0).any() and alone.references is not None
    assert alone.matched == (0,)  # the colorizer matches it to the frame instead
    assert len(asked) < 5
    within = near.window(100, 101)  # within STILL_REACH of the still: carried
    assert (within.hints[:, 2] > 0).all() and within.matched == ()
    exact = guidance.window(190, 191)  # the exact run carries it all the way
    assert (exact.hints[:, 2] > 0).all() and exact.matched == ()
    assert torch.allclose(near.window(189, 190).hints, guidance.window(189, 190).hints)


def test_a_still_of_its_own_frame_is_matched_where_its_colour_is_not_carried(
    tmp_path: Path,
) -> None:
    """Back from its frame a still is carried at most STILL_REACH frames; before that it
    serves its shot as a still of other content does, matched to the frames by features."""
    frames = _swaying(200)
    still = tmp_path / "coloured_frame_199.png"
    assert cv2.imwrite(str(still), np.ascontiguousarray(frames[199][..., ::-1]))
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    guidance = Guidance(
        frames=len(frames),
        frame_size=(H, W),
        model_size=(H, W),
        references=specs_from_cli([f"199:{still}"]),
        grey_frames=lambda a, b: greys[a:b],
    )
    assert 199 - STILL_REACH > 10
    far = guidance.window(10, 12)
    assert not (far.hints[:, 2] > 0).any() and far.matched == (0,)
    near = guidance.window(190, 192)
    assert (near.hints[:, 2] > 0).all() and near.matched == ()
