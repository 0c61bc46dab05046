"""The week plan for an athlete of a library: what the CLI (``sub3 plan week --athlete``) and the
web app call.

``week_plan(lib, athlete)`` reads the athlete's runs, takes their training paces from their
profile (:func:`profile_zones`), and returns :func:`~sub3coach.plan.suggest.plan_week`'s
:class:`~sub3coach.plan.suggest.WeekPlan`; ``.to_dict()`` is the JSON of ``sub3 plan week --json``.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from sub3coach.plan.suggest import MARATHON_M, WeekPlan, plan_week
from sub3coach.plan.sessions import Zones, vdot_from_history, vdot_from_threshold_pace
from sub3coach.units import format_pace


class AthleteRuns:
    """A library seen through one athlete: what :func:`~sub3coach.plan.history.history_from_library` reads."""

    def __init__(self, lib: Any, athlete: str) -> None:
        self.lib, self.athlete, self.path = lib, athlete, lib.path

    def summaries(self, **kw: Any) -> Any:
        return self.lib.summaries(athlete=self.athlete, **kw)


def athlete_history(lib: Any, athlete: str | None, runner: str | None = None) -> pd.DataFrame:
    """The history table of ``athlete`` (None: the library's only athlete).

    Raises:
        Sub3Error: unknown athlete, several athletes and none named, no usable run."""
    from sub3coach.plan.history import history_from_library

    return history_from_library(AthleteRuns(lib, lib.resolve_athlete(athlete)), user_id=runner)


def profile_zones(lib: Any, athlete: str | None, history: pd.DataFrame, as_of: date | None) -> Zones | None:
    """Training zones from the athlete profile's threshold pace: a stated one wins; an estimated
    one unless the history's efforts before ``as_of`` show a higher VDOT. None when the profile
    has no threshold pace (the planner then takes the history's efforts)."""
    from sub3coach.athletes import profile
    from sub3coach.plan.history import drop_non_runs

    thr = profile(lib, athlete).threshold_pace_s_per_km
    if thr.value is None:
        return None
    v = vdot_from_threshold_pace(float(thr.value))
    why = f"VDOT {v:.1f}: your {thr.source} threshold pace {format_pace(float(thr.value))} ({thr.method})"
    if thr.source != "stated":
        end = pd.Timestamp(as_of or datetime.now(timezone.utc).date(), tz="UTC")
        past = history[history["start_time"] < end]
        if len(past):
            hv, hwhy = vdot_from_history(drop_non_runs(past), end)
            if hv > v:
                v, why = hv, hwhy + f" (above the {v:.1f} of your estimated threshold pace)"
    return Zones.from_vdot(v, why)


def week_plan(lib: Any, athlete: str | None = None, as_of: date | None = None, race_date: date | None = None, *,
              race_distance_m: float = MARATHON_M, model: Any = None, hr_model: Any = None,
              history: pd.DataFrame | None = None) -> WeekPlan:
    """Seven days for ``athlete`` of an open :class:`~sub3coach.library.Library` (module docs).

    ``model``: pace model (None = bundled); ``hr_model``: None = bundled HR model, False = no
    expected HR; ``history``: the athlete's history when already read. The plan's ``runner`` is the
    athlete's name (the calendar UIDs and FIT file names of :mod:`sub3coach.plan.export`)."""
    name, hist, zones = athlete_inputs(lib, athlete, as_of, history)
    return plan_for(name, hist, zones, as_of=as_of, race_date=race_date, model=model, hr_model=hr_model,
                    race_distance_m=race_distance_m)


def athlete_inputs(lib: Any, athlete: str | None, as_of: date | None = None,
                   history: pd.DataFrame | None = None) -> tuple[str, pd.DataFrame, Zones | None]:
    """What the planner reads from the library for ``athlete``: their name, history table and
    profile zones (the only library reads of :func:`week_plan`; the web app holds its lock for these)."""
    name = lib.resolve_athlete(athlete)
    hist = athlete_history(lib, name) if history is None else history
    return name, hist, profile_zones(lib, name, hist, as_of)


def plan_for(name: str, history: pd.DataFrame, zones: Zones | None, **kw: Any) -> WeekPlan:
    """:func:`~sub3coach.plan.suggest.plan_week` for athlete ``name`` (no library access); the
    plan's ``runner`` is the name."""
    plan = plan_week(history, zones=zones, **kw)
    plan.runner = name
    return plan
