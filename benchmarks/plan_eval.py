"""Reproduce the next-workout numbers and write them to benchmarks/RESULTS.md ("## Next workout").

Usage (from the repository root)::

    python benchmarks/plan_eval.py [--data ../shared/data/histories] [--model MODEL] [--no-write]

Runs the same walk-forward evaluation as ``sub3 plan evaluate --data DIR --json`` (runners the
model saw in training or validation are left out, so on the dev histories only the held-out
test runners are scored) and times a few suggestions. Only the "## Next workout" section of
RESULTS.md is replaced; other sections are kept as they are.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import re
import time
from datetime import timedelta
from pathlib import Path

import torch

from sub3coach.plan.evaluate import evaluate, evaluate_personalised
from sub3coach.plan.history import load_histories
from sub3coach.plan.suggest import suggest_next
from sub3coach.plan.train import load_plan_model

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
SECTION = "## Next workout"


def _section(res: dict, raw: dict | None, pers: dict | None, model_meta: dict, data: Path, timing_ms: float, cmd: str) -> str:
    b = res["baselines"]
    rows = [f"| Transformer (bundled `plan-default.pt`) | **{res['pace_mae_s_per_km']:.1f}** | "
            f"{res['median_abs_error_s_per_km']:.1f} |"]
    rows += [f"| baseline: {k} | {v:.1f} | |" for k, v in b.items()]
    per = sorted(res["per_runner"], key=lambda r: r["user_id"])
    per_rows = [f"| {r['user_id']} | {r['n_predictions']} | {r['pace_mae_s_per_km']:.1f} | "
                + " | ".join(f"{r[k]:.1f}" for k in b) + " |" for r in per]
    data_info = model_meta.get("data", {})
    hist = model_meta.get("history", [])
    return "\n".join([
        SECTION,
        "",
        f"Walk-forward next-run pace error on **{res['n_runners']} runners never seen in training** "
        f"({res['n_predictions']} runs; {res['n_runners_skipped_seen']} runners of the folder were used for training/validation and are left out). "
        f"Each run with at least {res['min_history_days']:.0f} days of earlier history is predicted from the runs before it "
        "(the model reads the previous 16 runs of the last 28 days, the runner's habits over the previous weeks "
        "(median pace over 8/16/52 weeks, on the same weekday and at the same hour over 16 weeks, days since the last "
        "fast and long runs) and the weekday, start hour and gap of the run day; never the run's distance or any HR). "
        "Histories are cleaned as in training and in `sub3 plan`: rows that are not runs for this runner "
        "(over 1.75x slower or 1.6x faster than the quicker quartile of their previous 15 rows: walks, rides, a watch left "
        "running; a causal rule) "
        "are neither read nor scored. Data: the dev histories (`{}`), runner-disjoint split seeded 0 "
        "(train {train} / validation {val} / test {test} runners).".format(
            data.name, **data_info.get("n_runners", {"train": "?", "val": "?", "test": "?"})),
        "",
        "| predictor | pace MAE (s/km) | median abs. error (s/km) |",
        "|---|---:|---:|",
        *rows,
        "",
        f"Best baseline: `{res['best_baseline']}`; the Transformer's MAE is **{res['improvement_vs_best_baseline_pct']:.1f} % "
        f"{'lower' if res['improvement_vs_best_baseline_pct'] >= 0 else 'higher'}** than it (issue target: at least 10 % lower: "
        f"{'met' if res['improvement_vs_best_baseline_pct'] >= 10 else '**not met**'}), better on {res['runners_better_than_best_baseline']} of "
        f"{res['n_runners']} runners.",
        "",
        *([] if raw is None else [
            f"Same runners without the non-run rule (the protocol of the first release: walks and rides kept as inputs and scored, "
            f"{raw['n_predictions']} runs): Transformer {raw['pace_mae_s_per_km']:.1f}, baselines "
            + ", ".join(f"{k} {v:.1f}" for k, v in raw["baselines"].items())
            + f" s/km ({raw['improvement_vs_best_baseline_pct']:.1f} % under the best baseline).",
            "",
        ]),
        *([] if pers is None else [
            f"Personalised (fine-tuned per runner, {pers['n_runners']} unseen runners with at least {pers['min_runs']} runs "
            f"before the middle of their scored period; {pers['n_predictions']} later runs scored): cold-start Transformer "
            f"{pers['pace_mae_s_per_km']:.1f}, fine-tuned **{pers['personalised_pace_mae_s_per_km']:.1f}**, baselines on the same runs "
            + ", ".join(f"{k} {v:.1f}" for k, v in pers["baselines"].items()) + " s/km. Fine-tuning settings (lr 1e-4, "
            "8 epochs, the runner's last 1500 runs) were chosen on the validation runners.",
            "",
        ]),
        f"Model: encoder-decoder Transformer (d_model {model_meta.get('config', {}).get('d_model')}, "
        f"{model_meta.get('config', {}).get('n_heads')} heads, {model_meta.get('config', {}).get('n_layers')}+"
        f"{model_meta.get('config', {}).get('n_layers')} layers), {data_info.get('n_train_examples', '?')} training examples, "
        f"{len(hist)} of at most {model_meta.get('training', {}).get('epochs', '?')} epochs (AdamW, L1 loss, the validated and kept weights an "
        f"exponential moving average (0.99) of the trained ones, early stopping on the validation runners), trained in "
        f"{model_meta.get('train_seconds', '?')} s on this 2-core CPU.",
        f"A `sub3 plan next` suggestion (pace model + rules + HR model) takes {timing_ms:.0f} ms "
        f"({platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads).",
        "",
        "Per runner (MAE s/km):",
        "",
        "| runner | runs | Transformer | " + " | ".join(b) + " |",
        "|---|---:|---:|" + "---:|" * len(b),
        *per_rows,
        "",
        "Reproduce:",
        "",
        "```",
        "python scripts/train_default_plan.py --epochs {} --threads 2   # retrains the bundled model (about 25 min)".format(
            model_meta.get("training", {}).get("epochs", 12)),
        cmd,
        "sub3 plan evaluate --data ../shared/data/histories --json   # same numbers",
        "```",
        "",
    ])


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace (or append) the "## Next workout" section of RESULTS.md."""
    old = path.read_text() if path.exists() else "# Benchmark results\n\n"
    pat = re.compile(r"^## Next workout\n.*?(?=^## |\Z)", re.S | re.M)
    new = pat.sub(lambda _: text, old) if pat.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "histories")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    ap.add_argument("--no-personalised", action="store_true", help="skip the (slower) fine-tuning evaluation")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("sub3coach.io").setLevel(logging.ERROR)
    model = load_plan_model(args.model)
    runners = load_histories(args.data, strict=False)
    res = evaluate(model, runners)
    raw = evaluate(model, runners, clean=False)
    pers = None if args.no_personalised else evaluate_personalised(model, runners)
    # time suggestions for a few held-out runners (the HR model included)
    ids = [r["user_id"] for r in res["per_runner"]][:5]
    times = []
    for uid in ids:
        h = runners[uid]
        as_of = (h["start_time"].max() + timedelta(days=1)).date()
        t0 = time.perf_counter()
        suggest_next(h, as_of=as_of, model=model)
        times.append(time.perf_counter() - t0)
    timing_ms = 1000 * sorted(times)[len(times) // 2] if times else float("nan")
    cmd = "python benchmarks/plan_eval.py" + (f" --model {args.model}" if args.model else "")
    print(json.dumps({k: v for k, v in res.items() if k != "per_runner"} | {"suggest_ms": round(timing_ms), "personalised": pers}, indent=2))
    if not args.no_write:
        write_section(_section(res, raw, pers, model.meta, args.data, timing_ms, cmd))
        print(f"updated {RESULTS}")


if __name__ == "__main__":
    main()
