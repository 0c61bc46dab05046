"""Scoring race predictions on real all-out efforts: ``sub3 plan race-evaluate``.

**An all-out effort** is a run of one runner whose distance lies within
:data:`BAND_TOLERANCE` (±5 %) of a standard race distance (:data:`BANDS`: 5 km, 10 km, half
marathon, marathon) and that either

* is **named as a race** (:data:`RACE_NAME_RE`: "race", "marathon", "parkrun", "time trial",
  马拉松/半马/全马/比赛/成绩 (result), マラソン/大会/レース ...; the names the history files carry),
  or
* is the runner's **fastest run in that band within ±30 days** (by VDOT, which compares runs of
  slightly different length) **and in the runner's top 5 %** of all their runs of >= 3 km by
  VDOT.

Why: a log seldom says "race", but a run at a race distance that the runner never bettered
within a month and that belongs to the fastest twentieth of everything they ran is one they
ran as hard as they could; the band keeps the distance a race distance (a fast 7 km tempo is
no race), the ±30 days keep one effort per block of training (not three 5 km time trials in a
week), and the top 5 % keeps out a month whose fastest 10 km was an easy one. The definition
uses the whole log (hindsight is fine for choosing *which* runs to score); the prediction of
an effort uses only runs strictly before it: Riegel and VDOT from the best run of the
:data:`LOOKBACK_DAYS` (8 weeks) before, HR-pace from the runs with HR of the 30 days before
(correction factor from the earlier efforts, found by the same rule among the runs before it), max HR estimated from all runs before the effort
(:func:`~sub3coach.plan.race.max_hr_from_history`) — nothing recorded on or after the effort's
start is read. An effort needs :data:`MIN_PRIOR_RUNS` runs in those 8 weeks to be scored.

Error: ``|predicted - actual| / actual`` in % of the actual time. Methods that give no
prediction for an effort (e.g. no run with HR) are counted apart and all methods are also
scored on the efforts every method predicts (the common subset).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sub3coach.errors import Sub3Error
from sub3coach.plan.history import drop_non_runs
from sub3coach.plan.race import (
    HALF_MARATHON_M, MARATHON_M, MIN_EFFORT_DISTANCE_M, max_hr_from_history, predict_hr, predict_race, vdot_array,
)

log = logging.getLogger(__name__)

#: Standard race distances scored, metres.
BANDS: dict[str, float] = {"5k": 5000.0, "10k": 10_000.0, "half": HALF_MARATHON_M, "marathon": MARATHON_M}
#: A run is at a band's distance within this relative tolerance.
BAND_TOLERANCE: float = 0.05
#: The fastest run of its band within this many days before and after.
FASTEST_WINDOW_DAYS: float = 30.0
#: ... and within the runner's top fraction of runs (>= 3 km) by VDOT.
TOP_FRACTION: float = 0.05
#: The prediction reads the runs of this many days before the effort.
LOOKBACK_DAYS: float = 56.0
#: Runs needed in the lookback to score an effort.
MIN_PRIOR_RUNS: int = 3
#: Methods scored, in report order.
METHODS: tuple[str, ...] = ("riegel", "vdot", "hr_pace", "hr_pace_uncorrected")
#: Names that mark a run as a race (case-insensitive).
RACE_NAME_RE = re.compile(
    r"\brace\b|marathon|parkrun|time[ -]?trial|马拉松|半马|全马|比赛|成绩|マラソン|大会|レース", re.IGNORECASE)


def band_of(distance_m: float) -> str | None:
    """The race band (:data:`BANDS`) a distance falls in, or None."""
    for name, d in BANDS.items():
        if abs(distance_m / d - 1.0) <= BAND_TOLERANCE:
            return name
    return None


def race_names(path: str | Path) -> dict[str, set[pd.Timestamp]]:
    """Per runner id, the start times (UTC) of runs whose name matches :data:`RACE_NAME_RE`,
    read from the history files under ``path`` (ids as :func:`~sub3coach.plan.history.load_histories` gives them)."""
    from sub3coach.plan.history import history_files

    out: dict[str, set[pd.Timestamp]] = {}
    reader_log = logging.getLogger("sub3coach.io.history")
    level = reader_log.level
    reader_log.setLevel(logging.ERROR)  # the files' warnings were given once by load_histories
    try:
        _collect_names(history_files(path), out)
    finally:
        reader_log.setLevel(level)
    return out


def _collect_names(files: list[Path], out: dict[str, set[pd.Timestamp]]) -> None:
    from sub3coach.io.history import iter_history
    from sub3coach.plan.history import runner_id_from_name

    for f in files:
        try:
            for s in iter_history(f):
                if s.sport == "run" and s.name and RACE_NAME_RE.search(s.name):
                    uid = s.user_id if s.user_id is not None else runner_id_from_name(f)
                    st = pd.Timestamp(s.start_time)
                    out.setdefault(str(uid), set()).add(st.tz_localize("UTC") if st.tzinfo is None else st.tz_convert("UTC"))
        except Sub3Error as exc:  # unreadable files are reported by load_histories
            log.debug("no names from %s", exc)


def find_efforts(history: pd.DataFrame, named: set[pd.Timestamp] | None = None, *, cleaned: bool = False) -> pd.DataFrame:
    """The all-out efforts of one runner's history (see the module doc).

    Args:
        history: one runner's history table (:data:`~sub3coach.plan.history.HISTORY_COLUMNS`).
        named: start times of runs named as races.
        cleaned: ``history`` already went through :func:`~sub3coach.plan.history.drop_non_runs`.

    Returns:
        The effort rows with extra columns ``band``, ``vdot`` and ``reason`` (``named``,
        ``fastest`` or ``named+fastest``), sorted by start time.
    """
    h = history.copy() if cleaned or not len(history) else drop_non_runs(history)
    h = h.sort_values("start_time", kind="stable")
    h = h[h["distance_m"] >= MIN_EFFORT_DISTANCE_M].reset_index(drop=True)
    if h.empty:
        return h.assign(band=pd.Series([], dtype=object), vdot=pd.Series([], dtype=float), reason=pd.Series([], dtype=object))
    h["vdot"] = vdot_array(h["distance_m"].to_numpy(float), h["duration_s"].to_numpy(float))
    h["band"] = pd.Series([band_of(d) for d in h["distance_m"]], dtype=object)
    top = float(np.quantile(h["vdot"], 1.0 - TOP_FRACTION))
    named = named or set()
    t = h["start_time"].to_numpy(dtype="datetime64[ns]")
    vd = h["vdot"].to_numpy(float)
    win = np.timedelta64(int(FASTEST_WINDOW_DAYS * 86400), "s")
    reasons: list[str | None] = [None] * len(h)
    for name in BANDS:
        idx = np.flatnonzero((h["band"] == name).to_numpy())
        tb, vb = t[idx], vd[idx]
        for k, i in enumerate(idx):
            lo, hi = np.searchsorted(tb, tb[k] - win, "left"), np.searchsorted(tb, tb[k] + win, "right")
            fastest = bool(vb[k] >= top and vb[k] >= vb[lo:hi].max())
            why = [r for r, ok in (("named", h["start_time"].iloc[i] in named), ("fastest", fastest)) if ok]
            reasons[i] = "+".join(why) or None
    h["reason"] = reasons
    return h[h["reason"].notna()].reset_index(drop=True)


def predict_effort(history: pd.DataFrame, start_time: pd.Timestamp, distance_m: float, *,
                   named: set[pd.Timestamp] | None = None, cleaned: bool = False) -> dict[str, Any] | None:
    """Each method's predicted time (s, None when it has none) for a race of ``distance_m`` starting
    at ``start_time``, from the runs strictly before it; None when the 8 weeks before hold fewer
    than :data:`MIN_PRIOR_RUNS` runs. ``cleaned``: ``history`` already went through
    :func:`~sub3coach.plan.history.drop_non_runs` (a causal rule: cleaning the whole history and
    cutting it equals cutting it and cleaning). ``named``: start times of runs named as races.
    The HR-pace correction factor comes from the efforts :func:`find_efforts` finds among the
    runs before it (the same rule applied to those runs only: nothing from the effort or later)."""
    prior = history[history["start_time"] < start_time]
    clean = prior if cleaned else drop_non_runs(prior)
    if (clean["start_time"] >= start_time - timedelta(days=LOOKBACK_DAYS)).sum() < MIN_PRIOR_RUNS:
        return None
    as_of = (start_time - pd.Timedelta(seconds=1)).to_pydatetime()
    max_hr = max_hr_from_history(clean)
    races = find_efforts(clean, named, cleaned=True)  # the efforts one could see before this one
    out: dict[str, Any] = {m: None for m in METHODS}
    out["max_hr_bpm"] = None if max_hr is None else max_hr.bpm
    try:
        pred = predict_race(clean, distance_m, as_of=as_of, clean=False, max_hr=max_hr, races=races, paces=False)
        out.update(riegel=pred.riegel_time_s, vdot=pred.vdot_time_s, hr_pace=pred.hr_time_s)
    except Sub3Error:  # no run >= 3 km in the 8 weeks: only the HR method might predict
        out["hr_pace"] = predict_hr(clean, distance_m, max_hr, as_of=as_of, races=races)[0]
    out["hr_pace_uncorrected"] = predict_hr(clean, distance_m, max_hr, as_of=as_of)[0]
    return out


def _scores(errors: list[float]) -> dict[str, Any]:
    if not errors:
        return {"n": 0, "mae_pct_mean": None, "mae_pct_median": None, "bias_pct_mean": None}
    e = np.asarray(errors, float)
    return {"n": int(e.size), "mae_pct_mean": round(float(np.mean(np.abs(e))), 2),
            "mae_pct_median": round(float(np.median(np.abs(e))), 2), "bias_pct_mean": round(float(np.mean(e)), 2)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Scores of effort rows (each with ``time_s``, ``user_id`` and a prediction per method):
    per method over the efforts it predicts, and over the common subset. Errors are signed
    ``(predicted - actual) / actual`` in %; MAE is the mean/median of their absolute values."""
    def err(r: dict[str, Any], m: str) -> float:
        return 100.0 * (r["predicted_s"][m] - r["time_s"]) / r["time_s"]

    common = [r for r in rows if all(r["predicted_s"][m] is not None for m in METHODS)]
    return {
        "n_efforts": len(rows), "n_runners": len({r["user_id"] for r in rows}),
        "methods": {m: _scores([err(r, m) for r in rows if r["predicted_s"][m] is not None]) for m in METHODS},
        "common": {"n_efforts": len(common), "n_runners": len({r["user_id"] for r in common}),
                   "methods": {m: _scores([err(r, m) for r in common]) for m in METHODS}},
    }


