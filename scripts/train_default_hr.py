#!/usr/bin/env python
"""Reproduce the bundled default HR model and its model card.

Trains the population-mean and linear baselines, the SUB3_V2 LSTM (SeedLSTM, its 11 honest
features) and the default model (HRNet) on ONE runner-disjoint 70/15/15 split of
runs-dev.parquet (seed 0), scores all four on the held-out test runners, and writes:

* ``src/sub3coach/models/hr-default.pt`` — the default model artifact (with the comparison in
  its metadata);
* ``MODEL_CARD.md`` — data, split, metrics beside the baselines, limits;
* ``benchmarks/hr_accuracy.json`` — the comparison, read by ``benchmarks/hr_accuracy.py``.

Usage (from the repository root, ~15-25 min on 2 CPU cores):

    python scripts/train_default_hr.py --data ../shared/data/runs-dev.parquet
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "runs-dev.parquet"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=15, help="maximum epochs per recurrent model (early stopping)")
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--out", default=str(REPO / "src" / "sub3coach" / "models" / "hr-default.pt"))
    ap.add_argument("--card", default=str(REPO / "MODEL_CARD.md"))
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "hr_accuracy.json"))
    ap.add_argument("--archs", default="mean,linear,seed-lstm,hrnet")
    ap.add_argument("--card-only", action="store_true", help="only rewrite the card from --results (no training)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.card_only:
        write_card(Path(args.card), json.loads(Path(args.results).read_text()))
        print(f"wrote {args.card}")
        return 0

    import torch

    from sub3coach import __version__
    from sub3coach.hr.train import TrainConfig, compare_architectures, load_split, union_features

    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    t0 = time.perf_counter()
    split = load_split(args.data, union_features(archs), seed=args.seed)
    t_prep = time.perf_counter() - t0
    print(f"featurised in {t_prep:.0f} s: {json.dumps(split.summary())}", flush=True)

    def cb(arch: str, kind: str, rec: dict) -> None:
        if kind == "epoch":
            print(f"[{arch}] epoch {rec['epoch']:>2} train MAE {rec['train_mae_bpm']:.2f} val MAE {rec.get('val_mae_bpm', float('nan')):.2f} "
                  f"({rec.get('seconds', 0):.0f} s)", flush=True)

    configs = [TrainConfig(arch=a, seed=args.seed, epochs=args.epochs, patience=args.patience) for a in archs]
    res = compare_architectures(split, configs, callback=cb)
    total = time.perf_counter() - t0

    table = {}
    for arch, r in res.items():
        t = r["test"]
        table[arch] = {
            "mae_bpm": t["mae_bpm"], "rmse_bpm": t["rmse_bpm"], "median_workout_mae_bpm": t["median_workout_mae_bpm"],
            "n_workouts": t["n_workouts"], "n_runners": t["n_runners"], "val_mae_bpm": r["val_mae_bpm"],
            "best_epoch": r["best_epoch"], "epochs_run": r["epochs_run"], "train_seconds": r["train_seconds"],
            "seconds_per_epoch": r["seconds_per_epoch"], "parameters": r["parameters"], "features": r["features"],
            "per_type": t["per_type"], "per_runner": t["per_runner"],
        }
    import numpy as np

    def pace_stats(items: list) -> dict:
        """Quantiles of each run's median moving pace (min/km) and duration (min)."""
        paces, mins = [], []
        for p in items:
            v = p.speed_mps[p.speed_mps >= 0.5] if p.speed_mps is not None else np.zeros(0)
            if v.size:
                paces.append(1000.0 / 60.0 / float(np.median(v)))
            mins.append((p.time_s[-1] - p.time_s[0]) / 60.0)
        q = lambda a, x: round(float(np.percentile(a, x)), 1)  # noqa: E731
        return {"pace_min_per_km_p10_p50_p90": [q(paces, 10), q(paces, 50), q(paces, 90)],
                "duration_min_p10_p50_p90": [q(mins, 10), q(mins, 50), q(mins, 90)]}

    summary = {
        "data": str(Path(args.data).name),
        "train_profile": pace_stats(split.parts["train"]),
        "test_profile": pace_stats(split.parts["test"]),
        "seed": args.seed,
        "split_runners": split.runners,
        "split": split.summary(),
        "featurise_seconds": round(t_prep, 1),
        "total_seconds": round(total, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads available, torch {torch.__version__}",
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "package_version": __version__,
        "models": table,
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(summary, indent=2))

    if "hrnet" in res:
        default = res["hrnet"]["model"]
        comparison = {a: {k: v for k, v in table[a].items() if k in ("mae_bpm", "rmse_bpm", "median_workout_mae_bpm")} for a in table}
        default.save(
            args.out,
            name="hr-default",
            split={"seed": args.seed, "fractions": [0.70, 0.15, 0.15], "runners": split.runners},
            metrics={"test": {k: v for k, v in res["hrnet"]["test"].items() if k not in ("per_runner",)}, "baselines_test": comparison},
            data={**default.data_summary, **split.summary(), "source": Path(args.data).name},
        )
        print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB)")
    write_card(Path(args.card), summary)
    print(f"wrote {args.card} and {args.results}; total {total / 60:.1f} min")
    for a, r in table.items():
        print(f"{a:>10}: test MAE {r['mae_bpm']:.2f}  RMSE {r['rmse_bpm']:.2f}  median workout MAE {r['median_workout_mae_bpm']:.2f}")
    return 0


