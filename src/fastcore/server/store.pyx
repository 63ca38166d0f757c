# cython: language_level=3
"""The per-session message store of the FIX server (see store.pxd for the layout).

::

    from fastcore.server.store import FileStore

    store = FileStore("var/sessions", "FASTCORE-PM1")   # opens or creates
    seq = store.next_out
    store.append_bytes(seq, encoder.heartbeat(seq, now))  # Cython: store.append(seq, p, n)
    store.set_next_in(store.next_in + 1)
    store.flush()                      # or flush(fsync=True) to survive a power cut
    store.get(2, 0)                    # [(2, b"8=FIX.4.4..."), ...]: a ResendRequest's answer
    store.close()

Crash safety: flush writes .msgs before .seqs, and opening takes next_out as
at least the last stored MsgSeqNum + 1, so a crash between the two writes
loses nothing; a message cut short by a crash (the torn tail of .msgs) is
truncated on open. Garbled bytes inside .msgs are kept but not indexed.
Messages longer than the codec's BodyLength limit (65536) are not found again
after a reopen.
"""

import os
import re

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport errno, EIO
from libc.stdint cimport int64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport realloc, free
from libc.string cimport memcpy, memmove
from posix cimport unistd

from fastcore._files cimport pread_all, pwrite_all, raise_os
from fastcore.codec.parser cimport Message, P_GARBLED, P_PARTIAL
from fastcore.codec.values cimport read_int, V_OK

from fastcore.codec.parser import Parser

cdef enum:
    SCAN_CHUNK = 1 << 20      # bytes of .msgs read at a time when indexing it
    TAG_MSG_SEQ_NUM = 34

_SEQS = re.compile(rb"(\d{20}) (\d{20})(?: (\d{20}))?\n")


cdef int _grow(void** p, Py_ssize_t* cap, Py_ssize_t need, size_t size) except -1:
    """Grow the array ``p[0]`` of ``size``-byte items to hold ``need``, by doubling."""
    cdef Py_ssize_t c = cap[0] * 2 if cap[0] else 64
    cdef void* q
    while c < need:
        c *= 2
    q = realloc(p[0], c * size)
    if q == NULL:
        raise MemoryError()
    p[0] = q
    cap[0] = c
    return 0


cdef int _fsync(int fd) noexcept nogil:
    return errno if unistd.fsync(fd) < 0 else 0


cdef int64_t _seq_num(Message m) noexcept:
    """MsgSeqNum of the message ``m`` holds, 0 when missing or not a number."""
    cdef int i = m.find(TAG_MSG_SEQ_NUM)
    cdef int64_t v
    if i < 0 or read_int(m._value(i), m.views[i].len, &v) != V_OK:
        return 0
    return v


