"""End-to-end colorization speed and memory on a real film.

    python benchmarks/pipeline.py [--input ../shared/data/bw/chaplin.mp4] [--frames 24]
                                  [--device auto] [--codec ffv1]

Prints, for the default model: model-only frames/s (time inside the network), end-to-end
frames/s (decode + cut detection + model + chroma + encode + mux), the share of the time
spent outside the model, and peak resident memory for N and 10 x N frames, each run in a
fresh process so the peaks are independent.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO.parent / "shared" / "data" / "bw" / "chaplin.mp4"


def run_once(args: argparse.Namespace) -> dict:
    import torch

    from flowchroma_core.model.session import ModelSession
    from flowchroma_core.pipeline.export import colorize_file
    from flowchroma_core.pipeline.options import ColorizeOptions

    options = ColorizeOptions(device=args.device, precision=args.precision)
    session = ModelSession.load(options.model, device=options.device, precision=options.precision)
    with tempfile.TemporaryDirectory() as tmp:
        result = colorize_file(
            Path(args.input),
            Path(tmp) / f"out.{args.ext}",
            options=options,
            session=session,
            codec=args.codec,
            stop=args.frames,
        )
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    return {
        "frames": result.frames,
        "seconds": result.seconds,
        "model_seconds": result.model_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mib": peak_gpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", default=str(DEFAULT_INPUT))
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--codec", default="ffv1")
    parser.add_argument("--ext", default="mkv")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args)))
        return
    runs = {}
    for n in (args.frames, 10 * args.frames):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--input",
            args.input,
            "--frames",
            str(n),
            "--device",
            args.device,
            "--precision",
            args.precision,
            "--codec",
            args.codec,
            "--ext",
            args.ext,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        runs[n] = json.loads(out.strip().splitlines()[-1])
    long = runs[10 * args.frames]
    model_fps = long["frames"] / long["model_seconds"]
    e2e_fps = long["frames"] / long["seconds"]
    print(f"input:                  {args.input} ({args.codec} out, device {args.device})")
    print(f"model-only:             {model_fps:.2f} frames/s")
    took = f"{long['frames']} frames in {long['seconds']:.1f} s"
    print(f"end-to-end:             {e2e_fps:.2f} frames/s ({took})")
    print(f"outside the model:      {100 * (1 - e2e_fps / model_fps):.1f} % of the time")
    for n, r in runs.items():
        gpu = f", GPU peak {r['peak_gpu_mib']:.0f} MiB" if r["peak_gpu_mib"] else ""
        print(f"peak memory, {n:5d} frames: {r['peak_rss_mib']:.0f} MiB resident{gpu}")
    growth = runs[10 * args.frames]["peak_rss_mib"] / runs[args.frames]["peak_rss_mib"] - 1
    print(f"memory growth for 10x:  {100 * growth:+.1f} %")


if __name__ == "__main__":
    main()
