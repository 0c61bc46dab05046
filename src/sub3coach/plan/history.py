"""Per-runner training histories as pandas tables, and the per-run features the planner reads.

A *history* is one :class:`pandas.DataFrame` per runner, one row per run, sorted by start time
(:data:`HISTORY_COLUMNS`): ``start_time`` (UTC ``Timestamp``), ``distance_m``, ``duration_s``
(moving time, else elapsed), ``pace_s_per_km``, ``elevation_gain_m`` (NaN when unknown),
``avg_hr_bpm`` (NaN when unknown; never used by the planner's features), ``user_id``.

Sources: a :class:`~sub3coach.library.Library` (:func:`history_from_library`), or history files
or a folder of them (:func:`load_histories`; every format :func:`sub3coach.io.history.iter_history`
reads, the many-runner table split by athlete id). Only runs (sport ``run``) are kept, and
only rows passing the sanity filters: average pace within :data:`PACE_RANGE_S_PER_KM`
(2:30-15:00 /km) and distance within :data:`DISTANCE_RANGE_M` (0.5-100 km). Two rows starting
within a minute of each other are one run (the first is kept). :func:`add_features` also drops
rows that are not runs *for this runner* (:func:`non_run_mask`: over 1.75x slower or 1.6x faster
than the quicker quartile of their previous 15 rows: walks, rides, a watch left running), with
a causal rule that reads only earlier rows.

Features (:func:`add_features`, pure pandas, no I/O), per run:

* ``dow_sin``/``dow_cos`` and ``hour_sin``/``hour_cos``: time of week, cyclic;
* ``gain_m`` (0 when unknown) and ``gain_known`` (1/0);
* ``gap_days``: days since the previous run (:data:`MAX_GAP_DAYS` for the first, capped there);
* ``ref_pace_s_per_km``: the runner's median pace over the **previous** 28 days (the run itself
  excluded; the median of all earlier runs when none is in the window, the run's own pace for
  the very first run); ``ref_distance_m`` likewise for distance;
* ``rel_pace`` = pace / ref pace, ``rel_distance`` = distance / ref distance;
* ``type``: the workout type, from pace and distance only (never HR), see :func:`classify_run`.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sub3coach.errors import CorruptFile, Sub3Error
from sub3coach.workout import RunSummary

log = logging.getLogger(__name__)

#: Plausible average pace of a run, seconds per km (2:30 to 15:00 /km).
PACE_RANGE_S_PER_KM: tuple[float, float] = (150.0, 900.0)
#: Plausible distance of a run, metres (0.5 to 100 km).
DISTANCE_RANGE_M: tuple[float, float] = (500.0, 100_000.0)
#: Window of the runner's "recent" reference pace and distance, days.
REF_WINDOW_DAYS: float = 28.0
#: ``gap_days`` of a runner's first run, and the cap of every gap, days.
MAX_GAP_DAYS: float = 30.0
#: Two rows starting closer than this are the same run, seconds.
DUPLICATE_START_S: float = 60.0
#: A run this many times slower than the runner's recent median pace is not a run (walk, hike).
NON_RUN_SLOW_FACTOR: float = 1.75
#: A run this many times faster than the runner's recent median pace is not a run (ride, GPS glitch).
NON_RUN_FAST_FACTOR: float = 1.6
#: Earlier rows needed before :func:`non_run_mask` judges a run.
NON_RUN_MIN_PRIOR: int = 5
#: How many previous rows give :func:`non_run_mask` its reference pace.
NON_RUN_WINDOW: int = 15

#: Workout types, in the order used by the model's type head.
WORKOUT_TYPES: tuple[str, ...] = ("recovery", "easy", "long", "tempo", "interval", "race")
#: Types that count as a hard day for the coach rules.
HARD_TYPES: frozenset[str] = frozenset({"long", "tempo", "interval", "race"})

HISTORY_COLUMNS: tuple[str, ...] = (
    "user_id", "start_time", "distance_m", "duration_s", "pace_s_per_km", "elevation_gain_m", "avg_hr_bpm",
)
#: Per-run numeric features (beside ``type``) added by :func:`add_features`.
FEATURE_COLUMNS: tuple[str, ...] = (
    "dow_sin", "dow_cos", "hour_sin", "hour_cos", "gain_m", "gain_known", "gap_days",
    "ref_pace_s_per_km", "ref_distance_m", "rel_pace", "rel_distance",
)

_RUNNER_ID_RE = re.compile(r"d-[0-9a-f]{6}")


# --------------------------------------------------------------------------- workout type
def classify_run(rel_pace: float, rel_distance: float, distance_m: float) -> str:
    """The workout type of one run from pace and distance relative to the runner's recent runs.

    ``rel_pace`` = pace / the runner's 28-day median pace (lower is faster), ``rel_distance`` =
    distance / their 28-day median distance. Rules, first match wins:

    * ``race``: rel_pace <= 0.90 and distance >= 4.5 km (a hard sustained effort);
    * ``interval``: rel_pace <= 0.96 and rel_distance < 0.75 (short and fast: the average pace
      of a session with reps and jogs);
    * ``tempo``: rel_pace <= 0.96;
    * ``long``: rel_distance >= 1.4 and distance >= 10 km;
    * ``recovery``: rel_pace >= 1.08, or rel_pace >= 1.03 and rel_distance < 0.6;
    * ``easy``: everything else.
    """
    if not (math.isfinite(rel_pace) and math.isfinite(rel_distance)):
        return "easy"
    if rel_pace <= 0.90 and distance_m >= 4500.0:
        return "race"
    if rel_pace <= 0.96:
        return "interval" if rel_distance < 0.75 else "tempo"
    if rel_distance >= 1.4 and distance_m >= 10_000.0:
        return "long"
    if rel_pace >= 1.08 or (rel_pace >= 1.03 and rel_distance < 0.6):
        return "recovery"
    return "easy"


# --------------------------------------------------------------------------- tables
def empty_history() -> pd.DataFrame:
    """A history with no rows and the right columns."""
    return pd.DataFrame({
        "user_id": pd.Series([], dtype=object),
        "start_time": pd.Series([], dtype="datetime64[ns, UTC]"),
        **{c: pd.Series([], dtype=float) for c in HISTORY_COLUMNS[2:]},
    })


def runs_frame(summaries: Iterable[RunSummary], *, user_id: str | None = None, label: str | None = None) -> pd.DataFrame:
    """The sanity-filtered history table of some run summaries (all one runner or many).

    Args:
        summaries: :class:`RunSummary` rows of any sport (non-runs are dropped).
        user_id: id for rows whose ``user_id`` is None (default ``"me"``).
        label: file name for log messages.

    Returns:
        A table with :data:`HISTORY_COLUMNS`, sorted by ``user_id`` then ``start_time``.
    """
    rows = []
    n_runs = 0
    for s in summaries:
        if s.sport != "run":
            continue
        n_runs += 1
        pace = s.avg_pace_s_per_km
        d = s.distance_m
        if pace is None or d is None:
            continue
        if not (PACE_RANGE_S_PER_KM[0] <= pace <= PACE_RANGE_S_PER_KM[1] and DISTANCE_RANGE_M[0] <= d <= DISTANCE_RANGE_M[1]):
            continue
        rows.append((
            s.user_id if s.user_id is not None else (user_id or "me"),
            s.start_time,
            float(d),
            float(s.moving_time_s or s.duration_s),  # type: ignore[arg-type]
            float(pace),
            float(s.elevation_gain_m) if s.elevation_gain_m is not None else np.nan,
            float(s.avg_hr_bpm) if s.avg_hr_bpm is not None else np.nan,
        ))
    if n_runs and len(rows) < n_runs:
        log.info("%s: %d of %d runs outside pace 2:30-15:00/km or distance 0.5-100 km, left out",
                 label or "history", n_runs - len(rows), n_runs)
    if not rows:
        return empty_history()
    df = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    df["start_time"] = pd.to_datetime(df["start_time"], utc=True)
    df["user_id"] = df["user_id"].astype(str)
    df = df.sort_values(["user_id", "start_time"], kind="stable").reset_index(drop=True)
    # one run recorded twice (e.g. two exports): keep the first of rows starting within a minute
    dt = df.groupby("user_id")["start_time"].diff().dt.total_seconds()
    return df[~(dt < DUPLICATE_START_S)].reset_index(drop=True)


def split_runners(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One history table per ``user_id`` (each sorted by start time, index reset)."""
    return {str(uid): g.reset_index(drop=True) for uid, g in df.groupby("user_id", sort=True)}


