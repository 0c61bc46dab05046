"""Strava bulk export reader: folder/zip/bytes input, CSV metadata join, missing files, manual
activities, unsafe archives, both CSV generations, and the real activities.csv files."""
from __future__ import annotations

import csv
import gzip
import io
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sub3coach.errors import CorruptFile, Sub3Error, UnsafeArchive
from sub3coach.io.strava_export import (
    StravaItem,
    is_strava_export,
    iter_strava_export,
    parse_strava_date,
    strava_export_summaries,
)
from sub3coach.io.write import write_gpx
from sub3coach.synth import synthetic_run
from tests.conftest import shared_path
from tests.fixtures.make_exports import STRAVA_HEADER_NEW, make_strava_export, make_zip_bomb

N = 5  # one activity of each file kind


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("strava")
    folder = make_strava_export(base / "export", n=N)
    zipped = make_strava_export(base / "export.zip", n=N)
    return {"folder": folder, "zip": zipped}


def _one_line(err: Exception) -> str:
    s = str(err)
    assert "\n" not in s and s.strip() == s and s
    return s


def _inputs(exports: dict[str, object]) -> dict[str, tuple[object, str]]:
    folder = exports["folder"].path  # type: ignore[attr-defined]
    zpath = exports["zip"].path  # type: ignore[attr-defined]
    data = zpath.read_bytes()
    return {
        "folder": (folder, str(folder)),
        "zip": (zpath, str(zpath)),
        "bytes": (data, "upload.zip"),
        "fileobj": (io.BytesIO(data), "upload.zip"),
    }


@pytest.mark.parametrize("kind", ["folder", "zip", "bytes", "fileobj"])
def test_reads_every_file_with_its_csv_metadata(exports: dict[str, object], kind: str) -> None:
    spec = exports["folder" if kind == "folder" else "zip"]
    src, label = _inputs(exports)[kind]
    items = list(iter_strava_export(src, name=None if kind in ("folder", "zip") else label))
    assert all(isinstance(i, StravaItem) for i in items)
    rows = [r for r in spec.rows if r.kind != "manual"]  # type: ignore[attr-defined]
    assert len(items) == len(rows) == N + 1  # manual activity yields nothing
    for item, row in zip(items, rows):
        if kind == "folder":
            assert item.source == str(Path(label) / row.filename)
        else:
            assert item.source == f"{label}!{row.filename}"
        if row.kind == "missing":
            continue
        assert item.error is None, item.error
        assert len(item.workouts) == 1
        w = item.workouts[0]
        assert w.name == row.name
        assert w.source == item.source
        assert w.metadata["name"] == row.name
        assert w.metadata["strava_type"] == row.strava_type
        assert w.metadata["strava_id"] == row.strava_id
        assert w.metadata["gear"] == (row.gear or None)
        assert w.metadata["description"] == (row.description or None)
        assert w.metadata["strava_distance_m"] == pytest.approx(row.distance_m, abs=0.05)
        assert w.start_time == row.start
        assert w.source_format == row.kind.split(".")[0]
        if row.workout is not None:  # GPX/TCX written from a synthetic run: samples survive
            assert len(w) == len(row.workout)
            np.testing.assert_allclose(w.time_s, row.workout.time_s, atol=1e-3)
            np.testing.assert_allclose(w.hr_bpm, np.round(row.workout.hr_bpm), atol=0.5)
            assert w.sport == row.workout.sport


def test_missing_file_is_reported_and_iteration_continues(exports: dict[str, object]) -> None:
    spec = exports["zip"]
    items = list(iter_strava_export(spec.path))  # type: ignore[attr-defined]
    missing = [i for i in items if i.error is not None]
    (row,) = spec.by_kind("missing")  # type: ignore[attr-defined]
    assert len(missing) == 1
    err = missing[0].error
    assert isinstance(err, CorruptFile)
    assert _one_line(err) == f"{spec.path}!{row.filename}: activities.csv lists {row.filename} but the file is missing"  # type: ignore[attr-defined]
    assert missing[0].workouts == []
    assert sum(1 for i in items if i.error is None) == N


