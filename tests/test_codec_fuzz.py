"""Property tests (hypothesis, derandomized profile in conftest.py):

* random valid messages built from the dictionary round-trip through the
  Encoder and the parser, with typed getters giving back the drawn values;
* random corruption and truncation never crash the parser, and it always
  answers with a Message or one of the three codec errors;
* fixed-point values round-trip exactly between text and int64;
* hostile bytes: arbitrary bytes, BodyLength and CheckSum that lie, hostile
  numbers in every numeric type, repeating groups whose count lies, SOH and
  NUL inside values, very long fields; the Parser's streaming interface fed
  in random chunks (the same frames as one batch, and a valid message after
  garbage always found), with bounded work (every entry consumes bytes, and
  there are at most two per "8=FIX" in the buffer).

tools/fuzz_codec runs the same properties coverage-guided (atheris) for as
long as it is given, the engine behind the codec included.
"""

import pytest
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
            with pytest.raises(InvalidMessage) as e:    # refused alone too
                batch.message(i)
            assert (e.value.reason, e.value.ref_tag) == (reasons[i], ref_tags[i])
    assert pos == batch.consumed
    # the unconsumed tail is an incomplete message (or nothing)
    tail = data[batch.consumed:]
    if tail:
        with pytest.raises(IncompleteMessage):
            codec.parse(tail)


@given(st.sampled_from(SEEDS), st.data())
def test_truncation_is_incomplete(seed, data):
    cut = data.draw(st.integers(0, len(seed) - 1))
    with pytest.raises(IncompleteMessage):
        codec.parse(seed[:cut])
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


# ---- hostile bytes --------------------------------------------------------------------
#
# Whatever the bytes, the codec answers with a Message or one of its errors,
# does bounded work (every batch entry consumes bytes; an entry starts at the
# buffer's start, at an "8=FIX" or right after a frame), and a valid message
# that follows garbage is still found.

def check_batch(data, parser=None):
    """parse_batch over ``data``: entries tile the consumed bytes, their
    number is bounded by the "8=FIX" in it, the tail is incomplete."""
    batch = (parser or codec.Parser()).parse_batch(data)
    status, lengths = list(batch.status), list(batch.lengths)
    assert len(status) <= 2 * data.count(b"8=FIX") + 1
    assert all(n > 0 for n in lengths) and sum(lengths) == batch.consumed <= len(data)
    assert set(status) <= {0, 2, 3}
    return batch


@given(st.binary(max_size=600))
@example(b"")
@example(b"8=FIX")
@example(b"8=FIX.4.4\x019=")
@example(b"8=FIX.4.4\x019=0\x0110=000\x01")
@example(b"8=FIX.4.4\x019=-5\x0135=0\x0110=000\x01")
@example(b"8=FIX.4.4\x019=999999999\x01")
@example(b"8=FIX.4.4\x019=9999999999\x01")
@example(b"\x00" * 64 + b"8=FIX.4.")
def test_arbitrary_bytes(data):
    check_outcome(data, codec.parse)
    check_outcome(data, codec.Parser(max_body_length=32).parse)
    check_batch(data)


def body_of(raw):
    start = raw.index(b"\x01", raw.index(b"\x019=") + 1) + 1
    return raw[start:raw.rindex(b"10=")]


@given(st.sampled_from(SEEDS), st.data())
def test_body_length_and_checksum_lies(seed, data):
    """A BodyLength or CheckSum that lies is garbled or incomplete, never a
    Message: only the true BodyLength in digits (leading zeros allowed) with
    the true CheckSum in three digits parses."""
    body = body_of(seed)
    n = len(body)
    length = data.draw(st.one_of(
        st.integers(0, n + 40).filter(lambda v: v != n),
        st.sampled_from([10**8, 10**9 - 1, 10**9, 2**31, 2**63])).map(str)
        | st.sampled_from([f"0{n}", f"+{n}", f"-{n}", f"{n} ", "", "x", f"{n}.0"]))
    head = b"8=FIX.4.4\x019=" + length.encode() + b"\x01"
    good = fixmsg.checksum(head + body)
    total = data.draw(st.sampled_from([f"{good:03d}", f"{(good + 1) % 256:03d}", str(good),
                                       f"{good + 256}", "-01", "abc", ""]))
    raw = head + body + b"10=" + total.encode() + b"\x01"
    try:
        codec.parse(raw)
    except (IncompleteMessage, GarbledMessage):
        pass
    else:
        assert length.isdigit() and int(length) == n and total == f"{good:03d}", \
            f"BodyLength {length!r} CheckSum {total!r} parsed"
    # the stream moves on to the next message
    batch = check_batch(raw + seed)
    assert list(batch.status)[-1] == 0 and batch.consumed == len(raw + seed)
    assert batch.message(len(batch) - 1).raw == seed


