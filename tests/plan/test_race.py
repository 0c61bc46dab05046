"""Riegel, Daniels VDOT and training paces."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from sub3coach.errors import Sub3Error
from sub3coach.plan.race import (
    best_effort, parse_distance, predict_race, riegel_time_s, training_paces, vdot, vdot_time_s,
)
from tests.plan.gen import history_frame


def test_riegel() -> None:
    assert riegel_time_s(1200, 5000, 5000) == pytest.approx(1200)
    assert riegel_time_s(1200, 5000, 10_000) == pytest.approx(1200 * 2 ** 1.06)
    with pytest.raises(ValueError):
        riegel_time_s(0, 5000, 10_000)


def test_vdot_matches_daniels_tables() -> None:
    # Daniels' Running Formula: VDOT 50 <-> 5 km 19:57, marathon 3:10:49; VDOT 60 <-> 10 km 35:22
    assert vdot(5000, 19 * 60 + 57) == pytest.approx(50.0, abs=0.15)
    assert vdot(42195, 3 * 3600 + 10 * 60 + 49) == pytest.approx(50.0, abs=0.15)
    assert vdot(10_000, 35 * 60 + 22) == pytest.approx(60.0, abs=0.15)
    assert vdot_time_s(50.0, 42195) == pytest.approx(3 * 3600 + 10 * 60 + 49, abs=60)


def test_training_paces_vdot_50() -> None:
    p = training_paces(50.0)
    assert list(p) == ["E", "M", "T", "I", "R"]
    assert p["E"] > p["M"] > p["T"] > p["I"] > p["R"]
    # published VDOT 50 paces: M 4:31/km, T 4:15/km, I 3:55/km (within a few seconds)
    assert p["M"] == pytest.approx(271, abs=4) and p["T"] == pytest.approx(255, abs=5) and p["I"] == pytest.approx(235, abs=5)


@given(st.floats(30, 80), st.sampled_from([1500.0, 5000.0, 10_000.0, 21097.5, 42195.0]))
def test_vdot_time_inverts_vdot(v: float, d: float) -> None:
    assert vdot(d, vdot_time_s(v, d)) == pytest.approx(v, rel=1e-6)


@pytest.mark.parametrize("text, metres", [("5k", 5000), ("10 km", 10_000), ("5000m", 5000), ("5000", 5000),
                                          ("half", 21097.5), ("Marathon", 42195), ("10mi", 16093.44), ("21.1", 21100)])
def test_parse_distance(text: str, metres: float) -> None:
    assert parse_distance(text) == pytest.approx(metres)


@pytest.mark.parametrize("text", ["far", "10 furlongs", "300m", "500k"])
def test_parse_distance_errors(text: str) -> None:
    with pytest.raises(Sub3Error):
        parse_distance(text)


def test_predict_race_uses_best_recent_effort() -> None:
    h = history_frame(60, seed=1)
    end = h["start_time"].max().to_pydatetime()
    best = best_effort(h, as_of=end)
    pred = predict_race(h, 21097.5, as_of=end)
    assert pred.basis_distance_m == best["distance_m"] and pred.basis_vdot == pytest.approx(vdot(best["distance_m"], best["duration_s"]))
    assert pred.riegel_time_s == pytest.approx(riegel_time_s(best["duration_s"], best["distance_m"], 21097.5))
    assert 0.85 < pred.vdot_time_s / pred.riegel_time_s < 1.15
    with pytest.raises(Sub3Error, match="no run of at least 3 km"):
        predict_race(h, 10_000, as_of=datetime(2030, 1, 1, tzinfo=timezone.utc))


def test_runner_vdot_and_paces_are_the_planners_not_the_reference_runs() -> None:
    from sub3coach.plan.history import drop_non_runs
    from sub3coach.plan.sessions import vdot_from_history

    h = history_frame(60, seed=1)
    end = h["start_time"].max().to_pydatetime()
    pred = predict_race(h, 10_000, as_of=end)
    v, why = vdot_from_history(drop_non_runs(h), pd.Timestamp(end) + pd.Timedelta(seconds=1))
    assert pred.runner_vdot == pytest.approx(v) and pred.runner_vdot_method == why
    assert pred.training_paces_s_per_km == pytest.approx(training_paces(v))
    assert predict_race(h, 10_000, as_of=end, paces=False).training_paces_s_per_km == {}


def test_as_of_hint_names_a_run_before_it_or_the_first_run() -> None:
    h = history_frame(60, seed=1)
    first, last = h["start_time"].min(), h["start_time"].max()
    with pytest.raises(Sub3Error) as exc:
        predict_race(h, 10_000, as_of=(first - pd.Timedelta(days=30)).to_pydatetime())
    assert f"starts on {first.date()}" in str(exc.value) and str(last.date()) not in str(exc.value)
    with pytest.raises(Sub3Error) as exc:
        predict_race(h, 10_000, as_of=(last + pd.Timedelta(days=200)).to_pydatetime())
    assert f"last run before it {last.date()}" in str(exc.value)
