#!/usr/bin/env python
"""Speed of the heart-rate model on this machine: batch inference (runs/s), single-run latency,
seconds per training epoch. Results go to ``benchmarks/RESULTS.md`` under "## Heart-rate model".

Usage (from the repository root):

    python benchmarks/hr_speed.py                       # bundled model, runs-dev, writes RESULTS.md
    python benchmarks/hr_speed.py --runs 1000 --no-write

Inference is measured end to end (clean + resample + features + model + interpolation back to
the input's samples) on the first ``--runs`` workouts of runs-dev (read from Parquet before the
clock starts), with 1 and with 2 torch threads. Training epochs are timed on the runner-disjoint
train split (seed 0) for the default model and SeedLSTM.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
SECTION = "## Heart-rate model"


def update_results(subsection: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or add) ``### subsection`` inside the "## Heart-rate model" section of
    RESULTS.md, leaving every other section untouched."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"### {subsection}\n\n{body.strip()}\n"
    m = re.search(rf"^{re.escape(SECTION)}[ \t]*$", text, flags=re.M)
    if not m:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{block}"
        path.write_text(text)
        return
    start = m.end()
    nxt = re.search(r"^## ", text[start:], flags=re.M)
    end = start + nxt.start() if nxt else len(text)
    sec = text[start:end]
    sm = re.search(rf"^### {re.escape(subsection)}[ \t]*$", sec, flags=re.M)
    if sm:
        snxt = re.search(r"^### ", sec[sm.end():], flags=re.M)
        send = sm.end() + snxt.start() if snxt else len(sec)
        sec = sec[: sm.start()] + block + ("\n" if snxt else "") + sec[send:]
    else:
        sec = sec.rstrip("\n") + "\n\n" + block
    if not sec.startswith("\n"):
        sec = "\n\n" + sec
    text = text[:start] + sec.rstrip("\n") + ("\n\n" + text[end:] if end < len(text) else "\n")
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "runs-dev.parquet"))
    ap.add_argument("--model", default=None, help="artifact (default: bundled)")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--no-train", action="store_true", help="skip the training-epoch timing")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.predict import predict_many, predict_workout
    from sub3coach.io.corpus import iter_corpus

    lm = load_model(args.model)
    ws = []
    for w in iter_corpus(args.data):
        ws.append(w)
        if len(ws) >= args.runs:
            break
    n_samples = sum(len(w) for w in ws)
    hours = sum(w.elapsed_s for w in ws) / 3600
    out: dict = {"runs": len(ws), "samples": n_samples, "hours": round(hours, 1), "model": lm.name}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        n = sum(1 for _ in predict_many(lm, ws))
        dt = time.perf_counter() - t0
        out[f"batch_seconds_{threads}t"] = round(dt, 2)
        out[f"runs_per_s_{threads}t"] = round(n / dt, 1)
        # single-run latency: a ~1 h run, median of 5
        one = min(ws, key=lambda w: abs(w.elapsed_s - 3600))
        lat = []
        for _ in range(5):
            t0 = time.perf_counter()
            predict_workout(lm, one)
            lat.append(time.perf_counter() - t0)
        out[f"latency_ms_{threads}t"] = round(1000 * statistics.median(lat), 1)
        out["latency_run_minutes"] = round(one.elapsed_s / 60, 1)
        print(json.dumps(out), flush=True)

    if not args.no_train:
        from sub3coach.hr.train import HRModel, TrainConfig, load_split, union_features

        split = load_split(args.data, union_features(["seed-lstm", "hrnet"]), seed=0)
        for arch in ("hrnet", "seed-lstm"):
            for threads in (1, 2):
                cfg = TrainConfig(arch=arch, epochs=1, seed=0, threads=threads)
                parts = split.select(cfg.features or ())
                m = HRModel(cfg).fit_prepared(parts["train"], [])
                out[f"epoch_seconds_{arch}_{threads}t"] = m.history[-1]["seconds"]
                print(json.dumps(out), flush=True)
        out["train_steps"] = sum(int(p.mask.sum()) for p in split.parts["train"])

    if not args.no_write:
        cpu = platform.processor() or platform.machine()
        lines = [
            f"Measured {time.strftime('%Y-%m-%d')} on this 2-core machine ({cpu}, torch {torch.__version__}); "
            "other jobs may have shared the CPU. Command: `python benchmarks/hr_speed.py`.",
            "",
            "| what | 1 torch thread | 2 torch threads |",
            "|---|---|---|",
            f"| batch inference, {out['runs']} runs-dev runs ({out['hours']:.0f} h elapsed, {out['samples']:,} samples), end to end | "
            f"{out['batch_seconds_1t']} s = **{out['runs_per_s_1t']} runs/s** | {out['batch_seconds_2t']} s = {out['runs_per_s_2t']} runs/s |",
            f"| single-run latency ({out['latency_run_minutes']} min run, end to end) | {out['latency_ms_1t']} ms | {out['latency_ms_2t']} ms |",
        ]
        if "epoch_seconds_hrnet_1t" in out:
            lines += [
                f"| training epoch, hr-default (HRNet), {out['train_steps']:,} scored 5-s steps | {out['epoch_seconds_hrnet_1t']} s | {out['epoch_seconds_hrnet_2t']} s |",
                f"| training epoch, SeedLSTM | {out['epoch_seconds_seed-lstm_1t']} s | {out['epoch_seconds_seed-lstm_2t']} s |",
            ]
        lines += [
            "",
            "End to end = cleaning, resampling to 5 s, features, the model, and interpolation back to the input's own",
            "timestamps; reading the Parquet file is not included. Training uses 1 thread by default (`TrainConfig.threads`):",
            "on a shared 2-core machine two threads wait on each other at every LSTM step.",
        ]
        update_results("Speed", "\n".join(lines))
        print(f"updated {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
