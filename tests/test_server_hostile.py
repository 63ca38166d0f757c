"""The FIX session layer against hostile or broken clients, over real sockets
on 127.0.0.1: oversized messages, garbage between messages, a sender that
stalls mid-message, a message flood beyond the rate limit, and guessed
CompIDs and passwords. Each gets its FIX answer, is logged and counted, and
the other sessions (and, where it survives, the session itself) carry on.

Nothing waits for the clock to synchronise: the stall timer runs through
``tick`` with a synthetic time; the rate limit's clock is the receive time of
each read, and a burst written at once is one read; the failed-logon delays
are measured around a blocking read (a lower bound) and read back from the
log. The ``server`` fixture (tests/conftest.py) runs each test under asyncio
and under uvloop.
"""
from __future__ import annotations

import random
import time

import pytest

from fastcore.config import ConfigError, load
from fastcore.server.client import FixClient, LogonRefused
from harness import ALONE
from test_server_session import (  # noqa: F401  (fix is a fixture)
    assert_closed, encoded, events, expect, field, fields, fix, nothing_more, order, session,
    tick,
)

PASSWORD = [{"target_comp_id": "PM1", "password": "pw"}]


def limits(sessions: list | None = None, **server) -> pytest.MarkDecorator:
    """The test's server: the users trade alone (no report of ET1's reaches
    PM1), with these ``server`` settings and ``sessions``."""
    return pytest.mark.server_config({**ALONE, "server": server,
                                      **({"sessions": sessions} if sessions else {})})


pytestmark = limits()


# ---- helpers ---------------------------------------------------------------------------

def counters(server) -> dict[str, int]:
    """The acceptor's counters (read on the server's loop)."""
    return server.call(lambda: dict(server.acceptor.counters))


def largest_buffer(server) -> int:
    """The largest receive buffer of the server's connections, in bytes."""
    return server.call(lambda: max((c.buffer_size for c in server.acceptor.connections),
                                   default=0))


def wait_events(server, event: str, n: int) -> list[str]:
    """The texts of the first ``n`` logged ``event``s, waiting for them (bounded)."""
    def found():
        texts = [text for e, _, text in server.events if e == event]
        return texts if len(texts) >= n else None
    with server.logged:
        assert server.logged.wait_for(found, 10), server.events
        return found()


def trades_on(client: FixClient, cl_ord_id: str) -> None:
    """``client``'s session works an order: its ExecutionReport New arrives."""
    client.send("D", order(cl_ord_id))
    assert fields(expect(client, "8", {11: cl_ord_id}), 39, 150) == ("0", "0")


def oversized(client: FixClient, size: int, inside: bytes = b"") -> bytes:
    """A NewOrderSingle (the client's next MsgSeqNum) with a Text (58) of
    ``size`` bytes, ``inside`` in its middle (raw bytes: a message, say)."""
    text = "x" * size
    data = encoded(client, "D", order("BIG") + [(58, text)])
    at = data.index(text.encode()) + size // 2
    return data[:at] + inside + data[at + len(inside):]


def body_length(data: bytes) -> int:
    """BodyLength (9) of a message's bytes."""
    return int(data.split(b"\x01")[1][2:])


def chunks(data: bytes, n: int) -> list[bytes]:
    return [data[i:i + n] for i in range(0, len(data), n)]


# An event loop's timer may fire up to a millisecond before its delay as
# time.monotonic() counts it (uvloop keeps its time in whole milliseconds).
TIMER_SLACK = 0.002


def refused_after(client: FixClient, password: str | None) -> tuple[float, str]:
    """Seconds from a Logon to its refusal (the timer's slack added), and
    the refusal's Text."""
    start = time.monotonic()
    with pytest.raises(LogonRefused) as refused:
        client.logon(password=password)
    return time.monotonic() - start + TIMER_SLACK, refused.value.text


# ---- oversized messages ----------------------------------------------------------------

