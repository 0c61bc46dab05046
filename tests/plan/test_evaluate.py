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


def test_personalised_evaluation_fine_tunes_on_the_earlier_half() -> None:
    import torch

    from sub3coach.plan.evaluate import evaluate_personalised
    from sub3coach.plan.history import QUERY_FEATURES, TOKEN_FEATURES, Examples
    from sub3coach.plan.model import PaceTransformer, PlanConfig
    from sub3coach.plan.train import Normalisation, PlanModel

    torch.manual_seed(0)
    runners = {f"r{s}": history_frame(100, seed=s, run_prob=0.8, user_id=f"r{s}") for s in range(2)}
    ex = Examples.concat([make_examples(add_features(h)) for h in runners.values()])
    cfg = PlanConfig(n_token_features=len(TOKEN_FEATURES), n_query_features=len(QUERY_FEATURES), d_model=16, n_heads=2,
                     n_layers=1, dim_feedforward=32)
    model = PlanModel(PaceTransformer(cfg), Normalisation.fit(ex))
    res = evaluate_personalised(model, runners, min_runs=30)
    assert res["n_runners"] == 2 and res["n_predictions"] > 0
    assert res["personalised_pace_mae_s_per_km"] != res["pace_mae_s_per_km"]  # the fine-tuned model differs
    with pytest.raises(Sub3Error, match="to fine-tune on"):
        evaluate_personalised(model, runners, min_runs=10_000)
