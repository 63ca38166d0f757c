"""Parsing valid FIX 4.4 messages: the Message API, typed getters, groups,
DATA fields, and framing of buffers into batches."""

import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from fastcore import codec
from fastcore.codec import (
    FieldNotFound, FieldValueError, GarbledMessage, IncompleteMessage, InvalidMessage,
)

import fixmsg
from fixmsg import TS, build, new_order_single, ns

# GARBLE_REASONS codes (GarbledMessage.why, Batch.reasons of a status-2 entry)
G_NO_BEGIN, G_BODY_LENGTH, G_CHECKSUM, G_TOO_LONG = 1, 2, 3, 4


@pytest.fixture
def nos():
    return build(new_order_single())


# ---- one message --------------------------------------------------------------


def test_parse_returns_message_with_fields_in_wire_order(nos):
    m = codec.parse(nos)
    assert isinstance(m, codec.Message)
    assert m.msg_type == "D"
    assert not m.is_admin
    assert m.raw == nos
    assert m.fields() == fixmsg.body_fields(nos)
    assert len(m) == len(m.fields())
    assert m.fields()[0] == (35, b"D")


def test_parse_accepts_bytearray_and_memoryview(nos):
    assert codec.parse(bytearray(nos)).fields() == codec.parse(nos).fields()
    assert codec.parse(memoryview(nos)).fields() == codec.parse(nos).fields()


def test_to_dict_has_top_level_fields_only():
    raw = build(new_order_single(*fixmsg.parties(("TRDR", "D", 11))))
    d = codec.parse(raw).to_dict()
    assert d[11] == b"ORD1" and d[453] == b"1"
    assert 448 not in d and 447 not in d and 452 not in d
    assert 8 not in d and 9 not in d and 10 not in d


def test_is_admin():
    assert codec.parse(build(fixmsg.heartbeat())).is_admin
    assert codec.parse(build(fixmsg.header("A") + [(98, 0), (108, 30)])).is_admin
    assert not codec.parse(build(fixmsg.execution_report())).is_admin


def test_parser_reuses_its_message_and_copy_keeps_one(nos):
    parser = codec.Parser()
    first = parser.parse(nos)
    kept = first.copy()
    second = parser.parse(build(new_order_single(cl_ord_id="ORD2")))
    assert second is first                       # the view is reused
    assert second.get_str(11) == "ORD2"
    assert kept is not first
    assert kept.get_str(11) == "ORD1"            # the copy is its own
    assert kept.raw == nos
    assert parser.parse(nos).get_str(11) == "ORD1"


def test_parser_message_survives_rejected_parse(nos):
    parser = codec.Parser()
    with pytest.raises(InvalidMessage):
        parser.parse(build(fixmsg.replace(new_order_single(), 54, "Z")))
    assert parser.parse(nos).get_str(11) == "ORD1"


def test_parse_ignores_bytes_after_the_message(nos):
    m = codec.parse(nos + b"8=FIX.4.4\x019=")
    assert m.raw == nos


# ---- getters ------------------------------------------------------------------


def test_string_and_raw_getters(nos):
    m = codec.parse(nos)
    assert m.get_str(55) == "ESZ4"
    assert m[55] == b"ESZ4"
    assert m.get(55) == b"ESZ4"
    assert 55 in m and 9999 not in m
    assert m.get_char(54) == "1"
    assert m.get_int(34) == 1


def test_get_str_is_latin1():
    m = codec.parse(build(new_order_single((58, "caf\xe9".encode("latin-1")))))
    assert m.get_str(58) == "caf\xe9"
    assert m[58] == b"caf\xe9"


def test_numeric_getters(nos):
    m = codec.parse(nos)
    assert m.get_qty(38) == 100000
    assert m.get_price(44) == 451225000000
    assert m.get_fixed(44, 2) == 451225
    assert m.get_fixed(38, 0) == 10


