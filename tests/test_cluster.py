"""The cluster (fastcore.cluster): real nats-server processes on 127.0.0.1
(a 3-node JetStream cluster), the FIX gateway in this process, the
partitions' engines in this process or as ``fastcore engine`` processes.

* determinism: a primary and its standby fed the same stream hold the same
  state; the output stream equals an offline replay of the input stream;
  an engine started later (from nothing, or from a snapshot) gets there too;
* failover: SIGKILL of the primary engine, SIGKILL of the input stream's
  NATS leader, a NATS node paused, each during a bounded order flood: no
  acknowledged order lost or doubled, no ExecID received twice, each order
  answered once; the failover time is measured and printed;
* fencing: a stale primary (SIGSTOP past its lease) publishes nothing
  twice; a publish with a stale expected last sequence is refused (10071);
* deduplication: the same input entry twice (its message id), the same FIX
  message in two entries (its MsgSeqNum), a session reset (record S);
* the gateway's edges: an unknown symbol, a partition with no engine yet;
* ``fastcore cluster`` as a process: orders on both partitions, SIGINT;
* regressions of what these tests found: ExecIDs and OrderIDs unique across
  partitions, a restarted gateway's session reset not dropped as a
  duplicate, a refused publish Fenced at once, a hung NATS node left (pings),
  two engines making a new cluster's streams at once.

Every wait polls a condition with a deadline (``clusterkit.until``)."""
from __future__ import annotations

import collections
import itertools
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

import pytest

from clusterkit import (Flood, LoopThread, Rig, cluster_table, entry, fix_bytes, gap_after,
                        keep_leaders_off, meta_leader, nos, order_exists, outputs, replay, until,
                        wall, write_config)
from fastcore.cluster.natsd import NatsCluster, free_ports
from fastcore.codec import parse
from fastcore.errors import ClusterError

NAMES = itertools.count(1)                  # cluster names: unique on the shared NATS
FAILOVERS: dict[str, list[float]] = collections.defaultdict(list)
# How many times each failover test runs (CLUSTER_FAILOVER_RUNS=5 for medians).
RUNS = range(1, 1 + int(os.environ.get("CLUSTER_FAILOVER_RUNS", "1")))


# ---- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def failover_summary():
    """The failover times measured, printed at the module's end (pytest -s)."""
    yield
    for what, times in FAILOVERS.items():
        print(f"\n[failover] {what}: median {statistics.median(times) * 1000:.0f} ms over "
              f"{len(times)} run(s): {', '.join(f'{t * 1000:.0f}' for t in times)} ms")


@pytest.fixture(scope="module")
def loop():
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture(scope="module")
def shared_nats(tmp_path_factory):
    """One 3-node NATS cluster for the tests that break no NATS node (each
    test has a cluster name of its own)."""
    nc = NatsCluster(tmp_path_factory.mktemp("nats"), nodes=3).start()
    yield nc
    nc.stop()


@pytest.fixture
def fresh_nats(tmp_path):
    """A 3-node NATS cluster of this test's own (it kills or pauses a node)."""
    nc = NatsCluster(tmp_path / "nats", nodes=3).start()
    yield nc
    nc.stop()


@pytest.fixture
def rig(request, tmp_path, loop, shared_nats):
    """``rig(**over)``: a test cluster (``clusterkit.Rig``) with a name of
    its own, on the shared NATS cluster or the one given; closed after."""
    rigs = []

    def make(nats_cluster=None, **over):
        name = f"t{next(NAMES)}"
        r = Rig(tmp_path / name, loop, nats_cluster or shared_nats, name, **over)
        rigs.append(r)
        return r
    yield make
    for r in reversed(rigs):
        r.close()


def report(record_property, what: str, seconds: float) -> None:
    FAILOVERS[what].append(seconds)
    record_property(what, round(seconds, 4))
    print(f"\n[failover] {what}: {seconds * 1000:.0f} ms")


# ---- 1. determinism ------------------------------------------------------------------------

