"""Entry point of ``flowchroma-gui``: logging, the application object, the main window."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication

from flowchroma_core import __version__
from flowchroma_core.logs import setup_logging
from flowchroma_gui.qt_main_window import MainWindow

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    log_path = setup_logging()
    logger.info("FlowChroma Studio %s starting; log file %s", __version__, log_path)
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("FlowChroma Studio")
    app.setOrganizationName("FlowChroma")
    app.setApplicationVersion(__version__)
    window = MainWindow()
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
