"""Codec benchmarks: parse, batch parse and encode, each fastcore figure
grouped with its peers. Budgets: benchmarks/budgets.toml, table [codec];
checked by ``tools/bench_check codec``.

Every benchmark checks its result once, outside the timed region, so a
figure is never that of a call that fails or returns something else.
Peers are given their fastest fair path: inputs prepared outside the timed
region (QuickFIX gets a str, as it takes no bytes), objects reused where the
library allows it.
"""

import msgspec
import pytest
import quickfix
import simplefix

from fastcore import codec


# ---- parse one message, six fields out ---------------------------------------

class OrderMap(msgspec.Struct):
    """The six fields a parse returns, as msgspec decodes them (a map)."""
    cl_ord_id: str
    symbol: str
    side: str
    order_qty: int
    ord_type: str
    price: int


class OrderArray(msgspec.Struct, array_like=True):
    """The same as a msgpack array (msgspec's faster form)."""
    cl_ord_id: str
    symbol: str
    side: str
    order_qty: int
    ord_type: str
    price: int


@pytest.mark.benchmark(group="codec.parse")
def test_parse_fastcore_decoder(per_call, paired, order):
    """Decoder.decode(raw): frame, validate, convert the six fields, one call."""
    decoder = codec.Decoder(order.tags)
    assert decoder.decode(order.raw) == order.values
    assert per_call(decoder.decode, order.raw) == order.values
    raw = msgspec.msgpack.encode(OrderArray(*order.values))
    paired("test_parse_msgspec_array", (decoder.decode, (order.raw,)),
           (msgspec.msgpack.Decoder(OrderArray).decode, (raw,)))


@pytest.mark.benchmark(group="codec.parse")
def test_parse_fastcore_parser(per_call, order):
    """Parser.parse(raw) and six typed getters."""
    parser = codec.Parser()

    def parse(raw):
        m = parser.parse(raw)
        return (m.get_str(11), m.get_str(55), m.get_char(54), m.get_qty(38),
                m.get_char(40), m.get_price(44))

    assert parse(order.raw) == order.values
    assert per_call(parse, order.raw) == order.values


@pytest.mark.benchmark(group="codec.parse")
def test_parse_msgspec_array(per_call, order):
    """msgspec msgpack decode of the same order into an array_like Struct."""
    raw = msgspec.msgpack.encode(OrderArray(*order.values))
    decoder = msgspec.msgpack.Decoder(OrderArray)
    assert msgspec.structs.astuple(decoder.decode(raw)) == order.values
    per_call(decoder.decode, raw)


@pytest.mark.benchmark(group="codec.parse")
def test_parse_msgspec_map(per_call, order):
    """msgspec msgpack decode of the same order into a (map) Struct."""
    raw = msgspec.msgpack.encode(OrderMap(*order.values))
    decoder = msgspec.msgpack.Decoder(OrderMap)
    assert msgspec.structs.astuple(decoder.decode(raw)) == order.values
    per_call(decoder.decode, raw)


@pytest.mark.benchmark(group="codec.parse")
def test_parse_simplefix(per_call, order):
    """simplefix: append_buffer + get_message + six get() (bytes values)."""
    parser = simplefix.FixParser()

    def parse(raw):
        parser.append_buffer(raw)
        m = parser.get_message()
        return (m.get(11), m.get(55), m.get(54), m.get(38), m.get(40), m.get(44))

    assert parse(order.raw) == tuple(dict(order.fields)[t] for t in order.tags)
    per_call(parse, order.raw)


@pytest.mark.benchmark(group="codec.parse")
def test_parse_quickfix_set_string(per_call, order):
    """QuickFIX: one reused Message, setString(str) + six getField(tag)."""
    msg = quickfix.Message()

    def parse(s):
        msg.setString(s)
        return (msg.getField(11), msg.getField(55), msg.getField(54),
                msg.getField(38), msg.getField(40), msg.getField(44))

    text = order.raw.decode("ascii")
    assert parse(text) == tuple(dict(order.fields)[t].decode() for t in order.tags)
    per_call(parse, text)


@pytest.mark.benchmark(group="codec.parse")
def test_parse_quickfix_constructor(per_call, order):
    """QuickFIX: quickfix.Message(str) + six getField(tag)."""
    def parse(s):
        msg = quickfix.Message(s)
        return (msg.getField(11), msg.getField(55), msg.getField(54),
                msg.getField(38), msg.getField(40), msg.getField(44))

    text = order.raw.decode("ascii")
    assert parse(text) == tuple(dict(order.fields)[t].decode() for t in order.tags)
    per_call(parse, text)


