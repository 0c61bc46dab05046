"""Trust nothing in a file (issue 12, item 4): a seeded mutation fuzzer over FIT, GPX and TCX
files the project generates, and every class of hostile input found so far as a regression
case. For any input bytes, reading and cleaning either give workouts within the stated bounds
or raise a :class:`Sub3Error` — never anything else."""
from __future__ import annotations

import gzip
import re
import time

import numpy as np
import pytest

from sub3coach.clean import MAX_DURATION_S, clean, resample
from sub3coach.clean.plausible import MAX_DISTANCE_M, MAX_DISTANCE_OTHER_M
from sub3coach.errors import CorruptFile, ImplausibleWorkout, Sub3Error
from sub3coach.io.dispatch import read_file
from sub3coach.io.fit import FIT_EPOCH_UNIX_S, fit_crc16
from sub3coach.io.write import write_gpx, write_tcx
from sub3coach.synth import synthetic_run
from sub3coach.workout import CHANNELS, Workout
from tests.fixtures.make_fit import make_fit_activity
from tests.fixtures.make_trust import Case, make_fit_records

#: Mutated inputs per format; the whole file runs in a few seconds.
N_MUTANTS = 800

_NUMBER = re.compile(rb"\d+(?:\.\d+)?")
_EXTREMES = [b"1e400", b"-1e400", b"nan", b"inf", b"-1", b"0", b"9" * 5000, b"1." + b"1" * 5000,
             b"99999999999999999999", b"0001", b"2099", b"\xff\xfe", b"&amp;", b"]]>"]


def _workout() -> Workout:
    return synthetic_run(duration_s=240, seed=5)


@pytest.fixture(scope="module")
def seeds() -> dict[str, bytes]:
    w = _workout()
    return {"fit": make_fit_activity(n=120, seed=3), "gpx": write_gpx(w), "tcx": write_tcx(w)}


def fix_fit_crc(data: bytes) -> bytes:
    """Make a mutated FIT file's sizes and checksums right again, so that the mutation reaches
    the decoder instead of the CRC check."""
    b = bytearray(data)
    hs = b[0] if b and b[0] in (12, 14) else 0
    if hs == 0 or len(b) < hs + 2:
        return data
    b[4:8] = (len(b) - hs - 2).to_bytes(4, "little")
    if hs == 14:
        b[12:14] = fit_crc16(bytes(b[:12])).to_bytes(2, "little")
    b[-2:] = fit_crc16(bytes(b[:-2])).to_bytes(2, "little")
    return bytes(b)


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to three random edits: byte flips, truncation, deleted/duplicated/inserted chunks,
    a number replaced by an extreme value, a byte-order mark or encoding declaration."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(0, 8))
        n = len(b)
        if n < 4:
            break
        i, j = sorted(int(x) for x in rng.integers(0, n, 2))
        if op == 0:
            for k in rng.integers(0, n, int(rng.integers(1, 9))):
                b[int(k)] = int(rng.integers(0, 256))
        elif op == 1:
            del b[i:]
        elif op == 2:
            del b[i:j]
        elif op == 3:
            b[i:i] = b[i:j][:4096]
        elif op == 4:
            b[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8))
        elif op == 5:
            nums = list(_NUMBER.finditer(bytes(b)))
            if nums:
                m = nums[int(rng.integers(0, len(nums)))]
                b[m.start():m.end()] = _EXTREMES[int(rng.integers(0, len(_EXTREMES)))]
        elif op == 6:
            b[0:0] = [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"  \n"][int(rng.integers(0, 4))]
        else:
            enc = [b"punycode", b"utf_16_be", b"utf-32", b"base64", b"shift_jis", b"idna", b"cp1252", b"x" * 300][int(rng.integers(0, 8))]
            b = bytearray(re.sub(rb'encoding="[^"]*"', b'encoding="' + enc + b'"', bytes(b), count=1))
    return bytes(b)


def check_within_bounds(w: Workout) -> None:
    """What every cleaned workout satisfies, whatever file it came from."""
    t = w.time_s
    assert np.isfinite(t).all() and np.all(np.diff(t) > 0)
    assert w.elapsed_s <= MAX_DURATION_S
    for c in CHANNELS:
        v = getattr(w, c)
        assert v is None or not np.isinf(v).any(), c
    s = w.summary()
    if s.distance_m is not None:
        assert np.isfinite(s.distance_m) and s.distance_m <= MAX_DISTANCE_M.get(w.sport, MAX_DISTANCE_OTHER_M)
    assert len(resample(w, 5.0)) <= MAX_DURATION_S / 5.0 + 1


