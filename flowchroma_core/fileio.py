"""Writing files so that a crash or a cancel never leaves a half-written result; the user's
FlowChroma folders (configuration, cache, log), each overridable by an environment variable.
No heavy imports: the GUI thread uses this module."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)


UserFolder = Literal["config", "cache", "log"]


def user_dir(kind: UserFolder) -> Path:
    """The user's FlowChroma folder of ``kind``; ``FLOWCHROMA_<KIND>_DIR`` overrides it.

    config: settings.toml and the GUI's state; cache: backbone weights; log: the log file.
    The override lets tests and benchmarks keep a developer's real folders untouched.
    """
    if kind not in ("config", "cache", "log"):
        raise ValueError(f"unknown folder {kind!r}; allowed: config, cache, log")
    override = os.environ.get(f"FLOWCHROMA_{kind.upper()}_DIR")
    if override:
        return Path(override)
    import platformdirs

    find = {
        "config": platformdirs.user_config_dir,
        "cache": platformdirs.user_cache_dir,
        "log": platformdirs.user_log_dir,
    }[kind]
    return Path(find("flowchroma", appauthor=False))


def config_dir() -> Path:
    """``user_dir("config")``, under the name the main window still calls it by."""
    return user_dir("config")


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _file_mode(destination: Path) -> int:
    """The replaced file's own permissions, or those the umask gives a new file."""
    try:
        return destination.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(destination: Path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it over on success.

    On any exception (a cancel included) the temporary file is removed and the
    destination is left as it was. The temporary file keeps the destination's
    extension (or ``suffix``) so that format-sniffing writers pick the same format. The
    file keeps the permissions of the file it replaces, or gets the umask's for a new one.
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
        if tmp.is_file():  # mkstemp makes it 0600: give it the mode a new file would have
            tmp.chmod(_file_mode(destination))
        os.replace(tmp, destination)
        logger.debug("wrote %s", destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
