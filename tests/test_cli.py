"""The sub3 command line, run as a user runs it (a real subprocess for error paths)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sub3coach.io.write import write_gpx
from sub3coach.synth import synthetic_run
from tests.fixtures.make_fit import make_fit_activity


def sub3(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sub3coach.cli", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_import_runs_show_round_trip(tmp_path: Path) -> None:
    lib = str(tmp_path / "lib.duckdb")
    gpx = tmp_path / "run.gpx"
    gpx.write_bytes(write_gpx(synthetic_run(duration_s=2400, seed=3)))
    r = sub3("import", str(gpx), "--library", lib, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep == {"imported": 1, "duplicates": 0, "skipped": [], "failed": []}
    r = sub3("runs", "--json", "--sport", "run", env={"SUB3_LIBRARY": lib})
    rows = json.loads(r.stdout)
    assert len(rows) == 1
    for key in ("id", "sport", "start_time", "distance_m", "duration_s", "moving_time_s", "elevation_gain_m",
                "avg_hr_bpm", "max_hr_bpm", "avg_pace_s_per_km", "source"):
        assert key in rows[0]
    assert rows[0]["start_time"].endswith("Z")
    png = tmp_path / "show.png"
    r = sub3("show", rows[0]["id"][:8], "--library", lib, "--plot", str(png))
    assert r.returncode == 0, r.stderr
    assert png.stat().st_size > 10_000
    assert "pace" in r.stdout
    r = sub3("import", str(gpx), "--library", lib, "--json")
    assert json.loads(r.stdout)["duplicates"] == 1 and r.returncode == 0


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(os.urandom(3000)), ""),
        (lambda p: p.write_bytes(make_fit_activity(None, n=600)[:-300]), ""),
        (lambda p: p.write_text('<?xml version="1.0"?><gpx version="1.1" creator="x"><trk><trkseg><trkpt lat="1" lon="2"/></trkseg></trk></gpx>'), "time"),
    ],
    ids=["empty", "random", "truncated-fit", "gpx-without-time"],
)
def test_bad_single_file_gives_one_line_and_nonzero_exit(tmp_path: Path, make, expect: str) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "bad.fit"
    if expect == "time":
        p = tmp_path / "bad.gpx"
    make(p)
    r = sub3("import", str(p), "--library", str(tmp_path / "lib.duckdb"))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sub3: error: ") and str(p) in lines[0], r.stderr
    assert expect in lines[0].lower()
    assert "Traceback" not in r.stderr + r.stdout


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    r = sub3("runs", "--bogus", "--library", str(tmp_path / "l.duckdb"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--bogus" in r.stderr
    r = sub3("runs", "--since", "yesterday-ish", "--library", str(tmp_path / "l.duckdb"))
    assert r.returncode == 2 and "date" in r.stderr


def test_missing_path_and_unknown_run(tmp_path: Path) -> None:
    lib = str(tmp_path / "l.duckdb")
    r = sub3("import", str(tmp_path / "missing.fit"), "--library", lib)
    assert r.returncode == 1 and "no such file" in r.stderr
    r = sub3("show", "deadbeef", "--library", lib)
    assert r.returncode == 1 and "no run with id" in r.stderr


def test_non_activity_fit_alone_is_refused_with_its_reason(tmp_path: Path) -> None:
    from tests.fixtures.make_fit import make_fit_settings

    p = tmp_path / "Settings.fit"
    p.write_bytes(make_fit_settings())
    r = sub3("import", str(p), "--library", str(tmp_path / "l.duckdb"), "--json")
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    assert rep["imported"] == 0 and rep["skipped"][0]["path"] == str(p) and "settings" in rep["skipped"][0]["reason"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_during_import_leaves_only_whole_workouts(tmp_path: Path, workers: str) -> None:
    """A real SIGINT in the middle of a batch: every stored run has its samples, and a
    re-import completes the batch without duplicates."""
    import signal
    import time

    import duckdb

    d = tmp_path / "many"
    d.mkdir()
    n_files = 240
    for k in range(n_files):
        w = synthetic_run(duration_s=600, seed=k)
        (d / f"run{k:02d}.gpx").write_bytes(write_gpx(w.replace(time_s=w.time_s + k * 86400)))
    lib = tmp_path / "lib.duckdb"
    proc = subprocess.Popen([sys.executable, "-m", "sub3coach.cli", "import", str(d), "--library", str(lib), "--workers", workers],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:  # wait until some runs are stored
        time.sleep(0.3)
        # the import opens the file per batch, so a reader can look in between
        r = sub3("runs", "--json", "--library", str(lib), env={"SUB3_BUSY_TIMEOUT": "30"})
        if r.returncode == 0 and json.loads(r.stdout):
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the import finished before the interrupt (machine too fast)")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    con = duckdb.connect(str(lib), read_only=True)
    n_runs, n_orphans = con.execute(
        "select count(*), count(*) filter (where s.run_id is null) from runs r left join samples s on s.run_id = r.id"
    ).fetchone()
    n_samples = con.execute("select count(*) from samples").fetchone()[0]
    con.close()
    assert 0 < n_runs < n_files and n_orphans == 0 and n_samples == n_runs
    r = sub3("import", str(d), "--library", str(lib), "--json")
    rep = json.loads(r.stdout)
    assert rep["imported"] + rep["duplicates"] == n_files and rep["duplicates"] == n_runs


def test_show_plot_errors_sport_aliases_and_missing_library(tmp_path: Path) -> None:
    lib = str(tmp_path / "lib.duckdb")
    r = sub3("runs", "--library", str(tmp_path / "typo.duckdb"))
    assert r.returncode == 1 and "does not exist" in r.stderr and not (tmp_path / "typo.duckdb").exists()
    gpx = tmp_path / "run.gpx"
    gpx.write_bytes(write_gpx(synthetic_run(duration_s=900, seed=9)))
    assert sub3("import", str(gpx), "--library", lib).returncode == 0
    r = sub3("runs", "--sport", "Running", "--json", "--library", lib)
    assert len(json.loads(r.stdout)) == 1
    r = sub3("show", "latest", "--library", lib, "--plot", str(tmp_path / "no" / "such" / "dir" / "x.png"))
    assert r.returncode == 0 and (tmp_path / "no" / "such" / "dir" / "x.png").stat().st_size > 10_000  # folders made
    r = sub3("show", "latest", "--library", lib, "--plot", str(gpx / "x.png"))  # parent is a file
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "cannot write the plot" in r.stderr
    assert str(gpx) in r.stderr and "Traceback" not in r.stderr
    r = sub3("example", str(gpx / "x.gpx"))  # parent is a file
    assert r.returncode == 1 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_example_history_then_import_then_plan_next(tmp_path: Path) -> None:
    """The new-user path of the planner: a generated training log, imported, then `plan next`."""
    lib = str(tmp_path / "lib.duckdb")
    log = tmp_path / "history.csv"
    r = sub3("example", str(log), "--weeks", "10", "--pace", "5:30")
    assert r.returncode == 0, r.stderr
    assert log.read_text().startswith("date,sport,dist_m,mov_s,hr,elev_m,name\n")
    r = sub3("import", str(log), "--library", lib, "--json")
    assert r.returncode == 0, r.stderr
    n = json.loads(r.stdout)["imported"]
    assert 40 <= n <= 50  # five runs a week, the odd one missed, this week's days to come left out
    r = sub3("plan", "next", "--library", lib, "--json")
    assert r.returncode == 0, r.stderr
    w = json.loads(r.stdout)
    assert w["type"] != "rest" and 3000 <= w["distance_m"] <= 30_000
    assert 240 <= w["pace_s_per_km"] <= 400  # around the log's 5:30/km easy pace
    assert w["duration_s"] == pytest.approx(w["distance_m"] / 1000 * w["pace_s_per_km"], abs=1)
    assert w["expected_hr_bpm"] is not None and 100 < w["expected_hr_bpm"] < 200
    r = sub3("example", str(tmp_path / "x.txt"))
    assert r.returncode == 2 and ".csv" in r.stderr


def test_runs_fits_80_columns_and_wide_shows_everything(tmp_path: Path) -> None:
    lib = str(tmp_path / "lib.duckdb")
    d = tmp_path / "a-rather-long-folder-name-as-people-have" / "Garmin Connect exports 2024"
    d.mkdir(parents=True)
    for k in range(3):
        w = synthetic_run(duration_s=1200, seed=k)
        w.name = "Morning run along the river with a long name"
        (d / f"activity_{k:012d}_exported_from_connect.gpx").write_bytes(write_gpx(w.replace(time_s=w.time_s + k * 86400)))
    assert sub3("import", str(d), "--library", lib).returncode == 0
    r = sub3("runs", "--library", lib, env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(x) for x in lines) <= 80, r.stdout
    body = [x for x in lines if x.strip()[:1].isalnum() and "workouts" not in x][1:]  # rows under the header
    assert len(body) == 3 and all(x.split()[1].count("-") == 2 and x.split()[2].count(":") == 1 for x in body), r.stdout
    assert all("…" not in x.split()[0] for x in body)  # ids and dates whole, not elided
    rows = json.loads(sub3("runs", "--json", "--library", lib).stdout)
    r = sub3("runs", "--wide", "--library", lib, env={"COLUMNS": "80"})
    assert rows[0]["id"] in r.stdout and "source" in r.stdout and str(d) in r.stdout
    r = sub3("runs", "--library", lib, env={"COLUMNS": "200"})
    assert "Morning run along the river" in r.stdout


def test_unknown_sport_is_refused_with_the_valid_values(tmp_path: Path) -> None:
    lib = str(tmp_path / "lib.duckdb")
    gpx = tmp_path / "run.gpx"
    gpx.write_bytes(write_gpx(synthetic_run(duration_s=900, seed=9)))
    assert sub3("import", str(gpx), "--library", lib).returncode == 0
    r = sub3("runs", "--sport", "unicorn", "--library", lib)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "'unicorn' is not a sport" in r.stderr and "run, bike, walk, hike, swim, ski" in r.stderr
    assert sub3("runs", "--sport", "other", "--library", lib).returncode == 0


def test_a_batch_with_several_failures_names_them_all_on_one_line(tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.fit").write_bytes(b"")
    (d / "b.gpx").write_text('<?xml version="1.0"?><gpx version="1.1" creator="x"><trk><trkseg><trkpt lat="1" lon="2"/></trkseg></trk></gpx>')
    (d / "c.fit").write_bytes(make_fit_activity(None, n=600)[:-300])
    (d / "ok.gpx").write_bytes(write_gpx(synthetic_run(duration_s=900, seed=1)))
    r = sub3("import", str(d), "--library", str(tmp_path / "lib.duckdb"))
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("sub3: error: 3 inputs failed: ") and all(n in last for n in ("a.fit", "b.gpx", "c.fit")), r.stderr
    assert "Traceback" not in r.stderr


def test_show_latest_means_the_latest_recorded_run(tmp_path: Path) -> None:
    """The quickstart's order: a recording, then a newer training log; `show latest --plot` plots the recording."""
    lib = str(tmp_path / "lib.duckdb")
    gpx = tmp_path / "run.gpx"
    gpx.write_bytes(write_gpx(synthetic_run(duration_s=900, seed=9)))
    assert sub3("import", str(gpx), "--library", lib).returncode == 0
    log = tmp_path / "history.csv"
    assert sub3("example", str(log), "--weeks", "4").returncode == 0
    assert sub3("import", str(log), "--library", lib).returncode == 0
    for _ in range(2):
        r = sub3("show", "latest", "--library", lib, "--plot", str(tmp_path / "latest.png"))
        assert r.returncode == 0, r.stderr
        assert r.stderr.startswith("latest recorded run of me: ") and "Synthetic run" in r.stdout
    r = sub3("show", "latest", "--library", lib, "--json")
    assert json.loads(r.stdout)["source"].endswith("run.gpx")


