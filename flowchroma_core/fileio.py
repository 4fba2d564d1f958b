"""Writing files so that a crash or a cancel never leaves a half-written result; the
user's configuration folder. No heavy imports: the GUI thread uses this module."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)


def config_dir() -> Path:
    """The user's FlowChroma configuration folder (``FLOWCHROMA_CONFIG_DIR`` overrides)."""
    override = os.environ.get("FLOWCHROMA_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("flowchroma", appauthor=False))


@contextlib.contextmanager
def atomic_path(destination: Path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it over on success.

    On any exception (a cancel included) the temporary file is removed and the
    destination is left as it was. The temporary file keeps the destination's
    extension (or ``suffix``) so that format-sniffing writers pick the same format.
    """
    destination = Path(destination)
    suffix = destination.suffix if suffix is None else suffix
    fd, name = tempfile.mkstemp(
        prefix=f".{destination.stem}.", suffix=f".partial{suffix}", dir=destination.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, destination)
        logger.debug("wrote %s", destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
