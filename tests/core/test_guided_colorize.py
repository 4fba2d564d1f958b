"""The colorizer with the restorer's guidance: points and stills reach the network for their
own shot only, an empty guidance changes nothing, a model without guidance inputs refuses.

Films are written by PyAV in tmp_path (a panned colour texture, two shots); the model is
the tiny v2 configuration with its zero-started guidance weights given values, as training
gives them.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from guidance_media import panning

from flowchroma_core.guidance.film_source import FilmGreys, guidance_for_film
from flowchroma_core.guidance.project import Point, Project, Shot, Source
from flowchroma_core.guidance.references import ReferenceSpec, fit_reference
from flowchroma_core.model.network import TINY_CONFIG, TINY_V2_CONFIG, FlowChroma, create_model
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline import steady as steady_module
from flowchroma_core.pipeline.checkpoints import Checkpoint
from flowchroma_core.pipeline.colorizer import Colorizer
from flowchroma_core.pipeline.guided import NO_GUIDANCE_INPUTS, GuidanceModelError, WindowGuide
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import open_video

CFG = TINY_V2_CONFIG
SHOT = 6  # frames per shot; the film has two, each walked in two windows ([0, 4), [3, 6))
OPTIONS = ColorizeOptions(window_frames=4, overlap=1, cut_threshold=0.0)


def write_film(path: Path, frames: list[np.ndarray], rate: int = 24) -> Path:
    """Lossless H.264 of RGB frames."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "0"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    folder = tmp_path_factory.mktemp("guided")
    frames = panning(SHOT, 48, 64, dx=2, seed=0) + panning(SHOT, 48, 64, dx=-2, seed=5)
    return write_film(folder / "film.mp4", frames), frames


@pytest.fixture(scope="module")
def session() -> ModelSession:
    torch.manual_seed(0)
    model = create_model(CFG).eval()
    with torch.no_grad():
        model.bins.copy_(torch.randn(CFG.colour_bins, 2) * 40)
        model.encoder[0].weight[:, 1:].normal_(0, 0.5)
        for fuse in (model.fuse16, model.fuse8, model.fuse4):
            fuse.weight[:, -6:].normal_(0, 0.5)
    return ModelSession.around(model)


def _project(points: list[Point], *, shots: int = 2) -> Project:
    source = Source("film.mp4", "0" * 64, 2 * SHOT, "24")
    if shots == 1:
        return Project(source, shots=[Shot(0, 2 * SHOT, points=points)])
    return Project(
        source,
        shots=[
            Shot(0, SHOT, points=[p for p in points if p.frame < SHOT]),
            Shot(SHOT, 2 * SHOT, points=[p for p in points if p.frame >= SHOT]),
        ],
    )


def _guidance(
    path: Path, *, points: list[Point] = (), refs: list[ReferenceSpec] = (), shots: int = 2
):
    """The film's guidance; its project's two shots (a cut at SHOT) unless ``shots=1``."""
    return guidance_for_film(
        path,
        model_size=(CFG.input_height, CFG.input_width),
        cut_threshold=OPTIONS.cut_threshold,
        project=_project(list(points), shots=shots),
        references=refs,
    )


def _run(session: ModelSession, path: Path, guidance=None) -> tuple[list[np.ndarray], object]:
    with open_video(path) as reader:
        run = Colorizer(session).run(reader.frames(), OPTIONS, guidance=guidance)
        return [f.ab for f in run], run.report