@pytest.mark.parametrize("text,digits,value", [
    ("10", 4, 100000),
    ("4512.25", 8, 451225000000),
    ("1.230", 2, 123),
    ("1.23", 2, 123),
    ("-1.5", 2, -150),
    ("0", 8, 0),
    ("0.00000001", 8, 1),
    ("-0.0001", 4, -1),
    ("12", 0, 12),
    ("7.000", 0, 7),
    ("922337203685477.5807", 4, 2**63 - 1),
    ("-922337203685477.5807", 4, -(2**63 - 1)),
    ("-922337203685477.5808", 4, -2**63),
])
def test_get_fixed(text, digits, value):
    m = codec.parse(build(new_order_single((5001, text))))
    assert m.get_fixed(5001, digits) == value


@pytest.mark.parametrize("text,digits,expected", [
    ("1.234", 2, "at most 2 decimals"),          # precision
    ("0.000000001", 8, "at most 8 decimals"),
    ("92233720369", 8, "fits in 64 bits"),       # overflow after scaling
    ("99999999999999999999", 0, "fits in 64 bits"),
    ("1.2.3", 2, "decimal"),                     # format
    ("1x", 2, "decimal"),
    ("abc", 2, "decimal"),
    ("-", 2, "decimal"),
    (".", 2, "decimal"),
])
def test_get_fixed_value_errors(text, digits, expected):
    m = codec.parse(build(new_order_single((5001, text))))
    with pytest.raises(FieldValueError) as ei:
        m.get_fixed(5001, digits)
    assert ei.value.tag == 5001
    assert ei.value.value == text.encode()
    assert expected in str(ei.value)
    assert isinstance(ei.value, ValueError)


def test_get_fixed_digits_out_of_range(nos):
    m = codec.parse(nos)
    with pytest.raises(ValueError):
        m.get_fixed(44, 19)
    with pytest.raises(ValueError):
        m.get_fixed(44, -1)


@pytest.mark.parametrize("text,value", [
    ("0", 0), ("-7", -7), ("9223372036854775807", 2**63 - 1),
    ("-9223372036854775808", -2**63),
])
def test_get_int(text, value):
    assert codec.parse(build(new_order_single((5001, text)))).get_int(5001) == value


@pytest.mark.parametrize("text", [
    "9223372036854775808", "-9223372036854775809", "99999999999999999999",
    "1.5", "12a", "abc", "-", "+1",
])
def test_get_int_value_errors(text):
    m = codec.parse(build(new_order_single((5001, text))))
    with pytest.raises(FieldValueError):
        m.get_int(5001)


@pytest.mark.parametrize("text,t_ns", [
    ("20240102-03:04:05", ns(2024, 1, 2, 3, 4, 5)),
    ("20240102-03:04:05.678", ns(2024, 1, 2, 3, 4, 5, 678_000_000)),
    ("20240102-03:04:05.678901", ns(2024, 1, 2, 3, 4, 5, 678_901_000)),
    ("20240102-03:04:05.678901234", ns(2024, 1, 2, 3, 4, 5, 678_901_234)),
    ("19700101-00:00:00", 0),
    ("20240229-23:59:59.999", ns(2024, 2, 29, 23, 59, 59, 999_000_000)),
])
def test_get_time(text, t_ns):
    m = codec.parse(build(new_order_single((62, text))))
    assert m.get_time(62) == t_ns


def test_get_time_leap_second():
    m = codec.parse(build(new_order_single((62, "20161231-23:59:60"))))
    t59 = ns(2016, 12, 31, 23, 59, 59)
    assert t59 < m.get_time(62) <= t59 + 10**9


@pytest.mark.parametrize("text", ["2024-01-02 03:04:05", "20240102", "20241302-03:04:05",
                                  "20240102-24:00:00", "not a time"])
def test_get_time_value_error(text):
    m = codec.parse(build(new_order_single((5001, text))))
    with pytest.raises(FieldValueError):
        m.get_time(5001)


