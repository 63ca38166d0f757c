"""A naive reference of ``fastcore.book.Book``, the price-time limit order book.

It follows the book's contract step by step, with clarity over speed: each
side is a plain list of resting orders, sorted on demand by price priority and
then arrival; orders waiting for the end of a halt are a list in arrival order.

Differences from the Cython book, all on the reading side:

* handles are consecutive ints from 1, one per accepted order, never reused;
* ``events()`` is a list of tuples
  ``(kind, reason, side, id, other, price, qty, leaves, other_leaves)``;
* ``depth()`` gives lists of ``(price, qty, count)``, ``top_updates()`` a list
  of ``(seq, bid, bid_qty, ask, ask_qty)``;
* there is no capacity limit (``capacity`` is accepted and ignored) and no
  batch ``apply``.

Where the contract leaves a detail open, the choice made here is stated in the
docstring of the method concerned.
"""

from __future__ import annotations

import dataclasses

from fastcore.errors import BookCorrupted

BUY, SELL = 1, 2
MARKET, LIMIT = 1, 2
DAY, GTC, IOC, FOK, GTD = 0, 1, 3, 4, 6
STP_NONE, STP_CANCEL_RESTING, STP_CANCEL_INCOMING, STP_CANCEL_BOTH = 0, 1, 2, 3
CANCEL_ON_HALT = 1

OK = 0
E_UNKNOWN, E_ARG, E_QTY, E_TICK, E_LOT = -1, -2, -3, -4, -5
E_MIN_QTY, E_MAX_QTY, E_BAND, E_HALTED, E_STATE, E_MEMORY = -6, -7, -8, -9, -10, -11

EV_FILL, EV_REST, EV_CANCEL, EV_MODIFY, EV_QUEUE = 1, 2, 3, 4, 5
R_USER, R_IOC, R_FOK, R_MARKET, R_STP, R_HALT = 1, 2, 3, 4, 5, 6

OP_NEW, OP_CANCEL, OP_REPLACE, OP_HALT, OP_RESUME = 1, 2, 3, 4, 5

SIDES = (BUY, SELL)
ORD_TYPES = (MARKET, LIMIT)
TIFS = (DAY, GTC, IOC, FOK, GTD)
STP_MODES = (STP_NONE, STP_CANCEL_RESTING, STP_CANCEL_INCOMING, STP_CANCEL_BOTH)

RULES = {
    E_UNKNOWN: "unknown", E_ARG: "arg", E_QTY: "qty", E_TICK: "tick", E_LOT: "lot",
    E_MIN_QTY: "min_qty", E_MAX_QTY: "max_qty", E_BAND: "band", E_HALTED: "halted",
    E_STATE: "state", E_MEMORY: "memory",
}

EVENT_FIELDS = ("kind", "reason", "side", "id", "other", "price", "qty", "leaves",
                "other_leaves")


@dataclasses.dataclass(slots=True, eq=False)
class Order:
    """An accepted order: resting, queued, or being matched."""

    handle: int
    id: int
    side: int
    price: int              # 0 for a market order
    leaves: int
    ord_type: int
    tif: int
    account: int
    stp: int
    flags: int
    arrival: int = 0        # time priority within the level, set when it rests


