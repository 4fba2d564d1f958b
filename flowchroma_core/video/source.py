"""What both kinds of input share: the ``Source`` interface the reader drives, the record of
damaged and corrupt frames (with warnings that do not flood the log), and FFmpeg's error
text as one line (the writer uses that too).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from typing import Protocol

import av
import av.error

from flowchroma_core.video.info import Frame, VideoInfo

logger = logging.getLogger(__name__)

# Decoding problems logged as warnings per reader before the rest go to debug.
_MAX_WARNINGS = 10


class Source(Protocol):
    """A video container or a sequence of image files, as the reader sees it."""

    info: VideoInfo

    def read(self, index: int) -> Frame: ...

    def iterate(self, start: int, stop: int) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def ffmpeg_reason(err: av.error.FFmpegError) -> str:
    """FFmpeg's own words for an error, without PyAV's decoration."""
    return str(getattr(err, "strerror", None) or err)


def one_line(error: BaseException) -> str:
    """An error's message with its line breaks and runs of spaces collapsed."""
    return " ".join(str(error).split())


class Damage:
    """A reader's damaged and corrupt frames, and warnings that do not flood the log."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.damaged: list[int] = []
        self.corrupt: list[int] = []
        self._warnings = 0

    def warn(self, message: str, *args: object) -> None:
        """Log a decoding problem; after the first few, only at debug level."""
        self._warnings += 1
        if self._warnings <= _MAX_WARNINGS:
            logger.warning(message, *args)
        else:
            if self._warnings == _MAX_WARNINGS + 1:
                logger.warning("%s: more decoding problems, logged at debug level", self.name)
            logger.debug(message, *args)

    def mark_damaged(self, index: int, detail: str = "") -> None:
        """Frame ``index`` could not be decoded at all."""
        if index not in self.damaged:
            self.warn("%s: frame %d is damaged and cannot be decoded%s", self.name, index, detail)
            bisect.insort(self.damaged, index)

    def mark_corrupt(self, index: int, why: str = "decoded with errors (concealed)") -> None:
        """Frame ``index`` decoded with errors that the decoder concealed, or may be incomplete."""
        if index not in self.corrupt:
            self.warn("%s: frame %d %s", self.name, index, why)
            bisect.insort(self.corrupt, index)
