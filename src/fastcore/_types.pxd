# Fixed-point scalar types shared by every fastcore module.
#
# Prices and quantities cross the hot path as int64 fixed-point numbers with a
# fixed number of decimal digits: no floats, no Decimal per message. A price
# of 101.25 is ``10125000000`` at PX_DIGITS = 8.

from libc.stdint cimport int64_t

ctypedef int64_t price_t     # PX_DIGITS decimal digits
ctypedef int64_t qty_t       # QTY_DIGITS decimal digits
ctypedef int64_t nanos_t     # nanoseconds since the Unix epoch, UTC

cdef enum:
    PX_DIGITS = 8
    QTY_DIGITS = 4
