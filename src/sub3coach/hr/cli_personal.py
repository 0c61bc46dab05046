"""``sub3 hr personalize`` and ``sub3 hr pace``, and how every ``hr`` command finds *your* model.

:func:`resolve_personal` is the one rule: an explicit ``--model`` that is personalised is used
as it is; otherwise, unless ``--cold``, the library's athlete (``--athlete``, or the only one)
gets their cached personal model (:func:`sub3coach.hr.personalize.library_personal`), with the
max/resting HR they stated (flags first, then their profile). No library, or no run with HR,
is a cold start with whatever is stated.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from sub3coach.cli_common import JsonOpt, LibraryOpt, console, err_console, fail, print_json
from sub3coach.errors import Sub3Error
from sub3coach.hr.cli import ModelOpt, hr_app
from sub3coach.units import format_duration, format_pace

log = logging.getLogger(__name__)

AthleteOpt = Annotated[Optional[str], typer.Option("--athlete", "-a", help="Athlete of the library (default: the only one).")]
ColdOpt = Annotated[bool, typer.Option("--cold", help="Ignore your history: predict for an average runner.")]
MaxHrOpt = Annotated[Optional[float], typer.Option("--max-hr", min=100, max=240, help="Your maximum HR, BPM: zones, and a cold start (the highest HR your watch records in hard efforts).")]
RestHrOpt = Annotated[Optional[float], typer.Option("--resting-hr", min=25, max=120, help="Your resting HR, BPM (kept with a personal model; does not change predictions yet).")]


@dataclass
class PersonalContext:
    """Which personal parameters a command uses, and what to tell the user about them."""

    personal: Any = None  # sub3coach.hr.personal.Personal | None
    stated: dict[str, float | None] = field(default_factory=dict)
    athlete: str | None = None
    note: str = "cold start (an average runner)"
    zones_max_hr: float | None = None


def _profile_values(lib: Any, athlete: str) -> dict[str, float | None]:
    """Max/resting HR the athlete *stated* in their profile (estimated values come from runs,
    possibly the very run being predicted, so they are not used here)."""
    try:
        from sub3coach.athletes import profile
    except ImportError:  # pragma: no cover - profiles arrive with athletes
        return {}
    prof = profile(lib, athlete)
    out: dict[str, float | None] = {}
    for key in ("max_hr_bpm", "resting_hr_bpm"):
        pv = getattr(prof, key, None)
        if pv is not None and getattr(pv, "value", None) is not None and getattr(pv, "source", "default") == "stated":
            out[key] = float(pv.value)
    return out


def resolve_personal(lm: Any, library: Path | None, athlete: str | None, *, cold: bool, max_hr: float | None,
                     resting_hr: float | None, model_given: bool, before_s: float | None = None) -> PersonalContext:
    """The personal parameters for a prediction (see module docs); ``before_s`` (unix s): a run
    already done is predicted from the athlete's runs before it only."""
    from sub3coach.hr.personalize import library_personal

    from sub3coach.hr import personal as P

    stated = {"max_hr_bpm": max_hr, "resting_hr_bpm": resting_hr}
    if lm.personal is not None and model_given and not cold:
        who = (lm.meta.get("athlete") or {}).get("name") or "this model's runner"
        return PersonalContext(lm.personal, stated, who, f"personal model of {who} ({lm.personal.n_runs} runs)", max_hr)
    if cold:  # explicit: a personalised --model must not fall back on its own runner
        return PersonalContext(P.cold(lm.head or P.default_head(), stated), stated, None, "cold start (--cold)", max_hr)
    lib = _open_library(library, required=athlete is not None)
    if lib is None:
        return PersonalContext(None, stated, None, _cold_note(stated), max_hr)
    try:
        name = lib.resolve_athlete(athlete)
        prof = _profile_values(lib, name)
        stated = {k: (v if v is not None else prof.get(k)) for k, v in stated.items()}
        with err_console.status(f"personal model of {name}: reading runs with HR not seen before"):
            pers = library_personal(lm, lib, name, stated=stated, before_s=before_s)
        zones = max_hr if max_hr is not None else _profile_max_hr(lib, name)
    finally:
        lib.close()
    if pers.n_runs == 0:
        return PersonalContext(None, stated, name, f"{name}: no run with HR yet; " + _cold_note(stated), zones)
    return PersonalContext(pers, stated, name, f"personal model of {name} ({pers.n_runs} runs with HR)", zones)


def _profile_max_hr(lib: Any, athlete: str) -> float | None:
    """The max HR for zones from the athlete's profile (stated or estimated; None: unknown)."""
    from sub3coach.load import athlete_zones

    zones = athlete_zones(lib, athlete)
    return None if zones.assumed else zones.max_hr_bpm


def _cold_note(stated: dict[str, float | None]) -> str:
    known = [f"{k.split('_')[0]} HR {v:.0f}" for k, v in stated.items() if v is not None]
    return "cold start" + (f" with your {' and '.join(known)}" if known else " (an average runner)")


def _open_library(path: Path | None, *, required: bool) -> Any:
    """The library read-only, or None when there is none (an error only if ``required``)."""
    from sub3coach.library import Library, default_library_path

    p = Path(path) if path is not None else default_library_path()
    if not p.exists():
        if required:
            raise Sub3Error("no library here (import runs first, or give --library)", str(p))
        return None
    return Library(p, read_only=True)


