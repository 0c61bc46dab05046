"""Heart-rate prediction: for a workout, a corpus (batched), or a planned course at a pace.

Every path goes through :func:`sub3coach.features.prepare` and a model from
:func:`sub3coach.hr.artifact.load_model`, so training, evaluation, prediction and the web app
see identical inputs. Predictions are made on the model's time grid and interpolated back to
the input's own sample times.

HR zones (:func:`hr_summary`) are the common five-zone model in percent of maximum HR:
Z1 50–60 %, Z2 60–70 %, Z3 70–80 %, Z4 80–90 %, Z5 ≥ 90 % (below 50 % counts as Z0/rest).
Without a known maximum HR, 190 BPM is used (:data:`DEFAULT_MAX_HR_BPM`).
"""
from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sub3coach.units import parse_pace  # noqa: F401  (re-exported)
from sub3coach.errors import MissingChannel, Sub3Error
from sub3coach.features import Normaliser, Prepared, prepare
from sub3coach.hr.artifact import LoadedModel
from sub3coach.load import HR_ZONES
from sub3coach.workout import Workout

if TYPE_CHECKING:
    from sub3coach.hr.personal import Personal

log = logging.getLogger(__name__)

#: Maximum HR assumed for zones when the runner's own is not given, BPM.
DEFAULT_MAX_HR_BPM: float = 190.0
#: Zone lower bounds in fraction of max HR (Z1..Z5), from the project's one definition.
ZONE_BOUNDS: tuple[float, ...] = tuple(lo for _, lo, _ in HR_ZONES)
#: Predictions are clipped to this physiological range, BPM.
HR_RANGE_BPM: tuple[float, float] = (40.0, 220.0)


def configure_threads(n: int | None = None) -> int:
    """Set torch's CPU threads for inference: ``n``, else env ``SUB3_TORCH_THREADS``, else 1.

    One thread is the default because on a small shared machine two threads wait on each other
    at every recurrent step (measured 7x slower under load, see benchmarks/RESULTS.md), while
    one thread already predicts ~80 runs/s. Returns the number set."""
    if n is None:
        try:
            n = int(os.environ.get("SUB3_TORCH_THREADS", "1"))
        except ValueError:
            n = 1
    n = max(1, n)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _batches(lengths: Sequence[int], max_steps: int, max_batch: int) -> Iterator[list[int]]:
    """Indices grouped by similar length: each batch holds at most ``max_steps`` padded steps."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    batch: list[int] = []
    longest = 0
    for i in order.tolist():
        li = max(int(lengths[i]), 1)
        if batch and (max(longest, li) * (len(batch) + 1) > max_steps or len(batch) >= max_batch):
            yield batch
            batch, longest = [], 0
        batch.append(i)
        longest = max(longest, li)
    if batch:
        yield batch


@torch.no_grad()
def predict_arrays(
    module: torch.nn.Module,
    xs: Sequence[np.ndarray],
    *,
    device: str | torch.device = "cpu",
    max_steps: int = 131072,
    max_batch: int = 256,
) -> list[np.ndarray]:
    """Run ``module`` over normalised feature arrays (T_i, F), batched by length.

    Models are causal, so zero padding at the end of shorter sequences does not change the
    outputs of real steps. Returns one float64 HR array (BPM) per input."""
    module.eval()
    out: list[np.ndarray] = [np.zeros(0)] * len(xs)
    lengths = [x.shape[0] for x in xs]
    for idx in _batches(lengths, max_steps, max_batch):
        t = max(max(lengths[i] for i in idx), 1)
        f = xs[idx[0]].shape[1]
        batch = np.zeros((len(idx), t, f), dtype=np.float32)  # (B, T, F)
        for j, i in enumerate(idx):
            batch[j, : lengths[i]] = xs[i]
        y = module(torch.from_numpy(batch).to(device)).float().cpu().numpy()  # (B, T)
        for j, i in enumerate(idx):
            out[i] = np.clip(y[j, : lengths[i]].astype(np.float64), *HR_RANGE_BPM)
    return out


def predict_prepared(lm: LoadedModel, items: Sequence[Prepared], *, device: str | torch.device = "cpu") -> list[np.ndarray]:
    """Grid-level HR predictions (BPM) for featurised workouts."""
    norm: Normaliser = lm.normaliser
    if lm.module is not None and next(lm.module.parameters(), None) is not None:
        lm.module.to(device)
    return predict_arrays(lm.module, [norm.transform(p.x) for p in items], device=device)


def to_sample_times(grid_t: np.ndarray, grid_hr: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """Interpolate grid predictions back to the workout's own sample times."""
    if grid_t.size == 0:
        return np.full(time_s.shape, np.nan)
    if grid_t.size == 1:
        return np.full(time_s.shape, float(grid_hr[0]))
    return np.interp(time_s, grid_t, grid_hr)


