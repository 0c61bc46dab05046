"""Conversions at the edges: paces and durations as people write them.

Inside sub3coach everything is SI (seconds, metres, m/s); these helpers turn that into
``4:15/km`` and ``1:02:03`` for display, and parse a typed pace back to seconds per km.
"""
from __future__ import annotations

import re

from sub3coach.errors import Sub3Error

_PACE_RE = re.compile(r"^\s*(\d{1,2}):([0-5]?\d)(?:\s*/?\s*(?:min)?\s*/?\s*km)?\s*$")


def parse_pace(text: str) -> float:
    """``"4:15"`` (min:s per km, optionally ``/km``) -> seconds per km.

    Raises:
        Sub3Error: not a pace between 2:00 and 20:00 per km.
    """
    m = _PACE_RE.match(str(text))
    if not m:
        raise Sub3Error(f"pace {text!r} is not m:ss per km (e.g. 4:15)")
    s = int(m.group(1)) * 60 + int(m.group(2))
    if not 120 <= s <= 1200:
        raise Sub3Error(f"pace {text!r} is outside 2:00-20:00 per km")
    return float(s)


def format_pace(s_per_km: float | None) -> str:
    """Seconds per km -> ``m:ss/km`` (``-`` when unknown)."""
    if not s_per_km:
        return "-"
    m, s = divmod(int(round(s_per_km)), 60)
    return f"{m}:{s:02d}/km"


def format_duration(seconds: float | None) -> str:
    """Seconds -> ``h:mm:ss`` (``-`` when unknown)."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
