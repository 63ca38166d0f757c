"""The FIX 4.4 session layer of the server (fastcore.server.session), over
real sockets on 127.0.0.1: logon, heartbeats and test requests, sequencing
and gaps, ResendRequest, SequenceReset, session-level rejects, the header
checks, logout and shutdown, orders end to end with the drop copy, messages
stored for a session that is offline, the msgspec port, and garbled input.

Nothing waits for the clock: ``tick`` runs the acceptor's timers on the
server's loop with a synthetic time in the future, every wait on a client is
bounded by its timeout, and ``nothing_more`` (a TestRequest answered) proves
that the server sent nothing else before its answer. The ``server`` fixture
(tests/conftest.py) runs each test under asyncio and under uvloop.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from fastcore.codec import Encoder, Message, parse
from fastcore.messages import NewOrderSingle, Report
from harness import ALONE
from fastcore.server.client import (
    ClientError, ConnectionClosed, FixClient, LogonRefused, MsgClient,
)

NS = 1_000_000_000
HB = 30                         # the HeartBtInt the clients ask for
TEST_AFTER = HB + HB / 5 + 1    # seconds of client silence that get a TestRequest

Fields = list[tuple[int, str]]


# ---- helpers ---------------------------------------------------------------------------

def order(cl_ord_id: str, side: str = "1", qty: str = "5", px: str = "100") -> Fields:
    """The body of a day limit NewOrderSingle (35=D) for ESZ6."""
    return [(11, cl_ord_id), (55, "ESZ6"), (54, side), (38, qty), (40, "2"), (44, px),
            (59, "0"), (60, "20261121-09:30:00")]


def without(body: Fields, tag: int) -> Fields:
    """``body`` less ``tag``."""
    return [(t, v) for t, v in body if t != tag]


def replaced(body: Fields, tag: int, value: str) -> Fields:
    """``body`` with the value of ``tag`` replaced by ``value``."""
    return [(t, value if t == tag else v) for t, v in body]


def field(msg: Message, tag: int) -> str | None:
    """The value of ``tag`` in ``msg``, None when absent."""
    return msg.get_str(tag, None)


def fields(msg: Message, *tags: int) -> tuple[str | None, ...]:
    """The values of ``tags`` in ``msg`` (None for an absent one)."""
    return tuple(field(msg, tag) for tag in tags)


def seq(msg: Message) -> int:
    """MsgSeqNum (34) of ``msg``."""
    return msg.get_int(34)


def expect(client: FixClient, msg_type: str, match: dict[int, str] | None = None) -> Message:
    """The first message of ``msg_type`` received (waiting for it) with the
    field values of ``match``, removed from ``client.received``."""
    msg = client.wait(lambda m: m.msg_type == msg_type
                      and all(field(m, t) == v for t, v in (match or {}).items()))
    client.received.remove(msg)
    return msg


def nothing_more(client: FixClient) -> None:
    """Sync: the server sent nothing else (session messages included)."""
    client.sync()
    assert [(m.msg_type, seq(m)) for m in client.take(admin=True)] == []


def assert_closed(client: FixClient) -> None:
    """The server closes the connection (what arrives before is kept in
    ``client.received``)."""
    with pytest.raises(ConnectionClosed):
        client.wait(lambda m: False)


def encoded(client: FixClient, msg_type: str, body: Fields = ()) -> bytes:
    """The bytes of the client's next message (taking its next MsgSeqNum), not sent."""
    return client.encoder.encode(msg_type, body, client.next_seq(), time.time_ns())


def gap_fill(client: FixClient, begin: int, new_seq: int) -> None:
    """Send SequenceReset-GapFill numbered ``begin`` to NewSeqNo ``new_seq``,
    as a resend (PossDupFlag)."""
    client.send("4", [(123, "Y"), (36, new_seq)], seq=begin, poss_dup=True,
                orig_sending_time=time.time_ns())


def resent(client: FixClient, begin: int, end: int) -> list[tuple]:
    """Send ResendRequest ``begin``-``end``; what the server sent before a
    sync, as (MsgType, MsgSeqNum, PossDupFlag, GapFillFlag, NewSeqNo,
    ClOrdID) (the messages stay in ``client.received``)."""
    client.send("2", {7: begin, 16: end})
    client.sync()
    return [(m.msg_type, seq(m), *fields(m, 43, 123, 36, 11)) for m in client.received]


