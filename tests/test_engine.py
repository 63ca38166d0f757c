"""The order state engine through its Python API: FIX bytes (or Structs) in,
(recipient, FIX bytes) out, desk commands, the numpy view, the trading day,
and the order table's batch API. Real engine, real codec: no mocks."""
from __future__ import annotations

import collections
import decimal

import numpy as np
import pytest

from fastcore import messages
from fastcore.codec import Encoder
from fastcore.engine import Engine
from fastcore.errors import (CommandRefused, GarbledMessage, IncompleteMessage,
                             UnknownSession)
from fastcore.orders.table import (COMMAND_DTYPE, ERROR_CODES, OPS, REPORT_DTYPE,
                                   OrderTable, state_names)

import fixmsg

from harness import ALONE, PX, QTY, TS, T0, Harness, cancel, decode, nos, replace, status

NONE = 0xFFFFFFFF
CODE = {text: code for code, text in ERROR_CODES.items()}


def rows(engine):
    return engine.orders().tolist()


@pytest.fixture
def auto():
    """Auto mode with a working, part-filled order LIVE (10 @ 100, 3 filled)."""
    h = Harness()
    assert h.one("D", nos("LIVE"))[150] == "0"
    assert h.act("fill", order="LIVE", qty="3", px="100")[0][1][39] == "1"
    return h


@pytest.fixture
def worked():
    """Worked mode with an acknowledged, part-filled order LIVE (10 @ 100, 3 filled)."""
    h = Harness({"mode": "worked"})
    assert h.send("D", nos("LIVE")) == []
    h.act("ack", order="LIVE")
    h.act("fill", order="LIVE", qty="3", px="100")
    return h


def carries_on(h, before, who="PM1"):
    """LIVE is untouched and the session takes the next order."""
    assert rows(h.engine)[:len(before)] == before
    st = h.one("H", status("LIVE"), who="PM1")
    assert (st[150], st[39], st[14], st[151], st[38]) == ("I", "1", "3", "7", "10")
    nxt = "NEXT%d" % h.seq[who]
    if h.engine.auto:
        ok = h.one("D", nos(nxt, symbol="NQZ6"), who=who)
        assert (ok[150], ok[39], ok[11]) == ("0", "0", nxt)
        assert ok[37] != "NONE"
    else:
        assert h.send("D", nos(nxt, symbol="NQZ6"), who=who) == []
        ok = h.act("ack", order=nxt, session=who)[0][1]
        assert (ok[150], ok[39], ok[11]) == ("0", "0", nxt)


def rejected_new(msg, clordid, reason):
    assert msg[35] == "8"
    assert (msg[150], msg[39], msg[103]) == ("8", "8", str(reason)), msg
    assert msg[11] == clordid
    assert msg[37] == "NONE"
    assert (msg[14], msg[151]) == ("0", "0")
    assert msg[58]


# ---- NewOrderSingle rejected by the engine ---------------------------------------

@pytest.mark.parametrize("fields, reason, text", [
    (nos("R", symbol="XXX"), 1, "unknown symbol XXX"),
    (nos("R", side="5"), 11, "Side 5"),
    (nos("R", ord_type="3"), 11, "OrdType 3"),
    (nos("R", tif="2"), 11, "TimeInForce 2"),
    (nos("R", qty=None), 13, "OrderQty"),
    (nos("R", qty="0"), 13, "OrderQty"),
    (nos("R", qty="-5"), 13, "OrderQty"),
], ids=["unknown-symbol", "side", "ord-type", "tif", "no-qty",
        "zero-qty", "negative-qty"])
def test_new_order_rejected(auto, fields, reason, text):
    before = rows(auto.engine)
    msg = auto.one("D", fields)
    rejected_new(msg, "R", reason)
    assert text in msg[58]
    assert msg[55] == dict(fields)[55] and msg[54] == dict(fields)[54]
    assert len(auto.engine.orders()) == len(before)          # no order was created
    carries_on(auto, before)


def test_limit_without_price_rejected_by_the_engine(auto):
    before = rows(auto.engine)
    msg = auto.one("D", nos("R", px=None))
    assert (msg[150], msg[39], msg[37], msg[11]) == ("8", "8", "NONE", "R")
    assert "Price (44) is required" in msg[58] and 44 not in msg
    carries_on(auto, before)


def test_limit_without_price_code_is_99(auto):
    msg = auto.one("D", nos("R", px=None))
    assert msg[103] == "99"


def test_duplicate_clordid_reports_the_existing_order(auto):
    before = rows(auto.engine)
    msg = auto.one("D", nos("LIVE", qty="99"))
    assert (msg[150], msg[103], msg[37], msg[11]) == ("8", "6", "NONE", "LIVE")
    # OrdStatus and quantities of the order that holds the ClOrdID
    assert (msg[39], msg[38], msg[14], msg[151]) == ("1", "10", "3", "7")
    assert "duplicate" in msg[58]
    carries_on(auto, before)


def test_duplicate_clordid_in_another_session_is_a_new_order(auto):
    msg = auto.one("D", nos("LIVE"), who="ET1")
    assert (msg[150], msg[39]) == ("0", "0")
    assert msg[37] != "NONE"


def test_duplicate_of_a_telephoned_order(auto):
    out = auto.act("telephoned", order="phone", symbol="ESZ6", side="1", qty="10000",
                   px="100", clordid="TEL1")
    assert [(to, m[150], m[39]) for to, m in out] == [("PM1", "0", "0")]
    before = rows(auto.engine)
    msg = auto.one("D", nos("TEL1", qty="10000"))
    assert (msg[150], msg[39], msg[103], msg[37]) == ("8", "8", "7", "NONE")
    assert (msg[38], msg[14], msg[151]) == ("10000", "0", "0")
    assert "verbal" in msg[58]
    assert auto.engine.order_state("phone") == "New"
    carries_on(auto, before)


