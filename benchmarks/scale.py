#!/usr/bin/env python
"""Cost of big corpora: sharding, batch prediction, single-run latency, as ratios against the
seed-style pipeline, at growing corpus sizes. Results: benchmarks/RESULTS.md, "## Scale".

Usage (from the repository root):

    PYTHONPATH=src python benchmarks/scale.py --sizes 10000,50000 --workers 2
    PYTHONPATH=src python benchmarks/scale.py --quick          # 300 and 1200 workouts, minutes

**The corpora are synthetic replicas**: copy ``c`` of every run of ``runs-dev.parquet`` gets
its speed and distance scaled by a factor drawn around 1 (sd 5 %, clipped to +-15 %), its
altitude shifted by a random offset (sd 50 m) plus small noise, and new ids (runner
``<user>~c``, workout ``<id>~c``). They measure cost, not accuracy. Each corpus is written
streamed with :func:`sub3coach.io.corpus.write_corpus` (64 workouts per row group).

Per size, in the same run:

* ``sub3 data shard CORPUS --out DS --workers W --json`` in a subprocess: workouts/s and peak RSS
  of the main process and of the largest worker (``resource.getrusage``), reported by the command.
* ``sub3 hr predict DS --out PRED/ --json`` in a subprocess (sizes up to ``--predict-max``):
  workouts/s, model loading and pool start-up included.
* the **seed-style pipeline** on the first ``--seed-n`` workouts of the same corpus, in a
  subprocess: one pandas DataFrame per workout resampled to 5 s with pandas, features with
  pandas rolling windows, every workout padded/truncated to 500 steps and kept in memory (as the
  seed did), then the same network in batches of 16. Its workouts/s for featurising and for
  predicting, and its peak RSS.

Once: single-run latency for a 1-hour run (synthetic, 1-s samples) after the model is loaded,
``predict_full`` (clean, resample, features, network, head, band) vs the seed-style path,
median of 30. When ``benchmarks/scale_train.py`` exists (the DDP helper's), it is called with
``--data DS`` of the smallest size and its JSON output is included.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[1]
RUNS_DEV = Path(os.environ.get("SUB3_SHARED_DATA", REPO.parent / "shared" / "data")) / "runs-dev.parquet"
SEED_STEPS = 500
SEED_BATCH = 16
PY = [sys.executable]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("SUB3_TORCH_THREADS", "1")
    return env


# ---------------------------------------------------------------------------------------------
# corpus replicas
# ---------------------------------------------------------------------------------------------
def replicas(n: int, src: Path = RUNS_DEV) -> Iterator[Any]:
    """``n`` perturbed copies of the runs of ``src`` (see module docs), streamed."""
    import numpy as np

    from sub3coach.io.corpus import iter_corpus

    made, copy = 0, 0
    while made < n:
        rng = np.random.default_rng(copy)
        for w in iter_corpus(src):
            if made >= n:
                return
            f = float(np.clip(1.0 + 0.05 * rng.standard_normal(), 0.85, 1.15))
            kw: dict[str, Any] = {"workout_id": f"{w.workout_id}~{copy}", "user_id": f"{w.user_id}~{copy}"}
            if w.speed_mps is not None:
                kw["speed_mps"] = w.speed_mps * f
            if w.distance_m is not None:
                kw["distance_m"] = w.distance_m * f
            if w.altitude_m is not None:
                kw["altitude_m"] = w.altitude_m + 50.0 * rng.standard_normal() + 0.3 * rng.standard_normal(len(w))
            yield w.replace(**kw)
            made += 1
        copy += 1


def build_corpus(n: int, path: Path) -> float:
    """Write the ``n``-workout replica corpus to ``path`` (skipped when present); seconds."""
    from sub3coach.io.corpus import write_corpus

    if path.exists():
        return 0.0
    t = time.perf_counter()
    write_corpus(replicas(n), path, row_group_size=64)
    return time.perf_counter() - t


def _cli_json(args: list[str]) -> dict[str, Any]:
    t = time.perf_counter()
    r = subprocess.run(PY + ["-m", "sub3coach.cli", *args, "--json"], env=_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: sub3 {' '.join(args)}\n{r.stderr}")
    out = json.loads(r.stdout)
    out["wall_s"] = round(time.perf_counter() - t, 2)
    return out


# ---------------------------------------------------------------------------------------------
# the seed-style pipeline (pandas per workout, pad to 500, batch 16, all in memory)
# ---------------------------------------------------------------------------------------------
def seed_features(w: Any) -> Any:
    """One workout -> (500, 20) float32 the seed way: pandas resample + rolling windows."""
    import numpy as np
    import pandas as pd

    df = pd.DataFrame({"speed": w.speed_mps if w.speed_mps is not None else np.nan,
                       "altitude": w.altitude_m if w.altitude_m is not None else np.nan},
                      index=pd.to_datetime(w.time_s, unit="s"))
    g = df.resample("5s").mean().interpolate(limit_direction="both").fillna(0.0)
    s, a = g["speed"].clip(0, 7), g["altitude"]
    feats = pd.DataFrame({
        "speed": s, "lag12": s.shift(2).bfill(), "lag30": s.shift(6).bfill(), "lag60": s.shift(12).bfill(),
        "diff": s.diff().fillna(0) / 5, "m60": s.rolling(12, min_periods=1).mean(),
        "m180": s.rolling(36, min_periods=1).mean(), "m600": s.rolling(120, min_periods=1).mean(),
        "rel": s / max(float(s[s > 0.5].median()) if (s > 0.5).any() else 1.0, 1e-6),
        "med": float(s[s > 0.5].median()) if (s > 0.5).any() else 0.0, "stopped": (s < 0.5).astype(float),
        "alt_rel": a - a.iloc[0], "alt_diff": a.diff().fillna(0) / 5,
        "g30": (a.diff(6) / (s.rolling(6, min_periods=1).sum() * 5 + 1)).fillna(0),
        "g180": (a.diff(36) / (s.rolling(36, min_periods=1).sum() * 5 + 1)).fillna(0),
        "gain": a.diff().clip(lower=0).fillna(0).cumsum(), "has_alt": 1.0,
        "elapsed": np.arange(len(g)) * 5.0, "dist": (s * 5).cumsum(), "gender": 0.5,
    })
    x = np.zeros((SEED_STEPS, feats.shape[1]), dtype=np.float32)
    v = feats.to_numpy(dtype=np.float32)[:SEED_STEPS]
    x[: len(v)] = v
    return x


def seed_worker(corpus: str, n: int) -> dict[str, Any]:
    """Featurise the first ``n`` workouts the seed way (all kept), then predict in batches of 16."""
    import itertools
    import resource

    import numpy as np
    import torch

    from sub3coach.hr.artifact import load_model
    from sub3coach.io.corpus import iter_corpus

    lm = load_model()
    torch.set_num_threads(1)
    ws = list(itertools.islice(iter_corpus(corpus), n))  # the seed read the corpus whole
    t = time.perf_counter()
    xs = [seed_features(w) for w in ws]
    feat_s = time.perf_counter() - t
    arr = np.stack(xs)
    t = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(arr), SEED_BATCH):
            z = lm.normaliser.transform(arr[i:i + SEED_BATCH].reshape(-1, arr.shape[2])).reshape(-1, SEED_STEPS, arr.shape[2])
            lm.module(torch.from_numpy(z))
    pred_s = time.perf_counter() - t
    return {"n": len(ws), "featurise_wps": round(len(ws) / feat_s, 1),
            "predict_wps": round(len(ws) / (feat_s + pred_s), 1), "model_only_wps": round(len(ws) / pred_s, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def latency() -> dict[str, Any]:
    """Median ms for one 1-hour run after the model is loaded: predict_full vs seed-style."""
    import numpy as np
    import torch

    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.predict import predict_full
    from sub3coach.synth import synthetic_run

    lm = load_model()
    w = synthetic_run(duration_s=3600.0, seed=1)
    ours, seed = [], []
    for k in range(33):
        t = time.perf_counter()
        predict_full(lm, w)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        x = seed_features(w)
        with torch.no_grad():
            lm.module(torch.from_numpy(lm.normaliser.transform(x)[None]))
        seed.append(time.perf_counter() - t)
    return {"samples": len(w), "ours_ms": round(statistics.median(ours[3:]) * 1000, 1),
            "seed_style_ms": round(statistics.median(seed[3:]) * 1000, 1), "threads": torch.get_num_threads(),
            "ours_p90_ms": round(float(np.percentile(ours[3:], 90)) * 1000, 1)}


def _sub(mode: str, *args: str) -> dict[str, Any]:
    r = subprocess.run(PY + [__file__, mode, *args], env=_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: {mode}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
def run_size(n: int, work: Path, a: argparse.Namespace) -> dict[str, Any]:
    corpus = work / f"corpus-{n}.parquet"
    print(f"[{n}] building corpus", file=sys.stderr, flush=True)
    build_s = build_corpus(n, corpus)
    ds = work / f"ds-{n}"
    if ds.exists():
        import shutil

        shutil.rmtree(ds)
    print(f"[{n}] sharding", file=sys.stderr, flush=True)
    sh = _cli_json(["data", "shard", str(corpus), "--out", str(ds), "--workers", str(a.workers), "--shard-mb", str(a.shard_mb)])
    row: dict[str, Any] = {"size": n, "corpus_build_s": round(build_s, 1), "corpus_mb": round(corpus.stat().st_size / 2**20, 1),
                           "shard": {k: sh[k] for k in ("workouts", "runners", "seconds", "workouts_per_s", "peak_rss_mb", "skipped")},
                           "dataset_mb": round(sum(f.stat().st_size for f in ds.rglob("*.parquet")) / 2**20, 1)}
    if n <= a.predict_max:
        pred = work / f"pred-{n}"
        if pred.exists():
            import shutil

            shutil.rmtree(pred)
        print(f"[{n}] predicting", file=sys.stderr, flush=True)
        p = _cli_json(["hr", "predict", str(ds), "--out", str(pred)])
        row["predict"] = {"workouts": p["workouts"], "seconds": p["seconds"], "workouts_per_s": round(p["workouts"] / p["seconds"], 1)}
    print(f"[{n}] seed-style on {min(n, a.seed_n)} workouts", file=sys.stderr, flush=True)
    row["seed_style"] = _sub("--seed-worker", str(corpus), str(min(n, a.seed_n)))
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


# ---------------------------------------------------------------------------------------------
# RESULTS.md
# ---------------------------------------------------------------------------------------------
def render(res: dict[str, Any]) -> str:
    """The "## Scale" section of RESULTS.md from a result JSON."""
    lat = res["latency_1h_run"]
    lines = [
        "## Scale", "",
        f"Measured {res['date_utc']} UTC on {res['machine']} shared with other jobs (absolute rates vary from run to"
        " run; the ratios are within one run). Command (from the repository root):", "",
        f"    {res['command']}", "",
        "**The corpora are synthetic replicas** of `runs-dev.parquet`, measuring cost, not accuracy: copy *c* of each run has its",
        "speed and distance scaled by a random factor (sd 5 %, within +-15 %), its altitude shifted (sd 50 m) plus noise,",
        "and new runner and workout ids. Ours: `sub3 data shard CORPUS --out DS --workers W` and",
        "`sub3 hr predict DS --out PRED/` as subprocesses (start-up, model loading and writing included; peak RSS from",
        "`getrusage`, main process and largest worker). Seed-style: one process, pandas per workout, padded/truncated",
        "to 500 steps, the whole sample held in memory, the same network in batches of 16, on the first workouts of the",
        "same corpus (reading excluded, no output written).", "",
        "| workouts | runners | shard workouts/s | shard peak RSS main / worker (MB) | dataset MB | predict workouts/s"
        " | seed-style featurise w/s (n) | seed-style predict w/s | seed-style peak RSS (MB, n) | shard / seed | predict / seed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["sizes"]:
        sh, sd = r["shard"], r["seed_style"]
        pr = r.get("predict", {}).get("workouts_per_s")
        lines.append(
            f"| {r['size']:,} | {sh['runners']:,} | {sh['workouts_per_s']} | {sh['peak_rss_mb']['main']} / "
            f"{sh['peak_rss_mb']['largest_worker']} | {r['dataset_mb']:,} | {pr if pr is not None else 'not run (--predict-max)'} | "
            f"{sd['featurise_wps']} ({sd['n']:,}) | {sd['predict_wps']} | {sd['peak_rss_mb']} ({sd['n']:,}) | "
            f"{sh['workouts_per_s'] / sd['featurise_wps']:.2f}x | "
            + (f"{pr / sd['predict_wps']:.2f}x |" if pr else "- |"))
    if res.get("note"):
        lines += ["", "Note: " + res["note"]]
    first, last = res["sizes"][0], res["sizes"][-1]
    if len(res["sizes"]) > 1:
        g = last["shard"]["peak_rss_mb"]["main"] / first["shard"]["peak_rss_mb"]["main"]
        lines += ["", f"Growth from {first['size']:,} to {last['size']:,} workouts ({last['size'] / first['size']:.0f}x):"
                  f" shard peak RSS x{g:.2f} (main), x{last['shard']['peak_rss_mb']['largest_worker'] / first['shard']['peak_rss_mb']['largest_worker']:.2f}"
                  f" (worker); shard time x{last['shard']['seconds'] / first['shard']['seconds']:.2f}"
                  f" (linear would be x{last['size'] / first['size']:.0f})."]
    sd = last["seed_style"]
    lines += ["", f"The seed-style pipeline holds every featurised workout (and the corpus it read) in memory: peak RSS"
              f" {sd['peak_rss_mb']} MB for {sd['n']:,} workouts, growing with the number of workouts, so it was run on"
              f" {sd['n']:,} workouts per size, not on the whole corpus; its rates are per process (ours use"
              f" {res.get('workers', 'all')} worker processes and include reading, cleaning and writing)."]
    lines += ["", f"**Single-run latency** after the model is loaded, a 1-hour run ({lat['samples']:,} samples at 1 s),"
              f" median of 30: **{lat['ours_ms']} ms** (p90 {lat['ours_p90_ms']} ms; `predict_full`: clean, resample,"
              f" features, network, head, band) vs {lat['seed_style_ms']} ms seed-style (pandas features, 500 steps, network"
              f" only); {lat['threads']} torch thread. Target < 50 ms."]
    if "training" in res:
        lines += ["", "Training (benchmarks/scale_train.py): `" + json.dumps(res["training"]) + "`"]
    return "\n".join(lines) + "\n"


def write_results(res: dict[str, Any], path: Path = REPO / "benchmarks" / "RESULTS.md") -> None:
    """Replace (or append) the "## Scale" section of RESULTS.md, up to the next "## " heading."""
    import re

    text = path.read_text() if path.exists() else "# Benchmark results\n"
    body = render(res)
    m = re.search(r"^## Scale[ \t]*$", text, flags=re.M)
    if m is None:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        nxt = re.search(r"^## ", text[m.end():], flags=re.M)
        end = m.end() + nxt.start() if nxt else len(text)
        text = text[:m.start()] + body + ("\n" + text[end:] if nxt else "")
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,50000,250000")
    ap.add_argument("--quick", action="store_true", help="sizes 300,1200; seed-style on 200")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--shard-mb", type=float, default=64.0)
    ap.add_argument("--seed-n", type=int, default=2000, help="workouts the seed-style pipeline runs on per size")
    ap.add_argument("--predict-max", type=int, default=10000, help="batch-predict sizes up to this")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sub3-scale"))
    ap.add_argument("--json-out", type=Path, default=REPO / "benchmarks" / "scale.json")
    ap.add_argument("--render", type=Path, help="only write RESULTS.md's Scale section from this result JSON")
    a = ap.parse_args()
    if a.render:
        write_results(json.loads(a.render.read_text()))
        return
    if a.quick:
        a.sizes, a.seed_n = "300,1200", 200
    sizes = [int(s) for s in a.sizes.split(",")]
    a.work.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                           "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                           "command": "PYTHONPATH=src python benchmarks/scale.py " + " ".join(sys.argv[1:]),
                           "corpora": "synthetic replicas of runs-dev (perturbed speed/altitude, new runner ids): cost, not accuracy",
                           "workers": a.workers, "latency_1h_run": _sub("--latency"), "sizes": []}
    print(json.dumps(res["latency_1h_run"]), file=sys.stderr, flush=True)
    for n in sizes:
        res["sizes"].append(run_size(n, a.work, a))
        a.json_out.write_text(json.dumps(res, indent=1))
    train = REPO / "benchmarks" / "scale_train.py"
    if train.exists():
        ds = a.work / f"ds-{sizes[0]}"
        r = subprocess.run(PY + [str(train), "--data", str(ds)], env=_env(), capture_output=True, text=True)
        res["training"] = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else {"error": r.stderr[-500:]}
    a.json_out.write_text(json.dumps(res, indent=1))
    if not a.quick:
        write_results(res)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--seed-worker":
        print(json.dumps(seed_worker(sys.argv[2], int(sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--latency":
        print(json.dumps(latency()))
    else:
        main()