def tick(server, seconds: float) -> None:
    """Run the acceptor's timers as if ``seconds`` had passed (synthetic time)."""
    server.call(server.acceptor.tick, time.time_ns() + int(seconds * NS))


def session(server, comp_id: str, attr: str) -> Any:
    """An attribute of the server's session with ``comp_id`` (read on its loop)."""
    return server.call(lambda: getattr(server.acceptor.session(comp_id), attr))


def events(server, event: str) -> list[tuple[str, str]]:
    """(who, text) of each ``event`` the server logged."""
    return server.call(lambda: [(who, text) for e, who, text in server.events if e == event])


def trader(server, user: str = "PM1") -> MsgClient:
    """A trader logged on to the msgspec port."""
    return MsgClient("127.0.0.1", server.msgspec_port, user)


@pytest.fixture
def fix(server) -> Iterator[Callable[..., FixClient]]:
    """``fix(comp_id, logon=True, password=, heartbeat=HB, reset=True, seq=1)``:
    a FixClient of the server, logged on unless ``logon=False``. Every
    client is closed when the test ends (so the server stops at once)."""
    clients: list[FixClient] = []

    def connect(comp_id: str = "PM1", *, logon: bool = True, password: str | None = None,
                heartbeat: int = HB, reset: bool = True, **kw: Any) -> FixClient:
        client = FixClient("127.0.0.1", server.fix_port, comp_id, logon=False, **kw)
        clients.append(client)
        if logon:
            client.logon(password=password, heartbeat=heartbeat, reset=reset)
        return client

    yield connect
    for client in clients:
        client.close()


# ---- logon -----------------------------------------------------------------------------

def test_logon_accepted(fix):
    client = fix("PM1", logon=False)
    answer = client.logon(heartbeat=17, reset=True)
    assert answer.msg_type == "A"
    assert (seq(answer), *fields(answer, 49, 56, 108, 141)) == (1, "FASTCORE", "PM1", "17", "Y")
    nothing_more(client)


@pytest.mark.server_config({"sessions": [{"target_comp_id": "PM1", "password": "pw"}]})
def test_logon_password(fix):
    wrong = fix("PM1", logon=False)
    with pytest.raises(LogonRefused) as refused:
        wrong.logon(password="nope")
    assert refused.value.text == "logon refused"
    assert_closed(wrong)
    nobody = fix("PM1", logon=False)
    with pytest.raises(LogonRefused):
        nobody.logon()
    right = fix("PM1", password="pw")
    nothing_more(right)


def test_logon_unknown_comp_id_disconnected_without_answer(server, fix):
    client = fix("NOBODY", logon=False)
    with pytest.raises(LogonRefused) as refused:
        client.logon()
    assert refused.value.text == ""
    assert client.received == [] and client.io.buf == b""
    assert server.call(lambda: server.acceptor.counters["refused_logons"]) == 1


def test_first_message_not_logon_disconnected(fix):
    client = fix("PM1", logon=False)
    client.send("D", order("X1"))
    assert_closed(client)
    assert client.received == []


def test_second_logon_refused_first_carries_on(server, fix):
    first = fix("PM1")
    second = fix("PM1", logon=False)
    with pytest.raises(LogonRefused):
        second.logon()
    assert second.received == []
    first.send("D", order("A1"))
    er = expect(first, "8")
    assert (seq(er), *fields(er, 11, 150)) == (2, "A1", "0")
    nothing_more(first)
    assert any("already logged on" in text for _, text in events(server, "refused"))


def test_logon_reset_flag_needs_seq_1(fix):
    client = fix("PM1", logon=False, seq=5)
    with pytest.raises(LogonRefused) as refused:
        client.logon(reset=True)
    assert refused.value.text == "ResetSeqNumFlag needs MsgSeqNum 1"
    assert_closed(client)


def test_logon_seq_too_low(server, fix):
    first = fix("PM1")
    first.sync()
    first.logout()
    assert session(server, "PM1", "next_in") == 4   # Logon, TestRequest, Logout
    again = fix("PM1", logon=False, seq=2)
    with pytest.raises(LogonRefused) as refused:
        again.logon(reset=False)
    assert refused.value.text == "MsgSeqNum too low, expecting 4 but received 2"
    assert_closed(again)


