"""Rule 5 of cleaning: position, distance and speed (GPS spikes, distance repairs, derived speed)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sub3coach import geo
from sub3coach.clean.config import MAX_SPEED_MPS, MOVING_SPEED_MPS
from sub3coach.workout import Workout



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