@pytest.mark.parametrize("snapshot_every", [0, 7])
def test_primary_and_standby_hold_the_same_state_and_a_late_engine_replays_to_it(
        rig, snapshot_every):
    """A primary and its standby fed one flood of trading orders: the same
    state hash; the output stream is byte for byte an offline replay's; a
    third engine started afterwards (from nothing, or from the latest
    snapshot) reaches the same hash."""
    r = rig(snapshot_every=snapshot_every)
    a = r.partition(0, "p0-a")
    until(lambda: a.primary, 5, "p0-a primary")
    b = r.partition(0, "p0-b")
    held: list[tuple[int, bytes]] = []          # the outputs the standby held, as it held them

    class Tap(collections.deque):
        def append(self, item):
            held.append(item)
            super().append(item)
    r.loop.call(lambda: setattr(b, "pending", Tap(b.pending)))
    r.start_gateway()
    flood = Flood([r.fix("PM1"), r.fix("ET1")], 60, interval=0.001).start()
    try:
        until(flood.all_answered, 20, "every order answered")
    finally:
        flood.stop()
    assert flood.check() == []
    n = until(lambda: r.settled(0), 10, "one output entry per input entry")
    until(lambda: all(r.status(x)["applied"] == r.status(x)["published"] == n
                      and r.status(x)["pending"] == 0 for x in ("p0-a", "p0-b")), 10,
          "both engines worked every entry and saw its output out")
    sa, sb = r.status("p0-a"), r.status("p0-b")
    assert sa["primary"] and not sb["primary"]
    assert sa["hash"] == sb["hash"]
    assert sa["pending"] == sb["pending"] == 0
    assert sa["published"] == sb["published"] == n      # the standby saw them out
    assert sb["inputs"] == sa["inputs"] == 120

    replayed, ins, outs = r.check_streams(0)
    assert replayed.state_hash() == sa["hash"]
    assert held and all(payload == outs[k - 1].data for k, payload in held)
    sent = outputs([m.data for m in outs])
    assert sum(1 for _, m in sent if m.get(150) == "F") > 0       # orders traded
    assert sum(1 for _, m in sent if m.get(150) == "0") == 120

    r.partition(0, "p0-c")
    until(lambda: r.status("p0-c")["applied"] == n, 10, "the late engine caught up")
    sc = r.status("p0-c")
    assert sc["hash"] == sa["hash"] and not sc["primary"] and sc["pending"] == 0
    if snapshot_every:
        assert sa["snapshots"] >= 1
        assert sc["entries"] < n                                  # began from a snapshot
    else:
        assert sc["entries"] == n
    assert sa["outputs"] == n and sb["outputs"] == sc["outputs"] == 0    # published by a alone


# ---- the checks of a flood through a failover ------------------------------------------

def check_flood(r: Rig, flood: Flood, p: int = 0):
    """Everything the flood sent answered once, no ExecID received twice;
    the output stream the offline replay's, entry for entry; every
    acknowledged ClOrdID an order of the replayed engine, exactly once (its
    user's orders are as many as its acknowledged ClOrdIDs), acknowledged
    once in the output stream. Returns (replayed partition, inputs, outputs)."""
    assert flood.check() == []
    until(lambda: r.settled(p), 15, "one output entry per input entry")
    replayed, ins, outs = r.check_streams(p)
    engine = replayed.engine
    acked = flood.acked()
    assert all(len(times) == 1 for times in acked.values())
    assert len(acked) == len(flood.sent)            # the flood's orders are all accepted
    rows = collections.Counter(engine.orders()["session"].tolist())
    for comp_id in flood.got:
        mine = [c for c in acked if flood.sent[c][0] == comp_id]
        assert all(order_exists(engine, c, comp_id) for c in mine)
        assert rows[engine.sessions.index(comp_id)] == len(mine)
    news = collections.Counter(m[11] for _, m in outputs([m.data for m in outs])
                               if m.get(35) == "8" and m.get(150) == "0")
    assert set(news) == set(acked) and set(news.values()) == {1}
    return replayed, ins, outs


def client_failover(flood: Flood, outs, first_new: int, t_kill: float) -> float:
    """Seconds from ``t_kill`` (monotonic) to the first ExecutionReport at a
    client that came from output entry ``first_new`` or later (the first
    entries the new primary published): each client's reports arrive in
    the output stream's order, so it is its report number k + 1, k being
    its reports in the entries before."""
    early = outputs([m.data for m in outs[:first_new - 1]])
    before = collections.Counter(user for user, m in early if m.get(35) == "8")
    firsts = []
    for comp_id in flood.got:
        times = [t for t, _ in flood.reports(comp_id)]
        if len(times) > before[comp_id]:
            firsts.append(times[before[comp_id]])
    return min(firsts) - t_kill


def primary_log(proc) -> tuple[int, int]:
    """(term, the output entry it found the stream at) of the takeover an
    engine process logged last."""
    found = re.findall(r"primary\s+partition \d+: \S+ \(term (\d+)\), output at (\d+)", proc.log())
    assert found, proc.log()
    return int(found[-1][0]), int(found[-1][1])


# ---- 2. the primary engine killed ---------------------------------------------------------

