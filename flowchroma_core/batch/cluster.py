"""A batch on Ray: every segment of every film is a task of an actor pool.

Each worker is an actor (``SegmentWorker``) that loads the model once, on its first task,
and renders segments into part files in the film's work folder: the folder must be on a
filesystem that the driver and every node see at the same path (shared storage). The
driver (this process) plans the films one at a time while the workers render, records
each finished part in the film's journal and assembles a film once its parts are all in.
An actor asks for one GPU when the cluster has GPUs, one CPU otherwise. A worker that
dies (killed, out of memory, node lost) is restarted by Ray and its task retried
(``max_restarts``, ``max_task_retries``); an error raised by the task itself (a bad film)
fails that film only. Ctrl+C cancels the tasks, stops the workers and leaves every
started film's journal to resume from.

``--ray`` alone starts a private Ray instance whose every service listens on 127.0.0.1
only (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` before Ray is imported makes Ray choose the
loopback address; ``_node_ip_address`` alone is turned into the machine's public address
by Ray 2.x). ``--ray ADDRESS`` joins an existing cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

from flowchroma_core.batch.driver import BatchRequest, BatchResult, FilmQueue
from flowchroma_core.batch.report import BatchProgress
from flowchroma_core.batch.work import FilmWork, model_key
from flowchroma_core.errors import CancelToken, FlowChromaError
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.segments import Part, Segment, plan_segments, render_segment

logger = logging.getLogger(__name__)

RAY_MISSING = (
    "--ray needs Ray, an optional extra: pip install 'flowchroma-studio[cluster]' "
    "(or run the batch without --ray)"
)
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
MAX_RETRIES = 3
"""How often a segment lost with its worker is given to another worker before its film
fails. The driver retries, not Ray: a worker Ray restarts on a node that is gone would
wait for room that never comes, and the batch with it."""

START_TIMEOUT = 300.0
"""Seconds to wait for workers to start (a Ray worker process imports torch and loads the
model's code; 10-80 s on a small machine). Workers the cluster has no room for are dropped."""


def import_ray(*, local: bool) -> ModuleType:
    """Ray, or one clear line saying how to install it. ``local``: bind to 127.0.0.1."""
    if local:
        os.environ.setdefault(LOOPBACK_ENV, "0")  # read once, when Ray is first imported
    try:
        import ray
    except ImportError as error:
        raise FlowChromaError(RAY_MISSING) from error
    return ray


@contextlib.contextmanager
def ray_cluster(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray connected: a new local instance on 127.0.0.1 (``address`` None or "local") or
    the cluster at ``address``. Shut down at the end if this call started it."""
    local = address in (None, "local")
    ray = import_ray(local=local)
    if ray.is_initialized():
        yield ray
        return
    begin = time.perf_counter()
    if local:
        ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
                 num_cpus=num_cpus, log_to_driver=False)  # fmt: skip
        node = ray.util.get_node_ip_address()
        if node != "127.0.0.1":
            logger.warning("the local Ray instance uses %s, not 127.0.0.1 (Ray was imported "
                           "before %s=0 could be set)", node, LOOPBACK_ENV)  # fmt: skip
    else:
        try:
            ray.init(address=address, log_to_driver=False)
        except ConnectionError as error:
            raise FlowChromaError(
                f"cannot join the Ray cluster at {address}: {error} (a cluster with token "
                "authentication needs the same RAY_AUTH_MODE=token and RAY_AUTH_TOKEN or "
                "RAY_AUTH_TOKEN_PATH here as on its nodes)"
            ) from error
    logger.info("Ray ready in %.1f s: %s", time.perf_counter() - begin, ray.cluster_resources())
    try:
        yield ray
    finally:
        ray.shutdown()


class SegmentWorker:
    """A Ray actor's body: one model session per worker process, loaded on first use."""

    def __init__(self, threads: int | None = None) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        self._session: ModelSession | None = None
        self._session_key: tuple[str, str, str] | None = None

    def pid(self) -> int:
        return os.getpid()

    def session(self, options: ColorizeOptions) -> ModelSession:
        key = (options.model, options.device, options.precision)
        if self._session is None or self._session_key != key:
            self._session = ModelSession.load(
                options.model, device=options.device, precision=options.precision
            )
            self._session_key = key
        return self._session

    def plan(
        self,
        film: Path,
        options: ColorizeOptions,
        segment_frames: int,
        frame_rate: Fraction | None,
    ) -> tuple[list[Segment], int]:
        """A film's segments (the scan for cuts is a full decode: it runs here, not on the
        driver, so that many films are planned at once)."""
        segments = plan_segments(film, options, target_frames=segment_frames,
                                 frame_rate=frame_rate)  # fmt: skip
        return segments, os.getpid()

    def render(
        self,
        film: Path,
        segment: Segment,
        options: ColorizeOptions,
        part_path: Path,
        codec: str,
        frame_rate: Fraction | None,
        hardware: bool = False,
    ) -> tuple[Part, int]:
        """Render one segment into ``part_path``; the part and this worker's pid.
        ``hardware``: NVDEC/NVENC where they work on this worker's machine."""
        part = render_segment(
            self.session(options), film, segment, options, part_path, None, None,
            codec=codec, range_start=0, frame_rate=frame_rate, hardware=hardware,
        )  # fmt: skip
        return part, os.getpid()


def start_workers(ray: Any, workers: int | None = None) -> Callable[[], Any]:
    """A factory of workers: by default one actor per GPU (one GPU each), or per CPU
    without GPUs (one CPU each, computing with this process's PyTorch thread count). More
    workers than GPUs share them (``num_gpus`` a fraction), so that several segments'
    decoding and encoding on the CPU keep one GPU busy. Returns the factory; its
    ``count`` attribute is how many to start."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    count = workers or (gpus if gpus else max(1, cpus))
    once = {"max_restarts": 0, "max_task_retries": 0}  # lost work is retried by the driver
    if gpus:
        share = min(1.0, gpus / count)
        actor = ray.remote(num_gpus=share, num_cpus=1, **once)(SegmentWorker)
        threads = None
        said = "one GPU" if share == 1.0 else f"{share:.2g} of a GPU"
    else:
        import torch

        # PyTorch's CPU results depend (in the last bit) on its thread count: each worker
        # uses the driver's, so a Ray export is bit for bit the in-process one
        actor = ray.remote(num_cpus=1, **once)(SegmentWorker)
        threads = torch.get_num_threads()
        said = f"one CPU ({threads} PyTorch threads, as this process)"
    logger.info("%d Ray worker(s), %s each", count, said)

    def spawn() -> Any:
        return actor.remote(threads)

    spawn.count = count  # type: ignore[attr-defined]
    return spawn


def run_ray(
    request: BatchRequest,
    *,
    ray: Any,
    workers: int | None = None,
    progress: BatchProgress,
    cancel: CancelToken | None = None,
    on_workers: Callable[[list[int]], None] | None = None,
    on_part: Callable[[Path, Part, int], None] | None = None,
) -> BatchResult:
    """Colorize every film of ``request`` on the connected Ray cluster.

    ``on_workers(pids)`` is called once the workers are up, ``on_part(film, part, pid)``
    after each part is recorded (tests use them to kill a worker mid-run). A worker that
    dies (its process or its node) costs only its segment, which goes to another worker
    (``MAX_RETRIES``); a replacement is started and joins when the cluster has room.
    """
    from ray.exceptions import RayError

    queue = FilmQueue(request, model=model_key(request.options), progress=progress,
                      cancel=cancel)  # fmt: skip
    spawn = start_workers(ray, workers)
    actors = [spawn() for _ in range(spawn.count)]  # type: ignore[attr-defined]
    refs = {a.pid.remote(): a for a in actors}
    ready, waiting = ray.wait(list(refs), num_returns=len(refs), timeout=START_TIMEOUT)
    up, pids = [], []
    for ref in ready:
        try:
            pids.append(ray.get(ref))
            up.append(refs[ref])
        except RayError as error:
            logger.warning("a Ray worker could not start: %s", error)
    for ref in waiting:
        logger.warning("no room on the cluster for a Ray worker after %.0f s", START_TIMEOUT)
        with contextlib.suppress(Exception):
            ray.kill(refs[ref], no_restart=True)
    if not up:
        raise FlowChromaError(f"no Ray worker started within {START_TIMEOUT:.0f} s")
    logger.info("Ray workers up: pids %s", pids)
    if on_workers is not None:
        on_workers(pids)
    pool = _Pool(ray, queue, up, on_part, spawn)
    try:
        pool.run(cancel)
    except KeyboardInterrupt:
        logger.warning("batch cancelled; started films keep their journals")
        pool.cancel()
        queue.stop()
        return queue.result(cancelled=True)
    finally:
        for actor in pool.every_actor():
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
    return queue.result()


class _Pool:
    """The driver's loop: idle actors take queued segments; results are recorded."""

    def __init__(
        self,
        ray: Any,
        queue: FilmQueue,
        actors: list[Any],
        on_part: Callable[[Path, Part, int], None] | None,
        spawn: Callable[[], Any],
    ) -> None:
        self.ray = ray
        self.films = queue
        self.idle = list(actors)
        self.todo: deque[tuple[int, Segment | None]] = deque()  # None: plan the film
        self.left: dict[int, int] = {}  # tasks not yet returned, per film position
        self.inflight: dict[Any, tuple[int, Any, Segment | None]] = {}
        self.starting: dict[Any, Any] = {}  # pid() ref -> a replacement worker
        self.tries: dict[tuple[int, int | None], int] = {}
        self.lost = 0  # workers lost during the run
        self.on_part = on_part
        self.spawn = spawn
        self.actors = list(actors)  # every worker started, to be stopped at the end
        self._alone_since: float | None = None

    def every_actor(self) -> list[Any]:
        return list(self.actors)

    def run(self, cancel: CancelToken | None) -> None:
        while True:
            if cancel is not None and cancel.cancelled:
                raise KeyboardInterrupt
            self._dispatch()
            if not self.inflight and not (self.todo or self.films.has_more()):
                return
            if not self.inflight and not self.idle and self._no_worker_for_too_long():
                self._fail_all("every Ray worker was lost, and none could be started again")
                return
            waits = [*self.inflight, *self.starting]
            if not waits:  # idle workers and films still to open: dispatch again
                continue
            ready, _ = self.ray.wait(waits, num_returns=1, timeout=1.0)
            for ref in ready:
                if ref in self.starting:
                    self._joined(ref)
                else:
                    self._collect(ref)

    def _no_worker_for_too_long(self) -> bool:
        if not self.starting:
            return True
        now = time.perf_counter()
        self._alone_since = self._alone_since or now
        return now - self._alone_since > START_TIMEOUT

    def _joined(self, ref: Any) -> None:
        from ray.exceptions import RayError

        actor = self.starting.pop(ref)
        try:
            pid = self.ray.get(ref)
        except RayError as error:
            logger.warning("a replacement Ray worker could not start: %s", error)
            return
        logger.info("a replacement Ray worker joined (pid %s)", pid)
        self._alone_since = None
        self.idle.append(actor)

    def _dispatch(self) -> None:
        while self.idle:
            if not self.todo and self.films.has_more():
                self._plan_next()
                continue
            if not self.todo:
                return
            position, segment = self.todo.popleft()
            work = self.films.open.get(position)
            if work is None:
                continue  # the film failed meanwhile
            if segment is None:
                self._plan(position, work)
                continue
            actor = self.idle.pop()
            ref = actor.render.remote(
                work.film.source, segment, work.options, work.part_path(segment),
                work.codec, work.frame_rate, work.hardware,
            )  # fmt: skip
            self.inflight[ref] = (position, actor, segment)

    def _plan_next(self) -> None:
        item = self.films.next_work(plan=False)
        if item is None:
            return
        position, work = item
        if work.needs_plan:
            self._plan(position, work)
            return
        self._enqueue(position, work)

    def _plan(self, position: int, work: FilmWork) -> None:
        actor = self.idle.pop()
        request = self.films.request
        ref = actor.plan.remote(work.film.source, work.options, request.segment_frames,
                                work.frame_rate)  # fmt: skip
        self.inflight[ref] = (position, actor, None)

    def _enqueue(self, position: int, work: FilmWork) -> None:
        pending = work.pending()
        self.left[position] = len(pending)
        if not pending:  # every part was done by an earlier run
            self.films.complete(position)
        self.todo.extend((position, s) for s in pending)

    def _collect(self, ref: Any) -> None:
        from ray.exceptions import RayActorError, RayTaskError

        position, actor, segment = self.inflight.pop(ref)
        work: FilmWork | None = self.films.open.get(position)
        try:
            value, pid = self.ray.get(ref)
        except RayTaskError as error:  # the task raised: this film fails, the worker is fine
            self.idle.append(actor)
            cause = error.cause if error.cause is not None else error
            self.films.fail(position, cause)
            return
        except RayActorError as error:  # the worker died (its process or its node)
            self._lost(position, segment, error)
            return
        self.idle.append(actor)
        if work is None:
            return  # the film failed while this task ran
        if isinstance(value, list):  # a plan
            work.planned(value)
            self.films.progress.more_segments(len(value))
            self._enqueue(position, work)
            return
        self.films.record(position, value)
        if self.on_part is not None:
            self.on_part(work.film.source, value, pid)
        self.left[position] -= 1
        if self.left[position] == 0:
            self.films.complete(position)

    def _lost(self, position: int, segment: Segment | None, error: Exception) -> None:
        """A worker died with a task: the task goes back to the queue (its film fails after
        ``MAX_RETRIES``), and a replacement worker is started."""
        self.lost += 1
        with contextlib.suppress(Exception):
            replacement = self.spawn()
            self.actors.append(replacement)
            self.starting[replacement.pid.remote()] = replacement
        if position not in self.films.open:
            return  # the film failed meanwhile
        key = (position, None if segment is None else segment.index)
        self.tries[key] = self.tries.get(key, 0) + 1
        what = "its plan" if segment is None else f"segment {segment.index}"
        if self.tries[key] > MAX_RETRIES:
            self.films.fail(position, FlowChromaError(
                f"Ray workers died {self.tries[key]} times on {what} of this film: {error}"
            ))  # fmt: skip
            return
        logger.warning("a Ray worker was lost (%s); %s goes to another worker",
                       type(error).__name__, what)  # fmt: skip
        self.todo.appendleft((position, segment))

    def cancel(self) -> None:
        for ref in list(self.inflight):
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)
        self.inflight.clear()

    def _fail_all(self, reason: str) -> None:
        for position in list(self.films.open):
            self.films.fail(position, FlowChromaError(reason))
        while self.films.has_more():
            item = self.films.next_work()
            if item is not None:
                self.films.fail(item[0], FlowChromaError(reason))
