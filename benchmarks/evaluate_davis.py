"""Colorization quality on the 20 DAVIS-2016 validation sequences (427x240 JPEG frames).

    python benchmarks/evaluate_davis.py [--model FILE] [--device auto] [--max-frames N]
                                        [--every 5] [--sequences blackswan,cows]
                                        [--no-colour-only] [--no-baselines]
                                        [--out-json F] [--contact-sheet F.png] [--per-video]

Prints PSNR, SSIM, colourfulness, CDC and warp error of the model, the no-colour input
and the per-frame model (state reset every frame), with the originals' own colourfulness,
CDC and warp error; means are over sequences. ``--no-colour-only`` measures just the grey
input, without loading any model: on the full data set it gives the PSNR floor every
colorizer must beat. On a CPU, ``--max-frames 16`` keeps a model run to minutes.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from flowchroma_core.evaluation.run import METHODS, evaluate
from flowchroma_core.settings import Settings

DAVIS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "davis"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DAVIS, help=f"default: {DAVIS}")
    parser.add_argument("--model", default="", help="a FlowChroma .safetensors model file")
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu")
    parser.add_argument("--max-frames", type=int, help="only the first N frames of each sequence")
    parser.add_argument("--every", type=int, default=5, help="PSNR/SSIM on every Nth frame")
    parser.add_argument("--sequences", help="comma-separated subset (default: all 20)")
    parser.add_argument(
        "--no-colour-only",
        "--no-model-baseline-only",
        action="store_true",
        help="measure only the grey input (no model is loaded)",
    )
    parser.add_argument(
        "--baselines", action=argparse.BooleanOptionalAction, default=True, help="(default: yes)"
    )
    parser.add_argument("--out-json", type=Path)
    parser.add_argument("--contact-sheet", type=Path)
    parser.add_argument("--per-video", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if not args.data.is_dir():
        parser.error(f"{args.data} is absent: DAVIS lives in ../shared/data/davis")
    sequences = sorted(p for p in args.data.iterdir() if p.is_dir())
    if args.sequences:
        wanted = set(args.sequences.split(","))
        sequences = [p for p in sequences if p.name in wanted]
        if missing := wanted - {p.name for p in sequences}:
            parser.error(f"no such sequence(s): {', '.join(sorted(missing))}")
    if args.no_colour_only:
        methods: tuple[str, ...] = ("no colour",)
    else:
        methods = METHODS if args.baselines else ("model",)
    settings = Settings(model=args.model, device=args.device, cut_threshold=0.0)
    begin = time.perf_counter()
    report = evaluate(
        sequences,
        options=settings.colorize_options(),
        every=args.every,
        max_frames=args.max_frames,
        methods=methods,
        out_json=args.out_json,
        contact_sheet=args.contact_sheet,
    )
    print(report.table(per_video=args.per_video))
    frames = sum(v.frames for v in report.videos)
    seconds = time.perf_counter() - begin
    print(f"{frames} frames in {seconds:.1f} s ({frames / seconds:.1f} frames/s, all methods)")


if __name__ == "__main__":
    main()