def test_get_bool_and_get_char():
    m = codec.parse(build(fixmsg.header("0") + [(43, "Y"), (5001, "N"), (5002, "X"),
                                                (5003, "AB")]))
    assert m.get_bool(43) is True
    assert m.get_bool(5001) is False
    with pytest.raises(FieldValueError):
        m.get_bool(5002)
    with pytest.raises(FieldValueError):
        m.get_bool(5003)
    assert m.get_char(5002) == "X"
    with pytest.raises(FieldValueError):
        m.get_char(5003)


@pytest.mark.parametrize("getter,args", [
    ("get_str", ()), ("get_char", ()), ("get_int", ()), ("get_fixed", (4,)),
    ("get_price", ()), ("get_qty", ()), ("get_time", ()), ("get_bool", ()),
])
def test_missing_tag(nos, getter, args):
    m = codec.parse(nos)
    sentinel = object()
    with pytest.raises(FieldNotFound) as ei:
        getattr(m, getter)(58, *args)
    assert ei.value.tag == 58
    assert isinstance(ei.value, KeyError)
    assert getattr(m, getter)(58, *args, sentinel) is sentinel
    assert getattr(m, getter)(58, *args, None) is None


def test_missing_tag_raw_access(nos):
    m = codec.parse(nos)
    assert m.get(58) is None
    assert m.get(58, b"x") == b"x"
    with pytest.raises(FieldNotFound):
        m[58]
    with pytest.raises(KeyError):
        m[58]


# ---- high and user-defined tags --------------------------------------------------


def test_high_dictionary_tags():
    raw = build(new_order_single((1031, "Y"), (1032, "1"), (18218, "Jane Doe"),
                                 (18219, "SUB-7")))
    m = codec.parse(raw)
    assert m.get_str(1031) == "Y"
    assert m.get_int(1032) == 1
    assert m.get_str(18218) == "Jane Doe"
    assert m.get_str(18219) == "SUB-7"
    assert all(t in m for t in (1031, 1032, 18218, 18219))
    assert 18220 not in m and 1033 not in m


@pytest.mark.parametrize("tag", [5000, 5001, 9999, 20000, 123456789])
def test_user_defined_tags_accepted(tag):
    m = codec.parse(build(new_order_single((tag, "custom"))))
    assert m.get_str(tag) == "custom"
    assert m.fields()[-1] == (tag, b"custom")


def test_user_defined_tags_several():
    m = codec.parse(build(new_order_single((5001, "a"), (7000, 42), (20000, "z"))))
    assert m.get_str(5001) == "a" and m.get_int(7000) == 42 and m.get_str(20000) == "z"
    assert m.to_dict()[7000] == b"42"


# ---- repeating groups ---------------------------------------------------------


def test_parties_group():
    raw = build(new_order_single(*fixmsg.parties(
        ("TRDR1", "D", 11), ("FIRM", "B", 1), ("ACCT9", "D", 24))))
    m = codec.parse(raw)
    assert m.get_int(453) == 3
    entries = m.group(453)
    assert [e.get_str(448) for e in entries] == ["TRDR1", "FIRM", "ACCT9"]
    assert [e.get_char(447) for e in entries] == ["D", "B", "D"]
    assert [e.get_int(452) for e in entries] == [11, 1, 24]
    assert entries[0].fields() == [(448, b"TRDR1"), (447, b"D"), (452, b"11")]
    assert 448 in entries[1] and 802 not in entries[1]
    assert entries[1].get(523) is None
    with pytest.raises(FieldNotFound):
        entries[2].get_str(523)
    # group members are not top-level fields
    assert 448 not in m
    assert m.get(447) is None
    # but fields() lists everything in wire order
    assert [t for t, _ in m.fields()][-10:] == [453, 448, 447, 452, 448, 447, 452,
                                                448, 447, 452]


