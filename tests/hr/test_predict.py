"""Prediction: one value per sample, plausible range, no HR leakage, courses, paces, zones."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sub3coach.errors import MissingChannel, Sub3Error
from sub3coach.hr.artifact import LoadedModel, load_model
from sub3coach.hr.predict import (
    course_workout,
    hr_summary,
    parse_pace,
    predict_many,
    predict_workout,
    predictions_frame,
    read_pace_plan,
)
from sub3coach.hr.train import HRModel
from sub3coach.synth import synthetic_course, synthetic_run

from tests.hr.conftest import tiny_runs


@pytest.fixture(scope="module")
def models(tiny_model_path: Path) -> dict[str, LoadedModel]:
    """One fitted model of every architecture (tiny, trained for a few steps)."""
    out = {"hrnet": load_model(tiny_model_path)}
    runs = tiny_runs(n_runners=3, per_runner=1, duration_s=600)
    for arch in ("mean", "linear", "seed-lstm"):
        kw = {"hidden": 16} if arch == "seed-lstm" else {}
        m = HRModel(arch=arch, epochs=1, batch_size=2, window_steps=64, burn_in_steps=8, **kw).fit(runs)
        out[arch] = m.to_loaded()
    return out


@pytest.mark.parametrize("arch", ["mean", "linear", "seed-lstm", "hrnet"])
def test_randomising_hr_leaves_predictions_unchanged(models: dict[str, LoadedModel], arch: str) -> None:
    lm = models[arch]
    w = synthetic_run(duration_s=1200, seed=21)
    base = predict_workout(lm, w)
    rng = np.random.default_rng(1)
    for hr in (rng.uniform(40, 220, len(w)), np.full(len(w), np.nan), None):
        np.testing.assert_array_equal(predict_workout(lm, w.replace(hr_bpm=hr)), base)


def test_bundled_model_predicts_one_plausible_value_per_sample() -> None:
    lm = load_model()
    for seed, kw in ((31, {}), (32, {"sample_s": 3.0}), (33, {"gps": False})):
        w = synthetic_run(duration_s=1800, seed=seed, **kw)
        hr = predict_workout(lm, w)
        assert hr.shape == w.time_s.shape
        assert np.isfinite(hr).all()
        assert hr.min() >= 40 and hr.max() <= 220
        # a believable curve: it moves, and not by absurd amounts between samples
        assert hr.std() > 1.0
        assert np.abs(np.diff(hr)).max() < 20.0


def test_bundled_model_tracks_effort() -> None:
    """Faster running (same course) means a higher predicted HR."""
    lm = load_model()
    course = synthetic_course(8000, seed=5)
    slow = predict_workout(lm, course_workout(course, 390.0))
    fast = predict_workout(lm, course_workout(course, 270.0))
    assert fast.mean() > slow.mean() + 5


def test_predict_many_and_frame(models: dict[str, LoadedModel]) -> None:
    ws = tiny_runs(n_runners=2, per_runner=2, duration_s=600)
    pairs = list(predict_many(models["hrnet"], ws, chunk=3))
    assert [w.workout_id for w, _ in pairs] == [w.workout_id for w in ws]
    df = predictions_frame(pairs)
    assert list(df.columns) == ["workout_id", "timestamp", "hr_pred", "hr_lo", "hr_hi"]
    assert len(df) == sum(len(w) for w in ws)
    assert (df["hr_lo"] <= df["hr_pred"]).all() and (df["hr_pred"] <= df["hr_hi"]).all()
    np.testing.assert_array_equal(df["timestamp"].to_numpy()[: len(ws[0])], ws[0].time_s)
    # batched and one-by-one agree
    np.testing.assert_allclose(pairs[1][1].hr_pred, predict_workout(models["hrnet"], ws[1]), rtol=1e-5, atol=1e-3)


def test_course_and_pace_plan(tmp_path: Path) -> None:
    course = synthetic_course(5000, seed=2)
    w = course_workout(course, 300.0)
    assert w.elapsed_s == pytest.approx(w.distance_m[-1] * 0.3, rel=0.01)
    assert np.all(np.diff(w.time_s) > 0)
    plan = tmp_path / "plan.csv"
    plan.write_text("km,pace\n1,6:00\n2,4:00\n")
    paces = read_pace_plan(plan)
    assert paces == [360.0, 240.0]
    w2 = course_workout(course, paces)
    d = w2.distance_m
    i1 = np.searchsorted(d, 1000.0)
    assert w2.time_s[i1] - w2.time_s[0] == pytest.approx(360.0, abs=3.0)
    assert w2.elapsed_s == pytest.approx(360.0 + (d[-1] - 1000.0) * 0.24, rel=0.01)
    with pytest.raises(MissingChannel):
        course_workout(synthetic_run(duration_s=60, gps=False).replace(distance_m=None), 300.0)


@pytest.mark.parametrize("text,secs", [("4:15", 255.0), ("04:05", 245.0), ("5:00/km", 300.0), (" 10:30 ", 630.0)])
def test_parse_pace(text: str, secs: float) -> None:
    assert parse_pace(text) == secs


@pytest.mark.parametrize("bad", ["4.15", "abc", "0:30", "4:75", ""])
def test_parse_pace_rejects(bad: str) -> None:
    with pytest.raises(Sub3Error):
        parse_pace(bad)


def test_bad_pace_plan_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "plan.csv"
    p.write_text("1,4:30\n2,fast\n")
    with pytest.raises(Sub3Error, match="line 2"):
        read_pace_plan(p)


def test_zone_summary() -> None:
    t = np.arange(0.0, 600.0, 1.0)
    hr = np.where(t < 300, 0.65 * 200, 0.95 * 200)
    s = hr_summary(t, hr, max_hr_bpm=200)
    z = s["time_in_zones_s"]
    assert z["Z2"] == pytest.approx(300.0) and z["Z5"] == pytest.approx(299.0)
    assert s["mean_hr_bpm"] == pytest.approx(160.0)
    assert hr_summary(t, hr)["max_hr_bpm_for_zones"] == 190.0


def test_in_run_reads_no_hr_after_the_observed_minutes() -> None:
    """HR after minute M never changes any prediction; HR before it does."""
    from sub3coach.hr.predict import predict_full

    lm = load_model()
    w = synthetic_run(duration_s=2400, seed=11)
    el = w.time_s - w.time_s[0]
    base = predict_full(lm, w, observed_minutes=10)
    assert base.mode == "in-run" and base.observed_until_s == pytest.approx(w.time_s[0] + 600, abs=5)
    for k in range(3):
        hr = w.hr_bpm.copy()
        hr[el > 600] = np.random.default_rng(k).uniform(40, 220, int((el > 600).sum()))
        other = predict_full(lm, w.replace(hr_bpm=hr), observed_minutes=10)
        np.testing.assert_array_equal(other.hr_pred, base.hr_pred)
        np.testing.assert_array_equal(other.hr_lo, base.hr_lo)
    hr = w.hr_bpm.copy()
    hr[el < 500] += 20
    assert predict_full(lm, w.replace(hr_bpm=hr), observed_minutes=10).hr_pred[-1] > base.hr_pred[-1] + 2


def test_in_run_needs_measured_hr() -> None:
    from sub3coach.errors import MissingChannel
    from sub3coach.hr.predict import predict_full

    with pytest.raises(MissingChannel):
        predict_full(load_model(), synthetic_run(duration_s=900, seed=1, hr=False), observed_minutes=5)


def test_band_contains_prediction_and_narrows_in_run() -> None:
    from sub3coach.hr.predict import predict_full

    lm = load_model()
    w = synthetic_run(duration_s=2400, seed=4)
    cold = predict_full(lm, w)
    inrun = predict_full(lm, w, observed_minutes=15)
    assert (cold.hr_lo <= cold.hr_pred).all() and (cold.hr_pred <= cold.hr_hi).all()
    late = (w.time_s - w.time_s[0]) > 1200
    assert np.mean((inrun.hr_hi - inrun.hr_lo)[late]) < np.mean((cold.hr_hi - cold.hr_lo)[late])
