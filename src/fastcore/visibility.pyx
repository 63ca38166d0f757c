# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Order visibility: which users see an order, by TT's rules for order books
and staged orders (seed 000), as interned bitsets over user indices.

    from fastcore.config import load
    from fastcore.visibility import Visibility
    vis = Visibility(load())
    vis.standard_audience("ET1", "CME-A")     # ['PM1', 'ET1', 'ET2', 'ET3', 'ET4']
    vis.staged_audience("PM1", "SSE-A", "CME-A", broker=False)
                                              # (['PM1', 'ET1', 'ET2'], ['ET1', 'ET2'])

Order books. On each gateway, users whose credentials share Member and Group
share an order book: there is one book per (gateway, Member, Group) met in
any user's routing or exchange credential. ``routing[b]`` holds the users
whose routing credential on b's gateway has b's Member/Group; ``members[b]``
those and the users whose exchange credential there has it (a TTORD user's
routing credential maps to an exchange credential, whose traders see its
orders).

Standard visibility (an ordinary order, or a child order of a staged order)
of an order user u submits on gateway g: u, the members of the book of u's
routing credential on g and the members of the book of u's exchange
credential on g. A user without credentials on g sees its own orders only.

Staged orders, submitted by creator c to the staging gateway s, child orders
going to gateway k (the instrument's exchange gateway):

    internal = routing[c's routing book on s] & routing[c's routing book on k]
    brokers  = routing[c's exchange book on s] & routing[c's exchange book on k]
    INTERNAL: audience = {c} | internal            workers = internal & managers - {c}
    BROKER:   audience = {c} | internal | brokers  workers = brokers & managers - {c}

(``internal``: the users sharing c's order book on both gateways;
``brokers``: the exchange traders c's credentials map to on both gateways and
the users sharing their book. ``workers``: who may claim and work it; a
missing book makes its term empty.)

Audiences are interned: each distinct bitset is stored once, with its member
list in ascending user index, and named by a dense id from 0 (the same set
always gets the same id). Computing an audience is C over the arrays: ORs and
ANDs of a few bitsets, a hash, a probe of the intern table; nothing is
allocated unless the arenas grow. Standard audiences are cached per (user,
gateway). The bitsets take nusers / 8 bytes each: 1,250 bytes for 10,000 users.
"""

from libc.stdint cimport uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcmp, memcpy, memset

from fastcore._memory cimport dump, load

from fastcore.config import credential


cdef extern from *:
    """
    #include <stdint.h>
    /* A 64-bit hash of n words: the sum of a mix of each word and its
       position (independent multiplies, no chain through the words), then
       splitmix64's finaliser. */
    static inline uint64_t fc_bits_hash(const uint64_t* w, uint32_t n) {
        uint64_t h = n, pos = 0, x;
        for (uint32_t i = 0; i < n; i++, pos += 0x9E3779B97F4A7C15ULL) {
            x = (w[i] ^ pos) * 0xBF58476D1CE4E5B9ULL;
            h += x ^ (x >> 31);
        }
        h ^= h >> 30;
        h *= 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 27;
        h *= 0x94D049BB133111EBULL;
        return h ^ (h >> 31);
    }
    /* Set bits of n words. */
    static inline uint64_t fc_bits_count(const uint64_t* w, uint32_t n) {
        uint64_t c = 0;
        for (uint32_t i = 0; i < n; i++)
            c += (uint64_t)__builtin_popcountll(w[i]);
        return c;
    }
    /* The indices of the set bits of n words, ascending, into out. */
    static inline void fc_bits_list(const uint64_t* w, uint32_t n, uint16_t* out) {
        uint64_t x;
        for (uint32_t i = 0; i < n; i++) {
            for (x = w[i]; x; x &= x - 1)
                *out++ = (uint16_t)((i << 6) + (uint32_t)__builtin_ctzll(x));
        }
    }
    """
    uint64_t fc_bits_hash(const uint64_t* w, uint32_t n) noexcept nogil
    uint64_t fc_bits_count(const uint64_t* w, uint32_t n) noexcept nogil
    void fc_bits_list(const uint64_t* w, uint32_t n, uint16_t* out) noexcept nogil


cdef enum:
    FIRST_AUDIENCES = 64           # initial room for interned audiences
    MAX_AUDIENCES = 1 << 30        # the table (twice as many slots) stays a uint32_t


cdef inline void _set(uint64_t* bits, uint32_t i) noexcept nogil:
    bits[i >> 6] |= (<uint64_t>1) << (i & 63)


cdef inline void _clear(uint64_t* bits, uint32_t i) noexcept nogil:
    bits[i >> 6] &= ~((<uint64_t>1) << (i & 63))


cdef void* _alloc(size_t count, size_t size) except NULL:
    """calloc of at least one item; MemoryError when there is no memory."""
    cdef void* p = calloc(count if count else 1, size)
    if p == NULL:
        raise MemoryError()
    return p


cdef class Visibility:
    """The order books and audiences of a configuration (a
    fastcore.config.Config, as ``load`` returns it: credentials checked,
    exchange credentials filled in). User i is config.users[i], gateway j
    config.gateways[j]."""

    def __cinit__(self, config):
        cdef uint32_t u, g, rb, eb, size
        cdef size_t nslots
        self.users = tuple(user.name for user in config.users)
        self.gateways = tuple(gw.name for gw in config.gateways)
        self.nusers = len(self.users)
        self.ngateways = len(self.gateways)
        if self.nusers > 65535:
            raise ValueError("at most 65535 users")
        self.user_index = {name: i for i, name in enumerate(self.users)}
        self.gateway_index = {name: i for i, name in enumerate(self.gateways)}
        if len(self.user_index) != self.nusers or len(self.gateway_index) != self.ngateways:
            raise ValueError("user and gateway names must be unique")
        self.nwords = (self.nusers + 63) // 64 or 1

        # the books, numbered in order of first appearance (user by user,
        # each credential's routing part before its exchange part)
        books = {}
        cred_books = []                           # (user, gateway, routing book, exchange book)
        for u, user in enumerate(config.users):
            for gname, cred in user.credentials.items():
                g = self.gateway_index.get(gname, NO_BOOK)
                if g == NO_BOOK:
                    raise ValueError(f"users[{u}].credentials: {gname!r} is not a configured gateway")
                entry = f"users[{u}].credentials.{gname}"
                pair = []
                for part, text in (("routing", cred.routing), ("exchange", cred.exchange or cred.routing)):
                    member, group, _ = credential(text, f"{entry}.{part}")
                    pair.append(books.setdefault((gname, member, group), len(books)))
                cred_books.append((u, g, pair[0], pair[1]))
        self.books = tuple(books)
        self.nbooks = len(self.books)

        nslots = <size_t>self.nusers * self.ngateways
        self.routing = <uint64_t*>_alloc(<size_t>self.nbooks * self.nwords, sizeof(uint64_t))
        self.members = <uint64_t*>_alloc(<size_t>self.nbooks * self.nwords, sizeof(uint64_t))
        self.user_routing = <uint32_t*>_alloc(nslots, sizeof(uint32_t))
        self.user_exchange = <uint32_t*>_alloc(nslots, sizeof(uint32_t))
        self.standard_cache = <uint32_t*>_alloc(nslots, sizeof(uint32_t))
        self.managers = <uint64_t*>_alloc(self.nwords, sizeof(uint64_t))
        self.creators = <uint64_t*>_alloc(self.nwords, sizeof(uint64_t))
        self.scratch = <uint64_t*>_alloc(3 * self.nwords, sizeof(uint64_t))
        memset(self.user_routing, 0xFF, nslots * sizeof(uint32_t))
        memset(self.user_exchange, 0xFF, nslots * sizeof(uint32_t))
        memset(self.standard_cache, 0xFF, nslots * sizeof(uint32_t))
        for u, g, rb, eb in cred_books:
            self.user_routing[u * self.ngateways + g] = rb
            self.user_exchange[u * self.ngateways + g] = eb
            _set(self.routing + <size_t>rb * self.nwords, u)
            _set(self.members + <size_t>rb * self.nwords, u)
            _set(self.members + <size_t>eb * self.nwords, u)
        for u, user in enumerate(config.users):
            if user.staged_order_management:
                _set(self.managers, u)
            if user.staged_order_creation:
                _set(self.creators, u)

        self.cap_audiences = FIRST_AUDIENCES
        self.cap_members = 4 * FIRST_AUDIENCES
        size = 2 * FIRST_AUDIENCES
        self.abits = <uint64_t*>_alloc(<size_t>self.cap_audiences * self.nwords, sizeof(uint64_t))
        self.ahash = <uint64_t*>_alloc(self.cap_audiences, sizeof(uint64_t))
        self.aoff = <uint64_t*>_alloc(self.cap_audiences + 1, sizeof(uint64_t))
        self.amembers = <uint16_t*>_alloc(self.cap_members, sizeof(uint16_t))
        self.table = <uint32_t*>_alloc(size, sizeof(uint32_t))
        memset(self.table, 0xFF, size * sizeof(uint32_t))
        self.mask = size - 1

    def __dealloc__(self):
        free(self.routing)
        free(self.members)
        free(self.user_routing)
        free(self.user_exchange)
        free(self.managers)
        free(self.creators)
        free(self.standard_cache)
        free(self.abits)
        free(self.ahash)
        free(self.aoff)
        free(self.amembers)
        free(self.table)
        free(self.scratch)

    # ---- snapshots ----------------------------------------------------------------

    def state(self):
        """The audiences interned so far, for a snapshot (``restore`` reads
        it); the rest comes from the configuration."""
        cdef size_t nslots = <size_t>self.nusers * self.ngateways
        return {"audiences": dump(self.abits, <size_t>self.naudiences * self.nwords * 8),
                "standard": dump(self.standard_cache, nslots * sizeof(uint32_t))}

    def restore(self, dict state):
        """Intern the audiences of ``state`` again, in their order (so each
        keeps its id); only on a Visibility that has interned none."""
        cdef bytes bits = state["audiences"]
        cdef size_t words = len(bits) // 8
        cdef uint32_t a, n
        cdef uint64_t* scratch
        if self.naudiences:
            raise ValueError("audiences are already interned")
        if words % self.nwords:
            raise ValueError(f"audiences of {words} words, not a multiple of {self.nwords}")
        n = <uint32_t>(words // self.nwords)
        scratch = <uint64_t*>_alloc(words or 1, sizeof(uint64_t))
        try:
            load(scratch, bits, words * 8, "audiences")
            for a in range(n):
                if self.intern(scratch + <size_t>a * self.nwords) != a:
                    raise ValueError(f"audience {a} is a duplicate")
        finally:
            free(scratch)
        load(self.standard_cache, state["standard"],
             <size_t>self.nusers * self.ngateways * sizeof(uint32_t), "standard audiences")

    # ---- interning ---------------------------------------------------------------

    cdef int _grow_audiences(self) except -1:
        """Double the room for audiences and the intern table (rehashed from
        the stored hashes); MemoryError, with nothing lost, when out of memory."""
        cdef uint32_t cap = 2 * self.cap_audiences, size = 2 * cap, a, i
        cdef uint64_t* p
        cdef uint32_t* table
        if cap > MAX_AUDIENCES:
            raise MemoryError("too many distinct audiences")
        p = <uint64_t*>realloc(self.abits, <size_t>cap * self.nwords * sizeof(uint64_t))
        if p == NULL:
            raise MemoryError()
        self.abits = p
        p = <uint64_t*>realloc(self.ahash, cap * sizeof(uint64_t))
        if p == NULL:
            raise MemoryError()
        self.ahash = p
        p = <uint64_t*>realloc(self.aoff, (cap + 1) * sizeof(uint64_t))
        if p == NULL:
            raise MemoryError()
        self.aoff = p
        table = <uint32_t*>malloc(size * sizeof(uint32_t))
        if table == NULL:
            raise MemoryError()
        memset(table, 0xFF, size * sizeof(uint32_t))
        for a in range(self.naudiences):
            i = <uint32_t>self.ahash[a] & (size - 1)
            while table[i] != NO_AUDIENCE:
                i = (i + 1) & (size - 1)
            table[i] = a
        free(self.table)
        self.table = table
        self.mask = size - 1
        self.cap_audiences = cap
        return 0

    cdef uint32_t intern(self, const uint64_t* bits) except <uint32_t>NO_AUDIENCE:
        """The id of the audience ``bits`` (nwords words, bits past nusers
        clear), the existing one or a new one; MemoryError when a new one
        does not fit. ``bits`` must not point into the audience arena (it
        may move)."""
        cdef uint32_t n = self.nwords, a, i
        cdef uint64_t h = fc_bits_hash(bits, n), count, need, cap
        cdef uint16_t* members
        i = <uint32_t>h & self.mask
        while True:
            a = self.table[i]
            if a == NO_AUDIENCE:
                break
            if self.ahash[a] == h and memcmp(self.abits + <size_t>a * n, bits,
                                             n * sizeof(uint64_t)) == 0:
                return a
            i = (i + 1) & self.mask
        # a new audience: room for it, its bits, its members, its table entry
        count = fc_bits_count(bits, n)
        need = self.aoff[self.naudiences] + count
        if need > self.cap_members:
            cap = 2 * self.cap_members
            if cap < need:
                cap = need
            members = <uint16_t*>realloc(self.amembers, cap * sizeof(uint16_t))
            if members == NULL:
                raise MemoryError()
            self.amembers = members
            self.cap_members = cap
        if self.naudiences == self.cap_audiences:
            self._grow_audiences()
            i = <uint32_t>h & self.mask
            while self.table[i] != NO_AUDIENCE:
                i = (i + 1) & self.mask
        a = self.naudiences
        memcpy(self.abits + <size_t>a * n, bits, n * sizeof(uint64_t))
        fc_bits_list(bits, n, self.amembers + self.aoff[a])
        self.aoff[a + 1] = need
        self.ahash[a] = h
        self.table[i] = a
        self.naudiences = a + 1
        return a

    # ---- audiences -----------------------------------------------------------------

    cdef uint32_t compute_standard(self, uint16_t user, uint32_t gateway) except <uint32_t>NO_AUDIENCE:
        """The standard audience of an order ``user`` submits on ``gateway``:
        the user, the members of its routing book and of its exchange book
        there. Computed and interned on every call (``standard`` caches)."""
        cdef uint32_t n = self.nwords, i, rb, eb
        cdef uint64_t* out = self.scratch
        cdef const uint64_t* r
        cdef const uint64_t* e
        if user >= self.nusers or gateway >= self.ngateways:
            raise ValueError(f"no user {user} or gateway {gateway}")
        rb = self.user_routing[<size_t>user * self.ngateways + gateway]
        eb = self.user_exchange[<size_t>user * self.ngateways + gateway]
        if rb != NO_BOOK and eb != NO_BOOK:
            r = self.members + <size_t>rb * n
            e = self.members + <size_t>eb * n
            for i in range(n):
                out[i] = r[i] | e[i]
        elif rb != NO_BOOK or eb != NO_BOOK:
            memcpy(out, self.members + <size_t>(rb if rb != NO_BOOK else eb) * n,
                   n * sizeof(uint64_t))
        else:
            memset(out, 0, n * sizeof(uint64_t))
        _set(out, user)
        return self.intern(out)

    cdef uint32_t standard(self, uint16_t user, uint32_t gateway) except <uint32_t>NO_AUDIENCE:
        """``compute_standard``, cached per (user, gateway)."""
        cdef size_t slot
        cdef uint32_t a
        if user >= self.nusers or gateway >= self.ngateways:
            raise ValueError(f"no user {user} or gateway {gateway}")
        slot = <size_t>user * self.ngateways + gateway
        a = self.standard_cache[slot]
        if a == NO_AUDIENCE:
            a = self.compute_standard(user, gateway)
            self.standard_cache[slot] = a
        return a

    cdef int staged(self, uint16_t creator, uint32_t staging, uint32_t child, bint broker,
                    uint32_t* audience, uint32_t* workers) except -1:
        """The audience of a staged order ``creator`` submits to the staging
        gateway ``staging`` for an instrument of gateway ``child`` (INTERNAL,
        or BROKER when ``broker``), and its workers (who may claim it): both
        interned, into ``audience`` and ``workers``. Permissions are the
        caller's to check (``may_create``)."""
        cdef uint32_t n = self.nwords, i
        cdef uint64_t* aud = self.scratch
        cdef uint64_t* wk = self.scratch + n
        cdef const uint64_t* mgr = self.managers
        cdef size_t row
        if creator >= self.nusers or staging >= self.ngateways or child >= self.ngateways:
            raise ValueError(f"no user {creator} or gateway {staging} or {child}")
        row = <size_t>creator * self.ngateways
        # internal: the users sharing the creator's routing book on both gateways
        self._on_both(aud, self.user_routing[row + staging], self.user_routing[row + child])
        if broker:
            # brokers: the routing books of the creator's exchange credentials
            self._on_both(wk, self.user_exchange[row + staging], self.user_exchange[row + child])
            for i in range(n):
                aud[i] |= wk[i]
                wk[i] &= mgr[i]
        else:
            for i in range(n):
                wk[i] = aud[i] & mgr[i]
        _set(aud, creator)
        _clear(wk, creator)
        audience[0] = self.intern(aud)
        workers[0] = self.intern(wk)
        return 0

    cdef void _on_both(self, uint64_t* out, uint32_t a, uint32_t b) noexcept:
        """``out`` := the users of routing book ``a`` and of routing book ``b``
        (on two gateways); none when either is NO_BOOK."""
        cdef uint32_t n = self.nwords, i
        cdef const uint64_t* x
        cdef const uint64_t* y
        if a == NO_BOOK or b == NO_BOOK:
            memset(out, 0, n * sizeof(uint64_t))
            return
        x = self.routing + <size_t>a * n
        y = self.routing + <size_t>b * n
        for i in range(n):
            out[i] = x[i] & y[i]

    cdef bint contains(self, uint32_t audience, uint16_t user) noexcept:
        """Does ``audience`` include ``user``? (False for an unknown id or user.)"""
        if audience >= self.naudiences or user >= self.nusers:
            return False
        return (self.abits[<size_t>audience * self.nwords + (user >> 6)] >> (user & 63)) & 1

    cdef const uint16_t* list(self, uint32_t audience, uint32_t* n) noexcept:
        """The members of ``audience`` in ascending user index, ``n[0]`` of
        them (none for an unknown id). Valid until the next intern."""
        if audience >= self.naudiences:
            n[0] = 0
            return self.amembers
        n[0] = <uint32_t>(self.aoff[audience + 1] - self.aoff[audience])
        return self.amembers + self.aoff[audience]

    cdef uint32_t gateway(self, str name) except <uint32_t>NO_BOOK:
        """The index of gateway ``name``; ValueError when there is none."""
        g = self.gateway_index.get(name)
        if g is None:
            raise ValueError(f"{name!r} is not a configured gateway")
        return g

    cdef uint32_t user(self, str name) except <uint32_t>NO_BOOK:
        """The index of user ``name``; ValueError when there is none."""
        u = self.user_index.get(name)
        if u is None:
            raise ValueError(f"{name!r} is not a configured user")
        return u

    # ---- Python API (tests, tools, benchmarks) ---------------------------------

    def standard_id(self, str user, str gateway):
        """The id of the standard audience of an order by ``user`` on ``gateway``."""
        return self.standard(<uint16_t>self.user(user), self.gateway(gateway))

    def standard_audience(self, str user, str gateway):
        """Who sees an ordinary (or child) order ``user`` submits on
        ``gateway``: user names in configuration order."""
        return self.audience(self.standard_id(user, gateway))

    def staged_ids(self, str creator, str staging, str child, bint broker):
        """(audience id, workers id) of a staged order (see ``staged_audience``)."""
        cdef uint32_t audience, workers
        self.staged(<uint16_t>self.user(creator), self.gateway(staging), self.gateway(child),
                    broker, &audience, &workers)
        return audience, workers

    def staged_audience(self, str creator, str staging, str child, bint broker):
        """(audience, workers) of a staged order ``creator`` submits to the
        staging gateway ``staging`` for an instrument of gateway ``child``,
        INTERNAL or (``broker``) BROKER: who sees it, who may work it."""
        audience, workers = self.staged_ids(creator, staging, child, broker)
        return self.audience(audience), self.audience(workers)

    def audience(self, uint32_t id):
        """The user names of audience ``id``, in configuration order."""
        cdef uint32_t n, i
        cdef const uint16_t* m
        if id >= self.naudiences:
            raise ValueError(f"no audience {id}")
        m = self.list(id, &n)
        return [self.users[m[i]] for i in range(n)]

    def sees(self, uint32_t audience, str user):
        """Is ``user`` in audience ``audience``? (``contains``)"""
        return self.contains(audience, <uint16_t>self.user(user))

    def intern_users(self, names):
        """The id of the audience of the users ``names`` (interned if new)."""
        cdef uint64_t* bits = self.scratch + 2 * self.nwords
        cdef uint32_t u
        idx = [self.user(name) for name in names]
        memset(bits, 0, self.nwords * sizeof(uint64_t))
        for u in idx:
            _set(bits, u)
        return self.intern(bits)

    def may_create_staged(self, str user):
        """Has ``user`` staged_order_creation?"""
        return self.may_create(<uint16_t>self.user(user))

    def may_manage_staged(self, str user):
        """Has ``user`` staged_order_management?"""
        return self.may_manage(<uint16_t>self.user(user))

    def is_ttord_on(self, str user, str gateway):
        """Does ``user`` trade on ``gateway`` with TTORD-style credentials (``is_ttord``)?"""
        return self.is_ttord(<uint16_t>self.user(user), self.gateway(gateway))

    def book_users(self, uint32_t book):
        """(routing, members) user names of order book ``book`` (see ``books``)."""
        cdef uint32_t u
        cdef const uint64_t* r
        cdef const uint64_t* m
        if book >= self.nbooks:
            raise ValueError(f"no book {book}")
        r = self.routing + <size_t>book * self.nwords
        m = self.members + <size_t>book * self.nwords
        return ([self.users[u] for u in range(self.nusers) if (r[u >> 6] >> (u & 63)) & 1],
                [self.users[u] for u in range(self.nusers) if (m[u >> 6] >> (u & 63)) & 1])

    @property
    def nbytes(self):
        """Bytes held in C arrays (books, per-user tables, audiences, intern table)."""
        cdef size_t n = self.nwords * sizeof(uint64_t)
        cdef size_t slots = <size_t>self.nusers * self.ngateways * sizeof(uint32_t)
        return (2 * self.nbooks * n + 3 * slots + 5 * n
                + self.cap_audiences * (n + sizeof(uint64_t)) + (self.cap_audiences + 1) * 8
                + self.cap_members * sizeof(uint16_t) + (self.mask + 1) * sizeof(uint32_t))

    def _bench_compute(self, int user, int gateway, Py_ssize_t n, bint spread=False):
        """compute_standard ``n`` times (uncached: the ORs and the intern
        lookup), for ``user``, or (``spread``) for user, user + 1, ... round
        the users. Returns the last audience id."""
        cdef Py_ssize_t k
        cdef uint32_t a = NO_AUDIENCE, u = user
        if user < 0 or gateway < 0 or <uint32_t>user >= self.nusers or <uint32_t>gateway >= self.ngateways:
            raise ValueError("no such user or gateway")
        for k in range(n):
            a = self.compute_standard(<uint16_t>u, gateway)
            if spread:
                u += 1
                if u == self.nusers:
                    u = 0
        return a

    def _bench_staged(self, int creator, int staging, int child, bint broker, Py_ssize_t n,
                      bint spread=False):
        """staged ``n`` times (audience and workers computed and interned),
        for ``creator`` or (``spread``) round the users from it. Returns the
        last (audience, workers)."""
        cdef Py_ssize_t k
        cdef uint32_t audience = NO_AUDIENCE, workers = NO_AUDIENCE, u = creator
        if (creator < 0 or staging < 0 or child < 0 or <uint32_t>creator >= self.nusers
                or <uint32_t>staging >= self.ngateways or <uint32_t>child >= self.ngateways):
            raise ValueError("no such user or gateway")
        for k in range(n):
            self.staged(<uint16_t>u, staging, child, broker, &audience, &workers)
            if spread:
                u += 1
                if u == self.nusers:
                    u = 0
        return audience, workers
