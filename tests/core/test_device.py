"""Device and precision selection."""

from __future__ import annotations

import pytest
import torch

from flowchroma_core.errors import DeviceError
from flowchroma_core.model.device import autocast, check_precision, select_device


def test_auto_picks_cuda_only_when_present() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    assert select_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        select_device("cuda")
    with pytest.raises(DeviceError, match="needs a CUDA GPU"):
        check_precision("fp16", torch.device("cpu"))


def test_bad_names_list_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="auto, cuda, cpu"):
        select_device("tpu")
    with pytest.raises(ValueError, match="fp32, fp16, bf16"):
        check_precision("fp8", torch.device("cpu"))


def test_fp32_autocast_is_plain_float32() -> None:
    with autocast(torch.device("cpu"), "fp32"):
        y = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
    assert y.dtype == torch.float32


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_autocast_on_cuda() -> None:
    dev = select_device("cuda")
    with autocast(dev, "fp16"):
        y = torch.nn.functional.linear(torch.ones(2, 3, device=dev), torch.ones(4, 3, device=dev))
    assert y.dtype == torch.float16
