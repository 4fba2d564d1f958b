"""The restorer's project file ``FILM.flowchroma.json``: its schema, loading and saving.

Schema ``flowchroma.project/1`` (a JSON object; frames are 0-based in presentation order)::

    {"schema": "flowchroma.project/1",
     "source": {"name": "film.mkv", "sha256": "<hex>", "hash": "size+head+tail 8MiB",
                "frames": 360, "rate": "30000/1001"},
     "palette": [{"name": "dress red", "a": 52.1, "b": 31.4}],
     "shots": [{"start": 0, "end": 134,                     # frames [start, end)
                "keyframes": [0, 60],
                "points": [{"frame": 0, "x": 0.41, "y": 0.65, "a": 52.1, "b": 31.4,
                            "size": 0.02, "label": "dress"}],
                "references": [{"path": "refs/ref_000000.png", "frame": 0}]}]}

* ``source.sha256`` is, for speed on feature films, the SHA-256 of the file's size (as
  decimal ASCII and a newline), then its first 8 MiB, then its last 8 MiB (the whole file
  when it is 16 MiB or less); ``source.hash`` names that recipe. A project whose hash
  differs from the film it is loaded for still loads (frames map by number) with a
  warning.
* Point ``x``, ``y`` are fractions of the frame width and height (0..1, resolution
  independent); ``size`` is the side of the point's square patch as a fraction of the frame
  width; ``a``, ``b`` are CIE a*, b* (D65). ``label`` is free text (may be empty).
* Reference ``path`` is relative to the project file's folder.
* ``palette`` holds named colours shared by every shot.

Loading checks everything and raises ``ProjectError`` with one line naming the file and the
first problem (malformed JSON, a missing field, a wrong type, a point outside its shot, a
schema made by a newer FlowChroma). Saving is atomic (temporary file, then rename).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.fileio import atomic_path

logger = logging.getLogger(__name__)

SCHEMA_NAME = "flowchroma.project"
SCHEMA_VERSION = 1
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
HASH_RECIPE = "size+head+tail 8MiB"
HASH_CHUNK = 8 * 1024 * 1024
PROJECT_SUFFIX = ".flowchroma.json"


class ProjectError(FlowChromaError):
    """A project file cannot be used; the message names the file and the problem."""


# ---------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Point:
    """A colour the restorer set at one spot of one frame."""

    frame: int
    x: float
    y: float
    a: float
    b: float
    size: float = 0.02
    label: str = ""


@dataclass(frozen=True)
class ReferenceStill:
    """A colour still for a shot; ``path`` relative to the project file, ``frame`` it shows."""

    path: str
    frame: int


@dataclass(frozen=True)
class PaletteColour:
    """A named colour reused across shots."""

    name: str
    a: float
    b: float


@dataclass
class Shot:
    """Frames [start, end) with their keyframes, points and reference stills."""

    start: int
    end: int
    keyframes: list[int] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    references: list[ReferenceStill] = field(default_factory=list)

    def __contains__(self, frame: object) -> bool:
        return isinstance(frame, int) and self.start <= frame < self.end


@dataclass(frozen=True)
class Source:
    """The film the project was made for."""

    name: str
    sha256: str
    frames: int
    rate: str  # exact, e.g. "30000/1001"

    @property
    def rate_fraction(self) -> Fraction:
        """The frame rate as an exact fraction."""
        return Fraction(self.rate)


@dataclass
class Project:
    """Everything the restorer decided about one film's colours."""

    source: Source
    shots: list[Shot] = field(default_factory=list)
    palette: list[PaletteColour] = field(default_factory=list)

    def shot_of(self, frame: int) -> Shot | None:
        """The shot containing ``frame``, if the project has one."""
        return next((s for s in self.shots if frame in s), None)

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to disk."""
        return {
            "schema": SCHEMA,
            "source": {**dataclasses.asdict(self.source), "hash": HASH_RECIPE},
            "palette": [dataclasses.asdict(c) for c in self.palette],
            "shots": [dataclasses.asdict(s) for s in self.shots],
        }


# ---------------------------------------------------------------------------------------
# Paths, hashing


def project_path_for(film: str | os.PathLike[str]) -> Path:
    """``FILM.flowchroma.json`` beside the film: ``reel1.mkv`` -> ``reel1.flowchroma.json``."""
    film = Path(film)
    return film.with_name(film.stem + PROJECT_SUFFIX)


def source_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of size + first 8 MiB + last 8 MiB of the file (see the module docstring)."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(f"{size}\n".encode())
    with path.open("rb") as f:
        if size <= 2 * HASH_CHUNK:
            digest.update(f.read())
        else:
            digest.update(f.read(HASH_CHUNK))
            f.seek(size - HASH_CHUNK)
            digest.update(f.read(HASH_CHUNK))
    return digest.hexdigest()


def exact_rate(rate: Fraction | float | str) -> str:
    """A rate as the exact string the schema stores ("30000/1001", "25/1")."""
    value = (
        Fraction(rate).limit_denominator(1_000_000) if isinstance(rate, float) else Fraction(rate)
    )
    return f"{value.numerator}/{value.denominator}"


# ---------------------------------------------------------------------------------------
# Validation


class _Reader:
    """Typed field access that raises ProjectError with the JSON path of the problem."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, where: str, problem: str) -> ProjectError:
        return ProjectError(f"{self.file}: {where}: {problem}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_kind(value)}")
        return value

    def get(self, data: dict[str, Any], key: str, where: str, default: Any = ...) -> Any:
        if key not in data:
            if default is ...:
                raise self.fail(where, f'missing field "{key}"')
            return default
        return data[key]

    def int_(self, data: dict[str, Any], key: str, where: str, *, minimum: int = 0) -> int:
        value = self.get(data, key, where)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}.{key}", f"expected an integer, got {_kind(value)}")
        if value < minimum:
            raise self.fail(f"{where}.{key}", f"must be at least {minimum}, got {value}")
        return value

    def float_(
        self,
        data: dict[str, Any],
        key: str,
        where: str,
        *,
        lo: float = -math.inf,
        hi: float = math.inf,
        default: Any = ...,
    ) -> float:
        value = self.get(data, key, where, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(f"{where}.{key}", f"expected a number, got {_kind(value)}")
        if not lo <= value <= hi:
            raise self.fail(f"{where}.{key}", f"must be in [{lo:g}, {hi:g}], got {value}")
        return float(value)

    def str_(self, data: dict[str, Any], key: str, where: str, default: Any = ...) -> str:
        value = self.get(data, key, where, default)
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", f"expected a string, got {_kind(value)}")
        return value

    def list_(self, data: dict[str, Any], key: str, where: str) -> list[Any]:
        value = self.get(data, key, where, [])
        if not isinstance(value, list):
            raise self.fail(f"{where}.{key}", f"expected a list, got {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _check_schema(r: _Reader, data: dict[str, Any]) -> None:
    schema = r.str_(data, "schema", "project")
    name, _, version = schema.partition("/")
    if name != SCHEMA_NAME or not version.isdigit():
        raise r.fail("schema", f'"{schema}" is not a FlowChroma project (expected "{SCHEMA}")')
    if int(version) > SCHEMA_VERSION:
        raise r.fail(
            "schema",
            f"version {version} was made by a newer FlowChroma (this one reads up to "
            f"{SCHEMA_VERSION}); update FlowChroma to open it",
        )


def _parse_source(r: _Reader, data: dict[str, Any]) -> Source:
    where = "source"
    src = r.obj(r.get(data, "source", "project"), where)
    rate = r.str_(src, "rate", where)
    try:
        value = Fraction(rate)
    except (ValueError, ZeroDivisionError):
        raise r.fail(f"{where}.rate", f'"{rate}" is not a rate like "30000/1001"') from None
    if value <= 0:
        raise r.fail(f"{where}.rate", f"must be positive, got {rate}")
    sha = r.str_(src, "sha256", where)
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower()):
        raise r.fail(f"{where}.sha256", "expected 64 hexadecimal digits")
    return Source(
        name=r.str_(src, "name", where, ""),
        sha256=sha.lower(),
        frames=r.int_(src, "frames", where, minimum=1),
        rate=exact_rate(value),
    )


def _parse_point(r: _Reader, data: Any, where: str) -> Point:
    p = r.obj(data, where)
    return Point(
        frame=r.int_(p, "frame", where),
        x=r.float_(p, "x", where, lo=0.0, hi=1.0),
        y=r.float_(p, "y", where, lo=0.0, hi=1.0),
        a=r.float_(p, "a", where, lo=-128.0, hi=128.0),
        b=r.float_(p, "b", where, lo=-128.0, hi=128.0),
        size=r.float_(p, "size", where, lo=0.0, hi=1.0, default=0.02),
        label=r.str_(p, "label", where, ""),
    )


def _parse_shot(r: _Reader, data: Any, where: str, frames: int) -> Shot:
    s = r.obj(data, where)
    start = r.int_(s, "start", where)
    end = r.int_(s, "end", where, minimum=start + 1)
    if end > frames:
        raise r.fail(f"{where}.end", f"{end} is past the film's {frames} frames")
    keyframes = []
    for i, k in enumerate(r.list_(s, "keyframes", where)):
        if isinstance(k, bool) or not isinstance(k, int):
            raise r.fail(f"{where}.keyframes[{i}]", f"expected an integer, got {_kind(k)}")
        keyframes.append(k)
    points = [
        _parse_point(r, p, f"{where}.points[{i}]")
        for i, p in enumerate(r.list_(s, "points", where))
    ]
    references = []
    for i, ref in enumerate(r.list_(s, "references", where)):
        here = f"{where}.references[{i}]"
        ref = r.obj(ref, here)
        references.append(
            ReferenceStill(path=r.str_(ref, "path", here), frame=r.int_(ref, "frame", here))
        )
    for what, frame in [
        *((f"keyframes[{i}]", k) for i, k in enumerate(keyframes)),
        *((f"points[{i}].frame", p.frame) for i, p in enumerate(points)),
        *((f"references[{i}].frame", ref.frame) for i, ref in enumerate(references)),
    ]:
        if not start <= frame < end:
            raise r.fail(f"{where}.{what}", f"frame {frame} is outside the shot [{start}, {end})")
    return Shot(start, end, keyframes, points, references)


def parse_project(data: Any, file: Path) -> Project:
    """A ``Project`` from decoded JSON; ``ProjectError`` naming ``file`` if it is invalid."""
    r = _Reader(file)
    data = r.obj(data, "project")
    _check_schema(r, data)
    source = _parse_source(r, data)
    palette = []
    for i, c in enumerate(r.list_(data, "palette", "project")):
        where = f"palette[{i}]"
        c = r.obj(c, where)
        palette.append(
            PaletteColour(
                name=r.str_(c, "name", where),
                a=r.float_(c, "a", where, lo=-128.0, hi=128.0),
                b=r.float_(c, "b", where, lo=-128.0, hi=128.0),
            )
        )
    shots = [
        _parse_shot(r, s, f"shots[{i}]", source.frames)
        for i, s in enumerate(r.list_(data, "shots", "project"))
    ]
    ordered = sorted(shots, key=lambda s: s.start)
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise r.fail(
                "shots",
                f"shots [{before.start}, {before.end}) and [{after.start}, {after.end}) overlap",
            )
    return Project(source=source, shots=ordered, palette=palette)


# ---------------------------------------------------------------------------------------
# Load, save


def load_project(
    path: str | os.PathLike[str], *, film: str | os.PathLike[str] | None = None
) -> Project:
    """Read and validate a project file.

    With ``film``, its hash is compared with the project's; a mismatch is logged as a
    warning (the project was made for another file: points and stills map by frame number).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such project file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ProjectError(f"{path}: cannot be read: {err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProjectError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    project = parse_project(data, path)
    if film is not None:
        check_source(project, film, path)
    logger.debug("loaded %s: %d shots", path, len(project.shots))
    return project


def check_source(project: Project, film: str | os.PathLike[str], path: Path | None = None) -> bool:
    """Whether ``film`` is the file the project was made for; warns (never raises) if not."""
    actual = source_hash(film)
    if actual == project.source.sha256:
        return True
    logger.warning(
        "%s was made for another file (%s, hash differs from %s); its points and stills are "
        "used by frame number",
        path or "the project",
        project.source.name or "unnamed",
        Path(film).name,
    )
    return False


def save_project(project: Project, path: str | os.PathLike[str]) -> None:
    """Write the project atomically (a crash never leaves a half-written file)."""
    path = Path(path)
    # validate what we write with the same rules as what we read
    parse_project(json.loads(json.dumps(project.to_json())), path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(project.to_json(), indent=1) + "\n", encoding="utf-8")
    logger.info("saved %s", path)


def new_project(film: str | os.PathLike[str], *, frames: int, rate: Fraction | str) -> Project:
    """An empty project for ``film`` (hashed now), with one shot over the whole film."""
    film = Path(film)
    source = Source(name=film.name, sha256=source_hash(film), frames=frames, rate=exact_rate(rate))
    return Project(source=source, shots=[Shot(0, frames)])
