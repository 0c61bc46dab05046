"""``sub3 data``: make sharded datasets from big corpora (see :mod:`sub3coach.data.shard`)."""
from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from sub3coach.cli_common import JsonOpt, console, err_console, fail, print_json, typer_app
from sub3coach.errors import Sub3Error

data_app = typer_app("data", "Big corpora: runner-sharded Parquet datasets.")


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory, MB, of this process and of its largest finished child (a worker)."""
    scale = 1024.0 if sys.platform != "darwin" else 1024.0 * 1024.0
    return {"main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1),
            "largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale, 1)}


@data_app.command("shard")
def shard_cmd(
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT...", help="Endomondo/FitRec JSON, corpus Parquet (file or folder), library (.duckdb), folder of FIT/GPX/TCX.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write (or resume).")],
    shard_mb: Annotated[float, typer.Option("--shard-mb", min=0.01, help="Largest shard, MB (also the per-split memory bound).")] = 64.0,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", min=1, help="Featurising processes (default: all cores).")] = None,
    val_frac: Annotated[float, typer.Option("--val-frac", min=0.0, max=0.9, help="Share of runners in the validation split.")] = 0.15,
    test_frac: Annotated[float, typer.Option("--test-frac", min=0.0, max=0.9, help="Share of runners in the test split.")] = 0.15,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the runner-disjoint split.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Stream corpora into a runner-partitioned Parquet dataset on the model's 5-s grid.

    Memory stays bounded (about 3 x --shard-mb plus one input part per worker), all cores are
    used, a killed run resumes where it stopped, and a re-run on the same inputs does nothing.
    Training (torchrun ... -m sub3coach.hr.train --data DIR) and `sub3 hr predict DIR --out OUT/`
    read the dataset.

    Example: sub3 data shard endomondoHR.json runs.parquet --out ds/
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sub3coach.data.shard import ShardOptions, shard

    t0 = time.perf_counter()
    try:
        with Progress(TextColumn("sharding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=True,
                      disable=as_json or not err_console.is_terminal) as progress:
            task = progress.add_task("sharding", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            m = shard(inputs, out, opts=ShardOptions(shard_mb=shard_mb, val_frac=val_frac, test_frac=test_frac, seed=seed),
                      workers=workers, on_progress=on_progress)
    except Sub3Error as exc:
        raise fail(exc) from None
    except KeyboardInterrupt:
        err_console.print("sub3: interrupted; run the same command again to resume", markup=False)
        raise typer.Exit(130) from None
    secs = time.perf_counter() - t0
    c = m["counts"]
    if c["workouts"] == 0:
        why = ", ".join(f"{k} {v}" for k, v in c["skipped"].items()) or "no workouts read"
        raise fail(f"{' '.join(map(str, inputs))}: no usable run in the input ({why})")
    result: dict[str, Any] = {
        "out": str(out), "done": m["done"], "resumed_from_unit": m.get("resumed_from_unit"), "workouts": c["workouts"], "runners": c["runners"], "samples": c["samples"],
        "skipped": c["skipped"], "splits": {s: {k: v[k] for k in ("workouts", "n_runners")} | {"shards": len(v["shards"])}
                                            for s, v in m["splits"].items()},
        "feature_spec_hash": m["feature_spec_hash"], "seconds": round(secs, 2),
        "workouts_per_s": round(c["workouts"] / secs, 1) if m["done"] != "up to date" and secs > 0 else None,
        "peak_rss_mb": peak_rss_mb(),
    }
    if as_json:
        print_json(result)
        return
    console.print(f"{m['done']}: {c['workouts']:,} workouts of {c['runners']:,} runners ({c['samples']:,} grid steps) in {out}",
                  highlight=False)
    for s, v in result["splits"].items():
        console.print(f"  {s}: {v['workouts']:,} workouts, {v['n_runners']:,} runners, {v['shards']} shards", highlight=False)
    if c["skipped"]:
        console.print("  skipped: " + ", ".join(f"{k} {v}" for k, v in c["skipped"].items()), highlight=False)
