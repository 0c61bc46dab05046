"""Tests of the FIT reader: round trips through files written by fit_tool (an independent
encoder), property tests, bad input, and the real files in ../shared/data/files."""
from __future__ import annotations

import csv
import functools
import gzip
import io
import struct
from datetime import datetime, timezone
from pathlib import Path

import fitdecode
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sub3coach import geo
from sub3coach.errors import CorruptFile, NotAnActivity, Sub3Error
from sub3coach.io import fit as fitmod
from sub3coach.io.fit import FIT_EPOCH_UNIX_S, SEMICIRCLE_DEG, fit_crc16, read_fit
from sub3coach.workout import CHANNELS, SPORTS, normalise_sport
from tests.conftest import SHARED_DATA, shared_path
from tests.fixtures.make_fit import (
    DEFAULT_START,
    make_fit_activity,
    make_fit_settings,
    multisport_series,
    synthetic_run,
)

# FIT resolutions (scale factors of the profile) used as tolerances.
SPEED_RES = 1e-3 / 2 + 1e-9
DIST_RES = 1e-2 / 2 + 1e-9
ALT_RES = 0.2 / 2 + 1e-9
POS_RES = SEMICIRCLE_DEG  # rounding to the nearest semicircle


#: A small valid activity (8 records) for fuzzing and truncation tests.
_SMALL = make_fit_activity(None, n=8, seed=9)


@pytest.fixture(scope="module")
def run_bytes() -> bytes:
    return make_fit_activity(None, n=240, seed=3)


def _with_crc(body: bytes) -> bytes:
    """A FIT header + ``body`` + CRC: a structurally valid FIT file around arbitrary records."""
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(body), b".FIT")
    header += struct.pack("<H", fit_crc16(header))
    data = header + body
    return data + struct.pack("<H", fit_crc16(data))


def _fix_crc(data: bytes) -> bytes:
    """Recompute the trailing file CRC of a single FIT file."""
    return data[:-2] + struct.pack("<H", fit_crc16(data[:-2]))


# ----------------------------------------------------------------------------------------
# Round trips on generated files
# ----------------------------------------------------------------------------------------
def test_roundtrip_values_units_and_totals(run_bytes: bytes) -> None:
    s = synthetic_run(240, seed=3)
    ws = read_fit(run_bytes, name="gen.fit")
    assert len(ws) == 1
    w = ws[0]
    assert len(w) == 240
    assert w.sport == "run" and w.source == "gen.fit" and w.source_format == "fit"
    assert w.device == "development 1"
    np.testing.assert_array_equal(w.time_s, s.time_s)
    assert w.start_time == DEFAULT_START
    np.testing.assert_allclose(w.speed_mps, s.speed_mps, atol=SPEED_RES, rtol=0)
    np.testing.assert_array_equal(w.hr_bpm, s.hr_bpm)
    np.testing.assert_allclose(w.altitude_m, s.altitude_m, atol=ALT_RES, rtol=0)
    np.testing.assert_allclose(w.distance_m, s.distance_m, atol=DIST_RES, rtol=0)
    np.testing.assert_allclose(w.lat_deg, s.lat_deg, atol=POS_RES, rtol=0)
    np.testing.assert_allclose(w.lon_deg, s.lon_deg, atol=POS_RES, rtol=0)
    # running cadence: strides/min in FIT -> steps/min, fractional part kept
    np.testing.assert_allclose(w.cadence_spm, 2 * (s.cadence + s.fractional_cadence), atol=2 / 128)
    assert 150 < np.median(w.cadence_spm) < 190
    assert w.metadata.get("cadence_doubled") is True
    assert w.power_w is None
    assert w.device_distance_m == pytest.approx(s.distance_m[-1], abs=DIST_RES)
    assert w.device_timer_s == pytest.approx(240.0)
    assert w.device_elapsed_s == pytest.approx(240.0)
    for ch in ("hr_bpm", "speed_mps", "altitude_m", "distance_m", "lat_deg", "lon_deg", "cadence_spm"):
        assert getattr(w, ch).dtype == np.float64 and getattr(w, ch).shape == (240,)
    assert 120 <= np.nanmin(w.hr_bpm) and np.nanmax(w.hr_bpm) <= 180
    assert 2.0 < np.nanmean(w.speed_mps) < 4.0


def test_enhanced_speed_and_altitude_are_read() -> None:
    s = synthetic_run(50, seed=1)
    w = read_fit(make_fit_activity(None, n=50, seed=1, enhanced=True))[0]
    np.testing.assert_allclose(w.speed_mps, s.speed_mps, atol=SPEED_RES, rtol=0)
    np.testing.assert_allclose(w.altitude_m, s.altitude_m, atol=ALT_RES, rtol=0)


