"""Short films with hard cuts for the batch tests, written with PyAV (FFV1, lossless, so
the cut detector sees exactly what was drawn), and a comparison of two exports' frames."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.core.media import pattern_luma


def make_cut_film(
    path: Path, *, shots: tuple[int, ...] = (14, 13, 14), width: int = 96, height: int = 64,
    seed: int = 0,
) -> list[int]:
    """A grey film whose shots look nothing alike (inverted, brighter, shifted; shots of 13
    frames or more, or the cut detector may take a cut for motion); returns
    the first frame of every shot after the first (the cuts)."""
    rng = np.random.default_rng(seed)
    cuts: list[int] = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        index = 0
        for shot, length in enumerate(shots):
            if shot:
                cuts.append(index)
            offset = int(rng.integers(0, 40))
            for _ in range(length):
                luma = pattern_luma(index * 3 + shot * 50, width=width, height=height)
                if shot % 2:
                    luma = 255 - luma
                luma = np.clip(luma.astype(np.int32) + offset - 20 + 30 * (shot % 3), 16, 235)
                frame = av.VideoFrame(width, height, "yuv420p")
                planes = [luma.astype(np.uint8),
                          np.full((height // 2, width // 2), 128, np.uint8),
                          np.full((height // 2, width // 2), 128, np.uint8)]  # fmt: skip
                for plane, values in zip(frame.planes, planes, strict=True):
                    view = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
                    view[:, : values.shape[1]] = values
                frame.pts = index
                frame.time_base = Fraction(1, 24)
                out.mux(stream.encode(frame))
                index += 1
        out.mux(stream.encode(None))
    return cuts


def frame_planes(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    """Every decoded frame's Y, Cb, Cr planes as bytes, in order."""
    with av.open(str(path)) as container:
        return [
            tuple(bytes(p) for p in frame.planes)  # type: ignore[misc]
            for frame in container.decode(video=0)
        ]