@pytest.mark.parametrize("run", RUNS)
def test_sigkill_of_the_primary_engine_loses_and_doubles_nothing(rig, record_property, run):
    """Two ``fastcore engine`` processes for partition 0; the primary is
    SIGKILLed during a bounded flood of trading orders (two clients). The
    standby takes over after the lease; every order is answered once,
    nothing acknowledged is lost or doubled, the output stream is the
    replay's, and the survivor's state is the replay's."""
    r = rig(lease=0.5)
    procs = [r.engine(0, "p0-a"), r.engine(0, "p0-b")]
    until(lambda: all("from entry 1" in e.log() for e in procs), 15, "both engines started")
    name = until(lambda: r.probe.primary(0), 10, "a primary")
    primary = r.procs[name]
    standby = next(e for e in procs if e is not primary)
    r.start_gateway()
    flood = Flood([r.fix("PM1"), r.fix("ET1")], 250, interval=0.002).start()
    try:
        until(lambda: len(flood.acked()) >= 150, 20, "150 orders acknowledged")
        t_kill, w_kill = time.monotonic(), time.time()
        primary.kill()
        assert not flood.done.is_set()              # killed during the flood
        until(flood.all_answered, 30, "every order answered after the failover")
    finally:
        flood.stop()
    assert len(flood.sent) == 500
    replayed, ins, outs = check_flood(r, flood)
    assert r.probe.primary(0) == standby.node
    term, at = primary_log(standby)
    assert at < len(outs)                           # it published after the kill
    server = wall(outs[at].time) - w_kill           # its first entry stored
    client = client_failover(flood, outs, at + 1, t_kill)
    report(record_property, "engine SIGKILL: first output stored", server)
    report(record_property, "engine SIGKILL: first ExecutionReport at the client", client)
    # the standby counts the lease from when it saw the last renewal (up to a renewal
    # period, lease / 4, before the kill), then takes over at its next tick
    assert 0.25 <= server < 5.0
    assert standby.terminate() == 0
    status = standby.final_status()
    assert status["hash"] == replayed.state_hash()
    assert status["applied"] == len(ins) and status["takeovers"] == 1
    assert status["duplicates"] == 0


# ---- 3. the NATS leader of the input stream killed -------------------------------------------

def node_of(nats_cluster: NatsCluster, url: str) -> int:
    port = int(url.rsplit(":", 1)[1].strip("/"))
    return nats_cluster.ports.index(port)


@pytest.mark.parametrize("run", RUNS)
def test_sigkill_of_the_input_streams_nats_leader_loses_and_doubles_nothing(
        fresh_nats, rig, record_property, run):
    """During a bounded flood, SIGKILL the NATS node leading partition 0's
    input stream: the stream elects another leader, the gateway's
    publishes and the engines' consumers carry on; every order answered
    once, nothing acknowledged lost or doubled; the node restarted after
    catches up."""
    r = rig(fresh_nats, lease=0.5)
    a = r.partition(0, "p0-a")
    until(lambda: a.primary, 5, "p0-a primary")
    r.partition(0, "p0-b")
    r.start_gateway()
    stream = r.names.input(0)[0]
    flood = Flood([r.fix("PM1"), r.fix("ET1")], 250, interval=0.002).start()
    try:
        until(lambda: len(flood.acked()) >= 150, 20, "150 orders acknowledged")
        leader = r.probe.leader(stream)
        victim = fresh_nats.index(leader)
        t_kill = time.monotonic()
        fresh_nats.kill(victim)
        assert not flood.done.is_set()
        until(flood.all_answered, 40, "every order answered after the failover")
    finally:
        flood.stop()
    assert len(flood.sent) == 500
    replayed, ins, outs = check_flood(r, flood)
    assert r.probe.leader(stream) != leader
    times = sorted(t for t, _ in flood.reports())
    stall = gap_after(times, t_kill)
    late = [flood.acked()[c][0] - t_kill for c, (_, sent) in flood.sent.items() if sent > t_kill]
    report(record_property, "NATS leader SIGKILL: longest silence at the clients", stall)
    if late:
        report(record_property, "NATS leader SIGKILL: kill to the first ack of a later order",
               min(late))
    h = replayed.state_hash()
    until(lambda: r.status("p0-a")["hash"] == h and r.status("p0-b")["hash"] == h, 10,
          "both engines at the replay's state")
    fresh_nats.restart(victim)
    until(lambda: all(peer.current for peer in r.probe.info(stream).cluster.replicas or ())
          and len(r.probe.info(stream).cluster.replicas) == 2, 20,
          "the restarted node current again")



# ---- 4. fencing ---------------------------------------------------------------------------

