# Who sees each order: audiences as bitsets over user indices (user i is
# config.users[i]), interned so that each distinct audience is stored once
# and named by a dense id (see visibility.pyx for the rules).
#
# Bitsets are `nwords` uint64 words, user i being bit i % 64 of word i // 64.
# Order books are one per (gateway, Member, Group) met in any credential;
# a book's bitsets are rows of `routing` and `members` (book b: words
# b * nwords .. b * nwords + nwords - 1).

from libc.stdint cimport uint16_t, uint32_t, uint64_t

cdef enum:
    NO_BOOK = 0xFFFFFFFF          # no credential there / no such gateway
    NO_AUDIENCE = 0xFFFFFFFF      # not computed yet; an empty hash table slot

cdef class Visibility:
    cdef readonly uint32_t nusers, nwords, ngateways, nbooks, naudiences
    cdef readonly tuple users            # user names by index
    cdef readonly tuple gateways         # gateway names by index
    cdef readonly tuple books            # (gateway, Member, Group) by book id
    cdef dict gateway_index              # gateway name -> index
    cdef dict user_index                 # user name -> index

    # order books
    cdef uint64_t* routing               # book b: users whose ROUTING credential on the book's gateway has its Member/Group
    cdef uint64_t* members               # book b: routing[b] | users whose EXCHANGE credential there has its Member/Group
    cdef uint32_t* user_routing          # [u * ngateways + g]: book of u's routing credential on g, NO_BOOK when u has none there
    cdef uint32_t* user_exchange         # [u * ngateways + g]: book of u's exchange credential on g, NO_BOOK
    cdef uint64_t* managers              # bitset: users with staged_order_management
    cdef uint64_t* creators              # bitset: users with staged_order_creation
    cdef uint32_t* standard_cache        # [u * ngateways + g]: standard audience, NO_AUDIENCE until computed

    # interned audiences: audience a is the bitset abits[a * nwords ..], its
    # members (ascending user indices) amembers[aoff[a] .. aoff[a + 1]) and
    # its hash ahash[a]; `table` maps a hash (open addressing, linear
    # probing, power-of-two size, at most half full) to audience ids,
    # NO_AUDIENCE in an empty slot. Arrays grow by doubling.
    cdef uint64_t* abits
    cdef uint64_t* ahash
    cdef uint64_t* aoff                  # naudiences + 1 offsets into amembers
    cdef uint16_t* amembers
    cdef uint32_t cap_audiences          # room in abits / ahash (aoff: one more)
    cdef uint64_t cap_members            # room in amembers
    cdef uint32_t* table
    cdef uint32_t mask                   # table size - 1

    cdef uint64_t* scratch               # work bitsets: 3 of nwords words

    cdef uint32_t intern(self, const uint64_t* bits) except <uint32_t>NO_AUDIENCE
    cdef int _grow_audiences(self) except -1
    cdef uint32_t compute_standard(self, uint16_t user, uint32_t gateway) except <uint32_t>NO_AUDIENCE
    cdef uint32_t standard(self, uint16_t user, uint32_t gateway) except <uint32_t>NO_AUDIENCE
    cdef int staged(self, uint16_t creator, uint32_t staging, uint32_t child, bint broker,
                    uint32_t* audience, uint32_t* workers) except -1
    cdef void _on_both(self, uint64_t* out, uint32_t a, uint32_t b) noexcept
    cdef bint contains(self, uint32_t audience, uint16_t user) noexcept
    cdef const uint16_t* list(self, uint32_t audience, uint32_t* n) noexcept
    cdef uint32_t gateway(self, str name) except <uint32_t>NO_BOOK
    cdef uint32_t user(self, str name) except <uint32_t>NO_BOOK

    cdef inline bint may_create(self, uint16_t user) noexcept:
        """Has ``user`` staged_order_creation?"""
        return user < self.nusers and (self.creators[user >> 6] >> (user & 63)) & 1

    cdef inline bint may_manage(self, uint16_t user) noexcept:
        """Has ``user`` staged_order_management?"""
        return user < self.nusers and (self.managers[user >> 6] >> (user & 63)) & 1

    cdef inline bint is_ttord(self, uint16_t user, uint32_t gateway) noexcept:
        """Does ``user`` trade on ``gateway`` with TTORD-style credentials: a
        routing credential that maps to an exchange credential of another
        order book? (False for an exchange trader, whose routing credential is
        its exchange credential, and for a user with no credential there.)"""
        cdef size_t slot = <size_t>user * self.ngateways + gateway
        return (user < self.nusers and gateway < self.ngateways
                and self.user_routing[slot] != NO_BOOK
                and self.user_routing[slot] != self.user_exchange[slot])