def test_halted_instrument_in_auto_mode(auto):
    assert auto.act("halt", symbol="ESZ6") == []        # LIVE has no ExecInst K: it waits
    before = rows(auto.engine)
    msg = auto.one("D", nos("H1"))
    rejected_new(msg, "H1", 2)
    assert "halted" in msg[58]
    carries_on(auto, before)                            # NEXT goes to NQZ6, not halted
    assert auto.act("resume", symbol="ESZ6") == []
    assert auto.one("D", nos("H2"))[150] == "0"


def test_halt_cancels_orders_asking_for_it(auto):
    auto.one("D", nos("K1", extra=[(18, "K")]))
    out = auto.act("halt", symbol="ESZ6")
    assert [(m[11], m[150], m[39], m[378]) for _, m in out] == [("K1", "4", "4", "6")]
    assert auto.engine.order_state("LIVE") == "New, Partially Filled"


# ---- OrderCancelReject --------------------------------------------------------------

@pytest.mark.parametrize("kind", ["F", "G"])
def test_request_for_unknown_order(auto, kind):
    before = rows(auto.engine)
    fields = cancel("C1", "NOPE") if kind == "F" else replace("C1", "NOPE", "5", "99")
    msg = auto.one(kind, fields)
    assert msg[35] == "9"
    assert (msg[37], msg[11], msg[41], msg[39]) == ("NONE", "C1", "NOPE", "8")
    assert (msg[434], msg[102]) == ("1" if kind == "F" else "2", "1")
    carries_on(auto, before)


@pytest.mark.parametrize("kind", ["F", "G"])
def test_request_with_duplicate_clordid(auto, kind):
    auto.one("D", nos("OTHER", symbol="NQZ6"))
    before = rows(auto.engine)
    for dup in ("LIVE", "OTHER"):       # the order's own ClOrdID, another order's
        fields = cancel(dup, "LIVE") if kind == "F" else replace(dup, "LIVE", "5", "99")
        msg = auto.one(kind, fields)
        assert (msg[35], msg[11], msg[41], msg[102]) == ("9", dup, "LIVE", "6")
        assert msg[434] == ("1" if kind == "F" else "2")
        assert (msg[37], msg[39]) == ("1", "1")
    carries_on(auto, before)


def _finish(h, how):
    """A finished order FIN: canceled, rejected or expired; its OrdStatus."""
    if how == "canceled":
        h.one("D", nos("FIN"))
        assert h.one("F", cancel("FINX", "FIN"))[150] == "4"
        return "4", "FINX"
    if h.engine.auto:
        h.one("D", nos("FIN"))
    else:
        h.send("D", nos("FIN"))
    if how == "rejected":
        assert h.act("reject", order="FIN", reason="0")[0][1][150] == "8"
        return "8", "FIN"
    assert h.act("expire", order="FIN")[0][1][150] == "C"
    return "C", "FIN"


@pytest.mark.parametrize("how, mode", [("canceled", "auto"), ("rejected", "worked"),
                                       ("expired", "auto"), ("expired", "worked")])
@pytest.mark.parametrize("kind", ["F", "G"])
def test_request_for_finished_order_is_too_late(how, mode, kind, request):
    h = request.getfixturevalue(mode)
    ord_status, current = _finish(h, how)
    before = rows(h.engine)
    fields = cancel("LATE", current) if kind == "F" else replace("LATE", current, "5", "99")
    msg = h.one(kind, fields)
    assert (msg[35], msg[11], msg[41], msg[39], msg[102]) == ("9", "LATE", current, ord_status, "0")
    assert msg[434] == ("1" if kind == "F" else "2")
    assert msg[37] not in ("NONE", "")
    carries_on(h, before)


@pytest.mark.parametrize("kind", ["F", "G"])
def test_request_with_stale_origclordid(auto, kind):
    rep = auto.one("G", replace("LIVE2", "LIVE", "10", "101"))
    assert (rep[150], rep[11], rep[41]) == ("5", "LIVE2", "LIVE")
    before = rows(auto.engine)
    fields = cancel("C9", "LIVE") if kind == "F" else replace("C9", "LIVE", "5", "99")
    msg = auto.one(kind, fields)
    assert (msg[35], msg[102], msg[39], msg[41]) == ("9", "99", "1", "LIVE")
    assert "OrigClOrdID" in msg[58]
    assert auto.one("H", status("LIVE2"))[44] == "101"
    assert rows(auto.engine) == before


@pytest.mark.parametrize("what, fields", [
    ("Side", cancel("C2", "LIVE", side="2")),
    ("Symbol", cancel("C2", "LIVE", symbol="NQZ6")),
    ("Symbol", cancel("C2", "LIVE", symbol="XXX")),
    ("Side", replace("C2", "LIVE", "5", "99", side="2")),
    ("Symbol", replace("C2", "LIVE", "5", "99", symbol="NQZ6")),
])
def test_request_differing_from_the_order(auto, what, fields):
    before = rows(auto.engine)
    kind = "F" if (44, "99") not in fields else "G"
    msg = auto.one(kind, fields)
    assert (msg[35], msg[102], msg[39], msg[37]) == ("9", "99", "1", "1")
    assert msg[434] == ("1" if kind == "F" else "2")
    assert what in msg[58]
    carries_on(auto, before)


def test_request_from_another_session_does_not_find_the_order(auto):
    msg = auto.one("F", cancel("C3", "LIVE"), who="ET1")
    assert (msg[35], msg[102], msg[37]) == ("9", "1", "NONE")
    assert auto.engine.order_state("LIVE") == "New, Partially Filled"


def test_status_request_for_unknown_order(auto):
    before = rows(auto.engine)
    msg = auto.one("H", status("NOPE"))
    assert (msg[35], msg[150], msg[39], msg[103], msg[37], msg[11]) == (
        "8", "I", "8", "5", "NONE", "NOPE")
    assert (msg[14], msg[151]) == ("0", "0")
    carries_on(auto, before)


