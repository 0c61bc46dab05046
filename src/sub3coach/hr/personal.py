"""Personal heart-rate models: a small Bayesian head on top of the population network.

The population network (:mod:`sub3coach.hr.models`) predicts an *average* runner's HR ``b(t)``
from speed and altitude. A runner differs from that average by a few numbers, so the personal
model is

    hr(t) = b(t) + phi(t) . theta + u_run + e(t)

with the basis ``phi`` (:data:`BASIS`): a **level** (BPM), a **gain** on the population
prediction (how much more or less this heart reacts to effort), a **drift** per hour of running
(cardiac drift) and a **start** term ``exp(-elapsed / 90 s)`` (the heart starts near rest and
rises with a time constant). ``theta`` is the runner's personal parameter vector:

* its **population prior** ``N(theta0 + B z, Sigma0)`` is fitted on the training runners
  (:func:`fit_prior`); ``z`` holds what a runner may state (max and resting HR, centred on the
  training runners' values), so a stated max HR moves the prior without any history;
* a runner's history sets it by a closed-form Bayesian update (:func:`fit_runner`, milliseconds):
  each run enters through its sufficient statistics (:class:`RunStats`), as a generalised least
  squares term with a per-run random level ``u_run ~ N(0, sigma_run^2)`` and autocorrelated
  within-run noise (``sigma_step^2`` inflated by ``kappa`` steps per independent sample); runs
  are weighted by recency (half-life in days), and with few runs the posterior stays near the
  prior, so it never does worse than cold start on average.

The predictive distribution is Gaussian with variance ``phi Sigma phi' + sigma_run^2 +
sigma_step^2``; the 80 % band uses per-mode standardised quantiles calibrated on validation
runners (:func:`calibrate_band`), because real HR errors are heavier-tailed than a Gaussian.

Everything here is numpy on arrays of BPM and seconds; nothing reads HR except the fitting
functions, which receive the *history* runs only.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Names of the personal basis functions (columns of :func:`basis`).
BASIS: tuple[str, ...] = ("level", "gain", "drift", "start")
#: Time constant of the start-from-rest term, seconds.
START_TAU_S: float = 90.0
#: Elapsed time is capped here for the drift term, hours (longer runs drift no further).
DRIFT_CAP_H: float = 4.0
#: Centre and scale of the population prediction in the gain term, BPM.
GAIN_CENTER_BPM: float = 140.0
GAIN_SCALE_BPM: float = 20.0
#: Covariates a runner may state (centred on the training runners' means).
COVARIATES: tuple[str, ...] = ("max_hr_bpm", "resting_hr_bpm")
#: Gaussian 10 % / 90 % quantiles: the uncalibrated 80 % band.
Z80: tuple[float, float] = (-1.2816, 1.2816)


def basis(time_s: np.ndarray, base_bpm: np.ndarray) -> np.ndarray:
    """The personal basis on a run's grid, shape ``(T, len(BASIS))``.

    Args:
        time_s: grid times, seconds (only differences to the first are used).
        base_bpm: the population model's prediction on that grid, BPM.
    """
    t = np.asarray(time_s, dtype=np.float64)
    e = t - t[0] if t.size else t
    b = np.asarray(base_bpm, dtype=np.float64)
    return np.stack([
        np.ones_like(e),
        (b - GAIN_CENTER_BPM) / GAIN_SCALE_BPM,
        np.minimum(e / 3600.0, DRIFT_CAP_H),
        np.exp(-e / START_TAU_S),
    ], axis=1)


@dataclass
class RunStats:
    """Sufficient statistics of one history run for :func:`fit_runner` (grid steps with HR).

    Attributes:
        n: scored steps; xtx: ``Phi' Phi`` (P, P); xs: ``Phi' 1`` (P,); xtr: ``Phi' r`` (P,);
        rs: ``sum r``; rr: ``sum r^2`` with ``r = hr - base`` in BPM; start_s: unix seconds.
    """

    n: int
    xtx: np.ndarray
    xs: np.ndarray
    xtr: np.ndarray
    rs: float
    rr: float
    start_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "xtx": self.xtx.tolist(), "xs": self.xs.tolist(), "xtr": self.xtr.tolist(),
                "rs": self.rs, "rr": self.rr, "start_s": self.start_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunStats":
        return cls(n=int(d["n"]), xtx=np.asarray(d["xtx"], float), xs=np.asarray(d["xs"], float),
                   xtr=np.asarray(d["xtr"], float), rs=float(d["rs"]), rr=float(d["rr"]), start_s=float(d["start_s"]))


def run_stats(time_s: np.ndarray, base_bpm: np.ndarray, hr_bpm: np.ndarray, mask: np.ndarray) -> RunStats | None:
    """:class:`RunStats` of one run on its grid; None when no step is scored."""
    m = np.asarray(mask, dtype=bool) & np.isfinite(hr_bpm) & np.isfinite(base_bpm)
    if not m.any():
        return None
    phi = basis(time_s, base_bpm)[m]
    r = (np.asarray(hr_bpm, dtype=np.float64) - np.asarray(base_bpm, dtype=np.float64))[m]
    return RunStats(n=int(m.sum()), xtx=phi.T @ phi, xs=phi.sum(0), xtr=phi.T @ r, rs=float(r.sum()),
                    rr=float(r @ r), start_s=float(time_s[0]))


@dataclass
class HeadPrior:
    """The population prior and noise model of the personal head (stored in the artifact).

    Attributes:
        theta0: prior mean for a runner who states nothing (P,).
        cov0: prior covariance without covariates (P, P).
        coef: prior-mean change per unit of each covariate (P, C); cov_mean: training means (C,).
        cov_resid: prior covariance once all covariates are known (P, P).
        sigma_run: sd of a run's own HR level around the runner's, BPM.
        sigma_step: sd of within-run residuals, BPM; kappa: grid steps per independent sample.
        half_life_days: recency weighting of history runs.
        band: mode -> (q_lo, q_hi) standardised quantiles of the 80 % band.
        kalman: in-run filter parameters (see :mod:`sub3coach.hr.inrun`).
    """

    theta0: np.ndarray
    cov0: np.ndarray
    coef: np.ndarray
    cov_mean: np.ndarray
    cov_resid: np.ndarray
    sigma_run: float
    sigma_step: float
    kappa: float = 24.0
    half_life_days: float = 90.0
    band: dict[str, tuple[float, float]] = field(default_factory=dict)
    kalman: dict[str, float] = field(default_factory=dict)

    def prior(self, stated: dict[str, float | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Prior mean and covariance for a runner who states ``stated`` (missing = unknown).

        With some covariates known, the mean moves by their coefficients and the covariance
        shrinks toward ``cov_resid`` in proportion to the share of covariates known."""
        stated = stated or {}
        z = np.zeros(len(COVARIATES))
        known = 0
        for i, name in enumerate(COVARIATES):
            v = stated.get(name)
            if v is not None and math.isfinite(float(v)) and self.coef[:, i].any():
                z[i] = float(v) - self.cov_mean[i]
                known += 1
        mean = self.theta0 + self.coef @ z
        frac = known / max(1, int(np.count_nonzero(self.coef.any(axis=0))))
        cov = (1 - frac) * self.cov0 + frac * self.cov_resid
        return mean, cov

    def to_dict(self) -> dict[str, Any]:
        return {"basis": list(BASIS), "covariates": list(COVARIATES), "theta0": self.theta0.tolist(),
                "cov0": self.cov0.tolist(), "coef": self.coef.tolist(), "cov_mean": self.cov_mean.tolist(),
                "cov_resid": self.cov_resid.tolist(), "sigma_run": self.sigma_run, "sigma_step": self.sigma_step,
                "kappa": self.kappa, "half_life_days": self.half_life_days,
                "band": {k: list(v) for k, v in self.band.items()}, "kalman": dict(self.kalman)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HeadPrior":
        if tuple(d.get("basis", ())) != BASIS or tuple(d.get("covariates", ())) != COVARIATES:
            raise ValueError("personal head was built with another basis; retrain the model")
        return cls(theta0=np.asarray(d["theta0"], float), cov0=np.asarray(d["cov0"], float),
                   coef=np.asarray(d["coef"], float), cov_mean=np.asarray(d["cov_mean"], float),
                   cov_resid=np.asarray(d["cov_resid"], float), sigma_run=float(d["sigma_run"]),
                   sigma_step=float(d["sigma_step"]), kappa=float(d["kappa"]),
                   half_life_days=float(d["half_life_days"]),
                   band={k: (float(v[0]), float(v[1])) for k, v in d.get("band", {}).items()},
                   kalman={k: float(v) for k, v in d.get("kalman", {}).items()})


def default_head() -> HeadPrior:
    """A wide, uninformative head for artifacts written before heads existed (format 1): no
    correction of the network, an HR level uncertain by ~11 BPM, Gaussian bands."""
    p = len(BASIS)
    cov = np.diag([8.0, 6.0, 3.0, 10.0]) ** 2
    return HeadPrior(theta0=np.zeros(p), cov0=cov, coef=np.zeros((p, len(COVARIATES))), cov_mean=np.zeros(len(COVARIATES)),
                     cov_resid=cov.copy(), sigma_run=8.0, sigma_step=7.0)


@dataclass
class Personal:
    """A runner's personal parameters: posterior mean and covariance of ``theta``.

    Attributes:
        theta: (P,); cov: (P, P); n_runs: history runs used; last_run_s: unix s of the newest;
        stated: what the runner stated (max/resting HR), for zones and reports.
    """

    theta: np.ndarray
    cov: np.ndarray
    n_runs: int = 0
    last_run_s: float | None = None
    stated: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"theta": self.theta.tolist(), "cov": self.cov.tolist(), "n_runs": self.n_runs,
                "last_run_s": self.last_run_s, "stated": dict(self.stated), "basis": list(BASIS)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Personal":
        if tuple(d.get("basis", BASIS)) != BASIS:
            raise ValueError("personal parameters were fitted with another basis; personalise again")
        return cls(theta=np.asarray(d["theta"], float), cov=np.asarray(d["cov"], float), n_runs=int(d.get("n_runs", 0)),
                   last_run_s=d.get("last_run_s"), stated=dict(d.get("stated") or {}))


def cold(prior: HeadPrior, stated: dict[str, float | None] | None = None) -> Personal:
    """The personal parameters of a runner with no history (the prior, shifted by what they state)."""
    mean, cov = prior.prior(stated)
    return Personal(theta=mean, cov=cov, n_runs=0, stated=dict(stated or {}))


def recency_weights(start_s: Sequence[float], half_life_days: float, now_s: float | None = None) -> np.ndarray:
    """Weight ``0.5 ** (age / half_life)`` of each run; age in days before ``now_s`` (default:
    the newest run)."""
    t = np.asarray(start_s, dtype=np.float64)
    if t.size == 0:
        return t
    ref = float(np.max(t)) if now_s is None else float(now_s)
    age = np.maximum(ref - t, 0.0) / 86400.0
    return np.power(0.5, age / max(half_life_days, 1e-6))


def fit_runner(prior: HeadPrior, runs: Sequence[RunStats], *, stated: dict[str, float | None] | None = None,
               now_s: float | None = None) -> Personal:
    """Posterior of a runner's ``theta`` from their history runs (closed form, milliseconds).

    Each run is a GLS term with its own random level (``sigma_run``) and autocorrelated noise
    (``sigma_step^2 * kappa`` per step), weighted by recency; with no runs this is the prior."""
    mean0, cov0 = prior.prior(stated)
    prec0 = np.linalg.inv(cov0)
    prec = prec0.copy()
    vec = prec0 @ mean0
    runs = [r for r in runs if r is not None and r.n > 0]
    s2 = prior.sigma_step**2 * prior.kappa
    u2 = prior.sigma_run**2
    w = recency_weights([r.start_s for r in runs], prior.half_life_days, now_s)
    for r, wj in zip(runs, w):
        c = u2 / (s2 + r.n * u2)
        prec += wj * (r.xtx - c * np.outer(r.xs, r.xs)) / s2
        vec += wj * (r.xtr - c * r.xs * r.rs) / s2
    cov = np.linalg.inv(prec)
    cov = 0.5 * (cov + cov.T)
    return Personal(theta=cov @ vec, cov=cov, n_runs=len(runs),
                    last_run_s=max((r.start_s for r in runs), default=None), stated=dict(stated or {}))


def predict_head(prior: HeadPrior, personal: Personal, time_s: np.ndarray, base_bpm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Personal prediction (BPM) and its predictive sd (BPM) on a run's grid."""
    phi = basis(time_s, base_bpm)
    mean = np.asarray(base_bpm, dtype=np.float64) + phi @ personal.theta
    var_theta = np.einsum("tp,pq,tq->t", phi, personal.cov, phi)
    sd = np.sqrt(np.maximum(var_theta, 0.0) + prior.sigma_run**2 + prior.sigma_step**2)
    return mean, sd


def band(prior: HeadPrior, mode: str, mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 80 % band ``(lo, hi)`` in BPM from a mean and sd, with the mode's calibrated quantiles."""
    q_lo, q_hi = prior.band.get(mode, Z80)
    return mean + q_lo * sd, mean + q_hi * sd


# ---------------------------------------------------------------------------------------------
# fitting the prior on training runners
# ---------------------------------------------------------------------------------------------
def _ols(runs: Sequence[RunStats], ridge: float = 1e-3) -> np.ndarray:
    p = len(BASIS)
    a = sum((r.xtx for r in runs), np.zeros((p, p))) + ridge * np.eye(p)
    b = sum((r.xtr for r in runs), np.zeros(p))
    return np.linalg.solve(a, b)


def _within_run_sd(runs: Sequence[RunStats], theta: np.ndarray) -> tuple[float, np.ndarray]:
    """sd of residuals around each run's own mean (after ``theta``), and each run's mean residual."""
    ss = 0.0
    n = 0
    means = []
    for r in runs:
        # residual e = r - Phi theta; sum e = rs - xs.theta; sum e^2 = rr - 2 theta.xtr + theta' xtx theta
        se = r.rs - r.xs @ theta
        see = r.rr - 2 * theta @ r.xtr + theta @ r.xtx @ theta
        ss += max(see - se * se / r.n, 0.0)
        n += r.n - 1
        means.append(se / r.n)
    return math.sqrt(ss / max(n, 1)), np.asarray(means)


def fit_prior(by_runner: dict[str, list[RunStats]], *, stated: dict[str, dict[str, float | None]] | None = None,
              kappa: float = 24.0, half_life_days: float = 90.0, inflate: float = 1.0) -> HeadPrior:
    """Empirical-Bayes prior of the personal head from training runners' history statistics.

    Args:
        by_runner: runner id -> :class:`RunStats` of their runs (residuals of the population
            model on them).
        stated: runner id -> covariates (e.g. max HR estimated from their runs) for the
            covariate regression; runners without them are left out of it.
        kappa, half_life_days: noise correlation and recency (see :class:`HeadPrior`).
        inflate: multiplies the between-runner covariance (selected on validation runners: the
            population network has partly learned its training runners, so their spread is
            smaller than a new runner's).
    """
    all_runs = [r for rs in by_runner.values() for r in rs]
    if not all_runs:
        raise ValueError("no training runs for the personal prior")
    theta0 = _ols(all_runs)
    thetas, ids = [], []
    for u, rs in by_runner.items():
        if sum(r.n for r in rs) >= 200 and len(rs) >= 3:
            thetas.append(_ols(rs, ridge=1.0))
            ids.append(u)
    p = len(BASIS)
    if len(thetas) >= 2:
        d = np.asarray(thetas) - theta0
        cov0 = d.T @ d / len(thetas)
    else:
        cov0 = np.diag([8.0, 6.0, 3.0, 10.0]) ** 2
    cov0 = inflate * cov0 + np.diag([1.0, 1.0, 0.25, 1.0])  # floor: never a certain prior
    sigma_step, run_means = _within_run_sd(all_runs, theta0)
    per_runner_means = []
    for u, rs in by_runner.items():
        th = _ols(rs, ridge=1.0) if len(rs) >= 3 else theta0
        _, m = _within_run_sd(rs, th)
        per_runner_means.append(m)
    sigma_run = float(np.std(np.concatenate(per_runner_means))) if per_runner_means else 5.0
    coef, cov_mean, cov_resid = _covariate_regression(np.asarray(thetas), ids, stated or {}, theta0, cov0)
    return HeadPrior(theta0=theta0, cov0=cov0, coef=coef, cov_mean=cov_mean, cov_resid=cov_resid,
                     sigma_run=max(sigma_run, 1.0), sigma_step=max(sigma_step, 1.0), kappa=kappa,
                     half_life_days=half_life_days)


def _covariate_regression(thetas: np.ndarray, ids: list[str], stated: dict[str, dict[str, float | None]],
                          theta0: np.ndarray, cov0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regress runners' thetas on the covariates they have (jointly, ridge-shrunk).

    Returns (coef (P, C), covariate means (C,), residual covariance (P, P)); a covariate known
    for fewer than 4 runners keeps a zero coefficient (it then changes nothing)."""
    p, c = len(BASIS), len(COVARIATES)
    coef = np.zeros((p, c))
    means = np.zeros(c)
    usable = [j for j, name in enumerate(COVARIATES)
              if sum(1 for u in ids if stated.get(u, {}).get(name) is not None) >= 4]
    rows = [i for i, u in enumerate(ids) if all(stated.get(u, {}).get(COVARIATES[j]) is not None for j in usable)]
    if not usable or len(rows) < 4:
        return coef, means, cov0.copy()
    th = thetas[rows]
    z = np.asarray([[float(stated[ids[i]][COVARIATES[j]]) for j in usable] for i in rows])
    means[usable] = z.mean(0)
    zc = z - z.mean(0)
    # ridge: a prior sd of about 0.2 on each slope (theta units per BPM of covariate)
    b = np.linalg.solve(zc.T @ zc + 25.0 * len(rows) * np.eye(len(usable)), zc.T @ (th - th.mean(0)))  # (C', P)
    coef[:, usable] = b.T
    e = th - th.mean(0) - zc @ b
    resid = e.T @ e / len(rows)
    scale = np.trace(cov0) / max(np.trace(np.asarray(thetas - theta0).T @ np.asarray(thetas - theta0) / len(thetas)), 1e-9)
    resid = scale * resid + np.diag([1.0, 1.0, 0.25, 1.0])
    return coef, means, resid


def calibrate_band(z_scores: np.ndarray, target: float = 0.80) -> tuple[float, float]:
    """Standardised quantiles ``(q_lo, q_hi)`` that hold ``target`` of ``(y - mean) / sd`` between
    them (central interval) — the band calibration of one mode on validation runners."""
    z = np.asarray(z_scores, dtype=np.float64)
    z = z[np.isfinite(z)]
    if z.size < 50:
        return Z80
    a = (1.0 - target) / 2.0
    return float(np.quantile(z, a)), float(np.quantile(z, 1.0 - a))
