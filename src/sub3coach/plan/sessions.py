"""Structured workouts at the runner's own paces: training zones from VDOT, and sessions made of steps.

**Zones** (:class:`Zones`) are Daniels' training paces of the runner's VDOT
(:mod:`sub3coach.plan.race`): the pace whose oxygen cost is a fraction of VDOT. Each zone is a
pace *range* (fast end, slow end), s/km:

=========  ==========================  ==============================================
zone       fraction of VDOT            used for
=========  ==========================  ==============================================
E (easy)   0.65 - 0.74                 easy runs, long runs, warm-up, cool-down
T          0.86 - 0.90 (centre 0.88)   tempo sessions (Daniels' threshold pace)
I          0.96 - 0.99 (centre 0.975)  interval sessions (VO2max pace)
=========  ==========================  ==============================================

The runner's VDOT comes from (:func:`vdot_from_threshold_pace`) their athlete profile's threshold
pace (stated or estimated: a 60-minute effort at that pace), or (:func:`vdot_from_history`)
their best recent efforts: the VDOT of every run of 3-42 km in the last 12 weeks taken as an
all-out effort, the *second* highest of them (one GPS glitch cannot set it; the highest when
fewer than three runs qualify), but no lower than the VDOT at which the runner's median pace of
the last 8 weeks costs 78 % of VDOT (a runner who never races shows no all-out effort; their
everyday pace is then taken as a steady run, between Daniels' E and M).

**Sessions** (:class:`Session`): an optional warm-up, a main set of ``reps`` x a work step with
an optional recovery jog between reps, an optional cool-down. Steps last a distance (metres) or
a time (seconds) and target a pace range. Easy and long runs are one step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sub3coach.errors import Sub3Error
from sub3coach.plan.race import oxygen_cost, velocity_at, vdot
from sub3coach.units import format_pace

#: Fractions of VDOT of each zone's (fast end, slow end).
ZONE_FRACTIONS: dict[str, tuple[float, float]] = {"E": (0.74, 0.65), "T": (0.90, 0.86), "I": (0.99, 0.96)}
#: Runs considered as efforts for the history VDOT: distance range (m) and look-back windows (days).
EFFORT_DISTANCE_M: tuple[float, float] = (3000.0, 42_500.0)
EFFORT_DAYS: tuple[float, ...] = (84.0, 365.0)
#: Plausible VDOT range (a run outside it is a glitch or not a run).
VDOT_RANGE: tuple[float, float] = (15.0, 85.0)
#: Fraction of VDOT at which a runner's median training pace is taken to be run (a floor of the VDOT).
STEADY_FRACTION: float = 0.78


def _pace_at(fraction: float, vdot_value: float) -> float:
    """Pace (s/km) whose oxygen cost is ``fraction`` x VDOT."""
    return 60_000.0 / velocity_at(fraction * vdot_value)


@dataclass(frozen=True)
class Zones:
    """A runner's training paces, s/km, each as (fast end, slow end); ``source`` says where the
    VDOT came from (a sentence true for the data it names)."""

    vdot: float
    source: str
    easy: tuple[float, float]
    threshold: tuple[float, float]
    interval: tuple[float, float]

    @classmethod
    def from_vdot(cls, vdot_value: float, source: str) -> "Zones":
        """Zones of a VDOT (fractions in :data:`ZONE_FRACTIONS`)."""
        v = float(np.clip(vdot_value, *VDOT_RANGE))
        rng = {k: (_pace_at(a, v), _pace_at(b, v)) for k, (a, b) in ZONE_FRACTIONS.items()}
        return cls(vdot=v, source=source, easy=rng["E"], threshold=rng["T"], interval=rng["I"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``vdot``, ``source`` and each zone as ``[fast, slow]`` s/km."""
        return {"vdot": round(self.vdot, 1), "source": self.source,
                **{f"{k}_s_per_km": [round(x, 1) for x in getattr(self, k)] for k in ("easy", "threshold", "interval")}}


