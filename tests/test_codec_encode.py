"""Encoding: every Encoder message parses back, with the standard header,
a BodyLength and CheckSum recomputed here independently, and fixed-point and
timestamp values formatted exactly."""

import pytest

from fastcore import codec
from fastcore.codec import Encoder, ExecutionReport

import fixmsg
from fixmsg import format_fixed, format_timestamp, ns

T = ns(2024, 1, 2, 3, 4, 5, 678_901_234)         # SendingTime used throughout
T_TEXT = {0: "20240102-03:04:05", 3: "20240102-03:04:05.678",
          6: "20240102-03:04:05.678901", 9: "20240102-03:04:05.678901234"}


def check_frame(raw: bytes, sender=b"FASTCORE", target=b"CLIENT1"):
    """Assert the framing of ``raw`` by hand and return the parsed Message."""
    pairs = fixmsg.split(raw)
    assert [t for t, _ in pairs[:3]] == [8, 9, 35]
    assert pairs[0][1] == b"FIX.4.4"
    assert pairs[-1][0] == 10
    assert [t for t, _ in pairs].count(10) == 1
    # BodyLength: from after "9=...<SOH>" up to and including the SOH before "10="
    body_start = raw.index(b"\x01", raw.index(b"\x019=") + 1) + 1
    trailer = raw.rindex(b"10=")
    assert raw[trailer - 1:trailer] == b"\x01"
    assert int(pairs[1][1]) == trailer - body_start
    # CheckSum: every byte before "10=", modulo 256, three digits
    assert pairs[-1][1] == b"%03d" % (sum(raw[:trailer]) % 256)
    assert raw.endswith(b"\x01")
    m = codec.parse(raw)
    assert m.raw == raw
    tags = [t for t, _ in m.fields()]
    assert tags[:4] == [35, 49, 56, 34] and 52 in tags[4:7]
    assert m[49] == sender and m[56] == target
    return m


@pytest.fixture
def enc():
    return Encoder("FASTCORE", "CLIENT1")


def er(**kw):
    fields = dict(order_id="O1", cl_ord_id="ORD1", exec_id="E1", symbol="ESZ4",
                  exec_type="0", ord_status="0", side="1", ord_type="2",
                  order_qty=100000, has_price=True, price=451225000000,
                  leaves_qty=100000, cum_qty=0, avg_px=0)
    fields.update(kw)
    return ExecutionReport(**fields)


# ---- the Encoder ------------------------------------------------------------------


def test_encoder_properties():
    e = Encoder(b"S", "T", precision=6)
    assert (e.sender_comp_id, e.target_comp_id, e.precision) == ("S", "T", 6)
    assert Encoder("S", "T").precision == 3


@pytest.mark.parametrize("precision", [1, 2, 4, -3, 12])
def test_encoder_rejects_bad_precision(precision):
    with pytest.raises(ValueError):
        Encoder("S", "T", precision=precision)


@pytest.mark.parametrize("precision", [0, 3, 6, 9])
def test_sending_time_precision(precision):
    e = Encoder("FASTCORE", "CLIENT1", precision=precision)
    m = check_frame(e.heartbeat(1, T))
    assert m.get_str(52) == T_TEXT[precision]
    assert m.get_time(52) == T - T % 10**(9 - precision)


@pytest.mark.parametrize("t", [
    0, 1, 999_999_999, ns(1999, 12, 31, 23, 59, 59, 999_999_999), ns(2000, 2, 29),
    ns(2038, 1, 19, 3, 14, 8), ns(2099, 12, 31, 23, 59, 59, 1),
])
@pytest.mark.parametrize("precision", [0, 3, 6, 9])
def test_timestamps_match_an_independent_formatter(t, precision):
    e = Encoder("FASTCORE", "CLIENT1", precision=precision)
    m = check_frame(e.execution_report(er(transact_time=t), 1, t))
    assert m.get_str(52) == format_timestamp(t, precision)
    assert m.get_str(60) == format_timestamp(t, precision)


