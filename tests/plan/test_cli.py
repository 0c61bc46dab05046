"""``sub3 plan`` commands through Typer's runner, on generated history files."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sub3coach.plan.cli import plan_app
from tests.plan.gen import history_frame, write_many_runners, write_simple_csv

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("plan")
    one = history_frame(70, seed=11)
    hist = write_simple_csv(d / "csv-d-abcdef.csv", one)
    data = d / "data"
    data.mkdir()
    write_many_runners(data / "many.csv", [history_frame(60, seed=s, base_pace=260 + 15 * s) for s in range(10)])
    model = d / "plan.pt"
    res = runner.invoke(plan_app, ["train", "--data", str(data), "--out", str(model), "--epochs", "1", "--json"])
    assert res.exit_code == 0, res.output
    as_of = (one["start_time"].max() + pd.Timedelta(days=1)).date().isoformat()
    return {"history": hist, "data": data, "model": model, "as_of": Path(as_of), "train": json.loads(res.stdout)}


def test_train_writes_a_model_with_held_out_metrics(files) -> None:
    trained = files["train"]
    assert trained["data"]["n_runners"] == {"train": 7, "val": 1, "test": 2}
    res = runner.invoke(plan_app, ["evaluate", "--model", str(files["model"]), "--data", str(files["data"]), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["pace_mae_s_per_km"] == trained["metrics"]["pace_mae_s_per_km"]  # the recorded numbers reproduce
    assert out["n_runners"] == 2 and out["n_runners_skipped_seen"] == 8  # 20 % test runners of 10
    assert out["n_predictions"] > 0 and set(out["baselines"]) == {"last_run", "mean_7d", "median_28d"}
    assert out["pace_mae_s_per_km"] > 0 and len(out["per_runner"]) == 2


def test_next_json(files) -> None:
    res = runner.invoke(plan_app, ["next", "--history", str(files["history"]), "--as-of", files["as_of"].name,
                                   "--model", str(files["model"]), "--json"])
    assert res.exit_code == 0, res.output
    w = json.loads(res.stdout)
    assert w["date"] >= files["as_of"].name and w["type"] in ("recovery", "easy", "long", "tempo", "interval")
    assert w["distance_m"] >= 3000 and 150 <= w["pace_s_per_km"] <= 900
    assert w["duration_s"] == pytest.approx(w["distance_m"] / 1000 * w["pace_s_per_km"], rel=1e-3)
    assert "expected_hr_bpm" in w


def test_next_table_and_week(files) -> None:
    res = runner.invoke(plan_app, ["next", "--history", str(files["history"]), "--as-of", files["as_of"].name,
                                   "--model", str(files["model"]), "--no-hr"])
    assert res.exit_code == 0, res.output
    assert "Next workout" in res.stdout and "/km" in res.stdout
    res = runner.invoke(plan_app, ["week", "--history", str(files["history"]), "--as-of", files["as_of"].name,
                                   "--model", str(files["model"]), "--no-hr", "--race-date", files["as_of"].name[:8] + "28",
                                   "--race-distance", "10k", "--json"])
    assert res.exit_code == 0, res.output
    week = json.loads(res.stdout)
    assert len(week["days"]) == 7 and any(d["type"] == "rest" for d in week["days"])
    assert week["total_distance_m"] == pytest.approx(sum(d["distance_m"] for d in week["days"]), abs=1)


def test_race(files) -> None:
    res = runner.invoke(plan_app, ["race", "half", "--history", str(files["history"]), "--as-of", files["as_of"].name, "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["distance_m"] == 21097.5 and 3600 < r["vdot_time_s"] < 4 * 3600 and set(r["training_paces_s_per_km"]) == set("EMTIR")
    res = runner.invoke(plan_app, ["race", "10k", "--history", str(files["history"]), "--as-of", files["as_of"].name])
    assert res.exit_code == 0 and "Riegel" in res.stdout and "VDOT" in res.stdout


@pytest.mark.parametrize("args, words", [
    (["race", "far"], "not understood"),
    (["next", "--history", "MISSING"], "no such file"),
    (["next", "--history", "HIST", "--as-of", "yesterday"], "not a date"),
    (["next", "--history", "HIST", "--as-of", "9999-12-31"], "outside 1980-2100"),
    (["next", "--history", "HIST", "--as-of", "2000-01-01", "--model", "MODEL"], "no runs before"),
    (["next", "--history", "HIST", "--model", "MISSING"], "model file not found"),
    (["next", "--history", "DATA/many.csv"], "--runner"),
    (["week", "--history", "HIST", "--as-of", "2024-03-01", "--race-date", "2024-02-01", "--model", "MODEL"],
     "before the first planned day"),
    (["evaluate", "--data", "HIST", "--model", "MODEL", "--include-seen"], "days of earlier history"),
])
def test_errors_are_one_line(files, tmp_path, args: list[str], words: str) -> None:
    sub = {"HIST": str(files["history"]), "MISSING": str(tmp_path / "missing.csv"), "MODEL": str(files["model"]),
           "DATA/many.csv": str(files["data"] / "many.csv")}
    args = [sub.get(a, a) for a in args]
    if args[0] == "evaluate":  # a history too short for the 4-week rule
        short = tmp_path / "short.csv"
        write_simple_csv(short, history_frame(20, seed=1))
        args[2] = str(short)
    res = runner.invoke(plan_app, args)
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sub3: error:") and words in lines[0], res.stderr


def test_bad_history_file(tmp_path) -> None:
    p = tmp_path / "empty.csv"
    p.write_text("")
    res = runner.invoke(plan_app, ["next", "--history", str(p)])
    assert res.exit_code == 1 and "empty.csv" in res.stderr and "empty" in res.stderr


def test_library_source(files, tmp_path) -> None:
    from sub3coach.io.history import iter_history
    from sub3coach.library import Library

    lib_path = tmp_path / "lib.duckdb"
    with Library(lib_path) as lib:
        for s in iter_history(files["history"]):
            lib.add_summary(s)
    res = runner.invoke(plan_app, ["next", "--library", str(lib_path), "--as-of", files["as_of"].name,
                                   "--model", str(files["model"]), "--no-hr", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["distance_m"] >= 3000
    res = runner.invoke(plan_app, ["next", "--as-of", files["as_of"].name], env={"SUB3_LIBRARY": str(tmp_path / "none.duckdb")})
    assert res.exit_code == 1 and "import something first" in res.stderr


def test_help_has_examples() -> None:
    for cmd in ("next", "week", "race", "train", "evaluate"):
        res = runner.invoke(plan_app, [cmd, "--help"])
        assert res.exit_code == 0 and "Example: sub3 plan " + cmd in res.stdout


def test_personalise_flag_below_threshold_uses_the_population_model(files) -> None:
    base = ["next", "--history", str(files["history"]), "--as-of", files["as_of"].name, "--model", str(files["model"]),
            "--no-hr", "--json"]
    a = runner.invoke(plan_app, base)
    b = runner.invoke(plan_app, base + ["--personalise"])  # ~40 runs: below the 150-run threshold
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    assert json.loads(a.stdout) == json.loads(b.stdout)


def _json(args: list[str]) -> dict:
    res = runner.invoke(plan_app, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_next_is_the_first_run_of_the_week(files) -> None:
    base = ["--history", str(files["history"]), "--model", str(files["model"]), "--no-hr", "--json"]
    for as_of in (files["as_of"].name, "2024-02-05", "2024-02-20"):
        week = _json(["week", "--as-of", as_of] + base)
        nxt = _json(["next", "--as-of", as_of] + base)
        first = next(d for d in week["days"] if d["type"] != "rest")
        assert nxt == first and week["next_run_date"] == nxt["date"]
        assert any(d["type"] == "rest" for d in week["days"])
        assert set(week) >= {"days", "total_distance_m", "weekly_target_m", "recent_weekly_avg_m", "volume_reason",
                             "zones", "form"}
        for d in week["days"]:
            assert (d["session"] is None) == (d["type"] == "rest")
            if d["type"] in ("tempo", "interval"):
                assert d["session"]["warmup"] and d["session"]["work"]["pace_s_per_km"][1] < week["zones"]["easy_s_per_km"][0]


def test_week_table_and_calendar_and_watch_files(files, tmp_path) -> None:
    import fitdecode

    res = runner.invoke(plan_app, ["week", "--history", str(files["history"]), "--as-of", files["as_of"].name,
                                   "--model", str(files["model"]), "--no-hr", "--ics", str(tmp_path / "w.ics"),
                                   "--fit-workouts", str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    assert "volume: your 4-week average" in res.stdout and "paces: VDOT" in res.stdout and "wrote" in res.stdout
    ics = (tmp_path / "w.ics").read_text()
    fits = sorted((tmp_path / "w").glob("*.fit"))
    assert ics.count("BEGIN:VEVENT") == len(fits) >= 2
    for f in fits:
        with fitdecode.FitReader(str(f)) as fr:
            names = [m.name for m in fr if isinstance(m, fitdecode.FitDataMessage)]
        assert names[:2] == ["file_id", "workout"] and "workout_step" in names
    res = runner.invoke(plan_app, ["week", "--history", str(files["history"]), "--as-of", files["as_of"].name,
                                   "--model", str(files["model"]), "--no-hr", "--ics", str(tmp_path / "no" / "such" / "w.ics")])
    assert res.exit_code == 1 and res.stderr.startswith("sub3: error: ") and "w.ics" in res.stderr


def test_library_athlete_zones_come_from_the_profile(files, tmp_path) -> None:
    """Runs with samples give the athlete an estimated threshold pace: the week's paces name it."""
    from datetime import datetime, timezone

    from sub3coach.library import Library
    from sub3coach.synth import synthetic_history, synthetic_run

    lib_path = tmp_path / "lib.duckdb"
    end = datetime(2024, 3, 4, tzinfo=timezone.utc)
    with Library(lib_path) as lib:
        for s in synthetic_history(10, end=end, seed=3):
            lib.add_summary(s)
        for k in range(2):
            lib.add_workout(synthetic_run(duration_s=1800, pace_s_per_km=250.0, seed=k, start=datetime(2024, 2, 20 + k, 18, tzinfo=timezone.utc)))
    week = _json(["week", "--library", str(lib_path), "--as-of", "2024-03-04", "--model", str(files["model"]), "--no-hr", "--json"])
    assert "threshold pace" in week["zones"]["source"], week["zones"]
    assert week["next_run_date"] is not None
    from sub3coach.plan.api import week_plan
    from sub3coach.plan.export import ics_bytes
    from sub3coach.plan.train import load_plan_model

    with Library(lib_path) as lib:  # a second athlete: each plan carries its athlete, their calendars do not collide
        lib.import_athlete = "Bo Ek"
        for s in synthetic_history(10, end=end, seed=4):
            lib.add_summary(s)
    with Library(lib_path, read_only=True) as lib:
        names = [a["name"] for a in lib.athletes()]
        assert len(names) == 2 and "Bo Ek" in names
        plans = {n: week_plan(lib, n, as_of=datetime(2024, 3, 4).date(), model=load_plan_model(files["model"]), hr_model=False)
                 for n in names}
    assert {p.runner for p in plans.values()} == set(names)
    assert b"-bo-ek@sub3coach" in ics_bytes(plans["Bo Ek"])
    uids = [set(line for line in ics_bytes(p).split(b"\r\n") if line.startswith(b"UID:")) for p in plans.values()]
    assert uids[0] and uids[1] and not uids[0] & uids[1]
