"""``sub3 data shard``: stream any corpus into a runner-partitioned Parquet dataset.

Inputs (any mix): Endomondo/FitRec JSON (``.json``/``.jsonl``, read in byte ranges of whole
lines), corpus Parquet files or folders of them (runs-dev and SUB3_V2 layouts, read row group
by row group), a sub3coach library (DuckDB), a folder of FIT/GPX/TCX recordings (a file in a
sub-folder ``DIR/<name>/...`` belongs to runner ``<name>``) or one recording.

Every workout goes through the one feature pipeline (:func:`sub3coach.hr.data.prepare_all`,
i.e. :func:`sub3coach.features.prepare`, with HR optional) and becomes one row (see
:mod:`sub3coach.data.dataset` for the layout). Its runner (user id, else ``anon:<workout>``)
is hashed with the seed into ``test`` (hash < test_frac), ``val`` (< test_frac + val_frac) or
``train``: the split is runner-disjoint and needs no pass over the whole corpus.

How it scales:

* **Units.** The inputs are cut into units (a Parquet row group; ``JSON_CHUNK_MB`` of JSON
  lines; 64 library runs; 16 recording files). Units are featurised in a process pool
  (``--workers``, default all cores) with at most ``2 x workers`` units in flight, and consumed
  in input order, so the output does not depend on timing.
* **Memory bound.** The writer buffers at most one shard (``--shard-mb``, uncompressed estimate)
  per split, so peak memory of the main process is about
  ``3 x shard_mb + 2 x workers x unit + one shard being written``, and each worker holds one
  unit; it does not grow with the corpus (measured flat in benchmarks/RESULTS.md). The manifest
  keeps runner ids (a few bytes per runner). Known exceptions: a gzipped JSON file is one unit
  (decompress it first); a Parquet row group is one unit (write corpora with bounded row
  groups, as :func:`sub3coach.io.corpus.write_corpus` does); and reading a Parquet input parses
  its whole footer, about 20 KB per row group (80 MB for one 7.9 GB file of 3,907 row groups,
  measured), so memory grows with the size of the largest *single* input Parquet file: give a
  giant corpus as a folder of files (as SUB3_V2 is published).
* **Shard cap.** A shard is closed before it would exceed ``--shard-mb`` (estimated from
  uncompressed sizes, so the zstd file is smaller); a single workout larger than the cap gets a
  shard of its own.
* **Resumable, idempotent.** Shards are written to ``*.tmp`` and renamed; after each unit
  that closed a shard, ``_progress.json`` records per split the next part number and the
  position (unit, row) of its last written row, plus the first unit whose rows are not all
  on disk. A re-run after a kill restarts there, drops rows already written, and produces the
  same files as an uninterrupted run. A re-run of a finished dataset with the same inputs
  (path, size, mtime) and options does nothing; other inputs into the same folder are refused.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import io
import json
import logging
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import sub3coach
from sub3coach.data.dataset import MANIFEST, ROW_GROUP_ROWS, SPLITS, encode_rows, shard_schema, spec_hash, split_dir
from sub3coach.errors import CorruptFile, Sub3Error
from sub3coach.features import FeatureSpec
from sub3coach.workout import Workout

log = logging.getLogger(__name__)

PROGRESS = "_progress.json"
#: Bytes of JSON lines per unit.
JSON_CHUNK_MB: float = 8.0
#: Library runs / recording files per unit.
LIBRARY_RUNS_PER_UNIT = 64
FILES_PER_UNIT = 16
#: Parquet bytes kept for the footer when checking the cap.
_FOOTER_BYTES = 64 * 1024
_RECORDING_EXT = (".fit", ".gpx", ".tcx", ".fit.gz", ".gpx.gz", ".tcx.gz")


@dataclass(frozen=True)
class ShardOptions:
    """What a dataset is made with (part of its identity: changing any refuses the old folder)."""

    shard_mb: float = 64.0
    val_frac: float = 0.15
    test_frac: float = 0.15
    seed: int = 0

    def check(self) -> None:
        if not self.shard_mb > 0:
            raise Sub3Error("--shard-mb must be positive")
        if self.val_frac < 0 or self.test_frac < 0 or self.val_frac + self.test_frac >= 1:
            raise Sub3Error("--val-frac and --test-frac must be >= 0 and sum to less than 1")


def default_spec() -> FeatureSpec:
    """The feature spec of the bundled HR model: DEFAULT_FEATURES on the 5-s grid (a test checks
    the bundled artifact still says so; torch is not imported here, to keep workers light)."""
    return FeatureSpec()


def split_of(runner: str, opts: ShardOptions) -> str:
    """``train``/``val``/``test`` for a runner: a seeded hash in [0, 1) against the fractions."""
    h = int(hashlib.sha256(f"{opts.seed}:{runner}".encode()).hexdigest()[:15], 16) / float(16 ** 15)
    if h < opts.test_frac:
        return "test"
    if h < opts.test_frac + opts.val_frac:
        return "val"
    return "train"


# ---------------------------------------------------------------------------------------------
# units: how the inputs are cut
# ---------------------------------------------------------------------------------------------
def _input_kind(p: Path) -> str:
    from sub3coach.hr.data import data_kind

    if p.is_dir():
        return "corpus" if any(p.glob("*.parquet")) else "files"
    kind = data_kind(p)
    return "files" if kind == "file" else kind


def _recordings(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.name.lower().endswith(_RECORDING_EXT))


def _json_units(p: Path, chunk: int) -> list[list[Any]]:
    if p.name.lower().endswith(".gz"):
        return [["endomondo", str(p), 0, -1]]
    size = p.stat().st_size
    cuts = [0]
    with open(p, "rb") as fh:
        while cuts[-1] + chunk < size:
            fh.seek(cuts[-1] + chunk)
            fh.readline()  # to the next line start
            pos = fh.tell()
            if pos >= size:
                break
            cuts.append(pos)
    cuts.append(size)
    return [["endomondo", str(p), a, b] for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def _library_ids(p: Path) -> list[str]:
    from sub3coach.library import Library

    lib = Library(p, read_only=True)
    try:
        return [r["id"] for r in lib.runs(sport="run") if not r["summary_only"]]
    finally:
        lib.close()


def plan_units(inputs: list[Path]) -> list[list[Any]]:
    """The units of work for ``inputs``, in a fixed order (JSON-serialisable lists).

    Raises:
        Sub3Error: a missing or unreadable input.
    """
    units: list[list[Any]] = []
    for p in inputs:
        if not p.exists():
            raise Sub3Error("no such file or folder", str(p))
        kind = _input_kind(p)
        if kind == "corpus":
            files = sorted(p.glob("*.parquet")) if p.is_dir() else [p]
            for f in files:
                try:
                    n = pq.ParquetFile(f).metadata.num_row_groups
                except (pa.ArrowException, OSError) as exc:
                    raise CorruptFile(str(f), f"not a readable Parquet file ({exc})") from exc
                units += [["corpus", str(f), g, n] for g in range(n)]
        elif kind == "endomondo":
            units += _json_units(p, int(JSON_CHUNK_MB * 2**20))
        elif kind == "library":
            n = len(_library_ids(p))
            units += [["library", str(p), a, min(a + LIBRARY_RUNS_PER_UNIT, n)] for a in range(0, n, LIBRARY_RUNS_PER_UNIT)]
        else:
            n = len(_recordings(p)) if p.is_dir() else 1
            units += [["files", str(p), a, min(a + FILES_PER_UNIT, n)] for a in range(0, n, FILES_PER_UNIT)]
    return units


def fingerprint(inputs: list[Path]) -> list[dict[str, Any]]:
    """Identity of the inputs: resolved path, size and mtime (a folder: of its files)."""
    out = []
    for p in inputs:
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        st = [f.stat() for f in files]
        out.append({"path": str(p.resolve()), "files": len(files), "bytes": sum(s.st_size for s in st),
                    "mtime_ns": max((s.st_mtime_ns for s in st), default=0)})
    return out


# ---------------------------------------------------------------------------------------------
# workers: read one unit, featurise it
# ---------------------------------------------------------------------------------------------
def _read_unit(unit: list[Any], skipped: dict[str, int]) -> Iterator[Workout]:
    kind, path, a, b = unit

    def skip(reason: str, n: int = 1) -> None:
        if n:
            skipped[reason] = skipped.get(reason, 0) + n

    if kind == "corpus":
        from sub3coach.io.corpus import iter_corpus

        yield from iter_corpus(path, shard=(a, b))
    elif kind == "endomondo":
        yield from _read_json_chunk(path, a, b, skip)
    elif kind == "library":
        from sub3coach.library import Library

        lib = Library(path, read_only=True)
        try:
            for rid in _library_ids(Path(path))[a:b]:
                w = lib.get_workout(rid)
                who = (w.metadata or {}).get("athlete")
                yield w.replace(user_id=who) if who and not w.user_id else w
        finally:
            lib.close()
    else:
        yield from _read_files(Path(path), a, b, skip)


def _read_json_chunk(path: str, a: int, b: int, skip: Callable[[str, int], None]) -> Iterator[Workout]:
    from sub3coach.io.endomondo import iter_endomondo

    if b < 0:
        reader = iter_endomondo(path, sport="run")
    else:
        with open(path, "rb") as fh:
            fh.seek(a)
            text = fh.read(b - a).decode("utf-8", errors="replace")
        reader = iter_endomondo(io.StringIO(text), sport="run", name=f"{path} (bytes {a}-{b})")
    try:
        yield from reader
    except CorruptFile:  # a chunk with no valid line: its lines are counted below
        if reader.n_lines == 0:
            return
    finally:
        skip("malformed line", reader.skipped)
        skip("not a run", reader.n_valid - reader.n_yielded)


def _read_files(root: Path, a: int, b: int, skip: Callable[[str, int], None]) -> Iterator[Workout]:
    from sub3coach.io.dispatch import read_file

    files = _recordings(root)[a:b] if root.is_dir() else [root]
    for f in files:
        try:
            ws = read_file(f)
        except Sub3Error as exc:
            log.warning("%s", exc)
            skip("unreadable file", 1)
            continue
        rel = f.relative_to(root).parts if root.is_dir() else ()
        who = rel[0] if len(rel) > 1 else None
        for k, w in enumerate(ws):
            wid = w.workout_id or f"{w.content_id()}" + (f"-{k}" if len(ws) > 1 else "")
            yield w.replace(workout_id=wid, user_id=w.user_id or who)


@dataclass
class UnitResult:
    """What a worker returns for one unit: per split a record batch + per-row byte sizes."""

    rows: dict[str, tuple[pa.RecordBatch, list[int]]]
    read: int
    skipped: dict[str, int]


def featurise_unit(unit: list[Any], spec_d: dict[str, Any], opts_d: dict[str, Any]) -> UnitResult:
    """Read and featurise one unit (runs in a worker process)."""
    from sub3coach.hr.data import prepare_all, runner_id

    spec = FeatureSpec.from_dict(spec_d)
    opts = ShardOptions(**opts_d)
    skipped: dict[str, int] = {}
    per: dict[str, tuple[list[Any], list[str], list[str | None]]] = {s: ([], [], []) for s in SPLITS}
    n = 0
    try:
        for w in _read_unit(unit, skipped):
            n += 1
            got = prepare_all([w], spec, need_hr=False)
            for reason, k in got.skipped.items():
                skipped[reason] = skipped.get(reason, 0) + k
            for p in got.items:
                p.meta["gender"] = w.gender
                who = runner_id(w.user_id, w.workout_id)
                items, runners, sources = per[split_of(who, opts)]
                items.append(p)
                runners.append(who)
                sources.append(w.source)
    except Sub3Error as exc:  # an unreadable unit (corrupt row group...): counted, not fatal
        log.warning("%s", exc)
        skipped["unreadable input part"] = skipped.get("unreadable input part", 0) + 1
    rows = {}
    for s, (items, runners, sources) in per.items():
        if items:
            sizes = [int(p.x.shape[0] * (p.x.shape[1] * 4 + 8 * 3 + 1) + 256) for p in items]
            rows[s] = (encode_rows(items, runners, sources), sizes)
    return UnitResult(rows=rows, read=n, skipped=skipped)


# ---------------------------------------------------------------------------------------------
# the writer: one buffer per split, journal, manifest
# ---------------------------------------------------------------------------------------------
def _atomic_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class _Buffer:
    batches: list[pa.RecordBatch] = field(default_factory=list)
    nbytes: int = 0
    first_unit: int | None = None
    last_pos: list[int] | None = None


class ShardWriter:
    """Buffers rows per split and writes capped shards; keeps the resume journal."""

    def __init__(self, out: Path, spec: FeatureSpec, opts: ShardOptions, state: dict[str, Any]) -> None:
        self.out = out
        self.opts = opts
        self.schema = shard_schema(spec, spec_hash(spec))
        self.cap = max(int(opts.shard_mb * 2**20) - _FOOTER_BYTES, 1)
        self.state = state
        self.buf = {s: _Buffer() for s in SPLITS}
        self.flushed = False

    def add(self, u: int, res: UnitResult) -> None:
        """Append unit ``u``'s rows (dropping those already on disk), closing full shards."""
        for s, (batch, sizes) in res.rows.items():
            done = self.state["written_upto"].get(s)
            for k, size in enumerate(sizes):
                if done is not None and [u, k] <= done:
                    continue
                b = self.buf[s]
                if b.batches and b.nbytes + size > self.cap:
                    self.flush(s)
                    b = self.buf[s]
                b.batches.append(batch.slice(k, 1))
                b.nbytes += size
                b.first_unit = u if b.first_unit is None else b.first_unit
                b.last_pos = [u, k]
        self.state["units"][str(u)] = {"read": res.read, "skipped": res.skipped}

    def flush(self, s: str) -> None:
        """Write split ``s``'s buffer as its next part (temp file, then rename)."""
        b = self.buf[s]
        if not b.batches:
            return
        part = self.state["next_part"].get(s, 0)
        d = split_dir(self.out, s)
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"part-{part:05d}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        table = pa.Table.from_batches(b.batches, schema=self.schema)
        try:
            pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, compression="zstd")
            os.replace(tmp, path)
        except OSError as exc:
            raise Sub3Error(f"cannot write shard ({exc.strerror or exc})", str(path)) from exc
        self.state["next_part"][s] = part + 1
        self.state["written_upto"][s] = b.last_pos
        self.buf[s] = _Buffer()
        self.flushed = True
        log.debug("wrote %s (%d rows)", path, table.num_rows)

    def checkpoint(self, next_unit: int) -> None:
        """Record progress when a shard was closed since the last checkpoint."""
        if not self.flushed:
            return
        firsts = [b.first_unit for b in self.buf.values() if b.first_unit is not None]
        self.state["resume_unit"] = min(firsts + [next_unit])
        _atomic_json(self.out / PROGRESS, self.state)
        self.flushed = False


