# Memory helpers shared by the C-level modules.
#
# Arrays of structs that a snapshot copies byte for byte (orders, fills,
# book nodes, ClOrdID keys, ...) are kept zeroed where no field was written
# (the padding between fields, the room past the last item), so that equal
# states are equal bytes and hash alike: allocate them with calloc and grow
# them with ``zgrow``.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from libc.stdlib cimport realloc
from libc.string cimport memcpy, memset


cdef inline void* zgrow(void* p, size_t old_size, size_t new_size) noexcept nogil:
    """realloc ``p`` from ``old_size`` to ``new_size`` bytes, the new bytes
    zeroed; NULL (``p`` untouched) when memory runs out."""
    cdef char* q = <char*>realloc(p, new_size)
    if q != NULL and new_size > old_size:
        memset(q + old_size, 0, new_size - old_size)
    return q


cdef inline int reserve(char** buf, Py_ssize_t* cap, Py_ssize_t need) except -1:
    """Grow the buffer ``buf[0]`` of ``cap[0]`` bytes to hold ``need`` bytes
    (at least doubling it); MemoryError, the buffer untouched, when memory
    runs out."""
    cdef char* q
    cdef Py_ssize_t size
    if need <= cap[0]:
        return 0
    size = max(2 * cap[0], need)
    q = <char*>realloc(buf[0], size)
    if q == NULL:
        raise MemoryError()
    buf[0] = q
    cap[0] = size
    return 0


cdef inline bytes dump(const void* p, size_t size):
    """``size`` bytes at ``p``, as bytes (a snapshot's copy of an array)."""
    return PyBytes_FromStringAndSize(<const char*>p, size)


cdef inline int load(void* p, bytes data, size_t size, str what) except -1:
    """Copy ``data`` (``size`` bytes, else ValueError naming ``what``) to ``p``."""
    if <size_t>PyBytes_GET_SIZE(data) != size:
        raise ValueError(f"{what}: {PyBytes_GET_SIZE(data)} bytes where {size} were expected")
    memcpy(p, PyBytes_AS_STRING(data), size)
    return 0
