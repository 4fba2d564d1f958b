"""One film of a batch as independent units of work over ``pipeline.segments``.

``FilmWork.prepare`` does what ``colorize_file`` does before colorizing — checks the range
and the destination, refuses to replace an output without ``overwrite``, locks the work
folder ``.OUT.parts/`` beside the destination, and loads its journal (resume) or plans the
segments and starts one. The caller then renders ``pending()`` segments wherever it likes
(this process or a Ray worker: the part files go to ``part_path``, on a filesystem both
see), hands each finished ``Part`` to ``record`` (the journal is rewritten atomically),
and calls ``finish`` to assemble the output, exactly as ``colorize_file`` assembles it.
Films in an image-sequence codec are not segmented: they are one unit, ``colorize_file``.
"""

from __future__ import annotations

import logging
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from flowchroma_core.batch.films import BatchFilm
from flowchroma_core.batch.report import FilmOutcome
from flowchroma_core.errors import CancelToken
from flowchroma_core.model.files import default_model_path
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.export import (
    apply_umask,
    check_export,
    check_memory,
    check_overwrite,
)
from flowchroma_core.pipeline.journal import Journal, WorkFolder, model_identity
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.segments import (
    SEGMENT_FRAMES,
    Part,
    Segment,
    assemble,
    encoder_notes,
    file_sha256,
    part_name,
    plan_segments,
)
from flowchroma_core.video.reader import VideoInfo, luma_matrix, open_video

logger = logging.getLogger(__name__)


def model_key(options: ColorizeOptions, session: ModelSession | None = None) -> str:
    """The model's identity as the journal records it (``journal.model_identity``), found
    without loading the model when it is a file: the driver of a Ray batch needs no GPU."""
    if session is not None:
        return model_identity(session)
    path = Path(options.model).expanduser() if options.model else default_model_path()
    if path is not None and path.is_file():
        return "file:" + file_sha256(path)
    # no model file: the identity is the weights' hash, which needs the network built
    return model_identity(ModelSession.load(options.model, device="cpu"))


class FilmWork:
    """A prepared film: its lock held, its journal loaded or planned (segmented codecs)."""

    def __init__(
        self,
        film: BatchFilm,
        info: VideoInfo,
        options: ColorizeOptions,
        *,
        codec: str,
        frame_rate: Fraction | None,
        folder: WorkFolder | None,
        journal: Journal | None,
        overwrite: bool,
        key: dict[str, Any] | None = None,
        hardware: bool = False,
    ) -> None:
        self.film = film
        self.info = info
        self.options = options  # as run: the source's luma matrix included
        self.codec = codec
        self.frame_rate = frame_rate
        self.folder = folder
        self.journal = journal
        self.overwrite = overwrite
        self.key = key  # the journal's key, kept for ``planned`` when planning elsewhere
        self.hardware = hardware  # NVDEC/NVENC where they work (``render_segment``)
        self.begin = time.perf_counter()
        segments = journal.segments if journal is not None else []
        self.outcome = FilmOutcome(
            film.source,
            output=film.destination,
            frames=info.frame_count,
            shots=sum(len(s.shots) for s in segments) or 1,
            segments=len(segments) or 1,
            resumed_segments=len(journal.done) if journal is not None else 0,
        )

    @classmethod
    def prepare(
        cls,
        film: BatchFilm,
        *,
        options: ColorizeOptions,
        codec: str,
        model: str,
        overwrite: bool = False,
        restart: bool = False,
        segment_frames: int = SEGMENT_FRAMES,
        cancel: CancelToken | None = None,
        frame_rate: Fraction | None = None,
        plan: bool = True,
        hardware: bool = False,
    ) -> FilmWork:
        """Check, lock and plan (or resume) one film; ``model`` is ``model_key(...)``.

        ``plan=False`` leaves a new film unplanned (``needs_plan``): the caller plans it
        elsewhere (a Ray worker: the scan is a full decode) and hands over ``planned``.

        Raises ``OutputExistsError`` when the output exists and ``overwrite`` is false,
        ``DestinationBusyError``, ``JournalMismatchError`` and the export's other errors.
        """
        with open_video(film.source, frame_rate=frame_rate) as reader:
            info = reader.info
        written = check_export(info, film.destination, codec=codec, start=0, stop=None)
        check_overwrite(written, overwrite=overwrite)
        options = options.replace(matrix=luma_matrix(info))
        check_memory(info, options)
        folder = WorkFolder(film.destination).acquire()
        try:
            if restart:
                folder.clear()
            key = Journal.make_key(
                film=film.source, options=options, model=model, codec=codec, start=0,
                stop=info.frame_count, frame_rate=None if frame_rate is None else str(frame_rate),
                hardware=hardware,
            )  # fmt: skip
            journal = Journal.load(folder.path, key)
            if journal is None and plan:
                segments = plan_segments(
                    film.source, options, target_frames=segment_frames, cancel=cancel,
                    frame_rate=frame_rate,
                )  # fmt: skip
                journal = Journal(folder.path, key, segments)
                journal.save()
            elif journal is not None and journal.done:
                logger.warning(
                    "resuming %s: %d of %d segment(s) already done",
                    film.destination.name, len(journal.done), len(journal.segments),
                )  # fmt: skip
        except BaseException:
            folder.release()
            raise
        return cls(film, info, options, codec=codec, frame_rate=frame_rate, folder=folder,
                   journal=journal, overwrite=overwrite, key=key, hardware=hardware)  # fmt: skip

    @property
    def needs_plan(self) -> bool:
        return self.folder is not None and self.journal is None

    def planned(self, segments: list[Segment]) -> None:
        """The plan made elsewhere (``plan_segments``): the journal starts with it."""
        assert self.folder is not None and self.key is not None
        self.journal = Journal(self.folder.path, self.key, segments)
        self.journal.save()
        self.outcome.segments = len(segments)
        self.outcome.shots = sum(len(s.shots) for s in segments)

    def pending(self) -> list[Segment]:
        """Segments still to render."""
        return self.journal.pending() if self.journal is not None else []

    def part_path(self, segment: Segment) -> Path:
        assert self.folder is not None
        return self.folder.path / part_name(segment, self.film.destination)

    def record(self, part: Part) -> None:
        """A segment is finished: the journal says so (atomically) before anything else."""
        assert self.journal is not None
        self.journal.finish(part)

    def finish(self) -> FilmOutcome:
        """Assemble the parts into the output, remove the work folder; the film is done."""
        assert self.journal is not None and self.folder is not None
        parts = self.journal.parts()
        output, notes = assemble(
            parts, self.film.destination, self.info, self.options, codec=self.codec
        )
        self.folder.remove()
        apply_umask(output)
        notes.extend(encoder_notes(parts))
        damaged = sorted(i for p in parts for i in p.damaged)
        if damaged:
            notes.append(f"{len(damaged)} damaged frame(s) were skipped: {damaged[:10]}")
        return self._done(output, sum(p.frames for p in parts), notes)

    def abandon(self) -> None:
        """Stop here (failure or cancel): keep the journal when a part is done, to resume."""
        if self.folder is None:
            return
        if self.journal is not None and self.journal.done:
            self.folder.release()
        else:
            self.folder.remove()

    def _done(self, output: Path, frames: int, notes: list[str]) -> FilmOutcome:
        outcome = self.outcome
        outcome.output = output
        outcome.frames = frames
        outcome.notes = notes
        outcome.seconds = time.perf_counter() - self.begin
        outcome.result = "done"
        return outcome
