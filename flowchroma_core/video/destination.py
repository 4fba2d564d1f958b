"""Where an export goes and in what form, decided before anything is opened: the preset
and the path (a file, or for image sequences a folder), refusals of destinations that
cannot work (a missing or read-only folder, the source itself, a folder of strangers'
files), and the pixel format and range chosen for the source's depth and frame size.

``check_destination`` runs the same checks for a caller that wants to answer a bad
destination at once, before slow work such as loading a model.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol, cast

import av

from flowchroma_core.colour.ycbcr import COLOR_RANGES, ColorRange
from flowchroma_core.errors import VideoWriteError
from flowchroma_core.video.presets import (
    DEFAULT_CODEC_BY_EXTENSION,
    CodecPreset,
    PixelFormat,
    codec_for_path,
    get_preset,
)

logger = logging.getLogger(__name__)


class SourceInfo(Protocol):
    """What the writer needs to know about the source (``video_reader.VideoInfo`` fits)."""

    @property
    def path(self) -> Path | str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def sample_aspect(self) -> Fraction: ...
    @property
    def frame_rate(self) -> Fraction: ...
    @property
    def time_base(self) -> Fraction: ...
    @property
    def bit_depth(self) -> int: ...
    @property
    def color_range(self) -> str: ...
    @property
    def color_space(self) -> str: ...
    @property
    def color_primaries(self) -> str: ...
    @property
    def color_trc(self) -> str: ...
    @property
    def rotation(self) -> float:
        """Clockwise turn, in degrees, a player applies for display (the frames are not turned)."""
        ...

    @property
    def variable_frame_rate(self) -> bool: ...


@dataclass
class OutputPlan:
    """What an export will write: checked, chosen, nothing opened yet."""

    preset: CodecPreset
    # The file, or for sequences the folder, that appears at the end.
    destination: Path
    # The extension of each frame file of a sequence; "" for a video file.
    frame_ext: str
    pixel_format: PixelFormat
    color_range: ColorRange
    source_range: ColorRange
    width: int
    height: int
    notes: list[str] = field(default_factory=list)

    def is_ours(self, name: str) -> bool:
        """Whether ``name`` is a file this export would put in its sequence folder."""
        return _is_sequence_file(name, self.destination, self.frame_ext)


def _is_sequence_file(name: str, folder: Path, frame_ext: str) -> bool:
    """Whether ``name`` is a frame (``<folder>_000000.<ext>``) or a sound file of a sequence."""
    stem = re.escape(folder.name)
    ext = re.escape(frame_ext)
    return re.fullmatch(rf"{stem}_\d{{6,}}{ext}|{stem}(_\d+)?\.wav", name) is not None


def plan_output(
    destination: Path | str,
    *,
    codec: str | None,
    source: SourceInfo,
    audio_from: Path | str | None,
) -> OutputPlan:
    """Choose the preset, path and pixel format, refusing what cannot work; opens nothing."""
    requested = Path(destination)
    preset = get_preset(codec if codec is not None else codec_for_path(requested))
    final, frame_ext = _final_path(preset, requested)
    source_range = _check_source(source)
    _check_destination(preset, final, frame_ext, source, audio_from)
    notes: list[str] = []
    fmt, out_range = _choose_format(preset, final, source, source_range, notes)
    if preset.codec not in av.codecs_available:
        raise VideoWriteError(
            f"Cannot write {final}: this build of PyAV has no "
            f"{preset.codec} encoder for {preset.name}"
        )
    return OutputPlan(
        preset=preset,
        destination=final,
        frame_ext=frame_ext,
        pixel_format=fmt,
        color_range=out_range,
        source_range=source_range,
        width=int(source.width),
        height=int(source.height),
        notes=notes,
    )


def check_destination(
    destination: Path | str,
    *,
    codec: str | None = None,
    source: SourceInfo,
    audio_from: Path | str | None = None,
) -> Path:
    """Refuse, without creating anything, a destination that ``VideoWriter`` would refuse.

    Runs the writer's own checks (codec and extension, the folder, the source itself, the
    frame size), so that a caller can answer a bad destination at once, before slow work
    such as loading a model. Returns the path that would appear (a folder for sequences).
    """
    return plan_output(destination, codec=codec, source=source, audio_from=audio_from).destination


def _final_path(preset: CodecPreset, requested: Path) -> tuple[Path, str]:
    """The file or sequence folder that appears at the end, and a sequence's frame extension."""
    path = Path(os.path.abspath(requested))
    suffix = path.suffix.lower()
    if preset.is_image_sequence:
        if suffix in DEFAULT_CODEC_BY_EXTENSION and suffix not in preset.extensions:
            raise VideoWriteError(
                f"Cannot write {path}: {preset.name} frames are "
                f"{preset.extensions[0]} files, not {suffix}"
            )
        if suffix in preset.extensions:
            path = path.with_suffix("")
        return path, preset.extensions[0]
    if suffix not in preset.extensions:
        raise VideoWriteError(
            f"Cannot write {path}: {preset.name} goes into "
            f"{' / '.join(preset.extensions)} files, not {path.suffix or 'no extension'}"
        )
    return path, ""


