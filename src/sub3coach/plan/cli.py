"""``sub3 plan``: next workout, a week's plan, race prediction, training and evaluation of the
pace model (a Typer sub-app the main CLI mounts).

Every command parses its flags, calls one library function and prints a Rich table or, with
``--json``, JSON. Errors a user can cause print one line on stderr and exit 1.
"""
from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from sub3coach.units import format_duration, format_pace
from sub3coach.cli_common import AthleteOpt, JsonOpt, LibraryOpt, console, fail as _fail, print_json as _print_json, typer_app
from sub3coach.errors import Sub3Error

plan_app = typer_app("plan", "Plan the next workout: pace model, coach rules, week plan, race prediction.")
log = logging.getLogger(__name__)

HistoryOpt = Annotated[Optional[Path], typer.Option("--history", help="A training-history file (Strava/Garmin/running_page/CSV) instead of the library.")]
RunnerOpt = Annotated[Optional[str], typer.Option("--runner", help="Runner id, when the history file holds several runners.")]
AsOfOpt = Annotated[Optional[str], typer.Option("--as-of", help="Plan from this day (YYYY-MM-DD; default today); later runs are ignored.")]
RaceDateOpt = Annotated[Optional[str], typer.Option("--race-date", help="Race day (YYYY-MM-DD): taper before it.")]
RaceDistOpt = Annotated[str, typer.Option("--race-distance", help="Race distance for --race-date (5k, 10k, half, marathon...).")]
ModelOpt = Annotated[Optional[Path], typer.Option("--model", "-m", help="Pace model artifact (.pt). Default: the bundled model.")]
NoHrOpt = Annotated[bool, typer.Option("--no-hr", help="Do not compute the expected heart rate.")]
PersonaliseOpt = Annotated[bool, typer.Option("--personalise", help="Fine-tune the pace model on your history first (needs 150 runs; takes a minute).")]


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        d = date.fromisoformat(text.strip())
    except ValueError:
        raise Sub3Error(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None
    if not 1980 <= d.year <= 2100:
        raise Sub3Error(f"{flag} {text!r} is outside 1980-2100")
    return d


def _history(history: Path | None, library: Path | None, runner: str | None, athlete: str | None = None) -> Any:
    """One runner's history table from ``--history`` or the library (``athlete``: whose runs;
    default the library's only athlete)."""
    from sub3coach.plan.history import load_histories

    if history is not None:
        runners = load_histories(history)
        if runner is not None:
            if runner not in runners:
                raise Sub3Error(f"no runner {runner!r} in this file (runners: {', '.join(list(runners)[:5])}...)", str(history))
            return runners[runner]
        if len(runners) > 1:
            raise Sub3Error(f"holds {len(runners)} runners; choose one with --runner (e.g. {next(iter(runners))})", str(history))
        return next(iter(runners.values()))
    from sub3coach.library import Library
    from sub3coach.plan.api import athlete_history

    with Library(library, read_only=True) as lib:
        return athlete_history(lib, athlete, runner)


def _model(model: Path | None, history: Any = None, personalise: bool = False) -> Any:
    from sub3coach.plan.train import fine_tune, load_plan_model

    lm = load_plan_model(model)
    if personalise and history is not None:
        lm = fine_tune(lm, history)
    return lm


def _workout_table(rows: list[Any], title: str) -> Table:
    t = Table(title=title)
    for c in ("date", "type", "distance", "avg pace", "time", "expected HR", "session", "why"):
        t.add_column(c, justify="right" if c in ("distance", "avg pace", "time", "expected HR") else "left")
    for w in rows:
        rest = w.is_rest
        hr = "-" if w.expected_hr_bpm is None else f"{w.expected_hr_bpm:.0f} bpm"
        work_hr = w.session.work.expected_hr_bpm if w.session is not None and w.session.is_structured else None
        if work_hr is not None:
            hr += f" (work {work_hr:.0f})"
        t.add_row(f"{w.date:%Y-%m-%d %a}", w.type, "-" if rest else f"{w.distance_m / 1000:.1f} km",
                  "-" if rest else format_pace(w.pace_s_per_km), "-" if rest else format_duration(w.duration_s),
                  hr, w.structure, w.reason)
    return t


def _plan(history: Path | None, library: Path | None, runner: str | None, athlete: str | None, as_of: str | None,
          race_date: str | None, race_distance: str, model: Path | None, personalise: bool, no_hr: bool) -> Any:
    """The week plan of ``plan next`` and ``plan week`` (one planner for both); a library's
    athlete gets the training paces of their profile (:func:`sub3coach.plan.api.week_plan`)."""
    from sub3coach.plan.race import parse_distance
    from sub3coach.plan.suggest import plan_week

    hist = _history(history, library, runner, athlete)
    day, rd, dist = _date(as_of, "--as-of"), _date(race_date, "--race-date"), parse_distance(race_distance)
    lm, hr = _model(model, hist, personalise), (False if no_hr else None)
    if history is not None:
        return plan_week(hist, as_of=day, race_date=rd, model=lm, hr_model=hr, race_distance_m=dist)
    from sub3coach.library import Library
    from sub3coach.plan.api import week_plan

    with Library(library, read_only=True) as lib:
        return week_plan(lib, athlete, day, rd, race_distance_m=dist, model=lm, hr_model=hr, history=hist)


@plan_app.command("next")
def next_cmd(
    history: HistoryOpt = None,
    library: LibraryOpt = None,
    runner: RunnerOpt = None,
    athlete: AthleteOpt = None,
    as_of: AsOfOpt = None,
    race_date: RaceDateOpt = None,
    race_distance: RaceDistOpt = "marathon",
    model: ModelOpt = None,
    personalise: PersonaliseOpt = False,
    no_hr: NoHrOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """The next run: the first run of `sub3 plan week` (date, type, session, pace, time, expected HR, why).

    Example: sub3 plan next --history activities.csv --as-of 2024-05-01 --race-date 2024-06-02
    """
    try:
        plan = _plan(history, library, runner, athlete, as_of, race_date, race_distance, model, personalise, no_hr)
        w = plan.next_run
        if w is None:
            raise Sub3Error(f"the week from {plan.days[0].date} holds no run (see: sub3 plan week)")
    except Sub3Error as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(w.to_dict())
        return
    console.print(_workout_table([w], "Next workout"))


@plan_app.command("week")
def week_cmd(
    history: HistoryOpt = None,
    library: LibraryOpt = None,
    runner: RunnerOpt = None,
    athlete: AthleteOpt = None,
    as_of: AsOfOpt = None,
    race_date: RaceDateOpt = None,
    race_distance: RaceDistOpt = "marathon",
    model: ModelOpt = None,
    personalise: PersonaliseOpt = False,
    no_hr: NoHrOpt = False,
    ics: Annotated[Optional[Path], typer.Option("--ics", help="Also write the week as an iCalendar file (one event per run).")] = None,
    fit_dir: Annotated[Optional[Path], typer.Option("--fit-workouts", help="Also write one FIT workout file per run into this folder (for Garmin and other watches).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Seven days of training from --as-of: structured sessions at your own paces, rest days, why.

    Example: sub3 plan week --history activities.csv --as-of 2024-05-01 --ics week.ics --fit-workouts week/
    """
    from sub3coach.plan.export import write_fit_workouts, write_ics

    try:
        plan = _plan(history, library, runner, athlete, as_of, race_date, race_distance, model, personalise, no_hr)
        written = [write_ics(plan, ics)] if ics is not None else []
        if fit_dir is not None:
            written += write_fit_workouts(plan, fit_dir)
    except Sub3Error as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(plan.to_dict())
        return
    console.print(_workout_table(plan.days, f"Week from {plan.days[0].date} ({plan.total_distance_m / 1000:.1f} km)"))
    console.print(f"volume: {plan.volume.reason}", markup=False, highlight=False)
    console.print(f"paces: {plan.zones.source}", markup=False, highlight=False)
    for n in plan.notes:
        console.print(n, markup=False, highlight=False)
    for p in written:
        console.print(f"wrote {p}", markup=False, highlight=False)


@plan_app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option("--data", help="Folder (or file) of training histories.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Where to write the model artifact (.pt).", show_default=False)],
    epochs: Annotated[int, typer.Option(min=1, help="Maximum epochs (early stopping may end sooner).")] = 15,
    seed: Annotated[int, typer.Option(help="Seed of the runner split and of training.")] = 0,
    members: Annotated[int, typer.Option(min=1, max=10, help="Train this many models (seeds SEED, SEED+1...) and average them.")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Train a pace model on a runner-disjoint split of DATA and evaluate it on the held-out runners.

    Example: sub3 plan train --data ../shared/data/histories --out plan.pt --epochs 10
    """
    from sub3coach.plan.evaluate import evaluate
    from sub3coach.plan.history import load_histories
    from sub3coach.plan.train import load_plan_model, save_plan_model, train_population

    try:
        runners = load_histories(data, strict=False)
        model = train_population(runners, seed=seed, epochs=epochs, members=members, progress=not as_json)
        test = {k: runners[k] for k in model.meta["split"]["test"]}
        path = save_plan_model(out, model)
        metrics = evaluate(load_plan_model(path), test) if test else {}  # score what was saved
        metrics.pop("per_runner", None)
        metrics.pop("model", None)
        path = save_plan_model(out, model, metrics={"test": metrics})
    except Sub3Error as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json({"out": str(path), "metrics": metrics, "data": model.meta.get("data")})
        return
    console.print(f"saved {path}")
    if metrics:
        console.print(f"held-out runners: pace MAE {metrics['pace_mae_s_per_km']:.1f} s/km; baselines "
                      + ", ".join(f"{k} {v:.1f}" for k, v in metrics["baselines"].items()))


@plan_app.command("evaluate")
def evaluate_cmd(
    data: Annotated[Path, typer.Option("--data", help="Folder (or file) of histories of runners to score.", show_default=False)],
    model: ModelOpt = None,
    include_seen: Annotated[bool, typer.Option("--include-seen", help="Also score runners the model was trained on.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Walk-forward pace MAE (s/km) on unseen runners, beside the baselines.

    Example: sub3 plan evaluate --data ../shared/data/histories --json
    """
    from sub3coach.plan.evaluate import evaluate
    from sub3coach.plan.history import load_histories

    try:
        res = evaluate(_model(model), load_histories(data, strict=False), include_seen=include_seen)
    except Sub3Error as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(res)
        return
    t = Table(title=f"Next-run pace MAE, {res['n_predictions']} runs of {res['n_runners']} unseen runners")
    t.add_column("predictor")
    t.add_column("MAE s/km", justify="right")
    t.add_row("transformer", f"{res['pace_mae_s_per_km']:.1f}")
    for k, v in res["baselines"].items():
        t.add_row(k, f"{v:.1f}")
    console.print(t)
    console.print(f"{res['improvement_vs_best_baseline_pct']:+.1f} % vs the best baseline ({res['best_baseline']})")


from sub3coach.plan import cli_race as _cli_race  # noqa: E402,F401  (registers `race` and `race-evaluate` on plan_app)
