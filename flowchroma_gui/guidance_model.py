"""The restorer's guidance as the window edits it; no Qt here (the undo stack wraps it).

``GuidanceDoc`` owns one film's ``Project`` (points, reference stills, palette, shots)
and the file it is saved to. Every edit is one method that returns what undoing it needs
(``qt_guidance_controller`` turns each into a ``QUndoCommand``); the document counts its
edits (``revision``) so the preview key changes with them and the autosave knows when to
write. Also here, as plain numpy so the GUI thread never needs torch:

* ``coverage``: per frame, where colour comes from a point (decaying with the distance to
  its keyframe as the carried hints do), from a reference still of the shot, or nowhere
  (the model guesses);
* the CIE Lab maths of the colour popover: sRGB <-> Lab, the a*b* plane at one L* with
  its out-of-gamut mask, and ``snap_ab`` (the nearest in-gamut a*b* at that L*).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import shutil
from pathlib import Path

import numpy as np

from flowchroma_core.guidance.project import (
    PaletteColour,
    Point,
    Project,
    ReferenceStill,
    Shot,
    load_project,
    new_project,
    project_path_for,
    save_project,
)

logger = logging.getLogger(__name__)

DECAY_FRAMES = 16.0  # as guidance.propagate: carried confidence exp(-d / 16)
REACH = int(4 * DECAY_FRAMES)
DEFAULT_SIZE = 0.02
MIN_SIZE, MAX_SIZE = 0.004, 0.25
REFS_DIR = "refs"


# ---------------------------------------------------------------------------------------
# The document


class GuidanceDoc:
    """One film's project: edits, shots split at the film's cuts, save and reload."""

    def __init__(self, project: Project, path: Path) -> None:
        self.project = project
        self.path = path
        self.revision = 0
        self.saved_revision = 0
        self.recent_colours: list[tuple[float, float]] = []

    @classmethod
    def open_for(cls, film: str | os.PathLike[str], *, frames: int, rate: str) -> GuidanceDoc:
        """The film's ``FILM.flowchroma.json`` if there is one, else a new empty project."""
        path = project_path_for(film)
        if path.is_file():
            project = load_project(path, film=film)
            logger.info("reopened %s", path)
        else:
            project = new_project(film, frames=frames, rate=rate)
        return cls(project, path)

    @property
    def dirty(self) -> bool:
        return self.revision != self.saved_revision

    @property
    def folder(self) -> Path:
        return self.path.parent

    def snapshot(self) -> Project:
        """A copy safe to hand to another thread: new shots and lists; the points, stills,
        colours and source are frozen, so they are shared (a deep copy of a project with a
        few hundred points held the GUI thread for tens of milliseconds during an export)."""
        p = self.project
        shots = [
            dataclasses.replace(
                s, keyframes=list(s.keyframes), points=list(s.points), references=list(s.references)
            )
            for s in p.shots
        ]
        return dataclasses.replace(p, shots=shots, palette=list(p.palette))

    def save(self, path: Path | None = None) -> Path:
        """Write the project atomically (``guidance.project.save_project``)."""
        if path is not None:
            self.path = path
        save_project(self.project, self.path)
        self.saved_revision = self.revision
        return self.path

    def _edited(self) -> None:
        self.revision += 1

    # -- shots -----------------------------------------------------------------------

    def set_cuts(self, cuts: list[int] | tuple[int, ...]) -> None:
        """Split the project's shots at the film's cuts (points and stills follow their
        frame); not an undoable edit, the cuts belong to the film."""
        frames = self.project.source.frames
        bounds = sorted({0, frames, *(c for c in cuts if 0 < c < frames)})
        if [(s.start, s.end) for s in self.project.shots] == list(itertools_pairs(bounds)):
            return
        points = [p for s in self.project.shots for p in s.points]
        refs = [r for s in self.project.shots for r in s.references]
        keys = [k for s in self.project.shots for k in s.keyframes]
        shots = [Shot(a, b) for a, b in itertools_pairs(bounds)]
        for shot in shots:
            shot.points = [p for p in points if p.frame in shot]
            shot.references = [r for r in refs if r.frame in shot]
            shot.keyframes = sorted({k for k in keys if k in shot})
        self.project.shots = shots
        self._edited()

    def shot(self, frame: int) -> Shot:
        shot = self.project.shot_of(frame)
        if shot is None:  # a project made for fewer frames: one more shot to the end
            end = max(frame + 1, self.project.source.frames)
            start = max((s.end for s in self.project.shots if s.end <= frame), default=0)
            shot = Shot(start, end)
            self.project.shots.append(shot)
            self.project.shots.sort(key=lambda s: s.start)
        return shot

    def _refresh_keyframes(self, shot: Shot) -> None:
        shot.keyframes = sorted({p.frame for p in shot.points} | {r.frame for r in shot.references})

    # -- points ----------------------------------------------------------------------

    def points(self, frame: int) -> list[Point]:
        shot = self.project.shot_of(frame)
        return [] if shot is None else [p for p in shot.points if p.frame == frame]

    def all_points(self) -> list[Point]:
        return [p for s in self.project.shots for p in s.points]

    def add_point(self, point: Point) -> Point:
        shot = self.shot(point.frame)
        shot.points.append(point)
        self._refresh_keyframes(shot)
        self._edited()
        return point

    def remove_point(self, point: Point) -> Point:
        shot = self.shot(point.frame)
        shot.points.remove(point)
        self._refresh_keyframes(shot)
        self._edited()
        return point

    def replace_point(self, old: Point, new: Point) -> Point:
        """Move, recolour or resize: ``old`` becomes ``new`` at the same place in the list."""
        shot = self.shot(old.frame)
        i = shot.points.index(old)
        shot.points[i] = new
        self._edited()
        return new

    def point_at(self, frame: int, x: float, y: float, aspect: float) -> Point | None:
        """The topmost point of ``frame`` whose patch (at least 1.5 % of the width) holds
        the fraction (x, y); ``aspect`` is width / height of the frame."""
        for p in reversed(self.points(frame)):
            half = max(p.size, 0.015) / 2
            if abs(x - p.x) <= half and abs(y - p.y) <= half * aspect:
                return p
        return None

    # -- references ------------------------------------------------------------------

    def references(self, frame: int) -> list[ReferenceStill]:
        shot = self.project.shot_of(frame)
        return [] if shot is None else list(shot.references)

    def import_reference(self, image: Path, frame: int) -> ReferenceStill:
        """Copy ``image`` beside the project (``refs/ref_NNNNNN.png`` keeps its suffix) and
        name it for ``frame``; not yet added (the undo command adds it)."""
        folder = self.folder / REFS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"ref_{frame:06d}{image.suffix.lower()}"
        n = 1
        while target.exists() and target.resolve() != image.resolve():
            target = folder / f"ref_{frame:06d}_{n}{image.suffix.lower()}"
            n += 1
        if target.resolve() != image.resolve():
            shutil.copyfile(image, target)
        return ReferenceStill(path=target.relative_to(self.folder).as_posix(), frame=frame)

    def add_reference(self, ref: ReferenceStill) -> ReferenceStill:
        shot = self.shot(ref.frame)
        shot.references = [r for r in shot.references if r.frame != ref.frame] + [ref]
        shot.references.sort(key=lambda r: r.frame)
        self._refresh_keyframes(shot)
        self._edited()
        return ref

    def remove_reference(self, ref: ReferenceStill) -> ReferenceStill:
        shot = self.shot(ref.frame)
        shot.references.remove(ref)
        self._refresh_keyframes(shot)
        self._edited()
        return ref

    def reference_file(self, ref: ReferenceStill) -> Path:
        return self.folder / ref.path

    # -- palette ---------------------------------------------------------------------

    def set_palette(self, palette: list[PaletteColour]) -> list[PaletteColour]:
        """Replace the palette (add and rename are both this); returns the old one."""
        old = list(self.project.palette)
        self.project.palette = list(palette)
        self._edited()
        return old

    def remember_colour(self, a: float, b: float) -> None:
        """Recently used colours, newest first, at most 8 (not saved: a session's)."""
        colour = (round(a, 1), round(b, 1))
        self.recent_colours = [colour, *[c for c in self.recent_colours if c != colour][:7]]

    # -- coverage --------------------------------------------------------------------

    def coverage(self) -> tuple[np.ndarray, np.ndarray]:
        """(points, references) per frame: the strength of the carried points (1 on a
        keyframe, exp(-d/16) d frames away inside its shot, 0 beyond ``REACH``) and whether
        the frame's shot has a reference still (1) or not (0)."""
        frames = self.project.source.frames
        points = np.zeros(frames, np.float32)
        refs = np.zeros(frames, np.float32)
        for shot in self.project.shots:
            end = min(shot.end, frames)
            if shot.references:
                refs[shot.start : end] = 1.0
            idx = np.arange(shot.start, end)
            for k in {p.frame for p in shot.points}:
                d = np.abs(idx - k)
                strength = np.where(d <= REACH, np.exp(-d / DECAY_FRAMES), 0.0)
                points[shot.start : end] = np.maximum(points[shot.start : end], strength)
        return points, refs


