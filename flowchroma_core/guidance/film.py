"""``Guidance``: what the colorizer asks, window by window, for one film's colour guidance.

Built from a project file and/or stills named on the command line, it answers for a
window of frames ``[start, stop)`` inside one shot the network's two keyword arguments:

* ``hints`` (T, 3, h, w): the restorer's points on their own frame (confidence 1), spread
  over their regions of that frame (``guidance.spread``: geodesic nearest point, confidence
  fading with the distance), and carried by DIS flow to the frames around it (confidence
  times exp(-d/16) d frames away), at the model's input size (letterboxed as L is); zeros
  where there is no hint;
* ``references`` (R, 3, h, w): the shot's reference stills as normalised Lab fitted like
  the frames, or None; ``matched`` says which of them are not carried onto the window
  (other content than their frame, or too far from it), which the colorizer matches to
  each frame on the backbone's features and hands the network as hints too
  (``pipeline.matching``).

Nothing crosses a cut: a window is answered from the points and stills whose frames lie in
its own shot, and hints are carried only between frames of that shot. The shot is given by
the caller (the colorizer's walk knows it) or looked up in the cut list / project shots.
Hints are carried at most ``REACH`` frames from their keyframe (confidence there is
exp(-4) ~ 0.02); where two keyframes reach one pixel, the nearer wins. A still of its own
frame is carried back at most ``STILL_REACH`` frames and forward through the rest of its
shot, window after window (``propagate.ColourChain``: each frame carried once, and pulled
straight from the still once more); where it is not carried it is matched, as a still of
other content is.

The grey frames for the flow come from the caller (``GreyFrames``: frames [a, b) at the
model input size, as uint8 or floats in [0, 1]); flow steps are cached while successive
windows need them.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from flowchroma_core.guidance.points import (
    HINT_AB_SCALE,
    Patch,
    ab_to_hint_map,
    patch_from_fractions,
    rasterise,
)
from flowchroma_core.guidance.project import Point, Project, load_project
from flowchroma_core.guidance.propagate import (
    DECAY_FRAMES,
    ColourChain,
    FlowField,
    Step,
    carry_colour,
    confidence_at,
    merge_nearest,
    to_gray8,
)
from flowchroma_core.guidance.references import (
    REFERENCE_AB_SCALE,
    ReferenceError,
    ReferenceSpec,
    check_frames,
    fit_reference,
    load_reference,
    parse_reference_arg,
    scan_reference_dir,
)
from flowchroma_core.guidance.spread import spread_hints
from flowchroma_core.pipeline.framing import Placement, plan_placement

logger = logging.getLogger(__name__)

REACH = int(4 * DECAY_FRAMES)
"""Hints are carried at most this many frames from their keyframe."""

STILL_REACH = 2 * REACH
"""A still of its own frame is carried back at most this many frames before it (its colour
everywhere, with a confidence that the network weighs; see ``propagate.carry_colour``);
forward it is carried through the rest of its shot."""

CHUNK = 64
"""Grey frames asked for at a time when a still's forward carry starts again from afar."""

CHAIN_MARK_EVERY = 64
"""A still's carried state is kept every this many frames of its shot (1.3 MB each at
256x320), so a window asked for out of the walk (a preview, a resumed export) starts
again from the nearest kept frame before it, not from the still."""

SAME_FRAME_CORRELATION = 0.9
"""A still whose lightness correlates at least this well with its frame's grey is taken
to be that frame coloured (made from ``flowchroma frame``) and carried densely; any other
still is a reference only, matched to each frame by features (``pipeline.matching``)."""

GreyFrames = Callable[[int, int], Sequence[np.ndarray]]
"""(a, b) -> the grey frames a..b-1 at the model input size (uint8, or floats in [0, 1])."""


@dataclass(frozen=True)
class GuidanceWindow:
    """The guidance for frames [start, stop) of the shot [shot_start, shot_end)."""

    start: int
    stop: int
    shot_start: int
    shot_end: int
    hints: Tensor  # (T, 3, h, w); zeros = no guidance
    references: Tensor | None  # (R, 3, h, w)
    reference_frames: tuple[int, ...]
    motion: tuple[Step | None, ...] = ()  # per frame: the flow step from the frame before
    matched: tuple[int, ...] = ()  # references not carried onto the window: matched instead

    def motion_of(self, frame: int) -> Step | None:
        """The checked flow step pulling ``frame - 1`` onto ``frame`` (picture pixels), where
        the guidance carried colour along it; None elsewhere (``pipeline.steady``)."""
        i = frame - self.start
        return self.motion[i] if 0 <= i < len(self.motion) else None

    @property
    def has_hints(self) -> bool:
        """Whether any frame of the window has a hint."""
        return bool((self.hints[:, 2] > 0).any())

    def model_kwargs(self) -> dict[str, Tensor | None]:
        """``hints`` (1, T, 3, h, w) and ``references`` (1, R, 3, h, w) or None, batch of one."""
        refs = None if self.references is None else self.references.unsqueeze(0)
        return {"hints": self.hints.unsqueeze(0), "references": refs}