# ---- messages the engine does not take ------------------------------------------------

@pytest.mark.parametrize("fields, reason, ref_tag", [
    ([(11, "B1"), (55, "ESZ6"), (38, "10"), (40, "2"), (44, "100"), (60, TS)], 1, 54),
    (nos("B1", qty="abc"), 6, 38),
    (nos("B1", side="Q"), 5, 54),
], ids=["required-missing", "bad-format", "bad-value"])
def test_codec_refusal_is_a_session_reject(auto, fields, reason, ref_tag):
    before = rows(auto.engine)
    seq = auto.seq["PM1"] + 1
    msg = auto.one("D", fields)
    assert msg[35] == "3"
    assert (msg[45], msg[371], msg[372], msg[373]) == (str(seq), str(ref_tag), "D", str(reason))
    assert msg[58]
    carries_on(auto, before)


@pytest.mark.parametrize("msg_type, fields", [
    ("E", [(66, "L1"), (394, "1"), (68, "1"), (73, "1"), (11, "Q"), (67, "1"),
           (55, "ESZ6"), (54, "1"), (40, "2"), (60, TS)]),
    ("A", [(98, "0"), (108, "30")]),
])
def test_unsupported_message_type_business_reject_wire(auto, msg_type, fields):
    """35=j with BusinessRejectReason 3, read off the wire."""
    before = rows(auto.engine)
    seq = auto.seq["PM1"] + 1
    out = auto.engine.submit(auto.raw(msg_type, fields), "PM1", auto.now)
    assert len(out) == 1 and out[0][0] == "PM1"
    wire = dict(fixmsg.body_fields(out[0][1])[1:])   # after the first 35
    assert fixmsg.body_fields(out[0][1])[0] == (35, b"j")
    assert (wire[45], wire[380]) == (str(seq).encode(), b"3")
    assert wire[34] == str(auto.last_seq["PM1"] + 1).encode()
    auto.last_seq["PM1"] += 1
    carries_on(auto, before)


@pytest.mark.parametrize("msg_type, fields", [
    ("E", [(66, "L1"), (394, "1"), (68, "1"), (73, "1"), (11, "Q"), (67, "1"),
           (55, "ESZ6"), (54, "1"), (40, "2"), (60, TS)]),
    ("A", [(98, "0"), (108, "30")]),
])
def test_unsupported_message_type_business_reject(auto, msg_type, fields):
    msg = auto.one(msg_type, fields)
    assert (msg[35], msg[372], msg[380]) == ("j", msg_type, "3")
    assert msg[45] == str(auto.seq["PM1"])


def test_garbled_and_incomplete_bytes_raise_and_send_nothing(auto):
    before = rows(auto.engine)
    good = auto.raw("D", nos("G1"))
    for bad in (good[:-4] + b"000\x01", b"garbage\x01", b"9=5\x0135=D\x01"):
        with pytest.raises(GarbledMessage):
            auto.submit(bad)
    for cut in (good[:20], good[:-1], b""):
        with pytest.raises(IncompleteMessage):
            auto.submit(cut)
    assert auto.last_seq["PM1"] == 2 and rows(auto.engine) == before
    carries_on(auto, before)


def test_unknown_sender(auto):
    with pytest.raises(UnknownSession) as exc:
        auto.engine.submit(auto.raw("D", nos("U1"), who="NOBODY"), "NOBODY", T0)
    assert exc.value.name == "NOBODY" and "NOBODY" in str(exc.value)
    with pytest.raises(UnknownSession):
        auto.engine.act("fill", now=T0, order="LIVE", qty="1", px="1", session="NOBODY")
    carries_on(auto, rows(auto.engine))


# ---- auto mode ---------------------------------------------------------------------

def test_auto_new_cancel_replace_status():
    h = Harness()
    assert h.engine.auto and h.engine.config.mode == "auto"
    new = h.one("D", nos("A", qty="10", px="100"))
    assert (new[35], new[150], new[39], new[11], new[38], new[44], new[151], new[14]) == (
        "8", "0", "0", "A", "10", "100", "10", "0")
    order_id = new[37]
    rep = h.one("G", replace("B", "A", "20", "101.5"))
    assert (rep[150], rep[39], rep[11], rep[41], rep[37]) == ("5", "0", "B", "A", order_id)
    assert (rep[38], rep[44], rep[151]) == ("20", "101.5", "20")
    st = h.one("H", status("B"))
    assert (st[150], st[39], st[38], st[44], st[37]) == ("I", "0", "20", "101.5", order_id)
    assert h.one("H", status("A"))[150] == "I"                 # any ClOrdID it carried
    can = h.one("F", cancel("C", "B", qty="20"))
    assert (can[150], can[39], can[11], can[41], can[37], can[151]) == (
        "4", "4", "C", "B", order_id, "0")
    st = h.one("H", status("C"))
    assert (st[150], st[39]) == ("I", "4")


@pytest.mark.parametrize("tif", ["3", "4"])
def test_auto_ioc_fok_new_then_canceled(tif):
    h = Harness()
    out = h.send("D", nos("I", tif=tif))
    assert [(to, m[150], m[39], m[59]) for to, m in out] == [
        ("PM1", "0", "0", tif), ("PM1", "4", "4", tif)]
    assert out[0][1][37] == out[1][1][37]
    assert out[1][1][151] == "0"


def test_auto_market_order_has_no_price_and_no_liquidity_cancels_it():
    h = Harness()
    out = h.send("D", nos("M", ord_type="1", px="100"))
    assert [(m[150], m[39], m[40]) for _, m in out] == [("0", "0", "1"), ("4", "4", "1")]
    assert all(44 not in m for _, m in out)
    assert "no more liquidity" in out[1][1][58]


