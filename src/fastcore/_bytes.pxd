# Integers in byte buffers, shared by the C-level modules that frame records
# (the journal, a cluster's log entries): little-endian for frames and heads
# of our own, big-endian for msgpack's.

from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef inline void put_le(char* w, uint64_t v, int n) noexcept nogil:
    """``v`` as ``n`` bytes at ``w``, little-endian."""
    cdef int i
    for i in range(n):
        w[i] = <char>((v >> (8 * i)) & 0xFF)


cdef inline uint64_t get_le(const char* r, int n) noexcept nogil:
    """The ``n`` bytes at ``r`` as a little-endian integer."""
    cdef const uint8_t* u = <const uint8_t*>r
    cdef uint64_t v = 0
    cdef int i
    for i in range(n - 1, -1, -1):
        v = (v << 8) | u[i]
    return v


cdef inline void put_be(char* w, uint64_t v, int n) noexcept nogil:
    """``v`` as ``n`` bytes at ``w``, big-endian."""
    cdef int i
    for i in range(n):
        w[i] = <char>((v >> (8 * (n - 1 - i))) & 0xFF)


cdef inline uint64_t get_be(const char* r, int n) noexcept nogil:
    """The ``n`` bytes at ``r`` as a big-endian integer."""
    cdef const uint8_t* u = <const uint8_t*>r
    cdef uint64_t v = 0
    cdef int i
    for i in range(n):
        v = (v << 8) | u[i]
    return v
