"""GPX 1.0 / 1.1 reader: one :class:`~sub3coach.workout.Workout` per ``<trk>`` with points.

Parsing streams element by element (:func:`iter_xml`: the C ElementTree parser for documents
without a DTD, :mod:`defusedxml` for any document with one, so entity-expansion bombs and
external entities are refused). Each ``<trkpt>`` is collected as raw text and cleared; the
columns are converted to numbers in bulk by numpy at the end (~50k points/s of CPU time on
verbose Garmin files, about twice gpxpy's speed).

What is read (all converted to SI at this edge):

* ``lat``/``lon`` attributes -> ``lat_deg``/``lon_deg`` (NaN when missing or out of range);
* ``<ele>`` -> ``altitude_m``; ``<time>`` -> ``time_s`` (unix seconds UTC);
* heart rate from any extension element whose local name is ``hr``, ``heartrate``,
  ``heart_rate`` or ``heartratebpm`` (Garmin TrackPointExtension v1/v2 ``gpxtpx:hr`` or
  ``ns3:hr``, Cluetrust ``gpxdata:hr``, plain ``<heartrate>``/``<hr>``); ``0`` means "no reading";
* cadence from ``cad``/``cadence``/``runcadence``; power from ``power``/``powerinwatts``/``watts``
  (Strava's ``<power>``); ``atemp``/``wtemp`` and other extensions are ignored;
* device speed only where the file states it (GPX 1.0 ``<speed>`` or TrackPointExtension v2
  ``gpxtpx:speed``), never computed here: cleaning derives speed from positions.

Cadence rule: Garmin and most watches write running cadence in GPX as *per-leg* revolutions
per minute (strides, e.g. 85), so when the track's sport normalises to ``run`` the value is
doubled to steps per minute (170). For other sports (cycling rpm) and tracks of unknown
sport it is kept as written.

Keep-app GPX files count time from 1970-01-01 (a clock relative to the start) and often
carry one first point with an absurd absolute time (year 7505). Such tracks keep their
relative times unchanged, get ``metadata["relative_time"] = True``, and drop the points
whose time is inconsistent with the relative clock (counted in
``metadata["dropped_time_outliers"]``). Points without any ``<time>`` in a timed track are
dropped (``metadata["points_without_time"]``).
"""
from __future__ import annotations

import io
import logging
import math
import re
from datetime import datetime, timezone
from typing import Any, Iterator
import xml.etree.ElementTree as _ET
from xml.etree.ElementTree import Element, ParseError

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from sub3coach.errors import CorruptFile, NotAnActivity
from sub3coach.io._source import Source, guard_reader, read_bytes
from sub3coach.workout import Workout, normalise_sport

log = logging.getLogger(__name__)

__all__ = ["read_gpx", "parse_time_s", "times_s", "floats", "iter_xml", "RELATIVE_TIME_LIMIT_S"]

#: A track whose median timestamp is below this many unix seconds (~116 days after
#: 1970-01-01) uses a relative clock (Keep app), not real dates.
RELATIVE_TIME_LIMIT_S = 1.0e7

_HR_NAMES = frozenset({"hr", "heartrate", "heart_rate", "heartratebpm"})
_CAD_NAMES = frozenset({"cad", "cadence", "runcadence"})
_POWER_NAMES = frozenset({"power", "powerinwatts", "watts"})

