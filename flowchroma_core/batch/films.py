"""The films a batch colorizes, from the command's arguments, and where each one goes.

An argument is a film, a folder (the videos in it, not recursive) or a list file
(``.txt``/``.lst``/``.list``: one path per line, ``#`` starts a comment, relative paths are
read from the list's folder). Each film goes to ``OUTDIR/<stem><extension of the codec>``
(a folder of frames for image sequences), so two films with one stem are refused before
anything runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.video.presets import get_preset

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mov", ".mkv", ".avi", ".mxf", ".m4v", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts",
     ".wmv", ".flv", ".ogv", ".dv", ".y4m"}
)  # fmt: skip
"""What counts as a video when a folder is given."""

LIST_EXTENSIONS = frozenset({".txt", ".lst", ".list"})
"""A file with one of these extensions is a list of films, not a film."""


class BatchInputError(FlowChromaError):
    """An argument of ``flowchroma batch`` names nothing usable."""


@dataclass(frozen=True)
class BatchFilm:
    """A film of the batch and the path its export is asked to write."""

    source: Path
    destination: Path

    @property
    def name(self) -> str:
        return self.source.name


def expand_films(arguments: Sequence[Path | str]) -> list[Path]:
    """The films named by ``arguments``, in order, each once (absolute paths)."""
    films: list[Path] = []
    for argument in arguments:
        films.extend(_expand(Path(argument), within=None))
    unique = list(dict.fromkeys(films))
    if not unique:
        raise BatchInputError("no films to colorize: the arguments name no video")
    return unique


def _expand(path: Path, *, within: Path | None) -> list[Path]:
    where = f" (listed in {within})" if within is not None else ""
    path = path.expanduser()
    if not path.exists():
        raise BatchInputError(f"{path}: no such file or folder{where}")
    if path.is_dir():
        videos = sorted(
            p.resolve()
            for p in path.iterdir()
            if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")
        )
        if not videos:
            raise BatchInputError(
                f"{path}: no videos in this folder{where} "
                f"(looked for {', '.join(sorted(VIDEO_EXTENSIONS))})"
            )
        return videos
    if path.suffix.lower() in LIST_EXTENSIONS:
        if within is not None:
            raise BatchInputError(f"{path}: a list file inside a list file{where}")
        return _read_list(path)
    return [path.resolve()]


def _read_list(path: Path) -> list[Path]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BatchInputError(f"{path}: cannot read this list of films ({error})") from error
    films: list[Path] = []
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            named = Path(entry).expanduser()
            named = named if named.is_absolute() else path.parent / named
            films.extend(_expand(named, within=path))
    if not films:
        raise BatchInputError(f"{path}: this list names no film")
    return films


def destination_for(film: Path, outdir: Path, codec: str) -> Path:
    """``OUTDIR/<film stem><the codec's first extension>``."""
    return Path(outdir).resolve() / f"{Path(film).stem}{get_preset(codec).extensions[0]}"


def plan_films(films: Sequence[Path], outdir: Path, codec: str) -> list[BatchFilm]:
    """Each film with its destination; two films that would write one output are refused."""
    batch = [BatchFilm(Path(f), destination_for(f, outdir, codec)) for f in films]
    seen: dict[Path, Path] = {}
    for item in batch:
        if item.destination in seen:
            raise BatchInputError(
                f"{seen[item.destination]} and {item.source} would both be written to "
                f"{item.destination}; rename one of them or run them in separate batches"
            )
        if item.destination == item.source:
            raise BatchInputError(f"{item.source}: the output would replace the film itself")
        seen[item.destination] = item.source
    return batch
