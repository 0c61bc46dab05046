"""FitRec/Endomondo reader: the shared sample, generated files with malformed lines, safety."""
from __future__ import annotations

import ast
import gzip
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sub3coach.errors import CorruptFile
from sub3coach.io.endomondo import MalformedLine, iter_endomondo, parse_line
from tests.conftest import shared_path


def record(i: int, *, sport: str = "run", n: int = 20, speed_key: str = "speed", gender: str = "male") -> dict:
    t = [1_400_000_000 + 10 * k + i * 100_000 for k in range(n)]
    rec = {
        "id": 1000 + i, "userId": 7 + i % 2, "gender": gender, "sport": sport, "timestamp": t,
        "heart_rate": [100 + k for k in range(n)], "altitude": [12.5] * n,
        "latitude": [45.0 + k * 1e-5 for k in range(n)], "longitude": [5.0] * n,
        "url": f"https://www.endomondo.com/users/1/workouts/{1000 + i}", "some_new_key": "x",
    }
    rec[speed_key] = [7.2] * n
    return rec


def write_lines(path, lines) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.mark.shared
def test_sample_file():
    path = shared_path("endomondo-format-sample.json")
    reader = iter_endomondo(path)
    ws = list(reader)
    assert len(ws) == 112 and reader.skipped == 0 and reader.n_yielded == 112
    with open(path, encoding="utf-8") as fh:
        raw = [ast.literal_eval(line) for line in fh]
    users = set()
    for w, r in zip(ws, raw):
        assert w.source_format == "endomondo" and w.sport == "run" and len(w) == 500
        assert w.workout_id == str(r["id"]) and w.user_id == str(r["userId"]) and w.gender is None
        assert w.source == r["url"]
        np.testing.assert_array_equal(w.time_s, np.asarray(r["timestamp"], float))
        np.testing.assert_allclose(w.speed_mps, np.asarray(r["speed"], float) / 3.6)
        np.testing.assert_allclose(w.hr_bpm, np.asarray(r["heart_rate"], float))
        assert w.has("lat_deg") and w.has("lon_deg")
        users.add(w.user_id)
    assert len(users) == 13


def test_malformed_lines_are_skipped_and_counted(tmp_path):
    marker = tmp_path / "pwned"
    good = [repr(record(i)) for i in range(4)]
    lines = [
        good[0],
        repr(record(9))[:-40],                                   # truncated line
        f"__import__('os').system('touch {marker}')",           # code, not a literal
        good[1],
        "",                                                      # blank: ignored, not counted
        "[1, 2, 3]",                                             # a literal, not a dict
        repr({**record(10), "heart_rate": [1, 2]}),              # lengths differ
        repr({**record(11), "speed": ["fast"] * 20}),            # non-numeric
        "{'id': 5, 'userId': 1, 'sport': 'run'}",                # no timestamp
        good[2],
        good[3],
    ]
    p = tmp_path / "endomondoHR_test.json"
    write_lines(p, lines)
    seen: list[tuple[int, str]] = []
    reader = iter_endomondo(p, on_skip=lambda n, why: seen.append((n, why)))
    ws = list(reader)
    assert [w.workout_id for w in ws] == ["1000", "1001", "1002", "1003"]
    assert reader.skipped == 6 and reader.skipped_lines == [2, 3, 6, 7, 8, 9]
    assert [n for n, _ in seen] == [2, 3, 6, 7, 8, 9]
    assert "'heart_rate' has 2 samples" in seen[3][1]
    assert not marker.exists()


def test_never_eval():
    for bad in ("__import__('os').system('x')", "{'a': __import__('os').system('x')}",
                "{'a': (lambda: 1)()}", "{'a': true}", "{'a': NaN}", "{'a': 1}.keys()"):
        with pytest.raises(MalformedLine):
            parse_line(bad)


def test_fields_and_units(tmp_path):
    p = tmp_path / "f.json"
    write_lines(p, [repr(record(0, speed_key="derived_speed", gender="female")),
                    repr({**record(1), "derived_speed": [3.6] * 20})])
    a, b = list(iter_endomondo(p))
    np.testing.assert_allclose(a.speed_mps, 2.0)  # derived_speed, km/h -> m/s
    assert a.metadata["speed_key"] == "derived_speed" and a.gender == "female"
    np.testing.assert_allclose(b.speed_mps, 2.0)  # 'speed' (7.2 km/h) wins over derived_speed
    assert b.metadata["speed_key"] == "speed"
    assert a.metadata["extra"] == {"some_new_key": "x"}
    assert a.altitude_m is not None and a.distance_m is None


def test_sport_filter_and_gzip(tmp_path):
    lines = [repr(record(i, sport="bike" if i % 2 else "run")) for i in range(6)]
    lines.insert(2, "{'id': 1, 'sport': 'run', oops")
    p = tmp_path / "mix.json.gz"
    p.write_bytes(gzip.compress("\n".join(lines).encode()))
    reader = iter_endomondo(p, sport="run")
    assert [w.workout_id for w in reader] == ["1000", "1002", "1004"]
    assert reader.skipped == 1 and reader.n_valid == 6
    # bike lines filtered without being yielded; file objects and bytes work too
    assert len(list(iter_endomondo(io.BytesIO(p.read_bytes()), sport="bike"))) == 3
    assert len(list(iter_endomondo(p.read_bytes()))) == 6


def test_unusable_files(tmp_path):
    p = tmp_path / "bad.json"
    write_lines(p, ["not a dict", "{'x': 1}"])
    with pytest.raises(CorruptFile, match=r"bad\.json: no valid FitRec workout line \(2 malformed lines\)"):
        list(iter_endomondo(p))
    empty = tmp_path / "empty.json"
    empty.write_text("\n\n")
    with pytest.raises(CorruptFile, match="empty file"):
        list(iter_endomondo(empty))
    with pytest.raises(CorruptFile, match="no such file"):
        list(iter_endomondo(tmp_path / "missing.json"))


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_parse_line_equals_literal_eval(d):
    """The JSON fast path must mean exactly what ast.literal_eval means."""
    line = repr(d)
    assert parse_line(line) == ast.literal_eval(line) == d
