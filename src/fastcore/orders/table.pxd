# The order state table: every order's hot state in one slot array.
#
# Lifecycle operations are C functions over slots. Each returns a status code
# (OK or an E_* below) and appends the reports it causes, as fixed-size
# report_t records, to the table's report buffer; the engine turns them into
# ExecutionReport / OrderCancelReject bytes afterwards. No Python object and
# no allocation per operation once the arrays have grown.

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t
from fastcore._types cimport price_t, qty_t, nanos_t
from fastcore.orders.clordids cimport ClOrdIDIndex

cdef extern from *:
    """
    typedef __int128 fc_i128;
    """
    ctypedef long long i128 "fc_i128"

cdef enum:
    NONE = 0xFFFFFFFF         # no slot / no request / no fill

# Status codes of the operations.
cdef enum:
    OK = 0
    E_UNKNOWN_ORDER = -1      # no order by that ClOrdID in that session
    E_DUPLICATE = -2          # the ClOrdID is in use in that session
    E_STATE = -3              # not valid in the order's state
    E_NO_REQUEST = -4         # no such cancel/replace request outstanding on the order
    E_QUANTITY = -5           # a quantity out of range (above LeavesQty, not positive …)
    E_UNKNOWN_EXEC = -6       # no such execution on the order (or already busted)
    E_STALE = -7              # OrigClOrdID names an older ClOrdID of the order
    E_MEMORY = -8

# order_t.flags
cdef enum:
    F_GT = 1                  # good till cancel/date: lives across trading days
    F_PN_SENT = 2             # Pending New reported
    F_TELEPHONED = 4          # given by phone: an electronic copy is a duplicate
    F_HAS_PRICE = 8
    F_LIVE = 16               # the slot holds an order

# order_t.exec_inst: what ExecInst (18) asked for
cdef enum:
    EI_REINSTATE_ON_HALT = 1  # J
    EI_CANCEL_ON_HALT = 2     # K
    EI_CANCEL_IF_NOT_BEST = 4 # Z

cdef struct order_t:          # 112 bytes
    qty_t order_qty           # OrderQty (38)
    qty_t cum_qty             # CumQty (14)
    qty_t day_base            # CumQty when the trading day began (GT orders)
    qty_t cash_qty            # CashOrderQty (152) as given, 0 when none
    price_t price             # Price (44)
    i128 notional             # Σ LastQty × LastPx of the live fills, exact
                              # (QTY_DIGITS + PX_DIGITS decimals)
    int64_t order_id          # OrderID (37): stable, never reused
    uint32_t clordid          # key of the ClOrdID the order goes by (NO_KEY: none)
    uint32_t keys             # latest of all its keys (a chain through key_t.next)
    uint32_t requests         # oldest outstanding cancel/replace request, NONE
    uint32_t fills            # latest fill (a chain through fill_t.prev), NONE
    uint32_t instrument
    uint32_t next_free        # free list link while the slot is empty
    int32_t day               # the trading day it was entered, or ended in
    uint16_t session          # the client session that owns it
    uint16_t state            # S_* bits (states.pxd)
    uint8_t flags             # F_*
    uint8_t exec_inst         # EI_*
    char side                 # Side (54)
    char ord_type             # OrdType (40)
    char tif                  # TimeInForce (59)

cdef struct request_t:        # an outstanding OrderCancelRequest / ReplaceRequest
    qty_t order_qty           # replace: the new OrderQty
    price_t price             # replace: the new Price
    uint32_t key              # its ClOrdID
    uint32_t on               # the key of the request its OrigClOrdID named (chained), NO_KEY
    uint32_t order
    uint32_t next             # the order's next request (oldest first), or the free list
    char kind                 # 'F' cancel, 'G' replace
    char ord_type, tif, side  # replace: the new values
    uint8_t pending           # reported Pending Cancel / Pending Replace
    uint8_t has_price

cdef struct fill_t:
    i128 notional             # qty × px as filled: what a bust takes back, exactly
    qty_t qty
    price_t px                # (after a split, qty and px are restated, the notional is not)
    int64_t exec_id           # ExecID of the fill: how bust and correct name it
    int64_t ref               # ExecID of the latest report about it (the fill or a correction)
    int64_t mirror            # a child order's fill: ExecID of the staged order's fill it made (the engine's)
    uint32_t order
    uint32_t prev             # the order's previous fill
    int32_t day
    uint8_t busted

# A report the engine must send: ExecutionReport (msg '8') or OrderCancelReject ('9').
cdef enum:
    R_LAST = 1                # LastQty/LastPx present
    R_NO_ORDER_ID = 2         # OrderID NONE (a rejected new order)
    R_DAY_QTY = 4             # DayOrderQty/DayCumQty present (GT orders)
    R_AUDITED = 8             # its audit record is written (the engine's)

cdef struct report_t:
    qty_t order_qty, cum_qty, leaves_qty, last_qty, day_order_qty, day_cum_qty
    price_t price, last_px, avg_px
    int64_t exec_id           # ExecID (17) number
    int64_t exec_ref          # ExecRefID (19) number, 0 when none
    uint32_t order
    uint32_t clordid          # ClOrdID (11) key, NO_KEY for none
    uint32_t orig             # OrigClOrdID (41) key, NO_KEY for none
    int32_t text              # the engine's text number, -1 for none
    int16_t reason            # OrdRejReason (103), ExecRestatementReason (378) or CxlRejReason (102); -1 none
    char msg                  # '8' or '9'
    char exec_type            # ExecType (150)
    char ord_status           # OrdStatus (39)
    char response_to          # CxlRejResponseTo (434) on '9'
    uint8_t flags             # R_*

