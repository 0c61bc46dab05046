"""Apple Health export (``export.zip`` from the Health app, or its unpacked ``export.xml``).

The export is one big XML file (often several GB) plus one GPX file per outdoor workout
under ``workout-routes/``. It is streamed through expat callbacks (no element tree is ever
built, so memory stays flat whatever the file size) with defusedxml's guards: entity
declarations and external references are refused, so XML bombs cannot expand.

What is read:

* ``<Record type="HKQuantityTypeIdentifierHeartRate" startDate=... value=... unit="count/min">``:
  heart-rate samples, kept compactly as numpy-ready arrays of (unix s, BPM, source id);
* ``<Workout workoutActivityType="HKWorkoutActivityTypeRunning" startDate endDate duration
  durationUnit totalDistance totalDistanceUnit sourceName ...>`` with, in newer exports,
  ``<WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" sum unit>`` for
  the distance and ``<WorkoutRoute><FileReference path="/workout-routes/route_....gpx"/>``
  for the GPS track (very old exports: ``<Location>`` elements inside the workout).

Records come before workouts in the file, so workouts are collected (a few hundred small
descriptors) during the single pass and built one at a time after it, each joining its
route with the heart-rate samples of its time window. Dates such as
``2023-05-01 07:12:33 +0200`` are converted to UTC unix seconds.
"""
from __future__ import annotations

import io
import logging
import math
import os
import re
import sys
import zipfile
import zlib
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any, Iterable, Iterator
from xml.parsers import expat

import numpy as np
from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden

from sub3coach.errors import CorruptFile, Sub3Error, UnsafeArchive
from sub3coach.io._source import Source, check_zip, open_zip, read_bytes, read_zip_member, source_name
from sub3coach.io.gpx import to_float as _float
from sub3coach.workout import Workout, normalise_sport

log = logging.getLogger(__name__)

__all__ = ["iter_apple_health", "parse_apple_date", "interpolate_samples", "is_apple_health_export", "HR_MAX_GAP_S"]

#: Heart rate is interpolated onto the route's timeline only within this many seconds of a
#: real sample (NaN further away).
HR_MAX_GAP_S = 10.0

HR_TYPE = "HKQuantityTypeIdentifierHeartRate"
_ACTIVITY_PREFIX = "HKWorkoutActivityType"
_DISTANCE_PREFIX = "HKQuantityTypeIdentifierDistance"

#: Length units Apple writes, to metres.
_LENGTH_TO_M: dict[str, float] = {
    "m": 1.0, "km": 1000.0, "cm": 0.01, "mm": 0.001, "mi": 1609.344, "yd": 0.9144, "ft": 0.3048,
}
#: Duration units, to seconds.
_DURATION_TO_S: dict[str, float] = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "ms": 0.001}
#: Bytes that are never valid in XML 1.0 (old exports contain stray vertical tabs).
_BAD_XML_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32)])
_NO_ELEMENTS = expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]
_UNCLOSED_TOKEN = expat.errors.codes[expat.errors.XML_ERROR_UNCLOSED_TOKEN]
_SPORT_SPECIAL: dict[str, str] = {"wheelchairrunpace": "other", "wheelchairwalkpace": "other"}


# --------------------------------------------------------------------------------------------
# small pure helpers
# --------------------------------------------------------------------------------------------
#: ``datetime.fromisoformat`` reads ``2023-05-01 07:12:33 +0200`` itself since Python 3.11.
_FAST_ISO = sys.version_info >= (3, 11)
_DAY_CACHE: dict[str, float] = {}
_EPOCH_DATE = date(1970, 1, 1)


