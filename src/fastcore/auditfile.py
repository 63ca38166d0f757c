"""Audit-trail files: read, append, query and export them.

The engine appends a record for every step of every order (CME Rule 536.E:
timestamp in, each portion entered, timestamp out; seed 003) to its
``AuditTrail``; the edge takes them as bytes once per batch and appends
them to a file opened with ``open_append``:

    fh = auditfile.open_append("audit.bin")     # locked; MAGIC when new; a torn tail cut
    engine.audit.start(now)
    fh.write(engine.audit.take())               # once per batch (flushed)

    trail = auditfile.read("audit.bin")         # Trail(records, torn)
    for rec in auditfile.query(trail.records, "CL-17"):   # a ClOrdID or an OrderID
        print(rec.time, rec.kind, rec.event, rec.portion, rec.qty, rec.px)
    auditfile.write_csv(trail.records, sys.stdout)

The file is ``MAGIC`` followed by the records, as ``AuditTrail.take()``
returns them; records are never rewritten, only appended. A record is a
fixed 72-byte little-endian part (``fastcore.audit.RECORD``, described in
``audit.pxd``): length (uint32: the whole record's bytes, texts included),
portion (uint32), ts, order_id, master_id, exec_id, exec_ref, qty, px
(int64 each), kind, exec_type, side, ord_type, tif, oti, source (a byte
each) and entirety (uint8). A received ("in") record and a "replaced" one
(kind O, ExecType 5) are followed by six texts, each a uint32 length and its
latin-1 bytes: ClOrdID, user, account, symbol, customer, client account; on
a "replaced" record they are the order's texts after the replace (its new
ClOrdID). Any other record is the fixed part alone. As the first field is
the length of the whole record, a file that ends inside a record (a crash
in the middle of a write) is recognised: readers ignore that torn tail and
``open_append`` cuts it off. A length that its record's fixed part belies
(a kind without texts and more than 72 bytes, an unknown kind) is refused,
never taken for a torn tail.

Runs. A "start" record marks an engine start. ``Record.run`` counts the
runs of the data from 0: each "start" record begins the next run, except
one that is the very first record (the usual case: a file begins with its
first run's "start"). A server with a journal recovers its orders at a
start: their ids go on, and an order's records may span runs. Without one,
order ids count from 1 again, so an order is identified by (run, order_id).

Joins. Only the records that carry texts ("in" and "replaced") hold an
order's texts; every record parsed after one for the same order_id gets
them from it (the latest such record of that order: after a replace, the
new ClOrdID). A record whose order has no record carrying texts before it
keeps empty texts. (When ids count again from 1, an order's "in" record
comes before any other of its records, so the latest is always its own.)
"""

from __future__ import annotations

import csv
import datetime
import fcntl
import functools
import io
import os
import struct
from typing import IO, Iterable, Iterator

import msgspec

from fastcore.audit import FIXED, RECORD, TEXTS
from fastcore.config import PX_DIGITS, QTY_DIGITS, decimal_text
from fastcore.errors import FastcoreError

MAGIC = b"FCAUDIT1"
"""The first bytes of an audit-trail file."""


_FIXED = struct.Struct(RECORD)
assert _FIXED.size == FIXED == 72
_U32 = struct.Struct("<I")            # a record's length (its first field); a text's length

KINDS = {b"S": "start", b"I": "in", b"E": "entered", b"O": "out"}
"""The record kinds, by their byte in the file."""

EVENTS = {b"F": "trade", b"4": "canceled", b"C": "expired", b"8": "rejected",
          b"3": "done_for_day", b"5": "replaced", b"H": "trade_cancel",
          b"G": "trade_correct", b"D": "restated"}
"""An "out" record's event, by its ExecType (150). An ExecType not listed
here is given as itself."""

_CHUNK = 1 << 20


class AuditFileError(FastcoreError):
    """Bytes that are not an audit trail: no MAGIC, or a record that cannot
    be one; or a trail another writer has open (``open_append``). ``path``
    is the file (None for bytes), ``offset`` where in it (None when not
    about one record)."""

    def __init__(self, why: str, path: str | None = None, offset: int | None = None) -> None:
        where = f"{path}: " if path is not None else ""
        if offset is not None:
            where += f"offset {offset}: "
        super().__init__(f"{where}{why}")
        self.why = why
        self.path = path
        self.offset = offset


