# cython: language_level=3, boundscheck=False, wraparound=False
"""The cluster gateway's ingress: the FIX server's sessions check each
message (framing, CheckSum, sequence, CompIDs, the dictionary) as they do
on a single node; an application message that passes is not worked here but
added, as a journal record (kind ``F``: the user, the receive time, the
message as received), to the next log entry of the partition that trades
its Symbol (55). A message with no Symbol, or one no partition trades, goes
to partition 0, whose engine rejects it as a single node would.

At the end of each batch the server calls ``flush``; ``ready()`` (the
gateway's) then publishes the entries that have inputs (``take``). An
entry's ``id``, its first input's session, MsgSeqNum and receive time, is
the NATS message id the stream deduplicates a retried publish by.

A session whose sequence numbers begin again (a Logon with ResetSeqNumFlag,
``reset_on_logon``) adds a record ``S`` to every partition's entry: the
partition engines' duplicate check (a MsgSeqNum not above the last one of
the user) begins again too.
"""

from cpython.mem cimport PyMem_Calloc, PyMem_Free
from libc.stdint cimport uint16_t, uint32_t, int64_t

from fastcore._types cimport nanos_t
from fastcore.codec.parser cimport Message
from fastcore.engine cimport Engine
from fastcore.journal cimport Records
from fastcore.orders.clordids cimport NO_KEY


cdef class Ingress:
    """Routes inputs to partitions. ``partition_of``: the partition of each
    of ``engine``'s instruments, in its ``symbols`` order."""

    def __cinit__(self, Engine engine, partition_of):
        cdef int i
        if len(partition_of) != len(engine.symbols):
            raise ValueError(f"{len(partition_of)} partitions for {len(engine.symbols)} "
                             "instruments")
        self.engine = engine
        self.partitions = max(partition_of, default=0) + 1
        self.part_of = <uint16_t*>PyMem_Calloc(max(len(partition_of), 1), sizeof(uint16_t))
        if self.part_of == NULL:
            raise MemoryError()
        for i, p in enumerate(partition_of):
            self.part_of[i] = p
        self.entries = [Records() for _ in range(self.partitions)]
        self.first = [""] * self.partitions

    def __dealloc__(self):
        PyMem_Free(self.part_of)

    cdef int add(self, uint16_t user, nanos_t now, Message m, int64_t seq) except -1:
        """The message ``m`` of ``user`` (MsgSeqNum ``seq``), received at ``now``."""
        cdef int i = m.find(55), part = 0
        cdef uint32_t k
        cdef Records entry
        if i >= 0:
            k = self.engine.symbol_ids.find(0, m.buf + m.views[i].off, <uint32_t>m.views[i].len)
            if k != NO_KEY:
                part = self.part_of[self.engine.symbol_ids.keys[k].order]
        entry = <Records>self.entries[part]
        if entry.len == 0:
            self.first[part] = f"{self.engine.sessions[user]}:{seq}:{now}"
        entry.add(b'F', user, now, m.buf, m.size)
        return 0

    cdef int reset(self, uint16_t user, nanos_t now) except -1:
        """The session of ``user`` begins its sequence again (at ``now``)."""
        cdef int part
        cdef Records entry
        for part in range(self.partitions):
            entry = <Records>self.entries[part]
            if entry.len == 0:
                self.first[part] = f"{self.engine.sessions[user]}:reset:{now}"
            entry.add(b'S', user, now, NULL, 0)
        return 0

    # ---- the Python edge ---------------------------------------------------------

    def flush(self):
        """End of a batch: ``ready()`` when an entry has inputs."""
        cdef Records entry
        if self.ready is None:
            return
        for entry in self.entries:
            if entry.len:
                self.ready()
                return

    def take(self, int part, Py_ssize_t limit=0):
        """(id, bytes) of partition ``part``'s entry (its first inputs within
        ``limit`` bytes, when given: the rest wait for the next); None when
        it has no input."""
        cdef Records entry = <Records>self.entries[part]
        cdef str first = self.first[part]
        if entry.len == 0:
            return None
        data = entry.take(limit)
        if entry.len:                           # the rest: an id of its own
            self.first[part] = f"{first}+{len(data)}"
        return first, data

    def pending(self, int part):
        """Bytes of inputs waiting in partition ``part``'s entry."""
        return len(self.entries[part])