def itertools_pairs(values: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(values))


def with_point(point: Point, **changes: float | str) -> Point:
    return dataclasses.replace(point, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Lab maths for the popover (D65, sRGB), numpy only

_M_RGB_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_M_XYZ_RGB = np.linalg.inv(_M_RGB_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPS = 216 / 24389
_KAPPA = 24389 / 27


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] to (..., 3) L*, a*, b*."""
    rgb = np.asarray(rgb, np.float64)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _M_RGB_XYZ.T / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) Lab to (..., 3) sRGB, not clipped (outside [0, 1] = out of gamut)."""
    lab = np.asarray(lab, np.float64)
    fy = (lab[..., 0] + 16) / 116
    fx = fy + lab[..., 1] / 500
    fz = fy - lab[..., 2] / 200
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA) * _WHITE
    lin = xyz @ _M_XYZ_RGB.T
    mag = np.abs(lin)
    return np.sign(lin) * np.where(mag <= 0.0031308, 12.92 * mag, 1.055 * mag ** (1 / 2.4) - 0.055)


def lightness_of_grey(code: int) -> float:
    """L* of an 8-bit grey pixel of the source."""
    return float(srgb_to_lab(np.array([code, code, code]) / 255.0)[0])


def in_gamut(rgb: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    return np.all((rgb >= -tol) & (rgb <= 1 + tol), axis=-1)


def ab_plane(
    lightness: float, size: int = 128, limit: float = 110.0
) -> tuple[np.ndarray, np.ndarray]:
    """The a*b* plane at ``lightness``: (size, size, 3) uint8 sRGB (a* to the right, b*
    up) and the (size, size) in-gamut mask; out-of-gamut pixels are left mid grey."""
    axis = np.linspace(-limit, limit, size)
    a, b = np.meshgrid(axis, axis[::-1])
    lab = np.stack([np.full_like(a, lightness), a, b], axis=-1)
    rgb = lab_to_srgb(lab)
    mask = in_gamut(rgb)
    rgb = np.where(mask[..., None], np.clip(rgb, 0, 1), 0.5)
    return np.rint(rgb * 255).astype(np.uint8), mask


def snap_ab(lightness: float, a: float, b: float) -> tuple[float, float]:
    """The in-gamut a*b* at ``lightness`` nearest (a, b) along its hue (chroma reduced by
    bisection); the film's L* replaces the picked one, so the choice must exist there."""

    def ok(scale: float) -> bool:
        return bool(in_gamut(lab_to_srgb(np.array([lightness, a * scale, b * scale]))))

    if ok(1.0):
        return a, b
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return a * lo, b * lo


def ab_to_rgb8(lightness: float, a: float, b: float) -> tuple[int, int, int]:
    rgb = np.clip(lab_to_srgb(np.array([lightness, a, b])), 0, 1)
    r, g, bl = (round(v * 255) for v in rgb)
    return r, g, bl


def ab_of_rgb8(rgb: tuple[int, int, int]) -> tuple[float, float]:
    lab = srgb_to_lab(np.array(rgb, np.float64) / 255.0)
    return float(lab[1]), float(lab[2])


def chroma(a: float, b: float) -> float:
    return math.hypot(a, b)
