"""FIA execution source codes (seed 004): CustOrderHandlingInst (1031) with
OrderHandlingInstSource (1032) = 2 on every ExecutionReport of an order.

The code of an order: W for desk-worked orders (staged orders, their
children, telephoned orders) whatever else applies; otherwise the highest
of W > H > C > G > D > Y among the order's own 1031, its user's
``execution_source`` and its order profile's (Y when none); a firm on the
simple model sends W or Y only. A NewOrderSingle's 1031 must be one of the
six codes and 1032, if present, 2. Fills carry their order's code, a
child's fill and its staged order's mirrored fill W, and the drop copy the
same as the order sessions.
"""
from __future__ import annotations

import copy
import itertools
import string
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from fastcore.codec import Encoder
from fastcore.config import default_table, load
from fastcore.engine import Engine
from fastcore.errors import ConfigError
from harness import Harness, cancel, decode, nos, replace, status

CODES = "WHCGDY"                     # highest precedence first


def reference(own: str | None, user: str, profile: str, simple: bool, desk: bool = False) -> str:
    """The code the order should carry: a tiny model of seed 004."""
    if desk:
        return "W"
    present = [c for c in (own, user, profile) if c]
    code = min(present, key=CODES.index) if present else "Y"
    return code if not simple or code == "W" else "Y"


def with_credentials(mode: str = "auto", **over: Any) -> dict[str, Any]:
    """The default users with their credentials (everyone shares CME-A)."""
    return {"mode": mode, "users": copy.deepcopy(default_table()["users"]), **over}


def codes_of(out, clordid: str | None = None) -> set[tuple[str, str]]:
    """{(1031, 1032)} of the ExecutionReports of ``out`` (of ``clordid``)."""
    return {(m.get(1031), m.get(1032)) for _, m in out
            if m[35] == "8" and (clordid is None or m[11] == clordid)}


# ---- 1. on every ExecutionReport of an order ----------------------------------------------

def test_every_execution_report_of_an_order_carries_its_code():
    """Worked mode, complex model: ack, fill, replace, status, restatement,
    stop, bust, correct, a duplicate ClOrdID, cancel, done for day, expiry:
    1031 and 1032=2 on every one, to everyone who sees the order."""
    h = Harness(with_credentials("worked", execution_source={"model": "complex"}))
    seen = h.send("D", nos("A1", qty="100", extra=[(1031, "C")]), "PM1")
    seen += h.act("pending_new", order="A1")
    seen += h.act("ack", order="A1")
    seen += h.act("fill", order="A1", qty="10", px="100", exec_id="E1")
    seen += h.act("correct", order="A1", exec_id="E1", px="99")
    seen += h.act("bust", order="A1", exec_id="E1")
    seen += h.act("stop", order="A1", qty="5", px="100")
    seen += h.send("G", replace("A2", "A1", "50", "101"), "PM1")
    seen += h.act("pending_replace", order="A1")
    seen += h.act("accept_replace", order="A1")
    seen += h.act("restate", order="A2", reason="3", qty="40")
    seen += h.send("H", status("A2"), "PM1")
    seen += h.send("D", nos("A1", extra=[(1031, "C")]), "PM1")        # duplicate ClOrdID
    seen += h.send("F", cancel("A3", "A2", qty="40"), "PM1")
    seen += h.act("pending_cancel", order="A2")
    seen += h.act("accept_cancel", order="A2")
    h.send("D", nos("B1", extra=[(1031, "H")]), "ET3")
    seen += h.act("ack", order="B1", session="ET3")
    seen += h.act("done_for_day", order="B1", session="ET3")
    h.send("D", nos("D1", extra=[(1031, "D")]), "ET4")
    seen += h.act("ack", order="D1", session="ET4")
    seen += h.act("expire", order="D1", session="ET4")
    reports = [(to, m) for to, m in seen if m[35] == "8"]
    assert {m[150] for _, m in reports} >= {"A", "0", "F", "G", "H", "7", "E", "5", "D", "I",
                                            "8", "6", "4", "3", "C"}
    assert codes_of(reports, "A1") | codes_of(reports, "A2") == {("C", "2")}
    assert codes_of(reports, "B1") == {("H", "2")}
    assert codes_of(reports, "D1") == {("D", "2")}
    assert {to for to, _ in reports} == {"PM1", "ET1", "ET2", "ET3", "ET4"}


