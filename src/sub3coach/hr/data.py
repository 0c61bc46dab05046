"""Data for the HR model: where workouts come from, the runner-disjoint split, featurising.

A ``--data`` path can be a corpus Parquet file (or folder of shards), an Endomondo/FitRec JSON
file, a sub3coach library (DuckDB) file, or a single FIT/GPX/TCX workout.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sub3coach.errors import MissingChannel, Sub3Error
from sub3coach.features import FeatureSpec, Prepared, prepare
from sub3coach.workout import Workout

log = logging.getLogger(__name__)

#: A workout needs at least this many grid steps with HR to be used for training/evaluation.
MIN_VALID_STEPS: int = 24  # 2 min at 5 s


def data_kind(path: str | os.PathLike) -> str:
    """``"corpus"``, ``"endomondo"``, ``"library"`` or ``"file"`` for a ``--data`` path."""
    p = Path(path)
    if p.is_dir():
        return "corpus"
    name = p.name.lower()
    if name.endswith(".parquet"):
        return "corpus"
    if name.endswith((".duckdb", ".db", ".sub3")):
        return "library"
    if name.endswith((".json", ".json.gz", ".jsonl")):
        return "endomondo"
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return "file"
    if head[:4] == b"PAR1":
        return "corpus"
    if head[8:12] == b"DUCK":
        return "library"
    return "file"


def iter_workouts(path: str | os.PathLike, *, user_ids: Iterable[str] | None = None, sport: str | None = "run") -> Iterator[Workout]:
    """Stream the workouts at ``path`` (see :func:`data_kind`), optionally only some runners.

    Raises:
        Sub3Error: missing or unreadable input.
    """
    p = Path(path)
    if not p.exists():
        raise Sub3Error("no such file or folder", str(p))
    kind = data_kind(p)
    users = None if user_ids is None else {str(u) for u in user_ids}
    if kind == "corpus":
        from sub3coach.io.corpus import iter_corpus

        it: Iterable[Workout] = iter_corpus(p, user_ids=users)
    elif kind == "endomondo":
        from sub3coach.io.endomondo import iter_endomondo

        it = iter_endomondo(p)
    elif kind == "library":
        from sub3coach.library import Library

        def _lib() -> Iterator[Workout]:
            lib = Library(p, read_only=True)
            try:
                for w in lib.iter_workouts(sport=sport):
                    # the library's athlete is the runner (runs without a source runner id included)
                    who = (w.metadata or {}).get("athlete")
                    yield w.replace(user_id=who) if who and not w.user_id else w
            finally:
                lib.close()

        it = _lib()
    else:
        from sub3coach.io.dispatch import read_workout

        it = [read_workout(p)]
    for w in it:
        if users is not None and str(w.user_id) not in users:
            continue
        if sport is not None and w.sport not in (sport, "unknown"):
            continue
        yield w


def runner_id(w_user: object, workout_id: object) -> str:
    """The runner key used for splitting: the user id, or the workout itself when unknown."""
    return str(w_user) if w_user not in (None, "", "None") else f"anon:{workout_id}"


def runner_split(
    user_of_workout: Sequence[str],
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
    seed: int = 0,
) -> dict[str, list[str]]:
    """Split runners (never workouts) into train/val/test, seeded.

    Runners are shuffled with ``seed`` and visited in that order; each goes to test, else val,
    when that part is still below its share of the *workouts* and taking the runner brings the
    part closer to its share (the first runner of a part is always taken); otherwise to train.
    Runners are indivisible, so with few of them the parts only approximate the fractions. Train
    always keeps at least one runner.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` sorted runner ids.
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError("fractions must be >= 0 and sum to 1")
    users, counts = np.unique(np.asarray([str(u) for u in user_of_workout]), return_counts=True)
    n_total = float(counts.sum())
    rng = np.random.default_rng(seed)
    order = rng.permutation(users.size)
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    got = {"test": 0.0, "val": 0.0}
    target = {"test": fractions[2] * n_total, "val": fractions[1] * n_total}
    for k, j in enumerate(order.tolist()):
        u, c = str(users[j]), float(counts[j])
        last_chance_for_train = not parts["train"] and k == users.size - 1
        dest = "train"
        if not last_chance_for_train:
            for part in ("test", "val"):
                if target[part] <= 0 or got[part] >= target[part]:
                    continue
                if not parts[part] or abs(got[part] + c - target[part]) <= abs(got[part] - target[part]):
                    dest = part
                    break
        parts[dest].append(u)
        if dest != "train":
            got[dest] += c
    return {k: sorted(v) for k, v in parts.items()}


@dataclass
class PreparedSet:
    """Featurised workouts plus counts of what was skipped and why."""

    items: list[Prepared] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


def prepare_all(
    workouts: Iterable[Workout],
    spec: FeatureSpec,
    *,
    need_hr: bool = True,
    min_valid_steps: int = MIN_VALID_STEPS,
    keep_samples: bool = False,
    cut_hr_minutes: float | None = None,
) -> PreparedSet:
    """Featurise workouts, skipping (and counting) those that cannot be used.

    With ``need_hr`` a workout is kept only when it has at least ``min_valid_steps`` grid
    steps with a sane HR (sensor sanity only; HR never filters anything else). ``keep_samples``
    keeps each recording's own sample times and HR for per-sample scoring;
    ``cut_hr_minutes`` keeps the grid HR an in-run forecast of that many minutes may see (see
    :func:`sub3coach.features.prepare`)."""
    out = PreparedSet()

    def skip(reason: str) -> None:
        out.skipped[reason] = out.skipped.get(reason, 0) + 1

    for w in workouts:
        if w.sport not in ("run", "unknown"):
            skip("not a run")
            continue
        if len(w) < 2:
            skip("fewer than 2 samples")
            continue
        if need_hr and not w.has("hr_bpm"):
            skip("no heart rate")
            continue
        try:
            p = prepare(w, spec, keep_samples=keep_samples, cut_hr_minutes=cut_hr_minutes)
        except MissingChannel:
            skip("no speed, distance or GPS")
            continue
        except (Sub3Error, ValueError) as exc:
            log.warning("skipping workout %s: %s", w.workout_id, exc)
            skip("unreadable")
            continue
        if len(p.time_s) < 2:
            skip("too short")
            continue
        if need_hr and int(p.mask.sum()) < min_valid_steps:
            skip("too little valid heart rate")
            continue
        out.items.append(p)
    return out


def select_columns(items: Sequence[Prepared], all_names: Sequence[str], names: Sequence[str]) -> list[Prepared]:
    """The same prepared workouts restricted to feature columns ``names`` (views, no copies of
    the targets) — so one featurisation pass serves several models."""
    pos = [list(all_names).index(n) for n in names]
    return [
        Prepared(time_s=p.time_s, x=p.x[:, pos], hr_bpm=p.hr_bpm, observed=p.observed, workout_id=p.workout_id,
                 user_id=p.user_id, speed_mps=p.speed_mps, meta=p.meta)
        for p in items
    ]
