"""The arithmetic of docs/SCALE.md: the model's work per frame, and what an archive of
reels asks of GPUs, CPUs and storage.

    python benchmarks/scale.py [--reels 10000] [--minutes 10] [--rate 24]
                               [--width 2048] [--height 1080] [--gpu-tflops 20]
                               [--cpu-fps-per-core 4.5]

Counts the FLOPs of one forward pass of the shipped model (``torch.utils.flop_counter``,
multiply-add = 2 FLOPs) and times it on this CPU; the rest is arithmetic from the flags:
the GPU's effective (not peak) throughput, and the frames per second one CPU core gives
for the work outside the model at the archive's frame size (decode, upsampling the
colour, conversion, encode: measure it with ``benchmarks/pipeline.py``). The default 4.5
is issue 13's quiet-machine measurement on chaplin (17.9 frames/s end to end, 30.7 inside
the model: 23 ms per 640x360 frame outside it, on one thread) scaled by pixels to 2K.
"""

from __future__ import annotations

import argparse
import time

WEEK = 7 * 24 * 3600


def model_figures() -> tuple[float, float, str]:
    """GFLOPs per frame of the shipped model, its CPU frames/s here, and its input."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from flowchroma_core.model.session import ModelSession

    session = ModelSession.load("", device="cpu")
    cfg = session.model.config
    clip = torch.zeros(1, cfg.clip_length, 1, cfg.input_height, cfg.input_width)
    with torch.inference_mode():
        counter = FlopCounterMode(display=False)
        with counter:
            session.model(clip)
        begin = time.perf_counter()
        session.model(clip)
        seconds = time.perf_counter() - begin
    gflops = counter.get_total_flops() / cfg.clip_length / 1e9
    shape = f"{cfg.clip_length} x {cfg.input_height}x{cfg.input_width}, {cfg.backbone}"
    return gflops, cfg.clip_length / seconds, shape


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reels", type=int, default=10_000)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=24.0)
    p.add_argument("--width", type=int, default=2048)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--gpu-tflops", type=float, default=20.0, help="effective, not peak")
    p.add_argument("--cpu-fps-per-core", type=float, default=4.5,
                   help="frames/s of one core for everything but the model, at this size")
    args = p.parse_args()

    gflops, cpu_fps, shape = model_figures()
    frames = args.reels * args.minutes * 60 * args.rate
    pixels = args.width * args.height
    dpx10 = pixels * 4  # 10-bit RGB DPX: three 10-bit samples packed in one 32-bit word
    # ProRes 4444 (no alpha) at 1920x1080, 29.97 fps: 330 Mb/s (Apple's white paper);
    # the rate scales with pixels per second.
    prores4444 = 330e6 / 8 * (pixels * args.rate) / (1920 * 1080 * 29.97)
    need_fps = frames / WEEK
    gpu_fps = args.gpu_tflops * 1e12 / (gflops * 1e9)
    print(f"model:            {gflops:.2f} GFLOP per frame ({shape}); "
          f"{cpu_fps:.2f} frames/s on this CPU")  # fmt: skip
    print(f"archive:          {args.reels} reels x {args.minutes:g} min x {args.rate:g} fps "
          f"= {frames / 1e6:.0f} M frames of {args.width}x{args.height}")  # fmt: skip
    print(f"in a week:        {need_fps:.0f} frames/s sustained")
    print(f"model on a GPU:   {gpu_fps:,.0f} frames/s at {args.gpu_tflops:g} effective TFLOP/s"
          f" -> {need_fps / gpu_fps:.2f} GPU(s) of model time")  # fmt: skip
    cores = need_fps / args.cpu_fps_per_core
    print(f"outside the model: {cores:.0f} CPU cores at {args.cpu_fps_per_core:g} frames/s each")
    print(f"storage, DPX 10-bit in:     {dpx10 / 1e6:.1f} MB/frame, "
          f"{dpx10 * args.rate / 1e6:.0f} MB/s per real-time stream, "
          f"{dpx10 * need_fps / 1e9:.2f} GB/s for the week, {dpx10 * frames / 1e15:.2f} PB read")
    print(f"storage, ProRes 4444 out:   {prores4444 / 1e6:.0f} MB/s per real-time stream, "
          f"{prores4444 * need_fps / args.rate / 1e9:.2f} GB/s for the week, "
          f"{prores4444 * frames / args.rate / 1e12:.0f} TB written")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
