"""The three prediction modes on featurised runs, shared by calibration and evaluation.

* **cold**: nothing known about the runner but what they state: the population network plus
  the personal head's prior (:func:`sub3coach.hr.personal.cold`).
* **personal**: the runner's chronologically first half of runs is their history; the head is
  fitted on it (:func:`sub3coach.hr.personal.fit_runner`) and the second half is predicted.
* **in-run**: as personal, and the measured HR of the first ``minutes`` of each predicted run is
  assimilated (:func:`sub3coach.hr.inrun.assimilate`); only what comes after is scored.

Every function here works on grid arrays already computed (featurised runs and the population
network's predictions), so one set of network predictions serves every mode and every
hyper-parameter tried.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sub3coach.features import Prepared
from sub3coach.hr import personal as P
from sub3coach.hr.inrun import assimilate, observed_mask

MODES: tuple[str, ...] = ("cold", "personal", "in-run")
#: High quantile of a runner's recorded HR taken as their max HR when they state none.
MAX_HR_QUANTILE: float = 0.995


@dataclass
class ModePrediction:
    """One run predicted in one mode, on its grid.

    Attributes:
        item: index of the run in the featurised list; mean / sd: BPM per grid step;
        after_s: only steps after this elapsed time (s) are scored (in-run), else None;
        personal: the runner's parameters used (None: cold start).
    """

    item: int
    mean: np.ndarray
    sd: np.ndarray
    after_s: float | None = None
    personal: P.Personal | None = None


def by_runner(items: Sequence[Prepared]) -> dict[str, list[int]]:
    """Runner id -> indices of their runs, oldest first."""
    out: dict[str, list[int]] = {}
    for i, p in enumerate(items):
        out.setdefault(str(p.user_id), []).append(i)
    for idx in out.values():
        idx.sort(key=lambda i: (float(items[i].time_s[0]) if len(items[i].time_s) else 0.0, i))
    return out


def history_split(idx: Sequence[int]) -> tuple[list[int], list[int]]:
    """(history, scored): the chronologically first half of a runner's runs and the rest."""
    h = len(idx) // 2
    return list(idx[:h]), list(idx[h:])


def max_hr_estimate(items: Sequence[Prepared]) -> float | None:
    """A runner's max HR from their recorded runs: a high quantile of valid HR, BPM."""
    hr = [p.hr_bpm[p.mask] for p in items if p.hr_bpm is not None]
    v = np.concatenate(hr) if hr else np.zeros(0)
    return float(np.quantile(v, MAX_HR_QUANTILE)) if v.size >= 100 else None


def stats_of(items: Sequence[Prepared], base: Sequence[np.ndarray]) -> list[P.RunStats | None]:
    """:class:`~sub3coach.hr.personal.RunStats` of every run (None without valid HR)."""
    return [P.run_stats(p.time_s, b, p.hr_bpm, p.mask) if p.hr_bpm is not None else None for p, b in zip(items, base)]


def cold_mode(prior: P.HeadPrior, items: Sequence[Prepared], base: Sequence[np.ndarray], idx: Sequence[int],
              stated: dict[str, float | None] | None = None) -> list[ModePrediction]:
    """Cold-start predictions of runs ``idx`` (optionally with what the runner states)."""
    pers = P.cold(prior, stated)
    out = []
    for i in idx:
        m, sd = P.predict_head(prior, pers, items[i].time_s, base[i])
        out.append(ModePrediction(i, m, sd))
    return out


def personal_mode(prior: P.HeadPrior, items: Sequence[Prepared], base: Sequence[np.ndarray],
                  stats: Sequence[P.RunStats | None], hist: Sequence[int], scored: Sequence[int],
                  *, last_n: int | None = None) -> list[ModePrediction]:
    """Runs ``scored`` predicted by the head fitted on runs ``hist`` (the last ``last_n`` only
    when given)."""
    h = list(hist)[-last_n:] if last_n else list(hist)
    pers = P.fit_runner(prior, [stats[i] for i in h if stats[i] is not None])
    out = []
    for i in scored:
        m, sd = P.predict_head(prior, pers, items[i].time_s, base[i])
        out.append(ModePrediction(i, m, sd, personal=pers))
    return out


