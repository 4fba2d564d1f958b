"""Shot-segmented export: the plan, and exactness against a single pass over the film."""

from __future__ import annotations

import os
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from flowchroma_core.model.network import TINY_CONFIG, FlowChroma
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.export import colorize_file
from flowchroma_core.pipeline.journal import work_folder
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.segments import Segment, group_shots, plan_segments
from flowchroma_core.video.reader import luma_matrix, open_video
from flowchroma_core.video.writer import codec_for_path
from tests.core.shot_media import make_shot_film
from tests.core.single_pass import colorize_single_pass

SHOTS = [10, 9, 11, 9]  # four shots: three cuts
OPTIONS = ColorizeOptions(window_frames=4, overlap=1)


@pytest.fixture(scope="module")
def session() -> ModelSession:
    torch.manual_seed(0)
    return ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"))


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("film") / "film.mkv"
    make_shot_film(path, SHOTS, audio=True)
    return path


def _whole(film: Path, out: Path, session: ModelSession) -> None:
    """The reference: one colorizer run over the whole film, cuts found on the way."""
    with open_video(film) as reader:
        info = reader.info
    options = OPTIONS.replace(matrix=luma_matrix(info))
    colorize_single_pass(
        film, out, info, options=options, session=session, codec=codec_for_path(out),
        start=0, stop=info.frame_count, on_progress=None, cancel=None, frame_rate=None,
        begin=time.perf_counter(),
    )  # fmt: skip


def _packets(path: Path) -> list[tuple[bytes, int | None, int | None, bool]]:
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        return [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in c.demux(video) if p.size]


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [
            np.concatenate([np.frombuffer(bytes(p), np.uint8) for p in f.planes])
            for f in c.decode(video=0)
        ]


def _audio_samples(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])


def test_group_shots_keeps_shots_whole() -> None:
    segments = group_shots([0, 10, 19, 30], 39, target_frames=20)
    assert segments == [
        Segment(0, 0, 19, (0, 10)),
        Segment(1, 19, 39, (19, 30)),
    ]
    # a shot longer than the target stays whole, in a segment of its own
    assert group_shots([0, 5, 100], 110, target_frames=20) == [
        Segment(0, 0, 5, (0,)),
        Segment(1, 5, 100, (5,)),
        Segment(2, 100, 110, (100,)),
    ]


def test_plan_finds_the_films_shots(film: Path) -> None:
    segments = plan_segments(film, OPTIONS, target_frames=20)
    assert [s.shots for s in segments] == [(0, 10), (19, 30)]
    assert (segments[0].start, segments[-1].stop) == (0, sum(SHOTS))
    # a range starts a shot; cuts are found inside it only
    ranged = plan_segments(film, OPTIONS, start=10, stop=35, target_frames=1000)
    assert ranged == [Segment(0, 10, 35, (10, 19, 30))]


def test_segmented_export_equals_one_pass_bit_for_bit_ffv1(
    film: Path, tmp_path: Path, session: ModelSession
) -> None:
    whole = tmp_path / "whole.mkv"
    _whole(film, whole, session)
    old = os.umask(0o022)
    try:
        out = tmp_path / "segmented.mkv"
        result = colorize_file(film, out, options=OPTIONS, session=session, segment_frames=20)
    finally:
        os.umask(old)
    assert result.segments == 2 and result.frames == sum(SHOTS)
    assert result.cuts == [10, 19, 30]
    # same packets (FFV1: the coded frames), same timestamps, same decoded planes
    assert _packets(out) == _packets(whole)
    assert all(np.array_equal(a, b) for a, b in zip(_frames(out), _frames(whole), strict=True))
    assert np.array_equal(_audio_samples(out), _audio_samples(whole))
    with av.open(str(out)) as a, av.open(str(whole)) as b:
        assert a.metadata.get("flowchroma_options") == b.metadata.get("flowchroma_options")
    assert not work_folder(out).exists()  # the work folder is gone
    assert (out.stat().st_mode & 0o777) == 0o644  # the umask, not tempfile's 0600


def test_h264_parts_join_in_matroska(film: Path, tmp_path: Path, session: ModelSession) -> None:
    """Matroska keeps no decode times: the parts' B-frames get theirs back when copied
    (``writer.fill_decode_times``), so the muxer takes the second part after the first."""
    whole = tmp_path / "whole.mkv"
    _whole(film, whole, session)
    out = tmp_path / "segmented.mkv"
    result = colorize_file(film, out, options=OPTIONS, session=session, codec="h264",
                           segment_frames=20)  # fmt: skip
    assert result.segments == 2 and result.frames == sum(SHOTS)
    with av.open(str(out)) as a, av.open(str(whole)) as b:
        times = [f.time for f in a.decode(video=0)]
        assert times == [f.time for f in b.decode(video=0)]
    assert len(times) == sum(SHOTS)


def test_h264_parts_join_at_keyframes_with_the_right_times(
    film: Path, tmp_path: Path, session: ModelSession
) -> None:
    whole = tmp_path / "whole.mp4"
    _whole(film, whole, session)
    out = tmp_path / "segmented.mp4"
    result = colorize_file(film, out, options=OPTIONS, session=session, segment_frames=20)
    assert result.segments == 2
    packets, reference = _packets(out), _packets(whole)
    assert len(packets) == len(reference) == sum(SHOTS)
    assert sorted(p[1] for p in packets) == sorted(p[1] for p in reference)  # presentation times
    dts = [p[2] for p in packets]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == sum(SHOTS)
    keyframes = {round(f.time * 24) for f in frames if f.key_frame}
    assert {0, 19} <= keyframes  # every part starts with a keyframe
