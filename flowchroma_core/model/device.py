"""Compute device and precision: the one place that decides where and how the model runs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch

from flowchroma_core.errors import DeviceError
from flowchroma_core.model.names import DEVICE_NAMES, PRECISIONS, Precision

logger = logging.getLogger(__name__)

_AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def select_device(name: str = "auto") -> torch.device:
    """``auto`` is the first CUDA GPU when there is one, else the CPU.

    ``cuda:1`` style names pick a specific GPU. Asking for CUDA where there is none is an
    error rather than a silent fall back: a restorer who chose the GPU should know.
    """
    base = name.split(":", 1)[0]
    if base not in DEVICE_NAMES:
        raise ValueError(
            f"device must be one of {', '.join(DEVICE_NAMES)} (or cuda:N), not {name!r}"
        )
    if base == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif base == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                "device 'cuda' was requested but PyTorch sees no CUDA GPU here; "
                "choose 'auto' or 'cpu', or install a CUDA build of PyTorch"
            )
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{name} does not exist: {torch.cuda.device_count()} GPU(s) found")
    else:
        device = torch.device("cpu")
    logger.info("compute device: %s", describe_device(device))
    return device


def check_precision(precision: str, device: torch.device) -> Precision:
    """Validate a precision for a device; half precision is for CUDA only."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "fp32" and device.type != "cuda":
        raise DeviceError(f"precision {precision} needs a CUDA GPU; on {device.type} use fp32")
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise DeviceError("this GPU does not support bf16; use fp16 or fp32")
    return precision  # type: ignore[return-value]


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Mixed precision for the model's forward pass (a no-op in fp32)."""
    precision = check_precision(precision, device)
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision]):
        yield


def describe_device(device: torch.device) -> str:
    """Short text for status lines and logs, e.g. ``CUDA: NVIDIA H100 (79 GiB)``."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"CUDA: {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return f"CPU ({torch.get_num_threads()} threads)"