def test_logon_seq_too_high_asks_for_the_gap(server, fix):
    first = fix("PM1")
    first.logout()                                  # next in: 3
    client = fix("PM1", logon=False, seq=5)
    client.logon(reset=False)                       # 5: accepted, 3-4 missing
    ask = expect(client, "2")
    assert fields(ask, 7, 16) == ("3", "0")
    gap_fill(client, 3, 6)                          # its Logon included
    nothing_more(client)
    assert session(server, "PM1", "next_in") == client.seq + 1
    client.seq += 1                                 # a later gap is asked for again
    client.send("D", order("H1"))
    ask = expect(client, "2")
    assert fields(ask, 7, 16) == (str(client.seq - 1), "0")
    gap_fill(client, client.seq - 1, client.seq)
    er = expect(client, "8")
    assert fields(er, 11, 150) == ("H1", "0")
    nothing_more(client)


def test_logon_timeout(server, fix):
    late = fix("PM1", logon=False)
    client = fix("PM1", logon=False)        # accepted after ``late``: served, so is ``late``
    tick(server, 5)                         # within logon_timeout (10 s)
    client.logon()
    tick(server, 11)
    assert_closed(late)
    assert late.received == []
    nothing_more(client)                    # logged on: no logon timeout
    assert any("logon timeout" in text for _, text in events(server, "refused"))


# ---- heartbeats and test requests ------------------------------------------------------

def test_heartbeat_after_our_silence(server, fix):
    client = fix("PM1")
    client.sync()
    tick(server, HB - 1)
    nothing_more(client)
    out = session(server, "PM1", "next_out")
    tick(server, HB)
    hb = expect(client, "0")
    assert (seq(hb), field(hb, 112)) == (out, None)
    nothing_more(client)


def test_test_request_after_client_silence(server, fix):
    client = fix("PM1")
    tick(server, TEST_AFTER)
    test = expect(client, "1")
    assert (seq(test), field(test, 112)) == (2, "TEST1")
    client.send("0", {112: "TEST1"})
    client.sync()
    # answered: a HeartBtInt later no disconnect, but a new TestRequest for the new silence
    tick(server, TEST_AFTER + HB + 1)
    test = expect(client, "1")
    assert field(test, 112) == "TEST2"
    nothing_more(client)


def test_test_request_unanswered_disconnects(server, fix):
    client = fix("PM1")
    tick(server, TEST_AFTER)
    expect(client, "1", {112: "TEST1"})
    tick(server, TEST_AFTER + HB + 1)               # more than HeartBtInt without an answer
    assert_closed(client)
    assert events(server, "timeout")


def test_test_request_answered_with_its_id(fix):
    client = fix("PM1")
    client.send("1", {112: "PING-7"})
    hb = expect(client, "0")
    assert (seq(hb), field(hb, 112)) == (2, "PING-7")


# ---- sequencing ------------------------------------------------------------------------

def test_seq_too_high_resent_by_client(server, fix):
    client = fix("PM1")
    lost = [parse(encoded(client, "D", order(f"G{i}"))) for i in (1, 2)]   # 2, 3: lost
    client.send("D", order("G3"))                                         # 4: queued
    ask = expect(client, "2")
    assert fields(ask, 7, 16) == ("2", "0")
    assert client.take() == [] and session(server, "PM1", "next_in") == 2
    for sent in lost:                               # resent: PossDup, OrigSendingTime
        client.send("D", order(field(sent, 11)), seq=seq(sent), poss_dup=True,
                    orig_sending_time=sent.get_time(52))
    client.sync()
    assert [fields(m, 11, 150) for m in client.take()] == \
        [("G1", "0"), ("G2", "0"), ("G3", "0")]
    assert session(server, "PM1", "next_in") == client.seq + 1


def test_seq_too_high_gap_filled_by_client(server, fix):
    client = fix("PM1")
    client.seq += 2                                 # 2 and 3 never sent
    client.send("D", order("F1"))                   # 4: queued
    ask = expect(client, "2")
    assert fields(ask, 7, 16) == ("2", "0")
    gap_fill(client, 2, 4)
    er = expect(client, "8")
    assert fields(er, 11, 150) == ("F1", "0")
    nothing_more(client)
    assert session(server, "PM1", "next_in") == client.seq + 1


