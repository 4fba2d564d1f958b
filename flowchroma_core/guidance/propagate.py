"""Carrying colour through a shot with optical flow: hint maps, and the flow baseline.

Flow is OpenCV's DIS (``PRESET_MEDIUM``, refined down to the frame's own resolution:
``FINEST_SCALE``) on 8-bit grey, computed both ways between
neighbouring frames. To carry values from frame s to frame t (t = s ± 1), each pixel of t
samples frame s at ``x + flow(t -> s)`` (bilinear), and is kept only if the round trip
closes, ``|flow(t -> s)(x) + flow(s -> t)(x + flow(t -> s))| <= max_error`` pixels (1 by
default), and its source lies inside the frame. Errors accumulate along a chain of steps,
so a carried hint's confidence decays as ``exp(-|t - k| / DECAY_FRAMES)`` with the
distance from its keyframe k; the restorer's own point on the keyframe has confidence 1.

A reference still of its own frame is carried as a whole (``carry_colour``,
``ColourChain``): frame to frame, and anchored to its keyframe by one more checked field
from the keyframe straight to each frame, which restarts the chain wherever it matches
better than the chain's drifted colour.

Two users:

* ``carry_hints`` spreads a keyframe's hint map (a_h, b_h, presence) forward and backward
  through the frames of one shot: this is how the restorer's points reach the frames the
  network sees;
* ``FlowCarry`` warps a whole a*b* frame step by step (no check: every pixel keeps the
  colour it is warped from), the "DIS flow carrying the first frame's colours" baseline
  every guided model must beat; ``reset`` starts it again at a cut.

Nothing here knows about cuts: callers hand it the frames of one shot.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)

DECAY_FRAMES = 16.0
"""A carried hint's confidence falls by 1/e every this many frames from its keyframe."""

FINEST_SCALE = 0
"""DIS's finest pyramid level (0: the frames' own resolution; the medium preset stops at 1,
half of it). Colour is carried at the model's input size (320x180 for a 16:9 film), where
half resolution loses small and thin moving things: on DAVIS the flow carry alone scores
28.84 dB at 0 against 28.39 at 1 (a moving 10 px square: 0.02 px error against 0.26), for
3.2x the time of a field (27 ms against 8 ms at 320x180 on the development CPU)."""

MAX_ROUND_TRIP_PX = 1.0
"""Forward-backward check: a pixel whose flow round trip misses by more is dropped."""

KEEP_PRESENCE = 0.5
"""A carried hint pixel survives when at least this fraction of its bilinear source did."""


def confidence_at(distance: int | float | np.ndarray) -> np.ndarray:
    """Confidence of a hint carried ``distance`` frames from its keyframe (1 at 0)."""
    return np.exp(-np.abs(np.asarray(distance, dtype=np.float32)) / DECAY_FRAMES)


def to_gray8(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W) grey for the flow: uint8 grey or RGB, or floats in [0, 1]."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if image.ndim != 2:
        raise ValueError(f"expected a (H, W) or (H, W, 3) image, got {image.shape}")
    return image


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


@dataclass(frozen=True)
class Step:
    """How to pull values from a source frame into a target frame.

    ``map_x``/``map_y`` are where each target pixel samples the source (for ``cv2.remap``);
    ``valid`` is True where the round trip closes and the source is inside the frame.
    """

    map_x: np.ndarray
    map_y: np.ndarray
    valid: np.ndarray

    def pull(self, values: np.ndarray) -> np.ndarray:
        """Source-frame values (H, W) or (H, W, C) float32, resampled onto the target."""
        return cv2.remap(
            np.ascontiguousarray(values, dtype=np.float32),
            self.map_x,
            self.map_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        ).reshape(values.shape)


