"""Fitting frames to the model's size without distortion, and undoing it exactly.

A frame is resized so that it fits inside the model's input while keeping its aspect, then
padded (letterbox or pillarbox) to the full size. The ``Placement`` records where the frame
landed so that the model's output can be cropped and resized back to the source size, and so
that losses and statistics can ignore the padding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from flowchroma_core.pipeline.options import PAD_MODES, PadMode

logger = logging.getLogger(__name__)

RestoreMode = Literal["bilinear", "bicubic"]
RESTORE_MODES: tuple[str, ...] = get_args(RestoreMode)


def _check_size(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _resize(x: Tensor, h: int, w: int, mode: str) -> Tensor:
    """Resize the last two dims of (..., H, W); antialiased where it shrinks."""
    if x.shape[-2:] == (h, w):
        return x
    lead = x.shape[:-2]
    antialias = h < x.shape[-2] or w < x.shape[-1]
    flat = x.reshape(1, -1, *x.shape[-2:])  # interpolate wants (N, C, H, W)
    out = F.interpolate(flat, size=(h, w), mode=mode, align_corners=False, antialias=antialias)
    return out.reshape(*lead, h, w)


@dataclass(frozen=True)
class Placement:
    """Where a source frame sits inside the model-sized frame (centred, aspect kept)."""

    src_h: int
    src_w: int
    dst_h: int
    dst_w: int
    top: int
    left: int
    inner_h: int
    inner_w: int

    def __post_init__(self) -> None:
        _check_size(
            src_h=self.src_h,
            src_w=self.src_w,
            dst_h=self.dst_h,
            dst_w=self.dst_w,
            inner_h=self.inner_h,
            inner_w=self.inner_w,
        )
        if not (0 <= self.top <= self.dst_h - self.inner_h) or not (
            0 <= self.left <= self.dst_w - self.inner_w
        ):
            raise ValueError(f"inner rectangle does not fit in {self.dst_h}x{self.dst_w}: {self}")

    @property
    def padding(self) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) padding, in the order ``F.pad`` takes it."""
        right = self.dst_w - self.left - self.inner_w
        bottom = self.dst_h - self.top - self.inner_h
        return self.left, right, self.top, bottom

    @property
    def is_padded(self) -> bool:
        """Whether any part of the target frame is padding."""
        return (self.inner_h, self.inner_w) != (self.dst_h, self.dst_w)

    @property
    def is_resized(self) -> bool:
        """Whether the source is resampled (if not, the round trip is exact)."""
        return (self.inner_h, self.inner_w) != (self.src_h, self.src_w)

    def crop(self, x: Tensor) -> Tensor:
        """The picture part of a target-sized tensor, as a view of ``x``.

        (..., dst_h, dst_w) -> (..., inner_h, inner_w).
        """
        if tuple(x.shape[-2:]) != (self.dst_h, self.dst_w):
            raise ValueError(
                f"expected a tensor of size (..., {self.dst_h}, {self.dst_w}), got {tuple(x.shape)}"
            )
        return x[..., self.top : self.top + self.inner_h, self.left : self.left + self.inner_w]

    def restore(self, x: Tensor, *, mode: RestoreMode = "bilinear") -> Tensor:
        """Crop a target-sized tensor and resize it back to the source size.

        Exact (no interpolation, a view of ``x``) when the source was not resized.
        """
        if mode not in RESTORE_MODES:
            raise ValueError(f"mode must be one of {', '.join(RESTORE_MODES)}, not {mode!r}")
        return _resize(self.crop(x), self.src_h, self.src_w, mode)

    def valid_mask(self, h: int, w: int, *, device: torch.device | str | None = None) -> Tensor:
        """Float (1, h, w) map of how much of each cell of an h x w grid is real picture.

        The grid spans the whole target frame (e.g. the encoder's dst/8 grid). Each cell holds
        the exact fraction of its area covered by the inner rectangle, so a cell half over the
        padding gets 0.5; this equals area-averaging a full-resolution mask.
        """
        _check_size(h=h, w=w)
        rows = _coverage(self.top, self.inner_h, self.dst_h, h, device)
        cols = _coverage(self.left, self.inner_w, self.dst_w, w, device)
        return (rows[:, None] * cols[None, :]).unsqueeze(0)


def _coverage(
    start: int, length: int, full: int, cells: int, device: torch.device | str | None
) -> Tensor:
    """Fraction of each of ``cells`` equal cells over [0, full) covered by [start, start+length)."""
    # Work in units where a cell is `full` long, so every bound is an exact integer.
    edges = torch.arange(cells + 1, dtype=torch.float64, device=device) * full
    lo = torch.clamp(edges[:-1], min=start * cells)
    hi = torch.clamp(edges[1:], max=(start + length) * cells)
    return ((hi - lo).clamp(min=0) / full).float()


def plan_placement(src_h: int, src_w: int, dst_h: int, dst_w: int) -> Placement:
    """Scale to fit (min of the two ratios), round the inner size, centre it.

    Integer arithmetic: the limiting side fills the target exactly, and the other side is
    rounded half up, never off by one through floating-point error.
    """
    _check_size(src_h=src_h, src_w=src_w, dst_h=dst_h, dst_w=dst_w)
    if dst_h * src_w <= dst_w * src_h:  # height limits: scale = dst_h / src_h
        inner_h = dst_h
        inner_w = (2 * src_w * dst_h + src_h) // (2 * src_h)
    else:  # width limits: scale = dst_w / src_w
        inner_w = dst_w
        inner_h = (2 * src_h * dst_w + src_w) // (2 * src_w)
    inner_h = min(max(inner_h, 1), dst_h)
    inner_w = min(max(inner_w, 1), dst_w)
    return Placement(
        src_h=src_h,
        src_w=src_w,
        dst_h=dst_h,
        dst_w=dst_w,
        top=(dst_h - inner_h) // 2,
        left=(dst_w - inner_w) // 2,
        inner_h=inner_h,
        inner_w=inner_w,
    )


def letterbox(
    x: Tensor,
    dst_h: int,
    dst_w: int,
    *,
    pad: PadMode = "white",
    white: float = 1.0,
    black: float = 0.0,
) -> tuple[Tensor, Placement]:
    """Resize (..., C, H, W) floats to fit dst_h x dst_w keeping the aspect, then pad.

    ``pad`` fills the border with ``white`` (the seed colorizer's choice), ``black``, or by
    repeating the edge pixels. Pass the values of white and black in whatever scale ``x``
    uses (e.g. 1.0 and -1.0 for a normalised L channel).
    """
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {', '.join(PAD_MODES)}, not {pad!r}")
    if x.ndim < 3:
        raise ValueError(f"x must have shape (..., C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    placement = plan_placement(x.shape[-2], x.shape[-1], dst_h, dst_w)
    out = _resize(x, placement.inner_h, placement.inner_w, "bilinear")
    if not placement.is_padded:
        return out, placement
    if pad == "edge":
        lead = out.shape[:-2]
        flat = out.reshape(1, -1, *out.shape[-2:])  # replicate padding wants 3D/4D/5D input
        out = F.pad(flat, placement.padding, mode="replicate").reshape(*lead, dst_h, dst_w)
    else:
        value = white if pad == "white" else black
        out = F.pad(out, placement.padding, mode="constant", value=value)
    logger.debug("letterbox %s -> %s (%s padding)", tuple(x.shape), tuple(out.shape), pad)
    return out, placement
