"""Corpus Parquet reader/writer: round trips on generated corpora, the SUB3_V2 layout, bad
inputs, and the full runs-dev.parquet."""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sub3coach.errors import CorruptFile
from sub3coach.io.corpus import corpus_index, derived_workout_id, iter_corpus, write_corpus
from sub3coach.workout import Workout
from tests.conftest import shared_path


def make_workout(i: int, *, n: int = 120, user: str = "u1", hr: bool = True, gps: bool = False,
                 altitude: bool = True, rng_seed: int = 0) -> Workout:
    rng = np.random.default_rng(rng_seed + i)
    t0 = 1_600_000_000.0 + i * 86_400.0
    time_s = t0 + np.cumsum(rng.uniform(0.5, 3.0, n))
    speed = rng.uniform(2.0, 5.0, n)
    dist = np.concatenate([[0.0], np.cumsum(speed[1:] * np.diff(time_s))])
    return Workout(
        time_s=time_s,
        hr_bpm=rng.uniform(100, 180, n).round() if hr else None,
        speed_mps=speed,
        altitude_m=rng.uniform(0, 50, n) if altitude else None,
        distance_m=dist,
        lat_deg=48.0 + np.cumsum(rng.normal(0, 1e-5, n)) if gps else None,
        lon_deg=2.0 + np.cumsum(rng.normal(0, 1e-5, n)) if gps else None,
        sport="run",
        source=f"test:{i}",
        source_format="fit",
        device="Forerunner",
        workout_id=f"w{i:04d}",
        user_id=user,
        gender="female" if i % 2 else None,
        metadata={"quality_flags": ["no_gps"] if not gps else [], "distance_source": "device"},
    )


def assert_same(a: Workout, b: Workout) -> None:
    """b (read back) equals a (written) up to float32 storage."""
    assert b.workout_id == a.workout_id and b.user_id == a.user_id and b.gender == a.gender
    assert b.sport == a.sport and b.device == a.device and b.source == a.source
    assert b.source_format == "corpus" and b.metadata["original_format"] == a.source_format
    np.testing.assert_array_equal(b.time_s, a.time_s)
    for ch in ("hr_bpm", "speed_mps", "altitude_m", "distance_m", "lat_deg", "lon_deg"):
        va, vb = getattr(a, ch), getattr(b, ch)
        if va is None or not np.isfinite(va).any():
            assert vb is None, ch
        else:
            assert vb is not None and vb.shape == va.shape, ch
            np.testing.assert_allclose(vb, va, rtol=2e-6, atol=1e-4, equal_nan=True, err_msg=ch)


def test_round_trip_and_index(tmp_path):
    ws = [make_workout(i, user=f"u{i % 3}", gps=i % 2 == 0, hr=i != 4) for i in range(10)]
    p = tmp_path / "c.parquet"
    assert write_corpus(ws, p, row_group_size=4) == 10
    assert pq.ParquetFile(p).metadata.num_row_groups == 3
    back = list(iter_corpus(p, batch_size=3))
    assert len(back) == 10
    for a, b in zip(ws, back):
        assert_same(a, b)
        assert b.metadata["quality_flags"] == a.metadata["quality_flags"]
        assert b.metadata["distance_source"] == "device"
    # speed is stored in km/h as in runs-dev
    raw = pq.read_table(p, columns=["speed"]).column("speed")[0].as_py()
    np.testing.assert_allclose(raw, ws[0].speed_mps * 3.6, rtol=1e-6)

    idx = corpus_index(p)
    assert list(idx.workout_id) == [w.workout_id for w in ws]
    assert list(idx.n_samples) == [len(w) for w in ws]
    assert all(idx.start_time[i].timestamp() == pytest.approx(ws[i].time_s[0]) for i in range(10))
    assert idx.duration_s.tolist() == pytest.approx([w.elapsed_s for w in ws])
    assert str(idx.start_time.dt.tz) == "UTC"


