"""``sub3 serve``: the FastAPI app (JSON API + one page), served by uvicorn.

Endpoints (OpenAPI docs at ``/docs``):

* ``POST /api/predict``: a recorded run (multipart ``file``: FIT/GPX/TCX, optionally .gz; form
  ``athlete``, ``observed_minutes``, ``max_hr``) -> predicted HR with its 80 % band, measured HR,
  speed and altitude at the file's own sample times, and the summary ``sub3 hr predict`` prints;
* ``POST /api/predict/course``: a route (``file``) + ``pace`` (m:ss per km) or ``pace_plan``
  (``km,pace`` lines), optional ``max_hr`` and ``athlete`` -> the same shape for a run not yet done;
* ``GET /api/runs?athlete=&since=``, ``GET /api/runs/{id}``, ``GET /api/athletes``;
* ``POST /api/import``: files into the library -> the report of ``sub3 import --json``;
* ``GET /api/plan/week?athlete=``: the week plan of ``sub3 plan week --json``;
* ``GET /api/load?athlete=&since=``: training load, as ``sub3 load --json``;
* ``GET /healthz``.

Errors answer ``{"detail": one line, "error": kind}``: 400 a broken file or bad value, 404 an
unknown run, 413 an upload over the cap (counted while it streams in), a gzipped file that
inflates beyond four times the cap (at most 200 MiB), or a compression bomb,
415 an unsupported format, 422 a valid file with nothing to predict or a missing field, 503 a
library held by another process. Uploads live in a temporary folder removed after each request.
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from sub3coach import errors as E
from sub3coach.web import service
from sub3coach.web.upload import Upload, UploadError, read_multipart

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
#: Default cap on one request's upload, MB (``sub3 serve --max-upload-mb``).
DEFAULT_MAX_UPLOAD_MB = 50.0


def status_of(exc: E.Sub3Error) -> int:
    """The HTTP status for a project error (see module docs)."""
    from sub3coach.locking import LibraryBusy

    if isinstance(exc, service.RunNotFound):
        return 404
    if isinstance(exc, E.UnsupportedFormat):
        return 415
    if isinstance(exc, E.UnsafeArchive):
        return 413
    if isinstance(exc, (E.ImplausibleWorkout, E.NotAnActivity, E.MissingChannel)):
        return 422
    if isinstance(exc, LibraryBusy):
        return 503
    if isinstance(exc, E.ModelError):
        return 500
    return 400


def _error(status: int, detail: str, kind: str) -> JSONResponse:
    return JSONResponse({"detail": " ".join(detail.split()), "error": kind}, status_code=status)


def _form(fields: dict[str, tuple[str, str]], files: str = "file", many: bool = False) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a multipart form (the endpoints parse it themselves, streaming)."""
    props: dict[str, Any] = {files: ({"type": "array", "items": {"type": "string", "format": "binary"}} if many
                                     else {"type": "string", "format": "binary"})}
    props.update({k: {"type": t, "description": d} for k, (t, d) in fields.items()})
    schema = {"type": "object", "properties": props, "required": [files]}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _text(up: Upload, key: str) -> str | None:
    v = up.fields.get(key)
    return v.strip() if v is not None and v.strip() else None


def _number(up: Upload, key: str, lo: float, hi: float) -> float | None:
    """Optional numeric form field within [lo, hi], as a 422 otherwise."""
    v = _text(up, key)
    if v is None:
        return None
    try:
        x = float(v)
    except ValueError:
        raise UploadError(422, f"{key} {v!r} is not a number") from None
    if not lo <= x <= hi:
        raise UploadError(422, f"{key} {x:g} is outside {lo:g}-{hi:g}")
    return x


def _athlete(name: str | None) -> str | None:
    if name is not None and (len(name) > 64 or not name.isprintable()):
        raise UploadError(422, f"{name[:70]!r} is not an athlete name (1-64 printable characters)")
    return name


