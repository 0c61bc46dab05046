"""Batch import of files, folders, zips and exports into the :class:`~sub3coach.library.Library`.

Inputs are first *expanded* into jobs (one activity file, one zip member, or one streaming
source such as a corpus Parquet, an Endomondo JSON, an Apple Health or Strava export, or a
training-history file). Single activity files and Strava export shards are parsed and cleaned
in worker processes (both cores); the main process alone writes to DuckDB, in
transactions of :attr:`Importer.BATCH` workouts whose duplicate checks are read with one query
(:meth:`~sub3coach.library.Library.prefetch`). A bad file is reported and the batch goes on.
"""
from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool
import gzip
import logging
import multiprocessing as mp
import os
import sys
import threading
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sub3coach.errors import CorruptFile, NotAnActivity, Sub3Error, UnsupportedFormat
from sub3coach.io._source import check_zip, open_zip, read_bytes, read_zip_member, sniff
from sub3coach.library import Library, file_sha256
from sub3coach.workout import RunSummary, Workout

log = logging.getLogger(__name__)

#: Activity formats parsed in worker processes.
_ACTIVITY = ("fit", "gpx", "tcx")


@dataclass
class ImportReport:
    """What an import did. ``skipped`` items are valid files holding nothing to import
    (with the reason); ``failed`` items are files that could not be read (with the error)."""

    imported: int = 0
    duplicates: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as the ``--json`` dict of ``sub3 import``."""
        return {"imported": self.imported, "duplicates": self.duplicates, "skipped": self.skipped, "failed": self.failed}

    def fail(self, path: str, error: BaseException | str) -> None:
        """Record a failure (one line)."""
        msg = str(error)
        if isinstance(error, Sub3Error) and error.path and msg.startswith(f"{error.path}: "):
            msg = msg[len(error.path) + 2 :]
        self.failed.append({"path": path, "error": " ".join(msg.split())})

    def skip(self, path: str, reason: str) -> None:
        """Record a skipped input."""
        self.skipped.append({"path": path, "reason": " ".join(reason.split())})


@dataclass
class Job:
    """One unit of import work.

    ``kind`` is ``file`` (a path), ``member`` (a zip member), ``stream`` (a multi-workout source
    read in the main process: ``stream_kind`` says which) or ``error`` (already failed)."""

    kind: str
    label: str
    path: str
    member: str | None = None
    stream_kind: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    error: Sub3Error | None = None
    explicit: bool = False


# ----- expansion ------------------------------------------------------------------------
def display(path: str | os.PathLike) -> str:
    """A printable, UTF-8-safe form of a path for messages and ``Workout.source`` (file names
    that are not valid UTF-8 keep a replacement character; the raw path is used for I/O)."""
    return os.fsencode(path).decode("utf-8", "replace")


def _head(path: Path, n: int = 8192) -> bytes:
    with path.open("rb") as fh:
        head = fh.read(n)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                return gz.read(n)
        except (OSError, EOFError, zlib.error):
            return head  # the reader reports the broken stream
    return head


def _classify_zip(path: Path, label: str) -> list[Job]:
    zf = open_zip(str(path), label)
    with zf:
        members = check_zip(zf, label)
        names = [m.filename for m in members]
        if any(n.rsplit("/", 1)[-1] == "activities.csv" for n in names):
            return [Job("stream", label, str(path), stream_kind="strava")]
        from sub3coach.io.apple_health import is_apple_health_export

        if any(n.rsplit("/", 1)[-1] == "export.xml" for n in names) or is_apple_health_export(path):
            return [Job("stream", label, str(path), stream_kind="apple_health")]
        jobs = []
        for m in members:
            base = m.filename.lower()
            if base.endswith(".gz"):
                base = base[:-3]
            if base.endswith((".fit", ".gpx", ".tcx")):
                jobs.append(Job("member", f"{label}!{m.filename}", str(path), member=m.filename))
            elif base.endswith(".zip"):  # e.g. Garmin Connect's export: zips inside a zip
                where = f"{label}!{m.filename}"
                jobs.append(Job("error", where, str(path), error=NotAnActivity(where, "zip inside a zip: unpack the outer archive and import the folder")))
        if not jobs:
            raise NotAnActivity(label, "zip archive holds no FIT, GPX or TCX file and is no known export")
        return jobs


def _classify_file(path: Path, explicit: bool) -> list[Job]:
    label = display(path)
    try:
        if path.stat().st_size == 0:
            raise CorruptFile(label, "empty file")
        head = _head(path)
    except OSError as exc:
        return [Job("error", label, label, error=CorruptFile(label, f"cannot read: {exc.strerror or exc}"))]
    except Sub3Error as exc:
        return [Job("error", label, label, error=exc)]
    fmt = sniff(head, path.name)
    if fmt in _ACTIVITY:
        return [Job("file", label, str(path), explicit=explicit)]
    try:
        if fmt == "zip":
            return _classify_zip(path, label)
    except Sub3Error as exc:
        return [Job("error", label, label, error=exc)]
    if fmt == "parquet":
        return [Job("stream", label, str(path), stream_kind="corpus")]
    if fmt == "endomondo":
        return [Job("stream", label, str(path), stream_kind="endomondo")]
    if fmt == "apple_health_xml":
        return [Job("stream", label, str(path), stream_kind="apple_health")]
    if fmt in ("json", "csv"):
        from sub3coach.io.history import detect_history_format

        if detect_history_format(head, path.name):
            return [Job("stream", label, str(path), stream_kind="history")]
        err: Sub3Error = NotAnActivity(label, f"a {fmt.upper()} file that is neither an activity nor a known training history")
    else:
        ext = path.name.lower().removesuffix(".gz").rsplit(".", 1)[-1]
        if ext in _ACTIVITY:
            err = CorruptFile(label, f"named .{ext} but its content is not a {ext.upper()} file")
        elif fmt is None:
            err = UnsupportedFormat("unrecognised format (not FIT, GPX, TCX, zip, Parquet, JSON or CSV)", label)
        else:
            err = UnsupportedFormat(f"unsupported {fmt} file", label)
        if not explicit and isinstance(err, UnsupportedFormat):
            # in a folder walk, unrelated files (README, images...) are skipped, not failures
            err = NotAnActivity(label, err.detail)
    return [Job("error", label, label, error=err, explicit=explicit)]


def expand(paths: Iterable[str | os.PathLike]) -> Iterator[Job]:
    """Turn user-given paths into jobs. Folders are walked recursively in name order
    (hidden files skipped); a folder holding a Strava export is read as one export;
    unreadable folders are reported as failures, an empty folder as skipped."""
    from sub3coach.io.strava_export import is_strava_export

    for p in paths:
        path = Path(p)
        label = display(path)
        try:
            exists, is_dir = path.exists(), path.is_dir()
        except OSError as exc:
            yield Job("error", label, str(path), error=CorruptFile(label, f"cannot read: {exc.strerror or exc}"), explicit=True)
            continue
        if not exists:
            yield Job("error", label, str(path), error=CorruptFile(label, "no such file or folder"), explicit=True)
            continue
        if not is_dir:
            yield from _classify_file(path, explicit=True)
            continue
        if is_strava_export(path):
            yield Job("stream", label, str(path), stream_kind="strava")
            continue
        walk_errors: list[OSError] = []
        n_found = 0
        for root, dirs, files in os.walk(path, onerror=walk_errors.append):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if Path(root) != path and is_strava_export(Path(root)):
                dirs[:] = []
                n_found += 1
                yield Job("stream", display(root), root, stream_kind="strava")
                continue
            for f in sorted(files):
                if not f.startswith("."):
                    n_found += 1
                    yield from _classify_file(Path(root) / f, explicit=False)
        for exc in walk_errors:
            where = display(exc.filename or label)
            yield Job("error", where, where, error=CorruptFile(where, f"cannot read folder: {exc.strerror or exc}"))
        if n_found == 0 and not walk_errors:
            yield Job("error", label, str(path), error=NotAnActivity(label, "folder holds no files"), explicit=True)


# ----- parsing (runs in worker processes) -----------------------------------------------
def _prepare(workouts: list[Workout], sha: str) -> list[Workout]:
    from sub3coach.clean import clean

    out = []
    for i, w in enumerate(workouts):
        cw = clean(w)
        if cw.workout_id is None:
            cw.workout_id = f"{sha[:14]}{i:02d}"
        out.append(cw)
    return out


def parse_job(job: Job, zips: dict[str, zipfile.ZipFile] | None = None) -> tuple[str, str | None, list[Workout] | None, Sub3Error | None]:
    """Read and clean the workouts of a ``file`` or ``member`` job.

    ``zips`` caches open archives by path, so that the members of one zip are read in one
    pass (opening a zip parses its whole central directory: once per member made importing
    N members O(N^2)). Returns ``(label, sha256, workouts, error)``; never raises for bad
    input."""
    from sub3coach.io.dispatch import read_file

    try:
        if job.kind == "member":
            if zips is None:
                with open_zip(job.path, job.path) as zf:
                    data = read_zip_member(zf, zf.getinfo(job.member), job.path)  # type: ignore[arg-type]
            else:
                zf = zips.get(job.path) or zips.setdefault(job.path, open_zip(job.path, job.path))
                data = read_zip_member(zf, zf.getinfo(job.member), job.path)  # type: ignore[arg-type]
        else:
            data = read_bytes(job.path, job.label, decompress=False).data
        sha = file_sha256(data)
        workouts = read_file(data, name=job.label)
        for w in workouts:
            w.source = job.label
            w.metadata.update(job.metadata)
        return job.label, sha, _prepare(workouts, sha), None
    except Sub3Error as exc:
        return job.label, None, None, exc
    except (KeyError, zipfile.BadZipFile) as exc:
        return job.label, None, None, CorruptFile(job.label, f"cannot read zip member ({exc})")
    except Exception as exc:  # a reader bug must not end the batch; keep it visible
        log.exception("unexpected error reading %s", job.label)
        return job.label, None, None, Sub3Error(f"unexpected error: {type(exc).__name__}: {exc}", job.label)


Outcome = tuple[str, "str | None", "list[Workout] | None", "Sub3Error | None"]

#: Seconds between a worker's checks that the importing process still lives.
WATCHDOG_INTERVAL_S = 0.5


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except OSError:
        return True  # no /proc (not Linux): kill(0) said it exists


def _watch_parent(pid: int) -> None:
    while _alive(pid):
        time.sleep(WATCHDOG_INTERVAL_S)
    os._exit(70)  # the importer is gone (kill -9, OOM killer): stop at once, mid-task too


def _worker_init(parent_pid: int) -> None:
    """Worker process initializer: die with the importing process.

    The pool's workers are children of multiprocessing's fork server, not of the importer, so
    a ``kill -9`` of the importer left them running their task. Each worker therefore watches
    the importer's pid from a daemon thread and exits within :data:`WATCHDOG_INTERVAL_S`; on
    Linux it also asks the kernel (``PR_SET_PDEATHSIG``) for SIGKILL when its own parent, the
    fork server, dies."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            log.debug("PR_SET_PDEATHSIG unavailable")
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="sub3-parent-watch", daemon=True).start()