def test_long_queue_drained(server, fix):
    client = fix("PM1")
    client.seq += 1                                 # 2: lost
    client.write(b"".join(encoded(client, "0") for _ in range(30000)))   # 3-30002: queued
    expect(client, "2", {7: "2"})
    gap_fill(client, 2, 3)                          # then every queued one is handled
    nothing_more(client)
    assert session(server, "PM1", "next_in") == client.seq + 1 == 30004


def test_resend_request_in_a_gap(server, fix):
    client = fix("PM1")
    client.send("D", order("Q1"))                   # ER 2
    client.sync()
    client.take()
    client.seq += 1                                 # 4: lost
    client.send("2", {7: 2, 16: 2})                 # 5: served at once
    resent_er = expect(client, "8")
    assert (seq(resent_er), *fields(resent_er, 11, 43)) == (2, "Q1", "Y")
    ask = expect(client, "2")
    assert fields(ask, 7, 16) == ("4", "0")
    gap_fill(client, 4, 5)                          # the ResendRequest (5) counts
    nothing_more(client)
    assert session(server, "PM1", "next_in") == client.seq + 1


def test_seq_too_low_logout(fix):
    client = fix("PM1")
    client.sync()
    client.send("D", order("L1"), seq=2)
    bye = expect(client, "5")
    assert field(bye, 58) == "MsgSeqNum too low, expecting 3 but received 2"
    assert_closed(client)
    assert client.take() == []


def test_seq_too_low_poss_dup_ignored(server, fix):
    client = fix("PM1")
    client.send("D", order("P1"))
    expect(client, "8", {11: "P1"})
    client.send("D", order("P1"), seq=2, poss_dup=True, orig_sending_time=time.time_ns())
    nothing_more(client)
    assert session(server, "PM1", "next_in") == client.seq + 1


# ---- ResendRequest from the client -----------------------------------------------------

def test_resend_request(server, fix):
    client = fix("PM1")                             # our Logon: 1
    sent = {}
    for cl_ord_id, syncs in (("R1", 1), ("R2", 2), ("R3", 1)):
        client.send("D", order(cl_ord_id))          # ERs 2, 4, 7
        for _ in range(syncs):
            client.sync()                           # Heartbeats 3, 5, 6, 8
        [er] = client.take()
        sent[seq(er)] = er
    assert sorted(sent) == [2, 4, 7]
    assert resent(client, 1, 0) == [
        ("4", 1, "Y", "Y", "2", None),
        ("8", 2, "Y", None, None, "R1"),
        ("4", 3, "Y", "Y", "4", None),
        ("8", 4, "Y", None, None, "R2"),
        ("4", 5, "Y", "Y", "7", None),
        ("8", 7, "Y", None, None, "R3"),
        ("4", 8, "Y", "Y", "9", None),
    ]
    for msg in client.take():                       # the same ERs, sent again
        original = sent[seq(msg)]
        assert field(msg, 122) == field(original, 52)
        assert fields(msg, 17, 150, 39) == fields(original, 17, 150, 39)
        assert msg.get_time(52) >= original.get_time(52)
    client.take(admin=True)
    assert resent(client, 2, 4) == [
        ("8", 2, "Y", None, None, "R1"),
        ("4", 3, "Y", "Y", "4", None),
        ("8", 4, "Y", None, None, "R2"),
    ]
    client.take(admin=True)
    last = session(server, "PM1", "next_out") - 1   # the last sync's Heartbeat
    assert resent(client, 6, last + 40) == [        # up to the last one sent
        ("4", 6, "Y", "Y", "7", None),
        ("8", 7, "Y", None, None, "R3"),
        ("4", 8, "Y", "Y", str(last + 1), None),
    ]
    client.take(admin=True)
    assert resent(client, 100, 0) == []             # not sent yet: nothing to resend
    assert session(server, "PM1", "next_in") == client.seq + 1


# ---- SequenceReset from the client -----------------------------------------------------

def test_sequence_reset_reset_ignores_msg_seq_num(server, fix):
    client = fix("PM1")
    client.sync()
    client.send("4", [(36, 20)], seq=1)             # MsgSeqNum too low: no matter
    client.seq = 19
    nothing_more(client)
    assert session(server, "PM1", "next_in") == 21
    client.send("4", [(36, 40)], seq=99)            # too high: no ResendRequest either
    client.seq = 39
    nothing_more(client)
    assert session(server, "PM1", "next_in") == 41


