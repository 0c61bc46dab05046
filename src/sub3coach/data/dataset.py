"""Reader of a sharded workout dataset (what ``sub3 data shard`` writes).

A dataset is a folder::

    DIR/manifest.json                      counts, split, feature spec + its hash, shards
    DIR/split=train/part-00000.parquet     one row per workout, runner-disjoint splits
    DIR/split=val/part-00000.parquet
    DIR/split=test/part-00000.parquet
    DIR/_progress.json                     the writer's resume journal

Each row is one workout on the model's time grid (:func:`sub3coach.features.prepare`):

=============  ====================  ==========================================================
column         type                  meaning
=============  ====================  ==========================================================
workout_id     string                the source's workout id
user_id        string (nullable)     the source's runner id
runner_id      string                the split key (user id, or ``anon:<workout id>``)
gender         string (nullable)     ``male`` / ``female`` when the source says
source         string                where the workout came from
n_steps        int32                 T, grid steps
n_valid        int32                 steps observed with a finite HR (the training mask)
has_hr         bool                  the workout has an HR channel (else ``hr_bpm`` is all NaN)
time_s         list<float64>         grid times, unix s (T)
x              list<float32>         raw (un-normalised) features, row-major (T * F)
hr_bpm         list<float64>         target HR on the grid, BPM, NaN unknown (T)
observed       list<bool>            grid steps inside recorded data (T)
speed_mps      list<float64>         grid speed, m/s (T)
=============  ====================  ==========================================================

Reader contract (stable; the DDP trainer and batch prediction use it)::

    ds = open_dataset("ds/")          # refuses a stale dataset (feature code changed)
    ds.manifest                       # dict (manifest.json)
    ds.spec                           # FeatureSpec the rows were made with
    ds.check_spec(model_spec)         # Sub3Error unless model_spec's features can be read here
    for p in iter_prepared(ds.shards("train"), columns=model_spec.names, min_valid_steps=24):
        ...                           # sub3coach.features.Prepared, row group by row group

:func:`iter_prepared` yields :class:`~sub3coach.features.Prepared` objects equal to what
``features.prepare`` gives for that workout, except that ``x`` is float32 (the stored
precision; ``Normaliser.transform`` casts to float32 anyway). ``meta`` holds ``gender``,
``runner_id`` and ``source``. Only one row group (``ROW_GROUP_ROWS`` workouts) is decoded at a
time, so memory does not grow with the dataset.

The feature-spec hash covers the spec (names, grid step, max gap), the source code of every
feature function it names, and :data:`FORMAT_VERSION`; a dataset whose stored hash differs
from the hash the running code computes for the same spec is *stale* and is refused.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sub3coach.errors import Sub3Error
from sub3coach.features import REGISTRY, FeatureSpec, Prepared

log = logging.getLogger(__name__)

#: Bump when the row layout changes (part of the spec hash: old datasets become stale).
FORMAT_VERSION: int = 1
#: The splits, in this order.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Workouts per Parquet row group (the reader's unit of memory).
ROW_GROUP_ROWS: int = 32
MANIFEST = "manifest.json"

SCHEMA = pa.schema([
    pa.field("workout_id", pa.string()),
    pa.field("user_id", pa.string()),
    pa.field("runner_id", pa.string()),
    pa.field("gender", pa.string()),
    pa.field("source", pa.string()),
    pa.field("n_steps", pa.int32()),
    pa.field("n_valid", pa.int32()),
    pa.field("has_hr", pa.bool_()),
    pa.field("time_s", pa.list_(pa.float64())),
    pa.field("x", pa.list_(pa.float32())),
    pa.field("hr_bpm", pa.list_(pa.float64())),
    pa.field("observed", pa.list_(pa.bool_())),
    pa.field("speed_mps", pa.list_(pa.float64())),
])
_SCALARS = ("workout_id", "user_id", "runner_id", "gender", "source", "n_steps", "n_valid", "has_hr")
_LISTS = ("time_s", "x", "hr_bpm", "observed", "speed_mps")


def spec_hash(spec: FeatureSpec) -> str:
    """16-hex hash of ``spec`` + the source of its feature functions + :data:`FORMAT_VERSION`."""
    code: dict[str, str] = {}
    for name in spec.names:
        fn = REGISTRY[name].fn
        try:
            code[name] = inspect.getsource(fn)
        except (OSError, TypeError):  # no source shipped: fall back to the bytecode
            code[name] = fn.__code__.co_code.hex()
    blob = json.dumps({"format": FORMAT_VERSION, "spec": spec.to_dict(), "code": code}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def split_dir(root: Path, split: str) -> Path:
    """``root/split=<split>``."""
    return root / f"split={split}"


@dataclass
class ShardDataset:
    """An opened dataset folder (see the module docs)."""

    path: Path
    manifest: dict[str, Any]
    spec: FeatureSpec

    def shards(self, split: str) -> list[Path]:
        """The Parquet shards of ``split`` (``train``, ``val`` or ``test``), sorted by name."""
        if split not in SPLITS:
            raise Sub3Error(f"unknown split {split!r} (one of {', '.join(SPLITS)})", str(self.path))
        return sorted(split_dir(self.path, split).glob("part-*.parquet"))

    def all_shards(self) -> list[Path]:
        """Every shard, train then val then test."""
        return [s for sp in SPLITS for s in self.shards(sp)]

    def check_spec(self, spec: FeatureSpec) -> None:
        """Refuse to serve a model whose features this dataset cannot give.

        Raises:
            Sub3Error: different grid (step / max gap) or a feature the dataset lacks.
        """
        check_spec(self, spec)

    def columns_for(self, spec: FeatureSpec) -> tuple[str, ...]:
        """The feature columns to read for a model with ``spec`` (checked)."""
        self.check_spec(spec)
        return tuple(spec.names)


def open_dataset(path: str | os.PathLike) -> ShardDataset:
    """Open a dataset folder written by ``sub3 data shard``.

    Raises:
        Sub3Error: no such folder, no/unfinished manifest, or a stale dataset (its feature-spec
            hash differs from the one this code computes: the features changed since).
    """
    root = Path(path)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise Sub3Error("no such dataset folder", str(root))
    if not mpath.exists():
        hint = " (unfinished: run sub3 data shard again to resume)" if (root / "_progress.json").exists() else ""
        raise Sub3Error(f"not a sub3 dataset: no {MANIFEST}{hint}", str(root))
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        spec = FeatureSpec.from_dict(manifest["feature_spec"])
        stored = str(manifest["feature_spec_hash"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Sub3Error(f"unreadable {MANIFEST} ({exc})", str(root)) from exc
    now = spec_hash(spec)
    if stored != now:
        raise Sub3Error(f"stale dataset: made with feature spec {stored}, this sub3coach computes {now};"
                        " re-run sub3 data shard into a new folder", str(root))
    return ShardDataset(path=root, manifest=manifest, spec=spec)


def check_spec(ds: ShardDataset, spec: FeatureSpec) -> None:
    """Raise :class:`Sub3Error` unless ``spec`` can be served from ``ds`` (same grid, features
    present; the dataset itself was already checked for staleness by :func:`open_dataset`)."""
    if (spec.step_s, spec.max_gap_s) != (ds.spec.step_s, ds.spec.max_gap_s):
        raise Sub3Error(f"dataset grid is {ds.spec.step_s:g} s (max gap {ds.spec.max_gap_s:g} s), the model needs "
                        f"{spec.step_s:g} s (max gap {spec.max_gap_s:g} s); re-shard with the model's spec", str(ds.path))
    missing = [n for n in spec.names if n not in ds.spec.names]
    if missing:
        raise Sub3Error(f"dataset lacks feature(s) {', '.join(missing)}; re-shard with the model's spec", str(ds.path))


def _dataset_names(shard: Path) -> tuple[str, ...]:
    """Feature names of the dataset a shard belongs to (from the file's key-value metadata)."""
    md = pq.ParquetFile(shard).schema_arrow.metadata or {}
    raw = md.get(b"sub3.feature_names")
    if raw is None:
        raise Sub3Error("not a sub3 dataset shard (no feature names in its metadata)", str(shard))
    return tuple(json.loads(raw))


def _lists(col: pa.ChunkedArray | pa.Array, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """(absolute offsets, flat values) of a list column."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    off = np.asarray(arr.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    return off, np.asarray(arr.values.to_numpy(zero_copy_only=False), dtype=dtype)


def encode_rows(items: Sequence[Prepared], runner_ids: Sequence[str], sources: Sequence[str | None]) -> pa.RecordBatch:
    """:class:`Prepared` workouts -> one record batch in :data:`SCHEMA` (x stored as float32)."""
    def lst(arrays: list[np.ndarray], typ: pa.DataType) -> pa.Array:
        lens = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
        off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
        flat = np.concatenate(arrays) if arrays else np.zeros(0)
        return pa.ListArray.from_arrays(pa.array(off, pa.int32()), pa.array(flat, typ))

    n = [len(p.time_s) for p in items]
    hr = [np.asarray(p.hr_bpm, dtype=np.float64) if p.hr_bpm is not None else np.full(len(p.time_s), np.nan) for p in items]
    cols = {
        "workout_id": pa.array([p.workout_id for p in items], pa.string()),
        "user_id": pa.array([p.user_id for p in items], pa.string()),
        "runner_id": pa.array(list(runner_ids), pa.string()),
        "gender": pa.array([p.meta.get("gender") for p in items], pa.string()),
        "source": pa.array(list(sources), pa.string()),
        "n_steps": pa.array(n, pa.int32()),
        "n_valid": pa.array([int(p.mask.sum()) for p in items], pa.int32()),
        "has_hr": pa.array([p.hr_bpm is not None for p in items], pa.bool_()),
        "time_s": lst([np.asarray(p.time_s, dtype=np.float64) for p in items], pa.float64()),
        "x": lst([np.asarray(p.x, dtype=np.float32).ravel() for p in items], pa.float32()),
        "hr_bpm": lst(hr, pa.float64()),
        "observed": lst([np.asarray(p.observed, dtype=np.bool_) for p in items], pa.bool_()),
        "speed_mps": lst([np.asarray(p.speed_mps if p.speed_mps is not None else np.full(len(p.time_s), np.nan),
                                     dtype=np.float64) for p in items], pa.float64()),
    }
    return pa.RecordBatch.from_arrays([cols[f.name] for f in SCHEMA], schema=SCHEMA)


def shard_schema(spec: FeatureSpec, spec_digest: str) -> pa.Schema:
    """:data:`SCHEMA` with the dataset's feature names and spec hash in its metadata."""
    return SCHEMA.with_metadata({b"sub3.feature_names": json.dumps(list(spec.names)).encode(),
                                 b"sub3.feature_spec_hash": spec_digest.encode()})


def decode_table(table: pa.Table, names: Sequence[str], columns: Sequence[str] | None = None,
                 min_valid_steps: int = 0) -> Iterator[Prepared]:
    """Rows of a shard table -> :class:`Prepared` (see :func:`iter_prepared`)."""
    f = len(names)
    pos = None if columns is None else [list(names).index(c) for c in columns]
    sc = {c: table.column(c).to_pylist() for c in _SCALARS}
    dtypes = {"time_s": np.float64, "x": np.float32, "hr_bpm": np.float64, "observed": np.bool_, "speed_mps": np.float64}
    lists = {c: _lists(table.column(c), dtypes[c]) for c in _LISTS}
    for i in range(table.num_rows):
        if sc["n_valid"][i] < min_valid_steps:
            continue
        seg = {}
        for c in _LISTS:
            off, flat = lists[c]
            seg[c] = flat[off[i]:off[i + 1]].copy()
        t = int(sc["n_steps"][i])
        x = seg["x"].reshape(t, f)
        if pos is not None:
            x = np.ascontiguousarray(x[:, pos])
        yield Prepared(
            time_s=seg["time_s"], x=x, hr_bpm=seg["hr_bpm"] if sc["has_hr"][i] else None,
            observed=seg["observed"], workout_id=sc["workout_id"][i], user_id=sc["user_id"][i],
            speed_mps=seg["speed_mps"],
            meta={"gender": sc["gender"][i], "runner_id": sc["runner_id"][i], "source": sc["source"][i]},
        )


def iter_prepared(shards: Iterable[str | os.PathLike], *, columns: Sequence[str] | None = None,
                  min_valid_steps: int = 0) -> Iterator[Prepared]:
    """Stream the workouts of ``shards`` as :class:`~sub3coach.features.Prepared`, in order.

    Args:
        shards: shard files (e.g. ``ds.shards("train")``, or this rank's slice of them).
        columns: feature names to keep, in this order (default: all, the dataset's order).
        min_valid_steps: skip workouts with fewer grid steps of valid HR (training uses
            :data:`sub3coach.hr.data.MIN_VALID_STEPS`); 0 keeps every workout.

    Raises:
        Sub3Error: unreadable shard, or ``columns`` names a feature the dataset lacks.
    """
    for shard in shards:
        p = Path(shard)
        try:
            names = _dataset_names(p)
            bad = [c for c in (columns or ()) if c not in names]
            if bad:
                raise Sub3Error(f"dataset lacks feature(s) {', '.join(bad)}", str(p))
            pf = pq.ParquetFile(p)
            for g in range(pf.metadata.num_row_groups):
                yield from decode_table(pf.read_row_group(g), names, columns, min_valid_steps)
        except (pa.ArrowException, OSError) as exc:
            raise Sub3Error(f"cannot read dataset shard ({exc})", str(p)) from exc


__all__ = ["FORMAT_VERSION", "SCHEMA", "SPLITS", "ShardDataset", "check_spec", "decode_table", "encode_rows",
           "iter_prepared", "open_dataset", "shard_schema", "spec_hash", "split_dir"]
