"""TCX (Garmin Training Center XML) reader: one :class:`~sub3coach.workout.Workout` per
``<Activity>``.

Trackpoints of all laps of an activity are concatenated in file order. What is read (SI
units at this edge):

* ``Time`` -> ``time_s``; ``Position/LatitudeDegrees|LongitudeDegrees`` -> ``lat_deg``/``lon_deg``;
* ``AltitudeMeters`` -> ``altitude_m``; ``DistanceMeters`` -> ``distance_m`` (the device's own
  cumulative distance); ``HeartRateBpm/Value`` -> ``hr_bpm`` (0 = no reading -> NaN);
* ``Extensions/TPX/Speed`` (m/s) -> ``speed_mps``; ``TPX/Watts`` -> ``power_w``;
* cadence from ``Cadence`` or ``TPX/RunCadence``. Both are per-leg revolutions per minute in
  running files (Garmin and Suunto write ~85-95 for a 170-190 spm runner), so for activities
  whose sport normalises to ``run`` the value is doubled to steps per minute; for cycling and
  other sports it stays rpm as written.

Activity level: ``Sport`` attribute -> ``sport`` (``Running``, ``Biking``, ``Other``),
``Creator/Name`` -> ``device``, ``Notes`` -> ``name``, sum of lap ``DistanceMeters`` ->
``device_distance_m``, sum of lap ``TotalTimeSeconds`` -> ``device_timer_s``, lap count and
the ``Id`` in ``metadata``. Leading whitespace and a byte-order mark before ``<?xml`` (some
Garmin exports) are tolerated. The same safe, streaming parser as GPX is used
(:func:`sub3coach.io.gpx.iter_xml`).
"""
from __future__ import annotations

import logging
import math
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from sub3coach.errors import CorruptFile, NotAnActivity
from sub3coach.io._source import Source, read_bytes
from sub3coach.io.gpx import _to_float, iter_xml, local_name, parse_time_s, RELATIVE_TIME_LIMIT_S
from sub3coach.workout import Workout, normalise_sport

log = logging.getLogger(__name__)

__all__ = ["read_tcx"]


class _Activity:
    """Columns and lap totals of one ``<Activity>`` being collected."""

    __slots__ = ("t", "lat", "lon", "ele", "dist", "hr", "cad", "spd", "pw", "lap_dist", "lap_time",
                 "n_laps", "sport_label", "device", "notes", "act_id", "untimed")

    def __init__(self) -> None:
        self.t: list[float] = []
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.ele: list[float] = []
        self.dist: list[float] = []
        self.hr: list[float] = []
        self.cad: list[float] = []
        self.spd: list[float] = []
        self.pw: list[float] = []
        self.lap_dist: list[float] = []
        self.lap_time: list[float] = []
        self.n_laps = 0
        self.sport_label: str | None = None
        self.device: str | None = None
        self.notes: str | None = None
        self.act_id: str | None = None
        self.untimed = 0


def _add_trackpoint(act: _Activity, tp: Element) -> None:
    """Decode one ``<Trackpoint>`` into the activity's columns (points without Time are
    counted and skipped)."""
    nan = math.nan
    t = lat = lon = ele = dist = hr = cad = spd = pw = nan
    for child in tp:
        ln = local_name(child.tag)
        if ln == "time":
            t = parse_time_s(child.text)
        elif ln == "position":
            for p in child:
                pn = local_name(p.tag)
                if pn == "latitudedegrees":
                    lat = _to_float(p.text)
                elif pn == "longitudedegrees":
                    lon = _to_float(p.text)
        elif ln == "altitudemeters":
            ele = _to_float(child.text)
        elif ln == "distancemeters":
            dist = _to_float(child.text)
        elif ln == "heartratebpm":
            for v in child:
                if local_name(v.tag) == "value":
                    hr = _to_float(v.text)
            if not math.isfinite(hr):
                hr = _to_float(child.text)
        elif ln == "cadence":
            cad = _to_float(child.text)
        elif ln == "extensions":
            for e in child.iter():
                en = local_name(e.tag)
                if en == "speed":
                    spd = _to_float(e.text)
                elif en == "runcadence":
                    if not math.isfinite(cad):
                        cad = _to_float(e.text)
                elif en == "watts":
                    pw = _to_float(e.text)
    if not math.isfinite(t):
        act.untimed += 1
        return
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        lat = lon = nan
    act.t.append(t)
    act.lat.append(lat)
    act.lon.append(lon)
    act.ele.append(ele)
    act.dist.append(dist if dist >= 0 else nan)
    act.hr.append(hr if hr > 0 else nan)
    act.cad.append(cad if cad >= 0 else nan)
    act.spd.append(spd if spd >= 0 else nan)
    act.pw.append(pw if pw >= 0 else nan)


