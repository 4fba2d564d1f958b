"""Colour conversion: sRGB <-> CIE L*a*b* (D65) and the model's Lab scaling, in torch.

The model sees luminance and predicts chrominance in CIE Lab, so every frame passes through
here on the way in and out. Everything is computed in float32 whatever the input precision,
because half precision loses visible detail in the transfer function and the cube root.

The sRGB -> XYZ matrix is derived from the IEC 61966-2-1 primaries and the same D65 white
that Lab normalises by, so neutral greys map to a* = b* = 0 exactly. scikit-image and kornia
use an older rounded matrix (0.412453, ...) whose white is (0.950456, 1, 1.088754) rather
than their own reference white (0.95047, 1, 1.08883); their Lab values therefore differ from
ours by up to about 5e-3 in a*/b* (white comes out as (100, -0.0025, 0.0047) there).
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

# D65 white (CIE 1931 2° observer, ASTM E308), Y normalised to 1.
D65_WHITE: tuple[float, float, float] = (0.95047, 1.0, 1.08883)
# sRGB primaries (x, y) from IEC 61966-2-1.
SRGB_PRIMARIES: tuple[tuple[float, float], ...] = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))

# Exact CIE constants (not the rounded 0.008856 / 903.3 / 7.787).
LAB_EPSILON = 216.0 / 24389.0
LAB_KAPPA = 24389.0 / 27.0
_DELTA = 6.0 / 29.0  # f(t) at t == LAB_EPSILON

# The model's scaling of Lab: L in [0, 100] -> [-1, 1], ab in about [-128, 127] -> [-1, 1].
L_SCALE = 50.0
L_OFFSET = 1.0
AB_SCALE = 128.0


def _rgb_to_xyz_matrix() -> Tensor:
    """Linear sRGB -> XYZ: primaries scaled so that RGB (1, 1, 1) lands on D65_WHITE."""
    xy = torch.tensor(SRGB_PRIMARIES, dtype=torch.float64)
    x, y = xy[:, 0], xy[:, 1]
    primaries = torch.stack([x / y, torch.ones_like(x), (1.0 - x - y) / y])  # columns: R, G, B
    white = torch.tensor(D65_WHITE, dtype=torch.float64)
    return primaries * torch.linalg.solve(primaries, white)


_XYZ_FROM_RGB64 = _rgb_to_xyz_matrix()
_RGB_FROM_XYZ64 = torch.linalg.inv(_XYZ_FROM_RGB64)
# Folding the white into the matrices saves a division per pixel.
_WHITE64 = torch.tensor(D65_WHITE, dtype=torch.float64)
_XYZN_FROM_RGB = (_XYZ_FROM_RGB64 / _WHITE64[:, None]).float()
_RGB_FROM_XYZN = (_RGB_FROM_XYZ64 * _WHITE64[None, :]).float()


def select(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``torch.where(mask, a, b)`` for float tensors, the same values, several times faster
    on the CPU.

    torch's CPU ``where`` (and ``masked_fill``) with a boolean mask is not vectorised: on a
    640x360x3 frame it costs 25 multiplications' time. ``lerp`` with the mask as 0/1
    weights is vectorised and exact at both ends (torch computes it as ``b + w (a - b)``
    for w < 0.5 and ``a - (a - b)(1 - w)`` otherwise), so it returns ``a`` or ``b`` to the
    bit. Both branches must be finite where they are not chosen (an infinite one would
    give NaN), as they are in every formula here.
    """
    return torch.lerp(b, a, mask.to(a.dtype))


def _check_image(x: Tensor, name: str) -> None:
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (..., 3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got {x.dtype}; "
            "divide integer pixels by their peak code (255 for 8 bits) first"
        )


