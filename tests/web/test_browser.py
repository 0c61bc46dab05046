"""End-to-end: the real ``sub3 serve`` in a subprocess, driven in Debian's Chromium by Playwright.

Upload a real FIT and count the points plotly drew, see the one-line error for a broken file,
plan a course, see the next week's sessions, check the phone width and the keyboard path, and
take the README screenshot (into the test's temp folder; copied to docs/web.png only with
``SUB3_UPDATE_SCREENSHOTS=1``). Skipped, saying why, only where /usr/bin/chromium (or Playwright)
is missing.

The server runs on ``sub3 serve --port 0`` (a port the system picks, named on its first line), so
parallel xdist workers never race for a port. Timing bounds here are generous sanity checks for
a loaded CI machine; the real latencies are measured by ``benchmarks/web_latency.py``.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, SHARED_DATA
from tests.web.conftest import course_gpx, fit_bytes, run_gpx

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed (pip install -e '.[test]')")

pytestmark = pytest.mark.slow
#: A real recording of about an hour (57 min, 3424 samples) when ../shared/data is present.
REAL_FIT = SHARED_DATA / "files" / "fit" / "developer-types-sample.fit"
REAL_BROKEN = SHARED_DATA / "files" / "invalid" / "activity-unexpected-eof.fit"


#: Generous bound, ms, on a page load or a prediction drawn, for a loaded 2-core CI machine under
#: ``-n 2`` (typical figures are far lower: see ``benchmarks/web_latency.py``).
SLOW_MS = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sub3 serve --port 0`` over a fresh library; yields the base URL its first line names."""
    d = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SUB3_CACHE_DIR": str(d / "cache")}
    env.pop("SUB3_LIBRARY", None)
    proc = subprocess.Popen([sys.executable, "-m", "sub3coach.cli", "serve", "--port", "0", "--library", str(d / "lib.duckdb")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()  # also drains the pipe for as long as the server runs
    url = None
    deadline = time.monotonic() + 120
    while True:
        if url is None:
            m = next((re.search(r"web app on (http://[^/ ]+)/", ln) for ln in list(lines) if "web app on" in ln), None)
            url = m.group(1) if m else None
        try:
            if url is not None and httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            reader.join(5)
            pytest.fail(f"sub3 serve did not start: {''.join(lines)[-2000:]}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 1400})
    pg = ctx.new_page()
    pg.goto(server + "/")
    pg.wait_for_function("!!window.Plotly", timeout=30000)  # fetched after the page's load event
    yield pg
    ctx.close()


def _real_or_generated_fit(tmp_path: Path) -> Path:
    if REAL_FIT.exists():
        return REAL_FIT
    p = tmp_path / "generated.fit"
    p.write_bytes(fit_bytes(3600))
    return p


def _trace_lengths(page: Any, chart: str) -> dict[str, int]:
    return page.evaluate(f"Object.fromEntries(document.getElementById('{chart}').data.map(t => [t.name, t.x.length]))")


def _upload_and_wait(page: Any, path: Path) -> int:
    page.evaluate("document.body.dataset.predictMs = ''")
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.body.dataset.predictMs", timeout=60000)
    return int(page.evaluate("document.body.dataset.predictMs"))


def test_page_loads_fast_and_load_card_follows_api(page: Any, server: str) -> None:
    ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    assert 0 < ms < SLOW_MS, f"page load took {ms:.0f} ms"
    load_status = httpx.get(server + "/api/load").status_code
    assert page.is_hidden("#load") == (load_status != 200)  # the training-load card shows once /api/load answers


def test_upload_fit_draws_every_point(page: Any, tmp_path: Path) -> None:
    from sub3coach.io.dispatch import read_workout

    fit = _real_or_generated_fit(tmp_path)
    n = len(read_workout(fit))
    ms = _upload_and_wait(page, fit)
    lengths = _trace_lengths(page, "chart-hr")
    assert lengths == {"80% band (low)": n, "80% band": n, "predicted": n, "measured": n}
    assert 0 < ms < SLOW_MS, f"predicted and measured HR drawn after {ms} ms"
    labels = page.evaluate("document.getElementById('chart-hr').layout.annotations.map(a => a.text)")
    assert {"Z1 50%", "Z2 60%", "Z3 70%", "Z4 80%", "Z5 90%"} <= set(labels)  # zones named, not colour only
    dashes = page.evaluate("document.getElementById('chart-hr').data.map(t => t.line.dash || '')")
    assert "solid" in dashes and "dot" in dashes  # predicted and measured differ by line style
    assert _trace_lengths(page, "chart-pace") == {"pace": n} and _trace_lengths(page, "chart-elev") == {"elevation": n}
    assert "measured mean" in page.text_content("#run-summary")
    assert page.locator("#run-zones tbody tr").count() == 6 and page.is_hidden("#run-error")


def test_broken_file_shows_the_one_line_error(page: Any, tmp_path: Path) -> None:
    from sub3coach.errors import Sub3Error
    from sub3coach.io.dispatch import read_workout

    bad = REAL_BROKEN
    if not bad.exists():
        bad = tmp_path / "truncated.fit"
        bad.write_bytes(fit_bytes()[:700])
    with pytest.raises(Sub3Error) as ei:
        read_workout(bad.read_bytes(), name=bad.name)
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#run-error:not([hidden])", timeout=30000)
    assert page.text_content("#run-error") == str(ei.value)  # the CLI's line, naming the file
    assert page.is_hidden("#run-result")


def test_drop_zone(page: Any) -> None:
    """A file dropped on the zone (a real drop event carrying a File) is predicted."""
    text = run_gpx(minutes=10, seed=11).decode()
    page.evaluate("""(text) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], "dropped.gpx", { type: "application/gpx+xml" }));
        document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", text)
    page.wait_for_function("document.body.dataset.predictMs", timeout=60000)
    assert "dropped.gpx" in page.text_content("#run-status")
    assert _trace_lengths(page, "chart-hr")["predicted"] == text.count("<trkpt")


def test_upload_over_the_cap_says_so(page: Any, tmp_path: Path) -> None:
    big = tmp_path / "huge.fit"
    with big.open("wb") as fh:
        fh.truncate(51 * 2**20)  # over the default 50 MB cap
    page.set_input_files("#file", str(big))
    page.wait_for_selector("#run-error:not([hidden])", timeout=60000)
    assert "over the 50 MB limit" in page.text_content("#run-error")


def test_plan_a_course(page: Any, server: str, tmp_path: Path) -> None:
    route = tmp_path / "route.gpx"
    route.write_bytes(course_gpx(km=6.0))
    expected = httpx.post(server + "/api/predict/course", files={"file": ("route.gpx", route.read_bytes())},
                          data={"pace": "4:45"}, timeout=60).json()
    page.set_input_files("#course-file", str(route))
    page.fill("#course-pace", "4:45")
    page.click("#course-form button[type=submit]")
    page.wait_for_function("document.getElementById('chart-course').data", timeout=30000)
    n = len(expected["timestamp"])
    assert _trace_lengths(page, "chart-course") == {"80% band (low)": n, "80% band": n, "predicted": n}
    pred = page.evaluate("document.getElementById('chart-course').data[2].y")
    assert pred == expected["hr_pred"]
    assert "6.00 km" in page.text_content("#course-summary")


def test_phone_width(browser: Any, server: str, tmp_path: Path) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    pg.goto(server + "/")
    pg.wait_for_function("!!window.Plotly", timeout=30000)
    _upload_and_wait(pg, _real_or_generated_fit(tmp_path))
    sizes = pg.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
                        " Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))]")
    assert sizes[0] <= sizes[1] == 390 and sizes[2] <= 390.5, sizes  # nothing wider than the screen
    shot = tmp_path / "phone.png"
    pg.screenshot(path=str(shot))
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (780, 1688)
    ctx.close()


def test_keyboard_path(page: Any, server: str) -> None:
    httpx.post(server + "/api/import", files={"file": ("kb.gpx", run_gpx(minutes=12, seed=9))}, timeout=120)
    page.reload()
    page.wait_for_selector("#runs tbody button", timeout=30000)
    seen: list[str] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        el = page.evaluate("(() => { const e = document.activeElement; return e.id || (e.className + ':' + e.tagName); })()")
        seen.append(el)
        if el == "linkish:BUTTON":
            break
    assert seen[0] == "skip:A"
    for target in ("file", "course-file", "course-pace", "import-files"):
        assert target in seen, (target, seen)
    assert seen[-1] == "linkish:BUTTON", seen  # the library's runs are reachable by Tab
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('chart-lib').data", timeout=60000)
    assert set(_trace_lengths(page, "chart-lib")) == {"80% band (low)", "80% band", "predicted", "measured"}


def test_readme_screenshot(page: Any, server: str, tmp_path: Path) -> None:
    """The page as the README shows it: a run, a course, the library and next week (this test
    imports its library run itself: under xdist it may have a server of its own)."""
    httpx.post(server + "/api/import", files={"file": ("kb.gpx", run_gpx(minutes=12, seed=9))}, timeout=120)
    page.reload()
    page.wait_for_function("!!window.Plotly", timeout=30000)
    page.wait_for_selector("#runs tbody button", timeout=30000)
    _upload_and_wait(page, _real_or_generated_fit(tmp_path))
    route = tmp_path / "route.gpx"
    route.write_bytes(course_gpx(km=8.0, seed=4))
    page.set_input_files("#course-file", str(route))
    page.click("#course-form button[type=submit]")
    page.wait_for_function("document.getElementById('chart-course').data", timeout=30000)
    page.wait_for_selector("#week-card ul, #week-card p", timeout=30000)
    shot = tmp_path / "web.png"
    page.screenshot(path=str(shot), full_page=True)
    from PIL import Image, ImageStat

    with Image.open(shot) as im:
        assert im.size[0] == 1100 and im.size[1] >= 1400, im.size
        spread = ImageStat.Stat(im.convert("L")).stddev[0]
    assert shot.stat().st_size > 50_000 and spread > 10, (shot.stat().st_size, spread)  # drawn, not blank
    if os.environ.get("SUB3_UPDATE_SCREENSHOTS") == "1":  # regenerate the README's picture
        out = REPO / "docs" / "web.png"
        out.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, out)


def test_week_card_shows_sessions(page: Any, server: str) -> None:
    """A 12-week history imported through the page's import form (as an athlete of its own):
    the next-week card lists the planner's days, and a tempo or interval day shows its
    ``Session:`` line, the structure /api/plan/week gives."""
    from datetime import datetime, timezone

    from sub3coach.io.write import write_history_csv
    from sub3coach.synth import synthetic_history

    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    hist = write_history_csv(synthetic_history(12, easy_pace_s_per_km=330.0, seed=3, end=today))
    page.set_input_files("#import-files", files=[{"name": "history.csv", "mimeType": "text/csv", "buffer": hist}])
    page.fill("#import-form input[name=athlete]", "kim")
    page.click("#import-form button[type=submit]")
    page.wait_for_function("/imported/.test(document.getElementById('import-status').textContent)", timeout=120000)
    assert page.is_hidden("#import-error"), page.text_content("#import-error")
    page.click("#predict-form details > summary")  # the athlete choice is under Options
    page.select_option("#athlete", "kim")
    page.wait_for_function("/for kim/.test(document.getElementById('week-card').textContent)", timeout=60000)
    week = httpx.get(server + "/api/plan/week", params={"athlete": "kim"}, timeout=120).json()
    quality = [w for w in week["days"] if w["type"] in ("tempo", "interval") and w.get("structure")]
    assert quality, [w["type"] for w in week["days"]]  # the generated history earns a quality day
    items = page.locator("#week-card > ul > li")
    assert items.count() == 7
    texts = [items.nth(i).text_content() for i in range(7)]
    for w, text in zip(week["days"], texts):
        assert (w["type"] + (" - " if w["type"] == "rest" else "")) in text, (w["type"], text)
        if w in quality:
            assert f"Session: {w['structure']}" in text, text
