"""Turn a trained run into the model the product ships, with what it was trained on.

    python -m flowchroma_core.training.ship runs/small_cpu_mse/model.safetensors \\
        --manifest ../shared/data/MANIFEST.tsv --eval runs/eval_davis.json \\
        -o assets/flowchroma_default.safetensors

The shipped file is the same safetensors model (the frozen backbone is not stored in it),
with its metadata completed: the training summary the run recorded, every source folder's
file count and licence notes from the data's manifest, and the evaluation report's mean
figures. The product reads none of this at run time except to show it.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from flowchroma_core.model.files import load_model, read_metadata, save_model

logger = logging.getLogger(__name__)


def manifest_summary(manifest: Path, folders: list[str]) -> dict[str, Any]:
    """Per data folder used: the number of files and their licence notes (with counts)."""
    used = {Path(f).name for f in folders}
    summary: dict[str, Any] = {}
    with manifest.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            folder = row["path"].split("/", 1)[0]
            if folder not in used:
                continue
            entry = summary.setdefault(folder, {"entries": 0, "licences": Counter()})
            entry["entries"] += 1
            entry["licences"][row["licence note"]] += 1
    return {
        folder: {"entries": e["entries"], "licences": dict(e["licences"].most_common())}
        for folder, e in summary.items()
    }


def ship(
    trained: Path,
    out: Path,
    *,
    manifest: Path | None,
    evaluation: Path | None,
    vividness: float | None = None,
    notes: dict[str, Any] | None = None,
) -> Path:
    meta = read_metadata(trained)
    model, _ = load_model(trained)
    if vividness is not None:  # the measured default, recorded in the configuration
        model.config = dataclasses.replace(model.config, vividness=vividness)
    training = dict(meta.training)
    data = dict(training.get("data", {}))
    if manifest is not None:
        data["manifest"] = manifest_summary(manifest, data.get("folders", []))
    data["folders"] = [Path(f).name for f in data.get("folders", [])]  # no local paths
    training["data"] = data
    training.pop("config_file", None)
    start = training.get("settings", {}).get("init_from")
    if start and Path(start).exists():  # a fine-tune: keep what its starting model was
        base = read_metadata(Path(start)).training
        training["base"] = base.get("base", base)
        training["settings"] = {**training["settings"], "init_from": Path(start).name}
    report: dict[str, Any] = {}
    if evaluation is not None:
        full = json.loads(evaluation.read_text())
        report = {k: v for k, v in full.items() if k != "videos"}
    if notes:
        report = {**report, **notes}
    save_model(model, out, training=training, evaluation=report)
    logger.info("shipped %s -> %s", trained, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trained", type=Path, help="the run's final model file")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, help="the training data's MANIFEST.tsv")
    parser.add_argument("--eval", type=Path, help="a `flowchroma eval --out-json` report")
    parser.add_argument("--vividness", type=float, help="the measured default vividness")
    parser.add_argument("--notes", type=Path, help="JSON of further figures to record")
    args = parser.parse_args()
    notes = json.loads(args.notes.read_text()) if args.notes else None
    out = ship(
        args.trained,
        args.output,
        manifest=args.manifest,
        evaluation=args.eval,
        vividness=args.vividness,
        notes=notes,
    )
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
