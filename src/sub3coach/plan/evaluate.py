"""Walk-forward evaluation of next-run pace models on runners never seen in training.

Protocol (what the published numbers mean): for every runner, every run that has at least
:data:`MIN_HISTORY_DAYS` (28) days of earlier history and at least one run in the 28 days
before it is predicted from the runs before it only (the model reads at most the previous 16
runs of the previous 28 days, and the weekday and gap of the run day). The error is the absolute
difference between predicted and actual average pace, s/km. Reported: the mean over all
predictions (``pace_mae_s_per_km``), the same for each baseline (last run's pace, mean pace of
the last 7 days, median pace of the last 28 days), and per-runner MAEs. Runners listed in the
model's training or validation split are left out (and counted), so running this on the
development histories scores only the held-out runners.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sub3coach.errors import Sub3Error
from sub3coach.plan.history import add_features, make_examples, Examples
from sub3coach.plan.model import BASELINES
from sub3coach.plan.train import PlanModel, baseline_model

log = logging.getLogger(__name__)

#: A run is predicted only when the runner's history before it spans at least this many days.
MIN_HISTORY_DAYS: float = 28.0


def seen_runners(model: PlanModel) -> set[str]:
    """Runner ids the model was trained or early-stopped on (from its artifact)."""
    split = model.meta.get("split") or {}
    return {str(x) for part in ("train", "val") for x in split.get(part, [])}


def evaluate(
    model: PlanModel,
    histories: Mapping[str, pd.DataFrame],
    *,
    include_seen: bool = False,
    min_history_days: float = MIN_HISTORY_DAYS,
) -> dict[str, Any]:
    """Walk-forward pace MAE of ``model`` and the baselines (see module docs).

    Returns:
        JSON-safe dict: ``pace_mae_s_per_km``, ``baselines`` (name -> MAE),
        ``best_baseline``, ``improvement_vs_best_baseline_pct``, ``median_abs_error_s_per_km``,
        ``n_predictions``, ``n_runners``, ``n_runners_skipped_seen``, ``per_runner`` (list).

    Raises:
        Sub3Error: no runner left to evaluate, or no run with enough prior history.
    """
    seen = set() if include_seen else seen_runners(model)
    ids = [k for k in sorted(histories) if k not in seen]
    skipped = len(histories) - len(ids)
    if skipped:
        log.info("left out %d runner(s) the model saw in training", skipped)
    if not ids:
        raise Sub3Error("every runner here was used to train this model: nothing unseen to evaluate "
                        "(use runners not in its training split)")
    parts = [make_examples(add_features(histories[k]), min_history_days=min_history_days) for k in ids if len(histories[k]) >= 2]
    ex = Examples.concat(parts)
    if not len(ex):
        raise Sub3Error(f"no run has {min_history_days:.0f} days of earlier history to predict from")
    preds = {"model": model.predict_pace(ex)}
    for name in BASELINES:
        preds[name] = baseline_model(name).predict_pace(ex)
    err = {k: np.abs(v - ex.target_pace) for k, v in preds.items()}
    per_runner = []
    for uid in pd.unique(ex.user_id):
        sel = ex.user_id == uid
        per_runner.append({"user_id": str(uid), "n_predictions": int(sel.sum()),
                           **{("pace_mae_s_per_km" if k == "model" else k): round(float(e[sel].mean()), 2) for k, e in err.items()}})
    base = {k: round(float(err[k].mean()), 2) for k in BASELINES}
    best = min(base, key=base.__getitem__)
    mae = float(err["model"].mean())
    return {
        "model": model.path or model.name,
        "pace_mae_s_per_km": round(mae, 2),
        "baselines": base,
        "best_baseline": best,
        "improvement_vs_best_baseline_pct": round(100.0 * (1.0 - mae / base[best]), 1),
        "median_abs_error_s_per_km": round(float(np.median(err["model"])), 2),
        "runners_better_than_best_baseline": int(sum(r["pace_mae_s_per_km"] < r[best] for r in per_runner)),
        "n_predictions": int(len(ex)),
        "n_runners": len(per_runner),
        "n_runners_skipped_seen": skipped,
        "min_history_days": min_history_days,
        "per_runner": per_runner,
    }
