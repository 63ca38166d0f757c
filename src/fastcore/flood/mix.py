"""The order flow of a load run, generated from a seed and encoded before it starts.

    stream = build("PM1", "FASTCORE", count=10_000, mix=parse_mix("new=50,cancel=20,replace=20,market=10"),
                   seed=1, prefix="r1.", symbol="ESZ6", tick=Decimal("0.25"), mid=Decimal("5000"),
                   first_seq=2, sending_time=now_ns)
    stream.data, stream.offsets, stream.kinds      # bytes back to back, where each starts, its kind

Kinds: **new** — a day limit order that rests, a few ticks away from the mid
on a random side; **cancel** — of one of the session's resting orders;
**replace** — a new price and quantity for one of them; **market** — an IOC
limit order through the mid that trades against what rests (other sessions'
orders, so the books match). A cancel or replace whose order has gone (filled
by another session's market order) is answered with an OrderCancelReject:
that is its answer. With no resting order to cancel or replace, a new order
is sent instead. ClOrdIDs are ``prefix`` and the message's index.
"""

from __future__ import annotations

import dataclasses
import math
import random
from decimal import Decimal

import numpy as np

from fastcore.codec import Encoder

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


def build(comp_id: str, target: str, count: int, mix: dict[str, float], seed: int,
          prefix: str, symbol: str, tick: Decimal, mid: Decimal, first_seq: int,
          sending_time: int, max_qty: int = 10) -> Stream:
    """``count`` messages of session ``comp_id`` → ``target``, numbered from
    ``first_seq``, all with SendingTime ``sending_time`` (ns since the epoch)."""
    rng = random.Random(f"{seed}:{comp_id}")
    enc = Encoder(comp_id, target)
    kinds_list, weights = list(KINDS), [mix[k] for k in KINDS]
    resting: list[tuple[str, str]] = []          # (current ClOrdID, side) of live orders
    parts: list[bytes] = []
    kinds = np.zeros(count, dtype=np.uint8)
    for i in range(count):
        clordid = f"{prefix}{i}"
        kind = rng.choices(kinds_list, weights)[0]
        if kind in ("cancel", "replace") and not resting:
            kind = "new"
        if kind == "new":
            side = rng.choice("12")
            away = tick * rng.randint(1, 20)
            px = mid - away if side == "1" else mid + away
            fields = [(11, clordid), (55, symbol), (54, side), (38, rng.randint(1, max_qty)),
                      (40, "2"), (44, str(px)), (59, "0"), (60, TRANSACT_TIME)]
            resting.append((clordid, side))
            msg_type = "D"
        elif kind == "market":
            side = rng.choice("12")
            px = mid + tick * 25 if side == "1" else mid - tick * 25
            fields = [(11, clordid), (55, symbol), (54, side), (38, rng.randint(1, max_qty)),
                      (40, "2"), (44, str(px)), (59, "3"), (60, TRANSACT_TIME)]
            msg_type = "D"
        else:
            k = rng.randrange(len(resting))
            orig, side = resting[k]
            if kind == "cancel":
                resting[k] = resting[-1]
                resting.pop()
                fields = [(11, clordid), (41, orig), (55, symbol), (54, side),
                          (38, max_qty), (60, TRANSACT_TIME)]
                msg_type = "F"
            else:
                away = tick * rng.randint(1, 20)
                px = mid - away if side == "1" else mid + away
                resting[k] = (clordid, side)
                fields = [(11, clordid), (41, orig), (55, symbol), (54, side),
                          (38, rng.randint(1, max_qty)), (40, "2"), (44, str(px)), (59, "0"),
                          (60, TRANSACT_TIME)]
                msg_type = "G"
        kinds[i] = KINDS.index(kind)
        parts.append(enc.encode(msg_type, fields, first_seq + i, sending_time))
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    return Stream(b"".join(parts), offsets, kinds)
