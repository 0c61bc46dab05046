"""The ``sub3`` command line: a thin layer over the library.

Each command parses its arguments, calls one library function and prints a Rich table, or
JSON with ``--json``. Errors a user can cause end with one line on stderr and a non-zero exit:
1 for a failed operation, 2 for a usage error (wrong flag, bad value).
"""
from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.exceptions import TyperException
from rich.table import Table

from sub3coach.cli_common import JsonOpt, LibraryOpt, console, err_console, fail, typer_app
from sub3coach.errors import Sub3Error
from sub3coach.units import format_duration, format_pace, parse_pace

app = typer_app("sub3", "sub3coach: import your runs, predict heart rate, plan the next workout.")


def open_library(path: Path | None, *, read_only: bool = False) -> Any:
    """Open the library (default location when ``path`` is None)."""
    from sub3coach.library import Library

    return Library(path, read_only=read_only)


def _num(x: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


@app.command("import")
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders, zips or exports to import.", show_default=False)],
    library: LibraryOpt = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Parser processes (default: all cores).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import workouts: FIT, GPX, TCX (also .gz), zips, Strava/Apple Health exports, corpus
    Parquet, Endomondo JSON and training-history files. Re-importing adds nothing.

    Example: sub3 import ~/Downloads/export_12345.zip activity.fit
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sub3coach.importer import Importer, expand

    with open_library(library) as lib:
        jobs = list(expand(paths))
        with Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err_console, transient=True, disable=as_json or not err_console.is_terminal,
        ) as progress:
            n_fixed = sum(1 for j in jobs if j.kind != "stream")
            task = progress.add_task("importing", total=n_fixed if n_fixed and n_fixed == len(jobs) else None)
            imp = Importer(lib, workers=workers, on_progress=lambda n, label: progress.advance(task, n))
            try:
                report = imp.run(jobs)
            except KeyboardInterrupt:
                report = imp.report
                err_console.print("sub3: interrupted; every workout stored so far is complete", markup=False)
                _print_import(report, as_json)
                raise typer.Exit(130)
    _print_import(report, as_json)
    nothing_done = report.imported == 0 and report.duplicates == 0 and bool(report.skipped)
    if report.failed or (nothing_done and len(jobs) == 1):
        if not as_json:
            first = (report.failed or [dict(path=s["path"], error=s["reason"]) for s in report.skipped])[0]
            err_console.print(f"sub3: error: {first['path']}: {first['error']}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _print_import(report: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    t = Table(title="Import")
    t.add_column("outcome")
    t.add_column("count", justify="right")
    t.add_column("details")
    t.add_row("imported", str(report.imported), "")
    t.add_row("duplicates", str(report.duplicates), "already in the library")
    t.add_row("skipped", str(len(report.skipped)), "\n".join(f"{s['path']}: {s['reason']}" for s in report.skipped[:20]))
    t.add_row("failed", str(len(report.failed)), "\n".join(f"{f['path']}: {f['error']}" for f in report.failed[:20]))
    console.print(t)


def _parse_date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)") from exc
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