def test_manual_activity_only_in_summaries(exports: dict[str, object]) -> None:
    spec = exports["folder"]
    (manual,) = spec.by_kind("manual")  # type: ignore[attr-defined]
    sums = strava_export_summaries(spec.path)  # type: ignore[attr-defined]
    assert len(sums) == len(spec.rows)  # type: ignore[attr-defined]
    only = strava_export_summaries(spec.path, manual_only=True)  # type: ignore[attr-defined]
    assert len(only) == 1
    s = only[0]
    assert s.summary_only and s.metadata["manual"] is True
    assert s.start_time == manual.start
    assert s.distance_m == pytest.approx(manual.distance_m)
    assert s.duration_s == pytest.approx(manual.elapsed_s)
    assert s.sport == "run" and s.name == manual.name and s.metadata["gear"] == manual.gear
    by_id = {x.metadata["strava_id"]: x for x in sums}
    for row in spec.rows:  # type: ignore[attr-defined]
        assert by_id[row.strava_id].start_time == row.start
        assert by_id[row.strava_id].distance_m == pytest.approx(row.distance_m, abs=0.05)  # the metre column


def test_export_inside_a_top_folder_of_the_zip(exports: dict[str, object]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(exports["zip"].path) as src, zipfile.ZipFile(buf, "w") as dst:  # type: ignore[attr-defined]
        for info in src.infolist():
            dst.writestr("export_36123/" + info.filename, src.read(info))
    items = list(iter_strava_export(buf.getvalue(), name="re-zipped.zip"))
    assert [i.source for i in items] == [f"re-zipped.zip!export_36123/{r.filename}"
                                         for r in exports["zip"].rows if r.kind != "manual"]  # type: ignore[attr-defined]
    assert sum(i.error is None for i in items) == N


def test_generation_2018_csv(tmp_path: Path) -> None:
    spec = make_strava_export(tmp_path / "old.zip", n=3, generation="2018")
    items = list(iter_strava_export(spec.path))
    ok = [i for i in items if i.error is None]
    assert len(ok) == 3
    for item, row in zip(ok, spec.rows):
        w = item.workouts[0]
        assert w.metadata["strava_id"] == row.strava_id and w.name == row.name
        assert w.metadata["strava_distance_m"] == pytest.approx(row.distance_m, abs=0.05)  # metres, not km
    sums = strava_export_summaries(spec.path)
    assert [s.start_time for s in sums] == [r.start for r in spec.rows]


def _mini_export(folder: Path, rows: list[dict[str, str]], files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "activities.csv").open("w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(["Activity ID", "Activity Date", "Activity Name", "Activity Type", "Activity Description",
                     "Elapsed Time", "Distance", "Activity Gear", "Filename", "Elapsed Time", "Distance"])
        for r in rows:
            wr.writerow([r.get("id", "1"), r.get("date", "Mar 2, 2024, 6:30:00 AM"), r.get("name", "x"),
                         r.get("type", "Run"), "", "600", "1.00", "", r.get("file", ""), "600.0", "1000.0"])
    for name, data in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return folder


def test_sport_from_activity_type_when_file_has_none(tmp_path: Path) -> None:
    w = synthetic_run(duration_s=300, seed=3, sport="unknown")
    gpx = write_gpx(w)
    assert b"<type>" not in gpx
    folder = _mini_export(tmp_path / "e", [{"type": "Hike", "file": "activities/1.gpx"},
                                           {"type": "Ride", "file": "activities/2.gpx.gz"}],
                          {"activities/1.gpx": gpx, "activities/2.gpx.gz": gzip.compress(write_gpx(w.replace(sport="run")))})
    items = list(iter_strava_export(folder))
    assert [i.workouts[0].sport for i in items] == ["hike", "run"]  # the file's own sport wins
    assert [i.workouts[0].metadata["strava_type"] for i in items] == ["Hike", "Ride"]


def test_unlisted_files_broken_files_and_laziness(tmp_path: Path) -> None:
    w = synthetic_run(duration_s=200, seed=4)
    gpx = write_gpx(w)
    files = {"activities/1.gpx": gpx, "activities/2.fit.gz": gzip.compress(b"\x0e\x10garbage")[:-6],
             "activities/3.gpx": gpx, "activities/99.gpx": gpx, "activities/notes.txt": b"hi"}
    folder = _mini_export(tmp_path / "e", [{"id": "1", "file": "activities/1.gpx"}, {"id": "2", "file": "activities/2.fit.gz"},
                                           {"id": "3", "file": "activities/3.gpx"}], files)
    it = iter_strava_export(folder)
    first = next(it)
    assert first.error is None and first.workouts[0].metadata["strava_id"] == "1"
    (folder / "activities/3.gpx").unlink()  # nothing after the first item was read yet
    rest = list(it)
    assert isinstance(rest[0].error, Sub3Error) and "2.fit.gz" in _one_line(rest[0].error)
    assert isinstance(rest[1].error, CorruptFile) and "file is missing" in str(rest[1].error)
    assert rest[2].source.endswith("activities/99.gpx") and rest[2].error is None  # not in the CSV
    assert rest[2].workouts[0].metadata.get("strava_id") is None
    assert len(rest) == 3  # notes.txt is no activity file


