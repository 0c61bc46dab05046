"""Training the HR model from a sharded dataset, and the ``torchrun`` entry point.

::

    torchrun --standalone --nproc_per_node=2 -m sub3coach.hr.train --data ds/ --out m.pt --epochs 1
    python -m sub3coach.hr.train --data ds/ --out m.pt        # the same code, world size 1

Each rank reads its own shards: train (and val, test) shards are dealt round-robin by rank
(shard ``i`` of ``ds.shards(split)`` goes to rank ``i % world``); a run's key is ``(shard
index, row)``, so the data order does not depend on the world size (:mod:`sub3coach.hr.sgd`).
A rank holds its share of the training and validation runs in memory (float32 features:
about ``steps x features x 4`` bytes per run, i.e. 1/world of the dataset); test shards are
streamed. With more ranks than training shards some ranks own no data and only join the
collectives (re-shard with a smaller ``--shard-mb`` for balance).

Rank 0 writes the checkpoint (``OUT.ckpt/checkpoint.pt``, resumable by any world size: the
folder must be visible to all ranks) and the artifact, the same file :func:`load_model` reads.

Reading the data, scoring the test split and saving end with a status exchange
(:meth:`Dist.together`): when one rank fails there (a corrupt shard only it reads, rank 0
unable to write the artifact), every rank exits with the same one-line error naming it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sub3coach.errors import Sub3Error
from sub3coach.features import FeatureSpec, Normaliser, Prepared
from sub3coach.hr.distributed import Dist, current, joined, rank_part
from sub3coach.hr.sgd import Callback, Key, dist_mae

log = logging.getLogger(__name__)


def is_dataset(path: str | os.PathLike) -> bool:
    """True for a folder written by ``sub3 data shard`` (it has a ``manifest.json``)."""
    return (Path(path) / "manifest.json").is_file()


def _iter_rank_split(ds: Any, split: str, spec: FeatureSpec, d: Dist):  # noqa: ANN202
    from sub3coach.data.dataset import iter_prepared
    from sub3coach.hr.data import MIN_VALID_STEPS

    for si, shard in rank_part(ds.shards(split), d):
        for j, p in enumerate(iter_prepared([shard], columns=spec.names, min_valid_steps=MIN_VALID_STEPS)):
            yield (si, j), p


def read_rank_split(ds: Any, split: str, spec: FeatureSpec, d: Dist) -> tuple[list[Prepared], list[Key]]:
    """This rank's runs of ``split`` (round-robin shards) with their keys ``(shard index, row)``."""
    keys: list[Key] = []
    items: list[Prepared] = []
    for k, p in _iter_rank_split(ds, split, spec, d):
        keys.append(k)
        items.append(p)
    return items, keys


def stream_mae(module: Any, norm: Normaliser, ds: Any, split: str, spec: FeatureSpec, d: Dist,
               chunk: int = 256) -> dict[str, Any]:
    """Grid-step MAE (BPM) of the population network on ``split``, streamed (``chunk`` runs at
    a time per rank) and summed over ranks."""
    from sub3coach.hr.train import targets

    s = np.zeros(2)
    n_runs = 0
    buf: list[Prepared] = []
    one = Dist(device=d.device)  # per-chunk sums stay local; one all-reduce at the end

    def flush() -> None:
        if buf:
            m = dist_mae(module, [norm.transform(p.x) for p in buf], targets(buf), [p.mask for p in buf], one)
            k = float(sum(int(p.mask.sum()) for p in buf))
            s[:] += [m * k if k else 0.0, k]
            buf.clear()

    with d.together(f"scoring the {split} split"):  # no collectives inside: a bad shard fails every rank
        for _, p in _iter_rank_split(ds, split, spec, d):
            buf.append(p)
            n_runs += 1
            if len(buf) >= chunk:
                flush()
        flush()
    tot, steps, runs = (float(v) for v in d.all_sum([s[0], s[1], n_runs]))
    return {"grid_mae_bpm": round(tot / steps, 3) if steps else None, "n_workouts": int(runs), "scored_steps": int(steps),
            "scored": "grid steps, population network (no personal head)"}


