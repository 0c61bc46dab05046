"""TCX reader: structure, inputs, bad files, and every shared TCX file."""
from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sub3coach.errors import CorruptFile, NotAnActivity, Sub3Error
from sub3coach.io.gpx import parse_time_s
from sub3coach.io.tcx import read_tcx
from sub3coach.io.write import write_tcx
from sub3coach.synth import synthetic_run
from tests.conftest import shared_path

NS = ('xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2" '
      'xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2"')


def _tp(i: int, body: str = "") -> str:
    return f"<Trackpoint><Time>2020-12-02T09:08:{i:02d}Z</Time>{body}</Trackpoint>"


def _tcx(activities: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><TrainingCenterDatabase {NS}><Activities>{activities}</Activities></TrainingCenterDatabase>'.encode()


def _activity(sport: str, laps: list[tuple[float, float, str]], extra: str = "") -> str:
    lap_xml = "".join(
        f'<Lap StartTime="2020-12-02T09:08:00Z"><TotalTimeSeconds>{t}</TotalTimeSeconds><DistanceMeters>{d}</DistanceMeters>'
        f"<Track>{pts}</Track></Lap>"
        for t, d, pts in laps
    )
    return f'<Activity Sport="{sport}"><Id>2020-12-02T09:08:00Z</Id>{lap_xml}{extra}</Activity>'


@pytest.fixture(scope="module")
def synth_tcx() -> bytes:
    return write_tcx(synthetic_run(duration_s=600, seed=5), lap_distance_m=500)


def test_trackpoint_fields_and_lap_totals() -> None:
    full = ("<Position><LatitudeDegrees>-8.36</LatitudeDegrees><LongitudeDegrees>-36.57</LongitudeDegrees></Position>"
            "<AltitudeMeters>668.8</AltitudeMeters><DistanceMeters>{d}</DistanceMeters>"
            "<HeartRateBpm><Value>{hr}</Value></HeartRateBpm>"
            "<Extensions><ns3:TPX><ns3:Speed>3.1</ns3:Speed><ns3:RunCadence>88</ns3:RunCadence><ns3:Watts>250</ns3:Watts></ns3:TPX></Extensions>")
    lap1 = "".join(_tp(i, full.format(d=i * 3.0, hr=140 + i)) for i in range(3))
    lap2 = "".join(_tp(i, full.format(d=i * 3.0, hr=0)) for i in range(3, 5)) + _tp(5)  # HR 0 = no reading; bare point
    creator = '<Creator xsi:type="Device_t" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Name>Forerunner 245</Name></Creator>'
    w, = read_tcx(_tcx(_activity("Running", [(100.5, 250.25, lap1), (20, 30.0, lap2)], "<Notes>Tempo</Notes>" + creator)))
    assert len(w) == 6 and w.sport == "run" and w.device == "Forerunner 245" and w.name == "Tempo"
    assert w.device_distance_m == pytest.approx(280.25) and w.device_timer_s == pytest.approx(120.5)
    assert w.metadata["laps"] == 2
    np.testing.assert_allclose(w.distance_m, [0, 3, 6, 9, 12, np.nan])
    np.testing.assert_allclose(w.hr_bpm, [140, 141, 142, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(w.cadence_spm, [176] * 5 + [np.nan])  # per-leg RunCadence doubled
    np.testing.assert_allclose(w.speed_mps, [3.1] * 5 + [np.nan])
    np.testing.assert_allclose(w.power_w, [250] * 5 + [np.nan])
    np.testing.assert_allclose(w.altitude_m[:5], 668.8)
    assert w.time_s[0] == parse_time_s("2020-12-02T09:08:00Z")


def test_tpx_in_default_namespace_and_bike_cadence_not_doubled() -> None:
    body = ('<Cadence>91</Cadence><Extensions><TPX xmlns="http://www.garmin.com/xmlschemas/ActivityExtension/v2">'
            "<Speed>8.5</Speed></TPX></Extensions>")
    w, = read_tcx(_tcx(_activity("Biking", [(2, 17.0, _tp(0, body) + _tp(1, body))])))
    assert w.sport == "bike"
    np.testing.assert_allclose(w.cadence_spm, 91)
    np.testing.assert_allclose(w.speed_mps, 8.5)


def test_suunto_trackpoint_cadence_doubled_for_running() -> None:
    w, = read_tcx(_tcx(_activity("Running", [(2, 5.0, _tp(0, "<Cadence>84</Cadence>") + _tp(1, "<Cadence>85</Cadence>"))])))
    np.testing.assert_allclose(w.cadence_spm, [168, 170])


def test_multiple_activities_and_other_sport() -> None:
    a = _activity("Running", [(1, 2.0, _tp(0) + _tp(1))])
    b = _activity("Other", [(1, 2.0, _tp(10) + _tp(11) + _tp(12))])
    ws = read_tcx(_tcx(a + b))
    assert [len(w) for w in ws] == [2, 3]
    assert [w.sport for w in ws] == ["run", "other"]
    assert ws[1].metadata["activity_index"] == 1


def test_courses_are_not_activities() -> None:
    doc = (f'<TrainingCenterDatabase {NS}><Courses><Course><Name>c</Name><Lap/><Track>{_tp(0)}{_tp(1)}</Track></Course>'
           "</Courses></TrainingCenterDatabase>").encode()
    with pytest.raises(NotAnActivity, match="no activities"):
        read_tcx(doc, name="course.tcx")


def test_lap_summaries_only_is_not_an_activity() -> None:
    with pytest.raises(NotAnActivity, match="no trackpoints"):
        read_tcx(_tcx(_activity("Running", [(600, 2000.0, "")])), name="manual.tcx")


@pytest.mark.parametrize("time_xml", ["", "<Time>garbage</Time>", "<Time></Time>"])
def test_trackpoints_without_time_are_corrupt(time_xml: str) -> None:
    pts = f"<Trackpoint>{time_xml}<HeartRateBpm><Value>120</Value></HeartRateBpm></Trackpoint>" * 3
    with pytest.raises(CorruptFile, match="no timestamps") as ei:
        read_tcx(_tcx(_activity("Running", [(1, 1.0, pts)])), name="notime.tcx")
    assert str(ei.value).startswith("notime.tcx: ")


def test_some_untimed_points_are_dropped_and_counted() -> None:
    pts = _tp(0) + "<Trackpoint><Time>bad</Time></Trackpoint><Trackpoint/>" + _tp(1)
    w, = read_tcx(_tcx(_activity("Running", [(1, 1.0, pts)])))
    assert len(w) == 2 and w.metadata["points_without_time"] == 2


# ----- inputs ------------------------------------------------------------------------------------

def test_path_bytes_fileobj_gzip_and_leading_whitespace(tmp_path: Path, synth_tcx: bytes) -> None:
    ref, = read_tcx(synth_tcx)
    p = tmp_path / "run.tcx.gz"
    p.write_bytes(gzip.compress(synth_tcx))
    variants = [
        read_tcx(p)[0],
        read_tcx(io.BytesIO(synth_tcx), name="upload.tcx")[0],
        read_tcx(gzip.compress(synth_tcx))[0],
        read_tcx(b"          \n" + synth_tcx)[0],  # Garmin files starting with spaces
        read_tcx(b"\xef\xbb\xbf" + synth_tcx)[0],
        read_tcx(b"\xef\xbb\xbf \r\n " + synth_tcx)[0],
    ]
    for w in variants:
        assert len(w) == len(ref) == 601
        np.testing.assert_array_equal(w.distance_m, ref.distance_m)
        assert w.device_distance_m == ref.device_distance_m
    assert ref.metadata["laps"] > 1


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"\n\n   ", "empty"),
        (b"PK\x03\x04\x00\x00binary", "malformed"),
        (b"<TrainingCenterDatabase><Activities><Activity Sport='Running'><Lap>", "truncated"),
        (b"<gpx version='1.1'/>", "not a TCX"),
        (b"<TrainingCenterDatabase></Activities></TrainingCenterDatabase>", "malformed"),
    ],
)
def test_bad_input_raises_corrupt_file(data: bytes, fragment: str) -> None:
    with pytest.raises(CorruptFile) as ei:
        read_tcx(data, name="bad.tcx")
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith("bad.tcx") and fragment in msg


