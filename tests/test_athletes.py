"""Athletes: the runs.athlete column and its migration, the athletes table, profiles with
stated / estimated / default values, and --athlete on the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from sub3coach.athletes import (
    DEFAULT_MAX_HR_BPM, RIEGEL_EXPONENT, build_profile, estimate_max_hr, estimate_max_hr_from_averages, estimate_threshold,
    max_hr, profile, tanaka_max_hr,
)
from sub3coach.errors import Sub3Error
from sub3coach.io.write import write_gpx
from sub3coach.library import DEFAULT_ATHLETE, Library
from sub3coach.synth import synthetic_run
from sub3coach.workout import RunSummary, Workout

DAY = 86400.0


def _steady(start: float, minutes: float, speed: float, hr: float, *, user_id: str | None = None, hr_noise: float = 2.0,
            seed: int = 0) -> Workout:
    """A run at one speed (m/s) and HR (BPM), 1-s samples."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60)
    t = start + np.arange(n, dtype=float)
    return Workout(time_s=t, speed_mps=np.full(n, speed), hr_bpm=hr + rng.normal(0, hr_noise, n),
                   altitude_m=np.full(n, 50.0), sport="run", source=f"steady-{start}", user_id=user_id)


def sub3(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sub3coach.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


# ----- library ---------------------------------------------------------------------------
def test_runs_get_the_named_the_source_or_the_default_athlete(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    lib.add_workout(_steady(1.7e9, 30, 3.0, 150))  # no runner id: the default athlete
    assert [a["name"] for a in lib.athletes()] == [DEFAULT_ATHLETE]
    lib.add_workout(_steady(1.7e9 + DAY, 30, 3.0, 150, user_id="d-1"))  # a corpus runner
    lib.add_workout(_steady(1.7e9 + 2 * DAY, 30, 3.0, 150, user_id="d-2"))
    lib.import_athlete = "alice"
    lib.add_workout(_steady(1.7e9 + 3 * DAY, 30, 3.0, 150, user_id="d-1"))  # --athlete wins
    rows = {a["name"]: a for a in lib.athletes()}
    assert set(rows) == {"me", "d-1", "d-2", "alice"}
    assert rows["alice"]["runs"] == 1 and rows["alice"]["runs_with_hr"] == 1
    assert rows["me"]["first"] == "2023-11-14T22:13:20Z" == rows["me"]["last"]
    assert len(lib.runs(athlete="d-1")) == 1 and len(lib.summaries(athlete="d-2")) == 1
    assert [w.metadata["athlete"] for w in lib.iter_workouts(athlete="alice")] == ["alice"]


def test_a_library_of_one_athlete_keeps_new_unnamed_runs_with_them(tmp_path: Path) -> None:
    with Library(tmp_path / "lib.duckdb") as lib:
        lib.import_athlete = "alice"
        lib.add_workout(_steady(1.7e9, 30, 3.0, 150))
    with Library(tmp_path / "lib.duckdb") as lib:  # a later import without --athlete
        lib.add_summary(RunSummary(start_time=datetime(2024, 1, 1, 7, tzinfo=timezone.utc), distance_m=5000, duration_s=1500))
        assert [(a["name"], a["runs"]) for a in lib.athletes()] == [("alice", 2)]


def test_two_athletes_running_together_are_not_duplicates(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    lib.import_athlete = "alice"
    assert lib.add_workout(_steady(1.7e9, 40, 3.0, 150, seed=1)).status == "imported"
    lib.import_athlete = "bob"
    assert lib.add_workout(_steady(1.7e9 + 5, 40, 3.0, 160, seed=2)).status == "imported"
    lib.import_athlete = "alice"  # the same run again (its GPX, say) is still alice's duplicate
    assert lib.add_workout(_steady(1.7e9 + 3, 40, 3.0, 150, seed=3)).status == "duplicate"


def test_resolve_athlete(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    with pytest.raises(Sub3Error, match="empty"):
        lib.resolve_athlete(None)
    lib.add_workout(_steady(1.7e9, 30, 3.0, 150, user_id="a"))
    assert lib.resolve_athlete(None) == "a" and lib.resolve_athlete("a") == "a"
    for k, u in enumerate(("b", "c")):
        lib.add_workout(_steady(1.7e9 + (k + 1) * DAY, 30, 3.0, 150, user_id=u))
    with pytest.raises(Sub3Error) as e:
        lib.resolve_athlete(None)
    assert str(e.value) == "library holds 3 athletes (a, b, c): name one with --athlete"
    with pytest.raises(Sub3Error, match=r"no athlete 'zed' in the library \(athletes: a, b, c\)"):
        lib.resolve_athlete("zed")


def test_v1_library_is_migrated_in_place(tmp_path: Path) -> None:
    """A library written before athletes existed (made here by removing v2's additions)."""
    p = tmp_path / "old.duckdb"
    with Library(p) as lib:
        lib.add_workout(_steady(1.7e9, 30, 3.0, 150, user_id="d-9"))
        lib.add_workout(_steady(1.7e9 + DAY, 30, 3.0, 150))
        lib.con.execute("ALTER TABLE runs DROP COLUMN athlete")
        lib.con.execute("DROP TABLE athletes")
        lib.con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Library(p, read_only=True) as ro:  # read-only: athletes derived on the fly
        assert [r["athlete"] for r in ro.runs()] == ["d-9", "me"]
        assert [a["name"] for a in ro.athletes()] == ["d-9", "me"]
        assert ro.athlete_stated("me")["max_hr_bpm"] is None
    with Library(p) as rw:
        assert rw.con.execute("SELECT athlete FROM runs ORDER BY start_time").fetchall() == [("d-9",), ("me",)]
        assert rw.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
        rw.set_athlete("me", max_hr_bpm=185)
    with Library(p, read_only=True) as ro:
        assert ro.athlete_stated("me")["max_hr_bpm"] == 185


def test_set_athlete_keeps_unstated_values_and_refuses_nonsense(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    lib.set_athlete("alice", max_hr_bpm=188, resting_hr_bpm=48)
    s = lib.set_athlete("alice", birth_year=1985, gender="Female")
    assert (s["max_hr_bpm"], s["resting_hr_bpm"], s["birth_year"], s["gender"]) == (188, 48, 1985, "female")
    assert s["updated_at"].endswith("Z")
    assert [a["name"] for a in lib.athletes()] == ["alice"]  # an athlete without runs yet
    for kw, msg in (({"max_hr_bpm": 300}, "outside"), ({"resting_hr_bpm": 200}, "outside"),
                    ({"birth_year": 1700}, "birth year"), ({"gender": "x"}, "gender"), ({"resting_hr_bpm": 110, "max_hr_bpm": 105}, "below")):
        with pytest.raises(Sub3Error, match=msg):
            lib.set_athlete("alice", **kw)  # type: ignore[arg-type]
    lib.set_athlete("carl", max_hr_bpm=105)
    with pytest.raises(Sub3Error, match="below"):
        lib.set_athlete("carl", resting_hr_bpm=110)  # checked against the stored max
    assert lib.athlete_stated("alice")["resting_hr_bpm"] == 48 and lib.athlete_stated("carl")["resting_hr_bpm"] is None


# ----- estimates -------------------------------------------------------------------------
def test_max_hr_from_runs_is_robust_to_spikes_and_to_one_bad_run() -> None:
    runs = [_steady(1.7e9 + k * DAY, 40, 3.0, 150 + 5 * k, seed=k) for k in range(5)]
    for w, top in zip(runs, (176.0, 178.0, 180.0, 182.0, 184.0)):
        w.hr_bpm[-300:] = np.linspace(top - 10, top, 300)  # a finish
    base = estimate_max_hr(runs)
    assert base is not None and base.source == "estimated" and "99.5th percentile" in base.method
    assert 179 <= base.value <= 183  # median of the three highest runs' tops (180, 182, 184)
    runs[0].hr_bpm[100:105] = 228.0  # a five-second strap spike
    runs[1].hr_bpm[600:1200] = 215.0  # ten minutes of cadence lock
    spiky = estimate_max_hr(runs)
    assert spiky is not None and abs(spiky.value - base.value) <= 2.5
    assert estimate_max_hr([_steady(1.7e9, 5, 3.0, 150)]) is None  # too short to count


def test_threshold_from_a_hard_sustained_effort() -> None:
    easy = [_steady(1.7e9 + k * DAY, 50, 2.8, 140, seed=k) for k in range(3)]
    hard = _steady(1.7e9 + 5 * DAY, 30, 4.0, 170, seed=9)  # 30 min at 4:10/km, HR 170
    hr, pace = estimate_threshold(easy + [hard], 188.0)
    assert hr is not None and pace is not None
    assert hr.value == pytest.approx(170, abs=1.5)
    expect = 1000 / 4.0 * 2 ** (1 - 1 / RIEGEL_EXPONENT)  # 30 min carried to 60 by Riegel
    assert pace.value == pytest.approx(expect, abs=1.0) and "30-min" in pace.method
    hr2, pace2 = estimate_threshold(easy, 188.0)  # no hard effort: pace only, as a lower bound
    assert hr2 is None and pace2 is not None and "probably faster" in pace2.method
    assert estimate_threshold([_steady(1.7e9, 15, 3.0, 150)], 188.0) == (None, None)


def test_profile_sources() -> None:
    no_hr = _steady(1.7e9, 40, 3.0, 150)
    no_hr.hr_bpm = None
    p = build_profile("a", {"birth_year": 1985}, [no_hr], year=2025)
    assert p.max_hr_bpm.source == "estimated" and p.max_hr_bpm.value == pytest.approx(tanaka_max_hr(1985, 2025)) == 208 - 0.7 * 40
    assert "Tanaka" in p.max_hr_bpm.method and p.birth_year.source == "stated"
    assert p.resting_hr_bpm.source == "default" and p.threshold_hr_bpm.value is None
    p = build_profile("b", {}, [])
    assert p.max_hr_bpm.to_dict() == {"value": DEFAULT_MAX_HR_BPM, "source": "default", "method": p.max_hr_bpm.method}
    p = build_profile("c", {"max_hr_bpm": 188.0, "resting_hr_bpm": 48.0, "gender": "female"}, [_steady(1.7e9, 40, 3.0, 150)])
    assert (p.max_hr_bpm.source, p.resting_hr_bpm.value, p.gender.value) == ("stated", 48.0, "female")
    d = p.to_dict()
    assert set(d) == {"name", "runs", "max_hr_bpm", "resting_hr_bpm", "threshold_hr_bpm", "threshold_pace_s_per_km",
                      "birth_year", "gender"}
    json.dumps(d)


def test_profile_from_a_library(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    lib.import_athlete = "alice"
    for k in range(3):
        lib.add_workout(_steady(1.7e9 + k * DAY, 40, 3.0, 150 + 5 * k, seed=k))
    lib.set_athlete("alice", resting_hr_bpm=50)
    p = profile(lib, None)
    assert p.name == "alice" and p.runs["runs"] == 3
    assert p.max_hr_bpm.source == "estimated" and p.resting_hr_bpm.source == "stated"


def test_max_hr_chain_samples_then_average_hrs_then_birth_year() -> None:
    from sub3coach.plan.race import fraction_vo2max, hr_fraction_at

    rows = [{"distance_m": 10_000.0, "moving_time_s": 2700.0, "avg_hr_bpm": hr} for hr in (150.0, 160.0, 170.0, 165.0)]
    rows += [{"distance_m": 2000.0, "moving_time_s": 600.0, "avg_hr_bpm": 199.0},  # too short to count
             {"distance_m": 8000.0, "moving_time_s": 2400.0, "avg_hr_bpm": None}]
    no_hr = _steady(1.7e9, 40, 3.0, 150)
    no_hr.hr_bpm = None
    p = build_profile("a", {"birth_year": 1985}, [no_hr], year=2025, summaries=rows)
    implied = 165.0 / hr_fraction_at(fraction_vo2max(45.0))  # median of the 3 highest: 160, 165, 170 at 45 min
    assert p.max_hr_bpm.source == "estimated" and p.max_hr_bpm.value == pytest.approx(implied, abs=0.05)
    assert "average HRs of 4 runs" in p.max_hr_bpm.method and "lower bound" in p.max_hr_bpm.method
    with_hr = build_profile("a", {"birth_year": 1985}, [_steady(1.7e9, 40, 3.0, 181)], year=2025, summaries=rows)
    assert with_hr.max_hr_bpm.value == pytest.approx(estimate_max_hr([_steady(1.7e9, 40, 3.0, 181)]).value)  # samples first
    no_avg = [dict(r, avg_hr_bpm=None) for r in rows]
    assert "Tanaka" in build_profile("a", {"birth_year": 1985}, [no_hr], year=2025, summaries=no_avg).max_hr_bpm.method
    assert estimate_max_hr_from_averages([], [], []) is None


def test_summary_only_library_gives_the_same_max_hr_to_every_command(tmp_path: Path) -> None:
    """A library of history rows with average HR only: profile, zones and plan race agree."""
    from typer.testing import CliRunner

    from sub3coach.load import athlete_zones
    from sub3coach.plan.cli import plan_app
    from sub3coach.plan.race import max_hr_from_history
    from sub3coach.plan.history import history_from_library

    lib = Library(tmp_path / "lib.duckdb")
    lib.import_athlete = "ann"
    for k in range(12):
        lib.add_summary(RunSummary(start_time=datetime(2025, 3, 1 + 2 * k, 7, tzinfo=timezone.utc), sport="run",
                                   distance_m=10_000.0, duration_s=3000.0 - 10 * k, moving_time_s=3000.0 - 10 * k,
                                   avg_hr_bpm=150.0 + k, source="history"))
    p = profile(lib, "ann")
    assert p.max_hr_bpm.source == "estimated" and "average HRs" in p.max_hr_bpm.method
    assert max_hr(lib, "ann") == p.max_hr_bpm and athlete_zones(lib, "ann").max_hr == p.max_hr_bpm
    assert max_hr_from_history(history_from_library(lib)).bpm == p.max_hr_bpm.value  # the history-file path: same function
    lib.close()
    res = CliRunner().invoke(plan_app, ["race", "10k", "--library", str(tmp_path / "lib.duckdb"), "--athlete", "ann",
                                        "--as-of", "2025-04-01", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["max_hr"]["bpm"] == p.max_hr_bpm.value


# ----- CLI -------------------------------------------------------------------------------
def test_cli_athletes_import_list_set_show_and_clear_errors(tmp_path: Path) -> None:
    lib = str(tmp_path / "lib.duckdb")
    for k, who in enumerate(("alice", "bob")):
        gpx = tmp_path / f"{who}.gpx"
        w = synthetic_run(duration_s=1500, seed=k)
        gpx.write_bytes(write_gpx(w.replace(time_s=w.time_s + k * DAY)))
        r = sub3("import", str(gpx), "--athlete", who, "--library", lib)
        assert r.returncode == 0, r.stderr
    r = sub3("athletes", "--json", "--library", lib)
    rows = json.loads(r.stdout)
    assert [(a["name"], a["runs"], a["runs_with_hr"]) for a in rows] == [("alice", 1, 1), ("bob", 1, 1)]
    assert rows[1]["first"] > rows[0]["first"]
    r = sub3("athletes", "--library", lib)
    assert r.returncode == 0 and "alice" in r.stdout and "bob" in r.stdout
    for cmd in (("show", "latest"), ("plan", "next"), ("athletes", "show")):
        r = sub3(*cmd, "--library", lib)
        assert r.returncode == 1, (cmd, r.stderr)
        assert r.stderr.strip() == "sub3: error: library holds 2 athletes (alice, bob): name one with --athlete", cmd
    r = sub3("runs", "--athlete", "carol", "--library", lib)
    assert r.returncode == 1 and "no athlete 'carol'" in r.stderr and "alice, bob" in r.stderr
    r = sub3("runs", "-a", "bob", "--json", "--library", lib)
    assert [x["athlete"] for x in json.loads(r.stdout)] == ["bob"]
    r = sub3("show", "latest", "--athlete", "alice", "--json", "--library", lib)
    assert r.returncode == 0 and json.loads(r.stdout)["athlete"] == "alice"
    r = sub3("athletes", "set", "bob", "--max-hr", "188", "--resting-hr", "48", "--birth-year", "1985", "--library", lib)
    assert r.returncode == 0, r.stderr
    r = sub3("athletes", "show", "bob", "--json", "--library", lib)
    prof = json.loads(r.stdout)
    assert prof["max_hr_bpm"] == {"value": 188.0, "source": "stated", "method": "stated by the athlete"}
    assert prof["threshold_pace_s_per_km"]["source"] == "estimated" and prof["birth_year"]["value"] == 1985
    r = sub3("show", "latest", "-a", "bob", "--plot", str(tmp_path / "bob.svg"), "--library", lib)
    assert r.returncode == 0 and "<!-- zones: % of max HR 188 (stated) -->" in (tmp_path / "bob.svg").read_text()
    r = sub3("show", "latest", "-a", "alice", "--plot", str(tmp_path / "alice.svg"), "--library", lib)
    assert r.returncode == 0 and "(estimated) -->" in (tmp_path / "alice.svg").read_text()  # from her recorded HR
    r = sub3("athletes", "show", "bob", "--library", lib)
    assert "stated" in r.stdout and "estimated" in r.stdout and "threshold pace" in r.stdout
    r = sub3("athletes", "set", "bob", "--gender", "robot", "--library", lib)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "female" in r.stderr
    r = sub3("import", str(tmp_path / "alice.gpx"), "--athlete", "  ", "--library", lib)
    assert r.returncode == 2 and "athlete name" in r.stderr


def test_cli_runner_set_then_show_in_process(tmp_path: Path) -> None:
    """The same commands in-process (Typer's CliRunner): stating values, then the profile."""
    from typer.testing import CliRunner

    from sub3coach.cli import app

    lib = str(tmp_path / "lib.duckdb")
    runner = CliRunner()
    r = runner.invoke(app, ["athletes", "set", "zoe", "--max-hr", "191", "--birth-year", "1990", "--library", lib, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["max_hr_bpm"] == 191
    r = runner.invoke(app, ["athletes", "show", "--library", lib, "--json"])  # the only athlete, no runs yet
    prof = json.loads(r.stdout)
    assert prof["name"] == "zoe" and prof["runs"]["runs"] == 0 and prof["threshold_hr_bpm"]["value"] is None
    r = runner.invoke(app, ["athletes", "set", "zoe", "--max-hr", "90", "--library", lib])
    assert r.exit_code == 2