def _iter_results(units: list[list[Any]], start: int, spec: FeatureSpec, opts: ShardOptions,
                  workers: int) -> Iterator[tuple[int, UnitResult]]:
    """(unit index, result) in unit order; a pool with a bounded number of units in flight."""
    args = (spec.to_dict(), opts.__dict__)
    if workers <= 1 or len(units) - start <= 1:
        for u in range(start, len(units)):
            yield u, featurise_unit(units[u], *args)
        return
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        pending: deque[tuple[int, cf.Future[UnitResult]]] = deque()
        nxt = start
        try:
            while nxt < len(units) or pending:
                while nxt < len(units) and len(pending) < 2 * workers:
                    pending.append((nxt, ex.submit(featurise_unit, units[nxt], *args)))
                    nxt += 1
                u, fut = pending.popleft()
                yield u, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()


def _new_state(fp: list[dict[str, Any]], opts: ShardOptions, digest: str, n_units: int) -> dict[str, Any]:
    return {"inputs": fp, "options": opts.__dict__, "feature_spec_hash": digest, "n_units": n_units,
            "status": "running", "resume_unit": 0, "next_part": {}, "written_upto": {}, "units": {}}


def _load_state(out: Path, fresh: dict[str, Any]) -> dict[str, Any]:
    """The journal to continue from (or ``fresh``); refuses a folder holding something else."""
    prog = out / PROGRESS
    if not prog.exists():
        if out.exists() and any(out.iterdir()):
            raise Sub3Error("output folder is not empty and holds no sub3 dataset; choose a new --out", str(out))
        return fresh
    try:
        state = json.loads(prog.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Sub3Error(f"unreadable progress journal ({exc}); remove the folder to start again", str(prog)) from exc
    for key, what in (("inputs", "inputs"), ("options", "options"), ("feature_spec_hash", "feature spec")):
        if state.get(key) != fresh[key]:
            raise Sub3Error(f"folder holds a dataset made with other {what}; choose a new --out (or remove it)", str(out))
    return state


def _clean_partial(out: Path, state: dict[str, Any]) -> None:
    """Remove temp files and parts written after the journal's last checkpoint."""
    for s in SPLITS:
        d = split_dir(out, s)
        if not d.exists():
            continue
        for f in d.glob("*.tmp"):
            f.unlink()
        nxt = state["next_part"].get(s, 0)
        for f in d.glob("part-*.parquet"):
            if int(f.stem.split("-")[1]) >= nxt:
                f.unlink()


def build_manifest(out: Path, spec: FeatureSpec, state: dict[str, Any]) -> dict[str, Any]:
    """Counts and splits, read back from the shards (runner id and length columns only)."""
    splits: dict[str, Any] = {}
    tot = {"workouts": 0, "samples": 0, "with_hr": 0}
    runners_all: set[str] = set()
    for s in SPLITS:
        runners: set[str] = set()
        shards = []
        n = steps = with_hr = 0
        for f in sorted(split_dir(out, s).glob("part-*.parquet")):
            t = pq.read_table(f, columns=["runner_id", "n_steps", "n_valid"])
            runners.update(t.column("runner_id").to_pylist())
            k = t.num_rows
            ns = int(np.asarray(t.column("n_steps")).sum())
            hv = int((np.asarray(t.column("n_valid")) > 0).sum())
            shards.append({"file": str(f.relative_to(out)), "workouts": k, "samples": ns, "bytes": f.stat().st_size})
            n, steps, with_hr = n + k, steps + ns, with_hr + hv
        splits[s] = {"workouts": n, "samples": steps, "with_hr": with_hr, "n_runners": len(runners),
                     "runners": sorted(runners), "shards": shards}
        tot["workouts"] += n
        tot["samples"] += steps
        tot["with_hr"] += with_hr
        runners_all |= runners
    skipped: dict[str, int] = {}
    read = 0
    for st in state["units"].values():
        read += st["read"]
        for r, k in st["skipped"].items():
            skipped[r] = skipped.get(r, 0) + k
    opts = state["options"]
    return {
        "format": "sub3coach-dataset", "sub3coach_version": sub3coach.__version__,
        "feature_spec": spec.to_dict(), "feature_spec_hash": state["feature_spec_hash"], "n_features": spec.n_features,
        "counts": {**tot, "runners": len(runners_all), "read": read, "skipped": dict(sorted(skipped.items()))},
        "split_rule": {"rule": "sha256(f'{seed}:{runner_id}') as a fraction in [0,1): < test_frac -> test, "
                               "< test_frac + val_frac -> val, else train",
                       "seed": opts["seed"], "val_frac": opts["val_frac"], "test_frac": opts["test_frac"]},
        "splits": splits, "inputs": state["inputs"], "shard_mb": opts["shard_mb"],
        "units": "hr_bpm: BPM; time_s: unix s; speed_mps: m/s; features: see feature_spec",
    }


def shard(inputs: list[str | os.PathLike], out: str | os.PathLike, *, opts: ShardOptions | None = None,
          spec: FeatureSpec | None = None, workers: int | None = None,
          on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write (or resume, or confirm) the dataset of ``inputs`` in ``out``; returns the manifest
    plus ``"done"``: ``"written"``, ``"resumed"`` or ``"up to date"``.

    Raises:
        Sub3Error: missing input, bad options, or ``out`` holding something else.
    """
    opts = opts or ShardOptions()
    opts.check()
    spec = spec or default_spec()
    paths = [Path(p) for p in inputs]
    if not paths:
        raise Sub3Error("no input given")
    for p in paths:
        if not p.exists():
            raise Sub3Error("no such file or folder", str(p))
    root = Path(out)
    units = plan_units(paths)
    fresh = _new_state(fingerprint(paths), opts, spec_hash(spec), len(units))
    state = _load_state(root, fresh)
    if state["status"] == "complete" and (root / MANIFEST).exists():
        return {**json.loads((root / MANIFEST).read_text(encoding="utf-8")), "done": "up to date"}
    resumed = state is not fresh
    root.mkdir(parents=True, exist_ok=True)
    _clean_partial(root, state)
    start = int(state["resume_unit"])
    writer = ShardWriter(root, spec, opts, state)
    nw = workers or os.cpu_count() or 1
    for u, res in _iter_results(units, start, spec, opts, nw):
        writer.add(u, res)
        writer.checkpoint(u + 1)
        if on_progress is not None:
            on_progress(u + 1, len(units))
    for s in SPLITS:
        writer.flush(s)
    writer.flushed = True
    writer.checkpoint(len(units))
    manifest = build_manifest(root, spec, state)
    _atomic_json(root / MANIFEST, manifest)
    state["status"] = "complete"
    _atomic_json(root / PROGRESS, state)
    return {**manifest, "done": "resumed" if resumed else "written", "resumed_from_unit": start}