def test_encoder_is_deterministic_and_reusable(enc):
    a = enc.execution_report(er(text="x" * 3000), 5, T)    # grows the buffer
    b = enc.heartbeat(6, T)
    c = enc.execution_report(er(text="x" * 3000), 5, T)
    assert a == c
    assert codec.parse(b).fields() == [(35, b"0"), (49, b"FASTCORE"), (56, b"CLIENT1"),
                                       (34, b"6"), (52, b"20240102-03:04:05.678")]
    assert codec.parse(a).get_str(58) == "x" * 3000


# ---- fixed point ----------------------------------------------------------------------


@pytest.mark.parametrize("qty,text", [
    (100000, "10"), (0, "0"), (1, "0.0001"), (12345, "1.2345"), (15000, "1.5"),
    (-20000, "-2"), (2**63 - 1, "922337203685477.5807"),
])
def test_qty_formatting(enc, qty, text):
    m = check_frame(enc.execution_report(er(order_qty=qty, leaves_qty=qty), 1, T))
    assert m.get_str(38) == text and m.get_str(151) == text
    assert m.get_qty(38) == qty


@pytest.mark.parametrize("px,text", [
    (451225000000, "4512.25"), (0, "0"), (1, "0.00000001"), (-150000000, "-1.5"),
    (-451225000000, "-4512.25"), (100000000, "1"), (-1, "-0.00000001"),
    (2**63 - 1, "92233720368.54775807"), (-2**63, "-92233720368.54775808"),
])
def test_price_formatting(enc, px, text):
    m = check_frame(enc.execution_report(er(price=px, avg_px=px), 1, T))
    assert m.get_str(44) == text and m.get_str(6) == text
    assert text == format_fixed(px, 8)
    assert m.get_price(44) == px


def test_fixed_point_text_has_no_exponent_or_trailing_zeros(enc):
    m = codec.parse(enc.execution_report(er(price=10**8 * 100, avg_px=123400000), 1, T))
    assert m.get_str(44) == "100"
    assert m.get_str(6) == "1.234"


# ---- ExecutionReport -------------------------------------------------------------------


def test_execution_report_new(enc):
    m = check_frame(enc.execution_report(er(), 7, T))
    assert m.msg_type == "8" and m.get_int(34) == 7
    assert m.fields()[5:] == [
        (37, b"O1"), (11, b"ORD1"), (17, b"E1"), (150, b"0"), (39, b"0"), (55, b"ESZ4"),
        (54, b"1"), (38, b"10"), (40, b"2"), (44, b"4512.25"), (151, b"10"), (14, b"0"),
        (6, b"0"),
    ]


def test_execution_report_fill_with_everything(enc):
    report = er(exec_type="F", ord_status="1", orig_cl_ord_id="ORD0", exec_ref_id="E0",
                account="ACC1", time_in_force="0", has_last=True, last_qty=20000,
                last_px=451250000000, leaves_qty=80000, cum_qty=20000,
                avg_px=451250000000, transact_time=T, text="partial fill",
                day_order_qty=100000, day_cum_qty=20000, exec_restatement_reason=3,
                extra=[(18218, "Jane"), (5001, b"x"), (5002, 7)])
    m = check_frame(enc.execution_report(report, 8, T))
    assert m.get_str(41) == "ORD0" and m.get_str(19) == "E0" and m.get_str(1) == "ACC1"
    assert m.get_char(150) == "F" and m.get_char(39) == "1" and m.get_char(59) == "0"
    assert m.get_qty(32) == 20000 and m.get_price(31) == 451250000000
    assert m.get_qty(151) == 80000 and m.get_qty(14) == 20000
    assert m.get_price(6) == 451250000000
    assert m.get_qty(424) == 100000 and m.get_qty(425) == 20000
    assert m.get_int(378) == 3
    assert m.get_time(60) == T - T % 10**6
    assert m.get_str(58) == "partial fill"
    assert m.fields()[-3:] == [(18218, b"Jane"), (5001, b"x"), (5002, b"7")]
    assert 103 not in m


