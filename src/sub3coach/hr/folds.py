"""Runner-level K-fold splits: every runner in exactly one test fold, never on both sides.

Pure functions over runner ids and workout counts (no I/O), shared by the evaluation protocol
(:mod:`sub3coach.hr.protocol`) and the scripts that rebuild the bundled model.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def runner_folds(user_of_workout: Sequence[str], k: int, seed: int = 0) -> list[list[str]]:
    """Assign runners (never workouts) to ``k`` folds with similar numbers of workouts.

    Runners are ordered by workout count (largest first, ties broken by a seeded shuffle) and
    each goes to the fold that holds the fewest workouts so far (greedy balancing), so one
    runner with many runs does not make one fold much larger than the others.

    Returns:
        ``k`` sorted lists of runner ids (a fold may be empty only when there are fewer runners
        than folds, which callers refuse).
    """
    if k < 2:
        raise ValueError("K-fold needs k >= 2")
    users, counts = np.unique(np.asarray([str(u) for u in user_of_workout]), return_counts=True)
    rng = np.random.default_rng(seed)
    jitter = rng.permutation(users.size)
    order = sorted(range(users.size), key=lambda i: (-int(counts[i]), int(jitter[i])))
    folds: list[list[str]] = [[] for _ in range(k)]
    load = np.zeros(k)
    for i in order:
        f = int(np.argmin(load + 1e-9 * np.arange(k)))
        folds[f].append(str(users[i]))
        load[f] += counts[i]
    return [sorted(f) for f in folds]


def inner_validation(train_users: Sequence[str], user_of_workout: Sequence[str], fraction: float = 0.15,
                     seed: int = 0) -> list[str]:
    """Runners of a training part held out for early stopping and calibration (about
    ``fraction`` of its workouts, at least one runner, never all of them)."""
    from sub3coach.hr.data import runner_split

    keep = set(str(u) for u in train_users)
    users = [str(u) for u in user_of_workout if str(u) in keep]
    if len(set(users)) < 2:
        return []
    parts = runner_split(users, (1.0 - fraction, fraction, 0.0), seed=seed)
    return parts["val"]
