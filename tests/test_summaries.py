"""Summaries right on every file (issue 12, item 1): moving time and pace from the best
distance evidence, for the three cases that went wrong, through the real FIT reader, cleaning,
the library and the history the planner reads."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sub3coach import geo
from sub3coach.clean import clean
from sub3coach.io.fit import read_fit
from sub3coach.library import Library
from tests.fixtures.make_trust import (
    Case,
    auto_pause_drift_series,
    auto_pause_series,
    make_fit_records,
    smart_recording_series,
    smart_recording_speed_only_series,
    sparse_distance_series,
)

CASES = {"sparse_distance": sparse_distance_series, "smart_recording": smart_recording_series,
         "smart_recording_speed_only": smart_recording_speed_only_series, "auto_pause": auto_pause_series,
         "auto_pause_drift": auto_pause_drift_series}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, Case, bytes]:
    c = CASES[request.param]()
    return request.param, c, make_fit_records(c)


def test_summary_moving_time_and_pace(case: tuple[str, Case, bytes]) -> None:
    name, c, data = case
    w = clean(read_fit(data, name=f"{name}.fit")[0])
    s = w.summary()
    assert s.moving_time_s == pytest.approx(c.moving_s, abs=1.0)
    assert s.distance_m == pytest.approx(c.total_m, rel=1e-3)
    assert s.avg_pace_s_per_km == pytest.approx(c.moving_s / c.total_m * 1000.0, rel=2e-3)


def test_sparse_distance_was_read_as_stops_before() -> None:
    """The regression itself: the forward-filled channel counted 3/4 of the run as stopped."""
    c = sparse_distance_series()
    w = read_fit(make_fit_records(c))[0]
    assert int(np.isfinite(w.distance_m).sum()) == 2040 and len(w) == 2808
    d = w.distance_m.copy()
    idx = np.maximum.accumulate(np.where(np.isfinite(d), np.arange(d.size), 0))
    old = geo.moving_time_s(w.time_s, d[idx])
    assert old < 0.75 * c.moving_s  # what `sub3 runs` listed (pace ~1:49/km)
    assert w.summary().moving_time_s == pytest.approx(c.moving_s)
    cw = clean(w)
    assert np.isfinite(cw.distance_m).all()  # the holes are filled between the device's values
    assert cw.metadata["cleaned"]
    np.testing.assert_array_equal(cw.distance_m[np.isfinite(w.distance_m)], w.distance_m[np.isfinite(w.distance_m)])


def test_library_rows_use_the_same_rule(case: tuple[str, Case, bytes], tmp_path: Path) -> None:
    name, c, data = case
    lib = Library(tmp_path / "lib.duckdb")
    w = clean(read_fit(data, name=f"{name}.fit")[0])
    with lib.batch():
        lib.add_workout(w)
    (row,) = lib.runs()
    assert row["moving_time_s"] == pytest.approx(c.moving_s, abs=1.0)
    (hist,) = lib.summaries()  # what training load and the planner read
    assert hist.moving_time_s == pytest.approx(c.moving_s, abs=1.0)
    assert hist.distance_m == pytest.approx(c.total_m, rel=1e-3)


def test_timer_pauses_are_read_from_fit_events() -> None:
    c = auto_pause_drift_series()
    w = read_fit(make_fit_records(c))[0]
    assert w.metadata["timer_pauses_s"] == [[c.pauses[0][0], c.pauses[0][1]]]
    # without the device's word the drift would count as moving
    assert geo.moving_time_s(w.time_s, w.distance_track_m()) == pytest.approx(c.moving_s + 150.0)
