"""Athlete profiles: what a runner states, and what their runs show.

Every value of an :class:`AthleteProfile` is a :class:`ProfileValue` that says where it came
from: ``stated`` (``sub3 athletes set``), ``estimated`` (from the athlete's recorded runs, with
the method), or ``default`` (a population value, used until one of the others exists).

Estimates (pure functions on :class:`~sub3coach.workout.Workout` lists, no I/O):

* **max HR** — per run with sane heart-rate data (≥ 10 min, ≥ 50 % of samples with HR), the
  99.5th percentile of its HR (one spike or a few seconds of strap noise cannot set it); then the
  median of the three highest runs (one run with a cadence-locked optical sensor cannot either).
  A recorded maximum is a lower bound of the true one: few training runs reach it.
* **max HR from average HRs** — when no run has HR samples (a history of summaries): each run of
  ≥ 3 km taken as an all-out effort for its duration, its average HR divided by the HR fraction
  such an effort reaches (Daniels' VO2max fraction for the duration through Runalyze's HR-speed
  relation: ~0.94 for 40 min, ~0.89 for 2 h); the median of the three highest. A lower bound too
  (training runs are not all-out); ``sub3 plan race --history`` uses the same function.
* **age-based max HR** — Tanaka et al. (2001), ``208 - 0.7 * age``, when a birth year is stated
  and no run has heart rate (neither samples nor an average) (about ±10 BPM for an individual).
* **threshold pace and HR** — the hardest sustained efforts of the last 365 days: on a 5-s grid,
  the fastest 20-, 30-, 45- and 60-minute windows without a pause; each window's speed is carried
  to 60 minutes with Riegel's exponent 1.06 (speed ∝ duration^-0.057); the best gives the pace.
  The threshold HR is the mean HR over the last two thirds of that window (Friel's 30-min test:
  the last 20 minutes). Only efforts at ≥ 85 % of max HR count (an easy long run is no threshold
  effort); without HR the fastest effort gives the pace alone, marked as a lower bound.
* **resting HR** — only stated (a run never shows it); else 60 BPM, a typical adult value.

:func:`profile` keeps its result in a small cache file (:mod:`sub3coach.cache`) keyed by the
library, the athlete, the ids of their runs, what they stated and the year: estimating reads
every recorded run, so a 1000-run library costs seconds once, milliseconds afterwards.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Literal

import numpy as np

from sub3coach.workout import Workout

log = logging.getLogger(__name__)

Source = Literal["stated", "estimated", "default"]

#: Max HR (BPM) assumed when nothing is stated or estimated (as ``sub3 hr predict`` assumes).
DEFAULT_MAX_HR_BPM = 190.0
#: Resting HR (BPM) assumed when none is stated.
DEFAULT_RESTING_HR_BPM = 60.0
#: Window lengths (minutes) searched for threshold efforts.
EFFORT_WINDOWS_MIN = (20, 30, 45, 60)
#: Riegel's fatigue exponent (time ∝ distance^1.06).
RIEGEL_EXPONENT = 1.06
#: An effort counts for threshold HR when its mean HR is at least this fraction of max HR.
HARD_FRACTION_OF_MAX = 0.85
#: Threshold estimates use the runs of this many days before the athlete's latest run.
THRESHOLD_LOOKBACK_DAYS = 365
_GRID_S = 5.0


@dataclass(frozen=True)
class ProfileValue:
    """One profile value (``None`` when unknown) with its ``source`` and how it was obtained."""

    value: float | int | str | None
    source: Source
    method: str

    def to_dict(self) -> dict[str, Any]:
        """``{"value", "source", "method"}``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ProfileValue":
        """Inverse of :meth:`to_dict`."""
        return cls(d.get("value"), d["source"], str(d.get("method", "")))