def vdot_from_threshold_pace(pace_s_per_km: float) -> float:
    """VDOT of a runner whose threshold pace (the pace held for 60 minutes) is ``pace_s_per_km``."""
    if not pace_s_per_km or pace_s_per_km <= 0:
        raise Sub3Error("threshold pace must be positive")
    return vdot(3_600_000.0 / pace_s_per_km, 3600.0)


def vdot_from_history(history: pd.DataFrame, as_of: pd.Timestamp) -> tuple[float, str]:
    """(VDOT, why) from the runner's best recent efforts before ``as_of`` (see the module docs).

    ``history``: one runner's runs (``start_time``, ``distance_m``, ``duration_s``), walks and
    rides already left out. Without a run of 3-42 km in the year, the median-pace floor alone
    sets it (the lowest VDOT of :data:`VDOT_RANGE` without any run)."""
    lo, hi = EFFORT_DISTANCE_M
    for days in EFFORT_DAYS:
        sel = history[(history["start_time"] < as_of) & (history["start_time"] >= as_of - pd.Timedelta(days=days))
                      & history["distance_m"].between(lo, hi)]
        scores = [(vdot(float(d), float(t)), i) for i, d, t in zip(sel.index, sel["distance_m"], sel["duration_s"]) if t > 0]
        scores = sorted(s for s in scores if VDOT_RANGE[0] <= s[0] <= VDOT_RANGE[1])
        if scores:
            k = -2 if len(scores) >= 3 else -1
            v, i = scores[k]
            run = history.loc[i]
            which = "second-best" if k == -2 else "best"
            weeks = f"{days / 7:.0f} weeks"
            why = (f"VDOT {v:.1f}: {which} of {len(scores)} runs of 3-42 km in the last {weeks} "
                   f"({run['distance_m'] / 1000:.1f} km at {format_pace(run['duration_s'] / run['distance_m'] * 1000)} "
                   f"on {pd.Timestamp(run['start_time']).date()})")
            return _with_floor(v, why, history, as_of)
    return _with_floor(VDOT_RANGE[0], f"no run of 3-42 km in the last year: VDOT {VDOT_RANGE[0]:g}", history, as_of)


def _with_floor(v: float, why: str, history: pd.DataFrame, as_of: pd.Timestamp) -> tuple[float, str]:
    """Raise an effort VDOT to the :data:`STEADY_FRACTION` floor of the runner's median pace (the
    median of the runs of the last 8 weeks, else of the last 20 runs): a runner who never races
    runs their efforts below their level, and their everyday pace is no slower than easy."""
    past = history[history["start_time"] < as_of]
    recent = past[past["start_time"] >= as_of - pd.Timedelta(days=56)]
    recent = recent if len(recent) >= 3 else past.tail(20)
    if recent.empty:
        return v, why
    med = float(np.median(recent["pace_s_per_km"]))
    floor = oxygen_cost(60_000.0 / med) / STEADY_FRACTION
    if floor <= v or not VDOT_RANGE[0] <= floor <= VDOT_RANGE[1]:
        return v, why
    return floor, (f"VDOT {floor:.1f}: your median pace {format_pace(med)} over {len(recent)} recent runs taken as a steady "
                   f"run ({STEADY_FRACTION:.0%} of VDOT; your best efforts alone give {v:.1f})")