# ---------------------------------------------------------------------------------------------
@hr_app.command("personalize")
def personalize_cmd(
    data: Annotated[Path, typer.Option("--data", help="Your runs: a workout file, a folder of them, a corpus Parquet or a library.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write your personal model (.pt).")],
    model: ModelOpt = None,
    athlete: AthleteOpt = None,
    max_hr: MaxHrOpt = None,
    resting_hr: RestHrOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the model to one runner's past runs with HR and write a personal model.

    Takes seconds: the population network is kept and only a few personal numbers (HR level,
    gain, drift, start from rest) are fitted, recent runs weighted more. Use it with
    `sub3 hr predict --model OUT`.

    \b
    Examples:
      sub3 hr personalize --data ~/Garmin/Activities/ --out me.pt --max-hr 188
      sub3 hr personalize --data runs.parquet --athlete d-4c3309 --out runner.pt
    """
    from sub3coach.hr.artifact import load_model, save_loaded
    from sub3coach.hr.personalize import personalize, stated_values

    try:
        lm = load_model(model)
        workouts, who = _runner_workouts(data, athlete)
        lp = personalize(lm, workouts, stated=stated_values(max_hr, resting_hr), athlete=who)
        save_loaded(out, lp)
    except Sub3Error as exc:
        raise fail(exc) from None
    assert lp.personal is not None
    th = dict(zip(("level_bpm", "gain", "drift_bpm_per_h", "start_bpm"), [round(float(v), 2) for v in lp.personal.theta]))
    res = {"model": str(out), "athlete": who, "runs": lp.personal.n_runs, "parameters": th}
    if as_json:
        print_json(res)
        return
    console.print(f"personal model of {who or 'this runner'} from {lp.personal.n_runs} runs with HR written to {out}", highlight=False)
    console.print("  " + ", ".join(f"{k} {v:+g}" for k, v in th.items()), highlight=False)


def _runner_workouts(data: Path, athlete: str | None) -> tuple[list[Any], str | None]:
    """The runs of one runner in ``data`` (files, folder, corpus or library)."""
    from sub3coach.hr.data import data_kind, iter_workouts

    if not data.exists():
        raise Sub3Error("no such file or folder", str(data))
    if data_kind(data) == "library":
        from sub3coach.library import Library

        lib = Library(data, read_only=True)
        try:
            name = lib.resolve_athlete(athlete)
            return list(lib.iter_workouts(sport="run", athlete=name)), name
        finally:
            lib.close()
    if data.is_dir() and not any(data.glob("*.parquet")):
        ws = _folder_runs(data)
    else:
        ws = list(iter_workouts(data))
    users = sorted({str(w.user_id) for w in ws if w.user_id})
    if athlete is not None:
        ws = [w for w in ws if str(w.user_id) == athlete]
        if not ws:
            raise Sub3Error(f"no runs of {athlete!r} here; runners: {', '.join(users[:10]) or 'none named'}", str(data))
    elif len(users) > 1:
        raise Sub3Error(f"holds runs of {len(users)} runners ({', '.join(users[:5])}{'...' if len(users) > 5 else ''}): "
                        "name one with --athlete", str(data))
    return ws, athlete or (users[0] if users else None)


WORKOUT_SUFFIXES: tuple[str, ...] = (".fit", ".gpx", ".tcx", ".fit.gz", ".gpx.gz", ".tcx.gz")


def _folder_runs(folder: Path) -> list[Any]:
    """Every run in the workout files below ``folder`` (unreadable files are skipped, logged)."""
    from sub3coach.io.dispatch import read_file

    out = []
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.name.lower().endswith(WORKOUT_SUFFIXES):
            try:
                out.extend(w for w in read_file(f) if w.sport in ("run", "unknown"))
            except Sub3Error as exc:
                log.warning("skipping %s", exc)
    return out


# ---------------------------------------------------------------------------------------------
@hr_app.command("pace")
def pace_cmd(
    course: Annotated[Path, typer.Option("--course", help="The race route (GPX track or route, FIT or TCX).")],
    max_hr: Annotated[float, typer.Option("--max-hr", min=80, max=240, help="The HR cap to stay under, BPM.")],
    model: ModelOpt = None,
    athlete: AthleteOpt = None,
    cold: ColdOpt = False,
    library: LibraryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The fastest grade-aware pace plan whose predicted HR stays under --max-hr.

    Paces follow the cost of running on each km's grade (slower uphill, faster downhill) and
    use your personal model when your library has runs with HR.

    \b
    Examples:
      sub3 hr pace --course marathon.gpx --max-hr 165
      sub3 hr pace --course 10k.gpx --max-hr 178 --json
    """
    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.pace import plan_pace
    from sub3coach.io.dispatch import read_course

    try:
        lm = load_model(model)
        ctx = resolve_personal(lm, library, athlete, cold=cold, max_hr=None, resting_hr=None, model_given=model is not None)
        plan = plan_pace(lm, read_course(course), max_hr, personal=ctx.personal, stated=ctx.stated)
    except Sub3Error as exc:
        raise fail(exc) from None
    if as_json:
        print_json({**plan.to_dict(), "model": ctx.note})
        return
    tab = Table(title=f"pace plan under {max_hr:.0f} BPM ({ctx.note})")
    for c in ("km", "pace", "predicted max HR"):
        tab.add_column(c, justify="right")
    for s in plan.splits:
        tab.add_row(str(s["km"]), format_pace(s["pace_s_per_km"]), f"{s['hr_pred_max']:.0f}" if s["hr_pred_max"] else "-")
    console.print(tab)
    console.print(f"finish {format_duration(plan.finish_s)}, predicted HR at most {plan.hr_pred_max:.0f} BPM", highlight=False)
    if not plan.cap_reached:
        err_console.print(f"sub3: warning: the predicted HR stays under {max_hr:.0f} BPM even at the fastest pace tried: "
                          "the model cannot tell faster paces apart, so this plan is a bound, not a target", highlight=False)
