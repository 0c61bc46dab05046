"""Fitting the personal head of a trained population network: prior, selection, calibration.

:func:`build_head` is what every trained HR artifact goes through (``sub3 hr train``, the
bundled model's script and each fold of ``sub3 hr evaluate --protocol``):

1. the population network predicts the training and validation runners' runs;
2. the head's prior is fitted on the **training** runners (:func:`sub3coach.hr.personal.fit_prior`,
   their max HR estimated from their own runs as the stated covariate);
3. on the **validation** runners only (never the runners scored later), the prior's inflation
   and the recency half-life are chosen by personal-mode MAE, the in-run filter's parameters by
   in-run MAE, and the 80 % band of each mode is calibrated (:func:`~sub3coach.hr.personal.calibrate_band`).

Without validation runners the defaults are kept and the bands are calibrated on the training
runners (marked ``"band_calibrated_on": "train"`` in the head).
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from sub3coach.features import Prepared
from sub3coach.hr import modes as M
from sub3coach.hr import personal as P
from sub3coach.hr.inrun import DEFAULT_KALMAN

log = logging.getLogger(__name__)

#: Hyper-parameters tried on validation runners.
INFLATE_GRID: tuple[float, ...] = (1.0, 2.0, 4.0)
HALF_LIFE_GRID_DAYS: tuple[float, ...] = (7.0, 15.0, 30.0, 90.0, 365.0)
PHI_GRID: tuple[float, ...] = (0.98, 0.99, 0.995)
LEVEL_SCALE_GRID: tuple[float, ...] = (1.0, 4.0, 16.0)
SKIP_GRID_S: tuple[float, ...] = (0.0, 300.0)


def _runner_stats(items: Sequence[Prepared], stats: Sequence[P.RunStats | None]) -> tuple[dict, dict]:
    by: dict[str, list[P.RunStats]] = {}
    stated: dict[str, dict[str, float | None]] = {}
    for u, idx in M.by_runner(items).items():
        rs = [stats[i] for i in idx if stats[i] is not None]
        if rs:
            by[u] = rs  # type: ignore[assignment]
            stated[u] = {"max_hr_bpm": M.max_hr_estimate([items[i] for i in idx])}
    return by, stated


def _mae(items: Sequence[Prepared], preds: Sequence[M.ModePrediction]) -> float:
    e, _ = M.grid_errors(items, preds)
    return float(np.mean(np.abs(e))) if e.size else float("inf")


def _personal_preds(prior: P.HeadPrior, items: Sequence[Prepared], base: Sequence[np.ndarray],
                    stats: Sequence[P.RunStats | None]) -> list[M.ModePrediction]:
    out: list[M.ModePrediction] = []
    for idx in M.by_runner(items).values():
        hist, scored = M.history_split(idx)
        if hist:
            out.extend(M.personal_mode(prior, items, base, stats, hist, scored))
    return out


def build_head(base_train: Sequence[np.ndarray], train: Sequence[Prepared], base_val: Sequence[np.ndarray],
               val: Sequence[Prepared], *, minutes: float = 10.0,
               progress: Callable[[str], None] | None = None) -> P.HeadPrior:
    """Fit, select and calibrate the personal head (see module docs).

    Args:
        base_train / base_val: the population network's grid predictions (BPM) of ``train`` /
            ``val`` runs (featurised, with HR).
        minutes: observed minutes used to select and calibrate the in-run mode.
    """
    say = progress or (lambda s: None)
    st_tr = M.stats_of(train, base_train)
    by, stated = _runner_stats(train, st_tr)
    if not by:
        raise ValueError("no training runs with heart rate for the personal head")
    if not val:
        prior = P.fit_prior(by, stated=stated)
        prior.kalman = dict(DEFAULT_KALMAN)
        return _calibrate(prior, train, base_train, st_tr, minutes, "train")
    st_va = M.stats_of(val, base_val)
    say("selecting the personal head's prior on validation runners")
    best: tuple[float, P.HeadPrior] | None = None
    for inflate, hl in itertools.product(INFLATE_GRID, HALF_LIFE_GRID_DAYS):
        prior = P.fit_prior(by, stated=stated, inflate=inflate, half_life_days=hl)
        mae = _mae(val, _personal_preds(prior, val, base_val, st_va))
        log.debug("head inflate=%s half-life=%s: personal MAE %.2f", inflate, hl, mae)
        if best is None or mae < best[0] - 1e-9:
            best = (mae, prior)
    assert best is not None
    prior = best[1]
    say("selecting the in-run filter on validation runners")
    pers = _personal_preds(prior, val, base_val, st_va)
    best_k: tuple[float, dict[str, float]] | None = None
    for phi, ls, skip in itertools.product(PHI_GRID, LEVEL_SCALE_GRID, SKIP_GRID_S):
        params = {**DEFAULT_KALMAN, "phi": phi, "level_scale": ls, "skip_s": skip}
        preds = [replace(M.in_run(prior, val[mp.item], mp.mean, mp.sd, minutes, params, mp.personal), item=mp.item)
                 for mp in pers]
        mae = _mae(val, preds)
        if best_k is None or mae < best_k[0] - 1e-9:
            best_k = (mae, params)
    prior.kalman = dict(best_k[1]) if best_k else dict(DEFAULT_KALMAN)
    return _calibrate(prior, val, base_val, st_va, minutes, "validation")


def _calibrate(prior: P.HeadPrior, items: Sequence[Prepared], base: Sequence[np.ndarray],
               stats: Sequence[P.RunStats | None], minutes: float, where: str) -> P.HeadPrior:
    """Per-mode band quantiles from the z-scores of ``items`` (validation runners)."""
    preds = M.all_modes(prior, items, base, stats, minutes=minutes, kalman=prior.kalman)
    for mode, ps in preds.items():
        _, z = M.grid_errors(items, ps)
        prior.band[mode] = P.calibrate_band(z)
    prior.kalman["band_calibrated_on_validation"] = 1.0 if where == "validation" else 0.0
    log.info("personal head: bands %s (calibrated on %s runners)", prior.band, where)
    return prior
