"""What the web app's endpoints do, as plain functions over the project's one pipeline.

Readers (:mod:`sub3coach.io.dispatch`), the HR model (:func:`sub3coach.hr.artifact.load_model`,
:func:`sub3coach.hr.predict.predict_full`), personal models the way ``sub3 hr predict`` finds
them (:func:`sub3coach.hr.cli_personal.resolve_personal`), the library, the importer and the
planner: the page shows exactly what the CLI prints. Every function here is synchronous (the
app runs them in its thread pool) and raises only :class:`~sub3coach.errors.Sub3Error`.

Units: times in unix seconds, HR in BPM, speed in m/s, altitude and distances in metres.
"""
from __future__ import annotations

import logging
import math
import re
import threading
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sub3coach.errors import Sub3Error
from sub3coach.workout import Workout

log = logging.getLogger(__name__)

#: One process-wide lock around every use of the library file (and of the personal-model
#: cache that reads it): DuckDB refuses a read-only and a read-write handle on one file inside
#: one process, and two writers must not interleave. Other processes (a ``sub3 import`` in a
#: terminal) are kept out by the project's own file locking (:mod:`sub3coach.locking`).
LIBRARY_LOCK = threading.Lock()
#: Inference one request at a time: torch stays on one thread and the CPU is not oversubscribed.
MODEL_LOCK = threading.Lock()
#: At most this many uploads read and predicted at once (the app's thread pool has 40 threads):
#: memory is bounded by it times :func:`upload_limit`, whatever the number of requests.
HEAVY_WORK = threading.BoundedSemaphore(2)
#: Largest decompressed size of one uploaded ``.gz`` file, bytes (see :func:`upload_limit`).
MAX_UPLOAD_INFLATED = 200 * 2**20


def upload_limit(max_upload_bytes: int) -> int:
    """Largest decompressed size of one uploaded gzip file, bytes: four times the request cap,
    at most :data:`MAX_UPLOAD_INFLATED` (the CLI keeps its own, larger, cap)."""
    return int(min(4 * max_upload_bytes, MAX_UPLOAD_INFLATED))


def jsonable(x: Any) -> Any:
    """``x`` with NaN/inf as None, numpy scalars and arrays as Python numbers and lists, and
    dates as ISO strings, so that it serialises as strict JSON."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    if hasattr(x, "isoformat"):
        return x.isoformat()
    return str(x)


def _series(a: Any, nd: int = 1) -> list[float | None] | None:
    """A per-sample channel as a JSON list (rounded; gaps as None), or None when absent."""
    if a is None:
        return None
    arr = np.asarray(a, dtype=np.float64)
    return [round(float(v), nd) if math.isfinite(v) else None for v in arr]


def model() -> Any:
    """The bundled HR model, loaded once per process (:func:`load_model` caches it)."""
    from sub3coach.hr.artifact import load_model

    return load_model(None)


# ----- prediction -----------------------------------------------------------------------------
def _upload_bytes(path: Path, name: str, limit: int) -> bytes:
    """An uploaded file's bytes, gunzipped to at most ``limit`` bytes (else
    :class:`~sub3coach.errors.UnsafeArchive`, HTTP 413). A gzip inside the gzip is refused: the
    reader would inflate it again under the CLI's larger cap."""
    from sub3coach.errors import UnsupportedFormat
    from sub3coach.io._source import read_bytes

    data = read_bytes(path, name, limit=limit).data
    if data[:2] == b"\x1f\x8b":
        raise UnsupportedFormat(f"{name}: a gzip file inside a gzip file")
    return data


def read_upload(path: Path, name: str, limit: int = MAX_UPLOAD_INFLATED) -> Workout:
    """The first workout of an uploaded FIT/GPX/TCX file (optionally gzipped, inflating to at
    most ``limit`` bytes), named ``name`` in messages (never the temporary path)."""
    from sub3coach.io.dispatch import read_workout

    return read_workout(_upload_bytes(path, name, limit), name=name)


def _learn_new_runs(lm: Any, library: Path, athlete: str | None, batch: int = 16) -> None:
    """Bring the athlete's personal-model cache up to date in batches: each batch of new runs
    with HR is read under :data:`LIBRARY_LOCK`, its statistics computed after the lock is
    released (under :data:`MODEL_LOCK`), so other requests read the library meanwhile. Errors
    (no library, an athlete not named) are left for :func:`resolve_personal` to raise."""
    from sub3coach.hr.personalize import learn_runs, runs_to_learn
    from sub3coach.hr.predict import configure_threads

    tried: set[str] = set()
    while library.exists():
        with LIBRARY_LOCK, _open(library) as lib:
            try:
                name = lib.resolve_athlete(athlete)
            except Sub3Error:
                return
            ids = [i for i in runs_to_learn(lm, lib, name) if i not in tried][:batch]
            workouts = [lib.get_workout(i) for i in ids]
        if not ids:  # done (or the cache cannot be written: resolve_personal computes the rest)
            return
        tried.update(ids)
        with MODEL_LOCK:
            configure_threads()
            learn_runs(lm, library, name, workouts)