def test_nested_party_sub_ids():
    raw = build(new_order_single(*fixmsg.parties(
        ("TRDR1", "D", 11, [("DESK-A", 4), ("alice@x", 8)]),
        ("FIRM", "B", 1),
        ("ACCT9", "D", 24, [("DESK-C", 4)]))))
    m = codec.parse(raw)
    e0, e1, e2 = m.group(453)
    assert [(s.get_str(523), s.get_int(803)) for s in e0.group(802)] == [
        ("DESK-A", 4), ("alice@x", 8)]
    assert e1.group(802) == []
    assert [(s.get_str(523), s.get_int(803)) for s in e2.group(802)] == [("DESK-C", 4)]
    assert e0.fields() == [(448, b"TRDR1"), (447, b"D"), (452, b"11"), (802, b"2")]
    assert m.group(802) == []        # nested, not top level


def test_nested_groups_in_every_entry_are_their_own():
    # Each Parties entry has its own PartySubIDs: entry i must see its own.
    raw = build(new_order_single(*fixmsg.parties(
        ("A", "D", 1, [("SUB-A", 1)]),
        ("B", "D", 3, [("SUB-B", 2)]))))
    m = codec.parse(raw)
    subs = [[s.get_str(523) for s in e.group(802)] for e in m.group(453)]
    assert subs == [["SUB-A"], ["SUB-B"]]


def test_empty_and_missing_group():
    m = codec.parse(build(new_order_single((453, 0))))
    assert m.group(453) == []
    assert m.get_int(453) == 0
    assert codec.parse(build(new_order_single())).group(453) == []


def test_group_then_top_level_fields():
    raw = build(fixmsg.header("D") + [(11, "O1")] + fixmsg.parties(("P", "D", 1))
                + [(55, "ESZ4"), (54, "2"), (60, TS), (40, "1")])
    m = codec.parse(raw)
    assert m.get_str(55) == "ESZ4" and m.get_char(54) == "2"
    assert m.group(453)[0].fields() == [(448, b"P"), (447, b"D"), (452, b"1")]
    assert 55 not in m.group(453)[0]


# ---- DATA fields --------------------------------------------------------------


@pytest.mark.parametrize("len_tag,data_tag", [(95, 96), (354, 355)])
@pytest.mark.parametrize("data", [b"a\x01b", b"\x01\x01", b"x=1\x0110=000\x01", b"z"])
def test_data_field_may_contain_soh(len_tag, data_tag, data):
    raw = build(new_order_single((len_tag, len(data)), (data_tag, data), (58, "after")))
    m = codec.parse(raw)
    assert m[data_tag] == data
    assert m.get_int(len_tag) == len(data)
    assert m.get_str(58) == "after"
    assert (data_tag, data) in m.fields()


def test_data_field_length_mismatch_rejected():
    raw = build(new_order_single((95, 3), (96, b"a\x01bc")))
    with pytest.raises(InvalidMessage) as ei:
        codec.parse(raw)
    assert (ei.value.reason, ei.value.ref_tag) == (6, 96)


def test_data_field_length_past_the_message_rejected():
    raw = build(new_order_single((95, 500), (96, b"abc")))
    with pytest.raises(InvalidMessage) as ei:
        codec.parse(raw)
    assert (ei.value.reason, ei.value.ref_tag) == (6, 96)


