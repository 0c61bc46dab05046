"""sub3coach: heart-rate prediction and next-workout suggestions for runners.

The package is a library first; the ``sub3`` CLI and the web app are thin layers over it.
"""
from __future__ import annotations

import logging

from sub3coach.errors import (
    CorruptFile,
    MissingChannel,
    NotAnActivity,
    Sub3Error,
    UnsafeArchive,
    UnsupportedFormat,
)
from sub3coach.workout import RunSummary, Workout

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CorruptFile",
    "MissingChannel",
    "NotAnActivity",
    "RunSummary",
    "Sub3Error",
    "UnsafeArchive",
    "UnsupportedFormat",
    "Workout",
    "__version__",
]
