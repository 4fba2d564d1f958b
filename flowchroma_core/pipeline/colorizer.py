"""Sliding-window colorization of a stream of frames, with memory bounded by one window.

``Colorizer(session).run(frames, options, cancel)`` reads source frames as they come,
detects shot cuts on the way (``shots``), walks windows of ``options.window_frames``
frames (``windows.walk_windows``) through the model with the temporal state carried from
window to window inside a shot (reset at cuts), cross-fades a*b* over the frames
neighbouring windows share, and yields for every frame the source's own luma untouched
plus full-resolution chroma computed from the predicted a*b*.

A run may be given the restorer's guidance (``guidance.film.Guidance``, a run input beside
the options): each window then also hands the network the hint maps of its frames and its
shot's reference stills (``guided.WindowGuide``); the guidance's shot boundaries are cuts
too, and where the guidance carried colour along the flow the emitted frames are steadied
along it (``steady.Steadier``). Guidance for a model without guidance inputs is refused
before any frame is read.

A colorizer keeps nothing between runs: everything a run learns (cuts, time in the model,
the pass length after a GPU out-of-memory) is in that run's ``RunReport``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import Tensor

from flowchroma_core.colour import lab
from flowchroma_core.colour.ycbcr_torch import chroma_from_rgb, limit_chroma
from flowchroma_core.errors import CancelToken, ModelOutputError
from flowchroma_core.model.device import autocast
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.checkpoints import Checkpoint, to_device
from flowchroma_core.pipeline.framing import Placement, letterbox
from flowchroma_core.pipeline.guided import WindowGuide, pass_kwargs
from flowchroma_core.pipeline.options import ColorizeOptions, OptionsError
from flowchroma_core.pipeline.shots import CutDetector
from flowchroma_core.pipeline.steady import Steadier
from flowchroma_core.pipeline.windows import Window, fade_weights, walk_windows
from flowchroma_core.video.info import Frame

if TYPE_CHECKING:
    from flowchroma_core.pipeline.batching import PassBatcher
    from flowchroma_core.pipeline.guided import GuidanceSource

logger = logging.getLogger(__name__)


class SourceFrame(Protocol):
    """What the colorizer needs of a decoded frame (``video.reader.Frame`` has it)."""

    index: int
    time: Fraction
    luma: np.ndarray

    def gray(self) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class ColorFrame:
    """A colorized frame: the source's luma codes untouched, chroma in [-0.5, 0.5].

    The full-resolution chroma is computed when first asked for (``cb``, ``cr`` or
    ``chroma``), on the thread that asks: in an export that is the writer thread, so the
    per-frame maths overlaps the model's next window instead of following it
    (``docs/throughput.md``). It is computed once and kept; the formula is
    ``_Run._finish``'s wherever it runs.
    """

    index: int
    time: Fraction
    luma: np.ndarray
    shot_start: bool
    ab: np.ndarray  # a*b* at the model's resolution, padding cropped (2, h, w): for metrics
    make_chroma: Callable[[], np.ndarray] = field(repr=False)  # -> (2, H, W) Cb, Cr

    @functools.cached_property
    def chroma(self) -> np.ndarray:
        """Cb and Cr at the luma's size, (2, H, W) float32 in [-0.5, 0.5]."""
        return self.make_chroma()

    @property
    def cb(self) -> np.ndarray:
        return self.chroma[0]

    @property
    def cr(self) -> np.ndarray:
        return self.chroma[1]


