"""End to end on real films: frame count, exact rate, audio and luma survive colorization."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from flowchroma_core.colour import ycbcr
from flowchroma_core.errors import Cancelled, CancelToken
from flowchroma_core.model.network import TINY_CONFIG, FlowChroma
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.export import colorize_file
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import open_video

N = 20  # frames per export: enough for two clips of the tiny model


OPTIONS = ColorizeOptions(window_frames=8, overlap=2)


@pytest.fixture(scope="module")
def session() -> ModelSession:
    torch.manual_seed(0)
    return ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"))


def _source_lumas(path: Path, start: int, stop: int) -> list[np.ndarray]:
    with open_video(path) as reader:
        return [f.luma for f in reader.frames(start, stop)]


def _output_lumas(path: Path, matrix: str) -> list[np.ndarray]:
    """Decoded luma of an output: plane 0 for YUV, recomputed from RGB for image sequences."""
    with open_video(path) as reader:
        if not reader.info.is_image_sequence:
            return [f.luma for f in reader.frames()]
    out = []
    for file in sorted(path.iterdir()):
        if file.suffix in (".wav", ".flac"):
            continue
        with av.open(str(file)) as c:
            frame = next(c.decode(video=0))
        rgb = frame.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0
        y = ycbcr.luma_from_rgb(rgb[..., 0], rgb[..., 1], rgb[..., 2], matrix)
        out.append(np.clip(np.floor(16 + 219 * y + 0.5), 0, 255).astype(np.int32))
    return out


CASES = [
    ("h264", ".mp4", None),
    ("prores", ".mov", None),
    ("ffv1", ".mkv", 0),
    ("tiff", ".tif", 1),
    ("dpx", ".dpx", 1),
]


@pytest.mark.parametrize("codec, ext, luma_tolerance", CASES)
def test_real_film_keeps_frames_rate_audio_and_luma(
    shared_data: Path, tmp_path: Path, session: ModelSession, codec: str, ext: str, luma_tolerance
) -> None:
    source = shared_data / "bw" / "chaplin.mp4"  # 25 fps, mp3 audio
    start, stop = 30, 30 + N
    dest = tmp_path / f"chaplin{ext}"
    result = colorize_file(
        source, dest, options=OPTIONS, session=session, codec=codec, start=start, stop=stop
    )
    assert result.frames == N
    assert result.options == OPTIONS.replace(matrix="bt601")  # the source's matrix
    if ext == ".mkv":  # recorded in the file, where the container keeps tags
        with av.open(str(dest)) as container:
            tags = {k.lower(): v for k, v in container.metadata.items()}
        assert ColorizeOptions.from_json(tags["flowchroma_options"]) == result.options
    dest = result.output
    with open_video(source) as reader:
        src = reader.info
    with open_video(dest, frame_rate=src.frame_rate if dest.is_dir() else None) as reader:
        out = reader.info
    assert out.frame_count == N
    assert out.frame_rate == src.frame_rate
    assert (out.width, out.height) == (src.width, src.height)
    if out.is_image_sequence:
        assert [p.suffix for p in dest.iterdir()].count(".wav") == 1  # audio beside the frames
    else:
        assert len(out.audio) == 1 and out.audio[0].codec == src.audio[0].codec  # copied
    if luma_tolerance is not None:
        expected = _source_lumas(source, start, stop)
        if out.is_image_sequence:
            # RGB holds nothing below black or above white: the film's few sub-black codes
            # (0.1% of pixels, in the dark edges) come out at black. FFV1 keeps them.
            expected = [np.clip(e, 16, 235) for e in expected]
        got = _output_lumas(dest, "bt601")
        diffs = [
            np.abs(a.astype(np.int32) - b.astype(np.int32)).max()
            for a, b in zip(expected, got, strict=True)
        ]
        assert max(diffs) <= luma_tolerance, diffs
    # the colorizer really added colour
    with av.open(str(dest if dest.is_file() else sorted(dest.glob(f"*{ext}"))[0])) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(np.int16)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 0.5


def test_a_real_colour_clip_made_grayscale_keeps_30000_1001(
    tmp_path: Path, session: ModelSession
) -> None:
    from media import make_video

    src = tmp_path / "ntsc.mp4"
    make_video(
        src,
        frames=24,
        width=96,
        height=64,
        rate=Fraction(30000, 1001),
        audio=True,
        timecode="01:00:00;00",
    )
    dest = tmp_path / "ntsc_colour.mov"
    colorize_file(src, dest, options=OPTIONS, session=session, start=4, stop=24)
    with open_video(dest) as reader:
        info = reader.info
    assert info.frame_rate == Fraction(30000, 1001)
    assert info.frame_count == 20
    assert info.start_timecode == "01:00:00;04"
    assert len(info.audio) == 1


def test_cancel_leaves_nothing_at_the_destination(
    shared_data: Path, tmp_path: Path, session: ModelSession
) -> None:
    token = CancelToken()

    def progress(p) -> None:
        if p.done == 3:
            token.cancel()

    dest = tmp_path / "cancelled.mkv"
    with pytest.raises(Cancelled):
        colorize_file(
            shared_data / "bw" / "chaplin.mp4",
            dest,
            options=OPTIONS,
            session=session,
            stop=N,
            on_progress=progress,
            cancel=token,
        )
    assert list(tmp_path.iterdir()) == []
