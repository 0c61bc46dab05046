"""In-run forecasts: assimilate the measured HR of the first minutes, forecast the rest.

The residual of the measured HR against the (cold or personal) prediction is modelled on the
model's grid as a state-space process with two states:

* ``u``: this run's own HR level (constant over the run; prior ``N(0, var_level)``, where
  ``var_level`` is the prediction's own variance at the start, so a personal model that already
  knows the runner's level moves less);
* ``a``: a deviation that relaxes back toward ``u`` (an AR(1) process, ``a[t+1] = phi a[t] +
  noise(q)``; ``phi`` per grid step, e.g. 0.99 at 5 s is a ~8 min time constant).

A Kalman filter runs over the observed steps (measurement noise ``r``); after the last observed
step the forecast is ``u + phi^k a``, and its variance grows with ``k`` toward the stationary
AR variance. Only HR at or before the cut-off is read: later HR cannot change any output.
All quantities in BPM (variances in BPM^2) on the grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default filter parameters (re-selected on validation runners by the protocol and stored in
#: the artifact's personal head): AR coefficient per 5-s step, AR innovation variance and
#: measurement noise variance, BPM^2.
DEFAULT_KALMAN: dict[str, float] = {"phi": 0.99, "q": 1.5, "r": 9.0, "level_scale": 1.0, "skip_s": 0.0}


@dataclass
class Forecast:
    """Result of :func:`assimilate`: residual forecast and its variance per grid step (BPM)."""

    mean: np.ndarray
    var: np.ndarray


def assimilate(resid: np.ndarray, observed: np.ndarray, var_level: float, params: dict[str, float] | None = None) -> Forecast:
    """Kalman filter over residuals ``hr - prediction`` on the grid.

    Args:
        resid: residual per grid step, BPM (NaN where unknown); only steps flagged in
            ``observed`` are read.
        observed: bool per step, True for steps whose HR may be used (the first M minutes).
        var_level: prior variance of the run's level ``u``, BPM^2.
        params: ``phi``, ``q``, ``r`` and ``level_scale`` (multiplies ``var_level``).

    Returns:
        Per step the filtered (observed part) or forecast (after it) residual and its variance.
        Steps before the first observation get the prior (mean 0).
    """
    p = {**DEFAULT_KALMAN, **(params or {})}
    phi, q, r = float(p["phi"]), float(p["q"]), float(p["r"])
    n = int(np.asarray(resid).shape[0])
    x = np.zeros(2)  # [u, a]
    stat_var = q / max(1.0 - phi * phi, 1e-6)
    cov = np.diag([max(var_level * float(p["level_scale"]), 1e-6), stat_var])
    f = np.array([[1.0, 0.0], [0.0, phi]])
    qm = np.diag([0.0, q])
    h = np.array([1.0, 1.0])
    mean = np.zeros(n)
    var = np.zeros(n)
    obs = np.asarray(observed, dtype=bool) & np.isfinite(resid)
    last = int(np.flatnonzero(obs)[-1]) if obs.any() else -1
    for t in range(last + 1):  # filter over the observed part
        if t > 0:
            x = f @ x
            cov = f @ cov @ f.T + qm
        if obs[t]:
            s = float(h @ cov @ h) + r
            k = cov @ h / s
            x = x + k * (float(resid[t]) - float(h @ x))
            cov = cov - np.outer(k, h @ cov)
        mean[t] = x[0] + x[1]
        var[t] = float(h @ cov @ h)
    # closed-form forecast after the last observed step: a relaxes by phi^k toward 0
    k = np.arange(1, n - last, dtype=np.float64)
    if k.size:
        pk = phi**k
        mean[last + 1:] = x[0] + pk * x[1]
        var[last + 1:] = cov[0, 0] + pk * pk * cov[1, 1] + 2 * pk * cov[0, 1] + stat_var * (1 - pk * pk)
    return Forecast(mean=mean, var=var)


#: Grid steps this close (s) before the cut-off are not read: a grid value is interpolated from
#: samples up to the resampling's largest bridged gap (30 s) away, which could lie after it.
CUTOFF_MARGIN_S: float = 30.0


def observed_mask(time_s: np.ndarray, minutes: float, margin_s: float = CUTOFF_MARGIN_S) -> np.ndarray:
    """Grid steps whose HR may be read when the first ``minutes`` are observed: elapsed time
    ``<= minutes * 60 - margin_s`` (so no grid value depends on HR after the cut-off)."""
    t = np.asarray(time_s, dtype=np.float64)
    if t.size == 0:
        return np.zeros(0, dtype=bool)
    return (t - t[0]) <= minutes * 60.0 - margin_s
