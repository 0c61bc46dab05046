"""Evaluation: the speed-only workout-type rule and the metric arithmetic."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sub3coach.features import FeatureSpec, Normaliser, Prepared
from sub3coach.hr.artifact import LoadedModel
from sub3coach.hr.evaluate import assign_types, evaluate_prepared, workout_type
from sub3coach.hr.models import MeanBaseline, MeanConfig

STEP = 5.0


def _steady(mps: float, minutes: float = 40) -> np.ndarray:
    n = int(minutes * 60 / STEP)
    return np.full(n, mps) + np.random.default_rng(0).normal(0, 0.05, n)


def _intervals(n_reps: int = 6) -> np.ndarray:
    rep = np.concatenate([np.full(int(180 / STEP), 4.6), np.full(int(120 / STEP), 2.4)])
    return np.concatenate([np.full(int(600 / STEP), 2.8), np.tile(rep, n_reps), np.full(int(300 / STEP), 2.6)])


def test_workout_type_from_speed_only() -> None:
    assert workout_type(_steady(2.4), STEP) == "recovery"  # 6:57/km, absolute bounds
    assert workout_type(_steady(3.1), STEP) == "steady"  # 5:23/km
    assert workout_type(_steady(3.9), STEP) == "intensive"  # 4:16/km
    assert workout_type(_intervals(), STEP) == "intervals"
    # relative to the runner's own typical speed
    assert workout_type(_steady(3.9), STEP, reference_mps=3.8) == "steady"
    assert workout_type(_steady(3.2), STEP, reference_mps=3.8) == "recovery"


def _prep(uid: str, speed: np.ndarray, hr: np.ndarray) -> Prepared:
    n = speed.size
    return Prepared(time_s=STEP * np.arange(n), x=speed.reshape(-1, 1), hr_bpm=hr, observed=np.ones(n, bool),
                    workout_id=f"{uid}-{n}", user_id=uid, speed_mps=speed)


def test_runner_relative_types_need_five_runs() -> None:
    few = [_prep("a", _steady(3.9, 20), np.full(240, 150.0))]
    assert assign_types(few, STEP) == ["intensive"]
    many = [_prep("b", _steady(3.9, 20 + k), np.full(int((20 + k) * 12), 150.0)) for k in range(5)]
    assert assign_types(many, STEP) == ["steady"] * 5


def test_metrics_arithmetic() -> None:
    m = MeanBaseline(MeanConfig(n_features=1, hr_center=150.0, hr_scale=10.0))
    with torch.no_grad():
        m.bias.fill_(0.0)  # predicts exactly 150 BPM
    lm = LoadedModel(module=m.eval(), arch="mean", spec=FeatureSpec(names=("speed",)),
                     normaliser=Normaliser(("speed",), np.zeros(1), np.ones(1)), meta={"name": "const150"})
    a = _prep("u1", _steady(3.0, 10), np.full(120, 160.0))  # error 10 everywhere
    hr_b = np.full(240, 140.0)
    hr_b[:40] = np.nan  # masked steps do not count
    b = _prep("u2", _steady(3.0, 20), hr_b)  # error 10 on 200 steps
    c = _prep("u2", _steady(3.0, 10), np.where(np.arange(120) % 2 == 0, 150.0, 154.0))  # error 0 or 4
    res = evaluate_prepared(lm, [a, b, c]).metrics()
    n = 120 + 200 + 120
    assert res["n_steps"] == n and res["n_workouts"] == 3 and res["n_runners"] == 2
    assert res["mae_bpm"] == pytest.approx(round((1200 + 2000 + 240) / n, 2))
    assert res["rmse_bpm"] == pytest.approx(round(math.sqrt((12000 + 20000 + 60 * 16) / n), 2))
    assert res["median_workout_mae_bpm"] == pytest.approx(10.0)
    assert res["per_runner"]["u2"]["n_workouts"] == 2
    assert res["per_runner"]["u1"]["mae_bpm"] == pytest.approx(10.0)
    assert set(res["per_type"]) == {"recovery", "steady", "intensive", "intervals"}
