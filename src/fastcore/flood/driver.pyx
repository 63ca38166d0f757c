# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The load client's hot path: one FIX session sending pre-encoded messages
and timing the first answer to each.

    session = Session(comp_id, data, offsets, prefix, window, logon, logout)
    class Protocol(Session, asyncio.BufferedProtocol): pass    # its asyncio protocol
    session.send_due()           # open loop: every message due by now, in one write
    session.answered             # ns (monotonic) of each message's first answer, 0 none

Every message of the run is encoded before it starts, back to back in one
bytes object; sending is one ``transport.write`` of a slice. A message's
ClOrdID is ``prefix`` and its index, so an answer is matched to its message by
reading the digits after the prefix: the first message received carrying it
(an ExecutionReport, an OrderCancelReject, or the message itself from an echo
server) is the answer. Times are CLOCK_MONOTONIC nanoseconds.

Bounds: every index into the arrays is checked against ``count``.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcmp, memmove
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from fastcore.codec.fix44 cimport fc_msgtypes
from fastcore.codec.parser cimport Message, P_OK, P_PARTIAL, P_GARBLED

import numpy as np

cdef enum:
    READ_SIZE = 1 << 20


cdef inline int64_t monotonic_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


def now_ns():
    """CLOCK_MONOTONIC in ns, the clock of every time the driver records."""
    return monotonic_ns()


