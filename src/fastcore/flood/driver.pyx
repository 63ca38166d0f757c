# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The load client's hot path: one session sending pre-encoded messages and
timing the first answer to each, over FIX (``FixSession``) or fastcore's
msgspec port (``MsgSession``).

    session = FixSession(comp_id, data, offsets, prefix, window, logon, logout)
    class Protocol(FixSession, asyncio.BufferedProtocol): pass    # its asyncio protocol
    session.send_due()           # open loop: every message due by now, in one write
    session.answered             # ns (monotonic) of each message's first answer, 0 none

``Session`` is what both share: the window (closed loop) or the due times
(open loop), the writes, the receive buffer, the timing and the counts; a
protocol's class only cuts what arrives into messages and reads of each its
type, whether it refuses an order, and its ClOrdID (``_consume``).

Every message of the run is encoded before it starts, back to back in one
bytes object; sending is one ``transport.write`` of a slice. A message's
ClOrdID is ``prefix`` and its index, so an answer is matched to its message by
reading the digits after the prefix: the first message received carrying it
(an ExecutionReport, an OrderCancelReject, or the message itself from an echo
server) is the answer. Times are CLOCK_MONOTONIC nanoseconds.

The ``logon`` future gets "" once logged on, or why not (the Logout's Text,
the Refused frame's text, "the connection was closed"); ``logout`` the
server's answer to our Logout (its text), None when the connection closes.

Bounds: every index into the arrays is checked against ``count``; every read
of a msgpack frame against the frame's end.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t, uint32_t
from libc.string cimport memcmp, memmove
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from fastcore.codec.fix44 cimport fc_msgtypes
from fastcore.codec.parser cimport Message, P_OK, P_PARTIAL, P_GARBLED

import numpy as np

cdef enum:
    READ_SIZE = 1 << 20
    MAX_FRAME = 1 << 24          # a msgspec frame longer than this: not fastcore's port
    MAX_DEPTH = 32               # msgpack nesting skipped at most


cdef inline int64_t monotonic_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


def now_ns():
    """CLOCK_MONOTONIC in ns, the clock of every time the driver records."""
    return monotonic_ns()


cdef class Session:
    """One session of the load (the core of its asyncio protocol), whatever
    the protocol: a subclass's ``_consume`` reads what arrives."""
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
    # what came back besides answers
    cdef readonly int64_t rejects         # Reject (35=3)
    cdef readonly int64_t business_rejects  # BusinessMessageReject (35=j)
    cdef readonly int64_t refused         # ExecutionReport Rejected (150=8), OrderCancelReject,
                                          # a Refused frame
    cdef readonly int64_t received        # every message
    cdef readonly object logon            # a Future: "" logged on, or why not
    cdef readonly object logout           # a Future: the server's answer to our Logout
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
        cdef char* base = PyByteArray_AS_STRING(self.buf)
        cdef Py_ssize_t pos
        self.filled += nbytes
        pos = self._consume(base, self.filled, now)
        if pos:
            self.filled -= pos
            memmove(base, base + pos, self.filled)
        if self.next < self.count and not self.lost:
            if self.window:
                self._write(self.answers + self.window)
            else:                             # open loop: what fell due meanwhile
                self._send_due()

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        if not self.lost:
            self.lost = str(exc) if exc else "the server closed the connection"
        self.transport = None
        self._logged_on("the connection was closed")
        if not self.logout.done():
            self.logout.set_result(None)

    # ---- what the protocols share -------------------------------------------------

    cdef Py_ssize_t _consume(self, char* base, Py_ssize_t n, int64_t now) except -1:
        """Read the whole messages at the start of ``base[:n]`` (received at
        ``now``); the bytes they take."""
        raise NotImplementedError

    cdef int _logged_on(self, str why) except -1:
        """The answer to our Logon: "" logged on, else why not (the first answer counts)."""
        if not self.logon.done():
            self.logon.set_result(why)
        return 0

    cdef int _answer(self, int mt, bint rejected, const char* p, Py_ssize_t n,
                     int64_t now) except -1:
        """An application message: ``mt`` its MsgType if one character (else
        0), ``rejected`` an ExecutionReport's ExecType is Rejected, ``p[:n]``
        its ClOrdID (``p`` NULL: none). Counted, and the answer of the
        message of ours it names if that has none yet."""
        cdef Py_ssize_t k
        cdef int64_t index = 0
        if mt == b'3':
            self.rejects += 1
            return 0
        if mt == b'j':
            self.business_rejects += 1
            return 0
        if mt == b'9' or (mt == b'8' and rejected):
            self.refused += 1
        if p == NULL:
            return 0
        k = PyBytes_GET_SIZE(self.prefix)
        if n <= k or n - k > 18 or memcmp(p, PyBytes_AS_STRING(self.prefix), k) != 0:
            return 0                          # not one of this run's
        while k < n:
            if not b'0' <= p[k] <= b'9':
                return 0
            index = index * 10 + (p[k] - 48)
            k += 1
        if index < self.count:
            self._answered(index, now)
        return 0

    cdef inline int _answered(self, int64_t index, int64_t now) except -1:
        if self.answered_v[index] == 0:
            self.answered_v[index] = now
            self.answers += 1
        return 0


cdef class FixSession(Session):
    """A FIX 4.4 session: Logon (35=A) answered by Logon or Logout (35=5),
    messages cut by the codec's parser, ClOrdID (11) and ExecType (150) read
    from its field index."""
    cdef Message msg

    def __init__(self, *args):
        Session.__init__(self, *args)
        self.msg = Message.__new__(Message)

    cdef Py_ssize_t _consume(self, char* base, Py_ssize_t n, int64_t now) except -1:
        cdef Message m = self.msg
        cdef Py_ssize_t pos = 0, used
        cdef int rc
        m.owner = self.buf
        while pos < n:
            rc = m.parse(base + pos, n - pos, &used)
            if rc == P_PARTIAL:
                break
            pos += used
            if rc != P_GARBLED:
                self.received += 1
                self._message(m, now)
        return pos

    cdef int _message(self, Message m, int64_t now) except -1:
        cdef const char* mt = b"?"
        cdef int i, one = 0
        cdef bint rejected = False
        if m.msgtype >= 0:
            mt = fc_msgtypes[m.msgtype].mt
        if mt[1] == 0:
            one = mt[0]
            if one == b'A':
                return self._logged_on("")
            if one == b'5':
                text = m.get_str(58, "")
                self._logged_on(text or "Logout")
                if not self.logout.done():
                    self.logout.set_result(text)
                return 0
            if one == b'8':
                i = m.find(150)
                rejected = i >= 0 and m.views[i].len == 1 and m.buf[m.views[i].off] == b'8'
        i = m.find(11)
        if i < 0:
            return self._answer(one, rejected, NULL, 0, now)
        return self._answer(one, rejected, m.buf + m.views[i].off, m.views[i].len, now)


# ---- msgpack, as much as a frame of the msgspec port needs -----------------------------

cdef struct Reader:
    const uint8_t* p
    const uint8_t* end


cdef inline uint32_t _be(const uint8_t* p, int size) noexcept nogil:
    cdef uint32_t v = 0
    cdef int i
    for i in range(size):
        v = (v << 8) | p[i]
    return v


cdef int _str(Reader* r, const char** s, Py_ssize_t* n) noexcept nogil:
    """The str at ``r`` (its bytes in ``s[:n]``), ``r`` past it; -1 (``r``
    unmoved) if it is something else or runs past the end."""
    cdef const uint8_t* p = r.p
    cdef Py_ssize_t head, size
    if p >= r.end:
        return -1
    if 0xa0 <= p[0] <= 0xbf:
        head, size = 1, p[0] & 0x1f
    elif 0xd9 <= p[0] <= 0xdb:                # str8, str16, str32
        head = 1 + (1 << (p[0] - 0xd9))
        if r.end - p < head:
            return -1
        size = _be(p + 1, <int>head - 1)
    else:
        return -1
    if r.end - p - head < size:
        return -1
    s[0] = <const char*>(p + head)
    n[0] = size
    r.p = p + head + size
    return 0


cdef int _map(Reader* r, Py_ssize_t* n) noexcept nogil:
    """The map header at ``r``: its number of entries; -1 if not a map."""
    cdef const uint8_t* p = r.p
    if p >= r.end:
        return -1
    if 0x80 <= p[0] <= 0x8f:
        n[0] = p[0] & 0x0f
        r.p = p + 1
    elif p[0] == 0xde and r.end - p >= 3:
        n[0] = _be(p + 1, 2)
        r.p = p + 3
    elif p[0] == 0xdf and r.end - p >= 5:
        n[0] = _be(p + 1, 4)
        r.p = p + 5
    else:
        return -1
    return 0


cdef int _skip(Reader* r, int depth) noexcept nogil:
    """``r`` past the value at it, whatever it is; -1 if malformed or cut short."""
    cdef const uint8_t* p = r.p
    cdef uint8_t b
    cdef Py_ssize_t head = 1, size = 0, items = 0, i
    if p >= r.end or depth > MAX_DEPTH:
        return -1
    b = p[0]
    if b <= 0x7f or b >= 0xe0 or b == 0xc0 or b == 0xc2 or b == 0xc3:
        pass                                  # fixint, nil, bool
    elif b <= 0x8f:
        items = 2 * (b & 0x0f)                # fixmap
    elif b <= 0x9f:
        items = b & 0x0f                      # fixarray
    elif b <= 0xbf:
        size = b & 0x1f                       # fixstr
    elif 0xc4 <= b <= 0xc6 or 0xd9 <= b <= 0xdb:      # bin8/16/32, str8/16/32
        head = 1 + (1 << ((b - 0xc4) if b <= 0xc6 else (b - 0xd9)))
        if r.end - p < head:
            return -1
        size = _be(p + 1, <int>head - 1)
    elif 0xc7 <= b <= 0xc9:                   # ext8/16/32: length, type, data
        head = 1 + (1 << (b - 0xc7))
        if r.end - p < head:
            return -1
        size = _be(p + 1, <int>head - 1) + 1
    elif b == 0xca or b == 0xcb:              # float32, float64
        size = 4 if b == 0xca else 8
    elif 0xcc <= b <= 0xcf:                   # uint8..64
        size = 1 << (b - 0xcc)
    elif 0xd0 <= b <= 0xd3:                   # int8..64
        size = 1 << (b - 0xd0)
    elif 0xd4 <= b <= 0xd8:                   # fixext1..16: type, data
        size = 1 + (1 << (b - 0xd4))
    elif b == 0xdc or b == 0xdd or b == 0xde or b == 0xdf:    # array16/32, map16/32
        head = 3 if b == 0xdc or b == 0xde else 5
        if r.end - p < head:
            return -1
        items = _be(p + 1, <int>head - 1)
        if b >= 0xde:
            items *= 2
    else:
        return -1                             # 0xc1: never used
    if r.end - p - head < size:
        return -1
    r.p = p + head + size
    for i in range(items):
        if _skip(r, depth + 1) < 0:
            return -1
    return 0


cdef inline bint _is(const char* s, Py_ssize_t n, const char* word, Py_ssize_t size) noexcept nogil:
    return n == size and memcmp(s, word, size) == 0


cdef class MsgSession(Session):
    """A trader of fastcore's msgspec port: frames of a 4-byte big-endian
    length and a msgpack map. Logon answered by Ack or Refused (then the
    server closes); each message the engine sends the user comes as a
    Report (``msg_type``, ``fields``: tag → str). Each frame is read in
    place, only its "type", "msg_type", "text" and fields "11" and "150",
    nothing built but the text of an Ack or Refused.

    A Refused after the Logon is a request the server could not take: it
    carries no ClOrdID, but the server answers a connection's frames in
    order, each at once, so it is the answer of the first message sent
    that has none."""
    cdef int64_t oldest                   # no message before it is unanswered

    cdef Py_ssize_t _consume(self, char* base, Py_ssize_t n, int64_t now) except -1:
        cdef Py_ssize_t pos = 0
        cdef uint32_t size
        while n - pos >= 4:
            size = _be(<const uint8_t*>base + pos, 4)
            if size > MAX_FRAME:
                self.lost = f"a frame of {size} bytes: not fastcore's msgspec port"
                if self.transport is not None:
                    self.transport.abort()
                return n
            if n - pos - 4 < size:
                break
            self._frame(<const uint8_t*>base + pos + 4, size, now)
            pos += 4 + size
        return pos

    cdef int _frame(self, const uint8_t* p, Py_ssize_t size, int64_t now) except -1:
        cdef Reader r
        cdef Py_ssize_t entries, fields, e, f, kn
        cdef const char* k
        cdef const char* kind = NULL
        cdef const char* mt = NULL
        cdef const char* text = NULL
        cdef const char* clordid = NULL
        cdef const char* exec_type = NULL
        cdef Py_ssize_t kind_n = 0, mt_n = 0, text_n = 0, clordid_n = 0, exec_type_n = 0
        r.p = p
        r.end = p + size
        if _map(&r, &entries) < 0:
            return 0                          # not a frame of the port: ignored
        for e in range(entries):
            if _str(&r, &k, &kn) < 0:
                if _skip(&r, 0) < 0 or _skip(&r, 0) < 0:
                    return 0
            elif _is(k, kn, "type", 4):
                if _str(&r, &kind, &kind_n) < 0:
                    return 0
            elif _is(k, kn, "msg_type", 8):
                if _str(&r, &mt, &mt_n) < 0:
                    return 0
            elif _is(k, kn, "text", 4):
                if _str(&r, &text, &text_n) < 0:
                    return 0
            elif _is(k, kn, "fields", 6):
                if _map(&r, &fields) < 0:
                    return 0
                for f in range(fields):
                    if _str(&r, &k, &kn) < 0:
                        if _skip(&r, 0) < 0:
                            return 0
                    elif _is(k, kn, "11", 2) and _str(&r, &clordid, &clordid_n) == 0:
                        continue
                    elif _is(k, kn, "150", 3) and _str(&r, &exec_type, &exec_type_n) == 0:
                        continue
                    if _skip(&r, 0) < 0:
                        return 0
            elif _skip(&r, 0) < 0:
                return 0
        self.received += 1
        if _is(kind, kind_n, "report", 6):
            return self._answer(mt[0] if mt_n == 1 else 0,
                                exec_type_n == 1 and exec_type[0] == b'8',
                                clordid, clordid_n, now)
        if _is(kind, kind_n, "ack", 3):
            if not self.logon.done():
                return self._logged_on("")
            if not self.logout.done():
                self.logout.set_result(text[:text_n].decode("utf-8", "replace") if text else "")
            return 0
        if _is(kind, kind_n, "refused", 7):
            if not self.logon.done():
                return self._logged_on(text[:text_n].decode("utf-8", "replace") if text_n
                                       else "Refused")
            self.refused += 1
            while self.oldest < self.next and self.answered_v[self.oldest] != 0:
                self.oldest += 1
            if self.oldest < self.next:
                self._answered(self.oldest, now)
        return 0