NAMES = {
    "mean": "Population mean",
    "linear": "Linear (speed, grade)",
    "seed-lstm": "SeedLSTM (SUB3_V2, 11 honest features)",
    "hrnet": "**hr-default (HRNet)**",
}


def mmss(minutes: float) -> str:
    """5.9 -> '5:54'."""
    sec = int(round(float(minutes) * 60))
    return f"{sec // 60}:{sec % 60:02d}"


def write_card(path: Path, s: dict) -> None:
    m = s["models"]
    sp = s["split"]
    rows = []
    for a in ("mean", "linear", "seed-lstm", "hrnet"):
        if a in m:
            r = m[a]
            rows.append(f"| {NAMES[a]} | {r['mae_bpm']:.2f} | {r['rmse_bpm']:.2f} | {r['median_workout_mae_bpm']:.2f} | "
                        f"{r['val_mae_bpm'] if r['val_mae_bpm'] is not None else '-'} | {r['parameters']:,} |")
    types = []
    if "hrnet" in m:
        for t, r in m["hrnet"]["per_type"].items():
            base = m.get("mean", {}).get("per_type", {}).get(t, {})
            types.append(f"| {t} | {r['n_workouts']} | {r['mae_bpm'] if r['mae_bpm'] is not None else '-'} | "
                         f"{base.get('mae_bpm', '-') if base.get('mae_bpm') is not None else '-'} |")
    runners = []
    if "hrnet" in m:
        for u, r in m["hrnet"]["per_runner"].items():
            runners.append(f"| {u} | {r['n_workouts']} | {r['mae_bpm']} | {r['true_mean_bpm']} | {r['pred_mean_bpm']} |")
    hr = m.get("hrnet", {})
    robust = ""
    others = sorted(path.resolve().parent.glob("benchmarks/hr_accuracy_seed*.json")) if path.parent else []
    if others:
        lines = ["Another runner split (same script with `--seed N`; other held-out runners; test MAE, BPM):", "",
                 "| split seed | test runners / runs | population mean | linear | SeedLSTM | HRNet |", "|---|---|---|---|---|---|"]
        for o in [s] + [json.loads(f.read_text()) for f in others]:
            om = o["models"]
            cells = " | ".join(f"{om[a]['mae_bpm']:.2f}" if a in om else "-" for a in ("mean", "linear", "seed-lstm", "hrnet"))
            lines.append(f"| {o['seed']} | {o['split']['test']['runners']} / {o['split']['test']['workouts']} | {cells} |")
        robust = "\n".join(lines) + "\n\n"
    tp = s.get("train_profile") or {"pace_min_per_km_p10_p50_p90": ["?"] * 3, "duration_min_p10_p50_p90": ["?"] * 3}
    text = f"""# Model card: hr-default (sub3coach heart-rate model)

*Generated by `python scripts/train_default_hr.py` on {s['created_utc']} (sub3coach {s['package_version']}); rerun it to reproduce.*

## What it does
Predicts a runner's heart rate (BPM) every 5 s from **speed and altitude only** — for a recorded
run without a strap, or for a planned course at a planned pace. It never sees any heart rate:
no HR input, no HR-derived workout type, no HR-based selection of test runs beyond sensor
sanity (a sample counts when the sensor read 30–230 BPM). A test proves it: randomising the
HR column of the input leaves every prediction unchanged.

## Model
`HRNet`: 2-layer LSTM (64 hidden) over {len(hr.get('features', []))} features, plus a small MLP on the running
mean of the inputs (a per-run context), {hr.get('parameters', 0):,} parameters. Features, all
defined in seconds on a 5-s grid: {', '.join(f'`{f}`' for f in hr.get('features', []))}.
`run_speed_median` and `speed_rel` use the whole run's speed (known for a finished run and
for a planned one). Trained with masked MSE, Adam (lr 2e-3, gradient clip 1), windows of 512
steps (42 min) with a 64-step masked warm-up, early stopping on validation MAE
(best epoch {hr.get('best_epoch')}, {hr.get('epochs_run')} run, ~{hr.get('seconds_per_epoch')} s/epoch on 1 CPU thread).

## Data and split
`{s['data']}`: real runs with HR from {len(sum(s['split_runners'].values(), []))} pseudonymous runners (FIT/GPX/TCX, native
1–7 s sampling). Split **by runner** (no runner in two parts), seeded ({s['seed']}), aiming at
70/15/15 % of workouts (runners are indivisible, so the parts are approximate):

| part | runners | workouts | valid 5-s steps |
|---|---|---|---|
| train | {sp['train']['runners']} | {sp['train']['workouts']} | {sp['train']['valid_steps']:,} |
| validation (early stopping) | {sp['val']['runners']} | {sp['val']['workouts']} | {sp['val']['valid_steps']:,} |
| test (reported below) | {sp['test']['runners']} | {sp['test']['workouts']} | {sp['test']['valid_steps']:,} |

Normalisation statistics come from the training runners only and are stored in the artifact.
Skipped while featurising: {', '.join(f'{n} ({k})' for k, n in s['split']['skipped'].items()) or 'nothing'}.
Training runs: median moving pace per run {mmss(tp['pace_min_per_km_p10_p50_p90'][1])}/km (10–90 %:
{mmss(tp['pace_min_per_km_p10_p50_p90'][0])}–{mmss(tp['pace_min_per_km_p10_p50_p90'][2])}/km), duration {tp['duration_min_p10_p50_p90'][1]:.0f} min
(10–90 %: {tp['duration_min_p10_p50_p90'][0]:.0f}–{tp['duration_min_p10_p50_p90'][2]:.0f} min).

## Results on held-out runners (cold start)
MAE and RMSE over every valid 5-s step of the test runners, and the median of per-workout MAEs.
All four models trained on the same split by the same script.

| model | MAE (BPM) | RMSE (BPM) | median workout MAE | val MAE | parameters |
|---|---|---|---|---|---|
{chr(10).join(rows)}

By workout type (type from **speed only**: intervals when the 1-min speed varies with >= 3
fast bouts; else recovery / steady / intensive by median pace relative to the runner's own
typical pace, or absolute 6:15 and 4:45 /km bounds for runners with < 5 runs):

| type | workouts | hr-default MAE | population-mean MAE |
|---|---|---|---|
{chr(10).join(types)}

By test runner (the largest error source is each runner's own HR level, which no
speed-only model can know without their HR):

| runner | workouts | MAE | true mean HR | predicted mean HR |
|---|---|---|---|---|
{chr(10).join(runners)}

{robust}The SUB3_V2 paper figure of 7.42 BPM used three HR-derived inputs; its honest 11.90 BPM was on
Endomondo users. The numbers here are on a different, much smaller data set (few runners; the
test part has {sp['test']['runners']}), so they are not comparable to either and carry wide uncertainty:
another seed puts other runners in the test part.

## Limits
* **Cold start only.** The model knows nothing about you: a runner whose HR runs 15 BPM above
  or below the population at the same pace gets a curve of the right shape at the wrong level.
  Personalisation (adapting to a runner's own recorded runs) is not part of this model.
* Trained on {sp['train']['runners']} runners (paces above); very fast or very slow running, trail, track
  intervals, very long runs and heat are under-represented. Some "runs" in the data are walks or
  hikes (HR high at walking speed), the hardest case for the model. Gender is unknown for all
  training runs, so the gender input is constant (0.5) and has no effect.
* Altitude from GPS is noisy; runs without altitude (treadmill, some GPX) get zeros plus an
  indicator, and the model then ignores hills.
* Optical wrist HR in the training data has dropouts and cadence lock; the model learns its
  average behaviour.
* Predictions are clipped to 40–220 BPM. Time in zones uses 190 BPM as max HR unless you give
  `--max-hr`.

## Files
* Artifact: `src/sub3coach/models/hr-default.pt` (format 1; `sub3 hr info` shows it).
* Comparison data: `benchmarks/hr_accuracy.json`; speed: `benchmarks/RESULTS.md`.
"""
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