def test_missing_channels_are_none() -> None:
    w = read_fit(make_fit_activity(None, n=30, hr=False, gps=False, altitude=False))[0]
    assert w.hr_bpm is None and w.lat_deg is None and w.lon_deg is None and w.altitude_m is None
    assert w.speed_mps is not None and w.distance_m is not None and len(w) == 30


def test_cycling_cadence_is_not_doubled() -> None:
    s = synthetic_run(40, sport="cycling", seed=2)
    w = read_fit(make_fit_activity(None, n=40, sport="cycling", seed=2))[0]
    assert w.sport == "bike"
    np.testing.assert_array_equal(w.cadence_spm, s.cadence)
    assert "cadence_doubled" not in w.metadata


def test_multisport_splits_sessions_with_their_sports() -> None:
    parts = multisport_series(n=60, seed=4)
    ws = read_fit(make_fit_activity(None, n=60, seed=4, multisport=True))
    assert [w.sport for w in ws] == ["run", "bike"]
    for w, s in zip(ws, parts):
        assert len(w) == 60
        np.testing.assert_array_equal(w.time_s, s.time_s)
        np.testing.assert_allclose(w.speed_mps, s.speed_mps, atol=SPEED_RES, rtol=0)
        np.testing.assert_array_equal(w.hr_bpm, s.hr_bpm)
        assert w.device_distance_m == pytest.approx(s.distance_m[-1], abs=DIST_RES)
        assert w.metadata["sessions_in_file"] == 2
    assert ws[0].time_s[-1] < ws[1].time_s[0]
    np.testing.assert_allclose(ws[0].cadence_spm, 2 * (parts[0].cadence + parts[0].fractional_cadence))
    np.testing.assert_array_equal(ws[1].cadence_spm, parts[1].cadence)  # bike rpm as written


def test_chained_fit_files_are_all_read() -> None:
    a = make_fit_activity(None, n=20, seed=5)
    later = datetime(2024, 6, 1, 7, 0, tzinfo=timezone.utc)
    b = make_fit_activity(None, n=25, seed=6, start=later, sport="cycling")
    ws = read_fit(a + b)
    assert [(len(w), w.sport) for w in ws] == [(20, "run"), (25, "bike")]


def test_relative_timestamps_without_anchor_are_flagged() -> None:
    # device-relative clock: 5000 s after power-on (< 0x10000000), no correlation message
    start = datetime.fromtimestamp(FIT_EPOCH_UNIX_S + 5000, tz=timezone.utc)
    w = read_fit(make_fit_activity(None, n=10, start=start))[0]
    assert w.metadata["relative_time"] is True and w.metadata["time_anchor"] is None
    np.testing.assert_array_equal(w.time_s, FIT_EPOCH_UNIX_S + 5000 + np.arange(10.0))


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "bytearray", "fileobj", "gzip_path", "gzip_bytes"])
def test_input_kinds_give_identical_workouts(kind: str, run_bytes: bytes, tmp_path: Path) -> None:
    ref = read_fit(run_bytes)[0]
    p = tmp_path / "a.fit"
    p.write_bytes(run_bytes)
    gz = tmp_path / "a.fit.gz"
    gz.write_bytes(gzip.compress(run_bytes))
    src = {
        "path": p, "str": str(p), "bytes": run_bytes, "bytearray": bytearray(run_bytes),
        "fileobj": io.BytesIO(run_bytes), "gzip_path": gz, "gzip_bytes": gzip.compress(run_bytes),
    }[kind]
    w = read_fit(src)[0]
    np.testing.assert_array_equal(w.time_s, ref.time_s)
    for ch in CHANNELS:
        a, b = getattr(w, ch), getattr(ref, ch)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    if kind in ("path", "str"):
        assert w.source == str(p)
    if kind == "gzip_path":
        assert w.source == str(gz)


def test_settings_file_is_not_an_activity(tmp_path: Path) -> None:
    p = tmp_path / "Settings.fit"
    make_fit_settings(p)
    with pytest.raises(NotAnActivity) as ei:
        read_fit(p)
    assert "settings" in str(ei.value) and "Settings.fit" in str(ei.value)
    assert "\n" not in str(ei.value)


