"""Race-time prediction from recent runs: Riegel's formula, Daniels' VDOT and the HR-pace relation
(effective VO2max), with VDOT training paces.

* Riegel (1981): ``T2 = T1 * (D2 / D1) ** 1.06``.
* Daniels & Gilbert (1979), as published in *Daniels' Running Formula*: for a race of ``D``
  metres in ``T`` minutes, velocity ``v = D / T`` (m/min),

  - oxygen cost ``VO2 = -4.60 + 0.182258 v + 0.000104 v**2`` (ml/kg/min),
  - fraction of VO2max sustainable for ``T`` minutes ("drop-dead" curve)
    ``%max = 0.8 + 0.1894393 exp(-0.012778 T) + 0.2989558 exp(-0.1932605 T)``,
  - ``VDOT = VO2 / %max``; a race time for another distance solves ``VDOT(D2, T2) = VDOT``.

* Training paces at fractions of VDOT (velocity where the oxygen cost equals ``f * VDOT``):
  E (easy) 0.70, T (threshold) 0.88, I (interval) 0.975; M (marathon) is the predicted
  marathon race pace; R (repetition) is I pace minus 6 s per 400 m (15 s/km), Daniels' rule.

The performance used is the best recent effort: among runs of at least
:data:`MIN_EFFORT_DISTANCE_M` in the last :data:`RECENT_DAYS` days, the one with the highest VDOT
(the *reference run*; its VDOT is the prediction's basis). The runner's VDOT and the training
paces come from :func:`sub3coach.plan.sessions.vdot_from_history` (the second-best effort of 12
weeks, robust to a GPS glitch), as everywhere else in sub3coach.

* HR-pace ("effective VO2max", as Runalyze computes it: ``inc/core/Calculation/JD/``
  ``LegacyEffectiveVO2max.php``, ``LegacyEffectiveVO2maxCorrector.php`` and ``Shape.php`` of
  github.com/Runalyze/Runalyze; the 30-day average and the correction "based on your best race
  and its heart rate" are described in Runalyze's docs, ``calculations/vo2max.rst``): a run at ``v`` m/min with average HR at fraction ``h`` of max HR was run
  at the fraction ``p = exp((h - 1.00466) / 0.68725)`` of the velocity at VO2max (Runalyze's
  regression on Daniels' tables; inverse ``h = 0.68725 ln p + 1.00466``), so the velocity at
  VO2max is ``v / p`` and the run's effective VO2max is Daniels' oxygen cost at ``v / p``. The
  runner's value ("shape") is the duration-weighted mean over the runs with HR of the last
  :data:`HR_SHAPE_DAYS` days, times Runalyze's correction factor: the largest ratio
  VDOT-by-time / VDOT-by-HR among the runner's three best earlier races (by VDOT-by-time);
  1.0 when no earlier race has HR. A log rarely marks races: the caller passes the all-out
  efforts :func:`sub3coach.plan.race_eval.find_efforts` finds among the runs before the
  prediction date. The race time then solves Daniels' VDOT equation.
  Max HR: ``--max-hr`` or the athlete profile when known, else :func:`max_hr_from_history`.

Times are in seconds, distances in metres, paces in s/km, HR in BPM.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from sub3coach.errors import Sub3Error

RIEGEL_EXPONENT: float = 1.06
#: Recent runs considered for the best effort, days.
RECENT_DAYS: float = 56.0
#: Shortest run considered a race-like effort, metres.
MIN_EFFORT_DISTANCE_M: float = 3000.0
#: Fractions of VDOT of the E, T and I training paces.
PACE_FRACTIONS: dict[str, float] = {"E": 0.70, "T": 0.88, "I": 0.975}
#: Runs of this many days form the HR-pace shape (Runalyze's default), days.
HR_SHAPE_DAYS: float = 30.0
#: Runs whose average HR is outside this fraction of max HR are left out of the HR-pace shape
#: (below it the HR-speed relation is extrapolated far; above it max HR is wrong).
HR_FRACTION_RANGE: tuple[float, float] = (0.6, 1.0)
#: How many best runs give the correction factor (Runalyze: its three best races).
HR_CORRECTION_RUNS: int = 3
MARATHON_M: float = 42195.0
HALF_MARATHON_M: float = 21097.5

_NAMED: dict[str, float] = {
    "marathon": MARATHON_M, "m": MARATHON_M, "full": MARATHON_M, "half": HALF_MARATHON_M,
    "half-marathon": HALF_MARATHON_M, "halfmarathon": HALF_MARATHON_M, "hm": HALF_MARATHON_M,
    "half marathon": HALF_MARATHON_M, "mile": 1609.344,
}


def parse_distance(text: str) -> float:
    """A race distance: ``10k``, ``5 km``, ``5000m``, ``half``, ``marathon``, ``10mi``, ``mile`` -> metres.

    Raises:
        Sub3Error: unreadable, or outside 800 m - 250 km.
    """
    s = str(text).strip().lower()
    if s in _NAMED:
        return _NAMED[s]
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(k|km|m|mi|mile|miles)?", s)
    if not m:
        raise Sub3Error(f"race distance {text!r} not understood (e.g. 5k, 10k, half, marathon, 5000m, 10mi)")
    x = float(m.group(1))
    unit = m.group(2) or ("m" if x >= 400 else "km")
    d = x * {"k": 1000.0, "km": 1000.0, "m": 1.0, "mi": 1609.344, "mile": 1609.344, "miles": 1609.344}[unit]
    if not 800.0 <= d <= 250_000.0:
        raise Sub3Error(f"race distance {text!r} is outside 800 m - 250 km")
    return d


def riegel_time_s(t1_s: float, d1_m: float, d2_m: float, exponent: float = RIEGEL_EXPONENT) -> float:
    """Riegel: time over ``d2_m`` from a performance of ``t1_s`` over ``d1_m``, seconds."""
    if t1_s <= 0 or d1_m <= 0 or d2_m <= 0:
        raise ValueError("times and distances must be positive")
    return t1_s * (d2_m / d1_m) ** exponent


def oxygen_cost(v_m_per_min: float) -> float:
    """Daniels' oxygen cost of running at ``v`` m/min, ml/kg/min."""
    return -4.60 + 0.182258 * v_m_per_min + 0.000104 * v_m_per_min ** 2


