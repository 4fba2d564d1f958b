"""The names a user may give for the compute device and precision; torch-free, so that
settings and options can be read and checked without loading torch."""

from __future__ import annotations

import logging
from typing import Literal, get_args

logger = logging.getLogger(__name__)

DeviceName = Literal["auto", "cuda", "cpu"]
Precision = Literal["fp32", "fp16", "bf16"]
DEVICE_NAMES: tuple[str, ...] = get_args(DeviceName)
PRECISIONS: tuple[str, ...] = get_args(Precision)