class Guidance:
    """One film's colour guidance: points and reference stills, by shot."""

    def __init__(
        self,
        *,
        frames: int,
        frame_size: tuple[int, int],
        model_size: tuple[int, int],
        cuts: Iterable[int] = (),
        project: Project | None = None,
        project_dir: Path | None = None,
        references: Iterable[ReferenceSpec] = (),
        grey_frames: GreyFrames | None = None,
    ) -> None:
        """``frame_size``/``model_size`` are (height, width) of the film and the model input;
        ``cuts`` the frames that start a shot; CLI ``references`` are read (and a bad one
        refused) now, before any work is done."""
        self.frames = frames
        self.model_size = model_size
        self.placement: Placement = plan_placement(*frame_size, *model_size)
        self.project = project
        self._grey = grey_frames
        self._flow = FlowField()
        self._steps: dict[tuple[int, int], Step] = {}
        bounds = set(cuts)
        self._points: list[Point] = []
        specs = list(references)
        if project is not None:
            if project.source.frames != frames:
                logger.warning(
                    "the project was made for %d frames, this film has %d: points and stills "
                    "are used by frame number",
                    project.source.frames,
                    frames,
                )
            base = project_dir or Path(".")
            for shot in project.shots:
                bounds.update((shot.start, shot.end))
                self._points.extend(shot.points)
                specs.extend(ReferenceSpec(r.frame, base / r.path) for r in shot.references)
        self._points = [p for p in self._points if p.frame < frames]
        check_frames(specs, frames)
        self._cuts = sorted(b for b in bounds if 0 < b < frames)
        self._refs: list[tuple[int, Tensor]] = []
        self._same_frame: dict[int, bool] = {}
        self._spread_points: dict[int, Tensor] = {}  # keyframe -> its points spread
        self._chains: dict[int, tuple[int, ColourChain]] = {}  # still -> (last frame, chain)
        self._chain_marks: dict[int, dict[int, ColourChain]] = {}  # still -> {frame: chain}
        for spec in sorted(specs, key=lambda s: s.frame):
            fitted, _ = fit_reference(load_reference(spec).rgb, *model_size)
            self._refs.append((spec.frame, fitted))
        logger.info(
            "guidance: %d point(s) on %d keyframe(s), %d reference still(s), %d shot(s)",
            len(self._points),
            len(self.keyframes),
            len(self._refs),
            len(self._cuts) + 1,
        )

    @classmethod
    def from_files(
        cls,
        *,
        film: str | os.PathLike[str],
        frames: int,
        frame_size: tuple[int, int],
        model_size: tuple[int, int],
        project: str | os.PathLike[str] | None = None,
        references: Iterable[ReferenceSpec] = (),
        cuts: Iterable[int] = (),
        grey_frames: GreyFrames | None = None,
    ) -> Guidance:
        """From a project file (checked against ``film``'s hash: a warning if it differs)
        and CLI stills."""
        loaded = None if project is None else load_project(project, film=film)
        return cls(
            frames=frames,
            frame_size=frame_size,
            model_size=model_size,
            cuts=cuts,
            project=loaded,
            project_dir=None if project is None else Path(project).parent,
            references=references,
            grey_frames=grey_frames,
        )

    # -- queries ---------------------------------------------------------------------

    @property
    def keyframes(self) -> list[int]:
        """Frames that carry the restorer's points."""
        return sorted({p.frame for p in self._points})

    @property
    def revision(self) -> str:
        """A short hash of everything that changes the colours (points, stills, shots): part
        of a preview's cache key, so that edited guidance is never answered from the cache."""
        digest = hashlib.sha256(repr((self._cuts, self._points, self.model_size)).encode())
        for frame, still in self._refs:
            digest.update(str(frame).encode())
            digest.update(still.numpy().tobytes())
        return digest.hexdigest()[:16]

    @property
    def cuts(self) -> list[int]:
        """Frames that start a shot (from the cut list and the project's shots)."""
        return list(self._cuts)

    def shot_of(self, frame: int) -> tuple[int, int]:
        """[start, end) of the shot containing ``frame``."""
        if not 0 <= frame < self.frames:
            raise ValueError(f"frame {frame} is outside the film (0 to {self.frames - 1})")
        i = bisect.bisect_right(self._cuts, frame)
        start = self._cuts[i - 1] if i else 0
        end = self._cuts[i] if i < len(self._cuts) else self.frames
        return start, end

    def patches(self, frame: int) -> list[Patch]:
        """The restorer's points on ``frame``, placed in the model input."""
        return [
            patch_from_fractions(p.x, p.y, p.size, p.a, p.b, self.placement)
            for p in self._points
            if p.frame == frame
        ]

    def references_for(self, shot: tuple[int, int]) -> list[tuple[int, Tensor]]:
        """(frame, fitted Lab still) of the stills whose frame lies in ``shot``."""
        return [(f, t) for f, t in self._refs if shot[0] <= f < shot[1]]

    def window(
        self,
        start: int,
        stop: int,
        *,
        shot: tuple[int, int] | None = None,
        reach: int | None = None,
    ) -> GuidanceWindow:
        """``hints`` and ``references`` for frames [start, stop) of one shot.

        ``reach`` (None: no limit) bounds how many frames a still's colour may be carried
        to answer this window beyond what is already carried: a still further behind the
        window than that (and no state kept near it) is matched by features only, not
        carried (``NearbyGuidance``, for a frame asked for alone)."""
        if not 0 <= start < stop <= self.frames:
            raise ValueError(
                f"window [{start}, {stop}) is not inside the film's {self.frames} frames"
            )
        shot = shot or self.shot_of(start)
        if not shot[0] <= start < stop <= shot[1]:
            raise ValueError(f"window [{start}, {stop}) crosses the shot [{shot[0]}, {shot[1]})")
        h, w = self.model_size
        hints = torch.zeros(stop - start, 3, h, w)
        near = [
            k
            for k in self.keyframes
            if shot[0] <= k < shot[1] and start - REACH <= k < stop + REACH
        ]
        refs = self.references_for(shot)
        stills = [(f, r) for f, r in refs if f < stop + STILL_REACH]
        motion: tuple[Step | None, ...] = ()
        carried: set[int] = set()
        if near or stills:
            hints, carried = self._carried(near, start, stop, stills, reach)
            # the checked steps the colour was carried along, for steadying the output
            motion = tuple(
                self._steps.get((f - 1, f)) if f > shot[0] else None for f in range(start, stop)
            )
        self._forget_steps(start)
        # matched by features: stills of other content, and stills of their own frame whose
        # colour was not carried onto this window (too far before the still, or a frame
        # asked for alone too far after it)
        matched = tuple(i for i, (f, _) in enumerate(refs) if f not in carried)
        return GuidanceWindow(
            start=start,
            stop=stop,
            shot_start=shot[0],
            shot_end=shot[1],
            hints=hints,
            references=torch.stack([t for _, t in refs]) if refs else None,
            reference_frames=tuple(f for f, _ in refs),
            motion=motion,
            matched=matched,
        )

    # -- internals -------------------------------------------------------------------

    def _carried(
        self,
        keyframes: Sequence[int],
        start: int,
        stop: int,
        stills: Sequence[tuple[int, Tensor]] = (),
        reach: int | None = None,
    ) -> tuple[Tensor, set[int]]:
        """Each keyframe's points, and each still of its own frame, carried onto
        [start, stop), merged (the most confident wins: the points on their keyframe); and
        the frames of the stills that were carried there."""
        h, w = self.model_size
        carried_stills: set[int] = set()
        if not keyframes and self._grey is None:
            return torch.zeros(stop - start, 3, h, w), carried_stills
        if self._grey is None:
            # without frames nothing can be carried: each keyframe keeps its own points
            maps = torch.zeros(stop - start, 3, h, w)
            for k in keyframes:
                if start <= k < stop:
                    maps[k - start] = rasterise(self.patches(k), h, w)
            if any(not start <= k < stop for k in keyframes):
                logger.warning("no grey frames given: points are not carried beyond their frame")
            return maps, carried_stills
        marks = [*keyframes, *(f for f, _ in stills if f >= start)]
        lo = min([start, *marks])
        hi = max([stop, *(k + 1 for k in marks)])
        greys = self._grey(lo, hi) if marks else []  # only points and stills here need them
        if marks and len(greys) != hi - lo:
            raise ValueError(f"grey_frames({lo}, {hi}) gave {len(greys)} frames, not {hi - lo}")
        per_key = []
        for k in keyframes:
            # the points spread over their regions of the keyframe, then carried with
            # their confidence, which also fades with the distance to the keyframe
            if k not in self._spread_points:  # the same for every window: made once
                points = rasterise(self.patches(k), h, w)
                self._spread_points[k] = self._spread(points, greys[k - lo])
            hint = self._spread_points[k]
            ab = (hint[:2] * HINT_AB_SCALE).permute(1, 2, 0).numpy()
            carried = self._carry_inside(greys, k - lo, ab, hint[2].numpy(), lo)[
                start - lo : stop - lo
            ]
            carried[..., 2] *= confidence_at(np.arange(start, stop) - k)[:, None, None]
            per_key.append(carried)
        for f, still in stills:
            same = self._same_frame.get(f)  # known after the first window: no grey to read
            if same is None:
                grey = greys[f - lo] if f >= start else self._grey(f, f + 1)[0]
                same = self._is_same_frame(f, still, grey)
            if not same:
                continue
            # back from the still to the window's frames before it (and the still's own
            # frame), then forward by its resumable chain: each frame carried once
            carried = np.zeros((stop - start, h, w, 3), dtype=np.float32)
            if f >= start:
                ab = (still[1:] * REFERENCE_AB_SCALE).permute(1, 2, 0).numpy()
                back = self._carry_inside(greys, f - lo, ab, None, lo, directions=(-1,))
                carried += back[start - lo : stop - lo]
            forward = self._carry_forward(f, still, start, stop, reach) if f + 1 < stop else None
            if forward is not None:
                carried += forward
            if f >= start or forward is not None:
                carried_stills.add(f)
            per_key.append(carried)
        if not per_key:
            return torch.zeros(stop - start, 3, h, w), carried_stills
        merged = merge_nearest(per_key)
        return torch.stack([ab_to_hint_map(m) for m in merged]), carried_stills

    @property
    def _picture(self) -> tuple[slice, slice]:
        """Rows and columns of the film's picture inside the model input (the letterbox's
        bars left out)."""
        p = self.placement
        return slice(p.top, p.top + p.inner_h), slice(p.left, p.left + p.inner_w)

    def _inside(self, greys: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The picture of each grey frame (uint8, contiguous for the flow), bars cut off."""
        rows, cols = self._picture
        return [np.ascontiguousarray(to_gray8(g)[rows, cols]) for g in greys]

    def _carry_inside(
        self,
        greys: Sequence[np.ndarray],
        key: int,
        ab: np.ndarray,
        presence: np.ndarray | None,
        first: int,
        directions: Sequence[int] = (1, -1),
    ) -> np.ndarray:
        """``carry_colour`` inside the letterbox: the flow sees only the picture, so the
        bars' white and their empty colour are never pulled in at the picture's edges (on a
        film that pans or tilts that greyed the carried colour from the edges inwards: DAVIS
        dog, a 1.7 dB loss of the flow carry alone). (T, h, w, 3), zeros in the bars."""
        rows, cols = self._picture
        inner = self._inside(greys)
        mask = None if presence is None else np.ascontiguousarray(presence[rows, cols])
        carried = carry_colour(
            inner,
            key,
            np.ascontiguousarray(ab[rows, cols]),
            mask,
            flow=self._flow,
            steps=self._steps,
            first=first,
            directions=directions,
        )
        out = np.zeros((len(greys), *self.model_size, 3), dtype=np.float32)
        out[:, rows, cols] = carried
        return out

    def _carry_forward(
        self, frame: int, still: Tensor, start: int, stop: int, reach: int | None = None
    ) -> np.ndarray | None:
        """The still of ``frame`` carried forward onto the frames of [start, stop) after it:
        (T, h, w, 3), zero on the others, or None when that means carrying it more than
        ``reach`` frames first.

        Its ``ColourChain`` resumes where the last window left it when that window ended
        before ``start`` (the colorizer's walk: each frame carried once, in constant memory,
        however long the shot); otherwise from the nearest state kept before ``start``
        (``CHAIN_MARK_EVERY``), or from the still, ``CHUNK`` grey frames at a time. Flow is
        cached only near the window, where the points' carry and the next window share it;
        further back only the one field that moves the colour is computed (the check
        matters only for the confidence of the frames handed out)."""
        rows, cols = self._picture
        marks = self._chain_marks.setdefault(frame, {})
        cached = self._chains.get(frame)
        kept = max((m for m in marks if m < start), default=None)
        if (
            cached is not None
            and frame <= cached[0] < start
            and (kept is None or kept <= cached[0])
        ):
            t, chain = cached
        elif kept is not None:
            t, chain = kept, marks[kept].copy()
        else:
            t, chain = frame, None
        if reach is not None and start - t > reach:
            return None
        if chain is None:
            ab = (still[1:] * REFERENCE_AB_SCALE).permute(1, 2, 0).numpy()[rows, cols]
            grey = to_gray8(self._grey(frame, frame + 1)[0])[rows, cols]
            chain = ColourChain(ab, np.ones(ab.shape[:2], np.float32), grey, flow=self._flow)
        out = np.zeros((stop - start, *self.model_size, 3), dtype=np.float32)
        while t < stop - 1:
            end = min(stop, t + 1 + CHUNK)
            inner = self._inside(self._grey(t, end))
            for i in range(1, len(inner)):
                u = t + i
                step = self._steps.get((u - 1, u))
                if step is None:
                    near = u >= start - REACH
                    step = self._flow.step(inner[i - 1], inner[i], check=near)
                    if near:
                        self._steps[(u - 1, u)] = step
                carried = chain.advance(step, inner[i])
                if u >= start:
                    out[u - start, rows, cols] = carried
                if (u - frame) % CHAIN_MARK_EVERY == 0 and u not in marks:
                    marks[u] = chain.copy()
            t = end - 1
        self._chains[frame] = (stop - 1, chain)
        return out

    def _spread(self, hint: Tensor, grey: np.ndarray) -> Tensor:
        """A keyframe's points spread over the picture (``guidance.spread``), inside the
        letterbox: colour never travels through the padding."""
        rows, cols = self._picture
        inside = torch.from_numpy(to_gray8(grey)[rows, cols].astype(np.float32) / 255.0)
        out = hint.clone()
        out[:, rows, cols] = spread_hints(hint[:, rows, cols].contiguous(), inside)
        return out

    def _is_same_frame(self, frame: int, still: Tensor, grey: np.ndarray) -> bool:
        """Whether the still is its frame coloured (see ``SAME_FRAME_CORRELATION``)."""
        if frame not in self._same_frame:
            g = np.asarray(grey, dtype=np.float32).ravel()
            lightness = still[0].numpy().astype(np.float32).ravel()
            same = bool(
                g.std() > 1e-6
                and lightness.std() > 1e-6
                and np.corrcoef(g, lightness)[0, 1] >= SAME_FRAME_CORRELATION
            )
            logger.info(
                "still for frame %d: %s",
                frame,
                "that frame coloured, its colours carried through the shot"
                if same
                else "other content than its frame, used as a reference only",
            )
            self._same_frame[frame] = same
        return self._same_frame[frame]

    def _forget_steps(self, start: int) -> None:
        """Drop cached flow that no later window (windows move forward) can need: the
        points' carry starts at most ``REACH`` frames back, a still's forward carry resumes
        from its ``ColourChain`` and its backward carry starts at the still, after ``start``."""
        stale = [key for key in self._steps if max(key) < start - REACH]
        for key in stale:
            del self._steps[key]


class NearbyGuidance:
    """A ``Guidance`` as a frame asked for alone sees it (the preview's approximate frame):
    the same answers, except that a still's colour is carried at most ``STILL_REACH`` frames
    to reach the frame; from further behind (no state kept near) the still is matched to the
    frame by features (``pipeline.matching``), so the frame does not wait for hundreds of
    frames of flow. The exact run that follows carries it all the way."""

    def __init__(self, guidance: Guidance) -> None:
        self.guidance = guidance

    def __getattr__(self, name: str) -> object:
        return getattr(self.guidance, name)

    def window(
        self, start: int, stop: int, *, shot: tuple[int, int] | None = None
    ) -> GuidanceWindow:
        """``Guidance.window`` with ``reach=STILL_REACH``."""
        return self.guidance.window(start, stop, shot=shot, reach=STILL_REACH)


def specs_from_cli(
    reference_args: Sequence[str] = (), references_dir: str | os.PathLike[str] | None = None
) -> list[ReferenceSpec]:
    """``--reference FRAME:IMAGE`` (repeatable) and ``--references DIR`` as specs; two stills
    for one frame are refused."""
    specs = [parse_reference_arg(a) for a in reference_args]
    if references_dir is not None:
        specs.extend(scan_reference_dir(references_dir))
    seen: dict[int, Path] = {}
    for spec in specs:
        if spec.frame in seen and seen[spec.frame] != spec.path:
            raise ReferenceError(
                f"{spec.path}: frame {spec.frame} already has a reference ({seen[spec.frame]})"
            )
        seen[spec.frame] = spec.path
    return specs
