"""Measuring colorization against colour originals: running it (run), the measures
(metrics), the scores as table and JSON (report), and contact sheets (contact_sheet)."""
