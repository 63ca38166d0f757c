"""The commands: ``fastcore engine`` (one partition's engine) and
``fastcore cluster`` (a whole cluster on this machine).

``fastcore cluster`` starts three NATS nodes on 127.0.0.1 (unless
``cluster.servers`` names a cluster of your own), two engine processes per
partition (``p<p>-a`` and ``p<p>-b``: whichever takes the lease first is
the primary, the other its hot standby) and the FIX gateway, and runs until
SIGINT or SIGTERM; then the gateway logs its sessions out, the engines stop
and the NATS nodes with them. An engine that dies is started again (it
comes back from its snapshot as a standby).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys

from fastcore import config as _config
from fastcore.cluster.natsd import NatsCluster

log = logging.getLogger("fastcore.cluster")
RESTART_DELAY = 1.0             # s before a dead engine is started again


def engine_command(partition: int, node: str, servers, config_path: str | None) -> list[str]:
    """The command line of ``fastcore engine`` for one node."""
    cmd = [sys.executable, "-m", "fastcore.cli", "engine", "--partition", str(partition),
           "--node", node, "--servers", ",".join(servers)]
    return cmd + (["--config", config_path] if config_path else [])


async def run_engine(config, partition: int, node: str, servers=None) -> int:
    """One partition's engine until SIGINT or SIGTERM (0), or until it fails (1)."""
    from fastcore.cluster.node import Partition
    from fastcore.server.app import settle
    part = Partition(config, partition, node, servers=servers)
    await part.start()
    settle()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    done = asyncio.ensure_future(stop.wait())
    await asyncio.wait([done, *part._tasks], return_when=asyncio.FIRST_COMPLETED)
    failed = next((t.exception() for t in part._tasks if t.done() and not t.cancelled()
                   and t.exception() is not None), None)
    await part.stop()
    log.info("%-10s %s", "stopped", f"{node}: {part.status()}")
    if failed is not None:
        log.error("%-10s %s", "failed", f"{node}: {failed!r}")
        return 1
    return 0


def main_engine(config, partition: int, node: str, servers=None) -> int:
    from fastcore.server.app import install_uvloop
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    install_uvloop()
    return asyncio.run(run_engine(config, partition, node, servers))


class Engines:
    """The engine processes of a cluster, started again when one dies."""

    def __init__(self, config, servers, config_path: str | None, log_dir: str) -> None:
        self.commands = {f"p{p}-{x}": engine_command(p, f"p{p}-{x}", servers, config_path)
                         for p in range(len(config.cluster.partitions)) for x in "ab"}
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def start(self, node: str) -> None:
        os.makedirs(self.log_dir, exist_ok=True)
        with open(os.path.join(self.log_dir, f"{node}.log"), "ab") as out:
            self.procs[node] = subprocess.Popen(self.commands[node], stdout=out,
                                                stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL)

    def start_all(self) -> None:
        for node in self.commands:
            self.start(node)

    async def watch(self) -> None:
        """Start again each engine that exits, until ``stop``."""
        while not self.stopping:
            await asyncio.sleep(RESTART_DELAY)
            for node, proc in list(self.procs.items()):
                if proc.poll() is not None and not self.stopping:
                    log.info("%-10s %s", "engine", f"{node} exited ({proc.returncode}): "
                             "started again")
                    self.start(node)

    def stop(self) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main_cluster(config_path: str | None, store: str | None = None) -> int:
    """``fastcore cluster``: NATS, the engines and the gateway until a signal."""
    from fastcore.cluster.gateway import Gateway
    from fastcore.server.app import install_uvloop, settle
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = _config.load(config_path)
    over: dict = {"cluster": {"enabled": True}}
    if store:
        over["server"] = {"store": store}
    config = _config.overlay(config, over)
    cfg = config.cluster
    nats = None
    servers = list(cfg.servers)
    if not servers:
        directory = cfg.nats_store or os.path.join(config.server.store, "nats")
        nats = NatsCluster(directory, nodes=3, port=cfg.nats_port, name=cfg.name).start()
        servers = nats.urls
        log.info("%-10s %s", "nats", f"3 nodes: {', '.join(servers)} (files in {directory})")
    config = _config.overlay(config, {"cluster": {"servers": servers}})
    engines = Engines(config, servers, os.path.abspath(config_path) if config_path else None,
                      os.path.join(config.server.store, "engines"))
    install_uvloop()

    async def serve() -> None:
        gateway = Gateway(config)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        engines.start_all()
        watcher = asyncio.create_task(engines.watch())
        await gateway.start()
        settle()
        log.info("%-10s %s", "cluster", f"{len(cfg.partitions)} partitions, engines "
                 f"{', '.join(engines.commands)} (logs in {engines.log_dir})")
        await stop.wait()
        engines.stopping = True
        watcher.cancel()
        await gateway.stop()

    try:
        asyncio.run(serve())
    finally:
        engines.stop()
        if nats is not None:
            nats.stop()
    return 0
