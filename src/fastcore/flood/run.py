"""A load run: connect and log on N sessions, send, time the answers, log out.

    from fastcore.flood import Options, flood
    result = asyncio.run(flood(Options(port=9878, sessions=["PM1", "ET1"], count=10_000, window=16)))
    result.latencies["new"]          # ns, one per answered new order

Closed loop (``window``: at most that many unanswered messages per session)
measures the most a server takes; open loop (``rate``: messages per second
over all sessions, each at its due time whatever the server does) measures
latency as a client sees it at that load, from when each message was due, so
a stalled server shows up in the latencies instead of slowing the client
down (no coordinated omission).

``protocol`` is "fix" (any FIX 4.4 acceptor) or "msgspec" (fastcore's
msgspec port: length-prefixed msgpack frames, a trader's Logon, orders as
the Structs of ``fastcore.messages``, answers as Reports): the same seed
sends the same orders with the same ClOrdIDs either way, timed the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from decimal import Decimal

import numpy as np

from fastcore.codec import Encoder
from fastcore.errors import FastcoreError
from fastcore.flood.driver import FixSession, MsgSession, Session, now_ns
from fastcore.flood.mix import KINDS, Stream, build, build_msgspec, frame, parse_mix
from fastcore.messages import Logon, Logout

PROTOCOLS = ("fix", "msgspec")
PORTS = {"fix": 9878, "msgspec": 9879}      # fastcore's ports, each protocol's default
TICK = 0.001                                # s: the event loops' timer resolution
POLL = 0.02                                 # s: between two looks at the run's progress


class FloodError(FastcoreError):
    """The target refused a connection or a logon, or dropped a session."""


class Protocol(FixSession, asyncio.BufferedProtocol):
    """A FIX session of the load as an asyncio protocol: the session core does all of it."""


class MsgProtocol(MsgSession, asyncio.BufferedProtocol):
    """A msgspec port session of the load as an asyncio protocol."""


@dataclasses.dataclass
class Options:
    host: str = "127.0.0.1"
    port: int | None = None                 # None: fastcore's port of the protocol (PORTS)
    protocol: str = "fix"                   # "fix" or "msgspec" (fastcore's msgspec port)
    sessions: list[str] = dataclasses.field(default_factory=lambda: ["PM1", "ET1", "ET2", "ET3"])
    target: str = "FASTCORE"                # TargetCompID: the acceptor's CompID (FIX)
    password: str | None = None             # FIX: Password (554); msgspec: the Logon's
    count: int = 10_000                     # messages over all sessions
    rate: float = 0.0                       # open loop: messages/s over all sessions; 0: closed
    window: int = 1                         # closed loop: unanswered messages per session
    duration: float = 30.0                  # seconds at most
    mix: str = "new=50,cancel=20,replace=20,market=10"
    seed: int = 1
    symbol: str = "ESZ6"
    tick: str = "0.25"
    mid: str = "5000"
    heartbeat: int = 60                     # HeartBtInt (FIX)
    timeout: float = 5.0                    # for each logon and logout
    progress: bool = False

    def __post_init__(self) -> None:
        if self.port is None:
            self.port = PORTS.get(self.protocol)


@dataclasses.dataclass
class Result:
    options: Options
    elapsed: float                          # s, from the first send to the last answer
    sent: int
    answered: int
    latencies: dict[str, np.ndarray]        # ns per answered message, by kind and "all"
    rejects: int                            # Reject (35=3) received
    business_rejects: int                   # BusinessMessageReject (35=j)
    refused: int                            # ExecutionReport Rejected or OrderCancelReject
                                            # (msgspec: or a Refused frame)
    lost: list[str]                         # sessions the target dropped, and why

    @property
    def missing(self) -> int:
        return self.sent - self.answered

    @property
    def throughput(self) -> float:
        """Answered messages per second."""
        return self.answered / self.elapsed if self.elapsed > 0 else 0.0


# ---- what differs between the protocols: the streams, the Logon, the Logout -------------

def _streams(opts: Options, mix: dict[str, float], per: int,
             prefixes: list[str]) -> list[Stream]:
    """Each session's messages, encoded for the protocol."""
    tick, mid = Decimal(opts.tick), Decimal(opts.mid)
    if opts.protocol == "msgspec":
        return [build_msgspec(comp, per, mix, opts.seed, prefix, opts.symbol, tick, mid)
                for comp, prefix in zip(opts.sessions, prefixes)]
    sending_time = time.time_ns()
    return [build(comp, opts.target, per, mix, opts.seed, prefix, opts.symbol, tick, mid,
                  2, sending_time)
            for comp, prefix in zip(opts.sessions, prefixes)]


def _logon(opts: Options, comp_id: str) -> bytes:
    if opts.protocol == "msgspec":
        return frame(Logon(user=comp_id, password=opts.password or "", role="trader"))
    return Encoder(comp_id, opts.target).logon(
        1, time.time_ns(), heart_bt_int=opts.heartbeat, reset_seq_num=True,
        password=opts.password)


def _logout_message(opts: Options, session: Session) -> bytes:
    if opts.protocol == "msgspec":
        return frame(Logout())
    # MsgSeqNum after the last message sent (fewer than per when cut short)
    return Encoder(session.comp_id, opts.target).logout(session.next + 2, time.time_ns())


