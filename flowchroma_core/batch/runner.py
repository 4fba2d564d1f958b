"""``run_batch``: the batch in this process or on Ray, with its progress bar; what the
``flowchroma batch`` command calls."""

from __future__ import annotations

import logging

from flowchroma_core.batch.driver import BatchRequest, BatchResult
from flowchroma_core.batch.report import BatchProgress
from flowchroma_core.errors import CancelToken

logger = logging.getLogger(__name__)


def run_batch(
    request: BatchRequest,
    *,
    use_ray: bool = False,
    address: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
    cancel: CancelToken | None = None,
) -> BatchResult:
    """Colorize the request's films: here, in order, or on Ray (``use_ray``: a new local
    instance on 127.0.0.1, or the cluster at ``address``, with ``workers`` actors)."""
    if use_ray:
        from flowchroma_core.batch.cluster import import_ray, ray_cluster, run_ray

        local = address in (None, "local")
        import_ray(local=local)  # the one-line error before any slow work
        with ray_cluster(address, num_cpus=workers if local else None) as ray:
            progress = BatchProgress(len(request.films), enabled=not quiet)
            try:
                return run_ray(request, ray=ray, workers=workers, progress=progress,
                               cancel=cancel)  # fmt: skip
            finally:
                progress.close()
    from flowchroma_core.batch.local import run_local
    from flowchroma_core.model.session import ModelSession

    options = request.options
    session = ModelSession.load(options.model, device=options.device, precision=options.precision)
    progress = BatchProgress(len(request.films), enabled=not quiet)
    try:
        return run_local(request, session=session, progress=progress, cancel=cancel)
    finally:
        progress.close()
