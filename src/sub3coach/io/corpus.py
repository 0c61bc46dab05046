"""Streaming reader and writer for corpus Parquet files (one row per workout).

Two layouts are read, and any mix of their optional columns is tolerated:

* **runs-dev layout** (``runs-dev.parquet``; this is what :func:`write_corpus` writes): scalar
  columns ``workout_id``, ``user_id``, ``sport``, ``start_time`` (timestamp UTC),
  ``distance_source``, ``source_format``, ``device``, ``source``, ``quality_flags``
  (list<string>) and sample-aligned list columns ``timestamp`` (unix s, float64),
  ``heart_rate`` (BPM), ``speed`` (**km/h**), ``altitude`` (m), ``distance`` (cumulative m).
* **SUB3_V2 layout** (the Endomondo-derived dataset the runs-dev layout extends): list columns
  ``timestamp``, ``heart_rate``, ``speed`` (km/h), ``altitude`` and scalar ``workout_id`` /
  ``user_id`` that may be integers, plus scalars such as ``workout_type``, ``duration_min``,
  ``data_points``, ``hr_mean``, ``split``... Raw FitRec-derived variants may also carry
  ``gender``, ``latitude``/``longitude`` and ``derived_speed`` (km/h). When ``workout_id`` is
  absent a stable id is derived from ``user_id`` and the first timestamp
  (:func:`derived_workout_id`). Scalar columns the reader does not know are kept in
  ``Workout.metadata`` under their own name.

Everything is streamed with :meth:`pyarrow.parquet.ParquetFile.iter_batches`, one batch of
``batch_size`` workouts at a time; the file is never loaded whole. A folder of ``*.parquet``
shards is read shard by shard in name order.

Channels come out in SI units (speed km/h -> m/s). A list column that is null or holds no finite
value for a workout becomes ``None`` on the :class:`~sub3coach.workout.Workout` (the recording
never had that channel).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sub3coach.errors import CorruptFile
from sub3coach.workout import Workout, normalise_sport

log = logging.getLogger(__name__)

#: km/h -> m/s
KMH_TO_MPS = 1.0 / 3.6

#: Corpus list column -> (Workout channel, factor applied when reading). ``derived_speed`` is
#: only used when ``speed`` is absent or empty for a workout.
LIST_COLUMNS: dict[str, tuple[str, float]] = {
    "heart_rate": ("hr_bpm", 1.0),
    "speed": ("speed_mps", KMH_TO_MPS),
    "derived_speed": ("speed_mps", KMH_TO_MPS),
    "altitude": ("altitude_m", 1.0),
    "distance": ("distance_m", 1.0),
    "latitude": ("lat_deg", 1.0),
    "longitude": ("lon_deg", 1.0),
    "cadence": ("cadence_spm", 1.0),
    "power": ("power_w", 1.0),
}
_CHANNEL_TO_COLUMNS: dict[str, list[str]] = {}
for _col, (_ch, _f) in LIST_COLUMNS.items():
    _CHANNEL_TO_COLUMNS.setdefault(_ch, []).append(_col)

#: Scalar columns consumed into Workout fields (everything else scalar goes to metadata).
_KNOWN_SCALARS = (
    "workout_id", "user_id", "gender", "sport", "start_time", "distance_source",
    "source_format", "device", "source", "quality_flags", "name",
)

#: The layout :func:`write_corpus` writes: the runs-dev columns, then the optional extras.
_BASE_FIELDS: list[pa.Field] = [
    pa.field("workout_id", pa.string()),
    pa.field("user_id", pa.string()),
    pa.field("sport", pa.string()),
    pa.field("start_time", pa.timestamp("ms", tz="UTC")),
    pa.field("timestamp", pa.list_(pa.float64())),
    pa.field("heart_rate", pa.list_(pa.float32())),
    pa.field("speed", pa.list_(pa.float32())),
    pa.field("altitude", pa.list_(pa.float32())),
    pa.field("distance", pa.list_(pa.float32())),
    pa.field("distance_source", pa.string()),
    pa.field("source_format", pa.string()),
    pa.field("device", pa.string()),
    pa.field("quality_flags", pa.list_(pa.string())),
    pa.field("source", pa.string()),
]
_EXTRA_FIELDS: list[pa.Field] = [
    pa.field("gender", pa.string()),
    pa.field("latitude", pa.list_(pa.float64())),
    pa.field("longitude", pa.list_(pa.float64())),
    pa.field("cadence", pa.list_(pa.float32())),
    pa.field("power", pa.list_(pa.float32())),
]


def corpus_schema(extras: bool = True) -> pa.Schema:
    """The Arrow schema :func:`write_corpus` writes (runs-dev layout, plus optional extras:
    ``gender``, ``latitude``/``longitude`` in degrees, ``cadence`` (spm), ``power`` (W))."""
    return pa.schema(_BASE_FIELDS + (_EXTRA_FIELDS if extras else []))


def derived_workout_id(user_id: str | None, first_time_s: float | None) -> str:
    """A stable 16-hex-digit id for a workout without one: sha256 of ``user_id`` and the first
    timestamp (unix s, rounded to the millisecond)."""
    t = "none" if first_time_s is None or not math.isfinite(first_time_s) else f"{first_time_s:.3f}"
    return hashlib.sha256(f"{user_id}|{t}".encode()).hexdigest()[:16]


def normalise_gender(value: Any) -> str | None:
    """``"male"``/``"female"`` from FitRec strings, ``M``/``F`` codes or SUB3_V2's 1/0 encoding;
    ``None`` when unknown."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "male" if value else "female"
    if isinstance(value, (int, float, np.integer, np.floating)):
        if not math.isfinite(float(value)):
            return None
        return {1: "male", 0: "female"}.get(int(value)) if float(value) in (0.0, 1.0) else None
    s = str(value).strip().lower()
    if s in ("m", "male", "man", "1"):
        return "male"
    if s in ("f", "female", "woman", "w", "0"):
        return "female"
    return None


