"""Streaming reader for FitRec / Endomondo ``endomondoHR*.json`` files.

The FitRec files (Ni, Muhlstein & McAuley, WWW 2019) hold one workout per line written as a
Python dict literal (single quotes), e.g.::

    {'id': 396826535, 'userId': 10921915, 'gender': 'male', 'sport': 'run',
     'timestamp': [1408898746, ...], 'heart_rate': [100, ...], 'speed': [6.8, ...], ...}

Keys read: ``id``, ``userId``, ``gender``, ``sport``, ``timestamp`` (unix s), ``heart_rate``
(BPM), ``speed`` and/or ``derived_speed`` (**km/h**), ``altitude`` (m), ``latitude`` /
``longitude`` (degrees), ``url``. Unknown keys are ignored (scalar ones are kept in
``Workout.metadata["extra"]``).

Lines are parsed one at a time (the real file is ~4 GB, possibly gzipped) and never with
``eval``: a fast path uses :func:`json.loads` only when the line provably means the same thing
as a JSON document (no double quotes or backslashes, and nothing outside strings except numbers,
brackets and ``True``/``False``/``None``); everything else goes through :func:`ast.literal_eval`,
which accepts literals only. A malformed line is logged with its line number, counted in
:attr:`EndomondoReader.skipped` and skipped; a file without a single valid line raises
:class:`~sub3coach.errors.CorruptFile`.
"""
from __future__ import annotations

import ast
import io
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from sub3coach.errors import CorruptFile
from sub3coach.io._source import Source, open_text_stream, read_bytes, source_name
from sub3coach.workout import Workout, normalise_sport

log = logging.getLogger(__name__)

KMH_TO_MPS = 1.0 / 3.6

#: Sample keys -> (channel, factor). ``speed`` wins over ``derived_speed`` when it has data.
_SAMPLE_KEYS: dict[str, tuple[str, float]] = {
    "heart_rate": ("hr_bpm", 1.0),
    "speed": ("speed_mps", KMH_TO_MPS),
    "derived_speed": ("speed_mps", KMH_TO_MPS),
    "altitude": ("altitude_m", 1.0),
    "latitude": ("lat_deg", 1.0),
    "longitude": ("lon_deg", 1.0),
}
_KNOWN = {"id", "userId", "gender", "sport", "timestamp", "url", *_SAMPLE_KEYS}

_SPORT_RE = re.compile(r"""['"]sport['"]\s*:\s*'([^']*)'""")
_WORDS_RE = re.compile(r"\b(?:True|False|None)\b")
_STRUCTURAL = str.maketrans("", "", "0123456789 \t\r\n[]{}:,.+-eE")
_WORD_MAP = {"True": "true", "False": "false", "None": "null"}

#: How many skipped line numbers :class:`EndomondoReader` remembers.
MAX_REMEMBERED_SKIPS = 1000


class MalformedLine(ValueError):
    """A line that is not a valid FitRec workout (internal; turned into a logged skip)."""


def parse_line(line: str) -> dict[str, Any]:
    """Parse one FitRec line into a dict, safely (never ``eval``).

    Raises:
        MalformedLine: not a dict literal, or a literal that is not a dict.
    """
    s = line.strip()
    obj: Any = None
    if s.startswith("{") and '"' not in s and "\\" not in s:
        parts = s.split("'")
        if len(parts) % 2 == 1:  # balanced quotes
            rest = "".join(parts[0::2]).translate(_STRUCTURAL)
            # only numbers, brackets and True/False/None outside strings (their 'e' is deleted)
            if not rest.replace("Tru", "").replace("Fals", "").replace("Non", ""):
                for i in range(0, len(parts), 2):
                    seg = parts[i]
                    if "T" in seg or "F" in seg or "N" in seg:
                        parts[i] = _WORDS_RE.sub(lambda m: _WORD_MAP[m.group(0)], seg)
                try:
                    obj = json.loads('"'.join(parts))
                except ValueError:
                    obj = None
    if obj is None:
        try:
            obj = ast.literal_eval(s)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise MalformedLine(f"not a Python dict literal ({type(exc).__name__})") from exc
    if not isinstance(obj, dict):
        raise MalformedLine(f"a {type(obj).__name__} literal, not a dict")
    return obj


