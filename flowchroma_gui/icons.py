"""The application icon, from the PNG renders shipped in ``flowchroma_assets/icons``."""

from __future__ import annotations

import logging
from importlib import resources

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

logger = logging.getLogger(__name__)

ICON_SIZES = (16, 32, 48, 64, 128, 256)


def app_icon() -> QIcon:
    """FlowChroma Studio's icon at every shipped size; an empty icon if none is installed."""
    icon = QIcon()
    try:
        folder = resources.files("flowchroma_assets") / "icons"
    except ModuleNotFoundError:
        logger.warning("flowchroma_assets is not installed; the window has no icon")
        return icon
    for size in ICON_SIZES:
        png = folder / f"flowchroma_{size}.png"
        if png.is_file():
            icon.addFile(str(png), QSize(size, size))
    if icon.isNull():
        logger.warning("no icon files in %s; the window has no icon", folder)
    return icon