def test_a_stale_primary_paused_past_its_lease_publishes_nothing_twice(rig):
    """The primary engine process SIGSTOPped past its lease: the standby
    takes over and publishes on; SIGCONT: the old primary steps down, and
    the output stream still holds exactly one entry per input entry, each
    the replay's, each published once; the old one ends as a standby at
    the same state."""
    r = rig(lease=0.5)
    procs = [r.engine(0, "p0-a"), r.engine(0, "p0-b")]
    until(lambda: all("from entry 1" in e.log() for e in procs), 15, "both engines started")
    stale = r.procs[until(lambda: r.probe.primary(0), 10, "a primary")]
    other = next(e for e in procs if e is not stale)
    r.start_gateway()
    out = r.names.output(0)[0]
    flood = Flood([r.fix("PM1"), r.fix("ET1")], 150, interval=0.004).start()
    try:
        until(lambda: len(flood.acked()) >= 40, 20, "40 orders acknowledged")
        stale.pause()
        at_pause = r.probe.last(out)
        until(lambda: r.probe.primary(0) == other.node, 10, "the standby took the lease")
        until(lambda: r.probe.last(out) >= at_pause + 10, 10, "the new primary published on")
        stale.resume()
        until(flood.all_answered, 30, "every order answered")
    finally:
        stale.resume()
        flood.stop()
    replayed, ins, outs = check_flood(r, flood)
    until(lambda: re.search(rf"standby\s+partition 0: {stale.node}: ", stale.log()), 10,
          "the stale primary stepped down")
    assert r.probe.primary(0) == other.node
    assert r.probe.last(out) == len(ins)
    assert stale.terminate() == 0           # the standby first: the primary resigns as it stops
    assert other.terminate() == 0
    old, new = stale.final_status(), other.final_status()
    assert not old["primary"] and new["primary"]
    assert old["hash"] == new["hash"] == replayed.state_hash()
    assert old["applied"] == new["applied"] == len(ins)
    print(f"\n[fence] {len(ins)} entries; stale primary: {old['outputs']} publishes "
          f"acknowledged (those after its pause duplicates by message id), fenced "
          f"{old['fenced']}; new primary: {new['outputs']}")


def fenced_rig(rig, loop):
    """A primary of partition 0 with nothing to do, and its output stream
    holding entries 1 to 3 that another engine published."""
    r = rig()
    part = r.primary(0)
    _, subject = r.names.output(0)
    for n in (1, 2, 3):
        loop.run(r.probe.js.publish(subject, b"",
                                    headers={"Nats-Msg-Id": f"other:{n}"}))
    return r, part


def test_a_publish_with_a_stale_expected_sequence_is_refused(rig, loop):
    """Output entry n published with Nats-Expected-Last-Sequence n - 1 when
    the stream already has n: the server refuses it (10071); the next entry
    goes in through the partition's ``_send``; the same entry again is a
    duplicate (its message id), not a second copy."""
    from nats.js.errors import APIError
    r, part = fenced_rig(rig, loop)
    stream, subject = r.names.output(0)
    with pytest.raises(APIError) as refused:
        loop.run(r.probe.js.publish(subject, b"x", headers={"Nats-Expected-Last-Sequence": "2",
                                                             "Nats-Msg-Id": "0:3"}))
    assert refused.value.err_code == 10071
    loop.run(part._send([(4, b"")]))
    assert r.probe.last(stream) == 4
    loop.run(part._send([(4, b"")]))             # a retry: dropped by its id
    assert r.probe.last(stream) == 4
    assert [m.headers.get("Nats-Msg-Id") for m in r.probe.entries(stream)] == \
        ["other:1", "other:2", "other:3", "0:4"]


def test_a_refused_output_publish_raises_fenced_at_once(rig, loop):
    """The partition's ``_send`` of entry 3 when the stream already holds
    3: Fenced, at once. (It waited on ``js.publish_async`` futures, which
    nats-py never completes for an error ack: a 2 s TimeoutError instead.)"""
    from fastcore.errors import Fenced
    r, part = fenced_rig(rig, loop)
    t0 = time.monotonic()
    with pytest.raises(Fenced, match="entry 3"):
        loop.run(part._send([(3, b"")]))
    assert time.monotonic() - t0 < 1.0
    assert r.probe.last(r.names.output(0)[0]) == 3


