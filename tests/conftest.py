"""Shared pytest fixtures: the location of ../shared/data (skipped cleanly when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SUB3_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path inside ../shared/data, skipping the calling test when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder (skips the test when absent)."""
    return shared_path()


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real user's library or cache: both point into a temp dir
    unless the test sets them itself."""
    base = tmp_path_factory.mktemp("user")
    if "SUB3_LIBRARY" not in os.environ:
        monkeypatch.setenv("SUB3_LIBRARY", str(base / "no-library.duckdb"))
    monkeypatch.setenv("SUB3_CACHE_DIR", str(base / "cache"))
