"""The preview controller in the real window, on real films and the tiny model.

Two guarantees that the pictures alone cannot show: a new request stops the one running
(scrubbing away from a long shot does not wait for it), and stepping forward continues the
open colorization stream instead of starting again at the shot's first frame. Both are
measured by what the preview thread really did: the frames it colorized (its
``PreviewCached`` events) and the model's forward passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_helpers import open_film, wait_colorized, wait_scanned

from flowchroma_gui.preview import PreviewCached
from flowchroma_gui.qt_main_window import MainWindow


@pytest.fixture
def model_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per forward pass of any FlowChroma network, from any thread."""
    from flowchroma_core.model.network import FlowChroma

    calls: list[int] = []
    forward = FlowChroma.forward

    def counted(self, *args, **kwargs):
        calls.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(FlowChroma, "forward", counted)
    return calls


def colorized_frames(win: MainWindow) -> list[int]:
    """Every frame the preview thread colorizes from now on, in order."""
    frames: list[int] = []

    def record(_request_id: int, event: object) -> None:
        if isinstance(event, PreviewCached):
            frames.append(event.key.frame)

    win.preview_thread.event.connect(record)
    return frames


def test_stepping_forward_continues_the_open_stream(qtbot, window, chaplin: Path, model_calls):
    window.preview.checkpoints.enabled = False  # no background pass: the stream alone
    open_film(qtbot, window, chaplin)
    wait_scanned(qtbot, window)
    assert window.shots.cuts() == ()  # one shot: every frame's stream starts at frame 0
    window.seek(9)
    wait_colorized(qtbot, window, 9)
    cold = len(model_calls)  # frames 0-9 from the shot start: clips of 4, so three passes
    assert cold >= 3

    made = colorized_frames(window)
    calls = len(model_calls)
    for frame in (10, 11, 12, 13):
        window.step(1)
        wait_colorized(qtbot, window, frame)
        # the viewer's slot and this recorder's are separate queued calls of one signal:
        # the viewer may show the frame before the recorder has been told of it
        qtbot.waitUntil(lambda f=frame: f in made, timeout=10_000)
    # each step takes the next frame out of the open stream; frames 0-9 are not made again
    assert made == [10, 11, 12, 13]
    # 10 and 11 were in the clip already run for frame 9; 12 and 13 need one more clip
    # (starting over at frame 0 would cost about 14 passes)
    assert len(model_calls) - calls <= 2, len(model_calls) - calls


def test_a_new_preview_request_stops_the_running_one(qtbot, window, a_bomb: Path):
    window.preview.checkpoints.enabled = False  # no background pass: the stream alone
    open_film(qtbot, window, a_bomb)
    wait_scanned(qtbot, window)
    assert window.shots.cuts() == (44, 134, 299)
    made = colorized_frames(window)
    window.seek(290)  # its shot starts at 134: 157 frames to colorize before it shows
    qtbot.waitUntil(lambda: any(f >= 134 for f in made), timeout=60_000)
    window.seek(10)  # the user scrubs away while frame 290 is still far off
    wait_colorized(qtbot, window, 10)
    qtbot.waitUntil(lambda: 10 in made, timeout=10_000)  # the recorder's call may come later
    assert window.current_key().shot_start == 0
    # the request for 290 was stopped, not run to the end before frame 10's turn
    assert 290 not in made
    far = [f for f in made if f >= 134]
    assert len(far) < 157, len(far)
    assert all(k.frame != 290 for k in window.cache.snapshot())
    # frame 10 came from a fresh stream through its own shot, from frame 0
    assert made[-11:] == list(range(11))


def test_a_window_in_progress_stops_for_an_edit_not_for_a_move() -> None:
    """The stream's check inside the model: a cancelled request stops the window only when
    the request waiting next colours frames otherwise (guidance, settings, film)."""
    from flowchroma_core.errors import Cancelled
    from flowchroma_core.settings import Settings
    from flowchroma_gui.preview import (
        GuidanceInput,
        PreviewRequest,
        _colours,
        _Stream,
        _StreamCancel,
    )
    from flowchroma_gui.qthreading import JobContext

    def request(frame: int, revision: str = "", **settings: object) -> PreviewRequest:
        guidance = GuidanceInput(None, ".", revision) if revision else None
        return PreviewRequest(
            "film.mkv", frame, Settings(**settings), shots=None, guidance=guidance  # type: ignore[arg-type]
        )

    first = request(40, "a1")
    stream = _Stream(signature=(), frames=iter(()), source=iter(()), next_index=0)
    stream.colours = _colours(first)
    waiting: list[PreviewRequest] = []
    check = _StreamCancel(stream, lambda: waiting[0] if waiting else None)
    stream.ctx = JobContext()
    check.check()  # running, nothing cancelled
    stream.ctx.cancel()
    for move in (request(41, "a1"), request(200, "a1")):
        waiting[:] = [move]
        check.check()  # the window goes on: the stream can serve the next frame from it
    for edit in (request(40, "b2"), request(40), request(40, "a1", vividness=0.9)):
        waiting[:] = [edit]
        with pytest.raises(Cancelled):
            check.check()
    waiting.clear()
    check.check()  # cancelled with nothing waiting (the film closed): the window finishes
