"""Preview colorization that agrees exactly with an export; no Qt here.

The colorizer carries its LSTM state from the start of a shot, so frame ``f`` is previewed
the way an export produces it: colorize the source from ``s``, the start of the shot that
holds ``f`` (the last cut at or before ``f``; the start of the export range if that is
later), clip after clip, until ``f`` comes out. The shot's end is the next cut (or the end
of the range), so the clips are the export's clips. Cuts come from one background scan of
the film (``ShotMap``), the same detector the export runs; the preview's own colorizer
does not detect cuts, it stops at the scan's.

A stream that produced frames up to ``f`` is kept: a later request in the same shot, at
or after where it stopped, continues it instead of starting over (stepping and playing
forward cost one clip at a time). A jump starts at the latest state checkpoint at or
before ``f`` in its shot when one is recorded (by the background pass,
``preview_checkpoints.checkpoint_film``, or by an earlier stream;
``pipeline.checkpoints``): the run resumed there gives the export's colours bit for bit
at a cost of at most one window. Until the exact frame is ready, the frame colorized
alone (fresh state, with the points and stills of its shot carried to it) is sent as
``PreviewApproximate``. A guidance edit or a change of settings stops the window in
progress within a layer (``_StreamCancel``). Every frame that comes out is converted to
8-bit RGB for display and cached (``PreviewCache``, bounded by bytes, least recently
used first out), keyed by everything that decides its colours (``PreviewKey``: the film,
the shot, the range and the ``ColorizeOptions``), so changing the settings or the range
never shows a stale picture.

Everything here runs on the preview thread except the cache and the key maths, which the
GUI thread uses too; torch and PyAV are only imported inside the functions that the
worker thread calls.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from flowchroma_core.colour.ycbcr import luma_to_float, rgb_to_codes, ycbcr_to_rgb
from flowchroma_core.errors import Cancelled, CancelToken, FlowChromaError
from flowchroma_gui.model_host import HostStatus, ModelHost

if TYPE_CHECKING:
    from flowchroma_core.model.session import ModelSession
    from flowchroma_core.pipeline.checkpoints import Checkpoint, CheckpointStore
    from flowchroma_core.pipeline.colorizer import ColorFrame, ColorizeRun
    from flowchroma_core.pipeline.options import ColorizeOptions
    from flowchroma_core.settings import Settings
    from flowchroma_core.video.reader import Frame, VideoReader
    from flowchroma_gui.preview_checkpoints import CheckpointBank
    from flowchroma_gui.qthreading import JobContext
    from flowchroma_gui.shot_map import ShotMap

logger = logging.getLogger(__name__)

# About 600 frames of 640x360, 60 of 2K: the cache gives memory back before the user notices.
DEFAULT_CACHE_BYTES = 400 * 2**20


# ---------------------------------------------------------------------------------------
# Display conversions (8-bit, for the screen only; the export never goes through these)


def gray_display(frame: Frame) -> np.ndarray:
    """A source frame as 8-bit grey (H, W): black 0, white 255, rounded."""
    return rgb_to_codes(frame.gray(), 8)


def color_display(
    frame: ColorFrame, *, bit_depth: int, color_range: str, matrix: str
) -> np.ndarray:
    """A colorized frame as 8-bit RGB (H, W, 3): the source's luma with the new chroma."""
    y = luma_to_float(frame.luma, bit_depth, color_range)  # type: ignore[arg-type]
    rgb = ycbcr_to_rgb(y, frame.cb, frame.cr, matrix)  # type: ignore[arg-type]
    return rgb_to_codes(rgb, 8)


# ---------------------------------------------------------------------------------------
# Keys


@dataclass(frozen=True)
class PreviewKey:
    """Everything that decides a previewed frame's colours."""

    film: str
    frame: int
    shot_start: int
    range_stop: int
    options: ColorizeOptions  # matrix left at its default: the film decides it
    guidance: str = ""  # the guidance's revision ("" = unguided)


def preview_key(
    frame: int,
    *,
    film: str,
    cuts: tuple[int, ...] | list[int],
    frame_count: int,
    export_range: tuple[int, int] | None,
    settings: Settings,
    guidance: str = "",
) -> PreviewKey:
    """The key of ``frame``: its shot start and the end of the range it is exported in.

    Inside the export range (in/out points) a frame is previewed as that export makes it:
    the range's first frame starts a shot and its end stops the last clip. Outside, as an
    export of the whole film.
    """
    start, stop = export_range if export_range is not None else (0, frame_count)
    if not start <= frame < stop:
        start, stop = 0, frame_count
    i = bisect.bisect_right(cuts, frame) - 1
    shot = cuts[i] if i >= 0 else 0
    return PreviewKey(film, frame, max(shot, start), stop, settings.colorize_options(), guidance)


