"""Import speed: files/s and samples/s per format, and a 1,000-activity Strava export.

Run by hand (not in CI):

    .venv/bin/python benchmarks/import_speed.py [--n 1000] [--workers 2]

What it measures, on the real files of ../shared/data/files (skipped when absent):

1. per format (FIT, GPX, TCX): read + clean of every valid shared file, repeated for >= 2 s;
2. a Strava-style bulk export of N activities built from those files: each shared workout is
   shifted by whole days (so every activity is distinct) and written as ``.fit.gz`` (50 %),
   ``.gpx`` (30 %) or ``.tcx.gz`` (20 %), like real exports; then
   a. ``sub3 import`` (the importer, ``--workers`` processes, DuckDB writes), and
   b. a plain single-process loop over the same parser (read + clean + store), for comparison.

The FIT files of the export are written by :func:`fit_bytes` below, a minimal FIT encoder for
this benchmark only (file_id, record, session messages; CRCs), so the export holds FIT data the
size of real watch files. Results are printed as a Markdown table for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import struct
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from sub3coach.clean import clean
from sub3coach.errors import Sub3Error
from sub3coach.importer import import_paths
from sub3coach.io.dispatch import read_file
from sub3coach.io.fit import fit_crc16
from sub3coach.io.write import write_gpx, write_tcx
from sub3coach.library import Library
from sub3coach.workout import Workout

SHARED = Path(os.environ.get("SUB3_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
FIT_EPOCH = 631065600  # 1989-12-31T00:00:00Z in unix seconds


# ----- a minimal FIT encoder (benchmark fixture only) ------------------------------------
def _definition(local: int, global_num: int, fields: list[tuple[int, int, int]]) -> bytes:
    out = struct.pack("<BBBHB", 0x40 | local, 0, 0, global_num, len(fields))
    return out + b"".join(struct.pack("<BBB", *f) for f in fields)


def _u(x: np.ndarray, scale: float, offset: float, invalid: int, dtype: str) -> np.ndarray:
    v = (np.asarray(x, dtype=np.float64) + offset) * scale
    out = np.full(v.shape, invalid, dtype=dtype)
    ok = np.isfinite(v)
    out[ok] = np.clip(np.round(v[ok]), np.iinfo(dtype).min, np.iinfo(dtype).max - 1).astype(dtype)
    return out


def fit_bytes(w: Workout) -> bytes:
    """Encode ``w`` as a FIT activity (records at the workout's own sample times)."""
    n = len(w)
    ts = np.round(w.time_s - FIT_EPOCH).astype("<u4")
    nan = np.full(n, np.nan)
    semis = 2**31 / 180.0
    rec = np.zeros(n, dtype=[("h", "u1"), ("ts", "<u4"), ("lat", "<i4"), ("lon", "<i4"), ("alt", "<u2"),
                             ("hr", "u1"), ("dist", "<u4"), ("spd", "<u2")])
    rec["h"] = 1
    rec["ts"] = ts
    rec["lat"] = _u(w.lat_deg if w.lat_deg is not None else nan, semis, 0, 0x7FFFFFFF, "<i4")
    rec["lon"] = _u(w.lon_deg if w.lon_deg is not None else nan, semis, 0, 0x7FFFFFFF, "<i4")
    rec["alt"] = _u(w.altitude_m if w.altitude_m is not None else nan, 5, 500, 0xFFFF, "<u2")
    rec["hr"] = _u(w.hr_bpm if w.hr_bpm is not None else nan, 1, 0, 0xFF, "u1")
    dist = w.distance_track_m()
    rec["dist"] = _u(dist if dist is not None else nan, 100, 0, 0xFFFFFFFF, "<u4")
    rec["spd"] = _u(w.speed_mps if w.speed_mps is not None else nan, 1000, 0, 0xFFFF, "<u2")
    body = io.BytesIO()
    body.write(_definition(0, 0, [(0, 1, 0x00), (1, 2, 0x84), (2, 2, 0x84), (4, 4, 0x86)]))
    body.write(struct.pack("<BBHHI", 0, 4, 255, 1, int(ts[0])))  # file_id: activity, development
    body.write(_definition(1, 20, [(253, 4, 0x86), (0, 4, 0x85), (1, 4, 0x85), (2, 2, 0x84), (3, 1, 0x02),
                                   (5, 4, 0x86), (6, 2, 0x84)]))
    body.write(rec.tobytes())
    total = float(np.nanmax(dist)) if dist is not None else 0.0
    sport = {"run": 1, "bike": 2, "walk": 11, "hike": 17}.get(w.sport, 0)
    body.write(_definition(2, 18, [(253, 4, 0x86), (2, 4, 0x86), (5, 1, 0x00), (7, 4, 0x86), (8, 4, 0x86), (9, 4, 0x86)]))
    el = int((ts[-1] - ts[0]) * 1000)
    body.write(struct.pack("<BIIBIII", 2, int(ts[-1]), int(ts[0]), sport, el, el, int(total * 100)))
    data = body.getvalue()
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(data), b".FIT")
    header += struct.pack("<H", fit_crc16(header))
    out = header + data
    return out + struct.pack("<H", fit_crc16(out))