@app.command("runs")
def runs_cmd(
    library: LibraryOpt = None,
    sport: Annotated[Optional[str], typer.Option(help="Only this sport (run, bike, walk, hike, swim, ...).")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only runs starting on or after this date (YYYY-MM-DD).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List workouts in the library, oldest first.

    Example: sub3 runs --sport run --since 2024-01-01 --json
    """
    from sub3coach.workout import normalise_sport

    since_dt = _parse_date(since)
    with open_library(library, read_only=True) as lib:
        rows = lib.runs(sport=normalise_sport(sport) if sport else None, since=since_dt)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    t = Table(title=f"{len(rows)} workouts")
    for col, just in (("id", "left"), ("sport", "left"), ("start (UTC)", "left"), ("km", "right"), ("time", "right"),
                      ("pace", "right"), ("gain m", "right"), ("avg HR", "right"), ("source", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        t.add_row(
            r["id"][:10] + ("*" if r["summary_only"] else ""), r["sport"], r["start_time"][:16].replace("T", " "),
            _num(r["distance_m"] / 1000 if r["distance_m"] else None, "{:.2f}"), format_duration(r["moving_time_s"] or r["duration_s"]),
            format_pace(r["avg_pace_s_per_km"]), _num(r["elevation_gain_m"]), _num(r["avg_hr_bpm"]), Path(str(r["source"])).name,
        )
    console.print(t)
    if any(r["summary_only"] for r in rows):
        console.print("* summary only (from a training-history file, no samples)")


@app.command("show")
def show_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id, a unique prefix of at least 4 characters, or 'latest'.")],
    library: LibraryOpt = None,
    plot: Annotated[Optional[Path], typer.Option(help="Write a PNG of HR, pace and elevation.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one workout's summary, and plot it.

    Example: sub3 show 3f2a9c --plot run.png
    """
    with open_library(library, read_only=True) as lib:
        if run_id == "latest":
            rows = lib.runs()
            if not rows:
                raise Sub3Error("the library is empty: import something first", str(lib.path))
            run_id = rows[-1]["id"]
        row = lib.run(run_id)
        workout = None if row["summary_only"] else lib.get_workout(row["id"])
    if plot is not None:
        if workout is None:
            raise Sub3Error(f"run {row['id']} is summary-only: nothing to plot")
        from sub3coach.viz import plot_workout

        try:
            plot_workout(workout, plot)
        except (OSError, ValueError) as exc:
            raise fail(f"{plot}: cannot write the plot ({exc})") from exc
    if as_json:
        typer.echo(json.dumps(row, indent=2, default=str))
        return
    t = Table(title=f"{row['name'] or row['id']}", show_header=False)
    t.add_column("field")
    t.add_column("value")
    for label, value in (
        ("id", row["id"]), ("sport", row["sport"]), ("start (UTC)", row["start_time"]),
        ("distance", _num(row["distance_m"] / 1000 if row["distance_m"] else None, "{:.2f} km")),
        ("elapsed", format_duration(row["duration_s"])), ("moving", format_duration(row["moving_time_s"])),
        ("pace", format_pace(row["avg_pace_s_per_km"])), ("elevation gain", _num(row["elevation_gain_m"], "{:.0f} m")),
        ("avg / max HR", f"{_num(row['avg_hr_bpm'])} / {_num(row['max_hr_bpm'])} bpm"),
        ("device", row["device"] or "-"), ("samples", str(row["n_samples"] or "-")), ("source", str(row["source"])),
    ):
        t.add_row(label, value)
    console.print(t)
    if plot is not None:
        console.print(f"plot written to {plot}")


def _pace_option(value: str) -> float:
    """Pace option ``m:ss`` -> seconds per km, as a usage error when malformed."""
    try:
        return parse_pace(value)
    except Sub3Error as exc:
        raise typer.BadParameter(exc.detail) from exc


@app.command("example")
def example_cmd(
    out: Annotated[Path, typer.Argument(help="Output file: .gpx or .tcx (optionally .gz).")],
    minutes: Annotated[float, typer.Option(min=1, max=600, help="Duration in minutes.")] = 45.0,
    pace: Annotated[str, typer.Option(help="Steady pace on the flat, min:sec per km.")] = "5:00",
    seed: Annotated[int, typer.Option(min=0, help="Random seed (same seed, same run).")] = 0,
    no_hr: Annotated[bool, typer.Option("--no-hr", help="Leave heart rate out (as from a watch without a strap).")] = False,
    course_km: Annotated[Optional[float], typer.Option("--course-km", min=0.5, max=100, help="Write a planned route of this length instead of a run (GPX).")] = None,
    weeks: Annotated[int, typer.Option("--weeks", min=1, max=104, help="Weeks of training log, for a .csv history (ends yesterday; --pace is the easy pace).")] = 16,
) -> None:
    """Write a realistic synthetic run (GPS, hills, heart rate), a planned route, or a training
    history (.csv), to try sub3coach without your own files.

    Examples: sub3 example run.gpx --minutes 40 --pace 4:45
              sub3 example route.gpx --course-km 10   (then: sub3 hr predict --course route.gpx --pace 5:00)
              sub3 example history.csv --weeks 16 --pace 5:30   (then: sub3 import history.csv; sub3 plan next)
    """
    from sub3coach.io.write import write_gpx, write_history_csv, write_tcx
    from sub3coach.synth import synthetic_history, synthetic_run

    pace_s = _pace_option(pace)
    name = out.name.lower().removesuffix(".gz")
    if not name.endswith((".gpx", ".tcx", ".csv")):
        raise typer.BadParameter(f"{out}: use a .gpx, .tcx or .csv file name")
    if name.endswith(".csv"):
        from datetime import datetime, timezone

        if course_km is not None:
            raise typer.BadParameter("a training log (.csv) has no route: drop --course-km or write a .gpx", param_hint="--course-km")
        if not 175.0 <= pace_s <= 800.0:  # intervals at 0.9x and long runs at 1.05x must stay runs (2:30-15:00/km)
            raise typer.BadParameter(f"easy pace {pace} is outside 2:55-13:20/km for a training log", param_hint="--pace")

        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        runs = synthetic_history(weeks, easy_pace_s_per_km=pace_s, seed=seed, end=today)  # up to yesterday
        _write_atomic(out, write_history_csv(runs))
        console.print(f"wrote {out} ({len(runs)} runs over {weeks} weeks, easy pace {pace}/km)")
        return
    if course_km is not None:
        from sub3coach.synth import synthetic_course

        w = synthetic_course(course_km * 1000.0, seed=seed)
        w.name = f"sub3coach example route {course_km:g} km (seed {seed})"
    else:
        w = synthetic_run(duration_s=minutes * 60.0, pace_s_per_km=pace_s, seed=seed, hr=not no_hr)
        w.name = f"sub3coach example run (seed {seed})"
    data = write_gpx(w) if name.endswith(".gpx") else write_tcx(w)
    _write_atomic(out, data)
    what = f"{course_km:g} km route" if course_km is not None else f"{minutes:.0f} min at {pace}/km"
    console.print(f"wrote {out} ({what}, {len(w)} points)")


def _write_atomic(out: Path, data: bytes) -> None:
    """Write ``data`` to ``out`` (gzipped when the name ends in .gz) through a temp file, so a
    failed write never leaves a half-written file under the final name."""
    import gzip as _gzip

    if out.name.lower().endswith(".gz"):
        data = _gzip.compress(data)
    tmp = out.with_name(out.name + ".part")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as exc:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        raise fail(f"{out}: cannot write ({exc.strerror or exc})") from exc


def _mount_subapps() -> None:
    """Attach the ``hr`` and ``plan`` command groups (their modules import torch lazily)."""
    from sub3coach.hr.cli import hr_app
    from sub3coach.plan.cli import plan_app

    app.add_typer(hr_app, name="hr", help="Heart-rate model: predict, train, evaluate.")
    app.add_typer(plan_app, name="plan", help="Next workout, week plan, race prediction.")


_mount_subapps()


def main() -> None:
    """Console entry point: runs the app, turning every user error into one line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        rv = app(standalone_mode=False)
    except TyperException as exc:  # usage errors: wrong flag, bad value, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        msg = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err_console.print(f"sub3: error: {' '.join(msg.split())}{where}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    except typer.Abort:
        err_console.print("sub3: aborted", markup=False)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Sub3Error as exc:
        err_console.print(f"sub3: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("sub3: interrupted", markup=False)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
