"""sub3 data shard + the dataset reader: round trip, split, cap, idempotence, resume, staleness."""
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sub3coach.data.dataset import iter_prepared, open_dataset, spec_hash
from sub3coach.data.shard import PROGRESS, ShardOptions, default_spec, shard, split_of
from sub3coach.errors import Sub3Error
from sub3coach.features import FeatureSpec, SUB3_V2_FEATURES, prepare
from sub3coach.hr.data import iter_workouts, runner_id
from sub3coach.io.corpus import iter_corpus, write_corpus
from sub3coach.io.write import write_gpx, write_tcx
from tests.conftest import shared_path
from tests.data.conftest import np_equal, shard_files, synth_runs

REPO = Path(__file__).resolve().parents[2]


def _check_round_trip(ds_root: Path, sources: list[Path], min_compared: int) -> None:
    ds = open_dataset(ds_root)
    got = {p.workout_id: p for p in iter_prepared(ds.all_shards())}
    n = 0
    for src in sources:
        for w in iter_workouts(src, sport=None):
            if w.sport != "run":
                continue
            p = prepare(w, ds.spec)
            q = got.pop(w.workout_id)
            assert q.x.dtype == np.float32 and q.x.shape == p.x.shape
            assert np_equal(q.x, p.x.astype(np.float32))
            for a in ("time_s", "hr_bpm", "observed", "speed_mps"):
                assert np_equal(getattr(q, a), getattr(p, a)), a
            assert (q.workout_id, q.user_id) == (p.workout_id, p.user_id)
            assert q.meta["gender"] == w.gender
            assert q.meta["runner_id"] == runner_id(w.user_id, w.workout_id)
            n += 1
    assert not got, "rows that come from no input"
    assert n >= min_compared


def test_round_trip_equals_prepare(tmp_path, corpus_file, json_file):
    out = tmp_path / "ds"
    m = shard([corpus_file, json_file], out, opts=ShardOptions(shard_mb=1), workers=1)
    assert m["done"] == "written"
    assert m["counts"]["workouts"] == 24 + 10
    assert m["counts"]["with_hr"] < m["counts"]["workouts"]  # runs without HR are kept (for prediction)
    _check_round_trip(out, [corpus_file, json_file], 34)
    ds = open_dataset(out)
    assert ds.manifest["feature_spec_hash"] == spec_hash(ds.spec) and ds.spec == default_spec()
    # a model using a subset of the features reads just those columns, in its order
    sub = FeatureSpec(names=tuple(reversed(SUB3_V2_FEATURES[:1] + ("grade_30s", "speed_rel"))))
    ds.check_spec(sub)
    full = next(iter_prepared(ds.shards("train")))
    part = next(iter_prepared(ds.shards("train"), columns=sub.names))
    pos = [ds.spec.names.index(n) for n in sub.names]
    assert np.array_equal(part.x, full.x[:, pos], equal_nan=True)
    # the training filter
    kept = list(iter_prepared(ds.all_shards(), min_valid_steps=24))
    assert 0 < len(kept) < 34 and all(int(p.mask.sum()) >= 24 for p in kept)


def test_bundled_model_uses_the_default_spec():
    from sub3coach.hr.artifact import load_model

    assert load_model().spec == default_spec()


def test_runner_disjoint_split(tmp_path, corpus_file, json_file):
    out = tmp_path / "ds"
    opts = ShardOptions(shard_mb=1, val_frac=0.25, test_frac=0.25, seed=3)
    m = shard([corpus_file, json_file], out, opts=opts, workers=1)
    ds = open_dataset(out)
    seen: dict[str, str] = {}
    for s in ("train", "val", "test"):
        runners = set()
        for p in iter_prepared(ds.shards(s)):
            r = p.meta["runner_id"]
            assert seen.setdefault(r, s) == s, f"runner {r} in two splits"
            assert split_of(r, opts) == s
            runners.add(r)
        assert sorted(runners) == m["splits"][s]["runners"]
    assert len(seen) == m["counts"]["runners"] == 8 + 4
    assert len({s for s in seen.values()}) == 3  # with 12 runners and 25/25/50 % every split is used