def _cleaned(label: str, workouts: list[Workout]) -> Outcome:
    """The outcome of cleaning the workouts of one stream item: a workout that cleaning
    refuses (:class:`~sub3coach.errors.ImplausibleWorkout`) fails that item only, never the
    rest of its stream."""
    from sub3coach.clean import clean

    try:
        return label, None, [clean(w) for w in workouts], None
    except Sub3Error as exc:
        return label, None, None, exc


def parse_jobs(jobs: list[Job]) -> list[Outcome]:
    """:func:`parse_job` for several jobs (one worker task); each zip is opened once."""
    zips: dict[str, zipfile.ZipFile] = {}
    try:
        return [parse_job(j, zips) for j in jobs]
    finally:
        for zf in zips.values():
            zf.close()


def parse_strava_shard(path: str, label: str, k: int, n: int) -> list[Outcome]:
    """Read and clean shard ``k`` of ``n`` of a Strava export (one worker task)."""
    from sub3coach.io.strava_export import iter_strava_export

    out: list[Outcome] = []
    try:
        for item in iter_strava_export(path, name=label, shard=(k, n)):
            if item.error is not None:
                out.append((item.source, None, None, item.error))
            else:
                out.append(_cleaned(item.source, item.workouts))
    except Sub3Error as exc:
        if k == 0:  # the same container error hits every shard: report it once
            out.append((label, None, None, exc))
    except Exception as exc:  # a reader bug must not end the batch
        out.append((f"{label} (part {k + 1}/{n})", None, None, Sub3Error(f"unexpected error: {type(exc).__name__}: {exc}", label)))
    return out


