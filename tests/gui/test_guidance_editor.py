"""The guidance editor in the window, offscreen, on a tiny v2 model and a real film.

Points: a click adds one, a drag moves it, a right click and Delete remove it, the wheel
resizes it, each undoable; a reference still dropped on the viewer; the project saved
(Ctrl+S and autosave) and reopened with the film; the coverage strip follows the edits;
the preview of a guided frame is the guided export's frame.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from gui_helpers import WAIT, open_film, wait_colorized, wait_scanned
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from flowchroma_core.guidance.project import load_project, project_path_for
from flowchroma_core.settings import Settings, save_settings
from flowchroma_gui.guidance_model import in_gamut, lab_to_srgb, snap_ab, srgb_to_lab
from flowchroma_gui.qt_main_window import MainWindow
from flowchroma_gui.qthreading import live_workers


def _write_film(path: Path, n: int = 12) -> Path:
    rng = np.random.default_rng(0)
    base = (rng.random((48, 64)) * 200 + 20).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"crf": "0"}
        for i in range(n):
            grey = np.roll(base, 2 * i, axis=1)
            frame = av.VideoFrame.from_ndarray(np.repeat(grey[..., None], 3, 2), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def tiny_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from flowchroma_core.model.files import save_model
    from flowchroma_core.model.network import TINY_V2_CONFIG, create_model

    path = tmp_path_factory.mktemp("v2") / "tiny_v2.safetensors"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLOWCHROMA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "backbone-cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        torch.manual_seed(0)
        model = create_model(TINY_V2_CONFIG, backbone_weights="pretrained")
        with torch.no_grad():
            model.bins.copy_(torch.randn(TINY_V2_CONFIG.colour_bins, 2) * 40)
            # a fresh model starts blind to its guidance inputs (zero weights): open them
            model.encoder[0].weight[:, 1:].normal_(0, 0.5)
            for fuse in (model.fuse16, model.fuse8, model.fuse4):
                fuse.weight[:, -6:].normal_(0, 0.5)
        save_model(model, path)
    return path


@pytest.fixture
def film(tmp_path: Path) -> Path:
    return _write_film(tmp_path / "film.mp4")


@pytest.fixture
def still(tmp_path: Path) -> Path:
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (200, 40, 40)  # red left half, blue right half (RGB)
    image[:, 32:] = (40, 60, 200)
    path = tmp_path / "graded.png"
    cv2.imwrite(str(path), image[..., ::-1])
    return path


@pytest.fixture
def gwin(qtbot, tiny_v2: Path):
    save_settings(Settings(model=str(tiny_v2), window_frames=4))
    win = MainWindow()
    win.show()
    qtbot.waitUntil(lambda: win.core is not None, timeout=WAIT)
    yield win
    win.shutdown()
    win.close()
    assert live_workers() == []


def _pane_pos(win: MainWindow, x: float, y: float) -> QPoint:
    """Pane coordinates of the frame fraction (x, y) on the source pane."""
    pane = win.viewer.left_pane
    image = win.viewer.source_image
    assert image is not None
    p = pane.transform().map(QPointF(x * image.width(), y * image.height()))
    return p.toPoint()


def _click(
    qtbot,
    win: MainWindow,
    x: float,
    y: float,
    button=Qt.MouseButton.LeftButton,
    mods=Qt.KeyboardModifier.NoModifier,
) -> None:
    qtbot.mouseClick(win.viewer.left_pane, button, mods, _pane_pos(win, x, y))


def _close_popover(win: MainWindow) -> None:
    win.guidance.editor.popover.hide()


def _points(win: MainWindow) -> list:
    return win.guidance.doc.all_points()


def test_add_move_delete_point_with_undo(qtbot, gwin: MainWindow, film: Path) -> None:
    open_film(qtbot, gwin, film)
    g = gwin.guidance
    g.points_action.trigger()
    assert g.editor.enabled
    _click(qtbot, gwin, 0.25, 0.5)
    _close_popover(gwin)
    assert len(_points(gwin)) == 1
    p = _points(gwin)[0]
    assert p.frame == 0 and abs(p.x - 0.25) < 0.03 and abs(p.y - 0.5) < 0.03
    # drag it
    pane = gwin.viewer.left_pane
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=_pane_pos(gwin, 0.25, 0.5))
    qtbot.mouseMove(pane, _pane_pos(gwin, 0.6, 0.3))
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=_pane_pos(gwin, 0.6, 0.3))
    moved = _points(gwin)[0]
    assert abs(moved.x - 0.6) < 0.03 and abs(moved.y - 0.3) < 0.03
    assert g.undo_stack.count() == 2  # add, move: one edit for the whole drag
    # wheel resizes the point under the cursor
    g.editor.resize(moved, 0.05)
    assert _points(gwin)[0].size == pytest.approx(0.05)
    g.undo_action.trigger()
    assert _points(gwin)[0].size == pytest.approx(moved.size)
    g.undo_action.trigger()  # the move
    back = _points(gwin)[0]
    assert abs(back.x - 0.25) < 0.03
    g.redo_action.trigger()
    assert abs(_points(gwin)[0].x - 0.6) < 0.03
    # right click removes; undo brings it back; Delete removes the selected one
    _click(qtbot, gwin, 0.6, 0.3, Qt.MouseButton.RightButton)
    assert _points(gwin) == []
    g.undo_action.trigger()
    assert len(_points(gwin)) == 1
    g.editor.select(_points(gwin)[0])
    g.delete_action.trigger()
    assert _points(gwin) == []


def test_popover_colour_snapped_into_gamut(qtbot, gwin: MainWindow, film: Path) -> None:
    open_film(qtbot, gwin, film)
    g = gwin.guidance
    g.points_action.trigger()
    _click(qtbot, gwin, 0.5, 0.5)
    pop = g.editor.popover
    assert pop.isVisible()
    lightness = pop.plane.lightness
    pop.plane._pick(QPointF(pop.plane.width() - 1, 0))  # a* = b* = +110: out of gamut
    p = _points(gwin)[0]
    assert in_gamut(lab_to_srgb(np.array([lightness, p.a, p.b])), tol=1e-3)
    assert p.a > 5 and p.b > 5  # same hue, chroma reduced
    g.undo_action.trigger()
    assert _points(gwin)[0].a != p.a or _points(gwin)[0].b != p.b
    pop.add_to_palette("dress red")
    assert [c.name for c in g.doc.project.palette] == ["dress red"]
    _close_popover(gwin)


def test_drop_reference_save_and_reopen(qtbot, gwin: MainWindow, film: Path, still: Path) -> None:
    open_film(qtbot, gwin, film)
    wait_scanned(qtbot, gwin)
    g = gwin.guidance
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(still))])
    drop = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    # as Qt delivers a drop on the viewer (a synthetic one skips the drag manager)
    assert g.eventFilter(gwin.viewer, drop)
    refs = g.doc.references(0)
    assert len(refs) == 1 and refs[0].frame == 0
    assert (film.parent / refs[0].path).is_file()
    assert g.reference_strip.count() == 1
    g.points_action.trigger()
    _click(qtbot, gwin, 0.3, 0.3)
    _close_popover(gwin)
    g.save_action.trigger()
    saved = load_project(project_path_for(film))
    assert len(saved.shots[0].points) == 1 and len(saved.shots[0].references) == 1
    assert str(project_path_for(film)) in g.recent.files()
    # another edit is autosaved
    _click(qtbot, gwin, 0.7, 0.7)
    _close_popover(gwin)
    qtbot.waitUntil(
        lambda: len(load_project(project_path_for(film)).shots[0].points) == 2, timeout=5000
    )
    # reopening the film reopens its project
    gwin.close_film()
    open_film(qtbot, gwin, film)
    assert len(g.doc.all_points()) == 2 and len(g.doc.references(0)) == 1
    assert g.undo_stack.count() == 0


def test_coverage_strip_follows_edits(qtbot, gwin: MainWindow, film: Path, still: Path) -> None:
    open_film(qtbot, gwin, film)
    g = gwin.guidance
    strip = g.coverage
    guess = strip.colours().copy()
    assert (guess == guess[0]).all()  # nothing guides: the model guesses everywhere
    g.points_action.trigger()
    gwin.seek(4)
    qtbot.waitUntil(lambda: gwin.viewer.source_index == 4, timeout=WAIT)
    _click(qtbot, gwin, 0.5, 0.5)
    _close_popover(gwin)
    colours = strip.colours()
    assert strip.keyframes == [4]
    assert (colours[4] != guess[4]).any()
    # decays with the distance to the keyframe
    green = colours[:, 1].astype(int)
    assert green[4] > green[8] > guess[8, 1]
    g.add_reference(still, 4)
    assert (strip.colours()[0] != colours[0]).any()  # the still covers the whole shot
    g.undo_action.trigger()
    g.undo_action.trigger()
    assert (strip.colours() == guess).all()


def _saved_guidance(win: MainWindow, film: Path) -> tuple[Any, Any, Any]:
    """The window's options and model session, and the guidance of the saved project
    built as an export builds it (the core's ``guidance_for_film``)."""
    from flowchroma_core.guidance.film_source import guidance_for_film

    options = win.settings.colorize_options()
    session = win.host.session(options)
    cfg = session.model.config
    guidance = guidance_for_film(
        film,
        model_size=(cfg.input_height, cfg.input_width),
        cut_threshold=options.cut_threshold,
        project=project_path_for(film),
    )
    return options, session, guidance


def test_guided_preview_equals_guided_export(
    qtbot, gwin: MainWindow, film: Path, still: Path, tmp_path: Path
) -> None:
    """The preview of a guided frame is the frame a guided run of the core gives."""
    from flowchroma_core.pipeline.colorizer import Colorizer
    from flowchroma_core.video.reader import luma_matrix, open_video
    from flowchroma_gui.preview import color_display

    open_film(qtbot, gwin, film)
    wait_scanned(qtbot, gwin)
    wait_colorized(qtbot, gwin, 0)
    unguided = np.array(gwin.cache.get(gwin.current_key()))
    g = gwin.guidance
    g.add_reference(still, 0)
    g.points_action.trigger()
    _click(qtbot, gwin, 0.5, 0.5)
    g.editor.popover.plane._pick(QPointF(150, 40))  # a saturated colour
    _close_popover(gwin)
    g.editor.resize(g.doc.all_points()[0], 0.2)
    assert gwin.current_key().guidance != ""
    gwin.seek(5)
    wait_colorized(qtbot, gwin, 5)
    shown = np.array(gwin.cache.get(gwin.current_key()))
    g.save()
    options, session, guidance = _saved_guidance(gwin, film)
    with open_video(film) as reader:
        info = reader.info
        matrix = luma_matrix(info)
        frames = list(
            Colorizer(session).run(
                reader.frames(0, None), options.replace(matrix=matrix), guidance=guidance
            )
        )
    export = color_display(
        frames[5], bit_depth=info.bit_depth, color_range=info.color_range, matrix=matrix
    )
    assert np.array_equal(shown, export)
    gwin.seek(0)
    wait_colorized(qtbot, gwin, 0)
    assert not np.array_equal(np.array(gwin.cache.get(gwin.current_key())), unguided)


def test_the_approximate_frame_is_guided(qtbot, gwin: MainWindow, film: Path) -> None:
    """Far from where the stream stands, the stand-in frame shown at once already carries
    the shot's points: the frame colorized alone with its shot's guidance."""
    from flowchroma_core.pipeline.colorizer import Colorizer
    from flowchroma_core.video.reader import luma_matrix, open_video
    from flowchroma_gui.preview import PreviewApproximate, color_display

    open_film(qtbot, gwin, film)
    wait_scanned(qtbot, gwin)
    wait_colorized(qtbot, gwin, 0)
    g = gwin.guidance
    g.points_action.trigger()
    _click(qtbot, gwin, 0.5, 0.5)
    g.editor.popover.plane._pick(QPointF(150, 40))
    _close_popover(gwin)
    g.editor.resize(g.doc.all_points()[0], 0.3)
    wait_colorized(qtbot, gwin, 0)
    g.save()
    approximate: dict[int, np.ndarray] = {}

    def record(_request_id: int, event: object) -> None:
        if isinstance(event, PreviewApproximate):
            approximate[event.key.frame] = np.array(event.image)

    gwin.preview_thread.event.connect(record)
    gwin.seek(9)  # the stream stands at the end of frame 0's window of 4
    wait_colorized(qtbot, gwin, 9)
    assert 9 in approximate
    options, session, guidance = _saved_guidance(gwin, film)
    with open_video(film) as reader:
        info = reader.info
        opts = options.replace(matrix=luma_matrix(info), cut_threshold=0.0)
        alone = {
            guided: next(
                iter(
                    Colorizer(session).run(
                        [reader[9]],
                        opts,
                        guidance=guidance if guided else None,
                        shot_start=0 if guided else None,
                    )
                )
            )
            for guided in (True, False)
        }
    shown = {
        guided: color_display(
            out, bit_depth=info.bit_depth, color_range=info.color_range, matrix=opts.matrix
        )
        for guided, out in alone.items()
    }
    assert np.array_equal(approximate[9], shown[True])
    assert not np.array_equal(shown[True], shown[False])


def test_the_vividness_slider_shows_what_colours_the_frame(
    qtbot, gwin: MainWindow, film: Path
) -> None:
    """Unset in the settings, the slider shows the loaded model's default; moved, it
    sets the settings; settings with a vividness put it there."""
    from flowchroma_core.model.files import load_model

    default = load_model(gwin.settings.model)[0].config.vividness
    slider = gwin.guidance.vividness
    assert gwin.settings.vividness is None
    open_film(qtbot, gwin, film)
    wait_colorized(qtbot, gwin, 0)
    qtbot.waitUntil(lambda: slider.value() == round(default * 100), timeout=WAIT)
    slider.setValue(90)
    qtbot.waitUntil(lambda: gwin.settings.vividness == 0.9, timeout=WAIT)
    gwin.apply_settings(dataclasses.replace(gwin.settings, vividness=0.25))
    assert slider.value() == 25 and gwin.settings.vividness == 0.25  # not applied twice


def test_a_snapshot_is_not_changed_by_later_edits(tmp_path: Path) -> None:
    """The preview thread reads a snapshot while the restorer goes on editing."""
    from flowchroma_core.guidance.project import PaletteColour, Point, new_project
    from flowchroma_gui.guidance_model import GuidanceDoc

    film = _write_film(tmp_path / "film.mkv")
    doc = GuidanceDoc(new_project(film, frames=12, rate="24"), tmp_path / "p.json")
    first = doc.add_point(Point(2, 0.5, 0.5, 20.0, 10.0, 0.05))
    snap = doc.snapshot()
    before = repr(snap)
    doc.replace_point(first, Point(2, 0.2, 0.2, -5.0, 3.0, 0.05))
    doc.add_point(Point(9, 0.1, 0.9, 1.0, 1.0, 0.05))
    doc.set_palette([PaletteColour("dress red", 40.0, 30.0)])
    doc.set_cuts([6])
    assert repr(snap) == before
    assert snap.shots[0].points == [first]


def test_lab_maths() -> None:
    lab = srgb_to_lab(np.array([[0.8, 0.2, 0.1], [0.5, 0.5, 0.5]]))
    assert np.allclose(lab_to_srgb(lab), [[0.8, 0.2, 0.1], [0.5, 0.5, 0.5]], atol=1e-6)
    assert abs(lab[1, 1]) < 1e-3 and abs(lab[1, 2]) < 1e-3
    a, b = snap_ab(90.0, 80.0, -80.0)  # a light, saturated purple does not exist
    assert in_gamut(lab_to_srgb(np.array([90.0, a, b])), tol=1e-3)
    assert a / b == pytest.approx(-1.0)
    assert snap_ab(50.0, 10.0, 10.0) == (10.0, 10.0)
