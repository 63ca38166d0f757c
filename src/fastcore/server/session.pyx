# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The FIX 4.4 session layer of ``fastcore serve``.

    acceptor = Acceptor(config, log=print)           # the engine and every configured session
    class FixProtocol(Connection, asyncio.BufferedProtocol): pass
    server = await loop.create_server(lambda: FixProtocol(acceptor), host, port)
    acceptor.tick(time.time_ns())                    # once a second: heartbeats, timeouts

A ``Connection`` is one TCP connection (the protocol's core): it reads into a
buffer it owns, handles every complete message of a read in turn, and the
acceptor writes what they caused once per read. Its first message must be a
Logon naming a configured session (SenderCompID/TargetCompID, Password when
the session has one); from then on it is that session's connection.

The session rules are those of FIX 4.4 (Volume 2, Session Protocol):
MsgSeqNum above the expected one queues the message and sends a
ResendRequest, below it without PossDupFlag ends the session, a PossDup below
it is ignored; ResendRequests are served from the store (application messages
again with PossDupFlag and OrigSendingTime, administrative ones replaced by
SequenceReset-GapFill); SequenceReset in both modes; Heartbeat, TestRequest
and their timers; CompID, BeginString and SendingTime checks; a message the
codec refuses gets a Reject (35=3) with SessionRejectReason, RefTagID,
RefMsgType and Text, and still counts in the sequence.

Hostile or broken input is bounded (the limits are ``server.*``): a message
whose BodyLength is above ``max_body_length`` is dropped whole, by its
BodyLength, and answered with a Reject (373=5 on tag 9) when its MsgSeqNum
can be read; garbage between messages is skipped; a message still incomplete
after ``stalled_message_timeout`` ends its session; the messages of a session
beyond ``max_message_rate`` a second are rejected unworked ("throttled"), and
too many of them end the session; a Logon with an unknown CompID or a wrong
Password is answered only after ``logon_failure_delay``, doubled for each
failure in a row. Each is logged and counted in ``Acceptor.counters``.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int64_t
from libc.string cimport memcmp, memcpy, memmove

from fastcore._types cimport nanos_t
from fastcore.cluster.entries cimport OUT_HEAD, out_length, out_user
from fastcore.cluster.ingress cimport Ingress
from fastcore.codec.encoder cimport Encoder, KEEP_TIME
from fastcore.codec.fix44 cimport fc_msgtypes
from fastcore.codec.parser cimport Message, P_OK, P_PARTIAL, P_GARBLED, P_REJECT, G_TOO_LONG
from fastcore.codec.values cimport read_timestamp
from fastcore.engine cimport Engine
from fastcore.journal cimport Journal, SYNC_NONE
from fastcore.server.store cimport FileStore

import asyncio
import os
import time

from fastcore import config as _config
from fastcore import recovery as _recovery
from fastcore import snapshot as _snapshot
from fastcore.auditfile import count_after, open_append, skip
from fastcore.cluster.entries import messages
from fastcore.errors import JournalError
from fastcore.journal import records as _records
from fastcore.codec.parser import GARBLE_REASONS

# SessionRejectReason (373) values of the session layer
cdef enum:
    SRR_REQUIRED_MISSING = 1
    SRR_VALUE_INCORRECT = 5
    SRR_COMPID = 9
    SRR_SENDING_TIME = 10
    SRR_OTHER = 99

cdef enum:
    READ_SIZE = 65536             # the receive buffer's first size
    NS = 1000000000
    MAX_QUEUED = 100000           # messages held in a sequence gap before the session ends
    HEADER_PEEK = 512             # bytes of an oversized message read for its MsgSeqNum

MAX_LOGON_DELAY = 30.0            # s: the longest a failed Logon's answer waits
FAILURES_KEPT = 60                # s without a failure that end a row of failed Logons: a
                                  # guesser that waits that long is slower than the cap anyway

BEGIN_STRING = b"8=FIX.4.4\x01"


cdef inline char msg_type(Message m) noexcept:
    """MsgType's character for one-character types (every session message), else 0."""
    if m.msgtype < 0 or fc_msgtypes[m.msgtype].mt[1] != 0:
        return 0
    return fc_msgtypes[m.msgtype].mt[0]


cdef inline int64_t header_int(Message m, int tag) noexcept:
    """A non-negative integer field, -1 when missing or not a number."""
    cdef int i = m.find(tag)
    cdef int64_t v = 0
    cdef int k
    cdef const char* p
    if i < 0 or m.views[i].len == 0 or m.views[i].len > 18:
        return -1
    p = m.buf + m.views[i].off
    for k in range(m.views[i].len):
        if not b'0' <= p[k] <= b'9':
            return -1
        v = v * 10 + (p[k] - 48)
    return v


cdef inline bint header_is(Message m, int tag, bytes value) noexcept:
    """The field ``tag`` is present and equal to ``value``."""
    cdef int i = m.find(tag)
    return (i >= 0 and m.views[i].len == PyBytes_GET_SIZE(value)
            and memcmp(m.buf + m.views[i].off, PyBytes_AS_STRING(value), m.views[i].len) == 0)


cdef inline bint sending_time_off(Message m, nanos_t now, nanos_t tolerance) noexcept:
    """SendingTime (52) is further than ``tolerance`` from ``now`` (0: no check).
    The codec has checked its format."""
    cdef int i
    cdef int64_t sent = 0
    if tolerance == 0:
        return False
    i = m.find(52)
    if i < 0 or read_timestamp(m.buf + m.views[i].off, m.views[i].len, &sent):
        return True
    return sent - now > tolerance or now - sent > tolerance


cdef inline char stored_type(bytes data) noexcept:
    return type_at(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef inline char type_at(const char* p, Py_ssize_t n) noexcept:
    """The one-character MsgType of a message this layer wrote, ``p[:n]``
    (35 follows 8 and 9), else 0."""
    cdef Py_ssize_t i = 10
    while i + 4 < n and p[i] != 1:          # past 9=BodyLength
        i += 1
    if i + 5 < n and p[i + 1] == b'3' and p[i + 2] == b'5' and p[i + 3] == b'=' and p[i + 5] == 1:
        return p[i + 4]
    return 0


cdef inline int count(dict counters, str name) except -1:
    """One more ``name`` in the acceptor's counters (the key is made at the
    first, so a clean run shows only the three every acceptor starts with)."""
    counters[name] = counters.get(name, 0) + 1
    return 0


cdef inline bint over_rate(Session s, nanos_t now, nanos_t interval, nanos_t burst) noexcept:
    """server.max_message_rate's token bucket, kept as the time it is full
    again (``s.rate_full``; the generic cell rate algorithm): a message moves
    that on by ``interval``; one that finds it more than ``burst`` ahead of
    ``now`` is over the rate and moves nothing."""
    if s.rate_full <= now:                  # full: the last flood, if any, is over
        s.rate_full = now
        s.throttled = 0
    if s.rate_full - now > burst:
        return True
    s.rate_full += interval
    return False


cdef bytes unstamped(bytes data):
    """A message without its header up to MsgSeqNum (34) and its CheckSum:
    what two numberings of one message have in common."""
    cdef Py_ssize_t start = data.find(b"\x0134=")
    start = data.find(b"\x01", start + 1) + 1
    return data[start:len(data) - 7]


cdef inline bint is_admin_type(char mt) noexcept:
    return mt == b'0' or mt == b'1' or mt == b'2' or mt == b'3' or mt == b'4' or mt == b'5' \
        or mt == b'A'


cdef class Session:
    """One configured FIX session: its identity, sequence numbers and store,
    and its connection while logged on."""

    def __init__(self, Acceptor acceptor, cfg, int user, firm_users, str store_dir):
        self.acceptor = acceptor
        self.config = cfg
        self.sender = cfg.sender_comp_id.encode()
        self.target = cfg.target_comp_id.encode()
        self.name = f"{cfg.sender_comp_id}->{cfg.target_comp_id}"
        self.kind = K_ORDER if cfg.kind == "order" else K_DROP_COPY
        self.user = user
        self.firm_users = firm_users
        self.enc = Encoder(self.sender, self.target,
                           precision=acceptor.config.engine.timestamp_precision)
        self.store = FileStore(store_dir, f"{cfg.sender_comp_id}-{cfg.target_comp_id}")
        self.queue = {}
        self.outbox = bytearray()

    # ---- sending ------------------------------------------------------------------

    cdef int64_t last_seq(self) noexcept:
        """The MsgSeqNum of the last message sent."""
        if self.kind == K_ORDER:
            return self.acceptor.engine.out_seq[self.user]
        return self.store.next_out - 1

    cdef int64_t next_seq(self) noexcept:
        """The MsgSeqNum of the message about to be ``put``. An order session
        takes it from the engine's counter for its user (the engine numbers
        its reports from it); a drop copy's is its store's next_out, which
        the ``put`` moves on."""
        if self.kind == K_ORDER:
            self.acceptor.engine.out_seq[self.user] += 1
            return self.acceptor.engine.out_seq[self.user]
        return self.store.next_out

    cdef int put(self, bytes data) except -1:
        """A new message, numbered with the store's next_out: stored, and
        written at the end of the batch when connected."""
        return self.put_raw(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))

    cdef int put_raw(self, const char* p, Py_ssize_t n) except -1:
        """``put`` of ``n`` bytes at ``p`` (no bytes object)."""
        self.store.append(self.store.next_out, p, n)
        return self.write(p, n)

    cdef bint stored(self, const char* p, Py_ssize_t n) except -1:
        """Recovery: is the message ``p[:n]`` the next of those a crash left
        stored past what .seqs counted (``ahead``)? Then it is dropped from
        them: it need not be stored again."""
        if not self.ahead or unstamped(p[:n]) != self.ahead[0]:
            return False
        del self.ahead[0]
        return True

    cdef int send(self, bytes data) except -1:
        """Bytes for the connection only (resent messages, gap fills)."""
        return self.write(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))

    cdef int write(self, const char* p, Py_ssize_t n) except -1:
        """Into the outbox when connected; the batch's flush writes it."""
        cdef Py_ssize_t size
        if self.conn is not None:
            size = PyByteArray_GET_SIZE(self.outbox)
            PyByteArray_Resize(self.outbox, size + n)
            memcpy(PyByteArray_AS_STRING(self.outbox) + size, p, n)
        if not self.dirty:
            self.acceptor.mark(self)
        return 0

    cdef int reject(self, Message m, int64_t seq, int reason, int ref_tag, str text,
                    nanos_t now) except -1:
        """Reject (35=3) of the message in ``m``."""
        self.acceptor.log("reject", self.name, f"MsgSeqNum {seq}: {text}")
        return self.put(self.enc.reject(
            self.next_seq(), now, ref_seq_num=seq, reason=reason, ref_tag=ref_tag,
            ref_msg_type=(fc_msgtypes[m.msgtype].mt if m.msgtype >= 0 else None), text=text))

    cdef int logout(self, str text, nanos_t now, bint close) except -1:
        """Logout (35=5); with ``close``, the connection closes once it is written."""
        self.logout_sent = True
        self.acceptor.log("logout", self.name, f"sent: {text}" if text else "sent")
        self.put(self.enc.logout(self.next_seq(), now, text or None))
        if close and self.conn is not None:
            self.conn.closing = True
        return 0

    cdef int ask_resend(self, int64_t seq, nanos_t now) except -1:
        """A message numbered ``seq`` arrived above next_in: ask for the gap
        (once, up to infinity; the queue holds what arrives meanwhile)."""
        if self.gap_asked:
            return 0
        self.gap_asked = self.store.next_in
        self.acceptor.log("gap", self.name, f"expected MsgSeqNum {self.store.next_in}, "
                          f"received {seq}: ResendRequest {self.store.next_in}-0")
        return self.put(self.enc.resend_request(self.next_seq(), now, self.store.next_in, 0))

    cdef int resend(self, int64_t begin, int64_t end, nanos_t now) except -1:
        """Answer a ResendRequest: application messages again (PossDupFlag,
        OrigSendingTime), runs of administrative or missing ones as one
        SequenceReset-GapFill."""
        cdef int64_t last = self.last_seq(), expected = begin, gap = 0, seq
        cdef bytes data
        if end == 0 or end > last:
            end = last
        if begin < 1 or begin > end:
            self.acceptor.log("resend", self.name, f"{begin}-{end}: nothing to resend "
                              f"(last sent {last})")
            return 0
        self.acceptor.log("resend", self.name, f"{begin}-{end}")
        for seq, data in self.store.get(begin, end):
            if seq > expected and not gap:
                gap = expected
            if is_admin_type(stored_type(data)):
                if not gap:
                    gap = seq
            else:
                if gap:
                    self.send(self.gap_fill(gap, seq, now))
                    gap = 0
                self.send(self.enc.rewrap_bytes(data, seq, now, resend=True))
            expected = seq + 1
        if expected <= end and not gap:
            gap = expected
        if gap:
            self.send(self.gap_fill(gap, end + 1, now))
        return 0

    cdef bytes gap_fill(self, int64_t seq, int64_t new_seq, nanos_t now):
        """SequenceReset-GapFill numbered ``seq``: PossDupFlag, and the
        OrigSendingTime a resent message carries."""
        return self.enc.encode(b"4", ((123, b"Y"), (36, new_seq)), seq, now, poss_dup=True,
                               orig_sending_time=now)

    # ---- the Python edge ------------------------------------------------------------

    @property
    def next_in(self):
        """The next MsgSeqNum expected from the client."""
        return self.store.next_in

    @property
    def next_out(self):
        """The MsgSeqNum of the next message to the client."""
        return self.last_seq() + 1

    @property
    def logged_on(self):
        return self.conn is not None

    def reset(self):
        """Both sequence numbers back to 1; the stored messages dropped."""
        self.store.reset()
        if self.kind == K_ORDER:
            self.acceptor.engine.out_seq[self.user] = 0
            if self.acceptor.ingress is not None:
                self.acceptor.ingress.reset(self.user, time.time_ns())
        self.queue.clear()
        self.gap_asked = 0

    def __repr__(self):
        return (f"<Session {self.name} in {self.store.next_in} out {self.last_seq() + 1}"
                f"{' logged on' if self.conn is not None else ''}>")


