"""``sub3 hr`` through Typer's runner: train, evaluate, predict on a tiny synthetic corpus."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sub3coach.hr.cli import hr_app
from sub3coach.io.write import write_gpx
from sub3coach.synth import synthetic_course, synthetic_run

runner = CliRunner()


def _ok(args: list[str]) -> str:
    r = runner.invoke(hr_app, args)
    assert r.exit_code == 0, (r.output, repr(r.exception))
    return r.stdout


@pytest.fixture(scope="module")
def trained(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "m.pt"
    text = _ok(["train", "--data", str(tiny_corpus), "--out", str(out), "--epochs", "2", "--seed", "3", "--json"])
    rep = json.loads(text)
    assert rep["arch"] == "hrnet" and rep["epochs_run"] == 2
    assert sum(rep["split"].values()) == 4 and all(v >= 1 for v in rep["split"].values())
    assert out.exists() and (out.parent / "m.pt.ckpt" / "checkpoint.pt").exists()
    return out


def test_train_table_output(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "lin.pt"
    text = _ok(["train", "--data", str(tiny_corpus), "--arch", "linear", "--out", str(out)])
    assert "saved" in text and "held-out runners" in text


def test_evaluate_json_and_report(trained: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    rep_dir = tmp_path / "report"
    m = json.loads(_ok(["evaluate", "--model", str(trained), "--data", str(tiny_corpus), "--json", "--report", str(rep_dir)]))
    for key in ("mae_bpm", "rmse_bpm", "median_workout_mae_bpm", "n_workouts", "per_type", "per_runner"):
        assert key in m
    assert m["n_workouts"] == 8 and set(m["per_type"]) >= {"recovery", "steady", "intensive", "intervals"}
    assert 0 < m["mae_bpm"] <= m["rmse_bpm"]
    for name in ("metrics.json", "pred_vs_true.png", "error_hist.png", "best_median_worst.png", "prediction.gif"):
        assert (rep_dir / name).stat().st_size > 0, name
    from PIL import Image

    with Image.open(rep_dir / "prediction.gif") as im:
        assert im.is_animated and im.n_frames > 10
    # test split only: the runners the model never saw
    mt = json.loads(_ok(["evaluate", "--model", str(trained), "--data", str(tiny_corpus), "--split", "test", "--json"]))
    assert 0 < mt["n_workouts"] < 8
    text = _ok(["evaluate", "--model", str(trained), "--data", str(tiny_corpus)])
    assert "by workout type" in text and "MAE" in text


def test_predict_workout_file_plot_and_out(trained: Path, tmp_path: Path) -> None:
    w = synthetic_run(duration_s=1200, seed=9)
    gpx = tmp_path / "run.gpx"
    gpx.write_bytes(write_gpx(w))
    out, png = tmp_path / "hr.csv", tmp_path / "hr.png"
    text = _ok(["predict", str(gpx), "--model", str(trained), "--out", str(out), "--plot", str(png)])
    assert "mean predicted HR" in text and "Z2" in text
    df = pd.read_csv(out)
    assert list(df.columns) == ["workout_id", "timestamp", "hr_pred", "hr_lo", "hr_hi"]
    assert df["hr_pred"].between(40, 220).all() and df["timestamp"].is_monotonic_increasing
    assert (df["hr_hi"] - df["hr_lo"]).gt(1).all()
    assert png.stat().st_size > 10_000


def test_predict_corpus_parquet(trained: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "hr.parquet"
    res = json.loads(_ok(["predict", str(tiny_corpus), "--model", str(trained), "--out", str(out), "--json"]))
    df = pd.read_parquet(out)
    assert res["n_workouts"] == 8 and res["n_rows"] == len(df)
    assert sorted(df["workout_id"].unique()) == sorted(f"w{r}-{k}" for r in range(4) for k in range(2))


def test_predict_course_with_pace_and_plan(tmp_path: Path) -> None:
    route = tmp_path / "route.gpx"
    route.write_bytes(write_gpx(synthetic_course(6000, seed=4)))
    res = json.loads(_ok(["predict", "--course", str(route), "--pace", "4:30", "--json", "--max-hr", "185"]))
    s = res["workouts"][0]
    assert s["duration_s"] == pytest.approx(6 * 270, rel=0.03)
    assert 100 < s["mean_hr_bpm"] < 200 and s["max_hr_bpm_for_zones"] == 185
    plan = tmp_path / "plan.csv"
    plan.write_text("km,pace\n1,5:30\n2,4:30\n")
    res2 = json.loads(_ok(["predict", "--course", str(route), "--pace-plan", str(plan), "--json"]))
    assert res2["workouts"][0]["duration_s"] > s["duration_s"]


@pytest.mark.parametrize(
    "args,needle,code",
    [
        (["predict", "nope.fit"], "nope.fit", 1),
        (["predict", "--course", "r.gpx"], "--pace", 2),
        (["predict", "x.fit", "--out", "x.txt"], ".csv or .parquet", 2),
        (["evaluate", "--data", "missing.parquet"], "missing.parquet", 1),
        (["train", "--data", "missing.parquet", "--out", "m.pt", "--arch", "nope"], "unknown architecture", 2),
        (["predict", "--model", "nothere.pt", "--course", "r.gpx", "--pace", "4:00"], "nothere.pt", 1),
    ],
)
def test_errors_are_one_line(args: list[str], needle: str, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUB3_LIBRARY", str(tmp_path / "lib.duckdb"))
    r = runner.invoke(hr_app, args)
    assert r.exit_code == code, r.output
    err = r.stderr.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in r.output


def test_every_command_has_an_example() -> None:
    for cmd in ("train", "evaluate", "predict", "info", "personalize", "pace"):
        r = runner.invoke(hr_app, [cmd, "--help"])
        assert r.exit_code == 0 and "Example" in r.stdout, cmd


def test_library_as_data_and_run_id_as_input(trained: Path, tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    from sub3coach.library import Library

    lib_path = tmp_path / "lib.duckdb"
    start = datetime(2024, 3, 1, 7, 0, tzinfo=timezone.utc)
    with Library(lib_path) as lib:
        ids = [lib.add_workout(synthetic_run(duration_s=900, seed=50 + k, start=start + timedelta(days=k))).run_id for k in range(3)]
    m = json.loads(_ok(["evaluate", "--model", str(trained), "--data", str(lib_path), "--json"]))
    assert m["n_workouts"] == 3
    res = json.loads(_ok(["predict", ids[0], "--library", str(lib_path), "--model", str(trained), "--json"]))
    assert res["n_workouts"] == 1 and res["workouts"][0]["n_samples"] > 400


def _library_with_runs(path: Path, athlete: str | None, offset: float, n: int, seed: int) -> list[str]:
    from datetime import datetime, timedelta, timezone

    from sub3coach.library import Library

    start = datetime(2024, 3, 1, 7, 0, tzinfo=timezone.utc)
    ids = []
    with Library(path) as lib:
        lib.import_athlete = athlete
        for k in range(n):
            w = synthetic_run(duration_s=1200, seed=seed + k, start=start + timedelta(days=2 * k))
            ids.append(lib.add_workout(w.replace(hr_bpm=w.hr_bpm + offset)).run_id)
    return ids


def test_predict_uses_the_athletes_personal_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner whose heart beats 25 BPM above the synthetic average gets a higher prediction
    for a planned course once their runs are in the library; --cold ignores them; a library of
    two athletes needs --athlete."""
    lib_path = tmp_path / "lib.duckdb"
    monkeypatch.setenv("SUB3_LIBRARY", str(lib_path))
    route = tmp_path / "route.gpx"
    route.write_bytes(write_gpx(synthetic_course(5000, seed=4)))
    course = ["predict", "--course", str(route), "--pace", "5:00", "--json"]
    cold = json.loads(_ok(course))
    assert cold["personal"].startswith("cold start")
    _library_with_runs(lib_path, "ann", 25.0, 6, seed=300)
    mine = json.loads(_ok(course))
    assert "personal model of ann (6 runs" in mine["personal"]
    assert mine["workouts"][0]["mean_hr_bpm"] > cold["workouts"][0]["mean_hr_bpm"] + 8
    again = json.loads(_ok(course))  # cached: same numbers
    assert again["workouts"][0]["mean_hr_bpm"] == pytest.approx(mine["workouts"][0]["mean_hr_bpm"])
    assert json.loads(_ok(course + ["--cold"]))["workouts"][0]["mean_hr_bpm"] == pytest.approx(cold["workouts"][0]["mean_hr_bpm"])
    _library_with_runs(lib_path, "bob", -10.0, 3, seed=400)
    r = runner.invoke(hr_app, course)
    assert r.exit_code == 1 and "--athlete" in r.stderr
    bob = json.loads(_ok(course + ["--athlete", "bob"]))
    assert bob["workouts"][0]["mean_hr_bpm"] < mine["workouts"][0]["mean_hr_bpm"]


