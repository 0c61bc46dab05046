"""One planner for the week: volume from the chronic load, structured sessions at the runner's own
paces, placed by form under the coach rules. ``plan next`` is the first run of ``plan week``.

**Volume** (:func:`weekly_target`). The runner's recent weekly level is the average week of the
28 days before the plan (``avg4``, metres; a history that starts inside them is averaged over the
weeks it covers, at least one, and the reason says so); the week's target is ``1.05 x avg4`` (a small
progression; one big or small week moves it by a quarter at most). After a break of
:attr:`CoachRules.break_days` days or more that reaches into those 28 days, the level is the
average week of the 4 weeks before the break, and the target is a return-to-run ramp: 50 % of
it in the first week back, +10 % a week after (:attr:`CoachRules.return_fraction`,
:attr:`CoachRules.return_step`), never above the old level; from the second week back the
runner's own weeks since the return lead (at least 1.05 x, at most 1.25 x their average, and
at most 1.2 x the 4-week average). Before a race the target is
tapered: x 0.8 when the race is 8-14 days after the week's middle day, x 0.6 within 7 days (a
race in the week's first days included).

**Days.** Runs go on the runner's usual weekdays (their most frequent running weekdays in the
last 8 weeks, or since the first run, as many as their usual runs a week, 2-6): the others are rest days (the reason
names the count: "ran on 1 of the last 8 Mondays"). A day whose 6 days before all hold runs is a
rest day; the day before a race is a rest day; the 2 days before it only a short easy run (at
most half the runner's median run of the habit window, at least 3 km; the days after it too).

**Roles** (:meth:`_Week.assign`). With 4+ runs a week the long run goes on the runner's usual
long-run weekday (else the weekday of their longest runs): 28 % of the target (at most 30 %, the
coach rule), at easy pace. Quality sessions: two with 5+ runs a week, one with 3-4, none with
fewer; one fewer when the runner is tired (form below -50 %, :func:`training_form`; below -25 %
not on the first day), none in
the first two weeks of a return-to-run ramp (then tempo only), and the race counts as one.
Quality days are never next to another hard day (history included), never more than two in any
7 days, and go on the run days where the pace model expects the quickest running (its
predicted pace over the runner's recent median pace): the quickest becomes the interval
session (with one session: intervals only when the model's ratio is <= 0.93, else tempo); a session
longer than twice the week's target per run day (a week of very short runs) is an easy run instead.
Easy runs share the rest of the target (each at least 3 km, a day too short for that rests; at
most 1.5 x target / usual runs a week, so a taper week with few run days runs less).

**Paces** come from the runner's zones (:mod:`sub3coach.plan.sessions`): tempo work at Daniels'
T pace, intervals at I pace, warm-ups and cool-downs in the E range. The pace model sets the
easy-day pace within the E range (the pace it predicts for that day, clamped; a long run no
quicker than the middle of E); the run targets that pace +- 10 s/km.

**Expected HR**: the HR model's mean prediction over a flat course of the run at its average
pace, and for the work step of a session the warmed-up HR at its pace (:func:`steady_hr_bpm`);
None when the HR model is unavailable, with a one-line warning.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator

import numpy as np
import pandas as pd

from sub3coach.errors import Sub3Error
from sub3coach.plan.history import (
    HARD_TYPES, HISTORY_COLUMNS, PACE_RANGE_S_PER_KM, add_features, drop_non_runs, epoch_days, make_examples,
)
from sub3coach.plan.sessions import (
    Session, Step, Zones, interval_session, pace_range, steady_run, tempo_session, vdot_from_history,
)
from sub3coach.units import format_pace

log = logging.getLogger(__name__)

MARATHON_M = 42195.0
#: Hard types that are quality sessions (the long run is hard but not one of them).
QUALITY_TYPES: frozenset[str] = frozenset({"tempo", "interval", "race"})
#: The planner reads the runs of this many days before the plan, and at least the last KEEP_RUNS
#: (the pace model's longest window is 365 days).
KEEP_DAYS: int = 400
KEEP_RUNS: int = 60
#: An easy or long run targets its pace +- this many seconds per km (inside the E range).
EASY_BAND_S: float = 10.0
#: No easy run is longer than this many times the week's target over the runner's usual runs a week.
EASY_MAX_OF_USUAL: float = 1.5
#: A tempo or interval session longer than this many times the week's target per run day becomes an easy run.
SESSION_MAX_OF_SHARE: float = 2.0
#: A short easy run (the 2 days before a race, the days after it) is at most this many times the runner's
#: usual (median) run, and at least the shortest run (:attr:`CoachRules.min_run_m`).
SHORT_MAX_OF_USUAL: float = 0.5
#: In a return ramp, the target is at most this many times the 4-week average (break days included).
RAMP_MAX_OF_AVG4: float = 1.2
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class CoachRules:
    """The training rules every plan obeys (see module docs)."""

    long_run_fraction: float = 0.28
    long_run_max_fraction: float = 0.30
    min_run_m: float = 3000.0
    max_quality_days_per_week: int = 2
    progression: float = 1.05
    volume_band: tuple[float, float] = (0.6, 1.25)
    break_days: int = 14
    return_fraction: float = 0.5
    return_step: float = 0.10
    tired_form: float = -0.5
    taper: tuple[tuple[int, float], ...] = ((7, 0.6), (14, 0.8))
    easy_only_days_before_race: int = 2


DEFAULT_RULES = CoachRules()


@dataclass
class NextWorkout:
    """One day's workout (a rest day has ``type == "rest"``, distance 0 and no pace).

    Attributes:
        date: the day. type: easy/long/tempo/interval/race/rest. distance_m: metres.
        pace_s_per_km: average target pace (s/km; jogs included). duration_s: seconds.
        expected_hr_bpm: mean HR the HR model expects (flat course), or None.
        predicted_pace_s_per_km: the pace model's prediction for the day; ref_pace_s_per_km:
        the runner's recent median pace it is compared with; weekly_target_m: the week's
        volume target; reason: why; session: the structured workout (None on rest days).
    """

    date: date
    type: str
    distance_m: float
    pace_s_per_km: float | None
    duration_s: float
    expected_hr_bpm: float | None = None
    predicted_pace_s_per_km: float | None = None
    ref_pace_s_per_km: float | None = None
    weekly_target_m: float | None = None
    reason: str = ""
    session: Session | None = None

    @property
    def is_rest(self) -> bool:
        return self.type == "rest"

    @property
    def structure(self) -> str:
        """The session as one line (``2 km WU, 5 x 1 km @ ..., 2 km CD``), ``-`` on rest days."""
        return self.session.describe() if self.session else "-"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every attribute (date ISO, floats to 0.1), ``session`` as its dict, ``structure``."""
        d = asdict(self)
        d["date"] = self.date.isoformat()
        d["session"] = self.session.to_dict() if self.session else None
        d["structure"] = self.structure if self.session else None
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 1)
        return d


