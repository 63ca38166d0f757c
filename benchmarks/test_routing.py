"""Order visibility benchmarks: computing an audience (who sees an order) in
``fastcore.visibility.Visibility``, through its C path, at the scale of a
large firm: USERS users (10,000) and 1,000 order books.

The configuration: a staging gateway SSE and an exchange gateway XCH, each
with DESKS TTORD-style books ORD<d> and DESKS exchange-trader books EX<d>
(2 x 2 x 250 = 1,000 books). Even users are TTORD users of desk d (routing
ORD<d>, exchange EX<d>: 20 to a book, staged_order_creation), odd users are
exchange traders of EX<d> (20 to a book, staged_order_management). A
standard audience then has 40 users, an INTERNAL staged order's 20 (workers
none), a BROKER one's 40 (workers 20); every bitset is 157 words.

Each benchmark's round is one call of a ``_bench_*`` method that runs the C
computation BATCH times with no Python per computation: the bitset ORs / ANDs,
the hash and the probe of the intern table (and the compare with the stored
set), i.e. the uncached cost (``standard`` caches per user and gateway; a
staged order's audiences are computed per order). Every audience the
benchmarks meet has been interned beforehand (untimed), so nothing is
allocated in the timed part. ``spread`` variants take user, user + 1, ...
round all the users (each computation touches other books and other stored
sets: cache misses included); the others repeat one user.

extra_info: ``messages`` = computations per round (tools/bench_check's
"ns/msg"), ``ns_per_audience`` = the median round over it (staged: one
staged order, i.e. two audiences, audience and workers, per computation).
"""

import pytest

from conftest import BATCH_ROUNDS, BATCH_WARMUP, QUICK

from fastcore.config import load
from fastcore.visibility import Visibility

USERS = 10_000
DESKS = 250                     # books per kind per gateway: 4 x 250 = 1,000
GATEWAYS = ("SSE", "XCH")       # staging, exchange
BATCH = 20_000 if QUICK else 200_000
SSE, XCH = 0, 1


