"""Forward passes of several runs gathered into one batch: shots colorized side by side.

A 16-frame pass of a 1 M-parameter network leaves a large GPU mostly idle. Shots are
independent (the temporal state resets at every cut), so runs colorizing different shots
on different threads (``export.render_side_by_side``) can share their passes: each run asks
a shared ``PassBatcher`` for its pass, the batcher waits a moment for the other members'
passes, stacks the ones that fit together on the batch axis and runs the network once.

* A pass is its run's own: everything in the network is per frame or per batch element,
  and each run's temporal state is stacked on the axis the model names
  (``state_batch_dims``; a fresh state of None is the same as zeros), so every run gets the
  result its batch of one gives, to float summation order.
* What is gathered: the backbone's per-frame features (any lengths, joined on the frame
  axis) and the network's passes of the same length without guidance. A guided pass (its
  hints and references differ per shot) runs alone.
* Waiting: a pass waits until every member has one waiting or ``max_wait`` seconds have
  passed since it arrived, then the first to notice runs the group on its own thread.
  Members join and leave (``member``) so the batcher never waits for a run that ended.
* Errors: a batched pass that fails fails every run in it, with the same error.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from flowchroma_core.model.device import autocast
from flowchroma_core.model.session import ModelSession

MAX_WAIT = 0.02
"""Seconds a pass waits for the other members' passes before it runs with those it has."""


def stack_states(states: Sequence[Any], dims: Sequence[int]) -> Any:
    """The states of several runs as one batched state (None where every run starts fresh;
    a fresh run among carried ones gets zeros, which is what None means to the model)."""
    present = [s for s in states if s is not None]
    if not present:
        return None
    like = present[0]
    filled = [tuple(torch.zeros_like(t) for t in like) if s is None else s for s in states]
    return tuple(torch.cat([s[i] for s in filled], dim=d) for i, d in enumerate(dims))


def split_state(state: Any, dims: Sequence[int], sizes: Sequence[int]) -> list[Any]:
    """A batched state back into the states of its runs (``sizes``: each run's batch)."""
    parts = [torch.split(t, list(sizes), dim=d) for t, d in zip(state, dims, strict=True)]
    return [tuple(p[k].contiguous() for p in parts) for k in range(len(sizes))]


@dataclass(eq=False)
class _Request:
    key: tuple  # requests of one key can share a batch; key[0] is "features" or "pass"
    inputs: dict[str, Any]
    arrived: float = field(default_factory=time.monotonic)
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass
class BatchStats:
    """How well the batcher filled its batches, for logs and benchmarks."""

    requests: int = 0
    batches: int = 0
    largest: int = 0

    @property
    def mean(self) -> float:
        return self.requests / self.batches if self.batches else 0.0


class PassBatcher:
    """Gathers the forward passes of the runs that are ``member``s into shared batches."""

    def __init__(self, session: ModelSession, *, max_wait: float | None = None) -> None:
        self.session = session
        self.max_wait = MAX_WAIT if max_wait is None else max_wait
        self.stats = BatchStats()
        self._dims = tuple(getattr(session.model, "state_batch_dims", ()))
        if not self._dims:
            raise TypeError(f"{type(session.model).__name__} does not say its state's batch axes")
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._members = 0

    @contextlib.contextmanager
    def member(self) -> Iterator[PassBatcher]:
        """A run takes part while inside: passes wait for it only while it is a member."""
        with self._cond:
            self._members += 1
        try:
            yield self
        finally:
            with self._cond:
                self._members -= 1
                self._cond.notify_all()

    # ------------------------------------------------------------------ what runs ask

    def features(self, l: Tensor) -> Tensor:
        """The backbone features of frames ``l`` (1, T, 1, H, W), as
        ``model.backbone_features`` gives them."""
        return self._submit(_Request(("features", *l.shape[2:]), {"l": l}))

    def forward(
        self,
        l: Tensor,
        *,
        features: Tensor,
        mask: Tensor,
        state: Any,
        vividness: float | None = None,
        **extra: Any,
    ) -> tuple[Tensor, Any]:
        """One pass of the network (batch of one), as ``model(l, features=..., ...)``;
        ``extra``: the guidance inputs (``guided.pass_kwargs``)."""
        inputs = {"l": l, "features": features, "mask": mask, "state": state,
                  "extra": {**extra, "vividness": vividness}}  # fmt: skip
        request = _Request(("pass", *l.shape[1:], vividness), inputs)
        if any(v is not None for v in extra.values()):
            request.key = (*request.key, id(request))  # guided: alone in its batch
        return self._submit(request)

    # ------------------------------------------------------------------ the gathering

    def _submit(self, request: _Request) -> Any:
        with self._cond:
            self._pending.append(request)
            self._cond.notify_all()
            group: list[_Request] = []
            while not request.done:
                if request in self._pending:
                    waited = time.monotonic() - request.arrived
                    if len(self._pending) >= self._members or waited >= self.max_wait:
                        group = [r for r in self._pending if r.key == request.key]
                        self._pending = [r for r in self._pending if r.key != request.key]
                        break
                    self._cond.wait(self.max_wait - waited)
                else:
                    self._cond.wait()  # another member is running this request's batch
        if group:
            self._run_group(group)
        if request.error is not None:
            raise request.error
        return request.result

    def _run_group(self, group: list[_Request]) -> None:
        session = self.session
        try:
            with torch.inference_mode(), autocast(session.device, session.precision):
                if group[0].key[0] == "features":
                    results = self._features(group)
                else:
                    results = self._passes(group)
            for request, result in zip(group, results, strict=True):
                request.result = result
        except BaseException as error:
            for request in group:
                request.error = error
        with self._cond:
            self.stats.requests += len(group)
            self.stats.batches += 1
            self.stats.largest = max(self.stats.largest, len(group))
            for request in group:
                request.done = True
            self._cond.notify_all()

    def _features(self, group: list[_Request]) -> list[Tensor]:
        lengths = [r.inputs["l"].shape[1] for r in group]
        joined = torch.cat([r.inputs["l"] for r in group], dim=1)
        features = self.session.model.backbone_features(joined)
        return list(torch.split(features, lengths, dim=1))

    def _passes(self, group: list[_Request]) -> list[tuple[Tensor, Any]]:
        def cat(name: str) -> Tensor:
            return torch.cat([r.inputs[name] for r in group])

        state = stack_states([r.inputs["state"] for r in group], self._dims)
        ab, state = self.session.model(
            cat("l"), features=cat("features"), mask=cat("mask"), state=state,
            **group[0].inputs["extra"],
        )  # fmt: skip
        states = split_state(state, self._dims, [1] * len(group))
        return list(zip(torch.split(ab, 1), states, strict=True))