def _as_array(v: Any, key: str, n: int | None) -> np.ndarray:
    if not isinstance(v, (list, tuple)):
        raise MalformedLine(f"{key!r} is not a list")
    try:
        arr = np.array(v, dtype=np.float64)
    except (TypeError, ValueError):
        try:  # None for a missing sample
            arr = np.array([np.nan if x is None else x for x in v], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise MalformedLine(f"{key!r} holds non-numeric values") from exc
    if arr.ndim != 1:
        raise MalformedLine(f"{key!r} is not a flat list")
    if n is not None and arr.size != n:
        raise MalformedLine(f"{key!r} has {arr.size} samples, 'timestamp' has {n}")
    return arr


def _gender(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip().lower()
    return {"male": "male", "m": "male", "female": "female", "f": "female"}.get(s)


def record_to_workout(rec: dict[str, Any], source: str) -> Workout:
    """Convert one parsed FitRec record into a :class:`Workout` (SI units).

    Raises:
        MalformedLine: no ``timestamp`` list, or sample lists of unequal length.
    """
    if "timestamp" not in rec:
        raise MalformedLine("no 'timestamp' key")
    time_s = _as_array(rec["timestamp"], "timestamp", None)
    if time_s.size == 0:
        raise MalformedLine("empty 'timestamp' list")
    n = time_s.size
    kw: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    for key, (ch, factor) in _SAMPLE_KEYS.items():
        if key not in rec or rec[key] is None:
            continue
        arr = _as_array(rec[key], key, n)
        if not np.isfinite(arr).any():
            continue
        if ch in kw:
            continue
        kw[ch] = arr * factor if factor != 1.0 else arr
        if ch == "speed_mps":
            meta["speed_key"] = key
    extra = {k: v for k, v in rec.items() if k not in _KNOWN and isinstance(v, (str, int, float, bool))}
    if extra:
        meta["extra"] = extra
    wid = rec.get("id")
    uid = rec.get("userId")
    return Workout(
        time_s=time_s,
        sport=normalise_sport(rec.get("sport")),
        source=str(rec["url"]) if rec.get("url") else source,
        source_format="endomondo",
        workout_id=None if wid is None else str(wid),
        user_id=None if uid is None else str(uid),
        gender=_gender(rec.get("gender")),
        metadata={**meta, "endomondo_sport": rec.get("sport")},
        **kw,
    )


class EndomondoReader:
    """Iterator over the workouts of one FitRec file; counts what it skipped.

    Attributes:
        path: the file name used in messages.
        n_lines: non-blank lines seen so far.
        n_valid: lines that parsed into a workout (before the sport filter).
        n_yielded: workouts yielded.
        skipped: malformed lines skipped.
        skipped_lines: their 1-based line numbers (the first :data:`MAX_REMEMBERED_SKIPS`).
    """

    def __init__(self, src: Source | TextIO, *, sport: str | None = None,
                 on_skip: Callable[[int, str], None] | None = None, name: str | None = None) -> None:
        self.path = source_name(src, name)  # type: ignore[arg-type]
        self._src = src
        self.sport = None if sport is None else normalise_sport(sport)
        self.on_skip = on_skip
        self.n_lines = 0
        self.n_valid = 0
        self.n_yielded = 0
        self.skipped = 0
        self.skipped_lines: list[int] = []
        self._it: Iterator[Workout] | None = None

    def __iter__(self) -> "EndomondoReader":
        return self

    def __next__(self) -> Workout:
        if self._it is None:
            self._it = self._run()
        return next(self._it)

    def _open(self) -> tuple[TextIO, bool]:
        src = self._src
        if isinstance(src, (str, os.PathLike)):
            p = Path(src)
            if not p.exists():
                raise CorruptFile(self.path, "no such file")
            if p.is_dir():
                raise CorruptFile(self.path, "is a folder, not a file")
            try:
                return open_text_stream(p), True  # type: ignore[return-value]
            except OSError as exc:
                raise CorruptFile(self.path, f"cannot read: {exc.strerror or exc}") from exc
        if isinstance(src, (bytes, bytearray)):
            blob = read_bytes(src, self.path)
            return io.StringIO(blob.data.decode("utf-8", errors="replace")), True
        if isinstance(src, io.TextIOBase):
            return src, False  # type: ignore[return-value]
        # binary file object: stream it (gzip detected from the first bytes when seekable)
        head = b""
        if hasattr(src, "peek"):
            head = src.peek(2)[:2]
        elif getattr(src, "seekable", lambda: False)():
            pos = src.tell()
            head = src.read(2)
            src.seek(pos)
        if head == b"\x1f\x8b":
            import gzip

            return io.TextIOWrapper(gzip.GzipFile(fileobj=src), encoding="utf-8", errors="replace"), False  # type: ignore[arg-type]
        return io.TextIOWrapper(src, encoding="utf-8", errors="replace"), False  # type: ignore[arg-type]

    def _skip(self, lineno: int, reason: str) -> None:
        self.skipped += 1
        if len(self.skipped_lines) < MAX_REMEMBERED_SKIPS:
            self.skipped_lines.append(lineno)
        log.warning("%s: line %d skipped: %s", self.path, lineno, reason)
        if self.on_skip is not None:
            self.on_skip(lineno, reason)

    def _run(self) -> Iterator[Workout]:
        fh, owned = self._open()
        try:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                self.n_lines += 1
                if self.sport is not None:
                    m = _SPORT_RE.search(line[:4096]) or _SPORT_RE.search(line)
                    if m is not None and normalise_sport(m.group(1)) != self.sport:
                        # cheap pre-filter: skip parsing workouts of other sports
                        self.n_valid += 1
                        continue
                try:
                    rec = parse_line(line)
                    w = record_to_workout(rec, f"{self.path}:{lineno}")
                except MalformedLine as exc:
                    self._skip(lineno, str(exc))
                    continue
                except ValueError as exc:  # Workout validation
                    self._skip(lineno, str(exc))
                    continue
                self.n_valid += 1
                if self.sport is not None and w.sport != self.sport:
                    continue
                self.n_yielded += 1
                yield w
        except (OSError, EOFError, zlib.error) as exc:
            raise CorruptFile(self.path, f"cannot read further after line {self.n_lines} ({exc})") from exc
        finally:
            if owned:
                fh.close()
        if self.n_lines == 0:
            raise CorruptFile(self.path, "empty file (no workout lines)")
        if self.n_valid == 0:
            raise CorruptFile(self.path, f"no valid FitRec workout line ({self.skipped} malformed lines)")
        if self.skipped:
            log.warning("%s: %d of %d lines skipped as malformed", self.path, self.skipped, self.n_lines)


def iter_endomondo(
    path: Source | TextIO,
    *,
    sport: str | None = None,
    on_skip: Callable[[int, str], None] | None = None,
    name: str | None = None,
) -> EndomondoReader:
    """Stream the workouts of a FitRec ``endomondoHR*.json`` file (plain or gzipped).

    Args:
        path: a path (streamed line by line), bytes, or a text/binary file object.
        sport: keep only this sport (normalised, e.g. ``"run"``); other lines are not even
            parsed.
        on_skip: called as ``on_skip(line_number, reason)`` for each malformed line.
        name: file name to use in messages.

    Returns:
        An :class:`EndomondoReader`: iterate it for :class:`Workout` objects
        (``source_format="endomondo"``, speed in m/s); its ``skipped`` attribute counts the
        malformed lines skipped so far.

    Raises (while iterating):
        CorruptFile: missing/unreadable/empty file, or no valid line at all.
    """
    return EndomondoReader(path, sport=sport, on_skip=on_skip, name=name)
