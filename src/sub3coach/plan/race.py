"""Race-time prediction from recent runs: Riegel's formula and Daniels' VDOT, with VDOT training paces.

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
:data:`MIN_EFFORT_DISTANCE_M` in the last :data:`RECENT_DAYS` days, the one with the highest VDOT.
Times are in seconds, distances in metres, paces in s/km.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd

from sub3coach.errors import Sub3Error

RIEGEL_EXPONENT: float = 1.06
#: Recent runs considered for the best effort, days.
RECENT_DAYS: float = 56.0
#: Shortest run considered a race-like effort, metres.
MIN_EFFORT_DISTANCE_M: float = 3000.0
#: Fractions of VDOT of the E, T and I training paces.
PACE_FRACTIONS: dict[str, float] = {"E": 0.70, "T": 0.88, "I": 0.975}
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


@dataclass
class RacePrediction:
    """A race-time prediction.

    Attributes:
        distance_m: race distance; riegel_time_s / vdot_time_s: predicted times, seconds;
        vdot: the runner's VDOT; basis_*: the performance used (date ISO, metres, seconds);
        training_paces_s_per_km: E, M, T, I, R paces.
    """

    distance_m: float
    riegel_time_s: float
    vdot_time_s: float
    vdot: float
    basis_date: str
    basis_distance_m: float
    basis_time_s: float
    training_paces_s_per_km: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def best_effort(history: pd.DataFrame, *, as_of: datetime | None = None, days: float = RECENT_DAYS) -> pd.Series:
    """The run with the highest VDOT among the last ``days`` days' runs of >= 3 km.

    Raises:
        Sub3Error: no such run.
    """
    end = pd.Timestamp(as_of or datetime.now(timezone.utc))
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    recent = history[(history["start_time"] <= end) & (history["start_time"] >= end - timedelta(days=days))
                     & (history["distance_m"] >= MIN_EFFORT_DISTANCE_M)]
    if recent.empty:
        last = history["start_time"].max() if len(history) else None
        raise Sub3Error(f"no run of at least {MIN_EFFORT_DISTANCE_M / 1000:.0f} km in the {days:.0f} days before "
                        f"{end.date()} to predict from" + (f" (last run {last.date()}; try --as-of)" if last is not None else ""))
    scores = [vdot(d, t) for d, t in zip(recent["distance_m"], recent["duration_s"])]
    return recent.iloc[max(range(len(scores)), key=scores.__getitem__)]


def predict_race(history: pd.DataFrame, distance_m: float, *, as_of: datetime | None = None,
                 clean: bool = True) -> RacePrediction:
    """Race time over ``distance_m`` from the runner's best recent effort (Riegel and VDOT).

    With ``clean`` rows that are not runs for this runner (a ride logged as a run would be a
    world record) are left out first (:func:`~sub3coach.plan.history.drop_non_runs`)."""
    if clean and len(history):
        from sub3coach.plan.history import drop_non_runs

        history = drop_non_runs(history)
    run = best_effort(history, as_of=as_of)
    d1, t1 = float(run["distance_m"]), float(run["duration_s"])
    v = vdot(d1, t1)
    return RacePrediction(
        distance_m=float(distance_m), riegel_time_s=riegel_time_s(t1, d1, distance_m), vdot_time_s=vdot_time_s(v, distance_m),
        vdot=v, basis_date=pd.Timestamp(run["start_time"]).isoformat(), basis_distance_m=d1, basis_time_s=t1,
        training_paces_s_per_km=training_paces(v),
    )
