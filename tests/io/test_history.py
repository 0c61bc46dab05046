"""Training-history readers: every shared history file, generated good and bad files."""
from __future__ import annotations

import csv
import io
import json
import statistics
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sub3coach.errors import CorruptFile
from sub3coach.io.history import detect_history_format, iter_history, parse_duration_s
from tests.conftest import shared_path


def _n_rows(path) -> int:
    data = path.read_bytes()
    if path.suffix == ".json":
        return len(json.loads(data))
    text = data.decode("utf-8-sig")
    delim = ";" if text.split("\n", 1)[0].count(";") > 1 else ","
    return sum(1 for r in list(csv.reader(io.StringIO(text), delimiter=delim))[1:] if any(c.strip() for c in r))


def _history_files():
    folder = shared_path("histories")
    return sorted(p for p in folder.iterdir() if p.name != "PROVENANCE.csv" and p.suffix in (".csv", ".json"))


@pytest.mark.shared
def test_every_shared_history_file_reads_plausibly():
    files = _history_files()
    assert len(files) >= 30
    formats = set()
    for path in files:
        fmt = detect_history_format(path.read_bytes()[:65536], path.name)
        assert fmt is not None, path.name
        formats.add(fmt)
        reader = iter_history(path)
        runs = list(reader)
        n = _n_rows(path)
        assert reader.n_rows == n, path.name
        assert len(runs) + reader.skipped == n and reader.skipped <= 0.05 * n, path.name
        now = datetime.now(timezone.utc)
        for r in runs:
            assert r.start_time.utcoffset() == timedelta(0) and r.start_time <= now + timedelta(days=1)
            assert r.summary_only and r.source == path.name and r.metadata["format"] == fmt
            assert r.distance_m is None or r.distance_m > 0
            assert r.avg_hr_bpm is None or 20 <= r.avg_hr_bpm <= 250
        only_runs = [r for r in runs if r.sport == "run"]
        assert only_runs, path.name
        dists = [r.distance_m for r in only_runs if r.distance_m]
        paces = [r.avg_pace_s_per_km for r in only_runs if r.avg_pace_s_per_km]
        assert 800 < statistics.median(dists) < 25_000, path.name          # metres, not km or cm
        assert 180 < statistics.median(paces) < 12 * 60, path.name         # 3:00-12:00 /km
        assert all(r.avg_pace_s_per_km >= 120 for r in only_runs                 # impossible paces skipped
                   if r.avg_pace_s_per_km and r.distance_m >= 200)
    assert formats == {"running_page_json", "strava_csv", "garmin_csv", "simple_csv", "many_runners_csv"}
    assert detect_history_format((shared_path("histories") / "PROVENANCE.csv").read_bytes(), "PROVENANCE.csv") is None


@pytest.mark.shared
def test_many_runners_and_strava_units():
    folder = shared_path("histories")
    runs = list(iter_history(folder / "strava-races-many-runners.csv"))
    assert len({r.user_id for r in runs}) > 50
    assert {r.gender for r in runs} <= {"male", "female", None} and {"male", "female"} <= {r.gender for r in runs}
    assert all(r.metadata.get("local_time_as_utc") for r in runs)
    # Strava's two "Distance" columns: km first, metres second -> metres chosen
    for path in sorted(folder.glob("strava-d-*.csv")):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        header = rows[0]
        got = {r.metadata["activity_id"]: r for r in iter_history(path)}
        if header.count("Distance") == 2:
            i_km = header.index("Distance")
            i_id = header.index("Activity ID")
            i_type = header.index("Activity Type")
            for row in rows[1:]:
                first = float(row[i_km].replace(",", "")) if row[i_km] else 0.0
                if first > 0.5 and row[i_id] in got:
                    scale = 1.0 if row[i_type] == "Swim" else 1000.0  # Strava: swims in m, else km
                    assert got[row[i_id]].distance_m == pytest.approx(first * scale, abs=10)


