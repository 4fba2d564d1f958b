"""Reading films and scans: the public entry, ``open_video``, and ``read_rgb``.

A reader serves two kinds of input behind one interface:

* a video file (anything FFmpeg demuxes: MP4/MOV, MKV, AVI, MPEG-TS, MXF, ...;
  ``container.py``), and
* an image sequence (a folder of DPX/TIFF/PNG/JPEG frames, or a printf pattern such as
  ``scan_%06d.dpx``, as film scans are delivered; ``sequence.py``).

Frames are handed out as their *native* luma code values, read straight from plane 0 of
the decoded picture (line padding removed) and never passed through swscale, so an
8-bit film gives uint8 and a 10-bit one uint16 holding 0..1023, exactly as coded. For RGB
sources (most scans) luma is computed from R, G and B with the source's matrix (see
``luma_matrix``), rounded to the source's bit depth, in full range (or in limited range
for the rare RGB picture flagged as such); ``planes.py`` does both.

Random access is frame-accurate: at open time every packet's presentation timestamp is
collected by demuxing (no decoding), so ``reader[n]`` seeks to the keyframe at or before
frame ``n`` and decodes forward to the frame whose timestamp is the n-th one. Nothing is
trusted from the header that can be counted instead: the frame count, the frame rate and
whether the rate is variable all come from the timestamps (``timing.py``).
"""

from __future__ import annotations

import logging
import operator
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.video.reformatter import Colorspace, Interpolation

from flowchroma_core.errors import VideoReadError
from flowchroma_core.video.colour_tags import frame_color_space
from flowchroma_core.video.container import ContainerSource
from flowchroma_core.video.info import (
    AudioStreamInfo,
    Frame,
    LumaMatrix,
    VideoInfo,
    luma_matrix,
    matrix_for,
)
from flowchroma_core.video.sequence import (
    DEFAULT_SEQUENCE_RATE,
    IMAGE_EXTENSIONS,
    SequenceSource,
    decode_image,
    folder_files,
    is_pattern,
    pattern_files,
)
from flowchroma_core.video.source import Damage, Source, ffmpeg_reason

logger = logging.getLogger(__name__)


