"""Writers: a :class:`~sub3coach.workout.Workout` as GPX 1.1 or TCX bytes (UTF-8), and a
training log as a plain history CSV (:func:`write_history_csv`).

Used to export workouts and to generate test fixtures; :func:`sub3coach.io.gpx.read_gpx` and
:func:`sub3coach.io.tcx.read_tcx` read the output back to the same samples within the
precision written:

=============  =====================================  ======================================
channel        GPX                                    TCX
=============  =====================================  ======================================
time_s         ISO 8601 UTC, milliseconds             same
lat/lon_deg    8 decimals (~1 mm)                     same
altitude_m     ``<ele>``, 3 decimals                  ``AltitudeMeters``, 3 decimals
distance_m     not written (GPX has no such field)    ``DistanceMeters``, 3 decimals
hr_bpm         ``gpxtpx:hr``, integer (round)         ``HeartRateBpm/Value``, integer
cadence_spm    ``gpxtpx:cad``, integer                running: ``TPX/RunCadence`` integer
               (running: steps/2, per-leg rpm)        (steps/2); others: ``Cadence`` rpm
speed_mps      ``gpxtpx:speed``, 3 decimals           ``TPX/Speed``, 3 decimals
power_w        ``<power>`` (Strava style), integer    ``TPX/Watts``, integer
=============  =====================================  ======================================

GPX uses Garmin's TrackPointExtension v2 namespace. A GPX track point must have a position,
so samples without lat/lon are left out of GPX (and a workout with no positions at all
raises :class:`~sub3coach.errors.MissingChannel`); TCX keeps every sample. Values outside
what the formats allow (HR must be 1-255, cadence 0-254) are left out of that point.
"""
from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from sub3coach.errors import MissingChannel
from sub3coach.workout import RunSummary, Workout

log = logging.getLogger(__name__)

__all__ = ["write_gpx", "write_tcx", "format_time"]

_GPX_TYPE = {"run": "running", "bike": "cycling", "walk": "walking", "hike": "hiking", "swim": "swimming", "ski": "cross_country_skiing"}
_TCX_SPORT = {"run": "Running", "bike": "Biking"}
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def format_time(t_s: float) -> str:
    """Unix seconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, millisecond precision)."""
    ms = int(round(t_s * 1000.0))
    sec, msec = divmod(ms, 1000)
    dt = datetime.fromtimestamp(sec, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{msec:03d}Z"


def _clean_text(text: str) -> str:
    """Escape text for XML, removing characters XML 1.0 cannot carry."""
    return escape(_BAD_XML_CHARS.sub("", text))


def _col(w: Workout, name: str) -> np.ndarray | None:
    v = getattr(w, name)
    return v if v is not None and np.isfinite(v).any() else None


def _ok(arr: np.ndarray | None, i: int) -> bool:
    return arr is not None and math.isfinite(arr[i])


def _int_in(arr: np.ndarray | None, i: int, lo: int, hi: int) -> int | None:
    """Rounded integer value of ``arr[i]`` when finite and within [lo, hi]."""
    if arr is None:
        return None
    v = arr[i]
    if not math.isfinite(v):
        return None
    r = int(round(float(v)))
    return r if lo <= r <= hi else None


def _cadence_out(w: Workout) -> np.ndarray | None:
    """Cadence as written: per-leg rpm for running (steps/2), rpm as is otherwise."""
    cad = _col(w, "cadence_spm")
    if cad is None:
        return None
    return cad / 2.0 if w.sport == "run" else cad


def write_gpx(workout: Workout) -> bytes:
    """Serialise ``workout`` as a GPX 1.1 document with one track (UTF-8 bytes).

    Raises:
        MissingChannel: the workout has no positions (``lat_deg``/``lon_deg``).
    """
    w = workout
    lat, lon = _col(w, "lat_deg"), _col(w, "lon_deg")
    if lat is None or lon is None:
        raise MissingChannel("lat_deg", w.source)
    ele, hr, spd, pw = _col(w, "altitude_m"), _col(w, "hr_bpm"), _col(w, "speed_mps"), _col(w, "power_w")
    cad = _cadence_out(w)
    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<gpx version="1.1" creator="sub3coach" xmlns="http://www.topografix.com/GPX/1/1"'
        ' xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd'
        ' http://www.garmin.com/xmlschemas/TrackPointExtension/v2'
        ' http://www.garmin.com/xmlschemas/TrackPointExtensionv2.xsd">\n',
    ]
    if len(w):
        out.append(f" <metadata>\n  <time>{format_time(float(w.time_s[0]))}</time>\n </metadata>\n")
    out.append(" <trk>\n")
    if w.name:
        out.append(f"  <name>{_clean_text(w.name)}</name>\n")
    if w.sport in _GPX_TYPE:
        out.append(f"  <type>{_GPX_TYPE[w.sport]}</type>\n")
    elif w.sport != "unknown":
        out.append(f"  <type>{w.sport}</type>\n")
    out.append("  <trkseg>\n")
    skipped = 0
    t = w.time_s
    for i in range(len(w)):
        la, lo = lat[i], lon[i]
        if not (math.isfinite(la) and math.isfinite(lo)) or not math.isfinite(t[i]):
            skipped += 1
            continue
        out.append(f'   <trkpt lat="{la:.8f}" lon="{lo:.8f}">')
        if _ok(ele, i):
            out.append(f"<ele>{ele[i]:.3f}</ele>")  # type: ignore[index]
        out.append(f"<time>{format_time(float(t[i]))}</time>")
        h = _int_in(hr, i, 1, 255)
        c = _int_in(cad, i, 0, 254)
        p = _int_in(pw, i, 0, 65535)
        s = float(spd[i]) if _ok(spd, i) and spd[i] >= 0 else None  # type: ignore[index]
        if h is not None or c is not None or p is not None or s is not None:
            out.append("<extensions>")
            if p is not None:
                out.append(f"<power>{p}</power>")
            if h is not None or c is not None or s is not None:
                out.append("<gpxtpx:TrackPointExtension>")
                if h is not None:
                    out.append(f"<gpxtpx:hr>{h}</gpxtpx:hr>")
                if c is not None:
                    out.append(f"<gpxtpx:cad>{c}</gpxtpx:cad>")
                if s is not None:
                    out.append(f"<gpxtpx:speed>{s:.3f}</gpxtpx:speed>")
                out.append("</gpxtpx:TrackPointExtension>")
            out.append("</extensions>")
        out.append("</trkpt>\n")
    out.append("  </trkseg>\n </trk>\n</gpx>\n")
    if skipped:
        log.info("write_gpx: %d samples without position or time left out", skipped)
    return "".join(out).encode("utf-8")


