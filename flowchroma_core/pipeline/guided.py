"""Guidance inside the colorizer: what each window hands the network besides L.

The colorizer owns the walk (windows, shots, the temporal state); a run's guidance
(``guidance.film.Guidance``: the restorer's points and reference stills) owns what the
restorer decided. ``WindowGuide`` joins them for one run:

* it refuses guidance for a model without guidance inputs, with one line
  (``NO_GUIDANCE_INPUTS``), before any frame is read;
* it names the frames where the guidance's shots start, which the colorizer treats as
  cuts, so that neither hints, stills nor the temporal state cross a cut;
* per window it asks the guidance for the hint maps of the window's frames (points on
  their keyframe, carried through the shot by DIS flow with a forward-backward check and
  decaying confidence) and the shot's reference stills, moves them to the model's device
  and computes the stills' backbone features once per shot; it keeps the flow steps the
  colour was carried along (``motion``), by which the colorizer steadies the output
  (``pipeline.steady``);
* once the window's frames have their backbone features, it matches the stills not carried
  onto the window (other content than their frame, or too far from it) to them and merges
  the matched colours into the hints (``with_matches``, ``pipeline.matching``).

A window without hints passes ``hints=None`` and a shot without stills
``references=None``: the network then gives exactly its automatic result.

This module never imports ``guidance`` at run time (``guidance`` builds on ``pipeline``):
it talks to the guidance through the ``GuidanceSource`` protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.pipeline.matching import match_still, matching_features, merge_hints
from flowchroma_core.pipeline.steady import Motion

logger = logging.getLogger(__name__)

NO_GUIDANCE_INPUTS = "this model has no guidance inputs; use a v2 model"


class GuidanceModelError(FlowChromaError):
    """Guidance was given for a model that cannot take it."""


class GuidanceWindowLike(Protocol):
    """What ``Guidance.window`` answers (``guidance.film.GuidanceWindow``)."""

    hints: Tensor
    references: Tensor | None
    reference_frames: tuple[int, ...]
    matched: tuple[int, ...]  # the references to match to the frames (not carried)

    @property
    def has_hints(self) -> bool: ...

    def motion_of(self, frame: int) -> Motion | None: ...


class GuidanceSource(Protocol):
    """What the colorizer asks of a run's guidance (``guidance.film.Guidance``)."""

    frames: int

    @property
    def cuts(self) -> list[int]: ...

    @property
    def revision(self) -> str: ...

    def shot_of(self, frame: int) -> tuple[int, int]: ...

    def window(
        self, start: int, stop: int, *, shot: tuple[int, int] | None = None
    ) -> GuidanceWindowLike: ...


def model_takes_guidance(model: Any) -> bool:
    """Whether ``model`` has hint and reference inputs (a v2 model built with guidance)."""
    return bool(getattr(getattr(model, "config", None), "guidance", False)) and hasattr(
        model, "_reference_maps"
    )


def check_guidance_model(model: Any) -> None:
    """``GuidanceModelError`` (one line) when ``model`` cannot take guidance."""
    if not model_takes_guidance(model):
        raise GuidanceModelError(NO_GUIDANCE_INPUTS)


class WindowGuide:
    """One run's guidance, window by window, on the model's device."""

    def __init__(self, guidance: GuidanceSource, model: Any, device: torch.device) -> None:
        check_guidance_model(model)
        self.guidance = guidance
        self.model = model
        self.device = device
        self.cut_frames: frozenset[int] = frozenset(guidance.cuts)
        self._shot_refs: tuple[tuple[int, int], tuple[int, ...]] | None = None
        self._refs: tuple[Tensor, Tensor] | None = None
        self._keys: Tensor | None = None  # the stills' matching features (R, C, y, x)
        self._matched: tuple[int, ...] = ()
        self.windows_with_hints = 0
        self.windows_with_references = 0
        self.motion: dict[int, Motion] = {}  # the last window's flow steps, by frame

    def kwargs(
        self, indexes: Sequence[int], *, shot_start: int, next_cut: int | None
    ) -> dict[str, Tensor | None]:
        """``hints`` (1, T, 3, h, w) or None and ``references`` (1, R, 3, h, w) with their
        ``reference_features``, or None, for the window of frames ``indexes`` (film frame
        numbers, increasing; gaps where damaged frames were skipped).

        ``shot_start`` is the frame that started the colorizer's current shot and
        ``next_cut`` the first cut it knows after the window (None: none known); the
        guidance's own shot is narrowed to them, so nothing is carried across a cut that
        either side found. Call inside the colorizer's autocast and inference mode.
        """
        first, last = indexes[0], indexes[-1]
        g_start, g_end = self.guidance.shot_of(first)
        shot = (max(g_start, shot_start), g_end if next_cut is None else min(g_end, next_cut))
        window = self.guidance.window(first, last + 1, shot=shot)
        self.motion = {i: m for i in indexes if (m := window.motion_of(i)) is not None}
        hints: Tensor | None = None
        if window.has_hints:
            rows = torch.as_tensor([i - first for i in indexes])
            hints = window.hints[rows].unsqueeze(0).to(self.device)
            self.windows_with_hints += 1
        references = features = None
        if window.references is not None:
            key = (shot, window.reference_frames)
            if self._shot_refs != key or self._refs is None:
                refs = window.references.unsqueeze(0).to(self.device)
                feats = self.model.backbone_features(refs[:, :, :1])
                self._shot_refs, self._refs = key, (refs, feats)
                self._keys = matching_features(self.model, feats[0], *refs.shape[-2:])
                logger.debug("shot %s: %d reference still(s) encoded", shot, refs.shape[1])
            references, features = self._refs
            self.windows_with_references += 1
        self._matched = window.matched if references is not None else ()
        return {"hints": hints, "references": references, "reference_features": features}

    def with_matches(
        self, features: Tensor, guided: dict[str, Tensor | None]
    ) -> dict[str, Tensor | None]:
        """The last window's ``guided`` (from ``kwargs``) with its stills of other content
        matched to its frames, whose backbone features (T, D) are ``features``, and merged
        into the hints (``pipeline.matching``); unchanged without such a still."""
        if not self._matched or self._refs is None or self._keys is None:
            return guided
        refs = self._refs[0]
        h, w = refs.shape[-2:]
        query = matching_features(self.model, features, h, w)
        hints = guided.get("hints")
        for i in self._matched:
            matched = match_still(query, self._keys[i], refs[0, i, 1:], (h, w))[None]
            hints = merge_hints(hints, matched)
        return {**guided, "hints": hints}


def pass_kwargs(kwargs: dict[str, Tensor | None], lo: int, hi: int) -> dict[str, Tensor | None]:
    """The window's guidance for the frames ``lo:hi`` of one forward pass."""
    hints = kwargs.get("hints")
    return {**kwargs, "hints": None if hints is None else hints[:, lo:hi]}