def test_execution_report_rejected(enc):
    m = check_frame(enc.execution_report(
        er(exec_type="8", ord_status="8", ord_rej_reason=3, leaves_qty=0, has_price=False,
           text="exceeds limit"), 2, T))
    assert m.get_int(103) == 3
    assert 44 not in m and 32 not in m and 31 not in m
    assert m.get_str(58) == "exceeds limit"


def test_execution_report_optional_fields_left_out(enc):
    m = check_frame(enc.execution_report(
        ExecutionReport(order_id="O1", exec_id="E1", symbol="ESZ4"), 1, T))
    for tag in (11, 41, 19, 378, 103, 1, 40, 44, 59, 32, 31, 424, 425, 60, 58, 152):
        assert tag not in m, tag
    assert m.get_char(150) == "0" and m.get_char(39) == "0" and m.get_char(54) == "1"


def test_execution_report_cash_order_qty_is_a_quantity(enc):
    # cash_order_qty is declared qty_t: QTY_DIGITS fixed point like every quantity.
    m = codec.parse(enc.execution_report(er(order_qty=0, cash_order_qty=100000), 1, T))
    assert 38 not in m
    assert m.get_qty(152) == 100000


def test_execution_report_str_and_bytes_ids(enc):
    m = codec.parse(enc.execution_report(er(order_id=b"OB", cl_ord_id="ORD-1"), 1, T))
    assert m[37] == b"OB" and m[11] == b"ORD-1"


@pytest.mark.parametrize("text", ["caf\xe9", "na\xefve \xb5s", "\xa0"])
def test_non_ascii_str_round_trips(enc, text):
    # Whatever the encoding, a str written by the Encoder reads back equal.
    m = codec.parse(enc.execution_report(er(text=text, cl_ord_id=text), 1, T))
    assert m.get_str(58) == text
    assert m.get_str(11) == text
    m = codec.parse(Encoder(text, "T").heartbeat(1, T))
    assert m.get_str(49) == text == Encoder(text, "T").sender_comp_id


# ---- the other business and session messages --------------------------------------------


def test_order_cancel_reject(enc):
    raw = enc.order_cancel_reject(3, T, order_id="O1", cl_ord_id="C2", orig_cl_ord_id="C1",
                                  ord_status="0", response_to=1, reason=1,
                                  text="unknown order", account="ACC1", transact_time=T)
    m = check_frame(raw)
    assert m.msg_type == "9"
    assert m.fields()[5:] == [
        (37, b"O1"), (11, b"C2"), (41, b"C1"), (39, b"0"), (1, b"ACC1"),
        (60, b"20240102-03:04:05.678"), (434, b"1"), (102, b"1"), (58, b"unknown order"),
    ]


def test_order_cancel_reject_minimal(enc):
    m = check_frame(enc.order_cancel_reject(3, T, order_id="NONE", cl_ord_id="C2",
                                            orig_cl_ord_id="C1", ord_status="8",
                                            response_to=2))
    assert [t for t, _ in m.fields()[5:]] == [37, 11, 41, 39, 434]


def test_reject(enc):
    m = check_frame(enc.reject(4, T, ref_seq_num=12, reason=5, ref_tag=54,
                               ref_msg_type="D", text="bad side"))
    assert m.msg_type == "3" and m.is_admin
    assert m.fields()[5:] == [(45, b"12"), (371, b"54"), (372, b"D"), (373, b"5"),
                              (58, b"bad side")]


def test_reject_without_ref_tag(enc):
    m = check_frame(enc.reject(4, T, ref_seq_num=12, reason=99))
    assert m.fields()[5:] == [(45, b"12"), (373, b"99")]


def test_business_message_reject(enc):
    m = check_frame(enc.business_message_reject(5, T, ref_seq_num=9, ref_msg_type="D",
                                                reason=3, ref_id="ORD1", text="no"))
    assert m.msg_type == "j"
    assert m.fields()[5:] == [(45, b"9"), (372, b"D"), (379, b"ORD1"), (380, b"3"),
                              (58, b"no")]


