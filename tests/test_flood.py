"""The load client (fastcore.flood, ``tools/flood``, ``fastcore flood``) over
real sockets on 127.0.0.1.

* closed and open loop against the in-process fastcore server (the
  ``server`` fixture: asyncio and uvloop; the client runs on the same kind of
  loop): every message answered, counts and latencies consistent, nothing
  rejected, the server's counters clean; a run cut short by ``duration``
  logs out in sequence;
* a target that stalls or drops a session: the server aborting a session's
  connection mid-run, and ``FakeAcceptor``, a scripted stand-in acceptor on
  a thread (it echoes the client's messages: the driver takes a message
  carrying a ClOrdID of the run as its answer);
* fastcore's msgspec port (``protocol="msgspec"``): closed and open loop
  against the same server (its users alone: ``ALONE``), the same orders as
  over FIX for a seed (the engine's reports of both runs compared), a logon
  refused, closed or unanswered, a session dropped, and ``FakeMsgPort``, a
  scripted stand-in port (Refused requests, a connection closed mid-run);
  the msgspec session core fed frames by hand (every msgpack kind skipped,
  frames split anywhere, what is not a frame ignored);
* the order mix (``parse_mix``, ``build``, ``build_msgspec``) with no network;
* the report (``table``, ``summary``, ``plot``) from a Result made by hand;
* the command line (``main``) and the errors: nothing listening, a logon
  refused or unanswered, bad options.

Nothing sleeps: every wait is bounded (the flood timeouts, ``Event.wait``,
the server's ``wait_event``); counts are small.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from decimal import Decimal
from typing import Any, Callable, Coroutine

import msgspec
import numpy as np
import pytest
from harness import ALONE

from fastcore.codec import Encoder, Parser, parse
from fastcore.flood import FloodError, Options, Result, flood, plot, summary, table
from fastcore.flood import cli, run
from fastcore.flood.mix import KINDS, TRANSACT_TIME, build, build_msgspec, orders, parse_mix
from fastcore.messages import (
    MESSAGE_TYPES, Ack, Inbound, Logon, Logout, Refused, Report, Request,
)

MIX = Options().mix                         # new=50,cancel=20,replace=20,market=10
RESTING_MIX = "new=50,cancel=25,replace=25"  # no marketable order: nothing ever trades
CLEAN = {"refused_logons": 0, "garbled": 0, "errors": 0}
PNG = b"\x89PNG\r\n\x1a\n"


# ---- helpers ---------------------------------------------------------------------------

def run_on(loop_kind: str, coro: Coroutine[Any, Any, Any]) -> Any:
    """``coro`` run to completion on a new event loop of ``loop_kind``
    ("asyncio" or "uvloop"), whatever the current event loop policy."""
    if loop_kind == "uvloop":
        import uvloop
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.SelectorEventLoop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def loop_kind(server) -> str:
    """The kind of event loop the fixture's server runs on."""
    return "uvloop" if type(server.loop).__module__.startswith("uvloop") else "asyncio"


def flood_server(server, **options: Any) -> Result:
    """A flood run against the fixture's server, on the same kind of loop."""
    return run_on(loop_kind(server), flood(Options(port=server.fix_port, **options)))


def counters(server) -> dict[str, int]:
    """The acceptor's counters, read on the server's loop."""
    return server.call(lambda: dict(server.acceptor.counters))


def expected_kinds(opts: Options) -> Counter:
    """How many messages of each kind a run of ``opts`` sends in all (the
    kinds depend on the seed, the session and the mix, not on the prefix)."""
    per = opts.count // len(opts.sessions)
    out: Counter = Counter()
    for comp in opts.sessions:
        stream = build(comp, opts.target, per, parse_mix(opts.mix), opts.seed, "x.",
                       opts.symbol, Decimal(opts.tick), Decimal(opts.mid), 2, 0)
        out.update(KINDS[k] for k in stream.kinds)
    return out


def assert_consistent(result: Result) -> None:
    """Counts and latencies of a run agree with each other; nothing rejected."""
    lat = result.latencies
    assert sum(len(lat[k]) for k in KINDS) == len(lat["all"]) == result.answered
    assert all((lat[k] > 0).all() for k in (*KINDS, "all"))
    assert result.rejects == 0 and result.business_rejects == 0
    assert result.elapsed > 0 and result.throughput > 0


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def msg_port(server):
    """The fixture's MsgPort (what its msgspec connections share): the
    acceptor's watcher while a trader is logged on."""
    return next(w.__self__ for w in server.acceptor.watchers
                if hasattr(getattr(w, "__self__", None), "traders"))


def drop_after(monkeypatch, server, comp_id: str, answers: int, protocol: str = "fix") -> None:
    """Make the fixture's server abort ``comp_id``'s connection once the
    client has ``answers`` answers on it (flood's protocol class replaced by
    one that asks the server's loop to, once)."""
    fired = threading.Event()
    name = "Protocol" if protocol == "fix" else "MsgProtocol"

    def abort() -> None:
        if protocol == "fix":
            server.acceptor.users[comp_id].conn.transport.abort()
        else:
            msg_port(server).traders[comp_id][0].transport.abort()

    class Dropping(getattr(run, name)):
        def buffer_updated(self, nbytes: int) -> None:
            super().buffer_updated(nbytes)
            if self.comp_id == comp_id and self.answers >= answers and not fired.is_set():
                fired.set()
                server.loop.call_soon_threadsafe(abort)

    monkeypatch.setattr(run, name, Dropping)


