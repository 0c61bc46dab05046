"""A week plan to the calendar and the watch: an iCalendar file and FIT workout files.

* :func:`write_ics`: one all-day ``VEVENT`` per run (RFC 5545, written with the ``icalendar``
  package: escaping and 75-octet line folding), the summary ``Tempo 9.4 km`` and a description
  with the session's structure, paces, expected HR and why.
  Each event's UID is ``YYYYMMDD-<runner>@sub3coach``: one per day and runner, so a re-planned day
  replaces its event in a calendar that imports the file again, and two runners never collide.
* :func:`write_fit_workouts`: one FIT workout file per run, ``<runner>-YYYY-MM-DD-<type>.fit``
  (a re-plan removes that runner's files of the planned days first), written with ``fit-tool``: a
  ``file_id`` message of type workout, a ``workout`` message (sport running) and one
  ``workout_step`` per step, reps unrolled (warm-up, work, recovery jog, ..., cool-down). A step
  lasts a distance (metres) or a time (seconds); a step with a pace range targets the matching
  speed range (m/s: the slow end's speed is the low target), a jog is open.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sub3coach.errors import Sub3Error
from sub3coach.units import format_duration, format_pace

if TYPE_CHECKING:
    from datetime import date

    from sub3coach.plan.sessions import Session, Step
    from sub3coach.plan.suggest import NextWorkout, WeekPlan

log = logging.getLogger(__name__)


def slugify(name: str) -> str:
    """``name`` safe in a file name and a UID: ASCII letters and digits, lower case, ``-`` between
    words (``"Anna Müller"`` -> ``"anna-muller"``); ``"runner"`` when nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "runner"


def event_uid(plan: "WeekPlan", w: "NextWorkout") -> str:
    """The calendar UID of a planned day: stable per day and runner (not per workout type)."""
    return f"{w.date:%Y%m%d}-{slugify(plan.runner)}@sub3coach"


def describe(w: "NextWorkout") -> str:
    """The text of one run for a calendar: structure, distance, time, pace, HR, why (lines)."""
    lines = [w.structure, f"{w.distance_m / 1000:.1f} km, about {format_duration(w.duration_s)} "
                          f"at {format_pace(w.pace_s_per_km)} on average"]
    if w.expected_hr_bpm is not None:
        lines.append(f"expected HR {w.expected_hr_bpm:.0f} bpm")
    lines.append(f"why: {w.reason}")
    return "\n".join(lines)


