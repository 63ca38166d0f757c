# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""FIX 4.4 message encoding: ExecutionReport, OrderCancelReject, the rejects
and the session messages, into one reusable buffer.

Bounds: every write is preceded by ``reserve`` for its largest possible size.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsLatin1String

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    bint PyUnicode_IS_ASCII(object s)
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memchr, memcpy

from fastcore._types cimport PX_DIGITS, QTY_DIGITS, price_t, qty_t, nanos_t
from fastcore.codec.values cimport *

cdef extern from *:
    """
    #include <emmintrin.h>
    /* The sum of n bytes (the CheckSum), 16 at a time. */
    static inline unsigned int fc_byte_sum(const char* p, Py_ssize_t n) {
        __m128i acc = _mm_setzero_si128(), zero = _mm_setzero_si128();
        Py_ssize_t i = 0;
        unsigned int sum;
        for (; i + 16 <= n; i += 16)
            acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128((const __m128i*)(p + i)), zero));
        sum = (unsigned int)(_mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc)));
        for (; i < n; i++)
            sum += (unsigned char)p[i];
        return sum;
    }
    """
    unsigned int fc_byte_sum(const char* p, Py_ssize_t n) noexcept nogil

cdef enum:
    SOH = 1

cdef int64_t NO_TIME = -(1 << 62)


cdef inline bytes as_bytes(object v):
    if type(v) is bytes:
        return <bytes>v
    if isinstance(v, str):
        return PyUnicode_AsLatin1String(v)
    if isinstance(v, bool):
        return b"Y" if v else b"N"
    if isinstance(v, int):
        return str(v).encode()
    return bytes(v)


