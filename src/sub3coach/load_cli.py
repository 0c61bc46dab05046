"""``sub3 load``: training load (TRIMP, CTL/ATL/TSB, ramp, monotony, strain) of one athlete,
as a table, JSON, or the fitness/fatigue/form chart (:mod:`sub3coach.load` does the work)."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from sub3coach.cli_common import AthleteOpt, JsonOpt, LibraryOpt, console, err_console, print_json, warn


def _day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)", param_hint=flag) from exc


def _f(x: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def load_cmd(
    athlete: AthleteOpt = None,
    since: Annotated[Optional[str], typer.Option(help="First day shown (YYYY-MM-DD); fitness still counts every run before it.")] = None,
    until: Annotated[Optional[str], typer.Option(help="Last day (default: today, or the last run's day when it is over 60 days old).")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Write the fitness/fatigue/form chart (PNG, SVG or PDF).")] = None,
    weeks: Annotated[int, typer.Option(min=1, max=520, help="Weeks shown in the table.")] = 12,
    library: LibraryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Training load: TRIMP per run (from recorded HR, else the HR model's prediction), daily
    load, fitness (CTL, 42 d), fatigue (ATL, 7 d), form (TSB), ramp rate, monotony and strain.

    The first call computes every run (cached after: later calls take a second or two).

    \b
    Examples:
      sub3 load
      sub3 load --athlete alice --since 2025-01-01 --plot load.png
      sub3 load --json
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sub3coach.cli import _athlete_name, open_library
    from sub3coach.load import load_report

    since_d, until_d = _day(since, "--since"), _day(until, "--until")
    if since_d and until_d and since_d > until_d:
        raise typer.BadParameter("--since is after --until", param_hint="--since")
    with open_library(library, read_only=True) as lib:
        name = lib.resolve_athlete(_athlete_name(athlete))
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=True, disable=as_json) as progress:
            task = progress.add_task(f"{name}: profile", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, description=f"{name}: training load of new runs", completed=done, total=total)

            report = load_report(lib, name, since=since_d, until=until_d, on_progress=on_progress)
    if plot is not None:
        from sub3coach.viz import plot_load

        plot_load(report.days, plot, title=f"Fitness, fatigue and form of {report.athlete}")
    if as_json:
        out = report.to_json()
        out["plot"] = str(plot) if plot else None
        print_json(out)
        return
    for note in report.notes:
        warn(note)
    _print_report(report, weeks)
    if plot is not None:
        console.print(f"plot written to {plot}", highlight=False, soft_wrap=True)


def zones_lines(zones: Any) -> list[str]:
    """Two lines for people: the HR zones in BPM and the pace zones in min/km, with their basis."""
    from sub3coach.units import format_pace

    mx = zones.max_hr
    hr = ", ".join(f"{z.name} {z.low:.0f}" + (f"-{z.high:.0f}" if z.high is not None else "+") for z in zones.hr)
    out = [f"HR zones ({zones.hr_model}; max HR {zones.max_hr_bpm:.0f}, {mx.source}): {hr} bpm"]
    if zones.pace is None:
        out.append(f"pace zones: none (no threshold pace: {zones.threshold_pace.method})")
        return out

    def pace(z: Any) -> str:
        if z.low is None:
            return f"{z.name} slower than {format_pace(z.high).removesuffix('/km')}"
        if z.high is None:
            return f"{z.name} faster than {format_pace(z.low).removesuffix('/km')}"
        return f"{z.name} {format_pace(z.low).removesuffix('/km')}-{format_pace(z.high).removesuffix('/km')}"
    tp = zones.threshold_pace
    out.append(f"pace zones ({zones.pace_model}; threshold {format_pace(float(tp.value))}, {tp.source}): "
               + ", ".join(pace(z) for z in zones.pace) + " /km")
    return out


def _print_report(report: Any, n_weeks: int) -> None:
    p = report.profile
    console.print(f"{report.athlete}: max HR {p.max_bpm:.0f} ({p.max_hr.source}), resting HR {p.rest_bpm:.0f} "
                  f"({p.resting_hr.source}); TRIMP sources: " + ", ".join(f"{k} {v}" for k, v in report.sources().items())
                  + (f"; predictions: {report.prediction}" if report.prediction else ""), highlight=False, soft_wrap=True)
    t = Table(title="by week (CTL, ATL, TSB, ramp, monotony, strain: the week's last day)")
    for c in ("week", "runs", "load", "CTL", "ATL", "TSB", "ramp", "monotony", "strain"):
        t.add_column(c, justify="left" if c == "week" else "right")
    for w in report.weeks()[-n_weeks:]:
        t.add_row(w["week"], str(w["runs"]), _f(w["load"]), _f(w["ctl"], "{:.1f}"), _f(w["atl"], "{:.1f}"), _f(w["tsb"], "{:+.1f}"),
                  _f(w["ramp"], "{:+.1f}"), _f(w["monotony"], "{:.2f}"), _f(w["strain"]))
    console.print(t)
    t = Table(title="last 7 days")
    for c in ("day", "load", "CTL", "ATL", "TSB", "ramp"):
        t.add_column(c, justify="left" if c == "day" else "right")
    for d in report.days[-7:]:
        t.add_row(f"{d.day:%a %Y-%m-%d}", _f(d.load), _f(d.ctl, "{:.1f}"), _f(d.atl, "{:.1f}"), _f(d.tsb, "{:+.1f}"), _f(d.ramp, "{:+.1f}"))
    console.print(t)
    if report.days:
        last = report.days[-1]
        for line in zones_lines(report.zones):
            console.print(line, highlight=False, soft_wrap=True)
        console.print(f"form on {last.day.isoformat()}: TSB {last.tsb:+.1f} (fitness - fatigue at the end of the day before; "
                      f"positive: fresh); fitness now {last.ctl:.1f}, fatigue {last.atl:.1f}", highlight=False)
