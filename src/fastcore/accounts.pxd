# Secondary accounts (seed 001): a client's own account name → the TT
# account its orders are booked to and the order profile they take.
#
# The names are keys of a ClOrdIDIndex (namespace 0; the order profiles'
# names are namespace 1); mapping i is maps[i]. A name is given (SecondaryAccount 18219) or made from the user's
# rule parts around its Account (1): prefix + account + suffix, or, for a
# wild-card user, its one ``CompanyUser*`` name.

from libc.stdint cimport uint16_t, uint32_t

from fastcore.orders.clordids cimport ClOrdIDIndex

cdef enum:
    NO_MAP = 0xFFFFFFFF
    MAX_NAME = 256            # a made name longer than this maps to nothing


cdef struct mapping_t:
    uint32_t account          # the engine's number of the TT account
    uint16_t profile          # 1 + the order profile's index; 0: none


cdef class SecondaryAccounts:
    cdef ClOrdIDIndex names           # name → key; key.order: the mapping's index (the profile's)
    cdef mapping_t* maps
    cdef readonly uint32_t count
    cdef tuple prefix, suffix, wildcard   # per user: bytes around Account (1); the wild-card name or None

    cdef uint32_t find(self, const char* p, Py_ssize_t n) noexcept
    cdef uint32_t made(self, uint16_t user, const char* account, Py_ssize_t n) noexcept
    cdef uint16_t profile(self, const char* p, Py_ssize_t n) noexcept
