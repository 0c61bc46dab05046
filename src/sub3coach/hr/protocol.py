"""The evaluation protocol behind every published HR figure: runner-level K-fold.

All runners of the data are split into K folds (:func:`sub3coach.hr.folds.runner_folds`); for
each fold the population network and the baselines are trained on the other folds' runners
(inner validation runners for early stopping and for the personal head's selection and band
calibration, :func:`sub3coach.hr.headfit.build_head`), and the fold's runners are scored:

* **cold**: every run of the fold's runners, nothing known about them;
* **personal**: per runner, the chronologically first half of their runs is history, the second
  half is scored (also with only the last 3/5/10 history runs, with only the max HR of the
  history stated, and "rolling": every earlier run as history, as a user's library grows);
* **in-run**: the second-half runs again, the measured HR of their first M minutes known,
  scored after minute M only.

Scores are **per recorded sample** (the recording's own sampling after cleaning; each sample
takes the prediction of its nearest grid step within 5 s, inside recorded data): pooled MAE and
RMSE, the mean over runners of each runner's MAE, the median per-workout MAE, the median over
runners of each runner's median per-workout MAE, and the 80 % band's coverage. Baselines run on
the same folds: population mean, linear speed/grade, the SUB3_V2 LSTM (11 honest features),
the bare population network, and plain offsets (history mean residual; minutes 5..M of the run).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sub3coach.errors import Sub3Error
from sub3coach.features import FeatureSpec, Prepared
from sub3coach.hr import modes as M
from sub3coach.hr import personal as P
from sub3coach.hr.folds import inner_validation, runner_folds
from sub3coach.hr.inrun import observed_mask
from sub3coach.hr.train import HRModel, TrainConfig, union_features

log = logging.getLogger(__name__)

PROTOCOLS: tuple[str, ...] = M.MODES
#: The product's name in tables: the population network with its personal head.
OURS = "sub3"
#: The population network without its personal head (an ablation row in every mode).
NETWORK = "population network alone"
#: Table names of the baselines trained on the same folds.
BASELINE_NAMES: dict[str, str] = {"mean": "population mean", "linear": "linear (speed, grade)",
                                  "seed-lstm": "SUB3_V2 LSTM (11 honest features)"}
#: Largest distance between a recorded sample and the grid step whose prediction it takes, s.
MATCH_TOLERANCE_S: float = 5.0


@dataclass
class ProtocolConfig:
    """Settings of one protocol run (all reported with the results).

    Attributes:
        folds: K; seed: fold assignment and training seeds; minutes: observed minutes (in-run);
        history_runs: extra personal rows using only the last N history runs;
        baselines: architectures trained beside the model (``mean``, ``linear``, ``seed-lstm``);
        train: the population network's training settings; cache_dir: trained fold models are
        kept there and reused when the same runners and settings come again.
    """

    folds: int = 5
    seed: int = 0
    minutes: float = 10.0
    history_runs: tuple[int, ...] = (3, 5, 10)
    baselines: tuple[str, ...] = ("mean", "linear", "seed-lstm")
    train: TrainConfig = field(default_factory=TrainConfig)
    cache_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["train"] = self.train.to_dict()
        return d


@dataclass
class Score:
    """Per-sample scores of one workout under one method and mode."""

    mode: str
    method: str
    fold: int
    user: str
    workout: str
    n: int
    abs_sum: float
    sq_sum: float
    inside: int = -1  # samples inside the 80 % band (-1: the method has no band)


def sample_scores(p: Prepared, grid_pred: np.ndarray, *, lo: np.ndarray | None = None, hi: np.ndarray | None = None,
                  after_s: float | None = None) -> tuple[int, float, float, int]:
    """(n, sum |err|, sum err^2, samples inside [lo, hi]) over the recording's own HR samples.

    A sample counts when its HR is valid after cleaning, its nearest grid step lies within
    :data:`MATCH_TOLERANCE_S` and inside recorded data, and (``after_s``) it comes after that
    elapsed time."""
    ts = p.meta.get("sample_time_s")
    hr = p.meta.get("sample_hr_bpm")
    if ts is None or hr is None or len(p.time_s) == 0:
        raise Sub3Error("per-sample scoring needs runs prepared with keep_samples=True")
    t0 = float(p.time_s[0])
    step = float(p.time_s[1] - p.time_s[0]) if len(p.time_s) > 1 else 1.0
    idx = np.rint((ts - t0) / step).astype(np.int64)
    ok = np.isfinite(hr) & (idx >= 0) & (idx < len(p.time_s))
    idx = np.where(ok, idx, 0)
    ok &= np.abs(p.time_s[idx] - ts) <= MATCH_TOLERANCE_S
    ok &= p.observed[idx] & np.isfinite(grid_pred[idx])
    if after_s is not None:
        ok &= (ts - t0) > after_s
    e = grid_pred[idx[ok]] - hr[ok]
    inside = -1
    if lo is not None and hi is not None:
        y = hr[ok]
        inside = int(((y >= lo[idx[ok]]) & (y <= hi[idx[ok]])).sum())
    return int(ok.sum()), float(np.abs(e).sum()), float((e * e).sum()), inside


# ---------------------------------------------------------------------------------------------
# training one fold (cached)
# ---------------------------------------------------------------------------------------------
def _cache_path(cfg: ProtocolConfig, arch: str, train_users: Sequence[str], tc: TrainConfig) -> Path | None:
    if not cfg.cache_dir:
        return None
    settings = {k: v for k, v in tc.to_dict().items()
                if k != "personal_head" and not (k == "center_runners" and not v)}  # keys of older caches stay valid
    key = json.dumps({"arch": arch, "users": sorted(train_users), "train": settings}, sort_keys=True)
    return Path(cfg.cache_dir) / f"{arch}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def _train(cfg: ProtocolConfig, arch: str, train: Sequence[Prepared], val: Sequence[Prepared], names: Sequence[str],
           seed: int) -> Any:
    """A fitted :class:`LoadedModel` of ``arch`` on the fold (from the cache when present)."""
    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.data import select_columns

    tc = cfg.train if arch == cfg.train.arch else TrainConfig(arch=arch, epochs=cfg.train.epochs, patience=cfg.train.patience)
    tc = replace(tc, seed=seed, personal_head=False)  # the protocol fits the head itself, per fold
    path = _cache_path(cfg, arch, sorted({str(p.user_id) for p in train}), tc)
    if path is not None and path.exists():
        return load_model(path)
    model = HRModel(tc).fit_prepared(select_columns(train, names, tc.features or ()), select_columns(val, names, tc.features or ()))
    if path is not None:
        model.save(path)
        return load_model(path)
    return model.to_loaded()


def _predict(lm: Any, items: Sequence[Prepared], names: Sequence[str]) -> list[np.ndarray]:
    from sub3coach.hr.data import select_columns
    from sub3coach.hr.predict import predict_prepared

    return predict_prepared(lm, select_columns(items, names, lm.spec.names))


# ---------------------------------------------------------------------------------------------
# scoring one fold
# ---------------------------------------------------------------------------------------------
class _Scorer:
    def __init__(self, fold: int, items: Sequence[Prepared]) -> None:
        self.fold, self.items, self.scores = fold, items, []  # type: ignore[var-annotated]

    def add(self, mode: str, method: str, i: int, pred: np.ndarray, *, sd: np.ndarray | None = None,
            prior: P.HeadPrior | None = None, band_mode: str | None = None, after_s: float | None = None) -> None:
        p = self.items[i]
        lo = hi = None
        if sd is not None and prior is not None:
            lo, hi = P.band(prior, band_mode or mode, pred, sd)
        n, a, s, inside = sample_scores(p, pred, lo=lo, hi=hi, after_s=after_s)
        if n:
            self.scores.append(Score(mode, method, self.fold, str(p.user_id), str(p.workout_id), n, a, s, inside))


def _score_fold(sc: _Scorer, cfg: ProtocolConfig, prior: P.HeadPrior, test: Sequence[int],
                base: dict[str, list[np.ndarray]], arch: str) -> None:
    """All modes and methods for the fold's runners (indices ``test`` into the item list)."""
    items = sc.items
    sub = [items[i] for i in test]
    net = base[arch]
    stats = M.stats_of(sub, [net[i] for i in test])
    runs = M.by_runner(sub)
    for i in test:  # cold
        for name, preds in base.items():
            sc.add("cold", NETWORK if name == arch else BASELINE_NAMES.get(name, name), i, preds[i])
    for mp in M.cold_mode(prior, sub, [net[i] for i in test], range(len(sub))):
        sc.add("cold", OURS, test[mp.item], mp.mean, sd=mp.sd, prior=prior)
    sub_base = [net[i] for i in test]
    for idx in runs.values():
        hist, scored = M.history_split(idx)
        if not hist:
            continue
        _score_personal(sc, cfg, prior, sub, sub_base, stats, hist, scored, test, net)


