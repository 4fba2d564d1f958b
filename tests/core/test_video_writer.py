"""VideoWriter: every codec decoded back with PyAV; luma, chroma, timing, tags, audio, atomicity."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from flowchroma_core.colour.ycbcr import (
    chroma_scale,
    chroma_to_codes,
    luma_from_rgb,
    luma_scale,
    rescale_luma_codes,
)
from flowchroma_core.colour.ycbcr_torch import chroma_from_rgb
from flowchroma_core.errors import VideoWriteError
from flowchroma_core.video import writer as video_writer
from flowchroma_core.video.writer import (
    CODEC_NAMES,
    CODECS,
    VideoWriter,
    codec_for_path,
    get_preset,
)

RATE = Fraction(30000, 1001)


def rgb_to_ycbcr(rgb: np.ndarray, matrix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, cb, cr) of decoded R'G'B' (..., 3), with the product's own luma and chroma formulas."""
    rgb = np.asarray(rgb, dtype=np.float32)
    y = luma_from_rgb(rgb[..., 0], rgb[..., 1], rgb[..., 2], matrix)  # type: ignore[arg-type]
    planes = torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0)))
    cb, cr = chroma_from_rgb(planes, matrix)  # type: ignore[arg-type]
    return y, cb.numpy(), cr.numpy()


N_FRAMES = 12
# The chroma under test; at mid grey (luma 126) this is well inside the RGB gamut.
CB, CR = 0.1, -0.05
FLAT_LUMA_8 = 126

# Largest decoded luma difference allowed, in 8-bit code values, per lossy codec. Measured
# on these frames: h264 2, h265 0.75 (3 at 10 bits), prores 0, prores4444 0.0625, dnxhr 0.
LOSSY_LUMA_TOLERANCE = {"h264": 3, "h265": 2, "prores": 1, "prores4444": 1, "dnxhr": 1}
LOSSY_CHROMA_TOLERANCE = 0.01


@dataclass(frozen=True)
class Source:
    """A stand-in for video_reader.VideoInfo with everything VideoWriter reads."""

    path: Path
    width: int = 64
    height: int = 48
    sample_aspect: Fraction = Fraction(1)
    frame_rate: Fraction = RATE
    time_base: Fraction = Fraction(1001, 30000)
    frame_count: int = N_FRAMES
    pix_fmt: str = "yuv420p"
    bit_depth: int = 8
    color_range: str = "tv"
    color_space: str = "bt709"
    color_primaries: str = "bt709"
    color_trc: str = "bt709"
    rotation: int = 0
    start_timecode: str | None = None
    audio: tuple = ()
    is_image_sequence: bool = False
    variable_frame_rate: bool = False


def _size(codec: str) -> tuple[int, int]:
    return (256, 128) if codec == "dnxhr" else (64, 48)