def _column(values: list[float]) -> np.ndarray | None:
    arr = np.asarray(values, dtype=np.float64)
    return arr if arr.size and np.isfinite(arr).any() else None


def read_tcx(src: Source, *, name: str | None = None) -> list[Workout]:
    """Read a TCX file (path, bytes or binary file object; gzip is fine).

    Returns one workout per ``<Activity>`` with timed trackpoints, in file order.

    Raises:
        CorruptFile: empty, malformed, truncated or unsafe XML; not a TCX document; or
            trackpoints without any timestamp.
        NotAnActivity: a valid TCX without activities (courses, workouts or an empty
            export) or whose activities have no trackpoints (lap summaries only).
    """
    blob = read_bytes(src, name)
    label = blob.name
    acts: list[_Activity] = []
    cur = _Activity()
    root: Element | None = None
    in_activity = False
    for elem in iter_xml(blob.data, label, "TCX"):
        root = elem
        ln = local_name(elem.tag)
        if ln == "trackpoint":
            _add_trackpoint(cur, elem)
            elem.clear()
        elif ln == "track":
            elem.clear()
        elif ln == "lap":
            cur.n_laps += 1
            for child in elem:
                cn = local_name(child.tag)
                if cn == "distancemeters":
                    cur.lap_dist.append(_to_float(child.text))
                elif cn == "totaltimeseconds":
                    cur.lap_time.append(_to_float(child.text))
            elem.clear()
        elif ln == "activity":
            in_activity = True
            cur.sport_label = elem.get("Sport")
            for child in elem:
                cn = local_name(child.tag)
                if cn == "id" and child.text:
                    cur.act_id = child.text.strip()
                elif cn == "notes" and child.text and child.text.strip():
                    cur.notes = child.text.strip()
                elif cn == "creator":
                    for c in child:
                        if local_name(c.tag) == "name" and c.text and c.text.strip():
                            cur.device = c.text.strip()
            acts.append(cur)
            cur = _Activity()
            elem.clear()
        elif ln in ("course", "workout"):
            # courses and planned workouts are not recordings: drop what they collected
            cur = _Activity()
            elem.clear()
    if root is None or local_name(root.tag) != "trainingcenterdatabase":
        what = local_name(root.tag) if root is not None else "nothing"
        raise CorruptFile(label, f"not a TCX document (root element is <{what}>, expected <TrainingCenterDatabase>)")
    if not in_activity:
        raise NotAnActivity(label, "TCX has no activities (courses, workouts or an empty export)")
    with_points = [a for a in acts if a.t]
    if not with_points:
        if any(a.untimed for a in acts):
            raise CorruptFile(label, "TCX has no timestamps (trackpoints without <Time>)")
        raise NotAnActivity(label, "TCX activity has no trackpoints (lap summaries only)")
    workouts = [_to_workout(a, label, i) for i, a in enumerate(with_points)]
    log.debug("read %d activity(ies), %d points from %s", len(workouts), sum(len(w) for w in workouts), label)
    return workouts


def _to_workout(act: _Activity, label: str, index: int) -> Workout:
    """Turn one collected activity into a Workout."""
    sport = normalise_sport(act.sport_label) if act.sport_label else "unknown"
    metadata: dict[str, Any] = {"laps": act.n_laps}
    if act.sport_label:
        metadata["tcx_sport"] = act.sport_label
    if act.act_id:
        metadata["tcx_id"] = act.act_id
    if index:
        metadata["activity_index"] = index
    if act.untimed:
        metadata["points_without_time"] = act.untimed
    t = np.asarray(act.t, dtype=np.float64)
    if float(np.median(t)) < RELATIVE_TIME_LIMIT_S:
        metadata["relative_time"] = True
    cad = _column(act.cad)
    if cad is not None and sport == "run":
        cad = cad * 2.0
        metadata["cadence_doubled"] = True
    lap_d = [d for d in act.lap_dist if math.isfinite(d)]
    lap_t = [x for x in act.lap_time if math.isfinite(x)]
    return Workout(
        time_s=t,
        hr_bpm=_column(act.hr),
        speed_mps=_column(act.spd),
        altitude_m=_column(act.ele),
        distance_m=_column(act.dist),
        lat_deg=_column(act.lat),
        lon_deg=_column(act.lon),
        cadence_spm=cad,
        power_w=_column(act.pw),
        sport=sport,
        name=act.notes,
        source=label,
        source_format="tcx",
        device=act.device,
        device_distance_m=float(sum(lap_d)) if lap_d else None,
        device_timer_s=float(sum(lap_t)) if lap_t else None,
        metadata=metadata,
    )