@dataclass
class Form:
    """Acute (7-day) and chronic (42-day) exponentially weighted daily distance, km/day, and form
    = (chronic - acute) / chronic (negative: more load lately than the runner is used to)."""

    acute_km_per_day: float
    chronic_km_per_day: float

    @property
    def form(self) -> float:
        c = self.chronic_km_per_day
        return (c - self.acute_km_per_day) / c if c > 0 else 0.0

    def to_dict(self) -> dict[str, float]:
        return {"acute_km_per_day": round(self.acute_km_per_day, 2), "chronic_km_per_day": round(self.chronic_km_per_day, 2),
                "form": round(self.form, 3)}


def training_form(history: pd.DataFrame, as_of: date) -> Form:
    """:class:`Form` from the daily distance of the runs before ``as_of`` (EWMA with time
    constants 7 and 42 days, as ATL/CTL, over at most the last 365 days, both seeded with the mean
    of the first 42 of those days). The one place a TRIMP-based load can replace later."""
    end = pd.Timestamp(as_of)
    days = history["start_time"].dt.tz_convert(None).dt.normalize()
    daily = history.groupby(days)["distance_m"].sum() / 1000.0
    daily = daily[daily.index < end]
    if daily.empty:
        return Form(0.0, 0.0)
    idx = pd.date_range(max(daily.index.min(), end - pd.Timedelta(days=365)), end - pd.Timedelta(days=1), freq="D")
    x = daily.reindex(idx, fill_value=0.0).to_numpy(float)
    out = []
    for tau in (7.0, 42.0):
        a, v = 1.0 - math.exp(-1.0 / tau), float(x[:42].mean())  # seeded with the first 6 weeks, not with 0
        for xi in x:
            v += a * (xi - v)
        out.append(v)
    return Form(out[0], out[1])


# --------------------------------------------------------------------------- HR
def _hr_curve(distance_m: float, pace_s_per_km: float, hr_model: Any = None) -> np.ndarray | None:
    """The HR model's curve (BPM, finite values) over a flat course of ``distance_m`` at
    ``pace_s_per_km``; None (with a one-line warning) when the HR model is unavailable."""
    if hr_model is False or distance_m <= 0 or not pace_s_per_km:
        return None
    try:
        from sub3coach.hr.artifact import load_model
        from sub3coach.hr.predict import course_workout, predict_workout
        from sub3coach.synth import synthetic_course

        lm = load_model() if hr_model is None else hr_model
        course = synthetic_course(float(distance_m), hilliness=0.0, step_m=10.0)
        hr = predict_workout(lm, course_workout(course, float(pace_s_per_km), start_time_s=0.0))
        hr = hr[np.isfinite(hr)]
        return hr if hr.size else None
    except Exception as exc:  # noqa: BLE001 - the HR model is optional here: never crash a plan
        log.warning("expected HR unavailable (HR model: %s)", " ".join(str(exc).split()) or type(exc).__name__)
        return None


def expected_hr_bpm(distance_m: float, pace_s_per_km: float, hr_model: Any = None) -> float | None:
    """Mean HR the HR model predicts for a flat course of ``distance_m`` at ``pace_s_per_km``.

    ``hr_model``: a loaded HR model, ``None`` for the bundled default, ``False`` to skip.
    Returns None (and logs a warning) when the HR model cannot be loaded or used."""
    hr = _hr_curve(distance_m, pace_s_per_km, hr_model)
    return None if hr is None else float(hr.mean())