def _score_personal(sc: _Scorer, cfg: ProtocolConfig, prior: P.HeadPrior, sub: Sequence[Prepared],
                    sub_base: Sequence[np.ndarray], stats: Sequence[P.RunStats | None], hist: list[int],
                    scored: list[int], test: Sequence[int], net: Sequence[np.ndarray]) -> None:
    g = lambda k: test[k]  # noqa: E731  (index into the fold's items -> global index)
    resid = [float(np.mean((sub[k].hr_bpm - sub_base[k])[sub[k].mask])) for k in hist if sub[k].mask.any()]
    offset = float(np.mean(resid)) if resid else 0.0
    stated = {"max_hr_bpm": M.max_hr_estimate([sub[k] for k in hist])}
    for mp in M.cold_mode(prior, sub, sub_base, scored, stated):
        sc.add("personal", f"{OURS}, max HR of history stated", g(mp.item), mp.mean, sd=mp.sd, prior=prior, band_mode="cold")
    for k in scored:
        sc.add("personal", NETWORK, g(k), net[g(k)])
        sc.add("personal", "offset (history mean residual)", g(k), net[g(k)] + offset)
    for mp in M.personal_mode(prior, sub, sub_base, stats, hist, scored):
        sc.add("personal", OURS, g(mp.item), mp.mean, sd=mp.sd, prior=prior)
        _score_in_run(sc, cfg, prior, sub, sub_base, mp, g)
    for n in cfg.history_runs:
        if len(hist) >= n:
            for mp in M.personal_mode(prior, sub, sub_base, stats, hist, scored, last_n=n):
                sc.add("personal", f"{OURS}, last {n} history runs", g(mp.item), mp.mean, sd=mp.sd, prior=prior)
    for j, k in enumerate(scored):  # rolling: every earlier run is history
        (mp,) = M.personal_mode(prior, sub, sub_base, stats, hist + scored[:j], [k])
        sc.add("personal", f"{OURS}, rolling (all earlier runs)", g(k), mp.mean, sd=mp.sd, prior=prior)


