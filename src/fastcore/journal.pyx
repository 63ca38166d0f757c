# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The write-ahead journal: every input the engine takes, on disk before any
of its effects are sent (see journal.pxd for the record format).

::

    from fastcore.journal import Journal, records

    journal = Journal("store/journal", fsync="batch")   # opens the last segment
    journal.append("F", user, now, raw_fix_message)     # Cython: journal.add(...)
    journal.flush()                                     # the group commit
    for r in records("store/journal", after=1000):      # r.kind, r.seq, r.user, r.now, r.data
        ...

The journal is a directory of segments, ``<first seq, 20 digits>.wal``,
each beginning with the 8 bytes ``FCJRNL01`` and then records back to back,
numbered 1, 2, ... across segments with no gap. A segment is closed once it
holds ``segment_size`` bytes and the next begins.

Kinds of record (what ``data`` holds): ``F`` a FIX application message of
the session of user ``user`` (its bytes as received); ``M`` an order sent on
the msgspec port (the msgpack frame); ``A`` a desk or staged-order command
(msgpack ``[command, args]``); ``R`` the operator's reset (msgpack: the new
engine's configuration); ``S`` (a cluster's log only) the sequence reset of
the session of user ``user``: its MsgSeqNums begin again at 1.

Crash safety: opening the journal reads its last segment and cuts off a
record a crash left torn (short, or failing its CRC) and whatever follows
it; ``cut`` tells how many bytes went. Anywhere else, a record that fails
its checks is corruption, not a crash: reading it raises JournalError.