def runner_id_from_name(path: str | Path) -> str:
    """A runner id for a single-runner history file: its ``d-xxxxxx`` part, else the file stem."""
    name = Path(path).name
    m = _RUNNER_ID_RE.search(name)
    return m.group(0) if m else Path(name).stem.split(".")[0]


def history_files(path: str | Path) -> list[Path]:
    """The history files under ``path`` (a file, or a folder searched recursively).

    ``PROVENANCE.csv``, README files and hidden files are not histories and are skipped.

    Raises:
        Sub3Error: the path does not exist or the folder holds no candidate file.
    """
    p = Path(path)
    if not p.exists():
        raise Sub3Error("no such file or folder", str(p))
    if p.is_file():
        return [p]
    files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                   and f.suffix.lower() in (".csv", ".json", ".gz") and f.name.upper() != "PROVENANCE.CSV")
    if not files:
        raise Sub3Error("no history files (.csv/.json) in this folder", str(p))
    return files


def load_histories(path: str | Path, *, strict: bool = True) -> dict[str, pd.DataFrame]:
    """Per-runner histories from a history file or a folder of them.

    Single-runner files are named after their runner (:func:`runner_id_from_name`); the
    many-runner table is split by athlete id. Runners found in several files are merged.

    Args:
        path: a history file (any format :func:`~sub3coach.io.history.iter_history` reads)
            or a folder of them.
        strict: raise on an unreadable file (else log it and go on; a folder where no file is
            readable raises "no readable history in PATH" after the warnings).

    Raises:
        CorruptFile: an unreadable file (empty, wrong columns, mixed units, future dates...), or
            a readable one without a single usable run.
        Sub3Error: missing path.
    """
    from sub3coach.io.history import iter_history

    frames = []
    errors: list[Sub3Error] = []
    folder = Path(path).is_dir()
    for f in history_files(path):
        try:
            summaries = list(iter_history(f))
            df = runs_frame(summaries, user_id=runner_id_from_name(f), label=str(f))
            if df.empty:
                n_runs = sum(s.sport == "run" for s in summaries)
                raise CorruptFile(str(f), "no usable runs (need sport run, pace 2:30-15:00/km, distance 0.5-100 km)"
                                          + (f"; {n_runs} runs were outside these ranges" if n_runs else ""))
        except Sub3Error as exc:
            if strict or not folder:  # a single file: its error, once
                raise
            log.warning("skipping %s", exc)
            errors.append(exc)
            continue
        frames.append(df)
    if not frames:
        if errors:  # each file was named by its warning: one line for the folder
            raise Sub3Error(f"no readable history in {path}")
        raise Sub3Error("no usable runs", str(path))
    allruns = pd.concat(frames, ignore_index=True).sort_values(["user_id", "start_time"], kind="stable")
    return split_runners(allruns)


