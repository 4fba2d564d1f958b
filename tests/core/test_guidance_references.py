"""Reference stills: reading, refusing, fitting like frames, naming on the command line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from flowchroma_core.colour.lab import rgb_to_lab
from flowchroma_core.guidance.references import (
    ReferenceError,
    ReferenceSpec,
    assign_to_shots,
    check_frames,
    fit_reference,
    load_reference,
    parse_reference_arg,
    read_image,
    scan_reference_dir,
    shot_index,
)


def _save(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


def _red(h: int = 30, w: int = 40) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    image[...] = (200, 30, 40)
    return image


@pytest.mark.parametrize("ext", ["png", "jpg", "tif"])
def test_reads_common_formats_as_rgb(tmp_path: Path, ext: str) -> None:
    rgb = read_image(_save(tmp_path / f"r.{ext}", _red()))
    assert rgb.shape == (3, 30, 40)
    assert rgb[:, 10, 10].tolist() == pytest.approx([200 / 255, 30 / 255, 40 / 255], abs=0.03)


def test_sixteen_bit_png(tmp_path: Path) -> None:
    image = (_red().astype(np.uint16) * 257)[..., ::-1]
    cv2.imwrite(str(tmp_path / "r16.png"), np.ascontiguousarray(image))
    rgb = read_image(tmp_path / "r16.png")
    assert rgb[0, 0, 0].item() == pytest.approx(200 / 255, abs=1e-4)


def test_refuses_unreadable_and_grey(tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is no png")
    with pytest.raises(ReferenceError, match=r"junk.png: cannot be read as an image"):
        load_reference(ReferenceSpec(0, junk))
    with pytest.raises(ReferenceError, match=r"missing.png: no such reference image"):
        load_reference(ReferenceSpec(0, tmp_path / "missing.png"))
    grey = np.repeat(np.linspace(0, 255, 40, dtype=np.uint8)[None, :, None], 30, 0)
    grey = np.repeat(grey, 3, 2)
    path = _save(tmp_path / "still.jpg", grey)
    with pytest.raises(ReferenceError) as info:
        load_reference(ReferenceSpec(0, path))
    assert str(info.value).startswith(f"{path}: is grey")
    assert "a reference must be in colour" in str(info.value)
    assert load_reference(ReferenceSpec(3, _save(tmp_path / "red.png", _red()))).frame == 3


def test_fit_letterboxes_like_frames_and_normalises_lab() -> None:
    rgb = torch.from_numpy(_red(100, 100)).permute(2, 0, 1).float() / 255  # square still
    lab, placement = fit_reference(rgb, 60, 80)  # into a 4:3 model input
    assert lab.shape == (3, 60, 80)
    assert (placement.left, placement.inner_w, placement.inner_h) == (10, 60, 60)
    truth = rgb_to_lab(rgb[:, :1, :1])[:, 0, 0]
    expected = torch.stack([truth[0] / 50 - 1, truth[1] / 110, truth[2] / 110])
    assert torch.allclose(lab[:, 30, 40], expected, atol=1e-3)
    assert torch.allclose(lab[:, 30, 2], torch.tensor([1.0, 0.0, 0.0]), atol=1e-3)  # white pad


@pytest.mark.parametrize(
    ("text", "frame", "path"),
    [
        ("12:stills/a.png", 12, "stills/a.png"),
        ("0:C:\\stills\\dress.png", 0, "C:\\stills\\dress.png"),
        ("120:D:/refs/ref:odd.png", 120, "D:/refs/ref:odd.png"),
    ],
)
def test_parse_reference_splits_at_first_colon(text: str, frame: int, path: str) -> None:
    spec = parse_reference_arg(text)
    assert spec.frame == frame and str(spec.path) == str(Path(path))


@pytest.mark.parametrize("text", ["C:\\stills\\a.png", "a.png", "x1:a.png", "-1:a.png", "5:"])
def test_parse_reference_refuses(text: str) -> None:
    with pytest.raises(ReferenceError, match="expected FRAME:IMAGE"):
        parse_reference_arg(text)


def test_reference_dir_and_shots(tmp_path: Path) -> None:
    for frame in (0, 150, 40):
        _save(tmp_path / f"ref_{frame:06d}.png", _red())
    (tmp_path / "notes.txt").write_text("x")
    specs = scan_reference_dir(tmp_path)
    assert [s.frame for s in specs] == [0, 40, 150]
    with pytest.raises(ReferenceError, match="outside the film"):
        check_frames(specs, 150)
    check_frames(specs, 151)
    cuts = [0, 40, 100]
    assert [shot_index(f, cuts) for f in (0, 39, 40, 99, 100, 500)] == [0, 0, 1, 1, 2, 2]
    shots = assign_to_shots(specs, cuts)
    assert {k: [s.frame for s in v] for k, v in shots.items()} == {0: [0], 1: [40], 2: [150]}
    with pytest.raises(ReferenceError, match="no reference stills named"):
        scan_reference_dir(tmp_path / "..")
