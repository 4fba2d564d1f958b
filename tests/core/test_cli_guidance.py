"""``flowchroma colorize --reference/--references/--project``, ``flowchroma frame`` and
``flowchroma eval --guidance``: real films written by PyAV, a tiny v2 model file; bad
guidance is one clear line and exit 1 (before the model loads where it can be), a project
made for another file only warns."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from guidance_media import panning
from test_guided_colorize import write_film

from flowchroma_core.cli import main
from flowchroma_core.guidance.project import (
    Point,
    ReferenceStill,
    Shot,
    new_project,
    save_project,
)
from flowchroma_core.model.files import save_model
from flowchroma_core.model.network import TINY_V2_CONFIG, create_model
from flowchroma_core.model.session import ModelSession
from flowchroma_core.video.reader import open_video

FRAMES = 12


@pytest.fixture(autouse=True)
def _cli_logging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FLOWCHROMA_LOG_DIR", str(tmp_path / "logs"))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli_guidance")
    frames = panning(FRAMES, 48, 64, dx=2, seed=3)
    film = write_film(folder / "film.mp4", frames)
    colour = folder / "colour.png"
    cv2.imwrite(str(colour), cv2.resize(frames[2], (90, 40))[..., ::-1])
    grey = folder / "grey.png"
    cv2.imwrite(str(grey), cv2.cvtColor(frames[2], cv2.COLOR_RGB2GRAY))
    (folder / "broken.png").write_bytes(b"not an image at all")
    seq = folder / "seq"  # a colour "DAVIS sequence": a folder of JPEG frames
    seq.mkdir()
    for i, f in enumerate(frames[:8]):
        cv2.imwrite(str(seq / f"{i:05d}.jpg"), f[..., ::-1])
    torch.manual_seed(0)
    model = create_model(TINY_V2_CONFIG, backbone_weights="pretrained")
    with torch.no_grad():
        model.bins.copy_(torch.randn(TINY_V2_CONFIG.colour_bins, 2) * 40)
    save_model(model, folder / "v2.safetensors")
    return {
        "folder": folder,
        "film": film,
        "colour": colour,
        "grey": grey,
        "broken": folder / "broken.png",
        "seq": seq,
        "model": folder / "v2.safetensors",
    }


def _run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(code: int, err: str, *words: str) -> str:
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the bad guidance was noticed")

    monkeypatch.setattr(ModelSession, "load", refuse)


def test_frame_writes_the_decoded_frame_as_an_8_bit_png(capsys, media, tmp_path) -> None:
    out = tmp_path / "still.png"
    code, stdout, _ = _run(capsys, "frame", media["film"], 5, "-o", out)
    assert code == 0 and "frame 5" in stdout
    image = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
    with open_video(media["film"]) as reader:
        luma = reader[5].gray()
    expected = np.floor(luma * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(image[..., 0], expected)
    np.testing.assert_array_equal(image[..., 1], image[..., 2])


def test_frame_outside_the_film_is_one_line(capsys, media, tmp_path) -> None:
    code, _, err = _run(capsys, "frame", media["film"], FRAMES, "-o", tmp_path / "s.png")
    _one_line(code, err, "frame 12 is outside the film", "0 to 11")
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize(
    ("which", "words"),
    [
        ("frame", ("frame 40 is outside the film",)),
        ("grey", ("is grey", "a reference must be in colour")),
        ("broken", ("cannot be read as an image",)),
        ("missing", ("no such reference image",)),
        ("syntax", ("expected FRAME:IMAGE",)),
    ],
)
def test_bad_reference_is_one_line_before_the_model_loads(
    capsys, media, tmp_path, no_model, which, words
) -> None:
    arg = {
        "frame": f"40:{media['colour']}",
        "grey": f"3:{media['grey']}",
        "broken": f"3:{media['broken']}",
        "missing": f"3:{tmp_path / 'lost.png'}",
        "syntax": str(media["colour"]),
    }[which]
    out = tmp_path / "out.mkv"
    code, _, err = _run(capsys, "colorize", media["film"], "-o", out, "--reference", arg)
    _one_line(code, err, *words)
    assert not out.exists()


def test_references_folder_without_stills_is_one_line(capsys, media, tmp_path, no_model):
    empty = tmp_path / "refs"
    empty.mkdir()
    code, _, err = _run(
        capsys, "colorize", media["film"], "-o", tmp_path / "o.mkv", "--references", empty
    )
    _one_line(code, err, "no reference stills named ref_NNNNNN.png")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", ("not valid JSON",)),
        (json.dumps({"schema": "flowchroma.project/9"}), ("newer",)),
    ],
)
def test_bad_project_is_one_line(capsys, media, tmp_path, no_model, text, words) -> None:
    project = tmp_path / "film.flowchroma.json"
    project.write_text(text, encoding="utf-8")
    code, _, err = _run(
        capsys, "colorize", media["film"], "-o", tmp_path / "o.mkv", "--project", project
    )
    _one_line(code, err, str(project), *words)


def test_guidance_with_an_old_model_is_refused_in_one_line(
    capsys, media, tmp_path, tiny_model
) -> None:
    out = tmp_path / "out.mkv"
    code, _, err = _run(
        capsys,
        "colorize",
        media["film"],
        "-o",
        out,
        "--model",
        tiny_model,
        "--quiet",
        "--reference",
        f"3:{media['colour']}",
    )
    _one_line(code, err, "this model has no guidance inputs; use a v2 model")
    assert not out.exists()


def test_colorize_with_stills_and_a_project(capsys, media, tmp_path) -> None:
    refs = tmp_path / "refs"
    refs.mkdir()
    (refs / "ref_000007.png").write_bytes(media["colour"].read_bytes())
    (refs / "notes.txt").write_text("ignored", encoding="utf-8")
    out = tmp_path / "out.mp4"
    code, stdout, err = _run(
        capsys,
        "colorize",
        media["film"],
        "-o",
        out,
        "--model",
        media["model"],
        "--quiet",
        "--reference",
        f"2:{media['colour']}",
        "--references",
        refs,
    )
    assert code == 0, err
    assert f"{FRAMES} frames" in stdout
    with open_video(out) as reader:
        assert len(reader) == FRAMES

    # a project made for another file: a warning, and the work goes on
    other = media["folder"] / "other.mp4"
    write_film(other, panning(FRAMES, 48, 64, dx=1, seed=9))
    project = new_project(other, frames=FRAMES, rate="24")
    project.shots = [
        Shot(
            0,
            FRAMES,
            keyframes=[4],
            points=[Point(4, 0.5, 0.5, 40.0, 20.0, 0.1, "coat")],
            references=[ReferenceStill("still.png", 4)],
        )
    ]
    (tmp_path / "still.png").write_bytes(media["colour"].read_bytes())
    path = tmp_path / "film.flowchroma.json"
    save_project(project, path)
    out2 = tmp_path / "out2.mp4"
    code, _, err = _run(
        capsys,
        "colorize",
        media["film"],
        "-o",
        out2,
        "--model",
        media["model"],
        "--quiet",
        "--project",
        path,
    )
    assert code == 0, err
    assert "made for another file" in err and "WARNING" in err
    assert out2.exists()


def test_eval_guidance_reports_all_methods_and_distances(capsys, media) -> None:
    for mode in ("first-frame", "points:3"):
        code, stdout, err = _run(
            capsys,
            "eval",
            media["seq"],
            "--model",
            media["model"],
            "--guidance",
            mode,
            "--every",
            "2",
        )
        assert code == 0, err
        assert f"guidance: {mode}" in stdout
        for method in ("no colour", "automatic", "pasted", "flow", "guided"):
            assert f"\n{method}" in stdout, (method, stdout)
        assert "by distance from the keyframe" in stdout
        # 8 frames, every 2nd from 2: distances 2, 4 and 6
        assert "1-5" in stdout and "6-10" in stdout and "11-20" not in stdout
    code, _, err = _run(capsys, "eval", media["seq"], "--guidance", "points:x")
    _one_line(code, err, "expected first-frame or points:N")
