"""Format dispatch: read_file / read_workout by content, and read_course for planned routes."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from sub3coach.errors import CorruptFile, NotAnActivity, UnsupportedFormat
from sub3coach.io.dispatch import read_course, read_file, read_workout
from sub3coach.io.write import write_gpx, write_tcx
from sub3coach.synth import synthetic_run

ROUTE = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="planner" xmlns="http://www.topografix.com/GPX/1/1">
<rte><name>Lunch loop</name>
<rtept lat="47.3769" lon="8.5417"><ele>410</ele></rtept>
<rtept lat="47.3869" lon="8.5417"><ele>430</ele></rtept>
<rtept lat="47.3869" lon="8.5567"><ele>460</ele></rtept>
<rtept lat="47.3769" lon="8.5567"><ele>420</ele></rtept>
</rte></gpx>"""


def test_dispatch_by_content_not_extension(tmp_path: Path) -> None:
    w = synthetic_run(duration_s=600, seed=1)
    p = tmp_path / "renamed.bin"
    p.write_bytes(gzip.compress(write_tcx(w)))
    (got,) = read_file(p)
    assert got.source_format == "tcx" and len(got) == len(w)
    assert read_workout(write_gpx(w)).source_format == "gpx"
    with pytest.raises(UnsupportedFormat, match="not a FIT, GPX or TCX"):
        read_file(b"hello,world\n1,2\n", name="x.csv")


def test_route_without_times_is_a_course_densified_along_the_way() -> None:
    c = read_course(ROUTE.encode(), name="loop.gpx", step_m=10.0)
    assert c.name == "Lunch loop"
    d = c.distance_m
    assert d is not None and d[0] == 0 and 3000 < d[-1] < 3500  # 1112 + 1134 + 1112 m
    assert np.diff(d).max() <= 10.0 + 1e-6
    assert c.altitude_m is not None and c.altitude_m.min() >= 410 and c.altitude_m.max() <= 460
    with pytest.raises(NotAnActivity, match="routes"):
        read_workout(ROUTE.encode(), name="loop.gpx")  # a route is no recorded activity


def test_course_from_a_recorded_activity_and_bad_routes() -> None:
    w = synthetic_run(duration_s=600, seed=2)
    c = read_course(write_gpx(w), name="run.gpx")
    assert c.has("lat_deg") and c.distance_m[-1] == pytest.approx(w.distance_track_m()[-1], rel=0.05)  # type: ignore[index]
    one_point = ROUTE.split("<rtept", 2)[0] + '<rtept lat="1" lon="2"/></rte></gpx>'
    with pytest.raises(CorruptFile, match="two points"):
        read_course(one_point.encode(), name="p.gpx")


def test_random_bytes_are_never_a_csv_or_json_history() -> None:
    """Binary content is refused by what it is, whatever its name (issue 12)."""
    import numpy as np

    from sub3coach.io._source import looks_like_text, sniff

    for seed in range(20):
        blob = np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes()
        for name in ("x.csv", "x.json", "x.bin", "x"):
            assert sniff(blob, name) is None, (seed, name)
    assert sniff(b"date,dist_m,mov_s\n2024-01-01,5000,1500\n", "log.csv") == "csv"
    assert sniff("Aktivität;Distanz\nLauf;5,2\n".encode("utf-8"), "x.csv") == "csv"
    assert looks_like_text(b"") and not looks_like_text(b"a,b\x00c")
