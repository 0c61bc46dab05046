"""Training-history readers: one :class:`~sub3coach.workout.RunSummary` per activity row.

Formats (:data:`HISTORY_FORMATS`, detected from content by :func:`detect_history_format`):

``running_page_json``
    running_page ``activities.json``: a JSON list of objects with ``run_id``, ``name``,
    ``distance`` (m), ``moving_time`` (``"H:MM:SS[.ffffff]"`` or ``"N days, H:MM:SS"``),
    ``type``/``subtype``, ``start_date`` (**UTC**), ``start_date_local``,
    ``average_heartrate``, ``average_speed`` (m/s), ``elevation_gain`` (m), optional
    ``max_heartrate``, ``average_cadence``...
``strava_csv``
    Strava bulk-export ``activities.csv``, both generations. The current one repeats column
    names: the first ``Distance`` is in **km** (2 decimals) and the second in **metres**; the
    first ``Elapsed Time`` is rounded, the second exact. We take the later (metre / exact) column
    and fall back to the first (km x 1000) only when the later one is empty. The 2018 generation
    (``id,date,name,type,description,elapsed_time,distance,...``) has a single distance in
    metres. (For swims Strava writes the first ``Distance`` in metres too, e.g. ``"1,609"``.)
    ``Activity Date`` / ``date`` is the **UTC** start.
``garmin_csv``
    Garmin Connect activity list (API fields flattened: ``activityId``, ``startTimeGMT``,
    ``startTimeLocal``, ``distance`` (m), ``duration``, ``elapsedDuration``,
    ``movingDuration`` (s), ``averageHR``, ``maxHR``, ``elevationGain`` (m),
    ``activityType_typeKey``...). ``startTimeGMT`` (else ``beginTimestamp``, ms) is the UTC start.
``simple_csv``
    a plain log ``date,dist_m,mov_s[,hr,intensity,load,name]`` (intervals.icu-style). Sport
    comes from a ``sport``/``type`` column when there is one, else from the name when it names a
    sport, else ``run`` (it is a running log).
``many_runners_csv``
    ``;``-separated ``Athlete;Gender;Timestamp;Distance;ElapsedTime;ElevationGain;
    AverageHeartRate`` (Timestamp ``dd/mm/YYYY HH:MM``, distance m, time s): one row per run of
    many runners; ``user_id`` is the athlete id and ``gender`` ``male``/``female``. All rows are
    runs.

Times: ``start_time`` is always timezone-aware UTC. When a file only gives a local wall-clock
time without an offset (``many_runners_csv``; naive times in ``simple_csv``; a Garmin row
without GMT columns) that wall-clock time is used **as if it were UTC** and
``metadata["local_time_as_utc"] = True``: the day and time of day stay the runner's own, which
is what weekly training features need, at the cost of an offset of a few hours in absolute time.
A date without a time (``simple_csv``) becomes **12:00 UTC** of that date (so that the calendar
day is the same in any time zone from UTC-11 to UTC+11) with ``metadata["date_only"] = True``.

Row checks: a row with an unreadable date, a date in the future, a negative distance or
duration, or (for runs, walks and hikes) an average pace faster than 2:00/km is skipped with a
logged warning and counted (:attr:`HistoryReader.skipped`, :attr:`HistoryReader.skip_reasons`).
A zero distance becomes ``None`` (not recorded); heart rates outside 20-250 BPM become ``None``.
If more than half of the rows are unusable the file is refused with :class:`CorruptFile`
saying why. Extra fields (name, type, gear, cadence, ids...) are kept in ``metadata``; every
summary also has ``metadata["format"]``.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from sub3coach.errors import CorruptFile
from sub3coach.io._source import Source, read_bytes, source_name
from sub3coach.workout import RunSummary, normalise_sport

log = logging.getLogger(__name__)

HISTORY_FORMATS: tuple[str, ...] = (
    "running_page_json", "strava_csv", "garmin_csv", "simple_csv", "many_runners_csv",
)

#: Fastest plausible average pace for a run (and walk/hike), seconds per km.
MIN_RUN_PACE_S_PER_KM = 120.0
#: Below this distance (m) the pace check is not applied (GPS glitches on tiny activities).
PACE_CHECK_MIN_DISTANCE_M = 200.0
#: A start this far past "now" counts as "in the future" (clock skew, time zones).
FUTURE_TOLERANCE = timedelta(days=1)
#: Heart rates outside this range are treated as not recorded.
HR_RANGE_BPM = (20.0, 250.0)
#: Individual skipped rows logged before only the total is reported.
MAX_LOGGED_SKIPS = 20

_PACE_CHECKED_SPORTS = ("run", "walk", "hike")

#: Required columns of each CSV layout (for detection and for the "missing columns" message).
_CSV_REQUIRED: dict[str, tuple[str, ...]] = {
    "strava_csv": ("Activity Date", "Activity Type", "Distance", "Elapsed Time"),
    "strava_csv_2018": ("date", "type", "elapsed_time", "distance"),
    "garmin_csv": ("activityType_typeKey", "startTimeGMT", "distance", "duration"),
    "simple_csv": ("date", "dist_m", "mov_s"),
    "many_runners_csv": ("Athlete", "Timestamp", "Distance", "ElapsedTime"),
}
_CSV_FORMAT_OF = {"strava_csv_2018": "strava_csv"}

_TAG_RE = re.compile(r"<[^>]+>")


# --------------------------------------------------------------------------- small parsers
def _f(v: Any) -> float | None:
    """A finite float from a cell, or None."""
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        x = float(v)
    else:
        s = str(v).strip().replace("\u00a0", "")
        if not s or s.lower() in ("nan", "none", "null", "--", "-"):
            return None
        s = s.replace(",", "") if re.fullmatch(r"-?[\d,]+(\.\d+)?", s) else s
        try:
            x = float(s)
        except ValueError:
            return None
    return x if math.isfinite(x) else None


def _s(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


_TD_RE = re.compile(r"^\s*(?:(\d+)\s+days?,\s*)?(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*$")


def parse_duration_s(v: Any) -> float | None:
    """Seconds from ``"H:MM:SS[.ffffff]"``, ``"N day(s), H:MM:SS"``, ``"MM:SS"`` or a number."""
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _f(v)
    s = str(v).strip()
    if not s:
        return None
    m = _TD_RE.match(s)
    if m:
        d, h, mi, se = m.groups()
        return int(d or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(se)
    m2 = re.fullmatch(r"(\d+):(\d{1,2}(?:\.\d+)?)", s)
    if m2:
        return int(m2.group(1)) * 60 + float(m2.group(2))
    return _f(s)


_DATE_FORMATS = (
    "%b %d, %Y, %I:%M:%S %p",  # Strava (en-US): Aug 28, 2019, 3:21:51 AM
    "%d %b %Y, %H:%M:%S",      # Strava (en-GB): 21 Feb 2024, 01:17:32
    "%b %d, %Y %I:%M:%S %p",
    "%d %b %Y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M",          # many-runners table
    "%d/%m/%Y %H:%M:%S",
)


def parse_datetime(v: Any, *, dayfirst_formats: tuple[str, ...] = ()) -> tuple[datetime, bool] | None:
    """Parse a date-time cell.

    Returns:
        ``(datetime, aware)``: ``aware`` tells whether the text carried a UTC offset (the
        datetime is then converted to UTC); a naive result is returned with ``tzinfo=UTC`` and
        ``aware=False`` (the caller decides what it means). ``None`` when unreadable.
    """
    s = _s(v)
    if s is None:
        return None
    for fmt in dayfirst_formats:
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc), False
        except ValueError:
            pass
    iso = s.replace("Z", "+00:00") if s.endswith("Z") else s
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        dt = None
        for fmt in _DATE_FORMATS:
            try:
                dt = datetime.strptime(s, fmt)
                break
            except ValueError:
                continue
        if dt is None:
            return None
    if dt.tzinfo is not None:
        return dt.astimezone(timezone.utc), True
    return dt.replace(tzinfo=timezone.utc), False


def _hr(v: Any) -> float | None:
    x = _f(v)
    if x is None or not (HR_RANGE_BPM[0] <= x <= HR_RANGE_BPM[1]):
        return None
    return x


def _gender(v: Any) -> str | None:
    s = (_s(v) or "").lower()
    return {"m": "male", "male": "male", "f": "female", "female": "female"}.get(s)


# --------------------------------------------------------------------------- detection
def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _header(text: str) -> tuple[list[str], str]:
    """(column names, delimiter) of a CSV text's first line."""
    first = text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    delim = ";" if first.count(";") > first.count(",") else ","
    try:
        names = next(csv.reader([first], delimiter=delim))
    except (csv.Error, StopIteration):
        names = []
    return [_TAG_RE.sub("", n).strip() for n in names], delim