def parse_apple_date(text: str | None) -> float:
    """Apple's ``2023-05-01 07:12:33 +0200`` as unix seconds UTC (NaN when unreadable).

    The offset may also be written ``+02:00`` or ``Z``; without one, UTC is assumed."""
    if not text:
        return math.nan
    if _FAST_ISO:
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return _parse_apple_date_py(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    return _parse_apple_date_py(text)


def _parse_apple_date_py(text: str) -> float:
    """Pure-Python :func:`parse_apple_date` (Python 3.10, and odd layouts)."""
    s = text.strip()
    if len(s) < 19 or s[4] != "-" or s[7] != "-" or s[13] != ":" or s[16] != ":":
        return math.nan
    try:
        day = _DAY_CACHE.get(s[:10])
        if day is None:
            day = float((date(int(s[0:4]), int(s[5:7]), int(s[8:10])) - _EPOCH_DATE).days * 86400)
            if len(_DAY_CACHE) < 100_000:
                _DAY_CACHE[s[:10]] = day
        secs = int(s[11:13]) * 3600 + int(s[14:16]) * 60 + float(s[17:19])
        rest = s[19:].strip()
        frac = 0.0
        if rest.startswith("."):  # fractional seconds (not written by Apple, but harmless)
            i = 1
            while i < len(rest) and rest[i].isdigit():
                i += 1
            frac = float(rest[:i])
            rest = rest[i:].strip()
        off = 0.0
        if rest and rest not in ("Z", "z", "UTC", "GMT"):
            sign = -1.0 if rest[0] == "-" else 1.0
            digits = rest[1:].replace(":", "")
            if rest[0] not in "+-" or not digits.isdigit() or len(digits) not in (2, 4):
                return math.nan
            off = sign * (int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) == 4 else 0))
        return day + secs + frac - off
    except (ValueError, IndexError):
        return math.nan


