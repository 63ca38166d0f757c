# FIX 4.4 framing, validation and zero-copy field access.
#
# A Message is a set of views into a receive buffer: one fc_field per
# tag=value pair (tag, value offset, value length), a per-slot index giving any
# top-level field in O(1), and the repeating-group structure. Parsing writes
# into arrays the Message owns and reuses: no allocation per message once
# they have grown to the largest message seen.

from libc.stdint cimport int16_t, int32_t, int64_t, uint32_t, uint64_t

cdef struct fc_field:
    int32_t tag
    int32_t off        # value offset from the start of the message
    int32_t len        # value length
    int16_t slot       # dictionary slot; 0 for tags the dictionary lacks
    int16_t group      # index of the group instance holding it; -1 at top level

cdef struct fc_group:  # one repeating group in one message
    int32_t count_tag  # NumInGroup tag (453 for Parties)
    int32_t gid        # index into fc_groups
    int32_t field      # index of its NumInGroup field
    int32_t count      # the NumInGroup value
    int32_t first      # its first and last entries in Message.entries (the
    int32_t last       # entries of nested groups may lie between them)
    int32_t n          # entries seen
    int32_t parent     # enclosing group instance, -1 at top level

cdef struct fc_entry:  # one entry of a repeating group: its fields lie in [first, end)
    int32_t first
    int32_t end
    int32_t group

# Outcome of framing and parsing one message.
cdef enum:
    P_OK = 0           # a valid message
    P_PARTIAL = 1      # the buffer ends inside a message: read more
    P_GARBLED = 2      # bytes to drop: garbage, bad BodyLength or CheckSum (ignored, FIX session rules)
    P_REJECT = 3       # framed, but invalid: answer Reject (35=3) with reason and ref_tag

# Why bytes were dropped (P_GARBLED).
cdef enum:
    G_NONE = 0
    G_NO_BEGIN = 1       # bytes before the next "8=FIX"
    G_BODY_LENGTH = 2    # 9=BodyLength missing or wrong
    G_CHECKSUM = 3       # 10=CheckSum wrong
    G_TOO_LONG = 4       # BodyLength above the parser's limit

# SessionRejectReason (373) values the codec reports.
cdef enum:
    SRR_INVALID_TAG = 0
    SRR_REQUIRED_MISSING = 1
    SRR_NO_VALUE = 4
    SRR_VALUE_INCORRECT = 5
    SRR_DATA_FORMAT = 6
    SRR_INVALID_MSGTYPE = 11
    SRR_DUPLICATE_TAG = 13
    SRR_ORDER = 14
    SRR_GROUP_ORDER = 15
    SRR_NUMINGROUP = 16
    SRR_OTHER = 99

cdef enum:
    MAX_GROUP_DEPTH = 8
    DEFAULT_MAX_BODY_LENGTH = 65536


cdef class FieldView:
    """Typed getters shared by a message and its group entries."""
    cdef Message msg
    cdef int locate(self, int tag) noexcept
    cdef int require(self, int tag) except -1
    cdef const char* _value(self, int i) noexcept
    cdef int _group_scope(self)
    cdef bint _owns_group(self, int g)
    cpdef get_str(self, int tag, default=*)
    cpdef get_char(self, int tag, default=*)
    cpdef get_int(self, int tag, default=*)
    cpdef get_fixed(self, int tag, int digits, default=*)
    cpdef get_time(self, int tag, default=*)
    cpdef get_bool(self, int tag, default=*)


cdef class Message(FieldView):
    cdef object owner                # keeps the viewed bytes alive
    cdef const char* buf             # the message's first byte ("8=")
    cdef Py_ssize_t size             # bytes from "8=" to the last SOH
    cdef Py_ssize_t max_body_length

    cdef fc_field* views             # one per field, in wire order
    cdef int nfields, cap_fields
    cdef uint32_t* index             # per slot: generation << 16 | field index
    cdef uint32_t gen
    cdef fc_group* groups
    cdef int ngroups, cap_groups
    cdef fc_entry* entries
    cdef int nentries, cap_entries
    cdef uint64_t* soh_bits          # structural bitmap of the body: where each SOH is
    cdef Py_ssize_t cap_words

    cdef int msgtype                 # index into fc_msgtypes, -1 unknown
    cdef int status                  # P_* of the last parse
    cdef int garble                  # G_* when status is P_GARBLED
    cdef int reason                  # SRR_* when status is P_REJECT
    cdef int ref_tag                 # the offending tag, 0 when none
    cdef unsigned int check_sum      # header bytes + (1024 - CheckSum): 0 mod 256 with the body

    # body-parse state that only the slow path (_field) changes
    cdef bint in_body, in_trailer    # a body field seen; a trailer field (93, 89) seen
    cdef bint slow                   # in_trailer, in a group, or a DATA field due
    cdef int depth                   # open repeating groups
    cdef int stack[MAX_GROUP_DEPTH]  # their instances
    cdef Py_ssize_t data_len         # length of the DATA field due next, -1 when none
    cdef int data_tag

    cdef int parse(self, const char* buf, Py_ssize_t n, Py_ssize_t* used) noexcept
    cdef int _frame(self, const char* buf, Py_ssize_t n, Py_ssize_t* used) noexcept
    cdef int _body(self, Py_ssize_t start, Py_ssize_t end) noexcept
    cdef Py_ssize_t _field(self, int tag, int slot, Py_ssize_t q, Py_ssize_t s, Py_ssize_t end) noexcept
    cdef int _reject(self, int reason, int tag) noexcept
    cdef int _grow(self) noexcept
    cdef int _grow_bits(self, Py_ssize_t words) noexcept
    cdef object error(self)
    cdef object _raise(self)
    cdef int _skip(self, const char* buf, Py_ssize_t n, Py_ssize_t start, Py_ssize_t* used, int why) noexcept
    cdef int find(self, int tag) noexcept nogil


cdef class GroupEntry(FieldView):
    cdef int group                   # group instance
    cdef int entry                   # entry index in Message.entries
