"""Frozen entry point of ``flowchroma-gui`` (PyInstaller needs a script, not an entry point)."""

from flowchroma_gui.app import main

raise SystemExit(main())