One writer: a Journal holds its directory locked (``flock``) while it is
open, and another one, in this process or another, is refused (JournalError).
"""

import fcntl
import os

import msgspec

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport errno
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport realloc, free
from libc.string cimport memcpy, memmove
from posix cimport unistd

from fastcore._bytes cimport get_le, put_be, put_le
from fastcore._files cimport pwrite_all, raise_os
from fastcore._memory cimport reserve
from fastcore._types cimport nanos_t
from fastcore.errors import JournalError

MAGIC = b"FCJRNL01"
SUFFIX = ".wal"
FSYNC_POLICIES = ("none", "batch", "always")
"""The fsync policies, in the order of SYNC_NONE, SYNC_BATCH, SYNC_ALWAYS."""

KINDS = frozenset("FMARS")

cdef enum:
    MAGIC_LEN = 8
    FIRST_BUFFER = 1 << 16

cdef uint32_t ONES = 0xFFFFFFFFu
cdef uint32_t POLY = 0xEDB88320u          # CRC-32, reflected


# ---- CRC-32 (the polynomial of zlib, gzip and PNG), slicing by 8 ------------------

cdef uint32_t crc_table[8][256]


cdef void _crc_init() noexcept:
    cdef uint32_t i, j, c
    for i in range(256):
        c = i
        for j in range(8):
            c = (c >> 1) ^ (POLY if c & 1 else 0)
        crc_table[0][i] = c
    for i in range(256):
        for j in range(1, 8):
            crc_table[j][i] = (crc_table[j - 1][i] >> 8) ^ crc_table[0][crc_table[j - 1][i] & 0xFF]


_crc_init()


cdef uint32_t crc32_of(const char* data, Py_ssize_t n) noexcept nogil:
    """CRC-32 of ``data[:n]``, as zlib.crc32 computes it."""
    cdef const uint8_t* p = <const uint8_t*>data
    cdef uint32_t c = ONES, lo, hi
    while n >= 8:
        lo = c ^ (p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24))
        hi = p[4] | (<uint32_t>p[5] << 8) | (<uint32_t>p[6] << 16) | (<uint32_t>p[7] << 24)
        c = (crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF]
             ^ crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24]
             ^ crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF]
             ^ crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24])
        p += 8
        n -= 8
    while n > 0:
        c = (c >> 8) ^ crc_table[0][(c ^ p[0]) & 0xFF]
        p += 1
        n -= 1
    return c ^ ONES


def crc32(data):
    """CRC-32 of ``data`` (bytes), equal to ``zlib.crc32(data)``."""
    cdef bytes b = bytes(data)
    return crc32_of(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))


# ---- writing -----------------------------------------------------------------------

def segment_name(int64_t first):
    """The file name of the segment whose first record is ``first``."""
    return f"{first:020d}{SUFFIX}"


cdef class Records:
    """Journal records in memory, framed as in a journal file: what a
    cluster's gateway publishes as one log entry (``take``), and the base of
    the Journal. ``seq``: the number the last record added was given."""

    def __cinit__(self, *args, **kwargs):
        self.cap = FIRST_BUFFER
        self.buf = <char*>realloc(NULL, self.cap)
        if self.buf == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.buf)

    cdef int add(self, char kind, uint16_t user, nanos_t now, const char* data,
                 Py_ssize_t n) except -1:
        """Append a record of ``data[:n]``, numbered ``seq + 1``."""
        cdef Py_ssize_t need = self.len + FRAME + HEAD + n
        cdef char* w
        if n > <Py_ssize_t>ONES - HEAD:
            raise ValueError(f"a record of {n} bytes")
        reserve(&self.buf, &self.cap, need)
        self.seq += 1
        w = self.buf + self.len
        put_le(w, HEAD + n, 4)
        w[8] = <char>0x95                          # fixarray of 5
        w[9] = <char>0xa1                          # fixstr of 1
        w[10] = kind
        w[11] = <char>0xcf                         # uint 64
        put_be(w + 12, <uint64_t>self.seq, 8)
        w[20] = <char>0xcd                         # uint 16
        put_be(w + 21, user, 2)
        w[23] = <char>0xd3                         # int 64
        put_be(w + 24, <uint64_t>now, 8)
        w[32] = <char>0xc6                         # bin 32
        put_be(w + 33, <uint64_t>n, 4)
        memcpy(w + FRAME + HEAD, data, n)
        put_le(w + 4, crc32_of(w + FRAME, HEAD + n), 4)
        self.len = need
        return 0

    def append(self, str kind not None, int user, nanos_t now, data not None):
        """Append a record (``kind`` one of F M A R; ``user`` the engine's
        index of the user, or -1 for none; ``data`` bytes); returns its seq."""
        cdef bytes b = bytes(data)
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(sorted(KINDS))}")
        self.add(ord(kind), NO_USER if user < 0 else <uint16_t>user, now,
                 PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        return self.seq

    def take(self, Py_ssize_t limit=0):
        """The records added since the last ``take``, as bytes, and gone from
        the buffer; with ``limit``, only the first ones within ``limit``
        bytes (at least one)."""
        cdef Py_ssize_t cut = self.len, pos = 0, size
        cdef bytes out
        if limit and self.len > limit:
            cut = 0
            while cut < self.len:
                size = FRAME + get_le(self.buf + cut, 4)
                if cut and cut + size > limit:
                    break
                cut += size
        out = PyBytes_FromStringAndSize(self.buf, cut)
        memmove(self.buf, self.buf + cut, self.len - cut)
        self.len -= cut
        return out

    def __len__(self):
        """Bytes held."""
        return self.len


cdef class Journal(Records):
    """The journal in ``directory`` (created if need be), opened to append.

    ``fsync``: ``"none"`` (the OS writes when it will: nothing is lost when
    the process dies, the last records may be when the machine does),
    ``"batch"`` (each commit is on the disk before it returns: before the
    batch's messages are sent) or ``"always"`` (each record is, before the
    engine takes it). ``segment_size``: bytes after which a segment is
    closed and the next begun.
    """

    def __cinit__(self, directory, str fsync="none", int64_t segment_size=64 << 20):
        self.fd = self.lock = -1
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync {fsync!r} is not one of {', '.join(FSYNC_POLICIES)}")
        if segment_size < 4096:
            raise ValueError(f"segment_size {segment_size} is below 4096 bytes")
        self.fsync = FSYNC_POLICIES.index(fsync)
        self.segment_size = segment_size
        self.directory = os.fsdecode(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.lock = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.lock)
            self.lock = -1
            raise JournalError(self.directory, None, "in use: another writer has this journal "
                               "open (two servers on one journal would interleave their "
                               "records)") from None
        found = segments(self.directory)
        if not found:
            self.seq = 0
            self._open_segment()
        else:
            first, path = found[len(found) - 1]
            self.seq, end, self.cut = _check_tail(path, first)
            self.path = path
            self.fd = os.open(path, os.O_WRONLY)
            self.size = end
            if self.cut:
                os.ftruncate(self.fd, end)
        self.written = self.seq

    def __dealloc__(self):
        if self.fd >= 0:
            try:                                # a dropped journal: what it can
                self.commit()
            except (OSError, ValueError):
                pass
            unistd.close(self.fd)
        if self.lock >= 0:
            unistd.close(self.lock)

    cdef int add(self, char kind, uint16_t user, nanos_t now, const char* data,
                 Py_ssize_t n) except -1:
        """``Records.add``; written at the next commit (at once under fsync
        "always")."""
        Records.add(self, kind, user, now, data, n)
        if self.fsync == SYNC_ALWAYS:
            self.commit()
        return 0

    cdef int commit(self) except -1:
        """Write the records added since the last commit (one write), sync
        them as the policy asks, and begin a new segment if this one is full."""
        cdef int err = 0
        cdef Py_ssize_t done
        if self.len == 0:
            return 0
        if self.fd < 0:
            raise ValueError(f"{self.directory}: the journal is closed")
        with nogil:
            err = pwrite_all(self.fd, self.buf, self.len, self.size, &done)
            if err == 0 and self.fsync != SYNC_NONE and unistd.fdatasync(self.fd) < 0:
                err = errno
        if err:
            os.ftruncate(self.fd, self.size)    # what was written of it is a torn tail: cut it
            raise_os(err, self.path)
        self.size += self.len
        self.len = 0
        self.written = self.seq
        if self.size >= self.segment_size:
            unistd.close(self.fd)
            self.fd = -1
            self._open_segment()
        return 0

    cdef int _open_segment(self) except -1:
        """Begin the segment of the records from seq + 1."""
        self.path = os.path.join(self.directory, segment_name(self.seq + 1))
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(self.fd, MAGIC)
        self.size = MAGIC_LEN
        if self.fsync != SYNC_NONE:
            os.fsync(self.fd)
            _sync_directory(self.directory)
        return 0

    # ---- the Python edge -----------------------------------------------------------

    def flush(self):
        """Commit: the records appended so far to the file (and the disk, as
        the fsync policy asks)."""
        self.commit()

    def close(self):
        """Commit and close. Closing a closed journal does nothing."""
        if self.fd >= 0:
            try:
                self.commit()
            finally:
                unistd.close(self.fd)
                self.fd = -1
                unistd.close(self.lock)
                self.lock = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<Journal {self.directory} seq {self.seq} ({FSYNC_POLICIES[self.fsync]})>"


def _sync_directory(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- reading ------------------------------------------------------------------------

class Record(msgspec.Struct, array_like=True, frozen=True):
    """One journal record: what the engine took (``kind``, ``data``), from
    which user (the engine's index, 65535 for none), when (``now``, ns)."""
    kind: str
    seq: int
    user: int
    now: int
    data: bytes


_decode = msgspec.msgpack.Decoder(Record).decode


def numbered(directory, str suffix):
    """The files of ``directory`` named as a record's seq in 20 digits and
    ``suffix`` (journal segments, snapshots): [(seq, path)], in order."""
    out = []
    for name in os.listdir(directory):
        if name.endswith(suffix) and len(name) == 20 + len(suffix) and name[:20].isdigit():
            out.append((int(name[:20]), os.path.join(directory, name)))
    out.sort()
    return out


def segments(directory):
    """The segments of the journal in ``directory``: [(first seq, path)], in order."""
    return numbered(directory, SUFFIX)


def _frames(data, str path, int64_t first, Py_ssize_t pos=MAGIC_LEN):
    """The records of one segment's bytes, then its valid length (a tuple
    ("end", offset, why) ends the walk: why is None at a clean end). From
    ``pos`` 0: records with no segment magic before them (``Records``'),
    numbered from ``first``, or as they come when ``first`` is 0."""
    cdef Py_ssize_t n = len(data), length
    cdef int64_t expected = first
    if pos and data[:MAGIC_LEN] != MAGIC:
        yield ("end", 0, "not a journal segment (no FCJRNL01 at its start)")
        return
    while pos < n:
        if n - pos < FRAME:
            yield ("end", pos, f"a frame header cut short ({n - pos} bytes)")
            return
        length = int.from_bytes(data[pos:pos + 4], "little")
        if length < HEAD or n - pos - FRAME < length:
            yield ("end", pos, f"a record of {length} bytes where {n - pos - FRAME} remain")
            return
        payload = data[pos + FRAME:pos + FRAME + length]
        if crc32(payload) != int.from_bytes(data[pos + 4:pos + 8], "little"):
            yield ("end", pos, "a record fails its CRC")
            return
        try:
            record = _decode(payload)
        except msgspec.DecodeError as exc:
            yield ("end", pos, f"a record that is not msgpack: {exc}")
            return
        if first and record.seq != expected:
            yield ("end", pos, f"record {record.seq} where {expected} was due")
            return
        yield record
        expected += 1
        pos += FRAME + length
    yield ("end", pos, None)


def _check_tail(str path, int64_t first):
    """The last segment on opening: (its last seq, where its valid records
    end, the bytes after them: a torn tail to cut)."""
    with open(path, "rb") as f:
        data = f.read()
    last = first - 1
    for item in _frames(data, path, first):
        if type(item) is tuple:
            _, end, why = item
            if end == 0:
                if not MAGIC.startswith(data):  # records under a damaged magic: corruption
                    raise JournalError(path, 0, why)
                with open(path, "wb") as f:     # a crash while the segment was begun
                    f.write(MAGIC)
                return last, MAGIC_LEN, 0
            return last, end, len(data) - end
        last = item.seq
    raise AssertionError("unreachable")


def records(directory, int64_t after=0):
    """The records of the journal in ``directory`` numbered above ``after``,
    in order. JournalError when one fails its checks anywhere but at the
    end of the last segment (a torn tail, which the writer cuts on opening),
    or when the segments leave a gap after ``after``."""
    found = segments(directory)
    expected = after + 1
    for i, (first, path) in enumerate(found):
        nxt = found[i + 1][0] if i + 1 < len(found) else None
        if nxt is not None and nxt <= expected:
            continue                    # wholly at or before `after`
        if first > expected:
            raise JournalError(path, None, f"the journal has no record {expected} "
                               f"(this segment begins at {first})")
        with open(path, "rb") as f:
            data = f.read()
        for item in _frames(data, path, first):
            if type(item) is tuple:
                _, end, why = item
                if why is not None and (nxt is not None or end == 0 and not MAGIC.startswith(data)):
                    raise JournalError(path, end, why)
                if nxt is not None and expected != nxt:
                    raise JournalError(path, end, f"ends at record {expected - 1}, the next "
                                       f"segment begins at {nxt}")
                break
            if item.seq >= expected:
                yield item
                expected = item.seq + 1


def frames(data, str where="records"):
    """The records ``Records.take`` gave as bytes (a cluster's log entry),
    in order; JournalError, naming ``where``, when they do not read whole."""
    for item in _frames(data, where, 0, 0):
        if type(item) is tuple:
            _, end, why = item
            if why is not None:
                raise JournalError(where, end, why)
            return
        yield item