def _score_in_run(sc: _Scorer, cfg: ProtocolConfig, prior: P.HeadPrior, sub: Sequence[Prepared],
                  sub_base: Sequence[np.ndarray], mp: M.ModePrediction, g: Callable[[int], int]) -> None:
    p, after = sub[mp.item], cfg.minutes * 60.0
    el = p.time_s - p.time_s[0]
    hr = M.observable_hr(p, cfg.minutes)
    w = observed_mask(p.time_s, cfg.minutes) & p.observed & np.isfinite(hr) & (el > after - 300.0)
    off = float(np.mean((hr - sub_base[mp.item])[w])) if w.any() else 0.0
    sc.add("in-run", f"offset (minutes {cfg.minutes - 5:g}-{cfg.minutes:g} of the run)", g(mp.item),
           sub_base[mp.item] + off, after_s=after)
    cold_m, cold_sd = P.predict_head(prior, P.cold(prior), p.time_s, sub_base[mp.item])
    ir = M.in_run(prior, p, cold_m, cold_sd, cfg.minutes)
    sc.add("in-run", f"{OURS}, cold + first {cfg.minutes:g} min", g(mp.item), ir.mean, sd=ir.sd, prior=prior,
           band_mode="in-run", after_s=after)
    ir = M.in_run(prior, p, mp.mean, mp.sd, cfg.minutes, personal=mp.personal)
    sc.add("in-run", OURS, g(mp.item), ir.mean, sd=ir.sd, prior=prior, after_s=after)


