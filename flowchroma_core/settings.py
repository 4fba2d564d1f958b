"""Processing settings shared by the CLI and the GUI, saved as TOML in the user's config dir.

Only what changes the pictures lives here (clip length, overlap, padding, device,
precision, model, export defaults). Window geometry and recent files are the GUI's own.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.fileio import atomic_path, config_dir
from flowchroma_core.model.device import DEVICE_NAMES, PRECISIONS
from flowchroma_core.pipeline.framing import PAD_MODES

logger = logging.getLogger(__name__)


class SettingsError(FlowChromaError):
    """A settings value or file is invalid; the message names the field."""


@dataclass(frozen=True)
class Settings:
    """What a colorization run needs besides its input and output."""

    clip_length: int = 16
    overlap: int = 0
    padding: str = "white"
    device: str = "auto"
    precision: str = "fp32"
    model: str = ""  # empty: the shipped default model
    scene_cut_threshold: float = 0.35  # 0 disables cut detection
    export_folder: str = ""
    export_codec: str = "ffv1"

    def problems(self) -> list[str]:
        """Each invalid field with the reason; empty when valid."""
        out = []
        if not 1 <= self.clip_length <= 256:
            out.append("clip_length: must be between 1 and 256 frames")
        if not 0 <= self.overlap < self.clip_length:
            out.append("overlap: must be at least 0 and less than clip_length")
        if self.padding not in PAD_MODES:
            out.append(f"padding: must be one of {', '.join(PAD_MODES)}")
        if self.device.split(":")[0] not in DEVICE_NAMES:
            out.append(f"device: must be one of {', '.join(DEVICE_NAMES)} (or cuda:N)")
        if self.precision not in PRECISIONS:
            out.append(f"precision: must be one of {', '.join(PRECISIONS)}")
        if self.precision != "fp32" and self.device == "cpu":
            out.append("precision: fp16 and bf16 need a CUDA device")
        if self.model and not Path(self.model).expanduser().is_file():
            out.append(f"model: {self.model} does not exist")
        if not 0.0 <= self.scene_cut_threshold <= 1.0:
            out.append("scene_cut_threshold: must be between 0 and 1")
        if self.export_folder and not Path(self.export_folder).expanduser().is_dir():
            out.append(f"export_folder: {self.export_folder} is not a folder")
        return out

    def validated(self) -> Settings:
        """Self, or a SettingsError naming every invalid field."""
        if problems := self.problems():
            raise SettingsError("invalid settings: " + "; ".join(problems))
        return self

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def settings_path() -> Path:
    """``settings.toml`` in the user's config folder (``FLOWCHROMA_CONFIG_DIR`` overrides)."""
    return config_dir() / "settings.toml"


def load_settings(path: Path | None = None) -> Settings:
    """Saved settings, or the defaults when there is no file yet."""
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SettingsError(f"{path}: cannot read settings ({e})") from e
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        logger.warning("%s: ignoring unknown settings %s", path, ", ".join(unknown))
    values = {}
    for name, value in data.items():
        if name not in known:
            continue
        default = getattr(Settings(), name)
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        if type(value) is not type(default):
            raise SettingsError(f"{path}: {name} must be a {type(default).__name__}, not {value!r}")
        values[name] = value
    settings = Settings(**values)
    if problems := settings.problems():
        raise SettingsError(f"{path}: " + "; ".join(problems))
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Validate and write atomically; returns the path written."""
    settings.validated()
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(tomli_w.dumps(dataclasses.asdict(settings)), encoding="utf-8")
    return path
