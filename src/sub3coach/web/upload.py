"""Streaming multipart uploads into a temporary folder, with a size cap enforced as bytes arrive.

Starlette's own form parsing spools the whole body before an endpoint sees it (and into the
system temp folder); here the request body is fed chunk by chunk to python-multipart's parser,
file parts are written into a caller-owned :class:`tempfile.TemporaryDirectory`, and the
upload is refused (HTTP 413) as soon as the body passes the cap, not after reading it all.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

#: Most files one request may carry.
MAX_FILES = 200
#: Most bytes of one plain (non-file) form field.
MAX_FIELD_BYTES = 64 * 1024


class UploadError(Exception):
    """A request body the app refuses, with the HTTP status to answer and one line saying why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class UploadedFile:
    """One uploaded file: the name the client gave (basename only) and where it lies on disk."""

    field: str
    filename: str
    path: Path
    size: int = 0


@dataclass
class Upload:
    """A parsed multipart body: plain fields (name -> text) and files, in upload order."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def one_file(self, name: str = "file") -> UploadedFile:
        """The single file of form field ``name``.

        Raises:
            UploadError: 422 when there is none.
        """
        for f in self.files:
            if f.field == name:
                return f
        raise UploadError(422, f"no file uploaded: send it as multipart form field {name!r}")


def safe_filename(name: str, default: str = "upload") -> str:
    """The basename of a client-given file name, without path parts or control characters
    (at most 120 characters, the extension kept)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    if len(base) > 120:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 110] + dot + ext[:9]) if dot else base[:120]
    return base or default


class _Parser:
    """python-multipart callbacks that write file parts into ``folder`` (one subfolder per file,
    so two uploads with the same name never collide)."""

    def __init__(self, folder: Path, charset: str) -> None:
        self.folder, self.charset = folder, charset
        self.upload = Upload()
        self._hname = self._hvalue = b""
        self._disposition = b""
        self._field: str = ""
        self._file: UploadedFile | None = None
        self._fh: BinaryIO | None = None
        self._text = bytearray()
        self._empty_name = False

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data, "on_part_end": self.on_part_end,
                "on_header_field": self.on_header_field, "on_header_value": self.on_header_value,
                "on_header_end": self.on_header_end, "on_headers_finished": self.on_headers_finished}

    def on_part_begin(self) -> None:
        self._disposition, self._file, self._fh, self._text = b"", None, None, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        if self._hname.lower() == b"content-disposition":
            self._disposition = self._hvalue
        self._hname = self._hvalue = b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._disposition)
        if b"name" not in opts:
            raise UploadError(400, "malformed multipart body: a part without a field name")
        self._field = opts[b"name"].decode(self.charset, "replace")
        if b"filename" in opts:
            if len(self.upload.files) >= MAX_FILES:
                raise UploadError(413, f"too many files in one request (at most {MAX_FILES})")
            sub = self.folder / str(len(self.upload.files))
            sub.mkdir(exist_ok=True)  # reused when the previous part was an empty file input
            self._empty_name = not opts[b"filename"]
            name = safe_filename(opts[b"filename"].decode(self.charset, "replace"))
            self._file = UploadedFile(self._field, name, sub / name)
            self._fh = open(self._file.path, "wb")  # noqa: SIM115 - closed in on_part_end / close()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._fh is not None:
            self._fh.write(data[start:end])
            assert self._file is not None
            self._file.size += end - start
        else:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                raise UploadError(413, f"form field {self._field!r} longer than {MAX_FIELD_BYTES // 1024} KiB")

    def on_part_end(self) -> None:
        if self._fh is not None and self._file is not None:
            self._fh.close()
            self._fh = None
            if self._empty_name and self._file.size == 0:  # a form's file input left empty: no file
                self._file.path.unlink()
                return
            self.upload.files.append(self._file)
        else:
            self.upload.fields[self._field] = self._text.decode(self.charset, "replace")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


async def read_multipart(headers: Any, body: AsyncIterator[bytes], folder: str | os.PathLike, max_bytes: int) -> Upload:
    """Parse a multipart/form-data body into ``folder``, refusing it past ``max_bytes``.

    Args:
        headers: the request headers (``content-type``, ``content-length``).
        body: the body's chunks as they arrive (``request.stream()``).
        folder: an existing, empty temporary folder the caller removes afterwards.
        max_bytes: the cap on the whole body, bytes.

    Raises:
        UploadError: 413 over the cap (announced by Content-Length, or counted while
            streaming), 415 not multipart, 400 a malformed body.
    """
    ctype, params = parse_options_header(headers.get("content-type"))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(415, "send the file as multipart/form-data (form field 'file')")
    cap_mb = max_bytes / 2**20
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise UploadError(413, f"upload of {int(length) / 2**20:.1f} MB is over the {cap_mb:g} MB limit (sub3 serve --max-upload-mb)")
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    p = _Parser(Path(folder), charset)
    parser = MultipartParser(params[b"boundary"], p.callbacks())  # type: ignore[arg-type]
    seen = 0
    try:
        async for chunk in body:
            seen += len(chunk)
            if seen > max_bytes:
                raise UploadError(413, f"upload is over the {cap_mb:g} MB limit (sub3 serve --max-upload-mb)")
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadError(400, f"malformed multipart body ({exc})") from exc
    finally:
        p.close()
    return p.upload
