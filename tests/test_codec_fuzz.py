"""Property tests (hypothesis, derandomized profile in conftest.py):

* random valid messages built from the dictionary round-trip through the
  Encoder and the parser, with typed getters giving back the drawn values;
* random corruption and truncation never crash the parser, and it always
  answers with a Message or one of the three codec errors;
* fixed-point values round-trip exactly between text and int64.
"""

from hypothesis import example, given, strategies as st

from fastcore import codec
from fastcore.codec import (
    ENUMS, FIELDS, Encoder, ExecutionReport, GarbledMessage, IncompleteMessage,
    InvalidMessage,
)

import fixmsg
from fixmsg import format_fixed, format_timestamp

INT64_MIN, INT64_MAX = -2**63, 2**63 - 1

# Standard header and trailer of FIX 4.4: the Encoder writes the header itself.
HEADER_TAGS = {8, 9, 35, 49, 56, 115, 128, 90, 91, 34, 50, 142, 57, 143, 116, 144, 129,
               145, 43, 97, 52, 122, 212, 213, 347, 369, 627, 628, 629, 630}
TRAILER_TAGS = {93, 89, 10}
STRING_TYPES = {"STRING", "CURRENCY", "EXCHANGE", "COUNTRY", "MULTIPLEVALUESTRING"}
DECIMAL_TYPES = {"FLOAT", "QTY", "PRICE", "PRICEOFFSET", "AMT", "PERCENTAGE"}
UINT_TYPES = {"SEQNUM", "TAGNUM", "DAYOFMONTH"}
SKIP_TYPES = {"NUMINGROUP", "LENGTH", "DATA"}     # groups and DATA have tests of their own

BODY_TAGS = sorted(t for t, (_name, typ) in FIELDS.items()
                   if t not in HEADER_TAGS | TRAILER_TAGS and typ not in SKIP_TYPES)

# ---- values by FIX type ------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
               min_size=1, max_size=16)
CHAR = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
TIME_NS = st.integers(0, fixmsg.ns(2099, 12, 31, 23, 59, 59, 999_999_999))


@st.composite
def decimals(draw):
    """(text, digits, value): a decimal and its exact fixed-point value."""
    digits = draw(st.integers(0, 8))
    value = draw(st.integers(-10**15, 10**15))
    return format_fixed(value, digits), digits, value


@st.composite
def timestamps(draw):
    t = draw(TIME_NS)
    p = draw(st.sampled_from([0, 3, 6, 9]))
    return format_timestamp(t, p), p, t


@st.composite
def field_value(draw, tag):
    """A valid value for ``tag`` as (wire text, check) where ``check(msg)``
    asserts the typed getter of ``tag`` gives the drawn value back."""
    typ = FIELDS[tag][1]
    if tag in ENUMS:
        choices = sorted(ENUMS[tag])
        if typ == "CHAR":       # FIX44.xml lists "10".."12" for CHAR 139 (and "99" for 532)
            choices = [c for c in choices if len(c) == 1]
        if typ == "MULTIPLEVALUESTRING":
            vals = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3))
            text = " ".join(vals)
        else:
            text = draw(st.sampled_from(choices))
        return text, lambda m: m.get_str(tag) == text
    if typ in STRING_TYPES:
        text = draw(TEXT)
        return text, lambda m: m.get_str(tag) == text
    if typ == "CHAR":
        c = draw(CHAR)
        return c, lambda m: m.get_char(tag) == c
    if typ == "INT" or typ in UINT_TYPES:
        lo = 0 if typ in UINT_TYPES else INT64_MIN
        v = draw(st.integers(lo, INT64_MAX))
        return v, lambda m: m.get_int(tag) == v
    if typ in DECIMAL_TYPES:
        text, digits, v = draw(decimals())
        return text, lambda m: m.get_fixed(tag, digits) == v
    if typ == "BOOLEAN":
        b = draw(st.booleans())
        return b, lambda m: m.get_bool(tag) is b
    if typ == "UTCTIMESTAMP":
        text, p, t = draw(timestamps())
        return text, lambda m: m.get_time(tag) == t - t % 10**(9 - p)
    if typ == "UTCTIMEONLY":
        text = format_timestamp(draw(TIME_NS), draw(st.sampled_from([0, 3])))[9:]
        return text, lambda m: m.get_str(tag) == text
    if typ in ("UTCDATEONLY", "LOCALMKTDATE"):
        text = format_timestamp(draw(TIME_NS), 0)[:8]
        return text, lambda m: m.get_str(tag) == text
    if typ == "MONTHYEAR":
        text = format_timestamp(draw(TIME_NS), 0)[:6]
        return text, lambda m: m.get_str(tag) == text
    raise AssertionError(f"no strategy for {typ}")


# Message types and the body fields each requires.
REQUIRED = {
    "0": [],
    "5": [],
    "D": [11, 54, 60, 40],
    "8": [37, 17, 150, 39, 54, 151, 14, 6],
}


