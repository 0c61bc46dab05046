"""Race-day pacing, the inverse use of the HR model: the fastest plan under an HR cap.

A course's kilometres get paces in proportion to the metabolic cost of running on their
grade (Minetti et al. 2002, J Appl Physiol 93: cost per metre on a slope, valid for grades of
-45 %..+45 %): equal effort, so climbs are slower and descents faster. One flat-equivalent pace
scales the whole plan; a bisection finds the fastest one whose predicted HR (the runner's
personal model when given) stays under the cap everywhere. Each step is one model prediction
(~20 ms for an hour), so a plan takes well under a second.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sub3coach.errors import MissingChannel, Sub3Error
from sub3coach.hr.artifact import LoadedModel
from sub3coach.hr.personal import Personal
from sub3coach.units import format_pace
from sub3coach.workout import Workout

log = logging.getLogger(__name__)

#: Flat-equivalent paces searched, s/km (2:30/km .. 15:00/km).
PACE_RANGE_S_PER_KM: tuple[float, float] = (150.0, 900.0)
#: Bisection stops when the pace bracket is narrower than this, s/km.
PACE_TOLERANCE_S: float = 0.5
#: A course's last few metres past a whole km (route rounding) are not a split of their own, m.
LAST_SPLIT_MIN_M: float = 10.0
#: Grade is measured over this much distance, metres.
GRADE_WINDOW_M: float = 100.0


def minetti_cost(grade: np.ndarray) -> np.ndarray:
    """Energy cost of running, J/kg/m, at ``grade`` (rise/run, clipped to +-0.45)."""
    g = np.clip(np.asarray(grade, dtype=np.float64), -0.45, 0.45)
    return 155.4 * g**5 - 30.4 * g**4 - 43.3 * g**3 + 46.3 * g**2 + 19.5 * g + 3.6


def km_cost_factors(distance_m: np.ndarray, altitude_m: np.ndarray | None) -> np.ndarray:
    """Per started km of the course, its mean cost relative to flat running (1.0 = flat)."""
    d = np.asarray(distance_m, dtype=np.float64)
    n_km = max(1, int(np.ceil((d[-1] - LAST_SPLIT_MIN_M) / 1000.0)))  # a last "km" of a few metres joins the one before
    if altitude_m is None or np.isfinite(altitude_m).sum() < 2:
        return np.ones(n_km)
    a = np.asarray(altitude_m, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(d)
    grid = np.arange(0.0, d[-1] + 10.0, 10.0)  # every 10 m
    alt = np.interp(grid, d[ok], a[ok])
    k = max(1, int(GRADE_WINDOW_M / 10.0))
    kernel = np.ones(k) / k
    alt = np.convolve(np.pad(alt, (k // 2, k - 1 - k // 2), mode="edge"), kernel, mode="valid")
    grade = np.gradient(alt, 10.0)
    rel = minetti_cost(grade) / minetti_cost(np.zeros(1))[0]
    km = np.minimum((grid // 1000.0).astype(int), n_km - 1)
    return np.bincount(km, weights=rel, minlength=n_km) / np.maximum(np.bincount(km, minlength=n_km), 1)


@dataclass
class PacePlan:
    """The result of :func:`plan_pace`.

    Attributes:
        splits: per km ``{"km", "pace_s_per_km", "hr_pred_max"}``; finish_s: total time, s;
        hr_pred_max: highest predicted HR, BPM; cap_bpm: the cap; time_s / hr_pred / hr_lo /
        hr_hi: the predicted curve (s from the start, BPM); mode: cold or personal.
    """

    splits: list[dict[str, float]]
    finish_s: float
    hr_pred_max: float
    cap_bpm: float
    mode: str
    time_s: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    hr_pred: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    hr_lo: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    hr_hi: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict[str, Any]:
        return {"splits": self.splits, "finish_s": round(self.finish_s, 1), "hr_pred_max": round(self.hr_pred_max, 1),
                "cap_bpm": self.cap_bpm, "mode": self.mode}


def plan_pace(lm: LoadedModel, course: Workout, max_hr_bpm: float, *, personal: Personal | None = None,
              stated: dict[str, float | None] | None = None) -> PacePlan:
    """The fastest grade-aware pace plan whose predicted HR stays at or under ``max_hr_bpm``.

    Raises:
        MissingChannel: the course has neither GPS nor distance.
        Sub3Error: the cap cannot be held even at 15:00/km.
    """
    from sub3coach.hr.predict import course_workout, predict_full

    planned = course_workout(course, 300.0, start_time_s=0.0)
    dist = planned.distance_m
    if dist is None or dist.size < 2:
        raise MissingChannel("lat_deg/lon_deg or distance_m", course.source or course.name)
    factors = km_cost_factors(dist, planned.altitude_m)

    def run(flat: float) -> tuple[Workout, Any]:
        w = course_workout(course, flat * factors, start_time_s=0.0)
        return w, predict_full(lm, w, personal=personal, stated=stated)

    lo, hi = PACE_RANGE_S_PER_KM
    w, pred = run(hi)
    if float(np.max(pred.hr_pred)) > max_hr_bpm:
        raise Sub3Error(f"even at {format_pace(hi)} the predicted HR reaches {np.max(pred.hr_pred):.0f} BPM, over the "
                        f"{max_hr_bpm:.0f} BPM cap")
    best = (hi, w, pred)
    while hi - lo > PACE_TOLERANCE_S:
        mid = 0.5 * (lo + hi)
        w, pred = run(mid)
        if float(np.max(pred.hr_pred)) <= max_hr_bpm:
            hi, best = mid, (mid, w, pred)
        else:
            lo = mid
    flat, w, pred = best
    return _plan(flat * factors, w, pred, max_hr_bpm)


def _plan(paces: np.ndarray, w: Workout, pred: Any, cap: float) -> PacePlan:
    d = np.asarray(w.distance_m, dtype=np.float64)
    km = np.minimum((d // 1000.0).astype(int), paces.size - 1)
    splits = []
    for k in range(paces.size):
        sel = km == k
        splits.append({"km": k + 1, "pace_s_per_km": round(float(paces[k]), 1),
                       "hr_pred_max": round(float(np.max(pred.hr_pred[sel])), 1) if sel.any() else None})
    t = np.asarray(w.time_s, dtype=np.float64)
    return PacePlan(splits=splits, finish_s=float(t[-1] - t[0]), hr_pred_max=float(np.max(pred.hr_pred)), cap_bpm=cap,
                    mode=pred.mode, time_s=t - t[0], hr_pred=pred.hr_pred, hr_lo=pred.hr_lo, hr_hi=pred.hr_hi)

