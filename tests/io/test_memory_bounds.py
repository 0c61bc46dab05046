"""Time and memory bounded by the input's size (issue 12), measured in a fresh subprocess
(peak resident memory ``VmHWM`` minus the resident memory after imports) on generated files.

Stated bounds (peak memory above the interpreter with sub3coach imported):

* FIT: <= 200 bytes per record + 24 MiB, and at most 1,000,000 records are decoded (a file
  holding more is refused after that many: <= 224 MiB whatever its size). Was ~360 bytes per
  record, unbounded (a 10 MB FIT of 5M records: 1.8 GB).
* GPX, TCX: <= 3 x the file + 24 MiB (the file's bytes, plus the collected samples; every
  parsed element is freed at its end). Was unbounded in the number of elements (60 MB GPX of
  15M empty elements: 1.3 GB).
* Time: linear in the input: FIT <= 30 us per record (measured ~9), GPX/TCX <= 3 us per
  byte (measured 0.1-0.6), with reading and cleaning together; a zip of N members is N reads
  of one open archive (``tests/test_importer_zip.py``).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.make_big import big_fit, big_gpx, big_tcx, empty_elements_gpx

REPO = Path(__file__).resolve().parents[2]
MIB = 2**20
C_MIB = 24

_PROBE = r"""
import json, sys, time
def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
from sub3coach.io.dispatch import read_file
from sub3coach.clean import clean
from sub3coach.errors import Sub3Error
import numpy as np
base = kib("VmRSS:")
t0 = time.perf_counter()
try:
    ws = [clean(w) for w in read_file(sys.argv[1])]
    out = {"samples": sum(len(w) for w in ws)}
except Sub3Error as exc:
    out = {"error": str(exc)}
out.update(peak_mib=(kib("VmHWM:") - base) / 1024, seconds=time.perf_counter() - t0)
print(json.dumps(out))
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")


def measure(path: Path) -> dict:
    """Peak memory (MiB above baseline), time and outcome of reading + cleaning ``path``."""
    res = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_fit_memory_per_record(tmp_path: Path) -> None:
    n = 300_000
    f = tmp_path / "dense.fit"
    f.write_bytes(big_fit(n))  # 600 KB: 2 bytes per record, the densest valid FIT
    m = measure(f)
    assert m["samples"] == n
    assert m["peak_mib"] <= (200 * n) / MIB + C_MIB, m
    assert m["seconds"] <= 30e-6 * n + 1.0, m


@pytest.mark.slow
def test_fit_beyond_the_record_cap_is_refused_within_the_cap(tmp_path: Path) -> None:
    f = tmp_path / "huge.fit"
    f.write_bytes(big_fit(1_500_000))
    m = measure(f)
    assert "more than 1,000,000 FIT records" in m["error"]
    assert m["peak_mib"] <= 200 * 1_000_000 / MIB + C_MIB, m


@pytest.mark.parametrize("fmt", ["gpx", "tcx"])
def test_xml_memory_is_a_multiple_of_the_file(fmt: str, tmp_path: Path) -> None:
    f = tmp_path / f"long.{fmt}"
    f.write_bytes(big_gpx(40_000) if fmt == "gpx" else big_tcx(40_000))
    m = measure(f)
    assert m["samples"] == 40_000
    assert m["peak_mib"] <= 3 * f.stat().st_size / MIB + C_MIB, m
    assert m["seconds"] <= 3e-6 * f.stat().st_size + 1.0, m


@pytest.mark.parametrize("inside", ["root", "hr"])
def test_parsed_elements_are_freed(inside: str, tmp_path: Path) -> None:
    f = tmp_path / "empty-elements.gpx"
    f.write_bytes(empty_elements_gpx(2_000_000, inside=inside))  # 8 MB, 2M elements: 180 MB before
    m = measure(f)
    assert m["samples"] == 3
    assert m["peak_mib"] <= 3 * f.stat().st_size / MIB + C_MIB, m
    assert m["seconds"] <= 3e-6 * f.stat().st_size + 1.0, m


def main(argv: list[str]) -> None:
    """``python -m tests.io.test_memory_bounds FILE...``: peak memory and time of reading and
    cleaning each file, as the tests measure them; ``--make DIR`` first writes the files the
    report quotes (a 10 MB FIT of 5M records, a 60 MB GPX of 15M empty elements, 300k-point
    GPX and TCX)."""
    if argv[:1] == ["--make"]:
        d = Path(argv[1])
        d.mkdir(parents=True, exist_ok=True)
        made = {"fit-5M.fit": lambda: big_fit(5_000_000), "fit-1M.fit": lambda: big_fit(1_000_000),
                "gpx-15M-empty.gpx": lambda: empty_elements_gpx(15_000_000),
                "gpx-300k.gpx": lambda: big_gpx(300_000), "tcx-300k.tcx": lambda: big_tcx(300_000)}
        argv = []
        for fname, make in made.items():
            (d / fname).write_bytes(make())
            argv.append(str(d / fname))
    for a in argv:
        p = Path(a)
        m = measure(p)
        print(f"{p.name}: {p.stat().st_size / MIB:.1f} MiB, peak +{m['peak_mib']:.0f} MiB, {m['seconds']:.1f} s, "
              f"{m.get('samples', m.get('error'))}")


if __name__ == "__main__":
    main(sys.argv[1:])
