"""How the window feels: preview latency after a scrub, and event-loop stalls during export.

Runs the real ``MainWindow`` (offscreen unless a display is set) on a film:

1. Preview latency: for frames at increasing distance from the shot's start, with an empty
   cache, the time from ``seek(frame)`` to the colorized frame on screen. The preview
   colorizes from the start of the shot (as the export does, so both agree exactly), so
   the latency grows with that distance; a step to the next frame afterwards costs one
   frame. Also the time to the source frame (decoding only).
2. Event-loop stall during an export: a 5 ms timer records the gaps between its ticks
   while an FFV1 export of the whole film runs and the user scrubs every 150 ms; the
   longest gap minus 5 ms is the longest stall (target: under 100 ms).

    python benchmarks/gui_responsiveness.py [--film FILE] [--model FILE] [--device cpu]

Without ``--model`` the shipped default model is used.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication
from qt_wait import stalls_during_export, wait_until

DEFAULT_FILM = Path(__file__).resolve().parents[2] / "shared" / "data" / "bw" / "chaplin.mp4"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--film", type=Path, default=DEFAULT_FILM)
    parser.add_argument("--model", type=Path, help="default: the shipped model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--distances", default="0,8,24,48", help="frames from the shot start")
    args = parser.parse_args()

    config = tempfile.mkdtemp(prefix="fc-bench-config-")
    os.environ["FLOWCHROMA_CONFIG_DIR"] = config
    os.environ.setdefault("FLOWCHROMA_LOG_DIR", tempfile.mkdtemp(prefix="fc-bench-log-"))
    from flowchroma_core.settings import Settings, save_settings

    save_settings(Settings(model=str(args.model or ""), device=args.device))
    from flowchroma_gui.qt_main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    window.show()
    t = wait_until(app, lambda: window.core is not None)
    print(f"engine started in {t:.2f} s")
    window.open_path(args.film)
    wait_until(app, lambda: window.path is not None and window.viewer.source_index == 0)
    wait_until(app, lambda: window.shots is not None and window.shots.complete)
    print(
        f"film: {args.film.name}, {window.playhead.frame_count} frames, cuts {window.shots.cuts()}"
    )
    # the first colorized frame also loads the model
    t = wait_until(app, lambda: window.viewer.result_index == 0)
    print(f"first colorized frame (model load + one clip): {t:.2f} s")
    print(f"status: {window.device_label.text()} | {window.model_label.text()}")

    print("\npreview latency after a scrub (empty cache):")
    print("  frame  from shot start  source shown  colorized shown")
    for distance in (int(d) for d in args.distances.split(",")):
        frame = min(distance, window.playhead.last)
        # a cold start: nothing cached and no colorization stream to continue
        wait_until(app, lambda: window.activity_label.text().endswith("idle"))
        window.preview_engine.close_stream()  # the preview thread is idle: safe here
        window.cache.clear()
        start = time.perf_counter()
        window.seek(frame)
        wait_until(app, lambda f=frame: window.viewer.source_index == f)
        src_t = time.perf_counter() - start
        wait_until(app, lambda f=frame: window.viewer.result_index == f)
        col_t = time.perf_counter() - start
        print(f"  {frame:5d}  {distance:15d}  {src_t * 1000:9.0f} ms  {col_t * 1000:12.0f} ms")
    # stepping forward continues the open stream: one frame's work (or none, if its clip
    # was already colorized)
    wait_until(app, lambda: window.activity_label.text().endswith("idle"))
    window.preview_engine.close_stream()
    window.cache.clear()
    window.seek(100)
    wait_until(app, lambda: window.viewer.result_index == 100)
    steps = []
    for _ in range(20):
        start = time.perf_counter()
        window.step(1)
        nxt = window.position
        wait_until(app, lambda n=nxt: window.viewer.result_index == n)
        steps.append(time.perf_counter() - start)
    print(
        f"  stepping forward 20 frames from 100: median {statistics.median(steps) * 1000:.0f} ms,"
        f" longest {max(steps) * 1000:.0f} ms"
    )

    print("\nevent-loop stalls during an export (FFV1, whole film, scrubbing every 150 ms):")
    result = stalls_during_export(
        app, window, lambda: window.seek((window.position + 17) % window.playhead.frame_count)
    )
    print(
        f"  export of {window.playhead.frame_count} frames took {result.seconds:.1f} s; "
        f"{len(result.gaps)} timer ticks"
    )
    print(
        f"  longest stall {result.longest:.1f} ms, 99th percentile {result.p99:.1f} ms, "
        f"median gap {statistics.median(result.gaps):.1f} ms (target: longest under 100 ms)"
    )
    window.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
