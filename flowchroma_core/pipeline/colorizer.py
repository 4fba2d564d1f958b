"""Sliding-window colorization of a stream of frames, with memory bounded by one clip.

The ``Colorizer`` owns the model and its device. It reads source frames as they come,
detects shot cuts on the way, runs clips of ``clip_length`` frames through the model with
the LSTM state carried from clip to clip inside a shot (reset at cuts), cross-fades a*b*
over the frames neighbouring clips share, and yields for every frame the source's own
luma untouched plus full-resolution chroma computed from the predicted a*b*.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from flowchroma_core.colour import lab
from flowchroma_core.colour.ycbcr import LUMA_COEFFICIENTS, Matrix
from flowchroma_core.errors import Cancelled
from flowchroma_core.model.device import autocast, check_precision
from flowchroma_core.model.network import FlowChroma, LSTMState
from flowchroma_core.pipeline.framing import Placement, letterbox
from flowchroma_core.pipeline.shots import CutDetector, thumbnail
from flowchroma_core.pipeline.windows import Window, fade_weights, next_start, plan_window

logger = logging.getLogger(__name__)


class SourceFrame(Protocol):
    """What the colorizer needs of a decoded frame (``video_reader.Frame`` has it)."""

    index: int
    time: Fraction
    luma: np.ndarray

    def gray(self) -> np.ndarray: ...


class CancelToken:
    """Set from any thread; the colorizer checks it between clips."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class ColorFrame:
    """A colorized frame: the source's luma codes untouched, chroma in [-0.5, 0.5]."""

    index: int
    time: Fraction
    luma: np.ndarray
    cb: np.ndarray
    cr: np.ndarray
    shot_start: bool
    ab: np.ndarray  # a*b* at the model's resolution, padding cropped (2, h, w): for metrics


@dataclass
class _Pending:
    frame: SourceFrame
    l: Tensor  # (1, h, w) model input, L scaled to [-1, 1], letterboxed
    shot_start: bool = False
    features: Tensor | None = None