def test_csv_filename_outside_export_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.gpx").write_bytes(write_gpx(synthetic_run(duration_s=100, seed=1)))
    folder = _mini_export(tmp_path / "e", [{"file": "../secret.gpx"}, {"file": "/etc/passwd"},
                                           {"file": "activities/link.gpx"}], {})
    (folder / "activities").mkdir()
    (folder / "activities" / "link.gpx").symlink_to(tmp_path / "secret.gpx")
    items = list(iter_strava_export(folder))
    assert len(items) == 3
    for item in items:
        assert isinstance(item.error, UnsafeArchive) and item.workouts == []
        _one_line(item.error)


def _zip_with(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    return buf.getvalue()


def test_zip_slip_member_refused() -> None:
    csv_text = b"Activity ID,Activity Date,Activity Name,Activity Type,Filename\n1,\"Mar 2, 2024, 6:30:00 AM\",x,Run,../evil.gpx\n"
    data = _zip_with({"activities.csv": csv_text, "../evil.gpx": b"<gpx/>"})
    with pytest.raises(UnsafeArchive) as ei:
        list(iter_strava_export(data, name="evil.zip"))
    assert "../evil.gpx" in _one_line(ei.value) and _one_line(ei.value).startswith("evil.zip: ")
    with pytest.raises(UnsafeArchive):
        strava_export_summaries(data)


def test_zip_bomb_refused(tmp_path: Path) -> None:
    path = make_zip_bomb(tmp_path / "bomb.zip", "activities/1.fit",
                         extra={"activities.csv": b"Activity ID,Filename\n1,activities/1.fit\n"})
    with zipfile.ZipFile(path) as zf:  # the member really is a bomb: > 1000:1
        info = zf.getinfo("activities/1.fit")
        assert info.file_size >= 64 << 20 and info.file_size / info.compress_size > 1000
    with pytest.raises(UnsafeArchive) as ei:
        next(iter_strava_export(path))
    msg = _one_line(ei.value)
    assert "zip bomb" in msg and str(path) in msg


def test_not_an_export() -> None:
    with pytest.raises(CorruptFile):
        list(iter_strava_export(_zip_with({"a.gpx": b"<gpx/>"})))
    with pytest.raises(CorruptFile):
        list(iter_strava_export(b"not a zip at all"))
    with pytest.raises(CorruptFile) as ei:
        list(iter_strava_export(_zip_with({"activities.csv": b"a,b\n1,2\n"}), name="x.zip"))
    assert "Filename" in _one_line(ei.value)


def test_is_strava_export(exports: dict[str, object], tmp_path: Path) -> None:
    for src, _ in _inputs(exports).values():
        assert is_strava_export(src)
    assert not is_strava_export(tmp_path / "nope")
    assert not is_strava_export(tmp_path)
    assert not is_strava_export(b"garbage")
    assert not is_strava_export(_zip_with({"activities.csv": b"a,b\n1,2\n"}))
    assert not is_strava_export(_zip_with({"export.xml": b"<HealthData/>"}))
    with zipfile.ZipFile(exports["zip"].path) as zf:  # type: ignore[attr-defined]
        assert is_strava_export(zf)


# ----- dates ----------------------------------------------------------------------------------

def test_parse_strava_date_known_layouts() -> None:
    want = datetime(2019, 8, 28, 15, 21, 51, tzinfo=timezone.utc)
    for text in ("Aug 28, 2019, 3:21:51 PM", "Aug 28, 2019, 3:21:51\u202fPM", "28 Aug 2019, 15:21:51",
                 "2019-08-28 15:21:51", "2019-08-28T15:21:51Z"):
        assert parse_strava_date(text) == want, text
    assert parse_strava_date("") is None and parse_strava_date("yesterday") is None


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=datetime(2008, 1, 1), max_value=datetime(2035, 12, 31)).map(lambda d: d.replace(microsecond=0)))
def test_parse_strava_date_round_trip(dt: datetime) -> None:
    h12 = (dt.hour - 1) % 12 + 1
    ampm = "AM" if dt.hour < 12 else "PM"
    for text in (f"{dt:%b} {dt.day}, {dt.year}, {h12}:{dt:%M:%S} {ampm}", f"{dt.day} {dt:%b %Y, %H:%M:%S}", f"{dt:%Y-%m-%d %H:%M:%S}"):
        assert parse_strava_date(text) == dt.replace(tzinfo=timezone.utc)


csv_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=40)


