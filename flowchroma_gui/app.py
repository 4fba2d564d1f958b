"""Entry point of ``flowchroma-gui``: logging, the application object, the main window.

``flowchroma-gui [FILM]`` opens the film at start. ``--smoke-test FILM`` (for the packaged
app's smoke test) opens it, waits until the source frame and its colorized preview are on
screen, prints ``smoke test passed`` and exits 0; anything else exits 1.
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
    return parser.parse_args(argv)


def _smoke_test(window: MainWindow, app: QApplication, film: str) -> None:
    """Exit 0 once frame 0 and its colours are shown; 1 on an error or after a timeout."""
    started = time.monotonic()

    def shown(index: int, colorized: bool) -> None:
        if colorized and window.viewer.source_index == index:
            print(
                f"smoke test passed: {film} frame {index} shown and colorized "
                f"in {time.monotonic() - started:.1f} s",
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
        _smoke_test(window, app, args.smoke_test)
    elif args.film:
        window.open_path(args.film)
    try:
        return app.exec()
    finally:
        notification_manager.uninstall_hooks()


if __name__ == "__main__":
    sys.exit(main())
