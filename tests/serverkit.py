"""A fastcore server running in the test process, on a loop thread of its
own (asyncio or uvloop), listening on free ports of 127.0.0.1; the tests
talk to it over real sockets with the blocking clients."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

from fastcore.config import merge
from fastcore.server import Server
from fastcore.server.client import FixClient, MsgClient


class RunningServer:
    """``Server(config)`` on a thread; ``call`` runs code on its loop."""

    def __init__(self, config: dict[str, Any], loop_kind: str = "asyncio", *,
                 make: Callable[..., Server] = Server) -> None:
        self.events: list[tuple[str, str, str]] = []       # what the server logged
        self.logged = threading.Condition()
        self.server = make(config, log_event=self._log)
        if loop_kind == "uvloop":
            import uvloop
            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not started.wait(10):
            raise RuntimeError("the server did not start")
        self.acceptor = self.server.acceptor
        self.fix_port = self.server.fix_port
        self.msgspec_port = self.server.msgspec_port

    def _log(self, *event: str) -> None:
        with self.logged:
            self.events.append(event)
            self.logged.notify_all()

    def wait_event(self, event: str, who: str, timeout: float = 10.0) -> tuple[str, str, str]:
        """The first logged ``event`` of ``who``, waiting for it (bounded)."""
        def found():
            return next((e for e in self.events if e[0] == event and e[1] == who), None)
        with self.logged:
            if not self.logged.wait_for(found, timeout):
                raise AssertionError(f"the server logged no {event} of {who}: {self.events}")
            return found()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the server's loop (the acceptor is not thread-safe)."""
        async def run() -> Any:
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def fix(self, comp_id: str = "PM1", **kwargs: Any) -> FixClient:
        """A FIX client of session FASTCORE->``comp_id``, logged on."""
        return FixClient("127.0.0.1", self.fix_port, comp_id, **kwargs)

    def operator(self) -> MsgClient:
        return MsgClient("127.0.0.1", self.msgspec_port, "OPS", "ops", role="operator")

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(timeout=2.0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def server_config(store: str, **over: Any) -> dict[str, Any]:
    """The default configuration on free ports, its stores under ``store``."""
    return merge({"server": {"fix_port": 0, "msgspec_port": 0, "store": store}}, over)
