"""Race pacing under an HR cap: grade-aware, under the cap, slower for a lower cap."""
from __future__ import annotations

import numpy as np
import pytest

from sub3coach.errors import Sub3Error
from sub3coach.hr.artifact import load_model
from sub3coach.hr.pace import km_cost_factors, minetti_cost, plan_pace
from sub3coach.synth import synthetic_course


def test_minetti_cost() -> None:
    assert minetti_cost(np.zeros(1))[0] == pytest.approx(3.6)
    assert minetti_cost(np.array([0.1]))[0] > 3.6 > minetti_cost(np.array([-0.1]))[0]


def test_km_factors_follow_the_grade() -> None:
    d = np.linspace(0, 3000, 301)
    alt = np.where(d < 1000, 0.0, np.where(d < 2000, (d - 1000) * 0.05, 50.0))  # flat, 5 % up, flat
    f = km_cost_factors(d, alt)
    assert f.shape == (3,) and f[1] > 1.15 and abs(f[0] - 1) < 0.05
    np.testing.assert_allclose(km_cost_factors(d, None), 1.0)


def test_plan_stays_under_the_cap_and_slows_for_a_lower_cap() -> None:
    lm = load_model()
    course = synthetic_course(6000, seed=3)
    hi = plan_pace(lm, course, 170)
    lo = plan_pace(lm, course, 155)
    assert hi.hr_pred_max <= 170 + 1e-6 and lo.hr_pred_max <= 155 + 1e-6
    assert lo.finish_s > hi.finish_s
    assert len(hi.splits) == 6 and all(150 <= s["pace_s_per_km"] <= 900 * 1.5 for s in hi.splits)
    d = hi.to_dict()
    assert set(d) >= {"splits", "finish_s", "hr_pred_max"}


def test_impossible_cap_is_a_clear_error() -> None:
    with pytest.raises(Sub3Error, match="cap"):
        plan_pace(load_model(), synthetic_course(3000, seed=1), 60)
