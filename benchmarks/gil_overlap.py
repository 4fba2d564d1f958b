"""Do PyAV and torch release the GIL in their heavy calls here? (issue 13, pipeline/stages.py)

    python benchmarks/gil_overlap.py [--input ../shared/data/bw/chaplin.mp4] [--frames 96]

Two measurements for each heavy call (PyAV decode, PyAV FFV1 encode, a torch matmul, the
model's convolution, NumPy chroma packing):

* ticks: a pure-Python thread counts while the main thread runs the call; its rate is
  compared with its rate while the main thread sleeps. A call that holds the GIL starves
  the counter (about 0 %), one that releases it leaves the counter running (on a machine
  with a free core, near 100 %; on a loaded machine less, as the OS shares the cores).
* overlap: decode alone, matmul alone, then both at once on two threads; with the GIL
  released the pair takes about max(decode, matmul), not their sum (when two cores are
  free; the machine's load is printed).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO.parent / "shared" / "data" / "bw" / "chaplin.mp4"


def decode(path: str, frames: int) -> Callable[[], None]:
    import av

    def run() -> None:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                frame.to_ndarray(format="gray")
                if i + 1 >= frames:
                    break

    return run


def encode(frames: int) -> Callable[[], None]:
    import tempfile

    import av
    import numpy as np

    rng = np.random.default_rng(0)
    picture = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)

    def run() -> None:
        with tempfile.TemporaryDirectory() as tmp, av.open(f"{tmp}/o.mkv", "w") as out:
            stream = out.add_stream("ffv1", rate=Fraction(25))
            stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
            for i in range(frames):
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(
                    format="yuv420p"
                )
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))

    return run


def matmul(repeats: int) -> Callable[[], None]:
    import torch

    a = torch.randn(768, 768)

    def run() -> None:
        for _ in range(repeats):
            a @ a

    return run


def conv(repeats: int) -> Callable[[], None]:
    import torch

    x = torch.randn(16, 32, 112, 112)
    w = torch.randn(32, 32, 3, 3)

    def run() -> None:
        with torch.inference_mode():
            for _ in range(repeats):
                torch.nn.functional.conv2d(x, w, padding=1)

    return run


def numpy_pack(repeats: int) -> Callable[[], None]:
    import numpy as np

    c = np.random.default_rng(0).random((1080, 1920), dtype=np.float32) - 0.5

    def run() -> None:
        for _ in range(repeats):
            half = c.reshape(540, 2, 960, 2).mean(axis=(1, 3), dtype=np.float32)
            np.floor(128 + 224 * half + 0.5).clip(16, 240).astype(np.uint8)

    return run


def ticks_during(call: Callable[[], None] | None, seconds: float = 1.0) -> tuple[float, float]:
    """(counter ticks per second in another thread, wall seconds) while ``call`` runs."""
    stop = threading.Event()
    count = [0]

    def counter() -> None:
        n = 0
        while not stop.is_set():
            n += 1
        count[0] = n

    thread = threading.Thread(target=counter)
    begin = time.perf_counter()
    thread.start()
    if call is None:
        time.sleep(seconds)
    else:
        call()
    stop.set()
    thread.join()
    wall = time.perf_counter() - begin
    return count[0] / wall, wall


def timed(call: Callable[[], None]) -> float:
    begin = time.perf_counter()
    call()
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", default=str(DEFAULT_INPUT))
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    import sys

    import torch

    torch.set_num_threads(1)  # one core per thread, so "both at once" can use two
    sys.setswitchinterval(0.001)  # the counter asks for the GIL often
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; torch 1 thread")
    calls = {
        "PyAV decode (h264)": decode(args.input, args.frames),
        "PyAV encode (ffv1)": encode(args.frames // 2),
        "torch matmul 768^2": matmul(args.repeats),
        "torch conv2d": conv(max(1, args.repeats // 8)),
        "NumPy 4:2:0 packing": numpy_pack(args.repeats),
    }
    for call in calls.values():
        call()  # warm up
    idle, _ = ticks_during(None)
    print(f"{'call':24s} {'wall s':>7s} {'counter rate':>13s}  (idle {idle / 1e6:.2f} M/s)")
    for name, call in calls.items():
        rate, wall = ticks_during(call)
        print(f"{name:24s} {wall:7.2f} {100 * rate / idle:12.0f} %")
    d = timed(calls["PyAV decode (h264)"])
    m = timed(calls["torch matmul 768^2"])
    pair = ("PyAV decode (h264)", "torch matmul 768^2")
    threads = [threading.Thread(target=calls[k]) for k in pair]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = time.perf_counter() - begin
    print(
        f"overlap: decode {d:.2f} s, matmul {m:.2f} s, both on two threads {both:.2f} s "
        f"(sum {d + m:.2f}, max {max(d, m):.2f}); overlap gained {d + m - both:.2f} s "
        f"of the {min(d, m):.2f} s possible"
    )


if __name__ == "__main__":
    main()
