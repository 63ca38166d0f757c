"""Pipeline benchmarks: FIX bytes in → parse → order state → book →
ExecutionReport bytes out, in process, per message and batched as the
server does it. Budgets: benchmarks/budgets.toml, table [pipeline]; checked
by ``tools/bench_check pipeline``.

The stream (``Stream``: seeded, made once, outside every timed region) is
BATCH_MESSAGES pre-encoded messages (157 bytes on average) for ESZ6 from two
users of the embedded default configuration, a trading day's mix:

    15 %  PM1 NewOrderSingle on the touch (bid or ask 1 tick from 5000.00)
    25 %  PM1 NewOrderSingle deeper in the book (2-20 ticks away)
    25 %  PM1 OrderCancelRequest of one of its deeper orders
    10 %  PM1 OrderCancelReplaceRequest of one (new price and quantity)
    25 %  ET1 NewOrderSingle that crosses the touch and trades in full against
          PM1's orders there (~1.35 of them): an ack, then a fill for each
          side of each match

so the engine sends 1.67 ExecutionReports per message, and the book holds a
few hundred orders (~1,800 at the end of 100k messages). ET1 only sends an
order when PM1 has enough on the touch (with a margin), so nothing is ever
rejected, and both paths below make the same trades: only PM1 rests on the
touch, one level a side, and its queue there is consumed in the same order
however the two users' messages interleave. Cancels and replaces only touch
orders that never trade. Each path is checked once, untimed.

Per message: ``Engine.submit(fix_bytes, user, now)`` in auto mode, the
whole stream one call per message (the loop in C) on a fresh Engine each
round (made in the untimed setup; its order table and book grow in the
timed part, as on a trading day). Peer: the codec alone on the same bytes,
``Parser.parse`` of each message and ``Encoder.execution_report`` of one
ExecutionReport per message (byte for byte the engine's acknowledgement of
the stream's first order): the irreducible part of a submit, as in
orders.submit_vs_parse_encode, but both calls made from C as submit is (no
Python frame per message on either side). The engine pays for its 0.67
extra reports per message: they are its work, like the table's and the
book's, and what the ratio measures. The ratio is of the two medians (whole
passes in C): paired per message (one Python-level call each, in blocks of
~0.5 ms), it swung from 2.2x to 7x between runs minutes apart on the shared
VM, for this code and the code before routing alike.

Batched: the server's session core without sockets, an ``Acceptor`` (the
default configuration without its drop copy session, SendingTime not
checked, the stores in a temporary directory) and two ``Connection``s,
PM1's and ET1's, logged on with ResetSeqNumFlag in the setup, over an
in-memory transport. The stream is cut into windows of READ_BYTES, as a
socket delivers it: in each window PM1's bytes are one read of its
connection (``get_buffer``, ``buffer_updated``), then ET1's; a message cut
at a window's edge completes in the next read. Each read is parsed message
by message, the header checked (CompIDs, MsgSeqNum), the message given to
the engine, its reports numbered and stored, then each session's output
written with one ``transport.write``. A fresh Acceptor each round (setup).
Peer: ``Parser.parse_batch`` of the same bytes in chunks of whole messages
of at most READ_BYTES, and one ``Encoder.execution_report`` per message, the
codec's fastest path (the session core parses one message at a time). The
ratio is paired too, a window against a chunk of the same size, scaled to
per message.
"""

import random
from collections import deque
from itertools import chain, cycle, repeat

import pytest

from conftest import BATCH_MESSAGES, BATCH_ROUNDS, BATCH_WARMUP, QUICK, paired_ratio

from fastcore import codec
from fastcore.config import PX_DIGITS, QTY_DIGITS, alone, load
from fastcore.engine import Engine
from fastcore.messages import transact_time
from fastcore.server.session import Acceptor, Connection

SEED = 20261121
NOW = 1795185000123000000       # 2026-11-20 14:30:00.123 UTC, ns: every message's time
SYMBOL = "ESZ6"
USERS = ("PM1", "ET1")          # PM1 rests liquidity, ET1 takes it
COMP_ID = "FASTCORE"            # the engine's CompID (the embedded default)
MID = 20_000                    # 5000.00, in ticks of 0.25 (ESZ6's tick)
FAR = 20                        # PM1's deeper orders: 2..FAR ticks from MID
TOUCH_QTY = (1, 10)             # PM1's orders on the touch, lots
FAR_QTY = (10, 100)             # PM1's deeper orders
TAKE_QTY = (1, 5)               # ET1's orders
MIX = (("touch", 0.15), ("far", 0.25), ("cancel", 0.25), ("replace", 0.10), ("take", 0.25))
READ_BYTES = 65536              # a socket read (the Connection's buffer is as large)

