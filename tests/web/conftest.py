"""Fixtures for the web app tests: an app over a fresh library, and run files the project
generates (``sub3coach.synth`` written as GPX, FIT written by fit_tool)."""
from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")

from fastapi.testclient import TestClient  # noqa: E402

from sub3coach.io.write import write_gpx  # noqa: E402
from sub3coach.synth import synthetic_course, synthetic_run  # noqa: E402
from sub3coach.web.app import create_app  # noqa: E402


def run_gpx(minutes: float = 20.0, seed: int = 0, hr: bool = True, pace: str | float = 300.0) -> bytes:
    """A synthetic run (GPS, hills, HR unless ``hr=False``) as GPX bytes, starting ``seed`` days
    after the synthetic default start (so runs of different seeds are different runs)."""
    from datetime import timedelta

    from sub3coach.synth import DEFAULT_START

    w = synthetic_run(duration_s=minutes * 60.0, pace_s_per_km=float(pace), seed=seed, hr=hr,
                      start=DEFAULT_START + timedelta(days=seed))
    w.name = f"web test run {seed}"
    return write_gpx(w)


def course_gpx(km: float = 5.0, seed: int = 1) -> bytes:
    """A planned route (no times) as GPX bytes."""
    w = synthetic_course(km * 1000.0, seed=seed)
    w.name = f"web test course {km:g} km"
    return write_gpx(w)


def fit_bytes(n: int = 900) -> bytes:
    """A valid FIT activity of ``n`` 1-s records (fit_tool, the test dependency)."""
    from tests.fixtures.make_fit import make_fit_activity

    return make_fit_activity(None, n=n)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Where the app's library lives (not created until something is imported)."""
    return tmp_path / "web-lib.duckdb"


@pytest.fixture
def client(library: Path) -> TestClient:
    """The app over ``library`` (model loaded at start-up, as ``sub3 serve`` does)."""
    with TestClient(create_app(library)) as c:
        yield c


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated inputs: runs (GPX with and without HR, FIT, FIT.gz), a course, broken files."""
    d = tmp_path_factory.mktemp("web-files")
    out = {"run.gpx": run_gpx(), "run2.gpx": run_gpx(seed=5, minutes=15), "nohr.gpx": run_gpx(seed=2, hr=False),
           "run.fit": fit_bytes(), "course.gpx": course_gpx()}
    out["run.fit.gz"] = gzip.compress(out["run.fit"])
    out["truncated.fit"] = out["run.fit"][:700]
    out["notes.txt"] = b"this is not a workout\n"
    paths = {}
    for name, data in out.items():
        (d / name).write_bytes(data)
        paths[name] = d / name
    return paths