def test_sequence_reset_reset_lowering_rejected(server, fix):
    client = fix("PM1")
    client.sync()
    client.send("4", [(36, 2)])                     # MsgSeqNum 3, expected 3
    rej = expect(client, "3")
    assert fields(rej, 45, 373, 371, 372) == ("3", "5", "36", "4")
    assert session(server, "PM1", "next_in") == 3   # unchanged: its MsgSeqNum does not count
    client.seq = 2
    nothing_more(client)


def test_sequence_reset_gap_fill_in_sequence(server, fix):
    client = fix("PM1")
    client.send("4", [(123, "Y"), (36, 10)])        # 2 → 10
    client.seq = 9
    nothing_more(client)
    assert session(server, "PM1", "next_in") == 11
    client.send("4", [(123, "Y"), (36, 11)])        # 11 → 11: not forward
    rej = expect(client, "3")
    assert fields(rej, 45, 373, 371, 372) == ("11", "5", "36", "4")
    nothing_more(client)
    assert session(server, "PM1", "next_in") == client.seq + 1


# ---- session-level rejects -------------------------------------------------------------

@pytest.mark.parametrize("body, reason, ref_tag, text", [
    (without(order("J1"), 54), "1", "54", "Required tag missing (tag 54)"),
    (replaced(order("J1"), 44, ""), "4", "44", "Tag specified without a value (tag 44)"),
    (replaced(order("J1"), 38, "abc"), "6", "38", "Incorrect data format for value (tag 38)"),
    (order("J1") + [(11, "J2")], "13", "11", "Tag appears more than once (tag 11)"),
], ids=["missing", "no-value", "format", "duplicate"])
def test_reject_invalid_message(server, fix, body, reason, ref_tag, text):
    client = fix("PM1")
    client.send("D", body)
    rej = expect(client, "3")
    assert (seq(rej), *fields(rej, 45, 373, 371, 372, 58)) == \
        (2, "2", reason, ref_tag, "D", text)
    client.send("D", order("J3"))                   # the session carries on, in sequence
    er = expect(client, "8")
    assert (seq(er), *fields(er, 11, 150)) == (3, "J3", "0")
    nothing_more(client)
    assert session(server, "PM1", "next_in") == client.seq + 1


def test_reject_poss_dup_without_orig_sending_time(fix):
    client = fix("PM1")
    client.send("D", order("O1"), poss_dup=True)
    rej = expect(client, "3")
    assert fields(rej, 45, 373, 371, 372) == ("2", "1", "122", "D")
    nothing_more(client)
    assert client.take() == []


def test_business_reject_unsupported_type(fix):
    client = fix("PM1")
    client.send("AF", [(584, "M1"), (585, "7")])    # OrderMassStatusRequest
    rej = expect(client, "j")
    assert fields(rej, 45, 372, 380) == ("2", "AF", "3")
    client.send("V", [(262, "R1"), (263, "0"), (264, "1"), (267, "1"), (269, "0"),
                      (146, "1"), (55, "ESZ6")])    # MarketDataRequest
    rej = expect(client, "j")
    assert fields(rej, 45, 372, 380) == ("3", "V", "3")
    nothing_more(client)


def test_business_reject_on_drop_copy(server, fix):
    client = fix("DC1")
    client.send("D", order("C1"))
    rej = expect(client, "j")
    assert fields(rej, 45, 372, 380) == ("2", "D", "3")
    nothing_more(client)
    assert session(server, "DC1", "next_in") == client.seq + 1


# ---- header checks ---------------------------------------------------------------------

@pytest.mark.server_config({"server": {"sending_time_tolerance": 5}})
def test_sending_time_accuracy(fix):
    client = fix("PM1")
    client.send("D", order("S1"), sending_time=time.time_ns() - 60 * NS)
    rej = expect(client, "3")
    assert fields(rej, 45, 373, 371, 372) == ("2", "10", "52", "D")
    bye = expect(client, "5")
    assert field(bye, 58) == "SendingTime accuracy problem"
    assert_closed(client)
    assert client.take() == []                      # the order was not processed