def evaluate_races(runners: Mapping[str, pd.DataFrame], named: Mapping[str, set[pd.Timestamp]] | None = None,
                   *, progress: bool = False) -> dict[str, Any]:
    """Detect every runner's all-out efforts and score each method on them (see the module doc).

    Returns:
        JSON-ready dict: ``definition`` (the constants), ``n_runners_scanned``,
        ``n_efforts_skipped`` (too little history before), ``overall`` and ``bands[band]`` (each
        :func:`summarise`), and ``efforts`` (one row per scored effort with its predictions).
    """
    named = named or {}
    rows: list[dict[str, Any]] = []
    skipped = 0
    items = list(runners.items())
    track = _progress(items, "race efforts") if progress else items
    for uid, hist in track:
        clean = drop_non_runs(hist) if len(hist) else hist
        for e in find_efforts(clean, named.get(uid), cleaned=True).itertuples(index=False):
            pred = predict_effort(clean, e.start_time, float(e.distance_m), named=named.get(uid), cleaned=True)
            if pred is None:
                skipped += 1
                continue
            rows.append({"user_id": uid, "start_time": e.start_time.isoformat(), "band": e.band, "reason": e.reason,
                         "distance_m": round(float(e.distance_m), 1), "time_s": float(e.duration_s),
                         "max_hr_bpm": pred.pop("max_hr_bpm"),
                         "predicted_s": {m: None if pred[m] is None else round(float(pred[m]), 1) for m in METHODS}})
    return {
        "definition": {"bands_m": BANDS, "band_tolerance": BAND_TOLERANCE, "fastest_window_days": FASTEST_WINDOW_DAYS,
                       "top_fraction": TOP_FRACTION, "lookback_days": LOOKBACK_DAYS, "min_prior_runs": MIN_PRIOR_RUNS,
                       "race_name_pattern": RACE_NAME_RE.pattern},
        "n_runners_scanned": len(runners), "n_efforts_skipped": skipped,
        "overall": summarise(rows),
        "bands": {b: summarise([r for r in rows if r["band"] == b]) for b in BANDS},
        "efforts": rows,
    }


def _progress(items: list, label: str):  # type: ignore[no-untyped-def]
    from rich.progress import track

    return track(items, description=label, transient=True)


def evaluate_race_dir(path: str | Path, *, progress: bool = False) -> dict[str, Any]:
    """:func:`evaluate_races` over the histories under ``path`` (unreadable files skipped)."""
    from sub3coach.plan.history import load_histories

    return evaluate_races(load_histories(path, strict=False), race_names(path), progress=progress)
