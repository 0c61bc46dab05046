"""The ``sub3`` command line: a thin layer over the library.

Each command parses its arguments, calls one library function and prints a Rich table, or
JSON with ``--json``. Errors a user can cause end with one line on stderr and a non-zero exit:
1 for a failed operation, 2 for a usage error (wrong flag, bad value).
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.exceptions import TyperException
from rich.table import Table

from sub3coach.cli_common import AthleteOpt, JsonOpt, LibraryOpt, console, err_console, fail, print_json, setup_messages, typer_app, warn
from sub3coach.errors import Sub3Error
from sub3coach.units import format_duration, format_pace, parse_pace

app = typer_app("sub3", "sub3coach: import your runs, predict heart rate, plan the next workout.")


def open_library(path: Path | None, *, read_only: bool = False, keep_open: bool = True) -> Any:
    """Open the library (default location when ``path`` is None); see :class:`~sub3coach.library.Library`."""
    from sub3coach.library import Library

    return Library(path, read_only=read_only, keep_open=keep_open)


def _athlete_name(name: str | None) -> str | None:
    """A usable athlete name (stripped; printable, at most 64 characters), as a usage error otherwise."""
    if name is None:
        return None
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise typer.BadParameter(f"{name!r} is not an athlete name (1-64 printable characters)", param_hint="--athlete")
    return name


def _num(x: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


@app.command("import")
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders, zips or exports to import.", show_default=False)],
    library: LibraryOpt = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Parser processes (default: all cores).")] = None,
    athlete: Annotated[Optional[str], typer.Option("--athlete", "-a", help="Whose runs these are. Default: the runner id of a "
                       "corpus or many-runner history, else the library's only athlete, else 'me'.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import workouts: FIT, GPX, TCX (also .gz), zips, Strava/Apple Health exports, corpus
    Parquet, Endomondo JSON and training-history files. Re-importing adds nothing.

    The library is opened only while each batch is written: `sub3 runs`, `show` and other
    readers can run during a long import.

    Example: sub3 import ~/Downloads/export_12345.zip activity.fit --athlete alice
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sub3coach.importer import Importer, expand

    athlete = _athlete_name(athlete)
    with open_library(library, keep_open=False) as lib:
        lib.import_athlete = athlete
        jobs = list(expand(paths))
        with Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err_console, transient=True, disable=as_json or not err_console.is_terminal,
        ) as progress:
            n_fixed = sum(1 for j in jobs if j.kind != "stream")
            task = progress.add_task("importing", total=n_fixed if n_fixed and n_fixed == len(jobs) else None)
            ticker = _Ticker(enabled=not as_json and not err_console.is_terminal)

            def on_progress(n: int, label: str) -> None:
                progress.advance(task, n)
                ticker.advance(n)

            imp = Importer(lib, workers=workers, on_progress=on_progress)
            try:
                report = imp.run(jobs)
            except KeyboardInterrupt:
                report = imp.report
                err_console.print("sub3: interrupted; every workout stored so far is complete", markup=False)
                _print_import(report, as_json)
                raise typer.Exit(130)
    _print_import(report, as_json)
    if report.imported and not as_json:
        names = sorted(lib.athletes_added)
        who = ", ".join(names) if len(names) <= 5 else f"{len(names)} athletes ({', '.join(names[:3])}, ...)"
        console.print(f"athlete: {who} (see: sub3 athletes)", highlight=False)
    nothing_done = report.imported == 0 and report.duplicates == 0 and bool(report.skipped)
    if report.failed or (nothing_done and len(jobs) == 1):
        if not as_json:
            problems = report.failed or [dict(path=s["path"], error=s["reason"]) for s in report.skipped]
            raise fail(_failure_line(problems))
        raise typer.Exit(1)


class _Ticker:
    """Progress for logs and notebooks (stderr not a terminal, so no bar): one line every
    ``every_s`` seconds once an import has run that long."""

    def __init__(self, *, enabled: bool, every_s: float = 15.0) -> None:
        import time

        self.enabled, self.every_s, self.n = enabled, every_s, 0
        self.t0 = self.last = time.monotonic()

    def advance(self, n: int) -> None:
        import time

        self.n += n
        now = time.monotonic()
        if self.enabled and now - self.last >= self.every_s:
            self.last = now
            err_console.print(f"sub3: importing: {self.n} inputs read in {now - self.t0:.0f} s", markup=False, highlight=False)


def _failure_line(problems: list[dict[str, str]]) -> str:
    """One line for the failures of an import: the only one in full, else a count and the first few."""
    if len(problems) == 1:
        return f"{problems[0]['path']}: {problems[0]['error']}"
    shown = "; ".join(f"{p['path']} ({p['error'][:60]})" for p in problems[:3])
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    return f"{len(problems)} inputs failed: {shown}{more} (all in the table above)"


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


def _sport_option(value: str | None) -> str | None:
    """``--sport`` as one of :data:`~sub3coach.workout.SPORTS` (aliases such as Running accepted);
    anything else is a usage error listing the valid values."""
    from sub3coach.workout import SPORTS, normalise_sport

    if value is None:
        return None
    sport = normalise_sport(value)
    if sport == "other" and value.strip().lower() != "other" or sport == "unknown" and value.strip().lower() != "unknown":
        raise typer.BadParameter(f"{value!r} is not a sport; use one of {', '.join(SPORTS)}", param_hint="--sport")
    return sport


#: ``sub3 runs`` columns: (header, justify, min width, priority; lower is kept longer when narrow).
_RUN_COLUMNS: tuple[tuple[str, str, int, int], ...] = (
    ("id", "left", 9, 0), ("start (UTC)", "left", 16, 0), ("sport", "left", 5, 4), ("km", "right", 6, 1),
    ("time", "right", 7, 2), ("min/km", "right", 7, 1), ("avg HR", "right", 6, 3), ("gain m", "right", 6, 5),
    ("athlete", "left", 8, 3), ("name", "left", 10, 6), ("source", "left", 10, 7),
)


def _run_cells(r: dict[str, Any], wide: bool) -> dict[str, str]:
    name = r["name"] or (r["metadata"] or {}).get("name") or ""
    return {
        "id": (r["id"] if wide else r["id"][:8]) + ("*" if r["summary_only"] else ""),
        "start (UTC)": r["start_time"][:16].replace("T", " "), "sport": r["sport"],
        "km": _num(r["distance_m"] / 1000 if r["distance_m"] else None, "{:.2f}"),
        "time": format_duration(r["moving_time_s"] or r["duration_s"]), "min/km": format_pace(r["avg_pace_s_per_km"]).removesuffix("/km"),
        "avg HR": _num(r["avg_hr_bpm"]), "gain m": _num(r["elevation_gain_m"]), "athlete": str(r.get("athlete") or "-"),
        "name": str(name), "source": str(r["source"]) if wide else Path(str(r["source"])).name,
    }


def _pick_columns(width: int, wide: bool, show_athlete: bool) -> list[tuple[str, str, int, int]]:
    """The columns that fit ``width`` characters, dropping the lowest priority first."""
    cols = [c for c in _RUN_COLUMNS if show_athlete or c[0] != "athlete"]
    if wide:
        return cols
    while cols and sum(c[2] + 2 for c in cols) > width:
        cols.remove(max(cols, key=lambda c: (c[3], _RUN_COLUMNS.index(c))))
    return cols


@app.command("runs")
def runs_cmd(
    library: LibraryOpt = None,
    sport: Annotated[Optional[str], typer.Option(help="Only this sport: run, bike, walk, hike, swim, ski, other, unknown.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only runs starting on or after this date (YYYY-MM-DD).")] = None,
    athlete: AthleteOpt = None,
    wide: Annotated[bool, typer.Option("--wide", "-w", help="All columns, full ids and source paths, whatever the terminal width.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List workouts in the library, oldest first (all athletes unless --athlete; the table fits
    the terminal, dropping the least useful columns first).

    Example: sub3 runs --sport run --since 2024-01-01 --json
    """
    since_dt = _parse_date(since)
    sport_n = _sport_option(sport)
    with open_library(library, read_only=True) as lib:
        name = lib.resolve_athlete(athlete) if athlete is not None else None
        rows = lib.runs(sport=sport_n, since=since_dt, athlete=name)
        several = len(lib.athletes()) > 1
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich import box

    cols = _pick_columns(console.width, wide, several and name is None)
    t = Table(title=f"{len(rows)} workouts" + (f" of {name}" if name else ""), box=box.SIMPLE_HEAD, pad_edge=False,
              padding=(0, 1), collapse_padding=True)
    for head, just, min_w, _ in cols:
        flexible = head in ("name", "source")
        t.add_column(head, justify=just, no_wrap=True, min_width=min_w if flexible else None,  # type: ignore[arg-type]
                     overflow="ellipsis" if flexible else "fold")
    for r in rows:
        cells = _run_cells(r, wide)
        t.add_row(*(cells[c[0]] for c in cols))
    if wide:
        from rich.console import Console

        Console(width=max(console.width, 400), soft_wrap=True).print(t, crop=False)
    else:
        console.print(t)
    if any(r["summary_only"] for r in rows):
        console.print("* summary only (from a training-history file, no samples)")


