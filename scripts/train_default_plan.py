"""Train the bundled next-run pace model on a runner-disjoint split of the dev histories.

Usage (from the repository root; a few minutes per epoch on 2 CPU cores)::

    python scripts/train_default_plan.py [--data ../shared/data/histories] [--out src/sub3coach/models/plan-default.pt]
        [--epochs 12] [--seed 0] [--threads 2]

The split (70 % train / 10 % validation for early stopping / 20 % test runners, seeded) is
stored in the artifact; the test runners' walk-forward evaluation (the same as
``sub3 plan evaluate --data DIR``) is computed on the saved, reloaded artifact and stored in it.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from sub3coach.plan.evaluate import evaluate
from sub3coach.plan.history import load_histories
from sub3coach.plan.train import load_plan_model, save_plan_model, train_population

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "histories")
    ap.add_argument("--out", type=Path, default=REPO / "src" / "sub3coach" / "models" / "plan-default.pt")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--members", type=int, default=1, help="models from seeds SEED, SEED+1... averaged")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("sub3coach.io").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    runners = load_histories(args.data, strict=False)
    model = train_population(runners, seed=args.seed, split_seed=args.split_seed, members=args.members, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size)
    tmp = save_plan_model(args.out.with_name(args.out.name + ".partial"), model)
    reloaded = load_plan_model(tmp)  # score exactly what ships (float16 weights)
    test = {k: runners[k] for k in model.meta["split"]["test"]}
    res = evaluate(reloaded, test)
    res.pop("model")
    save_plan_model(args.out, model, metrics={"test": res, "protocol": "walk-forward, runner-disjoint test split"})
    tmp.unlink()
    summary = {k: v for k, v in res.items() if k != "per_runner"}
    print(json.dumps({"out": str(args.out), "test": summary, "data": model.meta["data"],
                      "train_seconds": model.meta["train_seconds"], "epochs_run": len(model.meta["history"])}, indent=2))


if __name__ == "__main__":
    main()
