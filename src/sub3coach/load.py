"""Training load and zones from the athlete profile: TRIMP per run, CTL/ATL/TSB, ramp, monotony,
strain; HR and pace zones.

Definitions (every number of ``sub3 load``):

* **TRIMP** (Banister 1991), per run, from heart-rate reserve ``HRr = (HR - rest) / (max - rest)``
  clipped to 0..1: ``sum over samples of dt_min * HRr * k * exp(b * HRr)`` with ``k, b = 0.64,
  1.92`` for men and ``0.86, 1.67`` for women (men's constants when the gender is unknown or
  other, as most tools do; the report says so). Each sample's HR holds until the next one; gaps
  over 30 s (pauses) do not count. Where a run has HR on part of its moving time (>= 50 %),
  the rest is counted at the mean of the recorded part.
* **Source** of each run's TRIMP, best first: ``hr`` (its recorded HR samples); ``predicted``
  (samples without HR: the HR model's prediction for them, with the athlete's personal model
  when they have runs with HR, see :func:`sub3coach.hr.personalize.library_personal`);
  ``avg-hr`` (a history row with an average HR: ``duration_min * HRr(avg) * k * exp(b * HRr(avg))``,
  which underestimates a varied session a little since the weighting is convex); ``predicted-summary``
  (a history row without HR: the model's prediction for a flat course at the row's average pace
  for its duration); ``none`` (no duration: counts as 0 and is listed).
* **Max / resting HR and gender** come from :func:`sub3coach.athletes.profile` (stated beats
  estimated beats the default); with nothing known, 190 / 60 BPM and the report says so.
* **Daily load** is the sum of the TRIMP of the runs started that UTC day.
* **CTL** (fitness, chronic load) and **ATL** (fatigue, acute load): exponentially weighted
  averages of daily load with time constants 42 and 7 days, ``X_d = X_{d-1} + (load_d - X_{d-1})
  * (1 - exp(-1/tau))`` (Banister's impulse-response form; TrainingPeaks uses ``1/tau``, a
  within-2 % difference), starting at 0 the day before the first run.
* **TSB** (form) on day d is ``CTL_{d-1} - ATL_{d-1}``: the form you start the day with, before
  its training, as TrainingPeaks and intervals.icu show it. Positive: fresh; negative: loaded.
* **Ramp rate**: ``CTL_d - CTL_{d-7}`` (fitness gained per week).
* **Monotony** (Foster 1998): mean / standard deviation (population) of the last 7 days' daily
  load, None when they have no spread; **strain**: the 7-day load x monotony.

Zones (:func:`zones_for`):

* **HR**: the five-zone model in percent of maximum HR (Z1 50-60, Z2 60-70, Z3 70-80, Z4 80-90,
  Z5 90-100 %; below 50 % is Z0), as Garmin, Polar and ``sub3 hr predict`` use it, with the
  athlete's max HR.
* **Pace**: Joe Friel's run pace zones in percent of threshold pace (Z1 slower than 129 %, Z2
  114-129 %, Z3 106-113 %, Z4 99-105 %, Z5 faster than 99 %; Friel's 5a-5c merged), from the
  profile's threshold pace, else Daniels' T pace from the VDOT of the best run of >= 3 km of the
  last 90 days (:mod:`sub3coach.plan.race`).

Speed: per-run TRIMP needs the samples of each run (and the HR model for runs without HR), so
:func:`run_loads` keeps, per run, the *time spent at each whole BPM* in a cache file
(:mod:`sub3coach.cache`, ``<cache>/load/``) keyed by the library and athlete; each entry holds
the run id, its source and, for predictions, a fingerprint of the model (file, its date, the
athlete's runs with HR that fit the personal model, the stated HR values). TRIMP is then computed
from these histograms with the current profile values, so changing a max HR costs nothing, and
only runs imported since (or predictions whose model changed) are recomputed. Cache rather than
a library table: commands read the library read-only, and a lost cache only costs time.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sub3coach.athletes import DEFAULT_MAX_HR_BPM, DEFAULT_RESTING_HR_BPM, AthleteProfile, ProfileValue
from sub3coach.workout import Workout

log = logging.getLogger(__name__)

#: Banister's TRIMP constants (k, b) by gender.
TRIMP_CONSTANTS: dict[str, tuple[float, float]] = {"male": (0.64, 1.92), "female": (0.86, 1.67)}
#: Time constants of CTL and ATL, days.
CTL_DAYS, ATL_DAYS = 42.0, 7.0
#: Samples further apart than this (s) are a pause: the interval does not count.
MAX_GAP_S = 30.0
#: A run's recorded HR is used when it covers at least this share of its moving time.
MIN_HR_COVERAGE = 0.5
#: HR zones: (name, low, high) as fractions of max HR (Z0 below 50 %).
HR_ZONES: tuple[tuple[str, float, float], ...] = (
    ("Z1", 0.50, 0.60), ("Z2", 0.60, 0.70), ("Z3", 0.70, 0.80), ("Z4", 0.80, 0.90), ("Z5", 0.90, 1.00))
#: Pace zones: (name, label, slowest, fastest) as fractions of threshold pace (time per km).
PACE_ZONES: tuple[tuple[str, str, float, float], ...] = (
    ("Z1", "recovery", math.inf, 1.29), ("Z2", "endurance", 1.29, 1.14), ("Z3", "tempo", 1.14, 1.06),
    ("Z4", "threshold", 1.06, 0.99), ("Z5", "VO2max and faster", 0.99, 0.0))
#: Version of the per-run cache entries (bump when their meaning changes).
LOAD_CACHE_VERSION = 1
_SOURCES = ("hr", "predicted", "avg-hr", "predicted-summary", "none")


# =============================================================================================
# pure maths
# =============================================================================================
def trimp_constants(gender: str | None) -> tuple[float, float]:
    """Banister's ``(k, b)``: the women's for ``female``, else the men's."""
    return TRIMP_CONSTANTS["female" if gender == "female" else "male"]


