"""The reference a segmented export is tested against: the same film colorized in one
pass (one reader, one colorizer run finding its own cuts, one writer), as
``colorize_file`` made it before exports were cut into segments."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import partial
from pathlib import Path

from flowchroma_core.errors import CancelToken, VideoReadError
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline import export
from flowchroma_core.pipeline.colorizer import ColorFrame, Colorizer, ColorizeRun
from flowchroma_core.pipeline.export import ExportResult, Progress, apply_umask
from flowchroma_core.pipeline.guided import GuidanceSource
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.segments import OPTIONS_TAG
from flowchroma_core.pipeline.stages import run_stages
from flowchroma_core.video.reader import Frame, VideoInfo, open_video
from flowchroma_core.video.timecode import offset_timecode
from flowchroma_core.video.writer import VideoWriter


def colorize_single_pass(
    source: Path,
    destination: Path,
    info: VideoInfo,
    *,
    options: ColorizeOptions,
    session: ModelSession | None,
    codec: str,
    start: int,
    stop: int,
    on_progress: Callable[[Progress], None] | None,
    cancel: CancelToken | None,
    frame_rate: Fraction | None,
    begin: float,
    guidance: GuidanceSource | None = None,
) -> ExportResult:
    """The export in one pass, without segments or journal (as exports were made before
    segments): the reference the segmented export is held to, bit for bit on FFV1."""
    if session is None:
        session = ModelSession.load(
            options.model, device=options.device, precision=options.precision
        )
    with open_video(source, frame_rate=frame_rate) as reader:
        first_time = None
        timecode = (
            offset_timecode(info.start_timecode, start, info.frame_rate)
            if info.start_timecode
            else None
        )
        audio_start = Fraction(start) / info.frame_rate
        audio_end = Fraction(stop) / info.frame_rate
        runs: list[ColorizeRun] = []
        with VideoWriter(
            destination,
            codec=codec,
            source=info,
            matrix=options.matrix,
            audio_from=source if info.audio else None,
            audio_start=audio_start,
            audio_end=audio_end,
            timecode=timecode,
            metadata={OPTIONS_TAG: options.to_json()},
        ) as writer:

            def colorize(frames: Iterator[Frame]) -> ColorizeRun:
                runs.append(Colorizer(session).run(frames, options, cancel, guidance=guidance))
                return runs[-1]

            def write(frame: ColorFrame) -> None:  # on the writer thread (pipeline/stages.py)
                nonlocal first_time
                if first_time is None:
                    first_time = frame.time
                writer.write(frame.luma, frame.cb, frame.cr, time=frame.time - first_time)

            def progress(n: int) -> None:
                if on_progress is not None:
                    on_progress(Progress(n, stop - start, time.perf_counter() - begin))

            whole = [partial(reader.frames, start, stop)]
            done = run_stages(whole, colorize, write, cancel=cancel, progress=progress).written
            run = runs[0]
            if cancel is not None:
                cancel.check()  # a cancel after the last clip still discards the output
            if done == 0:
                raise VideoReadError(
                    f"{source}: no frame in the range {start}..{stop} could be decoded"
                )
            notes = list(writer.notes)
        written = writer.destination  # a folder for image sequences
    apply_umask(written)
    damaged = list(reader.damaged_frames)
    export._note_damage(notes, damaged, list(reader.corrupt_frames))
    result = ExportResult(
        output=written,
        frames=done,
        seconds=time.perf_counter() - begin,
        options=options,
        notes=notes,
        damaged_frames=damaged,
        cuts=list(run.report.cuts),
        model_seconds=run.report.model_seconds,
    )
    return result
