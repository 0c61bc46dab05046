"""Cleaning and resampling of recorded workouts.

:func:`clean` turns a freshly read :class:`~sub3coach.workout.Workout` into one a sports
scientist would accept for analysis. It is a composition of small pure functions on numpy
arrays (no I/O), each documented with the rule it applies and why:

1. **Time order** (:func:`sort_and_dedupe`, :func:`future_time_mask`): samples sorted by time;
   for a duplicated time stamp one sample is kept, taking per channel the first non-missing
   value. Non-finite times, and stray times after 2100, are dropped.
2. **Relative time** (:func:`is_relative_time`): a recording whose first sample lies before the
   year 2000 counts from the epoch (Keep-app GPX). It is shifted to ``start_hint`` when known,
   else kept and flagged (``metadata["relative_time"]``).
3. **Gaps and pauses** (:func:`find_gaps`, :func:`find_pauses`, :func:`moving_time_s`): intervals
   longer than ``max_gap_s`` (30 s) are pauses; nothing is ever fabricated inside them.
4. **Heart rate** (:func:`hr_out_of_range`, :func:`hr_stuck_mask`,
   :func:`interpolate_short_gaps`): values outside 30-230 BPM are missing; a value that stays
   exactly constant for more than 120 s is a lost sensor; holes of at most 10 s are linearly
   filled, longer ones stay missing.
5. **Position, distance and speed** (:func:`gps_spike_mask`, :func:`fix_distance_steps`,
   :func:`derive_speed`): GPS spikes (a detour implying more than the sport's maximum speed or
   6 m/s^2) are removed; distance steps faster than the sport's maximum are replaced; a speed is
   derived from the distance channel, else from GPS, when the device recorded none (lightly
   smoothed when it comes from GPS); absurd device speeds become missing.
6. **Altitude** (:func:`hampel_mask`, :func:`smooth_time`): spikes found by a Hampel filter are
   removed and the series smoothed with a 30-s moving mean (a window in seconds, not samples).
7. **Sport** (:func:`detect_sport`): when the file has no sport label, from the median moving
   speed and cadence.

:func:`resample` puts a workout on a uniform time grid without interpolating across pauses, and
:func:`validate` lists what makes a workout unusable.

Smoothing is not idempotent by nature, so :func:`clean` records what it smoothed in
``metadata`` (``altitude_smoothed_s``, ``speed_source``) and never smooths a series twice; all
other rules are fixed points, so ``clean(clean(w))`` equals ``clean(w)``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from sub3coach import geo
from sub3coach.workout import CHANNELS, Workout

log = logging.getLogger(__name__)

#: 2000-01-01T00:00:00Z; a first sample before it means time counts from the epoch.
RELATIVE_TIME_LIMIT_S = 946_684_800.0
#: 2100-01-01T00:00:00Z; later time stamps are a unit error (milliseconds read as seconds...).
FUTURE_TIME_LIMIT_S = 4_102_444_800.0

#: Fastest plausible sustained speed per sport, m/s (sprinters peak at ~12.4 m/s).
MAX_SPEED_MPS: dict[str, float] = {
    "run": 12.0,
    "walk": 4.0,
    "hike": 4.0,
    "bike": 30.0,
    "swim": 3.0,
    "ski": 30.0,
    "other": 30.0,
    "unknown": 30.0,
}

#: Speed below which an interval counts as stopped (same as :func:`geo.moving_mask`).
MOVING_SPEED_MPS = 0.5


@dataclass
class CleanConfig:
    """Thresholds used by :func:`clean` (all SI units).

    Attributes:
        max_gap_s: an interval longer than this is a pause/gap (never interpolated across).
        hr_min_bpm, hr_max_bpm: plausible heart-rate range, inclusive.
        hr_stuck_s: an exactly constant HR lasting longer than this is a sensor dropout.
        hr_max_interp_s: HR holes whose bounding valid samples are at most this far apart are
            linearly filled.
        max_accel_mps2: largest plausible acceleration; a GPS point whose detour implies more
            is a spike.
        speed_smooth_s: window of the centred moving mean applied to GPS-derived speed.
        alt_window_s: window of the Hampel filter and of the altitude moving mean.
        alt_n_sigma, alt_min_dev_m: Hampel threshold: max(n_sigma * 1.4826 * MAD, min_dev).
        alt_valid_m: altitudes outside this range are invalid (sensor codes, unit errors).
        gps_max_iter: iterations of the GPS spike filter.
    """

    max_gap_s: float = 30.0
    hr_min_bpm: float = 30.0
    hr_max_bpm: float = 230.0
    hr_stuck_s: float = 120.0
    hr_max_interp_s: float = 10.0
    max_accel_mps2: float = 6.0
    speed_smooth_s: float = 5.0
    alt_window_s: float = 30.0
    alt_n_sigma: float = 3.0
    alt_min_dev_m: float = 10.0
    alt_valid_m: tuple[float, float] = (-500.0, 9000.0)
    gps_max_iter: int = 20


@dataclass
class CleanReport:
    """What :func:`clean` changed: human-readable notes plus counters.

    Attributes:
        notes: one line per change, in the order applied.
        n_nonfinite_time_dropped: samples dropped for a missing time stamp.
        n_future_time_dropped: samples dropped for a time stamp after 2100 (see
            :func:`future_time_mask`).
        n_duplicates_dropped: samples merged into an earlier one with the same time stamp.
        reordered: whether the samples were out of time order.
        relative_time: whether the time stamps counted from the epoch.
        relative_time_fixed: whether they were shifted to a known start.
        gaps: (start_s, end_s) of every interval longer than ``max_gap_s``.
        pauses: (start_s, end_s) of every stretch of intervals spent not moving.
        n_hr_invalid: HR samples outside the plausible range set missing.
        n_hr_dropout: HR samples of a stuck (constant) stretch set missing.
        n_hr_interpolated: HR samples filled in short holes.
        n_gps_invalid: positions outside lat/lon range or at (0, 0), set missing.
        n_gps_spikes: GPS points removed as spikes.
        n_distance_fixed: distance steps replaced (too fast or negative).
        n_speed_invalid: device speeds set missing (negative or above the sport's maximum).
        n_speed_filled: missing device speeds filled from the derived speed.
        speed_source: ``device``, ``distance``, ``gps`` or ``none``.
        n_alt_invalid: altitudes outside the plausible range set missing.
        n_alt_spikes: altitude samples removed by the Hampel filter.
        sport_detected: the sport found by :func:`detect_sport`, when the file had none.
    """

    notes: list[str] = field(default_factory=list)
    n_nonfinite_time_dropped: int = 0
    n_future_time_dropped: int = 0
    n_duplicates_dropped: int = 0
    reordered: bool = False
    relative_time: bool = False
    relative_time_fixed: bool = False
    gaps: list[tuple[float, float]] = field(default_factory=list)
    pauses: list[tuple[float, float]] = field(default_factory=list)
    n_hr_invalid: int = 0
    n_hr_dropout: int = 0
    n_hr_interpolated: int = 0
    n_gps_invalid: int = 0
    n_gps_spikes: int = 0
    n_distance_fixed: int = 0
    n_speed_invalid: int = 0
    n_speed_filled: int = 0
    speed_source: str = "none"
    n_alt_invalid: int = 0
    n_alt_spikes: int = 0
    sport_detected: str | None = None

    def note(self, message: str) -> None:
        """Record one change (also logged at DEBUG level)."""
        self.notes.append(message)
        log.debug("clean: %s", message)


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
    recording while auto-paused) or longer than ``max_gap_s`` (recording gaps)."""
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


# ============================================================================================
# Rule 4: heart rate
# ============================================================================================
def hr_out_of_range(hr_bpm: np.ndarray, lo: float = 30.0, hi: float = 230.0) -> np.ndarray:
    """Mask of finite HR samples outside ``[lo, hi]`` BPM (0 is what many straps send when
    they lose contact; >230 is beyond any human maximum)."""
    hr = np.asarray(hr_bpm, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(hr) & ((hr < lo) | (hr > hi))


def _finite_runs(time_s: np.ndarray, values: np.ndarray, bridge_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal finite values (NaN holes spanning at most ``bridge_s`` do not break a run).

    Returns (finite indices, run start positions, run end positions) into the finite indices."""
    f = np.flatnonzero(np.isfinite(values))
    if f.size == 0:
        return f, f, f
    v = values[f]
    tf = time_s[f]
    brk = (np.diff(v) != 0) | (np.diff(tf) > bridge_s)
    starts = np.concatenate([[0], np.flatnonzero(brk) + 1])
    ends = np.concatenate([starts[1:] - 1, [f.size - 1]])
    return f, starts, ends


def hr_stuck_mask(time_s: np.ndarray, hr_bpm: np.ndarray, max_constant_s: float = 120.0, bridge_s: float = 10.0) -> np.ndarray:
    """Mask of HR samples belonging to a stretch of one exactly repeated value lasting longer
    than ``max_constant_s`` seconds (first to last sample).

    Why 120 s: a strap or optical sensor that loses contact often repeats its last value.
    Plateaus of a minute are common in real optical-HR recordings (about one run in five of the
    development set has one lasting > 60 s while speed varies), whereas a value frozen for more
    than two minutes is rare and almost always a dropout. Holes of at most ``bridge_s`` seconds
    do not break a stretch (they would otherwise be filled with the same value and make the
    rule change its mind on a second pass); the NaN samples inside a flagged stretch are
    included in the mask."""
    t = np.asarray(time_s, dtype=np.float64)
    hr = np.asarray(hr_bpm, dtype=np.float64)
    mask = np.zeros(hr.shape, dtype=bool)
    f, starts, ends = _finite_runs(t, hr, bridge_s)
    if f.size == 0:
        return mask
    dur = t[f[ends]] - t[f[starts]]
    for a, b in zip(starts[dur > max_constant_s], ends[dur > max_constant_s]):
        mask[f[a] : f[b] + 1] = True
    return mask


def interpolate_short_gaps(time_s: np.ndarray, values: np.ndarray, max_gap_s: float = 10.0) -> np.ndarray:
    """Linearly fill NaN holes whose bounding valid samples are at most ``max_gap_s`` seconds
    apart; longer holes, and leading/trailing NaNs, stay NaN. Returns a new array."""
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64).copy()
    ok = np.isfinite(v)
    if ok.all() or ok.sum() < 2:
        return v
    n = v.size
    idx = np.arange(n)
    prev = np.where(ok, idx, -1)
    np.maximum.accumulate(prev, out=prev)
    nxt = np.where(ok, idx, n)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    hole = ~ok & (prev >= 0) & (nxt < n)
    if not hole.any():
        return v
    span = np.full(n, np.inf)
    span[hole] = t[nxt[hole]] - t[prev[hole]]
    fill = hole & (span <= max_gap_s)
    if fill.any():
        v[fill] = np.interp(t[fill], t[ok], v[ok])
    return v


# ============================================================================================
# Rule 5: position, distance, speed
# ============================================================================================
def gps_invalid_mask(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Mask of positions that are out of range or exactly (0, 0) ("null island", what some
    devices write before a fix), or where only one coordinate is present."""
    la = np.asarray(lat_deg, dtype=np.float64)
    lo = np.asarray(lon_deg, dtype=np.float64)
    fla, flo = np.isfinite(la), np.isfinite(lo)
    with np.errstate(invalid="ignore"):
        bad = (fla != flo) | (fla & flo & ((np.abs(la) > 90) | (np.abs(lo) > 180) | ((la == 0) & (lo == 0))))
    return bad


def gps_spike_mask(
    time_s: np.ndarray,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    max_speed_mps: float = 12.0,
    max_accel_mps2: float = 6.0,
    max_iter: int = 20,
) -> np.ndarray:
    """Mask of GPS points that are spikes (out-and-back detours the athlete cannot have run).

    For each valid point P between its valid neighbours A and C, let ``e`` be the distance from
    P to where the straight line A->C places the athlete at P's time, and ``x = |AP| + |PC| -
    |AC|`` the distance P adds. P is a spike when it is a detour (``x >= e / 2``; points that
    only lag or lead along the line, or a lasting jump to a new position, add no detour and are
    kept) and either

    * keeping it implies an acceleration above ``max_accel_mps2``: a body leaving the line A->C
      needs at least ``2 e / ((tP - tA)(tC - tP))`` m/s^2 to reach P, or
    * both the step into and out of P are faster than ``max_speed_mps``.

    Only the worst point of neighbouring spikes is removed per pass; passes repeat (at most
    ``max_iter``) until none is left. Distances are haversine metres, times seconds."""
    t = np.asarray(time_s, dtype=np.float64)
    la = np.asarray(lat_deg, dtype=np.float64)
    lo = np.asarray(lon_deg, dtype=np.float64)
    spikes = np.zeros(t.shape, dtype=bool)
    alive = np.flatnonzero(np.isfinite(la) & np.isfinite(lo) & np.isfinite(t))
    for _ in range(max_iter):
        if alive.size < 3:
            break
        ta, tp, tc = t[alive[:-2]], t[alive[1:-1]], t[alive[2:]]
        a_la, a_lo = la[alive[:-2]], lo[alive[:-2]]
        p_la, p_lo = la[alive[1:-1]], lo[alive[1:-1]]
        c_la, c_lo = la[alive[2:]], lo[alive[2:]]
        d_ap = geo.haversine_m(a_la, a_lo, p_la, p_lo)
        d_pc = geo.haversine_m(p_la, p_lo, c_la, c_lo)
        d_ac = geo.haversine_m(a_la, a_lo, c_la, c_lo)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.clip((tp - ta) / (tc - ta), 0.0, 1.0)
            # position on the chord at tP, interpolated in lat/lon (fine at these scales)
            q_la = a_la + f * (c_la - a_la)
            q_lo = a_lo + f * (c_lo - a_lo)
            e = geo.haversine_m(q_la, q_lo, p_la, p_lo)
            x = d_ap + d_pc - d_ac
            denom = (tp - ta) * (tc - tp)
            accel = np.where(denom > 0, 2.0 * e / denom, np.where(e > 0, np.inf, 0.0))
            v_in = d_ap / (tp - ta)
            v_out = d_pc / (tc - tp)
        v_in = np.where(tp > ta, v_in, np.where(d_ap > 0, np.inf, 0.0))
        v_out = np.where(tc > tp, v_out, np.where(d_pc > 0, np.inf, 0.0))
        detour = (x >= 0.5 * e) & (e > 0)
        score = np.maximum(accel / max_accel_mps2, np.minimum(v_in, v_out) / max_speed_mps)
        score = np.where(detour, score, 0.0)
        bad = score > 1.0
        if not bad.any():
            break
        left = np.concatenate([[0.0], score[:-1]])
        right = np.concatenate([score[1:], [0.0]])
        worst = bad & (score >= left) & (score > right)
        if not worst.any():  # exact ties: take the first
            worst = bad & (score >= left) & (score >= right)
        drop = alive[1:-1][worst]
        spikes[drop] = True
        alive = np.setdiff1d(alive, drop, assume_unique=True)
    return spikes


def fix_distance_steps(
    time_s: np.ndarray, distance_m: np.ndarray, max_speed_mps: float = 12.0
) -> tuple[np.ndarray, int]:
    """Repair a cumulative distance channel (metres).

    Between consecutive valid samples, a negative step (a device glitch; distance never
    decreases) becomes 0 and a step faster than ``max_speed_mps`` (a GPS jump the device
    counted) is replaced by the median speed of the plausible moving steps times its duration.
    NaN samples stay NaN. Returns ``(distance, n_steps_fixed)``; the input is returned
    unchanged (same values) when nothing needs fixing."""
    t = np.asarray(time_s, dtype=np.float64)
    d = np.asarray(distance_m, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(d))
    if ok.size < 2:
        return d.copy(), 0
    dt = np.diff(t[ok])
    dd = np.diff(d[ok])
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(dt > 0, dd / dt, np.where(dd > 0, np.inf, 0.0))
    neg = dd < 0
    fast = v > max_speed_mps * (1.0 + 1e-9)  # tolerance: repaired steps are at most the limit
    if not (neg.any() or fast.any()):
        return d.copy(), 0
    good = ~neg & ~fast & (v >= MOVING_SPEED_MPS)
    typical = float(np.median(v[good])) if good.any() else 0.0
    dd = dd.copy()
    dd[neg] = 0.0
    dd[fast] = typical * dt[fast]
    out = d.copy()
    out[ok] = d[ok[0]] + np.concatenate([[0.0], np.cumsum(dd)])
    return out, int(neg.sum() + fast.sum())


def speed_from_track(time_s: np.ndarray, distance_m: np.ndarray, max_gap_s: float = 30.0) -> np.ndarray:
    """Speed in m/s at each sample from a cumulative distance track.

    Each sample gets the mean speed over its two adjacent intervals (distance over time, i.e.
    a central difference weighted by time); intervals longer than ``max_gap_s`` (pauses) or
    touching a missing distance are left out, so a pause never drags speeds down. A sample with
    no usable interval gets NaN."""
    t = np.asarray(time_s, dtype=np.float64)
    d = np.asarray(distance_m, dtype=np.float64)
    n = t.size
    out = np.full(n, np.nan)
    if n < 2:
        return out
    dt = np.diff(t)
    dd = np.diff(d)
    use = (dt > 0) & (dt <= max_gap_s) & np.isfinite(dd)
    ddu = np.where(use, dd, 0.0)
    dtu = np.where(use, dt, 0.0)
    num = np.concatenate([[0.0], ddu]) + np.concatenate([ddu, [0.0]])
    den = np.concatenate([[0.0], dtu]) + np.concatenate([dtu, [0.0]])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    out[~np.isfinite(d)] = np.nan
    return out


def smooth_time(time_s: np.ndarray, values: np.ndarray, window_s: float) -> np.ndarray:
    """Centred moving mean over a window of ``window_s`` seconds (not samples): each valid
    sample becomes the mean of the valid samples within ``+-window_s/2`` of it. NaN stays NaN.
    Vectorised (cumulative sums + binary search), O(n log n)."""
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    out = np.full(v.shape, np.nan)
    if not ok.any():
        return out
    tv, vv = t[ok], v[ok]
    # subtract a reference so the cumulative sums keep their precision
    ref = float(np.median(vv))
    cs = np.concatenate([[0.0], np.cumsum(vv - ref)])
    h = window_s / 2.0
    lo = np.searchsorted(tv, tv - h - 1e-9, side="left")
    hi = np.searchsorted(tv, tv + h + 1e-9, side="right")
    # a mean lies within the values' range; the clip removes cumulative-sum rounding (-1e-16)
    out[ok] = np.clip((cs[hi] - cs[lo]) / (hi - lo) + ref, vv.min(), vv.max())
    return out


def _gps_distance(t: np.ndarray, lat: np.ndarray, lon: np.ndarray, vmax: float) -> tuple[np.ndarray, int]:
    """Cumulative GPS distance at every sample (interpolated in time where a position is
    missing, NaN before the first and after the last fix) with too-fast steps repaired."""
    ok = np.isfinite(lat) & np.isfinite(lon)
    out = np.full(t.shape, np.nan)
    if ok.sum() < 2:
        if ok.any():
            out[ok] = 0.0
        return out, 0
    cum = geo.cumulative_distance_m(lat[ok], lon[ok])
    cum, nfix = fix_distance_steps(t[ok], cum, vmax)
    tv = t[ok]
    inside = (t >= tv[0]) & (t <= tv[-1])
    out[inside] = np.interp(t[inside], tv, cum)
    return out, nfix


def derive_speed(workout: Workout, *, max_gap_s: float = 30.0, smooth_s: float = 5.0) -> np.ndarray | None:
    """Speed in m/s derived from the workout's track, ignoring any recorded speed channel.

    From the distance channel when there is one (repaired with :func:`fix_distance_steps`),
    else from GPS (invalid positions and spikes removed with :func:`gps_invalid_mask` and
    :func:`gps_spike_mask`, too-fast jumps repaired). GPS-derived speeds, and speeds from a
    distance channel that was itself computed from GPS (``metadata["distance_source"] ==
    "gps"``), are smoothed with a ``smooth_s`` centred moving mean; a device distance is not.
    The sport's maximum speed (:data:`MAX_SPEED_MPS`) bounds plausible steps. ``None`` when
    there is neither distance nor GPS."""
    return _derive(workout, max_gap_s=max_gap_s, smooth_s=smooth_s, max_accel=6.0, max_iter=20).speed


@dataclass
class _Derived:
    speed: np.ndarray | None = None
    source: str = "none"
    distance_m: np.ndarray | None = None  # repaired distance channel, or cleaned GPS distance
    gps_spikes: np.ndarray | None = None
    gps_invalid: np.ndarray | None = None
    n_distance_fixed: int = 0


def _derive(w: Workout, *, max_gap_s: float, smooth_s: float, max_accel: float, max_iter: int) -> _Derived:
    """Shared by :func:`derive_speed` and :func:`clean`."""
    vmax = MAX_SPEED_MPS.get(w.sport, 30.0)
    t = w.time_s
    out = _Derived()
    if w.has("distance_m"):
        d, out.n_distance_fixed = fix_distance_steps(t, w.distance_m, vmax)  # type: ignore[arg-type]
        v = speed_from_track(t, d, max_gap_s)
        if w.metadata.get("distance_source") == "gps" and smooth_s > 0:
            v = smooth_time(t, v, smooth_s)
        out.speed, out.source, out.distance_m = v, "distance", d
        return out
    if w.has("lat_deg") and w.has("lon_deg"):
        lat = np.array(w.lat_deg, dtype=np.float64, copy=True)
        lon = np.array(w.lon_deg, dtype=np.float64, copy=True)
        out.gps_invalid = gps_invalid_mask(lat, lon)
        lat[out.gps_invalid] = lon[out.gps_invalid] = np.nan
        out.gps_spikes = gps_spike_mask(t, lat, lon, vmax, max_accel, max_iter)
        lat[out.gps_spikes] = lon[out.gps_spikes] = np.nan
        cum, out.n_distance_fixed = _gps_distance(t, lat, lon, vmax)
        v = speed_from_track(t, cum, max_gap_s)
        if smooth_s > 0:
            v = smooth_time(t, v, smooth_s)
        out.speed, out.source, out.distance_m = v, "gps", cum
    return out


# ============================================================================================
# Rule 6: altitude
# ============================================================================================
def hampel_mask(
    time_s: np.ndarray,
    values: np.ndarray,
    window_s: float = 30.0,
    n_sigma: float = 3.0,
    min_dev: float = 10.0,
) -> np.ndarray:
    """Mask of outliers by a Hampel filter: a valid sample is an outlier when it differs from
    the median of its window by more than ``max(n_sigma * 1.4826 * MAD, min_dev)``.

    The window spans about ``window_s`` seconds: ``2k+1`` valid samples with ``k =
    round(window_s / 2 / median interval)``, so 1-s and 5-s recordings get the same span in
    time. ``min_dev`` (10 m for altitude) keeps the filter from chasing barometer steps on a
    flat series whose MAD is zero."""
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    mask = np.zeros(v.shape, dtype=bool)
    ok = np.flatnonzero(np.isfinite(v))
    if ok.size < 3:
        return mask
    dt = np.diff(t[ok])
    step = float(np.median(dt)) if dt.size else 1.0
    k = int(max(1, round(window_s / 2.0 / max(step, 1e-3))))
    k = min(k, (ok.size - 1) // 2) or 1
    x = v[ok]
    padded = np.pad(x, k, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1)
    # A sample can only be min_dev away from its window's median when the window spans more
    # than min_dev: medians are computed for those windows only (most of a run is flat).
    cand = np.flatnonzero(win.max(axis=1) - win.min(axis=1) > min_dev)
    if cand.size == 0:
        return mask
    wc = win[cand]
    med = np.median(wc, axis=1)
    mad = np.median(np.abs(wc - med[:, None]), axis=1)
    thr = np.maximum(n_sigma * 1.4826 * mad, min_dev)
    mask[ok[cand[np.abs(x[cand] - med) > thr]]] = True
    return mask


# ============================================================================================
# Rule 7: sport detection
# ============================================================================================
def detect_sport(workout: Workout) -> str:
    """Guess ``run``, ``walk`` or ``bike`` from the median moving speed and, when present, the
    median cadence (``cadence_spm``: steps/min when running, rev/min when cycling).

    Speed is the recorded one with its holes filled from the derived one (:func:`derive_speed`),
    as :func:`clean` fills them; only samples faster than 0.5 m/s count. Rules (median moving speed v, median cadence c of samples with c > 0):

    * v < 2.0 m/s (slower than 8:20 min/km): ``walk``, unless c >= 140 (a slow run);
    * 2.0 <= v < 5.0: ``run``, unless 30 < c < 120 (pedalling rpm);
    * 5.0 <= v < 6.5: ``bike``, unless c >= 140 (a fast run);
    * v >= 6.5 m/s (faster than 2:34 min/km held for a whole workout): ``bike``.

    Returns the workout's sport unchanged when it already has one, and ``unknown`` only when no
    speed can be had at all."""
    if workout.sport != "unknown":
        return workout.sport
    derived = derive_speed(workout)
    if workout.has("speed_mps"):
        speed = np.array(workout.speed_mps, dtype=np.float64, copy=True)
        if derived is not None:  # as clean() does: missing device speeds from the track
            hole = ~np.isfinite(speed)
            speed[hole] = derived[hole]
    elif derived is not None:
        speed = derived
    else:
        return "unknown"
    with np.errstate(invalid="ignore"):
        moving = speed[np.isfinite(speed) & (speed > MOVING_SPEED_MPS)]
    if moving.size == 0:
        return "unknown"
    v = float(np.median(moving))
    c: float | None = None
    if workout.has("cadence_spm"):
        cad = workout.cadence_spm[np.isfinite(workout.cadence_spm) & (workout.cadence_spm > 0)]  # type: ignore[index]
        c = float(np.median(cad)) if cad.size else None
    runs_cadence = c is not None and c >= 140
    pedal_cadence = c is not None and 30 < c < 120
    if v < 2.0:
        return "run" if runs_cadence else "walk"
    if v < 5.0:
        return "bike" if pedal_cadence else "run"
    if v < 6.5:
        return "run" if runs_cadence else "bike"
    return "bike"


# ============================================================================================
# The pipeline
# ============================================================================================
def clean(
    workout: Workout,
    *,
    report: CleanReport | None = None,
    start_hint: datetime | None = None,
    config: CleanConfig | None = None,
) -> Workout:
    """Apply the cleaning rules of this module and return a NEW workout (the input is never
    modified). Changes are recorded in ``report`` when given.

    Args:
        workout: as read from a file (SI units).
        report: filled with notes and counters of what changed.
        start_hint: true start of a recording whose time stamps count from the epoch (else
            ``metadata["start_hint"]``, unix seconds, is used when present).
        config: thresholds (defaults: :class:`CleanConfig`).
    """
    cfg = config or CleanConfig()
    rep = report if report is not None else CleanReport()
    meta: dict[str, Any] = dict(workout.metadata)

    # --- rule 1: order and duplicates ---------------------------------------------------
    chans = {c: getattr(workout, c) for c in CHANNELS}
    t_in = workout.time_s
    future = future_time_mask(t_in)
    if future.any():
        t_in = np.where(future, np.nan, t_in)
        rep.n_future_time_dropped = int(future.sum())
        rep.note(f"dropped {rep.n_future_time_dropped} samples time-stamped after 2100")
    t, chans, n_nf, n_dup, reordered = sort_and_dedupe(t_in, chans)
    n_nf -= rep.n_future_time_dropped
    rep.n_nonfinite_time_dropped, rep.n_duplicates_dropped, rep.reordered = n_nf, n_dup, reordered
    if n_nf:
        rep.note(f"dropped {n_nf} samples without a time stamp")
    if reordered:
        rep.note("sorted samples into time order")
    if n_dup:
        rep.note(f"merged {n_dup} samples with duplicate time stamps")
    # copies so that nothing below can write into the caller's arrays
    chans = {k: (None if v is None else np.array(v, dtype=np.float64, copy=True)) for k, v in chans.items()}
    t = np.array(t, dtype=np.float64, copy=True)

    # --- rule 2: relative time ----------------------------------------------------------
    if is_relative_time(t):
        rep.relative_time = True
        meta["relative_time"] = True
        hint = _hint_to_unix_s(start_hint) if start_hint is not None else _hint_to_unix_s(meta.get("start_hint"))
        if hint is not None:
            t = t - t[0] + hint
            rep.relative_time_fixed = True
            meta["relative_time_shifted"] = True
            rep.note(f"time stamps counted from 1970; shifted to start at {datetime.fromtimestamp(hint, tz=timezone.utc).isoformat()}")
        else:
            rep.note("time stamps count from 1970 and no start hint was given; kept as they are")

    w = workout.replace(time_s=t, metadata=meta, **chans)

    # --- rule 3: gaps -------------------------------------------------------------------
    rep.gaps = find_gaps(t, cfg.max_gap_s)
    if rep.gaps:
        rep.note(f"{len(rep.gaps)} gaps longer than {cfg.max_gap_s:g} s (total {sum(b - a for a, b in rep.gaps):.0f} s); not interpolated")

    # --- rule 4: heart rate -------------------------------------------------------------
    if w.hr_bpm is not None:
        hr = w.hr_bpm
        bad = hr_out_of_range(hr, cfg.hr_min_bpm, cfg.hr_max_bpm)
        if bad.any():
            hr[bad] = np.nan
            rep.n_hr_invalid = int(bad.sum())
            rep.note(f"{rep.n_hr_invalid} HR samples outside {cfg.hr_min_bpm:g}-{cfg.hr_max_bpm:g} BPM set missing")
        stuck = hr_stuck_mask(t, hr, cfg.hr_stuck_s, cfg.hr_max_interp_s)
        stuck &= np.isfinite(hr)
        if stuck.any():
            hr[stuck] = np.nan
            rep.n_hr_dropout = int(stuck.sum())
            rep.note(f"{rep.n_hr_dropout} HR samples frozen at one value for > {cfg.hr_stuck_s:g} s set missing")
        filled = interpolate_short_gaps(t, hr, cfg.hr_max_interp_s)
        n_fill = int(np.isfinite(filled).sum() - np.isfinite(hr).sum())
        if n_fill:
            rep.n_hr_interpolated = n_fill
            rep.note(f"{n_fill} HR samples interpolated in holes of <= {cfg.hr_max_interp_s:g} s")
        w.hr_bpm = filled

    # --- positions: one coordinate without the other is no position -----------------------
    if (w.lat_deg is None) != (w.lon_deg is None):
        rep.note("only one of latitude/longitude present; positions dropped")
        w.lat_deg = w.lon_deg = None
    if w.lat_deg is not None and w.lon_deg is not None:
        inv = gps_invalid_mask(w.lat_deg, w.lon_deg)
        if inv.any():
            w.lat_deg[inv] = np.nan
            w.lon_deg[inv] = np.nan
            rep.n_gps_invalid = int(inv.sum())
            rep.note(f"{rep.n_gps_invalid} positions out of range or at (0, 0) set missing")

    # --- rule 7 (first, as the speed limits depend on it): sport -------------------------
    if w.sport == "unknown":
        sport = detect_sport(w)
        if sport != "unknown":
            w.sport = sport
            rep.sport_detected = sport
            meta["sport_detected"] = True
            rep.note(f"sport detected from speed/cadence: {sport}")
    vmax = MAX_SPEED_MPS.get(w.sport, 30.0)

    # --- rule 5: GPS spikes, distance, speed ----------------------------------------------
    speed_source = meta.get("speed_source")
    der = _derive(w, max_gap_s=cfg.max_gap_s, smooth_s=cfg.speed_smooth_s, max_accel=cfg.max_accel_mps2, max_iter=cfg.gps_max_iter)
    derived, source = der.speed, der.source
    if der.gps_spikes is not None and der.gps_spikes.any():
        w.lat_deg[der.gps_spikes] = np.nan  # type: ignore[index]
        w.lon_deg[der.gps_spikes] = np.nan  # type: ignore[index]
        rep.n_gps_spikes = int(der.gps_spikes.sum())
        rep.note(f"{rep.n_gps_spikes} GPS spikes removed (detour implying > {vmax:g} m/s or > {cfg.max_accel_mps2:g} m/s^2)")
    rep.n_distance_fixed = der.n_distance_fixed
    if source == "distance" and der.n_distance_fixed:
        w.distance_m = der.distance_m
        rep.note(f"{der.n_distance_fixed} distance steps repaired (negative or faster than {vmax:g} m/s)")
    if source == "gps" and der.distance_m is not None:
        if der.n_distance_fixed:
            rep.note(f"{der.n_distance_fixed} GPS jumps faster than {vmax:g} m/s counted at the median speed")
        w.distance_m = der.distance_m
        meta["distance_source"] = "gps"
        rep.note("distance channel computed from the cleaned GPS track")

    if w.has("speed_mps"):
        sp = w.speed_mps
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(sp) & ((sp < 0) | (sp > vmax))  # type: ignore[operator]
        if bad.any():
            sp[bad] = np.nan  # type: ignore[index]
            rep.n_speed_invalid = int(bad.sum())
            rep.note(f"{rep.n_speed_invalid} device speeds negative or above {vmax:g} m/s set missing")
        if derived is not None:
            hole = ~np.isfinite(sp) & np.isfinite(derived)  # type: ignore[arg-type]
            if hole.any():
                sp[hole] = derived[hole]  # type: ignore[index]
                rep.n_speed_filled = int(hole.sum())
                rep.note(f"{rep.n_speed_filled} missing device speeds filled from the {source} track")
        rep.speed_source = speed_source or "device"
    elif derived is not None:
        w.speed_mps = derived
        rep.speed_source = source
        rep.note(f"speed derived from the {source} track" + (f" ({cfg.speed_smooth_s:g}-s moving mean)" if source == "gps" or meta.get("distance_source") == "gps" else ""))
    else:
        rep.speed_source = "none"
    meta.setdefault("speed_source", rep.speed_source)

    # --- rule 6: altitude -------------------------------------------------------------------
    if w.has("altitude_m") and "altitude_smoothed_s" not in meta:
        alt = w.altitude_m
        lo, hi = cfg.alt_valid_m
        with np.errstate(invalid="ignore"):
            inv = np.isfinite(alt) & ((alt < lo) | (alt > hi))  # type: ignore[operator]
        if inv.any():
            alt[inv] = np.nan  # type: ignore[index]
            rep.n_alt_invalid = int(inv.sum())
            rep.note(f"{rep.n_alt_invalid} altitudes outside {lo:g}..{hi:g} m set missing")
        spikes = hampel_mask(t, alt, cfg.alt_window_s, cfg.alt_n_sigma, cfg.alt_min_dev_m)  # type: ignore[arg-type]
        if spikes.any():
            alt[spikes] = np.nan  # type: ignore[index]
            rep.n_alt_spikes = int(spikes.sum())
            rep.note(f"{rep.n_alt_spikes} altitude spikes removed (Hampel, {cfg.alt_window_s:g}-s window)")
            alt = interpolate_short_gaps(t, alt, cfg.max_gap_s)  # type: ignore[arg-type]
        w.altitude_m = smooth_time(t, alt, cfg.alt_window_s)  # type: ignore[arg-type]
        meta["altitude_smoothed_s"] = cfg.alt_window_s
        rep.note(f"altitude smoothed ({cfg.alt_window_s:g}-s moving mean)")

    # --- rule 3 again, now that the distance track is clean: pauses ------------------------
    track = w.distance_track_m()
    if track is not None:
        rep.pauses = find_pauses(t, track, MOVING_SPEED_MPS, cfg.max_gap_s)

    meta["cleaned"] = True
    w.metadata = meta
    return w


# ============================================================================================
# Resampling and validation
# ============================================================================================
def resample(workout: Workout, step_s: float = 5.0, *, max_gap_s: float = 30.0) -> Workout:
    """The workout on a uniform grid ``t0, t0 + step_s, ...`` (``t0`` the first sample, up to the
    last sample), channels linearly interpolated.

    A grid point is NaN in a channel when the valid samples of that channel bracketing it are
    more than ``max_gap_s`` apart (a pause or a long dropout: never interpolated across), or
    when the input sample nearest to it is itself missing (holes the input marks stay holes).
    Values therefore always lie within the range of the input's values. Sets
    ``metadata["resample_step_s"]``. Vectorised: one binary search per channel."""
    if step_s <= 0:
        raise ValueError("step_s must be positive")
    t = workout.time_s
    meta = dict(workout.metadata)
    meta["resample_step_s"] = float(step_s)
    if t.size == 0:
        return workout.copy().replace(metadata=meta)
    n_grid = int(np.floor((t[-1] - t[0]) / step_s + 1e-9)) + 1
    grid = t[0] + np.arange(n_grid, dtype=np.float64) * step_s
    # nearest input sample to each grid point
    j = np.searchsorted(t, grid, side="left")
    jl = np.clip(j - 1, 0, t.size - 1)
    jr = np.clip(j, 0, t.size - 1)
    nearest = np.where(np.abs(grid - t[jl]) <= np.abs(t[jr] - grid), jl, jr)
    out: dict[str, np.ndarray | None] = {}
    for c in CHANNELS:
        v = getattr(workout, c)
        if v is None:
            out[c] = None
            continue
        ok = np.isfinite(v)
        if ok.sum() == 0:
            out[c] = np.full(n_grid, np.nan)
            continue
        if ok.all():
            tv, vv = t, v
        else:
            tv, vv = t[ok], v[ok]
        res = np.interp(grid, tv, vv)
        k = np.searchsorted(tv, grid, side="right")  # tv[k-1] <= g < tv[k]
        lo = np.clip(k - 1, 0, tv.size - 1)
        hi = np.clip(k, 0, tv.size - 1)
        exact = tv[lo] == grid
        bad = (k == 0) | (~exact & ((k >= tv.size) | (tv[hi] - tv[lo] > max_gap_s)))
        bad |= ~ok[nearest]
        res[bad] = np.nan
        out[c] = res
    return workout.replace(time_s=grid, metadata=meta, **out)


def validate(workout: Workout) -> list[str]:
    """Problems that make a workout unusable for analysis (an empty list means usable):
    fewer than 2 samples, non-finite or decreasing time stamps, zero duration, time stamps
    after 2100 (a unit error), and no way to know how fast the athlete went (no speed,
    distance or GPS)."""
    problems: list[str] = []
    t = workout.time_s
    if t.size < 2:
        problems.append(f"only {t.size} sample(s)")
        return problems
    if not np.isfinite(t).all():
        problems.append(f"{int((~np.isfinite(t)).sum())} samples without a finite time stamp")
    tf = t[np.isfinite(t)]
    if tf.size >= 2:
        if (np.diff(tf) < 0).any():
            problems.append("time stamps out of order")
        if float(tf.max() - tf.min()) <= 0:
            problems.append("zero duration (all samples at the same time)")
        if float(tf.max()) > FUTURE_TIME_LIMIT_S:
            problems.append("time stamps after the year 2100 (milliseconds read as seconds?)")
    elif tf.size < 2:
        problems.append("fewer than 2 samples with a time stamp")
    has_gps = workout.has("lat_deg") and workout.has("lon_deg")
    if not (workout.has("speed_mps") or workout.has("distance_m") or has_gps):
        problems.append("no speed, distance or GPS: nothing says how fast the athlete went")
    return problems


__all__ = [
    "CleanConfig",
    "CleanReport",
    "MAX_SPEED_MPS",
    "clean",
    "derive_speed",
    "detect_sport",
    "find_gaps",
    "find_pauses",
    "fix_distance_steps",
    "future_time_mask",
    "gps_invalid_mask",
    "gps_spike_mask",
    "hampel_mask",
    "hr_out_of_range",
    "hr_stuck_mask",
    "interpolate_short_gaps",
    "is_relative_time",
    "moving_time_s",
    "resample",
    "smooth_time",
    "sort_and_dedupe",
    "speed_from_track",
    "validate",
]
