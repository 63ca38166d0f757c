"""The order flow of a load run, generated from a seed and encoded before it starts.

    stream = build("PM1", "FASTCORE", count=10_000, mix=parse_mix("new=50,cancel=20,replace=20,market=10"),
                   seed=1, prefix="r1.", symbol="ESZ6", tick=Decimal("0.25"), mid=Decimal("5000"),
                   first_seq=2, sending_time=now_ns)
    stream.data, stream.offsets, stream.kinds      # bytes back to back, where each starts, its kind
    build_msgspec("PM1", 10_000, mix, 1, "r1.", "ESZ6", Decimal("0.25"), Decimal("5000"))
                                                   # the same orders as msgspec port frames

Kinds: **new** — a day limit order that rests, a few ticks away from the mid
on a random side; **cancel** — of one of the session's resting orders;
**replace** — a new price and quantity for one of them; **market** — an IOC
limit order through the mid that trades against what rests (other sessions'
orders, so the books match). A cancel or replace whose order has gone (filled
by another session's market order) is answered with an OrderCancelReject:
that is its answer. With no resting order to cancel or replace, a new order
is sent instead. ClOrdIDs are ``prefix`` and the message's index.

``orders`` draws the flow from the seed (and the session's name), whatever
the protocol; ``build`` encodes it as FIX messages, ``build_msgspec`` as
frames of fastcore's msgspec port, so both protocols send the same orders.
"""

from __future__ import annotations

import dataclasses
import math
import random
import struct
from decimal import Decimal
from typing import Iterator

import msgspec
import numpy as np

from fastcore.codec import Encoder
from fastcore.messages import NewOrderSingle, OrderCancelReplaceRequest, OrderCancelRequest

KINDS = ("new", "cancel", "replace", "market")
TRANSACT_TIME = "20261121-09:30:00"          # TransactTime (60) of every order: not timed


