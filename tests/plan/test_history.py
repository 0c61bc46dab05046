"""History tables, features, workout types and bad-file errors of the planner."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from sub3coach.errors import CorruptFile, Sub3Error
from sub3coach.plan.history import (
    QUERY_FEATURES, TOKEN_FEATURES, WORKOUT_TYPES, add_features, classify_run, load_histories, make_examples, non_run_mask,
    runs_frame,
)
from sub3coach.workout import RunSummary
from tests.conftest import shared_path
from tests.plan.gen import history_frame, write_many_runners, write_simple_csv

T0 = datetime(2024, 3, 1, 8, tzinfo=timezone.utc)


def test_classify_rules() -> None:
    assert classify_run(0.85, 1.0, 10_000) == "race"
    assert classify_run(0.85, 0.5, 3000) == "interval"
    assert classify_run(0.95, 1.0, 8000) == "tempo"
    assert classify_run(1.0, 1.6, 20_000) == "long"
    assert classify_run(1.0, 1.6, 8000) == "easy"  # relatively long but short in absolute terms
    assert classify_run(1.10, 1.0, 8000) == "recovery"
    assert classify_run(1.04, 0.5, 4000) == "recovery"
    assert classify_run(1.0, 1.0, 8000) == "easy"
    assert classify_run(float("nan"), 1.0, 8000) == "easy"


def test_runs_frame_filters_sport_pace_distance_and_duplicates() -> None:
    rows = [
        RunSummary(T0, "run", 10_000, 3000, None),  # 5:00/km ok
        RunSummary(T0 + timedelta(seconds=30), "run", 10_000, 3000, None),  # duplicate start
        RunSummary(T0 + timedelta(days=1), "bike", 30_000, 3600, None),  # not a run
        RunSummary(T0 + timedelta(days=2), "run", 10_000, 1000, None),  # 1:40/km too fast
        RunSummary(T0 + timedelta(days=3), "run", 1000, 1000, None),  # 16:40/km too slow
        RunSummary(T0 + timedelta(days=4), "run", 300, 100, None),  # too short
        RunSummary(T0 + timedelta(days=5), "run", 120_000, 40_000, None),  # too long
        RunSummary(T0 + timedelta(days=6), "run", 5000, 1500, 1400, elevation_gain_m=40.0),  # moving time wins
    ]
    df = runs_frame(rows, user_id="a")
    assert len(df) == 2
    assert df["user_id"].tolist() == ["a", "a"]
    assert df["pace_s_per_km"].tolist() == pytest.approx([300.0, 280.0])
    assert np.isnan(df["elevation_gain_m"].iloc[0]) and df["elevation_gain_m"].iloc[1] == 40.0


def test_features_cyclic_gap_gain_and_types() -> None:
    f = add_features(history_frame(40, seed=1))
    assert set(f["type"]) <= set(WORKOUT_TYPES)
    assert np.allclose(f["dow_sin"] ** 2 + f["dow_cos"] ** 2, 1.0)
    assert np.allclose(f["hour_sin"] ** 2 + f["hour_cos"] ** 2, 1.0)
    assert (f["gap_days"] >= 0).all() and f["gap_days"].iloc[0] == 30.0
    gaps = f["start_time"].diff().dt.total_seconds().to_numpy()[1:] / 86400
    assert np.allclose(f["gap_days"].to_numpy()[1:], np.minimum(gaps, 30))
    assert (f["gain_known"] == 1).all()
    # the reference pace of run i is the median of the runs in the 28 days before it
    i = len(f) - 1
    t = f["start_time"]
    win = f[(t < t.iloc[i]) & (t >= t.iloc[i] - pd.Timedelta(days=28))]
    assert f["ref_pace_s_per_km"].iloc[i] == pytest.approx(win["pace_s_per_km"].median())


def test_unknown_gain_is_zero_with_indicator() -> None:
    df = history_frame(20, seed=2)
    df["elevation_gain_m"] = np.nan
    f = add_features(df)
    assert (f["gain_m"] == 0).all() and (f["gain_known"] == 0).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(5, 30))
def test_features_never_use_the_future(seed: int, cut: int) -> None:
    df = history_frame(60, seed=seed)
    cut = min(cut, len(df) - 1)
    full = add_features(df)
    part = add_features(df.iloc[:cut])
    cols = ["ref_pace_s_per_km", "ref_distance_m", "rel_pace", "gap_days", "type"]
    pd.testing.assert_frame_equal(full[cols].iloc[:cut].reset_index(drop=True), part[cols].reset_index(drop=True))


def test_make_examples_context_and_targets() -> None:
    f = add_features(history_frame(60, seed=3))
    ex = make_examples(f, min_history_days=28)
    assert ex.tokens.shape[1:] == (16, len(TOKEN_FEATURES)) and ex.query.shape[1] == len(QUERY_FEATURES)
    first = f["start_time"].iloc[0]
    targets = pd.to_datetime(ex.target_day * 86400, unit="s", utc=True)
    assert (targets - first >= pd.Timedelta(days=28)).all()
    # every context run is before its target and within 28 days; padding after the real runs
    for k in range(len(ex)):
        n = int(ex.mask[k].sum())
        assert n >= 1 and ex.mask[k, :n].all() and not ex.mask[k, n:].any()
        days_before = ex.tokens[k, :n, 3] * 7
        assert (days_before > 0).all() and (days_before <= 28).all()
        assert np.all(np.diff(days_before) >= 0)  # most recent first
    assert np.isfinite(ex.target_pace).all() and (ex.target_type >= 0).all()
    # a planned target after a long break: skipped unless allow_stale
    later = float(ex.target_day.max() + 60)
    assert len(make_examples(f, targets=[later])) == 0
    assert len(make_examples(f, targets=[later], allow_stale=True)) == 1


def test_load_histories_simple_and_many_runner_table(tmp_path) -> None:
    a, b = history_frame(30, seed=4), history_frame(30, seed=5, base_pace=280)
    write_simple_csv(tmp_path / "csv-d-abc123.csv", a)
    write_many_runners(tmp_path / "many.csv", [a, b])
    runners = load_histories(tmp_path)
    assert set(runners) == {"d-abc123", "1000", "1001"}
    assert len(runners["d-abc123"]) == len(a) and len(runners["1001"]) == len(b)
    assert runners["1001"]["pace_s_per_km"].median() < runners["1000"]["pace_s_per_km"].median()


@pytest.mark.parametrize("content, words", [
    ("", "empty"),
    ("foo,bar\n1,2\n", "unrecognised"),
    ("date,dist_m\n2024-01-01,5000\n", "missing column"),
])
def test_bad_history_files_give_clear_errors(tmp_path, content: str, words: str) -> None:
    p = tmp_path / "h.csv"
    p.write_text(content)
    with pytest.raises(CorruptFile) as ei:
        load_histories(p)
    msg = str(ei.value)
    assert "h.csv" in msg and words in msg and "\n" not in msg


def test_mixed_units_and_future_dates_are_refused(tmp_path) -> None:
    df = history_frame(30, seed=6)
    p = write_simple_csv(tmp_path / "km.csv", df)
    text = p.read_text().splitlines()
    # distances written in km instead of metres: every pace becomes impossible
    km = [text[0]] + [",".join([r.split(",")[0], str(float(r.split(",")[1]) / 1000)] + r.split(",")[2:]) for r in text[1:]]
    p.write_text("\n".join(km) + "\n")
    with pytest.raises(CorruptFile, match="km.csv"):
        load_histories(p)
    future = [text[0]] + [r.replace(r[:4], "2099", 1) for r in text[1:]]
    p.write_text("\n".join(future) + "\n")
    with pytest.raises(CorruptFile, match="future"):
        load_histories(p)


def test_missing_path_and_no_usable_runs(tmp_path) -> None:
    with pytest.raises(Sub3Error, match="no such file"):
        load_histories(tmp_path / "nope.csv")
    with pytest.raises(Sub3Error, match="no history files"):
        load_histories(tmp_path)
    p = tmp_path / "walks.csv"
    p.write_text("date,dist_m,mov_s,sport\n2024-01-01,5000,4000,walk\n2024-01-02,5000,4000,walk\n")
    with pytest.raises(CorruptFile, match="no usable runs"):
        load_histories(p)


def test_real_histories_split_by_runner() -> None:
    d = shared_path("histories")
    runners = load_histories(d / "strava-races-many-runners.csv")
    assert len(runners) > 10
    one = load_histories(d / "garmin-d-b0dadd.csv")
    assert list(one) == ["d-b0dadd"]
    f = add_features(one["d-b0dadd"])
    assert f["pace_s_per_km"].between(150, 900).all() and f["distance_m"].between(500, 100_000).all()


def test_non_runs_are_dropped_by_a_causal_runner_relative_rule() -> None:
    df = history_frame(60, seed=4, base_pace=300.0)
    n = len(df)
    walk = df.iloc[[20]].copy()
    walk["start_time"] += pd.Timedelta(hours=5)
    walk["pace_s_per_km"] = 300.0 * 2.2  # 11:00/km for a 5:00/km runner: a walk
    ride = df.iloc[[30]].copy()
    ride["start_time"] += pd.Timedelta(hours=5)
    ride["pace_s_per_km"] = 300.0 / 1.9  # 2:38/km: a bike ride
    mixed = pd.concat([df, walk, ride]).sort_values("start_time").reset_index(drop=True)
    flag = non_run_mask(mixed)
    assert flag.sum() == 2
    assert set(mixed.loc[flag, "pace_s_per_km"].round(1)) == {660.0, round(300.0 / 1.9, 1)}
    assert len(add_features(mixed)) == n and len(add_features(mixed, clean=False)) == n + 2
    # causal: the flags of the first k rows do not depend on later rows
    for k in (10, 25, n):
        assert (non_run_mask(mixed.iloc[:k]) == flag[:k]).all()
    # a runner who slows for good, twice as slow (injury comeback, run-walking), is followed after a dozen rows
    slow = history_frame(120, seed=5, base_pace=300.0)
    half = len(slow) // 2
    slow.loc[slow.index >= half, "pace_s_per_km"] *= 2.0
    f = non_run_mask(slow)
    assert f[half:].any() and not f[half + 12:].any() and f.sum() <= 12  # the quicker quartile moves after ~11 rows
    # a log that starts with walks: the runs after them are kept after a few rows
    walks_first = history_frame(120, seed=6, base_pace=330.0)
    walks_first.loc[:4, "pace_s_per_km"] = 660.0
    f = non_run_mask(walks_first)
    assert not f[9:].any(), np.flatnonzero(f)
    # walks mixed in (a third of the rows) are flagged, the runs between them are not
    mixed_walks = history_frame(120, seed=7, base_pace=330.0)
    walk_rows = mixed_walks.index[10::3]
    mixed_walks.loc[walk_rows, "pace_s_per_km"] = 700.0
    f = non_run_mask(mixed_walks)
    assert f[walk_rows].all() and not f[np.setdiff1d(mixed_walks.index[10:], walk_rows)].any()


def test_habit_features_read_the_runners_weekday_pattern() -> None:
    # fast on Tuesdays, slow on Sundays, easy otherwise: the Tuesday/Sunday habit features say so
    rows = []
    for d in range(120):
        day = T0 + timedelta(days=d)
        pace = {1: 270.0, 6: 330.0}.get(day.weekday(), 300.0)
        rows.append(("h", pd.Timestamp(day), 10_000.0, 10 * pace, pace, np.nan, np.nan))
    f = add_features(pd.DataFrame(rows, columns=["user_id", "start_time", "distance_m", "duration_s", "pace_s_per_km",
                                                  "elevation_gain_m", "avg_hr_bpm"]))
    t_last = f["start_time"].iloc[-1]
    tue = next(t_last + pd.Timedelta(days=k) for k in range(1, 8) if (t_last + pd.Timedelta(days=k)).weekday() == 1)
    sun = next(t_last + pd.Timedelta(days=k) for k in range(1, 8) if (t_last + pd.Timedelta(days=k)).weekday() == 6)
    days = [(x - pd.Timestamp(0, tz="UTC")).total_seconds() / 86400 for x in (tue, sun)]
    ex = make_examples(f, targets=days)
    i = QUERY_FEATURES.index("log_same_dow_pace_112d")
    assert ex.query[0, i] == pytest.approx(np.log(270 / 300), abs=1e-3)
    assert ex.query[1, i] == pytest.approx(np.log(330 / 300), abs=1e-3)
    assert ex.query[0, QUERY_FEATURES.index("same_dow_runs_112d")] == pytest.approx(16 / 8)
    assert ex.query[0, QUERY_FEATURES.index("last_same_dow_age_w")] == pytest.approx(1.0, abs=0.15)
