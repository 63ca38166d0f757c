# The states an order can be in at once, and the OrdStatus they report.
#
# Each state is one bit of a bitmask, the bits in ascending order of the
# precedence FIX 4.4 gives them (Volume 4, Appendix D): the reported OrdStatus
# (39) is the state of the highest set bit, found with one count of leading
# zeros. Pending New, New and Rejected share precedence 2 and never coexist.

from libc.stdint cimport uint16_t

cdef extern from *:
    """
    static inline int fc_top_bit(unsigned int v) { return 31 - __builtin_clz(v); }
    static const char fc_status_chars[] = "A081C4723E6";   /* OrdStatus per bit */
    """
    int fc_top_bit(unsigned int v) noexcept nogil     # v != 0
    const char* fc_status_chars

cdef enum:
    S_PENDING_NEW = 1 << 0        # 'A'  precedence 2
    S_NEW = 1 << 1                # '0'  2
    S_REJECTED = 1 << 2           # '8'  2
    S_PARTIAL = 1 << 3            # '1'  4
    S_EXPIRED = 1 << 4            # 'C'  5
    S_CANCELED = 1 << 5           # '4'  5
    S_STOPPED = 1 << 6            # '7'  7
    S_FILLED = 1 << 7             # '2'  8
    S_DONE_FOR_DAY = 1 << 8       # '3'  10
    S_PENDING_REPLACE = 1 << 9    # 'E'  11
    S_PENDING_CANCEL = 1 << 10    # '6'  12
    N_STATES = 11

    # An order in one of these takes no more requests: only busts and corrections.
    S_DONE = S_REJECTED | S_EXPIRED | S_CANCELED
    S_PENDING = S_PENDING_CANCEL | S_PENDING_REPLACE

cdef inline char ord_status(uint16_t state) noexcept nogil:
    """The reported OrdStatus (39): the state of highest precedence."""
    return fc_status_chars[fc_top_bit(state)] if state else b'A'
