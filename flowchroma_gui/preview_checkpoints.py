"""The preview's state checkpoints: one ``CheckpointStore`` per film and processing key,
shared by the background pass (``checkpoint_film``, a pool job) that fills it and
the preview thread (``preview.PreviewEngine``) that starts its runs from it; no Qt here.

A store is looked up by ``checkpoint_key`` (film identity, the run's ``ColorizeOptions``,
the model's identity, the guidance revision), so new settings, another model or an edited
film never reuse states; stores are loaded from and saved to the user's cache folder
(``checkpoints.checkpoint_folder``), so a film opened again starts with its checkpoints.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flowchroma_core.pipeline.checkpoints import (
    CheckpointStore,
    checkpoint_key,
    model_identity,
)

if TYPE_CHECKING:
    from flowchroma_core.pipeline.options import ColorizeOptions
    from flowchroma_core.settings import Settings
    from flowchroma_gui.model_host import ModelHost
    from flowchroma_gui.qthreading import JobContext
    from flowchroma_gui.shot_map import ShotMap

logger = logging.getLogger(__name__)

KEEP_STORES = 8  # in memory; a store is a few KB per window boundary
SAVE_EVERY_S = 10.0  # the pass saves its store at most this often (and at the end)


class CheckpointBank:
    """Stores by key, created (and loaded from disk) on first use; thread-safe.

    ``enabled`` False turns checkpoints off (the preview then runs from the shot start:
    the behaviour before checkpoints, kept for benchmarks).
    """

    def __init__(self, folder: Path | None, *, enabled: bool = True) -> None:
        self.folder = folder
        self.enabled = enabled
        self._lock = threading.Lock()
        self._stores: OrderedDict[str, CheckpointStore] = OrderedDict()

    def store(
        self,
        film: str,
        options: ColorizeOptions,
        model_name: str,
        guidance_revision: str = "",
    ) -> CheckpointStore | None:
        """The store for a run of ``film`` with ``options`` (the run's own: matrix set,
        cuts given) on the model named ``model_name``; None when disabled or when windows
        overlap (then the preview runs from the shot's start, exact as before)."""
        if not self.enabled or options.overlap > 0:
            # with overlap the shared frames' backbone features would be computed in
            # another batch than the export's: equal within 1e-6, not bit for bit
            return None
        key = checkpoint_key(film, options, model_identity(model_name), guidance_revision)
        with self._lock:
            store = self._stores.get(key)
            if store is not None:
                self._stores.move_to_end(key)
                return store
            store = CheckpointStore(key, overlap=options.overlap, folder=self.folder)
            self._stores[key] = store
            while len(self._stores) > KEEP_STORES:
                self._stores.popitem(last=False)
        store.load()
        return store

    def clear(self) -> None:
        """Forget the stores in memory (files on disk stay)."""
        with self._lock:
            self._stores.clear()


# ---------------------------------------------------------------------------------------
# The background pass (a pool job, started once the scan has found every cut)


@dataclass(frozen=True)
class CheckpointsDone:
    """The pass is over: every shot's boundaries are recorded."""

    path: str
    checkpoints: int
    seconds: float
    from_disk: bool  # they were saved by an earlier session: nothing was run


def checkpoint_film(
    ctx: JobContext,
    path: str,
    shots: ShotMap,
    settings: Settings,
    host: ModelHost,
    bank: CheckpointBank,
) -> CheckpointsDone | None:
    """Run the model along every shot as an export of the whole film does and record the
    state at every window boundary into the bank's store (saved to disk as it goes)."""
    from flowchroma_core.pipeline.checkpoints import record_checkpoints
    from flowchroma_core.video.reader import luma_matrix, open_video

    started = time.perf_counter()
    shots.wait_decided(shots.frame_count - 1, ctx)
    with open_video(path) as reader:
        options = settings.colorize_options().replace(
            matrix=luma_matrix(reader.info), cut_threshold=0.0
        )
        session = host.session(options)
        store = bank.store(path, options, session.name)
        if store is None:
            return None
        if store.complete:
            return CheckpointsDone(path, len(store), time.perf_counter() - started, True)
        last_save = [time.monotonic()]

        def shot_done(first: int, stop: int) -> None:
            if time.monotonic() - last_save[0] > SAVE_EVERY_S:
                store.save()
                last_save[0] = time.monotonic()

        record_checkpoints(
            session,
            reader.frames,
            shots.cuts(),
            shots.frame_count,
            options,
            store,
            ctx,
            on_shot=shot_done,
        )
    store.save()
    seconds = time.perf_counter() - started
    logger.info("checkpoints of %s: %d in %.1f s", path, len(store), seconds)
    return CheckpointsDone(path, len(store), seconds, False)
