"""State checkpoints: a run resumed at a window boundary gives the export's colours bit for
bit; a store is filled by a film-wide pass, saved, reloaded and keyed by the options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from flowchroma_core.model.network import TINY_CONFIG, FlowChroma
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.checkpoints import (
    Checkpoint,
    CheckpointStore,
    checkpoint_key,
    record_checkpoints,
    shot_bounds,
)
from flowchroma_core.pipeline.colorizer import Colorizer
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import Frame, open_video


@pytest.fixture(scope="module")
def session() -> ModelSession:
    torch.manual_seed(5)
    return ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"))


@pytest.fixture(scope="module")
def film(shared_data: Path) -> list[Frame]:
    """16 frames of a real clip, then 8 of another (a cut at 16), 192x120."""
    clips = sorted((shared_data / "clips").glob("*.mp4"))
    frames: list[Frame] = []
    for path, n in ((clips[0], 16), (clips[1], 8)):
        with open_video(path) as reader:
            for f in reader.frames(0, n):
                luma = f.luma[:120, :192].copy()
                frames.append(Frame(len(frames), f.pts, f.time, luma, f.bit_depth, f.color_range))
    return frames


def _chroma(frames: list) -> np.ndarray:
    return np.stack([np.stack([f.cb, f.cr]) for f in frames])


@pytest.mark.parametrize(("overlap", "boundaries"), [(0, [4, 8, 12]), (1, [3, 6, 9, 12])])
def test_resumed_run_equals_the_run_from_the_shot_start(session, film, overlap, boundaries) -> None:
    options = ColorizeOptions(window_frames=4, overlap=overlap, cut_threshold=0.0)
    shot = film[:16]
    seen: list[Checkpoint] = []
    full = list(Colorizer(session).run(shot, options, on_checkpoint=seen.append))
    assert [c.frame for c in seen] == boundaries
    assert all(c.shot_start == 0 for c in seen)
    assert seen[0].tail is not None and len(seen[0].tail) == overlap  # frames to cross-fade
    c = seen[1]
    resumed = list(Colorizer(session).run(shot[c.frame :], options, resume=c))
    assert [f.index for f in resumed] == list(range(c.frame, 16))
    assert not resumed[0].shot_start
    if overlap == 0:  # the default: bit for bit
        np.testing.assert_array_equal(_chroma(resumed), _chroma(full[c.frame :]))
    else:  # the shared frames' backbone runs in another batch: float rounding only
        np.testing.assert_allclose(_chroma(resumed), _chroma(full[c.frame :]), atol=1e-6)
    # without the state the same frames differ: the check above can fail
    fresh = list(Colorizer(session).run(shot[c.frame : c.frame + 4], options))
    assert not np.array_equal(_chroma(fresh), _chroma(full[c.frame : c.frame + 4]))


def test_record_checkpoints_walks_every_shot_and_round_trips_on_disk(
    session, film, tmp_path
) -> None:
    options = ColorizeOptions(window_frames=4, cut_threshold=0.0)
    store = CheckpointStore("k", overlap=0, folder=tmp_path)
    done: list[tuple[int, int]] = []
    record_checkpoints(
        session,
        lambda a, b: film[a:b],
        [16],
        len(film),
        options,
        store,
        on_shot=lambda a, b: done.append((a, b)),
    )
    assert done == [(0, 16), (16, 24)] and store.complete
    assert store.frames() == [4, 8, 12, 20]
    # the second shot's checkpoints start from its own first frame
    c = store.best(16, 23, 24)
    assert c is not None and (c.frame, c.shot_start) == (20, 16)
    resumed = list(Colorizer(session).run(film[20:24], options, resume=c))
    whole = list(Colorizer(session).run(film[16:24], options))
    np.testing.assert_array_equal(_chroma(resumed), _chroma(whole[4:]))
    # a range ending at 10 cuts the window 8..11: its checkpoint 12 is not on that walk
    assert store.best(0, 13, 10).frame == 8  # type: ignore[union-attr]
    store.save()
    again = CheckpointStore("k", overlap=0, folder=tmp_path)
    assert again.load() and again.complete and again.frames() == store.frames()
    loaded = again.best(0, 14, 16)
    assert loaded is not None and loaded.frame == 12
    resumed = list(Colorizer(session).run(film[12:16], options, resume=loaded))
    full = list(Colorizer(session).run(film[:16], options))
    np.testing.assert_array_equal(_chroma(resumed), _chroma(full[12:]))
    assert not CheckpointStore("other", overlap=0, folder=tmp_path).load()


def test_key_changes_with_options_model_film_and_guidance(tmp_path) -> None:
    film = tmp_path / "a.mkv"
    film.write_bytes(b"x")
    base = checkpoint_key(film, ColorizeOptions(), "m")
    assert base == checkpoint_key(film, ColorizeOptions(), "m")
    assert base != checkpoint_key(film, ColorizeOptions(window_frames=8), "m")
    assert base != checkpoint_key(film, ColorizeOptions(), "n")
    assert base != checkpoint_key(film, ColorizeOptions(), "m", "rev2")
    film.write_bytes(b"xy")
    assert base != checkpoint_key(film, ColorizeOptions(), "m")


def test_shot_bounds() -> None:
    assert shot_bounds([30, 0, 50], 60) == [(0, 30), (30, 50), (50, 60)]
    assert shot_bounds([], 5) == [(0, 5)]
