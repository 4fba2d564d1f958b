"""Synthetic media for tests, written with PyAV into a temporary folder.

Every synthetic frame carries its own frame number twice: as a row of black/white blocks
(a binary code that survives lossy compression, read back by ``read_pattern_index``) and
as a bright bar that moves 7 pixels a frame. A decoder that returns the wrong frame
therefore cannot pass a comparison by accident.

Luma is written in the limited ("tv") range of the chosen bit depth, so the values a
lossless codec gives back are exactly the ones ``make_video`` returns.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)

# Bits of the frame-number code drawn across the top of every synthetic frame.
CODE_BITS = 10
# BT.709 and BT.601 luma weights (R, G, B) for checking luma computed from RGB.
LUMA_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "bt709": (0.2126, 0.7152, 0.0722),
    "bt601": (0.299, 0.587, 0.114),
}

_IMAGE_CODECS = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".dpx": "dpx", ".jpg": "mjpeg"}


def _code_blocks(width: int, height: int) -> tuple[int, int]:
    """Width and height of one code block: the code spans the frame's width."""
    return max(1, width // CODE_BITS), max(2, height // 4)


def pattern_luma(index: int, *, width: int, height: int, bit_depth: int = 8) -> np.ndarray:
    """The luma plane of synthetic frame ``index`` in limited range of ``bit_depth``.

    A horizontal gradient, a bright vertical bar at ``7 * index`` (wrapping), and the
    frame number as ``CODE_BITS`` black/white blocks across the top quarter.
    """
    scale = 1 << (bit_depth - 8)
    x = np.arange(width, dtype=np.float64)
    row = 40.0 + 120.0 * x / max(1, width - 1)
    y = np.arange(height, dtype=np.float64)[:, None]
    luma = row[None, :] + 10.0 * np.sin(y / 7.0 + index * 0.3)
    bar = (7 * index) % width
    luma[:, bar : bar + max(2, width // 40)] = 225.0
    block_w, block_h = _code_blocks(width, height)
    for bit in range(CODE_BITS):
        value = 230.0 if (index >> bit) & 1 else 20.0
        luma[:block_h, bit * block_w : (bit + 1) * block_w] = value
    out = np.rint(luma * scale).astype(np.uint16 if bit_depth > 8 else np.uint8)
    return out


def read_pattern_index(luma: np.ndarray, *, bit_depth: int = 8) -> int:
    """Read back the frame number drawn by ``pattern_luma`` (robust to lossy coding)."""
    height, width = luma.shape
    block_w, block_h = _code_blocks(width, height)
    threshold = 125.0 * (1 << (bit_depth - 8))
    index = 0
    for bit in range(CODE_BITS):
        block = luma[block_h // 4 : 3 * block_h // 4, bit * block_w : (bit + 1) * block_w]
        x0 = block.shape[1] // 4
        centre = block[:, x0 : max(x0 + 1, 3 * block.shape[1] // 4)]
        if float(centre.mean()) > threshold:
            index |= 1 << bit
    return index


def _chroma(index: int, height: int, width: int, bit_depth: int, gray: bool) -> np.ndarray:
    """A chroma plane: neutral for a black-and-white source, a moving tint otherwise."""
    scale = 1 << (bit_depth - 8)
    dtype = np.uint16 if bit_depth > 8 else np.uint8
    if gray:
        return np.full((height, width), 128 * scale, dtype=dtype)
    x = np.arange(width, dtype=np.float64)[None, :]
    y = np.arange(height, dtype=np.float64)[:, None]
    values = 128.0 + 60.0 * np.sin((x + 3 * index) / 11.0) * np.cos(y / 13.0)
    return np.rint(values * scale).astype(dtype)


def _fill_plane(plane: av.video.plane.VideoPlane, values: np.ndarray, *, big_endian: bool) -> None:
    """Copy ``values`` into ``plane``, honouring its line stride and byte order."""
    itemsize = values.dtype.itemsize
    dtype = np.dtype(f"{'>' if big_endian else '<'}u{itemsize}") if itemsize > 1 else np.uint8
    rows, row_items = plane.height, plane.line_size // itemsize
    padded = np.zeros((rows, row_items), dtype=dtype)
    padded[: values.shape[0], : values.shape[1]] = values
    plane.update(padded.tobytes())


def yuv_frame(
    luma: np.ndarray, *, pix_fmt: str, index: int = 0, gray: bool = False
) -> av.VideoFrame:
    """A VideoFrame of a planar YUV or gray ``pix_fmt`` with the given luma plane."""
    height, width = luma.shape
    frame = av.VideoFrame(width, height, pix_fmt)
    fmt = frame.format
    bits = fmt.components[0].bits
    _fill_plane(frame.planes[0], luma, big_endian=fmt.is_big_endian)
    for plane in frame.planes[1:3]:
        chroma = _chroma(index, plane.height, plane.width, bits, gray)
        _fill_plane(plane, chroma, big_endian=fmt.is_big_endian)
    return frame


def _audio_frames(stream: av.audio.stream.AudioStream, seconds: float) -> list[av.AudioFrame]:
    """Frames of a quiet 440 Hz stereo tone lasting ``seconds``, sized for the encoder."""
    rate = stream.codec_context.sample_rate
    chunk = stream.codec_context.frame_size or 1024
    fmt = stream.codec_context.format.name
    total = max(chunk, int(seconds * rate))
    frames = []
    for start in range(0, total, chunk):
        t = (np.arange(start, start + chunk) / rate).astype(np.float32)
        tone = 0.2 * np.sin(2 * math.pi * 440.0 * t)
        stereo = np.stack([tone, tone])
        if fmt == "fltp":
            array = stereo.astype(np.float32)
        elif fmt == "s16":
            array = (stereo.T.reshape(1, -1) * 32767).astype(np.int16)
        else:
            raise ValueError(f"unsupported test audio format {fmt!r}")
        frame = av.AudioFrame.from_ndarray(array, format=fmt, layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        frames.append(frame)
    return frames


def make_video(
    path: Path,
    *,
    frames: int,
    width: int,
    height: int,
    rate: Fraction = Fraction(30000, 1001),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    gray: bool = False,
    timecode: str | None = None,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    gop: int | None = None,
    options: dict[str, str] | None = None,
    rotation: float | None = None,
) -> list[np.ndarray]:
    """Write a synthetic video; return the luma planes as written, in presentation order.

    ``pts`` (in ``time_base``, default ``1 / rate``) makes a variable-frame-rate file;
    ``gray`` writes neutral chroma, as a black-and-white film transfer has; ``timecode``
    becomes the container's start timecode; ``rotation`` (degrees counter-clockwise) a
    display matrix. For lossless codecs the returned planes are what a decoder gives back.
    """
    path = Path(path)
    tb = time_base if time_base is not None else 1 / Fraction(rate)
    stamps = list(pts) if pts is not None else list(range(frames))
    if len(stamps) != frames:
        raise ValueError(f"got {len(stamps)} pts for {frames} frames")
    bit_depth = av.video.format.VideoFormat(pix_fmt).components[0].bits
    written: list[np.ndarray] = []
    with av.open(str(path), mode="w") as container:
        if timecode is not None:
            container.metadata["timecode"] = timecode
        stream = container.add_stream(codec, rate=rate, options=dict(options or {}))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = tb
        stream.time_base = tb
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if timecode is not None:
            stream.metadata["timecode"] = timecode
        audio_stream = None
        if audio:
            audio_stream = container.add_stream("aac", rate=48000, layout="stereo")
        for index, stamp in enumerate(stamps):
            luma = pattern_luma(index, width=width, height=height, bit_depth=bit_depth)
            written.append(luma)
            frame = yuv_frame(luma, pix_fmt=pix_fmt, index=index, gray=gray)
            frame.pts = stamp
            frame.time_base = tb
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            seconds = float((stamps[-1] + 1) * tb) if stamps else 0.0
            for aframe in _audio_frames(audio_stream, seconds):
                container.mux(audio_stream.encode(aframe))
            container.mux(audio_stream.encode(None))
    logger.debug(
        "wrote %s: %d frames %dx%d %s %s", path.name, frames, width, height, codec, pix_fmt
    )
    return written


def make_audio(path: Path, *, seconds: float = 1.0, codec: str = "aac") -> None:
    """Write an audio-only file (no video stream at all), e.g. an .m4a or a .wav."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=48000, layout="stereo")
        for frame in _audio_frames(stream, seconds):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def pattern_rgb(index: int, *, width: int, height: int, bit_depth: int = 16) -> np.ndarray:
    """Synthetic full-range RGB (H, W, 3) for frame ``index``: distinct R, G and B ramps.

    The channels differ so that luma computed with the wrong coefficients, or with R and
    B swapped, comes out measurably wrong.
    """
    peak = (1 << bit_depth) - 1
    x = np.linspace(0.0, 1.0, width)[None, :]
    y = np.linspace(0.0, 1.0, height)[:, None]
    r = np.broadcast_to(x, (height, width))
    g = np.broadcast_to(0.5 + 0.4 * np.sin(6.0 * y + 0.2 * index), (height, width))
    b = 1.0 - 0.8 * (x * y)
    rgb = np.stack([r, g, b], axis=-1)
    return np.rint(rgb * peak).astype(np.uint16 if bit_depth > 8 else np.uint8)


def write_image(path: Path, rgb: np.ndarray, *, pix_fmt: str) -> None:
    """Write one RGB (H, W, 3) image; the codec follows the file extension.

    ``pix_fmt`` is what the file stores: packed ``rgb24``/``rgb48le``/``rgb48be`` or planar
    ``gbrp10le``/``gbrp12le`` (10- and 12-bit DPX); JPEG always stores 8-bit YUV. The
    image is encoded to one packet, which is the whole file for PNG, TIFF, DPX and JPEG.
    """
    path = Path(path)
    codec = _IMAGE_CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"no image codec for {path.suffix!r}; allowed: {sorted(_IMAGE_CODECS)}")
    height, width = rgb.shape[:2]
    if codec == "mjpeg":
        # JPEG stores full-range BT.601 YUV; swscale converts with both stated explicitly.
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
            format="yuvj444p", src_colorspace="itu601", dst_colorspace="itu601",
            src_color_range="JPEG", dst_color_range="JPEG",
        )  # fmt: skip
        pix_fmt = "yuvj444p"
    elif pix_fmt == "rgb48be":
        frame = av.VideoFrame(width, height, pix_fmt)
        _fill_plane(frame.planes[0], rgb.reshape(height, width * 3), big_endian=True)
    else:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=pix_fmt)
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = width, height, pix_fmt
    context.time_base = Fraction(1, 24)
    packets = [*context.encode(frame), *context.encode(None)]
    path.write_bytes(b"".join(bytes(p) for p in packets))


def make_image_sequence(
    folder: Path,
    *,
    frames: int,
    width: int,
    height: int,
    ext: str = ".tif",
    pix_fmt: str = "rgb48le",
    pattern: str = "frame_%06d",
    start_number: int = 1,
) -> list[np.ndarray]:
    """Write ``frames`` numbered images into ``folder``; return the RGB arrays written.

    ``pattern`` is a printf pattern without the extension. 16-bit formats get 16-bit
    values, 8-bit formats 8-bit ones.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bit_depth = 16 if "48" in pix_fmt or "64" in pix_fmt else 8
    written = []
    for index in range(frames):
        rgb = pattern_rgb(index, width=width, height=height, bit_depth=bit_depth)
        write_image(folder / f"{pattern % (start_number + index)}{ext}", rgb, pix_fmt=pix_fmt)
        written.append(rgb)
    return written


def decode_luma(path: Path) -> list[np.ndarray]:
    """Plane 0 of every frame, decoded in order by plain PyAV with no seeking.

    The reference that frame-accurate access is checked against; planar YUV or gray only.
    """
    planes = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            plane, fmt = frame.planes[0], frame.format
            itemsize = 1 if fmt.components[0].bits <= 8 else 2
            dtype = np.uint8 if itemsize == 1 else np.dtype(">u2" if fmt.is_big_endian else "<u2")
            rows = np.frombuffer(bytes(plane), dtype=dtype).reshape(plane.height, -1)
            planes.append(rows[:, : plane.width].astype(np.uint8 if itemsize == 1 else np.uint16))
    return planes


def expected_luma(rgb: np.ndarray, *, matrix: str, bit_depth: int) -> np.ndarray:
    """Full-range luma of RGB with the named weights, rounded to ``bit_depth`` code values."""
    kr, kg, kb = LUMA_WEIGHTS[matrix]
    rgbf = rgb.astype(np.float64)
    y = kr * rgbf[..., 0] + kg * rgbf[..., 1] + kb * rgbf[..., 2]
    y = np.clip(np.rint(y), 0, (1 << bit_depth) - 1)
    return y.astype(np.uint16 if bit_depth > 8 else np.uint8)