def history_from_library(lib: object, *, user_id: str | None = None) -> pd.DataFrame:
    """The (sanity-filtered) run history stored in a :class:`~sub3coach.library.Library`.

    All runs are treated as one runner's unless ``user_id`` selects one (a personal library
    mixes ``None`` user ids from device files with ids from history files).

    Raises:
        Sub3Error: the library holds no usable run.
    """
    summaries = lib.summaries(sport="run", user_id=user_id)  # type: ignore[attr-defined]
    for s in summaries:
        s.user_id = user_id or "me"
    df = runs_frame(summaries, user_id=user_id or "me", label=str(getattr(lib, "path", "library")))
    if df.empty:
        raise Sub3Error("no usable runs in the library: import a history or some runs first",
                        str(getattr(lib, "path", "")) or None)
    return df


def load_history(path: str | Path) -> pd.DataFrame:
    """One runner's history from one file; a many-runner file must hold one runner only.

    Raises:
        Sub3Error: several runners in the file (name one: use :func:`load_histories`).
    """
    runners = load_histories(path)
    if len(runners) > 1:
        raise Sub3Error(f"holds {len(runners)} runners ({', '.join(list(runners)[:3])}...); "
                        "pass a one-runner history", str(path))
    return next(iter(runners.values()))


# --------------------------------------------------------------------------- features
def _trailing_median(t_days: np.ndarray, x: np.ndarray, window: float) -> np.ndarray:
    """For each i, the median of x[j] over earlier runs j < i with t[i]-window <= t[j]; the
    median of all earlier runs when none is in the window; x[i] itself for i = 0."""
    n = x.size
    out = np.empty(n)
    lo = 0
    for i in range(n):
        while lo < i and t_days[lo] < t_days[i] - window:
            lo += 1
        if lo < i:
            out[i] = np.median(x[lo:i])
        elif i > 0:
            out[i] = np.median(x[:i])
        else:
            out[i] = x[0]
    return out


