"""Bad order values and requests a user has no business making, the FIX way.

* a NewOrderSingle the engine cannot take: ExecutionReport Rejected
  (35=8 150=8 39=8) with OrdRejReason (103) and a Text naming the problem;
* a cancel or replace it cannot take: OrderCancelReject (35=9) with
  CxlRejReason (102); a status request for an unknown order: ExecType I,
  OrdRejReason 5;
* a value the codec refuses: Reject (35=3) with SessionRejectReason (373)
  and RefTagID (371); a message type the engine does not take:
  BusinessMessageReject (35=j) with BusinessRejectReason (380);
* an order a user cannot see: exactly the answer an order that does not
  exist gets (nothing revealed);

and after each of them the session carries on: the next valid order is
taken and the orders already there are unchanged (their rows of the order
table, and the book in auto mode).

Decisions the tests hold: a Price (44) of zero or below is a price (futures
spreads, and WTI in April 2020, trade there): the book's tick and band rules
govern it; StopPx (99) is read by no order type the engine takes (stop
orders are refused, OrdRejReason 11), so on a limit order it is ignored once
the codec has checked its format; an Account (1) that is not configured is
booked as met (self-trade prevention by account): only a user whose accounts
are secondary ones (seed 001) has its Account mapped or refused.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fastcore.errors import CommandRefused
from fastcore.engine import Engine

from harness import ALONE, TS, Harness, cancel, nos, replace, status

MODES = ["auto", "worked"]

HUGE = "99999999999999999999"             # above int64 in any scale
INT64_MAX = "9223372036854775807"


# ---- helpers ------------------------------------------------------------------

def rejected(msg, reason, text):
    """An ExecutionReport Rejected with OrdRejReason ``reason`` whose Text contains ``text``."""
    assert (msg[35], msg[150], msg[39], msg[37]) == ("8", "8", "8", "NONE"), msg
    assert msg[103] == str(reason), msg
    assert text in msg[58], msg
    assert (msg[151], msg[14]) == ("0", "0"), msg


def cxl_rejected(msg, reason, text, response_to="2"):
    """An OrderCancelReject with CxlRejReason ``reason`` whose Text contains ``text``."""
    assert msg[35] == "9", msg
    assert (msg[102], msg[434]) == (str(reason), response_to), msg
    assert text in msg[58], msg


def session_rejected(msg, reason, tag):
    assert msg[35] == "3", msg
    assert (msg[373], msg[371]) == (str(reason), str(tag)), msg
    assert f"tag {tag}" in msg[58], msg


def snapshot(h):
    """The order table's rows and, in auto mode, ESZ6's book."""
    bids, asks = h.engine.books[0].depth(10)
    return h.engine.orders().tolist(), bids.tolist(), asks.tolist()


def setup(mode, who="PM1"):
    """A Harness in ``mode`` with a working order REST (buy 10 @ 100 ESZ6) of ``who``."""
    h = Harness({"mode": mode})
    out = h.send("D", nos("REST"), who)
    if mode == "worked":
        assert out == []
        out = h.act("ack", order="REST")
    assert [m[150] for _, m in out] == ["0"]
    return h


def carries_on(h, before, who="PM1", clordid="NEXT"):
    """Nothing changed since ``before``, and a valid order from ``who`` is taken."""
    assert snapshot(h) == before
    assert h.engine.order_state("REST") == "New"
    out = h.send("D", nos(clordid, side="2", px="101"), who)
    if h.engine.config.mode == "worked":
        assert out == []
        out = h.act("ack", order=clordid, session=who)
    assert [(to, m[150], m[11]) for to, m in out] == [(who, "0", clordid)]
    assert h.engine.order_state("REST") == "New"


def bad_order(mode, fields):
    """The one answer to a NewOrderSingle of ``fields`` next to REST, after
    which the session carries on."""
    h = setup(mode)
    before = snapshot(h)
    msg = h.one("D", fields)
    carries_on(h, before)
    return msg


def bad_replace(mode, qty="10", px="100", **kw):
    h = setup(mode)
    before = snapshot(h)
    msg = h.one("G", replace("R1", "REST", qty, px, **kw))
    carries_on(h, before)
    return msg


# ---- quantities and prices of a NewOrderSingle ----------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("qty", ["0", "-5", "-0.0001", "0.00000"])
def test_order_qty_not_positive(mode, qty):
    rejected(bad_order(mode, nos("BAD", qty=qty)), 13, "positive OrderQty (38)")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("qty,why", [
    (HUGE, f"OrderQty (38) {HUGE} is out of range"),
    (INT64_MAX, f"OrderQty (38) {INT64_MAX} is out of range"),
    ("1.00001", "OrderQty (38) 1.00001 has more than 4 decimals"),
    ("-" + HUGE, f"OrderQty (38) -{HUGE} is out of range"),
])
def test_order_qty_unrepresentable(mode, qty, why):
    rejected(bad_order(mode, nos("BAD", qty=qty)), 13, why)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("qty", ["0", "-1", HUGE, "1.00001"])
def test_cash_order_qty_bad(mode, qty):
    msg = bad_order(mode, nos("BAD", qty=None, extra=[(152, qty)]))
    rejected(msg, 13, "CashOrderQty (152)")
    assert msg[152] == qty                  # the request's value, echoed


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("px,why", [
    (HUGE, f"Price (44) {HUGE} is out of range"),
    ("-" + HUGE, f"Price (44) -{HUGE} is out of range"),
    ("100.000000001", "Price (44) 100.000000001 has more than 8 decimals"),
    ("92233720368.54775808", "Price (44) 92233720368.54775808 is out of range"),
])
def test_price_unrepresentable(mode, px, why):
    rejected(bad_order(mode, nos("BAD", px=px)), 99, why)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tag,value", [(38, "1e30"), (44, "1e30"), (99, "1e30"), (152, "1e30"),
                                       (38, "NaN"), (44, "inf"), (38, "."), (44, "1,5"),
                                       (38, "0x10"), (44, "--1")])
def test_numbers_the_codec_refuses(mode, tag, value):
    fields = [(t, v) for t, v in nos("BAD") if t != tag] + [(tag, value)]
    session_rejected(bad_order(mode, fields), 6, tag)


@pytest.mark.parametrize("mode", MODES)
def test_price_of_a_limit_order_required(mode):
    rejected(bad_order(mode, nos("BAD", px=None)), 99, "Price (44) is required")


def test_zero_and_negative_prices_are_prices():
    """A limit price at or below zero rests where it says (auto mode)."""
    h = setup("auto")
    out = h.send("D", nos("Z", px="0", side="2", symbol="CLF7"))
    assert [m[150] for _, m in out] == ["0"]
    out = h.send("D", nos("N", px="-37.63", symbol="CLF7"))
    assert [m[150] for _, m in out] == ["0"]
    clf = h.engine.books[2]
    assert (clf.best_bid, clf.best_ask) == (-3763 * 10**6, 0)


def test_price_off_the_tick_and_outside_the_band():
    h = Harness({"mode": "auto", "instruments": [
        {"symbol": "ESZ6", "tick": 0.25, "band": 100, "ref_price": 4500, "max_qty": 10000}]})
    for px in ("-92233720368", "92233720368", "-4500", "4399.75"):
        msg = h.one("D", nos(f"B{px}", px=px))
        rejected(msg, 99, "band: price")
    rejected(h.one("D", nos("T", px="4500.1")), 99, "tick: price 4500.1")
    assert h.one("D", nos("OK", px="4550"))[150] == "0"


@pytest.mark.parametrize("mode", MODES)
def test_stop_orders_refused_whatever_their_stop_px(mode):
    for i, stop_px in enumerate(["0", "-1", HUGE, "100.000000001"]):
        msg = bad_order(mode, nos(f"S{i}", ord_type="3", px=None, extra=[(99, stop_px)]))
        rejected(msg, 11, "OrdType 3 is not supported")


@pytest.mark.parametrize("mode", MODES)
def test_max_qty_of_the_book(mode):
    """Auto mode: the book's max_qty; a desk may take any representable quantity."""
    h = setup(mode)
    out = h.send("D", nos("BIG", qty="922337203685477"))
    if mode == "auto":
        rejected(out[0][1], 13, "max_qty: quantity 922337203685477 is above 10000")
    else:
        assert out == []
        assert h.act("ack", order="BIG")[0][1][38] == "922337203685477"


