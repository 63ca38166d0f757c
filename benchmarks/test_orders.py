"""Order state benchmarks: the C-level batch path (``OrderTable.apply``) against
a pure-Python order table, the per-call Python API (``Engine.submit``, a desk
``fill``) against the codec's own parse, and the memory an order takes.
Budgets: benchmarks/budgets.toml, table [orders]; checked by
``tools/bench_check orders``.

The batch stream is a lifecycle per order, the orders interleaved (step j of
order i comes at tick i + j * GAP, so a few thousand orders are working at
once and consecutive commands touch different orders):

    cancel          new → ack → fill → fill → unsolicited cancel
    cancel_request  new → ack → fill → cancel request → accept the cancel

Each round applies it to a fresh table that a warm-up batch of the same shape
(other ClOrdIDs) has already run through, in the untimed setup: the timed
batch then finds the table's arrays grown and their memory mapped, as in a
table that has been trading for a while. ``test_lifecycle_fastcore_cold`` times
the first batch of a new table instead (growth and page faults included).
The Python peer (benchmarks/_pyorders.py) gets the same treatment and the
same commands, as tuples, and must produce the same reports.

Every benchmark checks its result once, outside the timed region.

``python benchmarks/test_orders.py memory fastcore|python N`` is the memory
measurement the ``test_memory_*`` benchmarks run in a fresh interpreter.
"""

import functools
import gc
import json
import sys
import time
from itertools import chain, repeat

import numpy as np
import pytest

from conftest import (BATCH_MESSAGES, BATCH_ROUNDS, BATCH_WARMUP, NOS, NOS_FIELDS, QUICK,
                      fix_message, fresh_interpreter, rss)

import _pyorders
from fastcore import codec
from fastcore.engine import Engine
from fastcore.orders.table import COMMAND_DTYPE, OPS, REPORT_DTYPE, OrderTable


NONE = 0xFFFFFFFF           # the `order` column: look the order up by its ClOrdID
QTY = 10**4                 # one unit of quantity, fixed point (QTY_DIGITS = 4)
PX = 10**8                  # one unit of price (PX_DIGITS = 8)
REF_PX = 512325 * 10**6     # 5123.25, the reference order's price

