"""Validation: every SessionRejectReason (373) the codec reports, with the
exact RefTagID (371). Each message frames correctly (fixmsg.build computes
BodyLength and CheckSum), so only the field the test breaks is wrong."""

import pytest

from fastcore import codec
from fastcore.codec import InvalidMessage

import fixmsg
from fixmsg import TS, build, new_order_single, remove, replace

NOS = new_order_single()
HB = fixmsg.heartbeat()

# SessionRejectReason codes
INVALID_TAG = 0
REQUIRED_MISSING = 1
NO_VALUE = 4
VALUE_INCORRECT = 5
DATA_FORMAT = 6
INVALID_MSGTYPE = 11
DUPLICATE_TAG = 13
ORDER = 14
GROUP_ORDER = 15
NUMINGROUP = 16


def reject(fields):
    """The InvalidMessage raised by codec.parse (and the Parser, identically)."""
    raw = build(fields)
    with pytest.raises(InvalidMessage) as ei:
        codec.parse(raw)
    with pytest.raises(InvalidMessage) as ei2:
        codec.Parser().parse(raw)
    e = ei.value
    assert (ei2.value.reason, ei2.value.ref_tag, ei2.value.msg_type) == (
        e.reason, e.ref_tag, e.msg_type)
    assert e.reason in codec.REJECT_REASONS
    assert codec.REJECT_REASONS[e.reason] in str(e)
    batch = codec.Parser().parse_batch(raw)
    assert list(batch.status) == [3]
    assert (batch.reasons[0], batch.ref_tags[0]) == (e.reason, e.ref_tag)
    assert batch.lengths[0] == len(raw) and batch.consumed == len(raw)
    return e


def insert_after(fields, tag, *new):
    out = list(fields)
    i = next(k for k, (t, _v) in enumerate(out) if t == tag)
    return out[:i + 1] + list(new) + out[i + 1:]


def test_valid_samples_parse():
    for fields in (NOS, HB, fixmsg.execution_report(),
                   new_order_single(*fixmsg.parties(("A", "D", 1, [("S", 1)])))):
        codec.parse(build(fields))


def test_reject_attributes():
    e = reject(replace(NOS, 54, "Z"))
    assert isinstance(e, codec.CodecError)
    assert e.msg_type == "D"
    assert e.text == str(e)
    assert "54" in str(e)


# ---- 0: invalid tag number ----------------------------------------------------


@pytest.mark.parametrize("bad_tag,ref_tag", [
    ("abc", 0),          # not a number
    ("5x", 0),           # not a number (no RefTagID: not even tag 5)
    ("", 0),             # no tag at all: "=value"
    ("011", 0),          # leading zero
    ("0", 0),            # tag 0
    ("-5", 0),           # negative
    (4999, 4999),        # below the user-defined range, not in the dictionary
    (20, 20),            # removed from FIX 4.4 (IOITransType was 28)
    (1033, 1033),        # above the dictionary, below 5000
    ("1234567890", 0),   # more than 9 digits
])
def test_invalid_tag_number(bad_tag, ref_tag):
    e = reject(NOS + [(bad_tag, "x")])
    assert (e.reason, e.ref_tag) == (INVALID_TAG, ref_tag)
    assert e.msg_type == "D"


def test_field_without_equals_sign():
    raw_fields = fixmsg.encode_fields(NOS) + b"58abc\x01"
    head = b"8=FIX.4.4\x019=%d\x01" % len(raw_fields)
    raw = head + raw_fields
    raw += b"10=%03d\x01" % fixmsg.checksum(raw)
    with pytest.raises(InvalidMessage) as ei:
        codec.parse(raw)
    assert ei.value.reason == INVALID_TAG


# ---- 1: required tag missing ---------------------------------------------------


@pytest.mark.parametrize("tag", [11, 54, 60, 40])
def test_required_body_tag_missing(tag):
    e = reject(remove(NOS, tag))
    assert (e.reason, e.ref_tag, e.msg_type) == (REQUIRED_MISSING, tag, "D")


@pytest.mark.parametrize("tag", [49, 56, 34, 52])
def test_required_header_tag_missing(tag):
    e = reject(remove(NOS, tag))
    assert (e.reason, e.ref_tag) == (REQUIRED_MISSING, tag)


