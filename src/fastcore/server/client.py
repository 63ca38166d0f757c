"""Clients of the two ports, blocking, for tools, tests and the scenario player.

    from fastcore.server.client import FixClient, MsgClient

    fix = FixClient("127.0.0.1", 9878, "PM1")        # connects and logs on
    fix.send("D", {11: "A1", 55: "ESZ6", 54: "1", 38: "5", 40: "2", 44: "100", 59: "0"})
    fix.sync()                 # a TestRequest answered: everything before it has arrived
    fix.received               # [Message, ...] in arrival order (session messages too)
    fix.logout()

    ops = MsgClient("127.0.0.1", 9879, "OPS", "ops", role="operator")
    ops.act("fill", order="A1", qty="5", px="100")
    ops.reset({"mode": "worked"})

Every wait is bounded by ``timeout`` (seconds): a server that does not answer
raises ``ServerTimeout``; one that closes the connection, ``ConnectionClosed``;
one that refuses the logon, ``LogonRefused`` with its Text.
"""

from __future__ import annotations

import itertools
import socket
import struct
import time
from typing import Any, Iterable, Mapping

import msgspec

from fastcore.codec import Encoder, Message, Parser
from fastcore.errors import FastcoreError
from fastcore.messages import Ack, Act, Logon, Logout, Outbound, Refused, Report, Reset

Fields = Mapping[int, Any] | Iterable[tuple[int, Any]]


class ClientError(FastcoreError):
    """A client of the server could not do what it was asked."""


class ServerTimeout(ClientError):
    """The server did not answer in time."""


class ConnectionClosed(ClientError):
    """The server closed the connection."""


class LogonRefused(ClientError):
    """The server refused the logon (``text``: its reason, when it gave one)."""

    def __init__(self, text: str) -> None:
        super().__init__(f"logon refused: {text}" if text else "logon refused")
        self.text = text


