"""Image sequences: a folder of DPX/TIFF/PNG/JPEG frames or a printf pattern such as
``scan_%06d.dpx``, found, ordered, checked for gaps and size changes, and read as a film at
a given rate (frames decoded a few files ahead on worker threads).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import av.error

from flowchroma_core.errors import VideoReadError
from flowchroma_core.video.colour_tags import (
    PRIMARIES_NAMES,
    TRC_NAMES,
    color_name,
    frame_color_space,
)
from flowchroma_core.video.headers import header_size
from flowchroma_core.video.info import Frame, VideoInfo, matrix_for, metadata_get
from flowchroma_core.video.planes import native_luma
from flowchroma_core.video.source import Damage, ffmpeg_reason

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS: tuple[str, ...] = (".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
# Film scans are nearly always made at sound speed; a sequence has no timing of its own.
DEFAULT_SEQUENCE_RATE = Fraction(24)


class Undecodable(Exception):  # noqa: N818 - internal signal, turned into damaged_frames
    """One image file cannot be decoded."""


def _natural_key(path: Path) -> tuple[object, ...]:
    """Sort key that orders frame_2 before frame_10."""
    parts = re.split(r"(\d+)", path.name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)


def is_pattern(path: Path) -> bool:
    return re.search(r"%0?\d*d", path.name) is not None


def pattern_files(path: Path) -> list[Path]:
    """The existing files of a printf pattern such as ``scan_%06d.dpx``, by number."""
    folder = path.parent
    if not folder.is_dir():
        raise VideoReadError(f"{path}: folder {folder} not found")
    spec = re.search(r"%0?\d*d", path.name)
    assert spec is not None
    before, after = path.name[: spec.start()], path.name[spec.end() :]
    regex = re.compile(
        re.escape(before.replace("%%", "%"))
        + r"(\d+)"
        + re.escape(after.replace("%%", "%"))
        + r"\Z"
    )
    numbered = []
    for entry in os.scandir(folder):
        match = regex.match(entry.name)
        # the number must print back the same way (%06d: zero-padded to six digits)
        if match and entry.is_file() and spec.group() % int(match.group(1)) == match.group(1):
            numbered.append((int(match.group(1)), Path(entry.path)))
    if not numbered:
        raise VideoReadError(f"{path.name}: no files match this pattern in {folder}")
    numbered.sort()
    _warn_gaps([n for n, _ in numbered], path.name)
    return [p for _, p in numbered]


def folder_files(folder: Path) -> list[Path]:
    """The image files of a folder, naturally sorted; other extensions are left out."""
    by_ext: dict[str, list[Path]] = {}
    for entry in os.scandir(folder):
        suffix = Path(entry.name).suffix.lower()
        if suffix in IMAGE_EXTENSIONS and not entry.name.startswith(".") and entry.is_file():
            key = ".jpg" if suffix == ".jpeg" else ".tif" if suffix == ".tiff" else suffix
            by_ext.setdefault(key, []).append(Path(entry.path))
    if not by_ext:
        raise VideoReadError(
            f"{folder.name}: folder holds no images ({', '.join(IMAGE_EXTENSIONS)})"
        )
    ext, files = max(by_ext.items(), key=lambda item: len(item[1]))
    if len(by_ext) > 1:
        others = sum(len(v) for k, v in by_ext.items() if k != ext)
        logger.warning(
            "%s: reading the %d %s files; %d other images left out",
            folder.name,
            len(files),
            ext,
            others,
        )
    files.sort(key=_natural_key)
    numbers = []
    for f in files:
        digits = re.findall(r"\d+", f.stem)
        if not digits:
            break
        numbers.append(int(digits[-1]))
    else:
        _warn_gaps(numbers, folder.name)
    return files


def _warn_gaps(numbers: list[int], label: str) -> None:
    """A missing number in a scan is worth telling the restorer about."""
    gaps = [(a, b) for a, b in itertools.pairwise(numbers) if b != a + 1]
    if gaps:
        a, b = gaps[0]
        logger.warning("%s: numbering jumps from %d to %d (%d gaps in all)", label, a, b, len(gaps))


def decode_image(path: Path) -> tuple[av.VideoFrame, str]:
    """Decode one image file with FFmpeg; the codec follows the extension."""
    try:
        with av.open(str(path), format="image2", options={"pattern_type": "none"}) as container:
            if not container.streams.video:
                raise Undecodable(f"{path.name}: no image in the file")
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                return frame, stream.codec_context.codec.canonical_name
    except av.error.FFmpegError as err:
        raise Undecodable(f"{path.name}: cannot be decoded ({ffmpeg_reason(err)})") from err
    raise Undecodable(f"{path.name}: no image could be decoded")


class SequenceSource:
    """Numbered image files read as a film at a given rate."""

    def __init__(self, path: Path, files: list[Path], rate: Fraction, damage: Damage) -> None:
        self.path = path
        self.name = path.name
        self._files = files
        self._rate = rate
        self._damage = damage
        for index, file in enumerate(files):
            try:
                first, codec = decode_image(file)
                break
            except Undecodable as err:
                self._damage.mark_damaged(index, f" ({err})")
        else:
            raise VideoReadError(f"{self.name}: none of its {len(files)} images can be decoded")
        self._size = (first.width, first.height)
        self._reference = files[index]
        self._check_headers()
        color_space = frame_color_space(first)
        self._matrix = matrix_for(color_space, first.height)
        _, bits, rng = native_luma(first, self._matrix)
        self.info = VideoInfo(
            path=path,
            container_format="image2",
            codec=codec,
            width=first.width,
            height=first.height,
            sample_aspect=Fraction(1),
            display_aspect=Fraction(first.width, first.height),
            frame_rate=rate,
            time_base=1 / rate,
            frame_count=len(files),
            duration=len(files) / rate,
            pix_fmt=first.format.name,
            bit_depth=bits,
            color_range=rng,
            color_space=color_space,
            color_primaries=color_name(PRIMARIES_NAMES, first.color_primaries),
            color_trc=color_name(TRC_NAMES, first.color_trc),
            rotation=0,
            variable_frame_rate=False,
            start_timecode=metadata_get(dict(first.metadata), "timecode"),
            audio=(),
            is_image_sequence=True,
        )

    def _check_headers(self) -> None:
        """Refuse a sequence whose files differ in size, reading only their headers."""
        for file in self._files:
            size = header_size(file)
            if size is not None and size != self._size:
                raise VideoReadError(self._size_message(file, size))

    def _size_message(self, file: Path, size: tuple[int, int]) -> str:
        w, h = self._size
        size_text = f"{size[0]}x{size[1]}"
        return f"{file.name}: {size_text}, but the sequence is {w}x{h} (as {self._reference.name})"

    def _load(self, index: int) -> Frame:
        file = self._files[index]
        frame, _ = decode_image(file)
        if (frame.width, frame.height) != self._size:
            raise VideoReadError(self._size_message(file, (frame.width, frame.height)))
        luma, bits, rng = native_luma(frame, self._matrix)
        return Frame(
            index=index,
            pts=index,
            time=index / self._rate,
            luma=luma,
            bit_depth=bits,
            color_range=rng,
        )

    def read(self, index: int) -> Frame:
        try:
            return self._load(index)
        except Undecodable as err:
            self._damage.mark_damaged(index, f" ({err})")
            raise VideoReadError(f"{err}; frame {index} is damaged") from err

    def iterate(self, start: int, stop: int) -> Iterator[Frame]:
        """Frames start..stop-1, decoded a few files ahead on worker threads."""
        workers = max(1, min(8, os.cpu_count() or 1))
        window: deque[tuple[int, Future[Frame]]] = deque()
        produced = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flowchroma-seq") as pool:
            try:
                upcoming = start
                while window or upcoming < stop:
                    while upcoming < stop and len(window) < 2 * workers:
                        window.append((upcoming, pool.submit(self._load, upcoming)))
                        upcoming += 1
                    index, future = window.popleft()
                    try:
                        frame = future.result()
                    except Undecodable as err:
                        self._damage.mark_damaged(index, f" ({err})")
                        continue
                    yield frame
                    produced += 1
            finally:
                for _, future in window:
                    future.cancel()
        if produced == 0 and stop > start:
            raise VideoReadError(
                f"{self.name}: none of frames {start} to {stop - 1} can be decoded"
            )

    def close(self) -> None:
        """Nothing stays open between files."""
