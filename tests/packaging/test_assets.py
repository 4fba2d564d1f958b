"""The shipped desktop assets: icons at every size, the app icon, the .desktop entry."""

from __future__ import annotations

import configparser
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from flowchroma_gui import icons
from flowchroma_gui.icons import ICON_SIZES, app_icon

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("size", ICON_SIZES)
def test_icon_png_is_installed_at_its_size(size: int) -> None:
    png = resources.files("flowchroma_assets") / "icons" / f"flowchroma_{size}.png"
    image = QImage(str(png))
    assert (image.width(), image.height()) == (size, size)
    assert image.hasAlphaChannel()


def test_package_data_ships_the_icons() -> None:
    """A non-editable install carries only what package-data names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "icons/*.png" in config["tool"]["setuptools"]["package-data"]["flowchroma_assets"]


def test_every_package_is_installed() -> None:
    """A non-editable install (a wheel, ``pip install .``) carries only the packages
    pyproject lists: one left out installs a program that fails on import."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("flowchroma_core", "flowchroma_gui")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk - listed == set()
    assert listed - on_disk == {"flowchroma_assets"}


def test_app_icon_has_every_size(qapp) -> None:
    sizes = sorted(s.width() for s in app_icon().availableSizes())
    assert sizes == sorted(ICON_SIZES)


def test_app_icon_is_empty_without_assets(qapp, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(package: str):
        raise ModuleNotFoundError(package)

    monkeypatch.setattr(icons.resources, "files", missing)
    assert app_icon().isNull()


def test_desktop_entry() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(ROOT / "assets" / "flowchroma-studio.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "FlowChroma Studio"
    assert entry["Exec"] == "flowchroma-gui %f"
    assert entry["Icon"] == "flowchroma"
    assert entry["Terminal"] == "false"
    assert entry["Categories"] == "AudioVideo;Video;AudioVideoEditing;"
    mime = entry["MimeType"].rstrip(";").split(";")
    assert "video/mp4" in mime
    assert all(m.startswith(("video/", "application/mxf")) for m in mime)
