"""Aspect-preserving letterboxing to the model size, and its inverse."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from flowchroma_core.pipeline.framing import PAD_MODES, Placement, letterbox, plan_placement

DST_H, DST_W = 240, 320


def _smooth_image(h: int, w: int, channels: int = 3) -> torch.Tensor:
    """Low-frequency content in [0, 1], so resampling error is small and predictable."""
    y = torch.linspace(0, 1, h)[:, None]
    x = torch.linspace(0, 1, w)[None, :]
    planes = [
        0.5 + 0.4 * torch.sin(2 * math.pi * (x * (c + 1) * 0.7 + y * 0.5)) for c in range(channels)
    ]
    return torch.stack([p.expand(h, w) for p in planes])


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        # letterbox: bars top and bottom
        ((360, 640), dict(top=30, left=0, inner_h=180, inner_w=320)),
        # pillarbox: bars left and right
        ((480, 480), dict(top=0, left=40, inner_h=240, inner_w=240)),
        # same aspect: no bars
        ((480, 640), dict(top=0, left=0, inner_h=240, inner_w=320)),
        # odd: 241 * 320 / 427 = 180.61 -> 181; 59 rows of bars split 29 / 30
        ((241, 427), dict(top=29, left=0, inner_h=181, inner_w=320)),
        # smaller than the target: scaled up to fit
        ((120, 100), dict(top=0, left=60, inner_h=240, inner_w=200)),
        # extreme strip: the inner size never drops to 0
        ((1, 5000), dict(top=119, left=0, inner_h=1, inner_w=320)),
    ],
)
def test_plan_placement(src: tuple[int, int], expected: dict[str, int]) -> None:
    p = plan_placement(*src, DST_H, DST_W)
    assert (p.src_h, p.src_w, p.dst_h, p.dst_w) == (*src, DST_H, DST_W)
    assert dict(top=p.top, left=p.left, inner_h=p.inner_h, inner_w=p.inner_w) == expected
    left, right, top, bottom = p.padding
    assert left + p.inner_w + right == DST_W and top + p.inner_h + bottom == DST_H
    assert 0 <= bottom - top <= 1 and 0 <= right - left <= 1  # centred


@pytest.mark.parametrize("sizes", [(0, 640, 240, 320), (360, 640, 240, -1), (360.0, 640, 240, 320)])
def test_plan_placement_rejects_bad_sizes(sizes: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        plan_placement(*sizes)


def test_placement_rejects_rectangle_outside_target() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        Placement(src_h=10, src_w=10, dst_h=20, dst_w=20, top=15, left=0, inner_h=10, inner_w=10)


@pytest.mark.parametrize(
    ("pad", "kwargs", "fill"),
    [
        ("white", {}, 1.0),
        ("black", {}, 0.0),
        ("white", {"white": 0.75}, 0.75),
        ("black", {"black": -1.0}, -1.0),
    ],
)
def test_constant_fill(pad: str, kwargs: dict[str, float], fill: float) -> None:
    x = _smooth_image(360, 640) * 0.5 + 0.2  # never equal to the fill values
    out, p = letterbox(x, DST_H, DST_W, pad=pad, **kwargs)  # type: ignore[arg-type]
    assert out.shape == (3, DST_H, DST_W)
    assert torch.all(out[:, : p.top] == fill) and torch.all(out[:, p.top + p.inner_h :] == fill)
    assert not torch.any(p.crop(out) == fill)


def test_pillarbox_fill() -> None:
    out, p = letterbox(_smooth_image(480, 480) * 0.5, DST_H, DST_W, pad="white")
    assert torch.all(out[..., : p.left] == 1.0) and torch.all(out[..., p.left + p.inner_w :] == 1.0)
    assert torch.all(out[..., p.left : p.left + p.inner_w] < 1.0)


def test_edge_fill_replicates_border_rows() -> None:
    x = torch.rand(2, 5, 3, 361, 640)  # leading batch dims, odd size
    out, p = letterbox(x, DST_H, DST_W, pad="edge")
    assert out.shape == (2, 5, 3, DST_H, DST_W)
    inner = p.crop(out)
    assert torch.equal(out[..., : p.top, :], inner[..., :1, :].expand_as(out[..., : p.top, :]))
    below = out[..., p.top + p.inner_h :, :]
    assert torch.equal(below, inner[..., -1:, :].expand_as(below))


def test_edge_fill_replicates_border_columns() -> None:
    x = torch.rand(1, 480, 480)
    out, p = letterbox(x, DST_H, DST_W, pad="edge")
    inner = p.crop(out)
    assert torch.equal(out[..., : p.left], inner[..., :1].expand(-1, -1, p.left))


def test_bad_pad_mode_names_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="white, black, edge") as info:
        letterbox(torch.rand(3, 10, 10), DST_H, DST_W, pad="grey")  # type: ignore[arg-type]
    assert "'grey'" in str(info.value)
    assert PAD_MODES == ("white", "black", "edge")


def test_bad_restore_mode() -> None:
    p = plan_placement(360, 640, DST_H, DST_W)
    with pytest.raises(ValueError, match="bilinear, bicubic"):
        p.restore(torch.rand(3, DST_H, DST_W), mode="nearest")  # type: ignore[arg-type]


def test_crop_checks_size() -> None:
    p = plan_placement(360, 640, DST_H, DST_W)
    with pytest.raises(ValueError, match="240, 320"):
        p.crop(torch.rand(3, 120, 160))


@pytest.mark.parametrize("src", [(360, 640), (480, 480), (480, 640), (241, 427)])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_restore_recovers_smooth_source(src: tuple[int, int], mode: str) -> None:
    x = _smooth_image(*src)
    out, p = letterbox(x, DST_H, DST_W, pad="white")
    back = p.restore(out, mode=mode)  # type: ignore[arg-type]
    assert back.shape == x.shape
    # downscale + upscale of a smooth image; the bar pixels never leak in
    assert (back - x).abs().max() < 0.015  # measured <= 0.0098


@pytest.mark.parametrize("src", [(240, 320), (180, 320), (240, 100), (101, 320)])
def test_restore_is_exact_without_resize(src: tuple[int, int]) -> None:
    """A source that already fits on one side is only padded, and comes back bit for bit."""
    x = torch.rand(2, 3, *src)
    out, p = letterbox(x, DST_H, DST_W, pad="black")
    assert not p.is_resized
    assert torch.equal(p.restore(out), x)


def test_source_of_target_size_passes_through() -> None:
    x = torch.rand(3, DST_H, DST_W)
    out, p = letterbox(x, DST_H, DST_W)
    assert not p.is_padded and not p.is_resized
    assert torch.equal(out, x) and torch.equal(p.restore(out), x)


def test_valid_mask_at_encoder_grid() -> None:
    p = plan_placement(360, 640, DST_H, DST_W)  # rows 30..210 of 240 are picture
    mask = p.valid_mask(30, 40)
    assert mask.shape == (1, 30, 40) and mask.dtype == torch.float32
    # at /8 the picture spans rows 3.75..26.25
    assert torch.all(mask[0, 4:26] == 1.0)
    assert torch.all(mask[0, :3] == 0.0) and torch.all(mask[0, 27:] == 0.0)
    assert torch.allclose(mask[0, 3], torch.full((40,), 0.25))
    assert torch.allclose(mask[0, 26], torch.full((40,), 0.25))
    assert math.isclose(mask.mean().item(), 180 * 320 / (240 * 320), abs_tol=1e-6)


@pytest.mark.parametrize("src", [(360, 640), (480, 480), (241, 427), (1, 5000)])
@pytest.mark.parametrize("grid", [(30, 40), (60, 80), (240, 320), (15, 20)])
def test_valid_mask_is_area_average_of_full_mask(
    src: tuple[int, int], grid: tuple[int, int]
) -> None:
    p = plan_placement(*src, DST_H, DST_W)
    full = torch.zeros(1, DST_H, DST_W)
    full[:, p.top : p.top + p.inner_h, p.left : p.left + p.inner_w] = 1.0
    expected = F.adaptive_avg_pool2d(full, grid)
    assert torch.allclose(p.valid_mask(*grid), expected, atol=1e-6)


def test_valid_mask_on_grid_that_does_not_divide() -> None:
    p = plan_placement(241, 427, DST_H, DST_W)
    mask = p.valid_mask(7, 9)
    fraction = p.inner_h * p.inner_w / (DST_H * DST_W)
    assert math.isclose(mask.mean().item(), fraction, rel_tol=1e-6)
    assert mask.min() >= 0 and mask.max() <= 1