cdef class Connection:
    """One TCP connection of the FIX port: the core of the asyncio protocol
    (``class FixProtocol(Connection, asyncio.BufferedProtocol): pass``)."""

    def __init__(self, Acceptor acceptor):
        srv = acceptor.config.server
        self.acceptor = acceptor
        self.buf = bytearray(READ_SIZE)
        self.max_size = srv.max_body_length + 64
        self.max_rate = srv.max_message_rate
        self.max_throttled = srv.max_throttled or srv.max_message_rate
        if self.max_rate:
            self.rate_interval = max(NS // self.max_rate, 1)
            self.rate_burst = (self.max_rate - 1) * self.rate_interval  # max_rate at once

    # ---- asyncio.BufferedProtocol -------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.opened = time.time_ns()
        self.acceptor.connections.add(self)
        self.acceptor.log("connect", self.peer, "")

    def get_buffer(self, Py_ssize_t hint):
        cdef Py_ssize_t size = PyByteArray_GET_SIZE(self.buf)
        if self.filled == size:                 # a message longer than the buffer
            size = min(size * 2, max(self.max_size, size + READ_SIZE))
            self.buf = self.buf + bytearray(size - PyByteArray_GET_SIZE(self.buf))
        return memoryview(self.buf)[self.filled:]

    def buffer_updated(self, Py_ssize_t nbytes):
        cdef nanos_t now = time.time_ns()
        cdef Message m = self.acceptor.engine.msg
        cdef char* base = PyByteArray_AS_STRING(self.buf)
        cdef Py_ssize_t pos = 0, start, used
        cdef int rc
        self.filled += nbytes
        if self.session is not None:          # the client is alive: no TestRequest pending
            self.session.last_in = now
            self.session.test_sent = 0
        if self.skip:                           # more of an oversized message: dropped
            pos = min(self.skip, self.filled)
            self.skip -= pos
        start = pos
        while pos < self.filled and not self.closing:
            m.owner = self.buf
            rc = m.parse(base + pos, self.filled - pos, &used)
            if rc == P_PARTIAL:
                break
            if rc == P_GARBLED and m.garble == G_TOO_LONG:
                used = self.oversized(base + pos, self.filled - pos, now)
                if used == 0:                   # read more of its header first
                    break
                pos += used
                continue
            pos += used
            if rc == P_GARBLED:
                self.acceptor.counters["garbled"] += 1
                self.acceptor.log("garbled", self.session.name if self.session else self.peer,
                                  f"{used} bytes dropped: {GARBLE_REASONS.get(m.garble, '?')}")
                continue
            try:
                self.handle(rc, now)
            except Exception as exc:            # a bug: this message fails, the rest carry on
                self.acceptor.counters["errors"] += 1
                self.acceptor.log("error", self.session.name if self.session else self.peer,
                                  f"{type(exc).__name__}: {exc}")
        if pos:
            self.filled -= pos
            memmove(base, base + pos, self.filled)
        # the stall timer (Acceptor.tick) runs from when the incomplete message began:
        # when a message (or the oversized one dropped) ended in this read, that is now
        if not self.filled and not self.skip:
            self.partial_since = 0
        elif pos > start or (start and not self.skip) or not self.partial_since:
            self.partial_since = now
        if self.closing and self.held is None:  # closed once the outboxes are written
            self.acceptor.closing(self)
        self.acceptor.flush(now)

    def eof_received(self):
        return False                            # close the transport

    def connection_lost(self, exc):
        cdef Session s = self.session
        if self.held is not None:               # gone before its refusal was answered
            self.held.cancel()
            self.held = None
        self.acceptor.connections.discard(self)
        if not self.acceptor.connections and self.acceptor.idle is not None:
            self.acceptor.idle()
        if s is None:
            self.acceptor.log("disconnect", self.peer, "")
            return
        s.conn = None
        self.session = None
        del s.outbox[:]
        self.acceptor.log("disconnect", s.name, str(exc) if exc else "")
        if s.config.reset_on_disconnect:
            s.reset()

    def pause_writing(self):
        """The transport's write buffer is above its high-water mark: read no
        more from this client until it drains (backpressure)."""
        self.paused = True
        self.transport.pause_reading()
        self.acceptor.log("paused", self.session.name if self.session else self.peer,
                          "the client does not read: reading from it stops")

    def resume_writing(self):
        self.paused = False
        self.transport.resume_reading()
        self.acceptor.log("resumed", self.session.name if self.session else self.peer,
                          "the client reads again")

    # ---- messages ---------------------------------------------------------------

    cdef int handle(self, int rc, nanos_t now) except -1:
        if self.session is None:
            return self.logon(rc, now)
        return self.sequenced(rc, now)

    cdef int refuse(self, str why, Session s, str text, nanos_t now, double delay=0) except -1:
        """Refuse a Logon and close. For a configured session ``s``, a Logout
        with ``text`` (numbered and stored as the session's); else nothing.
        With a ``delay`` (s; a failed Logon, see ``failed``) the answer and
        the close wait that long, the connection held and not read."""
        self.acceptor.counters["refused_logons"] += 1
        self.acceptor.log("refused", self.peer, f"{why} (answered in {delay:g} s)" if delay > 0
                          else why)
        if s is not None:
            self.refusal = s.enc.logout(s.next_seq(), now, text)
            s.put(self.refusal)                     # stored; the session has no connection
        self.closing = True
        if delay > 0:
            self.transport.pause_reading()
            self.held = asyncio.get_running_loop().call_later(delay, self.answer_refusal)
        elif self.refusal is not None:
            self.transport.write(self.refusal)
        return 0

    cdef double failed(self, str key, str counter, nanos_t now) except -1:
        """One more failed Logon in a row for ``key`` (the session's name; the
        peer's host for an unknown CompID), counted as ``counter``: the
        seconds its refusal waits, server.logon_failure_delay doubled for each
        failure before it in the row, MAX_LOGON_DELAY at most. A logon of the
        session, or FAILURES_KEPT seconds without a failure, end the row."""
        cdef Acceptor a = self.acceptor
        count(a.counters, counter)
        failures, last = a.failures.get(key, (0, 0))
        if now - last > FAILURES_KEPT * <nanos_t>NS:
            failures = 0
        failures += 1
        a.failures[key] = (failures, now)
        return min(a.config.server.logon_failure_delay * 2.0 ** min(failures - 1, 16),
                   MAX_LOGON_DELAY)

    cdef int logon(self, int rc, nanos_t now) except -1:
        """The first message: a Logon naming a configured session."""
        cdef Message m = self.acceptor.engine.msg
        cdef Acceptor a = self.acceptor
        cdef Session s
        cdef int64_t seq, hb
        cdef bint reset
        if rc != P_OK or msg_type(m) != b'A':
            return self.refuse("the first message is not a valid Logon", None, None, now)
        if memcmp(m.buf, PyBytes_AS_STRING(BEGIN_STRING), len(BEGIN_STRING)) != 0:
            return self.refuse("BeginString is not FIX.4.4", None, None, now)
        key = (m.get(56, b""), m.get(49, b""))
        s = a.sessions.get(key)
        if s is None:
            return self.refuse(f"no session {key[0].decode('latin-1')}->"
                               f"{key[1].decode('latin-1')} is configured", None, None, now,
                               self.failed(self.peer.rpartition(":")[0], "unknown_comp_id", now))
        if s.conn is not None:
            return self.refuse(f"{s.name} is already logged on (from {s.conn.peer})",
                               None, None, now)
        if s.config.password and m.get_str(554, None) != s.config.password:
            return self.refuse(f"{s.name}: wrong password", s, "logon refused", now,
                               self.failed(s.name, "wrong_password", now))
        hb = header_int(m, 108)
        if hb < 0 or (s.config.heartbeat and hb != s.config.heartbeat):
            return self.refuse(f"{s.name}: HeartBtInt {m.get_str(108, '')!r} refused", s,
                               f"HeartBtInt must be {s.config.heartbeat or 'a whole number'}",
                               now)
        seq = header_int(m, 34)
        reset = m.get_bool(141, False)
        if reset and seq != 1:
            return self.refuse(f"{s.name}: ResetSeqNumFlag with MsgSeqNum {seq}", s,
                               "ResetSeqNumFlag needs MsgSeqNum 1", now)
        if sending_time_off(m, now, a.tolerance):
            return self.refuse(f"{s.name}: SendingTime accuracy problem", s,
                               "SendingTime accuracy problem", now)
        if reset or s.config.reset_on_logon:
            s.reset()
        if seq < s.store.next_in:
            why = f"MsgSeqNum too low, expecting {s.store.next_in} but received {seq}"
            return self.refuse(f"{s.name}: {why}", s, why, now)
        # accepted: the connection becomes the session's
        self.session = s
        s.conn = self
        s.heartbeat = <int>hb
        s.last_in = s.last_out = now
        s.test_sent = 0
        s.logout_sent = False
        s.queue.clear()
        s.gap_asked = 0
        s.rate_full = 0                             # the rate limit's bucket full
        s.throttled = 0
        a.failures.pop(s.name, None)                # a row of failed Logons ends
        a.log("logon", s.name, f"from {self.peer}, HeartBtInt {hb}"
              f"{', sequence reset' if reset else ''}; next in {s.store.next_in}, "
              f"out {s.last_seq() + 1}")
        s.put(s.enc.logon(s.next_seq(), now, heart_bt_int=hb, reset_seq_num=reset))
        if seq == s.store.next_in:
            s.store.set_next_in(seq + 1)
        else:
            s.queue[seq] = b""                      # handled; counts once the gap fills
            s.ask_resend(seq, now)
        return 0

    cdef int sequenced(self, int rc, nanos_t now) except -1:
        """A message of a logged-on session: header checks, then sequencing."""
        cdef Message m = self.acceptor.engine.msg
        cdef Acceptor a = self.acceptor
        cdef Session s = self.session
        cdef int64_t seq = header_int(m, 34), expected = s.store.next_in, new_seq
        cdef char mt = msg_type(m) if rc == P_OK else 0
        cdef bint poss_dup = m.find(43) >= 0 and header_is(m, 43, b"Y")
        cdef bint gap_fill
        if seq < 0:
            return s.logout("MsgSeqNum (34) missing or not a number", now, True)
        if memcmp(m.buf, PyBytes_AS_STRING(BEGIN_STRING), len(BEGIN_STRING)) != 0:
            return s.logout("BeginString must be FIX.4.4", now, True)
        if not (header_is(m, 49, s.target) and header_is(m, 56, s.sender)):
            if seq == expected:
                s.store.set_next_in(seq + 1)
            s.reject(m, seq, SRR_COMPID, 49 if not header_is(m, 49, s.target) else 56,
                     "CompID problem", now)
            return s.logout("CompID problem", now, True)
        gap_fill = mt == b'4' and header_is(m, 123, b"Y")
        if mt == b'4' and not gap_fill:             # SequenceReset-Reset: MsgSeqNum ignored
            new_seq = header_int(m, 36)
            if new_seq < expected:
                return s.reject(m, seq, SRR_VALUE_INCORRECT, 36,
                                f"NewSeqNo {new_seq} below the expected {expected}", now)
            a.log("sequence", s.name, f"reset: next in {new_seq}")
            s.store.set_next_in(new_seq)
            s.queue.clear()
            s.gap_asked = 0
            return 0
        if seq > expected:
            if mt == b'5':                          # a Logout in a gap: end now
                a.log("logout", s.name, f"received (MsgSeqNum {seq}, expected {expected})")
                if not s.logout_sent:
                    return s.logout(None, now, True)
                self.closing = True
                return 0
            if len(s.queue) >= MAX_QUEUED:
                return s.logout(f"more than {MAX_QUEUED} messages in a sequence gap", now,
                                True)
            if mt == b'2':                          # serve it first, then ask for ours
                s.resend(header_int(m, 7), header_int(m, 16), now)
                s.queue[seq] = b""                  # handled; counts once the gap fills
            else:
                s.queue[seq] = m.buf[:m.size]
            return s.ask_resend(seq, now)
        if seq < expected:
            if poss_dup:
                return 0                            # a duplicate we already have
            return s.logout(f"MsgSeqNum too low, expecting {expected} but received {seq}",
                            now, True)
        # seq == expected
        s.store.set_next_in(seq + 1)
        if self.rate_interval and mt != b'5' and mt != b'4' \
                and over_rate(s, now, self.rate_interval, self.rate_burst):
            self.throttle(s, seq, now)              # a Logout or GapFill is never throttled
        elif rc == P_REJECT:
            s.reject(m, seq, m.reason, m.ref_tag, str(m.error()), now)
        elif poss_dup and mt != b'4' and m.find(122) < 0:
            s.reject(m, seq, SRR_REQUIRED_MISSING, 122, "PossDupFlag without OrigSendingTime",
                     now)
        elif not poss_dup and sending_time_off(m, now, a.tolerance):
            s.reject(m, seq, SRR_SENDING_TIME, 52, "SendingTime accuracy problem", now)
            s.logout("SendingTime accuracy problem", now, True)
        elif is_admin_type(mt):
            self.admin(s, mt, now)
        elif s.kind == K_ORDER and a.ingress is not None:
            a.ingress.add(s.user, now, m, seq)      # to its partition's engine
        elif s.kind == K_ORDER:
            if a.journal is not None:               # write-ahead: on file before the answer
                a.journal.add(b'F', s.user, now, m.buf, m.size)
            a.engine.process(s.user, now)
            a.deliver(a.engine.take(), now)
        else:
            s.put(s.enc.business_message_reject(
                s.next_seq(), now, ref_seq_num=seq, ref_msg_type=fc_msgtypes[m.msgtype].mt,
                reason=3, text="a drop copy session takes no application messages"))
        if s.queue:
            self.drain(s, now)
        return 0

    cdef int admin(self, Session s, char mt, nanos_t now) except -1:
        """A session message, in sequence."""
        cdef Message m = self.acceptor.engine.msg
        cdef Acceptor a = self.acceptor
        cdef int64_t new_seq
        if mt == b'0':                              # Heartbeat: the read cleared test_sent
            pass
        elif mt == b'1':                            # TestRequest
            s.put(s.enc.heartbeat(s.next_seq(), now, m.get(112)))
        elif mt == b'2':                            # ResendRequest
            s.resend(header_int(m, 7), header_int(m, 16), now)
        elif mt == b'3':
            a.log("rejected", s.name, f"our MsgSeqNum {m.get_str(45, '?')}: "
                  f"{m.get_str(58, '')} (reason {m.get_str(373, '?')}, tag {m.get_str(371, '-')})")
        elif mt == b'4':                            # SequenceReset-GapFill
            new_seq = header_int(m, 36)
            if new_seq <= s.store.next_in - 1:
                return s.reject(m, s.store.next_in - 1, SRR_VALUE_INCORRECT, 36,
                                f"NewSeqNo {new_seq} does not move the sequence forward", now)
            s.store.set_next_in(new_seq)
        elif mt == b'5':                            # Logout
            a.log("logout", s.name, "received" + (f": {m.get_str(58)}" if m.find(58) >= 0 else ""))
            if not s.logout_sent:
                s.logout(None, now, True)
            else:
                self.closing = True
            if s.config.reset_on_logout:
                a.flush(now)
                s.reset()
        elif mt == b'A':
            s.reject(m, s.store.next_in - 1, SRR_OTHER, 0, "already logged on", now)
        return 0

    cdef int throttle(self, Session s, int64_t seq, nanos_t now) except -1:
        """The message ``seq``, in sequence, is over server.max_message_rate:
        Reject (373=99) and not worked (its MsgSeqNum has counted); the one
        past max_throttled in a flood ends the session instead."""
        cdef Message m = self.acceptor.engine.msg
        cdef Acceptor a = self.acceptor
        s.throttled += 1
        count(a.counters, "throttled")
        if s.throttled > self.max_throttled:
            count(a.counters, "rate_logouts")
            return s.logout(f"rate limit exceeded: more than {self.max_throttled} messages over "
                            f"{self.max_rate} a second", now, True)
        if s.throttled == 1:                        # logged once a flood
            a.log("throttled", s.name, f"from MsgSeqNum {seq}: more than {self.max_rate} "
                  f"messages a second")
        return s.put(s.enc.reject(
            s.next_seq(), now, ref_seq_num=seq, reason=SRR_OTHER,
            ref_msg_type=(fc_msgtypes[m.msgtype].mt if m.msgtype >= 0 else None),
            text=f"throttled: more than {self.max_rate} messages a second"))

    cdef Py_ssize_t oversized(self, const char* p, Py_ssize_t n, nanos_t now) except -1:
        """The message at ``p`` (``n`` bytes of it here) has a BodyLength (9)
        above server.max_body_length: dropped whole, as its BodyLength says
        (the rest as it arrives: ``skip``), never read for a message inside.
        A logged-on session whose MsgSeqNum can be read from the header gets
        a Reject (373=5, RefTagID 9) and the MsgSeqNum counts; else it is only
        logged and counted. Returns the bytes dropped now; 0 to wait for more
        of the header (HEADER_PEEK bytes at most)."""
        cdef Acceptor a = self.acceptor
        cdef Session s = self.session
        cdef Py_ssize_t length, body, size, taken
        cdef int64_t seq, expected
        head = p[:min(n, HEADER_PEEK)]
        begin_string, _, rest = head.partition(b"\x01")
        body_length, _, rest = rest.partition(b"\x01")   # "9=<digits>": the parser read it
        length = int(body_length[2:])
        body = len(begin_string) + len(body_length) + 2
        size = body + length + 7                        # and "10=nnn<SOH>"
        header = {}
        for f in head[body:size].split(b"\x01")[:-1]:  # its fields here in whole
            tag, _, value = f.partition(b"=")
            header.setdefault(tag, value)
        digits = header.get(b"34", b"")
        if not digits and n < min(size, HEADER_PEEK):
            return 0
        taken = min(n, size)
        self.skip = size - taken
        count(a.counters, "oversized")
        text = f"BodyLength {length} above the limit of {a.config.server.max_body_length}"
        if s is None or not digits.isdigit() or len(digits) > 18:
            a.log("oversized", s.name if s is not None else self.peer,
                  f"{size} bytes dropped: {text}")
            return taken
        seq = int(digits)
        expected = s.store.next_in
        a.log("oversized", s.name, f"MsgSeqNum {seq}, {size} bytes dropped: {text}")
        if seq < expected:                          # resent: counted already
            return taken
        if seq == expected:
            s.store.set_next_in(seq + 1)
        else:
            s.queue[seq] = b""                      # handled; counts once the gap fills
        ref_type = header.get(b"35")
        s.put(s.enc.reject(
            s.next_seq(), now, ref_seq_num=seq, reason=SRR_VALUE_INCORRECT, ref_tag=9,
            ref_msg_type=ref_type if ref_type and ref_type.isalnum() and len(ref_type) <= 2
            else None, text=text))
        if seq > expected:
            s.ask_resend(seq, now)
        elif s.queue:
            self.drain(s, now)
        return taken

    cdef int drain(self, Session s, nanos_t now) except -1:
        """Handle the queued messages that are now in sequence, in one loop:
        ``sequenced`` calls back here for each, and returns at once (no
        recursion as deep as the queue)."""
        cdef Message m = self.acceptor.engine.msg
        cdef Py_ssize_t used
        cdef int rc
        cdef bytes data
        if self.draining:
            return 0
        self.draining = True
        try:
            while not self.closing and self.session is s:
                data = s.queue.pop(s.store.next_in, None)
                if data is None:
                    break
                if not data:                        # handled on arrival: it only counts
                    s.store.set_next_in(s.store.next_in + 1)
                    continue
                m.owner = data
                rc = m.parse(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &used)
                self.sequenced(rc, now)
        finally:
            self.draining = False
        for seq in [q for q in s.queue if q < s.store.next_in]:
            del s.queue[seq]                        # filled by a GapFill or a reset
        if not s.queue:
            s.gap_asked = 0
        return 0

    # ---- the Python edge --------------------------------------------------------------

    def close(self):
        """Close once what is pending is written."""
        self.closing = True
        self.acceptor.closing(self)

    def answer_refusal(self):
        """A held refusal's time has come: its Logout (if any), and close."""
        self.held = None
        if self.refusal is not None:
            self.transport.write(self.refusal)
        self.transport.close()

    @property
    def buffer_size(self):
        """The receive buffer's size, in bytes."""
        return PyByteArray_GET_SIZE(self.buf)


cdef class Acceptor:
    """The engine and every configured session; routes what the engine sends.

    ``log(event, who, text)`` is called for each session event (logon,
    logout, gap, resend, reject, refused, disconnect, ...).
    """

    def __init__(self, config=None, Engine engine=None, log=None):
        cdef int i
        self.config = _config.load(config)
        srv = self.config.server
        self.tolerance = srv.sending_time_tolerance * <nanos_t>NS
        self.logon_timeout = srv.logon_timeout * <nanos_t>NS
        self.log = log if log is not None else (lambda event, who, text: None)
        self.counters = {"refused_logons": 0, "garbled": 0, "errors": 0}
        self.failures = {}
        self.sessions = {}
        self.users = {}
        self.drop_copies = []
        self.audit_file = None
        cluster = self.config.cluster.enabled     # a gateway: the partitions keep these
        if self.config.audit.enabled and not cluster:
            path = self.config.audit.path or os.path.join(srv.store, "audit.trail")
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.audit_file = open_append(path)
        self.journal = None
        self.snapshot_writer = None
        start = self.open_journal(engine) if self.config.journal.enabled and not cluster \
            else None
        if start is None:
            self.engine = engine if engine is not None else Engine(self.config)
        self.dirty = []
        self.connections = set()
        self.closing_list = []
        self.watchers = []
        if cluster:
            part = {sym: p for p, syms in enumerate(self.config.cluster.partitions)
                    for sym in syms}
            self.ingress = Ingress(self.engine, [part[sym.decode()] for sym in self.engine.symbols])
        index = self.engine.session_index
        firms = {}
        for u in self.config.users:
            firms.setdefault(u.firm, set()).add(index[u.name])
        for cfg in self.config.sessions:
            store_dir = cfg.store or srv.store
            if cfg.kind == "order":
                s = Session(self, cfg, index[cfg.user], None, store_dir)
                self.users[cfg.user] = s
            else:
                copied = frozenset().union(*(firms[f] for f in cfg.firms)) if cfg.firms \
                    else frozenset(index.values())
                s = Session(self, cfg, -1, copied, store_dir)
                self.drop_copies.append(s)
            self.sessions[(s.sender, s.target)] = s
        self.by_user = [self.users.get(name) for name in self.engine.sessions]
        if start is not None:
            self.recover(start)
        else:
            self.set_engine(self.engine)

    # ---- the journal ------------------------------------------------------------------

    cdef int expect_stored(self) except -1:
        """Before what a crash may have cut short is delivered again: each
        session's messages stored past what its .seqs counted (``ahead``:
        ``Session.stored`` knows them by their content)."""
        cdef Session s
        for s in self.sessions.values():
            s.ahead = [unstamped(data) for _, data in s.store.get(s.store.counted_out)
                       if not is_admin_type(stored_type(data))]
        return 0

    def open_journal(self, Engine engine):
        """Open the journal; the engine becomes its latest snapshot's, which
        is returned. A new journal begins with a snapshot of ``engine`` (a
        new Engine when None); an existing one ignores ``engine``."""
        cfg = self.config.journal
        path = cfg.path or os.path.join(self.config.server.store, "journal")
        self.journal = Journal(path, cfg.fsync, cfg.segment_size)
        if self.journal.cut:
            self.log("journal", path, f"{self.journal.cut} bytes of a torn record cut off")
        start = _snapshot.latest(
            path, log=lambda where, why: self.log("journal", where, f"snapshot skipped: {why}"))
        if start is None:
            if self.journal.seq:
                raise JournalError(path, None, f"{self.journal.seq} records and no snapshot "
                                   "that reads whole to replay them on")
            self.engine = engine if engine is not None else Engine(self.config)
            start = _snapshot.take(0, self.engine, self.audit_size())
            _snapshot.save(path, start, sync=self.journal.fsync != SYNC_NONE)
        else:
            self.engine = start.engine()
        self.snapshot_seq = self.snapshot_tried = start.seq
        self.snapshot_every = cfg.snapshot_every
        return start

    def recover(self, start):
        """Replay the journal's records after the snapshot ``start`` on the
        engine: each session stores the messages they caused that it lacks
        (all of them were never sent), and expects the MsgSeqNum after its
        client's last journalled message; the audit trail gets the records
        it lacks. Then the engine is the server's."""
        cdef Engine engine = self.engine
        cdef Session s
        cdef int64_t seq_in
        audit = []
        replayed = refused = 0
        self.expect_stored()
        for record in _records(self.journal.directory, after=start.seq):
            for s in self.users.values():       # number as the sessions will
                engine.out_seq[s.user] = s.store.next_out - 1
            new, out, no = _recovery.apply(engine, record)
            replayed += 1
            refused += no
            if new is not engine:               # a reset
                audit.append(engine.audit.take())
                self.use(new)
                engine = new
            elif record.kind == "F":
                s = <Session>self.users[engine.sessions[record.user]]
                seq_in = header_int(engine.msg, 34)
                if seq_in >= s.store.next_in:
                    s.store.set_next_in(seq_in + 1)
            self.deliver(out, record.now, record.seq)
        audit.append(engine.audit.take())
        if self.audit_file is not None:         # the records the trail lacks
            self.audit_file.write(skip(b"".join(audit),
                                       count_after(self.audit_file.name, start.audit_offset)))
        self.set_engine(engine)
        for s in self.sessions.values():
            s.ahead = None
            s.store.journal_seq = self.journal.seq
            s.store.save(self.journal.fsync != SYNC_NONE)
        self.log("recovered", self.journal.directory,
                 f"snapshot {start.seq} and {replayed} records after it ({refused} refused); "
                 f"journal at {self.journal.seq}; state hash {engine.state_hash()}")

    def audit_size(self):
        """The bytes of the audit trail's file (0 without one)."""
        return os.fstat(self.audit_file.fileno()).st_size if self.audit_file is not None else 0

    def record(self, str kind, user, nanos_t now, bytes data):
        """Journal an input the engine is about to take from the Python edge
        (``user``: its name, None for none); nothing without a journal."""
        if self.journal is not None:
            self.journal.append(kind, -1 if user is None else self.engine.session_index[user],
                                now, data)

    def snapshot(self, bint wait=False):
        """A snapshot of the engine as it is now, written by a child process
        (``snapshot.Writer``; with ``wait``, waited for); the snapshots and
        journal files no longer needed go. Skipped while the previous one is
        being written, unless ``wait``."""
        if self.journal is None or not self.reap_snapshot(wait):
            return
        self.snapshot_tried = self.journal.seq
        self.snapshot_writer = _snapshot.Writer.start(
            self.journal.directory, self.journal.seq, self.engine, self.audit_size(),
            keep=self.config.journal.keep_snapshots, sync=self.journal.fsync != SYNC_NONE)
        if wait:
            self.reap_snapshot(True)

    def reap_snapshot(self, bint wait=False):
        """True when no snapshot is being written (any that was is reaped,
        and its failure logged); with ``wait``, after waiting for it."""
        writer = self.snapshot_writer
        if writer is None:
            return True
        if wait:
            writer.wait()
        elif not writer.poll():
            return False
        self.snapshot_writer = None
        if writer.error is None:
            self.snapshot_seq = writer.seq
        else:                           # tried again after snapshot_every more, or at close
            self.log("journal", self.journal.directory,
                     f"snapshot {writer.seq} not written: {writer.error}")
        return True

    def set_engine(self, Engine engine):
        """Work with ``engine`` from now on (an operator's reset, a start):
        each session's outbound sequence carries on where its store is, and
        the audit trail begins a run."""
        self.use(engine)
        engine.audit.start(time.time_ns())
        self.write_audit()

    def use(self, Engine engine):
        """``set_engine`` without a run of the audit trail (recovery's)."""
        cdef Session s
        if set(engine.sessions) != set(self.users):
            raise ValueError("the new engine's users differ from the sessions'")
        self.engine = engine
        engine.msg.max_body_length = self.config.server.max_body_length
        for s in self.users.values():
            s.user = engine.session_index[s.config.user]
            engine.out_seq[s.user] = s.store.next_out - 1

    cdef int mark(self, Session s) except -1:
        s.dirty = True
        self.dirty.append(s)
        return 0

    cdef int deliver(self, list out, nanos_t now, int64_t replayed=0) except -1:
        """Route the engine's messages: each to its user's session, each
        ExecutionReport also to the drop copies of the user's firm. Those of
        a ``replayed`` journal record go only to the sessions whose stores
        lack them."""
        cdef Session s
        cdef bytes data
        for name, data in out:
            s = <Session>self.users[name]
            if replayed == 0 or (s.store.journal_seq < replayed
                                 and not s.stored(PyBytes_AS_STRING(data),
                                                  PyBytes_GET_SIZE(data))):
                s.put(data)
            self.copy(s, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), now, replayed)
        for watcher in self.watchers:
            watcher(out)
        return 0

    cdef int copy(self, Session s, const char* data, Py_ssize_t n, nanos_t now,
                  int64_t replayed) except -1:
        """``s``'s message ``data[:n]``, when an ExecutionReport, to the drop
        copies of its user's firm (for a ``replayed`` record, those whose
        stores lack it)."""
        cdef Session dc
        cdef Py_ssize_t k
        if not self.drop_copies or type_at(data, n) != b'8':
            return 0
        for dc in self.drop_copies:
            if s.user in dc.firm_users and (replayed == 0 or dc.store.journal_seq < replayed):
                k = dc.enc.rewrap(data, n, dc.next_seq(), now, False, s.target)
                if replayed == 0 or not dc.stored(dc.enc.buf + dc.enc.start, k):
                    dc.put_raw(dc.enc.buf + dc.enc.start, k)
        return 0

    # ---- the Python edge --------------------------------------------------------------

    def session(self, target_comp_id, sender_comp_id=None):
        """The Session with the client ``target_comp_id``."""
        sender = (sender_comp_id or self.config.engine.comp_id).encode()
        return self.sessions[(sender, target_comp_id.encode())]

    def send(self, list out, nanos_t now):
        """Deliver messages the engine returned to a Python call (an
        operator's command, an embedded client's order) and write them."""
        self.deliver(out, now)
        self.flush(now)

    def relay(self, bytes entry not None, nanos_t now, int64_t seq, bint again=False):
        """A cluster's gateway: deliver and write (at ``now``) the messages
        of a partition's output entry (``fastcore.cluster.entries``), the
        gateway's ``seq``-th, each numbered for its session here (its
        SendingTime the engine's) and copied to the drop copies; the stores
        it touches then count it in (their journal_seq). ``again``: the
        entry a crash may have cut short: only to the sessions whose stores
        lack it. JournalError, and nothing delivered, when the entry does
        not read whole or names a user with no session."""
        cdef const char* p = PyBytes_AS_STRING(entry)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(entry), pos = 0, n
        cdef Session s
        while pos < size:                   # all of it readable before any of it goes
            if size - pos < OUT_HEAD or size - pos - OUT_HEAD < out_length(p + pos):
                raise JournalError("output entry", pos, "a message cut short")
            if out_user(p + pos) >= len(self.by_user) or self.by_user[out_user(p + pos)] is None:
                raise JournalError("output entry", pos, f"a message to user "
                                   f"{out_user(p + pos)}, who has no session here")
            pos += OUT_HEAD + out_length(p + pos)
        self.relayed = seq
        if again:
            self.expect_stored()
        pos = 0
        while pos < size:
            s = <Session>self.by_user[out_user(p + pos)]
            n = out_length(p + pos)
            pos += OUT_HEAD
            if not again or s.store.journal_seq < seq and not s.stored(   # the engine's
                    s.enc.buf + s.enc.start,                # SendingTime: the same again
                    s.enc.rewrap(p + pos, n, 0, KEEP_TIME, False, None)):
                s.put_raw(s.enc.buf + s.enc.start,
                          s.enc.rewrap(p + pos, n, s.next_seq(), KEEP_TIME, False, None))
            self.copy(s, p + pos, n, KEEP_TIME, seq if again else 0)
            pos += n
        if again:
            for s in self.sessions.values():
                s.ahead = None
        if self.watchers:
            out = [(self.engine.sessions[u], m) for u, m in messages(entry)]
            for watcher in self.watchers:
                watcher(out)
        self.flush(now)

    def closing(self, Connection conn):
        if conn not in self.closing_list:
            self.closing_list.append(conn)

    def write_audit(self):
        """Append the engine's new audit records to the trail's file."""
        if self.audit_file is not None and len(self.engine.audit):
            self.audit_file.write(self.engine.audit.take())

    def flush(self, nanos_t now):
        """Write each touched session's outbox (one write) and flush its
        store; close the connections that are done. The audit records of
        the batch go to their file first."""
        cdef Session s
        cdef Connection c
        cdef int64_t seq = 0
        if self.journal is not None:           # the inputs first: write-ahead
            self.journal.commit()
            seq = self.journal.seq
        elif self.ingress is not None:          # a gateway: the entries relayed
            seq = self.relayed
        self.write_audit()
        for s in self.dirty:
            s.dirty = False
            if seq:
                s.store.journal_seq = seq
            s.store.save(False)
            if s.kind == K_ORDER and s.store.next_out != self.engine.out_seq[s.user] + 1:
                raise RuntimeError(f"{s.name}: the store is at {s.store.next_out}, the engine "
                                   f"at {self.engine.out_seq[s.user] + 1}")
            if s.conn is not None and len(s.outbox):
                s.conn.transport.write(bytes(s.outbox))
                s.last_out = now
                if s.conn.closing:
                    self.closing(s.conn)
            del s.outbox[:]
        self.dirty.clear()
        for c in self.closing_list:
            c.transport.close()
        self.closing_list.clear()
        if self.ingress is not None:
            self.ingress.flush()
        if self.snapshot_every and seq - self.snapshot_tried >= self.snapshot_every:
            self.snapshot()

    def tick(self, nanos_t now):
        """The timers, once a second: a Heartbeat after HeartBtInt of
        silence from us, a TestRequest after HeartBtInt (and a fifth) of
        silence from the client, the connection closed when that gets no
        answer within HeartBtInt; a connection that sends no Logon within
        logon_timeout is closed; a session whose message has not arrived
        whole within stalled_message_timeout is logged out."""
        cdef Session s
        cdef Connection c
        cdef nanos_t hb
        cdef int stall = self.config.server.stalled_message_timeout
        for c in list(self.connections):
            if c.session is None and not c.closing and now - c.opened > self.logon_timeout:
                c.refuse("no Logon within the logon timeout", None, None, now)
                self.closing(c)
            elif c.session is not None and not c.closing and not c.paused and c.partial_since \
                    and now - c.partial_since > stall * <nanos_t>NS:
                count(self.counters, "stalled")
                self.log("timeout", c.session.name, f"a message incomplete for {stall} s")
                c.session.logout(f"stalled: a message incomplete for {stall} s", now, True)
                self.closing(c)
        if self.failures:                           # the rows of failed Logons that ended
            self.failures = {key: row for key, row in self.failures.items()
                             if now - row[1] <= FAILURES_KEPT * <nanos_t>NS}
        for s in self.sessions.values():
            if s.conn is None or s.heartbeat <= 0 or s.conn.closing:
                continue
            hb = s.heartbeat * <nanos_t>NS
            if s.test_sent and now - s.test_sent > hb:
                self.log("timeout", s.name, "no answer to our TestRequest")
                s.logout("no answer to TestRequest", now, True)
                self.closing(s.conn)
                continue
            if s.logout_sent and now - s.last_out > hb:
                self.closing(s.conn)
                continue
            if not s.test_sent and now - s.last_in > hb + hb // 5:
                s.test_count += 1
                s.test_sent = now
                s.put(s.enc.test_request(s.next_seq(), now, f"TEST{s.test_count}"))
            elif now - s.last_out >= hb:
                s.put(s.enc.heartbeat(s.next_seq(), now))
        self.reap_snapshot()
        self.flush(now)

    def shutdown(self, nanos_t now, text="server shutting down"):
        """Logout to every session; the caller waits for the connections to
        close (each closes when its client answers), then calls ``close``."""
        cdef Session s
        cdef Connection c
        for s in self.sessions.values():
            if s.conn is not None and not s.logout_sent:
                s.logout(text, now, False)
        for c in list(self.connections):
            if c.held is not None:                  # a failed Logon's refusal: answered now
                c.held.cancel()
                c.answer_refusal()
        self.flush(now)

    def close(self):
        """Flush and close the journal (a snapshot of the engine first, so
        that the next start replays nothing), every store and the audit
        trail's file."""
        cdef Session s
        if self.journal is not None:
            self.journal.commit()
            self.reap_snapshot(True)
            if self.journal.seq != self.snapshot_seq:
                self.snapshot(wait=True)
        for s in self.sessions.values():
            s.store.close()
        if self.audit_file is not None:
            self.write_audit()
            self.audit_file.close()
        if self.journal is not None:
            self.journal.close()