# ----- sources ---------------------------------------------------------------------------
def shared_files() -> dict[str, list[Path]]:
    """Valid activity files of ../shared/data/files by format."""
    out: dict[str, list[Path]] = {}
    for fmt in ("fit", "gpx", "tcx"):
        for p in sorted((SHARED / "files" / fmt).glob(f"*.{fmt}")):
            try:
                read_file(p)
            except Sub3Error:
                continue  # non-activity FIT files
            out.setdefault(fmt, []).append(p)
    return out


def per_format(files: dict[str, list[Path]], min_s: float = 2.0) -> list[tuple[str, int, int, float, float]]:
    """(format, n_files, n_samples, files/s, samples/s) for read + clean."""
    rows = []
    for fmt, paths in files.items():
        n_files = n_samples = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < min_s:
            for p in paths:
                for w in read_file(p):
                    n_samples += len(clean(w))
                n_files += 1
        dt = time.perf_counter() - t0
        rows.append((fmt, len(paths), n_samples // max(n_files, 1), n_files / dt, n_samples / dt))
    return rows


def build_export(files: dict[str, list[Path]], n: int, out: Path) -> tuple[int, int]:
    """Write a Strava-style export zip of ``n`` distinct activities; returns (n, samples)."""
    base = [w for paths in files.values() for p in paths for w in read_file(p) if len(w) > 100]
    rows, n_samples = [], 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            src = base[i % len(base)]
            w = src.replace(time_s=src.time_s + 86400.0 * (i // len(base) + 1) * 3, workout_id=None)
            kind = i % 10
            if kind < 5:
                name, data = f"activities/{1000 + i}.fit.gz", gzip.compress(fit_bytes(w), 6)
            elif kind < 8 and w.lat_deg is not None:
                name, data = f"activities/{1000 + i}.gpx", write_gpx(w)
            else:
                name, data = f"activities/{1000 + i}.tcx.gz", gzip.compress(write_tcx(w), 6)
            zf.writestr(name, data)
            n_samples += len(w)
            rows.append([str(1000 + i), w.start_time.strftime("%b %d, %Y, %I:%M:%S %p"), f"Run {i}", "Run",
                         f"{w.elapsed_s:.0f}", "", name])
        buf = io.StringIO()
        cw = csv.writer(buf)
        cw.writerow(["Activity ID", "Activity Date", "Activity Name", "Activity Type", "Elapsed Time",
                     "Distance", "Filename"])
        cw.writerows(rows)
        zf.writestr("activities.csv", buf.getvalue())
    return n, n_samples


def plain_loop(export: Path, lib: Library) -> int:
    """Single process, no pool: read + clean + store every activity of the export."""
    from sub3coach.io.strava_export import iter_strava_export

    n = 0
    for item in iter_strava_export(export):
        for w in item.workouts:
            lib.add_workout(clean(w))
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="activities in the export")
    ap.add_argument("--workers", type=int, default=2, help="importer worker processes")
    args = ap.parse_args(argv)
    if not (SHARED / "files").exists():
        print(f"shared data not found at {SHARED}; nothing to measure", file=sys.stderr)
        return 0
    files = shared_files()
    print("| format | files | samples/file | files/s | samples/s |\n|---|---|---|---|---|")
    for fmt, nf, spf, fps, sps in per_format(files):
        print(f"| {fmt} | {nf} | {spf:,} | {fps:.1f} | {sps:,.0f} |")
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.zip"
        t0 = time.perf_counter()
        n, n_samples = build_export(files, args.n, export)
        print(f"\nexport: {n} activities, {n_samples:,} samples, {export.stat().st_size / 2**20:.0f} MiB "
              f"(built in {time.perf_counter() - t0:.0f} s)\n")
        print("| method | seconds | activities/s | samples/s | imported |\n|---|---|---|---|---|")
        for label, run in (
            (f"sub3 import ({args.workers} workers)", lambda lib: import_paths([export], lib, workers=args.workers).imported),
            ("plain single-process loop", lambda lib: plain_loop(export, lib)),
        ):
            lib = Library(Path(tmp) / f"{label[:5]}-{time.time_ns()}.duckdb")
            t0 = time.perf_counter()
            imported = run(lib)
            dt = time.perf_counter() - t0
            lib.close()
            print(f"| {label} | {dt:.1f} | {n / dt:.1f} | {n_samples / dt:,.0f} | {imported} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