def _frames(
    width: int, height: int, *, bits: int = 8, color_range: str = "tv", n: int = N_FRAMES
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Luma: a horizontal ramp (black to white) on top, flat mid grey below; constant chroma."""
    step = 1 << (bits - 8)
    black, white = (16 * step, 235 * step) if color_range == "tv" else (0, (1 << bits) - 1)
    x = np.arange(width)
    frames = []
    for i in range(n):
        ramp = np.clip(black + (x * (white - black)) // (width - 1) + i * step, black, white)
        luma = np.empty((height, width), dtype=np.uint8 if bits == 8 else np.uint16)
        luma[: height // 2] = ramp
        offset, span = luma_scale(bits, color_range)
        luma[height // 2 :] = np.floor(offset + span * np.float32((FLAT_LUMA_8 - 16) / 219) + 0.5)
        cb = np.full((height, width), CB, np.float32)
        cr = np.full((height, width), CR, np.float32)
        frames.append((luma, cb, cr))
    return frames


def _write(
    destination: Path,
    source: Source,
    frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    **kwargs,
) -> VideoWriter:
    with VideoWriter(destination, source=source, matrix="bt709", **kwargs) as writer:
        for i, (luma, cb, cr) in enumerate(frames):
            writer.write(luma, cb, cr, time=i / source.frame_rate)
    return writer


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """One plane of a decoded frame as (rows, samples), without the line padding."""
    plane = frame.planes[index]
    bits = frame.format.components[index].bits
    dtype = np.dtype("<u2" if bits > 8 else "u1")
    if frame.format.name.endswith("be"):
        dtype = dtype.newbyteorder(">")
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)[: plane.height]
    return rows[:, : plane.width * dtype.itemsize].copy().view(dtype).astype(np.int64)


def _target(writer: VideoWriter) -> str:
    if writer.preset.is_image_sequence:
        folder = writer.destination
        return str(folder / f"{folder.name}_%06d{writer.preset.extensions[0]}")
    return str(writer.destination)


def _decode(writer: VideoWriter) -> tuple[list[av.VideoFrame], dict]:
    with av.open(_target(writer)) as container:
        stream = container.streams.video[0]
        info = {
            "average_rate": stream.average_rate,
            "time_base": stream.time_base,
            "metadata": {k.lower(): v for k, v in container.metadata.items()}
            | {k.lower(): v for s in container.streams for k, v in s.metadata.items()},
            "sample_aspect": stream.sample_aspect_ratio,
        }
        frames = list(container.decode(stream))
    return frames, info


def _rgb_of(frame: av.VideoFrame) -> np.ndarray:
    """Decoded RGB output as floats in [0, 1], channels last."""
    name = frame.format.name
    if name.startswith("gbrp"):
        g, b, r = (_plane(frame, i) for i in range(3))
        rgb = np.stack([r, g, b], axis=-1)
    else:
        rgb = frame.to_ndarray().astype(np.int64)
    bits = frame.format.components[0].bits
    return (rgb / ((1 << bits) - 1)).astype(np.float32)


@pytest.fixture
def source(tmp_path: Path) -> Source:
    folder = tmp_path / "sources"
    folder.mkdir()
    return Source(path=folder / "film.mkv")


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


# -- presets ----------------------------------------------------------------------------------


def test_codec_names_and_defaults() -> None:
    assert tuple(CODECS) == CODEC_NAMES
    assert set(CODEC_NAMES) == {
        "h264", "h265", "prores", "prores4444", "dnxhr", "ffv1", "png", "tiff", "dpx",
    }  # fmt: skip
    assert codec_for_path("a.mp4") == "h264"
    assert codec_for_path(Path("a.MOV")) == "prores"
    assert codec_for_path("a.mkv") == "ffv1"
    assert codec_for_path("a.mxf") == "dnxhr"
    assert codec_for_path("a.png") == "png"
    assert codec_for_path("a.tif") == codec_for_path("a.tiff") == "tiff"
    assert codec_for_path("a.dpx") == "dpx"
    with pytest.raises(ValueError, match="h264, h265"):
        codec_for_path("a.avi")
    with pytest.raises(ValueError, match="allowed: h264, h265, prores"):
        get_preset("vp9")


def test_every_encoder_is_in_this_pyav() -> None:
    for preset in CODECS.values():
        assert preset.codec in av.codecs_available, preset.name


def test_unknown_codec_argument(source: Source, out_dir: Path) -> None:
    with pytest.raises(ValueError, match="allowed: h264"):
        VideoWriter(out_dir / "a.mov", codec="cinepak", source=source, matrix="bt709")
    with pytest.raises(ValueError, match="bt709, bt601, bt2020"):
        VideoWriter(out_dir / "a.mov", source=source, matrix="p3")  # type: ignore[arg-type]


# -- every codec, decoded back -------------------------------------------------------------


@pytest.mark.parametrize("codec", CODEC_NAMES)
def test_round_trip_every_codec(codec: str, source: Source, out_dir: Path) -> None:
    preset = CODECS[codec]
    width, height = _size(codec)
    source = dataclasses.replace(source, width=width, height=height)
    frames = _frames(width, height)
    writer = _write(out_dir / f"clip{preset.extensions[0]}", source, frames, codec=codec)
    decoded, info = _decode(writer)

    assert len(decoded) == N_FRAMES
    assert (decoded[0].width, decoded[0].height) == (width, height)
    if not preset.is_image_sequence:
        assert info["average_rate"] == RATE
        times = [f.pts * f.time_base for f in decoded]
        expected = [i / RATE for i in range(N_FRAMES)]
        # mkv keeps milliseconds; mov/mp4/mxf keep the exact 1001/30000 steps
        tolerance = Fraction(1, 1000) if writer.destination.suffix == ".mkv" else 0
        assert all(abs(t - e) <= tolerance for t, e in zip(times, expected, strict=True))
        if writer.destination.suffix in {".mov", ".mp4"}:
            assert info["time_base"] == Fraction(1, 30000)
        if writer.destination.suffix == ".mxf":
            assert info["time_base"] == Fraction(1001, 30000)

    for frame, (luma, _, _) in zip(decoded, frames, strict=True):
        if preset.chroma == "rgb":
            # luma recomputed from the decoded RGB with the same matrix, on the 8-bit scale
            rgb = _rgb_of(frame)
            y, cb, cr = rgb_to_ycbcr(rgb, "bt709")
            diff = np.abs(16 + 219 * y - luma)
            assert diff.max() <= 1.0, f"{codec}: luma off by {diff.max():.3f}"
            flat = (slice(height // 2 + 1, None), slice(None))
            np.testing.assert_allclose(cb[flat], CB, atol=2 / 255)
            np.testing.assert_allclose(cr[flat], CR, atol=2 / 255)
            continue
        bits = frame.format.components[0].bits
        y = _plane(frame, 0)
        expected_y = rescale_luma_codes(luma, 8, "tv", bits, "tv").astype(np.int64)
        diff_8bit = np.abs(y - expected_y) / (1 << (bits - 8))
        if preset.lossless:
            np.testing.assert_array_equal(y, expected_y)
        else:
            assert diff_8bit.max() <= LOSSY_LUMA_TOLERANCE[codec], f"{codec}: {diff_8bit.max()}"
        # chroma of the flat lower half comes back as the colour that went in
        rows = slice(_plane(frame, 1).shape[0] // 2 + 2, -2)
        for index, value in ((1, CB), (2, CR)):
            offset, span = chroma_scale(bits, "tv")
            decoded_c = (_plane(frame, index)[rows, 2:-2].astype(np.float64) - offset) / span
            if preset.lossless:
                expected_c = chroma_to_codes(np.float32(value), bits, "tv")
                assert (_plane(frame, index)[rows, 2:-2] == expected_c).all()
            else:
                assert np.abs(decoded_c - value).max() <= LOSSY_CHROMA_TOLERANCE


def test_ten_bit_source_stays_exact(source: Source, out_dir: Path) -> None:
    source = dataclasses.replace(source, bit_depth=10, pix_fmt="yuv420p10le")
    frames = _frames(64, 48, bits=10)
    writer = _write(out_dir / "deep.mkv", source, frames)
    assert writer.pixel_format.pix_fmt == "yuv444p10le"
    decoded, _ = _decode(writer)
    for frame, (luma, _, _) in zip(decoded, frames, strict=True):
        np.testing.assert_array_equal(_plane(frame, 0), luma)
    h264 = _write(out_dir / "deep.mp4", source, frames[:2])
    assert h264.pixel_format.pix_fmt == "yuv420p10le"
    assert any("High 10" in note for note in h264.notes)


@pytest.mark.parametrize("codec", ["prores", "h265", "dnxhr"])
def test_eight_bit_luma_into_ten_bit_is_a_shift(codec: str, source: Source, out_dir: Path) -> None:
    width, height = _size(codec)
    source = dataclasses.replace(source, width=width, height=height)
    ext = CODECS[codec].extensions[0]
    (luma, cb, cr), *_ = _frames(width, height)
    if codec == "dnxhr":
        source = dataclasses.replace(source, bit_depth=9)  # 9 bits -> HQX, 10-bit
        luma = luma.astype(np.uint16) << 1
    with VideoWriter(out_dir / f"x{ext}", codec=codec, source=source, matrix="bt709") as writer:
        frame = writer.frame_for(luma, cb, cr)
        writer.write(luma, cb, cr, time=Fraction(0))
    assert frame.format.components[0].bits == 10
    shift = 2 if codec != "dnxhr" else 1
    np.testing.assert_array_equal(_plane(frame, 0), luma.astype(np.int64) << shift)


def test_full_range_source(source: Source, out_dir: Path) -> None:
    source = dataclasses.replace(source, color_range="pc", pix_fmt="yuvj420p")
    frames = _frames(64, 48, color_range="pc", n=3)
    ffv1 = _write(out_dir / "full.mkv", source, frames)
    decoded, _ = _decode(ffv1)
    assert decoded[0].color_range == 2  # JPEG / full
    np.testing.assert_array_equal(_plane(decoded[0], 0), frames[0][0])
    prores = _write(out_dir / "full.mov", source, frames)
    assert any("video range" in note for note in prores.notes)
    decoded, _ = _decode(prores)
    assert decoded[0].color_range == 1
    y = _plane(decoded[0], 0)
    back = rescale_luma_codes(y.astype(np.uint16), 10, "tv", 8, "pc").astype(np.int64)
    assert np.abs(back - frames[0][0]).max() <= 1


# -- odd sizes, timing, tags --------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "pix_fmt"),
    [("h264", "yuv444p"), ("h265", "yuv444p10le"), ("prores", "yuv444p10le"),
     ("ffv1", "yuv444p"), ("dpx", "gbrp10be")],
)  # fmt: skip
def test_odd_size(codec: str, pix_fmt: str, source: Source, out_dir: Path) -> None:
    """Odd sizes go to the preset's 4:4:4 variant, with a note; 4:4:4 presets need nothing."""
    source = dataclasses.replace(source, width=63, height=47)
    writer = _write(
        out_dir / f"odd{CODECS[codec].extensions[0]}", source, _frames(63, 47, n=3), codec=codec
    )
    assert writer.pixel_format.pix_fmt == pix_fmt
    assert any("odd" in note for note in writer.notes) == (CODECS[codec].chroma in {"420", "422"})
    decoded, _ = _decode(writer)
    assert len(decoded) == 3 and (decoded[0].width, decoded[0].height) == (63, 47)


def test_dnxhr_too_small(source: Source, out_dir: Path) -> None:
    with pytest.raises(VideoWriteError, match="at least 256x120"):
        VideoWriter(out_dir / "small.mxf", source=source, matrix="bt709")
    assert list(out_dir.iterdir()) == []


def test_variable_frame_rate_keeps_times(source: Source, out_dir: Path) -> None:
    source = dataclasses.replace(source, time_base=Fraction(1, 90000), variable_frame_rate=True)
    times = [Fraction(0), Fraction(3003, 90000), Fraction(9009, 90000), Fraction(10000, 90000)]
    with VideoWriter(out_dir / "vfr.mov", source=source, matrix="bt709") as writer:
        for t, (luma, cb, cr) in zip(times, _frames(64, 48, n=4), strict=True):
            writer.write(luma, cb, cr, time=t)
    assert writer.time_base == Fraction(1, 90000)
    decoded, _ = _decode(writer)
    assert [f.pts * f.time_base for f in decoded] == times
    with pytest.raises(VideoWriteError, match="constant frame rate"):
        VideoWriter(
            out_dir / "vfr.mxf",
            source=dataclasses.replace(source, width=256, height=128),
            matrix="bt709",
        )


def test_time_must_increase(source: Source, out_dir: Path) -> None:
    (luma, cb, cr), *_ = _frames(64, 48, n=1)
    with pytest.raises(ValueError, match="not after"):  # noqa: SIM117
        with VideoWriter(out_dir / "t.mkv", source=source, matrix="bt709") as writer:
            writer.write(luma, cb, cr, time=Fraction(0))
            writer.write(luma, cb, cr, time=Fraction(0))
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(("ext", "codec"), [(".mov", "prores"), (".mp4", "h264"), (".mkv", "h265")])
def test_colour_tags_rotation_and_aspect(
    ext: str, codec: str, source: Source, out_dir: Path
) -> None:
    source = dataclasses.replace(
        source,
        color_space="bt470bg",
        color_primaries="bt470bg",
        color_trc="smpte170m",
        rotation=90,
        sample_aspect=Fraction(16, 15),
    )
    destination = out_dir / f"tags{ext}"
    with VideoWriter(destination, codec=codec, source=source, matrix="bt601") as writer:
        for i, (luma, cb, cr) in enumerate(_frames(64, 48, n=2)):
            writer.write(luma, cb, cr, time=i / RATE)
    decoded, info = _decode(writer)
    frame = decoded[0]
    # range tv (1), matrix bt470bg (5), primaries bt470bg (5), transfer smpte170m (6)
    assert (frame.color_range, frame.colorspace, frame.color_primaries, frame.color_trc) == (
        1, 5, 5, 6,
    )  # fmt: skip
    assert (-frame.rotation) % 360 == 90  # PyAV reads counter-clockwise; the source says clockwise
    assert info["sample_aspect"] == Fraction(16, 15)
    assert writer.notes == []


def test_aspect_ratio_lost_in_ffv1_mkv_is_noted(source: Source, out_dir: Path) -> None:
    source = dataclasses.replace(source, sample_aspect=Fraction(64, 45))
    writer = _write(out_dir / "ana.mkv", source, _frames(64, 48, n=1))
    assert any("64:45" in note for note in writer.notes)


def test_unknown_colour_gets_hd_defaults(source: Source, out_dir: Path, caplog) -> None:
    source = dataclasses.replace(
        source, width=1280, height=720, color_primaries="unknown", color_trc="unknown"
    )
    caplog.set_level("INFO", logger="flowchroma_core.video")
    (luma, cb, cr), *_ = _frames(1280, 720, n=1)
    with VideoWriter(out_dir / "hd.mkv", source=source, matrix="bt709") as writer:
        writer.write(luma, cb, cr, time=Fraction(0))
    decoded, _ = _decode(writer)
    assert (decoded[0].colorspace, decoded[0].color_primaries, decoded[0].color_trc) == (1, 1, 1)
    assert "does not say its colour primaries or transfer" in caplog.text


@pytest.mark.parametrize("ext", [".mov", ".mp4", ".mkv", ".mxf"])
def test_timecode(ext: str, source: Source, out_dir: Path) -> None:
    width, height = (256, 128) if ext == ".mxf" else (64, 48)
    source = dataclasses.replace(source, width=width, height=height)
    writer = _write(
        out_dir / f"tc{ext}", source, _frames(width, height, n=2), timecode="01:02:03;04"
    )
    _, info = _decode(writer)
    assert info["metadata"]["timecode"] == "01:02:03;04"


def test_bad_timecode(source: Source, out_dir: Path) -> None:
    with pytest.raises(VideoWriteError, match="not a timecode"):
        VideoWriter(out_dir / "a.mov", source=source, matrix="bt709", timecode="1:00:00:00")
    with pytest.raises(VideoWriteError, match=r"not a valid timecode at 29\.970"):
        VideoWriter(out_dir / "a.mov", source=source, matrix="bt709", timecode="01:00:00:30")
    # The frame-count base is the rate rounded (24 at 24.3 frames/s), as the parser counts it.
    with pytest.raises(VideoWriteError, match=r"not a valid timecode at 24\.300"):
        VideoWriter(
            out_dir / "a.mov",
            source=dataclasses.replace(source, frame_rate=Fraction(243, 10)),
            matrix="bt709",
            timecode="01:00:00:24",
        )
    with pytest.raises(VideoWriteError, match="drop-frame"):
        VideoWriter(
            out_dir / "a.mov",
            source=dataclasses.replace(source, frame_rate=Fraction(24)),
            matrix="bt709",
            timecode="01:00:00;00",
        )
    assert list(out_dir.iterdir()) == []


# -- image sequences --------------------------------------------------------------------------


def test_sequence_folder_naming_and_replacement(source: Source, out_dir: Path) -> None:
    writer = _write(out_dir / "reel1.png", source, _frames(64, 48, n=3))
    assert writer.destination == out_dir / "reel1"
    assert sorted(p.name for p in (out_dir / "reel1").iterdir()) == [
        "reel1_000000.png", "reel1_000001.png", "reel1_000002.png",
    ]  # fmt: skip
    # writing again replaces the folder written before ...
    _write(out_dir / "reel1", source, _frames(64, 48, n=2), codec="png")
    assert len(list((out_dir / "reel1").iterdir())) == 2
    # ... but never a folder holding anything else
    (out_dir / "reel1" / "notes.txt").write_text("keep me")
    with pytest.raises(VideoWriteError, match="holds other files"):
        VideoWriter(out_dir / "reel1.png", source=source, matrix="bt709")
    assert sorted(p.name for p in out_dir.iterdir()) == ["reel1"]


def test_sixteen_bit_png_for_deep_sources(source: Source, out_dir: Path) -> None:
    source = dataclasses.replace(source, bit_depth=10)
    frames = _frames(64, 48, bits=10, n=2)
    writer = _write(out_dir / "deep.png", source, frames)
    assert writer.pixel_format.pix_fmt == "rgb48be"
    decoded, _ = _decode(writer)
    y, _, _ = rgb_to_ycbcr(_rgb_of(decoded[0]), "bt709")
    assert np.abs(64 + 876 * y - frames[0][0]).max() <= 1.0  # within a 10-bit code value


# -- audio ------------------------------------------------------------------------------------


def _make_av_source(
    path: Path, audio_codec: str, *, seconds: float = 2.0, video_delay: int = 0
) -> None:
    """A small clip with H.264 video and a 440 Hz stereo tone in ``audio_codec``.

    With ``video_delay`` the first picture comes that many frame durations after the sound.
    """
    rate = 48000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream(audio_codec, rate=rate, layout="stereo")
        resampler = av.AudioResampler(
            format=audio.format.name, layout="stereo", rate=rate, frame_size=1024
        )
        total, vframe = int(rate * seconds), 0
        for start in range(0, total, 1024):
            n = min(1024, total - start)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(start, start + n) / rate)).astype(
                np.float32
            )
            frame = av.AudioFrame.from_ndarray(np.stack([tone, -tone]), format="fltp")
            frame.sample_rate, frame.pts = rate, start
            for out in resampler.resample(frame):
                container.mux(audio.encode(out))
            while vframe / RATE < (start + n) / rate:
                picture = av.VideoFrame(64, 48, "yuv420p")
                for plane in picture.planes:
                    plane.update(bytes([128]) * plane.buffer_size)
                picture.pts = vframe + video_delay
                vframe += 1
                container.mux(video.encode(picture))
        for out in resampler.resample(None):
            container.mux(audio.encode(out))
        container.mux(audio.encode(None))
        container.mux(video.encode(None))


