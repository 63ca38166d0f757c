"""Replaying the journal: the engine's state rebuilt from its inputs.

    from fastcore.recovery import replay

    result = replay("store/journal")          # the latest snapshot + the records after it
    result.engine.state_hash(), result.inputs, result.seq

``fastcore replay JOURNAL`` prints what ``replay`` returns; the server's
recovery (``Acceptor``) applies the records one by one with ``apply`` and
stores what they caused that its sessions lack.

The engine is a function of its inputs: applying the records of a journal in
order to the engine of its snapshot gives the engine the server had, down to
its ExecIDs, OrderIDs and state hash. An input the engine refused when it
was live (a bad command, a message that made it fail) is refused again, the
same way: its record is applied and counted, nothing more.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import msgspec

from fastcore import config as _config
from fastcore import snapshot
from fastcore.engine import Engine
from fastcore.errors import JournalError
from fastcore.journal import records
from fastcore.messages import Inbound

_inbound = msgspec.msgpack.Decoder(Inbound).decode
_command = msgspec.msgpack.Decoder(tuple[str, dict]).decode
_table = msgspec.msgpack.Decoder(dict).decode
encode = msgspec.msgpack.Encoder().encode


def command(name: str, args: dict) -> bytes:
    """The data of an ``A`` record: a desk or staged-order command."""
    return encode((name, args))


def reset(config: _config.Config) -> bytes:
    """The data of an ``R`` record: the configuration of the new engine."""
    return encode(snapshot.config_table(config))


def apply(engine: Engine, record) -> tuple[Engine, list, bool]:
    """Apply one journal record to ``engine``: (the engine from now on, the
    messages it caused, whether the engine refused it). A reset (``R``)
    returns a new engine."""
    kind, now = record.kind, record.now
    try:
        if kind == "F":
            return engine, engine.submit(record.data, engine.sessions[record.user], now), False
        if kind == "M":
            return engine, engine.submit(_inbound(record.data), engine.sessions[record.user],
                                         now), False
        if kind == "A":
            name, args = _command(record.data)
            return engine, engine.act(name, now=now, **args), False
    except Exception:                   # refused live the same way (or logged as an error):
        return engine, [], True         # nothing sent; what it left pending goes with the next
    if kind == "R":
        return Engine(_config.load(_table(record.data))), [], False
    raise JournalError(str(record.seq), None, f"record of unknown kind {kind!r}")


@dataclass
class Replayed:
    """What ``replay`` rebuilt."""
    engine: Engine
    seq: int                            # the last record applied (the snapshot's if none)
    snapshot_seq: int                   # the snapshot it began from
    inputs: int = 0                     # records applied
    refused: int = 0                    # ... that the engine refused
    kinds: dict[str, int] = field(default_factory=dict)    # records by kind

    def counts(self) -> dict[str, int]:
        """The engine's figures: orders, live orders, the last OrderID and
        ExecID given."""
        table = self.engine.table
        view = self.engine.orders()
        return {"orders": int(len(view)), "live_orders": int(table.live),
                "last_order_id": int(table.next_order_id),
                "last_exec_id": int(table.next_exec_id)}


def replay(directory: str | os.PathLike, *, full: bool = False, log=None) -> Replayed:
    """The engine of the journal in ``directory``: its latest valid snapshot
    and the records after it; with ``full``, every record from the first
    snapshot (the journal's beginning, when its files are all kept).
    JournalError when there is no snapshot to begin from or records are
    missing. ``log(path, why)`` hears of each damaged snapshot skipped."""
    directory = os.fspath(directory)
    if full:
        found = snapshot.snapshots(directory)
        if not found:
            raise JournalError(directory, None, "no snapshot: not a journal directory")
        start = snapshot.read(found[0][1])
    else:
        start = snapshot.latest(directory, log=log)
        if start is None:
            raise JournalError(directory, None, "no snapshot that reads whole")
    engine = start.engine()
    done = Replayed(engine, start.seq, start.seq)
    for record in records(directory, after=start.seq):
        engine, _, refused = apply(engine, record)
        done.inputs += 1
        done.refused += refused
        done.kinds[record.kind] = done.kinds.get(record.kind, 0) + 1
        done.seq = record.seq
    engine.audit.take()                 # the trail has them
    done.engine = engine
    return done