def _write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_generated_strava_both_generations(tmp_path):
    cur = ("Activity ID,Activity Date,Activity Name,Activity Type,Elapsed Time,Distance,Max Heart Rate,"
           "Elapsed Time,Moving Time,Distance,Average Heart Rate,Elevation Gain,Activity Gear,Average Cadence\n"
           '1,"Aug 28, 2019, 3:21:51 AM",Night run,Run,3009,9.60,170,3009.5,2900,9600.4,150.5,110,Shoe,80\n'
           '2,"21 Feb 2024, 01:17:32",Ride,Ride,3600,30.00,,3600,3500,,,,,\n')
    a, b = list(iter_history(_write(tmp_path, "activities.csv", cur), user_id="me"))
    assert a.start_time == datetime(2019, 8, 28, 3, 21, 51, tzinfo=timezone.utc)
    assert (a.distance_m, a.duration_s, a.moving_time_s, a.avg_hr_bpm, a.max_hr_bpm) == (9600.4, 3009.5, 2900, 150.5, 170)
    assert a.metadata["gear"] == "Shoe" and a.metadata["average_cadence"] == 80 and a.user_id == "me"
    assert b.sport == "bike" and b.distance_m == 30_000  # metres column empty -> km column x 1000
    old = "id,date,name,type,description,elapsed_time,distance,commute,gear,filename\n" \
          "5,2015-06-16 14:27:56,Run,Run,,3000,10000.0,false,,a.gpx\n"
    (r,) = list(iter_history(_write(tmp_path, "old.csv", old)))
    assert r.distance_m == 10_000 and r.duration_s == 3000 and r.start_time.hour == 14
    # a single km "Distance" column (current generation) is recognised from the speeds
    single = "Activity ID,Activity Date,Activity Type,Elapsed Time,Distance\n" + "".join(
        f'{i},"Aug {i + 1}, 2019, 3:21:51 AM",Run,{1500 + i},{5.0 + i / 10:.2f}\n' for i in range(5))
    assert [r.distance_m for r in iter_history(_write(tmp_path, "s.csv", single))] == pytest.approx(
        [5000 + i * 100 for i in range(5)])


def test_running_page_and_garmin_times(tmp_path):
    acts = [
        {"run_id": 1, "name": "x", "distance": 5000.0, "moving_time": "0:25:00", "type": "Run",
         "start_date": "2023-09-12 22:23:31+00:00", "start_date_local": "2023-09-13 06:23:31",
         "average_heartrate": 150.0, "average_speed": 3.33},
        {"run_id": 2, "name": "y", "distance": 100000.0, "moving_time": "1 day, 2:00:00", "type": "Ride",
         "start_date": "2023-09-14T06:00:00+08:00", "start_date_local": "2023-09-14 06:00:00",
         "average_heartrate": 0, "average_speed": 1.0},
    ]
    a, b = list(iter_history(json.dumps(acts).encode(), name="activities.json"))
    assert a.moving_time_s == 1500 and a.avg_pace_s_per_km == 300 and a.metadata["start_time_local"]
    assert b.start_time == datetime(2023, 9, 13, 22, 0, tzinfo=timezone.utc)  # +08:00 converted
    assert b.moving_time_s == 93_600 and b.avg_hr_bpm is None and b.sport == "bike"
    assert a.source == "activities.json"
    garmin = ("activityId,activityName,startTimeLocal,startTimeGMT,activityType_typeKey,distance,duration,"
              "elapsedDuration,movingDuration,averageHR,maxHR,elevationGain,averageSpeed\n"
              "9,Run,2026-07-21 19:32:19,2026-07-21 18:32:19,running,5000.0,1500.0,1600.0,1490.0,150,170,30,3.3\n")
    (g,) = list(iter_history(garmin.encode(), name="garmin.csv"))
    assert g.start_time == datetime(2026, 7, 21, 18, 32, 19, tzinfo=timezone.utc) or g.start_time > datetime.now(timezone.utc)
    assert (g.duration_s, g.moving_time_s, g.elevation_gain_m) == (1600.0, 1490.0, 30.0)
    assert g.metadata["start_time_local"] == "2026-07-21 19:32:19"


def test_bad_files(tmp_path):
    with pytest.raises(CorruptFile, match="empty.csv: empty file"):
        list(iter_history(_write(tmp_path, "empty.csv", "")))
    with pytest.raises(CorruptFile, match="no activity rows"):
        list(iter_history(_write(tmp_path, "h.csv", "date,dist_m,mov_s\n")))
    with pytest.raises(CorruptFile, match=r"w.csv: looks like a simple_csv history but is missing column\(s\): mov_s"):
        list(iter_history(_write(tmp_path, "w.csv", "date,dist_m,time\n2022-01-01,5,30\n")))
    with pytest.raises(CorruptFile, match=r"missing column\(s\): type, elapsed_time"):
        list(iter_history(_write(tmp_path, "v.csv", "date,distance,time\n2022-01-01,5,30\n")))
    with pytest.raises(CorruptFile, match="missing column"):
        list(iter_history(_write(tmp_path, "s.csv", "Activity ID,Activity Date,Distance\n1,x,2\n")))
    with pytest.raises(CorruptFile, match="unrecognised training-history CSV"):
        list(iter_history(_write(tmp_path, "z.csv", "foo,bar\n1,2\n")))
    with pytest.raises(CorruptFile, match="not valid JSON"):
        list(iter_history(_write(tmp_path, "a.json", '[{"run_id": 1,')))
    assert detect_history_format(b"foo,bar\n1,2\n", "z.csv") is None
    assert detect_history_format(b'<?xml version="1.0"?><gpx>', "a.gpx") is None


