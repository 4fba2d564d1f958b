"""The preview controller: asks for the colours of the frame on screen and shows them.

It owns the preview's GUI-thread side: the ``PreviewCache`` (read here directly), the
``PreviewEngine`` and the latest-request ``preview`` thread that runs it, which request is
outstanding, and the timer that redraws the cached-frame marks on the timeline. On each
move of the playhead the window calls ``request()``: a cached frame is shown at once,
otherwise the preview thread is asked (a newer request cancels the one running; the engine
continues its open stream when the user steps or plays forward). Results that come back
are shown only if they are still the frame on screen with the same film, range and
settings (``PreviewKey``); anything stale is dropped. While the exact frame is being made,
the frame colorized alone (``PreviewApproximate``) is shown, captioned "approximate".

Once the scan has found every cut, the controller starts the background checkpoint pass
(``preview_checkpoints.checkpoint_film``) for the film and settings on screen, so that any
later request is at most one window of work; new settings or another film restart it.

What to preview comes from the window through ``context()`` (film, shots, settings,
frame, export range), so that the window stays the one owner of that state. The key and
the request are built in ``_key`` and ``_request``: the only two places that know how the
preview module spells them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from flowchroma_core.errors import Cancelled
from flowchroma_core.pipeline.checkpoints import checkpoint_folder
from flowchroma_gui.notifications import notification_manager
from flowchroma_gui.preview import (
    GuidanceInput,
    PreviewActivity,
    PreviewApproximate,
    PreviewCache,
    PreviewCached,
    PreviewEngine,
    PreviewHost,
    PreviewKey,
    PreviewReady,
    PreviewRequest,
    preview_key,
)
from flowchroma_gui.preview_checkpoints import CheckpointBank, CheckpointsDone, checkpoint_film
from flowchroma_gui.shot_map import ShotMap

if TYPE_CHECKING:
    from flowchroma_core.settings import Settings
    from flowchroma_gui.model_host import ModelHost
    from flowchroma_gui.qt_timeline import Timeline
    from flowchroma_gui.qt_viewer import Viewer
    from flowchroma_gui.qthreading import GeneratorWorker, WorkerManager

logger = logging.getLogger(__name__)

MARKS_INTERVAL_MS = 250  # cache marks on the timeline are redrawn at most 4 times a second


@dataclass(frozen=True)
class PreviewContext:
    """What the window shows now: the preview colorizes exactly this."""

    path: str
    frame: int
    shots: ShotMap
    settings: Settings
    export_range: tuple[int, int] | None
    guidance: GuidanceInput | None = None  # the restorer's guidance (None: unguided)


class PreviewController(QObject):
    """See the module docstring."""

    shown = Signal(int)  # a colorized frame is on screen (the exact one)
    approximate_shown = Signal(int)  # the frame colorized alone is on screen
    checkpoints_done = Signal(float)  # the background pass finished, in seconds
    activity = Signal(str)  # what the preview thread does, for the status line
    host_changed = Signal(str, str)  # device, model
    model_vividness = Signal(float)  # the loaded model's default vividness

    def __init__(
        self,
        workers: WorkerManager,
        host: ModelHost,
        viewer: Viewer,
        timeline: Timeline,
        context: Callable[[], PreviewContext | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.timeline = timeline
        self._context = context
        self.cache = PreviewCache()
        self.checkpoints = CheckpointBank(checkpoint_folder())
        self.engine = PreviewEngine(host, self.cache, self.checkpoints)
        self.workers = workers
        self.host = host
        self.pass_worker: GeneratorWorker | None = None
        self._pass_for: tuple[object, ...] | None = None  # what the pass was started for
        self.thread = workers.thread(self.engine.handle, name="preview", cleanup=self.engine.close)
        self.engine.pending = self.thread.pending
        self.thread.event.connect(self._event)
        self.thread.failed.connect(self._failed)
        self.requested: PreviewKey | None = None  # asked of the thread and not yet back
        self.started = 0.0
        self.latencies: list[float] = []  # seconds from request to picture, for benchmarks
        self.approximate_latencies: list[float] = []  # the same, to the approximate picture
        self._cached_dirty = False
        self.marks_timer = QTimer(self)
        self.marks_timer.setInterval(MARKS_INTERVAL_MS)
        self.marks_timer.timeout.connect(self._refresh_cached_marks)
        self.marks_timer.timeout.connect(self._start_pass_when_scanned)
        self.marks_timer.start()

    # ------------------------------------------------------------------ keys and requests

    @staticmethod
    def _key(context: PreviewContext) -> PreviewKey:
        return preview_key(
            context.frame,
            film=context.path,
            cuts=context.shots.cuts(),
            frame_count=context.shots.frame_count,
            export_range=context.export_range,
            settings=context.settings,
            guidance=context.guidance.revision if context.guidance is not None else "",
        )

    @staticmethod
    def _request(context: PreviewContext) -> PreviewRequest:
        return PreviewRequest(
            context.path,
            context.frame,
            context.settings,
            context.shots,
            context.export_range,
            context.guidance,
        )

    def current_key(self) -> PreviewKey | None:
        """The key of the frame on screen (None: no film, no settings yet)."""
        context = self._context()
        return None if context is None else self._key(context)

    def request(self) -> None:
        """Show the current frame's colours from the cache, or ask the preview thread."""
        context = self._context()
        if context is None:
            return
        key = self._key(context)
        image = self.cache.get(key)
        if image is not None:
            self.viewer.set_result(key.frame, image)
            self.shown.emit(key.frame)
            return
        self.viewer.set_result(None, None, f"Colorizing frame {key.frame}…")
        if key == self.requested:
            return
        self.requested = key
        self.started = time.perf_counter()
        self.thread.submit(self._request(context))

    def settings_changed(self) -> None:
        """New processing settings: every cached colour is stale; the thread stops; the
        checkpoint pass starts again for them (another key) once the timer sees it."""
        self.cache.clear()
        self.requested = None
        self.thread.cancel_current()
        self._cached_dirty = True
        self._stop_pass()

    def film_closed(self) -> None:
        self.thread.cancel_current()
        self.requested = None
        self._stop_pass()

    def stop(self) -> None:
        """Stop the timer and the pass (the thread itself is stopped by the worker manager)."""
        self.marks_timer.stop()
        self._stop_pass()

    # ------------------------------------------------------------------ checkpoint pass

    def _start_pass_when_scanned(self) -> None:
        """Start the checkpoint pass once the film's cuts are all known (unguided: the
        guided preview records its checkpoints as it goes)."""
        if not self.checkpoints.enabled:
            return
        context = self._context()
        if context is None or not context.shots.complete:
            return
        wanted = (context.path, id(context.shots), context.settings.colorize_options())
        if wanted == self._pass_for:
            return
        self._stop_pass()
        self._pass_for = wanted
        self.pass_worker = self.workers.start(
            checkpoint_film,
            context.path,
            context.shots,
            context.settings,
            self.host,
            self.checkpoints,
            name="recording preview checkpoints",
            on_returned=self._pass_done,
            on_errored=self._pass_failed,
        )

    def _stop_pass(self) -> None:
        if self.pass_worker is not None:
            self.pass_worker.quit()
        self.pass_worker = None
        self._pass_for = None

    def _pass_done(self, result: object) -> None:
        if isinstance(result, CheckpointsDone):
            self.activity.emit(
                f"Preview: {result.checkpoints} checkpoints "
                + ("loaded" if result.from_disk else f"recorded in {result.seconds:.1f} s")
            )
            self.checkpoints_done.emit(result.seconds)

    def _pass_failed(self, exc: object) -> None:
        """The preview still works without checkpoints (from the shot's start): log only."""
        if not isinstance(exc, Cancelled):
            logger.warning("the checkpoint pass stopped: %s", exc)

    # ------------------------------------------------------------------ results

    def _event(self, request_id: int, event: object) -> None:
        if isinstance(event, PreviewActivity):
            if request_id == self.thread.last_id:
                self.activity.emit(f"Preview: {event.text}")
        elif isinstance(event, PreviewApproximate):
            self._show_approximate(event)
        elif isinstance(event, PreviewHost):
            self.host_changed.emit(event.status.device, event.status.model)
            if event.status.vividness is not None:
                self.model_vividness.emit(event.status.vividness)
        elif isinstance(event, PreviewCached):
            self._cached_dirty = True
            self._show_if_current(event.key)
        elif isinstance(event, PreviewReady):
            self._show_if_current(event.key)
            if event.key == self.requested:
                self.requested = None

    def _show_approximate(self, event: PreviewApproximate) -> None:
        key = event.key
        if key != self.current_key() or key in self.cache:
            return
        if key == self.requested:
            self.approximate_latencies.append(time.perf_counter() - self.started)
        self.viewer.set_result(key.frame, event.image, approximate=True)
        self.approximate_shown.emit(key.frame)

    def _show_if_current(self, key: PreviewKey) -> None:
        if key != self.current_key():
            return
        image = self.cache.get(key)
        if image is None:
            return
        if self.viewer.result_index != key.frame or self.viewer.result_approximate:
            self.latencies.append(time.perf_counter() - self.started)
        self.viewer.set_result(key.frame, image)
        self.shown.emit(key.frame)

    def _failed(self, request_id: int, exc: object) -> None:
        self.requested = None
        if request_id != self.thread.last_id:
            return
        self.viewer.set_result(None, None, "Preview failed (see the message)")
        self.activity.emit("Preview: failed")
        notification_manager.receive_error(exc, title="Preview failed")  # type: ignore[arg-type]

    def _refresh_cached_marks(self) -> None:
        if not self._cached_dirty:
            return
        self._cached_dirty = False
        current = self.current_key()
        if current is None:
            self.timeline.set_cached(())
            return
        frames = [
            k.frame
            for k in self.cache.snapshot()
            if k.film == current.film
            and k.options == current.options
            and k.guidance == current.guidance
        ]
        self.timeline.set_cached(frames)
