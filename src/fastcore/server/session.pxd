# The FIX 4.4 session layer: sessions, connections, and the acceptor that
# routes the engine's messages to them.
#
# Write pipeline. Everything a session sends in one batch (the engine's
# reports, its own administrative messages, resent messages) is numbered,
# appended to the session's store, and collected in its ``outbox``; once per
# batch (one read of one connection, one timer tick, one operator command)
# ``Acceptor.flush`` writes each touched session's outbox with one
# ``transport.write`` and flushes its store. A session with no connection
# still numbers and stores what it is sent: the client asks for it with a
# ResendRequest when it logs on again.
#
# Read pipeline. A connection reads into a buffer it owns; every complete
# message of a read is parsed in place (the engine's Message views the
# buffer) and handled in turn: the header checks and sequencing here, the
# application messages by the engine.

from libc.stdint cimport int64_t, uint16_t

from fastcore._types cimport nanos_t
from fastcore.cluster.ingress cimport Ingress
from fastcore.codec.encoder cimport Encoder
from fastcore.codec.parser cimport Message
from fastcore.engine cimport Engine
from fastcore.journal cimport Journal
from fastcore.server.store cimport FileStore


# Session.kind
cdef enum:
    K_ORDER = 0          # trades as a user of the engine
    K_DROP_COPY = 1      # receives a copy of the ExecutionReports of its firms


cdef class Session:
    # ---- identity, from the configuration
    cdef readonly object config           # fastcore.config.Session
    cdef readonly str name                # "SENDER->TARGET"
    cdef readonly bytes sender, target    # our CompID (49 out) and the client's (56 out)
    cdef readonly int kind
    cdef readonly int user                # the engine's index of its user; -1 for a drop copy
    cdef readonly object firm_users       # drop copy: the engine indexes it copies (frozenset)
    cdef Acceptor acceptor
    cdef Encoder enc                      # its administrative messages (and drop copies)

    # ---- sequence numbers and what was sent
    cdef readonly FileStore store         # next_in: the next MsgSeqNum expected from the client;
                                          # next_out: the next sent (== the engine's counter
                                          # for an order session's user, checked at flush)
    cdef dict queue                       # messages above next_in, by MsgSeqNum, until the gap fills
                                          # (b"": a Logon or ResendRequest already handled)
    cdef int64_t gap_asked                # the BeginSeqNo of our outstanding ResendRequest; 0 none
    cdef list ahead                       # recovery: the messages stored past the store's
                                          # counted_out, as `unstamped` gives them; None

    # ---- the connection, while logged on
    cdef readonly Connection conn
    cdef readonly int heartbeat           # HeartBtInt, seconds
    cdef nanos_t last_in, last_out        # for the heartbeat and test request timers
    cdef nanos_t test_sent                # when our TestRequest went out; 0: none, or answered
                                          # (anything the client sends answers it)
    cdef int test_count
    cdef bint logout_sent
    cdef bytearray outbox
    cdef bint dirty                       # in the acceptor's list of sessions to flush
    cdef nanos_t rate_full                # server.max_message_rate's token bucket (GCRA): when
                                          # it is full again; each message moves it on
    cdef int64_t throttled                # messages over the rate since the bucket was last full

    cdef int64_t next_seq(self) noexcept
    cdef int64_t last_seq(self) noexcept
    cdef int put(self, bytes data) except -1
    cdef int put_raw(self, const char* p, Py_ssize_t n) except -1
    cdef bint stored(self, const char* p, Py_ssize_t n) except -1
    cdef int send(self, bytes data) except -1
    cdef int write(self, const char* p, Py_ssize_t n) except -1
    cdef int resend(self, int64_t begin, int64_t end, nanos_t now) except -1
    cdef bytes gap_fill(self, int64_t seq, int64_t new_seq, nanos_t now)
    cdef int ask_resend(self, int64_t seq, nanos_t now) except -1
    cdef int reject(self, Message m, int64_t seq, int reason, int ref_tag, str text,
                    nanos_t now) except -1
    cdef int logout(self, str text, nanos_t now, bint close) except -1


