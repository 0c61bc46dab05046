"""Pure geometry and kinematics on numpy arrays, no I/O.

All inputs and outputs are SI: seconds, metres, metres per second, degrees for lat/lon.
NaN marks a missing sample everywhere.
"""
from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres


def haversine_m(
    lat1_deg: np.ndarray | float,
    lon1_deg: np.ndarray | float,
    lat2_deg: np.ndarray | float,
    lon2_deg: np.ndarray | float,
) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees (vectorised)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1_deg, lon1_deg, lat2_deg, lon2_deg))
    dlat = lat2 - lat1
    dlon = lon2 - lon1
    a = np.sin(dlat / 2.0) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def step_distances_m(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Distance in metres from each point to the next valid point before it.

    Returns an array of the input's length; element 0 is 0. Missing points (NaN) get 0 and
    the following valid point is measured from the last valid one."""
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    out = np.zeros(lat.shape, dtype=np.float64)
    valid = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon))
    if valid.size >= 2:
        d = haversine_m(lat[valid[:-1]], lon[valid[:-1]], lat[valid[1:]], lon[valid[1:]])
        out[valid[1:]] = d
    return out


def cumulative_distance_m(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Cumulative haversine distance along a GPS track, metres (0 at the first point)."""
    return np.cumsum(step_distances_m(lat_deg, lon_deg))


def cumulative_elevation_gain_m(altitude_m: np.ndarray, threshold_m: float = 2.0) -> np.ndarray:
    """Ascent so far at each sample, metres (same length as the input; see :func:`elevation_gain_m`).

    A two-state hysteresis (the approach of most watch vendors): while descending, the lowest
    point so far is tracked; a climb starts once altitude has risen ``threshold_m`` above it
    and then counts every metre up to the highest point, until altitude falls
    ``threshold_m`` below that peak. This suppresses GPS/barometer jitter smaller than the
    threshold without losing the ends of real climbs. Missing samples (NaN) carry the
    previous value."""
    alt = np.asarray(altitude_m, dtype=np.float64)
    out = np.zeros(alt.shape, dtype=np.float64)
    valid = np.flatnonzero(np.isfinite(alt))
    if valid.size < 2:
        return out
    vals = alt[valid].tolist()
    steps = np.zeros(valid.size, dtype=np.float64)
    gain = 0.0
    low = high = vals[0]
    up = False
    for i in range(1, len(vals)):
        x = vals[i]
        if not up:
            if x < low:
                low = x
            if x - low >= threshold_m:
                gain += x - low
                up = True
                high = x
        elif x > high:
            gain += x - high
            high = x
        elif high - x >= threshold_m:
            up = False
            low = x
        steps[i] = gain
    out[valid] = steps
    # carry the last value over missing samples
    idx = np.zeros(alt.shape, dtype=np.int64)
    idx[valid] = valid
    np.maximum.accumulate(idx, out=idx)
    return out[idx]


def elevation_gain_m(altitude_m: np.ndarray, threshold_m: float = 2.0) -> float:
    """Total ascent in metres with a ``threshold_m`` hysteresis (see
    :func:`cumulative_elevation_gain_m`). Missing samples are ignored."""
    c = cumulative_elevation_gain_m(altitude_m, threshold_m)
    return float(c[-1]) if c.size else 0.0


def moving_mask(
    time_s: np.ndarray,
    distance_m: np.ndarray,
    min_speed_mps: float = 0.5,
    max_gap_s: float = 30.0,
    gap_min_speed_mps: float = 1.0,
) -> np.ndarray:
    """For each interval between consecutive samples, whether the athlete was moving.

    An interval counts as moving when its average speed (m/s) is at least ``min_speed_mps``.
    An interval longer than ``max_gap_s`` seconds (a recording gap: smart recording, lost
    signal, auto-pause) is never taken for a stop by itself: it counts as moving when the
    distance advanced across it at ``gap_min_speed_mps`` or more (the data says the athlete
    moved), and as a pause otherwise (auto-pause freezes the device's distance; GPS drift
    while standing stays far below a walk). Returns a bool array of length
    ``len(time_s) - 1``."""
    t = np.asarray(time_s, dtype=np.float64)
    d = np.asarray(distance_m, dtype=np.float64)
    dt = np.diff(t)
    dd = np.diff(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = dd / dt
        need = np.where(dt > max_gap_s, max(min_speed_mps, gap_min_speed_mps), min_speed_mps)
        return (dt > 0) & np.isfinite(v) & (v >= need)


def moving_time_s(
    time_s: np.ndarray,
    distance_m: np.ndarray,
    min_speed_mps: float = 0.5,
    max_gap_s: float = 30.0,
    pauses: list[tuple[float, float]] | list[list[float]] | None = None,
) -> float:
    """Seconds spent moving (see :func:`moving_mask`). ``pauses`` are ``(start, end)`` times
    (s) the device says its timer was stopped (FIT timer events): an interval whose middle
    lies in one is not moving, whatever the distance did (GPS drift while paused)."""
    t = np.asarray(time_s, dtype=np.float64)
    if t.size < 2:
        return 0.0
    m = moving_mask(t, distance_m, min_speed_mps, max_gap_s)
    if pauses:
        m &= ~in_intervals(0.5 * (t[1:] + t[:-1]), pauses)
    return float(np.diff(t)[m].sum())


def in_intervals(x: np.ndarray, intervals: list[tuple[float, float]] | list[list[float]]) -> np.ndarray:
    """Mask of the values of ``x`` inside any ``[start, end]`` interval (intervals may overlap)."""
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    iv = iv[np.argsort(iv[:, 0], kind="stable")]
    ends = np.maximum.accumulate(iv[:, 1])
    k = np.searchsorted(iv[:, 0], x, side="right") - 1
    return (k >= 0) & (x <= ends[np.clip(k, 0, None)])


def _bracket(ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the previous (``-1`` if none) and next (``n`` if none) True of ``ok`` at each
    position, the position itself included."""
    n = ok.size
    idx = np.arange(n)
    prev = np.where(ok, idx, -1)
    np.maximum.accumulate(prev, out=prev)
    nxt = np.where(ok, idx, n)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    return prev, nxt


def fill_track_m(
    time_s: np.ndarray,
    primary_m: np.ndarray,
    secondary_m: np.ndarray | None = None,
    *,
    extend: bool = True,
) -> np.ndarray:
    """A cumulative distance track (metres) from a channel that may be sparse.

    Where ``primary_m`` (e.g. the device's distance) has a value it is kept (made monotone:
    a distance never decreases). Inside a hole, the distance between the bracketing values is
    distributed along the hole following ``secondary_m`` (a distance integrated from speed,
    or along GPS) when that advances across the hole, else linearly in time: a sparse channel
    is never read as standing still. With ``extend``, samples before the first and after the
    last value follow ``secondary_m`` (or stay constant without it); otherwise they stay NaN.
    Returns a new array; all NaN when ``primary_m`` has no finite value."""
    t = np.asarray(time_s, dtype=np.float64)
    p = np.asarray(primary_m, dtype=np.float64)
    ok = np.isfinite(p)
    out = np.full(p.shape, np.nan)
    if not ok.any():
        return out
    idx = np.flatnonzero(ok)
    out[idx] = np.maximum.accumulate(p[idx])
    if ok.all():
        return out
    s = None
    if secondary_m is not None:
        s = np.asarray(secondary_m, dtype=np.float64)
        if not np.isfinite(s).all():
            s = None
    prev, nxt = _bracket(ok)
    n = p.size
    hole = np.flatnonzero(~ok & (prev >= 0) & (nxt < n))
    if hole.size:
        a, b = prev[hole], nxt[hole]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = (t[hole] - t[a]) / (t[b] - t[a])
            if s is not None:
                span = s[b] - s[a]
                frac = np.where(span > 0, (s[hole] - s[a]) / span, frac)
        frac = np.clip(np.nan_to_num(frac, nan=0.0), 0.0, 1.0)
        out[hole] = out[a] + frac * (out[b] - out[a])
    if extend:
        first, last = idx[0], idx[-1]
        if s is not None:
            out[:first] = out[first] - (s[first] - s[:first])
            out[last + 1 :] = out[last] + (s[last + 1 :] - s[last])
        else:
            out[:first] = out[first]
            out[last + 1 :] = out[last]
    return out


def best_distance_track_m(
    time_s: np.ndarray,
    distance_m: np.ndarray | None = None,
    speed_mps: np.ndarray | None = None,
    lat_deg: np.ndarray | None = None,
    lon_deg: np.ndarray | None = None,
) -> np.ndarray | None:
    """Cumulative distance in metres (0 at the first sample) from the best evidence present.

    The device's distance channel where it has values; its holes filled following the speed
    channel (integrated, :func:`distance_from_speed_m`), else the GPS track, else linearly in
    time (:func:`fill_track_m`). Without a distance channel: integrated speed, else haversine
    along GPS. ``None`` when none of these has a finite value. This one rule feeds every
    summary (moving time, pace, distance), the library, training load, plans and features."""
    t = np.asarray(time_s, dtype=np.float64)

    def has(v: np.ndarray | None) -> bool:
        return v is not None and bool(np.isfinite(v).any())

    secondary: np.ndarray | None = None
    primary_full = has(distance_m) and bool(np.isfinite(distance_m).all())  # type: ignore[arg-type]
    if not primary_full:
        if has(speed_mps):
            secondary = distance_from_speed_m(t, speed_mps)  # type: ignore[arg-type]
        elif has(lat_deg) and has(lon_deg):
            secondary = cumulative_distance_m(lat_deg, lon_deg)  # type: ignore[arg-type]
    if has(distance_m):
        track = fill_track_m(t, distance_m, secondary)  # type: ignore[arg-type]
    elif secondary is not None:
        track = secondary
    else:
        return None
    return track - track[0] if track.size else track


def distance_from_speed_m(
    time_s: np.ndarray, speed_mps: np.ndarray, max_gap_s: float = 30.0, gap_min_speed_mps: float = 1.0
) -> np.ndarray:
    """Cumulative distance in metres integrated from speed (trapezoid rule).

    Missing speeds contribute nothing. An interval longer than ``max_gap_s`` (a recording
    gap) is not read as a stop when the speeds on both sides of it say the athlete was moving
    (both at least ``gap_min_speed_mps``: smart recording, a lost sensor): it contributes the
    slower of the two speeds times its length; otherwise (auto-pause slows to a stop first)
    nothing."""
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(speed_mps, dtype=np.float64)
    v = np.where(np.isfinite(v), v, 0.0)  # missing or infinite speeds contribute nothing
    if t.size < 2:
        return np.zeros(t.shape)
    dt = np.diff(t)
    step = 0.5 * (v[1:] + v[:-1]) * dt
    slow = np.minimum(v[1:], v[:-1])
    gap = dt > max_gap_s
    step[gap] = np.where(slow[gap] >= gap_min_speed_mps, slow[gap] * dt[gap], 0.0)
    step[~(dt > 0)] = 0.0
    return np.concatenate([[0.0], np.cumsum(step)])


def speed_from_distance_mps(time_s: np.ndarray, distance_m: np.ndarray) -> np.ndarray:
    """Speed in m/s from cumulative distance by central differences (NaN-aware).

    The result has the input's length; samples with a missing distance, and samples whose
    time stamp repeats an earlier one, give NaN."""
    t = np.asarray(time_s, dtype=np.float64)
    d = np.asarray(distance_m, dtype=np.float64)
    out = np.full(t.shape, np.nan)
    ok = np.isfinite(d) & np.isfinite(t)
    idx = np.flatnonzero(ok)
    if idx.size:  # keep strictly increasing times only: a repeated stamp would divide by zero
        tt = t[idx]
        idx = idx[tt > np.maximum.accumulate(np.concatenate([[-np.inf], tt[:-1]]))]
    if idx.size < 2:
        return out
    tv, dv = t[idx], d[idx]
    out[idx] = np.gradient(dv, tv) if tv.size > 2 else (dv[1] - dv[0]) / (tv[1] - tv[0])
    return out
