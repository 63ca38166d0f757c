"""Interoperability with two peer FIX implementations:

* simplefix (pure Python): messages it builds parse the same in fastcore, and
  fastcore's Encoder output reads back in its parser (and re-encodes to the
  very same bytes, BodyLength and CheckSum included);
* QuickFIX (C++): messages it builds (it computes BodyLength and CheckSum)
  parse the same in fastcore, and fastcore's output passes QuickFIX's
  parsing and FIX44.xml data-dictionary validation.

The QuickFIX wheel aborts the process on a C++ exception it does not
translate (InvalidMessage, RequiredTagMissing …), so every QuickFIX parse or
validation runs in a child process.
"""

import os
import subprocess
import sys

import pytest
import quickfix
import simplefix

from fastcore import codec
from fastcore.codec import Encoder, ExecutionReport

import fixmsg
from fixmsg import TS, ns

FIX44_XML = os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")
T = ns(2024, 1, 2, 3, 4, 5, 678_901_234)

# Reads hex messages from stdin, one a line; for each, QuickFIX parses it with
# the FIX 4.4 dictionary and validates it, then prints it back as hex.
QUICKFIX_CHECK = r"""
import sys, quickfix as fix
dd = fix.DataDictionary(sys.argv[1])
for line in sys.stdin:
    raw = bytes.fromhex(line.strip()).decode("ascii")
    msg = fix.Message(raw, dd, True)
    dd.validate(msg)
    print(msg.toString().encode("ascii").hex(), flush=True)
"""


