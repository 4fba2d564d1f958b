"""Reference stills: reading them, fitting them to the model, and naming them on the CLI.

A reference is a colour still (PNG, JPEG, TIFF: whatever OpenCV reads, 8 or 16 bit) that
shows one frame of the film as the restorer wants it coloured. It is refused, with one
line naming the file, when it cannot be read or when it is grey (its mean chroma below
``GREY_CHROMA``: "is grey; a reference must be in colour"). It may differ from the film
in size and aspect: it is fitted to the model input exactly as frames are (``letterbox``,
white padding, as the colorizer pads L) and handed to the network as normalised Lab,
(L*/50 - 1, a*/110, b*/110).

On the command line, ``--reference FRAME:IMAGE`` (FRAME 0-based; split at the first colon
only, and only when what precedes it is an integer, so ``12:C:\\stills\\a.png`` works) and
``--references DIR`` (files ``ref_NNNNNN.png``, the DeepRemaster/HAVC convention, NNNNNN
the 0-based frame). Each still serves the shot that contains its frame.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from flowchroma_core.colour.lab import rgb_to_lab
from flowchroma_core.errors import FlowChromaError
from flowchroma_core.pipeline.framing import Placement, letterbox

logger = logging.getLogger(__name__)

GREY_CHROMA = 2.0
"""Mean sqrt(a*² + b*²) below which a still counts as grey (old prints have ~0.5)."""

REFERENCE_NAME = re.compile(r"^ref_(\d+)\.png$", re.IGNORECASE)
REFERENCE_AB_SCALE = 110.0
L_SCALE = 50.0


class ReferenceError(FlowChromaError):
    """A reference still cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class ReferenceSpec:
    """A still named for a frame (0-based); not read yet."""

    frame: int
    path: Path


@dataclass(frozen=True)
class Reference:
    """A read still: its frame, file, and the image as float RGB (3, H, W) in [0, 1]."""

    frame: int
    path: Path
    rgb: Tensor


def read_image(path: str | os.PathLike[str]) -> Tensor:
    """An image file as float RGB (3, H, W) in [0, 1]; ReferenceError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ReferenceError(f"{path}: no such reference image")
    data = np.fromfile(path, dtype=np.uint8)  # np + imdecode: non-ASCII Windows paths work
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ReferenceError(f"{path}: cannot be read as an image (PNG, JPEG or TIFF expected)")
    if image.dtype == np.uint8:
        scaled = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        scaled = image.astype(np.float32) / 65535.0
    elif image.dtype == np.float32:
        scaled = np.clip(image, 0.0, 1.0)
    else:
        raise ReferenceError(f"{path}: unsupported pixel type {image.dtype}")
    if scaled.ndim == 2:
        scaled = np.repeat(scaled[..., None], 3, axis=2)
    channels = scaled.shape[2]
    if channels == 4:
        scaled = scaled[..., :3]  # alpha ignored
    elif channels != 3:
        raise ReferenceError(f"{path}: {channels} channels; a reference must be RGB")
    rgb = np.ascontiguousarray(scaled[..., ::-1])  # OpenCV is BGR
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


def mean_chroma(rgb: Tensor) -> float:
    """Mean CIE chroma sqrt(a*² + b*²) of float RGB (3, H, W)."""
    lab = rgb_to_lab(rgb)
    return float(lab[1:].square().sum(0).sqrt().mean())


def load_reference(spec: ReferenceSpec) -> Reference:
    """Read a still and refuse a grey one."""
    rgb = read_image(spec.path)
    chroma = mean_chroma(rgb)
    if chroma < GREY_CHROMA:
        raise ReferenceError(
            f"{spec.path}: is grey (mean chroma {chroma:.1f}); a reference must be in colour"
        )
    logger.debug("reference %s for frame %d: %s", spec.path, spec.frame, tuple(rgb.shape))
    return Reference(frame=spec.frame, path=spec.path, rgb=rgb)


def fit_reference(rgb: Tensor, height: int, width: int) -> tuple[Tensor, Placement]:
    """A still fitted to the model input as frames are, as normalised Lab (3, h, w).

    Letterboxed on white (L* = 100, a* = b* = 0), like the colorizer's L input.
    """
    fitted, placement = letterbox(rgb.float(), height, width, pad="white")
    lab = rgb_to_lab(fitted.clamp(0.0, 1.0))
    scale = torch.tensor([L_SCALE, REFERENCE_AB_SCALE, REFERENCE_AB_SCALE]).view(3, 1, 1)
    offset = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    return lab / scale - offset, placement


# ---------------------------------------------------------------------------------------
# Command line


def parse_reference_arg(text: str) -> ReferenceSpec:
    """``FRAME:IMAGE`` -> ReferenceSpec; split at the first colon, only after an integer.

    ``12:C:\\a.png`` is frame 12 of ``C:\\a.png``; ``C:\\a.png`` alone (no frame) is refused.
    """
    head, sep, tail = text.partition(":")
    if not sep or not re.fullmatch(r"\s*\d+\s*", head) or not tail:
        raise ReferenceError(
            f'--reference "{text}": expected FRAME:IMAGE with FRAME a 0-based frame number, '
            'e.g. "120:stills/dress.png"'
        )
    return ReferenceSpec(frame=int(head), path=Path(tail))


def scan_reference_dir(folder: str | os.PathLike[str]) -> list[ReferenceSpec]:
    """The ``ref_NNNNNN.png`` files of a folder (other files ignored, with a note), by frame."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReferenceError(f"{folder}: no such folder of reference stills")
    specs: list[ReferenceSpec] = []
    ignored = 0
    for path in sorted(folder.iterdir()):
        match = REFERENCE_NAME.match(path.name)
        if match and path.is_file():
            specs.append(ReferenceSpec(frame=int(match.group(1)), path=path))
        else:
            ignored += 1
    if not specs:
        raise ReferenceError(f"{folder}: no reference stills named ref_NNNNNN.png")
    if ignored:
        logger.info("%s: %d file(s) not named ref_NNNNNN.png ignored", folder, ignored)
    return sorted(specs, key=lambda s: s.frame)


def check_frames(specs: Iterable[ReferenceSpec], frames: int) -> None:
    """ReferenceError for a still named for a frame outside a film of ``frames`` frames."""
    for spec in specs:
        if not 0 <= spec.frame < frames:
            raise ReferenceError(
                f"{spec.path}: frame {spec.frame} is outside the film (frames 0 to {frames - 1})"
            )


def shot_index(frame: int, cuts: Sequence[int]) -> int:
    """Which shot (0-based) contains ``frame``, given the sorted frames that start shots
    (``cuts``; frame 0 need not be listed)."""
    return bisect.bisect_right([c for c in cuts if c > 0], frame)


def assign_to_shots(
    specs: Iterable[ReferenceSpec], cuts: Sequence[int]
) -> dict[int, list[ReferenceSpec]]:
    """Group stills by the shot containing their frame (shot index -> stills, in frame order)."""
    cuts = sorted(cuts)
    shots: dict[int, list[ReferenceSpec]] = {}
    for spec in sorted(specs, key=lambda s: s.frame):
        shots.setdefault(shot_index(spec.frame, cuts), []).append(spec)
    return shots
