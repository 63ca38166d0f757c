# The write-ahead journal: every input the engine takes, appended before any
# of its effects leave the process (see journal.pyx for the files).
#
# A record is framed as
#
#     u32 length | u32 CRC-32 of the payload | payload (length bytes)
#
# (little-endian), the payload a msgpack array of five items written here
# without a Python object:
#
#     [kind: str of 1, seq: uint64, user: uint16, now: int64, data: bin]
#
# ``Records.add`` appends a record to a C buffer (``take`` hands the buffer
# over as bytes: a cluster's log entry); ``Journal.commit`` writes the buffer with
# one write (a group commit: one per batch of the server) and syncs it to the
# disk as the fsync policy asks. Not thread-safe: one journal, one thread.

from libc.stdint cimport int64_t, uint16_t, uint32_t

from fastcore._types cimport nanos_t

cdef enum:
    FRAME = 8                 # length and CRC
    HEAD = 29                 # the payload's bytes before data: 0x95, kind, seq, user, now, bin32
    NO_USER = 0xFFFF          # a record of no user (an operator's command, a reset)

# Journal.fsync: when the records reach the disk (not just the OS)
cdef enum:
    SYNC_NONE = 0             # when the OS writes them: a crash of the process loses nothing
    SYNC_BATCH = 1            # before the batch's effects are sent: nor does one of the machine
    SYNC_ALWAYS = 2           # each record before the engine takes it


cdef uint32_t crc32_of(const char* data, Py_ssize_t n) noexcept nogil


cdef class Records:
    cdef readonly int64_t seq             # the last record's sequence number (0: none yet)
    cdef char* buf                        # records added since the last commit (or take): buf[:len]
    cdef Py_ssize_t len, cap

    cdef int add(self, char kind, uint16_t user, nanos_t now, const char* data,
                 Py_ssize_t n) except -1


cdef class Journal(Records):
    cdef readonly str directory
    cdef readonly int64_t written         # ... of the last one written to the file
    cdef readonly int fsync               # SYNC_*
    cdef readonly int64_t segment_size    # a segment is closed once it holds this many bytes
    cdef readonly str path                # the segment being written
    cdef readonly int64_t cut             # bytes of a torn tail cut off on opening
    cdef int fd
    cdef int lock                         # the directory, open and flock-ed while the journal is
    cdef int64_t size                     # its bytes

    cdef int commit(self) except -1
    cdef int _open_segment(self) except -1
