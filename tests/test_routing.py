"""Routing: the configuration of gateways, accounts and credentials; every
ExecutionReport to its order's audience (each copy under its recipient's
header), answers to one request to the requester alone; acting on another
user's order by OrderID (37); outsiders learn nothing; the same over the real
server (FIX sessions and the drop copy); concurrent claims over the msgspec
port; the engine rules of staged orders and their child orders.

Engine-level tests use the default configuration WITH its credentials (seed
000: PM1, ET1..ET4): ``Harness`` gets the users list explicitly, since its
default is users without credentials. Server tests use the ``server``
fixture (default configuration, asyncio and uvloop).
"""
from __future__ import annotations

import copy
import threading
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Callable, Iterator

import pytest

from fastcore.config import default_table, load
from fastcore.engine import Engine
from fastcore.errors import CommandRefused, ConfigError
from fastcore.server.client import ClientError, FixClient, MsgClient
from harness import Harness, cancel, nos, replace, status

ALL = ["PM1", "ET1", "ET2", "ET3", "ET4"]
DESK = ["PM1", "ET1", "ET2"]                  # PM1's order book: an INTERNAL staged order's audience
HEADER = (8, 9, 35, 49, 56, 34, 52)


# ---- helpers ---------------------------------------------------------------------------

def users(drop_credentials: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The default users, with their credentials; those of ``drop_credentials`` without."""
    out = copy.deepcopy(default_table()["users"])
    for user in out:
        if user["name"] in drop_credentials:
            user.pop("credentials", None)
    return out


def engine(mode: str = "auto", **over: Any) -> Harness:
    """A Harness over the default configuration with its credentials."""
    return Harness({"mode": mode, "users": users(), **over})


def recipients(out) -> list[str]:
    return [to for to, _ in out]


def pick(out, **match: str) -> list[tuple[str, dict[int, str]]]:
    """The messages of ``out`` whose fields have the values of ``match``
    (keyword ``t11="A1"`` is tag 11)."""
    want = {int(k[1:]): v for k, v in match.items()}
    return [(to, m) for to, m in out if all(m.get(t) == v for t, v in want.items())]


def one_each(out, who: list[str], **match: str) -> dict[str, dict[int, str]]:
    """``out`` holds exactly one message matching ``match`` for each of ``who``
    and none for anybody else; {recipient: message}."""
    got = pick(out, **match)
    assert sorted(recipients(got)) == sorted(who), (recipients(got), match)
    return dict(got)


def body(m: dict[int, str]) -> dict[int, str]:
    """A decoded message without its header (MsgType kept), ExecID, times and checksum."""
    return {t: v for t, v in m.items() if t == 35 or t not in (*HEADER, 10, 17, 60)}


def after_sending_time(data: bytes) -> bytes:
    """The raw fields of a FIX message after SendingTime (52), before CheckSum (10)."""
    fields = data.split(b"\x01")
    start = next(i for i, f in enumerate(fields) if f.startswith(b"52="))
    end = next(i for i, f in enumerate(fields) if f.startswith(b"10="))
    return b"\x01".join(fields[start + 1:end])


def staged(h: Harness, clordid: str = "S1", qty: str = "100", px: str = "4500",
           tif: str = "0", kind: str = "INTERNAL", who: str = "PM1") -> str:
    """PM1 stages an order (acknowledged at once); its OrderID."""
    out = h.send("D", nos(clordid, qty=qty, px=px, tif=tif,
                          extra=[(21, "3"), (9100, kind)]), who)
    return one_each(out, DESK if kind == "INTERNAL" else ALL, t11=clordid, t150="0")[who][37]


def child(clordid: str, parent_id: str, qty: str, px: str | None = None, tif: str | None = None,
          account: str | None = None) -> list[tuple[int, str]]:
    """The body of a child order's NewOrderSingle (ParentOrderID 9101)."""
    extra = [(9101, parent_id)] + ([(1, account)] if account is not None else [])
    return nos(clordid, qty=qty, px=px, tif=tif, extra=extra)


def avg(fills: list[tuple[str, str]]) -> str:
    """AvgPx of fills (qty, px): exact, rounded half to even at 8 decimals,
    as the engine writes it (no trailing zeros)."""
    qty = sum(Decimal(q) for q, _ in fills)
    notional = sum(Decimal(q) * Decimal(p) for q, p in fills)
    text = f"{(notional / qty).quantize(Decimal('1e-8'), ROUND_HALF_EVEN):f}"
    return text.rstrip("0").rstrip(".")


# ---- 1. configuration ------------------------------------------------------------------

def _with_credential(i: int, gateway: str, **cred: str) -> dict[str, Any]:
    table = users()
    table[i]["credentials"][gateway] = {**table[i]["credentials"].get(gateway, {}), **cred}
    return {"users": table}


@pytest.mark.parametrize("source, entry", [
    (_with_credential(0, "NYSE", routing="A/B/C"), "users[0].credentials.NYSE"),
    (_with_credential(1, "CME-A", routing="ABC/ABC"), "users[1].credentials.CME-A.routing"),
    (_with_credential(1, "CME-A", routing="A//C"), "users[1].credentials.CME-A.routing"),
    (_with_credential(1, "CME-A", routing="A/B/C/D"), "users[1].credentials.CME-A.routing"),
    (_with_credential(2, "SSE-A", exchange="ABC/ABC"), "users[2].credentials.SSE-A.exchange"),
    (_with_credential(2, "SSE-A", exchange="A//C"), "users[2].credentials.SSE-A.exchange"),
    (_with_credential(3, "CME-A", account="NOPE"), "users[3].credentials.CME-A.account"),
    ({"instruments": [{"symbol": "X", "gateway": "LSE"}]}, "instruments[0].gateway"),
    ({"instruments": [{"symbol": "X"}, {"symbol": "Y", "gateway": "SSE-A"}]},
     "instruments[1].gateway"),
    ({"gateways": [{"name": "SSE-A", "kind": "staging"}, {"name": "CME-A"},
                   {"name": "SSE-A"}]}, "gateways[2].name"),
    ({"accounts": [{"name": "123"}, {"name": "DESK-A"}, {"name": "123"}]}, "accounts[2].name"),
], ids=["unknown-gateway", "two-parts", "empty-group", "four-parts", "exchange-two-parts",
        "exchange-empty-group", "unknown-account", "instrument-unknown-gateway",
        "instrument-on-staging", "duplicate-gateway", "duplicate-account"])
def test_config_refusals_name_the_entry(source, entry):
    """Rule 1: a credential on an unknown gateway, a malformed routing or
    exchange credential, an unknown account, an instrument on an unknown or a
    staging gateway, duplicate gateways or accounts: ConfigError naming the
    entry, from load and from Engine alike."""
    with pytest.raises(ConfigError) as exc:
        load(source)
    assert exc.value.entry == entry, str(exc.value)
    assert str(exc.value).startswith(f"{entry}: ") and exc.value.why
    with pytest.raises(ConfigError):
        Engine(source)


def test_config_defaults_filled_in():
    """Rule 1: a credential without ``exchange`` maps to its routing
    credential; an instrument without a gateway trades on the first exchange
    gateway (not the staging one listed before it)."""
    config = load({"gateways": [{"name": "SSE-A", "kind": "staging"}, {"name": "CME-A"},
                                {"name": "EUREX"}],
                   "instruments": [{"symbol": "ESZ6"}, {"symbol": "FGBL", "gateway": "EUREX"}]})
    et3 = next(u for u in config.users if u.name == "ET3")
    assert {gw: (c.routing, c.exchange, c.account) for gw, c in et3.credentials.items()} == {
        "SSE-A": ("TTSSE/SE1/001", "TTSSE/SE1/001", "BRK-A"),
        "CME-A": ("ABC/ABC/ABC", "ABC/ABC/ABC", "BRK-A")}
    pm1 = next(u for u in config.users if u.name == "PM1")
    assert pm1.credentials["CME-A"].exchange == "ABC/ABC/ABC"     # given: kept
    assert [(i.symbol, i.gateway) for i in config.instruments] == [("ESZ6", "CME-A"),
                                                                    ("FGBL", "EUREX")]
    assert {i.gateway for i in load().instruments} == {"CME-A"}


# ---- 2. fan-out ------------------------------------------------------------------------

def test_fan_out_to_the_audience_each_under_its_header():
    """Rule 2: ET3's ordinary order on ESZ6 is acknowledged to all five
    users, the sender first; each copy has its own header (49 FASTCORE, 56
    the recipient, 34 the recipient's next MsgSeqNum, counted per recipient
    across calls) and byte-identical fields after SendingTime (52)."""
    h = engine()
    h.send("D", nos("R0", symbol="NOPE"), "ET3")           # ET3 alone: its 1
    h.send("H", status("NOPE"), "PM1")                      # PM1 alone: its 1
    h.send("H", status("NOPE"), "PM1")                      # PM1 alone: its 2
    before = len(h.wire)
    out = h.send("D", nos("A1"), "ET3")
    assert recipients(out) == ["ET3", "PM1", "ET1", "ET2", "ET4"]
    assert {to: (m[49], m[56], m[34]) for to, m in out} == {
        "ET3": ("FASTCORE", "ET3", "2"), "PM1": ("FASTCORE", "PM1", "3"),
        "ET1": ("FASTCORE", "ET1", "1"), "ET2": ("FASTCORE", "ET2", "1"),
        "ET4": ("FASTCORE", "ET4", "1")}
    assert all((m[11], m[150], m[39]) == ("A1", "0", "0") for _, m in out)
    raw = [data for _, data in h.wire[before:]]
    assert len({after_sending_time(data) for data in raw}) == 1
    assert b"\x0111=A1\x01" in b"\x01" + after_sending_time(raw[0]) + b"\x01"
    out = h.send("D", nos("A2"), "ET1")                     # the counts carry on per recipient
    assert {to: m[34] for to, m in out} == {"ET1": "2", "PM1": "4", "ET2": "2", "ET3": "3",
                                            "ET4": "2"}
    assert recipients(out)[0] == "ET1"


@pytest.mark.parametrize("case", ["unknown-symbol", "duplicate", "status", "cancel-unknown",
                                  "replace-refused-by-book"])
def test_answers_to_one_request_go_to_the_requester_only(case):
    """Rule 2: a rejected NewOrderSingle (unknown symbol), a duplicate
    ClOrdID reject, a status reply (ExecType I) and an OrderCancelReject
    (of an unknown order, or one the book refuses for another user's
    order) go to the requester alone, not to the order's audience."""
    h = engine()
    oid = one_each(h.send("D", nos("A1"), "ET3"), ALL, t11="A1")["ET3"][37]
    if case == "unknown-symbol":
        out, who, match = h.send("D", nos("A2", symbol="NOPE"), "ET3"), "ET3", {150: "8", 103: "1"}
    elif case == "duplicate":
        out, who, match = h.send("D", nos("A1"), "ET3"), "ET3", {150: "8", 103: "6", 37: "NONE"}
    elif case == "status":
        out, who, match = h.send("H", status("A1"), "ET3"), "ET3", {150: "I", 37: oid}
    elif case == "cancel-unknown":
        out, who, match = h.send("F", cancel("K1", "ZZ"), "ET3"), "ET3", {35: "9", 102: "1"}
    else:                                                   # ET1 on ET3's order: off the tick
        out = h.send("G", replace("E1", "A1", "10", "100.1") + [(37, oid)], "ET1")
        who, match = "ET1", {35: "9", 37: oid, 434: "2", 102: "99"}
    assert recipients(out) == [who]
    assert all(out[0][1].get(t) == v for t, v in match.items()), out


# ---- 3. acting on another user's order -------------------------------------------------

def test_cancel_another_users_order_by_order_id():
    """Rule 3: ET1 cancels PM1's resting order with its own ClOrdID in 11,
    PM1's ClOrdID in 41 and the OrderID in 37; the Canceled report (11 ET1's,
    41 PM1's) reaches all five."""
    h = engine()
    oid = one_each(h.send("D", nos("P1"), "PM1"), ALL, t11="P1")["PM1"][37]
    out = h.send("F", cancel("E1", "P1") + [(37, oid)], "ET1")
    got = one_each(out, ALL, t150="4")
    assert {(m[37], m[11], m[41], m[39], m[151]) for m in got.values()} == {(oid, "E1", "P1", "4", "0")}
    assert len(out) == 5


def test_replace_by_another_user_then_cancel_naming_its_clordid():
    """Rule 3: ET2 replaces PM1's order (11 ET2's, 41 PM1's, 37); then PM1
    cancels it naming ET2's ClOrdID in 41 and the OrderID in 37; both reports
    reach all five. PM1's own, now stale, ClOrdID is refused."""
    h = engine()
    oid = one_each(h.send("D", nos("P2"), "PM1"), ALL, t11="P2")["PM1"][37]
    got = one_each(h.send("G", replace("E2", "P2", "12", "101") + [(37, oid)], "ET2"), ALL,
                   t150="5")
    assert {(m[37], m[11], m[41], m[38], m[44], m[151]) for m in got.values()} == \
        {(oid, "E2", "P2", "12", "101", "12")}
    stale = h.send("F", cancel("P2y", "P2", qty="12") + [(37, oid)], "PM1")
    assert recipients(stale) == ["PM1"] and stale[0][1][35] == "9"
    assert "current ClOrdID" in stale[0][1][58]
    got = one_each(h.send("F", cancel("P2x", "E2", qty="12") + [(37, oid)], "PM1"), ALL,
                   t150="4")
    assert {(m[37], m[11], m[41], m[39]) for m in got.values()} == {(oid, "P2x", "E2", "4")}


def test_status_of_another_users_order_to_the_requester_only():
    """Rule 3: a status request (H) by another user of the audience, naming
    the order's ClOrdID and OrderID (37), gets ExecType I, to that user only."""
    h = engine()
    oid = one_each(h.send("D", nos("P3"), "PM1"), ALL, t11="P3")["PM1"][37]
    out = h.send("H", status("P3") + [(37, oid)], "ET4")
    assert recipients(out) == ["ET4"]
    assert (out[0][1][150], out[0][1][37], out[0][1][11], out[0][1][39]) == ("I", oid, "P3", "0")


def test_order_id_wins_over_a_clordid_the_requester_also_uses():
    """Rule 3: the order named by OrderID (37) plus its current ClOrdID is the
    one acted on, even when the requester has an order of its own with the
    same ClOrdID (ClOrdIDs are unique per user only)."""
    h = engine()
    own = one_each(h.send("D", nos("X"), "ET1"), ALL, t11="X")["ET1"][37]
    theirs = one_each(h.send("D", nos("X"), "PM1"), ALL, t11="X")["PM1"][37]
    out = h.send("F", cancel("E1", "X") + [(37, theirs)], "ET1")
    assert not pick(out, t37=own, t150="4"), "ET1's own order was canceled"
    assert h.engine.order_state("X", session="ET1") == "New"


# ---- 4. outsiders learn nothing --------------------------------------------------------

OUTSIDER_REQUESTS = {
    "F": lambda oid: ("F", cancel("K1", "P1") + ([(37, oid)] if oid else [])),
    "G": lambda oid: ("G", replace("K2", "P1", "12", "101") + ([(37, oid)] if oid else [])),
    "H": lambda oid: ("H", status("P1") + ([(37, oid)] if oid else [])),
}


@pytest.mark.parametrize("kind", sorted(OUTSIDER_REQUESTS))
def test_outsider_gets_the_answer_for_an_unknown_order(kind):
    """Rule 4: with ET3 without credentials, ET3's F/G/H naming PM1's order
    by its real OrderID (and PM1's ClOrdID) is answered exactly as for an
    OrderID that does not exist (or none): OrderID NONE, the same status,
    reason and text; nobody else hears of it and the order is untouched."""
    h = Harness({"mode": "auto", "users": users(drop_credentials=("ET3",))})
    got = h.send("D", nos("P1"), "PM1")
    assert recipients(got) == ["PM1", "ET1", "ET2", "ET4"]  # ET3 is not in the audience
    oid = got[0][1][37]
    answers = []
    for named in (oid, "999", None):
        msg_type, fields = OUTSIDER_REQUESTS[kind](named)
        out = h.send(msg_type, fields, "ET3")
        assert recipients(out) == ["ET3"]
        answers.append(body(out[0][1]))
    assert answers[0] == answers[1] == answers[2]
    answer = answers[0]
    assert answer[37] == "NONE" and answer[39] == "8"
    assert answer[35] == ("8" if kind == "H" else "9")
    assert (answer.get(103), answer.get(150)) == (("5", "I") if kind == "H" else (None, None))
    assert answer.get(102) == (None if kind == "H" else "1")
    assert answer[58] == "unknown order"
    assert h.engine.order_state("P1", session="PM1") == "New"


def test_outsider_child_learns_nothing():
    """Rule 4 for the trader's ``child`` command: ET3 naming PM1's INTERNAL
    staged order S1 (which it cannot see) gets the same outcome as naming a
    ClOrdID that exists nowhere."""
    def outcome(clordid: str):
        h = engine("worked")
        staged(h, clordid, px="4500")
        try:
            return [body(m) for _, m in h.act("child", order="S1", by="ET3", clordid="Z",
                                              qty="10")]
        except CommandRefused as exc:
            return str(exc)
    assert outcome("S1") == outcome("S0")


# ---- 5. over the real server -----------------------------------------------------------

@pytest.fixture
def fix(server) -> Iterator[Callable[..., FixClient]]:
    """``fix(comp_id)``: a FixClient of the server, logged on; all closed at the end."""
    clients: list[FixClient] = []

    def connect(comp_id: str) -> FixClient:
        client = FixClient("127.0.0.1", server.fix_port, comp_id)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


def order(clordid: str, side: str = "1", qty: str = "5", px: str = "100",
          extra: list[tuple[int, str]] | None = None) -> list[tuple[int, str]]:
    """The body of a day limit NewOrderSingle for ESZ6."""
    return [(11, clordid), (55, "ESZ6"), (54, side), (38, qty), (40, "2"), (44, px),
            (59, "0"), (60, "20261121-09:30:00")] + (extra or [])


def received(client: FixClient) -> list:
    """Everything the server sent the client until now (a sync), application messages."""
    client.sync()
    return client.take()


def test_server_fan_out_and_drop_copy(fix):
    """Rule 5: ET3's order over FIX is acknowledged on each of the five
    sessions with its own 56 and 34 (their sequences made to differ
    beforehand); the drop copy DC1 receives one copy per recipient, its
    DeliverToCompID (128) naming each of the five, in sequence."""
    copy_ = fix("DC1")
    clients = {name: fix(name) for name in ALL}
    for i, name in enumerate(ALL):                 # Logon 1, then i Heartbeats
        for _ in range(i):
            clients[name].sync()
    clients["ET3"].send("D", order("A1"))
    acks = {name: received(client) for name, client in clients.items()}
    for i, name in enumerate(ALL):
        [ack] = acks[name]
        assert (ack.msg_type, ack.get_str(49), ack.get_str(56), ack.get_int(34)) == \
            ("8", "FASTCORE", name, 2 + i)
        assert (ack.get_str(11), ack.get_str(150), ack.get_str(37)) == \
            ("A1", "0", acks["ET3"][0].get_str(37))
    copies = received(copy_)
    assert [m.get_int(34) for m in copies] == [2, 3, 4, 5, 6]
    assert [m.get_str(128) for m in copies] == ["ET3", "PM1", "ET1", "ET2", "ET4"]
    assert all((m.msg_type, m.get_str(56), m.get_str(11), m.get_str(150), m.get_str(17))
               == ("8", "DC1", "A1", "0", acks["ET3"][0].get_str(17)) for m in copies)


# ---- 6. concurrent claims over the msgspec port ----------------------------------------

def trader(server, user: str) -> MsgClient:
    return MsgClient("127.0.0.1", server.msgspec_port, user)


def test_concurrent_claims_one_wins(server, fix):
    """Rule 6: PM1 stages an INTERNAL order over FIX; traders ET1 and ET2 on
    the msgspec port claim it at the same moment: exactly one gets an Ack,
    the other a refusal "claimed by <winner>"; the FIX sessions of PM1, ET1
    and ET2 each receive exactly one claim report (150 D, 9102 the winner)."""
    sessions = {name: fix(name) for name in DESK}
    sessions["PM1"].send("D", order("S1", qty="100", extra=[(21, "3"), (9100, "INTERNAL")]))
    for name, client in sessions.items():
        [ack] = received(client)
        assert (ack.get_str(11), ack.get_str(150), ack.get_str(9100)) == ("S1", "0", "INTERNAL")
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def claim(client: MsgClient, name: str) -> None:
        barrier.wait(10)
        try:
            results[name] = client.act("claim", order="S1")
        except ClientError as exc:
            results[name] = exc

    with trader(server, "ET1") as et1, trader(server, "ET2") as et2:
        threads = [threading.Thread(target=claim, args=(c, n))
                   for c, n in ((et1, "ET1"), (et2, "ET2"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
    assert set(results) == {"ET1", "ET2"}
    winners = [n for n, r in results.items() if not isinstance(r, Exception)]
    assert len(winners) == 1
    [winner] = winners
    [loser] = {"ET1", "ET2"} - {winner}
    assert isinstance(results[loser], ClientError)
    assert f"claimed by {winner}" in str(results[loser])
    for name, client in sessions.items():
        [report] = received(client)
        assert (report.get_str(11), report.get_str(150), report.get_str(378),
                report.get_str(9102)) == ("S1", "D", "99", winner), name


def test_trader_acts_as_itself_only(server, fix):
    """Rule 6: a trader's act naming another user in ``by`` is refused, and
    so is a sell-side command such as ``ack``; nothing reaches the sessions."""
    pm1 = fix("PM1")
    pm1.send("D", order("S1", qty="100", extra=[(21, "3")]))
    received(pm1)
    with trader(server, "ET1") as et1:
        with pytest.raises(ClientError) as refused:
            et1.act("claim", order="S1", by="ET2")
        assert str(refused.value) == "a trader acts as itself, not ET2"
        with pytest.raises(ClientError) as refused:
            et1.act("ack", order="S1")
        assert str(refused.value).startswith("ack is for operators")
        et1.act("claim", order="S1", by="ET1")              # naming itself is fine
    [report] = received(pm1)
    assert (report.get_str(150), report.get_str(9102)) == ("D", "ET1")


# ---- 7. staged orders: the engine's rules ----------------------------------------------

@pytest.mark.parametrize("worker, broker, sent, booked", [
    ("ET1", False, "123", "DESK-A"),
    ("ET2", False, "BRK-A", "DESK-A"),
    ("ET3", True, "DESK-A", "BRK-A"),
    ("ET4", True, None, "BRK-A"),
])
def test_child_account_is_the_customer_default(worker, broker, sent, booked):
    """Rule 7: a child order's Account (1) is its user's customer-default
    account on the instrument's gateway, whatever Account the request
    carries (or none), for the internal desk and the broker's alike."""
    h = engine()
    oid = staged(h, kind="BROKER" if broker else "INTERNAL")
    h.act("claim", order="S1", by=worker)
    out = h.send("D", child("C1", oid, "30", account=sent), worker)
    got = one_each(out, ALL, t11="C1", t150="0")
    assert {(m[1], m[9101]) for m in got.values()} == {(booked, oid)}


@pytest.mark.parametrize("px, tif, want_px, want_tif", [
    (None, None, "4500", "1"),
    ("4499.75", None, "4499.75", "1"),
    (None, "0", "4500", "0"),
    ("4499.5", "0", "4499.5", "0"),
])
def test_child_inherits_price_and_time_in_force(px, tif, want_px, want_tif):
    """Rule 7: a child order without Price (44) or TimeInForce (59) takes
    the staged order's; one it gives is its own."""
    h = engine()
    oid = staged(h, px="4500", tif="1")
    h.act("claim", order="S1", by="ET1")
    got = one_each(h.send("D", child("C1", oid, "30", px=px, tif=tif), "ET1"), ALL,
                   t11="C1", t150="0")
    assert {(m[44], m[59], m[40]) for m in got.values()} == {(want_px, want_tif, "2")}


def test_child_replace_above_unworked_refused():
    """Rule 7: a child's replace (G) that would make the children work more
    than the staged order's quantity is refused to its sender alone
    (OrderCancelReject 434=2, "unworked"); up to the unworked quantity it is
    granted to everyone."""
    h = engine()
    oid = staged(h, qty="100")
    h.act("claim", order="S1", by="ET1")
    one_each(h.send("D", child("C1", oid, "60"), "ET1"), ALL, t11="C1", t150="0")
    one_each(h.send("D", child("C2", oid, "30"), "ET1"), ALL, t11="C2", t150="0")
    out = h.send("G", replace("C1b", "C1", "71", "4500"), "ET1")          # 11 more, 10 free
    assert recipients(out) == ["ET1"]
    rej = out[0][1]
    assert (rej[35], rej[11], rej[41], rej[434], rej[39]) == ("9", "C1b", "C1", "2", "0")
    assert "unworked" in rej[58]
    got = one_each(h.send("G", replace("C1c", "C1", "70", "4500"), "ET1"), ALL, t150="5")
    assert {(m[11], m[38], m[151]) for m in got.values()} == {("C1c", "70", "70")}
    out = h.send("D", child("C3", oid, "1"), "ET1")                       # nothing free now
    assert recipients(out) == ["ET1"] and (out[0][1][150], out[0][1][103]) == ("8", "13")


def test_expire_cancels_working_children_first():
    """Rule 7: ``expire`` of a staged order (worked mode) first cancels its
    working children (an acknowledged one Canceled, one not yet acknowledged
    Rejected; a filled one untouched), each to everyone, then expires the
    staged order for its audience."""
    h = engine("worked")
    oid = staged(h, qty="100", tif="1")
    h.act("claim", order="S1", by="ET1")
    h.send("D", child("C1", oid, "30"), "ET1")
    h.act("ack", order="C1")
    h.act("child", order="S1", by="ET1", clordid="C2", qty="20")
    h.act("ack", order="C2")
    h.act("fill", order="C2", qty="20", px="4500")
    h.act("child", order="S1", by="ET1", clordid="C3", qty="10")
    out = h.act("expire", order="S1")
    assert [(m[11], m[150]) for to, m in out if to == "PM1"] == \
        [("C1", "4"), ("C3", "8"), ("S1", "C")]
    one_each(out, ALL, t11="C1", t150="4", t39="4", t58="its staged order expired")
    one_each(out, ALL, t11="C3", t150="8", t39="8")
    got = one_each(out, DESK, t11="S1", t150="C")
    assert {(m[39], m[14], m[151]) for m in got.values()} == {("C", "20", "0")}
    assert not pick(out, t11="C2")
    assert h.engine.order_state("C2") == "New, Filled"


def test_child_fills_make_the_staged_orders_cum_qty_and_avg_px_auto():
    """Rule 7 (auto mode, trades in the book): once a child is fully filled,
    the staged order's CumQty is the sum of the child's fills and its AvgPx
    the exact average (half to even), reported to its audience with each
    fill's LastQty/LastPx."""
    h = engine()
    oid = staged(h, qty="3", px="4500")
    h.act("claim", order="S1", by="ET1")
    h.send("D", nos("X1", side="2", qty="1", px="4499.75"), "ET4")        # rests
    out = h.send("D", child("C1", oid, "3"), "ET1")                       # takes 1, rests 2
    out += h.send("D", nos("X2", side="2", qty="2", px="4500"), "ET3")    # fills the rest
    fills = [(m[32], m[31]) for to, m in pick(out, t11="C1", t150="F") if to == "ET1"]
    assert fills == [("1", "4499.75"), ("2", "4500")]
    parent = [m for to, m in pick(out, t11="S1", t150="F") if to == "PM1"]
    assert [(m[32], m[31]) for m in parent] == fills
    assert (parent[-1][14], parent[-1][151], parent[-1][39]) == ("3", "0", "2")
    assert parent[-1][6] == avg(fills) == "4499.91666667"
    assert {to for to, _ in pick(out, t11="S1", t150="F")} == set(DESK)


def test_child_fills_make_the_staged_orders_cum_qty_and_avg_px_worked():
    """Rule 7 (worked mode, two children): the staged order's CumQty is the
    sum of every child's fills, its AvgPx the exact average over them all."""
    h = engine("worked")
    oid = staged(h, qty="10", px="4500")
    h.act("claim", order="S1", by="ET2")
    fills = {"C1": [("1", "4499.75"), ("2", "4500")], "C2": [("4", "4500.25")]}
    h.send("D", child("C1", oid, "3"), "ET2")
    h.act("child", order="S1", by="ET2", clordid="C2", qty="7")
    out = []
    for name, done in fills.items():
        h.act("ack", order=name)
        for qty, px in done:
            out += h.act("fill", order=name, qty=qty, px=px)
    assert h.engine.order_state("C1") == "New, Filled"
    last = [m for to, m in pick(out, t11="S1", t150="F") if to == "PM1"][-1]
    every = fills["C1"] + fills["C2"]
    assert (last[14], last[151], last[39]) == ("7", "3", "1")
    assert last[6] == avg(every) == "4500.10714286"
    child_avg = [m for to, m in pick(out, t11="C1", t150="F") if to == "PM1"][-1][6]
    assert child_avg == avg(fills["C1"])


def test_new_day_expiry_of_a_staged_order_leaves_no_child_working():
    """Rule 7, the day's roll: a staged Day order that expires at new_day
    leaves no child order working (like ``expire``): a child that gave its
    own TimeInForce GTC is canceled first."""
    h = engine("worked")
    oid = staged(h, qty="100", tif="0")
    h.act("claim", order="S1", by="ET1")
    h.send("D", child("C1", oid, "30", tif="1"), "ET1")
    h.act("ack", order="C1")
    out = h.act("new_day")
    assert [(m[11], m[150]) for to, m in out if to == "PM1"] == [("C1", "4"), ("S1", "C")]
    one_each(out, ALL, t11="C1", t150="4", t58="its staged order expired")
    one_each(out, DESK, t11="S1", t150="C")
    assert h.engine.order_state("C1") == "Canceled"

