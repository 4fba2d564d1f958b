"""``ModelSession``: a loaded network on its device with its precision, shared by the
preview, the export and evaluation. Loading happens once, here; everything else borrows.

A session is frozen: changing the precision gives a new session around the same network
(``with_precision``), changing the model file or the device means loading another.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from flowchroma_core.model.backbones import fold_batch_norms
from flowchroma_core.model.device import check_precision, describe_device, select_device
from flowchroma_core.model.files import default_model_path, load_model
from flowchroma_core.model.names import Precision
from flowchroma_core.model.network import DEFAULT_CONFIG, FlowChroma

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSession:
    """A network in eval mode on ``device``; ``precision`` is checked against the device."""

    model: FlowChroma
    device: torch.device
    precision: Precision = "fp32"
    name: str = ""  # the model file, or a description, for logs and reports

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", check_precision(self.precision, self.device))

    @classmethod
    def load(
        cls, model: str = "", *, device: str = "auto", precision: str = "fp32"
    ) -> ModelSession:
        """The model file ``model`` (empty: the shipped default) on the device named."""
        torch_device = select_device(device)
        check_precision(precision, torch_device)  # refuse before the slow load
        path = Path(model).expanduser() if model else default_model_path()
        if path is not None:
            network, _ = load_model(path, backbone_weights="pretrained", device=torch_device)
            name = str(path)
        else:
            logger.warning("no trained model is installed: colours will be meaningless")
            network = FlowChroma(DEFAULT_CONFIG, backbone_weights="pretrained")
            name = "untrained default"
        folded = fold_batch_norms(network.backbone)  # a loaded model is never trained again
        logger.info(
            "model session: %s on %s (%d batch norms folded)",
            name, describe_device(torch_device), folded,
        )  # fmt: skip
        return cls.around(network, device=torch_device, precision=precision, name=name)

    @classmethod
    def around(
        cls,
        model: FlowChroma,
        *,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        name: str = "",
    ) -> ModelSession:
        """A session for a network already built (tests, training, benchmarks)."""
        device = torch.device(device)
        return cls(
            model.to(device).eval(),
            device,
            precision,  # type: ignore[arg-type]
            name or f"{type(model).__name__} in memory",
        )

    def with_precision(self, precision: str) -> ModelSession:
        """The same network with another precision (no reload)."""
        if precision == self.precision:
            return self
        return dataclasses.replace(self, precision=precision)  # type: ignore[arg-type]

    def describe_device(self) -> str:
        return describe_device(self.device)
