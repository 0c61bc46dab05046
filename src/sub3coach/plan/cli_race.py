"""``sub3 plan race`` and ``sub3 plan race-evaluate``: race-time prediction (Riegel, Daniels VDOT,
HR-pace effective VO2max) and its score on real all-out efforts. Registered on ``plan_app``
(imported at the end of :mod:`sub3coach.plan.cli`)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from sub3coach.cli_common import AthleteOpt, JsonOpt, LibraryOpt, console, fail as _fail, print_json as _print_json
from sub3coach.errors import Sub3Error
from sub3coach.plan.cli import AsOfOpt, HistoryOpt, RunnerOpt, _date, _history, plan_app
from sub3coach.units import format_duration, format_pace

MaxHrOpt = Annotated[Optional[float], typer.Option("--max-hr", min=100, max=240,
                                                   help="Your max HR (BPM) for the HR-pace prediction. Default: the athlete profile, else estimated from the runs.")]


def _max_hr(max_hr: float | None, history: Path | None, library: Path | None, athlete: str | None) -> Any:
    """The max HR to use: ``--max-hr``, else the library athlete's profile value unless it is the
    population default (the profile's chain: stated, HR samples, average HRs, birth year), else
    None (a ``--history`` file: :func:`~sub3coach.plan.race.predict_race` applies the profile's
    average-HR estimate to it)."""
    from sub3coach.plan.race import MaxHr

    if max_hr is not None:
        return MaxHr(float(max_hr), "stated", "--max-hr")
    if history is not None:
        return None
    from sub3coach.athletes import max_hr as profile_max_hr
    from sub3coach.library import Library

    with Library(library, read_only=True) as lib:
        pv = profile_max_hr(lib, athlete)
    if pv.source == "default" or pv.value is None:
        return None
    return MaxHr(float(pv.value), pv.source, f"athlete profile: {pv.method}")


def _races(hist: Any, history: Path | None, when: datetime | None) -> Any:
    """The runner's all-out efforts up to ``when`` (named races when the history file names
    them): they give the HR-pace correction factor."""
    import pandas as pd

    from sub3coach.plan.race_eval import find_efforts, race_names

    end = pd.Timestamp(when or datetime.now(timezone.utc))
    names = race_names(history) if history is not None else {}
    uid = str(hist["user_id"].iloc[0]) if len(hist) else ""
    return find_efforts(hist[hist["start_time"] <= end], names.get(uid))


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 2)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    return x


def _race_table(pred: Any) -> Table:
    d = pred.distance_m
    t = Table(title=f"{d / 1000:.3f} km")
    for c in ("method", "time", "pace", "from"):
        t.add_column(c, justify="right" if c in ("time", "pace") else "left")
    basis = (f"your {pred.basis_distance_m / 1000:.1f} km in {format_duration(pred.basis_time_s)} on {pred.basis_date[:10]} "
             "(best VDOT of the last 56 days)")
    t.add_row("Riegel", format_duration(pred.riegel_time_s), format_pace(pred.riegel_time_s / (d / 1000)), basis)
    t.add_row(f"VDOT {pred.basis_vdot:.1f}", format_duration(pred.vdot_time_s), format_pace(pred.vdot_time_s / (d / 1000)), basis)
    hp = pred.hr_pace
    if pred.hr_time_s is None or hp is None:
        t.add_row("HR-pace", "-", "-", pred.hr_note or "no prediction")
    else:
        why = f"{hp.n_runs} runs with HR since {hp.since}, max HR {pred.max_hr.bpm:.0f} ({pred.max_hr.source})"
        if hp.factor_run_date:
            why += (f"; x{hp.correction_factor:.3f} from your race of {hp.factor_run_distance_m / 1000:.1f} km in "
                    f"{format_duration(hp.factor_run_time_s)} on {hp.factor_run_date[:10]}")
        else:
            why += "; no earlier race with HR: uncorrected"
        t.add_row(f"HR-pace {hp.vdot:.1f}", format_duration(pred.hr_time_s), format_pace(pred.hr_time_s / (d / 1000)), why)
    return t


@plan_app.command("race")
def race_cmd(
    distance: Annotated[str, typer.Argument(help="Race distance: 5k, 10k, half, marathon, 5000m, 10mi...", show_default=False)],
    history: HistoryOpt = None,
    library: LibraryOpt = None,
    runner: RunnerOpt = None,
    athlete: AthleteOpt = None,
    as_of: AsOfOpt = None,
    max_hr: MaxHrOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict a race time three ways: Riegel and Daniels VDOT from your best recent run, and
    HR-pace (effective VO2max from your runs' pace and heart rate, as Runalyze does); with VDOT
    training paces.

    Example: sub3 plan race half --history activities.csv
    """
    from sub3coach.plan.race import parse_distance, predict_race

    try:
        d = parse_distance(distance)
        hist = _history(history, library, runner, athlete)
        day = _date(as_of, "--as-of")
        when = datetime.combine(day, datetime.max.time(), timezone.utc) if day else None
        pred = predict_race(hist, d, as_of=when, max_hr=_max_hr(max_hr, history, library, athlete),
                            races=_races(hist, history, when))
    except Sub3Error as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(_rounded(pred.to_dict()))
        return
    console.print(_race_table(pred))
    if pred.max_hr is not None:
        console.print(f"max HR {pred.max_hr.bpm:.0f} BPM ({pred.max_hr.source}: {pred.max_hr.method})", markup=False, highlight=False)
    p = Table(title=f"VDOT training paces ({pred.runner_vdot_method})")
    for k in pred.training_paces_s_per_km:
        p.add_column(k, justify="right")
    p.add_row(*(format_pace(v) for v in pred.training_paces_s_per_km.values()))
    console.print(p)