class Book:
    """One instrument's order book, by the contract of ``fastcore.book.Book``."""

    def __init__(self, tick=1, lot=1, min_qty=0, max_qty=0, band=0, ref_price=0,
                 queue_when_halted=False, capacity=1024):
        if tick <= 0 or lot <= 0:
            raise ValueError("tick and lot must be > 0")
        self.tick = tick
        self.lot = lot
        self.min_qty = min_qty
        self.max_qty = max_qty
        self.band = band
        self.ref_price = ref_price
        self.queue_when_halted = queue_when_halted
        self.halted = False
        self._book = {BUY: [], SELL: []}    # resting orders, in no particular order
        self._queue = []                    # orders waiting for resume(), arrival order
        self._live = {}                     # handle -> resting or queued Order
        self._events = []
        self._last_handle = 0
        self._last_arrival = 0
        self._seq = 0
        self._top = (0, 0, 0, 0)            # the last top-of-book record (empty book before any)
        self._top_updates = []

    def set_reference(self, price):
        """Change the band's reference price.

        Not an operation: it neither clears the events nor counts in ``seq``.
        """
        self.ref_price = price

    # ---- operations -------------------------------------------------------

    def new_order(self, id, side, price, qty, ord_type=LIMIT, tif=DAY, account=0,
                  stp=STP_NONE, flags=0):
        """Accept, queue or refuse an order; its handle if it rests or is queued, else 0.

        An ``stp`` outside the four modes is outside the contract: ValueError.
        """
        if stp not in STP_MODES:
            raise ValueError(f"stp {stp} is not one of the four modes")
        self._events = []
        status = self._check_new(side, price, qty, ord_type, tif)
        if status:
            return self._done(status)
        if ord_type == MARKET:
            price = 0
        self._last_handle += 1
        order = Order(self._last_handle, id, side, price, qty, ord_type, tif, account, stp,
                      flags)
        if self.halted:
            self._queue.append(order)
            self._live[order.handle] = order
            self._emit(EV_QUEUE, 0, order, qty=qty, leaves=qty)
            return self._done(order.handle)
        return self._done(self._take(order))

    def cancel_order(self, handle):
        """Cancel a resting or queued order: OK or E_UNKNOWN."""
        self._events = []
        order = self._live.get(handle)
        if order is None:
            return self._done(E_UNKNOWN)
        self._cancel(order, R_USER)
        return self._done(OK)

    def replace_order(self, handle, price, qty):
        """Change an order's price and leaves: its handle if it rests, 0 if it is gone.

        A queued order is known here (it is not E_UNKNOWN); a replace of it can
        only be refused, E_HALTED at the latest. Its price is checked against
        tick and band like any other, also for a queued market order.
        """
        self._events = []
        order = self._live.get(handle)
        if order is None:
            return self._done(E_UNKNOWN)
        status = self._check_replace(price, qty)
        if status:
            return self._done(status)
        if price == order.price and qty <= order.leaves:
            order.leaves = qty
            self._emit(EV_MODIFY, 0, order, qty=qty, leaves=qty)
            return self._done(order.handle)
        self._remove(order)
        order.price = price
        order.leaves = qty
        self._emit(EV_MODIFY, 0, order, qty=qty, leaves=qty)
        return self._done(self._match_and_rest(order))

    def halt(self):
        """Halt trading; cancel the CANCEL_ON_HALT orders. The number of events."""
        self._events = []
        if self.halted:
            return self._done(E_STATE)
        self.halted = True
        for side in SIDES:
            for order in self._in_priority(side):
                if order.flags & CANCEL_ON_HALT:
                    self._cancel(order, R_HALT)
        return self._done(len(self._events))

    def resume(self):
        """End a halt; match the queued orders in arrival order. The number of events."""
        self._events = []
        if not self.halted:
            return self._done(E_STATE)
        self.halted = False
        queue, self._queue = self._queue, []
        for order in queue:
            del self._live[order.handle]
            self._take(order)
        return self._done(len(self._events))

    # ---- reading ----------------------------------------------------------

    @property
    def nevents(self):
        return len(self._events)

    def events(self):
        """The events of the last operation, as tuples in EVENT_FIELDS order."""
        return list(self._events)

    @property
    def best_bid(self):
        bids = self._book[BUY]
        return max(o.price for o in bids) if bids else None

    @property
    def best_ask(self):
        asks = self._book[SELL]
        return min(o.price for o in asks) if asks else None

    @property
    def bid_qty(self):
        best = self.best_bid
        return 0 if best is None else self.level(BUY, best)[0]

    @property
    def ask_qty(self):
        best = self.best_ask
        return 0 if best is None else self.level(SELL, best)[0]

    def level(self, side, price):
        """(volume, count) of the orders resting on ``side`` at ``price``."""
        orders = [o for o in self._book[side] if o.price == price]
        return sum(o.leaves for o in orders), len(orders)

    def depth(self, n=10):
        """(bids, asks): lists of (price, qty, count), best first, up to n levels each."""
        sides = []
        for side in SIDES:
            levels = []
            for order in self._in_priority(side):
                if levels and levels[-1][0] == order.price:
                    price, qty, count = levels[-1]
                    levels[-1] = (price, qty + order.leaves, count + 1)
                else:
                    levels.append((order.price, order.leaves, 1))
            sides.append(levels[:n])
        return sides[0], sides[1]

    def top_updates(self):
        """The (seq, bid, bid_qty, ask, ask_qty) records since the last call.

        A record is made after an operation when the top of book differs from
        the last record made (whether or not it was read since); before the
        first record the comparison is with the empty book, (0, 0, 0, 0).
        """
        updates, self._top_updates = self._top_updates, []
        return updates

    def __len__(self):
        return len(self._book[BUY]) + len(self._book[SELL])

    def order(self, handle):
        """(id, side, price, leaves) of a resting or queued order, else None."""
        order = self._live.get(handle)
        if order is None:
            return None
        return order.id, order.side, order.price, order.leaves

    def validate(self):
        """Raise BookCorrupted if an invariant of the book is broken."""
        resting = self._book[BUY] + self._book[SELL]
        if any(o.leaves <= 0 for o in resting + self._queue):
            raise BookCorrupted("an order with no leaves is live")
        if sorted(o.handle for o in resting + self._queue) != sorted(self._live):
            raise BookCorrupted("the handle index does not match the orders")
        if self._queue and not self.halted:
            raise BookCorrupted("orders are queued outside a halt")
        bid, ask = self.best_bid, self.best_ask
        if bid is not None and ask is not None and bid >= ask:
            raise BookCorrupted(f"the book is crossed: bid {bid} >= ask {ask}")

    # ---- the rules --------------------------------------------------------

    def _check_new(self, side, price, qty, ord_type, tif):
        if side not in SIDES or ord_type not in ORD_TYPES or tif not in TIFS:
            return E_ARG
        if qty <= 0:
            return E_QTY
        if ord_type == LIMIT and price % self.tick != 0:
            return E_TICK
        if qty % self.lot != 0:
            return E_LOT
        if self.min_qty and qty < self.min_qty:
            return E_MIN_QTY
        if self.max_qty and qty > self.max_qty:
            return E_MAX_QTY
        if ord_type == LIMIT and self._out_of_band(price):
            return E_BAND
        if self.halted and not self.queue_when_halted:
            return E_HALTED
        return OK

    def _check_replace(self, price, qty):
        if qty <= 0:
            return E_QTY
        if price % self.tick != 0:
            return E_TICK
        if qty % self.lot != 0:
            return E_LOT
        if self.max_qty and qty > self.max_qty:
            return E_MAX_QTY
        if self._out_of_band(price):
            return E_BAND
        if self.halted:
            return E_HALTED
        return OK

    def _out_of_band(self, price):
        return bool(self.band) and abs(price - self.ref_price) > self.band

    # ---- matching ---------------------------------------------------------

    def _take(self, taker):
        """Match an incoming order: FOK check, match loop, remainder."""
        if taker.tif == FOK and self._fillable(taker) < taker.leaves:
            self._cancel(taker, R_FOK)
            return 0
        return self._match_and_rest(taker)

    def _match_and_rest(self, taker):
        """Steps 2 and 3 of matching: the taker's handle if it rests, else 0."""
        if not self._match(taker) or taker.leaves == 0:
            return 0
        if taker.ord_type == MARKET:
            self._cancel(taker, R_MARKET)
            return 0
        if taker.tif == IOC:
            self._cancel(taker, R_IOC)
            return 0
        self._rest(taker)
        return taker.handle

    def _fillable(self, taker):
        """The quantity the FOK check finds for ``taker``."""
        total = 0
        for maker in self._in_priority(self._opposite(taker.side)):
            if not self._crosses(taker, maker):
                break
            if self._self_trade(taker, maker):
                if taker.stp == STP_CANCEL_RESTING:
                    continue
                break
            total += maker.leaves
        return total

    def _match(self, taker):
        """Trade ``taker`` against the opposite side; False if STP canceled it."""
        while taker.leaves > 0:
            makers = self._in_priority(self._opposite(taker.side))
            if not makers or not self._crosses(taker, makers[0]):
                break
            maker = makers[0]
            if self._self_trade(taker, maker):
                if taker.stp == STP_CANCEL_RESTING:
                    self._cancel(maker, R_STP)
                    continue
                if taker.stp == STP_CANCEL_BOTH:
                    self._cancel(maker, R_STP)
                self._cancel(taker, R_STP)
                return False
            qty = min(taker.leaves, maker.leaves)
            taker.leaves -= qty
            maker.leaves -= qty
            self._emit(EV_FILL, 0, taker, other=maker.id, price=maker.price, qty=qty,
                       leaves=taker.leaves, other_leaves=maker.leaves)
            if maker.leaves == 0:
                self._remove(maker)
        return True

    @staticmethod
    def _crosses(taker, maker):
        if taker.ord_type == MARKET:
            return True
        if taker.side == BUY:
            return maker.price <= taker.price
        return maker.price >= taker.price

    @staticmethod
    def _self_trade(taker, maker):
        return taker.stp != STP_NONE and taker.account != 0 and maker.account == taker.account

    @staticmethod
    def _opposite(side):
        return SELL if side == BUY else BUY

    # ---- the book ---------------------------------------------------------

    def _in_priority(self, side):
        """The resting orders of ``side``: best price first, then oldest first."""
        if side == BUY:
            return sorted(self._book[BUY], key=lambda o: (-o.price, o.arrival))
        return sorted(self._book[SELL], key=lambda o: (o.price, o.arrival))

    def _rest(self, order):
        self._last_arrival += 1
        order.arrival = self._last_arrival
        self._book[order.side].append(order)
        self._live[order.handle] = order
        self._emit(EV_REST, 0, order, qty=order.leaves, leaves=order.leaves)

    def _cancel(self, order, reason):
        """CANCEL event for all of ``order``'s leaves; it leaves the book or queue."""
        self._emit(EV_CANCEL, reason, order, qty=order.leaves, leaves=0)
        self._remove(order)

    def _remove(self, order):
        if order in self._book[order.side]:
            self._book[order.side].remove(order)
        if order in self._queue:
            self._queue.remove(order)
        self._live.pop(order.handle, None)

    def _emit(self, kind, reason, order, *, qty, leaves, other=0, price=None,
              other_leaves=0):
        if price is None:
            price = order.price
        self._events.append((kind, reason, order.side, order.id, other, price, qty, leaves,
                             other_leaves))

    def _done(self, result):
        """End an operation: count it and record a change of the top of book."""
        self._seq += 1
        top = ()
        for side, best in ((BUY, self.best_bid), (SELL, self.best_ask)):
            top += (0, 0) if best is None else (best, self.level(side, best)[0])
        if top != self._top:
            self._top = top
            self._top_updates.append((self._seq, *top))
        return result
