"""Import speed on real files, as ratios measured in one run: this tree against a base commit,
and 1 against 2 worker processes.

Run by hand (not in CI), from the repository root:

    PYTHONPATH=src python benchmarks/import_speed.py [--n 222] [--repeat 3] [--base c1a6bc8]

What it does (needs ../shared/data/files, or ``SUB3_SHARED_DATA``; prints a note and exits 0
when absent):

1. **Old code.** ``git archive <base> src`` is unpacked into a temporary folder; that copy is
   imported by subprocesses with ``PYTHONPATH=<tmp>/src``, this tree's with ``PYTHONPATH=src``.
   Nothing is installed or checked out.
2. **FIT read + clean.** Every valid activity FIT file of ``files/fit`` (real Garmin, COROS,
   Suunto... recordings) is read and cleaned in a loop for >= 2 s, old and new interleaved;
   reported as files/s and the new/old ratio.
3. **A real-shaped Strava export.** ``--n`` activities (default 222, the size of the export in
   issue 12) copied from the shared FIT (60 %), GPX (25 %) and TCX (15 %) files into a
   temporary folder only (never into the repository), each copy with all its timestamps moved
   by a different whole number of days, so no copy is a duplicate of another. FIT timestamps
   are patched in place (every ``date_time`` field; a shift by whole days is a multiple of 32 s,
   so compressed-timestamp headers stay valid) and the CRC rewritten; GPX/TCX ISO times are
   rewritten. FIT and TCX are gzipped and an ``activities.csv`` written as Strava does.
4. **Import**: ``import_paths([export], Library(tmp), workers=W)`` in a fresh subprocess per
   run (fresh library each time), for old/new x 1/2 workers, the four interleaved and repeated
   ``--repeat`` times; the median seconds of each are reported with the ratios.
5. **Parallel ceiling**, once per round: the same parse + clean work (new code, no library) in
   one process and split over two plain processes. On a shared 2-core machine this is what
   two workers *can* gain at that moment; the importer's 2-vs-1 ratio is read against it.

Printed as Markdown for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SUB3_SHARED_DATA", REPO.parent / "shared" / "data"))
#: The commit before issue 12 item 6 (import speed) was worked on.
DEFAULT_BASE = "c1a6bc8"
DAY_S = 86_400  # a multiple of 32 s: compressed FIT timestamps keep their low 5 bits


# ----- timestamp shifting (benchmark input only) -----------------------------------------
def shift_fit(data: bytes, delta_s: int) -> bytes:
    """``data`` (one or more chained FIT files) with every ``date_time`` value (and every
    ``timestamp`` field) moved by ``delta_s`` seconds (a multiple of 32) and CRCs rewritten.

    Device-relative values (below 0x10000000) and invalid ones are left alone."""
    from fitdecode import profile

    from sub3coach.io.fit import fit_crc16

    assert delta_s % 32 == 0
    buf = bytearray(data)
    pos = 0
    while pos + 12 <= len(buf):
        hsize = buf[pos]
        body_len = struct.unpack_from("<I", buf, pos + 4)[0]
        start, end = pos + hsize, pos + hsize + body_len
        defs: dict[int, tuple[str, list[tuple[int, int, int]], int]] = {}
        p = start
        while p < end:
            h = buf[p]
            p += 1
            if not h & 0x80 and h & 0x40:  # definition
                endian = ">" if buf[p + 1] else "<"
                gnum, nf = struct.unpack_from(endian + "HB", buf, p + 2)
                p += 5
                mt = profile.MESSAGE_TYPES.get(gnum)
                patch, off = [], 0
                for _ in range(nf):
                    num, size, _bt = buf[p], buf[p + 1], buf[p + 2]
                    f = mt.fields.get(num) if mt else None
                    tname = getattr(getattr(f, "type", None), "name", "")
                    if size == 4 and (num == 253 or tname in ("date_time", "local_date_time")):
                        patch.append((off, num, size))
                    off += size
                    p += 3
                if h & 0x20:
                    nd = buf[p]
                    p += 1
                    off += sum(buf[p + 3 * i + 1] for i in range(nd))
                    p += 3 * nd
                defs[h & 0xF] = (endian, patch, off)
            else:
                endian, patch, size = defs[(h >> 5) & 0x3 if h & 0x80 else h & 0xF]
                for off, _, _ in patch:
                    v = struct.unpack_from(endian + "I", buf, p + off)[0]
                    if 0x10000000 <= v < 0xFFFFFFFF:
                        struct.pack_into(endian + "I", buf, p + off, v + delta_s)
                p += size
        struct.pack_into("<H", buf, end, fit_crc16(bytes(buf[pos:end])))
        pos = end + 2
    return bytes(buf)


_ISO = re.compile(rb"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})")


def shift_xml(data: bytes, delta_s: int) -> bytes:
    """GPX/TCX ``data`` with every ISO 8601 date-time moved by ``delta_s`` seconds."""

    def sub(m: re.Match[bytes]) -> bytes:
        t = datetime.strptime((m.group(1) + b"T" + m.group(2)).decode(), "%Y-%m-%dT%H:%M:%S")
        return (t + timedelta(seconds=delta_s)).strftime("%Y-%m-%dT%H:%M:%S").encode()

    return _ISO.sub(sub, data)


# ----- the export ------------------------------------------------------------------------
def shared_activity_files() -> dict[str, list[Path]]:
    """Valid activity files of ``files/fit|gpx|tcx`` by format (read with this tree)."""
    from sub3coach.errors import Sub3Error
    from sub3coach.io.dispatch import read_file

    out: dict[str, list[Path]] = {}
    for fmt in ("fit", "gpx", "tcx"):
        for p in sorted((SHARED / "files" / fmt).glob(f"*.{fmt}")):
            try:
                if any(len(w) > 100 for w in read_file(p)):
                    out.setdefault(fmt, []).append(p)
            except Sub3Error:
                continue  # settings, monitoring files
    return out


def build_export(files: dict[str, list[Path]], n: int, out: Path) -> dict[str, int]:
    """Write a Strava-style export folder of ``n`` activities into ``out``; returns counts."""
    (out / "activities").mkdir(parents=True)
    plan = ["fit"] * 12 + ["gpx"] * 5 + ["tcx"] * 3  # 60 / 25 / 15 %
    counts = {"fit": 0, "gpx": 0, "tcx": 0, "bytes": 0}
    rows = []
    for i in range(n):
        fmt = plan[i % len(plan)]
        if fmt not in files:
            fmt = next(iter(files))
        src = files[fmt][counts[fmt] % len(files[fmt])]
        delta = DAY_S * (1 + i)
        raw = src.read_bytes()
        if fmt == "fit":
            name, data = f"activities/{1000 + i}.fit.gz", gzip.compress(shift_fit(raw, delta), 6)
        elif fmt == "gpx":
            name, data = f"activities/{1000 + i}.gpx", shift_xml(raw, delta)
        else:
            name, data = f"activities/{1000 + i}.tcx.gz", gzip.compress(shift_xml(raw, delta), 6)
        (out / name).write_bytes(data)
        counts[fmt] += 1
        counts["bytes"] += len(data)
        rows.append([str(1000 + i), "Jan 1, 2020, 8:00:00 AM", f"Run {i}", "Run", "", "", name])
    with (out / "activities.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Activity ID", "Activity Date", "Activity Name", "Activity Type", "Elapsed Time",
                    "Distance", "Filename"])
        w.writerows(rows)
    return counts


def fit_message_stats(files: list[Path]) -> tuple[int, int]:
    """(data messages, record messages) over ``files`` (plain fitdecode)."""
    import fitdecode

    n_all = n_rec = 0
    for p in files:
        with fitdecode.FitReader(str(p), processor=None, check_crc=fitdecode.CrcCheck.DISABLED,
                                 error_handling=fitdecode.ErrorHandling.IGNORE) as r:
            for fr in r:
                if fr.frame_type == fitdecode.FIT_FRAME_DATA:
                    n_all += 1
                    n_rec += fr.def_mesg.global_mesg_num == 20
    return n_all, n_rec


# ----- measuring in subprocesses ---------------------------------------------------------
_IMPORT = """
import json, sys, time
from sub3coach.importer import import_paths
from sub3coach.library import Library
lib = Library(sys.argv[2], keep_open=False)
t0 = time.perf_counter()
rep = import_paths([sys.argv[1]], lib, workers=int(sys.argv[3]))
dt = time.perf_counter() - t0
n = lib.con.execute("select count(*), coalesce(sum(n_samples), 0) from runs").fetchone()
lib.close()
print(json.dumps({"s": dt, "imported": rep.imported, "failed": len(rep.failed), "skipped": len(rep.skipped),
                  "runs": n[0], "samples": int(n[1])}))
