"""Invariants of the order state engine (``Engine`` in worked mode), tested
through its public Python API only: FIX bytes in through ``submit``, desk
commands as methods, ExecutionReports parsed back, ``Engine.orders()`` read.

* ``TestOrderInvariants``: a hypothesis state machine (derandomized profile of
  conftest.py) over a few orders of client PM1 on ESZ6. Its rules send D, F, G
  and H messages, telephone orders in, and issue desk commands, valid ones and
  any command at random on any order. The machine keeps its own model of each
  order (fills, quantities, state bits, outstanding requests, ClOrdIDs) and
  checks, after every step, every report and the order table against it:

  - CumQty (14) is the sum of the live (not busted) fills, corrections
    included, and the table's cum_qty agrees;
  - LeavesQty (151) is OrderQty − CumQty while working, 0 once canceled,
    expired, rejected or done for day (a GT order done for day keeps it);
  - OrdStatus (39) is the state of highest FIX precedence held, and the
    table's ``state`` bitmask is exactly the model's;
  - AvgPx (6) is the exact quantity-weighted average of the live fills,
    rounded half-even to 8 decimals;
  - ExecIDs (17) are unique over the run, an order's OrderID (37) never
    changes;
  - a command either changes the order and reports it, or raises
    CommandRefused naming the order and its state, and then nothing changed
    (no output, the table byte for byte the same, a status request reports
    the same state);
  - a canceled, rejected or expired order changes only by busts, corrections
    and late fills up to OrderQty (on a canceled or expired order: the
    engine's contract, see tests/test_engine.py); the engine itself answers
    a cancel/replace request for it with OrderCancelReject 102=0;
  - replaying the run's inputs into a fresh Engine gives the same bytes
    (in teardown; ``test_replay_is_byte_identical`` on a fixed script too).

* Minimal reproducers of the engine bugs the machine found (one test each).

* ``test_command_matrix``: every desk command on an order prepared in each of
  a set of states either reports (with consistent reports) or is refused with
  a reason naming the order and its state, leaving the table unchanged; the
  pairs FIX 4.4 Appendix D rules out are refused.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import note, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fastcore.codec import Encoder, parse
from fastcore.engine import Engine
from harness import ALONE
from fastcore.errors import CommandRefused
from fastcore.orders import STATE_NAMES, state_names

from fixmsg import format_fixed, ns

CLIENT = "PM1"
SYMBOL = "ESZ6"
QTY_DIGITS, PX_DIGITS = 4, 8
Q, P = 10**QTY_DIGITS, 10**PX_DIGITS
T0 = ns(2026, 11, 23, 14, 30)
STEP_NS = 1_000_000
TRANSACT_TIME = "20261123-14:30:00.000"
F_LIVE = 16                       # flags bit of a slot in use (OrderTable.view)

# The state bits of the ``state`` column, by name (documented order of
# fastcore.orders.STATE_NAMES, the bit order of states.pxd).
assert len(STATE_NAMES) == 11
BIT = {name: 1 << i for i, name in enumerate(STATE_NAMES)}
PN, NEW, REJ = BIT["Pending New"], BIT["New"], BIT["Rejected"]
PART, EXP, CAN = BIT["Partially Filled"], BIT["Expired"], BIT["Canceled"]
STOP, FILL, DFD = BIT["Stopped"], BIT["Filled"], BIT["Done for Day"]
PR, PC = BIT["Pending Replace"], BIT["Pending Cancel"]
DONE = REJ | EXP | CAN

# FIX 4.4 Volume 4, Appendix D: OrdStatus precedence (higher wins).
PRECEDENCE = {            # state: (OrdStatus, precedence)
    "Pending Cancel": ("6", 12), "Pending Replace": ("E", 11), "Done for Day": ("3", 10),
    "Filled": ("2", 8), "Stopped": ("7", 7), "Canceled": ("4", 5), "Expired": ("C", 5),
    "Partially Filled": ("1", 4), "New": ("0", 2), "Rejected": ("8", 2),
    "Pending New": ("A", 2),
}

PRICES = ["100", "100.25", "99.75", "101.12345678", "98.00000001", "100.00000003"]

ORDER_COMMANDS = [
    "pending_new", "ack", "reject", "fill", "done_for_day", "pending_cancel",
    "accept_cancel", "reject_cancel", "pending_replace", "accept_replace",
    "reject_replace", "cancel", "restate", "stop", "bust", "correct", "expire",
]
REQUEST_COMMANDS = {      # command: (request kind, what it does)
    "pending_cancel": ("F", "pending"), "accept_cancel": ("F", "accept"),
    "reject_cancel": ("F", "reject"), "pending_replace": ("G", "pending"),
    "accept_replace": ("G", "accept"), "reject_replace": ("G", "reject"),
}


def status_of(bits: int) -> str:
    """The OrdStatus FIX gives a set of states: the one of highest precedence
    (two states of the same precedence at once is an error)."""
    held = [name for name in PRECEDENCE if bits & BIT[name]]
    assert held, f"no state held (bits {bits:#x})"
    top = max(PRECEDENCE[name][1] for name in held)
    tops = [name for name in held if PRECEDENCE[name][1] == top]
    assert len(tops) == 1, f"states of equal precedence held at once: {tops}"
    return PRECEDENCE[tops[0]][0]


def dec(v: int, digits: int) -> Decimal:
    return Decimal(v).scaleb(-digits)


def qty_fx(text: str) -> int:
    return int(Decimal(text).scaleb(QTY_DIGITS))


def px_fx(text: str) -> int:
    return int(Decimal(text).scaleb(PX_DIGITS))


def fields(data: bytes) -> dict[int, str]:
    return {tag: value.decode("latin-1") for tag, value in parse(data).to_dict().items()}


# ---- the model ---------------------------------------------------------------------


@dataclasses.dataclass
class Fill:
    exec_id: str              # ExecID of the Trade report
    qty: int                  # fixed point, QTY_DIGITS
    px: Fraction              # the exact price
    px_fixed: int             # the price as the engine holds it (PX_DIGITS)
    ref: str                  # ExecID of the latest report about it (fill or correction)
    live: bool = True


@dataclasses.dataclass
class Request:
    cl: str
    kind: str                 # "F" cancel, "G" replace
    qty: int
    px: int
    tif: str
    on: str | None = None     # OrigClOrdID, when it named a request (a chained request)
    pending: bool = False


@dataclasses.dataclass
class Order:
    name: str                 # what desk commands call it
    cur: str | None           # the ClOrdID it goes by
    carried: list[str]        # every ClOrdID it has carried (requests included)
    order_id: str
    qty: int
    price: int
    tif: str
    cancel_on_halt: bool
    telephoned: bool
    last_day: int             # the trading day of its last report
    bits: int = PN
    pn_sent: bool = False
    fills: list[Fill] = dataclasses.field(default_factory=list)
    requests: list[Request] = dataclasses.field(default_factory=list)

    @property
    def gt(self) -> bool:
        return self.tif in ("1", "6")

    @property
    def done(self) -> bool:
        return bool(self.bits & DONE)

    @property
    def cum(self) -> int:
        return sum(f.qty for f in self.fills if f.live)

    @property
    def leaves(self) -> int:
        return self.leaves_of(self.qty)

    def leaves_of(self, qty: int) -> int:
        if self.done or (self.bits & DFD and not self.gt):
            return 0
        return max(qty - self.cum, 0)

    @property
    def avg_px(self) -> Decimal:
        live = [f for f in self.fills if f.live]
        cum = sum(f.qty for f in live)
        if not cum:
            return Decimal(0)
        avg = sum((f.qty * f.px for f in live), Fraction(0)) / cum
        return dec(round(avg * P), PX_DIGITS)        # round(): half to even

    def settle(self) -> None:
        self.bits &= ~(PART | FILL)
        if self.cum > 0:
            self.bits |= FILL if self.cum >= self.qty else PART

    def repend(self) -> None:
        self.bits &= ~(PC | PR)
        for r in self.requests:
            if r.pending:
                self.bits |= PC if r.kind == "F" else PR

    def end(self, state: int) -> None:
        """Canceled / Expired: the fills stay, everything else goes."""
        self.requests.clear()
        self.bits = (self.bits & (PART | FILL)) | state

    def find_request(self, kind: str, cl: str | None) -> Request | None:
        for r in self.requests:
            if r.kind == kind and (cl is None or r.cl == cl):
                return r
        return None

    def find_fill(self, exec_id: str) -> Fill | None:
        for f in self.fills:
            if f.exec_id == exec_id or f.ref == exec_id:
                return f if f.live else None
        return None


# ---- the state machine -------------------------------------------------------------


class OrderMachine(RuleBasedStateMachine):
    """Worked-mode engine against a model of its orders."""

    MAX_ORDERS = 6

    def __init__(self):
        super().__init__()
        self.engine = Engine({**ALONE, "mode": "worked"})
        self.encoder = Encoder(CLIENT, "FASTCORE")
        self.seq = 0
        self.now = T0
        self.log: list[tuple] = []            # every input and what came out
        self.active: dict[str, Order] = {}    # by name, in creation order
        self.released: dict[str, Order] = {}
        self.exec_ids: set[str] = set()
        self.order_ids: dict[str, str] = {}   # OrderID → order name
        self.counter = 0
        self.day = 0
        self.halted = False
        self.halts = 0
        self.splits = 0

    # ---- talking to the engine ----------------------------------------------------

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def submit(self, msg_type: str, body: list) -> list[dict[int, str]]:
        self.seq += 1
        self.now += STEP_NS
        data = self.encoder.encode(msg_type, body, self.seq, self.now)
        out = self.engine.submit(data, CLIENT, self.now)
        self.log.append(("submit", data, self.now, out))
        assert all(to == CLIENT for to, _ in out), out
        return [fields(d) for _, d in out]

    def command(self, name: str, *args, **kw):
        """(reports, None) or (None, CommandRefused)."""
        self.now += STEP_NS
        try:
            out = getattr(self.engine, name)(*args, now=self.now, **kw)
        except CommandRefused as exc:
            self.log.append(("cmd", name, args, kw, self.now, ("refused", str(exc))))
            note(f"{name}{args}{kw}: refused: {exc}")
            return None, exc
        self.log.append(("cmd", name, args, kw, self.now, out))
        assert all(to == CLIENT for to, _ in out), out
        msgs = [fields(d) for _, d in out]
        note(f"{name}{args}{kw}: {[(m.get(150, m[35]), m.get(39)) for m in msgs]}")
        return msgs, None

    def rows(self):
        view = self.engine.orders()
        return view[(view["flags"] & F_LIVE) != 0]

    # ---- checking reports ----------------------------------------------------------

    def new_exec_id(self, m: dict[int, str]) -> str:
        e = m.get(17)
        assert e, f"ExecutionReport without ExecID: {m}"
        assert e not in self.exec_ids, f"ExecID {e} reused: {m}"
        self.exec_ids.add(e)
        return e

    def check_er(self, o: Order, m: dict[int, str], exec_type: str, *, cl="cur",
                 no_order_id=False, qty=None) -> str:
        """An ExecutionReport about ``o`` as the model has it now; returns its ExecID.
        ``qty``: the OrderQty it reports, when not the order's."""
        qty = o.qty if qty is None else qty
        where = f"{o.name} ({state_names(o.bits)}): {m}"
        assert m[35] == "8", where
        assert m.get(150) == exec_type, f"ExecType {m.get(150)}, expected {exec_type}: {where}"
        e = self.new_exec_id(m)
        if no_order_id:
            assert m.get(37) == "NONE", where
        else:
            assert m.get(37) == o.order_id, f"OrderID changed: {where}"
        want_cl = o.cur if cl == "cur" else cl
        if want_cl is not None:
            assert m.get(11) == want_cl, f"ClOrdID {m.get(11)}, expected {want_cl}: {where}"
        assert m.get(39) == status_of(o.bits), f"OrdStatus {m.get(39)}, expected " \
            f"{status_of(o.bits)}: {where}"
        assert Decimal(m[14]) == dec(o.cum, QTY_DIGITS), f"CumQty, expected {o.cum}: {where}"
        assert Decimal(m[151]) == dec(o.leaves_of(qty), QTY_DIGITS), \
            f"LeavesQty, expected {dec(o.leaves_of(qty), QTY_DIGITS)}: {where}"
        assert Decimal(m[6]) == o.avg_px, f"AvgPx, expected {o.avg_px}: {where}"
        assert Decimal(m[38]) == dec(qty, QTY_DIGITS), f"OrderQty: {where}"
        assert Decimal(m[44]) == dec(o.price, PX_DIGITS), f"Price: {where}"
        assert m[59] == o.tif and m[55] == SYMBOL and m[54] == "1", where
        return e

    def check_cxl_reject(self, o: Order | None, m: dict[int, str], cl: str, orig: str,
                         kind: str, reason: int | None) -> None:
        where = f"{o.name if o else '?'}: {m}"
        assert m[35] == "9", where
        assert 17 not in m, where
        assert m.get(37) == (o.order_id if o else "NONE"), where
        assert m.get(11) == cl and m.get(41) == orig, where
        assert m.get(39) == (status_of(o.bits) if o else "8"), where
        assert m.get(434) == ("1" if kind == "F" else "2"), where
        if reason is None:
            assert 102 not in m, where
        else:
            assert m.get(102) == str(reason), where

    def status_check(self, o: Order) -> None:
        """An OrderStatusRequest answered with the order as the model has it."""
        if o.cur is None:
            return
        out = self.submit("H", [(11, o.cur), (55, SYMBOL), (54, "1")])
        assert len(out) == 1, out
        self.check_er(o, out[0], "I")       # (a status reply keeps no order alive)

    # ---- the invariants against the table ----------------------------------------

    @invariant()
    def table_matches_model(self):
        rows = self.rows()
        by_id = {str(r["order_id"]): r for r in rows}
        assert len(by_id) == len(rows) == len(self.active), \
            f"table holds {sorted(by_id)}, model {[o.order_id for o in self.active.values()]}"
        for o in self.active.values():
            r = by_id.get(o.order_id)
            assert r is not None, f"order {o.name} ({o.order_id}) missing from the table"
            assert int(r["state"]) == o.bits, \
                f"{o.name}: table state {state_names(int(r['state']))}, " \
                f"model {state_names(o.bits)}"
            status_of(int(r["state"]))
            assert int(r["cum_qty"]) == o.cum, f"{o.name}: cum_qty {r['cum_qty']} != {o.cum}"
            assert int(r["order_qty"]) == o.qty, f"{o.name}: order_qty"
            assert int(r["price"]) == o.price, f"{o.name}: price"
            assert r["tif"].decode() == o.tif, f"{o.name}: tif"
        for o in self.released.values():
            assert o.order_id not in by_id

    def teardown(self):
        """Replaying the inputs into a fresh engine gives the same bytes."""
        if not self.log:
            return
        engine = Engine({**ALONE, "mode": "worked"})
        for entry in self.log:
            if entry[0] == "submit":
                _, data, now, out = entry
                assert engine.submit(data, CLIENT, now) == out, "replay differs"
            else:
                _, name, args, kw, now, out = entry
                try:
                    got = getattr(engine, name)(*args, now=now, **kw)
                except CommandRefused as exc:
                    got = ("refused", str(exc))
                assert got == out, f"replay of {name}{args} differs: {got} != {out}"

    # ---- picking ------------------------------------------------------------------

    def pick(self, i: int, pool=None) -> Order:
        pool = list(self.active.values()) if pool is None else pool
        return pool[i % len(pool)]

    def has(self, pred) -> bool:
        return any(pred(o) for o in self.active.values())

    def creating(self) -> bool:
        return len(self.active) < self.MAX_ORDERS and self.counter < 60

    # ---- client messages ------------------------------------------------------------

    @precondition(lambda self: self.creating())
    @rule(qty=st.integers(1, 12), px=st.sampled_from(PRICES), tif=st.sampled_from("01"),
          k=st.booleans())
    def new_order(self, qty, px, tif, k):
        cl = self.fresh("C")
        body = [(11, cl), (55, SYMBOL), (54, "1"), (60, TRANSACT_TIME), (38, qty),
                (40, "2"), (44, px), (59, tif)]
        if k:
            body.append((18, "K"))
        known = {str(r["order_id"]) for r in self.rows()}
        out = self.submit("D", body)
        assert out == [], f"a new order is answered by the desk, not the engine: {out}"
        new = [str(r["order_id"]) for r in self.rows() if str(r["order_id"]) not in known]
        assert len(new) == 1, new
        assert new[0] not in self.order_ids, f"OrderID {new[0]} reused"
        o = Order(cl, cl, [cl], new[0], qty * Q, px_fx(px), tif, k, False, self.day)
        self.active[cl] = o
        self.order_ids[o.order_id] = cl

    @precondition(lambda self: self.creating())
    @rule(qty=st.integers(1, 12), px=st.sampled_from(PRICES), tif=st.sampled_from("01"),
          with_cl=st.integers(0, 9))
    def telephone(self, qty, px, tif, with_cl):
        name = self.fresh("T")
        cl = f"TC{self.counter}" if with_cl % 2 else None
        in_use = [c for o in self.active.values() for c in o.carried]
        if with_cl == 8 and in_use:           # the ClOrdID of another order
            table_before = self.engine.orders().tobytes()
            out, exc = self.command("telephoned", name, SYMBOL, "1", str(qty), px,
                                    clordid=in_use[qty % len(in_use)], tif=tif)
            assert exc is not None and exc.state is None and exc.why, (out, exc)
            assert self.engine.orders().tobytes() == table_before
            return
        out, exc = self.command("telephoned", name, SYMBOL, "1", str(qty), px, clordid=cl,
                                tif=tif)
        assert exc is None, exc
        assert len(out) == 1, out
        o = Order(name, cl, [cl] if cl else [], out[0].get(37), qty * Q, px_fx(px), tif,
                  False, True, self.day, bits=NEW)
        assert o.order_id not in self.order_ids, f"OrderID {o.order_id} reused"
        self.check_er(o, out[0], "0")
        self.active[name] = o
        self.order_ids[o.order_id] = name

    @precondition(lambda self: self.has(lambda o: o.carried))
    @rule(i=st.integers(0, 99), j=st.integers(0, 99), qty=st.integers(1, 12))
    def duplicate_new(self, i, j, qty):
        """A NewOrderSingle reusing a ClOrdID the order carries (or carried)."""
        o = self.pick(i, [o for o in self.active.values() if o.carried])
        cl = o.carried[j % len(o.carried)]
        out = self.submit("D", [(11, cl), (55, SYMBOL), (54, "1"), (60, TRANSACT_TIME),
                                (38, qty), (40, "2"), (44, "100"), (59, "0")])
        assert len(out) == 1, out
        m = out[0]
        o.last_day = self.day
        # The reject echoes the ClOrdID of the message it rejects.
        if o.telephoned:
            assert m.get(103) == "7" and m.get(39) == "8", m
            assert m.get(150) == "8" and m.get(37) == "NONE", m
            assert Decimal(m[14]) == 0 and Decimal(m[151]) == 0 and Decimal(m[38]) == qty, m
            self.new_exec_id(m)
            assert m.get(11) == cl, f"duplicate reject names ClOrdID {m.get(11)}, sent {cl}"
        else:
            assert m.get(103) == "6", m
            self.check_er(o, m, "8", cl=cl, no_order_id=True)

    def request_outcome(self, o: Order, orig: str, dup: bool):
        """What the engine does with a cancel/replace request: None (it waits
        for the desk) or the CxlRejReason it answers with by itself."""
        if orig not in o.carried:
            return 1             # unknown order (none, or one released at a day's end)
        if dup:
            return 6             # the request's ClOrdID is in use
        if o.done:
            return 0             # too late
        if orig == o.cur or any(r.cl == orig for r in o.requests):
            return None
        return 99                # OrigClOrdID names an older ClOrdID of the order

    def pick_orig(self, o: Order, j: int) -> str:
        gone = [cl for x in self.released.values() for cl in x.carried][:2]
        choices = ([o.cur] * 4 + [r.cl for r in o.requests] * 2 + o.carried + ["NOPE"]
                   + gone)
        return choices[j % len(choices)]

    def pick_dup(self, j: int) -> str:
        pool = [cl for x in self.active.values() for cl in x.carried]
        return pool[j % len(pool)]

    def request(self, kind: str, o: Order, orig: str, dup: int, extra: list,
                new: tuple) -> None:
        """Send an F or G (``dup``: its ClOrdID one in use, picked by it)."""
        cl = self.pick_dup(dup) if dup else self.fresh(kind)
        out = self.submit(kind, [(11, cl), (41, orig), (55, SYMBOL), (54, "1")] + extra
                          + [(60, TRANSACT_TIME)])
        reason = self.request_outcome(o, orig, dup)
        if reason is None:
            assert out == [], f"{kind} {cl} on {o.name} is the desk's to answer: {out}"
            o.requests.append(Request(cl, kind, *new, None if orig == o.cur else orig))
            o.carried.append(cl)
            return
        assert len(out) == 1, out
        self.check_cxl_reject(o if reason != 1 else None, out[0], cl, orig, kind, reason)

    @precondition(lambda self: self.has(lambda o: o.cur))
    @rule(i=st.integers(0, 99), j=st.integers(0, 99),
          dup=st.integers(0, 99).map(lambda d: d if d % 10 == 1 else 0))
    def cancel_request(self, i, j, dup):
        o = self.pick(i, [o for o in self.active.values() if o.cur])
        self.request("F", o, self.pick_orig(o, j), dup,
                     [(38, format_fixed(o.qty, QTY_DIGITS))], (o.qty, o.price, o.tif))

    @precondition(lambda self: self.has(lambda o: o.cur))
    @rule(i=st.integers(0, 99), j=st.integers(0, 99),
          dup=st.integers(0, 99).map(lambda d: d if d % 10 == 1 else 0),
          qty=st.integers(1, 14), px=st.sampled_from(PRICES), tif=st.sampled_from("001"))
    def replace_request(self, i, j, dup, qty, px, tif):
        o = self.pick(i, [o for o in self.active.values() if o.cur])
        self.request("G", o, self.pick_orig(o, j), dup,
                     [(38, qty), (40, "2"), (44, px), (59, tif)], (qty * Q, px_fx(px), tif))

    @precondition(lambda self: self.has(lambda o: o.carried))
    @rule(i=st.integers(0, 99), j=st.integers(0, 99))
    def status_request(self, i, j):
        o = self.pick(i, [o for o in self.active.values() if o.carried])
        gone = [cl for x in self.released.values() for cl in x.carried]
        if j % 8 == 7:                          # no such order (or released)
            cl = gone[j % len(gone)] if gone and j % 16 == 15 else "NOPE"
            out = self.submit("H", [(11, cl), (55, SYMBOL), (54, "1")])
            assert len(out) == 1, out
            m = out[0]
            assert m[35] == "8" and m.get(150) == "I" and m.get(39) == "8", m
            assert m.get(37) == "NONE" and m.get(103) == "5" and m.get(11) == cl, m
            assert Decimal(m[14]) == 0 and Decimal(m[151]) == 0, m
            self.new_exec_id(m)
            return
        cl = o.carried[j % len(o.carried)]
        out = self.submit("H", [(11, cl), (55, SYMBOL), (54, "1")])
        assert len(out) == 1, out
        self.check_er(o, out[0], "I")       # (a status reply keeps no order alive)

    # ---- desk commands ------------------------------------------------------------

    def order_names(self, o: Order) -> list[str]:
        return [o.name] + [cl for cl in o.carried if cl != o.name]

    def exec_choices(self, o: Order) -> list[str]:
        mine = [e for f in o.fills for e in (f.exec_id, f.ref)]
        others = [f.exec_id for x in self.active.values() if x is not o for f in x.fills]
        return mine * 3 + others[:2] + ["999999"]

    def draw_args(self, data, command: str, o: Order):
        """Arguments for ``command`` on ``o``: mostly plausible, sometimes not."""
        qty = lambda: str(data.draw(st.integers(-1, 14), label="qty"))
        px = lambda: data.draw(st.sampled_from(PRICES), label="px")
        if command in REQUEST_COMMANDS:
            reqs = [r.cl for r in o.requests]
            which = data.draw(st.sampled_from([None, None] + reqs + o.carried[:1]),
                              label="request")
            kw = {} if which is None else {"request": which}
            if REQUEST_COMMANDS[command][1] == "reject":
                reason = data.draw(st.sampled_from([None, 0, 3, 99]), label="reason")
                if reason is not None:
                    kw["reason"] = reason
            return (), kw
        if command in ("fill", "stop"):
            return (qty(), px()), {}
        if command == "restate":
            kw = {}
            if data.draw(st.booleans(), label="with qty"):
                kw["qty"] = qty()
            if data.draw(st.booleans(), label="with px"):
                kw["px"] = px()
            return (data.draw(st.sampled_from([1, 2, 3, 5]), label="reason"),), kw
        if command in ("bust", "correct"):
            exec_id = data.draw(st.sampled_from(self.exec_choices(o)), label="exec_id")
            if command == "bust":
                return (exec_id,), {}
            kw = {}
            if data.draw(st.booleans(), label="with qty"):
                kw["qty"] = qty()
            if data.draw(st.booleans(), label="with px"):
                kw["px"] = px()
            return (exec_id,), kw
        if command == "reject":
            return (), ({"reason": 99} if data.draw(st.booleans(), label="reason") else {})
        return (), {}

    def desk(self, command: str, o: Order, order_arg: str, args=(), kw=None) -> None:
        kw = kw or {}
        released = o.name in self.released
        table_before = self.engine.orders().tobytes()
        out, exc = self.command(command, order_arg, *args, **kw)
        if exc is not None:
            assert exc.command == command and exc.order == order_arg, repr(exc)
            assert exc.why, repr(exc)
            if released:
                assert exc.state is None, f"{exc} for a released order"
            else:
                assert exc.state == state_names(o.bits), \
                    f"refusal names state {exc.state!r}, the order is {state_names(o.bits)}"
                assert order_arg in str(exc) and exc.state in str(exc), str(exc)
            assert self.engine.orders().tobytes() == table_before, \
                f"refused {command} changed the table"
            if not released:
                self.status_check(o)
            return
        assert not released, f"{command} acted on a released order {o.name}: {out}"
        assert out, f"{command} on {o.name} succeeded and reported nothing"
        # Late fills: the engine's contract (tests/test_engine.py, REFUSALS
        # "fill-expired") takes them on canceled and on expired orders.
        allowed_done = command in ("bust", "correct") or (
            command == "fill" and not o.bits & REJ)
        assert not o.done or allowed_done, \
            f"{command} {args} {kw} changed the {state_names(o.bits)} order {o.name}: {out}"
        self.apply(command, o, args, kw, out)

    def apply(self, command: str, o: Order, args, kw, out) -> None:
        """The model follows a command the engine carried out, and checks the report."""
        o.last_day = self.day
        assert len(out) == 1, f"{command}: one report expected, got {out}"
        m = out[0]
        if command in REQUEST_COMMANDS:
            kind, what = REQUEST_COMMANDS[command]
            r = o.find_request(kind, kw.get("request"))
            assert r is not None, f"{command} {kw} done, the model has no such request"
            if what == "pending":
                assert not r.pending, f"{command}: {r.cl} was already pending"
                r.pending = True
                o.repend()
                # a replace chained on one not yet granted reports the quantities
                # of the order that one would make (README of appendix_d, D.2.b)
                on = next((x for x in o.requests if x.cl == r.on and x.kind == "G"), None)
                qty = max(on.qty, o.cum) if kind == "G" and on is not None else None
                self.check_er(o, m, "6" if kind == "F" else "E", cl=r.cl, qty=qty)
                assert m.get(41) == o.cur, m
            elif what == "reject":
                o.requests.remove(r)
                o.repend()
                self.check_cxl_reject(o, m, r.cl, o.cur, kind, kw.get("reason"))
            elif kind == "F":
                old = o.cur
                o.cur = r.cl
                o.end(CAN)
                self.check_er(o, m, "4")
                assert m.get(41) == old, m
            else:
                old = o.cur
                o.qty = max(r.qty, o.cum)
                o.price = r.px
                o.tif = r.tif
                o.cur = r.cl
                o.requests.remove(r)
                o.repend()
                o.settle()
                self.check_er(o, m, "5")
                assert m.get(41) == old, m
            return
        if command == "pending_new":
            assert o.bits & PN and not o.pn_sent, f"pending_new on {state_names(o.bits)}"
            o.pn_sent = True
            self.check_er(o, m, "A")
        elif command == "ack":
            assert o.bits & PN, f"ack on {state_names(o.bits)}"
            o.bits = (o.bits & ~PN) | NEW
            self.check_er(o, m, "0")
        elif command == "reject":
            assert o.cum == 0, f"reject of an order with CumQty {o.cum}"
            o.requests.clear()
            o.bits = REJ
            self.check_er(o, m, "8")
            assert m.get(103) == str(kw.get("reason", 0)), m
        elif command == "fill":
            q, p = qty_fx(args[0]), px_fx(args[1])
            assert 0 < q <= o.qty - o.cum, f"fill of {args[0]}: OrderQty {o.qty}, CumQty {o.cum}"
            o.fills.append(Fill("?", q, Fraction(p, P), p, "?"))
            o.settle()
            e = self.check_er(o, m, "F")
            o.fills[-1].exec_id = o.fills[-1].ref = e
            assert qty_fx(m[32]) == q and px_fx(m[31]) == p, m
        elif command == "done_for_day":
            assert not o.bits & DFD
            o.bits |= DFD
            self.check_er(o, m, "3")
        elif command == "cancel":
            o.end(CAN)
            self.check_er(o, m, "4")
        elif command == "expire":
            o.end(EXP)
            self.check_er(o, m, "C")
        elif command == "restate":
            if "qty" in kw and qty_fx(kw["qty"]) > 0:
                o.qty = max(qty_fx(kw["qty"]), o.cum)
            if "px" in kw:
                o.price = px_fx(kw["px"])
            o.settle()
            self.check_er(o, m, "D")
            assert m.get(378) == str(args[0]), m
        elif command == "stop":
            q, p = qty_fx(args[0]), px_fx(args[1])
            assert 0 < q <= o.leaves, f"stop of {args[0]}, LeavesQty {o.leaves}"
            o.bits |= STOP
            self.check_er(o, m, "7")
            assert qty_fx(m[32]) == q and px_fx(m[31]) == p, m
        elif command == "bust":
            f = o.find_fill(args[0])
            assert f is not None, f"bust of {args[0]}: no such live execution on {o.name}"
            f.live = False
            o.settle()
            self.check_er(o, m, "H")
            assert m.get(19) == f.ref, f"ExecRefID {m.get(19)}, expected {f.ref}: {m}"
        elif command == "correct":
            f = o.find_fill(args[0])
            assert f is not None, f"correct of {args[0]}: no such live execution on {o.name}"
            q = qty_fx(kw["qty"]) if "qty" in kw else f.qty
            assert q > 0 and o.cum - f.qty + q <= o.qty, f"correct to {q}"
            if "px" in kw:
                f.px_fixed = px_fx(kw["px"])
                f.px = Fraction(f.px_fixed, P)
            f.qty = q
            o.settle()
            e = self.check_er(o, m, "G")
            assert m.get(19) == f.ref, f"ExecRefID {m.get(19)}, expected {f.ref}: {m}"
            assert qty_fx(m[32]) == q and px_fx(m[31]) == f.px_fixed, m
            f.ref = e
        else:
            raise AssertionError(f"no model for {command}")

    @precondition(lambda self: self.active or self.released)
    @rule(data=st.data(), command=st.sampled_from(ORDER_COMMANDS), i=st.integers(0, 99),
          j=st.integers(0, 99))
    def any_command(self, data, command, i, j):
        """Any command, on any order (a released one now and then), mostly
        with plausible arguments: valid or not, the engine must hold."""
        pool = list(self.active.values())
        if self.released and (not pool or i % 7 == 0):
            pool = list(self.released.values())
        o = self.pick(i, pool)
        names = self.order_names(o)
        self.desk(command, o, names[j % len(names)], *self.draw_args(data, command, o))

    @precondition(lambda self: self.has(lambda o: o.bits & PN))
    @rule(i=st.integers(0, 99), first=st.booleans())
    def acknowledge(self, i, first):
        o = self.pick(i, [o for o in self.active.values() if o.bits & PN])
        if first and not o.pn_sent:
            self.desk("pending_new", o, o.name)
        self.desk("ack", o, o.name)

    @precondition(lambda self: self.has(lambda o: o.qty > o.cum and not o.bits & (PN | REJ)))
    @rule(i=st.integers(0, 99), part=st.integers(1, 4), px=st.sampled_from(PRICES))
    def fill(self, i, part, px):
        o = self.pick(i, [o for o in self.active.values()
                          if o.qty > o.cum and not o.bits & (PN | REJ)])
        open_qty = (o.qty - o.cum) // Q
        q = max(1, open_qty * part // 4) if open_qty else 1
        self.desk("fill", o, o.name, (format_fixed(q * Q if open_qty else o.qty - o.cum,
                                                   QTY_DIGITS), px))

    @precondition(lambda self: self.has(lambda o: o.requests))
    @rule(i=st.integers(0, 99), j=st.integers(0, 99), action=st.sampled_from(
        ["pending", "pending", "accept", "accept", "reject"]))
    def answer_request(self, i, j, action):
        o = self.pick(i, [o for o in self.active.values() if o.requests])
        r = o.requests[j % len(o.requests)]
        command = f"{action}_{'cancel' if r.kind == 'F' else 'replace'}"
        self.desk(command, o, o.name, (), {"request": r.cl})

    @precondition(lambda self: self.has(lambda o: any(f.live for f in o.fills)))
    @rule(i=st.integers(0, 99), j=st.integers(0, 99), bust=st.booleans(),
          qty=st.integers(1, 6), px=st.sampled_from(PRICES))
    def bust_or_correct(self, i, j, bust, qty, px):
        o = self.pick(i, [o for o in self.active.values() if any(f.live for f in o.fills)])
        live = [f for f in o.fills if f.live]
        f = live[j % len(live)]
        e = f.ref if j % 2 else f.exec_id
        if bust:
            self.desk("bust", o, o.name, (e,))
        else:
            self.desk("correct", o, o.name, (e,), {"qty": str(qty), "px": px})

    @precondition(lambda self: self.has(lambda o: not o.done))
    @rule(i=st.integers(0, 99), command=st.sampled_from(
        ["done_for_day", "cancel", "expire", "stop", "restate", "reject"]))
    def end_or_change(self, i, command):
        o = self.pick(i, [o for o in self.active.values() if not o.done])
        if command == "stop":
            self.desk("stop", o, o.name, ("1", "100"))
        elif command == "restate":
            self.desk("restate", o, o.name, (3,), {"qty": format_fixed(o.qty + Q, QTY_DIGITS)})
        else:
            self.desk(command, o, o.name)

    # ---- day and instrument --------------------------------------------------------

    def global_command(self, command: str, *args):
        table_before = self.engine.orders().tobytes()
        out, exc = self.command(command, *args)
        if exc is not None:
            assert exc.why and exc.command == command, repr(exc)
            assert self.engine.orders().tobytes() == table_before
        return out, exc

    def check_each(self, touched: dict[str, tuple[Order, str]], out) -> None:
        """One report per touched order (by OrderID)."""
        got = {m.get(37): m for m in out}
        assert len(got) == len(out) and set(got) == set(touched), \
            f"reports for {sorted(got)}, expected {sorted(touched)}"
        for oid, (o, exec_type) in touched.items():
            self.check_er(o, got[oid], exec_type)

    @precondition(lambda self: self.day < 3)
    @rule()
    def new_day(self):
        out, exc = self.global_command("new_day")
        assert exc is None, exc
        touched = {}
        for name, o in list(self.active.items()):
            finished = (o.bits & (DONE | FILL) and not o.requests) or (
                o.bits & DFD and not o.gt)
            if finished:
                if o.last_day < self.day:
                    del self.active[name]
                    self.released[name] = o
            elif o.bits & FILL:
                pass                        # filled, a request outstanding: nothing expires
            elif not o.gt:
                o.end(EXP)
                o.last_day = self.day
                touched[o.order_id] = (o, "C")
            else:
                o.bits &= ~DFD
        self.check_each(touched, out)
        self.day += 1

    @precondition(lambda self: self.halts < 4)
    @rule()
    def halt_or_resume(self):
        self.halts += 1
        if self.halted:
            out, exc = self.global_command("resume", SYMBOL)
            assert exc is None and out == [], (out, exc)
            self.halted = False
            out, exc = self.global_command("resume", SYMBOL)
            assert exc is not None and exc.state is None, (out, exc)
            return
        out, exc = self.global_command("halt", SYMBOL)
        assert exc is None, exc
        self.halted = True
        touched = {}
        for o in self.active.values():
            if o.cancel_on_halt and not o.done and not o.bits & (PN | FILL):   # as an unsolicited cancel
                o.end(CAN)
                o.last_day = self.day
                touched[o.order_id] = (o, "4")
        self.check_each(touched, out)
        for m in out:
            assert m.get(378) == "6", m
        out, exc = self.global_command("halt", SYMBOL)
        assert exc is not None and exc.state is None, (out, exc)

    @precondition(lambda self: self.splits < 2)
    @rule(ratio=st.sampled_from(["2", "3:2"]))
    def split(self, ratio):
        num, den = (int(x) for x in ratio.split(":")) if ":" in ratio else (int(ratio), 1)
        out, exc = self.global_command("split", SYMBOL, ratio)
        assert exc is None, exc
        self.splits += 1
        touched = {}
        for o in self.active.values():
            if not o.gt or o.done:
                continue
            o.qty = o.qty * num // den
            o.price = o.price * den // num
            for f in o.fills:
                f.qty = f.qty * num // den
                f.px = f.px * den / num                 # exactly: the value stays
                f.px_fixed = f.px_fixed * den // num
            for r in o.requests:
                r.qty = r.qty * num // den
                r.px = r.px * den // num
            o.settle()
            o.last_day = self.day
            touched[o.order_id] = (o, "D")
        self.check_each(touched, out)
        for m in out:
            assert m.get(378) == "0", m


TestOrderInvariants = OrderMachine.TestCase
TestOrderInvariants.settings = settings(
    settings.get_profile("fastcore"), max_examples=200, stateful_step_count=40)


# ---- determinism -------------------------------------------------------------------


def _script(engine: Engine) -> list:
    """A fixed conversation touching most commands; every output, in order."""
    enc = Encoder(CLIENT, "FASTCORE")
    out, now, seq = [], T0, 0

    def send(mt, body):
        nonlocal now, seq
        now += STEP_NS
        seq += 1
        out.append(engine.submit(enc.encode(mt, body + [(60, TRANSACT_TIME)], seq, now),
                                 CLIENT, now))

    def act(name, *args, **kw):
        nonlocal now
        now += STEP_NS
        try:
            out.append(getattr(engine, name)(*args, now=now, **kw))
        except CommandRefused as exc:
            out.append(str(exc))

    order = [(55, SYMBOL), (54, "1"), (40, "2"), (44, "100.25")]
    send("D", [(11, "A"), (38, 10), (59, "1"), (18, "K")] + order)
    send("D", [(11, "B"), (38, 7), (59, "0")] + order)
    act("pending_new", "A")
    act("ack", "A")
    act("ack", "B")
    act("fill", "A", "3", "101.12345678")
    act("fill", "A", "2", "98.00000001")
    send("G", [(11, "A2"), (41, "A"), (38, 12), (59, "1")] + order)
    act("pending_replace", "A")
    act("fill", "A", "1", "100")
    act("accept_replace", "A")
    act("correct", "A", "5", "3", "99")
    act("bust", "A", "6")
    act("stop", "B", "2", "100")
    act("done_for_day", "A")
    act("done_for_day", "B")
    send("F", [(11, "B2"), (41, "B"), (38, 7)] + order[:2])
    act("split", SYMBOL, "2")
    act("new_day")
    act("new_day")
    act("halt", SYMBOL)
    act("ack", "A")
    send("H", [(11, "A2"), (55, SYMBOL), (54, "1")])
    send("H", [(11, "B"), (55, SYMBOL), (54, "1")])
    act("telephoned", "T", SYMBOL, "1", "5", "100", clordid="TC")
    send("D", [(11, "TC"), (38, 5), (59, "0")] + order)
    return out


def test_replay_is_byte_identical():
    first, second = _script(Engine({**ALONE, "mode": "worked"})), _script(Engine({**ALONE, "mode": "worked"}))
    assert first == second
    assert sum(len(x) for x in first if isinstance(x, list)) > 15


# ---- engine bugs the machine found: minimal reproducers --------------------------


def _send(engine: Engine, seq: int, msg_type: str, body: list) -> list[dict[int, str]]:
    data = Encoder(CLIENT, "FASTCORE").encode(
        msg_type, body + [(60, TRANSACT_TIME)], seq, T0 + seq * STEP_NS)
    return [fields(d) for _, d in engine.submit(data, CLIENT, T0 + seq * STEP_NS)]


LIMIT_100 = [(55, SYMBOL), (54, "1"), (40, "2"), (44, "100")]


def test_split_takes_a_ratio_written_with_a_colon():
    """``Engine.split`` documents ratios "2", "3:2" and "1.5", but "3:2" gets
    to ``Fraction("3", "2")``, which raises TypeError (not even CommandRefused)."""
    engine = Engine({**ALONE, "mode": "worked"})
    _send(engine, 1, "D", [(11, "G"), (38, 10), (59, "1")] + LIMIT_100)
    engine.ack("G", now=T0)
    (_to, data), = engine.split(SYMBOL, "3:2", now=T0)
    m = fields(data)
    assert (m[150], m[378], Decimal(m[38]), Decimal(m[151])) == ("D", "0", 15, 15)


def test_duplicate_new_order_reject_names_the_clordid_sent():
    """A NewOrderSingle reusing a ClOrdID an order carried before (here the
    original ClOrdID of a replaced order) is rejected as a duplicate, but the
    reject carries the order's current ClOrdID (11=Y) instead of the one the
    client sent (11=X): the client takes it for a reject of its live order Y."""
    engine = Engine({**ALONE, "mode": "worked"})
    _send(engine, 1, "D", [(11, "X"), (38, 10), (59, "0")] + LIMIT_100)
    engine.ack("X", now=T0)
    _send(engine, 2, "G", [(11, "Y"), (41, "X"), (38, 12), (59, "0")] + LIMIT_100)
    engine.accept_replace("X", now=T0)
    m, = _send(engine, 3, "D", [(11, "X"), (38, 5), (59, "0")] + LIMIT_100)
    assert (m[150], m[103], m[37]) == ("8", "6", "NONE")
    assert m[11] == "X"


def test_released_telephoned_order_cannot_be_worked():
    """After ``new_day`` releases a telephoned order, its name still finds
    the freed slot (the slot keeps its OrderID): desk commands act on it and
    report an order that is no longer in the table."""
    engine = Engine({**ALONE, "mode": "worked"})
    engine.telephoned("T", SYMBOL, "1", "10", "100", now=T0)
    engine.new_day(now=T0)                   # the day order expires
    engine.new_day(now=T0)                   # ... and is released
    rows = engine.orders()
    assert not (rows["flags"] & F_LIVE).any()
    before = engine.orders().tobytes()
    with pytest.raises(CommandRefused) as exc:
        engine.fill("T", "4", "100", now=T0)      # reported as a fill today
    assert exc.value.state is None and "no such order" in str(exc.value)
    assert engine.orders().tobytes() == before


def test_avg_px_exact_after_split_and_bust():
    """A split keeps the order's notional but truncates each fill's price to
    8 decimals; busting (or correcting) that fill later takes the truncated
    value off the notional and leaves a residue in every later AvgPx."""
    engine = Engine({**ALONE, "mode": "worked"})
    _send(engine, 1, "D", [(11, "G"), (38, 1), (59, "1")] + LIMIT_100)
    engine.ack("G", now=T0)
    (_to, data), = engine.fill("G", "1", "98.00000001", now=T0)
    exec_id = fields(data)[17]
    engine.split(SYMBOL, "2", now=T0)           # the fill: 2 at 49.000000005
    engine.bust("G", exec_id, now=T0)
    (_to, data), = engine.fill("G", "1", "100", now=T0)
    m = fields(data)
    assert (Decimal(m[14]), Decimal(m[6])) == (1, 100)   # engine: 6=100.00000001


def test_chained_pending_replace_on_a_day_order_done_for_day_has_no_leaves():
    """A Pending Replace for a replace chained on one not yet granted reports
    the quantities that one would give (D.2.b), but computes LeavesQty as
    OrderQty − CumQty even on a day order done for the day, where it is 0."""
    engine = Engine({**ALONE, "mode": "worked"})
    _send(engine, 1, "D", [(11, "X"), (38, 10), (59, "0")] + LIMIT_100)
    engine.ack("X", now=T0)
    engine.done_for_day("X", now=T0)
    _send(engine, 2, "G", [(11, "Y"), (41, "X"), (38, 12), (59, "0")] + LIMIT_100)
    _send(engine, 3, "G", [(11, "Z"), (41, "Y"), (38, 8), (59, "0")] + LIMIT_100)
    (_to, data), = engine.pending_replace("X", "Y", now=T0)
    assert (fields(data)[150], Decimal(fields(data)[151])) == ("E", 0)
    (_to, data), = engine.pending_replace("X", "Z", now=T0)
    m = fields(data)
    assert (m[150], m[39], Decimal(m[38])) == ("E", "E", 12)
    assert Decimal(m[151]) == 0                               # engine: 12


# ---- every command in every state ------------------------------------------------


class Prepared:
    """A fresh engine with one order "X" (ESZ6 buy 10 @ 100, ExecInst K),
    brought to a state by a recipe of steps."""

    def __init__(self, recipe: str):
        self.engine = Engine({**ALONE, "mode": "worked"})
        self.enc = Encoder(CLIENT, "FASTCORE")
        self.seq = 0
        self.now = T0
        self.fill_ids: list[str] = []
        self.name = "X"
        for step in RECIPES[recipe][1]:
            self.step(step)

    def send(self, mt, body):
        self.seq += 1
        self.now += STEP_NS
        return self.engine.submit(self.enc.encode(mt, body, self.seq, self.now), CLIENT,
                                  self.now)

    def step(self, step):
        kind, *args = step
        if kind == "D":
            self.send("D", [(11, "X"), (55, SYMBOL), (54, "1"), (60, TRANSACT_TIME),
                            (38, 10), (40, "2"), (44, "100"), (59, args[0]), (18, "K")])
        elif kind in "FG":
            body = [(11, args[0]), (41, "X"), (55, SYMBOL), (54, "1"), (38, args[1])]
            if kind == "G":
                body += [(40, "2"), (44, "100"), (59, "0")]
            assert self.send(kind, body + [(60, TRANSACT_TIME)]) == []
        elif kind == "telephoned":
            self.now += STEP_NS
            self.engine.telephoned("X", SYMBOL, "1", "10", "100", clordid="TX", now=self.now)
        else:
            self.now += STEP_NS
            out = getattr(self.engine, kind)(*args, now=self.now)
            if kind == "fill":
                self.fill_ids.append(fields(out[0][1])[17])

    def row(self):
        rows = self.engine.orders()
        return rows[(rows["flags"] & F_LIVE) != 0][0]


RECIPES = {             # name: (the states it leaves X in, steps)
    "pending new": ("Pending New", [("D", "0")]),
    "pending new reported": ("Pending New", [("D", "0"), ("pending_new", "X")]),
    "new": ("New", [("D", "0"), ("ack", "X")]),
    "new, GT": ("New", [("D", "1"), ("ack", "X")]),
    "partially filled": ("New, Partially Filled",
                         [("D", "0"), ("ack", "X"), ("fill", "X", "4", "100")]),
    "filled": ("New, Filled", [("D", "0"), ("ack", "X"), ("fill", "X", "10", "100")]),
    "done for day": ("New, Partially Filled, Done for Day",
                     [("D", "0"), ("ack", "X"), ("fill", "X", "4", "100"),
                      ("done_for_day", "X")]),
    "done for day, GT": ("New, Partially Filled, Done for Day",
                         [("D", "1"), ("ack", "X"), ("fill", "X", "4", "100"),
                          ("done_for_day", "X")]),
    "filled, done for day": ("New, Filled, Done for Day",
                             [("D", "0"), ("ack", "X"), ("fill", "X", "10", "100"),
                              ("done_for_day", "X")]),
    "stopped": ("New, Stopped", [("D", "0"), ("ack", "X"), ("stop", "X", "5", "100")]),
    "cancel requested": ("New", [("D", "0"), ("ack", "X"), ("F", "Y", 10)]),
    "pending cancel": ("New, Pending Cancel",
                       [("D", "0"), ("ack", "X"), ("F", "Y", 10), ("pending_cancel", "X")]),
    "replace requested": ("New", [("D", "0"), ("ack", "X"), ("G", "Y", 12)]),
    "pending replace": ("New, Pending Replace",
                        [("D", "0"), ("ack", "X"), ("G", "Y", 12), ("pending_replace", "X")]),
    "pending cancel and replace": (
        "New, Partially Filled, Pending Replace, Pending Cancel",
        [("D", "0"), ("ack", "X"), ("fill", "X", "4", "100"), ("G", "Y", 12),
         ("pending_replace", "X"), ("F", "Z", 10), ("pending_cancel", "X")]),
    "pending new, pending cancel": ("Pending New, Pending Cancel",
                                    [("D", "0"), ("F", "Y", 10), ("pending_cancel", "X")]),
    "canceled": ("Canceled", [("D", "0"), ("ack", "X"), ("cancel", "X")]),
    "partially filled, canceled": ("Partially Filled, Canceled",
                                   [("D", "0"), ("ack", "X"), ("fill", "X", "4", "100"),
                                    ("cancel", "X")]),
    "rejected": ("Rejected", [("D", "0"), ("reject", "X")]),
    "expired": ("Expired", [("D", "0"), ("ack", "X"), ("expire", "X")]),
    "partially filled, expired": ("Partially Filled, Expired",
                                  [("D", "0"), ("ack", "X"), ("fill", "X", "4", "100"),
                                   ("expire", "X")]),
    "telephoned": ("New", [("telephoned",)]),
}

# Desk commands and their arguments; "<fill>" is the order's first ExecID.
MATRIX_COMMANDS = {
    "pending_new": (), "ack": (), "reject": (), "fill": ("1", "100"),
    "done_for_day": (), "pending_cancel": (), "accept_cancel": (), "reject_cancel": (),
    "pending_replace": (), "accept_replace": (), "reject_replace": (), "cancel": (),
    "restate": (4, "8"), "stop": ("1", "100"), "bust": ("<fill>",),
    "correct": ("<fill>", "2", "101"), "expire": (),
}
EXEC_TYPES = {          # what a command reports: ExecType (150), or 35=9
    "pending_new": "A", "ack": "0", "reject": "8", "fill": "F", "done_for_day": "3",
    "pending_cancel": "6", "accept_cancel": "4", "reject_cancel": "9",
    "pending_replace": "E", "accept_replace": "5", "reject_replace": "9", "cancel": "4",
    "restate": "D", "stop": "7", "bust": "H", "correct": "G", "expire": "C",
    "halt": "4", "new_day": "C", "split": "D",
}
GLOBAL_COMMANDS = {"halt": (SYMBOL,), "resume": (SYMBOL,), "new_day": (),
                   "split": (SYMBOL, "2")}


def _must_refuse(command: str, bits: int, cum: int, pn_sent: bool, has: dict) -> bool:
    """The pairs FIX 4.4 Appendix D (and the engine's own contract) rule out."""
    if bits & REJ:
        return True                        # a rejected order has nothing left to act on
    if bits & (CAN | EXP) and command not in ("bust", "correct", "fill"):
        return True                        # late fills: see OrderMachine.desk
    if command == "ack":
        return not bits & PN
    if command == "pending_new":
        return not bits & PN or pn_sent
    if command in ("fill", "cancel", "restate", "stop", "done_for_day") and bits & PN:
        return True
    if command == "reject":
        return cum > 0
    if command in REQUEST_COMMANDS:
        return not has[REQUEST_COMMANDS[command][0]]
    if command in ("bust", "correct"):
        return cum == 0
    return False


@pytest.mark.parametrize("command", list(MATRIX_COMMANDS) + list(GLOBAL_COMMANDS))
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_command_matrix(recipe, command):
    p = Prepared(recipe)
    before = p.row().copy()
    table_before = p.engine.orders().tobytes()
    bits, cum = int(before["state"]), int(before["cum_qty"])
    states, steps = RECIPES[recipe]
    assert state_names(bits) == states
    has = {k: any(s[0] == k for s in steps) for k in "FG"}
    pn_sent = any(s[0] == "pending_new" for s in steps)
    p.now += STEP_NS
    if command in GLOBAL_COMMANDS:
        args = GLOBAL_COMMANDS[command]
    else:
        args = ("X",) + tuple((p.fill_ids[0] if p.fill_ids else "1") if a == "<fill>" else a
                              for a in MATRIX_COMMANDS[command])
    try:
        out = getattr(p.engine, command)(*args, now=p.now)
    except CommandRefused as exc:
        assert exc.command == command and exc.why, repr(exc)
        if command not in GLOBAL_COMMANDS:
            assert exc.order == "X" and exc.state == state_names(bits), repr(exc)
            assert "X" in str(exc) and state_names(bits) in str(exc), str(exc)
        assert p.engine.orders().tobytes() == table_before, f"refused {command} changed X"
        # ... and a status request reports the same state
        cl = "TX" if recipe == "telephoned" else "X"
        (_to, data), = p.send("H", [(11, cl), (55, SYMBOL), (54, "1")])
        assert fields(data)[39] == status_of(bits)
        return
    if command not in GLOBAL_COMMANDS:
        assert out, f"{command} on {recipe} succeeded and reported nothing"
        assert not _must_refuse(command, bits, cum, pn_sent, has), \
            f"{command} accepted on a {state_names(bits)} order: " \
            f"{[fields(d) for _, d in out]}"
    after = p.engine.orders()
    live = after[(after["flags"] & F_LIVE) != 0]
    for _to, data in out:
        m = fields(data)
        assert m[37] == str(before["order_id"]), m
        assert m.get(150, m[35]) == EXEC_TYPES[command], m
        if not len(live):
            continue
        row = live[0]
        assert m[39] == status_of(int(row["state"])), (m, state_names(int(row["state"])))
        if m[35] == "8":
            assert qty_fx(m[14]) == int(row["cum_qty"]), m
            assert qty_fx(m[38]) == int(row["order_qty"]), m
            done = int(row["state"]) & DONE or (int(row["state"]) & DFD
                                                and row["tif"] != b"1")
            leaves = 0 if done else max(int(row["order_qty"]) - int(row["cum_qty"]), 0)
            assert qty_fx(m[151]) == leaves, m
