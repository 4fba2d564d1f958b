"""Y'CbCr conversions: published reference values, round trips, code ranges, gamut limiting,
the one rounding to integer codes, and the torch versions agreeing with the NumPy ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowchroma_core.colour.lab import to_uint8
from flowchroma_core.colour.ycbcr import (
    MATRICES,
    chroma_scale,
    chroma_to_codes,
    limit_to_gamut,
    luma_from_rgb,
    luma_scale,
    luma_to_float,
    rescale_luma_codes,
    rgb_to_codes,
    ycbcr_to_rgb,
)
from flowchroma_core.colour.ycbcr_torch import chroma_from_rgb, limit_chroma

RNG = np.random.default_rng(1234)


def _random_rgb(n: int = 4096) -> np.ndarray:
    return RNG.random((n, 3), dtype=np.float32)


def rgb_to_ycbcr(rgb: np.ndarray, matrix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, cb, cr) of R'G'B' (..., 3) as the product computes them: luma in NumPy (the
    reader's), chroma in torch (the colorizer's)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    y = luma_from_rgb(rgb[..., 0], rgb[..., 1], rgb[..., 2], matrix)  # type: ignore[arg-type]
    planes = torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0)))
    cb, cr = chroma_from_rgb(planes, matrix)  # type: ignore[arg-type]
    return y.astype(np.float32), cb.numpy(), cr.numpy()


@pytest.mark.parametrize(
    ("matrix", "rgb", "expected"),
    [
        # BT.709-6: Kr = 0.2126, Kb = 0.0722
        ("bt709", (1.0, 0.0, 0.0), (0.2126, -0.114572, 0.5)),
        ("bt709", (0.0, 1.0, 0.0), (0.7152, -0.385428, -0.454153)),
        ("bt709", (0.0, 0.0, 1.0), (0.0722, 0.5, -0.045847)),
        ("bt709", (1.0, 1.0, 1.0), (1.0, 0.0, 0.0)),
        # BT.601-7: Kr = 0.299, Kb = 0.114
        ("bt601", (1.0, 0.0, 0.0), (0.299, -0.168736, 0.5)),
        ("bt601", (0.0, 0.0, 1.0), (0.114, 0.5, -0.081312)),
        # BT.2020-2 NCL: Kr = 0.2627, Kb = 0.0593
        ("bt2020", (1.0, 0.0, 0.0), (0.2627, -0.139630, 0.5)),
        ("bt2020", (0.0, 0.0, 1.0), (0.0593, 0.5, -0.040214)),
    ],
)
def test_reference_values(matrix, rgb, expected) -> None:
    y, cb, cr = rgb_to_ycbcr(np.array([[rgb]], dtype=np.float32), matrix)
    np.testing.assert_allclose([y[0, 0], cb[0, 0], cr[0, 0]], expected, atol=1e-5)


@pytest.mark.parametrize("matrix", MATRICES)
def test_round_trip(matrix) -> None:
    """NumPy luma and torch chroma, decoded by NumPy, give the colour back: one table."""
    rgb = _random_rgb().reshape(64, 64, 3)
    y, cb, cr = rgb_to_ycbcr(rgb, matrix)
    assert y.shape == (64, 64) and y.dtype == np.float32
    assert cb.min() >= -0.5 - 1e-6 and cb.max() <= 0.5 + 1e-6
    assert cr.min() >= -0.5 - 1e-6 and cr.max() <= 0.5 + 1e-6
    back = ycbcr_to_rgb(y, cb, cr, matrix)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, rgb, atol=2e-6)


def test_unknown_matrix_lists_allowed() -> None:
    with pytest.raises(ValueError, match="bt709, bt601, bt2020"):
        luma_from_rgb(0.0, 0.0, 0.0, "srgb")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bt709, bt601, bt2020"):
        chroma_from_rgb(torch.zeros(3, 1, 1), "srgb")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bits", "color_range", "black", "white"),
    [(8, "tv", 16, 235), (10, "tv", 64, 940), (12, "tv", 256, 3760), (16, "tv", 4096, 60160),
     (8, "pc", 0, 255), (10, "pc", 0, 1023), (16, "pc", 0, 65535)],
)  # fmt: skip
def test_luma_code_ranges(bits, color_range, black, white) -> None:
    offset, span = luma_scale(bits, color_range)
    assert (offset, offset + span) == (black, white)
    np.testing.assert_allclose(luma_to_float(np.array([black, white]), bits, color_range), [0, 1])


@pytest.mark.parametrize(
    ("bits", "color_range", "lo", "mid", "hi"),
    [(8, "tv", 16, 128, 240), (10, "tv", 64, 512, 960), (8, "pc", 1, 128, 255),
     (10, "pc", 1, 512, 1023)],
)  # fmt: skip
def test_chroma_code_ranges(bits, color_range, lo, mid, hi) -> None:
    codes = chroma_to_codes(np.array([-0.5, 0.0, 0.5]), bits, color_range)
    assert codes.tolist() == [lo, mid, hi]
    # the inverse recovers the analog value to within half a code step
    offset, span = chroma_scale(bits, color_range)
    back = (codes.astype(np.float64) - offset) / span
    np.testing.assert_allclose(back, [-0.5, 0.0, 0.5], atol=0.5 / (1 << bits) * 2)


def test_rounding_is_half_up_not_truncation() -> None:
    # 255·x = 16.6 must give 17, and 16.4 must give 16; outside [0, 1] clips
    x = np.array([16.6 / 255, 16.4 / 255, -0.2, 1.3], dtype=np.float32)
    assert rgb_to_codes(x, 8).tolist() == [17, 16, 0, 255]
    assert rgb_to_codes(x, 8).dtype == np.uint8 and rgb_to_codes(x, 10).dtype == np.uint16
    assert rgb_to_codes(np.float32([16.6 / 1023, 1.0]), 10).tolist() == [17, 1023]
    assert chroma_to_codes(np.array([0.6 / 224, -0.6 / 224]), 8, "tv").tolist() == [129, 127]


@pytest.mark.parametrize("color_range", ["tv", "pc"])
def test_luma_round_trip_every_code(color_range) -> None:
    for bits in (8, 10, 12, 16):
        codes = np.arange(1 << bits, dtype=np.uint16 if bits > 8 else np.uint8)
        offset, span = luma_scale(bits, color_range)
        back = np.floor(offset + span * luma_to_float(codes, bits, color_range) + 0.5)
        np.testing.assert_array_equal(back, codes)


@pytest.mark.parametrize("color_range", ["tv", "pc"])
def test_rescale_same_range_is_a_shift(color_range) -> None:
    y8 = np.arange(256, dtype=np.uint8)
    y10 = rescale_luma_codes(y8, 8, color_range, 10, color_range)
    assert y10.dtype == np.uint16
    np.testing.assert_array_equal(y10, y8.astype(np.uint16) << 2)
    np.testing.assert_array_equal(rescale_luma_codes(y10, 10, color_range, 8, color_range), y8)
    y16 = rescale_luma_codes(y8, 8, color_range, 16, color_range)
    np.testing.assert_array_equal(y16, y8.astype(np.uint16) << 8)
    # 10 -> 8 bits rounds half up: 513 -> 128.25 -> 128, 514 -> 128.5 -> 129
    down = rescale_luma_codes(
        np.array([513, 514, 1023], np.uint16), 10, color_range, 8, color_range
    )
    assert down.tolist() == [128, 129, 255]


def test_rescale_across_ranges_rounds() -> None:
    pc = np.arange(256, dtype=np.uint8)
    tv10 = rescale_luma_codes(pc, 8, "pc", 10, "tv")
    expected = np.floor(64 + pc.astype(np.float64) * 876 / 255 + 0.5)
    np.testing.assert_array_equal(tv10, expected)
    assert tv10[0] == 64 and tv10[-1] == 940
    # and back again: every code survives within half a code step of the 8-bit scale
    back = rescale_luma_codes(tv10, 10, "tv", 8, "pc")
    np.testing.assert_array_equal(back, pc)
    # sub-black tv codes clip at 0 in pc range
    assert rescale_luma_codes(np.array([0, 16, 235, 255], np.uint8), 8, "tv", 8, "pc").tolist() == [
        0,
        0,
        255,
        255,
    ]


@pytest.mark.parametrize("matrix", MATRICES)
def test_limit_to_gamut_keeps_luma_and_lands_in_gamut(matrix) -> None:
    y = RNG.random((128, 128), dtype=np.float32)
    cb = RNG.uniform(-0.5, 0.5, (128, 128)).astype(np.float32)
    cr = RNG.uniform(-0.5, 0.5, (128, 128)).astype(np.float32)
    assert (np.abs(ycbcr_to_rgb(y, cb, cr, matrix) - 0.5) > 0.5).any()  # really out of gamut
    cb2, cr2 = limit_to_gamut(y, cb, cr, matrix)
    rgb = ycbcr_to_rgb(y, cb2, cr2, matrix)
    assert rgb.min() >= -1e-6 and rgb.max() <= 1 + 1e-6
    # luma recomputed from the limited colour is the luma we started from
    y_back, _, _ = rgb_to_ycbcr(rgb, matrix)
    np.testing.assert_allclose(y_back, y, atol=2e-6)
    # only saturation is given up: the hue angle is kept and the chroma only shrinks
    scale = np.hypot(cb2, cr2) / np.maximum(np.hypot(cb, cr), 1e-12)
    assert scale.max() <= 1.0 + 1e-6
    moved = scale > 1e-3
    np.testing.assert_allclose(
        np.arctan2(cr2[moved], cb2[moved]), np.arctan2(cr[moved], cb[moved]), atol=1e-4
    )


def test_limit_to_gamut_leaves_in_gamut_colours_alone() -> None:
    rgb = _random_rgb().reshape(64, 64, 3)
    y, cb, cr = rgb_to_ycbcr(rgb, "bt709")
    cb2, cr2 = limit_to_gamut(y, cb, cr, "bt709")
    np.testing.assert_allclose(cb2, cb, atol=1e-5)
    np.testing.assert_allclose(cr2, cr, atol=1e-5)


def test_limit_to_gamut_greys_out_superwhite() -> None:
    cb2, cr2 = limit_to_gamut(np.array([1.05, -0.02]), np.array([0.2, 0.2]), np.array([0.1, 0.1]),
                              "bt709")  # fmt: skip
    assert cb2.tolist() == [0.0, 0.0] and cr2.tolist() == [0.0, 0.0]


def _ties(count: int = 200) -> np.ndarray:
    """float32 values in [0, 1] whose float32 product with 255 is exactly k + 0.5, k even:
    where rounding half up and NumPy's half-to-even rint disagree."""
    found = []
    for k in range(0, 254, 2):
        x = np.float32((k + 0.5) / 255)
        for candidate in (x, np.nextafter(x, np.float32(0)), np.nextafter(x, np.float32(1))):
            if candidate * np.float32(255) == np.float32(k + 0.5):
                found.append(candidate)
                break
        if len(found) == count:
            break
    return np.array(found, dtype=np.float32)


