"""Training: configuration checks, held-out videos, deterministic batches, exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from flowchroma_core.model.files import load_model, trainable_state_dict
from flowchroma_core.training import load_train_config, train
from flowchroma_core.training.config import TrainConfigError
from flowchroma_core.training.data import ClipSampler, DataCache

TINY_TOML = """
[data]
clips = ["{clips}"]
photos = ["{photos}"]
holdout = 1
max_frames_per_video = 12
photo_fraction = 0.3
cache_dir = "{cache}"
[model]
clip_length = 4
input_height = 64
input_width = 96
encoder_widths = [16, 32, 32, 32]
encoder_strides = [2, 1, 2, 2]
lstm_size = 16
temporal_size = 16
fusion_width = 32
decoder_stages = [[32], [16], [16]]
[train]
steps = 6
batch = 2
warmup = 2
checkpoint_every = 3
validate_every = 3
threads = 1
run_dir = "{run}"
"""


@pytest.fixture(scope="module")
def data_dirs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Four real clips and eight real photos, linked (not copied) into temporary folders."""
    root = tmp_path_factory.mktemp("data")
    clips, photos = root / "clips", root / "photos"
    clips.mkdir()
    photos.mkdir()
    for p in sorted((shared_data / "clips").glob("*.mp4"))[:4]:
        (clips / p.name).symlink_to(p)
    for p in sorted((shared_data / "photos").glob("*.jpg"))[:8]:
        (photos / p.name).symlink_to(p)
    return clips, photos


def _config(tmp_path: Path, data_dirs, name: str, cache: Path):
    clips, photos = data_dirs
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY_TOML.format(clips=clips, photos=photos, cache=cache, run=tmp_path / name))
    return load_train_config(path)


def test_interrupted_and_resumed_training_matches_an_uninterrupted_run(
    tmp_path: Path, data_dirs
) -> None:
    cache = tmp_path / "cache"
    losses_a: dict[int, float] = {}
    losses_b: dict[int, float] = {}
    final_a = train(
        _config(tmp_path, data_dirs, "a", cache), on_step=lambda s, v: losses_a.__setitem__(s, v)
    )
    cfg_b = _config(tmp_path, data_dirs, "b", cache)
    train(
        cfg_b, stop_after=4, on_step=lambda s, v: losses_b.__setitem__(s, v)
    )  # "killed" after step 4
    assert sorted(losses_b) == [1, 2, 3, 4]
    final_b = train(
        cfg_b, on_step=lambda s, v: losses_b.__setitem__(s, v)
    )  # resumes from the step-3 checkpoint
    assert losses_b == losses_a  # the same loss curve, bit for bit
    a, _ = load_model(final_a, backbone_weights="random")
    b, meta = load_model(final_b, backbone_weights="random")
    sa, sb = trainable_state_dict(a), trainable_state_dict(b)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert meta.training["data"]["videos"] == 4 and meta.training["data"]["photos"] == 8
    log = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    assert len(log) == 6 and '"val_mse"' in log[2]


def test_sampler_is_deterministic_and_holds_out_whole_videos(tmp_path: Path, data_dirs) -> None:
    cfg = _config(tmp_path, data_dirs, "s", tmp_path / "cache")
    train(cfg, stop_after=0)  # builds the cache, trains nothing
    cache = DataCache(Path(cfg.data.cache_dir))
    assert len(cache.holdout_videos) == 1 and len(cache.train_videos) == 3
    sampler = ClipSampler(cache, clip_length=4, height=64, width=96, photo_fraction=0.3, seed=0)
    rgb1, f1 = sampler.batch(7, 3)
    rgb2, f2 = sampler.batch(7, 3)
    assert torch.equal(rgb1, rgb2) and torch.equal(f1, f2)
    assert rgb1.shape == (3, 4, 3, 64, 96) and f1.shape == (3, 4, 1000)
    assert not torch.equal(sampler.batch(8, 3)[0], rgb1)
    val = sampler.validation_clips(per_video=2)
    assert len(val) == 2  # from the held-out video only


def test_bad_configurations_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nloss = 'l3'\n[data]\nclips = ['x']\n")
    with pytest.raises(TrainConfigError, match="loss must be one of mse, huber_temporal"):
        load_train_config(path)
    path.write_text("[model]\nwidth = 3\n[data]\nclips = ['x']\n")
    with pytest.raises(TrainConfigError, match="unknown configuration keys: width"):
        load_train_config(path)
    path.write_text("[data]\n")
    with pytest.raises(TrainConfigError, match="names no clips or photos"):
        load_train_config(path)
    with pytest.raises(TrainConfigError, match="file not found"):
        load_train_config(tmp_path / "none.toml")
