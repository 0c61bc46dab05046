"""Opening the library's DuckDB file when other processes use it.

DuckDB lets one process hold a file read-write, or several hold it read-only, never both. A
reader that finds the file locked waits (polling, with one "library busy, retrying" message
once the wait has lasted :data:`WARN_AFTER_S`) up to :data:`BUSY_TIMEOUT_S` seconds (env
``SUB3_BUSY_TIMEOUT``), then fails with one line naming the process that holds it. While it
waits it keeps a ``<library>.waiting`` marker; an import, which opens the file only for each
batch, pauses after a commit while the marker is fresh (:func:`hand_over`), so readers get in
between batches instead of racing it. DuckDB's own lock message never reaches a user.
"""
from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from sub3coach.errors import Sub3Error

log = logging.getLogger("sub3coach.library")

#: Seconds an open waits for another process's lock before giving up (env ``SUB3_BUSY_TIMEOUT``).
BUSY_TIMEOUT_S = 60.0
#: A wait for the lock is announced once it has lasted this long (s); shorter waits go unsaid.
WARN_AFTER_S = 1.0
#: Longest pause (s) of a batch writer after a commit while another process waits to open.
HANDOVER_S = 1.0
#: A waiting marker older than this (s) is stale (its owner is gone).
_STALE_S = 2.0


class LibraryBusy(Sub3Error):
    """Another process held the library past the busy timeout."""


def busy_timeout_s() -> float:
    """Seconds to wait for a library another process holds (``SUB3_BUSY_TIMEOUT``, default 60)."""
    try:
        return max(0.0, float(os.environ.get("SUB3_BUSY_TIMEOUT", BUSY_TIMEOUT_S)))
    except ValueError:
        return BUSY_TIMEOUT_S


def _lock_holder(exc: BaseException) -> str | None:
    """The PID in DuckDB's lock message, when the error is a lock conflict (else None)."""
    text = str(exc)
    if "Could not set lock" not in text and "Conflicting lock" not in text:
        return None
    m = re.search(r"PID (\d+)", text)
    return m.group(1) if m else "?"


def _waiting_marker(path: Path) -> Path:
    """A file whose presence tells a batch writer that another process is waiting to open."""
    return path.with_name(path.name + ".waiting")


def _touch(p: Path) -> None:
    try:
        p.touch()
    except OSError:  # a read-only folder: readers still retry, only without the hand-over
        pass


def connect(path: Path, *, read_only: bool, timeout_s: float | None = None) -> Any:
    """Open the DuckDB file, waiting (polling every 0.1 s at most) while another process holds a
    conflicting lock; a wait longer than :data:`WARN_AFTER_S` logs one "library busy, retrying" warning. While waiting it
    keeps a ``<library>.waiting`` marker that makes a batch writer pause after its next commit
    (see :meth:`Library.release`), so readers get in between an import's batches.

    Raises:
        LibraryBusy: still locked after ``timeout_s`` seconds (default :func:`busy_timeout_s`).
        Sub3Error: any other failure to open, as one line (e.g. not a DuckDB file).
    """
    import duckdb

    timeout = busy_timeout_s() if timeout_s is None else timeout_s
    start = time.monotonic()
    deadline = start + timeout
    delay, warned, waited, marker = 0.01, False, False, _waiting_marker(path)
    try:
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.Error as exc:
                pid = _lock_holder(exc)
                if pid is None:
                    first = str(exc).splitlines()[0]
                    if "not a valid DuckDB database file" in first:
                        raise Sub3Error("not a sub3 library (not a DuckDB file)", str(path)) from exc
                    raise Sub3Error(f"cannot open library: {first}", str(path)) from exc
                if time.monotonic() >= deadline:
                    raise LibraryBusy(
                        f"library busy: process {pid} is using it (an import?); still busy after {timeout:.0f} s "
                        "- try again when it has finished, or wait longer with SUB3_BUSY_TIMEOUT=SECONDS", str(path),
                    ) from exc
                if not warned and time.monotonic() - start >= WARN_AFTER_S:
                    log.warning("library busy (process %s has %s open), retrying for up to %.0f s", pid, path, timeout)
                    warned = True
                waited = True
                _touch(marker)
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 0.1)
    finally:
        if waited:
            marker.unlink(missing_ok=True)


def hand_over(path: Path) -> None:
    """Called by a batch writer right after it closed the file: while another process waits to
    open it (a fresh ``.waiting`` marker), pause up to :data:`HANDOVER_S` seconds."""
    marker = _waiting_marker(path)
    end = time.monotonic() + HANDOVER_S
    while time.monotonic() < end:
        try:
            if time.time() - marker.stat().st_mtime > _STALE_S:
                return
        except OSError:
            return  # nobody waiting
        time.sleep(0.02)
