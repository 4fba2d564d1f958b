"""NVIDIA's video engines through FFmpeg in PyAV: NVDEC for decoding and NVENC
(``h264_nvenc``, ``hevc_nvenc``) for encoding, chosen only where they work here, with a clean
fall back to the software codec.

Decoding uses FFmpeg's CUDA hwaccel (``decoding_accel``: PyAV's ``HWAccel`` passed to
``av.open``), which runs the ordinary H.264/HEVC/AV1/VP9/MPEG-2 decoders on NVDEC and hands
the pictures back in system memory (NV12/P010, whose plane 0 is the luma as coded: the
decoders are bit-exact by their standards, so a hardware-decoded film gives the same luma).
Streams NVDEC cannot take (4:2:2 H.264, for one) fall back to software inside FFmpeg. The
``*_cuvid`` decoders (``hardware_decoder``) are kept for the GPU benchmark's raw figures.

An engine counts as present only when PyAV's FFmpeg has the codec (``av.codec.Codec``) *and*
a tiny context opens (``open_works``): a build with NVENC on a machine without an NVIDIA
driver has the codec but fails to open it. Results are cached per process.

Only H.264 and H.265 have hardware counterparts. ProRes, DNxHR, FFV1 and the image formats
are always encoded in software (NVENC has no such encoders), so the lossless and mastering
outputs do not change with the machine. The NVENC settings aim at the software presets'
quality (constant quality ``cq`` in place of ``crf``), not at identical bits: an export
made with NVENC is not bit-identical to a software one, chroma aside the luma is lossy in
both.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Mapping
from fractions import Fraction
from typing import Literal

import av
from av.codec.hwaccel import HWAccel, hwdevices_available

logger = logging.getLogger(__name__)

Mode = Literal["r", "w"]

HARDWARE_DECODERS: dict[str, str] = {"h264": "h264_cuvid", "hevc": "hevc_cuvid"}
"""Software decoder (the stream's codec name) -> its NVDEC decoder."""

NVDEC_CODECS = frozenset({"h264", "hevc", "av1", "vp9", "vp8", "mpeg2video", "mpeg1video", "vc1"})
"""Stream codecs (FFmpeg's names) that FFmpeg's CUDA hwaccel can decode on NVDEC."""

HARDWARE_ENCODERS: dict[str, str] = {"libx264": "h264_nvenc", "libx265": "hevc_nvenc"}
"""Software encoder (a preset's codec) -> its NVENC encoder."""

NVENC_PIXEL_FORMATS = frozenset({"yuv420p", "yuv444p"})
"""The pixel formats NVENC takes as ``VideoWriter`` packs them (planar). NVENC's 10-bit
input is P010 (semi-planar, the bits at the top), which the writer does not pack."""

# Software options -> NVENC: the CRF becomes NVENC's constant quality, speed presets map to
# NVENC's p1 (fastest) .. p7 (best); options NVENC does not know are dropped.
_NVENC_PRESETS = {"ultrafast": "p1", "veryfast": "p2", "fast": "p4", "medium": "p5", "slow": "p6"}


@functools.cache
def codec_present(name: str, mode: Mode) -> bool:
    """Whether PyAV's FFmpeg was built with codec ``name`` for ``mode`` (``r`` or ``w``)."""
    try:
        av.codec.Codec(name, mode)
    except Exception:  # UnknownCodecError, or a build without it
        return False
    return True


@functools.cache
def open_works(name: str, mode: Mode) -> bool:
    """Whether a tiny context of codec ``name`` opens here (driver and device present)."""
    if not codec_present(name, mode):
        return False
    try:
        context = av.CodecContext.create(name, mode)
        if mode == "w":
            context.width, context.height = 256, 144
            context.pix_fmt = "yuv420p"
            context.time_base = Fraction(1, 25)
            context.framerate = Fraction(25)
        context.open()
    except Exception as error:
        logger.info("%s is built in but cannot be opened here: %s", name, error)
        return False
    logger.info("hardware codec %s available", name)
    return True


@functools.cache
def cuda_decoding_works() -> bool:
    """Whether FFmpeg can decode on NVDEC here: a CUDA device is made for a tiny H.264
    film encoded in memory, once per process. False on a machine without an NVIDIA driver
    (FFmpeg then fails to make the device, which PyAV reports as an ``OSError``)."""
    if not (codec_present("libx264", "w") and "cuda" in hwdevices_available()):
        return False
    film = io.BytesIO()
    try:
        with av.open(film, "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 256, 144, "yuv420p"
            picture = av.VideoFrame(256, 144, "yuv420p")
            for plane in picture.planes:
                plane.update(bytes(plane.buffer_size))
            out.mux(stream.encode(picture))
            out.mux(stream.encode(None))
        film.seek(0)
        accel = HWAccel(device_type="cuda", allow_software_fallback=False)
        with av.open(film, "r", hwaccel=accel) as back:
            next(back.decode(video=0))
    except (av.error.FFmpegError, OSError, StopIteration) as error:
        logger.info("NVDEC decoding is not available here: %s", error)
        return False
    logger.info("NVDEC decoding available (FFmpeg's CUDA hwaccel)")
    return True


def decoding_accel(codec: str) -> HWAccel | None:
    """The hwaccel to open a film whose video stream is ``codec`` with, decoding on NVDEC
    where that works here; None (decode in software) otherwise."""
    if codec not in NVDEC_CODECS or not cuda_decoding_works():
        return None
    return HWAccel(device_type="cuda", allow_software_fallback=True)


def hardware_decoder(codec: str) -> str | None:
    """The NVDEC decoder for a stream's ``codec`` where it works here, else None."""
    name = HARDWARE_DECODERS.get(codec)
    return name if name is not None and open_works(name, "r") else None


def hardware_encoder(codec: str) -> str | None:
    """The NVENC encoder for a preset's software ``codec`` where it works here, else None."""
    name = HARDWARE_ENCODERS.get(codec)
    return name if name is not None and open_works(name, "w") else None


def encoder_choice(
    codec: str, options: Mapping[str, str], *, hardware: bool
) -> tuple[str, dict[str, str]]:
    """The encoder to use for a preset's ``codec`` and ``options``: NVENC with translated
    options when ``hardware`` is asked for and works here, else the software codec as is."""
    if not hardware:
        return codec, dict(options)
    name = hardware_encoder(codec)
    if name is None:
        logger.info("no hardware encoder for %s here; encoding in software", codec)
        return codec, dict(options)
    return name, nvenc_options(options)


def nvenc_options(options: Mapping[str, str]) -> dict[str, str]:
    """A software preset's options in NVENC's terms (quality kept, speed mapped)."""
    out = {"rc": "vbr", "b": "0"}
    if "crf" in options:
        out["cq"] = options["crf"]
    out["preset"] = _NVENC_PRESETS.get(options.get("preset", "medium"), "p5")
    return out