def _personal(lm: Any, library: Path, athlete: str | None, max_hr: float | None, before_s: float | None) -> Any:
    """The personal context ``sub3 hr predict --athlete`` uses (cold start without a library);
    the slow part, new runs' statistics, is computed outside the library lock."""
    from sub3coach.hr.cli_personal import resolve_personal

    _learn_new_runs(lm, library, athlete)
    with LIBRARY_LOCK:
        return resolve_personal(lm, library, athlete, cold=False, max_hr=max_hr, resting_hr=None,
                                model_given=False, before_s=before_s)


def prediction(w: Workout, *, library: Path, athlete: str | None = None, observed_minutes: float | None = None,
               max_hr: float | None = None, planned: bool = False) -> dict[str, Any]:
    """Predicted HR with its 80 % band at each of ``w``'s own sample times, measured HR when the
    workout has it, speed and altitude per sample, and the summary ``sub3 hr predict`` prints.

    Args:
        w: a workout as read (or a planned course from :func:`course_run`).
        library: the library holding the athlete's runs (personal model); may not exist yet.
        athlete: whose personal model (default: the library's only athlete).
        observed_minutes: in-run forecast from the measured HR of the first minutes.
        max_hr: the runner's max HR, BPM (zones and a cold start).
        planned: a course not yet run (predicted from all the athlete's runs).
    """
    from sub3coach.hr.cli import prediction_summary, speed_for_plot
    from sub3coach.hr.predict import configure_threads, predict_full

    lm = model()
    before = None if planned or not len(w) else float(w.time_s[0])
    ctx = _personal(lm, library, athlete, max_hr, before)
    with MODEL_LOCK:
        configure_threads()  # per thread: the pool's threads stay at one torch thread
        pr = predict_full(lm, w, personal=ctx.personal, stated=ctx.stated, observed_minutes=observed_minutes)
    zones_max = ctx.zones_max_hr or max_hr
    summary = prediction_summary(w, pr, zones_max)
    summary["personal"] = ctx.note + (f"; in-run forecast from the measured HR of the first {observed_minutes:g} min"
                                      if observed_minutes is not None else "")
    summary["model"] = lm.name
    summary["name"] = w.name
    summary["distance_m"] = w.summary().distance_m if len(w) else None
    hr_measured = _series(w.hr_bpm, 0) if w.has("hr_bpm") else None
    return jsonable({
        "workout_id": summary["workout_id"], "timestamp": [float(t) for t in pr.time_s],
        "hr_pred": _series(pr.hr_pred), "hr_lo": _series(pr.hr_lo), "hr_hi": _series(pr.hr_hi),
        "hr_measured": hr_measured, "speed_mps": _series(speed_for_plot(w), 2),
        "altitude_m": _series(w.altitude_m), "observed_until_s": pr.observed_until_s, "summary": summary,
    })


def pace_plan(text: str, folder: Path) -> list[float]:
    """A pace plan given as text (``km,pace`` rows or one pace per line, as ``--pace-plan``'s
    CSV) -> seconds per km; parsed by the CLI's own reader from a file in ``folder``."""
    from sub3coach.hr.predict import read_pace_plan

    p = folder / "pace-plan.csv"
    p.write_text(text.replace(";", "\n"), encoding="utf-8")
    try:
        return read_pace_plan(p)
    except Sub3Error as exc:
        raise Sub3Error(exc.detail, "pace plan") from None


def course_run(path: Path, name: str, pace: str | None, plan: list[float] | None,
               limit: int = MAX_UPLOAD_INFLATED) -> Workout:
    """A planned run: the uploaded route at one pace (``m:ss`` per km) or a pace per km."""
    from sub3coach.hr.predict import course_workout, parse_pace
    from sub3coach.io.dispatch import read_course

    if (pace is None) == (plan is None):
        raise Sub3Error("give exactly one of pace (m:ss per km) or a pace plan")
    paces = parse_pace(pace) if pace is not None else plan
    return course_workout(read_course(_upload_bytes(path, name, limit), name=name), paces)  # type: ignore[arg-type]


# ----- library ----------------------------------------------------------------------------------
def _open(library: Path, *, read_only: bool = True) -> Any:
    from sub3coach.library import Library

    return Library(library, read_only=read_only)


def athletes(library: Path) -> list[dict[str, Any]]:
    """The library's athletes (name, runs, runs with HR, first and last start); [] without a library."""
    if not library.exists():
        return []
    with LIBRARY_LOCK, _open(library) as lib:
        return jsonable(lib.athletes())


def runs(library: Path, athlete: str | None = None, since: str | None = None, sport: str | None = None) -> list[dict[str, Any]]:
    """Summary rows of the library's runs (as ``sub3 runs --json``), oldest first; [] without a library."""
    since_dt = None
    if since:
        try:
            since_dt = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Sub3Error(f"since {since!r} is not a date (use YYYY-MM-DD)") from None
        since_dt = since_dt if since_dt.tzinfo else since_dt.replace(tzinfo=timezone.utc)
    if not library.exists():
        return []
    with LIBRARY_LOCK, _open(library) as lib:
        name = lib.resolve_athlete(athlete) if athlete else None
        return jsonable(lib.runs(athlete=name, since=since_dt, sport=sport or None))


