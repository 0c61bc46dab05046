"""Training load: TRIMP maths and sources, CTL/ATL/TSB/ramp/monotony/strain, zones, caching,
and ``sub3 load`` through Typer's runner."""
from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sub3coach import load as L
from sub3coach.athletes import AthleteProfile, ProfileValue
from sub3coach.errors import Sub3Error
from sub3coach.library import Library
from sub3coach.synth import synthetic_run
from sub3coach.workout import RunSummary, Workout
from tests.conftest import shared_path

runner = CliRunner()
START = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)


# ----- TRIMP maths ---------------------------------------------------------------------------
def test_banister_trimp_known_values() -> None:
    # 60 min at HRr 0.5: men 60 * 0.5 * 0.64 * e^0.96, women 60 * 0.5 * 0.86 * e^0.835
    assert L.trimp_avg(3600, 125, 60, 190, "male") == pytest.approx(60 * 0.5 * 0.64 * math.exp(0.96), rel=1e-9)
    assert L.trimp_avg(3600, 125, 60, 190, "female") == pytest.approx(60 * 0.5 * 0.86 * math.exp(0.835), rel=1e-9)
    assert L.trimp_avg(3600, 125, 60, 190, None) == L.trimp_avg(3600, 125, 60, 190, "male")
    assert L.trimp_avg(3600, 50, 60, 190) == 0.0  # below resting: no load
    assert L.trimp_avg(3600, 250, 60, 190) == pytest.approx(60 * 0.64 * math.exp(1.92))  # clipped at max


def test_trimp_from_samples_sums_each_interval_and_skips_pauses() -> None:
    t = np.arange(0, 3600, 1.0)
    hr = np.where(t < 1800, 130.0, 160.0)
    expect = L.trimp_avg(1800, 130, 50, 190) + L.trimp_avg(1799, 160, 50, 190)  # the last sample holds 0 s
    assert L.trimp_from_samples(t, hr, 50, 190) == pytest.approx(expect, rel=1e-9)
    # a 10-min pause in the recording adds nothing
    t2 = np.concatenate([t[:1800], t[1800:] + 600])
    assert L.trimp_from_samples(t2, hr, 50, 190) == pytest.approx(expect - L.trimp_avg(1, 130, 50, 190), rel=1e-6)
    # not from the average: a varied run costs more than its average HR held steadily (convexity)
    assert L.trimp_from_samples(t, hr, 50, 190) > L.trimp_avg(3599, float(np.mean(hr)), 50, 190)


def test_partial_hr_counts_the_gaps_at_the_mean_and_histogram_matches_samples() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(0, 2400, 1.0)
    hr = 140 + 15 * np.sin(t / 300) + rng.normal(0, 2, t.size)
    exact = float(np.sum(np.diff(t, append=t[-1]) / 60 * L.trimp_weight(L.hr_reserve(hr, 55, 185))))
    assert L.trimp_from_samples(t, hr, 55, 185) == pytest.approx(exact, rel=2e-3)  # 1-BPM bins
    holes = hr.copy()
    holes[::4] = np.nan
    assert L.trimp_from_samples(t, holes, 55, 185) == pytest.approx(exact, rel=0.01)


@given(hr=st.floats(61, 240), dur=st.floats(60, 20000))
def test_trimp_grows_with_hr_and_duration(hr: float, dur: float) -> None:
    a = L.trimp_avg(dur, hr, 60, 190)
    assert a >= 0
    assert L.trimp_avg(dur * 2, hr, 60, 190) == pytest.approx(2 * a)
    assert L.trimp_avg(dur, min(hr + 5, 250), 60, 190) >= a