def hr_reserve(hr_bpm: np.ndarray | float, resting_bpm: float, max_bpm: float) -> np.ndarray:
    """Heart-rate reserve fraction ``(HR - rest) / (max - rest)``, clipped to 0..1."""
    if not max_bpm > resting_bpm:
        raise ValueError(f"max HR {max_bpm} must be above resting HR {resting_bpm}")
    return np.clip((np.asarray(hr_bpm, dtype=np.float64) - resting_bpm) / (max_bpm - resting_bpm), 0.0, 1.0)


def trimp_weight(hrr: np.ndarray | float, gender: str | None = None) -> np.ndarray:
    """Banister's TRIMP per minute at heart-rate reserve ``hrr``: ``hrr * k * exp(b * hrr)``."""
    k, b = trimp_constants(gender)
    x = np.asarray(hrr, dtype=np.float64)
    return x * k * np.exp(b * x)


def trimp_avg(duration_s: float, hr_bpm: float, resting_bpm: float, max_bpm: float, gender: str | None = None) -> float:
    """TRIMP of ``duration_s`` seconds at one (average) HR."""
    return float(duration_s / 60.0 * trimp_weight(hr_reserve(hr_bpm, resting_bpm, max_bpm), gender))


def sample_durations(time_s: np.ndarray, max_gap_s: float = MAX_GAP_S) -> np.ndarray:
    """Seconds each sample's value holds (until the next sample; 0 for the last and for gaps
    over ``max_gap_s``)."""
    t = np.asarray(time_s, dtype=np.float64)
    if t.size == 0:
        return t
    dt = np.diff(t, append=t[-1])
    return np.where((dt > 0) & (dt <= max_gap_s), dt, 0.0)


def hr_histogram(time_s: np.ndarray, hr_bpm: np.ndarray, max_gap_s: float = MAX_GAP_S) -> tuple[dict[int, float], float]:
    """(seconds spent at each whole BPM, moving seconds of the run): the sufficient statistic of
    TRIMP for any max/resting HR. Samples with no HR (NaN, or outside 25-250 BPM) are left out
    of the histogram but count in the moving seconds."""
    dt = sample_durations(time_s, max_gap_s)
    hr = np.asarray(hr_bpm, dtype=np.float64)
    ok = np.isfinite(hr) & (hr >= 25) & (hr <= 250) & (dt > 0)
    bins = np.rint(hr[ok]).astype(int)
    sums = np.bincount(bins - 25, weights=dt[ok], minlength=1) if bins.size else np.zeros(1)
    hist = {int(i + 25): float(s) for i, s in enumerate(sums) if s > 0}
    return hist, float(dt.sum())