def create_app(library: str | Path | None = None, *, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
               preload: bool = True) -> FastAPI:
    """The web app over ``library`` (default: ``SUB3_LIBRARY`` or the user's library).

    Args:
        max_upload_mb: largest request body accepted, MB (larger: HTTP 413).
        preload: load the HR model at start-up, so the first prediction is fast.
    """
    from sub3coach.library import default_library_path

    lib_path = Path(library).expanduser() if library is not None else default_library_path()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if preload:
            await run_in_threadpool(service.model)
        yield

    app = FastAPI(title="sub3coach", version=_version(), lifespan=lifespan,
                  description="Heart rate from a run's speed and altitude, your runs, your next week.")
    app.state.library = lib_path
    app.state.max_upload_bytes = int(max_upload_mb * 2**20)
    _error_handlers(app)
    _upload_routes(app, lib_path, app.state.max_upload_bytes, service.upload_limit(app.state.max_upload_bytes))
    _library_routes(app, lib_path)
    _page_routes(app)
    return app


def _error_handlers(app: FastAPI) -> None:
    """Every error as ``{"detail": one line, "error": kind}`` with the status of :func:`status_of`."""

    @app.exception_handler(E.Sub3Error)
    async def _sub3(_: Request, exc: E.Sub3Error) -> JSONResponse:
        text = exc.asking("the athlete parameter") if isinstance(exc, E.AthleteNotNamed) else str(exc)
        return _error(status_of(exc), text, type(exc).__name__)

    @app.exception_handler(UploadError)
    async def _upload(_: Request, exc: UploadError) -> JSONResponse:
        return _error(exc.status, exc.detail, "UploadError")

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s", type(exc).__name__, exc_info=exc)
        return _error(500, f"unexpected {type(exc).__name__}: {str(exc)[:300]} (a bug: please report it)", "InternalError")


def _upload_routes(app: FastAPI, lib_path: Path, cap: int, inflated: int) -> None:
    """``POST /api/predict``, ``/api/predict/course`` and ``/api/import``: multipart uploads
    streamed into a temporary folder (at most ``cap`` bytes; a gzipped file inflating to at most
    ``inflated`` bytes), the work done in the thread pool, at most
    :data:`~sub3coach.web.service.HEAVY_WORK` predictions at once."""

    async def with_upload(request: Request, work: Callable[[Upload, Path], Any]) -> Any:
        """Stream the body into a fresh temporary folder, run ``work`` in the thread pool, and
        remove the folder whatever happens."""
        with tempfile.TemporaryDirectory(prefix="sub3-web-") as tmp:
            up = await read_multipart(request.headers, request.stream(), tmp, cap)
            return await run_in_threadpool(work, up, Path(tmp))

    @app.post("/api/predict", openapi_extra=_form({
        "athlete": ("string", "whose personal model (default: the library's only athlete)"),
        "observed_minutes": ("number", "in-run forecast from the measured HR of the first M minutes"),
        "max_hr": ("number", "your maximum HR, BPM (zones, cold start)")}))
    async def predict(request: Request) -> Any:
        """Predicted HR with its 80 % band for a recorded run (FIT/GPX/TCX, optionally .gz)."""
        def work(up: Upload, _: Path) -> Any:
            f = up.one_file()
            opts = dict(athlete=_athlete(_text(up, "athlete")), observed_minutes=_number(up, "observed_minutes", 0.5, 600),
                        max_hr=_number(up, "max_hr", 100, 240))
            t0 = time.perf_counter()
            with service.HEAVY_WORK:
                out = service.prediction(service.read_upload(f.path, f.filename, inflated), library=lib_path, **opts)
            log.info("predicted %s in %.2f s", f.filename, time.perf_counter() - t0)
            return out
        return await with_upload(request, work)

    @app.post("/api/predict/course", openapi_extra=_form({
        "pace": ("string", "planned pace, m:ss per km (e.g. 4:45)"),
        "pace_plan": ("string", "instead of pace: km,pace lines (e.g. 1,4:50 / 2,4:40)"),
        "max_hr": ("number", "your maximum HR, BPM (zones, cold start)"),
        "athlete": ("string", "whose personal model (default: the library's only athlete)")}))
    async def predict_course(request: Request) -> Any:
        """The HR to expect on a route (GPX, or any activity file's track) at a pace or pace plan."""
        def work(up: Upload, tmp: Path) -> Any:
            f = up.one_file()
            text_plan = _text(up, "pace_plan")
            plan = service.pace_plan(text_plan, tmp) if text_plan else None
            opts = dict(athlete=_athlete(_text(up, "athlete")), max_hr=_number(up, "max_hr", 100, 240))
            with service.HEAVY_WORK:
                w = service.course_run(f.path, f.filename, _text(up, "pace"), plan, inflated)
                return service.prediction(w, library=lib_path, planned=True, **opts)
        return await with_upload(request, work)

    @app.post("/api/import", openapi_extra=_form({"athlete": ("string", "whose runs these are (sub3 import --athlete)")},
                                                 many=True))
    async def import_(request: Request) -> Any:
        """Import files (FIT/GPX/TCX, zips, Strava/Apple Health exports, histories) into the library."""
        def work(up: Upload, tmp: Path) -> Any:
            if not up.files:
                raise UploadError(422, "no file uploaded: send one or more as multipart form field 'file'")
            return service.import_files(lib_path, [f.path for f in up.files], tmp, athlete=_athlete(_text(up, "athlete")))
        return await with_upload(request, work)



