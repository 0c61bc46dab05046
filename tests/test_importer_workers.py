"""Worker processes die with the importer (issue 12): after ``kill -9`` of ``sub3 import``
no fork server, resource tracker or parser worker may stay behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sub3coach.io.write import write_gpx
from sub3coach.synth import synthetic_run

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rpartition(b")")[2].split()[1])
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _descendants(pid: int) -> set[int]:
    kids, out, todo = _children(), set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.add(k)
            todo.append(k)
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def test_kill_9_of_the_importer_ends_its_workers(tmp_path: Path) -> None:
    run = synthetic_run(duration_s=3 * 3600, seed=3)  # a few seconds of parsing per file
    files = tmp_path / "runs"
    files.mkdir()
    for i in range(12):
        (files / f"r{i:02d}.gpx").write_bytes(write_gpx(run.replace(time_s=run.time_s + 86400.0 * i)))
    script = textwrap.dedent(f"""
        from sub3coach.importer import import_paths
        from sub3coach.library import Library
        if __name__ == "__main__":
            import_paths([{str(files)!r}], Library({str(tmp_path / 'lib.duckdb')!r}), workers=2)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        procs: set[int] = set()
        while time.monotonic() < deadline and len(procs) < 4:  # fork server, tracker, 2 workers
            time.sleep(0.2)
            procs = _descendants(proc.pid)
        assert len(procs) >= 3, procs
        time.sleep(0.5)  # the workers are parsing
        procs |= _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and any(_running(p) for p in procs):
            time.sleep(0.2)
        assert not [p for p in procs if _running(p)], "processes left behind after kill -9"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in _descendants(proc.pid):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
