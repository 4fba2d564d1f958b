"""Sliding-window colorization of a stream of frames, with memory bounded by one window.

``Colorizer(session).run(frames, options, cancel)`` reads source frames as they come,
detects shot cuts on the way (``shots``), walks windows of ``options.window_frames``
frames (``windows.walk_windows``) through the model with the temporal state carried from
window to window inside a shot (reset at cuts), cross-fades a*b* over the frames
neighbouring windows share, and yields for every frame the source's own luma untouched
plus full-resolution chroma computed from the predicted a*b*.

A colorizer keeps nothing between runs: everything a run learns (cuts, time in the model,
the pass length after a GPU out-of-memory) is in that run's ``RunReport``.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from flowchroma_core.colour import lab
from flowchroma_core.colour.ycbcr import LUMA_COEFFICIENTS, Matrix
from flowchroma_core.errors import CancelToken
from flowchroma_core.model.device import autocast
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.framing import Placement, letterbox
from flowchroma_core.pipeline.options import ColorizeOptions, OptionsError
from flowchroma_core.pipeline.shots import CutDetector
from flowchroma_core.pipeline.windows import Window, fade_weights, walk_windows

logger = logging.getLogger(__name__)


class SourceFrame(Protocol):
    """What the colorizer needs of a decoded frame (``video.reader.Frame`` has it)."""

    index: int
    time: Fraction
    luma: np.ndarray

    def gray(self) -> np.ndarray: ...


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
class RunReport:
    """What one run found out, filled in as its frames come out."""

    frames: int = 0
    cuts: list[int] = field(default_factory=list)  # source frame indexes that start a shot
    model_seconds: float = 0.0  # time inside the network, for benchmarks
    sub_clip: int = 0  # frames per forward pass; below window_frames after GPU out-of-memory


class ColorizeRun(Iterator[ColorFrame]):
    """The colorized frames of one run, in order, with the run's ``report``."""

    def __init__(self, frames: Iterator[ColorFrame], report: RunReport) -> None:
        self._frames = frames
        self.report = report

    def __iter__(self) -> ColorizeRun:
        return self

    def __next__(self) -> ColorFrame:
        return next(self._frames)

    def close(self) -> None:
        """Stop early (releases the source iterator's ``finally`` blocks)."""
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


@dataclass
class _Pending:
    frame: SourceFrame
    l: Tensor  # (1, h, w) model input, L scaled to [-1, 1], letterboxed
    placement: Placement
    shot_start: bool = False
    features: Tensor | None = None


class Colorizer:
    """Turns source frames into colorized frames with one ``ModelSession``; stateless."""

    def __init__(self, session: ModelSession) -> None:
        self.session = session

    def run(
        self,
        frames: Iterable[SourceFrame],
        options: ColorizeOptions,
        cancel: CancelToken | None = None,
    ) -> ColorizeRun:
        """Colorize ``frames`` with ``options``; the first frame starts a shot."""
        if options.precision != self.session.precision:
            raise OptionsError(
                f"options ask for {options.precision} but the model session runs "
                f"{self.session.precision}; use session.with_precision"
            )
        report = RunReport(sub_clip=options.window_frames)
        return ColorizeRun(_Run(self.session, options, report).frames(frames, cancel), report)


