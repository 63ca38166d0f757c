"""The cluster's FIX server: the sessions as on a single node, the engines
elsewhere.

    gateway = Gateway(config)          # config.cluster.enabled, servers set
    await gateway.start()              # NATS, the output streams, then the FIX port
    await gateway.stop()

Inputs: each batch's application messages are added to their partitions'
log entries (``Ingress``); at the batch's end each partition's entry is
published to its input stream, one publish in flight per partition (the
next entry gathers what arrives meanwhile: entries grow with the load), a
failed publish retried with the same bytes and message id until the stream
acknowledges it (the stream drops it if the first one did land).

Outputs: each partition's output stream is followed from the entry after
the last one delivered (``<store>/<name>.cursors``); each entry's messages
are numbered for their sessions, stored, sent and copied to the drop copies
as a single node's would be. The cursors name an entry before it is
relayed, with its number among all the entries relayed, and the stores it
touches count that number in (their journal_seq): after a crash, a restart
relays that last entry again to the sessions whose stores lack it, and only
to them (``Acceptor.relay``).

The msgspec port, the journal and the audit trail are the single node's:
on a cluster the input streams are the journal, and the engines keep what
they did.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from nats.js import api
from nats.js.errors import NotFoundError

from fastcore import config as _config
from fastcore.cluster.log import NATS_ERRORS, Names, connect, setup
from fastcore.errors import ClusterError, JournalError
from fastcore.server.app import Server, _log_line

log = logging.getLogger("fastcore.cluster")

CURSOR = 21                     # bytes per line of the cursors file: 20 digits and \n


class Gateway(Server):
    """The FIX acceptor of a cluster (``config.cluster`` enabled)."""

    def __init__(self, config=None, *, servers=None, log_event=_log_line) -> None:
        config = _config.load(config)
        if not config.cluster.enabled:
            raise ClusterError("cluster.enabled", "the gateway needs a cluster configuration")
        super().__init__(config, log_event=log_event)
        self.cfg = config.cluster
        self.servers = servers
        self.names = Names(self.cfg)
        self.ingress = self.acceptor.ingress
        self.parts = self.names.partitions
        self.sending = [False] * self.parts
        self.cursors = [0] * self.parts     # per partition: the last output entry relayed
        self.relayed = 0                    # output entries relayed (the stores count in it)
        self.last = -1                      # the partition of the last one
        self.counts = {"entries": 0, "retries": 0, "outputs": 0, "unreadable": 0}
        self._tasks: set[asyncio.Task] = set()
        self.nc = self.js = None
        os.makedirs(config.server.store, exist_ok=True)
        self._cursor_path = os.path.join(config.server.store, f"{self.cfg.name}.cursors")
        self._cursor_fd = -1

    async def start(self) -> None:
        self.nc = await connect(self.cfg, self.servers, name="fastcore gateway")
        self.js = self.nc.jetstream(timeout=2.0)
        await setup(self.js, self.cfg)
        fresh = not os.path.exists(self._cursor_path)
        self._cursor_fd = os.open(self._cursor_path, os.O_RDWR | os.O_CREAT, 0o644)
        saved = [int(c) for c in os.pread(self._cursor_fd, CURSOR * (self.parts + 2), 0).split()]
        for p in range(self.parts):
            stream, _ = self.names.output(p)
            last = (await self.js.stream_info(stream)).state.last_seq
            cursor = saved[p] if not fresh and p < len(saved) else last
            if cursor > last:
                self.acceptor.log("cluster", stream, f"the gateway's cursor {cursor} is past the "
                                  f"stream's last entry {last} (a new stream): following it from "
                                  f"{last + 1}")
                cursor = last
                saved[p] = -1                   # its last entry is not the one relayed
            self.cursors[p] = cursor
        if len(saved) == self.parts + 2:
            self.relayed, self.last = saved[self.parts], saved[self.parts + 1] - 1
            if self.last >= 0 and saved[self.last] == self.cursors[self.last] > 0:
                await self._again()
        else:                                   # a new file: count on from the stores
            self.relayed = max(s.store.journal_seq for s in self.acceptor.sessions.values())
        for p in range(self.parts):
            stream, subject = self.names.output(p)
            await self.js.subscribe(
                subject, stream=stream, cb=self._receiver(p), ordered_consumer=True,
                idle_heartbeat=0.5,
                config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                          opt_start_seq=self.cursors[p] + 1),
                pending_msgs_limit=1 << 20, pending_bytes_limit=1 << 30)
        self._save_cursors()
        self.ingress.ready = self._ready
        await super().start()
        self.acceptor.log("cluster", ", ".join(self.servers or self.cfg.servers),
                          f"{self.parts} partitions; outputs from entries "
                          f"{', '.join(str(c + 1) for c in self.cursors)}")

    async def stop(self, text: str = "server shutting down", timeout: float = 2.0) -> None:
        await super().stop(text, timeout)
        for task in list(self._tasks):          # what the last batches published
            try:
                await asyncio.wait_for(task, timeout)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()
        if self._cursor_fd >= 0:
            os.close(self._cursor_fd)
            self._cursor_fd = -1

    # ---- inputs ------------------------------------------------------------------

    def _ready(self) -> None:
        """The batch's end: a publisher for each partition with inputs and none."""
        for p in range(self.parts):
            if not self.sending[p] and self.ingress.pending(p):
                self.sending[p] = True
                task = asyncio.get_running_loop().create_task(self._publish(p))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _publish(self, p: int) -> None:
        _, subject = self.names.input(p)
        try:
            while (entry := self.ingress.take(p, self.cfg.max_entry)) is not None:
                msg_id, data = entry
                while True:
                    try:
                        await self.js.publish(subject, data, timeout=2.0,
                                              headers={"Nats-Msg-Id": msg_id})
                        break
                    except NATS_ERRORS as exc:  # the same entry again, until acknowledged
                        self.counts["retries"] += 1
                        if self.counts["retries"] % 20 == 1:
                            self.acceptor.log("cluster", subject, f"publish retried: {exc!r}")
                        await asyncio.sleep(0.05)
                self.counts["entries"] += 1
        finally:
            self.sending[p] = False

    # ---- outputs -----------------------------------------------------------------

    def _receiver(self, p: int):
        async def receive(msg) -> None:
            n = msg.metadata.sequence.stream
            if n <= self.cursors[p]:
                return
            self.cursors[p] = n
            self.relayed += 1
            self.last = p
            self.counts["outputs"] += 1
            self._save_cursors()                # first: a crash from here on, see _again
            self._relay(p, n, msg.data)
        return receive

    def _relay(self, p: int, n: int, data: bytes, again: bool = False) -> None:
        try:
            self.acceptor.relay(data, time.time_ns(), self.relayed, again)
        except JournalError as exc:         # not an engine's: nothing of it can be delivered
            self.counts["unreadable"] += 1
            self.acceptor.log("cluster", f"{self.names.output(p)[0]} entry {n}", str(exc))

    async def _again(self) -> None:
        """The last entry the cursors name as relayed: a crash may have cut
        its delivery short (some stores saved, some not); it goes again to
        the sessions whose stores lack it (``Acceptor.relay``, ``again``)."""
        stream, _ = self.names.output(self.last)
        try:
            found = await self.js.get_msg(stream, self.cursors[self.last])
        except NotFoundError:               # gone with its stream: nothing to complete
            return
        self._relay(self.last, self.cursors[self.last], found.data or b"", again=True)

    def _save_cursors(self) -> None:
        """Each partition's last entry relayed, the entries relayed, and the
        partition of the last one (+1; 0: none)."""
        os.pwrite(self._cursor_fd, b"".join(b"%020d\n" % c for c in (
            *self.cursors, self.relayed, self.last + 1)), 0)
