"""Format dispatch: read any single activity file, whatever its format.

:func:`read_file` decides by content (and name as a hint), never by extension alone, so a
``.fit.gz`` renamed ``.bin`` still reads. Containers (folders, zips, exports) are expanded by
:mod:`sub3coach.importer`, which calls :func:`read_file` for each activity file inside.
"""
from __future__ import annotations

from sub3coach.errors import NotAnActivity, UnsupportedFormat
from sub3coach.io._source import Source, guard_reader, read_bytes, sniff
from sub3coach.workout import Workout

#: Formats :func:`read_file` reads (single activity files).
ACTIVITY_FORMATS: tuple[str, ...] = ("fit", "gpx", "tcx")


def detect_format(data: bytes, name: str = "") -> str | None:
    """Format of an (already decompressed) file from its first bytes and name; see :func:`sniff`."""
    return sniff(data[:8192], name)


@guard_reader("activity")
def read_file(src: Source, *, name: str | None = None, fmt: str | None = None) -> list[Workout]:
    """Read one FIT, GPX or TCX file (optionally gzipped) into workouts (one per session/track).

    Args:
        src: path, bytes or binary file object.
        name: label for messages and ``Workout.source`` (defaults to the path).
        fmt: force a format instead of detecting it.

    Raises:
        UnsupportedFormat: not an activity file format sub3coach reads.
        CorruptFile, NotAnActivity, UnsafeArchive: from the format readers.
    """
    blob = read_bytes(src, name)
    fmt = fmt or detect_format(blob.data, blob.name)
    if fmt == "fit":
        from sub3coach.io.fit import read_fit

        return read_fit(blob.data, name=blob.name)
    if fmt == "gpx":
        from sub3coach.io.gpx import read_gpx

        return read_gpx(blob.data, name=blob.name)
    if fmt == "tcx":
        from sub3coach.io.tcx import read_tcx

        return read_tcx(blob.data, name=blob.name)
    what = f"a {fmt} file" if fmt else "an unrecognised format"
    raise UnsupportedFormat(f"{what}, not a FIT, GPX or TCX activity", blob.name)


def read_workout(src: Source, *, name: str | None = None) -> Workout:
    """Read a single-activity file and return its first workout (session/track).

    Raises:
        NotAnActivity: the file holds no workout.
    """
    workouts = read_file(src, name=name)
    if not workouts:
        raise NotAnActivity(name or str(src) if not isinstance(src, (bytes, bytearray)) else "<bytes>", "no activity in file")
    return workouts[0]


@guard_reader("route")
def read_course(src: Source, *, name: str | None = None, step_m: float = 10.0) -> Workout:
    """Read a planned route: a GPX track or route (``<rte>``) whose points need no timestamps,
    or any activity file (FIT/GPX/TCX) whose recorded track is reused as the course.

    Returns a :class:`Workout` with ``lat_deg``, ``lon_deg``, ``altitude_m`` when known and
    ``distance_m`` along the route, densified to one point every ``step_m`` metres (linear
    between the file's points); ``time_s`` is a placeholder (one second per point) — the
    planned pace gives the real times (:func:`sub3coach.hr.predict.course_workout`).

    Raises:
        CorruptFile: not a route with at least two positions.
    """
    import numpy as np

    from sub3coach.errors import CorruptFile
    from sub3coach.geo import cumulative_distance_m

    blob = read_bytes(src, name)
    if detect_format(blob.data, blob.name) != "gpx":
        return read_workout(blob.data, name=blob.name)
    import gpxpy
    import gpxpy.gpx

    try:
        gpx = gpxpy.parse(blob.data.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n"))
    except (gpxpy.gpx.GPXException, ValueError) as exc:
        raise CorruptFile(blob.name, f"not a readable GPX route ({exc})") from exc
    points = [p for t in gpx.tracks for seg in t.segments for p in seg.points] or [p for r in gpx.routes for p in r.points]
    if len(points) < 2:
        raise CorruptFile(blob.name, "GPX holds no track or route with at least two points")
    lat = np.array([p.latitude for p in points], dtype=np.float64)
    lon = np.array([p.longitude for p in points], dtype=np.float64)
    ele = np.array([np.nan if p.elevation is None else p.elevation for p in points], dtype=np.float64)
    dist = cumulative_distance_m(lat, lon)
    if dist[-1] <= 0:
        raise CorruptFile(blob.name, "route has zero length")
    # planners give sparse points (one per turn): densify to <= step_m so the planned run has a
    # sample every few seconds like a recording
    keep = np.concatenate([[True], np.diff(dist) > 0])
    lat, lon, ele, dist = lat[keep], lon[keep], ele[keep], dist[keep]
    grid = np.linspace(0.0, dist[-1], max(int(np.ceil(dist[-1] / step_m)) + 1, dist.size))
    lat, lon = np.interp(grid, dist, lat), np.interp(grid, dist, lon)
    ok = np.isfinite(ele)
    ele = np.interp(grid, dist[ok], ele[ok]) if ok.sum() >= 2 else np.full(grid.shape, np.nan)
    dist = grid
    points = grid  # one sample per grid point
    name_ = (gpx.tracks[0].name if gpx.tracks else gpx.routes[0].name if gpx.routes else None) or gpx.name
    return Workout(
        time_s=np.arange(len(points), dtype=np.float64), lat_deg=lat, lon_deg=lon,
        altitude_m=ele if np.isfinite(ele).any() else None, distance_m=dist, sport="run", name=name_,
        source=blob.name, source_format="gpx",
    )
