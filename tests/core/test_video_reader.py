"""Video and image-sequence reading: exact metadata, native luma, frame-accurate access.

Luma comparisons are exact (np.array_equal): decoding on the CPU is deterministic, and a
reader that seeks must give the very frame a plain sequential decode gives.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

# tests/core is on sys.path (pytest's default import mode, no __init__.py here)
from media import (
    decode_luma,
    expected_luma,
    make_audio,
    make_image_sequence,
    make_video,
    pattern_rgb,
    read_pattern_index,
    write_image,
)

from flowchroma_core.colour.ycbcr import coefficients, luma_to_float
from flowchroma_core.errors import FlowChromaError, VideoReadError
from flowchroma_core.video.reader import (
    Frame,
    VideoInfo,
    VideoReader,
    luma_matrix,
    open_video,
    read_rgb,
)

NTSC = Fraction(30000, 1001)
CHAPLIN = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "bw" / "chaplin.mp4"


def _cut_in_half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _sample_indexes(count: int, seed: int = 0) -> list[int]:
    """A shuffled spread of frames plus the edges, visited out of order on purpose."""
    rng = np.random.default_rng(seed)
    picks = [int(i) for i in rng.choice(count, size=min(count, 14), replace=False)]
    return [*picks, 0, count - 1, -1, count // 2, 1]


# ---------------------------------------------------------------------------------------
# Media, written once per module


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def h264_mp4(media: Path) -> tuple[Path, list[np.ndarray]]:
    """NTSC-rate H.264 with B-frames (libx264 defaults), a GOP of 12, AAC and a timecode."""
    path = media / "ntsc.mp4"
    written = make_video(
        path, frames=60, width=160, height=120, rate=NTSC, gop=12, audio=True,
        timecode="01:00:00;00",
    )  # fmt: skip
    return path, written


@pytest.fixture(scope="module")
def h264_mkv(media: Path) -> Path:
    path = media / "ntsc.mkv"
    make_video(path, frames=48, width=128, height=96, rate=NTSC, gop=12, timecode="01:00:00:00")
    return path


@pytest.fixture(scope="module")
def ffv1_10bit(media: Path) -> tuple[Path, list[np.ndarray]]:
    path = media / "scan10.mkv"
    written = make_video(
        path, frames=8, width=96, height=64, rate=Fraction(24), codec="ffv1", pix_fmt="yuv422p10le",
        gray=True,
    )  # fmt: skip
    return path, written


# ---------------------------------------------------------------------------------------
# Metadata


def test_h264_metadata(h264_mp4: tuple[Path, list[np.ndarray]]) -> None:
    path, written = h264_mp4
    with open_video(path) as reader:
        info = reader.info
    assert isinstance(info, VideoInfo)
    assert info.frame_rate == NTSC and isinstance(info.frame_rate, Fraction)
    assert info.frame_count == len(written) == 60
    assert info.duration == 60 / NTSC
    assert (info.width, info.height) == (160, 120)
    assert info.sample_aspect == 1 and info.display_aspect == Fraction(4, 3)
    assert info.codec == "h264" and "mp4" in info.container_format
    assert (info.pix_fmt, info.bit_depth, info.color_range) == ("yuv420p", 8, "tv")
    assert info.start_timecode == "01:00:00;00"
    assert not info.variable_frame_rate and not info.is_image_sequence
    assert info.rotation == 0
    assert len(info.audio) == 1
    audio = info.audio[0]
    assert (audio.codec, audio.channels, audio.sample_rate) == ("aac", 2, 48000)
    assert audio.bit_depth is None
    assert luma_matrix(info) == "bt601"  # unspecified, 120 lines
    summary = info.summary()
    assert "ntsc.mp4" in summary and "29.97" in summary and "01:00:00;00" in summary
    assert len(summary.splitlines()) >= 4


def test_mkv_metadata_with_millisecond_timestamps(h264_mkv: Path) -> None:
    """Matroska rounds timestamps to 1 ms; the rate is still exactly 30000/1001."""
    with open_video(h264_mkv) as reader:
        info = reader.info
    assert info.time_base == Fraction(1, 1000)
    assert info.frame_rate == NTSC
    assert info.frame_count == 48
    assert not info.variable_frame_rate
    assert info.start_timecode == "01:00:00:00"
    assert info.audio == ()


def test_ffv1_10bit_luma_is_native_and_exact(ffv1_10bit: tuple[Path, list[np.ndarray]]) -> None:
    path, written = ffv1_10bit
    with open_video(path) as reader:
        info = reader.info
        assert (info.pix_fmt, info.bit_depth, info.color_range) == ("yuv422p10le", 10, "tv")
        assert info.frame_rate == 24 and info.frame_count == 8
        frames = list(reader.frames())
    assert len(frames) == 8
    for frame, expected in zip(frames, written, strict=True):
        assert frame.luma.dtype == np.uint16 and frame.bit_depth == 10
        np.testing.assert_array_equal(frame.luma, expected)
    # 10-bit limited range: 64 is black, 940 is white
    gray = frames[0].gray()
    assert gray.dtype == np.float32
    ref = np.clip((written[0].astype(np.float32) - 64.0) / 876.0, 0.0, 1.0)
    np.testing.assert_allclose(gray, ref, atol=1e-6)


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "range_"),
    [("mjpeg", "yuvj422p", "pc"), ("mpeg4", "yuv420p", "tv")],
)
def test_avi_25fps(media: Path, codec: str, pix_fmt: str, range_: str) -> None:
    path = media / f"pal_{codec}.avi"
    options = {"bf": "2"} if codec == "mpeg4" else {}
    make_video(
        path, frames=30, width=160, height=120, rate=Fraction(25), codec=codec, pix_fmt=pix_fmt,
        gop=10, options=options,
    )  # fmt: skip
    with open_video(path) as reader:
        info = reader.info
        assert info.container_format == "avi" and info.codec == codec
        assert info.frame_rate == 25 and info.frame_count == 30
        assert info.duration == Fraction(6, 5)
        assert info.color_range == range_
        assert [read_pattern_index(reader[n].luma) for n in (29, 3, 17)] == [29, 3, 17]


def test_display_rotation_is_reported_not_applied(media: Path) -> None:
    path = media / "portrait.mp4"
    make_video(path, frames=3, width=64, height=48, rotation=90)  # 90° counter-clockwise
    with open_video(path) as reader:
        assert reader.info.rotation == 270  # i.e. a quarter turn clockwise the other way
        assert reader[0].luma.shape == (48, 64)


# ---------------------------------------------------------------------------------------
# Frame-accurate access


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])
def test_random_access_matches_sequential_decode(media: Path, suffix: str) -> None:
    path = media / f"gop12{suffix}"
    make_video(path, frames=50, width=128, height=96, rate=Fraction(25), gop=12)
    reference = decode_luma(path)
    assert len(reference) == 50
    with open_video(path) as reader:
        assert len(reader) == 50
        for n in _sample_indexes(len(reader)):
            frame = reader[n]
            expected = n % len(reader)
            assert frame.index == expected
            assert read_pattern_index(frame.luma) == expected
            assert np.array_equal(frame.luma, reference[expected]), f"frame {n}"
        assert frame.time == Fraction(frame.index, 25)
        assert reader.damaged_frames == []


def test_random_access_h264_with_b_frames(h264_mp4: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = h264_mp4
    reference = decode_luma(path)
    with open_video(path) as reader:
        sequential = [f.luma for f in reader.frames()]
        assert len(sequential) == len(reference) == 60
        assert all(np.array_equal(a, b) for a, b in zip(sequential, reference, strict=True))
        for n in [*_sample_indexes(60, seed=1), 59, 58, 12, 11, 13, 24]:
            assert np.array_equal(reader[n].luma, reference[n]), f"frame {n}"
        # in increasing order (decodes on without seeking)
        for n in range(20, 30):
            frame = reader[n]
            assert np.array_equal(frame.luma, reference[n])
            assert frame.time == n / NTSC
        with pytest.raises(IndexError):
            reader[60]
        with pytest.raises(IndexError):
            reader[-61]


def test_frames_range_equals_slice(h264_mp4: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = h264_mp4
    reference = decode_luma(path)
    with open_video(path) as reader:
        part = list(reader.frames(5, 17))
        assert [f.index for f in part] == list(range(5, 17))
        for frame in part:
            assert isinstance(frame, Frame)
            assert np.array_equal(frame.luma, reference[frame.index])
        assert [f.index for f in reader.frames(-3)] == [57, 58, 59]
        assert list(reader.frames(10, 10)) == []


def test_variable_frame_rate(media: Path) -> None:
    """Irregular timestamps: flagged as VFR, times follow the timestamps, access stays exact."""
    ticks = [0, 3000, 6000, 12000, 13500, 15000, 21000, 24000, 25000, 30000, 33000, 39000]
    ticks += [t + 42000 for t in ticks]
    path = media / "vfr.mp4"
    make_video(
        path, frames=len(ticks), width=96, height=64, pts=ticks, time_base=Fraction(1, 90000),
        gop=8,
    )  # fmt: skip
    reference = decode_luma(path)
    with open_video(path) as reader:
        info = reader.info
        assert info.variable_frame_rate
        assert info.frame_count == len(ticks)
        times = [f.time for f in reader.frames()]
        scale = Fraction(1, 90000)
        assert times == [(t - ticks[0]) * scale for t in ticks]
        for n in _sample_indexes(len(ticks), seed=3):
            frame = reader[n]
            assert np.array_equal(frame.luma, reference[n])
            assert read_pattern_index(frame.luma) == n % len(ticks)


def test_odd_frame_size(media: Path) -> None:
    """321x241: line padding must be cut off, for lossless and lossy codecs alike."""
    lossless = media / "odd.mkv"
    written = make_video(
        lossless, frames=4, width=321, height=241, rate=Fraction(24), codec="ffv1",
        pix_fmt="yuv420p",
    )  # fmt: skip
    with open_video(lossless) as reader:
        assert (reader.info.width, reader.info.height) == (321, 241)
        assert reader[2].luma.shape == (241, 321)
        assert all(np.array_equal(f.luma, w) for f, w in zip(reader.frames(), written, strict=True))
    lossy = media / "odd444.mp4"
    make_video(lossy, frames=6, width=321, height=241, pix_fmt="yuv444p")
    reference = decode_luma(lossy)
    with open_video(lossy) as reader:
        assert reader.info.pix_fmt == "yuv444p"
        for n in (5, 0, 3):
            assert np.array_equal(reader[n].luma, reference[n])


def test_one_frame_video(media: Path) -> None:
    path = media / "still.mp4"
    written = make_video(path, frames=1, width=64, height=48, rate=Fraction(25))
    with open_video(path) as reader:
        assert len(reader) == 1
        assert reader.info.frame_rate == 25
        assert reader.info.duration == Fraction(1, 25)
        assert np.array_equal(reader[0].luma, reader[-1].luma)
        assert read_pattern_index(reader[0].luma) == 0
        assert [f.index for f in reader.frames()] == [0]
        assert reader[0].luma.shape == written[0].shape
        with pytest.raises(IndexError):
            reader[1]


def test_gray_of_full_and_limited_range() -> None:
    luma8 = np.array([[0, 16, 128, 235, 255]], dtype=np.uint8)
    tv = Frame(index=0, pts=0, time=Fraction(0), luma=luma8, bit_depth=8, color_range="tv")
    np.testing.assert_allclose(tv.gray(), [[0, 0, 112 / 219, 1, 1]], atol=1e-6)
    pc = Frame(index=0, pts=0, time=Fraction(0), luma=luma8, bit_depth=8, color_range="pc")
    np.testing.assert_allclose(pc.gray(), [[0, 16 / 255, 128 / 255, 235 / 255, 1]], atol=1e-6)
    luma16 = np.array([[0, 32768, 65535]], dtype=np.uint16)
    deep = Frame(index=0, pts=0, time=Fraction(0), luma=luma16, bit_depth=16, color_range="pc")
    np.testing.assert_allclose(deep.gray(), [[0, 32768 / 65535, 1]], atol=1e-6)


def test_reader_lifecycle(h264_mkv: Path) -> None:
    reader = VideoReader(h264_mkv)
    assert read_pattern_index(reader[3].luma) == 3
    assert [f.index for f in reader] == list(range(48))
    reader.close()
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader[0]
    with pytest.raises(VideoReadError, match="image sequences only"):
        open_video(h264_mkv, frame_rate=24)


# ---------------------------------------------------------------------------------------
# Real data


@pytest.fixture(scope="module")
def chaplin() -> Path:
    if not CHAPLIN.is_file():
        pytest.skip(f"real clip {CHAPLIN} is absent (../shared/data not beside this checkout)")
    return CHAPLIN


def test_chaplin_metadata(chaplin: Path) -> None:
    with open_video(chaplin) as reader:
        info = reader.info
    assert (info.width, info.height) == (640, 360)
    assert info.frame_count == 241
    assert info.frame_rate == 25 and not info.variable_frame_rate
    assert info.bit_depth == 8 and info.color_range == "tv"
    assert info.codec == "h264" and len(info.audio) == 1


def test_chaplin_random_access(chaplin: Path) -> None:
    reference = decode_luma(chaplin)
    assert len(reference) == 241
    with open_video(chaplin) as reader:
        for n in (120, 7, 240, 0, 199, -2):
            assert np.array_equal(reader[n].luma, reference[n]), f"frame {n}"
        assert [f.index for f in reader.frames(100, 104)] == [100, 101, 102, 103]


# ---------------------------------------------------------------------------------------
# Image sequences


def test_tiff16_folder(media: Path) -> None:
    folder = media / "tiff16"
    written = make_image_sequence(folder, frames=11, width=40, height=30, ext=".tif")
    with open_video(folder, frame_rate=Fraction(18)) as reader:
        info = reader.info
        assert info.is_image_sequence and info.codec == "tiff"
        assert info.frame_count == 11 and info.frame_rate == 18
        assert info.duration == Fraction(11, 18)
        assert (info.pix_fmt, info.bit_depth, info.color_range) == ("rgb48le", 16, "pc")
        assert luma_matrix(info) == "bt601"
        frames = list(reader.frames())
        assert [f.index for f in frames] == list(range(11))  # frame_10 after frame_9
        assert frames[3].time == Fraction(3, 18)
        for frame, rgb in zip(frames, written, strict=True):
            assert frame.luma.dtype == np.uint16
            # within one 16-bit code: Kg = 1 - Kr - Kb in floating point may round a
            # value sitting exactly on .5 the other way
            expected = expected_luma(rgb, matrix="bt601", bit_depth=16).astype(np.int32)
            assert np.abs(frame.luma.astype(np.int32) - expected).max() <= 1
        np.testing.assert_allclose(frames[0].gray(), frames[0].luma / 65535.0, atol=1e-6)
        assert np.array_equal(reader[-1].luma, frames[-1].luma)


def test_dpx_pattern_default_rate(media: Path) -> None:
    folder = media / "dpx10"
    folder.mkdir()
    written = []
    for n in range(1, 7):
        rgb = pattern_rgb(n, width=36, height=20, bit_depth=10)
        write_image(folder / f"scan_{n:06d}.dpx", rgb, pix_fmt="gbrp10le")
        written.append(rgb)
    (folder / "notes.txt").write_text("not a frame")
    with open_video(folder / "scan_%06d.dpx") as reader:
        info = reader.info
        assert info.codec == "dpx" and info.frame_rate == 24 and info.frame_count == 6
        assert info.bit_depth == 10 and info.color_range == "pc"
        for n in (4, 0, 5):
            np.testing.assert_array_equal(
                reader[n].luma, expected_luma(written[n], matrix="bt601", bit_depth=10)
            )


def test_png_hd_sequence_uses_bt709(media: Path) -> None:
    """Above 576 lines an unspecified matrix is BT.709; PNG stores 16-bit big-endian."""
    folder = media / "png_hd"
    written = make_image_sequence(
        folder, frames=2, width=8, height=600, ext=".png", pix_fmt="rgb48be"
    )
    with open_video(folder) as reader:
        assert luma_matrix(reader.info) == "bt709"
        np.testing.assert_array_equal(
            reader[1].luma, expected_luma(written[1], matrix="bt709", bit_depth=16)
        )


def test_jpeg_sequence_reads_native_luma(media: Path) -> None:
    folder = media / "jpeg"
    make_image_sequence(folder, frames=3, width=48, height=32, ext=".jpg", pix_fmt="rgb24")
    with open_video(folder) as reader:
        assert reader.info.codec == "mjpeg" and reader.info.color_range == "pc"
        assert reader.info.bit_depth == 8
        assert reader[2].luma.dtype == np.uint8 and reader[2].luma.shape == (32, 48)


def test_sequence_with_odd_sized_frame_is_refused(media: Path) -> None:
    folder = media / "mixed"
    make_image_sequence(folder, frames=5, width=40, height=30, ext=".tif")
    odd = folder / "frame_000004.tif"
    write_image(odd, pattern_rgb(0, width=41, height=30), pix_fmt="rgb48le")
    with pytest.raises(VideoReadError, match=r"frame_000004\.tif.*41x30"):
        open_video(folder)
    png = media / "mixed_png"
    make_image_sequence(png, frames=3, width=20, height=10, ext=".png", pix_fmt="rgb24")
    write_image(
        png / "frame_000002.png", pattern_rgb(0, width=20, height=12, bit_depth=8), pix_fmt="rgb24"
    )
    with pytest.raises(VideoReadError, match=r"frame_000002\.png"):
        open_video(png / "frame_%06d.png")


# ---------------------------------------------------------------------------------------
# Bad input: always a one-line VideoReadError naming the file


def _assert_clean(err: pytest.ExceptionInfo[VideoReadError], name: str) -> None:
    message = str(err.value)
    assert isinstance(err.value, FlowChromaError)
    assert name in message and "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoReadError, match="not found") as err:
        open_video(tmp_path / "film.mp4")
    _assert_clean(err, "film.mp4")


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Reel 3, splice at 00:12:04\n" * 40)
    with pytest.raises(VideoReadError, match="not a video") as err:
        open_video(path)
    _assert_clean(err, "notes.txt")
    garbage = tmp_path / "random.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError) as err:
        open_video(garbage)
    _assert_clean(err, "random.mp4")


@pytest.mark.parametrize(("name", "codec"), [("sound.m4a", "aac"), ("sound.wav", "pcm_s16le")])
def test_audio_only(tmp_path: Path, name: str, codec: str) -> None:
    path = tmp_path / name
    make_audio(path, seconds=0.5, codec=codec)
    with pytest.raises(VideoReadError, match=r"no video stream \(audio only\)") as err:
        open_video(path)
    _assert_clean(err, name)


def test_folders_without_images(tmp_path: Path) -> None:
    empty = tmp_path / "reel1"
    empty.mkdir()
    (empty / "readme.txt").write_text("scans to follow")
    with pytest.raises(VideoReadError, match="no images") as err:
        open_video(empty)
    _assert_clean(err, "reel1")
    with pytest.raises(VideoReadError, match="no files match") as err:
        open_video(empty / "scan_%06d.dpx")
    _assert_clean(err, "scan_%06d.dpx")


def test_nothing_decodable(tmp_path: Path) -> None:
    """A stream of garbage packets: the container is fine, not one frame decodes."""
    path = tmp_path / "garbage.mkv"
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            packet = av.Packet(rng.integers(0, 256, 400, dtype=np.uint8).tobytes())
            packet.stream, packet.pts, packet.dts = stream, i, i
            packet.time_base = Fraction(1, 25)
            packet.is_keyframe = True
            container.mux(packet)
    with pytest.raises(VideoReadError, match="can be decoded") as err:
        open_video(path)
    _assert_clean(err, "garbage.mkv")


def test_truncated_mp4_is_refused(tmp_path: Path) -> None:
    """The moov atom sits at the end of an mp4: half a file cannot be read at all."""
    whole = tmp_path / "whole.mp4"
    make_video(whole, frames=40, width=96, height=64, rate=Fraction(25), gop=12)
    with pytest.raises(VideoReadError) as err:
        open_video(_cut_in_half(whole, tmp_path / "half.mp4"))
    _assert_clean(err, "half.mp4")


@pytest.mark.parametrize("suffix", [".mkv", ".ts"])
def test_truncated_stream_reads_what_it_can(tmp_path: Path, suffix: str) -> None:
    """A stream cut short anywhere: every frame returned shows the picture written for it,
    or is listed as corrupt. Cuts on a 188-byte TS packet boundary and inside one, since
    a transport stream's last picture may be cut without the decoder noticing."""
    whole = tmp_path / f"whole{suffix}"
    make_video(whole, frames=60, width=128, height=96, rate=Fraction(25), gop=12)
    data = whole.read_bytes()
    flagged = 0
    for share in (0.35, 0.45, 0.5, 0.55, 0.65):
        for inside in (0, 93):
            cut = round(len(data) * share / 188) * 188 + inside
            half = tmp_path / f"half{suffix}"
            half.write_bytes(data[:cut])
            with open_video(half) as reader:
                count = len(reader)
                assert 10 < count < 60
                frames = list(reader.frames())
                assert len(frames) + len(reader.damaged_frames) == count
                indexes = sorted(set(range(count)) - set(reader.damaged_frames))
                assert [f.index for f in frames] == indexes
                for frame in frames:
                    if frame.index not in reader.corrupt_frames:
                        # the frame shown at this time is the one written for it
                        assert read_pattern_index(frame.luma) == frame.time * 25, cut
                flagged += len(reader.corrupt_frames)
                last = frames[-1]
                assert np.array_equal(reader[last.index].luma, last.luma)
    if suffix == ".ts":
        assert flagged, "no cut left a picture incomplete: the test does not test"


