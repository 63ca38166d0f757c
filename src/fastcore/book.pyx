# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A price-time priority limit order book for one instrument.

    from fastcore.book import Book, BUY, SELL, IOC
    book = Book(tick=25_000_000)                # prices: 8 decimals, quantities: 4
    h = book.new_order(1, SELL, 100_25_000_000, 5_0000)   # rests: its handle
    book.new_order(2, BUY, 100_25_000_000, 2_0000, tif=IOC)
    book.events()                               # FILL 2 × 1 @ 100.25 (numpy, EVENT_DTYPE)
    book.replace_order(h, 100_25_000_000, 1_0000)         # a decrease keeps priority
    book.cancel_order(h)

Every operation clears the event buffer, runs to the end with the book
consistent, and leaves what happened as fixed-size events (``events()``):
FILL (taker, maker, price, quantity and both leaves), REST, CANCEL with its
reason, MODIFY, QUEUE. Orders are named in events by the caller's ``id``; the
book names them by a handle (a slot and a generation: a stale handle is
refused, never misread).

The rules, in the order they are checked, each refusal a negative status and
no event: side / order type / time in force (E_ARG), quantity positive
(E_QTY), tick size (E_TICK, limit orders), lot size (E_LOT), minimum and
maximum quantity (E_MIN_QTY, new orders only; E_MAX_QTY), the price band
around the reference price (E_BAND, limit orders), halted (E_HALTED; new
orders wait in a queue instead when the book queues while halted).