# ---------------------------------------------------------------------------------------
# Cache


class PreviewCache:
    """Display-ready RGB frames by key; least recently used out first; thread-safe."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[PreviewKey, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, key: PreviewKey) -> np.ndarray | None:
        with self._lock:
            image = self._items.get(key)
            if image is not None:
                self._items.move_to_end(key)
            return image

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key: PreviewKey, image: np.ndarray) -> None:
        image.setflags(write=False)  # shared with the GUI thread: nobody may change it
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = image
            self._bytes += image.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def snapshot(self) -> list[PreviewKey]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes


# ---------------------------------------------------------------------------------------
# The preview engine (runs on the preview thread)


@dataclass(frozen=True)
class PreviewRequest:
    """Colorize ``frame`` of ``path`` with ``settings``, as the export of ``export_range``
    (None: the whole film) would."""

    path: str
    frame: int
    settings: Settings
    shots: ShotMap
    export_range: tuple[int, int] | None = None
    guidance: GuidanceInput | None = None


@dataclass(frozen=True)
class GuidanceInput:
    """The restorer's guidance for a preview: a snapshot of the project (never edited
    after it is made), its folder (stills are relative to it) and its revision."""

    project: Any  # guidance.project.Project
    folder: str
    revision: str


@dataclass(frozen=True)
class PreviewActivity:
    """What the preview worker is doing, for the status line."""

    text: str


@dataclass(frozen=True)
class PreviewCached:
    """A frame was colorized and is in the cache."""

    key: PreviewKey


@dataclass(frozen=True)
class PreviewReady:
    """The requested frame is in the cache."""

    key: PreviewKey


@dataclass(frozen=True)
class PreviewApproximate:
    """The requested frame colorized alone (state reset): shown until the exact one comes."""

    key: PreviewKey
    image: np.ndarray  # (H, W, 3) uint8, read-only


@dataclass(frozen=True)
class PreviewHost:
    """The device and model the preview runs on."""

    status: HostStatus


@dataclass
class _Stream:
    """A colorization in progress through one shot, paused between requests."""

    signature: tuple[Any, ...]
    frames: ColorizeRun | Iterator[ColorFrame]
    source: Iterator[Frame]
    next_index: int
    ctx: JobContext | None = None
    info: dict[str, Any] = field(default_factory=dict)
    on_checkpoint: Callable[[Checkpoint], None] | None = None  # the store's ``put``
    colours: tuple[Any, ...] = ()  # ``_colours`` of the request that started it

    def close(self) -> None:
        for it in (self.frames, self.source):
            close = getattr(it, "close", None)
            if close is not None:
                close()


def _colours(request: PreviewRequest) -> tuple[Any, ...]:
    """What of a request decides the colours of every frame, beside the frame itself."""
    revision = request.guidance.revision if request.guidance is not None else ""
    return (request.path, request.settings, request.export_range, revision)


class _StreamCancel(CancelToken):
    """The stream's cancel check, inside the model's layers (``colorizer.checked_inside``).

    A cancelled request stops the window being computed only when the request waiting
    after it changes the colours (a guidance edit, other settings, another film): its
    window is of no use then, and the restorer's click is answered within a layer instead
    of a window. A request that only moves the frame (stepping, playing, scrubbing in the
    shot) lets the window finish, so the stream can go on from it.
    """

    def __init__(self, stream: _Stream, pending: Callable[[], Any]) -> None:
        super().__init__()
        self._stream = stream
        self._pending = pending

    @property
    def cancelled(self) -> bool:
        ctx = self._stream.ctx
        if ctx is None or not ctx.cancelled:
            return False
        waiting = self._pending()
        return waiting is not None and _colours(waiting) != self._stream.colours

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled()


class PreviewEngine:
    """Serves ``PreviewRequest``s on the preview thread; see the module docstring."""

    def __init__(
        self, host: ModelHost, cache: PreviewCache, checkpoints: CheckpointBank | None = None
    ) -> None:
        self.host = host
        self.cache = cache
        self.checkpoints = checkpoints
        self.colorized = 0  # exact frames made, for tests and benchmarks
        self.approximate = True  # False: no stand-in frame (the behaviour before, benchmarks)
        self._reader: VideoReader | None = None
        self._approx_reader: VideoReader | None = None
        self._stream: _Stream | None = None
        self._guidance_kept: tuple[tuple[Any, ...], Any] | None = None
        # the request waiting after the one handled (the thread's ``pending``)
        self.pending: Callable[[], Any] = lambda: None

    def handle(self, request: PreviewRequest, ctx: JobContext) -> Iterator[object]:
        f = request.frame
        shots = request.shots
        if shots.decided <= f:
            yield PreviewActivity(f"waiting for shot detection to reach frame {f}")
            shots.wait_decided(f, ctx)
        if request.guidance is not None and not shots.complete:
            # a still serves its whole shot and points never cross a cut: know them all
            yield PreviewActivity("waiting for shot detection to finish (guided preview)")
            shots.wait_decided(shots.frame_count - 1, ctx)
        key = preview_key(
            f,
            film=request.path,
            cuts=shots.cuts(),
            frame_count=shots.frame_count,
            export_range=request.export_range,
            settings=request.settings,
            guidance=request.guidance.revision if request.guidance is not None else "",
        )
        if key in self.cache:
            yield PreviewReady(key)
            return
        reader = self._open(request.path)
        signature = (request.path, key.shot_start, key.range_stop, key.options, key.guidance)
        if not self.host.is_loaded_for(key.options):
            yield PreviewActivity("loading the model")
        options = self._run_options(reader, key)
        session = self.host.session(options)
        store = self._store(request.path, key, options, session)
        checkpoint = None if store is None else store.best(key.shot_start, f, key.range_stop)
        begin = key.shot_start if checkpoint is None else checkpoint.frame
        stream = self._stream
        continues = (
            stream is not None and stream.signature == signature and begin <= stream.next_index <= f
        )
        if self.approximate and not (continues and stream is not None and stream.next_index == f):
            image = self._approximate(request, key, options, session, ctx)
            yield PreviewApproximate(key, image)
            ctx.check()
        if not continues or stream is None:
            self.close_stream()
            stream = self._start(reader, request, key, signature, options, session, checkpoint)
            if store is not None:
                stream.on_checkpoint = store.put
            yield PreviewHost(self.host.status)
        stream.ctx = ctx
        first = stream.next_index
        info = stream.info
        yield PreviewActivity(
            f"colorizing frames {first}–{f} (shot from frame {key.shot_start})"
            if first < f
            else f"colorizing frame {f}"
        )
        while True:
            try:
                out = next(stream.frames)
            except StopIteration:
                self.close_stream()
                raise FlowChromaError(
                    f"frame {f} of {request.path} could not be decoded for the preview"
                ) from None
            except BaseException:
                self.close_stream()  # a half-run clip cannot be resumed
                raise
            stream.next_index = out.index + 1
            self.colorized += 1
            done = dataclasses.replace(key, frame=out.index)
            self.cache.put(done, color_display(out, **info))
            yield PreviewCached(done)
            if out.index >= f:
                break
        yield PreviewReady(key)
        yield PreviewActivity("idle")

    def _open(self, path: str) -> VideoReader:
        from flowchroma_core.video.reader import open_video

        if self._reader is None or str(self._reader.info.path) != path:
            self.close()
            self._reader = open_video(path)
        return self._reader

    @staticmethod
    def _run_options(reader: VideoReader, key: PreviewKey) -> ColorizeOptions:
        """The options of the preview's runs: the film's matrix; the shot map's cuts end
        the source early, so the run itself detects none (the checkpoint pass runs these)."""
        from flowchroma_core.video.reader import luma_matrix

        return key.options.replace(matrix=luma_matrix(reader.info), cut_threshold=0.0)

    def _store(
        self, path: str, key: PreviewKey, options: ColorizeOptions, session: ModelSession
    ) -> CheckpointStore | None:
        """The checkpoints of this film, options, model and guidance (None: switched off)."""
        if self.checkpoints is None:
            return None
        return self.checkpoints.store(path, options, session.name, key.guidance)

    def _approximate(
        self,
        request: PreviewRequest,
        key: PreviewKey,
        options: ColorizeOptions,
        session: ModelSession,
        ctx: JobContext,
    ) -> np.ndarray:
        """The frame colorized alone, from a fresh state, with the guidance of its shot (its
        own reader: the stream's may be in the middle of a decode); a still far behind it is
        not carried all the way first (``NearbyGuidance``: the stream after it is exact)."""
        from flowchroma_core.guidance.film import NearbyGuidance
        from flowchroma_core.pipeline.colorizer import Colorizer
        from flowchroma_core.video.reader import open_video

        path = request.path
        if self._approx_reader is None or str(self._approx_reader.info.path) != path:
            if self._approx_reader is not None:
                self._approx_reader.close()
            self._approx_reader = open_video(path)
        reader = self._approx_reader
        guidance = None
        if request.guidance is not None:
            guidance = NearbyGuidance(self._guidance(request, key, session.model))
        run = Colorizer(session).run(
            [reader[key.frame]], options, ctx, guidance=guidance, shot_start=key.shot_start
        )
        out = next(iter(run))
        info = reader.info
        image = color_display(
            out, bit_depth=info.bit_depth, color_range=info.color_range, matrix=options.matrix
        )
        image.setflags(write=False)
        return image

    def _start(
        self,
        reader: VideoReader,
        request: PreviewRequest,
        key: PreviewKey,
        signature: tuple[Any, ...],
        options: ColorizeOptions,
        session: ModelSession,
        checkpoint: Checkpoint | None,
    ) -> _Stream:
        """A stream from the shot's start, or from ``checkpoint`` resumed."""
        from flowchroma_core.pipeline.colorizer import Colorizer

        info = reader.info
        colorizer = Colorizer(session)
        begin = key.shot_start if checkpoint is None else checkpoint.frame
        stream = _Stream(
            signature=signature,
            frames=iter(()),
            source=iter(()),
            next_index=begin,
            info={
                "bit_depth": info.bit_depth,
                "color_range": info.color_range,
                "matrix": options.matrix,
            },
            colours=_colours(request),
        )
        stream.source = self._shot_frames(reader, request.shots, key, stream, begin)
        guidance = None
        if request.guidance is not None:
            guidance = self._guidance(request, key, session.model)
        stream.frames = colorizer.run(
            stream.source,
            options,
            guidance=guidance,
            resume=checkpoint,
            on_checkpoint=lambda c: stream.on_checkpoint(c) if stream.on_checkpoint else None,
            cancel=_StreamCancel(stream, self.pending),
        )
        self._stream = stream
        logger.debug(
            "preview stream from frame %d (shot from %d) to %d",
            begin,
            key.shot_start,
            key.range_stop,
        )
        return stream

    def _guidance(self, request: PreviewRequest, key: PreviewKey, model: Any) -> Any:
        """The run's ``Guidance`` built as the export builds it (``guidance_for_film``):
        the scan's cuts plus the range start, the project snapshot, the film's greys.
        Kept while the film, guidance and cuts stay, so that the approximate frame and
        the stream after it share the stills read and the flow computed."""
        from pathlib import Path

        from flowchroma_core.guidance.film import Guidance
        from flowchroma_core.guidance.film_source import FilmGreys
        from flowchroma_core.pipeline.guided import check_guidance_model

        assert request.guidance is not None
        check_guidance_model(model)
        reader = self._open(request.path)
        size = (model.config.input_height, model.config.input_width)
        info = reader.info
        cuts = [*request.shots.cuts(), *([key.shot_start] if key.shot_start > 0 else [])]
        signature = (request.path, key.guidance, size, tuple(sorted(set(cuts))))
        if self._guidance_kept is not None and self._guidance_kept[0] == signature:
            return self._guidance_kept[1]
        guidance = Guidance(
            frames=info.frame_count,
            frame_size=(info.height, info.width),
            model_size=size,
            cuts=cuts,
            project=request.guidance.project,
            project_dir=Path(request.guidance.folder),
            grey_frames=FilmGreys(request.path, size),
        )
        self._guidance_kept = (signature, guidance)
        return guidance

    @staticmethod
    def _shot_frames(
        reader: VideoReader, shots: ShotMap, key: PreviewKey, stream: _Stream, begin: int
    ) -> Iterator[Frame]:
        """Source frames from ``begin`` in the shot to the next cut or the range's end."""
        frames = reader.frames(begin, key.range_stop)
        try:
            for frame in frames:
                if frame.index > key.shot_start:
                    if shots.decided <= frame.index:
                        assert stream.ctx is not None
                        shots.wait_decided(frame.index, stream.ctx)
                    if shots.is_cut(frame.index):
                        return
                yield frame
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        """Release the stream and the film (call on the preview thread)."""
        self.close_stream()
        for reader in (self._reader, self._approx_reader):
            if reader is not None:
                reader.close()
        self._reader = self._approx_reader = None
        self._guidance_kept = None
