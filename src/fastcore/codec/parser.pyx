# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""FIX 4.4 framing, validation and zero-copy field access.

Bounds: every index into ``views``, ``groups`` and ``entries`` is below the
matching count, which ``_grow`` keeps below capacity; ``soh_bits`` holds one
word per 64 bytes of the message plus a sentinel (``_grow_bits``); every
buffer read is inside ``[0, n)`` of the buffer given (tests/test_codec_fuzz.py
throws random truncations and corruptions at it).
"""

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeLatin1
from cpython.array cimport array, resize
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free, calloc
from libc.string cimport memchr, memcmp, memset

from fastcore._types cimport PX_DIGITS, QTY_DIGITS
from fastcore.codec.fix44 cimport *
from fastcore.codec.values cimport *
from fastcore.codec.scan cimport fc_structural, fc_next_bit

from array import array as _pyarray

from fastcore.errors import (
    FieldNotFound, FieldValueError, GarbledMessage, IncompleteMessage, InvalidMessage,
)

cdef extern from "string.h" nogil:
    void* memmem(const void* haystack, size_t hn, const void* needle, size_t nn)

cdef enum:
    SOH = 1

REJECT_REASONS = {
    0: "Invalid tag number",
    1: "Required tag missing",
    2: "Tag not defined for this message type",
    3: "Undefined Tag",
    4: "Tag specified without a value",
    5: "Value is incorrect (out of range) for this tag",
    6: "Incorrect data format for value",
    7: "Decryption problem",
    8: "Signature problem",
    9: "CompID problem",
    10: "SendingTime accuracy problem",
    11: "Invalid MsgType",
    12: "XML Validation error",
    13: "Tag appears more than once",
    14: "Tag specified out of required order",
    15: "Repeating group fields out of order",
    16: "Incorrect NumInGroup count for repeating group",
    17: "Non data value includes field delimiter (SOH character)",
    99: "Other",
}

GARBLE_REASONS = {
    G_NO_BEGIN: "no 8=FIX BeginString at the start of the message",
    G_BODY_LENGTH: "BodyLength (9) missing or does not end at the CheckSum (10)",
    G_CHECKSUM: "CheckSum (10) does not match the message",
    G_TOO_LONG: "BodyLength (9) above the configured maximum",
}

cdef object _MISSING = object()


cdef inline bint is_decimal(const char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef bint dot = False, digit = False
    if n > 0 and (p[0] == b'-' or p[0] == b'+'):
        i = 1
    while i < n:
        if p[i] == b'.':
            if dot:
                return False
            dot = True
        elif <unsigned char>(p[i] - 48) > 9:
            return False
        else:
            digit = True
        i += 1
    return digit


cdef inline bint in_enum(int enum_id, const char* p, Py_ssize_t n, bint multi) noexcept nogil:
    cdef const fc_enum_info* e = &fc_enums[enum_id]
    cdef unsigned char c
    cdef int i
    cdef Py_ssize_t k, start
    cdef const char* s
    if e.first < 0:
        if n != 1:
            return False
        c = <unsigned char>p[0]
        if c < 64:
            return (e.lo >> c) & 1
        if c < 128:
            return (e.hi >> (c - 64)) & 1
        return False
    if multi:                       # space-separated values, each in the enum
        start = 0
        k = 0
        while k <= n:
            if k == n or p[k] == b' ':
                if k == start or not in_enum(enum_id, p + start, k - start, False):
                    return False
                start = k + 1
            k += 1
        return True
    for i in range(e.first, e.first + e.count):
        s = fc_enum_strings[i]
        if memcmp(s, p, n) == 0 and s[n] == 0:
            return True
    return False


cdef inline int check_value(int slot, const char* p, Py_ssize_t n) noexcept nogil:
    """SRR_* of a field value against its dictionary type, or -1 when valid.

    The commonest case, a one-character enum (Side, OrdType, TimeInForce …),
    is a bit test here; the others go to check_typed.
    """
    cdef const fc_slot_info* s = &fc_slots[slot]
    cdef unsigned char c
    if s.type == T_CHAR and s.flags & F_ENUM and fc_enums[s.enum_id].first < 0:
        c = <unsigned char>p[0]
        if n != 1:
            return SRR_DATA_FORMAT
        if c < 64:
            return -1 if (fc_enums[s.enum_id].lo >> c) & 1 else SRR_VALUE_INCORRECT
        if c < 128:
            return -1 if (fc_enums[s.enum_id].hi >> (c - 64)) & 1 else SRR_VALUE_INCORRECT
        return SRR_VALUE_INCORRECT
    return check_typed(slot, p, n)


cdef inline bint all_digits(const char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    if n == 0:
        return False
    for i in range(n):
        if <unsigned char>(p[i] - 48) > 9:
            return False
    return True


cdef int check_typed(int slot, const char* p, Py_ssize_t n) noexcept nogil:
    """check_value for every type but the one-character enums."""
    cdef const fc_slot_info* s = &fc_slots[slot]
    cdef int64_t v
    cdef int t = s.type
    if t == T_INT or t == T_LENGTH or t == T_SEQNUM or t == T_NUMINGROUP \
            or t == T_TAGNUM or t == T_DAYOFMONTH:
        # digits (a sign only for INT), and at most 18 of them: always an int64
        if n > 18:
            if read_int(p, n, &v) != V_OK or (t != T_INT and v < 0):
                return SRR_DATA_FORMAT
        elif t == T_INT and p[0] == b'-':
            if not all_digits(p + 1, n - 1):
                return SRR_DATA_FORMAT
        elif not all_digits(p, n):
            return SRR_DATA_FORMAT
    elif t >= T_FLOAT and t <= T_PERCENTAGE:
        if not is_decimal(p, n):
            return SRR_DATA_FORMAT
    elif t == T_UTCTIMESTAMP:
        if not valid_timestamp(p, n):
            return SRR_DATA_FORMAT
    elif t == T_CHAR:
        if n != 1:
            return SRR_DATA_FORMAT
    elif t == T_BOOLEAN:
        if n != 1 or (p[0] != b'Y' and p[0] != b'N'):
            return SRR_DATA_FORMAT
    elif t == T_UTCTIMEONLY:
        if read_time_of_day(p, n, &v) != V_OK:
            return SRR_DATA_FORMAT
    elif t == T_UTCDATEONLY or t == T_LOCALMKTDATE:
        if read_date(p, n, &v) != V_OK:
            return SRR_DATA_FORMAT
    elif t == T_MONTHYEAR:         # YYYYMM, YYYYMMDD or YYYYMMwN
        if (n != 6 and n != 8) or read_int(p, 6, &v) != V_OK or p[0] == b'-' \
                or not 1 <= v % 100 <= 12:
            return SRR_DATA_FORMAT
        if n == 8 and not ((p[6] == b'w' and b'1' <= p[7] <= b'5') or _dd(p + 6, 31)):
            return SRR_DATA_FORMAT
    if s.flags & F_ENUM and not in_enum(s.enum_id, p, n, t == T_MULTIPLEVALUESTRING):
        return SRR_VALUE_INCORRECT
    return -1


cdef inline int misplaced(int tag, int slot, bint in_body, bint in_trailer) noexcept nogil:
    """SRR_ORDER (or SRR_INVALID_TAG) when ``tag`` may not stand here, else -1.

    The header comes before the body, the trailer (93, 89) after it; 8, 9,
    35 and 10 only where framing put them; tags outside the dictionary only
    in the user-defined range (5000 and up).
    """
    cdef uint8_t flags = fc_slots[slot].flags
    if slot == 0:
        if tag < 5000:
            return SRR_INVALID_TAG
        return SRR_ORDER if in_trailer else -1
    if tag == 8 or tag == 9 or tag == 35 or tag == 10:
        return SRR_ORDER
    if flags & F_TRAILER:
        return -1
    if in_trailer or (flags & F_HEADER and in_body):
        return SRR_ORDER
    return -1


cdef inline bint is_member(int gid, int tag) noexcept nogil:
    cdef const fc_group_info* g = &fc_groups[gid]
    cdef int lo = g.first, hi = g.first + g.n - 1, mid
    while lo <= hi:                 # members are sorted
        mid = (lo + hi) >> 1
        if fc_group_members[mid] == tag:
            return True
        if fc_group_members[mid] < tag:
            lo = mid + 1
        else:
            hi = mid - 1
    return False


cdef class FieldView:
    """Typed, zero-copy getters over the fields of a message or group entry.

    Every getter takes a tag and an optional default; without a default a
    missing tag raises :class:`~fastcore.errors.FieldNotFound`, a value that
    does not convert raises :class:`~fastcore.errors.FieldValueError`.
    """

    cdef int locate(self, int tag) noexcept:
        return -1

    cdef int require(self, int tag) except -1:
        cdef int i = self.locate(tag)
        if i < 0:
            raise FieldNotFound(tag)
        return i

    cdef const char* _value(self, int i) noexcept:
        return self.msg.buf + self.msg.views[i].off

    def __contains__(self, int tag):
        return self.locate(tag) >= 0

    def __getitem__(self, int tag):
        """The raw value of ``tag`` as bytes."""
        cdef int i = self.require(tag)
        return PyBytes_FromStringAndSize(self._value(i), self.msg.views[i].len)

    def get(self, int tag, default=None):
        """The raw value of ``tag`` as bytes, or ``default``."""
        cdef int i = self.locate(tag)
        if i < 0:
            return default
        return PyBytes_FromStringAndSize(self._value(i), self.msg.views[i].len)

    cpdef get_str(self, int tag, default=_MISSING):
        """The value of ``tag`` as str (Latin-1: FIX strings are bytes)."""
        cdef int i = self.locate(tag)
        if i < 0:
            if default is _MISSING:
                raise FieldNotFound(tag)
            return default
        return PyUnicode_DecodeLatin1(self._value(i), self.msg.views[i].len, NULL)

    cpdef get_char(self, int tag, default=_MISSING):
        """A single-character value as a one-character str."""
        cdef int i = self.locate(tag)
        if i < 0:
            if default is _MISSING:
                raise FieldNotFound(tag)
            return default
        if self.msg.views[i].len != 1:
            raise FieldValueError(tag, "a single character", self[tag])
        return PyUnicode_DecodeLatin1(self._value(i), 1, NULL)

    cpdef get_int(self, int tag, default=_MISSING):
        """An integer value (INT, SEQNUM, LENGTH, NUMINGROUP …)."""
        cdef int i = self.locate(tag)
        cdef int64_t v
        if i < 0:
            if default is _MISSING:
                raise FieldNotFound(tag)
            return default
        if read_int(self._value(i), self.msg.views[i].len, &v) != V_OK:
            raise FieldValueError(tag, "an integer", self[tag])
        return v

    cpdef get_fixed(self, int tag, int digits, default=_MISSING):
        """A decimal value as an int scaled by ``10**digits``, exactly.

        ``get_fixed(44, 2)`` of ``44=101.25`` is ``10125``; a value with more
        significant decimals than ``digits`` raises FieldValueError.
        """
        cdef int i = self.locate(tag)
        cdef int64_t v
        cdef int rc
        if i < 0:
            if default is _MISSING:
                raise FieldNotFound(tag)
            return default
        if digits < 0 or digits > 18:
            raise ValueError(f"digits must be 0..18, not {digits}")
        rc = read_fixed(self._value(i), self.msg.views[i].len, digits, &v)
        if rc != V_OK:
            raise FieldValueError(tag, (
                "a decimal number", "a number that fits in 64 bits",
                f"a number with at most {digits} decimals")[rc - 1], self[tag])
        return v

    def get_price(self, int tag, default=_MISSING):
        """A price as int64 fixed point with PX_DIGITS (8) decimals."""
        return self.get_fixed(tag, PX_DIGITS, default)

    def get_qty(self, int tag, default=_MISSING):
        """A quantity as int64 fixed point with QTY_DIGITS (4) decimals."""
        return self.get_fixed(tag, QTY_DIGITS, default)

    cpdef get_time(self, int tag, default=_MISSING):
        """A UTCTimestamp as integer nanoseconds since the Unix epoch."""
        cdef int i = self.locate(tag)
        cdef int64_t v
        if i < 0:
            if default is _MISSING:
                raise FieldNotFound(tag)
            return default
        if read_timestamp(self._value(i), self.msg.views[i].len, &v) != V_OK:
            raise FieldValueError(tag, "a UTCTimestamp", self[tag])
        return v

    cpdef get_bool(self, int tag, default=_MISSING):
        """A Boolean (Y/N) value."""
        cdef int i = self.locate(tag)
        cdef char c
        if i < 0:
            if default is _MISSING:
                raise FieldNotFound(tag)
            return default
        c = self._value(i)[0]
        if self.msg.views[i].len != 1 or (c != b'Y' and c != b'N'):
            raise FieldValueError(tag, "Y or N", self[tag])
        return c == b'Y'

    def group(self, int count_tag):
        """The entries of repeating group ``count_tag`` (e.g. 453 Parties)."""
        cdef Message m = self.msg
        cdef int g, e, parent = self._group_scope()
        cdef GroupEntry entry
        for g in range(m.ngroups):
            if m.groups[g].count_tag == count_tag and m.groups[g].parent == parent \
                    and self._owns_group(g):
                out = []
                if m.groups[g].n == 0:
                    return out
                for e in range(m.groups[g].first, m.groups[g].last + 1):
                    if m.entries[e].group != g:
                        continue
                    entry = GroupEntry.__new__(GroupEntry)
                    entry.msg = m
                    entry.group = g
                    entry.entry = e
                    out.append(entry)
                return out
        return []

    cdef int _group_scope(self):
        return -1

    cdef bint _owns_group(self, int g):
        return True


cdef class Message(FieldView):
    """A parsed FIX message: read-only views into the bytes it was parsed from.

    A Message returned by :meth:`Parser.parse` is reused by that parser's next
    call; :func:`parse` returns one of its own.
    """

    def __cinit__(self):
        self.msg = self
        self.max_body_length = DEFAULT_MAX_BODY_LENGTH
        self.cap_fields = 64
        self.views = <fc_field*>malloc(self.cap_fields * sizeof(fc_field))
        self.cap_groups = 8
        self.groups = <fc_group*>malloc(self.cap_groups * sizeof(fc_group))
        self.cap_entries = 32
        self.entries = <fc_entry*>malloc(self.cap_entries * sizeof(fc_entry))
        self.index = <uint32_t*>calloc(FC_NSLOTS, sizeof(uint32_t))
        self.cap_words = 0
        self.soh_bits = NULL
        self.gen = 0
        self.msgtype = -1
        if not (self.views and self.groups and self.entries and self.index):
            raise MemoryError()

    def __dealloc__(self):
        free(self.views)
        free(self.groups)
        free(self.entries)
        free(self.index)
        free(self.soh_bits)

    cdef int _grow(self) noexcept:
        """Double whichever array is full; -1 when memory runs out."""
        cdef void* p
        if self.nfields >= self.cap_fields:
            p = realloc(self.views, 2 * self.cap_fields * sizeof(fc_field))
            if p == NULL:
                return -1
            self.views = <fc_field*>p
            self.cap_fields *= 2
        if self.ngroups >= self.cap_groups:
            p = realloc(self.groups, 2 * self.cap_groups * sizeof(fc_group))
            if p == NULL:
                return -1
            self.groups = <fc_group*>p
            self.cap_groups *= 2
        if self.nentries >= self.cap_entries:
            p = realloc(self.entries, 2 * self.cap_entries * sizeof(fc_entry))
            if p == NULL:
                return -1
            self.entries = <fc_entry*>p
            self.cap_entries *= 2
        return 0

    cdef int _grow_bits(self, Py_ssize_t words) noexcept:
        """Room for the SOH bitmap of a body of ``words`` 64-byte blocks; -1 when out of memory."""
        cdef void* a = realloc(self.soh_bits, words * sizeof(uint64_t))
        if a == NULL:
            return -1
        self.soh_bits = <uint64_t*>a
        self.cap_words = words
        return 0

    cdef int find(self, int tag) noexcept nogil:
        """Index of top-level field ``tag``, or -1. O(1) for dictionary tags."""
        cdef int slot = slot_of(tag), i
        cdef uint32_t e
        if slot:
            e = self.index[slot]
            if (e >> 16) == self.gen:
                return <int>(e & 0xFFFF)
            return -1
        for i in range(self.nfields):   # user-defined tags outside the dictionary
            if self.views[i].tag == tag and self.views[i].group < 0:
                return i
        return -1

    cdef int locate(self, int tag) noexcept:
        return self.find(tag)

    cdef int _reject(self, int reason, int tag) noexcept:
        self.reason = reason
        self.ref_tag = tag
        self.status = P_REJECT
        return P_REJECT

    cdef int parse(self, const char* buf, Py_ssize_t n, Py_ssize_t* used) noexcept:
        """Frame and parse the first message of ``buf[:n]``.

        Returns P_OK or P_REJECT with ``used`` = the message's length,
        P_GARBLED with ``used`` = the bytes to drop, or P_PARTIAL (used = 0).
        """
        cdef int rc
        self.nfields = 0
        self.ngroups = 0
        self.nentries = 0
        self.msgtype = -1
        self.reason = 0
        self.ref_tag = 0
        self.garble = G_NONE
        self.gen += 1
        if self.gen > 0xFFFF:           # the index stamps wrap: clear them
            memset(self.index, 0, FC_NSLOTS * sizeof(uint32_t))
            self.gen = 1
        self.buf = buf
        rc = self._frame(buf, n, used)
        self.status = rc
        return rc

    cdef int _frame(self, const char* buf, Py_ssize_t n, Py_ssize_t* used) noexcept:
        cdef const char* p
        cdef const char* q
        cdef Py_ssize_t i, body_start, end, length
        cdef int k, rc
        used[0] = 0
        # BeginString: "8=FIX" at the start, else drop up to the next one
        if n < 5:
            if memcmp(buf, b"8=FIX", n) == 0:
                return P_PARTIAL
            return self._skip(buf, n, 1, used, G_NO_BEGIN)
        if memcmp(buf, b"8=FIX", 5) != 0:
            return self._skip(buf, n, 1, used, G_NO_BEGIN)
        if n >= 10 and memcmp(buf + 5, b".4.4\x01", 5) == 0:
            i = 10                      # the usual BeginString
        else:
            p = <const char*>memchr(buf + 5, SOH, (n if n < 32 else 32) - 5)
            if p == NULL:
                if n < 32:
                    return P_PARTIAL
                return self._skip(buf, n, 1, used, G_NO_BEGIN)
            i = p - buf + 1
        # BodyLength: "9=" digits SOH
        if n - i < 2:
            return P_PARTIAL
        if buf[i] != b'9' or buf[i + 1] != b'=':
            return self._skip(buf, n, 1, used, G_BODY_LENGTH)
        i += 2
        length = 0
        k = 0
        while True:
            if i >= n:
                return P_PARTIAL
            if buf[i] == SOH:
                break
            if <unsigned char>(buf[i] - 48) > 9 or k == 9:
                return self._skip(buf, n, 1, used, G_BODY_LENGTH)
            length = length * 10 + (buf[i] - 48)
            i += 1
            k += 1
        if k == 0:
            return self._skip(buf, n, 1, used, G_BODY_LENGTH)
        if length > self.max_body_length:
            return self._skip(buf, n, 1, used, G_TOO_LONG)
        body_start = i + 1
        end = body_start + length
        if n < end + 7:
            return P_PARTIAL
        # CheckSum: "10=" three digits SOH, right after the body
        q = buf + end
        if q[0] != b'1' or q[1] != b'0' or q[2] != b'=' or q[6] != SOH or \
                <unsigned char>(q[3] - 48) > 9 or <unsigned char>(q[4] - 48) > 9 or \
                <unsigned char>(q[5] - 48) > 9:
            return self._skip(buf, n, 1, used, G_BODY_LENGTH)
        if buf[end - 1] != SOH:         # the last body field must end in SOH
            return self._skip(buf, n, 1, used, G_BODY_LENGTH)
        k = (q[3] - 48) * 100 + (q[4] - 48) * 10 + (q[5] - 48)
        if k > 255:                     # 000-255: a larger one is no byte sum mod 256
            return self._skip(buf, n, 1, used, G_CHECKSUM)
        self.size = end + 7
        used[0] = end + 7
        # the body pass sums the message's bytes; the CheckSum is checked there
        self.check_sum = <unsigned int>(1024 - k) & 255
        rc = self._body(body_start, end)
        if rc == P_GARBLED:
            return self._skip(buf, n, 1, used, G_CHECKSUM)
        return rc

    cdef int _skip(self, const char* buf, Py_ssize_t n, Py_ssize_t start,
                   Py_ssize_t* used, int why) noexcept:
        """Drop bytes up to the next "8=FIX", keeping a tail that may begin one."""
        cdef const char* p = NULL
        cdef Py_ssize_t keep
        if start < n:
            p = <const char*>memmem(buf + start, n - start, b"8=FIX", 5)
        if p != NULL:
            used[0] = p - buf
        else:
            keep = 4 if n - start >= 4 else n - start
            while keep > 0 and memcmp(buf + n - keep, b"8=FIX", keep) != 0:
                keep -= 1
            used[0] = n - keep
        self.garble = why
        return P_GARBLED

    cdef int _body(self, Py_ssize_t start, Py_ssize_t end) noexcept:
        """Split and validate the body ``buf[start:end]`` (35=… up to 10=).

        Plain fields take the loop's fast path; the first field, a header
        field after the body began, trailer fields, repeating groups, DATA
        and tags outside the dictionary go through ``_field``.
        """
        cdef const char* buf = self.buf
        cdef Py_ssize_t p = start, q, s, e, vlen
        cdef int tag, slot, rc, nf = 0, k, j, t
        cdef unsigned int d
        cdef uint8_t flags
        cdef fc_field* views = self.views
        cdef fc_field* fv
        cdef uint32_t* index = self.index
        cdef uint32_t gen = self.gen
        cdef uint64_t* soh_bits
        cdef fc_group* grp
        cdef bint in_body = False
        # the SOH bitmap of the message up to the CheckSum: bit i marks buf[i]
        if end // 64 + 2 > self.cap_words:
            if self._grow_bits(end // 64 + 2):
                return self._reject(SRR_OTHER, 0)
        soh_bits = self.soh_bits
        if (fc_structural(buf, end, soh_bits) + self.check_sum) & 255:
            return P_GARBLED            # CheckSum mismatch
        self.in_body = False
        self.in_trailer = False
        self.slow = False
        self.depth = 0
        self.data_len = -1
        while p < end:
            # tag: 1-9 digits, no leading zero, then '='; the value runs to the next SOH
            s = fc_next_bit(soh_bits, p)
            d = <unsigned char>buf[p] - 48
            if d - 1 > 8:               # not 1-9
                return self._reject(SRR_INVALID_TAG, 0)
            tag = d
            e = p + 1
            d = <unsigned char>buf[e] - 48
            while d <= 9:
                tag = tag * 10 + d
                e += 1
                d = <unsigned char>buf[e] - 48
            if buf[e] != b'=' or e >= s or e - p > 9:
                return self._reject(SRR_INVALID_TAG, 0)
            q = e + 1
            slot = fc_low_slot[tag] if tag < FC_LOW_TAGS else slot_of(tag)
            flags = fc_slots[slot].flags
            vlen = s - q
            if nf == 0:                 # MsgType, third after 8 and 9
                if tag != 35:
                    return self._reject(SRR_ORDER, 35)
                if vlen == 0:
                    return self._reject(SRR_NO_VALUE, 35)
                self.msgtype = msgtype_index(buf + q, vlen)
                if self.msgtype < 0:
                    return self._reject(SRR_INVALID_MSGTYPE, 35)
            elif slot == 0 or self.slow or \
                    flags & (F_TRAILER | F_GROUP | F_LENGTH | F_FRAME) or \
                    (flags & F_HEADER and in_body):
                self.nfields = nf
                self.in_body = in_body
                p = self._field(tag, slot, q, s, end)
                if p < 0:
                    return P_REJECT
                nf = self.nfields
                in_body = self.in_body
                views = self.views
                continue
            else:                       # fast path: a plain field
                if vlen == 0:
                    return self._reject(SRR_NO_VALUE, tag)
                if flags & F_CHECK:
                    t = fc_slots[slot].type
                    if t == T_UTCTIMESTAMP:     # SendingTime, TransactTime: inline
                        if not valid_timestamp(buf + q, vlen):
                            return self._reject(SRR_DATA_FORMAT, tag)
                    elif t == T_SEQNUM and not flags & F_ENUM and vlen <= 18:
                        if not all_digits(buf + q, vlen):
                            return self._reject(SRR_DATA_FORMAT, tag)
                    else:
                        rc = check_value(slot, buf + q, vlen)
                        if rc >= 0:
                            return self._reject(rc, tag)
            if (index[slot] >> 16) == gen:
                return self._reject(SRR_DUPLICATE_TAG, tag)
            if nf >= self.cap_fields:
                self.nfields = nf
                if nf >= 0xFFFF or self._grow():
                    return self._reject(SRR_OTHER, tag)
                views = self.views
            index[slot] = (gen << 16) | <uint32_t>nf
            fv = &views[nf]
            fv.tag = tag
            fv.off = <int32_t>q
            fv.len = <int32_t>vlen
            fv.slot = <int16_t>slot
            fv.group = -1
            nf += 1
            if not flags & F_HEADER:
                in_body = True
            p = s + 1
        self.nfields = nf
        while self.depth > 0:
            grp = &self.groups[self.stack[self.depth - 1]]
            if grp.n != grp.count:
                return self._reject(SRR_NUMINGROUP, grp.count_tag)
            self.depth -= 1
        # required fields: the standard header's, then the message type's
        for k in range(FC_NHEADER_REQUIRED):
            if (index[fc_header_required_slot[k]] >> 16) != gen:
                return self._reject(SRR_REQUIRED_MISSING, fc_header_required[k])
        j = fc_msgtypes[self.msgtype].first
        for k in range(j, j + fc_msgtypes[self.msgtype].n):
            if (index[fc_required_slot[k]] >> 16) != gen:
                return self._reject(SRR_REQUIRED_MISSING, fc_required[k])
        return P_OK

    cdef Py_ssize_t _field(self, int tag, int slot, Py_ssize_t q, Py_ssize_t s,
                           Py_ssize_t end) noexcept:
        """Every field but MsgType the fast path does not take: its value starts at ``q``
        and, unless it is a DATA field, ends at the SOH at ``s``. Returns where
        the next field starts, or -1 after a reject."""
        cdef const char* buf = self.buf
        cdef Py_ssize_t vlen
        cdef int nf = self.nfields, rc, g, gid, k
        cdef uint8_t flags = fc_slots[slot].flags
        cdef fc_field* fv
        cdef fc_group* grp
        cdef int64_t v
        cdef bint placed = False
        if self.data_len >= 0 and tag == self.data_tag:   # DATA: exactly its length, SOH allowed
            if self.data_len >= end - q or buf[q + self.data_len] != SOH:
                self._reject(SRR_DATA_FORMAT, tag)
                return -1
            vlen = self.data_len
        else:
            vlen = s - q
        self.data_len = -1
        if vlen == 0:
            self._reject(SRR_NO_VALUE, tag)
            return -1
        if nf >= self.cap_fields and (nf >= 0xFFFF or self._grow()):
            self._reject(SRR_OTHER, tag)
            return -1
        rc = misplaced(tag, slot, self.in_body, self.in_trailer)
        if rc >= 0:
            self._reject(rc, tag)
            return -1
        if slot and flags & F_TRAILER:
            self.in_trailer = True
        elif slot == 0 or not flags & F_HEADER:
            self.in_body = True
        if flags & F_CHECK:
            rc = check_value(slot, buf + q, vlen)
            if rc >= 0:
                self._reject(rc, tag)
                return -1
        if flags & F_LENGTH:
            read_int(buf + q, vlen, &v)
            self.data_len = v
            self.data_tag = fc_slots[slot].data_tag
        fv = &self.views[nf]
        fv.tag = tag
        fv.off = <int32_t>q
        fv.len = <int32_t>vlen
        fv.slot = <int16_t>slot
        fv.group = -1
        # repeating groups: is this field an entry's, or does it close groups?
        while self.depth > 0:
            g = self.stack[self.depth - 1]
            grp = &self.groups[g]
            gid = grp.gid
            if tag == fc_groups[gid].delim:
                if grp.n == grp.count:
                    self._reject(SRR_NUMINGROUP, grp.count_tag)
                    return -1
                if self.nentries >= self.cap_entries and self._grow():
                    self._reject(SRR_OTHER, tag)
                    return -1
                self.entries[self.nentries].first = nf
                self.entries[self.nentries].group = g
                if grp.n == 0:
                    grp.first = self.nentries
                grp.last = self.nentries
                self.nentries += 1
                grp.n += 1
                placed = True
                break
            if is_member(gid, tag):
                if grp.n == 0:
                    self._reject(SRR_GROUP_ORDER, tag)
                    return -1
                for k in range(self.entries[grp.last].first, nf):
                    if self.views[k].tag == tag and self.views[k].group == g:
                        self._reject(SRR_GROUP_ORDER, tag)
                        return -1
                placed = True
                break
            if grp.n != grp.count:
                self._reject(SRR_NUMINGROUP, grp.count_tag)
                return -1
            self.depth -= 1
        if placed:
            g = self.stack[self.depth - 1]
            fv.group = <int16_t>g
            self.entries[self.groups[g].last].end = nf + 1
        elif slot:
            if (self.index[slot] >> 16) == self.gen:
                self._reject(SRR_DUPLICATE_TAG, tag)
                return -1
            self.index[slot] = (self.gen << 16) | <uint32_t>nf
        else:
            for k in range(nf):
                if self.views[k].tag == tag and self.views[k].group < 0:
                    self._reject(SRR_DUPLICATE_TAG, tag)
                    return -1
        nf += 1
        self.nfields = nf
        # a NumInGroup field opens a group
        if slot and flags & F_GROUP:
            read_int(buf + q, vlen, &v)
            if self.ngroups >= self.cap_groups and self._grow():
                self._reject(SRR_OTHER, tag)
                return -1
            if self.depth == MAX_GROUP_DEPTH or v > 0xFFFF:
                self._reject(SRR_NUMINGROUP, tag)
                return -1
            grp = &self.groups[self.ngroups]
            grp.count_tag = tag
            grp.field = nf - 1
            grp.gid = fc_slots[slot].group_id
            grp.count = <int32_t>v
            grp.first = self.nentries
            grp.last = self.nentries
            grp.n = 0
            grp.parent = self.stack[self.depth - 1] if self.depth else -1
            # open even when empty: an entry or member right after a count of 0
            # is refused (16, 15) like one beyond any count; the next other field closes it
            self.stack[self.depth] = self.ngroups
            self.depth += 1
            self.ngroups += 1
        self.slow = self.in_trailer or self.depth > 0 or self.data_len >= 0
        return q + vlen + 1

    # ---- the Python edge ---------------------------------------------------

    @property
    def msg_type(self):
        """MsgType (35) as str."""
        if self.msgtype < 0:
            return None
        return fc_msgtypes[self.msgtype].mt.decode()

    @property
    def is_admin(self):
        """True for session-level (administrative) message types."""
        return self.msgtype >= 0 and fc_msgtypes[self.msgtype].admin != 0

    @property
    def raw(self):
        """The whole message as bytes."""
        return PyBytes_FromStringAndSize(self.buf, self.size)

    def __len__(self):
        return self.nfields

    def fields(self):
        """Every field in wire order as (tag, bytes), group entries included
        (BeginString, BodyLength and CheckSum excluded)."""
        cdef int i
        return [(self.views[i].tag,
                 PyBytes_FromStringAndSize(self.buf + self.views[i].off, self.views[i].len))
                for i in range(self.nfields)]

    def to_dict(self):
        """Top-level fields as {tag: bytes} (group entries left out)."""
        cdef int i
        return {self.views[i].tag:
                PyBytes_FromStringAndSize(self.buf + self.views[i].off, self.views[i].len)
                for i in range(self.nfields) if self.views[i].group < 0}

    def copy(self):
        """A Message of its own (for one kept past its parser's next call)."""
        return parse(self.raw, self.max_body_length)

    def __repr__(self):
        return f"<Message {self.msg_type} {len(self)} fields>"

    cdef object error(self):
        """The exception of a failed parse (its text is a Reject's Text)."""
        if self.status == P_PARTIAL:
            return IncompleteMessage("the data ends inside a FIX message")
        if self.status == P_GARBLED:
            return GarbledMessage(self.garble, GARBLE_REASONS[self.garble])
        return InvalidMessage(self.reason, self.ref_tag, self.msg_type,
                              f"{REJECT_REASONS[self.reason]}" +
                              (f" (tag {self.ref_tag})" if self.ref_tag else ""))

    cdef object _raise(self):
        raise self.error()


cdef class GroupEntry(FieldView):
    """One entry of a repeating group; the same getters as a Message."""

    cdef int locate(self, int tag) noexcept:
        cdef Message m = self.msg
        cdef int k
        for k in range(m.entries[self.entry].first, m.entries[self.entry].end):
            if m.views[k].tag == tag and m.views[k].group == self.group:
                return k
        return -1

    cdef int _group_scope(self):
        return self.group

    cdef bint _owns_group(self, int g):
        cdef Message m = self.msg
        cdef int f = m.groups[g].field
        return m.entries[self.entry].first <= f < m.entries[self.entry].end \
            and m.views[f].group == self.group

    def fields(self):
        """This entry's own fields as (tag, bytes), nested groups excluded."""
        cdef Message m = self.msg
        cdef int k
        return [(m.views[k].tag,
                 PyBytes_FromStringAndSize(m.buf + m.views[k].off, m.views[k].len))
                for k in range(m.entries[self.entry].first, m.entries[self.entry].end)
                if m.views[k].group == self.group]

    def __repr__(self):
        return f"<GroupEntry {self.fields()}>"


cdef class Batch:
    """Where each message of a buffer lies and how it parsed: arrays, no
    Python object per message. Reused by the Parser that filled it.

    ``status[i]`` is 0 (valid), 2 (garbled bytes dropped) or 3 (invalid:
    ``reasons[i]`` is the SessionRejectReason and ``ref_tags[i]`` the tag);
    ``offsets[i]`` and ``lengths[i]`` locate the bytes in the buffer;
    ``consumed`` is where an incomplete tail (kept for the next read) begins.
    """
    cdef readonly object data
    cdef readonly Py_ssize_t count
    cdef readonly Py_ssize_t consumed
    cdef array _offsets, _lengths, _status, _reasons, _ref_tags
    cdef Py_ssize_t cap

    def __cinit__(self):
        self.cap = 0
        self._offsets = _pyarray("q")
        self._lengths = _pyarray("i")
        self._status = _pyarray("b")
        self._reasons = _pyarray("h")
        self._ref_tags = _pyarray("i")

    cdef void _reserve(self, Py_ssize_t n):
        if n > self.cap:
            resize(self._offsets, n)
            resize(self._lengths, n)
            resize(self._status, n)
            resize(self._reasons, n)
            resize(self._ref_tags, n)
            self.cap = n

    @property
    def offsets(self):
        """memoryview of int64: where each message (or dropped run) starts."""
        return memoryview(self._offsets)[:self.count]

    @property
    def lengths(self):
        """memoryview of int32: its length in bytes."""
        return memoryview(self._lengths)[:self.count]

    @property
    def status(self):
        """memoryview of int8: 0 valid, 2 garbled (dropped), 3 invalid."""
        return memoryview(self._status)[:self.count]

    @property
    def reasons(self):
        """memoryview of int16: SessionRejectReason (invalid) or garble code."""
        return memoryview(self._reasons)[:self.count]

    @property
    def ref_tags(self):
        """memoryview of int32: the offending tag of an invalid message, else 0."""
        return memoryview(self._ref_tags)[:self.count]

    def __len__(self):
        return self.count

    def message(self, Py_ssize_t i):
        """Message ``i`` parsed again into a Message of its own."""
        if not 0 <= i < self.count:
            raise IndexError(i)
        o = self._offsets.data.as_longlongs[i]
        return parse(self.data[o:o + self._lengths.data.as_ints[i]])

    def __repr__(self):
        return f"<Batch {self.count} messages, {self.consumed} bytes consumed>"


cdef class Parser:
    """Frames and parses FIX 4.4 messages, reusing one Message and one Batch.

    ``max_body_length`` bounds BodyLength (9); a larger message is dropped as
    garbled rather than buffered.
    """
    cdef readonly Message message
    cdef readonly Batch batch

    def __cinit__(self, Py_ssize_t max_body_length=DEFAULT_MAX_BODY_LENGTH):
        self.message = Message.__new__(Message)
        self.message.max_body_length = max_body_length
        self.batch = Batch.__new__(Batch)

    @property
    def max_body_length(self):
        return self.message.max_body_length

    cpdef Message parse(self, data):
        """Parse one complete message from ``data`` (bytes).

        Returns this parser's Message, valid until its next call. Raises
        IncompleteMessage, GarbledMessage or InvalidMessage.
        """
        cdef Message m = self.message
        cdef Py_ssize_t used
        if type(data) is not bytes:
            data = bytes(data)
        m.owner = data
        if m.parse(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &used) != P_OK:
            m._raise()
        return m

    def parse_batch(self, data):
        """Frame and validate every message in ``data``; returns this parser's Batch."""
        cdef Message m = self.message
        cdef Batch b = self.batch
        cdef Py_ssize_t n, pos = 0, used, count = 0
        cdef const char* base
        cdef int rc
        if type(data) is not bytes:
            data = bytes(data)
        base = PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
        b.data = data
        m.owner = data
        b._reserve(n // 64 + 16)
        while pos < n:
            rc = m.parse(base + pos, n - pos, &used)
            if rc == P_PARTIAL:
                break
            if count == b.cap:
                b._reserve(2 * b.cap)
            b._offsets.data.as_longlongs[count] = pos
            b._lengths.data.as_ints[count] = <int>used
            b._status.data.as_schars[count] = <signed char>rc
            b._reasons.data.as_shorts[count] = <short>(m.reason if rc == P_REJECT else m.garble)
            b._ref_tags.data.as_ints[count] = m.ref_tag
            count += 1
            pos += used
        b.count = count
        b.consumed = pos
        return b


def parse(data, Py_ssize_t max_body_length=DEFAULT_MAX_BODY_LENGTH):
    """Parse one complete FIX 4.4 message from bytes into a Message of its own."""
    cdef Message m = Message.__new__(Message)
    cdef Py_ssize_t used
    if type(data) is not bytes:
        data = bytes(data)
    m.owner = data
    m.max_body_length = max_body_length
    if m.parse(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &used) != P_OK:
        m._raise()
    return m