@limits(max_body_length=1024)
def test_oversized_message_rejected_and_dropped_whole(server, fix):
    """200 kB with BodyLength above the limit, over many reads: a Reject
    373=5 on tag 9 naming the limit, its MsgSeqNum counts, every byte of it
    is dropped (a message inside is not worked), the buffer stays its size,
    and the next message is worked. ET1 trades meanwhile."""
    pm, et = fix("PM1"), fix("ET1")
    smuggled = pm.encoder.encode("D", order("SMUGGLED"), pm.seq + 2, time.time_ns())
    data = oversized(pm, 200_000, inside=smuggled)
    big_seq = pm.seq
    parts = chunks(data, 4096)
    for part in parts[:len(parts) // 2]:
        pm.write(part)
    trades_on(et, "E1")                             # PM1 is half way through
    for part in parts[len(parts) // 2:]:
        pm.write(part)
    pm.send("D", order("Z1"))
    reject = expect(pm, "3")
    limit = f"BodyLength {body_length(data)} above the limit of 1024"
    assert fields(reject, 45, 373, 371, 372, 58) == (str(big_seq), "5", "9", "D", limit)
    assert fields(expect(pm, "8"), 11, 150) == ("Z1", "0")
    nothing_more(pm)                                # SMUGGLED was not worked
    assert session(server, "PM1", "next_in") == pm.seq + 1
    assert largest_buffer(server) == 65536
    assert counters(server)["oversized"] == 1 and counters(server)["garbled"] == 0
    (text,) = [text for who, text in events(server, "oversized") if who == "FASTCORE->PM1"]
    assert text == f"MsgSeqNum {big_seq}, {len(data)} bytes dropped: {limit}"
    trades_on(et, "E2")


@limits(max_body_length=1024)
def test_oversized_message_in_a_gap(server, fix):
    """An oversized message above the expected MsgSeqNum: rejected, and it
    counts once the gap is filled (it is not asked for again)."""
    pm = fix("PM1")
    pm.seq += 1                                     # 2 is lost
    pm.write(oversized(pm, 5000))                   # 3
    assert fields(expect(pm, "3"), 45, 373, 371) == ("3", "5", "9")
    assert fields(expect(pm, "2"), 7, 16) == ("2", "0")
    pm.send("4", [(123, "Y"), (36, 3)], seq=2, poss_dup=True, orig_sending_time=time.time_ns())
    nothing_more(pm)
    assert session(server, "PM1", "next_in") == pm.seq + 1


@limits(max_body_length=1024)
def test_oversized_message_without_a_readable_msg_seq_num(server, fix):
    """No MsgSeqNum in the first 512 bytes: only logged and counted, the
    sequence untouched."""
    pm = fix("PM1")
    body = b"35=D\x0149=PM1\x0156=FASTCORE\x0158=" + b"y" * 3000 + b"\x0134=2\x01"
    data = b"8=FIX.4.4\x019=%d\x01" % len(body) + body + b"10=000\x01"
    pm.write(data)
    trades_on(pm, "Z1")
    nothing_more(pm)
    assert counters(server)["oversized"] == 1
    assert events(server, "oversized") == [
        ("FASTCORE->PM1", f"{len(data)} bytes dropped: BodyLength {len(body)} "
                          f"above the limit of 1024")]


@limits(max_body_length=1024)
def test_oversized_message_before_logon(server, fix):
    """Before the Logon there is no session to answer: dropped, logged and
    counted; the Logon after it is accepted."""
    pm = fix("PM1", logon=False)
    pm.write(oversized(pm, 100_000))
    pm.seq = 0
    pm.logon()
    trades_on(pm, "Z1")
    assert counters(server)["oversized"] == 1
    peer = f"127.0.0.1:{pm.io.sock.getsockname()[1]}"
    assert [who for who, _ in events(server, "oversized")] == [peer]


# ---- garbage between messages ----------------------------------------------------------

def garbage(rng: random.Random) -> bytes:
    """Random bytes, biased to look like FIX (tags, '=', SOH, a BeginString's
    prefix), never a whole "8=FIX": what follows them would be framed from it."""
    alphabet = [bytes([b]) for b in range(256)] + [b"\x01", b"=", b"8=FI", b"9=12", b"35=D",
                                                  b"10=", b"8=", b"34=7"] * 16
    while True:
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120)))
        if b"8=FIX" not in data:
            return data


def test_random_garbage_between_orders_skipped(server, fix):
    """Seeded random garbage before each of 200 orders: every order worked,
    in order; each run of garbage dropped, logged and counted; ET1 trades
    on."""
    rng = random.Random(20261121)
    pm, et = fix("PM1"), fix("ET1")
    data = b"".join(garbage(rng) + encoded(pm, "D", order(f"G{i}")) for i in range(200))
    for part in chunks(data, 1500):
        pm.write(part)
    trades_on(et, "E1")
    pm.sync()
    assert [field(m, 11) for m in pm.take()] == [f"G{i}" for i in range(200)]
    assert session(server, "PM1", "next_in") == pm.seq + 1
    garbled = counters(server)["garbled"]
    assert garbled >= 200                           # a run split over two reads counts twice
    texts = [text for who, text in events(server, "garbled") if who == "FASTCORE->PM1"]
    assert len(texts) == garbled and all(" bytes dropped: " in text for text in texts)
    trades_on(et, "E2")


# ---- a sender that stalls mid-message --------------------------------------------------