@st.composite
def messages(draw):
    """(msg_type, [(tag, value)], [checks]) of a valid message."""
    msg_type = draw(st.sampled_from(sorted(REQUIRED)))
    required = REQUIRED[msg_type]
    optional = draw(st.lists(st.sampled_from(BODY_TAGS), max_size=12, unique=True))
    tags = required + [t for t in optional if t not in required]
    user = draw(st.lists(st.integers(5000, 99999).filter(lambda t: t not in FIELDS),
                         max_size=3, unique=True))
    fields, checks = [], []
    for tag in tags:
        value, check = draw(field_value(tag))
        fields.append((tag, value))
        checks.append(check)
    for tag in user:
        value = draw(TEXT)
        fields.append((tag, value))
    return msg_type, fields, checks


def wire(value) -> bytes:
    return fixmsg.as_bytes(value)


@given(messages(), st.integers(1, 10**9), TIME_NS, st.sampled_from([0, 3, 6, 9]))
def test_valid_messages_round_trip(msg, seq, t, precision):
    msg_type, fields, checks = msg
    raw = Encoder("FASTCORE", "CLIENT1", precision=precision).encode(msg_type, fields, seq, t)
    m = codec.parse(raw)
    assert m.msg_type == msg_type
    assert m.fields() == [
        (35, msg_type.encode()), (49, b"FASTCORE"), (56, b"CLIENT1"), (34, str(seq).encode()),
        (52, format_timestamp(t, precision).encode()),
    ] + [(tag, wire(v)) for tag, v in fields]
    assert m.get_time(52) == t - t % 10**(9 - precision)
    for check in checks:
        assert check(m)
    # the same through a reused Parser and a batch of two
    parser = codec.Parser()
    assert parser.parse(raw).fields() == m.fields()
    batch = parser.parse_batch(raw + raw)
    assert list(batch.status) == [0, 0] and batch.consumed == 2 * len(raw)


# ---- corruption ---------------------------------------------------------------------


def _seeds():
    enc = Encoder("FASTCORE", "CLIENT1", precision=6)
    t = fixmsg.ns(2024, 1, 2, 3, 4, 5, 678_901_234)
    report = ExecutionReport(order_id="O1", cl_ord_id="ORD1", exec_id="E1", symbol="ESZ4",
                             exec_type="F", ord_status="2", order_qty=100000, ord_type="2",
                             has_price=True, price=451225000000, has_last=True,
                             last_qty=100000, last_px=451225000000, leaves_qty=0,
                             cum_qty=100000, avg_px=451225000000, transact_time=t)
    return [
        enc.execution_report(report, 7, t),
        enc.heartbeat(8, t, "TR1"),
        enc.logon(1, t, heart_bt_int=30),
        fixmsg.build(fixmsg.new_order_single(
            *fixmsg.parties(("TRDR1", "D", 11, [("DESK", 4), ("X", 8)]), ("FIRM", "B", 1)),
            (95, 4), (96, b"a\x01=b"), (5001, "user"))),
    ]


SEEDS = _seeds()
GARBAGE = st.binary(min_size=1, max_size=8) | st.sampled_from(
    [b"\x01", b"=", b"8=FIX.4.4\x01", b"9=", b"10=", b"\x0110=000\x01", b"35=D\x01", b"0"])


def mutate(draw, data: bytearray) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[i] = draw(st.sampled_from(b"\x01=0189-.AZ\xff"))
        elif kind == "insert":
            data[i:i] = draw(GARBAGE)
        elif kind == "delete":
            del data[i:i + draw(st.integers(1, 12))]
        else:
            del data[i:]
    return bytes(data)


@st.composite
def corrupted(draw):
    """A seed with random bytes flipped, set, inserted, deleted or cut off."""
    return mutate(draw, bytearray(draw(st.sampled_from(SEEDS))))


def reframe(body: bytes) -> bytes:
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % fixmsg.checksum(head + body)


@st.composite
def corrupted_body(draw):
    """A seed with its body corrupted, then BodyLength and CheckSum made right
    again: the corruption reaches validation instead of failing framing."""
    raw = draw(st.sampled_from(SEEDS))
    start = raw.index(b"\x01", raw.index(b"\x019=") + 1) + 1
    body = raw[start:raw.rindex(b"10=")]
    return reframe(mutate(draw, bytearray(body)))


