"""The FlowChroma network: shapes, state carrying, cached features, padding, learning."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from flowchroma_core.colour import lab
from flowchroma_core.model.network import (
    DEFAULT_CONFIG,
    TINY_CONFIG,
    FlowChroma,
    FlowChromaConfig,
    masked_mean,
)


@pytest.fixture(scope="module")
def tiny() -> FlowChroma:
    torch.manual_seed(0)
    return FlowChroma(TINY_CONFIG, backbone_weights="random").eval()


def _clip(cfg: FlowChromaConfig, b: int = 1, t: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = t or cfg.clip_length
    return torch.rand(b, t, 1, cfg.input_height, cfg.input_width, generator=g) * 2 - 1


def test_default_model_has_the_published_size_and_output_shape() -> None:
    model = FlowChroma(DEFAULT_CONFIG, backbone_weights="random").eval()
    n = model.trainable_parameters()
    assert 7.6e6 < n < 8.0e6, n  # the published design has about 7.8M
    assert all(not p.requires_grad for p in model.backbone.parameters())
    with torch.inference_mode():
        ab, (h, c) = model(_clip(DEFAULT_CONFIG, t=2))
    assert ab.shape == (1, 2, 2, 240, 320)
    assert h.shape == c.shape == (2, 1, 256)
    assert ab.abs().max() <= 1.0


def test_carried_state_equals_one_long_clip(tiny: FlowChroma) -> None:
    l = _clip(TINY_CONFIG, b=2, t=8)
    with torch.inference_mode():
        whole, state_whole = tiny(l)
        first, state = tiny(l[:, :4])
        second, state_split = tiny(l[:, 4:], state=state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(state_split[0], state_whole[0], atol=1e-5, rtol=0)
    with torch.inference_mode():
        fresh, state_fresh = tiny(l[:, 4:])
    assert (state_fresh[0] - state_split[0]).abs().max() > 1e-3, "the carried state must matter"
    assert not torch.equal(fresh, second)
    with torch.inference_mode():  # carry_at hands on the state where the next clip starts
        _, state_at = tiny(l[:, :6], carry_at=4)
    torch.testing.assert_close(state_at[0], state[0], atol=1e-6, rtol=0)


def test_cached_backbone_features_give_the_same_result(tiny: FlowChroma) -> None:
    l = _clip(TINY_CONFIG)
    with torch.inference_mode():
        feats = tiny.backbone_features(l)
        assert feats.shape == (1, TINY_CONFIG.clip_length, 1000)
        a, _ = tiny(l)
        b, _ = tiny(l, features=feats)
    assert torch.equal(a, b)


def test_masked_mean_ignores_padding() -> None:
    x = torch.rand(3, 5, 6, 8)
    mask = torch.zeros(3, 1, 6, 8)
    mask[..., 1:5, :] = 1
    x_other = x.clone()
    x_other[..., 0, :] = 99.0  # only padding differs
    torch.testing.assert_close(masked_mean(x, mask), masked_mean(x_other, mask))
    torch.testing.assert_close(masked_mean(x, mask), x[..., 1:5, :].mean(dim=(2, 3)))
    torch.testing.assert_close(masked_mean(x, None), x.mean(dim=(2, 3)))


def test_mask_changes_temporal_features_only_through_valid_area(tiny: FlowChroma) -> None:
    l = _clip(TINY_CONFIG)
    mask = torch.ones(1, 1, TINY_CONFIG.input_height, TINY_CONFIG.input_width)
    mask[..., :8, :] = 0  # top band is letterbox padding
    with torch.inference_mode():
        feats = tiny.backbone_features(l)
        masked, (h_masked, _) = tiny(l, features=feats, mask=mask)
        plain, (h_plain, _) = tiny(l, features=feats)
    assert not torch.allclose(h_masked, h_plain)
    assert masked.shape == plain.shape


def test_train_mode_keeps_the_backbone_frozen(tiny: FlowChroma) -> None:
    tiny.train()
    try:
        assert not tiny.backbone.training
        assert tiny.encoder.training
    finally:
        tiny.eval()


def test_config_validation_and_round_trip() -> None:
    assert FlowChromaConfig.from_dict(TINY_CONFIG.to_dict()) == TINY_CONFIG
    with pytest.raises(ValueError, match="multiple of 8"):
        FlowChromaConfig(input_height=241)
    with pytest.raises(ValueError, match="upsamples"):
        FlowChromaConfig(decoder_stages=((128,), (64,)))
    with pytest.raises(ValueError, match="unknown configuration keys: colour"):
        FlowChromaConfig.from_dict({**TINY_CONFIG.to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="tf_efficientnet_lite0"):
        FlowChromaConfig(backbone="resnet9000")
    changed = dataclasses.replace(TINY_CONFIG, lstm_size=32)
    assert TINY_CONFIG.differences(changed) == ["lstm_size: 16 != 32"]


def _real_clip_lab(path: Path, frames: int, height: int, width: int) -> torch.Tensor:
    """The first frames of a real video as Lab (T, 3, H, W), resized with OpenCV."""
    import cv2

    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            out.append(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
            if len(out) == frames:
                break
    rgb_t = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255.0
    return lab.rgb_to_lab(rgb_t)


def test_tiny_model_overfits_a_real_clip_and_every_part_learns(shared_data: Path) -> None:
    torch.manual_seed(0)
    cfg = TINY_CONFIG
    clip = sorted((shared_data / "clips").glob("*.mp4"))[0]
    frames = _real_clip_lab(clip, cfg.clip_length, cfg.input_height, cfg.input_width)
    l = lab.normalize_l(frames[:, :1]).unsqueeze(0)
    target = lab.normalize_ab(frames[:, 1:]).unsqueeze(0)

    model = FlowChroma(cfg, backbone_weights="pretrained").train()
    feats = model.backbone_features(l)  # cached once, as training does
    params = [p for p in model.parameters() if p.requires_grad]
    steps = 400
    opt = torch.optim.Adam(params, lr=4e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps)
    losses = []
    for step in range(steps):
        ab, _ = model(l, features=feats)
        loss = torch.nn.functional.mse_loss(ab, target)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            dead = [
                n
                for n, p in model.named_parameters()
                if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)
            ]
            assert not dead, f"no gradient reaches {dead}"
            assert all(p.grad is None for p in model.backbone.parameters())
        opt.step()
        schedule.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])