def test_checksum_above_255_is_garbled():
    """CheckSum (10) is 000-255: the true sum plus 256 is a lie."""
    seed = SEEDS[0]
    good = int(seed[-4:-1])
    for total in (good + 256, good + 512, good + 768):
        if total > 999:
            continue
        raw = seed[:-4] + b"%03d\x01" % total
        with pytest.raises(GarbledMessage) as e:
            codec.parse(raw)
        assert e.value.why == 3                     # G_CHECKSUM


# Every numeric type of the dictionary, with hostile values.
HOSTILE_NUMBERS = ["0", "-0", "-1", "+1", "00", "1e30", "1E5", "NaN", "inf", "-", ".", "1.",
                   ".5", "1.2.3", "0x1F", "99999999999999999999", "9223372036854775807",
                   "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
                   "0." + "0" * 40 + "1", "1" * 300, " 1", "1 ", "١", "\x00", "1\x002"]


def numeric_fields():
    """(type, tag) pairs covering every numeric FIX type of the dictionary."""
    by_type = {}
    for tag, (_name, typ) in sorted(FIELDS.items()):
        if typ in {"INT", "SEQNUM", "LENGTH", "NUMINGROUP", "QTY", "PRICE", "PRICEOFFSET",
                   "AMT", "FLOAT", "PERCENTAGE", "DAYOFMONTH", "TAGNUM"} \
                and tag not in HEADER_TAGS | TRAILER_TAGS and tag not in ENUMS:
            by_type.setdefault(typ, tag)
    return sorted(by_type.items())


NUMERIC_FIELDS = numeric_fields() + [("QTY", 38), ("PRICE", 44), ("AMT", 152), ("NUMINGROUP", 453)]


@given(st.sampled_from(NUMERIC_FIELDS), st.sampled_from(HOSTILE_NUMBERS) | st.integers(
    -2**70, 2**70).map(str) | decimals().map(lambda d: d[0] + "0" * 20 + "1"))
def test_hostile_numbers_in_every_numeric_type(field, value):
    """A Message whose typed getters give the exact value or FieldValueError,
    or InvalidMessage 5/6/16 naming the tag; never a wrong number."""
    typ, tag = field
    value = value.encode("utf-8")
    raw = fixmsg.build(fixmsg.new_order_single((tag, value)) if tag not in (38, 44, 1)
                       else fixmsg.replace(fixmsg.new_order_single(), tag, value))
    try:
        m = codec.parse(raw)
    except InvalidMessage as e:
        assert e.reason in (0, 5, 6, 13, 16) and e.ref_tag in (tag, 0), (e.reason, e.ref_tag)
        return
    except (GarbledMessage, IncompleteMessage):
        assert b"\x01" in value
        return
    assert m.get(tag) == value
    getters = [lambda: m.get_int(tag)] if typ in {"INT", "SEQNUM", "LENGTH", "NUMINGROUP",
                                                  "DAYOFMONTH", "TAGNUM"} else \
        [lambda: m.get_qty(tag), lambda: m.get_price(tag), lambda: m.get_fixed(tag, 0)]
    for get in getters:
        try:
            v = get()
        except codec.FieldValueError:
            continue
        assert INT64_MIN <= v <= INT64_MAX
        if typ in {"INT", "SEQNUM", "LENGTH", "NUMINGROUP", "DAYOFMONTH", "TAGNUM"}:
            assert v == int(value)


@given(st.integers(0, 6), st.integers(-3, 70000) | st.sampled_from([99999, 2**31, 10**18]))
@example(2, 3)
@example(2, 1)
@example(0, 0)
@example(1, 65536)
def test_repeating_groups_with_lying_counts(entries, count):
    """NoPartyIDs (453) counts ``count`` and ``entries`` follow: exactly one
    of a Message with that many entries or InvalidMessage 16 (or 6 for a
    negative count) naming 453."""
    fields = [(453, count)] + [f for i in range(entries)
                               for f in ((448, f"P{i}"), (447, "D"), (452, 11))]
    raw = fixmsg.build(fixmsg.new_order_single(*fields))
    try:
        m = codec.parse(raw)
    except InvalidMessage as e:
        assert count != entries
        assert (e.reason, e.ref_tag) in ((16, 453), (6, 453)), (e.reason, e.ref_tag)
        return
    assert count == entries
    assert [e.get_str(448) for e in m.group(453)] == [f"P{i}" for i in range(entries)]


def test_empty_group_followed_by_an_entry():
    """NoPartyIDs (453) = 0 and then a Parties entry: the count lies."""
    raw = fixmsg.build(fixmsg.new_order_single((453, 0), (448, "P"), (447, "D"), (452, 11)))
    with pytest.raises(InvalidMessage) as e:
        codec.parse(raw)
    assert (e.value.reason, e.value.ref_tag) == (16, 453)
    # a member that is not the delimiter first: out of order, as for a counted group
    raw = fixmsg.build(fixmsg.new_order_single((453, 0), (447, "D")))
    with pytest.raises(InvalidMessage) as e:
        codec.parse(raw)
    assert (e.value.reason, e.value.ref_tag) == (15, 447)
    # an empty group followed by other fields is fine
    m = codec.parse(fixmsg.build(fixmsg.new_order_single((453, 0), (58, "x"))))
    assert m.group(453) == [] and m.get_str(58) == "x"