cdef class Session:
    """One session of the load (the core of its asyncio protocol)."""
    cdef readonly str comp_id
    cdef bytes data                       # every message of the run, back to back
    cdef object view                      # a memoryview of it: slices written without a copy
    cdef const int64_t[::1] offsets       # message i: data[offsets[i]:offsets[i + 1]]
    cdef readonly int64_t count
    cdef readonly int64_t next            # the next message to send
    cdef readonly int64_t window          # closed loop: unanswered messages at most; 0: open
    cdef readonly object sent             # numpy int64: when each was sent (open loop: due)
    cdef readonly object answered         # numpy int64: its first answer; 0 none
    cdef int64_t[::1] sent_v, answered_v
    cdef readonly int64_t answers
    cdef bytes prefix                     # ClOrdID = prefix + decimal index
    cdef readonly object transport
    cdef bytearray buf
    cdef Py_ssize_t filled
    cdef Message msg
    # what came back besides answers
    cdef readonly int64_t rejects         # Reject (35=3)
    cdef readonly int64_t business_rejects  # BusinessMessageReject (35=j)
    cdef readonly int64_t refused         # ExecutionReport Rejected (150=8) or OrderCancelReject
    cdef readonly int64_t received        # every message
    cdef readonly object logon            # a Future: the answer to our Logon (its MsgType)
    cdef readonly object logout           # a Future: the server's Logout (its Text)
    cdef readonly str lost                # why the connection ended, "" while it lasts
    cdef bint scheduled                   # open loop: due times set, sending may start
    cdef readonly bint stopped            # the run's time is up: nothing more is sent

    def __init__(self, str comp_id, bytes data, offsets, bytes prefix, int64_t window,
                 logon, logout):
        self.comp_id = comp_id
        self.data = data
        self.view = memoryview(data)
        self.offsets = offsets
        self.count = len(offsets) - 1
        self.window = window
        self.sent = np.zeros(self.count, dtype=np.int64)
        self.answered = np.zeros(self.count, dtype=np.int64)
        self.sent_v = self.sent
        self.answered_v = self.answered
        self.prefix = prefix
        self.buf = bytearray(READ_SIZE)
        self.msg = Message.__new__(Message)
        self.logon = logon
        self.logout = logout
        self.lost = ""

    # ---- sending ------------------------------------------------------------------

    cdef int _write(self, int64_t upto) except -1:
        """Messages next..upto-1 in one write; in closed loop, each stamped now
        (in open loop ``sent`` already holds when each was due)."""
        cdef int64_t i, t
        if upto > self.count:
            upto = self.count
        if self.stopped:
            return 0
        if upto <= self.next:
            return 0
        if self.window:
            t = monotonic_ns()
            for i in range(self.next, upto):
                self.sent_v[i] = t
        self.transport.write(self.view[self.offsets[self.next]:self.offsets[upto]])
        self.next = upto
        return 0

    cdef int _send_due(self) except -1:
        """Open loop: every message due by now, in one write."""
        cdef int64_t now = monotonic_ns(), k = self.next
        if not self.scheduled:
            return 0
        while k < self.count and self.sent_v[k] <= now:
            k += 1
        return self._write(k)

    def send_due(self):
        """Open loop: send every message due by now (``set_due``) not sent yet."""
        if self.transport is not None and not self.lost:
            self._send_due()

    def start(self):
        """Closed loop: the first window of messages."""
        self._write(self.window)

    def set_due(self, due):
        """Open loop: each message's intended send time (latency is measured
        from it, not from when it went out: no coordinated omission)."""
        self.sent[:] = due
        self.scheduled = True

    def stop(self):
        """Send no more of the run (its time is up)."""
        self.stopped = True

    def write(self, bytes data):
        """Any other message (Logon, Logout)."""
        self.transport.write(data)

    # ---- asyncio.BufferedProtocol -------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, Py_ssize_t hint):
        if self.filled == PyByteArray_GET_SIZE(self.buf):
            self.buf = self.buf + bytearray(PyByteArray_GET_SIZE(self.buf))
        return memoryview(self.buf)[self.filled:]

    def buffer_updated(self, Py_ssize_t nbytes):
        cdef int64_t now = monotonic_ns()
        cdef Message m = self.msg
        cdef char* base = PyByteArray_AS_STRING(self.buf)
        cdef Py_ssize_t pos = 0, used
        cdef int rc
        self.filled += nbytes
        m.owner = self.buf
        while pos < self.filled:
            rc = m.parse(base + pos, self.filled - pos, &used)
            if rc == P_PARTIAL:
                break
            pos += used
            if rc != P_GARBLED:
                self.received += 1
                self._answer(m, now)
        if pos:
            self.filled -= pos
            memmove(base, base + pos, self.filled)
        if self.next < self.count and not self.lost:
            if self.window:
                self._write(self.answers + self.window)
            else:                             # open loop: what fell due meanwhile
                self._send_due()

    cdef int _answer(self, Message m, int64_t now) except -1:
        cdef const char* mt = b"?"
        cdef int i
        cdef const char* p
        cdef Py_ssize_t n, k
        cdef int64_t index = 0
        if m.msgtype >= 0:
            mt = fc_msgtypes[m.msgtype].mt
        if mt[1] == 0:
            if mt[0] == b'A':
                if not self.logon.done():
                    self.logon.set_result("A")
                return 0
            if mt[0] == b'5':
                text = m.get_str(58, "")
                if not self.logon.done():
                    self.logon.set_result("5:" + text)
                if not self.logout.done():
                    self.logout.set_result(text)
                return 0
            if mt[0] == b'3':
                self.rejects += 1
                return 0
            if mt[0] == b'j':
                self.business_rejects += 1
                return 0
            if mt[0] == b'9':
                self.refused += 1
            elif mt[0] == b'8':
                i = m.find(150)
                if i >= 0 and m.views[i].len == 1 and m.buf[m.views[i].off] == b'8':
                    self.refused += 1
        i = m.find(11)
        if i < 0:
            return 0
        p = m.buf + m.views[i].off
        n = m.views[i].len
        k = PyBytes_GET_SIZE(self.prefix)
        if n <= k or n - k > 18 or memcmp(p, PyBytes_AS_STRING(self.prefix), k) != 0:
            return 0                          # not one of this run's
        while k < n:
            if not b'0' <= p[k] <= b'9':
                return 0
            index = index * 10 + (p[k] - 48)
            k += 1
        if index < self.count and self.answered_v[index] == 0:
            self.answered_v[index] = now
            self.answers += 1
        return 0

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.lost = str(exc) if exc else "the server closed the connection"
        self.transport = None
        if not self.logon.done():
            self.logon.set_result("closed")
        if not self.logout.done():
            self.logout.set_result(None)
