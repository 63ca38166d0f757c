"""Differential test of ``fastcore.book.Book`` against the naive reference
(tests/reference/book.py): seeded random command streams run through both,
compared after every command.

* After every command: the kind of result (the same negative status, 0 on
  both, or a handle on both; a replace that keeps its order returns that
  order's handle; halt/resume/cancel return the same number), the full event
  list, best bid and ask and their volumes.
* Every ``CHECK_EVERY`` commands and at the end: the full depth, ``len``,
  ``order()`` of live orders, ``top_updates()``, and ``validate()``.
* The streams mix limit and market orders of every tif, STP accounts of
  every mode, cancels of live, dead and made-up handles, replaces (in place,
  increases, passive and marketable price moves), halts and resumes, reference
  price moves and occasional rule violations. Each run asserts that every
  event kind, cancel reason and refusal its configuration allows occurred.
* A recorded stream given to ``apply`` in one batch gives the per-call results
  and events; the same stream on fresh books gives identical results
  (handles included), events and top-of-book records.

Handles are opaque: the run keeps a (reference handle, fast handle) pair per
order.
"""

from __future__ import annotations

import collections
import dataclasses
import random

import numpy as np
import pytest

import fastcore.book as fast
from reference import book as ref

P, Q = 10**8, 10**4                      # PX_DIGITS, QTY_DIGITS
TICK, LOT = 25 * 10**6, 1 * Q            # 0.25, 1 lot
CHECK_EVERY = 64
DEPTH = 80                               # resting orders at which cancels are most frequent
MAX_LIVE = 300                           # resting + queued orders, well below the default capacity
JUNK_HANDLES = (0, -1, -7)
EVENT_FIELDS = list(ref.EVENT_FIELDS)

SIDES, TIFS, STP_MODES = ref.SIDES, ref.TIFS, ref.STP_MODES
KINDS = (ref.EV_FILL, ref.EV_REST, ref.EV_CANCEL, ref.EV_MODIFY, ref.EV_QUEUE)
REASONS = (ref.R_USER, ref.R_IOC, ref.R_FOK, ref.R_MARKET, ref.R_STP, ref.R_HALT)


@dataclasses.dataclass(frozen=True)
class Config:
    center: int                          # the price orders cluster around; the first ref_price
    queue_when_halted: bool = False
    band: int = 0
    min_qty: int = 0
    max_qty: int = 0
    move_reference: bool = True          # set_reference now and then (not in apply's streams)

    def book_kwargs(self):
        return dict(tick=TICK, lot=LOT, min_qty=self.min_qty, max_qty=self.max_qty,
                    band=self.band, ref_price=self.center,
                    queue_when_halted=self.queue_when_halted)


CONFIGS = {
    11: Config(100 * P, band=8 * TICK, min_qty=2 * LOT, max_qty=40 * LOT),
    12: Config(0, queue_when_halted=True),                     # prices on both sides of 0
    13: Config(4321 * P + TICK, queue_when_halted=True, band=7 * TICK, min_qty=2 * LOT),
    14: Config(-5 * P, band=10 * TICK, max_qty=30 * LOT),
}
COMMANDS_PER_SEED = 25_000


# ---- reading the fast book in the reference's terms ----------------------------------

def fast_events(book):
    events = book.events()
    assert len(events) == book.nevents
    return events[EVENT_FIELDS].tolist() if len(events) else []


def fast_depth(book):
    bids, asks = book.depth(10_000)
    return (bids[["price", "qty", "count"]].tolist(),
            asks[["price", "qty", "count"]].tolist())


def fast_top_updates(book):
    return book.top_updates()[["seq", "bid", "bid_qty", "ask", "ask_qty"]].tolist()


def top(book):
    return book.best_bid, book.bid_qty, book.best_ask, book.ask_qty


# ---- the run -----------------------------------------------------------------------

