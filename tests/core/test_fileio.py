"""The user's folders (one helper, one override rule) and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
import pytest

from flowchroma_core.fileio import atomic_path, user_dir
from flowchroma_core.logs import setup_logging
from flowchroma_core.model.backbones import default_cache_dir
from flowchroma_core.settings import settings_path

KINDS = {
    "config": platformdirs.user_config_dir,
    "cache": platformdirs.user_cache_dir,
    "log": platformdirs.user_log_dir,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_user_dir_default_and_override(kind: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(f"FLOWCHROMA_{kind.upper()}_DIR", raising=False)
    assert user_dir(kind) == Path(KINDS[kind]("flowchroma", appauthor=False))  # type: ignore[arg-type]
    monkeypatch.setenv(f"FLOWCHROMA_{kind.upper()}_DIR", str(tmp_path / kind))
    assert user_dir(kind) == tmp_path / kind  # type: ignore[arg-type]


def test_every_folder_user_goes_through_user_dir(tmp_path: Path, monkeypatch) -> None:
    """Settings, the backbone cache and the log file each follow their own override."""
    for kind in KINDS:
        monkeypatch.setenv(f"FLOWCHROMA_{kind.upper()}_DIR", str(tmp_path / kind))
    assert settings_path() == tmp_path / "config" / "settings.toml"
    assert default_cache_dir() == tmp_path / "cache" / "backbones"
    import logging

    root = logging.getLogger()
    before = list(root.handlers)
    try:
        assert setup_logging() == tmp_path / "log" / "flowchroma.log"
    finally:
        for handler in root.handlers[len(before) :]:
            root.removeHandler(handler)
            handler.close()


def test_unknown_folder_lists_allowed() -> None:
    with pytest.raises(ValueError, match="config, cache, log"):
        user_dir("data")  # type: ignore[arg-type]


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("cut off")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


def test_atomic_path_gives_the_umask_mode_and_keeps_a_replaced_files(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "new.png") as tmp:
            tmp.write_bytes(b"png")
        assert (tmp_path / "new.png").stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600
        kept = tmp_path / "kept.json"
        kept.write_text("{}")
        kept.chmod(0o664)
        with atomic_path(kept) as tmp:
            tmp.write_text("{ }")
        assert kept.stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)