# ---- symbols, accounts, enumerations ----------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_unknown_symbol(mode):
    rejected(bad_order(mode, nos("BAD", symbol="NOPE")), 1, "unknown symbol NOPE")
    rejected(bad_order(mode, nos("BAD", symbol="esz6")), 1, "unknown symbol esz6")


@pytest.mark.parametrize("mode", MODES)
def test_missing_symbol(mode):
    """Symbol (55) is optional to the codec (FIX 4.4's Instrument block) but
    the engine needs it. It used to read a pointer it never set (a crash)."""
    msg = bad_order(mode, [(t, v) for t, v in nos("BAD") if t != 55])
    rejected(msg, 1, "Symbol (55) is required")


@pytest.mark.parametrize("mode", MODES)
def test_missing_symbol_on_cancel_and_replace(mode):
    h = setup(mode)
    before = snapshot(h)
    msg = h.one("F", [(t, v) for t, v in cancel("C1", "REST") if t != 55])
    cxl_rejected(msg, 99, "Symbol (55) is required", response_to="1")
    msg = h.one("G", [(t, v) for t, v in replace("R1", "REST", "5", "100") if t != 55])
    cxl_rejected(msg, 99, "Symbol (55) is required")
    carries_on(h, before)


def test_missing_symbol_is_no_crash_in_a_fresh_process():
    """The crash the fuzzer found (tools/fuzz_codec), run where a crash cannot
    take pytest down: a NewOrderSingle without Symbol and a cancel without it."""
    code = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from harness import Harness, nos, cancel
