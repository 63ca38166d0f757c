# The cluster gateway's ingress: each application message a FIX session
# takes, routed by its Symbol (55) to its partition and framed as a journal
# record in that partition's next log entry (see ingress.pyx).

from libc.stdint cimport uint16_t, int64_t

from fastcore._types cimport nanos_t
from fastcore.codec.parser cimport Message
from fastcore.engine cimport Engine


cdef class Ingress:
    cdef Engine engine                    # the gateway's: its Symbol index and users
    cdef readonly int partitions
    cdef uint16_t* part_of                # instrument index → partition
    cdef readonly list entries            # per partition: the Records of its next log entry
    cdef readonly list first              # per partition: the id of that entry ("" while empty)
    cdef public object ready              # called at the batch's flush when an entry has inputs

    cdef int add(self, uint16_t user, nanos_t now, Message m, int64_t seq) except -1
    cdef int reset(self, uint16_t user, nanos_t now) except -1
