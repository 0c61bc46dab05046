"""Evaluating an HR model on held-out workouts.

What the numbers mean (the cold-start protocol of DESIGN.md):

* every metric is computed on the model's uniform time grid (5 s by default), over the
  *valid* steps: inside recorded data (no long gap) and with a sane sensor HR (30–230 BPM);
* ``mae_bpm`` / ``rmse_bpm``: over all valid steps of all workouts pooled;
* ``median_workout_mae_bpm``: the median over workouts of each workout's own MAE;
* ``per_type``: the same by workout type, derived from **speed only** (:func:`workout_type`);
* ``per_runner``: the same by runner.
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sub3coach.features import STOPPED_MPS, Prepared, trailing_mean
from sub3coach.hr.artifact import LoadedModel, describe
from sub3coach.hr.predict import predict_prepared
from sub3coach.workout import Workout

log = logging.getLogger(__name__)

WORKOUT_TYPES: tuple[str, ...] = ("recovery", "steady", "intensive", "intervals")
#: Absolute pace bounds (m/s) used when a runner has too few runs to be their own reference:
#: slower than 6:15/km is recovery, faster than 4:45/km intensive.
ABS_RECOVERY_MPS: float = 1000.0 / 375.0
ABS_INTENSIVE_MPS: float = 1000.0 / 285.0
#: Relative bounds around the runner's own typical pace (median of their runs' median speeds).
REL_RECOVERY: float = 0.92
REL_INTENSIVE: float = 1.08
#: A runner needs this many runs in the evaluated set to be their own reference.
MIN_RUNS_FOR_RELATIVE: int = 5


def speed_profile(speed_mps: np.ndarray, step_s: float) -> tuple[float, float, int]:
    """(median moving speed m/s, coefficient of variation of the 1-min mean moving speed,
    number of fast bouts). A fast bout is a stretch of >= 20 s whose 30 s mean speed is above
    1.12 x the median, separated from the next by >= 20 s below 1.0 x the median."""
    v = np.asarray(speed_mps, dtype=np.float64)
    moving = v >= STOPPED_MPS
    if moving.sum() < 3:
        return 0.0, 0.0, 0
    med = float(np.median(v[moving]))
    k60 = max(1, int(round(60.0 / step_s)))
    m60 = trailing_mean(v, k60)[moving]
    cv = float(np.std(m60) / max(np.mean(m60), 1e-9))
    k30 = max(1, int(round(30.0 / step_s)))
    s30 = trailing_mean(v, k30)
    min_len = max(1, int(round(20.0 / step_s)))
    bouts = 0
    state_fast = False
    run = 0
    slow_run = 0
    for x in s30:
        if not state_fast:
            run = run + 1 if x > 1.12 * med else 0
            if run >= min_len:
                bouts += 1
                state_fast, slow_run = True, 0
        else:
            slow_run = slow_run + 1 if x < med else 0
            if slow_run >= min_len:
                state_fast, run = False, 0
    return med, cv, bouts


def workout_type(speed_mps: np.ndarray, step_s: float, reference_mps: float | None = None) -> str:
    """Workout type from speed only (never HR).

    Rule: **intervals** when the 1-min mean moving speed varies a lot (coefficient of
    variation > 0.15) with at least 3 fast bouts (see :func:`speed_profile`); otherwise the run's
    median moving speed decides: below ``0.92 x reference`` **recovery**, above
    ``1.08 x reference`` **intensive**, else **steady**. ``reference_mps`` is the runner's typical
    speed; without one, absolute bounds are used (recovery slower than 6:15/km, intensive faster
    than 4:45/km)."""
    med, cv, bouts = speed_profile(speed_mps, step_s)
    if cv > 0.15 and bouts >= 3:
        return "intervals"
    if reference_mps and reference_mps > 0:
        lo, hi = REL_RECOVERY * reference_mps, REL_INTENSIVE * reference_mps
    else:
        lo, hi = ABS_RECOVERY_MPS, ABS_INTENSIVE_MPS
    if med < lo:
        return "recovery"
    if med > hi:
        return "intensive"
    return "steady"


def assign_types(items: Sequence[Prepared], step_s: float) -> list[str]:
    """Workout types for a set of workouts, runner-relative where a runner has enough runs."""
    meds: dict[str, list[float]] = {}
    for p in items:
        v = p.speed_mps if p.speed_mps is not None else np.zeros(0)
        mv = v[v >= STOPPED_MPS]
        if mv.size:
            meds.setdefault(str(p.user_id), []).append(float(np.median(mv)))
    ref = {u: float(np.median(m)) for u, m in meds.items() if len(m) >= MIN_RUNS_FOR_RELATIVE and u not in ("None", "")}
    return [workout_type(p.speed_mps if p.speed_mps is not None else np.zeros(0), step_s, ref.get(str(p.user_id))) for p in items]


@dataclass
class WorkoutResult:
    """Scores of one workout (grid level)."""

    workout_id: str
    user_id: str
    type: str
    n_steps: int
    abs_err_sum: float
    sq_err_sum: float
    true_mean_bpm: float
    pred_mean_bpm: float

    @property
    def mae_bpm(self) -> float:
        return self.abs_err_sum / self.n_steps if self.n_steps else math.nan

    @property
    def rmse_bpm(self) -> float:
        return math.sqrt(self.sq_err_sum / self.n_steps) if self.n_steps else math.nan


@dataclass
class EvalResult:
    """Everything :func:`evaluate_prepared` computed (metrics plus data for figures)."""

    workouts: list[WorkoutResult]
    true: list[np.ndarray]  # per workout, valid steps only
    pred: list[np.ndarray]
    items: list[Prepared] = field(default_factory=list)
    preds_full: list[np.ndarray] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)

    def _group(self, key: str) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[WorkoutResult]] = {}
        for w in self.workouts:
            groups.setdefault(getattr(w, key), []).append(w)
        out: dict[str, dict[str, Any]] = {}
        for k in sorted(groups):
            ws = groups[k]
            n = sum(w.n_steps for w in ws)
            out[k] = {
                "n_workouts": len(ws),
                "n_steps": n,
                "mae_bpm": _r(sum(w.abs_err_sum for w in ws) / n) if n else None,
                "rmse_bpm": _r(math.sqrt(sum(w.sq_err_sum for w in ws) / n)) if n else None,
                "median_workout_mae_bpm": _r(float(np.median([w.mae_bpm for w in ws]))),
                "true_mean_bpm": _r(sum(w.true_mean_bpm * w.n_steps for w in ws) / n) if n else None,
                "pred_mean_bpm": _r(sum(w.pred_mean_bpm * w.n_steps for w in ws) / n) if n else None,
            }
        return out

    def metrics(self) -> dict[str, Any]:
        """The JSON report: ``mae_bpm``, ``rmse_bpm``, ``median_workout_mae_bpm``, ``n_workouts``,
        ``n_runners``, ``n_steps``, ``per_type``, ``per_runner``, ``model``."""
        n = sum(w.n_steps for w in self.workouts)
        per_type = self._group("type")
        for t in WORKOUT_TYPES:
            per_type.setdefault(t, {"n_workouts": 0, "n_steps": 0, "mae_bpm": None, "rmse_bpm": None,
                                    "median_workout_mae_bpm": None, "true_mean_bpm": None, "pred_mean_bpm": None})
        return {
            "mae_bpm": _r(sum(w.abs_err_sum for w in self.workouts) / n) if n else None,
            "rmse_bpm": _r(math.sqrt(sum(w.sq_err_sum for w in self.workouts) / n)) if n else None,
            "median_workout_mae_bpm": _r(float(np.median([w.mae_bpm for w in self.workouts]))) if self.workouts else None,
            "n_workouts": len(self.workouts),
            "n_runners": len({w.user_id for w in self.workouts}),
            "n_steps": n,
            "grid_step_s": self.model.get("step_s"),
            "per_type": {t: per_type[t] for t in list(WORKOUT_TYPES) + [k for k in per_type if k not in WORKOUT_TYPES]},
            "per_runner": self._group("user_id"),
            "model": {k: self.model.get(k) for k in ("name", "arch", "parameters", "path")},
        }


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def evaluate_prepared(lm: LoadedModel, items: Sequence[Prepared]) -> EvalResult:
    """Score ``lm`` on featurised workouts (which must carry HR)."""
    items = [p for p in items if p.hr_bpm is not None and p.mask.any()]
    preds = predict_prepared(lm, items)
    types = assign_types(items, lm.spec.step_s)
    results: list[WorkoutResult] = []
    trues: list[np.ndarray] = []
    ps: list[np.ndarray] = []
    for p, pr, ty in zip(items, preds, types):
        m = p.mask
        y = p.hr_bpm[m]  # type: ignore[index]
        yh = pr[m]
        e = yh - y
        results.append(WorkoutResult(
            workout_id=str(p.workout_id), user_id=str(p.user_id), type=ty, n_steps=int(m.sum()),
            abs_err_sum=float(np.abs(e).sum()), sq_err_sum=float((e * e).sum()),
            true_mean_bpm=float(y.mean()), pred_mean_bpm=float(yh.mean()),
        ))
        trues.append(y)
        ps.append(yh)
    info = describe(lm)
    return EvalResult(workouts=results, true=trues, pred=ps, items=list(items), preds_full=preds, model=info)


def evaluate(lm: LoadedModel, workouts: Iterable[Workout]) -> EvalResult:
    """Featurise workouts with the model's own spec and score it (workouts without a usable HR
    are skipped: sensor sanity only)."""
    from sub3coach.hr.data import prepare_all

    ps = prepare_all(workouts, lm.spec)
    res = evaluate_prepared(lm, ps.items)
    res.model["skipped"] = ps.skipped
    return res


def evaluate_path(lm: LoadedModel, data: str | os.PathLike, *, runners: Sequence[str] | None = None) -> EvalResult:
    """:func:`evaluate` on a ``--data`` path (optionally only some runners)."""
    from sub3coach.hr.data import iter_workouts

    return evaluate(lm, iter_workouts(data, user_ids=runners))


def write_report(result: EvalResult, out_dir: str | os.PathLike, *, gif: bool = True) -> dict[str, str]:
    """Write ``metrics.json`` and figures into ``out_dir``: predicted-vs-true scatter, error
    histogram, best/median/worst workouts, per-type bars and (``gif``) an animated prediction.

    Returns name -> path of every file written."""
    from sub3coach import viz

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    metrics = result.metrics()
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    files["metrics"] = str(out / "metrics.json")
    if not result.workouts:
        return files
    y = np.concatenate(result.true)
    yh = np.concatenate(result.pred)
    files["scatter"] = str(viz.scatter_pred_true(y, yh, out / "pred_vs_true.png", title=f"{result.model.get('name')}: predicted vs true"))
    files["errors"] = str(viz.error_histogram(yh - y, out / "error_hist.png"))
    files["per_type"] = str(viz.per_type_bars(metrics["per_type"], out / "per_type.png"))
    order = np.argsort([w.mae_bpm for w in result.workouts])
    picks = {"best": int(order[0]), "median": int(order[len(order) // 2]), "worst": int(order[-1])}
    curves = []
    for label, i in picks.items():
        p = result.items[i]
        w = result.workouts[i]
        curves.append((f"{label}: {w.workout_id[:10]} ({w.type}) MAE {w.mae_bpm:.1f} BPM", p, result.preds_full[i]))
    files["runs"] = str(viz.runs_panel(curves, out / "best_median_worst.png"))
    if gif:
        _, p, pr = curves[1]
        files["gif"] = str(viz.animate_hr(p.time_s, p.hr_bpm, pr, out / "prediction.gif", speed_mps=p.speed_mps,
                                          title=f"Predicted vs true HR, median run ({result.model.get('name')})"))
    return files
