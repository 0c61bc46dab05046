"""Training: runner-disjoint split, windows, the estimator façade, checkpoints and resume."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sub3coach.errors import ModelError, Sub3Error
from sub3coach.hr.data import runner_split
from sub3coach.hr.train import HRModel, TrainConfig, make_windows

from tests.hr.conftest import tiny_runs


@given(st.lists(st.integers(0, 12), min_size=3, max_size=300), st.integers(0, 2**31))
def test_runner_split_is_disjoint_complete_and_seeded(users: list[int], seed: int) -> None:
    ids = [f"u{u}" for u in users]
    parts = runner_split(ids, seed=seed)
    allu = set(ids)
    got = [set(v) for v in parts.values()]
    assert set().union(*got) == allu
    assert sum(len(g) for g in got) == len(allu)  # disjoint
    assert parts["train"]  # train always keeps a runner
    if len(allu) >= 3:
        assert parts["test"] and parts["val"]
    assert runner_split(ids, seed=seed) == parts


def test_runner_split_approximates_fractions() -> None:
    ids = [f"u{i % 40}" for i in range(4000)]  # 40 runners of 100 workouts
    parts = runner_split(ids, seed=3)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [28, 6, 6]


@given(st.lists(st.integers(1, 2000), min_size=1, max_size=20), st.integers(16, 600), st.integers(0, 15))
def test_windows_score_every_step_exactly_once(lengths: list[int], window: int, burn: int) -> None:
    ws = make_windows(lengths, window, burn)
    for i, n in enumerate(lengths):
        scored = np.zeros(n, int)
        for w in ws:
            if w.item == i:
                assert w.stop - w.start <= window
                scored[w.start + w.score_from : w.stop] += 1
        assert (scored == 1).all()


def test_fit_predict_and_history() -> None:
    m = HRModel(arch="hrnet", hidden=16, epochs=3, patience=5, batch_size=4, window_steps=64, burn_in_steps=8, seed=0)
    m.fit(tiny_runs())
    assert [h["epoch"] for h in m.history] == [1, 2, 3]
    assert all(np.isfinite(h["train_mae_bpm"]) and np.isfinite(h["val_mae_bpm"]) for h in m.history)
    assert m.best_epoch in (1, 2, 3)
    assert m.data_summary["train_runners"] + m.data_summary["val_runners"] == 4
    w = tiny_runs(1, 1, 300)[0]
    hr = m.predict(w)
    assert hr.shape == w.time_s.shape and np.isfinite(hr).all()


def test_same_seed_same_model() -> None:
    a = HRModel(arch="seed-lstm", hidden=8, epochs=1, batch_size=4, window_steps=64, seed=4).fit(tiny_runs(3, 1, 600))
    b = HRModel(arch="seed-lstm", hidden=8, epochs=1, batch_size=4, window_steps=64, seed=4).fit(tiny_runs(3, 1, 600))
    w = tiny_runs(1, 1, 300)[0]
    np.testing.assert_array_equal(a.predict(w), b.predict(w))


def test_linear_baseline_is_least_squares_on_speed_and_grade() -> None:
    m = HRModel(arch="linear").fit(tiny_runs(3, 2, 900))
    assert m.spec.names == ("speed", "grade_30s")
    w = m.module.lin.weight.detach().numpy().ravel()
    assert w[0] > 0  # faster -> higher HR on synthetic runs


def test_checkpoint_resume_continues(tmp_path: Path) -> None:
    runs = tiny_runs(4, 1, 600)
    kw = dict(arch="hrnet", hidden=8, batch_size=4, window_steps=64, burn_in_steps=8, seed=2, patience=10)
    full = HRModel(epochs=3, **kw).fit(runs, checkpoint_dir=tmp_path / "a")
    HRModel(epochs=2, **kw).fit(runs, checkpoint_dir=tmp_path / "b")  # "interrupted" after 2
    with pytest.raises(ModelError, match="different training settings"):
        HRModel(epochs=3, **{**kw, "lr": 0.1}).fit(runs, checkpoint_dir=tmp_path / "b", resume=True)
    resumed = HRModel(epochs=3, **kw).fit(runs, checkpoint_dir=tmp_path / "b", resume=True)

    def strip(h: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("seconds", "train_seconds")} for r in h]

    assert strip(resumed.history) == strip(full.history)
    w = tiny_runs(1, 1, 300)[0]
    np.testing.assert_array_equal(resumed.predict(w), full.predict(w))


def test_unknown_arch_and_empty_data_are_clear_errors() -> None:
    with pytest.raises(Sub3Error, match="unknown architecture"):
        TrainConfig(arch="transformer")
    with pytest.raises(Sub3Error, match="no usable training workouts"):
        HRModel(arch="mean").fit([])


def test_runner_centred_targets_move_each_runner_to_the_common_mean() -> None:
    from sub3coach.features import FeatureSpec
    from sub3coach.hr.data import prepare_all
    from sub3coach.hr.train import runner_centred

    runs = tiny_runs(n_runners=2, per_runner=2, duration_s=600)
    runs = [w.replace(hr_bpm=w.hr_bpm + (20.0 if w.user_id == "r1" else -20.0)) for w in runs]
    items = prepare_all(runs, FeatureSpec()).items
    ys = [np.nan_to_num(p.hr_bpm) for p in items]
    ms = [p.mask for p in items]
    out = runner_centred(items, ys, ms)
    means = {}
    for p, y, m in zip(items, out, ms):
        means.setdefault(p.user_id, []).append(y[m])
    m0, m1 = (float(np.concatenate(v).mean()) for v in means.values())
    assert m0 == pytest.approx(m1, abs=1e-3)
    raw = [float(np.concatenate([y[m] for p, y, m in zip(items, ys, ms) if p.user_id == u]).mean()) for u in ("r0", "r1")]
    assert raw[1] - raw[0] > 30  # they did differ
    d = [o - y for o, y in zip(out, ys)]  # a per-runner constant shift, nothing else
    assert all(np.ptp(x[m]) < 1e-3 for x, m in zip(d, ms))


def test_personal_head_fitted_after_training() -> None:
    m = HRModel(arch="hrnet", hidden=8, epochs=1, batch_size=4, window_steps=64, burn_in_steps=8, seed=2)
    m.fit(tiny_runs(n_runners=4, per_runner=2, duration_s=600))
    assert m.head is not None and set(m.head.band) == {"cold", "personal", "in-run"}
    assert m.to_loaded().head is m.head
