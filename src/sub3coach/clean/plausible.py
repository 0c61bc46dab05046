"""Trust nothing in a file: per-sample plausibility and per-workout bounds (SI units).

Point by point (:func:`implausible_values`, :func:`time_outlier_mask`), before any other rule:

* a non-finite value (NaN aside: infinities) in any channel becomes missing;
* values beyond any human (:data:`VALUE_LIMITS`: a speed above 100 m/s, a distance above
  10,000 km, a cadence above 400/min, power above 5,000 W, a negative one of these) become
  missing; the sport-specific limits of the later rules (HR 30-230 BPM, speed by sport,
  distance steps, GPS spikes, altitude) then apply as before;
* a sample whose time stamp lies outside the plausible span of the rest of the recording is
  dropped: the time stamps are split wherever consecutive ones lie more than
  :data:`SPLIT_GAP_S` (24 h) apart, and only the cluster holding most samples is kept (a
  single ``<time>`` in 2099, a FIT record stamped 1989, a year-0001 point). Negative times
  and times after 2100 never form the kept cluster when another one exists.

Per workout (:func:`check_bounds`, after cleaning): a workout longer than
:data:`MAX_DURATION_S` (100 h), with more than :data:`MAX_SAMPLES` samples, farther than
:data:`MAX_DISTANCE_M` for its sport or faster on average (over its moving time) than
:data:`MAX_AVG_SPEED_MPS` is refused with :class:`~sub3coach.errors.ImplausibleWorkout`
naming the bound. No real recording comes near them; every such file seen was corrupt.
"""
from __future__ import annotations

import numpy as np

from sub3coach.clean.config import FUTURE_TIME_LIMIT_S
from sub3coach.errors import ImplausibleWorkout
from sub3coach.workout import CHANNELS, Workout

#: Absolute plausible range per channel (inclusive); HR, altitude and positions have their own
#: rules (:mod:`sub3coach.clean.heart`, altitude and GPS rules), which keep their ranges.
VALUE_LIMITS: dict[str, tuple[float, float]] = {
    "speed_mps": (-np.inf, 100.0),  # negative speeds: counted by the speed rule
    "distance_m": (0.0, 1.0e7),
    "cadence_spm": (0.0, 400.0),
    "power_w": (0.0, 5000.0),
    "hr_bpm": (-1.0e4, 1.0e4),
    "altitude_m": (-1.0e5, 1.0e5),
    "lat_deg": (-90.0, 90.0),
    "lon_deg": (-180.0, 180.0),
}

#: Consecutive time stamps further apart than this (s) split a recording into clusters.
SPLIT_GAP_S = 86_400.0
#: Longest workout accepted (s): 100 h, beyond multi-day mountain ultras recorded as one file.
MAX_DURATION_S = 100 * 3600.0
#: Most samples accepted in one workout (100 h at 1 Hz is 360,000).
MAX_SAMPLES = 1_000_000
#: Longest distance accepted per sport (m); on foot 1,000 km, wheels and the rest 5,000 km.
MAX_DISTANCE_M: dict[str, float] = {"run": 1.0e6, "walk": 1.0e6, "hike": 1.0e6, "swim": 1.0e5}
#: Default for sports not in :data:`MAX_DISTANCE_M` (m).
MAX_DISTANCE_OTHER_M = 5.0e6
#: Fastest average speed over the moving time per sport (m/s): 10 m/s is 1:40/km on foot.
MAX_AVG_SPEED_MPS: dict[str, float] = {"run": 10.0, "walk": 10.0, "hike": 10.0, "swim": 3.0}
#: Default for sports not in :data:`MAX_AVG_SPEED_MPS` (m/s).
MAX_AVG_SPEED_OTHER_MPS = 40.0
#: The average-speed bound applies only to workouts moving at least this long (s).
MIN_MOVING_FOR_SPEED_S = 60.0


