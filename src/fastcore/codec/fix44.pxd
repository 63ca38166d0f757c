# The FIX 4.4 dictionary tables (generated into _fix44.h by tools/gen_fix44.py).
#
# Every tag fastcore knows has a dense *slot*; per-message tag tables are
# indexed by slot, so a lookup is two array reads whatever the tag number.

from libc.stdint cimport int16_t, int32_t, uint8_t, uint16_t, uint64_t

cdef extern from "_fix44.h" nogil:
    enum:
        FC_NSLOTS
        FC_LOW_TAGS
        FC_HIGH_BUCKETS
        FC_NGROUPS
        FC_NMSGTYPES
        FC_NHEADER_REQUIRED

    ctypedef struct fc_slot_info:
        int32_t tag
        uint8_t type
        uint8_t flags
        int16_t enum_id
        int16_t group_id
        int32_t data_tag

    ctypedef struct fc_enum_info:
        uint64_t lo
        uint64_t hi
        int32_t first
        int32_t count

    ctypedef struct fc_group_info:
        int32_t count_tag
        int32_t delim
        int32_t first
        int32_t n

    ctypedef struct fc_msgtype_info:
        char mt[3]
        int16_t first
        int16_t n
        uint8_t admin

    const uint16_t fc_low_slot[]
    const int32_t fc_high_tag[]
    const uint16_t fc_high_slot[]
    const fc_slot_info fc_slots[]
    const fc_enum_info fc_enums[]
    const char* const fc_enum_strings[]
    const fc_group_info fc_groups[]
    const int32_t fc_group_members[]
    const fc_msgtype_info fc_msgtypes[]
    const int16_t fc_msgtype_by_char[]
    const int16_t fc_msgtype_by_pair[]
    const int32_t fc_required[]
    const uint16_t fc_required_slot[]
    const int32_t fc_header_required[]
    const uint16_t fc_header_required_slot[]

# Field types (the TYPES table of tools/gen_fix44.py)
cdef enum:
    T_STRING = 0
    T_CHAR = 1
    T_INT = 2
    T_LENGTH = 3
    T_SEQNUM = 4
    T_NUMINGROUP = 5
    T_TAGNUM = 6
    T_DAYOFMONTH = 7
    T_FLOAT = 8
    T_QTY = 9
    T_PRICE = 10
    T_PRICEOFFSET = 11
    T_AMT = 12
    T_PERCENTAGE = 13
    T_BOOLEAN = 14
    T_UTCTIMESTAMP = 15
    T_UTCTIMEONLY = 16
    T_UTCDATEONLY = 17
    T_LOCALMKTDATE = 18
    T_MONTHYEAR = 19
    T_DATA = 20
    T_MULTIPLEVALUESTRING = 21

# Slot flags
cdef enum:
    F_HEADER = 1
    F_TRAILER = 2
    F_GROUP = 4
    F_LENGTH = 8
    F_DATA = 16
    F_ENUM = 32
    F_CHECK = 64     # a format or an enum to check; free text has none
    F_FRAME = 128    # 8, 9, 35, 10: only where framing puts them


cdef inline int slot_of(int tag) noexcept nogil:
    """The dictionary slot of ``tag``; 0 when fastcore's dictionary lacks it."""
    cdef int h
    if 0 < tag < FC_LOW_TAGS:
        return fc_low_slot[tag]
    if tag <= 0:
        return 0
    h = tag % FC_HIGH_BUCKETS
    while fc_high_tag[h] != 0:
        if fc_high_tag[h] == tag:
            return fc_high_slot[h]
        h = (h + 1) % FC_HIGH_BUCKETS
    return 0


cdef inline int msgtype_index(const char* p, Py_ssize_t n) noexcept nogil:
    """Index of MsgType ``p[:n]`` in fc_msgtypes, or -1."""
    cdef unsigned char a, b
    if n == 1:
        a = <unsigned char>p[0]
        return fc_msgtype_by_char[a] if a < 128 else -1
    if n == 2:
        a = <unsigned char>p[0] - 65
        b = <unsigned char>p[1] - 65
        return fc_msgtype_by_pair[a * 26 + b] if a < 26 and b < 26 else -1
    return -1
