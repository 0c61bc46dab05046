"""The input builder of benchmarks/import_speed.py: shifted copies of a FIT/GPX/TCX file read
back as the same workout, moved in time by exactly the shift (so the benchmark's export holds
distinct, real-shaped activities)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from sub3coach.io.dispatch import read_file
from sub3coach.io.write import write_gpx, write_tcx
from sub3coach.workout import CHANNELS
from sub3coach.synth import synthetic_run
from tests.fixtures.make_fit import make_fit_activity

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("import_speed", REPO / "benchmarks" / "import_speed.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _same_but_moved(a: bytes, b: bytes, delta: float) -> None:
    (x,), (y,) = read_file(a, name="a"), read_file(b, name="b")
    np.testing.assert_array_equal(x.time_s + delta, y.time_s)
    for c in CHANNELS:
        u, v = getattr(x, c), getattr(y, c)
        assert (u is None) == (v is None)
        if u is not None:
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("multisport", [False, True])
def test_shifted_fit_is_the_same_run_later(bench, multisport: bool) -> None:  # type: ignore[no-untyped-def]
    data = make_fit_activity(None, n=120, multisport=multisport)
    if multisport:
        ws_a, ws_b = read_file(data, name="a"), read_file(bench.shift_fit(data, 3 * 86400), name="b")
        assert [w.start_time.timestamp() + 3 * 86400 for w in ws_a] == [w.start_time.timestamp() for w in ws_b]
        return
    shifted = bench.shift_fit(data, 5 * 86400)
    assert shifted != data and len(shifted) == len(data)
    _same_but_moved(data, shifted, 5 * 86400)


def test_shifted_gpx_and_tcx_are_the_same_run_later(bench) -> None:  # type: ignore[no-untyped-def]
    w = synthetic_run(duration_s=600, seed=1)
    for data in (write_gpx(w), write_tcx(w)):
        _same_but_moved(data, bench.shift_xml(data, 2 * 86400), 2 * 86400)
