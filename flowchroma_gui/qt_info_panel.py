"""The film's metadata, as ``flowchroma info`` prints it, plus what the scan found."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from flowchroma_core.video.reader import VideoInfo

logger = logging.getLogger(__name__)


class InfoPanel(QWidget):
    """Read-only text: ``VideoInfo.summary()``, the path, and the shot cuts found so far."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setPlaceholderText("Open a film to see its metadata.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.text)
        self._summary = ""
        self._shots = ""

    def set_info(self, info: VideoInfo | None) -> None:
        if info is None:
            self._summary = ""
        else:
            self._summary = f"{info.summary()}\n\n{info.path}"
        self._shots = ""
        self._render()

    def set_shots(self, cuts: tuple[int, ...], *, finished: bool, threshold: float) -> None:
        if threshold <= 0:
            self._shots = "Shot-cut detection is off (threshold 0)."
        else:
            shown = ", ".join(str(c) for c in cuts[:40]) + (" …" if len(cuts) > 40 else "")
            state = "" if finished else " (scan in progress)"
            self._shots = f"Shot cuts{state}: {len(cuts)}" + (f" at {shown}" if cuts else "")
        self._render()

    def _render(self) -> None:
        parts = [p for p in (self._summary, self._shots) if p]
        self.text.setPlainText("\n\n".join(parts))