# ----- CTL / ATL / TSB ----------------------------------------------------------------------
def test_ewma_known_values_and_tsb_is_yesterdays() -> None:
    m = L.load_metrics([100.0, 0, 0])
    a42, a7 = 1 - math.exp(-1 / 42), 1 - math.exp(-1 / 7)
    assert m["ctl"][0] == pytest.approx(100 * a42) and m["atl"][0] == pytest.approx(100 * a7)
    assert m["ctl"][1] == pytest.approx(100 * a42 * (1 - a42))
    assert m["tsb"][0] == 0.0  # the first day starts fresh from nothing
    assert m["tsb"][1] == pytest.approx(m["ctl"][0] - m["atl"][0])
    assert m["tsb"][2] == pytest.approx(m["ctl"][1] - m["atl"][1])


def test_ramp_monotony_and_strain_known_values() -> None:
    x = np.zeros(20)
    x[13] = 70.0
    m = L.load_metrics(x)
    assert m["ramp"][13] == pytest.approx(m["ctl"][13] - m["ctl"][6])
    # the 7 days to day 13: one 70, six 0: mean 10, population sd sqrt(700 - 100)
    assert m["week_load"][13] == 70.0
    assert m["monotony"][13] == pytest.approx(10 / math.sqrt(600))
    assert m["strain"][13] == pytest.approx(70 * 10 / math.sqrt(600))
    assert np.isnan(L.load_metrics(np.full(10, 50.0))["monotony"][9])  # no spread: undefined, not infinite


@settings(max_examples=40, deadline=None)
@given(c=st.floats(1, 500))
def test_constant_load_converges_to_it_and_tsb_never_positive(c: float) -> None:
    m = L.load_metrics(np.full(600, c))
    assert m["ctl"][-1] == pytest.approx(c, rel=1e-5) and m["atl"][-1] == pytest.approx(c, rel=1e-9)
    assert (m["tsb"] <= 1e-9).all()  # fatigue rises faster than fitness
    assert (np.diff(m["ctl"]) >= 0).all()


@settings(max_examples=40, deadline=None)
@given(loads=st.lists(st.floats(0, 400), min_size=1, max_size=120), rest=st.integers(30, 80), a=st.floats(0.1, 10))
def test_load_metrics_properties(loads: list[float], rest: int, a: float) -> None:
    x = np.array(loads)
    m = L.load_metrics(x)
    assert (m["ctl"] >= 0).all() and (m["ctl"] <= max(loads) + 1e-9).all()
    # linear in the load
    np.testing.assert_allclose(L.load_metrics(a * x)["ctl"], a * m["ctl"], rtol=1e-9, atol=1e-9)
    # after a long rest, form is positive when there was any load, and fatigue fades below fitness
    m2 = L.load_metrics(np.concatenate([x, np.zeros(rest)]))
    if x.sum() > 1:
        assert m2["tsb"][-1] > 0
    assert (m2["week_load"] >= -1e-9).all()


def test_daily_series_adds_runs_of_one_day() -> None:
    d0 = date(2025, 1, 1)
    s = L.daily_series([d0, d0, d0 + timedelta(days=2), d0 + timedelta(days=9)], [10, 5, 7, 99], d0, d0 + timedelta(days=3))
    assert s.tolist() == [15, 0, 7, 0]


# ----- zones --------------------------------------------------------------------------------
def _prof(max_hr: ProfileValue, pace: ProfileValue | None = None) -> AthleteProfile:
    none = ProfileValue(None, "default", "unknown")
    return AthleteProfile(name="x", max_hr_bpm=max_hr, resting_hr_bpm=ProfileValue(50.0, "stated", "stated"),
                          threshold_hr_bpm=none, threshold_pace_s_per_km=pace or none, birth_year=none, gender=none)


