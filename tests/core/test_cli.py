"""The ``flowchroma`` command line on bad input: exit codes, one-line errors, nothing left behind.

Exit 0 done, 1 failed with one line on stderr naming the file and the problem, 130
cancelled. A failed or cancelled run leaves nothing new in the destination's folder (no
output, no ``.partial`` temporary file). Colorizing uses a tiny model written once per
session, on tiny synthetic films.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch
from media import decode_luma, make_audio, make_video

from flowchroma_core.cli import main
from flowchroma_core.model.session import ModelSession
from flowchroma_core.video.reader import open_video
from flowchroma_core.video.writer import VideoWriter

W, H, N = 64, 48, 12  # the usual test film: 64x48, 12 frames at 30000/1001
RATE = Fraction(30000, 1001)
# Frame times of the variable-frame-rate film, in milliseconds.
VFR_MS = [0, 40, 80, 160, 200, 240, 320, 360, 400, 480, 520, 560]


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every source film of this module, written once into a folder of their own."""
    folder = tmp_path_factory.mktemp("films")
    make_video(folder / "good.mp4", frames=N, width=W, height=H, rate=RATE, audio=True)
    (folder / "notes.mp4").write_text("Reel 3 is in the blue box.\n" * 20, encoding="utf-8")
    make_audio(folder / "sound.m4a")
    make_audio(folder / "sound.wav", codec="pcm_s16le")
    # Lossless H.264 makes frames big enough that a cut lands inside one of them.
    make_video(folder / "whole.ts", frames=N, width=96, height=64, gop=4, options={"crf": "0"})
    make_video(folder / "whole.mkv", frames=N, width=96, height=64, gop=4, options={"crf": "0"})
    make_video(folder / "whole.mp4", frames=N, width=96, height=64, gop=4)
    for name in ("whole.ts", "whole.mkv", "whole.mp4"):
        data = (folder / name).read_bytes()
        (folder / name.replace("whole", "cut")).write_bytes(data[: len(data) // 2])
        (folder / name.replace("whole", "stub")).write_bytes(data[: len(data) // 40])
    make_video(folder / "odd.mkv", frames=N, width=97, height=61, codec="ffv1", pix_fmt="yuv444p")
    make_video(
        folder / "vfr.mp4",
        frames=N,
        width=W,
        height=H,
        rate=Fraction(25),
        pts=VFR_MS,
        time_base=Fraction(1, 1000),
    )
    make_video(folder / "ten.mkv", frames=N, width=W, height=H, codec="ffv1", pix_fmt="yuv422p10le")
    make_video(folder / "one.mp4", frames=1, width=W, height=H)
    return folder


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty destination folder."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture(autouse=True)
def _cli_logging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A log folder outside the destination; the handlers ``main`` adds are removed after."""
    logs = tmp_path / "logs"
    monkeypatch.setenv("FLOWCHROMA_LOG_DIR", str(logs))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield logs
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model fails the test: these cases must be answered before any model work."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the problem was noticed")

    monkeypatch.setattr(ModelSession, "load", refuse)


def _tiny(model: Path) -> list[str]:
    return ["--model", str(model), "--quiet"]


def _run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _listing(folder: Path) -> set[str]:
    """Every name in a folder, hidden temporary files included."""
    return set(os.listdir(folder))


def _assert_failed(code: int, err: str, *words: str) -> str:
    """Exit 1 with exactly one line on stderr holding every word; returns the line."""
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    line = lines[0]
    assert line.startswith("flowchroma: error: "), line
    for word in words:
        assert word in line, line
    return line


def _frame_times(path: Path) -> list[Fraction]:
    """Presentation times of every decoded frame, from the first one."""
    with av.open(str(path)) as container:
        stamps = [f.pts * f.time_base for f in container.decode(video=0)]
    return [t - stamps[0] for t in stamps]


def _size_and_count(path: Path) -> tuple[int, int, int]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return frames[0].width, frames[0].height, len(frames)


# -- 1-4: inputs that are not (whole) films -----------------------------------------------


def test_missing_input(capsys, films: Path, out: Path, tiny_model: Path, no_model) -> None:
    code, _, err = _run(capsys, "colorize", films / "lost.mp4", "-o", out / "a.mkv")
    _assert_failed(code, err, "lost.mp4", "file not found")
    assert _listing(out) == set()


def test_missing_input_in_a_real_process(films: Path, out: Path, tiny_model: Path) -> None:
    command = [sys.executable, "-m", "flowchroma_core.cli", "colorize", str(films / "lost.mp4")]
    command += ["-o", str(out / "a.mkv"), *_tiny(tiny_model)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "lost.mp4: file not found" in done.stderr
    assert done.stdout == ""
    assert _listing(out) == set()


def test_a_text_file_named_mp4(capsys, films: Path, out: Path, no_model) -> None:
    code, _, err = _run(capsys, "colorize", films / "notes.mp4", "-o", out / "a.mkv")
    _assert_failed(code, err, "notes.mp4", "not a video")
    assert _listing(out) == set()


@pytest.mark.parametrize("name", ["sound.m4a", "sound.wav"])
def test_an_audio_only_file(capsys, films: Path, out: Path, no_model, name: str) -> None:
    code, _, err = _run(capsys, "colorize", films / name, "-o", out / "a.mkv")
    _assert_failed(code, err, name, "no video stream (audio only)")
    assert _listing(out) == set()


def test_a_transport_stream_cut_in_half_colorizes_what_decodes(
    capsys, films: Path, out: Path, tiny_model: Path
) -> None:
    source = films / "cut.ts"
    with open_video(source) as reader:
        readable = len(list(reader.frames()))
        concealed = list(reader.corrupt_frames)
    assert 0 < readable < N and concealed  # the cut lands inside a frame
    code, stdout, err = _run(capsys, "colorize", source, "-o", out / "a.mkv", *_tiny(tiny_model))
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert any("concealed" in n and str(concealed[0]) in n for n in notes), err
    assert "Traceback" not in err
    assert f"{readable} frames" in stdout
    assert _size_and_count(out / "a.mkv")[2] == readable
    assert _listing(out) == {"a.mkv"}


def test_a_matroska_file_cut_in_half_colorizes_what_is_left(
    capsys, films: Path, out: Path, tiny_model: Path
) -> None:
    with open_video(films / "cut.mkv") as reader:
        readable = len(reader)
    assert 0 < readable < N
    code, _, err = _run(
        capsys, "colorize", films / "cut.mkv", "-o", out / "a.mkv", *_tiny(tiny_model)
    )
    assert code == 0, err
    assert _size_and_count(out / "a.mkv")[2] == readable


@pytest.mark.parametrize("name", ["stub.ts", "stub.mkv"])
def test_a_stream_with_nothing_decodable_is_refused(
    capsys, films: Path, out: Path, no_model, name: str
) -> None:
    code, _, err = _run(capsys, "colorize", films / name, "-o", out / "a.mkv")
    _assert_failed(code, err, name)
    assert _listing(out) == set()


def test_an_mp4_cut_in_half_is_refused(capsys, films: Path, out: Path, no_model) -> None:
    code, _, err = _run(capsys, "colorize", films / "cut.mp4", "-o", out / "a.mkv")
    _assert_failed(code, err, "cut.mp4", "moov", "cut short")
    assert _listing(out) == set()


# -- 5-8: unusual films that must come out whole -----------------------------------------


@pytest.mark.parametrize("codec, ext", [("ffv1", ".mkv"), ("h264", ".mp4")])
def test_an_odd_frame_size(
    capsys, films: Path, out: Path, tiny_model: Path, codec: str, ext: str
) -> None:
    dest = out / f"odd{ext}"
    code, _, err = _run(
        capsys, "colorize", films / "odd.mkv", "-o", dest, "--codec", codec, *_tiny(tiny_model)
    )
    assert code == 0, err
    assert _size_and_count(dest) == (97, 61, N)
    if codec == "h264":
        assert "note: The frame size 97x61 is odd" in err


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_a_variable_frame_rate_keeps_count_and_times(
    capsys, films: Path, out: Path, tiny_model: Path, ext: str
) -> None:
    source, dest = films / "vfr.mp4", out / f"vfr{ext}"
    code, _, err = _run(capsys, "colorize", source, "-o", dest, *_tiny(tiny_model))
    assert code == 0, err
    expected, got = _frame_times(source), _frame_times(dest)
    assert [round(float(t) * 1000) for t in expected] == VFR_MS
    assert len(got) == N
    assert max(abs(float(a - b)) for a, b in zip(expected, got, strict=True)) <= 0.001
    with open_video(dest) as reader:
        assert reader.info.variable_frame_rate


def test_a_10_bit_film_to_ffv1_keeps_its_luma_bit_exact(
    capsys, films: Path, out: Path, tiny_model: Path
) -> None:
    source, dest = films / "ten.mkv", out / "ten.mkv"
    code, _, err = _run(capsys, "colorize", source, "-o", dest, *_tiny(tiny_model))
    assert code == 0, err
    with av.open(str(dest)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p10le"
    before, after = decode_luma(source), decode_luma(dest)
    assert len(after) == N
    for a, b in zip(before, after, strict=True):
        assert a.dtype == b.dtype == "uint16"
        assert (a == b).all()


def test_a_10_bit_film_to_h264(capsys, films: Path, out: Path, tiny_model: Path) -> None:
    dest = out / "ten.mp4"
    code, _, err = _run(capsys, "colorize", films / "ten.mkv", "-o", dest, *_tiny(tiny_model))
    assert code == 0, err
    assert "High 10" in err  # the note that browsers will not play it
    with av.open(str(dest)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
    assert _size_and_count(dest) == (W, H, N)


def test_a_one_frame_film(capsys, films: Path, out: Path, tiny_model: Path) -> None:
    dest = out / "one.mkv"
    code, stdout, err = _run(capsys, "colorize", films / "one.mp4", "-o", dest, *_tiny(tiny_model))
    assert code == 0, err
    assert "1 frames" in stdout
    assert _size_and_count(dest) == (W, H, 1)


def test_hardware_video_says_what_encoded_the_film(
    capsys, films: Path, out: Path, tiny_model: Path
) -> None:
    """--hardware-video: NVENC where it opens, else software with a note; never a failure."""
    from flowchroma_core.video import hardware

    dest = out / "a.mp4"
    args = ("colorize", films / "good.mp4", "-o", dest, "--hardware-video", *_tiny(tiny_model))
    code, _, err = _run(capsys, *args)
    assert code == 0, err
    if hardware.hardware_encoder("libx264") is None:
        assert "note: No working NVENC here; encoded in software (libx264)." in err
    else:
        assert "note: Encoded on the GPU with h264_nvenc" in err
    assert _size_and_count(dest) == (W, H, N)
    code, _, err = _run(capsys, *args[:3], out / "b.mp4", *_tiny(tiny_model))  # off: no note
    assert code == 0 and "NVENC" not in err


# -- 9-12: destinations, refused before any model work -----------------------------------


def test_a_destination_folder_that_does_not_exist(capsys, films: Path, out: Path, no_model) -> None:
    code, _, err = _run(capsys, "colorize", films / "good.mp4", "-o", out / "reel2" / "a.mkv")
    _assert_failed(code, err, str(out / "reel2"), "does not exist")
    assert _listing(out) == set()


def test_a_destination_whose_folder_is_a_file(capsys, films: Path, out: Path, no_model) -> None:
    (out / "reel2").write_text("not a folder", encoding="utf-8")
    code, _, err = _run(capsys, "colorize", films / "good.mp4", "-o", out / "reel2" / "a.mkv")
    _assert_failed(code, err, str(out / "reel2"), "is a file, not a folder")
    assert _listing(out) == {"reel2"}


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0,
    reason="POSIX permissions; root may write anywhere (the file-as-folder case covers it)",
)
def test_a_read_only_destination_folder(capsys, films: Path, out: Path, no_model) -> None:
    out.chmod(0o555)
    try:
        code, _, err = _run(capsys, "colorize", films / "good.mp4", "-o", out / "a.mkv")
    finally:
        out.chmod(0o755)
    _assert_failed(code, err, str(out), "not writable")
    assert _listing(out) == set()


def test_the_destination_is_the_input(capsys, films: Path, no_model) -> None:
    source = films / "good.mp4"
    data = source.read_bytes()
    before = _listing(films)
    code, _, err = _run(capsys, "colorize", source, "-o", films / "." / "good.mp4")
    _assert_failed(code, err, "good.mp4", "is the source itself")
    assert source.read_bytes() == data
    assert _listing(films) == before


def test_a_codec_that_does_not_fit_the_extension(capsys, films: Path, out: Path, no_model) -> None:
    code, _, err = _run(
        capsys, "colorize", films / "good.mp4", "-o", out / "a.mp4", "--codec", "prores"
    )
    _assert_failed(code, err, "a.mp4", "prores goes into .mov files, not .mp4")
    assert _listing(out) == set()


def test_an_extension_without_a_codec(capsys, films: Path, out: Path, no_model) -> None:
    code, _, err = _run(capsys, "colorize", films / "good.mp4", "-o", out / "a.avi")
    _assert_failed(code, err, "a.avi", "no default codec")
    assert _listing(out) == set()


# -- 13-15: ranges, settings and model files ----------------------------------------------


@pytest.mark.parametrize(
    "options, words",
    [
        (["--start", "50"], ["good.mp4", "range 50..12 is outside the film's 12 frames"]),
        (["--start", "5", "--end", "3"], ["good.mp4", "range 5..3 is empty"]),
        (["--start", "1:2:3"], ["--start", "'1:2:3' is not a timecode"]),
        (["--end", "00:00:00:45"], ["--end", "not a valid timecode at 29.970 fps"]),
    ],
)
def test_an_invalid_range(
    capsys, films: Path, out: Path, no_model, options: list[str], words: list[str]
) -> None:
    code, _, err = _run(capsys, "colorize", films / "good.mp4", "-o", out / "a.mkv", *options)
    _assert_failed(code, err, *words)
    assert _listing(out) == set()


@pytest.mark.parametrize(
    "options, words",
    [
        (["--overlap", "99"], ["overlap: must be at least 0 and less than window_frames"]),
        (["--padding", "grey"], ["padding: must be one of white, black, edge"]),
        pytest.param(
            ["--device", "cuda"],
            ["device 'cuda'", "no CUDA GPU"],
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_an_invalid_setting(
    capsys, films: Path, out: Path, tiny_model: Path, options: list[str], words: list[str]
) -> None:
    code, _, err = _run(
        capsys, "colorize", films / "good.mp4", "-o", out / "a.mkv", *options, *_tiny(tiny_model)
    )
    _assert_failed(code, err, *words)
    assert _listing(out) == set()


@pytest.mark.parametrize("kind", ["checkpoint", "pickle"])
def test_a_pickle_model_is_refused(
    capsys, films: Path, out: Path, tmp_path: Path, kind: str
) -> None:
    model = tmp_path / f"{kind}.pth"
    if kind == "checkpoint":
        torch.save({"weight": torch.zeros(2)}, model)  # a zip of pickles
    else:
        model.write_bytes(pickle.dumps({"weight": [0.0, 0.0]}))
    code, _, err = _run(capsys, "colorize", films / "good.mp4", "-o", out / "a.mkv", *_tiny(model))
    _assert_failed(code, err, f"{kind}.pth", "pickle", "only .safetensors")
    assert _listing(out) == set()


# -- 16-18: info, cancel, --debug ----------------------------------------------------------


def test_info_prints_the_exact_rate_and_the_audio(capsys, films: Path) -> None:
    code, stdout, err = _run(capsys, "info", films / "good.mp4")
    assert code == 0, err
    assert err == ""
    assert f"{N} frames at 29.97 (30000/1001) fps (constant)" in stdout
    assert f"{W}x{H}" in stdout
    assert "audio #1: aac, 2 ch, 48000 Hz" in stdout


def test_ctrl_c_cancels_and_leaves_nothing(
    capsys, films: Path, out: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = VideoWriter.write
    calls = 0

    def interrupted(self: VideoWriter, *args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls > 2:
            raise KeyboardInterrupt  # as Ctrl+C arrives
        write(self, *args, **kwargs)

    monkeypatch.setattr(VideoWriter, "write", interrupted)
    code, stdout, err = _run(
        capsys, "colorize", films / "good.mp4", "-o", out / "a.mkv", *_tiny(tiny_model)
    )
    assert code == 130
    assert calls == 3
    assert err.strip().splitlines() == ["cancelled: nothing was written"]
    assert stdout == ""
    assert _listing(out) == set()


def test_debug_shows_the_traceback(films: Path) -> None:
    command = [sys.executable, "-m", "flowchroma_core.cli", "--debug", "info"]
    done = subprocess.run(
        [*command, str(films / "lost.mp4")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "VideoReadError: " in done.stderr and "lost.mp4: file not found" in done.stderr
