# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""ClOrdID index: (session, ClOrdID) → order slot, with no Python object per key.

Linear probing over a power-of-two table of key numbers at most half full;
the keys' bytes live in one arena. Released keys stay until ``compact``
rebuilds the arena and the table (the order table calls it at the roll of
the trading day, when it releases the orders of the day before).
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free, calloc
from libc.string cimport memcpy, memcmp, memset

from fastcore._memory cimport dump, load, zgrow


cdef inline uint64_t _hash(uint16_t session, const char* p, uint32_t n) noexcept nogil:
    # FNV-1a over the session and the bytes, then a final mix for the low bits.
    cdef uint64_t h = 14695981039346656037ULL ^ session
    cdef uint32_t i
    for i in range(n):
        h = (h ^ <uint8_t>p[i]) * 1099511628211ULL
    h ^= h >> 29
    h *= 0xbf58476d1ce4e5b9ULL
    return h ^ (h >> 32)


cdef class ClOrdIDIndex:
    def __cinit__(self, uint32_t capacity=1024):
        cdef uint32_t size = 16
        while size < 2 * capacity:
            size <<= 1
        self.cap_keys = size // 2
        self.keys = <key_t*>calloc(self.cap_keys + 1, sizeof(key_t))
        self.table = <uint32_t*>calloc(size, sizeof(uint32_t))
        self.mask = size - 1
        self.cap_arena = 16 * self.cap_keys
        self.arena = <char*>malloc(self.cap_arena)
        if self.keys == NULL or self.table == NULL or self.arena == NULL:
            raise MemoryError()
        self.nkeys = 0

    def __dealloc__(self):
        free(self.keys)
        free(self.table)
        free(self.arena)

    def __len__(self):
        """Live keys."""
        return self.nkeys - self.dead

    def state(self):
        """The index as plain values, for a snapshot (``restore`` reads it; the
        hash table is not in it: it is rebuilt from the keys)."""
        return {"nkeys": self.nkeys, "dead": self.dead,
                "keys": dump(self.keys + 1, self.nkeys * sizeof(key_t)),
                "arena": dump(self.arena, self.used)}

    def restore(self, dict state):
        """Become the index ``state`` describes, with at least the room this
        one has (ValueError when it does not fit)."""
        cdef uint32_t nkeys = state["nkeys"], size = self.mask + 1, k
        cdef bytes arena_bytes = state["arena"]
        cdef size_t used = len(arena_bytes), cap_arena = max(2 * used + 16, self.cap_arena)
        cdef key_t* keys
        cdef uint32_t* table
        cdef char* arena
        if state["dead"] > nkeys or nkeys > (1u << 30):
            raise ValueError(f"a ClOrdID index of {nkeys} keys, {state['dead']} of them dead")
        while size < 2 * nkeys:
            size <<= 1
        keys = <key_t*>calloc(size // 2 + 1, sizeof(key_t))
        table = <uint32_t*>calloc(size, sizeof(uint32_t))
        arena = <char*>malloc(cap_arena)
        if keys == NULL or table == NULL or arena == NULL:
            free(keys)
            free(table)
            free(arena)
            raise MemoryError()
        try:
            load(keys + 1, state["keys"], nkeys * sizeof(key_t), "ClOrdID keys")
            for k in range(1, nkeys + 1):
                if <size_t>keys[k].off + keys[k].len > used:
                    raise ValueError(f"ClOrdID key {k} lies outside its {used} bytes")
        except ValueError:
            free(keys)
            free(table)
            free(arena)
            raise
        memcpy(arena, <const char*>arena_bytes, used)
        free(self.keys)
        free(self.table)
        free(self.arena)
        self.keys, self.table, self.arena = keys, table, arena
        self.nkeys, self.dead, self.mask = nkeys, state["dead"], size - 1
        self.cap_keys = size // 2
        self.used, self.cap_arena = used, cap_arena
        self._index()

    cdef void _index(self) noexcept nogil:
        """Every key into the (empty) hash table, in the order they came."""
        cdef uint32_t k, i
        for k in range(1, self.nkeys + 1):
            i = <uint32_t>self.keys[k].hash & self.mask
            while self.table[i] != NO_KEY:
                i = (i + 1) & self.mask
            self.table[i] = k

    cdef uint32_t find(self, uint16_t session, const char* p, uint32_t n) noexcept nogil:
        """The key for ``p[:n]`` in ``session``, NO_KEY when there is none."""
        cdef uint64_t h = _hash(session, p, n)
        cdef uint32_t i = <uint32_t>h & self.mask, k
        cdef key_t* e
        while True:
            k = self.table[i]
            if k == NO_KEY:
                return NO_KEY
            e = &self.keys[k]
            if (e.hash == h and e.len == n and e.session == session and e.live
                    and memcmp(self.arena + e.off, p, n) == 0):
                return k
            i = (i + 1) & self.mask

    cdef int _grow(self) noexcept nogil:
        cdef uint32_t size = 2 * (self.mask + 1)
        cdef uint32_t* table = <uint32_t*>calloc(size, sizeof(uint32_t))
        cdef key_t* keys = <key_t*>zgrow(self.keys, (self.cap_keys + 1) * sizeof(key_t),
                                         (size // 2 + 1) * sizeof(key_t))
        if table == NULL or keys == NULL:
            free(table)
            if keys != NULL:
                self.keys = keys
            return -1
        self.keys = keys
        self.cap_keys = size // 2
        free(self.table)
        self.table = table
        self.mask = size - 1
        self._index()
        return 0

    cdef uint32_t add(self, uint16_t session, const char* p, uint32_t n,
                      uint32_t order, uint8_t kind, uint32_t chain) noexcept nogil:
        """A new key (the caller checked it is not there); NO_KEY when out of memory.

        ``chain`` is the order's previous key: an order's keys form a list.
        """
        cdef uint32_t k, i
        cdef size_t need
        cdef char* arena
        cdef key_t* e
        if self.nkeys == self.cap_keys and self._grow() < 0:
            return NO_KEY
        need = self.used + n + 1
        if need > self.cap_arena:
            arena = <char*>realloc(self.arena, 2 * need)
            if arena == NULL:
                return NO_KEY
            self.arena = arena
            self.cap_arena = 2 * need
        self.nkeys += 1
        k = self.nkeys
        e = &self.keys[k]
        e.hash = _hash(session, p, n)
        e.off = <uint32_t>self.used
        e.len = n
        e.order = order
        e.next = chain
        e.session = session
        e.kind = kind
        e.live = 1
        memcpy(self.arena + self.used, p, n)
        self.arena[self.used + n] = 0          # a C string too
        self.used += n + 1
        i = <uint32_t>e.hash & self.mask
        while self.table[i] != NO_KEY:
            i = (i + 1) & self.mask
        self.table[i] = k
        return k

    cdef void release(self, uint32_t chain) noexcept nogil:
        """Mark the keys of one order dead (``chain`` is its latest key)."""
        while chain != NO_KEY:
            if self.keys[chain].live:
                self.keys[chain].live = 0
                self.dead += 1
            chain = self.keys[chain].next

    cdef uint32_t* compact(self) noexcept nogil:
        """Drop the dead keys: renumber the live ones and rebuild the arena and
        the table. Returns the map old key number → new (0 for a dropped key),
        for the caller to renumber what it holds and then free; NULL when out
        of memory, and then nothing changed.
        """
        cdef uint32_t* remap = <uint32_t*>calloc(self.nkeys + 1, sizeof(uint32_t))
        cdef char* arena = <char*>malloc(self.cap_arena)
        cdef uint32_t k, n = 0
        cdef size_t used = 0
        cdef key_t* e
        if remap == NULL or arena == NULL:
            free(remap)
            free(arena)
            return NULL
        for k in range(1, self.nkeys + 1):
            e = &self.keys[k]
            if not e.live:
                continue
            n += 1
            remap[k] = n
            memcpy(arena + used, self.arena + e.off, e.len + 1)
            e.off = <uint32_t>used
            used += e.len + 1
            self.keys[n] = e[0]
        for k in range(1, n + 1):
            self.keys[k].next = remap[self.keys[k].next]
        free(self.arena)
        self.arena = arena
        self.used = used
        self.nkeys = n
        self.dead = 0
        memset(self.table, 0, (self.mask + 1) * sizeof(uint32_t))
        self._index()
        return remap