def test_filters_and_columns(tmp_path):
    ws = [make_workout(i, user=f"u{i // 4}") for i in range(12)]  # users sorted: rg pruning works
    p = tmp_path / "c.parquet"
    write_corpus(ws, p, row_group_size=4)
    got = list(iter_corpus(p, user_ids=["u1"]))
    assert [w.workout_id for w in got] == ["w0004", "w0005", "w0006", "w0007"]
    assert list(iter_corpus(p, user_ids=["nobody"])) == []
    got = list(iter_corpus(p, workout_ids={"w0002", "w0011"}))
    assert [w.workout_id for w in got] == ["w0002", "w0011"]
    only_hr = next(iter(iter_corpus(p, columns=["hr_bpm"])))
    assert only_hr.hr_bpm is not None and only_hr.speed_mps is None and only_hr.distance_m is None
    with pytest.raises(ValueError):
        next(iter(iter_corpus(p, columns=["heartrate"])))


def test_folder_of_shards(tmp_path):
    (tmp_path / "shards").mkdir()
    write_corpus([make_workout(i) for i in range(3)], tmp_path / "shards" / "part-0.parquet")
    write_corpus([make_workout(i) for i in range(3, 5)], tmp_path / "shards" / "part-1.parquet")
    assert [w.workout_id for w in iter_corpus(tmp_path / "shards")] == [f"w{i:04d}" for i in range(5)]
    assert len(corpus_index(tmp_path / "shards")) == 5


def test_sub3_v2_layout(tmp_path):
    """The published SUB3_V2 layout: integer ids, km/h speed, extra scalar columns; variants
    without workout_id, with gender, lat/lon and derived_speed only."""
    ts = [[1.4e9 + k * 10.0 for k in range(5)], [1.5e9 + k * 10.0 for k in range(4)]]
    table = pa.table({
        "workout_id": pa.array([396826535, 11], pa.int64()),
        "user_id": pa.array([10921915, 7], pa.int64()),
        "sport": ["run", "run"],
        "workout_type": ["STEADY", "RECOVERY"],
        "duration_min": [0.67, 0.5],
        "heart_rate": [[120.0, 121, 122, 123, 124], [100.0, 101, 102, 103]],
        "speed": [[10.8, 10.8, 10.8, 10.8, 10.8], [7.2, 7.2, 7.2, 7.2]],
        "altitude": [[1.0] * 5, [2.0] * 4],
        "timestamp": ts,
        "split": ["train", "test"],
    })
    p = tmp_path / "v2.parquet"
    pq.write_table(table, p)
    a, b = list(iter_corpus(p))
    assert a.workout_id == "396826535" and a.user_id == "10921915"
    np.testing.assert_allclose(a.speed_mps, 3.0)
    np.testing.assert_allclose(b.speed_mps, 2.0)
    assert a.metadata["split"] == "train" and a.metadata["workout_type"] == "STEADY"
    assert a.distance_m is None and a.gender is None and a.source == str(p)

    raw = pa.table({
        "userId": [1, 2],
        "user_id": ["1", "2"],
        "gender": ["male", "female"],
        "timestamp": ts,
        "heart_rate": [[120.0] * 5, [100.0] * 4],
        "derived_speed": [[9.0] * 5, [3.6] * 4],
        "latitude": [[45.0] * 5, [46.0] * 4],
        "longitude": [[5.0] * 5, [6.0] * 4],
    })
    p2 = tmp_path / "raw.parquet"
    pq.write_table(raw, p2)
    a, b = list(iter_corpus(p2))
    assert a.workout_id == derived_workout_id("1", ts[0][0])
    assert b.workout_id == derived_workout_id("2", ts[1][0]) != a.workout_id
    assert [w.workout_id for w in iter_corpus(p2)] == [a.workout_id, b.workout_id]  # stable
    assert (a.gender, b.gender) == ("male", "female")
    np.testing.assert_allclose(a.speed_mps, 2.5)
    np.testing.assert_allclose(b.lat_deg, 46.0)
    assert a.sport == "unknown" and a.altitude_m is None
    idx = corpus_index(p2)
    assert list(idx.workout_id) == [a.workout_id, b.workout_id]
    assert list(idx.gender) == ["male", "female"]