class RunNotFound(Sub3Error):
    """No run with this id (or id prefix) in the library."""


def run_detail(library: Path, run_id: str) -> tuple[dict[str, Any], Workout | None]:
    """One run's summary row and its stored workout (None for a summary-only run).

    Raises:
        RunNotFound: no such run (or no library).
    """
    if not library.exists():
        raise RunNotFound(f"no run with id {run_id!r}: the library is empty")
    with LIBRARY_LOCK, _open(library) as lib:
        try:
            row = lib.run(run_id)
        except Sub3Error as exc:
            if "matches" in exc.detail:  # an ambiguous prefix is the caller's to fix
                raise
            raise RunNotFound(exc.detail, exc.path) from None
        return row, None if row["summary_only"] else lib.get_workout(row["id"])


def samples(w: Workout | None) -> dict[str, Any] | None:
    """A stored workout's channels for the page: unix-s times, HR, speed, altitude, distance."""
    if w is None:
        return None
    from sub3coach.hr.cli import speed_for_plot

    return {"timestamp": [float(t) for t in w.time_s], "hr_bpm": _series(w.hr_bpm, 0),
            "speed_mps": _series(speed_for_plot(w), 2), "altitude_m": _series(w.altitude_m),
            "distance_m": _series(w.distance_m)}


def import_files(library: Path, paths: list[Path], folder: Path, athlete: str | None = None) -> dict[str, Any]:
    """Import uploaded files (FIT/GPX/TCX, zips, exports, histories) lying under the temporary
    ``folder`` into the library: the report of ``sub3 import --json`` (plus ``athletes``, the
    athletes the runs went to), naming each file as it was uploaded, never by its temporary path."""
    from sub3coach.importer import Importer, expand

    jobs = list(expand(paths))
    for j in jobs:  # labels (messages, and each run's stored source) name the upload
        j.label = _untemp(j.label, folder)
        if j.error is not None and j.error.path:
            j.error.path = _untemp(j.error.path, folder)
    with LIBRARY_LOCK, _open(library, read_only=False) as lib:
        lib.import_athlete = athlete
        report = Importer(lib, workers=1).run(jobs).to_json()
        report["athletes"] = sorted(lib.athletes_added)
    return _untemp(report, folder)


def _untemp(x: Any, folder: Path) -> Any:
    """``x`` (text, or a dict/list of them) with the temporary ``folder/<n>/`` prefix of each
    uploaded file removed."""
    if isinstance(x, dict):
        return {k: _untemp(v, folder) for k, v in x.items()}
    if isinstance(x, list):
        return [_untemp(v, folder) for v in x]
    if isinstance(x, str):
        return re.sub(re.escape(str(folder)) + r"/(\d+/)?", "", x)
    return x


# ----- planning -----------------------------------------------------------------------------------
def training_load(library: Path, athlete: str | None = None, since: str | None = None) -> dict[str, Any]:
    """Training load of ``athlete`` (default the only one), as ``sub3 load --json``: per-day load,
    CTL/ATL/TSB, ramp, monotony, strain, per-run TRIMP with its source, the profile and zones.

    Raises:
        Sub3Error: no library, an unknown athlete, several athletes and none named, a bad date.
    """
    from sub3coach.load import load_report

    since_d = None
    if since:
        try:
            since_d = date.fromisoformat(since.strip())
        except ValueError:
            raise Sub3Error(f"since {since!r} is not a date (use YYYY-MM-DD)") from None
    if not library.exists():
        raise Sub3Error("no library yet: import your runs first", str(library))
    with LIBRARY_LOCK, _open(library) as lib:
        return jsonable(load_report(lib, athlete, since=since_d).to_json())


def plan_week(library: Path, athlete: str | None = None) -> dict[str, Any]:
    """Seven days from today for ``athlete`` (default the only one), as ``sub3 plan week --json``:
    runs with their structured sessions at the athlete's own paces, zones, form and volume.

    The planner's steps of :func:`sub3coach.plan.api.week_plan` (as the CLI): the history and
    the profile's zones are read under :data:`LIBRARY_LOCK`; the planning (pace model, expected
    HR) runs after it is released, under :data:`MODEL_LOCK`, so reading runs never waits for it.
    """
    from sub3coach.hr.predict import configure_threads
    from sub3coach.plan.api import athlete_inputs, plan_for
    from sub3coach.plan.cli import _model

    if not library.exists():
        raise Sub3Error("no library yet: import your runs first", str(library))
    with LIBRARY_LOCK, _open(library) as lib:
        name, hist, zones = athlete_inputs(lib, athlete)
    with MODEL_LOCK:
        configure_threads()
        plan = plan_for(name, hist, zones, model=_model(None, hist))
    return jsonable(plan.to_dict())
