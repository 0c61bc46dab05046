"""GPX reader: extensions in the wild, inputs, bad files, and every shared GPX file."""
from __future__ import annotations

import csv
import gzip
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sub3coach import geo
from sub3coach.errors import CorruptFile, NotAnActivity, Sub3Error
from sub3coach.io.gpx import parse_time_s, read_gpx
from sub3coach.io.write import write_gpx
from sub3coach.synth import synthetic_run
from tests.conftest import shared_path

GPX_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"'
    ' xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"'
    ' xmlns:ns3="http://www.garmin.com/xmlschemas/TrackPointExtension/v2"'
    ' xmlns:gpxdata="http://www.cluetrust.com/XML/GPXDATA/1/0">\n'
)


def _gpx(points: str, *, trk_extra: str = "", head: str = GPX_HEAD) -> bytes:
    return (head + f"<trk>{trk_extra}<trkseg>{points}</trkseg></trk></gpx>\n").encode("utf-8")


def _pt(i: int, ext: str = "", *, lat: float = 47.0, lon: float = 8.0, ele: str = "<ele>400.5</ele>") -> str:
    t = (datetime(2024, 5, 4, 7, 0, tzinfo=timezone.utc) + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ext_xml = f"<extensions>{ext}</extensions>" if ext else ""
    return f'<trkpt lat="{lat + i * 1e-5}" lon="{lon}">{ele}<time>{t}</time>{ext_xml}</trkpt>'


@pytest.fixture(scope="module")
def synth_gpx() -> bytes:
    return write_gpx(synthetic_run(duration_s=600, seed=3))


# ----- extensions seen in the wild ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("ext", "hr", "cad"),
    [
        ("<gpxtpx:TrackPointExtension><gpxtpx:hr>141</gpxtpx:hr><gpxtpx:cad>88</gpxtpx:cad></gpxtpx:TrackPointExtension>", 141, 88),
        ("<ns3:TrackPointExtension><ns3:atemp>30.0</ns3:atemp><ns3:hr>150</ns3:hr><ns3:cad>0</ns3:cad></ns3:TrackPointExtension>", 150, 0),
        ("<gpxdata:hr>133</gpxdata:hr><gpxdata:cadence>80</gpxdata:cadence>", 133, 80),
        ("<heartrate>120</heartrate>", 120, None),
        ("<hr>99</hr><cadence>77</cadence>", 99, 77),
        ('<TrackPointExtension xmlns="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"><hr>160</hr></TrackPointExtension>', 160, None),
        ("<gpxtpx:TrackPointExtension><gpxtpx:hr>0</gpxtpx:hr></gpxtpx:TrackPointExtension>", None, None),
    ],
)
def test_hr_and_cadence_extensions(ext: str, hr: int | None, cad: int | None) -> None:
    # no <type>: sport unknown, so cadence is kept as written
    w = read_gpx(_gpx("".join(_pt(i, ext) for i in range(3))))[0]
    if hr is None:
        assert w.hr_bpm is None
    else:
        assert w.hr_bpm is not None and np.all(w.hr_bpm == hr)
    if cad is None:
        assert w.cadence_spm is None
    else:
        assert w.cadence_spm is not None and np.all(w.cadence_spm == cad)
    assert w.speed_mps is None  # never computed by the reader
    assert w.sport == "unknown"


def test_running_cadence_is_doubled_and_other_sports_are_not() -> None:
    ext = "<gpxtpx:TrackPointExtension><gpxtpx:cad>86</gpxtpx:cad></gpxtpx:TrackPointExtension>"
    pts = "".join(_pt(i, ext) for i in range(3))
    run = read_gpx(_gpx(pts, trk_extra="<type>running</type>"))[0]
    bike = read_gpx(_gpx(pts, trk_extra="<type>cycling</type>"))[0]
    assert run.sport == "run" and np.all(run.cadence_spm == 172) and run.metadata["cadence_doubled"]
    assert bike.sport == "bike" and np.all(bike.cadence_spm == 86)


@pytest.mark.parametrize(("label", "sport"), [("9", "run"), ("1", "bike"), ("17", "bike"), ("Run", "run"), ("hiking", "hike"), ("42", "other"), ("", "unknown")])
def test_sport_from_track_type(label: str, sport: str) -> None:
    w = read_gpx(_gpx(_pt(0) + _pt(1), trk_extra=f"<name>N</name><type>{label}</type>"))[0]
    assert w.sport == sport
    assert w.name == "N"


