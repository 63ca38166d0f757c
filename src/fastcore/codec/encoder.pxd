# FIX 4.4 encoding into one reusable buffer.
#
# The body is written first, after a gap left for "8=FIX.4.4|9=len|"; finish()
# writes that prefix right before the body (no copy) and the CheckSum after it.

from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy
from fastcore._types cimport price_t, qty_t, nanos_t
from fastcore.codec.values cimport write_uint, write_int, write_fixed

cdef enum:
    HEADROOM = 32       # room for "8=<BeginString>\x019=<BodyLength>\x01"
    FIELD_MAX = 48      # "tag=" + the longest number or timestamp + SOH

cdef enum:
    KEEP_TIME = -1            # rewrap's sending_time: the message's own SendingTime


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
    cdef Py_ssize_t rewrap(self, const char* msg, Py_ssize_t n, int64_t seq_num,
                           nanos_t sending_time, bint resend, object deliver_to) except -1

    # Unchecked writers, inlined into the caller: it has reserved room for
    # everything it writes (at most FIELD_MAX bytes per field plus the values'
    # lengths for w_raw).
    cdef inline void w_tag(self, int tag) noexcept:
        cdef char* w = self.buf + self.pos
        if 0 <= tag < 1000:             # most tags: no digit loop
            if tag >= 100:
                w[0] = <char>(48 + tag // 100)
                w[1] = <char>(48 + tag // 10 % 10)
                w[2] = <char>(48 + tag % 10)
                w[3] = b'='
                self.pos += 4
            elif tag >= 10:
                w[0] = <char>(48 + tag // 10)
                w[1] = <char>(48 + tag % 10)
                w[2] = b'='
                self.pos += 3
            else:
                w[0] = <char>(48 + tag)
                w[1] = b'='
                self.pos += 2
            return
        self.pos += write_uint(w, <uint64_t>tag)
        self.buf[self.pos] = b'='
        self.pos += 1

    cdef inline void w_raw(self, int tag, const char* p, Py_ssize_t n) noexcept:
        self.w_tag(tag)
        memcpy(self.buf + self.pos, p, n)
        self.buf[self.pos + n] = 1
        self.pos += n + 1

    cdef inline void w_char(self, int tag, char c) noexcept:
        self.w_tag(tag)
        self.buf[self.pos] = c
        self.buf[self.pos + 1] = 1
        self.pos += 2

    cdef inline void w_int(self, int tag, int64_t v) noexcept:
        self.w_tag(tag)
        self.pos += write_int(self.buf + self.pos, v)
        self.buf[self.pos] = 1
        self.pos += 1

    cdef inline void w_fixed(self, int tag, int64_t v, int digits) noexcept:
        self.w_tag(tag)
        self.pos += write_fixed(self.buf + self.pos, v, digits)
        self.buf[self.pos] = 1
        self.pos += 1


cdef class ExecutionReport:
    cdef public object order_id, cl_ord_id, orig_cl_ord_id, exec_id, exec_ref_id
    cdef public object symbol, account, text, time_in_force, extra, cust_order_handling_inst
    cdef public Py_UCS4 exec_type, ord_status, side, ord_type
    cdef public int ord_rej_reason, exec_restatement_reason, order_handling_inst_source
    cdef public price_t price, last_px, avg_px
    cdef public qty_t order_qty, last_qty, leaves_qty, cum_qty
    cdef public qty_t day_order_qty, day_cum_qty, cash_order_qty
    cdef public bint has_price, has_last
    cdef public nanos_t transact_time
