"""An Engine and its clients' sides of their sessions, for the tests: FIX
bodies built from (tag, value) lists, every answer decoded and its MsgSeqNum
checked."""
from __future__ import annotations

import collections

from fastcore.codec import Encoder, parse
from fastcore.config import alone
from fastcore.engine import Engine

T0 = 1_795_253_400_000_000_000          # 2026-11-21 09:30:00 UTC
TS = "20261121-09:30:00.000"
QTY = 10 ** 4                            # QTY_DIGITS
PX = 10 ** 8                             # PX_DIGITS


# ---- helpers ------------------------------------------------------------------

def decode(out):
    """[(recipient, {tag: str})] of what the engine sent."""
    return [(to, {tag: value.decode("latin-1") for tag, value in parse(data).to_dict().items()})
            for to, data in out]


def nos(clordid, symbol="ESZ6", side="1", qty="10", px="100", ord_type="2", tif="0",
        extra=()):
    """The body of a NewOrderSingle; None leaves a field out."""
    fields = [(11, clordid), (55, symbol), (54, side), (38, qty), (40, ord_type), (44, px),
              (59, tif), (60, TS)]
    return [(t, v) for t, v in fields if v is not None] + list(extra)


def cancel(clordid, orig, symbol="ESZ6", side="1", qty="10"):
    return [(11, clordid), (41, orig), (55, symbol), (54, side), (38, qty), (60, TS)]


def replace(clordid, orig, qty, px, symbol="ESZ6", side="1", tif="0"):
    return [(11, clordid), (41, orig), (55, symbol), (54, side), (38, qty), (40, "2"),
            (44, px), (59, tif), (60, TS)]


def status(clordid, symbol="ESZ6", side="1"):
    return [(11, clordid), (55, symbol), (54, side)]


# The users of the default configuration without its credentials: each sees
# its own orders alone, so that a test of the order state reads one answer
# per request (who else sees an order is tested in test_routing.py and the
# staged scenarios).
ALONE = alone()


def staged_two_fills(h) -> None:
    """Worked mode: the staged order S1 (100 at 4500, account INTERNAL),
    claimed by ET1 and worked in two children C1 and C2, each acknowledged
    and filled 30 at 4500 (ExecIDs E1 and E2)."""
    h.send("D", nos("S1", qty="100", px="4500", extra=[(21, "3"), (9100, "INTERNAL")]))
    h.act("claim", order="S1", by="ET1")
    for i in (1, 2):
        h.act("child", order="S1", by="ET1", qty="30", clordid=f"C{i}")
        h.act("ack", order=f"C{i}")
        h.act("fill", order=f"C{i}", qty="30", px="4500", exec_id=f"E{i}")


class Harness:
    """An Engine and the clients' sides of their sessions (by default the
    users of ``ALONE``; a ``config`` table that names users keeps its own)."""

    def __init__(self, config=None):
        if config is None or isinstance(config, dict) and "users" not in config:
            config = {**ALONE, **(config or {})}
        self.engine = Engine(config)
        self.seq = collections.defaultdict(int)
        self.now = T0
        self.last_seq = collections.defaultdict(int)   # the MsgSeqNum each user last got
        self.wire = []                                 # every (recipient, bytes) sent

    def raw(self, msg_type, fields, who="PM1"):
        self.seq[who] += 1
        return Encoder(who, self.engine.config.engine.comp_id).encode(
            msg_type, list(fields), self.seq[who], self.now)

    def submit(self, data, who="PM1"):
        return self._track(self.engine.submit(data, who, self.now))

    def send(self, msg_type, fields, who="PM1"):
        """Every message the engine sent, decoded."""
        return self.submit(self.raw(msg_type, fields, who), who)

    def one(self, msg_type, fields, who="PM1"):
        """The one message the engine sent back to ``who``."""
        out = self.send(msg_type, fields, who)
        assert len(out) == 1, out
        assert out[0][0] == who
        return out[0][1]

    def act(self, command, **args):
        return self._track(self.engine.act(command, now=self.now, **args))

    def _track(self, out):
        self.wire.extend(out)
        got = decode(out)
        for to, msg in got:
            seq = int(msg[34])
            assert seq == self.last_seq[to] + 1, f"MsgSeqNum to {to}: {seq} after {self.last_seq[to]}"
            self.last_seq[to] = seq
        return got
