# File helpers shared by the C-level modules that write files (the session
# stores, the journal): whole reads and writes at an offset, retried on EINTR
# and short counts, returning an errno rather than raising (they run without
# the GIL), and the OSError an errno becomes at the Python edge.

from libc.errno cimport errno, EINTR, EIO
from libc.stdint cimport int64_t
from posix cimport unistd


cdef inline int raise_os(int err, object path) except -1:
    import os
    raise OSError(err, os.strerror(err), path)


cdef inline int pwrite_all(int fd, const char* p, Py_ssize_t n, int64_t off,
                           Py_ssize_t* done) noexcept nogil:
    """Write ``p[:n]`` at ``off``: 0, or the errno that stopped it (``done``: bytes written)."""
    cdef Py_ssize_t r
    done[0] = 0
    while done[0] < n:
        r = unistd.pwrite(fd, p + done[0], n - done[0], off + done[0])
        if r > 0:
            done[0] += r
        elif r == 0:
            return EIO
        elif errno != EINTR:
            return errno
    return 0


cdef inline int pread_all(int fd, char* p, Py_ssize_t n, int64_t off,
                          Py_ssize_t* done) noexcept nogil:
    """Read ``n`` bytes at ``off`` or up to the end of the file: 0, or the errno."""
    cdef Py_ssize_t r
    done[0] = 0
    while done[0] < n:
        r = unistd.pread(fd, p + done[0], n - done[0], off + done[0])
        if r > 0:
            done[0] += r
        elif r == 0:
            break
        elif errno != EINTR:
            return errno
    return 0
