"""Render assets/flowchroma.svg into the PNG icons shipped in assets/icons/.

Run it after editing the SVG: ``python packaging/make_icons.py``. The PNGs are committed,
so neither installing nor building the bundle needs QtSvg at run time.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (16, 32, 48, 64, 128, 256)

logger = logging.getLogger("make_icons")


def render(svg: Path, out_dir: Path, sizes: Sequence[int] = SIZES) -> list[Path]:
    """Write ``flowchroma_<N>.png`` for each size; returns the files written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: Qt cannot read this SVG")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        path = out_dir / f"flowchroma_{size}.png"
        if not image.save(str(path), "PNG"):
            raise OSError(f"{path}: could not write the PNG")
        written.append(path)
        logger.info("wrote %s", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=ROOT / "assets" / "flowchroma.svg")
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "icons")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    render(args.svg, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