def test_power_and_gpx10_speed() -> None:
    head = '<?xml version="1.0"?><gpx version="1.0" creator="old" xmlns="http://www.topografix.com/GPX/1/0">'
    pts = "".join(
        f'<trkpt lat="47.0" lon="8.0"><ele>1</ele><time>2020-01-01T00:00:0{i}Z</time><speed>3.25</speed>'
        f"<extensions><power>{200 + i}</power></extensions></trkpt>"
        for i in range(3)
    )
    w = read_gpx(_gpx(pts, head=head))[0]
    assert np.allclose(w.speed_mps, 3.25)
    assert np.allclose(w.power_w, [200, 201, 202])
    assert w.metadata["gpx_version"] == "1.0"


def test_segments_concatenate_tracks_split_and_untimed_points_dropped() -> None:
    seg1 = "".join(_pt(i) for i in range(3))
    seg2 = "".join(_pt(i) for i in range(10, 12)) + '<trkpt lat="47" lon="8"><ele>3</ele></trkpt>'
    doc = (GPX_HEAD + f"<metadata><name>Meta</name></metadata><trk><trkseg>{seg1}</trkseg><trkseg>{seg2}</trkseg></trk>"
           f"<trk><name>second</name><trkseg>{_pt(20)}</trkseg></trk><trk><trkseg/></trk></gpx>").encode()
    ws = read_gpx(doc)
    assert [len(w) for w in ws] == [5, 1]
    assert ws[0].metadata["points_without_time"] == 1
    assert ws[0].name == "Meta" and ws[1].name == "second"
    assert np.all(np.diff(ws[0].time_s) > 0)


def test_garbled_values_become_nan_without_losing_the_column() -> None:
    hr = "<gpxtpx:TrackPointExtension><gpxtpx:hr>{}</gpxtpx:hr></gpxtpx:TrackPointExtension>"
    pts = (_pt(0, hr.format(120)) + _pt(1, hr.format("n/a"), ele="<ele>abc</ele>")
           + _pt(2, hr.format(" 122 ")).replace('lat="47.00002"', 'lat="999"'))
    w = read_gpx(_gpx(pts))[0]
    np.testing.assert_array_equal(w.hr_bpm, [120, np.nan, 122])
    np.testing.assert_array_equal(w.altitude_m, [400.5, np.nan, 400.5])
    assert np.isnan(w.lat_deg[2]) and np.isnan(w.lon_deg[2]) and np.isfinite(w.lat_deg[:2]).all()


def test_mixed_time_formats_in_one_track() -> None:
    pts = (_pt(0) + '<trkpt lat="47" lon="8"><time>2024-05-04T09:00:01+02:00</time></trkpt>'
           + '<trkpt lat="47" lon="8"><time>\n 2024-05-04T07:00:02.5Z </time></trkpt>')
    w = read_gpx(_gpx(pts))[0]
    np.testing.assert_allclose(w.time_s - w.time_s[0], [0, 1, 2.5])


def test_timezone_offsets_and_fractions() -> None:
    assert parse_time_s("2024-05-04T09:00:00+02:00") == parse_time_s("2024-05-04T07:00:00Z")
    assert parse_time_s("2024-05-04T07:00:00.25Z") == pytest.approx(datetime(2024, 5, 4, 7, tzinfo=timezone.utc).timestamp() + 0.25)
    assert parse_time_s("2024-05-04T07:00:00") == parse_time_s("2024-05-04T07:00:00Z")  # no zone: UTC
    assert np.isnan(parse_time_s("yesterday")) and np.isnan(parse_time_s(None)) and np.isnan(parse_time_s("2024-13-01T00:00:00Z"))


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)),
       st.sampled_from(["Z", "+00:00", "+05:30", "-03:00"]))
@settings(max_examples=150, deadline=None)
def test_parse_time_property(dt: datetime, zone: str) -> None:
    if zone == "Z":
        text = dt.replace(tzinfo=None).isoformat() + "Z"
    else:
        sign = 1 if zone[0] == "+" else -1
        off = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * sign
        text = (dt + off).replace(tzinfo=None).isoformat() + zone
    assert parse_time_s(text) == pytest.approx(dt.timestamp(), abs=1e-6)


def test_relative_keep_time_is_kept_and_flagged() -> None:
    pts = ('<trkpt lat="31.47" lon="120.25"><ele>5</ele><time>7505-10-18T22:05:45.399994Z</time></trkpt>'
           + "".join(f'<trkpt lat="31.47" lon="120.25"><time>1970-01-01T00:00:{i:02d}Z</time></trkpt>' for i in range(1, 6)))
    w = read_gpx(_gpx(pts))[0]
    assert w.metadata["relative_time"] is True
    assert w.metadata["dropped_time_outliers"] == 1
    assert list(w.time_s) == [1, 2, 3, 4, 5]


# ----- inputs ------------------------------------------------------------------------------------