def test_shard_size_cap(tmp_path, corpus_file):
    out = tmp_path / "ds"
    m = shard([corpus_file], out, opts=ShardOptions(shard_mb=0.15, val_frac=0.0, test_frac=0.0), workers=1)
    files = shard_files(out)
    assert len(files) >= 3
    assert all(f.stat().st_size <= 0.15 * 2**20 for f in files)
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == m["counts"]["workouts"] == 24


def test_idempotent_and_deterministic_across_workers(tmp_path, corpus_file, json_file):
    a, b = tmp_path / "a", tmp_path / "b"
    opts = ShardOptions(shard_mb=0.3)
    shard([corpus_file, json_file], a, opts=opts, workers=1)
    before = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in a.rglob("*") if f.is_file()}
    again = shard([corpus_file, json_file], a, opts=opts, workers=1)
    assert again["done"] == "up to date"
    assert {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in a.rglob("*") if f.is_file()} == before
    # a pool of 2 processes writes the same bytes
    shard([corpus_file, json_file], b, opts=opts, workers=2)
    fa, fb = shard_files(a), shard_files(b)
    assert [f.relative_to(a) for f in fa] == [f.relative_to(b) for f in fb]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(fa, fb))
    # other options (or inputs) into the same folder are refused, in one line
    with pytest.raises(Sub3Error, match="other options"):
        shard([corpus_file, json_file], a, opts=ShardOptions(shard_mb=0.3, seed=1), workers=1)
    with pytest.raises(Sub3Error, match="other inputs"):
        shard([corpus_file], a, opts=opts, workers=1)


def test_bad_lines_counted_not_fatal(tmp_path, json_file):
    m = shard([json_file], tmp_path / "ds", opts=ShardOptions(), workers=1)
    assert m["counts"]["workouts"] == 10
    assert m["counts"]["skipped"] == {"malformed line": 2, "not a run": 1}