def test_data_field_huge_length_rejected_without_crash():
    # Run in a child: a wild read past the buffer would kill the test process.
    raw = build(new_order_single((95, 2**63 - 1), (96, b"abc")))
    code = (
        "import sys\n"
        "from fastcore import codec\n"
        "try:\n"
        f"    codec.parse({raw!r})\n"
        "    print('parsed')\n"
        "except codec.InvalidMessage as e:\n"
        "    print(e.reason, e.ref_tag)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, f"the codec crashed (rc {out.returncode})"
    assert out.stdout.split() == ["6", "96"]


# ---- Decoder ------------------------------------------------------------------


def test_decoder_typed_tuple(nos):
    dec = codec.Decoder((11, 55, 54, 38, 44, 60, 58))
    assert dec.fields == (11, 55, 54, 38, 44, 60, 58)
    assert dec.decode(nos) == ("ORD1", "ESZ4", "1", 100000, 451225000000,
                               ns(2024, 1, 2, 3, 4, 5, 678_000_000), None)


def test_decoder_kinds_override_and_errors(nos):
    dec = codec.Decoder((38, 11), kinds={38: "str", 11: "bytes"})
    assert dec.decode(nos) == ("10", b"ORD1")
    with pytest.raises(InvalidMessage):
        dec.decode(build(fixmsg.replace(new_order_single(), 54, "Z")))


# ---- framing: single messages ---------------------------------------------------


def test_every_strict_prefix_is_incomplete(nos):
    parser = codec.Parser()
    for n in range(len(nos)):
        with pytest.raises(IncompleteMessage):
            codec.parse(nos[:n])
        with pytest.raises(IncompleteMessage):
            parser.parse(nos[:n])
        batch = parser.parse_batch(nos[:n])
        assert (len(batch), batch.consumed) == (0, 0), n


def test_wrong_checksum_is_garbled(nos):
    bad = nos[:-4] + b"%03d\x01" % ((int(nos[-4:-1]) + 1) % 256)
    with pytest.raises(GarbledMessage) as ei:
        codec.parse(bad)
    assert ei.value.why == G_CHECKSUM
    assert ei.value.why in codec.GARBLE_REASONS


@pytest.mark.parametrize("delta", [-1, -5])
def test_short_body_length_is_garbled(delta):
    fields = new_order_single()
    raw = build(fields, body_length=len(fixmsg.encode_fields(fields)) + delta)
    with pytest.raises(GarbledMessage) as ei:
        codec.parse(raw)
    assert ei.value.why == G_BODY_LENGTH


def test_long_body_length_of_single_message_is_incomplete():
    fields = new_order_single()
    raw = build(fields, body_length=len(fixmsg.encode_fields(fields)) + 40)
    with pytest.raises(IncompleteMessage):
        codec.parse(raw)


@pytest.mark.parametrize("raw", [
    b"hello world, not FIX at all",
    b"9=5\x0135=0\x01",
    b"8=FIX.4.4\x019=abc\x0135=0\x0110=000\x01",
    b"8=FIX.4.4\x0135=0\x0149=A\x0110=000\x01",
])
def test_not_fix_is_garbled(raw):
    with pytest.raises(GarbledMessage):
        codec.parse(raw)


def test_body_length_above_maximum_is_garbled(nos):
    body_len = int(fixmsg.split(nos)[1][1])
    with pytest.raises(GarbledMessage) as ei:
        codec.Parser(max_body_length=body_len - 1).parse(nos)
    assert ei.value.why == G_TOO_LONG
    with pytest.raises(GarbledMessage) as ei:
        codec.parse(nos, max_body_length=body_len - 1)
    assert ei.value.why == G_TOO_LONG
    assert codec.Parser(max_body_length=body_len).parse(nos).msg_type == "D"
    assert codec.Parser(max_body_length=body_len).max_body_length == body_len


def test_huge_body_length_is_garbled_not_awaited():
    head = b"8=FIX.4.4\x019=999999999\x0135=0\x01"
    with pytest.raises(GarbledMessage) as ei:
        codec.parse(head)
    assert ei.value.why == G_TOO_LONG


# ---- framing: batches ---------------------------------------------------------


def _msgs(n):
    return [build(new_order_single(cl_ord_id=f"ORD{i}", seq=i + 1)) for i in range(n)]


def test_batch_of_concatenated_messages():
    msgs = _msgs(3)
    data = b"".join(msgs)
    batch = codec.Parser().parse_batch(data)
    assert len(batch) == batch.count == 3
    assert batch.consumed == len(data)
    for view in (batch.offsets, batch.lengths, batch.status, batch.reasons, batch.ref_tags):
        assert isinstance(view, memoryview)
        assert len(view) == 3
    assert list(batch.offsets) == [0, len(msgs[0]), len(msgs[0]) + len(msgs[1])]
    assert list(batch.lengths) == [len(m) for m in msgs]
    assert list(batch.status) == [0, 0, 0]
    assert list(batch.ref_tags) == [0, 0, 0]
    assert [batch.message(i).get_str(11) for i in range(3)] == ["ORD0", "ORD1", "ORD2"]
    assert batch.message(2).raw == msgs[2]
    with pytest.raises(IndexError):
        batch.message(3)
    with pytest.raises(IndexError):
        batch.message(-1)


def test_batch_accepts_bytearray():
    data = bytearray(b"".join(_msgs(2)))
    assert list(codec.Parser().parse_batch(data).status) == [0, 0]


def test_batch_drops_garbage_between_messages():
    a, b = _msgs(2)
    data = a + b"garbage\r\n" + b
    batch = codec.Parser().parse_batch(data)
    assert list(batch.status) == [0, 2, 0]
    assert batch.reasons[1] == G_NO_BEGIN
    assert (batch.offsets[1], batch.lengths[1]) == (len(a), 9)
    assert batch.offsets[2] == len(a) + 9
    assert batch.message(2).get_str(11) == "ORD1"
    assert batch.consumed == len(data)


def test_batch_leading_garbage():
    (a,) = _msgs(1)
    batch = codec.Parser().parse_batch(b"xx" + a)
    assert list(batch.status) == [2, 0]
    assert list(batch.lengths) == [2, len(a)]


def test_batch_stops_before_partial_tail():
    a, b, c = _msgs(3)
    for cut in (1, 5, 12, 40, len(c) - 1):
        data = a + b + c[:cut]
        batch = codec.Parser().parse_batch(data)
        assert list(batch.status) == [0, 0], cut
        assert batch.consumed == len(a) + len(b), cut


def test_batch_trailing_garbage_is_dropped_but_may_keep_a_begin_prefix():
    (a,) = _msgs(1)
    batch = codec.Parser().parse_batch(a + b"zzzzzzzzz")
    assert batch.status[0] == 0
    assert all(s == 2 for s in batch.status[1:])
    assert batch.consumed == len(a) + 9
    batch = codec.Parser().parse_batch(a + b"zzzz8=FI")
    assert batch.consumed == len(a) + 4


def test_batch_wrong_body_length_is_garbled_and_resyncs():
    a, b, c = _msgs(3)
    fields = new_order_single(cl_ord_id="BAD")
    bad = build(fields, body_length=len(fixmsg.encode_fields(fields)) - 3)
    batch = codec.Parser().parse_batch(a + bad + b + c)
    assert list(batch.status) == [0, 2, 0, 0]
    assert batch.reasons[1] == G_BODY_LENGTH
    assert batch.lengths[1] == len(bad)
    assert [batch.message(i).get_str(11) for i in (0, 2, 3)] == ["ORD0", "ORD1", "ORD2"]


def test_batch_long_body_length_is_garbled_when_more_data_follows():
    a, b = _msgs(2)
    fields = new_order_single(cl_ord_id="BAD")
    bad = build(fields, body_length=len(fixmsg.encode_fields(fields)) + 3)
    batch = codec.Parser().parse_batch(bad + a + b)
    assert list(batch.status) == [2, 0, 0]
    assert batch.reasons[0] == G_BODY_LENGTH


def test_batch_wrong_checksum_is_garbled():
    a, b = _msgs(2)
    bad = build(new_order_single(cl_ord_id="BAD"), check_sum=0)
    if bad == build(new_order_single(cl_ord_id="BAD")):      # sum happened to be 0
        bad = build(new_order_single(cl_ord_id="BAD"), check_sum=1)
    batch = codec.Parser().parse_batch(a + bad + b)
    assert list(batch.status) == [0, 2, 0]
    assert batch.reasons[1] == G_CHECKSUM
    assert batch.lengths[1] == len(bad)


def test_batch_body_length_above_maximum():
    (a,) = _msgs(1)
    small = build(fixmsg.heartbeat())
    limit = int(fixmsg.split(small)[1][1])
    batch = codec.Parser(max_body_length=limit).parse_batch(a + small)
    assert list(batch.status) == [2, 0]
    assert batch.reasons[0] == G_TOO_LONG
    assert batch.message(1).msg_type == "0"


def test_batch_invalid_message_is_status_3():
    a, b = _msgs(2)
    bad = build(fixmsg.replace(new_order_single(cl_ord_id="BAD"), 54, "Z"))
    batch = codec.Parser().parse_batch(a + bad + b)
    assert list(batch.status) == [0, 3, 0]
    assert (batch.reasons[1], batch.ref_tags[1]) == (5, 54)
    assert batch.lengths[1] == len(bad)
    with pytest.raises(InvalidMessage):
        batch.message(1)


def test_batch_is_reused_and_grows():
    parser = codec.Parser()
    many = b"".join(build(fixmsg.heartbeat(seq=i)) for i in range(1, 301))
    batch = parser.parse_batch(many)
    assert len(batch) == 300 and batch.consumed == len(many)
    assert all(s == 0 for s in batch.status)
    again = parser.parse_batch(b"".join(_msgs(2)))
    assert again is batch and len(again) == 2


def test_batch_empty():
    batch = codec.Parser().parse_batch(b"")
    assert (len(batch), batch.consumed) == (0, 0)
    assert list(batch.status) == []


# ---- growth and reuse ------------------------------------------------------------


def test_large_message_grows_the_arrays():
    parser = codec.Parser()
    parser.parse(build(fixmsg.heartbeat()))
    entries = [(f"P{i}", "D", 1 + i % 20, [(f"S{i}", 4)]) for i in range(100)]
    users = [(5000 + i, f"v{i}") for i in range(300)]
    raw = build(new_order_single(*fixmsg.parties(*entries), *users))
    m = parser.parse(raw)
    assert len(m.group(453)) == 100
    assert [e.get_str(448) for e in m.group(453)][-3:] == ["P97", "P98", "P99"]
    assert [v for t, v in m.fields() if t == 523][-3:] == [b"S97", b"S98", b"S99"]
    assert m.get_str(5299) == "v299"
    assert len(m) == len(fixmsg.new_order_single()) + 1 + 100 * 6 + 300
    assert parser.parse(build(fixmsg.heartbeat())).fields()[0] == (35, b"0")


def test_parser_reuse_over_many_messages_keeps_lookups_exact():
    # The O(1) index is stamped per parse; stale stamps must never leak into a
    # later message, also when the stamp counter wraps.
    parser = codec.Parser()
    with_id = build(fixmsg.heartbeat((112, "TR1")))
    without = build(fixmsg.heartbeat())
    for i in range(0x10000 + 8):
        m = parser.parse(with_id if i % 2 else without)
        if (112 in m) != bool(i % 2):
            raise AssertionError(f"stale lookup at parse {i}")


# ---- Decoder's cache of short strings -------------------------------------------

_SHORT = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF,
                                        blacklist_characters="="), min_size=1, max_size=12)


@given(st.lists(_SHORT, min_size=1, max_size=60))
def test_decoder_short_string_cache_returns_each_messages_own_value(symbols):
    # Values up to 8 bytes come from a cache keyed by their bytes; replaced
    # and colliding entries must never hand back another message's value.
    dec = codec.Decoder((55, 1))
    for i, sym in enumerate(symbols + symbols[::-1]):
        raw = build(fixmsg.replace(fixmsg.replace(new_order_single(), 1, sym[::-1]), 55, sym))
        assert dec.decode(raw) == (sym, sym[::-1]), i


def test_seqnum_of_19_digits_is_an_int64():
    """A SEQNUM past 18 digits leaves the fast path but is valid up to int64."""
    enc = codec.Encoder("A", "B", precision=0)
    assert codec.parse(enc.encode("0", [(45, 10**18)], 1, 0)).get_int(45) == 10**18
    with pytest.raises(codec.InvalidMessage) as exc:
        codec.parse(enc.encode("0", [(45, 10**19)], 1, 0))
    assert (exc.value.reason, exc.value.ref_tag) == (6, 45)
