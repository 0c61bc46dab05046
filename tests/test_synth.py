"""Synthetic courses and runs: determinism, plausibility, and the HR model's behaviour."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sub3coach import geo
from sub3coach.synth import DEFAULT_START, synthetic_course, synthetic_run
from sub3coach.workout import CHANNELS


def _same(a, b) -> bool:  # type: ignore[no-untyped-def]
    if not np.array_equal(a.time_s, b.time_s):
        return False
    for ch in CHANNELS:
        x, y = getattr(a, ch), getattr(b, ch)
        if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y, equal_nan=True)):
            return False
    return True


# ----- course ------------------------------------------------------------------------------------

def test_course_length_loop_and_determinism() -> None:
    c = synthetic_course(10000, seed=3)
    assert c.distance_m[-1] == pytest.approx(10000, rel=1e-4)
    assert np.all(np.diff(c.distance_m) > 0)
    np.testing.assert_allclose(c.distance_m, geo.cumulative_distance_m(c.lat_deg, c.lon_deg))
    assert geo.haversine_m(c.lat_deg[0], c.lon_deg[0], c.lat_deg[-1], c.lon_deg[-1]) < 1.0  # a loop
    assert _same(c, synthetic_course(10000, seed=3))
    assert not _same(c, synthetic_course(10000, seed=4))
    assert c.metadata["planned"] and c.sport == "run"
    assert c.lat_deg[0] == pytest.approx(47.3769) and c.lon_deg[0] == pytest.approx(8.5417)


@pytest.mark.parametrize("seed", range(5))
def test_course_hills_are_realistic_and_scale(seed: int) -> None:
    c = synthetic_course(10000, seed=seed)
    grade = np.gradient(c.altitude_m, c.distance_m)
    assert np.max(np.abs(grade)) < 0.12  # no walls
    gain_km = geo.elevation_gain_m(c.altitude_m) / 10.0
    assert 3.0 < gain_km < 30.0  # metres of climb per km: rolling, not alpine
    flat = synthetic_course(10000, seed=seed, hilliness=0.0)
    assert np.ptp(flat.altitude_m) == 0.0
    hilly = synthetic_course(10000, seed=seed, hilliness=2.0)
    assert geo.elevation_gain_m(hilly.altitude_m) > 1.5 * geo.elevation_gain_m(c.altitude_m)


def test_course_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        synthetic_course(0)
    with pytest.raises(ValueError):
        synthetic_course(1000, step_m=0)


# ----- run ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run():  # type: ignore[no-untyped-def]
    return synthetic_run(seed=1)


def test_run_shape_and_determinism(run) -> None:  # type: ignore[no-untyped-def]
    assert len(run) == 3601 and run.elapsed_s == 3600
    assert run.start_time == DEFAULT_START
    assert set(run.channels()) == {"hr_bpm", "speed_mps", "altitude_m", "distance_m", "lat_deg", "lon_deg", "cadence_spm"}
    assert _same(run, synthetic_run(seed=1))
    assert not _same(run, synthetic_run(seed=2))
    assert run.sport == "run" and run.metadata["synthetic"] is True


def test_run_pace_and_distance_are_consistent(run) -> None:  # type: ignore[no-untyped-def]
    # steady 5:00/km on rolling hills, with warm-up, surges and cool-down: 10.5-13 km in an hour
    assert 10500 < run.distance_m[-1] < 13000
    assert np.all(np.diff(run.distance_m) >= 0)
    gps = geo.cumulative_distance_m(run.lat_deg, run.lon_deg)[-1]
    assert abs(gps / run.distance_m[-1] - 1) < 0.15  # GPS noise inflates a little
    steady = (run.time_s - run.time_s[0] > 900) & (run.time_s - run.time_s[0] < 3000)
    assert 2.9 < np.median(run.speed_mps[steady]) < 3.8


def test_run_hr_is_bounded_and_physiological(run) -> None:  # type: ignore[no-untyped-def]
    hr = run.hr_bpm
    assert np.all((hr >= 40) & (hr <= 210)) and np.all(hr == np.round(hr))
    m = run.metadata
    assert m["hr_rest_bpm"] < hr[0] < 110  # starts a little above rest
    assert np.max(hr) <= m["hr_max_bpm"] + 6  # noise only above max
    t = run.time_s - run.time_s[0]
    assert np.mean(hr[(t > 600) & (t < 3000)]) > np.mean(hr[t < 60]) + 30  # rises with effort
    # first-order response: no beat-to-beat jumps beyond noise
    assert np.percentile(np.abs(np.diff(hr)), 99) <= 6


def test_surges_raise_speed_and_then_hr(run) -> None:  # type: ignore[no-untyped-def]
    t = run.time_s - run.time_s[0]
    assert run.metadata["surges"]
    for s in run.metadata["surges"]:
        s0, dur = s["start_s"], s["duration_s"]
        before = (t > s0 - 40) & (t < s0)
        during = (t > s0 + 8) & (t < s0 + dur)
        late = (t > s0 + dur - 5) & (t < s0 + dur + 10)
        assert run.speed_mps[during].mean() > 1.08 * run.speed_mps[before].mean()
        assert run.hr_bpm[late].mean() > run.hr_bpm[before].mean() + 3


@pytest.mark.parametrize("seed", [0, 4])
def test_hills_slow_the_runner_and_raise_hr(seed: int) -> None:
    w = synthetic_run(seed=seed, duration_s=3000, hilliness=2.0)
    t = w.time_s - w.time_s[0]
    steady = (t > 700) & (t < 2700)
    alt = np.convolve(w.altitude_m, np.ones(15) / 15, "same")  # smooth the barometric noise
    grade = np.gradient(alt, w.distance_m + 1e-6 * np.arange(len(w)))
    assert np.corrcoef(grade[steady], w.speed_mps[steady])[0, 1] < -0.3
    grade_1min = np.convolve(grade, np.ones(60) / 60, "same")
    lag = 30  # HR follows effort with a delay
    assert np.corrcoef(grade_1min[steady][:-lag], w.hr_bpm[steady][lag:])[0, 1] > 0.4


def test_cardiac_drift_on_flat_steady_run() -> None:
    w = synthetic_run(seed=6, duration_s=5400, gps=False)
    assert w.lat_deg is None and w.altitude_m is None
    t = w.time_s - w.time_s[0]
    k = np.ones(61) / 61
    speed = np.convolve(w.speed_mps, k, "same")
    steady = (t > 900) & (t < 5000)
    for s in w.metadata["surges"]:
        steady &= ~((t > s["start_s"] - 30) & (t < s["start_s"] + s["duration_s"] + 180))
    # HR explained by speed alone leaves a residual that grows with time: cardiac drift
    b, a = np.polyfit(speed[steady], w.hr_bpm[steady], 1)
    resid = w.hr_bpm - (a + b * speed)
    early, late = steady & (t < 1800), steady & (t > 4200)
    assert resid[late].mean() - resid[early].mean() > 2.0


def test_options() -> None:
    naive = datetime(2023, 1, 2, 6, 30)
    w = synthetic_run(duration_s=300, sample_s=5.0, hr=False, start=naive, sport="cycling", pace_s_per_km=120)
    assert len(w) == 61 and np.all(np.diff(w.time_s) == 5.0)
    assert w.hr_bpm is None and w.sport == "bike"
    assert w.start_time == datetime(2023, 1, 2, 6, 30, tzinfo=timezone.utc)
    assert 60 <= np.median(w.cadence_spm) <= 110  # rpm
    assert synthetic_run(duration_s=60, sport="swim").cadence_spm is None
    with pytest.raises(ValueError):
        synthetic_run(duration_s=0)
    with pytest.raises(ValueError):
        synthetic_run(sample_s=-1)


@given(seed=st.integers(0, 2**31), duration=st.integers(1, 2400), pace=st.floats(150, 600), sample=st.sampled_from([1.0, 2.0, 3.0, 5.0]),
       gps=st.booleans())
@settings(max_examples=25, deadline=None)
def test_property_invariants(seed: int, duration: int, pace: float, sample: float, gps: bool) -> None:
    w = synthetic_run(seed=seed, duration_s=duration, pace_s_per_km=pace, sample_s=sample, gps=gps)
    assert len(w) == int(duration // sample) + 1
    assert np.all(np.diff(w.time_s) > 0)
    assert np.all((w.hr_bpm >= 40) & (w.hr_bpm <= 210))
    assert np.all(np.isfinite(w.speed_mps)) and np.all(w.speed_mps >= 0)
    assert np.all(np.diff(w.distance_m) >= 0)
    assert w.speed_mps.max() < 3.0 * 1000.0 / pace + 0.5
    if gps:
        assert np.all(np.abs(w.lat_deg) <= 90) and np.all(np.isfinite(w.altitude_m))


def test_synthetic_history_has_a_marathoners_week_and_reads_back() -> None:
    from sub3coach.io.history import iter_history
    from sub3coach.io.write import write_history_csv
    from sub3coach.synth import synthetic_history

    end = datetime(2025, 3, 6, 12, tzinfo=timezone.utc)  # a Thursday
    runs = synthetic_history(12, easy_pace_s_per_km=300.0, seed=3, end=end)
    assert runs == synthetic_history(12, easy_pace_s_per_km=300.0, seed=3, end=end)  # deterministic
    assert all(r.start_time < end for r in runs) and runs[-1].start_time.date().isoformat() >= "2025-03-04"
    assert {r.start_time.weekday() for r in runs} <= {1, 2, 3, 5, 6}  # rest Monday and Friday
    by_week: dict[int, list] = {}
    for r in runs:
        by_week.setdefault(r.start_time.isocalendar()[1], []).append(r)
    for week in by_week.values():
        total = sum(r.distance_m for r in week)
        longest = max(week, key=lambda r: r.distance_m)
        if len(week) == 5:
            assert longest.name == "Long run" and longest.distance_m <= 0.32 * total
    paces = {r.name: r.moving_time_s / r.distance_m * 1000 for r in runs[:5]}
    assert paces["Intervals 6x800 m"] < paces["Easy run"] < paces["Long run"]
    back = list(iter_history(write_history_csv(runs), name="log.csv"))
    assert len(back) == len(runs)
    for a, b in zip(runs, back):
        assert a.start_time.replace(microsecond=0) == b.start_time and b.distance_m == pytest.approx(a.distance_m, abs=0.1)
        assert b.moving_time_s == pytest.approx(a.moving_time_s, abs=1) and b.name == a.name


def test_history_csv_keeps_awkward_names_and_the_sport() -> None:
    from sub3coach.io.history import iter_history
    from sub3coach.io.write import write_history_csv
    from sub3coach.workout import RunSummary

    t = datetime(2025, 1, 1, 7, tzinfo=timezone.utc)
    runs = [RunSummary(start_time=t, sport="run", distance_m=8000.0, moving_time_s=2400.0, name='Tom & Jerry, "hills"\nloop'),
            RunSummary(start_time=t.replace(day=2), sport="hike", distance_m=8000.0, moving_time_s=7200.0, name="Afternoon activity"),
            RunSummary(start_time=t.replace(day=3), sport="run", distance_m=6000.0, moving_time_s=1800.0, name="Hike")]
    back = list(iter_history(write_history_csv(runs), name="log.csv"))
    assert [r.sport for r in back] == ["run", "hike", "run"]
    assert back[0].name == 'Tom & Jerry, "hills" loop' and back[2].name == "Hike"


def test_long_synthetic_histories_level_off() -> None:
    from sub3coach.synth import synthetic_history

    runs = synthetic_history(104, seed=1)
    paces = [r.moving_time_s / r.distance_m * 1000 for r in runs]
    assert 150 <= min(paces) and max(paces) <= 900
    assert max(r.distance_m for r in runs) < 35_000
