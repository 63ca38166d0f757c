# A partition's output entry, as the engines write it and the gateway reads
# it (see entries.pyx): per message ``u16 user | u32 length | the message``,
# little-endian, back to back.

from libc.stdint cimport uint16_t

from fastcore._bytes cimport get_le

cdef enum:
    OUT_HEAD = 6                # bytes before each message: its user and its length


cdef inline uint16_t out_user(const char* p) noexcept nogil:
    """The user of the message whose head is at ``p``."""
    return <uint16_t>get_le(p, 2)


cdef inline Py_ssize_t out_length(const char* p) noexcept nogil:
    """The length of the message whose head is at ``p``."""
    return <Py_ssize_t>get_le(p + 2, 4)