class Record(msgspec.Struct, frozen=True):
    """One audit-trail record, in words and decimal text.

    ``kind`` is "start", "in" (timestamp in: an order or portion received),
    "entered" (a portion entered: in the book, or acknowledged by a desk) or
    "out" (an event; ``event`` names it: "trade", "canceled", "expired",
    "rejected", "done_for_day", "replaced", "trade_cancel" (a bust),
    "trade_correct" or "restated"; "" for the other kinds).

    ``portion`` is 0 for a master order and n for its n-th child order; on a
    master's "trade" mirrored from a child's fill, that child's portion.
    ``exec_id`` is the report's ExecID (0 but on "out"), ``exec_ref`` the
    ExecRefID of a bust or correction: the latest ExecID of that fill.

    ``qty`` and ``px`` are exact decimals without trailing zeros: on "in"
    the OrderQty and Price (0 for a market order); on "trade" and
    "trade_correct" the LastQty and LastPx; otherwise the order's quantity
    and price after the event. ``side``, ``ord_type``, ``tif``, ``oti``
    (order type indicator: L limit, D DRT, Q other) and ``source`` (the FIA
    execution source code: W Y C G H D) are the FIX characters, "" when
    unset; ``entirety`` (on "in"): entered in its entirety on receipt.

    ``clordid``, ``user``, ``account`` (the TT account), ``client_account``
    (the client's own Account (1) when a secondary account mapped it),
    ``customer`` (TTCustomerName, the order profile) and ``symbol`` are the
    order's texts: those of its latest record that carries texts, its "in"
    record or, after a replace, its "replaced" record (the new ClOrdID). ``ts`` is ns since the epoch (UTC) and
    ``time`` the same instant in ISO 8601 with nanoseconds.
    """
    run: int
    time: str
    ts: int
    kind: str
    event: str
    order_id: int
    master_id: int
    portion: int
    exec_id: int
    exec_ref: int
    clordid: str
    user: str
    account: str
    client_account: str
    customer: str
    symbol: str
    side: str
    ord_type: str
    tif: str
    oti: str
    source: str
    entirety: bool
    qty: str
    px: str


FIELDS: tuple[str, ...] = Record.__struct_fields__
"""The fields of a record, in the order of the CSV columns."""


class Trail(msgspec.Struct, frozen=True):
    """A file's records, and ``torn``: the bytes of a record cut short at
    its end (a crash mid-write), ignored; 0 for a clean file."""
    records: list[Record]
    torn: int = 0


def iso_time(ts: int) -> str:
    """ns since the epoch as ISO 8601 UTC with nanoseconds
    (2026-11-21T09:30:00.123456789Z)."""
    seconds, ns = divmod(ts, 1_000_000_000)
    return f"{_second(seconds)}.{ns:09d}Z"


_EPOCH = datetime.datetime(1970, 1, 1)