# --------------------------------------------------------------------------- sessions
@dataclass
class Step:
    """One step: ``kind`` warmup / run / work / recovery / cooldown; lasts ``distance_m`` metres
    or ``duration_s`` seconds; ``pace_s_per_km`` (fast, slow) target, None = open (a jog);
    ``expected_hr_bpm``: mean HR the HR model expects on it (work steps), or None."""

    kind: str
    distance_m: float | None = None
    duration_s: float | None = None
    pace_s_per_km: tuple[float, float] | None = None
    expected_hr_bpm: float | None = None

    @property
    def mid_pace(self) -> float | None:
        """Centre of the pace range, s/km."""
        return None if self.pace_s_per_km is None else 0.5 * (self.pace_s_per_km[0] + self.pace_s_per_km[1])

    def length(self, jog_pace: float) -> tuple[float, float]:
        """(metres, seconds) of the step; an open step is run at ``jog_pace`` s/km."""
        pace = self.mid_pace or jog_pace
        if self.distance_m is not None:
            return self.distance_m, self.distance_m / 1000.0 * pace
        return float(self.duration_s or 0.0) / pace * 1000.0, float(self.duration_s or 0.0)

    def label(self) -> str:
        """``1 km``, ``800 m``, ``20:00``."""
        if self.distance_m is not None:
            d = self.distance_m
            if d < 1000:
                return f"{d:.0f} m"
            return f"{d / 1000:g} km" if d % 100 == 0 else f"{d / 1000:.1f} km"
        s = int(round(self.duration_s or 0))
        return f"{s // 60}:{s % 60:02d}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "distance_m": _r(self.distance_m), "duration_s": _r(self.duration_s),
                "pace_s_per_km": None if self.pace_s_per_km is None else [round(x, 1) for x in self.pace_s_per_km],
                "expected_hr_bpm": _r(self.expected_hr_bpm)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 1)


def pace_range(p: tuple[float, float]) -> str:
    """``4:05-4:12/km`` (``4:05/km`` when both ends are the same)."""
    if round(p[0]) == round(p[1]):
        return format_pace(p[0])
    return f"{format_pace(p[0]).replace('/km', '')}-{format_pace(p[1])}"


