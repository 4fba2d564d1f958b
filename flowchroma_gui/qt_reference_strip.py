"""The strip under the viewer: the current shot's reference stills, as thumbnails.

Each still shows its frame number; a click selects it (the eyedropper picks from the
selected still), a double-click jumps to its frame, the context menu removes it. The
images are read here with Qt (``QImage``), on the GUI thread: stills are small files.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QMenu, QWidget

logger = logging.getLogger(__name__)

THUMB = QSize(96, 60)


class ReferenceStrip(QListWidget):
    """See the module docstring."""

    jump_requested = Signal(int)
    remove_requested = Signal(int)  # the frame of the still

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(THUMB)
        self.setFixedHeight(THUMB.height() + 34)
        self.setMovement(QListWidget.Movement.Static)
        self.setToolTip("Reference stills of this shot (drop an image on the viewer to add one)")
        self.images: dict[int, QImage] = {}
        self.itemDoubleClicked.connect(
            lambda item: self.jump_requested.emit(item.data(Qt.ItemDataRole.UserRole))
        )
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

    def set_references(self, stills: list[tuple[int, Path]]) -> None:
        """Show ``(frame, file)`` stills; keeps the selection when the same frame is there."""
        selected = self.selected_frame()
        self.setVisible(bool(stills))  # no room taken from the viewer without stills
        self.clear()
        self.images = {}
        for frame, path in stills:
            image = QImage(str(path))
            if image.isNull():
                logger.warning("%s: cannot be shown", path)
                continue
            self.images[frame] = image
            pixmap = QPixmap.fromImage(image.scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio))
            item = QListWidgetItem(QIcon(pixmap), f"frame {frame}")
            item.setData(Qt.ItemDataRole.UserRole, frame)
            item.setToolTip(str(path))
            self.addItem(item)
            if frame == selected or selected is None:
                self.setCurrentItem(item)
                selected = frame

    def selected_frame(self) -> int | None:
        item = self.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def selected_image(self) -> QImage | None:
        frame = self.selected_frame()
        return None if frame is None else self.images.get(frame)

    def _menu(self, pos: object) -> None:
        item = self.itemAt(pos)  # type: ignore[arg-type]
        if item is None:
            return
        menu = QMenu(self)
        frame = int(item.data(Qt.ItemDataRole.UserRole))
        menu.addAction(
            f"Remove the still of frame {frame}", lambda: self.remove_requested.emit(frame)
        )
        menu.exec(self.mapToGlobal(pos))  # type: ignore[arg-type]
