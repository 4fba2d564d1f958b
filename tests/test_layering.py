"""The core must stay usable without Qt: importing all of it loads no Qt module."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import flowchroma_core
for info in pkgutil.walk_packages(flowchroma_core.__path__, "flowchroma_core."):
    if info.name.endswith("__main__"):
        continue
    importlib.import_module(info.name)
qt = {"PySide6", "shiboken6", "superqt", "flowchroma_gui"}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in qt)
print(len([m for m in sys.modules if m.startswith("flowchroma_core.")]))
assert not loaded, loaded
"""


def test_core_imports_no_qt() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 5  # the modules really were imported
