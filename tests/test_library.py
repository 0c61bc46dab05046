"""The DuckDB library: atomic writes, idempotence, duplicate detection, queries."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from sub3coach.errors import Sub3Error
from sub3coach.library import Library
from sub3coach.workout import RunSummary, Workout


def _run(start: float = 1.7e9, n: int = 1200, speed: float = 3.0, sport: str = "run") -> Workout:
    t = start + np.arange(n, dtype=float)
    return Workout(
        time_s=t, speed_mps=np.full(n, speed), hr_bpm=np.linspace(120, 165, n),
        altitude_m=20 + 5 * np.sin(np.arange(n) / 60.0), sport=sport, source="test",
    )


def test_add_is_idempotent_and_round_trips(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    w = _run()
    assert lib.add_workout(w).status == "imported"
    assert lib.add_workout(w).status == "duplicate"
    assert lib.count() == 1
    (row,) = lib.runs()
    assert row["start_time"] == "2023-11-14T22:13:20Z"
    assert row["distance_m"] == pytest.approx(3.0 * 1199, rel=1e-6)
    assert row["avg_pace_s_per_km"] == pytest.approx(1000 / 3.0, rel=1e-3)
    back = lib.get_workout(row["id"][:6])
    np.testing.assert_allclose(back.hr_bpm, w.hr_bpm)
    assert back.lat_deg is None and back.sport == "run"


def test_same_run_in_other_format_is_a_duplicate(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    a = _run()
    b = a.replace(time_s=a.time_s + 3.0, hr_bpm=None, workout_id=None)  # e.g. the GPX export of the same run
    assert lib.add_workout(a).status == "imported"
    assert lib.add_workout(b).status == "duplicate"
    # a different run an hour later is not
    assert lib.add_workout(_run(start=1.7e9 + 3600 * 3)).status == "imported"
    # nor a bike ride at the same time
    assert lib.add_workout(_run(sport="bike", speed=8.0).replace(time_s=a.time_s + 1)).status == "imported"


def test_summary_only_run_is_upgraded_by_the_full_workout(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    s = RunSummary(start_time=datetime.fromtimestamp(1.7e9 + 20, tz=timezone.utc), distance_m=3600, duration_s=1199)
    assert lib.add_summary(s).status == "imported"
    assert lib.add_summary(s).status == "duplicate"
    assert lib.runs()[0]["summary_only"] is True
    with pytest.raises(Sub3Error, match="summary-only"):
        lib.get_workout(lib.runs()[0]["id"])
    assert lib.add_workout(_run()).status == "replaced"
    rows = lib.runs()
    assert len(rows) == 1 and rows[0]["summary_only"] is False


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failure_mid_write_leaves_no_half_workout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    lib = Library(tmp_path / "lib.duckdb")

    def boom(*a: object, **k: object) -> None:
        raise exc

    monkeypatch.setattr(lib, "_insert_samples", boom)  # fault injection after the run row is written
    with pytest.raises(type(exc)):
        lib.add_workout(_run())
    assert lib.count() == 0
    assert lib.con.execute("select count(*) from samples").fetchone()[0] == 0
    monkeypatch.undo()
    assert lib.add_workout(_run()).status == "imported"
    lib.close()
    # and the file is sound after reopening
    assert Library(tmp_path / "lib.duckdb").count() == 1


def test_filters_and_summaries(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    for k in range(3):
        lib.add_workout(_run(start=1.7e9 + k * 86400))
    lib.add_workout(_run(start=1.7e9 + 5 * 86400, sport="bike", speed=8))
    assert len(lib.runs(sport="run")) == 3
    assert len(lib.runs(since=datetime.fromtimestamp(1.7e9, tz=timezone.utc) + timedelta(days=1))) == 3
    assert [s.sport for s in lib.summaries(sport=None)] == ["run", "run", "run", "bike"]
    assert len(list(lib.iter_workouts(sport="run"))) == 3


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "lib.duckdb"
    lib = Library(p)
    lib.con.execute("update meta set value = '999' where key = 'schema_version'")
    lib.close()
    with pytest.raises(Sub3Error, match="newer"):
        Library(p)


def test_env_var_sets_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUB3_LIBRARY", str(tmp_path / "x" / "env.duckdb"))
    with Library() as lib:
        assert lib.path == tmp_path / "x" / "env.duckdb"
    assert (tmp_path / "x" / "env.duckdb").exists()


def test_same_day_runs_from_a_date_only_log_are_kept_apart(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    day = datetime(2022, 3, 29, 12, tzinfo=timezone.utc)
    for dist in (5000.0, 8000.0, 12000.0):
        s = RunSummary(start_time=day, distance_m=dist, moving_time_s=dist * 0.3, metadata={"date_only": True})
        assert lib.add_summary(s).status == "imported"
    again = RunSummary(start_time=day, distance_m=8000.0, moving_time_s=2400, metadata={"date_only": True})
    assert lib.add_summary(again).status == "duplicate"
    assert lib.count() == 3


def test_many_reads_and_writes_on_one_connection_in_a_batch(tmp_path: Path) -> None:
    """DuckDB refuses new work while a result is unfinished: duplicate checks must read theirs
    to the end (a history with repeated rows used to fail half-way)."""
    lib = Library(tmp_path / "lib.duckdb")
    s = RunSummary(start_time=datetime(2024, 1, 1, 7, tzinfo=timezone.utc), distance_m=5000, duration_s=1500)
    with lib.batch():
        assert lib.add_summary(s).status == "imported"
    with lib.batch():
        assert lib.add_summary(RunSummary(start_time=datetime(2024, 1, 2, 7, tzinfo=timezone.utc), distance_m=8000)).status == "imported"
        for _ in range(3):  # the batch ends on a duplicate found by id, then flushes its rows
            assert lib.add_summary(s).status == "duplicate"
    assert lib.known_file("0" * 64) is None and lib.count() == 2


# ----- one writer, many readers (real processes) ---------------------------------------------
_HOLD = """
import sys, time
from sub3coach.library import Library
lib = Library(sys.argv[1])
lib.count()
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
lib.close()
"""


def _hold_write_lock(path: Path, seconds: float) -> "subprocess.Popen[str]":
    """Another process that opens the library read-write and keeps it for ``seconds``."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def _sub3(*args: str, **env: str) -> "subprocess.CompletedProcess[str]":
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "sub3coach.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_a_reader_waits_for_a_writer_then_reads(tmp_path: Path) -> None:
    p = tmp_path / "lib.duckdb"
    with Library(p) as lib:
        lib.add_workout(_run())
    holder = _hold_write_lock(p, 5.0)  # longer than a loaded machine takes to start the reader
    r = _sub3("runs", "--json", "--library", str(p), SUB3_BUSY_TIMEOUT="30")
    holder.wait(timeout=30)
    assert r.returncode == 0, r.stderr
    assert len(__import__("json").loads(r.stdout)) == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sub3: warning: library busy") and "retrying" in lines[0], r.stderr
    assert "Conflicting lock" not in r.stderr and "IO Error" not in r.stderr