@dataclass
class Session:
    """A structured workout: ``warmup``, ``reps`` x (``work`` + ``recovery``), ``cooldown``.

    ``jog_pace_s_per_km`` is the pace assumed for open (jog) steps when converting time to
    distance. There is no recovery after the last rep."""

    type: str
    work: Step
    reps: int = 1
    recovery: Step | None = None
    warmup: Step | None = None
    cooldown: Step | None = None
    jog_pace_s_per_km: float = 420.0
    name: str = ""

    def steps(self) -> list[Step]:
        """All steps in order, reps unrolled (no recovery after the last)."""
        out = [self.warmup] if self.warmup else []
        for k in range(self.reps):
            out.append(self.work)
            if self.recovery is not None and k < self.reps - 1:
                out.append(self.recovery)
        return out + ([self.cooldown] if self.cooldown else [])

    @property
    def distance_m(self) -> float:
        """Total distance, metres (time steps converted at their pace)."""
        return float(sum(s.length(self.jog_pace_s_per_km)[0] for s in self.steps()))

    @property
    def duration_s(self) -> float:
        """Total time, seconds."""
        return float(sum(s.length(self.jog_pace_s_per_km)[1] for s in self.steps()))

    @property
    def is_structured(self) -> bool:
        """More than one step (a quality session)."""
        return len(self.steps()) > 1

    def describe(self) -> str:
        """``2 km WU, 5 x 1 km @ 4:05-4:12/km / 2:00 jog, 2 km CD`` (or ``8.4 km @ 5:40-6:20/km``)."""
        parts = []
        if self.warmup:
            parts.append(f"{self.warmup.label()} WU")
        main = f"{self.work.label()} @ {pace_range(self.work.pace_s_per_km)}" if self.work.pace_s_per_km else self.work.label()
        if self.reps > 1:
            main = f"{self.reps} x {main}"
            if self.recovery is not None:
                main += f" / {self.recovery.label()} jog"
        parts.append(main)
        if self.cooldown:
            parts.append(f"{self.cooldown.label()} CD")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready structure: ``type``, ``description``, ``warmup``/``work``/``recovery``/
        ``cooldown`` steps (or null), ``reps``, total ``distance_m`` and ``duration_s``."""
        return {"type": self.type, "name": self.name, "description": self.describe(), "reps": self.reps,
                **{k: (getattr(self, k).to_dict() if getattr(self, k) else None) for k in ("warmup", "work", "recovery", "cooldown")},
                "distance_m": round(self.distance_m, 1), "duration_s": round(self.duration_s, 1)}


def _round_to(x: float, step: float) -> float:
    return max(step, round(x / step) * step)


def steady_run(kind: str, distance_m: float, pace: tuple[float, float], jog_pace: float) -> Session:
    """An easy, recovery or long run: one step of ``distance_m`` (whole 100 m) in a pace range."""
    d = math.floor(distance_m / 100.0) * 100.0
    return Session(kind, Step("run", distance_m=d, pace_s_per_km=pace), jog_pace_s_per_km=jog_pace,
                   name=f"{kind.capitalize()} {d / 1000:.1f} km")


def _wu_cd(total_m: float) -> float:
    """Warm-up (= cool-down) distance of a session of about ``total_m`` metres: 20 % of it each,
    1-3 km in whole 0.5 km."""
    return float(np.clip(_round_to(0.2 * total_m, 500.0), 1000.0, 3000.0))


def tempo_session(total_m: float, zones: Zones) -> Session:
    """A threshold session of about ``total_m`` metres: warm-up and cool-down at E pace, then
    10-40 minutes at T pace, continuous up to 20 minutes, else cruise reps of 8-10 minutes with
    1-minute jogs (Daniels: T work in one session at most ~10 % of the week, rests of 1 min)."""
    wu = _wu_cd(total_m)
    t_pace = 0.5 * sum(zones.threshold)
    jog = zones.easy[1]
    minutes = float(np.clip((total_m - 2 * wu) / 1000.0 * t_pace / 60.0, 10.0, 40.0))
    if minutes <= 20.0:
        reps, rep_min = 1, round(minutes)
    else:
        reps = int(math.ceil(minutes / 10.0))
        rep_min = round(minutes / reps)
    work = Step("work", duration_s=60.0 * rep_min, pace_s_per_km=zones.threshold)
    rec = Step("recovery", duration_s=60.0) if reps > 1 else None
    easy = zones.easy
    s = Session("tempo", work, reps=reps, recovery=rec, warmup=Step("warmup", distance_m=wu, pace_s_per_km=easy),
                cooldown=Step("cooldown", distance_m=wu, pace_s_per_km=easy), jog_pace_s_per_km=jog)
    s.name = f"Tempo {reps} x {rep_min} min" if reps > 1 else f"Tempo {rep_min} min"
    return s


def interval_session(total_m: float, zones: Zones, weekly_m: float) -> Session:
    """A VO2max session of about ``total_m`` metres: warm-up, reps of 3-5 minutes at I pace (1000 m
    when that takes at most 5 minutes, else 800 m), jogs of about the rep's time, cool-down.
    Work at I pace: 3-8 km and at most 8 % of the week (Daniels), at least 3 reps."""
    wu = _wu_cd(total_m)
    i_pace = 0.5 * sum(zones.interval)
    rep_m = 1000.0 if i_pace <= 300.0 else 800.0
    rep_s = rep_m / 1000.0 * i_pace
    jog_s = _round_to(0.8 * rep_s, 30.0)
    jog_m = jog_s / zones.easy[1] * 1000.0
    room = max(0.0, total_m - 2 * wu)
    reps = int(np.clip(math.floor((room + jog_m) / (rep_m + jog_m)), 3, max(3, min(8000.0, 0.08 * weekly_m) // rep_m)))
    work = Step("work", distance_m=rep_m, pace_s_per_km=zones.interval)
    s = Session("interval", work, reps=reps, recovery=Step("recovery", duration_s=jog_s),
                warmup=Step("warmup", distance_m=wu, pace_s_per_km=zones.easy),
                cooldown=Step("cooldown", distance_m=wu, pace_s_per_km=zones.easy), jog_pace_s_per_km=zones.easy[1])
    s.name = f"Intervals {reps} x {rep_m:g} m"
    return s

