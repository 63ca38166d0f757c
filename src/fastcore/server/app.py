"""``fastcore serve``: the FIX port, the msgspec port, the timers, signals.

    from fastcore.server import Server
    server = Server()                         # the embedded default configuration
    await server.start()                      # listening on 127.0.0.1:9878 (FIX), :9879 (msgspec)
    await server.stop()                       # Logout to every session, stores flushed

    fastcore.server.run(config)               # the command: uvloop, SIGINT/SIGTERM, until stopped
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time

from fastcore import config as _config
from fastcore.server.msgport import MsgPort, MsgProtocol
from fastcore.server.session import Acceptor, Connection

log = logging.getLogger("fastcore.server")


class FixProtocol(Connection, asyncio.BufferedProtocol):
    """The FIX port's protocol: the Connection core does all of it."""


def _log_line(event: str, who: str, text: str) -> None:
    """One readable line per event: "logon      FASTCORE->PM1: from 127.0.0.1:50212, ..."."""
    log.info("%-10s %s", event, f"{who}: {text}" if who and text else who or text)


class Server:
    """The FIX acceptor and the msgspec port over one engine."""

    def __init__(self, config=None, *, log_event=_log_line) -> None:
        self.config = _config.load(config)
        self.acceptor = Acceptor(self.config, log=log_event)
        self.acceptor.idle = self._idle
        self._idle_event: asyncio.Event | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._ticker: asyncio.Task | None = None

    def _idle(self) -> None:
        if self._idle_event is not None:
            self._idle_event.set()

    @property
    def fix_port(self) -> int:
        """The FIX port listened on (the configured one, or the one given for 0)."""
        return self._servers[0].sockets[0].getsockname()[1]

    @property
    def msgspec_port(self) -> int | None:
        """The msgspec port listened on; None on a cluster's gateway (none)."""
        if len(self._servers) < 2:
            return None
        return self._servers[1].sockets[0].getsockname()[1]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        srv = self.config.server
        self._servers = [
            await loop.create_server(lambda: FixProtocol(self.acceptor), srv.host, srv.fix_port)]
        if self.config.cluster.enabled:         # the engines are elsewhere
            where = f"a cluster of {len(self.config.cluster.partitions)} partitions"
        else:
            port = MsgPort(self)
            self._servers.append(
                await loop.create_server(lambda: MsgProtocol(port), srv.host, srv.msgspec_port))
            where = f"msgspec on port {self.msgspec_port}; {self.acceptor.engine.config.mode} mode"
        self._ticker = asyncio.create_task(self._tick())
        self.acceptor.log("listening", f"{srv.host}:{self.fix_port}",
                          f"FIX 4.4; {where}; {len(self.acceptor.sessions)} sessions")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.acceptor.tick(time.time_ns())

    async def stop(self, text: str = "server shutting down", timeout: float = 2.0) -> None:
        """Logout to every session, wait (up to ``timeout`` s) for the
        clients' Logouts, close the connections and flush the stores."""
        for server in self._servers:
            server.close()
        if self._ticker is not None:
            self._ticker.cancel()
        self._idle_event = asyncio.Event()
        if self.acceptor.connections:
            self.acceptor.shutdown(time.time_ns(), text)
            try:
                await asyncio.wait_for(self._idle_event.wait(), timeout)
            except asyncio.TimeoutError:
                for conn in list(self.acceptor.connections):
                    conn.transport.abort()
        self.acceptor.close()
        self.acceptor.log("stopped", "", "every session's store flushed")

    async def serve(self) -> None:
        """Run until SIGINT or SIGTERM, then stop cleanly."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        settle()
        await stop.wait()
        await self.stop()


def settle() -> None:
    """Once a server process has started: what it made so far (modules,
    the configuration, recovery's leftovers) is moved out of the cyclic
    garbage collector's way (``gc.freeze``). A full collection then walks only
    what came after: the ~30k objects numpy, msgspec and asyncio bring took
    it 10-25 ms a time on a 2-core VM, a pause in the middle of the flow."""
    gc.collect()
    gc.freeze()


def install_uvloop() -> bool:
    """uvloop as the event loop when it is installed (asyncio's otherwise)."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def run(config=None) -> None:
    """``fastcore serve``: log to stderr, uvloop, serve until a signal."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    loop_name = "uvloop" if install_uvloop() else "asyncio"
    config = _config.load(config)
    if config.cluster.enabled:                  # a cluster's gateway
        from fastcore.cluster.gateway import Gateway
        server = Gateway(config)
    else:
        server = Server(config)
    log.info("%-10s %s", "starting", f"fastcore on {loop_name}")
    asyncio.run(server.serve())
