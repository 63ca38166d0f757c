# FIX 4.4 encoding into one reusable buffer.
#
# The body is written first, after a gap left for "8=FIX.4.4|9=len|"; finish()
# writes that prefix right before the body (no copy) and the CheckSum after it.

from libc.stdint cimport int64_t
from fastcore._types cimport price_t, qty_t, nanos_t

cdef enum:
    HEADROOM = 32       # room for "8=<BeginString>\x019=<BodyLength>\x01"

cdef class Encoder:
    cdef char* buf
    cdef Py_ssize_t cap
    cdef Py_ssize_t pos            # end of what is written
    cdef Py_ssize_t body           # where the body (35=…) starts: HEADROOM
    cdef Py_ssize_t start          # where finish() put "8="
    cdef bytes begin_string
    cdef bytes sender, target      # SenderCompID (49) / TargetCompID (56)
    cdef readonly int precision    # decimals of the second in timestamps
    cdef int64_t day               # the day whose "YYYYMMDD-" is in day_text
    cdef char day_text[32]
    cdef nanos_t time_ns           # the last timestamp written, and its text
    cdef char time_text[40]
    cdef Py_ssize_t time_len

    cdef int reserve(self, Py_ssize_t n) except -1
    cdef void _tag(self, int tag) noexcept
    cdef void _put_extra(self, object extra) except *
    cdef int begin(self, const char* msg_type, int64_t seq_num, nanos_t sending_time,
                   bint poss_dup=*, nanos_t orig_sending_time=*) except -1
    cdef int put_raw(self, int tag, const char* p, Py_ssize_t n) except -1
    cdef int put(self, int tag, object value) except -1
    cdef int put_int(self, int tag, int64_t v) except -1
    cdef int put_char(self, int tag, char c) except -1
    cdef int put_fixed(self, int tag, int64_t v, int digits) except -1
    cdef int put_time(self, int tag, nanos_t ns) except -1
    cdef Py_ssize_t finish(self) except -1
    cdef bytes finish_bytes(self)


cdef class ExecutionReport:
    cdef public object order_id, cl_ord_id, orig_cl_ord_id, exec_id, exec_ref_id
    cdef public object symbol, account, text, time_in_force, extra
    cdef public Py_UCS4 exec_type, ord_status, side, ord_type
    cdef public int ord_rej_reason, exec_restatement_reason
    cdef public price_t price, last_px, avg_px
    cdef public qty_t order_qty, last_qty, leaves_qty, cum_qty
    cdef public qty_t day_order_qty, day_cum_qty, cash_order_qty
    cdef public bint has_price, has_last
    cdef public nanos_t transact_time
