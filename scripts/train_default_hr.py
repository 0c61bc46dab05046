#!/usr/bin/env python
"""Rebuild the bundled HR model and its model card.

1. Trains the default model (HRNet + personal head) on **all** runners of runs-dev.parquet,
   split by runner into training (85 % of workouts) and validation (15 %: early stopping, the
   personal head's selection and band calibration), seeded;
2. writes ``src/sub3coach/models/hr-default.pt`` with the K-fold protocol's figures
   (``benchmarks/hr_protocol.json``, made by ``python benchmarks/hr_protocol.py``) in its metadata;
3. writes ``MODEL_CARD.md`` from those two.

Usage (from the repository root; ~5 min on 2 CPU cores, plus the protocol's ~40 min):

    python benchmarks/hr_protocol.py          # the honest figures (runner-level 5-fold)
    python scripts/train_default_hr.py        # the bundled model + MODEL_CARD.md
    python scripts/train_default_hr.py --card-only
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from model_card import write_card  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "runs-dev.parquet"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=15, help="maximum epochs (early stopping on validation runners)")
    ap.add_argument("--out", default=str(REPO / "src" / "sub3coach" / "models" / "hr-default.pt"))
    ap.add_argument("--card", default=str(REPO / "MODEL_CARD.md"))
    ap.add_argument("--protocol", default=str(REPO / "benchmarks" / "hr_protocol.json"))
    ap.add_argument("--card-only", action="store_true", help="only rewrite the card (no training)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    protocol = json.loads(Path(args.protocol).read_text()) if Path(args.protocol).exists() else None
    if not args.card_only:
        train(args, protocol)
    from sub3coach.hr.artifact import load_model

    write_card(Path(args.card), load_model(args.out), protocol)
    print(f"wrote {args.card}")
    return 0


def train(args: argparse.Namespace, protocol: dict | None) -> None:
    """Train, fit the head and save the bundled artifact."""
    from sub3coach.hr.predict import configure_threads
    from sub3coach.hr.train import TrainConfig, load_split, train_on_split

    configure_threads()
    cfg = TrainConfig(arch="hrnet", seed=args.seed, epochs=args.epochs)
    t0 = time.perf_counter()
    split = load_split(args.data, cfg.features or (), seed=args.seed, fractions=(0.85, 0.15, 0.0))
    print(f"featurised in {time.perf_counter() - t0:.0f} s: {json.dumps(split.summary())}", flush=True)

    def cb(kind: str, rec: dict) -> None:
        if kind == "epoch":
            print(f"epoch {rec['epoch']:>2} train MAE {rec['train_mae_bpm']:.2f} val MAE {rec.get('val_mae_bpm', float('nan')):.2f} "
                  f"({rec.get('seconds', 0):.0f} s)", flush=True)
        elif kind == "head":
            print("fitting the personal head on the validation runners", flush=True)

    model, _ = train_on_split(cfg, split, callback=cb)
    metrics = {"protocol": _headline(protocol)} if protocol else {}
    model.save(args.out, name="hr-default", split={"seed": args.seed, "fractions": [0.85, 0.15, 0.0], "runners": split.runners},
               metrics=metrics, data={**model.data_summary, **split.summary(), "source": Path(args.data).name},
               train_seconds=round(time.perf_counter() - t0, 1))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")


def _headline(protocol: dict) -> dict:
    """The protocol's figures of the model itself, per mode (for ``sub3 hr info``)."""
    out = {}
    for mode, methods in protocol.get("modes", {}).items():
        e = methods.get("sub3") or {}
        out[mode] = {k: e.get(k) for k in ("mae_bpm", "rmse_bpm", "runner_mean_mae_bpm", "median_workout_mae_bpm",
                                           "runner_median_of_median_workout_mae_bpm", "band80_coverage", "n_workouts", "n_runners")}
    out["folds"] = len(protocol.get("folds", []))
    return out


if __name__ == "__main__":
    sys.exit(main())
