"""SMPTE timecode and frame positions, exact for fractional rates such as 30000/1001.

This is the only timecode parser: the timeline, the command line, the export (which offsets
the source's start timecode) and the writer (which checks the timecode it stores) all use it.

The frame-count base, the number of frame labels in a timecode second, is the rate rounded
half up: 24 for 24000/1001, 30 for 30000/1001, 60 for 60000/1001, as SMPTE ST 12-1 counts
them and as FFmpeg's ``av_timecode_init`` does. For rates between the standard ones rounding
is the right choice rather than ceil(): at 24.3 frames/s a base of 24 keeps the timecode
within 1.3 % of the clock, while ceil()'s 25 would run 2.8 % slow and call a frame ``:24``
that a 24-frame count never has. Drop-frame (``;`` or ``.`` before the frames) exists only
at 29.97 and 59.94, where 2 or 4 labels are skipped at each minute not divisible by ten.
"""

from __future__ import annotations

import logging
import math
import re
from fractions import Fraction

logger = logging.getLogger(__name__)

_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.])(\d{2,3})$")
_DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))


def timecode_base(rate: Fraction | int) -> int:
    """Frame labels per timecode second: the rate rounded half up (30 for 29.97), at least 1."""
    return max(1, math.floor(Fraction(rate) + Fraction(1, 2)))


def is_drop_frame_rate(rate: Fraction | int) -> bool:
    """29.97 and 59.94 use drop-frame timecode."""
    return Fraction(rate) in _DROP_FRAME_RATES


def _check_drop_rate(rate: Fraction, tc: str = "") -> None:
    if not is_drop_frame_rate(rate):
        raise ValueError(
            f"drop-frame timecode {tc + ' ' if tc else ''}needs 29.97 or 59.94 frames/s, "
            f"not {float(rate):.3f}"
        )


def check_timecode(tc: str, rate: Fraction | int) -> None:
    """Refuse a timecode that cannot be stored in a file for ``rate`` (ValueError).

    What ``timecode_to_frames`` accepts, written as files carry it: two-digit hours.
    """
    timecode_to_frames(tc, rate)
    if not re.match(r"\d{2}:", tc):
        raise ValueError(f"{tc!r} is not a timecode (HH:MM:SS:FF, two-digit hours)")


def timecode_to_frames(tc: str, rate: Fraction | int) -> int:
    """Frame count of a timecode (``;`` or ``.`` marks drop-frame); ValueError if malformed."""
    rate = Fraction(rate)
    m = _TC.match(tc.strip())
    if not m:
        raise ValueError(f"{tc!r} is not a timecode (HH:MM:SS:FF)")
    h, mi, s, sep, f = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    fps = timecode_base(rate)
    if mi > 59 or s > 59 or f >= fps:
        raise ValueError(f"{tc!r} is not a valid timecode at {float(rate):.3f} fps")
    frames = ((h * 60 + mi) * 60 + s) * fps + f
    if sep in ";.":  # drop-frame notation
        _check_drop_rate(rate, repr(tc))
        drop = 2 * (fps // 30)
        total_minutes = h * 60 + mi
        frames -= drop * (total_minutes - total_minutes // 10)
    return frames


def frames_to_timecode(frames: int, rate: Fraction | int, *, drop_frame: bool | None = None) -> str:
    """Timecode of a frame count; drop-frame by default for 29.97 and 59.94."""
    if frames < 0:
        raise ValueError("frames must not be negative")
    rate = Fraction(rate)
    fps = timecode_base(rate)
    drop_frame = is_drop_frame_rate(rate) if drop_frame is None else drop_frame
    if drop_frame:
        _check_drop_rate(rate)
        drop = 2 * (fps // 30)
        per_10min = fps * 600 - drop * 9
        per_min = fps * 60 - drop
        tens, rem = divmod(frames, per_10min)
        extra = 0 if rem < drop else drop * ((rem - drop) // per_min)
        frames += drop * 9 * tens + extra
    f = frames % fps
    s = frames // fps % 60
    m = frames // (fps * 60) % 60
    h = frames // (fps * 3600) % 24
    return f"{h:02d}:{m:02d}:{s:02d}{';' if drop_frame else ':'}{f:02d}"


def offset_timecode(tc: str, frames: int, rate: Fraction | int) -> str:
    """The timecode ``frames`` after ``tc`` (keeps drop-frame if ``tc`` used it)."""
    drop = ";" in tc or "." in tc
    return frames_to_timecode(timecode_to_frames(tc, rate) + frames, rate, drop_frame=drop)


def parse_position(text: str, rate: Fraction, *, start_timecode: str | None = None) -> int:
    """A frame number (``120``), seconds (``4.5s``) or a timecode (``00:00:04:12``).

    A timecode is read relative to the film's start timecode when it has one and the
    given timecode is not before it; otherwise from zero.
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    if text.endswith("s") and re.fullmatch(r"\d+(\.\d+)?s", text):
        return int(Fraction(text[:-1]) * rate)
    frames = timecode_to_frames(text, rate)
    if start_timecode:
        origin = timecode_to_frames(start_timecode, rate)
        if frames >= origin:
            return frames - origin
    return frames