def test_zones_from_the_profile_and_one_definition_everywhere() -> None:
    from sub3coach import viz
    from sub3coach.hr.predict import ZONE_BOUNDS

    z = L.zones_for(_prof(ProfileValue(200.0, "stated", "stated"), ProfileValue(240.0, "estimated", "effort")))
    assert [(x.name, x.low, x.high) for x in z.hr] == [("Z1", 100, 120), ("Z2", 120, 140), ("Z3", 140, 160), ("Z4", 160, 180), ("Z5", 180, None)]
    assert not z.assumed and z.warning is None
    assert [(x.low, x.high) for x in z.pace] == [(None, 309.6), (309.6, 273.6), (273.6, 254.4), (254.4, 237.6), (237.6, None)]
    secs = z.time_in_hr_zones(np.arange(0, 600, 1.0), np.where(np.arange(600) < 300, 130.0, 185.0))
    assert secs["Z2"] == 300 and secs["Z5"] == 299 and secs["Z0"] == 0
    assert viz.ZONES == L.HR_ZONES and ZONE_BOUNDS == tuple(lo for _, lo, _ in L.HR_ZONES)
    d = L.zones_for(_prof(ProfileValue(L.DEFAULT_MAX_HR_BPM, "default", "population default")))
    assert d.assumed and "190" in d.warning and d.pace is None
    json.dumps(z.to_json(), allow_nan=False)


def test_vdot_threshold_pace_is_the_planners_vdot(tmp_path: Path) -> None:
    """The pace-zone fallback is Daniels' T pace of :func:`vdot_from_history` (one estimator):
    the second-best effort, so one glitched fast run cannot set it."""
    from datetime import timezone as tz

    import pandas as pd

    from sub3coach.plan.history import drop_non_runs, history_from_library
    from sub3coach.plan.race import training_paces, vdot
    from sub3coach.plan.sessions import vdot_from_history
    from sub3coach.workout import RunSummary

    with Library(tmp_path / "lib.duckdb") as lib:
        assert L.vdot_threshold_pace(lib, "nobody") is None
        lib.import_athlete = "ann"
        for k, (d, t) in enumerate([(10_000.0, 3300.0)] * 5 + [(10_000.0, 2700.0)] * 2 + [(10_000.0, 1900.0)]):  # last: a GPS glitch
            lib.add_summary(RunSummary(start_time=datetime(2025, 5, 1 + 2 * k, 7, tzinfo=tz.utc), sport="run",
                                       distance_m=d, duration_s=t, moving_time_s=t, source="history"))
        pv = L.vdot_threshold_pace(lib, "ann")
        hist = drop_non_runs(history_from_library(lib))
    v, why = vdot_from_history(hist, pd.Timestamp("2025-05-16", tz="UTC"))
    assert "second-best" in why and v == pytest.approx(vdot(10_000.0, 2700.0))  # 10 km in 45:00, not the 31:40 glitch
    assert pv is not None and pv.source == "estimated" and pv.value == round(training_paces(v)["T"], 1) and why in pv.method


# ----- per-run TRIMP from a library ---------------------------------------------------------
def _library(tmp_path: Path) -> Path:
    """One athlete: a run with HR, one without, a history row with avg HR and one without."""
    path = tmp_path / "lib.duckdb"
    with Library(path) as lib:
        lib.import_athlete = "ann"
        lib.add_workout(synthetic_run(duration_s=2400, pace_s_per_km=300, seed=1, start=START))
        lib.add_workout(synthetic_run(duration_s=1800, pace_s_per_km=330, seed=2, hr=False, start=START + timedelta(days=2)))
        lib.add_summary(RunSummary(start_time=START + timedelta(days=3), distance_m=10000, duration_s=3000, moving_time_s=3000,
                                   avg_hr_bpm=150))
        lib.add_summary(RunSummary(start_time=START + timedelta(days=5), distance_m=8000, duration_s=2800, moving_time_s=2800))
    return path