def _apply_matrix(matrix: Tensor, x: Tensor) -> Tensor:
    """Mix the channels (dim -3) of a float32 tensor, immune to an enclosing autocast."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        return torch.einsum("ij,...jhw->...ihw", matrix.to(x.device), x)


def srgb_to_linear(rgb: Tensor) -> Tensor:
    """The sRGB decoding function, mirrored for negative values so out-of-gamut RGB survives."""
    mag = rgb.abs()
    curve = ((mag + 0.055) / 1.055).pow(2.4)
    return select(mag <= 0.04045, rgb / 12.92, torch.sign(rgb) * curve)


def linear_to_srgb(lin: Tensor, *, mirrored: bool = True) -> Tensor:
    """The sRGB encoding function, mirrored for negative values (inverse of srgb_to_linear).

    ``mirrored=False`` sends negative values to 0 instead, for a result that is clipped to
    the gamut anyway: the same values there, at half the cost (no sign, no abs).
    """
    mag = lin.abs() if mirrored else lin.clamp(min=0.0)
    # The clamp keeps the gradient finite at 0, where the linear segment is used anyway.
    curve = mag.clamp(min=0.0031308).pow_(1.0 / 2.4).mul_(1.055).sub_(0.055)
    encoded = select(mag <= 0.0031308, mag * 12.92, curve)
    return torch.sign(lin) * encoded if mirrored else encoded


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """Non-linear sRGB in [0, 1], channels at dim -3, to CIE Lab (D65) in float32.

    L is in [0, 100], a and b roughly in [-128, 127]. Values outside [0, 1] are converted
    too (by mirrored extension of the curves), so lab_to_rgb(clip=False) round-trips.
    """
    _check_image(rgb, "rgb")
    lin = srgb_to_linear(rgb.float())
    t = _apply_matrix(_XYZN_FROM_RGB, lin)  # XYZ / white
    cube = t.clamp(min=LAB_EPSILON).pow(1.0 / 3.0)
    f = select(t > LAB_EPSILON, cube, (LAB_KAPPA * t + 16.0) / 116.0)
    fx, fy, fz = f.unbind(dim=-3)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)


def gray_to_lightness(gray: Tensor) -> Tensor:
    """CIE L* of neutral sRGB grey values in [0, 1] (any shape), as rgb_to_lab gives for R=G=B.

    The white point normalises luminance to 1, so for a grey Y/Yn is just the linear value;
    this avoids expanding a full-resolution frame to three channels.
    """
    t = srgb_to_linear(gray.float())
    cube = t.clamp(min=LAB_EPSILON).pow(1.0 / 3.0)
    f = select(t > LAB_EPSILON, cube, (LAB_KAPPA * t + 16.0) / 116.0)
    return 116.0 * f - 16.0


def lab_to_rgb(lab: Tensor, *, clip: bool = True) -> Tensor:
    """CIE Lab (D65), channels at dim -3, to non-linear sRGB in float32.

    With ``clip`` the result is clipped to the [0, 1] gamut (for display and export);
    without it, out-of-gamut colours come back as values below 0 or above 1.
    """
    _check_image(lab, "lab")
    L, a, b = lab.float().unbind(dim=-3)
    fy = (L + 16.0) / 116.0
    f = torch.stack([fy + a / 500.0, fy, fy - b / 200.0], dim=-3)
    t = select(f > _DELTA, f.pow(3), f.mul(116.0).sub_(16.0).div_(LAB_KAPPA))
    rgb = linear_to_srgb(_apply_matrix(_RGB_FROM_XYZN, t), mirrored=not clip)
    return rgb.clamp_(0.0, 1.0) if clip else rgb


def normalize_l(lightness: Tensor) -> Tensor:
    """L in [0, 100] to the model's [-1, 1]."""
    return lightness / L_SCALE - L_OFFSET


def normalize_ab(ab: Tensor) -> Tensor:
    """a and b (about [-128, 127]) to the model's [-1, 1]."""
    return ab / AB_SCALE


def denormalize_ab(x: Tensor) -> Tensor:
    """The model's [-1, 1] back to a and b."""
    return x * AB_SCALE


def merge_luminance(lightness: Tensor, ab: Tensor) -> Tensor:
    """Join L (..., 1, H, W) and ab (..., 2, H, W) into Lab (..., 3, H, W)."""
    if lightness.ndim < 3 or lightness.shape[-3] != 1:
        raise ValueError(f"L must have shape (..., 1, H, W), got {tuple(lightness.shape)}")
    if ab.ndim < 3 or ab.shape[-3] != 2:
        raise ValueError(f"ab must have shape (..., 2, H, W), got {tuple(ab.shape)}")
    return torch.cat([lightness, ab], dim=-3)


def to_uint8(rgb: Tensor) -> Tensor:
    """[0, 1] floats to 8-bit codes: clipped, rounded half up, NaN to 0.

    The torch counterpart of ``ycbcr.rgb_to_codes(rgb, 8)``, the one rounding of colour to
    integers (a value k + 0.5 goes up whatever the parity of k); tests check they agree.
    """
    x = torch.nan_to_num(rgb.float(), nan=0.0).clamp(0.0, 1.0)
    return torch.floor(x * 255.0 + 0.5).to(torch.uint8)
