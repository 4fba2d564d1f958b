"""Contact sheets: rows of labelled pictures ([grey | ours | original]) laid out as one
image, to judge colorization by eye. No model here; ``run`` supplies the pictures."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from flowchroma_core.fileio import atomic_path

logger = logging.getLogger(__name__)

SHEET_MAX_WIDTH = 2000
"""Contact sheets are downscaled to at most this many pixels across."""
_TILE_MAX_WIDTH = 640  # tiles are kept no larger than this while a video is read
_SHEET_BACKGROUND = (32, 32, 32)
_FONT = cv2.FONT_HERSHEY_SIMPLEX

@dataclass(frozen=True)
class SheetRow:
    """One row of a contact sheet: labelled tiles of one frame, left to right."""

    caption: str
    tiles: tuple[tuple[str, np.ndarray], ...]



def sample_indices(count: int, per_video: int) -> list[int]:
    """``per_video`` frames spread evenly over ``count`` (the middles of equal parts)."""
    k = max(0, min(per_video, count))
    return sorted({(2 * i + 1) * count // (2 * k) for i in range(k)})


def _shrink(frame: np.ndarray, max_width: int) -> np.ndarray:
    h, w = frame.shape[:2]
    if w <= max_width:
        return frame
    size = (max_width, max(1, round(h * max_width / w)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _label(tile: np.ndarray, text: str, *, line: int = 0) -> None:
    """White text on a dark box in the tile's top-left corner (drawn in place)."""
    scale, thickness = 0.4, 1
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    top = 2 + line * (th + base + 4)
    cv2.rectangle(tile, (2, top), (6 + tw, top + th + base + 2), (0, 0, 0), thickness=-1)
    cv2.putText(
        tile, text, (4, top + th + 1), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA
    )


def render_contact_sheet(
    rows: Sequence[SheetRow], *, max_width: int = SHEET_MAX_WIDTH
) -> np.ndarray:
    """The rows as one RGB picture: tiles of equal size (letterboxed), labelled.

    Its height is ``len(rows)`` times the tile height, its width at most ``max_width``.
    """
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    columns = max(len(r.tiles) for r in rows)
    first = rows[0].tiles[0][1]
    tile_w = min(max(t.shape[1] for r in rows for _, t in r.tiles), max_width // columns)
    tile_h = max(1, round(tile_w * first.shape[0] / first.shape[1]))
    sheet = np.empty((tile_h * len(rows), tile_w * columns, 3), np.uint8)
    sheet[:] = _SHEET_BACKGROUND
    for r, row in enumerate(rows):
        for c, (name, picture) in enumerate(row.tiles):
            h, w = picture.shape[:2]
            scale = min(tile_w / w, tile_h / h)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            fitted = cv2.resize(
                picture, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            )
            tile = sheet[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w]
            y0, x0 = (tile_h - size[1]) // 2, (tile_w - size[0]) // 2
            tile[y0 : y0 + size[1], x0 : x0 + size[0]] = fitted
            _label(tile, name)
            if c == 0:
                _label(tile, row.caption, line=1)
    return sheet


def write_contact_sheet(
    rows: Sequence[SheetRow], path: Path, *, max_width: int = SHEET_MAX_WIDTH
) -> Path:
    """Render the rows and write them as an image (PNG by the extension), atomically."""
    path = Path(path)
    sheet = render_contact_sheet(rows, max_width=max_width)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: the contact sheet could not be written")
    logger.info("contact sheet %s: %d rows, %dx%d", path, len(rows), sheet.shape[1], sheet.shape[0])
    return path


def sheet_row(
    caption: str, pictures: dict[str, np.ndarray], original: np.ndarray | None
) -> SheetRow:
    """[grey | ours | original]: ours is the model, else the per-frame model, else left out."""
    tiles = [("grey", pictures["grey"])]
    ours = next((m for m in ("model", "per-frame") if m in pictures), None)
    if ours is not None:
        tiles.append(("ours" if ours == "model" else ours, pictures[ours]))
    if original is not None:
        tiles.append(("original", original))
    return SheetRow(caption, tuple((name, _shrink(p, _TILE_MAX_WIDTH)) for name, p in tiles))
