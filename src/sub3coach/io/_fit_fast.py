"""The FIT reader's fast path: :class:`_LeanFitReader` (a :class:`fitdecode.FitReader` tuned for
reading activities from memory) and the FIT CRC-16; see :mod:`sub3coach.io.fit`, whose module
docstring describes what is skipped, what is decoded directly and what fitdecode still decodes.
"""
from __future__ import annotations

import inspect
import io
import logging
import math
import struct
from array import array
from dataclasses import dataclass
from typing import Any

import fitdecode
import numpy as np
from fitdecode import records as _fd_records
from fitdecode import types as _fd_types
from fitdecode.exceptions import FitCRCError, FitEOFError, FitParseError

from sub3coach.errors import ImplausibleWorkout

log = logging.getLogger("sub3coach.io.fit")

#: Most record messages read from one file (a workout may hold at most 1M samples,
#: :data:`sub3coach.clean.plausible.MAX_SAMPLES`): decoding stops there, so memory stays
#: below ~100 MB whatever the file holds.
MAX_RECORDS = 1_000_000

# Global message numbers (FIT profile).
_MESG_FILE_ID = 0
_MESG_SPORT = 12
_MESG_SESSION = 18
_MESG_LAP = 19
_MESG_RECORD = 20
_MESG_EVENT = 21
_MESG_DEVICE_INFO = 23
_MESG_ACTIVITY = 34
_MESG_TIMESTAMP_CORRELATION = 162
_MESG_FIELD_DESCRIPTION = 206
_MESG_DEVELOPER_DATA_ID = 207
_FIELD_TIMESTAMP = 253

#: Messages whose every field is decoded (few per file; developer bookkeeping needs 206/207).
_FULL_MESGS = frozenset({
    _MESG_FILE_ID, _MESG_SPORT, _MESG_SESSION, _MESG_LAP, _MESG_DEVICE_INFO, _MESG_ACTIVITY, _MESG_EVENT,
    _MESG_TIMESTAMP_CORRELATION, _MESG_FIELD_DESCRIPTION, _MESG_DEVELOPER_DATA_ID,
})

#: Record columns collected per sample, by FIT field name (components included).
_RECORD_COLS: tuple[str, ...] = (
    "timestamp", "heart_rate", "speed", "enhanced_speed", "altitude", "enhanced_altitude",
    "distance", "position_lat", "position_long", "cadence", "fractional_cadence", "power",
)
_COL = {n: i for i, n in enumerate(_RECORD_COLS)}
#: Record field numbers given to fitdecode in lean mode (speed 6 / altitude 2 /
#: compressed_speed_distance 8 expand into the enhanced_* and distance components).
_RECORD_FIELD_NUMS = frozenset({253, 0, 1, 2, 3, 4, 5, 6, 7, 8, 53, 73, 78})


# ----------------------------------------------------------------------------------------
# CRC-16 (FIT / CRC-16/ARC, reflected polynomial 0xA001, initial value 0)
# ----------------------------------------------------------------------------------------
def _make_crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


#: Block length (bytes) of the vectorised CRC; inputs of at least 8 blocks use it.
_CRC_BLOCK = 256
_crc_np: tuple[np.ndarray, list[int], list[int]] | None = None


def _crc_tables() -> tuple[np.ndarray, list[int], list[int]]:
    """The CRC table as a NumPy array, and the maps of a register value across
    :data:`_CRC_BLOCK` zero bytes (low byte, high byte; the CRC is linear, so they combine by
    XOR). Built once (~30 ms)."""
    global _crc_np
    if _crc_np is None:
        t = _CRC_TABLE

        def over_zeros(c: int) -> int:
            for _ in range(_CRC_BLOCK):
                c = (c >> 8) ^ t[c & 0xFF]
            return c

        _crc_np = (np.array(t, dtype=np.uint16), [over_zeros(v) for v in range(256)],
                   [over_zeros(v << 8) for v in range(256)])
    return _crc_np


def fit_crc16(data: bytes | memoryview, crc: int = 0) -> int:
    """FIT CRC-16 (CRC-16/ARC) of ``data`` continuing from ``crc``; the same result as
    ``fitdecode.utils.compute_crc``.

    Short inputs use one table lookup per byte. Longer ones are cut into
    :data:`_CRC_BLOCK`-byte blocks whose CRCs are computed together, one NumPy step per byte
    position, then chained: this CRC has zero initial value and no final XOR, so it is linear
    and the register after a block is ``(register before, carried across the block's length
    of zeros) XOR (the block's own CRC)``. ~20x faster on a 100 kB file than the byte loop."""
    t = _CRC_TABLE
    n_blocks = len(data) // _CRC_BLOCK
    if n_blocks >= 8:
        table, lo, hi = _crc_tables()
        m = np.frombuffer(data, dtype=np.uint8, count=n_blocks * _CRC_BLOCK).reshape(n_blocks, _CRC_BLOCK)
        regs = np.zeros(n_blocks, dtype=np.uint16)
        for j in range(_CRC_BLOCK):
            regs = (regs >> 8) ^ table[(regs ^ m[:, j]) & 0xFF]
        for r in regs.tolist():
            crc = lo[crc & 0xFF] ^ hi[crc >> 8] ^ r
        data = memoryview(data)[n_blocks * _CRC_BLOCK:]
    for b in data:
        crc = (crc >> 8) ^ t[(crc ^ b) & 0xFF]
    return crc