def test_impossible_rows_skipped_then_refused(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="sub3coach.io.history")  # each skipped row is logged at DEBUG
    future = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%d")
    rows = ["2022-01-0%d,%d,%d,150,,,Run" % (d, 5000, 1500) for d in range(1, 8)]
    rows += [f"{future},5000,1500,150,,,Run", "2022-01-09,-5000,1500,150,,,Run",
             "2022-01-10,5000,300,150,,,Run", "2022-13-45,5000,1500,,,,Run"]
    reader = iter_history(_write(tmp_path, "log.csv", "date,dist_m,mov_s,hr,intensity,load,name\n" + "\n".join(rows)))
    runs = list(reader)
    assert len(runs) == 7 and reader.skipped == 4
    assert reader.skip_reasons == {"date in the future": 1, "negative distance": 1,
                                   "pace faster than 2:00/km": 1, "unreadable date": 1}
    assert "skipped: pace faster than 2:00/km" in caplog.text
    assert all(r.start_time.hour == 12 and r.metadata["date_only"] for r in runs)
    # moving time in minutes instead of seconds: most rows impossible -> refused with a reason
    bad = "date,dist_m,mov_s\n" + "\n".join(f"2022-02-{d:02d},{5000 + d},{25 + d}" for d in range(1, 11))
    with pytest.raises(CorruptFile, match=r"10 of 10 rows unusable, mostly 'pace faster than 2:00/km'.*unit"):
        list(iter_history(_write(tmp_path, "min.csv", bad)))


def test_many_runner_table_generated(tmp_path):
    text = ("Athlete;Gender;Timestamp;Distance;ElapsedTime;ElevationGain;AverageHeartRate\r\n"
            "1;M;15/12/2019 09:08;10000;3000;17.4;150.3\r\n"
            "2;F;03/02/2020 19:46;5000;1500;0;\r\n"
            "2;;04/02/2020 19:46;5000;1500;0;0\r\n")
    a, b, c = list(iter_history(_write(tmp_path, "t.csv", text), user_id="ignored"))
    assert (a.user_id, a.gender, b.user_id, b.gender, c.gender) == ("1", "male", "2", "female", None)
    assert a.start_time == datetime(2019, 12, 15, 9, 8, tzinfo=timezone.utc)  # dd/mm, local kept as UTC
    assert b.start_time.month == 2 and b.avg_hr_bpm is None and c.avg_hr_bpm is None
    assert a.duration_s == 3000 and a.elevation_gain_m == 17.4 and a.sport == "run"


def test_parse_duration():
    assert parse_duration_s("0:29:58.432000") == pytest.approx(1798.432)
    assert parse_duration_s("2 days, 1:00:00") == 2 * 86400 + 3600
    assert parse_duration_s("12:30") == 750
    assert parse_duration_s("") is None and parse_duration_s("abc") is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2024, 12, 31).date()),
                          st.floats(300, 50_000), st.integers(0, 20_000), st.one_of(st.none(), st.integers(60, 200))),
                min_size=1, max_size=15))
def test_simple_csv_round_trip(rows):
    lines = ["date,dist_m,mov_s,hr,name"]
    for d, dist, mov, hr in rows:
        lines.append(f"{d.isoformat()},{dist:.2f},{mov},{'' if hr is None else hr},Morning Run")
    reader = iter_history("\n".join(lines).encode(), name="log.csv")
    expect_ok = [(d, dist, mov, hr) for d, dist, mov, hr in rows if not (mov and mov / (round(dist, 2) / 1000) < 120)]
    if len(expect_ok) * 2 < len(rows):
        with pytest.raises(CorruptFile, match="rows unusable, mostly 'pace faster than 2:00/km'"):
            list(reader)
        return
    got = list(reader)
    assert len(got) == len(expect_ok) and reader.skipped == len(rows) - len(expect_ok)
    for r, (d, dist, mov, hr) in zip(got, expect_ok):
        assert r.start_time.date() == d and r.distance_m == pytest.approx(round(dist, 2))
        assert r.moving_time_s == mov and r.avg_hr_bpm == hr and r.sport == "run"