def _pick_run(lib: Any, run_id: str, athlete: str | None) -> tuple[dict[str, Any], str | None]:
    """The run ``show`` means and, for ``latest``, a note saying which one was chosen."""
    if run_id != "latest":
        return lib.run(run_id), None
    name = lib.resolve_athlete(athlete)
    row = lib.latest(athlete=name)
    if row is None:
        raise Sub3Error("the library is empty: import something first", str(lib.path))
    if row["summary_only"]:
        return row, f"latest run of {name}: {row['start_time'][:10]} (summary only: no recorded run in the library)"
    return row, f"latest recorded run of {name}: {row['start_time'][:16].replace('T', ' ')} UTC"


def _zones(lib: Any, row: dict[str, Any]) -> Any:
    """A plot's zones (:class:`sub3coach.load.Zones`): the run's athlete's (from their stated or
    estimated max HR; the default when nothing is known, which the caller must say)."""
    from sub3coach.load import athlete_zones, default_zones

    return athlete_zones(lib, row["athlete"]) if row.get("athlete") else default_zones()


@app.command("show")
def show_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id, a unique prefix of at least 4 characters, or 'latest' (the latest recorded run).")],
    library: LibraryOpt = None,
    athlete: AthleteOpt = None,
    plot: Annotated[Optional[Path], typer.Option(help="Write a PNG (or .svg/.pdf) of HR, pace and elevation.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one workout's summary, and plot it. 'latest' is the athlete's most recent run with
    recorded samples (history-file rows have none to plot).

    Example: sub3 show 3f2a9c --plot run.png
    """
    with open_library(library, read_only=True) as lib:
        row, note = _pick_run(lib, run_id, athlete)
        workout = None if row["summary_only"] else lib.get_workout(row["id"])
        zones = _zones(lib, row) if plot is not None and workout is not None else None
    if plot is not None:
        if workout is None:
            raise Sub3Error(f"run {row['id'][:8]} ({row['start_time'][:10]}) is summary-only, from a training-history file: "
                            "nothing to plot (import the recording)")
        from sub3coach.viz import plot_workout

        assert zones is not None
        plot_workout(workout, plot, zones_max_hr=zones.max_hr_bpm, zones_assumed=zones.assumed,
                     zones_note=None if zones.assumed else zones.max_hr.source)
        if zones.warning:
            warn(zones.warning)
    if as_json:
        typer.echo(json.dumps(row, indent=2, default=str))
        return
    if note:
        err_console.print(note, markup=False, highlight=False)
    t = Table(title=f"{row['name'] or row['id']}", show_header=False)
    t.add_column("field")
    t.add_column("value")
    for label, value in (
        ("id", row["id"]), ("athlete", str(row.get("athlete") or "-")), ("sport", row["sport"]), ("start (UTC)", row["start_time"]),
        ("distance", _num(row["distance_m"] / 1000 if row["distance_m"] else None, "{:.2f} km")),
        ("elapsed", format_duration(row["duration_s"])), ("moving", format_duration(row["moving_time_s"])),
        ("pace", format_pace(row["avg_pace_s_per_km"])), ("elevation gain", _num(row["elevation_gain_m"], "{:.0f} m")),
        ("avg / max HR", f"{_num(row['avg_hr_bpm'])} / {_num(row['max_hr_bpm'])} bpm"),
        ("device", row["device"] or "-"), ("samples", str(row["n_samples"] or "-")), ("source", str(row["source"])),
    ):
        t.add_row(label, value)
    console.print(t)
    if plot is not None:
        console.print(f"plot written to {plot}", highlight=False, soft_wrap=True)


# ----- athletes ----------------------------------------------------------------------------
athletes_app = typer_app("athletes", "Athletes of the library: list, state values, show profiles.")
app.add_typer(athletes_app, name="athletes")


@athletes_app.callback(invoke_without_command=True, no_args_is_help=False)
def athletes_cmd(ctx: typer.Context, library: LibraryOpt = None, as_json: JsonOpt = False) -> None:
    """List the athletes with their run counts and date range (subcommands: set, show).

    Example: sub3 athletes --json
    """
    if ctx.invoked_subcommand is not None:
        return
    with open_library(library, read_only=True) as lib:
        rows = lib.athletes()
    if as_json:
        print_json(rows)
        return
    t = Table(title=f"{len(rows)} athletes")
    for c in ("athlete", "runs", "with HR", "first", "last"):
        t.add_column(c, justify="right" if c in ("runs", "with HR") else "left")
    for a in rows:
        t.add_row(a["name"], str(a["runs"]), str(a["runs_with_hr"]), (a["first"] or "-")[:10], (a["last"] or "-")[:10])
    console.print(t)


@athletes_app.command("set")
def athletes_set_cmd(
    name: Annotated[str, typer.Argument(help="Athlete name (created when new).", show_default=False)],
    max_hr: Annotated[Optional[float], typer.Option("--max-hr", min=100, max=240, help="Your maximum heart rate (BPM).")] = None,
    resting_hr: Annotated[Optional[float], typer.Option("--resting-hr", min=25, max=120, help="Your resting heart rate (BPM).")] = None,
    birth_year: Annotated[Optional[int], typer.Option("--birth-year", min=1900, max=2100, help="Year of birth (for age-based estimates).")] = None,
    gender: Annotated[Optional[str], typer.Option("--gender", help="female, male or other.")] = None,
    library: LibraryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """State what you know about an athlete; values not given are kept.

    Example: sub3 athletes set me --max-hr 188 --resting-hr 48 --birth-year 1985
    """
    from sub3coach.library import GENDERS

    name = _athlete_name(name) or ""
    if gender is not None and gender.strip().lower() not in GENDERS:
        raise typer.BadParameter(f"{gender!r} is not one of {', '.join(GENDERS)}", param_hint="--gender")
    if max_hr is not None and resting_hr is not None and resting_hr >= max_hr:
        raise typer.BadParameter("--resting-hr must be below --max-hr", param_hint="--resting-hr")
    with open_library(library) as lib:
        stated = lib.set_athlete(name, max_hr_bpm=max_hr, resting_hr_bpm=resting_hr, birth_year=birth_year,
                                 gender=gender.strip().lower() if gender else None)
    if as_json:
        print_json({"name": name, **stated})
        return
    said = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in stated.items() if v is not None and k != "updated_at")
    console.print(f"{name}: {said or 'nothing stated yet'}", highlight=False)


@athletes_app.command("show")
def athletes_show_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Athlete name (default: the only one).", show_default=False)] = None,
    library: LibraryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An athlete's profile: each value stated, estimated from the runs (with the method) or a default.

    Example: sub3 athletes show me
    """
    from sub3coach.athletes import profile
    from sub3coach.load import athlete_zones
    from sub3coach.load_cli import zones_lines

    with open_library(library, read_only=True) as lib:
        prof = profile(lib, _athlete_name(name))
        zones = athlete_zones(lib, prof.name)
    if as_json:
        print_json({**prof.to_dict(), "zones": zones.to_json()})
        return
    t = Table(title=f"{prof.name}: {prof.runs.get('runs', 0)} runs ({prof.runs.get('runs_with_hr', 0)} with HR)")
    for c in ("", "value", "source", "how"):
        t.add_column(c, overflow="fold")
    for label, pv, fmt in (("max HR", prof.max_hr_bpm, "{:.0f} bpm"), ("resting HR", prof.resting_hr_bpm, "{:.0f} bpm"),
                           ("threshold HR", prof.threshold_hr_bpm, "{:.0f} bpm"), ("threshold pace", prof.threshold_pace_s_per_km, None),
                           ("birth year", prof.birth_year, "{}"), ("gender", prof.gender, "{}")):
        value = "-" if pv.value is None else (format_pace(float(pv.value)) if fmt is None else fmt.format(pv.value))
        t.add_row(label, value, pv.source, pv.method)
    console.print(t)
    for line in zones_lines(zones):
        console.print(line, highlight=False, soft_wrap=True)


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


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on (localhost only by default; 0.0.0.0 opens it to your network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: a free one; the URL printed names it).")] = 8000,
    library: LibraryOpt = None,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", min=0.1, max=4096, help="Largest upload accepted, MB (larger: HTTP 413).")] = 50.0,
) -> None:
    """Serve the web app: drop a run or a course and see your heart rate with its band, your
    runs and your next week; JSON API with docs at /docs.

    Example: sub3 serve   (then open http://127.0.0.1:8000/)
    """
    from sub3coach.web.app import serve

    serve(host, port, library, max_upload_mb)


def _mount_subapps() -> None:
    """Attach the ``hr`` and ``plan`` command groups (their modules import torch lazily) and ``load``."""
    from sub3coach.hr.cli import hr_app
    from sub3coach.load_cli import load_cmd
    from sub3coach.plan.cli import plan_app

    app.command("load")(load_cmd)
    app.add_typer(hr_app, name="hr", help="Heart-rate model: predict, train, evaluate.")
    app.add_typer(plan_app, name="plan", help="Next workout, week plan, race prediction.")
    from sub3coach.data.cli import data_app

    app.add_typer(data_app, name="data", help="Big corpora: runner-sharded Parquet datasets (sub3 data shard).")


_mount_subapps()


def main() -> None:
    """Console entry point: runs the app, turning every user error into one line."""
    setup_messages()
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
    except Exception as exc:  # a bug: still one line, the traceback on request
        if "interrupted" in str(exc).lower():  # DuckDB's form of Ctrl-C
            err_console.print("sub3: interrupted", markup=False)
            sys.exit(130)
        if os.environ.get("SUB3_DEBUG"):
            raise
        err_console.print(f"sub3: error: unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
                          "(a bug: please report it; SUB3_DEBUG=1 shows the traceback)", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
