"""Distributed training (DDP under torchrun) against the single-process run of the same code.

Why the two runs must agree: the global batches are made from the seed, the epoch and keys
that do not depend on the world size (:mod:`sub3coach.hr.sgd`); each rank's loss is its sum of
squared errors over the scored steps of the *global* batch times the world size, and DDP
averages gradients over ranks, so every update equals the single-process update on the same
global batch. Only the order of floating-point sums differs (per-rank partial sums, the
all-reduce), about 1e-7 relative per step; after 16 Adam steps we measured 5e-6 relative on
the weights, and allow :data:`WEIGHT_RTOL` (1e-4) for other BLAS builds.

The slow tests launch ``torchrun --standalone --nproc_per_node=2`` (CPU, gloo, one thread per
process) as a subprocess, on a dataset written by ``sub3 data shard`` from synthetic runs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import sub3coach
from sub3coach.hr.distributed import Dist
from sub3coach.hr.sgd import RankData, collate, epoch_batches, global_windows, local_windows

from .conftest import tiny_runs

#: Relative tolerance on weights between 2 ranks and 1 process (see the module docstring).
WEIGHT_RTOL = 1e-4
#: Tiny model and windows: a few seconds per run.
ARGS = ["--batch-size", "8", "--seed", "1", "--hidden", "16", "--window-steps", "64", "--burn-in-steps", "8", "--json"]


def _env() -> dict[str, str]:
    src = str(Path(sub3coach.__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    return env


def _train(tmp: Path, out: str, *extra: str, procs: int = 1) -> dict:
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"] if procs > 1 \
        else [sys.executable]
    cmd = [*launch, "-m", "sub3coach.hr.train", "--data", str(tmp / "ds"), "--out", str(tmp / out), *ARGS, *extra]
    r = subprocess.run(cmd, cwd=tmp, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _max_rel_diff(a: Path, b: Path) -> float:
    from sub3coach.hr.artifact import load_model

    sa, sb = load_model(a).module.state_dict(), load_model(b).module.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k] - sb[k]).abs().max() / (sa[k].abs().max() + 1e-12)) for k in sa)


@pytest.fixture(scope="module")
def ddp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset of 24 synthetic runs of 12 runners, one run per shard (14 train shards)."""
    from sub3coach.data.shard import ShardOptions, shard
    from sub3coach.io.corpus import write_corpus

    tmp = tmp_path_factory.mktemp("ddp")
    write_corpus(tiny_runs(n_runners=12, per_runner=2, duration_s=1200.0), tmp / "c.parquet")
    m = shard([tmp / "c.parquet"], tmp / "ds", opts=ShardOptions(shard_mb=0.03, seed=3), workers=1)
    assert len(m["splits"]["train"]["shards"]) >= 4 and m["splits"]["val"]["workouts"] > 0
    return tmp


@pytest.fixture(scope="module")
def single(ddp_dir: Path) -> dict:
    """The single-process reference: 2 epochs."""
    return _train(ddp_dir, "one.pt", "--epochs", "2")


# ----- fast: the data order does not depend on the world size ---------------------------------
def _rank_data(n: int, world: int, rank: int) -> RankData:
    rng = np.random.default_rng(0)
    lengths = [int(v) for v in rng.integers(20, 200, n)]
    own = [i for i in range(n) if i % world == rank]
    ms = [np.arange(lengths[i]) % 7 != 0 for i in own]
    return RankData([np.zeros((lengths[i], 3), np.float32) for i in own], [np.zeros(lengths[i], np.float32) for i in own],
                    ms, [(i, 0) for i in own], 3)


def test_global_batches_are_the_same_for_one_and_two_ranks() -> None:
    one = global_windows(_rank_data(30, 1, 0), 64, 8, Dist())
    two = sorted(local_windows(_rank_data(30, 2, 0), 64, 8) + local_windows(_rank_data(30, 2, 1), 64, 8))
    assert one == two and len(one) > 30
    b1 = epoch_batches(one, seed=5, epoch=3, bs=8, max_windows=None)
    assert b1 == epoch_batches(two, seed=5, epoch=3, bs=8, max_windows=None)
    assert b1 != epoch_batches(one, seed=5, epoch=4, bs=8, max_windows=None)  # a new order each epoch
    assert sorted(w for b in b1 for w in b) == one  # every window once per epoch


