"""Rules 1-3 of cleaning: time order and duplicate stamps, relative (epoch-based) time, gaps and pauses."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from sub3coach import geo
from sub3coach.clean.config import FUTURE_TIME_LIMIT_S, MOVING_SPEED_MPS, RELATIVE_TIME_LIMIT_S
from sub3coach.workout import Workout



# ============================================================================================
# Rule 1: time order and duplicate stamps
# ============================================================================================
def sort_and_dedupe(
    time_s: np.ndarray, channels: dict[str, np.ndarray | None]
) -> tuple[np.ndarray, dict[str, np.ndarray | None], int, int, bool]:
    """Sort samples by time and merge samples sharing a time stamp.

    Samples with a non-finite time are dropped. For each group of equal time stamps one sample
    is kept; per channel it takes the first non-NaN value of the group (in original order), or
    NaN when the group has none. Returns ``(time_s, channels, n_nonfinite_dropped,
    n_duplicates_dropped, reordered)``; inputs are not modified.
    """
    t = np.asarray(time_s, dtype=np.float64)
    finite = np.isfinite(t)
    n_nonfinite = int((~finite).sum())
    keep = np.flatnonzero(finite)
    tk = t[keep]
    reordered = bool(tk.size > 1 and (np.diff(tk) < 0).any())
    order = keep[np.argsort(tk, kind="stable")] if reordered else keep
    ts = t[order]
    if ts.size == 0:
        return ts, {k: (None if v is None else v[order]) for k, v in channels.items()}, n_nonfinite, 0, reordered
    first = np.concatenate([[True], np.diff(ts) > 0])
    n_dup = int((~first).sum())
    out: dict[str, np.ndarray | None] = {}
    if n_dup == 0:
        for k, v in channels.items():
            out[k] = None if v is None else np.asarray(v, dtype=np.float64)[order]
        return ts, out, n_nonfinite, 0, reordered
    starts = np.flatnonzero(first)
    pos = np.arange(ts.size)
    big = ts.size
    for k, v in channels.items():
        if v is None:
            out[k] = None
            continue
        vs = np.asarray(v, dtype=np.float64)[order]
        cand = np.where(np.isfinite(vs), pos, big)
        firstvalid = np.minimum.reduceat(cand, starts)
        res = np.full(starts.size, np.nan)
        has = firstvalid < big
        res[has] = vs[firstvalid[has]]
        out[k] = res
    return ts[starts], out, n_nonfinite, n_dup, reordered


def future_time_mask(time_s: np.ndarray) -> np.ndarray:
    """Mask of time stamps after 2100 when the recording also has plausible ones.

    Such a stamp is a corrupt sample, e.g. the first track point of Keep-app GPX files
    (``7505-10-18T22:05:45Z`` followed by points counting from 1970): kept, it would stretch
    the workout over millennia. When *every* stamp is that late the whole recording has a
    unit error (milliseconds read as seconds) that :func:`validate` reports; nothing is
    masked then."""
    t = np.asarray(time_s, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        late = np.isfinite(t) & (t > FUTURE_TIME_LIMIT_S)
        plausible = np.isfinite(t) & (t <= FUTURE_TIME_LIMIT_S)
    return late if plausible.any() else np.zeros(t.shape, dtype=bool)


# ============================================================================================
# Rule 2: relative (epoch-based) time stamps
# ============================================================================================
def is_relative_time(time_s: np.ndarray) -> bool:
    """Whether the time stamps count from the epoch rather than being absolute: the first
    finite sample lies before 2000-01-01 (no GPS-era device writes such a date)."""
    t = np.asarray(time_s, dtype=np.float64)
    t = t[np.isfinite(t)]
    return bool(t.size and t[0] < RELATIVE_TIME_LIMIT_S)


def _hint_to_unix_s(hint: datetime | float | int | None) -> float | None:
    if hint is None:
        return None
    if isinstance(hint, datetime):
        if hint.tzinfo is None:  # naive datetimes are taken as UTC
            hint = hint.replace(tzinfo=timezone.utc)
        return float(hint.timestamp())
    try:
        v = float(hint)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v >= RELATIVE_TIME_LIMIT_S else None


# ============================================================================================
# Rule 3: gaps and pauses
# ============================================================================================
def find_gaps(time_s: np.ndarray, max_gap_s: float = 30.0) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of every interval between consecutive samples longer than
    ``max_gap_s`` (a stopped recording or an auto-pause that writes no samples)."""
    t = np.asarray(time_s, dtype=np.float64)
    if t.size < 2:
        return []
    i = np.flatnonzero(np.diff(t) > max_gap_s)
    return [(float(t[k]), float(t[k + 1])) for k in i]


def find_pauses(
    time_s: np.ndarray,
    distance_m: np.ndarray,
    min_speed_mps: float = MOVING_SPEED_MPS,
    max_gap_s: float = 30.0,
    min_duration_s: float = 10.0,
) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of stretches spent not moving for at least ``min_duration_s``.

    A stretch is a maximal run of consecutive intervals that :func:`geo.moving_mask` does not
    count as moving: slower than ``min_speed_mps`` (standing at a crossing, devices that keep
    recording while auto-paused), or longer than ``max_gap_s`` without the distance advancing
    at a walk (auto-pause, a stopped recording)."""
    t = np.asarray(time_s, dtype=np.float64)
    if t.size < 2:
        return []
    moving = geo.moving_mask(t, distance_m, min_speed_mps, max_gap_s)
    still = np.concatenate([[False], ~moving, [False]]).astype(np.int8)
    edges = np.diff(still)
    starts = np.flatnonzero(edges == 1)  # interval index where a still run starts
    ends = np.flatnonzero(edges == -1)  # one past the last still interval
    out = []
    for a, b in zip(starts, ends):
        t0, t1 = float(t[a]), float(t[b])
        if t1 - t0 >= min_duration_s:
            out.append((t0, t1))
    return out


def moving_time_s(workout: Workout, min_speed_mps: float = MOVING_SPEED_MPS, max_gap_s: float = 30.0) -> float:
    """Seconds spent moving, from the workout's distance track (see :func:`geo.moving_time_s`);
    0 when the workout has no distance, speed or GPS."""
    d = workout.distance_track_m()
    if d is None:
        return 0.0
    return geo.moving_time_s(workout.time_s, d, min_speed_mps, max_gap_s)