def test_reports_without_an_order_carry_no_code():
    """A rejected NewOrderSingle and the answer about an unknown order are
    not reports of an order: no 1031."""
    h = Harness()
    [(_, rej)] = h.send("D", nos("X", symbol="NOPE", extra=[(1031, "H")]))
    [(_, unk)] = h.send("H", status("Y"))
    assert (rej[150], unk[150]) == ("8", "I")
    assert 1031 not in rej and 1031 not in unk


# ---- 2. what a NewOrderSingle may carry ---------------------------------------------------

@pytest.mark.parametrize("model", ["simple", "complex"])
@pytest.mark.parametrize("code", list(CODES))
@pytest.mark.parametrize("kind", [None, "2"], ids=["no-1032", "1032=2"])
def test_each_code_is_taken(code, model, kind):
    h = Harness({"execution_source": {"model": model}})
    extra = [(1031, code)] + ([(1032, kind)] if kind else [])
    [(_, ack)] = h.send("D", nos("A1", extra=extra))
    assert (ack[150], ack[1031], ack[1032]) == ("0", reference(code, "", "", model == "simple"), "2")


def assert_refused(h: Harness, extra, names: str) -> None:
    """The order is rejected (OrdRejReason 11, Text naming the tag) and
    nothing is created: a status request gets the unknown-order answer,
    and the ClOrdID is free for a correct order."""
    [(to, rej)] = h.send("D", nos("R1", extra=extra))
    assert (to, rej[35], rej[150], rej[39], rej[103], rej[37]) == ("PM1", "8", "8", "8", "11", "NONE")
    assert names in rej[58]
    [(_, st_)] = h.send("H", status("R1"))
    assert (st_[150], st_[37]) == ("I", "NONE")
    [(_, ack)] = h.send("D", nos("R1", extra=[(1031, "Y"), (1032, "2")]))
    assert (ack[150], ack[1031]) == ("0", "Y")


@pytest.mark.parametrize("value", ["Q", "WY", "w", "y", "W Y", "1", "YY", "Z"])
def test_a_code_that_is_not_one_of_the_six_is_refused(value):
    assert_refused(Harness(), [(1031, value)], "(1031)")


@settings(max_examples=100)
@given(st.text(alphabet=string.ascii_letters + string.digits + " *.-_/", min_size=1, max_size=4)
       .filter(lambda s: s not in CODES))
def test_any_other_1031_is_refused(value):
    assert_refused(Harness({"execution_source": {"model": "complex"}}), [(1031, value)], "(1031)")


@pytest.mark.parametrize("extra", [[(1032, "1")], [(1031, "H"), (1032, "1")]],
                         ids=["oats", "oats-with-code"])
def test_oats_order_handling_is_refused(extra):
    assert_refused(Harness(), extra, "(1032)")


def test_an_empty_1031_is_a_session_level_reject():
    """A tag without a value breaks FIX itself: the codec answers with a
    Reject (35=3, SessionRejectReason 4, RefTagID 1031) before the engine
    sees an order; nothing is created."""
    h = Harness()
    [(to, rej)] = h.send("D", nos("R1", extra=[(1031, "")]))
    assert (to, rej[35], rej[373], rej[371]) == ("PM1", "3", "4", "1031")
    assert "1031" in rej[58]
    [(_, ack)] = h.send("D", nos("R1"))
    assert (ack[150], ack[1031], ack[1032]) == ("0", "Y", "2")


def test_a_staged_order_with_a_bad_code_is_refused_too():
    h = Harness(with_credentials())
    [(to, rej)] = h.send("D", nos("S1", extra=[(21, "3"), (1031, "Q")]))
    assert (to, rej[150], rej[103]) == ("PM1", "8", "11")
    assert "(1031)" in rej[58]


