"""State checkpoints: the model's temporal state at every window boundary of a film, so a
run can start at any boundary and still produce exactly the export's colours.

Inside a shot the colorizer carries the LSTM state from window to window, so the colours of
frame ``f`` depend on every frame from the shot's start. A ``Checkpoint`` holds what a
run needs to start at the window that begins at ``frame`` as if it had come from the
shot's start: the state the previous window carried on with, and (when windows overlap)
the previous window's a*b* over the shared frames, for the cross-fade; and, in a guided
shot, the last frame's steadied a*b* (``pipeline.steady``). The colorizer
reports one at every boundary (``Colorizer.run(..., on_checkpoint=)``) and resumes from one
(``resume=``); ``record_checkpoints`` walks a film shot by shot as an export does and fills a
``CheckpointStore``, which lives in memory and on disk, one file per film, named by a
digest of everything that decides the states (``checkpoint_key``: the film's identity,
the ``ColorizeOptions``, the model's identity and the guidance revision).

A resumed run equals the run from the shot's start bit for bit when windows do not overlap
(the default). With overlap, the shared frames' backbone features are computed in another
batch than in the full run, which changes the chroma by float rounding (below 1e-6): the
GUI therefore uses checkpoints only without overlap (``tests/core/test_checkpoints.py``).

No Qt here; torch is imported only by the functions that load, save or run.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

    from flowchroma_core.errors import CancelToken
    from flowchroma_core.model.session import ModelSession
    from flowchroma_core.pipeline.colorizer import SourceFrame
    from flowchroma_core.pipeline.options import ColorizeOptions

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: the steadier's state (pipeline.steady)


@dataclass(frozen=True)
class Checkpoint:
    """Where a run may start inside a shot, and what it starts with."""

    frame: int  # film frame number where a window starts (never a shot's first frame)
    shot_start: int  # film frame number that started its shot
    state: Any  # the model's temporal state just before ``frame``: opaque (tensors)
    tail: Tensor | None  # previous window's a*b* over the frames shared with this one
    steady: Any = None  # the steadier's state after the frame before ``frame`` (or None)


def film_identity(path: str | os.PathLike[str]) -> str:
    """The film as a file: resolved path, size and modification time (edits invalidate)."""
    p = Path(path).resolve()
    st = p.stat()
    return f"{p}|{st.st_size}|{st.st_mtime_ns}"


def model_identity(name: str) -> str:
    """A model session's name, with the file's size and time when it names a file."""
    p = Path(name)
    if name and p.is_file():
        st = p.stat()
        return f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return name


def checkpoint_key(
    film: str | os.PathLike[str],
    options: ColorizeOptions,
    model: str,
    guidance_revision: str = "",
) -> str:
    """A digest of everything that decides the states of ``film``'s boundaries."""
    text = "\n".join(
        [f"v{FORMAT_VERSION}", film_identity(film), repr(options), model, guidance_revision]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def checkpoint_folder() -> Path:
    """Where stores are saved: ``checkpoints`` in the user's cache folder."""
    from flowchroma_core.fileio import user_dir

    return user_dir("cache") / "checkpoints"


class CheckpointStore:
    """The checkpoints of one film under one key; thread-safe (a background pass fills it
    while the preview reads it)."""

    def __init__(self, key: str, *, overlap: int, folder: Path | None = None) -> None:
        self.key = key
        self.overlap = overlap
        self.folder = folder
        self._lock = threading.Lock()
        self._by_shot: dict[int, list[Checkpoint]] = {}  # sorted by frame
        self._done_shots: set[int] = set()
        self.complete = False

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._by_shot.values())

    def put(self, checkpoint: Checkpoint) -> None:
        with self._lock:
            shot = self._by_shot.setdefault(checkpoint.shot_start, [])
            frames = [c.frame for c in shot]
            i = bisect.bisect_left(frames, checkpoint.frame)
            if i < len(shot) and shot[i].frame == checkpoint.frame:
                shot[i] = checkpoint
            else:
                shot.insert(i, checkpoint)

    def shot_done(self, shot_start: int) -> None:
        with self._lock:
            self._done_shots.add(shot_start)

    def is_shot_done(self, shot_start: int) -> bool:
        with self._lock:
            return shot_start in self._done_shots

    def best(self, shot_start: int, frame: int, limit: int) -> Checkpoint | None:
        """The latest checkpoint of the shot at or before ``frame`` that a run ending at
        ``limit`` (the next cut or the range's end) would also pass through."""
        with self._lock:
            shot = self._by_shot.get(shot_start, [])
            frames = [c.frame for c in shot]
            i = bisect.bisect_right(frames, frame) - 1
            while i >= 0:
                c = shot[i]
                # the previous window (ending at frame + overlap) was not cut by the limit
                if c.frame + self.overlap < limit:
                    return c
                i -= 1
            return None

    def frames(self) -> list[int]:
        with self._lock:
            return sorted(c.frame for v in self._by_shot.values() for c in v)

    # ------------------------------------------------------------------ on disk

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder / f"{self.key}.pt"

    def save(self) -> None:
        """Write the store atomically (tensors moved to the CPU)."""
        import torch

        from flowchroma_core.fileio import atomic_path

        path = self.path
        if path is None:
            return
        with self._lock:
            payload = {
                "version": FORMAT_VERSION,
                "key": self.key,
                "complete": self.complete,
                "done_shots": sorted(self._done_shots),
                "checkpoints": [
                    (
                        c.frame,
                        c.shot_start,
                        _to_cpu(c.state),
                        _to_cpu(c.tail),
                        _to_cpu(c.steady),
                    )
                    for shot in self._by_shot.values()
                    for c in shot
                ],
            }
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    def load(self) -> bool:
        """Read the saved store if there is one for this key; False if none or unusable."""
        import torch

        path = self.path
        if path is None or not path.is_file():
            return False
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload.get("version") != FORMAT_VERSION or payload.get("key") != self.key:
                return False
            for frame, shot_start, state, tail, steady in payload["checkpoints"]:
                self.put(Checkpoint(int(frame), int(shot_start), state, tail, steady))
            with self._lock:
                self._done_shots.update(int(s) for s in payload["done_shots"])
            self.complete = bool(payload["complete"])
        except Exception as e:  # a damaged cache file is recomputed, never fatal
            logger.warning("checkpoint file %s unusable (%s): recomputing", path, e)
            return False
        logger.info("checkpoints loaded from %s: %d", path, len(self))
        return True