def _audio_packets(path: Path | str) -> list[av.Packet]:
    with av.open(str(path)) as container:
        return [p for p in container.demux(container.streams.audio[0]) if p.size]


def _audio_samples(path: Path | str) -> tuple[str, np.ndarray]:
    """(codec name, samples as float64 (channels, n)) of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        name = stream.codec_context.name
        chunks = []
        for frame in container.decode(stream):
            array = frame.to_ndarray()
            if not frame.format.is_planar:
                array = array.reshape(-1, len(frame.layout.channels)).T
            scale = {"s16": 2**15, "s16p": 2**15, "s32": 2**31, "s32p": 2**31}.get(
                frame.format.name, 1
            )
            chunks.append(array.astype(np.float64) / scale)
    return name, np.concatenate(chunks, axis=1)


@pytest.fixture(scope="module")
def aac_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("aac") / "aac.mp4"
    _make_av_source(path, "aac")
    return path


@pytest.fixture(scope="module")
def pcm_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pcm") / "pcm.mov"
    _make_av_source(path, "pcm_s16le")
    return path


AUDIO_START = Fraction(5 * 1001, 30000)  # the sixth source frame
AUDIO_FRAMES = 30


def _write_with_audio(destination: Path, audio_from: Path, **kwargs) -> VideoWriter:
    codec = kwargs.pop("codec", None)
    width, height = (256, 128) if destination.suffix == ".mxf" else (64, 48)
    source = Source(path=audio_from, width=width, height=height)
    frames = _frames(width, height, n=1) * AUDIO_FRAMES
    return _write(
        destination, source, frames, codec=codec, audio_from=audio_from,
        audio_start=AUDIO_START, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("ext", [".mov", ".mp4", ".mkv"])
def test_aac_is_copied(ext: str, aac_source: Path, out_dir: Path) -> None:
    writer = _write_with_audio(out_dir / f"a{ext}", aac_source, codec="h264")
    assert not any("Audio" in note for note in writer.notes)
    end = AUDIO_START + AUDIO_FRAMES / RATE
    wanted = [
        bytes(p) for p in _audio_packets(aac_source) if AUDIO_START <= p.pts * p.time_base < end
    ]
    copied = _audio_packets(writer.destination)
    assert copied[0].stream.codec_context.name == "aac"
    assert [bytes(p) for p in copied] == wanted
    # shifted so that the audio at AUDIO_START plays with the first frame (mov keeps 1 ms)
    first = copied[0].pts * copied[0].time_base
    expected = Fraction(8192, 48000) - AUDIO_START  # the first whole packet after the start
    assert abs(first - expected) <= Fraction(1, 1000)


def test_audio_clock_starts_at_the_first_picture(out_dir: Path, tmp_path: Path) -> None:
    """audio_start counts from the first video frame, as video_reader's Frame.time does."""
    late = tmp_path / "late.mkv"
    _make_av_source(late, "pcm_s16le", video_delay=15)  # pictures start 0.5005 s in
    writer = _write_with_audio(out_dir / "late.mov", late)
    zero = Fraction(15 * 1001, 30000)
    source_packets = [p for p in _audio_packets(late) if p.pts * p.time_base >= zero + AUDIO_START]
    copied = _audio_packets(writer.destination)
    assert bytes(copied[0]) == bytes(source_packets[0])
    first = copied[0].pts * copied[0].time_base
    expected = source_packets[0].pts * source_packets[0].time_base - zero - AUDIO_START
    assert abs(first - expected) <= Fraction(1, 1000)