def _library_routes(app: FastAPI, lib_path: Path) -> None:
    """Reading the library and planning: runs, one run, athletes, the week plan, health."""

    @app.get("/api/runs")
    def runs(athlete: str | None = None, since: str | None = None, sport: str | None = None) -> Any:
        """The library's runs, oldest first (``sub3 runs --json`` rows); ``since``: YYYY-MM-DD."""
        return service.runs(lib_path, athlete, since, sport)

    @app.get("/api/runs/{run_id}")
    def run(run_id: str, predict: bool = False) -> Any:
        """One run: its summary and samples (unix s, BPM, m/s, m); ``predict=true`` adds the
        model's HR for it (from the runs before it), as ``/api/predict`` gives."""
        row, w = service.run_detail(lib_path, run_id)
        out: dict[str, Any] = {"summary": service.jsonable(row), "samples": service.samples(w)}
        if predict and w is not None:
            with service.HEAVY_WORK:
                out["prediction"] = service.prediction(w, library=lib_path, athlete=row.get("athlete"))
        return out

    @app.get("/api/athletes")
    def athletes() -> Any:
        """The library's athletes with their run counts and date range."""
        return service.athletes(lib_path)

    @app.get("/api/plan/week")
    def plan_week(athlete: str | None = None) -> Any:
        """Seven days of training from today (``sub3 plan week --json``)."""
        return service.plan_week(lib_path, athlete)

    @app.get("/api/load")
    def training_load(athlete: str | None = None, since: str | None = None) -> Any:
        """Training load (``sub3 load --json``): daily load, CTL/ATL/TSB, per-run TRIMP, zones."""
        return service.training_load(lib_path, athlete, since)

    @app.get("/healthz")
    def healthz() -> Any:
        """Liveness: version, model and library."""
        return {"status": "ok", "version": _version(), "model": service.model().name, "library": str(lib_path),
                "library_exists": lib_path.exists()}



def _page_routes(app: FastAPI) -> None:
    """The page, its static files, and plotly.js from the installed ``plotly`` package."""

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        """plotly.js as shipped inside the installed ``plotly`` Python package (no CDN)."""
        return FileResponse(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _listen(host: str, port: int) -> Any:
    """A socket bound to ``host:port`` and listening (``port`` 0: a free one the system picks),
    handed to uvicorn as is, so no other process can take the port in between; one line when
    it cannot be listened on (in use, bad address)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise E.Sub3Error(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    family, _, _, _, addr = infos[0]
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(addr)
        s.listen(2048)
    except OSError as exc:
        s.close()
        raise E.Sub3Error(f"cannot listen on {host}:{port}: {exc.strerror or exc} (another server? try --port)") from exc
    return s


def _plotly_js() -> Path:
    import plotly

    p = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
    if not p.exists():
        raise E.Sub3Error("plotly.min.js is missing from the installed plotly package; reinstall plotly", str(p))
    return p


def _version() -> str:
    from sub3coach import __version__

    return __version__


def serve(host: str = "127.0.0.1", port: int = 8000, library: str | Path | None = None,
          max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> None:
    """Run the app with uvicorn until Ctrl-C; ``port`` 0 picks a free port. The first line on
    stdout names the URL it listens on (with the port actually bound)."""
    import uvicorn

    sock = _listen(host, port)
    try:
        app = create_app(library, max_upload_mb=max_upload_mb)
        port = int(sock.getsockname()[1])
        shown = f"[{host}]" if ":" in host else host
        print(f"sub3coach web app on http://{shown}:{port}/ (API docs: /docs; library {app.state.library}; Ctrl-C to stop)", flush=True)
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run(sockets=[sock])
    finally:
        sock.close()