def fraction_vo2max(t_min: float) -> float:
    """Daniels' fraction of VO2max sustainable for ``t_min`` minutes."""
    return 0.8 + 0.1894393 * math.exp(-0.012778 * t_min) + 0.2989558 * math.exp(-0.1932605 * t_min)


def vdot(distance_m: float, time_s: float) -> float:
    """VDOT of a race of ``distance_m`` in ``time_s``."""
    if distance_m <= 0 or time_s <= 0:
        raise ValueError("distance and time must be positive")
    t = time_s / 60.0
    return oxygen_cost(distance_m / t) / fraction_vo2max(t)


def vdot_array(distance_m: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """:func:`vdot` of many runs at once (arrays of metres and seconds)."""
    t = np.asarray(time_s, float) / 60.0
    v = np.asarray(distance_m, float) / t
    frac = 0.8 + 0.1894393 * np.exp(-0.012778 * t) + 0.2989558 * np.exp(-0.1932605 * t)
    return (-4.60 + 0.182258 * v + 0.000104 * v ** 2) / frac


def vdot_time_s(vdot_value: float, distance_m: float) -> float:
    """Race time over ``distance_m`` for a VDOT, seconds (bisection; VDOT falls with time)."""
    lo, hi = 1.0, 60.0 * 60 * 48
    if vdot(distance_m, hi) > vdot_value:
        raise ValueError("VDOT too low for this distance")
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if vdot(distance_m, mid) > vdot_value:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def velocity_at(vo2: float) -> float:
    """Velocity (m/min) whose oxygen cost is ``vo2`` (the positive root of the cost quadratic)."""
    a, b, c = 0.000104, 0.182258, -4.60 - vo2
    return (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)


def training_paces(vdot_value: float) -> dict[str, float]:
    """Daniels' E, M, T, I, R paces for a VDOT, s/km (see module docs)."""
    paces = {k: 60_000.0 / velocity_at(f * vdot_value) for k, f in PACE_FRACTIONS.items()}
    paces["M"] = vdot_time_s(vdot_value, MARATHON_M) / (MARATHON_M / 1000.0)
    paces["R"] = paces["I"] - 15.0
    return {k: paces[k] for k in ("E", "M", "T", "I", "R")}


def fraction_of_vvo2max(hr_fraction: float) -> float:
    """Runalyze: fraction of the velocity at VO2max run at ``hr_fraction`` of max HR."""
    return math.exp((hr_fraction - 1.00466) / 0.68725)


def hr_fraction_at(fraction: float) -> float:
    """Runalyze: fraction of max HR at ``fraction`` of the velocity at VO2max (inverse of
    :func:`fraction_of_vvo2max`)."""
    return 0.68725 * math.log(fraction) + 1.00466


def effective_vo2max(distance_m: float, time_s: float, avg_hr_bpm: float, max_hr_bpm: float) -> float:
    """Effective VO2max (ml/kg/min) of one run from its pace and average HR (Runalyze, see module doc)."""
    if distance_m <= 0 or time_s <= 0 or avg_hr_bpm <= 0 or max_hr_bpm <= 0:
        raise ValueError("distance, time and heart rates must be positive")
    v = distance_m / (time_s / 60.0)
    return oxygen_cost(v / fraction_of_vvo2max(avg_hr_bpm / max_hr_bpm))


@dataclass
class MaxHr:
    """The max HR the HR-pace method used: BPM, ``source`` (stated/estimated) and how."""

    bpm: float
    source: str
    method: str


def max_hr_from_history(history: pd.DataFrame) -> MaxHr | None:
    """Max HR (BPM) from a history's average HRs, or None when no run of >= 3 km has HR: the
    athlete profile's estimate from average HRs
    (:func:`sub3coach.athletes.estimate_max_hr_from_averages`, a lower bound)."""
    from sub3coach.athletes import estimate_max_hr_from_averages

    pv = estimate_max_hr_from_averages(history["distance_m"], history["duration_s"], history["avg_hr_bpm"])
    return None if pv is None else MaxHr(float(pv.value), pv.source, pv.method)  # type: ignore[arg-type]


@dataclass
class HrPaceEstimate:
    """The runner's effective VO2max from the HR-pace relation.

    Attributes:
        vdot: corrected value (``uncorrected * correction_factor``), ml/kg/min.
        uncorrected: duration-weighted mean effective VO2max of ``n_runs`` runs since ``since``.
        correction_factor: VDOT-by-time / VDOT-by-HR of the earlier race ``factor_run_*``
        (1.0 when none has HR).
    """

    vdot: float
    uncorrected: float
    correction_factor: float
    n_runs: int
    since: str
    factor_run_date: str | None
    factor_run_distance_m: float | None
    factor_run_time_s: float | None


def _window(history: pd.DataFrame, end: pd.Timestamp, days: float) -> pd.DataFrame:
    return history[(history["start_time"] <= end) & (history["start_time"] >= end - timedelta(days=days))]


def _utc(as_of: datetime | None) -> pd.Timestamp:
    end = pd.Timestamp(as_of or datetime.now(timezone.utc))
    return end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")


def hr_pace_vdot(history: pd.DataFrame, max_hr_bpm: float, *, as_of: datetime | None = None,
                 races: pd.DataFrame | None = None) -> HrPaceEstimate:
    """The runner's effective VO2max on ``as_of`` from runs with HR (see the module doc).

    Args:
        races: the runner's all-out efforts (history rows); those before ``as_of`` with HR give
            the correction factor (None or none with HR: 1.0).

    Raises:
        Sub3Error: no run with HR within 60-100 % of ``max_hr_bpm`` in the last 30 days.
    """
    end = _utc(as_of)
    lo, hi = HR_FRACTION_RANGE
    ok = history["avg_hr_bpm"].between(lo * max_hr_bpm, hi * max_hr_bpm)
    shape = _window(history[ok], end, HR_SHAPE_DAYS)
    if shape.empty:
        raise Sub3Error(f"no run with average HR within {lo:.0%}-{hi:.0%} of max HR {max_hr_bpm:.0f} in the "
                        f"{HR_SHAPE_DAYS:.0f} days before {end.date()}: no HR-pace prediction")
    eff = [effective_vo2max(d, t, hr, max_hr_bpm) for d, t, hr in zip(shape["distance_m"], shape["duration_s"], shape["avg_hr_bpm"])]
    w = shape["duration_s"].to_numpy(float)
    uncorrected = float(sum(e * x for e, x in zip(eff, w)) / w.sum())
    factor, basis = 1.0, None
    if races is not None and len(races):
        best = races[(races["start_time"] <= end) & races["avg_hr_bpm"].between(lo * max_hr_bpm, hi * max_hr_bpm)]
        by_time = [vdot(d, t) for d, t in zip(best["distance_m"], best["duration_s"])]
        top = sorted(range(len(best)), key=by_time.__getitem__)[-HR_CORRECTION_RUNS:]
        ratios = {i: by_time[i] / effective_vo2max(best["distance_m"].iloc[i], best["duration_s"].iloc[i],
                                                   best["avg_hr_bpm"].iloc[i], max_hr_bpm) for i in top}
        if ratios:
            i = max(ratios, key=ratios.__getitem__)
            factor, basis = float(ratios[i]), best.iloc[i]
    return HrPaceEstimate(
        vdot=uncorrected * factor, uncorrected=uncorrected, correction_factor=factor, n_runs=len(shape),
        since=(end - timedelta(days=HR_SHAPE_DAYS)).date().isoformat(),
        factor_run_date=None if basis is None else pd.Timestamp(basis["start_time"]).isoformat(),
        factor_run_distance_m=None if basis is None else float(basis["distance_m"]),
        factor_run_time_s=None if basis is None else float(basis["duration_s"]))


@dataclass
class RacePrediction:
    """A race-time prediction.

    Attributes:
        distance_m: race distance; riegel_time_s / vdot_time_s: predicted times, seconds;
        basis_vdot: VDOT of the reference run (the prediction's basis, not the runner's level);
        basis_*: the performance used (date ISO, metres, seconds);
        runner_vdot / runner_vdot_method: the runner's VDOT from their recent efforts
        (:func:`sub3coach.plan.sessions.vdot_from_history`, as the planner and ``sub3 load``
        take it; None when not asked for); training_paces_s_per_km: its E, M, T, I, R paces;
        hr_time_s: HR-pace prediction, seconds (None when it cannot be made: ``hr_note`` says
        why); hr_pace: its :class:`HrPaceEstimate`; max_hr: the max HR it used.
    """

    distance_m: float
    riegel_time_s: float
    vdot_time_s: float
    basis_vdot: float
    basis_date: str
    basis_distance_m: float
    basis_time_s: float
    training_paces_s_per_km: dict[str, float]
    hr_time_s: float | None = None
    hr_pace: HrPaceEstimate | None = None
    max_hr: MaxHr | None = None
    hr_note: str | None = None
    runner_vdot: float | None = None
    runner_vdot_method: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _as_of_hint(history: pd.DataFrame, end: pd.Timestamp) -> str:
    """Which --as-of could work: the last run on or before ``end``, else the history's first run."""
    if not len(history):
        return ""
    before = history["start_time"][history["start_time"] <= end]
    if len(before):
        return f" (last run before it {before.max().date()}; try --as-of)"
    return f" (the history starts on {history['start_time'].min().date()}; try a later --as-of)"


def best_effort(history: pd.DataFrame, *, as_of: datetime | None = None, days: float = RECENT_DAYS) -> pd.Series:
    """The run with the highest VDOT among the last ``days`` days' runs of >= 3 km.

    Raises:
        Sub3Error: no such run.
    """
    end = _utc(as_of)
    recent = _window(history, end, days)
    recent = recent[recent["distance_m"] >= MIN_EFFORT_DISTANCE_M]
    if recent.empty:
        raise Sub3Error(f"no run of at least {MIN_EFFORT_DISTANCE_M / 1000:.0f} km in the {days:.0f} days before "
                        f"{end.date()} to predict from" + _as_of_hint(history, end))
    scores = [vdot(d, t) for d, t in zip(recent["distance_m"], recent["duration_s"])]
    return recent.iloc[max(range(len(scores)), key=scores.__getitem__)]


def predict_hr(history: pd.DataFrame, distance_m: float, max_hr: MaxHr | None, *, as_of: datetime | None = None,
               races: pd.DataFrame | None = None) -> tuple[float | None, HrPaceEstimate | None, str | None]:
    """HR-pace race time over ``distance_m`` (seconds), its estimate, and why there is none
    (``races``: see :func:`hr_pace_vdot`)."""
    if max_hr is None:
        return None, None, "no max HR: no run with HR (state it with --max-hr)"
    try:
        est = hr_pace_vdot(history, max_hr.bpm, as_of=as_of, races=races)
        return vdot_time_s(est.vdot, distance_m), est, None
    except (Sub3Error, ValueError) as exc:
        return None, None, str(exc)


def predict_race(history: pd.DataFrame, distance_m: float, *, as_of: datetime | None = None,
                 clean: bool = True, max_hr: MaxHr | None = None, races: pd.DataFrame | None = None,
                 paces: bool = True) -> RacePrediction:
    """Race time over ``distance_m`` from the runner's best recent effort (Riegel and VDOT) and
    from the HR-pace relation (``max_hr``: default :func:`max_hr_from_history` of the runs up to
    ``as_of``; ``races``: the earlier all-out efforts that give its correction factor;
    ``paces``: also the runner's VDOT and training paces).

    With ``clean`` rows that are not runs for this runner (a ride logged as a run would be a
    world record) are left out first (:func:`~sub3coach.plan.history.drop_non_runs`)."""
    if clean and len(history):
        from sub3coach.plan.history import drop_non_runs

        history = drop_non_runs(history)
    run = best_effort(history, as_of=as_of)
    d1, t1 = float(run["distance_m"]), float(run["duration_s"])
    v = vdot(d1, t1)
    if max_hr is None:
        max_hr = max_hr_from_history(history[history["start_time"] <= _utc(as_of)])
    hr_t, est, note = predict_hr(history, distance_m, max_hr, as_of=as_of, races=races)
    level, why = None, None
    if paces:
        from sub3coach.plan.sessions import vdot_from_history

        level, why = vdot_from_history(history, _utc(as_of) + pd.Timedelta(seconds=1))
    return RacePrediction(
        distance_m=float(distance_m), riegel_time_s=riegel_time_s(t1, d1, distance_m), vdot_time_s=vdot_time_s(v, distance_m),
        basis_vdot=v, basis_date=pd.Timestamp(run["start_time"]).isoformat(), basis_distance_m=d1, basis_time_s=t1,
        training_paces_s_per_km=training_paces(level) if level is not None else {}, hr_time_s=hr_t, hr_pace=est,
        max_hr=max_hr, hr_note=note, runner_vdot=level, runner_vdot_method=why,
    )
