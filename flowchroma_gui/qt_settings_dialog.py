"""The settings dialog: processing settings and export defaults, saved as the CLI's TOML.

Every change is checked with the core's ``Settings.problems()``; while there is a problem
its reason is shown and OK is refused. On OK the settings are written with the core's
``save_settings`` (the same file the ``flowchroma`` command reads).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from flowchroma_gui.qt_settings_form import ProcessingForm

if TYPE_CHECKING:
    from flowchroma_core.settings import Settings
    from flowchroma_gui.jobs import CoreReady

logger = logging.getLogger(__name__)

ERROR_STYLE = "color: #ff6b60;"


def codec_combo(core: CoreReady, parent: QWidget) -> QComboBox:
    combo = QComboBox(parent)
    for codec in core.codecs:
        combo.addItem(f"{codec.name} — {codec.description}", codec.name)
    return combo


class SettingsDialog(QDialog):
    """Edit, validate and save the settings; ``saved`` holds what was written."""

    def __init__(self, core: CoreReady, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setModal(True)
        self.core = core
        self.base = settings
        self.saved: Settings | None = None

        self.form = ProcessingForm(core, self)
        processing = QGroupBox("Processing (preview and export)", self)
        QVBoxLayout(processing).addWidget(self.form)

        self.export_folder = QLineEdit(self)
        self.export_folder.setPlaceholderText("beside the film")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.export_folder, 1)
        folder_row.addWidget(browse)
        self.export_codec = codec_combo(core, self)
        export = QGroupBox("Export defaults", self)
        export_form = QFormLayout(export)
        export_form.addRow("Folder", folder_row)
        export_form.addRow("Codec", self.export_codec)
        self.hardware_video = QCheckBox(
            "Use the GPU's video engines (NVDEC, NVENC for H.264)", self
        )
        self.hardware_video.setToolTip(
            "Decode and encode on NVIDIA's video engines where they work on this machine, in "
            "software otherwise; FFV1, ProRes and DNxHR are always encoded in software."
        )
        export_form.addRow("", self.hardware_video)

        self.problems_label = QLabel(self)
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet(ERROR_STYLE)
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        where = QLabel(
            f"Saved in {core.settings_file}, shared with the <tt>flowchroma</tt> command.", self
        )
        where.setWordWrap(True)
        where.setStyleSheet("color: palette(mid);")

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults,
            self,
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self._restore_defaults
        )

        layout = QVBoxLayout(self)
        layout.addWidget(processing)
        layout.addWidget(export)
        layout.addWidget(self.problems_label)
        layout.addWidget(where)
        layout.addWidget(self.buttons)

        self.form.changed.connect(self.validate)
        self.export_folder.textChanged.connect(self.validate)
        self.export_codec.currentIndexChanged.connect(self.validate)
        self.hardware_video.toggled.connect(self.validate)
        self.set_settings(settings)
        self.resize(560, self.sizeHint().height())

    def set_settings(self, settings: Settings) -> None:
        self.form.set_settings(settings)
        self.export_folder.setText(settings.export_folder)
        i = self.export_codec.findData(settings.export_codec)
        self.export_codec.setCurrentIndex(max(0, i))
        self.hardware_video.setChecked(settings.export_hardware_video)
        self.validate()

    def candidate(self) -> Settings:
        """The settings as the dialog shows them."""
        return self.form.settings(self.base).replace(
            export_folder=self.export_folder.text().strip(),
            export_codec=self.export_codec.currentData() or self.base.export_codec,
            export_hardware_video=self.hardware_video.isChecked(),
        )

    def problems(self) -> list[str]:
        return self.candidate().problems()

    def validate(self) -> bool:
        """Show the core's reasons for refusing the values; OK only when there are none."""
        problems = self.problems()
        self.problems_label.setText("\n".join(problems))
        self.problems_label.setVisible(bool(problems))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems)
        return not problems

    def accept(self) -> None:
        if not self.validate():
            return  # refused: the reasons are on screen
        from flowchroma_core.errors import FlowChromaError
        from flowchroma_core.settings import save_settings

        settings = self.candidate()
        try:
            path = save_settings(settings)
        except (FlowChromaError, OSError) as e:
            logger.exception("cannot save the settings")
            self.problems_label.setText(f"Cannot save the settings: {e}")
            self.problems_label.setVisible(True)
            return
        logger.info("settings saved to %s", path)
        self.saved = settings
        super().accept()

    def _restore_defaults(self) -> None:
        self.set_settings(type(self.base)())

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Default export folder", self.export_folder.text()
        )
        if folder:
            self.export_folder.setText(folder)
