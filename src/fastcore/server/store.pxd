# The message store of one FIX session: its two MsgSeqNums and every message
# it sent, so that a restarted server resumes the session where it was and
# can answer a ResendRequest.
#
# Two files: <name>.msgs holds the sent messages, raw FIX bytes back to back;
# <name>.seqs holds "next_in next_out journal_seq\n" as three 20-digit
# numbers, rewritten in place (a store written before the journal existed has
# the first two alone). Appends go to a C buffer; flush writes it with one pwrite, then
# the numbers. The index (MsgSeqNum -> where the message lies) is a C array
# rebuilt from .msgs on open. No Python object per message.
#
# Not thread-safe: one store, one session, one thread.

from libc.stdint cimport int64_t

cdef enum:
    SEQS_LEN = 63             # len(b"%020d %020d %020d\n")

cdef struct entry_t:          # one stored message
    int64_t seq               # its MsgSeqNum (ascending through the index)
    int64_t off               # its offset in .msgs; at or past `flushed`: still in the buffer
    int64_t len               # its length in bytes


cdef class FileStore:
    # The session's sequence numbers. Python reads them; Cython code may also
    # assign next_in directly (the session layer does, per accepted inbound
    # message). next_out only moves through append, set_next_out and reset.
    # Both reach .seqs at the next flush.
    cdef readonly int64_t next_in      # MsgSeqNum expected next from the counterparty
    cdef readonly int64_t next_out     # MsgSeqNum of the next message sent; > every stored seq
    # The server's journal: every message the inputs up to this journal
    # sequence number caused for the session is stored (set before a flush;
    # recovery stores what the inputs after it caused).
    cdef public int64_t journal_seq
    # The next_out .seqs held when the store was opened: the messages stored
    # from it on were written by a batch whose .seqs write a crash stopped
    # (recovery knows them by their content)
    cdef readonly int64_t counted_out
    cdef int64_t saved_in, saved_out, saved_journal   # what .seqs holds: flush skips
                                                      # an unchanged rewrite

    # The files
    cdef readonly str path             # <directory>/<name>.msgs
    cdef str seqs_path                 # <directory>/<name>.seqs
    cdef int msgs_fd, seqs_fd          # -1 when not open
    cdef bint opened                   # both open: False until __cinit__ succeeds
                                       # (C fields start at 0, a valid fd) and once closed
    cdef int64_t flushed               # bytes of .msgs on disk; the buffer continues them

    # Appended messages not yet written: buf[:nbuf]
    cdef char* buf
    cdef Py_ssize_t nbuf, cap_buf

    # The index: one entry per stored message, in ascending seq (gaps allowed)
    cdef entry_t* index
    cdef Py_ssize_t count, cap_index

    # The session layer's entry points
    # store the message just sent as `seq` (== next_out, else ValueError),
    # then next_out = seq + 1
    cdef int append(self, int64_t seq, const char* msg, Py_ssize_t n) except -1
    # flush(): the buffer to .msgs, then the numbers to .seqs; fsync both if sync
    cdef int save(self, bint sync) except -1

    # helpers
    cdef int _check_open(self) except -1
    cdef int _add(self, int64_t seq, int64_t off, int64_t n) except -1   # index entry
    cdef Py_ssize_t _find(self, int64_t seq) noexcept     # first entry with a seq >= seq
    cdef bytes _read(self, int64_t off, Py_ssize_t n)     # .msgs[off:off+n], file then buffer
    cdef int _load_seqs(self) except -1                   # .seqs -> next_in, next_out
    cdef int _scan(self) except -1                        # .msgs -> index; torn tail cut off
    cdef int _write_msgs(self) noexcept                   # the buffer -> .msgs: 0 or errno
    cdef int _write_seqs(self) noexcept                   # the numbers -> .seqs: 0 or errno
    cdef void _close_fds(self) noexcept