def test_pcm_into_mp4_is_reencoded_losslessly(pcm_source: Path, out_dir: Path) -> None:
    writer = _write_with_audio(out_dir / "pcm.mp4", pcm_source)
    assert any("re-encoded to ALAC" in note for note in writer.notes)
    name, samples = _audio_samples(writer.destination)
    assert name == "alac"
    _, original = _audio_samples(pcm_source)
    first = int(AUDIO_START * 48000)
    count = int(AUDIO_FRAMES / RATE * 48000)
    assert samples.shape == (2, count)  # trimmed to the sample
    np.testing.assert_array_equal(samples, original[:, first : first + count])


def test_audio_far_into_the_file(pcm_source: Path, out_dir: Path) -> None:
    """A start past the first second seeks the audio file; the samples still match exactly."""
    start = Fraction(3, 2)
    (luma, cb, cr), *_ = _frames(64, 48, n=1)
    source = Source(path=pcm_source)
    with VideoWriter(
        out_dir / "late.mp4", source=source, matrix="bt709", audio_from=pcm_source,
        audio_start=start, audio_end=start + Fraction(1, 4),
    ) as writer:  # fmt: skip
        for i in range(8):
            writer.write(luma, cb, cr, time=i / RATE)
    _, samples = _audio_samples(writer.destination)
    _, original = _audio_samples(pcm_source)
    np.testing.assert_array_equal(samples, original[:, 72000 : 72000 + 12000])