@dataclass
class HRPrediction:
    """A predicted HR curve with its 80 % band, at the workout's own sample times.

    Attributes:
        time_s: unix s (the input's sample times); hr_pred / hr_lo / hr_hi: BPM;
        mode: ``cold``, ``personal`` or ``in-run``; observed_until_s: unix s up to which
        measured HR was assimilated (in-run), else None.
    """

    time_s: np.ndarray
    hr_pred: np.ndarray
    hr_lo: np.ndarray
    hr_hi: np.ndarray
    mode: str
    observed_until_s: float | None = None


def _cut_hr(workout: Workout, minutes: float) -> Workout:
    """A copy whose HR after the first ``minutes`` is unknown (so it cannot leak)."""
    if workout.hr_bpm is None or len(workout) == 0:
        raise MissingChannel("hr_bpm", workout.source or workout.workout_id)
    t = np.asarray(workout.time_s, dtype=np.float64)
    keep = (t - np.nanmin(t)) <= minutes * 60.0
    hr = np.where(keep, workout.hr_bpm, np.nan)
    if not np.isfinite(hr).any():
        raise MissingChannel("hr_bpm", workout.source or workout.workout_id)
    return workout.replace(hr_bpm=hr)


def predict_full(lm: LoadedModel, workout: Workout, *, personal: "Personal | None" = None,
                 stated: dict[str, float | None] | None = None, observed_minutes: float | None = None) -> HRPrediction:
    """HR with its 80 % band at each of ``workout``'s sample times, in the richest mode possible.

    Args:
        personal: a runner's fitted parameters (default: the artifact's own, if personalised).
        stated: what the runner states (``max_hr_bpm``, ``resting_hr_bpm``) for a cold start.
        observed_minutes: assimilate the workout's measured HR of its first minutes (in-run);
            HR after them is never read.

    Raises:
        MissingChannel: no speed/distance/GPS, or (in-run) no HR in the observed minutes.
    """
    if observed_minutes is not None:
        workout = _cut_hr(workout, observed_minutes)
    p = prepare(workout, lm.spec)
    (g,) = predict_prepared(lm, [p])
    return _finish(lm, workout, p, g, personal=personal, stated=stated, observed_minutes=observed_minutes)


def _finish(lm: LoadedModel, workout: Workout, p: Prepared, grid_bpm: np.ndarray, *, personal: "Personal | None" = None,
            stated: dict[str, float | None] | None = None, observed_minutes: float | None = None) -> HRPrediction:
    """Personal head (+ in-run filter) and band on the network's grid prediction, at sample times."""
    from sub3coach.hr import modes as M
    from sub3coach.hr import personal as P

    head = lm.head or P.default_head()
    pers = personal or lm.personal or P.cold(head, stated)
    mode = "personal" if pers.n_runs > 0 else "cold"
    mean, sd = P.predict_head(head, pers, p.time_s, grid_bpm)
    until = None
    if observed_minutes is not None:
        if p.hr_bpm is None or not np.isfinite(p.hr_bpm).any():
            raise MissingChannel("hr_bpm", workout.source or workout.workout_id)
        ir = M.in_run(head, p, mean, sd, observed_minutes, personal=pers)
        mean, sd, mode = ir.mean, ir.sd, "in-run"
        until = float(p.time_s[0]) + observed_minutes * 60.0 if len(p.time_s) else None
    lo, hi = P.band(head, mode, mean, sd)
    t = workout.time_s
    clip = lambda a: np.clip(to_sample_times(p.time_s, a, t), *HR_RANGE_BPM)  # noqa: E731
    return HRPrediction(time_s=np.asarray(t, dtype=np.float64), hr_pred=clip(mean), hr_lo=clip(lo), hr_hi=clip(hi),
                        mode=mode, observed_until_s=until)


def predict_workout(lm: LoadedModel, workout: Workout) -> np.ndarray:
    """Predicted HR (BPM) at each of ``workout``'s own sample times (cold start, or the
    artifact's runner when it is personalised; :func:`predict_full` gives the band too).

    Raises:
        MissingChannel: the workout has no speed, distance or GPS.
    """
    return predict_full(lm, workout).hr_pred


