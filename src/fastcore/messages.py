"""The messages of the embedding API and the binary port, as msgspec Structs.

Each is a FIX 4.4 application message the engine takes, with the FIX tag
numbers as encoded field names: ``msgspec.msgpack.encode(msg)`` gives a map
keyed "11", "55", ... and ``msgspec.msgpack.decode(data, type=Request)``
reads any of them (the "type" key holds the MsgType). Quantities and prices
are decimal strings or ints (a Decimal works too when building a Struct), as
exact as on the wire.

    engine.submit(NewOrderSingle(cl_ord_id="A1", symbol="ESZ6", side="1",
                                 order_qty="5", price="5000.25"), "PM1", now)
"""

from __future__ import annotations

import time

import msgspec

Number = str | int       # msgspec allows one str-like type in a union


def _f(tag: int, default=msgspec.NODEFAULT):
    return msgspec.field(name=str(tag), default=default)


class NewOrderSingle(msgspec.Struct, tag="D", kw_only=True):
    cl_ord_id: str = _f(11)
    symbol: str = _f(55)
    side: str = _f(54)
    order_qty: Number | None = _f(38, None)
    cash_order_qty: Number | None = _f(152, None)
    ord_type: str = _f(40, "2")
    price: Number | None = _f(44, None)
    time_in_force: str = _f(59, "0")
    exec_inst: str | None = _f(18, None)
    account: str | None = _f(1, None)
    currency: str | None = _f(15, None)
    poss_resend: str | None = _f(97, None)
    transact_time: str | None = _f(60, None)   # default: the receive time


class OrderCancelRequest(msgspec.Struct, tag="F", kw_only=True):
    cl_ord_id: str = _f(11)
    orig_cl_ord_id: str = _f(41)
    symbol: str = _f(55)
    side: str = _f(54)
    order_qty: Number | None = _f(38, None)
    account: str | None = _f(1, None)
    transact_time: str | None = _f(60, None)


class OrderCancelReplaceRequest(msgspec.Struct, tag="G", kw_only=True):
    cl_ord_id: str = _f(11)
    orig_cl_ord_id: str = _f(41)
    symbol: str = _f(55)
    side: str = _f(54)
    order_qty: Number = _f(38)
    ord_type: str = _f(40, "2")
    price: Number | None = _f(44, None)
    time_in_force: str = _f(59, "0")
    account: str | None = _f(1, None)
    transact_time: str | None = _f(60, None)


class OrderStatusRequest(msgspec.Struct, tag="H", kw_only=True):
    cl_ord_id: str = _f(11)
    symbol: str = _f(55)
    side: str = _f(54)


Request = NewOrderSingle | OrderCancelRequest | OrderCancelReplaceRequest | OrderStatusRequest

MESSAGE_TYPES = {NewOrderSingle: "D", OrderCancelRequest: "F",
                 OrderCancelReplaceRequest: "G", OrderStatusRequest: "H"}


def transact_time(ns: int) -> str:
    """A UTCTimestamp (milliseconds) for ns since the epoch."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1_000_000:03d}"
