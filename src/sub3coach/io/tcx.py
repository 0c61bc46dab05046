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
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from sub3coach.errors import CorruptFile, NotAnActivity
from sub3coach.io._source import Source, guard_reader, read_bytes
from sub3coach.io.gpx import RELATIVE_TIME_LIMIT_S, ColumnText, TreePruner, iter_xml_events, local_name, to_float
from sub3coach.workout import Workout, normalise_sport

log = logging.getLogger(__name__)

__all__ = ["read_tcx"]


class _Activity(ColumnText):
    """Raw trackpoint text and lap totals of one ``<Activity>`` being collected."""

    COLUMNS = ("t", "lat", "lon", "ele", "dist", "hr", "cad", "spd", "pw")

    def __init__(self) -> None:
        super().__init__()
        self.t: list[str | None]
        self.lap_dist: list[float] = []
        self.lap_time: list[float] = []
        self.n_laps = 0
        self.sport_label: str | None = None
        self.device: str | None = None
        self.notes: str | None = None
        self.act_id: str | None = None
        self.untimed = 0


(_K_OTHER, _K_TRACKPOINT, _K_TRACK, _K_LAP, _K_ACTIVITY, _K_COURSE, _K_TIME, _K_POSITION, _K_LAT, _K_LON,
 _K_ALT, _K_DIST, _K_HR, _K_CAD, _K_EXT, _K_SPEED, _K_RUNCAD, _K_WATTS, _K_VALUE, _K_CREATOR) = range(20)
_KIND_BY_LOCAL = {"creator": _K_CREATOR, 
    "trackpoint": _K_TRACKPOINT, "track": _K_TRACK, "lap": _K_LAP, "activity": _K_ACTIVITY, "course": _K_COURSE,
    "workout": _K_COURSE, "time": _K_TIME, "position": _K_POSITION, "latitudedegrees": _K_LAT,
    "longitudedegrees": _K_LON, "altitudemeters": _K_ALT, "distancemeters": _K_DIST, "heartratebpm": _K_HR,
    "cadence": _K_CAD, "extensions": _K_EXT, "speed": _K_SPEED, "runcadence": _K_RUNCAD, "watts": _K_WATTS,
    "value": _K_VALUE,
}
_KINDS: dict[Any, int] = {}


def _kind(tag: Any) -> int:
    k = _KINDS.get(tag)
    if k is None:
        k = _KIND_BY_LOCAL.get(local_name(tag), _K_OTHER)
        if len(_KINDS) < 4096:
            _KINDS[tag] = k
    return k


class _Collector:
    """Streaming state of :func:`read_tcx`: the activity being collected and the values of
    the open ``<Trackpoint>`` (t, lat, lon, ele, dist, hr, cad, spd, pw, runcad)."""

    def __init__(self) -> None:
        self.acts: list[_Activity] = []
        self.cur = _Activity()
        self.in_activity = False
        self.tp: list[str | None] | None = None
        self.tp_depth = 0
        self.ext_depth = 0
        self.lap_dist: float | None = None
        self.lap_time: float | None = None

    def start(self, elem: Element, k: int, pr: TreePruner) -> None:
        if k == _K_TRACKPOINT and self.tp is None:
            self.tp = [None] * 10
            self.tp_depth = len(pr.stack)
        elif k == _K_EXT:
            self.ext_depth += 1
        elif k == _K_ACTIVITY:
            self.cur.sport_label = elem.get("Sport")

    def end(self, elem: Element, k: int, pr: TreePruner) -> None:
        if k == _K_EXT:
            self.ext_depth -= 1
        if self.tp is not None:
            self._point_value(elem, k, pr)
            return
        pk = pr.parent_kind()
        cur = self.cur
        if k == _K_LAP:
            cur.n_laps += 1
        elif pk == _K_LAP and k == _K_DIST:
            cur.lap_dist.append(to_float(elem.text))
        elif pk == _K_LAP and local_name(elem.tag) == "totaltimeseconds":
            cur.lap_time.append(to_float(elem.text))
        elif k == _K_ACTIVITY:
            self.in_activity = True
            self.acts.append(cur)
            self.cur = _Activity()
        elif pk == _K_ACTIVITY:
            cn = local_name(elem.tag)
            if cn == "id" and elem.text:
                cur.act_id = elem.text.strip()
            elif cn == "notes" and elem.text and elem.text.strip():
                cur.notes = elem.text.strip()
        elif pk == _K_CREATOR and pr.parent_kind(2) == _K_ACTIVITY and local_name(elem.tag) == "name":
            if elem.text and elem.text.strip():
                cur.device = elem.text.strip()
        elif k == _K_COURSE:
            # courses and planned workouts are not recordings: drop what they collected
            self.cur = _Activity()

    def _point_value(self, elem: Element, k: int, pr: TreePruner) -> None:
        tp = self.tp
        assert tp is not None
        pk = pr.parent_kind()
        if k == _K_TRACKPOINT and len(pr.stack) == self.tp_depth:
            self._add_point(tp)
            self.tp = None
        elif pk == _K_TRACKPOINT:
            if k == _K_TIME:
                tp[0] = elem.text
            elif k == _K_ALT:
                tp[3] = elem.text
            elif k == _K_DIST:
                tp[4] = elem.text
            elif k == _K_HR:
                tp[5] = tp[5] if tp[5] is not None else elem.text
            elif k == _K_CAD:
                tp[6] = elem.text
        elif pk == _K_POSITION and k in (_K_LAT, _K_LON):
            tp[1 if k == _K_LAT else 2] = elem.text
        elif pk == _K_HR and k == _K_VALUE:
            tp[5] = elem.text
        elif self.ext_depth:
            if k == _K_SPEED:
                tp[7] = elem.text
            elif k == _K_WATTS:
                tp[8] = elem.text
            elif k == _K_RUNCAD:
                tp[9] = elem.text

    def _add_point(self, tp: list[str | None]) -> None:
        """Collect one trackpoint (points without Time are counted and skipped)."""
        act = self.cur
        t = tp[0]
        if t is None or not t.strip():
            act.untimed += 1
            return
        act.t.append(t)
        act.lat.append(tp[1])
        act.lon.append(tp[2])
        act.ele.append(tp[3])
        act.dist.append(tp[4])
        act.hr.append(tp[5])
        act.cad.append(tp[6] if tp[6] is not None else tp[9])
        act.spd.append(tp[7])
        act.pw.append(tp[8])
        act.point_done()