def in_run(prior: P.HeadPrior, p: Prepared, mean: np.ndarray, sd: np.ndarray, minutes: float,
           params: dict[str, float] | None = None, personal: P.Personal | None = None) -> ModePrediction:
    """Assimilate the HR of the first ``minutes`` of run ``p`` into a prediction (mean, sd).

    Only HR at grid steps within the first ``minutes`` is read (and none of the first
    ``params["skip_s"]`` seconds, the warm-up, while at least 2 minutes remain). The filter's
    noise scales with the runner's own within-run variability when ``personal`` knows it."""
    kp = dict(params if params is not None else prior.kalman)
    obs = observed_mask(p.time_s, minutes)
    # the warm-up's residuals follow the start from rest, not the run's level: skip them
    obs &= (p.time_s - p.time_s[0]) >= min(kp.get("skip_s", 0.0), max(minutes * 60.0 - 120.0, 0.0))
    hr = observable_hr(p, minutes)
    resid = np.where(obs & p.observed, hr - mean, np.nan)
    s_step = personal.noise(prior)[1] if personal is not None else prior.sigma_step
    var_level = max(float(sd[0]) ** 2 - s_step**2, 1.0) if sd.size else 1.0
    scale = (s_step / prior.sigma_step) ** 2
    kp["q"] = kp.get("q", 1.5) * scale
    kp["r"] = kp.get("r", 9.0) * scale
    fc = assimilate(resid, obs, var_level, kp)
    return ModePrediction(-1, mean + fc.mean, np.sqrt(fc.var + kp["r"]), after_s=minutes * 60.0)


def observable_hr(p: Prepared, minutes: float) -> np.ndarray:
    """The grid HR an in-run forecast of the first ``minutes`` may read: the one cleaned from the
    cut recording when the run was prepared with it (evaluation), else the run's own grid HR
    (prediction, where the recording was cut before cleaning)."""
    cut = p.meta.get("hr_cut")
    if cut is not None and abs(cut[0] - minutes) < 1e-9:
        return cut[1]
    return p.hr_bpm if p.hr_bpm is not None else np.full(len(p.time_s), np.nan)


def all_modes(prior: P.HeadPrior, items: Sequence[Prepared], base: Sequence[np.ndarray],
              stats: Sequence[P.RunStats | None], *, minutes: float = 10.0,
              kalman: dict[str, float] | None = None) -> dict[str, list[ModePrediction]]:
    """Every run in the cold mode; the second half of each runner's runs in the personal and
    in-run modes (runners with fewer than 2 runs appear in cold only)."""
    out: dict[str, list[ModePrediction]] = {m: [] for m in MODES}
    for idx in by_runner(items).values():
        out["cold"].extend(cold_mode(prior, items, base, idx))
        hist, scored = history_split(idx)
        if not hist:
            continue
        for mp in personal_mode(prior, items, base, stats, hist, scored):
            out["personal"].append(mp)
            ir = in_run(prior, items[mp.item], mp.mean, mp.sd, minutes, kalman, mp.personal)
            ir.item = mp.item
            out["in-run"].append(ir)
    return out


def grid_errors(items: Sequence[Prepared], preds: Sequence[ModePrediction]) -> tuple[np.ndarray, np.ndarray]:
    """Signed errors (pred - true, BPM) and z-scores ``(true - mean) / sd`` over the scored grid
    steps of ``preds`` (for selecting and calibrating on validation runners)."""
    errs, zs = [], []
    for mp in preds:
        p = items[mp.item]
        m = p.mask.copy()
        if mp.after_s is not None:
            m &= (p.time_s - p.time_s[0]) > mp.after_s
        y = p.hr_bpm[m]  # type: ignore[index]
        errs.append(mp.mean[m] - y)
        zs.append((y - mp.mean[m]) / mp.sd[m])
    if not errs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(errs), np.concatenate(zs)