def firm_config():
    """The configuration described in the module docstring."""
    users = []
    for i in range(USERS):
        d = (i // 2) % DESKS
        if i % 2 == 0:
            creds = {g: {"routing": f"ORD{d}/{g}/{i}", "exchange": f"EX{d}/{g}/{d}"}
                     for g in GATEWAYS}
            users.append({"name": f"T{i}", "credentials": creds, "staged_order_creation": True})
        else:
            creds = {g: {"routing": f"EX{d}/{g}/{i}"} for g in GATEWAYS}
            users.append({"name": f"T{i}", "credentials": creds, "staged_order_management": True})
    return load({"gateways": [{"name": "SSE", "kind": "staging"}, {"name": "XCH"}],
                 "users": users, "instruments": [], "accounts": [], "sessions": []})


@pytest.fixture(scope="module")
def vis():
    """The firm's Visibility, every audience of the benchmarks interned."""
    v = Visibility(firm_config())
    assert v.nusers == USERS and v.nbooks == 4 * DESKS and v.nwords == (USERS + 63) // 64
    # the expected sizes (see the module docstring), checked once
    assert len(v.standard_audience("T0", "XCH")) == 40
    assert len(v.standard_audience("T1", "XCH")) == 40
    audience, workers = v.staged_audience("T0", "SSE", "XCH", False)
    assert len(audience) == 20 and workers == []
    audience, workers = v.staged_audience("T0", "SSE", "XCH", True)
    assert len(audience) == 40 and len(workers) == 20
    assert set(workers) == {f"T{i}" for i in range(1, USERS, 2 * DESKS)}
    # intern everything the timed rounds will meet
    v._bench_compute(0, XCH, USERS, True)
    v._bench_compute(0, SSE, USERS, True)
    v._bench_staged(0, SSE, XCH, False, USERS, True)
    v._bench_staged(0, SSE, XCH, True, USERS, True)
    return v


def _run(benchmark, vis, fn, args, audiences_per_call=1):
    """Times ``fn(*args, BATCH, spread)`` (one round: BATCH computations);
    records ns per computation and per audience."""
    n_before = vis.naudiences
    benchmark.extra_info.update(messages=BATCH, users=vis.nusers, books=vis.nbooks,
                                words=vis.nwords, quick=QUICK)
    result = benchmark.pedantic(fn, args=args, rounds=BATCH_ROUNDS, iterations=1,
                                warmup_rounds=BATCH_WARMUP)
    assert vis.naudiences == n_before          # nothing new was interned in the timed part
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        ns = stats.stats.median * 1e9 / BATCH
        benchmark.extra_info.update(ns_per_computation=ns,
                                    ns_per_audience=ns / audiences_per_call)
    benchmark.extra_info.update(audiences=vis.naudiences, nbytes=vis.nbytes)
    return result


@pytest.mark.benchmark(group="routing.standard")
def test_standard_compute(benchmark, vis):
    """compute_standard of one TTORD user's order on the exchange gateway:
    members of its two books ORed, hashed, found in the intern table."""
    a = _run(benchmark, vis, vis._bench_compute, (0, XCH, BATCH, False))
    assert a == vis.standard_id("T0", "XCH")


@pytest.mark.benchmark(group="routing.standard")
def test_standard_compute_spread(benchmark, vis):
    """The same round all the users (TTORD users and exchange traders)."""
    a = _run(benchmark, vis, vis._bench_compute, (0, XCH, BATCH, True))
    assert a == vis.standard_id(f"T{(BATCH - 1) % USERS}", "XCH")


@pytest.mark.benchmark(group="routing.staged")
def test_staged_internal(benchmark, vis):
    """staged of one creator's INTERNAL order (SSE, child orders to XCH): the
    audience and the workers, two ANDed bitsets, each interned."""
    ids = _run(benchmark, vis, vis._bench_staged, (0, SSE, XCH, False, BATCH, False), 2)
    assert ids == vis.staged_ids("T0", "SSE", "XCH", False)


@pytest.mark.benchmark(group="routing.staged")
def test_staged_broker(benchmark, vis):
    """The same for a BROKER order (the brokers' books ANDed too)."""
    ids = _run(benchmark, vis, vis._bench_staged, (0, SSE, XCH, True, BATCH, False), 2)
    assert ids == vis.staged_ids("T0", "SSE", "XCH", True)


@pytest.mark.benchmark(group="routing.staged")
def test_staged_broker_spread(benchmark, vis):
    """BROKER orders round all the users as creators."""
    ids = _run(benchmark, vis, vis._bench_staged, (0, SSE, XCH, True, BATCH, True), 2)
    assert ids == vis.staged_ids(f"T{(BATCH - 1) % USERS}", "SSE", "XCH", True)


# ---- fan-out: one report to many recipients ------------------------------------

FAN = 100                       # users in one order book
FAN_ORDERS = 2_000 if QUICK else 10_000


def fan_stream():
    """FAN_ORDERS NewOrderSingle from user F0 for ESZ6, buys at prices that
    never cross: the engine acknowledges each (auto mode), one report each."""
    from fastcore.codec import Encoder
    enc = Encoder("F0", "FASTCORE")
    return [enc.encode("D", [(11, f"O{i}"), (55, "ESZ6"), (54, "1"), (38, "1"), (40, "2"),
                             (44, f"{4000 + (i % 400) * 0.25:.2f}"), (59, "0"),
                             (60, "20261121-09:30:00.000")], i + 1, 0)
            for i in range(FAN_ORDERS)]


def fan_config(shared: bool):
    """FAN users; ``shared``: all in one order book on CME-A (the same
    Member/Group), else without credentials (each alone)."""
    users = [{"name": f"F{i}"} for i in range(FAN)]
    if shared:
        for i, u in enumerate(users):
            u["credentials"] = {"CME-A": {"routing": f"DESK/ONE/{i}"}}
    return load({"users": users})


def submit_all(engine, msgs):
    for msg in msgs:
        engine.submit(msg, "F0", 1_795_253_400_000_000_000)


@pytest.mark.benchmark(group="routing.fanout")
def test_fanout_per_recipient(benchmark):
    """The stream on an engine whose FAN users share one order book (each
    acknowledgement to all FAN: its fields encoded once, copied under each
    recipient's header) against the same stream with each user alone,
    timed the same way in the same test: ``ns_per_recipient`` = (shared −
    alone) / (orders × (FAN − 1)), medians."""
    import statistics
    import time
    from fastcore.engine import Engine
    msgs, shared, alone = fan_stream(), fan_config(True), fan_config(False)
    out = Engine(shared).submit(msgs[0], "F0", 0)
    assert sorted(to for to, _ in out) == sorted(f"F{i}" for i in range(FAN))
    assert len({data[data.index(b"\x0135=8"):data.rindex(b"\x0110=")].split(b"\x0152=")[1]
                for _, data in out}) == 1                    # the same fields for everyone
    benchmark.extra_info.update(messages=FAN_ORDERS, recipients=FAN, quick=QUICK)
    benchmark.pedantic(submit_all, setup=lambda: ((Engine(shared), msgs), {}),
                       rounds=BATCH_ROUNDS, warmup_rounds=BATCH_WARMUP)
    if getattr(benchmark, "stats", None) is None:          # --benchmark-disable
        return
    times = []
    for _ in range(BATCH_ROUNDS):
        engine = Engine(alone)
        start = time.perf_counter()
        submit_all(engine, msgs)
        times.append(time.perf_counter() - start)
    base = statistics.median(times)
    benchmark.extra_info.update(
        ns_alone_per_order=base * 1e9 / FAN_ORDERS,
        ns_per_recipient=(benchmark.stats.stats.median - base) * 1e9 / (FAN_ORDERS * (FAN - 1)))