def test_trimp_per_source_and_cache(tmp_path: Path) -> None:
    path = _library(tmp_path)
    calls: list[tuple[int, int]] = []
    with Library(path, read_only=True) as lib:
        rep = L.load_report(lib, until=(START + timedelta(days=20)).date(), on_progress=lambda d, n: calls.append((d, n)))
        w = next(lib.iter_workouts(athlete="ann"))
    assert [r.source for r in rep.runs] == ["hr", "predicted", "avg-hr", "predicted-summary"]
    assert calls[-1] == (3, 3)  # the history row with avg HR needs nothing
    used = rep.profile
    assert used.max_hr.source == "estimated" and used.resting_hr.source == "default"
    hr_run, pred, avg, flat = rep.runs
    assert hr_run.trimp == pytest.approx(L.trimp_from_samples(w.time_s, w.hr_bpm, used.rest_bpm, used.max_bpm), rel=2e-3)
    assert avg.trimp == pytest.approx(L.trimp_avg(3000, 150, used.rest_bpm, used.max_bpm), abs=0.01)
    for r in (pred, flat):
        assert 90 < r.mean_hr_bpm < 200 and r.trimp > 10
    assert rep.prediction and "HR model" in rep.prediction
    days = {d.day: d for d in rep.days}
    assert days[START.date()].load == pytest.approx(hr_run.trimp, abs=0.01)
    assert len(rep.days) == 21 and rep.days[0].day == START.date()
    out = rep.to_json()
    json.dumps(out, allow_nan=False)
    assert out["sources"] == {"hr": 1, "predicted": 1, "avg-hr": 1, "predicted-summary": 1}
    assert out["profile"]["max_hr_bpm"]["source"] == "estimated" and out["zones"]["hr"][0]["name"] == "Z1"
    assert sum(w["load"] for w in out["weeks"]) == pytest.approx(sum(r.trimp for r in rep.runs), abs=0.1)

    # second call: everything from the cache, same numbers
    calls.clear()
    with Library(path, read_only=True) as lib:
        again = L.load_report(lib, until=(START + timedelta(days=20)).date(), on_progress=lambda d, n: calls.append((d, n)))
    assert calls == [] and [r.trimp for r in again.runs] == [r.trimp for r in rep.runs]

    # stating a max HR and gender: recorded HR is re-weighed without reading the run again;
    # predictions (whose model takes the stated values) are recomputed
    with Library(path) as lib:
        lib.set_athlete("ann", max_hr_bpm=200, resting_hr_bpm=45, gender="female")
    with Library(path, read_only=True) as lib:
        stated = L.load_report(lib, since=(START + timedelta(days=1)).date(), until=(START + timedelta(days=20)).date(),
                               on_progress=lambda d, n: calls.append((d, n)))
    assert calls[-1] == (2, 2)
    assert stated.profile.max_hr.source == "stated" and stated.profile.sex == "female"
    assert [r.source for r in stated.runs] == ["predicted", "avg-hr", "predicted-summary"]  # --since
    assert stated.days[0].day == (START + timedelta(days=1)).date() and stated.days[0].ctl > 0  # history before counts
    assert stated.runs[1].trimp == pytest.approx(L.trimp_avg(3000, 150, 45, 200, "female"), abs=0.01)


def test_nothing_known_means_190_and_60_said(tmp_path: Path) -> None:
    path = tmp_path / "lib.duckdb"
    with Library(path) as lib:
        # under 3 km: too short for a max HR estimate from its average HR
        lib.add_summary(RunSummary(start_time=START, distance_m=2500, duration_s=900, moving_time_s=900, avg_hr_bpm=150))
    with Library(path, read_only=True) as lib:
        rep = L.load_report(lib, until=START.date())
    assert rep.profile.max_bpm == 190 and rep.profile.rest_bpm == 60
    assert rep.zones.assumed and any("190 BPM" in n for n in rep.notes) and any("60 BPM" in n for n in rep.notes)
    assert rep.runs[0].trimp == pytest.approx(L.trimp_avg(900, 150, 60, 190), abs=0.01)


def test_load_report_errors(tmp_path: Path) -> None:
    path = tmp_path / "lib.duckdb"
    with Library(path) as lib:
        lib.set_athlete("nobody", max_hr_bpm=180)
        with pytest.raises(Sub3Error, match="no runs"):
            L.load_report(lib)
        with pytest.raises(Sub3Error, match="no athlete 'zed'"):
            L.load_report(lib, "zed")