def check_outcome(data, parse):
    """``parse(data)`` gives a Message or a codec error, and never anything else."""
    try:
        m = parse(data)
    except IncompleteMessage:
        return None
    except GarbledMessage as e:
        assert e.why in codec.GARBLE_REASONS
        return None
    except InvalidMessage as e:
        assert e.reason in codec.REJECT_REASONS
        assert e.ref_tag >= 0
        assert e.msg_type is None or e.msg_type in codec.MESSAGES
        return None
    assert isinstance(m, codec.Message)
    # a message that parsed is fully readable
    assert m.raw == data[:len(m.raw)]
    fields = m.fields()
    assert fields[0][0] == 35
    for tag, value in m.to_dict().items():
        assert m.get(tag) == value and m.get_str(tag) == value.decode("latin-1")
    for entry in m.group(453):
        entry.fields()
        for sub in entry.group(802):
            sub.fields()
    return m


@given(corrupted() | corrupted_body())
@example(SEEDS[0][:-1])
@example(SEEDS[0].replace(b"\x0135=8\x01", b"\x0135=\x01"))
def test_corruption_never_crashes_parse(data):
    check_outcome(data, codec.parse)
    check_outcome(data, codec.Parser().parse)
    check_outcome(data, codec.Parser(max_body_length=64).parse)


@given(st.lists(corrupted() | corrupted_body() | st.sampled_from(SEEDS), min_size=1,
                max_size=4))
def test_corruption_never_crashes_parse_batch(parts):
    data = b"".join(parts)
    parser = codec.Parser()
    batch = parser.parse_batch(data)
    n = len(batch)
    assert 0 <= batch.consumed <= len(data)
    status, offsets, lengths = list(batch.status), list(batch.offsets), list(batch.lengths)
    reasons, ref_tags = list(batch.reasons), list(batch.ref_tags)
    assert len(status) == len(offsets) == len(lengths) == len(reasons) == len(ref_tags) == n
    pos = 0
    for i in range(n):
        assert status[i] in (0, 2, 3)
        assert offsets[i] == pos and lengths[i] > 0
        pos += lengths[i]
        if status[i] == 0:
            assert (reasons[i], ref_tags[i]) == (0, 0)
            assert batch.message(i).raw == data[offsets[i]:pos]
        elif status[i] == 2:
            assert reasons[i] in codec.GARBLE_REASONS
        else:
            assert reasons[i] in codec.REJECT_REASONS
            try:
                batch.message(i)
            except InvalidMessage as e:
                assert (e.reason, e.ref_tag) == (reasons[i], ref_tags[i])
            else:
                raise AssertionError("an invalid batch entry parsed alone")
    assert pos == batch.consumed
    # the unconsumed tail is an incomplete message (or nothing)
    tail = data[batch.consumed:]
    if tail:
        try:
            codec.parse(tail)
        except IncompleteMessage:
            pass
        else:
            raise AssertionError(f"tail {tail[:40]!r} is not incomplete")


@given(st.sampled_from(SEEDS), st.data())
def test_truncation_is_incomplete(seed, data):
    cut = data.draw(st.integers(0, len(seed) - 1))
    try:
        codec.parse(seed[:cut])
    except IncompleteMessage:
        pass
    else:
        raise AssertionError("a truncated message parsed")
    batch = codec.Parser().parse_batch(seed + seed[:cut])
    assert list(batch.status) == [0] and batch.consumed == len(seed)


# ---- fixed point --------------------------------------------------------------------


@given(st.integers(INT64_MIN, INT64_MAX), st.integers(0, 18))
@example(INT64_MIN, 0)
@example(INT64_MIN, 8)
@example(INT64_MAX, 18)
@example(INT64_MIN, 18)
def test_fixed_point_text_round_trip(value, digits):
    text = format_fixed(value, digits)
    m = codec.parse(fixmsg.build(fixmsg.heartbeat((5001, text), (44, text))))
    assert m.get_fixed(5001, digits) == value
    assert m.get_fixed(44, digits) == value


@given(st.integers(INT64_MIN, INT64_MAX), st.integers(INT64_MIN, INT64_MAX))
@example(INT64_MIN, INT64_MIN)
@example(INT64_MAX, INT64_MAX)
@example(0, 0)
def test_encoder_fixed_point_round_trip(price, qty):
    report = ExecutionReport(order_id="O", exec_id="E", symbol="S", has_price=True,
                             price=price, order_qty=qty, avg_px=price, leaves_qty=qty)
    m = codec.parse(Encoder("A", "B").execution_report(report, 1, 0))
    assert m.get_str(44) == format_fixed(price, codec.PX_DIGITS)
    assert m.get_str(38) == format_fixed(qty, codec.QTY_DIGITS)
    assert m.get_price(44) == price and m.get_price(6) == price
    assert m.get_qty(38) == qty and m.get_qty(151) == qty


@given(st.integers(0, 10**12), st.integers(0, 8), st.integers(1, 6))
def test_trailing_zeros_beyond_digits_are_accepted(value, digits, zeros):
    text = format_fixed(value, digits)
    padded = text + ("" if "." in text else ".") + "0" * zeros
    m = codec.parse(fixmsg.build(fixmsg.heartbeat((5001, padded))))
    assert m.get_fixed(5001, digits) == value