def _csv_layout(names: list[str]) -> str | None:
    present = set(names)
    for layout, req in _CSV_REQUIRED.items():
        if all(r in present for r in req):
            return layout
    return None


def detect_history_format(head: bytes, name: str = "") -> str | None:
    """Which :data:`HISTORY_FORMATS` member ``head`` (the first bytes, >= 4 KiB recommended for
    JSON) looks like, or ``None``. ``name`` is only used for messages/extension hints."""
    if head[:2] == b"\x1f\x8b":
        return None
    text = _decode(head[:65536]).lstrip("\ufeff \t\r\n")
    if not text:
        return None
    if text[0] in "[{":
        if '"run_id"' in text[:65536] and '"start_date' in text[:65536]:
            return "running_page_json"
        return None
    if name.lower().endswith((".json", ".gpx", ".tcx", ".xml", ".fit")) or text.startswith("<"):
        return None
    layout = _csv_layout(_header(text)[0])
    return None if layout is None else _CSV_FORMAT_OF.get(layout, layout)


# --------------------------------------------------------------------------- row model
class _Row:
    """A history row before validation (all SI; None where absent)."""

    __slots__ = ("start", "sport", "distance_m", "duration_s", "moving_time_s", "gain_m",
                 "avg_hr", "max_hr", "name", "user_id", "gender", "meta", "error")

    def __init__(self) -> None:
        self.start: datetime | None = None
        self.sport = "unknown"
        self.distance_m: float | None = None
        self.duration_s: float | None = None
        self.moving_time_s: float | None = None
        self.gain_m: float | None = None
        self.avg_hr: float | None = None
        self.max_hr: float | None = None
        self.name: str | None = None
        self.user_id: str | None = None
        self.gender: str | None = None
        self.meta: dict[str, Any] = {}
        self.error: str | None = None