def steady_hr_bpm(pace_s_per_km: float, hr_model: Any = None, minutes: float = 20.0) -> float | None:
    """HR the HR model expects once warmed up at ``pace_s_per_km``: the mean of the second half of
    a ``minutes``-long flat run at that pace (a session's work step comes after a warm-up)."""
    hr = _hr_curve(minutes * 60.0 / pace_s_per_km * 1000.0, pace_s_per_km, hr_model)
    return None if hr is None else float(hr[hr.size // 2:].mean())


def _resolve_model(model: Any) -> Any:
    if model is None:
        from sub3coach.plan.train import load_plan_model

        return load_plan_model()
    return model


def _as_date(x: date | datetime | str | None) -> date | None:
    if x is None or isinstance(x, date) and not isinstance(x, datetime):
        return x  # type: ignore[return-value]
    if isinstance(x, datetime):
        return (x.astimezone(timezone.utc) if x.tzinfo else x).date()
    try:
        return date.fromisoformat(str(x).strip())
    except ValueError as exc:
        raise Sub3Error(f"date {x!r} is not YYYY-MM-DD") from exc


def taper_factor(day: date, race_date: date | None, rules: CoachRules = DEFAULT_RULES) -> float:
    """Volume factor of the taper for a week whose middle day is ``day`` (1 outside it); a race
    in the first half of the week (before its middle day) is a race week too: the last factor."""
    if race_date is None:
        return 1.0
    to_race = (race_date - day).days
    if to_race < -3:
        return 1.0
    for within, factor in rules.taper:
        if to_race <= within:
            return factor
    return 1.0


def type_from_ratio(q: float) -> str:
    """Workout type the pace model's ratio (predicted / recent median pace) points to."""
    if q <= 0.93:
        return "interval"
    if q <= 0.97:
        return "tempo"
    if q < 1.03:
        return "easy"
    if q < 1.08:
        return "long"
    return "recovery"


# --------------------------------------------------------------------------- volume
@dataclass
class VolumeTarget:
    """The week's volume target (metres) and why; ``recent_weekly_avg_m`` is the 4-week average
    before the plan, ``level_m`` the level the target follows, ``weeks_back`` >= 0 in a return ramp."""

    target_m: float
    recent_weekly_avg_m: float
    level_m: float
    reason: str
    weeks_back: int | None = None


def _vol(runs: pd.DataFrame, first: pd.Timestamp, end: pd.Timestamp) -> float:
    t = runs["start_time"]
    return float(runs.loc[(t >= first) & (t < end), "distance_m"].sum())


def covered(runs: pd.DataFrame, first: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Timestamp, float]:
    """The window ``[first, end)`` cut to the history: (its start, no earlier than the day of the
    first run; the weeks it covers, at least 1). Days before the first logged run are not zero weeks."""
    lo = max(first, runs["start_time"].min().normalize())
    return lo, max(1.0, (end - lo) / pd.Timedelta(days=7))


def weekly_avg(runs: pd.DataFrame, first: pd.Timestamp, end: pd.Timestamp) -> float:
    """Average week (metres) of ``[first, end)`` over the weeks of it the history covers (:func:`covered`)."""
    lo, n_weeks = covered(runs, first, end)
    return _vol(runs, lo, end) / n_weeks


def last_break(runs: pd.DataFrame, as_of: date, min_days: int) -> tuple[pd.Timestamp, pd.Timestamp | None] | None:
    """The latest gap of at least ``min_days`` days without a run before ``as_of``: (last run
    before it, first run after it or None when the gap is still going on)."""
    t = runs["start_time"].sort_values().reset_index(drop=True)
    end = pd.Timestamp(as_of, tz="UTC")
    if (end - t.iloc[-1]).days >= min_days:
        return t.iloc[-1], None
    gaps = t.diff().dt.days
    big = np.flatnonzero(gaps.to_numpy() >= min_days)
    if big.size:
        k = int(big[-1])
        return t.iloc[k - 1], t.iloc[k]
    return None


def weekly_target(runs: pd.DataFrame, as_of: date, rules: CoachRules = DEFAULT_RULES,
                  race_date: date | None = None) -> VolumeTarget:
    """The week's volume target from the chronic load (module docs)."""
    end = pd.Timestamp(as_of, tz="UTC")
    lo, n_weeks = covered(runs, end - pd.Timedelta(days=28), end)
    weeks = [_vol(runs, end - pd.Timedelta(days=7 * (k + 1)), end - pd.Timedelta(days=7 * k))
             for k in range(4) if end - pd.Timedelta(days=7 * k) > lo]  # the weeks the history reaches
    avg4 = sum(weeks) / n_weeks
    short = n_weeks < 4  # the history starts inside the 4 weeks
    brk = last_break(runs, as_of, rules.break_days)
    taper = taper_factor(as_of + timedelta(days=3), race_date, rules)
    tap = "" if taper == 1.0 else f"; x {taper:g} taper before the race on {race_date}"
    if brk is not None and (brk[1] is None or brk[1] > end - pd.Timedelta(days=28)):
        before, back = brk
        level = weekly_avg(runs, before - pd.Timedelta(days=27), before + pd.Timedelta(days=1))
        weeks_back = 0 if back is None else (end - back.normalize()).days // 7
        frac = min(1.0, rules.return_fraction + rules.return_step * weeks_back)
        gap = ((back if back is not None else end) - before).days
        ramp = frac * level
        reason = (f"back after {gap} days without a run (last {before.date()}"
                  + (f", back since {back.date()}" if back is not None else "")
                  + f"): {frac:.0%} of your {level / 1000:.1f} km/week of the 4 weeks before the break "
                  f"(50 % in the first week back, +10 %/week)")
        if back is not None and weeks_back >= 1:
            # since the return the runner's own weeks lead: the ramp can neither jump far above them nor hold them back
            n_weeks = max(1.0, (end - back.normalize()).days / 7.0)
            since = _vol(runs, back.normalize(), end) / n_weeks
            target = max(min(ramp, 1.25 * since), rules.progression * since)
            if target != ramp:
                reason += (f", {'at most 1.25' if target == 1.25 * since else str(rules.progression)} x your "
                           f"{since / 1000:.1f} km/week since the return")
            if avg4 > 0 and target > RAMP_MAX_OF_AVG4 * avg4:
                target = RAMP_MAX_OF_AVG4 * avg4
                reason += f", at most {RAMP_MAX_OF_AVG4:g} x your 4-week average {avg4 / 1000:.1f} km/week"
            ramp = target
        return VolumeTarget(ramp * taper, avg4, level, reason + tap, weeks_back)
    listed = ", ".join(f"{w / 1000:.1f}" for w in reversed(weeks))
    span = (f"average week since your first run on {lo.date()} (only {(end - lo).days} days of history)" if short
            else "4-week average")
    reason = f"your {span} {avg4 / 1000:.1f} km/week (weeks: {listed} km) x {rules.progression:g}{tap}"
    return VolumeTarget(rules.progression * avg4 * taper, avg4, avg4, reason)


# --------------------------------------------------------------------------- the week
@dataclass
class WeekPlan:
    """A plan of consecutive days (7 for a week), with what it was built from.

    Iterating, indexing and ``len`` go over :attr:`days`; :attr:`next_run` is the first day that
    is not a rest day (the object ``plan next`` shows)."""

    days: list[NextWorkout]
    volume: VolumeTarget
    zones: Zones
    form: Form
    runner: str
    race_date: date | None = None
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[NextWorkout]:
        return iter(self.days)

    def __len__(self) -> int:
        return len(self.days)

    def __getitem__(self, k: int) -> NextWorkout:
        return self.days[k]

    @property
    def next_run(self) -> NextWorkout | None:
        return next((w for w in self.days if not w.is_rest), None)

    @property
    def total_distance_m(self) -> float:
        return float(sum(w.distance_m for w in self.days))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (see README, "Plan the next workout")."""
        nxt = self.next_run
        return {
            "runner": self.runner, "as_of": self.days[0].date.isoformat(),
            "race_date": self.race_date.isoformat() if self.race_date else None,
            "days": [w.to_dict() for w in self.days],
            "next_run_date": nxt.date.isoformat() if nxt else None,
            "total_distance_m": round(self.total_distance_m, 1),
            "weekly_target_m": round(self.volume.target_m, 1),
            "recent_weekly_avg_m": round(self.volume.recent_weekly_avg_m, 1),
            "volume_reason": self.volume.reason,
            "zones": self.zones.to_dict(), "form": self.form.to_dict(), "notes": self.notes,
        }


class _Week:
    """Planning state for one runner and one week (see module docs for the rules)."""

    def __init__(self, history: pd.DataFrame, start: date, race_date: date | None, model: Any, rules: CoachRules,
                 race_distance_m: float, zones: Zones | None) -> None:
        if history is None or len(history) == 0:
            raise Sub3Error("no runs in the history: import some runs first")
        missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
        if missing:
            raise Sub3Error(f"history table is missing column(s) {', '.join(missing)}")
        if race_date is not None and race_date < start:
            raise Sub3Error(f"--race-date {race_date} is before the first planned day {start}: give a race still to come")
        past = history[history["start_time"].dt.date < start]
        if past.empty:
            first = history["start_time"].min().date()
            raise Sub3Error(f"no runs before {start} (the history starts {first}): choose a later --as-of")
        past = past.sort_values("start_time", kind="stable")
        keep = (past["start_time"] >= pd.Timestamp(start, tz="UTC") - pd.Timedelta(days=KEEP_DAYS)).to_numpy().copy()
        keep[-KEEP_RUNS:] = True  # a long break keeps the runs before it
        self.rows = drop_non_runs(past.loc[keep, list(HISTORY_COLUMNS)])
        if self.rows.empty:
            raise Sub3Error(f"no runs before {start} once walks and rides are left out")
        self.start, self.race_date, self.rules = start, race_date, rules
        self.race_distance_m = race_distance_m
        self.model = _resolve_model(model)
        self.featured = add_features(self.rows, clean=False)
        self.uid = str(self.rows["user_id"].iloc[-1])
        self.end = pd.Timestamp(start, tz="UTC")
        self.volume = weekly_target(self.rows, start, rules, race_date)
        self.form = training_form(self.rows, start)
        if zones is None:
            v, why = vdot_from_history(self.rows, self.end)
            zones = Zones.from_vdot(v, why)
        self.zones = zones
        self.notes: list[str] = []
        lo, hi, self.habit_label = self.habit_window(last_break(self.rows, start, rules.break_days))
        f = self.featured
        self.habit = f[(f["start_time"] >= lo) & (f["start_time"] < hi)]
        weeks = max(1.0, (hi - lo).days / 7.0)
        n = int(min(6, max(2, round(len(self.habit) / weeks))))
        if self.volume.weeks_back is not None and self.volume.weeks_back < 2:
            n = min(n, 4)
        self.runs_per_week = n
        med_src = self.habit if len(self.habit) else self.rows
        self.usual_run_m = float(np.median(med_src["distance_m"]))  # the runner's median run (habit window), metres
        #: the longest "short" easy run (next to a race): half the usual run, but never under the shortest run
        self.short_run_max_m = max(rules.min_run_m, SHORT_MAX_OF_USUAL * self.usual_run_m)
        hab = self.habit
        self.weekday_counts = np.bincount(hab["start_time"].dt.day_of_week.to_numpy(), minlength=7)
        self.hist_km = self.featured.groupby(self.featured["start_time"].dt.date)["distance_m"].sum().to_dict()
        self.hist_hard = {d for d, t in zip(self.featured["start_time"].dt.date, self.featured["type"]) if t in HARD_TYPES}
        self.hist_quality = {d for d, t in zip(self.featured["start_time"].dt.date, self.featured["type"]) if t in QUALITY_TYPES}
        self.hour = float(np.median((self.rows["start_time"].dt.hour + self.rows["start_time"].dt.minute / 60.0).to_numpy()[-30:]))

    def habit_window(self, brk: tuple[pd.Timestamp, pd.Timestamp | None] | None) -> tuple[pd.Timestamp, pd.Timestamp, str]:
        """(first, end, label) of the runs the weekly habits come from: the last 8 weeks; in a
        return ramp the weeks since the return (with 4+ runs since), else the 8 weeks before the break."""
        end = self.end
        if self.volume.weeks_back is None or brk is None:
            lo = covered(self.rows, end - pd.Timedelta(days=56), end)[0]
            return lo, end, ("of the last 8 weeks" if lo == end - pd.Timedelta(days=56)
                             else f"since your first run on {lo.date()}")
        before, back = brk
        if back is not None and int((self.rows["start_time"] >= back).sum()) >= 4:
            lo = max(back.normalize(), end - pd.Timedelta(days=56))
            return lo, end, f"since your return on {back.date()}"
        hi = before.normalize() + pd.Timedelta(days=1)
        return covered(self.rows, hi - pd.Timedelta(days=56), hi)[0], hi, "of the 8 weeks before your break"

    # ----- the pace model, once for the whole week
    def predict(self, days: list[date]) -> tuple[np.ndarray, np.ndarray]:
        """(predicted pace, reference pace) for each day, s/km (one model call)."""
        t = epoch_days(pd.Series([pd.Timestamp(d, tz="UTC") + pd.Timedelta(hours=self.hour) for d in days]))
        ex = make_examples(self.featured, targets=list(t), allow_stale=True)
        if len(ex) != len(days):
            raise Sub3Error(f"no runs before {days[0]} to predict from")
        pace = np.clip(np.asarray(self.model.predict_pace(ex), float), *PACE_RANGE_S_PER_KM)
        return pace, np.asarray(ex.ref_pace, float)

    # ----- run days
    def run_days(self, days: list[date]) -> dict[date, str]:
        """Rest days with their reason; the days not in it are run days."""
        order = sorted(range(7), key=lambda wd: (-self.weekday_counts[wd], wd))
        usual = set(order[: self.runs_per_week])
        rest: dict[date, str] = {}
        win = self.habit_label
        for d in days:
            to_race = (self.race_date - d).days if self.race_date else None
            if to_race == 1:
                rest[d] = "day before the race"
            elif to_race is not None and to_race < 0 and (-to_race) == 1:
                rest[d] = "day after the race"
            elif d.weekday() not in usual and to_race != 0:
                rest[d] = (f"you run {self.runs_per_week} days a week; {_WEEKDAYS[d.weekday()]} is not among your "
                           f"{self.runs_per_week} most frequent running weekdays (runs on {_count(self.weekday_counts[d.weekday()], _WEEKDAYS[d.weekday()])} "
                           f"{win})")
        for d in days:  # a rest day in every 7 days, history included (the race is run regardless)
            if d in rest or d == self.race_date:
                continue
            if all(self.hist_km.get(d - timedelta(days=k), 0) > 0 or (d - timedelta(days=k) >= self.start
                                                                       and d - timedelta(days=k) not in rest)
                   for k in range(1, 7)):
                rest[d] = "6 running days in a row before it"
        return rest

    def hard_before(self, d: date) -> bool:
        return d - timedelta(days=1) in self.hist_hard

    def quality_ok(self, d: date, quality: set[date]) -> bool:
        """Whether a quality day on ``d`` keeps every 7-day window at two quality days at most."""
        q = quality | self.hist_quality | {d}
        return all(sum(w + timedelta(days=k) in q for k in range(7)) <= self.rules.max_quality_days_per_week
                   for w in (d - timedelta(days=j) for j in range(7)))

    def assign(self, days: list[date], rest: dict[date, str], ratio: dict[date, float]) -> tuple[dict[date, str], list[str]]:
        """Role of each run day: race, long, interval, tempo, easy, or easy-short (taper)."""
        r = self.rules
        run = [d for d in days if d not in rest]
        role: dict[date, str] = {}
        notes: list[str] = []
        for d in run:
            to_race = (self.race_date - d).days if self.race_date else None
            if to_race == 0:
                role[d] = "race"
            elif to_race is not None and (0 < to_race <= r.easy_only_days_before_race or to_race < 0):
                role[d] = "easy-short"
        free = [d for d in run if d not in role]
        n_run = len(run)
        if self.runs_per_week >= 4 and free:
            longs = self.habit[self.habit["type"] == "long"]["start_time"].dt.day_of_week
            ok = [d for d in free if not self.hard_before(d) and not (self.race_date and 0 < (self.race_date - d).days <= 7)]
            if ok:
                if len(longs) >= 2:
                    lw = int(longs.value_counts().idxmax())
                    why = (f"your usual long-run day ({_WEEKDAYS[lw]}: {int((longs == lw).sum())} of your "
                           f"{_count(len(longs), 'long run')} {self.habit_label})")
                else:
                    med = self.habit.groupby(self.habit["start_time"].dt.day_of_week)["distance_m"].median()
                    lw = int(med.idxmax()) if len(med) else 6
                    why = f"the weekday of your longest runs ({_WEEKDAYS[lw]})"
                d = min(ok, key=lambda x: (min((x.weekday() - lw) % 7, (lw - x.weekday()) % 7), -x.toordinal()))
                role[d] = "long"
                notes.append(f"long run on {d:%a %d %b}: " + (why if d.weekday() == lw else f"nearest run day to {why}"))
        q = 2 if n_run >= 5 else 1 if n_run >= 3 else 0
        wb = self.volume.weeks_back
        if wb is not None:
            q = 0 if wb < 2 else min(q, 1)
            if q == 0:
                notes.append("no quality session in the first two weeks back from a break")
        if self.form.form < r.tired_form and q:
            q -= 1
            notes.append(f"one quality session less: your last 7 days ({self.form.acute_km_per_day:.1f} km/day, weighted) "
                         f"are well above your 6-week level ({self.form.chronic_km_per_day:.1f} km/day)")
        if "race" in role.values() or (self.race_date and 0 < (self.race_date - days[-1]).days <= 6):
            q = max(0, q - 1)
        quality: set[date] = set()
        hard = {d for d, x in role.items() if x in ("long", "race")}
        cands = sorted((d for d in run if d not in role), key=lambda d: (ratio[d], d))
        if self.form.form < r.tired_form / 2:  # tired now: no session on the first day
            cands = [d for d in cands if d != days[0]] + [d for d in cands if d == days[0]]
        chosen: list[date] = []
        for d in cands:
            if len(chosen) >= q:
                break
            near = {d - timedelta(days=1), d + timedelta(days=1)}
            if near & (hard | quality) or self.hard_before(d) or not self.quality_ok(d, quality):
                continue
            if self.race_date and (self.race_date - d).days in range(0, 3):
                continue
            chosen.append(d)
            quality.add(d)
        for k, d in enumerate(chosen):
            if wb is not None:
                role[d] = "tempo"
            elif len(chosen) == 2:
                role[d] = "interval" if k == 0 else "tempo"
            else:
                role[d] = "interval" if ratio[d] <= 0.93 else "tempo"
        for d in run:
            role.setdefault(d, "easy")
        return role, notes

    # ----- sessions
    def easy_pace(self, pred: float) -> float:
        """The pace model's pace for the day within the E range (at least :data:`EASY_BAND_S`
        from its ends, so the run's band fits inside it), s/km."""
        lo, hi = self.zones.easy
        return float(np.clip(pred, lo + EASY_BAND_S, max(lo + EASY_BAND_S, hi - EASY_BAND_S)))

    def build(self, days: list[date]) -> list[NextWorkout]:
        """The week's workouts (rest days included)."""
        r = self.rules
        pred, ref = self.predict(days)
        P = dict(zip(days, pred))
        R = dict(zip(days, ref))
        ratio = {d: P[d] / R[d] for d in days}
        rest = self.run_days(days)
        role, notes = self.assign(days, rest, ratio)
        self.notes += notes
        V = self.volume.target_m
        n_run = len(role)
        sessions: dict[date, Session] = {}
        jog = self.zones.easy[1]
        share = V / max(n_run, 1)
        med = self.usual_run_m
        for d, x in role.items():
            if x == "race":
                sessions[d] = self.race_session()
            elif x == "long":
                dist = r.long_run_fraction * V
                if dist >= 1.25 * med and dist >= r.min_run_m:
                    sessions[d] = steady_run("long", dist, self.zones.easy, jog)
                else:
                    role[d] = "easy"
                    self.notes.append(f"no long run: {r.long_run_fraction:.0%} of the week ({dist / 1000:.1f} km) is not "
                                      f"longer than your usual {med / 1000:.1f} km run")
            elif x in ("tempo", "interval"):
                s = tempo_session(share, self.zones) if x == "tempo" else interval_session(share, self.zones, V)
                if s.distance_m <= SESSION_MAX_OF_SHARE * share:
                    sessions[d] = s
                else:  # its warm-up, work and cool-down alone are more than the week can hold
                    role[d] = "easy"
                    self.notes.append(f"no {x} on {d:%a %d %b}: its {s.distance_m / 1000:.1f} km are more than "
                                      f"{SESSION_MAX_OF_SHARE:g} x the week's {share / 1000:.1f} km a run")
        self.fill_easy(role, rest, sessions)
        out = []
        for d in days:
            if d in rest or d not in sessions:
                out.append(NextWorkout(d, "rest", 0.0, None, 0.0, weekly_target_m=V, reason="rest: " + rest.get(d, "")))
                continue
            out.append(self.workout(d, role[d], sessions[d], P[d], R[d], V))
        return out

    def fill_easy(self, role: dict[date, str], rest: dict[date, str], sessions: dict[date, Session]) -> None:
        """Share what the target leaves after the long run and the sessions among the easy days
        (each at least the shortest run, else the least usual easy day rests; capped, see module docs)."""
        r, V, jog = self.rules, self.volume.target_m, self.zones.easy[1]
        easy = [d for d, x in role.items() if x in ("easy", "easy-short")]
        left = V - sum(s.distance_m for d, s in sessions.items() if role[d] != "race")
        while easy:
            weights = {d: (0.5 if role[d] == "easy-short" else 1.0) for d in easy}
            each = left / sum(weights.values())
            if each * min(weights.values()) >= r.min_run_m:
                break
            if len(easy) == 1 and not sessions:  # a week keeps one run, of the shortest worth running
                left = max(left, r.min_run_m / weights[easy[0]])
                self.notes.append(f"one run of {left * weights[easy[0]] / 1000:.1f} km: the week's {V / 1000:.1f} km "
                                  f"are less than the shortest run planned ({r.min_run_m / 1000:.0f} km)")
                break
            drop = min(easy, key=lambda d: (weights[d], self.weekday_counts[d.weekday()], d))
            easy.remove(drop)
            role.pop(drop)
            rest[drop] = (f"the week's {V / 1000:.1f} km leave no room for another run of at least "
                          f"{r.min_run_m / 1000:.0f} km")
        if easy:
            # no easy run longer than the long run, nor than 1.5 x a usual run of the week (a taper runs less)
            cap = min(max((s.distance_m for d, s in sessions.items() if role[d] == "long"), default=math.inf),
                      max(EASY_MAX_OF_USUAL * V / self.runs_per_week, r.min_run_m))
            weights = {d: (0.5 if role[d] == "easy-short" else 1.0) for d in easy}
            for d in easy:
                dist = min(left / sum(weights.values()) * weights[d], cap)
                if role[d] == "easy-short":  # short in km, whatever the week: at most half the runner's usual run
                    dist = min(dist, self.short_run_max_m)
                sessions[d] = steady_run("easy", dist, self.zones.easy, jog)

    def race_session(self) -> Session:
        """Race day: the race distance at the VDOT pace of the runner's zones."""
        from sub3coach.plan.race import vdot_time_s

        pace = vdot_time_s(self.zones.vdot, self.race_distance_m) / (self.race_distance_m / 1000.0)
        pace = float(np.clip(pace, *PACE_RANGE_S_PER_KM))
        return Session("race", Step("run", distance_m=self.race_distance_m, pace_s_per_km=(pace, pace)),
                       jog_pace_s_per_km=self.zones.easy[1], name=f"Race {self.race_distance_m / 1000:.1f} km")

    def workout(self, d: date, kind: str, s: Session, pred: float, ref: float, V: float) -> NextWorkout:
        """A run day's :class:`NextWorkout` with its reason."""
        z = self.zones
        if kind == "race":
            pace = s.work.pace_s_per_km[0]  # type: ignore[index]
            why = f"race day: {format_pace(pace)} is the race pace of VDOT {z.vdot:.1f}"
            return NextWorkout(d, "race", s.distance_m, pace, s.duration_s, predicted_pace_s_per_km=pred,
                               ref_pace_s_per_km=ref, weekly_target_m=V, reason=why, session=s)
        kind = "easy" if kind == "easy-short" else kind
        if kind in ("easy", "long"):
            pace = self.easy_pace(pred)
            if kind == "long":
                pace = max(pace, 0.5 * sum(z.easy))
            s.work.pace_s_per_km = (pace - EASY_BAND_S, pace + EASY_BAND_S)
            why = (f"{kind} at {format_pace(pace)}: the pace model's {format_pace(pred)}"
                   + (" within" if pred == pace else " moved into") + f" your E range ({pace_range(z.easy)})")
            if kind == "long":
                why += f"; {s.distance_m / V:.0%} of the week's {V / 1000:.1f} km"
            if self.race_date and 0 < (self.race_date - d).days <= self.rules.easy_only_days_before_race:
                why += "; short: race in two days" if (self.race_date - d).days == 2 else "; short: taper"
            elif self.race_date and d > self.race_date:
                why += "; short: after the race"
            return NextWorkout(d, kind, s.distance_m, pace, s.distance_m / 1000.0 * pace, predicted_pace_s_per_km=pred,
                               ref_pace_s_per_km=ref, weekly_target_m=V, reason=why, session=s)
        zone, name = (z.threshold, "T (threshold)") if kind == "tempo" else (z.interval, "I (VO2max)")
        why = (f"{kind}: work at your {name} pace {pace_range(zone)} from {z.source.split(':')[0]}; "
               f"no hard day before or after it; the pace model expects {ratio_text(pred, ref)} here")
        return NextWorkout(d, kind, s.distance_m, s.duration_s / s.distance_m * 1000.0, s.duration_s,
                           predicted_pace_s_per_km=pred, ref_pace_s_per_km=ref, weekly_target_m=V, reason=why, session=s)


def _count(n: int, noun: str) -> str:
    """``1 Monday``, ``3 Mondays``."""
    return f"{int(n)} {noun}{'' if int(n) == 1 else 's'}"


def ratio_text(pred: float, ref: float) -> str:
    """``5:10/km, 0.95 x your recent median pace`` (the median of the runs the model read)."""
    return f"{format_pace(pred)}, {pred / ref:.2f} x the median pace of your recent runs"


def _add_hr(plan: list[NextWorkout], hr_model: Any) -> None:
    """Expected HR of each run and of each session's work step (one HR-model load)."""
    if hr_model is False or not any(not w.is_rest for w in plan):
        return
    if hr_model is None:
        try:
            from sub3coach.hr.artifact import load_model

            hr_model = load_model()
        except Exception as exc:  # noqa: BLE001 - optional: say it once, plan without HR
            log.warning("expected HR unavailable (HR model: %s)", " ".join(str(exc).split()) or type(exc).__name__)
            return
    for w in plan:
        if w.is_rest:
            continue
        w.expected_hr_bpm = expected_hr_bpm(w.distance_m, w.pace_s_per_km or 0.0, hr_model)
        s = w.session
        if s is not None and s.is_structured and s.work.mid_pace:
            s.work.expected_hr_bpm = steady_hr_bpm(s.work.mid_pace, hr_model)


def plan_week(
    history: pd.DataFrame,
    as_of: date | datetime | str | None = None,
    race_date: date | datetime | str | None = None,
    model: Any = None,
    *,
    hr_model: Any = None,
    rules: CoachRules = DEFAULT_RULES,
    race_distance_m: float = MARATHON_M,
    zones: Zones | None = None,
) -> WeekPlan:
    """Seven days from ``as_of`` (default today, UTC), rest days included (module docs).

    Args:
        history: one runner's history (:mod:`sub3coach.plan.history`); runs on or after
            ``as_of`` are ignored.
        as_of: the first planned day.
        race_date: taper before this day (on or after ``as_of``).
        model: a pace model (:class:`~sub3coach.plan.train.PlanModel`); None = bundled default.
        hr_model: HR model for the expected HR (None = bundled default, False = none).
        rules: the coach rules; race_distance_m: the race's distance, metres.
        zones: the runner's training paces (e.g. from their athlete profile); None = from the
            history's best efforts (:func:`~sub3coach.plan.sessions.vdot_from_history`).

    Raises:
        Sub3Error: empty history, no runs before ``as_of``, a race date before ``as_of``, bad dates.
    """
    start = _as_date(as_of) or datetime.now(timezone.utc).date()
    rd = _as_date(race_date)
    wk = _Week(history, start, rd, model, rules, race_distance_m, zones)
    days = [start + timedelta(days=k) for k in range(7)]
    out = wk.build(days)
    _add_hr(out, hr_model)
    return WeekPlan(out, wk.volume, wk.zones, wk.form, wk.uid, rd, wk.notes)


def suggest_next(
    history: pd.DataFrame,
    as_of: date | datetime | str | None = None,
    race_date: date | datetime | str | None = None,
    model: Any = None,
    *,
    hr_model: Any = None,
    rules: CoachRules = DEFAULT_RULES,
    race_distance_m: float = MARATHON_M,
    zones: Zones | None = None,
    max_weeks: int = 3,
) -> NextWorkout:
    """The next run: the first run of :func:`plan_week` from ``as_of`` (the same object), or of
    the week after when a week holds none (e.g. a taper's rest days; at most ``max_weeks``)."""
    start = _as_date(as_of) or datetime.now(timezone.utc).date()
    for k in range(max_weeks):
        plan = plan_week(history, start + timedelta(days=7 * k), race_date, model, hr_model=hr_model, rules=rules,
                         race_distance_m=race_distance_m, zones=zones)
        if plan.next_run is not None:
            return plan.next_run
    raise Sub3Error(f"the training rules allow no run in the {7 * max_weeks} days from {start}")
