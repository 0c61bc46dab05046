"""Tests of the pure geometry/kinematics helpers in sub3coach.geo."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sub3coach import geo

# one degree of arc on the mean-radius sphere
DEG_M = geo.EARTH_RADIUS_M * math.pi / 180.0


# --------------------------------------------------------------------------------- haversine
def test_haversine_one_degree_along_meridian_and_equator() -> None:
    assert geo.haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(DEG_M, rel=1e-12)
    assert geo.haversine_m(0.0, 10.0, 0.0, 11.0) == pytest.approx(DEG_M, rel=1e-12)
    # along a parallel at 60 deg a degree of longitude is about half as long
    assert geo.haversine_m(60.0, 0.0, 60.0, 1.0) == pytest.approx(DEG_M * 0.5, rel=2e-4)


def test_haversine_antipodes_and_zero() -> None:
    assert geo.haversine_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * geo.EARTH_RADIUS_M, rel=1e-12)
    assert geo.haversine_m(51.5, -0.12, 51.5, -0.12) == 0.0


def test_haversine_vectorised_and_nan() -> None:
    lat1 = np.array([0.0, 10.0, np.nan])
    out = geo.haversine_m(lat1, np.zeros(3), lat1 + 1.0, np.zeros(3))
    assert out.shape == (3,)
    np.testing.assert_allclose(out[:2], DEG_M, rtol=1e-12)
    assert np.isnan(out[2])


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-89.9, 89.9), st.floats(-180, 180), st.floats(-89.9, 89.9), st.floats(-180, 180),
    st.floats(-89.9, 89.9), st.floats(-180, 180),
)
def test_haversine_metric_properties(la1: float, lo1: float, la2: float, lo2: float, la3: float, lo3: float) -> None:
    d12 = float(geo.haversine_m(la1, lo1, la2, lo2))
    d21 = float(geo.haversine_m(la2, lo2, la1, lo1))
    d13 = float(geo.haversine_m(la1, lo1, la3, lo3))
    d23 = float(geo.haversine_m(la2, lo2, la3, lo3))
    assert d12 == pytest.approx(d21, abs=1e-6)
    assert 0.0 <= d12 <= math.pi * geo.EARTH_RADIUS_M + 1e-6
    assert d13 <= d12 + d23 + 1e-3  # triangle inequality


# ------------------------------------------------------------------------------- step/cumul
def test_step_distances_skip_missing_points() -> None:
    lat = np.array([0.0, np.nan, 0.001, 0.002])
    lon = np.zeros(4)
    steps = geo.step_distances_m(lat, lon)
    assert steps[0] == 0.0 and steps[1] == 0.0
    # the point after the hole is measured from the last valid one
    assert steps[2] == pytest.approx(0.001 * DEG_M, rel=1e-9)
    assert steps[3] == pytest.approx(0.001 * DEG_M, rel=1e-9)
    cum = geo.cumulative_distance_m(lat, lon)
    assert cum[-1] == pytest.approx(0.002 * DEG_M, rel=1e-9)
    assert np.all(np.diff(cum) >= 0)


def test_step_distances_fewer_than_two_points() -> None:
    assert geo.step_distances_m(np.array([1.0]), np.array([2.0])).tolist() == [0.0]
    assert geo.cumulative_distance_m(np.array([np.nan, 1.0]), np.array([0.0, 1.0])).tolist() == [0.0, 0.0]


# ---------------------------------------------------------------------------- elevation gain
def test_elevation_gain_monotone_climb() -> None:
    assert geo.elevation_gain_m(np.arange(100.0, 151.0, 1.0)) == pytest.approx(50.0)


def test_elevation_gain_ignores_jitter_below_threshold() -> None:
    rng = np.random.default_rng(0)
    flat = 50.0 + rng.uniform(-0.9, 0.9, size=2000)  # peak-to-peak < 2 m threshold
    assert geo.elevation_gain_m(flat, threshold_m=2.0) == 0.0


def test_elevation_gain_counts_separate_climbs_and_ignores_nan() -> None:
    alt = np.array([0.0, 10.0, 0.0, np.nan, 10.0, 0.0])
    assert geo.elevation_gain_m(alt) == pytest.approx(20.0)
    assert geo.elevation_gain_m(np.array([np.nan, 5.0])) == 0.0


def _reference_gain(alt: np.ndarray, threshold_m: float = 2.0) -> float:
    """Hysteresis ascent as geo.elevation_gain_m's docstring describes it: a climb starts when
    altitude has risen threshold_m above the lowest point since the last descent, and then
    counts in full up to its top."""
    a = alt[np.isfinite(alt)]
    if a.size < 2:
        return 0.0
    gain, low, high, up = 0.0, a[0], a[0], False
    for x in a[1:]:
        if not up:
            low = min(low, x)
            if x - low >= threshold_m:
                gain += x - low
                up, high = True, x
        elif x > high:
            gain += x - high
            high = x
        elif high - x >= threshold_m:
            up, low = False, x
    return float(gain)


def test_reference_gain_sanity() -> None:
    t = np.arange(6000.0)
    assert _reference_gain(100 + 10 * np.sin(2 * np.pi * t / 600)) == pytest.approx(200.0, rel=0.01)
    assert _reference_gain(np.array([110.0, 107.0, 106.0, 109.0])) == pytest.approx(3.0)


def test_elevation_gain_smooth_hills_not_underestimated() -> None:
    t = np.arange(6000.0)  # ten 10-m-amplitude hills sampled at 1 Hz: 200 m of ascent
    alt = 100 + 10 * np.sin(2 * np.pi * t / 600)
    assert geo.elevation_gain_m(alt) == pytest.approx(200.0, rel=0.02)


def test_elevation_gain_counts_from_the_lowest_point() -> None:
    assert geo.elevation_gain_m(np.array([110.0, 107.0, 106.0, 109.0])) == pytest.approx(3.0)


# ----------------------------------------------------------------------- moving time / mask
def test_moving_mask_speed_and_gap_rules() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0, 63.0, 64.0, 124.0, 125.0])
    d = np.array([0.0, 3.0, 3.2, 6.2, 26.2, 29.2, 209.2, 212.2])
    m = geo.moving_mask(t, d)
    # 3 m/s moving; 0.2 m/s standing; 3 m/s; a 60-s gap over 20 m (0.33 m/s: auto-pause,
    # GPS drift) is a pause; 3 m/s; a 60-s gap over 180 m (3 m/s: smart recording) is moving
    assert m.tolist() == [True, False, True, False, True, True, True]
    assert geo.moving_time_s(t, d) == pytest.approx(64.0)
    # a gap at a slow walk (0.8 m/s) is not enough evidence of moving; the same without a gap is
    assert geo.moving_mask(np.array([0.0, 60.0]), np.array([0.0, 48.0])).tolist() == [False]
    assert geo.moving_mask(np.array([0.0, 20.0]), np.array([0.0, 16.0])).tolist() == [True]


def test_fill_track_follows_secondary_and_time() -> None:
    t = np.arange(6.0)
    p = np.array([0.0, np.nan, np.nan, 30.0, np.nan, np.nan])
    np.testing.assert_allclose(geo.fill_track_m(t, p), [0, 10, 20, 30, 30, 30])
    sec = np.array([0.0, 1.0, 9.0, 10.0, 12.0, 15.0])  # most of the hole's distance in its 2nd step
    np.testing.assert_allclose(geo.fill_track_m(t, p, sec), [0, 3, 27, 30, 32, 35])
    out = geo.fill_track_m(t, p, sec, extend=False)
    assert np.isnan(out[4:]).all() and out[2] == pytest.approx(27)
    # a decreasing value (device glitch) never makes the track go back
    np.testing.assert_allclose(geo.fill_track_m(t[:3], np.array([0.0, 5.0, 4.0])), [0, 5, 5])
    assert np.isnan(geo.fill_track_m(t, np.full(6, np.nan))).all()


def test_best_distance_track_sparse_channel_is_not_a_stop() -> None:
    # distance on 3 of every 4 samples (as a Suunto FIT writes it): moving time stays whole
    t = np.arange(0.0, 1200.0)
    d = 3.0 * t
    d[1::4] = np.nan
    forward_filled = np.maximum.accumulate(np.where(np.isnan(d), 0.0, d))
    assert geo.moving_time_s(t, forward_filled) < 0.8 * 1199  # the old reading
    track = geo.best_distance_track_m(t, d)
    assert geo.moving_time_s(t, track) == pytest.approx(1199.0)
    np.testing.assert_allclose(track, 3.0 * t)
    # evidence order: distance, then speed, then GPS
    v = np.full(t.size, 2.0)
    np.testing.assert_allclose(geo.best_distance_track_m(t, None, v)[-1], 2.0 * 1199)
    lat = 48.0 + np.arange(t.size) * 1e-5
    lon = np.full(t.size, 2.0)
    assert geo.best_distance_track_m(t, None, None, lat, lon)[-1] == pytest.approx(1199 * 1.112, rel=0.01)
    assert geo.best_distance_track_m(t) is None


def test_moving_time_degenerate() -> None:
    assert geo.moving_time_s(np.array([5.0]), np.array([0.0])) == 0.0
    t = np.arange(4.0)
    assert geo.moving_time_s(t, np.array([0.0, np.nan, 2.0, 3.0])) == pytest.approx(1.0)


# -------------------------------------------------------------------- speed <-> distance
def test_distance_from_speed_constant_and_pause() -> None:
    t = np.array([0.0, 1.0, 2.0, 100.0, 101.0])
    v = np.array([3.0, 3.0, 0.4, 3.0, 3.0])
    d = geo.distance_from_speed_m(t, v)
    np.testing.assert_allclose(d, [0.0, 3.0, 4.7, 4.7, 7.7])  # 98-s pause after slowing down: nothing
    v = np.full(5, 3.0)
    d = geo.distance_from_speed_m(t, v)
    np.testing.assert_allclose(d, [0.0, 3.0, 6.0, 300.0, 303.0])  # a gap moving on both sides: moving
    d2 = geo.distance_from_speed_m(np.arange(3.0), np.array([2.0, np.nan, 2.0]))
    np.testing.assert_allclose(d2, [0.0, 1.0, 2.0])  # missing speed counts as 0 (trapezoids)
    assert geo.distance_from_speed_m(np.array([1.0]), np.array([1.0])).tolist() == [0.0]


def test_speed_from_distance_uniform_and_irregular() -> None:
    t = np.array([0.0, 1.0, 3.0, 4.0, 9.0])
    d = 2.5 * t
    np.testing.assert_allclose(geo.speed_from_distance_mps(t, d), 2.5)
    d_nan = d.copy()
    d_nan[2] = np.nan
    v = geo.speed_from_distance_mps(t, d_nan)
    assert np.isnan(v[2])
    np.testing.assert_allclose(v[[0, 1, 3, 4]], 2.5)
    two = geo.speed_from_distance_mps(np.array([0.0, 2.0]), np.array([0.0, 4.0]))
    np.testing.assert_allclose(two, 2.0)
    assert np.isnan(geo.speed_from_distance_mps(np.array([0.0, 1.0]), np.array([np.nan, 1.0]))).all()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0.5, 20.0), min_size=2, max_size=60),
    st.lists(st.floats(0.0, 8.0), min_size=2, max_size=60),
)
def test_speed_distance_roundtrip_is_monotone(dts: list[float], vs: list[float]) -> None:
    n = min(len(dts), len(vs))
    t = np.concatenate([[0.0], np.cumsum(dts[: n - 1])])
    v = np.asarray(vs[:n])
    d = geo.distance_from_speed_m(t, v)
    assert d[0] == 0.0 and np.all(np.diff(d) >= -1e-12)
    back = geo.speed_from_distance_mps(t, d)
    # a monotone distance never gives a negative speed, and never more than the fastest input
    assert np.all(back >= -1e-9)
    assert np.all(back <= v.max() + 1e-6)


def test_speed_and_distance_tolerate_repeated_stamps_and_inf() -> None:
    t = np.array([0.0, 1.0, 1.0, 2.0, 3.0])
    d = np.array([0.0, 3.0, 3.0, 6.0, 9.0])
    v = geo.speed_from_distance_mps(t, d)
    assert np.isnan(v[2]) and np.allclose(v[[0, 1, 3, 4]], 3.0)
    dist = geo.distance_from_speed_m(np.arange(4.0), np.array([3.0, np.inf, 3.0, np.nan]))
    assert np.isfinite(dist).all()
