"""Web app latency as a user sees it: ``sub3 serve`` in a subprocess, Debian's Chromium driven by
Playwright opens the page and drops a run file; measured in the page (``performance.now()``)
from the file's selection to predicted (with band) and measured HR drawn, plus the page's load
time (navigation timing). Fresh empty library, so every prediction is a cold start.

Usage (from the repository root):
    PYTHONPATH=src .venv/bin/python benchmarks/web_latency.py [FILE ...] [--repeat 5]
Default file: ../shared/data/files/fit/developer-types-sample.fit (a real 57-min FIT, 3424 samples).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "data" / "files" / "fit" / "developer-types-sample.fit"


def _serve(tmp: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SUB3_CACHE_DIR": str(tmp / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "sub3coach.cli", "serve", "--port", str(port), "--library", str(tmp / "lib.duckdb")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("sub3 serve did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, default=[DEFAULT])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _serve(Path(tmp))
        try:
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
                page = b.new_page(viewport={"width": 1100, "height": 1400})
                page.goto(url + "/")
                page.wait_for_function("!!window.Plotly", timeout=30000)
                load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
                print(f"page load (loadEventEnd): {load_ms:.0f} ms")
                for f in args.files:
                    times, fetch = [], []
                    for _ in range(args.repeat):
                        page.set_input_files("#file", [])  # the same file again must be a change
                        page.evaluate("document.body.dataset.predictMs = ''")
                        page.set_input_files("#file", str(f))
                        page.wait_for_function("document.body.dataset.predictMs", timeout=60000)
                        times.append(int(page.evaluate("document.body.dataset.predictMs")))
                        fetch.append(int(page.evaluate("document.body.dataset.fetchMs")))
                    n = page.evaluate("document.getElementById('chart-hr').data[2].x.length")
                    print(f"{f.name} ({n} samples): drop -> predicted + measured HR drawn: first {times[0]} ms, "
                          f"median {statistics.median(times):.0f} ms, max {max(times)} ms (API answer median {statistics.median(fetch):.0f} ms)")
                b.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
