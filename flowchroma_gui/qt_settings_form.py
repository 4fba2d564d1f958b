"""The processing settings as a form, shared by the settings and export dialogs.

The fields allow values the core refuses (a clip of 300 frames, an overlap as long as
the clip, a model file that is not there): the dialogs then show the core's own reason
from ``Settings.problems()`` instead of silently clamping what the user typed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from flowchroma_core.model.names import DEVICE_NAMES, PRECISIONS
from flowchroma_core.pipeline.options import PAD_MODES

if TYPE_CHECKING:
    from flowchroma_core.settings import Settings
    from flowchroma_gui.jobs import CoreReady

logger = logging.getLogger(__name__)

DEVICE_LABELS = {"auto": "Auto (GPU if there is one)", "cuda": "CUDA GPU", "cpu": "CPU"}
PRECISION_LABELS = {
    "fp32": "fp32 (exact)",
    "fp16": "fp16 (CUDA only)",
    "bf16": "bf16 (CUDA only)",
}
PADDING_LABELS = {"white": "White", "black": "Black", "edge": "Edge (repeat border)"}


def _combo(values: tuple[str, ...], labels: dict[str, str], parent: QWidget) -> QComboBox:
    combo = QComboBox(parent)
    for value in values:
        combo.addItem(labels.get(value, value), value)
    return combo


def _select(combo: QComboBox, value: str) -> None:
    i = combo.findData(value)
    if i < 0:  # a value the list does not know (e.g. cuda:1): keep it, selectable
        combo.addItem(value, value)
        i = combo.count() - 1
    combo.setCurrentIndex(i)


class ProcessingForm(QWidget):
    """Clip length, overlap, padding, device, precision, model and cut threshold."""

    changed = Signal()

    def __init__(self, core: CoreReady, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clip_length = QSpinBox(self)
        self.clip_length.setRange(0, 4096)
        self.clip_length.setSuffix(" frames")
        self.clip_length.setToolTip("Frames the model sees together (the LSTM carries on across)")
        self.overlap = QSpinBox(self)
        self.overlap.setRange(0, 4096)
        self.overlap.setSuffix(" frames")
        self.overlap.setToolTip("Frames shared and cross-faded by neighbouring clips")
        self.padding = _combo(PAD_MODES, PADDING_LABELS, self)
        self.padding.setToolTip("How the picture is padded to the model's aspect ratio")
        self.device = _combo(DEVICE_NAMES, DEVICE_LABELS, self)
        self.precision = _combo(PRECISIONS, PRECISION_LABELS, self)
        self.model = QLineEdit(self)
        self.model.setPlaceholderText("the shipped default model")
        self.model.setToolTip("A .safetensors model file; empty for the shipped default")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse_model)
        model_row = QHBoxLayout()
        model_row.setContentsMargins(0, 0, 0, 0)
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse)
        self.cut_threshold = QDoubleSpinBox(self)
        self.cut_threshold.setRange(0.0, 1.0)
        self.cut_threshold.setSingleStep(0.05)
        self.cut_threshold.setDecimals(2)
        self.cut_threshold.setToolTip("Shot-cut sensitivity: lower finds more cuts; 0 disables")

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Clip length", self.clip_length)
        form.addRow("Overlap", self.overlap)
        form.addRow("Padding", self.padding)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        form.addRow("Model file", model_row)
        form.addRow("Shot-cut threshold", self.cut_threshold)

        for spin in (self.clip_length, self.overlap):
            spin.valueChanged.connect(self.changed)
        self.cut_threshold.valueChanged.connect(self.changed)
        for combo in (self.padding, self.device, self.precision):
            combo.currentIndexChanged.connect(self.changed)
        self.model.textChanged.connect(self.changed)

    def set_settings(self, settings: Settings) -> None:
        widgets = (
            self.clip_length, self.overlap, self.cut_threshold, self.padding, self.device,
            self.precision, self.model,
        )  # fmt: skip
        for w in widgets:
            w.blockSignals(True)
        self.clip_length.setValue(settings.window_frames)
        self.overlap.setValue(settings.overlap)
        self.cut_threshold.setValue(settings.cut_threshold)
        _select(self.padding, settings.padding)
        _select(self.device, settings.device)
        _select(self.precision, settings.precision)
        self.model.setText(settings.model)
        for w in widgets:
            w.blockSignals(False)
        self.changed.emit()

    def settings(self, base: Settings) -> Settings:
        """``base`` with the form's values."""
        return base.replace(
            window_frames=self.clip_length.value(),
            overlap=self.overlap.value(),
            padding=self.padding.currentData(),
            device=self.device.currentData(),
            precision=self.precision.currentData(),
            model=self.model.text().strip(),
            cut_threshold=round(self.cut_threshold.value(), 4),
        )

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model file", self.model.text(), "FlowChroma models (*.safetensors)"
        )
        if path:
            self.model.setText(path)
