"""Per-sample plausibility and per-workout bounds (sub3coach.clean.plausible), and the sparse
distance fill they rely on."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sub3coach import geo
from sub3coach.clean import clean
from sub3coach.clean.plausible import MAX_SAMPLES, check_bounds, implausible_values, time_outlier_mask
from sub3coach.errors import ImplausibleWorkout
from sub3coach.workout import Workout

T0 = 1_717_311_600.0


def test_time_outliers_keep_the_largest_cluster() -> None:
    t = T0 + np.arange(100.0)
    bad = t.copy()
    bad[[0, 50, 99]] = [-6.2e10, 4.08e9, T0 - 35 * 365.25 * 86400]  # year 1, 2099, 1989
    assert np.flatnonzero(time_outlier_mask(bad)).tolist() == [0, 50, 99]
    assert not time_outlier_mask(t).any()
    # a pause of 20 h is not a split; two days apart is
    two = np.concatenate([t, t[-1] + 20 * 3600 + np.arange(10.0)])
    assert not time_outlier_mask(two).any()
    far = np.concatenate([t, t[-1] + 2 * 86400 + np.arange(10.0)])
    assert time_outlier_mask(far).sum() == 10
    # on a tie, a cluster within 1970-2100 wins over a negative one
    tie = np.array([-5e10, -5e10 + 1, T0, T0 + 1])
    assert time_outlier_mask(tie).tolist() == [True, True, False, False]
    nan = np.array([np.nan, T0, T0 + 1, 9e12])
    assert time_outlier_mask(nan).tolist() == [False, False, False, True]


def test_implausible_values_per_channel() -> None:
    assert implausible_values("speed_mps", np.array([3.0, np.inf, 150.0, -1.0, np.nan])).tolist() == [False, True, True, False, False]
    assert implausible_values("distance_m", np.array([0.0, 1e8, -np.inf])).tolist() == [False, True, True]
    assert implausible_values("cadence_spm", np.array([170.0, 1e9])).tolist() == [False, True]


def test_check_bounds_names_the_bound() -> None:
    t = T0 + np.arange(0.0, 3600.0)
    ok = Workout(time_s=t, distance_m=3.0 * (t - T0), sport="run", source="ok.fit")
    check_bounds(ok, moving_s=3599.0)  # an hour at 3 m/s is fine
    bike = ok.replace(sport="bike", distance_m=14.0 * (t - T0))
    check_bounds(bike, moving_s=3599.0)  # 50 km/h on a bike too
    with pytest.raises(ImplausibleWorkout, match=r"ok.fit: average 14.0 m/s \(1:11/km\)"):
        check_bounds(bike.replace(sport="run"), moving_s=3599.0)
    with pytest.raises(ImplausibleWorkout, match="distance is not a finite number"):
        check_bounds(ok, distance_m=float("inf"))


def test_too_many_samples_refused_before_work() -> None:
    n = 4 * MAX_SAMPLES + 1
    w = Workout(time_s=T0 + np.arange(n, dtype=np.float64) * 0.01, sport="run", source="many.fit")
    with pytest.raises(ImplausibleWorkout, match="many.fit: 4,000,001 samples"):
        clean(w)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(0.5, 40.0), st.floats(0.0, 15.0), st.booleans()), min_size=2, max_size=80))
def test_fill_track_properties(steps: list[tuple[float, float, bool]]) -> None:
    dt = np.array([s[0] for s in steps])
    t = np.concatenate([[0.0], np.cumsum(dt[1:])])
    d = np.cumsum([s[1] for s in steps])
    p = d.copy()
    p[[not s[2] for s in steps]] = np.nan
    out = geo.fill_track_m(t, p, d)
    if not np.isfinite(p).any():
        assert np.isnan(out).all()
        return
    assert np.isfinite(out).all() and np.all(np.diff(out) >= -1e-9)  # monotone, defined everywhere
    ok = np.isfinite(p)
    np.testing.assert_allclose(out[ok], np.maximum.accumulate(p[ok]))  # the device's values kept
    # with a secondary track equal to the truth, the holes are filled exactly
    np.testing.assert_allclose(out, d, atol=1e-6)