def test_billion_laughs_refused() -> None:
    doc = (b'<?xml version="1.0"?><!DOCTYPE TrainingCenterDatabase [<!ENTITY a "aaaaaaaaaa">'
           b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
           b"<TrainingCenterDatabase><Activities><Activity Sport='Running'><Notes>&c;</Notes></Activity></Activities></TrainingCenterDatabase>")
    with pytest.raises(CorruptFile, match="unsafe"):
        read_tcx(doc, name="bomb.tcx")


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_random_bytes_give_one_line_errors(data: bytes) -> None:
    try:
        read_tcx(data, name="x.tcx")
    except Sub3Error as exc:
        assert "\n" not in str(exc) and str(exc).startswith("x.tcx")


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_truncated_tcx_is_corrupt(synth_tcx: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=1, max_value=len(synth_tcx) - 30))
    with pytest.raises(CorruptFile):
        read_tcx(synth_tcx[:cut], name="cut.tcx")


# ----- every shared TCX file ---------------------------------------------------------------------

_LAP_RE = re.compile(rb"<Lap\b[^>]*>\s*<TotalTimeSeconds>([^<]+)</TotalTimeSeconds>\s*<DistanceMeters>([^<]+)</DistanceMeters>")
_LAP_START_RE = re.compile(rb'<Lap\s+StartTime="([^"]+)"')
_HR_RE = re.compile(rb"<HeartRateBpm>\s*<Value>\s*([0-9.]+)\s*</Value>")
_CREATOR_RE = re.compile(rb"<Creator\b.*?<Name>([^<]*)</Name>", re.DOTALL)
_SPORT_RE = re.compile(rb'<Activity\s+Sport="([^"]+)"')


