"""The feature pipeline: units, seconds-based windows, missing data, normalisation, no HR."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sub3coach.features import (
    DEFAULT_FEATURES,
    REGISTRY,
    SUB3_V2_FEATURES,
    FeatureSpec,
    Grid,
    Normaliser,
    cumulative_gain,
    feature_matrix,
    gender_value,
    lag,
    prepare,
    trailing_mean,
)
from sub3coach.geo import elevation_gain_m
from sub3coach.synth import synthetic_run
from sub3coach.workout import Workout

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)


@given(arrays(np.float64, st.integers(1, 60), elements=finite), st.integers(1, 80))
def test_trailing_mean_matches_naive(x: np.ndarray, k: int) -> None:
    got = trailing_mean(x, k)
    want = np.array([x[max(0, i - k + 1) : i + 1].mean() for i in range(x.size)])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)


@given(arrays(np.float64, st.integers(1, 60), elements=finite), st.integers(0, 80))
def test_lag_shifts_and_pads_with_first(x: np.ndarray, k: int) -> None:
    y = lag(x, k)
    assert y.shape == x.shape
    kk = min(k, x.size)
    assert np.all(y[:kk] == x[0])
    np.testing.assert_array_equal(y[kk:], x[: x.size - kk])


@settings(max_examples=50)
@given(arrays(np.float64, st.integers(2, 200), elements=st.floats(0, 500, allow_nan=False)))
def test_cumulative_gain_ends_at_total_gain(alt: np.ndarray) -> None:
    c = cumulative_gain(alt)
    assert np.all(np.diff(c) >= 0)
    assert c[-1] == pytest.approx(elevation_gain_m(alt))


def test_gender_encoding() -> None:
    assert gender_value("male") == 1.0
    assert gender_value("Female") == 0.0
    assert gender_value(None) == 0.5
    assert gender_value("unknown") == 0.5


def test_spec_rejects_unknown_feature_and_round_trips() -> None:
    with pytest.raises(ValueError, match="unknown feature"):
        FeatureSpec(names=("speed", "heart_rate"))
    spec = FeatureSpec(names=SUB3_V2_FEATURES, step_s=5.0)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert len(SUB3_V2_FEATURES) == 11
    assert set(SUB3_V2_FEATURES) <= set(REGISTRY) and set(DEFAULT_FEATURES) <= set(REGISTRY)


def _grid(n: int, step: float, speed: np.ndarray, alt: np.ndarray | None) -> Grid:
    dist = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * step)])
    return Grid(time_s=1.7e9 + step * np.arange(n), speed_mps=speed, altitude_m=alt, distance_m=dist,
                observed=np.ones(n, bool), gender=0.5, step_s=step)


def test_units_and_seconds_based_windows() -> None:
    n = 400
    # a speed step from 2 to 4 m/s at t = 1000 s, a 5 % climb at 3 m/s
    for step in (5.0, 2.0):
        m = int(n * 5.0 / step)
        t = step * np.arange(m)
        speed = np.where(t < 1000.0, 2.0, 4.0)
        g = _grid(m, step, speed, None)
        g.altitude_m = 100.0 + 0.05 * g.distance_m
        x = feature_matrix(g, ("speed_lag_30s", "speed_mean_180s", "grade_180s", "elapsed_s", "distance_m", "altitude_diff"))
        i = int(np.searchsorted(t, 1030.0))  # 30 s after the step
        assert x[i - 1, 0] == 2.0 and x[i + 1, 0] == 4.0  # the 30-s lag is 30 s whatever the grid
        j = int(np.searchsorted(t, 1180.0))  # 3-min mean fully after the step
        assert x[j, 1] == pytest.approx(4.0)
        k = int(np.searchsorted(t, 1250.0))  # 3-min grade window clear of the kink at 1000 s
        assert x[k, 2] == pytest.approx(0.05, abs=1e-6)  # grade is rise/run, dimensionless
        assert x[-1, 3] == pytest.approx(t[-1])  # seconds
        assert x[-1, 4] == pytest.approx(2.0 * 1000 + 4.0 * (t[-1] - 1000), rel=0.01)  # metres
        assert x[j, 5] == pytest.approx(0.05 * 4.0, rel=1e-6)  # vertical m/s


def test_missing_altitude_and_gender_are_not_fatal() -> None:
    w = synthetic_run(duration_s=900, seed=3, gps=False)  # treadmill-like: no altitude
    assert not w.has("altitude_m")
    spec = FeatureSpec(names=DEFAULT_FEATURES)
    p = prepare(w, spec)
    x = p.x
    col = {n: i for i, n in enumerate(spec.names)}
    assert np.isnan(x[:, col["altitude_rel"]]).all() and np.isnan(x[:, col["grade_30s"]]).all()
    assert (x[:, col["has_altitude"]] == 0).all() and (x[:, col["gender"]] == 0.5).all()
    norm = Normaliser.fit([prepare(synthetic_run(duration_s=900, seed=4), spec).x], spec.names)
    z = norm.transform(x)
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert (z[:, col["altitude_rel"]] == 0).all()  # unknown -> the training mean


def test_prepare_shapes_grid_and_target() -> None:
    w = synthetic_run(duration_s=1200, seed=5, sample_s=1.0)
    spec = FeatureSpec(names=DEFAULT_FEATURES, step_s=5.0)
    p = prepare(w, spec)
    assert p.x.shape == (len(p.time_s), len(DEFAULT_FEATURES))
    np.testing.assert_allclose(np.diff(p.time_s), 5.0)
    assert abs(len(p.time_s) - 1200 / 5) <= 2
    assert p.mask.mean() > 0.95
    # the target is the recording's HR on the grid
    hr_at_grid = np.interp(p.time_s, w.time_s, w.hr_bpm)
    assert np.nanmean(np.abs(p.hr_bpm - hr_at_grid)) < 3.0
    col = {n: i for i, n in enumerate(spec.names)}
    assert 2.0 < np.median(p.x[:, col["speed"]]) < 5.0  # m/s, not km/h


def test_features_never_read_heart_rate() -> None:
    w = synthetic_run(duration_s=900, seed=6)
    rng = np.random.default_rng(0)
    names = tuple(sorted(REGISTRY))
    spec = FeatureSpec(names=names)
    base = prepare(w, spec).x
    for hr in (rng.uniform(40, 220, len(w)), np.full(len(w), np.nan), None):
        other = prepare(w.replace(hr_bpm=hr), spec).x
        np.testing.assert_array_equal(np.nan_to_num(base, nan=-999), np.nan_to_num(other, nan=-999))


def test_normaliser_fits_only_given_rows_and_round_trips() -> None:
    a = np.array([[1.0, np.nan], [3.0, 10.0]])
    b = np.array([[100.0, 20.0]])
    n = Normaliser.fit([a, b], ("u", "v"), masks=[np.array([True, True]), np.array([False])])
    np.testing.assert_allclose(n.mean, [2.0, 10.0])
    np.testing.assert_allclose(n.std, [1.0, 1.0])  # constant column -> std 1
    n2 = Normaliser.from_dict(n.to_dict())
    np.testing.assert_array_equal(n.transform(a), n2.transform(a))
    with pytest.raises(ValueError):
        n.transform(np.zeros((2, 3)))


def test_any_recording_rate_gives_similar_features() -> None:
    w1 = synthetic_run(duration_s=1500, seed=8, sample_s=1.0)
    w5 = w1.slice(slice(None, None, 4))  # "smart recording": every 4 s
    spec = FeatureSpec(names=("speed_mean_180s", "distance_m", "elevation_gain_cum"))
    a, b = prepare(w1, spec), prepare(w5, spec)
    n = min(len(a.time_s), len(b.time_s))
    assert np.median(np.abs(a.x[:n, 0] - b.x[:n, 0])) < 0.05
    assert abs(a.x[n - 1, 1] - b.x[n - 1, 1]) / a.x[n - 1, 1] < 0.02


def test_workout_without_speed_or_position_is_a_clear_error() -> None:
    from sub3coach.errors import MissingChannel

    w = Workout(time_s=np.arange(100.0), hr_bpm=np.full(100, 120.0), sport="run")
    with pytest.raises(MissingChannel):
        prepare(w, FeatureSpec())
