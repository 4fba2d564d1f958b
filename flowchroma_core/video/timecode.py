"""SMPTE timecode and frame positions, exact for fractional rates such as 30000/1001."""

from __future__ import annotations

import re
from fractions import Fraction

_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.])(\d{2,3})$")


def _nominal(rate: Fraction) -> int:
    return round(rate)


def is_drop_frame_rate(rate: Fraction) -> bool:
    """29.97 and 59.94 use drop-frame timecode."""
    return rate in (Fraction(30000, 1001), Fraction(60000, 1001))


def timecode_to_frames(tc: str, rate: Fraction) -> int:
    """Frame count of a timecode (``;`` or ``.`` marks drop-frame)."""
    m = _TC.match(tc.strip())
    if not m:
        raise ValueError(f"{tc!r} is not a timecode (HH:MM:SS:FF)")
    h, mi, s, sep, f = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    fps = _nominal(rate)
    if mi > 59 or s > 59 or f >= fps:
        raise ValueError(f"{tc!r} is not a valid timecode at {float(rate):.3f} fps")
    frames = ((h * 60 + mi) * 60 + s) * fps + f
    if sep in ";.":  # drop-frame notation
        drop = 2 * (fps // 30)
        total_minutes = h * 60 + mi
        frames -= drop * (total_minutes - total_minutes // 10)
    return frames


def frames_to_timecode(frames: int, rate: Fraction, *, drop_frame: bool | None = None) -> str:
    """Timecode of a frame count; drop-frame by default for 29.97 and 59.94."""
    if frames < 0:
        raise ValueError("frames must not be negative")
    fps = _nominal(rate)
    drop_frame = is_drop_frame_rate(rate) if drop_frame is None else drop_frame
    if drop_frame:
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


def offset_timecode(tc: str, frames: int, rate: Fraction) -> str:
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
