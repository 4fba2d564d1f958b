"""Colorization options: one validation, hashable, recorded as JSON, loadable without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowchroma_core.pipeline.options import SETTING_FIELDS, ColorizeOptions, OptionsError


def test_defaults_are_valid_frozen_and_hashable() -> None:
    options = ColorizeOptions()
    assert options.window_frames == 16 and options.overlap == 0 and options.vividness is None
    assert {options: 1}[ColorizeOptions()] == 1
    with pytest.raises(AttributeError):
        options.overlap = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"window_frames": 0}, "window_frames: must be between 1 and 256"),
        ({"overlap": 16}, "overlap: must be at least 0 and less than window_frames"),
        ({"window_frames": 4, "overlap": 4}, "less than window_frames"),
        ({"padding": "grey"}, "padding: must be one of white, black, edge"),
        ({"matrix": "srgb"}, "matrix: must be one of"),
        ({"carry_state": False, "overlap": 2}, "overlap: must be 0 when"),
        ({"vividness": -1.0}, "vividness: must be between 0"),
        ({"vividness": 1.5}, "vividness: must be between 0"),
    ],
)
def test_invalid_options_are_refused_with_the_field_named(change, reason) -> None:
    with pytest.raises(OptionsError, match=reason):
        ColorizeOptions(**change)
    with pytest.raises(OptionsError, match=reason):
        ColorizeOptions().replace(**change)


def test_json_round_trip() -> None:
    options = ColorizeOptions(window_frames=8, overlap=2, vividness=0.4, matrix="bt601")
    assert ColorizeOptions.from_json(options.to_json()) == options


def test_the_user_set_fields_are_the_settings_fields() -> None:
    from dataclasses import fields

    from flowchroma_core.settings import Settings

    names = {f.name for f in fields(Settings)}
    assert set(SETTING_FIELDS) <= names
    assert names - set(SETTING_FIELDS) == {"export_folder", "export_codec", "export_hardware_video"}
    for name in SETTING_FIELDS:  # one set of defaults
        assert getattr(Settings(), name) == getattr(ColorizeOptions(), name)


def test_settings_and_options_load_without_torch_pyav_or_opencv() -> None:
    code = (
        "import flowchroma_core.settings, flowchroma_core.pipeline.options, sys; "
        "heavy = {'torch', 'av', 'cv2'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
