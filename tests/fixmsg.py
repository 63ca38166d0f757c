"""Build raw FIX 4.4 test messages by hand, independently of the codec.

A message is a list of (tag, value) pairs for everything between BodyLength
and CheckSum; :func:`build` adds ``8=FIX.4.4``, a correct ``9=`` and a
correct ``10=``, so a test message frames and only what the test put in the
fields can be wrong. Tags and values may be int, str or bytes (a tag may be
any text, e.g. ``"abc"`` or ``"011"``, to test invalid tags).
"""

from __future__ import annotations

import calendar
import datetime as _dt

SOH = b"\x01"

#: A SendingTime / TransactTime used by the sample messages.
TS = "20240102-03:04:05.678"


def as_bytes(v) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, bool):
        return b"Y" if v else b"N"
    return str(v).encode("latin-1")


def encode_fields(fields) -> bytes:
    """``tag=value<SOH>`` for each pair, in order."""
    return b"".join(as_bytes(t) + b"=" + as_bytes(v) + SOH for t, v in fields)


def checksum(data: bytes) -> int:
    """FIX CheckSum: the byte sum modulo 256."""
    return sum(data) % 256


def build(fields, *, begin: str = "FIX.4.4", body_length: int | None = None,
          check_sum: int | None = None) -> bytes:
    """A framed message: ``8=begin|9=len|<fields>10=sum|``.

    ``body_length`` / ``check_sum`` override the correct values (to build a
    garbled message on purpose).
    """
    body = encode_fields(fields)
    n = len(body) if body_length is None else body_length
    head = b"8=" + as_bytes(begin) + SOH + b"9=" + str(n).encode() + SOH
    s = checksum(head + body) if check_sum is None else check_sum
    return head + body + b"10=%03d" % s + SOH


def split(raw: bytes) -> list[tuple[int, bytes]]:
    """Every field of ``raw`` as (tag, value), 8, 9 and 10 included (no DATA fields)."""
    assert raw.endswith(SOH)
    out = []
    for part in raw[:-1].split(SOH):
        tag, _, value = part.partition(b"=")
        out.append((int(tag), value))
    return out


def body_fields(raw: bytes) -> list[tuple[int, bytes]]:
    """The fields of ``raw`` without BeginString, BodyLength and CheckSum."""
    return [(t, v) for t, v in split(raw) if t not in (8, 9, 10)]


def header(msg_type: str = "D", seq: int = 1, sender: str = "CLIENT1",
           target: str = "FASTCORE", sending_time: str = TS) -> list:
    """The standard header fields after BeginString/BodyLength."""
    return [(35, msg_type), (49, sender), (56, target), (34, seq), (52, sending_time)]


def new_order_single(*extra, cl_ord_id: str = "ORD1", **kw) -> list:
    """A valid NewOrderSingle (35=D): ESZ4 buy 10 @ 4512.25 limit, then ``extra``."""
    return header("D", **kw) + [
        (11, cl_ord_id), (1, "ACC1"), (55, "ESZ4"), (54, "1"), (60, TS),
        (38, "10"), (40, "2"), (44, "4512.25"), (59, "0"),
    ] + list(extra)


def execution_report(*extra, **kw) -> list:
    """A valid ExecutionReport (35=8), then ``extra``."""
    return header("8", sender="FASTCORE", target="CLIENT1", **kw) + [
        (37, "O1"), (11, "ORD1"), (17, "E1"), (150, "0"), (39, "0"), (55, "ESZ4"),
        (54, "1"), (38, "10"), (40, "2"), (44, "4512.25"), (151, "10"), (14, "0"),
        (6, "0"), (60, TS),
    ] + list(extra)


def heartbeat(*extra, **kw) -> list:
    return header("0", **kw) + list(extra)


def parties(*entries) -> list:
    """A Parties block (453): each entry is (PartyID, source, role[, [(subid, subtype)...]])."""
    out = [(453, len(entries))]
    for entry in entries:
        party_id, source, role = entry[:3]
        out += [(448, party_id), (447, source), (452, role)]
        if len(entry) > 3:
            subs = entry[3]
            out.append((802, len(subs)))
            for sub_id, sub_type in subs:
                out += [(523, sub_id), (803, sub_type)]
    return out


def replace(fields, tag, value) -> list:
    """``fields`` with the first ``tag`` given ``value``."""
    out = list(fields)
    for i, (t, _v) in enumerate(out):
        if t == tag:
            out[i] = (t, value)
            return out
    raise KeyError(tag)


def remove(fields, tag) -> list:
    """``fields`` without ``tag`` (every occurrence)."""
    return [(t, v) for t, v in fields if t != tag]


def ns(year, month, day, hour=0, minute=0, second=0, nanos=0) -> int:
    """A UTC time as integer nanoseconds since the epoch (computed by calendar)."""
    return calendar.timegm((year, month, day, hour, minute, second)) * 10**9 + nanos


def format_timestamp(t_ns: int, decimals: int) -> str:
    """UTCTimestamp text of ``t_ns`` with 0, 3, 6 or 9 decimals (truncated)."""
    secs, frac = divmod(t_ns, 10**9)
    d = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=secs)
    s = d.strftime("%Y%m%d-%H:%M:%S")
    if decimals:
        s += "." + f"{frac:09d}"[:decimals]
    return s


def format_fixed(v: int, digits: int) -> str:
    """The shortest exact decimal text of fixed-point ``v`` / 10**digits."""
    sign = "-" if v < 0 else ""
    ip, fp = divmod(abs(v), 10**digits)
    if not fp:
        return f"{sign}{ip}"
    return f"{sign}{ip}." + f"{fp:0{digits}d}".rstrip("0")