# ---- 3. precedence, against the reference model -------------------------------------------

USER_CODES = [""] + list(CODES)


def _precedence_engine(model: str, other: str) -> Engine:
    """Users U<code><firm> for every user code (0: none) and firm S (simple)
    or X (complex); ``model`` is the default, ``other`` the per-firm
    override of the firm that differs. Profiles P<code>, reached through
    secondary accounts SEC<code>."""
    users = [{"name": f"U{c or '0'}{f}", "firm": f, "execution_source": c}
             for c in USER_CODES for f in "SX"]
    profiles = [{"name": f"P{c or '0'}", "execution_source": c} for c in USER_CODES]
    entries = [{"name": f"SEC{c or '0'}", "account": "123", "profile": f"P{c or '0'}"}
               for c in USER_CODES]
    firm = "X" if model == "simple" else "S"
    return Engine({"mode": "worked", "users": users, "order_profiles": profiles,
                   "secondary": {"accounts": entries},
                   "execution_source": {"model": model, "firms": {firm: other}}})


ENGINES = {"simple": _precedence_engine("simple", "complex"),
           "complex": _precedence_engine("complex", "simple")}
COUNTER = itertools.count()


@settings(max_examples=300)
@given(default=st.sampled_from(sorted(ENGINES)), firm=st.sampled_from("SX"),
       user=st.sampled_from(USER_CODES), profile=st.none() | st.sampled_from(USER_CODES),
       own=st.none() | st.sampled_from(CODES), kind=st.booleans())
def test_the_highest_precedence_wins_collapsed_under_the_simple_model(default, firm, user,
                                                                      profile, own, kind):
    engine = ENGINES[default]
    who = f"U{user or '0'}{firm}"
    clordid = f"P{next(COUNTER)}"
    extra = ([(18219, f"SEC{profile or '0'}")] if profile is not None else []) + \
        ([(1031, own)] if own else []) + ([(1032, "2")] if kind else [])
    data = Encoder(who, "FASTCORE").encode("D", nos(clordid, extra=extra), 1, 0)
    assert engine.submit(data, who, 0) == []          # worked mode: the desk answers
    [(to, ack)] = decode(engine.act("ack", order=clordid, session=who, now=0))
    simple = (firm == "S")                           # firm S is simple under either default
    assert (to, ack[11], ack[150]) == (who, clordid, "0")
    assert (ack[1031], ack[1032]) == (reference(own, user, profile or "", simple), "2")


def test_the_per_firm_model_overrides_the_default():
    for default in ENGINES:
        cfg = ENGINES[default].config
        models = {u.firm: cfg.execution_source.firms.get(u.firm, cfg.execution_source.model)
                  for u in cfg.users}
        assert models == {"S": "simple", "X": "complex"}


# ---- 4. desk-worked orders: W -------------------------------------------------------------

DESK_CONFIG = dict(                         # profiles with code H, one reached by ClientUserAcct1
    execution_source={"model": "complex"},
    accounts=[{"name": n} for n in ("123", "DESK-A", "BRK-A", "12345")],
    order_profiles=[{"name": "CUSTOMER A", "execution_source": "H"},
                    {"name": "ALGO", "execution_source": "H"}],
    secondary={"accounts": [{"name": "ClientUserAcct1", "account": "12345",
                             "profile": "CUSTOMER A"}]},
)


def desk_users(pm1_code: str = "D") -> list[dict[str, Any]]:
    users = copy.deepcopy(default_table()["users"])
    users[0]["execution_source"] = pm1_code            # PM1: every order of its is D ...
    users[1]["execution_source"] = "C"                 # ET1, the claimer: C
    return users


