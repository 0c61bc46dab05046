"""The FIT reader's fast path (:class:`sub3coach.io._fit_fast._LeanFitReader`): data messages the
reader does not use are skipped unread (keeping compressed timestamps exact), simple record
messages are decoded without fitdecode, and the result is identical to plain fitdecode
decoding. The comparison over every shared FIT file lives in ``test_fit.py``
(``test_shared_lean_and_plain_decoders_agree``); these tests check that the fast path is
really taken and handle the cases real files rarely hold."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from sub3coach.errors import CorruptFile, ImplausibleWorkout
from sub3coach.io import _fit_fast
from sub3coach.io import fit as fitmod
from sub3coach.io.fit import FIT_EPOCH_UNIX_S, fit_crc16
from tests.conftest import shared_path
from tests.io.test_fit import _assert_same, _both

T0 = 1_000_000_000  # FIT seconds (2021-09-08)


def _def(local: int, global_num: int, fields: list[tuple[int, int, int]], dev: list[tuple[int, int, int]] | None = None) -> bytes:
    hdr = 0x40 | local | (0x20 if dev is not None else 0)
    out = struct.pack("<BBBHB", hdr, 0, 0, global_num, len(fields)) + b"".join(struct.pack("<BBB", *f) for f in fields)
    if dev is not None:
        out += bytes([len(dev)]) + b"".join(struct.pack("<BBB", *f) for f in dev)
    return out


def _fit(body: bytes) -> bytes:
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(body), b".FIT")
    header += struct.pack("<H", fit_crc16(header))
    out = header + body
    return out + struct.pack("<H", fit_crc16(out))


def _activity(n: int = 40, *, skipped_ts: int = T0 + 100) -> bytes:
    """file_id, then an unused message (global 233) carrying ``skipped_ts``, then records whose
    times come only from compressed-timestamp headers counting from that message, with a
    redefinition of the unused message's local number as a record half-way, a record
    definition with speed/altitude (components) and developer-free fields."""
    body = bytearray()
    body += _def(0, 0, [(0, 1, 0x00), (4, 4, 0x86)])
    body += struct.pack("<BBI", 0, 4, T0)  # file_id: activity
    body += _def(1, 233, [(253, 4, 0x86), (2, 2, 0x84), (7, 8, 0x0D)])  # unused, with timestamp
    body += struct.pack("<BIH8s", 1, skipped_ts, 7, b"\x01" * 8)
    # record without timestamp field: heart_rate, speed (component -> enhanced_speed), altitude
    body += _def(2, 20, [(3, 1, 0x02), (6, 2, 0x84), (2, 2, 0x84), (5, 4, 0x86)])
    for k in range(n):
        ts = skipped_ts + 1 + k
        body += struct.pack("<BBHHI", 0x80 | (2 << 5) | (ts & 0x1F), 120 + k % 50, 3000 + k, 2600 + k, 100 * k)
        if k == n // 2:  # local 1 becomes a record with its own timestamp field
            body += _def(1, 20, [(253, 4, 0x86), (3, 1, 0x02)])
            body += struct.pack("<BIB", 1, ts, 0xFF)  # invalid heart rate
    body += _def(3, 18, [(253, 4, 0x86), (2, 4, 0x86), (5, 1, 0x00), (7, 4, 0x86)])
    body += struct.pack("<BIIBI", 3, skipped_ts + n, skipped_ts + 1, 1, n * 1000)
    return _fit(bytes(body))


def _reader_counts(data: bytes) -> tuple[int, int, int]:
    r = _fit_fast._LeanFitReader(data)
    yielded = sum(1 for f in r if f.frame_type == fitmod.fitdecode.FIT_FRAME_DATA)
    return r.n_skipped, r.n_direct, yielded


def test_unused_messages_are_skipped_and_compressed_times_stay_exact() -> None:
    data = _activity()
    lean, plain = _both(data)
    _assert_same((lean, plain))
    (w,) = lean
    # the records' times count from the skipped message's timestamp
    assert w.time_s[0] == FIT_EPOCH_UNIX_S + T0 + 101
    assert w.time_s[-1] == FIT_EPOCH_UNIX_S + T0 + 140 and len(w) == 41  # one second repeated mid-file
    assert w.speed_mps is not None and w.speed_mps[0] == pytest.approx(3.0)
    assert w.altitude_m is not None and w.altitude_m[0] == pytest.approx(2600 / 5 - 500)
    skipped, direct, yielded = _reader_counts(data)
    assert skipped == 1 and direct == 41
    assert yielded == 2  # only file_id and session went through fitdecode


def test_a_different_skipped_timestamp_moves_the_records() -> None:
    """The accumulator really is fed by the skipped message (not a test that cannot fail)."""
    a = _both(_activity(skipped_ts=T0 + 100))[0][0]
    b = _both(_activity(skipped_ts=T0 + 5000))[0][0]
    assert b.time_s[0] - a.time_s[0] == 4900


def test_truncated_skipped_message_is_still_corrupt() -> None:
    data = _activity()
    cut = data[:14 + 8 + 6 + 7 + 4]  # inside the unused message's payload
    with pytest.raises(CorruptFile):
        fitmod.read_fit(cut)


def test_record_limit_holds_on_the_direct_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fit_fast, "_MAX_VALUES", 10 * _fit_fast._NCOLS)
    with pytest.raises(ImplausibleWorkout, match="FIT records"):
        fitmod.read_fit(_activity(n=40))


@pytest.mark.shared
def test_shared_garmin_file_takes_the_fast_path() -> None:
    """A real Garmin file with many unused messages (x3cl: hrv/unknown messages)."""
    data = (shared_path("files", "fit") / "x3cl-40866808.fit").read_bytes()
    skipped, direct, yielded = _reader_counts(data)
    assert skipped > 2000 and direct > 500
    assert yielded < 100
    _assert_same(_both(data))


@pytest.mark.parametrize("n", [2047, 2048, 2049, 8 * 256 * 3 + 17, 300_001])
@pytest.mark.parametrize("start", [0, 0x1234])
def test_blockwise_crc_matches_fitdecode(n: int, start: int) -> None:
    from fitdecode.utils import compute_crc

    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert fit_crc16(data, start) == compute_crc(data, crc=start)
    assert fit_crc16(memoryview(data)[5:], start) == compute_crc(data[5:], crc=start)