class FlowField:
    """DIS flow (medium preset, refined to ``finest_scale``) between 8-bit grey frames; one
    OpenCV object reused."""

    def __init__(
        self, *, max_error: float = MAX_ROUND_TRIP_PX, finest_scale: int = FINEST_SCALE
    ) -> None:
        self.max_error = max_error
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._dis.setFinestScale(finest_scale)

    def flow(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """(H, W, 2) float32 displacement from ``source`` to ``target`` (both uint8 grey)."""
        if source.shape != target.shape:
            raise ValueError(f"frames differ in size: {source.shape} and {target.shape}")
        return self._dis.calc(source, target, None)

    def step(self, source: np.ndarray, target: np.ndarray, *, check: bool = True) -> Step:
        """The ``Step`` pulling ``source`` values onto ``target`` (uint8 grey frames).

        Without ``check`` only one flow is computed and every pixel is valid.
        """
        source = np.ascontiguousarray(to_gray8(source))  # DIS needs contiguous frames
        target = np.ascontiguousarray(to_gray8(target))
        back = self.flow(target, source)  # where each target pixel came from
        h, w = target.shape
        xs, ys = _grid(h, w)
        map_x = xs + back[..., 0]
        map_y = ys + back[..., 1]
        if not check:
            return Step(map_x, map_y, np.ones((h, w), dtype=bool))
        forward = self.flow(source, target)
        there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        loop = back + there
        closes = np.einsum("...k,...k->...", loop, loop) <= self.max_error**2
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        return Step(map_x, map_y, closes & inside)


# ---------------------------------------------------------------------------------------
# Hint maps


def carry_step(ab: np.ndarray, presence: np.ndarray, step: Step) -> tuple[np.ndarray, np.ndarray]:
    """Carry one hint map (ab (H, W, 2), presence (H, W) in {0, 1}) across one ``step``.

    ab is warped premultiplied by presence, so the zeros outside the patches never bleed
    into the carried colour; a pixel keeps a hint when at least ``KEEP_PRESENCE`` of its
    source was a hint and the flow check passed.
    """
    both = np.concatenate([ab * presence[..., None], presence[..., None]], axis=-1)
    pulled = step.pull(both)
    weight = pulled[..., 2] * step.valid
    keep = weight >= KEEP_PRESENCE
    new_presence = keep.astype(np.float32)
    new_ab = np.where(keep[..., None], pulled[..., :2] / np.maximum(weight, 1e-6)[..., None], 0.0)
    return new_ab.astype(np.float32), new_presence


def carry_hints(
    grays: Sequence[np.ndarray],
    keyframe: int,
    ab: np.ndarray,
    presence: np.ndarray,
    *,
    flow: FlowField | None = None,
    steps: dict[tuple[int, int], Step] | None = None,
    first: int = 0,
) -> np.ndarray:
    """Spread the hint map of frame ``keyframe`` through all ``grays`` (one shot).

    ``grays``: the shot's frames as grey (uint8, or floats in [0, 1]), all the size of the
    hint map. ``ab``: (H, W, 2) hint a*, b* (any scale: carried unchanged); ``presence``:
    (H, W), 1 where the restorer placed a hint. Returns (T, H, W, 3) float32 maps of
    (a, b, confidence): confidence = presence · exp(-|t - keyframe| / 16), 0 where the hint
    did not survive the flow. ``steps`` caches ``Step``s by (source, target) frame number
    (``grays[0]`` being frame ``first``), so several keyframes of one shot, and successive
    windows, share the flow.
    """
    count = len(grays)
    if not 0 <= keyframe < count:
        raise ValueError(f"keyframe {keyframe} is outside the {count} frames given")
    ab = np.asarray(ab, dtype=np.float32)
    presence = (np.asarray(presence) > 0).astype(np.float32)
    if ab.shape[:2] != presence.shape or ab.shape[2:] != (2,):
        raise ValueError(f"ab must be (H, W, 2) and presence (H, W): {ab.shape}, {presence.shape}")
    flow = flow or FlowField()
    steps = {} if steps is None else steps
    grey = [to_gray8(g) for g in grays]
    out = np.zeros((count, *presence.shape, 3), dtype=np.float32)
    out[keyframe, ..., :2] = ab * presence[..., None]
    out[keyframe, ..., 2] = presence
    for direction in (1, -1):
        cur_ab, cur_p = ab, presence
        t = keyframe + direction
        while 0 <= t < count and cur_p.any():
            key = (first + t - direction, first + t)
            if key not in steps:
                steps[key] = flow.step(grey[t - direction], grey[t])
            cur_ab, cur_p = carry_step(cur_ab, cur_p, steps[key])
            out[t, ..., :2] = cur_ab
            out[t, ..., 2] = cur_p * confidence_at(t - keyframe)
            t += direction
    return out


CHECK_PENALTY = 0.5
"""A carried colour pixel whose flow round trip fails keeps this share of its confidence."""

LIGHTNESS_TOLERANCE = 0.12
"""Carried colour loses confidence as exp(-|carried grey - frame grey| / this) (grey in 0..1):
the keyframe's own grey travels with its colour, so drift shows up as a mismatch."""


DIRECT_REACH_PX = 32.0
"""The keyframe pulled straight onto a frame loses confidence as exp(-displacement / this)
(pixels at the model's input size): DIS matches a far-moved keyframe less reliably, and a
wrong match that passes the check and the lightness test would restart the chain on it (a
car turning across the frame: -1.6 dB against the chain alone without this, -0.8 with it;
the mean gain over the chain falls from +1.46 to +1.36 dB on 13 training clips and from
+1.14 to +0.93 dB on 12 of ``clips_more``; see ``docs/TRAINING.md``)."""


def carry_colour(
    grays: Sequence[np.ndarray],
    keyframe: int,
    ab: np.ndarray,
    presence: np.ndarray | None = None,
    *,
    flow: FlowField | None = None,
    steps: dict[tuple[int, int], Step] | None = None,
    first: int = 0,
    directions: Sequence[int] = (1, -1),
    anchored: bool = True,
) -> np.ndarray:
    """Carry a whole keyframe's colour (a reference still of that very frame) through a shot.

    Unlike ``carry_hints`` nothing is dropped: every pixel takes the colour it is warped
    from, frame to frame, exactly as the DIS flow baseline does (the chain's slight blur
    scores better than sampling the keyframe once through composed flow: 0.7 dB on DAVIS
    40-60 frames away), and carries a confidence instead, the network's cue for how far to
    trust it: ``presence`` (1 where the still covers the frame, carried along) times
    ``exp(-|carried grey - grey| / LIGHTNESS_TOLERANCE)``, where the keyframe's grey carried
    with its colour no longer matches the frame's (drift shows up there), times
    ``CHECK_PENALTY`` where this step's flow round trip fails. Neither factor accumulates
    over steps, and there is no decay with time as such: carried colour far from its
    keyframe is still far better than a guess where the flow held (DAVIS: 33.7 dB 41-80
    frames away, against 24-26 dB for the automatic model). ``anchored`` (the default) joins
    each frame's chained colour with the keyframe's pulled straight onto it by one more
    checked field (see ``ColourChain``).

    Arguments and return value as ``carry_hints``: (T, H, W, 3) float32 (a, b, confidence);
    ``directions`` (1: forward, -1: back) says which way from the keyframe to carry, the
    other frames staying zero.
    """
    count = len(grays)
    if not 0 <= keyframe < count:
        raise ValueError(f"keyframe {keyframe} is outside the {count} frames given")
    ab = np.asarray(ab, dtype=np.float32)
    grey = [to_gray8(g) for g in grays]
    if ab.shape != (*grey[keyframe].shape, 2):
        raise ValueError(f"ab must be {(*grey[keyframe].shape, 2)}, got {ab.shape}")
    base = (
        np.ones(ab.shape[:2], np.float32)
        if presence is None
        else np.asarray(presence, dtype=np.float32)
    )
    flow = flow or FlowField()
    steps = {} if steps is None else steps
    out = np.zeros((count, *ab.shape[:2], 3), dtype=np.float32)
    out[keyframe, ..., :2] = ab
    out[keyframe, ..., 2] = base
    for direction in directions:
        chain = ColourChain(ab, base, grey[keyframe], flow=flow if anchored else None)
        t = keyframe + direction
        while 0 <= t < count:
            pair = (first + t - direction, first + t)
            if pair not in steps:
                steps[pair] = flow.step(grey[t - direction], grey[t])
            out[t] = chain.advance(steps[pair], grey[t])
            t += direction
    return out


class ColourChain:
    """A keyframe's colour carried one step at a time, as ``carry_colour`` carries it: the
    state (a*, b*, presence and the keyframe's grey, all warped along) lives here, so a long
    shot can be carried window by window, each resuming where the last stopped.

    With a ``flow`` (``anchored``), every frame is also pulled straight from the keyframe
    through one checked DIS field (keyframe -> frame), and the two are joined: the output is
    their confidence-weighted mean, and wherever the direct pull is the more confident it
    replaces the chain's state, so the chain starts again from the keyframe there instead
    of carrying its drift on. The chain alone blurs and drifts step by step; the direct pull
    is sharp where DIS can match the keyframe and wrong where it cannot, and the lightness
    check, the round trip and how far the keyframe moved (``DIRECT_REACH_PX``) tell which
    is which (frame 0's true colours carried, every 5th frame: 12 clips of ``clips_more``,
    chain 35.58 dB, anchored 36.51; 13 training clips 31.50 and 32.86; see
    ``docs/TRAINING.md``)."""

    def __init__(
        self,
        ab: np.ndarray,
        presence: np.ndarray,
        key_grey: np.ndarray,
        *,
        flow: FlowField | None = None,
    ) -> None:
        """``ab`` (H, W, 2), ``presence`` (H, W) in [0, 1], ``key_grey`` the keyframe's grey;
        ``flow`` (None: the chain alone) computes the direct pull from the keyframe."""
        key8 = to_gray8(key_grey)
        key = key8.astype(np.float32) / 255.0
        self.state = np.concatenate(
            [
                np.asarray(ab, np.float32),
                np.asarray(presence, np.float32)[..., None],
                key[..., None],
            ],
            axis=-1,
        )
        self._flow = flow
        self._key8 = key8
        self._key = self.state.copy()  # what the direct pull samples

    def copy(self) -> ColourChain:
        """A chain that resumes from here (its own state; the keyframe shared)."""
        chain = copy.copy(self)
        chain.state = self.state.copy()
        return chain

    def advance(self, step: Step, grey: np.ndarray) -> np.ndarray:
        """Carry onto the next frame (``step`` pulls from the last frame onto it; ``grey`` is
        its grey): its (H, W, 3) float32 (a*, b*, confidence)."""
        here8 = to_gray8(grey)
        here = here8.astype(np.float32) / 255.0
        self.state = step.pull(self.state)
        matched = _matched(self.state, here)
        out = np.empty((*here.shape, 3), dtype=np.float32)
        out[..., :2] = self.state[..., :2]
        out[..., 2] = matched * np.where(step.valid, 1.0, CHECK_PENALTY)
        if self._flow is None:
            return out
        direct = self._flow.step(self._key8, here8)
        pulled = direct.pull(self._key)
        xs, ys = _grid(*here.shape)
        moved = np.hypot(direct.map_x - xs, direct.map_y - ys)
        sure = (
            _matched(pulled, here)
            * np.where(direct.valid, 1.0, CHECK_PENALTY)
            * np.exp(-moved / DIRECT_REACH_PX)
        )
        total = out[..., 2] + sure
        share = np.where(total > 0, sure / np.maximum(total, 1e-12), 0.0)[..., None]
        out[..., :2] += share * (pulled[..., :2] - out[..., :2])
        # the step's own check is left out here: a step far before the frames handed out
        # is computed without it, and the state must not depend on how far that was
        restart = sure > matched
        self.state[restart] = pulled[restart]
        out[..., 2] = np.maximum(out[..., 2], sure)
        return out


def _matched(carried: np.ndarray, here: np.ndarray) -> np.ndarray:
    """A carried (a*, b*, presence, keyframe grey) map's presence x lightness match on a
    frame of grey ``here`` (0..1)."""
    return carried[..., 2] * np.exp(-np.abs(carried[..., 3] - here) / LIGHTNESS_TOLERANCE)


def merge_nearest(maps: Sequence[np.ndarray]) -> np.ndarray:
    """Combine several carried hint maps (each (..., 3)): per pixel the most confident wins
    (with decay that is the nearest keyframe; the restorer's own points win on their frame)."""
    if not maps:
        raise ValueError("no hint maps to merge")
    stack = np.stack(maps)
    best = np.argmax(stack[..., 2], axis=0)
    return np.take_along_axis(stack, best[None, ..., None], axis=0)[0]


# ---------------------------------------------------------------------------------------
# The flow baseline


class FlowCarry:
    """Warp a keyframe's a*b* frame to frame through a shot (the DIS flow baseline).

    ``reset(gray, ab)`` at the keyframe (and at every cut), then ``push(gray)`` for each
    following frame returns its carried (H, W, 2) a*b*. Every pixel takes the colour it is
    warped from (no check: a baseline the guided model must beat, not a hint source).
    """

    def __init__(self, *, flow: FlowField | None = None) -> None:
        self._flow = flow or FlowField()
        self._gray: np.ndarray | None = None
        self._ab: np.ndarray | None = None
        self.steps = 0

    def reset(self, gray: np.ndarray, ab: np.ndarray) -> None:
        """Start again from this frame's grey and its true (or chosen) a*b* (H, W, 2)."""
        ab = np.asarray(ab, dtype=np.float32)
        gray = to_gray8(gray)
        if ab.shape != (*gray.shape, 2):
            raise ValueError(f"ab must be {(*gray.shape, 2)}, got {ab.shape}")
        self._gray, self._ab = gray, ab
        self.steps = 0

    def push(self, gray: np.ndarray) -> np.ndarray:
        """The a*b* carried onto the next frame (its grey given)."""
        if self._gray is None or self._ab is None:
            raise RuntimeError("FlowCarry.push before reset: give it a keyframe first")
        gray = to_gray8(gray)
        step = self._flow.step(self._gray, gray, check=False)
        self._ab = step.pull(self._ab)
        self._gray = gray
        self.steps += 1
        return self._ab