@pytest.mark.parametrize("model", ["simple", "complex"])
def test_staged_orders_their_children_and_fills_are_w(model):
    """PM1 (execution_source D) stages with 1031=H through a secondary
    account whose profile is H; ET1 (C) claims and works children, one
    naming the H profile in 18218: all W, and so are the child's fills and
    the staged order's mirrored fills. ET3's counter order keeps its own."""
    h = Harness({"mode": "auto", "users": desk_users(), **DESK_CONFIG,
                 "execution_source": {"model": model}})
    out = h.send("D", nos("S1", qty="100", px="4500", extra=[
        (21, "3"), (1031, "H"), (18219, "ClientUserAcct1")]), "PM1")
    assert codes_of(out) == {("W", "2")}
    out = h.act("claim", order="S1", by="ET1")
    out += h.act("child", order="S1", by="ET1", clordid="C1", qty="30")
    out += h.act("child", order="S1", by="ET1", clordid="C2", qty="30", profile="ALGO")
    assert codes_of(out) == {("W", "2")}
    out = h.send("D", nos("X1", side="2", qty="50", px="4500", extra=[(1031, "G")]), "ET3")
    assert codes_of(out, "C1") == codes_of(out, "C2") == codes_of(out, "S1") == {("W", "2")}
    assert {m[150] for _, m in out if m[11] == "S1"} == {"F"}
    assert codes_of(out, "X1") == {("G" if model == "complex" else "Y", "2")}
    out = h.send("F", cancel("S1x", "S1", qty="100"), "PM1")
    assert {m[150] for _, m in out} == {"4"} and codes_of(out) == {("W", "2")}


def test_a_child_order_sent_over_fix_is_w_whatever_it_carries():
    h = Harness({"mode": "auto", "users": desk_users(), **DESK_CONFIG})
    [(_, ack), *_] = h.send("D", nos("S1", qty="100", px="4500", extra=[(21, "3")]), "PM1")
    h.act("claim", order="S1", by="ET1")
    out = h.send("D", nos("C1", qty="10", px="4500",
                          extra=[(9101, ack[37]), (1031, "H"), (18218, "ALGO")]), "ET1")
    assert {m[150] for _, m in out} == {"0"}
    assert codes_of(out) == {("W", "2")}


@pytest.mark.parametrize("model", ["simple", "complex"])
@pytest.mark.parametrize("mode", ["auto", "worked"])
def test_a_telephoned_order_is_w(model, mode):
    h = Harness({"mode": mode, "users": desk_users("H"), "execution_source": {"model": model}})
    out = h.act("telephoned", order="T1", symbol="ESZ6", side="1", qty="10", px="100",
                clordid="T1", session="PM1")
    assert codes_of(out) == {("W", "2")}
    [(to, dup)] = h.send("D", nos("T1", extra=[(1031, "H")]), "PM1")   # its electronic copy
    assert (to, dup[150]) == ("PM1", "8") and "verbally" in dup[58]
    out = h.act("fill", order="T1", qty="10", px="100")      # the desk fills it, in both modes
    assert codes_of(out, "T1") == {("W", "2")}
    assert {m[150] for _, m in out if m[11] == "T1"} == {"F"}


# ---- 5. fills in auto mode ------------------------------------------------------------------

@settings(max_examples=60)
@given(buy=st.none() | st.sampled_from(CODES), sell=st.none() | st.sampled_from(CODES),
       model=st.sampled_from(["simple", "complex"]))
def test_each_side_of_a_trade_carries_its_own_code(buy, sell, model):
    h = Harness(with_credentials(execution_source={"model": model}))
    h.send("D", nos("B1", qty="10", extra=[(1031, buy)] if buy else []), "ET1")
    out = h.send("D", nos("S1", side="2", qty="4", extra=[(1031, sell)] if sell else []), "ET3")
    fills = [(to, m) for to, m in out if m[150] == "F"]
    assert len(fills) == 10                             # both fills, to all five
    simple = model == "simple"
    assert codes_of(fills, "B1") == {(reference(buy, "", "", simple), "2")}
    assert codes_of(fills, "S1") == {(reference(sell, "", "", simple), "2")}


# ---- 6. the configuration ---------------------------------------------------------------------