# --------------------------------------------------------------------------- reading helpers
def _parquet_files(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        files = sorted(q for q in p.iterdir() if q.suffix == ".parquet" and q.is_file())
        if not files:
            raise CorruptFile(str(p), "folder holds no .parquet files")
        return files
    if not p.exists():
        raise CorruptFile(str(p), "no such file")
    return [p]


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise CorruptFile(str(path), f"not a readable Parquet file ({exc})") from exc


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _check_layout(pf: pq.ParquetFile, label: str) -> pa.Schema:
    schema = pf.schema_arrow
    if "timestamp" not in schema.names:
        raise CorruptFile(label, "not a corpus Parquet file: no 'timestamp' list column "
                          f"(columns: {', '.join(schema.names[:12])})")
    if not _is_list(schema.field("timestamp").type):
        raise CorruptFile(label, "corpus column 'timestamp' is not a list column")
    return schema


def _list_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets int64 [n+1], flat float64 values, null mask [n]) of a list array, offsets
    relative to the returned values."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_fixed_size_list(arr.type):
        arr = arr.cast(pa.list_(arr.type.value_type))
    nulls = arr.is_null().to_numpy(zero_copy_only=False)
    offsets = arr.offsets.to_numpy().astype(np.int64)
    start, stop = int(offsets[0]), int(offsets[-1])
    values = arr.values.slice(start, stop - start)
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        try:
            values = values.cast(pa.float64())
        except pa.ArrowInvalid:
            values = pa.array([None] * len(values), pa.float64())
    flat = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    return offsets - start, flat, nulls


def _scalar_lists(batch: pa.RecordBatch, names: list[str]) -> dict[str, list[Any]]:
    return {n: batch.column(batch.schema.get_field_index(n)).to_pylist() for n in names}


def _row_groups_for_users(pf: pq.ParquetFile, users: set[str]) -> list[int]:
    """Row groups whose ``user_id`` min/max statistics could contain one of ``users``."""
    md = pf.metadata
    try:
        col = pf.schema_arrow.get_field_index("user_id")
        is_string = pa.types.is_string(pf.schema_arrow.field("user_id").type)
    except KeyError:
        return list(range(md.num_row_groups))
    keep = []
    for i in range(md.num_row_groups):
        st = md.row_group(i).column(col).statistics if col >= 0 else None
        if st is None or not st.has_min_max or not is_string:
            keep.append(i)
            continue
        lo, hi = st.min, st.max
        if isinstance(lo, bytes):
            lo, hi = lo.decode("utf-8", "replace"), hi.decode("utf-8", "replace")
        if any(lo <= u <= hi for u in users):
            keep.append(i)
    return keep


