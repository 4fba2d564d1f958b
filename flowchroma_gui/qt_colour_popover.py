"""The colour popover of a point: the a*b* plane at the pixel's L*, swatches, the palette.

The plane is drawn at the clicked pixel's lightness (the film's L* replaces the picked
one, so only what exists at that L* is offered): out-of-gamut colours are hatched, and a
click there is snapped into gamut along its hue (``guidance_model.snap_ab``). Beside it:
the model's current colour at that pixel, the recently used colours, and the project's
palette (reused across shots; "Add to palette" names the chosen colour, double-click a
palette entry to rename it). ``chosen`` carries the a*, b* picked; the controller turns it
into an undoable edit.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QBitmap,
    QBrush,
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QRegion,
)
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from flowchroma_core.guidance.project import PaletteColour
from flowchroma_gui.guidance_model import ab_plane, ab_to_rgb8, snap_ab
from flowchroma_gui.qt_viewer import qimage_from_array

logger = logging.getLogger(__name__)

PLANE = 200  # pixels
LIMIT = 110.0  # a*, b* shown from -LIMIT to LIMIT

# The planes drawn so far by L* (picture, out-of-gamut mask, its region): drawing one is
# tens of milliseconds on the GUI thread while an export runs; a film's greys reuse them.
_planes: dict[float, tuple[QImage, QImage, QRegion]] = {}
_PLANES_KEPT = 256


class AbPlane(QWidget):
    """The a*b* plane at one L*; click or drag to choose (snapped into gamut)."""

    picked = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(PLANE, PLANE)
        self.lightness = 50.0
        self.ab = (0.0, 0.0)
        self.image = QImage()
        self.mask_image = QImage()
        self._hatch: QRegion | None = None  # where the plane is out of gamut

    def set_lightness(self, lightness: float) -> None:
        """Show the plane at ``lightness`` (picks are snapped at exactly this L*; the picture
        is the plane at the nearest tenth of a unit, drawn once and kept)."""
        self.lightness = lightness
        shown = round(lightness, 1)
        if shown not in _planes:
            rgb, mask = ab_plane(shown, PLANE, LIMIT)
            # QRegion(QBitmap) covers the set (dark) pixels: dark = out of gamut
            mask_image = qimage_from_array((mask * 255).astype("uint8"))
            _planes[shown] = (qimage_from_array(rgb), mask_image, _region(mask_image))
            while len(_planes) > _PLANES_KEPT:
                _planes.pop(next(iter(_planes)))
        self.image, self.mask_image, self._hatch = _planes[shown]
        self.update()

    def set_ab(self, a: float, b: float) -> None:
        self.ab = (a, b)
        self.update()

    def ab_at(self, pos: QPointF) -> tuple[float, float]:
        a = (pos.x() / (PLANE - 1)) * 2 * LIMIT - LIMIT
        b = LIMIT - (pos.y() / (PLANE - 1)) * 2 * LIMIT
        return a, b

    def pos_of(self, a: float, b: float) -> QPointF:
        return QPointF(
            (a + LIMIT) / (2 * LIMIT) * (PLANE - 1), (LIMIT - b) / (2 * LIMIT) * (PLANE - 1)
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawImage(0, 0, self.image)
        # hatch what is out of gamut at this L*: diagonal lines clipped to the mask
        if self._hatch is not None:
            painter.setClipRegion(self._hatch)
        painter.fillRect(self.rect(), QBrush(QColor(30, 30, 30, 170), Qt.BrushStyle.BDiagPattern))
        painter.setClipping(False)
        painter.setPen(QPen(QColor(0, 0, 0, 90), 1))
        painter.drawLine(PLANE // 2, 0, PLANE // 2, PLANE)
        painter.drawLine(0, PLANE // 2, PLANE, PLANE // 2)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(self.pos_of(*self.ab), 6, 6)
        painter.setPen(QPen(QColor(0, 0, 0), 1))
        painter.drawEllipse(self.pos_of(*self.ab), 8, 8)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._pick(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._pick(event.position())

    def _pick(self, pos: QPointF) -> None:
        a, b = snap_ab(self.lightness, *self.ab_at(pos))
        self.set_ab(a, b)
        self.picked.emit(a, b)


def _region(mask: QImage) -> QRegion:
    bitmap = QBitmap.fromImage(mask.convertToFormat(QImage.Format.Format_Mono))
    return QRegion(bitmap)


class Swatch(QToolButton):
    """One colour to click."""

    def __init__(self, rgb: tuple[int, int, int], tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(QSize(22, 22))
        self.setToolTip(tip)
        self.setStyleSheet(
            f"QToolButton {{ background: rgb{rgb}; border: 1px solid #222; border-radius: 3px; }}"
        )


class ColourPopover(QFrame):
    """See the module docstring."""

    chosen = Signal(float, float)  # a*, b*: the point takes this colour
    palette_changed = Signal(list)  # the new palette (list[PaletteColour])

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.plane = AbPlane(self)
        self.plane.picked.connect(self._picked)
        self.info = QLabel(self)
        self.swatch_box = QVBoxLayout()
        self.palette: list[PaletteColour] = []
        add = QPushButton("Add to palette…", self)
        add.clicked.connect(self._add_to_palette)
        side = QVBoxLayout()
        side.addWidget(self.info)
        side.addLayout(self.swatch_box)
        side.addStretch(1)
        side.addWidget(add)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.plane)
        layout.addLayout(side)

    def open_at(
        self,
        global_pos: QPoint,
        *,
        lightness: float,
        ab: tuple[float, float],
        model_ab: tuple[float, float] | None,
        recent: list[tuple[float, float]],
        palette: list[PaletteColour],
    ) -> None:
        """Show at ``global_pos`` for a pixel of ``lightness`` whose point has ``ab``."""
        self.palette = list(palette)
        self.plane.set_lightness(lightness)
        self.plane.set_ab(*ab)
        self._fill_swatches(lightness, model_ab, recent)
        self._show_info()
        self.adjustSize()
        self.move(global_pos + QPoint(16, 16))
        self.show()

    def _fill_swatches(
        self,
        lightness: float,
        model_ab: tuple[float, float] | None,
        recent: list[tuple[float, float]],
    ) -> None:
        while self.swatch_box.count():
            item = self.swatch_box.takeAt(0)
            if item.layout() is not None:
                while item.layout().count():
                    w = item.layout().takeAt(0).widget()
                    if w is not None:
                        w.hide()
                        w.deleteLater()
            elif item.widget() is not None:
                item.widget().hide()
                item.widget().deleteLater()
        rows: list[tuple[str, list[tuple[str, float, float]]]] = []
        if model_ab is not None:
            rows.append(("Model now", [("the model's colour here", *model_ab)]))
        if recent:
            rows.append(("Recent", [("recently used", a, b) for a, b in recent]))
        rows.append(("Palette", [(c.name, c.a, c.b) for c in self.palette]))
        for title, colours in rows:
            self.swatch_box.addWidget(QLabel(title, self))
            grid = QGridLayout()
            grid.setSpacing(3)
            for i, (name, a, b) in enumerate(colours):
                sa, sb = snap_ab(lightness, a, b)
                swatch = Swatch(
                    ab_to_rgb8(lightness, sa, sb), f"{name} (a* {a:.0f}, b* {b:.0f})", self
                )
                swatch.clicked.connect(lambda _=False, a=sa, b=sb: self._picked(a, b))
                if title == "Palette":
                    swatch.setObjectName(f"palette:{i}")
                    swatch.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
                    rename = QAction("Rename…", swatch)
                    rename.triggered.connect(lambda _=False, n=name: self._rename(n))
                    swatch.addAction(rename)
                grid.addWidget(swatch, i // 8, i % 8)
            if title == "Palette" and not colours:
                grid.addWidget(QLabel("(empty)", self), 0, 0)
            self.swatch_box.addLayout(grid)

    def _show_info(self) -> None:
        a, b = self.plane.ab
        self.info.setText(f"L* {self.plane.lightness:.0f}   a* {a:.0f}   b* {b:.0f}")

    def _picked(self, a: float, b: float) -> None:
        self.plane.set_ab(a, b)
        self._show_info()
        self.chosen.emit(a, b)

    def _add_to_palette(self) -> None:
        name, ok = QInputDialog.getText(self, "Palette", "Name of this colour (e.g. dress red):")
        if ok and name.strip():
            self.add_to_palette(name.strip())

    def add_to_palette(self, name: str) -> None:
        """Name the current colour in the project palette (a palette name is unique: the
        same name renames/recolours the entry)."""
        a, b = self.plane.ab
        palette = [c for c in self.palette if c.name != name] + [PaletteColour(name, a, b)]
        self.palette = palette
        self.palette_changed.emit(palette)

    def _rename(self, old: str) -> None:
        new, ok = QInputDialog.getText(self, "Palette", f"New name for {old}:", text=old)
        if ok and new.strip() and new.strip() != old:
            self.rename_palette(old, new.strip())

    def rename_palette(self, old: str, new: str) -> None:
        self.palette = [PaletteColour(new, c.a, c.b) if c.name == old else c for c in self.palette]
        self.palette_changed.emit(self.palette)

    def sizeHint(self) -> QSize:
        return QSize(PLANE + 240, PLANE + 20)

    def plane_rect(self) -> QRect:
        return self.plane.geometry()