out = []
for mode in ("auto", "worked"):
    h = Harness({{"mode": mode}})
    out.append(h.one("D", [(t, v) for t, v in nos("X") if t != 55])[58])
    h.send("D", nos("A"))
    out.append(h.one("F", [(t, v) for t, v in cancel("C", "A") if t != 55])[58])
print(json.dumps(out))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == ["Symbol (55) is required"] * 4


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tag,value", [(54, "9"), (54, "7"), (40, "3"), (40, "P"), (59, "2"),
                                       (59, "5"), (59, "7")])
def test_unsupported_side_ord_type_time_in_force(mode, tag, value):
    """Valid FIX values the engine does not take: OrdRejReason 11 naming the tag."""
    name = {54: "Side", 40: "OrdType", 59: "TimeInForce"}[tag]
    fields = [(t, value if t == tag else v) for t, v in nos("BAD")]
    rejected(bad_order(mode, fields), 11, f"{name} {value} is not supported")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tag,value", [(54, "Z"), (54, "12"), (40, "Z"), (59, "Z"), (59, "")])
def test_unknown_side_ord_type_time_in_force(mode, tag, value):
    """Values outside FIX 4.4's enumerations (or none): the codec refuses them."""
    fields = [(t, value if t == tag else v) for t, v in nos("BAD")]
    reason = 4 if value == "" else 6 if len(value) > 1 else 5
    session_rejected(bad_order(mode, fields), reason, tag)


SECONDARY = {"users": [{**u, "secondary_accounts": u["name"] == "PM1"} for u in ALONE["users"]],
             "secondary": {"accounts": [{"name": "PM1MINE", "account": "123"}]}}


@pytest.mark.parametrize("mode", MODES)
def test_account_a_user_may_not_use(mode):
    """A user whose accounts are secondary ones: an Account (1) with no TT
    account mapped is refused (OrdRejReason 15), a mapped one is booked."""
    h = Harness({**SECONDARY, "mode": mode})
    out = h.send("D", nos("REST", extra=[(1, "MINE")]))
    if mode == "worked":
        out = h.act("ack", order="REST")
    assert [(m[150], m[1]) for _, m in out] == [("0", "MINE")]
    before = snapshot(h)
    msg = h.one("D", nos("BAD", extra=[(1, "THEIRS")]))
    rejected(msg, 15, "no TT account is mapped to the secondary account PM1THEIRS")
    assert msg[1] == "THEIRS"
    msg = h.one("D", nos("BAD2"))                     # no Account at all
    rejected(msg, 15, "no TT account is mapped")
    assert snapshot(h) == before
    out = h.send("D", nos("NEXT", side="2", px="101", extra=[(1, "MINE")]))
    if mode == "worked":
        out = h.act("ack", order="NEXT")
    assert [m[150] for _, m in out] == ["0"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["NOSUCH", "x" * 200, "PM1MINE "])
def test_secondary_account_that_maps_to_nothing(mode, name):
    msg = bad_order(mode, nos("BAD", extra=[(18219, name)]))
    rejected(msg, 15, f"no TT account is mapped to the secondary account {name}")
    assert 18219 not in msg                            # never sent on