def non_run_mask(df: pd.DataFrame) -> np.ndarray:
    """Which rows of one runner's history (sorted by time) are not runs for this runner.

    A row logged as a run whose pace is more than :data:`NON_RUN_SLOW_FACTOR` times slower (a
    walk, a hike, a watch left running) or :data:`NON_RUN_FAST_FACTOR` times faster (a bike or
    car ride, a GPS glitch) than the reference pace: the quicker quartile (25th percentile) of the
    runner's previous :data:`NON_RUN_WINDOW` rows, flagged or not. The quartile rather than the
    median keeps the reference on running pace when up to three quarters of the window are
    walks or hikes. The rule is causal: it reads only earlier rows, so it is decided when the run
    is recorded; and because flagged rows stay in the window, a runner whose pace changes for good
    (or whose log starts with walks) is followed after a few rows. Rows before
    :data:`NON_RUN_MIN_PRIOR` earlier rows exist are kept.
    """
    n = len(df)
    flag = np.zeros(n, bool)
    pace = df["pace_s_per_km"].to_numpy(dtype=float) if n else np.zeros(0)
    for i in range(NON_RUN_MIN_PRIOR, n):
        ref = float(np.percentile(pace[max(0, i - NON_RUN_WINDOW):i], 25))
        flag[i] = pace[i] > NON_RUN_SLOW_FACTOR * ref or pace[i] < ref / NON_RUN_FAST_FACTOR
    return flag


def drop_non_runs(df: pd.DataFrame, *, label: str | None = None) -> pd.DataFrame:
    """One runner's history without the rows :func:`non_run_mask` flags (sorted, index reset)."""
    out = df.sort_values("start_time", kind="stable").reset_index(drop=True)
    flag = non_run_mask(out)
    if flag.any():
        log.info("%s: %d of %d runs are over %gx slower or %gx faster than the runner's recent median pace "
                 "(walks, rides, paused watches) and are left out", label or str(out["user_id"].iloc[0]),
                 int(flag.sum()), len(out), NON_RUN_SLOW_FACTOR, NON_RUN_FAST_FACTOR)
    return out[~flag].reset_index(drop=True)


