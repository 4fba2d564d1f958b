"""The colour-guidance baselines on DAVIS, in one run (issue 10), and the cost of the flow.

    python benchmarks/guidance_baselines.py [--data DIR] [--sequences a,b] [--every 5]
                                            [--start 5] [--per-video] [--cost-only]
                                            [--decoder opencv|pyav] [--finest-scale 1]

Keyframe = frame 0 with its true colours. Rows: no colour (a*b* = 0), frame 0's a*b*
pasted on every frame, and frame 0's a*b* carried frame to frame by DIS flow on the grey
source rendered from L* (medium preset refined to ``propagate.FINEST_SCALE``, the product's
flow; ``--finest-scale 1`` is the preset as it stands, the issue's baseline). Every
prediction keeps the true L*; PSNR on
uint8 RGB on frames 5, 10, 15, ...; means over sequences (each weighs the same). Then PSNR
against distance from the keyframe (frames pooled), and the flow's cost per frame at
320x240 on this machine (one step = two DIS fields + the check, as ``carry_hints`` does;
the baseline's unchecked step is one field). See ``flowchroma_core.guidance.baselines``.

The JPEG decoder changes the "true" colours: OpenCV (libjpeg, smooth chroma upsampling,
the usual DAVIS reader) is the default. PyAV (``read_rgb``, what ``flowchroma eval`` uses)
now converts exactly (``reader.EXACT_RGB``) and gives the design note's figures: all 20
sequences 23.83 / 25.80 / 28.76 dB at finest scale 1 (the note: 23.84 / 25.80 / 28.78).
With swscale's default fast conversion, as before 2026-12-03, they were 23.71 / 25.53 /
28.42.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from flowchroma_core.guidance.baselines import BASELINES, by_distance, evaluate_sequence, mean_psnr
from flowchroma_core.guidance.propagate import FINEST_SCALE, FlowField
from flowchroma_core.video.reader import read_rgb

DAVIS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "davis"


def read_opencv(folder: Path) -> Iterator[np.ndarray]:
    """A folder of JPEG frames as uint8 RGB, decoded by OpenCV, in name order."""
    for path in sorted(folder.glob("*.jpg")):
        yield cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def flow_cost(
    data: Path, finest_scale: int, repeats: int = 40
) -> tuple[float, float, float, float]:
    """Median ms per frame at 320x240, wall clock then CPU time (all threads), for the
    checked step and the unchecked one. CPU time is the fairer figure on a shared machine."""
    seq = sorted(p for p in data.iterdir() if p.is_dir())[0]
    frames = [
        cv2.cvtColor(cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        for f in read_rgb(seq, max_frames=repeats + 1)
    ]
    flow = FlowField(finest_scale=finest_scale)
    wall: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for check in (True, False):
        for a, b in itertools.pairwise(frames):
            begin, begin_cpu = time.perf_counter(), time.process_time()
            flow.step(a, b, check=check)
            wall[check].append((time.perf_counter() - begin) * 1000)
            cpu[check].append((time.process_time() - begin_cpu) * 1000)
    return (
        float(np.median(wall[True])),
        float(np.median(wall[False])),
        float(np.median(cpu[True])),
        float(np.median(cpu[False])),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DAVIS, help=f"default: {DAVIS}")
    parser.add_argument("--sequences", help="comma-separated subset (default: all)")
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--start", type=int, default=5)
    parser.add_argument("--per-video", action="store_true")
    parser.add_argument("--cost-only", action="store_true", help="only time the flow")
    parser.add_argument("--no-cost", action="store_true", help="do not time the flow")
    parser.add_argument("--decoder", choices=("opencv", "pyav"), default="opencv")
    parser.add_argument(
        "--finest-scale",
        type=int,
        default=FINEST_SCALE,
        help=f"DIS's finest pyramid level (default {FINEST_SCALE}, the product's; 1 is the "
        "medium preset's own)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not args.data.is_dir():
        parser.error(f"{args.data} is absent: DAVIS lives in ../shared/data/davis")

    if not args.no_cost:
        checked, unchecked, checked_cpu, unchecked_cpu = flow_cost(args.data, args.finest_scale)
        print(
            f"DIS medium, finest scale {args.finest_scale}, at 320x240, median of 40 frames: "
            f"{checked:.1f} ms wall "
            f"({checked_cpu:.1f} ms CPU) per frame with the forward-backward check "
            f"(carry_hints); {unchecked:.1f} ms wall ({unchecked_cpu:.1f} ms CPU) without "
            f"(FlowCarry); load average {os.getloadavg()[0]:.1f}"
        )
    if args.cost_only:
        return
    sequences = sorted(p for p in args.data.iterdir() if p.is_dir())
    if args.sequences:
        wanted = set(args.sequences.split(","))
        sequences = [p for p in sequences if p.name in wanted]
    begin = time.perf_counter()
    results = []
    flow = FlowField(finest_scale=args.finest_scale)
    for seq in sequences:
        scores = evaluate_sequence(
            read_opencv(seq) if args.decoder == "opencv" else read_rgb(seq),
            name=seq.name,
            every=args.every,
            start=args.start,
            flow=flow,
        )
        results.append(scores)
        if args.per_video:
            row = "  ".join(f"{m} {scores.mean(m):6.2f}" for m in BASELINES)
            print(f"{seq.name:20s} {scores.frames:4d} frames  {row}", flush=True)
    seconds = time.perf_counter() - begin

    frames = sum(r.frames for r in results)
    scored = sum(len(r.psnr[BASELINES[0]]) for r in results)
    print(
        f"\n{len(results)} sequences, {frames} frames, {scored} scored; PSNR dB (mean of sequences)"
    )
    print("| method | PSNR dB | worst sequence |\n| --- | --- | --- |")
    for method in BASELINES:
        means = [r.mean(method) for r in results]
        worst = min(results, key=lambda r: r.mean(method))
        print(f"| {method} | {mean_psnr(means):.2f} | {worst.name} {worst.mean(method):.2f} |")
    print("\nPSNR dB against distance from the keyframe (frames pooled over sequences)")
    rows = {m: by_distance(results, m) for m in BASELINES}
    labels = [label for label, _, _ in rows[BASELINES[0]]]
    print("| distance | frames | " + " | ".join(BASELINES) + " |")
    print("| --- | --- |" + " --- |" * len(BASELINES))
    for i, label in enumerate(labels):
        values = " | ".join(f"{rows[m][i][1]:.2f}" for m in BASELINES)
        print(f"| {label} | {rows[BASELINES[0]][i][2]} | {values} |")
    print(f"\n{seconds:.0f} s for the sequences")


if __name__ == "__main__":
    main()
