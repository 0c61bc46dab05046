"""The one feature pipeline of the heart-rate model (training = evaluation = prediction = web).

A workout is cleaned and resampled to a uniform time grid (``step_s`` seconds, 5 s by default),
then every feature is computed on that grid by a function registered under a name. Lags and
windows are defined in **seconds** and converted to grid steps with the spec's ``step_s``, so any
recording rate gives the same features.

Nothing here reads heart rate: :func:`feature_matrix` receives a :class:`Grid` which has no HR
field at all, and the HR target is taken separately by :func:`prepare`. Features that cannot be
computed for a workout (no altitude, unknown gender) are ``NaN``; the :class:`Normaliser` maps
them to 0 (the training mean) after standardising, and indicator features (``has_altitude``,
``gender`` = 0.5 when unknown) tell the model they are missing. Nothing is fatal.

Feature sets:

* :data:`SUB3_V2_FEATURES`: the 11 honest inputs of the SUB3_V2 reference model (its 3 other
  inputs were workout-type labels computed from the HR being predicted; they are not here).
* :data:`DEFAULT_FEATURES`: those plus honest additions (grade, elapsed time, distance so far,
  longer rolling means, run-level pace, missing-data indicators).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from sub3coach import geo
from sub3coach.workout import Workout

log = logging.getLogger(__name__)

#: Grid step used by the bundled models, seconds.
DEFAULT_STEP_S: float = 5.0
#: Longer gaps than this (seconds) are left empty on the grid (a pause, not interpolated).
DEFAULT_MAX_GAP_S: float = 30.0
#: Speeds above this (m/s, ~2:23/km) are treated as GPS glitches and clipped.
MAX_SPEED_MPS: float = 7.0
#: Below this speed (m/s) the runner is considered stopped.
STOPPED_MPS: float = 0.5


@dataclass
class Grid:
    """A workout on a uniform time grid, without heart rate (the only input features see).

    Attributes:
        time_s: grid times, unix seconds (uniform, ``step_s`` apart).
        speed_mps: speed, m/s, clipped to [0, MAX_SPEED_MPS]; 0 inside gaps (a pause).
        altitude_m: altitude, metres, gaps interpolated; ``None`` when the workout has none.
        distance_m: cumulative distance from the start, metres (integrated grid speed).
        observed: bool, True where the grid point lies inside recorded data (not in a long gap).
        gender: 1.0 male, 0.0 female, 0.5 unknown.
        step_s: grid step, seconds.
    """

    time_s: np.ndarray
    speed_mps: np.ndarray
    altitude_m: np.ndarray | None
    distance_m: np.ndarray
    observed: np.ndarray
    gender: float
    step_s: float

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    def steps(self, seconds: float) -> int:
        """Number of grid steps closest to ``seconds`` (at least 1)."""
        return max(1, int(round(seconds / self.step_s)))


# --------------------------------------------------------------------------------------------
# small pure helpers (numpy, no I/O)
# --------------------------------------------------------------------------------------------
def lag(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` delayed by ``k`` steps; the first ``k`` values repeat ``x[0]``."""
    if k <= 0 or x.size == 0:
        return x.copy()
    out = np.empty_like(x)
    k = min(k, x.size)
    out[:k] = x[0]
    out[k:] = x[:-k] if k < x.size else x[:0]
    return out