def parse_mix(text: str) -> dict[str, float]:
    """``"new=50,cancel=20,replace=20,market=10"`` → weights by kind; ValueError
    naming what is wrong."""
    weights = dict.fromkeys(KINDS, 0.0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, value = part.partition("=")
        if not sep or kind.strip() not in weights:
            raise ValueError(f"{part!r}: the mix is kind=weight, kinds {', '.join(KINDS)}")
        try:
            weights[kind.strip()] = float(value)
        except ValueError:
            raise ValueError(f"{part!r}: {value!r} is not a number") from None
        if not math.isfinite(weights[kind.strip()]):          # nan, inf: random.choices fails
            raise ValueError(f"{part!r}: {value!r} is not a number")
        if weights[kind.strip()] < 0:
            raise ValueError(f"{part!r}: a weight is not negative")
    if weights["new"] + weights["market"] <= 0:
        raise ValueError("the mix needs new or market orders")
    return weights


@dataclasses.dataclass
class Stream:
    """One session's messages: ``data[offsets[i]:offsets[i + 1]]`` is message i."""
    data: bytes
    offsets: np.ndarray          # int64, count + 1
    kinds: np.ndarray            # uint8, index into KINDS


Order = tuple[int, str, list[tuple[int, str]]]     # kind (index into KINDS), MsgType, body fields


def orders(comp_id: str, count: int, mix: dict[str, float], seed: int, prefix: str,
           symbol: str, tick: Decimal, mid: Decimal, max_qty: int = 10) -> Iterator[Order]:
    """Session ``comp_id``'s ``count`` orders, whatever the protocol: each its
    kind, its MsgType and its body fields (tag, value as on the wire) in order.
    The same arguments give the same orders: a FIX run and a msgspec run of a
    seed send the same thing."""
    rng = random.Random(f"{seed}:{comp_id}")
    kinds_list, weights = list(KINDS), [mix[k] for k in KINDS]
    resting: list[tuple[str, str]] = []          # (current ClOrdID, side) of live orders
    for i in range(count):
        clordid = f"{prefix}{i}"
        kind = rng.choices(kinds_list, weights)[0]
        if kind in ("cancel", "replace") and not resting:
            kind = "new"
        if kind == "new":
            side = rng.choice("12")
            away = tick * rng.randint(1, 20)
            px = mid - away if side == "1" else mid + away
            fields = [(11, clordid), (55, symbol), (54, side), (38, str(rng.randint(1, max_qty))),
                      (40, "2"), (44, str(px)), (59, "0"), (60, TRANSACT_TIME)]
            resting.append((clordid, side))
            msg_type = "D"
        elif kind == "market":
            side = rng.choice("12")
            px = mid + tick * 25 if side == "1" else mid - tick * 25
            fields = [(11, clordid), (55, symbol), (54, side), (38, str(rng.randint(1, max_qty))),
                      (40, "2"), (44, str(px)), (59, "3"), (60, TRANSACT_TIME)]
            msg_type = "D"
        else:
            k = rng.randrange(len(resting))
            orig, side = resting[k]
            if kind == "cancel":
                resting[k] = resting[-1]
                resting.pop()
                fields = [(11, clordid), (41, orig), (55, symbol), (54, side),
                          (38, str(max_qty)), (60, TRANSACT_TIME)]
                msg_type = "F"
            else:
                away = tick * rng.randint(1, 20)
                px = mid - away if side == "1" else mid + away
                resting[k] = (clordid, side)
                fields = [(11, clordid), (41, orig), (55, symbol), (54, side),
                          (38, str(rng.randint(1, max_qty))), (40, "2"), (44, str(px)),
                          (59, "0"), (60, TRANSACT_TIME)]
                msg_type = "G"
        yield KINDS.index(kind), msg_type, fields


def build(comp_id: str, target: str, count: int, mix: dict[str, float], seed: int,
          prefix: str, symbol: str, tick: Decimal, mid: Decimal, first_seq: int,
          sending_time: int, max_qty: int = 10) -> Stream:
    """``count`` FIX messages of session ``comp_id`` → ``target``, numbered
    from ``first_seq``, all with SendingTime ``sending_time`` (ns since the epoch)."""
    enc = Encoder(comp_id, target)
    parts: list[bytes] = []
    kinds = np.zeros(count, dtype=np.uint8)
    for i, (kind, msg_type, fields) in enumerate(
            orders(comp_id, count, mix, seed, prefix, symbol, tick, mid, max_qty)):
        kinds[i] = kind
        parts.append(enc.encode(msg_type, fields, first_seq + i, sending_time))
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    return Stream(b"".join(parts), offsets, kinds)


# the msgspec port's Structs by MsgType, and each one's field names by tag
STRUCTS = {"D": NewOrderSingle, "F": OrderCancelRequest, "G": OrderCancelReplaceRequest}
_NAMES = {mt: {int(f.encode_name): f.name for f in msgspec.structs.fields(cls)
               if f.encode_name.isdigit()}
          for mt, cls in STRUCTS.items()}
FRAME_HEADER = struct.Struct(">I")          # a frame: its length (big-endian), its msgpack map
_ENCODER = msgspec.msgpack.Encoder()


def frame(msg: msgspec.Struct) -> bytes:
    """One frame of fastcore's msgspec port: the length, the msgpack map."""
    body = _ENCODER.encode(msg)
    return FRAME_HEADER.pack(len(body)) + body


def build_msgspec(comp_id: str, count: int, mix: dict[str, float], seed: int, prefix: str,
                  symbol: str, tick: Decimal, mid: Decimal, max_qty: int = 10) -> Stream:
    """The same orders as ``build`` for fastcore's msgspec port: each a whole
    frame (NewOrderSingle, OrderCancelRequest or OrderCancelReplaceRequest,
    the FIX tags' values as their fields')."""
    data = bytearray()
    offsets = np.zeros(count + 1, dtype=np.int64)
    kinds = np.zeros(count, dtype=np.uint8)
    for i, (kind, msg_type, fields) in enumerate(
            orders(comp_id, count, mix, seed, prefix, symbol, tick, mid, max_qty)):
        names = _NAMES[msg_type]
        msg = STRUCTS[msg_type](**{names[tag]: value for tag, value in fields})
        start = offsets[i] = len(data)
        data += b"\0\0\0\0"
        _ENCODER.encode_into(msg, data, -1)
        FRAME_HEADER.pack_into(data, start, len(data) - start - 4)
        kinds[i] = kind
    offsets[count] = len(data)
    return Stream(bytes(data), offsets, kinds)
