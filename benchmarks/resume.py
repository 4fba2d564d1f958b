"""Kill a real training run mid-way, resume it, and compare with an uninterrupted run.

    python benchmarks/resume.py configs/paper.toml [--steps 40] [--kill-after 25]

Both runs use the configuration's data cache and model, with ``steps`` shortened and a
checkpoint every 10 steps, in temporary run folders. The interrupted run is a real
``flowchroma train`` process killed with SIGKILL once its log passes ``--kill-after``;
running the same command again resumes from the last checkpoint. Prints both loss curves'
last values and the largest difference between them at any step.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w


def write_config(base: Path, run_dir: Path, steps: int) -> Path:
    cfg = tomllib.loads(base.read_text())
    folder = base.resolve().parent
    for key in ("clips", "photos"):
        cfg["data"][key] = [str((folder / p).resolve()) for p in cfg["data"].get(key, [])]
    cfg["data"]["cache_dir"] = str((folder / cfg["data"]["cache_dir"]).resolve())
    cfg["train"].update(
        steps=steps, checkpoint_every=10, validate_every=steps, run_dir=str(run_dir)
    )
    path = run_dir.with_suffix(".toml")
    path.write_text(tomli_w.dumps(cfg))
    return path


def losses(run_dir: Path) -> dict[int, float]:
    rows = (json.loads(r) for r in (run_dir / "log.jsonl").read_text().splitlines())
    return {r["step"]: r["loss"] for r in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--kill-after", type=int, default=25)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fc-resume-"))
    train = [sys.executable, "-m", "flowchroma_core.cli", "train"]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}

    straight = root / "straight"
    started = time.perf_counter()
    subprocess.run(
        [*train, str(write_config(args.config, straight, args.steps))],
        check=True,
        env=env,
        capture_output=True,
    )
    print(f"uninterrupted run: {args.steps} steps in {time.perf_counter() - started:.0f} s")

    broken = root / "interrupted"
    cfg = write_config(args.config, broken, args.steps)
    proc = subprocess.Popen(
        [*train, str(cfg)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    log = broken / "log.jsonl"
    while proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= args.kill_after:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    reached = len(log.read_text().splitlines())
    print(f"interrupted run: killed (SIGKILL) after step {reached}")
    subprocess.run([*train, str(cfg)], check=True, env=env, capture_output=True)

    a, b = losses(straight), losses(broken)
    assert sorted(a) == sorted(b) == list(range(1, args.steps + 1)), (len(a), len(b))
    worst = max(abs(a[s] - b[s]) for s in a)
    print(f"final loss: uninterrupted {a[args.steps]:.6f}, interrupted+resumed {b[args.steps]:.6f}")
    print(f"largest loss difference at any of the {args.steps} steps: {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
