"""From predicted pace to a workout a coach would sign: the next run and a 7-day plan.

For a day ``D`` the pace model predicts the next run's pace ``p`` from the runs before ``D``;
with the runner's 28-day median pace ``r`` the ratio ``q = p / r`` picks the workout type and
its distance as in the seed system (a quick pace means a shorter run, a slow pace a long one):

=========================  ==========  =====================================
``q``                      type        wanted distance
=========================  ==========  =====================================
q <= 0.93                  interval    0.6 x usual run (``V / n``)
0.93 < q <= 0.97           tempo       0.8 x usual run
0.97 < q < 1.03            easy        1.0 x usual run
1.03 <= q < 1.08           long        0.30 x ``V``
q >= 1.08                  recovery    0.6 x usual run
=========================  ==========  =====================================

where ``V`` is the week's volume target (the cap below) and ``n`` the runner's usual runs per
week (runs in the last 28 days / 4, between 2 and 6). A "long" run the caps cut below 1.25 times
the runner's median run distance of the last 28 days is called easy.

Coach rules (:class:`CoachRules`), checked on calendar days (history days and planned days
together):

* **volume**: the 7 days ending on ``D`` hold at most ``cap(D) = max(1.10 x base(D), 10 km) x
  taper(D)``, where ``base(D)`` is the runner's recent weekly level: the larger of the 7 days
  before that window and the average week of the 4 weeks before it (weekly volume grows by at
  most 10 % over the recent level, so one light week does not shrink the next to nothing; the
  10 km floor lets a runner restart after a break);
* **long run**: no run is longer than 30 % of ``cap(D)``;
* **no two hard days in a row**: hard = long, tempo, interval, race; after a hard day a hard
  suggestion becomes easy (pace no faster than the runner's recent easy pace);
* **at most two quality days in any 7 days** (tempo, interval, race, the coming race day
  included; the same downgrade when the 7-day window already holds two): with the long run,
  three hard days a week at most;
* **a rest day a week**: a day whose 6 previous days all had runs is a rest day;
* **taper** before ``race_date``: ``taper = 0.8`` 8-14 days out, ``0.6`` 3-7 days out; 2 days
  out only an easy run of at most half a usual run; the day before is a rest day; race day is
  the race itself (exempt from the volume and 30 % rules).

Beyond the pace model: a tempo or interval suggestion is run at the runner's own median pace of
that type over the last 8 weeks when it is quicker than the predicted pace (a tempo at "a bit
quicker than usual" is not a tempo), and on the runner's usual long-run weekday (the weekday of
most of their long runs in the last 8 weeks, when there are at least two) an easy or recovery
day becomes the week's long run, at no quicker than their easy pace (unless a long run is
already in the 6 days before, or the race is at most 7 days away); until then the days before
keep room for it (30 % of that day's cap) and the day before it is not hard. Likewise a weekday the runner keeps for a tempo or
interval session (at least half of their runs on it in 8 weeks) gets that session at their own
pace for it. Every rule above still applies after these choices (a session after a hard day
becomes an easy run).

A run shorter than :attr:`CoachRules.min_run_m` is not worth suggesting: that day is a rest
day. The expected heart rate of a suggested run is the HR model's mean prediction over a flat
course of that distance at that pace (None, with a warning, when the HR model is unavailable).
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from sub3coach.errors import Sub3Error
from sub3coach.plan.history import (
    HARD_TYPES, HISTORY_COLUMNS, PACE_RANGE_S_PER_KM, add_features, drop_non_runs, epoch_days, make_examples,
)

log = logging.getLogger(__name__)

MARATHON_M = 42195.0
#: Hard types that are quality sessions (the long run is hard but not one of them).
QUALITY_TYPES: frozenset[str] = frozenset({"tempo", "interval", "race"})


@dataclass(frozen=True)
class CoachRules:
    """The training rules every suggestion obeys (see module docs)."""

    max_weekly_growth: float = 0.10
    long_run_max_fraction: float = 0.30
    min_weekly_cap_m: float = 10_000.0
    min_run_m: float = 3000.0
    max_quality_days_per_week: int = 2
    taper: tuple[tuple[int, float], ...] = ((7, 0.6), (14, 0.8))
    easy_only_days_before_race: int = 2


DEFAULT_RULES = CoachRules()


@dataclass
class NextWorkout:
    """One day's workout (a rest day has ``type == "rest"``, distance 0 and no pace).

    Attributes:
        date: the day (runner's calendar). type: recovery/easy/long/tempo/interval/race/rest.
        distance_m: metres. pace_s_per_km: target pace, s/km. duration_s: seconds.
        expected_hr_bpm: mean HR the HR model expects (flat course), or None.
        predicted_pace_s_per_km: the pace model's raw prediction; ref_pace_s_per_km: the
        runner's 28-day median pace; weekly_cap_m: this day's 7-day volume cap; reason: why.
    """

    date: date
    type: str
    distance_m: float
    pace_s_per_km: float | None
    duration_s: float
    expected_hr_bpm: float | None = None
    predicted_pace_s_per_km: float | None = None
    ref_pace_s_per_km: float | None = None
    weekly_cap_m: float | None = None
    reason: str = ""

    @property
    def is_rest(self) -> bool:
        return self.type == "rest"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["date"] = self.date.isoformat()
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 1)
        return d


# --------------------------------------------------------------------------- day bookkeeping
@dataclass
class _Days:
    """Distance and hardness per calendar day (history plus what has been planned)."""

    km: dict[date, float] = field(default_factory=dict)
    hard: dict[date, bool] = field(default_factory=dict)
    long: set[date] = field(default_factory=set)
    quality: set[date] = field(default_factory=set)

    @classmethod
    def from_history(cls, featured: pd.DataFrame) -> "_Days":
        out = cls()
        for day, d, t in zip(featured["start_time"].dt.date, featured["distance_m"], featured["type"]):
            out.km[day] = out.km.get(day, 0.0) + float(d)
            out.hard[day] = out.hard.get(day, False) or t in HARD_TYPES
            if t == "long":
                out.long.add(day)
            if t in QUALITY_TYPES:
                out.quality.add(day)
        return out

    def volume(self, first: date, last: date) -> float:
        """Metres run from ``first`` to ``last`` inclusive."""
        return sum(v for d, v in self.km.items() if first <= d <= last)

    def ran(self, day: date) -> bool:
        return self.km.get(day, 0.0) > 0

    def add(self, day: date, distance_m: float, kind: str) -> None:
        self.km[day] = self.km.get(day, 0.0) + distance_m
        self.hard[day] = self.hard.get(day, False) or kind in HARD_TYPES
        if kind == "long":
            self.long.add(day)
        if kind in QUALITY_TYPES:
            self.quality.add(day)


def weekly_cap_m(days: _Days, day: date, rules: CoachRules = DEFAULT_RULES, race_date: date | None = None) -> float:
    """The most the 7 days ending on ``day`` may hold, metres (growth rule, floor and taper)."""
    prev = days.volume(day - timedelta(days=13), day - timedelta(days=7))
    avg4 = days.volume(day - timedelta(days=34), day - timedelta(days=7)) / 4.0
    return max((1.0 + rules.max_weekly_growth) * max(prev, avg4), rules.min_weekly_cap_m) * taper_factor(day, race_date, rules)


def taper_factor(day: date, race_date: date | None, rules: CoachRules = DEFAULT_RULES) -> float:
    """Volume factor of the taper (1 outside it)."""
    if race_date is None:
        return 1.0
    to_race = (race_date - day).days
    if to_race <= 0:
        return 1.0
    for within, factor in rules.taper:
        if to_race <= within:
            return factor
    return 1.0


def type_from_ratio(q: float) -> str:
    """Workout type of a predicted pace / reference pace ratio (table in the module docs)."""
    if q <= 0.93:
        return "interval"
    if q <= 0.97:
        return "tempo"
    if q < 1.03:
        return "easy"
    if q < 1.08:
        return "long"
    return "recovery"


#: Window of the runner's own pace per workout type (tempo and interval suggestions), days.
OWN_PACE_DAYS: float = 56.0

_WANTED_FRACTION_OF_USUAL = {"interval": 0.6, "tempo": 0.8, "easy": 1.0, "recovery": 0.6}


# --------------------------------------------------------------------------- models
def expected_hr_bpm(distance_m: float, pace_s_per_km: float, hr_model: Any = None) -> float | None:
    """Mean HR the HR model predicts for a flat course of ``distance_m`` at ``pace_s_per_km``.

    ``hr_model``: a loaded HR model, ``None`` for the bundled default, ``False`` to skip.
    Returns None (and logs a warning) when the HR model cannot be loaded or used."""
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
        return float(hr.mean()) if hr.size else None
    except Exception as exc:  # noqa: BLE001 - the HR model is optional here: never crash a suggestion
        log.warning("expected HR unavailable (HR model: %s)", " ".join(str(exc).split()) or type(exc).__name__)
        return None


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


# --------------------------------------------------------------------------- planner
class _Planner:
    """Day-by-day planning state for one runner."""

    def __init__(self, history: pd.DataFrame, as_of: date, race_date: date | None, model: Any,
                 rules: CoachRules, race_distance_m: float) -> None:
        if history is None or len(history) == 0:
            raise Sub3Error("no runs in the history: import some runs first")
        missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
        if missing:
            raise Sub3Error(f"history table is missing column(s) {', '.join(missing)}")
        past = history[history["start_time"].dt.date < as_of]
        if past.empty:
            first = history["start_time"].min().date()
            raise Sub3Error(f"no runs before {as_of} (the history starts {first}): choose a later --as-of")
        self.rows = drop_non_runs(past[list(HISTORY_COLUMNS)])  # walks and rides count for nothing below
        if self.rows.empty:
            raise Sub3Error(f"no runs before {as_of} once walks and rides are left out")
        self.featured = add_features(self.rows, clean=False)
        self.days = _Days.from_history(self.featured)
        self.model = _resolve_model(model)
        self.rules = rules
        self.race_date = race_date
        self.race_distance_m = race_distance_m
        last = self.rows["start_time"].max()
        if (pd.Timestamp(as_of, tz="UTC") - last).days > 28:
            log.warning("the last run is %s, more than 4 weeks before %s: planning as a restart", last.date(), as_of)
        recent = self.rows[self.rows["start_time"] >= pd.Timestamp(as_of, tz="UTC") - pd.Timedelta(days=28)]
        self.runs_per_week = int(min(6, max(2, round(len(recent) / 4.0))))
        self.median_distance_m = float(np.median((recent if len(recent) else self.rows.tail(10))["distance_m"]))
        hours = self.rows["start_time"].dt.hour + self.rows["start_time"].dt.minute / 60.0
        self.hour = float(np.median(hours.to_numpy()[-30:]))
        self.uid = str(self.rows["user_id"].iloc[-1])
        self.long_weekday = self._long_weekday(as_of)
        self.session_days = self._session_days(as_of)

    def _long_weekday(self, as_of: date) -> int | None:
        """Weekday (0 = Monday) of most of the runner's long runs in the last 8 weeks (None
        with fewer than two)."""
        recent = self.recent_runs(as_of)
        recent = recent[recent["type"] == "long"]
        if len(recent) < 2:
            return None
        return int(recent["start_time"].dt.day_of_week.value_counts().idxmax())

    def _session_days(self, as_of: date) -> dict[int, str]:
        """Weekdays (0 = Monday) the runner keeps for a quality session: in the last 8 weeks at
        least 3 runs on that weekday, and at least half of them of one type, tempo or interval."""
        recent = self.recent_runs(as_of)
        out: dict[int, str] = {}
        for wd, g in recent.groupby(recent["start_time"].dt.day_of_week):
            counts = g["type"].value_counts()
            kind = max(("tempo", "interval"), key=lambda k: int(counts.get(k, 0)))
            if len(g) >= 3 and int(counts.get(kind, 0)) >= 0.5 * len(g):
                out[int(wd)] = kind
        return out

    def recent_runs(self, day: date) -> pd.DataFrame:
        """The runner's runs (history and plan, with features) in the :data:`OWN_PACE_DAYS` days
        before ``day``."""
        f = self.featured
        return f[f["start_time"] >= pd.Timestamp(day, tz="UTC") - pd.Timedelta(days=OWN_PACE_DAYS)]

    def long_allowed(self, day: date) -> bool:
        """Whether a long run may go on ``day``: not in the last week before the race."""
        to_race = (self.race_date - day).days if self.race_date else None
        return to_race is None or to_race < 0 or to_race > 7

    def long_in_week_before(self, day: date) -> bool:
        """Whether a long run is in the 6 days before ``day`` (history or plan)."""
        return any(day - timedelta(days=k) in self.days.long for k in range(1, 7))

    def quality_days_before(self, day: date) -> int:
        """Quality days (tempo, interval, race) among the 6 days before ``day``."""
        return sum(day - timedelta(days=k) in self.days.quality for k in range(1, 7))

    # ----- model
    def predict(self, day: date) -> tuple[float, float]:
        """(predicted pace, reference pace) for ``day``, s/km."""
        t = epoch_days(pd.Series([pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=self.hour)]))
        ex = make_examples(self.featured, targets=list(t), allow_stale=True)
        if not len(ex):
            raise Sub3Error(f"no runs before {day} to predict from")
        pace = float(self.model.predict_pace(ex)[0])
        lo, hi = PACE_RANGE_S_PER_KM
        return min(max(pace, lo), hi), float(ex.ref_pace[0])

    def easy_pace(self, ref: float) -> float:
        recent = self.featured.tail(40)
        easy = recent.loc[recent["type"].isin(["easy", "recovery"]), "pace_s_per_km"]
        return float(np.median(easy)) if len(easy) >= 3 else ref * 1.03

    def own_pace(self, kind: str, day: date) -> float | None:
        """The runner's median pace of their runs of type ``kind`` in the
        :data:`OWN_PACE_DAYS` days before ``day`` (None with fewer than 2 such runs), s/km."""
        recent = self.recent_runs(day)
        sel = recent.loc[recent["type"] == kind, "pace_s_per_km"]
        return float(np.median(sel)) if len(sel) >= 2 else None

    # ----- one day
    def day_workout(self, day: date, *, want_run: bool = True) -> NextWorkout:
        """The workout for ``day`` under the rules (a rest day when they say so)."""
        r = self.rules

        def rest(reason: str) -> NextWorkout:
            return NextWorkout(day, "rest", 0.0, None, 0.0, reason=reason)

        to_race = (self.race_date - day).days if self.race_date else None
        if to_race == 0:
            pred, ref = self.predict(day)
            pace, reason = pred, "race day (pace: pace model)"
            try:
                from sub3coach.plan.race import predict_race

                rp = predict_race(self.rows, self.race_distance_m, as_of=datetime.combine(day, datetime.min.time(), timezone.utc),
                                  clean=False)  # self.rows are cleaned already
                pace, reason = rp.vdot_time_s / (self.race_distance_m / 1000.0), f"race day (pace: VDOT {rp.vdot:.1f})"
            except Sub3Error as exc:
                log.info("race pace from the pace model: %s", exc)
            pace = min(max(pace, PACE_RANGE_S_PER_KM[0]), PACE_RANGE_S_PER_KM[1])
            return NextWorkout(day, "race", self.race_distance_m, pace, self.race_distance_m / 1000.0 * pace,
                               predicted_pace_s_per_km=pred, ref_pace_s_per_km=ref, reason=reason)
        if to_race == 1:
            return rest("day before the race")
        if all(self.days.ran(day - timedelta(days=k)) for k in range(1, 7)):
            return rest("6 running days in a row")
        if not want_run:
            return rest("usual rest day")
        cap = weekly_cap_m(self.days, day, r, self.race_date)
        budget = cap - self.days.volume(day - timedelta(days=6), day - timedelta(days=1))
        limit = min(budget, r.long_run_max_fraction * cap)
        if limit < r.min_run_m:
            return rest(f"7-day cap {cap / 1000:.1f} km reached")
        pred, ref = self.predict(day)
        kind = type_from_ratio(pred / ref)
        pace = pred
        reason = f"pace {pred / ref:.2f} x 28-day median"
        hard_yesterday = self.days.hard.get(day - timedelta(days=1), False)
        easy_only = to_race is not None and 0 < to_race <= r.easy_only_days_before_race
        race_ahead = to_race is not None and 0 < to_race <= 6  # the race is a quality day of this 7-day window
        week_full = self.quality_days_before(day) + race_ahead >= r.max_quality_days_per_week
        long_done = self.long_in_week_before(day)
        to_long = (self.long_weekday - day.weekday()) % 7 if self.long_weekday is not None else 0
        long_day = day + timedelta(days=to_long)
        long_ahead = 0 < to_long and not self.long_in_week_before(long_day) and self.long_allowed(long_day)
        habit = False  # the type comes from the runner's weekly habit, with its own pace
        if to_long == 0 and self.long_weekday is not None and self.long_allowed(day) \
                and not (hard_yesterday or easy_only or long_done):
            kind = "long"
            pace = max(pred, self.easy_pace(ref))
            reason += "; your usual long-run day"
            habit = True
        elif kind in ("easy", "recovery") and day.weekday() in self.session_days:
            own = self.own_pace(self.session_days[day.weekday()], day)
            if own is not None:
                kind = self.session_days[day.weekday()]
                pace = min(pred, own)
                reason += f"; your usual {kind} day"
                habit = True
        before_long = long_ahead and to_long == 1
        if kind in HARD_TYPES and (hard_yesterday or easy_only or (week_full and kind in QUALITY_TYPES) or before_long):
            kind = "easy"
            pace = max(pred, self.easy_pace(ref))
            reason += "; easy: " + ("taper" if easy_only else "hard day before" if hard_yesterday
                                    else f"{r.max_quality_days_per_week} quality days in 7" if week_full and not before_long
                                    else "long run tomorrow")
        elif kind in ("tempo", "interval") and not habit:
            own = self.own_pace(kind, day)
            if own is not None and own < pace:  # a tempo is run at the runner's tempo pace, not at "a bit quicker"
                pace = max(own, PACE_RANGE_S_PER_KM[0])
                reason += f"; pace of your recent {kind} runs"
        if kind != "long" and long_ahead:
            # keep room in the long-run day's 7-day window for the long run
            cap_long = weekly_cap_m(self.days, long_day, r, self.race_date)
            room = (1.0 - r.long_run_max_fraction) * cap_long - self.days.volume(long_day - timedelta(days=6), day - timedelta(days=1))
            if room < r.min_run_m:
                return rest(f"room kept for the long run on {long_day:%a}")
            limit = min(limit, room)
        usual = cap / self.runs_per_week
        if kind == "long":
            wanted = r.long_run_max_fraction * cap
        else:
            wanted = _WANTED_FRACTION_OF_USUAL[kind] * usual
        if easy_only:
            wanted = min(wanted, 0.5 * usual)
        dist = min(wanted, limit)
        if dist < r.min_run_m:
            if limit >= r.min_run_m and not easy_only:
                dist = r.min_run_m
            else:
                return rest("too little volume left")
        dist = math.floor(dist / 100.0) * 100.0  # whole 100 m, never above the limit
        if dist < r.min_run_m:
            return rest("too little volume left")
        if kind == "long" and dist < 1.25 * self.median_distance_m:
            kind = "easy"  # the caps left no room for a run that is long for this runner
            reason += "; easy: too little volume for a long run"
        return NextWorkout(day, kind, dist, pace, dist / 1000.0 * pace, predicted_pace_s_per_km=pred,
                           ref_pace_s_per_km=ref, weekly_cap_m=cap, reason=reason)

    def commit(self, w: NextWorkout) -> None:
        """Add a planned run to the state (so later days see it)."""
        if w.is_rest:
            return
        self.days.add(w.date, w.distance_m, w.type)
        row = pd.DataFrame([{
            "user_id": self.uid, "start_time": pd.Timestamp(w.date, tz="UTC") + pd.Timedelta(hours=self.hour),
            "distance_m": w.distance_m, "duration_s": w.duration_s, "pace_s_per_km": w.pace_s_per_km,
            "elevation_gain_m": np.nan, "avg_hr_bpm": np.nan,
        }])
        self.rows = pd.concat([self.rows, row], ignore_index=True)
        self.featured = add_features(self.rows, clean=False)

    def usual_days(self, start: date) -> set[int]:
        """Offsets 0-6 from ``start`` of the runner's most frequent running weekdays (their usual
        long-run weekday always among them)."""
        recent = self.rows.tail(60)
        counts = np.bincount(recent["start_time"].dt.day_of_week.to_numpy(), minlength=7).astype(float)
        counts += 1e-3 * np.arange(7)[::-1]  # deterministic ties
        order = np.argsort(-counts).tolist()
        weekdays = set(order[: self.runs_per_week])
        if self.long_weekday is not None and self.long_weekday not in weekdays:  # the long run is the week's anchor
            weekdays = set(order[: self.runs_per_week - 1]) | {self.long_weekday}
        return {k for k in range(7) if (start + timedelta(days=k)).weekday() in weekdays}


def suggest_next(
    history: pd.DataFrame,
    as_of: date | datetime | str | None = None,
    race_date: date | datetime | str | None = None,
    model: Any = None,
    *,
    hr_model: Any = None,
    rules: CoachRules = DEFAULT_RULES,
    race_distance_m: float = MARATHON_M,
    max_days: int = 14,
) -> NextWorkout:
    """The next workout on or after ``as_of`` (default today, UTC) that the rules allow.

    Args:
        history: one runner's history (:mod:`sub3coach.plan.history`); runs on or after
            ``as_of`` are ignored.
        as_of: first day the workout may be on.
        race_date: plan a taper before this day.
        model: a pace model (:class:`~sub3coach.plan.train.PlanModel`); None = bundled default.
        hr_model: HR model for the expected HR (None = bundled default, False = none).
        rules: the coach rules; race_distance_m: the race's distance (race-day suggestion).

    Raises:
        Sub3Error: empty history, no runs before ``as_of``, bad dates.
    """
    start = _as_date(as_of) or datetime.now(timezone.utc).date()
    rd = _as_date(race_date)
    p = _Planner(history, start, rd, model, rules, race_distance_m)
    if rd is not None and rd >= start:  # a taper may rest every day until the race: the race is then next
        max_days = max(max_days, (rd - start).days + 1)
    for k in range(max_days):
        w = p.day_workout(start + timedelta(days=k))
        if not w.is_rest:
            w.expected_hr_bpm = expected_hr_bpm(w.distance_m, w.pace_s_per_km or 0.0, hr_model)
            return w
    raise Sub3Error(f"the training rules allow no run in the {max_days} days from {start}")


def plan_week(
    history: pd.DataFrame,
    as_of: date | datetime | str | None = None,
    race_date: date | datetime | str | None = None,
    model: Any = None,
    *,
    hr_model: Any = None,
    rules: CoachRules = DEFAULT_RULES,
    race_distance_m: float = MARATHON_M,
) -> list[NextWorkout]:
    """Seven days from ``as_of`` (default today), rest days included.

    Runs go on the runner's usual weekdays (as many as their usual runs per week, at most 6, so
    at least one rest day); each day is planned with the days before it (history and plan)
    under the rules of :func:`suggest_next`.
    """
    start = _as_date(as_of) or datetime.now(timezone.utc).date()
    rd = _as_date(race_date)
    p = _Planner(history, start, rd, model, rules, race_distance_m)
    usual = p.usual_days(start)
    out = []
    for k in range(7):
        w = p.day_workout(start + timedelta(days=k), want_run=k in usual)
        p.commit(w)
        out.append(w)
    for w in out:
        if not w.is_rest:
            w.expected_hr_bpm = expected_hr_bpm(w.distance_m, w.pace_s_per_km or 0.0, hr_model)
    return out
