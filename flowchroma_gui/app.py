"""Entry point of ``flowchroma-gui``: logging, the application object, the main window.

``flowchroma-gui [FILM]`` opens the film at start. ``--smoke-test FILM [--frame N]`` (for the
packaged app's smoke test) opens it, goes to frame N (default 0), waits until the source
frame and its exact colorized preview (not the approximate one) are on screen, prints
``smoke test passed: ... in S s`` (S: from the request of frame N to its exact colours) and
exits 0; anything else exits 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from flowchroma_core import __version__
from flowchroma_core.logs import setup_logging
from flowchroma_gui.icons import app_icon
from flowchroma_gui.notifications import notification_manager
from flowchroma_gui.qt_main_window import MainWindow

logger = logging.getLogger(__name__)

SMOKE_TEST_SECONDS = 600


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="flowchroma-gui", description="FlowChroma Studio: colorize black-and-white film."
    )
    parser.add_argument("film", nargs="?", help="a film to open")
    parser.add_argument("--version", action="version", version=f"FlowChroma Studio {__version__}")
    parser.add_argument(
        "--smoke-test",
        metavar="FILM",
        help="open FILM, wait for its colorized preview, then exit (0: it worked)",
    )
    parser.add_argument(
        "--frame",
        type=int,
        default=0,
        metavar="N",
        help="with --smoke-test: the frame to wait for (default 0)",
    )
    return parser.parse_args(argv)


def _smoke_test(window: MainWindow, app: QApplication, film: str, frame: int = 0) -> None:
    """Exit 0 once ``frame`` and its exact colours are shown; 1 on an error or a timeout."""
    started = [time.monotonic()]

    def opened(_path: str) -> None:
        started[0] = time.monotonic()  # frame 0 was asked for just before this signal
        if frame != 0:
            window.seek(frame)

    def shown(index: int, colorized: bool) -> None:
        exact = colorized and not window.viewer.result_approximate
        if exact and index == frame and window.viewer.source_index == index:
            print(
                f"smoke test passed: {film} frame {index} shown and colorized (exact) "
                f"in {time.monotonic() - started[0]:.2f} s",
                flush=True,
            )
            window.shutdown()
            app.exit(0)

    def failed(notification: object) -> None:
        print(f"smoke test failed: {getattr(notification, 'message', notification)}", flush=True)
        window.shutdown()
        app.exit(1)

    def timed_out() -> None:
        print(f"smoke test failed: nothing shown within {SMOKE_TEST_SECONDS} s", flush=True)
        window.shutdown()
        app.exit(1)

    window.film_opened.connect(opened)
    window.frame_shown.connect(shown)
    notification_manager.subscribe(lambda n: QTimer.singleShot(0, lambda: failed(n)))
    QTimer.singleShot(SMOKE_TEST_SECONDS * 1000, timed_out)
    window.open_path(film)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    args = parse_args(argv[1:])
    log_path = setup_logging()
    logger.info("FlowChroma Studio %s starting; log file %s", __version__, log_path)
    app = QApplication.instance() or QApplication(argv[:1])
    app.setApplicationName("FlowChroma Studio")
    app.setOrganizationName("FlowChroma")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("flowchroma-studio")
    app.setWindowIcon(app_icon())
    notification_manager.install_hooks()
    window = MainWindow()
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    if args.smoke_test:
        _smoke_test(window, app, args.smoke_test, args.frame)
    elif args.film:
        window.open_path(args.film)
    try:
        return app.exec()
    finally:
        notification_manager.uninstall_hooks()


if __name__ == "__main__":
    sys.exit(main())
