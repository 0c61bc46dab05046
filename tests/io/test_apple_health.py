"""Apple Health export reader: zip/folder/xml input, heart-rate join, units, time zones,
sport filter, malformed and hostile input."""
from __future__ import annotations

import io
import logging
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sub3coach.errors import CorruptFile, UnsafeArchive
from sub3coach.io.apple_health import (
    HR_MAX_GAP_S,
    interpolate_samples,
    is_apple_health_export,
    iter_apple_health,
    _parse_apple_date_py,
    parse_apple_date,
)
from sub3coach.io.write import write_gpx
from sub3coach.synth import synthetic_run
from tests.fixtures.make_exports import APPLE_DTD, apple_date, make_apple_health_export, make_zip_bomb

RUN = "HKWorkoutActivityTypeRunning"


@pytest.fixture(scope="module")
def export_zip(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_apple_health_export(tmp_path_factory.mktemp("ah") / "export.zip", n_runs=2)


def _one_line(err: Exception) -> str:
    s = str(err)
    assert s and "\n" not in s
    return s


def _brute_force_hr(t: np.ndarray, hr_t: np.ndarray, hr_v: np.ndarray) -> np.ndarray:
    """Reference join, one point at a time (independent of the vectorised reader)."""
    out = np.full(t.size, np.nan)
    for k, x in enumerate(t):
        if np.min(np.abs(hr_t - x)) > HR_MAX_GAP_S:
            continue
        j = int(np.searchsorted(hr_t, x))
        if j < hr_t.size and hr_t[j] == x:
            out[k] = hr_v[j]
        elif 0 < j < hr_t.size:
            a, b = hr_t[j - 1], hr_t[j]
            out[k] = hr_v[j - 1] + (hr_v[j] - hr_v[j - 1]) * (x - a) / (b - a)
        else:
            out[k] = hr_v[min(j, hr_t.size - 1)]
    return out


@pytest.mark.parametrize("layout", ["zip", "folder", "xml", "bytes"])
def test_runs_joined_with_route_and_heart_rate(tmp_path: Path, layout: str) -> None:
    target = {"zip": tmp_path / "export.zip", "folder": tmp_path / "apple_health_export",
              "xml": tmp_path / "x" / "export.xml", "bytes": tmp_path / "e.zip"}[layout]
    spec = make_apple_health_export(target, n_runs=2)
    src = target.read_bytes() if layout == "bytes" else target
    runs = list(iter_apple_health(src, name="upload.zip" if layout == "bytes" else None))
    want = spec.runs
    assert len(runs) == len(want) == 3  # two outdoor runs and a treadmill run
    for w, s in zip(runs, want):
        assert w.sport == "run" and w.source_format == "apple_health"
        assert w.device == "Alex’s Apple Watch"
        assert w.device_elapsed_s == pytest.approx(s.duration_s, abs=1e-3)
        assert w.device_distance_m == pytest.approx(s.distance_m, rel=1e-6)
        assert w.metadata["apple_activity_type"] == RUN
        if s.route_workout is not None:  # outdoor: timeline and positions from the route GPX
            r = s.route_workout
            np.testing.assert_allclose(w.time_s, r.time_s, atol=1e-3)
            np.testing.assert_allclose(w.lat_deg, r.lat_deg, atol=1e-7)
            np.testing.assert_allclose(w.altitude_m, r.altitude_m, atol=1e-3)
            np.testing.assert_allclose(w.hr_bpm, _brute_force_hr(r.time_s, s.hr_t, s.hr_v), atol=1e-9, equal_nan=True)
            assert w.sub_sport is None and w.metadata["indoor"] is False
        else:  # treadmill: the heart-rate samples are the timeline
            assert w.lat_deg is None and w.lon_deg is None
            np.testing.assert_array_equal(w.time_s, s.hr_t)
            np.testing.assert_array_equal(w.hr_bpm, s.hr_v)
            assert w.sub_sport == "treadmill"


def test_heart_rate_values_and_gap(export_zip) -> None:  # type: ignore[no-untyped-def]
    s = export_zip.runs[0]
    (w,) = [w for w in iter_apple_health(export_zip.path) if w.time_s[0] == s.start_s]
    hr_at = dict(zip(s.hr_t.tolist(), s.hr_v.tolist()))
    exact = [k for k, t in enumerate(w.time_s) if t in hr_at]
    assert len(exact) > 50
    assert all(w.hr_bpm[k] == hr_at[w.time_s[k]] for k in exact)  # a real sample is kept as is
    g0, g1 = s.hr_gap
    before = s.hr_t[s.hr_t < g0].max()
    after = s.hr_t[s.hr_t >= g1].min()
    inside = (w.time_s > before + HR_MAX_GAP_S) & (w.time_s < after - HR_MAX_GAP_S)
    near = (w.time_s >= before) & (w.time_s <= before + HR_MAX_GAP_S)
    assert inside.sum() > 30 and np.isnan(w.hr_bpm[inside]).all()
    assert np.isfinite(w.hr_bpm[near]).all()
    finite = np.isfinite(w.hr_bpm)
    assert finite.sum() == w.time_s.size - inside.sum()
    assert 80 < np.nanmean(w.hr_bpm) < 200 and w.metadata["hr_samples"] == s.hr_t.size


def test_sports_filter_and_skips(export_zip, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO, logger="sub3coach.io.apple_health"):
        everything = list(iter_apple_health(export_zip.path, sports=None))
    types = [w.metadata["apple_activity_type"] for w in everything]
    assert types == [RUN, RUN, RUN, "HKWorkoutActivityTypeTraditionalStrengthTraining"]
    assert everything[-1].sport == "other" and everything[-1].device_distance_m is None
    assert any("HKWorkoutActivityTypeWalking" in r.getMessage() and "no route and no heart-rate" in r.getMessage()
               for r in caplog.records)  # the walk has neither: skipped with a reason
    assert [w.sport for w in iter_apple_health(export_zip.path, sports=("walk",))] == []
    assert len(list(iter_apple_health(export_zip.path, sports=("running", "other")))) == 4


def test_units_converted() -> None:
    xml = _xml(_workout(distance='totalDistance="3.1" totalDistanceUnit="mi"', duration='duration="1800" durationUnit="s"')
               + _workout(start=1_700_100_000, distance='', duration='duration="0.5" durationUnit="hr"',
                          children='<WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" sum="5000" unit="m"/>'),
               hr=_hr_records(1_700_000_000, 1800) + _hr_records(1_700_100_000, 1800))
    a, b = iter_apple_health(xml.encode(), name="export.xml")
    assert a.device_distance_m == pytest.approx(3.1 * 1609.344)
    assert a.device_elapsed_s == 1800.0
    assert b.device_distance_m == 5000.0 and b.device_elapsed_s == 1800.0


@pytest.mark.parametrize("offset", ["+0200", "-0700", "+0530", "+0000", "-0930"])
def test_time_zone_offsets(offset: str) -> None:
    t0 = 1_690_000_000.0
    sign = 1 if offset[0] == "+" else -1
    off_min = sign * (int(offset[1:3]) * 60 + int(offset[3:]))
    hr = "".join(_hr(t0 + k * 5, 100 + k, off_min) for k in range(10))
    xml = _xml(_workout(start=t0, end=t0 + 45, off_min=off_min), hr=hr)
    assert f" {offset}\"" in xml
    (w,) = iter_apple_health(xml.encode())
    np.testing.assert_array_equal(w.time_s, t0 + 5 * np.arange(10))
    np.testing.assert_array_equal(w.hr_bpm, 100 + np.arange(10))
    assert w.metadata["apple_start_time"] == datetime.fromtimestamp(t0, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_prefers_the_workouts_own_heart_rate_source() -> None:
    t0 = 1_690_000_000.0
    hr = "".join(_hr(t0 + k * 5, 150, 0) for k in range(10))
    hr += "".join(_hr(t0 + k * 5 + 1, 90, 0, source="Polar H10") for k in range(10))
    (w,) = iter_apple_health(_xml(_workout(start=t0, end=t0 + 50), hr=hr).encode())
    assert (w.hr_bpm == 150).all()
    hr2 = "".join(_hr(t0 + k * 5, 90, 0, source="Polar H10") for k in range(10))
    (w2,) = iter_apple_health(_xml(_workout(start=t0, end=t0 + 50), hr=hr2).encode())
    assert (w2.hr_bpm == 90).all()  # another source is used when the watch has none


def test_route_missing_from_zip_falls_back_to_heart_rate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    t0 = 1_690_000_000.0
    xml = _xml(_workout(start=t0, end=t0 + 50, children='<WorkoutRoute><FileReference path="/workout-routes/route_x.gpx"/></WorkoutRoute>'),
               hr="".join(_hr(t0 + k * 5, 120, 0) for k in range(10)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("apple_health_export/export.xml", xml)
    with caplog.at_level(logging.WARNING):
        (w,) = iter_apple_health(buf.getvalue())
    assert len(w) == 10 and w.lat_deg is None
    assert any("route_x.gpx" in r.getMessage() for r in caplog.records)


def test_old_exports_location_elements_and_vertical_tab() -> None:
    t0 = 1_500_000_000.0
    locs = "".join(f'<Location date="{apple_date(t0 + k, 60)}" latitude="{48.1 + k * 1e-5}" longitude="11.5" '
                   f'altitude="520" speed="3.1"/>' for k in range(30))
    xml = _xml(_workout(start=t0, end=t0 + 29, children=f"<WorkoutRoute>{locs}</WorkoutRoute>",
                        duration='duration="0.4833"'), hr=_hr(t0 + 10, 140, 60))
    xml = xml.replace('sourceName="W"', 'sourceName="W\x0b"', 1)  # old exports hold stray vertical tabs
    (w,) = iter_apple_health(xml.encode())
    np.testing.assert_array_equal(w.time_s, t0 + np.arange(30))
    np.testing.assert_allclose(w.lat_deg, 48.1 + np.arange(30) * 1e-5)
    assert w.device_elapsed_s == pytest.approx(29.0, abs=0.01)  # no durationUnit: minutes fit the window
    assert w.hr_bpm[0] == w.hr_bpm[10] == 140 and np.isnan(w.hr_bpm[25])


# ----- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("text,what", [
    ('<HealthData locale="en"><Record type="x" startDate="2023-01-01 00:00:00 +0000"', "truncated"),
    ('<HealthData locale="en"><Record type="x"></Workout></HealthData>', "malformed"),
    ('<HealthData locale="en"><Record type="x" value="1" value="2"/></HealthData>', "malformed"),
    ("", "empty"),
])
def test_malformed_xml_is_corrupt_file(tmp_path: Path, text: str, what: str) -> None:
    p = tmp_path / "export.xml"
    p.write_text(text)
    with pytest.raises(CorruptFile) as ei:
        list(iter_apple_health(p))
    msg = _one_line(ei.value)
    assert msg.startswith(str(p)) and what in msg


def test_ios16_broken_dtd_is_tolerated() -> None:
    """iOS 16 exports ship a DTD with an unterminated <!ATTLIST> that every parser rejects."""
    broken = APPLE_DTD.replace("]>", "<!ATTLIST VisionPrescription\n  type CDATA #REQUIRED\n  brand CDATA #IMPLIED\n\n"
                                     "<!ELEMENT RightEye EMPTY>\n]>")
    t0 = 1_690_000_000.0
    xml = _xml(_workout(start=t0, end=t0 + 45), hr="".join(_hr(t0 + k * 5, 100 + k, 0) for k in range(10)))
    xml = xml.replace(APPLE_DTD, broken)
    assert "<!ATTLIST VisionPrescription" in xml
    (w,) = iter_apple_health(xml.encode())
    np.testing.assert_array_equal(w.hr_bpm, 100 + np.arange(10))


def test_xml_bomb_refused() -> None:
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE HealthData [\n<!ENTITY a "aaaaaaaaaa">\n'
            + "".join(f'<!ENTITY {chr(98 + i)} "&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};">\n' for i in range(9))
            + ']>\n<HealthData locale="en"><Record type="&j;"/></HealthData>\n')
    with pytest.raises(CorruptFile) as ei:
        list(iter_apple_health(bomb.encode(), name="bomb.xml"))
    assert "entities" in _one_line(ei.value) and "bomb.xml" in str(ei.value)
    no_root = bomb.replace("<HealthData", "<Other").replace("</HealthData>", "</Other>")  # the DTD is kept
    with pytest.raises(CorruptFile) as ei:
        list(iter_apple_health(no_root.encode(), name="bomb.xml"))
    assert "entities" in _one_line(ei.value)


def test_not_a_health_export(tmp_path: Path) -> None:
    p = tmp_path / "export.xml"
    p.write_bytes(write_gpx(synthetic_run(duration_s=60, seed=1)))
    with pytest.raises(CorruptFile) as ei:
        list(iter_apple_health(p))
    assert "not an Apple Health export" in _one_line(ei.value)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes/readme.xml", "<a/>")
    with pytest.raises(CorruptFile):
        list(iter_apple_health(buf.getvalue()))
    with pytest.raises(CorruptFile):
        list(iter_apple_health(tmp_path / "nope.zip"))
    assert not is_apple_health_export(tmp_path / "nope.zip") and not is_apple_health_export(p)


def test_is_apple_health_export(export_zip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert is_apple_health_export(export_zip.path)
    folder = make_apple_health_export(tmp_path / "f", n_runs=1)
    assert is_apple_health_export(folder.path) and is_apple_health_export(folder.path / "export.xml")


def test_zip_slip_and_zip_bomb_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("apple_health_export/export.xml", _xml(""))
        zf.writestr("../evil.gpx", "<gpx/>")
    with pytest.raises(UnsafeArchive) as ei:
        list(iter_apple_health(buf.getvalue(), name="export.zip"))
    assert "../evil.gpx" in _one_line(ei.value)
    bomb = make_zip_bomb(tmp_path / "export.zip", "apple_health_export/workout-routes/route_1.gpx",
                         extra={"apple_health_export/export.xml": _xml("").encode()})
    with pytest.raises(UnsafeArchive) as ei:
        list(iter_apple_health(bomb))
    assert "zip bomb" in _one_line(ei.value)


# ----- pure helpers ---------------------------------------------------------------------------

@pytest.mark.parametrize("parse", [parse_apple_date, _parse_apple_date_py])
def test_parse_apple_date_examples(parse) -> None:  # type: ignore[no-untyped-def]
    want = datetime(2023, 5, 1, 5, 12, 33, tzinfo=timezone.utc).timestamp()
    assert parse("2023-05-01 07:12:33 +0200") == want
    assert parse("2023-04-30 22:12:33 -0700") == want
    assert parse("2023-05-01 10:42:33 +05:30") == want
    assert parse("2023-05-01 05:12:33 Z") == want
    assert parse("2023-05-01 05:12:33") == want  # no offset: UTC
    for bad in ("yesterday", "2023-05-01 07:12:33 +2", "2023-13-01 07:12:33 +0200", "2023-05-01 07:12:33 0200"):
        assert np.isnan(parse(bad)), bad
    assert np.isnan(parse_apple_date("")) and np.isnan(parse_apple_date(None))


@settings(max_examples=100, deadline=None)
@given(st.integers(946_684_800, 2_000_000_000), st.integers(-12 * 4, 14 * 4))
def test_parse_apple_date_round_trip(t: int, quarter_hours: int) -> None:
    text = apple_date(t, quarter_hours * 15)
    assert parse_apple_date(text) == t
    assert _parse_apple_date_py(text) == t


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2000), min_size=1, max_size=60, unique=True),
       st.lists(st.floats(0, 3000), min_size=1, max_size=80), st.floats(1, 30))