# ----------------------------------------------------------------------------------------
# Lean fitdecode reader
# ----------------------------------------------------------------------------------------
_BYTE_ID = _fd_types.BASE_TYPE_BYTE.identifier


@dataclass
class _Plan:
    """How to unpack one definition's data messages and which values fitdecode gets."""

    unpacker: struct.Struct
    #: (first value index, number of values, parse function, is BYTE array) per kept field
    items: list[tuple[int, int, Any, bool]]


_SKIP = "skip"
_RECORD = "record"
_NCOLS = len(_RECORD_COLS)
_NAN = math.nan
_MAX_VALUES = MAX_RECORDS * _NCOLS


def _fast_plan(d: Any, num: int) -> tuple[Any, ...] | None:
    """How :meth:`_LeanFitReader._read_record` handles the data messages of definition ``d``
    (global message number ``num``) without fitdecode, or ``None`` to let fitdecode decode them.

    * ``(_SKIP, size, ts_unpacker, ts_offset, ts_parse)``: a message this reader does not use
      (neither a record nor one of :data:`_FULL_MESGS`). Its ``size`` payload bytes are
      skipped; only its ``timestamp`` field (when it has one) is read, because a later
      compressed-timestamp header counts from it.
    * ``(_RECORD, size, unpacker, items)``: a record message whose used fields are plain
      numbers (no sub-fields, enums, arrays or accumulated components; compressed
      speed/distance stays with fitdecode). ``items`` are ``(value index, parse, is
      timestamp, targets)`` in definition order and each target ``(column, bit shift, bit
      mask or None, scale, offset)`` in fitdecode's order (components before the field), so
      the first valid value of a column wins, exactly as in :func:`_decode`.
    """
    fmt = d.endian
    offsets: list[tuple[Any, int, int, int]] = []  # (field def, value index, byte offset, count)
    vi = off = 0
    for fdef in list(d.field_defs) + list(d.dev_field_defs):
        bt = fdef.base_type
        count = int(fdef.size / bt.size)
        if count <= 0:
            return None  # fitdecode reports the bad definition
        fmt += f"{count}{bt.fmt}"
        offsets.append((fdef, vi, off, count))
        vi += 1 if bt.fmt == "s" else count
        off += fdef.size
    unpacker = struct.Struct(fmt)
    if unpacker.size != off:
        return None
    ndev = len(d.dev_field_defs)
    own = offsets[: len(offsets) - ndev] if ndev else offsets
    if num != _MESG_RECORD:
        ts = [(f, o, c) for f, _, o, c in own if f.def_num == _FIELD_TIMESTAMP]
        if not ts:
            return (_SKIP, off, None, 0, None)
        f, o, c = ts[0]
        bt = f.base_type
        if c != 1 or bt.fmt == "s" or bt.identifier == _BYTE_ID:
            return None
        return (_SKIP, off, struct.Struct(d.endian + bt.fmt), o, bt.parse)
    mesg_type = d.mesg_type
    items: list[tuple[int, Any, bool, list[tuple[int, int, int | None, Any, Any]]]] = []
    for fdef, vi, _, count in own:
        if fdef.def_num not in _RECORD_FIELD_NUMS:
            continue
        f = fdef.field
        if f is None:
            continue
        bt = fdef.base_type
        if count != 1 or bt.fmt == "s" or bt.identifier == _BYTE_ID or f.subfields or f.type.enum:
            return None
        targets: list[tuple[int, int, int | None, Any, Any]] = []
        for comp in f.components or ():
            cf = mesg_type.fields.get(comp.def_num) if mesg_type else None
            if comp.accumulate or cf is None or cf.subfields or cf.type.enum:
                return None
            if cf.name in _COL:
                targets.append((_COL[cf.name], comp.bit_offset, (1 << comp.bits) - 1, comp.scale, comp.offset))
        if f.name in _COL:
            targets.append((_COL[f.name], 0, None, f.scale, f.offset))
        items.append((vi, bt.parse, fdef.def_num == _FIELD_TIMESTAMP, targets))
    return (_RECORD, off, unpacker, items)


