"""Frame timing maths: the rate, its variability and the duration from timestamps; rounding
times to ticks.

Nothing is trusted from a header that can be counted instead: the reader hands the packets'
presentation timestamps here, and the rate is snapped to the stream's own or a standard
rate only when the measured period agrees with it to within a tick.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction

import numpy as np

logger = logging.getLogger(__name__)

# Rates a measured frame period is snapped to; 16, 18 and 20 are silent-film speeds.
_STANDARD_RATES = tuple(
    Fraction(r)
    for r in (
        "24000/1001", "24", "25", "30000/1001", "30", "48000/1001", "48", "50",
        "60000/1001", "60", "16", "18", "20", "22", "12", "15", "100", "120",
    )
)  # fmt: skip


def round_half_up(x: Fraction) -> int:
    """Round half up (Python's round() on a Fraction rounds half to even)."""
    return math.floor(x + Fraction(1, 2))


def _snap_rate(
    candidates: list[Fraction], period: Fraction | None, slack: Fraction
) -> Fraction | None:
    """The first candidate whose frame period matches the measured one within ``slack``."""
    for rate in candidates:
        if rate > 0 and (period is None or abs(1 / rate - period) <= slack):
            return rate
    return None


def measure_timing(
    pts: list[int],
    tb: Fraction,
    stream_rates: list[Fraction],
    last_duration: int,
    name: str,
) -> tuple[Fraction, bool, Fraction]:
    """Frame rate, whether it varies, and duration, from sorted presentation timestamps."""
    count = len(pts)
    if count >= 2:
        steps = np.diff(np.asarray(pts, dtype=np.int64))
        median = float(np.median(steps))
        vfr = bool(np.any(np.abs(steps - median) > max(1.0, 0.01 * median)))
        period = Fraction(pts[-1] - pts[0]) * tb / (count - 1)
        # Timestamps are rounded to ticks: the mean period is good to a tick over the span.
        slack = tb * Fraction(101, 100) / (count - 1) + period / 10000
    else:
        vfr, period, slack = False, None, Fraction(0)
    if vfr:
        assert period is not None
        average = next((r for r in stream_rates if r > 0), None)
        rate = average if average is not None else (1 / period).limit_denominator(100000)
        tail = last_duration if last_duration > 0 else round(median)
        duration = Fraction(pts[-1] - pts[0] + tail) * tb
        return rate, True, duration
    rate = _snap_rate(stream_rates, period, slack) or _snap_rate(
        list(_STANDARD_RATES), period, slack
    )
    if rate is None:
        if period is not None and period > 0:
            rate = (1 / period).limit_denominator(100000)
        else:
            rate = Fraction(25)
            logger.warning("%s: no frame rate in the file; assuming 25 fps", name)
    return rate, False, Fraction(count) / rate