Matching: a fill-or-kill order first counts what it could take and is
canceled whole when that is short; then the incoming order takes the oldest
order of the best opposite level while the prices cross, at the resting
price. Self-trade prevention applies when both orders carry the same
non-zero account and the incoming order asks for it: cancel the resting
order, the incoming one, or both. What remains of a market or IOC order is
canceled; a Day/GTC/GTD limit order rests at the back of its level. A
replace that lowers the quantity at the same price keeps the order's place;
any other replace takes it out and enters it again as if new, so it may trade.
"""

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memmove, memset
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from fastcore._memory cimport dump, load, zgrow
from fastcore._types cimport price_t, qty_t

import numpy as np

from fastcore._dtype import struct_dtype
from fastcore.errors import BookCorrupted


cdef event_t _e
cdef command_t _c
cdef top_t _t
EVENT_DTYPE = struct_dtype([
    ("id", "<i8", <char*>&_e.id - <char*>&_e),
    ("other", "<i8", <char*>&_e.other - <char*>&_e),
    ("price", "<i8", <char*>&_e.price - <char*>&_e),
    ("qty", "<i8", <char*>&_e.qty - <char*>&_e),
    ("leaves", "<i8", <char*>&_e.leaves - <char*>&_e),
    ("other_leaves", "<i8", <char*>&_e.other_leaves - <char*>&_e),
    ("kind", "u1", <char*>&_e.kind - <char*>&_e),
    ("reason", "u1", <char*>&_e.reason - <char*>&_e),
    ("side", "u1", <char*>&_e.side - <char*>&_e),
], sizeof(event_t))
"""numpy dtype of an event (``Book.events``)."""

COMMAND_DTYPE = struct_dtype([
    ("id", "<i8", <char*>&_c.id - <char*>&_c),
    ("handle", "<i8", <char*>&_c.handle - <char*>&_c),
    ("price", "<i8", <char*>&_c.price - <char*>&_c),
    ("qty", "<i8", <char*>&_c.qty - <char*>&_c),
    ("result", "<i8", <char*>&_c.result - <char*>&_c),
    ("account", "<u4", <char*>&_c.account - <char*>&_c),
    ("op", "u1", <char*>&_c.op - <char*>&_c),
    ("side", "u1", <char*>&_c.side - <char*>&_c),
    ("ord_type", "u1", <char*>&_c.ord_type - <char*>&_c),
    ("tif", "u1", <char*>&_c.tif - <char*>&_c),
    ("stp", "u1", <char*>&_c.stp - <char*>&_c),
    ("flags", "u1", <char*>&_c.flags - <char*>&_c),
], sizeof(command_t))
"""numpy dtype of a command of ``Book.apply``."""

TOP_DTYPE = struct_dtype([
    ("seq", "<u8", <char*>&_t.seq - <char*>&_t),
    ("bid", "<i8", <char*>&_t.bid - <char*>&_t),
    ("bid_qty", "<i8", <char*>&_t.bid_qty - <char*>&_t),
    ("ask", "<i8", <char*>&_t.ask - <char*>&_t),
    ("ask_qty", "<i8", <char*>&_t.ask_qty - <char*>&_t),
], sizeof(top_t))
"""numpy dtype of a top-of-book change (``Book.top_updates``)."""

LEVEL_DTYPE = np.dtype([("price", "<i8"), ("qty", "<i8"), ("count", "<u4")])
"""numpy dtype of a depth level (``Book.depth``)."""

RULES = {E_UNKNOWN: "unknown order", E_ARG: "side, order type or time in force",
         E_QTY: "quantity", E_TICK: "tick", E_LOT: "lot", E_MIN_QTY: "min_qty",
         E_MAX_QTY: "max_qty", E_BAND: "band", E_HALTED: "halted",
         E_STATE: "halt state", E_MEMORY: "memory"}
"""The name of what each refusal status broke."""


cdef inline bint better(int side, price_t a, price_t b) noexcept:
    """Is price ``a`` better than ``b`` for an order of ``side``?"""
    return a > b if side == BUY else a < b


cdef inline int64_t handle_of(const node_t* o, uint32_t n) noexcept:
    return (<int64_t>o.gen << 32) | n


cdef int grow(void** block, uint32_t* cap, size_t item, uint64_t need) noexcept:
    """Make room for ``need`` items (doubling); -1 when memory runs out."""
    cdef uint64_t n = cap[0]
    cdef void* p
    if need <= n:
        return 0
    if need > 0xFFFFFFF0:
        return -1
    n = n * 2 if n * 2 > need else need
    if n > 0xFFFFFFF0:
        n = 0xFFFFFFF0
    p = zgrow(block[0], cap[0] * item, n * item)
    if p == NULL:
        return -1
    block[0] = p
    cap[0] = <uint32_t>n
    return 0


cdef inline int64_t now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


@cython.final
cdef class Book:
    """The limit order book of one instrument (see the module docstring).

    ``tick`` and ``lot``: the price and quantity increments (fixed point,
    positive); ``min_qty``/``max_qty``: 0 for no limit; ``band``: 0 for none,
    else a limit price must lie within ``band`` of ``ref_price``;
    ``queue_when_halted``: new orders wait out a halt instead of being
    refused; ``capacity``: orders to make room for at once;
    ``top_capacity``: top-of-book changes kept until read.
    """

    def __cinit__(self, price_t tick=1, qty_t lot=1, qty_t min_qty=0, qty_t max_qty=0,
                  price_t band=0, price_t ref_price=0, bint queue_when_halted=False,
                  uint32_t capacity=1024, uint32_t top_capacity=4096):
        if tick <= 0 or lot <= 0:
            raise ValueError("tick and lot must be positive")
        if min_qty < 0 or max_qty < 0 or band < 0:
            raise ValueError("min_qty, max_qty and band must not be negative")
        if max_qty and min_qty > max_qty:
            raise ValueError("min_qty is above max_qty")
        self.tick, self.lot, self.min_qty, self.max_qty = tick, lot, min_qty, max_qty
        self.band, self.ref_price = band, ref_price
        self.queue_when_halted = queue_when_halted
        capacity = max(capacity, 16)
        self.cap_nodes = self.cap_levels = capacity
        self.cap_ladder[BUY] = self.cap_ladder[SELL] = capacity
        self.cap_events = capacity
        self.cap_tops = max(top_capacity, 1)
        self.nodes = <node_t*>calloc(capacity, sizeof(node_t))
        self.levels = <level_t*>calloc(capacity, sizeof(level_t))
        self.ladder[BUY] = <uint32_t*>calloc(capacity, sizeof(uint32_t))
        self.ladder[SELL] = <uint32_t*>calloc(capacity, sizeof(uint32_t))
        self.ev = <event_t*>malloc(capacity * sizeof(event_t))
        self.tops = <top_t*>malloc(self.cap_tops * sizeof(top_t))
        if (self.nodes == NULL or self.levels == NULL or self.ladder[BUY] == NULL
                or self.ladder[SELL] == NULL or self.ev == NULL or self.tops == NULL):
            raise MemoryError()
        self.node_free = self.level_free = NIL
        self.queue_head = self.queue_tail = NIL
        memset(&self.last_top, 0, sizeof(top_t))

    def __dealloc__(self):
        free(self.nodes)
        free(self.levels)
        free(self.ladder[BUY])
        free(self.ladder[SELL])
        free(self.ev)
        free(self.tops)

    # ---- snapshots ----------------------------------------------------------------

    def state(self):
        """The book as plain values, for a snapshot (``restore`` reads it).
        The top-of-book changes not yet read are not part of it."""
        return {"nodes": dump(self.nodes, self.top_nodes * sizeof(node_t)),
                "node_free": self.node_free,
                "levels": dump(self.levels, self.top_levels * sizeof(level_t)),
                "level_free": self.level_free,
                "bids": dump(self.ladder[BUY], self.depth_of[BUY] * sizeof(uint32_t)),
                "asks": dump(self.ladder[SELL], self.depth_of[SELL] * sizeof(uint32_t)),
                "queue": (self.queue_head, self.queue_tail), "resting": self.resting,
                "queued": self.queued, "seq": self.seq, "halted": self.halted,
                "rules": (self.tick, self.lot, self.min_qty, self.max_qty, self.band,
                          self.ref_price),
                "last_top": dump(&self.last_top, sizeof(top_t))}

    def restore(self, dict state):
        """Become the book ``state`` describes (ValueError when it does not fit)."""
        cdef uint32_t nodes = len(state["nodes"]) // sizeof(node_t)
        cdef uint32_t levels = len(state["levels"]) // sizeof(level_t)
        cdef uint32_t bids = len(state["bids"]) // sizeof(uint32_t)
        cdef uint32_t asks = len(state["asks"]) // sizeof(uint32_t)
        if (grow(<void**>&self.nodes, &self.cap_nodes, sizeof(node_t), nodes)
                or grow(<void**>&self.levels, &self.cap_levels, sizeof(level_t), levels)
                or grow(<void**>&self.ladder[BUY], &self.cap_ladder[BUY], sizeof(uint32_t), bids)
                or grow(<void**>&self.ladder[SELL], &self.cap_ladder[SELL], sizeof(uint32_t),
                        asks)):
            raise MemoryError()
        load(self.nodes, state["nodes"], nodes * sizeof(node_t), "book nodes")
        load(self.levels, state["levels"], levels * sizeof(level_t), "book levels")
        load(self.ladder[BUY], state["bids"], bids * sizeof(uint32_t), "bids")
        load(self.ladder[SELL], state["asks"], asks * sizeof(uint32_t), "asks")
        load(&self.last_top, state["last_top"], sizeof(top_t), "top of book")
        self.top_nodes, self.top_levels = nodes, levels
        self.depth_of[BUY], self.depth_of[SELL] = bids, asks
        self.node_free, self.level_free = state["node_free"], state["level_free"]
        self.queue_head, self.queue_tail = state["queue"]
        self.resting, self.queued, self.seq = state["resting"], state["queued"], state["seq"]
        self.halted = state["halted"]
        self.tick, self.lot, self.min_qty, self.max_qty, self.band, self.ref_price = \
            state["rules"]
        self.first_top = self.ntops = 0

    # ---- the operations (C) -------------------------------------------------------

    cdef int check(self, price_t price, qty_t qty, bint limit, bint new) noexcept:
        """The instrument's rules, in order: 0 or the first one broken."""
        if qty <= 0:
            return E_QTY
        if limit and price % self.tick != 0:
            return E_TICK
        if qty % self.lot != 0:
            return E_LOT
        if new and self.min_qty and qty < self.min_qty:
            return E_MIN_QTY
        if self.max_qty and qty > self.max_qty:
            return E_MAX_QTY
        if limit and self.band and (price - self.ref_price > self.band
                                    or self.ref_price - price > self.band):
            return E_BAND
        if self.halted and not (new and self.queue_when_halted):
            return E_HALTED
        return 0

    cdef int reserve(self, uint32_t entering) noexcept:
        """Room for ``entering`` orders to enter the book and for every event
        that can follow, so nothing allocates once matching has begun."""
        cdef uint64_t orders = <uint64_t>self.resting + self.queued + entering + 1
        cdef uint64_t levels = <uint64_t>self.depth_of[BUY] + self.depth_of[SELL] + entering + 1
        cdef uint64_t events = <uint64_t>self.nevents + orders + 4 * <uint64_t>entering + 8
        if (orders <= self.cap_nodes and levels <= self.cap_levels
                and self.depth_of[BUY] + entering < self.cap_ladder[BUY]
                and self.depth_of[SELL] + entering < self.cap_ladder[SELL]
                and events <= self.cap_events):
            return 0                        # the usual case: room for all of it
        if (grow(<void**>&self.nodes, &self.cap_nodes, sizeof(node_t), orders)
                or grow(<void**>&self.levels, &self.cap_levels, sizeof(level_t), levels)
                or grow(<void**>&self.ladder[BUY], &self.cap_ladder[BUY], sizeof(uint32_t),
                        <uint64_t>self.depth_of[BUY] + entering + 1)
                or grow(<void**>&self.ladder[SELL], &self.cap_ladder[SELL], sizeof(uint32_t),
                        <uint64_t>self.depth_of[SELL] + entering + 1)
                or grow(<void**>&self.ev, &self.cap_events, sizeof(event_t), events)):
            return E_MEMORY
        return 0

    cdef int64_t add(self, int64_t id, int side, price_t price, qty_t qty, int ord_type,
                     int tif, uint32_t account, int stp, int flags) noexcept:
        """A new order: its handle if it rests or waits, 0 if nothing of it
        rests, or a negative status."""
        cdef uint32_t n
        cdef node_t* o
        cdef int rc
        if ((side != BUY and side != SELL) or (ord_type != MARKET and ord_type != LIMIT)
                or not (tif == DAY or tif == GTC or tif == IOC or tif == FOK or tif == GTD)
                or stp < STP_NONE or stp > STP_CANCEL_BOTH):
            return E_ARG
        rc = self.check(price, qty, ord_type == LIMIT, True)
        if rc == 0:
            rc = self.reserve(1)
        if rc:
            return rc
        n = self.new_node()
        o = &self.nodes[n]
        o.id = id
        o.price = price if ord_type == LIMIT else 0
        o.leaves = qty
        o.account = account
        o.side, o.ord_type, o.tif, o.stp, o.flags = side, ord_type, tif, stp, flags
        if self.halted:
            o.level = QUEUED
            o.next = NIL
            o.prev = self.queue_tail
            if self.queue_tail != NIL:
                self.nodes[self.queue_tail].next = n
            else:
                self.queue_head = n
            self.queue_tail = n
            self.queued += 1
            self.emit(EV_QUEUE, 0, side, id, 0, o.price, qty, qty, 0)
            return handle_of(o, n)
        return self.enter(n)

    cdef int64_t enter(self, uint32_t n) noexcept:
        """Match node ``n`` (not in the book), then rest or cancel what is left."""
        cdef node_t* o = &self.nodes[n]
        cdef int reason
        if o.tif == FOK and not self.fillable(n):
            self.emit(EV_CANCEL, R_FOK, o.side, o.id, 0, o.price, o.leaves, 0, 0)
            self.release(n)
            return 0
        if not self.match(n) or o.leaves == 0:
            self.release(n)
            return 0
        if o.ord_type == MARKET or o.tif == IOC or o.tif == FOK:
            reason = R_MARKET if o.ord_type == MARKET else R_IOC
            self.emit(EV_CANCEL, reason, o.side, o.id, 0, o.price, o.leaves, 0, 0)
            self.release(n)
            return 0
        self.rest(n)
        self.emit(EV_REST, 0, o.side, o.id, 0, o.price, o.leaves, o.leaves, 0)
        return handle_of(o, n)

    cdef bint match(self, uint32_t n) noexcept:
        """Trade node ``n`` against the opposite side while prices cross."""
        cdef node_t* o = &self.nodes[n]
        cdef node_t* m
        cdef level_t* lv
        cdef uint32_t mk
        cdef int side = o.side, opp = SELL if o.side == BUY else BUY
        cdef bint market = o.ord_type == MARKET
        cdef qty_t q
        while o.leaves > 0 and self.depth_of[opp]:
            lv = &self.levels[self.ladder[opp][self.depth_of[opp] - 1]]
            if not market and better(opp, o.price, lv.price):
                break                       # the taker's price is worse than the best
            mk = lv.head
            m = &self.nodes[mk]
            if o.stp and o.account and m.account == o.account:
                if o.stp != STP_CANCEL_INCOMING:
                    self.emit(EV_CANCEL, R_STP, m.side, m.id, 0, m.price, m.leaves, 0, 0)
                    self.unlink(mk)
                    self.release(mk)
                if o.stp != STP_CANCEL_RESTING:
                    self.emit(EV_CANCEL, R_STP, side, o.id, 0, o.price, o.leaves, 0, 0)
                    return False
                continue
            q = o.leaves if o.leaves < m.leaves else m.leaves
            o.leaves -= q
            m.leaves -= q
            lv.qty -= q
            self.emit(EV_FILL, 0, side, o.id, m.id, lv.price, q, o.leaves, m.leaves)
            if m.leaves == 0:
                self.unlink(mk)
                self.release(mk)
        return True

    cdef bint fillable(self, uint32_t n) noexcept:
        """Could node ``n`` fill in full right now (the fill-or-kill test)?"""
        cdef node_t* o = &self.nodes[n]
        cdef int opp = SELL if o.side == BUY else BUY
        cdef uint32_t i = self.depth_of[opp], m
        cdef level_t* lv
        cdef qty_t total = 0
        while i > 0:
            i -= 1
            lv = &self.levels[self.ladder[opp][i]]
            if o.ord_type != MARKET and better(opp, o.price, lv.price):
                return False
            m = lv.head
            while m != NIL:
                if o.stp and o.account and self.nodes[m].account == o.account:
                    if o.stp != STP_CANCEL_RESTING:
                        return False
                else:
                    total += self.nodes[m].leaves
                    if total >= o.leaves:
                        return True
                m = self.nodes[m].next
        return False

    cdef int64_t cancel(self, int64_t handle) noexcept:
        cdef node_t* o = self.get(handle)
        if o == NULL:
            return E_UNKNOWN
        if self.reserve(0):
            return E_MEMORY
        o = self.get(handle)
        self.emit(EV_CANCEL, R_USER, o.side, o.id, 0, o.price, o.leaves, 0, 0)
        self.remove(handle)
        return 0

    cdef int64_t modify(self, int64_t handle, price_t price, qty_t qty) noexcept:
        """Replace the order's price and leaves quantity (see the module docstring)."""
        cdef node_t* o = self.get(handle)
        cdef uint32_t n = <uint32_t>handle
        cdef int rc
        if o == NULL:
            return E_UNKNOWN
        rc = self.check(price, qty, True, False)
        if rc == 0:
            rc = self.reserve(1)
        if rc:
            return rc
        o = &self.nodes[n]
        if price == o.price and qty <= o.leaves:
            self.levels[o.level].qty -= o.leaves - qty
            o.leaves = qty
            self.emit(EV_MODIFY, 0, o.side, o.id, 0, price, qty, qty, 0)
            return handle
        self.unlink(n)
        o.price = price
        o.leaves = qty
        self.emit(EV_MODIFY, 0, o.side, o.id, 0, price, qty, qty, 0)
        return self.enter(n)

    cdef int64_t halt_trading(self) noexcept:
        """Halt: orders flagged CANCEL_ON_HALT are canceled, bids then asks,
        best level first, oldest first. The number of events, or E_STATE."""
        cdef int side
        cdef uint32_t i, m, nxt, start = self.nevents
        if self.halted:
            return E_STATE
        if self.reserve(0):
            return E_MEMORY
        self.halted = True
        for side in (BUY, SELL):
            i = self.depth_of[side]
            while i > 0:
                i -= 1
                m = self.levels[self.ladder[side][i]].head
                while m != NIL:
                    nxt = self.nodes[m].next
                    if self.nodes[m].flags & CANCEL_ON_HALT:
                        self.emit(EV_CANCEL, R_HALT, side, self.nodes[m].id, 0,
                                  self.nodes[m].price, self.nodes[m].leaves, 0, 0)
                        self.unlink(m)
                        self.release(m)
                    m = nxt
        return self.nevents - start

    cdef int64_t resume_trading(self) noexcept:
        """The end of a halt: the orders that waited enter, oldest first. The
        number of events, or E_STATE."""
        cdef uint32_t n, start = self.nevents
        if not self.halted:
            return E_STATE
        if self.reserve(self.queued):
            return E_MEMORY
        self.halted = False
        while self.queue_head != NIL:
            n = self.queue_head
            self.queue_head = self.nodes[n].next
            self.queued -= 1
            self.nodes[n].level = NIL
            self.enter(n)
        self.queue_tail = NIL
        return self.nevents - start

    cdef void finish(self) noexcept:
        """An operation ended: count it, and record the top of book if it changed."""
        cdef top_t t
        cdef level_t* lv
        self.seq += 1
        memset(&t, 0, sizeof(top_t))
        if self.depth_of[BUY]:
            lv = &self.levels[self.ladder[BUY][self.depth_of[BUY] - 1]]
            t.bid, t.bid_qty = lv.price, lv.qty
        if self.depth_of[SELL]:
            lv = &self.levels[self.ladder[SELL][self.depth_of[SELL] - 1]]
            t.ask, t.ask_qty = lv.price, lv.qty
        if (t.bid == self.last_top.bid and t.bid_qty == self.last_top.bid_qty
                and t.ask == self.last_top.ask and t.ask_qty == self.last_top.ask_qty):
            return
        t.seq = self.seq
        self.last_top = t
        if self.ntops == self.cap_tops:     # nobody read them: the oldest goes
            self.first_top = (self.first_top + 1) % self.cap_tops
            self.ntops -= 1
            self.tops_dropped += 1
        self.tops[(self.first_top + self.ntops) % self.cap_tops] = t
        self.ntops += 1

    cdef node_t* get(self, int64_t handle) noexcept:
        """The order a handle names, or NULL."""
        cdef uint32_t n = <uint32_t>handle
        if handle <= 0 or n >= self.top_nodes:
            return NULL
        if self.nodes[n].level == NIL or self.nodes[n].gen != <uint32_t>(handle >> 32):
            return NULL
        return &self.nodes[n]

    cdef int remove(self, int64_t handle) noexcept:
        """Take an order out of the book or the halt queue, reporting nothing."""
        if self.get(handle) == NULL:
            return E_UNKNOWN
        self.unlink(<uint32_t>handle)
        self.release(<uint32_t>handle)
        return 0

    cdef int reduce(self, int64_t handle, qty_t leaves) noexcept:
        """Lower an order's leaves in place (it keeps its priority), reporting
        nothing; 0 leaves takes it out."""
        cdef node_t* o = self.get(handle)
        if o == NULL or leaves > o.leaves or leaves < 0:
            return E_UNKNOWN if o == NULL else E_QTY
        if leaves == 0:
            return self.remove(handle)
        if o.level != QUEUED:
            self.levels[o.level].qty -= o.leaves - leaves
        o.leaves = leaves
        return 0

    # ---- nodes and levels ---------------------------------------------------------

    cdef uint32_t new_node(self) noexcept:
        cdef uint32_t n = self.node_free
        if n != NIL:
            self.node_free = self.nodes[n].next
        else:
            n = self.top_nodes
            self.top_nodes += 1
            self.nodes[n].gen = 0
        self.nodes[n].gen = self.nodes[n].gen % 0x7FFFFFFF + 1
        self.nodes[n].level = NIL
        self.nodes[n].next = self.nodes[n].prev = NIL
        return n

    cdef void release(self, uint32_t n) noexcept:
        self.nodes[n].level = NIL
        self.nodes[n].next = self.node_free
        self.node_free = n

    cdef void rest(self, uint32_t n) noexcept:
        """Put node ``n`` at the back of its price level, making the level if new."""
        cdef node_t* o = &self.nodes[n]
        cdef int side = o.side
        cdef uint32_t pos, li = self.find_level(side, o.price, &pos)
        cdef uint32_t* ladder
        cdef level_t* lv
        if li == NIL:
            li = self.level_free
            if li != NIL:
                self.level_free = self.levels[li].head
            else:
                li = self.top_levels
                self.top_levels += 1
            lv = &self.levels[li]
            lv.price = o.price
            lv.qty = 0
            lv.count = 0
            lv.head = lv.tail = NIL
            ladder = self.ladder[side]
            memmove(&ladder[pos + 1], &ladder[pos], (self.depth_of[side] - pos) * sizeof(uint32_t))
            ladder[pos] = li
            self.depth_of[side] += 1
        lv = &self.levels[li]
        o.level = li
        o.next = NIL
        o.prev = lv.tail
        if lv.tail != NIL:
            self.nodes[lv.tail].next = n
        else:
            lv.head = n
        lv.tail = n
        lv.qty += o.leaves
        lv.count += 1
        self.resting += 1

    cdef void unlink(self, uint32_t n) noexcept:
        """Take node ``n`` out of its level (dropping the level when it empties)
        or out of the halt queue; the node itself stays allocated."""
        cdef node_t* o = &self.nodes[n]
        cdef level_t* lv
        cdef uint32_t pos, depth
        if o.level == QUEUED:
            if o.prev != NIL:
                self.nodes[o.prev].next = o.next
            else:
                self.queue_head = o.next
            if o.next != NIL:
                self.nodes[o.next].prev = o.prev
            else:
                self.queue_tail = o.prev
            self.queued -= 1
            o.level = NIL
            return
        lv = &self.levels[o.level]
        if o.prev != NIL:
            self.nodes[o.prev].next = o.next
        else:
            lv.head = o.next
        if o.next != NIL:
            self.nodes[o.next].prev = o.prev
        else:
            lv.tail = o.prev
        lv.qty -= o.leaves
        lv.count -= 1
        self.resting -= 1
        if lv.count == 0:
            depth = self.depth_of[o.side]
            if self.ladder[o.side][depth - 1] == o.level:
                pos = depth - 1             # the best level: the usual case
            else:
                self.find_level(o.side, o.price, &pos)
            self.drop_level(o.side, pos)
        o.level = NIL

    cdef uint32_t find_level(self, int side, price_t price, uint32_t* pos) noexcept:
        """The level of ``price`` on ``side`` (its place in the ladder in
        ``pos``), or NIL with ``pos`` where it would go."""
        cdef uint32_t* ladder = self.ladder[side]
        cdef uint32_t lo = 0, hi = self.depth_of[side], mid
        cdef price_t p
        if hi == 0 or better(side, price, self.levels[ladder[hi - 1]].price):
            pos[0] = hi                     # a new best: the usual case
            return NIL
        while lo < hi:
            mid = (lo + hi) >> 1
            p = self.levels[ladder[mid]].price
            if p == price:
                pos[0] = mid
                return ladder[mid]
            if better(side, p, price):
                hi = mid
            else:
                lo = mid + 1
        pos[0] = lo
        return NIL

    cdef void drop_level(self, int side, uint32_t pos) noexcept:
        cdef uint32_t* ladder = self.ladder[side]
        cdef uint32_t li = ladder[pos]
        self.depth_of[side] -= 1
        memmove(&ladder[pos], &ladder[pos + 1], (self.depth_of[side] - pos) * sizeof(uint32_t))
        self.levels[li].head = self.level_free
        self.level_free = li

    cdef void emit(self, int kind, int reason, int side, int64_t id, int64_t other,
                          price_t price, qty_t qty, qty_t leaves, qty_t other_leaves) noexcept:
        cdef event_t* e = &self.ev[self.nevents]
        self.nevents += 1
        e.id, e.other, e.price, e.qty = id, other, price, qty
        e.leaves, e.other_leaves = leaves, other_leaves
        e.kind, e.reason, e.side = kind, reason, side

    # ---- the Python API -----------------------------------------------------------

    def new_order(self, int64_t id, int side, price_t price, qty_t qty, int ord_type=LIMIT,
                  int tif=DAY, uint32_t account=0, int stp=STP_NONE, int flags=0):
        """Enter an order. Returns its handle (> 0) when it rests or waits out a
        halt, 0 when nothing of it rests, a negative E_* status when refused."""
        self.nevents = 0
        cdef int64_t r = self.add(id, side, price, qty, ord_type, tif, account, stp, flags)
        self.finish()
        return r

    def cancel_order(self, int64_t handle):
        """Cancel a resting or waiting order: 0, or E_UNKNOWN."""
        self.nevents = 0
        cdef int64_t r = self.cancel(handle)
        self.finish()
        return r

    def replace_order(self, int64_t handle, price_t price, qty_t qty):
        """Give the order ``price`` and ``qty`` leaves: the handle when it
        still rests, 0 when it traded in full, or a negative E_* status."""
        self.nevents = 0
        cdef int64_t r = self.modify(handle, price, qty)
        self.finish()
        return r

    def halt(self):
        """Halt trading (see ``halt_trading``): the number of events or E_STATE."""
        self.nevents = 0
        cdef int64_t r = self.halt_trading()
        self.finish()
        return r

    def resume(self):
        """Resume trading: the number of events or E_STATE."""
        self.nevents = 0
        cdef int64_t r = self.resume_trading()
        self.finish()
        return r

    def set_reference(self, price_t price):
        """Move the centre of the price band."""
        self.ref_price = price

    def apply(self, command_t[::1] commands not None, bint keep_events=True):
        """Run a numpy array of COMMAND_DTYPE at C speed; each command's
        ``result`` receives what the per-call method returns. The events of
        the whole batch are kept (``keep_events``) or only the last command's.
        Returns the number of events kept."""
        cdef Py_ssize_t i
        cdef command_t* c
        self.nevents = 0
        for i in range(commands.shape[0]):
            c = &commands[i]
            if not keep_events:
                self.nevents = 0
            c.result = self.run(c)
            self.finish()
        return self.nevents

    def apply_timed(self, command_t[::1] commands not None, int64_t interval_ns,
                    int64_t[::1] latencies not None):
        """Run the commands in an open loop: command i is due ``i *
        interval_ns`` after the start; its latency, written to
        ``latencies[i]``, runs from when it was due (not from when it began,
        so a stall counts against every command queued behind it) to its end.
        Only each command's own events are kept."""
        cdef Py_ssize_t i, n = commands.shape[0]
        cdef int64_t start, due, t
        if latencies.shape[0] < n:
            raise ValueError("latencies is shorter than commands")
        start = now_ns()
        for i in range(n):
            due = start + i * interval_ns
            t = now_ns()
            while t < due:
                t = now_ns()
            self.nevents = 0
            commands[i].result = self.run(&commands[i])
            self.finish()
            latencies[i] = now_ns() - due
        return n

    cdef int64_t run(self, command_t* c) noexcept:
        if c.op == OP_NEW:
            return self.add(c.id, c.side, c.price, c.qty, c.ord_type, c.tif, c.account,
                            c.stp, c.flags)
        if c.op == OP_CANCEL:
            return self.cancel(c.handle)
        if c.op == OP_REPLACE:
            return self.modify(c.handle, c.price, c.qty)
        if c.op == OP_HALT:
            return self.halt_trading()
        if c.op == OP_RESUME:
            return self.resume_trading()
        return E_ARG

    # ---- reading ------------------------------------------------------------------

    def events(self):
        """The events of the last operation (or kept by the last ``apply``): a
        numpy array of EVENT_DTYPE (a copy)."""
        return np.frombuffer(PyBytes_FromStringAndSize(<char*>self.ev, self.nevents * sizeof(event_t)),
                             dtype=EVENT_DTYPE)

    def top_updates(self):
        """The top-of-book changes since the last call, oldest first (TOP_DTYPE:
        seq, bid, bid_qty, ask, ask_qty; an empty side reads 0, 0). ``seq``
        counts the operations the book has run. At most ``top_capacity`` are
        kept; ``tops_dropped`` counts the older ones lost."""
        cdef uint32_t i
        out = np.empty(self.ntops, dtype=TOP_DTYPE)
        cdef top_t[::1] view = out
        for i in range(self.ntops):
            view[i] = self.tops[(self.first_top + i) % self.cap_tops]
        self.first_top = self.ntops = 0
        return out

    @property
    def best_bid(self):
        """The best bid price, or None."""
        return self.levels[self.ladder[BUY][self.depth_of[BUY] - 1]].price if self.depth_of[BUY] else None

    @property
    def best_ask(self):
        """The best ask price, or None."""
        return self.levels[self.ladder[SELL][self.depth_of[SELL] - 1]].price if self.depth_of[SELL] else None

    @property
    def bid_qty(self):
        """The volume at the best bid (0 when none)."""
        return self.levels[self.ladder[BUY][self.depth_of[BUY] - 1]].qty if self.depth_of[BUY] else 0

    @property
    def ask_qty(self):
        """The volume at the best ask (0 when none)."""
        return self.levels[self.ladder[SELL][self.depth_of[SELL] - 1]].qty if self.depth_of[SELL] else 0

    def level(self, int side, price_t price):
        """(volume, count) of the level at ``price`` on ``side``; (0, 0) when none."""
        cdef uint32_t pos, li
        if side != BUY and side != SELL:
            raise ValueError(f"side {side} is neither BUY (1) nor SELL (2)")
        li = self.find_level(side, price, &pos)
        if li == NIL:
            return (0, 0)
        return (self.levels[li].qty, self.levels[li].count)

    def depth(self, Py_ssize_t n=10):
        """The ``n`` best levels of each side, best first: (bids, asks), numpy
        arrays of LEVEL_DTYPE (price, qty, count)."""
        cdef level_t* lv
        cdef int side
        cdef Py_ssize_t i, k
        sides = []
        for side in (BUY, SELL):
            k = min(n, self.depth_of[side])
            out = np.empty(k, dtype=LEVEL_DTYPE)
            for i in range(k):
                lv = &self.levels[self.ladder[side][self.depth_of[side] - 1 - i]]
                out[i] = (lv.price, lv.qty, lv.count)
            sides.append(out)
        return tuple(sides)

    def order(self, int64_t handle):
        """(id, side, price, leaves) of a resting or waiting order, or None."""
        cdef node_t* o = self.get(handle)
        return None if o == NULL else (o.id, o.side, o.price, o.leaves)

    def __len__(self):
        return self.resting

    @property
    def nbytes(self):
        """The memory the book holds: nodes, levels, ladders, event and
        top-of-book buffers."""
        return (self.cap_nodes * sizeof(node_t) + self.cap_levels * sizeof(level_t)
                + (self.cap_ladder[BUY] + self.cap_ladder[SELL]) * sizeof(uint32_t)
                + self.cap_events * sizeof(event_t) + self.cap_tops * sizeof(top_t))

    def validate(self):
        """Walk the book and check every invariant: ladders sorted best last,
        levels linked both ways with the right volume and count, every order
        where its level says, the book not crossed, the halt queue and free
        lists whole. Raises BookCorrupted."""
        cdef uint32_t i, li, m, prev, count, seen = 0, free = 0
        cdef qty_t qty
        cdef int side
        cdef level_t* lv
        cdef node_t* o
        for side in (BUY, SELL):
            for i in range(self.depth_of[side]):
                li = self.ladder[side][i]
                lv = &self.levels[li]
                if i and not better(side, lv.price, self.levels[self.ladder[side][i - 1]].price):
                    raise BookCorrupted(f"side {side}: level {i} is not better than level {i - 1}")
                m, prev, count, qty = lv.head, NIL, 0, 0
                while m != NIL:
                    o = &self.nodes[m]
                    if o.level != li or o.side != side or o.price != lv.price or o.prev != prev:
                        raise BookCorrupted(f"order {o.id} is misfiled in level {lv.price}")
                    if o.leaves <= 0:
                        raise BookCorrupted(f"order {o.id} rests with {o.leaves} leaves")
                    count += 1
                    qty += o.leaves
                    prev, m = m, o.next
                if count == 0 or count != lv.count or qty != lv.qty or prev != lv.tail:
                    raise BookCorrupted(f"level {lv.price}: count {lv.count}/{count}, "
                                        f"qty {lv.qty}/{qty}")
                seen += count
        if seen != self.resting:
            raise BookCorrupted(f"{self.resting} resting orders counted, {seen} found")
        if self.depth_of[BUY] and self.depth_of[SELL] and self.best_ask <= self.best_bid:
            raise BookCorrupted(f"crossed at rest: bid {self.best_bid} ask {self.best_ask}")
        m, prev, count = self.queue_head, NIL, 0
        while m != NIL:
            if self.nodes[m].level != QUEUED or self.nodes[m].prev != prev:
                raise BookCorrupted(f"the halt queue is broken at order {self.nodes[m].id}")
            count += 1
            prev, m = m, self.nodes[m].next
        if count != self.queued or prev != self.queue_tail or (count and not self.halted):
            raise BookCorrupted(f"{self.queued} orders said to wait, {count} found")
        m = self.node_free
        while m != NIL and free <= self.top_nodes:
            free += 1
            m = self.nodes[m].next
        if free + self.resting + self.queued != self.top_nodes:
            raise BookCorrupted(f"nodes: {free} free + {self.resting} resting + "
                                f"{self.queued} waiting != {self.top_nodes}")