cdef class Encoder:
    """Writes FIX 4.4 messages for one session (SenderCompID → TargetCompID).

    Time comes in as an argument (integer nanoseconds since the epoch), so
    the same inputs give the same bytes. ``precision`` is 0, 3, 6 or 9
    decimals of the second in SendingTime and TransactTime.
    """

    def __cinit__(self, sender_comp_id, target_comp_id, *, int precision=3,
                  begin_string="FIX.4.4"):
        if precision not in (0, 3, 6, 9):
            raise ValueError(f"precision must be 0, 3, 6 or 9, not {precision}")
        self.sender = as_bytes(sender_comp_id)
        self.target = as_bytes(target_comp_id)
        self.begin_string = as_bytes(begin_string)
        if len(self.begin_string) > HEADROOM - 16:
            raise ValueError("BeginString too long")
        self.precision = precision
        self.day = -2
        self.cap = 1024
        self.buf = <char*>malloc(self.cap)
        if self.buf == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.buf)

    @property
    def sender_comp_id(self):
        return self.sender.decode("latin-1")

    @property
    def target_comp_id(self):
        return self.target.decode("latin-1")

    cdef int reserve(self, Py_ssize_t n) except -1:
        cdef char* p
        cdef Py_ssize_t cap = self.cap
        if self.pos + n <= cap:
            return 0
        while self.pos + n > cap:
            cap *= 2
        p = <char*>realloc(self.buf, cap)
        if p == NULL:
            raise MemoryError()
        self.buf = p
        self.cap = cap
        return 0

    cdef void _tag(self, int tag) noexcept:
        self.w_tag(tag)

    cdef int put_raw(self, int tag, const char* p, Py_ssize_t n) except -1:
        self.reserve(n + 12)
        self._tag(tag)
        memcpy(self.buf + self.pos, p, n)
        self.pos += n
        self.buf[self.pos] = SOH
        self.pos += 1
        return 0

    cdef int put(self, int tag, object value) except -1:
        cdef const char* p
        cdef Py_ssize_t n
        cdef bytes b
        if type(value) is str and PyUnicode_IS_ASCII(value):   # its own bytes, no copy
            p = PyUnicode_AsUTF8AndSize(value, &n)
            return self.put_raw(tag, p, n)
        if type(value) is bytes:
            return self.put_raw(tag, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
        b = as_bytes(value)
        return self.put_raw(tag, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    cdef int put_int(self, int tag, int64_t v) except -1:
        self.reserve(FIELD_MAX)
        self._tag(tag)
        self.pos += write_int(self.buf + self.pos, v)
        self.buf[self.pos] = SOH
        self.pos += 1
        return 0

    cdef int put_char(self, int tag, char c) except -1:
        self.reserve(FIELD_MAX)
        self._tag(tag)
        self.buf[self.pos] = c
        self.buf[self.pos + 1] = SOH
        self.pos += 2
        return 0

    cdef int put_fixed(self, int tag, int64_t v, int digits) except -1:
        self.reserve(FIELD_MAX)
        self._tag(tag)
        self.pos += write_fixed(self.buf + self.pos, v, digits)
        self.buf[self.pos] = SOH
        self.pos += 1
        return 0

    cdef int put_time(self, int tag, nanos_t ns) except -1:
        cdef int64_t day = ns // 86400000000000LL if ns >= 0 else -1
        cdef Py_ssize_t start
        self.reserve(FIELD_MAX)
        self._tag(tag)
        if ns == self.time_ns and self.time_len:    # SendingTime and TransactTime, one call
            memcpy(self.buf + self.pos, self.time_text, self.time_len)
            self.pos += self.time_len
            return 0
        start = self.pos
        if day != self.day:             # "YYYYMMDD-" once a day, not per message
            write_timestamp(self.day_text, day * 86400000000000LL if day >= 0 else ns, 0)
            self.day = day
        if day >= 0:
            memcpy(self.buf + self.pos, self.day_text, 9)
            self.pos += 9 + write_time_of_day(self.buf + self.pos + 9,
                                              ns - day * 86400000000000LL, self.precision)
        else:
            self.pos += write_timestamp(self.buf + self.pos, ns, self.precision)
        self.buf[self.pos] = SOH
        self.pos += 1
        self.time_ns = ns
        self.time_len = self.pos - start
        memcpy(self.time_text, self.buf + start, self.time_len)
        return 0

    cdef int begin(self, const char* msg_type, int64_t seq_num, nanos_t sending_time,
                   bint poss_dup=False, nanos_t orig_sending_time=NO_TIME) except -1:
        """Start a message: the standard header after MsgType."""
        cdef Py_ssize_t n = 0
        while msg_type[n]:
            n += 1
        self.pos = HEADROOM
        self.body = HEADROOM
        self.put_raw(35, msg_type, n)
        self.put_raw(49, PyBytes_AS_STRING(self.sender), PyBytes_GET_SIZE(self.sender))
        self.put_raw(56, PyBytes_AS_STRING(self.target), PyBytes_GET_SIZE(self.target))
        self.put_int(34, seq_num)
        if poss_dup:
            self.put_char(43, b'Y')
        self.put_time(52, sending_time)
        if orig_sending_time != NO_TIME:
            self.put_time(122, orig_sending_time)
        return 0

    cdef Py_ssize_t finish(self) except -1:
        """Write BeginString, BodyLength and CheckSum; returns the length.

        The message then lies at ``buf + start``.
        """
        cdef Py_ssize_t body_len = self.pos - self.body, n
        cdef char digits[20]
        cdef char* w
        cdef unsigned int sum = 0
        cdef Py_ssize_t bl = PyBytes_GET_SIZE(self.begin_string)
        n = write_uint(digits, <uint64_t>body_len)
        self.start = self.body - (2 + bl + 1 + 2 + n + 1)
        w = self.buf + self.start
        w[0] = b'8'
        w[1] = b'='
        memcpy(w + 2, PyBytes_AS_STRING(self.begin_string), bl)
        w[2 + bl] = SOH
        w[3 + bl] = b'9'
        w[4 + bl] = b'='
        memcpy(w + 5 + bl, digits, n)
        w[5 + bl + n] = SOH
        sum = fc_byte_sum(self.buf + self.start, self.pos - self.start) & 255
        self.reserve(7)
        w = self.buf + self.pos
        w[0] = b'1'
        w[1] = b'0'
        w[2] = b'='
        w[3] = <char>(48 + sum // 100)
        w[4] = <char>(48 + (sum // 10) % 10)
        w[5] = <char>(48 + sum % 10)
        w[6] = SOH
        self.pos += 7
        return self.pos - self.start

    cdef bytes finish_bytes(self):
        cdef Py_ssize_t n = self.finish()
        return PyBytes_FromStringAndSize(self.buf + self.start, n)

    cdef Py_ssize_t rewrap(self, const char* msg, Py_ssize_t n, int64_t seq_num,
                           nanos_t sending_time, bint resend, object deliver_to) except -1:
        """Write a message of another session (or an earlier one of this
        session) again, under this session's header: MsgSeqNum ``seq_num``,
        SendingTime ``sending_time`` (``KEEP_TIME``: the message's own).
        ``resend``: PossDupFlag Y and the
        original SendingTime as OrigSendingTime (a reply to a ResendRequest).
        ``deliver_to``: DeliverToCompID (128), e.g. the session a drop copy's
        report was for. Every other field is copied as it is; returns the
        length, as ``finish``. ``msg`` is one whole, valid FIX message."""
        cdef char msg_type[8]
        cdef const char* p = msg
        cdef const char* end = msg + n
        cdef const char* eq
        cdef const char* soh
        cdef const char* orig = NULL
        cdef Py_ssize_t orig_len = 0, k
        cdef int tag
        self.pos = HEADROOM
        self.body = HEADROOM
        msg_type[0] = 0
        while p < end:                      # the header fields this writes itself
            eq = <const char*>memchr(p, b'=', end - p)
            soh = <const char*>memchr(eq, SOH, end - eq) if eq != NULL else NULL
            if soh == NULL:
                raise ValueError("not a whole FIX message")
            tag = 0
            while p < eq:
                tag = tag * 10 + (p[0] - 48)
                p += 1
            k = soh - eq - 1
            if tag == 35 and k < 8:
                memcpy(msg_type, eq + 1, k)
                msg_type[k] = 0
            elif tag == 52:
                orig, orig_len = eq + 1, k
            p = soh + 1
        if msg_type[0] == 0 or orig == NULL:
            raise ValueError("no MsgType or SendingTime in the message")
        if sending_time == KEEP_TIME and read_timestamp(orig, orig_len, &sending_time):
            raise ValueError("a SendingTime that does not read")
        self.begin(msg_type, seq_num, sending_time, resend)
        if resend:
            self.put_raw(122, orig, orig_len)
        if deliver_to is not None:
            self.put(128, deliver_to)
        p = msg
        while p < end:                      # then every other field, in order
            eq = <const char*>memchr(p, b'=', end - p)
            soh = <const char*>memchr(eq, SOH, end - eq)
            tag = 0
            k = 0
            while p + k < eq:
                tag = tag * 10 + (p[k] - 48)
                k += 1
            if not (tag == 8 or tag == 9 or tag == 10 or tag == 35 or tag == 49
                    or tag == 56 or tag == 34 or tag == 52 or tag == 43 or tag == 97
                    or tag == 122 or (tag == 128 and deliver_to is not None)):
                self.reserve(soh + 1 - p)
                memcpy(self.buf + self.pos, p, soh + 1 - p)
                self.pos += soh + 1 - p
            p = soh + 1
        return self.finish()

    cdef void _put_extra(self, object extra) except *:
        if extra:
            for tag, value in extra:
                self.put(tag, value)

    # ---- the Python edge ---------------------------------------------------

    def encode(self, msg_type, fields, int64_t seq_num, nanos_t sending_time, *,
               bint poss_dup=False, orig_sending_time=None):
        """Any message: ``fields`` is an iterable of (tag, value) pairs in
        body order; values are bytes, str, int or bool (Y/N)."""
        cdef bytes mt = as_bytes(msg_type)
        self.begin(mt, seq_num, sending_time, poss_dup,
                   NO_TIME if orig_sending_time is None else orig_sending_time)
        for tag, value in fields:
            self.put(tag, value)
        return self.finish_bytes()

    def rewrap_bytes(self, data, int64_t seq_num, nanos_t sending_time, *,
                     bint resend=False, deliver_to=None):
        """``data`` (one whole FIX message) under this session's header:
        see ``rewrap``. For a resend, PossDupFlag Y and OrigSendingTime."""
        cdef const unsigned char[::1] view = data
        cdef Py_ssize_t n
        if view.shape[0] == 0:
            raise ValueError("not a whole FIX message")
        n = self.rewrap(<const char*>&view[0], view.shape[0], seq_num, sending_time,
                        resend, deliver_to)
        return PyBytes_FromStringAndSize(self.buf + self.start, n)

    def execution_report(self, ExecutionReport er not None, int64_t seq_num,
                         nanos_t sending_time):
        """ExecutionReport (35=8) from ``er``."""
        self.begin(b"8", seq_num, sending_time)
        self.put(37, er.order_id)
        if er.cl_ord_id is not None:
            self.put(11, er.cl_ord_id)
        if er.orig_cl_ord_id is not None:
            self.put(41, er.orig_cl_ord_id)
        self.put(17, er.exec_id)
        if er.exec_ref_id is not None:
            self.put(19, er.exec_ref_id)
        self.put_char(150, <char>er.exec_type)
        if er.exec_restatement_reason >= 0:
            self.put_int(378, er.exec_restatement_reason)
        self.put_char(39, <char>er.ord_status)
        if er.ord_rej_reason >= 0:
            self.put_int(103, er.ord_rej_reason)
        if er.account is not None:
            self.put(1, er.account)
        self.put(55, er.symbol)
        self.put_char(54, <char>er.side)
        if er.cust_order_handling_inst is not None:
            self.put(1031, er.cust_order_handling_inst)
        if er.order_handling_inst_source >= 0:
            self.put_int(1032, er.order_handling_inst_source)
        if er.order_qty or not er.cash_order_qty:
            self.put_fixed(38, er.order_qty, QTY_DIGITS)
        if er.cash_order_qty:
            self.put_fixed(152, er.cash_order_qty, QTY_DIGITS)
        if er.ord_type:
            self.put_char(40, <char>er.ord_type)
        if er.has_price:
            self.put_fixed(44, er.price, PX_DIGITS)
        if er.time_in_force is not None:
            self.put(59, er.time_in_force)
        if er.has_last:
            self.put_fixed(32, er.last_qty, QTY_DIGITS)
            self.put_fixed(31, er.last_px, PX_DIGITS)
        self.put_fixed(151, er.leaves_qty, QTY_DIGITS)
        self.put_fixed(14, er.cum_qty, QTY_DIGITS)
        self.put_fixed(6, er.avg_px, PX_DIGITS)
        if er.day_order_qty >= 0:
            self.put_fixed(424, er.day_order_qty, QTY_DIGITS)
            self.put_fixed(425, er.day_cum_qty, QTY_DIGITS)
        if er.transact_time != NO_TIME:
            self.put_time(60, er.transact_time)
        if er.text is not None:
            self.put(58, er.text)
        self._put_extra(er.extra)
        return self.finish_bytes()

    def order_cancel_reject(self, int64_t seq_num, nanos_t sending_time, *, order_id,
                            cl_ord_id, orig_cl_ord_id, ord_status, int response_to,
                            int reason=-1, text=None, account=None, transact_time=None):
        """OrderCancelReject (35=9); ``response_to`` is CxlRejResponseTo
        (1 cancel, 2 replace), ``reason`` CxlRejReason (102)."""
        self.begin(b"9", seq_num, sending_time)
        self.put(37, order_id)
        self.put(11, cl_ord_id)
        self.put(41, orig_cl_ord_id)
        self.put(39, ord_status)
        if account is not None:
            self.put(1, account)
        if transact_time is not None:
            self.put_time(60, transact_time)
        self.put_int(434, response_to)
        if reason >= 0:
            self.put_int(102, reason)
        if text is not None:
            self.put(58, text)
        return self.finish_bytes()

    def reject(self, int64_t seq_num, nanos_t sending_time, *, int64_t ref_seq_num,
               int reason, int ref_tag=0, ref_msg_type=None, text=None):
        """Reject (35=3): SessionRejectReason (373), RefTagID (371), RefMsgType (372)."""
        self.begin(b"3", seq_num, sending_time)
        self.put_int(45, ref_seq_num)
        if ref_tag:
            self.put_int(371, ref_tag)
        if ref_msg_type is not None:
            self.put(372, ref_msg_type)
        self.put_int(373, reason)
        if text is not None:
            self.put(58, text)
        return self.finish_bytes()

    def business_message_reject(self, int64_t seq_num, nanos_t sending_time, *,
                                int64_t ref_seq_num, ref_msg_type, int reason,
                                ref_id=None, text=None):
        """BusinessMessageReject (35=j): BusinessRejectReason (380)."""
        self.begin(b"j", seq_num, sending_time)
        self.put_int(45, ref_seq_num)
        self.put(372, ref_msg_type)
        if ref_id is not None:
            self.put(379, ref_id)
        self.put_int(380, reason)
        if text is not None:
            self.put(58, text)
        return self.finish_bytes()

    def logon(self, int64_t seq_num, nanos_t sending_time, *, int heart_bt_int,
              bint reset_seq_num=False, username=None, password=None):
        """Logon (35=A)."""
        self.begin(b"A", seq_num, sending_time)
        self.put_int(98, 0)
        self.put_int(108, heart_bt_int)
        if reset_seq_num:
            self.put_char(141, b'Y')
        if username is not None:
            self.put(553, username)
        if password is not None:
            self.put(554, password)
        return self.finish_bytes()

    def heartbeat(self, int64_t seq_num, nanos_t sending_time, test_req_id=None):
        """Heartbeat (35=0), answering a TestRequest when ``test_req_id`` is given."""
        self.begin(b"0", seq_num, sending_time)
        if test_req_id is not None:
            self.put(112, test_req_id)
        return self.finish_bytes()

    def test_request(self, int64_t seq_num, nanos_t sending_time, test_req_id):
        """TestRequest (35=1)."""
        self.begin(b"1", seq_num, sending_time)
        self.put(112, test_req_id)
        return self.finish_bytes()

    def resend_request(self, int64_t seq_num, nanos_t sending_time, int64_t begin_seq_no,
                       int64_t end_seq_no=0):
        """ResendRequest (35=2); EndSeqNo 0 means 'all after BeginSeqNo'."""
        self.begin(b"2", seq_num, sending_time)
        self.put_int(7, begin_seq_no)
        self.put_int(16, end_seq_no)
        return self.finish_bytes()

    def sequence_reset(self, int64_t seq_num, nanos_t sending_time, int64_t new_seq_no, *,
                       bint gap_fill=False):
        """SequenceReset (35=4), as a GapFill (with PossDupFlag) or a Reset."""
        self.begin(b"4", seq_num, sending_time, gap_fill)
        if gap_fill:
            self.put_char(123, b'Y')
        self.put_int(36, new_seq_no)
        return self.finish_bytes()

    def logout(self, int64_t seq_num, nanos_t sending_time, text=None):
        """Logout (35=5)."""
        self.begin(b"5", seq_num, sending_time)
        if text is not None:
            self.put(58, text)
        return self.finish_bytes()


cdef class ExecutionReport:
    """The fields of an ExecutionReport (35=8), typed for the encoder.

    Quantities are int fixed point with QTY_DIGITS (4) decimals, prices with
    PX_DIGITS (8), times integer nanoseconds. IDs and text are bytes or str.
    ``extra`` is a list of further (tag, value) pairs written last.
    """

    def __init__(self, **fields):
        self.ord_rej_reason = -1
        self.exec_restatement_reason = -1
        self.order_handling_inst_source = -1
        self.day_order_qty = -1
        self.transact_time = NO_TIME
        self.exec_type = u'0'
        self.ord_status = u'0'
        self.side = u'1'
        self.ord_type = 0
        for name, value in fields.items():
            setattr(self, name, value)
