"""The guidance editor on a real film: screenshots (Xvfb) and the event-loop stall while
painting points during an export.

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 python benchmarks/guidance_gui.py --film /tmp/copy/chaplin.mp4 \
        --model runs/v2/model.safetensors --out /tmp/F1_shots

The film's project file is written beside it, so give a copy of the film in a scratch
folder. Captures: points on a frame with the colour popover open; the shot with a
reference still loaded (a colour version of the frame made here: the grey frame tinted
warm to cool) and the coverage strip; the similarity overlay; a split wipe of the guided
frame. Then, with ``--stall``, an FFV1 export of frames [0, --export-frames) runs while a
point is clicked onto the viewer every 150 ms (each click adds a point and opens the
popover, which is closed again); a 5 ms timer records its gaps, and the longest gap minus
5 ms is the longest stall (target under 100 ms), as ``gui_responsiveness.py`` measures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from qt_wait import pump, stalls_during_export, wait_until

CONVERT = "/usr/bin/convert"


def capture(app: QApplication, path: Path) -> None:
    pump(app, 0.8)
    xwd = subprocess.run(["xwd", "-root", "-silent"], capture_output=True, check=True).stdout
    subprocess.run([CONVERT, "xwd:-", f"png:{path}"], input=xwd, check=True)
    print(f"wrote {path}", flush=True)


def tinted_still(grey_png: Path, out: Path) -> Path:
    """A stand-in for a still graded outside: the grey frame tinted warm (left) to cool."""
    grey = cv2.imread(str(grey_png), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    w = grey.shape[1]
    t = np.linspace(0, 1, w)[None, :]
    warm, cool = np.array([1.0, 0.72, 0.5]), np.array([0.55, 0.75, 1.0])
    tint = warm[None, None] * (1 - t[..., None]) + cool[None, None] * t[..., None]
    rgb = np.clip(grey[..., None] * tint * 1.15, 0, 1)
    cv2.imwrite(str(out), np.rint(rgb[..., ::-1] * 255).astype(np.uint8))
    return out


def pane_point(window, x: float, y: float):
    pane = window.viewer.left_pane
    image = window.viewer.source_image
    return pane, pane.transform().map(QPointF(x * image.width(), y * image.height())).toPoint()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--film", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--frame", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("/tmp/F1_shots"))
    parser.add_argument("--still-frame", type=int, help="make the still from this frame")
    parser.add_argument("--only-similarity", action="store_true")
    parser.add_argument("--stall", action="store_true")
    parser.add_argument("--no-shots", action="store_true")
    parser.add_argument("--export-frames", type=int, default=120)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["FLOWCHROMA_CONFIG_DIR"] = tempfile.mkdtemp(prefix="fc-guidance-")
    from flowchroma_core.guidance.film_source import export_frame
    from flowchroma_core.guidance.project import Point, project_path_for
    from flowchroma_core.settings import Settings, save_settings

    project = project_path_for(args.film)
    project.unlink(missing_ok=True)
    save_settings(Settings(model=str(args.model)))
    from flowchroma_gui.qt_main_window import MainWindow
    from flowchroma_gui.qt_viewer import ViewMode

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    window.setGeometry(0, 0, 1600, 1000)
    window.show()
    wait_until(app, lambda: window.core is not None)
    window.open_path(args.film)
    wait_until(app, lambda: window.viewer.source_index == 0)
    wait_until(app, lambda: window.shots is not None and window.shots.complete)
    g = window.guidance
    f = args.frame
    window.seek(f)
    t = wait_until(app, lambda: window.viewer.result_index == f)
    print(f"automatic frame {f} shown after {t:.1f} s", flush=True)
    g.points_action.trigger()
    if not args.no_shots:
        for x, y, a, b in [
            (0.30, 0.35, 18.0, 22.0),
            (0.62, 0.55, -20.0, 12.0),
            (0.45, 0.8, 30.0, 5.0),
        ]:
            g.add_point(Point(f, x, y, a, b, 0.03))
        point = g.doc.points(f)[0]
        g.editor.select(point)
        pane, at = pane_point(window, point.x, point.y)
        g.editor.open_popover(point, pane.mapToGlobal(at))
        g.editor.popover.add_to_palette("dress red")
        g.doc.remember_colour(-20.0, 12.0)
        g.editor.open_popover(g.doc.points(f)[0], pane.mapToGlobal(at))
        if not (args.out / "1_points_popover.png").exists():
            capture(app, args.out / "1_points_popover.png")
        g.editor.popover.hide()
        source = f if args.still_frame is None else args.still_frame
        grey = export_frame(args.film, source, args.out / f"frame{source}.png")
        still = tinted_still(grey, args.out / f"graded_frame{source}.png")
        from flowchroma_gui.preview import PreviewApproximate

        approximate: list[tuple[float, str]] = []  # (when, the guidance revision shown)
        window.preview_thread.event.connect(
            lambda _rid, event: approximate.append((time.perf_counter(), event.key.guidance))
            if isinstance(event, PreviewApproximate) and event.key.frame == f
            else None
        )
        clicked = time.perf_counter()
        g.add_reference(still, f)
        if args.only_similarity:
            g.similarity_action.trigger()
        t = (
            0.0
            if args.only_similarity
            else wait_until(
                app,
                lambda: (
                    window.viewer.result_index == f
                    and window.current_key().guidance != ""
                    and window.cache.get(window.current_key()) is not None
                ),
            )
        )
        print(f"guided frame {f} (3 points + a still) shown after {t:.1f} s", flush=True)
        revision = window.current_key().guidance
        shown = [when - clicked for when, rev in approximate if rev == revision]
        if shown:
            print(
                f"approximate guided frame {f} (the same guidance, frame alone)"
                f" shown after {shown[0]:.2f} s",
                flush=True,
            )
        if not args.only_similarity:
            capture(app, args.out / "2_reference_coverage.png")
            g.similarity_action.trigger()  # setChecked alone does not trigger
        wait_until(app, lambda: g.editor.similarity is not None)
        print(
            f"similarity map {g.editor.similarity.shape}, mean {g.editor.similarity.mean():.2f}",
            flush=True,
        )
        capture(app, args.out / f"3_similarity_still{source}.png")
        if args.only_similarity:
            window.shutdown()
            window.close()
            return 0
        g.similarity_action.trigger()
        window.set_view_mode(ViewMode.WIPE)
        window.viewer.left_pane.set_divider(0.5)
        capture(app, args.out / "4_wipe_guided.png")
        window.set_view_mode(ViewMode.SIDE_BY_SIDE)
    if args.stall:
        measure_stall(app, window, args)
    window.shutdown()
    window.close()
    return 0


def measure_stall(app: QApplication, window, args) -> None:
    print(
        f"\nstalls while clicking points during an FFV1 export of {args.export_frames} frames:",
        flush=True,
    )
    window.playhead.in_point, window.playhead.out_point = 0, args.export_frames - 1
    rng = np.random.default_rng(0)
    clicks = [0]

    def paint() -> None:
        window.guidance.editor.popover.hide()
        pane, at = pane_point(window, float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9)))
        QTest.mouseClick(pane, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
        clicks[0] += 1

    result = stalls_during_export(app, window, paint)
    print(
        f"  export took {result.seconds:.1f} s; {clicks[0]} points clicked; "
        f"{len(result.gaps)} ticks",
        flush=True,
    )
    print(
        f"  longest stall {result.longest:.1f} ms, 99th percentile {result.p99:.1f} ms "
        "(target: under 100 ms)",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
