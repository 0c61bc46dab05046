"""The runner-level K-fold protocol: folds by runner, per-sample scoring, the three modes."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from sub3coach.features import FeatureSpec, prepare
from sub3coach.hr.folds import inner_validation, runner_folds
from sub3coach.hr.protocol import ProtocolConfig, run_protocol, sample_scores
from sub3coach.hr.train import TrainConfig, union_features
from sub3coach.synth import DEFAULT_START, synthetic_run


def test_runner_folds_partition_and_balance() -> None:
    users = ["a"] * 50 + ["b"] * 40 + ["c"] * 30 + ["d"] * 20 + ["e"] * 10 + ["f"] * 5 + ["g"] * 5
    folds = runner_folds(users, 3, seed=1)
    flat = [u for f in folds for u in f]
    assert sorted(flat) == sorted(set(users))  # every runner in exactly one fold
    loads = [sum(users.count(u) for u in f) for f in folds]
    assert max(loads) - min(loads) <= 20
    val = inner_validation(folds[1] + folds[2], users, seed=0)
    assert val and set(val) < set(folds[1] + folds[2])
    with pytest.raises(ValueError):
        runner_folds(users, 1)


def test_sample_scores_use_recorded_samples() -> None:
    w = synthetic_run(duration_s=600, seed=2, sample_s=1.0)
    p = prepare(w, FeatureSpec(), keep_samples=True)
    truth = np.interp(p.time_s, w.time_s, w.hr_bpm)
    n, abs_sum, sq_sum, inside = sample_scores(p, truth + 3.0, lo=truth, hi=truth + 10.0)
    assert n > 500  # the recording's 1-s samples, not the 5-s grid (120 steps)
    assert abs_sum / n == pytest.approx(3.0, abs=1.0)
    assert inside > 0.5 * n
    n2, *_ = sample_scores(p, truth, after_s=300.0)
    assert n2 < 0.55 * n


def _corpus(n_runners: int = 6, per_runner: int = 6) -> list:
    """Runners whose hearts differ by a personal level (what only personal data can know)."""
    out = []
    for r in range(n_runners):
        offset = (-1) ** r * (6 + 3 * r)
        for k in range(per_runner):
            w = synthetic_run(duration_s=1200, pace_s_per_km=290 + 15 * (k % 3), seed=1000 * r + k, sample_s=2.0,
                              start=DEFAULT_START + timedelta(days=3 * k))
            out.append(w.replace(user_id=f"r{r}", workout_id=f"r{r}-{k}", hr_bpm=w.hr_bpm + offset))
    return out


@pytest.fixture(scope="module")
def report() -> dict:
    from sub3coach.hr.data import prepare_all

    cfg = ProtocolConfig(folds=3, baselines=("mean", "linear"), history_runs=(3,), minutes=5.0,
                         train=TrainConfig(arch="hrnet", hidden=16, epochs=2, batch_size=8, window_steps=64, burn_in_steps=8))
    names = union_features(("hrnet", "mean", "linear"))
    items = prepare_all(_corpus(), FeatureSpec(names=names), keep_samples=True, cut_hr_minutes=cfg.minutes).items
    return run_protocol(items, names, cfg)


def test_protocol_report_shape(report: dict) -> None:
    assert set(report["modes"]) == {"cold", "personal", "in-run"}
    tested = [u for f in report["folds"] for u in f["test_runners"]]
    assert sorted(tested) == [f"r{i}" for i in range(6)]
    for f in report["folds"]:  # validation runners are never the fold's test runners
        assert not set(f["validation_runners"]) & set(f["test_runners"])
    cold = report["modes"]["cold"]
    assert {"sub3", "population mean", "linear (speed, grade)", "population network alone"} <= set(cold)
    for e in cold.values():
        assert e["n_runners"] == 6 and e["mae_bpm"] > 0
    assert 0.0 <= cold["sub3"]["band80_coverage"] <= 1.0
    assert set(report["modes"]["personal"]["sub3"]["per_runner"]) == {f"r{i}" for i in range(6)}


def test_personal_beats_cold_when_hearts_differ(report: dict) -> None:
    """Runner levels of +-6..21 BPM: three history runs must remove most of that."""
    pers = report["modes"]["personal"]
    assert pers["sub3"]["mae_bpm"] < 0.8 * pers["population network alone"]["mae_bpm"]
    assert report["modes"]["in-run"]["sub3"]["mae_bpm"] < pers["population network alone"]["mae_bpm"]


def test_evaluation_in_run_reads_no_hr_after_the_cut() -> None:
    """Cleaning looks ahead (a sensor frozen for > 120 s is dropped): a plateau that only
    becomes 'frozen' after the cut-off must not change what the in-run forecast saw."""
    from sub3coach.hr import modes as M
    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.predict import predict_prepared

    lm = load_model()
    w = synthetic_run(duration_s=1800, seed=5, sample_s=1.0)
    el = w.time_s - w.time_s[0]
    a = w.hr_bpm.copy()
    a[(el >= 510) & (el <= 600)] = 150.0  # a 90-s plateau ending at the cut-off
    b = a.copy()
    b[(el > 600) & (el <= 700)] = 150.0  # ... that the future continues past 120 s
    b[el > 700] += 25.0
    outs = []
    for hr in (a, b):
        p = prepare(w.replace(hr_bpm=hr), lm.spec, cut_hr_minutes=10.0)
        (g,) = predict_prepared(lm, [p])
        head = lm.head
        mean, sd = M.P.predict_head(head, M.P.cold(head), p.time_s, g)
        outs.append(M.in_run(head, p, mean, sd, 10.0).mean)
    np.testing.assert_array_equal(outs[0], outs[1])