def add_features(df: pd.DataFrame, *, clean: bool = True) -> pd.DataFrame:
    """Add :data:`FEATURE_COLUMNS` and ``type`` to one runner's history (sorted by time).

    With ``clean`` (the default, used by training, evaluation and suggestions alike) rows that
    are not runs for this runner are dropped first (:func:`drop_non_runs`). Only runs before
    each run enter its reference pace/distance, so the features of a run never depend on the
    future. Returns a new table; the input is not changed.
    """
    out = (drop_non_runs(df) if clean and len(df) else df.sort_values("start_time", kind="stable").reset_index(drop=True)).copy()
    n = len(out)
    if n == 0:
        for c in FEATURE_COLUMNS:
            out[c] = pd.Series([], dtype=float)
        out["type"] = pd.Series([], dtype=object)
        return out
    st = out["start_time"]
    dow = st.dt.day_of_week.to_numpy(dtype=float)
    hour = (st.dt.hour + st.dt.minute / 60.0).to_numpy(dtype=float)
    out["dow_sin"] = np.sin(2 * np.pi * dow / 7.0)
    out["dow_cos"] = np.cos(2 * np.pi * dow / 7.0)
    out["hour_sin"] = np.sin(2 * np.pi * hour / 24.0)
    out["hour_cos"] = np.cos(2 * np.pi * hour / 24.0)
    gain = out["elevation_gain_m"].to_numpy(dtype=float)
    out["gain_known"] = np.isfinite(gain).astype(float)
    out["gain_m"] = np.where(np.isfinite(gain), gain, 0.0)
    t_days = epoch_days(st)
    gap = np.diff(t_days, prepend=t_days[0] - MAX_GAP_DAYS)
    out["gap_days"] = np.clip(gap, 0.0, MAX_GAP_DAYS)
    pace = out["pace_s_per_km"].to_numpy(dtype=float)
    dist = out["distance_m"].to_numpy(dtype=float)
    ref_p = _trailing_median(t_days, pace, REF_WINDOW_DAYS)
    ref_d = _trailing_median(t_days, dist, REF_WINDOW_DAYS)
    out["ref_pace_s_per_km"] = ref_p
    out["ref_distance_m"] = ref_d
    out["rel_pace"] = pace / ref_p
    out["rel_distance"] = dist / ref_d
    out["type"] = [classify_run(a, b, c) for a, b, c in zip(out["rel_pace"], out["rel_distance"], dist)]
    return out


