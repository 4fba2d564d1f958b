"""Frame sizes from image headers (PNG, DPX, TIFF, JPEG), read without decoding, so that a
scan whose frames differ in size is refused at open time, before any slow work.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

logger = logging.getLogger(__name__)


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG, DPX, TIFF or JPEG header, or None if it can't be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                return w, h
            if head[:4] in (b"SDPX", b"XPDS"):
                order = ">" if head[:4] == b"SDPX" else "<"
                w, h = struct.unpack(order + "II", head[772:780])
                return w, h
            if head[:4] in (b"II*\x00", b"MM\x00*"):
                order = "<" if head[:2] == b"II" else ">"
                (ifd,) = struct.unpack(order + "I", head[4:8])
                fh.seek(ifd)  # the first directory may follow the image data
                return _tiff_size(fh.read(2 + 12 * 64), order)
            if head[:2] == b"\xff\xd8":
                return _jpeg_size(head)
    except (OSError, struct.error):
        return None
    return None


def _tiff_size(ifd: bytes, order: str) -> tuple[int, int] | None:
    """ImageWidth and ImageLength from the bytes of a TIFF's first directory."""
    (count,) = struct.unpack(order + "H", ifd[:2])
    found: dict[int, int] = {}
    for i in range(min(count, 64)):
        entry = ifd[2 + 12 * i : 14 + 12 * i]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            fmt = "H" if kind == 3 else "I"
            (found[tag],) = struct.unpack(order + fmt, entry[8 : 8 + struct.calcsize(fmt)])
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's start-of-frame marker, if it is in ``head``."""
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", head[pos + 2 : pos + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return w, h
        pos += 2 + length
    return None