def _check_source(source: SourceInfo) -> ColorRange:
    """The source's range, after refusing a description no output could be made from."""
    if source.color_range not in COLOR_RANGES:
        raise ValueError(
            f"source color_range must be one of {', '.join(COLOR_RANGES)}, "
            f"got {source.color_range!r}"
        )
    if not 8 <= int(source.bit_depth) <= 16:
        raise ValueError(f"source bit_depth must be 8..16, got {source.bit_depth}")
    if not source.frame_rate or Fraction(source.frame_rate) <= 0:
        raise ValueError(f"source frame_rate must be positive, got {source.frame_rate}")
    return cast(ColorRange, source.color_range)


def _check_destination(
    preset: CodecPreset,
    final: Path,
    frame_ext: str,
    source: SourceInfo,
    audio_from: Path | str | None,
) -> None:
    parent = final.parent
    if not parent.is_dir():
        problem = "is a file, not a folder" if parent.exists() else "does not exist"
        raise VideoWriteError(f"Cannot write {final}: the folder {parent} {problem}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VideoWriteError(f"Cannot write {final}: the folder {parent} is not writable")
    resolved = final.resolve()
    for name, other in (("source", source.path), ("audio source", audio_from)):
        if other is None:
            continue
        other_path = Path(other).resolve()
        if other_path == resolved or (preset.is_image_sequence and resolved in other_path.parents):
            raise VideoWriteError(
                f"Cannot write {final}: it is the {name} itself; choose another name"
            )
    if preset.is_image_sequence:
        if final.exists() and not final.is_dir():
            raise VideoWriteError(f"Cannot write {final}: a file of that name is in the way")
        if final.is_dir():
            strangers = [
                p.name for p in final.iterdir() if not _is_sequence_file(p.name, final, frame_ext)
            ]
            if strangers:
                raise VideoWriteError(
                    f"Cannot write {final}: the folder exists and holds other files "
                    f"({strangers[0]}, ...); choose a new or empty folder"
                )
    elif final.is_dir():
        raise VideoWriteError(f"Cannot write {final}: a folder of that name is in the way")


def _choose_format(
    preset: CodecPreset,
    final: Path,
    source: SourceInfo,
    source_range: ColorRange,
    notes: list[str],
) -> tuple[PixelFormat, ColorRange]:
    """The pixel format and output range for the source; notes say what had to give."""
    width, height = int(source.width), int(source.height)
    min_w, min_h = preset.min_size
    if width < min_w or height < min_h:
        raise VideoWriteError(
            f"Cannot write {final}: {preset.name} needs frames of at least "
            f"{min_w}x{min_h}, the source is {width}x{height}"
        )
    fmt = preset.pixel_format(bit_depth=int(source.bit_depth), width=width, height=height)
    if fmt is None:
        raise VideoWriteError(
            f"Cannot write {final}: {preset.name} needs an even frame size, "
            f"the source is {width}x{height}"
        )
    if fmt.chroma != preset.chroma:
        notes.append(
            f"The frame size {width}x{height} is odd, which {preset.chroma} chroma cannot "
            f"hold; written as {fmt.pix_fmt} ({preset.name} 4:4:4) instead."
        )
    if preset.name == "h264" and fmt.bit_depth > 8:
        notes.append(
            "10-bit H.264 (High 10) keeps the source's luma but does not play in web "
            "browsers or QuickTime; choose h265 or prores for those."
        )
    out_range: ColorRange
    if fmt.chroma == "rgb":
        out_range = "pc"
    elif preset.video_range_only and source_range == "pc":
        out_range = "tv"
        notes.append(
            f"{preset.name} carries video range only; the full-range luma was rescaled to "
            "video range (within half a code value)."
        )
    else:
        out_range = source_range
    if fmt.chroma != "rgb" and fmt.bit_depth < int(source.bit_depth):
        notes.append(
            f"{preset.name} holds {fmt.bit_depth} bits; the {source.bit_depth}-bit luma "
            "was rounded to fit."
        )
    return fmt, out_range
