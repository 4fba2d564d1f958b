"""The project file: round trip, atomic save, one-line errors naming the file, hashing."""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

import pytest

from flowchroma_core.guidance import project as proj
from flowchroma_core.guidance.project import (
    SCHEMA,
    PaletteColour,
    Point,
    ProjectError,
    ReferenceStill,
    Shot,
    load_project,
    new_project,
    project_path_for,
    save_project,
    source_hash,
)


@pytest.fixture
def film(tmp_path: Path) -> Path:
    path = tmp_path / "reel1.mkv"
    path.write_bytes(b"not really a film, but bytes to hash" * 100)
    return path


def _project(film: Path) -> proj.Project:
    project = new_project(film, frames=360, rate=Fraction(30000, 1001))
    project.shots = [
        Shot(
            0,
            134,
            keyframes=[0, 60],
            points=[Point(frame=0, x=0.41, y=0.65, a=52.1, b=31.4, size=0.02, label="dress")],
            references=[ReferenceStill(path="refs/ref_000000.png", frame=0)],
        ),
        Shot(134, 360),
    ]
    project.palette = [PaletteColour("dress red", 52.1, 31.4)]
    return project


def test_round_trip_keeps_everything(film: Path) -> None:
    project = _project(film)
    path = project_path_for(film)
    assert path.name == "reel1.flowchroma.json"
    save_project(project, path)
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA == "flowchroma.project/1"
    assert data["source"]["rate"] == "30000/1001"
    assert data["source"]["hash"] == "size+head+tail 8MiB"
    loaded = load_project(path, film=film)
    assert loaded == project
    assert loaded.shot_of(133) is loaded.shots[0] and loaded.shot_of(134) is loaded.shots[1]
    assert loaded.source.rate_fraction == Fraction(30000, 1001)


def test_save_is_atomic(film: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(film)
    path = film.with_name("p.flowchroma.json")
    save_project(project, path)
    before = path.read_text()

    project.palette.append(PaletteColour("sky", -5.0, -30.0))
    real_write = Path.write_text

    def half_write(self: Path, text: str, *args: object, **kwargs: object) -> int:
        real_write(self, text[: len(text) // 2])  # a crash half-way through the write
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", half_write)
    with pytest.raises(OSError, match="disk full"):
        save_project(project, path)
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["p.flowchroma.json", "reel1.mkv"]


def _write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _valid(film: Path) -> dict:
    return _project(film).to_json()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("source"), 'project: missing field "source"'),
        (lambda d: d["source"].pop("frames"), 'source: missing field "frames"'),
        (
            lambda d: d["source"].update(frames="360"),
            "source.frames: expected an integer, got a string",
        ),
        (lambda d: d["source"].update(rate="fast"), 'source.rate: "fast" is not a rate'),
        (
            lambda d: d["shots"][0]["points"][0].update(x=1.5),
            r"shots\[0\].points\[0\].x: must be in \[0, 1\]",
        ),
        (
            lambda d: d["shots"][0]["points"][0].pop("a"),
            r'shots\[0\].points\[0\]: missing field "a"',
        ),
        (
            lambda d: d["shots"][0]["points"][0].update(frame=200),
            r"frame 200 is outside the shot \[0, 134\)",
        ),
        (lambda d: d["shots"][1].update(start=100), "overlap"),
        (lambda d: d["shots"][1].update(end=400), "past the film's 360 frames"),
        (lambda d: d.update(palette={"a": 1}), "palette: expected a list, got an object"),
        (lambda d: d.update(schema="flowchroma.project/2"), "made by a newer FlowChroma"),
        (lambda d: d.update(schema="something/1"), "is not a FlowChroma project"),
    ],
)
def test_bad_files_give_one_line_naming_file(film: Path, mutate, expected: str) -> None:
    data = _valid(film)
    mutate(data)
    path = _write(film.with_name("bad.flowchroma.json"), data)
    with pytest.raises(ProjectError, match=expected) as info:
        load_project(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ") and "\n" not in message


def test_malformed_json_names_file_and_place(film: Path) -> None:
    path = _write(film.with_name("x.flowchroma.json"), '{"schema": "flowchroma.project/1",\n oops}')
    with pytest.raises(ProjectError, match=r"x.flowchroma.json: not valid JSON \(line 2"):
        load_project(path)
    with pytest.raises(ProjectError, match="no such project file"):
        load_project(film.with_name("absent.json"))


def test_other_film_warns_and_still_loads(film: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = project_path_for(film)
    save_project(_project(film), path)
    other = film.with_name("reel1-regrade.mkv")
    other.write_bytes(b"different bytes")
    with caplog.at_level(logging.WARNING):
        project = load_project(path, film=other)
    assert project.shots[0].points[0].frame == 0
    assert any("made for another file" in r.message for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_project(path, film=film)
    assert not caplog.records


def test_hash_is_size_head_and_tail(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    chunk = proj.HASH_CHUNK
    data = bytearray(b"\x01" * (2 * chunk + 1000))
    big.write_bytes(data)
    first = source_hash(big)
    data[chunk + 500] = 7  # the middle is not read: documented speed trade-off
    big.write_bytes(data)
    assert source_hash(big) == first
    data[-1] = 7  # the tail is
    big.write_bytes(data)
    assert source_hash(big) != first
    big.write_bytes(bytes(data) + b"\x01")  # and the size
    assert source_hash(big) != first
