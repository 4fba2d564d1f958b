"""Four films in one batch, in one process and on Ray with two workers: wall time, speedup,
and whether every output frame is the same.

    python benchmarks/batch.py [--frames 48] [--model FILE] [--workers 2] [--nodes 0]

The films are chaplin and a-bomb (``../shared/data/bw``) and two colour clips from
``../shared/data/clips`` turned grey; each is first rewritten as grey FFV1 (its first
``--frames`` frames, or all with ``--frames 0``) so that both runs read the same input.
Each run is the real command in a fresh process (``flowchroma batch ... --codec ffv1``,
then the same with ``--ray --workers N``): its wall time includes loading the model and,
for Ray, starting the local instance. ``--nodes K`` adds a run on a simulated K-node
cluster (``ray start`` K times on 127.0.0.1, one CPU each) with one worker node killed
(its whole process group, SIGKILL) ``--kill-after`` seconds in.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
FILMS = [
    DATA / "bw" / "chaplin.mp4",
    DATA / "bw" / "a-bomb_blast_effects_part.mp4",
    DATA / "clips" / "co-tracker__gradio_demo_videos_bear.mp4",
    DATA / "clips" / "co-tracker__gradio_demo_videos_paragliding.mp4",
]
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray picks 127.0.0.1 for everything

sys.path.insert(0, str(REPO / "benchmarks"))
from frame_hashes import frame_hashes  # noqa: E402


def grey_copy(source: Path, destination: Path, frames: int) -> int:
    """The first ``frames`` frames (0: all) of ``source`` as grey 8-bit FFV1; frames written."""
    written = 0
    with av.open(str(source)) as src, av.open(str(destination), "w") as out:
        stream_in = src.streams.video[0]
        rate = stream_in.average_rate or Fraction(24)
        stream = out.add_stream("ffv1", rate=rate)
        stream.width, stream.height = stream_in.width // 2 * 2, stream_in.height // 2 * 2
        stream.pix_fmt = "yuv420p"
        for frame in src.decode(stream_in):
            if frames and written >= frames:
                break
            yuv = frame.reformat(format="yuv420p", width=stream.width, height=stream.height)
            luma = np.frombuffer(yuv.planes[0], np.uint8).reshape(-1, yuv.planes[0].line_size)
            grey = av.VideoFrame(stream.width, stream.height, "yuv420p")
            for i, plane in enumerate(grey.planes):
                view = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
                view[...] = 128 if i else luma[: view.shape[0], : view.shape[1]]
            grey.pts, grey.time_base = written, 1 / rate
            out.mux(stream.encode(grey))
            written += 1
        out.mux(stream.encode(None))
    return written


def run_batch(
    films: list[Path], outdir: Path, extra: list[str], model: str | None, env: dict | None = None
) -> float:
    """Wall seconds of one ``flowchroma batch``; NaN when it failed."""
    command = [sys.executable, "-m", "flowchroma_core.cli", "batch", *map(str, films),
               "-o", str(outdir), "--codec", "ffv1", "--quiet", *extra]  # fmt: skip
    if model:
        command += ["--model", model]
    print("$", " ".join(command[2:]), flush=True)
    begin = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, **LOOPBACK, **(env or {})}, text=True)
    seconds = time.perf_counter() - begin
    if done.returncode != 0:
        print(f"exit code {done.returncode}", flush=True)
        return float("nan")
    return seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def auth_env(temp: Path) -> dict[str, str]:
    """Ray token authentication for the simulated cluster (Ray 2.59+ turns it on by default
    for local clusters): one token file shared by every node and by the driver."""
    token = temp / "ray_auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}


def start_cluster(nodes: int, auth: dict[str, str]) -> tuple[str, list[subprocess.Popen]]:
    """A head and ``nodes - 1`` worker nodes on 127.0.0.1, one CPU each, each its own
    process group (``ray start --block``) so that a node can be killed whole."""
    port = free_port()
    env = {**os.environ, **LOOPBACK, **auth}
    ray = str(Path(sys.executable).with_name("ray"))
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--block"]

    def node(*flags: str) -> subprocess.Popen:
        return subprocess.Popen([ray, "start", *flags, *common], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    procs = [node("--head", f"--port={port}", "--include-dashboard=false")]
    address = f"127.0.0.1:{port}"
    time.sleep(20)
    procs += [node(f"--address={address}") for _ in range(nodes - 1)]
    time.sleep(10 * nodes)
    return address, procs


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48, help="frames of each film (0: all)")
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=0, help="also a simulated K-node cluster")
    parser.add_argument("--kill-after", type=float, default=60.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="flowchroma-batch-bench-"))
    try:
        films, total = [], 0
        for film in FILMS:
            copy = work / "films" / f"{film.stem}.mkv"
            copy.parent.mkdir(exist_ok=True)
            total += grey_copy(film, copy, args.frames)
            films.append(copy)
        print(f"{len(films)} films, {total} frames, in {work / 'films'}", flush=True)
        runs = {"one process": run_batch(films, work / "seq", [], args.model)}
        runs[f"--ray, {args.workers} workers"] = run_batch(
            films, work / "ray", ["--ray", "--workers", str(args.workers)], args.model)
        outdirs = {"one process": work / "seq", f"--ray, {args.workers} workers": work / "ray"}
        if args.nodes:
            auth = auth_env(work)
            address, procs = start_cluster(args.nodes, auth)
            label = f"{args.nodes} nodes, 1 killed"
            try:
                killer = subprocess.Popen(  # SIGKILL the last worker node's process group
                    ["sh", "-c", f"sleep {args.kill_after}; kill -9 -{procs[-1].pid}"])
                runs[label] = run_batch(films, work / "nodes",
                                        ["--ray", address, "--workers", str(args.nodes)],
                                        args.model, auth)  # fmt: skip
                killer.wait()
            finally:
                stop_cluster(procs)
            outdirs[label] = work / "nodes"
        base = runs["one process"]
        print(f"\n{'run':<24} {'wall s':>8} {'fps':>7} {'speedup':>8}  frames equal to one process")
        reference = {f.name: frame_hashes(str(work / "seq" / f.name)) for f in films}
        for label, seconds in runs.items():
            equal = all(
                (outdirs[label] / f.name).exists()
                and frame_hashes(str(outdirs[label] / f.name)) == reference[f.name]
                for f in films
            )
            if seconds != seconds:  # NaN: the run failed (its error is printed above)
                print(f"{label:<24} {'failed':>8}")
                continue
            print(f"{label:<24} {seconds:8.1f} {total / seconds:7.2f} {base / seconds:8.2f}  "
                  f"{'yes' if equal else 'NO'}")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
