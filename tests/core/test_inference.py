"""Sliding-window colorization: exact state carrying, resets at cuts, bounded buffering,
no state kept between runs, and the exact split after a GPU out-of-memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from flowchroma_core.errors import Cancelled, CancelToken
from flowchroma_core.model.network import TINY_CONFIG, FlowChroma
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.colorizer import Colorizer
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import Frame, open_video


@pytest.fixture(scope="module")
def model() -> Colorizer:
    """A colorizer around a tiny network on the CPU (stateless: shared by every test)."""
    torch.manual_seed(3)
    network = FlowChroma(TINY_CONFIG, backbone_weights="pretrained")
    return Colorizer(ModelSession.around(network, device="cpu"))


@pytest.fixture(scope="module")
def film(shared_data: Path) -> list[Frame]:
    """40 frames of a real colour clip, then 30 of another: one cut, at 40."""
    clips = sorted((shared_data / "clips").glob("*.mp4"))
    frames: list[Frame] = []
    for path, n in ((clips[0], 40), (clips[1], 30)):
        with open_video(path) as reader:
            for f in reader.frames(0, n):
                # same size for both shots, as in one film
                frames.append(
                    Frame(
                        len(frames),
                        f.pts,
                        f.time,
                        f.luma[:240, :384].copy(),
                        f.bit_depth,
                        f.color_range,
                    )
                )
    return frames


def _ab(colorizer: Colorizer, frames: list[Frame], **options: object) -> np.ndarray:
    return np.stack([f.ab for f in colorizer.run(frames, ColorizeOptions(**options))])


def test_window_frames_and_overlap_do_not_change_the_result(model, film) -> None:
    """With the state carried exactly, windows are an implementation detail: no seams."""
    reference = _ab(model, film, window_frames=64, overlap=0)
    for frames, overlap in ((4, 0), (16, 0), (8, 3)):
        got = _ab(model, film, window_frames=frames, overlap=overlap)
        np.testing.assert_allclose(got, reference, atol=2e-5, err_msg=f"{frames}/{overlap}")


def test_state_resets_at_the_cut(model, film) -> None:
    run = model.run(film, ColorizeOptions(window_frames=16))
    out = list(run)
    assert run.report.cuts == [40] and run.report.frames == len(film)
    assert [f.shot_start for f in out].count(True) == 2 and out[40].shot_start
    alone = _ab(model, film[40:], window_frames=16)
    np.testing.assert_allclose(np.stack([f.ab for f in out[40:]]), alone, atol=2e-5)
    # without cut detection the second shot inherits the first one's state
    merged = _ab(model, film, window_frames=16, cut_threshold=0)
    assert np.abs(merged[40:] - alone).max() > 1e-4


def test_runs_share_nothing(model, film) -> None:
    """Two runs interleaved give what each gives alone: the colorizer keeps no state."""
    options = ColorizeOptions(window_frames=8, overlap=2)
    alone = _ab(model, film[:30], window_frames=8, overlap=2)
    first, second = model.run(film[:30], options), model.run(film[40:], options)
    a, b = [], []
    for x, y in zip(first, second, strict=False):
        a.append(x.ab)
        b.append(y.ab)
    a += [x.ab for x in first]
    np.testing.assert_array_equal(np.stack(a), alone)
    assert first.report.cuts == [] and first.report.frames == 30
    assert second.report.frames == len(b)


def test_out_of_memory_splits_the_window_with_the_same_result(model, film, monkeypatch) -> None:
    """A pass longer than 3 frames raises CUDA out-of-memory (simulated on the CPU): the
    run halves its passes until they fit, and the frames are those of an unsplit run."""
    options = ColorizeOptions(window_frames=8, overlap=3)
    reference = _ab(model, film[:30], window_frames=8, overlap=3)
    network = model.session.model
    forward, features = network.forward, network.backbone_features
    calls: list[int] = []

    def check(l: torch.Tensor) -> None:
        calls.append(l.shape[1])
        if l.shape[1] > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    def small_forward(l: torch.Tensor, **kwargs: object) -> object:
        check(l)
        return forward(l, **kwargs)

    def small_features(l: torch.Tensor) -> torch.Tensor:
        check(l)
        return features(l)

    monkeypatch.setattr(network, "forward", small_forward)
    monkeypatch.setattr(network, "backbone_features", small_features)
    run = model.run(film[:30], options)
    got = np.stack([f.ab for f in run])
    assert run.report.sub_clip == 2  # 8 -> 4 (still too long) -> 2
    assert max(calls) > 3 and calls[-1] <= 3
    np.testing.assert_allclose(got, reference, atol=2e-5)


def test_luma_is_the_source_and_chroma_is_full_resolution(model, film) -> None:
    out = list(model.run(film[:5], ColorizeOptions()))
    for src, got in zip(film, out, strict=False):
        assert got.luma is src.luma
        assert got.cb.shape == got.cr.shape == src.luma.shape
        assert got.cb.dtype == np.float32 and np.abs(got.cb).max() <= 0.5
        assert got.index == src.index and got.time == src.time


def test_buffering_is_bounded_by_one_clip(model, film) -> None:
    pulled = 0

    def source() -> Iterator[Frame]:
        nonlocal pulled
        for f in film:
            pulled += 1
            yield f

    most_ahead = 0
    for done, _ in enumerate(model.run(source(), ColorizeOptions(window_frames=8)), 1):
        most_ahead = max(most_ahead, pulled - done)
    assert most_ahead <= 8 + 2


def test_cancel_stops_between_clips(model, film) -> None:
    token = CancelToken()
    produced = 0
    with pytest.raises(Cancelled):
        for _ in model.run(film, ColorizeOptions(window_frames=8), token):
            produced += 1
            if produced == 3:
                token.cancel()
    assert produced == 8  # the clip in hand is finished, the next one is not started


def test_a_cancel_stops_inside_the_window_on_its_own_thread_only(model, film) -> None:
    """Cancelled during a window's forward pass, the run stops at the next layer; the same
    model running on another thread at that moment is not stopped."""
    import threading

    from flowchroma_core.pipeline.colorizer import checked_inside

    net = model.session.model
    token = CancelToken()
    calls: list[str] = []
    layers = [m for m in net.modules() if not list(m.children())]
    cancel_at = layers[len(layers) // 3]

    def spy(module: torch.nn.Module, _args: object) -> None:
        calls.append(threading.current_thread().name)
        if module is cancel_at and threading.current_thread() is threading.main_thread():
            token.cancel()

    handles = [m.register_forward_pre_hook(spy) for m in layers]
    try:
        with pytest.raises(Cancelled):
            next(iter(model.run(film, ColorizeOptions(window_frames=8), token)))
        stopped_after = len(calls)
        calls.clear()
        next(iter(model.run(film, ColorizeOptions(window_frames=8))))
        whole_window = len(calls)
        assert stopped_after < whole_window / 2  # stopped inside the pass, not after it

        other: list[BaseException] = []

        def elsewhere() -> None:
            try:
                l = torch.rand(1, 2, 1, net.config.input_height, net.config.input_width)
                with torch.inference_mode():
                    net(l)
            except BaseException as err:  # pragma: no cover - the failure reported below
                other.append(err)

        with checked_inside(net, token):  # the token is cancelled: this thread would stop
            worker = threading.Thread(target=elsewhere, name="export")
            worker.start()
            worker.join()
        assert other == []
        assert "export" in calls
    finally:
        for handle in handles:
            handle.remove()


def test_chroma_is_limited_to_what_the_source_luma_can_carry() -> None:
    """Black and white stay neutral; mid-tones keep their chroma; nothing needs clipping."""
    from flowchroma_core.colour.ycbcr import LUMA_COEFFICIENTS
    from flowchroma_core.pipeline.colorizer import limit_chroma

    torch.manual_seed(0)
    y = torch.cat([torch.zeros(50), torch.ones(50), torch.rand(900)])
    cb, cr = (torch.rand(2, 1000) - 0.5) * 0.6
    for matrix in ("bt601", "bt709"):
        lcb, lcr = limit_chroma(y, cb, cr, matrix)
        assert lcb[:100].abs().max() < 1e-6 and lcr[:100].abs().max() < 1e-6
        kr, kb = LUMA_COEFFICIENTS[matrix]
        r = y + 2 * (1 - kr) * lcr
        b = y + 2 * (1 - kb) * lcb
        g = (y - kr * r - kb * b) / (1 - kr - kb)
        rgb = torch.stack([r, g, b])
        assert rgb.min() > -1e-5 and rgb.max() < 1 + 1e-5
        # hue kept: the chroma is only scaled, and not at all where it fitted
        ratio = torch.where(cb.abs() > 1e-3, lcb / cb, torch.ones_like(cb))
        assert torch.allclose(ratio, torch.where(cr.abs() > 1e-3, lcr / cr, ratio), atol=1e-4)
        fits = (ratio > 0.9999)
        assert fits.sum() > 100
