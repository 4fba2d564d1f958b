"""Resuming an interrupted export from its journal: killed, cancelled, refused, restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import torch

from flowchroma_core.errors import Cancelled, CancelToken
from flowchroma_core.model.network import TINY_CONFIG, FlowChroma
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.export import Progress, colorize_file
from flowchroma_core.pipeline.journal import JournalMismatchError, work_folder
from flowchroma_core.pipeline.options import ColorizeOptions
from tests.core.shot_media import make_shot_film

SHOTS = [10, 9, 11, 9]
OPTIONS = ColorizeOptions(window_frames=4, overlap=1)


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("film") / "film.mkv"
    make_shot_film(path, SHOTS, audio=True)
    return path


def _packets(path: Path) -> list[tuple[bytes, int | None]]:
    with av.open(str(path)) as c:
        return [(bytes(p), p.pts) for p in c.demux(c.streams.video[0]) if p.size]


def _done(folder: Path) -> int:
    try:
        return len(json.loads((folder / "journal.json").read_text())["done"])
    except (OSError, ValueError, KeyError):
        return 0


def _cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "flowchroma_core.cli", *map(str, args)]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FLOWCHROMA_CONFIG_DIR=str(tmp_path / "config"),
        FLOWCHROMA_LOG_DIR=str(tmp_path / "log"),
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    return env


def test_a_killed_export_resumes_and_equals_an_uninterrupted_one(
    film: Path, tmp_path: Path, tiny_model: Path
) -> None:
    """SIGKILL once the journal holds a finished segment; the same command resumes."""
    common = ["--model", tiny_model, "--device", "cpu", "--window-frames", 4, "--overlap", 1]
    common += ["--segment-frames", 20]
    env = _env(tmp_path)
    out = tmp_path / "out.mkv"
    command = _cli("colorize", film, "-o", out, "--quiet", *common)
    folder = work_folder(out)
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while _done(folder) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the export ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = _done(folder)
    assert done_before >= 1 and not out.exists()

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    # it skipped the finished segment(s): it says how many frames were already done
    assert "resumed: " in resumed.stderr and f"of {sum(SHOTS)} frames" in resumed.stderr
    skipped = int(resumed.stderr.split("resumed: ")[1].split()[0])
    assert 0 < skipped < sum(SHOTS)
    assert not folder.exists()

    fresh = tmp_path / "fresh.mkv"
    subprocess.run(
        _cli("colorize", film, "-o", fresh, "--quiet", *common), env=env, check=True, timeout=900
    )
    assert _packets(out) == _packets(fresh)  # FFV1: bit for bit


def test_a_journal_of_other_settings_or_model_is_refused_and_restart_starts_afresh(
    film: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    session = ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"))
    out = tmp_path / "out.mkv"
    token = CancelToken()

    def cancel_after_first_segment(p: Progress) -> None:
        if p.done > SHOTS[0] + SHOTS[1]:
            token.cancel()

    with pytest.raises(Cancelled):
        colorize_file(
            film, out, options=OPTIONS, session=session, segment_frames=20,
            on_progress=cancel_after_first_segment, cancel=token,
        )  # fmt: skip
    folder = work_folder(out)
    assert _done(folder) == 1 and not out.exists()

    with pytest.raises(JournalMismatchError, match=r"other options: window_frames 4 \(now 5\)"):
        colorize_file(
            film, out, options=OPTIONS.replace(window_frames=5), session=session,
            segment_frames=20,
        )  # fmt: skip
    torch.manual_seed(1)
    other = ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"))
    with pytest.raises(JournalMismatchError, match="another model"):
        colorize_file(film, out, options=OPTIONS, session=other, segment_frames=20)
    assert _done(folder) == 1  # refused: the journal and its part are kept, not mixed

    result = colorize_file(
        film, out, options=OPTIONS, session=session, segment_frames=20, restart=True
    )
    assert result.resumed_frames == 0 and result.frames == sum(SHOTS)
    assert not folder.exists()


def test_a_journal_of_other_colour_guidance_is_refused(film: Path, tmp_path: Path) -> None:
    from flowchroma_core.pipeline.journal import Journal

    def key(guidance: str | None) -> dict:
        return Journal.make_key(
            film=film, options=OPTIONS, model="m", codec="ffv1", start=0, stop=sum(SHOTS),
            frame_rate=None, guidance=guidance,
        )  # fmt: skip

    Journal(tmp_path, key("1111"), []).save()
    assert Journal.load(tmp_path, key("1111")) is not None
    with pytest.raises(JournalMismatchError, match="other colour guidance"):
        Journal.load(tmp_path, key("2222"))
    with pytest.raises(JournalMismatchError, match="other colour guidance"):
        Journal.load(tmp_path, key(None))


def test_an_image_sequence_is_segmented_resumed_and_equal_file_for_file(
    film: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    session = ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"))
    out = tmp_path / "reel.png"  # the frame folder "reel"
    token = CancelToken()

    def cancel_after_first_segment(p: Progress) -> None:
        if p.done > SHOTS[0] + SHOTS[1]:
            token.cancel()

    common = {"options": OPTIONS, "session": session, "codec": "png", "segment_frames": 20}
    with pytest.raises(Cancelled):
        colorize_file(film, out, on_progress=cancel_after_first_segment, cancel=token, **common)
    folder = work_folder(out)
    assert _done(folder) == 1 and not (tmp_path / "reel").exists()
    assert [p.name for p in folder.glob("part_*")] == ["part_0000"]  # a folder of frames

    result = colorize_file(film, out, **common)
    assert result.frames == sum(SHOTS) and 0 < result.resumed_frames < sum(SHOTS)
    assert not folder.exists()
    fresh = colorize_file(film, tmp_path / "fresh.png", **common)
    assert fresh.resumed_frames == 0

    def files(folder: Path) -> list[tuple[str, bytes]]:
        stem = folder.name
        return [(p.name.replace(stem, "X"), p.read_bytes()) for p in sorted(folder.iterdir())]

    got, want = files(tmp_path / "reel"), files(tmp_path / "fresh")
    assert [n for n, _ in got].count("X.wav") == 1  # the audio beside the frames
    assert len(got) == sum(SHOTS) + 1
    assert got == want  # every frame file, bit for bit
