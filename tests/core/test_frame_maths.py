"""The colorizer's grey and L* by table of every luma code equal the formula (grey exactly,
L* to the last bit of float32)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from flowchroma_core.colour import lab
from flowchroma_core.model.network import TINY_CONFIG, FlowChroma
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.colorizer import RunReport, _Run
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.info import Frame


@pytest.mark.parametrize(
    "dtype, bits, color_range",
    [(np.uint8, 8, "tv"), (np.uint8, 8, "pc"), (np.uint16, 10, "tv"), (np.uint16, 16, "pc")],
)
def test_grey_and_lightness_by_table_equal_the_formula(
    dtype: type, bits: int, color_range: str
) -> None:
    session = ModelSession.around(FlowChroma(TINY_CONFIG))
    run = _Run(session, ColorizeOptions(), RunReport())
    rng = np.random.default_rng(bits)
    luma = rng.integers(0, 1 << bits, (37, 53)).astype(dtype)  # sub-black and super-white too
    frame = Frame(0, 0, Fraction(0), luma, bits, color_range)  # type: ignore[arg-type]
    gray, lightness = run._grey(frame)
    expected = torch.from_numpy(frame.gray())
    torch.testing.assert_close(gray, expected, rtol=0, atol=0)
    # the same float32 function; a vectorised and a scalar pow may differ in the last bit
    formula = lab.gray_to_lightness(expected)
    torch.testing.assert_close(lightness, formula, rtol=0, atol=2e-5)
    assert len(run._grey_tables) == 1
    run._grey(frame)
    assert len(run._grey_tables) == 1  # made once per run