def _column(arr: np.ndarray) -> np.ndarray | None:
    return arr if arr.size and np.isfinite(arr).any() else None


@guard_reader("TCX")
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
    col = _Collector()
    pruner = TreePruner(label, "TCX")
    kinds = _KINDS
    for event, elem in iter_xml_events(blob.data, label, "TCX"):
        k = kinds.get(elem.tag)
        if k is None:
            k = _kind(elem.tag)
        if event == "start":
            pruner.start(elem, k)
            col.start(elem, k, pruner)
        else:
            col.end(elem, k, pruner)
            pruner.end()
    root, acts, in_activity = pruner.root, col.acts, col.in_activity
    if root is None or local_name(root.tag) != "trainingcenterdatabase":
        what = local_name(root.tag) if root is not None else "nothing"
        raise CorruptFile(label, f"not a TCX document (root element is <{what}>, expected <TrainingCenterDatabase>)")
    if not in_activity:
        raise NotAnActivity(label, "TCX has no activities (courses, workouts or an empty export)")
    with_points = [a for a in acts if len(a)]
    if not with_points:
        if any(a.untimed for a in acts):
            raise CorruptFile(label, "TCX has no timestamps (trackpoints without <Time>)")
        raise NotAnActivity(label, "TCX activity has no trackpoints (lap summaries only)")
    workouts = [w for w in (_to_workout(a, label, i) for i, a in enumerate(with_points)) if w is not None]
    if not workouts:
        raise CorruptFile(label, "TCX has no timestamps (no trackpoint <Time> could be read)")
    log.debug("read %d activity(ies), %d points from %s", len(workouts), sum(len(w) for w in workouts), label)
    return workouts


def _to_workout(act: _Activity, label: str, index: int) -> Workout | None:
    """Turn one collected activity into a Workout (None when no Time could be parsed)."""
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
    t = act.column("t")
    timed = np.isfinite(t)
    if not timed.any():
        log.warning("%s: activity %d has no readable timestamps, skipped", label, index)
        return None
    if not timed.all():
        metadata["points_without_time"] = metadata.get("points_without_time", 0) + int((~timed).sum())
    if float(np.median(t[timed])) < RELATIVE_TIME_LIMIT_S:
        metadata["relative_time"] = True
    lat, lon = act.column("lat")[timed], act.column("lon")[timed]
    bad_pos = ~((np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0))
    lat[bad_pos] = np.nan
    lon[bad_pos] = np.nan
    hr, cad, spd, pw, dist = (act.column(c)[timed] for c in ("hr", "cad", "spd", "pw", "dist"))
    with np.errstate(invalid="ignore"):
        hr[hr <= 0] = np.nan  # 0 = no reading
        for arr in (cad, spd, pw, dist):
            arr[arr < 0] = np.nan
    cad_col = _column(cad)
    if cad_col is not None and sport == "run":
        cad_col = cad_col * 2.0
        metadata["cadence_doubled"] = True
    lap_d = [d for d in act.lap_dist if np.isfinite(d)]
    lap_t = [x for x in act.lap_time if np.isfinite(x)]
    return Workout(
        time_s=t[timed],
        hr_bpm=_column(hr),
        speed_mps=_column(spd),
        altitude_m=_column(act.column("ele")[timed]),
        distance_m=_column(dist),
        lat_deg=_column(lat),
        lon_deg=_column(lon),
        cadence_spm=cad_col,
        power_w=_column(pw),
        sport=sport,
        name=act.notes,
        source=label,
        source_format="tcx",
        device=act.device,
        device_distance_m=float(sum(lap_d)) if lap_d else None,
        device_timer_s=float(sum(lap_t)) if lap_t else None,
        metadata=metadata,
    )