def _resolve_columns(columns: Collection[str] | None, available: list[str]) -> list[str]:
    """List columns to decode: all known ones present, or those named in ``columns`` (corpus
    column names or Workout channel names)."""
    present = [c for c in LIST_COLUMNS if c in available]
    if columns is None:
        return present
    wanted: set[str] = set()
    for c in columns:
        if c in LIST_COLUMNS:
            wanted.add(c)
        elif c in _CHANNEL_TO_COLUMNS:
            wanted.update(_CHANNEL_TO_COLUMNS[c])
        elif c in ("timestamp", "time_s"):
            continue
        else:
            raise ValueError(f"unknown corpus column or channel {c!r}")
    return [c for c in present if c in wanted]


def _stringify(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def iter_corpus(
    path: str | os.PathLike,
    *,
    batch_size: int = 64,
    user_ids: Collection[str] | None = None,
    columns: Collection[str] | None = None,
    workout_ids: Collection[str] | None = None,
    shard: tuple[int, int] | None = None,
) -> Iterator[Workout]:
    """Stream the workouts of a corpus Parquet file (or a folder of shards).

    Args:
        path: a ``.parquet`` file in the runs-dev or SUB3_V2 layout, or a folder of them.
        batch_size: workouts decoded per Arrow batch (bounds memory).
        user_ids: keep only these runners (row groups are pruned with Parquet statistics).
        columns: list columns to decode, as corpus names (``heart_rate``, ``speed``...) or
            channel names (``hr_bpm``, ``speed_mps``...); ``timestamp`` is always read.
            ``None`` reads every known list column.
        workout_ids: keep only these workouts.
        shard: ``(k, n)`` reads only row groups ``k, k + n, k + 2n, ...`` of each file, so
            ``n`` processes can share one corpus.

    Yields:
        :class:`Workout` with ``source_format="corpus"``, ``time_s`` in unix s, speed in m/s,
        and ``metadata`` holding ``quality_flags``, ``distance_source``, ``original_format``
        plus any unknown scalar column.

    Raises:
        CorruptFile: missing file, not Parquet, or no ``timestamp`` list column.
    """
    users = None if user_ids is None else {str(u) for u in user_ids}
    wids = None if workout_ids is None else {str(w) for w in workout_ids}
    if shard is not None and not 0 <= shard[0] < shard[1]:
        raise ValueError(f"bad shard {shard!r}")
    for file in _parquet_files(path):
        yield from _iter_file(file, batch_size, users, columns, wids, shard)


def _iter_file(
    file: Path,
    batch_size: int,
    users: set[str] | None,
    columns: Collection[str] | None,
    wids: set[str] | None,
    shard: tuple[int, int] | None = None,
) -> Iterator[Workout]:
    label = str(file)
    pf = _open(file)
    schema = _check_layout(pf, label)
    names = schema.names
    list_cols = _resolve_columns(columns, names)
    scalar_cols = [n for n in names if n not in LIST_COLUMNS and n != "timestamp"
                   and (n == "quality_flags" or not _is_list(schema.field(n).type))]
    row_groups = list(range(pf.metadata.num_row_groups))
    if users is not None:
        row_groups = _row_groups_for_users(pf, users)
        if not row_groups:
            return
    if shard is not None:
        row_groups = [g for g in row_groups if g % shard[1] == shard[0]]
        if not row_groups:
            return
    read_cols = ["timestamp"] + list_cols + scalar_cols
    n_skipped = 0
    try:
        batches = pf.iter_batches(batch_size=max(1, int(batch_size)), row_groups=row_groups,
                                  columns=read_cols, use_threads=True)
        for batch in batches:
            if users is not None and "user_id" in names:
                uid = batch.column(batch.schema.get_field_index("user_id"))
                mask = pc.is_in(pc.cast(uid, pa.string()), value_set=pa.array(sorted(users)))
                mask = pc.fill_null(mask, False)
                batch = batch.filter(mask)
            if wids is not None and "workout_id" in names:
                wid = batch.column(batch.schema.get_field_index("workout_id"))
                mask = pc.fill_null(pc.is_in(pc.cast(wid, pa.string()), value_set=pa.array(sorted(wids))), False)
                batch = batch.filter(mask)
            if batch.num_rows == 0:
                continue
            for w in _decode_batch(batch, list_cols, scalar_cols, label):
                if w is None:
                    n_skipped += 1
                    continue
                if wids is not None and w.workout_id not in wids:
                    continue
                yield w
    except (pa.ArrowException, OSError) as exc:
        raise CorruptFile(label, f"cannot decode Parquet data ({exc})") from exc
    if n_skipped:
        log.warning("%s: skipped %d corrupt corpus rows", label, n_skipped)


def _decode_batch(batch: pa.RecordBatch, list_cols: list[str], scalar_cols: list[str],
                  label: str) -> Iterator[Workout | None]:
    n = batch.num_rows
    t_off, t_flat, t_null = _list_parts(batch.column(batch.schema.get_field_index("timestamp")))
    lists = {c: _list_parts(batch.column(batch.schema.get_field_index(c))) for c in list_cols}
    scal = _scalar_lists(batch, scalar_cols)
    extra_scalar = [c for c in scalar_cols if c not in _KNOWN_SCALARS]
    for i in range(n):
        row = {c: scal[c][i] for c in scalar_cols}
        user_id = _stringify(row.get("user_id"))
        if t_null[i]:
            log.warning("%s: row %s (workout %s) has no timestamps; skipped", label, i, row.get("workout_id"))
            yield None
            continue
        a, b = int(t_off[i]), int(t_off[i + 1])
        time_s = t_flat[a:b].copy()
        kw: dict[str, np.ndarray | None] = {}
        bad = False
        for c in list_cols:
            off, flat, nulls = lists[c]
            ch, factor = LIST_COLUMNS[c]
            if nulls[i]:
                continue
            lo, hi = int(off[i]), int(off[i + 1])
            if hi - lo == 0 and b - a != 0:
                continue  # an empty list means "no such channel"
            if hi - lo != b - a:
                log.warning("%s: workout %s column %r has %d samples, timestamp has %d; skipped",
                            label, row.get("workout_id"), c, hi - lo, b - a)
                bad = True
                break
            v = flat[lo:hi]
            if not np.isfinite(v).any():
                continue
            v = v * factor if factor != 1.0 else v.copy()
            if kw.get(ch) is None:  # speed wins over derived_speed (speed comes first)
                kw[ch] = v
        if bad:
            yield None
            continue
        first = float(time_s[0]) if time_s.size else None
        wid = _stringify(row.get("workout_id")) or derived_workout_id(user_id, first)
        flags = row.get("quality_flags")
        if flags is not None and not isinstance(flags, list):
            flags = [str(flags)]
        meta: dict[str, Any] = {
            "quality_flags": list(flags) if flags else [],
            "distance_source": row.get("distance_source"),
            "original_format": row.get("source_format"),
        }
        if "speed_mps" in kw and "speed" in list_cols and "derived_speed" in list_cols:
            off, _flat, nulls = lists["speed"]
            meta["speed_column"] = "speed" if not nulls[i] and np.isfinite(_flat[int(off[i]):int(off[i + 1])]).any() else "derived_speed"
        for c in extra_scalar:
            v = row[c]
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            meta[c] = v
        try:
            yield Workout(
                time_s=time_s,
                sport=normalise_sport(row.get("sport")) if row.get("sport") is not None else "unknown",
                name=row.get("name"),
                source=row.get("source") or label,
                source_format="corpus",
                device=row.get("device") or None,
                workout_id=wid,
                user_id=user_id,
                gender=normalise_gender(row.get("gender")),
                metadata=meta,
                **kw,
            )
        except ValueError as exc:  # defensive: inconsistent lengths
            log.warning("%s: workout %s unreadable (%s); skipped", label, wid, exc)
            yield None


def corpus_index(path: str | os.PathLike) -> "Any":
    """One row per workout, reading only the scalar columns and the ``timestamp`` list.

    Returns:
        pandas DataFrame with columns ``workout_id``, ``user_id``, ``gender``, ``sport``,
        ``start_time`` (UTC, tz-aware), ``end_time``, ``duration_s``, ``n_samples``,
        ``original_format``, ``distance_source``, ``device``, ``source``, ``quality_flags``,
        ``file``, ``row_group``, ``row`` (position in the file), in file order.
    """
    import pandas as pd

    frames = []
    for file in _parquet_files(path):
        pf = _open(file)
        schema = _check_layout(pf, str(file))
        names = schema.names
        want = [c for c in ("workout_id", "user_id", "gender", "sport", "source_format",
                            "distance_source", "device", "source", "quality_flags") if c in names]
        row0 = 0
        for rg in range(pf.metadata.num_row_groups):
            try:
                t = pf.read_row_group(rg, columns=want + ["timestamp"])
            except (pa.ArrowException, OSError) as exc:
                raise CorruptFile(str(file), f"cannot decode Parquet data ({exc})") from exc
            ts = t.column("timestamp").combine_chunks()
            if pa.types.is_fixed_size_list(ts.type):
                ts = ts.cast(pa.list_(ts.type.value_type))
            n_samples = pc.fill_null(pc.list_value_length(ts), 0).to_numpy(zero_copy_only=False).astype(np.int64)
            off = ts.offsets.to_numpy().astype(np.int64)
            off = off - off[0]
            flat = np.asarray(ts.values.slice(int(ts.offsets[0].as_py()), int(off[-1])).to_numpy(zero_copy_only=False),
                              dtype=np.float64)
            has = n_samples > 0
            first_np = np.full(n_samples.size, np.nan)
            last_np = np.full(n_samples.size, np.nan)
            first_np[has] = flat[off[:-1][has]]
            last_np[has] = flat[off[:-1][has] + n_samples[has] - 1]
            cols = {c: t.column(c).to_pylist() for c in want}
            nrow = t.num_rows
            uid = [_stringify(u) for u in cols.get("user_id", [None] * nrow)]
            if "workout_id" in cols:
                wid = [_stringify(w) or derived_workout_id(u, f) for w, u, f in zip(cols["workout_id"], uid, first_np)]
            else:
                wid = [derived_workout_id(u, f) for u, f in zip(uid, first_np)]
            frames.append(pd.DataFrame({
                "workout_id": wid,
                "user_id": uid,
                "gender": [normalise_gender(g) for g in cols.get("gender", [None] * nrow)],
                "sport": [normalise_sport(s) if s is not None else "unknown" for s in cols.get("sport", [None] * nrow)],
                "start_time": pd.to_datetime(first_np, unit="s", utc=True),
                "end_time": pd.to_datetime(last_np, unit="s", utc=True),
                "duration_s": last_np - first_np,
                "n_samples": n_samples.astype(np.int64),
                "original_format": cols.get("source_format", [None] * nrow),
                "distance_source": cols.get("distance_source", [None] * nrow),
                "device": cols.get("device", [None] * nrow),
                "source": [s or str(file) for s in cols.get("source", [None] * nrow)],
                "quality_flags": [list(q) if q else [] for q in cols.get("quality_flags", [None] * nrow)],
                "file": str(file),
                "row_group": rg,
                "row": np.arange(row0, row0 + nrow),
            }))
            row0 += nrow
    if not frames:
        return pd.DataFrame(columns=["workout_id", "user_id", "gender", "sport", "start_time", "end_time",
                                     "duration_s", "n_samples", "original_format", "distance_source",
                                     "device", "source", "quality_flags", "file", "row_group", "row"])
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- writing
def _list_array(values: list[np.ndarray | None], typ: pa.DataType) -> pa.Array:
    """A list array from per-row numpy arrays (None -> null list), without Python loops over
    samples."""
    lengths = np.array([0 if v is None else v.size for v in values], dtype=np.int64)
    offsets = np.zeros(len(values) + 1, dtype=np.int32 if lengths.sum() < 2**31 else np.int64)
    np.cumsum(lengths, out=offsets[1:])
    present = [v for v in values if v is not None]
    flat = np.concatenate(present) if present else np.zeros(0)
    vt = typ.value_type
    child = pa.array(flat.astype(vt.to_pandas_dtype()), type=vt)
    mask = pa.array(np.array([v is None for v in values]))
    off = pa.array(offsets)
    if off.type == pa.int64():
        return pa.LargeListArray.from_arrays(off, child, mask=mask).cast(typ)
    return pa.ListArray.from_arrays(off, child, mask=mask)


def _workouts_to_batch(ws: list[Workout], schema: pa.Schema) -> pa.RecordBatch:
    def chan(w: Workout, ch: str, factor: float = 1.0) -> np.ndarray | None:
        v = getattr(w, ch)
        if v is None:
            return None
        return v * factor if factor != 1.0 else v

    cols: dict[str, pa.Array] = {}
    starts = []
    for w in ws:
        starts.append(int(round(float(w.time_s[0]) * 1000)) if len(w) else None)
    cols["workout_id"] = pa.array([w.workout_id or w.content_id() for w in ws], pa.string())
    cols["user_id"] = pa.array([w.user_id for w in ws], pa.string())
    cols["sport"] = pa.array([w.sport for w in ws], pa.string())
    cols["start_time"] = pa.array(starts, pa.timestamp("ms", tz="UTC"))
    cols["timestamp"] = _list_array([w.time_s for w in ws], pa.list_(pa.float64()))
    cols["heart_rate"] = _list_array([chan(w, "hr_bpm") for w in ws], pa.list_(pa.float32()))
    cols["speed"] = _list_array([chan(w, "speed_mps", 3.6) for w in ws], pa.list_(pa.float32()))
    cols["altitude"] = _list_array([chan(w, "altitude_m") for w in ws], pa.list_(pa.float32()))
    cols["distance"] = _list_array([chan(w, "distance_m") for w in ws], pa.list_(pa.float32()))

    def dsrc(w: Workout) -> str:
        if w.metadata.get("distance_source"):
            return str(w.metadata["distance_source"])
        if w.has("distance_m"):
            return "device"
        if w.has("lat_deg"):
            return "gps"
        return "none"

    def orig(w: Workout) -> str | None:
        if w.source_format and w.source_format != "corpus":
            return w.source_format
        v = w.metadata.get("original_format")
        return None if v is None else str(v)

    cols["distance_source"] = pa.array([dsrc(w) for w in ws], pa.string())
    cols["source_format"] = pa.array([orig(w) for w in ws], pa.string())
    cols["device"] = pa.array([w.device for w in ws], pa.string())
    cols["quality_flags"] = pa.array([[str(f) for f in (w.metadata.get("quality_flags") or [])] for w in ws],
                                     pa.list_(pa.string()))
    cols["source"] = pa.array([w.source for w in ws], pa.string())
    if "gender" in schema.names:
        cols["gender"] = pa.array([w.gender for w in ws], pa.string())
        cols["latitude"] = _list_array([chan(w, "lat_deg") for w in ws], pa.list_(pa.float64()))
        cols["longitude"] = _list_array([chan(w, "lon_deg") for w in ws], pa.list_(pa.float64()))
        cols["cadence"] = _list_array([chan(w, "cadence_spm") for w in ws], pa.list_(pa.float32()))
        cols["power"] = _list_array([chan(w, "power_w") for w in ws], pa.list_(pa.float32()))
    return pa.RecordBatch.from_arrays([cols[f.name] for f in schema], schema=schema)


def write_corpus(
    workouts: Iterable[Workout],
    path: str | os.PathLike,
    *,
    row_group_size: int = 64,
    extras: bool = True,
    compression: str = "zstd",
) -> int:
    """Write workouts to a corpus Parquet file in the runs-dev layout, streaming.

    Speed is written in km/h and channels as float32 (timestamps float64, lat/lon float64), as
    in ``runs-dev.parquet``; a missing channel is written as a null list. ``workout_id`` falls
    back to :meth:`Workout.content_id`; ``source_format`` holds the workout's original format
    and ``quality_flags``/``distance_source`` come from ``metadata`` when present.

    Args:
        workouts: any iterable (consumed once, ``row_group_size`` at a time).
        path: output file (overwritten; written to a temporary name then renamed).
        row_group_size: workouts per row group.
        extras: also write ``gender``, ``latitude``, ``longitude``, ``cadence``, ``power``.
        compression: Parquet codec.

    Returns:
        The number of workouts written.
    """
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    schema = corpus_schema(extras)
    n = 0
    buf: list[Workout] = []
    try:
        with pq.ParquetWriter(tmp, schema, compression=compression) as writer:
            for w in workouts:
                buf.append(w)
                if len(buf) >= row_group_size:
                    writer.write_batch(_workouts_to_batch(buf, schema), row_group_size=row_group_size)
                    n += len(buf)
                    buf = []
            if buf:
                writer.write_batch(_workouts_to_batch(buf, schema), row_group_size=row_group_size)
                n += len(buf)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


def corpus_row_groups(path: str | os.PathLike) -> int:
    """Largest number of row groups of any file of the corpus (to size ``shard`` counts)."""
    return max((_open(f).metadata.num_row_groups for f in _parquet_files(path)), default=0)