# ---- batch: every message of one buffer -------------------------------------

@pytest.mark.benchmark(group="codec.batch")
def test_batch_fastcore(per_batch, batch_buffer, nos):
    """Parser.parse_batch over one buffer of N reference messages (framing,
    checksum, dictionary validation of every field)."""
    parser = codec.Parser()
    n = len(batch_buffer) // len(nos)
    b = parser.parse_batch(batch_buffer)
    assert b.count == n and b.consumed == len(batch_buffer) and not any(b.status)
    b = per_batch(parser.parse_batch, batch_buffer, n)
    assert b.count == n


@pytest.mark.benchmark(group="codec.batch")
def test_batch_csplit(per_batch, batch_buffer, nos, csplit):
    """benchmarks/_csplit.c: split on '=' and SOH, frame on 10=, nothing else."""
    n = len(batch_buffer) // len(nos)
    assert csplit(batch_buffer) == n
    assert csplit.offsets()[n - 1] == (n - 1) * len(nos)
    assert per_batch(csplit, batch_buffer, n) == n


# ---- encode an ExecutionReport -----------------------------------------------

SENDING_TIME = 1710513000123000000          # 2024-03-15 14:30:00.123 UTC, ns
ER_VALUES = dict(
    order_id="FC-0000000042", cl_ord_id="ORD-00000001", exec_id="FC-E-000000000107",
    exec_type="F", ord_status="1", account="ACCT-001", symbol="ESM4", side="1",
    order_qty=10 * 10**4, ord_type="2", price=512325 * 10**6, time_in_force="0",
    last_qty=4 * 10**4, last_px=512325 * 10**6, leaves_qty=6 * 10**4, cum_qty=4 * 10**4,
    avg_px=512325 * 10**6, transact_time=SENDING_TIME,
)


class _ERFields:
    """The header values the encoder writes and the report's own fields."""
    sender_comp_id: str
    target_comp_id: str
    msg_seq_num: int
    sending_time: int
    order_id: str
    cl_ord_id: str
    exec_id: str
    exec_type: str
    ord_status: str
    account: str
    symbol: str
    side: str
    order_qty: int
    ord_type: str
    price: int
    time_in_force: str
    last_qty: int
    last_px: int
    leaves_qty: int
    cum_qty: int
    avg_px: int
    transact_time: int


ERArray = msgspec.defstruct("ERArray", list(_ERFields.__annotations__.items()), array_like=True)
ERMap = msgspec.defstruct("ERMap", list(_ERFields.__annotations__.items()))
ER_HEADER = dict(sender_comp_id="FASTCORE", target_comp_id="CLIENT01", msg_seq_num=12346,
                 sending_time=SENDING_TIME)


@pytest.mark.benchmark(group="codec.encode")
def test_encode_fastcore(per_call, paired):
    """Encoder.execution_report: a partial fill, 25 fields, 264 bytes."""
    enc = codec.Encoder("FASTCORE", "CLIENT01")
    er = codec.ExecutionReport(has_price=True, has_last=True, **ER_VALUES)
    raw = enc.execution_report(er, 12346, SENDING_TIME)
    m = codec.parse(raw)
    assert m.msg_type == "8" and m.get_price(31) == ER_VALUES["last_px"]
    assert m.get_qty(151) == ER_VALUES["leaves_qty"] and m.get_time(52) == SENDING_TIME
    assert per_call(enc.execution_report, er, 12346, SENDING_TIME) == raw
    paired("test_encode_msgspec_array", (enc.execution_report, (er, 12346, SENDING_TIME)),
           (msgspec.msgpack.Encoder().encode, (ERArray(**ER_HEADER, **ER_VALUES),)))


@pytest.mark.benchmark(group="codec.encode")
def test_encode_msgspec_array(per_call):
    """msgspec msgpack encode of an array_like Struct of the same fields and values."""
    enc = msgspec.msgpack.Encoder()
    s = ERArray(**ER_HEADER, **ER_VALUES)
    assert msgspec.msgpack.decode(enc.encode(s), type=ERArray) == s
    per_call(enc.encode, s)


@pytest.mark.benchmark(group="codec.encode")
def test_encode_msgspec_map(per_call):
    """msgspec msgpack encode of a (map) Struct of the same fields and values."""
    enc = msgspec.msgpack.Encoder()
    s = ERMap(**ER_HEADER, **ER_VALUES)
    assert msgspec.msgpack.decode(enc.encode(s), type=ERMap) == s
    per_call(enc.encode, s)