def test_logon(enc):
    m = check_frame(enc.logon(1, T, heart_bt_int=30, reset_seq_num=True, username="u",
                              password="p"))
    assert m.msg_type == "A" and m.is_admin
    assert m.fields()[5:] == [(98, b"0"), (108, b"30"), (141, b"Y"), (553, b"u"),
                              (554, b"p")]
    assert m.get_bool(141) is True


def test_logon_minimal(enc):
    m = check_frame(enc.logon(1, T, heart_bt_int=5))
    assert m.fields()[5:] == [(98, b"0"), (108, b"5")]


def test_heartbeat(enc):
    assert check_frame(enc.heartbeat(2, T)).fields()[5:] == []
    m = check_frame(enc.heartbeat(3, T, test_req_id="TR1"))
    assert m.msg_type == "0" and m.fields()[5:] == [(112, b"TR1")]


def test_test_request(enc):
    m = check_frame(enc.test_request(2, T, "TR9"))
    assert m.msg_type == "1" and m.fields()[5:] == [(112, b"TR9")]


def test_resend_request(enc):
    m = check_frame(enc.resend_request(2, T, 5))
    assert m.msg_type == "2" and m.fields()[5:] == [(7, b"5"), (16, b"0")]
    m = check_frame(enc.resend_request(2, T, 5, 9))
    assert m.fields()[5:] == [(7, b"5"), (16, b"9")]


def test_sequence_reset_gap_fill(enc):
    m = check_frame(enc.sequence_reset(5, T, 9, gap_fill=True))
    assert m.msg_type == "4"
    assert m.get_bool(43) is True
    assert m.get_bool(123) is True
    assert m.get_int(36) == 9
    tags = [t for t, _ in m.fields()]
    assert tags.index(43) < tags.index(52)        # PossDupFlag in the header


def test_sequence_reset_reset(enc):
    m = check_frame(enc.sequence_reset(1, T, 100))
    assert 43 not in m and 123 not in m
    assert m.get_int(36) == 100


def test_logout(enc):
    assert check_frame(enc.logout(9, T)).fields()[5:] == []
    m = check_frame(enc.logout(9, T, text="bye"))
    assert m.msg_type == "5" and m.fields()[5:] == [(58, b"bye")]


# ---- the generic encode ---------------------------------------------------------------------


def test_encode_any_message(enc):
    fields = [(11, "ORD1"), (55, b"ESZ4"), (54, 1), (60, "20240102-03:04:05"),
              (38, 10), (40, "2"), (44, "4512.25"), (5001, True), (5002, False)]
    m = check_frame(enc.encode("D", fields, 3, T))
    assert m.msg_type == "D"
    assert m.fields()[5:] == [(11, b"ORD1"), (55, b"ESZ4"), (54, b"1"),
                              (60, b"20240102-03:04:05"), (38, b"10"), (40, b"2"),
                              (44, b"4512.25"), (5001, b"Y"), (5002, b"N")]


def test_encode_poss_dup_and_orig_sending_time(enc):
    orig = ns(2024, 1, 2, 3, 0, 0)
    m = check_frame(enc.encode(b"0", [], 3, T, poss_dup=True, orig_sending_time=orig))
    assert m.get_bool(43) is True
    assert m.get_time(122) == orig
    assert [t for t, _ in m.fields()] == [35, 49, 56, 34, 43, 52, 122]


def test_encode_groups_in_order(enc):
    fields = [(11, "ORD1"), (54, "1"), (60, "20240102-03:04:05"), (40, "1")]
    fields += fixmsg.parties(("A", "D", 1, [("S", 4)]), ("B", "D", 3))
    m = check_frame(enc.encode("D", fields, 3, T))
    assert [e.get_str(448) for e in m.group(453)] == ["A", "B"]


def test_encode_long_message(enc):
    fields = [(5000 + i, "v" * 40) for i in range(200)]
    m = check_frame(enc.encode("0", fields, 1, T))
    assert len(m) == 5 + 200
    assert m.get_str(5199) == "v" * 40


def test_custom_begin_string():
    raw = Encoder("A", "B", begin_string="FIXT.1.1").heartbeat(1, T)
    assert raw.startswith(b"8=FIXT.1.1\x019=")
    assert codec.parse(raw).msg_type == "0"
