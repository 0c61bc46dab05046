"""The web app's JSON API through httpx (FastAPI's TestClient): every endpoint, every error
code, the same numbers and one-line messages as the CLI, uploads capped while they stream,
temporary files removed, and concurrent imports and reads that leave the library whole."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sub3coach.web.app import create_app
from tests.conftest import REPO, shared_path
from tests.web.conftest import run_gpx

runner = CliRunner()


def _post(c: TestClient, url: str, path: Path, name: str | None = None, **form: Any) -> Any:
    return c.post(url, files={"file": (name or path.name, path.read_bytes())}, data={k: str(v) for k, v in form.items()})


def _cli(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """``sub3`` in a subprocess (the real entry point, its one-line errors)."""
    r = subprocess.run([sys.executable, "-m", "sub3coach.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")})
    return r.returncode, r.stdout, r.stderr


# ----- predict -------------------------------------------------------------------------------
def test_healthz_page_and_docs(client: TestClient, library: Path) -> None:
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["model"] == "hr-default" and h["library"] == str(library) and not h["library_exists"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="drop"' in page.text and "/static/app.js" in page.text
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript") and len(js.content) > 1_000_000
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/app.css").status_code == 200
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/predict", "/api/predict/course", "/api/runs", "/api/runs/{run_id}", "/api/import", "/api/plan/week", "/healthz"):
        assert p in paths, p
    assert "multipart/form-data" in paths["/api/predict"]["post"]["requestBody"]["content"]


def test_predict_matches_cli(client: TestClient, files: dict[str, Path], library: Path) -> None:
    """The page's numbers are the CLI's: same samples, same prediction, same summary."""
    r = _post(client, "/api/predict", files["run.gpx"])
    assert r.status_code == 200, r.text
    d = r.json()
    from sub3coach.io.dispatch import read_workout

    w = read_workout(files["run.gpx"])
    n = len(w)
    for key in ("timestamp", "hr_pred", "hr_lo", "hr_hi", "hr_measured", "speed_mps", "altitude_m"):
        assert len(d[key]) == n, key
    assert d["timestamp"] == [float(t) for t in w.time_s]  # the file's own sample times
    assert all(lo <= p <= hi for lo, p, hi in zip(d["hr_lo"], d["hr_pred"], d["hr_hi"]))
    res = runner.invoke(__import__("sub3coach.cli", fromlist=["app"]).app,
                        ["hr", "predict", str(files["run.gpx"]), "--json", "--library", str(library)])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    assert d["hr_pred"] == cli["samples"]["hr_pred"] and d["hr_hi"] == cli["samples"]["hr_hi"]
    s, cs = d["summary"], cli["workouts"][0]
    for k in ("mean_hr_bpm", "max_hr_pred_bpm", "time_in_zones_s", "mode", "band80_mean_width_bpm", "n_samples"):
        assert s[k] == pytest.approx(cs[k]), k
    assert s["personal"] == cli["personal"]


def test_predict_fit_gz_options_and_no_hr(client: TestClient, files: dict[str, Path]) -> None:
    d = _post(client, "/api/predict", files["run.fit.gz"], max_hr=185).json()
    assert len(d["hr_pred"]) == 900 and d["hr_measured"] is not None
    assert d["summary"]["max_hr_bpm_for_zones"] == 185 and d["summary"]["max_hr_assumed"] is False
    d = _post(client, "/api/predict", files["run.fit"], observed_minutes=5).json()
    assert d["summary"]["mode"] == "in-run" and d["observed_until_s"] == pytest.approx(d["timestamp"][0] + 300)
    assert "first 5 min" in d["summary"]["personal"]
    d = _post(client, "/api/predict", files["nohr.gpx"]).json()
    assert d["hr_measured"] is None and len(d["hr_pred"]) == len(d["timestamp"]) > 100


@pytest.mark.parametrize("name,status,words", [
    ("truncated.fit", 400, "truncated FIT file"),
    ("notes.txt", 415, "not a FIT, GPX or TCX activity"),
])
def test_predict_bad_files_same_line_as_cli(client: TestClient, files: dict[str, Path], name: str, status: int, words: str) -> None:
    r = _post(client, "/api/predict", files[name])
    assert r.status_code == status
    detail = r.json()["detail"]
    assert words in detail and detail.startswith(f"{name}: ") and "\n" not in detail
    code, _, err = _cli(["hr", "predict", name], files[name].parent)
    assert code == 1 and err.strip() == f"sub3: error: {detail}"


def test_predict_unprocessable(client: TestClient, files: dict[str, Path], tmp_path: Path) -> None:
    from tests.fixtures.make_fit import make_fit_settings

    settings = tmp_path / "settings.fit"
    settings.write_bytes(make_fit_settings(None))
    r = _post(client, "/api/predict", settings)
    assert r.status_code == 422 and "holds no activity" in r.json()["detail"] and r.json()["error"] == "NotAnActivity"
    r = _post(client, "/api/predict", files["nohr.gpx"], observed_minutes=5)  # in-run needs measured HR
    assert r.status_code == 422 and "hr_bpm" in r.json()["detail"]
    for bad in ({"max_hr": "abc"}, {"max_hr": "20"}, {"observed_minutes": "0"}):
        r = _post(client, "/api/predict", files["run.gpx"], **bad)
        assert r.status_code == 422 and next(iter(bad)) in r.json()["detail"]
    r = client.post("/api/predict", data={"athlete": "x"}, files={"other": ("a.gpx", b"x")})
    assert r.status_code == 422 and "form field 'file'" in r.json()["detail"]
    r = client.post("/api/predict", json={"file": "run.gpx"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]
    r = _post(client, "/api/predict", files["run.gpx"], athlete="nobody")
    assert r.status_code == 400 and "no library here" in r.json()["detail"]  # the CLI's line for --athlete without a library


def test_bombs_refused_as_in_cli(client: TestClient, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.gpx.gz"
    bomb.write_bytes(gzip.compress(b" " * (40 * 2**20), 9))  # 40 MB of blanks in ~40 KB
    r = _post(client, "/api/predict", bomb)
    assert r.status_code == 413 and r.json()["error"] == "UnsafeArchive"
    code, _, err = _cli(["hr", "predict", bomb.name], tmp_path)
    assert code == 1 and err.strip() == f"sub3: error: {r.json()['detail']}"
    xml = tmp_path / "laughs.gpx"
    xml.write_text('<?xml version="1.0"?>\n<!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
                   '<gpx version="1.1" creator="x"><trk><name>&b;</name><trkseg><trkpt lat="1" lon="1"><time>2024-01-01T00:00:00Z</time>'
                   '</trkpt></trkseg></trk></gpx>')
    r = _post(client, "/api/predict", xml)
    assert r.status_code == 400 and "entities" in r.json()["detail"] and r.json()["detail"].startswith("laughs.gpx: ")


def _zeros_gz(size: int, member: int = 256 * 2**20) -> bytes:
    """A gzip of zeros about ``size`` bytes long: members of ``member`` zeros each (one
    compressed once, repeated), so it is made in a second."""
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(2**20)
    one = b"".join(c.compress(block) for _ in range(member // 2**20)) + c.flush()
    return one * max(1, size // len(one))


def test_gzip_inflating_beyond_web_limit(library: Path, tmp_path: Path) -> None:
    """A ~3 MB .fit.gz of zeros (under the 50 MB request cap; the CLI would inflate it to
    512 MiB) is refused with 413 once it passes 4 x the request cap, at most 200 MiB."""
    import time

    bomb = tmp_path / "zeros.fit.gz"
    bomb.write_bytes(_zeros_gz(3 * 2**20))
    assert 2.5 * 2**20 < bomb.stat().st_size < 3.5 * 2**20
    for mb, inflated in ((50.0, 200), (5.0, 20)):
        with TestClient(create_app(library, max_upload_mb=mb, preload=False)) as c:
            t0 = time.perf_counter()
            r = _post(c, "/api/predict", bomb)
            elapsed = time.perf_counter() - t0
            assert r.status_code == 413 and r.json()["error"] == "UnsafeArchive", r.text
            assert r.json()["detail"] == f"zeros.fit.gz: gzip expands beyond {inflated} MiB (possible zip bomb)"
            assert elapsed < 30, elapsed  # inflating 200 MiB takes well under a second alone
            r = c.post("/api/predict/course", files={"file": ("zeros.gpx.gz", bomb.read_bytes())}, data={"pace": "5:00"})
            assert r.status_code == 413 and f"beyond {inflated} MiB" in r.json()["detail"]
    import gzip as gz

    twice = tmp_path / "twice.gpx.gz"
    twice.write_bytes(gz.compress(gz.compress(run_gpx())))
    with TestClient(create_app(library, preload=False)) as c:
        r = _post(c, "/api/predict", twice)
        assert r.status_code == 415 and r.json()["detail"] == "twice.gpx.gz: a gzip file inside a gzip file"


def test_at_most_two_uploads_read_at_once(client: TestClient, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Six predictions at once: never more than two read and predicted together (memory bound)."""
    import threading
    import time

    from sub3coach.web import service

    lock, now, most = threading.Lock(), [0], [0]
    real = service.read_upload

    def slow(*a: Any, **k: Any) -> Any:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.3)
        with lock:
            now[0] -= 1
        return real(*a, **k)

    monkeypatch.setattr(service, "read_upload", slow)
    with ThreadPoolExecutor(6) as ex:
        codes = list(ex.map(lambda _: _post(client, "/api/predict", files["run.gpx"]).status_code, range(6)))
    assert codes == [200] * 6 and most[0] == 2