def ics_bytes(plan: "WeekPlan", *, now: datetime | None = None) -> bytes:
    """The plan as an iCalendar document (one all-day VEVENT per run)."""
    from icalendar import Calendar, Event

    stamp = now or datetime.now(timezone.utc)
    cal = Calendar()
    cal.add("prodid", "-//sub3coach//plan week//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"sub3coach plan from {plan.days[0].date}")
    for w in plan:
        if w.is_rest:
            continue
        ev = Event()
        ev.add("uid", event_uid(plan, w))
        ev.add("dtstamp", stamp)
        ev.add("dtstart", w.date)
        ev.add("dtend", w.date + timedelta(days=1))
        ev.add("summary", f"{w.type.capitalize()} {w.distance_m / 1000:.1f} km")
        ev.add("description", describe(w))
        ev.add("categories", ["running", w.type])
        cal.add_component(ev)
    return cal.to_ical()


def write_ics(plan: "WeekPlan", path: str | Path) -> Path:
    """Write :func:`ics_bytes` to ``path``.

    Raises:
        Sub3Error: the file cannot be written."""
    p = Path(path)
    try:
        p.write_bytes(ics_bytes(plan))
    except OSError as exc:
        raise Sub3Error(f"cannot write the calendar: {exc.strerror or exc}", str(p)) from None
    return p


# --------------------------------------------------------------------------- FIT
def _fit_step(step: "Step", index: int, jog_pace: float):  # -> WorkoutStepMessage
    from sub3coach.plan.sessions import pace_range
    from fit_tool.profile.messages.workout_step_message import WorkoutStepMessage
    from fit_tool.profile.profile_type import Intensity, WorkoutStepDuration, WorkoutStepTarget

    m = WorkoutStepMessage()
    m.message_index = index
    m.intensity = {"warmup": Intensity.WARMUP, "cooldown": Intensity.COOLDOWN, "recovery": Intensity.RECOVERY,
                   "work": Intensity.INTERVAL}.get(step.kind, Intensity.ACTIVE)
    pace = f" @ {pace_range(step.pace_s_per_km)}" if step.pace_s_per_km else ""
    m.workout_step_name = f"{step.kind} {step.label()}{pace}"[:50]
    if step.distance_m is not None:
        m.duration_type = WorkoutStepDuration.DISTANCE
        m.duration_distance = float(step.distance_m)
    else:
        m.duration_type = WorkoutStepDuration.TIME
        m.duration_time = float(step.duration_s or 0.0)
    if step.pace_s_per_km is not None:
        fast, slow = step.pace_s_per_km
        m.target_type = WorkoutStepTarget.SPEED
        m.target_value = 0  # custom range, not a zone
        m.custom_target_speed_low = 1000.0 / slow
        m.custom_target_speed_high = 1000.0 / fast
    else:
        m.target_type = WorkoutStepTarget.OPEN
        m.target_value = 0
    return m


def fit_bytes(session: "Session", name: str, *, created: datetime | None = None) -> bytes:
    """One workout as a FIT file (module docs)."""
    from fit_tool.fit_file_builder import FitFileBuilder
    from fit_tool.profile.messages.file_id_message import FileIdMessage
    from fit_tool.profile.messages.workout_message import WorkoutMessage
    from fit_tool.profile.profile_type import FileType, Manufacturer, Sport

    fid = FileIdMessage()
    fid.type = FileType.WORKOUT
    fid.manufacturer = Manufacturer.DEVELOPMENT.value
    fid.product = 0
    fid.serial_number = 0x5B3C0AC1
    fid.time_created = round((created or datetime.now(timezone.utc)).timestamp() * 1000)
    steps = [_fit_step(s, i, session.jog_pace_s_per_km) for i, s in enumerate(session.steps())]
    wo = WorkoutMessage()
    wo.workout_name = name[:50]
    wo.sport = Sport.RUNNING
    wo.num_valid_steps = len(steps)
    builder = FitFileBuilder(auto_define=True, min_string_size=50)
    builder.add(fid)
    builder.add(wo)
    builder.add_all(steps)
    return builder.build().to_bytes()


def fit_name(runner: str, day: "date", kind: str) -> str:
    """File name of a FIT workout: ``<runner slug>-YYYY-MM-DD-<type>.fit``."""
    return f"{slugify(runner)}-{day:%Y-%m-%d}-{kind}.fit"


def stale_fit_files(folder: Path, plan: "WeekPlan") -> list[Path]:
    """The FIT workouts :func:`write_fit_workouts` wrote earlier into ``folder`` for this runner and
    the plan's days (its own name pattern only; other runners' and other files are left alone)."""
    days = {f"{w.date:%Y-%m-%d}" for w in plan}
    pat = re.compile(rf"{re.escape(slugify(plan.runner))}-(\d{{4}}-\d{{2}}-\d{{2}})-[a-z]+\.fit")
    return sorted(p for p in folder.iterdir() if p.is_file() and (m := pat.fullmatch(p.name)) and m.group(1) in days)


def write_fit_workouts(plan: "WeekPlan", folder: str | Path) -> list[Path]:
    """One FIT workout file per run of the plan in ``folder`` (created), named
    ``<runner>-YYYY-MM-DD-<type>.fit`` (:func:`fit_name`); the runner's files of the planned days
    written before (:func:`stale_fit_files`) are removed first, so a re-planned day leaves one file.
    Returns the paths.

    Raises:
        Sub3Error: the folder or a file cannot be written."""
    d = Path(folder)
    out = []
    try:
        d.mkdir(parents=True, exist_ok=True)
        for p in stale_fit_files(d, plan):
            p.unlink()
        for w in plan:
            if w.is_rest or w.session is None:
                continue
            name = f"{w.date:%a %d %b} {w.session.name or w.type}"
            p = d / fit_name(plan.runner, w.date, w.type)
            p.write_bytes(fit_bytes(w.session, name))
            out.append(p)
    except OSError as exc:
        raise Sub3Error(f"cannot write the FIT workouts: {exc.strerror or exc}", str(d)) from None
    log.info("wrote %d FIT workouts to %s", len(out), d)
    return out