@pytest.mark.parametrize("sender, target, ref_tag", [
    ("PM2", "FASTCORE", "49"), ("PM1", "ELSEWHERE", "56"),
], ids=["sender", "target"])
def test_comp_id_problem(fix, sender, target, ref_tag):
    client = fix("PM1")
    client.write(Encoder(sender, target).encode("D", order("K1"), client.next_seq(),
                                                time.time_ns()))
    rej = expect(client, "3")
    assert fields(rej, 45, 373, 371, 372) == ("2", "9", ref_tag, "D")
    bye = expect(client, "5")
    assert field(bye, 58) == "CompID problem"
    assert_closed(client)
    assert client.take() == []


def test_wrong_begin_string(fix):
    client = fix("PM1")
    client.write(Encoder("PM1", "FASTCORE", begin_string="FIX.4.2").encode(
        "D", order("B1"), client.next_seq(), time.time_ns()))
    bye = expect(client, "5")
    assert field(bye, 58) == "BeginString must be FIX.4.4"
    assert_closed(client)
    assert client.take() == []


# ---- logout and shutdown ---------------------------------------------------------------

def test_logout_by_client(server, fix):
    client = fix("PM1")
    client.send("5", {58: "done"})
    bye = expect(client, "5")
    assert seq(bye) == 2
    assert_closed(client)
    assert ("FASTCORE->PM1", "received: done") in events(server, "logout")


@pytest.mark.server_config({"sessions": [{"target_comp_id": "PM1", "reset_on_logout": True}]})
def test_logout_resets_when_configured(server, fix):
    client = fix("PM1")
    client.send("D", order("E1"))
    expect(client, "8")
    client.logout()
    assert (session(server, "PM1", "next_in"), session(server, "PM1", "next_out")) == (1, 1)
    again = fix("PM1", logon=False)
    assert seq(again.logon(reset=False)) == 1
    nothing_more(again)


def test_shutdown_logs_every_session_out(server, fix):
    clients = [fix(comp_id) for comp_id in ("PM1", "ET1", "DC1")]
    stopped = asyncio.run_coroutine_threadsafe(server.server.stop(timeout=10.0), server.loop)
    for client in clients:
        bye = expect(client, "5")
        assert (seq(bye), field(bye, 58)) == (2, "server shutting down")
        client.send("5")                            # the answer: the server closes at once,
    stopped.result(5)                               # not after the 10 s timeout
    for client in clients:
        assert_closed(client)
    assert not server.acceptor.connections


def test_our_logout_unanswered_disconnects(server, fix):
    client = fix("PM1")
    server.call(server.acceptor.shutdown, time.time_ns())
    expect(client, "5", {58: "server shutting down"})
    tick(server, HB - 1)
    tick(server, HB + 1)                            # no answer within HeartBtInt
    assert_closed(client)
    assert client.received == []


# ---- orders end to end -----------------------------------------------------------------

@pytest.mark.server_config(ALONE)
def test_trade_with_drop_copy(fix):
    buyer, seller, copy = fix("PM1"), fix("ET1"), fix("DC1")
    buyer.send("D", order("BUY1", side="1"))
    buyer.sync()
    seller.send("D", order("SELL1", side="2"))
    seller.sync()
    buyer.sync()
    bought, sold = buyer.take(), seller.take()
    for ers in (bought, sold):                      # New, then the fill of all 5 at 100
        assert [fields(m, 150, 39, 32, 31, 14) for m in ers] == \
            [("0", "0", None, None, "0"), ("F", "2", "5", "100", "5")]
    copy.sync()
    copies = copy.take()
    assert [seq(m) for m in copies] == [2, 3, 4, 5]
    assert all(m.msg_type == "8" and fields(m, 49, 56) == ("FASTCORE", "DC1") for m in copies)
    assert sorted(fields(m, 128, 17, 11, 150) for m in copies) == \
        sorted([("PM1", *fields(m, 17, 11, 150)) for m in bought]
               + [("ET1", *fields(m, 17, 11, 150)) for m in sold])