def parse_corpus_shard(path: str, label: str, k: int, n: int) -> list[Outcome]:
    """Read and clean shard ``k`` of ``n`` (row groups) of a corpus Parquet (one worker task)."""
    from sub3coach.io.corpus import iter_corpus

    try:
        return [_cleaned(f"{label}#{w.workout_id}", [w]) for w in iter_corpus(path, shard=(k, n))]
    except Sub3Error as exc:
        return [(label, None, None, exc)] if k == 0 else []
    except Exception as exc:  # a reader bug must not end the batch
        return [(f"{label} (part {k + 1}/{n})", None, None, Sub3Error(f"unexpected error: {type(exc).__name__}: {exc}", label))]


# ----- the import -----------------------------------------------------------------------
class Importer:
    """Imports jobs into a library and keeps an :class:`ImportReport`.

    Args:
        library: the destination.
        workers: parser processes (default: all cores; 1 parses in-process).
        on_progress: called after each job with ``(advance, label)``; streams call it per workout.
    """

    #: Workouts written per DuckDB transaction (one commit per workout is ~5x slower).
    BATCH = 64

    def __init__(self, library: Library, *, workers: int | None = None, on_progress: Callable[[int, str], None] | None = None) -> None:
        self.library = library
        self.workers = workers or os.cpu_count() or 1
        self.report = ImportReport()
        self.on_progress = on_progress or (lambda n, label: None)
        self._pending: list[tuple[str, str | None, list[Workout]]] = []
        self._pending_n = 0

    def _store(self, into: ImportReport, label: str, sha: str | None, workouts: list[Workout]) -> None:
        if not workouts:
            into.skip(label, "file holds no workout")
            return
        ok = 0
        for w in workouts:
            try:
                res = self.library.add_workout(w, file_sha=sha)
            except Sub3Error as exc:
                into.fail(label, exc)
                continue
            except (KeyboardInterrupt, MemoryError):
                raise
            except Exception as exc:  # one odd workout must not sink its batch
                log.debug("cannot store %s", label, exc_info=True)
                into.fail(label, f"cannot store: {type(exc).__name__}: {exc}")
                continue
            ok += 1
            if res.status == "duplicate":
                into.duplicates += 1
            else:
                into.imported += 1
        if sha and ok == len(workouts):  # a file with a failed workout is read again next time
            self.library.record_file(sha, label, len(workouts))

    def flush(self) -> None:
        """Write the pending workouts in one transaction; the report counts them only once
        committed (after Ctrl-C the report holds exactly what is in the library)."""
        if not self._pending:
            return
        delta = ImportReport()
        pending, self._pending, self._pending_n = self._pending, [], 0
        with self.library.batch():
            self.library.prefetch([(w.workout_id or w.content_id(), float(w.time_s[0]))
                                   for _, _, ws in pending for w in ws if len(w)])
            for label, sha, workouts in pending:
                self._store(delta, label, sha, workouts)
        self.report.imported += delta.imported
        self.report.duplicates += delta.duplicates
        self.report.failed.extend(delta.failed)
        self.report.skipped.extend(delta.skipped)

    def _outcome(self, label: str, sha: str | None, workouts: list[Workout] | None, err: Sub3Error | None) -> None:
        if err is not None:
            if isinstance(err, NotAnActivity):
                self.report.skip(label, err.detail)
            else:
                self.report.fail(label, err)
        else:
            self._pending.append((label, sha, workouts or []))
            self._pending_n += len(workouts or []) or 1
            if self._pending_n >= self.BATCH:
                self.flush()
        self.on_progress(1, label)

    def _known(self, job: Job) -> bool:
        """Whether the job's file was imported before (counted as duplicates)."""
        if job.kind != "file":
            return False
        try:
            sha = file_sha256(Path(job.path).read_bytes())
        except OSError:
            return False
        n = self.library.known_file(sha)
        if n is None:
            return False
        self.report.duplicates += n
        self.on_progress(1, job.label)
        return True

    def run(self, jobs: list[Job]) -> ImportReport:
        """Import all jobs; returns the report (also on Ctrl-C, which is re-raised)."""
        parse = [j for j in jobs if j.kind in ("file", "member") and not self._known(j)]
        for j in jobs:
            if j.kind == "error":
                assert j.error is not None
                self._outcome(j.label, None, None, j.error)
        parallel = self.workers > 1
        # worker tasks: small batches of files, and shards of each Strava export
        tasks: list[tuple[Callable[..., list[Outcome]], tuple[Any, ...]]] = []
        tasks.extend((parse_jobs, (chunk,)) for chunk in self._chunks(parse))
        for j in jobs:
            if j.kind == "stream" and j.stream_kind == "strava":
                n = 8 * self.workers if parallel else 1
                tasks.extend((parse_strava_shard, (j.path, j.label, k, n)) for k in range(n))
            elif j.kind == "stream" and j.stream_kind == "corpus":
                n = self._corpus_shards(j) if parallel else 1
                tasks.extend((parse_corpus_shard, (j.path, j.label, k, n)) for k in range(n))
        if parallel and len(tasks) > 1:
            self._run_pool(tasks)
        else:
            for fn, args in tasks:
                for outcome in fn(*args):
                    self._outcome(*outcome)
        self.flush()
        for j in jobs:
            if j.kind == "stream" and j.stream_kind not in ("strava", "corpus"):
                self._run_stream(j)
                self.flush()
        return self.report

    def _chunks(self, parse: list[Job]) -> list[list[Job]]:
        """Worker tasks: files in batches of at most 8; the members of each zip in about
        ``4 * workers`` chunks, each of which opens the archive once."""
        files = [j for j in parse if j.kind == "file"]
        by_zip: dict[str, list[Job]] = {}
        for j in parse:
            if j.kind == "member":
                by_zip.setdefault(j.path, []).append(j)
        batch = max(1, min(8, len(files) // (4 * self.workers) or 1))
        chunks = [files[i : i + batch] for i in range(0, len(files), batch)]
        for members in by_zip.values():
            size = max(8, -(-len(members) // (4 * self.workers)))
            chunks.extend(members[i : i + size] for i in range(0, len(members), size))
        return chunks

    @staticmethod
    def _corpus_shards(job: Job) -> int:
        """One shard per row group (bounded), so worker results stay small."""
        from sub3coach.io.corpus import corpus_row_groups

        try:
            return max(1, min(256, corpus_row_groups(job.path)))
        except Sub3Error:
            return 1  # the error is reported by shard 0

    def _run_pool(self, tasks: list[tuple[Callable[..., list[Outcome]], tuple[Any, ...]]]) -> None:
        """Run the tasks on ``workers`` processes; this process stores results as they come.

        At most ``2 * workers`` tasks are queued at a time, and tasks are small (Strava exports
        in ``8 * workers`` shards), so results arrive steadily and this process, whose work
        per batch is now a few inserts and one duplicate-check query, stays off the workers'
        critical path."""
        ctx = mp.get_context("forkserver")
        queue = deque(tasks)
        with cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_worker_init,
                                    initargs=(os.getpid(),)) as pool:
            pending: dict[cf.Future[Any], tuple[Callable[..., list[Outcome]], tuple[Any, ...]]] = {}
            try:
                while queue or pending:
                    while queue and len(pending) < 2 * self.workers:  # keep the pool busy
                        fn, args = queue.popleft()
                        try:
                            pending[pool.submit(fn, *args)] = (fn, args)
                        except BrokenProcessPool as exc:  # a worker died earlier
                            self._fail_task((fn, args), exc)
                    if pending:
                        done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                        for f in done:
                            self._task_done(f, pending.pop(f))
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def _task_done(self, fut: "cf.Future[Any]", task: tuple[Callable[..., list[Outcome]], tuple[Any, ...]]) -> None:
        """Record a worker task's outcomes; a crashed worker fails the task's inputs."""
        try:
            outcomes = fut.result()
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # e.g. BrokenProcessPool after a worker was killed
            self._fail_task(task, exc)
            return
        for outcome in outcomes:
            self._outcome(*outcome)

    def _fail_task(self, task: tuple[Callable[..., list[Outcome]], tuple[Any, ...]], exc: BaseException) -> None:
        fn, args = task
        labels = [j.label for j in args[0]] if fn is parse_jobs else [f"{args[1]} (part {args[2] + 1}/{args[3]})"]
        for label in labels:
            self._outcome(label, None, None, Sub3Error(f"worker process failed: {type(exc).__name__}: {exc}", label))

    def _run_stream(self, job: Job) -> None:
        try:
            if job.stream_kind == "history":
                self._import_history(job)
                return
            for label, workouts, err in _iter_stream(job):
                self._outcome(label, None, workouts, err)
        except Sub3Error as exc:
            if isinstance(exc, NotAnActivity):
                self.report.skip(job.label, exc.detail)
            else:
                self.report.fail(job.label, exc)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # a reader bug must not end the whole import
            log.debug("stream %s failed", job.label, exc_info=True)
            self.report.fail(job.label, f"unexpected error: {type(exc).__name__}: {exc}")

    def _import_history(self, job: Job) -> None:
        from sub3coach.io.history import iter_history

        n_new = 0
        summaries = list(iter_history(job.path, name=job.label))
        for i in range(0, len(summaries), 500):
            delta = ImportReport()
            with self.library.batch():
                for s in summaries[i : i + 500]:
                    if self.library.add_summary(s).status == "duplicate":
                        delta.duplicates += 1
                    else:
                        delta.imported += 1
            self.report.imported += delta.imported
            self.report.duplicates += delta.duplicates
            n_new += delta.imported
            self.on_progress(min(500, len(summaries) - i), job.label)
        log.info("history %s: %d new runs", job.label, n_new)


def _iter_stream(job: Job) -> Iterator[tuple[str, list[Workout] | None, Sub3Error | None]]:
    """Workouts of a multi-workout source, cleaned, as ``(label, workouts, error)`` items."""

    if job.stream_kind == "endomondo":
        from sub3coach.io.endomondo import iter_endomondo

        for w in iter_endomondo(job.path):
            label, _, cleaned, err = _cleaned(f"{job.label}#{w.workout_id}", [w])
            yield label, cleaned, err
    elif job.stream_kind == "apple_health":
        from sub3coach.io.apple_health import iter_apple_health

        for w in iter_apple_health(job.path, name=job.label):
            label, _, cleaned, err = _cleaned(w.source or job.label, [w])
            yield label, cleaned, err
    else:  # pragma: no cover - expand() only makes the kinds above
        raise UnsupportedFormat(f"unknown stream kind {job.stream_kind}", job.label)


def import_paths(
    paths: Iterable[str | os.PathLike],
    library: Library,
    *,
    workers: int | None = None,
    on_progress: Callable[[int, str], None] | None = None,
) -> ImportReport:
    """Import files, folders, zips and exports into ``library``; see :class:`Importer`."""
    jobs = list(expand(paths))
    return Importer(library, workers=workers, on_progress=on_progress).run(jobs)


def summaries_from(workouts: Iterable[Workout]) -> list[RunSummary]:
    """Summaries of workouts (convenience for callers without a library)."""
    return [w.summary() for w in workouts]
