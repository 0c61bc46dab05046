"""Batch import: folders, zips, bad input, idempotence, cross-format duplicates, real files."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from sub3coach.importer import import_paths
from sub3coach.io.write import write_gpx, write_tcx
from sub3coach.library import Library
from sub3coach.synth import synthetic_run
from tests.conftest import shared_path
from tests.fixtures.make_fit import make_fit_activity


@pytest.fixture
def lib(tmp_path: Path) -> Library:
    return Library(tmp_path / "lib.duckdb")


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.gpx").write_bytes(write_gpx(synthetic_run(duration_s=1800, seed=1)))
    b = synthetic_run(duration_s=1500, seed=2)
    (d / "sub" / "b.tcx").write_bytes(write_tcx(b.replace(time_s=b.time_s + 86400)))  # the next day
    (d / "c.fit").write_bytes(make_fit_activity(None, n=900))
    (d / "notes.md").write_text("my runs\n")
    (d / "broken.fit").write_bytes(b"\x0e\x10\xd9\x07" + bytes(50))
    (d / "empty.gpx").write_bytes(b"")
    return d


def test_folder_import_reports_each_outcome_and_is_idempotent(tmp_path: Path, lib: Library) -> None:
    d = _folder(tmp_path)
    rep = import_paths([d], lib, workers=2)
    assert rep.imported == 3
    failed = {Path(f["path"]).name: f["error"] for f in rep.failed}
    assert set(failed) == {"broken.fit", "empty.gpx"}
    assert "empty" in failed["empty.gpx"]
    assert [Path(s["path"]).name for s in rep.skipped] == ["notes.md"]
    rows = lib.runs()
    assert len(rows) == 3 and all(r["sport"] == "run" for r in rows)
    assert all(r["distance_m"] > 1000 and r["avg_hr_bpm"] > 60 for r in rows)
    again = import_paths([d], lib, workers=2)
    assert again.imported == 0 and again.duplicates == 3
    assert lib.count() == 3


def test_same_run_as_gpx_and_tcx_is_stored_once(tmp_path: Path, lib: Library) -> None:
    w = synthetic_run(duration_s=1200, seed=5)
    (tmp_path / "r.gpx").write_bytes(write_gpx(w))
    (tmp_path / "r.tcx").write_bytes(write_tcx(w))
    rep = import_paths([tmp_path / "r.gpx", tmp_path / "r.tcx"], lib, workers=1)
    assert (rep.imported, rep.duplicates) == (1, 1)


def test_zip_of_activities_and_unsafe_zips(tmp_path: Path, lib: Library) -> None:
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("runs/one.gpx", write_gpx(synthetic_run(duration_s=900, seed=7)))
        zf.writestr("runs/two.fit", make_fit_activity(None, n=700, seed=3))
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("../evil.gpx", write_gpx(synthetic_run(duration_s=600, seed=8)))
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.gpx", b"\0" * (64 * 2**20))
    rep = import_paths([good, slip, bomb], lib, workers=1)
    assert rep.imported == 2
    errors = {Path(f["path"]).name: f["error"] for f in rep.failed}
    assert "outside the archive" in errors["slip.zip"]
    assert "zip bomb" in errors["bomb.zip"]
    assert not (tmp_path.parent / "evil.gpx").exists()


def test_missing_path_and_random_bytes_fail_cleanly(tmp_path: Path, lib: Library) -> None:
    rnd = tmp_path / "noise.bin"
    rnd.write_bytes(np.random.default_rng(0).bytes(4096))
    rep = import_paths([tmp_path / "nope.fit", rnd], lib)
    assert {Path(f["path"]).name for f in rep.failed} == {"nope.fit", "noise.bin"}
    assert all("\n" not in f["error"] for f in rep.failed)
    assert lib.count() == 0


def test_history_file_adds_summary_only_runs(tmp_path: Path, lib: Library) -> None:
    p = tmp_path / "log.csv"
    p.write_text("date,dist_m,mov_s,hr,intensity,load,name\n2024-03-01 07:00:00,10000,3000,150,easy,50,Morning\n"
                 "2024-03-03 07:00:00,21100,6300,160,long,120,Long run\n")
    rep = import_paths([p], lib)
    assert rep.imported == 2, rep
    assert all(r["summary_only"] for r in lib.runs())
    assert import_paths([p], lib).duplicates == 2


@pytest.mark.slow
def test_import_of_shared_files_matches_device_distances(tmp_path: Path, lib: Library) -> None:
    files = shared_path("files")
    rep = import_paths([files], lib, workers=2)
    failed = {Path(f["path"]).parent.name + "/" + Path(f["path"]).name for f in rep.failed}
    # fitdecode's own suite reads the ELEMNT file (a developer_data_id without application_id
    # is allowed by FIT SDK >= 20.80): it is a valid 132-sample ride, so it is imported
    valid_in_invalid = "invalid/elemnt-bolt-no-application-id-inside-developer-data-id.fit"
    invalid = {"invalid/" + p.name for p in (files / "invalid").iterdir()} - {valid_in_invalid}
    # every invalid file is refused with a reason, and nothing else fails
    refused = failed | {Path(s["path"]).parent.name + "/" + Path(s["path"]).name for s in rep.skipped}
    assert invalid <= refused
    assert failed <= invalid, failed - invalid
    n_activity_files = sum(1 for sub in ("fit", "gpx", "tcx") for p in (files / sub).iterdir() if p.suffix in (".fit", ".gpx", ".tcx"))
    n_skipped_activity = sum(1 for s in rep.skipped if Path(s["path"]).parent.name in ("fit", "gpx", "tcx") and Path(s["path"]).suffix in (".fit", ".gpx", ".tcx"))
    assert rep.imported + rep.duplicates >= n_activity_files - n_skipped_activity
    checked = 0
    for r in lib.runs():
        dev = r["device_distance_m"]
        if not dev or dev < 100:
            continue
        from_samples = r["metadata"]["distance_from_samples_m"]
        if from_samples > 1.05 * dev:  # lap summaries that stop before the recording (Movescount TCX)
            assert r["distance_m"] == pytest.approx(from_samples)
            continue
        assert r["distance_m"] == pytest.approx(dev, rel=0.01), r["source"]
        if r["source"].endswith(".fit"):  # the samples themselves agree with the session total
            assert from_samples == pytest.approx(dev, rel=0.01), r["source"]
        checked += 1
    assert checked >= 15
    assert any(r["source"].endswith(valid_in_invalid) and r["sport"] == "bike" for r in lib.runs())
    again = import_paths([files], lib, workers=2)
    assert again.imported == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_strava_export_zip_keeps_metadata_and_reports_missing_files(tmp_path: Path, lib: Library, workers: int) -> None:
    from tests.fixtures.make_exports import make_strava_export

    spec = make_strava_export(tmp_path / "export_123.zip", n=4, missing=True, manual=True)
    with_file = [r for r in spec.rows if r.kind not in ("missing", "manual")]
    rep = import_paths([spec.path], lib, workers=workers)
    assert rep.imported == len(with_file), rep
    assert len(rep.failed) == 1 and "missing" in rep.failed[0]["error"]
    names = {r["name"] for r in lib.runs()}
    assert names == {r.name for r in with_file}
    meta = {r["metadata"]["strava_id"]: r["metadata"] for r in lib.runs()}
    for r in with_file:
        assert meta[r.strava_id].get("gear") == (r.gear or None)
    again = import_paths([spec.path], lib, workers=workers)
    assert again.imported == 0 and again.duplicates == len(with_file)


def test_apple_health_export_imports_running_workouts(tmp_path: Path, lib: Library) -> None:
    from tests.fixtures.make_exports import make_apple_health_export

    spec = make_apple_health_export(tmp_path / "export.zip", n_runs=2)
    rep = import_paths([spec.path], lib)
    assert rep.imported >= 2 and not rep.failed, rep
    rows = lib.runs()
    assert all(r["sport"] == "run" and r["source_format"] == "apple_health" for r in rows)
    assert all(r["avg_hr_bpm"] and 60 < r["avg_hr_bpm"] < 200 for r in rows)


def test_corpus_parquet_import_is_the_same_with_one_or_two_workers(tmp_path: Path) -> None:
    from sub3coach.io.corpus import write_corpus

    runs = []
    for k in range(9):
        w = synthetic_run(duration_s=900, seed=k)
        runs.append(w.replace(time_s=w.time_s + k * 86400, workout_id=f"w{k}", user_id=f"u{k % 3}"))
    corpus = tmp_path / "c.parquet"
    write_corpus(runs, corpus, row_group_size=2)  # 5 row groups -> 5 shards
    ids = []
    for workers in (1, 2):
        lib = Library(tmp_path / f"l{workers}.duckdb")
        rep = import_paths([corpus], lib, workers=workers)
        assert (rep.imported, rep.failed) == (9, [])
        ids.append(sorted(r["id"] for r in lib.runs()))
        assert {r["user_id"] for r in lib.runs()} == {"u0", "u1", "u2"}
    assert ids[0] == ids[1] == [f"w{k}" for k in range(9)]


# ----- regressions found in review ---------------------------------------------------------
def test_odd_inputs_fail_alone_and_never_sink_the_batch(tmp_path: Path, lib: Library) -> None:
    import gzip as gz
    import os

    d = tmp_path / "odd"
    d.mkdir()
    good = synthetic_run(duration_s=900, seed=11)
    (d / "good.gpx").write_bytes(write_gpx(good))
    other = synthetic_run(duration_s=900, seed=12)
    latin1 = os.fsencode(d) + b"/caf\xe9.gpx"  # a file name that is not UTF-8
    with open(latin1, "wb") as fh:
        fh.write(write_gpx(other.replace(time_s=other.time_s + 86400)))
    (d / "broken.gpx.gz").write_bytes(gz.compress(b"<gpx>")[:10] + os.urandom(200))
    one_point = write_gpx(synthetic_run(duration_s=600, seed=13))
    head, tail = one_point.split(b"<trkpt", 1)[0], b"</trkseg></trk></gpx>"
    first = b"<trkpt" + one_point.split(b"<trkpt", 2)[1]
    (d / "one.gpx").write_bytes(head + first.split(b"</trkpt>")[0] + b"</trkpt>" + tail)
    rep = import_paths([d], lib, workers=1)
    assert rep.imported == 2, rep
    failed = {f["path"].rsplit("/", 1)[-1]: f["error"] for f in rep.failed}
    assert set(failed) == {"broken.gpx.gz", "one.gpx"}, failed
    assert all("\n" not in e for e in failed.values())
    assert any(r["source"].endswith("caf\ufffd.gpx") for r in lib.runs())
    # a failed file is read again next time, not counted as a duplicate
    again = import_paths([d / "one.gpx"], lib)
    assert again.duplicates == 0 and len(again.failed) == 1


def test_workout_with_impossible_times_fails_alone(lib: Library) -> None:
    from sub3coach.errors import Sub3Error

    w = synthetic_run(duration_s=600, seed=1)
    with pytest.raises(Sub3Error, match="1980-2100"):
        lib.add_workout(w.replace(time_s=w.time_s * 1e6))


def test_date_only_history_row_is_replaced_by_the_recorded_run(tmp_path: Path, lib: Library) -> None:
    w = synthetic_run(duration_s=1800, seed=4)
    s = w.summary()
    day = s.start_time.strftime("%Y-%m-%d")
    hist = tmp_path / "log.csv"
    hist.write_text(f"date,dist_m,mov_s,hr,intensity,load,name\n{day},{s.distance_m:.0f},{s.moving_time_s:.0f},150,easy,40,x\n")
    assert import_paths([hist], lib).imported == 1
    (tmp_path / "r.gpx").write_bytes(write_gpx(w))
    assert import_paths([tmp_path / "r.gpx"], lib).imported == 1
    rows = lib.runs()
    assert len(rows) == 1 and rows[0]["summary_only"] is False


def test_encrypted_zip_member_and_empty_folder(tmp_path: Path, lib: Library) -> None:
    z = tmp_path / "enc.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.gpx", write_gpx(synthetic_run(duration_s=600, seed=5)))
    raw = bytearray(z.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" flag bit in both headers
        i = raw.index(sig)
        off = 6 if sig == b"PK\x03\x04" else 8
        raw[i + off] |= 1
    z.write_bytes(bytes(raw))
    (tmp_path / "empty").mkdir()
    rep = import_paths([z, tmp_path / "empty"], lib, workers=1)
    assert len(rep.failed) == 1 and "encrypted" in rep.failed[0]["error"]
    assert rep.skipped == [{"path": str(tmp_path / "empty"), "reason": "folder holds no files"}]
