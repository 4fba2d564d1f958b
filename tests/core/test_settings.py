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
    s = Settings(window_frames=12, overlap=3, padding="edge", cut_threshold=0.5)
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
        ({"window_frames": 0}, "window_frames: must be between 1 and 256"),
        ({"overlap": 16}, "overlap: must be at least 0 and less than window_frames"),
        ({"vividness": 1.5}, "vividness: must be between 0"),
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
    with pytest.raises(SettingsError, match=r"s\.toml: window_frames must be a int"):
        load_settings(path)
    path.write_text("clip_length = [\n")
    with pytest.raises(SettingsError, match="cannot read settings"):
        load_settings(path)


def test_older_names_are_read_and_vividness_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("clip_length = 8\nscene_cut_threshold = 0.5\n")
    assert load_settings(path) == Settings(window_frames=8, cut_threshold=0.5)
    for vividness in (None, 0.4):
        s = Settings(vividness=vividness)
        assert load_settings(save_settings(s, path)) == s


def test_settings_select_the_options() -> None:
    s = Settings(window_frames=8, overlap=2, cut_threshold=0.0, model="~/m.safetensors")
    options = s.colorize_options(matrix="bt601")
    assert (options.window_frames, options.overlap, options.cut_threshold) == (8, 2, 0.0)
    assert options.matrix == "bt601" and not options.model.startswith("~")