def train_from_dataset(path: str | os.PathLike, out: str | os.PathLike, cfg: Any, *, checkpoint_dir: Any = None,
                       resume: bool = False, callback: Callback | None = None, dist: Dist | None = None) -> dict[str, Any]:
    """Train ``cfg`` on a dataset folder's train split (early stopping on its val split), score
    its test split, and (rank 0) save the artifact at ``out``. Returns the report (``{}`` on
    other ranks).

    Raises:
        Sub3Error: not a dataset, stale, or lacking the model's features."""
    from sub3coach.data.dataset import open_dataset
    from sub3coach.hr.models import n_parameters
    from sub3coach.hr.train import HRModel

    d = dist or current(cfg.device)
    with d.together("reading the dataset"):  # a rank that cannot read its shards stops every rank
        ds = open_dataset(path)
        spec = cfg.spec()
        ds.check_spec(spec)
        train, keys = read_rank_split(ds, "train", spec, d)
        val, _ = read_rank_split(ds, "val", spec, d)
    model = HRModel(cfg).fit_prepared(train, val, keys=keys, dist=d, checkpoint_dir=checkpoint_dir, resume=resume,
                                      callback=callback)
    del train, val
    assert model.module is not None and model.normaliser is not None
    test = stream_mae(model.module, model.normaliser, ds, "test", spec, d)
    splits = ds.manifest.get("splits", {})
    runners = {k: v.get("runners", []) for k, v in splits.items()}
    with d.together("saving the model"):  # the other ranks wait here for rank 0's artifact
        if d.is_main:
            saved = model.save(out, split={"source": "dataset", "path": str(path), "rule": ds.manifest.get("split_rule"),
                                           "runners": runners},
                               metrics={"test": test}, data={**model.data_summary, "dataset": ds.manifest.get("counts")},
                               world_size=d.world)
    if not d.is_main:
        return {}
    return {"model": str(saved), "arch": cfg.arch, "parameters": n_parameters(model.module), "best_epoch": model.best_epoch,
            "epochs_run": len(model.history), "world_size": d.world, "split": {k: len(v) for k, v in runners.items()},
            "data": model.data_summary, "test": test, "history": model.history}


# ----- torchrun entry ---------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sub3coach.hr.train", description=(
        "Train the HR model; under torchrun with DistributedDataParallel (one process per CPU worker or GPU). "
        "Example: torchrun --standalone --nproc_per_node=2 -m sub3coach.hr.train --data ds/ --out m.pt --epochs 1"))
    p.add_argument("--data", required=True, help="dataset folder (sub3 data shard), corpus Parquet, Endomondo JSON or library")
    p.add_argument("--out", required=True, help="model artifact to write (.pt)")
    p.add_argument("--arch", default="hrnet")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32, help="global batch (windows per step over all ranks)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=None, help="recurrent units (default: the architecture's)")
    p.add_argument("--window-steps", type=int, default=512, help="training window, grid steps")
    p.add_argument("--burn-in-steps", type=int, default=64, help="masked warm-up of windows after the first, grid steps")
    p.add_argument("--max-windows-per-epoch", type=int, default=None)
    p.add_argument("--no-head", action="store_true", help="skip fitting the personal head")
    p.add_argument("--checkpoint-dir", default=None, help="default: OUT.ckpt/")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint (any world size)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the GPU of this local rank when present)")
    p.add_argument("--json", action="store_true", help="print the report as JSON (rank 0)")
    return p


def _printer(d: Dist, quiet: bool) -> Callback:
    def cb(kind: str, rec: dict[str, Any]) -> None:
        if kind == "epoch" and d.is_main and not quiet:
            val = rec.get("val_mae_bpm")
            print(f"epoch {rec['epoch']:>3}  train MAE {rec['train_mae_bpm']:6.2f} BPM  val MAE "
                  f"{'-' if val is None else f'{val:6.2f}'} BPM  ({rec.get('seconds', 0):.1f} s, {d.world} rank(s))",
                  file=sys.stderr, flush=True)
    return cb


def main(argv: list[str] | None = None) -> int:
    """``python -m sub3coach.hr.train`` (optionally under torchrun). Exit 0, 1 (error) or 2 (usage)."""
    from sub3coach.hr.train import TrainConfig, train_from_path

    a = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="sub3: warning: %(message)s")
    try:
        cfg = TrainConfig(arch=a.arch, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, patience=a.patience, seed=a.seed,
                          max_windows_per_epoch=a.max_windows_per_epoch, hidden=a.hidden,
                          window_steps=a.window_steps, burn_in_steps=a.burn_in_steps, personal_head=not a.no_head, device=a.device)
    except Sub3Error as exc:
        print(f"sub3: error: {exc}", file=sys.stderr)
        return 2
    out = Path(a.out)
    ckpt = Path(a.checkpoint_dir) if a.checkpoint_dir else out.with_name(out.name + ".ckpt")
    try:
        with joined(a.device) as d:
            report = train_from_path(a.data, out, cfg, checkpoint_dir=ckpt, resume=a.resume, callback=_printer(d, a.json), dist=d)
    except Sub3Error as exc:
        print(f"sub3: error: {exc}", file=sys.stderr)
        return 1
    if report:
        if a.json:
            print(json.dumps(report, default=str))
        else:
            print(f"saved {report['model']} ({report['arch']}, best epoch {report['best_epoch']}, "
                  f"{report['world_size']} rank(s))")
    return 0