def test_bad_rows_and_files(tmp_path, caplog):
    table = pa.table({
        "workout_id": ["ok", "bad", "none"],
        "timestamp": [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], None],
        "heart_rate": [[1.0, 2.0, 3.0], [1.0, 2.0], [1.0]],
    })
    p = tmp_path / "mixed.parquet"
    pq.write_table(table, p)
    assert [w.workout_id for w in iter_corpus(p)] == ["ok"]
    assert "skipped 2 corrupt corpus rows" in caplog.text

    not_pq = tmp_path / "x.parquet"
    not_pq.write_bytes(b"hello, not parquet")
    with pytest.raises(CorruptFile, match="x.parquet: not a readable Parquet file"):
        list(iter_corpus(not_pq))
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), other)
    with pytest.raises(CorruptFile, match="no 'timestamp' list column"):
        list(iter_corpus(other))
    with pytest.raises(CorruptFile, match="no such file"):
        list(iter_corpus(tmp_path / "missing.parquet"))
    with pytest.raises(CorruptFile) as info:
        corpus_index(other)
    assert "\n" not in str(info.value) and str(other) in str(info.value)


channel = st.one_of(st.none(), st.just("nan"), st.just("values"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    specs=st.lists(st.tuples(st.integers(0, 60), channel, channel, st.sampled_from(["a", "b", None])),
                   min_size=1, max_size=6),
    seed=st.integers(0, 2**16),
)
def test_round_trip_property(tmp_path_factory, specs, seed):
    rng = np.random.default_rng(seed)
    ws = []
    for i, (n, hr_kind, alt_kind, user) in enumerate(specs):
        def mk(kind, lo, hi):
            if kind is None:
                return None
            v = rng.uniform(lo, hi, n)
            if kind == "nan":
                v[:] = np.nan
            elif n:
                v[rng.random(n) < 0.2] = np.nan
            return v
        time_s = 1.3e9 + np.cumsum(rng.uniform(0.1, 10, n))
        ws.append(Workout(time_s=time_s, hr_bpm=mk(hr_kind, 40, 220), altitude_m=mk(alt_kind, -100, 4000),
                          speed_mps=mk("values", 0, 12), sport="run", user_id=user, workout_id=f"x{i}",
                          source_format="gpx"))
    p = tmp_path_factory.mktemp("prop") / "c.parquet"
    write_corpus(ws, p, row_group_size=2)
    back = list(iter_corpus(p, batch_size=3))
    assert len(back) == len(ws)
    for a, b in zip(ws, back):
        a.source = b.source  # no source written -> the file path
        assert_same(a, b)
        assert len(b) == len(a)
    assert corpus_index(p).n_samples.tolist() == [len(w) for w in ws]


@pytest.mark.shared
def test_runs_dev_full():
    path = shared_path("runs-dev.parquet")
    t0 = time.perf_counter()
    n = samples = 0
    users: set[str] = set()
    for w in iter_corpus(path):
        n += 1
        samples += len(w)
        users.add(w.user_id)
        assert len(w) >= 2 and w.source_format == "corpus" and w.sport == "run"
        for ch in w.channels():
            assert getattr(w, ch).shape == w.time_s.shape
        assert np.all(np.diff(w.time_s) > 0), w.workout_id
        assert 1.2e9 < w.time_s[0] < 2.0e9
        assert w.metadata["distance_source"] in ("device", "gps", "none")
        assert w.metadata["original_format"] in ("fit", "gpx", "tcx")
        if w.speed_mps is not None:
            s = w.speed_mps[np.isfinite(w.speed_mps)]
            assert 0.3 < np.median(s) < 8.0, w.workout_id  # m/s, not km/h
            assert np.mean(s > 12.0) < 0.05
        if w.hr_bpm is not None:
            assert 40 < np.nanmedian(w.hr_bpm) < 220
    elapsed = time.perf_counter() - t0
    assert n == 3400 and len(users) == 17
    idx = corpus_index(path)
    assert len(idx) == n and int(idx.n_samples.sum()) == samples
    assert idx.user_id.nunique() == 17 and idx.workout_id.is_unique
    start_col = pq.read_table(path, columns=["start_time"]).column("start_time").to_pandas()
    assert (abs((start_col - idx.start_time).dt.total_seconds()) <= 1.0).all()
    print(f"runs-dev: {n / elapsed:.0f} workouts/s, {samples / elapsed / 1e6:.1f} M samples/s")
