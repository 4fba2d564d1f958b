"""The main window. The timeline, viewer and export come with the desktop-application issue."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow

from flowchroma_core import __version__

logger = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """FlowChroma Studio's window; for now it only says what it is."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(f"FlowChroma Studio {__version__}")
        label = QLabel(
            "FlowChroma Studio\n\nOpen a film to begin (viewer coming in the next release)."
        )
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCentralWidget(label)
        self.resize(1280, 720)
