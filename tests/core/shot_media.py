"""A small synthetic film with real shot cuts, written with PyAV (for the segment tests)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def shot_image(shot: int, frame: int, *, width: int, height: int) -> np.ndarray:
    """Luma codes (H, W) uint8: a smooth picture of its own per shot, drifting a little."""
    rng = np.random.default_rng(1000 + shot)
    coarse = rng.uniform(0, 1, size=(4, 6))
    ys = np.linspace(0, 3, height)[:, None]
    xs = (np.linspace(0, 5, width)[None, :] + 0.05 * frame) % 5
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = ys - y0, xs - x0
    y1, x1 = np.minimum(y0 + 1, 3), np.minimum(x0 + 1, 5)
    picture = (
        coarse[y0, x0] * (1 - fy) * (1 - fx)
        + coarse[y0, x1] * (1 - fy) * fx
        + coarse[y1, x0] * fy * (1 - fx)
        + coarse[y1, x1] * fy * fx
    )
    level = [0.2, 0.75, 0.45, 0.9, 0.1][shot % 5]
    return np.clip(16 + 219 * (0.5 * level + 0.5 * picture), 16, 235).astype(np.uint8)


def make_shot_film(
    path: Path,
    shots: list[int],
    *,
    width: int = 64,
    height: int = 48,
    rate: Fraction = Fraction(24),
    codec: str = "ffv1",
    audio: bool = False,
    field_order: int = 0,
) -> list[int]:
    """Write a film whose shots have ``shots[i]`` frames; return the first frame of each.
    ``field_order`` (FFmpeg's AVFieldOrder) tags it interlaced."""
    starts = []
    index = 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if field_order:
            stream.codec_context.field_order = field_order  # AVFieldOrder: 2 is top first
        sound = container.add_stream("flac", rate=48000, layout="mono") if audio else None
        for shot, length in enumerate(shots):
            starts.append(index)
            for f in range(length):
                luma = shot_image(shot, f, width=width, height=height)
                frame = av.VideoFrame(width, height, "yuv420p")
                frame.planes[0].update(np.ascontiguousarray(luma).tobytes())
                grey = np.full((height // 2) * (width // 2), 128, np.uint8).tobytes()
                frame.planes[1].update(grey)
                frame.planes[2].update(grey)
                frame.pts = index
                frame.time_base = 1 / rate
                container.mux(stream.encode(frame))
                index += 1
        container.mux(stream.encode(None))
        if sound is not None:
            samples = int(48000 * index / rate)
            t = np.arange(samples) / 48000
            pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)[None]
            for lo in range(0, samples, 4096):
                aframe = av.AudioFrame.from_ndarray(
                    pcm[:, lo : lo + 4096], format="s16", layout="mono"
                )
                aframe.sample_rate = 48000
                aframe.pts = lo
                container.mux(sound.encode(aframe))
            container.mux(sound.encode(None))
    return starts
