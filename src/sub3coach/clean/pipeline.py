"""The cleaning pipeline (:func:`clean`), resampling to a time grid (:func:`resample`) and :func:`validate`."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import numpy as np

from sub3coach import geo
from sub3coach.clean.config import MAX_SPEED_MPS, MOVING_SPEED_MPS, FUTURE_TIME_LIMIT_S, CleanConfig, CleanReport
from sub3coach.clean.heart import hr_out_of_range, hr_stuck_mask, interpolate_short_gaps
from sub3coach.clean.plausible import MAX_DURATION_S, MAX_SAMPLES, check_bounds, drop_implausible_values, time_outlier_mask
from sub3coach.clean.sport import detect_sport, hampel_mask
from sub3coach.clean.timing import _hint_to_unix_s, find_gaps, find_pauses, future_time_mask, is_relative_time, sort_and_dedupe
from sub3coach.clean.track import _derive, gps_invalid_mask, smooth_time
from sub3coach.errors import ImplausibleWorkout
from sub3coach.workout import CHANNELS, Workout

log = logging.getLogger(__name__)



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
    if len(workout) > 4 * MAX_SAMPLES:  # refuse before any work proportional to the size
        raise ImplausibleWorkout(workout.source, f"{len(workout):,} samples, more than the {MAX_SAMPLES:,} a workout may hold")
    chans = {c: getattr(workout, c) for c in CHANNELS}
    t_in = workout.time_s
    future = future_time_mask(t_in)
    if future.any():
        t_in = np.where(future, np.nan, t_in)
        rep.n_future_time_dropped = int(future.sum())
        rep.note(f"dropped {rep.n_future_time_dropped} samples time-stamped after 2100")
    outliers = time_outlier_mask(t_in)
    if outliers.any():
        t_in = np.where(outliers, np.nan, t_in)
        rep.n_time_outliers_dropped = int(outliers.sum())
        meta["time_outliers_dropped"] = meta.get("time_outliers_dropped", 0) + rep.n_time_outliers_dropped
        rep.note(f"dropped {rep.n_time_outliers_dropped} samples time-stamped far outside the rest of the recording")
    t, chans, n_nf, n_dup, reordered = sort_and_dedupe(t_in, chans)
    n_nf -= rep.n_future_time_dropped + rep.n_time_outliers_dropped
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
    rep.n_implausible_values = drop_implausible_values(w)
    if rep.n_implausible_values:
        meta["implausible_values_dropped"] = sum(rep.n_implausible_values.values())
        rep.note("implausible values set missing: " + ", ".join(f"{c} {n}" for c, n in rep.n_implausible_values.items()))

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

    # --- rule 5: a sparse distance channel, GPS spikes, distance, speed ---------------------
    _fill_distance_holes(w, rep)
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
    moving = geo.moving_time_s(t, track, pauses=meta.get("timer_pauses_s")) if track is not None else None
    check_bounds(w, moving, float(np.nanmax(track)) if track is not None and track.size else None)
    return w


def _fill_distance_holes(w: Workout, rep: CleanReport) -> None:
    """Interior holes of a sparse device distance channel filled following speed or GPS, else
    linearly in time (:func:`geo.fill_track_m`): a missing value is not a stop."""
    d = w.distance_m
    if d is None or np.isfinite(d).all() or not np.isfinite(d).any():
        return
    secondary = None
    if w.has("speed_mps"):
        secondary = geo.distance_from_speed_m(w.time_s, w.speed_mps)  # type: ignore[arg-type]
    elif w.has("lat_deg") and w.has("lon_deg"):
        secondary = geo.cumulative_distance_m(w.lat_deg, w.lon_deg)  # type: ignore[arg-type]
    filled = geo.fill_track_m(w.time_s, d, secondary, extend=False)
    n = int(np.isfinite(filled).sum() - np.isfinite(d).sum())
    if n:
        # keep the device's own values; only the holes take the filled ones
        w.distance_m = np.where(np.isfinite(d), d, filled)
        rep.n_distance_interpolated = n
        rep.note(f"{n} missing distance samples interpolated between the device's values")


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
        if float(tf.max() - tf.min()) > MAX_DURATION_S:
            problems.append(f"lasts longer than {MAX_DURATION_S / 3600:.0f} h")
    if t.size > MAX_SAMPLES:
        problems.append(f"more than {MAX_SAMPLES:,} samples")
    elif tf.size < 2:
        problems.append("fewer than 2 samples with a time stamp")
    has_gps = workout.has("lat_deg") and workout.has("lon_deg")
    if not (workout.has("speed_mps") or workout.has("distance_m") or has_gps):
        problems.append("no speed, distance or GPS: nothing says how fast the athlete went")
    return problems