def trimp_from_histogram(hist: dict[int, float], moving_s: float, resting_bpm: float, max_bpm: float,
                         gender: str | None = None) -> float:
    """TRIMP of a run from :func:`hr_histogram`: samples without HR count at the mean weight of
    those with it (the caller decides whether the coverage is enough)."""
    if not hist:
        return 0.0
    bpm = np.fromiter(hist.keys(), dtype=np.float64)
    sec = np.fromiter(hist.values(), dtype=np.float64)
    with_hr = float(sec.sum())
    trimp = float(np.sum(sec / 60.0 * trimp_weight(hr_reserve(bpm, resting_bpm, max_bpm), gender)))
    return trimp * max(moving_s, with_hr) / with_hr if with_hr > 0 else 0.0


def trimp_from_samples(time_s: np.ndarray, hr_bpm: np.ndarray, resting_bpm: float, max_bpm: float,
                       gender: str | None = None) -> float:
    """Banister TRIMP summed over a run's samples (each ``dt`` at its own HR; see module doc)."""
    hist, moving = hr_histogram(time_s, hr_bpm)
    return trimp_from_histogram(hist, moving, resting_bpm, max_bpm, gender)


def ewma(load: Sequence[float] | np.ndarray, tau_days: float) -> np.ndarray:
    """Exponentially weighted daily average, ``X_d = X_{d-1} + (load_d - X_{d-1}) (1 - e^{-1/tau})``,
    from ``X_{-1} = 0``."""
    x = np.asarray(load, dtype=np.float64)
    a = 1.0 - math.exp(-1.0 / tau_days)
    out = np.empty_like(x)
    level = 0.0
    for i, v in enumerate(x):
        level += (v - level) * a
        out[i] = level
    return out