def test_auto_cash_order_qty_needs_a_desk():
    h = Harness()
    msg = h.one("D", nos("Q", qty=None, extra=[(152, "10000")]))
    rejected_new(msg, "Q", 11)


def test_auto_possresend_of_a_known_order_is_a_status():
    h = Harness()
    h.one("D", nos("P"))
    msg = h.one("D", [(97, "Y")] + nos("P"))
    assert (msg[150], msg[39], msg[11]) == ("I", "0", "P")


# ---- desk commands refused -----------------------------------------------------------

REFUSALS = [
    # (setup, command, args, state in the message, why)
    ("pending", "fill", dict(order="P", qty="1", px="100"), "Pending New", "not valid"),
    ("pending", "accept_cancel", dict(order="P"), "Pending New", "no cancel request"),
    ("pending", "done_for_day", dict(order="P"), "Pending New", "not valid"),
    ("pending", "cancel", dict(order="P"), "Pending New", "not valid"),
    ("live", "ack", dict(order="LIVE"), "New, Partially Filled", "not valid"),
    ("live", "pending_new", dict(order="LIVE"), "New, Partially Filled", "not valid"),
    ("live", "reject", dict(order="LIVE"), "New, Partially Filled", "not valid"),
    ("live", "accept_cancel", dict(order="LIVE"), "New, Partially Filled", "no cancel request"),
    ("live", "pending_replace", dict(order="LIVE"), "New, Partially Filled",
     "no replace request"),
    ("live", "reject_cancel", dict(order="LIVE", request="Q"), "New, Partially Filled",
     "no cancel request Q"),
    ("live", "bust", dict(order="LIVE", exec_id="999"), "New, Partially Filled",
     "no such execution"),
    ("live", "fill", dict(order="LIVE", qty="8", px="100"), "New, Partially Filled",
     "quantity out of range"),
    ("live", "stop", dict(order="LIVE", qty="8", px="100"), "New, Partially Filled",
     "quantity out of range"),
    ("live", "correct", dict(order="LIVE", exec_id="f1", qty="11"), "New, Partially Filled",
     "quantity out of range"),
    ("busted", "bust", dict(order="LIVE", exec_id="f1"), "New", "no such execution"),
    ("dfd", "done_for_day", dict(order="LIVE"), "Done for Day", "not valid"),
    ("expired", "expire", dict(order="LIVE"), "Partially Filled, Expired", "not valid"),
    ("expired", "restate", dict(order="LIVE", reason="1", qty="20"), "Expired", "not valid"),
    ("expired", "fill", dict(order="LIVE", qty="1", px="1"), None, None),   # late fill: allowed
    ("filled", "cancel", dict(order="LIVE"), "New, Filled", "not valid"),
    ("filled", "expire", dict(order="LIVE"), "New, Filled", "not valid"),
    ("filled", "accept_cancel", dict(order="LIVE"), "New, Filled", "not valid"),
]


@pytest.mark.parametrize("setup, command, args, state, why", REFUSALS,
                         ids=[f"{r[1]}-{r[0]}" for r in REFUSALS])
def test_desk_command_refused(setup, command, args, state, why):
    h = Harness({"mode": "worked"})
    h.send("D", nos("P"))
    h.send("D", nos("LIVE"))
    h.act("ack", order="LIVE")
    h.act("fill", order="LIVE", qty="3", px="100", exec_id="f1")
    if setup == "busted":
        h.act("bust", order="LIVE", exec_id="f1")
    elif setup == "dfd":
        h.act("done_for_day", order="LIVE")
    elif setup == "expired":
        h.act("expire", order="LIVE")
    elif setup == "filled":                 # filled, with a cancel request the desk holds
        h.act("fill", order="LIVE", qty="7", px="100")
        h.send("F", [(11, "C1"), (41, "LIVE"), (55, "ESZ6"), (54, "1"), (60, TS)])
    before = rows(h.engine)
    last = dict(h.last_seq)
    exec_ids = h.engine.table.next_exec_id
    if why is None:                                      # control: a late fill is reported
        assert h.act(command, **args)[0][1][150] == "F"
        return
    with pytest.raises(CommandRefused) as exc:
        h.act(command, **args)
    err = exc.value
    assert err.command == command and err.order == args["order"]
    assert state in err.state and why in err.why
    assert f"{command} order {args['order']} (" in str(err) and state in str(err)
    # no output, no change, no ExecID used
    assert rows(h.engine) == before and h.engine.table.nreports == 0
    assert h.engine.table.next_exec_id == exec_ids
    assert dict(h.last_seq) == last
    out = h.act("ack", order="P")                             # the next command is fine
    assert out[0][1][34] == str(last.get("PM1", 0) + 1)
    assert out[0][1][17] == str(exec_ids + 1)


@pytest.mark.parametrize("command, args, why", [
    ("fill", dict(order="NOPE", qty="1", px="1"), "no such order"),
    ("fly", dict(order="LIVE"), "no such command"),
    ("fill", dict(order="LIVE", qty="1"), "argument"),
    ("halt", dict(symbol="XXX"), "unknown symbol XXX"),
    ("resume", dict(symbol="ESZ6"), "not halted"),
    ("split", dict(symbol="ESZ6", ratio="0"), "not positive"),
    ("split", dict(symbol="ESZ6", ratio="x"), "not a ratio"),
    ("telephoned", dict(order="T", symbol="ESZ6", side="1", qty="0"), "quantity"),
    ("telephoned", dict(order="T", symbol="ESZ6", side="7", qty="1"), "Side 7"),
])
def test_desk_command_refused_without_an_order_state(worked, command, args, why):
    before = rows(worked.engine)
    with pytest.raises(CommandRefused) as exc:
        worked.act(command, **args)
    assert exc.value.state is None and why in str(exc.value)
    assert rows(worked.engine) == before
    carries_on(worked, before)


