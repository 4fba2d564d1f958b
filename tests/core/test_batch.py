"""``flowchroma batch`` in one process: which films an argument names, where each goes,
a failing film that does not stop the others, a cancelled batch that resumes, and outputs
identical to ``flowchroma colorize``'s."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowchroma_core.batch.driver import BatchRequest
from flowchroma_core.batch.films import BatchInputError, expand_films, plan_films
from flowchroma_core.batch.report import BatchProgress, FilmOutcome, summary_table
from flowchroma_core.cli import main
from flowchroma_core.errors import CancelToken
from flowchroma_core.pipeline.export import colorize_file
from flowchroma_core.pipeline.options import ColorizeOptions
from tests.core.batch_media import frame_planes, make_cut_film


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_arguments_name_films_folders_and_list_files(tmp_path: Path) -> None:
    a = _touch(tmp_path / "reels" / "a.mp4")
    b = _touch(tmp_path / "reels" / "b.MOV")
    _touch(tmp_path / "reels" / "notes.txt")  # a list file is only read when named
    _touch(tmp_path / "reels" / ".hidden.mp4")
    c = _touch(tmp_path / "other" / "c.mkv")
    listed = tmp_path / "other" / "list.txt"
    listed.write_text("# tonight\nc.mkv   # relative to the list\n\n" f"{a}\n")
    films = expand_films([tmp_path / "reels", listed, c])
    assert films == [a.resolve(), b.resolve(), c.resolve()]  # each once, in order

    with pytest.raises(BatchInputError, match="no such file"):
        expand_films([tmp_path / "missing.mp4"])
    with pytest.raises(BatchInputError, match="no videos in this folder"):
        expand_films([_touch(tmp_path / "empty" / "x.txt").parent])
    (tmp_path / "bad.txt").write_text("nothere.mp4\n")
    with pytest.raises(BatchInputError, match=r"listed in .*bad\.txt"):
        expand_films([tmp_path / "bad.txt"])


def test_each_film_goes_to_outdir_by_stem_and_clashes_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "x" / "reel.mp4", tmp_path / "y" / "reel.mov"
    out = tmp_path / "out"
    planned = plan_films([a], out, "prores")
    assert planned[0].destination == out.resolve() / "reel.mov"
    assert plan_films([a], out, "png")[0].destination.name == "reel.png"  # a frame folder
    with pytest.raises(BatchInputError, match="would both be written"):
        plan_films([a, b], out, "ffv1")


def test_summary_table_columns() -> None:
    done = FilmOutcome(Path("/a/reel1.mkv"), frames=240, shots=3, segments=2,
                       resumed_segments=1, seconds=12.0, result="done")  # fmt: skip
    bad = FilmOutcome(Path("/a/reel2.mkv"), result="failed", message="cannot decode")
    lines = summary_table([done, bad], wall_seconds=20.0).splitlines()
    assert lines[0].split() == ["film", "frames", "shots", "time", "fps", "result"]
    assert lines[2].split() == ["reel1.mkv", "240", "3", "12.0s", "20.00", "done", "(resumed",
                                "1/2)"]  # fmt: skip
    assert lines[3].endswith("failed: cannot decode")
    assert "2 film(s), 1 failed" in lines[-1]


def test_batch_finishes_the_others_when_one_film_fails(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "films" / "good.mkv"
    good.parent.mkdir()
    make_cut_film(good, shots=(13, 14))
    (tmp_path / "films" / "broken.mp4").write_bytes(b"not a video at all")
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "films"), "-o", str(out), "--codec", "ffv1",
            "--model", str(tiny_model), "--device", "cpu", "--quiet"]  # fmt: skip

    assert main(args) == 1
    table = capsys.readouterr().out
    assert "broken.mp4" in table and "failed" in table
    assert "good.mkv" in table and " done" in table
    # written as `colorize` writes it: every decoded plane equal (FFV1 is lossless; the
    # files differ only in Matroska's random segment UID)
    options = ColorizeOptions(model=str(tiny_model), device="cpu")
    reference = colorize_file(good, tmp_path / "ref.mkv", options=options)
    assert frame_planes(out / "good.mkv") == frame_planes(reference.output)
    assert not (out / ".good.mkv.parts").exists()

    assert main(args) == 1  # the output exists: skipped, not replaced; broken still fails
    assert "skipped" in capsys.readouterr().out


class _CancelAfterFirstSegment(BatchProgress):
    def __init__(self, cancel: CancelToken) -> None:
        super().__init__(1, enabled=False)
        self.cancel = cancel

    def segment_done(self, frames: int) -> None:
        super().segment_done(frames)
        self.cancel.cancel()


def test_a_cancelled_batch_resumes_from_its_journal(tmp_path: Path, tiny_model: Path) -> None:
    from flowchroma_core.batch.local import run_local
    from flowchroma_core.model.session import ModelSession

    film = tmp_path / "reel.mkv"
    make_cut_film(film, shots=(13, 14))
    options = ColorizeOptions(model=str(tiny_model), device="cpu")
    session = ModelSession.load(str(tiny_model), device="cpu")
    out = tmp_path / "out"
    out.mkdir()
    request = BatchRequest(tuple(plan_films([film], out, "ffv1")), options, "ffv1",
                           segment_frames=8)  # fmt: skip

    cancel = CancelToken()
    first = run_local(request, session=session, progress=_CancelAfterFirstSegment(cancel),
                      cancel=cancel)  # fmt: skip
    assert first.cancelled and first.outcomes[0].result == "cancelled"
    assert not (out / "reel.mkv").exists()
    assert (out / ".reel.mkv.parts" / "journal.json").exists()

    again = run_local(request, session=session, progress=BatchProgress(1, enabled=False))
    outcome = again.outcomes[0]
    assert (outcome.result, outcome.segments, outcome.resumed_segments) == ("done", 2, 1)
    reference = colorize_file(film, tmp_path / "ref.mkv", options=options, session=session,
                              segment_frames=8)  # fmt: skip
    assert frame_planes(out / "reel.mkv") == frame_planes(reference.output)


def test_batch_hardware_video_says_what_encoded_each_film(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowchroma_core.video import hardware

    film = tmp_path / "films" / "reel.mkv"
    film.parent.mkdir()
    make_cut_film(film, shots=(13,))
    args = ["batch", str(film), "-o", str(tmp_path / "out"), "--codec", "h264", "--hardware-video",
            "--model", str(tiny_model), "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    if hardware.hardware_encoder("libx264") is None:
        assert "note: reel.mkv: No working NVENC here; encoded in software (libx264)." in err
    else:
        assert "note: reel.mkv: Encoded on the GPU with h264_nvenc" in err
    assert (tmp_path / "out" / "reel.mp4").is_file()