cdef class Connection:
    # ---- the receive buffer: reads land at [filled, len)
    cdef bytearray buf
    cdef Py_ssize_t filled
    cdef Py_ssize_t max_size              # the largest message accepted, in bytes

    cdef readonly Acceptor acceptor
    cdef readonly Session session         # None until its Logon is accepted
    cdef readonly object transport
    cdef readonly str peer
    cdef nanos_t opened                   # for the logon timeout
    cdef bint closing                     # close once the outbox is written
    cdef bint draining                    # in drain (handling the queued messages)

    # ---- hostile input (server.*: see fastcore.config.ServerConfig)
    cdef Py_ssize_t skip                  # bytes of an oversized message still to drop
    cdef nanos_t partial_since            # when the incomplete message at the buffer's start
                                          # (or the oversized one being dropped) began; 0: none
    cdef bint paused                      # reading paused (backpressure): not stalled
    cdef int64_t max_rate, max_throttled  # server.max_message_rate, .max_throttled (0: the rate)
    cdef nanos_t rate_interval            # ns per message at the rate; 0: no limit
    cdef nanos_t rate_burst               # how far the bucket may run ahead of now
    cdef object held                      # a refused Logon's delayed answer (a TimerHandle)
    cdef bytes refusal                    # ... the Logout it writes (None: none)

    cdef int handle(self, int rc, nanos_t now) except -1
    cdef int logon(self, int rc, nanos_t now) except -1
    cdef int sequenced(self, int rc, nanos_t now) except -1
    cdef int admin(self, Session s, char mt, nanos_t now) except -1
    cdef int drain(self, Session s, nanos_t now) except -1
    cdef int refuse(self, str why, Session s, str text, nanos_t now, double delay=*) except -1
    cdef double failed(self, str key, str counter, nanos_t now) except -1
    cdef Py_ssize_t oversized(self, const char* p, Py_ssize_t n, nanos_t now) except -1
    cdef int throttle(self, Session s, int64_t seq, nanos_t now) except -1


cdef class Acceptor:
    cdef readonly Engine engine
    cdef readonly object config           # fastcore.config.Config
    cdef readonly dict sessions           # (sender, target) bytes → Session
    cdef readonly dict users              # user name → its order Session
    cdef list by_user                     # the engine's user index → its order Session (or None)
    cdef list drop_copies
    cdef list dirty                       # sessions with something to write this batch
    cdef list closing_list                # connections to close once written
    cdef readonly set connections         # every open Connection
    cdef readonly object log              # log(event, session name or peer, text)
    cdef readonly dict counters           # refused logons, garbled messages, ...
    cdef dict failures                    # failed Logons in a row: session name or peer host
                                          # → (count, time of the last)
    cdef nanos_t tolerance                # SendingTime accuracy, ns (0: no check)
    cdef nanos_t logon_timeout
    cdef readonly list watchers           # callables given every list of (recipient, bytes) delivered
    cdef public object idle               # called when the last connection has closed
    cdef readonly object audit_file       # the audit trail's file (appended once per batch), None

    cdef readonly Journal journal         # the write-ahead journal, None when disabled
    cdef readonly int64_t snapshot_seq    # the journal record the latest snapshot written includes
    cdef int64_t snapshot_tried           # ... the latest one started (written or not)
    cdef int64_t snapshot_every           # journal.snapshot_every; 0 without a journal
    cdef object snapshot_writer           # the snapshot.Writer at work, or None
    cdef readonly Ingress ingress         # a cluster's gateway: where application messages go
                                          # (the partitions' engines work them); None
    cdef readonly int64_t relayed         # a gateway: the output entries it relayed (the
                                          # number its stores' journal_seq count in)

    cdef int deliver(self, list out, nanos_t now, int64_t replayed=*) except -1
    cdef int copy(self, Session s, const char* data, Py_ssize_t n, nanos_t now,
                  int64_t replayed) except -1
    cdef int mark(self, Session s) except -1
    cdef int expect_stored(self) except -1
