"""Personalising the HR model to one runner: from files, a corpus or a library athlete.

:func:`personalize` fits the personal head's parameters (:func:`sub3coach.hr.personal.fit_runner`)
on a runner's recorded runs with HR and returns the model with them attached, which
:func:`sub3coach.hr.artifact.save_loaded` writes as a normal artifact. For a library athlete,
:func:`library_personal` keeps each run's sufficient statistics in a cache file in the user's
cache dir (keyed by library, athlete and model), so only runs imported since are predicted:
the personal model refreshes itself when new runs with HR arrive and costs milliseconds after.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sub3coach.errors import Sub3Error
from sub3coach.hr import personal as P
from sub3coach.hr.artifact import LoadedModel
from sub3coach.workout import Workout

log = logging.getLogger(__name__)

#: Cache format of :func:`library_personal` (bump when RunStats change).
CACHE_VERSION = 1


def run_stats_of(lm: LoadedModel, workouts: Iterable[Workout], *, chunk: int = 64,
                 on_run: Callable[[Workout, P.RunStats | None], None] | None = None) -> list[P.RunStats]:
    """Predict each run with the population network and reduce it to :class:`RunStats`
    (runs without HR, speed or enough valid samples are skipped)."""
    from sub3coach.hr.data import prepare_all
    from sub3coach.hr.predict import predict_prepared

    out: list[P.RunStats] = []
    buf: list[Workout] = []

    def flush() -> None:
        prepared = [prepare_all([w], lm.spec).items for w in buf]  # [] or [p] per workout, by position
        preds = iter(predict_prepared(lm, [ps[0] for ps in prepared if ps]))
        for w, ps in zip(buf, prepared):
            st = None
            if ps:
                p, g = ps[0], next(preds)
                st = P.run_stats(p.time_s, g, p.hr_bpm, p.mask) if p.hr_bpm is not None else None
            if st is not None:
                out.append(st)
            if on_run:
                on_run(w, st)
        buf.clear()

    for w in workouts:
        buf.append(w)
        if len(buf) >= chunk:
            flush()
    if buf:
        flush()
    return out


def personalize(lm: LoadedModel, workouts: Iterable[Workout], *, stated: dict[str, float | None] | None = None,
                athlete: str | None = None) -> LoadedModel:
    """The model with a runner's personal parameters fitted on ``workouts`` (their history).

    Raises:
        Sub3Error: no run with heart rate and speed to learn from.
    """
    head = lm.head or P.default_head()
    stats = run_stats_of(lm, workouts)
    if not stats:
        raise Sub3Error("no run with heart rate and speed/distance/GPS to personalise on")
    return with_personal(lm, P.fit_runner(head, stats, stated=stated), athlete)


def stated_values(max_hr: float | None = None, resting_hr: float | None = None) -> dict[str, float | None]:
    """The covariates a runner states, by the head's names (None = unknown)."""
    return {"max_hr_bpm": max_hr, "resting_hr_bpm": resting_hr}


# ---------------------------------------------------------------------------------------------
# library athletes: a cached personal model refreshed as runs arrive
# ---------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """``$SUB3_CACHE_DIR`` or the user cache dir (platformdirs) + ``/personal``."""
    env = os.environ.get("SUB3_CACHE_DIR")
    if env:
        return Path(env) / "personal"
    import platformdirs

    return Path(platformdirs.user_cache_dir("sub3coach", appauthor=False)) / "personal"


def _cache_file(library_path: str | os.PathLike, athlete: str, lm: LoadedModel) -> Path:
    model_id = f"{lm.path}|{lm.meta.get('created_utc')}|{lm.meta.get('package_version')}"
    key = json.dumps([str(Path(library_path).resolve()), athlete, model_id, CACHE_VERSION])
    return cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        d = json.loads(path.read_text())
        return d["runs"] if isinstance(d, dict) and d.get("version") == CACHE_VERSION else {}
    except (OSError, ValueError, KeyError):
        return {}