def test_pcm_into_mov_is_copied(pcm_source: Path, out_dir: Path) -> None:
    writer = _write_with_audio(out_dir / "pcm.mov", pcm_source)
    assert writer.notes == []
    assert _audio_packets(writer.destination)[0].stream.codec_context.name == "pcm_s16le"


def test_aac_into_mxf_becomes_pcm(aac_source: Path, out_dir: Path) -> None:
    writer = _write_with_audio(out_dir / "a.mxf", aac_source)
    assert any("24-bit PCM" in note for note in writer.notes)
    name, samples = _audio_samples(writer.destination)
    assert name == "pcm_s24le"
    assert samples.shape[1] == int(AUDIO_FRAMES / RATE * 48000)


def test_sequence_audio_goes_beside(pcm_source: Path, out_dir: Path) -> None:
    writer = _write_with_audio(out_dir / "reel.dpx", pcm_source)
    wav = writer.destination / "reel.wav"
    assert wav.is_file()
    assert any("reel.wav" in note for note in writer.notes)
    name, samples = _audio_samples(wav)
    _, original = _audio_samples(pcm_source)
    first = int(AUDIO_START * 48000)
    assert name == "pcm_s16le"
    np.testing.assert_array_equal(samples, original[:, first : first + samples.shape[1]])
    assert samples.shape[1] == int(AUDIO_FRAMES / RATE * 48000)