@pytest.mark.parametrize("table, entry", [
    ({"users": [{"name": "U", "execution_source": "Q"}]}, "users[0].execution_source"),
    ({"users": [{"name": "U", "execution_source": "WY"}]}, "users[0].execution_source"),
    ({"users": [{"name": "U", "execution_source": "w"}]}, "users[0].execution_source"),
    ({"order_profiles": [{"name": "CUSTOMER A", "execution_source": "Z"}]},
     "order_profiles[0].execution_source"),
    ({"execution_source": {"firms": {"NOBODY": "complex"}}}, "execution_source.firms.NOBODY"),
    ({"execution_source": {"model": "medium"}}, "execution_source.model"),
], ids=["user-Q", "user-two", "user-lowercase", "profile", "firm-without-user", "model"])
def test_configuration_refusals_name_the_entry(table, entry):
    with pytest.raises(ConfigError) as exc:
        load(table)
    assert exc.value.entry == entry, str(exc.value)
    with pytest.raises(ConfigError):
        Engine(table)


def test_a_firms_unknown_model_is_refused():
    """msgspec names a dict value "firms[...]", not the firm."""
    with pytest.raises(ConfigError) as exc:
        load({"users": [{"name": "U", "firm": "F"}], "execution_source": {"firms": {"F": "both"}}})
    assert exc.value.entry.startswith("execution_source.firms")
    assert "'both'" in exc.value.why


def test_the_default_is_the_simple_model():
    cfg = load()
    assert (cfg.execution_source.model, dict(cfg.execution_source.firms)) == ("simple", {})
    ok = load({"users": [{"name": "U", "firm": "F", "execution_source": "H"}],
               "execution_source": {"firms": {"F": "complex"}}})
    assert ok.users[0].execution_source == "H"


# ---- 7. over the real server: the drop copy ---------------------------------------------------

def received(client) -> list:
    client.sync()
    return client.take()


def order(clordid: str, side: str = "1", qty: str = "5", px: str = "100",
          extra: list[tuple[int, str]] | None = None) -> list[tuple[int, str]]:
    return [(11, clordid), (55, "ESZ6"), (54, side), (38, qty), (40, "2"), (44, px),
            (59, "0"), (60, "20261121-09:30:00")] + (extra or [])


def _code_pairs(messages) -> set[tuple[str, str, str]]:
    return {(m.get_str(11), m.get_str(1031, None), m.get_str(1032, None)) for m in messages
            if m.msg_type == "8"}


@pytest.mark.server_config({"execution_source": {"model": "complex"}})
def test_server_fills_and_drop_copy_carry_the_codes(server):
    """Complex model over the server: PM1's H order trades with ET3's C
    order; a staged order of PM1's is worked by ET1 in a child that ET4
    fills. Every report the order sessions and DC1 get carries its order's
    code (W for the staged order and its child)."""
    dc, pm, et3, et4 = (server.fix(n) for n in ("DC1", "PM1", "ET3", "ET4"))
    try:
        pm.send("D", order("A1", extra=[(1031, "H")]))
        et3.send("D", order("B1", side="2", extra=[(1031, "C"), (1032, "2")]))
        pm.send("D", order("S1", qty="50", px="4500", extra=[(21, "3"), (1031, "G")]))
        received(pm)
        with server.operator() as ops:
            ops.act("claim", order="S1", by="ET1")
            ops.act("child", order="S1", by="ET1", clordid="C1", qty="20")
        et4.send("D", order("X1", side="2", qty="20", px="4500"))
        got = {name: received(c) for name, c in (("PM1", pm), ("ET3", et3), ("ET4", et4))}
        copies = received(dc)
        want = {("A1", "H", "2"), ("B1", "C", "2"), ("S1", "W", "2"), ("C1", "W", "2"),
                ("X1", "Y", "2")}
        assert _code_pairs(copies) == want
        assert _code_pairs(got["PM1"] + got["ET3"] + got["ET4"]) <= want
        fills = {(m.get_str(11), m.get_str(1031)) for m in copies
                 if m.msg_type == "8" and m.get_str(150) == "F"}
        assert fills == {("A1", "H"), ("B1", "C"), ("C1", "W"), ("S1", "W"), ("X1", "Y")}
        assert all(m.get_str(56) == "DC1" and 128 in m for m in copies)
    finally:
        for c in (dc, pm, et3, et4):
            c.close()