def test_a_rank_without_windows_in_a_batch_runs_a_masked_dummy() -> None:
    data = _rank_data(4, 1, 0)
    xb, yb, mb = collate([], data, data.index())
    assert xb.shape == (1, 1, 3) and not mb.any()


def test_world_of_one_collectives_are_identities() -> None:
    d = Dist()
    assert d.all_sum([1.5, 2.0]).tolist() == [1.5, 2.0] and d.all_gather({"a": 1}) == [{"a": 1}]
    assert d.is_main and not d.active and d.device == torch.device("cpu")


def test_entry_point_errors_are_one_line(tmp_path: Path) -> None:
    from sub3coach.hr.ddp import main

    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "manifest.json").write_text('{"feature_spec": {"names": ["speed"], "step_s": 5}, '
                                                   '"feature_spec_hash": "0000"}')
    r = subprocess.run([sys.executable, "-m", "sub3coach.hr.train", "--data", str(tmp_path / "ds"), "--out",
                        str(tmp_path / "m.pt")], env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "stale dataset" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert main(["--data", str(tmp_path / "nothing.parquet"), "--out", str(tmp_path / "m.pt")]) == 1


# ----- slow: real torchrun ----------------------------------------------------------------------
@pytest.mark.slow
def test_two_ranks_match_one_process_and_give_a_usable_artifact(ddp_dir: Path, single: dict) -> None:
    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.predict import predict_workout
    from sub3coach.synth import synthetic_run

    two = _train(ddp_dir, "two.pt", "--epochs", "2", procs=2)
    assert (single["world_size"], two["world_size"]) == (1, 2)
    assert two["data"] == single["data"]  # all-reduced counts and HR statistics
    assert _max_rel_diff(ddp_dir / "one.pt", ddp_dir / "two.pt") < WEIGHT_RTOL
    for a, b in zip(single["history"], two["history"]):
        assert b["val_mae_bpm"] == pytest.approx(a["val_mae_bpm"], rel=WEIGHT_RTOL)
        assert b["train_mae_bpm"] == pytest.approx(a["train_mae_bpm"], rel=WEIGHT_RTOL)
    assert two["test"]["grid_mae_bpm"] == pytest.approx(single["test"]["grid_mae_bpm"], rel=1e-3)
    lm = load_model(ddp_dir / "two.pt")
    assert lm.meta["world_size"] == 2 and lm.head is not None
    hr = predict_workout(lm, synthetic_run(duration_s=600, seed=9))
    assert hr.shape == (601,) and np.all((hr > 60) & (hr < 220))


@pytest.mark.slow
def test_checkpoint_of_two_ranks_resumes_in_one_process(ddp_dir: Path, single: dict) -> None:
    _train(ddp_dir, "half.pt", "--epochs", "1", procs=2)
    ckpt = torch.load(ddp_dir / "half.pt.ckpt" / "checkpoint.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == 1 and "normaliser" in ckpt
    resumed = _train(ddp_dir, "resumed.pt", "--epochs", "2", "--resume", "--checkpoint-dir", str(ddp_dir / "half.pt.ckpt"))
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert _max_rel_diff(ddp_dir / "one.pt", ddp_dir / "resumed.pt") < WEIGHT_RTOL


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_ranks(cmd: list[str], cwd: Path, world: int = 2, timeout: float = 120.0) -> tuple[list[int], list[str], float]:
    """Launch ``cmd`` as ``world`` ranks by hand (the environment torchrun would set, as a
    multi-node agent does; unlike torchrun, nothing kills the other ranks when one dies).
    Returns every rank's exit code and stderr, and the seconds until all ended.

    A rank left waiting sits in a collective for ``SUB3_DIST_TIMEOUT_MIN`` = 5 min, past
    ``timeout``: a hang fails the caller with ``TimeoutExpired``."""
    env = {**_env(), "SUB3_DIST_TIMEOUT_MIN": "5", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           "WORLD_SIZE": str(world)}
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=cwd, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(world)]
    try:
        errs = [p.communicate(timeout=timeout)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    return [int(p.returncode) for p in procs], errs, time.perf_counter() - t0


def stopped_together(cmd: list[str], cwd: Path) -> str:
    """Run ``cmd`` on 2 ranks (:func:`run_ranks`) that must both exit 1 within 90 s with the
    same one-line error on stderr; returns that line."""
    codes, errs, seconds = run_ranks(cmd, cwd)
    assert seconds < 90 and codes == [1, 1], [e[-2000:] for e in errs]
    errors = [e.strip() for e in errs]
    assert errors[0] == errors[1] and len(errors[0].splitlines()) == 1, errors
    return errors[0]


@pytest.mark.slow
def test_a_corrupt_shard_on_one_rank_stops_both_ranks_at_once(ddp_dir: Path, tmp_path: Path) -> None:
    """Train shard 1 (only rank 1 reads it) truncated: both ranks exit 1 on their own with the
    same one-line error naming rank 1 and the shard, long before the collective timeout.
    Launched by hand (:func:`run_ranks`): torchrun's agent would kill rank 0 and hide a hang."""
    from sub3coach.data.dataset import open_dataset

    shutil.copytree(ddp_dir / "ds", tmp_path / "ds")
    bad = open_dataset(tmp_path / "ds").shards("train")[1]
    bad.write_bytes(bad.read_bytes()[:100])
    cmd = [sys.executable, "-m", "sub3coach.hr.train", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "m.pt"), *ARGS,
           "--epochs", "1"]
    error = stopped_together(cmd, tmp_path)
    assert error.startswith("sub3: error: rank 1 of 2 failed while reading the dataset: ") and bad.name in error
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.slow
def test_rank_0_unable_to_write_its_checkpoint_stops_every_rank(ddp_dir: Path, tmp_path: Path) -> None:
    """Rank 0 fails mid-training (its checkpoint folder is a file); rank 1 does not wait for it."""
    (tmp_path / "taken").write_text("a file, not a folder")
    cmd = [sys.executable, "-m", "sub3coach.hr.train", "--data", str(ddp_dir / "ds"), "--out", str(tmp_path / "m.pt"), *ARGS,
           "--epochs", "2", "--checkpoint-dir", str(tmp_path / "taken" / "ckpt")]
    error = stopped_together(cmd, tmp_path)
    assert error.startswith("sub3: error: rank 0 of 2 failed while writing the checkpoint: ") and "taken" in error


def test_a_failure_reaches_every_rank_in_one_line() -> None:
    from sub3coach.errors import Sub3Error
    from sub3coach.hr.distributed import RankFailure

    class Second(Dist):  # rank 0 of 2, its peer (rank 1) failed
        def all_gather(self, obj):  # type: ignore[no-untyped-def]
            return [obj, "bad shard\nsecond line"]

    d = Second(rank=0, world=2)
    with pytest.raises(RankFailure, match=r"^rank 1 of 2 failed while reading: bad shard second line$"):
        with d.together("reading"):
            pass
    with pytest.raises(RankFailure, match=r"^rank 0 of 2 failed while saving \(and 1 other rank\(s\)\): disk full$"):
        with d.together("saving"):
            raise Sub3Error("disk full")
    with pytest.raises(Sub3Error, match="^alone$"):  # a world of one raises the error itself
        with Dist().together("reading"):
            raise Sub3Error("alone")
    with Dist().together("reading"):
        pass


def test_a_run_on_two_ranks_is_refused() -> None:
    from sub3coach.errors import ModelError

    class TwoRanks(Dist):
        def all_gather(self, obj):  # type: ignore[no-untyped-def]
            return [obj, obj]  # both ranks hold the same runs

    with pytest.raises(ModelError, match="several ranks"):
        global_windows(_rank_data(5, 1, 0), 64, 8, TwoRanks())


def test_sub3_hr_train_reads_a_dataset_folder(ddp_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.cli import hr_app

    res = CliRunner().invoke(hr_app, ["train", "--data", str(ddp_dir / "ds"), "--out", str(tmp_path / "m.pt"), "--epochs", "1",
                                      "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["world_size"] == 1 and rep["test"]["n_workouts"] > 0 and rep["test"]["grid_mae_bpm"] > 0
    lm = load_model(tmp_path / "m.pt")
    assert lm.meta["split"]["source"] == "dataset" and lm.meta["data"]["train_workouts"] == rep["data"]["train_workouts"]