cdef class FileStore:
    """The sequence numbers and sent messages of one FIX session, in
    ``<directory>/<name>.msgs`` and ``<directory>/<name>.seqs``.

    Appends are buffered in memory until ``flush``; ``get`` sees them at
    once. Closing flushes; so does dropping an open store, as far as it can
    (errors there go unreported: call ``close``). Not thread-safe.
    """

    def __cinit__(self, directory, str name not None):
        self.msgs_fd = self.seqs_fd = -1
        if not name or os.path.basename(name) != name:
            raise ValueError(f"session name {name!r}: not a file name")
        directory = os.fsdecode(directory)
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, name + ".msgs")
        self.seqs_path = os.path.join(directory, name + ".seqs")
        try:
            self.msgs_fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self.seqs_fd = os.open(self.seqs_path, os.O_RDWR | os.O_CREAT, 0o644)
            self._load_seqs()
            self._scan()
        except BaseException:
            self._close_fds()
            raise
        self.opened = True

    def __dealloc__(self):
        if self.opened:
            self._write_msgs()
            self._write_seqs()
            self._close_fds()
        free(self.buf)
        free(self.index)

    # ---- the session layer's C API -------------------------------------------

    cdef int append(self, int64_t seq, const char* msg, Py_ssize_t n) except -1:
        self._check_open()
        if seq != self.next_out:
            raise ValueError(f"{self.path}: message {seq} appended, {self.next_out} expected")
        if n <= 0:
            raise ValueError(f"{self.path}: empty message {seq}")
        if self.nbuf + n > self.cap_buf:
            _grow(<void**>&self.buf, &self.cap_buf, self.nbuf + n, 1)
        self._add(seq, self.flushed + self.nbuf, n)
        memcpy(self.buf + self.nbuf, msg, n)
        self.nbuf += n
        self.next_out = seq + 1
        return 0

    cdef int save(self, bint sync) except -1:
        cdef int err
        self._check_open()
        err = self._write_msgs()
        if err == 0 and sync:
            with nogil:
                err = _fsync(self.msgs_fd)
        if err:
            raise_os(err, self.path)
        err = self._write_seqs()
        if err == 0 and sync:
            with nogil:
                err = _fsync(self.seqs_fd)
        if err:
            raise_os(err, self.seqs_path)
        return 0

    # ---- Python API -----------------------------------------------------------

    def append_bytes(self, int64_t seq, bytes msg not None):
        """Store ``msg``, the message just sent as MsgSeqNum ``seq`` (== next_out)."""
        self.append(seq, PyBytes_AS_STRING(msg), PyBytes_GET_SIZE(msg))

    def flush(self, bint fsync=False):
        """Write the appended messages to .msgs (one write), then the sequence
        numbers to .seqs; with ``fsync``, force both to the disk."""
        self.save(fsync)

    def set_next_in(self, int64_t n):
        """Expect MsgSeqNum ``n`` next from the counterparty (written at the next flush)."""
        self._check_open()
        if n < 1:
            raise ValueError(f"next_in {n}: MsgSeqNums begin at 1")
        self.next_in = n

    def set_next_out(self, int64_t n):
        """Send MsgSeqNum ``n`` next (SequenceReset); the skipped numbers have
        no message. ``n`` must be above the last stored message's."""
        cdef int64_t last = self.index[self.count - 1].seq if self.count else 0
        self._check_open()
        if n <= last:
            raise ValueError(f"next_out {n}: message {last} is stored")
        self.next_out = n

    def get(self, int64_t begin, int64_t end=0):
        """The stored messages with ``begin <= seq <= end`` (``end`` 0: up to the
        last) as ``[(seq, bytes), ...]`` in order, unflushed ones included."""
        cdef Py_ssize_t i, j, k
        cdef int64_t base
        cdef const entry_t* e
        cdef bytes span
        self._check_open()
        i = self._find(begin)
        j = self.count
        if end != 0:
            j = self._find(end)
            if j < self.count and self.index[j].seq == end:
                j += 1
        if i >= j:
            return []
        base = self.index[i].off
        span = self._read(base, self.index[j - 1].off + self.index[j - 1].len - base)
        out = []
        for k in range(i, j):
            e = &self.index[k]
            out.append((e.seq, PyBytes_FromStringAndSize(PyBytes_AS_STRING(span) + (e.off - base), e.len)))
        return out

    def reset(self):
        """Drop every message and start both sequences again at 1, on disk at once."""
        self._check_open()
        if unistd.ftruncate(self.msgs_fd, 0) < 0:
            raise_os(errno, self.path)
        self.flushed = self.nbuf = self.count = 0
        self.next_in = self.next_out = 1
        self.save(False)

    def close(self):
        """Flush and close the files. Closing a closed store does nothing."""
        if not self.opened:
            return
        try:
            self.save(False)
        finally:
            self._close_fds()

    @property
    def closed(self):
        return not self.opened

    def __len__(self):
        return self.count

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"<FileStore {self.path!r} next_in={self.next_in} next_out={self.next_out} "
                f"messages={self.count}{'' if self.opened else ' closed'}>")

    # ---- helpers ----------------------------------------------------------------

    cdef int _check_open(self) except -1:
        if not self.opened:
            raise ValueError(f"{self.path}: the store is closed")
        return 0

    cdef int _add(self, int64_t seq, int64_t off, int64_t n) except -1:
        cdef entry_t* e
        if self.count == self.cap_index:
            _grow(<void**>&self.index, &self.cap_index, self.count + 1, sizeof(entry_t))
        e = &self.index[self.count]
        e.seq = seq
        e.off = off
        e.len = n
        self.count += 1
        return 0

    cdef Py_ssize_t _find(self, int64_t seq) noexcept:
        cdef Py_ssize_t lo = 0, hi = self.count, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.index[mid].seq < seq:
                lo = mid + 1
            else:
                hi = mid
        return lo

    cdef bytes _read(self, int64_t off, Py_ssize_t n):
        cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
        cdef char* p = PyBytes_AS_STRING(out)
        cdef Py_ssize_t k = 0, done
        cdef int err
        if off < self.flushed:
            k = min(n, self.flushed - off)
            err = pread_all(self.msgs_fd, p, k, off, &done)
            if err == 0 and done < k:   # the file shrank under us
                err = EIO
            if err:
                raise_os(err, self.path)
        if k < n:
            memcpy(p + k, self.buf + (off + k - self.flushed), n - k)
        return out

    cdef int _load_seqs(self) except -1:
        cdef char text[SEQS_LEN + 1]
        cdef Py_ssize_t n
        cdef int err = pread_all(self.seqs_fd, text, sizeof(text), 0, &n)
        if err:
            raise_os(err, self.seqs_path)
        self.next_in = self.next_out = 1
        if n == 0:                      # a new session (saved_*: 0, the first flush writes)
            return 0
        found = _SEQS.fullmatch(text[:n])
        if found is None or not all(1 <= int(v) < 2 ** 63 for v in found.groups()[:2]):
            raise ValueError(f"{self.seqs_path}: not a sequence number file: {text[:n]!r}")
        self.next_in = self.saved_in = int(found[1])
        self.next_out = self.saved_out = int(found[2])
        self.journal_seq = self.saved_journal = int(found[3] or 0)  # older stores: two numbers
        return 0

    cdef int _scan(self) except -1:
        cdef Message m = Parser().message
        cdef int64_t size = os.fstat(self.msgs_fd).st_size
        cdef int64_t start = 0, read_to = 0, seq    # `data` is .msgs[start:read_to]
        cdef bytes data = b""
        cdef const char* p
        cdef Py_ssize_t n, pos, used
        cdef int rc
        self.flushed = size                 # what _read may read
        while read_to < size:
            n = min(<int64_t>SCAN_CHUNK, size - read_to)
            data += self._read(read_to, n)  # the unparsed rest, then the next chunk
            read_to += n
            p = PyBytes_AS_STRING(data)
            n = PyBytes_GET_SIZE(data)
            pos = 0
            while pos < n:
                rc = m.parse(p + pos, n - pos, &used)
                if rc == P_PARTIAL:
                    break
                if rc != P_GARBLED:         # valid, or framed and readable enough
                    seq = _seq_num(m)
                    if seq > 0 and (self.count == 0 or seq > self.index[self.count - 1].seq):
                        self._add(seq, start + pos, used)
                pos += used
            start += pos
            data = data[pos:]
        if start < size:                    # a message the end of the file cuts short
            if unistd.ftruncate(self.msgs_fd, start) < 0:
                raise_os(errno, self.path)
            self.flushed = start
        self.counted_out = self.next_out
        if self.count and self.next_out <= self.index[self.count - 1].seq:
            self.next_out = self.index[self.count - 1].seq + 1
        return 0

    cdef int _write_msgs(self) noexcept:
        cdef Py_ssize_t done
        cdef int err = pwrite_all(self.msgs_fd, self.buf, self.nbuf, self.flushed, &done)
        self.flushed += done
        self.nbuf -= done
        if self.nbuf:                       # after an error: keep the rest, for the next flush
            memmove(self.buf, self.buf + done, self.nbuf)
        return err

    cdef int _write_seqs(self) noexcept:
        cdef char text[SEQS_LEN + 1]
        cdef Py_ssize_t done
        cdef int err
        if (self.next_in == self.saved_in and self.next_out == self.saved_out
                and self.journal_seq == self.saved_journal):
            return 0
        snprintf(text, sizeof(text), "%020lld %020lld %020lld\n", <long long>self.next_in,
                 <long long>self.next_out, <long long>self.journal_seq)
        err = pwrite_all(self.seqs_fd, text, SEQS_LEN, 0, &done)
        if err == 0:
            self.saved_in = self.next_in
            self.saved_out = self.next_out
            self.saved_journal = self.journal_seq
        return err

    cdef void _close_fds(self) noexcept:
        # close(2) errors go unreported: the descriptor is released anyway, and
        # flush(fsync=True) is what makes the data durable
        if self.msgs_fd >= 0:
            unistd.close(self.msgs_fd)
        if self.seqs_fd >= 0:
            unistd.close(self.seqs_fd)
        self.msgs_fd = self.seqs_fd = -1
        self.opened = False
