"""Shots side by side: passes of several runs batched together give each run its own colours."""

from __future__ import annotations

import logging
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from flowchroma_core.errors import Cancelled, CancelToken
from flowchroma_core.model.network import TINY_CONFIG, TINY_V2_CONFIG, create_model
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline import export as export_module
from flowchroma_core.pipeline.batching import PassBatcher, split_state, stack_states
from flowchroma_core.pipeline.colorizer import Colorizer
from flowchroma_core.pipeline.export import colorize_file, render_side_by_side
from flowchroma_core.pipeline.journal import Journal, finished_segments
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.pipeline.segments import Part, Segment
from flowchroma_core.video.reader import open_video
from tests.core.shot_media import make_shot_film

CONFIGS = {"paper": TINY_CONFIG, "v2": TINY_V2_CONFIG}
OPTIONS = ColorizeOptions(window_frames=4, overlap=1)


def _session(design: str) -> ModelSession:
    torch.manual_seed(0)
    model = create_model(CONFIGS[design], backbone_weights="random")
    with torch.no_grad():  # lively recurrent weights, so a wrong state shows
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.3 * torch.randn_like(p))
        if hasattr(model, "bins"):  # colour classes: bins of their own, not all zero
            model.bins.copy_(torch.randn(*model.bins.shape) * 40)
    return ModelSession.around(model)


@pytest.mark.parametrize("design", ["paper", "v2"])
def test_a_batched_pass_equals_each_runs_own_pass(design: str) -> None:
    """Three clips in one pass, one starting fresh and two carrying state: each gets what
    its pass alone gives (None is zeros; states stacked on the model's batch axes)."""
    model = _session(design).model
    cfg = model.config
    torch.manual_seed(1)
    l = torch.rand(3, cfg.clip_length, 1, cfg.input_height, cfg.input_width) * 2 - 1
    mask = torch.ones(1, 1, cfg.input_height, cfg.input_width)
    with torch.inference_mode():
        feats = model.backbone_features(l)
        _, warm1 = model(l[1:2], features=feats[1:2], mask=mask)
        _, warm2 = model(l[2:3].flip(1), features=feats[2:3].flip(1), mask=mask)
        states = [None, warm1, warm2]
        alone = [
            model(l[i : i + 1], features=feats[i : i + 1], mask=mask, state=s)
            for i, s in enumerate(states)
        ]
        dims = model.state_batch_dims
        ab, state = model(
            l, features=feats, mask=mask.expand(3, -1, -1, -1), state=stack_states(states, dims)
        )
    # float rounding only: a batch of three sums in another order than a batch of one
    # (up to 5.1e-4 on one CPU of this workplace; a lost or mixed-up state is far larger)
    for i, (ab_i, state_i) in enumerate(
        zip(ab.split(1), split_state(state, dims, [1] * 3), strict=True)
    ):
        assert torch.allclose(ab_i, alone[i][0], atol=1e-3), f"clip {i}"
        for got, want in zip(state_i, alone[i][1], strict=True):
            assert torch.allclose(got, want, atol=1e-3), f"state of clip {i}"
    # a carried state matters here, so the check above can tell a lost one
    assert not torch.allclose(alone[1][0], model(l[1:2], features=feats[1:2], mask=mask)[0])


def _film(path: Path, shots: list[int]) -> Path:
    make_shot_film(path, shots, width=64, height=48)
    return path


@pytest.mark.parametrize("design", ["paper", "v2"])
def test_runs_on_threads_share_passes_and_keep_their_colours(design: str, tmp_path: Path) -> None:
    session = _session(design)
    films = [
        _film(tmp_path / "a.mkv", [9, 7]),  # a cut: a fresh state beside carried ones
        _film(tmp_path / "b.mkv", [13]),
        _film(tmp_path / "c.mkv", [5, 3, 6]),
    ]

    def colours(colorizer: Colorizer, film: Path) -> list[np.ndarray]:
        with open_video(film) as reader:
            return [f.ab for f in colorizer.run(reader.frames(), OPTIONS)]

    alone = [colours(Colorizer(session), film) for film in films]
    batcher = PassBatcher(session, max_wait=0.5)
    together: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with batcher.member():
                together[i] = colours(Colorizer(session, batcher=batcher), films[i])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(films))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for i in range(len(films)):
        assert len(together[i]) == len(alone[i])
        worst = max(float(np.abs(a - b).max()) for a, b in zip(together[i], alone[i], strict=True))
        # float summation order only (under 1e-3 here); a lost state is off by 0.7 or more
        assert worst < 2e-3, f"film {i}: {worst}"
    # passes really were shared, and films of different lengths did not wait for each other
    assert batcher.stats.largest == 3
    assert batcher.stats.batches < batcher.stats.requests