def predict_many(lm: LoadedModel, workouts: Iterable[Workout], *, chunk: int = 256,
                 stated: dict[str, float | None] | None = None) -> Iterator[tuple[Workout, HRPrediction]]:
    """Predict a stream of workouts, ``chunk`` at a time (batched inference), each with its band.

    Workouts that cannot be featurised (no speed/distance/GPS) are logged and skipped."""
    buf: list[tuple[Workout, Prepared]] = []

    def flush() -> Iterator[tuple[Workout, HRPrediction]]:
        preds = predict_prepared(lm, [p for _, p in buf])
        for (w, p), g in zip(buf, preds):
            yield w, _finish(lm, w, p, g, stated=stated)
        buf.clear()

    for w in workouts:
        if len(w) == 0:
            continue
        try:
            buf.append((w, prepare(w, lm.spec)))
        except MissingChannel as exc:
            log.warning("skipping %s: %s", w.workout_id or w.source, exc)
            continue
        if len(buf) >= chunk:
            yield from flush()
    if buf:
        yield from flush()


def predictions_frame(pairs: Iterable[tuple[Workout, HRPrediction]]) -> "object":
    """One row per input sample: ``workout_id``, ``timestamp`` (unix s), ``hr_pred``, ``hr_lo``,
    ``hr_hi`` (BPM; the 80 % band)."""
    import pandas as pd

    frames = []
    for w, pr in pairs:
        wid = w.workout_id or w.content_id()
        frames.append(pd.DataFrame({"workout_id": wid, "timestamp": w.time_s, "hr_pred": pr.hr_pred.astype(np.float32),
                                    "hr_lo": pr.hr_lo.astype(np.float32), "hr_hi": pr.hr_hi.astype(np.float32)}))
    if not frames:
        cols = {"workout_id": pd.Series(dtype=str), "timestamp": pd.Series(dtype=float)}
        cols.update({c: pd.Series(dtype=np.float32) for c in ("hr_pred", "hr_lo", "hr_hi")})
        return pd.DataFrame(cols)
    return pd.concat(frames, ignore_index=True)


class PredictionWriter:
    """Writes prediction rows (as :func:`predictions_frame`) to ``.csv`` or ``.parquet`` as they
    come, one workout at a time, so a corpus is never held in memory.

    Written to ``PATH.tmp`` and renamed on :meth:`close`; :meth:`abort` removes it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.rows = 0
        self._pq: Any = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise Sub3Error(f"cannot write ({exc.strerror or exc})", str(self.path)) from exc

    def write(self, workout: Workout, pred: HRPrediction) -> None:
        frame = predictions_frame([(workout, pred)])
        try:
            if self.path.suffix.lower() == ".csv":
                frame.to_csv(self.tmp, mode="a", header=self.rows == 0, index=False)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                if self._pq is None:
                    self._pq = pq.ParquetWriter(self.tmp, table.schema)
                self._pq.write_table(table)
        except OSError as exc:
            self.abort()
            raise Sub3Error(f"cannot write ({exc.strerror or exc})", str(self.path)) from exc
        self.rows += len(frame)

    def close(self) -> None:
        """Finish the file and move it into place.

        Raises:
            Sub3Error: the file cannot be written (e.g. the path is a folder); nothing is left."""
        try:
            if self._pq is not None:
                self._pq.close()
                self._pq = None
            if self.rows == 0 and self.path.suffix.lower() == ".csv":
                predictions_frame([]).to_csv(self.tmp, index=False)
            if self.tmp.exists():
                self.tmp.replace(self.path)
        except OSError as exc:
            self.abort()
            raise Sub3Error(f"cannot write ({exc.strerror or exc})", str(self.path)) from exc

    def abort(self) -> None:
        """Drop the partial file."""
        if self._pq is not None:
            try:
                self._pq.close()
            except Exception:  # noqa: BLE001 - already failing; the temp file goes anyway
                pass
        self.tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# summary: mean HR and time in zones
# ---------------------------------------------------------------------------------------------
def hr_summary(time_s: np.ndarray, hr_bpm: np.ndarray, *, max_hr_bpm: float | None = None) -> dict:
    """Mean/max predicted HR and seconds in each zone (see module docs for the zones).

    Each sample's HR holds until the next sample; intervals longer than 30 s (pauses) do not count.
    """
    max_hr = float(max_hr_bpm) if max_hr_bpm else DEFAULT_MAX_HR_BPM
    t = np.asarray(time_s, dtype=np.float64)
    hr = np.asarray(hr_bpm, dtype=np.float64)
    ok = np.isfinite(hr)
    dt = np.diff(t, append=t[-1]) if t.size else t
    dt = np.where((dt > 0) & (dt <= 30.0), dt, 0.0)
    frac = hr / max_hr
    zones: dict[str, float] = {}
    edges = (0.0,) + ZONE_BOUNDS + (np.inf,)
    for z in range(len(edges) - 1):
        sel = ok & (frac >= edges[z]) & (frac < edges[z + 1])
        zones[f"Z{z}"] = float(dt[sel].sum())
    return {
        "mean_hr_bpm": float(np.mean(hr[ok])) if ok.any() else None,
        "max_hr_pred_bpm": float(np.max(hr[ok])) if ok.any() else None,
        "max_hr_bpm_for_zones": max_hr,
        "max_hr_assumed": not bool(max_hr_bpm),
        "duration_s": float(t[-1] - t[0]) if t.size > 1 else 0.0,
        "time_in_zones_s": zones,
    }


# ---------------------------------------------------------------------------------------------
# planned runs: a course + a pace
# ---------------------------------------------------------------------------------------------


def read_pace_plan(path: str | os.PathLike) -> list[float]:
    """A pace plan CSV -> seconds per km for km 1, 2, ... (the last pace holds to the end).

    Accepted layouts (header optional): ``km,pace`` rows such as ``1,4:30``, or one pace per
    line. Rows are sorted by ``km`` when present.

    Raises:
        Sub3Error: unreadable file or a bad pace.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise Sub3Error(f"cannot read pace plan ({exc.strerror or exc})", str(p)) from exc
    rows: list[tuple[float, float]] = []
    for n, rec in enumerate(csv.reader(io.StringIO(text))):
        rec = [c.strip() for c in rec if c.strip()]
        if not rec:
            continue
        if len(rec) == 1:
            km_s, pace_s = str(len(rows) + 1), rec[0]
        else:
            km_s, pace_s = rec[0], rec[1]
        try:
            km = float(km_s)
        except ValueError:
            if n == 0:
                continue  # header
            raise Sub3Error(f"line {n + 1}: {km_s!r} is not a km number", str(p)) from None
        try:
            rows.append((km, parse_pace(pace_s)))
        except Sub3Error as exc:
            if n == 0 and len(rec) > 1 and not rows:
                continue
            raise Sub3Error(f"line {n + 1}: {exc.detail}", str(p)) from exc
    if not rows:
        raise Sub3Error("pace plan has no paces", str(p))
    rows.sort()
    return [pace for _, pace in rows]


