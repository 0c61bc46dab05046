"""Walk-forward evaluation of next-run pace models on runners never seen in training.

Protocol (what the published numbers mean): each runner's history is cleaned as everywhere
else (sanity ranges; rows that are not runs for this runner, e.g. a walk logged as a run at over
1.75x the quicker quartile of their previous 15 rows, are dropped by a causal rule:
:func:`~sub3coach.plan.history.non_run_mask`).
Then every run that has at least :data:`MIN_HISTORY_DAYS` (28) days of earlier history and at
least one run in the 28 days before it is predicted from the runs before it only (the model
reads at most the previous 16 runs of the previous 28 days, the runner's habits over the
previous weeks, and the weekday, start hour and gap of the run day; never its distance or HR). The error is the absolute
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
    clean: bool = True,
) -> dict[str, Any]:
    """Walk-forward pace MAE of ``model`` and the baselines (see module docs).

    ``clean=False`` keeps the rows :func:`~sub3coach.plan.history.non_run_mask` flags (walks,
    rides) as inputs and as scored runs: the protocol before that rule, for comparison.

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
    parts = [make_examples(add_features(histories[k], clean=clean), min_history_days=min_history_days)
             for k in ids if len(histories[k]) >= 2]
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
        "non_runs_dropped": clean,
        "per_runner": per_runner,
    }


def evaluate_personalised(
    model: PlanModel,
    histories: Mapping[str, pd.DataFrame],
    *,
    min_runs: int | None = None,
    min_history_days: float = MIN_HISTORY_DAYS,
    seed: int = 0,
) -> dict[str, Any]:
    """Cold-start vs fine-tuned model on the later half of each unseen runner's runs.

    For every unseen runner with at least ``min_runs`` runs (default
    :data:`~sub3coach.plan.train.FINE_TUNE_MIN_RUNS`) before the median date of their scored
    runs, the model is fine-tuned (:func:`~sub3coach.plan.train.fine_tune`) on the runs before
    that date and both models and the baselines are scored on the runs from that date on.

    Returns:
        ``n_runners``, ``n_predictions``, ``pace_mae_s_per_km`` (cold start),
        ``personalised_pace_mae_s_per_km``, ``baselines`` (same runs), ``min_runs``.
    """
    from sub3coach.plan.history import epoch_days
    from sub3coach.plan.train import FINE_TUNE_MIN_RUNS, fine_tune

    min_runs = FINE_TUNE_MIN_RUNS if min_runs is None else min_runs
    seen = seen_runners(model)
    errs: dict[str, list[np.ndarray]] = {"cold": [], "tuned": [], **{b: [] for b in BASELINES}}
    n_runners = 0
    for uid in sorted(histories):
        h = histories[uid]
        if uid in seen or len(h) < 2:
            continue
        ex = make_examples(add_features(h), min_history_days=min_history_days)
        if not len(ex):
            continue
        cut = float(np.quantile(ex.target_day, 0.5))
        early = h[epoch_days(h["start_time"]) < cut]
        if len(early) < min_runs:
            continue
        later = ex.subset(ex.target_day >= cut)
        tuned = fine_tune(model, early, min_runs=min_runs, seed=seed)
        n_runners += 1
        errs["cold"].append(np.abs(model.predict_pace(later) - later.target_pace))
        errs["tuned"].append(np.abs(tuned.predict_pace(later) - later.target_pace))
        for b in BASELINES:
            errs[b].append(np.abs(baseline_model(b).predict_pace(later) - later.target_pace))
        log.info("personalised %s: %d runs scored", uid, len(later))
    if not n_runners:
        raise Sub3Error(f"no unseen runner has {min_runs} runs to fine-tune on")
    mean = {k: round(float(np.concatenate(v).mean()), 2) for k, v in errs.items()}
    return {
        "n_runners": n_runners,
        "n_predictions": int(sum(len(e) for e in errs["cold"])),
        "pace_mae_s_per_km": mean["cold"],
        "personalised_pace_mae_s_per_km": mean["tuned"],
        "baselines": {b: mean[b] for b in BASELINES},
        "min_runs": min_runs,
    }
