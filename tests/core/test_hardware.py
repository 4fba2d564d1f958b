"""Hardware video engines (video/hardware.py): chosen only where they open, clean fall back."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from flowchroma_core.video import hardware
from flowchroma_core.video.reader import open_video
from flowchroma_core.video.writer import CODECS, VideoWriter, choose_encoder
from tests.core.media import make_video


def test_a_codec_not_built_in_is_absent_and_never_opened() -> None:
    assert not hardware.codec_present("no_such_codec_nvenc", "w")
    assert not hardware.open_works("no_such_codec_nvenc", "w")


def test_software_codecs_open_here() -> None:
    assert hardware.open_works("ffv1", "w")


def test_without_a_working_engine_the_software_encoder_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hardware, "open_works", lambda name, mode: False)
    options = {"crf": "16", "preset": "slow"}
    assert hardware.encoder_choice("libx264", options, hardware=True) == ("libx264", options)
    assert hardware.hardware_decoder("h264") is None


def test_a_working_engine_gets_nvenc_settings_of_the_same_quality(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hardware, "open_works", lambda name, mode: True)
    slow = {"crf": "16", "preset": "slow"}
    name, options = hardware.encoder_choice("libx264", slow, hardware=True)
    assert name == "h264_nvenc"
    assert options["cq"] == "16" and options["preset"] == "p6"
    assert hardware.encoder_choice("prores_ks", {}, hardware=True)[0] == "prores_ks"  # software
    assert hardware.hardware_decoder("hevc") == "hevc_cuvid"
    assert hardware.encoder_choice("libx264", {}, hardware=False)[0] == "libx264"


# -- wired into the reader and the writer ------------------------------------------------------


@pytest.fixture
def film(tmp_path: Path) -> Path:
    path = tmp_path / "film.mp4"
    make_video(path, frames=6, width=64, height=48, gop=3)
    return path


def test_nvdec_is_asked_for_only_where_it_decodes_and_for_codecs_it_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hardware, "cuda_decoding_works", lambda: False)
    assert hardware.decoding_accel("h264") is None
    monkeypatch.setattr(hardware, "cuda_decoding_works", lambda: True)
    accel = hardware.decoding_accel("h264")
    assert accel is not None and accel.allow_software_fallback  # odd profiles: software
    assert hardware.decoding_accel("ffv1") is None  # NVDEC has no FFV1


def test_a_film_streamed_with_hardware_asked_for_has_the_same_luma(film: Path) -> None:
    """NVDEC where it works (H.264 decoding is bit-exact by the standard), software here."""
    with open_video(film) as soft, open_video(film, hardware=True) as hard:
        pairs = list(zip(soft.frames(), hard.frames(), strict=True))
    assert len(pairs) == 6
    for a, b in pairs:
        assert a.index == b.index and a.time == b.time
        np.testing.assert_array_equal(a.luma, b.luma)


def _write(film: Path, destination: Path, **kwargs: object) -> VideoWriter:
    """``film`` encoded again (its luma, neutral chroma) by a VideoWriter with ``kwargs``."""
    with open_video(film) as reader:
        info, frames = reader.info, list(reader.frames())
    grey = np.zeros(frames[0].luma.shape, np.float32)
    with VideoWriter(destination, source=info, matrix="bt709", **kwargs) as writer:  # type: ignore[arg-type]
        for frame in frames:
            writer.write(frame.luma, grey, grey, time=frame.time)
    return writer


def _encoder_of(path: Path) -> tuple[str, str]:
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return context.name, context.pix_fmt


def test_nvenc_is_chosen_for_8_bit_h264_where_it_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "open_works", lambda name, mode: True)
    h264 = CODECS["h264"]
    encoder, options, note = choose_encoder(h264, h264.formats[0], hardware=True)
    assert (encoder, options["cq"], options["preset"]) == ("h264_nvenc", "16", "p6")
    assert note is not None and note.startswith("Encoded on the GPU with h264_nvenc")
    # 10-bit planar is not NVENC's P010; FFV1 has no NVENC: software, each with its reason
    encoder, _, note = choose_encoder(h264, h264.formats[1], hardware=True)
    assert encoder == "libx264" and note is not None and "yuv420p10le" in note
    ffv1 = CODECS["ffv1"]
    assert choose_encoder(ffv1, ffv1.formats[0], hardware=True)[::2] == (
        "ffv1", "ffv1 has no hardware encoder; encoded in software."
    )
    assert choose_encoder(h264, h264.formats[0], hardware=False)[::2] == ("libx264", None)


def test_without_nvenc_h264_is_encoded_in_software_with_a_note(
    film: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hardware, "open_works", lambda name, mode: False)
    writer = _write(film, tmp_path / "out.mp4", hardware=True)
    assert writer.encoder_note == "No working NVENC here; encoded in software (libx264)."
    assert writer.encoder_note in writer.notes
    assert _encoder_of(tmp_path / "out.mp4") == ("h264", "yuv420p")


def test_a_lossless_master_asked_for_hardware_keeps_its_luma_bit_exact(
    film: Path, tmp_path: Path
) -> None:
    writer = _write(film, tmp_path / "master.mkv", codec="ffv1", hardware=True)
    assert writer.encoder_note == "ffv1 has no hardware encoder; encoded in software."
    with open_video(film) as source, open_video(tmp_path / "master.mkv") as master:
        for a, b in zip(source.frames(), master.frames(), strict=True):
            np.testing.assert_array_equal(a.luma, b.luma)
    plain = _write(film, tmp_path / "plain.mkv", codec="ffv1")  # not asked for: no note
    assert plain.encoder_note is None


def test_a_film_nvdec_cannot_open_is_decoded_in_software(
    film: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The probe said yes but this film's open fails (no driver here, or no free session)."""
    from av.codec.hwaccel import HWAccel

    from flowchroma_core.video import container

    strict = HWAccel(device_type="cuda", allow_software_fallback=False)
    monkeypatch.setattr(container, "decoding_accel", lambda codec: strict)
    with open_video(film) as soft, open_video(film, hardware=True) as hard:
        expected = [f.luma for f in soft.frames()]
        got = [f.luma for f in hard.frames()]
    assert len(got) == len(expected) == 6
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    if hardware.cuda_decoding_works():
        return  # a GPU machine: NVDEC opened it
    assert "NVDEC cannot take it" in caplog.text and "decoding in software" in caplog.text
