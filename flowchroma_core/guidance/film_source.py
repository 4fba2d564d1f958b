"""A film's side of guidance: its grey frames for the flow, its cuts, one frame as a still.

* ``FilmGreys`` reads a film's grey frames at the model's input size (letterboxed as the
  hint maps are placed) for ``Guidance``'s flow, with its own reader, so the colorizer's
  stream is never rewound; recently read frames are kept (a window asks again for the
  frames around it).
* ``scan_cuts`` runs the colorizer's own ``CutDetector`` over a range before the run, so
  the guidance knows every shot boundary ahead (a still serves its whole shot, and points
  are not carried across a cut the colorizer will find later); same detector, same frames,
  same cuts.
* ``guidance_for_film`` builds a film's ``Guidance`` from a project file, CLI stills and/or
  an in-memory project, with those two.
* ``export_frame`` writes one source frame as an 8-bit sRGB PNG (``flowchroma frame``), to
  be coloured outside and given back as a reference.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from flowchroma_core.colour.lab import rgb_to_lab
from flowchroma_core.colour.ycbcr import rgb_to_codes
from flowchroma_core.errors import FlowChromaError
from flowchroma_core.guidance.film import REACH, Guidance, specs_from_cli
from flowchroma_core.guidance.project import Point, Project, Shot, Source, load_project
from flowchroma_core.guidance.references import ReferenceSpec, check_frames, load_reference
from flowchroma_core.pipeline.framing import letterbox
from flowchroma_core.pipeline.shots import CutDetector
from flowchroma_core.video.reader import VideoReader, open_video

logger = logging.getLogger(__name__)

KEEP_FRAMES = 4 * REACH + 64
"""Grey frames kept by ``FilmGreys`` (a window needs those within REACH either side)."""


class FilmGreys:
    """``(a, b) -> grey frames a..b-1`` of a film at the model input size, uint8."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        model_size: tuple[int, int],
        *,
        frame_rate: Fraction | None = None,
        keep: int = KEEP_FRAMES,
    ) -> None:
        self.path = Path(path)
        self.model_size = model_size
        self.frame_rate = frame_rate
        self.keep = keep
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._reader: VideoReader | None = None
        self.decoded = 0  # frames decoded so far (for tests and benchmarks)

    def _grey(self, gray: np.ndarray) -> np.ndarray:
        h, w = self.model_size
        fitted, _ = letterbox(torch.from_numpy(np.ascontiguousarray(gray))[None], h, w)
        return np.clip(np.rint(fitted[0].numpy() * 255.0), 0, 255).astype(np.uint8)

    def __call__(self, a: int, b: int) -> list[np.ndarray]:
        missing = [i for i in range(a, b) if i not in self._cache]
        if missing:
            if self._reader is None:
                self._reader = open_video(self.path, frame_rate=self.frame_rate)
            got = {f.index: f for f in self._reader.frames(missing[0], missing[-1] + 1)}
            for i in missing:
                if i not in got:
                    raise FlowChromaError(f"{self.path}: frame {i} cannot be decoded")
                self._cache[i] = self._grey(got[i].gray())
                self.decoded += 1
        out = []
        for i in range(a, b):
            self._cache.move_to_end(i)
            out.append(self._cache[i])
        while len(self._cache) > max(self.keep, b - a):
            self._cache.popitem(last=False)
        return out

    def close(self) -> None:
        """Release the film (the cache stays)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def scan_cuts(
    path: str | os.PathLike[str],
    *,
    threshold: float,
    start: int = 0,
    stop: int | None = None,
    frame_rate: Fraction | None = None,
) -> list[int]:
    """Frames of ``[start, stop)`` that start a shot, found as the colorizer finds them
    (a run starting at ``start``); none when ``threshold`` is 0 (cut detection off)."""
    if threshold <= 0:
        return []
    detector = CutDetector(threshold=threshold)
    with open_video(path, frame_rate=frame_rate) as reader:
        for frame in reader.frames(start, stop):
            detector.push(frame.gray(), frame.index)
    logger.info("%s: %d cut(s) found before colorizing", Path(path).name, len(detector.cuts))
    return list(detector.cuts)


def check_guidance_inputs(
    film: str | os.PathLike[str],
    frames: int,
    reference_args: Sequence[str] = (),
    references_dir: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] | None = None,
) -> list[ReferenceSpec]:
    """``--reference``/``--references`` as specs, everything checked before a model loads:
    unreadable or grey stills, frames outside the film, malformed or newer project files
    raise with one line; a project made for another file only warns."""
    specs = specs_from_cli(reference_args, references_dir)
    checked = list(specs)
    if project is not None:
        loaded = load_project(project, film=film)
        base = Path(project).parent
        checked += [
            ReferenceSpec(r.frame, base / r.path) for shot in loaded.shots for r in shot.references
        ]
    check_frames(checked, frames)
    for spec in checked:
        load_reference(spec)
    return specs


def guidance_for_film(
    path: str | os.PathLike[str],
    *,
    model_size: tuple[int, int],
    cut_threshold: float,
    start: int = 0,
    stop: int | None = None,
    project: str | os.PathLike[str] | Project | None = None,
    references: Iterable[ReferenceSpec] = (),
    frame_rate: Fraction | None = None,
    grey_frames: FilmGreys | None = None,
    still_hints: float = 0.0,
) -> Guidance:
    """A film's ``Guidance`` for a run over ``[start, stop)``: its cuts scanned first (from
    ``start``, which begins a shot, to the end of the film: a still beyond ``stop`` may still
    serve a shot inside the range), its grey frames read on demand (by ``grey_frames``, or
    a ``FilmGreys`` of its own).

    ``still_hints`` > 0 also reads each CLI still of the film's own aspect as a grid of
    points on its frame, ``still_hints`` apart (a fraction of the width), carried through
    the shot as the restorer's points are (off by default; see ``still_points``)."""
    path = Path(path)
    with open_video(path, frame_rate=frame_rate) as reader:
        info = reader.info
    frames = info.frame_count
    cuts = scan_cuts(path, threshold=cut_threshold, start=start, frame_rate=frame_rate)
    if start > 0:
        cuts.append(start)
    loaded: Project | None
    project_dir: Path | None = None
    if isinstance(project, Project) or project is None:
        loaded = project
    else:
        loaded = load_project(project, film=path)
        project_dir = Path(project).parent
    references = list(references)
    if still_hints > 0:
        grid = [
            p
            for spec in references
            for p in still_points(
                load_reference(spec).rgb, spec.frame, (info.height, info.width), still_hints
            )
        ]
        if grid:
            source = Source(path.name, "", frames, "1")
            base = loaded or Project(source=source)
            loaded = Project(base.source, [*base.shots, Shot(0, frames, points=grid)], base.palette)
    return Guidance(
        frames=frames,
        frame_size=(info.height, info.width),
        model_size=model_size,
        cuts=cuts,
        project=loaded,
        project_dir=project_dir,
        references=references,
        grey_frames=grey_frames or FilmGreys(path, model_size, frame_rate=frame_rate),
    )


