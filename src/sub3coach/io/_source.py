"""Turning a path, bytes or a file object into bytes, safely.

Readers accept any of the three (``Source``); web uploads and tests need no temp files.
Gzip is decompressed transparently (``.fit.gz`` etc.) with a size cap, and zip archives are
checked for path traversal and zip bombs before anything is read.
"""
from __future__ import annotations

import functools
import gzip
import io
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, TypeVar, Union

from sub3coach.errors import CorruptFile, Sub3Error, UnsafeArchive

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

Source = Union[str, os.PathLike, bytes, bytearray, BinaryIO]

#: Largest single decompressed file we accept (bytes). Real activity files are < 50 MB.
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Largest total uncompressed size of a zip archive we open (Apple Health exports can be big).
MAX_ARCHIVE_BYTES = 8 * 1024 * 1024 * 1024
#: Largest compression ratio accepted for one zip member or gzip stream (zip-bomb guard).
MAX_RATIO = 200.0


@dataclass
class Blob:
    """Raw bytes of one input plus the name used in error messages."""

    data: bytes
    name: str


def source_name(src: Source, name: str | None = None) -> str:
    """A human-readable name for ``src`` to use in messages."""
    if name:
        return name
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    n = getattr(src, "name", None)
    return str(n) if isinstance(n, str) else "<bytes>"


