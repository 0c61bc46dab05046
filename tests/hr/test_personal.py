"""The personal head: closed-form fits recover a runner's numbers, shrink to the prior, weight
recent runs more; the in-run filter reads nothing after its cut-off."""
from __future__ import annotations

import numpy as np
import pytest

from sub3coach.hr import personal as P
from sub3coach.hr.inrun import assimilate, observed_mask


def _run(offset: float, seed: int, start_s: float, n: int = 720, gain: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid time, population prediction, 'measured' HR = prediction + offset + noise)."""
    rng = np.random.default_rng(seed)
    t = start_s + 5.0 * np.arange(n)
    base = 150 + 10 * np.sin(np.arange(n) / 40.0)
    hr = base + offset + gain * (base - 140) / 20 + rng.normal(0, 4, n) + rng.normal(0, 3)
    return t, base, hr


def _prior(**kw: float) -> P.HeadPrior:
    h = P.default_head()
    for k, v in kw.items():
        setattr(h, k, v)
    return h


def _stats(offset: float, k: int, day: float = 0.0, **kw: float) -> P.RunStats:
    t, b, hr = _run(offset, seed=k, start_s=day * 86400.0, **kw)
    s = P.run_stats(t, b, hr, np.ones(t.size, bool))
    assert s is not None
    return s


def test_no_history_is_the_prior() -> None:
    prior = _prior()
    pers = P.fit_runner(prior, [])
    np.testing.assert_allclose(pers.theta, prior.theta0)
    assert pers.n_runs == 0


def test_level_recovered_and_shrinks_with_few_runs() -> None:
    prior = _prior()
    one = P.fit_runner(prior, [_stats(12.0, 0)])
    many = P.fit_runner(prior, [_stats(12.0, k, day=k) for k in range(20)])
    assert 0 < one.theta[0] < many.theta[0]  # shrunk toward the prior's 0 with one run
    assert many.theta[0] == pytest.approx(12.0, abs=2.5)
    assert np.trace(many.cov) < np.trace(one.cov)  # more runs, more certain


def test_gain_recovered() -> None:
    prior = _prior()
    pers = P.fit_runner(prior, [_stats(0.0, k, day=k, gain=8.0) for k in range(20)])
    assert pers.theta[1] == pytest.approx(8.0, abs=2.0)


def test_recent_runs_weigh_more() -> None:
    prior = _prior(half_life_days=30.0)
    old = [_stats(-10.0, k, day=k) for k in range(10)]
    new = [_stats(+10.0, 100 + k, day=200 + k) for k in range(10)]
    pers = P.fit_runner(prior, old + new)
    assert pers.theta[0] > 5.0  # a 200-day-old level counts little


def test_prediction_and_band() -> None:
    prior = _prior(band={"cold": (-1.0, 2.0)})
    t, b, _ = _run(0.0, 1, 0.0)
    mean, sd = P.predict_head(prior, P.cold(prior), t, b)
    assert mean.shape == sd.shape == t.shape and (sd > 0).all()
    lo, hi = P.band(prior, "cold", mean, sd)
    np.testing.assert_allclose(hi - mean, 2.0 * sd)
    np.testing.assert_allclose(mean - lo, 1.0 * sd)


def test_stated_max_hr_moves_the_prior() -> None:
    prior = _prior()
    prior.coef[0, 0] = 0.5  # level +0.5 BPM per BPM of max HR above the mean
    prior.cov_mean[0] = 185.0
    hi, _ = prior.prior({"max_hr_bpm": 195.0})
    same, _ = prior.prior({"max_hr_bpm": None})
    assert hi[0] == pytest.approx(prior.theta0[0] + 5.0)
    np.testing.assert_allclose(same, prior.theta0)


def test_calibrate_band_gaussian() -> None:
    z = np.random.default_rng(0).normal(size=20000)
    lo, hi = P.calibrate_band(z)
    assert lo == pytest.approx(-1.2816, abs=0.05) and hi == pytest.approx(1.2816, abs=0.05)


def test_fit_prior_learns_start_from_rest() -> None:
    """Residuals starting 25 BPM low and rising (the heart starts near rest) give a negative
    start coefficient in the population prior."""
    by = {}
    for u in range(5):
        rs = []
        for k in range(4):
            t = 5.0 * np.arange(600)
            base = np.full(600, 150.0)
            hr = base - 25 * np.exp(-t / 90.0) + (u - 2) * 5 + np.random.default_rng(u * 10 + k).normal(0, 3, 600)
            rs.append(P.run_stats(t + k * 86400, base, hr, np.ones(600, bool)))
        by[f"r{u}"] = rs
    prior = P.fit_prior(by)
    assert prior.theta0[3] == pytest.approx(-25.0, abs=4.0)
    assert prior.cov0[0, 0] > 10.0  # runners' levels differ by 5 BPM steps


def test_kalman_forecasts_the_observed_level_and_reads_nothing_later() -> None:
    n = 720
    t = 5.0 * np.arange(n)
    resid = np.full(n, 8.0) + np.random.default_rng(3).normal(0, 2, n)
    obs = observed_mask(t, 10.0)
    fc = assimilate(resid, obs, var_level=100.0)
    last = int(np.flatnonzero(obs)[-1])
    assert abs(fc.mean[last] - 8.0) < 2.0  # filtered: the measured deviation
    assert 3.0 < fc.mean[-1] < 9.0  # forecast: relaxes toward the run's level, never past it
    assert (fc.var > 0).all() and fc.var[-1] >= fc.var[int(obs.sum())]
    later = resid.copy()
    later[~obs] += 50.0
    np.testing.assert_array_equal(assimilate(later, obs, var_level=100.0).mean, fc.mean)
    none = assimilate(resid, np.zeros(n, bool), var_level=100.0)
    np.testing.assert_allclose(none.mean, 0.0)


def test_observed_mask_keeps_a_margin_before_the_cutoff() -> None:
    t = 1000.0 + 5.0 * np.arange(200)
    m = observed_mask(t, 10.0)
    assert (t[m] - t[0]).max() <= 600.0 - 30.0 and m.sum() > 100
