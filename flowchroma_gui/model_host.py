"""The one object that owns the model and the device; no Qt here.

The preview thread and the export worker both ask it for a ``Colorizer``: the network is
loaded once per (model file, device), in whichever worker thread asks first, and shared;
each caller gets its own ``Colorizer`` (the per-run state: clip length, padding, matrix,
cuts) around it. torch is imported here lazily, so that importing this module on the GUI
thread costs nothing and never touches torch.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowchroma_core.pipeline.colorizer import Colorizer
    from flowchroma_core.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostStatus:
    """What the status line shows about the model and the device."""

    device: str
    model: str


def describe_model(settings: Settings) -> str:
    """A short name for the model the settings select (no torch needed)."""
    if settings.model:
        return Path(settings.model).name
    from flowchroma_core.model.files import default_model_path  # worker thread only

    path = default_model_path()
    return f"shipped ({path.name})" if path else "untrained default (no model installed)"


class ModelHost:
    """Loads the network lazily and hands out colorizers that share it; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._model: object | None = None
        self._device: object | None = None
        self.status = HostStatus(device="not loaded yet", model="not loaded yet")

    def is_loaded_for(self, settings: Settings) -> bool:
        with self._lock:
            return self._key == (settings.model, settings.device)

    def colorizer(
        self, settings: Settings, *, matrix: str = "bt709", detect_cuts: bool = True
    ) -> Colorizer:
        """A Colorizer with the settings' processing options around the shared network.

        ``detect_cuts=False`` leaves cut detection to the caller (the preview takes the
        cuts of the whole film from the background scan instead).
        """
        from flowchroma_core.model.device import describe_device
        from flowchroma_core.pipeline.colorizer import Colorizer
        from flowchroma_core.pipeline.export import load_colorizer

        settings.validated()
        key = (settings.model, settings.device)
        with self._lock:
            if self._key != key:
                self._model = self._device = self._key = None
                loaded = load_colorizer(settings)  # validates, selects the device, loads
                self._model, self._device, self._key = loaded.model, loaded.device, key
                self.status = HostStatus(
                    device=describe_device(loaded.device), model=describe_model(settings)
                )
                logger.info("model host: %s on %s", self.status.model, self.status.device)
            model, device = self._model, self._device
        return Colorizer(
            model,  # type: ignore[arg-type]
            device=device,  # type: ignore[arg-type]
            precision=settings.precision,
            padding=settings.padding,
            clip_length=settings.clip_length,
            overlap=settings.overlap,
            cut_threshold=settings.scene_cut_threshold if detect_cuts else 0.0,
            matrix=matrix,  # type: ignore[arg-type]
        )

    def release(self) -> None:
        """Drop the network (it is loaded again on the next request)."""
        with self._lock:
            self._model = self._device = self._key = None