class Run:
    """One seeded stream through a fast book and the reference, compared as it goes.

    ``commands`` records the stream in fast handles (for ``apply`` and replays),
    ``results`` and ``events`` what the fast book answered to each command.
    """

    def __init__(self, seed, config):
        self.rng = random.Random(seed)
        self.config = config
        self.fast = fast.Book(**config.book_kwargs())
        self.ref = ref.Book(**config.book_kwargs())
        self.pairs = []                  # (reference handle, fast handle) of each handle issued
        self.live = []                   # indexes into pairs of orders believed live
        self.dead = []                   # indexes into pairs of orders known gone
        self.next_id = 1000
        self.n = 0
        self.commands = []
        self.results = []
        self.events = []
        self.top_updates = []
        self.coverage = collections.Counter()

    # -- generating commands --

    def next_command(self):
        rng, book = self.rng, self.ref
        r = rng.random()
        if r < 0.002:
            return ("resume",) if not book.halted else ("halt",)          # E_STATE
        if r < 0.004 and self.config.move_reference:
            return ("reference", self.config.center + rng.randint(-2, 2) * TICK)
        if book.halted:
            if r < 0.12:
                return ("resume",)
        elif r < 0.01:
            return ("halt",)
        crowded = 0.3 * min(1.0, len(book) / DEPTH)
        r = rng.random()
        if r < 0.06 + crowded or len(self.live) >= MAX_LIVE:
            return self.cancel()
        if r < 0.3 + crowded:
            return self.replace()
        return self.new()

    def price_near(self, side):
        offset = self.rng.randint(-8, 2) if side == ref.BUY else self.rng.randint(-2, 8)
        return self.config.center + offset * TICK

    def valid_qty(self):
        rng, config = self.rng, self.config
        lots = rng.choice((1, 1, 2, 2, 3, 4, 5, 6, 8, 10, 15, 25)) if rng.random() < 0.97 else 60
        qty = lots * LOT
        if config.min_qty:
            qty = max(qty, config.min_qty)
        if config.max_qty:
            qty = min(qty, config.max_qty)
        return qty

    def new(self):
        rng, config = self.rng, self.config
        self.next_id += 1
        side = rng.choice(SIDES)
        ord_type = ref.MARKET if rng.random() < 0.08 else ref.LIMIT
        tif = rng.choices(TIFS, weights=(35, 25, 15, 15, 10))[0]
        price = self.price_near(side)
        if ord_type == ref.MARKET and rng.random() < 0.5:
            price = rng.choice((0, 1, -TICK, 10**6 * P))           # ignored: not checked
        qty = self.valid_qty()
        account = rng.choice((0, 0, 1, 2, 3))
        stp = rng.choice(STP_MODES)
        flags = ref.CANCEL_ON_HALT if rng.random() < 0.3 else 0
        if rng.random() < 0.05:
            rule = rng.choice(("side", "ord_type", "tif", "qty", "tick", "lot", "min_qty",
                               "max_qty", "band"))
            if rule == "side":
                side = rng.choice((0, 3, 255))
            elif rule == "ord_type":
                ord_type = rng.choice((0, 3))
            elif rule == "tif":
                tif = rng.choice((2, 5, 7))
            elif rule == "qty":
                qty = rng.choice((0, -LOT))
            elif rule == "tick":
                price += rng.choice((1, TICK // 2, -7))
            elif rule == "lot":
                qty += rng.choice((1, LOT // 2))
            elif rule == "min_qty" and config.min_qty > LOT:
                qty = config.min_qty - LOT
            elif rule == "max_qty" and config.max_qty:
                qty = config.max_qty + LOT
            elif rule == "band" and config.band:
                price = self.ref.ref_price + rng.choice((-1, 1)) * (config.band + TICK)
        return ("new", self.next_id, side, price, qty, ord_type, tif, account, stp, flags)

    def pick_live(self):
        """An index into pairs of a live order, or None."""
        while self.live:
            i = self.rng.randrange(len(self.live))
            index = self.live[i]
            if self.ref.order(self.pairs[index][0]) is not None:
                return index
            self.live[i] = self.live[-1]
            self.live.pop()
            self.dead.append(index)
        return None

    def cancel(self):
        r = self.rng.random()
        if r < 0.8:
            index = self.pick_live()
            if index is not None:
                return ("cancel", index)
        if r < 0.95 and self.dead:
            return ("cancel", self.rng.choice(self.dead))
        return ("cancel", None, self.rng.choice(JUNK_HANDLES))

    def replace(self):
        rng, config = self.rng, self.config
        index = self.pick_live()
        if index is None or (self.dead and rng.random() < 0.03):
            if not self.dead:
                return self.new()
            return ("replace", rng.choice(self.dead), self.price_near(ref.BUY), self.valid_qty())
        _, side, price, leaves = self.ref.order(self.pairs[index][0])
        r = rng.random()
        if r < 0.25:                                               # in place
            qty = max(LOT, leaves - rng.randint(0, 3) * LOT)
        elif r < 0.4:                                              # grows
            qty = leaves + rng.randint(1, 4) * LOT
        elif r < 0.65:                                             # marketable move
            best = self.ref.best_ask if side == ref.BUY else self.ref.best_bid
            through = rng.randint(0, 2) * TICK
            if best is None:
                price = self.price_near(side)
            else:
                price = best + through if side == ref.BUY else best - through
            qty = self.valid_qty()
        else:                                                      # anywhere
            price = self.price_near(side)
            qty = self.valid_qty() if rng.random() < 0.7 else leaves
        if rng.random() < 0.05:
            rule = rng.choice(("qty", "tick", "lot", "max_qty", "band", "min_qty"))
            if rule == "qty":
                qty = rng.choice((0, -LOT))
            elif rule == "tick":
                price += TICK // 5
            elif rule == "lot":
                qty += LOT // 4
            elif rule == "max_qty" and config.max_qty:
                qty = config.max_qty + LOT
            elif rule == "band" and config.band:
                price = self.ref.ref_price - config.band - TICK
            elif rule == "min_qty" and config.min_qty > LOT:
                qty = config.min_qty - LOT                         # allowed on a replace
        return ("replace", index, price, qty)

    # -- running a command on both books --

    def step(self, command):
        op = command[0]
        if op == "reference":
            self.ref.set_reference(command[1])
            self.fast.set_reference(command[1])
            return
        self.n += 1
        if op == "new":
            _, id, side, price, qty, ord_type, tif, account, stp, flags = command
            args = (id, side, price, qty, ord_type, tif, account, stp, flags)
            r = self.ref.new_order(*args)
            f = self.fast.new_order(*args)
            self.record(ref.OP_NEW, id=id, side=side, price=price, qty=qty, ord_type=ord_type,
                        tif=tif, account=account, stp=stp, flags=flags)
            if r > 0 and f > 0:
                self.live.append(len(self.pairs))
                self.pairs.append((r, f))
        elif op == "cancel":
            rh, fh = self.pairs[command[1]] if command[1] is not None else (command[2],) * 2
            r = self.ref.cancel_order(rh)
            f = self.fast.cancel_order(fh)
            self.record(ref.OP_CANCEL, handle=fh)
        elif op == "replace":
            _, index, price, qty = command
            rh, fh = self.pairs[index]
            r = self.ref.replace_order(rh, price, qty)
            f = self.fast.replace_order(fh, price, qty)
            self.record(ref.OP_REPLACE, handle=fh, price=price, qty=qty)
            assert r in (rh, 0) or r < 0, (self.n, command, r)
            assert f in (fh, 0) or f < 0, (self.n, command, "the handle changed", f, fh)
        elif op == "halt":
            r, f = self.ref.halt(), self.fast.halt()
            self.record(ref.OP_HALT)
        else:
            r, f = self.ref.resume(), self.fast.resume()
            self.record(ref.OP_RESUME)
        events = self.ref.events()
        self.results.append(f)
        self.events.append(fast_events(self.fast))
        where = (self.n, command)
        if op in ("new", "replace"):
            assert (r > 0) == (f > 0) and (r > 0 or r == f), (where, r, f)
        else:
            assert r == f, (where, r, f)
        assert self.events[-1] == events, where
        assert top(self.fast) == top(self.ref), where
        self.count(command, r, events)
        if self.n % CHECK_EVERY == 0:
            self.check()

    def record(self, op, **fields):
        self.commands.append(dict(fields, op=op))

    def check(self):
        """The whole book, the live orders and the top-of-book records agree."""
        self.fast.validate()
        self.ref.validate()
        assert len(self.fast) == len(self.ref), self.n
        assert fast_depth(self.fast) == self.ref.depth(10_000), self.n
        updates = fast_top_updates(self.fast)
        assert updates == self.ref.top_updates(), self.n
        self.top_updates += updates
        for rh, fh in self.pairs[-CHECK_EVERY:]:
            assert self.fast.order(fh) == self.ref.order(rh), (self.n, rh, fh)
        for side, price in ((ref.BUY, self.ref.best_bid), (ref.SELL, self.ref.best_ask)):
            if price is not None:
                assert self.fast.level(side, price) == self.ref.level(side, price), self.n

    def finish(self):
        self.check()
        for rh, fh in self.pairs:
            assert self.fast.order(fh) == self.ref.order(rh), (rh, fh)

    def run(self, n):
        while self.n < n:
            self.step(self.next_command())
        self.finish()
        return self

    # -- coverage --

    def count(self, command, result, events):
        c = self.coverage
        if result < 0:
            c[("status", result)] += 1
        for kind, reason, *_ in events:
            c[("kind", kind)] += 1
            if reason:
                c[("reason", reason)] += 1
        kinds = [e[0] for e in events]
        stp = [e for e in events if e[1] == ref.R_STP]
        if command[0] == "replace" and kinds[:1] == [ref.EV_MODIFY]:
            c["replace in place" if kinds == [ref.EV_MODIFY] and result > 0 else
              "replace trades" if ref.EV_FILL in kinds else "replace rests"] += 1
        if command[0] == "resume" and ref.EV_FILL in kinds:
            c["resume trades"] += 1
        if command[0] == "new" and command[6] == ref.FOK and ref.EV_FILL in kinds:
            c["fok fills"] += 1
        if command[0] == "new" and command[5] == ref.MARKET and command[3] % TICK:
            c["market price ignored" if result >= 0 else "market refused"] += 1
        if stp and command[0] in ("new", "replace"):
            taker = command[1] if command[0] == "new" else events[0][3]
            mine = [e[3] == taker for e in stp]
            c["stp " + ("both" if mine[-1] and len(mine) > 1 else
                        "incoming" if mine[-1] else "resting")] += 1

    def assert_coverage(self):
        config = self.config
        expected = {("kind", k) for k in KINDS if k != ref.EV_QUEUE or config.queue_when_halted}
        expected |= {("reason", r) for r in REASONS}
        statuses = {ref.E_UNKNOWN, ref.E_ARG, ref.E_QTY, ref.E_TICK, ref.E_LOT, ref.E_HALTED,
                    ref.E_STATE}
        statuses |= {ref.E_MIN_QTY} if config.min_qty else set()
        statuses |= {ref.E_MAX_QTY} if config.max_qty else set()
        statuses |= {ref.E_BAND} if config.band else set()
        expected |= {("status", s) for s in statuses}
        expected |= {"replace in place", "replace trades", "replace rests", "fok fills",
                     "market price ignored", "stp resting", "stp incoming", "stp both"}
        if config.queue_when_halted:
            expected.add("resume trades")
        missing = expected - set(self.coverage)
        assert not missing, missing


# ---- tests -------------------------------------------------------------------------

def test_constants_agree():
    names = ["BUY", "SELL", "MARKET", "LIMIT", "DAY", "GTC", "IOC", "FOK", "GTD",
             "STP_NONE", "STP_CANCEL_RESTING", "STP_CANCEL_INCOMING", "STP_CANCEL_BOTH",
             "CANCEL_ON_HALT", "E_UNKNOWN", "E_ARG", "E_QTY", "E_TICK", "E_LOT", "E_MIN_QTY",
             "E_MAX_QTY", "E_BAND", "E_HALTED", "E_STATE", "E_MEMORY",
             "EV_FILL", "EV_REST", "EV_CANCEL", "EV_MODIFY", "EV_QUEUE",
             "R_USER", "R_IOC", "R_FOK", "R_MARKET", "R_STP", "R_HALT",
             "OP_NEW", "OP_CANCEL", "OP_REPLACE", "OP_HALT", "OP_RESUME"]
    assert {n: getattr(fast, n) for n in names} == {n: getattr(ref, n) for n in names}
    for code in (ref.E_TICK, ref.E_LOT, ref.E_MIN_QTY, ref.E_MAX_QTY, ref.E_BAND, ref.E_HALTED):
        assert fast.RULES[code] == ref.RULES[code]
    assert set(fast.EVENT_DTYPE.names) == set(EVENT_FIELDS)
    assert set(fast.COMMAND_DTYPE.names) == {"id", "handle", "price", "qty", "result",
                                             "account", "op", "side", "ord_type", "tif",
                                             "stp", "flags"}


@pytest.mark.parametrize("seed", sorted(CONFIGS))
def test_random_streams_agree_with_the_reference(seed):
    run = Run(seed, CONFIGS[seed]).run(COMMANDS_PER_SEED)
    run.assert_coverage()


def commands_array(commands):
    array = np.zeros(len(commands), dtype=fast.COMMAND_DTYPE)
    for row, command in zip(array, commands):
        for name, value in command.items():
            row[name] = value
    return array


def replay(commands):
    """Results, events and top-of-book records of commands run one call at a time."""
    book = fast.Book(**APPLY_CONFIG.book_kwargs())
    results, events = [], []
    for c in commands:
        op = c["op"]
        if op == ref.OP_NEW:
            results.append(book.new_order(c["id"], c["side"], c["price"], c["qty"],
                                          c["ord_type"], c["tif"], c["account"], c["stp"],
                                          c["flags"]))
        elif op == ref.OP_CANCEL:
            results.append(book.cancel_order(c["handle"]))
        elif op == ref.OP_REPLACE:
            results.append(book.replace_order(c["handle"], c["price"], c["qty"]))
        elif op == ref.OP_HALT:
            results.append(book.halt())
        else:
            results.append(book.resume())
        events.append(fast_events(book))
    return results, events, fast_top_updates(book), fast_depth(book)


APPLY_CONFIG = Config(50 * P, queue_when_halted=True, band=8 * TICK, min_qty=2 * LOT,
                      max_qty=40 * LOT, move_reference=False)


@pytest.fixture(scope="module")
def recorded():
    """A stream run per call beside the reference, as the fast book answered it."""
    run = Run(21, APPLY_CONFIG).run(6_000)
    run.top_updates += fast_top_updates(run.fast)
    return run


def test_apply_gives_the_per_call_results_and_events(recorded):
    commands = commands_array(recorded.commands)
    book = fast.Book(**APPLY_CONFIG.book_kwargs())
    total = book.apply(commands)
    assert commands["result"].tolist() == recorded.results
    assert total == book.nevents == sum(map(len, recorded.events))
    assert fast_events(book) == [e for events in recorded.events for e in events]
    assert fast_top_updates(book) == recorded.top_updates
    assert fast_depth(book) == fast_depth(recorded.fast)
    book.validate()


def test_the_same_stream_gives_the_same_results(recorded):
    first = replay(recorded.commands)
    second = replay(recorded.commands)
    assert first == second
    assert first[:3] == (recorded.results, recorded.events, recorded.top_updates)
    again = commands_array(recorded.commands)
    fast.Book(**APPLY_CONFIG.book_kwargs()).apply(again)
    assert again["result"].tolist() == recorded.results
