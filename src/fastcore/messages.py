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
from typing import Any

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


# ---- the msgspec port's session frames -------------------------------------------
#
# A frame is a 4-byte big-endian length and a msgpack map; "type" names it.
# A client logs on first (a user, or an operator), then sends orders (the
# Structs above) or, as an operator, commands; the server answers with Ack or
# Refused (matching ``id``) and sends each FIX message for the user as a Report.

class Logon(msgspec.Struct, tag="logon", kw_only=True):
    user: str                         # a configured user, or an operator's name
    password: str = ""
    role: str = "trader"              # "trader" or "operator"


class Logout(msgspec.Struct, tag="logout", kw_only=True):
    text: str = ""


class Act(msgspec.Struct, tag="act", kw_only=True):
    """A sell-side command (scenario-format.md's ``act``), for operators."""
    command: str
    args: dict[str, Any] = {}
    id: int = 0


class Reset(msgspec.Struct, tag="reset", kw_only=True):
    """A fresh engine with ``config`` merged over the server's (operators
    allowed to reset); the users and sessions stay as they are."""
    config: dict = {}
    id: int = 0


class Ack(msgspec.Struct, tag="ack", kw_only=True):
    id: int = 0
    text: str = ""


class Refused(msgspec.Struct, tag="refused", kw_only=True):
    id: int = 0
    text: str


class Report(msgspec.Struct, tag="report", kw_only=True):
    """A FIX message the engine sent to ``to``: MsgType, MsgSeqNum, and its
    body fields (tag → value, header and trailer left out)."""
    to: str
    msg_type: str
    seq: int
    fields: dict[str, str]


Inbound = NewOrderSingle | OrderCancelRequest | OrderCancelReplaceRequest | \
    OrderStatusRequest | Logon | Logout | Act | Reset
Outbound = Ack | Refused | Report