# -- atomicity and refusals -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["boom.mov", "boom.png"])
def test_exception_leaves_nothing(name: str, source: Source, out_dir: Path) -> None:
    (luma, cb, cr), *_ = _frames(64, 48, n=1)
    with pytest.raises(RuntimeError, match="boom"):  # noqa: SIM117
        with VideoWriter(out_dir / name, source=source, matrix="bt709") as writer:
            writer.write(luma, cb, cr, time=Fraction(0))
            assert len(list(out_dir.iterdir())) == 1  # the temporary output, hidden
            raise RuntimeError("boom")
    assert list(out_dir.iterdir()) == []


def test_abort_leaves_nothing_and_keeps_old_file(
    source: Source, out_dir: Path, aac_source: Path
) -> None:
    old = out_dir / "keep.mkv"
    old.write_bytes(b"an earlier render")
    (luma, cb, cr), *_ = _frames(64, 48, n=1)
    writer = VideoWriter(old, source=source, matrix="bt709", audio_from=aac_source)
    writer.write(luma, cb, cr, time=Fraction(0))
    writer.abort()
    writer.close()  # after abort(), close() does nothing
    assert sorted(out_dir.iterdir()) == [old]
    assert old.read_bytes() == b"an earlier render"


def test_no_frames_is_an_error(source: Source, out_dir: Path) -> None:
    with pytest.raises(VideoWriteError, match="no frames"):  # noqa: SIM117
        with VideoWriter(out_dir / "empty.mov", source=source, matrix="bt709"):
            pass
    assert list(out_dir.iterdir()) == []