@pytest.mark.slow
def test_readers_and_a_second_import_run_while_an_import_writes(tmp_path: Path) -> None:
    """Many readers, one writer: `sub3 runs` and another import of the same folder during an
    import all succeed, without DuckDB's lock message; the library ends with each run once."""
    d = tmp_path / "many"
    d.mkdir()
    n_files = 160
    for k in range(n_files):
        w = synthetic_run(duration_s=900, seed=k)
        (d / f"run{k:03d}.gpx").write_bytes(write_gpx(w.replace(time_s=w.time_s + k * 86400)))
    lib = str(tmp_path / "lib.duckdb")
    cmd = [sys.executable, "-m", "sub3coach.cli", "import", str(d), "--library", lib, "--workers", "1", "--json"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    counts: list[int] = []
    while first.poll() is None or not counts:
        r = sub3("runs", "--json", "--library", lib)
        if r.returncode == 1 and "does not exist yet" in r.stderr:
            continue  # the import has not created the file yet
        assert r.returncode == 0 and "lock" not in r.stderr.lower() and "IO Error" not in r.stderr, r.stderr
        counts.append(len(json.loads(r.stdout)))
        if second is None:
            second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [p.communicate(timeout=120) for p in (first, second) if p is not None]
    for (out, err), p in zip(outs, (first, second)):
        assert p is not None and p.returncode == 0, err
        assert "lock" not in err.lower() and "Traceback" not in err
    reports = [json.loads(out) for out, _ in outs]
    assert counts == sorted(counts) and len(counts) >= 2
    assert sum(rep["imported"] for rep in reports) == n_files  # each run stored once, by one of them
    assert all(rep["imported"] + rep["duplicates"] == n_files and not rep["failed"] for rep in reports)
    assert len(json.loads(sub3("runs", "--json", "--library", lib).stdout)) == n_files


def test_run_columns_are_dropped_by_priority() -> None:
    from sub3coach.cli import _pick_columns

    heads = lambda width, athlete=False: [c[0] for c in _pick_columns(width, False, athlete)]  # noqa: E731
    assert heads(200)[-2:] == ["name", "source"] and "athlete" not in heads(200)
    assert heads(80) == ["id", "start (UTC)", "sport", "km", "time", "min/km", "avg HR", "gain m"]
    assert heads(80, True) == ["id", "start (UTC)", "sport", "km", "time", "min/km", "avg HR", "athlete"]
    assert heads(40)[:2] == ["id", "start (UTC)"] and sum(c[2] + 2 for c in _pick_columns(40, False, False)) <= 40
    assert len(_pick_columns(10, True, True)) == 11  # --wide keeps everything
