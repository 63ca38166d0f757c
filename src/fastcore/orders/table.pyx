# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The order state table (see table.pxd for the layout).

Orders live in slots of one array; a freed slot goes on a free list. The
operations check the order's state first and refuse with E_STATE without
touching it, so a refused command has no effect. Reports are snapshots taken
when the operation happens.
"""

from cpython.buffer cimport PyBuffer_FillInfo
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, malloc, realloc, free
from libc.string cimport memcmp, memcpy, memset

from fastcore._memory cimport dump, load, zgrow
from fastcore._types cimport price_t, qty_t
from fastcore.orders.clordids cimport ClOrdIDIndex, key_t, NO_KEY, K_ORDER, K_REQUEST
from fastcore.orders.states cimport (
    ord_status, S_PENDING_NEW, S_NEW, S_REJECTED, S_PARTIAL, S_EXPIRED, S_CANCELED,
    S_STOPPED, S_FILLED, S_DONE_FOR_DAY, S_PENDING_REPLACE, S_PENDING_CANCEL, S_DONE,
    S_PENDING, N_STATES,
)

from fastcore._dtype import struct_dtype


cdef extern from *:
    """
    /* AvgPx: notional / cum_qty, rounded half to even (never a float). */
    static inline int64_t fc_avg_px(fc_i128 notional, int64_t cum) {
        if (cum <= 0) return 0;
        fc_i128 q = notional / cum, r = notional % cum;
        fc_i128 r2 = 2 * (r < 0 ? -r : r);
        if (r2 > cum || (r2 == cum && (q & 1))) q += notional < 0 ? -1 : 1;
        return (int64_t)q;
    }
    """
    int64_t fc_avg_px(i128 notional, int64_t cum) noexcept nogil



cdef order_t _o
cdef command_t _c
cdef report_t _r
ORDER_DTYPE = struct_dtype([
    ("order_id", "<i8", <char*>&_o.order_id - <char*>&_o),
    ("order_qty", "<i8", <char*>&_o.order_qty - <char*>&_o),
    ("cum_qty", "<i8", <char*>&_o.cum_qty - <char*>&_o),
    ("day_base", "<i8", <char*>&_o.day_base - <char*>&_o),
    ("cash_qty", "<i8", <char*>&_o.cash_qty - <char*>&_o),
    ("price", "<i8", <char*>&_o.price - <char*>&_o),
    ("instrument", "<u4", <char*>&_o.instrument - <char*>&_o),
    ("session", "<u2", <char*>&_o.session - <char*>&_o),
    ("state", "<u2", <char*>&_o.state - <char*>&_o),
    ("flags", "u1", <char*>&_o.flags - <char*>&_o),
    ("exec_inst", "u1", <char*>&_o.exec_inst - <char*>&_o),
    ("side", "S1", <char*>&_o.side - <char*>&_o),
    ("ord_type", "S1", <char*>&_o.ord_type - <char*>&_o),
    ("tif", "S1", <char*>&_o.tif - <char*>&_o),
    ("day", "<i4", <char*>&_o.day - <char*>&_o),
], sizeof(order_t))
"""numpy dtype of an order slot (see ``OrderTable.view``)."""

COMMAND_DTYPE = struct_dtype([
    ("clordid", "<i8", <char*>&_c.clordid - <char*>&_c),
    ("request", "<i8", <char*>&_c.request - <char*>&_c),
    ("qty", "<i8", <char*>&_c.qty - <char*>&_c),
    ("px", "<i8", <char*>&_c.px - <char*>&_c),
    ("order", "<u4", <char*>&_c.order - <char*>&_c),
    ("instrument", "<u4", <char*>&_c.instrument - <char*>&_c),
    ("session", "<u2", <char*>&_c.session - <char*>&_c),
    ("op", "u1", <char*>&_c.op - <char*>&_c),
    ("side", "S1", <char*>&_c.side - <char*>&_c),
    ("ord_type", "S1", <char*>&_c.ord_type - <char*>&_c),
    ("tif", "S1", <char*>&_c.tif - <char*>&_c),
    ("status", "<i2", <char*>&_c.status - <char*>&_c),
], sizeof(command_t))
"""numpy dtype of a batch command (see ``OrderTable.apply``)."""

REPORT_DTYPE = struct_dtype([
    ("order_qty", "<i8", <char*>&_r.order_qty - <char*>&_r),
    ("cum_qty", "<i8", <char*>&_r.cum_qty - <char*>&_r),
    ("leaves_qty", "<i8", <char*>&_r.leaves_qty - <char*>&_r),
    ("last_qty", "<i8", <char*>&_r.last_qty - <char*>&_r),
    ("day_order_qty", "<i8", <char*>&_r.day_order_qty - <char*>&_r),
    ("day_cum_qty", "<i8", <char*>&_r.day_cum_qty - <char*>&_r),
    ("price", "<i8", <char*>&_r.price - <char*>&_r),
    ("last_px", "<i8", <char*>&_r.last_px - <char*>&_r),
    ("avg_px", "<i8", <char*>&_r.avg_px - <char*>&_r),
    ("exec_id", "<i8", <char*>&_r.exec_id - <char*>&_r),
    ("exec_ref", "<i8", <char*>&_r.exec_ref - <char*>&_r),
    ("order", "<u4", <char*>&_r.order - <char*>&_r),
    ("reason", "<i2", <char*>&_r.reason - <char*>&_r),
    ("msg", "S1", <char*>&_r.msg - <char*>&_r),
    ("exec_type", "S1", <char*>&_r.exec_type - <char*>&_r),
    ("ord_status", "S1", <char*>&_r.ord_status - <char*>&_r),
    ("response_to", "S1", <char*>&_r.response_to - <char*>&_r),
], sizeof(report_t))
"""numpy dtype of a report (see ``OrderTable.batch_reports``)."""

OPS = {"new": OP_NEW, "ack": OP_ACK, "fill": OP_FILL, "cancel": OP_CANCEL,
       "cancel_request": OP_CANCEL_REQUEST, "accept_cancel": OP_ACCEPT_CANCEL,
       "replace_request": OP_REPLACE_REQUEST, "accept_replace": OP_ACCEPT_REPLACE,
       "done_for_day": OP_DONE_FOR_DAY, "expire": OP_EXPIRE, "status": OP_STATUS,
       "reject": OP_REJECT}
"""Batch command codes (the ``op`` column of COMMAND_DTYPE)."""

ERROR_CODES = {OK: "ok", E_UNKNOWN_ORDER: "unknown order", E_DUPLICATE: "duplicate ClOrdID",
               E_STATE: "not valid in the order's state",
               E_NO_REQUEST: "no such request outstanding", E_QUANTITY: "quantity out of range",
               E_UNKNOWN_EXEC: "no such execution", E_STALE: "stale OrigClOrdID",
               E_MEMORY: "out of memory"}
"""The status codes of table operations (the ``status`` column of a batch)."""


STATE_NAMES = ("Pending New", "New", "Rejected", "Partially Filled", "Expired",
               "Canceled", "Stopped", "Filled", "Done for Day", "Pending Replace",
               "Pending Cancel")


def state_names(unsigned int state):
    """The names of the states set in a state bitmask, lowest precedence first."""
    return ", ".join([STATE_NAMES[i] for i in range(N_STATES) if state & (1 << i)]) or "none"


cdef class _Block:
    """Memory that numpy may view: it stays alive as long as a view does."""
    cdef char* data
    cdef Py_ssize_t size

    def __cinit__(self, Py_ssize_t size):
        self.data = <char*>calloc(1, size)        # a large one: the OS's zero pages, taken
        if self.data == NULL:                     # as they are first written
            raise MemoryError()
        self.size = size

    def __dealloc__(self):
        free(self.data)

    def __getbuffer__(self, Py_buffer* view, int flags):
        PyBuffer_FillInfo(view, self, self.data, self.size, 1, flags)

    def __releasebuffer__(self, Py_buffer* view):
        pass


cdef inline Py_ssize_t _write_id(char* w, int64_t v) noexcept nogil:
    """A numeric ClOrdID as its decimal text (at most 20 bytes)."""
    cdef char tmp[24]
    cdef Py_ssize_t n = 0, i
    cdef uint64_t u = <uint64_t>v if v >= 0 else <uint64_t>0 - <uint64_t>v
    while True:
        tmp[n] = <char>(48 + u % 10)
        n += 1
        u //= 10
        if u == 0:
            break
    if v < 0:
        tmp[n] = b'-'
        n += 1
    for i in range(n):
        w[i] = tmp[n - 1 - i]
    return n


cdef inline bint _gt(char tif) noexcept nogil:
    return tif == b'1' or tif == b'6'       # GTC, GTD


cdef class OrderTable:
    """The order state table. ``capacity`` is a starting size (the orders, their
    ClOrdIDs and fills): every array grows past it."""

    def __cinit__(self, uint32_t capacity=1024):
        capacity = max(capacity, 16)
        self.block = _Block(capacity * sizeof(order_t))
        self.orders = <order_t*>(<_Block>self.block).data
        self.cap = capacity
        self.free_head = NONE
        self.cap_reqs = 64
        self.reqs = <request_t*>calloc(self.cap_reqs, sizeof(request_t))
        self.free_req = NONE
        self.cap_fills = max(capacity, 256)
        self.fills = <fill_t*>calloc(self.cap_fills, sizeof(fill_t))
        self.cap_reports = 64
        self.reports = <report_t*>malloc(self.cap_reports * sizeof(report_t))
        if self.reqs == NULL or self.fills == NULL or self.reports == NULL:
            raise MemoryError()
        self.ids = ClOrdIDIndex(capacity)

    def __dealloc__(self):
        free(self.reqs)
        free(self.fills)
        free(self.reports)

    # ---- memory -------------------------------------------------------------

    cdef int _grow_orders(self) noexcept:
        cdef _Block block
        try:
            block = _Block(2 * self.cap * sizeof(order_t))
        except MemoryError:
            return E_MEMORY
        memcpy(block.data, self.orders, self.cap * sizeof(order_t))
        self.block = block                  # numpy views keep the old block alive
        self.orders = <order_t*>block.data
        self.cap *= 2
        return OK

    cdef int _reserve(self, uint32_t n) noexcept:
        """Room for ``n`` more reports, a request and a fill."""
        cdef void* p
        cdef uint32_t cap
        if self.nreports + n > self.cap_reports:
            cap = 2 * (self.nreports + n)
            p = realloc(self.reports, cap * sizeof(report_t))
            if p == NULL:
                return E_MEMORY
            self.reports = <report_t*>p
            self.cap_reports = cap
        if self.free_req == NONE and self.top_reqs == self.cap_reqs:
            p = zgrow(self.reqs, self.cap_reqs * sizeof(request_t),
                      2 * self.cap_reqs * sizeof(request_t))
            if p == NULL:
                return E_MEMORY
            self.reqs = <request_t*>p
            self.cap_reqs *= 2
        if self.nfills == self.cap_fills:
            p = zgrow(self.fills, self.cap_fills * sizeof(fill_t),
                      2 * self.cap_fills * sizeof(fill_t))
            if p == NULL:
                return E_MEMORY
            self.fills = <fill_t*>p
            self.cap_fills *= 2
        return OK

    # ---- snapshots --------------------------------------------------------------

    def state(self):
        """The table as plain values, for a snapshot (``restore`` reads it)."""
        return {"orders": dump(self.orders, self.top * sizeof(order_t)),
                "free_head": self.free_head, "live": self.live,
                "requests": dump(self.reqs, self.top_reqs * sizeof(request_t)),
                "free_request": self.free_req,
                "fills": dump(self.fills, self.nfills * sizeof(fill_t)),
                "next_order_id": self.next_order_id, "next_exec_id": self.next_exec_id,
                "day": self.day, "ids": self.ids.state()}

    def restore(self, dict state):
        """Become the table ``state`` describes (ValueError when it does not fit)."""
        cdef uint32_t top = len(state["orders"]) // sizeof(order_t)
        cdef uint32_t nreqs = len(state["requests"]) // sizeof(request_t)
        cdef uint32_t nfills = len(state["fills"]) // sizeof(fill_t)
        cdef uint32_t cap = max(top, self.cap), cap_fills = max(nfills, self.cap_fills)
        cdef _Block block = _Block(cap * sizeof(order_t))
        cdef void* reqs = calloc(max(nreqs, 64), sizeof(request_t))
        cdef void* fills = calloc(cap_fills, sizeof(fill_t))
        if reqs == NULL or fills == NULL:
            free(reqs)
            free(fills)
            raise MemoryError()
        try:
            load(block.data, state["orders"], top * sizeof(order_t), "orders")
            load(reqs, state["requests"], nreqs * sizeof(request_t), "requests")
            load(fills, state["fills"], nfills * sizeof(fill_t), "fills")
            self.ids.restore(state["ids"])
        except BaseException:
            free(reqs)
            free(fills)
            raise
        free(self.reqs)
        free(self.fills)
        self.block, self.orders, self.cap, self.top = block, <order_t*>block.data, cap, top
        self.reqs, self.cap_reqs, self.top_reqs = <request_t*>reqs, max(nreqs, 64), nreqs
        self.fills, self.cap_fills, self.nfills = <fill_t*>fills, cap_fills, nfills
        self.free_head, self.live = state["free_head"], state["live"]
        self.free_req = state["free_request"]
        self.next_order_id, self.next_exec_id = state["next_order_id"], state["next_exec_id"]
        self.day = state["day"]
        self.nreports = 0

    # ---- reading --------------------------------------------------------------

    cdef qty_t leaves(self, const order_t* o) noexcept:
        """LeavesQty (151): open quantity while working, 0 once done (a GT order
        done for the day keeps it)."""
        if o.state & S_DONE or (o.state & S_DONE_FOR_DAY and not o.flags & F_GT):
            return 0
        return o.order_qty - o.cum_qty if o.order_qty > o.cum_qty else 0

    cdef report_t* report(self, uint32_t slot, char exec_type) noexcept:
        """Append an ExecutionReport of the order as it stands (room reserved)."""
        cdef report_t* r = &self.reports[self.nreports]
        cdef order_t* o = &self.orders[slot]
        self.nreports += 1
        if exec_type != b'I':               # a status reply does not keep an order alive
            o.day = self.day
        r.msg = b'8'
        r.exec_type = exec_type
        r.ord_status = ord_status(o.state)
        r.order_qty = o.order_qty
        r.cum_qty = o.cum_qty
        r.leaves_qty = self.leaves(o)
        r.last_qty = 0
        r.last_px = 0
        r.price = o.price
        r.avg_px = fc_avg_px(o.notional, o.cum_qty)
        r.flags = 0
        if o.flags & F_GT:
            r.flags = R_DAY_QTY
            r.day_order_qty = o.order_qty - o.day_base
            r.day_cum_qty = o.cum_qty - o.day_base
        if exec_type:                       # an OrderCancelReject (0) has no ExecID
            self.next_exec_id += 1
            r.exec_id = self.next_exec_id
        else:
            r.exec_id = 0
        r.exec_ref = 0
        r.order = slot
        r.clordid = o.clordid
        r.orig = NO_KEY
        r.text = -1
        r.reason = -1
        r.response_to = 0
        return r

    cdef uint32_t find(self, uint16_t session, const char* p, uint32_t n) noexcept:
        """The slot of the order that carried ClOrdID ``p[:n]`` in ``session``, NONE."""
        cdef uint32_t k = self.ids.find(session, p, n)
        return self.ids.keys[k].order if k != NO_KEY else NONE

    cdef uint32_t find_request(self, uint32_t slot, char kind, const char* p, uint32_t n) noexcept:
        """The outstanding request of ``kind`` ('F'/'G', 0 any) on the order with
        ClOrdID ``p[:n]``, or the oldest one when ``n`` is 0; NONE."""
        cdef uint32_t r = self.orders[slot].requests
        cdef key_t* k
        while r != NONE:
            k = &self.ids.keys[self.reqs[r].key]
            if (kind == 0 or self.reqs[r].kind == kind) and (
                    n == 0 or (k.len == n and memcmp(self.ids.text(self.reqs[r].key), p, n) == 0)):
                return r
            r = self.reqs[r].next
        return NONE

    cdef uint32_t _find_fill(self, uint32_t slot, int64_t exec_id) noexcept:
        cdef uint32_t f = self.orders[slot].fills
        while f != NONE:
            if self.fills[f].exec_id == exec_id or self.fills[f].ref == exec_id:
                return f if not self.fills[f].busted else NONE
            f = self.fills[f].prev
        return NONE

    # ---- state upkeep ---------------------------------------------------------

    cdef void _settle(self, order_t* o) noexcept:
        """Partially Filled / Filled from CumQty against OrderQty."""
        o.state &= ~(S_PARTIAL | S_FILLED)
        if o.cum_qty > 0:
            o.state |= S_FILLED if o.cum_qty >= o.order_qty else S_PARTIAL

    cdef void _unlink_request(self, order_t* o, uint32_t req) noexcept:
        """Take a request off the order (to the free list) and recompute the
        pending states from the requests still reported pending."""
        cdef uint32_t* link = &o.requests
        cdef uint32_t r
        while link[0] != NONE:
            if link[0] == req:
                link[0] = self.reqs[req].next
                self.reqs[req].next = self.free_req
                self.free_req = req
                break
            link = &self.reqs[link[0]].next
        o.state &= ~S_PENDING
        r = o.requests
        while r != NONE:
            if self.reqs[r].pending:
                o.state |= S_PENDING_CANCEL if self.reqs[r].kind == b'F' else S_PENDING_REPLACE
            r = self.reqs[r].next

    cdef void _drop_requests(self, order_t* o) noexcept:
        while o.requests != NONE:
            self._unlink_request(o, o.requests)

    cdef void _release(self, uint32_t slot) noexcept:
        cdef order_t* o = &self.orders[slot]
        self._drop_requests(o)
        self.ids.release(o.keys)
        o.flags = 0
        o.state = 0
        o.next_free = self.free_head
        self.free_head = slot
        self.live -= 1

    # ---- creating orders and requests -----------------------------------------

    cdef int new_order(self, const order_in* n, uint32_t* slot) noexcept:
        """A new order in Pending New (nothing reported yet). E_DUPLICATE sets
        ``slot`` to the order that holds the ClOrdID."""
        cdef uint32_t s, k = NO_KEY
        cdef order_t* o
        if n.clordid_len:
            s = self.find(n.session, n.clordid, n.clordid_len)
            if s != NONE:
                slot[0] = s
                return E_DUPLICATE
        if self._reserve(2) < 0:
            return E_MEMORY
        if self.free_head != NONE:
            s = self.free_head
            self.free_head = self.orders[s].next_free
        else:
            if self.top == self.cap and self._grow_orders() < 0:
                return E_MEMORY
            s = self.top
            self.top += 1
        if n.clordid_len:
            k = self.ids.add(n.session, n.clordid, n.clordid_len, s, K_ORDER, NO_KEY)
            if k == NO_KEY:
                self.orders[s].next_free = self.free_head
                self.free_head = s
                return E_MEMORY
        o = &self.orders[s]
        memset(o, 0, sizeof(order_t))
        o.order_qty = n.qty
        o.cash_qty = n.cash_qty
        o.price = n.price
        self.next_order_id += 1
        o.order_id = self.next_order_id
        o.clordid = k
        o.keys = k
        o.requests = NONE
        o.fills = NONE
        o.instrument = n.instrument
        o.next_free = NONE
        o.day = self.day
        o.session = n.session
        o.state = S_PENDING_NEW
        o.flags = F_LIVE | (n.flags & (F_HAS_PRICE | F_TELEPHONED)) | (F_GT if _gt(n.tif) else 0)
        o.exec_inst = n.exec_inst
        o.side = n.side
        o.ord_type = n.ord_type
        o.tif = n.tif
        self.live += 1
        slot[0] = s
        return OK

    cdef int add_request(self, const request_in* q, uint32_t* slot, uint32_t* req) noexcept:
        """Record a cancel or replace request (nothing reported yet).

        OrigClOrdID must name the order's ClOrdID or a request outstanding on
        it (chained replaces), among the ClOrdIDs of ``orig_session`` (the
        asker's own, or the order's when another user of its audience asks);
        ``slot`` is set whenever the order is found.
        """
        cdef uint32_t k = self.ids.find(q.orig_session, q.orig, q.orig_len), s, r, key
        cdef uint32_t* link
        cdef order_t* o
        cdef request_t* e
        if k == NO_KEY:
            return E_UNKNOWN_ORDER
        s = self.ids.keys[k].order
        slot[0] = s
        o = &self.orders[s]
        if self.ids.find(q.session, q.clordid, q.clordid_len) != NO_KEY:
            return E_DUPLICATE
        if o.state & S_DONE:
            return E_STATE
        if k != o.clordid:
            r = o.requests
            while r != NONE and self.reqs[r].key != k:
                r = self.reqs[r].next
            if r == NONE:
                return E_STALE
        if self._reserve(0) < 0:
            return E_MEMORY
        key = self.ids.add(q.session, q.clordid, q.clordid_len, s, K_REQUEST, o.keys)
        if key == NO_KEY:
            return E_MEMORY
        o.keys = key
        if self.free_req != NONE:
            r = self.free_req
            self.free_req = self.reqs[r].next
        else:
            r = self.top_reqs
            self.top_reqs += 1
        e = &self.reqs[r]
        e.order_qty = q.qty
        e.price = q.price
        e.key = key
        e.on = k if k != o.clordid else NO_KEY
        e.order = s
        e.next = NONE
        e.kind = q.kind
        e.ord_type = q.ord_type
        e.tif = q.tif
        e.side = q.side
        e.pending = 0
        e.has_price = q.has_price
        link = &o.requests                  # oldest first
        while link[0] != NONE:
            link = &self.reqs[link[0]].next
        link[0] = r
        req[0] = r
        return OK

    # ---- the sell side's steps ------------------------------------------------

    cdef int pending_new(self, uint32_t slot) noexcept:
        cdef order_t* o = &self.orders[slot]
        if not o.state & S_PENDING_NEW or o.state & S_DONE or o.flags & F_PN_SENT:
            return E_STATE
        if self._reserve(1) < 0:
            return E_MEMORY
        o.flags |= F_PN_SENT
        self.report(slot, b'A')
        return OK

    cdef int ack(self, uint32_t slot, qty_t qty) noexcept:
        """Accept the order: ExecType New. ``qty`` > 0 states the OrderQty the
        desk accepted (an order given as CashOrderQty)."""
        cdef order_t* o = &self.orders[slot]
        if not o.state & S_PENDING_NEW or o.state & S_DONE:
            return E_STATE
        if qty < 0 or (qty == 0 and o.order_qty <= 0):
            return E_QUANTITY
        if self._reserve(1) < 0:
            return E_MEMORY
        if qty:
            o.order_qty = qty
        o.state = (o.state & ~S_PENDING_NEW) | S_NEW
        self.report(slot, b'0')
        return OK

    cdef int reject(self, uint32_t slot, int reason) noexcept:
        """Reject the order (ExecType Rejected, OrdRejReason ``reason``): only
        one with nothing executed."""
        cdef order_t* o = &self.orders[slot]
        cdef report_t* r
        if o.state & S_DONE or o.cum_qty:
            return E_STATE
        if self._reserve(1) < 0:
            return E_MEMORY
        self._drop_requests(o)
        o.state = S_REJECTED
        r = self.report(slot, b'8')
        r.reason = reason
        return OK

    cdef int fill(self, uint32_t slot, qty_t qty, price_t px, int64_t* exec_id) noexcept:
        """An execution of ``qty`` at ``px``: ExecType Trade. A late execution on
        a canceled or done-for-day order is reported too, up to OrderQty."""
        cdef order_t* o = &self.orders[slot]
        cdef report_t* r
        cdef fill_t* f
        if o.state & (S_PENDING_NEW | S_REJECTED):
            return E_STATE
        if qty <= 0 or qty > o.order_qty - o.cum_qty:
            return E_QUANTITY
        if self._reserve(1) < 0:
            return E_MEMORY
        o.cum_qty += qty
        o.notional += <i128>qty * px
        self._settle(o)
        r = self.report(slot, b'F')
        r.flags |= R_LAST
        r.last_qty = qty
        r.last_px = px
        f = &self.fills[self.nfills]
        f.notional = <i128>qty * px
        f.qty = qty
        f.px = px
        f.exec_id = r.exec_id
        f.ref = r.exec_id
        f.order = slot
        f.prev = o.fills
        f.day = self.day
        f.busted = 0
        f.mirror = 0
        o.fills = self.nfills
        self.nfills += 1
        exec_id[0] = r.exec_id
        return OK

    cdef int done_for_day(self, uint32_t slot) noexcept:
        cdef order_t* o = &self.orders[slot]
        if o.state & (S_PENDING_NEW | S_DONE | S_DONE_FOR_DAY):
            return E_STATE
        if self._reserve(1) < 0:
            return E_MEMORY
        o.state |= S_DONE_FOR_DAY
        self.report(slot, b'3')
        return OK

    cdef int _pending(self, uint32_t slot, uint32_t req, char kind) noexcept:
        """Report a request of ``kind`` pending: ExecType Pending Cancel ('F')
        or Pending Replace ('G'), (request ClOrdID, the order's ClOrdID)."""
        cdef order_t* o = &self.orders[slot]
        cdef report_t* r
        if req == NONE or self.reqs[req].kind != kind:
            return E_NO_REQUEST
        if self.reqs[req].pending:
            return E_STATE
        if self._reserve(1) < 0:
            return E_MEMORY
        self.reqs[req].pending = 1
        o.state |= S_PENDING_CANCEL if kind == b'F' else S_PENDING_REPLACE
        r = self.report(slot, b'6' if kind == b'F' else b'E')
        r.clordid = self.reqs[req].key
        r.orig = o.clordid
        return OK

    cdef int pending_cancel(self, uint32_t slot, uint32_t req) noexcept:
        return self._pending(slot, req, b'F')

    cdef int accept_cancel(self, uint32_t slot, uint32_t req) noexcept:
        """The request is granted: ExecType Canceled; the order now goes by the
        request's ClOrdID. Any other request on it lapses."""
        cdef order_t* o = &self.orders[slot]
        cdef uint32_t old = o.clordid
        cdef report_t* r
        if req == NONE or self.reqs[req].kind != b'F':
            return E_NO_REQUEST
        if o.state & S_FILLED:              # nothing left to cancel: reject it, too late
            return E_STATE
        if self._reserve(1) < 0:
            return E_MEMORY
        o.clordid = self.reqs[req].key
        self._drop_requests(o)
        o.state = (o.state & (S_PARTIAL | S_FILLED)) | S_CANCELED
        r = self.report(slot, b'4')
        r.orig = old
        return OK

    cdef int pending_replace(self, uint32_t slot, uint32_t req) noexcept:
        cdef order_t* o = &self.orders[slot]
        cdef report_t* r
        cdef uint32_t on
        cdef int rc = self._pending(slot, req, b'G')
        if rc != OK:
            return rc
        r = &self.reports[self.nreports - 1]
        on = self.find_request(slot, b'G', NULL, 0) if self.reqs[req].on != NO_KEY else NONE
        while on != NONE and self.reqs[on].key != self.reqs[req].on:
            on = self.reqs[on].next
        if on != NONE and self.reqs[on].kind == b'G':
            # chained on a replace not yet granted (D.2.b): the quantities of
            # the order that request would make
            r.order_qty = self.reqs[on].order_qty if self.reqs[on].order_qty > o.cum_qty else o.cum_qty
            r.leaves_qty = r.order_qty - o.cum_qty if self.leaves(o) else 0
            if r.flags & R_DAY_QTY:
                r.day_order_qty = r.order_qty - o.day_base
        return OK

    cdef int accept_replace(self, uint32_t slot, uint32_t req) noexcept:
        """The replace is granted: ExecType Replaced. An OrderQty below CumQty
        becomes CumQty. The order now goes by the request's ClOrdID."""
        cdef order_t* o = &self.orders[slot]
        cdef request_t* q
        cdef uint32_t old = o.clordid
        cdef report_t* r
        if req == NONE or self.reqs[req].kind != b'G':
            return E_NO_REQUEST
        if self._reserve(1) < 0:
            return E_MEMORY
        q = &self.reqs[req]
        o.order_qty = q.order_qty if q.order_qty > o.cum_qty else o.cum_qty
        if q.has_price:
            o.price = q.price
            o.flags |= F_HAS_PRICE
        o.ord_type = q.ord_type
        o.tif = q.tif
        o.flags = (o.flags & ~F_GT) | (F_GT if _gt(q.tif) else 0)
        o.clordid = q.key
        self._unlink_request(o, req)
        self._settle(o)
        r = self.report(slot, b'5')
        r.orig = old
        return OK

    cdef int reject_request(self, uint32_t slot, uint32_t req, int reason) noexcept:
        """OrderCancelReject for a cancel or replace request (CxlRejReason
        ``reason``); the order keeps its state without the pending one."""
        cdef order_t* o = &self.orders[slot]
        cdef report_t* r
        cdef uint32_t key
        cdef char kind
        if req == NONE:
            return E_NO_REQUEST
        if self._reserve(1) < 0:
            return E_MEMORY
        key = self.reqs[req].key
        kind = self.reqs[req].kind
        self._unlink_request(o, req)
        r = self.report(slot, 0)
        r.msg = b'9'
        r.clordid = key
        r.orig = o.clordid
        r.response_to = b'1' if kind == b'F' else b'2'
        r.reason = reason
        return OK

    cdef int cancel(self, uint32_t slot, int reason) noexcept:
        """Unsolicited cancel: ExecType Canceled (ExecRestatementReason
        ``reason`` when >= 0, e.g. 6 for a trading halt)."""
        cdef order_t* o = &self.orders[slot]
        cdef report_t* r
        if o.state & (S_DONE | S_PENDING_NEW | S_FILLED):
            return E_STATE
        if self._reserve(1) < 0:
            return E_MEMORY
        self._drop_requests(o)
        o.state = (o.state & (S_PARTIAL | S_FILLED)) | S_CANCELED
        r = self.report(slot, b'4')
        r.reason = reason
        return OK

    cdef int restate(self, uint32_t slot, int reason, qty_t qty, price_t px, bint has_px) noexcept:
        """The sell side's own change: ExecType Restated, ExecRestatementReason
        ``reason``. ``qty`` > 0 is the new OrderQty (not below CumQty)."""
        cdef order_t* o = &self.orders[slot]
        cdef report_t* r
        if o.state & (S_DONE | S_PENDING_NEW):
            return E_STATE
        if qty < 0:
            return E_QUANTITY
        if self._reserve(1) < 0:
            return E_MEMORY
        if qty:
            o.order_qty = qty if qty > o.cum_qty else o.cum_qty
        if has_px:
            o.price = px
            o.flags |= F_HAS_PRICE
        self._settle(o)
        r = self.report(slot, b'D')
        r.reason = reason
        return OK

    cdef int stop(self, uint32_t slot, qty_t qty, price_t px) noexcept:
        """A guarantee of ``qty`` at ``px``: ExecType Stopped."""
        cdef order_t* o = &self.orders[slot]
        cdef report_t* r
        if o.state & (S_DONE | S_PENDING_NEW | S_DONE_FOR_DAY):
            return E_STATE
        if qty <= 0 or qty > self.leaves(o):
            return E_QUANTITY
        if self._reserve(1) < 0:
            return E_MEMORY
        o.state |= S_STOPPED
        r = self.report(slot, b'7')
        r.flags |= R_LAST
        r.last_qty = qty
        r.last_px = px
        return OK

    cdef int bust(self, uint32_t slot, int64_t exec_id) noexcept:
        """Trade Cancel of a fill: ExecType Trade Cancel, CumQty and AvgPx
        recomputed; LastQty/LastPx 0."""
        cdef order_t* o = &self.orders[slot]
        cdef uint32_t i = self._find_fill(slot, exec_id)
        cdef fill_t* f
        cdef report_t* r
        if i == NONE:
            return E_UNKNOWN_EXEC
        if self._reserve(1) < 0:
            return E_MEMORY
        f = &self.fills[i]
        o.cum_qty -= f.qty
        o.notional -= f.notional
        if f.day < self.day:
            o.day_base -= f.qty
        f.busted = 1
        self._settle(o)
        r = self.report(slot, b'H')
        r.flags |= R_LAST
        r.exec_ref = f.ref
        return OK

    cdef int correct(self, uint32_t slot, int64_t exec_id, qty_t qty, price_t px) noexcept:
        """Trade Correct of a fill to ``qty`` at ``px``: ExecType Trade Correct."""
        cdef order_t* o = &self.orders[slot]
        cdef uint32_t i = self._find_fill(slot, exec_id)
        cdef fill_t* f
        cdef report_t* r
        if i == NONE:
            return E_UNKNOWN_EXEC
        f = &self.fills[i]
        if qty <= 0 or o.cum_qty - f.qty + qty > o.order_qty:
            return E_QUANTITY
        if self._reserve(1) < 0:
            return E_MEMORY
        o.cum_qty += qty - f.qty
        o.notional += <i128>qty * px - f.notional
        f.notional = <i128>qty * px
        if f.day < self.day:
            o.day_base += qty - f.qty
        f.qty = qty
        f.px = px
        self._settle(o)
        r = self.report(slot, b'G')
        r.flags |= R_LAST
        r.last_qty = qty
        r.last_px = px
        r.exec_ref = f.ref
        f.ref = r.exec_id
        return OK

    cdef int expire(self, uint32_t slot) noexcept:
        cdef order_t* o = &self.orders[slot]
        if o.state & (S_DONE | S_FILLED):
            return E_STATE
        if self._reserve(1) < 0:
            return E_MEMORY
        self._drop_requests(o)
        o.state = (o.state & (S_PARTIAL | S_FILLED)) | S_EXPIRED
        self.report(slot, b'C')
        return OK

    cdef int status(self, uint32_t slot) noexcept:
        """A reply to an OrderStatusRequest: ExecType Order Status."""
        if self._reserve(1) < 0:
            return E_MEMORY
        self.report(slot, b'I')
        return OK

    cdef int duplicate(self, uint32_t slot, uint32_t key, qty_t qty) noexcept:
        """Reject a NewOrderSingle whose ClOrdID (``key``) the order at ``slot``
        has carried: OrdRejReason 6 (duplicate order) with that order's status,
        or 7 with OrdStatus Rejected when that order was given by phone."""
        cdef report_t* r
        if self._reserve(1) < 0:
            return E_MEMORY
        r = self.report(slot, b'8')
        r.clordid = key
        r.flags |= R_NO_ORDER_ID
        r.reason = 6
        if self.orders[slot].flags & F_TELEPHONED:
            r.reason = 7
            r.ord_status = b'8'
            r.order_qty = qty
            r.cum_qty = r.leaves_qty = 0
            r.avg_px = 0
        return OK

    # ---- instrument-wide and day-wide steps -----------------------------------

    cdef int halt(self, uint32_t instrument) noexcept:
        """A trading halt: orders that asked to be canceled on a halt (ExecInst
        K) are canceled with ExecRestatementReason 6; the rest wait."""
        cdef uint32_t s
        cdef order_t* o
        for s in range(self.top):
            o = &self.orders[s]
            if (o.flags & F_LIVE and o.instrument == instrument
                    and o.exec_inst & EI_CANCEL_ON_HALT and not o.state & S_DONE):
                if self.cancel(s, 6) == E_MEMORY:
                    return E_MEMORY
        return OK

    cdef int split(self, uint32_t instrument, int64_t num, int64_t den) noexcept:
        """A num:den split: every working GT order on the instrument restated
        (ExecRestatementReason 0, GT corporate action), quantities × num/den,
        prices × den/num; the notional, and so the value filled, is unchanged."""
        cdef uint32_t s, f, q
        cdef order_t* o
        cdef report_t* r
        if num <= 0 or den <= 0:
            return E_QUANTITY
        for s in range(self.top):
            o = &self.orders[s]
            if not (o.flags & F_LIVE and o.flags & F_GT and o.instrument == instrument
                    and not o.state & S_DONE):
                continue
            if self._reserve(1) < 0:
                return E_MEMORY
            o.order_qty = o.order_qty * num // den
            o.cum_qty = o.cum_qty * num // den
            o.day_base = o.day_base * num // den
            o.price = o.price * den // num
            f = o.fills
            while f != NONE:
                self.fills[f].qty = self.fills[f].qty * num // den
                self.fills[f].px = self.fills[f].px * den // num
                f = self.fills[f].prev
            q = o.requests
            while q != NONE:
                self.reqs[q].order_qty = self.reqs[q].order_qty * num // den
                self.reqs[q].price = self.reqs[q].price * den // num
                q = self.reqs[q].next
            self._settle(o)
            r = self.report(s, b'D')
            r.reason = 0
        return OK

    cdef int new_day(self) noexcept:
        """The trading day rolls over.

        Orders that ended before the day now ending are released (their
        slots, ClOrdIDs and fills); day orders still working expire (ExecType
        Expired); GT orders carry on, done-for-day lifted, DayCumQty reset.
        """
        cdef uint32_t s
        cdef order_t* o
        cdef bint finished
        for s in range(self.top):
            o = &self.orders[s]
            if not o.flags & F_LIVE:
                continue
            finished = (o.state & (S_DONE | S_FILLED) and o.requests == NONE) or (
                o.state & S_DONE_FOR_DAY and not o.flags & F_GT)
            if finished:
                if o.day < self.day:
                    self._release(s)
            elif not o.flags & F_GT:
                if self.expire(s) == E_MEMORY:
                    return E_MEMORY
            else:
                o.state &= ~S_DONE_FOR_DAY
                o.day_base = o.cum_qty
        self.day += 1
        if self.ids.dead > 1024 and self.ids.dead * 2 > self.ids.nkeys:
            self._compact()
        return OK

    cdef void _compact(self) noexcept:
        """Renumber the ClOrdID keys and the fills after orders were released."""
        cdef uint32_t* remap = self.ids.compact()
        cdef uint32_t* fmap
        cdef uint32_t s, i, n = 0
        cdef order_t* o
        if remap == NULL:
            return
        for s in range(self.top):
            o = &self.orders[s]
            if o.flags & F_LIVE:
                o.clordid = remap[o.clordid]
                o.keys = remap[o.keys]
        for i in range(self.top_reqs):
            self.reqs[i].key = remap[self.reqs[i].key]
        for i in range(self.nreports):
            self.reports[i].clordid = remap[self.reports[i].clordid]
            self.reports[i].orig = remap[self.reports[i].orig]
        free(remap)
        fmap = <uint32_t*>malloc((self.nfills + 1) * sizeof(uint32_t))
        if fmap == NULL:
            return
        for i in range(self.nfills):
            if self.orders[self.fills[i].order].flags & F_LIVE:
                fmap[i] = n
                self.fills[n] = self.fills[i]
                n += 1
            else:
                fmap[i] = NONE
        for i in range(n):
            if self.fills[i].prev != NONE:
                self.fills[i].prev = fmap[self.fills[i].prev]
        for s in range(self.top):
            o = &self.orders[s]
            if o.flags & F_LIVE and o.fills != NONE:
                o.fills = fmap[o.fills]
        self.nfills = n
        free(fmap)

    # ---- batches ---------------------------------------------------------------

    cdef int apply_one(self, command_t* c) noexcept:
        """One command of a batch; its status is also written to ``c.status``."""
        cdef char text[24]
        cdef uint32_t n, req
        cdef int64_t e
        cdef order_in o
        cdef request_in q
        cdef order_t* t
        cdef int rc
        if c.op == OP_NEW:
            n = <uint32_t>_write_id(text, c.clordid)
            o.clordid = text
            o.clordid_len = n
            o.instrument = c.instrument
            o.qty = c.qty
            o.cash_qty = 0
            o.price = c.px
            o.session = c.session
            o.flags = F_HAS_PRICE if c.ord_type == b'2' else 0
            o.exec_inst = 0
            o.side = c.side
            o.ord_type = c.ord_type
            o.tif = c.tif
            rc = self.new_order(&o, &c.order)
            c.status = rc
            return rc
        if c.order == NONE or c.order >= self.top or not self.orders[c.order].flags & F_LIVE:
            n = <uint32_t>_write_id(text, c.clordid)
            c.order = self.find(c.session, text, n)
            if c.order == NONE:
                c.status = E_UNKNOWN_ORDER
                return E_UNKNOWN_ORDER
        if c.op == OP_ACK:
            rc = self.ack(c.order, c.qty)
        elif c.op == OP_FILL:
            rc = self.fill(c.order, c.qty, c.px, &e)
        elif c.op == OP_CANCEL:
            rc = self.cancel(c.order, -1)
        elif c.op == OP_CANCEL_REQUEST or c.op == OP_REPLACE_REQUEST:
            t = &self.orders[c.order]
            q.orig = self.ids.text(t.clordid)
            q.orig_len = self.ids.keys[t.clordid].len
            q.clordid = text
            q.clordid_len = <uint32_t>_write_id(text, c.request)
            q.session = q.orig_session = t.session
            q.kind = b'F' if c.op == OP_CANCEL_REQUEST else b'G'
            q.qty = c.qty
            q.price = c.px
            q.has_price = t.flags & F_HAS_PRICE != 0
            q.side = t.side
            q.ord_type = t.ord_type
            q.tif = t.tif
            rc = self.add_request(&q, &c.order, &req)
        elif c.op == OP_ACCEPT_CANCEL:
            rc = self.accept_cancel(c.order, self.find_request(c.order, b'F', NULL, 0))
        elif c.op == OP_ACCEPT_REPLACE:
            rc = self.accept_replace(c.order, self.find_request(c.order, b'G', NULL, 0))
        elif c.op == OP_DONE_FOR_DAY:
            rc = self.done_for_day(c.order)
        elif c.op == OP_EXPIRE:
            rc = self.expire(c.order)
        elif c.op == OP_STATUS:
            rc = self.status(c.order)
        elif c.op == OP_REJECT:
            rc = self.reject(c.order, 0)
        else:
            rc = E_STATE
        c.status = rc
        return rc

    def apply(self, command_t[::1] commands not None):
        """Run a batch of commands (a numpy array of COMMAND_DTYPE) at C speed.

        The reports of the previous batch are dropped first; this batch's are
        then in ``batch_reports()``. Each command's status (0, or a negative E_*
        code) and slot are written back into it. Returns the number of
        commands that succeeded.
        """
        cdef Py_ssize_t i, n = commands.shape[0], ok = 0
        self.nreports = 0
        for i in range(n):
            ok += self.apply_one(&commands[i]) == OK
        return ok

    def batch_reports(self):
        """The reports of the last batch, as a numpy array of REPORT_DTYPE (a copy)."""
        import numpy as np
        cdef bytes data = (<char*>self.reports)[:self.nreports * sizeof(report_t)]
        return np.frombuffer(data, dtype=REPORT_DTYPE).copy()

    # ---- the Python edge ------------------------------------------------------

    def __len__(self):
        """Orders in the table (working or kept after they ended)."""
        return self.live

    @property
    def bytes_per_order(self):
        """Hot state per order slot."""
        return sizeof(order_t)

    def view(self):
        """The order slots [0, top) as a zero-copy numpy structured array.

        Columns: order_id, order_qty, cum_qty, day_base, cash_qty, price (fixed
        point: quantities QTY_DIGITS, prices PX_DIGITS decimals), instrument,
        session, state (bitmask, see ``state_names``), flags (bit 16: slot in
        use), exec_inst, side, ord_type, tif, day. The array stays valid after
        the table grows (it then shows the slots as they were).
        """
        import numpy as np
        return np.frombuffer(self.block, dtype=ORDER_DTYPE, count=self.top)
