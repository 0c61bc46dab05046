"""Runner-level K-fold evaluation of the HR model in its three modes (cold, personal, in-run).

Usage (about 30-40 min on 2 CPU cores; trained fold models are cached and reused):

    python benchmarks/hr_protocol.py [--data ../shared/data/runs-dev.parquet] [--folds 5]
        [--cache benchmarks/.cache/protocol] [--out benchmarks/hr_protocol.json]

The same protocol as ``sub3 hr evaluate --protocol all --folds 5`` (one library function,
:func:`sub3coach.hr.protocol.run_protocol`); this script also writes the JSON report that
benchmarks/RESULTS.md and MODEL_CARD.md quote.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    from sub3coach.hr.predict import configure_threads
    from sub3coach.hr.protocol import ProtocolConfig, load_items, run_protocol

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "runs-dev.parquet"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=str(HERE / ".cache" / "protocol"))
    ap.add_argument("--out", default=str(HERE / "hr_protocol.json"))
    args = ap.parse_args(argv)
    if not Path(args.data).exists():
        print(f"hr_protocol: {args.data}: no such file (the shared data is absent)", file=sys.stderr)
        return 1
    configure_threads()
    cfg = ProtocolConfig(folds=args.folds, seed=args.seed, cache_dir=args.cache)
    t0 = time.perf_counter()
    items, names, skipped = load_items(args.data, cfg)
    report = run_protocol(items, names, cfg, progress=lambda s: print(f"[{time.perf_counter() - t0:7.0f} s] {s}", flush=True))
    report["data"] = {"path": Path(args.data).name, "workouts": len(items), "skipped": skipped,
                      "runners": len({str(p.user_id) for p in items})}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).write_text(json.dumps(report, indent=1))
    for mode, methods in report["modes"].items():
        for method, e in methods.items():
            print(f"{mode:9s} {method:45s} MAE {e['mae_bpm']}  runner-mean {e['runner_mean_mae_bpm']}  "
                  f"median-workout {e['median_workout_mae_bpm']}  runner-median {e['runner_median_of_median_workout_mae_bpm']}  "
                  f"band {e['band80_coverage']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