def course_workout(course: Workout, pace_s_per_km: float | Sequence[float], *, start_time_s: float | None = None) -> Workout:
    """Turn a route into a planned run: sample times from its distance and a pace.

    Args:
        course: a route with GPS (or a distance channel), optional altitude; its own times are
            ignored.
        pace_s_per_km: one pace, or a pace per km (the last one holds to the end).
        start_time_s: unix s of the start (default: the course's first time or 0).

    Returns:
        A :class:`Workout` with ``time_s``, ``distance_m``, ``speed_mps``, ``altitude_m`` and
        ``lat_deg``/``lon_deg`` when the course has them; no HR.

    Raises:
        MissingChannel: the course has neither GPS nor distance.
    """
    dist = None
    if course.has("lat_deg") and course.has("lon_deg"):
        from sub3coach.geo import cumulative_distance_m

        dist = cumulative_distance_m(course.lat_deg, course.lon_deg)  # type: ignore[arg-type]
    elif course.has("distance_m"):
        dist = course.distance_track_m()
    if dist is None or dist.size < 2 or not np.isfinite(dist[-1]) or dist[-1] <= 0:
        raise MissingChannel("lat_deg/lon_deg or distance_m", course.source or course.name)
    paces = np.atleast_1d(np.asarray(pace_s_per_km, dtype=np.float64))
    if (paces <= 0).any():
        raise Sub3Error("paces must be positive")
    km_idx = np.minimum((dist // 1000.0).astype(int), paces.size - 1)
    s_per_m = paces[km_idx] / 1000.0
    step = np.diff(dist) * 0.5 * (s_per_m[1:] + s_per_m[:-1])
    t0 = start_time_s if start_time_s is not None else (float(course.time_s[0]) if len(course) and np.isfinite(course.time_s[0]) else 0.0)
    # points closer than the route's resolution keep distinct times (1 ms apart at least)
    t = t0 + np.concatenate([[0.0], np.cumsum(np.maximum(step, 1e-3))])
    return Workout(
        time_s=t,
        distance_m=dist,
        speed_mps=1.0 / s_per_m,
        altitude_m=course.altitude_m,
        lat_deg=course.lat_deg,
        lon_deg=course.lon_deg,
        sport="run",
        name=course.name,
        source=course.source,
        workout_id=course.workout_id or "planned",
        gender=course.gender,
    )