def _write_cache(path: Path, runs: dict[str, Any]) -> None:
    from sub3coach.cache import write_atomic

    try:
        write_atomic(path, json.dumps({"version": CACHE_VERSION, "runs": runs}))
    except OSError as exc:  # a read-only cache dir costs speed, never correctness
        log.warning("cannot write the personal-model cache %s: %s", path, exc)


def library_personal(lm: LoadedModel, lib: Any, athlete: str, *, stated: dict[str, float | None] | None = None,
                     before_s: float | None = None) -> P.Personal:
    """The athlete's personal parameters from their library runs with HR (cached, refreshed).

    Args:
        lm: the population model; lib: an open :class:`sub3coach.library.Library`;
        athlete: a resolved athlete name; stated: their stated max/resting HR.
        before_s: only runs that started before this time (unix s) count — when predicting a
            run already done, it is predicted from what was known before it, never from itself.
    """
    head = lm.head or P.default_head()
    path = _cache_file(lib.path, athlete, lm)
    cached = _read_cache(path)
    rows = _runs_with_hr(lib, athlete)
    known = {r["id"] for r in rows}
    missing = [r["id"] for r in rows if r["id"] not in cached]
    if missing:
        log.info("personal model of %s: %d new run(s) with HR", athlete, len(missing))
        cached = learn_runs(lm, lib.path, athlete, (lib.get_workout(i) for i in missing), known=known)
    stats = [P.RunStats.from_dict(v) for k, v in cached.items() if k in known and v is not None]
    if before_s is not None:
        stats = [s for s in stats if s.start_s < before_s - 60.0]
    return P.fit_runner(head, stats, stated=stated)


def _runs_with_hr(lib: Any, athlete: str) -> list[dict[str, Any]]:
    """The athlete's runs with samples and HR: what a personal model learns from."""
    return [r for r in lib.runs(sport="run", athlete=athlete) if not r["summary_only"] and r.get("avg_hr_bpm")]


def runs_to_learn(lm: LoadedModel, lib: Any, athlete: str) -> list[str]:
    """Ids of ``athlete``'s runs with HR whose statistics the personal-model cache lacks (what
    :func:`library_personal` would compute first), oldest first."""
    cached = _read_cache(_cache_file(lib.path, athlete, lm))
    return [r["id"] for r in _runs_with_hr(lib, athlete) if r["id"] not in cached]


def learn_runs(lm: LoadedModel, library_path: str | os.PathLike, athlete: str, workouts: Iterable[Workout],
               known: set[str] | None = None) -> dict[str, Any]:
    """Add these library ``workouts``' statistics to ``athlete``'s personal-model cache, needing
    no open library (the web app computes them outside its library lock; :func:`library_personal`
    then finds them cached). ``known``: the run ids still in the library (others are dropped).
    Returns the run id -> statistics map (also when the cache cannot be written)."""
    new: dict[str, Any] = {}

    def keep(w: Workout, st: P.RunStats | None) -> None:
        new[str(w.workout_id)] = st.to_dict() if st is not None else None

    run_stats_of(lm, workouts, on_run=keep)
    path = _cache_file(library_path, athlete, lm)
    runs = {**_read_cache(path), **new}
    if known is not None:
        runs = {k: v for k, v in runs.items() if k in known}
    _write_cache(path, runs)
    return runs


def with_personal(lm: LoadedModel, personal: P.Personal, athlete: str | None) -> LoadedModel:
    """A copy of ``lm`` carrying ``personal`` (for saving or predicting)."""
    meta = {**lm.meta, "athlete": {"name": athlete, "runs": personal.n_runs, "last_run_s": personal.last_run_s,
                                   "stated": {k: v for k, v in personal.stated.items() if v is not None}}}
    return replace(lm, personal=personal, meta=meta, path=None, head=lm.head or P.default_head())