async def _connect(opts: Options, comp_id: str, stream: Stream, prefix: bytes,
                   loop) -> Session:
    logon, logout = loop.create_future(), loop.create_future()
    cls = MsgProtocol if opts.protocol == "msgspec" else Protocol
    session = cls(comp_id, stream.data, stream.offsets, prefix,
                  0 if opts.rate else opts.window, logon, logout)
    try:
        await loop.create_connection(lambda: session, opts.host, opts.port)
    except OSError as exc:
        raise FloodError(f"cannot connect to {opts.host}:{opts.port}: "
                         f"{exc.strerror or exc}") from None
    session.write(_logon(opts, comp_id))
    try:
        why = await asyncio.wait_for(logon, opts.timeout)
    except asyncio.TimeoutError:
        why = None
    if why != "":
        if session.transport is not None:           # not in the caller's list: close it here
            session.transport.abort()
        if why is None:
            raise FloodError(f"{comp_id}: no answer to the Logon within {opts.timeout} s")
        raise FloodError(f"{comp_id}: logon refused by {opts.host}:{opts.port}: {why}")
    return session


def _pause(sessions: list[Session], deadline: int) -> float:
    """Open loop: how long to sleep (s) until the next send is due, rounded
    up to a whole ms (not to wake just before it), at most POLL (to update
    the progress bar and see the run end).

    Never less than TICK: libuv counts timers in whole ms, so under uvloop a
    shorter sleep is a 0 ms timer, a loop spinning on a core the server under
    test needs (asyncio's own loop sleeps 1 ms anyway). A send due sooner
    goes out about a TICK late (or at the next read, which sends what is
    due), and that shows: latency runs from when each message was due."""
    now = now_ns()
    wake = min(deadline, now + int(POLL * 1e9))
    for s in sessions:
        if s.next < s.count and not s.lost:
            wake = min(wake, int(s.sent[s.next]))
    return max(TICK, math.ceil((wake - now) / 1e6) / 1e3)


async def flood(opts: Options) -> Result:
    """One run; FloodError when the target refuses it."""
    if not opts.sessions:
        raise ValueError("at least one session")
    if opts.count < len(opts.sessions):
        raise ValueError("count is below the number of sessions")
    if not opts.rate and opts.window < 1:
        raise ValueError("closed loop needs a window of at least 1")
    if opts.protocol not in PROTOCOLS:
        raise ValueError(f"protocol {opts.protocol!r}: fix or msgspec")
    loop = asyncio.get_running_loop()
    mix = parse_mix(opts.mix)
    # ClOrdIDs unique per run on a live server and per session: a session
    # may also see the reports of others' orders (a shared order book)
    run = time.time_ns() // 1_000_000 % 10**10
    prefixes = [f"F{run}.{j}." for j in range(len(opts.sessions))]
    per = opts.count // len(opts.sessions)
    streams = _streams(opts, mix, per, prefixes)
    sessions: list[Session] = []
    try:
        for comp, stream, prefix in zip(opts.sessions, streams, prefixes):
            sessions.append(await _connect(opts, comp, stream, prefix.encode(), loop))
        start = now_ns()
        deadline = start + int(opts.duration * 1e9)
        total = per * len(sessions)
        bar = None
        if opts.progress:
            from tqdm import tqdm
            bar = tqdm(total=total, unit="msg", unit_scale=True, leave=False)
        if opts.rate:
            period = len(sessions) / opts.rate * 1e9       # between two messages of a session
            for j, s in enumerate(sessions):
                s.set_due(start + ((np.arange(per) + j / len(sessions)) * period).astype(np.int64))
        else:
            for s in sessions:
                s.start()
        done = 0
        while now_ns() < deadline:
            if opts.rate:                   # (each read sends what is due, too)
                for s in sessions:
                    s.send_due()
            answered = sum(s.answers for s in sessions)
            if bar is not None:
                bar.update(answered - done)
            done = answered
            if all(s.lost or s.answers == s.count for s in sessions):   # nothing more to come
                break
            await asyncio.sleep(_pause(sessions, deadline) if opts.rate else POLL)
        for s in sessions:                  # time is up: what was sent gets its answers
            s.stop()
        settle = now_ns() + int(opts.timeout * 1e9)
        while now_ns() < settle and any(s.answers < s.next and not s.lost for s in sessions):
            await asyncio.sleep(0.005)
        if bar is not None:
            bar.close()
        dropped = [f"{s.comp_id}: {s.lost}" for s in sessions if s.lost]
        await _logout(opts, sessions)
    finally:
        for s in sessions:
            if s.transport is not None:
                s.transport.abort()
    return _result(opts, sessions, streams, start, dropped)


async def _logout(opts: Options, sessions: list[Session]) -> None:
    for s in sessions:
        if not s.lost:
            s.write(_logout_message(opts, s))
    waits = [s.logout for s in sessions if not s.lost]
    if waits:
        await asyncio.wait(waits, timeout=opts.timeout)


def _result(opts: Options, sessions: list[Session], streams, start: int,
            dropped: list[str]) -> Result:
    latencies: dict[str, list[np.ndarray]] = {k: [] for k in (*KINDS, "all")}
    last = start
    sent = answered = 0
    for s, stream in zip(sessions, streams):
        mask = s.answered > 0
        sent += int(s.next)
        answered += int(mask.sum())
        if mask.any():
            last = max(last, int(s.answered[mask].max()))
        lat = (s.answered - s.sent)[mask]
        kinds = stream.kinds[mask]
        latencies["all"].append(lat)
        for k, kind in enumerate(KINDS):
            latencies[kind].append(lat[kinds == k])
    return Result(
        options=opts, elapsed=(last - start) / 1e9, sent=sent, answered=answered,
        latencies={k: np.concatenate(v) if v else np.zeros(0, np.int64)
                   for k, v in latencies.items()},
        rejects=sum(s.rejects for s in sessions),
        business_rejects=sum(s.business_rejects for s in sessions),
        refused=sum(s.refused for s in sessions),
        lost=dropped)