def _rolling7(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum, population sd) of each day's window of the last 7 days (fewer at the start; the days
    before the first count as 0)."""
    pad = np.concatenate([np.zeros(6), x])
    win = np.lib.stride_tricks.sliding_window_view(pad, 7)
    return win.sum(axis=1), win.std(axis=1)


def load_metrics(daily_load: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
    """CTL, ATL, TSB, ramp, monotony, strain and the 7-day load for consecutive days of load
    (see the module doc). Monotony and strain are NaN where the 7 days have no spread."""
    x = np.asarray(daily_load, dtype=np.float64)
    if x.size == 0:
        empty = np.zeros(0)
        return {k: empty for k in ("load", "ctl", "atl", "tsb", "ramp", "week_load", "monotony", "strain")}
    ctl, atl = ewma(x, CTL_DAYS), ewma(x, ATL_DAYS)
    tsb = np.concatenate([[0.0], (ctl - atl)[:-1]])
    ctl_before = np.concatenate([np.zeros(7), ctl])[: x.size]
    week, sd = _rolling7(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        mono = np.where(sd > 1e-9 * np.maximum(week, 1.0), (week / 7.0) / sd, np.nan)
    return {"load": x, "ctl": ctl, "atl": atl, "tsb": tsb, "ramp": ctl - ctl_before, "week_load": week,
            "monotony": mono, "strain": week * mono}


def daily_series(days: Sequence[date], loads: Sequence[float], start: date, end: date) -> np.ndarray:
    """Load per day from ``start`` to ``end`` (inclusive; several runs a day add up)."""
    n = (end - start).days + 1
    out = np.zeros(max(n, 0))
    for d, v in zip(days, loads):
        i = (d - start).days
        if 0 <= i < n:
            out[i] += v
    return out


# =============================================================================================
# zones
# =============================================================================================
@dataclass(frozen=True)
class Zone:
    """One zone: HR in BPM (``low`` <= HR < ``high``) or pace in s/km (``slow`` >= pace > ``fast``;
    None: unbounded)."""

    name: str
    label: str
    low: float | None
    high: float | None


@dataclass
class Zones:
    """An athlete's HR and pace zones with what they rest on."""

    hr: list[Zone]
    max_hr: ProfileValue
    pace: list[Zone] | None
    threshold_pace: ProfileValue
    hr_model: str = "% of max HR, five zones (Garmin/Polar)"
    pace_model: str = "Friel's run pace zones, % of threshold pace (5a-5c merged)"

    @property
    def max_hr_bpm(self) -> float:
        """The max HR the zones use, BPM."""
        return float(self.max_hr.value)  # type: ignore[arg-type]

    @property
    def assumed(self) -> bool:
        """True when the max HR is the population default (nothing known about the athlete)."""
        return self.max_hr.source == "default"

    @property
    def warning(self) -> str | None:
        """The one-line warning to show when the zones rest on the default max HR."""
        if not self.assumed:
            return None
        return (f"max HR unknown: zones assume {self.max_hr_bpm:.0f} BPM (state yours: sub3 athletes set NAME --max-hr N, "
                "or import runs with HR)")

    def time_in_hr_zones(self, time_s: np.ndarray, hr_bpm: np.ndarray) -> dict[str, float]:
        """Seconds in Z0..Z5 (each sample's HR holds until the next; pauses over 30 s skipped)."""
        dt = sample_durations(time_s)
        frac = np.asarray(hr_bpm, dtype=np.float64) / self.max_hr_bpm
        ok = np.isfinite(frac)
        edges = [0.0] + [lo for _, lo, _ in HR_ZONES] + [np.inf]
        return {f"Z{z}": float(dt[ok & (frac >= edges[z]) & (frac < edges[z + 1])].sum()) for z in range(len(edges) - 1)}

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: ``hr`` and ``pace`` zone lists, their bases (value/source/method) and models."""
        return {"hr_model": self.hr_model, "max_hr_bpm": self.max_hr.to_dict(), "hr": [asdict(z) for z in self.hr],
                "pace_model": self.pace_model, "threshold_pace_s_per_km": self.threshold_pace.to_dict(),
                "pace": [asdict(z) for z in self.pace] if self.pace is not None else None, "assumed": self.assumed}


def hr_zones(max_hr_bpm: float) -> list[Zone]:
    """The five HR zones in BPM for a max HR (:data:`HR_ZONES`)."""
    return [Zone(n, f"{lo * 100:.0f}-{hi * 100:.0f}% of max HR", round(lo * max_hr_bpm, 1),
                 round(hi * max_hr_bpm, 1) if n != "Z5" else None) for n, lo, hi in HR_ZONES]


def pace_zones(threshold_pace_s_per_km: float) -> list[Zone]:
    """The five pace zones in s/km for a threshold pace (:data:`PACE_ZONES`); ``low`` is the
    slow end, ``high`` the fast end."""
    t = float(threshold_pace_s_per_km)
    return [Zone(n, label, None if math.isinf(slow) else round(slow * t, 1), None if fast == 0 else round(fast * t, 1))
            for n, label, slow, fast in PACE_ZONES]


def zones_for(prof: AthleteProfile, *, threshold_pace: ProfileValue | None = None) -> Zones:
    """Zones from a profile (``threshold_pace``: a fallback when the profile has none)."""
    mx = prof.max_hr_bpm if prof.max_hr_bpm.value is not None else ProfileValue(DEFAULT_MAX_HR_BPM, "default", "population default")
    tp = prof.threshold_pace_s_per_km
    if tp.value is None and threshold_pace is not None:
        tp = threshold_pace
    return Zones(hr=hr_zones(float(mx.value)), max_hr=mx,  # type: ignore[arg-type]
                 pace=pace_zones(float(tp.value)) if tp.value is not None else None, threshold_pace=tp)


def default_zones() -> Zones:
    """Zones when nothing is known about the runner (190 BPM; no pace zones)."""
    none = ProfileValue(None, "default", "unknown")
    return Zones(hr=hr_zones(DEFAULT_MAX_HR_BPM), max_hr=ProfileValue(DEFAULT_MAX_HR_BPM, "default", "population default"),
                 pace=None, threshold_pace=none)


def vdot_threshold_pace(lib: Any, name: str) -> ProfileValue | None:
    """Daniels' T pace (s/km) of the runner's VDOT from their recent efforts
    (:func:`sub3coach.plan.sessions.vdot_from_history`, the planner's estimate), on the day after
    their last run (today at the latest); None without a usable run."""
    import pandas as pd

    from sub3coach.plan.history import drop_non_runs, runs_frame
    from sub3coach.plan.race import training_paces
    from sub3coach.plan.sessions import vdot_from_history

    hist = runs_frame(lib.summaries(sport="run", athlete=name), user_id="me", label=str(lib.path))
    if hist.empty:
        return None
    hist = drop_non_runs(hist)
    today = pd.Timestamp(datetime.now(timezone.utc).date(), tz="UTC")
    end = min(today, hist["start_time"].max().normalize() + pd.Timedelta(days=1))
    v, why = vdot_from_history(hist, end)
    return ProfileValue(round(training_paces(v)["T"], 1), "estimated", f"Daniels' T pace of your {why}")


def athlete_zones(lib: Any, athlete: str | None) -> Zones:
    """The zones of a library athlete (``None``: the only one), from their cached profile.

    Raises:
        Sub3Error: unknown athlete, or several and none named.
    """
    from sub3coach.athletes import profile

    prof = profile(lib, athlete)
    fallback = None
    if prof.threshold_pace_s_per_km.value is None:
        fallback = vdot_threshold_pace(lib, prof.name)
    return zones_for(prof, threshold_pace=fallback)


# =============================================================================================
# per-run TRIMP
# =============================================================================================
@dataclass
class RunLoad:
    """One run's training load: ``trimp`` (Banister), its ``source`` (see the module doc), the
    run's UTC start and day, moving seconds, metres, and the mean HR (BPM) the TRIMP rests on."""

    run_id: str
    start_time: str
    day: date
    duration_s: float | None
    distance_m: float | None
    trimp: float
    source: str
    mean_hr_bpm: float | None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["day"] = self.day.isoformat()
        return d


@dataclass
class ProfileUsed:
    """The values TRIMP uses and where they come from."""

    max_hr: ProfileValue
    resting_hr: ProfileValue
    gender: ProfileValue

    @property
    def max_bpm(self) -> float:
        return float(self.max_hr.value)  # type: ignore[arg-type]

    @property
    def rest_bpm(self) -> float:
        return float(self.resting_hr.value)  # type: ignore[arg-type]

    @property
    def sex(self) -> str | None:
        return str(self.gender.value) if self.gender.value is not None else None

    def to_json(self) -> dict[str, Any]:
        k, b = trimp_constants(self.sex)
        why = "women's" if self.sex == "female" else ("men's" if self.sex == "male" else "men's (gender unknown)")
        return {"max_hr_bpm": self.max_hr.to_dict(), "resting_hr_bpm": self.resting_hr.to_dict(),
                "gender": self.gender.to_dict(), "trimp_constants": {"k": k, "b": b, "which": why}}


def profile_used(prof: AthleteProfile) -> ProfileUsed:
    """Max/resting HR and gender for TRIMP (defaults 190/60 BPM when unknown)."""
    mx = prof.max_hr_bpm if prof.max_hr_bpm.value is not None else ProfileValue(DEFAULT_MAX_HR_BPM, "default", "population default")
    rest = prof.resting_hr_bpm if prof.resting_hr_bpm.value is not None else ProfileValue(DEFAULT_RESTING_HR_BPM, "default", "typical adult")
    if float(rest.value) >= float(mx.value) - 20:  # type: ignore[arg-type]
        rest = ProfileValue(DEFAULT_RESTING_HR_BPM, "default", f"the stated {rest.value} BPM is too close to max HR")
    return ProfileUsed(mx, rest, prof.gender)


class _Predictor:
    """The HR model (+ the athlete's personal parameters), loaded on the first prediction."""

    def __init__(self, lib: Any, athlete: str, stated: dict[str, float | None], model: str | os.PathLike | None,
                 hr_run_ids: Sequence[str]) -> None:
        from sub3coach.hr.artifact_meta import default_model_path

        self.lib, self.athlete, self.stated, self.model = lib, athlete, stated, model
        p = Path(model) if model is not None else default_model_path()
        try:
            st = p.stat()
            model_id = f"{p.resolve()}|{st.st_mtime_ns}|{st.st_size}"
        except OSError:
            model_id = str(p)
        key = "|".join([model_id, str(sorted(hr_run_ids)), repr(sorted(stated.items()))])
        #: fingerprint of every prediction this object makes
        self.fingerprint = hashlib.sha256(key.encode()).hexdigest()[:20]
        self._ready = False
        self.lm: Any = None
        self.personal: Any = None
        self.mode = "cold"

    def _load(self) -> None:
        from sub3coach.hr.artifact import load_model
        from sub3coach.hr.personalize import library_personal

        self.lm = load_model(self.model)
        if self.lm.personal is None:
            pers = library_personal(self.lm, self.lib, self.athlete, stated=self.stated)
            if pers.n_runs > 0:
                self.personal, self.mode = pers, f"personal model ({pers.n_runs} runs with HR)"
        else:
            self.mode = "the model's own runner"
        self._ready = True

    def predict(self, w: Workout) -> np.ndarray:
        """Predicted HR (BPM) at ``w``'s sample times.

        Raises:
            MissingChannel: no speed/distance/GPS."""
        from sub3coach.hr.predict import predict_full

        if not self._ready:
            self._load()
        return predict_full(self.lm, w, personal=self.personal, stated=self.stated).hr_pred


def flat_run(duration_s: float, distance_m: float, start_s: float, step_s: float = 5.0) -> Workout:
    """A run on flat ground at an even pace (a history row made into samples for the HR model)."""
    t = np.arange(0.0, float(duration_s) + 1e-9, step_s)
    v = float(distance_m) / float(duration_s)
    return Workout(time_s=start_s + t, speed_mps=np.full(t.size, v), distance_m=v * t, altitude_m=np.zeros(t.size),
                   sport="run", workout_id="summary")


def _entry_valid(e: Any, row: dict[str, Any], fingerprint: str) -> bool:
    if not isinstance(e, dict) or e.get("source") not in _SOURCES:
        return False
    if e["source"] == "hr":
        return not row["summary_only"]
    return e.get("fingerprint") == fingerprint


def _run_entry(row: dict[str, Any], lib: Any, predictor: _Predictor) -> dict[str, Any]:
    """The cache entry of one run that needs samples or the model: source + HR histogram."""
    from sub3coach.errors import MissingChannel, Sub3Error

    if not row["summary_only"]:
        try:
            w = lib.get_workout(row["id"])
        except Sub3Error:
            w = None
        if w is not None and len(w) > 1:
            if w.hr_bpm is not None:
                hist, moving = hr_histogram(w.time_s, w.hr_bpm)
                if moving > 0 and sum(hist.values()) >= MIN_HR_COVERAGE * moving:
                    return {"source": "hr", "hist": hist, "moving_s": moving}
            try:
                hist, moving = hr_histogram(w.time_s, predictor.predict(w))
                return {"source": "predicted", "hist": hist, "moving_s": moving, "fingerprint": predictor.fingerprint}
            except MissingChannel:
                log.info("run %s: no speed to predict HR from; using its summary", row["id"])
    dur = row.get("moving_time_s") or row.get("duration_s")
    if row.get("avg_hr_bpm"):
        return {"source": "avg-hr", "fingerprint": predictor.fingerprint}
    if not dur or not row.get("distance_m") or row["distance_m"] < 100:
        return {"source": "none", "fingerprint": predictor.fingerprint}
    start = datetime.fromisoformat(row["start_time"].replace("Z", "+00:00")).timestamp()
    hist, moving = hr_histogram(*_flat_prediction(float(dur), float(row["distance_m"]), start, predictor))
    return {"source": "predicted-summary", "hist": hist, "moving_s": moving, "fingerprint": predictor.fingerprint}


def _flat_prediction(dur: float, dist: float, start: float, predictor: _Predictor) -> tuple[np.ndarray, np.ndarray]:
    w = flat_run(dur, dist, start)
    return w.time_s, predictor.predict(w)


def _needs_entry(row: dict[str, Any]) -> bool:
    """A recorded run, or a history row without HR (a history row with avg HR needs nothing)."""
    return not row["summary_only"] or not row.get("avg_hr_bpm")


def _trimp_of(row: dict[str, Any], entry: dict[str, Any] | None, used: ProfileUsed) -> tuple[float, str, float | None]:
    """(TRIMP, source, mean HR) of one run."""
    dur = row.get("moving_time_s") or row.get("duration_s")
    if entry is None or entry["source"] == "avg-hr":
        if row.get("avg_hr_bpm") and dur:
            return trimp_avg(float(dur), float(row["avg_hr_bpm"]), used.rest_bpm, used.max_bpm, used.sex), "avg-hr", float(row["avg_hr_bpm"])
        return 0.0, "none", None
    if entry["source"] == "none":
        return 0.0, "none", None
    hist = {int(k): float(v) for k, v in entry["hist"].items()}
    secs = sum(hist.values())
    mean = sum(k * v for k, v in hist.items()) / secs if secs else None
    return trimp_from_histogram(hist, float(entry["moving_s"]), used.rest_bpm, used.max_bpm, used.sex), entry["source"], mean


def run_loads(lib: Any, athlete: str, used: ProfileUsed, *, model: str | os.PathLike | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> tuple[list[RunLoad], str | None]:
    """Every run of ``athlete`` with its TRIMP and source (cached; see the module doc).

    Args:
        lib: an open :class:`~sub3coach.library.Library`; athlete: a resolved name; used: the
        profile values; model: an HR model artifact (default: the bundled one); on_progress:
        called with (done, total) while runs not in the cache are computed.

    Returns:
        (runs oldest first, how HR was predicted when any run needed the model, else None).
    """
    from sub3coach import cache as C

    rows = lib.runs(sport="run", athlete=athlete)
    stated_all = lib.athlete_stated(athlete)
    stated = {k: stated_all.get(k) for k in ("max_hr_bpm", "resting_hr_bpm")}
    hr_ids = [r["id"] for r in rows if not r["summary_only"] and r.get("avg_hr_bpm")]
    predictor = _Predictor(lib, athlete, stated, model, hr_ids)
    path = C.cache_file("load", str(Path(lib.path).resolve()), athlete)
    cached = C.read_json(path, LOAD_CACHE_VERSION) or {}
    todo = [r for r in rows if _needs_entry(r) and not _entry_valid(cached.get(r["id"]), r, predictor.fingerprint)]
    if todo:
        log.info("training load of %s: %d run(s) not in the cache", athlete, len(todo))
        for i, r in enumerate(todo):
            cached[r["id"]] = _run_entry(r, lib, predictor)
            if on_progress:
                on_progress(i + 1, len(todo))
        ids = {r["id"] for r in rows}
        C.write_json(path, LOAD_CACHE_VERSION, {k: v for k, v in cached.items() if k in ids})
    out = []
    for r in rows:
        trimp, source, mean = _trimp_of(r, cached.get(r["id"]) if _needs_entry(r) else None, used)
        start = datetime.fromisoformat(r["start_time"].replace("Z", "+00:00"))
        out.append(RunLoad(run_id=r["id"], start_time=r["start_time"], day=start.date(),
                           duration_s=r.get("moving_time_s") or r.get("duration_s"), distance_m=r.get("distance_m"),
                           trimp=round(trimp, 2), source=source, mean_hr_bpm=round(mean, 1) if mean is not None else None))
    uses_model = any(r.source in ("predicted", "predicted-summary") for r in out)
    how = None
    if uses_model:
        how = f"HR model, {predictor.mode}" if predictor._ready else "HR model (predictions from the cache)"
    return out, how


# =============================================================================================
# the report
# =============================================================================================
#: The report ends today, unless the athlete's last run is older than this (days): then it
#: ends on the last run's day (an old history is shown where it happened).
STALE_DAYS = 60


@dataclass
class DayLoad:
    """One day: load (sum of TRIMP), CTL, ATL, TSB, ramp, 7-day load, monotony, strain."""

    day: date
    load: float
    ctl: float
    atl: float
    tsb: float
    ramp: float
    week_load: float
    monotony: float | None
    strain: float | None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["day"] = self.day.isoformat()
        return d


@dataclass
class LoadReport:
    """``sub3 load``'s result: per-day rows, per-run TRIMP with its source, the profile values
    used (with their source) and the zones."""

    athlete: str
    days: list[DayLoad]
    runs: list[RunLoad]
    profile: ProfileUsed
    zones: Zones
    notes: list[str] = field(default_factory=list)
    prediction: str | None = None

    def weeks(self) -> list[dict[str, Any]]:
        """One row per ISO week (Monday start): load (sum), runs, and CTL/ATL/TSB/ramp/monotony/
        strain of its last day in the report."""
        out: dict[date, dict[str, Any]] = {}
        n_runs: dict[date, int] = {}
        for r in self.runs:
            wk = r.day - timedelta(days=r.day.weekday())
            n_runs[wk] = n_runs.get(wk, 0) + 1
        for d in self.days:
            wk = d.day - timedelta(days=d.day.weekday())
            row = out.setdefault(wk, {"week": wk.isoformat(), "load": 0.0})
            row["load"] = round(row["load"] + d.load, 1)
            row.update(last_day=d.day.isoformat(), ctl=d.ctl, atl=d.atl, tsb=d.tsb, ramp=d.ramp, monotony=d.monotony, strain=d.strain)
        for wk, row in out.items():
            row["runs"] = n_runs.get(wk, 0)
        return list(out.values())

    def sources(self) -> dict[str, int]:
        """Number of runs per TRIMP source."""
        out = {s: 0 for s in _SOURCES}
        for r in self.runs:
            out[r.source] += 1
        return {k: v for k, v in out.items() if v}

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (no NaN): athlete, profile values used, zones, sources, notes,
        conventions, days, weeks and runs."""
        return {
            "athlete": self.athlete, "profile": self.profile.to_json(), "zones": self.zones.to_json(),
            "sources": self.sources(), "prediction": self.prediction, "notes": self.notes,
            "conventions": {"ctl_days": CTL_DAYS, "atl_days": ATL_DAYS, "ewma": "X_d = X_{d-1} + (load_d - X_{d-1}) * (1 - exp(-1/tau))",
                            "tsb": "CTL - ATL of the day before (form at the start of the day)", "day": "UTC",
                            "ramp": "CTL change over 7 days", "monotony": "7-day mean / sd of daily load", "strain": "7-day load x monotony"},
            "days": [d.to_json() for d in self.days], "weeks": self.weeks(), "runs": [r.to_json() for r in self.runs],
        }


def _r(x: float) -> float | None:
    return round(float(x), 2) if math.isfinite(x) else None


def daily_rows(runs: Sequence[RunLoad], start: date, end: date) -> list[DayLoad]:
    """The per-day rows from ``start`` to ``end`` (inclusive) for per-run loads."""
    series = daily_series([r.day for r in runs], [r.trimp for r in runs], start, end)
    m = load_metrics(series)
    return [DayLoad(day=start + timedelta(days=i), load=round(float(series[i]), 2), ctl=_r(m["ctl"][i]), atl=_r(m["atl"][i]),  # type: ignore[arg-type]
                    tsb=_r(m["tsb"][i]), ramp=_r(m["ramp"][i]), week_load=_r(m["week_load"][i]),  # type: ignore[arg-type]
                    monotony=_r(m["monotony"][i]), strain=_r(m["strain"][i]))
            for i in range(series.size)]


def load_report(lib: Any, athlete: str | None = None, *, since: date | None = None, until: date | None = None,
                model: str | os.PathLike | None = None, on_progress: Callable[[int, int], None] | None = None) -> LoadReport:
    """The training load of a library athlete: the one entry point of the CLI and the web app.

    Args:
        lib: an open :class:`~sub3coach.library.Library`; athlete: a name (None: the only one);
        since: first day of the returned rows (CTL/ATL are still computed from the first run);
        until: last day (default: today, UTC, or the last run's day when it is older than
        :data:`STALE_DAYS`); model: HR model artifact for predicted sources; on_progress:
        (done, total) of runs computed for the cache.

    Raises:
        Sub3Error: unknown athlete, several and none named, or no run at all.
    """
    from sub3coach.athletes import profile
    from sub3coach.errors import Sub3Error

    prof = profile(lib, athlete)
    name = prof.name
    used = profile_used(prof)
    runs, how = run_loads(lib, name, used, model=model, on_progress=on_progress)
    if not runs:
        raise Sub3Error(f"{name} has no runs: import some first", str(lib.path))
    fallback = vdot_threshold_pace(lib, name) if prof.threshold_pace_s_per_km.value is None else None
    zones = zones_for(prof, threshold_pace=fallback)
    notes = _notes(used, runs)
    first, last = runs[0].day, runs[-1].day
    today = datetime.now(timezone.utc).date()
    if until is None:
        until = today if (today - last).days <= STALE_DAYS else last
        if until == last and last != today:
            notes.append(f"the last run is from {last.isoformat()}: the report ends there (--until to extend)")
    if until < first:
        raise Sub3Error(f"--until {until.isoformat()} is before {name}'s first run ({first.isoformat()})")
    if since is not None and since > until:
        raise Sub3Error(f"no days to report: since {since.isoformat()} is after the report's end ({until.isoformat()})")
    days = daily_rows([r for r in runs if r.day <= until], first, until)
    if since is not None:
        days = [d for d in days if d.day >= since]
    return LoadReport(athlete=name, days=days, runs=[r for r in runs if (since is None or r.day >= since) and r.day <= until],
                      profile=used, zones=zones, notes=notes, prediction=how)


def _notes(used: ProfileUsed, runs: Sequence[RunLoad]) -> list[str]:
    """What the user must know about the numbers (defaults assumed, runs without load)."""
    notes = []
    if used.max_hr.source == "default":
        notes.append(f"max HR unknown: TRIMP and zones assume {used.max_bpm:.0f} BPM (sub3 athletes set NAME --max-hr N)")
    if used.resting_hr.source == "default":
        notes.append(f"resting HR not stated: {used.rest_bpm:.0f} BPM assumed (sub3 athletes set NAME --resting-hr N)")
    if used.sex not in ("male", "female"):
        notes.append("gender unknown: men's TRIMP constants (sub3 athletes set NAME --gender female|male)")
    none = sum(r.source == "none" for r in runs)
    if none:
        notes.append(f"{none} run(s) without duration or distance count as no load")
    return notes