#: Strava writes its activity type as a number in ``<trk><type>`` (e.g. 9 = Run).
_STRAVA_TYPES: dict[str, str] = {
    "1": "ride", "4": "hike", "9": "run", "10": "walk", "16": "swim",
    "17": "virtualride", "18": "ebikeride", "33": "virtualrun",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ISO_RE = re.compile(
    r"^\s*(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?\s*"
    r"(Z|z|[+-]\d\d(?::?\d\d)?)?\s*$"
)


# ----- shared XML helpers (also used by sub3coach.io.tcx) --------------------------------------

def parse_time_s(text: str | None) -> float:
    """Parse an ISO 8601 timestamp into unix seconds (UTC); NaN when absent or unparsable.

    Accepts ``Z`` or ``±HH:MM`` offsets, any number of fractional digits, and a missing zone
    (taken as UTC, which GPX and TCX mandate)."""
    if not text:
        return math.nan
    m = _ISO_RE.match(text)
    if m is None:
        return math.nan
    year, mon, day, hh, mm, ss, frac, tz = m.groups()
    try:
        dt = datetime(int(year), int(mon), int(day), int(hh), int(mm), int(ss or 0), tzinfo=timezone.utc)
    except ValueError:
        return math.nan
    secs = (dt - _EPOCH).total_seconds()
    if frac:
        frac = frac[:9]  # nanoseconds are plenty; 5,000 digits would overflow int()
        secs += int(frac) / 10 ** len(frac)
    if tz and tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        off = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) >= 4 else 0)
        secs -= sign * off
    return float(secs)


def to_float(text: str | None) -> float:
    """``float(text)`` or NaN for missing/garbled numbers."""
    if text is None:
        return math.nan
    try:
        v = float(text)
    except ValueError:
        return math.nan
    return v if math.isfinite(v) else math.nan


def prepare_xml(data: bytes) -> bytes:
    """Strip a UTF-8 byte-order mark and leading whitespace (some Garmin TCX files start with
    spaces before ``<?xml``, which expat refuses)."""
    while True:  # any number of UTF-8 byte-order marks and blanks, in any order
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        elif data[:1] in (b" ", b"\t", b"\r", b"\n"):
            data = data.lstrip(b" \t\r\n")
        else:
            return data