def test_activity_without_records_is_not_an_activity() -> None:
    data = make_fit_activity(None, n=3)
    # keep only file_id: cut the body after the first definition + data message
    r = fitdecode.FitReader(data, processor=None, keep_raw_chunks=True)
    chunks = [f.chunk.bytes for f in r if f.frame_type in (fitdecode.FIT_FRAME_DEFINITION, fitdecode.FIT_FRAME_DATA)]
    with pytest.raises(NotAnActivity, match="no record"):
        read_fit(_with_crc(chunks[0] + chunks[1]), name="nofix.fit")


# ----------------------------------------------------------------------------------------
# Property tests
# ----------------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.floats(0.0, 12.0, allow_nan=False), st.integers(30, 240)), min_size=2, max_size=30),
    st.integers(0, 2**16),
)
def test_property_speed_hr_roundtrip(samples: list[tuple[float, int]], seed: int) -> None:
    speed = [s for s, _ in samples]
    hr = [h for _, h in samples]
    data = make_fit_activity(None, speed_mps=speed, hr_bpm=hr, seed=seed)
    w = read_fit(data)[0]
    assert len(w) == len(samples)
    np.testing.assert_allclose(w.speed_mps, speed, atol=SPEED_RES, rtol=0)
    np.testing.assert_array_equal(w.hr_bpm, hr)
    assert np.all(np.diff(w.time_s) == 1.0)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_property_corrupted_records_never_crash(data: st.DataObject) -> None:
    """Random byte changes inside the records, with the CRC recomputed so the decoder itself
    meets the damage: the reader returns workouts or raises a Sub3Error, nothing else."""
    base = _SMALL
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(14, len(buf) - 3))
        buf[i] = data.draw(st.integers(0, 255))
    try:
        ws = read_fit(_fix_crc(bytes(buf)), name="fuzz.fit")
    except (CorruptFile, NotAnActivity) as exc:
        assert "fuzz.fit" in str(exc) and "\n" not in str(exc)
    else:
        for w in ws:
            assert len(w) > 0 and w.sport in SPORTS


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=0, max_size=64))
def test_property_crc_matches_fitdecode(data: bytes) -> None:
    ref = fitdecode.utils.compute_crc(data) if data else 0
    assert fit_crc16(data) == ref


# ----------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------
def test_empty_bytes_is_corrupt() -> None:
    with pytest.raises(CorruptFile, match="empty"):
        read_fit(b"", name="empty.fit")


def test_random_bytes_are_corrupt() -> None:
    rng = np.random.default_rng(0)
    for k in range(20):
        junk = rng.integers(0, 256, size=int(rng.integers(1, 400)), dtype=np.uint8).tobytes()
        if junk[:2] == b"\x1f\x8b":
            continue
        with pytest.raises(CorruptFile) as ei:
            read_fit(junk, name=f"junk{k}.fit")
        assert f"junk{k}.fit" in str(ei.value) and "\n" not in str(ei.value)


def test_every_truncation_is_corrupt(tmp_path: Path) -> None:
    p = tmp_path / "cut.fit"
    for n in range(1, len(_SMALL)):
        p.write_bytes(_SMALL[:n])
        with pytest.raises(CorruptFile) as ei:
            read_fit(p)
        assert str(p) in str(ei.value) and "\n" not in str(ei.value)