def exercise(data: bytes, name: str) -> list[Workout]:
    """Read and clean like ``sub3 import``; returns the cleaned workouts. Any exception outside
    :class:`Sub3Error` fails the calling test."""
    try:
        workouts = read_file(data, name=name)
    except Sub3Error as exc:
        assert "\n" not in str(exc) and name in str(exc)
        return []
    out = []
    for w in workouts:
        try:
            c = clean(w)
        except Sub3Error as exc:
            assert "\n" not in str(exc)
            continue
        check_within_bounds(c)
        out.append(c)
    return out


@pytest.mark.parametrize("fmt", ["fit", "gpx", "tcx"])
def test_fuzz_never_escapes_the_error_hierarchy(fmt: str, seeds: dict[str, bytes]) -> None:
    rng = np.random.default_rng(12)
    seed = seeds[fmt]
    assert exercise(seed, f"seed.{fmt}")  # the unmutated file reads
    t0 = time.perf_counter()
    outcomes = {"read": 0, "refused": 0}
    for k in range(N_MUTANTS):
        data = mutate(seed, rng)
        if fmt == "fit" and k % 4:
            data = fix_fit_crc(data)
        if k % 5 == 0:
            data = gzip.compress(data)
        outcomes["read" if exercise(data, f"mutant-{k}.{fmt}") else "refused"] += 1
    # both kinds happen: the fuzzer reaches the decoders, not only the format check
    assert outcomes["read"] > 10 and outcomes["refused"] > 10, outcomes
    assert time.perf_counter() - t0 < 60


# ---------------------------------------------------------------------------- regression cases
def _gpx_with_times(replace: dict[int, str]) -> bytes:
    """An 8 km GPX run whose i-th ``<time>`` is replaced by ``replace[i]``."""
    w = synthetic_run(duration_s=2700, seed=8)
    text = write_gpx(w).decode()
    first = text.index("<trkpt")
    times = [m for m in re.finditer(r"<time>([^<]*)</time>", text) if m.start() > first]
    for i, new in sorted(replace.items(), reverse=True):
        m = times[i]
        text = text[: m.start(1)] + new + text[m.end(1):]
    return text.encode()


@pytest.mark.parametrize("when", ["2099-05-01T10:00:00Z", "0001-01-01T00:00:00Z", "1989-12-31T00:00:01Z", "9999-12-31T23:59:59Z"])
@pytest.mark.parametrize("where", [0, 1000, -1])
def test_one_bad_time_is_dropped_not_stretched_nor_fatal(when: str, where: int) -> None:
    good = exercise(_gpx_with_times({}), "good.gpx")[0]
    (w,) = exercise(_gpx_with_times({where: when}), "bad.gpx")
    assert len(w) == len(good) - 1
    assert w.elapsed_s == pytest.approx(good.elapsed_s, abs=2.0)
    assert w.metadata.get("time_outliers_dropped", 0) + (when.startswith("9999")) >= 1
    assert w.summary().distance_m == pytest.approx(good.summary().distance_m, rel=0.01)


def test_fit_record_stamped_1989_is_dropped() -> None:
    n = 600
    t = 1_717_311_600.0 + np.arange(n, dtype=np.float64)
    t[300] = FIT_EPOCH_UNIX_S + 1.0  # raw FIT timestamp 1
    d = 3.0 * np.arange(n, dtype=np.float64)
    (w,) = exercise(make_fit_records(Case(t, d, None, np.full(n, 140.0))), "ts1.fit")
    assert w.start_time.year == 2024 and w.elapsed_s == pytest.approx(n - 1)
    assert len(w) == n - 1 and w.metadata["time_outliers_dropped"] == 1


def test_too_long_and_too_far_are_refused_with_the_reason() -> None:
    t = 1_717_311_600.0 + np.arange(0.0, 120 * 3600.0, 20.0)  # 120 h, one sample per 20 s
    d = 2.0 * (t - t[0])
    with pytest.raises(ImplausibleWorkout, match="lasts 120.0 h, longer than 100 h"):
        clean(Workout(time_s=t, distance_m=d, sport="run", source="long.fit"))
    t = t[t < t[0] + 50 * 3600.0]
    with pytest.raises(ImplausibleWorkout, match="1,080 km, farther than 1,000 km for a run"):
        clean(Workout(time_s=t, distance_m=6.0 * (t - t[0]), sport="run", source="far.fit"))
    short = t[:200]
    with pytest.raises(ImplausibleWorkout, match=r"faster than 10 m/s"):
        clean(Workout(time_s=short, speed_mps=np.full(short.size, 11.5), sport="run", source="fast.fit"))


