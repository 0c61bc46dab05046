"""The pace Transformer under torchrun (2 CPU ranks, gloo) against one process, same seed and global batch.

Every rank builds the same examples and the same global permutation; each takes every
``world``-th example of a global batch, its summed loss divided by the global batch size, and
DDP averages gradients, so the update equals the single-process one up to float summation order.
Dropout is off here (each rank draws its own masks). Tolerances: the per-epoch losses agree to
1e-6 relative (measured 1e-8); the artifact stores float16 weights, so weights are compared at
float16 precision (rtol 2e-3, atol 1e-4): the key biases of attention have no true gradient
(softmax ignores them), so Adam turns rounding noise into lr-sized steps there (~1e-5 absolute).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sub3coach
from tests.hr.test_ddp import stopped_together
from tests.plan.gen import history_frame, write_many_runners

ARGS = ["--epochs", "2", "--batch-size", "16", "--dropout", "0", "--d-model", "32", "--layers", "2", "--seed", "3"]


def _run(tmp: Path, out: str, procs: int) -> dict:
    src = str(Path(sub3coach.__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"] if procs > 1 \
        else [sys.executable]
    r = subprocess.run([*launch, "-m", "sub3coach.plan.train", "--data", str(tmp / "hist"), "--out", str(tmp / out), *ARGS],
                       cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_ranks_match_one_process(tmp_path: Path) -> None:
    from sub3coach.plan.train import load_plan_model

    (tmp_path / "hist").mkdir()
    write_many_runners(tmp_path / "hist" / "many.csv", [history_frame(60, seed=s, base_pace=260 + 15 * s) for s in range(10)])
    one, two = _run(tmp_path, "one.pt", 1), _run(tmp_path, "two.pt", 2)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    for a, b in zip(one["history"], two["history"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6)
        assert b["val_pace_mae"] == pytest.approx(a["val_pace_mae"], rel=1e-6)
    sa, sb = (torch.load(tmp_path / f, weights_only=True)["state_dict"] for f in ("one.pt", "two.pt"))
    for k in sa:
        assert torch.allclose(sa[k].float(), sb[k].float(), rtol=2e-3, atol=1e-4), k
    m = load_plan_model(tmp_path / "two.pt")
    assert m.meta["world_size"] == 2 and two["metrics"]["pace_mae_s_per_km"] > 0


@pytest.mark.slow
def test_rank_0_unable_to_save_stops_every_rank(tmp_path: Path) -> None:
    """Rank 0 cannot write the artifact (its folder is a file): rank 1, waiting for it, exits 1
    as well with the same one-line error instead of waiting for the collective timeout."""
    (tmp_path / "hist").mkdir()
    write_many_runners(tmp_path / "hist" / "many.csv", [history_frame(40, seed=s, base_pace=260 + 15 * s) for s in range(8)])
    (tmp_path / "taken").write_text("a file, not a folder")
    cmd = [sys.executable, "-m", "sub3coach.plan.train", "--data", str(tmp_path / "hist"), "--out",
           str(tmp_path / "taken" / "p.pt"), *ARGS[:1], "1", *ARGS[2:]]
    error = stopped_together(cmd, tmp_path)
    assert error.startswith("sub3: error: rank 0 of 2 failed while saving the model: ") and "taken" in error


def test_entry_point_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sub3coach.plan.train import main

    assert main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "p.pt")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("sub3: error:") and len(err.splitlines()) == 1
