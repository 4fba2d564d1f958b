"""Shots side by side (issue 13, item 3): an export with ``--shot-batch K`` for several K.

    python benchmarks/shot_batch.py [--film FILM] [--batches 1,2,4] [--segment-frames 60]
                                    [--device cpu] [--precision fp32] [--frames N]

Exports ``FILM`` (default: the a-bomb film of ../shared/data, four shots) to FFV1 with the
shipped model, once per K, and prints for each: end-to-end frames/s, seconds inside the
network, how full the batches were (passes per batch, largest batch) and whether the output
matches K=1's (luma bit-exact, chroma within one code). On this 2-core CPU the network
already fills the cores, so little is to be won; the GPU script (``gpu.py --shot-batches``)
measures where it matters.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _planes(path: Path) -> list[list[np.ndarray]]:
    with av.open(str(path)) as c:
        return [
            [np.frombuffer(bytes(p), np.uint8).astype(np.int16) for p in f.planes]
            for f in c.decode(video=0)
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--film", type=Path, default=SHARED / "bw" / "a-bomb_blast_effects_part.mp4"
    )
    parser.add_argument("--batches", default="1,2,4")
    parser.add_argument("--segment-frames", type=int, default=60)
    parser.add_argument("--frames", type=int, default=None, help="only the first N frames")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--max-wait", type=float, help="seconds a pass waits for the others")
    args = parser.parse_args()
    if not args.film.exists():
        sys.exit(f"{args.film}: not found (give --film)")

    from flowchroma_core.model.session import ModelSession
    from flowchroma_core.pipeline import batching
    from flowchroma_core.pipeline.export import colorize_file
    from flowchroma_core.pipeline.options import ColorizeOptions

    if args.max_wait is not None:
        batching.MAX_WAIT = args.max_wait
    session = ModelSession.load(device=args.device, precision=args.precision)
    options = ColorizeOptions(device=args.device, precision=args.precision)
    print(f"film: {args.film.name}; device: {session.describe_device()}; {args.precision}; "
          f"a pass waits up to {batching.MAX_WAIT * 1000:.0f} ms for the others")  # fmt: skip
    print("| K | segments | frames | end-to-end fps | network s (summed over segments) "
          "| passes per batch | largest | same as K=1 |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        for k in [int(b) for b in args.batches.split(",")]:
            out = Path(tmp) / f"k{k}.mkv"
            begin = time.perf_counter()
            result = colorize_file(
                args.film, out, options=options, session=session, codec="ffv1",
                stop=args.frames, segment_frames=args.segment_frames, shot_batch=k,
            )  # fmt: skip
            seconds = time.perf_counter() - begin
            stats = result.batching  # None: one segment at a time
            mean = f"{stats.mean:.2f}" if stats else "1.00"
            largest = stats.largest if stats else 1
            planes = _planes(out)
            if reference is None:
                reference, same = planes, "(reference)"
            else:
                pairs = list(zip(planes, reference, strict=True))
                luma = all(np.array_equal(a[0], b[0]) for a, b in pairs)
                chroma = max(int(np.abs(a[i] - b[i]).max()) for a, b in pairs for i in (1, 2))
                same = f"luma {'bit-exact' if luma else 'DIFFERS'}, chroma within {chroma}"
            print(
                f"| {k} | {result.segments} | {result.frames} | {result.frames / seconds:.2f} "
                f"| {result.model_seconds:.1f} | {mean} | {largest} | {same} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
