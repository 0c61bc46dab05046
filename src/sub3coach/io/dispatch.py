"""Format dispatch: read any single activity file, whatever its format.

:func:`read_file` decides by content (and name as a hint), never by extension alone, so a
``.fit.gz`` renamed ``.bin`` still reads. Containers (folders, zips, exports) are expanded by
:mod:`sub3coach.importer`, which calls :func:`read_file` for each activity file inside.
"""
from __future__ import annotations

from sub3coach.errors import NotAnActivity, UnsupportedFormat
from sub3coach.io._source import Source, read_bytes, sniff
from sub3coach.workout import Workout

#: Formats :func:`read_file` reads (single activity files).
ACTIVITY_FORMATS: tuple[str, ...] = ("fit", "gpx", "tcx")


def detect_format(data: bytes, name: str = "") -> str | None:
    """Format of an (already decompressed) file from its first bytes and name; see :func:`sniff`."""
    return sniff(data[:8192], name)


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