def test_a_primary_whose_view_of_the_output_is_stale_resyncs(rig, loop):
    """The output stream got entries 1 to 3 from elsewhere after the
    primary read it: its own entries 1 to 3 are refused (Fenced, counted),
    it drops what the stream holds, and publishes entry 4 as entry 4."""
    from fastcore.journal import Records
    r = rig()
    r.primary(0)
    out_stream, out_subject = r.names.output(0)
    _, in_subject = r.names.input(0)
    for n in (1, 2, 3):
        loop.run(r.probe.js.publish(out_subject, b"",
                                    headers={"Nats-Msg-Id": f"elsewhere:{n}"}))
    for n in (1, 2, 3, 4):
        rec = Records()
        rec.append("F", 0, 1_795_253_400_000_000_000 + n,
                   fix_bytes("PM1", n + 1, nos(f"S{n}"), now=1_795_253_400_000_000_000))
        loop.run(r.probe.js.publish(in_subject, rec.take(), headers={"Nats-Msg-Id": f"in:{n}"}))
    t0 = time.monotonic()
    until(lambda: r.probe.last(out_stream) == 4, 10, "entry 4 out")
    took = time.monotonic() - t0
    print(f"\n[fence] stale view: entry 4 out {1000 * took:.0f} ms after the inputs")
    st = r.status("p0-a")
    assert st["primary"] and st["applied"] == 4 and st["pending"] == 0
    assert st["fenced"] >= 1 and st["published"] == 4
    assert took < 1.5                   # not the 2 s publish timeout
    entries = r.probe.entries(out_stream)
    assert [m.headers.get("Nats-Msg-Id") for m in entries] == \
        ["elsewhere:1", "elsewhere:2", "elsewhere:3", "0:4"]
    assert [m[11] for _, m in outputs([entries[3].data])] == ["S4"]


# ---- 5. deduplication ---------------------------------------------------------------------

def test_a_resent_input_entry_is_stored_once(rig, loop):
    """The gateway's retry of an entry (same Nats-Msg-Id) is dropped by
    the input stream; the engine works the entry once."""
    r = rig()
    r.primary(0)
    stream, subject = r.names.input(0)
    data = entry(("F", 0, fix_bytes("PM1", 2, nos("D1"))))
    first = loop.run(r.probe.js.publish(subject, data, headers={"Nats-Msg-Id": "PM1:2:1"}))
    again = loop.run(r.probe.js.publish(subject, data, headers={"Nats-Msg-Id": "PM1:2:1"}))
    assert not first.duplicate and again.duplicate and again.seq == first.seq == 1
    assert r.probe.last(stream) == 1
    until(lambda: r.settled(0) == 1, 10, "entry 1 worked and out")
    st = r.status("p0-a")
    assert st["entries"] == 1 and st["inputs"] == 1 and st["duplicates"] == 0


def test_the_same_fix_message_in_two_entries_is_worked_once_until_a_session_reset(rig, loop):
    """The same FIX message (user, MsgSeqNum) in two entries: the engine
    skips it the second time (``duplicates``); after a record S (the
    session's sequence numbers begin again) MsgSeqNum 1 is taken again,
    and a repeat of that one skipped. The same on a running engine fed
    through the input stream, and offline with ``work``."""
    config = rig().config
    pm1 = 0
    entries = [
        entry(("F", pm1, fix_bytes("PM1", 2, nos("A")))),
        entry(("F", pm1, fix_bytes("PM1", 2, nos("A"))),         # a resend: skipped
              ("F", pm1, fix_bytes("PM1", 3, nos("B")))),
        entry(("S", pm1, b""), ("F", pm1, fix_bytes("PM1", 1, nos("C")))),
        entry(("F", pm1, fix_bytes("PM1", 1, nos("C")))),         # skipped again
    ]
    part, payloads = replay(config, 0, entries)
    assert part.worker.duplicates == 2 and part.worker.inputs == 3
    assert [[m[11] for _, m in outputs([p])] for p in payloads] == [["A"], ["B"], ["C"], []]
    assert all(order_exists(part.engine, c, "PM1") for c in "ABC")
    assert len(part.engine.orders()) == 3

    r = rig()
    live = r.partition(0, "p0-a")
    until(lambda: live.primary, 5, "primary")
    _, subject = r.names.input(0)
    for n, data in enumerate(entries, 1):
        loop.run(r.probe.js.publish(subject, data, headers={"Nats-Msg-Id": f"e{n}"}))
    until(lambda: r.settled(0) == 4, 10, "4 entries worked and out")
    st = r.status("p0-a")
    assert st["duplicates"] == 2 and st["inputs"] == 3 and st["hash"] == part.state_hash()
    r.check_streams(0)


# ---- 6. a NATS node paused ------------------------------------------------------------------

