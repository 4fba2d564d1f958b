"""Interlacing: the field order a source declares, so that an export can keep the tag.

FlowChroma colorizes every frame as a progressive picture (both fields together); an
interlaced source is still written with its field order tag, so that a player or a
later deinterlacer treats the output as the source was meant to be treated.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av

logger = logging.getLogger(__name__)

FIELD_ORDERS = {2: "tt", 3: "bb", 4: "tb", 5: "bt"}
"""FFmpeg's ``AVFieldOrder`` codes of interlaced video (0 unknown, 1 progressive)."""

FIELD_ORDER_WORDS = {
    "tt": "top field first",
    "bb": "bottom field first",
    "tb": "top field first, bottom coded first",
    "bt": "bottom field first, top coded first",
}


def field_order_code(path: Path | str) -> int:
    """The ``AVFieldOrder`` of a video file's first video stream (0 where unknown, or for
    image sequences and anything that cannot be opened)."""
    path = Path(path)
    if not path.is_file():
        return 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0
            return int(container.streams.video[0].codec_context.field_order or 0)
    except (av.FFmpegError, OSError, ValueError):
        return 0


def interlaced_field_order(path: Path | str) -> str | None:
    """``tt``, ``bb``, ``tb`` or ``bt`` for an interlaced source; None otherwise."""
    return FIELD_ORDERS.get(field_order_code(path))