def test_interpolate_samples_properties(src: list[int], target: list[float], gap: float) -> None:
    t_src = np.sort(np.asarray(src, dtype=float))
    vals = 60 + (t_src % 97)
    t = np.asarray(target)
    out = interpolate_samples(t, t_src, vals, max_gap_s=gap)
    dist = np.min(np.abs(t[:, None] - t_src[None, :]), axis=1)
    assert (np.isnan(out) == (dist > gap)).all()
    ok = ~np.isnan(out)
    assert (out[ok] >= vals.min() - 1e-9).all() and (out[ok] <= vals.max() + 1e-9).all()
    np.testing.assert_array_equal(interpolate_samples(t_src, t_src, vals, max_gap_s=gap), vals)


@pytest.mark.slow
def test_large_export_streams(tmp_path: Path) -> None:
    """~60 MB of records parse in one pass with flat memory (peak RSS of a fresh process; an
    ElementTree of this file would take several hundred MB)."""
    import subprocess
    import sys

    p = tmp_path / "export.xml"
    t0 = 1_600_000_000.0
    rec = ('<Record type="HKQuantityTypeIdentifierStepCount" sourceName="W" unit="count" '
           'startDate="{d}" endDate="{d}" value="12"><MetadataEntry key="k" value="v"/></Record>\n')
    with p.open("w") as fh:
        fh.write(APPLE_DTD + '<HealthData locale="en">\n')
        for k in range(150_000):
            d = apple_date(t0 + k * 60, 120)
            fh.write(rec.format(d=d))
            fh.write(_hr(t0 + k * 60, 60 + k % 50, 120))
        fh.write(_workout(start=t0, end=t0 + 3600) + "</HealthData>\n")
    # Linux carries ru_maxrss across exec (a child spawned by a large pytest process would
    # report the parent's peak), so reset the high-water mark and read VmHWM instead.
    code = ("import re, sys, time\n"
            "open('/proc/self/clear_refs', 'w').write('5')\n"
            "from sub3coach.io.apple_health import iter_apple_health\n"
            "t = time.perf_counter(); ws = list(iter_apple_health(sys.argv[1])); dt = time.perf_counter() - t\n"
            "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
            "print(len(ws), len(ws[0]), hwm, dt)\n")
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True).stdout.split()
    n_workouts, n_samples, peak_kib, seconds = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    assert (n_workouts, n_samples) == (1, 61)
    assert p.stat().st_size > 50e6 and peak_kib < 250_000, (peak_kib, seconds)


# ----- tiny hand-written exports ---------------------------------------------------------------

def _hr(t: float, bpm: float, off_min: int, source: str = "W") -> str:
    d = apple_date(t, off_min)
    return (f'<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="{source}" unit="count/min" '
            f'creationDate="{d}" startDate="{d}" endDate="{d}" value="{bpm:g}"/>\n')


def _hr_records(t0: float, dur: float) -> str:
    return "".join(_hr(t0 + k, 120, 0) for k in range(0, int(dur), 30))


def _workout(*, start: float = 1_700_000_000.0, end: float | None = None, off_min: int = 0, distance: str = "",
             duration: str = 'duration="30" durationUnit="min"', children: str = "") -> str:
    end = start + 1800 if end is None else end
    return (f'<Workout workoutActivityType="{RUN}" {duration} {distance} sourceName="W" '
            f'startDate="{apple_date(start, off_min)}" endDate="{apple_date(end, off_min)}">{children}</Workout>\n')


def _xml(workouts: str, hr: str = "") -> str:
    return APPLE_DTD + '<HealthData locale="en_US">\n<ExportDate value="2024-01-01 00:00:00 +0000"/>\n' + hr + workouts + "</HealthData>\n"