def test_a_whole_transport_stream_has_no_incomplete_frame(tmp_path: Path) -> None:
    path = tmp_path / "whole.ts"
    make_video(path, frames=40, width=128, height=96, rate=Fraction(25), gop=12)
    with open_video(path) as reader:
        assert len(list(reader.frames())) == 40
        assert reader.corrupt_frames == [] and reader.damaged_frames == []


def test_damaged_image_in_sequence_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    make_image_sequence(folder, frames=5, width=24, height=16, ext=".png", pix_fmt="rgb24")
    (folder / "frame_000003.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with open_video(folder) as reader:
        assert len(reader) == 5
        assert [f.index for f in reader.frames()] == [0, 1, 3, 4]
        assert reader.damaged_frames == [2]
        with pytest.raises(VideoReadError, match=r"frame_000003\.png"):
            reader[2]


def test_single_image_is_a_one_frame_sequence(tmp_path: Path) -> None:
    """A single image opens as a one-frame sequence."""
    folder = tmp_path / "one"
    make_image_sequence(folder, frames=1, width=16, height=8, ext=".dpx", pix_fmt="rgb24")
    single = tmp_path / "poster.dpx"
    shutil.copy(folder / "frame_000001.dpx", single)
    with open_video(single) as reader:
        assert len(reader) == 1 and reader.info.is_image_sequence
        assert reader[0].luma.shape == (8, 16)


def test_gap_in_scan_numbering_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "reel2"
    make_image_sequence(folder, frames=6, width=16, height=8, ext=".png", pix_fmt="rgb24")
    (folder / "frame_000004.png").unlink()
    with caplog.at_level("WARNING", logger="flowchroma_core.video.reader"):
        reader = open_video(folder)
    assert len(reader) == 5
    assert "jumps from 3 to 5" in caplog.text
    with pytest.raises(ValueError, match="positive"):
        open_video(folder, frame_rate=0)


@pytest.mark.parametrize(("height", "matrix"), [(48, "bt601"), (580, "bt709")])
def test_read_rgb_decodes_the_luma_the_colorizer_keeps(
    media: Path, height: int, matrix: str
) -> None:
    # Evaluation scores a colorized frame, which keeps the source's luma codes, against
    # read_rgb's RGB: swscale's default fast path made that RGB's luma about a code darker
    # (a ceiling near 46 dB for perfect colours), and untagged HD came out as BT.601.
    path = media / f"exact_{height}.mkv"
    written = make_video(path, frames=2, width=64, height=height, codec="ffv1")
    kr, kg, kb = coefficients(matrix)
    for rgb, luma in zip(read_rgb(path), written, strict=True):
        r, g, b = np.moveaxis(rgb.astype(np.float64), -1, 0)
        error = kr * r + kg * g + kb * b - 255.0 * luma_to_float(luma, 8, "tv")
        error = error[(rgb > 0).all(-1) & (rgb < 255).all(-1)]  # clipped: luma not kept
        assert error.size > rgb.size // 12
        assert abs(error.mean()) < 0.1
        assert np.abs(error).mean() < 0.4
