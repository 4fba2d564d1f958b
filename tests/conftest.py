"""Shared fixtures: real data location, isolation from the developer's own settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never read or write the developer's real config, cache or logs; never reach a hub."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The backbone cache is shared across the session so the EfficientNet key map runs once.
    cache = tmp_path_factory.getbasetemp() / "backbone-cache"
    monkeypatch.setenv("FLOWCHROMA_CACHE_DIR", str(cache))
    yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a clean skip where this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny FlowChroma model file, so that colorizing takes a moment on a CPU."""
    import torch

    from flowchroma_core.model.files import save_model
    from flowchroma_core.model.network import TINY_CONFIG, FlowChroma

    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    with pytest.MonkeyPatch.context() as mp:
        # the same backbone cache and offline hub as the autouse isolation in conftest
        mp.setenv("FLOWCHROMA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "backbone-cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        torch.manual_seed(0)
        save_model(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"), path)
    return path


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