@dataclass
class RunReport:
    """What one run found out, filled in as its frames come out."""

    frames: int = 0
    cuts: list[int] = field(default_factory=list)  # source frame indexes that start a shot
    model_seconds: float = 0.0  # time inside the network, for benchmarks
    sub_clip: int = 0  # frames per forward pass; below window_frames after GPU out-of-memory
    guided_windows: int = 0  # windows given hints or reference stills
    steadied_frames: int = 0  # frames pulled towards the one before (steady.Steadier)


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

    def __init__(self, session: ModelSession, *, batcher: PassBatcher | None = None) -> None:
        """``batcher``: share forward passes with the runs of other threads (shots side by
        side, ``batching.py``); each run must then be inside ``batcher.member()``."""
        self.session = session
        self.batcher = batcher

    def run(
        self,
        frames: Iterable[SourceFrame],
        options: ColorizeOptions,
        cancel: CancelToken | None = None,
        *,
        guidance: GuidanceSource | None = None,
        resume: Checkpoint | None = None,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
        states_only: bool = False,
        shot_start: int | None = None,
    ) -> ColorizeRun:
        """Colorize ``frames`` with ``options``; the first frame starts a shot.

        ``guidance``: the restorer's points and stills for this film (frame numbers are the
        frames' own ``index``); ``GuidanceModelError`` at once if the model cannot take it.
        ``resume``: the first frame is instead the window boundary ``resume.frame`` inside
        the shot that started at ``resume.shot_start``, and the run goes on from the state
        recorded there: the same colours as a run from the shot's start.
        ``on_checkpoint``: called with a ``Checkpoint`` at every window boundary inside a
        shot. ``states_only``: run the network but yield no frames (``record_checkpoints``).
        ``shot_start``: the first frame lies inside the shot that starts at this frame and
        is colorized from a fresh state (the preview's approximate frame): the guidance of
        that whole shot (points and stills before the first frame) still reaches it.
        """
        if options.precision != self.session.precision:
            raise OptionsError(
                f"options ask for {options.precision} but the model session runs "
                f"{self.session.precision}; use session.with_precision"
            )
        guide = None
        if guidance is not None:
            guide = WindowGuide(guidance, self.session.model, self.session.device)
        report = RunReport(sub_clip=options.window_frames)
        run = _Run(self.session, options, report, guide)
        run.batcher = self.batcher
        run.resume, run.on_checkpoint, run.states_only = resume, on_checkpoint, states_only
        run.shot_start = shot_start
        return ColorizeRun(run.frames(frames, cancel), report)


