"""GPX/TCX writers: read(write(w)) round-trips within the precision written."""
from __future__ import annotations

import math

import gpxpy
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sub3coach.errors import MissingChannel
from sub3coach.io.gpx import read_gpx
from sub3coach.io.tcx import read_tcx
from sub3coach.io.write import format_time, write_gpx, write_tcx
from sub3coach.synth import synthetic_course, synthetic_run
from sub3coach.workout import CHANNELS, Workout

# absolute tolerance per channel: half the last digit written, HR and power rounded to
# integers, running cadence written as integer per-leg rpm (x2 on reading)
TOL = {"time_s": 5e-4 + 1e-6, "lat_deg": 5e-9 + 1e-12, "lon_deg": 5e-9 + 1e-12, "altitude_m": 5e-4 + 1e-9,
       "distance_m": 5e-4 + 1e-9, "speed_mps": 5e-4 + 1e-9, "hr_bpm": 0.5, "power_w": 0.5}


def _close(a: np.ndarray | None, b: np.ndarray | None, tol: float, name: str) -> None:
    assert (a is None) == (b is None), name
    if a is None or b is None:
        return
    assert a.shape == b.shape, name
    assert np.array_equal(np.isnan(a), np.isnan(b)), name
    ok = ~np.isnan(a)
    assert np.all(np.abs(a[ok] - b[ok]) <= tol), (name, float(np.max(np.abs(a[ok] - b[ok]))))


def _cad_tol(w: Workout) -> float:
    return 1.0 + 1e-9 if w.sport == "run" else 0.5


@pytest.fixture(scope="module")
def run() -> Workout:
    return synthetic_run(duration_s=900, seed=11)


def test_gpx_round_trip_synthetic(run: Workout) -> None:
    back, = read_gpx(write_gpx(run))
    assert len(back) == len(run) and back.sport == "run" and back.name == run.name
    for ch in ("time_s", "lat_deg", "lon_deg", "altitude_m", "hr_bpm", "speed_mps"):
        _close(getattr(run, ch), getattr(back, ch), TOL[ch], ch)
    _close(run.cadence_spm, back.cadence_spm, _cad_tol(run), "cadence_spm")
    assert back.distance_m is None  # GPX has no distance field


def test_tcx_round_trip_synthetic(run: Workout) -> None:
    back, = read_tcx(write_tcx(run))
    assert len(back) == len(run) and back.sport == "run" and back.name == run.name and back.device == run.device
    for ch in ("time_s", "lat_deg", "lon_deg", "altitude_m", "distance_m", "hr_bpm", "speed_mps"):
        _close(getattr(run, ch), getattr(back, ch), TOL[ch], ch)
    _close(run.cadence_spm, back.cadence_spm, _cad_tol(run), "cadence_spm")
    assert back.metadata["laps"] == 1
    assert back.device_timer_s == pytest.approx(run.elapsed_s, abs=1e-3)
    assert back.device_distance_m == pytest.approx(run.distance_m[-1], abs=1e-3)


