"""Timecode arithmetic, drop-frame included."""

from __future__ import annotations

from fractions import Fraction

import pytest

from flowchroma_core.video.timecode import (
    check_timecode,
    frames_to_timecode,
    offset_timecode,
    parse_position,
    timecode_base,
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


@pytest.mark.parametrize(
    "rate, base",
    [
        (Fraction(24000, 1001), 24),
        (Fraction(24), 24),
        (Fraction(25), 25),
        (Fraction(30000, 1001), 30),
        (Fraction(60000, 1001), 60),
        (Fraction(50), 50),
        # Non-standard rates: rounded half up, as FFmpeg's av_timecode_init counts them.
        (Fraction(243, 10), 24),  # ceil() would give 25
        (Fraction(33, 2), 17),  # half up; round() on a Fraction would give 16 (half to even)
        (Fraction(15000, 1001), 15),
        (Fraction(18), 18),
        (Fraction(1, 4), 1),
    ],
)
def test_timecode_base(rate: Fraction, base: int) -> None:
    assert timecode_base(rate) == base
    last = f"00:00:00:{base - 1:02d}"
    assert timecode_to_frames(last, rate) == base - 1
    assert timecode_to_frames("00:00:01:00", rate) == base
    with pytest.raises(ValueError, match="not a valid timecode"):
        timecode_to_frames(f"00:00:00:{base:02d}", rate)


def test_drop_frame_only_at_29_97_and_59_94() -> None:
    assert timecode_to_frames("00:01:00;04", Fraction(60000, 1001)) == 3600
    for rate in (Fraction(25), Fraction(24000, 1001), Fraction(50), Fraction(30)):
        with pytest.raises(ValueError, match="drop-frame"):
            timecode_to_frames("00:01:00;04", rate)
        with pytest.raises(ValueError, match="drop-frame"):
            frames_to_timecode(100, rate, drop_frame=True)


def test_check_timecode_wants_two_digit_hours() -> None:
    check_timecode("01:00:00;00", NTSC)
    with pytest.raises(ValueError, match="two-digit hours"):
        check_timecode("1:00:00;00", NTSC)
    assert parse_position("1:00:00:00", Fraction(25)) == 90000  # typed positions may omit it
