"""What a batch did: each film's outcome, the progress line while it runs, the summary table.

A film is ``done`` (written now), ``skipped`` (its output already exists; ``--overwrite``
replaces it), ``failed`` (the reason, one line; the other films carry on) or ``cancelled``
(its journal is kept: the same command resumes it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

Result = Literal["done", "skipped", "failed", "cancelled", "waiting"]


@dataclass
class FilmOutcome:
    """One film's figures and result; ``seconds`` is wall time from its first segment."""

    film: Path
    output: Path | None = None
    frames: int = 0
    shots: int = 0
    segments: int = 0
    resumed_segments: int = 0  # finished by an earlier run, reused from the journal
    seconds: float = 0.0
    result: Result = "waiting"
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed(self) -> bool:
        return self.result == "failed"

    def said(self) -> str:
        """The result column: ``done``, ``done (resumed 2/5)``, ``failed: why``..."""
        text: str = self.result
        if self.result == "done" and self.resumed_segments:
            text += f" (resumed {self.resumed_segments}/{self.segments})"
        return f"{text}: {self.message}" if self.message else text


class BatchClock:
    """Frames, segments and films done across the batch, for the progress line."""

    def __init__(self, films: int) -> None:
        self.films = films
        self.films_done = 0
        self.segments = 0
        self.segments_done = 0
        self.frames = 0
        self.frames_done = 0
        self.begin = time.perf_counter()

    @property
    def fps(self) -> float:
        elapsed = time.perf_counter() - self.begin
        return self.frames_done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        return (
            f"films {self.films_done}/{self.films}, segments {self.segments_done}/"
            f"{self.segments}, {self.fps:.2f} fps"
        )


def summary_table(outcomes: Sequence[FilmOutcome], *, wall_seconds: float | None = None) -> str:
    """The table printed at the end: film, frames, shots, time, fps, result."""
    header = ("film", "frames", "shots", "time", "fps", "result")
    rows = [
        (
            o.film.name,
            str(o.frames),
            str(o.shots),
            f"{o.seconds:.1f}s",
            f"{o.fps:.2f}",
            o.said(),
        )
        for o in outcomes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header[:-1])]

    def fmt(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(w) for cell, w in zip(row[1:-1], widths[1:], strict=True)]
        return "  ".join([*cells, row[-1]]).rstrip()

    lines = [fmt(header), fmt(["-" * w for w in widths] + ["------"])]
    lines += [fmt(r) for r in rows]
    if wall_seconds is not None:
        frames = sum(o.frames for o in outcomes if o.result == "done")
        failed = sum(o.failed for o in outcomes)
        lines.append(
            f"{len(outcomes)} film(s), {failed} failed; {frames} frames written in "
            f"{wall_seconds:.1f} s ({frames / max(wall_seconds, 1e-9):.2f} fps overall)"
        )
    return "\n".join(lines)


class BatchProgress:
    """The progress bar of a batch (tqdm on stderr): frames, with films, segments and fps."""

    def __init__(self, films: int, *, enabled: bool = True) -> None:
        from tqdm import tqdm

        self.clock = BatchClock(films)
        self._bar = tqdm(total=0, unit="frame", dynamic_ncols=True, disable=not enabled)
        self._segment_frames = 0  # frames of the running segment already counted (local)

    def planned(self, frames: int, segments: int, *, done_frames: int, done_segments: int) -> None:
        """A film was prepared: its frames and segments join the totals; resumed ones count."""
        clock = self.clock
        clock.frames += frames
        clock.segments += segments
        clock.segments_done += done_segments
        self._bar.total = clock.frames
        self._advance(done_frames, count=False)

    def more_segments(self, segments: int) -> None:
        """A film planned after it was prepared (on a worker) adds its segments."""
        self.clock.segments += segments
        self._refresh()

    def frames(self, in_segment: int) -> None:
        """Frames done so far in the segment running in this process."""
        self._advance(in_segment - self._segment_frames)
        self._segment_frames = in_segment

    def segment_done(self, frames: int) -> None:
        self._advance(frames - self._segment_frames)
        self._segment_frames = 0
        self.clock.segments_done += 1
        self._refresh()

    def film_done(self, frames_left: int = 0) -> None:
        """A film left the batch (done, skipped or failed); its unfinished frames drop out."""
        self.clock.films_done += 1
        if frames_left:
            self.clock.frames -= frames_left
            self._bar.total = self.clock.frames
        self._refresh()

    def close(self) -> None:
        self._bar.close()

    def _advance(self, frames: int, *, count: bool = True) -> None:
        if frames:
            if count:
                self.clock.frames_done += frames
            self._bar.update(frames)

    def _refresh(self) -> None:
        self._bar.set_postfix_str(self.clock.line(), refresh=True)
