"""Frozen entry point of ``flowchroma`` (PyInstaller needs a script, not an entry point)."""

from flowchroma_core.cli import main

raise SystemExit(main())
