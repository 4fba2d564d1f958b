"""Seams at clip boundaries: carried state + cross-faded overlap versus naive clips.

    python benchmarks/seams.py [--input CLIP] [--frames 96] [--clip-length 16] [--overlap 4]
                               [--model FILE]

For each mode, prints the mean absolute change of a*b* (CIE units, at the model's
resolution) between the two frames either side of a clip boundary, and between all other
neighbouring frames. No seam means the first is no larger than the second.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.colorizer import Colorizer
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import open_video

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = (
    REPO.parent / "shared" / "data" / "clips" / "OpenGVLab_Ask-Anything_example_yoga.mp4"
)


def measure(args: argparse.Namespace, *, carry: bool, overlap: int) -> tuple[float, float, int]:
    options = ColorizeOptions(
        window_frames=args.clip_length,
        overlap=overlap if carry else 0,
        model=args.model or "",
        cut_threshold=0,
        carry_state=carry,
    )
    colorizer = Colorizer(ModelSession.load(options.model, device=options.device))
    with open_video(Path(args.input)) as reader:
        run = colorizer.run(reader.frames(0, args.frames), options)
        abs_ = np.stack([f.ab for f in run]) * 128.0
    step = args.clip_length - (overlap if carry else 0)
    starts = set(range(step, args.frames, step))
    # a boundary is where one clip hands over to the next: both ends of a cross-fade
    pairs = starts | {s + (overlap if carry else 0) for s in starts}
    change = np.abs(np.diff(abs_, axis=0)).mean(axis=(1, 2, 3))  # change[t-1]: frame t-1 -> t
    at = [change[t - 1] for t in sorted(pairs) if 0 < t < args.frames]
    other = [c for t, c in enumerate(change, 1) if t not in pairs]
    return float(np.mean(at)), float(np.mean(other)), len(at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", default=str(DEFAULT_INPUT))
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--clip-length", type=int, default=16)
    parser.add_argument("--overlap", type=int, default=4)
    parser.add_argument("--model", default="")
    args = parser.parse_args()
    print(f"input: {args.input}, {args.frames} frames, clips of {args.clip_length}")
    for name, carry, overlap in (
        ("carried state + cross-fade", True, args.overlap),
        ("naive clips (state reset)", False, 0),
    ):
        seam, other, n = measure(args, carry=carry, overlap=overlap)
        print(f"{name:28s} boundary {seam:.5g} vs other neighbours {other:.5g} ({n} boundaries)")


if __name__ == "__main__":
    main()