@pytest.mark.parametrize("msg_type,fields,missing", [
    ("8", fixmsg.execution_report(), 37),
    ("8", fixmsg.execution_report(), 150),
    ("A", fixmsg.header("A") + [(98, 0), (108, 30)], 108),
    ("1", fixmsg.header("1") + [(112, "T1")], 112),
    ("2", fixmsg.header("2") + [(7, 1), (16, 0)], 16),
    ("3", fixmsg.header("3") + [(45, 3), (373, 1)], 45),
    ("4", fixmsg.header("4") + [(36, 10)], 36),
])
def test_required_tag_missing_per_message_type(msg_type, fields, missing):
    codec.parse(build(fields))
    e = reject(remove(fields, missing))
    assert (e.reason, e.ref_tag, e.msg_type) == (REQUIRED_MISSING, missing, msg_type)


# ---- 4: tag specified without a value ------------------------------------------


@pytest.mark.parametrize("fields,tag", [
    (NOS + [(58, "")], 58),
    (replace(NOS, 55, ""), 55),
    (replace(NOS, 49, ""), 49),
    (NOS + [(5001, "")], 5001),
])
def test_tag_without_value(fields, tag):
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (NO_VALUE, tag)


# ---- 5: value incorrect (not in the enum) ----------------------------------------


@pytest.mark.parametrize("tag,value", [
    (54, "Z"),          # Side
    (40, "0"),          # OrdType
    (59, "9"),          # TimeInForce
    (21, "4"),          # HandlInst
    (18, "1 T"),        # ExecInst: every space-separated value must be valid
    (1032, "3"),        # OrderHandlingInstSource (a high tag with an enum)
])
def test_value_incorrect(tag, value):
    fields = replace(NOS, tag, value) if tag in dict(NOS) else NOS + [(tag, value)]
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (VALUE_INCORRECT, tag)


@pytest.mark.parametrize("tag,value", [(18, "1 2 G"), (21, "1"), (1032, "2")])
def test_enum_values_accepted(tag, value):
    assert codec.parse(build(NOS + [(tag, value)])).get_str(tag) == value


# ---- 6: incorrect data format ---------------------------------------------------


@pytest.mark.parametrize("tag,value", [
    (38, "1x"),                          # Qty
    (38, "1.2.3"),
    (44, "abc"),                         # Price
    (44, "-"),
    (52, "20240102 03:04:05"),           # UTCTimestamp
    (52, "20241302-03:04:05"),
    (52, "20240102-03:04:05."),
    (52, "20240102-03:04:05.1234567890"),
    (60, "20240102-25:00:00"),
    (34, "-1"),                          # SeqNum
    (34, "1.0"),
    (34, "x"),
    (43, "y"),                           # Boolean
    (43, "YES"),
    (54, "12"),                          # Char
    (432, "2024-01-02"),                 # LocalMktDate
    (432, "20240132"),
    (110, "ten"),                        # MinQty
    (68, "1e3"),                         # Int
    (95, "-2"),                          # Length
])
def test_incorrect_data_format(tag, value):
    fields = replace(NOS, tag, value) if tag in dict(NOS) else NOS + [(tag, value)]
    if tag == 43:                        # PossDupFlag is a header field
        fields = insert_after(NOS, 34, (43, value))
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (DATA_FORMAT, tag)


@pytest.mark.parametrize("tag,value", [
    (200, "202413"),        # MonthYear: month 13
    (200, "2024011"),       # MonthYear: 7 characters
    (200, "2024"),          # MonthYear: too short
    (200, "2024-01"),
    (200, "202401w9x"),
])
def test_incorrect_month_year(tag, value):
    e = reject(NOS + [(tag, value)])
    assert (e.reason, e.ref_tag) == (DATA_FORMAT, tag)


@pytest.mark.parametrize("value", ["202412", "20241231", "202412w2"])
def test_valid_month_year(value):
    assert codec.parse(build(NOS + [(200, value)])).get_str(200) == value


@pytest.mark.parametrize("tag,value", [
    (38, "10"), (38, "0.5"), (44, "-3.25"), (34, "0"), (43, "N"), (60, "20240102-03:04:05"),
    (60, "20240102-03:04:05.123456789"), (432, "20241231"), (68, "-4"),
])
def test_valid_data_formats(tag, value):
    fields = replace(NOS, tag, value) if tag in dict(NOS) else NOS + [(tag, value)]
    if tag == 43:
        fields = insert_after(NOS, 34, (43, value))
    codec.parse(build(fields))


# ---- 11: invalid MsgType ----------------------------------------------------------