class _Socket:
    """A connected TCP socket with a receive buffer and bounded waits."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def read_more(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ServerTimeout(f"no answer within {self.timeout} s")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise ServerTimeout(f"no answer within {self.timeout} s") from None
        except ConnectionError as exc:
            raise ConnectionClosed(str(exc)) from None
        if not data:
            raise ConnectionClosed("the server closed the connection")
        self.buf += data

    def close(self) -> None:
        self.sock.close()


class FixClient:
    """A FIX 4.4 initiator: one session, logged on when constructed."""

    def __init__(self, host: str, port: int, comp_id: str, target: str = "FASTCORE", *,
                 password: str | None = None, heartbeat: int = 30, reset: bool = True,
                 seq: int = 1, timeout: float = 10.0, logon: bool = True) -> None:
        self.io = _Socket(host, port, timeout)
        self.encoder = Encoder(comp_id, target)
        self.parser = Parser()
        self.comp_id = comp_id
        self.seq = seq - 1                  # the last MsgSeqNum sent
        self.received: list[Message] = []   # every message, in order, until taken
        self.ids = itertools.count(1)
        if logon:
            try:
                self.logon(password=password, heartbeat=heartbeat, reset=reset)
            except ClientError:
                self.close()
                raise

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def write(self, data: bytes) -> None:
        self.io.sock.sendall(data)

    def logon(self, *, password: str | None = None, heartbeat: int = 30,
              reset: bool = True) -> Message:
        """Send a Logon and wait for the server's; LogonRefused when it
        answers with a Logout or closes."""
        self.write(self.encoder.logon(self.next_seq(), time.time_ns(), heart_bt_int=heartbeat,
                                      reset_seq_num=reset, password=password))
        try:
            msg = self.wait(lambda m: m.msg_type in ("A", "5"))
        except ConnectionClosed:
            raise LogonRefused("") from None
        if msg.msg_type == "5":
            raise LogonRefused(msg.get_str(58, ""))
        self.received.remove(msg)
        return msg

    def send(self, msg_type: str, fields: Fields = (), *, seq: int | None = None,
             poss_dup: bool = False, orig_sending_time: int | None = None,
             sending_time: int | None = None) -> bytes:
        """Send a message (its body fields in order); returns its bytes."""
        items = fields.items() if isinstance(fields, Mapping) else fields
        data = self.encoder.encode(msg_type, [(int(t), v) for t, v in items],
                                   self.next_seq() if seq is None else seq,
                                   time.time_ns() if sending_time is None else sending_time,
                                   poss_dup=poss_dup, orig_sending_time=orig_sending_time)
        self.write(data)
        return data

    def read(self, deadline: float | None = None) -> None:
        """Read what arrives (waiting until ``deadline``, a monotonic time;
        default: the timeout) into ``received``."""
        self.io.read_more(time.monotonic() + self.io.timeout if deadline is None else deadline)
        batch = self.parser.parse_batch(bytes(self.io.buf))
        for i in range(batch.count):
            if batch.status[i] == 0:
                self.received.append(batch.message(i).copy())
        del self.io.buf[:batch.consumed]

    def wait(self, match) -> Message:
        """The first received message ``match(message)`` holds for, reading
        until it comes (bounded by the timeout)."""
        deadline = time.monotonic() + self.io.timeout
        seen = 0
        while True:
            for msg in self.received[seen:]:
                if match(msg):
                    return msg
            seen = len(self.received)
            self.read(deadline)

    def sync(self) -> None:
        """Send a TestRequest and wait for its Heartbeat: every message the
        server sent this session before it has then arrived (the Heartbeat
        itself is dropped)."""
        test_id = f"SYNC{next(self.ids)}"
        self.send("1", {112: test_id})
        msg = self.wait(lambda m: m.msg_type == "0" and m.get_str(112, None) == test_id)
        self.received.remove(msg)

    def take(self, *, admin: bool = False) -> list[Message]:
        """The messages received so far (session messages only with ``admin``),
        removed from ``received``."""
        out = [m for m in self.received if admin or not m.is_admin]
        self.received = [m for m in self.received if m not in out]
        return out

    def logout(self, text: str | None = None) -> None:
        """Send a Logout, wait for the server's, close."""
        self.send("5", {58: text} if text else {})
        try:
            self.wait(lambda m: m.msg_type == "5")
        except ConnectionClosed:
            pass
        self.close()

    def close(self) -> None:
        self.io.close()

    def __enter__(self) -> FixClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MsgClient:
    """A client of the msgspec port, logged on when constructed: a trader
    (a user) or an operator."""

    HEADER = struct.Struct(">I")

    def __init__(self, host: str, port: int, user: str, password: str = "", *,
                 role: str = "trader", timeout: float = 10.0) -> None:
        self.io = _Socket(host, port, timeout)
        self.encoder = msgspec.msgpack.Encoder()
        self.decoder = msgspec.msgpack.Decoder(Outbound)
        self.reports: list[Report] = []
        self.ids = itertools.count(1)
        self.write(Logon(user=user, password=password, role=role))
        try:
            answer = self.read()
        except ConnectionClosed:
            self.close()
            raise LogonRefused("") from None
        if isinstance(answer, Refused):
            self.close()
            raise LogonRefused(answer.text)

    def write(self, msg: msgspec.Struct) -> None:
        body = self.encoder.encode(msg)
        self.io.sock.sendall(self.HEADER.pack(len(body)) + body)

    def read(self) -> Ack | Refused | Report:
        """The next frame from the server."""
        deadline = time.monotonic() + self.io.timeout
        while True:
            if len(self.io.buf) >= 4:
                (size,) = self.HEADER.unpack_from(self.io.buf)
                if len(self.io.buf) >= 4 + size:
                    frame = bytes(self.io.buf[4:4 + size])
                    del self.io.buf[:4 + size]
                    return self.decoder.decode(frame)
            self.io.read_more(deadline)

    def request(self, msg: msgspec.Struct) -> Ack:
        """Send a request with an id; its Ack (Reports meanwhile are kept in
        ``reports``); ClientError with the server's text when Refused."""
        msg.id = next(self.ids)
        self.write(msg)
        while True:
            answer = self.read()
            if isinstance(answer, Report):
                self.reports.append(answer)
            elif answer.id == msg.id or answer.id == 0:
                if isinstance(answer, Refused):
                    raise ClientError(answer.text)
                return answer

    def act(self, command: str, **args: Any) -> Ack:
        """An operator's sell-side command (scenario-format.md's ``act``)."""
        return self.request(Act(command=command, args=args))

    def reset(self, config: dict | None = None) -> Ack:
        """A fresh engine, ``config`` merged over the server's."""
        return self.request(Reset(config=config or {}))

    def submit(self, order: msgspec.Struct) -> None:
        """A trader's order request; its reports arrive as Reports (``read``)."""
        self.write(order)

    def logout(self) -> None:
        self.write(Logout())
        try:
            self.read()
        except ConnectionClosed:
            pass
        self.close()

    def close(self) -> None:
        self.io.close()

    def __enter__(self) -> MsgClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
