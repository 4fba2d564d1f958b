"""Colour science, one implementation of each formula.

* ``lab``: sRGB <-> CIE L*a*b* (D65), the model's Lab scaling, 8-bit rounding in torch.
* ``ycbcr``: Y'CbCr <-> R'G'B', code values and ranges, gamut limiting, rounding to codes
  (NumPy); ``LUMA_COEFFICIENTS`` is the one table of the matrices' constants.
* ``ycbcr_torch``: Cb/Cr of R'G'B' and chroma limiting on the model's device (torch), from
  the same table; tests check them against the NumPy versions.
"""