LIFECYCLES = {              # (op, qty, px) per step
    "cancel": [("new", 10 * QTY, REF_PX), ("ack", 0, 0), ("fill", 4 * QTY, REF_PX),
               ("fill", 3 * QTY, REF_PX + PX // 4), ("cancel", 0, 0)],
    "cancel_request": [("new", 10 * QTY, REF_PX), ("ack", 0, 0), ("fill", 4 * QTY, REF_PX),
                       ("cancel_request", 0, 0), ("accept_cancel", 0, 0)],
}
GAP = 500                   # ticks between two steps of one order
WARM_IDS = 10_000_000       # ClOrdIDs (8 digits): the warm-up batch's,
TIMED_IDS = 20_000_000      # the timed batch's
REQUEST_IDS = 40_000_000    # a cancel request's ClOrdID: its order's + this

# the memory figure: live orders in one table (new + ack each)
MEMORY_ORDERS = 100_000 if QUICK else 1_000_000
MEMORY_CHUNK = 8192         # commands per apply: the report buffer stays small

# per-call: the engine's configuration for the reference message (sender
# CLIENT01, symbol ESM4), and the messages (one ClOrdID each) an engine takes
# before the next one takes over: its day, which its tables are sized for
# (a fresh engine's memory is touched for the first time as it fills)
SENDER = "CLIENT01"
SUBMIT_MESSAGES = 20_000 if QUICK else 50_000
CONFIG = {"users": [{"name": SENDER}], "instruments": [{"symbol": "ESM4"}],
          "engine": {"reserve_orders": SUBMIT_MESSAGES}}
NOW = 1710513000123000000   # 2024-03-15 14:30:00.123 UTC, ns
DECODED = (11, 55, 54, 38, 40, 44)     # the six fields of the codec's parse benchmark


# the report columns compared (day_order_qty and day_cum_qty are set on GT
# orders' reports only: of a day order's, they hold whatever was in the buffer)
REPORT_COLUMNS = [name for name in REPORT_DTYPE.names if not name.startswith("day_")]


def test_op_codes_match_the_peer():
    """The Python peer's op codes are the table's."""
    for name in ("new", "ack", "fill", "cancel", "cancel_request", "accept_cancel"):
        assert getattr(_pyorders, "OP_" + name.upper()) == OPS[name]


# ---- batch: a lifecycle mix through OrderTable.apply ---------------------------

def lifecycle(variant, n_orders, first_id, first_slot=None):
    """The commands of ``n_orders`` lifecycles, interleaved (see the module
    docstring). ``first_slot``: fill in the `order` column, the order with
    ClOrdID first_id + i being in slot first_slot + i; None: every command
    names its order by ClOrdID (the table looks it up)."""
    steps = LIFECYCLES[variant]
    k = len(steps)
    i = np.repeat(np.arange(n_orders, dtype=np.int64), k)
    j = np.tile(np.arange(k, dtype=np.int64), n_orders)
    by_tick = np.argsort((i + j * GAP) * k + j, kind="stable")
    i, j = i[by_tick], j[by_tick]
    c = np.zeros(n_orders * k, COMMAND_DTYPE)
    c["clordid"] = first_id + i
    c["session"] = 0
    for step, (op, qty, px) in enumerate(steps):
        at = j == step
        c["op"][at] = OPS[op]
        c["qty"][at] = qty
        c["px"][at] = px
    new = c["op"] == OPS["new"]
    c["instrument"][new] = 0
    c["side"][new] = b"1"
    c["ord_type"][new] = b"2"
    c["tif"][new] = b"0"
    req = c["op"] == OPS["cancel_request"]
    c["request"][req] = c["clordid"][req] + REQUEST_IDS
    c["order"] = NONE
    if first_slot is not None:
        c["order"][~new] = first_slot + i[~new]
    return c


class Stream:
    """One variant's batch: the warm-up commands, the timed ones by slot and by
    ClOrdID, and the same as tuples for the Python peer."""

    def __init__(self, variant, n_commands):
        k = len(LIFECYCLES[variant])
        self.variant = variant
        self.orders = n_commands // k
        self.warm = lifecycle(variant, self.orders, WARM_IDS)
        self.by_slot = lifecycle(variant, self.orders, TIMED_IDS, first_slot=self.orders)
        self.by_clordid = lifecycle(variant, self.orders, TIMED_IDS)
        self.warm_rows = self.warm.tolist()
        self.rows = self.by_clordid.tolist()
        self.capacity = 2 * self.orders
        self._check()

    def table(self):
        """A fresh table, run through the warm-up batch."""
        t = OrderTable(self.capacity)
        assert t.apply(self.warm.copy()) == len(self.warm)
        return t

    def book(self):
        b = _pyorders.OrderBook()
        assert b.apply(self.warm_rows) == len(self.warm_rows)
        return b

    def _check(self):
        """Every command succeeds; by ClOrdID finds the slots the by-slot stream
        names; the Python peer's reports are the table's."""
        t = self.table()
        cmds = self.by_clordid.copy()
        assert t.apply(cmds) == len(cmds), np.unique(cmds["status"], return_counts=True)
        assert (cmds["order"] == self.by_slot["order"])[self.by_slot["op"] != OPS["new"]].all()
        reports = t.batch_reports()
        t = self.table()
        assert t.apply(self.by_slot.copy()) == len(cmds)
        again = t.batch_reports()
        for column in REPORT_COLUMNS:
            assert (again[column] == reports[column]).all(), column
        b = self.book()
        assert b.apply(self.rows) == len(self.rows)
        assert len(b.reports) == len(reports)
        py = list(zip(*b.reports))
        for column, at in (("exec_type", 0), ("ord_status", 1), ("exec_id", 5),
                           ("order_qty", 6), ("cum_qty", 7), ("leaves_qty", 8),
                           ("last_qty", 9), ("last_px", 10), ("avg_px", 11)):
            assert reports[column].tolist() == list(py[at]), column


@pytest.fixture(scope="module")
def streams():
    return {v: Stream(v, BATCH_MESSAGES) for v in LIFECYCLES}


def _apply(table, commands):
    return table.apply(commands)


def _batch(benchmark, stream, commands, new_table=None):
    """Times ``table.apply(commands)`` on a fresh table per round (the table,
    ``stream.table()`` unless ``new_table`` is given, and a copy of the
    commands are made in the untimed setup)."""
    def setup():
        return ((new_table or stream.table)(), commands.copy()), {}

    benchmark.extra_info.update(messages=len(commands), orders=stream.orders,
                                variant=stream.variant, quick=QUICK)
    ok = benchmark.pedantic(_apply, setup=setup, rounds=BATCH_ROUNDS,
                            warmup_rounds=BATCH_WARMUP)
    assert ok == len(commands)


def _py_batch(benchmark, stream):
    """The same for the Python peer: a fresh book run through the warm-up
    batch, then the timed batch. Its rounds are some 30 times longer than
    fastcore's: a third as many of them (at least 5) give as steady a median."""
    def setup():
        return (stream.book(), stream.rows), {}

    benchmark.extra_info.update(messages=len(stream.rows), orders=stream.orders,
                                variant=stream.variant, quick=QUICK)
    ok = benchmark.pedantic(_pyorders.OrderBook.apply, setup=setup,
                            rounds=max(5, BATCH_ROUNDS // 3), warmup_rounds=BATCH_WARMUP)
    assert ok == len(stream.rows)


@pytest.mark.benchmark(group="orders.batch")
def test_lifecycle_fastcore(benchmark, streams):
    """new → ack → fill → fill → cancel, each command naming its order's slot."""
    s = streams["cancel"]
    _batch(benchmark, s, s.by_slot)


@pytest.mark.benchmark(group="orders.batch")
def test_lifecycle_fastcore_by_clordid(benchmark, streams):
    """The same, each command naming its order by ClOrdID (a lookup in the
    ClOrdID index: the decimal text written, hashed, compared)."""
    s = streams["cancel"]
    _batch(benchmark, s, s.by_clordid)


@pytest.mark.benchmark(group="orders.batch")
def test_lifecycle_fastcore_cold(benchmark, streams):
    """The same by slot, on a new OrderTable() (default capacity) with no
    warm-up: its arrays grow, and their memory is first touched, in the timed
    part."""
    s = streams["cancel"]
    _batch(benchmark, s, lifecycle("cancel", s.orders, TIMED_IDS, first_slot=0), OrderTable)


@pytest.mark.benchmark(group="orders.batch")
def test_lifecycle_python(benchmark, streams):
    """benchmarks/_pyorders.py on the same commands (as tuples)."""
    _py_batch(benchmark, streams["cancel"])


@pytest.mark.benchmark(group="orders.batch")
def test_lifecycle_fastcore_cancel_request(benchmark, streams):
    """new → ack → fill → cancel request → accept cancel, by slot."""
    s = streams["cancel_request"]
    _batch(benchmark, s, s.by_slot)


@pytest.mark.benchmark(group="orders.batch")
def test_lifecycle_python_cancel_request(benchmark, streams):
    _py_batch(benchmark, streams["cancel_request"])


# ---- per call: Engine.submit, a desk fill --------------------------------------

@pytest.fixture(scope="module")
def submit_messages():
    """The reference NewOrderSingle with ClOrdIDs ORD-00000001, ORD-00000002, …
    (183 bytes each; the first is the reference message itself)."""
    msgs = [fix_message([(tag, b"ORD-%08d" % (i + 1) if tag == 11 else value)
                         for tag, value in NOS_FIELDS]) for i in range(SUBMIT_MESSAGES)]
    assert msgs[0] == NOS and all(len(m) == len(NOS) for m in msgs)
    return msgs


def submissions(msgs):
    """An iterator whose ``next`` submits the next message to an auto-mode
    engine and returns the engine's reply: each ClOrdID once per engine, a
    fresh engine after every len(msgs) calls. ``next(it)`` makes the call
    from C: no Python frame of the benchmark's own per call."""
    def engines():
        while True:
            yield map(Engine(CONFIG).submit, msgs, repeat(SENDER), repeat(NOW))
    return chain.from_iterable(engines())


def _is_ack(reply, clordid=None):
    [(to, raw)] = reply
    m = codec.parse(raw)
    return (to == SENDER and m.msg_type == "8" and m.get_char(150) == "0"
            and m.get_char(39) == "0" and (clordid is None or m.get_str(11) == clordid))


def ack_report():
    """The ExecutionReport the engine answers the reference order with (its
    Account echoed)."""
    return codec.ExecutionReport(
        order_id="1", cl_ord_id="ORD-00000001", account="ACCT-001", exec_id="1",
        exec_type="0", ord_status="0", symbol="ESM4", side="1", order_qty=10 * QTY, ord_type="2", price=REF_PX,
        has_price=True, time_in_force="0", leaves_qty=10 * QTY, cum_qty=0, avg_px=0,
        cust_order_handling_inst="Y", order_handling_inst_source=2,
        transact_time=NOW)


@pytest.mark.benchmark(group="orders.submit")
def test_submit_fastcore(per_call, paired, submit_messages):
    """Engine.submit of a NewOrderSingle in auto mode: parse, validate, the new
    order in the table, acknowledged, entered in its book (where it rests: the
    orders are all bids at one price), its ExecutionReport encoded. Called as
    ``next(it)`` (see submissions), which adds some 10-20 ns that the parse
    it is compared with, called directly, does not pay."""
    it = submissions(submit_messages)
    assert _is_ack(next(it), "ORD-00000001")
    assert _is_ack(per_call(next, it))
    parser = codec.Parser()
    paired("test_submit_parse", (next, (it,)), (parser.parse, (NOS,)))
    decoder = codec.Decoder(DECODED)
    paired("test_submit_decode", (next, (it,)), (decoder.decode, (NOS,)))
    enc = codec.Encoder("FASTCORE", SENDER)
    er = ack_report()
    paired("test_submit_parse_encode", (next, (it,)),
           (_parse_encode, (parser, enc, er, NOS)))
    assert _is_ack(next(it))        # still fresh ClOrdIDs: never a duplicate


@pytest.mark.benchmark(group="orders.submit")
def test_submit_parse(per_call, nos):
    """codec.Parser.parse of the same message (what submit starts with)."""
    parser = codec.Parser()
    m = parser.parse(nos)
    assert m.msg_type == "D" and m.get_str(11) == "ORD-00000001"
    assert per_call(parser.parse, nos).get_price(44) == REF_PX


@pytest.mark.benchmark(group="orders.submit")
def test_submit_decode(per_call, nos):
    """codec.Decoder.decode of the same message, six fields out: the codec's
    per-call parse figure (codec.parse_vs_msgspec)."""
    decoder = codec.Decoder(DECODED)
    assert per_call(decoder.decode, nos)[0] == "ORD-00000001"


def _parse_encode(parser, enc, er, raw):
    parser.parse(raw)
    return enc.execution_report(er, 1, NOW)


@pytest.mark.benchmark(group="orders.submit")
def test_submit_parse_encode(per_call, nos):
    """The codec's share of a submit: parse the message and encode the
    acknowledgement (Encoder.execution_report, byte for byte the engine's)."""
    parser, enc, er = codec.Parser(), codec.Encoder("FASTCORE", SENDER), ack_report()
    [(_, raw)] = Engine(CONFIG).submit(nos, SENDER, NOW)
    assert _parse_encode(parser, enc, er, nos) == raw
    assert per_call(_parse_encode, parser, enc, er, nos) == raw


@pytest.mark.benchmark(group="orders.desk")
def test_fill_fastcore(per_call):
    """Engine.fill in worked mode: a desk's fill of 1 at 5123.25 (quantity and
    price given as text) on an acknowledged order of 100,000,000."""
    engine = Engine(dict(CONFIG, mode="worked"))
    big = fix_message([(tag, b"100000000" if tag == 38 else value) for tag, value in NOS_FIELDS])
    assert engine.submit(big, SENDER, NOW) == []
    assert len(engine.ack("ORD-00000001", now=NOW)) == 1
    fill = functools.partial(engine.fill, "ORD-00000001", "1", "5123.25", now=NOW)
    [(to, raw)] = per_call(fill)
    m = codec.parse(raw)
    assert to == SENDER and m.get_char(150) == "F" and m.get_qty(32) == QTY
    assert m.get_price(31) == REF_PX and m.get_char(39) == "1"


# ---- memory: bytes per live order ------------------------------------------------

def _memory_commands(n_orders):
    """new + ack of n_orders orders (ClOrdIDs TIMED_IDS + i), by ClOrdID."""
    c = np.zeros(2 * n_orders, COMMAND_DTYPE)
    c["clordid"] = TIMED_IDS + np.repeat(np.arange(n_orders, dtype=np.int64), 2)
    c["order"] = NONE
    new = c[0::2]
    new["op"] = OPS["new"]
    new["qty"] = 10 * QTY
    new["px"] = REF_PX
    new["side"] = b"1"
    new["ord_type"] = b"2"
    new["tif"] = b"0"
    c["op"][1::2] = OPS["ack"]
    return c


def measure_memory(side, n_orders):
    """In a fresh interpreter: RSS growth while ``n_orders`` orders are created
    (new + ack, MEMORY_CHUNK commands per batch) in one fastcore table or one
    Python order book, per live order. The commands are made before the
    baseline (fastcore) or per chunk and dropped (Python). The cyclic GC is
    off, as in the timed benchmarks (nothing here is a cycle)."""
    info = {"side": side, "orders": n_orders}
    gc.disable()
    if side == "fastcore":
        cmds = _memory_commands(n_orders)
        gc.collect()
        before = rss()
        table = OrderTable()
        ok, spent = 0, 0
        for s in range(0, len(cmds), MEMORY_CHUNK):
            part = cmds[s:s + MEMORY_CHUNK]
            t0 = time.perf_counter_ns()
            ok += table.apply(part)
            spent += time.perf_counter_ns() - t0
        after = rss()
        live = len(table)
        info.update(slot_bytes=table.bytes_per_order, keys=len(table.ids))
    else:
        book = _pyorders.OrderBook()
        gc.collect()
        before = rss()
        ok, spent = 0, 0
        for s in range(0, n_orders, MEMORY_CHUNK // 2):
            rows = []
            for i in range(s, min(n_orders, s + MEMORY_CHUNK // 2)):
                cl = TIMED_IDS + i
                rows.append((cl, 0, 10 * QTY, REF_PX, NONE, 0, 0, _pyorders.OP_NEW,
                             b"1", b"2", b"0", 0))
                rows.append((cl, 0, 0, 0, NONE, 0, 0, _pyorders.OP_ACK, b"", b"", b"", 0))
            t0 = time.perf_counter_ns()
            ok += book.apply(rows)
            spent += time.perf_counter_ns() - t0
            del rows
        gc.collect()
        after = rss()
        live = book.next_order_id
    assert ok == 2 * n_orders and live == n_orders, (ok, live)
    info.update(live=live, rss_bytes=after - before, bytes_per_order=(after - before) / live,
                load_ns_per_command=spent / (2 * n_orders))
    return info


def _memory(benchmark, capsys, side):
    """measure_memory in a fresh interpreter; the figure is
    extra_info["bytes_per_order"]."""
    result = fresh_interpreter(benchmark, __file__, "memory", side, MEMORY_ORDERS)
    benchmark.extra_info.update(result, quick=QUICK)
    with capsys.disabled():
        rest = result["bytes_per_order"] - result.get("slot_bytes", 0)
        extra = (f"; slot {result['slot_bytes']} B, the rest (ClOrdID index, spare "
                 f"capacity, report buffer) {rest:.0f} B" if "slot_bytes" in result else "")
        print(f"\n  orders memory, {side}: {result['live']:,} live orders, RSS +"
              f"{result['rss_bytes'] / 2**20:,.1f} MiB = {result['bytes_per_order']:.0f} B per "
              f"order{extra}; load {result['load_ns_per_command']:.0f} ns per command")
    return result


@pytest.mark.benchmark(group="orders.memory")
def test_memory_fastcore(benchmark, capsys):
    """Bytes per live order: MEMORY_ORDERS orders (new + ack) in one OrderTable."""
    info = _memory(benchmark, capsys, "fastcore")
    assert info["bytes_per_order"] >= info["slot_bytes"] * 0.9


@pytest.mark.benchmark(group="orders.memory")
def test_memory_python(benchmark, capsys):
    """The same in the Python peer's order book."""
    _memory(benchmark, capsys, "python")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "memory" or sys.argv[2] not in ("fastcore", "python"):
        sys.exit("usage: test_orders.py memory fastcore|python N")
    print(json.dumps(measure_memory(sys.argv[2], int(sys.argv[3]))))