def paused_node_rig(fresh_nats, rig, *, gateway_on_it: bool):
    """A rig on ``fresh_nats`` and the node to pause: one that leads none of
    partition 0's streams nor the leaders bucket, nor JetStream's meta group
    (which places new consumers: with it paused, no consumer can be made
    until another is elected, 4 to 9 s); the engines connected to the other
    two nodes; the gateway to the other two too, or (with ``gateway_on_it``)
    to that node (its client knows the others from the server's INFO)."""
    r = rig(fresh_nats, lease=0.5)
    streams = [*r.names.input(0)[:1], *r.names.output(0)[:1], f"KV_{r.names.leaders}"]
    victim = 1 if meta_leader(fresh_nats) == fresh_nats.server_name(2) else 2
    keep_leaders_off(r.probe, streams, fresh_nats.server_name(victim))
    others = [u for i, u in enumerate(fresh_nats.urls) if i != victim]
    a = r.partition(0, "p0-a", servers=others)
    until(lambda: a.primary, 5, "p0-a primary")
    r.partition(0, "p0-b", servers=others)
    # on it: that node alone is named, the client learns of the others from it
    servers = [fresh_nats.urls[victim]] if gateway_on_it else others
    gw = r.start_gateway(cluster_table(r.tmp / "store", r.cfg.name, servers))
    on = node_of(fresh_nats, gw.server.nc.connected_url.geturl())
    assert (on == victim) == gateway_on_it
    return r, victim, streams


@pytest.mark.parametrize("run", RUNS)
def test_a_paused_nats_follower_does_not_stop_the_orders(fresh_nats, rig, record_property, run):
    """A NATS node (a follower of the partition's streams, no client on
    it) SIGSTOPped while orders flow, then SIGCONTed: the two others are a
    quorum, so orders go on being acknowledged during the pause (within a
    consumer's heartbeat recovery when one of the ordered consumers was on
    that node); nothing is lost or doubled."""
    r, victim, streams = paused_node_rig(fresh_nats, rig, gateway_on_it=False)
    flood = Flood([r.fix("PM1"), r.fix("ET1")], 200, interval=0.004).start()
    try:
        until(lambda: len(flood.acked()) >= 40, 20, "40 orders acknowledged")
        fresh_nats.pause(victim)
        t_pause = time.monotonic()
        n0 = len(flood.acked())
        until(lambda: len(flood.acked()) >= n0 + 100, 10, "100 more acknowledged while paused")
        t_resume = time.monotonic()
        fresh_nats.resume(victim)
        until(flood.all_answered, 30, "every order answered")
    finally:
        fresh_nats.resume(victim)
        flood.stop()
    check_flood(r, flood)
    during = [flood.acked()[c][0] - sent for c, (_, sent) in flood.sent.items()
              if t_pause < sent < t_resume - 0.2]
    worst = max(during)
    report(record_property, "NATS follower paused: worst ack latency during the pause", worst)
    # An ordered consumer (R1) placed on the paused node stalls until its client misses
    # two idle heartbeats and makes another (about 1 to 2 s for the gateway's, 0.5 s
    # heartbeats); one made on the paused node again costs a 2 s request timeout more.
    assert worst < 8.0
    until(lambda: all(p.current for p in r.probe.info(streams[0]).cluster.replicas), 20,
          "the resumed node current again")


def test_orders_go_on_while_the_gateways_nats_node_is_paused(fresh_nats, rig, record_property):
    """The node the gateway's NATS client is connected to (leading none of
    the partition's streams) SIGSTOPped: the gateway leaves it for another
    node (its pings go unanswered) and orders go on being acknowledged
    within a few seconds. (With nats-py's default pings, 2 x 120 s, it
    stayed on the hung node: no order was acknowledged while it was paused.)"""
    r, victim, _ = paused_node_rig(fresh_nats, rig, gateway_on_it=True)
    c = r.fix("PM1")
    c.send("D", nos("P0"))
    assert c.wait(lambda m: m.get_str(35) == "8").get_str(150) == "0"
    fresh_nats.pause(victim)
    try:
        t0 = time.monotonic()
        c.io.timeout = 12.0
        c.send("D", nos("P1"))
        got = c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == "P1")
        report(record_property, "the gateway's NATS node paused: ack of an order sent then",
               time.monotonic() - t0)
        assert got.get_str(150) == "0"
        assert node_of(fresh_nats, r.gateway.server.nc.connected_url.geturl()) != victim
    finally:
        fresh_nats.resume(victim)
    c.send("D", nos("P2"))
    assert c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == "P2").get_str(150) == "0"


# ---- the gateway's edges ----------------------------------------------------------------------

