"""Helpers of the cluster tests (test_cluster.py): a loop thread for the
in-process engines and NATS clients, configuration tables and files, engine
subprocesses, a bounded two-client order flood, the streams read back and
replayed offline.

Everything runs on 127.0.0.1; every wait has a deadline (``until``)."""
from __future__ import annotations

import ast
import asyncio
import collections
import datetime
import json
import os
import re
import signal
import subprocess
import threading
import time
from typing import Any, Callable

import nats
import nats.errors
from nats.js.errors import APIError

from fastcore import config as _config
from fastcore.cluster.entries import Worker, messages
from fastcore.cluster.log import Names
from fastcore.cluster.node import Partition
from fastcore.cluster.run import engine_command
from fastcore.codec import Encoder, parse
from fastcore.engine import Engine
from fastcore.errors import CommandRefused
from fastcore.journal import Records
from fastcore.server.client import ConnectionClosed, FixClient, ServerTimeout

TS = "20261121-10:00:00"
NATS_ERRORS = (nats.errors.Error, asyncio.TimeoutError, OSError)


# ---- waiting ------------------------------------------------------------------------

def until(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.01) -> Any:
    """Poll ``cond()`` until it is truthy (returned); AssertionError naming
    ``what`` after ``timeout`` seconds. Exceptions of ``cond`` count as not yet."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            got = cond()
            if got:
                return got
            last = got
        except Exception as exc:            # noqa: BLE001 - a probe during a failover
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what} (last: {last!r})")
        time.sleep(step)


class LoopThread:
    """An asyncio loop on a daemon thread: the in-process engines
    (``Partition``) and the tests' NATS clients live there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        """``fn(*args)`` on the loop (the engines are not thread-safe)."""
        async def run():
            return fn(*args)
        return self.run(run(), timeout)

    def close(self) -> None:
        async def drain():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.run(drain(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


# ---- configuration ------------------------------------------------------------------

def cluster_table(store, name: str, servers=(), *, lease: float = 0.5,
                  snapshot_every: int = 0, **over) -> dict[str, Any]:
    """The override table of a test cluster (merged over the default by
    ``config.load``): the users of ``config.alone()`` (each trades alone),
    free FIX ports, ``store``, the cluster enabled on ``servers``."""
    table = _config.merge(_config.alone(), {
        "server": {"fix_port": 0, "msgspec_port": 0, "store": os.fspath(store)},
        "cluster": {"enabled": True, "name": name, "servers": list(servers), "lease": lease,
                    "snapshot_every": snapshot_every}})
    return _config.merge(table, over)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {v!r}")


def toml_text(table: dict[str, Any]) -> str:
    """A TOML document of ``table``: scalars, tables of scalars and lists,
    arrays of tables of scalars (what ``cluster_table`` makes)."""
    head, body = [], []
    for key, value in table.items():
        if isinstance(value, dict):
            body.append(f"[{key}]")
            for k, v in value.items():
                if isinstance(v, dict):
                    raise TypeError(f"{key}.{k}: nested tables are not written")
                body.append(f"{k} = {_toml_value(v)}")
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for item in value:
                body.append(f"[[{key}]]")
                body.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
        else:
            head.append(f"{key} = {_toml_value(value)}")
    return "\n".join(head + body) + "\n"


def write_config(path, table: dict[str, Any]) -> str:
    path = os.fspath(path)
    with open(path, "w") as f:
        f.write(toml_text(table))
    assert _config.read(path) == json.loads(json.dumps(table))     # written as meant
    return path


# ---- engine processes ----------------------------------------------------------------

class EngineProc:
    """``fastcore engine`` for one node, as a subprocess (its own process
    group), logging to ``<log_dir>/<node>.log``."""

    def __init__(self, config_path: str, partition: int, node: str, servers, log_dir) -> None:
        self.node = node
        os.makedirs(log_dir, exist_ok=True)
        self.log_path = os.path.join(os.fspath(log_dir), f"{node}.log")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(engine_command(partition, node, servers, config_path),
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, and its exit code (SIGKILL after ``timeout``: AssertionError)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.node} did not stop on SIGTERM: {self.log()}")
        return self.proc.returncode

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def final_status(self) -> dict:
        """The status its clean stop logged (``stopped NODE: {...}``)."""
        for line in reversed(self.log().splitlines()):
            m = re.search(r"stopped\s+" + re.escape(self.node) + r": (\{.*\})$", line)
            if m:
                return ast.literal_eval(m.group(1))
        raise AssertionError(f"{self.node} logged no final status: {self.log()[-2000:]}")


# ---- NATS from the test's side ----------------------------------------------------------

class Probe:
    """A NATS client of the test (on ``loop``): what the streams and the
    leaders bucket hold, retried through failovers."""

    def __init__(self, loop: LoopThread, servers, cfg) -> None:
        self.loop = loop
        self.names = Names(cfg)
        self.nc = loop.run(nats.connect(list(servers), connect_timeout=2,
                                        reconnect_time_wait=0.1, max_reconnect_attempts=-1,
                                        ping_interval=1, max_outstanding_pings=2))
        self.js = self.nc.jetstream(timeout=2.0)

    def _retry(self, make, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.loop.run(make(), 5.0)
            except (*NATS_ERRORS, APIError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def setup(self, cfg) -> None:
        """The cluster's streams and buckets made (``log.setup``), and each
        answering a read."""
        from fastcore.cluster.log import setup
        self.loop.run(setup(self.js, cfg), 40)
        streams = [f"OBJ_{self.names.snapshots}", f"KV_{self.names.leaders}"]
        for p in range(self.names.partitions):
            streams += [self.names.input(p)[0], self.names.output(p)[0]]
        for stream in streams:
            until(lambda s=stream: self._answers(s), 20, f"{stream} answers a read")

    def _answers(self, stream: str) -> bool:
        from nats.js.errors import NotFoundError
        try:
            self.loop.run(self.js.get_last_msg(stream, ">"), 5)
        except NotFoundError:
            pass
        return True

    def info(self, stream: str):
        return self._retry(lambda: self.js.stream_info(stream))

    def last(self, stream: str) -> int:
        return self.info(stream).state.last_seq

    def leader(self, stream: str) -> str:
        return self.info(stream).cluster.leader

    def entries(self, stream: str, last: int | None = None) -> list:
        """Every message of ``stream`` (1..last), as RawStreamMsg (data, headers, time)."""
        last = self.last(stream) if last is None else last
        msgs = [self._retry(lambda n=n: self.js.get_msg(stream, n)) for n in range(1, last + 1)]
        for msg in msgs:
            if msg.data is None:            # nats-py's reading of an empty message
                msg.data = b""
        return msgs

    def primary(self, p: int) -> str | None:
        """The node the leaders bucket names for partition ``p`` (None: none)."""
        async def get():
            kv = await self.js.key_value(self.names.leaders)
            try:
                return (await kv.get(f"p{p}")).value.decode()
            except Exception:                   # noqa: BLE001 - deleted or not there
                return None
        return self._retry(get)

    def close(self) -> None:
        try:
            self.loop.run(self.nc.close(), 5)
        except Exception:                       # noqa: BLE001
            pass


def wall(t: datetime.datetime) -> float:
    """A stream message's time as time.time()."""
    return t.timestamp()


# ---- replaying a partition offline -----------------------------------------------------

def replay(config, p: int, entries: list[bytes]) -> tuple[Partition, list[bytes]]:
    """A fresh engine of partition ``p`` fed ``entries`` (the input stream's
    data, entry 1 on) with ``Partition.work``: (the partition, the output
    payload of each entry, as the output stream should hold them)."""
    part = Partition(config, p, "replay")
    part.worker = Worker(Engine(part.config))
    for n, data in enumerate(entries, 1):
        part.work(n, data)
    assert [n for n, _ in part.pending] == list(range(1, len(entries) + 1))
    return part, [payload for _, payload in part.pending]


USERS = tuple(u["name"] for u in _config.alone()["users"])
"""The users of every rig's configuration, in the engines' order."""


def outputs(payloads: list[bytes]) -> list[tuple[str, dict]]:
    """Every (user, {tag: str}) of the output entries, in order."""
    out = []
    for payload in payloads:
        for user, data in messages(payload):
            out.append((USERS[user],
                        {t: v.decode("latin-1") for t, v in parse(data).to_dict().items()}))
    return out


def order_exists(engine: Engine, clordid: str, session: str) -> bool:
    try:
        engine.order_state(clordid, session)
        return True
    except CommandRefused:
        return False


# ---- FIX messages for input entries --------------------------------------------------

def nos(clordid: str, symbol: str = "ESZ6", side: str = "1", qty: int = 10,
        px: str = "100") -> list[tuple[int, str]]:
    return [(11, clordid), (55, symbol), (54, side), (38, str(qty)), (40, "2"), (44, px),
            (60, TS), (59, "0")]


def fix_bytes(user: str, seq: int, fields, msg_type: str = "D", now: int | None = None) -> bytes:
    return Encoder(user, "FASTCORE").encode(msg_type, list(fields), seq,
                                            time.time_ns() if now is None else now)


def entry(*records, now: int = 1_795_253_400_000_000_000) -> bytes:
    """An input log entry of ``records`` ((kind, user index, data)), as
    the gateway frames them."""
    rec = Records()
    for kind, user, data in records:
        rec.append(kind, user, now, data)
    return rec.take()


# ---- the order flood -------------------------------------------------------------------

IGNORED = {8, 9, 10, 34, 43, 52, 97, 122}        # session-level fields of a message


class Flood:
    """A bounded flood: ``count`` NewOrderSingles from each client, one
    every ``interval`` s (round robin), on ``symbol``: the first client buys
    and the second sells around one price, so orders rest, trade and fill in
    part. A reader thread per client records every message with its arrival
    time. ``started``/``done`` tell where it is; ``stop`` ends it."""

    def __init__(self, clients: list[FixClient], count: int, *, interval: float = 0.002,
                 symbol: str = "ESZ6", prefix: str = "F") -> None:
        self.clients = clients
        self.count = count
        self.interval = interval
        self.symbol = symbol
        self.prefix = prefix
        self.sent: dict[str, tuple[str, float]] = {}            # ClOrdID → (comp id, when)
        self.got: dict[str, list[tuple[float, dict]]] = {c.comp_id: [] for c in clients}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._send, daemon=True)]
        self.threads += [threading.Thread(target=self._read, args=(c,), daemon=True)
                         for c in clients]

    def start(self) -> Flood:
        for t in self.threads:
            t.start()
        return self

    def _send(self) -> None:
        try:
            k = 0
            for i in range(self.count):
                for j, c in enumerate(self.clients):
                    if self.stopping.is_set():
                        return
                    side = "1" if j % 2 == 0 else "2"
                    px = str(99 + (k % 3) if side == "1" else 100 + (k % 3) - 1)
                    clordid = f"{self.prefix}{c.comp_id}-{i}"
                    with self.lock:
                        self.sent[clordid] = (c.comp_id, time.monotonic())
                    c.send("D", nos(clordid, self.symbol, side, 1 + k % 7, px))
                    k += 1
                    time.sleep(self.interval)
        except BaseException as exc:            # noqa: BLE001
            self.errors.append(exc)
        finally:
            self.done.set()

    def _read(self, c: FixClient) -> None:
        while not self.stopping.is_set():
            try:
                c.read(time.monotonic() + 0.1)
            except ServerTimeout:
                continue
            except (ConnectionClosed, OSError) as exc:
                if not self.stopping.is_set():
                    self.errors.append(exc)
                return
            now = time.monotonic()
            msgs, c.received = c.received, []
            with self.lock:
                for m in msgs:
                    if not m.is_admin:
                        self.got[c.comp_id].append(
                            (now, {t: v.decode("latin-1") for t, v in m.to_dict().items()}))

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(5)

    # ---- what arrived ----

    def reports(self, comp_id: str | None = None) -> list[tuple[float, dict]]:
        with self.lock:
            return [(t, m) for c, got in self.got.items() if comp_id in (None, c)
                    for t, m in got if m.get(35) == "8"]

    def answers(self) -> collections.Counter:
        """ClOrdID → how many answers (ExecType New or Rejected) it got."""
        return collections.Counter(m[11] for _, m in self.reports() if m.get(150) in ("0", "8"))

    def acked(self) -> dict[str, list[float]]:
        """ClOrdID → the arrival times of its ExecType New reports."""
        out: dict[str, list[float]] = collections.defaultdict(list)
        for t, m in self.reports():
            if m.get(150) == "0":
                out[m[11]].append(t)
        return out

    def all_answered(self) -> bool:
        answers = self.answers()
        return self.done.is_set() and len(self.sent) == self.count * len(self.clients) \
            and all(answers[c] for c in self.sent)

    def check(self) -> list[str]:
        """The client-side problems: an order answered other than once, an
        ExecID received twice (with what content), a message of the
        flood's with no ClOrdID sent."""
        problems = [f"flood: {exc!r}" for exc in self.errors]
        answers = self.answers()
        for clordid in self.sent:
            if answers[clordid] != 1:
                problems.append(f"{clordid} answered {answers[clordid]} times")
        for clordid in answers.keys() - self.sent.keys():
            problems.append(f"{clordid} answered, never sent")
        seen: dict[str, dict] = {}
        for _, m in self.reports():
            body = {t: v for t, v in m.items() if t not in IGNORED}
            exec_id = m.get(17)
            if exec_id in seen:
                same = "same" if seen[exec_id] == body else "different"
                problems.append(f"ExecID {exec_id} received twice ({same} content): "
                                f"{seen[exec_id]} / {body}")
            seen[exec_id] = body
        return problems


def gap_after(times: list[float], t0: float) -> float:
    """The longest silence between consecutive arrivals around ``t0`` (from
    the last one before it to the first after it, and each one after)."""
    before = [t for t in times if t <= t0]
    after = sorted(t for t in times if t > t0)
    if not after:
        return float("inf")
    prev = before[-1] if before else t0
    longest = 0.0
    for t in after:
        longest = max(longest, t - prev)
        prev = t
    return longest


# ---- a test cluster -------------------------------------------------------------------------

class Rig:
    """One test's cluster on a NATS cluster (``nats``): its configuration
    (a table, a Config and a TOML file for the engine processes), the
    in-process engines, the engine processes, the gateway and a probe.
    ``close`` stops whatever was started."""

    def __init__(self, tmp, loop: LoopThread, nats_cluster, name: str, *,
                 setup_first: bool = True, **over) -> None:
        from pathlib import Path
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.loop = loop
        self.nats = nats_cluster
        self.table = cluster_table(self.tmp / "store", name, nats_cluster.urls, **over)
        self.config = _config.load(self.table)
        self.cfg = self.config.cluster
        self.names = Names(self.cfg)
        self.config_path = write_config(self.tmp / f"{name}.toml", self.table)
        self.probe = Probe(loop, nats_cluster.urls, self.cfg)
        if setup_first:         # the streams made and answering before any part starts
            self.probe.setup(self.cfg)
        self.parts: dict[str, Partition] = {}
        self.procs: dict[str, EngineProc] = {}
        self.gateway = None
        self.clients: list[FixClient] = []

    # ---- parts ----

    def partition(self, p: int, node: str, servers=None) -> Partition:
        """An engine of partition ``p`` in this process, started."""
        part = Partition(self.config, p, node, servers=servers)
        self.parts[node] = part
        self.loop.run(part.start())
        return part

    def primary(self, p: int = 0) -> Partition:
        """The engine ``p<p>-a`` of partition ``p`` in this process, once it
        holds the lease."""
        part = self.partition(p, f"p{p}-a")
        until(lambda: part.primary, 5, "primary")
        return part

    def stop_partition(self, node: str) -> None:
        part = self.parts.pop(node)
        self.loop.run(part.stop(), 15)

    def engine(self, p: int, node: str) -> EngineProc:
        """An engine of partition ``p`` as a ``fastcore engine`` process."""
        proc = EngineProc(self.config_path, p, node, self.nats.urls, self.tmp / "engines")
        self.procs[node] = proc
        return proc

    def start_gateway(self, table: dict | None = None):
        from fastcore.cluster.gateway import Gateway
        from serverkit import RunningServer
        self.gateway = RunningServer(table or self.table,
                                     make=lambda c, log_event: Gateway(c, log_event=log_event))
        return self.gateway

    def stop_gateway(self) -> None:
        for c in self.clients:
            c.close()
        self.clients = []
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None

    def fix(self, comp_id: str, **kw) -> FixClient:
        c = self.gateway.fix(comp_id, **kw)
        self.clients.append(c)
        return c

    # ---- what the parts hold ----

    def status(self, node: str) -> dict:
        """``status()`` of an in-process engine (on its loop)."""
        return self.loop.call(self.parts[node].status)

    def settled(self, p: int) -> int:
        """Poll-able: the input stream's last entry once the output stream
        has one output for each input entry (0 while not)."""
        n_in = self.probe.last(self.names.input(p)[0])
        n_out = self.probe.last(self.names.output(p)[0])
        return n_in if n_in == n_out else 0

    def streams(self, p: int):
        """(input entries, output entries) of partition ``p`` (RawStreamMsg)."""
        return (self.probe.entries(self.names.input(p)[0]),
                self.probe.entries(self.names.output(p)[0]))

    def check_streams(self, p: int) -> tuple[Partition, list, list]:
        """Partition ``p``'s output stream against an offline replay of its
        input stream: one output entry per input entry, each the replay's
        bytes, each published once (its message id ``<p>:<n>``).
        Returns (the replayed partition, input entries, output entries)."""
        ins, outs = self.streams(p)
        assert len(outs) == len(ins), f"{len(outs)} output entries for {len(ins)} inputs"
        part, expected = replay(self.config, p, [m.data for m in ins])
        for n, (msg, payload) in enumerate(zip(outs, expected), 1):
            assert msg.headers.get("Nats-Msg-Id") == f"{p}:{n}", (n, msg.headers)
            assert msg.data == payload, f"output entry {n} differs from the replay's"
        return part, ins, outs

    def close(self) -> None:
        errors = []
        try:
            self.stop_gateway()
        except Exception as exc:            # noqa: BLE001
            errors.append(exc)
        for node in list(self.parts):
            try:
                self.stop_partition(node)
            except Exception as exc:        # noqa: BLE001
                errors.append(exc)
        for proc in self.procs.values():
            proc.cleanup()
        self.probe.close()
        if errors:
            raise errors[0]


def keep_leaders_off(probe: Probe, streams, server_name: str, timeout: float = 20.0) -> None:
    """Until none of ``streams`` is led by ``server_name``: each one it
    leads is asked to step down (JetStream elects another of its replicas)."""
    def off() -> bool:
        moved = False
        for stream in streams:
            if probe.leader(stream) == server_name:
                moved = True
                try:
                    probe.loop.run(probe.nc.request(
                        f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", b"", timeout=2), 5)
                except NATS_ERRORS:
                    pass
        return not moved
    until(off, timeout, f"no stream of {list(streams)} led by {server_name}", step=0.1)


def meta_leader(nats_cluster) -> str:
    """The server name of the JetStream meta leader (from a node's /jsz)."""
    import urllib.request

    def ask():
        for port in nats_cluster.monitor_ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/jsz", timeout=1) as r:
                    leader = json.load(r).get("meta_cluster", {}).get("leader")
            except OSError:
                continue
            if leader:
                return leader
        return None
    return until(ask, 10, "a JetStream meta leader", step=0.05)
