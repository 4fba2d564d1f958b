"""Timecode arithmetic, drop-frame included."""

from __future__ import annotations

from fractions import Fraction

import pytest

from flowchroma_core.video.timecode import (
    frames_to_timecode,
    offset_timecode,
    parse_position,
    timecode_to_frames,
)

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize(
    "frames, tc",
    [
        (0, "00:00:00;00"),
        (1799, "00:00:59;29"),
        (1800, "00:01:00;02"),
        (17982, "00:10:00;00"),
        (107892, "01:00:00;00"),
    ],
)
def test_drop_frame_reference_values(frames: int, tc: str) -> None:
    assert frames_to_timecode(frames, NTSC) == tc
    assert timecode_to_frames(tc, NTSC) == frames


def test_round_trip_every_frame_of_an_hour_at_two_rates() -> None:
    for rate in (NTSC, Fraction(24), Fraction(25), Fraction(60000, 1001)):
        for n in range(0, 60 * 60 * 60, 997):
            assert timecode_to_frames(frames_to_timecode(n, rate), rate) == n


def test_offsets_and_positions() -> None:
    assert offset_timecode("01:00:00:00", 25, Fraction(25)) == "01:00:01:00"
    assert offset_timecode("00:00:59;28", 2, NTSC) == "00:01:00;02"
    assert parse_position("120", Fraction(24)) == 120
    assert parse_position("2.5s", Fraction(24)) == 60
    assert parse_position("01:00:01:00", Fraction(25), start_timecode="01:00:00:00") == 25
    assert parse_position("00:00:02:00", Fraction(25)) == 50
    with pytest.raises(ValueError, match="not a timecode"):
        parse_position("soon", Fraction(25))
    with pytest.raises(ValueError, match="not a valid timecode"):
        parse_position("00:00:00:30", Fraction(25))
