"""``sub3 plan race`` and ``sub3 plan race-evaluate`` through Typer's runner, on generated histories."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sub3coach.plan.cli import plan_app
from sub3coach.plan.race import hr_fraction_at, velocity_at
from tests.plan.gen import history_frame

runner = CliRunner()
PARKRUN = pd.Timestamp("2024-02-17 09:00", tz="UTC")


def write_named_log(path: Path, *, seed: int = 0, hr: bool = True) -> Path:
    """A plain ``date,dist_m,mov_s,hr,name`` log: a generated runner (HR following Runalyze's
    relation for VDOT 46, max HR 186) with a hard 5 km named "Saturday parkrun" and a fast 10 km."""
    h = history_frame(100, seed=seed, base_pace=320.0)
    rows = [(st, d, t, "Morning Run") for st, d, t in zip(h["start_time"], h["distance_m"], h["duration_s"])]
    rows += [(PARKRUN, 5000.0, 5 * 272.0, "Saturday parkrun"), (pd.Timestamp("2024-03-30 09:00", tz="UTC"), 10_000.0, 10 * 275.0, "Long tempo")]
    lines = ["date,dist_m,mov_s,hr,name"]
    for st, d, t, name in sorted(rows):
        bpm = 186.0 * hr_fraction_at(d / (t / 60) / velocity_at(46.0)) if hr else ""
        lines.append(f"{st:%Y-%m-%d %H:%M:%S},{d:.1f},{t:.0f},{bpm if bpm == '' else round(bpm)},{name}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("race")
    data = d / "data"
    data.mkdir()
    write_named_log(data / "csv-d-aaaaaa.csv", seed=1)
    write_named_log(data / "csv-d-bbbbbb.csv", seed=2, hr=False)
    return {"hr": data / "csv-d-aaaaaa.csv", "nohr": data / "csv-d-bbbbbb.csv", "data": data}


def test_race_json_has_three_methods_with_their_inputs(logs) -> None:
    res = runner.invoke(plan_app, ["race", "10k", "--history", str(logs["hr"]), "--as-of", "2024-04-08", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["distance_m"] == 10_000 and set(r["training_paces_s_per_km"]) == set("EMTIR")
    assert 2000 < r["riegel_time_s"] < 4000 and 2000 < r["vdot_time_s"] < 4000 and 2000 < r["hr_time_s"] < 4000
    assert r["basis_date"].startswith("2024-03-30")  # the fast 10 km
    assert r["max_hr"]["source"] == "estimated" and "average HR" in r["max_hr"]["method"]
    hp = r["hr_pace"]
    assert hp["n_runs"] > 5 and hp["factor_run_date"] is not None and hp["correction_factor"] != 1.0
    stated = json.loads(runner.invoke(plan_app, ["race", "10k", "--history", str(logs["hr"]), "--as-of", "2024-04-08",
                                                 "--max-hr", "186", "--json"]).stdout)
    assert stated["max_hr"] == {"bpm": 186.0, "source": "stated", "method": "--max-hr"}
    assert stated["hr_pace"]["uncorrected"] == pytest.approx(46.0, abs=0.3)  # the runner the log was written for


def test_race_table_names_each_method_and_its_inputs(logs) -> None:
    res = runner.invoke(plan_app, ["race", "half", "--history", str(logs["hr"]), "--as-of", "2024-04-08"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for words in ("Riegel", "VDOT", "HR-pace", "best VDOT of the last 56 days", "runs with HR since", "max HR",
                  "from your race of", "training paces"):
        assert words in res.stdout, words


def test_race_without_hr_says_why(logs) -> None:
    res = runner.invoke(plan_app, ["race", "10k", "--history", str(logs["nohr"]), "--as-of", "2024-04-08", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["hr_time_s"] is None and r["max_hr"] is None and "max HR" in r["hr_note"] and r["vdot_time_s"] > 0
    res = runner.invoke(plan_app, ["race", "10k", "--history", str(logs["nohr"]), "--as-of", "2024-04-08"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "no max HR" in res.stdout


def test_race_from_a_library_uses_the_athletes_stated_max_hr(logs, tmp_path) -> None:
    from sub3coach.io.history import iter_history
    from sub3coach.library import Library

    lib_path = tmp_path / "lib.duckdb"
    with Library(lib_path) as lib:
        for s in iter_history(logs["hr"]):
            lib.add_summary(s)
        name = lib.resolve_athlete(None)
        lib.set_athlete(name, max_hr_bpm=186)
    res = runner.invoke(plan_app, ["race", "10k", "--library", str(lib_path), "--as-of", "2024-04-08", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["max_hr"]["bpm"] == 186.0 and r["max_hr"]["source"] == "stated" and "athlete profile" in r["max_hr"]["method"]


def test_race_evaluate_json_and_table(logs) -> None:
    res = runner.invoke(plan_app, ["race-evaluate", "--data", str(logs["data"]), "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    ov = r["overall"]
    assert ov["n_efforts"] >= 2 and ov["n_runners"] == 2
    assert ov["methods"]["vdot"]["n"] == ov["n_efforts"] > ov["methods"]["hr_pace"]["n"] >= 1
    assert {e["reason"] for e in r["efforts"]} & {"named", "named+fastest"}  # the parkrun is found by its name
    assert ov["common"]["n_efforts"] == ov["methods"]["hr_pace"]["n"]
    res = runner.invoke(plan_app, ["race-evaluate", "--data", str(logs["data"])], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "Riegel" in res.stdout and "HR-pace raw" in res.stdout and "common" in res.stdout


def test_race_evaluate_missing_folder_is_one_line(tmp_path) -> None:
    res = runner.invoke(plan_app, ["race-evaluate", "--data", str(tmp_path / "none"), "--json"])
    assert res.exit_code == 1 and "no such file" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_race_evaluate_bad_file_is_named_once_then_one_line_error(logs, tmp_path, caplog) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.csv").write_text("not,a,history\n1,2,3\n")
    res = runner.invoke(plan_app, ["race-evaluate", "--data", str(bad), "--json"])
    assert res.exit_code == 1 and res.stderr.strip() == f"sub3: error: no readable history in {bad}", res.stderr
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 1 and "x.csv" in skipped[0]  # the file's problem: once, as a warning
    (bad / "csv-d-aaaaaa.csv").write_text(logs["hr"].read_text())  # one readable file: it is scored, the other skipped
    res = runner.invoke(plan_app, ["race-evaluate", "--data", str(bad), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["overall"]["n_runners"] == 1


def test_race_as_of_before_the_history_names_its_first_run(logs) -> None:
    res = runner.invoke(plan_app, ["race", "10k", "--history", str(logs["hr"]), "--as-of", "2020-01-01"])
    assert res.exit_code == 1 and "try a later --as-of" in res.stderr and "2024-03-30" not in res.stderr


def test_help_has_examples() -> None:
    for cmd in ("race", "race-evaluate"):
        res = runner.invoke(plan_app, [cmd, "--help"])
        assert res.exit_code == 0 and "Example: sub3 plan " + cmd in res.stdout
