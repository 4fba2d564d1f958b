"""Typed exceptions with messages a restorer can act on.

Every error the core raises for a user's mistake or an environment problem is a
``FlowChromaError``; the CLI and the GUI show its message as one line and send the
traceback to the log only.
"""

from __future__ import annotations


class FlowChromaError(Exception):
    """Base class: the message is complete and meant for the user."""


class ModelFileError(FlowChromaError):
    """A model file cannot be read: wrong format, pickle, or a mismatched configuration."""


class BackboneWeightsError(FlowChromaError):
    """Pretrained backbone weights could not be found, downloaded or loaded."""


class DeviceError(FlowChromaError):
    """The requested compute device or precision is not available here."""


class VideoReadError(FlowChromaError):
    """An input cannot be opened or decoded; the message names the file."""


class VideoWriteError(FlowChromaError):
    """An output cannot be written; the message names the destination."""


class Cancelled(Exception):  # noqa: N818 - a cancel is an outcome, not an error
    """The user cancelled; callers treat this as an outcome, never as a failure."""
