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
) -> np.ndarray:
    """For each interval between consecutive samples, whether the athlete was moving.

    An interval counts as moving when its average speed is at least ``min_speed_mps`` and it
    is no longer than ``max_gap_s`` (a longer gap is a pause: auto-pause or a stopped
    recording). Returns a bool array of length ``len(time_s) - 1``."""
    t = np.asarray(time_s, dtype=np.float64)
    d = np.asarray(distance_m, dtype=np.float64)
    dt = np.diff(t)
    dd = np.diff(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = dd / dt
    return (dt > 0) & (dt <= max_gap_s) & np.isfinite(v) & (v >= min_speed_mps)


def moving_time_s(time_s: np.ndarray, distance_m: np.ndarray, min_speed_mps: float = 0.5, max_gap_s: float = 30.0) -> float:
    """Seconds spent moving (see :func:`moving_mask`)."""
    t = np.asarray(time_s, dtype=np.float64)
    if t.size < 2:
        return 0.0
    m = moving_mask(t, distance_m, min_speed_mps, max_gap_s)
    return float(np.diff(t)[m].sum())


def distance_from_speed_m(time_s: np.ndarray, speed_mps: np.ndarray, max_gap_s: float = 30.0) -> np.ndarray:
    """Cumulative distance in metres integrated from speed (trapezoid rule).

    Intervals longer than ``max_gap_s`` (pauses) and missing speeds contribute nothing."""
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(speed_mps, dtype=np.float64)
    v = np.where(np.isfinite(v), v, 0.0)  # missing or infinite speeds contribute nothing
    if t.size < 2:
        return np.zeros(t.shape)
    dt = np.diff(t)
    step = 0.5 * (v[1:] + v[:-1]) * dt
    step[(dt > max_gap_s) | (dt <= 0)] = 0.0
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
