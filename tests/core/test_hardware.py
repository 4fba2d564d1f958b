"""Hardware video engines (video/hardware.py): chosen only where they open, clean fall back."""

from __future__ import annotations

import pytest

from flowchroma_core.video import hardware


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
