# cython: language_level=3, boundscheck=False, wraparound=False
"""A partition's log entries, worked in C: an input entry applied to the
engine, and the output entry it makes.

    worker = Worker(engine)              # last_in: per user, the last MsgSeqNum taken
    out = worker.work(entry, "bench_in_0 entry 7")
    for user, message in messages(out):  # what the engine sent, in order
        ...

An **input entry** is the gateway's journal records (``Records.take``),
read here as ``Records.add`` writes them (the frame, its CRC, the record's
fixed msgpack head); anything else is a JournalError naming the entry. A
FIX message (``F``) whose MsgSeqNum is not above the last one taken from
its user is a resent input: skipped. ``S`` (the user's session began its
sequence again) lets that user's MsgSeqNums begin again. The engine refuses
what it refused live, the same way (``recovery.apply``); the other kinds of
record go through ``recovery.apply`` as they are.

An **output entry** is what the engine sent while it worked one input
entry: per message ``u16 user | u32 length | the message`` (little-endian,
``user`` the engine's index of the recipient), back to back; empty when it
sent nothing. The gateway numbers each message for its session
(``Acceptor.relay``).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from libc.stdint cimport int64_t, uint8_t, uint16_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

from fastcore._bytes cimport get_be, get_le, put_le
from fastcore._memory cimport reserve
from fastcore._types cimport nanos_t
from fastcore.codec.parser cimport Message, P_OK, P_PARTIAL, P_REJECT
from fastcore.engine cimport Engine
from fastcore.journal cimport FRAME, HEAD, crc32_of

from fastcore.errors import JournalError
from fastcore.journal import Record
from fastcore.recovery import apply

cdef int64_t MAX_SEQ = 100000000000000000   # 10^17: past it, not a MsgSeqNum

cdef enum:
    FIRST_OUT = 1 << 16         # the output buffer's first size


cdef int64_t msg_seq_num(const char* p, Py_ssize_t n) noexcept nogil:
    """MsgSeqNum (34) of the FIX message ``p[:n]``; -1 when it has none
    (or not a number)."""
    cdef Py_ssize_t i = 0
    cdef int64_t v = -1
    while i + 4 <= n:
        if p[i] == 1 and p[i + 1] == b'3' and p[i + 2] == b'4' and p[i + 3] == b'=':
            i += 4
            while i < n and b'0' <= p[i] <= b'9' and v < MAX_SEQ:
                v = (0 if v < 0 else v * 10) + (p[i] - 48)     # 48: '0'
                i += 1
            return v if i < n and p[i] == 1 else -1
        i += 1
    return -1


cdef class Worker:
    """Works a partition's input entries on ``engine``. ``last_in``: per
    user, the last MsgSeqNum taken (a snapshot's; zeros when None)."""

    cdef readonly Engine engine
    cdef int64_t* seqs                    # last_in, per user
    cdef Py_ssize_t users
    cdef char* out                        # the output entry being made: out[:out_len]
    cdef Py_ssize_t out_len, out_cap
    cdef readonly int64_t inputs          # records applied
    cdef readonly int64_t duplicates      # FIX messages skipped: taken already
    cdef readonly int64_t refused         # ... that the engine refused

    def __cinit__(self, Engine engine, last_in=None):
        cdef Py_ssize_t i
        self.engine = engine
        self.users = len(engine.sessions)
        self.seqs = <int64_t*>PyMem_Calloc(max(self.users, 1), sizeof(int64_t))
        self.out_cap = FIRST_OUT
        self.out = <char*>realloc(NULL, self.out_cap)
        if self.seqs == NULL or self.out == NULL:
            raise MemoryError()
        if last_in:
            if len(last_in) != self.users:
                raise ValueError(f"last_in has {len(last_in)} users, the engine {self.users}")
            for i in range(self.users):
                self.seqs[i] = last_in[i]

    def __dealloc__(self):
        PyMem_Free(self.seqs)
        free(self.out)

    @property
    def last_in(self):
        """Per user, the last MsgSeqNum taken (what a snapshot keeps)."""
        return [self.seqs[i] for i in range(self.users)]

    def work(self, bytes data not None, str where="entry"):
        """Work the input entry ``data``; its output entry (bytes)."""
        cdef const char* p = PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data), pos = 0, length
        cdef const char* r
        cdef char kind
        cdef uint16_t user
        self.out_len = 0
        while pos < n:
            if n - pos < FRAME:
                raise JournalError(where, pos, f"a frame header cut short ({n - pos} bytes)")
            length = get_le(p + pos, 4)
            if length < HEAD or n - pos - FRAME < length:
                raise JournalError(where, pos, f"a record of {length} bytes where "
                                   f"{n - pos - FRAME} remain")
            r = p + pos + FRAME
            if crc32_of(r, length) != get_le(p + pos + 4, 4):
                raise JournalError(where, pos, "a record fails its CRC")
            if not (<uint8_t>r[0] == 0x95 and <uint8_t>r[1] == 0xa1 and <uint8_t>r[3] == 0xcf
                    and <uint8_t>r[12] == 0xcd and <uint8_t>r[15] == 0xd3
                    and <uint8_t>r[24] == 0xc6 and get_be(r + 25, 4) == length - HEAD):
                raise JournalError(where, pos, "a record not framed as Records.add frames it")
            kind = r[2]
            user = <uint16_t>get_be(r + 13, 2)
            if kind == b'F' or kind == b'S':
                if user >= self.users:
                    raise JournalError(where, pos, f"a record of user {user}: the engine "
                                       f"has {self.users}")
                if kind == b'S':
                    self.seqs[user] = 0
                else:
                    self._fix(data, r + HEAD, length - HEAD, user, <int64_t>get_be(r + 16, 8))
            else:
                self._other(Record(chr(kind), get_be(r + 4, 8), user, <int64_t>get_be(r + 16, 8),
                                   r[HEAD:length]))
            pos += FRAME + length
        self.engine.audit.take()            # the engines keep no trail: the log is the record
        return PyBytes_FromStringAndSize(self.out, self.out_len)

    cdef int _fix(self, bytes owner, const char* msg, Py_ssize_t n, uint16_t user,
                  nanos_t now) except -1:
        """A FIX message of ``user``: worked as ``Engine.submit`` works it."""
        cdef int64_t seq = msg_seq_num(msg, n)
        cdef Engine engine = self.engine
        cdef Message m = engine.msg
        cdef Py_ssize_t used
        cdef int rc
        if seq <= self.seqs[user]:
            self.duplicates += 1
            return 0
        self.seqs[user] = seq
        self.inputs += 1
        m.owner = owner
        rc = m.parse(msg, n, &used)
        if rc != P_PARTIAL and used != n or rc != P_OK and rc != P_REJECT:
            self.refused += 1               # not one whole message: nothing to answer
            return 0
        try:
            if rc == P_REJECT:
                engine.session_reject(user, now)
            else:
                engine.process(user, now)
        except Exception:                   # refused live the same way (see recovery.apply)
            self.refused += 1
            return 0
        return self._put(engine.take())

    cdef int _other(self, record) except -1:
        cdef bint refused
        self.inputs += 1
        engine, sent, refused = apply(self.engine, record)
        if len(engine.sessions) != self.users:     # a reset (R) to other users: last_in is theirs
            raise JournalError("entry", None, f"a reset to an engine of {len(engine.sessions)} "
                               f"users, not {self.users}")
        self.engine = engine
        self.refused += refused
        return self._put(sent)

    cdef int _put(self, list sent) except -1:
        """Append the messages ``sent`` ([(recipient, bytes)]) to the output entry."""
        cdef dict index = self.engine.session_index
        cdef bytes b
        cdef Py_ssize_t k, need
        cdef uint16_t user
        cdef char* q
        for name, b in sent:
            k = PyBytes_GET_SIZE(b)
            need = self.out_len + OUT_HEAD + k
            reserve(&self.out, &self.out_cap, need)
            user = <uint16_t>(<int>index[name])
            q = self.out + self.out_len
            put_le(q, user, 2)
            put_le(q + 2, k, 4)
            memcpy(q + OUT_HEAD, PyBytes_AS_STRING(b), k)
            self.out_len = need
        return 0


def messages(bytes data not None):
    """The messages of an output entry: [(user, bytes)], in order;
    JournalError when it does not read whole."""
    cdef const char* p = PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), pos = 0, k
    out = []
    while pos < n:
        if n - pos < OUT_HEAD or n - pos - OUT_HEAD < out_length(p + pos):
            raise JournalError("output entry", pos, "a message cut short")
        k = out_length(p + pos)
        out.append((out_user(p + pos), p[pos + OUT_HEAD:pos + OUT_HEAD + k]))
        pos += OUT_HEAD + k
    return out
