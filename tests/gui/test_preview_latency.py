"""Preview latency with state checkpoints, in the real window on chaplin and the tiny model.

What is measured is what the preview thread really did: the exact frames it colorized
(``PreviewEngine.colorized``, its ``PreviewCached`` events) and the order of its events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gui_helpers import WAIT, open_film, wait_colorized, wait_scanned

from flowchroma_core.settings import Settings
from flowchroma_gui.preview import PreviewApproximate, PreviewCached, PreviewReady


def _events(win) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []

    def record(_request_id: int, event: object) -> None:
        for kind in (PreviewApproximate, PreviewCached, PreviewReady):
            if isinstance(event, kind):
                seen.append((kind.__name__, event.key.frame))  # type: ignore[attr-defined]

    win.preview_thread.event.connect(record)
    return seen


def _wait_pass(qtbot, win) -> None:
    done: list[float] = []
    win.preview.checkpoints_done.connect(done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT)


def test_far_frame_from_a_checkpoint_approximate_first(qtbot, window, chaplin: Path) -> None:
    open_film(qtbot, window, chaplin)
    wait_scanned(qtbot, window)
    _wait_pass(qtbot, window)  # windows of 4: a checkpoint every 4 frames
    events = _events(window)
    before = window.preview_engine.colorized
    window.seek(150)
    wait_colorized(qtbot, window, 150)
    assert not window.viewer.result_approximate
    made = window.preview_engine.colorized - before
    assert 1 <= made <= 4, made  # from the shot start it would be 151
    kinds = [k for k, f in events if f == 150]
    assert kinds[0] == "PreviewApproximate" and "PreviewReady" in kinds
    assert kinds.index("PreviewApproximate") < kinds.index("PreviewCached")


def test_checkpoints_follow_the_options(qtbot, window, chaplin: Path) -> None:
    open_film(qtbot, window, chaplin)
    wait_scanned(qtbot, window)
    _wait_pass(qtbot, window)
    window.apply_settings(Settings(model=window.settings.model, window_frames=6))
    _wait_pass(qtbot, window)  # a new pass for the new options: the old states do not fit
    before = window.preview_engine.colorized
    window.seek(100)
    wait_colorized(qtbot, window, 100)
    assert window.preview_engine.colorized - before <= 6
    assert len(window.preview.checkpoints._stores) == 2


def test_preview_equals_the_export_with_checkpoints(qtbot, window, chaplin: Path) -> None:
    """Frames previewed from checkpoints are, bit for bit, the frames of the export's run
    from the shot's start (the core's run; the FFV1 file holds its chroma exactly)."""
    from flowchroma_core.pipeline.colorizer import Colorizer
    from flowchroma_core.video.reader import luma_matrix, open_video
    from flowchroma_gui.preview import color_display

    open_film(qtbot, window, chaplin)
    wait_scanned(qtbot, window)
    _wait_pass(qtbot, window)
    shown = {}
    for f in (41, 47):
        before = window.preview_engine.colorized
        window.seek(f)
        wait_colorized(qtbot, window, f)
        assert window.preview_engine.colorized - before <= 4  # from a checkpoint
        shown[f] = np.array(window.cache.get(window.current_key()))
    options = window.settings.colorize_options()
    session = window.preview_engine.host.session(options)
    with open_video(chaplin) as reader:
        info = reader.info
        matrix = luma_matrix(info)
        run = Colorizer(session).run(reader.frames(0, 48), options.replace(matrix=matrix))
        export = {
            out.index: color_display(
                out, bit_depth=info.bit_depth, color_range=info.color_range, matrix=matrix
            )
            for out in run
            if out.index in shown
        }
    for f, image in shown.items():
        assert np.array_equal(image, export[f]), f
