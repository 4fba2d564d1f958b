"""Ablation of colour model v2 at equal training steps: what each change buys.

    python benchmarks/ablation_v2.py train --steps 250     # trains the variants (resumable)
    python benchmarks/ablation_v2.py eval --steps 250      # DAVIS table of the checkpoints
    # the paper design's full run, evaluated on every frame:
    python benchmarks/ablation_v2.py train --steps 1500 --only paper
    python benchmarks/ablation_v2.py eval --steps 1500 --only paper --frames 0

Every variant is ``configs/v2.toml`` with one thing changed, trained with the same data,
seed and learning-rate schedule (that of the full run), stopped after ``--steps``:

* ``v2``           the full run's own checkpoint at that step where ``runs/v2`` keeps it,
                   else trained like the others (guidance starts later);
* ``logits_only``  no spatial skips: the backbone is seen only as its global logits;
* ``mse``          a*b* regression with MSE instead of colour classes;
* ``lite2``        EfficientNet-Lite2 instead of Lite0 as the frozen backbone;
* ``paper``        ``configs/paper.toml`` (the seed's design) on the same data folders.

``eval`` colorizes the first ``--frames`` frames of the 20 DAVIS sequences with each
checkpoint through the product's own pipeline (``flowchroma eval``) and prints one table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowchroma_core.training import load_train_config, train  # noqa: E402
from flowchroma_core.training.loop import checkpoints  # noqa: E402

RUNS = ROOT / "runs"


def variants() -> dict:
    base = load_train_config(ROOT / "configs" / "v2.toml")
    paper = load_train_config(ROOT / "configs" / "paper.toml")

    def run(cfg, name: str, **train_changes):
        return replace(
            cfg, train=replace(cfg.train, run_dir=str(RUNS / f"ablation_{name}"), **train_changes)
        )

    return {
        "v2": base,
        "logits_only": run(
            replace(base, model=replace(base.model, spatial_skips=False)), "logits_only"
        ),
        "mse": run(replace(base, model=replace(base.model, head="regression")), "mse", loss="mse"),
        "lite2": run(
            replace(
                base,
                model=replace(base.model, backbone="tf_efficientnet_lite2"),
                data=replace(base.data, cache_dir=str(RUNS / "cache_v2_lite2")),
            ),
            "lite2",
        ),
        "paper": run(
            replace(
                paper,
                data=replace(
                    paper.data,
                    clips=base.data.clips,
                    photos=base.data.photos,
                    max_frames_per_video=base.data.max_frames_per_video,
                    photo_stride=base.data.photo_stride,
                    cache_dir=str(RUNS / "cache_paper_v2data"),
                ),
            ),
            "paper",
            steps=base.train.steps,
            warmup=base.train.warmup,
        ),
    }


def checkpoint_at(cfg, steps: int) -> Path | None:
    found = dict(checkpoints(Path(cfg.train.run_dir)))
    return found.get(steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["train", "eval"])
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--only", nargs="*", help="variants to run (default: all)")
    parser.add_argument(
        "--frames", type=int, default=24, help="DAVIS frames per sequence (0: every frame)"
    )
    parser.add_argument("--davis", type=Path, default=ROOT.parent / "shared" / "data" / "davis")
    args = parser.parse_args()
    table = variants()
    names = args.only or list(table)
    if args.action == "train":
        for name in names:
            cfg = table[name]
            if checkpoint_at(cfg, args.steps):
                continue  # done already (for v2: the full run's checkpoint, where it is kept)
            cfg = replace(cfg, train=replace(cfg.train, checkpoint_every=args.steps))
            print(f"training {name} to step {args.steps}", flush=True)
            train(cfg, stop_after=args.steps)
        return 0
    rows = {}
    for name in names:
        path = checkpoint_at(table[name], args.steps)
        if path is None:
            print(f"{name}: no checkpoint at step {args.steps}", file=sys.stderr)
            continue
        out = RUNS / f"ablation_eval_{name}_{args.steps}.json"
        if not out.exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "flowchroma_core.cli",
                    "eval",
                    str(args.davis),
                    "--model",
                    str(path),
                    *(["--max-frames", str(args.frames)] if args.frames else []),
                    "--no-baselines",
                    "--out-json",
                    str(out),
                ],
                check=True,
            )
        rows[name] = json.loads(out.read_text())
    print(f"| variant (step {args.steps}) | PSNR dB | SSIM | colourfulness | CDC | warp error |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, report in rows.items():
        m = report["mean"]["methods"]["model"]
        print(
            f"| {name} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['colourfulness']:.2f} | "
            f"{m['cdc']:.5f} | {m['warp_error']:.5f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
