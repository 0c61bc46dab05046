"""All-out effort detection and the race-prediction evaluation (generated histories; real ones marked shared)."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from sub3coach.plan.history import drop_non_runs
from sub3coach.plan.race import hr_fraction_at, velocity_at
from sub3coach.plan.race_eval import (
    METHODS, RACE_NAME_RE, band_of, evaluate_race_dir, evaluate_races, find_efforts, predict_effort, race_names,
)
from tests.conftest import shared_path
from tests.plan.gen import history_frame


def runner(seed: int = 0, n_days: int = 120, true_vdot: float = 45.0, max_hr: float = 185.0) -> pd.DataFrame:
    """A generated runner with HR that follows Runalyze's relation."""
    h = history_frame(n_days, seed=seed, base_pace=320.0)
    h["avg_hr_bpm"] = [max_hr * hr_fraction_at(60_000.0 / p / velocity_at(true_vdot)) for p in h["pace_s_per_km"]]
    return h


def add_run(h: pd.DataFrame, when: pd.Timestamp, distance_m: float, pace: float, hr: float = 175.0) -> pd.DataFrame:
    row = {"user_id": h["user_id"].iloc[0], "start_time": when, "distance_m": distance_m, "duration_s": distance_m / 1000 * pace,
           "pace_s_per_km": pace, "elevation_gain_m": 10.0, "avg_hr_bpm": hr}
    return pd.concat([h, pd.DataFrame([row])], ignore_index=True).sort_values("start_time", kind="stable").reset_index(drop=True)


RACE_DAY = pd.Timestamp("2024-03-17 08:00", tz="UTC")  # day 76 of a history starting 2024-01-01


def test_band_of() -> None:
    assert band_of(5000) == "5k" and band_of(10_400) == "10k" and band_of(21_500) == "half" and band_of(42_195) == "marathon"
    assert band_of(7000) is None and band_of(10_600) is None


def test_race_names_pattern() -> None:
    for name in ("Berlin Marathon", "Saturday parkrun", "5k time trial", "2023苏州马拉松", "半马测试成绩", "大阪マラソン2025", "Race day"):
        assert RACE_NAME_RE.search(name), name
    for name in ("Morning Run", "Easy run", "traceback", "Lingshui - Hekou", "有氧耐力跑"):
        assert not RACE_NAME_RE.search(name), name


def test_fast_run_in_a_band_is_an_effort_an_easy_one_is_not() -> None:
    h = add_run(runner(), RACE_DAY, 10_050, 320 * 0.84)
    easy = pd.Timestamp("2024-02-10 08:00", tz="UTC")
    h = add_run(h, easy, 10_000, 330, hr=140)
    eff = find_efforts(h)
    assert RACE_DAY in set(eff["start_time"]) and easy not in set(eff["start_time"])
    row = eff[eff["start_time"] == RACE_DAY].iloc[0]
    assert row["band"] == "10k" and row["reason"] == "fastest"
    # named as a race: an effort even at an easy pace
    odd = pd.Timestamp("2024-02-20 08:00", tz="UTC")
    h = add_run(h, odd, 7000, 300)
    named = find_efforts(h, {easy, odd})
    assert named[named["start_time"] == easy].iloc[0]["reason"] == "named"
    assert odd not in set(named["start_time"])  # named, but no race distance
    # a faster 10 km within 30 days: the first is no longer the fastest of its band
    h2 = add_run(h, RACE_DAY + timedelta(days=20), 10_000, 320 * 0.82)
    assert RACE_DAY not in set(find_efforts(h2)["start_time"])


def test_prediction_reads_nothing_from_the_effort_or_after() -> None:
    h = add_run(runner(seed=2), RACE_DAY, 10_050, 320 * 0.84)
    h = add_run(h, RACE_DAY - timedelta(days=40), 5000, 320 * 0.83, hr=178)  # an earlier race: the HR correction
    base = predict_effort(h, RACE_DAY, 10_050)
    assert base is not None and all(base[m] is not None for m in METHODS)
    assert base["hr_pace"] != base["hr_pace_uncorrected"]
    later = h["start_time"] >= RACE_DAY
    perturbed = h.copy()
    perturbed.loc[later, "duration_s"] *= 0.93  # the effort and everything after: faster, other HR, longer
    perturbed.loc[later, "pace_s_per_km"] *= 0.93
    perturbed.loc[later, "avg_hr_bpm"] += 15
    perturbed.loc[later, "distance_m"] *= 1.1
    perturbed = add_run(perturbed, RACE_DAY + timedelta(hours=3), 5000, 250, hr=200)
    assert predict_effort(perturbed, RACE_DAY, 10_050) == base
    # cleaning the whole history first (as evaluate_races does) changes nothing: the cleaning is causal
    assert predict_effort(drop_non_runs(perturbed), RACE_DAY, 10_050, cleaned=True) == base
    # ... while a change before it moves the predictions (the test can fail)
    before = h.copy()
    before.loc[~later, "avg_hr_bpm"] -= 10
    before.loc[~later, ["duration_s", "pace_s_per_km"]] *= 0.95
    moved = predict_effort(before, RACE_DAY, 10_050)
    assert all(moved[m] != base[m] for m in METHODS)