def test_stalled_message_logs_the_session_out(server, fix):
    """Half a message and nothing more: at stalled_message_timeout (30 s)
    the session gets a Logout saying so and is closed; ET1 trades on."""
    pm, et = fix("PM1", heartbeat=60), fix("ET1", heartbeat=60)
    pm.write(encoded(pm, "D", order("S0")) + encoded(pm, "D", order("S1"))[:40])
    assert field(expect(pm, "8"), 11) == "S0"       # the read with the half is handled
    tick(server, 29)
    assert session(server, "PM1", "logged_on") and "stalled" not in counters(server)
    trades_on(et, "E1")
    tick(server, 31)
    logout = expect(pm, "5")
    assert field(logout, 58) == "stalled: a message incomplete for 30 s"
    assert_closed(pm)
    assert pm.received == []
    assert counters(server)["stalled"] == 1
    trades_on(et, "E2")


def test_trickled_message_still_stalls(server, fix):
    """A message trickled in a few bytes at a time: its timer runs from its
    first bytes."""
    pm = fix("PM1", heartbeat=60)
    data = encoded(pm, "D", order("S1"))
    pm.write(data[:20])
    tick(server, 20)
    pm.write(data[20:30])
    tick(server, 31)
    assert field(expect(pm, "5"), 58) == "stalled: a message incomplete for 30 s"
    assert_closed(pm)


def test_message_completed_in_time_does_not_stall(server, fix):
    pm = fix("PM1", heartbeat=60)
    data = encoded(pm, "D", order("S1"))
    pm.write(data[:40])
    tick(server, 20)
    pm.write(data[40:])
    assert field(expect(pm, "8"), 11) == "S1"
    tick(server, 31)
    nothing_more(pm)


@limits(max_body_length=1024)
def test_oversized_message_not_sent_whole_stalls(server, fix):
    """The rest of an oversized message that never comes (a BodyLength of a
    gigabyte, say) ends the session at the stall timeout."""
    pm = fix("PM1", heartbeat=60)
    pm.write(oversized(pm, 2000)[:600])
    assert fields(expect(pm, "3"), 373, 371) == ("5", "9")
    tick(server, 31)
    assert field(expect(pm, "5"), 58) == "stalled: a message incomplete for 30 s"
    assert_closed(pm)


# ---- a message flood -------------------------------------------------------------------

def flood(client: FixClient, n: int) -> list[int]:
    """``n`` orders A0.. in one write (one read: one receive time); their MsgSeqNums."""
    data = b"".join(encoded(client, "D", order(f"A{i}")) for i in range(n))
    client.write(data)
    return list(range(client.seq - n + 1, client.seq + 1))


def answers(client: FixClient) -> list[tuple]:
    """(MsgType, ClOrdID or RefSeqNum, SessionRejectReason, Text) of what arrived."""
    return [(m.msg_type, field(m, 11) or field(m, 45), field(m, 373), field(m, 58))
            for m in client.take(admin=True)]


@limits(max_message_rate=5)
def test_messages_over_the_rate_rejected_unworked(server, fix):
    """Rate 5 (a burst of 5; max_throttled: 5): of 9 orders at once, 5 are
    worked and 4 rejected (373=99, "throttled"), their MsgSeqNums counted;
    the session carries on and ET1 trades on."""
    pm, et = fix("PM1"), fix("ET1")
    seqs = flood(pm, 9)
    pm.wait(lambda m: field(m, 45) == str(seqs[-1]))    # the last answer
    trades_on(et, "E1")
    pm.logout()                                     # a Logout is never throttled
    throttled = "throttled: more than 5 messages a second"
    assert answers(pm) == [("8", f"A{i}", None, None) for i in range(5)] + \
        [("3", str(s), "99", throttled) for s in seqs[5:]] + [("5", None, None, None)]
    assert counters(server)["throttled"] == 4 and "rate_logouts" not in counters(server)
    assert [text for who, text in events(server, "throttled")] == [
        f"from MsgSeqNum {seqs[5]}: more than 5 messages a second"]
    again = fix("PM1")                              # A5 was not worked: not a duplicate
    trades_on(again, "A5")


@limits(max_message_rate=5, max_throttled=3)
def test_flood_past_max_throttled_logs_the_session_out(server, fix):
    pm, et = fix("PM1"), fix("ET1")
    seqs = flood(pm, 10)
    assert_closed(pm)
    throttled = "throttled: more than 5 messages a second"
    assert answers(pm) == [("8", f"A{i}", None, None) for i in range(5)] + \
        [("3", str(s), "99", throttled) for s in seqs[5:8]] + \
        [("5", None, None, "rate limit exceeded: more than 3 messages over 5 a second")]
    assert counters(server)["rate_logouts"] == 1 and counters(server)["throttled"] == 4
    trades_on(et, "E1")