class FakeTarget:
    """One connection on 127.0.0.1, served on a thread with blocking sockets
    by ``_session(conn)``; ``eof`` is set when the client closes, ``join``
    re-raises what went wrong in the thread."""

    def __init__(self) -> None:
        self.eof = threading.Event()
        self.error: BaseException | None = None
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(10)
                self._session(conn)
        except BaseException as exc:           # reported by join()
            self.error = exc
        finally:
            self.listener.close()

    def _session(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _recv(self, conn: socket.socket) -> bytes:
        """What the client sent next; b"" (and ``eof`` set) when it closed."""
        try:
            data = conn.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof.set()
        return data

    def join(self) -> None:
        """Wait for the connection to end (bounded); re-raise what went wrong."""
        self.thread.join(10)
        assert not self.thread.is_alive(), f"the {type(self).__name__} did not finish"
        if self.error is not None:
            raise self.error


class FakeAcceptor(FakeTarget):
    """A stand-in FIX acceptor for one connection, on a thread with blocking
    sockets. It answers the Logon (unless ``answer_logon`` is false) with
    ``Encoder("FASTCORE", sender).logon``, then echoes the client's
    application messages back as their answers: none until ``hold`` of them
    have arrived, then all held; with ``close_after``, once that many are
    echoed it reads one more and closes the connection. A Logout is answered
    with a Logout, then the connection closed. ``received`` counts the
    application messages, ``eof`` is set when the client closes."""

    def __init__(self, *, answer_logon: bool = True, hold: int = 0,
                 close_after: int | None = None) -> None:
        self.answer_logon, self.hold, self.close_after = answer_logon, hold, close_after
        self.received = 0
        super().__init__()

    def _session(self, conn: socket.socket) -> None:
        parser, buf, held = Parser(), bytearray(), []
        enc = None
        while True:
            data = self._recv(conn)
            if not data:
                return
            buf += data
            batch = parser.parse_batch(bytes(buf))
            out: list[bytes] = []
            for i in range(batch.count):
                msg = batch.message(i)
                assert batch.status[i] == 0, msg.raw
                if msg.msg_type == "A":
                    enc = Encoder("FASTCORE", msg.get_str(49))
                    if self.answer_logon:
                        out.append(enc.logon(1, time.time_ns(), heart_bt_int=60))
                elif msg.msg_type == "5":
                    conn.sendall(b"".join(out) + enc.logout(2, time.time_ns()))
                    return
                else:
                    self.received += 1
                    if self.close_after is not None and self.received > self.close_after:
                        conn.sendall(b"".join(out))
                        return
                    held.append(msg.raw)
                    if self.received >= self.hold:
                        out.extend(held)
                        held.clear()
            del buf[:batch.consumed]
            if out:
                conn.sendall(b"".join(out))



@pytest.fixture(params=["asyncio", "uvloop"])
def client_loop(request) -> str:
    """The client's event loop, for the tests without the server fixture."""
    return request.param


@pytest.fixture
def keep_loop_policy():
    """``main`` installs uvloop's policy unless --asyncio: restore the policy."""
    policy = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(policy)


# ---- closed loop -----------------------------------------------------------------------

@pytest.mark.parametrize("window", [1, 16])
@pytest.mark.parametrize("sessions", [["PM1"], ["PM1", "ET1", "ET2", "ET3"]])
def test_closed_loop_every_message_answered(server, window, sessions):
    opts = dict(sessions=sessions, count=4000, window=window)
    result = flood_server(server, **opts)
    assert result.sent == 4000 and result.answered == 4000 and result.missing == 0
    assert result.lost == []
    assert_consistent(result)
    kinds = expected_kinds(Options(**opts))
    assert {k: len(result.latencies[k]) for k in KINDS} == {k: kinds[k] for k in KINDS}
    assert counters(server) == CLEAN


@pytest.mark.parametrize("sessions", [["PM1"], ["PM1", "ET1", "ET2", "ET3"]])
def test_closed_loop_resting_orders_never_refused(server, sessions):
    """Without marketable orders nothing trades (buys rest below the mid,
    sells above): every cancel and replace finds its order, so a refusal
    would be a wrong OrigClOrdID in the mix."""
    result = flood_server(server, sessions=sessions, count=4000, window=8, mix=RESTING_MIX)
    assert result.missing == 0 and result.lost == []
    assert result.refused == 0
    assert_consistent(result)
    assert len(result.latencies["market"]) == 0
    assert counters(server) == CLEAN


def test_duration_cuts_the_run_short_and_logs_out_in_sequence(server):
    """Stopped by ``duration`` before its messages are all sent: what was
    sent is answered, and the Logout carries the next MsgSeqNum (no gap)."""
    result = flood_server(server, sessions=["PM1"], count=4000, rate=1000, duration=0.05)
    assert 0 < result.sent < 4000
    assert result.missing == 0 and result.lost == []
    assert server.wait_event("logout", "FASTCORE->PM1")[2] == "received"
    assert counters(server) == CLEAN


# ---- open loop -------------------------------------------------------------------------

def test_open_loop_answered_and_sent_when_due(server):
    rate, count = 20_000, 4000
    result = flood_server(server, sessions=["PM1", "ET1"], count=count, rate=rate, progress=True)
    assert result.sent == count and result.missing == 0 and result.lost == []
    assert_consistent(result)
    # the last message was due (count - 1) / rate after the first: elapsed
    # runs from then to the last answer; the client never waited for the server
    assert (count - 1) / rate <= result.elapsed < count / rate + 2.0
    assert counters(server) == CLEAN


def test_open_loop_stalled_target_shows_in_the_latencies(client_loop):
    """A target that answers nothing until it has every message: the client
    sends each when due all the same, and times each from when it was due,
    so message i waits at least until message count-1 was due."""
    rate, count = 20_000, 1000
    fake = FakeAcceptor(hold=count)
    result = run_on(client_loop, flood(Options(port=fake.port, sessions=["PM1"], count=count,
                                               rate=rate)))
    fake.join()
    assert fake.received == count and result.missing == 0 and result.lost == []
    lat = result.latencies["all"]                       # in message order (one session)
    floor = (count - 1 - np.arange(count)) * 1e9 / rate
    assert (lat >= floor - 1000).all()
    assert lat[0] >= (count - 1) / rate * 1e9


def test_open_loop_waits_without_spinning(server, monkeypatch):
    """Between two due sends the client sleeps, at least a timer tick (1 ms):
    at 400 messages/s over 0.5 s the loop polls its sessions no more often
    than that, and the process's CPU time (the in-process server's too,
    small at that rate) stays well below the run's wall time. A loop polling
    faster than the timers' resolution spins instead (uvloop makes a 0.5 ms
    sleep a 0 ms timer): tens of thousands of polls, a whole core."""
    polls = 0

    class Counting(run.Protocol):
        def send_due(self) -> None:
            nonlocal polls
            polls += 1
            super().send_due()

    monkeypatch.setattr(run, "Protocol", Counting)
    rate, count = 400, 200
    wall, cpu = time.perf_counter(), time.process_time()
    result = flood_server(server, sessions=["PM1"], count=count, rate=rate)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert result.sent == count and result.missing == 0 and result.lost == []
    assert wall >= (count - 1) / rate
    assert polls <= wall / run.TICK, f"{polls} polls in {wall:.3f} s"
    assert cpu < 0.5 * wall, f"{cpu:.3f} s of CPU in {wall:.3f} s"


# ---- a target that drops the session ---------------------------------------------------

def test_server_drops_a_session_mid_run(server, monkeypatch):
    """The server aborts PM1's connection after 50 answers: PM1 is lost
    with its unanswered message, ET1 carries on to the end, and the run ends
    then (not at ``duration``)."""
    drop_after(monkeypatch, server, "PM1", 50)
    t0 = time.monotonic()
    result = flood_server(server, sessions=["PM1", "ET1"], count=4000, window=1, duration=20)
    assert time.monotonic() - t0 < 10
    assert len(result.lost) == 1 and result.lost[0].startswith("PM1: ")
    assert result.missing >= 1 and result.answered >= 2000 + 50
    assert result.sent < 4000
    assert_consistent(result)
    assert "dropped: PM1: " in table(result)


def test_fake_target_closes_after_some_answers(client_loop):
    fake = FakeAcceptor(close_after=40)
    result = run_on(client_loop, flood(Options(port=fake.port, sessions=["PM1"], count=1000,
                                               window=1)))
    fake.join()
    assert result.lost == ["PM1: the server closed the connection"]
    assert result.answered == 40 and result.sent == 41 and result.missing == 1
    assert result.refused == 0
    assert_consistent(result)


def test_main_returns_1_when_a_session_is_dropped(capsys):
    fake = FakeAcceptor(close_after=10)
    rc = cli.main(["--port", str(fake.port), "--sessions", "PM1", "--count", "100",
                   "--json", "--no-progress", "--asyncio"])
    fake.join()
    assert rc == 1
    out = json.loads(capsys.readouterr().out)
    assert out["lost"] == ["PM1: the server closed the connection"]
    assert out["answered"] == 10 and out["missing"] == 1


# ---- logon errors ----------------------------------------------------------------------

def test_nothing_listening(client_loop, capsys):
    port = free_port()
    with pytest.raises(FloodError, match=f"cannot connect to 127.0.0.1:{port}"):
        run_on(client_loop, flood(Options(port=port, sessions=["PM1"], count=10)))
    assert cli.main(["--port", str(port), "--count", "10", "--no-progress", "--asyncio"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"flood: cannot connect to 127.0.0.1:{port}")


def test_unknown_sender_comp_id_refused(server):
    """XX9 is not configured: the server closes without a Logout. PM1,
    logged on before it, is closed too."""
    with pytest.raises(FloodError, match=re.escape(
            f"XX9: logon refused by 127.0.0.1:{server.fix_port}: the connection was closed")):
        flood_server(server, sessions=["PM1", "XX9"], count=100)
    assert counters(server)["refused_logons"] == 1
    assert any(e[0] == "refused" and "no session FASTCORE->XX9" in e[2] for e in server.events)
    server.wait_event("disconnect", "FASTCORE->PM1")


@pytest.mark.server_config({"sessions": [{"target_comp_id": "PM1", "password": "pw"}]})
def test_password(server):
    """The Logout's Text is in the error; the right password logs on."""
    for password in ("wrong", None):
        with pytest.raises(FloodError, match=re.escape(
                f"PM1: logon refused by 127.0.0.1:{server.fix_port}: logon refused")):
            flood_server(server, sessions=["PM1"], count=100, password=password)
    assert counters(server)["refused_logons"] == 2
    result = flood_server(server, sessions=["PM1"], count=1000, window=4, password="pw")
    assert result.missing == 0 and result.lost == []


def test_logon_unanswered_times_out_and_closes(client_loop):
    """No answer to the Logon within ``timeout``: FloodError, and the
    connection is closed at once (not left open until the loop ends)."""
    fake = FakeAcceptor(answer_logon=False)

    async def scenario() -> bool:
        with pytest.raises(FloodError, match=r"PM1: no answer to the Logon within 0.2 s"):
            await flood(Options(port=fake.port, sessions=["PM1"], count=10, timeout=0.2))
        return await asyncio.get_running_loop().run_in_executor(None, fake.eof.wait, 5)

    assert run_on(client_loop, scenario()), "the connection was left open"
    fake.join()


@pytest.mark.parametrize("options, message", [
    (dict(sessions=[]), "at least one session"),
    (dict(sessions=["PM1", "ET1"], count=1), "count is below the number of sessions"),
    (dict(window=0), "closed loop needs a window of at least 1"),
    (dict(mix="new=1,limit=2"), "'limit=2': the mix is kind=weight"),
    (dict(protocol="sbe"), "protocol 'sbe': fix or msgspec"),
])
def test_bad_options_before_connecting(options, message):
    opts = Options(port=free_port(), **options)
    with pytest.raises(ValueError, match=re.escape(message)):
        asyncio.run(flood(opts))


# ---- fastcore's msgspec port -----------------------------------------------------------

def flood_msgspec(server, **options: Any) -> Result:
    """A flood run against the fixture's msgspec port, on the server's kind of loop."""
    return run_on(loop_kind(server), flood(Options(protocol="msgspec", port=server.msgspec_port,
                                                   **options)))


def frame_of(obj: Any) -> bytes:
    """A frame of the msgspec port: a Struct or any msgpack-able value."""
    body = msgspec.msgpack.encode(obj)
    return struct.pack(">I", len(body)) + body


class FakeMsgPort(FakeTarget):
    """A stand-in for fastcore's msgspec port, one connection, on a thread
    with blocking sockets. ``logon``: "ack" answers the Logon with Ack,
    "refuse" with Refused (then closes), "close" closes, "silent" answers
    nothing. Each order is answered with a Report carrying its ClOrdID, or
    with Refused when its number (from 0, in arrival order) is in
    ``refuse``; with ``close_after``, once that many are answered, one more
    is read and the connection closed. Logout: Ack "bye", then closed.
    ``orders`` counts the orders, ``eof`` is set when the client closes."""

    def __init__(self, *, logon: str = "ack", refuse: frozenset[int] = frozenset(),
                 close_after: int | None = None) -> None:
        self.logon, self.refuse, self.close_after = logon, refuse, close_after
        self.orders = 0
        super().__init__()

    def _session(self, conn: socket.socket) -> None:
        decoder = msgspec.msgpack.Decoder(Inbound)
        buf = bytearray()
        while True:
            data = self._recv(conn)
            if not data:
                return
            buf += data
            out: list[Any] = []
            while len(buf) >= 4 and len(buf) >= 4 + struct.unpack_from(">I", buf)[0]:
                size = struct.unpack_from(">I", buf)[0]
                msg = decoder.decode(bytes(buf[4:4 + size]))
                del buf[:4 + size]
                if isinstance(msg, Logon):
                    if self.logon == "refuse":
                        conn.sendall(frame_of(Refused(text="no trader " + msg.user)))
                    if self.logon in ("refuse", "close"):
                        return
                    if self.logon == "ack":
                        out.append(Ack(text="logged on"))
                elif isinstance(msg, Logout):
                    conn.sendall(b"".join(map(frame_of, [*out, Ack(text="bye")])))
                    return
                else:
                    if self.close_after is not None and self.orders >= self.close_after:
                        conn.sendall(b"".join(map(frame_of, out)))
                        return
                    out.append(Refused(text="cannot take it") if self.orders in self.refuse
                               else Report(to="PM1", msg_type="8", seq=self.orders + 2,
                                           fields={"11": msg.cl_ord_id, "150": "0"}))
                    self.orders += 1
            if out:
                conn.sendall(b"".join(map(frame_of, out)))



def test_options_port_defaults_to_the_protocols():
    assert Options().port == 9878 and Options(protocol="msgspec").port == 9879
    assert Options(protocol="msgspec", port=1234).port == 1234     # given: used as is
    assert Options(port=9879).protocol == "fix"


@pytest.mark.server_config(ALONE)
@pytest.mark.parametrize("window", [1, 16])
def test_msgspec_closed_loop_every_message_answered(server, window):
    opts = dict(sessions=["PM1", "ET1", "ET2", "ET3"], count=4000, window=window,
                mix=RESTING_MIX)
    result = flood_msgspec(server, **opts)
    assert result.sent == 4000 and result.answered == 4000 and result.missing == 0
    assert result.lost == [] and result.refused == 0
    assert_consistent(result)
    kinds = expected_kinds(Options(**opts))
    assert {k: len(result.latencies[k]) for k in KINDS} == {k: kinds[k] for k in KINDS}
    assert counters(server) == CLEAN
    for comp in opts["sessions"]:                   # each logged out with its Ack
        server.wait_event("disconnect", f"msgspec {comp}")


@pytest.mark.server_config(ALONE)
def test_msgspec_closed_loop_with_marketable_orders(server):
    """Marketable orders trade: a cancel or replace may find its order gone
    (OrderCancelReject: refused, but answered); every message is answered."""
    result = flood_msgspec(server, sessions=["PM1", "ET1"], count=4000, window=8, mix=MIX)
    assert result.missing == 0 and result.lost == []
    assert_consistent(result)
    assert len(result.latencies["market"]) == expected_kinds(
        Options(sessions=["PM1", "ET1"], count=4000, mix=MIX))["market"]


@pytest.mark.server_config(ALONE)
def test_msgspec_open_loop_answered_and_sent_when_due(server):
    rate, count = 20_000, 4000
    result = flood_msgspec(server, sessions=["PM1", "ET1"], count=count, rate=rate,
                           mix=RESTING_MIX, progress=True)
    assert result.sent == count and result.missing == 0 and result.lost == []
    assert result.refused == 0
    assert_consistent(result)
    assert (count - 1) / rate <= result.elapsed < count / rate + 2.0
    assert counters(server) == CLEAN


@pytest.mark.server_config(ALONE)
def test_msgspec_duration_cuts_the_run_short(server):
    result = flood_msgspec(server, sessions=["PM1"], count=4000, rate=1000, duration=0.05)
    assert 0 < result.sent < 4000
    assert result.missing == 0 and result.lost == []
    server.wait_event("disconnect", "msgspec PM1")


# the fields of the engine's reports that echo what it was sent, or follow from it
ECHOED = (35, 11, 41, 150, 39, 54, 38, 44, 40, 59, 55, 32, 31, 151, 14)


@pytest.mark.server_config(ALONE)
def test_same_seed_same_orders_on_both_protocols(server):
    """One seed, one session, over FIX and then over msgspec, each on a
    fresh engine (an operator's reset between): the engine answers both runs
    with the same reports, field for field (ClOrdIDs by their index), and
    each order's first report echoes what the mix drew for it."""
    sent: list[tuple[str, bytes]] = []
    server.call(lambda: server.acceptor.watchers.append(sent.extend))
    opts = dict(sessions=["PM1"], count=1000, window=4, seed=5, mix=MIX)
    fix = flood_server(server, **opts)
    with server.operator() as ops:
        ops.reset()
    msg = flood_msgspec(server, **opts)
    for result in (fix, msg):
        assert result.missing == 0 and result.lost == []
        assert_consistent(result)
    assert fix.refused == msg.refused
    runs: dict[str, list[tuple]] = {}               # run's prefix → its reports
    for to, data in sent:
        m = parse(data)
        prefix, _, index = m.get_str(11, "").rpartition(".")
        assert to == "PM1" and prefix.startswith("F"), m.raw
        fields = {tag: value.decode() for tag, value in m.fields()}
        fields[35] = m.msg_type
        fields[11] = int(index)
        if 41 in fields:
            fields[41] = int(fields[41].rpartition(".")[2])
        runs.setdefault(prefix, []).append(tuple((t, fields.get(t)) for t in ECHOED))
    assert len(runs) == 2
    over_fix, over_msgspec = runs.values()
    assert len(over_fix) >= 1000 and over_fix == over_msgspec
    flow = orders("PM1", 1000, parse_mix(MIX), 5, "", "ESZ6", Decimal("0.25"), Decimal("5000"))
    first: dict[int, dict[int, str]] = {}
    for report in over_msgspec:
        first.setdefault(report[1][1], dict(report))
    assert sorted(first) == list(range(1000))
    for i, (kind, msg_type, fields) in enumerate(flow):
        got, want = first[i], dict(fields)
        assert got[35] == "8" or msg_type != "D", (i, got)     # a cancel/replace may be rejected
        if got[35] == "8" and msg_type in ("D", "G"):
            assert got[54] == want[54], (i, got)
            assert Decimal(got[38]) == Decimal(want[38]) and Decimal(got[44]) == Decimal(want[44])
        if msg_type in ("F", "G"):
            assert got[41] == int(want[41]), (i, got)


@pytest.mark.server_config({"sessions": [{"target_comp_id": "PM1", "password": "pw"}]})
def test_msgspec_password(server):
    """A wrong or missing password: the port's Refused text in the error;
    the right one logs on."""
    for password in ("wrong", None):
        with pytest.raises(FloodError, match=re.escape(
                f"PM1: logon refused by 127.0.0.1:{server.msgspec_port}: logon refused")):
            flood_msgspec(server, sessions=["PM1"], count=100, password=password)
    assert sum(e[0] == "refused" and "wrong password" in e[2] for e in server.events) == 2
    result = flood_msgspec(server, sessions=["PM1"], count=1000, window=4, password="pw")
    assert result.missing == 0 and result.lost == []


def test_msgspec_unknown_user_refused(server):
    """XX9 is no user: refused; PM1, logged on before it, is closed too."""
    with pytest.raises(FloodError, match=re.escape(
            f"XX9: logon refused by 127.0.0.1:{server.msgspec_port}: logon refused")):
        flood_msgspec(server, sessions=["PM1", "XX9"], count=100)
    server.wait_event("disconnect", "msgspec PM1")


@pytest.mark.server_config(ALONE)
def test_msgspec_server_drops_a_session_mid_run(server, monkeypatch):
    drop_after(monkeypatch, server, "PM1", 50, protocol="msgspec")
    t0 = time.monotonic()
    result = flood_msgspec(server, sessions=["PM1", "ET1"], count=2000, window=1, duration=20)
    assert time.monotonic() - t0 < 10
    assert len(result.lost) == 1 and result.lost[0].startswith("PM1: ")
    assert result.missing >= 1 and result.answered >= 1000 + 50
    assert result.sent < 2000
    assert_consistent(result)


@pytest.mark.parametrize("logon, message", [
    ("refuse", "PM1: logon refused by 127.0.0.1:{port}: no trader PM1"),
    ("close", "PM1: logon refused by 127.0.0.1:{port}: the connection was closed"),
    ("silent", "PM1: no answer to the Logon within 0.2 s"),
])
def test_msgspec_logon_refused_closed_or_unanswered(client_loop, logon, message):
    """FloodError, and the connection closed at once."""
    fake = FakeMsgPort(logon=logon)

    async def scenario() -> bool:
        with pytest.raises(FloodError, match=re.escape(message.format(port=fake.port))):
            await flood(Options(protocol="msgspec", port=fake.port, sessions=["PM1"], count=10,
                                timeout=0.2))
        if logon != "silent":                   # the fake closed it
            return True
        return await asyncio.get_running_loop().run_in_executor(None, fake.eof.wait, 5)

    assert run_on(client_loop, scenario()), "the connection was left open"
    fake.join()


def test_msgspec_refused_requests_are_answered_in_order(client_loop):
    """A Refused carries no ClOrdID: it answers the first message sent with
    no answer yet (the port answers a connection's frames in order)."""
    fake = FakeMsgPort(refuse=frozenset({0, 3, 7, 19}))
    result = run_on(client_loop, flood(Options(protocol="msgspec", port=fake.port,
                                               sessions=["PM1"], count=20, window=4)))
    fake.join()
    assert fake.orders == 20
    assert result.answered == 20 and result.missing == 0 and result.lost == []
    assert result.refused == 4
    assert_consistent(result)


def test_msgspec_fake_port_closes_after_some_answers(client_loop):
    fake = FakeMsgPort(close_after=40)
    result = run_on(client_loop, flood(Options(protocol="msgspec", port=fake.port,
                                               sessions=["PM1"], count=1000, window=1)))
    fake.join()
    assert result.lost == ["PM1: the server closed the connection"]
    assert result.answered == 40 and result.sent == 41 and result.missing == 1


# ---- the msgspec session core, frame by frame (no network) ----------------------------

class Sink:
    """A transport that keeps what is written."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.aborted = False

    def write(self, data: Any) -> None:
        self.data += data

    def abort(self) -> None:
        self.aborted = True


def feed(session: Any, data: bytes, chunk: int) -> None:
    """``data`` into the session's receive buffer, ``chunk`` bytes a read."""
    pos = 0
    while pos < len(data):
        buf = session.get_buffer(-1)
        n = min(chunk, len(buf), len(data) - pos)
        buf[:n] = data[pos:pos + n]
        session.buffer_updated(n)
        pos += n


def msg_session(loop: asyncio.AbstractEventLoop, count: int = 8, window: int = 4) -> Any:
    s = stream_msgspec(count=count, prefix="P.")
    session = run.MsgProtocol("PM1", s.data, s.offsets, b"P.", window, loop.create_future(),
                              loop.create_future())
    session.connection_made(Sink())
    return session


def report_frame(clordid: str | None, msg_type: str = "8", exec_type: str = "0") -> bytes:
    fields = {"37": "O1", "150": exec_type, "39": "0"}
    if clordid is not None:
        fields["11"] = clordid
    return frame_of(Report(to="PM1", msg_type=msg_type, seq=2, fields=fields))


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_msgspec_session_reads_frames_in_place(chunk):
    """Only "type", "msg_type", "text" and fields "11"/"150" are read, in
    any order, among values of every msgpack kind (skipped); frames split
    anywhere; what is not a frame of the port is ignored."""
    loop = asyncio.new_event_loop()
    try:
        s = msg_session(loop)
        feed(s, frame_of(Ack(text="logged on")), chunk)
        assert s.logon.result() == "" and s.received == 1
        s.start()
        assert s.next == 4 and bytes(s.transport.data) == s_data_upto(s, 4)
        every_kind = {
            5: "an int key", "x_nil": None, "x_bools": [True, False], "x_int": -5,
            "x_u64": 2**64 - 1, "x_i64": -2**63, "x_u8": 200, "x_i16": -1000, "x_f": 1.5,
            "x_bin8": b"\2" * 10, "x_bin16": b"\0" * 300, "x_bin32": b"\1" * 70_000,
            "x_ext": msgspec.msgpack.Ext(3, b"abcd"),
            "x_ext8": msgspec.msgpack.Ext(4, b"z" * 20), "x_fixext16": msgspec.msgpack.Ext(5, b"q" * 16),
            "x_nested": [1, [2, {"a": None, "b": [{}]}], "s" * 40], "x_str16": "t" * 300,
            "x_str32": "u" * 70_000, "x_map16": {str(i): i for i in range(20)},
        }
        frames = [
            report_frame("P.0"),                                   # the port's own encoding
            frame_of({"fields": {**{str(t): "x" * t for t in range(100, 120)}, "150": "0",
                                 "11": "P.1", 7: 7},
                      **every_kind, "msg_type": "8", "type": "report"}),   # map16 fields
            report_frame("P.2", exec_type="8"),                     # Rejected: refused, answered
            report_frame("P.3", msg_type="9"),                      # OrderCancelReject: the same
            report_frame("P.4", msg_type="3"),                      # Reject: counted, no answer
            report_frame("P.4", msg_type="j"),                      # BusinessMessageReject
            report_frame("Q.4"), report_frame("P.x4"), report_frame("P.99"),  # not ours
            report_frame("P.123456789012345678901"), report_frame(None),
            report_frame("P.0"),                                    # answered already
            frame_of({"type": "report", "msg_type": "8", "fields": ["11", "P.5"]}),
            b"\0\0\0\1\xc1",                                         # not msgpack
            b"\0\0\0\3\x83\xa1a",                                    # a map cut short
            frame_of(["type", "report"]),                          # not a map
        ]
        feed(s, b"".join(frames), chunk)
        assert list(np.flatnonzero(s.answered)) == [0, 1, 2, 3]
        assert (s.answers, s.refused, s.rejects, s.business_rejects) == (4, 2, 1, 1)
        assert s.received == 1 + 12 and s.lost == ""
        assert s.next == 8                                          # 4 answers, window 4
        feed(s, frame_of(Refused(text="cannot take it")), chunk)   # the first unanswered: 4
        assert list(np.flatnonzero(s.answered)) == [0, 1, 2, 3, 4] and s.refused == 3
        assert bytes(s.transport.data) == s_data_upto(s, 8)
        feed(s, frame_of(Ack(text="bye")), chunk)
        assert s.logout.result() == "bye"
    finally:
        loop.close()


def s_data_upto(session: Any, n: int) -> bytes:
    """The first ``n`` frames of ``msg_session``'s stream."""
    s = stream_msgspec(count=session.count, prefix="P.")
    return s.data[:s.offsets[n]]


def test_msgspec_session_logon_refused_and_oversized_frame():
    loop = asyncio.new_event_loop()
    try:
        s = msg_session(loop)
        feed(s, frame_of(Refused(text="logon refused")), 1 << 20)
        assert s.logon.result() == "logon refused" and s.refused == 0
        s = msg_session(loop)
        feed(s, frame_of(Refused(text="")), 1 << 20)
        assert s.logon.result() == "Refused"
        s = msg_session(loop)
        feed(s, frame_of(Ack()) + b"\x7f\0\0\0", 1 << 20)       # 2 GB: not the port
        assert s.lost.startswith("a frame of 2130706432 bytes") and s.transport.aborted
        s.connection_lost(None)
        assert s.lost.startswith("a frame of") and s.logout.result() is None
    finally:
        loop.close()


# ---- the mix ---------------------------------------------------------------------------

def test_parse_mix_weights():
    assert parse_mix(MIX) == {"new": 50.0, "cancel": 20.0, "replace": 20.0, "market": 10.0}
    assert parse_mix(" market = 1.5 ,, ") == {"new": 0.0, "cancel": 0.0, "replace": 0.0,
                                              "market": 1.5}


@pytest.mark.parametrize("text, message", [
    ("new=50,limit=5", "'limit=5': the mix is kind=weight, kinds new, cancel, replace, market"),
    ("new", "'new': the mix is kind=weight"),
    ("new=50,cancel=-1", "'cancel=-1': a weight is not negative"),
    ("new=lots", "'new=lots': 'lots' is not a number"),
    ("new=nan", "'new=nan': 'nan' is not a number"),
    ("new=1,cancel=inf", "'cancel=inf': 'inf' is not a number"),
    ("cancel=50,replace=50", "the mix needs new or market orders"),
    ("new=0,market=0", "the mix needs new or market orders"),
    ("", "the mix needs new or market orders"),
])
def test_parse_mix_errors(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_mix(text)


def stream(seed: int = 1, comp_id: str = "PM1", count: int = 2000, mix: str = MIX,
           prefix: str = "r1.", first_seq: int = 2, sending_time: int = 1_795_253_400_000_000_000):
    """``build`` with the default instrument and the given variations."""
    return build(comp_id, "FASTCORE", count, parse_mix(mix), seed, prefix, "ESZ6",
                 Decimal("0.25"), Decimal("5000"), first_seq, sending_time)


def test_build_is_deterministic_for_a_seed():
    a, b = stream(), stream()
    assert a.data == b.data
    assert (a.offsets == b.offsets).all() and (a.kinds == b.kinds).all()
    assert stream(seed=2).data != a.data
    assert (stream(seed=2).kinds != a.kinds).any()
    assert (stream(comp_id="ET1").kinds != a.kinds).any()        # seeded per session too


def test_build_honours_the_weights():
    counts = Counter(KINDS[k] for k in stream(count=10_000).kinds)
    # cancels and replaces with nothing resting become new orders: rare
    for kind, share in (("new", 0.5), ("cancel", 0.2), ("replace", 0.2), ("market", 0.1)):
        assert abs(counts[kind] / 10_000 - share) < 0.03, (kind, counts)
    assert set(stream(mix="new=1").kinds) == {KINDS.index("new")}
    assert set(stream(mix="market=1").kinds) == {KINDS.index("market")}
    assert KINDS.index("market") not in set(stream(mix=RESTING_MIX).kinds)


def test_build_messages_are_valid_fix_in_sequence():
    """Every message parses clean, numbered from first_seq, ClOrdID prefix +
    index; cancels and replaces name a live order of the session, on its side."""
    s = stream(count=3000, first_seq=7, prefix="run9.")
    batch = Parser().parse_batch(s.data)
    assert batch.count == 3000 and batch.consumed == len(s.data)
    assert list(batch.offsets) == list(s.offsets[:-1])
    assert list(batch.lengths) == list(np.diff(s.offsets))
    live: dict[str, str] = {}                          # ClOrdID → side
    sending = set()
    for i in range(batch.count):
        m = batch.message(i)
        assert batch.status[i] == 0, (i, m.raw)
        kind = KINDS[s.kinds[i]]
        assert (m.get_str(49), m.get_str(56)) == ("PM1", "FASTCORE")
        assert m.get_int(34) == 7 + i
        assert m.get_str(11) == f"run9.{i}"
        assert m.get_str(55) == "ESZ6" and m.get_str(60) == TRANSACT_TIME
        sending.add(m.get_str(52))
        side = m.get_str(54)
        assert m.msg_type == {"new": "D", "market": "D", "cancel": "F", "replace": "G"}[kind]
        if kind in ("new", "replace"):
            px = Decimal(m.get_str(44))
            assert px % Decimal("0.25") == 0 and m.get_str(59) == "0"
            assert px < 5000 if side == "1" else px > 5000   # rests: never crosses the mid
        if kind == "market":
            assert m.get_str(59) == "3"                      # IOC through the mid
            assert Decimal(m.get_str(44)) == (Decimal("5006.25") if side == "1"
                                              else Decimal("4993.75"))
        if kind in ("cancel", "replace"):
            orig = m.get_str(41)
            assert live.pop(orig) == side, (i, orig)
        if kind in ("new", "replace"):
            live[m.get_str(11)] = side
    assert len(sending) == 1                                 # one SendingTime for all


def stream_msgspec(seed: int = 1, comp_id: str = "PM1", count: int = 2000, mix: str = MIX,
                   prefix: str = "r1.") -> Any:
    """``build_msgspec`` with the default instrument and the given variations."""
    return build_msgspec(comp_id, count, parse_mix(mix), seed, prefix, "ESZ6", Decimal("0.25"),
                         Decimal("5000"))


@pytest.mark.parametrize("comp_id", ["PM1", "ET1"])
def test_build_msgspec_sends_the_fix_stream_s_orders(comp_id):
    """Frame by frame the same orders as the FIX stream of the seed: the same
    kinds, MsgTypes and body fields (tags and values), as whole frames."""
    fix, msg = stream(comp_id=comp_id, seed=3), stream_msgspec(comp_id=comp_id, seed=3)
    assert (fix.kinds == msg.kinds).all() and len(msg.offsets) == len(fix.offsets)
    batch = Parser().parse_batch(fix.data)
    decoder = msgspec.msgpack.Decoder(Request)
    for i in range(batch.count):
        start, end = int(msg.offsets[i]), int(msg.offsets[i + 1])
        assert struct.unpack_from(">I", msg.data, start)[0] == end - start - 4
        order = decoder.decode(msg.data[start + 4:end])
        m = batch.message(i)
        assert MESSAGE_TYPES[type(order)] == m.msg_type
        body = {int(tag): value for tag, value in msgspec.to_builtins(order).items()
                if tag.isdigit() and value is not None}
        assert body == {tag: value.decode() for tag, value in m.fields()
                        if tag not in (8, 9, 35, 49, 56, 34, 52, 10)}, i


# ---- the report ------------------------------------------------------------------------

def made_result(**over: Any) -> Result:
    """A Result by hand: 1000 answers of each kind, latencies 1..1000 µs
    (``all``: every one), 4000 sent in 0.5 s."""
    lat = np.arange(1, 1001, dtype=np.int64) * 1000
    fields = dict(options=Options(port=9999, sessions=["PM1", "ET1"], window=16),
                  elapsed=0.5, sent=4000, answered=4000,
                  latencies={**{k: lat for k in KINDS}, "all": np.tile(lat, 4)},
                  rejects=0, business_rejects=0, refused=0, lost=[])
    fields.update(over)
    return Result(**fields)


def test_table():
    lines = table(made_result()).splitlines()
    assert lines[0] == ("127.0.0.1:9999 (fix): 2 sessions, closed loop, window 16: "
                        "4,000 of 4,000 messages answered in 0.500 s = 8,000/s")
    assert lines[1].split() == ["count", "p50", "p90", "p99", "p99.9", "max", "(µs)"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(rows) == [*KINDS, "all"]
    for kind, row in rows.items():
        count, *values = (float(v.replace(",", "")) for v in row)
        assert count == (4000 if kind == "all" else 1000)
        # HDR: 3 significant digits
        for got, want in zip(values, (500, 900, 990, 999, 1000)):
            assert got == pytest.approx(want, rel=2e-3), (kind, values)
    assert len(lines) == 7                                   # no notes


def test_table_notes_and_empty_kinds():
    empty = np.zeros(0, np.int64)
    r = made_result(sent=4010, rejects=2, business_rejects=1, refused=5,
                    lost=["ET1: the server closed the connection"],
                    latencies={**made_result().latencies, "cancel": empty}, options=Options(rate=500))
    text = table(r)
    assert "open loop at 500/s" in text.splitlines()[0]
    assert "\ncancel " not in text                          # no answers: no row
    assert "10 messages unanswered" in text
    assert "5 refused (ExecutionReport Rejected or OrderCancelReject)" in text
    msgspec = table(dataclasses.replace(r, options=Options(rate=500, protocol="msgspec")))
    assert msgspec.startswith("127.0.0.1:9879 (msgspec): 4 sessions, open loop at 500/s")
    assert "5 refused (ExecutionReport Rejected, OrderCancelReject or Refused)" in msgspec
    assert "2 Reject (35=3), 1 BusinessMessageReject (35=j)" in text
    assert "dropped: ET1: the server closed the connection" in text


def test_summary_is_plain_json():
    s = json.loads(json.dumps(summary(made_result())))
    assert set(s) == {"target", "protocol", "sessions", "mode", "sent", "answered", "missing",
                      "elapsed_s", "throughput_per_s", "rejects", "business_rejects", "refused",
                      "lost", "latency_us"}
    assert s["target"] == "127.0.0.1:9999" and s["sessions"] == ["PM1", "ET1"]
    assert s["protocol"] == "fix"
    assert s["mode"] == "closed loop, window 16"
    assert (s["sent"], s["answered"], s["missing"]) == (4000, 4000, 0)
    assert s["throughput_per_s"] == 8000.0 and s["lost"] == []
    assert list(s["latency_us"]) == [*KINDS, "all"]
    for row in s["latency_us"].values():
        assert set(row) == {"count", "p50", "p90", "p99", "p99.9", "max"}
        assert row["p50"] <= row["p90"] <= row["p99"] <= row["p99.9"] <= row["max"]


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "p.png"
    nothing = made_result(answered=0, latencies={k: np.zeros(0, np.int64) for k in (*KINDS, "all")})
    plot({"run": made_result(), "slower": made_result(latencies={
        k: v * 3 for k, v in made_result().latencies.items()}), "none": nothing}, str(path))
    assert path.read_bytes()[:8] == PNG


# ---- the command line ------------------------------------------------------------------

def test_main_json(server, capsys, keep_loop_policy):
    """--json prints the summary; without --asyncio main runs on uvloop."""
    loop_flag = ["--asyncio"] if loop_kind(server) == "asyncio" else []
    rc = cli.main(["--port", str(server.fix_port), "--sessions", "PM1,ET1", "--count", "2000",
                   "--window", "8", "--json", "--no-progress", *loop_flag])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "closed loop, window 8" and out["sessions"] == ["PM1", "ET1"]
    assert out["sent"] == out["answered"] == 2000 and out["missing"] == 0
    assert sum(row["count"] for k, row in out["latency_us"].items() if k != "all") == 2000
    assert counters(server) == CLEAN


def test_main_table_and_plot(server, capsys, tmp_path):
    path = tmp_path / "p.png"
    rc = cli.main(["--port", str(server.fix_port), "--sessions", "PM1", "--count", "1000",
                   "--rate", "20000", "--seed", "7", "--plot", str(path), "--no-progress",
                   "--asyncio"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.startswith(f"127.0.0.1:{server.fix_port} (fix): 1 sessions, open loop at 20000/s: "
                          "1,000 of 1,000 messages answered")
    assert path.read_bytes()[:8] == PNG


@pytest.mark.server_config(ALONE)
def test_main_msgspec_json(server, capsys):
    """--protocol msgspec with an explicit --port: the JSON names the protocol."""
    rc = cli.main(["--protocol", "msgspec", "--port", str(server.msgspec_port), "--sessions",
                   "PM1,ET1", "--count", "2000", "--window", "8", "--mix", RESTING_MIX, "--json",
                   "--no-progress", "--asyncio"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == "msgspec" and out["target"] == f"127.0.0.1:{server.msgspec_port}"
    assert out["sent"] == out["answered"] == 2000 and out["refused"] == 0
    assert sum(row["count"] for k, row in out["latency_us"].items() if k != "all") == 2000


def test_main_bad_options(capsys):
    port = str(free_port())
    assert cli.main(["--port", port, "--mix", "new=1,bogus=2", "--asyncio"]) == 2
    assert capsys.readouterr().err == ("flood: 'bogus=2': the mix is kind=weight, "
                                       "kinds new, cancel, replace, market\n")
    assert cli.main(["--port", port, "--sessions", "PM1,ET1", "--count", "1", "--asyncio"]) == 2
    assert capsys.readouterr().err == "flood: count is below the number of sessions\n"


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    # every Options field but the logon timeout is on the command line
    names = {f.name for f in dataclasses.fields(Options)} - {"timeout", "progress"}
    assert names == {"host", "port", "protocol", "sessions", "target", "password", "count",
                     "rate", "window", "duration", "mix", "seed", "symbol", "tick", "mid",
                     "heartbeat"}
    for flag in (*sorted(names), "json", "plot", "no-progress", "asyncio"):
        assert re.search(rf"--{flag}\b", text), flag
    assert "Closed loop" in text and "Open loop" in text
    flat = " ".join(text.split())
    assert "--protocol {fix,msgspec}" in flat
    # --port: explicit wins, else fastcore's port of the protocol
    assert "given, it is used whatever the protocol" in flat
    assert "9878 for fix, 9879 for msgspec" in flat