def test_side_by_side_export_equals_the_serial_export(tmp_path: Path, caplog) -> None:
    session = _session("v2")
    film = tmp_path / "film.mkv"
    make_shot_film(film, [10, 9, 11, 9, 8], audio=True)
    serial = colorize_file(film, tmp_path / "serial.mkv", options=OPTIONS, session=session,
                           segment_frames=12)  # fmt: skip
    with caplog.at_level(logging.INFO, logger="flowchroma_core.pipeline.export"):
        wide = colorize_file(film, tmp_path / "wide.mkv", options=OPTIONS, session=session,
                             segment_frames=12, shot_batch=3)  # fmt: skip
    assert wide.segments == serial.segments == 5
    assert wide.frames == serial.frames == 47 and wide.cuts == serial.cuts
    assert "5 segment(s) side by side, 3 at a time" in caplog.text
    assert serial.batching is None and wide.batching is not None and wide.batching.requests > 0
    with av.open(str(tmp_path / "serial.mkv")) as a, av.open(str(tmp_path / "wide.mkv")) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0), strict=True))
        assert [f.pts for f, _ in pairs] == [g.pts for _, g in pairs]
        for f, g in pairs:
            planes_f = [np.frombuffer(bytes(p), np.uint8) for p in f.planes]
            planes_g = [np.frombuffer(bytes(p), np.uint8) for p in g.planes]
            assert np.array_equal(planes_f[0], planes_g[0])  # luma: the source's own
            for cf, cg in zip(planes_f[1:], planes_g[1:], strict=True):
                assert np.abs(cf.astype(int) - cg.astype(int)).max() <= 1  # float order only
    with av.open(str(tmp_path / "wide.mkv")) as b:
        assert len(list(b.decode(audio=0))) > 0  # the source's audio, as in every export


def test_an_error_in_one_segment_stops_the_others_and_is_raised(tmp_path: Path) -> None:
    """The first error stops every segment rendering beside it; finished parts stay
    journaled for a resume, the failed and stopped ones are not."""
    segments = [Segment(i, 10 * i, 10 * i + 10, (10 * i,)) for i in range(4)]
    journal = Journal(tmp_path, {"film": "x"}, segments)
    stopped: list[int] = []
    second_started = threading.Event()

    def render(segment: Segment, stop_all: CancelToken, batcher: PassBatcher) -> Part:
        if segment.index == 0:
            (tmp_path / "part_0000").write_bytes(b"done")
            return Part(0, tmp_path / "part_0000", 10, Fraction(0), 4, "")
        if segment.index == 1:
            assert second_started.wait(10)  # fails while segment 2 renders beside it
            raise OSError("disk full while writing part 1")
        second_started.set()
        for _ in range(1000):  # 10 s at most: a segment never stopped fails the test
            try:
                stop_all.check()
            except Cancelled:
                stopped.append(segment.index)
                raise
            threading.Event().wait(0.01)
        raise RuntimeError(f"segment {segment.index} was never stopped")

    with pytest.raises(OSError, match="disk full while writing part 1"):
        render_side_by_side(journal, render, 2, _session("paper"), None)
    assert 2 in stopped and set(stopped) <= {2, 3}
    assert sorted(journal.done) == [0]


def test_a_part_finished_before_an_error_seen_first_is_still_journaled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``as_completed`` hands back futures already done in set order: when the failed one
    comes first, the part that finished beside it must still be journaled for a resume."""
    segments = [Segment(i, 10 * i, 10 * i + 10, (10 * i,)) for i in range(2)]
    journal = Journal(tmp_path, {"film": "x"}, segments)
    first_done = threading.Event()

    def render(segment: Segment, stop_all: CancelToken, batcher: PassBatcher) -> Part:
        if segment.index == 0:
            first_done.set()
            return Part(0, tmp_path / "part_0000", 10, Fraction(0), 4, "")
        assert first_done.wait(10)
        raise OSError("disk full while writing part 1")

    def failed_first(futures):  # both done, the failure yielded first
        for future in futures:
            future.exception(timeout=10)
        yield from sorted(futures, key=lambda f: f.exception() is None)

    monkeypatch.setattr(export_module, "as_completed", failed_first)
    with pytest.raises(OSError, match="disk full while writing part 1"):
        render_side_by_side(journal, render, 2, _session("paper"), None)
    assert sorted(journal.done) == [0]
    assert finished_segments(tmp_path) == 1  # saved, not only held in memory


def test_the_cli_colorizes_shots_side_by_side(tmp_path: Path, tiny_model: Path, capsys) -> None:
    from flowchroma_core.cli import main

    film = tmp_path / "film.mkv"
    make_shot_film(film, [10, 9, 11], audio=True)
    out = tmp_path / "out.mkv"
    args = ["colorize", str(film), "-o", str(out), "--model", str(tiny_model), "--quiet"]
    code = main([*args, "--segment-frames", "10", "--shot-batch", "2"])
    assert code == 0, capsys.readouterr().err
    assert f"{out}: 30 frames" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main([*args, "--shot-batch", "0"])
    assert refused.value.code == 2
    assert "--shot-batch: must be at least 1, got 0" in capsys.readouterr().err