# ---- cancel and replace values ----------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("qty", ["0", "-10"])
def test_replace_qty_not_positive(mode, qty):
    cxl_rejected(bad_replace(mode, qty=qty), 99, "positive OrderQty (38)")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("qty,why", [(HUGE, f"OrderQty (38) {HUGE} is out of range"),
                                     ("1.00001", "OrderQty (38) 1.00001 has more than 4 decimals")])
def test_replace_qty_unrepresentable(mode, qty, why):
    cxl_rejected(bad_replace(mode, qty=qty), 99, why)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("px,why", [(HUGE, f"Price (44) {HUGE} is out of range"),
                                    ("100.000000001", "Price (44) 100.000000001 has more than 8 decimals")])
def test_replace_price_unrepresentable(mode, px, why):
    cxl_rejected(bad_replace(mode, px=px), 99, why)


def test_replace_price_off_the_tick_auto():
    cxl_rejected(bad_replace("auto", px="100.1"), 99, "tick: price 100.1")


@pytest.mark.parametrize("mode", MODES)
def test_replace_unsupported_terms(mode):
    cxl_rejected(bad_replace(mode, tif="2"), 99, "TimeInForce 2 is not supported")


@pytest.mark.parametrize("mode", MODES)
def test_replace_codec_refuses(mode):
    h = setup(mode)
    before = snapshot(h)
    session_rejected(h.one("G", replace("R1", "REST", "1e30", "100")), 6, 38)
    session_rejected(h.one("G", replace("R2", "REST", "5", "NaN")), 6, 44)
    carries_on(h, before)


@pytest.mark.parametrize("mode", MODES)
def test_cancel_side_or_symbol_differs(mode):
    h = setup(mode)
    before = snapshot(h)
    cxl_rejected(h.one("F", cancel("C1", "REST", side="2")), 99, "Side (54) differs",
                 response_to="1")
    cxl_rejected(h.one("F", cancel("C2", "REST", symbol="NQZ6")), 99, "Symbol (55) differs",
                 response_to="1")
    cxl_rejected(h.one("F", cancel("C3", "REST", symbol="NOPE")), 99, "Symbol (55) differs",
                 response_to="1")
    carries_on(h, before)


@pytest.mark.parametrize("mode", MODES)
def test_message_types_the_engine_does_not_take(mode):
    """A valid message of another type: BusinessMessageReject 380=3; one the
    codec refuses (a required tag missing): Reject 373=1."""
    h = setup(mode)
    before = snapshot(h)
    for msg_type, fields in [("0", []), ("1", [(112, "T")]), ("8", []),
                             ("B", [(148, "news"), (33, 1), (58, "text")])]:
        msg = h.one(msg_type, fields)
        if msg_type == "8":
            assert (msg[35], msg[373], msg[372]) == ("3", "1", "8"), msg
            continue
        assert (msg[35], msg[380], msg[372]) == ("j", "3", msg_type), msg
        assert "the engine takes D, F, G and H" in msg[58]
    session_rejected(h.one("AB", [(11, "X"), (55, "ESZ6"), (54, "1"), (60, TS)]), 1, 555)
    carries_on(h, before)


# ---- orders outside the user's audience ------------------------------------------

def _other_firms_order(mode, request, who="ET3", order_exists=True):
    """``who``'s answer to ``request`` naming PM1's order 1 / REST, where
    PM1 trades alone (another firm's order) or has no order at all."""
    h = Harness({"mode": mode})
    if order_exists:
        out = h.send("D", nos("REST"))
        if mode == "worked":
            h.act("ack", order="REST")
        before = snapshot(h)
    msg_type, fields = request
    out = h.send(msg_type, fields, who)
    assert [to for to, _ in out] == [who]
    if order_exists:
        assert snapshot(h) == before
        assert h.engine.order_state("REST") == "New"
    return out[0][1], h.wire[-1][1]


