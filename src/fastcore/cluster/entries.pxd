# A partition's output entry, as the engines write it and the gateway reads
# it (see entries.pyx): per message ``u16 user | u32 length | the message``,
# little-endian, back to back.

from libc.stdint cimport uint8_t, uint16_t, uint32_t

cdef enum:
    OUT_HEAD = 6                # bytes before each message: its user and its length


cdef inline uint16_t out_user(const char* p) noexcept nogil:
    """The user of the message whose head is at ``p``."""
    cdef const uint8_t* u = <const uint8_t*>p
    return u[0] | (<uint16_t>u[1] << 8)


cdef inline Py_ssize_t out_length(const char* p) noexcept nogil:
    """The length of the message whose head is at ``p``."""
    cdef const uint8_t* u = <const uint8_t*>p + 2
    return <Py_ssize_t>(u[0] | (<uint32_t>u[1] << 8) | (<uint32_t>u[2] << 16)
                        | (<uint32_t>u[3] << 24))
