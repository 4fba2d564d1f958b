"""Dialogs for notifications: worker errors and crashes, always with the log's location.

``NotificationBridge`` subscribes to the Qt-free notification manager; whatever thread a
notification comes from, its signal delivers it on the GUI thread, where the dialog is
made. Dialogs are opened without blocking the event loop.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from flowchroma_gui.notifications import Notification, NotificationManager

logger = logging.getLogger(__name__)


def notification_box(notification: Notification, parent: QWidget | None) -> QMessageBox:
    """A message box for a notification: the message, the log's location, the details."""
    icon = {
        "crash": QMessageBox.Icon.Critical,
        "error": QMessageBox.Icon.Critical,
        "warning": QMessageBox.Icon.Warning,
    }.get(notification.severity, QMessageBox.Icon.Information)
    text = notification.message
    if notification.log_file:
        text += f"\n\nThe full report is in the log file:\n{notification.log_file}"
    if notification.severity == "crash":
        text += (
            "\n\nFlowChroma Studio is still running; save your work and restart if it misbehaves."
        )
    box = QMessageBox(icon, notification.title, text, QMessageBox.StandardButton.Ok, parent)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if notification.details:
        box.setDetailedText(notification.details)
    return box


class NotificationBridge(QObject):
    """Delivers notifications on the GUI thread and shows them as dialogs."""

    notified = Signal(object)

    def __init__(self, manager: NotificationManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._parent = parent
        self.boxes: list[QMessageBox] = []
        self.notified.connect(self._show)
        self._unsubscribe = manager.subscribe(self.notified.emit)

    def close(self) -> None:
        self._unsubscribe()

    def _show(self, notification: Notification) -> None:
        if len([b for b in self.boxes if b.isVisible()]) >= 3:
            logger.warning("not showing another dialog: %s", notification.message)
            return
        box = notification_box(notification, self._parent)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda *_: self.boxes.remove(box) if box in self.boxes else None)
        self.boxes.append(box)
        box.open()
