"""The quality bar of issue 9 on the dev histories (runners never used in training).

At several dates per runner where the runner trained steadily (runs in each of the 4 weeks
before, at least 12 runs in those 28 days), ``plan week`` and ``plan next`` agree (the next run
is the week's first run), the week's volume lies within 0.6-1.25x the runner's 4-week average,
the week holds a rest day, and every tempo/interval session's work is faster than the week's
easy pace. The pace model is the bundled one; no HR model (``--no-hr``).
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from sub3coach.plan.history import load_histories
from sub3coach.plan.suggest import plan_week, suggest_next
from tests.conftest import shared_path

#: Dates checked per runner (evenly spread over the runner's steady dates).
DATES_PER_RUNNER = 3


def steady_dates(h: pd.DataFrame, k: int = DATES_PER_RUNNER) -> list[date]:
    """Up to ``k`` Mondays on which the runner trained steadily in the 4 weeks before."""
    t = h["start_time"]
    first, last = t.min().normalize(), t.max().normalize()
    out = []
    for day in pd.date_range(first + pd.Timedelta(days=28), last, freq="W-MON"):
        weeks = [((t >= day - pd.Timedelta(days=7 * (j + 1))) & (t < day - pd.Timedelta(days=7 * j))).sum() for j in range(4)]
        if min(weeks) >= 1 and sum(weeks) >= 12:
            out.append(day.date())
    if len(out) <= k:
        return out
    return [out[i] for i in np.linspace(0, len(out) - 1, k).round().astype(int)]


class OnceModel:
    """The pace model, called once per set of examples (``plan next`` plans the same week again)."""

    def __init__(self, model) -> None:
        self.model, self.cache, self.calls = model, {}, 0

    def predict_pace(self, ex) -> np.ndarray:
        key = (ex.tokens.tobytes(), ex.query.tobytes())
        if key not in self.cache:
            self.calls += 1
            self.cache = {key: self.model.predict_pace(ex)}
        return self.cache[key]


def check_week(h: pd.DataFrame, day: date, model) -> list[str]:
    """The quality-bar failures of one runner's plan from ``day`` (empty when it passes)."""
    bad = []
    week = plan_week(h, as_of=day, model=model, hr_model=False)
    nxt = suggest_next(h, as_of=day, model=model, hr_model=False)
    first = week.next_run
    if first is None or first.to_dict() != nxt.to_dict():
        bad.append(f"next {nxt.date} {nxt.type} != week's first run {first and first.date}")
    avg = week.volume.recent_weekly_avg_m
    lo, hi = 0.6 * avg, 1.25 * avg
    if not lo <= week.total_distance_m <= hi:
        bad.append(f"volume {week.total_distance_m / 1000:.1f} km outside {lo / 1000:.1f}-{hi / 1000:.1f}")
    if not any(w.is_rest for w in week):
        bad.append("no rest day")
    easy = [w.pace_s_per_km for w in week if w.type in ("easy", "long")]
    for w in week:
        if w.type in ("tempo", "interval") and easy:
            work = w.session.work.pace_s_per_km[1]  # slow end of the work range
            if not work < min(easy) * 0.97:
                bad.append(f"{w.type} work up to {work:.0f} s/km not clearly faster than easy {min(easy):.0f} s/km")
    return bad


@pytest.mark.shared
@pytest.mark.slow
def test_quality_bar_on_all_dev_histories() -> None:
    from sub3coach.plan.train import load_plan_model

    runners = load_histories(shared_path("histories"), strict=False)
    model = OnceModel(load_plan_model())
    failures, n = [], 0
    for uid, h in runners.items():
        for day in steady_dates(h):
            n += 1
            failures += [f"{uid} {day}: {b}" for b in check_week(h, day, model)]
    assert n >= 50, f"only {n} steady dates in the dev histories"
    assert model.calls == n  # plan next reused the week's predictions: the same plan
    assert not failures, f"{len(failures)} failures in {n} plans:\n" + "\n".join(failures[:30])