def test_a_reader_gives_up_with_one_line_after_the_timeout(tmp_path: Path) -> None:
    p = tmp_path / "lib.duckdb"
    Library(p).close()
    holder = _hold_write_lock(p, 20.0)
    try:
        r = _sub3("show", "latest", "--library", str(p), SUB3_BUSY_TIMEOUT="2")
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert err[0].startswith("sub3: warning: library busy")
    assert err[-1].startswith(f"sub3: error: {p}: library busy: process {holder.pid}") and "SUB3_BUSY_TIMEOUT" in err[-1]
    assert "Conflicting lock" not in r.stderr and "Traceback" not in r.stderr and len(err) == 2


def test_keep_open_false_releases_the_file_between_batches(tmp_path: Path) -> None:
    import duckdb

    p = tmp_path / "lib.duckdb"
    lib = Library(p, keep_open=False)
    assert lib.known_file("0" * 64) is None
    with lib.batch():
        lib.add_workout(_run())
        lib.record_file("a" * 64, "x.gpx", 1)
    assert lib.known_file("a" * 64) == 1
    holder = _hold_write_lock(p, 0.1)  # another process could open it read-write: nothing held here
    holder.wait(timeout=30)
    con = duckdb.connect(str(p), read_only=True)
    assert con.execute("select count(*) from runs").fetchone() == (1,)
    con.close()
    with pytest.raises(KeyboardInterrupt):  # a rolled-back batch releases the file too
        with lib.batch():
            lib.add_workout(_run(start=1.8e9))
            raise KeyboardInterrupt
    assert lib._con is None and lib.count() == 1
    lib.close()


def test_files_that_are_not_sub3_libraries(tmp_path: Path) -> None:
    import duckdb

    foreign = tmp_path / "other.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("create table sales (x int)")
    con.close()
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database at all" * 100)
    for path, msg in ((foreign, "without sub3's tables"), (junk, "not a DuckDB file")):
        for ro in (True, False):
            with pytest.raises(Sub3Error, match=msg):
                Library(path, read_only=ro)
    con = duckdb.connect(str(foreign), read_only=True)  # left untouched
    assert [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()] == ["sales"]
    con.close()
    for args in (("show", "latest"), ("plan", "next"), ("runs",), ("athletes",)):
        r = _sub3(*args, "--library", str(foreign))
        assert r.returncode == 1 and r.stderr.strip() == f"sub3: error: {foreign}: not a sub3 library (a DuckDB file without sub3's tables)", (args, r.stderr)