# the embedded default configuration with its users' credentials left out,
# loaded once (an Engine made from it takes ~25 us, from the file ~300 us):
# every report goes to its order's user alone, the pipeline's own cost
PRIVATE = alone()
CONFIG = load(PRIVATE)
# ... and as it is: seed 000's order books, every report to all five users
ROUTED = load()
ROUTED_NAMES = tuple(user.name for user in ROUTED.users)


def price(ticks):
    """Price text of a number of ticks of 0.25."""
    return "%d.%02d" % (ticks // 4, ticks % 4 * 25)


def ack(cl_ord_id, side, ticks, qty):
    """The ExecutionReport acknowledging the engine's first order (OrderID
    and ExecID 1), a day limit order for ESZ6."""
    return codec.ExecutionReport(
        order_id="1", cl_ord_id=cl_ord_id, exec_id="1", exec_type="0", ord_status="0",
        symbol=SYMBOL, side=side, order_qty=qty * 10**QTY_DIGITS, ord_type="2",
        price=ticks * 10**PX_DIGITS // 4, has_price=True, time_in_force="0",
        leaves_qty=qty * 10**QTY_DIGITS, cum_qty=0, avg_px=0,
        cust_order_handling_inst="Y", order_handling_inst_source=2,
        transact_time=NOW)


class Stream:
    """The seeded stream: ``msgs`` (FIX bytes) and ``senders`` (the user of
    each), MsgSeqNum from 2 per user (1 is the Logon); ``counts`` per kind of
    the mix; ``first``: the first order's ExecutionReport acknowledgement."""

    def __init__(self, n, seed=SEED):
        rng = random.Random(seed)
        enc = {u: codec.Encoder(u, COMP_ID) for u in USERS}
        seq = dict.fromkeys(USERS, 1)
        tt = transact_time(NOW)
        far = []                        # PM1's deeper orders: [ClOrdID, side, ticks, qty]
        touch = {"1": 0, "2": 0}        # PM1's quantity resting on the touch, by side
        kinds, weights = zip(*MIX)
        self.msgs, self.senders = [], []
        self.counts = dict.fromkeys(kinds, 0)

        def send(user, msg_type, fields):
            seq[user] += 1
            self.msgs.append(enc[user].encode(msg_type, fields, seq[user], NOW))
            self.senders.append(user)

        def new_order(user, side, ticks, qty):
            cl = "%s%08d" % (user[0], len(self.msgs))
            if not self.msgs:
                self.first = ack(cl, side, ticks, qty)
            send(user, "D", [(11, cl), (55, SYMBOL), (54, side), (38, qty), (40, "2"),
                             (44, price(ticks)), (59, "0"), (60, tt)])
            return cl

        while len(self.msgs) < n:
            kind = rng.choices(kinds, weights)[0]
            side = rng.choice("12")
            sign = -1 if side == "1" else 1             # bids below MID, asks above
            if kind == "take":
                qty = rng.randint(*TAKE_QTY)
                contra = "2" if side == "1" else "1"
                # the margin: the last PM1 message of a window may reach the
                # server after ET1's messages of that window (see Batched)
                if touch[contra] < qty + TOUCH_QTY[1]:     # PM1 adds to it instead
                    kind, side, sign = "touch", contra, -sign
                else:
                    touch[contra] -= qty
                    new_order("ET1", side, MID - sign, qty)
            if kind in ("cancel", "replace") and not far:
                kind = "far"
            if kind == "touch":
                qty = rng.randint(*TOUCH_QTY)
                new_order("PM1", side, MID + sign, qty)
                touch[side] += qty
            elif kind == "far":
                ticks = MID + sign * rng.randint(2, FAR)
                qty = rng.randint(*FAR_QTY)
                far.append([new_order("PM1", side, ticks, qty), side, ticks, qty])
            elif kind == "cancel":
                i = rng.randrange(len(far))
                cl, side, _, qty = far[i]
                far[i] = far[-1]
                far.pop()
                send("PM1", "F", [(11, "P%08d" % len(self.msgs)), (41, cl), (55, SYMBOL),
                                  (54, side), (38, qty), (60, tt)])
            elif kind == "replace":
                order = far[rng.randrange(len(far))]
                cl, side = order[0], order[1]
                sign = -1 if side == "1" else 1
                order[0] = "P%08d" % len(self.msgs)
                order[2] = MID + sign * rng.randint(2, FAR)
                order[3] = rng.randint(*FAR_QTY)
                send("PM1", "G", [(11, order[0]), (41, cl), (55, SYMBOL), (54, side),
                                  (38, order[3]), (40, "2"), (44, price(order[2])),
                                  (59, "0"), (60, tt)])
            self.counts[kind] += 1
        self.bytes = sum(map(len, self.msgs))

    def __len__(self):
        return len(self.msgs)

    def submit_all(self, engine):
        """Every message to ``engine.submit``, one call each (the loop in C)."""
        deque(map(engine.submit, self.msgs, self.senders, repeat(NOW)), 0)

    def windows(self):
        """The stream's bytes cut every READ_BYTES: per window, each user's
        bytes in it (b"" when none), in USERS' order."""
        out, pos = [], 0
        parts = {u: [] for u in USERS}
        for msg, user in zip(self.msgs, self.senders):
            while msg:
                part, msg = msg[:READ_BYTES - pos], msg[READ_BYTES - pos:]
                parts[user].append(part)
                pos += len(part)
                if pos == READ_BYTES:
                    out.append([b"".join(parts[u]) for u in USERS])
                    parts = {u: [] for u in USERS}
                    pos = 0
        if pos:
            out.append([b"".join(parts[u]) for u in USERS])
        return out

    def chunks(self):
        """The messages joined in chunks of at most READ_BYTES, whole messages."""
        out, part, size = [], [], 0
        for msg in self.msgs:
            if size + len(msg) > READ_BYTES:
                out.append(b"".join(part))
                part, size = [], 0
            part.append(msg)
            size += len(msg)
        return out + [b"".join(part)]


@pytest.fixture(scope="module")
def stream():
    return Stream(BATCH_MESSAGES)


def summary(replies):
    """What a path answered, as a multiset of (user, MsgType, ExecType,
    OrdStatus, ClOrdID, LastQty, CumQty): identities the engine assigns
    (OrderID, ExecID, MsgSeqNum) and the order across users left out."""
    parser = codec.Parser()
    out = []
    for user, raw in replies:
        m = parser.parse(raw)
        out.append((user, m.msg_type, m.get_str(150, ""), m.get_str(39, ""), m.get_str(11),
                    m.get_qty(32, 0), m.get_qty(14, 0)))
    return sorted(out)


def check_replies(stream, replies):
    """Nothing rejected, every ET1 order filled in full, each fill matched by
    the other side's; returns the number of reports."""
    s = summary(replies)
    types = {t for _, t, *_ in s}
    assert types == {"8"}, types                        # no Reject, no OrderCancelReject
    assert not [r for r in s if r[2] == "8"]            # no ExecutionReport rejection
    fills = {u: sum(r[5] for r in s if r[0] == u and r[2] == "F") for u in USERS}
    assert fills["PM1"] == fills["ET1"] > 0, fills
    done = sum(1 for r in s if r[0] == "ET1" and r[3] == "2")
    assert done == stream.counts["take"], (done, stream.counts)
    return len(s)


# ---- per message: Engine.submit -------------------------------------------------

def parse_encodes(parser, enc, er, msgs):
    """The peer, one message per ``next``: ``Parser.parse`` of the message and
    ``Encoder.execution_report`` of ``er``, both called from C, as submit is
    (test_orders' ``_parse_encode`` does the same in a Python function, whose
    frame adds ~70 ns a message: ~17 % of the peer)."""
    return zip(map(parser.parse, msgs),
               map(enc.execution_report, repeat(er), repeat(1), repeat(NOW)))


def parse_encode_all(parser, enc, er, msgs):
    """The peer's work for every message."""
    deque(parse_encodes(parser, enc, er, msgs), 0)


@pytest.mark.benchmark(group="pipeline.submit")
def test_pipeline_submit_fastcore(benchmark, stream):
    """The stream through Engine.submit, one call per message, a fresh Engine
    per round."""
    engine = Engine(CONFIG)
    replies = [r for msg, user in zip(stream.msgs, stream.senders)
               for r in engine.submit(msg, user, NOW)]
    reports = check_replies(stream, replies)
    benchmark.extra_info.update(messages=len(stream), bytes=stream.bytes, reports=reports,
                                mix=stream.counts, quick=QUICK)
    benchmark.pedantic(stream.submit_all, setup=lambda: ((Engine(CONFIG),), {}),
                       rounds=BATCH_ROUNDS, warmup_rounds=BATCH_WARMUP)


@pytest.mark.benchmark(group="pipeline.submit")
def test_pipeline_submit_routed(benchmark, stream):
    """The same stream through Engine.submit on the embedded default
    configuration: seed 000's credentials put all five users in one order
    book on CME-A, so every report also goes to the four others (its body
    encoded once, re-headed for each). extra_info: the reports and the
    recipients per message."""
    engine, alone = Engine(ROUTED), Engine(CONFIG)
    replies = [r for msg, user in zip(stream.msgs, stream.senders)
               for r in engine.submit(msg, user, NOW)]
    private = [r for msg, user in zip(stream.msgs, stream.senders)
               for r in alone.submit(msg, user, NOW)]
    every = sorted(r[1:] for r in summary(private))
    for user in ROUTED_NAMES:                   # each user gets every report, once
        assert sorted(r[1:] for r in summary(replies) if r[0] == user) == every, user
    benchmark.extra_info.update(messages=len(stream), reports=len(private),
                                recipients=len(replies), quick=QUICK)
    benchmark.pedantic(stream.submit_all, setup=lambda: ((Engine(ROUTED),), {}),
                       rounds=BATCH_ROUNDS, warmup_rounds=BATCH_WARMUP)


@pytest.mark.benchmark(group="pipeline.submit")
def test_pipeline_submit_parse_encode(benchmark, stream):
    """The peer: Parser.parse of each message + one ExecutionReport encoded."""
    parser, enc = codec.Parser(), codec.Encoder(COMP_ID, "PM1")
    [(user, reply)] = Engine(CONFIG).submit(stream.msgs[0], stream.senders[0], NOW)
    assert user == "PM1" and enc.execution_report(stream.first, 1, NOW) == reply
    benchmark.extra_info.update(messages=len(stream), bytes=stream.bytes, quick=QUICK)
    benchmark.pedantic(parse_encode_all, args=(parser, enc, stream.first, stream.msgs),
                       rounds=BATCH_ROUNDS, warmup_rounds=BATCH_WARMUP)


# ---- batched: the server's session core ------------------------------------------

class MemoryTransport:
    """The asyncio transport of a Connection, in memory: counts the writes
    and their bytes, and keeps them when ``keep``."""

    def __init__(self, keep=False):
        self.keep = keep
        self.clear()

    def clear(self):
        """Forget the writes so far."""
        self.writes = self.written = 0
        self.kept = [] if self.keep else None

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default

    def write(self, data):
        self.writes += 1
        self.written += len(data)
        if self.kept is not None:
            self.kept.append(data)

    def close(self):
        pass

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def feed(window):
    """Each (connection, bytes) of a window as one socket read of that
    connection: the bytes written into its buffer, then processed."""
    for conn, data in window:
        conn.get_buffer(len(data))[:len(data)] = data
        conn.buffer_updated(len(data))


def feed_all(windows):
    """Every window of the stream, in order."""
    for window in windows:
        feed(window)


class Server:
    """Acceptors for the batched path, one at a time, their session stores
    in ``root``: a fresh one empties and closes the stores of the one before."""

    def __init__(self, stream, root):
        self.config = load({**PRIVATE, "sessions": [],
                            "server": {"sending_time_tolerance": 0, "store": str(root)}})
        self.windows = stream.windows()
        self.acceptor = None

    def fresh(self, keep=False):
        """A new Acceptor with PM1 and ET1 logged on (ResetSeqNumFlag):
        returns the stream's windows as reads of their connections, and the
        two connections (their transports count from after the Logon answers)."""
        self.close()
        self.acceptor = Acceptor(self.config)
        conns = []
        for user in USERS:
            conn = Connection(self.acceptor)
            conn.connection_made(MemoryTransport(keep))
            feed([(conn, codec.Encoder(user, COMP_ID).logon(1, NOW, heart_bt_int=30,
                                                              reset_seq_num=True))])
            assert conn.session is not None and conn.session.next_in == 2
            conn.transport.clear()
            conns.append(conn)
        windows = [[(conn, data) for conn, data in zip(conns, w) if data] for w in self.windows]
        return windows, conns

    def passes(self):
        """An iterator whose ``next`` feeds the stream's next window; a
        fresh Acceptor (~0.3 ms: the median of paired rounds ignores the one
        round a pass it lands in) after every pass over the stream."""
        def servers():
            while True:
                yield map(feed, self.fresh()[0])
        return chain.from_iterable(servers())

    def close(self):
        if self.acceptor is not None:
            for session in self.acceptor.sessions.values():
                session.reset()
            self.acceptor.close()
            self.acceptor = None


def written(transports):
    """(user, message) for each message the transports were given."""
    parser, out = codec.Parser(), []
    for user, t in zip(USERS, transports):
        batch = parser.parse_batch(b"".join(t.kept))
        assert batch.consumed == t.written
        out += [(user, batch.message(i).raw) for i in range(len(batch))]
    return out


def parse_encode_chunk(parser, enc, er, chunk):
    """The peer of the batched path for one chunk: one ``parse_batch``, then
    one ExecutionReport encoded per message (the loop in C); returns the
    number of messages."""
    n = len(parser.parse_batch(chunk))
    deque(map(enc.execution_report, repeat(er, n), repeat(1), repeat(NOW)), 0)
    return n


def parse_encode_chunks(parser, enc, er, chunks):
    """The peer's work for every chunk; returns the number of messages."""
    return sum(map(parse_encode_chunk, repeat(parser), repeat(enc), repeat(er), chunks))


@pytest.mark.benchmark(group="pipeline.batch")
def test_pipeline_batch_fastcore(benchmark, stream, tmp_path):
    """The stream through the session core, a read per connection per
    window, a fresh Acceptor per round; paired with the peer per window
    (against a chunk of the same size). Checked once: the same reports as
    Engine.submit's, each session written at most once per read."""
    server = Server(stream, tmp_path)
    windows, conns = server.fresh(keep=True)
    feed_all(windows)
    for user, conn in zip(USERS, conns):                # every message taken in sequence
        assert conn.session.next_in == stream.senders.count(user) + 2
    transports = [conn.transport for conn in conns]
    replies = written(transports)
    engine = Engine(CONFIG)
    assert summary(replies) == summary(
        [r for msg, user in zip(stream.msgs, stream.senders)
         for r in engine.submit(msg, user, NOW)])
    reports = check_replies(stream, replies)
    reads = sum(map(len, windows))
    assert sum(t.writes for t in transports) <= len(USERS) * reads
    benchmark.extra_info.update(messages=len(stream), bytes=stream.bytes, reports=reports,
                                reads=reads, quick=QUICK)
    benchmark.pedantic(feed_all, setup=lambda: ((server.fresh()[0],), {}),
                       rounds=BATCH_ROUNDS, warmup_rounds=BATCH_WARMUP)
    # per window vs per chunk: the same bytes (READ_BYTES) but for the
    # messages cut at the windows' edges; the ratio is scaled to per message
    parser, enc, chunks = codec.Parser(), codec.Encoder(COMP_ID, "PM1"), stream.chunks()
    peer = map(parse_encode_chunk, repeat(parser), repeat(enc), repeat(stream.first),
               cycle(chunks))
    ratio = paired_ratio((next, (server.passes(),)), (next, (peer,)))
    benchmark.extra_info["paired"] = {
        "test_pipeline_batch_parse_encode": ratio * len(windows) / len(chunks)}
    server.close()


@pytest.mark.benchmark(group="pipeline.batch")
def test_pipeline_batch_parse_encode(benchmark, stream):
    """The peer: Parser.parse_batch of the same bytes in chunks of whole
    messages + one ExecutionReport encoded per message."""
    parser, enc, chunks = codec.Parser(), codec.Encoder(COMP_ID, "PM1"), stream.chunks()
    assert sum(map(len, chunks)) == stream.bytes
    batch = parser.parse_batch(chunks[0])
    assert batch.consumed == len(chunks[0]) and not any(batch.status)
    benchmark.extra_info.update(messages=len(stream), bytes=stream.bytes, quick=QUICK)
    n = benchmark.pedantic(parse_encode_chunks, args=(parser, enc, stream.first, chunks),
                           rounds=BATCH_ROUNDS, warmup_rounds=BATCH_WARMUP)
    assert n == len(stream)