def trailing_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of the last ``k`` values up to and including each step (fewer at the start)."""
    if x.size == 0:
        return x.copy()
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(idx - k, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def trailing_diff(x: np.ndarray, k: int) -> np.ndarray:
    """``x[t] - x[t-k]`` (0 for the first steps, measured from ``x[0]``)."""
    return x - lag(x, k)


def cumulative_gain(alt: np.ndarray, threshold_m: float = 2.0) -> np.ndarray:
    """Cumulative ascent, metres, at each step (:func:`sub3coach.geo.cumulative_elevation_gain_m`)."""
    return geo.cumulative_elevation_gain_m(alt, threshold_m)


def _fill_nan_linear(x: np.ndarray) -> np.ndarray:
    """Interpolate interior NaNs linearly and extend the ends (all-NaN stays all-NaN)."""
    ok = np.isfinite(x)
    if ok.all() or not ok.any():
        return x.copy()
    i = np.arange(x.size)
    return np.interp(i, i[ok], x[ok])


def gender_value(gender: str | None) -> float:
    """1.0 for male, 0.0 for female, 0.5 when unknown (as SUB3_V2 encodes it)."""
    g = (gender or "").strip().lower()
    if g in ("male", "m", "man"):
        return 1.0
    if g in ("female", "f", "woman"):
        return 0.0
    return 0.5


# --------------------------------------------------------------------------------------------
# grid construction (the only place a Workout becomes model input)
# --------------------------------------------------------------------------------------------
def to_grid_workout(workout: Workout, step_s: float = DEFAULT_STEP_S, max_gap_s: float = DEFAULT_MAX_GAP_S) -> Workout:
    """Clean ``workout`` and resample it onto a uniform grid (HR kept, for the target)."""
    from sub3coach.clean import clean, resample

    return resample(clean(workout), step_s=step_s, max_gap_s=max_gap_s)


def grid_from_resampled(gw: Workout, step_s: float) -> Grid:
    """Build the HR-free :class:`Grid` from an already cleaned and resampled workout."""
    n = len(gw)
    speed = gw.speed_mps if gw.speed_mps is not None else None
    if speed is None or not np.isfinite(speed).any():
        dist = gw.distance_track_m() if n else None
        if dist is not None and n > 1:
            from sub3coach.geo import speed_from_distance_mps

            speed = speed_from_distance_mps(gw.time_s, dist)
        else:
            speed = np.full(n, np.nan)
    speed = np.asarray(speed, dtype=np.float64)
    observed = np.isfinite(speed)
    speed = np.clip(np.nan_to_num(speed, nan=0.0), 0.0, MAX_SPEED_MPS)
    alt: np.ndarray | None = None
    if gw.altitude_m is not None and np.isfinite(gw.altitude_m).sum() >= 2:
        alt = _fill_nan_linear(np.asarray(gw.altitude_m, dtype=np.float64))
    dist_m = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * step_s)]) if n else np.zeros(0)
    return Grid(
        time_s=np.asarray(gw.time_s, dtype=np.float64),
        speed_mps=speed,
        altitude_m=alt,
        distance_m=dist_m,
        observed=observed,
        gender=gender_value(gw.gender),
        step_s=float(step_s),
    )


# --------------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------------
FeatureFn = Callable[[Grid], np.ndarray]


@dataclass(frozen=True)
class Feature:
    """A named feature: a function of a :class:`Grid` returning one float per grid step.

    ``NaN`` means "unknown for this workout" (e.g. altitude features without altitude)."""

    name: str
    fn: FeatureFn
    unit: str
    doc: str


REGISTRY: dict[str, Feature] = {}


def register(name: str, unit: str, doc: str) -> Callable[[FeatureFn], FeatureFn]:
    """Decorator adding a feature function to :data:`REGISTRY` under ``name``."""

    def deco(fn: FeatureFn) -> FeatureFn:
        if name in REGISTRY:
            raise ValueError(f"feature {name!r} registered twice")
        REGISTRY[name] = Feature(name, fn, unit, doc)
        return fn

    return deco


def _alt_or_nan(g: Grid) -> np.ndarray:
    return g.altitude_m if g.altitude_m is not None else np.full(len(g), np.nan)


def _smooth_alt(g: Grid) -> np.ndarray:
    """Altitude smoothed over ~30 s (GPS altitude is noisy); NaN when absent."""
    if g.altitude_m is None:
        return np.full(len(g), np.nan)
    k = g.steps(30.0)
    # centred moving average: trailing mean shifted back by half a window
    tm = trailing_mean(g.altitude_m, k)
    h = k // 2
    out = np.empty_like(tm)
    out[: tm.size - h] = tm[h:]
    out[tm.size - h :] = tm[-1] if tm.size else 0.0
    return out


@register("speed", "m/s", "speed on the grid")
def _f_speed(g: Grid) -> np.ndarray:
    return g.speed_mps


@register("altitude", "m", "altitude above sea level (NaN when the workout has none)")
def _f_altitude(g: Grid) -> np.ndarray:
    return _alt_or_nan(g)


@register("gender", "1", "1 male, 0 female, 0.5 unknown")
def _f_gender(g: Grid) -> np.ndarray:
    return np.full(len(g), g.gender)


@register("speed_lag_12s", "m/s", "speed about 12 s earlier")
def _f_speed_lag12(g: Grid) -> np.ndarray:
    return lag(g.speed_mps, g.steps(12.0))


@register("speed_lag_30s", "m/s", "speed about 30 s earlier")
def _f_speed_lag30(g: Grid) -> np.ndarray:
    return lag(g.speed_mps, g.steps(30.0))


@register("speed_lag_60s", "m/s", "speed about 60 s earlier")
def _f_speed_lag60(g: Grid) -> np.ndarray:
    return lag(g.speed_mps, g.steps(60.0))


@register("altitude_lag_180s", "m", "altitude about 3 min earlier")
def _f_alt_lag180(g: Grid) -> np.ndarray:
    return lag(_alt_or_nan(g), g.steps(180.0))


@register("speed_diff", "m/s^2", "speed derivative (central difference)")
def _f_speed_diff(g: Grid) -> np.ndarray:
    return np.gradient(g.speed_mps, g.step_s) if len(g) > 1 else np.zeros(len(g))


@register("altitude_diff", "m/s", "altitude derivative (vertical speed, central difference)")
def _f_alt_diff(g: Grid) -> np.ndarray:
    if g.altitude_m is None:
        return np.full(len(g), np.nan)
    return np.gradient(g.altitude_m, g.step_s) if len(g) > 1 else np.zeros(len(g))


@register("speed_mean_60s", "m/s", "trailing mean speed over about 1 min")
def _f_speed_m60(g: Grid) -> np.ndarray:
    return trailing_mean(g.speed_mps, g.steps(60.0))


@register("speed_mean_180s", "m/s", "trailing mean speed over about 3 min")
def _f_speed_m180(g: Grid) -> np.ndarray:
    return trailing_mean(g.speed_mps, g.steps(180.0))


@register("speed_mean_600s", "m/s", "trailing mean speed over about 10 min")
def _f_speed_m600(g: Grid) -> np.ndarray:
    return trailing_mean(g.speed_mps, g.steps(600.0))


@register("elevation_gain_cum", "m", "cumulative ascent so far (2 m hysteresis)")
def _f_gain(g: Grid) -> np.ndarray:
    if g.altitude_m is None:
        return np.full(len(g), np.nan)
    return cumulative_gain(g.altitude_m)


@register("has_altitude", "1", "1 when the workout has altitude, else 0")
def _f_has_alt(g: Grid) -> np.ndarray:
    return np.full(len(g), 0.0 if g.altitude_m is None else 1.0)


@register("altitude_rel", "m", "altitude relative to the start (NaN without altitude)")
def _f_alt_rel(g: Grid) -> np.ndarray:
    a = _smooth_alt(g)
    return a - a[0] if a.size else a


def _grade(g: Grid, window_s: float) -> np.ndarray:
    if g.altitude_m is None:
        return np.full(len(g), np.nan)
    k = g.steps(window_s)
    rise = trailing_diff(_smooth_alt(g), k)
    run = trailing_diff(g.distance_m, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        gr = np.where(run > 5.0 * k * g.step_s / 30.0, rise / np.maximum(run, 1e-9), 0.0)
    return np.clip(gr, -0.3, 0.3)


@register("grade_30s", "1", "grade (rise/run) over the last ~30 s, clipped to +-30%")
def _f_grade30(g: Grid) -> np.ndarray:
    return _grade(g, 30.0)


@register("grade_180s", "1", "grade over the last ~3 min, clipped to +-30%")
def _f_grade180(g: Grid) -> np.ndarray:
    return _grade(g, 180.0)


@register("elapsed_s", "s", "time since the start")
def _f_elapsed(g: Grid) -> np.ndarray:
    return g.time_s - g.time_s[0] if len(g) else np.zeros(0)


@register("distance_m", "m", "distance since the start")
def _f_distance(g: Grid) -> np.ndarray:
    return g.distance_m


def _run_speed(g: Grid) -> float:
    moving = g.speed_mps[g.speed_mps >= STOPPED_MPS]
    return float(np.median(moving)) if moving.size else 0.0


@register("run_speed_median", "m/s", "median moving speed of the whole run (run-level, from speed only)")
def _f_run_speed(g: Grid) -> np.ndarray:
    return np.full(len(g), _run_speed(g))


@register("speed_rel", "1", "speed relative to the run's median moving speed")
def _f_speed_rel(g: Grid) -> np.ndarray:
    m = _run_speed(g)
    return g.speed_mps / m if m > 0 else np.zeros(len(g))


@register("stopped", "1", "1 where the runner is stopped or the recording paused")
def _f_stopped(g: Grid) -> np.ndarray:
    return ((g.speed_mps < STOPPED_MPS) | ~g.observed).astype(np.float64)


#: The 11 honest SUB3_V2 inputs (its 3 HR-derived workout-type labels are left out).
SUB3_V2_FEATURES: tuple[str, ...] = (
    "speed",
    "altitude",
    "gender",
    "speed_lag_12s",
    "speed_lag_30s",
    "altitude_lag_180s",
    "speed_diff",
    "altitude_diff",
    "speed_mean_60s",
    "speed_mean_180s",
    "elevation_gain_cum",
)

#: The default model's inputs: SUB3_V2's honest ones (absolute altitude replaced by altitude
#: relative to the start, which does not identify where a runner lives) plus honest additions.
DEFAULT_FEATURES: tuple[str, ...] = (
    "speed",
    "speed_lag_12s",
    "speed_lag_30s",
    "speed_lag_60s",
    "speed_diff",
    "speed_mean_60s",
    "speed_mean_180s",
    "speed_mean_600s",
    "speed_rel",
    "run_speed_median",
    "stopped",
    "altitude_rel",
    "altitude_diff",
    "grade_30s",
    "grade_180s",
    "elevation_gain_cum",
    "has_altitude",
    "elapsed_s",
    "distance_m",
    "gender",
)


@dataclass(frozen=True)
class FeatureSpec:
    """Which features, on which grid. Stored in every model artifact.

    Attributes:
        names: feature names, in input-column order (keys of :data:`REGISTRY`).
        step_s: grid step, seconds.
        max_gap_s: gaps longer than this (seconds) are pauses, not interpolated.
    """

    names: tuple[str, ...] = DEFAULT_FEATURES
    step_s: float = DEFAULT_STEP_S
    max_gap_s: float = DEFAULT_MAX_GAP_S

    def __post_init__(self) -> None:
        unknown = [n for n in self.names if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {sorted(REGISTRY)}")
        if not self.step_s > 0:
            raise ValueError("step_s must be positive")

    @property
    def n_features(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "step_s": self.step_s, "max_gap_s": self.max_gap_s}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        return cls(names=tuple(d["names"]), step_s=float(d["step_s"]), max_gap_s=float(d.get("max_gap_s", DEFAULT_MAX_GAP_S)))


def feature_matrix(grid: Grid, names: Sequence[str]) -> np.ndarray:
    """Raw (un-normalised) features, shape ``(T, F)`` float64; NaN marks "unknown"."""
    cols = []
    for n in names:
        v = np.asarray(REGISTRY[n].fn(grid), dtype=np.float64)
        if v.shape != (len(grid),):
            raise AssertionError(f"feature {n} returned shape {v.shape}, expected ({len(grid)},)")
        cols.append(v)
    if not cols:
        return np.zeros((len(grid), 0))
    return np.stack(cols, axis=1)


@dataclass
class Prepared:
    """One workout ready for a model.

    Attributes:
        time_s: grid times, unix s, shape (T,).
        x: raw features, shape (T, F) (normalise with a :class:`Normaliser`).
        hr_bpm: target HR on the grid, shape (T,), NaN where unknown (None when no HR channel).
        observed: bool (T,), grid points inside recorded data.
        workout_id / user_id: identity of the source workout.
    """

    time_s: np.ndarray
    x: np.ndarray
    hr_bpm: np.ndarray | None
    observed: np.ndarray
    workout_id: str | None = None
    user_id: str | None = None
    speed_mps: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """Grid steps that count in the loss/metrics: observed and with a finite HR."""
        if self.hr_bpm is None:
            return np.zeros(self.time_s.shape, dtype=bool)
        return self.observed & np.isfinite(self.hr_bpm)


def prepare(workout: Workout, spec: FeatureSpec, *, keep_samples: bool = False,
            cut_hr_minutes: float | None = None) -> Prepared:
    """Clean, resample and featurise one workout (HR only goes into the target).

    With ``keep_samples`` the cleaned recording's own sample times and HR are kept in
    ``meta["sample_time_s"]`` / ``meta["sample_hr_bpm"]`` (float64 / float32), so evaluation can
    score every recorded sample, not only grid steps.

    Raises:
        MissingChannel: the workout has neither speed, distance nor GPS.
    """
    from sub3coach.clean import clean, resample
    from sub3coach.errors import MissingChannel

    if not (workout.has("speed_mps") or workout.has("distance_m") or (workout.has("lat_deg") and workout.has("lon_deg"))):
        raise MissingChannel("speed_mps", workout.source or workout.workout_id)
    cw = clean(workout)
    gw = resample(cw, step_s=spec.step_s, max_gap_s=spec.max_gap_s)
    meta: dict = {}
    if keep_samples and cw.hr_bpm is not None:
        meta = {"sample_time_s": np.asarray(cw.time_s, dtype=np.float64),
                "sample_hr_bpm": np.asarray(cw.hr_bpm, dtype=np.float32)}
    if cut_hr_minutes is not None and workout.hr_bpm is not None:
        meta["hr_cut"] = (float(cut_hr_minutes), _cut_hr_grid(workout, gw.time_s, cut_hr_minutes, spec))
    # features see a copy without HR: a Grid has no HR field at all
    grid = grid_from_resampled(gw.replace(hr_bpm=None), spec.step_s)
    x = feature_matrix(grid, spec.names)
    hr = None
    if gw.hr_bpm is not None:
        hr = np.asarray(gw.hr_bpm, dtype=np.float64)
    return Prepared(
        time_s=grid.time_s,
        x=x,
        hr_bpm=hr,
        observed=grid.observed,
        workout_id=workout.workout_id,
        user_id=workout.user_id,
        speed_mps=grid.speed_mps,
        meta=meta,
    )


def _cut_hr_grid(workout: Workout, grid_t: np.ndarray, minutes: float, spec: FeatureSpec) -> np.ndarray:
    """The grid HR an in-run forecast may see: the recording cleaned with every HR sample after
    its first ``minutes`` removed *before* cleaning (cleaning looks ahead, e.g. for a frozen
    sensor), resampled and placed on ``grid_t`` (NaN elsewhere)."""
    from sub3coach.clean import clean, resample

    t = np.asarray(workout.time_s, dtype=np.float64)
    hr = np.where((t - np.nanmin(t)) <= minutes * 60.0, workout.hr_bpm, np.nan)
    out = np.full(grid_t.shape, np.nan)
    if not np.isfinite(hr).any() or grid_t.size == 0:
        return out
    g = resample(clean(workout.replace(hr_bpm=hr)), step_s=spec.step_s, max_gap_s=spec.max_gap_s)
    if g.hr_bpm is None:
        return out
    idx = np.rint((np.asarray(g.time_s) - grid_t[0]) / spec.step_s).astype(np.int64)
    ok = (idx >= 0) & (idx < grid_t.size)
    ok[ok] &= np.abs(grid_t[idx[ok]] - np.asarray(g.time_s)[ok]) < 1e-6
    out[idx[ok]] = np.asarray(g.hr_bpm, dtype=np.float64)[ok]
    return out


@dataclass
class Normaliser:
    """Per-feature standardisation fitted on training runners only.

    ``transform`` returns ``(x - mean) / std`` as float32 with unknown (NaN) entries set to 0,
    i.e. to the training mean. Serialisable with :meth:`to_dict` (stored in the artifact)."""

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, xs: Iterable[np.ndarray], names: Sequence[str], masks: Iterable[np.ndarray] | None = None) -> "Normaliser":
        """Fit on raw feature matrices (T_i, F); optional per-matrix bool masks choose rows."""
        return cls.from_moments(names, cls.moments(xs, len(tuple(names)), masks))

    @staticmethod
    def moments(xs: Iterable[np.ndarray], n_features: int, masks: Iterable[np.ndarray] | None = None) -> np.ndarray:
        """Sums over finite values: rows ``(sum, sum of squares, count)`` per feature, shape (3, F).

        Moments of several parts add up, so distributed training sums each rank's moments
        (an all-reduce) and fits one normaliser with :meth:`from_moments`."""
        out = np.zeros((3, n_features))
        mlist = list(masks) if masks is not None else None
        for i, x in enumerate(xs):
            if mlist is not None:
                x = x[mlist[i]]
            ok = np.isfinite(x)
            xv = np.where(ok, x, 0.0)
            out[0] += xv.sum(0)
            out[1] += (xv * xv).sum(0)
            out[2] += ok.sum(0)
        return out

    @classmethod
    def from_moments(cls, names: Sequence[str], m: np.ndarray) -> "Normaliser":
        """The normaliser of summed :meth:`moments` ``m`` (3, F)."""
        s, s2, n = m
        nn = np.maximum(n, 1)
        mean = s / nn
        var = np.maximum(s2 / nn - mean * mean, 0.0)
        std = np.sqrt(var)
        std = np.where(std < 1e-6, 1.0, std)
        mean = np.where(n > 0, mean, 0.0)
        return cls(names=tuple(names), mean=mean, std=std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardise ``x`` (T, F) -> float32 (T, F); NaN -> 0."""
        if x.shape[-1] != len(self.names):
            raise ValueError(f"expected {len(self.names)} features, got {x.shape[-1]}")
        z = (x - self.mean) / self.std
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict) -> "Normaliser":
        return cls(names=tuple(d["names"]), mean=np.asarray(d["mean"], dtype=np.float64), std=np.asarray(d["std"], dtype=np.float64))


__all__ = [
    "DEFAULT_FEATURES",
    "DEFAULT_STEP_S",
    "FeatureSpec",
    "Feature",
    "Grid",
    "Normaliser",
    "Prepared",
    "REGISTRY",
    "SUB3_V2_FEATURES",
    "feature_matrix",
    "gender_value",
    "grid_from_resampled",
    "prepare",
    "register",
]