@pytest.mark.parametrize("msg_type", ["ZZ", "I", "U", "AZZ", "a1", "\xe9"])
def test_invalid_msg_type(msg_type):
    e = reject(replace(HB, 35, msg_type))
    assert (e.reason, e.ref_tag) == (INVALID_MSGTYPE, 35)
    assert e.msg_type is None


# ---- 13: tag appears more than once ------------------------------------------------


@pytest.mark.parametrize("fields,tag", [
    (NOS + [(55, "NQZ4")], 55),
    (NOS + [(11, "ORD1")], 11),
    (insert_after(NOS, 56, (49, "X")), 49),
    (NOS + [(5001, "a"), (58, "t"), (5001, "b")], 5001),
    (NOS + [(18218, "a"), (18218, "b")], 18218),
    (NOS + fixmsg.parties(("P", "D", 1)) + [(453, 1)], 453),
])
def test_duplicate_tag(fields, tag):
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (DUPLICATE_TAG, tag)


# ---- 14: tag specified out of required order ---------------------------------------


def test_header_field_after_body_field():
    fields = remove(NOS, 49) + [(49, "CLIENT1")]        # 49 after 11
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (ORDER, 49)


def test_sending_time_after_body_field():
    fields = insert_after(remove(NOS, 52), 11, (52, TS))
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (ORDER, 52)


def test_msg_type_not_first():
    fields = [NOS[1], NOS[0]] + NOS[2:]                 # 49 then 35
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (ORDER, 35)


@pytest.mark.parametrize("tag,value", [(8, "FIX.4.4"), (9, "10"), (35, "D")])
def test_framing_tags_inside_the_body(tag, value):
    e = reject(NOS + [(tag, value)])
    assert (e.reason, e.ref_tag) == (ORDER, tag)


def test_checksum_inside_the_body():
    e = reject(NOS + [(10, "000")])
    assert (e.reason, e.ref_tag) == (ORDER, 10)


def test_body_field_after_trailer_field():
    e = reject(NOS + [(93, 2), (89, "ab"), (58, "late")])
    assert (e.reason, e.ref_tag) == (ORDER, 58)


def test_trailer_fields_accepted_last():
    m = codec.parse(build(NOS + [(93, 2), (89, "ab")]))
    assert m.get_str(89) == "ab"


# ---- 15: repeating group fields out of order ----------------------------------------


def test_group_member_before_delimiter():
    fields = NOS + [(453, 1), (447, "D"), (448, "P"), (452, 1)]
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (GROUP_ORDER, 447)


def test_group_member_repeated_in_one_entry():
    fields = NOS + [(453, 1), (448, "P"), (447, "D"), (447, "D"), (452, 1)]
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (GROUP_ORDER, 447)


def test_nested_group_member_before_delimiter():
    fields = NOS + [(453, 1), (448, "P"), (447, "D"), (452, 1), (802, 1), (803, 4),
                    (523, "S")]
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (GROUP_ORDER, 803)


# ---- 16: incorrect NumInGroup count -------------------------------------------------


@pytest.mark.parametrize("count,entries", [(3, 2), (2, 1), (1, 2), (1, 3), (2, 0)])
def test_numingroup_does_not_match_entries(count, entries):
    group = [(453, count)]
    for i in range(entries):
        group += [(448, f"P{i}"), (447, "D"), (452, 1)]
    e = reject(NOS + group + [(58, "after")])
    assert (e.reason, e.ref_tag) == (NUMINGROUP, 453)


def test_numingroup_too_large_at_end_of_message():
    e = reject(NOS + [(453, 3), (448, "A"), (447, "D"), (448, "B"), (447, "D")])
    assert (e.reason, e.ref_tag) == (NUMINGROUP, 453)


def test_nested_numingroup_mismatch():
    fields = NOS + [(453, 1), (448, "P"), (447, "D"), (452, 1), (802, 2), (523, "S"),
                    (803, 4)]
    e = reject(fields)
    assert (e.reason, e.ref_tag) == (NUMINGROUP, 802)


def test_numingroup_zero_with_no_entries_is_valid():
    codec.parse(build(NOS + [(453, 0), (58, "x")]))


# ---- the reject carries the MsgType -------------------------------------------------


@pytest.mark.parametrize("fields,msg_type", [
    (replace(NOS, 54, "Z"), "D"),
    (replace(fixmsg.execution_report(), 39, "Z"), "8"),
    (HB + [(112, "")], "0"),
    (remove(fixmsg.header("A") + [(98, 0), (108, 30)], 98), "A"),
])
def test_reject_carries_msg_type(fields, msg_type):
    assert reject(fields).msg_type == msg_type