@settings(max_examples=40, deadline=None)
@given(name=csv_text, desc=csv_text, dist=st.floats(0, 300_000), elapsed=st.integers(0, 200_000))
def test_summaries_keep_any_text_and_numbers(name: str, desc: str, dist: float, elapsed: int) -> None:
    h = STRAVA_HEADER_NEW
    row = [""] * len(h)
    row[h.index("Activity ID")] = "42"
    row[h.index("Activity Date")] = "21 Feb 2024, 01:17:32"
    row[h.index("Activity Name")] = name
    row[h.index("Activity Type")] = "Run"
    row[h.index("Activity Description")] = desc
    row[h.index("Elapsed Time")] = str(elapsed)
    row[h.index("Distance")] = f"{dist / 1000:.2f}"
    row[len(h) - 1 - h[::-1].index("Distance")] = repr(dist)
    buf = io.StringIO()
    csv.writer(buf).writerows([h, row])
    (s,) = strava_export_summaries(_zip_with({"activities.csv": buf.getvalue().encode()}))
    assert s.name == (name.strip() or None) and s.metadata["description"] == (desc.strip() or None)
    assert s.distance_m == dist and s.duration_s == elapsed
    assert s.start_time == datetime(2024, 2, 21, 1, 17, 32, tzinfo=timezone.utc)


# ----- real activities.csv files ----------------------------------------------------------------

REAL_FILES = {".fit": "fit/garmin-fenix-5-run.fit", ".gpx": "gpx/tiny656-985479046.gpx",
              ".tcx": "tcx/runpandas-2020-12-16T05_44_18-300_Running.tcx"}


def _real_csvs() -> list[Path]:
    return sorted(shared_path("histories").glob("strava-d-*.csv"))


@pytest.mark.shared
def test_real_csvs_all_rows_parse() -> None:
    csvs = _real_csvs()
    assert len(csvs) >= 2
    for p in csvs:
        with p.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        sums = strava_export_summaries(_zip_with({"activities.csv": p.read_bytes()}), name=p.name)
        assert len(sums) == len(rows) - 1, p.name  # every date layout understood
        for s in sums:
            assert s.sport in ("run", "bike", "walk", "hike", "swim", "ski", "other")
            assert s.distance_m is not None and 0 <= s.distance_m < 400_000, (p.name, s)
            assert s.duration_s is not None and s.duration_s > 0
        swims = [s for s in sums if s.metadata["strava_type"] == "Swim"]
        assert all(s.distance_m < 10_000 for s in swims)  # "1,609" in metres, not km
        assert [s.metadata["manual"] for s in sums].count(True) == sum(1 for r in rows[1:] if not r[[c.lower() for c in rows[0]].index("filename")])


@pytest.mark.shared
@pytest.mark.parametrize("as_zip", [False, True])
def test_real_csv_with_real_files(tmp_path: Path, as_zip: bool) -> None:
    originals = {ext: shared_path("files", *rel.split("/")) for ext, rel in REAL_FILES.items()}
    for p in _real_csvs():
        with p.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        fcol = [c.lower() for c in rows[0]].index("filename")
        listed = [r for r in rows[1:] if r[fcol]]
        root = tmp_path / p.stem
        root.mkdir()
        shutil.copy(p, root / "activities.csv")
        provided: dict[str, str] = {}
        for r in listed:  # first row of each file kind gets a real recording
            fn = r[fcol]
            base = fn[:-3] if fn.endswith(".gz") else fn
            ext = Path(base).suffix
            if ext in provided.values():
                continue
            data = originals[ext].read_bytes()
            if ext == ".tcx":
                data = b"\n   " + data  # Strava's stray whitespace
            if fn.endswith(".gz"):
                data = gzip.compress(data)
            (root / fn).parent.mkdir(exist_ok=True)
            (root / fn).write_bytes(data)
            provided[fn] = ext
        src: Path = root
        if as_zip:
            src = Path(shutil.make_archive(str(tmp_path / f"{p.stem}-z"), "zip", root))
        items = list(iter_strava_export(src))
        assert len(items) == len(listed), p.name
        ok = {it.source.rsplit("!" if as_zip else "/activities/", 1)[-1].removeprefix("activities/"): it
              for it in items if it.error is None}
        assert sorted(ok) == sorted(f.removeprefix("activities/") for f in provided), p.name
        for it in items:
            if it.error is not None:
                assert isinstance(it.error, CorruptFile) and "file is missing" in str(it.error)
        for r in listed:
            it = ok.get(r[fcol].removeprefix("activities/"))
            if it is None:
                continue
            w = it.workouts[0]
            assert w.metadata["strava_id"] == r[0].strip() and w.name == (r[2].strip() or None)
            assert w.metadata["strava_type"] == r[3].strip() and len(w) > 10