class VideoReader:
    """Frame-accurate access to a film or a scan's native luma.

    ``reader[n]`` returns frame ``n`` (negative indexes count from the end) by seeking to
    the keyframe before it and decoding forward; reading frames in increasing order
    decodes on without seeking again. ``frames(start, stop)`` streams a range with
    decoder threads on. A frame that cannot be decoded is logged and its index added to
    ``damaged_frames``: ``frames()`` skips it, ``reader[n]`` raises ``VideoReadError``.
    A frame the decoder flags as corrupt (damage it concealed) is still returned, and its
    index is added to ``corrupt_frames`` so that it can be checked by eye.

    The display rotation in ``info.rotation`` is reported, not applied: frames come out
    as coded. A reader is not thread-safe; give each thread its own.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        frame_rate: Fraction | int | None = None,
        hardware: bool = False,
    ) -> None:
        path = Path(path)
        damage = Damage(path.name)
        # Both lists grow as frames are decoded; they are sorted.
        self.damaged_frames: list[int] = damage.damaged
        self.corrupt_frames: list[int] = damage.corrupt
        self._closed = False
        rate = None if frame_rate is None else Fraction(frame_rate)
        if rate is not None and rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {frame_rate}")
        files: list[Path] | None = None
        if is_pattern(path):
            files = pattern_files(path)
        elif path.is_dir():
            files = folder_files(path)
        elif not path.exists():
            raise VideoReadError(f"{path}: file not found")
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            files = [path]
        self._source: Source
        if files is not None:
            self._source = SequenceSource(path, files, rate or DEFAULT_SEQUENCE_RATE, damage)
        else:
            if rate is not None:
                raise VideoReadError(
                    f"{path.name}: a frame rate can be given for image sequences only;"
                    " a video file has its own timing"
                )
            self._source = ContainerSource(path, damage, hardware=hardware)

    @property
    def info(self) -> VideoInfo:
        return self._source.info

    def __len__(self) -> int:
        return self._source.info.frame_count

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"reader of {self.info.path.name} is closed")

    def __getitem__(self, index: int) -> Frame:
        self._check_open()
        n = operator.index(index)
        count = len(self)
        if n < 0:
            n += count
        if not 0 <= n < count:
            raise IndexError(f"frame {index} is out of range for {count} frames")
        return self._source.read(n)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Frames ``start`` to ``stop - 1`` in order (Python slice bounds), damaged ones skipped."""
        self._check_open()
        first, last, _ = slice(start, stop).indices(len(self))
        if first >= last:
            return iter(())
        return self._source.iterate(first, last)

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def close(self) -> None:
        """Release the file; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._source.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoReader({str(self.info.path)!r}, frames={len(self)})"


def open_video(
    path: str | os.PathLike[str],
    *,
    frame_rate: Fraction | int | None = None,
    hardware: bool = False,
) -> VideoReader:
    """Open a video file, an image folder or a printf pattern of images for reading.

    ``frame_rate`` is the rate of an image sequence (24 when not given); a video file has
    its own timing, and giving one for it raises ``VideoReadError``. ``hardware``: stream
    ``frames()`` through NVDEC where it works here (``hardware.py``; the same luma codes),
    in software otherwise.
    """
    return VideoReader(path, frame_rate=frame_rate, hardware=hardware)


EXACT_RGB = (
    Interpolation.BILINEAR
    | Interpolation.ACCURATE_RND
    | Interpolation.FULL_CHR_H_INT
    | Interpolation.FULL_CHR_H_INP
)
"""swscale flags for ``read_rgb``: its default YUV to RGB path rounds in a fast, inexact
way (measured: the decoded RGB's luma 0.7 codes darker than the file's own luma on DAVIS's
JPEGs, 1.1 on a limited-range H.264 clip), and a colorized result, which keeps the source's
own luma codes, was then scored against that shifted truth (a ceiling of 45-49 dB even for
perfect colours). With accurate rounding and full chroma interpolation the two agree to
0.16-0.27 codes, the rounding of 8 bits."""

_SWSCALE_SPACE = {
    "bt601": Colorspace.ITU601,
    "bt709": Colorspace.ITU709,
    "bt2020": Colorspace.BT2020,
}


def _rgb24(frame: av.VideoFrame) -> np.ndarray:
    """8-bit RGB of a decoded picture, by the matrix the colorizer reads its luma with
    (``info.matrix_for`` of the frame's tag: an untagged picture above 576 lines is BT.709,
    where swscale alone takes BT.601)."""
    space = None
    if not frame.format.is_rgb:
        space = _SWSCALE_SPACE[matrix_for(frame_color_space(frame), frame.height)]
    return frame.reformat(
        format="rgb24", src_colorspace=space, interpolation=EXACT_RGB
    ).to_ndarray()


def read_rgb(path: str | os.PathLike[str], *, max_frames: int = 0) -> Iterator[np.ndarray]:
    """Decoded frames as 8-bit RGB (H, W, 3) in presentation order, for training and
    evaluation against colour originals (converted exactly: ``EXACT_RGB``); ``max_frames``
    0 reads all. Undecodable packets are skipped, as in ``VideoReader.frames``.
    """
    path = Path(path)
    count = 0
    if path.is_dir() or is_pattern(path):
        files = pattern_files(path) if is_pattern(path) else folder_files(path)
        for file in files:
            frame, _ = decode_image(file)
            yield _rgb24(frame)
            count += 1
            if count == max_frames:
                return
        return
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield _rgb24(frame)
                count += 1
                if count == max_frames:
                    return
    except av.error.FFmpegError as err:
        if count == 0:
            raise VideoReadError(f"{path}: {ffmpeg_reason(err)}") from err
        logger.warning("%s: decoding stopped after %d frames: %s", path, count, err)


__all__ = [
    "DEFAULT_SEQUENCE_RATE",
    "IMAGE_EXTENSIONS",
    "AudioStreamInfo",
    "Frame",
    "LumaMatrix",
    "VideoInfo",
    "VideoReader",
    "luma_matrix",
    "open_video",
    "read_rgb",
]
