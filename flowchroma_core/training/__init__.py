"""Training FlowChroma on colour videos and photographs (``flowchroma train CONFIG``)."""

from __future__ import annotations

from flowchroma_core.training.config import TrainConfig, load_train_config
from flowchroma_core.training.loop import train

__all__ = ["TrainConfig", "load_train_config", "train"]
