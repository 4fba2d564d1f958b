"""A batch in this process: film after film, segment after segment, one model session.

Each film is made exactly as ``colorize_file`` makes it (the same segments, journal and
assembly), so an interrupted batch resumes per film with the same command, and a film
started by ``flowchroma colorize`` to the same destination is resumed by the batch.
"""

from __future__ import annotations

import logging

from flowchroma_core.batch.driver import BatchRequest, BatchResult, FilmQueue
from flowchroma_core.batch.report import BatchProgress
from flowchroma_core.batch.work import model_key
from flowchroma_core.errors import Cancelled, CancelToken
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.segments import render_segment

logger = logging.getLogger(__name__)


def run_local(
    request: BatchRequest,
    *,
    session: ModelSession,
    progress: BatchProgress,
    cancel: CancelToken | None = None,
) -> BatchResult:
    """Colorize every film of ``request`` here, in order; Ctrl+C (or ``cancel``) stops at
    once and leaves each started film's journal to resume from."""
    queue = FilmQueue(request, model=model_key(request.options, session), progress=progress,
                      cancel=cancel)  # fmt: skip
    try:
        while (item := queue.next_work()) is not None:
            position, work = item
            try:
                for segment in work.pending():
                    part = render_segment(
                        session, work.film.source, segment, work.options,
                        work.part_path(segment), cancel, progress.frames, codec=work.codec,
                        range_start=0, frame_rate=work.frame_rate, hardware=work.hardware,
                    )  # fmt: skip
                    queue.record(position, part)
            except (Cancelled, KeyboardInterrupt):
                raise
            except Exception as error:
                queue.fail(position, error)
                continue
            queue.complete(position)
    except (Cancelled, KeyboardInterrupt):
        logger.warning("batch cancelled; started films keep their journals")
        queue.stop()
        return queue.result(cancelled=True)
    return queue.result()
