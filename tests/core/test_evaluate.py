"""Evaluation against colour originals on a real DAVIS sequence, with a tiny model on CPU."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from flowchroma_core.cli import build_parser
from flowchroma_core.evaluation import run as ev
from flowchroma_core.model.network import TINY_CONFIG, FlowChroma
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import open_video, read_rgb

FRAMES = 12
SHEET_FRAMES = 2


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """The tiny model's small kernels gain nothing from threads, and on a busy machine
    OpenMP's spinning barriers make them many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


OPTIONS = ColorizeOptions(window_frames=4)


@pytest.fixture(scope="module")
def session() -> ModelSession:
    torch.manual_seed(0)
    return ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"))


@pytest.fixture(scope="module")
def sequence(shared_data: Path) -> Path:
    path = shared_data / "davis" / "blackswan"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="module")
def report(
    session: ModelSession, sequence: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ev.EvalReport, Path]:
    out = tmp_path_factory.mktemp("eval")
    result = ev.evaluate(
        [sequence],
        session=session,
        options=OPTIONS,
        max_frames=FRAMES,
        every=5,
        out_json=out / "report.json",
        contact_sheet=out / "sheet.png",
        sheet_frames=SHEET_FRAMES,
    )
    return result, out


def test_report_has_every_method_with_plausible_values(report) -> None:
    result, _ = report
    (video,) = result.videos
    assert result.methods == ("model", "no colour", "per-frame")
    assert set(video.methods) == set(ev.METHODS)
    assert video.frames == FRAMES
    assert video.sampled == 3  # frames 0, 5 and 10
    grey = video.methods["no colour"]
    assert grey.colourfulness == 0.0
    assert 15.0 < grey.psnr < 40.0
    assert 0.5 < grey.ssim < 1.0
    assert video.original.colourfulness > 10.0
    for scores in video.methods.values():
        assert all(math.isfinite(getattr(scores, name)) for name in scores.__dataclass_fields__)
    # without its state the network gives other colours than with it
    assert video.methods["per-frame"] != video.methods["model"]
    assert result.mean()["no colour"] == grey  # one video: the mean is that video


def test_json_is_written_and_strict(report) -> None:
    result, out = report
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["methods"] == list(ev.METHODS)
    assert data["videos"][0]["name"] == "blackswan"
    assert data["videos"][0]["frames"] == FRAMES
    no_colour = data["mean"]["methods"]["no colour"]
    assert no_colour["psnr"] == pytest.approx(result.videos[0].methods["no colour"].psnr)
    assert set(no_colour) == {"psnr", "ssim", "colourfulness", "cdc", "warp_error"}
    assert not list(out.glob(".*partial*"))  # nothing left over from the atomic write


def test_contact_sheet_layout(report, sequence: Path) -> None:
    """Rows of [grey | ours | original] at full size (427 px wide fits 3 x 427 < 2000)."""
    _, out = report
    sheet = cv2.cvtColor(cv2.imread(str(out / "sheet.png")), cv2.COLOR_BGR2RGB)
    originals = list(read_rgb(sequence, max_frames=FRAMES))
    h, w = originals[0].shape[:2]
    assert sheet.shape == (SHEET_FRAMES * h, 3 * w, 3)
    assert sheet.shape[0] % SHEET_FRAMES == 0
    for row, index in enumerate(ev.sample_indices(FRAMES, SHEET_FRAMES)):
        band = sheet[row * h : (row + 1) * h]
        lower = slice(h // 2, h)  # below the labels
        grey = band[lower, :w]
        assert np.array_equal(grey[..., 0], grey[..., 1])
        assert np.array_equal(grey[..., 1], grey[..., 2])
        assert np.array_equal(band[lower, 2 * w :], originals[index][lower])
        assert not np.array_equal(band[lower, w : 2 * w], grey)  # ours has colour


def test_grey_is_the_pipeline_input(sequence: Path) -> None:
    """The no-colour picture is the source's own luma in all three channels."""
    with open_video(sequence) as reader:
        frame = reader[0]
        info = reader.info
    rgb = ev.to_rgb8(frame.luma, None, None, info=info, matrix="bt601")
    assert info.color_range == "pc" and info.bit_depth == 8
    np.testing.assert_array_equal(rgb[..., 1], frame.luma)
    zero = np.zeros(frame.luma.shape, np.float32)
    np.testing.assert_array_equal(
        ev.to_rgb8(frame.luma, zero, zero, info=info, matrix="bt601"), rgb
    )


def test_no_colour_alone_needs_no_model(sequence: Path, monkeypatch) -> None:
    def no_model(*args: object, **kwargs: object) -> ModelSession:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(ModelSession, "load", no_model)
    result = ev.evaluate([sequence], methods=("no colour",), max_frames=6)
    assert list(result.videos[0].methods) == ["no colour"]
    assert "no colour" in result.table() and "original" in result.table()


def test_bad_options_are_refused(sequence: Path) -> None:
    with pytest.raises(ValueError, match="allowed: model, no colour, per-frame"):
        ev.evaluate([sequence], methods=("sepia",))
    with pytest.raises(ValueError, match="every"):
        ev.evaluate([sequence], methods=("no colour",), every=0)


def test_black_and_white_contact_sheet(
    session: ModelSession, shared_data: Path, tmp_path
) -> None:
    film = shared_data / "bw" / "chaplin.mp4"
    if not film.is_file():
        pytest.skip(f"{film} is absent")
    out = ev.black_and_white_sheet(
        [film], session, tmp_path / "bw.png", 2, options=OPTIONS, max_frames=8
    )
    sheet = cv2.imread(str(out))
    with open_video(film) as reader:
        w, h = reader.info.width, reader.info.height
    assert sheet.shape[1] == 2 * w  # [grey | ours]
    assert sheet.shape[0] == 2 * h


def test_eval_command(
    session: ModelSession, sequence: Path, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(ModelSession, "load", lambda *a, **k: session)
    parser = build_parser()
    args = parser.parse_args(
        ["eval", str(sequence), "--max-frames", "6", "--no-baselines", "--out-json",
         str(tmp_path / "r.json")]
    )  # fmt: skip
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "model" in printed and "per-frame" not in printed
    assert json.loads((tmp_path / "r.json").read_text())["methods"] == ["model"]


def test_eval_command_black_and_white(
    session: ModelSession, shared_data: Path, tmp_path, monkeypatch, capsys
) -> None:
    """``--black-and-white`` writes the [grey | ours] sheet of films with no original."""
    monkeypatch.setattr(ModelSession, "load", lambda *a, **k: session)
    parser = build_parser()
    film = shared_data / "bw" / "chaplin.mp4"
    sheet = tmp_path / "bw.png"
    args = parser.parse_args(
        ["eval", str(film), "--black-and-white", "--max-frames", "6", "--sheet-frames", "2",
         "--contact-sheet", str(sheet)]
    )  # fmt: skip
    assert args.func(args) == 0
    assert cv2.imread(str(sheet)).shape == (2 * 360, 2 * 640, 3)
    args = parser.parse_args(["eval", str(film), "--black-and-white"])
    with pytest.raises(ev.EvaluationError, match="needs --contact-sheet"):
        args.func(args)


def test_a_data_set_folder_means_its_sequences(shared_data: Path) -> None:
    davis = shared_data / "davis"
    sequences = ev.expand_inputs([davis])
    assert len(sequences) == 20 and all(p.parent == davis for p in sequences)
    assert ev.expand_inputs([davis / "cows"]) == [davis / "cows"]
