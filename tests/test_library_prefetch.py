"""Batched duplicate checks (:meth:`Library.prefetch`): one query answers every check of a
batch, with exactly the answers of the per-workout queries."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sub3coach.library import Library
from sub3coach.workout import RunSummary, Workout
from tests.test_library import _run


class _Counting:
    """A DuckDB connection proxy counting SELECT statements."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.selects = 0

    def execute(self, sql: str, *a: Any, **k: Any) -> Any:
        if sql.lstrip().upper().startswith("SELECT"):
            self.selects += 1
        return self._con.execute(sql, *a, **k)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _keys(ws: list[Workout]) -> list[tuple[str, float]]:
    return [(w.workout_id or w.content_id(), float(w.time_s[0])) for w in ws]


def _mixed(lib: Library) -> list[Workout]:
    """Stored: a run, a summary-only day row, a ride. Returned: workouts that are new, exact
    re-imports, other-format copies, a replacement of the summary row, and a run an hour on."""
    base = _run(start=1.7e9)
    lib.add_workout(base)
    lib.add_workout(_run(start=1.7e9 + 10 * 86400, sport="bike", speed=8.0))
    day = datetime.fromtimestamp(1.7e9 + 20 * 86400, tz=timezone.utc).replace(hour=0, minute=0, second=0)
    lib.add_summary(RunSummary(start_time=day, distance_m=3600, duration_s=1199, metadata={"date_only": True}))
    return [
        base,                                                           # same content: duplicate
        base.replace(time_s=base.time_s + 30.0, hr_bpm=None, workout_id=None),  # other format: duplicate
        _run(start=1.7e9 + 3600 * 3),                                   # new
        _run(start=1.7e9 + 10 * 86400 + 5),                             # a run at the ride's time: new
        _run(start=1.7e9 + 20 * 86400),                                 # replaces the day-only row
        _run(start=1.7e9 + 20 * 86400 + 40),                            # then a duplicate of that
    ]


def _statuses(lib: Library, ws: list[Workout], prefetch: bool) -> list[str]:
    with lib.batch():
        if prefetch:
            lib.prefetch(_keys(ws))
        return [lib.add_workout(w).status for w in ws]


def test_prefetched_checks_give_the_same_answers(tmp_path: Path) -> None:
    a, b = Library(tmp_path / "a.duckdb"), Library(tmp_path / "b.duckdb")
    ws_a, ws_b = _mixed(a), _mixed(b)
    got = _statuses(a, ws_a, prefetch=True)
    assert got == _statuses(b, ws_b, prefetch=False)
    assert got == ["duplicate", "duplicate", "imported", "imported", "replaced", "duplicate"]
    assert a.count() == b.count() == 5  # 3 stored + 2 new (the replacement takes the day row's place)
    assert [r["id"] for r in a.runs()] == [r["id"] for r in b.runs()]


def test_a_batch_reads_the_library_once(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    ws = _mixed(lib)
    counting = _Counting(lib.con)
    lib._con = counting
    try:
        _statuses(lib, ws, prefetch=True)
        assert counting.selects == 1
        counting.selects = 0
        more = [_run(start=1.8e9 + 86400 * k) for k in range(5)]
        _statuses(lib, more, prefetch=False)
        assert counting.selects >= 10  # without it: an id check and two duplicate queries each
    finally:
        lib._con = counting._con


def test_checks_outside_the_prefetched_windows_still_query(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    w = _run(start=1.7e9)
    lib.add_workout(w)
    with lib.batch():
        lib.prefetch([("other", 1.9e9)])  # a window far from w
        assert lib.add_workout(w.replace(time_s=w.time_s + 10.0, workout_id=None)).status == "duplicate"


def test_prefetch_ends_with_its_batch(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    with lib.batch():
        lib.prefetch([("x", 1.7e9)])
        assert lib._pf is not None
    assert lib._pf is None
    with pytest.raises(RuntimeError):
        with lib.batch():
            lib.prefetch([("x", 1.7e9)])
            raise RuntimeError("boom")
    assert lib._pf is None
    lib.add_workout(_run(start=1.7e9))  # stored after the batch: seen by the next check
    with lib.batch():
        lib.prefetch([("y", 1.7e9)])
        assert lib.add_workout(_run(start=1.7e9).replace(hr_bpm=None, workout_id=None)).status == "duplicate"
    assert np.isfinite(lib.runs()[0]["distance_m"])


@pytest.mark.parametrize("nan_is_null", [True, False])
def test_list_arrays_match_pyarrows_own_conversion(nan_is_null: bool) -> None:
    import pyarrow as pa

    from sub3coach._library_batch import _list_array

    rng = np.random.default_rng(0)
    arrays: list[np.ndarray | None] = [rng.normal(size=n) for n in (5, 0, 3000, 1)]
    arrays[2][[0, 7, 2999]] = np.nan
    arrays.insert(1, None)
    for case in (arrays, [None, None], [], [np.array([np.nan])]):
        want = pa.array(case, type=pa.list_(pa.float64()), from_pandas=nan_is_null)
        got = _list_array(case, nan_is_null=nan_is_null)
        assert got.type == want.type and got.offsets.equals(want.offsets)
        assert got.is_null().equals(want.is_null())
        gv, wv = got.flatten(), want.flatten()
        assert gv.is_null().equals(wv.is_null())  # NaN -> null only when nan_is_null
        np.testing.assert_array_equal(gv.to_numpy(zero_copy_only=False), wv.to_numpy(zero_copy_only=False))
