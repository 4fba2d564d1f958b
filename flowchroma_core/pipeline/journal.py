"""The work folder of a segmented export and its journal: what a crashed export had finished.

The work folder ``.OUT.parts/`` lies beside the destination (``.film.mkv.parts/`` for
``film.mkv``). It holds the part files, ``journal.json`` and ``lock``. The journal records
what makes the parts valid — the film's identity (size, mtime and a hash of its head and
tail), the options as run, the model's identity, the codec, the range and the segment
plan — and each finished part with its size and SHA-256. It is rewritten atomically after
every segment, so a kill at any moment leaves either the old or the new journal.

A journal written under other settings, for another film or another model, is refused
with the reason (``JournalMismatchError``): parts are never mixed. ``lock`` is held with
``fcntl.flock`` while an export runs, so a second export to the same destination fails
at once (``DestinationBusyError``); the kernel releases it when the process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.fileio import atomic_path
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.segments import Part, Segment, file_sha256, part_size

logger = logging.getLogger(__name__)

JOURNAL_VERSION = 1
HASH_SPAN = 4 << 20  # bytes hashed at the film's head and at its tail


class JournalMismatchError(FlowChromaError):
    """A journal from another film, other settings or another model: refused, never mixed."""


class DestinationBusyError(FlowChromaError):
    """Another export is writing to the same destination right now."""


def work_folder(destination: Path) -> Path:
    """``.film.mkv.parts`` beside ``film.mkv``."""
    destination = Path(destination)
    return destination.parent / f".{destination.name}.parts"


def finished_segments(folder: Path) -> int:
    """How many finished segments the journal in ``folder`` records (0 without one)."""
    try:
        return len(json.loads((Path(folder) / "journal.json").read_text())["done"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def film_identity(path: Path) -> dict[str, Any]:
    """Size, mtime and SHA-256 of the size plus the first and last ``HASH_SPAN`` bytes."""
    path = Path(path)
    if not path.is_file():  # an image sequence: its folder, or a pattern in a folder
        return _sequence_identity(path)
    stat = path.stat()
    digest = hashlib.sha256(f"{stat.st_size}\n".encode())
    with open(path, "rb") as f:
        digest.update(f.read(HASH_SPAN))
        if stat.st_size > HASH_SPAN:
            f.seek(max(HASH_SPAN, stat.st_size - HASH_SPAN))
            digest.update(f.read())
    return {
        "name": path.name,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256_head_tail": digest.hexdigest(),
    }


def _sequence_identity(path: Path) -> dict[str, Any]:
    """Names, sizes and mtimes of the files of an image sequence's folder."""
    folder = path if path.is_dir() else path.parent
    digest = hashlib.sha256(path.name.encode())
    total = 0
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            stat = entry.stat()
            total += stat.st_size
            digest.update(f"{entry.name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return {"name": path.name, "size": total, "sha256_listing": digest.hexdigest()}


def model_identity(session: ModelSession) -> str:
    """SHA-256 of the model file, or of the weights of a model built in memory."""
    path = Path(session.name)
    if session.name and path.is_file():
        return "file:" + file_sha256(path)
    digest = hashlib.sha256()
    for name, tensor in sorted(session.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "weights:" + digest.hexdigest()


@dataclass
class Journal:
    """What a segmented export is and what of it is finished; saved in ``folder``."""

    folder: Path
    key: dict[str, Any]  # everything that must match for the parts to be reused
    segments: list[Segment]
    done: dict[int, Part] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.folder / "journal.json"

    @staticmethod
    def make_key(
        *,
        film: Path,
        options: ColorizeOptions,
        model: str,
        codec: str,
        start: int,
        stop: int,
        frame_rate: str | None,
        guidance: str | None = None,
        hardware: bool = False,
    ) -> dict[str, Any]:
        """``guidance``: the run's ``Guidance.revision`` (points, stills, shots), or None.
        ``hardware``: the parts may be NVENC's, so they do not mix with software parts (the
        key holds it only when set, so journals written before it existed still match)."""
        key = {
            "film": film_identity(film),
            "options": json.loads(options.to_json()),
            "model": model,
            "codec": codec,
            "range": [start, stop],
            "frame_rate": frame_rate,
            "guidance": guidance,
        }
        if hardware:
            key["hardware"] = True
        return key

    def save(self) -> None:
        """Rewrite the journal atomically."""
        data = {
            "version": JOURNAL_VERSION,
            **self.key,
            "segments": [s.to_json() for s in self.segments],
            "done": [self.done[i].to_json() for i in sorted(self.done)],
        }
        with atomic_path(self.path, suffix=".json") as tmp:
            tmp.write_text(json.dumps(data, indent=1) + "\n")

    def finish(self, part: Part) -> None:
        self.done[part.index] = part
        self.save()

    def pending(self) -> list[Segment]:
        return [s for s in self.segments if s.index not in self.done]

    def parts(self) -> list[Part]:
        return [self.done[s.index] for s in self.segments]

    @classmethod
    def load(cls, folder: Path, key: dict[str, Any]) -> Journal | None:
        """The journal in ``folder`` if there is one; ``JournalMismatchError`` if it was made
        for anything else than ``key``. Parts whose file is gone or changed are dropped
        (their segment is rendered again)."""
        path = Path(folder) / "journal.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            if data.get("version") != JOURNAL_VERSION:
                raise ValueError(f"version {data.get('version')}")
            segments = [Segment.from_json(s) for s in data["segments"]]
            parts = [Part.from_json(p, Path(folder)) for p in data["done"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise JournalMismatchError(
                f"{path}: unreadable journal ({error}); use --restart to start afresh"
            ) from error
        if reason := _difference(data, key):
            raise JournalMismatchError(
                f"{path}: an unfinished export with {reason}; its parts are not reused. "
                "Run with the same settings to resume it, or use --restart to start afresh"
            )
        journal = cls(Path(folder), key, segments)
        for part in parts:
            if _intact(part):
                journal.done[part.index] = part
            else:
                logger.warning(
                    "%s: missing or changed; segment %d is redone", part.path, part.index
                )
        return journal


def _difference(data: dict[str, Any], key: dict[str, Any]) -> str | None:
    """The first thing in which a journal differs from ``key``, said in words."""
    if data.get("film") != key["film"]:
        return f"another film (or the film changed): {data.get('film', {}).get('name')}"
    if data.get("model") != key["model"]:
        return "another model file"
    old, new = data.get("options", {}), key["options"]
    if old != new:
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        said = ", ".join(f"{k} {old.get(k)!r} (now {new.get(k)!r})" for k in changed)
        return f"other options: {said}"
    if data.get("guidance") != key["guidance"]:
        return "other colour guidance (points or reference stills were changed)"
    for name in ("codec", "range", "frame_rate"):
        if data.get(name) != key[name]:
            return f"another {name.replace('_', ' ')}: {data.get(name)} (now {key[name]})"
    return None


def _intact(part: Part) -> bool:
    try:
        return part_size(part.path) == part.size and file_sha256(part.path) == part.sha256
    except OSError:
        return False


class WorkFolder:
    """The locked work folder of one export; ``remove()`` once the output is in place."""

    def __init__(self, destination: Path) -> None:
        self.path = work_folder(destination)
        self._lock: IO[str] | None = None

    def acquire(self) -> WorkFolder:
        """Create the folder and take its lock (``DestinationBusyError``: another export has it)."""
        self.path.mkdir(exist_ok=True)
        lock = open(self.path / "lock", "w")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            lock.close()
            raise DestinationBusyError(
                f"{self.path.parent / self.path.name[1:-6]}: another export is writing to it "
                f"right now (lock {self.path / 'lock'})"
            ) from error
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock = lock
        self._remove_leftovers()
        return self

    def _remove_leftovers(self) -> None:
        """Temporary files of a run that was killed (no other run holds the lock): a part
        or journal being written inside the folder, the final file being assembled beside
        it. Named in the log, then removed."""
        destination = self.path.parent / self.path.name[1:-6]
        leftovers = [p for p in self.path.iterdir() if ".partial" in p.name]
        leftovers += [
            p
            for p in destination.parent.glob(f".{glob.escape(destination.stem)}.*.partial*")
            if p.name.endswith(f".partial{destination.suffix}")
            or (p.is_dir() and p.name.startswith(f".{destination.name}."))
        ]
        for path in leftovers:
            logger.warning("removing %s, left by an export that was killed", path)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove everything in the folder but the lock (``--restart``)."""
        for entry in self.path.iterdir():
            if entry.name == "lock":
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def release(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def remove(self) -> None:
        """Delete the folder (parts, journal, lock) and release the lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()