def _set_start(row: _Row, parsed: tuple[datetime, bool] | None, *, naive_is_utc: bool) -> None:
    if parsed is None:
        row.error = "unreadable date"
        return
    dt, aware = parsed
    row.start = dt
    if not aware and not naive_is_utc:
        row.meta["local_time_as_utc"] = True


def _check(row: _Row, now: datetime) -> str | None:
    """Why the row is unusable, or None. Also blanks impossible secondary values."""
    if row.error:
        return row.error
    assert row.start is not None
    if row.start > now + FUTURE_TOLERANCE:
        return "date in the future"
    if row.start.year < 1980:
        return "date before 1980"
    if row.distance_m is not None and row.distance_m < 0:
        return "negative distance"
    for t in (row.duration_s, row.moving_time_s):
        if t is not None and t < 0:
            return "negative duration"
    if row.distance_m == 0:
        row.distance_m = None
    if row.gain_m is not None and row.gain_m < 0:
        row.gain_m = None
    t = row.moving_time_s or row.duration_s
    if (row.sport in _PACE_CHECKED_SPORTS and row.distance_m and row.distance_m >= PACE_CHECK_MIN_DISTANCE_M
            and t and t > 0 and t / (row.distance_m / 1000.0) < MIN_RUN_PACE_S_PER_KM):
        return "pace faster than 2:00/km"
    if row.avg_hr is not None and row.max_hr is not None and row.max_hr < row.avg_hr:
        row.max_hr = None
    return None


_HINTS = {
    "pace faster than 2:00/km": "distances or times look like the wrong unit (miles/km or m/km mixed?)",
    "date in the future": "dates look wrong (day and month swapped?)",
    "unreadable date": "the date column has an unrecognised format",
    "negative distance": "the distance column holds negative numbers",
    "negative duration": "the time column holds negative numbers",
    "date before 1980": "dates look wrong (epoch or unit problem?)",
}


