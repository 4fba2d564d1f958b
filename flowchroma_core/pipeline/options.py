"""``ColorizeOptions``: everything that decides a colorized frame's colours besides the
model's weights and the source, built and validated once, then handed unchanged to the
preview (its cache key), the export (recorded in the file), evaluation and the colorizer.

The defaults and the rules (``overlap < window_frames``, the allowed names) live here
and only here; ``settings`` stores these fields and checks them with ``option_problems``.
Importing this module loads neither torch, PyAV nor OpenCV.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal, get_args

from flowchroma_core.colour.ycbcr import MATRICES, Matrix
from flowchroma_core.errors import FlowChromaError
from flowchroma_core.model.names import DEVICE_NAMES, PRECISIONS

logger = logging.getLogger(__name__)

PadMode = Literal["white", "black", "edge"]
PAD_MODES: tuple[str, ...] = get_args(PadMode)

MAX_WINDOW_FRAMES = 256

SETTING_FIELDS: tuple[str, ...] = (
    "window_frames",
    "overlap",
    "padding",
    "cut_threshold",
    "device",
    "precision",
    "model",
    "vividness",
)
"""The options a user sets (settings file, CLI flags, settings dialog), in that order.
The others (``matrix``, ``carry_state``) come from the source or the caller."""


class OptionsError(FlowChromaError, ValueError):
    """Invalid colorization options; the message names each field."""


def option_problems(values: dict[str, Any]) -> list[str]:
    """Each invalid option among ``values`` (field name -> value) with the reason."""
    out: list[str] = []
    frames = values.get("window_frames", ColorizeOptions.window_frames)
    if "window_frames" in values and not 1 <= frames <= MAX_WINDOW_FRAMES:
        out.append(f"window_frames: must be between 1 and {MAX_WINDOW_FRAMES} frames")
    if "overlap" in values and not 0 <= values["overlap"] < frames:
        out.append("overlap: must be at least 0 and less than window_frames")
    if "padding" in values and values["padding"] not in PAD_MODES:
        out.append(f"padding: must be one of {', '.join(PAD_MODES)}")
    if "cut_threshold" in values and not 0.0 <= values["cut_threshold"] <= 1.0:
        out.append("cut_threshold: must be between 0 (off) and 1")
    device = values.get("device", "auto")
    if device.split(":")[0] not in DEVICE_NAMES:
        out.append(f"device: must be one of {', '.join(DEVICE_NAMES)} (or cuda:N)")
    precision = values.get("precision", "fp32")
    if precision not in PRECISIONS:
        out.append(f"precision: must be one of {', '.join(PRECISIONS)}")
    elif precision != "fp32" and device == "cpu":
        out.append("precision: fp16 and bf16 need a CUDA device")
    vividness = values.get("vividness")
    if vividness is not None and not 0.0 <= vividness <= 1.0:
        out.append(
            "vividness: must be between 0 (muted) and 1 (vivid), or unset: the model's default"
        )
    if "matrix" in values and values["matrix"] not in MATRICES:
        out.append(f"matrix: must be one of {', '.join(MATRICES)}")
    if values.get("carry_state") is False and values.get("overlap", 0) != 0:
        out.append("overlap: must be 0 when the temporal state is not carried")
    return out


@dataclass(frozen=True)
class ColorizeOptions:
    """How to colorize; frozen and hashable (the preview's cache key holds it)."""

    window_frames: int = 16  # frames per pass of the sliding window (not the training clip)
    overlap: int = 0  # frames neighbouring windows share, cross-faded
    padding: str = "white"  # what fills the letterbox around the frame: see PAD_MODES
    cut_threshold: float = 0.35  # shot-cut sensitivity; 0 disables cut detection
    device: str = "auto"
    precision: str = "fp32"
    model: str = ""  # a model file; empty: the shipped default model
    vividness: float | None = None  # None: the model's default
    matrix: Matrix = "bt709"  # the source's luma matrix: chroma is computed for it
    carry_state: bool = True  # False: the per-frame baseline (a fresh state every window)

    def __post_init__(self) -> None:
        if problems := option_problems(dataclasses.asdict(self)):
            raise OptionsError("invalid options: " + "; ".join(problems))

    def replace(self, **changes: Any) -> ColorizeOptions:
        """A copy with ``changes``, validated."""
        return dataclasses.replace(self, **changes)

    @property
    def detects_cuts(self) -> bool:
        return self.cut_threshold > 0

    def to_json(self) -> str:
        """One line of JSON with every field (recorded in exported files)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ColorizeOptions:
        """Options recorded by ``to_json``; unknown fields are an error."""
        return cls(**json.loads(text))