def test_path_bytes_fileobj_gzip_bom_whitespace(tmp_path: Path, synth_gpx: bytes) -> None:
    ref = read_gpx(synth_gpx)[0]
    p = tmp_path / "run.gpx.gz"
    p.write_bytes(gzip.compress(synth_gpx))
    variants = [
        read_gpx(p)[0],
        read_gpx(str(p))[0],
        read_gpx(io.BytesIO(synth_gpx), name="upload.gpx")[0],
        read_gpx(bytearray(gzip.compress(synth_gpx)))[0],
        read_gpx(b"\xef\xbb\xbf  \r\n\t" + synth_gpx)[0],
        read_gpx(synth_gpx.decode("utf-8").encode("utf-16"))[0],
    ]
    for w in variants:
        assert len(w) == len(ref) == 601
        np.testing.assert_array_equal(w.time_s, ref.time_s)
        np.testing.assert_array_equal(w.hr_bpm, ref.hr_bpm)
    assert variants[0].source == str(p) and variants[2].source == "upload.gpx"
    assert ref.source_format == "gpx"


def test_mislabelled_utf16_declaration_on_utf8_text() -> None:
    doc = _gpx(_pt(0) + _pt(1), trk_extra="<name>Läufer</name>").replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
    assert read_gpx(doc)[0].name == "Läufer"


def test_windows_1252_declared_encoding() -> None:
    doc = _gpx(_pt(0) + _pt(1), trk_extra="<name>Café</name>").decode().replace('encoding="UTF-8"', 'encoding="windows-1252"')
    w = read_gpx(doc.encode("cp1252"))[0]
    assert w.name == "Café"


# ----- bad input ---------------------------------------------------------------------------------

def _one_line_error(exc: Sub3Error, label: str = "") -> None:
    s = str(exc)
    assert "\n" not in s and s
    if label:
        assert s.startswith(label)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"   \n\t ", "empty"),
        (b"\x00\x01\x02garbage\xff\xfe", ""),
        (b"<gpx><trk><trkseg><trkpt lat='1' lon='2'><time>2020-01-01T00:00:00Z", "truncated"),
        (b"<gpx><trk></gpx>", "malformed"),
        (b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>', "not a GPX"),
        (b"<TrainingCenterDatabase><Activities/></TrainingCenterDatabase>", "not a GPX"),
        (b"<gpx version='1.1'><trk><trkseg><trkpt lat='1' lon='2'><ele>3</ele></trkpt></trkseg></trk></gpx>", "no timestamps"),
        (b"<gpx><trk><trkseg><trkpt lat='1' lon='2'><time>garbage</time></trkpt></trkseg></trk></gpx>", "no timestamps"),
    ],
)
def test_bad_input_raises_corrupt_file(data: bytes, fragment: str) -> None:
    with pytest.raises(CorruptFile) as ei:
        read_gpx(data, name="bad.gpx")
    _one_line_error(ei.value, "bad.gpx")
    assert fragment in str(ei.value)


def test_route_or_waypoints_only_is_not_an_activity() -> None:
    doc = b"<gpx version='1.1'><wpt lat='1' lon='2'/><rte><rtept lat='1' lon='2'/></rte><trk><trkseg/></trk></gpx>"
    with pytest.raises(NotAnActivity, match="no track points"):
        read_gpx(doc, name="route.gpx")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<gpx version="1.1"><trk><name>&lol9;</name><trkseg><trkpt lat="1" lon="2"><time>2020-01-01T00:00:00Z</time></trkpt></trkseg></trk></gpx>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<gpx version="1.1"><trk><name>&xxe;</name><trkseg><trkpt lat="1" lon="2"><time>2020-01-01T00:00:00Z</time></trkpt></trkseg></trk></gpx>
"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE, BILLION_LAUGHS.decode().encode("utf-16")], ids=["billion-laughs", "xxe", "utf16-bomb"])
def test_xml_bombs_are_refused(doc: bytes) -> None:
    with pytest.raises(CorruptFile, match="unsafe") as ei:
        read_gpx(doc, name="bomb.gpx")
    _one_line_error(ei.value, "bomb.gpx")


def test_harmless_doctype_still_reads() -> None:
    doc = b'<?xml version="1.0"?>\n<!DOCTYPE gpx>\n' + _gpx(_pt(0) + _pt(1)).split(b"?>", 1)[1]
    assert len(read_gpx(doc)[0]) == 2


@given(st.binary(min_size=0, max_size=300))
@settings(max_examples=200, deadline=None)
def test_random_bytes_never_escape_as_raw_exceptions(data: bytes) -> None:
    try:
        read_gpx(data, name="x.gpx")
    except Sub3Error as exc:
        _one_line_error(exc, "x.gpx")


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_truncated_files_raise_corrupt_file(synth_gpx: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=1, max_value=len(synth_gpx) - 10))
    with pytest.raises(CorruptFile) as ei:
        read_gpx(synth_gpx[:cut], name="cut.gpx")
    _one_line_error(ei.value, "cut.gpx")