cdef struct order_in:         # a new order, as the engine read it
    const char* clordid
    uint32_t clordid_len
    uint32_t instrument
    qty_t qty                 # OrderQty, or the CashOrderQty-derived 0 until acknowledged
    qty_t cash_qty
    price_t price
    uint16_t session
    uint8_t flags             # F_GT, F_HAS_PRICE, F_TELEPHONED
    uint8_t exec_inst
    char side, ord_type, tif

cdef struct request_in:       # a cancel or replace request
    const char* clordid
    uint32_t clordid_len
    const char* orig          # OrigClOrdID (41)
    uint32_t orig_len
    qty_t qty
    price_t price
    uint16_t session          # who asks: its ClOrdID is a key of this session
    uint16_t orig_session     # the session whose ClOrdIDs OrigClOrdID is among
    char kind                 # 'F' or 'G'
    char side, ord_type, tif
    uint8_t has_price

cdef struct command_t:        # one step of a batch (OrderTable.apply)
    int64_t clordid           # names the order (numeric ClOrdID, its decimal text)
    int64_t request           # OP_CANCEL_REQUEST / OP_REPLACE_REQUEST: the request's ClOrdID
    qty_t qty
    price_t px
    uint32_t order            # the slot; NONE: look it up by clordid (written back)
    uint32_t instrument       # OP_NEW
    uint16_t session
    uint8_t op                # OP_*
    char side                 # OP_NEW
    char ord_type             # OP_NEW
    char tif                  # OP_NEW
    int16_t status            # written back: OK or E_*

cdef enum:
    OP_NEW = 1                # a new order (Pending New)
    OP_ACK = 2                # ack; qty > 0: the accepted OrderQty
    OP_FILL = 3               # fill qty at px
    OP_CANCEL = 4             # unsolicited cancel
    OP_CANCEL_REQUEST = 5     # a cancel request, ClOrdID `request`
    OP_ACCEPT_CANCEL = 6      # grant the oldest cancel request
    OP_REPLACE_REQUEST = 7    # a replace request to qty/px, ClOrdID `request`
    OP_ACCEPT_REPLACE = 8     # grant the oldest replace request
    OP_DONE_FOR_DAY = 9
    OP_EXPIRE = 10
    OP_STATUS = 11
    OP_REJECT = 12


cdef class OrderTable:
    cdef order_t* orders
    cdef uint32_t cap, top, free_head
    cdef readonly uint32_t live
    cdef request_t* reqs
    cdef uint32_t cap_reqs, top_reqs, free_req
    cdef fill_t* fills
    cdef uint32_t cap_fills, nfills
    cdef report_t* reports
    cdef readonly uint32_t nreports
    cdef uint32_t cap_reports
    cdef readonly ClOrdIDIndex ids
    cdef readonly int64_t next_order_id, next_exec_id
    cdef readonly int32_t day
    cdef object block                 # owns `orders` (a buffer numpy may view)

    # creating orders and requests
    cdef int new_order(self, const order_in* o, uint32_t* slot) noexcept
    cdef int add_request(self, const request_in* r, uint32_t* slot, uint32_t* req) noexcept
    cdef uint32_t find(self, uint16_t session, const char* p, uint32_t n) noexcept
    cdef uint32_t find_request(self, uint32_t slot, char kind, const char* p, uint32_t n) noexcept

    # the sell side's steps
    cdef int pending_new(self, uint32_t slot) noexcept
    cdef int ack(self, uint32_t slot, qty_t qty) noexcept
    cdef int reject(self, uint32_t slot, int reason) noexcept
    cdef int fill(self, uint32_t slot, qty_t qty, price_t px, int64_t* exec_id) noexcept
    cdef int done_for_day(self, uint32_t slot) noexcept
    cdef int _pending(self, uint32_t slot, uint32_t req, char kind) noexcept
    cdef int pending_cancel(self, uint32_t slot, uint32_t req) noexcept
    cdef int accept_cancel(self, uint32_t slot, uint32_t req) noexcept
    cdef int pending_replace(self, uint32_t slot, uint32_t req) noexcept
    cdef int accept_replace(self, uint32_t slot, uint32_t req) noexcept
    cdef int reject_request(self, uint32_t slot, uint32_t req, int reason) noexcept
    cdef int cancel(self, uint32_t slot, int reason) noexcept
    cdef int restate(self, uint32_t slot, int reason, qty_t qty, price_t px, bint has_px) noexcept
    cdef int stop(self, uint32_t slot, qty_t qty, price_t px) noexcept
    cdef int bust(self, uint32_t slot, int64_t exec_id) noexcept
    cdef int correct(self, uint32_t slot, int64_t exec_id, qty_t qty, price_t px) noexcept
    cdef int expire(self, uint32_t slot) noexcept
    cdef int status(self, uint32_t slot) noexcept
    cdef int duplicate(self, uint32_t slot, uint32_t key, qty_t qty) noexcept
    cdef int halt(self, uint32_t instrument) noexcept
    cdef int split(self, uint32_t instrument, int64_t num, int64_t den) noexcept
    cdef int new_day(self) noexcept

    cdef int apply_one(self, command_t* c) noexcept

    # helpers
    cdef qty_t leaves(self, const order_t* o) noexcept
    cdef report_t* report(self, uint32_t slot, char exec_type) noexcept
    cdef void _settle(self, order_t* o) noexcept
    cdef void _drop_requests(self, order_t* o) noexcept
    cdef void _unlink_request(self, order_t* o, uint32_t req) noexcept
    cdef void _release(self, uint32_t slot) noexcept
    cdef int _grow_orders(self) noexcept
    cdef int _reserve(self, uint32_t n) noexcept
    cdef uint32_t _find_fill(self, uint32_t slot, int64_t exec_id) noexcept
    cdef void _compact(self) noexcept