# ----- CLI ----------------------------------------------------------------------------------
def _two_athletes(tmp_path: Path) -> Path:
    path = _library(tmp_path)
    with Library(path) as lib:
        lib.import_athlete = "bo"
        lib.add_summary(RunSummary(start_time=START, distance_m=5000, duration_s=1500, moving_time_s=1500, avg_hr_bpm=160))
    return path


def test_cli_load_json_plot_and_athlete_errors(tmp_path: Path) -> None:
    from sub3coach.cli import app

    lib = str(_two_athletes(tmp_path))
    png = tmp_path / "out" / "load.png"
    r = runner.invoke(app, ["load", "--athlete", "ann", "--library", lib, "--until", "2025-03-20", "--plot", str(png), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["athlete"] == "ann" and out["sources"]["hr"] == 1 and out["days"][-1]["day"] == "2025-03-20"
    assert out["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = runner.invoke(app, ["load", "-a", "bo", "--library", lib, "--since", "2025-03-01", "--until", "2025-03-09"])
    assert r.exit_code == 0, r.output
    assert "by week" in r.stdout and "2025-03-03" in r.stdout and "TSB" in r.stdout
    # bo states nothing and has no HR samples: max HR from the average HR of the 5 km row (a lower bound)
    from sub3coach.athletes import estimate_max_hr_from_averages

    bo_max = estimate_max_hr_from_averages([5000.0], [1500.0], [160.0]).value
    assert "max HR unknown" not in r.stderr and 160 < bo_max < 185
    assert "HR zones (% of max HR" in r.stdout and f"max HR {bo_max:.0f}, estimated" in r.stdout
    r = runner.invoke(app, ["athletes", "show", "ann", "--library", lib, "--json"])
    assert r.exit_code == 0, r.output
    z = json.loads(r.stdout)["zones"]
    assert z["max_hr_bpm"]["source"] == "estimated" and len(z["hr"]) == 5 and z["hr"][3]["low"] == round(0.8 * z["max_hr_bpm"]["value"], 1)
    r = runner.invoke(app, ["athletes", "show", "bo", "--library", lib])
    assert "pace zones (Friel" in r.stdout  # bo: from the VDOT of a 5 km history row
    r = runner.invoke(app, ["athletes", "show", "bo", "--library", lib, "--json"])
    assert json.loads(r.stdout)["zones"]["threshold_pace_s_per_km"]["method"].startswith("Daniels' T pace of your VDOT")
    r = runner.invoke(app, ["load", "--library", lib])
    assert r.exit_code != 0 and isinstance(r.exception, Sub3Error) and "name one with --athlete" in str(r.exception)
    r = runner.invoke(app, ["load", "--athlete", "zed", "--library", lib])
    assert isinstance(r.exception, Sub3Error) and "no athlete 'zed'" in str(r.exception)
    r = runner.invoke(app, ["load", "--athlete", "ann", "--library", lib, "--since", "2025-13-01"])
    assert r.exit_code == 2


def test_cli_load_through_main_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    lib = str(_two_athletes(tmp_path))
    p = subprocess.run([sys.executable, "-m", "sub3coach.cli", "load", "--library", lib], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and p.stderr.strip().count("\n") == 0
    assert p.stderr.startswith("sub3: error: library holds 2 athletes (ann, bo): name one with --athlete")


# ----- a real training log ------------------------------------------------------------------
@pytest.mark.shared
def test_load_over_a_real_history(tmp_path: Path) -> None:
    from sub3coach.importer import Importer, expand

    src = shared_path("histories", "running_page-d-73aebc.json")
    path = tmp_path / "lib.duckdb"
    with Library(path) as lib:
        lib.import_athlete = "real"
        Importer(lib, workers=1).run(list(expand([src])))
    with Library(path, read_only=True) as lib:
        rep = L.load_report(lib, "real")
        n_rows = len(lib.runs(sport="run", athlete="real"))
    src_counts = rep.sources()
    assert len(rep.runs) == n_rows > 40
    assert src_counts.get("avg-hr", 0) >= 5 and src_counts.get("predicted-summary", 0) >= 20
    assert all(r.trimp >= 0 for r in rep.runs) and sum(r.trimp > 0 for r in rep.runs) >= n_rows - src_counts.get("none", 0)
    gaps = {(b.day - a.day).days for a, b in zip(rep.days, rep.days[1:])}
    assert gaps == {1} and rep.days[-1].day == rep.runs[-1].day  # an old log ends at its last run
    assert max(d.ctl for d in rep.days) > 5
    json.dumps(rep.to_json(), allow_nan=False)


# ----- zones in the other commands; the cached profile ---------------------------------------
def test_show_and_hr_predict_use_the_run_athletes_zones(tmp_path: Path) -> None:
    from sub3coach.cli import app

    lib = str(_two_athletes(tmp_path))
    with Library(lib, read_only=True) as l:
        rows = l.runs(athlete="ann")
    with_hr, no_hr = rows[0]["id"], rows[1]["id"]
    r = runner.invoke(app, ["show", with_hr, "--library", lib, "--plot", str(tmp_path / "a.png")])
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr  # ann's max HR is estimated from her run with HR
    r = runner.invoke(app, ["hr", "predict", no_hr, "--library", lib, "--json"])  # two athletes: the run's own is used
    assert r.exit_code == 0, r.output
    est = L.athlete_zones(Library(lib, read_only=True), "ann").max_hr_bpm
    summary = json.loads(r.stdout)["workouts"][0]
    assert summary["max_hr_bpm_for_zones"] == pytest.approx(est) and not summary["max_hr_assumed"]
    assert "warning" not in r.stderr
    # nothing known about the runner: 190 BPM, said in one warning line
    alone = tmp_path / "alone.duckdb"
    with Library(alone) as l:
        l.add_workout(synthetic_run(duration_s=1200, seed=5, hr=False, start=START))
        rid = l.runs()[0]["id"]
    r = runner.invoke(app, ["show", rid, "--library", str(alone), "--plot", str(tmp_path / "b.png")])
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith("sub3: warning: max HR unknown: zones assume 190 BPM") and r.stderr.count("\n") == 1


def test_profile_is_cached_and_refreshed_by_new_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sub3coach import athletes as A

    path = _library(tmp_path)
    with Library(path, read_only=True) as lib:
        first = A.profile(lib, "ann")
    calls = []
    real = A.build_profile
    monkeypatch.setattr(A, "build_profile", lambda *a, **k: calls.append(1) or real(*a, **k))
    with Library(path, read_only=True) as lib:
        assert A.profile(lib, "ann").to_dict() == first.to_dict() and calls == []
    with Library(path) as lib:
        lib.add_workout(synthetic_run(duration_s=1800, seed=9, start=START + timedelta(days=9)))
    with Library(path, read_only=True) as lib:
        assert A.profile(lib, "ann").runs["runs"] == first.runs["runs"] + 1 and calls == [1]
    with Library(path) as lib:
        lib.set_athlete("ann", max_hr_bpm=201)
    with Library(path, read_only=True) as lib:
        assert A.profile(lib, "ann").max_hr_bpm == ProfileValue(201.0, "stated", "stated by the athlete")


def test_since_after_the_end_is_one_clear_error(tmp_path: Path) -> None:
    path = _library(tmp_path)
    with Library(path, read_only=True) as lib, pytest.raises(Sub3Error, match="no days to report"):
        L.load_report(lib, since=date(2025, 4, 1), until=date(2025, 3, 20))
    with Library(path, read_only=True) as lib, pytest.raises(Sub3Error, match="before ann's first run"):
        L.load_report(lib, until=date(2020, 1, 1))