def test_halt_twice_refused(worked):
    worked.act("halt", symbol="ESZ6")
    with pytest.raises(CommandRefused, match="already halted"):
        worked.act("halt", symbol="ESZ6")


@pytest.mark.parametrize("command, args", [
    ("bust", dict(order="LIVE", exec_id="nope")),
    ("fill", dict(order="LIVE", qty="abc", px="100")),
])
def test_desk_command_refused_names_the_state_of_an_existing_order(worked, command, args):
    with pytest.raises(CommandRefused) as exc:
        worked.act(command, **args)
    assert exc.value.state == "New, Partially Filled"
    assert "(New, Partially Filled)" in str(exc.value)


def test_act_is_the_method():
    a, b = Harness({"mode": "worked"}), Harness({"mode": "worked"})
    for h in (a, b):
        h.send("D", nos("X"))
    assert a.engine.act("ack", now=T0, order="X") == b.engine.ack("X", now=T0)
    assert (a.engine.act("fill", now=T0, order="X", qty="4", px="100.25")
            == b.engine.fill("X", "4", "100.25", now=T0))


# ---- Structs ----------------------------------------------------------------------

STRUCT_CASES = [
    (messages.NewOrderSingle(cl_ord_id="A", symbol="ESZ6", side="1", order_qty="10",
                             price="100.25", account="ACC"),
     "D", [(11, "A"), (55, "ESZ6"), (54, "1"), (38, "10"), (40, "2"), (44, "100.25"),
           (59, "0"), (1, "ACC")]),
    (messages.NewOrderSingle(cl_ord_id="B", symbol="NQZ6", side="2", order_qty=5,
                             price=decimal.Decimal("20000.5"), time_in_force="1"),
     "D", [(11, "B"), (55, "NQZ6"), (54, "2"), (38, "5"), (40, "2"), (44, "20000.5"),
           (59, "1")]),
    (messages.NewOrderSingle(cl_ord_id="R", symbol="XXX", side="1", order_qty="1",
                             price="1"),
     "D", [(11, "R"), (55, "XXX"), (54, "1"), (38, "1"), (40, "2"), (44, "1"), (59, "0")]),
    (messages.OrderCancelReplaceRequest(cl_ord_id="A2", orig_cl_ord_id="A", symbol="ESZ6",
                                        side="1", order_qty="20", price="99"),
     "G", [(11, "A2"), (41, "A"), (55, "ESZ6"), (54, "1"), (38, "20"), (40, "2"),
           (44, "99"), (59, "0")]),
    (messages.OrderStatusRequest(cl_ord_id="A2", symbol="ESZ6", side="1"),
     "H", [(11, "A2"), (55, "ESZ6"), (54, "1")]),
    (messages.OrderCancelRequest(cl_ord_id="A3", orig_cl_ord_id="A2", symbol="ESZ6",
                                 side="1"),
     "F", [(11, "A3"), (41, "A2"), (55, "ESZ6"), (54, "1")]),
    (messages.OrderCancelRequest(cl_ord_id="A4", orig_cl_ord_id="A2", symbol="ESZ6",
                                 side="1"),
     "F", [(11, "A4"), (41, "A2"), (55, "ESZ6"), (54, "1")]),
]


def test_structs_give_the_same_reports_as_fix_bytes():
    by_struct, by_bytes = Engine(ALONE), Engine(ALONE)
    seen = []
    for i, (struct, msg_type, fields) in enumerate(STRUCT_CASES, 1):
        now = T0 + i * 1_000_000
        body = fields + ([(60, messages.transact_time(now))] if msg_type != "H" else [])
        data = Encoder("PM1", "FASTCORE").encode(msg_type, body, i, now)
        a = by_struct.submit(struct, "PM1", now)
        b = by_bytes.submit(data, "PM1", now)
        assert a == b, (struct, decode(a), decode(b))
        seen += [m for _, m in decode(a)]
    assert [(m[35], m.get(150), m[11]) for m in seen] == [
        ("8", "0", "A"), ("8", "0", "B"), ("8", "8", "R"), ("8", "5", "A2"), ("8", "I", "A2"),
        ("8", "4", "A3"), ("9", None, "A4")]
    assert (seen[1][44], seen[1][59], seen[1][424]) == ("20000.5", "1", "5")
    assert seen[2][103] == "1" and seen[6][102] == "0"


def test_struct_msgpack_round_trip_is_submittable():
    import msgspec
    order = messages.NewOrderSingle(cl_ord_id="A", symbol="ESZ6", side="1", order_qty="3",
                                    price="10")
    back = msgspec.msgpack.decode(msgspec.msgpack.encode(order), type=messages.Request)
    assert back == order
    msg = decode(Engine().submit(back, "PM1", T0))[0][1]
    assert (msg[150], msg[38], msg[60]) == ("0", "3", TS)


def test_submit_refuses_a_struct_of_another_kind():
    import msgspec

    class Other(msgspec.Struct):
        x: int = 1
    with pytest.raises(TypeError):
        Engine().submit(Other(), "PM1", T0)


def test_struct_possresend_same_as_bytes():
    by_struct, by_bytes = Engine(ALONE), Engine(ALONE)
    first = messages.NewOrderSingle(cl_ord_id="P", symbol="ESZ6", side="1", order_qty="10",
                                    price="100")
    by_struct.submit(first, "PM1", T0)
    by_bytes.submit(first, "PM1", T0)
    again = messages.NewOrderSingle(cl_ord_id="P", symbol="ESZ6", side="1", order_qty="10",
                                    price="100", poss_resend="Y")
    data = Encoder("PM1", "FASTCORE").encode(
        "D", [(97, "Y"), (11, "P"), (55, "ESZ6"), (54, "1"), (38, "10"), (40, "2"),
              (44, "100"), (59, "0"), (60, TS)], 2, T0)
    b = decode(by_bytes.submit(data, "PM1", T0))[0][1]
    assert b[150] == "I"
    a = decode(by_struct.submit(again, "PM1", T0))[0][1]
    assert a[35] == "8", a
    assert a[150] == "I"


