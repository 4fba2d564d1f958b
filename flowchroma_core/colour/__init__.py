"""Colour science: CIE L*a*b* (lab) and video Y'CbCr code values (ycbcr)."""