def test_upload_cap_413_while_streaming(library: Path, files: dict[str, Path]) -> None:
    with TestClient(create_app(library, max_upload_mb=0.25, preload=False)) as c:
        big = b"\0" * (400 * 1024)
        r = c.post("/api/predict", files={"file": ("big.fit", big)})
        assert r.status_code == 413 and "0.25 MB limit" in r.json()["detail"]
        sent: list[int] = []

        def chunks() -> Any:  # no Content-Length: the cap is counted as the body arrives
            yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.fit\"\r\n\r\n"
            for i in range(64):
                sent.append(i)
                yield b"\1" * 16384
            yield b"\r\n--b--\r\n"

        r = c.post("/api/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        assert _post(c, "/api/predict", files["run.fit"]).status_code == 200  # under the cap


def test_temp_folder_removed(client: TestClient, files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert _post(client, "/api/predict", files["run.gpx"]).status_code == 200
    assert _post(client, "/api/predict", files["truncated.fit"]).status_code == 400
    assert _post(client, "/api/predict/course", files["course.gpx"], pace_plan="1,5:00\n2,4:50").status_code == 200
    assert client.post("/api/import", files=[("file", ("a.gpx", files["run.gpx"].read_bytes()))]).status_code == 200
    assert list(tmp.iterdir()) == []


# ----- course ----------------------------------------------------------------------------------
def test_course_pace_and_plan(client: TestClient, files: dict[str, Path]) -> None:
    d = _post(client, "/api/predict/course", files["course.gpx"], pace="5:00").json()
    n = len(d["timestamp"])
    assert n > 100 and d["hr_measured"] is None and len(d["hr_pred"]) == len(d["altitude_m"]) == n
    assert d["timestamp"][-1] - d["timestamp"][0] == pytest.approx(5 * 300, rel=0.02)  # 5 km at 5:00/km
    assert all(v == pytest.approx(1000 / 300, abs=0.01) for v in d["speed_mps"])  # m/s, 2 decimals
    fast = _post(client, "/api/predict/course", files["course.gpx"], pace="4:00").json()
    assert fast["summary"]["mean_hr_bpm"] > d["summary"]["mean_hr_bpm"]  # faster means a higher HR
    plan = _post(client, "/api/predict/course", files["course.gpx"], pace_plan="1,5:30\n2,5:00\n3,4:30", max_hr=180).json()
    assert plan["summary"]["max_hr_bpm_for_zones"] == 180 and len(plan["timestamp"]) == n
    for form, words in (({}, "exactly one"), ({"pace": "5:00", "pace_plan": "1,5:00"}, "exactly one"),
                        ({"pace": "fast"}, "fast"), ({"pace_plan": "1,soon"}, "pace plan")):
        r = _post(client, "/api/predict/course", files["course.gpx"], **form)
        assert r.status_code == 400 and words in r.json()["detail"], (form, r.text)
    r = _post(client, "/api/predict/course", files["notes.txt"], pace="5:00")
    assert r.status_code == 415


@pytest.mark.shared
def test_course_from_real_gpx(client: TestClient) -> None:
    gpx = shared_path("files", "gpx", "tiny656-985479046.gpx")
    d = _post(client, "/api/predict/course", gpx, pace="4:45").json()
    assert len(d["hr_pred"]) > 100 and 80 < d["summary"]["mean_hr_bpm"] < 200


# ----- library ---------------------------------------------------------------------------------
def test_import_runs_and_run_detail(client: TestClient, files: dict[str, Path]) -> None:
    assert client.get("/api/runs").json() == []
    assert client.get("/api/runs/abcd1234").status_code == 404  # no library yet
    upload = [("file", (n, files[n].read_bytes())) for n in ("run.gpx", "run2.gpx", "truncated.fit")]
    rep = client.post("/api/import", files=upload, data={"athlete": "ann"}).json()
    assert rep["imported"] == 2 and rep["duplicates"] == 0 and rep["athletes"] == ["ann"]
    assert rep["failed"] == [{"path": "truncated.fit", "error": rep["failed"][0]["error"]}]
    assert "truncated FIT file" in rep["failed"][0]["error"] and "sub3-web" not in json.dumps(rep)
    again = client.post("/api/import", files=upload[:1]).json()
    assert again["imported"] == 0 and again["duplicates"] == 1
    rows = client.get("/api/runs", params={"athlete": "ann"}).json()
    assert len(rows) == 2 and {r["source"] for r in rows} == {"run.gpx", "run2.gpx"}
    assert client.get("/api/runs", params={"since": "2100-01-01"}).json() == []
    assert client.get("/api/runs", params={"since": "soon"}).status_code == 400
    assert client.get("/api/runs", params={"athlete": "bob"}).status_code == 400
    assert client.get("/api/athletes").json()[0]["name"] == "ann"
    one = client.get(f"/api/runs/{rows[0]['id'][:8]}").json()
    assert one["summary"]["id"] == rows[0]["id"] and len(one["samples"]["timestamp"]) == rows[0]["n_samples"]
    assert len(one["samples"]["hr_bpm"]) == rows[0]["n_samples"] and "prediction" not in one
    pred = client.get(f"/api/runs/{rows[1]['id']}", params={"predict": "true"}).json()["prediction"]
    assert len(pred["hr_pred"]) == rows[1]["n_samples"] and pred["hr_measured"] is not None
    assert pred["summary"]["personal"] == "personal model of ann (1 runs with HR)"  # the run before it only
    first = client.get(f"/api/runs/{rows[0]['id']}", params={"predict": "true"}).json()["prediction"]
    assert first["summary"]["personal"].startswith("ann: no run with HR yet")  # never from the run itself
    r = client.get("/api/runs/ffffffffffff")
    assert r.status_code == 404 and "no run with id" in r.json()["detail"]


def test_import_zip_bomb_reported(client: TestClient, tmp_path: Path) -> None:
    from tests.fixtures.make_exports import make_zip_bomb

    bomb = make_zip_bomb(tmp_path / "bomb.zip", "run.gpx", mb=32)
    rep = client.post("/api/import", files=[("file", ("bomb.zip", bomb.read_bytes()))]).json()
    assert rep["imported"] == 0 and rep["failed"][0]["path"] == "bomb.zip" and "zip bomb" in rep["failed"][0]["error"]
    assert client.post("/api/import", data={"athlete": "x"}).status_code == 415  # not multipart: no files at all
    r = client.post("/api/import", files=[("file", ("", b""))], data={"athlete": "x"})  # a file input left empty
    assert r.status_code == 422 and "no file uploaded" in r.json()["detail"]


def test_concurrent_imports_and_reads(client: TestClient, library: Path, tmp_path: Path) -> None:
    """Imports from several requests, reads in between, and a ``sub3 import`` in another process
    at the same time: every request answers, and the library holds each run exactly once."""
    runs = {f"c{i}.gpx": run_gpx(minutes=6, seed=40 + i) for i in range(8)}
    cli_dir = tmp_path / "cli"
    cli_dir.mkdir()
    for i in range(8, 11):
        (cli_dir / f"c{i}.gpx").write_bytes(run_gpx(minutes=6, seed=40 + i))
    names = list(runs)

    def imp(k: int) -> dict[str, Any]:
        batch = names[2 * (k % 4): 2 * (k % 4) + 2]  # each file twice across requests
        r = client.post("/api/import", files=[("file", (n, runs[n])) for n in batch])
        assert r.status_code == 200, r.text
        return r.json()

    def read(_: int) -> int:
        r = client.get("/api/runs")
        assert r.status_code == 200, r.text
        return len(r.json())

    cli = subprocess.Popen([sys.executable, "-m", "sub3coach.cli", "import", str(cli_dir), "--library", str(library), "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")})
    with ThreadPoolExecutor(6) as pool:
        futs = [pool.submit(imp, k) for k in range(8)] + [pool.submit(read, k) for k in range(8)]
        results = [f.result() for f in futs]
    out, err = cli.communicate(timeout=300)
    assert cli.returncode == 0, err
    reports = results[:8]
    assert sum(r["imported"] for r in reports) == 8 and sum(r["duplicates"] for r in reports) == 8
    assert json.loads(out)["imported"] == 3
    rows = client.get("/api/runs").json()
    assert len(rows) == 11 and len({r["id"] for r in rows}) == 11
    for r in rows:  # every run whole: its samples readable
        assert len(client.get(f"/api/runs/{r['id']}").json()["samples"]["timestamp"]) == r["n_samples"]


# ----- plan --------------------------------------------------------------------------------------
def test_plan_week(client: TestClient, tmp_path: Path) -> None:
    r = client.get("/api/plan/week")
    assert r.status_code == 400 and "import your runs first" in r.json()["detail"]
    from datetime import datetime, timezone

    from sub3coach.io.write import write_history_csv
    from sub3coach.synth import synthetic_history

    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    hist = write_history_csv(synthetic_history(12, easy_pace_s_per_km=330.0, seed=3, end=today))
    rep = client.post("/api/import", files=[("file", ("history.csv", hist))], data={"athlete": "kim"}).json()
    assert rep["imported"] > 30
    d = client.get("/api/plan/week", params={"athlete": "kim"}).json()
    assert len(d["days"]) == 7 and d["days"][0]["date"] == today.date().isoformat()
    assert any(w["type"] == "rest" for w in d["days"]) and any(w["type"] != "rest" for w in d["days"])
    assert d["total_distance_m"] == pytest.approx(sum(w["distance_m"] for w in d["days"]), abs=0.5)
    res = runner.invoke(__import__("sub3coach.cli", fromlist=["app"]).app,
                        ["plan", "week", "--json", "--athlete", "kim", "--library", str(client.app.state.library)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == d  # the CLI's week, unchanged
    assert client.get("/api/plan/week", params={"athlete": "nobody"}).status_code == 400


def test_slow_work_runs_outside_the_library_lock(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning a week and learning a personal model's new runs (the slow parts) run with the
    library lock free, so /api/runs and /api/athletes never queue behind them; the answers are
    unchanged (the personal model of the runs learnt, the CLI-parity of test_plan_week)."""
    import sub3coach.hr.personalize as pers
    import sub3coach.plan.api as plan_api
    from sub3coach.web import service

    held: dict[str, list[bool]] = {"plan": [], "learn": []}

    def spy(kind: str, fn: Any) -> Any:
        def wrapped(*a: Any, **k: Any) -> Any:
            held[kind].append(service.LIBRARY_LOCK.locked())
            return fn(*a, **k)
        return wrapped

    monkeypatch.setattr(plan_api, "plan_for", spy("plan", plan_api.plan_for))
    monkeypatch.setattr(pers, "run_stats_of", spy("learn", pers.run_stats_of))
    for seed in (40, 41, 42):
        rep = client.post("/api/import", files=[("file", (f"r{seed}.gpx", run_gpx(minutes=12, seed=seed)))], data={"athlete": "zoe"})
        assert rep.json()["imported"] == 1
    d = client.post("/api/predict", files={"file": ("later.gpx", run_gpx(minutes=12, seed=50))}).json()
    assert d["summary"]["personal"] == "personal model of zoe (3 runs with HR)"
    assert held["learn"] == [False]  # the three new runs learnt in one batch, outside the lock
    client.post("/api/predict", files={"file": ("later.gpx", run_gpx(minutes=12, seed=50))})
    assert held["learn"] == [False]  # cached: nothing to learn the second time
    client.get("/api/plan/week")  # three runs: a plan (or the planner's one-line refusal)
    assert held["plan"] == [False]


def test_load(client: TestClient) -> None:
    """/api/load answers what `sub3 load --json` prints; errors are the CLI's one line."""
    r = client.get("/api/load")
    assert r.status_code == 400 and "import your runs first" in r.json()["detail"]
    from datetime import datetime, timezone

    from sub3coach.io.write import write_history_csv
    from sub3coach.synth import synthetic_history

    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    for name, seed in (("kim", 3), ("lee", 4)):
        hist = write_history_csv(synthetic_history(8, easy_pace_s_per_km=330.0, seed=seed, end=today))
        assert client.post("/api/import", files=[("file", ("h.csv", hist))], data={"athlete": name}).json()["imported"] > 20
    r = client.get("/api/load")
    assert r.status_code == 400 and r.json()["detail"].endswith("name one with the athlete parameter")  # two, none named
    d = client.get("/api/load", params={"athlete": "kim"}).json()
    assert d["athlete"] == "kim" and d["days"] and {"day", "load", "ctl", "atl", "tsb"} <= set(d["days"][-1])
    assert d["days"][-1]["ctl"] > 0 and sum(x["trimp"] or 0 for x in d["runs"]) > 0
    res = runner.invoke(__import__("sub3coach.cli", fromlist=["app"]).app,
                        ["load", "--json", "--athlete", "kim", "--library", str(client.app.state.library)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["days"] == d["days"]
    assert client.get("/api/load", params={"athlete": "kim", "since": "yesterday"}).status_code == 400
    assert client.get("/api/load", params={"athlete": "nobody"}).status_code == 400


# ----- real files ----------------------------------------------------------------------------------
@pytest.mark.shared
@pytest.mark.slow
def test_every_real_file(client: TestClient) -> None:
    """Every recording in ../shared/data/files answers 200 or the reader's own one-line error as a
    4xx (never a 500); invalid/ files are refused unless the project's reader recovers them."""
    from sub3coach.errors import Sub3Error
    from sub3coach.io.dispatch import read_workout

    root = shared_path("files")
    ok = refused = 0
    for p in sorted(root.glob("*/*")):
        if p.suffix.lower() not in (".fit", ".gpx", ".tcx"):
            continue
        r = _post(client, "/api/predict", p)
        body = r.json()
        try:
            read_workout(p.read_bytes(), name=p.name)
            expected = None
        except Sub3Error as exc:
            expected = str(exc)
        if expected is None:
            assert r.status_code in (200, 422), (p.name, body)  # 422: read, but nothing to predict from
        else:
            assert r.status_code in (400, 415, 422, 413) and body["detail"] == expected, (p.name, body)
            refused += p.parent.name == "invalid"
        if r.status_code == 200:
            ok += 1
            assert len(body["hr_pred"]) == len(body["timestamp"]) and body["summary"]["mean_hr_bpm"] > 40
    assert ok >= 25 and refused >= 4


def test_serve_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, _, err = _cli(["serve", "--port", str(port), "--library", str(tmp_path / "l.duckdb")], tmp_path)
    assert code == 1 and err.startswith("sub3: error: cannot listen on 127.0.0.1:") and err.count("\n") == 1


def test_serve_port_zero_names_the_bound_port(tmp_path: Path) -> None:
    """``sub3 serve --port 0`` listens on a free port and its first line names it."""
    import os
    import re

    import httpx

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "sub3coach.cli", "serve", "--port", "0", "--library", str(tmp_path / "l.duckdb")],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        m = re.match(r"sub3coach web app on (http://127\.0\.0\.1:(\d+))/ ", first)
        assert m and int(m.group(2)) > 0, first
        for _ in range(300):
            try:
                h = httpx.get(m.group(1) + "/healthz", timeout=2)
                break
            except httpx.HTTPError:
                __import__("time").sleep(0.2)
        assert h.status_code == 200 and h.json()["library"] == str(tmp_path / "l.duckdb")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_several_athletes(client: TestClient, files: dict[str, Path]) -> None:
    """As in the CLI: with several athletes one must be named; named, their personal model is used."""
    for name, seed in (("ann", 21), ("bob", 22)):
        rep = client.post("/api/import", files=[("file", (f"{name}.gpx", run_gpx(minutes=15, seed=seed)))], data={"athlete": name})
        assert rep.json()["imported"] == 1
    later = {"file": ("later.gpx", run_gpx(minutes=15, seed=30))}  # after both imported runs
    r = client.post("/api/predict", files=later)
    web_line = "library holds 2 athletes (ann, bob): name one with the athlete parameter"
    assert r.status_code == 400 and r.json()["detail"] == web_line  # the web's words, not the CLI's --athlete
    for url in ("/api/load", "/api/plan/week"):
        r = client.get(url)
        assert r.status_code == 400 and r.json() == {"detail": web_line, "error": "AthleteNotNamed"}, url
    d = client.post("/api/predict", files=later, data={"athlete": "bob"}).json()
    assert d["summary"]["personal"] == "personal model of bob (1 runs with HR)"  # bob's run is before it
    assert [a["name"] for a in client.get("/api/athletes").json()] == ["ann", "bob"]
    assert [r["athlete"] for r in client.get("/api/runs", params={"athlete": "bob"}).json()] == ["bob"]
