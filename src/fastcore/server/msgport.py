"""The msgspec port: length-prefixed msgpack frames for embedded clients,
operators and tools.

A frame is a 4-byte big-endian length, then a msgpack map whose "type" key
names it (``fastcore.messages``: ``Inbound`` from the client, ``Outbound``
from the server). The first frame is a Logon:

* a **trader** (a configured user; the password of its order session, if it
  has one) then sends orders as NewOrderSingle / OrderCancelRequest /
  OrderCancelReplaceRequest / OrderStatusRequest and receives, as a Report,
  every message the engine sends to its user (the same messages, with the
  same MsgSeqNum, as its FIX session: this is another view of that session);
  A trader also sends Act for the staged-order commands it runs itself
  (``claim``, ``restage``, ``child``; ``by`` is the trader);
* an **operator** (``[[operators]]`` in the configuration) sends Act, the
  sell-side commands of the scenario format, and Reset when it may.

Each request with an ``id`` is answered by Ack or Refused with that id.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import msgspec

from fastcore import config as _config
from fastcore import recovery
from fastcore.engine import Engine
from fastcore.errors import FastcoreError
from fastcore.codec import parse
from fastcore.messages import (
    Ack, Act, Inbound, Logon, Logout, Refused, Report, Reset,
)

HEADER = struct.Struct(">I")
# the commands a trader runs itself, as its user
TRADER_COMMANDS = frozenset(("claim", "restage", "child"))
MAX_FRAME = 1 << 20
# header and trailer tags a Report leaves out
_ENVELOPE = frozenset((8, 9, 10, 35, 49, 56, 34, 52, 43, 122))


def report(to: str, data: bytes) -> Report:
    """A FIX message the engine sent, as a Report."""
    msg = parse(data)
    return Report(to=to, msg_type=msg.msg_type or "", seq=msg.get_int(34),
                  fields={str(tag): value.decode("latin-1") for tag, value in msg.fields()
                          if tag not in _ENVELOPE})


class MsgPort:
    """What the msgspec connections share: the acceptor (and its engine)
    and the traders logged on, by user."""

    def __init__(self, server) -> None:
        self.server = server
        self.traders: dict[str, list[MsgProtocol]] = {}

    def add(self, user: str, conn: MsgProtocol) -> None:
        """A trader logged on: the acceptor shows this port what it delivers."""
        if not self.traders:
            self.server.acceptor.watchers.append(self.watch)
        self.traders.setdefault(user, []).append(conn)

    def remove(self, user: str, conn: MsgProtocol) -> None:
        conns = self.traders.get(user, [])
        if conn in conns:
            conns.remove(conn)
            if not conns:
                del self.traders[user]
            if not self.traders:
                self.server.acceptor.watchers.remove(self.watch)

    def watch(self, out: list[tuple[str, bytes]]) -> None:
        """Every message the engine sent: a Report to each trader of its user."""
        touched = set()
        for to, data in out:
            for conn in self.traders.get(to, ()):
                conn.write(report(to, data))
                touched.add(conn)
        loop = asyncio.get_running_loop()
        for conn in touched:                # once the batch is journalled and flushed
            loop.call_soon(conn.flush)


class MsgProtocol(asyncio.BufferedProtocol):
    """One connection of the msgspec port."""

    def __init__(self, port: MsgPort) -> None:
        self.port = port
        self.buf = bytearray(65536)
        self.filled = 0
        self.transport: Any = None
        self.user: str | None = None
        self.operator: _config.Operator | None = None
        self.decoder = msgspec.msgpack.Decoder(Inbound)
        self.encoder = msgspec.msgpack.Encoder()
        self.out = bytearray()

    @property
    def acceptor(self):
        return self.port.server.acceptor

    def log(self, event: str, text: str) -> None:
        self.acceptor.log(event, f"msgspec {self.user or self.peer}", text)

    # ---- asyncio.BufferedProtocol ------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.log("connect", "")

    def get_buffer(self, hint: int) -> memoryview:
        if self.filled == len(self.buf):
            self.buf.extend(bytes(len(self.buf)))
        return memoryview(self.buf)[self.filled:]

    def buffer_updated(self, nbytes: int) -> None:
        self.filled += nbytes
        pos = 0
        view = memoryview(self.buf)
        try:
            while self.filled - pos >= 4:
                (size,) = HEADER.unpack_from(self.buf, pos)
                if size > MAX_FRAME:
                    return self.fail(f"a frame of {size} bytes is above {MAX_FRAME}")
                if self.filled - pos - 4 < size:
                    break
                frame = view[pos + 4:pos + 4 + size]
                pos += 4 + size
                try:
                    msg = self.decoder.decode(frame)
                except msgspec.DecodeError as exc:
                    self.write(Refused(text=f"not a frame of the msgspec port: {exc}"))
                    continue
                self.handle(msg, frame)
        finally:
            view.release()
            if pos:
                self.buf[:self.filled - pos] = self.buf[pos:self.filled]
                self.filled -= pos
            self.flush()

    def connection_lost(self, exc) -> None:
        if self.user is not None:
            self.port.remove(self.user, self)
        self.log("disconnect", str(exc) if exc else "")

    # ---- frames -----------------------------------------------------------------

    def write(self, msg: msgspec.Struct) -> None:
        start = len(self.out)
        self.out += b"\0\0\0\0"
        self.encoder.encode_into(msg, self.out, start + 4)
        HEADER.pack_into(self.out, start, len(self.out) - start - 4)

    def flush(self) -> None:
        if self.out and self.transport is not None:
            self.transport.write(bytes(self.out))
            self.out.clear()

    def fail(self, text: str) -> None:
        self.write(Refused(text=text))
        self.flush()
        self.transport.close()

    def handle(self, msg: msgspec.Struct, frame: memoryview) -> None:
        """One frame (``msg``, decoded from the bytes ``frame``)."""
        now = time.time_ns()
        if isinstance(msg, Logon):
            return self.logon(msg)
        if self.user is None:
            return self.fail("log on first")
        if isinstance(msg, Logout):
            self.write(Ack(text="bye"))
            self.flush()
            self.transport.close()
        elif isinstance(msg, Act):
            self.act(msg, now)
        elif isinstance(msg, Reset):
            self.reset(msg)
        elif self.operator is not None:
            self.write(Refused(text="an operator sends commands, not orders"))
        else:
            self.acceptor.record("M", self.user, now, bytes(frame))
            try:
                out = self.acceptor.engine.submit(msg, self.user, now)
            except (FastcoreError, ValueError, TypeError) as exc:
                self.write(Refused(text=str(exc)))
                return
            self.acceptor.send(out, now)

    def logon(self, msg: Logon) -> None:
        config = self.acceptor.config
        if self.user is not None:
            return self.write(Refused(text="already logged on"))
        if msg.role == "operator":
            op = next((o for o in config.operators if o.name == msg.user), None)
            if op is None or op.password != msg.password:
                self.log("refused", f"operator {msg.user!r}: unknown or wrong password")
                return self.fail("logon refused")
            self.operator = op
        elif msg.role == "trader":
            sessions = _config.order_sessions(config)
            if msg.user not in sessions or sessions[msg.user].password != msg.password:
                self.log("refused", f"trader {msg.user!r}: unknown or wrong password")
                return self.fail("logon refused")
            self.port.add(msg.user, self)
        else:
            return self.fail(f"role {msg.role!r} is not trader or operator")
        self.user = msg.user
        self.log("logon", msg.role)
        self.write(Ack(text=f"logged on as {msg.role} {msg.user}"))

    def act(self, msg: Act, now: int) -> None:
        args = msg.args
        if self.operator is None:
            if msg.command not in TRADER_COMMANDS:
                return self.write(Refused(id=msg.id, text=f"{msg.command} is for operators; a "
                                          f"trader may {', '.join(sorted(TRADER_COMMANDS))}"))
            if args.get("by", self.user) != self.user:
                return self.write(Refused(id=msg.id, text=f"a trader acts as itself, not {args['by']}"))
            args = {**args, "by": self.user}
        self.acceptor.record("A", None, now, recovery.command(msg.command, args))
        try:
            out = self.acceptor.engine.act(msg.command, now=now, **args)
        except (FastcoreError, ValueError, TypeError, KeyError) as exc:
            return self.write(Refused(id=msg.id, text=str(exc)))
        self.acceptor.send(out, now)
        self.write(Ack(id=msg.id, text=f"{len(out)} messages"))

    def reset(self, msg: Reset) -> None:
        if self.operator is None or not self.operator.may_reset:
            return self.write(Refused(id=msg.id, text="this login may not reset the engine"))
        try:
            engine = Engine(_config.overlay(self.acceptor.config, msg.config))
            self.acceptor.set_engine(engine)
        except (FastcoreError, ValueError) as exc:
            return self.write(Refused(id=msg.id, text=str(exc)))
        now = time.time_ns()
        self.acceptor.record("R", None, now, recovery.reset(engine.config))
        self.acceptor.flush(now)
        self.log("reset", f"a fresh engine ({engine.config.mode} mode)")
        self.write(Ack(id=msg.id, text="reset"))