def test_effort_without_history_before_is_skipped() -> None:
    h = runner(n_days=120)
    old = h[h["start_time"] < RACE_DAY - timedelta(days=57)]  # nothing in the 8 weeks before
    assert len(old) >= 3 and predict_effort(add_run(old, RACE_DAY, 5000, 250), RACE_DAY, 5000) is None
    assert predict_effort(add_run(h, RACE_DAY, 5000, 250), RACE_DAY, 5000) is not None


def test_evaluate_races_scores_each_method_and_the_common_subset() -> None:
    with_hr = add_run(runner(seed=3), RACE_DAY, 10_000, 320 * 0.84)
    no_hr = add_run(runner(seed=4).assign(avg_hr_bpm=np.nan, user_id="b"), RACE_DAY, 5000, 320 * 0.82, hr=np.nan)
    res = evaluate_races({"a": with_hr, "b": no_hr})
    rows = {r["user_id"]: r for r in res["efforts"] if r["start_time"] == RACE_DAY.isoformat()}
    assert set(rows) == {"a", "b"}
    assert rows["b"]["predicted_s"]["hr_pace"] is None and rows["b"]["predicted_s"]["vdot"] is not None
    ov = res["overall"]
    assert ov["methods"]["vdot"]["n"] == ov["n_efforts"] > ov["methods"]["hr_pace"]["n"]
    common = ov["common"]
    assert common["n_efforts"] == ov["methods"]["hr_pace"]["n"] and "b" not in {
        r["user_id"] for r in res["efforts"] if all(r["predicted_s"][m] is not None for m in METHODS)}
    a = rows["a"]
    err = abs(a["predicted_s"]["riegel"] - a["time_s"]) / a["time_s"] * 100
    if ov["n_efforts"] == 2:
        assert ov["methods"]["riegel"]["mae_pct_mean"] == pytest.approx(
            (err + abs(rows["b"]["predicted_s"]["riegel"] - rows["b"]["time_s"]) / rows["b"]["time_s"] * 100) / 2, abs=0.01)
    assert res["bands"]["10k"]["n_efforts"] >= 1 and res["bands"]["5k"]["n_efforts"] >= 1


def test_race_names_from_a_named_log(tmp_path) -> None:
    f = tmp_path / "csv-d-abc123.csv"
    f.write_text("date,dist_m,mov_s,hr,name\n2024-03-01 08:00:00,5000,1500,150,Saturday parkrun\n"
                 "2024-03-02 08:00:00,8000,2800,140,Easy run\n")
    names = race_names(tmp_path)
    assert set(names) == {"d-abc123"} and len(names["d-abc123"]) == 1


@pytest.mark.shared
@pytest.mark.slow
def test_race_evaluate_on_the_dev_histories() -> None:
    res = evaluate_race_dir(shared_path("histories"))
    ov = res["overall"]
    assert ov["n_efforts"] >= 100 and ov["n_runners"] >= 20
    for m in METHODS:
        s = ov["methods"][m]
        assert s["n"] > 50 and 0 < s["mae_pct_median"] <= s["mae_pct_mean"] < 25, (m, s)
    assert ov["common"]["n_efforts"] == min(ov["methods"][m]["n"] for m in METHODS)
    assert sum(b["n_efforts"] for b in res["bands"].values()) == ov["n_efforts"]
    assert any("named" in r["reason"] for r in res["efforts"])


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 50), speed=st.floats(0.6, 1.4), hr_shift=st.floats(-20, 20), extra=st.integers(0, 5))
def test_no_leakage_property(seed: int, speed: float, hr_shift: float, extra: int) -> None:
    h = add_run(runner(seed=seed), RACE_DAY, 10_000, 320 * 0.85)
    h = add_run(h, RACE_DAY - timedelta(days=35), 5000, 320 * 0.84, hr=176)
    base = predict_effort(h, RACE_DAY, 10_000)
    later = h["start_time"] >= RACE_DAY
    p = h.copy()
    p.loc[later, ["duration_s", "pace_s_per_km"]] *= speed
    p.loc[later, "avg_hr_bpm"] += hr_shift
    for k in range(extra):
        p = add_run(p, RACE_DAY + timedelta(days=k, minutes=5), 5000 + 1000 * k, 300 * speed, hr=150 + hr_shift)
    assert predict_effort(p, RACE_DAY, 10_000) == base