class _Recorder:
    """Records, window by window, the frames and the guidance handed to the network."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.windows: list[tuple[list[int], dict]] = []
        original = WindowGuide.kwargs

        def recording(guide, indexes, **kw):
            out = original(guide, indexes, **kw)
            self.windows.append((list(indexes), out))
            return out

        monkeypatch.setattr(WindowGuide, "kwargs", recording)

    def hints_of(self, frame: int) -> torch.Tensor | None:
        """The hint map frame ``frame`` was first given (None: no hint)."""
        for indexes, kw in self.windows:
            if frame in indexes:
                h = kw["hints"]
                return None if h is None else h[0, indexes.index(frame)]
        raise KeyError(frame)


def test_guidance_with_a_model_without_guidance_inputs_is_refused_in_one_line(film) -> None:
    path, _ = film
    old = ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="random"))
    guidance = _guidance(path, points=[Point(2, 0.5, 0.5, 50.0, 30.0, 0.2)])
    with pytest.raises(GuidanceModelError) as err:
        Colorizer(old).run(iter(()), OPTIONS, guidance=guidance)
    assert (
        str(err.value)
        == NO_GUIDANCE_INPUTS
        == ("this model has no guidance inputs; use a v2 model")
    )


def test_empty_guidance_gives_exactly_the_automatic_result(film, session) -> None:
    path, _ = film
    auto, auto_report = _run(session, path)
    guided, report = _run(session, path, _guidance(path, shots=1))
    assert report.guided_windows == 0
    assert report.cuts == auto_report.cuts == []
    for a, g in zip(auto, guided, strict=True):
        np.testing.assert_array_equal(a, g)


def test_a_still_serves_its_whole_shot_and_nothing_else(film, session, tmp_path) -> None:
    path, frames = film
    still = tmp_path / "ref_000008.png"
    big = cv2.resize(frames[8], (200, 90))  # another size and aspect: fitted as frames are
    cv2.imwrite(str(still), big[..., ::-1])
    auto, _ = _run(session, path, _guidance(path))  # the same cut, no guidance
    guided, report = _run(session, path, _guidance(path, refs=[ReferenceSpec(8, still)]))
    assert report.cuts == [SHOT]  # the project's shot boundary is a cut
    assert report.guided_windows == 2
    for t in range(SHOT):  # first shot: untouched, exactly
        np.testing.assert_array_equal(auto[t], guided[t])
    for t in range(SHOT, 2 * SHOT):  # the still's shot: every frame moved
        assert np.abs(auto[t] - guided[t]).max() > 1e-3, t


def test_reference_features_are_computed_once_per_shot(film, session, tmp_path, monkeypatch):
    path, frames = film
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), frames[9][..., ::-1])
    recorder = _Recorder(monkeypatch)
    _run(session, path, _guidance(path, refs=[ReferenceSpec(9, still)]))
    with_refs = [kw for _, kw in recorder.windows if kw["references"] is not None]
    assert len(with_refs) == 2  # the still's shot has two windows, the other shot none
    assert len({id(kw["reference_features"]) for kw in with_refs}) == 1  # encoded once
    assert with_refs[0]["references"].shape == (1, 1, 3, CFG.input_height, CFG.input_width)


def test_a_still_of_other_content_is_matched_to_its_shot_as_hints(
    film, session, tmp_path, monkeypatch
) -> None:
    """A still that is not its frame (here frame 8's colours given for frame 10) is not
    carried; it is matched to each frame of its shot on the backbone's features, and where
    a frame shows what the still shows (frame 8 itself) its colours reach the network as
    confident hints."""
    path, frames = film
    still = tmp_path / "other.png"
    cv2.imwrite(str(still), frames[8][..., ::-1])
    merged: dict[int, torch.Tensor] = {}
    original = WindowGuide.with_matches

    def recording(guide, features, guided):
        out = original(guide, features, guided)
        if out["hints"] is not None:
            for i, frame in enumerate(guide._indexes):
                merged.setdefault(frame, out["hints"][0, i])
        return out

    original_kwargs = WindowGuide.kwargs

    def kwargs(guide, indexes, **kw):
        guide._indexes = list(indexes)
        return original_kwargs(guide, indexes, **kw)

    monkeypatch.setattr(WindowGuide, "with_matches", recording)
    monkeypatch.setattr(WindowGuide, "kwargs", kwargs)
    auto, _ = _run(session, path, _guidance(path))
    guided, report = _run(session, path, _guidance(path, refs=[ReferenceSpec(10, still)]))
    assert report.steadied_frames == 0  # matched, never carried
    assert set(merged) == set(range(SHOT, 2 * SHOT))  # its own shot only
    own = merged[8]  # the frame the still shows: matched to itself
    assert own[2].mean() > 0.9
    truth = torch.from_numpy(frames[8]).permute(2, 0, 1).float() / 255.0
    fitted, _ = fit_reference(truth, CFG.input_height, CFG.input_width)
    confident = own[2] > 0.9
    pooled = torch.nn.functional.avg_pool2d(fitted[1:][None], 8)
    expected = torch.nn.functional.interpolate(pooled, size=own.shape[-2:], mode="bilinear")[0]
    error = (own[:2] - expected).abs()[:, confident].mean()
    assert error < 0.5 * expected.abs()[:, confident].mean(), error  # the still's colours
    # the matched hints reach the network: without them the still's shot comes out otherwise
    monkeypatch.setattr(WindowGuide, "with_matches", lambda guide, features, guided: guided)
    unmatched, _ = _run(session, path, _guidance(path, refs=[ReferenceSpec(10, still)]))
    for t in range(SHOT):
        np.testing.assert_array_equal(auto[t], guided[t])
    assert np.abs(guided[8] - unmatched[8]).max() > 1e-3


def test_points_are_carried_through_their_shot_with_decaying_confidence(
    film, session, monkeypatch
) -> None:
    path, _ = film
    key = 2
    point = Point(key, 0.5, 0.5, 60.0, -40.0, 0.15)
    auto, _ = _run(session, path, _guidance(path))
    recorder = _Recorder(monkeypatch)
    guided, _ = _run(session, path, _guidance(path, points=[point]))
    on_key = recorder.hints_of(key)
    assert on_key is not None
    assert float(on_key[2].max()) == 1.0  # the restorer's own point
    assert torch.allclose(on_key[0][on_key[2] == 1], torch.tensor(60.0 / 110))
    for t in (key - 2, key + 3):
        h = recorder.hints_of(t)
        assert h is not None, t
        # times the lightness match of the carried colour, at most 1
        expected = math.exp(-abs(t - key) / 16.0)
        assert 0.97 * expected <= float(h[2].max()) <= expected + 1e-6
    # the second shot is never given a hint, and comes out exactly automatic
    for t in range(SHOT, 2 * SHOT):
        assert recorder.hints_of(t) is None
        np.testing.assert_array_equal(auto[t], guided[t])
    assert np.abs(auto[key] - guided[key]).max() > 1e-3


def test_film_greys_are_letterboxed_like_the_model_input(film) -> None:
    path, _ = film
    greys = FilmGreys(path, (CFG.input_height, CFG.input_width))
    got = greys(3, 6)
    assert len(got) == 3 and got[0].shape == (CFG.input_height, CFG.input_width)
    assert got[0].dtype == np.uint8
    # 64x48 in 96x64: pillarboxed, white padding left and right
    assert (got[0][:, :4] == 255).all()
    again = greys(4, 7)
    assert greys.decoded == 4  # 3, 4, 5 then only 6 is new
    np.testing.assert_array_equal(again[0], got[1])
    greys.close()


def _moving_change(abs_: list[np.ndarray], dx: float) -> float:
    """Mean |a*b* - the frame before's, moved on by ``dx`` of the width|, borders left out."""
    total = []
    for before, now in itertools.pairwise(abs_):
        w = now.shape[-1]
        shift = np.float32([[1, 0, dx * w], [0, 1, 0]])
        moved = np.stack([cv2.warpAffine(c, shift, (w, c.shape[0])) for c in before])
        total.append(np.abs(now - moved)[:, 4:-4, 8:-8].mean())
    return float(np.mean(total))


def _still_of(frames: list[np.ndarray], frame: int, folder: Path) -> ReferenceSpec:
    """The true colours of ``frame`` as its still (carried densely: its own frame)."""
    path = folder / f"ref_{frame:06d}.png"
    cv2.imwrite(str(path), frames[frame][..., ::-1])
    return ReferenceSpec(frame, path)


def test_a_carried_still_steadies_its_shot_and_nothing_else(
    film, session, tmp_path, monkeypatch
) -> None:
    path, frames = film
    spec = _still_of(frames, SHOT, tmp_path)
    guided, report = _run(session, path, _guidance(path, refs=[spec]))
    assert report.steadied_frames == SHOT - 1  # every frame after the still's, in its shot
    monkeypatch.setattr(steady_module, "STRENGTH", 0.0)
    raw, _ = _run(session, path, _guidance(path, refs=[spec]))
    for t in range(SHOT + 1):  # the other shot and the still's own frame: as the network made
        np.testing.assert_array_equal(guided[t], raw[t])
    for t in range(SHOT + 1, 2 * SHOT):
        assert np.abs(guided[t] - raw[t]).max() > 1e-3, t
    # the steadied frames change less from one frame to the next, along the motion (the
    # second shot's texture moves 2 of the film's 64 px to the right per frame)
    change = [_moving_change(x[SHOT:], 2 / 64) for x in (guided, raw)]
    assert change[0] < 0.8 * change[1], change
    # a still of other content is matched by features, never carried: nothing is steadied
    other = _still_of(frames, 0, tmp_path)
    other = ReferenceSpec(SHOT + 2, other.path)
    _, report = _run(session, path, _guidance(path, refs=[other]))
    assert report.guided_windows == 2 and report.steadied_frames == 0


def test_a_guided_run_resumed_at_a_checkpoint_steadies_as_the_full_run(
    film, session, tmp_path
) -> None:
    path, frames = film
    spec = _still_of(frames, SHOT, tmp_path)
    options = ColorizeOptions(window_frames=2, overlap=0, cut_threshold=0.0)
    seen: list[Checkpoint] = []
    with open_video(path) as reader:
        full = list(
            Colorizer(session).run(
                reader.frames(),
                options,
                guidance=_guidance(path, refs=[spec]),
                on_checkpoint=seen.append,
            )
        )
    c = next(c for c in seen if c.frame == SHOT + 4)
    assert c.steady is not None and c.steady[0] == SHOT + 3
    with open_video(path) as reader:
        resumed = list(
            Colorizer(session).run(
                reader.frames(c.frame), options, guidance=_guidance(path, refs=[spec]), resume=c
            )
        )
    assert [f.index for f in resumed] == [SHOT + 4, SHOT + 5]
    for f, g in zip(resumed, full[SHOT + 4 :], strict=True):
        np.testing.assert_array_equal(f.ab, g.ab)