def test_infinite_and_beyond_human_values_are_dropped_point_by_point() -> None:
    w = _workout()
    tcx = write_tcx(w).decode()
    dists = list(re.finditer(r"<DistanceMeters>([^<]*)</DistanceMeters>", tcx))
    m = dists[len(dists) // 2]
    tcx = tcx[: m.start(1)] + "1e400" + tcx[m.end(1):]
    (c,) = exercise(tcx.encode(), "inf.tcx")
    assert np.isfinite(c.distance_m).all()
    w2 = w.copy()
    w2.speed_mps[10] = np.inf
    w2.cadence_spm = np.full(len(w2), 170.0)
    w2.cadence_spm[20] = 1e9
    c2 = clean(w2)
    assert not np.isinf(c2.speed_mps).any() and np.isnan(c2.cadence_spm[20])
    assert c2.metadata["implausible_values_dropped"] == 2


@pytest.mark.parametrize("text", [
    '<?xml version="1.0" encoding="punycode"?><gpx version="1.1"><trk><trkseg/></trk></gpx>',
    '<?xml version="1.0" encoding="idna"?><gpx version="1.1"><trk><trkseg/></trk></gpx>',
    '<?xml version="1.0" encoding="base64"?><gpx version="1.1"/>',
])
def test_unreadable_declared_encodings_are_corrupt_files(text: str) -> None:
    with pytest.raises(CorruptFile, match="enc.gpx: .*encoding"):
        read_file(text.encode() + b"\x80\xff", name="enc.gpx")


@pytest.mark.parametrize("prefix,body_enc", [
    (b"\xef\xbb\xbf\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xef\xbb\xbf\xff\xfe", "utf-16-le"),
    (b"", "utf-8"),
])
@pytest.mark.parametrize("declared", ["utf_16_be", "utf-32", "shift_jis", "UTF-16"])
def test_boms_and_multibyte_declarations_read_or_refuse_cleanly(prefix: bytes, body_enc: str, declared: str) -> None:
    xml = write_gpx(_workout()).decode().replace('encoding="UTF-8"', f'encoding="{declared}"')
    data = prefix + xml.encode(body_enc)
    out = exercise(data, "bom.gpx")  # asserts nothing escapes the hierarchy
    if body_enc == "utf-8":  # 8-bit text whatever the label says: read as it is
        assert len(out) == 1


def test_time_with_a_5000_digit_fraction() -> None:
    (w,) = exercise(_gpx_with_times({5: "2024-05-01T06:30:05." + "1" * 5000 + "Z"}), "frac.gpx")
    assert len(w) > 100


def test_multi_member_gzip_reads_whole() -> None:
    fit = make_fit_activity(n=120, seed=3)
    half = len(fit) // 2
    data = gzip.compress(fit[:half]) + gzip.compress(fit[half:])
    (a,) = read_file(data, name="multi.fit.gz")
    (b,) = read_file(fit, name="plain.fit")
    np.testing.assert_array_equal(a.time_s, b.time_s)
    with pytest.raises(CorruptFile, match="trailing garbage"):
        read_file(gzip.compress(fit) + b"junk", name="junk.fit.gz")
    (c,) = read_file(gzip.compress(fit) + b"\0" * 512, name="padded.fit.gz")  # zero padding
    assert len(c) == len(b)


def test_many_gzip_members_take_linear_time() -> None:
    from sub3coach.io._source import gunzip_limited

    fit = make_fit_activity(n=120, seed=3)
    data = b"".join(gzip.compress(fit[i : i + 64]) for i in range(0, len(fit), 64)) * 40
    t0 = time.perf_counter()
    assert gunzip_limited(data, "many.gz") == fit * 40
    assert time.perf_counter() - t0 < 2.0  # ~5,000 members: linear in the member count


@pytest.mark.parametrize("fmt", ["gpx", "tcx"])
def test_deep_nesting_is_refused_not_held(fmt: str) -> None:
    root = b"<gpx>" if fmt == "gpx" else b"<TrainingCenterDatabase>"
    data = b'<?xml version="1.0"?>' + root + b"<a>" * 100_000
    with pytest.raises(CorruptFile, match=f"deep.{fmt}: {fmt.upper()} elements nested deeper than 256 levels"):
        read_file(data, name=f"deep.{fmt}")


def test_one_absolute_record_does_not_unanchor_a_relative_fit() -> None:
    """A device-relative FIT (seconds since power-on) with one corrupt absolute record: the
    recording stays relative (flagged) and the corrupt record is dropped by cleaning."""
    n = 300
    t = FIT_EPOCH_UNIX_S + 5000.0 + np.arange(n, dtype=np.float64)  # raw times 5000..5299
    t[100] = 1_717_311_600.0  # one record with a real 2024 date
    (w,) = read_file(make_fit_records(Case(t, 3.0 * np.arange(n, dtype=np.float64), None, np.full(n, 140.0))), name="rel.fit")
    assert w.metadata["relative_time"] is True
    c = clean(w)
    assert len(c) == n - 1 and c.elapsed_s == pytest.approx(n - 1)
