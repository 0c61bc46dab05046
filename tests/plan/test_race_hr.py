"""The HR-pace (effective VO2max) race prediction: Runalyze's formulas, the shape, the correction, max HR."""
from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from sub3coach.errors import Sub3Error
from sub3coach.plan.race import (
    MaxHr, effective_vo2max, fraction_of_vvo2max, fraction_vo2max, hr_fraction_at, hr_pace_vdot, max_hr_from_history,
    predict_race, vdot, vdot_time_s, velocity_at,
)
from tests.plan.gen import history_frame


def with_hr(df: pd.DataFrame, true_vdot: float, max_hr: float) -> pd.DataFrame:
    """A history whose every run's average HR is what Runalyze's relation gives for a runner of
    effective VO2max ``true_vdot`` and max HR ``max_hr``."""
    out = df.copy()
    v = 60_000.0 / out["pace_s_per_km"]  # m/min
    out["avg_hr_bpm"] = [max_hr * hr_fraction_at(x / velocity_at(true_vdot)) for x in v]
    return out


def test_daniels_tables_vdot_50() -> None:
    # Daniels' Running Formula, VDOT 50: 5 km 19:57, 10 km 41:21, marathon 3:10:49
    assert vdot_time_s(50.0, 5000) == pytest.approx(19 * 60 + 57, abs=3)
    assert vdot_time_s(50.0, 10_000) == pytest.approx(41 * 60 + 21, abs=5)
    assert vdot_time_s(50.0, 42195) == pytest.approx(3 * 3600 + 10 * 60 + 49, abs=15)


def test_runalyze_worked_example() -> None:
    # 10 km in 50:00 (200 m/min) at 153 of 180 BPM (85 %): exp((0.85 - 1.00466) / 0.68725) = 0.79847 of
    # vVO2max, so vVO2max = 250.48 m/min and VO2 = -4.60 + 0.182258 * 250.48 + 0.000104 * 250.48^2 = 47.58
    assert fraction_of_vvo2max(0.85) == pytest.approx(0.79847, abs=1e-4)
    assert effective_vo2max(10_000, 3000, 153, 180) == pytest.approx(47.58, abs=0.02)
    # at max HR the run was (almost) at vVO2max: the effective VO2max is the oxygen cost of its speed
    assert effective_vo2max(3000, 600, 180, 180) == pytest.approx(-4.60 + 0.182258 * 300 / 0.99324 + 0.000104 * (300 / 0.99324) ** 2, abs=0.01)
    with pytest.raises(ValueError):
        effective_vo2max(10_000, 3000, 0, 180)


@given(st.floats(0.5, 1.0))
def test_hr_relation_inverts(h: float) -> None:
    assert hr_fraction_at(fraction_of_vvo2max(h)) == pytest.approx(h, abs=1e-9)


def test_shape_recovers_the_runner_when_hr_follows_the_relation() -> None:
    h = with_hr(history_frame(60, seed=3), 48.0, 185.0)
    end = h["start_time"].max().to_pydatetime()
    est = hr_pace_vdot(h, 185.0, as_of=end)
    assert est.uncorrected == pytest.approx(48.0, rel=1e-6) and est.correction_factor == 1.0 and est.factor_run_date is None
    assert est.n_runs == int((h["start_time"] >= pd.Timestamp(end) - timedelta(days=30)).sum())
    # the correction: the largest time-VDOT / HR-VDOT among the three best earlier races
    races = h.iloc[[5, 10, 15, 20]].copy()
    ratios = [vdot(d, t) / 48.0 for d, t in zip(races["distance_m"], races["duration_s"])]
    races.loc[races.index[0], "avg_hr_bpm"] = np.nan  # a race without HR cannot give it
    best3 = sorted(ratios[1:])[-3:]
    est = hr_pace_vdot(h, 185.0, as_of=end, races=races)
    assert est.correction_factor == pytest.approx(max(best3), rel=1e-6)
    assert est.vdot == pytest.approx(est.uncorrected * est.correction_factor)
    # races after as_of are not used
    early = races["start_time"].iloc[1] + timedelta(hours=1)
    assert hr_pace_vdot(h, 185.0, as_of=early.to_pydatetime(), races=races).correction_factor == pytest.approx(ratios[1], rel=1e-6)


def test_shape_weights_by_duration_and_skips_implausible_hr() -> None:
    h = with_hr(history_frame(40, seed=4), 50.0, 190.0)
    end = h["start_time"].max().to_pydatetime()
    h.loc[h.index[-1], "avg_hr_bpm"] = 100.0  # 53 % of max: left out, so the value stays
    h.loc[h.index[-2], "avg_hr_bpm"] = np.nan
    assert hr_pace_vdot(h, 190.0, as_of=end).uncorrected == pytest.approx(50.0, rel=1e-6)
    h2 = h.copy()
    h2.loc[h2.index[-3], "avg_hr_bpm"] *= 1.05  # a higher HR at the same pace: a lower value
    assert hr_pace_vdot(h2, 190.0, as_of=end).uncorrected < 50.0
    with pytest.raises(Sub3Error, match="no run with average HR"):
        hr_pace_vdot(h.assign(avg_hr_bpm=np.nan), 190.0, as_of=end)


def test_max_hr_from_history() -> None:
    h = history_frame(30, seed=5)
    assert max_hr_from_history(h) is None  # no HR
    h = h.assign(avg_hr_bpm=140.0)
    i = h.index[h["distance_m"] >= 3000][:3]
    h.loc[i, "avg_hr_bpm"] = [170.0, 175.0, 180.0]
    est = max_hr_from_history(h)
    implied = sorted(hr / hr_fraction_at(fraction_vo2max(t / 60)) for hr, t in zip(h.loc[i, "avg_hr_bpm"], h.loc[i, "duration_s"]))
    assert est is not None and est.source == "estimated" and est.bpm == pytest.approx(implied[1], abs=0.05)


def test_predict_race_reports_hr_method_and_its_max_hr() -> None:
    h = with_hr(history_frame(60, seed=6), 47.0, 182.0)
    end = h["start_time"].max().to_pydatetime()
    pred = predict_race(h, 10_000, as_of=end, max_hr=MaxHr(182.0, "stated", "--max-hr"))
    assert pred.max_hr.source == "stated" and pred.hr_note is None
    assert pred.hr_time_s == pytest.approx(vdot_time_s(pred.hr_pace.vdot, 10_000))
    no_hr = predict_race(h.assign(avg_hr_bpm=np.nan), 10_000, as_of=end)
    assert no_hr.hr_time_s is None and no_hr.max_hr is None and "max HR" in no_hr.hr_note
    assert math.isfinite(no_hr.vdot_time_s)