def interpolate_samples(t_target: np.ndarray, t_src: np.ndarray, values: np.ndarray,
                        max_gap_s: float = HR_MAX_GAP_S) -> np.ndarray:
    """Linear interpolation of ``values`` (sampled at sorted ``t_src``, seconds) onto
    ``t_target``; NaN wherever the nearest real sample is more than ``max_gap_s`` away."""
    t_target = np.asarray(t_target, dtype=np.float64)
    out = np.full(t_target.shape, np.nan)
    t_src = np.asarray(t_src, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if t_src.size == 0 or t_target.size == 0:
        return out
    v = np.interp(t_target, t_src, values)
    i = np.searchsorted(t_src, t_target)
    n = t_src.size
    prev = t_src[np.clip(i - 1, 0, n - 1)]
    nxt = t_src[np.clip(i, 0, n - 1)]
    d = np.minimum(np.abs(t_target - prev), np.abs(nxt - t_target))
    ok = np.isfinite(t_target) & (d <= max_gap_s)
    out[ok] = v[ok]
    return out


def _length_m(value: str | None, unit: str | None) -> float | None:
    v = _float(value)
    if math.isnan(v):
        return None
    factor = _LENGTH_TO_M.get((unit or "m").strip().lower())
    if factor is None:
        log.warning("unknown distance unit %r in Apple Health export; distance ignored", unit)
        return None
    return v * factor


def _sport_of(activity_type: str | None) -> str:
    """Normalised sport of ``HKWorkoutActivityTypeRunning`` and friends."""
    if not activity_type:
        return "unknown"
    key = activity_type[len(_ACTIVITY_PREFIX):] if activity_type.startswith(_ACTIVITY_PREFIX) else activity_type
    special = _SPORT_SPECIAL.get(key.lower())
    return special if special else normalise_sport(key)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# parse state
# --------------------------------------------------------------------------------------------
class _HeartRates:
    """Heart-rate records held compactly: 8 + 4 + 2 bytes per sample."""

    def __init__(self) -> None:
        self._t = array("d")
        self._v = array("f")
        self._s = array("H")
        self.sources: dict[str, int] = {}
        self.t = np.empty(0)
        self.v = np.empty(0)
        self.s = np.empty(0, dtype=np.uint16)

    def add(self, t: float, bpm: float, source: str | None) -> None:
        sid = self.sources.get(source or "")
        if sid is None:
            sid = min(len(self.sources), 65535)
            self.sources[source or ""] = sid
        self._t.append(t)
        self._v.append(bpm)
        self._s.append(sid)

    def __len__(self) -> int:
        return len(self._t) + len(self.t)

    def finish(self) -> None:
        """Sort by time into numpy arrays (called once, after the parse)."""
        t = np.frombuffer(self._t, dtype=np.float64) if len(self._t) else np.empty(0)
        order = np.argsort(t, kind="stable")
        self.t = t[order]
        self.v = (np.frombuffer(self._v, dtype=np.float32) if len(self._v) else np.empty(0, np.float32))[order].astype(np.float64)
        self.s = (np.frombuffer(self._s, dtype=np.uint16) if len(self._s) else np.empty(0, np.uint16))[order]
        self._t, self._v, self._s = array("d"), array("f"), array("H")

    def window(self, start: float, end: float, prefer_source: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Samples with ``start <= t <= end``: only the workout's own source when it has any
        there, duplicates (same second) averaged. Returns sorted ``(t, bpm)``."""
        lo = int(np.searchsorted(self.t, start, side="left"))
        hi = int(np.searchsorted(self.t, end, side="right"))
        t, v, s = self.t[lo:hi], self.v[lo:hi], self.s[lo:hi]
        sid = self.sources.get(prefer_source or "")
        if sid is not None and t.size and (s == sid).any() and not (s == sid).all():
            keep = s == sid
            t, v = t[keep], v[keep]
        if t.size > 1 and (np.diff(t) == 0).any():
            uniq, inv = np.unique(t, return_inverse=True)
            v = np.bincount(inv, weights=v) / np.bincount(inv)
            t = uniq
        return t, v


@dataclass
class _WorkoutInfo:
    """What one ``<Workout>`` element says (small; kept until the parse ends)."""

    activity_type: str
    sport: str
    start_s: float
    end_s: float
    duration_s: float | None
    distance_m: float | None
    source_name: str | None
    device: str | None
    route_paths: list[str] = field(default_factory=list)
    locations: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def _duration_s(elem: dict[str, str], start: float, end: float) -> float | None:
    v = _float(elem.get("duration"))
    if math.isnan(v):
        return None
    unit = elem.get("durationUnit")
    if unit is None:  # old exports: pick the unit that matches the start/end window
        window = end - start
        if math.isfinite(window) and window > 0:
            return v * 60.0 if abs(v * 60.0 - window) < abs(v - window) else v
        return v * 60.0
    factor = _DURATION_TO_S.get(unit.strip().lower())
    if factor is None:
        log.warning("unknown duration unit %r in Apple Health export; duration ignored", unit)
        return None
    return v * factor


def _workout_info(elem: dict[str, str], children: list[tuple[str, dict[str, str]]]) -> _WorkoutInfo | None:
    """A workout descriptor from the ``<Workout>`` attributes and its descendants' (tag, attributes)."""
    atype = elem.get("workoutActivityType") or ""
    start = parse_apple_date(elem.get("startDate"))
    end = parse_apple_date(elem.get("endDate"))
    if math.isnan(start) or math.isnan(end):
        log.warning("skipping Apple Health workout with unreadable dates (%r, %r)", elem.get("startDate"), elem.get("endDate"))
        return None
    info = _WorkoutInfo(
        activity_type=atype, sport=_sport_of(atype), start_s=start, end_s=end,
        duration_s=_duration_s(elem, start, end),
        distance_m=_length_m(elem.get("totalDistance"), elem.get("totalDistanceUnit")),
        source_name=elem.get("sourceName"), device=elem.get("device"),
    )
    for tag, child in children:
        if tag == "WorkoutStatistics":
            if info.distance_m is None and (child.get("type") or "").startswith(_DISTANCE_PREFIX):
                info.distance_m = _length_m(child.get("sum"), child.get("unit"))
        elif tag == "FileReference":
            p = child.get("path")
            if p:
                info.route_paths.append(p)
        elif tag == "MetadataEntry":
            k, v = child.get("key"), child.get("value")
            if k and v is not None and len(info.metadata) < 64:
                info.metadata[k] = v
        elif tag == "Location":
            t = parse_apple_date(child.get("date"))
            if not math.isnan(t):
                info.locations.append((t, _float(child.get("latitude")), _float(child.get("longitude")),
                                       _float(child.get("altitude")), _float(child.get("speed"))))
    return info


_ROOT_RE = re.compile(rb"<HealthData[\s>/]")
#: How far into the file the root element must start for the DTD to be dropped (Apple's
#: internal DTD is ~10 KB).
_PROLOG_LIMIT = 4 << 20


def _strip_doctype(head: bytes, label: str) -> bytes:
    """Drop the ``<!DOCTYPE HealthData [...]>`` block before the root element.

    The DTD is never needed, and iOS 16 (HealthKit Export Version 12) writes a broken one
    (an ``<!ATTLIST VisionPrescription`` without its ``>``) that no XML parser accepts. A
    DTD that declares entities is refused outright (XML bomb)."""
    d = head.find(b"<!DOCTYPE")
    m = _ROOT_RE.search(head, d + 1) if d >= 0 else None
    if m is None:
        return head
    if b"<!ENTITY" in head[d:m.start()]:
        raise CorruptFile(label, "XML declares entities, refused as unsafe (possible XML bomb)")
    return head[:d] + head[m.start():]


class _CleanReader:
    """Reads a byte stream in large chunks for the XML parser: drops bytes invalid in XML 1.0
    (old exports hold stray vertical tabs), drops the DTD (:func:`_strip_doctype`) and refuses
    to grow beyond ``limit`` bytes (the size a zip member declared)."""

    def __init__(self, fh: IO[bytes], label: str, limit: int | None = None) -> None:
        self._fh = fh
        self._label = label
        self._limit = limit
        self._n = 0
        self._started = False

    def _raw(self, size: int) -> bytes:
        data = self._fh.read(size)
        self._n += len(data)
        if self._limit is not None and self._n > self._limit:
            raise UnsafeArchive(self._label, "export.xml larger than its declared size (possible zip bomb)")
        return data.translate(None, _BAD_XML_BYTES)

    def read(self, size: int = 1 << 20) -> bytes:
        if self._started:
            return self._raw(size)
        self._started = True
        head = self._raw(size)
        while b"<!DOCTYPE" in head[:_PROLOG_LIMIT] and not _ROOT_RE.search(head) and len(head) < _PROLOG_LIMIT:
            more = self._raw(size)
            if not more:
                break
            head += more
        return _strip_doctype(head, self._label)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "_CleanReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(stream: _CleanReader, label: str, sports: frozenset[str] | None) -> tuple[list[_WorkoutInfo], _HeartRates]:
    """One streaming pass over ``export.xml``.

    Expat is driven directly (event callbacks, no element tree is ever built), which is
    about twice as fast as defusedxml's pure-Python iterparse on multi-GB exports and keeps
    memory flat. Safety is defusedxml's: the DTD is dropped before parsing (a DTD declaring
    entities is refused), and any entity declaration or external reference that still
    reaches expat raises (``EntitiesForbidden``/``ExternalReferenceForbidden``), so XML
    bombs never expand."""
    hr = _HeartRates()
    infos: list[_WorkoutInfo] = []
    state: dict[str, Any] = {"root": None, "workout": None, "children": None, "bad_hr": 0}
    add_hr = hr.add

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "Record":
            if attrs.get("type") == HR_TYPE:
                t = parse_apple_date(attrs.get("startDate"))
                v = _float(attrs.get("value"))
                if attrs.get("unit") == "count/s":
                    v *= 60.0
                if t != t or not (0.0 < v < 300.0):  # t != t: NaN
                    state["bad_hr"] += 1
                else:
                    add_hr(t, v, attrs.get("sourceName"))
        elif state["children"] is not None:
            state["children"].append((tag, attrs))
        elif tag == "Workout":
            state["workout"], state["children"] = attrs, []

    def first_start(tag: str, attrs: dict[str, str]) -> None:
        state["root"] = tag
        if tag != "HealthData":
            raise CorruptFile(label, f"not an Apple Health export (root element <{tag}>)")
        parser.StartElementHandler = start

    def end(tag: str) -> None:
        if tag == "Workout" and state["workout"] is not None:
            info = _workout_info(state["workout"], state["children"])
            state["workout"] = state["children"] = None
            if info is not None and (sports is None or info.sport in sports):
                infos.append(info)

    def entity_decl(name: str, *args: Any) -> None:
        raise EntitiesForbidden(name, None, None, None, None, None)

    def external_ref(context: Any, base: Any, sysid: Any, pubid: Any) -> int:
        raise ExternalReferenceForbidden(context, base, sysid, pubid)

    parser = expat.ParserCreate()
    parser.buffer_text = False
    parser.ordered_attributes = False
    parser.StartElementHandler = first_start
    parser.EndElementHandler = end
    parser.EntityDeclHandler = entity_decl
    parser.UnparsedEntityDeclHandler = entity_decl
    parser.ExternalEntityRefHandler = external_ref
    try:
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        detail = f"{expat.errors.messages[exc.code]}: line {exc.lineno}, column {exc.offset}"
        if state["root"] is None and exc.code == _NO_ELEMENTS:
            raise CorruptFile(label, "empty file (no XML element)") from exc
        if exc.code in (_NO_ELEMENTS, _UNCLOSED_TOKEN):
            raise CorruptFile(label, f"truncated XML (ends early: {detail})") from exc
        raise CorruptFile(label, f"malformed XML ({detail})") from exc
    except DefusedXmlException as exc:
        raise CorruptFile(label, f"XML declares entities or external references, refused as unsafe ({type(exc).__name__})") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise CorruptFile(label, f"cannot read the XML stream ({type(exc).__name__}: {exc})") from exc
    if state["root"] is None:
        raise CorruptFile(label, "empty file (no XML element)")
    if state["bad_hr"]:
        log.warning("%s: %d heart-rate records with unreadable date or value ignored", label, state["bad_hr"])
    hr.finish()
    return infos, hr


# --------------------------------------------------------------------------------------------
# export access (zip, folder or bare export.xml)
# --------------------------------------------------------------------------------------------
class _Export:
    """The XML stream and route files of an export, wherever they live."""

    def __init__(self, src: Source, name: str | None) -> None:
        self.label = source_name(src, name)
        self.zf: zipfile.ZipFile | None = None
        self.members: dict[str, zipfile.ZipInfo] = {}
        self.xml_member: zipfile.ZipInfo | None = None
        self.xml_path: Path | None = None
        self.xml_bytes: bytes | None = None
        if isinstance(src, (str, os.PathLike)):
            p = Path(src)
            if p.is_dir():
                self.xml_path = _find_xml_in_folder(p, self.label)
                return
            if not p.is_file():
                raise CorruptFile(self.label, "no such file")
            if not zipfile.is_zipfile(p):
                self.xml_path = p
                return
            self._open_zip(str(p))
            return
        if isinstance(src, (bytes, bytearray)):
            data = bytes(src)
        else:
            data = read_bytes(src, self.label, decompress=False).data
        if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            self._open_zip(data)
        else:
            self.xml_bytes = read_bytes(data, self.label).data  # gunzips export.xml.gz

    def _open_zip(self, src: Source) -> None:
        zf = open_zip(src, self.label)
        try:
            infos = check_zip(zf, self.label)
        except Exception:
            zf.close()
            raise
        self.zf = zf
        self.members = {i.filename.replace("\\", "/"): i for i in infos}
        cands = [n for n in self.members if n.lower().endswith(".xml") and "cda" not in PurePosixPath(n).name.lower()
                 and "/workout-routes/" not in n and "/electrocardiograms/" not in n]
        cands.sort(key=lambda n: (PurePosixPath(n).name.lower() != "export.xml", n.count("/"), n))
        for n in cands:
            head = _read_head(zf, self.members[n])
            if b"<HealthData" in head or b"HealthKit Export" in head:
                self.xml_member = self.members[n]
                return
        zf.close()
        raise CorruptFile(self.label, "not an Apple Health export: no export.xml in the archive")

    @property
    def xml_label(self) -> str:
        if self.xml_member is not None:
            return f"{self.label}!{self.xml_member.filename}"
        if self.xml_path is not None and self.xml_path != Path(self.label):
            return str(self.xml_path)
        return self.label

    def open_xml(self) -> _CleanReader:
        if self.xml_member is not None:
            assert self.zf is not None
            return _CleanReader(self.zf.open(self.xml_member), self.xml_label, self.xml_member.file_size)
        if self.xml_path is not None:
            with self.xml_path.open("rb") as fh:
                magic = fh.read(2)
            if magic == b"\x1f\x8b":
                import gzip

                return _CleanReader(gzip.open(self.xml_path, "rb"), self.xml_label)  # type: ignore[arg-type]
            return _CleanReader(self.xml_path.open("rb"), self.xml_label)
        assert self.xml_bytes is not None
        return _CleanReader(io.BytesIO(self.xml_bytes), self.xml_label)

    def read_route(self, ref: str) -> tuple[bytes, str] | None:
        """Bytes and label of a ``FileReference`` path such as ``/workout-routes/route_x.gpx``;
        ``None`` when the export does not hold it. Paths leaving the export are refused."""
        rel = ref.replace("\\", "/").lstrip("/")
        parts = PurePosixPath(rel).parts
        if not parts or ".." in parts or (len(rel) > 1 and rel[1] == ":"):
            log.warning("%s: route reference %r points outside the export; ignored", self.label, ref)
            return None
        if self.zf is not None and self.xml_member is not None:
            parent = str(PurePosixPath(self.xml_member.filename).parent)
            name = rel if parent in ("", ".") else f"{parent}/{rel}"
            info = self.members.get(name)
            if info is None:  # fall back to the same file name anywhere in the archive
                base = parts[-1]
                hits = [i for n, i in self.members.items() if PurePosixPath(n).name == base]
                info = hits[0] if len(hits) == 1 else None
            if info is None:
                return None
            return read_zip_member(self.zf, info, self.label), f"{self.label}!{info.filename}"
        if self.xml_path is not None:
            p = self.xml_path.parent.joinpath(*parts)
            if not p.is_file():
                return None
            return read_bytes(p, str(p), decompress=False).data, str(p)
        return None

    def close(self) -> None:
        if self.zf is not None:
            self.zf.close()


def _read_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, n: int = 1 << 16) -> bytes:
    """First ``n`` bytes of a zip member (for sniffing)."""
    try:
        with zf.open(info) as fh:
            return fh.read(n)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CorruptFile(f"{zf.filename or '<zip>'}!{info.filename}", f"corrupt zip member ({exc})") from exc


def _find_xml_in_folder(folder: Path, label: str) -> Path:
    for cand in (folder / "export.xml", folder / "apple_health_export" / "export.xml"):
        if cand.is_file():
            return cand
    for cand in sorted(folder.glob("*.xml")) + sorted(folder.glob("*/*.xml")):
        if "cda" in cand.name.lower():
            continue
        with cand.open("rb") as fh:
            head = fh.read(1 << 16)
        if b"<HealthData" in head or b"HealthKit Export" in head:
            return cand
    raise CorruptFile(label, "not an Apple Health export: no export.xml in the folder")


def is_apple_health_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an Apple Health ``export.zip``, ``export.xml`` or unpacked export
    folder. Never raises."""
    try:
        exp = _Export(path, None)
    except (Sub3Error, OSError, zipfile.BadZipFile):
        return False
    try:
        if exp.xml_path is not None:
            with exp.xml_path.open("rb") as fh:
                head = fh.read(1 << 16)
            return b"<HealthData" in head or b"HealthKit Export" in head
        return True
    except OSError:
        return False
    finally:
        exp.close()


# --------------------------------------------------------------------------------------------
# building workouts
# --------------------------------------------------------------------------------------------
def _route(exp: _Export, info: _WorkoutInfo) -> tuple[dict[str, np.ndarray], list[str]]:
    """Route columns (time_s, lat_deg, lon_deg, altitude_m, speed_mps) and the route labels."""
    from sub3coach.io.dispatch import read_file

    parts: list[Workout] = []
    labels: list[str] = []
    for ref in info.route_paths:
        try:
            found = exp.read_route(ref)
            if found is None:
                log.warning("%s: route %s of workout %s is not in the export; using heart rate only",
                            exp.label, ref, _iso(info.start_s))
                continue
            data, label = found
            parts.extend(w for w in read_file(data, name=label) if len(w))
            labels.append(label)
        except Sub3Error as exc:
            log.warning("route of workout %s unreadable (%s); using heart rate only", _iso(info.start_s), exc)
    cols: dict[str, np.ndarray] = {}
    if parts:
        t = np.concatenate([w.time_s for w in parts])
        for ch in ("lat_deg", "lon_deg", "altitude_m", "speed_mps"):
            arrs = [getattr(w, ch) if getattr(w, ch) is not None else np.full(len(w), np.nan) for w in parts]
            cols[ch] = np.concatenate(arrs)
        cols["time_s"] = t
    elif info.locations:
        loc = np.asarray(info.locations, dtype=np.float64)
        cols = {"time_s": loc[:, 0], "lat_deg": loc[:, 1], "lon_deg": loc[:, 2], "altitude_m": loc[:, 3], "speed_mps": loc[:, 4]}
        labels.append("<Location> elements")
    if cols:
        ok = np.isfinite(cols["time_s"])
        order = np.argsort(cols["time_s"][ok], kind="stable")
        cols = {k: v[ok][order] for k, v in cols.items()}
        if cols["time_s"].size > 1:  # drop repeated timestamps (keep the first)
            keep = np.concatenate([[True], np.diff(cols["time_s"]) > 0])
            cols = {k: v[keep] for k, v in cols.items()}
        if cols["time_s"].size == 0:
            cols = {}
    return cols, labels


def _build(exp: _Export, info: _WorkoutInfo, hr: _HeartRates) -> Workout | None:
    cols, route_labels = _route(exp, info)
    t_hr, v_hr = hr.window(info.start_s, info.end_s, info.source_name)
    if not cols and t_hr.size == 0:
        log.info("%s: skipping %s workout at %s: no route and no heart-rate samples",
                 exp.label, info.activity_type or "unknown", _iso(info.start_s))
        return None
    if cols:
        time_s = cols["time_s"]
        hr_bpm = interpolate_samples(time_s, t_hr, v_hr) if t_hr.size else None
    else:
        time_s, hr_bpm = t_hr, v_hr
    indoor = info.metadata.get("HKIndoorWorkout")
    meta: dict[str, Any] = {
        "apple_activity_type": info.activity_type,
        "apple_start_time": _iso(info.start_s),
        "apple_end_time": _iso(info.end_s),
        "apple_source_name": info.source_name,
        "apple_device": info.device,
        "route": route_labels[0] if len(route_labels) == 1 else (route_labels or None),
        "hr_samples": int(t_hr.size),
        "indoor": None if indoor is None else indoor.strip() in ("1", "true", "YES", "yes"),
        "apple_metadata": info.metadata,
    }
    return Workout(
        time_s=time_s,
        hr_bpm=hr_bpm,
        lat_deg=_finite_or_none(cols.get("lat_deg")),
        lon_deg=_finite_or_none(cols.get("lon_deg")),
        altitude_m=_finite_or_none(cols.get("altitude_m")),
        speed_mps=_finite_or_none(cols.get("speed_mps")),
        sport=info.sport,
        sub_sport="treadmill" if meta["indoor"] and info.sport == "run" else None,
        source=f"{exp.label}#{info.activity_type or 'workout'}@{_iso(info.start_s)}",
        source_format="apple_health",
        device=info.source_name,
        device_distance_m=info.distance_m,
        device_elapsed_s=info.duration_s,
        metadata=meta,
    )


def _finite_or_none(a: np.ndarray | None) -> np.ndarray | None:
    return a if a is not None and np.isfinite(a).any() else None


def iter_apple_health(src: Source, *, name: str | None = None,
                      sports: Iterable[str] | None = ("run",)) -> Iterator[Workout]:
    """Yield the workouts of an Apple Health export, one at a time.

    Args:
        src: ``export.zip`` or ``export.xml`` (optionally gzipped), or the unpacked export
            folder, as a path; a zip or XML as bytes or a binary file object also works.
        name: label for messages and ``Workout.source``.
        sports: normalised sports to keep (``"run"``, ``"walk"``...); ``None`` keeps all.

    Each workout: ``time_s`` from the route points (or the heart-rate samples when there is no
    route), ``lat_deg``/``lon_deg``/``altitude_m`` from the route, ``hr_bpm`` interpolated
    from the heart-rate records of the workout's time window (NaN further than
    :data:`HR_MAX_GAP_S` from a real sample), ``device_distance_m`` (metres) and
    ``device_elapsed_s`` (the workout's ``duration``, seconds), ``device`` = ``sourceName``,
    ``source_format="apple_health"``. Workouts with neither route nor heart rate are skipped
    (logged).

    Raises:
        CorruptFile: malformed or truncated XML, entity declarations (XML bomb), not an export.
        UnsafeArchive: zip slip or zip bomb in ``export.zip``.
    """
    keep = None if sports is None else frozenset(normalise_sport(s) for s in sports)
    exp = _Export(src, name)
    try:
        with exp.open_xml() as stream:
            infos, hr = _parse(stream, exp.xml_label, keep)
        log.info("%s: %d workouts selected, %d heart-rate samples", exp.label, len(infos), len(hr))
        for info in infos:
            w = _build(exp, info, hr)
            if w is not None:
                yield w
    finally:
        exp.close()