@given(st.sampled_from(SEEDS), st.data())
def test_embedded_soh_and_nul(seed, data):
    """SOH or NUL put into a field value, body reframed: a Message (a NUL is
    a byte like any other; a split field must still be valid fields) or a
    codec error; a NUL never cuts a value short."""
    body = body_of(seed)
    starts = [i + 1 for i, b in enumerate(body) if b == 0x3D]      # after each '='
    at = data.draw(st.sampled_from(starts))
    byte = data.draw(st.sampled_from([b"\x00", b"\x01", b"\x00\x01", b"\x01\x01", b"\x01="]))
    raw = reframe(body[:at] + byte + body[at:])
    m = check_outcome(raw, codec.parse)
    if m is not None and byte == b"\x00":
        assert any(b"\x00" in v for _t, v in m.fields())


@given(st.integers(1, 200_000), st.sampled_from([58, 5001, 11]))
@example(65_536, 58)
def test_very_long_fields(size, tag):
    """A long value is read whole when BodyLength allows it, and a message
    over max_body_length is dropped as garbled (G_TOO_LONG), not buffered."""
    value = "x" * size
    raw = fixmsg.build(fixmsg.new_order_single((tag, value)) if tag != 11
                       else fixmsg.replace(fixmsg.new_order_single(), 11, value))
    body_len = len(body_of(raw))
    m = codec.Parser(max_body_length=300_000).parse(raw)
    assert m.get_str(tag) == value
    limited = codec.Parser(max_body_length=65_536)
    if body_len > 65_536:
        with pytest.raises(GarbledMessage) as e:
            limited.parse(raw)
        assert e.value.why == 4                     # G_TOO_LONG
        batch = check_batch(raw + SEEDS[1], limited)
        assert list(batch.status)[-1] == 0 and batch.consumed == len(raw) + len(SEEDS[1])
    else:
        assert limited.parse(raw).get_str(tag) == value


def stream(parser, data, cuts):
    """``data`` fed to ``parser.parse_batch`` in chunks ending at ``cuts``,
    each appended to the unconsumed tail, as the server reads: the (status,
    bytes) of every entry and the tail left."""
    out, buf, pos = [], b"", 0
    for cut in sorted(set(cuts)) + [len(data)]:
        if cut <= pos:
            continue
        buf += data[pos:cut]
        pos = cut
        batch = parser.parse_batch(buf)
        offsets, lengths, status = list(batch.offsets), list(batch.lengths), list(batch.status)
        for i in range(len(batch)):
            assert lengths[i] > 0
            out.append((status[i], buf[offsets[i]:offsets[i] + lengths[i]]))
        buf = buf[batch.consumed:]
        assert len(buf) <= pos
    return out, buf


@given(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=4), st.data())
def test_streaming_in_random_chunks_matches_one_batch(messages, data):
    """Valid messages cut anywhere come out whole, the same as from one batch."""
    whole = b"".join(messages)
    cuts = data.draw(st.lists(st.integers(0, len(whole)), max_size=12))
    out, tail = stream(codec.Parser(), whole, cuts)
    assert tail == b""
    assert out == [(0, m) for m in messages]


@given(st.binary(max_size=300) | corrupted() | corrupted_body(), st.data())
@example(b"8=FIX.4.4\x019=", None)
@example(b"8=FIX.4.4\x019=60000\x01", None)
@example(b"8=FIX.4.4\x019=100\x0135=D\x01", None)
def test_valid_message_after_garbage_is_found(garbage, data):
    """Garbage, then three copies of a valid message, in random chunks: the
    last copy is always found whole (a frame that starts in the garbage ends,
    BodyLength bounded by max_body_length, before it) and nothing is left."""
    valid = SEEDS[2]
    whole = garbage + valid * 3
    cuts = data.draw(st.lists(st.integers(0, len(whole)), max_size=16)) if data else []
    parser = codec.Parser(max_body_length=len(valid))
    out, tail = stream(parser, whole, cuts)
    assert tail == b""
    assert out[-1] == (0, valid)
    assert sum(1 for s, m in out if s == 0 and m == valid) >= 2
    assert all(s in (0, 2, 3) for s, _m in out)
    # chunked or not, the same frames (garbage may be dropped in more pieces)
    frames = [e for e in out if e[0] != 2]
    assert frames == [e for e in stream(codec.Parser(max_body_length=len(valid)), whole, [])[0]
                      if e[0] != 2]