# ----- every shared GPX file ---------------------------------------------------------------------

def _shared_gpx_files() -> list[Path]:
    return sorted(shared_path("files", "gpx").glob("*.gpx"))


_HR_RE = re.compile(rb"<(?:[A-Za-z0-9_]+:)?(?:hr|heartrate)>\s*([0-9.]+)\s*<", re.IGNORECASE)
_TYPE_RE = re.compile(rb"<trk>\s*(?:<name>.*?</name>\s*)?<type>([^<]*)</type>", re.DOTALL)


@pytest.mark.shared
def test_every_shared_gpx_reads_with_hr_where_present() -> None:
    files = _shared_gpx_files()
    assert files
    prov = {}
    with (files[0].parent.parent / "PROVENANCE.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if row and row[0].startswith("gpx/"):
                prov[row[0][4:]] = row[4]
    with_hr = 0
    for f in files:
        raw = f.read_bytes()
        ws = read_gpx(f)
        assert len(ws) == 1, f.name
        w = ws[0]
        assert len(w) > 0 and w.has("lat_deg") and w.has("lon_deg"), f.name
        assert w.source_format == "gpx"
        # HR: the reader finds exactly the positive HR readings the raw text holds
        hr_values = [float(v) for v in _HR_RE.findall(raw)]
        expected = sum(1 for v in hr_values if v > 0)
        found = int(np.isfinite(w.hr_bpm).sum()) if w.hr_bpm is not None else 0
        assert found == expected, f.name
        if expected:
            with_hr += 1
            assert 40 <= np.nanmedian(w.hr_bpm) <= 210, f.name
        # sport: from <trk><type> when the file has one, matching the provenance list
        if _TYPE_RE.search(raw):
            assert w.sport == {"running": "run", "cycling": "bike"}[prov[f.name]], f.name
        else:
            assert w.sport == "unknown", f.name
        # time: absolute dates unless the Keep relative clock
        if w.metadata.get("relative_time"):
            assert w.time_s.max() < 1e7 and b"1970-01-01T" in raw, f.name
        else:
            assert w.time_s.min() > 9e8, f.name  # after 1998
            assert np.all(np.diff(w.time_s) >= 0), f.name
        # running cadence doubled to steps/min (per-leg values would sit at 55-100; one
        # shared "run" is mostly walked at 10 min/km, hence the low bound of 110)
        if w.cadence_spm is not None and w.sport == "run":
            moving = w.cadence_spm[w.cadence_spm > 0]
            if moving.size > 100:
                assert 110 <= np.median(moving) <= 210, f.name
        # Garmin/running_page summary distance agrees with the GPS track
        if w.device_distance_m:
            gps = geo.cumulative_distance_m(w.lat_deg, w.lon_deg)[-1]
            assert abs(gps / w.device_distance_m - 1) < 0.05, f.name
    assert with_hr == len(files)  # every shared GPX carries HR


@pytest.mark.shared
def test_shared_keep_files_are_relative() -> None:
    files = [f for f in _shared_gpx_files() if f.name.startswith("Dylan632-")]
    if not files:
        pytest.skip("no Keep relative-time GPX in shared data")
    for f in files:
        w = read_gpx(f)[0]
        assert w.metadata["relative_time"] is True
        assert w.time_s[0] < 10 and np.all(np.diff(w.time_s) > 0)
        # the file id encodes the real start: 2**63 - id = unix milliseconds
        start_ms = 2**63 - int(f.stem.split("-")[1])
        assert 1.4e12 < start_ms < 2.0e12


def test_keep_app_file_id_gives_the_true_start() -> None:
    from sub3coach.io.gpx import keep_app_start_hint

    assert keep_app_start_hint("x/Dylan632-9223370289975521807.gpx") == 1746879254.0  # 2025-05-10T12:14:14Z
    assert keep_app_start_hint("activity-9223370289975521807.gpx.gz") == 1746879254.0
    assert keep_app_start_hint("run-12345.gpx") is None
    assert keep_app_start_hint("9999999999999999999.gpx") is None  # decodes before 2010


def test_keep_app_relative_gpx_is_anchored_by_clean() -> None:
    from sub3coach.clean import clean
    from tests.conftest import shared_path

    p = shared_path("files", "gpx", "Dylan632-9223370289975521807.gpx")
    (w,) = read_gpx(p)
    assert w.metadata["relative_time"] and w.metadata["start_hint"] == 1746879254.0
    c = clean(w)
    assert c.start_time.isoformat() == "2025-05-10T12:14:14+00:00"
