"""The local workout library: one embedded DuckDB file.

Tables:

* ``runs``: one row per workout (or per summary-only history run) with its summary;
* ``samples``: one row per workout holding its cleaned sample columns as lists (SI units);
* ``files``: the SHA-256 of every imported file, so a re-import is recognised without parsing;
* ``athletes``: what each runner states about themselves (max/resting HR, birth year, gender).

Every run belongs to one athlete (``runs.athlete``): the name given to ``sub3 import --athlete``,
else the source's runner id (a corpus of many runners gives many athletes), else the library's
only athlete, else :data:`DEFAULT_ATHLETE`.

One writer, many readers (:mod:`sub3coach.locking`): DuckDB lets one process hold the file read-write, or several hold it
read-only. A long import therefore opens the file only for each short batch transaction
(``keep_open=False``), and every open waits for a lock held by another process, with one
"library busy, retrying" message, up to :data:`BUSY_TIMEOUT_S` (env ``SUB3_BUSY_TIMEOUT``).

Every workout is written in one transaction (run row + samples row together), so a crash
or Ctrl-C never leaves a half-written workout. The file lives in the user's data dir
(platformdirs) unless ``--library FILE`` or ``SUB3_LIBRARY`` says otherwise.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from sub3coach._library_batch import _list_array, _Prefetch
from sub3coach.errors import AthleteNotNamed, Sub3Error
from sub3coach.locking import BUSY_TIMEOUT_S, LibraryBusy, connect, hand_over  # noqa: F401 (re-exported)
from sub3coach.workout import CHANNELS, RunSummary, Workout

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # v2: runs.athlete and the athletes table

#: The athlete of runs imported without ``--athlete`` and without a runner id in the source.
DEFAULT_ATHLETE = "me"


#: Workouts must lie within 1980-01-01 .. 2100-01-01 (unix s).
VALID_TIME_S = (315_532_800.0, 4_102_444_800.0)

#: Two workouts of compatible sport starting within this many seconds, whose durations agree
#: within :data:`DUP_DURATION_TOL`, are the same run (e.g. the FIT and the GPX of one run).
DUP_START_TOL_S = 120.0
DUP_DURATION_TOL = 0.10

_STR_COLUMNS = frozenset(
    {"id", "sport", "name", "source", "source_format", "device", "user_id", "gender", "file_sha256", "metadata", "athlete"}
)

RUN_COLUMNS: tuple[str, ...] = (
    "id", "sport", "start_time", "distance_m", "duration_s", "moving_time_s", "elevation_gain_m",
    "avg_hr_bpm", "max_hr_bpm", "avg_pace_s_per_km", "name", "source", "source_format", "device",
    "user_id", "gender", "summary_only", "device_distance_m", "device_timer_s", "n_samples",
    "file_sha256", "metadata", "imported_at", "athlete",
)

_DDL = f"""
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    id VARCHAR PRIMARY KEY,
    sport VARCHAR NOT NULL,
    start_time TIMESTAMPTZ NOT NULL,
    distance_m DOUBLE, duration_s DOUBLE, moving_time_s DOUBLE, elevation_gain_m DOUBLE,
    avg_hr_bpm DOUBLE, max_hr_bpm DOUBLE, avg_pace_s_per_km DOUBLE,
    name VARCHAR, source VARCHAR, source_format VARCHAR, device VARCHAR,
    user_id VARCHAR, gender VARCHAR, summary_only BOOLEAN NOT NULL,
    device_distance_m DOUBLE, device_timer_s DOUBLE, n_samples INTEGER,
    file_sha256 VARCHAR, metadata VARCHAR, imported_at TIMESTAMPTZ, athlete VARCHAR
);
CREATE TABLE IF NOT EXISTS samples (
    run_id VARCHAR PRIMARY KEY,
    time_s DOUBLE[] NOT NULL,
    {", ".join(f"{c} DOUBLE[]" for c in CHANNELS)}
);
CREATE TABLE IF NOT EXISTS files (
    sha256 VARCHAR PRIMARY KEY, path VARCHAR, n_workouts INTEGER, imported_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS athletes (
    name VARCHAR PRIMARY KEY, max_hr_bpm DOUBLE, resting_hr_bpm DOUBLE, birth_year INTEGER,
    gender VARCHAR, updated_at TIMESTAMPTZ
);
"""


def default_library_path() -> Path:
    """``$SUB3_LIBRARY`` if set, else ``<user data dir>/sub3coach/library.duckdb``."""
    env = os.environ.get("SUB3_LIBRARY")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("sub3coach", appauthor=False)) / "library.duckdb"


def file_sha256(data: bytes) -> str:
    """Hex SHA-256 of file content (used to recognise re-imported files)."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class AddResult:
    """Outcome of adding one workout: ``"imported"``, ``"duplicate"`` or ``"replaced"``
    (a summary-only history run upgraded to a full workout), and the stored id."""

    status: str
    run_id: str


F = TypeVar("F", bound=Callable[..., Any])


def _is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is DuckDB's form of a Ctrl-C (``Query interrupted``)."""
    import duckdb

    return isinstance(exc, duckdb.InterruptException) or (
        isinstance(exc, (RuntimeError, duckdb.Error)) and "interrupted" in str(exc).lower())


def _interruptible(fn: F) -> F:
    """DuckDB turns Ctrl-C during a query into ``RuntimeError('Query interrupted')`` or an
    ``InterruptException``; re-raise those as :class:`KeyboardInterrupt` (after the
    transaction was rolled back) so callers handle one kind of interruption."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import duckdb

        try:
            return fn(*args, **kwargs)
        except (RuntimeError, duckdb.Error) as exc:
            if _is_interrupt(exc):
                raise KeyboardInterrupt from exc
            raise

    return wrapper  # type: ignore[return-value]


def _compatible(a: str, b: str) -> bool:
    return a == b or "unknown" in (a, b)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, datetime):
        return o.isoformat()
    return str(o)


def _iso(epoch_s: float) -> str:
    """ISO 8601 UTC with a trailing Z, to the second."""
    return datetime.fromtimestamp(round(float(epoch_s)), tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _clean_float(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


class Library:
    """A DuckDB-backed store of workouts and run summaries.

    Args:
        path: database file (created with its folder when missing); ``None`` for the default.
        read_only: open without write access (several readers may share the file).
        keep_open: hold the file from open to :meth:`close` (the default). ``False`` (for long
            imports) opens it only while a :meth:`batch` runs, so other processes can read in
            between; reads outside a batch reopen it until :meth:`release`.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False, keep_open: bool = True) -> None:
        self.path = Path(path) if path is not None else default_library_path()
        self.read_only = read_only
        self.keep_open = keep_open
        #: athlete of every run added from now on (``sub3 import --athlete``); None: see module doc
        self.import_athlete: str | None = None
        #: athletes of the runs this object added (committed or not)
        self.athletes_added: set[str] = set()
        self._fallback_athlete: str | None = None
        self._in_batch = False
        self._con: Any = None
        self._has_athlete_col = True
        self._known: dict[str, int] | None = None  # file hashes, cached when not keep_open
        self._known_pending: dict[str, int] = {}
        self._pf: _Prefetch | None = None  # duplicate-check answers for the current batch
        # rows written inside a batch are buffered and inserted in bulk at commit
        # (DuckDB's per-statement cost dominates single-row inserts)
        self._buf_runs: list[list[Any]] = []
        self._buf_samples: list[tuple[str, Workout]] = []
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise Sub3Error(f"cannot create the library folder: {exc.strerror or exc}", str(self.path)) from exc
        elif not self.path.exists():
            raise Sub3Error("library does not exist yet (import something first)", str(self.path))
        elif self.path.is_dir():
            raise Sub3Error("is a folder, not a library file", str(self.path))
        self._open()
        if not keep_open:
            self.release()

    # ----- connection --------------------------------------------------------------------
    @property
    def con(self) -> Any:
        """The DuckDB connection (reopened on demand after :meth:`release`)."""
        if self._con is None:
            self._open()
        return self._con

    @_interruptible
    def _open(self) -> None:
        con = connect(self.path, read_only=self.read_only)
        try:
            self._check_schema(con)
        except BaseException:
            con.close()
            raise
        self._con = con

    def _check_schema(self, con: Any) -> None:
        """Create (or migrate) the tables of a writable library; refuse foreign or newer files."""
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        if tables and not {"meta", "runs"} <= tables:
            raise Sub3Error("not a sub3 library (a DuckDB file without sub3's tables)", str(self.path))
        if not tables and self.read_only:
            raise Sub3Error("not a sub3 library (an empty DuckDB file)", str(self.path))
        ver = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() if tables else []
        version = int(ver[0][0]) if ver else SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise Sub3Error(
                f"library schema v{version} is newer than this sub3coach understands (v{SCHEMA_VERSION}); upgrade sub3coach",
                str(self.path),
            )
        cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'runs'").fetchall()}
        self._has_athlete_col = not cols or "athlete" in cols
        if self.read_only:
            return
        con.execute(_DDL)
        if not self._has_athlete_col:  # v1 -> v2, in place
            con.execute("ALTER TABLE runs ADD COLUMN athlete VARCHAR")
            con.execute("UPDATE runs SET athlete = coalesce(user_id, ?)", [DEFAULT_ATHLETE])
            self._has_athlete_col = True
            log.info("library %s migrated to schema v%d (athletes)", self.path, SCHEMA_VERSION)
        con.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                    [str(SCHEMA_VERSION)])

    @property
    def _ath(self) -> str:
        """SQL for a run's athlete (a v1 file opened read-only has no ``athlete`` column)."""
        return "athlete" if self._has_athlete_col else f"coalesce(user_id, '{DEFAULT_ATHLETE}')"

    def release(self) -> None:
        """Close the connection so other processes can open the file; any later call reopens it.

        With ``keep_open=False`` (a long import), a process waiting to open the file is let in
        first (:func:`~sub3coach.locking.hand_over`)."""
        if self._con is None or self._in_batch:
            return
        self._con.close()
        self._con = None
        if not self.keep_open:
            hand_over(self.path)

    # ----- transactions ------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group several writes into one transaction (much faster than one per workout).

        Still atomic per workout: the batch commits whole or not at all (on any exception,
        Ctrl-C included, it is rolled back and the exception propagates)."""
        if self._in_batch:
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_batch = True
        try:
            yield
            self._flush_buffers()
        except BaseException as exc:
            self._in_batch = False
            self._pf = None
            self._buf_runs, self._buf_samples, self._known_pending = [], [], {}
            try:
                self.con.execute("ROLLBACK")
            except Exception:  # already rolled back by DuckDB after an interrupt
                log.debug("rollback after error failed", exc_info=True)
            if not self.keep_open:
                self.release()
            if _is_interrupt(exc):
                raise KeyboardInterrupt from exc
            raise
        else:
            self._in_batch = False
            self._pf = None
            try:
                self.con.execute("COMMIT")
            except BaseException as exc:  # nothing committed: the batch is gone whole
                self._buf_runs, self._buf_samples, self._known_pending = [], [], {}
                if not self.keep_open:
                    self.release()
                if _is_interrupt(exc):
                    raise KeyboardInterrupt from exc
                raise
            if self._known is not None:
                self._known.update(self._known_pending)
            self._known_pending = {}
            if not self.keep_open:
                self.release()

    def _flush_buffers(self) -> None:
        """Insert the buffered run rows and samples with one statement each."""
        import pyarrow as pa

        if self._buf_runs:
            cols = list(zip(*self._buf_runs))
            types = {"start_time": pa.timestamp("us", tz="UTC"), "imported_at": pa.timestamp("us", tz="UTC"),
                     "summary_only": pa.bool_(), "n_samples": pa.int32()}
            arrays = {}
            for name, col in zip(RUN_COLUMNS, cols):
                t = types.get(name)
                if t is None:
                    t = pa.string() if name in _STR_COLUMNS else pa.float64()
                arrays[name] = pa.array(list(col), type=t)
            self.con.register("_sub3_runs_in", pa.table(arrays))
            try:
                self.con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) SELECT * FROM _sub3_runs_in")
            finally:
                self.con.unregister("_sub3_runs_in")
            self._buf_runs = []
        if self._buf_samples:
            cols2: dict[str, Any] = {
                "run_id": pa.array([rid for rid, _ in self._buf_samples]),
                "time_s": _list_array([w.time_s for _, w in self._buf_samples], nan_is_null=False),
            }
            for c in CHANNELS:
                cols2[c] = _list_array([getattr(w, c) for _, w in self._buf_samples])
            self.con.register("_sub3_samples_in", pa.table(cols2))
            try:
                self.con.execute("INSERT INTO samples SELECT * FROM _sub3_samples_in")
            finally:
                self.con.unregister("_sub3_samples_in")
            self._buf_samples = []

    def _one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        """First row of a query, reading the result to its end (DuckDB refuses new work on a
        connection whose last result is unfinished)."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def _exists(self, run_id: str) -> bool:
        if any(r[0] == run_id for r in self._buf_runs):
            return True
        if self._pf is not None and run_id in self._pf.ids_checked:
            return run_id in self._pf.ids_found
        return self._one("SELECT 1 FROM runs WHERE id = ?", [run_id]) is not None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self.batch():
            yield

    # ----- context management ------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- files -------------------------------------------------------------------------
    def known_file(self, sha256: str) -> int | None:
        """Number of workouts a previously imported file gave, or ``None`` if never imported.

        With ``keep_open=False`` the hashes are read once (so the file is not held open
        between batches) and kept up to date by :meth:`record_file`."""
        if self.keep_open:
            row = self._one("SELECT n_workouts FROM files WHERE sha256 = ?", [sha256])
            return None if row is None else int(row[0])
        if self._known is None:
            self._known = {str(h): int(n) for h, n in self.con.execute("SELECT sha256, n_workouts FROM files").fetchall()}
            self.release()
        return self._known.get(sha256)

    @_interruptible
    def record_file(self, sha256: str, path: str, n_workouts: int) -> None:
        """Remember that a file was imported (after all its workouts were stored)."""
        self.con.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [sha256, path, n_workouts, datetime.now(timezone.utc)],
        )
        self._known_pending[sha256] = n_workouts
        if not self._in_batch and self._known is not None:
            self._known.update(self._known_pending)
            self._known_pending = {}

    # ----- writing -----------------------------------------------------------------------
    @_interruptible
    def prefetch(self, keys: list[tuple[str, float]]) -> None:
        """Answer the duplicate checks of a coming batch with one query instead of two or three
        per workout.

        ``keys`` are ``(run id, start in unix seconds)`` of the workouts about to be added. One
        query reads which ids exist and every stored run starting within
        :data:`DUP_START_TOL_S` of, or on the same UTC day as, one of the starts; until the
        current :meth:`batch` ends, :meth:`add_workout`'s checks that fall inside those windows
        are answered from memory (others still query). Call it inside :meth:`batch`."""
        if not self._in_batch or not keys:
            return
        import pyarrow as pa

        ids = [k for k, _ in keys]
        lo, hi = [], []
        for _, t in keys:
            day = float(t) // 86_400.0 * 86_400.0
            lo.append(min(float(t) - DUP_START_TOL_S, day))
            hi.append(max(float(t) + DUP_START_TOL_S, day + 86_400.0))
        q = pa.table({"id": pa.array(ids, pa.string()), "lo": pa.array(lo, pa.float64()), "hi": pa.array(hi, pa.float64())})
        ath = "r.athlete" if self._has_athlete_col else f"coalesce(r.user_id, '{DEFAULT_ATHLETE}')"
        cols = f"r.id, r.sport, r.duration_s, r.distance_m, r.summary_only, r.user_id, r.metadata, {ath}, epoch(r.start_time)"
        self.con.register("_sub3_keys", q)
        try:
            rows = self.con.execute(
                f"SELECT {cols} FROM runs r JOIN _sub3_keys k ON r.start_time BETWEEN to_timestamp(k.lo) AND to_timestamp(k.hi)"
                f" UNION SELECT {cols} FROM runs r JOIN _sub3_keys k ON r.id = k.id").fetchall()
        finally:
            self.con.unregister("_sub3_keys")
        id_set = set(ids)
        self._pf = _Prefetch(ids_checked=id_set, ids_found={str(r[0]) for r in rows} & id_set,
                             covered=list(zip(lo, hi)), rows=rows)

    def find_duplicate(
        self,
        sport: str,
        start: datetime,
        duration_s: float | None,
        distance_m: float | None = None,
        *,
        user_id: str | None = None,
        date_only: bool = False,
        date_only_rows: bool = False,
        athlete: str | None = None,
    ) -> tuple[str, bool] | None:
        """An existing run that is the same activity: ``(id, summary_only)`` or ``None``.

        Same activity = compatible sport, start within :data:`DUP_START_TOL_S` (or the same
        UTC day when ``date_only``), the same athlete (when given), and, where both are known,
        the same runner id, duration
        within :data:`DUP_DURATION_TOL` and distance within 5 %. ``date_only_rows`` restricts
        the search to summary-only rows from histories that know only the day."""
        if date_only:
            day = start.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
            lo, hi = day, day + timedelta(days=1)
        else:
            lo, hi = start - timedelta(seconds=DUP_START_TOL_S), start + timedelta(seconds=DUP_START_TOL_S)
        pf = self._pf
        lo_s, hi_s = lo.timestamp(), hi.timestamp()
        if pf is not None and any(a <= lo_s and hi_s <= b for a, b in pf.covered):
            rows = [r[:8] for r in pf.rows if lo_s <= r[8] <= hi_s]
        else:
            rows = self.con.execute(
                f"SELECT id, sport, duration_s, distance_m, summary_only, user_id, metadata, {self._ath} FROM runs"
                " WHERE start_time BETWEEN ? AND ?",
                [lo, hi],
            ).fetchall()
        rows += [(r[0], r[1], r[4], r[3], r[16], r[14], r[21], r[23]) for r in self._buf_runs if lo <= r[2] <= hi]
        for rid, rsport, rdur, rdist, summary_only, ruser, rmeta, rathlete in rows:
            if not _compatible(rsport, sport) or (user_id and ruser and user_id != ruser):
                continue
            if athlete is not None and rathlete != athlete:
                continue
            if date_only_rows and not (summary_only and '"date_only": true' in (rmeta or "")):
                continue
            if duration_s and rdur and abs(rdur - duration_s) > DUP_DURATION_TOL * max(rdur, duration_s) + 60.0:
                continue
            if distance_m and rdist and abs(rdist - distance_m) > 0.05 * max(rdist, distance_m) + 50.0:
                continue
            if date_only and not (distance_m and rdist):
                continue
            return str(rid), bool(summary_only)
        return None

    @_interruptible
    def add_workout(self, w: Workout, *, file_sha: str | None = None) -> AddResult:
        """Store a (cleaned) workout atomically unless the same run is already stored.

        A summary-only history run of the same activity is replaced by the full workout."""
        if len(w) < 2:
            raise Sub3Error("workout has fewer than 2 samples", w.source)
        if not (VALID_TIME_S[0] <= w.time_s[0] and w.time_s[-1] <= VALID_TIME_S[1]):
            raise Sub3Error("timestamps outside 1980-2100 (wrong time unit or relative times)", w.source)
        s = w.summary()
        run_id = w.workout_id or w.content_id()
        if self._exists(run_id):
            return AddResult("duplicate", run_id)
        athlete = self._athlete_for(w.user_id)
        dup = self.find_duplicate(w.sport, s.start_time, s.duration_s, s.distance_m, user_id=w.user_id, athlete=athlete)
        if dup is None:  # a history row that knows only the day of this run
            dup = self.find_duplicate(
                w.sport, s.start_time, None, s.distance_m, user_id=w.user_id, date_only=True, date_only_rows=True,
                athlete=athlete,
            )
        if dup is not None and not dup[1]:
            return AddResult("duplicate", dup[0])
        status = "imported"
        with self._transaction():
            if dup is not None:  # a summary-only history row of the same run: replace it
                self._buf_runs = [r for r in self._buf_runs if r[0] != dup[0]]
                self.con.execute("DELETE FROM runs WHERE id = ?", [dup[0]])
                if self._pf is not None:
                    self._pf.forget(dup[0])
                status = "replaced"
            self._insert_run(run_id, s, w, file_sha, athlete)
            self._insert_samples(run_id, w)
        return AddResult(status, run_id)

    @_interruptible
    def add_summary(self, s: RunSummary) -> AddResult:
        """Store a summary-only run from a history file unless the run is already stored."""
        key = f"{s.user_id}|{s.start_time.isoformat()}|{round(s.distance_m or 0)}|{s.sport}"
        run_id = "h" + hashlib.sha256(key.encode()).hexdigest()[:15]
        if self._exists(run_id):
            return AddResult("duplicate", run_id)
        athlete = self._athlete_for(s.user_id)
        dup = self.find_duplicate(
            s.sport, s.start_time, s.duration_s, s.distance_m, user_id=s.user_id,
            date_only=bool(s.metadata.get("date_only")), athlete=athlete,
        )
        if dup is not None:
            return AddResult("duplicate", dup[0])
        with self._transaction():
            self._insert_run(run_id, s, None, None, athlete)
        return AddResult("imported", run_id)

    def _athlete_for(self, user_id: str | None) -> str:
        """The athlete a new run belongs to: ``import_athlete``, else the source's runner id,
        else the library's only athlete, else :data:`DEFAULT_ATHLETE`."""
        if self.import_athlete:
            return self.import_athlete
        if user_id:
            return str(user_id)
        if self._fallback_athlete is None:
            names = [a["name"] for a in self.athletes()]
            self._fallback_athlete = names[0] if len(names) == 1 else DEFAULT_ATHLETE
        return self._fallback_athlete

    def _insert_run(self, run_id: str, s: RunSummary, w: Workout | None, file_sha: str | None, athlete: str) -> None:
        meta = dict(s.metadata)
        if w is not None:
            meta.update(w.metadata)
        values = [
            run_id, s.sport, s.start_time, _clean_float(s.distance_m), _clean_float(s.duration_s),
            _clean_float(s.moving_time_s), _clean_float(s.elevation_gain_m), _clean_float(s.avg_hr_bpm),
            _clean_float(s.max_hr_bpm), _clean_float(s.avg_pace_s_per_km), s.name, s.source,
            w.source_format if w else meta.get("format", "history"), w.device if w else None,
            s.user_id, s.gender, w is None, _clean_float(w.device_distance_m) if w else None,
            _clean_float(w.device_timer_s) if w else None, len(w) if w else None, file_sha,
            json.dumps(meta, default=_json_default), datetime.now(timezone.utc), athlete,
        ]
        assert self._in_batch, "writes happen inside a transaction"
        self._buf_runs.append(values)
        self.athletes_added.add(athlete)

    def _insert_samples(self, run_id: str, w: Workout) -> None:
        assert self._in_batch, "writes happen inside a transaction"
        self._buf_samples.append((run_id, w))

    # ----- reading -----------------------------------------------------------------------
    def runs(
        self,
        *,
        sport: str | None = None,
        since: datetime | None = None,
        user_id: str | None = None,
        run_id: str | None = None,
        athlete: str | None = None,
    ) -> list[dict[str, Any]]:
        """Summary rows ordered by start time; ``start_time`` as ISO 8601 UTC strings.

        Filters are ANDed; ``athlete=None`` means every athlete."""
        where: list[str] = []
        params: list[Any] = []
        for cond, value in (("id = ?", run_id), ("sport = ?", sport), ("start_time >= ?", since),
                            ("user_id = ?", user_id), (f"{self._ath} = ?", athlete)):
            if value:
                where.append(cond)
                params.append(value)
        extra = "" if self._has_athlete_col else f", {self._ath} AS athlete"
        sql = (f"SELECT * REPLACE (epoch(start_time) AS start_time, epoch(imported_at) AS imported_at){extra} FROM runs"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY start_time, id")
        cur = self.con.execute(sql, params)
        names = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            r = dict(zip(names, row))
            r["start_time"] = _iso(r["start_time"])
            r["imported_at"] = _iso(r["imported_at"]) if r["imported_at"] is not None else None
            r["metadata"] = json.loads(r["metadata"]) if r["metadata"] else {}
            out.append(r)
        return out

    def run(self, run_id: str) -> dict[str, Any]:
        """One summary row by id (a unique id prefix of ≥ 4 characters is accepted)."""
        rows = self.con.execute("SELECT id FROM runs WHERE id = ? OR (length(?) >= 4 AND starts_with(id, ?))", [run_id, run_id, run_id]).fetchall()
        if not rows:
            raise Sub3Error(f"no run with id {run_id!r} in the library", str(self.path))
        if len(rows) > 1 and not any(r[0] == run_id for r in rows):
            raise Sub3Error(f"id prefix {run_id!r} matches {len(rows)} runs; give more characters", str(self.path))
        rid = run_id if any(r[0] == run_id for r in rows) else rows[0][0]
        return self.runs(run_id=rid)[0]

    def latest(self, *, athlete: str | None = None, recorded: bool = True) -> dict[str, Any] | None:
        """The most recent run (with samples when ``recorded``, falling back to any run), or None."""
        rows = self.runs(athlete=athlete)
        full = [r for r in rows if not r["summary_only"]]
        pick = (full or rows) if recorded else rows
        return pick[-1] if pick else None

    def get_workout(self, run_id: str) -> Workout:
        """The stored workout with its samples (summary-only runs raise :class:`Sub3Error`)."""
        r = self.run(run_id)
        row = self._one(f"SELECT time_s, {', '.join(CHANNELS)} FROM samples WHERE run_id = ?", [r["id"]])
        if row is None:
            raise Sub3Error(f"run {r['id']} is summary-only (imported from a history file): no samples", str(self.path))
        return self._workout_from(r, row)

    def _workout_from(self, r: dict[str, Any], row: tuple[Any, ...]) -> Workout:
        kw = {c: (None if v is None else np.asarray(v, dtype=np.float64)) for c, v in zip(CHANNELS, row[1:])}
        meta = dict(r["metadata"])
        meta.setdefault("athlete", r.get("athlete"))
        return Workout(
            time_s=np.asarray(row[0], dtype=np.float64), sport=r["sport"], name=r["name"], source=r["source"],
            source_format=r["source_format"], device=r["device"], workout_id=r["id"], user_id=r["user_id"],
            gender=r["gender"], device_distance_m=r["device_distance_m"], device_timer_s=r["device_timer_s"],
            metadata=meta, **kw,
        )

    def iter_workouts(self, *, sport: str | None = "run", user_id: str | None = None,
                      athlete: str | None = None) -> Iterator[Workout]:
        """Every stored workout with samples (summary-only runs are skipped), by start time;
        ``metadata["athlete"]`` names its athlete."""
        for r in self.runs(sport=sport, user_id=user_id, athlete=athlete):
            if r["summary_only"]:
                continue
            row = self._one(f"SELECT time_s, {', '.join(CHANNELS)} FROM samples WHERE run_id = ?", [r["id"]])
            if row is not None:
                yield self._workout_from(r, row)

    def summaries(self, *, sport: str | None = "run", user_id: str | None = None,
                  athlete: str | None = None) -> list[RunSummary]:
        """All runs (with or without samples) as :class:`RunSummary`, by start time."""
        out = []
        for r in self.runs(sport=sport, user_id=user_id, athlete=athlete):
            out.append(RunSummary(
                start_time=datetime.fromisoformat(r["start_time"].replace("Z", "+00:00")), sport=r["sport"],
                distance_m=r["distance_m"], duration_s=r["duration_s"], moving_time_s=r["moving_time_s"],
                elevation_gain_m=r["elevation_gain_m"], avg_hr_bpm=r["avg_hr_bpm"], max_hr_bpm=r["max_hr_bpm"],
                name=r["name"], source=r["source"], user_id=r["user_id"], gender=r["gender"],
                summary_only=bool(r["summary_only"]), metadata=r["metadata"],
            ))
        return out

    def count(self) -> int:
        """Number of stored runs."""
        return int(self._one("SELECT count(*) FROM runs")[0])  # type: ignore[index]

    # ----- athletes ----------------------------------------------------------------------
    def athletes(self) -> list[dict[str, Any]]:
        """Every athlete (with runs, or with a stated profile), by name: ``name``, ``runs``,
        ``runs_with_hr`` (runs with an average HR), ``first`` and ``last`` start (ISO 8601 UTC,
        None without runs)."""
        rows = self.con.execute(
            f"SELECT {self._ath} AS a, count(*), count(avg_hr_bpm), epoch(min(start_time)), epoch(max(start_time))"
            " FROM runs GROUP BY a"
        ).fetchall()
        out = {str(a): {"name": str(a), "runs": int(n), "runs_with_hr": int(nhr), "first": _iso(lo), "last": _iso(hi)}
               for a, n, nhr, lo, hi in rows}
        if self._has_table("athletes"):
            for (name,) in self.con.execute("SELECT name FROM athletes").fetchall():
                out.setdefault(str(name), {"name": str(name), "runs": 0, "runs_with_hr": 0, "first": None, "last": None})
        return [out[k] for k in sorted(out)]

    def _has_table(self, name: str) -> bool:
        return self._one("SELECT 1 FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]) is not None

    def resolve_athlete(self, name: str | None) -> str:
        """The athlete a command reads: ``name`` if the library knows it, else (``None``) the
        only athlete.

        Raises:
            Sub3Error: an unknown name (listing the known ones), or several athletes and none named.
        """
        names = [a["name"] for a in self.athletes()]
        if name is not None:
            if name in names:
                return name
            known = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") if names else "none yet"
            raise Sub3Error(f"no athlete {name!r} in the library (athletes: {known})", str(self.path))
        if len(names) == 1:
            return names[0]
        if not names:
            raise Sub3Error("the library is empty: import something first", str(self.path))
        raise AthleteNotNamed(names)

    def athlete_stated(self, name: str) -> dict[str, Any]:
        """What ``name`` stated (``max_hr_bpm``, ``resting_hr_bpm``, ``birth_year``, ``gender``,
        ``updated_at``); values never stated are None."""
        keys = ("max_hr_bpm", "resting_hr_bpm", "birth_year", "gender", "updated_at")
        row = self._one(f"SELECT {', '.join(keys)} FROM athletes WHERE name = ?", [name]) if self._has_table("athletes") else None
        out = dict(zip(keys, row)) if row else dict.fromkeys(keys)
        if isinstance(out["updated_at"], datetime):
            out["updated_at"] = _iso(out["updated_at"].timestamp())
        return out

    @_interruptible
    def set_athlete(self, name: str, *, max_hr_bpm: float | None = None, resting_hr_bpm: float | None = None,
                    birth_year: int | None = None, gender: str | None = None) -> dict[str, Any]:
        """Create or update an athlete's stated values (``None`` keeps the stored value).

        Raises:
            Sub3Error: an empty name or an implausible value (max HR 100-240, resting 25-120 BPM,
                resting below max, birth year 1900..this year, gender female/male/other).
        """
        name = (name or "").strip()
        if not name:
            raise Sub3Error("an athlete needs a name")
        _check_stated(max_hr_bpm, resting_hr_bpm, birth_year, gender)
        old = self.athlete_stated(name)
        new = {"max_hr_bpm": max_hr_bpm if max_hr_bpm is not None else old["max_hr_bpm"],
               "resting_hr_bpm": resting_hr_bpm if resting_hr_bpm is not None else old["resting_hr_bpm"],
               "birth_year": birth_year if birth_year is not None else old["birth_year"],
               "gender": gender.lower() if gender is not None else old["gender"]}
        _check_stated(new["max_hr_bpm"], new["resting_hr_bpm"], new["birth_year"], new["gender"])
        with self._transaction():
            self.con.execute(
                "INSERT INTO athletes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " max_hr_bpm = excluded.max_hr_bpm, resting_hr_bpm = excluded.resting_hr_bpm,"
                " birth_year = excluded.birth_year, gender = excluded.gender, updated_at = excluded.updated_at",
                [name, new["max_hr_bpm"], new["resting_hr_bpm"], new["birth_year"], new["gender"], datetime.now(timezone.utc)],
            )
        return self.athlete_stated(name)


GENDERS = ("female", "male", "other")


def _check_stated(max_hr: float | None, resting_hr: float | None, birth_year: int | None, gender: str | None) -> None:
    """Refuse implausible stated values with one line."""
    if max_hr is not None and not 100 <= max_hr <= 240:
        raise Sub3Error(f"max HR {max_hr:g} BPM is outside 100-240")
    if resting_hr is not None and not 25 <= resting_hr <= 120:
        raise Sub3Error(f"resting HR {resting_hr:g} BPM is outside 25-120")
    if max_hr is not None and resting_hr is not None and resting_hr >= max_hr:
        raise Sub3Error(f"resting HR {resting_hr:g} BPM must be below max HR {max_hr:g} BPM")
    if birth_year is not None and not 1900 <= birth_year <= datetime.now(timezone.utc).year:
        raise Sub3Error(f"birth year {birth_year} is not plausible")
    if gender is not None and gender.lower() not in GENDERS:
        raise Sub3Error(f"gender {gender!r} is not one of {', '.join(GENDERS)}")