# ---------------------------------------------------------------------------------------------
# the whole protocol
# ---------------------------------------------------------------------------------------------
def run_protocol(items: Sequence[Prepared], names: Sequence[str], cfg: ProtocolConfig,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the K-fold protocol over featurised runs (prepared with ``keep_samples=True`` and
    feature columns ``names``); returns the JSON-safe report (see :func:`summarise`)."""
    from sub3coach.hr.headfit import build_head

    say = progress or (lambda s: None)
    users = [str(p.user_id) for p in items]
    if len(set(users)) < max(cfg.folds, 3):
        raise Sub3Error(f"{cfg.folds}-fold evaluation needs at least {max(cfg.folds, 3)} runners; found {len(set(users))}")
    folds = runner_folds(users, cfg.folds, seed=cfg.seed)
    arch = cfg.train.arch
    scores: list[Score] = []
    fold_info = []
    for k, fold in enumerate(folds):
        test_set = set(fold)
        rest = sorted(set(users) - test_set)
        val_set = set(inner_validation(rest, users, seed=cfg.seed + k))
        tr = [i for i, u in enumerate(users) if u not in test_set and u not in val_set]
        va = [i for i, u in enumerate(users) if u in val_set]
        te = [i for i, u in enumerate(users) if u in test_set]
        train, val = [items[i] for i in tr], [items[i] for i in va]
        base: dict[str, list[np.ndarray]] = {}
        for a in (arch, *cfg.baselines):
            say(f"fold {k + 1}/{len(folds)}: training {a} on {len(set(users[i] for i in tr))} runners")
            lm = _train(cfg, a, train, val, names, cfg.seed + k)
            need = sorted(tr + va + te) if a == arch else te  # baselines are only scored
            preds: list[np.ndarray] = [np.zeros(0)] * len(items)
            for i, pr in zip(need, _predict(lm, [items[i] for i in need], names)):
                preds[i] = pr
            base[a] = preds
        say(f"fold {k + 1}/{len(folds)}: personal head on validation runners {sorted(val_set)}")
        prior = build_head([base[arch][i] for i in tr], train, [base[arch][i] for i in va], val, minutes=cfg.minutes)
        sc = _Scorer(k, items)
        say(f"fold {k + 1}/{len(folds)}: scoring runners {fold}")
        _score_fold(sc, cfg, prior, te, base, arch)
        scores.extend(sc.scores)
        fold_info.append({"fold": k, "test_runners": fold, "validation_runners": sorted(val_set),
                          "train_runners": len(set(users[i] for i in tr)), "band": {m: list(v) for m, v in prior.band.items()},
                          "kalman": prior.kalman, "half_life_days": prior.half_life_days})
    return summarise(scores, fold_info, cfg)


def _agg(rows: Sequence[Score]) -> dict[str, Any]:
    n = sum(r.n for r in rows)
    by_user: dict[str, list[Score]] = {}
    for r in rows:
        by_user.setdefault(r.user, []).append(r)
    runner_mae = [sum(x.abs_sum for x in v) / sum(x.n for x in v) for v in by_user.values()]
    runner_med = [float(np.median([x.abs_sum / x.n for x in v])) for v in by_user.values()]
    banded = [r for r in rows if r.inside >= 0]
    nb = sum(r.n for r in banded)
    return {
        "mae_bpm": _r(sum(r.abs_sum for r in rows) / n) if n else None,
        "rmse_bpm": _r(math.sqrt(sum(r.sq_sum for r in rows) / n)) if n else None,
        "runner_mean_mae_bpm": _r(float(np.mean(runner_mae))) if runner_mae else None,
        "median_workout_mae_bpm": _r(float(np.median([r.abs_sum / r.n for r in rows]))) if rows else None,
        "runner_median_of_median_workout_mae_bpm": _r(float(np.median(runner_med))) if runner_med else None,
        "band80_coverage": _r(sum(r.inside for r in banded) / nb, 3) if nb else None,
        "n_samples": n, "n_workouts": len(rows), "n_runners": len(by_user),
    }


def _r(x: float, nd: int = 2) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def summarise(scores: Sequence[Score], fold_info: list[dict[str, Any]], cfg: ProtocolConfig) -> dict[str, Any]:
    """The report: per mode and method the overall figures, per fold and per runner."""
    out: dict[str, Any] = {"config": cfg.to_dict(), "folds": fold_info, "modes": {}}
    keys = sorted({(s.mode, s.method) for s in scores}, key=lambda k: (PROTOCOLS.index(k[0]), k[1] != OURS, k[1]))
    for mode, method in keys:
        rows = [s for s in scores if s.mode == mode and s.method == method]
        entry = _agg(rows)
        entry["per_fold"] = {str(f): _agg([r for r in rows if r.fold == f])["mae_bpm"] for f in sorted({r.fold for r in rows})}
        entry["per_runner"] = {u: _agg([r for r in rows if r.user == u]) for u in sorted({r.user for r in rows})}
        out["modes"].setdefault(mode, {})[method] = entry
    return out


def load_items(data: str | os.PathLike, cfg: ProtocolConfig) -> tuple[list[Prepared], tuple[str, ...], dict[str, int]]:
    """Featurise every run of ``data`` once with the union of all trained models' features."""
    from sub3coach.hr.data import iter_workouts, prepare_all

    names = union_features((cfg.train.arch, *cfg.baselines))
    if cfg.train.features:
        names = tuple(dict.fromkeys((*names, *cfg.train.features)))
    ps = prepare_all(iter_workouts(data), FeatureSpec(names=names, step_s=cfg.train.step_s), keep_samples=True,
                     cut_hr_minutes=cfg.minutes)
    return ps.items, names, ps.skipped
