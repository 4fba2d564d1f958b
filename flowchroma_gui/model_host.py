"""The GUI's one ``ModelSession``, shared by the preview thread and the export worker; no Qt.

The network is loaded once per (model file, device), in whichever worker thread asks
first; a change of precision reuses it. torch is imported lazily, inside ``session``, so
that importing this module on the GUI thread costs nothing and never touches torch.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowchroma_core.model.session import ModelSession
    from flowchroma_core.pipeline.options import ColorizeOptions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostStatus:
    """What the status line shows about the model and the device."""

    device: str
    model: str
    vividness: float | None = None  # the model's default vividness (None: it has none)


def describe_model(model: str) -> str:
    """A short name for a model file setting (empty: the shipped default)."""
    if model:
        return Path(model).name
    from flowchroma_core.model.files import default_model_path  # worker thread only

    path = default_model_path()
    return f"shipped ({path.name})" if path else "untrained default (no model installed)"


class ModelHost:
    """Holds the loaded ``ModelSession`` and reloads it when the options name another
    model or device; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._session: ModelSession | None = None
        self.status = HostStatus(device="not loaded yet", model="not loaded yet")

    def is_loaded_for(self, options: ColorizeOptions) -> bool:
        with self._lock:
            return self._key == (options.model, options.device)

    def session(self, options: ColorizeOptions) -> ModelSession:
        """The session for ``options`` (loaded now if the model or device changed)."""
        from flowchroma_core.model.session import ModelSession

        key = (options.model, options.device)
        with self._lock:
            if self._key != key or self._session is None:
                self._session = self._key = None
                self._session = ModelSession.load(
                    options.model, device=options.device, precision=options.precision
                )
                self._key = key
                self.status = HostStatus(
                    device=self._session.describe_device(),
                    model=describe_model(options.model),
                    vividness=getattr(self._session.model.config, "vividness", None),
                )
                logger.info("model host: %s on %s", self.status.model, self.status.device)
            session = self._session
        return session.with_precision(options.precision)

    def release(self) -> None:
        """Drop the network (it is loaded again on the next request)."""
        with self._lock:
            self._session = self._key = None