@contextlib.contextmanager
def checked_inside(model: torch.nn.Module, cancel: CancelToken | None) -> Iterator[None]:
    """``cancel`` checked before every layer the model runs on this thread.

    A window's forward pass is seconds on a CPU; a run cancelled in it (the preview when
    the restorer clicks elsewhere) then stops within one layer instead of after the whole
    window. Other threads running the same model (an export beside the preview) are not
    checked. A pass stopped half-way leaves nothing behind: the run's generator ends.
    """
    if cancel is None:
        yield
        return
    owner = threading.get_ident()

    def check(_module: torch.nn.Module, _args: object) -> None:
        if threading.get_ident() == owner:
            cancel.check()

    handles = [m.register_forward_pre_hook(check) for m in model.modules()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class _Run:
    """The state of one run; lives as long as the run's generator."""

    def __init__(
        self,
        session: ModelSession,
        options: ColorizeOptions,
        report: RunReport,
        guide: WindowGuide | None = None,
    ) -> None:
        self.model = session.model
        self.device = session.device
        self.precision = session.precision
        self.options = options
        self.report = report
        self.guide = guide
        self.resume: Checkpoint | None = None
        self.on_checkpoint: Callable[[Checkpoint], None] | None = None
        self.states_only = False
        self.shot_start: int | None = None
        self.cancel: CancelToken | None = None
        self.batcher: PassBatcher | None = None
        self._grey_tables: dict[tuple[str, int, str], Tensor] = {}  # see _grey

    def frames(
        self, frames: Iterable[SourceFrame], cancel: CancelToken | None
    ) -> Iterator[ColorFrame]:
        self.cancel = cancel
        options = self.options
        source = iter(frames)
        buffer: list[_Pending] = []  # buffer[0] is stream position `base`
        base = 0
        detector = CutDetector(threshold=options.cut_threshold) if options.detects_cuts else None
        cut_positions: list[int] = []
        forced = self.guide.cut_frames if self.guide is not None else frozenset()
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
                buffer.append(_Pending(frame, *self._model_input(frame)))
                detected = detector.push(gray, position) if detector is not None else None
                # a shot of the guidance starting here is a cut too
                shot_starts = position if frame.index in forced and position > 0 else None
                for cut in (detected, shot_starts):
                    if cut is not None and cut not in cut_positions:
                        cut_positions.append(cut)
                        cut_positions.sort()
            available = base + len(buffer)
            later = [c for c in cut_positions if c > start]
            return min(later[0] if later else available, available)

        state: Any = None  # the model's temporal state: opaque here
        tail: Tensor | None = None  # previous window's a*b* over the shared frames
        shot_first = 0  # film frame number that started the current shot
        resume = self.resume
        steady = Steadier()  # a guided shot's colours, steadied along its flow
        if resume is not None:
            state = to_device(resume.state, self.device)
            tail = to_device(resume.tail, self.device)
            steady.state = to_device(resume.steady, self.device)
            shot_first = resume.shot_start
        for window in walk_windows(options, shot_end, reset=resume is None):
            items = buffer[window.start - base : window.stop - base]
            if window.reset:
                state, tail = None, None
                steady.reset()
                items[0].shot_start = True
                shot_first = items[0].frame.index
                if self.shot_start is not None:  # the first shot began before the frames
                    shot_first, self.shot_start = self.shot_start, None
                if window.start > 0:
                    self.report.cuts.append(items[0].frame.index)
            if not options.carry_state:
                state = None
            guided: dict[str, Tensor | None] = {}
            if self.guide is not None:
                later = [c for c in cut_positions if c >= window.stop]
                next_cut = None
                if later and later[0] - base < len(buffer):
                    next_cut = buffer[later[0] - base].frame.index
                guided = self.guide.kwargs(
                    [it.frame.index for it in items], shot_start=shot_first, next_cut=next_cut
                )
                if any(v is not None for v in guided.values()):
                    self.report.guided_windows += 1
            ab, state = self._run_window(items, window, state, guided)
            if window.fade:
                w = fade_weights(window.fade)
                w_t = torch.from_numpy(w).to(ab)[:, None, None, None]
                faded = (1 - w_t) * tail + w_t * ab[: window.fade]
                ab = torch.cat([faded, ab[window.fade :]])
            tail = ab[window.carry_at :].clone() if window.carry_at is not None else None
            emitted = items[: window.emit_stop - window.start]
            finals = [ab[i] for i in range(len(emitted))]
            if self.guide is not None:  # along the flow the guidance carried colour on
                motion = self.guide.motion
                finals = [
                    steady(it.frame.index, a, it.l, it.placement, motion.get(it.frame.index))
                    for it, a in zip(emitted, finals, strict=True)
                ]
                self.report.steadied_frames = steady.steadied
            if self.on_checkpoint is not None and window.carry_at is not None:
                after = buffer[window.start + window.carry_at - base].frame.index
                self.on_checkpoint(Checkpoint(after, shot_first, state, tail, steady.state))
            if self.states_only:
                self.report.frames += len(emitted)
                continue
            for item, final in zip(emitted, finals, strict=True):
                self.report.frames += 1
                yield self._finish(item, final)

    # ------------------------------------------------------------------ per frame

    def _grey(self, frame: SourceFrame) -> tuple[Tensor, Tensor]:
        """The source's grey in [0, 1] and its L* at full resolution, (H, W) each, on the
        model's device, where the rest of the per-frame maths runs.

        Both depend on the luma code alone, so for integer luma they are looked up in a
        table of every code, made once per run by the frame's own ``gray()`` and
        ``lab.gray_to_lightness`` (the one implementation of each): one byte per pixel goes
        to the device and one gather replaces the transfer function and cube root per pixel.
        """
        luma = frame.luma
        tabled = type(frame).gray is Frame.gray  # a reader's frame: gray() reads luma only
        if not (tabled and luma.dtype in (np.uint8, np.uint16)):
            gray = torch.from_numpy(np.ascontiguousarray(frame.gray())).to(self.device)
            return gray.float(), lab.gray_to_lightness(gray)
        key = (luma.dtype.str, getattr(frame, "bit_depth", 0), getattr(frame, "color_range", ""))
        table = self._grey_tables.get(key)
        if table is None:
            codes = np.arange(np.iinfo(luma.dtype).max + 1, dtype=luma.dtype)[None]
            every = dataclasses.replace(frame, luma=codes).gray()[0]  # type: ignore[type-var]
            grey = torch.from_numpy(np.ascontiguousarray(every, dtype=np.float32))
            table = torch.stack([grey, lab.gray_to_lightness(grey)]).to(self.device)
            self._grey_tables[key] = table
        codes = torch.from_numpy(np.ascontiguousarray(luma)).to(self.device).int()
        gray, lightness = table.index_select(1, codes.flatten()).view(2, *luma.shape)
        return gray, lightness

    def _model_input(self, frame: SourceFrame) -> tuple[Tensor, Placement]:
        """A source frame -> its letterboxed model input (1, h, w), L* scaled to [-1, 1]."""
        cfg = self.model.config
        l = lab.normalize_l(self._grey(frame)[1])[None]
        return letterbox(
            l, cfg.input_height, cfg.input_width, pad=self.options.padding, white=1.0, black=-1.0
        )

    def _finish(self, item: _Pending, ab: Tensor) -> ColorFrame:
        """The colorized frame of ``item`` from its model a*b* (2, h, w); its chroma is
        made when first asked for (``_chroma``)."""
        return ColorFrame(
            index=item.frame.index,
            time=item.frame.time,
            luma=item.frame.luma,
            shot_start=item.shot_start,
            ab=item.placement.crop(ab.float()).cpu().numpy(),
            make_chroma=functools.partial(self._chroma, item.frame, item.placement, ab),
        )

    def _chroma(self, frame: SourceFrame, placement: Placement, ab: Tensor) -> np.ndarray:
        """Model a*b* (2, h, w) + the source's own L* at full resolution -> Cb, Cr planes
        (2, H, W), computed on the model's device and copied back in one transfer.

        Runs on whichever thread first asks for the frame's chroma; it reads nothing the
        run changes afterwards (``ab`` is never written to once yielded).
        """
        matrix = self.options.matrix
        with torch.inference_mode():
            gray, lightness = self._grey(frame)
            ab_full = lab.denormalize_ab(placement.restore(ab.float(), mode="bilinear"))
            rgb = lab.lab_to_rgb(torch.cat([lightness[None], ab_full]), clip=True)
            cb, cr = limit_chroma(gray, *chroma_from_rgb(rgb, matrix), matrix)
            return torch.stack([cb, cr]).cpu().numpy()

    # ------------------------------------------------------------------ the network

    def _run_window(
        self,
        items: list[_Pending],
        window: Window,
        state: Any,
        guided: dict[str, Tensor | None] | None = None,
    ) -> tuple[Tensor, Any]:
        """Run one window; on CUDA out-of-memory split it into shorter passes (exact)."""
        begin = time.perf_counter()
        while True:
            try:
                # runs sharing a batcher share passes: cancel is checked between windows
                checked = self.cancel if self.batcher is None else None
                with checked_inside(self.model, checked):
                    result = self._forward(items, window, state, guided or {})
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
        if not bool(torch.isfinite(result[0]).all()):  # one cheap check per clip
            raise ModelOutputError(
                f"the model produced NaN or infinite colours for frames "
                f"{items[0].frame.index}..{items[-1].frame.index}: its weights (or the "
                f"{self.precision} precision) are unusable; try another model or fp32"
            )
        return result

    @torch.inference_mode()
    def _forward(
        self,
        items: list[_Pending],
        window: Window,
        state: Any,
        guided: dict[str, Tensor | None],
    ) -> tuple[Tensor, Any]:
        cfg = self.model.config
        sub_clip = self.report.sub_clip
        placement = items[0].placement
        mask = placement.valid_mask(cfg.input_height, cfg.input_width, device=self.device)[None]
        missing = [it for it in items if it.features is None]
        # runs sharing a batcher ask it for the backbone and the network (batching.py)
        backbone = self.batcher.features if self.batcher else self.model.backbone_features
        network = self.batcher.forward if self.batcher else self.model
        with autocast(self.device, self.precision):
            for i in range(0, len(missing), sub_clip):
                chunk = missing[i : i + sub_clip]
                l = torch.stack([it.l for it in chunk])[None]
                for it, f in zip(chunk, backbone(l)[0], strict=True):
                    it.features = f
            if self.guide is not None and guided:  # stills of other content, as hints
                guided = self.guide.with_matches(torch.stack([it.features for it in items]), guided)
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
                extra = pass_kwargs(guided, lo, hi) if guided else {}
                ab, state = network(
                    l,
                    features=feats,
                    mask=mask,
                    state=state,
                    vividness=self.options.vividness,
                    **extra,
                )
                if hi == window.carry_at:
                    carried = state
                outputs.append(ab[0].float())
        return torch.cat(outputs), carried if carried is not None else state