def guard_reader(what: str) -> Callable[[F], F]:
    """Decorate a reader ``f(src, *, name=None, ...)`` so that no exception outside the
    project's hierarchy escapes it for any input bytes: anything unexpected (a parser bug, a
    library's ``ValueError``...) becomes :class:`CorruptFile` naming the file, with the cause
    kept and logged. ``MemoryError`` and ``KeyboardInterrupt`` pass through."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(src: Source, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(src, *args, **kwargs)
            except (Sub3Error, MemoryError):
                raise
            except (Exception, RecursionError) as exc:
                label = source_name(src, kwargs.get("name"))
                log.warning("%s reader failed on %s", what, label, exc_info=True)
                raise CorruptFile(label, f"cannot read {what} data ({type(exc).__name__}: {str(exc)[:120]})") from exc

        return wrapper  # type: ignore[return-value]

    return deco


def read_bytes(src: Source, name: str | None = None, *, decompress: bool = True, limit: int = MAX_FILE_BYTES) -> Blob:
    """Read ``src`` fully into memory, gunzipping when it is gzip-compressed (to at most
    ``limit`` bytes, never more than :data:`MAX_FILE_BYTES`; the web app passes a smaller one).

    Raises:
        CorruptFile: file missing/unreadable, empty, or a broken gzip stream.
        UnsafeArchive: gzip that expands beyond ``limit`` or :data:`MAX_RATIO`.
    """
    label = source_name(src, name)
    if isinstance(src, (bytes, bytearray)):
        data = bytes(src)
    elif isinstance(src, (str, os.PathLike)):
        p = Path(src)
        if not p.exists():
            raise CorruptFile(label, "no such file")
        if p.is_dir():
            raise CorruptFile(label, "is a folder, not a file")
        try:
            if p.stat().st_size > MAX_FILE_BYTES:
                raise UnsafeArchive(label, f"file larger than {MAX_FILE_BYTES // 2**20} MiB")
            data = p.read_bytes()
        except OSError as exc:
            raise CorruptFile(label, f"cannot read: {exc.strerror or exc}") from exc
    else:
        data = src.read(MAX_FILE_BYTES + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > MAX_FILE_BYTES:
            raise UnsafeArchive(label, f"input larger than {MAX_FILE_BYTES // 2**20} MiB")
    if not data:
        raise CorruptFile(label, "empty file")
    if decompress and data[:2] == b"\x1f\x8b":
        data = gunzip_limited(data, label, min(limit, MAX_FILE_BYTES))
        if not data:
            raise CorruptFile(label, "empty file inside gzip")
    return Blob(data=data, name=label)


#: Bytes of compressed input fed to zlib at a time (keeps every step's copies small).
_GZIP_FEED = 1 << 20


def gunzip_limited(data: bytes, label: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """Decompress gzip ``data`` (any number of members, as ``cat a.gz b.gz`` makes, and the
    zero padding some tools append), refusing output beyond ``limit`` bytes or
    :data:`MAX_RATIO`. Time and memory are linear in the input and the output.

    Raises:
        CorruptFile: a broken or truncated stream, or trailing bytes that are not gzip.
        UnsafeArchive: output beyond the cap (a gzip bomb)."""
    cap = int(min(limit, max(len(data) * MAX_RATIO, 16 * 2**20)))
    view = memoryview(data)
    parts: list[bytes] = []
    size = pos = 0
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        feed = 256  # doubling: what zlib copies back (unused_data) stays below twice the member
        while not d.eof:
            if pos >= len(view):
                raise CorruptFile(label, "truncated gzip stream")
            chunk = view[pos : pos + feed]
            pos += len(chunk)
            feed = min(2 * feed, _GZIP_FEED)
            try:
                out = d.decompress(chunk, cap - size + 1)
            except zlib.error as exc:
                raise CorruptFile(label, f"broken gzip stream ({exc})") from exc
            size += len(out)
            if size > cap or d.unconsumed_tail:
                raise UnsafeArchive(label, f"gzip expands beyond {cap // 2**20} MiB (possible zip bomb)")
            if out:
                parts.append(out)
        pos -= len(d.unused_data)  # at most one feed: where the next member starts
        rest = view[pos:]
        if not len(rest):
            return b"".join(parts)
        if bytes(rest[:2]) != b"\x1f\x8b":
            if bytes(rest).strip(b"\0"):
                raise CorruptFile(label, "trailing garbage after the gzip stream")
            return b"".join(parts)


def open_text_stream(path: str | os.PathLike) -> io.TextIOBase:
    """Open a (possibly gzipped) text file for streaming line by line (UTF-8)."""
    p = Path(path)
    with p.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="replace")
    return p.open("r", encoding="utf-8", errors="replace")


def check_zip(zf: zipfile.ZipFile, label: str) -> list[zipfile.ZipInfo]:
    """Validate a zip archive before reading from it; returns its file members.

    Refuses absolute paths and ``..`` components (zip slip), members whose compression ratio
    exceeds :data:`MAX_RATIO`, and archives whose total uncompressed size exceeds
    :data:`MAX_ARCHIVE_BYTES` (zip bombs). Sizes are taken from the central directory and
    enforced again while reading (:func:`read_zip_member`)."""
    members: list[zipfile.ZipInfo] = []
    total = 0
    for info in zf.infolist():
        n = info.filename.replace("\\", "/")
        if n.startswith("/") or (len(n) > 1 and n[1] == ":") or ".." in n.split("/"):
            raise UnsafeArchive(label, f"member {info.filename!r} points outside the archive")
        if info.is_dir():
            continue
        total += info.file_size
        if info.file_size > MAX_FILE_BYTES * 16:
            raise UnsafeArchive(label, f"member {info.filename!r} too large ({info.file_size} bytes)")
        if info.compress_size > 0 and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 2**20:
            raise UnsafeArchive(label, f"member {info.filename!r} compression ratio {info.file_size / info.compress_size:.0f}:1 (possible zip bomb)")
        members.append(info)
    if total > MAX_ARCHIVE_BYTES:
        raise UnsafeArchive(label, f"archive expands to {total // 2**20} MiB (possible zip bomb)")
    return members


def read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """Read one member, stopping if it yields more than its declared size or ``limit``."""
    cap = min(info.file_size, limit)
    if info.file_size > limit:
        raise UnsafeArchive(f"{label}!{info.filename}", f"member larger than {limit // 2**20} MiB")
    try:
        with zf.open(info) as fh:
            data = fh.read(cap + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise CorruptFile(f"{label}!{info.filename}", f"corrupt zip member ({exc})") from exc
    except RuntimeError as exc:  # zipfile's "File ... is encrypted, password required"
        raise CorruptFile(f"{label}!{info.filename}", "encrypted zip member (password required)") from exc
    except NotImplementedError as exc:
        raise CorruptFile(f"{label}!{info.filename}", f"unsupported zip compression ({exc})") from exc
    if len(data) > cap:
        raise UnsafeArchive(f"{label}!{info.filename}", "member larger than declared (possible zip bomb)")
    return data


def open_zip(src: Source, label: str) -> zipfile.ZipFile:
    """Open a zip archive from a path, bytes or file object, wrapping errors."""
    try:
        if isinstance(src, (bytes, bytearray)):
            return zipfile.ZipFile(io.BytesIO(bytes(src)))
        return zipfile.ZipFile(src)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorruptFile(label, f"not a valid zip archive ({exc})") from exc


def looks_like_text(head: bytes) -> bool:
    """True when ``head`` reads as text: no NUL byte and at most 2 % of bytes that are neither
    printable nor whitespace once decoded as UTF-8 (latin-1 letters count as printable)."""
    if not head:
        return True
    if b"\x00" in head:
        return False
    decoded = head.decode("utf-8", errors="replace")
    bad = sum(1 for ch in decoded if ch == "\ufffd" or (not ch.isprintable() and ch not in "\t\r\n"))
    return bad <= 0.02 * len(decoded) + 1  # a character cut at the end of head is fine


def sniff(head: bytes, name: str = "") -> str | None:
    """Guess a format from the first bytes (≥ 2 KiB recommended) and the file name.

    Returns one of ``fit``, ``gpx``, ``tcx``, ``zip``, ``gzip``, ``parquet``, ``endomondo``,
    ``apple_health_xml``, ``json``, ``csv`` or ``None``."""
    lname = name.lower()
    if lname.endswith(".gz"):
        lname = lname[:-3]
    if len(head) >= 12 and head[8:12] == b".FIT":
        return "fit"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "zip"
    if head[:4] == b"PAR1":
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096]
    low = text.lower()
    if low.startswith(b"<"):
        if b"<trainingcenterdatabase" in low:
            return "tcx"
        if b"<gpx" in low:
            return "gpx"
        if b"<healthdata" in low or b"healthkit_export" in low or b"<!doctype healthdata" in low:
            return "apple_health_xml"
        return {".gpx": "gpx", ".tcx": "tcx", ".xml": "apple_health_xml"}.get(Path(lname).suffix)
    if not looks_like_text(text):
        return None  # binary content is never taken for JSON or CSV, whatever its name
    if text.startswith(b"{'") or (text.startswith(b"{") and b"'userId'" in text[:4096]):
        return "endomondo"
    if text.startswith(b"[") or text.startswith(b"{"):
        return "json"
    if lname.endswith(".csv") or b"," in text.split(b"\n", 1)[0] or b";" in text.split(b"\n", 1)[0]:
        return "csv"
    return None
