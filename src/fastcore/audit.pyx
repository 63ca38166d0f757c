# cython: language_level=3, boundscheck=False, wraparound=False
"""The audit trail's writer: records appended in C, taken as bytes.

    trail = engine.audit
    trail.start(now)                # a run begins (the server does it at start)
    data = trail.take()             # the records since the last take

The engine appends the records; the edge takes them once per batch and
appends them to a file that is never rewritten (``fastcore.auditfile``
reads, exports and queries it). The format is in ``audit.pxd``.
"""

from libc.stdlib cimport realloc, free
from libc.string cimport memcpy, memset

from cpython.bytes cimport PyBytes_FromStringAndSize


import sys

if sys.byteorder != "little":
    raise ImportError("fastcore's audit trail is written little-endian, as the machine's memory")

RECORD = "<II7q7cB"
"""``struct`` format of a record's fixed part (audit_t)."""

FIXED = sizeof(audit_t)
TEXTS = A_TEXTS


cdef class AuditTrail:
    """The records of one engine since the last ``take``; ``enabled``
    False keeps none (the configuration's ``audit.enabled``)."""

    def __cinit__(self, bint enabled=True):
        self.enabled = enabled

    def __dealloc__(self):
        free(self.buf)

    cdef audit_t* add(self, char kind, Py_ssize_t texts) except NULL:
        """Room for a record of ``kind`` with ``texts`` bytes of texts (each
        text's four length bytes included), zeroed, its length and kind
        set; the texts follow with ``text``, in order."""
        cdef Py_ssize_t need = self.len + sizeof(audit_t) + texts
        cdef Py_ssize_t cap
        cdef char* p
        cdef audit_t* a
        if need > self.cap:
            cap = max(need, 2 * self.cap, 1 << 16)
            p = <char*>realloc(self.buf, cap)
            if p == NULL:
                raise MemoryError()
            self.buf, self.cap = p, cap
        a = <audit_t*>(self.buf + self.len)
        memset(a, 0, sizeof(audit_t))
        a.length = <uint32_t>(sizeof(audit_t) + texts)
        a.kind = kind
        self.len += sizeof(audit_t)
        return a

    cdef void text(self, const char* p, Py_ssize_t n) noexcept:
        """A text of the record being written (room reserved by ``add``)."""
        cdef uint32_t k = <uint32_t>n
        memcpy(self.buf + self.len, &k, 4)
        if n:
            memcpy(self.buf + self.len + 4, p, n)
        self.len += 4 + n

    def start(self, int64_t now):
        """Mark the start of a run at ``now``: order ids count from 1 again
        after it (until the journal makes them carry on)."""
        if self.enabled:
            self.add(A_START, 0).ts = now

    def take(self):
        """The records since the last take, as bytes; the buffer empties."""
        cdef bytes out = PyBytes_FromStringAndSize(self.buf, self.len)
        self.len = 0
        return out

    def __len__(self):
        """Bytes waiting to be taken."""
        return self.len
