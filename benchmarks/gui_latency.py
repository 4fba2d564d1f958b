"""Scrub latency of the GUI preview with and without state checkpoints (issue 11 §2).

    python benchmarks/gui_latency.py [--film chaplin.mp4] [--frames 0 60 120 240]

For each model (the shipped one, and the v2 model or its newest checkpoint when present)
and each mode, on this CPU and in one run:

* ``before``: the preview as it was: every exact frame colorized from the shot's start,
  no approximate frame;
* ``after``: after the film is opened and scanned, the background checkpoint pass runs to
  its end (its time is printed), then each frame is asked for.

Every request is a cold jump: a fresh preview cache and no open stream (what a click far
away on the timeline costs). Printed: time to the approximate frame and to the exact one,
and how many exact frames were colorized. The preview engine, shot scan and checkpoint pass
are the GUI's own (``flowchroma_gui.preview``, ``jobs.scan_film``,
``preview_checkpoints.checkpoint_film``), run here without Qt. Model loading is excluded
(timed apart); the checkpoint store lives in a temporary folder (cold cache).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from flowchroma_core.errors import CancelToken
from flowchroma_core.settings import Settings
from flowchroma_gui.jobs import scan_film
from flowchroma_gui.model_host import ModelHost
from flowchroma_gui.preview import (
    PreviewApproximate,
    PreviewCache,
    PreviewEngine,
    PreviewReady,
    PreviewRequest,
)
from flowchroma_gui.preview_checkpoints import CheckpointBank, checkpoint_film
from flowchroma_gui.shot_map import ShotMap

ROOT = Path(__file__).resolve().parents[1]


def models() -> list[Path]:
    found = [ROOT / "assets" / "flowchroma_default.safetensors"]
    v2 = ROOT / "runs" / "v2" / "model.safetensors"
    if v2.is_file():
        found.append(v2)
    else:
        checkpoints = sorted((ROOT / "runs" / "v2" / "checkpoints").glob("*.safetensors"))
        if checkpoints:
            found.append(max(checkpoints, key=lambda p: p.stat().st_mtime))
    return [p for p in found if p.is_file()]


def measure(film: Path, model: Path, frames: list[int], mode: str) -> list[str]:
    settings = Settings(model=str(model))
    host = ModelHost()
    began = time.perf_counter()
    host.session(settings.colorize_options())
    load = time.perf_counter() - began
    ctx = CancelToken()
    began = time.perf_counter()
    from flowchroma_core.video.reader import open_video

    with open_video(film) as reader:
        count = len(reader)
    shots = ShotMap(count, threshold=settings.cut_threshold)
    for _ in scan_film(ctx, str(film), shots):  # type: ignore[arg-type]
        pass
    scan = time.perf_counter() - began
    rows = [f"{model.name:<34} {mode:<6} model load {load:.1f} s, scan {scan:.1f} s"]
    with tempfile.TemporaryDirectory() as folder:
        bank = CheckpointBank(Path(folder), enabled=mode == "after")
        if mode == "after":
            began = time.perf_counter()
            done = checkpoint_film(ctx, str(film), shots, settings, host, bank)  # type: ignore[arg-type]
            rows[0] += (
                f", checkpoint pass {time.perf_counter() - began:.1f} s"
                f" ({done.checkpoints if done else 0} boundaries, {count} frames)"
            )
        for f in frames:
            engine = PreviewEngine(host, PreviewCache(), bank if mode == "after" else None)
            engine.approximate = mode == "after"
            request = PreviewRequest(str(film), f, settings, shots)
            began = time.perf_counter()
            approx = exact = None
            for event in engine.handle(request, ctx):  # type: ignore[arg-type]
                now = time.perf_counter() - began
                if isinstance(event, PreviewApproximate) and approx is None:
                    approx = now
                if isinstance(event, PreviewReady):
                    exact = now
            engine.close()
            a = "-" if approx is None else f"{approx:.2f}"
            e = "-" if exact is None else f"{exact:.2f}"
            rows.append(
                f"  frame {f:>4}: approximate {a:>6} s   exact {e:>6} s   "
                f"frames colorized {engine.colorized}"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--film", type=Path, default=ROOT.parent / "shared/data/bw/chaplin.mp4")
    parser.add_argument("--frames", type=int, nargs="+", default=[0, 60, 120, 240])
    parser.add_argument("--modes", nargs="+", default=["before", "after"])
    parser.add_argument("--model", type=Path, action="append", help="only these model files")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"film {args.film.name}; load average {load[0]:.1f} on {os.cpu_count()} CPUs")
    for model in args.model or models():
        for mode in args.modes:
            for row in measure(args.film, model, args.frames, mode):
                print(row, flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
