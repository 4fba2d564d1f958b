"""Resume after a crash, measured: an export killed (SIGKILL) mid-way and run again, against
an uninterrupted export of the same film, with the same command and model.

    python benchmarks/resume_export.py                      # a-bomb, shipped model, FFV1
    python benchmarks/resume_export.py --end 150 --kill-after 1

Prints the uninterrupted time, the killed run's time, the resumed run's time, the time a
restart from scratch would have cost instead, and whether every frame hash is equal.
Each run is a real ``flowchroma colorize`` process (model loading included).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from frame_hashes import frame_hashes

from flowchroma_core.pipeline.journal import work_folder

logger = logging.getLogger(__name__)

FILM = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "bw" / "a-bomb_blast_effects_part.mp4"
)


def _done(folder: Path) -> int:
    try:
        return len(json.loads((folder / "journal.json").read_text())["done"])
    except (OSError, ValueError, KeyError):
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--film", type=Path, default=FILM)
    parser.add_argument("--end", help="colorize frames before this one only (--end of colorize)")
    parser.add_argument("--kill-after", type=int, default=2, help="finished segments before kill")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--segment-frames", default="60", help="segment size (colorize's flag)")
    args = parser.parse_args()
    common = ["--quiet", "--device", args.device, "--segment-frames", args.segment_frames]
    common += ["--end", args.end] if args.end else []

    with tempfile.TemporaryDirectory(prefix="resume_export.") as tmp:
        folder = Path(tmp)

        def colorize(out: Path) -> list[str]:
            return [sys.executable, "-m", "flowchroma_core.cli", "colorize", str(args.film),
                    "-o", str(out), *common]  # fmt: skip

        whole = folder / "whole.mkv"
        begin = time.perf_counter()
        subprocess.run(colorize(whole), check=True)
        t_whole = time.perf_counter() - begin

        out = folder / "resumed.mkv"
        begin = time.perf_counter()
        process = subprocess.Popen(colorize(out))
        while _done(work_folder(out)) < args.kill_after and process.poll() is None:
            time.sleep(0.05)
        if process.poll() is not None:
            print("the export finished before it could be killed; use a smaller --kill-after")
            return 1
        process.send_signal(signal.SIGKILL)
        process.wait()
        t_killed = time.perf_counter() - begin
        segments = _done(work_folder(out))
        begin = time.perf_counter()
        resumed = subprocess.run(colorize(out), check=True, capture_output=True, text=True)
        t_resumed = time.perf_counter() - begin
        said = [line for line in resumed.stderr.splitlines() if line.startswith("resumed:")]

        a, b = frame_hashes(str(whole)), frame_hashes(str(out))
        print(f"film: {args.film.name}{f' (frames before {args.end})' if args.end else ''}")
        print(f"uninterrupted export:            {t_whole:7.1f} s")
        print(f"killed after {segments} segment(s):        {t_killed:7.1f} s")
        print(f"resumed run:                     {t_resumed:7.1f} s  ({'; '.join(said)})")
        print(f"killed + resumed, in all:        {t_killed + t_resumed:7.1f} s")
        print(f"killed + restart from scratch:   {t_killed + t_whole:7.1f} s")
        print(f"time saved by resuming:          {t_whole - t_resumed:7.1f} s")
        print(f"frames: {len(a)} vs {len(b)}; every frame hash equal: {a == b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