@functools.lru_cache(maxsize=256)       # records come in bursts within a second
def _second(seconds: int) -> str:
    return (_EPOCH + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


_CHAR = {bytes([i]): chr(i) if i else "" for i in range(256)}    # a FIX char; NUL: unset


def _carries_texts(kind: bytes, exec_type: bytes) -> bool:
    """Whether a record of ``kind`` and ``exec_type`` carries the six texts:
    an "in" record, and a "replaced" one (kind O, ExecType 5)."""
    return kind == b"I" or (kind == b"O" and exec_type == b"5")


def _refusal(length: int, kind: bytes, exec_type: bytes) -> str | None:
    """Why a record's fixed part cannot be a record's of ``length`` bytes;
    None when it can."""
    name = KINDS.get(kind)
    if name is None:
        return f"a record of unknown kind {kind!r}"
    if _carries_texts(kind, exec_type):
        if length < FIXED + 4 * TEXTS:
            return (f"{_label(kind)} record of {length} bytes: too short for its "
                    f"{TEXTS} texts")
    elif length != FIXED:
        article = "an" if name[0] in "aeiou" else "a"
        return (f"{article} {name!r} record of {length} bytes: only 'in' and 'replaced' "
                f"records have texts")
    return None


def _label(kind: bytes) -> str:
    return "an 'in'" if kind == b"I" else "a 'replaced'"


class Parser:
    """Records out of successive chunks of audit-trail bytes (no MAGIC):
    ``feed`` returns the records complete so far and keeps a record cut at
    the chunk's end for the next chunk; ``pending`` is its byte count. The
    runs and joins carry on across chunks. ``run`` numbers the first run.
    """

    def __init__(self, *, run: int = 0, path: str | None = None, offset: int = 0) -> None:
        self.run = run
        self.path = path
        self.offset = offset            # of the next byte fed, for errors
        self._tail = b""
        self._started = False           # a record seen: the next "start" is a new run
        self._texts: dict[int, tuple[str, ...]] = {}   # order_id -> texts

    @property
    def pending(self) -> int:
        """Bytes of an incomplete record waiting for the next chunk."""
        return len(self._tail)

    def feed(self, data: bytes) -> list[Record]:
        """The records completed by ``data``."""
        if self._tail:
            data = self._tail + data
        base = self.offset - len(self._tail)
        out: list[Record] = []
        unpack, length_at, n, pos = _FIXED.unpack_from, _U32.unpack_from, len(data), 0
        empty, char = ("",) * TEXTS, _CHAR
        while n - pos >= 4:
            (length,) = length_at(data, pos)
            if length < FIXED:
                raise AuditFileError(f"a record's length is {length}, below {FIXED}",
                                     self.path, base + pos)
            if n - pos < FIXED:
                break
            (_, portion, ts, order_id, master_id, exec_id, exec_ref, qty, px,
             kind, exec_type, side, ord_type, tif, oti, source, entirety) = unpack(data, pos)
            why = _refusal(length, kind, exec_type)
            if why is not None:
                raise AuditFileError(why, self.path, base + pos)
            if n - pos < length:
                break
            if kind == b"S":
                if self._started:
                    self.run += 1
            self._started = True
            if _carries_texts(kind, exec_type):
                texts = self._read_texts(data, pos, length, base, kind)
                self._texts[order_id] = texts
            else:
                texts = self._texts.get(order_id, empty) if kind != b"S" else empty
            clordid, user, account, symbol, customer, client_account = texts
            out.append(Record(      # positional, in the order of FIELDS
                self.run, iso_time(ts), ts, KINDS[kind],
                (EVENTS.get(exec_type) or char[exec_type]) if kind == b"O" else "",
                order_id, master_id, portion, exec_id, exec_ref,
                clordid, user, account, client_account, customer, symbol,
                char[side], char[ord_type], char[tif], char[oti], char[source],
                entirety != 0, decimal_text(qty, QTY_DIGITS), decimal_text(px, PX_DIGITS)))
            pos += length
        self._tail = data[pos:]
        self.offset = base + n
        return out

    def _read_texts(self, data: bytes, pos: int, length: int, base: int,
                    kind: bytes) -> tuple[str, ...]:
        end, at, texts = pos + length, pos + FIXED, []
        for _ in range(TEXTS):
            if end - at < 4:
                raise AuditFileError(f"{_label(kind)} record's texts overrun its length",
                                     self.path, base + pos)
            (k,) = _U32.unpack_from(data, at)
            at += 4
            if end - at < k:
                raise AuditFileError(f"{_label(kind)} record's texts overrun its length",
                                     self.path, base + pos)
            texts.append(data[at:at + k].decode("latin-1"))
            at += k
        if at != end:
            raise AuditFileError(f"{_label(kind)} record has {end - at} bytes after its texts",
                                 self.path, base + pos)
        return tuple(texts)


def parse(data: bytes, *, run: int = 0) -> list[Record]:
    """The records of ``data``: bytes as ``AuditTrail.take()`` returns them
    (no MAGIC), each complete. ``run`` numbers the first run. Raises
    ``AuditFileError`` for bytes that are not records, or that end inside one."""
    parser = Parser(run=run)
    records = parser.feed(data)
    if parser.pending:
        raise AuditFileError(f"the data ends inside a record ({parser.pending} bytes)",
                             offset=len(data) - parser.pending)
    return records


def count_after(path: str | os.PathLike, offset: int) -> int:
    """The records of the file at ``path`` from byte ``offset`` (where a
    record begins) to its end, its run starts (S) left out."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    parser = Parser(path=os.fspath(path), offset=offset)
    return sum(r.kind != "start" for r in parser.feed(data))


def skip(data: bytes, n: int) -> bytes:
    """``data``, records as ``AuditTrail.take()`` gives them, without its
    first ``n`` records."""
    pos = 0
    for _ in range(n):
        if pos >= len(data):
            break
        pos += _U32.unpack_from(data, pos)[0]
    return data[pos:]


def _check_magic(fh: IO[bytes], path: str) -> None:
    head = fh.read(len(MAGIC))
    if head != MAGIC:
        raise AuditFileError("not an audit trail (no FCAUDIT1 at the start)", path)


def iter_file(path: str | os.PathLike) -> Iterator[Record]:
    """The records of an audit-trail file, read a chunk at a time. A torn
    last record is ignored (``read`` reports it). Raises ``AuditFileError``
    for a file that is not an audit trail, ``OSError`` for one that cannot
    be read."""
    return _records(os.fspath(path), [])


def _records(path: str, torn: list[int]) -> Iterator[Record]:
    with open(path, "rb") as fh:
        _check_magic(fh, path)
        parser = Parser(path=path, offset=len(MAGIC))
        while chunk := fh.read(_CHUNK):
            yield from parser.feed(chunk)
    torn.append(parser.pending)


def read(path: str | os.PathLike) -> Trail:
    """An audit-trail file's records; ``Trail.torn`` counts the bytes of a
    torn last record, which is ignored. Raises ``AuditFileError`` for a file
    that is not an audit trail, ``OSError`` for one that cannot be read."""
    torn: list[int] = []
    records = list(_records(os.fspath(path), torn))
    return Trail(records, torn[0])


def complete_size(path: str | os.PathLike) -> int:
    """The size of the file up to the end of its last complete record (its
    size, unless it ends with a torn record). Walks the records' lengths,
    each checked against its record's fixed part. Raises ``AuditFileError`` for a file that is not an audit trail."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        _check_magic(fh, path)
        return _walk(fh, path)


def _walk(fh: IO[bytes], path: str) -> int:
    """The offset after the last complete record, from after MAGIC. Checks
    each record's length against its fixed part (kind, and texts or none),
    the last record's too when its fixed part is there: a length broken in
    the middle of a file is refused, never taken for a torn tail."""
    end = start = len(MAGIC)
    buf = b""                         # the file's bytes from start on
    unpack, length_at = _FIXED.unpack_from, _U32.unpack_from
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            return end
        buf = buf[end - start:] + chunk
        start = end
        i, n = 0, len(buf)
        while n - i >= 4:
            (length,) = length_at(buf, i)
            if length < FIXED:
                raise AuditFileError(f"a record's length is {length}, below {FIXED}",
                                     path, start + i)
            if n - i < FIXED:
                break
            fields = unpack(buf, i)
            why = _refusal(length, fields[9], fields[10])     # kind, exec_type
            if why is not None:
                raise AuditFileError(why, path, start + i)
            if n - i < length:
                break
            i += length
        end = start + i


class _Flushed(io.BufferedWriter):
    """Flushed after every write: a batch reaches the OS whole, in one go."""

    def write(self, data) -> int:
        n = super().write(data)
        self.flush()
        return n


def open_append(path: str | os.PathLike) -> io.BufferedWriter:
    """The audit-trail file at ``path``, opened to append records to: write
    ``AuditTrail.take()`` into it once per batch; each write is flushed.

    The file is locked (``flock``, exclusive) while it is open: a trail
    another writer has open to append, in this process or another, is
    refused (``AuditFileError``, "in use"), as two servers appending to one
    trail would interleave their records. Closing the file releases it.

    A new or empty file gets MAGIC first. A file that ends with a torn
    record (a crash in the middle of a write) is cut back to its last
    complete record, once, here: complete records are never rewritten. A
    file that does not start with MAGIC is refused (``AuditFileError``);
    so is one whose records cannot be walked. Opening walks the records'
    lengths once (``complete_size``). No fsync: call ``os.fsync(fh.fileno())`` for that.
    """
    path = os.fspath(path)
    raw = io.FileIO(path, "a+")
    try:
        try:
            fcntl.flock(raw.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AuditFileError("the trail is in use: another writer has it open to append "
                                 "(two servers appending to one trail would interleave "
                                 "their records)", path) from None
        raw.seek(0)
        head = raw.read(len(MAGIC))
        if head != MAGIC:
            if MAGIC.startswith(head):      # empty, or MAGIC itself cut short
                raw.truncate(0)
                raw.write(MAGIC)
            else:
                raise AuditFileError("not an audit trail (no FCAUDIT1 at the start)", path)
        else:
            end = _walk(raw, path)
            if end < os.fstat(raw.fileno()).st_size:
                raw.truncate(end)
        raw.seek(0, os.SEEK_END)
        return _Flushed(raw)
    except BaseException:
        raw.close()
        raise


def query(records: Iterable[Record], order: int | str) -> list[Record]:
    """Every record of an order and its portions (child orders), in order:
    the records whose order_id or master_id is the order's.

    ``order`` is an OrderID (an int: that order id in every run) or a
    ClOrdID (a str), resolved to the order ids of the records carrying
    texts ("in", and "replaced": the new ClOrdID) with that ClOrdID: in
    their run and the runs after it, until a run where ids count from 1
    again (its first "in" record's order id is not above every earlier
    one's: a start without a journal). Any of an order's ClOrdIDs gives all
    its records, before and after its replaces. A str that no such record
    has as its ClOrdID and that is all digits is taken as an OrderID.
    """
    records = list(records)
    if isinstance(order, str):
        named: dict[int, set[int]] = {}          # run -> order ids it gave the ClOrdID
        first_in: dict[int, int] = {}            # run -> the order id of its first "in"
        top_of: dict[int, int] = {}              # run -> its highest order id
        for r in records:
            top_of[r.run] = max(top_of.get(r.run, 0), r.order_id)
            if r.kind == "in":
                first_in.setdefault(r.run, r.order_id)
            if r.clordid == order and (r.kind == "in" or r.event == "replaced"):
                named.setdefault(r.run, set()).add(r.order_id)
        if named:
            ids: dict[int, set[int]] = {}        # run -> the order ids the ClOrdID names there
            carried: set[int] = set()
            top = 0
            for run in top_of:                   # in order
                if first_in.get(run, top + 1) <= top:
                    carried = set()               # ids count from 1 again
                carried = carried | named.get(run, set())
                ids[run] = carried
                top = max(top, top_of[run])
            return [r for r in records if r.kind != "start"
                    and (r.order_id in ids[r.run] or r.master_id in ids[r.run])]
        if not (order.isascii() and order.isdigit()):
            return []
        order = int(order)
    return [r for r in records
            if r.kind != "start" and (r.order_id == order or r.master_id == order)]


def write_csv(records: Iterable[Record], fh: IO[str]) -> int:
    """Write the records to a text file as CSV, a header row first (the
    fields of ``Record``, ``FIELDS``); entirety is 1 or 0. Open the file
    with ``newline=""``. Returns the number of records."""
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(FIELDS)
    count = 0
    for r in records:
        row = [getattr(r, f) for f in FIELDS]
        row[FIELDS.index("entirety")] = int(r.entirety)
        w.writerow(row)
        count += 1
    return count


def write_jsonl(records: Iterable[Record], fh: IO[str]) -> int:
    """Write the records to a text file as JSON Lines: one object per record,
    keyed by the fields of ``Record``. Returns the number of records."""
    encode = msgspec.json.Encoder().encode
    count = 0
    for r in records:
        fh.write(encode(r).decode())
        fh.write("\n")
        count += 1
    return count
