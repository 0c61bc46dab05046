"""Walk-forward evaluation protocol."""
from __future__ import annotations

import numpy as np
import pytest

from sub3coach.errors import Sub3Error
from sub3coach.plan.evaluate import evaluate
from sub3coach.plan.history import add_features, make_examples
from sub3coach.plan.train import baseline_model
from tests.plan.gen import history_frame


def test_walk_forward_numbers() -> None:
    runners = {f"r{s}": history_frame(70, seed=s, user_id=f"r{s}") for s in range(3)}
    model = baseline_model("median_28d")
    res = evaluate(model, runners)
    # the model here is the median baseline itself: identical numbers
    assert res["pace_mae_s_per_km"] == res["baselines"]["median_28d"] and res["improvement_vs_best_baseline_pct"] <= 0
    assert res["n_runners"] == 3 and res["n_runners_skipped_seen"] == 0
    ex = make_examples(add_features(runners["r0"]), min_history_days=28)
    r0 = next(r for r in res["per_runner"] if r["user_id"] == "r0")
    assert r0["n_predictions"] == len(ex)
    assert r0["last_run"] == pytest.approx(np.mean(np.abs(ex.last_pace - ex.target_pace)), abs=0.01)
    assert res["n_predictions"] == sum(r["n_predictions"] for r in res["per_runner"])
    # at least 4 weeks of history before every scored run: a 3-week history scores nothing
    with pytest.raises(Sub3Error, match="28 days"):
        evaluate(model, {"x": history_frame(20, seed=1)})


def test_seen_runners_are_left_out() -> None:
    runners = {f"r{s}": history_frame(60, seed=s, user_id=f"r{s}") for s in range(3)}
    model = baseline_model("last_run")
    model.meta["split"] = {"train": ["r0"], "val": ["r1"], "test": ["r2"]}
    res = evaluate(model, runners)
    assert [r["user_id"] for r in res["per_runner"]] == ["r2"] and res["n_runners_skipped_seen"] == 2
    with pytest.raises(Sub3Error, match="nothing unseen"):
        evaluate(model, {"r0": runners["r0"]})
    assert evaluate(model, {"r0": runners["r0"]}, include_seen=True)["n_runners"] == 1
