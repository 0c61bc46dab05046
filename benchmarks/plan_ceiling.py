"""How much of the next-run pace is predictable from the planner's inputs at all?

A gradient-boosted tree model (LightGBM, L1 loss, early stopping on the validation runners) is
trained on exactly the inputs the Transformer reads (the 25 query features and the features of
the last 8 runs, from :func:`sub3coach.plan.history.make_examples`) on the same runner-disjoint
split, and scored walk-forward on the same held-out runners. Trees are the strongest off-the-shelf
learner on small tabular data, so their MAE is a fair estimate of what these inputs carry; the
script prints it beside the 28-day-median baseline and, when given, a plan model.

Usage (from the repository root; LightGBM is not a sub3coach dependency)::

    pip install lightgbm
    python benchmarks/plan_ceiling.py [--data ../shared/data/histories] [--model src/sub3coach/models/plan-default.pt]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from sub3coach.plan.history import Examples, load_histories
from sub3coach.plan.train import examples_for, load_plan_model, split_runner_ids

REPO = Path(__file__).resolve().parents[1]


def _x(ex: Examples) -> np.ndarray:
    tok = np.where(ex.mask[..., None], ex.tokens, np.nan)[:, :8, :].reshape(len(ex), -1)
    return np.hstack([ex.query, tok, np.log(ex.ref_pace)[:, None]])


def _y(ex: Examples) -> np.ndarray:
    return np.log(ex.target_pace / ex.ref_pace)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "histories")
    ap.add_argument("--model", type=Path, default=None, help="a plan model to score on the same runs")
    ap.add_argument("--seed", type=int, default=0, help="split seed (the bundled model's is 0)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    try:
        import lightgbm as lgb
    except ImportError:
        sys.exit("plan_ceiling.py needs LightGBM: pip install lightgbm")
    runners = load_histories(args.data, strict=False)
    split = split_runner_ids(sorted(runners), seed=args.seed)
    ex = {k: examples_for({u: runners[u] for u in split[k]}, min_history_days=0.0 if k == "train" else 28.0) for k in split}
    params = dict(objective="l1", learning_rate=0.03, num_leaves=31, min_data_in_leaf=50, bagging_fraction=0.8,
                  bagging_freq=1, feature_fraction=0.8, verbose=-1, seed=args.seed)
    gbm = lgb.train(params, lgb.Dataset(_x(ex["train"]), _y(ex["train"])), 3000,
                    valid_sets=[lgb.Dataset(_x(ex["val"]), _y(ex["val"]))], callbacks=[lgb.early_stopping(100, verbose=False)])
    out: dict[str, dict[str, float]] = {}
    model = load_plan_model(args.model) if args.model else None
    for part in ("val", "test"):
        e = ex[part]
        base = float(np.mean(np.abs(e.ref_pace - e.target_pace)))
        trees = float(np.mean(np.abs(e.ref_pace * np.exp(gbm.predict(_x(e))) - e.target_pace)))
        out[part] = {"n_predictions": len(e), "median_28d": round(base, 2), "gbm": round(trees, 2),
                     "gbm_improvement_pct": round(100 * (1 - trees / base), 1)}
        if model is not None:
            m = float(np.mean(np.abs(model.predict_pace(e) - e.target_pace)))
            out[part].update({"model": round(m, 2), "model_improvement_pct": round(100 * (1 - m / base), 1)})
    print(json.dumps({"split_seed": args.seed, "gbm_trees": gbm.best_iteration, **out}, indent=2))


if __name__ == "__main__":
    main()
