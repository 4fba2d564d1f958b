"""Colour model v2: shapes, exact no-guidance behaviour, carried state, files, classes, training."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from flowchroma_core.model.files import load_model, save_model
from flowchroma_core.model.flowchroma_v2 import FlowChromaV2, prior_correction, temperature
from flowchroma_core.model.network import TINY_V2_CONFIG, FlowChroma, create_model
from flowchroma_core.training import colour_classes as cc
from flowchroma_core.training import load_train_config, train
from flowchroma_core.training.spatial_data import (
    SpatialCache,
    SpatialSampler,
    build_carried,
    spread_simulated,
)

CFG = TINY_V2_CONFIG


def _model(seed: int = 0) -> FlowChromaV2:
    torch.manual_seed(seed)
    m = create_model(CFG).eval()
    m.bins.copy_(torch.randn(CFG.colour_bins, 2) * 40)
    return m


def _clip(b: int = 1, t: int = 4, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 1, CFG.input_height, CFG.input_width, generator=g) * 2 - 1


def _randomise_guidance(m: FlowChromaV2) -> None:
    """Give the zero-started guidance weights values, as training does."""
    with torch.no_grad():
        m.encoder[0].weight[:, 1:].normal_(0, 0.5)
        for fuse in (m.fuse16, m.fuse8, m.fuse4):
            fuse.weight[:, -6:].normal_(0, 0.5)


def test_shapes_and_range() -> None:
    m = _model()
    l = _clip()
    ab, state = m(l)
    assert ab.shape == (1, 4, 2, CFG.input_height, CFG.input_width)
    assert ab.abs().max() <= 1.0
    assert state[2].shape == (1, CFG.gru_size, CFG.input_height // 16, CFG.input_width // 16)


@torch.no_grad()
def test_no_guidance_is_exactly_automatic_and_guidance_starts_at_zero() -> None:
    m = _model()
    l = _clip()
    auto, _ = m(l)
    zeros = torch.zeros(1, 4, 3, CFG.input_height, CFG.input_width)
    hints = zeros.clone()
    hints[:, :, :, 10:20, 10:20] = torch.tensor([0.5, -0.3, 1.0])[:, None, None]
    refs = torch.rand(1, 2, 3, CFG.input_height, CFG.input_width) * 2 - 1
    # freshly built: every guidance path has zero weight, so guidance changes nothing
    guided, _ = m(l, hints=hints, references=refs)
    assert (guided - auto).abs().max() < 1e-6
    # trained guidance weights: zero hints and no reference still give the automatic result
    _randomise_guidance(m)
    again, _ = m(l, hints=zeros)
    assert (again - m(l)[0]).abs().max() < 1e-6
    moved, _ = m(l, hints=hints)
    assert (moved - m(l)[0]).abs().max() > 1e-3


@torch.no_grad()
def test_the_full_resolution_blend_is_exact_without_hints_and_follows_them_with() -> None:
    torch.manual_seed(0)
    m = create_model(replace(CFG, guide_blend=True)).eval()
    m.bins.copy_(torch.randn(CFG.colour_bins, 2) * 40)
    l = _clip()
    auto, _ = m(l)
    zeros = torch.zeros(1, 4, 3, CFG.input_height, CFG.input_width)
    assert torch.equal(m(l, hints=zeros)[0], auto)
    hints = zeros.clone()
    hints[:, :, :, 8:24, 8:24] = torch.tensor([0.5, -0.3, 0.4])[:, None, None]
    guided, _ = m(l, hints=hints)
    target = torch.tensor([0.5, -0.3]) * (110.0 / 128.0)
    inside = guided[0, :, :, 12:20, 12:20]
    before = (auto[0, :, :, 12:20, 12:20] - target[:, None, None]).abs()
    after = (inside - target[:, None, None]).abs()
    assert torch.allclose(after, before * (1 - torch.sigmoid(torch.tensor(2.0))), atol=1e-5)
    assert torch.equal(guided[..., 40:, 40:], auto[..., 40:, 40:])  # no hint there


def test_a_guidance_only_fine_tune_keeps_the_automatic_result_exactly() -> None:
    from flowchroma_core.training.loop_v2 import guidance_parameters

    torch.manual_seed(0)
    m = create_model(replace(CFG, guide_blend=True))
    m.bins.copy_(torch.randn(CFG.colour_bins, 2) * 40)
    l = _clip()
    with torch.no_grad():
        auto = m.eval()(l)[0]
    params = guidance_parameters(m)
    opt = torch.optim.AdamW(params, lr=0.1, weight_decay=0.0)
    hints = torch.zeros(1, 4, 3, CFG.input_height, CFG.input_width)
    hints[:, :, :, 8:24, 8:24] = torch.tensor([0.5, -0.3, 1.0])[:, None, None]
    m.train()
    for _ in range(2):
        out, _ = m(l, hints=hints)
        loss = (out - 0.4).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(l)[0], auto)
        assert (m(l, hints=hints)[0] - auto).abs().max() > 1e-3


@torch.no_grad()
def test_points_pull_the_colour_towards_the_hint_after_a_little_training() -> None:
    """The hint path can learn: a few steps on one frame move the hinted patch to its colour."""
    torch.manual_seed(0)
    m = _model().train()
    l = _clip(t=1)
    target = torch.tensor([40.0, -30.0])  # CIE a*, b*
    hints = torch.zeros(1, 1, 3, CFG.input_height, CFG.input_width)
    hints[:, :, 0, 16:48, 16:48] = target[0] / 110
    hints[:, :, 1, 16:48, 16:48] = target[1] / 110
    hints[:, :, 2, 16:48, 16:48] = 1.0
    ab_true = torch.zeros(1, 2, CFG.input_height // 4, CFG.input_width // 4)
    ab_true[:, :, 4:12, 4:12] = target[:, None, None]
    m.bins.copy_(
        torch.stack(
            torch.meshgrid(torch.linspace(-60, 60, 4), torch.linspace(-60, 60, 4), indexing="ij"),
            -1,
        ).view(-1, 2)
    )
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=3e-3)
    with torch.enable_grad():
        for _ in range(60):
            out, _ = m.forward_head(l, hints=hints)
            loss = cc.class_loss(out.flatten(0, 1), ab_true, m.bins, torch.ones(16))
            opt.zero_grad()
            loss.backward()
            opt.step()
    m.eval()
    ab, _ = m(l, hints=hints, vividness=1.0)
    inside = ab[0, 0, :, 24:40, 24:40].mean((-1, -2)) * 128
    assert (inside - target).abs().max() < 15


@torch.no_grad()
def test_carried_state_makes_clips_exact() -> None:
    m = _model()
    l = _clip(t=6)
    whole, _ = m(l)
    first, state = m(l[:, :4], carry_at=2)
    rest, _ = m(l[:, 2:], state=state)
    assert (first[:, :2] - whole[:, :2]).abs().max() < 1e-5
    assert (rest - whole[:, 2:]).abs().max() < 1e-5


@torch.no_grad()
def test_packed_backbone_features_round_trip() -> None:
    m = _model()
    l = _clip(t=2)
    feats = m.backbone_features(l)
    assert feats.shape == (1, 2, m.feature_size(CFG.input_height, CFG.input_width))
    a, _ = m(l)
    b, _ = m(l, features=feats)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="values per frame"):
        m(l, features=feats[..., :-1])


def test_vividness_sharpens_the_decoding() -> None:
    m = _model()
    out = torch.randn(2, CFG.colour_bins, 4, 4)
    muted = m.decode(out, 0.0).norm(dim=1).mean()
    vivid = m.decode(out, 1.0).norm(dim=1).mean()
    assert vivid > muted
    assert temperature(0.0) == 1.0 and temperature(1.0) == pytest.approx(0.15)


def test_low_vividness_takes_the_class_rebalancing_back_out() -> None:
    """Vividness 0 decodes the calibrated distribution (the trained one divided by the
    rebalancing weights), vividness 1 the trained one annealed; in between, part of each."""
    m = _model()
    with torch.no_grad():
        m.bin_weights.copy_(torch.rand(CFG.colour_bins) * 5 + 0.2)
    out = torch.randn(2, CFG.colour_bins, 4, 4)
    w = m.bin_weights[None, :, None, None]

    def mean(logits: torch.Tensor, t: float) -> torch.Tensor:
        p = torch.softmax(logits / t, dim=1)
        return torch.einsum("nkyx,kc->ncyx", p, m.bins) / 128.0

    assert torch.allclose(m.decode(out, 0.0), mean(out - w.log(), 1.0), atol=1e-6)
    assert torch.allclose(m.decode(out, 1.0), mean(out, temperature(1.0)), atol=1e-6)
    half = mean(out - 0.5 * w.log(), temperature(0.5))
    assert torch.allclose(m.decode(out, 0.5), half, atol=1e-6)
    assert prior_correction(0.0) == 1.0 and prior_correction(1.0) == 0.0
    # with uniform weights (a file without rebalancing) only the temperature changes
    with torch.no_grad():
        m.bin_weights.fill_(1.0)
    assert torch.allclose(m.decode(out, 0.0), mean(out, 1.0), atol=1e-6)


def test_model_file_round_trip_keeps_bins_and_output(tmp_path: Path) -> None:
    m = _model()
    path = tmp_path / "v2.safetensors"
    save_model(m, path, training={"steps": 1})
    loaded, meta = load_model(path, backbone_weights="random")
    assert isinstance(loaded, FlowChromaV2)
    assert meta.config == CFG
    assert torch.equal(loaded.bins, m.bins)
    l = _clip()
    loaded.backbone.load_state_dict(m.backbone.state_dict())
    with torch.no_grad():
        assert torch.equal(loaded(l)[0], m(l)[0])


def test_the_shipped_paper_model_file_still_loads() -> None:
    from flowchroma_core.model.files import default_model_path

    path = default_model_path()
    meta = json.loads(json.dumps({}))
    model, meta = load_model(path, backbone_weights="random")
    assert meta.config.design in ("paper", "v2")
    assert isinstance(model, FlowChroma | FlowChromaV2)


def test_colour_classes_prior_and_soft_targets() -> None:
    rng = np.random.default_rng(0)
    ab = np.concatenate([rng.normal(0, 5, (5000, 2)), rng.normal((40, 40), 5, (500, 2))])
    counts = cc.histogram(ab)
    bins, weights = cc.bins_and_weights(counts)
    assert len(bins) == (counts > 0).sum()
    prior = counts[counts > 0] / counts.sum()  # argwhere order is row-major, as histogram's
    assert weights[np.argmax(prior)] < weights[np.argmin(prior)]  # rare colours weigh more
    target, nearest = cc.soft_targets(torch.tensor([[[[3.0]], [[-2.0]]]]), torch.from_numpy(bins))
    assert target.sum(1).item() == pytest.approx(1.0, abs=1e-5)
    assert (torch.from_numpy(bins)[nearest.item()] - torch.tensor([3.0, -2.0])).norm() < 8
    logits = torch.full((1, len(bins), 1, 1), -30.0)
    logits[0, 5] = 30.0
    assert torch.allclose(
        cc.expected_ab(logits, torch.from_numpy(bins))[0, :, 0, 0], torch.from_numpy(bins[5])
    )


def test_temporal_loss_is_zero_for_colours_that_follow_the_flow() -> None:
    ab = torch.rand(1, 1, 2, 8, 8)
    shifted = torch.roll(ab, shifts=1, dims=-1)  # frame 1 = frame 0 moved one pixel right
    pair = torch.cat([ab, shifted], 1)
    flow = torch.zeros(1, 2, 3, 8, 8)
    flow[:, 1, 0] = -1.0  # frame 1's pixel x came from x - 1 in frame 0
    flow[:, 1, 2] = 1.0
    flow[:, 1, 2, :, 0] = 0.0  # the pixel that entered from the border has no origin
    assert cc.temporal_loss(pair, flow).item() < 1e-6
    flow[:, 1, 0] = 0.0
    assert cc.temporal_loss(pair, flow).item() > 0.05


V2_TOML = """
[data]
clips = ["{clips}"]
photos = ["{photos}"]
holdout = 1
max_frames_per_video = 8
cache_dir = "{cache}"
[model]
design = "v2"
clip_length = 4
input_height = 64
input_width = 96
encoder_widths = [8, 8, 16, 16]
lstm_size = 8
lstm_layers = 1
temporal_size = 8
semantic_size = 8
gru_size = 8
decoder_widths = [16, 16, 16, 16]
match_size = 8
head = "classes"
guidance = true
[train]
steps = 4
batch = 2
photos = 2
warmup = 1
loss = "classes"
guide_from = 2
checkpoint_every = 2
validate_every = 2
threads = 1
run_dir = "{run}"
"""


def _tiny_data(shared_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Three real clips and four photos, linked into folders of their own."""
    clips, photos = tmp_path / "clips", tmp_path / "photos"
    clips.mkdir()
    photos.mkdir()
    for p in sorted((shared_data / "clips").glob("*.mp4"))[:3]:
        (clips / p.name).symlink_to(p)
    for p in sorted((shared_data / "photos").glob("*.jpg"))[:4]:
        (photos / p.name).symlink_to(p)
    return clips, photos


