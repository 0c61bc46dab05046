"""The README's first command, twice, on a clean copy of the repository (install skipped: the
test's own interpreter stands in for ./.venv)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _clean_copy(dest: Path) -> Path:
    """The tracked files of the work tree (what a fresh clone holds, with uncommitted edits)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for f in filter(None, files):
        src = REPO / os.fsdecode(f)
        if src.is_file():
            (dest / os.fsdecode(f)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(f))
    return dest


@pytest.mark.slow
def test_quickstart_runs_twice(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    clone = _clean_copy(tmp_path / "clone")
    assert "bash scripts/quickstart.sh" in (clone / "README.md").read_text()
    env = {k: v for k, v in os.environ.items() if k != "SUB3_LIBRARY"}
    env.update(SUB3_QUICKSTART_PYTHON=sys.executable, PYTHONPATH=str(clone / "src"), COLUMNS="80")
    outs = []
    for _ in range(2):
        r = subprocess.run(["bash", "scripts/quickstart.sh"], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "Traceback" not in r.stderr and "error" not in r.stderr.lower(), r.stderr[-2000:]
        outs.append(r.stdout)
    for name in ("example-run.png", "example-hr.png", "route-hr.png"):
        assert (clone / "out" / name).stat().st_size > 10_000
    assert "Next workout" in outs[1] and "latest recorded run" not in outs[1]  # the note goes to stderr
    wide = [line for line in outs[1].splitlines() if len(line) > 80 and not line.startswith("library: ")]
    assert not wide, f"output wider than 80 columns: {wide[:3]}"