def test_tcx_auto_laps_add_up(run: Workout) -> None:
    back, = read_tcx(write_tcx(run, lap_distance_m=1000.0))
    total = run.distance_m[-1]
    assert back.metadata["laps"] == int(total // 1000) + 1
    assert back.device_distance_m == pytest.approx(total, abs=0.01)
    assert back.device_timer_s == pytest.approx(run.elapsed_s, abs=0.01)
    assert len(back) == len(run)


def test_device_totals_kept_on_single_lap(run: Workout) -> None:
    w = run.replace(device_timer_s=850.0, device_distance_m=2999.5)
    back, = read_tcx(write_tcx(w))
    assert back.device_timer_s == 850.0 and back.device_distance_m == 2999.5


def test_gpx_is_valid_for_an_independent_parser(run: Workout) -> None:
    g = gpxpy.parse(write_gpx(run).decode("utf-8"))
    pts = [p for trk in g.tracks for seg in trk.segments for p in seg.points]
    assert len(pts) == len(run) and g.tracks[0].type == "running"
    assert pts[10].latitude == pytest.approx(run.lat_deg[10], abs=1e-8)
    assert pts[10].time.timestamp() == pytest.approx(run.time_s[10], abs=1e-3)
    hr = [e for e in pts[10].extensions[0] if e.tag.endswith("hr")]
    assert float(hr[0].text) == pytest.approx(run.hr_bpm[10], abs=0.5)


def test_gpx_needs_positions_and_skips_points_without() -> None:
    treadmill = synthetic_run(duration_s=120, gps=False, seed=1)
    with pytest.raises(MissingChannel):
        write_gpx(treadmill)
    w = synthetic_run(duration_s=120, seed=1)
    lat = w.lat_deg.copy()
    lat[5:10] = np.nan
    back, = read_gpx(write_gpx(w.replace(lat_deg=lat)))
    assert len(back) == len(w) - 5
    # TCX keeps every sample, without Position where there is none
    back_t, = read_tcx(write_tcx(w.replace(lat_deg=lat)))
    assert len(back_t) == len(w) and np.isnan(back_t.lat_deg[5:10]).all() and np.isnan(back_t.lon_deg[5:10]).all()
    back_tm, = read_tcx(write_tcx(treadmill))
    assert back_tm.lat_deg is None and len(back_tm) == len(treadmill)


def test_names_are_escaped() -> None:
    name = 'Fartlek <5×1\'> & "hills" — Zürich 🏃 \x01'
    w = synthetic_run(duration_s=60, seed=2).replace(name=name, device="Watch & <Co>")
    assert read_gpx(write_gpx(w))[0].name == name.replace("\x01", "").strip()
    back, = read_tcx(write_tcx(w))
    assert back.name == name.replace("\x01", "").strip() and back.device == "Watch & <Co>"


def test_course_round_trips_through_gpx() -> None:
    c = synthetic_course(3000, seed=4)
    back, = read_gpx(write_gpx(c))
    _close(c.lat_deg, back.lat_deg, TOL["lat_deg"], "lat")
    _close(c.altitude_m, back.altitude_m, TOL["altitude_m"], "alt")


@pytest.mark.parametrize(("sport", "gpx_sport", "tcx_sport"), [("run", "run", "run"), ("bike", "bike", "bike"), ("walk", "walk", "other"),
                                                              ("hike", "hike", "other"), ("other", "other", "other"), ("unknown", "unknown", "other")])
def test_sport_round_trip(sport: str, gpx_sport: str, tcx_sport: str) -> None:
    w = synthetic_run(duration_s=30, seed=0).replace(sport=sport)
    assert read_gpx(write_gpx(w))[0].sport == gpx_sport
    assert read_tcx(write_tcx(w))[0].sport == tcx_sport


def test_format_time() -> None:
    assert format_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert format_time(1714806000.9996) == "2024-05-04T07:00:01.000Z"
    assert format_time(1714806000.1234) == "2024-05-04T07:00:00.123Z"


# ----- property: random workouts round-trip --------------------------------------------------------

def _maybe_nan(values: list[float], mask: list[bool]) -> np.ndarray:
    return np.array([v if m else math.nan for v, m in zip(values, mask)])


@st.composite
def workouts(draw: st.DrawFn) -> Workout:
    n = draw(st.integers(min_value=1, max_value=40))
    t0 = draw(st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)) / 1000.0  # 2000..2100, ms
    steps = draw(st.lists(st.integers(min_value=1, max_value=60_000), min_size=n - 1, max_size=n - 1))
    t = t0 + np.concatenate([[0.0], np.cumsum(steps) / 1000.0])

    def col(lo: float, hi: float, *, integer: bool = False, partial: bool = True) -> np.ndarray | None:
        if not draw(st.booleans()):
            return None
        if integer:
            vals = draw(st.lists(st.integers(min_value=int(lo), max_value=int(hi)), min_size=n, max_size=n))
        else:
            vals = draw(st.lists(st.floats(min_value=lo, max_value=hi, allow_nan=False), min_size=n, max_size=n))
        mask = draw(st.lists(st.booleans(), min_size=n, max_size=n)) if partial else [True] * n
        if not any(mask):
            mask[0] = True
        return _maybe_nan([float(v) for v in vals], mask)

    sport = draw(st.sampled_from(["run", "bike", "other"]))
    lat = draw(st.lists(st.floats(min_value=-89.9, max_value=89.9), min_size=n, max_size=n))
    lon = draw(st.lists(st.floats(min_value=-179.9, max_value=179.9), min_size=n, max_size=n))
    hr = col(30, 230, integer=True)
    cad = col(0, 120 if sport == "run" else 250, integer=True)
    if cad is not None and sport == "run":
        cad = cad * 2.0  # running cadence in steps/min is even when it came from per-leg rpm
    name = draw(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)))
    return Workout(
        time_s=t,
        lat_deg=np.array(lat), lon_deg=np.array(lon),
        altitude_m=col(-400, 8000), hr_bpm=hr, cadence_spm=cad,
        speed_mps=col(0, 60), power_w=col(0, 2000, integer=True),
        distance_m=np.cumsum(np.full(n, 2.5)) if draw(st.booleans()) else None,
        sport=sport, name=name.strip() or None if name else None,
    )


@given(workouts())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_gpx_round_trip(w: Workout) -> None:
    back, = read_gpx(write_gpx(w))
    assert len(back) == len(w) and back.sport == w.sport and back.name == w.name
    for ch in ("time_s", "lat_deg", "lon_deg", "altitude_m", "hr_bpm", "speed_mps", "power_w"):
        _close(getattr(w, ch), getattr(back, ch), TOL[ch], ch)
    _close(w.cadence_spm, back.cadence_spm, 1e-9, "cadence_spm")


@given(workouts())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_tcx_round_trip(w: Workout) -> None:
    back, = read_tcx(write_tcx(w, lap_distance_m=5.0))
    assert len(back) == len(w) and back.sport == w.sport and back.name == w.name
    for ch in ("time_s", "lat_deg", "lon_deg", "altitude_m", "distance_m", "hr_bpm", "speed_mps", "power_w"):
        _close(getattr(w, ch), getattr(back, ch), TOL[ch], ch)
    _close(w.cadence_spm, back.cadence_spm, 1e-9, "cadence_spm")
    assert back.device_timer_s == pytest.approx(w.elapsed_s, abs=0.01)
    track = w.distance_track_m()
    if track is not None:
        assert back.device_distance_m == pytest.approx(track[-1], abs=0.01 + 1e-9 * track[-1])


def test_every_channel_is_covered_by_a_round_trip() -> None:
    # keeps this file honest when a channel is added to Workout
    assert set(CHANNELS) == {"hr_bpm", "speed_mps", "altitude_m", "distance_m", "lat_deg", "lon_deg", "cadence_spm", "power_w"}