def implausible_values(channel: str, values: np.ndarray) -> np.ndarray:
    """Mask of samples of ``channel`` that are infinite or outside :data:`VALUE_LIMITS`."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = VALUE_LIMITS.get(channel, (-np.inf, np.inf))
    with np.errstate(invalid="ignore"):
        return np.isinf(v) | (np.isfinite(v) & ((v < lo) | (v > hi)))


def time_outlier_mask(time_s: np.ndarray, split_gap_s: float = SPLIT_GAP_S) -> np.ndarray:
    """Mask of finite time stamps outside the recording's main cluster (see the module doc).

    Clusters are maximal runs of the sorted finite stamps with no step above ``split_gap_s``;
    the kept one has the most samples, preferring (on ties) a cluster within 1970-2100, then
    the earliest. Non-finite stamps are not masked (the time-order rule drops them)."""
    t = np.asarray(time_s, dtype=np.float64)
    mask = np.zeros(t.shape, dtype=bool)
    fin = np.flatnonzero(np.isfinite(t))
    if fin.size < 2:
        return mask
    order = fin[np.argsort(t[fin], kind="stable")]
    ts = t[order]
    cut = np.flatnonzero(np.diff(ts) > split_gap_s) + 1
    if cut.size == 0:
        return mask
    starts = np.concatenate([[0], cut])
    sizes = np.diff(np.concatenate([starts, [ts.size]]))
    sane = (ts[starts] >= 0) & (ts[starts] <= FUTURE_TIME_LIMIT_S)
    best = int(np.lexsort((np.arange(starts.size), ~sane, -sizes))[0])
    keep = np.zeros(ts.size, dtype=bool)
    keep[starts[best] : starts[best] + sizes[best]] = True
    mask[order[~keep]] = True
    return mask


def check_bounds(w: Workout, moving_s: float | None = None, distance_m: float | None = None) -> None:
    """Refuse a workout beyond the bounds of the module doc.

    Args:
        w: the cleaned workout.
        moving_s, distance_m: its moving time (s) and distance (m), when already known.

    Raises:
        ImplausibleWorkout: naming the bound exceeded and the workout's value."""
    n = len(w)
    if n > MAX_SAMPLES:
        raise ImplausibleWorkout(w.source, f"{n:,} samples, more than the {MAX_SAMPLES:,} a workout may hold")
    dur = w.elapsed_s
    if dur > MAX_DURATION_S:
        raise ImplausibleWorkout(w.source, f"lasts {dur / 3600:,.1f} h, longer than {MAX_DURATION_S / 3600:.0f} h (corrupt time stamps?)")
    if distance_m is None:
        track = w.distance_track_m()
        distance_m = float(np.nanmax(track)) if track is not None and track.size else None
    if distance_m is None:
        return
    if not np.isfinite(distance_m):
        raise ImplausibleWorkout(w.source, "distance is not a finite number")
    dmax = MAX_DISTANCE_M.get(w.sport, MAX_DISTANCE_OTHER_M)
    if distance_m > dmax:
        raise ImplausibleWorkout(w.source, f"{distance_m / 1000:,.0f} km, farther than {dmax / 1000:,.0f} km for a {w.sport} workout")
    vmax = MAX_AVG_SPEED_MPS.get(w.sport, MAX_AVG_SPEED_OTHER_MPS)
    if moving_s and moving_s >= MIN_MOVING_FOR_SPEED_S and distance_m / moving_s > vmax:
        pace = 1000.0 * moving_s / distance_m
        raise ImplausibleWorkout(
            w.source, f"average {distance_m / moving_s:.1f} m/s ({int(pace // 60)}:{int(pace % 60):02d}/km) while moving, faster than {vmax:g} m/s for a {w.sport} workout"
        )


def drop_implausible_values(w: Workout) -> dict[str, int]:
    """Set implausible values of every channel of ``w`` missing, in place (arrays must be the
    workout's own copies). Returns the count per channel that had any."""
    counts: dict[str, int] = {}
    for c in CHANNELS:
        v = getattr(w, c)
        if v is None:
            continue
        bad = implausible_values(c, v)
        if bad.any():
            v[bad] = np.nan
            counts[c] = int(bad.sum())
    return counts


__all__ = [
    "MAX_AVG_SPEED_MPS",
    "MAX_DISTANCE_M",
    "MAX_DURATION_S",
    "MAX_SAMPLES",
    "SPLIT_GAP_S",
    "VALUE_LIMITS",
    "check_bounds",
    "drop_implausible_values",
    "implausible_values",
    "time_outlier_mask",
]
