#!/usr/bin/env python
"""Accuracy of the heart-rate models on held-out runners of runs-dev, into RESULTS.md.

Three ways to run it (from the repository root):

    python benchmarks/hr_accuracy.py             # table from benchmarks/hr_accuracy.json (written by
                                                 # scripts/train_default_hr.py) + re-scores the bundled
                                                 # model on its test runners to check it matches
    python benchmarks/hr_accuracy.py --retrain   # retrain all four models on the same split (~20 min;
                                                 # runs scripts/train_default_hr.py into a temp dir)
    python benchmarks/hr_accuracy.py --no-write  # print only

The split is runner-disjoint 70/15/15 (seed 0); every model is scored on the same test runners.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hr_speed import update_results  # noqa: E402

NAMES = {
    "mean": "population mean",
    "linear": "linear (speed, grade)",
    "seed-lstm": "SeedLSTM (SUB3_V2 arch., 11 honest features)",
    "hrnet": "**hr-default** (HRNet, bundled)",
}


SHORT = {"mean": "population mean", "linear": "linear", "seed-lstm": "SeedLSTM", "hrnet": "HRNet (default arch.)"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "runs-dev.parquet"))
    ap.add_argument("--json", dest="json_path", default=str(REPO / "benchmarks" / "hr_accuracy.json"))
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--also", nargs="*", default=[], help="results JSONs of other split seeds (train_default_hr.py --seed N --results ...)")
    args = ap.parse_args(argv)

    json_path = Path(args.json_path)
    if args.retrain:
        tmp = Path(tempfile.mkdtemp(prefix="hr-acc-"))
        json_path = tmp / "hr_accuracy.json"
        subprocess.run([sys.executable, str(REPO / "scripts" / "train_default_hr.py"), "--data", args.data,
                        "--out", str(tmp / "hr.pt"), "--card", str(tmp / "MODEL_CARD.md"), "--results", str(json_path)], check=True)
    s = json.loads(json_path.read_text())

    # check: the bundled model, re-scored now on its own test runners
    from sub3coach.hr.artifact import load_model
    from sub3coach.hr.evaluate import evaluate_path
    from sub3coach.hr.predict import configure_threads

    configure_threads()

    lm = load_model(None if not args.retrain else tmp / "hr.pt")
    runners = (lm.meta.get("split") or {}).get("runners", {}).get("test")
    t0 = time.perf_counter()
    check = evaluate_path(lm, args.data, runners=runners).metrics() if runners else None
    t_eval = time.perf_counter() - t0

    rows = ["| model | test MAE (BPM) | test RMSE (BPM) | median workout MAE | val MAE | parameters | epochs (best) |",
            "|---|---|---|---|---|---|---|"]
    for a in ("mean", "linear", "seed-lstm", "hrnet"):
        r = s["models"].get(a)
        if not r:
            continue
        ep = f"{r['epochs_run']} ({r['best_epoch']})" if r["best_epoch"] else "closed form"
        rows.append(f"| {NAMES[a]} | {r['mae_bpm']:.2f} | {r['rmse_bpm']:.2f} | {r['median_workout_mae_bpm']:.2f} | "
                    f"{r['val_mae_bpm']} | {r['parameters']:,} | {ep} |")
    sp = s["split"]
    types = ["| workout type (from speed) | workouts | " + " | ".join(NAMES[a].replace('**', '') + " MAE" for a in s["models"]) + " |",
             "|---|---|" + "---|" * len(s["models"])]
    first = next(iter(s["models"].values()))
    for t in first["per_type"]:
        n = first["per_type"][t]["n_workouts"]
        vals = [s["models"][a]["per_type"][t]["mae_bpm"] for a in s["models"]]
        types.append(f"| {t} | {n} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in vals) + " |")
    body = [
        f"Runner-disjoint split of `{s['data']}` (seed {s['seed']}): train {sp['train']['runners']} runners / {sp['train']['workouts']} runs, "
        f"validation {sp['val']['runners']} / {sp['val']['workouts']}, **test {sp['test']['runners']} runners / {sp['test']['workouts']} runs** "
        f"({sp['test']['valid_steps']:,} valid 5-s steps). Metrics over every valid 5-s step of the test runners; "
        f"trained by `python scripts/train_default_hr.py` ({s['total_seconds'] / 60:.1f} min in total, {s['created_utc']}).",
        "",
        *rows,
        "",
        *types,
        "",
    ]
    if args.also:
        others = [s] + [json.loads(Path(p).read_text()) for p in args.also]
        body += ["Other runner splits (same script, `--seed N`; each a different set of held-out runners), test MAE in BPM:", "",
                 "| split seed | test runners / runs | " + " | ".join(SHORT[a] for a in s["models"]) + " |",
                 "|---|---|" + "---|" * len(s["models"])]
        for o in others:
            osp = o["split"]["test"]
            body.append(f"| {o['seed']} | {osp['runners']} / {osp['workouts']} | "
                        + " | ".join(f"{o['models'][a]['mae_bpm']:.2f}" if a in o["models"] else "-" for a in s["models"]) + " |")
        body.append("")
    if check:
        body.append(f"Check, `python benchmarks/hr_accuracy.py`: the bundled model re-scored now on its test runners gives MAE "
                    f"{check['mae_bpm']:.2f} / RMSE {check['rmse_bpm']:.2f} / median workout MAE {check['median_workout_mae_bpm']:.2f} BPM "
                    f"over {check['n_workouts']} runs ({t_eval:.0f} s). The same through the CLI: "
                    "`sub3 hr evaluate --data ../shared/data/runs-dev.parquet --split test --json`.")
    body += ["", "Reproduce everything: `python scripts/train_default_hr.py` then `python benchmarks/hr_accuracy.py` "
             "(or `--retrain` to train into a temp dir without touching the bundled model). Training a single model the "
             "user way: `sub3 hr train --data ../shared/data/runs-dev.parquet --out hr.pt --epochs 15 --patience 4` "
             "then `sub3 hr evaluate --model hr.pt --data ../shared/data/runs-dev.parquet --split test --json`."]
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        update_results("Accuracy on held-out runners", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