def still_points(
    rgb: torch.Tensor, frame: int, frame_size: tuple[int, int], spacing: float
) -> list[Point]:
    """A colour still of frame ``frame`` as a grid of points ``spacing`` apart (a fraction
    of the width), each the mean a*b* of a patch of side spacing/3 around its centre; none
    when the still's aspect differs from the frame's by more than 1 % (it would not line
    up with the frame)."""
    h, w = rgb.shape[-2:]
    if abs((w / h) / (frame_size[1] / frame_size[0]) - 1) > 0.01:
        logger.warning("still for frame %d: another aspect than the film; no grid hints", frame)
        return []
    ab = rgb_to_lab(rgb.float())[1:]
    side = max(1, round(spacing * w / 3))
    pooled = torch.nn.functional.avg_pool2d(ab[None], side, stride=1)[0]  # top-left corners
    step = spacing * w
    points = []
    for cy in np.arange(step / 2, h, step):
        for cx in np.arange(step / 2, w, step):
            y0 = int(min(max(round(cy - side / 2), 0), h - side))
            x0 = int(min(max(round(cx - side / 2), 0), w - side))
            a, b = (float(v) for v in pooled[:, y0, x0])
            points.append(Point(frame, float(cx / w), float(cy / h), a, b, side / w, "still"))
    return points


def export_frame(
    path: str | os.PathLike[str],
    index: int,
    destination: str | os.PathLike[str],
    *,
    frame_rate: Fraction | None = None,
) -> Path:
    """Write frame ``index`` (0-based) of a film as an 8-bit sRGB PNG of its luma (the grey
    picture the colorizer sees), for colouring outside; returns the file written."""
    destination = Path(destination)
    if destination.suffix.lower() != ".png":
        raise FlowChromaError(f"{destination}: the still is written as PNG; name it .png")
    if not destination.parent.is_dir():
        raise FlowChromaError(f"{destination.parent}: no such folder")
    with open_video(path, frame_rate=frame_rate) as reader:
        count = len(reader)
        if not 0 <= index < count:
            raise FlowChromaError(
                f"{Path(path).name}: frame {index} is outside the film (frames 0 to {count - 1})"
            )
        gray = reader[index].gray()
    codes = rgb_to_codes(np.repeat(gray[..., None], 3, axis=-1), 8)
    ok, data = cv2.imencode(".png", np.ascontiguousarray(codes[..., ::-1]))
    if not ok:
        raise FlowChromaError(f"{destination}: the PNG could not be encoded")
    destination.write_bytes(data.tobytes())
    logger.info("frame %d of %s written to %s", index, Path(path).name, destination)
    return destination