def test_stale_dataset_refused(tmp_path, corpus_file):
    out = tmp_path / "ds"
    shard([corpus_file], out, workers=1)
    mpath = out / "manifest.json"
    m = json.loads(mpath.read_text())
    m["feature_spec_hash"] = "0123456789abcdef"  # as made by code whose features differ
    mpath.write_text(json.dumps(m))
    with pytest.raises(Sub3Error, match="stale dataset") as e:
        open_dataset(out)
    assert "\n" not in str(e.value) and str(out) in str(e.value)
    r = subprocess.run([sys.executable, "-m", "sub3coach.cli", "hr", "predict", str(out), "--out", str(tmp_path / "p")],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "stale dataset" in r.stderr


def test_grid_mismatch_and_unfinished_refused(tmp_path, corpus_file):
    out = tmp_path / "ds"
    shard([corpus_file], out, workers=1)
    ds = open_dataset(out)
    with pytest.raises(Sub3Error, match="grid"):
        ds.check_spec(FeatureSpec(step_s=10.0))
    (out / "manifest.json").unlink()
    with pytest.raises(Sub3Error, match="unfinished"):
        open_dataset(out)
    with pytest.raises(Sub3Error, match="not empty"):
        shard([corpus_file], tmp_path, workers=1)


def test_resume_after_kill(tmp_path):
    """Kill the real command mid-run (SIGKILL), run it again: it resumes and the dataset is the
    one an uninterrupted run writes."""
    corpus = tmp_path / "big.parquet"
    write_corpus(synth_runs(80, 10, seed0=500, minutes=40.0), corpus, row_group_size=2)
    cmd = [sys.executable, "-m", "sub3coach.cli", "data", "shard", str(corpus), "--shard-mb", "0.12", "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prog = killed / PROGRESS
    t0 = time.monotonic()
    while not prog.exists() and proc.poll() is None and time.monotonic() - t0 < 120:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "manifest.json").exists(), "the run finished before it could be killed"
    journal = json.loads(prog.read_text())
    on_disk = {f: f.stat().st_mtime_ns for s, k in journal["next_part"].items()
               for f in (killed / f"split={s}").glob("part-*.parquet") if int(f.stem[5:]) < k}
    assert on_disk, "the journal names shards already written"
    r = subprocess.run(cmd + ["--out", str(killed), "--json"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["done"] == "resumed"
    assert {f: f.stat().st_mtime_ns for f in on_disk} == on_disk  # shards on disk were not written again
    assert json.loads((killed / PROGRESS).read_text())["status"] == "complete"
    fresh = tmp_path / "fresh"
    shard([corpus], fresh, opts=ShardOptions(shard_mb=0.12), workers=1)
    fk, ff = shard_files(killed), shard_files(fresh)
    assert [f.relative_to(killed) for f in fk] == [f.relative_to(fresh) for f in ff]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(fk, ff))
    mk, mf = (json.loads((d / "manifest.json").read_text()) for d in (killed, fresh))
    assert mk["counts"] == mf["counts"] and mk["splits"] == mf["splits"]


def test_folder_of_recordings_runner_per_subfolder(tmp_path):
    root = tmp_path / "club"
    for i, w in enumerate(synth_runs(6, 6, seed0=900)):
        d = root / ("alice" if i % 2 else "bob")
        d.mkdir(parents=True, exist_ok=True)
        if w.lat_deg is not None:
            (d / f"run{i}.gpx").write_bytes(write_gpx(w))
        else:
            (d / f"run{i}.tcx").write_bytes(write_tcx(w))
    (root / "alice" / "broken.fit").write_bytes(b"not a fit file at all")
    m = shard([root], tmp_path / "ds", workers=1)
    ds = open_dataset(tmp_path / "ds")
    runners = {p.meta["runner_id"] for p in iter_prepared(ds.all_shards())}
    assert runners <= {"alice", "bob"} and m["counts"]["runners"] == len(runners)
    assert m["counts"]["skipped"].get("unreadable file") == 1
    assert m["counts"]["workouts"] + sum(v for k, v in m["counts"]["skipped"].items() if k != "unreadable file") == 6


@pytest.mark.shared
def test_shared_real_data(tmp_path):
    sample = shared_path("endomondo-format-sample.json")
    runs = tmp_path / "runs-dev-part.parquet"
    write_corpus(itertools.islice(iter_corpus(shared_path("runs-dev.parquet")), 40), runs)
    out = tmp_path / "ds"
    r = subprocess.run([sys.executable, "-m", "sub3coach.cli", "data", "shard", str(sample), str(runs), "--out", str(out),
                        "--json"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["workouts"] + sum(res["skipped"].values()) == 112 + 40
    _check_round_trip(out, [sample, runs], 140)


def test_library_input(tmp_path):
    """A sub3coach library (DuckDB) is an input too; its athlete is the runner."""
    from sub3coach.importer import import_paths
    from sub3coach.library import Library

    files = tmp_path / "files"
    files.mkdir()
    for i, w in enumerate(synth_runs(4, 1, seed0=700)):
        if w.lat_deg is not None:
            (files / f"r{i}.gpx").write_bytes(write_gpx(w))
    lib_path = tmp_path / "lib.duckdb"
    lib = Library(lib_path)
    lib.import_athlete = "carol"
    report = import_paths([files], lib, workers=1)
    lib.close()
    assert report.imported >= 3
    m = shard([lib_path], tmp_path / "ds", workers=1)
    ds = open_dataset(tmp_path / "ds")
    got = list(iter_prepared(ds.all_shards()))
    assert len(got) == m["counts"]["workouts"] == report.imported
    assert {p.meta["runner_id"] for p in got} == {"carol"}


def test_cli_input_without_any_run_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("garbage\n{'a': 1\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "sub3coach.cli", "data", "shard", str(bad), "--out", str(tmp_path / "ds")],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("sub3: error: ") and str(bad) in last and "malformed line 2" in last
