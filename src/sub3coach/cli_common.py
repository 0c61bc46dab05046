"""What the ``sub3`` CLI modules share: consoles, the one-line error, JSON output, common options.

Kept apart from :mod:`sub3coach.cli` (which mounts the ``hr`` and ``plan`` sub-apps) so the
sub-apps can import it without an import cycle.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

LibraryOpt = Annotated[
    Optional[Path],
    typer.Option("--library", envvar="SUB3_LIBRARY", help="Library file (DuckDB). Default: your user data dir; env SUB3_LIBRARY."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
AthleteOpt = Annotated[
    Optional[str],
    typer.Option("--athlete", "-a", help="Whose runs (see: sub3 athletes). Default: the library's only athlete."),
]


def warn(message: object) -> None:
    """Print one warning line (``sub3: warning: ...``) on stderr."""
    err_console.print(f"sub3: warning: {' '.join(str(message).split())}", markup=False, highlight=False, soft_wrap=True)


def typer_app(name: str, help: str) -> typer.Typer:
    """A Typer app with the project's settings (no completion, plain help, no pretty tracebacks)."""
    return typer.Typer(name=name, help=help, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode=None)


def fail(message: object, code: int = 1) -> typer.Exit:
    """Print one error line (``sub3: error: ...``) on stderr and return the Exit to raise."""
    err_console.print(f"sub3: error: {' '.join(str(message).split())}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


class MessageHandler(logging.Handler):
    """Log records for people: ``sub3: warning: ...`` on stderr, one line, no logger names."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = " ".join(record.getMessage().split())
        except Exception:  # a malformed record must not end the command
            msg = str(record.msg)
        level = "" if record.levelno < logging.WARNING else ("error: " if record.levelno >= logging.ERROR else "warning: ")
        err_console.print(f"sub3: {level}{msg}", markup=False, highlight=False, soft_wrap=True)


def setup_messages(level: int = logging.WARNING) -> None:
    """Route library log records and Python warnings (e.g. matplotlib's) to one-line messages."""
    import warnings

    root = logging.getLogger()
    root.handlers[:] = [MessageHandler()]
    root.setLevel(level)

    def _show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        err_console.print(f"sub3: warning: {' '.join(str(message).split())}", markup=False, highlight=False, soft_wrap=True)

    warnings.showwarning = _show  # type: ignore[assignment]


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    return str(o)


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON (numpy scalars as numbers, dates and paths as strings; NaN refused)."""
    typer.echo(json.dumps(obj, indent=2, default=_json_default, allow_nan=False))