# --------------------------------------------------------------------------- format readers
def _rows_running_page(text: str, label: str) -> list[_Row]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CorruptFile(label, f"not valid JSON ({exc.args[0] if exc.args else exc})") from exc
    if isinstance(data, dict):
        data = data.get("activities", data.get("runs"))
    if not isinstance(data, list):
        raise CorruptFile(label, "running_page activities.json must be a JSON list of activities")
    rows = []
    for a in data:
        r = _Row()
        if not isinstance(a, dict):
            r.error = "not an activity object"
            rows.append(r)
            continue
        missing = [k for k in ("start_date", "distance") if k not in a]
        if missing:
            r.error = f"missing {', '.join(missing)}"
            rows.append(r)
            continue
        _set_start(r, parse_datetime(a.get("start_date")), naive_is_utc=True)  # running_page stores UTC
        r.sport = normalise_sport(_s(a.get("type")))
        r.distance_m = _f(a.get("distance"))
        r.moving_time_s = parse_duration_s(a.get("moving_time"))
        r.duration_s = parse_duration_s(a.get("elapsed_time")) if "elapsed_time" in a else None
        r.gain_m = _f(a.get("elevation_gain"))
        r.avg_hr = _hr(a.get("average_heartrate"))
        r.max_hr = _hr(a.get("max_heartrate"))
        r.name = _s(a.get("name"))
        meta = r.meta
        for key, out in (("run_id", "activity_id"), ("type", "type"), ("subtype", "subtype"),
                         ("start_date_local", "start_time_local"), ("average_speed", "average_speed_mps"),
                         ("average_cadence", "average_cadence"), ("best_1k", "best_1k"),
                         ("split_paces", "split_paces"), ("split_heart_rates", "split_heart_rates"),
                         ("cadence_trend", "cadence_trend")):
            if a.get(key) not in (None, ""):
                meta[out] = a[key]
        if r.sport == "other" and str(a.get("type", "")).lower() == "workout":
            meta["note"] = "generic 'Workout' type"
        rows.append(r)
    return rows


def _read_csv(text: str, delim: str) -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delim)
    try:
        header = next(reader)
    except StopIteration:
        return [], []
    except csv.Error as exc:
        raise ValueError(str(exc)) from exc
    header = [_TAG_RE.sub("", h).strip() for h in header]
    rows = [r for r in reader if any(c.strip() for c in r)]
    return header, rows


class _Cols:
    """Column access by name in a CSV with duplicate names (``first``/``last`` occurrence)."""

    def __init__(self, header: list[str]) -> None:
        self.idx: dict[str, list[int]] = {}
        for i, h in enumerate(header):
            self.idx.setdefault(h, []).append(i)

    def has(self, name: str) -> bool:
        return name in self.idx

    def get(self, row: list[str], name: str, which: int = 0) -> str | None:
        ii = self.idx.get(name)
        if not ii:
            return None
        i = ii[which] if -len(ii) <= which < len(ii) else ii[-1]
        return row[i] if i < len(row) else None

    def last_nonempty(self, row: list[str], name: str) -> str | None:
        for i in reversed(self.idx.get(name, [])):
            if i < len(row) and row[i].strip():
                return row[i]
        return None