def test_missing_folder(source: Source, tmp_path: Path) -> None:
    with pytest.raises(VideoWriteError, match="does not exist") as info:
        VideoWriter(tmp_path / "nowhere" / "a.mov", source=source, matrix="bt709")
    assert "nowhere" in str(info.value)


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0,
    reason="POSIX permissions; root may write anywhere",
)
def test_unwritable_folder(source: Source, out_dir: Path) -> None:
    out_dir.chmod(0o555)
    try:
        with pytest.raises(VideoWriteError, match="not writable"):
            VideoWriter(out_dir / "a.mov", source=source, matrix="bt709")
    finally:
        out_dir.chmod(0o755)


def test_never_overwrites_the_source(source: Source, out_dir: Path) -> None:
    film = out_dir / "film.mov"
    film.write_bytes(b"the only copy")
    for destination in (film, out_dir / "." / "film.mov"):
        with pytest.raises(VideoWriteError, match="source itself"):
            VideoWriter(destination, source=dataclasses.replace(source, path=film), matrix="bt709")
    assert film.read_bytes() == b"the only copy"
    # an image-sequence source inside the folder a sequence would replace
    frames = out_dir / "scan"
    frames.mkdir()
    seq = dataclasses.replace(source, path=frames / "scan_%06d.dpx", is_image_sequence=True)
    with pytest.raises(VideoWriteError, match="source itself"):
        VideoWriter(out_dir / "scan.dpx", source=seq, matrix="bt709")


def test_wrong_extension_for_codec(source: Source, out_dir: Path) -> None:
    with pytest.raises(VideoWriteError, match=r"\.mov files"):
        VideoWriter(out_dir / "a.mp4", codec="prores", source=source, matrix="bt709")


def test_missing_encoder(source: Source, out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_writer.av, "codecs_available", {"ffv1"})
    with pytest.raises(VideoWriteError, match="no prores_ks encoder"):
        VideoWriter(out_dir / "a.mov", source=source, matrix="bt709")
    assert list(out_dir.iterdir()) == []
