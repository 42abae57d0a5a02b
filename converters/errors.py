"""Errors raised by the converters; each message names the file and, where relevant, the tensor."""
from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint file cannot be read safely: missing, truncated, corrupted, or holding forbidden objects."""


class ConversionError(ValueError):
    """A readable checkpoint cannot be converted: unknown tensor, wrong shape, config and weights disagree."""


class VerificationError(ConversionError):
    """The converted model's outputs differ from the source's beyond the tolerance; ``report`` has the table."""

    def __init__(self, message: str, report: object):
        super().__init__(message)
        self.report = report
