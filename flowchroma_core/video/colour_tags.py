"""FFmpeg's colour tags: the AVColor* numbers and names, read from sources and written to outputs.

One table per tag (matrix, primaries, transfer) maps FFmpeg's number to its name
(``av_color_*_name``); the reader turns a decoded frame's numbers into names for
``VideoInfo``, and the writer turns the source's names (plus a few common aliases) back
into numbers and chooses what to tag an output with when the source does not say.
"""

from __future__ import annotations

import logging

import av

from flowchroma_core.colour.ycbcr import ColorRange, Matrix

logger = logging.getLogger(__name__)

# FFmpeg's names for AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic.
SPACE_NAMES = {
    0: "gbr", 1: "bt709", 2: "unknown", 4: "fcc", 5: "bt470bg", 6: "smpte170m",
    7: "smpte240m", 8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 11: "smpte2085",
    12: "chroma-derived-nc", 13: "chroma-derived-c", 14: "ictcp", 15: "ipt-c2",
}  # fmt: skip
PRIMARIES_NAMES = {
    1: "bt709", 2: "unknown", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
    8: "film", 9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213",
}  # fmt: skip
TRC_NAMES = {
    1: "bt709", 2: "unknown", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m",
    8: "linear", 9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e",
    13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428",
    18: "arib-std-b67",
}  # fmt: skip

UNSPECIFIED = 2
# Names a source may carry besides FFmpeg's own, and the numbers they stand for.
_SPACE_ALIASES = {"rgb": 0, "unspecified": 2, "bt601": 6, "bt2020": 9}
_PRIMARIES_ALIASES = {"unspecified": 2, "jedec-p22": 22}
_TRC_ALIASES = {"unspecified": 2, "bt470m": 4, "bt470bg": 5, "srgb": 13}
_SPACES = {name: n for n, name in SPACE_NAMES.items()} | _SPACE_ALIASES
_PRIMARIES = {name: n for n, name in PRIMARIES_NAMES.items()} | _PRIMARIES_ALIASES
_TRANSFERS = {name: n for n, name in TRC_NAMES.items()} | _TRC_ALIASES

RANGE_TAG: dict[ColorRange, int] = {"tv": 1, "pc": 2}  # AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG
_MATRIX_COLORSPACE = {"bt709": 1, "bt601": 6, "bt2020": 9}
_BT601_COLORSPACES = {5, 6}


def color_name(table: dict[int, str], *values: int) -> str:
    """The first specified value's FFmpeg name ("unknown" for unspecified or reserved)."""
    for value in values:
        name = table.get(int(value))
        if name and name != "unknown":
            return name
    return "unknown"


def frame_color_space(frame: av.VideoFrame, *fallbacks: int) -> str:
    """The frame's matrix name; an RGB picture that does not say is "gbr"."""
    name = color_name(SPACE_NAMES, frame.colorspace, *fallbacks)
    return "gbr" if name == "unknown" and frame.format.is_rgb else name


def output_tags(
    *,
    name: str,
    matrix: Matrix,
    rgb: bool,
    color_range: ColorRange,
    width: int,
    height: int,
    color_space: str,
    color_primaries: str,
    color_trc: str,
) -> tuple[int, int, int, int]:
    """(range, matrix, primaries, transfer) numbers for an output: the source's, or defaults.

    ``color_space`` / ``color_primaries`` / ``color_trc`` are the source's names; the
    matrix tag follows the matrix the chroma was made with (``rgb`` outputs are "gbr").
    Defaults that had to be guessed are logged, naming the output ``name``.
    """
    primaries = _PRIMARIES.get(str(color_primaries).lower(), UNSPECIFIED)
    transfer = _TRANSFERS.get(str(color_trc).lower(), UNSPECIFIED)
    source_space = _SPACES.get(str(color_space).lower(), UNSPECIFIED)
    if rgb:
        colorspace = 0
    elif matrix == "bt601" and source_space in _BT601_COLORSPACES:
        colorspace = source_space
    else:
        colorspace = _MATRIX_COLORSPACE[matrix]
    if (
        source_space not in (UNSPECIFIED, 0)
        and colorspace not in (0, source_space)
        and not (matrix == "bt601" and source_space in _BT601_COLORSPACES)
    ):
        logger.warning(
            "%s: the source is tagged %s but the chroma was made with the %s matrix; "
            "tagging the output %s",
            name,
            color_space,
            matrix,
            matrix,
        )
    if primaries == UNSPECIFIED or transfer == UNSPECIFIED:
        default_p, default_t = _default_colour(matrix, width, height)
        guessed = []
        if primaries == UNSPECIFIED:
            primaries = default_p
            guessed.append("primaries")
        if transfer == UNSPECIFIED:
            transfer = default_t
            guessed.append("transfer")
        logger.info(
            "%s: the source does not say its colour %s; tagging %s (%dx%d, %s matrix)",
            name,
            " or ".join(guessed),
            PRIMARIES_NAMES.get(primaries, primaries),
            width,
            height,
            matrix,
        )
    return RANGE_TAG[color_range], colorspace, primaries, transfer


def _default_colour(matrix: Matrix, width: int, height: int) -> tuple[int, int]:
    """(primaries, transfer) to assume: BT.709 for HD, BT.601 625/525 for SD, BT.2020."""
    if matrix == "bt2020":
        return _PRIMARIES["bt2020"], _TRANSFERS["bt2020-10"]
    if matrix == "bt601" or (height < 720 and width < 1280):
        primaries = "bt470bg" if height > 500 else "smpte170m"
        return _PRIMARIES[primaries], _TRANSFERS["smpte170m"]
    return _PRIMARIES["bt709"], _TRANSFERS["bt709"]