class Colorizer:
    """Turns source frames into colorized frames; see the module docstring."""

    def __init__(
        self,
        model: FlowChroma,
        *,
        device: torch.device,
        precision: str = "fp32",
        padding: str = "white",
        clip_length: int = 16,
        overlap: int = 0,
        cut_threshold: float = 0.35,
        matrix: Matrix = "bt709",
        carry_state: bool = True,
    ) -> None:
        """``carry_state=False`` restarts the LSTM at every clip (no overlap): the naive
        baseline the seam and per-frame measurements compare against."""
        if not 0 <= overlap < clip_length:
            raise ValueError(f"overlap must be in 0..{clip_length - 1}, got {overlap}")
        self.model = model.to(device).eval()
        self.device = device
        self.precision = check_precision(precision, device)
        self.padding = padding
        self.clip_length = clip_length
        self.overlap = overlap
        self.cut_threshold = cut_threshold
        self.matrix = matrix
        self.carry_state = carry_state
        self.sub_clip = clip_length  # frames per forward pass; shrinks on GPU out-of-memory
        self.model_seconds = 0.0  # time inside the network, for benchmarks
        self.cuts: list[int] = []  # source frame indexes that start a shot
        self._placement: Placement | None = None

    # ------------------------------------------------------------------ streaming

    def colorize(
        self, frames: Iterable[SourceFrame], *, cancel: CancelToken | None = None
    ) -> Iterator[ColorFrame]:
        """Yield colorized frames in order; the first frame starts a shot."""
        source = iter(frames)
        buffer: list[_Pending] = []  # buffer[0] is stream position `base`
        base = 0
        detector = CutDetector(threshold=self.cut_threshold) if self.cut_threshold > 0 else None
        cut_positions: list[int] = []
        eof = False
        start, reset = 0, True
        state: LSTMState | None = None
        tail: Tensor | None = None  # previous clip's a*b* over the shared frames

        def fill(upto: int) -> None:
            nonlocal eof
            while not eof and base + len(buffer) < upto:
                frame = next(source, None)
                if frame is None:
                    eof = True
                    break
                gray = frame.gray()
                buffer.append(_Pending(frame, self._model_input(gray)))
                if detector is not None and (cut := detector.push(thumbnail(gray))) is not None:
                    cut_positions.append(cut)

        while True:
            if cancel is not None:
                cancel.check()
            # cuts are decided one frame late, and a cut right after the clip decides
            # whether the next clip carries state: read two frames past the clip.
            fill(start + self.clip_length + 2)
            available = base + len(buffer)
            if start >= available:
                break
            later = [c for c in cut_positions if c > start]
            limit = min(later[0] if later else available, available)
            window = plan_window(
                start,
                reset=reset,
                limit=limit,
                clip_length=self.clip_length,
                overlap=self.overlap if self.carry_state else 0,
            )
            items = buffer[window.start - base : window.stop - base]
            if window.reset:
                state, tail = None, None
                items[0].shot_start = True
                if window.start > 0:
                    self.cuts.append(items[0].frame.index)
            if not self.carry_state:
                state = None
            ab, state = self._run_window(items, window, state)
            if window.fade:
                w = fade_weights(window.fade)
                w_t = torch.from_numpy(w).to(ab)[:, None, None, None]
                faded = (1 - w_t) * tail + w_t * ab[: window.fade]
                ab = torch.cat([faded, ab[window.fade :]])
            tail = ab[window.carry_at :].clone() if window.carry_at is not None else None
            for offset, item in enumerate(items[: window.emit_stop - window.start]):
                yield self._finish(item, ab[offset])
            start, reset = next_start(window)
            del buffer[: start - base]
            base = start

    # ------------------------------------------------------------------ per frame

    def _model_input(self, gray: np.ndarray) -> Tensor:
        """Full-resolution grey (H, W) in [0, 1] -> letterboxed model input (1, h, w)."""
        cfg = self.model.config
        g = torch.from_numpy(np.ascontiguousarray(gray)).to(self.device, torch.float32)
        l = lab.normalize_l(lab.gray_to_lightness(g))[None]
        fitted, placement = letterbox(
            l, cfg.input_height, cfg.input_width, pad=self.padding, white=1.0, black=-1.0
        )
        self._placement = placement
        return fitted

    def _finish(self, item: _Pending, ab: Tensor) -> ColorFrame:
        """Model a*b* (2, h, w) + the source's own L* at full resolution -> chroma planes."""
        placement = self._placement
        assert placement is not None
        gray = torch.from_numpy(np.ascontiguousarray(item.frame.gray())).to(self.device)
        lightness = lab.gray_to_lightness(gray)[None]
        ab_full = lab.denormalize_ab(placement.restore(ab.float(), mode="bilinear"))
        rgb = lab.lab_to_rgb(torch.cat([lightness, ab_full]), clip=True)
        cb, cr = limit_chroma(gray, *chroma_from_rgb(rgb, self.matrix), self.matrix)
        return ColorFrame(
            index=item.frame.index,
            time=item.frame.time,
            luma=item.frame.luma,
            cb=cb.cpu().numpy(),
            cr=cr.cpu().numpy(),
            shot_start=item.shot_start,
            ab=placement.crop(ab.float()).cpu().numpy(),
        )

    # ------------------------------------------------------------------ the network

    def _run_window(
        self, items: list[_Pending], window: Window, state: LSTMState | None
    ) -> tuple[Tensor, LSTMState]:
        """Run one clip; on CUDA out-of-memory split it into shorter sub-clips (exact)."""
        begin = time.perf_counter()
        while True:
            try:
                result = self._forward(items, window, state)
                break
            except torch.cuda.OutOfMemoryError:
                if self.sub_clip == 1:
                    raise
                torch.cuda.empty_cache()
                self.sub_clip = max(1, self.sub_clip // 2)
                logger.warning(
                    "GPU out of memory: continuing with %d frames per pass (same result, slower)",
                    self.sub_clip,
                )
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.model_seconds += time.perf_counter() - begin
        return result

    @torch.inference_mode()
    def _forward(
        self, items: list[_Pending], window: Window, state: LSTMState | None
    ) -> tuple[Tensor, LSTMState]:
        placement = self._placement
        assert placement is not None
        cfg = self.model.config
        mask = placement.valid_mask(cfg.input_height, cfg.input_width, device=self.device)[None]
        missing = [it for it in items if it.features is None]
        with autocast(self.device, self.precision):
            for i in range(0, len(missing), self.sub_clip):
                chunk = missing[i : i + self.sub_clip]
                l = torch.stack([it.l for it in chunk])[None]
                for it, f in zip(chunk, self.model.backbone_features(l)[0], strict=True):
                    it.features = f
            # pass boundaries: every sub_clip frames, and where the next clip starts, so the
            # state to carry on with is the state at the end of a pass
            bounds = sorted(
                {*range(0, len(items), self.sub_clip), len(items)}
                | ({window.carry_at} if window.carry_at is not None else set())
            )
            outputs: list[Tensor] = []
            carried: LSTMState | None = None
            for lo, hi in itertools.pairwise(bounds):
                chunk = items[lo:hi]
                l = torch.stack([it.l for it in chunk])[None]
                feats = torch.stack([it.features for it in chunk])[None]
                ab, state = self.model(l, features=feats, mask=mask, state=state)
                if hi == window.carry_at:
                    carried = state
                outputs.append(ab[0].float())
        return torch.cat(outputs), carried if carried is not None else state


def limit_chroma(y: Tensor, cb: Tensor, cr: Tensor, matrix: Matrix) -> tuple[Tensor, Tensor]:
    """Scale (Cb, Cr) down where the source's luma ``y`` (full range, [0, 1]) plus that
    chroma would leave the RGB cube, so that no channel needs clipping when decoded.

    The source's luma is kept as it is; without this a black or white area would be decoded
    with a tint (black with a* > 0 comes out dark red) because one channel clips and the
    others do not. Hue is kept; only saturation is reduced, and only where it must be.
    """
    kr, kb = LUMA_COEFFICIENTS[matrix]
    kg = 1 - kr - kb
    dr = 2 * (1 - kr) * cr  # R - Y
    db = 2 * (1 - kb) * cb  # B - Y
    dg = -(kr * dr + kb * db) / kg  # G - Y
    scale = torch.ones_like(y)
    for d in (dr, dg, db):
        room = torch.where(d > 0, 1 - y, y).clamp(min=0)
        scale = torch.minimum(scale, room / d.abs().clamp(min=1e-12))
    return cb * scale, cr * scale


def chroma_from_rgb(rgb: Tensor, matrix: Matrix) -> tuple[Tensor, Tensor]:
    """Cb and Cr in [-0.5, 0.5] of non-linear RGB (3, H, W) for a luma matrix."""
    kr, kb = LUMA_COEFFICIENTS[matrix]
    r, g, b = rgb.unbind(0)
    y = kr * r + (1 - kr - kb) * g + kb * b
    return (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
