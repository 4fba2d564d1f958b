"""Throughput on a GPU (issue 13): model-only and end-to-end frames/s at 1080p and 4K.

    python benchmarks/gpu.py [--film FILM] [--frames 96] [--device cuda]
                             [--sizes 1080p,4k] [--models shipped,full]
                             [--precisions fp32,fp16,bf16] [--codec h264] [--budget-s 480]

``benchmarks/gpu.sh`` builds the environment and calls this. The test films are made with
PyAV in a temporary folder: ``--film`` (chaplin.mp4, say) upscaled to each size, or, where
no film is given (the GPU machine receives the repository only), a synthetic grey film of
moving shapes and grain. For every size, model (``shipped``: the model in ``assets/``;
``full``: ``FlowChromaConfig()``, the paper's size, random weights) and precision it
prints model-only frames/s (time inside the network, synchronised), end-to-end frames/s
(``colorize_file``: decode, model, per-frame maths, encode, mux) and the peak GPU memory;
one more row per size runs the shipped model's export (fp16) with ``hardware=True``:
decoded on NVDEC and encoded on NVENC where they work, as ``--hardware-video`` exports.
A second table compares the video engines at each size: decode (software vs NVDEC) and
encode (software libx264 vs NVENC) alone, in frames/s, where the engines work here.

The last table puts shots side by side (``--shot-batches``, ``colorize_file(shot_batch=K)``) on
the same film cut every ``--shot-frames`` frames.

``--device cpu --frames 8 --sizes 360p`` runs the same code on a CPU (a smoke test).
Runs stop being started once ``--budget-s`` seconds have passed (the rest are listed as
skipped), so the script fits a lent machine's time.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

SIZES = {"360p": (640, 360), "1080p": (1920, 1080), "4k": (3840, 2160)}


def make_film(
    path: Path, size: tuple[int, int], frames: int, film: Path | None, shot_frames: int = 0
) -> Path:
    """An H.264 grey film of ``frames`` frames at ``size``: ``film`` upscaled, or synthetic.
    ``shot_frames``: a cut every so many frames (every other shot's luma inverted)."""
    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25), options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, picture in enumerate(_pictures(size, frames, film)):
            if shot_frames and (i // shot_frames) % 2:
                planes = picture.to_ndarray()  # (H * 3 / 2, W): luma rows first
                planes[:height] = 251 - planes[:height]  # 16..235 -> 235..16
                picture = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            picture.pts, picture.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    return path


def _pictures(size: tuple[int, int], frames: int, film: Path | None):
    width, height = size
    if film is not None:
        while True:  # loop the film if it is shorter than asked
            with av.open(str(film)) as source:
                for frame in source.decode(video=0):
                    yield frame.reformat(width=width, height=height, format="yuv420p")
                    frames -= 1
                    if frames == 0:
                        return
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(frames):
        cx, cy = width * (0.3 + 0.4 * np.sin(i / 17)), height * (0.5 + 0.3 * np.cos(i / 11))
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < (height / 5) ** 2
        luma = 40 + 150 * (xx / width) + 50 * disc + rng.normal(0, 6, (height, width))
        y = np.clip(luma, 16, 235).astype(np.uint8)
        picture = av.VideoFrame(width, height, "yuv420p")
        picture.planes[0].update(_pad(y, picture.planes[0].line_size))
        for plane in picture.planes[1:]:
            plane.update(np.full(plane.buffer_size, 128, np.uint8))
        yield picture


def _pad(rows: np.ndarray, line_size: int) -> bytes:
    out = np.zeros((rows.shape[0], line_size), np.uint8)
    out[:, : rows.shape[1]] = rows
    return out.tobytes()


def load_session(kind: str, device: str, precision: str) -> Any:
    import torch

    from flowchroma_core.errors import DeviceError
    from flowchroma_core.model.network import FlowChroma, FlowChromaConfig
    from flowchroma_core.model.session import ModelSession

    if kind == "shipped":
        try:
            return ModelSession.load("", device=device, precision=precision)
        except DeviceError:
            raise
        except Exception as error:  # e.g. the backbone package missing offline
            logging.warning("shipped model with its backbone failed (%s); random backbone", error)
            from flowchroma_core.model.files import default_model_path, load_model

            path = default_model_path()
            if path is None:
                raise
            model, _ = load_model(path, backbone_weights="random", device=torch.device(device))
            return ModelSession.around(model, device=device, precision=precision)
    torch.manual_seed(0)
    model = FlowChroma(FlowChromaConfig(), backbone_weights="random")
    return ModelSession.around(model, device=device, precision=precision, name="full")


def colorize_run(
    film: Path, out: Path, session: Any, precision: str, codec: str, hardware: bool = False
) -> dict:
    """Reader thread -> model -> writer thread on ``film`` (pipeline.direct_export);
    ``hardware``: NVDEC and NVENC where they work."""
    import torch

    from flowchroma_core.pipeline.options import ColorizeOptions

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pipeline import direct_export  # benchmarks/pipeline.py

    device = session.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    options = ColorizeOptions(device=str(device.type), precision=precision)
    r = direct_export(
        film, out, session=session, options=options, codec=codec, frames=10**9, overlap=True,
        hardware=hardware,
    )
    out.unlink(missing_ok=True)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
    per_frame = {k: 1000 * r[k] / r["frames"] for k in ("decode", "maths", "encode")}
    return {
        "frames": r["frames"],
        "model_fps": r["frames"] / max(r["model"], 1e-9),
        "e2e_fps": r["frames"] / r["seconds"],
        "peak_gpu_mib": peak,
        "busy_ms": per_frame,
    }


def shot_batch_run(film: Path, out: Path, session: Any, precision: str, codec: str, k: int,
                   shot_frames: int) -> dict:  # fmt: skip
    """``colorize_file`` with ``shot_batch=k`` (segments of one shot each side by side, their
    passes batched): end-to-end frames/s and how full the batches were."""
    import torch

    from flowchroma_core.pipeline.export import colorize_file
    from flowchroma_core.pipeline.options import ColorizeOptions

    device = session.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        options = ColorizeOptions(device=str(device.type), precision=precision)
        begin = time.perf_counter()
        result = colorize_file(film, out, options=options, session=session, codec=codec,
                               segment_frames=shot_frames, shot_batch=k)  # fmt: skip
        seconds = time.perf_counter() - begin
    finally:
        out.unlink(missing_ok=True)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
    stats = result.batching  # None: one segment at a time
    batches = (
        f"{stats.requests} passes in {stats.batches} batches (mean {stats.mean:.2f}, "
        f"largest {stats.largest})" if stats else "one at a time"
    )
    return {
        "frames": result.frames,
        "cuts": len(result.cuts),
        "e2e_fps": result.frames / seconds,
        "peak_gpu_mib": peak,
        "batches": batches,
    }


def decode_fps(film: Path, decoder: str | None) -> float:
    """Frames/s of decoding ``film`` alone, with PyAV's default or a named decoder."""
    with av.open(str(film)) as container:
        stream = container.streams.video[0]
        begin, n = time.perf_counter(), 0
        if decoder is None:
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frame.planes[0]
                n += 1
        else:
            context = av.CodecContext.create(decoder, "r")
            context.extradata = stream.codec_context.extradata
            for packet in container.demux(stream):
                for _ in context.decode(packet):
                    n += 1
            for _ in context.decode(None):
                n += 1
    return n / (time.perf_counter() - begin)


def encode_fps(size: tuple[int, int], frames: int, encoder: str, options: dict) -> float:
    width, height = size
    picture = av.VideoFrame(width, height, "yuv420p")
    for plane in picture.planes:
        plane.update(np.full(plane.buffer_size, 100, np.uint8))
    context = av.CodecContext.create(encoder, "w")
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base, context.framerate = Fraction(1, 25), Fraction(25)
    context.options = dict(options)
    begin = time.perf_counter()
    for i in range(frames):
        picture.pts = i
        context.encode(picture)
    context.encode(None)
    return frames / (time.perf_counter() - begin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--film", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", default="1080p,4k")
    parser.add_argument("--models", default="shipped,full")
    parser.add_argument("--precisions", default="fp32,fp16,bf16")
    parser.add_argument("--codec", default="h264")
    parser.add_argument("--budget-s", type=float, default=480.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--shot-batches", default="1,4,8", help="K of the shots-side-by-side rows ('' for none)"
    )
    parser.add_argument("--shot-frames", type=int, default=24, help="shot length of those rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    from flowchroma_core.model.device import describe_device, select_device
    from flowchroma_core.video import hardware

    start = time.perf_counter()
    device = select_device(args.device)
    print(f"device: {describe_device(device)}; torch {torch.__version__}; PyAV {av.__version__}")
    rows: list[dict] = []
    engines: list[dict] = []
    shot_rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size_name in args.sizes.split(","):
            size = SIZES[size_name]
            film = make_film(Path(tmp) / f"{size_name}.mp4", size, args.frames, args.film)
            row = {"size": size_name, "decode sw": decode_fps(film, None)}
            nvdec = hardware.hardware_decoder("h264")
            row["decode nvdec"] = decode_fps(film, nvdec) if nvdec else None
            row["encode x264"] = encode_fps(size, args.frames, "libx264", {"crf": "16"})
            nvenc = hardware.hardware_encoder("libx264")
            cq = hardware.nvenc_options({"crf": "16"})
            row["encode nvenc"] = encode_fps(size, args.frames, nvenc, cq) if nvenc else None
            engines.append(row)
            precisions = args.precisions.split(",")
            fast = "fp16" if "fp16" in precisions else precisions[0]
            runs = [(k, p, False) for k in args.models.split(",") for p in precisions]
            runs.append(("shipped", fast, True))  # the same export on NVDEC + NVENC
            for kind, precision, engines_on in runs:
                label = {"size": size_name, "model": kind, "precision": precision}
                if engines_on:
                    label["precision"] += " NVDEC/NVENC"
                if time.perf_counter() - start > args.budget_s:
                    rows.append(label | {"skipped": "time budget"})
                    continue
                try:
                    session = load_session(kind, str(device), precision)
                    out = Path(tmp) / "out.mkv"
                    result = colorize_run(
                        film, out, session, precision, args.codec, hardware=engines_on
                    )
                    rows.append(label | result)
                except Exception as error:  # a precision the device lacks, say
                    rows.append(label | {"skipped": f"{type(error).__name__}: {error}"})
                print(_row_text(rows[-1]), flush=True)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            if args.shot_batches:
                shots_film = make_film(Path(tmp) / f"{size_name}_shots.mp4", size, args.frames,
                                       args.film, shot_frames=args.shot_frames)  # fmt: skip
                for k in [int(v) for v in args.shot_batches.split(",")]:
                    label = {"size": size_name, "shot batch": k, "precision": fast}
                    if time.perf_counter() - start > args.budget_s:
                        shot_rows.append(label | {"skipped": "time budget"})
                        continue
                    try:
                        session = load_session("shipped", str(device), fast)
                        shot_rows.append(label | shot_batch_run(
                            shots_film, Path(tmp) / "shots.mkv", session, fast, args.codec, k,
                            args.shot_frames))  # fmt: skip
                    except Exception as error:
                        shot_rows.append(label | {"skipped": f"{type(error).__name__}: {error}"})
                    print(shot_rows[-1], flush=True)
    print()
    e2e = f"end-to-end fps ({args.codec})"
    head = f"| size | model | precision | model-only fps | {e2e} | peak GPU MiB |"
    print(f"{head} ms/frame: decode, calling thread outside the net (waits too), encode |")
    print("| --- | --- | --- | ---: | ---: | ---: | --- |")
    for row in rows:
        print(_row_text(row))
    print()
    print("| size | decode sw fps | decode NVDEC fps | encode x264 fps | encode NVENC fps |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in engines:
        cells = [_fps(row[k]) for k in ("decode sw", "decode nvdec", "encode x264", "encode nvenc")]
        print(f"| {row['size']} | " + " | ".join(cells) + " |")
    if shot_rows:
        print()
        print(f"shots of {args.shot_frames} frames side by side (--shot-batch K), shipped model")
        print("| size | K | precision | frames | cuts | end-to-end fps | peak GPU MiB | batches |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |")
        for row in shot_rows:
            head = f"| {row['size']} | {row['shot batch']} | {row['precision']} |"
            if "skipped" in row:
                print(f"{head} skipped: {row['skipped']} | | | | |")
                continue
            print(f"{head} {row['frames']} | {row['cuts']} | {row['e2e_fps']:.1f} "
                  f"| {row['peak_gpu_mib']:.0f} | {row['batches']} |")  # fmt: skip
    if args.json is not None:
        data = {"runs": rows, "engines": engines, "shot_batches": shot_rows}
        args.json.write_text(json.dumps(data, indent=1))


def _fps(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _row_text(row: dict) -> str:
    head = f"| {row['size']} | {row['model']} | {row['precision']} |"
    if "skipped" in row:
        return f"{head} skipped: {row['skipped']} | | | |"
    busy = ", ".join(f"{k} {v:.1f}" for k, v in row["busy_ms"].items())
    fps = f"{row['model_fps']:.1f} | {row['e2e_fps']:.1f}"
    return f"{head} {fps} | {row['peak_gpu_mib']:.0f} | {busy} |"


if __name__ == "__main__":
    main()
