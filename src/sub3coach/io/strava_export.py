"""Strava bulk export ("Download your data"): a folder or a ``.zip`` holding ``activities.csv``
plus the original recordings under ``activities/`` (``.fit.gz``, ``.gpx``, ``.gpx.gz``,
``.tcx.gz``, ``.tcx``).

Each CSV row is joined with its file on the ``Filename`` column; the workouts read from the file
get the row's Strava metadata (name, type, gear, id, description). Rows without a file are
manual activities: they have no samples and are only available as per-run summaries
(:func:`strava_export_summaries`).

Two generations of ``activities.csv`` exist:

* 2018 and before: ``id,date,name,type,description,elapsed_time,distance,commute,gear,filename``
  with ``distance`` in metres and ``date`` as ``YYYY-MM-DD HH:MM:SS`` (UTC);
* since: ``Activity ID, Activity Date, Activity Name, Activity Type, ...`` with duplicate column
  names: the first ``Distance`` is in km as displayed (metres for swims, locale-formatted like
  ``1,609``), the second in metres; ``Elapsed Time`` twice (int, then float seconds); the
  ``Activity Date`` is UTC in the export's locale (``Aug 28, 2019, 3:21:51 AM`` or
  ``21 Feb 2024, 01:17:32``).

Everything is streamed: one activity file is read and decoded at a time.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Iterator

from sub3coach.errors import CorruptFile, Sub3Error, UnsafeArchive
from sub3coach.io._source import (
    Source,
    check_zip,
    open_zip,
    read_bytes,
    read_zip_member,
    source_name,
)
from sub3coach.workout import RunSummary, Workout, normalise_sport

log = logging.getLogger(__name__)

#: Name of the activity table inside an export.
CSV_NAME = "activities.csv"

#: Extensions of activity files found in ``activities/``.
ACTIVITY_SUFFIXES: tuple[str, ...] = (".fit", ".fit.gz", ".gpx", ".gpx.gz", ".tcx", ".tcx.gz")

# Column aliases (lower-case, HTML stripped), newer generation first.
_COL_ID = ("activity id", "id")
_COL_DATE = ("activity date", "date")
_COL_NAME = ("activity name", "name")
_COL_TYPE = ("activity type", "type")
_COL_DESC = ("activity description", "description")
_COL_GEAR = ("activity gear", "gear")
_COL_FILE = ("filename",)
_COL_ELAPSED = ("elapsed time", "elapsed_time")
_COL_MOVING = ("moving time", "moving_time")
_COL_DISTANCE = ("distance",)
_COL_GAIN = ("elevation gain", "elevation_gain")
_COL_AVG_HR = ("average heart rate", "average_heartrate")
_COL_MAX_HR = ("max heart rate", "max_heartrate")
_COL_COMMUTE = ("commute",)

_DATE_FORMATS: tuple[str, ...] = (
    "%b %d, %Y, %I:%M:%S %p",  # Aug 28, 2019, 3:21:51 AM
    "%d %b %Y, %H:%M:%S",  # 21 Feb 2024, 01:17:32
    "%Y-%m-%d %H:%M:%S",  # 2014-09-12 16:54:28 (2018 generation)
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S",
    "%d.%m.%Y, %H:%M:%S",  # 28.08.2019, 03:21:51 (de)
    "%d/%m/%Y, %H:%M:%S",
    "%b %d, %Y %I:%M:%S %p",
    "%d %b %Y %H:%M:%S",
)

_TAG_RE = re.compile(r"<[^>]*>")
_WS_LEADING = b" \t\r\n"


@dataclass
class StravaItem:
    """One activity file of the export (or one CSV row whose file is missing).

    Attributes:
        source: ``export.zip!activities/123.fit.gz`` (zip) or the file's path (folder).
        workouts: the workouts read from the file, with the CSV row's metadata applied
            (empty when ``error`` is set).
        error: why the file could not be read (``CorruptFile`` for a missing or broken file,
            ``NotAnActivity`` for a valid non-activity file...), else ``None``.
    """

    source: str
    workouts: list[Workout] = field(default_factory=list)
    error: Sub3Error | None = None


# --------------------------------------------------------------------------------------------
# container access (folder or zip)
# --------------------------------------------------------------------------------------------
class _Export:
    """Uniform access to an export folder or zip: the CSV text and member bytes by name."""

    def __init__(self, src: Source, name: str | None = None) -> None:
        self.label = source_name(src, name)
        self.folder: Path | None = None
        self.zf: zipfile.ZipFile | None = None
        self.members: dict[str, zipfile.ZipInfo] = {}
        self.prefix = ""  # path of the folder holding activities.csv inside the zip ("" or "x/")
        if isinstance(src, (str, os.PathLike)) and Path(src).is_dir():
            self.folder = Path(src)
            if not (self.folder / CSV_NAME).is_file():
                raise CorruptFile(self.label, f"not a Strava export: no {CSV_NAME} in the folder")
            return
        if isinstance(src, (str, os.PathLike)) and not Path(src).exists():
            raise CorruptFile(self.label, "no such file")
        zf = open_zip(src, self.label)
        try:
            infos = check_zip(zf, self.label)
        except Exception:
            zf.close()
            raise
        self.zf = zf
        self.members = {i.filename.replace("\\", "/"): i for i in infos}
        csvs = sorted((n for n in self.members if PurePosixPath(n).name.lower() == CSV_NAME),
                      key=lambda n: (n.count("/"), n))
        if not csvs:
            zf.close()
            raise CorruptFile(self.label, f"not a Strava export: no {CSV_NAME} in the archive")
        parent = str(PurePosixPath(csvs[0]).parent)
        self.prefix = "" if parent in ("", ".") else parent + "/"

    def close(self) -> None:
        if self.zf is not None:
            self.zf.close()

    def __enter__(self) -> "_Export":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- names -------------------------------------------------------------------------
    def source_of(self, rel: str) -> str:
        """The label used for ``rel`` (a path relative to the export root) in messages."""
        if self.folder is not None:
            return str(self.folder / rel)
        return f"{self.label}!{self.prefix}{rel}"

    def csv_text(self) -> str:
        """The decoded text of ``activities.csv``."""
        if self.folder is not None:
            raw = read_bytes(self.folder / CSV_NAME).data
        else:
            assert self.zf is not None
            info = self.members[self.prefix + CSV_NAME]
            raw = read_zip_member(self.zf, info, self.label)
        return raw.decode("utf-8-sig", errors="replace")

    def activity_files(self) -> list[str]:
        """Paths (relative to the export root) of every file under ``activities/``."""
        out: list[str] = []
        if self.folder is not None:
            d = self.folder / "activities"
            if d.is_dir():
                out = sorted(f"activities/{p.name}" for p in d.iterdir() if p.is_file())
        else:
            pre = self.prefix + "activities/"
            out = sorted(n[len(self.prefix):] for n in self.members if n.startswith(pre) and n != pre)
        return [r for r in out if r.lower().endswith(ACTIVITY_SUFFIXES)]

    def read(self, rel: str) -> bytes | None:
        """Raw bytes of ``rel`` (relative to the export root), ``None`` when it is missing.

        Raises:
            UnsafeArchive: ``rel`` points outside the export, or the member is a bomb.
            CorruptFile: the file cannot be read.
        """
        parts = PurePosixPath(rel.replace("\\", "/")).parts
        if rel.startswith(("/", "\\")) or ".." in parts or (len(rel) > 1 and rel[1] == ":"):
            raise UnsafeArchive(self.source_of(rel), f"{CSV_NAME} names a file outside the export")
        if self.folder is not None:
            p = self.folder.joinpath(*parts)
            if not p.is_file():
                return None
            if not p.resolve().is_relative_to(self.folder.resolve()):
                raise UnsafeArchive(self.source_of(rel), "links to a file outside the export")
            return read_bytes(p, self.source_of(rel), decompress=False).data
        assert self.zf is not None
        info = self.members.get(self.prefix + "/".join(parts))
        if info is None:
            return None
        return read_zip_member(self.zf, info, self.label)


# --------------------------------------------------------------------------------------------
# CSV rows
# --------------------------------------------------------------------------------------------
class _Table:
    """Column lookup on ``activities.csv`` that copes with duplicate column names."""

    def __init__(self, header: list[str]) -> None:
        self.index: dict[str, list[int]] = {}
        for i, h in enumerate(header):
            key = " ".join(_TAG_RE.sub("", h).split()).lower()
            self.index.setdefault(key, []).append(i)
        self.new_generation = "activity id" in self.index or "activity type" in self.index

    def has(self, aliases: tuple[str, ...]) -> bool:
        return any(a in self.index for a in aliases)

    def values(self, row: list[str], aliases: tuple[str, ...]) -> list[str]:
        """Non-empty values of the first alias present (all its duplicate columns, in order)."""
        for a in aliases:
            if a in self.index:
                return [row[i].strip() for i in self.index[a] if i < len(row) and row[i].strip()]
        return []

    def first(self, row: list[str], aliases: tuple[str, ...]) -> str | None:
        v = self.values(row, aliases)
        return v[0] if v else None

    def last(self, row: list[str], aliases: tuple[str, ...]) -> str | None:
        v = self.values(row, aliases)
        return v[-1] if v else None

    def number(self, row: list[str], aliases: tuple[str, ...]) -> float | None:
        """The last non-empty numeric value among duplicate columns (the exact, unformatted one)."""
        for s in reversed(self.values(row, aliases)):
            x = _to_float(s)
            if x is not None:
                return x
        return None

    def distance_m(self, row: list[str], sport_label: str | None) -> float | None:
        """Distance in metres: the metre column when there are two, else convert the shown one."""
        idx = self.index.get("distance", [])
        vals = [row[i].strip() if i < len(row) else "" for i in idx]
        if not vals:
            return None
        if len(vals) >= 2:
            x = _to_float(vals[-1])
            if x is not None:
                return x
        shown = _to_float(vals[0], thousands=True)
        if shown is None:
            return None
        if not self.new_generation:
            return shown  # 2018 generation: metres
        if normalise_sport(sport_label) == "swim":
            return shown  # swims are shown in metres
        return shown * 1000.0


def _to_float(s: str | None, *, thousands: bool = False) -> float | None:
    if s is None:
        return None
    s = s.strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        pass
    if thousands:
        try:
            return float(s.replace(",", "").replace("\u202f", "").replace("\xa0", ""))
        except ValueError:
            return None
    return None


def parse_strava_date(text: str | None) -> datetime | None:
    """Parse an ``Activity Date`` (UTC in every known export) into an aware UTC datetime.

    Returns ``None`` when the text matches no known layout."""
    if not text:
        return None
    s = " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def _row_metadata(table: _Table, row: list[str]) -> dict[str, object]:
    """Strava metadata of one row (strings as in the CSV; totals in SI units)."""
    stype = table.first(row, _COL_TYPE)
    meta: dict[str, object] = {
        "name": table.first(row, _COL_NAME),
        "strava_type": stype,
        "gear": table.first(row, _COL_GEAR),
        "strava_id": table.first(row, _COL_ID),
        "description": table.first(row, _COL_DESC),
    }
    start = parse_strava_date(table.first(row, _COL_DATE))
    meta["strava_start_time"] = start.isoformat() if start else None
    meta["strava_distance_m"] = table.distance_m(row, stype)
    meta["strava_elapsed_s"] = table.number(row, _COL_ELAPSED)
    meta["strava_moving_s"] = table.number(row, _COL_MOVING)
    commute = table.first(row, _COL_COMMUTE)
    meta["commute"] = None if commute is None else commute.lower() == "true"
    return meta


def _iter_rows(text: str, label: str) -> Iterator[tuple[_Table, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise CorruptFile(f"{label}!{CSV_NAME}", "empty activities.csv") from None
    except csv.Error as exc:
        raise CorruptFile(f"{label}!{CSV_NAME}", f"unreadable CSV ({exc})") from exc
    table = _Table(header)
    if not table.has(_COL_FILE):
        raise CorruptFile(f"{label}!{CSV_NAME}", "activities.csv has no Filename column (not a Strava export)")
    try:
        for row in reader:
            if not row or not any(c.strip() for c in row):
                continue
            yield table, row
    except csv.Error as exc:
        raise CorruptFile(f"{label}!{CSV_NAME}", f"unreadable CSV at line {reader.line_num} ({exc})") from exc


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def _decode(raw: bytes, source: str) -> list[Workout]:
    """Decode one activity file (gzip handled; Strava's TCX leading whitespace removed)."""
    from sub3coach.io.dispatch import read_file

    data = read_bytes(raw, source).data
    if data[:1] and data[:1] in _WS_LEADING:
        stripped = data.lstrip(_WS_LEADING)
        if stripped[:1] == b"<" or stripped[:3] == b"\xef\xbb\xbf":
            data = stripped
    return read_file(data, name=source)


def _read_item(exp: _Export, rel: str) -> StravaItem:
    source = exp.source_of(rel)
    try:
        raw = exp.read(rel)
        if raw is None:
            raise CorruptFile(source, f"{CSV_NAME} lists {rel} but the file is missing")
        workouts = _decode(raw, source)
    except Sub3Error as exc:
        return StravaItem(source=source, error=exc)
    except Exception as exc:  # a reader bug must not stop a whole import; keep the cause
        log.warning("unexpected error reading %s", source, exc_info=True)
        err = CorruptFile(source, f"cannot be read ({type(exc).__name__}: {exc})")
        err.__cause__ = exc
        return StravaItem(source=source, error=err)
    for w in workouts:
        w.source = source
    return StravaItem(source=source, workouts=workouts)


def _apply_row(workouts: list[Workout], meta: dict[str, object]) -> None:
    for w in workouts:
        w.metadata.update(meta)
        if meta.get("name"):
            w.name = str(meta["name"])
        stype = meta.get("strava_type")
        if stype and w.sport in ("unknown", "other"):
            w.sport = normalise_sport(str(stype))


def iter_strava_export(
    src: Source, *, name: str | None = None, shard: tuple[int, int] | None = None
) -> Iterator[StravaItem]:
    """Yield one :class:`StravaItem` per activity file of a Strava bulk export.

    Args:
        src: the export folder, or the export zip as a path, bytes or binary file object.
        name: label for messages and ``Workout.source`` (defaults to the path).

    Yields items in ``activities.csv`` order, then any file under ``activities/`` the CSV
    does not list (without Strava metadata). Rows without a ``Filename`` (manual
    activities) yield nothing: see :func:`strava_export_summaries`. A row whose file is
    missing yields an item with ``error=CorruptFile(...)``.

    ``shard=(k, n)`` yields only the items whose position in that order is ``k`` modulo
    ``n`` (the others are not read), so ``n`` processes can share one export.

    Raises:
        UnsafeArchive: the zip has members outside its folder or is a zip bomb (nothing read).
        CorruptFile: not a zip/folder, or no (readable) ``activities.csv``.
    """
    k, n = shard if shard is not None else (0, 1)
    if not 0 <= k < n:
        raise ValueError(f"bad shard {shard!r}")
    position = -1

    def mine() -> bool:
        nonlocal position
        position += 1
        return position % n == k

    with _Export(src, name) as exp:
        seen: set[str] = set()
        for table, row in _iter_rows(exp.csv_text(), exp.label):
            rel = table.first(row, _COL_FILE)
            if not rel:
                continue
            rel = rel.replace("\\", "/")
            if rel.startswith("./"):
                rel = rel[2:]
            seen.add(rel)
            if not mine():
                continue
            item = _read_item(exp, rel)
            if item.error is None:
                _apply_row(item.workouts, _row_metadata(table, row))
            yield item
        for rel in exp.activity_files():
            if rel in seen or not mine():
                continue
            log.info("%s is not listed in %s; reading it without Strava metadata", exp.source_of(rel), CSV_NAME)
            yield _read_item(exp, rel)


def strava_export_summaries(src: Source, *, name: str | None = None, manual_only: bool = False) -> list[RunSummary]:
    """Per-activity summaries from ``activities.csv`` (every sport; no activity file is read).

    Args:
        src: export folder or zip (path, bytes or file object).
        name: label for messages.
        manual_only: keep only rows without a file (manual activities), which
            :func:`iter_strava_export` cannot return as workouts.

    Returns:
        One :class:`RunSummary` per row with a parseable date: ``distance_m`` metres,
        ``duration_s`` elapsed seconds, ``moving_time_s``, ``elevation_gain_m``, HR in BPM,
        ``summary_only=True``; ``metadata`` has ``strava_id``, ``strava_type``, ``gear``,
        ``description``, ``filename`` and ``manual``.
    """
    out: list[RunSummary] = []
    with _Export(src, name) as exp:
        for table, row in _iter_rows(exp.csv_text(), exp.label):
            rel = table.first(row, _COL_FILE)
            if manual_only and rel:
                continue
            date_text = table.first(row, _COL_DATE)
            start = parse_strava_date(date_text)
            if start is None:
                log.warning("%s: skipping row with unreadable date %r", exp.source_of(CSV_NAME), date_text)
                continue
            meta = _row_metadata(table, row)
            stype = meta["strava_type"]
            out.append(RunSummary(
                start_time=start,
                sport=normalise_sport(str(stype) if stype else None),
                distance_m=meta["strava_distance_m"],  # type: ignore[arg-type]
                duration_s=meta["strava_elapsed_s"],  # type: ignore[arg-type]
                moving_time_s=meta["strava_moving_s"],  # type: ignore[arg-type]
                elevation_gain_m=table.number(row, _COL_GAIN),
                avg_hr_bpm=table.number(row, _COL_AVG_HR),
                max_hr_bpm=table.number(row, _COL_MAX_HR),
                name=meta["name"],  # type: ignore[arg-type]
                source=exp.source_of(CSV_NAME),
                summary_only=True,
                metadata={
                    "strava_id": meta["strava_id"], "strava_type": stype, "gear": meta["gear"],
                    "description": meta["description"], "filename": rel, "manual": not rel,
                    "commute": meta["commute"],
                },
            ))
    return out


def is_strava_export(path_or_zip: Source | zipfile.ZipFile) -> bool:
    """Whether ``path_or_zip`` (folder, zip path, zip bytes/file object or open ``ZipFile``)
    looks like a Strava bulk export: an ``activities.csv`` with a ``Filename`` column.
    Never raises on bad input."""
    try:
        head: bytes
        if isinstance(path_or_zip, zipfile.ZipFile):
            names = [n for n in path_or_zip.namelist() if PurePosixPath(n).name.lower() == CSV_NAME]
            if not names:
                return False
            with path_or_zip.open(sorted(names, key=lambda n: n.count("/"))[0]) as fh:
                head = fh.read(64 * 1024)
        elif isinstance(path_or_zip, (str, os.PathLike)) and Path(path_or_zip).is_dir():
            p = Path(path_or_zip) / CSV_NAME
            if not p.is_file():
                return False
            with p.open("rb") as fh:
                head = fh.read(64 * 1024)
        else:
            if isinstance(path_or_zip, (str, os.PathLike)) and not zipfile.is_zipfile(path_or_zip):
                return False
            pos = path_or_zip.tell() if hasattr(path_or_zip, "tell") else None
            try:
                zf = open_zip(path_or_zip, source_name(path_or_zip))  # type: ignore[arg-type]
                with zf:
                    return is_strava_export(zf)
            finally:
                if pos is not None:
                    path_or_zip.seek(pos)  # type: ignore[union-attr]
        first = head.decode("utf-8-sig", errors="replace").splitlines()[:1]
        if not first:
            return False
        header = next(csv.reader(first))
        return _Table(header).has(_COL_FILE)
    except (Sub3Error, OSError, zipfile.BadZipFile, csv.Error, StopIteration, ValueError, KeyError):
        return False


__all__ = [
    "StravaItem",
    "iter_strava_export",
    "strava_export_summaries",
    "is_strava_export",
    "parse_strava_date",
]
