"""Zip members are read in one pass (issue 12): opening an archive parses its whole central
directory, so reopening it per member made importing N members O(N^2) (3,000 members: 82 s,
now 27 s on 2 workers: ``python -m tests.test_importer_zip 3000``)."""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from sub3coach.importer import Importer, expand, parse_jobs
from sub3coach.io.write import write_gpx
from sub3coach.library import Library
from sub3coach.synth import synthetic_run

_OPENS: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and isinstance(args[0], str) and args[0].endswith("many.zip"):
        _OPENS.append(args[0])


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one only appends to a list


@pytest.fixture(scope="module")
def many_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    z = tmp_path_factory.mktemp("zip") / "many.zip"
    base = synthetic_run(duration_s=20, seed=1)
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(120):
            zf.writestr(f"acts/run-{i:03d}.gpx", write_gpx(base.replace(time_s=base.time_s + 86400.0 * i)))
    return z


def test_members_of_a_task_share_one_open_archive(many_zip: Path) -> None:
    jobs = [j for j in expand([many_zip]) if j.kind == "member"]
    assert len(jobs) == 120
    _OPENS.clear()
    outcomes = parse_jobs(jobs)
    assert len(_OPENS) == 1
    assert all(err is None and ws for _, _, ws, err in outcomes)


def test_import_opens_the_zip_a_bounded_number_of_times(many_zip: Path, tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib.duckdb")
    importer = Importer(lib, workers=1)
    jobs = list(expand([many_zip]))
    chunks = importer._chunks([j for j in jobs if j.kind == "member"])
    assert sum(len(c) for c in chunks) == 120 and len(chunks) <= 4 * importer.workers + 1
    _OPENS.clear()
    report = importer.run(jobs)
    assert report.imported == 120 and not report.failed
    assert len(_OPENS) <= len(chunks)


def main(n: int, workers: int = 2) -> None:
    """``python -m tests.test_importer_zip N [WORKERS]``: time to import a zip of N small GPX
    members into a new library (the figure the module docstring quotes)."""
    import tempfile
    import time

    from sub3coach.importer import import_paths

    d = Path(tempfile.mkdtemp())
    z = d / "many.zip"
    base = synthetic_run(duration_s=20, seed=1)
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            zf.writestr(f"acts/run-{i:05d}.gpx", write_gpx(base.replace(time_s=base.time_s + 86400.0 * i)))
    t0 = time.perf_counter()
    report = import_paths([z], Library(d / "lib.duckdb"), workers=workers)
    print(f"{n} members, {workers} workers: {time.perf_counter() - t0:.1f} s, imported {report.imported}, failed {len(report.failed)}")


if __name__ == "__main__":
    main(int(sys.argv[1]), *(int(a) for a in sys.argv[2:3]))