@limits(max_message_rate=0)
def test_rate_0_is_no_limit(server, fix):
    pm = fix("PM1")
    flood(pm, 2000)
    pm.sync()
    assert len(pm.take()) == 2000 and "throttled" not in counters(server)


# ---- guessed CompIDs and passwords -----------------------------------------------------

def refused_delays(server) -> list[str]:
    """The delay each logged refusal names ("" when answered at once)."""
    return [text.rpartition("(answered in ")[2].rstrip(" s)") if "answered in" in text else ""
            for _, text in events(server, "refused")]


@limits(PASSWORD, logon_failure_delay=0.05)
def test_wrong_passwords_answered_later_each_time(server, fix):
    """The k-th wrong password in a row is answered after 0.05 * 2**(k-1)
    s; a logon with the right one ends the row."""
    for delay in (0.05, 0.1, 0.2):
        elapsed, text = refused_after(fix("PM1", logon=False), "nope")
        assert elapsed >= delay and text == "logon refused"
    right = fix("PM1", password="pw")
    right.logout()
    elapsed, _ = refused_after(fix("PM1", logon=False), None)
    assert elapsed >= 0.05
    assert refused_delays(server) == ["0.05", "0.1", "0.2", "0.05"]
    assert counters(server)["refused_logons"] == 4 and counters(server)["wrong_password"] == 4


@limits(logon_failure_delay=0.05)
def test_unknown_comp_ids_answered_later_by_peer(server, fix):
    """Unknown CompIDs count by the peer's address, whatever the CompID;
    closed without an answer."""
    for comp_id, delay in (("NOBODY", 0.05), ("NOONE", 0.1)):
        client = fix(comp_id, logon=False)
        elapsed, text = refused_after(client, None)
        assert elapsed >= delay and text == "" and client.received == []
    assert refused_delays(server) == ["0.05", "0.1"]
    assert counters(server)["unknown_comp_id"] == 2


@limits(PASSWORD, logon_failure_delay=8)
def test_failed_logon_delay_capped(server, fix):
    """8, 16, then 30 s (the cap); the clients give up before the answers,
    and the right password logs on at once."""
    for n in range(1, 5):
        client = fix("PM1", logon=False)
        client.write(client.encoder.logon(1, time.time_ns(), heart_bt_int=30, password="x"))
        wait_events(server, "refused", n)
        client.close()
    assert refused_delays(server) == ["8", "16", "30", "30"]
    right = fix("PM1", password="pw")
    trades_on(right, "Z1")
    assert not events(server, "error")


@limits(PASSWORD, logon_failure_delay=1.0)
def test_held_refusal_blocks_nobody(server, fix):
    """While a refused Logon is held, ET1 trades; the Logout comes at the
    delay."""
    et = fix("ET1")
    pm = fix("PM1", logon=False)
    start = time.monotonic()
    pm.write(pm.encoder.logon(1, time.time_ns(), heart_bt_int=30, password="guess"))
    wait_events(server, "refused", 1)
    trades_on(et, "E1")
    assert pm.received == [] and pm.io.buf == b""
    assert field(expect(pm, "5"), 58) == "logon refused"
    assert time.monotonic() - start + TIMER_SLACK >= 1.0
    assert_closed(pm)
    trades_on(et, "E2")


@limits(PASSWORD, logon_failure_delay=20)
def test_shutdown_answers_held_refusals(server, fix):
    pm = fix("PM1", logon=False)
    pm.write(pm.encoder.logon(1, time.time_ns(), heart_bt_int=30, password="guess"))
    wait_events(server, "refused", 1)
    server.call(server.acceptor.shutdown, time.time_ns())
    assert field(expect(pm, "5"), 58) == "logon refused"
    assert_closed(pm)


# ---- the settings ----------------------------------------------------------------------

@pytest.mark.parametrize("key, value, why", [
    ("stalled_message_timeout", 0, "must be positive"),
    ("max_message_rate", -1, "must not be negative"),
    ("max_throttled", -1, "must not be negative"),
    ("logon_failure_delay", -0.5, "must not be negative"),
])
def test_limits_checked(key, value, why):
    with pytest.raises(ConfigError) as refused:
        load({"server": {key: value}})
    assert str(refused.value) == f"server.{key}: {why}"


def test_limits_default():
    srv = load().server
    assert (srv.max_body_length, srv.stalled_message_timeout, srv.max_message_rate,
            srv.max_throttled, srv.logon_failure_delay) == (65536, 30, 200_000, 0, 0.25)