# ---- determinism, ids, sequence numbers, time ------------------------------------------

def _script(h):
    out = []
    out += h.send("D", nos("A", qty="100"))
    out += h.send("D", nos("B", qty="50", side="2", symbol="NQZ6"), who="ET1")
    out += h.send("D", nos("C", qty="7", tif="1"), who="ET2")
    out += h.act("fill", order="A", qty="30", px="100.5", exec_id="a1")
    out += h.act("fill", order="A", qty="20", px="101")
    out += h.send("G", replace("A2", "A", "80", "99"))
    out += h.act("correct", order="A2", exec_id="a1", qty="25", px="100")
    out += h.send("H", status("A2"))
    out += h.act("bust", order="A2", exec_id="a1")
    out += h.send("F", cancel("B2", "B", side="2", symbol="NQZ6"), who="ET1")
    out += h.send("D", nos("A", qty="1"))                      # duplicate
    out += h.send("D", nos("X", symbol="???"), who="ET1")      # unknown symbol
    out += h.send("F", cancel("Z", "NOPE"), who="ET2")          # unknown order
    out += h.send("H", status("NOPE"), who="ET2")
    out += h.act("done_for_day", order="C", session="ET2")
    out += h.act("new_day")
    out += h.act("fill", order="C", qty="2", px="100", session="ET2")
    return out


def test_same_inputs_same_bytes():
    first, second = Harness(), Harness()
    _script(first)
    _script(second)
    a, b = first.wire, second.wire
    assert a == b and len(a) == 17
    assert all(isinstance(data, bytes) for _, data in a)


def test_exec_ids_unique_order_ids_stable_and_seq_per_recipient():
    h = Harness()
    out = _script(h)                  # Harness checks 34 = 1, 2, 3 … per recipient
    recipients = collections.Counter(to for to, _ in out)
    assert set(recipients) == {"PM1", "ET1", "ET2"}
    assert {to: h.last_seq[to] for to in recipients} == dict(recipients)
    exec_ids = [m[17] for _, m in out if 17 in m]
    assert len(exec_ids) == len(set(exec_ids)) == sum(1 for _, m in out if m[35] == "8")
    ids_a = {m[37] for to, m in out if to == "PM1" and m.get(11) in ("A", "A2")
             and m[150] != "8"}
    assert len(ids_a) == 1 and "NONE" not in ids_a
    order_ids = [m[37] for _, m in out if m[37] != "NONE"]
    assert len(set(order_ids)) == 3               # A, B, C
    # every report and reject says who it is for and who sent it
    for to, m in out:
        assert (m[49], m[56]) == ("FASTCORE", to)


@pytest.mark.parametrize("precision, text", [
    (0, "20261121-09:30:07"), (3, "20261121-09:30:07.123"),
    (6, "20261121-09:30:07.123456"), (9, "20261121-09:30:07.123456789")])
def test_sending_and_transact_time_come_from_now(precision, text):
    h = Harness({"engine": {"timestamp_precision": precision}})
    h.now = T0 + 7_123_456_789
    msgs = [m for _, m in h.send("D", nos("A", tif="3"))]          # New, Canceled
    msgs += [m for _, m in h.send("F", cancel("Z", "NOPE"))]      # 35=9
    msgs += [m for _, m in h.send("D", nos("R", symbol="XXX"))]   # engine's own reject
    msgs += [m for _, m in h.send("D", nos("Q", qty="x"))]         # 35=3
    assert len(msgs) == 5
    for m in msgs:
        assert m[52] == text
        if m[35] != "3":
            assert m[60] == text


def test_engine_config_names_the_sender_and_exec_ids():
    h = Harness({"engine": {"comp_id": "SELLSIDE", "exec_id_prefix": "EX-"}})
    m = h.one("D", nos("A"))
    assert m[49] == "SELLSIDE" and m[17].startswith("EX-")
    f = h.act("fill", order="A", qty="1", px="1")[0][1]
    b = h.act("bust", order="A", exec_id=f[17])[0][1]      # an ExecID names the fill too
    assert (b[150], b[19]) == ("H", f[17])


# ---- the numpy view -----------------------------------------------------------------------