def _rows_strava(header: list[str], data: list[list[str]], label: str) -> list[_Row]:
    c = _Cols(header)
    legacy = not c.has("Activity Date")
    out = []
    n_dist = len(c.idx.get("Distance", []))
    # single "Distance" column of the current generation: decide its unit for the whole file
    km_single = False
    if not legacy and n_dist == 1:
        ratios = []
        for row in data:
            d, t = _f(c.get(row, "Distance")), _f(c.get(row, "Elapsed Time", -1))
            if d and t:
                ratios.append(d / t)
        ratios.sort()
        km_single = bool(ratios) and ratios[len(ratios) // 2] < 0.05  # < 3 m/min: must be km
    for row in data:
        r = _Row()
        if legacy:
            _set_start(r, parse_datetime(c.get(row, "date")), naive_is_utc=True)
            r.sport = normalise_sport(_s(c.get(row, "type")))
            r.distance_m = _f(c.get(row, "distance"))
            r.duration_s = _f(c.get(row, "elapsed_time"))
            r.name = _s(c.get(row, "name"))
            for key, out_key in (("id", "activity_id"), ("type", "type"), ("description", "description"),
                                 ("gear", "gear"), ("filename", "filename"), ("commute", "commute")):
                v = _s(c.get(row, key))
                if v is not None:
                    r.meta[out_key] = v
        else:
            _set_start(r, parse_datetime(c.get(row, "Activity Date")), naive_is_utc=True)  # Strava: UTC
            r.sport = normalise_sport(_s(c.get(row, "Activity Type")))
            if n_dist >= 2:
                d = _f(c.get(row, "Distance", -1))  # metres
                if d is None:  # first column: km, except for swims where Strava writes metres
                    first = _f(c.get(row, "Distance", 0))
                    d = None if first is None else first * (1.0 if r.sport == "swim" else 1000.0)
            else:
                d = _f(c.get(row, "Distance"))
                if d is not None and km_single:
                    d *= 1000.0
            r.distance_m = d
            r.duration_s = _f(c.last_nonempty(row, "Elapsed Time"))
            r.moving_time_s = _f(c.get(row, "Moving Time"))
            r.gain_m = _f(c.get(row, "Elevation Gain"))
            r.avg_hr = _hr(c.last_nonempty(row, "Average Heart Rate"))
            r.max_hr = _hr(c.last_nonempty(row, "Max Heart Rate"))
            r.name = _s(c.get(row, "Activity Name"))
            for key, out_key in (("Activity ID", "activity_id"), ("Activity Type", "type"),
                                 ("Activity Description", "description"), ("Activity Gear", "gear"),
                                 ("Filename", "filename"), ("Average Speed", "average_speed_mps"),
                                 ("Max Speed", "max_speed_mps"), ("Average Cadence", "average_cadence"),
                                 ("Relative Effort", "relative_effort"), ("Calories", "calories"),
                                 ("Average Watts", "average_power_w"), ("Perceived Exertion", "perceived_exertion")):
                v = _s(c.last_nonempty(row, key))
                if v is not None:
                    x = _f(v)
                    r.meta[out_key] = x if x is not None and key not in ("Activity ID",) else v
        out.append(r)
    return out


def _rows_garmin(header: list[str], data: list[list[str]], label: str) -> list[_Row]:
    c = _Cols(header)
    # unit check: Garmin's API gives metres; a few old exports gave centimetres. Decide per file
    # from distance / (averageSpeed x moving time).
    ratios = []
    for row in data:
        d, v = _f(c.get(row, "distance")), _f(c.get(row, "averageSpeed"))
        t = _f(c.get(row, "movingDuration")) or _f(c.get(row, "duration"))
        if d and v and t:
            ratios.append(d / (v * t))
    ratios.sort()
    factor = 0.01 if ratios and 30 < ratios[len(ratios) // 2] < 300 else 1.0
    out = []
    for row in data:
        r = _Row()
        gmt = parse_datetime(c.get(row, "startTimeGMT"))
        if gmt is not None:
            _set_start(r, gmt, naive_is_utc=True)
        elif _f(c.get(row, "beginTimestamp")) is not None:
            ms = _f(c.get(row, "beginTimestamp")) or 0.0
            try:
                r.start = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                r.error = "unreadable date"
        else:
            _set_start(r, parse_datetime(c.get(row, "startTimeLocal")), naive_is_utc=False)
        r.sport = normalise_sport(_s(c.get(row, "activityType_typeKey")))
        d = _f(c.get(row, "distance"))
        r.distance_m = None if d is None else d * factor
        r.duration_s = _f(c.get(row, "elapsedDuration")) or _f(c.get(row, "duration"))
        r.moving_time_s = _f(c.get(row, "movingDuration"))
        r.gain_m = _f(c.get(row, "elevationGain"))
        r.avg_hr = _hr(c.get(row, "averageHR"))
        r.max_hr = _hr(c.get(row, "maxHR"))
        r.name = _s(c.get(row, "activityName"))
        for key, out_key in (("activityId", "activity_id"), ("activityType_typeKey", "type"),
                             ("startTimeLocal", "start_time_local"), ("duration", "timer_time_s"),
                             ("averageSpeed", "average_speed_mps"), ("maxSpeed", "max_speed_mps"),
                             ("averageRunningCadenceInStepsPerMinute", "average_cadence_spm"),
                             ("locationName", "location"), ("calories", "calories"),
                             ("activityTrainingLoad", "training_load"), ("vO2MaxValue", "vo2max"),
                             ("aerobicTrainingEffect", "aerobic_training_effect"),
                             ("avgStrideLength", "avg_stride_length_cm"), ("deviceId", "device_id"),
                             ("manufacturer", "manufacturer")):
            v = _s(c.get(row, key))
            if v is not None:
                x = _f(v)
                r.meta[out_key] = x if x is not None and key not in ("activityId", "deviceId") else v
        out.append(r)
    return out


def _rows_simple(header: list[str], data: list[list[str]], label: str) -> list[_Row]:
    c = _Cols(header)
    sport_col = next((k for k in ("sport", "type", "activity_type") if c.has(k)), None)
    out = []
    for row in data:
        r = _Row()
        raw = _s(c.get(row, "date"))
        if raw is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            try:
                r.start = datetime.strptime(raw, "%Y-%m-%d").replace(hour=12, tzinfo=timezone.utc)
                r.meta["date_only"] = True
            except ValueError:
                r.error = "unreadable date"
        else:
            _set_start(r, parse_datetime(raw), naive_is_utc=False)
        r.name = _s(c.get(row, "name"))
        if sport_col:
            r.sport = normalise_sport(_s(c.get(row, sport_col)))
        else:
            guess = normalise_sport(r.name) if r.name else "unknown"
            r.sport = guess if guess not in ("other", "unknown") else "run"
        r.distance_m = _f(c.get(row, "dist_m"))
        r.moving_time_s = _f(c.get(row, "mov_s"))
        r.duration_s = _f(c.get(row, "elapsed_s")) if c.has("elapsed_s") else None
        r.gain_m = _f(c.get(row, "elev_m")) if c.has("elev_m") else None
        r.avg_hr = _hr(c.get(row, "hr"))
        r.max_hr = _hr(c.get(row, "max_hr")) if c.has("max_hr") else None
        for key in header:
            if key in ("date", "dist_m", "mov_s", "hr", "name", "elapsed_s", "elev_m", "max_hr"):
                continue
            v = _s(c.get(row, key))
            if v is not None:
                x = _f(v)
                r.meta[key] = x if x is not None else v
        out.append(r)
    return out


def _rows_many(header: list[str], data: list[list[str]], label: str) -> list[_Row]:
    c = _Cols(header)
    out = []
    for row in data:
        r = _Row()
        _set_start(r, parse_datetime(c.get(row, "Timestamp"), dayfirst_formats=("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")),
                   naive_is_utc=False)
        r.sport = "run"
        r.distance_m = _f(c.get(row, "Distance"))
        r.duration_s = _f(c.get(row, "ElapsedTime"))
        r.gain_m = _f(c.get(row, "ElevationGain"))
        r.avg_hr = _hr(c.get(row, "AverageHeartRate"))
        ath = _s(c.get(row, "Athlete"))
        if ath is None:
            r.error = "no athlete id"
        r.user_id = ath
        r.gender = _gender(c.get(row, "Gender"))
        out.append(r)
    return out


_CSV_READERS: dict[str, Callable[[list[str], list[list[str]], str], list[_Row]]] = {
    "strava_csv": _rows_strava,
    "strava_csv_2018": _rows_strava,
    "garmin_csv": _rows_garmin,
    "simple_csv": _rows_simple,
    "many_runners_csv": _rows_many,
}


def _missing_columns_error(label: str, names: list[str]) -> CorruptFile:
    present = set(names)
    best = max(_CSV_REQUIRED.items(), key=lambda kv: sum(r in present for r in kv[1]) / len(kv[1]))
    layout, req = best
    missing = [r for r in req if r not in present]
    shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
    if sum(r in present for r in req) == 0:
        return CorruptFile(label, f"unrecognised training-history CSV (columns: {shown}); expected e.g. a plain log "
                                  f"with columns {', '.join(_CSV_REQUIRED['simple_csv'])}")
    pretty = _CSV_FORMAT_OF.get(layout, layout)
    return CorruptFile(label, f"looks like a {pretty} history but is missing column(s): {', '.join(missing)}")


# --------------------------------------------------------------------------- public reader
class HistoryReader:
    """Iterator over the :class:`RunSummary` rows of one history file, with skip counts.

    The file is read and checked as a whole at the first ``next()`` (history files are small);
    errors are raised then.

    Attributes:
        path: file name used in messages. format: detected format (after the first ``next()``).
        n_rows: activity rows in the file. n_yielded: summaries yielded.
        skipped: rows skipped as unusable. skip_reasons: ``Counter`` of reasons.
    """

    def __init__(self, src: Source, *, name: str | None = None, user_id: str | None = None,
                 now: datetime | None = None) -> None:
        self._src = src
        self.path = source_name(src, name)
        self.user_id = user_id
        self.now = now or datetime.now(timezone.utc)
        self.format: str | None = None
        self.n_rows = 0
        self.n_yielded = 0
        self.skipped = 0
        self.skip_reasons: Counter[str] = Counter()
        self._it: Iterator[RunSummary] | None = None

    def __iter__(self) -> "HistoryReader":
        return self

    def __next__(self) -> RunSummary:
        if self._it is None:
            self._it = iter(self._load())
        return next(self._it)

    def _parse(self) -> list[_Row]:
        label = self.path
        blob = read_bytes(self._src, label)  # raises CorruptFile("empty file")
        text = _decode(blob.data)
        if not text.strip():
            raise CorruptFile(label, "empty file")
        stripped = text.lstrip("\ufeff \t\r\n")
        if stripped[:1] in "[{":
            self.format = "running_page_json"
            return _rows_running_page(stripped, label)
        if stripped.startswith("<"):
            raise CorruptFile(label, "an XML file, not a training history")
        names, delim = _header(stripped)
        layout = _csv_layout(names)
        if layout is None:
            raise _missing_columns_error(label, names)
        self.format = _CSV_FORMAT_OF.get(layout, layout)
        try:
            header, data = _read_csv(stripped, delim)
        except (ValueError, csv.Error) as exc:
            raise CorruptFile(label, f"unreadable CSV ({exc})") from exc
        return _CSV_READERS[layout](header, data, label)

    def _load(self) -> list[RunSummary]:
        rows = self._parse()
        label = self.path
        self.n_rows = len(rows)
        if not rows:
            raise CorruptFile(label, "no activity rows (header only?)")
        src_name = Path(label).name if label and not label.startswith("<") else label
        out: list[RunSummary] = []
        for i, r in enumerate(rows, start=1):
            reason = _check(r, self.now)
            if reason is not None:
                self.skipped += 1
                self.skip_reasons[reason] += 1
                if self.skipped <= MAX_LOGGED_SKIPS:
                    log.debug("%s: row %d skipped: %s", label, i, reason)
                continue
            assert r.start is not None
            meta = dict(r.meta)
            meta["format"] = self.format
            out.append(RunSummary(
                start_time=r.start,
                sport=r.sport,
                distance_m=r.distance_m,
                duration_s=r.duration_s,
                moving_time_s=r.moving_time_s,
                elevation_gain_m=r.gain_m,
                avg_hr_bpm=r.avg_hr,
                max_hr_bpm=r.max_hr,
                name=r.name,
                source=src_name,
                user_id=r.user_id if r.user_id is not None else self.user_id,
                gender=r.gender,
                summary_only=True,
                metadata=meta,
            ))
        if self.skipped:
            log.warning("%s: %d of %d rows skipped (%s)", label, self.skipped, self.n_rows,
                        ", ".join(f"{k}: {v}" for k, v in self.skip_reasons.most_common()))
        if self.skipped * 2 > self.n_rows:
            reason, count = self.skip_reasons.most_common(1)[0]
            hint = _HINTS.get(reason, "")
            raise CorruptFile(label, f"{self.skipped} of {self.n_rows} rows unusable, mostly '{reason}' ({count})"
                                     + (f": {hint}" if hint else ""))
        self.n_yielded = len(out)
        return out


def iter_history(src: Source, *, name: str | None = None, user_id: str | None = None) -> HistoryReader:
    """Per-run summaries from a training-history file (format detected from content).

    Args:
        src: path, bytes or binary file object (gzip handled).
        name: file name for messages and ``RunSummary.source`` (default: from ``src``).
        user_id: runner id to set on every summary (ignored for ``many_runners_csv``, whose
            athlete column gives each row's ``user_id``).

    Returns:
        A :class:`HistoryReader` (iterate it for :class:`RunSummary` objects, all sports,
        ``summary_only=True``, ``start_time`` UTC-aware); ``skipped``/``skip_reasons`` count
        unusable rows.

    Raises (at the first ``next()``):
        CorruptFile: empty file, unknown/missing columns, invalid JSON, no rows, or more than
        half the rows unusable.
    """
    return HistoryReader(src, name=name, user_id=user_id)
