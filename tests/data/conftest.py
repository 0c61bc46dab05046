"""Generated corpora for the dataset tests: a corpus Parquet and an Endomondo-format JSON file,
both made by the project itself (sub3coach.synth + the corpus writer)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from sub3coach.io.corpus import write_corpus
from sub3coach.synth import synthetic_run
from sub3coach.workout import Workout

START = datetime(2025, 3, 1, 7, 0, tzinfo=timezone.utc)


def synth_runs(n: int, n_users: int = 8, *, seed0: int = 0, minutes: float = 20.0) -> list[Workout]:
    """``n`` short synthetic runs of ``n_users`` runners (every 7th without HR, every 5th without GPS)."""
    out = []
    for i in range(n):
        w = synthetic_run(duration_s=minutes * 60 + 30 * (i % 5), seed=seed0 + i, hr=i % 7 != 3, gps=i % 5 != 4,
                          start=START + timedelta(days=i), sample_s=2.0)
        out.append(w.replace(user_id=f"u{i % n_users}", workout_id=f"w{seed0 + i:04d}",
                             gender=("male", "female", None)[i % 3]))
    return out


def endomondo_line(w: Workout) -> str:
    """One FitRec-format line (Python dict literal, speed in km/h) for ``w``."""
    rec = {"id": int(w.workout_id[1:]) + 100000, "userId": int(w.user_id[1:]) + 500, "gender": w.gender or "unknown",
           "sport": "run", "timestamp": [int(t) for t in w.time_s],
           "speed": [round(float(v) * 3.6, 3) for v in w.speed_mps]}
    if w.hr_bpm is not None:
        rec["heart_rate"] = [int(round(v)) for v in w.hr_bpm]
    if w.altitude_m is not None:
        rec["altitude"] = [round(float(v), 2) for v in w.altitude_m]
    return repr(rec)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic runs of 8 runners as a corpus Parquet (row groups of 4 workouts)."""
    p = tmp_path_factory.mktemp("corpus") / "runs.parquet"
    write_corpus(synth_runs(24), p, row_group_size=4)
    return p


@pytest.fixture(scope="session")
def json_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 runs of 4 runners in the FitRec layout, plus 2 malformed lines and a bike ride."""
    p = tmp_path_factory.mktemp("json") / "endomondoHR.json"
    lines = [endomondo_line(w) for w in synth_runs(10, 4, seed0=100)]
    bike = eval_free_bike(lines[0])
    lines[3:3] = ["{'id': 5, 'userId': 7, 'timestamp': [1, 2", "this is not a workout", bike]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def eval_free_bike(line: str) -> str:
    """The same workout as a bike ride (a sport the dataset leaves out)."""
    return line.replace("'sport': 'run'", "'sport': 'bike'").replace("'id': ", "'id': 9", 1)


def shard_files(ds_root: Path) -> list[Path]:
    """All shard files of a dataset folder, sorted."""
    return sorted(ds_root.rglob("part-*.parquet"))


def np_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
