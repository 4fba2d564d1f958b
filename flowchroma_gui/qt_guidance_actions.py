"""The guidance editor's actions, menus and toolbar (made once, on the controller).

File: Save project (Ctrl+S), Load reference, Export frame, Open recent project; Edit (a
new menu): Undo (Ctrl+Z), Redo (Ctrl+Shift+Z), Points (P), Delete point, Similarity
overlay (Shift+S); a Guidance toolbar with the Points tool, the patch size, the
similarity overlay and the vividness slider. The slots are the controller's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QMenu, QSlider, QToolBar

from flowchroma_gui.qt_actions import make_action

if TYPE_CHECKING:
    from flowchroma_gui.qt_guidance_controller import GuidanceController

logger = logging.getLogger(__name__)


def build_guidance_actions(c: GuidanceController) -> None:
    """Make the actions and widgets as attributes of ``c`` and put them in the window."""
    w = c.window

    def act(*args: object, **kwargs: object) -> QAction:
        return make_action(w, *args, **kwargs)  # type: ignore[arg-type]

    c.undo_action = c.undo_stack.createUndoAction(w, "&Undo")
    c.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
    c.redo_action = c.undo_stack.createRedoAction(w, "&Redo")
    c.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    for action in (c.undo_action, c.redo_action):
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        w.addAction(action)
    c.save_action = act("&Save project", c.save, "Ctrl+S", "Save the colour guidance")
    c.load_reference_action = act(
        "Load &reference…", c.load_reference_dialog, None, "A colour still for this shot"
    )
    c.export_frame_action = act(
        "Export &frame…", c.export_frame_dialog, None, "The source frame as PNG, to colour"
    )
    c.points_action = act(
        "&Points",
        c.set_points_mode,
        "P",
        "Place colour points on the viewer",
        checkable=True,
    )
    c.delete_action = act("Delete point", c.delete_selected, QKeySequence.StandardKey.Delete)
    c.similarity_action = act(
        "&Similarity overlay",
        c.set_similarity,
        "Shift+S",
        "Where the reference still was matched (clear) and ignored (red)",
        checkable=True,
    )
    bar = w.menuBar()
    file_menu = bar.actions()[0].menu()
    assert isinstance(file_menu, QMenu)
    first = file_menu.actions()[3] if len(file_menu.actions()) > 3 else None
    recent_menu = QMenu("Open recent pro&ject", file_menu)
    file_menu.insertMenu(first, recent_menu)
    c.recent.attach(recent_menu)
    for action in (c.save_action, c.load_reference_action, c.export_frame_action):
        file_menu.insertAction(first, action)
    file_menu.insertSeparator(first)
    edit_menu = QMenu("&Edit", bar)
    bar.insertMenu(bar.actions()[1], edit_menu)
    for action in (c.undo_action, c.redo_action):
        edit_menu.addAction(action)
    edit_menu.addSeparator()
    edit_menu.addAction(c.points_action)
    edit_menu.addAction(c.delete_action)
    edit_menu.addAction(c.similarity_action)
    c.toolbar = QToolBar("Guidance", w)
    c.toolbar.setObjectName("guidance_toolbar")
    c.toolbar.addAction(c.points_action)
    c.size_box = QDoubleSpinBox(c.toolbar)
    c.size_box.setRange(0.4, 25.0)
    c.size_box.setSingleStep(0.2)
    c.size_box.setSuffix(" % patch")
    c.size_box.setValue(c.editor.default_size * 100)
    c.size_box.setToolTip("The selected point's patch side, % of the frame width (wheel over it)")
    c.size_box.valueChanged.connect(c._size_typed)
    c.toolbar.addWidget(c.size_box)
    c.toolbar.addAction(c.similarity_action)
    c.toolbar.addSeparator()
    c.toolbar.addWidget(QLabel(" Vividness ", c.toolbar))
    c.vividness = QSlider(Qt.Orientation.Horizontal, c.toolbar)
    c.vividness.setRange(0, 100)
    c.vividness.setFixedWidth(120)
    c.vividness.setToolTip(
        "Vividness, 0 muted .. 1 vivid, previewed live (untouched: the model's default)"
    )
    c.vividness.valueChanged.connect(lambda _: c._vividness_timer.start())
    c._vividness_timer = QTimer(c)
    c._vividness_timer.setSingleShot(True)
    c._vividness_timer.setInterval(200)
    c._vividness_timer.timeout.connect(c._apply_vividness)
    c.toolbar.addWidget(c.vividness)
    w.addToolBar(c.toolbar)
