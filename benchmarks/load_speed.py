"""Speed of ``sub3 load``: the first call (every run computed) and the next (from the cache).

Two libraries, built in a temporary folder:

* ``history``: ``--weeks`` weeks of ``sub3coach.synth.synthetic_history`` (about 4.6 runs a week),
  every other row without its average HR, so half the runs need the HR model (flat-course
  prediction) and half use the average HR;
* ``recorded`` (when ``../shared/data/runs-dev.parquet`` exists): the per-second runs of the
  dev runner with the most runs (600), all with recorded HR.

Each call is a fresh ``python -m sub3coach.cli load --json`` subprocess (imports included), so the
seconds are what a user waits. Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python benchmarks/load_speed.py --weeks 200
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "runs-dev.parquet"


def _time_load(lib: Path, cache: Path) -> tuple[float, dict]:
    env = {**os.environ, "SUB3_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO / "src")}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "sub3coach.cli", "load", "--library", str(lib), "--json"],
                       capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - t0, json.loads(p.stdout)


def _history_library(path: Path, weeks: int) -> None:
    from sub3coach.library import Library
    from sub3coach.synth import synthetic_history

    with Library(path) as lib, lib.batch():
        for i, r in enumerate(synthetic_history(weeks, seed=3)):
            lib.add_summary(replace(r, avg_hr_bpm=None if i % 2 else r.avg_hr_bpm))


def _recorded_library(path: Path, tmp: Path) -> bool:
    import duckdb

    if not DEV.exists():
        return False
    one = tmp / "runner.parquet"
    duckdb.sql(f"COPY (SELECT * FROM '{DEV}' WHERE user_id = (SELECT user_id FROM '{DEV}' GROUP BY 1 ORDER BY count(*) DESC "
               f"LIMIT 1)) TO '{one}' (FORMAT parquet)")
    subprocess.run([sys.executable, "-m", "sub3coach.cli", "import", str(one), "--library", str(path), "--json"],
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")}, check=True)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        libs = {"history": tmp / "history.duckdb"}
        _history_library(libs["history"], args.weeks)
        if _recorded_library(tmp / "recorded.duckdb", tmp):
            libs["recorded"] = tmp / "recorded.duckdb"
        for name, lib in libs.items():
            first, out = _time_load(lib, tmp / f"cache-{name}")
            second, _ = _time_load(lib, tmp / f"cache-{name}")
            print(f"{name}: {len(out['runs'])} runs, sources {out['sources']}: first call {first:.1f} s, "
                  f"next call {second:.1f} s", flush=True)


if __name__ == "__main__":
    main()