@dataclass
class AthleteProfile:
    """An athlete's profile; HR in BPM, pace in seconds per km."""

    name: str
    max_hr_bpm: ProfileValue
    resting_hr_bpm: ProfileValue
    threshold_hr_bpm: ProfileValue
    threshold_pace_s_per_km: ProfileValue
    birth_year: ProfileValue
    gender: ProfileValue
    runs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``name``, ``runs`` and each value as ``{"value", "source", "method"}``."""
        out: dict[str, Any] = {"name": self.name, "runs": self.runs}
        for k in _VALUE_KEYS:
            out[k] = getattr(self, k).to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AthleteProfile":
        """Inverse of :meth:`to_dict`."""
        values = {k: ProfileValue.from_dict(d[k]) for k in _VALUE_KEYS}
        return cls(name=str(d["name"]), runs=dict(d.get("runs") or {}), **values)


_VALUE_KEYS = ("max_hr_bpm", "resting_hr_bpm", "threshold_hr_bpm", "threshold_pace_s_per_km", "birth_year", "gender")
#: Version of the cached profiles (bump when an estimate changes).
PROFILE_CACHE_VERSION = 2


# ----- estimates (pure) --------------------------------------------------------------------
def _hr_ok(w: Workout) -> np.ndarray | None:
    """The finite HR values of a run with sane HR data (≥ 10 min, ≥ 50 % coverage), else None."""
    if w.hr_bpm is None or len(w) < 2 or w.time_s[-1] - w.time_s[0] < 600:
        return None
    hr = w.hr_bpm[np.isfinite(w.hr_bpm) & (w.hr_bpm >= 30) & (w.hr_bpm <= 230)]
    return hr if hr.size >= 0.5 * len(w) and hr.size >= 60 else None


def estimate_max_hr(workouts: Iterable[Workout]) -> ProfileValue | None:
    """Max HR from recorded runs (see the module doc), or None when no run has sane HR."""
    per_run = [float(np.percentile(hr, 99.5)) for w in workouts if (hr := _hr_ok(w)) is not None]
    if not per_run:
        return None
    top = sorted(per_run)[-3:]
    value = float(np.median(top))
    method = (f"99.5th percentile of HR per run, median of the {len(top)} highest of {len(per_run)} runs with HR"
              " (a lower bound: state yours if you know it)")
    return ProfileValue(round(value, 1), "estimated", method)


def estimate_max_hr_from_averages(distance_m: Iterable[float], duration_s: Iterable[float],
                                  avg_hr_bpm: Iterable[float | None]) -> ProfileValue | None:
    """Max HR (BPM) from runs' average HRs (metres, seconds, BPM per run), or None when no run of
    >= 3 km has an average HR of 80-230 BPM.

    Each run is taken as if it were an all-out effort: its average HR then sits at the HR fraction
    Runalyze's relation gives for the VO2max fraction Daniels' curve allows for its duration,
    ``hr_fraction_at(fraction_vo2max(T))`` (~0.94 for 40 min, ~0.89 for 2 h); the median of the
    three highest such values is the estimate. Training runs are not all-out: a lower bound."""
    from sub3coach.plan.race import MIN_EFFORT_DISTANCE_M, fraction_vo2max, hr_fraction_at

    implied = sorted(float(hr) / hr_fraction_at(fraction_vo2max(float(t) / 60.0))
                     for d, t, hr in zip(distance_m, duration_s, avg_hr_bpm)
                     if hr is not None and np.isfinite(hr) and 80 <= hr <= 230 and d and d >= MIN_EFFORT_DISTANCE_M
                     and t and t > 0)
    if not implied:
        return None
    top = implied[-3:]
    return ProfileValue(round(float(top[len(top) // 2]), 1), "estimated",
                        f"median of the {len(top)} highest average HRs of {len(implied)} runs >= 3 km, each taken as an "
                        "all-out effort for its duration (no run with HR samples; a lower bound: state yours with --max-hr)")


def tanaka_max_hr(birth_year: int, year: int | None = None) -> float:
    """Age-predicted max HR (BPM), Tanaka et al. 2001: ``208 - 0.7 * age``."""
    age = (year or datetime.now(timezone.utc).year) - int(birth_year)
    return 208.0 - 0.7 * age


@dataclass
class Effort:
    """The best sustained window of one run: duration (s), mean speed (m/s), the speed carried to
    60 min by Riegel (m/s), and mean HR over the window and over its last two thirds (BPM)."""

    duration_s: float
    speed_mps: float
    speed_60_mps: float
    hr_bpm: float | None
    hr_late_bpm: float | None
    start_time: datetime


def _windows(v: np.ndarray, n: int) -> np.ndarray:
    """Mean of each length-``n`` window of ``v``; NaN where a window holds a NaN."""
    ok = np.isfinite(v)
    c = np.concatenate([[0.0], np.cumsum(np.where(ok, v, 0.0))])
    k = np.concatenate([[0], np.cumsum(~ok)])
    mean = (c[n:] - c[:-n]) / n
    return np.where(k[n:] - k[:-n] == 0, mean, np.nan)


def best_efforts(w: Workout) -> list[Effort]:
    """The fastest pause-free window of each :data:`EFFORT_WINDOWS_MIN` length in one run."""
    from sub3coach.clean import resample

    if w.speed_mps is None or len(w) < 2 or w.time_s[-1] - w.time_s[0] < EFFORT_WINDOWS_MIN[0] * 60:
        return []
    g = resample(w, step_s=_GRID_S)
    v = np.asarray(g.speed_mps, dtype=np.float64)
    v = np.where(v > 0.5, v, np.nan)  # standing still is a pause
    hr = np.asarray(g.hr_bpm, dtype=np.float64) if g.hr_bpm is not None else None
    out = []
    for minutes in EFFORT_WINDOWS_MIN:
        n = int(minutes * 60 / _GRID_S)
        if v.size < n:
            break
        means = _windows(v, n)
        if not np.isfinite(means).any():
            continue
        i = int(np.nanargmax(means))
        hr_w = hr[i : i + n] if hr is not None else None
        ok = hr_w is not None and np.isfinite(hr_w).mean() >= 0.8
        late = hr_w[n // 3 :] if ok else None  # type: ignore[index]
        out.append(Effort(
            duration_s=minutes * 60.0, speed_mps=float(means[i]),
            speed_60_mps=float(means[i]) * (minutes / 60.0) ** (1.0 - 1.0 / RIEGEL_EXPONENT),
            hr_bpm=float(np.nanmean(hr_w)) if ok else None,  # type: ignore[arg-type]
            hr_late_bpm=float(np.nanmean(late)) if late is not None else None,
            start_time=datetime.fromtimestamp(float(g.time_s[i]), tz=timezone.utc),
        ))
    return out


def estimate_threshold(workouts: Iterable[Workout], max_hr_bpm: float | None) -> tuple[ProfileValue | None, ProfileValue | None]:
    """(threshold HR, threshold pace) from the hardest sustained efforts (see the module doc)."""
    efforts = [e for w in workouts for e in best_efforts(w)]
    if not efforts:
        return None, None
    hard = [e for e in efforts if e.hr_bpm is not None and max_hr_bpm and e.hr_bpm >= HARD_FRACTION_OF_MAX * max_hr_bpm]
    if hard:
        best = max(hard, key=lambda e: e.speed_60_mps)
        when = f"{best.duration_s / 60:.0f}-min effort on {best.start_time:%Y-%m-%d}"
        hr = ProfileValue(round(best.hr_late_bpm or best.hr_bpm or 0.0, 1), "estimated",
                          f"mean HR of the last two thirds of your fastest hard {when} (>= 85 % of max HR)")
        pace = ProfileValue(round(1000.0 / best.speed_60_mps, 1), "estimated",
                            f"your fastest hard {when}, carried to 60 min by Riegel (exponent {RIEGEL_EXPONENT})")
        return hr, pace
    best = max(efforts, key=lambda e: e.speed_60_mps)
    why = "no HR to show it was hard" if all(e.hr_bpm is None for e in efforts) else "no effort at >= 85 % of max HR"
    pace = ProfileValue(round(1000.0 / best.speed_60_mps, 1), "estimated",
                        f"fastest {best.duration_s / 60:.0f}-min effort on {best.start_time:%Y-%m-%d} carried to 60 min "
                        f"({why}: your threshold is probably faster)")
    return None, pace


# ----- the profile -------------------------------------------------------------------------
def _max_hr_value(stated: dict[str, Any], workouts: list[Workout], year: int,
                  summaries: list[dict[str, Any]] | None = None) -> ProfileValue:
    """Max HR: stated, else estimated from the runs' HR samples, else from the summaries' average
    HRs, else from the stated birth year, else the default."""
    birth = stated.get("birth_year")
    if stated.get("max_hr_bpm") is not None:
        return ProfileValue(float(stated["max_hr_bpm"]), "stated", "stated by the athlete")
    est = estimate_max_hr(workouts)
    if est is None and summaries:
        est = estimate_max_hr_from_averages([r.get("distance_m") for r in summaries],
                                            [r.get("moving_time_s") or r.get("duration_s") for r in summaries],
                                            [r.get("avg_hr_bpm") for r in summaries])
    if est is not None:
        return est
    if birth is not None:
        return ProfileValue(round(tanaka_max_hr(birth, year), 1), "estimated",
                            f"Tanaka 208 - 0.7 x age ({year - int(birth)}), from the stated birth year; no run with HR")
    return ProfileValue(DEFAULT_MAX_HR_BPM, "default", "population default: state yours (--max-hr) or import runs with HR")


def max_hr(lib: Any, name: str | None) -> ProfileValue:
    """Only the max HR of an athlete's profile (a stated one without reading any run; else
    from the cached :func:`profile`)."""
    name = lib.resolve_athlete(name)
    stated = lib.athlete_stated(name)
    if stated.get("max_hr_bpm") is not None:
        return _max_hr_value(stated, [], datetime.now(timezone.utc).year)
    return profile(lib, name).max_hr_bpm


def build_profile(name: str, stated: dict[str, Any], workouts: list[Workout], *, runs: dict[str, Any] | None = None,
                  year: int | None = None, summaries: list[dict[str, Any]] | None = None) -> AthleteProfile:
    """Combine stated values and estimates from ``workouts`` (the athlete's recorded runs) and
    ``summaries`` (their library rows: ``distance_m``, ``moving_time_s``/``duration_s``, ``avg_hr_bpm``)."""
    year = year or datetime.now(timezone.utc).year
    birth = stated.get("birth_year")
    max_hr = _max_hr_value(stated, workouts, year, summaries)
    resting = (ProfileValue(float(stated["resting_hr_bpm"]), "stated", "stated by the athlete")
               if stated.get("resting_hr_bpm") is not None else
               ProfileValue(DEFAULT_RESTING_HR_BPM, "default", "typical adult value: state yours with --resting-hr"))
    if workouts:
        latest = max(w.start_time for w in workouts)
        recent = [w for w in workouts if w.start_time >= latest - timedelta(days=THRESHOLD_LOOKBACK_DAYS)]
    else:
        recent = []
    thr_hr, thr_pace = estimate_threshold(recent, float(max_hr.value) if max_hr.value is not None else None)
    none = "no sustained 20-60 min effort with speed among the recorded runs of the last 365 days"
    thr_hr = thr_hr or ProfileValue(None, "default", none if thr_pace is None else "no hard effort with HR (>= 85 % of max HR)")
    thr_pace = thr_pace or ProfileValue(None, "default", none)
    birth_pv = (ProfileValue(int(birth), "stated", "stated by the athlete") if birth is not None
                else ProfileValue(None, "default", "unknown: state it with --birth-year"))
    genders = {w.gender for w in workouts if w.gender and w.gender not in ("unknown", "None")}
    if stated.get("gender"):
        gender = ProfileValue(str(stated["gender"]), "stated", "stated by the athlete")
    elif len(genders) == 1:
        gender = ProfileValue(genders.pop(), "estimated", "from the source files' gender field")
    else:
        gender = ProfileValue(None, "default", "unknown: state it with --gender")
    return AthleteProfile(name=name, max_hr_bpm=max_hr, resting_hr_bpm=resting, threshold_hr_bpm=thr_hr,
                          threshold_pace_s_per_km=thr_pace, birth_year=birth_pv, gender=gender, runs=runs or {})


def profile(lib: Any, name: str | None, *, cache: bool = True) -> AthleteProfile:
    """The profile of athlete ``name`` (``None``: the library's only athlete) of a
    :class:`~sub3coach.library.Library` (cached: see the module doc; ``cache=False`` recomputes).

    Raises:
        Sub3Error: unknown athlete, or several athletes and none named.
    """
    from sub3coach import cache as C

    name = lib.resolve_athlete(name)
    stated = lib.athlete_stated(name)
    year = datetime.now(timezone.utc).year
    rows = lib.runs(sport="run", athlete=name)
    said = {k: v for k, v in stated.items() if k != "updated_at"}
    path = C.cache_file("profiles", str(Path(lib.path).resolve()), name, said, year,
                        hashlib.sha256("|".join(f"{r['id']}{r['summary_only']:d}" for r in rows).encode()).hexdigest())
    if cache and (hit := C.read_json(path, PROFILE_CACHE_VERSION)) is not None:
        try:
            return AthleteProfile.from_dict(hit)
        except (KeyError, TypeError):
            log.debug("stale profile cache %s", path)
    workouts = list(lib.iter_workouts(sport="run", athlete=name))
    runs = next((a for a in lib.athletes() if a["name"] == name), {})
    runs = {k: v for k, v in runs.items() if k != "name"}
    prof = build_profile(name, stated, workouts, runs=runs, year=year, summaries=rows)
    if cache:
        C.write_json(path, PROFILE_CACHE_VERSION, prof.to_dict())
    return prof