"""

_FIT_LOOP = """
import json, sys, time
from sub3coach.clean import clean
from sub3coach.io.fit import read_fit
blobs = [open(p, "rb").read() for p in sys.argv[1:]]
for b in blobs:
    read_fit(b)  # warm up imports
n = samples = 0
t0 = time.perf_counter()
while time.perf_counter() - t0 < 2.0:
    for b in blobs:
        for w in read_fit(b):
            samples += len(clean(w))
        n += 1
dt = time.perf_counter() - t0
print(json.dumps({"files_per_s": n / dt, "samples_per_s": samples / dt}))
"""


_CEILING = """
import concurrent.futures as cf, json, multiprocessing as mp, sys, time
from sub3coach.importer import parse_strava_shard
if __name__ == "__main__":
    t0 = time.perf_counter()
    parse_strava_shard(sys.argv[1], "x", 0, 1)
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("forkserver")) as pool:
        list(pool.map(parse_strava_shard, [sys.argv[1]] * 16, ["x"] * 16, range(16), [16] * 16))
    two = time.perf_counter() - t0
    print(json.dumps({"one": one, "two": two}))
"""


def _run(src: Path, code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), SUB3_BUSY_TIMEOUT="60")
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def unpack_base(base: str, dest: Path) -> Path:
    """``git archive <base> src`` unpacked into ``dest``; returns its ``src`` folder."""
    blob = subprocess.run(["git", "-C", str(REPO), "archive", base, "src"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        tf.extractall(dest, filter="data")
    return dest / "src"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=222, help="activities in the export (issue 12: 222)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the four imports")
    ap.add_argument("--base", default=DEFAULT_BASE, help="git commit of the old code")
    args = ap.parse_args(argv)
    if not (SHARED / "files").exists():
        print(f"shared data not found at {SHARED}; nothing to measure", file=sys.stderr)
        return 0
    sys.path.insert(0, str(REPO / "src"))
    new_src = REPO / "src"
    files = shared_activity_files()
    with tempfile.TemporaryDirectory(prefix="sub3-bench-") as tmp_s:
        tmp = Path(tmp_s)
        old_src = unpack_base(args.base, tmp / "old")
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"], capture_output=True, text=True).stdout.strip()
        print(f"old = `{args.base}` (git archive), new = working tree at `{head}`{' + uncommitted changes' if dirty else ''}; "
              f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.1f}\n")

        fits = [str(p) for p in files.get("fit", [])]
        n_msg, n_rec = fit_message_stats(files.get("fit", []))
        print(f"FIT read + clean, {len(fits)} shared activity files ({n_msg / max(n_rec, 1):.2f} data messages "
              "per record), one process, >= 2 s each, old/new interleaved x2:\n")
        res: dict[str, list[dict]] = {"old": [], "new": []}
        for _ in range(2):
            for label, src in (("old", old_src), ("new", new_src)):
                res[label].append(_run(src, _FIT_LOOP, *fits))
        fo = statistics.median(r["files_per_s"] for r in res["old"])
        fn = statistics.median(r["files_per_s"] for r in res["new"])
        so = statistics.median(r["samples_per_s"] for r in res["old"])
        sn = statistics.median(r["samples_per_s"] for r in res["new"])
        print("| code | files/s | samples/s |\n|---|---|---|")
        print(f"| old | {fo:.1f} | {so:,.0f} |\n| new | {fn:.1f} | {sn:,.0f} |")
        print(f"| **new / old** | **{fn / fo:.2f}x** | **{sn / so:.2f}x** |\n")

        export = tmp / "export"
        counts = build_export(files, args.n, export)
        print(f"Strava-style export: {args.n} activities ({counts['fit']} .fit.gz, {counts['gpx']} .gpx, "
              f"{counts['tcx']} .tcx.gz; {counts['bytes'] / 2**20:.0f} MiB), imported {args.repeat}x per "
              "configuration, interleaved, fresh library and process each time; median seconds:\n")
        times: dict[tuple[str, int], list[float]] = {}
        info: dict[tuple[str, int], dict] = {}
        k = 0
        ceil: list[dict] = []
        for _ in range(args.repeat):
            for label, src in (("old", old_src), ("new", new_src)):
                for workers in (1, 2):
                    k += 1
                    r = _run(src, _IMPORT, str(export), str(tmp / f"lib{k}.duckdb"), str(workers))
                    times.setdefault((label, workers), []).append(r["s"])
                    info[(label, workers)] = r
            ceil.append(_run(new_src, _CEILING, str(export)))
        med = {key: statistics.median(v) for key, v in times.items()}
        print("| code | workers | seconds (median) | activities/s | samples/s | runs stored | failed |\n|---|---|---|---|---|---|---|")
        for (label, workers), s in med.items():
            r = info[(label, workers)]
            print(f"| {label} | {workers} | {s:.2f} | {args.n / s:.1f} | {r['samples'] / s:,.0f} | {r['runs']} | {r['failed']} |")
        print()
        c1 = statistics.median(c["one"] for c in ceil)
        c2 = statistics.median(c["two"] for c in ceil)
        print(f"Parallel ceiling of this machine during the run (once per round, median): parsing + cleaning "
              f"the export (no library) in 1 process {c1:.2f} s, split over 2 plain processes {c2:.2f} s: "
              f"**{c1 / c2:.2f}x**; two workers cannot gain more than this while other jobs hold a core.\n")
        print(f"- new / old, 1 worker: **{med[('old', 1)] / med[('new', 1)]:.2f}x** faster")
        print(f"- new / old, 2 workers: **{med[('old', 2)] / med[('new', 2)]:.2f}x** faster")
        print(f"- new with 2 workers / new with 1: **{med[('new', 1)] / med[('new', 2)]:.2f}x** "
              f"(old: {med[('old', 1)] / med[('old', 2)]:.2f}x)")
        print(f"- new 2 workers / old 1 worker: **{med[('old', 1)] / med[('new', 2)]:.2f}x**")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