@pytest.mark.shared
def test_every_shared_tcx_reads_and_matches_its_laps() -> None:
    files = sorted(shared_path("files", "tcx").glob("*.tcx"))
    assert files
    mismatches: dict[str, str] = {}
    for f in files:
        raw = f.read_bytes()
        ws = read_tcx(f)
        assert len(ws) == len(_SPORT_RE.findall(raw)) == 1, f.name
        w = ws[0]
        assert len(w) > 0 and np.all(np.diff(w.time_s) >= 0), f.name
        assert w.sport == {"Running": "run", "Biking": "bike"}[_SPORT_RE.search(raw).group(1).decode()], f.name
        creator = _CREATOR_RE.search(raw)
        assert w.device == (creator.group(1).decode().strip() if creator else None), f.name
        laps = [(float(t), float(d)) for t, d in _LAP_RE.findall(raw)]
        assert w.metadata["laps"] == len(laps), f.name
        assert w.device_timer_s == pytest.approx(sum(t for t, _ in laps)), f.name
        assert w.device_distance_m == pytest.approx(sum(d for _, d in laps)), f.name
        hr = [float(v) for v in _HR_RE.findall(raw)]
        assert int(np.isfinite(w.hr_bpm).sum()) == sum(1 for v in hr if v > 0), f.name
        if w.distance_m is None:
            mismatches[f.name] = "no DistanceMeters in trackpoints"
            continue
        last = w.distance_m[np.isfinite(w.distance_m)][-1]
        rel = last / w.device_distance_m - 1
        if abs(rel) > 0.01:
            # explained only when the trackpoints run on past the time the laps account for
            starts = [parse_time_s(s.decode()) for s in _LAP_START_RE.findall(raw)]
            lap_end = starts[-1] + laps[-1][0]
            assert w.time_s[-1] > lap_end + 60, f"{f.name}: last distance {last:.0f} m vs laps {w.device_distance_m:.0f} m"
            mismatches[f.name] = f"trackpoints run {w.time_s[-1] - lap_end:.0f} s past the last lap's end ({rel:+.1%})"
    # the known cases in the shared data (reported to the lead); new ones must be explained above
    assert set(mismatches) <= {"sports-lib-movescount.tcx", "sports-lib-unknown_example.tcx"}, mismatches


@pytest.mark.shared
def test_shared_running_tcx_cadence_is_steps_per_minute() -> None:
    for f in sorted(shared_path("files", "tcx").glob("*.tcx")):
        w = read_tcx(f)[0]
        if w.sport != "run" or w.cadence_spm is None:
            continue
        moving = w.cadence_spm[w.cadence_spm > 0]
        assert 130 <= np.median(moving) <= 210, f.name
