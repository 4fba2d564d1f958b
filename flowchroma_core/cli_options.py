"""What the ``flowchroma`` commands share: the option flags over the saved settings
(``settings_from``), the model session they select, the video-engine flag, and frame
positions given as numbers, seconds or timecodes. ``cli.py`` builds the parser and runs
the commands."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowchroma_core.model.session import ModelSession
    from flowchroma_core.pipeline.options import ColorizeOptions
    from flowchroma_core.settings import Settings
    from flowchroma_core.video.reader import VideoInfo

logger = logging.getLogger(__name__)


def position(option: str, text: str, info: VideoInfo) -> int:
    """A ``--start`` / ``--end`` value as a frame index; an error names the option."""
    from flowchroma_core.video.timecode import parse_position

    try:
        return parse_position(text, info.frame_rate, start_timecode=info.start_timecode)
    except ValueError as e:
        raise ValueError(
            f"{option}: {e}; positions are frame numbers (120), seconds (4.5s) or timecodes"
        ) from e


def settings_from(args: argparse.Namespace) -> Settings:
    """The saved settings with the command line's option flags over them, validated.

    A bad value in the settings file stops the command only when the command uses it and
    no flag replaces it; a bad value it does not use (the GUI's export folder) is a warning.
    """
    from flowchroma_core.pipeline.options import SETTING_FIELDS
    from flowchroma_core.settings import SettingsError, read_settings, settings_path

    overrides = {
        name: str(value) if name == "model" else value
        for name in SETTING_FIELDS
        if (value := getattr(args, name, None)) is not None
    }
    saved, problems = read_settings()
    used = [
        f"{problem} (fix it or pass --{name.replace('_', '-')})"
        for name, problem in problems.items()
        if name in SETTING_FIELDS and name not in overrides
    ]
    if used:
        raise SettingsError(f"{settings_path()}: " + "; ".join(used))
    for name, problem in problems.items():
        if name not in SETTING_FIELDS:
            logger.warning("%s: %s (not used here; ignored)", settings_path(), problem)
    return saved.replace(**overrides).validated()


def session_for(options: ColorizeOptions) -> ModelSession:
    from flowchroma_core.model.session import ModelSession

    return ModelSession.load(options.model, device=options.device, precision=options.precision)


OPTION_FLAGS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "window_frames": (
        ("--window-frames", "--clip-length"),
        {"type": int, "help": "frames per window of the sliding colorizer (default 16)"},
    ),
    "overlap": (("--overlap",), {"type": int, "help": "frames shared by neighbouring windows"}),
    "padding": (("--padding",), {"help": "white, black or edge"}),
    "cut_threshold": (
        ("--cut-threshold",),
        {"type": float, "help": "shot-cut sensitivity 0..1 (0: off)"},
    ),
    "device": (("--device",), {"help": "auto, cuda or cpu (default: the saved setting)"}),
    "precision": (("--precision",), {"help": "fp32, fp16 or bf16 (CUDA only)"}),
    "model": (("--model",), {"type": Path, "help": "a FlowChroma .safetensors model file"}),
    "vividness": (
        ("--vividness",),
        {"type": float, "help": "colour-class models: 0 (muted) to 1 (vivid); default: model's"},
    ),
}
"""A flag for every user-set option (``options.SETTING_FIELDS``); unset flags keep the
saved settings."""


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_hardware_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hardware-video",
        action=argparse.BooleanOptionalAction,
        help="decode on NVDEC and encode H.264 on NVENC where they work here, software "
        "otherwise (a note says which); FFV1, ProRes and DNxHR are always software "
        "(default: the saved setting, off)",
    )


def hardware_video_from(args: argparse.Namespace, settings: Settings) -> bool:
    """--hardware-video / --no-hardware-video, else the saved setting."""
    flag = args.hardware_video
    return settings.export_hardware_video if flag is None else flag


def add_option_flags(p: argparse.ArgumentParser, names: Sequence[str] | None = None) -> None:
    from flowchroma_core.pipeline.options import SETTING_FIELDS

    for name in names or SETTING_FIELDS:
        flags, kwargs = OPTION_FLAGS[name]
        p.add_argument(*flags, dest=name, **kwargs)
