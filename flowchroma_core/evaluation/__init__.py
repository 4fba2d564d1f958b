"""Measuring colorization against colour originals: metrics and the report/contact sheet."""
