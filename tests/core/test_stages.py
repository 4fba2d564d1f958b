"""Decode, model and encode overlapped (pipeline/stages.py): same output as in series, an
error on any stage stops all and names it with nothing left at the destination, a cancel
stops every thread, and the queues keep memory bounded."""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch

from flowchroma_core.errors import Cancelled, CancelToken, FlowChromaError, VideoReadError
from flowchroma_core.model.network import TINY_CONFIG, FlowChroma
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline import stages
from flowchroma_core.pipeline.export import colorize_file
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.stages import Stages, run_stages
from tests.core.media import make_video

N = 24
OPTIONS = ColorizeOptions(window_frames=8)


@pytest.fixture(autouse=True)
def _no_thread_left() -> Iterator[None]:
    """Every test here must leave no thread of its own running (napari's rule)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not left, f"threads left running: {[t.name for t in left]}"


@pytest.fixture(scope="module")
def session() -> ModelSession:
    torch.manual_seed(0)
    return ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"))


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("film") / "film.mkv"
    make_video(path, frames=N, width=96, height=64, rate=Fraction(25), codec="ffv1")
    return path


def _pictures(path: Path) -> list[np.ndarray]:
    """Every decoded picture, its planes one under the other (no stride padding)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray() for frame in container.decode(video=0)]


def _export(film: Path, dest: Path, session: ModelSession, **kwargs: object) -> None:
    colorize_file(film, dest, options=OPTIONS, session=session, codec="ffv1", **kwargs)


def test_output_is_identical_with_and_without_the_overlap(
    film: Path, tmp_path: Path, session: ModelSession
) -> None:
    _export(film, tmp_path / "overlapped.mkv", session)
    with stages.serial():
        _export(film, tmp_path / "serial.mkv", session)
    overlapped = _pictures(tmp_path / "overlapped.mkv")
    serial = _pictures(tmp_path / "serial.mkv")
    assert len(overlapped) == len(serial) == N
    for a, b in zip(overlapped, serial, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_full_size_chroma_is_made_on_the_writer_thread_beside_the_model(
    film: Path, tmp_path: Path, session: ModelSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowchroma_core.pipeline import colorizer

    threads: list[str] = []
    chroma = colorizer._Run._chroma

    def recorded(self: Any, *args: Any) -> np.ndarray:
        threads.append(threading.current_thread().name)
        return chroma(self, *args)

    monkeypatch.setattr(colorizer._Run, "_chroma", recorded)
    _export(film, tmp_path / "overlapped.mkv", session)
    assert len(threads) == N
    assert threading.main_thread().name not in threads  # never on the model's thread
    threads.clear()
    with stages.serial():
        _export(film, tmp_path / "serial.mkv", session)
    assert threads == [threading.main_thread().name] * N


def _fail_after(count: int, error: BaseException, original: Callable[..., Any]):
    """``original`` for ``count`` calls, then ``error``."""
    calls = [0]

    def fail(*args: object, **kwargs: object) -> Any:
        calls[0] += 1
        if calls[0] > count:
            raise error
        return original(*args, **kwargs)

    return fail


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("stage", ["decode", "model", "encode"])
def test_a_stage_error_stops_all_names_the_stage_and_leaves_nothing(
    film: Path,
    tmp_path: Path,
    session: ModelSession,
    monkeypatch: pytest.MonkeyPatch,
    stage: str,
    overlap: bool,
) -> None:
    from flowchroma_core.video import writer as writer_module
    from flowchroma_core.video.reader import VideoReader

    if stage == "decode":  # the frames a stage reads go bad after 10 (a planning scan does not)
        frames = VideoReader.frames

        def failing(self: VideoReader, start: int = 0, stop: int | None = None) -> Iterator:
            readers = {"_reader_loop", "_serial_part"}
            if not readers & {f.function for f in inspect.stack(0)}:
                return frames(self, start, stop)
            return _bad_after(frames(self, start, stop), 10)

        monkeypatch.setattr(VideoReader, "frames", failing)
        injected: type[BaseException] = VideoReadError
    elif stage == "model":
        fail = _fail_after(1, RuntimeError("the network blew up"), session.model.forward)
        monkeypatch.setattr(session.model, "forward", fail)
        injected = RuntimeError
    else:
        no_space = OSError(28, "No space left on device")
        fail = _fail_after(5, no_space, writer_module.VideoWriter.frame_for)
        monkeypatch.setattr(writer_module.VideoWriter, "frame_for", fail)
        injected = OSError
    dest = tmp_path / "out" / "film.mkv"
    dest.parent.mkdir()
    mode = contextlib.nullcontext() if overlap else stages.serial()
    with mode, pytest.raises(FlowChromaError, match=f"{stage} stage") as caught:
        _export(film, dest, session)
    assert caught.value.stage == stage  # type: ignore[attr-defined]
    assert type(caught.value.__cause__) is injected  # the error injected, nothing else
    assert list(dest.parent.iterdir()) == []  # no output, no temporary file


def _bad_after(frames: Iterator, count: int) -> Iterator:
    for i, frame in enumerate(frames):
        if i == count:
            raise VideoReadError("film.mkv: frame 10 is unreadable")
        yield frame


def test_cancel_mid_run_stops_every_thread_and_leaves_nothing(
    film: Path, tmp_path: Path, session: ModelSession
) -> None:
    token = CancelToken()
    seen: list[int] = []

    def progress(p) -> None:
        seen.append(p.done)
        if p.done == 5:
            token.cancel()

    dest = tmp_path / "out" / "film.mkv"
    dest.parent.mkdir()
    with pytest.raises(Cancelled):
        _export(film, dest, session, on_progress=progress, cancel=token)
    assert 5 in seen and max(seen) < N
    assert list(dest.parent.iterdir()) == []
    # the autouse fixture checks that the reader and writer threads are gone


def test_a_cancel_from_another_thread_stops_a_blocked_reader_and_writer() -> None:
    token = CancelToken()
    produced: list[int] = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    def slow_write(item: int) -> None:
        time.sleep(0.005)

    threading.Timer(0.3, token.cancel).start()
    with pytest.raises(Cancelled):
        run_stages([endless], lambda frames: frames, slow_write, cancel=token, overlap=True)


def test_frames_come_out_in_order_and_the_reader_stays_within_the_queue() -> None:
    produced: list[int] = []
    consumed: list[int] = []
    ahead: list[int] = []

    def part(lo: int, hi: int):
        def frames() -> Iterator[int]:
            for i in range(lo, hi):
                produced.append(i)
                yield i

        return frames

    def colorize(frames: Iterator[int]) -> Iterator[int]:
        for i in frames:
            ahead.append(len(produced) - len(consumed))
            consumed.append(i)
            time.sleep(0.001)
            yield -i

    written: list[int] = []
    progress: list[int] = []
    done = run_stages(
        [part(0, 100), part(100, 130), part(130, 130)],
        colorize,
        written.append,
        progress=progress.append,
        overlap=True,
    )
    assert written == [-i for i in range(130)]
    assert progress == list(range(1, 131))
    assert done.written == 130
    # the queue holds DEFAULT_DEPTH frames, plus one in the reader's hand and part markers
    assert max(ahead) <= stages.DEFAULT_DEPTH + 4


def test_stages_refuse_a_queue_of_nothing() -> None:
    with pytest.raises(ValueError, match="depth"):
        Stages(depth=0)
