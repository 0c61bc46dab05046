"""sub3 hr predict DATASET_OR_PARQUET --out OUT/: equals the single-run prediction, resumable."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sub3coach.data.shard import ShardOptions, shard
from sub3coach.errors import Sub3Error
from sub3coach.hr.artifact import load_model
from sub3coach.hr.batch import is_batch_request, predict_corpus
from sub3coach.hr.predict import HR_RANGE_BPM, predict_full
from sub3coach.io.corpus import iter_corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, corpus_file: Path) -> Path:
    out = tmp_path_factory.mktemp("ds") / "ds"
    shard([corpus_file], out, opts=ShardOptions(shard_mb=0.3), workers=1)
    return out


def _by_workout(out: Path) -> dict[str, dict[str, np.ndarray]]:
    df = pq.read_table(out).to_pandas()
    return {wid: {c: g[c].to_numpy() for c in g.columns} for wid, g in df.groupby("workout_id", sort=False)}


def test_dataset_predictions_equal_single_run(tmp_path, dataset, corpus_file):
    lm = load_model()
    res = predict_corpus(dataset, tmp_path / "pred", workers=1)
    assert res["kind"] == "dataset" and res["workouts"] == 24
    rows = _by_workout(tmp_path / "pred")
    for w in iter_corpus(corpus_file):
        single = predict_full(lm, w)
        got = rows[w.workout_id]
        # the batch gives grid values; the single run interpolates them to the recorded samples
        for c in ("hr_pred", "hr_lo", "hr_hi"):
            back = np.clip(np.interp(w.time_s, got["timestamp"], got[c].astype(np.float64)), *HR_RANGE_BPM)
            np.testing.assert_allclose(back, getattr(single, c), atol=2e-3, err_msg=c)
        assert np.isnan(got["hr_bpm"]).all() == (w.hr_bpm is None)


def test_corpus_predictions_equal_single_run(tmp_path, corpus_file):
    lm = load_model()
    res = predict_corpus(corpus_file, tmp_path / "pred", workers=2)  # a pool of 2 processes
    assert res["kind"] == "corpus" and res["parts"] == 6 and res["workouts"] == 24
    rows = _by_workout(tmp_path / "pred")
    for w in iter_corpus(corpus_file):
        single = predict_full(lm, w)
        got = rows[w.workout_id]
        np.testing.assert_array_equal(got["timestamp"], w.time_s)
        for c in ("hr_pred", "hr_lo", "hr_hi"):
            np.testing.assert_allclose(got[c], getattr(single, c).astype(np.float32), atol=1e-4)
        if w.hr_bpm is not None:
            np.testing.assert_allclose(got["hr_bpm"], w.hr_bpm.astype(np.float32))


def test_resume_skips_done_parts(tmp_path, dataset):
    out = tmp_path / "pred"
    first = predict_corpus(dataset, out, workers=1)
    files = sorted(out.glob("*.parquet"))
    assert len(files) == first["parts"] >= 2
    stamp = {f: f.stat().st_mtime_ns for f in files}
    files[0].unlink()  # as if the run had been killed before its first part was renamed into place
    (out / "x.parquet.tmp").write_bytes(b"partial")
    again = predict_corpus(dataset, out, workers=1)
    assert again["workouts"] == first["workouts"] and again["rows"] == first["rows"]
    assert all(f.stat().st_mtime_ns == stamp[f] for f in files[1:]) and files[0].exists()
    assert not list(out.glob("*.tmp"))


def test_batch_request_detection(tmp_path, dataset, corpus_file):
    assert is_batch_request(str(dataset), tmp_path / "out")
    assert is_batch_request(str(corpus_file), tmp_path / "out")
    assert not is_batch_request(str(corpus_file), tmp_path / "out.parquet")  # the one-file output stays
    assert is_batch_request(str(dataset), None)  # refused in one line by the command (below)
    assert not is_batch_request(str(corpus_file), None)


def test_cli_batch_and_bad_model(tmp_path, dataset):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    r = subprocess.run([sys.executable, "-m", "sub3coach.cli", "hr", "predict", str(dataset), "--out", str(tmp_path / "p"),
                        "--json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["workouts"] == 24
    for out in ([], ["--out", str(tmp_path / "p.csv")]):
        r = subprocess.run([sys.executable, "-m", "sub3coach.cli", "hr", "predict", str(dataset), *out],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 2 and "predict it into a folder with --out" in r.stderr and r.stderr.count("\n") == 1
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    with pytest.raises(Sub3Error, match="bad.pt"):
        predict_corpus(dataset, tmp_path / "q", model=bad, workers=1)