class _Run:
    """The state of one run; lives as long as the run's generator."""

    def __init__(self, session: ModelSession, options: ColorizeOptions, report: RunReport) -> None:
        self.model = session.model
        self.device = session.device
        self.precision = session.precision
        self.options = options
        self.report = report

    def frames(
        self, frames: Iterable[SourceFrame], cancel: CancelToken | None
    ) -> Iterator[ColorFrame]:
        options = self.options
        source = iter(frames)
        buffer: list[_Pending] = []  # buffer[0] is stream position `base`
        base = 0
        detector = (
            CutDetector(threshold=options.cut_threshold) if options.detects_cuts else None
        )
        cut_positions: list[int] = []
        eof = False

        def shot_end(start: int) -> int:
            """Read up to two frames past the window starting at ``start`` (cuts are
            decided one frame late, and a cut right after the window decides whether the
            next one carries state); where its shot ends."""
            nonlocal eof, base
            if cancel is not None:
                cancel.check()
            del buffer[: start - base]
            base = start
            while not eof and base + len(buffer) < start + options.window_frames + 2:
                frame = next(source, None)
                if frame is None:
                    eof = True
                    break
                gray = frame.gray()
                position = base + len(buffer)
                buffer.append(_Pending(frame, *self._model_input(gray)))
                if detector is not None and (cut := detector.push(gray, position)) is not None:
                    cut_positions.append(cut)
            available = base + len(buffer)
            later = [c for c in cut_positions if c > start]
            return min(later[0] if later else available, available)

        state: Any = None  # the model's temporal state: opaque here
        tail: Tensor | None = None  # previous window's a*b* over the shared frames
        for window in walk_windows(options, shot_end):
            items = buffer[window.start - base : window.stop - base]
            if window.reset:
                state, tail = None, None
                items[0].shot_start = True
                if window.start > 0:
                    self.report.cuts.append(items[0].frame.index)
            if not options.carry_state:
                state = None
            ab, state = self._run_window(items, window, state)
            if window.fade:
                w = fade_weights(window.fade)
                w_t = torch.from_numpy(w).to(ab)[:, None, None, None]
                faded = (1 - w_t) * tail + w_t * ab[: window.fade]
                ab = torch.cat([faded, ab[window.fade :]])
            tail = ab[window.carry_at :].clone() if window.carry_at is not None else None
            for offset, item in enumerate(items[: window.emit_stop - window.start]):
                self.report.frames += 1
                yield self._finish(item, ab[offset])

    # ------------------------------------------------------------------ per frame

    def _model_input(self, gray: np.ndarray) -> tuple[Tensor, Placement]:
        """Full-resolution grey (H, W) in [0, 1] -> letterboxed model input (1, h, w)."""
        cfg = self.model.config
        g = torch.from_numpy(np.ascontiguousarray(gray)).to(self.device, torch.float32)
        l = lab.normalize_l(lab.gray_to_lightness(g))[None]
        return letterbox(
            l, cfg.input_height, cfg.input_width, pad=self.options.padding, white=1.0, black=-1.0
        )

    def _finish(self, item: _Pending, ab: Tensor) -> ColorFrame:
        """Model a*b* (2, h, w) + the source's own L* at full resolution -> chroma planes."""
        placement = item.placement
        matrix = self.options.matrix
        gray = torch.from_numpy(np.ascontiguousarray(item.frame.gray())).to(self.device)
        lightness = lab.gray_to_lightness(gray)[None]
        ab_full = lab.denormalize_ab(placement.restore(ab.float(), mode="bilinear"))
        rgb = lab.lab_to_rgb(torch.cat([lightness, ab_full]), clip=True)
        cb, cr = limit_chroma(gray, *chroma_from_rgb(rgb, matrix), matrix)
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

    def _run_window(self, items: list[_Pending], window: Window, state: Any) -> tuple[Tensor, Any]:
        """Run one window; on CUDA out-of-memory split it into shorter passes (exact)."""
        begin = time.perf_counter()
        while True:
            try:
                result = self._forward(items, window, state)
                break
            except torch.cuda.OutOfMemoryError:
                if self.report.sub_clip == 1:
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self.report.sub_clip = max(1, self.report.sub_clip // 2)
                logger.warning(
                    "GPU out of memory: continuing with %d frames per pass (same result, slower)",
                    self.report.sub_clip,
                )
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.report.model_seconds += time.perf_counter() - begin
        return result

    @torch.inference_mode()
    def _forward(self, items: list[_Pending], window: Window, state: Any) -> tuple[Tensor, Any]:
        cfg = self.model.config
        sub_clip = self.report.sub_clip
        mask = items[0].placement.valid_mask(
            cfg.input_height, cfg.input_width, device=self.device
        )[None]
        missing = [it for it in items if it.features is None]
        with autocast(self.device, self.precision):
            for i in range(0, len(missing), sub_clip):
                chunk = missing[i : i + sub_clip]
                l = torch.stack([it.l for it in chunk])[None]
                for it, f in zip(chunk, self.model.backbone_features(l)[0], strict=True):
                    it.features = f
            # pass boundaries: every sub_clip frames, and where the next window starts, so
            # the state to carry on with is the state at the end of a pass
            bounds = sorted(
                {*range(0, len(items), sub_clip), len(items)}
                | ({window.carry_at} if window.carry_at is not None else set())
            )
            outputs: list[Tensor] = []
            carried: Any = None
            for lo, hi in itertools.pairwise(bounds):
                chunk = items[lo:hi]
                l = torch.stack([it.l for it in chunk])[None]
                feats = torch.stack([it.features for it in chunk])[None]
                ab, state = self.model(
                    l, features=feats, mask=mask, state=state, vividness=self.options.vividness
                )
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