class _LeanFitReader(fitdecode.FitReader):
    """A :class:`fitdecode.FitReader` tuned for reading activities from memory.

    See the module docstring. Only the I/O primitives and the set of fields handed to
    fitdecode's own message decoding change; every yielded data message is decoded by
    fitdecode. Definition frames yielded are the file's own (complete) definitions.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__(
            io.BytesIO(b""),
            processor=None,
            check_crc=fitdecode.CrcCheck.DISABLED,
            error_handling=fitdecode.ErrorHandling.IGNORE,
        )
        self._buf = data
        self._pos = 0
        self._end = len(data)
        self._file_start = 0
        self._plans: dict[int, tuple[Any, _Plan]] = {}
        #: local message number -> how its data messages are handled without fitdecode
        self._fast: dict[int, tuple[Any, ...]] = {}
        #: where record rows decoded without fitdecode go (set by :func:`_decode`)
        self.values: array = array("d")
        self.name = ""
        #: data messages skipped unread / records decoded directly (for tests and benchmarks)
        self.n_skipped = 0
        self.n_direct = 0

    # -- I/O from the in-memory buffer (no per-chunk CRC) ---------------------------------
    def _read_bytes(self, size: int) -> bytes:  # noqa: D401 - fitdecode hook
        if size <= 0:
            raise ValueError("size")
        pos = self._pos
        end = pos + size
        if end > self._end:
            raise FitEOFError(size, max(0, self._end - pos), self._read_offset)
        self._pos = end
        self._chunk_size += size
        self._read_offset += size
        self._read_size += size
        return self._buf[pos:end]

    def _read_header(self) -> None:
        self._file_start = self._pos
        self._fast = {}  # definitions do not carry over to a chained FIT file
        super()._read_header()

    def _read_crc(self) -> Any:
        computed = fit_crc16(memoryview(self._buf)[self._file_start:self._pos])
        _, read_crc = self._read_struct("<H")
        if computed != read_crc:
            raise FitCRCError(
                f"mismatching CRC in FIT footer (footer offset: {self._chunk_offset}; "
                f"read crc: {read_crc}; expected crc: {computed})"
            )
        return _fd_records.FitCRC(read_crc, True, None)

    # -- definitions: keep the full layout for unpacking, give fitdecode only what we use --
    def _read_definition_message(self, header_chunk: bytes, record_header: Any) -> Any:
        full = super()._read_definition_message(header_chunk, record_header)
        num = full.global_mesg_num
        if num in _FULL_MESGS:
            keep = None
        elif num == _MESG_RECORD:
            keep = _RECORD_FIELD_NUMS
        else:
            keep = frozenset({_FIELD_TIMESTAMP})
        fmt = full.endian
        items: list[tuple[int, int, Any, bool]] = []
        kept_defs = []
        vi = 0
        for is_dev, fdef in [(False, f) for f in full.field_defs] + [(True, f) for f in full.dev_field_defs]:
            bt = fdef.base_type
            count = int(fdef.size / bt.size)
            if count <= 0:
                raise FitParseError(self._chunk_offset, f"field {fdef.def_num} has size {fdef.size}")
            fmt += f"{count}{bt.fmt}"
            nvals = 1 if bt.fmt == "s" else count
            if keep is None or (not is_dev and fdef.def_num in keep):
                items.append((vi, nvals, bt.parse, bt.identifier == _BYTE_ID))
                kept_defs.append((is_dev, fdef))
            vi += nvals
        self._fast.pop(record_header.local_mesg_num, None)
        if keep is not None:
            fast = _fast_plan(full, num)
            if fast is not None:
                self._fast[record_header.local_mesg_num] = fast
        if keep is None:
            lean = full
        else:
            lean = _fd_records.FitDefinitionMessage(
                False, full.local_mesg_num, full.time_offset, full.mesg_type, num, full.endian,
                [f for d, f in kept_defs if not d], [], None,
            )
            self._local_mesg_defs[record_header.local_mesg_num] = lean
        self._plans[id(lean)] = (lean, _Plan(struct.Struct(fmt), items))
        return full

    # -- data messages handled without fitdecode -----------------------------------------
    def _read_record(self) -> Any:
        """Skip an unused data message, or decode a simple record message straight into
        :attr:`values`, returning ``None``; anything else goes to fitdecode."""
        pos = self._pos
        if pos >= self._end:
            return super()._read_record()
        h = self._buf[pos]
        if h & 0x80:  # compressed timestamp header: a data message
            fast = self._fast.get((h >> 5) & 0x3)
        elif h & 0x40:  # definition message
            return super()._read_record()
        else:
            fast = self._fast.get(h & 0xF)
        if fast is None or pos + 1 + fast[1] > self._end:
            return super()._read_record()  # (a truncated message raises fitdecode's error)
        if fast[0] is _SKIP:
            _, size, ts_unpacker, ts_off, ts_parse = fast
            if ts_unpacker is not None:
                raw = ts_parse(ts_unpacker.unpack_from(self._buf, pos + 1 + ts_off)[0])
                if raw is not None:
                    self._compressed_ts_accumulator = raw
            if h & 0x80:
                self._compressed_ts_accumulator = self._apply_compressed_accumulation(
                    h & 0x1F, self._compressed_ts_accumulator, 5)
            self.n_skipped += 1
        else:
            _, size, unpacker, items = fast
            vals = unpacker.unpack_from(self._buf, pos + 1)
            row: list[Any] = [None] * _NCOLS
            for vi, parse, is_ts, targets in items:
                raw = parse(vals[vi])
                if raw is None:
                    continue
                if is_ts:
                    self._compressed_ts_accumulator = raw
                for ci, shift, mask, scale, offset in targets:
                    if row[ci] is not None:
                        continue
                    v = raw if mask is None else (raw >> shift) & mask
                    if scale:
                        v = float(v) / scale
                    if offset:
                        v = v - offset
                    row[ci] = v
            if h & 0x80:
                ts = self._apply_compressed_accumulation(h & 0x1F, self._compressed_ts_accumulator, 5)
                self._compressed_ts_accumulator = ts
                if row[0] is None:
                    row[0] = ts
            values = self.values
            values.extend([_NAN if v is None else v for v in row])
            if len(values) > _MAX_VALUES:
                raise ImplausibleWorkout(self.name, f"more than {MAX_RECORDS:,} FIT records, more samples than a workout may hold")
            self.n_direct += 1
        n = 1 + size
        self._pos = pos + n
        self._chunk_size += n
        self._read_offset += n
        self._read_size += n
        return None

    def _read_next(self) -> Any:  # noqa: C901 - fitdecode's loop, minus the messages handled above
        """fitdecode's frame loop (``FitReader._read_next``), not yielding the data messages
        :meth:`_read_record` handled itself."""
        while self._fd is not None:
            if self._header is None:
                self._reset_per_fit_state()
                self._read_header()
                if self._header is None:
                    break
                self._fit_file_index += 1
                yield self._header
            elif self._body_bytes_left > 0:
                record = self._read_record()
                if self._chunk_size > self._body_bytes_left:
                    raise FitParseError(self._chunk_offset, "message runs past the end of the FIT data")
                self._body_bytes_left -= self._chunk_size
                if record is not None:
                    yield record
            else:
                crc_obj = self._read_crc()
                yield crc_obj
                self._reset_per_fit_state()
            if self._fd is not None:
                self._chunk_index += 1
                self._chunk_offset += self._chunk_size
                self._chunk_size = 0

    def _read_data_message_raw_values(self, def_mesg: Any) -> tuple[list[bytes], list[Any]]:
        entry = self._plans.get(id(def_mesg))
        if entry is None or entry[0] is not def_mesg:  # defensive: unknown definition object
            return super()._read_data_message_raw_values(def_mesg)
        plan = entry[1]
        size = plan.unpacker.size
        vals = plan.unpacker.unpack(self._read_bytes(size)) if size else ()
        out: list[Any] = []
        for i, n, parse, is_byte in plan.items:
            if is_byte:
                out.append(parse(vals[i:i + n]))
            elif n == 1:
                out.append(parse(vals[i]))
            else:
                out.append(tuple(parse(v) for v in vals[i:i + n]))
        return [], out


def _lean_supported() -> bool:
    """Whether the installed fitdecode has the private hooks :class:`_LeanFitReader` uses."""
    needed = ("_read_bytes", "_read_header", "_read_crc", "_read_definition_message",
              "_read_data_message_raw_values", "_read_struct", "_local_mesg_defs", "_read_next",
              "_read_record", "_reset_per_fit_state", "_compressed_ts_accumulator",
              "_apply_compressed_accumulation", "_body_bytes_left", "_chunk_size", "_header")
    try:
        probe = fitdecode.FitReader(b"")
        ok = all(hasattr(probe, n) for n in needed)
        params = list(inspect.signature(_fd_records.FitDefinitionMessage.__init__).parameters)
        ok = ok and params[1:] == ["is_developer_data", "local_mesg_num", "time_offset", "mesg_type",
                                   "global_mesg_num", "endian", "field_defs", "dev_field_defs", "chunk"]
        probe.close()
        return ok
    except Exception:  # pragma: no cover - only on an incompatible fitdecode
        return False


_LEAN_OK = _lean_supported()
if not _LEAN_OK:  # pragma: no cover
    log.warning("fitdecode %s lacks the hooks of the fast FIT path; using the plain reader",
                getattr(fitdecode, "__version__", "?"))
