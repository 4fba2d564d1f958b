"""Processing settings: defaults, validation with reasons, TOML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowchroma_core.settings import (
    Settings,
    SettingsError,
    load_settings,
    save_settings,
    settings_path,
)


def test_defaults_are_valid_and_round_trip(tmp_path: Path) -> None:
    s = Settings(clip_length=12, overlap=3, padding="edge", scene_cut_threshold=0.5)
    path = save_settings(s, tmp_path / "s.toml")
    assert load_settings(path) == s
    assert Settings().problems() == []


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "none.toml") == Settings()


def test_settings_file_lives_in_the_isolated_config_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWCHROMA_CONFIG_DIR", str(tmp_path))
    assert settings_path() == tmp_path / "settings.toml"


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"clip_length": 0}, "clip_length: must be between 1 and 256"),
        ({"overlap": 16}, "overlap: must be at least 0 and less than clip_length"),
        ({"padding": "grey"}, "padding: must be one of white, black, edge"),
        ({"device": "tpu"}, "device: must be one of auto, cuda, cpu"),
        ({"precision": "fp16", "device": "cpu"}, "precision: fp16 and bf16 need a CUDA device"),
        (
            {"model": "/no/such/model.safetensors"},
            "model: /no/such/model.safetensors does not exist",
        ),
    ],
)
def test_invalid_values_are_named_with_the_reason(change, reason, tmp_path: Path) -> None:
    bad = Settings().replace(**change)
    assert any(reason in p for p in bad.problems())
    with pytest.raises(SettingsError, match=reason.split(":")[0]):
        save_settings(bad, tmp_path / "s.toml")
    assert not (tmp_path / "s.toml").exists()


def test_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("clip_length = 'sixteen'\n")
    with pytest.raises(SettingsError, match=r"s\.toml: clip_length must be a int"):
        load_settings(path)
    path.write_text("clip_length = [\n")
    with pytest.raises(SettingsError, match="cannot read settings"):
        load_settings(path)