def test_orders_is_a_zero_copy_view():
    h = Harness({"mode": "worked"})
    h.send("D", nos("A", qty="100", px="99.5"))
    view = h.engine.orders()
    assert len(view) == 1 and view.base is not None
    assert not view.flags.owndata
    row = view[0]
    assert (row["order_qty"], row["cum_qty"], row["price"]) == (100 * QTY, 0, 995 * PX // 10)
    assert (row["side"], row["ord_type"], row["tif"]) == (b"1", b"2", b"0")
    assert state_names(int(row["state"])) == "Pending New"
    h.act("ack", order="A")
    h.act("fill", order="A", qty="12.5", px="99.5")
    assert view[0]["cum_qty"] == 125_000                        # the same memory
    assert state_names(int(view[0]["state"])) == "New, Partially Filled"
    assert np.shares_memory(view, h.engine.orders())


def test_orders_view_survives_growth():
    h = Harness({"engine": {"reserve_orders": 16}})           # grows 8 times
    h.one("D", nos("FIRST", qty="10"))
    early = h.engine.orders()
    for i in range(3000):
        h.submit(h.raw("D", nos(f"O{i}", qty=str(i % 7 + 1))))
    h.act("fill", order="FIRST", qty="4", px="1")
    assert len(h.engine.table) == 3001
    late = h.engine.orders()
    assert len(late) == 3001 and len(early) == 1
    assert list(late["order_id"]) == list(range(1, 3002))
    assert late[0]["cum_qty"] == 4 * QTY
    assert early[0]["order_id"] == 1 and early[0]["order_qty"] == 10 * QTY   # still readable
    assert sum(late["order_qty"][1:]) == sum((i % 7 + 1) * QTY for i in range(3000))
    del late
    assert int(early["order_qty"].sum()) == 10 * QTY


def test_the_reserve_sizes_the_tables_and_leaves_no_trace_in_the_state():
    """Past a small reserve every table grows, within a large one none does:
    the same inputs give the same reports and the same state, whose snapshot
    either engine takes back and goes on from alike."""
    small, large = Harness({"engine": {"reserve_orders": 16}}), Harness()
    for h in (small, large):
        for i in range(300):                             # orders, fills, cancels, replaces
            h.send("D", nos(f"B{i}", qty="5", px=str(4000 + i % 9)))
            h.send("D", nos(f"S{i}", side="2", qty="2", px=str(4000 + i % 7)), who="ET3")
            if i % 3 == 0:
                h.send("F", cancel(f"X{i}", f"B{i}", qty="5"))
            elif i % 3 == 1:
                h.send("G", replace(f"R{i}", f"B{i}", qty="7", px="3999"))
    assert small.wire == large.wire and len(large.engine.table) == 600
    assert sum(b"\x01150=F\x01" in m for _, m in large.wire) > 300      # fills
    assert small.engine.state_hash() == large.engine.state_hash()
    into_large, into_small = Engine(large.engine.config), Engine(small.engine.config)
    into_large.restore(small.engine.state())
    into_small.restore(large.engine.state())
    follow = [large.raw("D", nos(f"N{i}", side="2", qty="1", px="3999"), who="ET3")
              for i in range(40)]
    assert [into_large.submit(m, "ET3", T0) for m in follow] == \
        [into_small.submit(m, "ET3", T0) for m in follow]
    assert into_large.state_hash() == into_small.state_hash()


# ---- the trading day --------------------------------------------------------------------

def test_new_day_expires_day_orders_keeps_gt_and_releases_old_ones():
    h = Harness()
    h.one("D", nos("GTC", qty="100", tif="1"))
    h.act("fill", order="GTC", qty="10", px="100")
    h.one("D", nos("DAY", qty="100"))
    h.one("D", nos("DONE", qty="5"))
    h.act("fill", order="DONE", qty="5", px="100")
    h.send("D", nos("IOC", tif="3"))
    assert len(h.engine.table) == 4
    out = h.act("new_day")
    assert [(m[11], m[150], m[39], m[151]) for _, m in out] == [("DAY", "C", "C", "0")]
    assert len(h.engine.table) == 4            # what ended today is kept one more day
    assert h.engine.order_state("DONE") == "New, Filled"
    gt = h.act("fill", order="GTC", qty="5", px="101")[0][1]
    assert (gt[150], gt[39], gt[14], gt[151], gt[424], gt[425]) == (
        "F", "1", "15", "85", "90", "5")
    out = h.act("new_day")
    assert out == []
    # DAY, IOC and DONE ended on day 0 and are released; GTC works on
    assert len(h.engine.table) == 1
    assert h.one("H", status("IOC"))[103] == "5"
    st = h.one("H", status("GTC"))
    assert (st[150], st[39], st[14], st[151], st[424], st[425]) == ("I", "1", "15", "85", "85", "0")
    assert h.one("D", nos("IOC"))[150] == "0"                       # its ClOrdID is free again


def test_new_day_gt_done_for_day_is_lifted_day_order_dfd_released():
    h = Harness({"mode": "worked"})
    for name, tif in (("G", "1"), ("D", "0")):
        h.send("D", nos(name, qty="10", tif=tif))
        h.act("ack", order=name)
        h.act("fill", order=name, qty="2", px="100")
        m = h.act("done_for_day", order=name)[0][1]
        assert (m[150], m[39], m[151]) == ("3", "3", "8" if tif == "1" else "0")
    assert h.act("new_day") == []
    st = h.one("H", status("G"))
    assert (st[39], st[151], st[424], st[425]) == ("1", "8", "8", "0")
    assert h.act("new_day") == []
    assert len(h.engine.table) == 1
    assert h.one("H", status("D"))[103] == "5"


def test_status_request_does_not_keep_a_finished_order():
    h = Harness()
    h.send("D", nos("A", tif="3"))             # New, Canceled on day 0
    h.act("new_day")
    h.one("H", status("A"))                    # asked on day 1
    h.act("new_day")                           # day 1 ends: A ended on day 0
    assert len(h.engine.table) == 0


def test_new_day_compacts_after_many_releases_and_gt_orders_work_on():
    h = Harness({"mode": "worked"})
    h.send("D", nos("G", qty="100", tif="1"), who="ET2")
    h.act("ack", order="G")
    h.act("fill", order="G", qty="10", px="100", exec_id="g1")
    h.send("G", replace("G2", "G", "50", "99", tif="1"), who="ET2")
    h.act("pending_replace", order="G")
    for i in range(3000):
        h.send("D", nos(f"O{i}", symbol="NQZ6"), who="ET2")
        h.act("reject", order=f"O{i}")
    h.act("new_day")
    h.act("new_day")
    assert len(h.engine.table) == 1
    m = h.act("accept_replace", order="G", request="G2")[0][1]
    assert (m[150], m[39], m[11], m[41], m[38], m[14], m[151]) == (
        "5", "1", "G2", "G", "50", "10", "40")
    m = h.act("bust", order="G2", exec_id="g1")[0][1]
    assert (m[150], m[14], m[151], m[19]) == ("H", "0", "50", "2")
    m = h.one("F", cancel("G3", "G", qty="50"), who="ET2")
    assert (m[35], m[102]) == ("9", "99")                 # stale: G2 is current
    assert h.send("F", cancel("G4", "G2", qty="50"), who="ET2") == []
    assert h.act("accept_cancel", order="G4")[0][1][150] == "4"


# ---- the order table's batch API ------------------------------------------------------

def _batch(*commands):
    c = np.zeros(len(commands), dtype=COMMAND_DTYPE)
    c["order"] = NONE
    c["status"] = 99
    for i, cmd in enumerate(commands):
        for key, value in cmd.items():
            c[i][key] = OPS[value] if key == "op" else value
    return c


def test_batch_apply_writes_statuses_and_reports():
    t = OrderTable(16)
    assert COMMAND_DTYPE.itemsize > 0 and REPORT_DTYPE.names
    c = _batch(
        dict(op="new", clordid=1, qty=100 * QTY, px=10 * PX, side=b"1", ord_type=b"2", tif=b"0"),
        dict(op="new", clordid=2, qty=50 * QTY, px=20 * PX, side=b"2", ord_type=b"2", tif=b"1",
             instrument=1, session=3),
        dict(op="ack", clordid=1),
        dict(op="ack", clordid=2, session=3),
        dict(op="fill", clordid=1, qty=30 * QTY, px=10 * PX),
        dict(op="fill", clordid=1, qty=80 * QTY, px=10 * PX),      # above LeavesQty
        dict(op="fill", clordid=9, qty=1 * QTY, px=10 * PX),        # unknown order
        dict(op="ack", clordid=2),                                  # session 0: unknown
        dict(op="cancel_request", clordid=1, request=5),
        dict(op="accept_cancel", clordid=1),
        dict(op="replace_request", clordid=2, request=6, qty=60 * QTY, px=19 * PX, session=3),
        dict(op="accept_replace", clordid=6, session=3),
        dict(op="new", clordid=1, qty=1 * QTY, px=1 * PX, side=b"1", ord_type=b"2", tif=b"0"),
        dict(op="status", clordid=6, session=3),
        dict(op="done_for_day", clordid=6, session=3),
        dict(op="expire", clordid=5),
        dict(op="accept_cancel", clordid=6, session=3),             # no request
    )
    ok = t.apply(c)
    st = [ERROR_CODES[s] for s in c["status"]]
    assert st == ["ok", "ok", "ok", "ok", "ok", "quantity out of range", "unknown order",
                  "unknown order", "ok", "ok", "ok", "ok", "duplicate ClOrdID", "ok", "ok",
                  "not valid in the order's state", "no such request outstanding"]
    assert ok == st.count("ok") == 11
    assert c["status"][6] == CODE["unknown order"] == -1
    assert c["order"][6] == NONE
    assert list(c["order"][[0, 1, 2, 4, 8, 11, 12]]) == [0, 1, 0, 0, 0, 1, 0]

    r = t.batch_reports()
    assert r.dtype == REPORT_DTYPE
    got = [(x["msg"], x["exec_type"], x["ord_status"], int(x["order"]), x["cum_qty"] // QTY,
            x["leaves_qty"] // QTY, x["last_qty"] // QTY, x["order_qty"] // QTY) for x in r]
    assert got == [
        (b"8", b"0", b"0", 0, 0, 100, 0, 100),
        (b"8", b"0", b"0", 1, 0, 50, 0, 50),
        (b"8", b"F", b"1", 0, 30, 70, 30, 100),
        (b"8", b"4", b"4", 0, 30, 0, 0, 100),
        (b"8", b"5", b"0", 1, 0, 60, 0, 60),
        (b"8", b"I", b"0", 1, 0, 60, 0, 60),
        (b"8", b"3", b"3", 1, 0, 60, 0, 60),            # GTC done for day keeps LeavesQty
    ]
    assert list(r["exec_id"]) == list(range(1, 8))
    assert r[2]["last_px"] == 10 * PX and r[2]["avg_px"] == 10 * PX
    assert r[4]["price"] == 19 * PX
    assert (r[6]["day_order_qty"], r[6]["day_cum_qty"]) == (60 * QTY, 0)

    view = t.view()
    assert len(t) == 2
    assert state_names(int(view[0]["state"])) == "Partially Filled, Canceled"
    assert state_names(int(view[1]["state"])) == "New, Done for Day"
    assert list(view["session"]) == [0, 3] and list(view["instrument"]) == [0, 1]

    # the next batch drops the previous reports; a given slot is used as is
    c2 = _batch(dict(op="fill", clordid=6, session=3, qty=5 * QTY, px=19 * PX),
                dict(op="reject", clordid=6, session=3))
    c2[0]["order"] = 1
    assert t.apply(c2) == 1
    assert [ERROR_CODES[s] for s in c2["status"]] == ["ok", "not valid in the order's state"]
    r2 = t.batch_reports()
    assert len(r2) == 1 and r2[0]["exec_type"] == b"F" and r2[0]["cum_qty"] == 5 * QTY
    assert r2[0]["day_cum_qty"] == 5 * QTY
    assert t.apply(_batch()) == 0 and len(t.batch_reports()) == 0


def test_batch_reject_and_expire():
    t = OrderTable()
    c = _batch(
        dict(op="new", clordid=1, qty=QTY, px=PX, side=b"1", ord_type=b"2", tif=b"0"),
        dict(op="reject", clordid=1),
        dict(op="ack", clordid=1),
        dict(op="new", clordid=2, qty=QTY, px=PX, side=b"1", ord_type=b"1", tif=b"0"),
        dict(op="ack", clordid=2),
        dict(op="expire", clordid=2),
        dict(op="cancel", clordid=2),
        dict(op="cancel_request", clordid=2, request=3),
    )
    t.apply(c)
    assert [ERROR_CODES[s] for s in c["status"]] == [
        "ok", "ok", "not valid in the order's state", "ok", "ok", "ok",
        "not valid in the order's state", "not valid in the order's state"]
    r = t.batch_reports()
    assert [(x["exec_type"], x["ord_status"]) for x in r] == [
        (b"8", b"8"), (b"0", b"0"), (b"C", b"C")]
