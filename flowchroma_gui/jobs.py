"""The GUI's background jobs as plain functions and handlers; no Qt here.

Each job takes a ``JobContext`` first (cancel checks, progress) and is run by
``qthreading``: on a pool thread (``warm_up``, ``open_film``, ``scan_film``,
``export_film``) or by a latest-request thread (``SourceDecoder``). They import the core's
heavy modules (torch, PyAV) inside the function, so that only worker threads ever do, and
they return or yield plain data: dataclasses, numpy arrays, strings and numbers.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flowchroma_core.colour.ycbcr import rgb_to_codes
from flowchroma_core.errors import Cancelled
from flowchroma_gui.preview import gray_display
from flowchroma_gui.shot_map import ShotMap

if TYPE_CHECKING:
    from flowchroma_core.settings import Settings
    from flowchroma_core.video.reader import VideoInfo, VideoReader
    from flowchroma_gui.model_host import ModelHost
    from flowchroma_gui.qthreading import JobContext

logger = logging.getLogger(__name__)

THUMB_HEIGHT = 54  # pixels; the strip under the timeline is a little taller
MAX_THUMBNAILS = 400  # per film, spread evenly


# ---------------------------------------------------------------------------------------
# Start-up: the core's heavy imports and the saved settings, off the GUI thread


@dataclass(frozen=True)
class CodecChoice:
    """A codec preset as the export dialog lists it."""

    name: str
    description: str
    extensions: tuple[str, ...]
    image_sequence: bool


@dataclass(frozen=True)
class CoreReady:
    """What the GUI needs from the core once it is imported."""

    settings: Settings
    settings_problem: str  # why the saved settings were not usable; empty when they were
    settings_file: str
    codecs: tuple[CodecChoice, ...]
    device_text: str  # the device the settings select, e.g. "CPU (2 threads)"


def warm_up(ctx: JobContext) -> CoreReady:
    """Import torch, PyAV and the core on this worker thread; load the saved settings."""
    started = time.perf_counter()
    import flowchroma_core.pipeline.export
    import flowchroma_core.pipeline.shots  # noqa: F401
    from flowchroma_core.errors import FlowChromaError
    from flowchroma_core.model.device import describe_device, select_device
    from flowchroma_core.settings import Settings, SettingsError, load_settings, settings_path
    from flowchroma_core.video.writer import CODECS

    problem = ""
    try:
        settings = load_settings()
    except SettingsError as e:
        logger.warning("%s; using the defaults for those", e)
        problem = str(e)
        settings = e.partial or Settings()
    codecs = tuple(
        CodecChoice(p.name, p.description, p.extensions, p.is_image_sequence)
        for p in CODECS.values()
    )
    try:
        device_text = describe_device(select_device(settings.device))
    except (FlowChromaError, ValueError) as e:
        device_text = f"unavailable ({e})"
    logger.info("core ready in %.2f s", time.perf_counter() - started)
    return CoreReady(
        settings=settings,
        settings_problem=problem,
        settings_file=str(settings_path()),
        codecs=codecs,
        device_text=device_text,
    )


# ---------------------------------------------------------------------------------------
# Opening a film


@dataclass(frozen=True)
class FilmOpened:
    path: str
    info: VideoInfo


def open_film(ctx: JobContext, path: str) -> FilmOpened:
    """Open a film to read its metadata (the reader is closed again here)."""
    from flowchroma_core.video.reader import open_video

    with open_video(path) as reader:
        info = reader.info
    return FilmOpened(path=str(path), info=info)


# ---------------------------------------------------------------------------------------
# The background scan: shot cuts and timeline thumbnails in one sequential decode


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int
    cuts: tuple[int, ...]
    thumbnails: tuple[tuple[int, np.ndarray], ...]  # new ones since the last progress
    finished: bool = False


def thumbnail_step(frame_count: int) -> int:
    return max(1, -(-frame_count // MAX_THUMBNAILS))


def _small(gray: np.ndarray) -> np.ndarray:
    import cv2

    h, w = gray.shape
    width = max(1, round(w * THUMB_HEIGHT / h))
    small = cv2.resize(gray, (width, THUMB_HEIGHT), interpolation=cv2.INTER_AREA)
    return rgb_to_codes(small, 8)


def scan_film(ctx: JobContext, path: str, shots: ShotMap) -> Iterator[ScanProgress]:
    """Decode the film once: detect cuts as an export would, and make thumbnails."""
    from flowchroma_core.pipeline.shots import CutDetector
    from flowchroma_core.video.reader import open_video

    detector = CutDetector(threshold=shots.threshold) if shots.threshold > 0 else None
    try:
        with open_video(path) as reader:
            total = len(reader)
            step = thumbnail_step(total)
            decoded = 0
            thumbs: list[tuple[int, np.ndarray]] = []
            last = time.monotonic()
            for frame in reader.frames():
                ctx.check()
                gray = frame.gray()
                decoded += 1
                if detector is not None:
                    # labelled by frame index: damaged frames are skipped, not counted
                    cut = detector.push(gray, frame.index)
                    if cut is not None:
                        shots.add_cut(cut)
                    shots.advance(frame.index)
                if frame.index % step == 0:
                    thumbs.append((frame.index, _small(gray)))
                now = time.monotonic()
                if now - last > 0.25:
                    last = now
                    yield ScanProgress(decoded, total, shots.cuts(), tuple(thumbs))
                    thumbs = []
        shots.finish()
        logger.info("%s: %d shot cut(s) %s", Path(path).name, len(shots.cuts()), shots.cuts()[:20])
        yield ScanProgress(decoded, total, shots.cuts(), tuple(thumbs), finished=True)
    except Exception as e:
        if ctx.cancelled or isinstance(e, Cancelled):
            shots.stop()  # the film is being closed: the preview gives up too
        else:
            logger.warning("shot detection stopped early; the preview uses the cuts found so far")
            shots.finish()
        raise
    except BaseException:
        shots.stop()
        raise


# ---------------------------------------------------------------------------------------
# The frame to show (latest request wins)


@dataclass(frozen=True)
class SourceRequest:
    path: str
    index: int


@dataclass(frozen=True)
class SourceImage:
    path: str
    index: int
    gray: np.ndarray  # (H, W) uint8


class SourceDecoder:
    """Decodes the frame to show on its own thread; keeps a few recent ones."""

    def __init__(self, keep: int = 48) -> None:
        self._reader: VideoReader | None = None
        self._path = ""
        self._recent: OrderedDict[int, np.ndarray] = OrderedDict()
        self._keep = keep

    def handle(self, request: SourceRequest, ctx: JobContext) -> Iterator[SourceImage]:
        from flowchroma_core.video.reader import open_video

        if request.path != self._path:
            self.close()
            self._reader = open_video(request.path)
            self._path = request.path
        image = self._recent.get(request.index)
        if image is None:
            assert self._reader is not None
            image = gray_display(self._reader[request.index])
            image.setflags(write=False)
            self._recent[request.index] = image
            while len(self._recent) > self._keep:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(request.index)
        yield SourceImage(request.path, request.index, image)

    def close(self) -> None:
        """Release the film (on the decoder's own thread)."""
        if self._reader is not None:
            self._reader.close()
        self._reader = None
        self._path = ""
        self._recent.clear()


# ---------------------------------------------------------------------------------------
# Export


@dataclass(frozen=True)
class ExportRequest:
    source: str
    destination: str
    codec: str
    start: int
    stop: int
    settings: Settings
    project: str | None = None  # the restorer's guidance (project file), None: unguided


@dataclass(frozen=True)
class ExportProgress:
    done: int
    total: int
    fps: float
    eta: float | None
    stage: str  # "checking", "loading the model", "colorizing"


@dataclass(frozen=True)
class ExportDone:
    output: str
    frames: int
    seconds: float
    notes: tuple[str, ...]


def export_film(ctx: JobContext, request: ExportRequest, host: ModelHost) -> ExportDone:
    """Colorize the range into the destination with ``colorize_file``; progress via ctx,
    which is also the export's cancel token."""
    from flowchroma_core.pipeline.export import Progress, check_export, colorize_file
    from flowchroma_core.video.reader import open_video

    total = request.stop - request.start
    ctx.report(ExportProgress(0, total, 0.0, None, "checking"))
    source, destination = Path(request.source), Path(request.destination)
    with open_video(source) as reader:
        info = reader.info
    check_export(info, destination, codec=request.codec, start=request.start, stop=request.stop)
    ctx.check()
    ctx.report(ExportProgress(0, total, 0.0, None, "loading the model"))
    options = request.settings.validated().colorize_options()
    session = host.session(options)
    guidance = None
    if request.project is not None:  # built as the CLI and the preview build it
        from flowchroma_core.guidance.film_source import guidance_for_film

        cfg = session.model.config
        guidance = guidance_for_film(
            source,
            model_size=(cfg.input_height, cfg.input_width),
            cut_threshold=options.cut_threshold,
            start=request.start,
            stop=request.stop,
            project=request.project,
        )
    ctx.check()
    ctx.report(ExportProgress(0, total, 0.0, None, "colorizing"))
    last = [0.0]

    def progress(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.1 or p.done == p.total:
            last[0] = now
            ctx.report(ExportProgress(p.done, p.total, p.fps, p.eta, "colorizing"))

    result = colorize_file(
        source,
        destination,
        options=options,
        session=session,
        codec=request.codec,
        start=request.start,
        stop=request.stop,
        on_progress=progress,
        cancel=ctx,
        overwrite=True,  # the export dialog asked before replacing an existing output
        guidance=guidance,
        hardware_video=request.settings.export_hardware_video,
    )
    return ExportDone(
        output=str(result.output),
        frames=result.frames,
        seconds=result.seconds,
        notes=tuple(result.notes),
    )