def epoch_days(start_time: pd.Series | Sequence[pd.Timestamp]) -> np.ndarray:
    """Start times as float days since the unix epoch (UTC)."""
    st = pd.to_datetime(pd.Series(start_time), utc=True)
    return ((st - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy() / 86400.0).astype(float)


# --------------------------------------------------------------------------- model examples
#: Most recent runs the model reads before a target (most recent first).
CONTEXT_RUNS: int = 16
#: How far back those runs may be, days (the seed read one week; four give the weekly pattern).
CONTEXT_DAYS: float = 28.0
#: Per-run (token) features the model reads, in order (types one-hot at the end).
TOKEN_FEATURES: tuple[str, ...] = (
    "log_pace_vs_ref", "log_distance_vs_ref", "log_distance_10k", "days_before_w",
    "dow_sin", "dow_cos", "hour_sin", "hour_cos", "gain_per_km", "gain_known", "log_own_rel_pace",
) + tuple(f"type_{t}" for t in WORKOUT_TYPES)
#: Features of the run being predicted (the decoder's query), in order: its weekday and start
#: hour (a suggestion uses the runner's usual hour), days since the last run, and the runner's
#: recent pace, distance and volume. All known before the run.
QUERY_FEATURES: tuple[str, ...] = (
    "dow_sin", "dow_cos", "hour_sin", "hour_cos", "gap_w", "log_ref_pace_5min", "log_ref_distance_10k", "runs_7d",
    "log1p_km_7d", "log1p_km_28d_per_week", "n_context",
    # the runner's habits, from runs before the target (log ratios to the reference pace; 0 = none)
    "log_med_pace_56d", "log_med_pace_112d", "log_med_pace_365d", "log_q10_pace_28d", "log_q90_pace_28d",
    "log_same_dow_pace_112d", "same_dow_runs_112d", "log_same_dow_distance_112d",
    "log_same_hour_pace_112d", "same_hour_runs_112d", "log_last_same_dow_pace", "last_same_dow_age_w",
    "since_fast_w", "since_long_w",
)
#: Window of the habit features (same weekday, same hour), days.
HABIT_DAYS: float = 112.0
#: Runs starting within this many hours of the target's hour count as "same hour".
SAME_HOUR_H: float = 1.5


class Examples:
    """Model inputs and targets for a set of (runner, day) targets; numpy arrays, one row each.

    Attributes:
        tokens: ``[M, N, F]`` float32 features of the previous runs, most recent first, zero
            padded; mask: ``[M, N]`` bool, True for a real run.
        query: ``[M, Q]`` float32 features of the target day.
        ref_pace: ``[M]`` the runner's median pace over the 28 days before the target, s/km
            (the normaliser of the pace target, and the ``median_28d`` baseline).
        last_pace: ``[M]`` pace of the last run before the target, s/km.
        mean7_pace: ``[M]`` mean pace of the runs in the 7 days before (the last run's when
            none), s/km.
        target_pace: ``[M]`` actual pace, s/km (NaN when unknown, e.g. a suggestion).
        target_type: ``[M]`` index into :data:`WORKOUT_TYPES` (-1 unknown).
        target_gap: ``[M]`` days from the last run to the target.
        user_id: ``[M]`` runner ids; target_day: ``[M]`` target times, unix days.
    """

    FIELDS = ("tokens", "mask", "query", "ref_pace", "last_pace", "mean7_pace", "target_pace",
              "target_type", "target_gap", "user_id", "target_day")

    def __init__(self, **arrays: np.ndarray) -> None:
        for f in self.FIELDS:
            setattr(self, f, arrays[f])

    def __len__(self) -> int:
        return int(self.ref_pace.shape[0])

    def subset(self, idx: np.ndarray | slice) -> "Examples":
        """The examples at ``idx`` (index array, boolean mask or slice)."""
        return Examples(**{f: getattr(self, f)[idx] for f in self.FIELDS})

    @staticmethod
    def concat(parts: Sequence["Examples"], n_context: int = CONTEXT_RUNS) -> "Examples":
        """One set from several (an empty set when ``parts`` is empty)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Examples(
                tokens=np.zeros((0, n_context, len(TOKEN_FEATURES)), np.float32), mask=np.zeros((0, n_context), bool),
                query=np.zeros((0, len(QUERY_FEATURES)), np.float32), ref_pace=np.zeros(0), last_pace=np.zeros(0),
                mean7_pace=np.zeros(0), target_pace=np.zeros(0), target_type=np.zeros(0, np.int64),
                target_gap=np.zeros(0), user_id=np.zeros(0, dtype=object), target_day=np.zeros(0))
        return Examples(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in Examples.FIELDS})


def _habits(T: float, end: int, t: np.ndarray, log_pace: np.ndarray, log_dist: np.ndarray, run_dow: np.ndarray,
            run_hour: np.ndarray, log_ref_p: float, log_ref_d: float, dow: int, hour: float) -> list[float]:
    """The habit part of :data:`QUERY_FEATURES` for a target at unix day ``T`` whose earlier
    runs are ``[:end]`` (log paces/distances, weekdays, start hours); pace and distance as log
    ratios to the reference (0 when there is no such run), counts scaled to about 1, ages in weeks."""
    def med(sel: np.ndarray, x: np.ndarray, ref: float) -> float:
        return float(np.median(x[sel])) - ref if sel.size else 0.0

    def since(a: int) -> int:
        return int(np.searchsorted(t[:end], T - a, side="left"))

    out: list[float] = []
    for w in (56, 112, 365):
        a = since(w)
        out.append(med(np.arange(a, end), log_pace, log_ref_p))
    a28 = since(28)
    rel28 = log_pace[a28:end] - log_ref_p
    out += [float(np.percentile(rel28, 10)), float(np.percentile(rel28, 90))] if rel28.size else [0.0, 0.0]
    ah = since(int(HABIT_DAYS))
    win = np.arange(ah, end)
    same_dow = win[run_dow[ah:end] == dow]
    out += [med(same_dow, log_pace, log_ref_p), same_dow.size / 8.0, med(same_dow, log_dist, log_ref_d)]
    dh = np.abs((run_hour[ah:end] - hour + 12.0) % 24.0 - 12.0)
    same_hour = win[dh <= SAME_HOUR_H]
    out += [med(same_hour, log_pace, log_ref_p), same_hour.size / 16.0]
    prev = np.flatnonzero(run_dow[:end] == dow)
    if prev.size:
        j = int(prev[-1])
        out += [float(log_pace[j]) - log_ref_p, min((T - t[j]) / 7.0, 8.0)]
    else:
        out += [0.0, 8.0]
    fast = np.flatnonzero(log_pace[:end] - log_ref_p < math.log(0.96))
    long = np.flatnonzero(log_dist[:end] - log_ref_d > math.log(1.4))
    out.append(min((T - t[fast[-1]]) / 7.0, 4.0) if fast.size else 4.0)
    out.append(min((T - t[long[-1]]) / 7.0, 4.0) if long.size else 4.0)
    return out


def make_examples(
    featured: pd.DataFrame,
    *,
    targets: Sequence[float] | None = None,
    n_context: int = CONTEXT_RUNS,
    context_days: float = CONTEXT_DAYS,
    min_history_days: float = 0.0,
    allow_stale: bool = False,
) -> Examples:
    """Examples for one runner (a table from :func:`add_features`).

    Args:
        featured: the runner's runs with features, sorted by start time.
        targets: unix days to predict (a planned day); ``None`` = every run of the history,
            each predicted from the runs before it (pace, type and gap known).
        n_context: at most this many previous runs (most recent first).
        context_days: previous runs older than this are not read.
        min_history_days: skip targets less than this many days after the runner's first run
            (the evaluation uses 28: "at least four weeks of prior history").
        allow_stale: when no run is within ``context_days`` of a target, read the last runs
            anyway (for suggestions after a break) instead of skipping the target.

    A target with no earlier run, or (unless ``allow_stale``) none within ``context_days``, is
    skipped.
    """
    uid = str(featured["user_id"].iloc[0]) if len(featured) else ""
    t = epoch_days(featured["start_time"]) if len(featured) else np.zeros(0)
    pace = featured["pace_s_per_km"].to_numpy(float)
    dist = featured["distance_m"].to_numpy(float)
    n_tok = len(TOKEN_FEATURES)
    run_feats = np.zeros((len(featured), n_tok), np.float64)
    if len(featured):
        run_feats[:, 2] = np.log(dist / 10_000.0)
        for k, c in ((4, "dow_sin"), (5, "dow_cos"), (6, "hour_sin"), (7, "hour_cos"), (9, "gain_known")):
            run_feats[:, k] = featured[c].to_numpy(float)
        run_feats[:, 8] = np.clip(featured["gain_m"].to_numpy(float) / (dist / 1000.0), 0.0, 100.0) / 10.0
        run_feats[:, 10] = np.log(featured["rel_pace"].to_numpy(float))
        tidx = np.array([WORKOUT_TYPES.index(x) for x in featured["type"]], dtype=np.int64)
        run_feats[np.arange(len(featured)), 11 + tidx] = 1.0
    else:
        tidx = np.zeros(0, np.int64)
    if targets is None:
        tgt = t
        known = True
    else:
        tgt = np.asarray(targets, dtype=float)
        known = False
    log_pace, log_dist = np.log(pace), np.log(dist)
    if len(featured):
        run_dow = featured["start_time"].dt.day_of_week.to_numpy(dtype=np.int64)
        run_hour = (featured["start_time"].dt.hour + featured["start_time"].dt.minute / 60.0).to_numpy(dtype=float)
    else:
        run_dow, run_hour = np.zeros(0, np.int64), np.zeros(0)
    rows: dict[str, list] = {f: [] for f in Examples.FIELDS}
    for k, T in enumerate(tgt):
        end = k if known else int(np.searchsorted(t, T, side="left"))  # runs strictly before T
        if end == 0 or (t.size and T - t[0] < min_history_days):
            continue
        lo = int(np.searchsorted(t[:end], T - context_days, side="left"))
        if lo >= end:
            if not allow_stale:
                continue
            win = slice(max(0, end - n_context), end)
            ref_p, ref_d = float(np.median(pace[:end])), float(np.median(dist[:end]))
        else:
            win = slice(max(lo, end - n_context), end)
            ref_p, ref_d = float(np.median(pace[lo:end])), float(np.median(dist[lo:end]))
        idx = np.arange(win.start, win.stop)[::-1]  # most recent first
        tok = np.zeros((n_context, n_tok), np.float32)
        tok[: idx.size] = run_feats[idx]
        tok[: idx.size, 0] = np.log(pace[idx] / ref_p)
        tok[: idx.size, 1] = np.log(dist[idx] / ref_d)
        tok[: idx.size, 3] = (T - t[idx]) / 7.0
        m = np.zeros(n_context, bool)
        m[: idx.size] = True
        last = end - 1
        i7 = int(np.searchsorted(t[:end], T - 7.0, side="left"))
        i28 = int(np.searchsorted(t[:end], T - 28.0, side="left"))
        km7 = float(dist[i7:end].sum()) / 1000.0
        km28 = float(dist[i28:end].sum()) / 1000.0
        gap = float(T - t[last])
        day = pd.Timestamp(T * 86400.0, unit="s", tz="UTC")
        dow = day.day_of_week
        hour = day.hour + day.minute / 60.0
        q = np.array([
            math.sin(2 * math.pi * dow / 7.0), math.cos(2 * math.pi * dow / 7.0),
            math.sin(2 * math.pi * hour / 24.0), math.cos(2 * math.pi * hour / 24.0), min(gap, MAX_GAP_DAYS) / 7.0,
            math.log(ref_p / 300.0), math.log(ref_d / 10_000.0), (end - i7) / 7.0, math.log1p(km7),
            math.log1p(km28 / 4.0), idx.size / n_context,
            *_habits(T, end, t, log_pace, log_dist, run_dow, run_hour, math.log(ref_p), math.log(ref_d), dow, hour),
        ], np.float32)
        rows["tokens"].append(tok)
        rows["mask"].append(m)
        rows["query"].append(q)
        rows["ref_pace"].append(ref_p)
        rows["last_pace"].append(pace[last])
        rows["mean7_pace"].append(float(pace[i7:end].mean()) if end > i7 else pace[last])
        rows["target_pace"].append(pace[k] if known else np.nan)
        rows["target_type"].append(int(tidx[k]) if known else -1)
        rows["target_gap"].append(gap)
        rows["user_id"].append(uid)
        rows["target_day"].append(float(T))
    if not rows["ref_pace"]:
        return Examples.concat([], n_context)
    return Examples(
        tokens=np.stack(rows["tokens"]), mask=np.stack(rows["mask"]), query=np.stack(rows["query"]),
        ref_pace=np.asarray(rows["ref_pace"]), last_pace=np.asarray(rows["last_pace"]),
        mean7_pace=np.asarray(rows["mean7_pace"]), target_pace=np.asarray(rows["target_pace"], float),
        target_type=np.asarray(rows["target_type"], np.int64), target_gap=np.asarray(rows["target_gap"]),
        user_id=np.asarray(rows["user_id"], dtype=object), target_day=np.asarray(rows["target_day"]),
    )
