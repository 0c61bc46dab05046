"""Rules 6 and 7 of cleaning: altitude spikes (Hampel filter) and sport detection."""
from __future__ import annotations

import numpy as np

from sub3coach.clean.config import MOVING_SPEED_MPS
from sub3coach.clean.track import derive_speed
from sub3coach.workout import Workout



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
