"""Screenshots of the real window on an X display (Xvfb), captured with ``xwd -root``.

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 python benchmarks/gui_screenshots.py --out docs/screenshots

Opens the film, waits for its colorized preview and captures: side by side, the split
wipe (switched with the real "2" key through xdotool), an export in progress and the
settings dialog. Needs Debian's xvfb, xdotool and imagemagick (``convert``), and the
libxcb packages listed in the README.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PySide6.QtWidgets import QApplication
from qt_wait import pump, wait_until

DEFAULT_FILM = Path(__file__).resolve().parents[2] / "shared" / "data" / "bw" / "chaplin.mp4"
CONVERT = "/usr/bin/convert"  # Debian's imagemagick (another `convert` may come first on PATH)


def capture(app: QApplication, path: Path) -> None:
    pump(app, 0.5)  # let every widget paint
    xwd = subprocess.run(["xwd", "-root", "-silent"], capture_output=True, check=True).stdout
    subprocess.run([CONVERT, "xwd:-", f"png:{path}"], input=xwd, check=True)
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--film", type=Path, default=DEFAULT_FILM)
    parser.add_argument("--frame", type=int, default=120)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--model", type=Path, help="default: the shipped model")
    args = parser.parse_args()
    if "DISPLAY" not in os.environ:
        parser.error("set DISPLAY to an X server (for example Xvfb :99)")
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["FLOWCHROMA_CONFIG_DIR"] = tempfile.mkdtemp(prefix="fc-shots-")
    from flowchroma_core.settings import Settings, save_settings

    save_settings(Settings(model=str(args.model or "")))
    from flowchroma_gui.qt_main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    window.setGeometry(0, 0, 1600, 1000)
    window.show()
    wait_until(app, lambda: window.core is not None)
    window.open_path(args.film)
    wait_until(app, lambda: window.viewer.source_index == 0)
    wait_until(app, lambda: window.shots is not None and window.shots.complete)
    window.seek(args.frame)
    wait_until(app, lambda: window.viewer.result_index == args.frame)
    capture(app, args.out / "side_by_side.png")

    # a real key press: focus the window (there is no window manager) and press "2"
    wid = str(int(window.winId()))
    subprocess.run(["xdotool", "windowfocus", wid], check=True)
    pump(app, 0.3)
    subprocess.run(["xdotool", "key", "--clearmodifiers", "2"], check=True)
    wait_until(app, lambda: window.viewer.mode == "wipe", timeout=10)
    window.viewer.left_pane.set_divider(0.45)
    capture(app, args.out / "split_wipe.png")
    window.set_view_mode("side")

    window.show_export()
    dialog = window.export_dialog
    dialog.move(900, 120)
    out = Path(tempfile.mkdtemp(prefix="fc-shots-out-")) / "chaplin_colorized.mov"
    dialog.codec.setCurrentIndex(dialog.codec.findData("prores"))
    dialog.destination.setText(str(out))
    dialog.export_button.click()
    wait_until(app, lambda: dialog.progress.value() >= 24)
    capture(app, args.out / "export_in_progress.png")
    window.cancel_export()
    wait_until(app, lambda: not dialog.running)
    dialog.hide()

    window.show_settings()
    settings = window.settings_dialog
    settings.move(500, 150)
    settings.form.overlap.setValue(settings.form.clip_length.value())  # refused, with the reason
    capture(app, args.out / "settings_refused.png")
    settings.form.overlap.setValue(4)
    capture(app, args.out / "settings.png")
    settings.reject()
    window.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