_LABELS = {"riegel": "Riegel", "vdot": "VDOT", "hr_pace": "HR-pace", "hr_pace_uncorrected": "HR-pace raw"}


def _score_cell(s: dict[str, Any]) -> list[str]:
    if not s["n"]:
        return ["0", "-", "-", "-"]
    return [str(s["n"]), f"{s['mae_pct_mean']:.1f}", f"{s['mae_pct_median']:.1f}", f"{s['bias_pct_mean']:+.1f}"]


@plan_app.command("race-evaluate")
def race_evaluate_cmd(
    data: Annotated[Path, typer.Option("--data", help="Folder (or file) of training histories.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Score Riegel, VDOT and HR-pace on every all-out effort in DATA (named races, or the fastest run
    of a 5k/10k/half/marathon band within 30 days that is in the runner's top 5 %), each predicted
    from the 8 weeks before it: error in % of the race time.

    Example: sub3 plan race-evaluate --data ../shared/data/histories --json
    """
    from sub3coach.plan.race_eval import METHODS, evaluate_race_dir

    try:
        res = evaluate_race_dir(data, progress=not as_json)
    except Sub3Error as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(res)
        return
    t = Table(title=f"Race prediction error, % of the race time: {res['overall']['n_efforts']} efforts of "
                    f"{res['overall']['n_runners']} runners (common: efforts every method predicts)")
    for c in ("band", "method", "n", "MAE", "median", "bias", "common MAE", "median"):
        t.add_column(c, justify="left" if c in ("band", "method") else "right")
    for name, block in [("all", res["overall"]), *res["bands"].items()]:
        label = f"{name} ({block['n_efforts']}; common {block['common']['n_efforts']})"
        for i, m in enumerate(METHODS):
            s, c = block["methods"][m], block["common"]["methods"][m]
            t.add_row(label if i == 0 else "", _LABELS[m], *_score_cell(s), *_score_cell(c)[1:3], end_section=i == len(METHODS) - 1)
    console.print(t)
    console.print(f"{res['n_efforts_skipped']} efforts skipped (fewer than 3 runs in the 8 weeks before)")
