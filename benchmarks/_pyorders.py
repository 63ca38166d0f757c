"""A plain pure-Python order state table: the peer of ``OrderTable.apply``.

This is the order book a Python shop would write: a dict from (session,
ClOrdID) to an order object with ``__slots__``, integer fixed-point
quantities and prices (no floats, no Decimal), one method per lifecycle step,
and one report tuple appended per event. Nothing here is deliberately slow,
and nothing is contorted for speed either.

It has the semantics of the fastcore table for the steps the benchmarks use:
new (Pending New, nothing reported), ack (New), fill (Partially Filled /
Filled, LastQty/LastPx, AvgPx rounded half to even), unsolicited cancel,
cancel request (its ClOrdID taken, nothing reported) and accepting it
(Canceled, the order now goes by the request's ClOrdID). Every fill is kept
on its order (for a later bust or correction), as the fastcore table does.
Not modelled (the benchmark streams never do it): OrdStatus by precedence
when states combine, e.g. a late fill completing a canceled order (fastcore
then reports Filled, this book Canceled).

``apply`` takes the rows of a COMMAND_DTYPE array as Python tuples
(``commands.tolist()``, converted outside the timed part), so the peer pays
nothing for numpy.
"""

# op codes: the values of fastcore.orders.table.OPS (checked by the benchmarks)
OP_NEW = 1
OP_ACK = 2
OP_FILL = 3
OP_CANCEL = 4
OP_CANCEL_REQUEST = 5
OP_ACCEPT_CANCEL = 6

# status codes, as the fastcore table's
OK = 0
E_UNKNOWN_ORDER = -1
E_DUPLICATE = -2
E_STATE = -3
E_NO_REQUEST = -4
E_QUANTITY = -5

# OrdStatus (39)
PENDING_NEW = b"A"
NEW = b"0"
PARTIAL = b"1"
FILLED = b"2"
CANCELED = b"4"
REJECTED = b"8"
DONE = (CANCELED, REJECTED)


class Order:
    __slots__ = ("order_id", "clordid", "session", "instrument", "side", "ord_type", "tif",
                 "order_qty", "price", "cum_qty", "notional", "status", "requests", "fills")

    def __init__(self, order_id, clordid, session, instrument, side, ord_type, tif, qty, px):
        self.order_id = order_id
        self.clordid = clordid
        self.session = session
        self.instrument = instrument
        self.side = side
        self.ord_type = ord_type
        self.tif = tif
        self.order_qty = qty
        self.price = px
        self.cum_qty = 0
        self.notional = 0
        self.status = PENDING_NEW
        self.requests = []          # ClOrdIDs of outstanding cancel requests, oldest first
        self.fills = []             # (exec_id, qty, px)

    def leaves(self):
        if self.status in DONE:
            return 0
        return self.order_qty - self.cum_qty if self.order_qty > self.cum_qty else 0

    def avg_px(self):
        cum = self.cum_qty
        if cum <= 0:
            return 0
        q, r = divmod(self.notional, cum)
        if 2 * r > cum or (2 * r == cum and q & 1):
            q += 1
        return q


class OrderBook:
    """Orders by (session, ClOrdID); ``reports`` holds the last batch's reports:
    (exec_type, ord_status, clordid, orig_clordid, order_id, exec_id,
    order_qty, cum_qty, leaves_qty, last_qty, last_px, avg_px)."""

    def __init__(self):
        self.orders = {}
        self.reports = []
        self.next_order_id = 0
        self.next_exec_id = 0

    def report(self, order, exec_type, last_qty=0, last_px=0, orig=None):
        self.next_exec_id += 1
        self.reports.append((exec_type, order.status, order.clordid, orig, order.order_id,
                             self.next_exec_id, order.order_qty, order.cum_qty, order.leaves(),
                             last_qty, last_px, order.avg_px()))
        return self.next_exec_id

    # ---- the steps --------------------------------------------------------------

    def new(self, session, clordid, instrument, side, ord_type, tif, qty, px):
        key = (session, clordid)
        if key in self.orders:
            return E_DUPLICATE
        self.next_order_id += 1
        self.orders[key] = Order(self.next_order_id, clordid, session, instrument, side,
                                 ord_type, tif, qty, px)
        return OK

    def ack(self, order):
        if order.status != PENDING_NEW:
            return E_STATE
        order.status = NEW
        self.report(order, b"0")
        return OK

    def fill(self, order, qty, px):
        if order.status in (PENDING_NEW, REJECTED):
            return E_STATE
        if qty <= 0 or qty > order.order_qty - order.cum_qty:
            return E_QUANTITY
        order.cum_qty += qty
        order.notional += qty * px
        if order.status not in DONE:
            order.status = FILLED if order.cum_qty >= order.order_qty else PARTIAL
        exec_id = self.report(order, b"F", qty, px)
        order.fills.append((exec_id, qty, px))
        return OK

    def cancel(self, order):
        if order.status in DONE or order.status == PENDING_NEW:
            return E_STATE
        order.requests.clear()
        order.status = CANCELED
        self.report(order, b"4")
        return OK

    def cancel_request(self, order, request):
        key = (order.session, request)
        if key in self.orders:
            return E_DUPLICATE
        if order.status in DONE:
            return E_STATE
        self.orders[key] = order
        order.requests.append(request)
        return OK

    def accept_cancel(self, order):
        if not order.requests:
            return E_NO_REQUEST
        orig = order.clordid
        order.clordid = order.requests[0]
        order.requests.clear()
        order.status = CANCELED
        self.report(order, b"4", orig=orig)
        return OK

    # ---- a batch ------------------------------------------------------------------

    def apply(self, commands):
        """Run COMMAND_DTYPE rows given as tuples; returns how many succeeded.
        The previous batch's reports are dropped first."""
        self.reports = []
        orders = self.orders
        ok = 0
        for (clordid, request, qty, px, _slot, instrument, session, op, side, ord_type, tif,
             _status) in commands:
            if op == OP_NEW:
                rc = self.new(session, clordid, instrument, side, ord_type, tif, qty, px)
            else:
                order = orders.get((session, clordid))
                if order is None:
                    rc = E_UNKNOWN_ORDER
                elif op == OP_FILL:
                    rc = self.fill(order, qty, px)
                elif op == OP_ACK:
                    rc = self.ack(order)
                elif op == OP_CANCEL:
                    rc = self.cancel(order)
                elif op == OP_CANCEL_REQUEST:
                    rc = self.cancel_request(order, request)
                elif op == OP_ACCEPT_CANCEL:
                    rc = self.accept_cancel(order)
                else:
                    rc = E_STATE
            if rc == OK:
                ok += 1
        return ok
