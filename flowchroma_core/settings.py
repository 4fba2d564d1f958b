"""Processing settings shared by the CLI and the GUI, saved as TOML in the user's config dir.

Only what changes the pictures lives here (the fields of ``ColorizeOptions`` a user sets,
with its defaults and its checks) plus the export defaults. Window geometry and recent
files are the GUI's own. Importing this module loads neither torch, PyAV nor OpenCV.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

from flowchroma_core.colour.ycbcr import Matrix
from flowchroma_core.errors import FlowChromaError
from flowchroma_core.fileio import atomic_path, user_dir
from flowchroma_core.pipeline.options import SETTING_FIELDS, ColorizeOptions, option_problems

logger = logging.getLogger(__name__)

_DEFAULT = ColorizeOptions()
LEGACY_NAMES = {"clip_length": "window_frames", "scene_cut_threshold": "cut_threshold"}
"""Names older settings files used, read as the new ones."""


class SettingsError(FlowChromaError):
    """A settings value or file is invalid; the message names the field. ``partial``: the
    settings with every valid field of the file, where the file could be read."""

    def __init__(self, message: str, *, partial: Settings | None = None) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class Settings:
    """What a colorization run needs besides its input and output."""

    window_frames: int = _DEFAULT.window_frames
    overlap: int = _DEFAULT.overlap
    padding: str = _DEFAULT.padding
    cut_threshold: float = _DEFAULT.cut_threshold
    device: str = _DEFAULT.device
    precision: str = _DEFAULT.precision
    model: str = _DEFAULT.model  # empty: the shipped default model
    vividness: float | None = _DEFAULT.vividness  # None: the model's default
    export_folder: str = ""
    export_codec: str = "ffv1"
    # Decode on NVDEC and encode H.264 on NVENC where they work (video/hardware.py); the
    # lossless and mastering codecs are software everywhere.
    export_hardware_video: bool = False

    def problems(self) -> list[str]:
        """Each invalid field with the reason; empty when valid."""
        out = option_problems({name: getattr(self, name) for name in SETTING_FIELDS})
        if self.model and not Path(self.model).expanduser().is_file():
            out.append(f"model: {self.model} does not exist")
        if self.export_folder and not Path(self.export_folder).expanduser().is_dir():
            out.append(f"export_folder: {self.export_folder} is not a folder")
        return out

    def colorize_options(self, *, matrix: Matrix = "bt709") -> ColorizeOptions:
        """The options these settings select, for a source with luma ``matrix``."""
        values = {name: getattr(self, name) for name in SETTING_FIELDS}
        if values["model"]:
            values["model"] = str(Path(values["model"]).expanduser())
        return ColorizeOptions(**values, matrix=matrix)

    def validated(self) -> Settings:
        """Self, or a SettingsError naming every invalid field."""
        if problems := self.problems():
            raise SettingsError("invalid settings: " + "; ".join(problems))
        return self

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def settings_path() -> Path:
    """``settings.toml`` in the user's config folder (``FLOWCHROMA_CONFIG_DIR`` overrides)."""
    return user_dir("config") / "settings.toml"


def read_settings(path: Path | None = None) -> tuple[Settings, dict[str, str]]:
    """Saved settings read field by field: every valid field is kept, a bad one is left at
    its default and reported (field name -> the problem, which names the field).

    Only an unreadable file is a ``SettingsError``: one bad value never costs the others.
    """
    path = path or settings_path()
    if not path.exists():
        return Settings(), {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SettingsError(f"{path}: cannot read settings ({e})") from e
    known = {f.name: f for f in fields(Settings)}
    data = {LEGACY_NAMES.get(name, name): value for name, value in data.items()}
    unknown = sorted(set(data) - set(known))
    if unknown:
        logger.warning("%s: ignoring unknown settings %s", path, ", ".join(unknown))
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, value in data.items():
        if name not in known:
            continue
        default = getattr(Settings(), name)
        if name == "vividness":  # the one optional field: absent from the file when unset
            default = 1.0
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(default):
            problems[name] = f"{name} must be a {type(default).__name__}, not {value!r}"
            continue
        values[name] = value
    # drop the fields a check refuses (one at a time: overlap is judged by window_frames)
    while found := Settings(**values).problems():
        name = found[0].split(":", 1)[0]
        if name not in values:
            break  # not a field of the file's (cannot happen with valid defaults)
        problems[name] = found[0]
        del values[name]
    return Settings(**values), problems


def load_settings(path: Path | None = None) -> Settings:
    """Saved settings, or the defaults when there is no file yet.

    A bad value raises ``SettingsError`` naming every bad field; its ``partial`` holds the
    settings with every valid field of the file kept (what the GUI carries on with).
    """
    path = path or settings_path()
    settings, problems = read_settings(path)
    if problems:
        raise SettingsError(f"{path}: " + "; ".join(problems.values()), partial=settings)
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Validate and write atomically; returns the path written."""
    settings.validated()
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        values = {k: v for k, v in dataclasses.asdict(settings).items() if v is not None}
        tmp.write_text(tomli_w.dumps(values), encoding="utf-8")
    return path
