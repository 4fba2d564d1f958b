"""FlowChroma core: model, colour science, video I/O and inference. Never imports Qt."""

from __future__ import annotations

__version__ = "0.1.0"