def test_truncated_message_names_the_problem(run_bytes: bytes) -> None:
    with pytest.raises(CorruptFile, match="truncated") as ei:
        read_fit(run_bytes[: len(run_bytes) // 2], name="half.fit")
    assert str(ei.value).startswith("half.fit: ")


def test_flipped_byte_is_a_crc_error(run_bytes: bytes) -> None:
    buf = bytearray(run_bytes)
    buf[len(buf) // 2] ^= 0x01
    with pytest.raises(CorruptFile, match="CRC"):
        read_fit(bytes(buf), name="flip.fit")


def test_trailing_garbage_is_corrupt(run_bytes: bytes) -> None:
    with pytest.raises(CorruptFile):
        read_fit(run_bytes + b"\x00garbage-after-the-crc", name="tail.fit")


def test_missing_file_is_corrupt(tmp_path: Path) -> None:
    with pytest.raises(CorruptFile, match="no such file"):
        read_fit(tmp_path / "nope.fit")


def test_lean_and_plain_decoders_agree_on_generated(run_bytes: bytes) -> None:
    _assert_same(_both(run_bytes))
    _assert_same(_both(make_fit_activity(None, n=30, multisport=True)))


def _both(data: bytes) -> tuple[list, list]:
    lean = fitmod._workouts_from_decoded(fitmod._decode(data, "x", lean=True), "x")
    plain = fitmod._workouts_from_decoded(fitmod._decode(data, "x", lean=False), "x")
    return lean, plain


def _assert_same(pair: tuple[list, list]) -> None:
    a, b = pair
    assert len(a) == len(b) and len(a) > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.time_s, y.time_s)
        for ch in CHANNELS:
            u, v = getattr(x, ch), getattr(y, ch)
            assert (u is None) == (v is None), ch
            if u is not None:
                np.testing.assert_array_equal(u, v)
        assert (x.sport, x.sub_sport, x.device, x.device_distance_m, x.device_timer_s,
                x.device_elapsed_s, x.metadata) == (y.sport, y.sub_sport, y.device,
                                                     y.device_distance_m, y.device_timer_s,
                                                     y.device_elapsed_s, y.metadata)


# ----------------------------------------------------------------------------------------
# Real files in ../shared/data/files
# ----------------------------------------------------------------------------------------
NON_ACTIVITY = {"MonitoringFile.fit": "monitoring", "Settings.fit": "settings"}
#: In fitdecode's invalid/ folder but valid: FIT SDK 20.80 made developer_data_id's
#: application_id optional, and fitdecode's own test expects this file to parse.
VALID_IN_INVALID = {"elemnt-bolt-no-application-id-inside-developer-data-id.fit": "bike"}


def _names(sub: str) -> list[str]:
    d = SHARED_DATA / "files" / sub
    names = sorted(p.name for p in d.glob("*.fit")) if d.is_dir() else []
    return names or ["<shared data absent>"]


def _provenance_sports() -> dict[str, str]:
    p = SHARED_DATA / "files" / "PROVENANCE.csv"
    if not p.exists():
        return {}
    with p.open(newline="", encoding="utf-8") as fh:
        return {r["file"]: r["sport"] for r in csv.DictReader(fh) if r.get("sport")}


ACTIVITY_FITS = [n for n in _names("fit") if n not in NON_ACTIVITY]


@functools.lru_cache(maxsize=None)
def _read_shared(fname: str) -> tuple:
    """read_fit of a file in files/fit, once per test session (tests never mutate workouts)."""
    return tuple(read_fit(shared_path("files", "fit") / fname))


@pytest.mark.shared
@pytest.mark.parametrize("fname", ACTIVITY_FITS)
def test_shared_activity_fit_reads(fname: str) -> None:
    path = shared_path("files", "fit") / fname
    ws = _read_shared(fname)
    assert ws, fname
    expected = _provenance_sports().get(f"fit/{fname}")
    for w in ws:
        assert len(w) > 0 and w.sport in SPORTS and w.sport != "unknown"
        assert np.all(np.isfinite(w.time_s))
        assert np.all(np.diff(w.time_s) >= 0), "timestamps go backwards"
        assert datetime(2005, 1, 1, tzinfo=timezone.utc) < w.start_time < datetime(2030, 1, 1, tzinfo=timezone.utc)
        assert w.source == str(path) and w.source_format == "fit" and w.device
        if expected:
            assert w.sport == normalise_sport(expected)
        if w.hr_bpm is not None:
            hr = w.hr_bpm[np.isfinite(w.hr_bpm)]
            assert hr.size and 25 <= np.median(hr) <= 230
        if w.speed_mps is not None:
            assert np.nanmax(w.speed_mps) < 40.0
        if w.lat_deg is not None:
            assert np.nanmax(np.abs(w.lat_deg)) <= 90 and np.nanmax(np.abs(w.lon_deg)) <= 180
        if w.sport == "run" and w.cadence_spm is not None:
            moving = w.cadence_spm[w.cadence_spm > 0]
            assert 120 <= np.median(moving) <= 220, "running cadence should be steps/min"


@pytest.mark.shared
@pytest.mark.parametrize("fname", ACTIVITY_FITS)
def test_shared_last_distance_matches_session_total(fname: str) -> None:
    """The last distance sample is within 1 % of the session's total_distance. The only file
    without a per-record distance (StoneRicky-f27f…, written by zepp-fit-extractor) is
    checked through its GPS track instead."""
    for w in _read_shared(fname):
        if not w.device_distance_m:
            continue
        if w.distance_m is None:
            # no distance channel: compare the GPS track length instead (integrating its
            # speed gives 3 % less: the converter's timestamps jitter by ±1 s)
            assert w.lat_deg is not None and w.lon_deg is not None
            track = geo.cumulative_distance_m(w.lat_deg, w.lon_deg)[-1]
            assert track == pytest.approx(w.device_distance_m, rel=0.01)
            continue
        last = w.distance_m[np.isfinite(w.distance_m)][-1]
        assert last == pytest.approx(w.device_distance_m, rel=0.01)


@pytest.mark.shared
@pytest.mark.parametrize("fname", list(NON_ACTIVITY))
def test_shared_non_activity_fits(fname: str) -> None:
    path = shared_path("files", "fit") / fname
    with pytest.raises(NotAnActivity) as ei:
        read_fit(path)
    assert NON_ACTIVITY[fname] in str(ei.value) and fname in str(ei.value)


@pytest.mark.shared
@pytest.mark.parametrize("fname", _names("invalid"))
def test_shared_invalid_fits_are_refused_with_a_reason(fname: str) -> None:
    path = shared_path("files", "invalid") / fname
    if fname in VALID_IN_INVALID:
        ws = read_fit(path)
        assert [w.sport for w in ws] == [VALID_IN_INVALID[fname]] and len(ws[0]) > 100
        return
    with pytest.raises((CorruptFile, NotAnActivity)) as ei:
        read_fit(path)
    msg = str(ei.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg and len(msg) > len(str(path)) + 10


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("fname", [n for n in _names("fit") if n not in NON_ACTIVITY] + _names("invalid"))
def test_shared_lean_and_plain_decoders_agree(fname: str) -> None:
    folder = "invalid" if fname in _names("invalid") else "fit"
    data = (shared_path("files", folder) / fname).read_bytes()
    try:
        pair = _both(data)
    except Sub3Error as lean_exc:
        with pytest.raises(type(lean_exc)):
            fitmod._workouts_from_decoded(fitmod._decode(data, "x", lean=False), "x")
        return
    _assert_same(pair)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return [h.strip() for h in rows[0]], rows[1:]


def _col(rows: list[list[str]], i: int) -> np.ndarray:
    return np.array([np.nan if r[i].strip() == "null" else float(r[i]) for r in rows])


@pytest.mark.shared
def test_fenix5_run_matches_reference_records_csv() -> None:
    folder = shared_path("files", "fit")
    header, rows = _read_csv(folder / "garmin-fenix-5-run-records.csv")
    w = read_fit(folder / "garmin-fenix-5-run.fit")[0]
    assert len(w) == len(rows)
    h = {n: i for i, n in enumerate(header)}
    times = [datetime.strptime(r[h["timestamp"]].replace("PDT", "-0700"), "%a %b %d %H:%M:%S %z %Y").timestamp()
             for r in rows]
    np.testing.assert_array_equal(w.time_s, times)
    np.testing.assert_array_equal(w.hr_bpm, _col(rows, h["heart_rate"]))
    np.testing.assert_allclose(w.speed_mps, _col(rows, h["speed"]), atol=1e-9)
    np.testing.assert_allclose(w.distance_m, _col(rows, h["distance"]), atol=1e-9)
    np.testing.assert_allclose(w.altitude_m, _col(rows, h["altitude"]), atol=1e-6)
    np.testing.assert_allclose(w.lat_deg, _col(rows, h["position_lat"]) * SEMICIRCLE_DEG, atol=1e-12)
    np.testing.assert_allclose(w.lon_deg, _col(rows, h["position_long"]) * SEMICIRCLE_DEG, atol=1e-12)
    # csv cadence is the integer strides/min; ours adds fractional_cadence and doubles
    np.testing.assert_array_equal(np.floor(w.cadence_spm / 2), _col(rows, h["cadence"]))


@pytest.mark.shared
def test_compressed_speed_distance_matches_reference_records_csv() -> None:
    folder = shared_path("files", "fit")
    header, rows = _read_csv(folder / "compressed-speed-distance-records.csv")
    w = read_fit(folder / "compressed-speed-distance.fit")[0]
    # the file's first record holds only a timestamp; the reference lists the 754 others
    assert len(w) == len(rows) + 1
    assert all(getattr(w, c) is None or np.isnan(getattr(w, c)[0]) for c in CHANNELS)
    w = w.slice(slice(1, None))
    # timestamps are device-relative (seconds since power-on): same clock up to one offset,
    # anchored by activity.local_timestamp to February 2012
    offset = w.time_s - _col(rows, 0)
    assert np.all(offset == offset[0])
    assert w.metadata["relative_time"] is True and "local" in w.metadata["time_anchor"]
    assert w.start_time.year == 2012 and w.start_time.month == 2
    assert header[1].startswith("Heart Rate") and header[2].startswith("Speed")
    np.testing.assert_array_equal(w.hr_bpm, _col(rows, 1))
    np.testing.assert_allclose(w.speed_mps, _col(rows, 2), atol=1e-9)
    np.testing.assert_allclose(w.distance_m, _col(rows, 3), atol=1e-9)
    np.testing.assert_array_equal(w.cadence_spm, 2 * _col(rows, 4))