def quickfix_check(raw: bytes) -> bytes:
    """QuickFIX's re-serialization of ``raw`` after parsing and validating it."""
    out = subprocess.run([sys.executable, "-c", QUICKFIX_CHECK, FIX44_XML],
                         input=raw.hex() + "\n", capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, f"QuickFIX rejected {raw!r}: {out.stderr.strip()}"
    return bytes.fromhex(out.stdout.strip())


def sorted_fields(raw: bytes):
    """Every field but BeginString, BodyLength and CheckSum, as a sorted list
    (QuickFIX reorders the header and body by tag)."""
    return sorted(fixmsg.body_fields(raw))


# ---- fastcore's Encoder output ----------------------------------------------------


def _execution_report(enc):
    report = ExecutionReport(
        order_id="O1", cl_ord_id="ORD1", exec_id="E7", symbol="ESZ4", side="2",
        exec_type="F", ord_status="1", order_qty=100000, ord_type="2", has_price=True,
        price=451225000000, time_in_force="0", account="ACC1", has_last=True,
        last_qty=20000, last_px=451250000000, leaves_qty=80000, cum_qty=20000,
        avg_px=451250000000, transact_time=T, text="partial fill",
        day_order_qty=100000, day_cum_qty=20000)
    return enc.execution_report(report, 7, T)


ENCODED = {
    "ExecutionReport": _execution_report,
    "ExecutionReportRejected": lambda enc: enc.execution_report(ExecutionReport(
        order_id="NONE", cl_ord_id="ORD2", exec_id="E8", symbol="ESZ4", exec_type="8",
        ord_status="8", ord_rej_reason=3, order_qty=50000, ord_type="1", leaves_qty=0,
        cum_qty=0, avg_px=-150000000, text="exceeds limit"), 8, T),
    "OrderCancelReject": lambda enc: enc.order_cancel_reject(
        9, T, order_id="O1", cl_ord_id="C2", orig_cl_ord_id="C1", ord_status="0",
        response_to=1, reason=1, text="too late", transact_time=T),
    "Reject": lambda enc: enc.reject(10, T, ref_seq_num=4, reason=5, ref_tag=54,
                                     ref_msg_type="D", text="bad side"),
    "Logon": lambda enc: enc.logon(1, T, heart_bt_int=30, reset_seq_num=True,
                                   username="user", password="secret"),
    "Heartbeat": lambda enc: enc.heartbeat(11, T),
    "HeartbeatTestReqID": lambda enc: enc.heartbeat(12, T, test_req_id="TR1"),
}


@pytest.fixture(params=[0, 3, 6, 9], ids=lambda p: f"precision{p}")
def encoder(request):
    return Encoder("FASTCORE", "CLIENT1", precision=request.param)


@pytest.mark.parametrize("name", sorted(ENCODED))
def test_encoder_output_reads_in_simplefix(name, encoder):
    raw = ENCODED[name](encoder)
    parser = simplefix.FixParser()
    parser.append_buffer(raw)
    msg = parser.get_message()
    assert msg is not None
    assert parser.get_message() is None
    pairs = [(int(t), v) for t, v in msg.pairs]
    assert pairs == fixmsg.split(raw)
    assert msg.get(35) == codec.parse(raw)[35]
    # simplefix recomputes BodyLength and CheckSum: the same bytes come out
    assert msg.encode() == raw


@pytest.mark.parametrize("name", sorted(ENCODED))
def test_encoder_output_validates_in_quickfix(name):
    raw = ENCODED[name](Encoder("FASTCORE", "CLIENT1", precision=3))
    back = quickfix_check(raw)
    assert sorted_fields(back) == sorted_fields(raw)
    assert codec.parse(back).fields()[0] == (35, codec.parse(raw)[35])


@pytest.mark.parametrize("precision", [0, 6, 9])
def test_encoder_timestamps_validate_in_quickfix(precision):
    raw = _execution_report(Encoder("FASTCORE", "CLIENT1", precision=precision))
    assert sorted_fields(quickfix_check(raw)) == sorted_fields(raw)


def test_quickfix_check_does_reject():
    # The harness is not a rubber stamp: an ER without OrderID fails validation.
    raw = fixmsg.build(fixmsg.remove(fixmsg.execution_report(), 37))
    with pytest.raises(AssertionError, match="QuickFIX rejected"):
        quickfix_check(raw)


# ---- simplefix-built messages ------------------------------------------------------


def _simplefix(pairs, header):
    msg = simplefix.FixMessage()
    msg.append_pair(8, "FIX.4.4", header=True)
    for tag, value in header:
        msg.append_pair(tag, value, header=True)
    for tag, value in pairs:
        msg.append_pair(tag, value)
    return msg


SIMPLEFIX_CASES = {
    "NewOrderSingle": ([(35, "D"), (49, "CLIENT1"), (56, "FASTCORE"), (34, 12), (52, TS)],
                       [(11, "ORD1"), (1, "ACC1"), (55, "ESZ4"), (54, 1), (60, TS),
                        (38, 10), (40, 2), (44, "4512.25"), (59, 0)]),
    "NewOrderSingleParties": (
        [(35, "D"), (49, "CLIENT1"), (56, "FASTCORE"), (34, 13), (52, TS)],
        [(11, "ORD2"), (55, "NQZ4"), (54, 2), (60, TS), (38, "2.5"), (40, 1)]
        + fixmsg.parties(("TRDR1", "D", 11, [("DESK", 4)]), ("FIRM", "B", 1))
        + [(18218, "Jane Doe"), (5001, "custom")]),
    "OrderCancelRequest": ([(35, "F"), (49, "CLIENT1"), (56, "FASTCORE"), (34, 14),
                            (52, TS)],
                           [(41, "ORD1"), (11, "ORD3"), (55, "ESZ4"), (54, 1), (60, TS)]),
    "Logon": ([(35, "A"), (49, "CLIENT1"), (56, "FASTCORE"), (34, 1), (52, TS)],
              [(98, 0), (108, 30), (141, "Y")]),
    "TestRequest": ([(35, "1"), (49, "CLIENT1"), (56, "FASTCORE"), (34, 2), (52, TS)],
                    [(112, "TR-42")]),
}


@pytest.mark.parametrize("name", sorted(SIMPLEFIX_CASES))
def test_simplefix_messages_parse_the_same(name):
    header, body = SIMPLEFIX_CASES[name]
    raw = _simplefix(body, header).encode()
    m = codec.parse(raw)
    expected = [(t, fixmsg.as_bytes(v)) for t, v in header + body]
    assert m.fields() == expected
    assert m.msg_type == header[0][1]
    assert m.raw == raw


def test_simplefix_parties_group():
    header, body = SIMPLEFIX_CASES["NewOrderSingleParties"]
    m = codec.parse(_simplefix(body, header).encode())
    e0, e1 = m.group(453)
    assert (e0.get_str(448), e0.get_char(447), e0.get_int(452)) == ("TRDR1", "D", 11)
    assert [s.get_str(523) for s in e0.group(802)] == ["DESK"]
    assert e1.get_str(448) == "FIRM"
    assert m.get_qty(38) == 25000
    assert m.get_str(18218) == "Jane Doe"


def test_simplefix_data_field():
    header, body = SIMPLEFIX_CASES["NewOrderSingle"]
    msg = _simplefix(body, header)
    msg.append_data(95, 96, b"a\x01b")
    m = codec.parse(msg.encode())
    assert m[96] == b"a\x01b" and m.get_int(95) == 3


# ---- QuickFIX-built messages ----------------------------------------------------------


def _quickfix(header, body, groups=()):
    """A message built with QuickFIX's setField; toString computes 9 and 10."""
    fix = quickfix
    msg = fix.Message()
    msg.getHeader().setField(fix.BeginString("FIX.4.4"))
    for tag, value in header:
        msg.getHeader().setField(fix.StringField(tag, str(value)))
    for tag, value in body:
        msg.setField(fix.StringField(tag, str(value)))
    for count_tag, delim, entries in groups:
        for entry in entries:
            group = fix.Group(count_tag, delim)
            for tag, value in entry:
                group.setField(fix.StringField(tag, str(value)))
            msg.addGroup(group)
    return msg.toString().encode("ascii")


QUICKFIX_CASES = {
    "NewOrderSingle": ([(35, "D"), (49, "CLIENT1"), (56, "FASTCORE"), (34, 12), (52, TS)],
                       [(11, "ORD1"), (1, "ACC1"), (55, "ESZ4"), (54, 1), (60, TS),
                        (38, 10), (40, 2), (44, "4512.25"), (59, 0), (18219, "SUB7")]),
    "ExecutionReport": ([(35, "8"), (49, "FASTCORE"), (56, "CLIENT1"), (34, 7), (52, TS)],
                        [(37, "O1"), (11, "ORD1"), (17, "E1"), (150, "F"), (39, "2"),
                         (55, "ESZ4"), (54, "1"), (38, "10"), (32, "10"), (31, "4512.25"),
                         (151, "0"), (14, "10"), (6, "4512.25"), (60, TS)]),
    "Heartbeat": ([(35, "0"), (49, "CLIENT1"), (56, "FASTCORE"), (34, 3), (52, TS)], []),
    "Reject": ([(35, "3"), (49, "CLIENT1"), (56, "FASTCORE"), (34, 4), (52, TS)],
               [(45, 3), (371, 54), (372, "D"), (373, 5), (58, "bad side")]),
}


@pytest.mark.parametrize("name", sorted(QUICKFIX_CASES))
def test_quickfix_messages_parse_the_same(name):
    header, body = QUICKFIX_CASES[name]
    raw = _quickfix(header, body)
    m = codec.parse(raw)
    expected = sorted((t, fixmsg.as_bytes(v)) for t, v in header + body)
    assert sorted(m.fields()) == expected
    assert m.fields()[0] == (35, header[0][1].encode())
    assert m.raw == raw


def test_quickfix_parties_group():
    header, body = QUICKFIX_CASES["NewOrderSingle"]
    raw = _quickfix(header, body, groups=[
        (453, 448, [[(448, "TRDR1"), (447, "D"), (452, 11)],
                    [(448, "FIRM"), (447, "B"), (452, 1)]]),
    ])
    m = codec.parse(raw)
    assert m.get_int(453) == 2
    assert [(e.get_str(448), e.get_char(447), e.get_int(452)) for e in m.group(453)] == [
        ("TRDR1", "D", 11), ("FIRM", "B", 1)]
    assert m.get_str(18219) == "SUB7"
