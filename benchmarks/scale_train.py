#!/usr/bin/env python
"""Training throughput of the HR model with 1 and 2 processes (DDP, CPU, gloo): scaling efficiency.

Usage (from the repository root; a dataset written by ``sub3 data shard``)::

    PYTHONPATH=src python benchmarks/scale_train.py --data ds/ [--procs 1,2] [--epochs 1]

For each process count N it runs, in a subprocess, exactly what a user runs::

    torchrun --standalone --nproc_per_node=N -m sub3coach.hr.train --data DS --out M --epochs E \\
        --batch-size B --no-head --json          (N = 1: python -m sub3coach.hr.train ...)

with ``OMP_NUM_THREADS=1`` (one torch thread per process). **Samples** are scored 5-s grid steps
of training windows; samples/s = scored steps of all ranks / seconds of the SGD steps (the
per-epoch ``train_seconds`` the trainer records: forward, backward, gradient all-reduce,
optimiser; not data loading or validation). ``wall_s`` is the whole command (start-up, reading
shards, validation, test, artifact). Scaling efficiency = (samples/s with N) / (N x samples/s
with 1). Both runs use the same global batch and seed, hence the same updates
(tests/hr/test_ddp.py checks it). The last stdout line is the JSON result
(``benchmarks/scale.py`` includes it in benchmarks/RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_NUM_THREADS"] = "1"
    env.pop("WORLD_SIZE", None)
    return env


def run(data: Path, procs: int, out: Path, a: argparse.Namespace) -> dict[str, Any]:
    """One training run with ``procs`` processes; its throughput and losses."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"] if procs > 1 \
        else [sys.executable]
    cmd = [*launch, "-m", "sub3coach.hr.train", "--data", str(data), "--out", str(out), "--epochs", str(a.epochs),
           "--batch-size", str(a.batch_size), "--seed", str(a.seed), "--no-head", "--json"]
    if a.max_windows:
        cmd += ["--max-windows-per-epoch", str(a.max_windows)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"scale_train: {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    hist = rep["history"]
    samples = sum(h["train_samples"] for h in hist)
    secs = sum(h["train_seconds"] for h in hist)
    return {"procs": procs, "samples": samples, "train_s": round(secs, 2), "samples_per_s": round(samples / secs, 1),
            "wall_s": round(wall, 1), "final_train_mae_bpm": round(hist[-1]["train_mae_bpm"], 4),
            "final_val_mae_bpm": round(hist[-1].get("val_mae_bpm") or float("nan"), 4), "train_workouts": rep["data"]["train_workouts"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, type=Path, help="dataset folder (sub3 data shard)")
    ap.add_argument("--procs", default="1,2", help="process counts to compare")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32, help="global batch, windows")
    ap.add_argument("--max-windows", type=int, default=None, help="cap windows per epoch (bounds the time)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in a.procs.split(",")):
            runs.append(run(a.data, n, Path(tmp) / f"m{n}.pt", a))
    base = runs[0]["samples_per_s"] / runs[0]["procs"]
    for r in runs:
        r["scaling_efficiency"] = round(r["samples_per_s"] / (r["procs"] * base), 3)
    res = {"data": str(a.data), "epochs": a.epochs, "global_batch": a.batch_size, "max_windows": a.max_windows,
           "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(), "torch_threads_per_process": 1,
           "runs": runs, "command": "PYTHONPATH=src python benchmarks/scale_train.py " + " ".join(argv or sys.argv[1:])}
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