_DECL_RE = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([^\"'>]*)[\"'][^>]*\?>")


def _to_utf8(data: bytes, label: str, what: str) -> bytes:
    """Transcode UTF-16 (BOM or NUL-interleaved) and encodings expat does not know (e.g.
    windows-1252) to UTF-8, rewriting the XML declaration; UTF-8/ASCII/Latin-1 pass through."""
    enc: str | None = None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        enc = "utf-16"
    elif len(data) >= 2 and (data[0] == 0 or data[1] == 0):
        enc = "utf-16-be" if data[0] == 0 else "utf-16-le"
    if enc is not None:
        try:
            text = data.decode(enc).lstrip("\ufeff \t\r\n")
        except UnicodeDecodeError as exc:
            raise CorruptFile(label, f"{what} file is not valid UTF-16 ({exc.reason})") from exc
        data = re.sub(r"^<\?xml[^>]*\?>", "", text, count=1).encode("utf-8")
        return b'<?xml version="1.0" encoding="UTF-8"?>' + data
    m = _DECL_RE.match(data)
    if m is None:
        return data
    name = m.group(1).decode("ascii", "replace")
    canon = _canonical_encoding(name)
    if canon is None:
        raise CorruptFile(label, f"{what} file declares an unknown or non-text encoding ({name[:40]})")
    if canon.startswith(("utf-16", "utf-32")):
        # declared UTF-16/32 but stored as 8-bit text (no BOM, no NUL bytes): a common mislabel
        return b'<?xml version="1.0" encoding="UTF-8"?>' + data[m.end():]
    if canon in _EXPAT_CODECS and m.group(1).lower() in _EXPAT_NAMES:
        return data  # expat reads these itself: no copy of a large file
    try:
        text = data[m.end():].decode(canon)
    except (UnicodeError, ValueError) as exc:
        raise CorruptFile(label, f"{what} file in an unreadable encoding ({name[:40]})") from exc
    return b'<?xml version="1.0" encoding="UTF-8"?>' + text.encode("utf-8", "replace")


#: Python codec names of the encodings expat reads itself.
_EXPAT_CODECS = frozenset({"utf-8", "ascii", "latin-1", "iso8859-1"})
#: Spellings of them that expat itself knows.
_EXPAT_NAMES = frozenset({b"utf-8", b"us-ascii", b"iso-8859-1"})


def _canonical_encoding(name: str) -> str | None:
    """Python's canonical name of a text encoding (``utf_16_be`` -> ``utf-16-be``), or None
    for unknown names and codecs that are not text encodings (base64, rot13...)."""
    import codecs

    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in ("idna", "punycode", "utf-7", "unicode-escape", "raw-unicode-escape"):
        return None
    return info.name


def iter_xml(data: bytes, label: str, what: str) -> Iterator[Element]:
    """Yield elements at their end tag (see :func:`iter_xml_events`)."""
    for _event, elem in iter_xml_events(data, label, what, ("end",)):
        yield elem


def iter_xml_events(data: bytes, label: str, what: str,
                    events: tuple[str, ...] = ("start", "end")) -> Iterator[tuple[str, Element]]:
    """Yield ``(event, element)`` pairs (``start``/``end``) from a safe streaming parse.

    Memory: the parser builds the tree as it goes; callers free each element at its end
    (:class:`TreePruner`) so that only the open elements stay alive, whatever the file holds.

    Safety: entity-expansion bombs ("billion laughs", quadratic blow-up) and external
    entities all need a document type declaration. A document without ``<!DOCTYPE`` (after
    transcoding to UTF-8, so the byte search cannot be dodged by the encoding) therefore
    goes through the C-accelerated ElementTree parser; any document with a DTD goes through
    :mod:`defusedxml`, which refuses entity declarations and external references.

    Raises :class:`CorruptFile` (one line) for malformed, truncated or unsafe XML."""
    data = prepare_xml(data)
    if not data:
        raise CorruptFile(label, f"empty {what} file")
    data = _to_utf8(data, label, what)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        stream: Iterator[tuple[str, Element]] = iterparse(io.BytesIO(data), events=events, forbid_dtd=False)
    else:
        stream = _ET.iterparse(io.BytesIO(data), events=events)
    del data  # the parser holds the only reference: freed as it goes (a transcoded copy)
    try:
        yield from stream
    except ParseError as exc:
        detail = str(exc).split("\n")[0]
        if "no element found" in detail or "unclosed token" in detail:
            raise CorruptFile(label, f"truncated {what} file (XML ends early: {detail})") from exc
        raise CorruptFile(label, f"malformed {what} XML ({detail})") from exc
    except DefusedXmlException as exc:
        raise CorruptFile(label, f"{what} XML declares entities or external references, refused as unsafe ({type(exc).__name__})") from exc
    except (ValueError, LookupError) as exc:  # expat: an encoding it cannot read; UnicodeError
        raise CorruptFile(label, f"{what} XML in an unreadable encoding ({type(exc).__name__}: {str(exc)[:80]})") from exc


_LOCAL_CACHE: dict[str, str] = {}


def local_name(tag: Any) -> str:
    """Lower-case local part of a (possibly namespaced) tag: ``{ns}TrackPointExtension`` ->
    ``trackpointextension``; comments and processing instructions give ``""``."""
    if not isinstance(tag, str):
        return ""
    ln = _LOCAL_CACHE.get(tag)
    if ln is None:
        ln = tag.rpartition("}")[2].rpartition(":")[2].lower()
        if len(_LOCAL_CACHE) < 4096:
            _LOCAL_CACHE[tag] = ln
    return ln


def floats(values: list[str | None]) -> np.ndarray:
    """Numbers as written (strings, None where absent) -> float64, NaN for absent/garbled/inf.

    The conversion runs in numpy's C loop; only a column holding a garbled number falls
    back to converting one value at a time."""
    try:
        arr = np.array(["nan" if v is None else v for v in values], dtype=np.float64)
    except ValueError:
        arr = np.array([to_float(v) for v in values], dtype=np.float64)
    arr[~np.isfinite(arr)] = np.nan
    return arr


#: The one form numpy parses exactly as ISO 8601 UTC (anything else goes through parse_time_s).
_FAST_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z")


def times_s(values: list[str | None]) -> np.ndarray:
    """ISO 8601 timestamps (strings, None where absent) -> unix seconds, NaN where unparsable.

    The common ``YYYY-MM-DDTHH:MM:SS[.fff]Z`` form is parsed by numpy in one go; anything
    else (offsets, missing values, odd forms) goes through :func:`parse_time_s`."""
    fast = _FAST_TIME_RE.fullmatch
    if values and all(v is not None and fast(v) for v in values):
        try:
            us = np.array([v[:-1] for v in values], dtype="datetime64[us]").astype(np.int64)  # type: ignore[index]
            return us.astype(np.float64) / 1e6
        except ValueError:
            pass
    return np.array([parse_time_s(v) for v in values], dtype=np.float64)


# ----- GPX ---------------------------------------------------------------------------------

# element kinds, looked up by full tag (namespace included) through a cache
(_K_OTHER, _K_GPX, _K_NAME, _K_TYPE, _K_TRKPT, _K_TRKSEG, _K_TRK, _K_METADATA, _K_TIME, _K_ELE, _K_EXT, _K_SPEED,
 _K_HR, _K_CAD, _K_PW) = range(15)  # _K_HR, _K_CAD, _K_PW last and in this order
_KIND_BY_LOCAL = {"gpx": _K_GPX, "name": _K_NAME, "type": _K_TYPE, "trkpt": _K_TRKPT, "trkseg": _K_TRKSEG, "trk": _K_TRK,
                  "metadata": _K_METADATA, "time": _K_TIME, "ele": _K_ELE, "extensions": _K_EXT, "speed": _K_SPEED}
_KIND_BY_LOCAL.update({n: _K_HR for n in _HR_NAMES})
_KIND_BY_LOCAL.update({n: _K_CAD for n in _CAD_NAMES})
_KIND_BY_LOCAL.update({n: _K_PW for n in _POWER_NAMES})
_KINDS: dict[Any, int] = {}


def _kind(tag: Any) -> int:
    k = _KINDS.get(tag)
    if k is None:
        k = _KIND_BY_LOCAL.get(local_name(tag), _K_OTHER)
        if len(_KINDS) < 4096:
            _KINDS[tag] = k
    return k


class ColumnText:
    """Text of sample columns collected from XML (None where absent), converted to float64
    every :data:`CHUNK` points, so a long track holds 8 bytes per value instead of a Python
    string (~60 bytes). ``t`` is converted by :func:`times_s`, the rest by :func:`floats`.
    Call :meth:`point_done` after each point; :meth:`column` gives a whole column."""

    #: Points collected as text before conversion.
    CHUNK = 16384
    #: Column names (list attributes of text); subclasses set them.
    COLUMNS: tuple[str, ...] = ("t",)

    def __init__(self) -> None:
        for c in self.COLUMNS:
            setattr(self, c, [])
        self._done: dict[str, list[np.ndarray]] = {c: [] for c in self.COLUMNS}
        self._n_done = 0

    def __len__(self) -> int:
        return self._n_done + len(self.t)  # type: ignore[attr-defined]

    def point_done(self) -> None:
        """One point complete: convert the collected text once a chunk is full."""
        if len(self.t) >= self.CHUNK:  # type: ignore[attr-defined]
            self._flush()

    def _flush(self) -> None:
        self._n_done += len(self.t)  # type: ignore[attr-defined]
        for c in self.COLUMNS:
            vals = getattr(self, c)
            if vals:
                self._done[c].append(times_s(vals) if c == "t" else floats(vals))
                vals.clear()

    def column(self, name: str) -> np.ndarray:
        """The whole column ``name`` as float64 (NaN where absent or unparsable)."""
        self._flush()
        parts = self._done[name]
        return np.concatenate(parts) if parts else np.zeros(0)


class _Track(ColumnText):
    """Raw text of one ``<trk>``'s points being collected (None where absent)."""

    COLUMNS = ("t", "lat", "lon", "ele", "hr", "cad", "pw", "spd")

    def __init__(self) -> None:
        super().__init__()
        self.t: list[str | None]
        self.lat: list[str | None]
        self.name: str | None = None
        self.type: str | None = None


class TreePruner:
    """Frees each parsed element at its end tag (shared by the GPX and TCX readers).

    ``start``/``end`` events are fed in; :meth:`end` removes the ended element from its
    parent, so the tree never holds more than the open elements, whatever the file holds
    (callers read an element's text at its end, before this). Without it, elements outside
    the track points (15M empty elements under the root of a 60 MB file) stayed alive: 1.3 GB."""

    __slots__ = ("stack", "root", "label", "what")

    #: Deepest element nesting accepted (real files: under 10); open elements cannot be freed.
    MAX_DEPTH = 256

    def __init__(self, label: str = "<bytes>", what: str = "XML") -> None:
        self.stack: list[tuple[Element, int]] = []
        self.root: Element | None = None
        self.label, self.what = label, what

    def start(self, elem: Element, kind: int) -> None:
        """An element opened.

        Raises:
            CorruptFile: elements nested deeper than :data:`MAX_DEPTH`."""
        if self.root is None:
            self.root = elem
        if len(self.stack) >= self.MAX_DEPTH:
            raise CorruptFile(self.label, f"{self.what} elements nested deeper than {self.MAX_DEPTH} levels")
        self.stack.append((elem, kind))

    def end(self) -> None:
        """The innermost open element closed (after the caller read it): free it."""
        elem, _ = self.stack.pop()
        if self.stack:
            parent = self.stack[-1][0]
            # events come a parse chunk (16 KiB) behind the parser: later siblings may already
            # hang on the parent, but every earlier one is gone, so this one is first
            if len(parent) and parent[0] is elem:
                del parent[0]
            else:  # pragma: no cover - defensive: never leave a subtree alive
                elem.clear()

    def parent_kind(self, up: int = 1) -> int:
        """Kind of the ``up``-th enclosing open element (-1 when there is none)."""
        return self.stack[-1 - up][1] if len(self.stack) > up else -1


class _PointCollector:
    """Streaming state of :func:`read_gpx`: the track being collected and the values of the
    open ``<trkpt>``."""

    def __init__(self) -> None:
        self.tracks: list[_Track] = []
        self.cur = _Track()
        self.meta_name: str | None = None
        self.top_ext: dict[str, float] = {}
        self.pt: list[str | None] | None = None  # t, ele, hr, cad, pw, spd of the open point
        self.ext_depth = 0
        self.pt_depth = 0
        self.any_time = False  # whether any point has a <time>
        self.child_text: str | None = None  # first text of a child of an open <hr>/<cad>/<power>

    def start(self, elem: Element, k: int, pr: TreePruner) -> None:
        if k >= _K_HR:
            self.child_text = None
        if k == _K_TRKPT and self.pt is None:  # a <trkpt> nested in another is not a point
            self.pt_depth = len(pr.stack)
            self.pt = [None] * 6
            self.cur.lat.append(elem.get("lat"))
            self.cur.lon.append(elem.get("lon"))
        elif k == _K_EXT:
            self.ext_depth += 1

    def end(self, elem: Element, k: int, pr: TreePruner) -> None:
        pk = pr.parent_kind()
        pt = self.pt
        if k == _K_EXT:
            self.ext_depth -= 1
        if pt is not None:
            if k == _K_TRKPT and len(pr.stack) == self.pt_depth:
                t = self.cur
                t.t.append(pt[0]); t.ele.append(pt[1]); t.hr.append(pt[2])  # noqa: E702
                t.cad.append(pt[3]); t.pw.append(pt[4]); t.spd.append(pt[5])  # noqa: E702
                self.any_time = self.any_time or pt[0] is not None
                t.point_done()
                self.pt = None
            elif k == _K_TIME and pk == _K_TRKPT:
                pt[0] = elem.text
            elif k == _K_ELE and pk == _K_TRKPT:
                pt[1] = elem.text
            elif k == _K_SPEED and (pk == _K_TRKPT or self.ext_depth):
                pt[5] = elem.text
            elif k >= _K_HR and self.ext_depth:
                text = elem.text
                if text is None or text.isspace():
                    text = self.child_text  # <HeartRateBpm><Value>150</Value>
                pt[2 + k - _K_HR] = text
            elif pk >= _K_HR and self.child_text is None and elem.text and not elem.text.isspace():
                self.child_text = elem.text
            return
        if k == _K_TRK:
            self.tracks.append(self.cur)
            self.cur = _Track()
        elif k == _K_NAME and pk == _K_TRK and elem.text and elem.text.strip():
            self.cur.name = elem.text.strip()
        elif k == _K_TYPE and pk == _K_TRK and elem.text:
            self.cur.type = elem.text
        elif k == _K_NAME and pk == _K_METADATA and elem.text and elem.text.strip():
            self.meta_name = elem.text.strip()
        elif pk == _K_EXT and pr.parent_kind(2) == _K_GPX:  # running_page/Garmin summary values
            v = to_float(elem.text)
            if math.isfinite(v):
                self.top_ext[local_name(elem.tag)] = v


def _column(arr: np.ndarray, keep: np.ndarray | None) -> np.ndarray | None:
    """The kept part of a float64 column, or None when no sample has a value."""
    if keep is not None:
        arr = arr[keep]
    return arr if np.isfinite(arr).any() else None


def _sport_from_type(type_text: str | None) -> tuple[str, str | None]:
    """Normalised sport and the raw label from a ``<trk><type>``."""
    if not type_text or not type_text.strip():
        return "unknown", None
    raw = type_text.strip()
    if raw.isdigit():
        label = _STRAVA_TYPES.get(raw)
        return (normalise_sport(label) if label else "other"), raw
    return normalise_sport(raw), raw


@guard_reader("GPX")
def read_gpx(src: Source, *, name: str | None = None) -> list[Workout]:
    """Read a GPX 1.0/1.1 file (path, bytes or binary file object; gzip is fine).

    Returns one workout per ``<trk>`` that has points, in file order; segments of a track
    are concatenated (a gap between segments is a pause for cleaning to see). Units: see the
    module docstring. Speed is only filled where the file states it.

    Raises:
        CorruptFile: empty file, malformed/truncated XML, XML bomb, not a GPX document, or
            a GPX whose track points carry no timestamps.
        NotAnActivity: a valid GPX with no track points (routes or waypoints only).
    """
    blob = read_bytes(src, name)
    label = blob.name
    col = _PointCollector()
    pruner = TreePruner(label, "GPX")
    kinds = _KINDS
    for event, elem in iter_xml_events(blob.data, label, "GPX"):
        k = kinds.get(elem.tag)
        if k is None:
            k = _kind(elem.tag)
        if event == "start":
            pruner.start(elem, k)
            if k or col.ext_depth or col.pt is not None:  # an unknown element outside points: nothing to read
                col.start(elem, k, pruner)
        else:
            if k or col.ext_depth or col.pt is not None:
                col.end(elem, k, pruner)
            pruner.end()
    root = pruner.root
    if root is None or local_name(root.tag) != "gpx":
        what = local_name(root.tag) if root is not None else "nothing"
        raise CorruptFile(label, f"not a GPX document (root element is <{what}>, expected <gpx>)")
    tracks, meta_name, top_ext = col.tracks, col.meta_name, col.top_ext
    creator = root.get("creator")
    version = root.get("version")

    with_points = [t for t in tracks if len(t)]
    if not with_points:
        raise NotAnActivity(label, "GPX has no track points (routes or waypoints only)")
    if not col.any_time:
        raise CorruptFile(label, "GPX has no timestamps (a planned route, not a recording)")

    workouts: list[Workout] = []
    for i, trk in enumerate(with_points):
        w = _track_to_workout(trk, label, creator=creator, version=version, meta_name=meta_name, index=i)
        if w is None:
            continue
        if len(with_points) == 1:
            if "distance" in top_ext:
                w.device_distance_m = top_ext["distance"]
            if "elapsed_time" in top_ext:
                w.device_elapsed_s = top_ext["elapsed_time"]
            if "moving_time" in top_ext:
                w.metadata["moving_time_s"] = top_ext["moving_time"]
        workouts.append(w)
    if not workouts:
        raise CorruptFile(label, "GPX has no timestamps (a planned route, not a recording)")
    log.debug("read %d track(s), %d points from %s", len(workouts), sum(len(w) for w in workouts), label)
    return workouts


def _track_to_workout(trk: _Track, label: str, *, creator: str | None, version: str | None,
                      meta_name: str | None, index: int) -> Workout | None:
    """Turn collected columns into a Workout (None when the track has no timestamps)."""
    t = trk.column("t")
    timed = np.isfinite(t)
    if not timed.any():
        log.warning("%s: track %d has no timestamps, skipped", label, index)
        return None
    metadata: dict[str, Any] = {}
    if creator:
        metadata["creator"] = creator
    if version:
        metadata["gpx_version"] = version
    if index:
        metadata["track_index"] = index
    keep = timed
    n_untimed = int((~timed).sum())
    if n_untimed:
        metadata["points_without_time"] = n_untimed
    if float(np.median(t[timed])) < RELATIVE_TIME_LIMIT_S:
        metadata["relative_time"] = True
        outlier = timed & ((t >= RELATIVE_TIME_LIMIT_S) | (t < 0))
        if outlier.any():
            metadata["dropped_time_outliers"] = int(outlier.sum())
            keep = timed & ~outlier
        log.info("%s: relative (1970-based) timestamps kept as they are", label)
        hint = keep_app_start_hint(label)
        if hint is not None:
            metadata["start_hint"] = hint
    sport, raw_type = _sport_from_type(trk.type)
    if raw_type is not None:
        metadata["gpx_type"] = raw_type
    lat, lon = trk.column("lat"), trk.column("lon")
    bad_pos = ~((np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0))
    lat[bad_pos] = np.nan
    lon[bad_pos] = np.nan
    hr, cad, pw, spd = (trk.column(c) for c in ("hr", "cad", "pw", "spd"))
    with np.errstate(invalid="ignore"):
        hr[hr <= 0] = np.nan  # 0 = no reading
        for arr in (cad, pw, spd):
            arr[arr < 0] = np.nan
    cad_col = _column(cad, keep)
    if cad_col is not None and sport == "run":
        cad_col = cad_col * 2.0
        metadata["cadence_doubled"] = True
    return Workout(
        time_s=t[keep],
        hr_bpm=_column(hr, keep),
        speed_mps=_column(spd, keep),
        altitude_m=_column(trk.column("ele"), keep),
        lat_deg=_column(lat, keep),
        lon_deg=_column(lon, keep),
        cadence_spm=cad_col,
        power_w=_column(pw, keep),
        sport=sport,
        name=trk.name or meta_name,
        source=label,
        source_format="gpx",
        metadata=metadata,
    )


#: Keep-app file ids are ``Long.MAX_VALUE - start in ms``.
_JAVA_LONG_MAX = 2**63 - 1


def keep_app_start_hint(name: str) -> float | None:
    """True start (unix s) of a Keep-app GPX whose times count from 1970, from its file name.

    Keep names each export by ``Long.MAX_VALUE - start_ms``; a 19-digit number in the file
    name that decodes to a date between 2010 and 2100 is taken as that id. ``None`` otherwise."""
    import re

    for m in re.finditer(r"(?<!\d)(\d{19})(?!\d)", name.rsplit("/", 1)[-1]):
        start_s = (_JAVA_LONG_MAX - int(m.group(1))) / 1000.0
        if 1_262_304_000 <= start_s <= 4_102_444_800:  # 2010..2100
            return start_s
    return None