REQUESTS = {
    "cancel": ("F", [(37, "1"), *cancel("C1", "REST")]),
    "replace": ("G", [(37, "1"), *replace("R1", "REST", "5", "99")]),
    "cancel by ClOrdID": ("F", cancel("C1", "REST")),
    "replace by ClOrdID": ("G", replace("R1", "REST", "5", "99")),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("request_name", sorted(REQUESTS))
def test_another_firms_order_looks_unknown(mode, request_name):
    """Cancel or replace of an order the user cannot see: CxlRejReason 1,
    OrderID NONE, byte for byte the answer an order that does not exist gets."""
    msg, raw = _other_firms_order(mode, REQUESTS[request_name])
    cxl_rejected(msg, 1, "unknown order", response_to="1" if "cancel" in request_name else "2")
    assert (msg[37], msg[39]) == ("NONE", "8")
    _msg, raw_none = _other_firms_order(mode, REQUESTS[request_name], order_exists=False)
    assert raw == raw_none


@pytest.mark.parametrize("mode", MODES)
def test_another_firms_order_status_looks_unknown(mode):
    request = ("H", [(37, "1"), *status("REST")])
    msg, raw = _other_firms_order(mode, request)
    assert (msg[35], msg[150], msg[39], msg[103], msg[37]) == ("8", "I", "8", "5", "NONE")
    assert msg[58] == "unknown order"
    none, _raw = _other_firms_order(mode, request, order_exists=False)
    differs = {t for t in set(msg) | set(none) if msg.get(t) != none.get(t)}
    assert differs <= {17}                  # the ExecID counter only


@pytest.mark.parametrize("mode", MODES)
def test_own_clordid_with_another_firms_order_id(mode):
    """ET3 names its own order's ClOrdID with the OrderID of PM1's: unknown."""
    h = Harness({**ALONE, "mode": mode})
    h.send("D", nos("REST"))
    h.send("D", nos("MINE", side="2", px="200"), "ET3")
    if mode == "worked":
        h.act("ack", order="REST", session="PM1")
        h.act("ack", order="MINE", session="ET3")
    before = snapshot(h)
    pm1_id = h.engine.orders()[0]["order_id"]
    for request in (cancel("C1", "MINE", side="2"), cancel("C2", "MINE", side="2", symbol="NQZ6"),
                    replace("R1", "MINE", "5", "200", side="2")):
        msg = h.one("F" if request[-2][0] == 38 else "G", [(37, str(pm1_id)), *request], "ET3")
        cxl_rejected(msg, 1, "unknown order", response_to="1" if msg[434] == "1" else "2")
        assert msg[37] == "NONE"
    assert snapshot(h) == before


# ---- staged orders: claims and children ---------------------------------------------

def staged(mode="auto", kind="INTERNAL"):
    """The default users (with their credentials); PM1 stages S1 (buy 10 ESZ6)."""
    h = Harness({"mode": mode})
    h.engine = Engine({"mode": mode})
    out = h.send("D", nos("S1", tif="1", extra=[(21, "3"), (9100, kind)]))
    assert out and all(m[150] == "0" for _, m in out)
    return h


def refused(h, command, text, **args):
    before = snapshot(h)
    with pytest.raises(CommandRefused) as exc:
        h.act(command, **args)
    assert text in str(exc.value)
    assert snapshot(h) == before
    return str(exc.value)


@pytest.mark.parametrize("mode", MODES)
def test_claim_by_an_outsider_looks_like_no_order(mode):
    h = staged(mode)
    outsider = refused(h, "claim", "no such order", order="S1", by="ET3")
    nothing = refused(h, "claim", "no such order", order="NOPE", by="ET3")
    assert outsider.replace("S1", "NOPE") == nothing


@pytest.mark.parametrize("mode", MODES)
def test_claim_by_a_user_without_staged_order_management(mode):
    h = staged(mode)
    refused(h, "claim", "PM1 may not work this INTERNAL staged order", order="S1", by="PM1")


@pytest.mark.parametrize("mode", MODES)
def test_second_claims_refused(mode):
    h = staged(mode)
    out = h.act("claim", order="S1", by="ET1")
    assert {m[9102] for _, m in out} == {"ET1"}
    refused(h, "claim", "claimed by ET1", order="S1", by="ET2")
    refused(h, "claim", "claimed by ET1", order="S1", by="ET1")
    refused(h, "restage", "claimed by ET1", order="S1", by="ET2")


@pytest.mark.parametrize("mode", MODES)
def test_broker_staged_order_not_for_the_internal_desk(mode):
    h = staged(mode, "BROKER")
    refused(h, "claim", "ET1 may not work this BROKER staged order", order="S1", by="ET1")
    refused(h, "restage", "never becomes INTERNAL", order="S1", by="ET3", to="INTERNAL")


@pytest.mark.parametrize("mode", MODES)
def test_child_orders_of_a_staged_order_someone_else_works(mode):
    h = staged(mode)
    h.act("claim", order="S1", by="ET1")
    before = snapshot(h)
    parent = str(h.engine.orders()[0]["order_id"])
    # ET2 (same desk, not the claimer): refused with the claimer's name
    msg = h.one("D", nos("K1", extra=[(9101, parent)]), "ET2")
    rejected(msg, 99, "the staged order is claimed by ET1")
    # ET3 (an outsider): as if there were no such staged order
    msg = h.one("D", nos("K2", extra=[(9101, parent)]), "ET3")
    rejected(msg, 5, "unknown staged order")
    none = h.one("D", nos("K3", extra=[(9101, "999")]), "ET3")
    rejected(none, 5, "unknown staged order")
    assert {t: v for t, v in msg.items() if t not in (11, 17, 34)} == \
        {t: v for t, v in none.items() if t not in (11, 17, 34)}
    # the claimer, beyond the unworked quantity
    msg = h.one("D", nos("K4", qty="11", extra=[(9101, parent)]), "ET1")
    rejected(msg, 13, "above the staged order's unworked quantity")
    # the claimer, another side
    msg = h.one("D", nos("K5", side="2", extra=[(9101, parent)]), "ET1")
    rejected(msg, 99, "Symbol (55) and Side (54)")
    assert snapshot(h) == before
    assert h.engine.order_state("S1") == "New"


@pytest.mark.parametrize("mode", MODES)
def test_outsider_cancel_of_a_staged_order_looks_unknown(mode):
    h = staged(mode)
    parent = str(h.engine.orders()[0]["order_id"])
    before = snapshot(h)
    msg = h.one("F", [(37, parent), *cancel("C1", "S1")], "ET3")
    cxl_rejected(msg, 1, "unknown order", response_to="1")
    assert msg[37] == "NONE"
    assert snapshot(h) == before


# ---- over a real server --------------------------------------------------------------

def _take(client, n):
    client.sync()
    got = client.take()
    assert len(got) == n, got
    return got


def test_bad_orders_over_the_server(server):
    """Hostile values and garbage over a FIX session: each answered (or, for
    garbage, skipped) and the session carries on."""
    pm = server.fix("PM1")
    try:
        pm.send("D", nos("REST"))
        assert [m.get_str(150) for m in _take(pm, 1)] == ["0"]
        pm.send("D", nos("Q", qty=HUGE))
        (msg,) = _take(pm, 1)
        assert (msg.get_str(150), msg.get_str(103)) == ("8", "13")
        assert f"OrderQty (38) {HUGE} is out of range" in msg.get_str(58)
        pm.send("D", [(t, v) for t, v in nos("NOSYM") if t != 55])
        (msg,) = _take(pm, 1)
        assert (msg.get_str(150), msg.get_str(103), msg.get_str(58)) == \
            ("8", "1", "Symbol (55) is required")
        pm.send("D", nos("E", px="1e30"))
        pm.sync()
        (msg,) = pm.take(admin=True)
        assert (msg.msg_type, msg.get_str(373), msg.get_str(371)) == ("3", "6", "44")
        pm.write(b"\x00\x01garbage8=FIX.4.4\x019=5\x0135=D\x0110=000\x01")   # skipped
        pm.send("F", [(37, "999"), *cancel("C1", "NOPE")])
        (msg,) = _take(pm, 1)
        assert (msg.msg_type, msg.get_str(102), msg.get_str(37)) == ("9", "1", "NONE")
        pm.send("D", nos("NEXT", side="2", px="101"))
        (msg,) = _take(pm, 1)
        assert (msg.get_str(11), msg.get_str(150)) == ("NEXT", "0")
        pm.send("H", status("REST"))            # the order already there is unchanged
        (msg,) = _take(pm, 1)
        assert [msg.get_str(t) for t in (150, 39, 151, 14)] == ["I", "0", "10", "0"]
    finally:
        pm.close()


def test_trader_desk_commands_refused_over_the_server(server):
    """A trader on the msgspec port may claim, restage and work children as
    itself, and nothing else."""
    from fastcore.server.client import ClientError, MsgClient
    et3 = MsgClient("127.0.0.1", server.msgspec_port, "ET3")
    try:
        for command, args, text in [("fill", {"order": "X", "qty": "1", "px": "1"},
                                     "fill is for operators"),
                                    ("claim", {"order": "X", "by": "ET1"},
                                     "a trader acts as itself"),
                                    ("claim", {"order": "NOPE"}, "no such order")]:
            with pytest.raises(ClientError) as exc:
                et3.act(command, **args)
            assert text in str(exc.value)
    finally:
        et3.close()
