# ClOrdID (11) → order, per session: open addressing over an arena of keys.
#
# Every ClOrdID an order has carried (the original, each accepted replace, each
# cancel or replace request) is a key naming that order, so a request or a
# status query may use any of them. Key 0 is "no key".

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef enum:
    NO_KEY = 0
    K_ORDER = 1          # a ClOrdID the order carried (the original or an accepted replace)
    K_REQUEST = 2        # the ClOrdID of a cancel or replace request

cdef struct key_t:
    uint64_t hash
    uint32_t off         # the ClOrdID's bytes: arena[off : off + len]
    uint32_t len
    uint32_t order       # the slot of the order it names
    uint32_t next        # the order's previous key (a chain per order), NO_KEY at the end
    uint16_t session
    uint8_t kind
    uint8_t live         # 0 once the order is released

cdef class ClOrdIDIndex:
    cdef key_t* keys                 # keys[1 .. nkeys]
    cdef uint32_t nkeys, cap_keys, dead
    cdef uint32_t* table             # open addressing: key numbers, 0 empty
    cdef uint32_t mask
    cdef char* arena
    cdef size_t used, cap_arena

    cdef uint32_t find(self, uint16_t session, const char* p, uint32_t n) noexcept nogil
    cdef uint32_t add(self, uint16_t session, const char* p, uint32_t n,
                      uint32_t order, uint8_t kind, uint32_t chain) noexcept nogil
    cdef void release(self, uint32_t chain) noexcept nogil
    cdef int _grow(self) noexcept nogil
    cdef void _index(self) noexcept nogil
    cdef uint32_t* compact(self) noexcept nogil

    cdef inline const char* text(self, uint32_t key) noexcept nogil:
        return self.arena + self.keys[key].off
