"""Logging: a rotating file in the user's log folder (``fileio.user_dir("log")``) holds every
traceback."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from flowchroma_core.fileio import user_dir

logger = logging.getLogger(__name__)

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(*, console_level: int = logging.WARNING) -> Path | None:
    """Send records at INFO and above to the log file, and ``console_level`` to stderr.

    Returns the log file's path, or None when the folder cannot be written (logging then
    goes to stderr only, which must not stop the user's work).
    """
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler()
    console.setLevel(console_level)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(console)
    path = user_dir("log") / "flowchroma.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5 * 2**20, backupCount=3, encoding="utf-8"
        )
    except OSError as e:
        logger.warning("cannot write the log file %s: %s", path, e)
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    return path