def test_an_unknown_symbol_is_rejected_by_partition_0(rig):
    """A NewOrderSingle for a symbol no partition trades goes to partition
    0's log, whose engine rejects it (OrdRejReason) as a single node would."""
    r = rig()
    r.primary(0)
    r.start_gateway()
    c = r.fix("PM1")
    c.send("D", nos("U1", symbol="XXX"))
    m = c.wait(lambda m: m.get_str(35) == "8")
    assert (m.get_str(11), m.get_str(150), m.get_str(39)) == ("U1", "8", "8")
    assert m.get_str(103) != "" and "XXX" in m.get_str(58)
    ins = r.probe.entries(r.names.input(0)[0])
    assert b"55=XXX\x01" in ins[-1].data
    assert r.probe.last(r.names.input(1)[0]) == 1          # PM1's session reset (S) only


def test_the_gateway_takes_orders_for_a_partition_with_no_engine_yet(rig):
    """Partition 1 has no engine: its orders wait in its log (the gateway
    and partition 0 go on); once an engine starts, they are acknowledged."""
    r = rig()
    r.primary(0)
    r.start_gateway()
    c = r.fix("PM1")
    c.send("D", nos("W1", symbol="CLF7"))
    c.send("D", nos("W2", symbol="ESZ6"))
    assert c.wait(lambda m: m.get_str(35) == "8").get_str(11) == "W2"
    in1, out1 = r.names.input(1)[0], r.names.output(1)[0]
    until(lambda: r.probe.last(in1) == 2, 10, "W1 in partition 1's log")
    assert r.probe.last(out1) == 0
    assert not [m for m in c.received if m.get_str(35) == "8" and m.get_str(11) == "W1"]
    r.partition(1, "p1-a")
    m = c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == "W1")
    assert m.get_str(150) == "0"
    c.send("D", nos("W3", symbol="ZNH7"))
    assert c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == "W3").get_str(150) == "0"


def test_execids_and_orderids_are_unique_across_partitions(rig):
    """A client trading on both partitions never gets an ExecID (17) or an
    OrderID (37) twice (each partition's engine numbered both from 1)."""
    r = rig()
    for p in (0, 1):
        r.primary(p)
    r.start_gateway()
    c = r.fix("PM1")
    c.send("D", nos("X0", symbol="ESZ6"))
    c.send("D", nos("X1", symbol="CLF7"))
    a = c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == "X0")
    b = c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == "X1")
    assert a.get_str(150) == b.get_str(150) == "0"
    assert a.get_str(17) != b.get_str(17), f"ExecID {a.get_str(17)} twice"
    assert a.get_str(37) != b.get_str(37), f"OrderID {a.get_str(37)} twice"


def test_orders_after_a_gateway_restart_and_a_session_reset_are_answered(rig):
    """The gateway stopped and started again on the same store and streams,
    the client logs on with ResetSeqNumFlag: its entry S is not dropped as a
    duplicate of the first run's (its id was '<session>:reset:<record
    count>', the same again in a new process), so the engine takes the new
    MsgSeqNums (they were skipped as duplicates: orders never answered)."""
    r = rig()
    r.primary(0)
    r.start_gateway()
    c = r.fix("PM1")
    for k in ("R1", "R2"):
        c.send("D", nos(k))
        assert c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == k).get_str(150) == "0"
    r.stop_gateway()
    r.start_gateway()                                   # the same store and streams
    c = r.fix("PM1")                                    # Logon with ResetSeqNumFlag
    c.send("D", nos("R3"))
    m = c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == "R3")
    assert m.get_str(150) == "0"
    assert r.status("p0-a")["duplicates"] == 0
    ids = [m.headers.get("Nats-Msg-Id") for m in r.probe.entries(r.names.input(0)[0])]
    assert len([i for i in ids if ":reset:" in i]) == 2 and len(set(ids)) == len(ids)


def test_a_restarted_gateway_completes_the_last_entry_a_crash_cut_short(rig):
    """The gateway stopped while relaying an output entry: its cursors name
    it, PM1's store does not have it (its files as they were before it).
    The next gateway relays that entry again, to the sessions that lack it
    only: PM1's store gets R2's report once, numbered on from R1's."""
    r = rig()
    r.primary(0)
    r.start_gateway()
    c = r.fix("PM1")
    c.send("D", nos("R1"))
    c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == "R1")
    store = r.gateway.acceptor.users["PM1"].store
    paths = [store.path, store.path[:-len(".msgs")] + ".seqs"]
    before = {path: open(path, "rb").read() for path in paths}
    c.send("D", nos("R2"))
    c.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == "R2")
    r.stop_gateway()
    for path, data in before.items():               # PM1's store without R2's report
        with open(path, "wb") as f:
            f.write(data)
    r.start_gateway()
    store = r.gateway.acceptor.users["PM1"].store
    reports = [parse(data) for _, data in store.get(1, store.next_out - 1)
               if parse(data).get_str(35) == "8"]
    assert [(m.get_str(11), m.get_str(150)) for m in reports] == [("R1", "0"), ("R2", "0")]
    assert int(reports[1].get_str(34)) == int(reports[0].get_str(34)) + 1


