# The price-time limit order book of one instrument (see book.pyx).
#
# Orders rest in nodes of one array, linked into FIFO lists per price level;
# each side keeps its levels' indices sorted from worst to best, so the best
# level is the last one. The match loop appends fixed-size events to a buffer;
# whoever called reads them once the book is consistent again.

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from fastcore._types cimport price_t, qty_t

cpdef enum:
    BUY = 1
    SELL = 2
    MARKET = 1                # OrdType (40)
    LIMIT = 2
    DAY = 0                   # TimeInForce (59)
    GTC = 1
    IOC = 3
    FOK = 4
    GTD = 6
    STP_NONE = 0              # self-trade prevention, the incoming order's choice
    STP_CANCEL_RESTING = 1
    STP_CANCEL_INCOMING = 2
    STP_CANCEL_BOTH = 3
    CANCEL_ON_HALT = 1        # order flag: ExecInst K

# Status codes: a refused operation changes nothing and reports no event.
cpdef enum:
    E_UNKNOWN = -1            # no such order in the book (or a stale handle)
    E_ARG = -2                # side, order type or time in force unknown
    E_QTY = -3                # quantity not positive
    E_TICK = -4               # price not a multiple of the tick size
    E_LOT = -5                # quantity not a multiple of the lot size
    E_MIN_QTY = -6
    E_MAX_QTY = -7
    E_BAND = -8               # price outside the band around the reference price
    E_HALTED = -9
    E_STATE = -10        # halt while halted, resume while trading
    E_MEMORY = -11

cpdef enum:
    EV_FILL = 1               # id traded qty at price with other (the maker)
    EV_REST = 2               # id rests with qty at price
    EV_CANCEL = 3             # qty of id canceled, for `reason`
    EV_MODIFY = 4             # id now has qty at price
    EV_QUEUE = 5              # id waits for the end of the halt

cpdef enum:
    R_USER = 1                # cancel_order
    R_IOC = 2                 # the unfilled rest of an IOC limit order
    R_FOK = 3                 # a FOK order that could not fill in full
    R_MARKET = 4              # the unfilled rest of a market order
    R_STP = 5                 # self-trade prevention
    R_HALT = 6                # a halt canceled it (CANCEL_ON_HALT)

cpdef enum:
    OP_NEW = 1
    OP_CANCEL = 2
    OP_REPLACE = 3
    OP_HALT = 4
    OP_RESUME = 5

cdef enum:
    NIL = 0xFFFFFFFF          # no node / no level
    QUEUED = 0xFFFFFFFE       # node.level of an order waiting out a halt

cdef struct node_t:           # an order in the book: 48 bytes
    price_t price
    qty_t leaves
    int64_t id                # the caller's name for it
    uint32_t next, prev       # FIFO links in its level or the halt queue; next: free list
    uint32_t level            # its level, QUEUED, or NIL when the node is free
    uint32_t account          # 0: none
    uint32_t gen              # part of the handle; bumped when the node is freed
    uint8_t side, ord_type, tif, stp, flags

cdef struct level_t:          # 32 bytes
    price_t price
    qty_t qty                 # Σ leaves of its orders
    uint32_t head, tail       # oldest and newest order; head: free list link
    uint32_t count

cdef struct event_t:          # 56 bytes
    int64_t id                # the order concerned; FILL: the taker
    int64_t other             # FILL: the maker
    price_t price
    qty_t qty
    qty_t leaves              # id's leaves after the event
    qty_t other_leaves        # FILL: the maker's leaves after it
    uint8_t kind, reason, side

cdef struct command_t:        # one step of Book.apply
    int64_t id
    int64_t handle
    price_t price
    qty_t qty
    int64_t result            # written back: what the call returned
    uint32_t account
    uint8_t op, side, ord_type, tif, stp, flags

cdef struct top_t:            # the top of book after an operation
    uint64_t seq
    price_t bid
    qty_t bid_qty
    price_t ask
    qty_t ask_qty


cdef class Book:
    cdef node_t* nodes
    cdef uint32_t cap_nodes, top_nodes, node_free
    cdef level_t* levels
    cdef uint32_t cap_levels, top_levels, level_free
    cdef uint32_t* ladder[3]          # per side (BUY, SELL): level indices, worst → best
    cdef uint32_t depth_of[3]
    cdef uint32_t cap_ladder[3]
    cdef event_t* ev
    cdef readonly uint32_t nevents
    cdef uint32_t cap_events
    cdef top_t* tops                  # a ring of the latest top-of-book changes
    cdef uint32_t cap_tops, first_top, ntops
    cdef readonly uint64_t tops_dropped
    cdef top_t last_top
    cdef uint32_t queue_head, queue_tail
    cdef readonly uint32_t resting, queued
    cdef readonly uint64_t seq
    cdef readonly bint halted, queue_when_halted
    cdef readonly price_t tick, band, ref_price
    cdef readonly qty_t lot, min_qty, max_qty

    # the operations, for C callers: events appended to `ev`, no bookkeeping of seq/top
    cdef int64_t add(self, int64_t id, int side, price_t price, qty_t qty, int ord_type,
                     int tif, uint32_t account, int stp, int flags) noexcept
    cdef int64_t cancel(self, int64_t handle) noexcept
    cdef int64_t modify(self, int64_t handle, price_t price, qty_t qty) noexcept
    cdef int64_t halt_trading(self) noexcept
    cdef int64_t resume_trading(self) noexcept
    cdef int64_t run(self, command_t* c) noexcept   # one command of a batch
    cdef void finish(self) noexcept           # an operation ended: seq, top of book
    cdef node_t* get(self, int64_t handle) noexcept
    cdef int remove(self, int64_t handle) noexcept   # take it out without an event
    cdef int reduce(self, int64_t handle, qty_t leaves) noexcept  # fewer leaves, same place, no event

    # the parts
    cdef int check(self, price_t price, qty_t qty, bint limit, bint new) noexcept
    cdef int reserve(self, uint32_t entering) noexcept
    cdef bint match(self, uint32_t n) noexcept          # False: self-trade canceled it
    cdef bint fillable(self, uint32_t n) noexcept
    cdef int64_t enter(self, uint32_t n) noexcept       # match, then rest or cancel the rest
    cdef uint32_t new_node(self) noexcept
    cdef void release(self, uint32_t n) noexcept
    cdef void rest(self, uint32_t n) noexcept
    cdef void unlink(self, uint32_t n) noexcept
    cdef uint32_t find_level(self, int side, price_t price, uint32_t* pos) noexcept
    cdef void drop_level(self, int side, uint32_t pos) noexcept
    cdef void emit(self, int kind, int reason, int side, int64_t id, int64_t other,
                   price_t price, qty_t qty, qty_t leaves, qty_t other_leaves) noexcept