def _to_cpu(value: Any) -> Any:
    """Tensors (in tuples and lists, as model states are) moved to the CPU."""
    if isinstance(value, (tuple, list)):
        return type(value)(_to_cpu(v) for v in value)
    to = getattr(value, "to", None)
    return value if to is None else value.to("cpu")


def to_device(value: Any, device: Any) -> Any:
    """A stored state or tail on the model's device."""
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(v, device) for v in value)
    to = getattr(value, "to", None)
    return value if to is None else value.to(device)


def shot_bounds(cuts: Sequence[int], frame_count: int) -> list[tuple[int, int]]:
    """(first, stop) of every shot of a film with ``cuts`` (frames that start a shot)."""
    starts = [0, *sorted(c for c in cuts if 0 < c < frame_count)]
    stops = [*starts[1:], frame_count]
    return [(a, b) for a, b in zip(starts, stops, strict=True) if a < b]


def _split_shots(
    frames: Iterable[SourceFrame], bounds: list[tuple[int, int]]
) -> Iterator[tuple[tuple[int, int], Iterator[SourceFrame]]]:
    """One sequential decode cut into one iterator per shot (by frame index)."""
    source = iter(frames)
    pending: list[SourceFrame] = []

    def shot(first: int, stop: int) -> Iterator[SourceFrame]:
        while True:
            frame = pending.pop() if pending else next(source, None)
            if frame is None:
                return
            if frame.index >= stop:
                pending.append(frame)
                return
            if frame.index >= first:  # frames of shots already done are skipped
                yield frame

    for first, stop in bounds:
        yield (first, stop), shot(first, stop)


def record_checkpoints(
    session: ModelSession,
    frames: Callable[[int, int], Iterable[SourceFrame]],
    cuts: Sequence[int],
    frame_count: int,
    options: ColorizeOptions,
    store: CheckpointStore,
    cancel: CancelToken | None = None,
    *,
    on_shot: Callable[[int, int], None] | None = None,
) -> None:
    """Walk the film shot by shot exactly as an export of it does and record the state at
    every window boundary into ``store`` (shots already done are skipped).

    ``frames(start, stop)`` decodes the source; ``options`` must not detect cuts (the
    film's ``cuts`` are given, as the preview's are). ``on_shot(first, stop)`` after each
    shot. Only the network runs: no frame's colours are finished.
    """
    from flowchroma_core.pipeline.colorizer import Colorizer

    if options.detects_cuts:
        raise ValueError("record_checkpoints: pass the cuts; options must have cut_threshold=0")
    colorizer = Colorizer(session)
    bounds = [b for b in shot_bounds(cuts, frame_count) if not store.is_shot_done(b[0])]
    if not bounds:
        store.complete = True
        return
    for (first, stop), shot in _split_shots(frames(bounds[0][0], frame_count), bounds):
        run = colorizer.run(shot, options, cancel, on_checkpoint=store.put, states_only=True)
        for _ in run:
            pass
        store.shot_done(first)
        if on_shot is not None:
            on_shot(first, stop)
    store.complete = True