def test_two_engines_started_at_once_on_a_new_cluster_both_start(rig, loop):
    """Two engines making a new cluster's streams at once both start (one
    read of a stream just made went unanswered: start() died with a nats
    TimeoutError), one primary, one standby."""
    import asyncio
    from fastcore.cluster.node import Partition
    r = rig(setup_first=False)
    parts = [Partition(r.config, 0, "p0-a"), Partition(r.config, 0, "p0-b")]

    async def both():
        return await asyncio.gather(*(p.start() for p in parts), return_exceptions=True)
    try:
        results = loop.run(both(), 30)
        assert results == [None, None]
        until(lambda: sorted(loop.call(lambda: [p.primary for p in parts])) == [False, True],
              5, "one primary")
    finally:
        for p in parts:
            if p.sub is not None:
                loop.run(p.stop(), 10)


def test_stop_after_a_failed_start_closes_the_connection(rig, loop):
    """A start that fails after connecting (streams of 5 replicas on 3
    nodes: refused) raises ClusterError; stop() then closes the connection."""
    from fastcore.cluster.node import Partition
    r = rig(setup_first=False, cluster={"replicas": 5})
    part = Partition(r.config, 0, "p0-a")
    with pytest.raises(ClusterError):
        loop.run(part.start())
    try:
        loop.run(part.stop(), 10)
        assert part.nc.is_closed
    finally:
        if part.nc is not None and not part.nc.is_closed:
            loop.run(part.nc.close(), 10)


# ---- 7. fastcore cluster as a process ----------------------------------------------------------

def nats_base_port() -> int:
    """A client port p with p..p+2, their route ports (+2000) and monitoring
    ports (+4000) free on 127.0.0.1 now."""
    for _ in range(200):
        base = free_ports(1)[0]
        if base + 4002 > 65535:
            continue
        socks = []
        try:
            for port in [base + d + i for d in (0, 2000, 4000) for i in range(3)]:
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free NATS ports")


def test_fastcore_cluster_serves_both_partitions_and_stops_on_sigint(tmp_path):
    """``fastcore cluster`` (a process): three NATS nodes, two engines a
    partition and the gateway; a client's order on each partition is
    acknowledged; SIGINT stops it all with exit code 0."""
    from fastcore.server.client import ClientError, FixClient
    fix_port, msgspec_port = free_ports(2)
    nats_port = nats_base_port()
    table = cluster_table(tmp_path / "ignored", "fastcore", lease=0.5)
    table["server"] = {"fix_port": fix_port, "msgspec_port": msgspec_port}
    table["cluster"]["nats_port"] = nats_port
    del table["cluster"]["servers"]
    path = write_config(tmp_path / "cluster.toml", table)
    store = tmp_path / "store"
    with open(tmp_path / "cluster.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "fastcore.cli", "cluster", "--config", path,
                                 "--store", str(store)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    def ours() -> list[int]:
        """The processes it started (their command lines name tmp_path:
        the engines their configuration, the NATS nodes theirs)."""
        found = []
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if str(tmp_path).encode() in f.read() and int(pid) != proc.pid:
                        found.append(int(pid))
            except (OSError, ValueError):
                pass
        return found

    client = None
    try:
        def logon():
            assert proc.poll() is None, (tmp_path / "cluster.log").read_text()
            try:
                return FixClient("127.0.0.1", fix_port, "PM1", timeout=5)
            except (ClientError, OSError):
                return None
        client = until(logon, 30, "the gateway takes a logon", step=0.1)
        client.send("D", nos("C0", symbol="ESZ6"))
        client.send("D", nos("C1", symbol="CLF7"))
        client.io.timeout = 20
        for k in ("C0", "C1"):
            m = client.wait(lambda m: m.get_str(35) == "8" and m.get_str(11) == k)
            assert m.get_str(150) == "0", m.get_str(58, "")
        assert sorted(os.listdir(store / "engines")) == [f"p{p}-{x}.log" for p in (0, 1)
                                                          for x in "ab"]
        assert len(ours()) == 3 + 4                     # three NATS nodes, four engines
        client.close()
        client = None
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        print(f"\n[cluster] stopped {1000 * (time.monotonic() - t0):.0f} ms after SIGINT")
        until(lambda: not ours(), 10, "its engines and NATS nodes gone")
    finally:
        if client is not None:
            client.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for pid in ours():                              # what it left behind, if it failed
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