def test_v2_training_runs_and_resumes_exactly(shared_data: Path, tmp_path: Path) -> None:
    clips, photos = _tiny_data(shared_data, tmp_path)

    def config(name: str):
        path = tmp_path / f"{name}.toml"
        path.write_text(
            V2_TOML.format(
                clips=clips, photos=photos, cache=tmp_path / "cache", run=tmp_path / name
            )
        )
        return load_train_config(path)

    whole = train(config("whole"))
    train(config("split"), stop_after=3)  # killed after step 3: resumes from step 2
    split = train(config("split"))
    a, meta = load_model(whole, backbone_weights="random")
    b, _ = load_model(split, backbone_weights="random")
    assert meta.config.colour_bins > 10
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        if not name.startswith("backbone"):
            assert torch.equal(x, y), name
    log = [json.loads(r) for r in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert "val_ab_mae" in log[1] and "temporal" in log[0]
    assert replace(meta.config, colour_bins=0) == replace(config("whole").model, colour_bins=0)


def test_a_shipped_fine_tune_keeps_its_base_training_and_model_info_shows_both(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from flowchroma_core.model.files import read_metadata
    from flowchroma_core.training.ship import ship

    base = tmp_path / "base.safetensors"
    save_model(_model(), base, training={"steps": 1500, "loss": "classes", "batch": 4})
    tuned = tmp_path / "tuned.safetensors"
    settings = {"init_from": str(base), "guidance_only": True}
    save_model(_model(), tuned, training={"steps": 800, "loss": "classes", "settings": settings})
    out = ship(tuned, tmp_path / "shipped.safetensors", manifest=None, evaluation=None)
    training = read_metadata(out).training
    assert training["base"]["steps"] == 1500 and training["steps"] == 800
    assert training["settings"]["init_from"] == "base.safetensors"  # no local path kept
    shown = subprocess.run(
        [sys.executable, "-m", "flowchroma_core.cli", "model-info", "--model", str(out)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "trained:      1500 steps" in shown
    assert "fine-tuned:   800 steps, guidance paths only" in shown


def test_a_guidance_fine_tune_trains_the_blend_on_carried_colour_and_keeps_automatic(
    shared_data: Path, tmp_path: Path
) -> None:
    clips, photos = _tiny_data(shared_data, tmp_path)
    paths = {"clips": clips, "photos": photos, "cache": tmp_path / "cache"}
    base_toml = tmp_path / "base.toml"
    base_toml.write_text(V2_TOML.format(run=tmp_path / "base", **paths))
    base = train(load_train_config(base_toml))
    tuned_toml = tmp_path / "tuned.toml"
    text = V2_TOML.format(run=tmp_path / "tuned", **paths)
    text = text.replace("guidance = true", "guidance = true\nguide_blend = true")
    fine_tune = f'init_from = "{base}"\nguidance_only = true\nblend_weight = 20.0\n'
    fine_tune += "spread_points = true\n"
    text = text.replace("guide_from = 2", f"guide_from = 0\n{fine_tune}weight_decay = 0.0")
    tuned_toml.write_text(text)
    tuned = train(load_train_config(tuned_toml))

    assert sorted((tmp_path / "cache").glob("*.carried-s0.npy"))  # built before the first step
    log = [json.loads(r) for r in (tmp_path / "tuned" / "log.jsonl").read_text().splitlines()]
    assert any("blend" in r for r in log)
    a, _ = load_model(base, backbone_weights="random")
    b, meta = load_model(tuned, backbone_weights="random")
    b.backbone.load_state_dict(a.backbone.state_dict())  # the same (random) frozen backbone
    assert meta.config.guide_blend and not a.config.guide_blend
    l = torch.rand(1, 4, 1, 64, 96) * 2 - 1
    with torch.no_grad():
        assert torch.equal(a(l)[0], b(l)[0])  # the automatic result is untouched
        hints = torch.zeros(1, 4, 3, 64, 96)
        hints[:, :, :, 10:30, 10:40] = torch.tensor([0.4, 0.2, 1.0])[:, None, None]
        assert not torch.equal(b(l, hints=hints)[0], a(l, hints=hints)[0])

    # the fine-tune's points were spread: the same step's batch, spread and bare
    cache = SpatialCache(tmp_path / "cache")
    kwargs = {"clip_length": 4, "clips": 4, "photos": 2, "seed": 0, "guide_from": 0}
    grew = False
    for step in range(8):
        bare = SpatialSampler(cache, **kwargs).batch(step)
        spread = SpatialSampler(cache, spread_points=True, **kwargs).batch(step)
        assert torch.equal(bare.rgb, spread.rgb)
        covered = (spread.photo_hints[:, :, 2] > 0).sum() > (bare.photo_hints[:, :, 2] > 0).sum()
        assert covered or not (bare.photo_hints[:, :, 2] > 0).any()
        seeded = bare.hints[:, :, 2] > 0
        assert torch.equal(spread.hints[:, :, 2][seeded], bare.hints[:, :, 2][seeded])
        assert (spread.hints[:, :, 2] > 0).sum() >= seeded.sum()
        grew |= bool((spread.hints[:, :, 2] > 0).sum() > seeded.sum())
    assert grew  # some clip had points, and they were spread

    # the carried colour of another flow scale is cached beside, under its own name
    build_carried(cache, finest_scale=2)
    for fine in sorted((tmp_path / "cache").glob("*.carried-s0.npy")):
        coarse = fine.with_name(fine.name.replace("-s0.", "-s2."))
        assert coarse.exists() and not np.array_equal(np.load(coarse), np.load(fine))
    assert all(Path(m.filename).name.endswith("-s2.npy") for m in cache.carried.values())


def test_simulated_points_are_spread_over_their_region_with_the_frames_confidence() -> None:
    rgb = torch.zeros(2, 2, 3, 32, 48)
    rgb[:, :, :, :, :24] = 0.2  # a dark left half, a light right half
    rgb[:, :, :, :, 24:] = 0.8
    hints = torch.zeros(2, 2, 3, 32, 48)
    hints[:, :, :2, 10:12, 5:7] = torch.tensor([0.3, -0.2])[:, None, None]
    hints[:, 0, 2, 10:12, 5:7] = 1.0  # the keyframe
    hints[:, 1, 2, 10:12, 5:7] = 0.5  # a frame further on
    out = spread_simulated(hints, rgb, [True, False])
    assert torch.equal(out[1], hints[1])  # a clip not marked is left as it is
    left, right = out[0, 0, :, :, :24], out[0, 0, :, :, 24:]
    assert torch.allclose(left[0], torch.tensor(0.3))
    assert torch.allclose(left[1], torch.tensor(-0.2))
    assert (left[2][:, :20] > 0.5).all()  # the dark half, from one point (the edge costs)
    assert (right[2][:, 4:] < 0.25).all()  # hardly across the edge
    assert torch.allclose(out[0, 1, 2], out[0, 0, 2] * 0.5)  # the frame's own confidence
    assert torch.equal(out[0, :, :, 10:12, 5:7], hints[0, :, :, 10:12, 5:7])