def _lap_bounds(w: Workout, lap_distance_m: float | None) -> list[int]:
    """Start indices of laps (always starting with 0)."""
    if not lap_distance_m or lap_distance_m <= 0 or len(w) == 0:
        return [0]
    d = w.distance_track_m()
    if d is None:
        return [0]
    lap_no = np.floor(d / lap_distance_m).astype(np.int64)
    starts = np.flatnonzero(np.diff(lap_no) > 0) + 1
    return [0] + [int(s) for s in starts]


def write_tcx(workout: Workout, *, lap_distance_m: float | None = None) -> bytes:
    """Serialise ``workout`` as a TCX document with one Activity (UTF-8 bytes).

    Args:
        workout: the workout; every sample becomes a Trackpoint.
        lap_distance_m: split into laps every so many metres (e.g. 1000 for auto-lap);
            default one lap. Lap ``TotalTimeSeconds`` runs from one lap's first sample to
            the next lap's, so they add up to the elapsed time, and lap ``DistanceMeters``
            likewise add up to the total distance. With a single lap the workout's own
            ``device_timer_s``/``device_distance_m`` are written when it has them.
    """
    w = workout
    n = len(w)
    t = w.time_s
    lat, lon = _col(w, "lat_deg"), _col(w, "lon_deg")
    ele, dist, hr = _col(w, "altitude_m"), _col(w, "distance_m"), _col(w, "hr_bpm")
    spd, pw = _col(w, "speed_mps"), _col(w, "power_w")
    cad = _cadence_out(w)
    run = w.sport == "run"
    sport = _TCX_SPORT.get(w.sport, "Other")
    start = format_time(float(t[0])) if n else format_time(0.0)
    track = w.distance_track_m() if n else None
    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"'
        ' xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2'
        ' http://www.garmin.com/xmlschemas/TrainingCenterDatabasev2.xsd">\n',
        f" <Activities>\n  <Activity Sport={quoteattr(sport)}>\n   <Id>{start}</Id>\n",
    ]
    starts = _lap_bounds(w, lap_distance_m)
    ends = starts[1:] + [n]
    for k, (a, b) in enumerate(zip(starts, ends)):
        if n:
            t_end = float(t[b]) if b < n else float(t[-1])
            lap_time = t_end - float(t[a])
            d_a = float(track[a]) if track is not None else 0.0
            d_b = (float(track[b]) if b < n else float(track[-1])) if track is not None else 0.0
            lap_dist = d_b - d_a
        else:
            lap_time = lap_dist = 0.0
        if len(starts) == 1:
            if w.device_timer_s is not None:
                lap_time = float(w.device_timer_s)
            if w.device_distance_m is not None:
                lap_dist = float(w.device_distance_m)
        lap_start = format_time(float(t[a])) if n else start
        out.append(f'   <Lap StartTime="{lap_start}">\n')
        out.append(f"    <TotalTimeSeconds>{lap_time:.3f}</TotalTimeSeconds>\n")
        out.append(f"    <DistanceMeters>{lap_dist:.3f}</DistanceMeters>\n")
        out.append("    <Calories>0</Calories>\n    <Intensity>Active</Intensity>\n")
        out.append("    <TriggerMethod>Distance</TriggerMethod>\n" if len(starts) > 1 else "    <TriggerMethod>Manual</TriggerMethod>\n")
        out.append("    <Track>\n")
        for i in range(a, b):
            if not math.isfinite(t[i]):
                continue  # a Trackpoint must have a Time
            out.append(f"     <Trackpoint><Time>{format_time(float(t[i]))}</Time>")
            if _ok(lat, i) and _ok(lon, i):
                out.append(f"<Position><LatitudeDegrees>{lat[i]:.8f}</LatitudeDegrees>"  # type: ignore[index]
                           f"<LongitudeDegrees>{lon[i]:.8f}</LongitudeDegrees></Position>")  # type: ignore[index]
            if _ok(ele, i):
                out.append(f"<AltitudeMeters>{ele[i]:.3f}</AltitudeMeters>")  # type: ignore[index]
            if _ok(dist, i):
                out.append(f"<DistanceMeters>{dist[i]:.3f}</DistanceMeters>")  # type: ignore[index]
            h = _int_in(hr, i, 1, 255)
            if h is not None:
                out.append(f"<HeartRateBpm><Value>{h}</Value></HeartRateBpm>")
            c = _int_in(cad, i, 0, 254)
            if c is not None and not run:
                out.append(f"<Cadence>{c}</Cadence>")
            s = float(spd[i]) if _ok(spd, i) and spd[i] >= 0 else None  # type: ignore[index]
            p = _int_in(pw, i, 0, 65535)
            rc = c if run else None
            if s is not None or p is not None or rc is not None:
                out.append("<Extensions><ns3:TPX>")
                if s is not None:
                    out.append(f"<ns3:Speed>{s:.3f}</ns3:Speed>")
                if rc is not None:
                    out.append(f"<ns3:RunCadence>{rc}</ns3:RunCadence>")
                if p is not None:
                    out.append(f"<ns3:Watts>{p}</ns3:Watts>")
                out.append("</ns3:TPX></Extensions>")
            out.append("</Trackpoint>\n")
        out.append("    </Track>\n   </Lap>\n")
    if w.name:
        out.append(f"   <Notes>{_clean_text(w.name)}</Notes>\n")
    if w.device:
        out.append('   <Creator xsi:type="Device_t">\n'
                   f"    <Name>{_clean_text(w.device)}</Name>\n"
                   "    <UnitId>0</UnitId>\n    <ProductID>0</ProductID>\n"
                   "    <Version><VersionMajor>0</VersionMajor><VersionMinor>0</VersionMinor>"
                   "<BuildMajor>0</BuildMajor><BuildMinor>0</BuildMinor></Version>\n"
                   "   </Creator>\n")
    out.append("  </Activity>\n </Activities>\n</TrainingCenterDatabase>\n")
    return "".join(out).encode("utf-8")


def write_history_csv(runs: list[RunSummary]) -> bytes:
    """A training log as the plain CSV history format ``date,sport,dist_m,mov_s,hr,elev_m,name``
    (UTC start ``YYYY-MM-DD HH:MM:SS``, sport, metres, seconds, BPM, metres; empty when unknown;
    quoted by the :mod:`csv` rules), which :func:`sub3coach.io.history.iter_history` reads back."""
    import csv
    import io

    def num(x: float | None, fmt: str) -> str:
        return "" if x is None or not math.isfinite(float(x)) else fmt.format(x)

    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["date", "sport", "dist_m", "mov_s", "hr", "elev_m", "name"])
    for r in runs:
        st = r.start_time.astimezone(timezone.utc) if r.start_time.tzinfo else r.start_time
        out.writerow([f"{st:%Y-%m-%d %H:%M:%S}", r.sport, num(r.distance_m, "{:.1f}"), num(r.moving_time_s or r.duration_s, "{:.0f}"),
                      num(r.avg_hr_bpm, "{:.0f}"), num(r.elevation_gain_m, "{:.1f}"), " ".join((r.name or "").split())])
    return buf.getvalue().encode("utf-8")