def test_display_rounding_is_half_up_at_exact_ties() -> None:
    ties = _ties()
    assert len(ties) > 10  # the ties exist in float32
    codes = rgb_to_codes(ties, 8).astype(np.int64)
    np.testing.assert_array_equal(codes, np.floor(ties * np.float32(255)) + 1)
    assert (codes != np.rint(ties * np.float32(255))).all()  # what rint would have shown


def test_to_uint8_agrees_with_rgb_to_codes() -> None:
    """The torch 8-bit rounding (lab.to_uint8) and the NumPy one are the same rounding."""
    x = np.concatenate(
        [_ties(), RNG.uniform(-0.2, 1.2, 5000).astype(np.float32), np.float32([0, 1])]
    )
    np.testing.assert_array_equal(to_uint8(torch.from_numpy(x)).numpy(), rgb_to_codes(x, 8))


@pytest.mark.parametrize("matrix", MATRICES)
def test_limit_chroma_in_torch_agrees_with_limit_to_gamut(matrix) -> None:
    """The colorizer's limit (torch) and the writer's (NumPy): same constants, same limit."""
    y = RNG.random((96, 96), dtype=np.float32)
    y[0, :8] = [0.0, 1.0, 0.0, 1.0, 1e-4, 1 - 1e-4, 0.5, 0.5]  # black, white, near them
    cb = RNG.uniform(-0.5, 0.5, (96, 96)).astype(np.float32)
    cr = RNG.uniform(-0.5, 0.5, (96, 96)).astype(np.float32)
    cb[1, :4] = cr[1, :4] = 0.0  # greys stay grey
    cb_np, cr_np = limit_to_gamut(y, cb, cr, matrix)
    cb_t, cr_t = limit_chroma(
        torch.from_numpy(y), torch.from_numpy(cb), torch.from_numpy(cr), matrix
    )
    # NumPy shaves a relative 1e-6 off a scale below 1, so that float rounding cannot leave a
    # channel a hair outside; otherwise the two are the same limit.
    np.testing.assert_allclose(cb_t.numpy(), cb_np, atol=2e-6, rtol=0)
    np.testing.assert_allclose(cr_t.numpy(), cr_np, atol=2e-6, rtol=0)
    assert (np.abs(cb_np) < np.abs(cb) - 1e-3).mean() > 0.1  # the limit really bit