@pytest.mark.server_config(ALONE)
def test_offline_session_gets_stored_messages(fix):
    seller = fix("ET1")
    seller.send("D", order("REST1", side="2"))
    new = expect(seller, "8")
    assert seq(new) == 2
    seller.logout()                                 # our Logout: 3
    buyer = fix("PM1")
    buyer.send("D", order("TAKE1", side="1"))
    buyer.sync()
    assert [field(m, 150) for m in buyer.take()] == ["0", "F"]
    again = fix("ET1", logon=False, seq=seller.seq + 1)
    logon = again.logon(reset=False)
    assert seq(logon) == 5                          # the fill, stored, is 4
    again.send("2", {7: 4, 16: 0})
    fill = expect(again, "8")
    assert (seq(fill), *fields(fill, 43, 11, 150, 39)) == (4, "Y", "REST1", "F", "2")
    assert new.get_time(52) <= fill.get_time(122) <= logon.get_time(52)
    gap = expect(again, "4")                        # our Logon
    assert (seq(gap), *fields(gap, 123, 36)) == (5, "Y", "6")
    nothing_more(again)


# ---- the msgspec port ------------------------------------------------------------------

def test_trader_order_reported_on_both_ports(server, fix):
    client = fix("PM1")
    with trader(server, "PM1") as pm:
        pm.submit(NewOrderSingle(cl_ord_id="M1", symbol="ESZ6", side="1", order_qty="5",
                                 price="100"))
        report = pm.read()
    assert isinstance(report, Report)
    assert (report.to, report.msg_type, report.fields["11"], report.fields["150"]) == \
        ("PM1", "8", "M1", "0")
    er = expect(client, "8")
    assert (seq(er), *fields(er, 11, 17)) == (report.seq, "M1", report.fields["17"])
    nothing_more(client)


def test_operator_act_in_worked_mode(server, fix):
    client = fix("PM1")
    with server.operator() as ops:
        ops.reset({"mode": "worked"})
        client.send("D", order("W1"))
        nothing_more(client)                        # a desk works it: no answer yet
        ops.act("ack", order="W1")
        er = expect(client, "8")
        assert (seq(er), *fields(er, 11, 150, 39)) == (3, "W1", "0", "0")
        ops.act("fill", order="W1", qty="2", px="100")
        er = expect(client, "8")
        assert (seq(er), *fields(er, 150, 39, 32, 14)) == (4, "F", "1", "2", "2")
        with pytest.raises(ClientError):
            ops.act("fill", order="NOPE", qty="1", px="100")
    nothing_more(client)


def test_msgspec_logons_refused(server):
    with pytest.raises(LogonRefused) as refused:
        MsgClient("127.0.0.1", server.msgspec_port, "OPS", "wrong", role="operator")
    assert refused.value.text == "logon refused"
    with trader(server) as pm:
        with pytest.raises(ClientError) as denied:
            pm.act("ack", order="X")
    assert str(denied.value) == "ack is for operators; a trader may child, claim, restage"


# ---- garbled input ---------------------------------------------------------------------

def test_garbage_skipped(server, fix):
    client = fix("PM1")
    client.write(b"junk\x01" + encoded(client, "D", order("Z1"))
                 + b"8=FIX.4.4\x01garbage\x01\x01\x01" + encoded(client, "D", order("Z2")))
    client.sync()
    assert [(seq(m), field(m, 11)) for m in client.take()] == [(2, "Z1"), (3, "Z2")]
    assert server.call(lambda: server.acceptor.counters["garbled"]) == 2
    assert session(server, "PM1", "next_in") == client.seq + 1


# ---- backpressure ----------------------------------------------------------------------

def test_a_client_that_does_not_read_is_not_read_from(server, fix):
    """Orders keep coming but their reports are not read: once the transport's
    write buffer is full the server stops reading from the client, and reads
    again when the client has caught up; nothing is lost."""
    client = fix("PM1")
    count = 40_000                                    # ~8 MB of reports: more than the sockets hold
    data = b"".join(encoded(client, "D", order(f"B{i}")) + encoded(client, "F", [
        (11, f"X{i}"), (41, f"B{i}"), (55, "ESZ6"), (54, "1"), (38, "5"),
        (60, "20261121-09:30:00")]) for i in range(count // 2))
    writer = threading.Thread(target=client.write, args=(data,))
    writer.start()                                    # blocks while the server is not reading
    server.wait_event("paused", "FASTCORE->PM1")
    reports = 0
    while reports < count:                            # read: the server catches up
        client.read()
        reports += len(client.take())
    writer.join(10)
    server.wait_event("resumed", "FASTCORE->PM1")
    client.sync()
    assert client.take() == []
    assert session(server, "PM1", "next_in") == client.seq + 1
