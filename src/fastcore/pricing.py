"""Average prices of an audit trail's fills, never comingling execution sources.

FIA's guidelines for the execution source code (tag 1031; seed 004): "trades
executed with different Execution Source Codes should not be comingled when
average pricing occurs". ``average_prices`` groups the fills standing in an
audit trail (``fastcore.auditfile``) by account, symbol, side and source, or
by fewer keys; when the keys leave "source" out and a group holds fills of
more than one code, it refuses (``CommingledSources``) rather than mix them.

    trail = auditfile.read("audit.bin")
    for row in pricing.average_prices(trail.records):
        print(row.account, row.symbol, row.side, row.source, row.fills, row.qty, row.avg_px)
    pricing.average_prices(trail.records, by=("account", "symbol"))  # may refuse

The fills standing are the trade records less the busted ones, with the
corrections applied (``live_fills``). A fill's account and symbol are its
order's texts when it was filled: after a replace, the "replaced" record's. A staged (care) order's fills mirror
its child orders' fills: the child's fill under the child order's account
(the desk's) and the mirror under the staged order's own account. Both are
fills of the trail, so both count, each under its own account.
"""

from __future__ import annotations

import decimal
from typing import Iterable

import msgspec

from fastcore.auditfile import Record
from fastcore.config import PX_DIGITS, QTY_DIGITS, decimal_text
from fastcore.errors import FastcoreError

KEYS = ("account", "symbol", "side", "source")
"""The keys fills may be grouped by, in the report's order."""


class CommingledSources(FastcoreError):
    """Average pricing refused: a group of fills holds more than one execution
    source code. ``group`` is the group's keys and values, ``sources`` the
    codes ("" for a fill without one)."""

    def __init__(self, group: dict[str, str], sources: tuple[str, ...]) -> None:
        where = ", ".join(f"{k} {v!r}" for k, v in group.items()) or "all fills"
        codes = ", ".join(s or "(none)" for s in sources)
        super().__init__(f"{where}: fills of execution source codes {codes} would be "
                         f"average-priced together; group by source")
        self.group = group
        self.sources = sources


class AveragePrice(msgspec.Struct, frozen=True):
    """One group's average price. The keys not grouped by are None.
    ``qty`` is the fills' total quantity, ``avg_px`` their average price
    (Σ qty·px / Σ qty, rounded half-even to 8 decimals) and ``notional``
    Σ qty·px, exactly; all decimal text."""
    account: str | None
    symbol: str | None
    side: str | None
    source: str | None
    fills: int
    qty: str
    avg_px: str
    notional: str


def _fixed(text: str, digits: int) -> int:
    return int(decimal.Decimal(text).scaleb(digits))


def live_fills(records: Iterable[Record]) -> list[Record]:
    """The fills standing: the "trade" records, in order, less those a
    "trade_cancel" (bust) took back; a fill a "trade_correct" changed
    carries the correction's qty, px and exec_id (a later bust or correction
    refers to that). Busts and corrections refer, per run and order, to the
    latest ExecID of a fill; one that refers to no standing fill changes
    nothing. A fill corrected to quantity 0 no longer stands. A fill's
    side and source are its order's when the trade record has none: those
    of the order's latest "in" or "replaced" record that has them.
    """
    fills: list[Record | None] = []
    at: dict[tuple[int, int, int], int] = {}      # (run, order_id, exec_id) -> index
    orders: dict[tuple[int, int], tuple[str, str]] = {}   # (run, order_id) -> side, source
    for r in records:
        if r.kind == "in" or r.event == "replaced":
            side, source = orders.get((r.run, r.order_id), ("", ""))
            orders[r.run, r.order_id] = (r.side or side, r.source or source)
        elif r.kind != "out":
            continue
        elif r.event == "trade":
            if not (r.side and r.source):
                side, source = orders.get((r.run, r.order_id), ("", ""))
                r = msgspec.structs.replace(r, side=r.side or side, source=r.source or source)
            at[r.run, r.order_id, r.exec_id] = len(fills)
            fills.append(r)
        elif r.event in ("trade_cancel", "trade_correct"):
            i = at.pop((r.run, r.order_id, r.exec_ref), None)
            if i is None:
                continue
            if r.event == "trade_cancel":
                fills[i] = None
            else:
                fills[i] = msgspec.structs.replace(fills[i], qty=r.qty, px=r.px,
                                                   exec_id=r.exec_id)
                at[r.run, r.order_id, r.exec_id] = i
    return [f for f in fills if f is not None and _fixed(f.qty, QTY_DIGITS)]


def _half_even(num: int, den: int) -> int:
    """num / den rounded half to even (den > 0)."""
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q % 2):
        q += 1
    return q


def average_prices(records: Iterable[Record],
                   by: Iterable[str] = KEYS) -> list[AveragePrice]:
    """The average price of the fills standing (``live_fills``) in each group
    of ``by`` (some of ``KEYS``), sorted by the keys. Without "source" in
    ``by``, a group with fills of different execution source codes raises
    ``CommingledSources``. A ``by`` naming no key prices all fills as one
    group; an unknown key raises ValueError.
    """
    by = tuple(by)
    unknown = [k for k in by if k not in KEYS]
    if unknown:
        raise ValueError(f"cannot group fills by {', '.join(unknown)}: "
                         f"the keys are {', '.join(KEYS)}")
    groups: dict[tuple, list] = {}     # key -> [fills, Σqty, Σqty·px, sources]
    for f in live_fills(records):
        key = tuple(getattr(f, k) if k in by else None for k in KEYS)
        g = groups.get(key)
        if g is None:
            g = groups[key] = [0, 0, 0, set()]
        qty = _fixed(f.qty, QTY_DIGITS)
        g[0] += 1
        g[1] += qty
        g[2] += qty * _fixed(f.px, PX_DIGITS)
        g[3].add(f.source)
    rows = []
    for key in sorted(groups, key=lambda k: tuple("" if v is None else v for v in k)):
        fills, qty, notional, sources = groups[key]
        if len(sources) > 1:
            raise CommingledSources({k: v for k, v in zip(KEYS, key) if k in by},
                                    tuple(sorted(sources)))
        rows.append(AveragePrice(*key, fills=fills, qty=decimal_text(qty, QTY_DIGITS),
                                 avg_px=decimal_text(_half_even(notional, qty), PX_DIGITS),
                                 notional=decimal_text(notional, QTY_DIGITS + PX_DIGITS)))
    return rows