def test_personalize_from_files_then_predict(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for k in range(4):
        w = synthetic_run(duration_s=1200, seed=70 + k)
        (runs / f"r{k}.gpx").write_bytes(write_gpx(w.replace(hr_bpm=w.hr_bpm + 20)))
    (runs / "broken.fit").write_bytes(b"not a fit file")
    out = tmp_path / "me.pt"
    res = json.loads(_ok(["personalize", "--data", str(runs), "--out", str(out), "--max-hr", "195", "--json"]))
    assert res["runs"] == 4 and res["parameters"]["level_bpm"] > 5
    info = json.loads(_ok(["info", "--model", str(out), "--json"]))
    assert info["personal_runs"] == 4
    probe = tmp_path / "probe.gpx"
    probe.write_bytes(write_gpx(synthetic_run(duration_s=1500, seed=99)))
    mine = json.loads(_ok(["predict", str(probe), "--model", str(out), "--json"]))
    cold = json.loads(_ok(["predict", str(probe), "--json"]))
    assert mine["workouts"][0]["mode"] == "personal" and cold["workouts"][0]["mode"] == "cold"
    assert mine["workouts"][0]["mean_hr_bpm"] > cold["workouts"][0]["mean_hr_bpm"] + 5
    r = runner.invoke(hr_app, ["personalize", "--data", str(tmp_path / "nothing"), "--out", str(out)])
    assert r.exit_code == 1 and "nothing" in r.stderr


def test_predict_observed_minutes_and_band_columns(tmp_path: Path) -> None:
    w = synthetic_run(duration_s=1800, seed=21)
    gpx = tmp_path / "run.gpx"
    gpx.write_bytes(write_gpx(w))
    png, out = tmp_path / "f.png", tmp_path / "f.csv"
    res = json.loads(_ok(["predict", str(gpx), "--observed-minutes", "10", "--plot", str(png), "--out", str(out), "--json"]))
    s = res["workouts"][0]
    assert s["mode"] == "in-run" and s["mae_after_observed_bpm"] is not None
    assert len(res["samples"]["hr_lo"]) == len(res["samples"]["hr_pred"]) == len(w)
    assert png.stat().st_size > 10_000 and list(pd.read_csv(out).columns)[-2:] == ["hr_lo", "hr_hi"]
    nohr = tmp_path / "nohr.gpx"
    nohr.write_bytes(write_gpx(synthetic_run(duration_s=900, seed=2, hr=False)))
    r = runner.invoke(hr_app, ["predict", str(nohr), "--observed-minutes", "5"])
    assert r.exit_code == 1 and "hr_bpm" in r.stderr


def test_pace_command(tmp_path: Path) -> None:
    route = tmp_path / "route.gpx"
    route.write_bytes(write_gpx(synthetic_course(5000, seed=8)))
    res = json.loads(_ok(["pace", "--course", str(route), "--max-hr", "155", "--json"]))
    assert [s["km"] for s in res["splits"]] == [1, 2, 3, 4, 5]
    assert res["hr_pred_max"] <= 155 and res["finish_s"] > 0 and res["cap_reached"]
    assert all(s["hr_pred_max"] <= 155 for s in res["splits"])
    text = _ok(["pace", "--course", str(route), "--max-hr", "165"])
    assert "finish" in text and "/km" in text
    r = runner.invoke(hr_app, ["pace", "--course", str(route), "--max-hr", "80"])
    assert r.exit_code == 1 and "cap" in r.stderr


def test_evaluate_protocol_command(tiny_corpus: Path, tmp_path: Path) -> None:
    res = json.loads(_ok(["evaluate", "--data", str(tiny_corpus), "--protocol", "all", "--folds", "2", "--epochs", "1",
                          "--baselines", "mean", "--json", "--report", str(tmp_path / "rep")]))
    assert set(res["modes"]) == {"cold", "personal", "in-run"} and len(res["folds"]) == 2
    assert (tmp_path / "rep" / "protocol.json").exists()
    text = _ok(["evaluate", "--data", str(tiny_corpus), "--protocol", "cold", "--folds", "2", "--epochs", "1", "--baselines", ""])
    assert "cold: 2-fold by runner" in text and "personal" not in text
    r = runner.invoke(hr_app, ["evaluate", "--data", str(tiny_corpus), "--protocol", "warm"])
    assert r.exit_code == 2 and "--protocol" in r.stderr


def test_a_library_run_is_predicted_from_the_runs_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib_path = tmp_path / "lib.duckdb"
    monkeypatch.setenv("SUB3_LIBRARY", str(lib_path))
    ids = _library_with_runs(lib_path, "ann", 25.0, 4, seed=500)
    first = json.loads(_ok(["predict", ids[0], "--json"]))
    last = json.loads(_ok(["predict", ids[-1], "--json"]))
    assert first["personal"].startswith("ann: no run with HR yet")  # nothing before the first run
    assert "personal model of ann (3 runs" in last["personal"]  # never the run itself


def test_personalize_learns_from_every_file_and_cold_means_cold(tmp_path: Path) -> None:
    """Runs read from files have no ids: each must count with its own HR (the fitted level is
    their mean offset, not the last file's); --cold ignores a personal --model."""
    levels = {}
    for name, offsets in (("low", [0.0] * 4), ("mixed", [0.0, 10.0, 20.0, 30.0]), ("high", [30.0] * 4)):
        runs = tmp_path / name
        runs.mkdir()
        for k, off in enumerate(offsets):
            w = synthetic_run(duration_s=1500, seed=80 + k)
            (runs / f"r{k}.gpx").write_bytes(write_gpx(w.replace(hr_bpm=w.hr_bpm + off)))
        out = tmp_path / f"{name}.pt"
        levels[name] = json.loads(_ok(["personalize", "--data", str(runs), "--out", str(out), "--json"]))["parameters"]["level_bpm"]
    assert levels["low"] + 8 < levels["mixed"] < levels["high"] - 8  # mixed is not four copies of one file
    out = tmp_path / "mixed.pt"
    probe = tmp_path / "probe.gpx"
    probe.write_bytes(write_gpx(synthetic_run(duration_s=1200, seed=98)))
    cold = json.loads(_ok(["predict", str(probe), "--model", str(out), "--cold", "--json"]))
    mine = json.loads(_ok(["predict", str(probe), "--model", str(out), "--json"]))
    assert cold["workouts"][0]["mode"] == "cold" and mine["workouts"][0]["mode"] == "personal"
    assert mine["workouts"][0]["mean_hr_bpm"] > cold["workouts"][0]["mean_hr_bpm"] + 5


def test_unwritable_outputs_are_one_line(tmp_path: Path) -> None:
    gpx = tmp_path / "run.gpx"
    gpx.write_bytes(write_gpx(synthetic_run(duration_s=900, seed=3)))
    (tmp_path / "adir.csv").mkdir()
    r = runner.invoke(hr_app, ["predict", str(gpx), "--out", str(tmp_path / "adir.csv")])
    assert r.exit_code == 1 and "adir.csv" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "adir.csv.tmp").exists()
    (tmp_path / "afile").write_text("x")
    r = runner.invoke(hr_app, ["personalize", "--data", str(gpx), "--out", str(tmp_path / "afile" / "me.pt")])
    assert r.exit_code == 1 and "me.pt" in r.stderr and "Traceback" not in r.output
