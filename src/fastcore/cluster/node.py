"""One partition's engine: a process that works its partition's input log
in order, as the primary (it publishes the engine's output) or as the hot
standby (it works every entry too, and holds the output the primary has not
yet been seen to publish).

    node = Partition(config, 0, "p0-a")
    await node.start()               # snapshot, then the log from the entry after it
    ...
    await node.stop()

    fastcore engine --partition 0 --node p0-a [--config FILE]   # the command

Determinism makes the two interchangeable: an engine is a function of its
inputs, so the primary and the standby hold the same state after entry
``n`` and send the same messages for it, and a new primary can publish any
output the old one had not.

Leadership: the key ``p<p>`` of the leaders bucket names the primary. It
renews it by compare-and-set every quarter ``lease``; a standby that sees
its revision unchanged for ``lease`` seconds takes it, by compare-and-set
on that revision (one standby wins). A primary whose renewal fails, or that
has not renewed for ``lease``, becomes a standby at once.

Output: entry ``n`` of the output stream is the output for input entry
``n``, published with the expected last sequence ``n - 1`` and the id
``<p>:<n>``. A stale primary (paused past its lease, say) publishes
nothing new: its publish is either a duplicate of what the new primary
published, or refused by the stream (``Fenced``): it then reads the
stream's last entry and drops what is there.

Duplicates: the gateway may publish an input twice (a retry after a lost
acknowledgement, a gateway restarted before its stores were saved). The
stream drops a retry by its message id; the engine skips any FIX message
whose MsgSeqNum is not above the last it took from that user.

Snapshots: every ``snapshot_every`` entries the primary copies the engine's
state and uploads it to the object store once the output of those entries
is published (so a restart from it never lacks an output).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from nats.js import api
from nats.js.errors import (APIError, KeyDeletedError, KeyNotFoundError,
                            KeyWrongLastSequenceError, NotFoundError)

from fastcore import config as _config
from fastcore import snapshot as _snapshot
from fastcore.cluster.entries import Worker
from fastcore.cluster.log import NATS_ERRORS, Names, connect, retry, setup
from fastcore.engine import Engine
from fastcore.errors import ClusterError, Fenced

log = logging.getLogger("fastcore.cluster")

WINDOW = 256                    # output entries in flight at once
ORDER_IDS = 10 ** 12            # OrderIDs per partition
STOP_WAIT = 2.0                 # s for each step of a stop


async def _bounded(step) -> None:
    """``await step``, given up after STOP_WAIT seconds or on a NATS error."""
    try:
        await asyncio.wait_for(step, STOP_WAIT)
    except NATS_ERRORS:
        pass


def partition_config(config, p: int):
    """``config`` for partition ``p``'s engine: its ExecIDs (17) prefixed
    ``P<p>.`` and its OrderIDs (37) from ``p * ORDER_IDS``, so that a client
    trading on several partitions never gets one id twice."""
    eng = config.engine
    return _config.overlay(config, {"engine": {
        "exec_id_prefix": f"{eng.exec_id_prefix}P{p}.",
        "order_id_offset": eng.order_id_offset + p * ORDER_IDS}})


class Partition:
    """The engine of partition ``partition`` of ``config``'s cluster, run
    as node ``node`` (a name unique in the cluster)."""

    def __init__(self, config, partition: int, node: str, *, servers=None,
                 clock=time.monotonic) -> None:
        config = _config.load(config)
        if not 0 <= partition < len(config.cluster.partitions):
            raise ClusterError("partition", f"{partition}: the cluster has "
                               f"{len(config.cluster.partitions)} partitions")
        self.config = partition_config(config, partition)
        self.cfg = self.config.cluster
        self.p = partition
        self.node = node
        self.servers = servers
        self.clock = clock
        self.names = Names(self.cfg)
        self.in_stream, self.in_subject = self.names.input(partition)
        self.out_stream, self.out_subject = self.names.output(partition)
        self.key = f"p{partition}"
        self.worker: Worker | None = None   # the engine, and what it took from each user
        self.applied = 0                # the last input entry worked
        self.published = 0              # the output stream's last entry, as last seen
        self.pending: collections.deque = collections.deque()   # (n, payload) above published
        self.primary = False
        self.revision = 0               # the lease's revision: ours while primary
        self.renewed = 0.0              # when we last renewed it (clock)
        self.seen = (0, 0.0)            # standby: (the lease's revision, when it last changed)
        self.counts = {"entries": 0, "outputs": 0, "fenced": 0, "takeovers": 0,
                       "snapshots": 0}
        self.snapshot_at = 0            # the last entry a snapshot was taken at
        self.upload: tuple | None = None    # a snapshot waiting for its outputs to be out
        self.failed: BaseException | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.nc = self.js = self.kv = self.obs = self.sub = None

    # ---- start and stop ----------------------------------------------------------

    async def start(self) -> None:
        """Connect, restore the latest snapshot, and follow the log from the
        entry after it."""
        self.nc = await connect(self.cfg, self.servers, name=f"fastcore {self.node}")
        self.js = self.nc.jetstream(timeout=2.0)
        await setup(self.js, self.cfg)
        self.kv = await retry(lambda: self.js.key_value(self.names.leaders))
        self.obs = await retry(lambda: self.js.object_store(self.names.snapshots))
        snap = await retry(self._snapshot)
        if snap is None:
            self.worker = Worker(Engine(self.config))
            self.applied = 0
        else:
            self.worker = Worker(snap.engine(), snap.last_in)
            self.applied = snap.seq
        self.snapshot_at = self.applied
        self.published = (await retry(lambda: self.js.stream_info(self.out_stream))
                          ).state.last_seq
        log.info("%-10s %s", "partition", f"{self.p} node {self.node}: from entry "
                 f"{self.applied + 1} ({'snapshot' if snap else 'no snapshot'}), output at "
                 f"{self.published}, state {self.engine.state_hash()[:16]}")
        self.sub = await self.js.subscribe(
            self.in_subject, stream=self.in_stream, cb=self._entry, ordered_consumer=True,
            idle_heartbeat=max(0.2, self.cfg.lease / 4),
            config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                      opt_start_seq=self.applied + 1),
            pending_msgs_limit=1 << 20, pending_bytes_limit=1 << 30)
        self._tasks = [asyncio.create_task(self._lead(), name=f"lead {self.node}"),
                       asyncio.create_task(self._publish(), name=f"publish {self.node}")]

    async def stop(self) -> None:
        """Stop working the log, hand the lease back when primary and close
        the connection; each step given STOP_WAIT seconds at most (a NATS
        server that does not answer does not hold a stop up)."""
        deadline = time.monotonic() + STOP_WAIT
        while (pending := [t for t in self._tasks if not t.done()]) and \
                time.monotonic() < deadline:
            for task in pending:                # again if one lost it: Python 3.11's
                task.cancel()                   # wait_for can swallow a cancellation
            await asyncio.wait(pending, timeout=0.1)
        for task in self._tasks:                # their errors retrieved, as gather did
            if task.done() and not task.cancelled():
                task.exception()
        if self.nc is None or self.nc.is_closed:
            return
        if self.sub is not None:
            await _bounded(self.sub.unsubscribe())
        if self.primary:                        # let a standby take over at once
            await _bounded(self.kv.delete(self.key, last=self.revision))
        await _bounded(self.nc.close())

    async def _snapshot(self):
        try:
            found = await self.obs.get(self.key)
        except NotFoundError:
            return None
        return _snapshot.loads(found.data, f"{self.names.snapshots}/{self.key}")

    # ---- the log -----------------------------------------------------------------

    async def _entry(self, msg) -> None:
        n = msg.metadata.sequence.stream
        if n <= self.applied:
            return                              # seen (a consumer reset)
        if n != self.applied + 1:
            self.failed = ClusterError(self.in_stream, f"entry {n} after {self.applied}")
            self._wake.set()
            return
        self.work(n, msg.data)

    def work(self, n: int, data: bytes) -> None:
        """Work input entry ``n`` (``Worker.work``: a FIX message already
        taken from its user is skipped); its output entry joins ``pending``."""
        out = self.worker.work(data, f"{self.in_stream} entry {n}")
        self.applied = n
        self.counts["entries"] += 1
        if n > self.published:
            self.pending.append((n, out))
            self._wake.set()
        if self.primary and self.cfg.snapshot_every and \
                n - self.snapshot_at >= self.cfg.snapshot_every and self.upload is None:
            self.snapshot_at = n
            engine = self.worker.engine
            self.upload = (n, _snapshot.Snapshot.of(n, engine.config, engine.state(),
                                                    last_in=self.worker.last_in))

    # ---- output ------------------------------------------------------------------

    async def _publish(self) -> None:
        """While primary: publish the pending outputs in order, up to WINDOW
        in flight."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.failed is not None:
                raise self.failed
            while self.primary and self.pending and not self._lapsed():
                batch = [self.pending[i] for i in range(min(WINDOW, len(self.pending)))]
                try:
                    await self._send(batch)
                except Fenced:
                    self.counts["fenced"] += 1
                    await self._resync()
                except NATS_ERRORS as exc:
                    log.info("%-10s %s", "publish", f"{self.node}: {exc!r}; retrying")
                    await asyncio.sleep(0.05)
                    await self._resync()
            await self._upload()

    async def _send(self, batch) -> None:
        acks = await asyncio.gather(*(      # sent in order, acknowledged together
            self.js.publish(self.out_subject, payload, timeout=2.0,
                            headers={"Nats-Msg-Id": f"{self.p}:{n}",
                                     "Nats-Expected-Last-Sequence": str(n - 1)})
            for n, payload in batch), return_exceptions=True)
        for (n, _), ack in zip(batch, acks):
            if isinstance(ack, APIError) and ack.err_code == 10071:    # wrong last sequence
                raise Fenced(self.out_stream, f"entry {n}: {ack.description}")
            if isinstance(ack, BaseException):
                raise ack
            self.published = max(self.published, n)
            self.counts["outputs"] += 1
            while self.pending and self.pending[0][0] <= self.published:
                self.pending.popleft()

    async def _resync(self) -> None:
        """The output stream's last entry: what is there is not published again."""
        try:
            last = (await self.js.stream_info(self.out_stream)).state.last_seq
        except NATS_ERRORS:
            return
        self.published = max(self.published, last) if self.primary else last
        while self.pending and self.pending[0][0] <= self.published:
            self.pending.popleft()

    async def _upload(self) -> None:
        if self.upload is None or self.upload[0] > self.published or not self.primary:
            return
        n, snap = self.upload
        self.upload = None
        try:
            await self.obs.put(self.key, _snapshot.dumps(snap))
            self.counts["snapshots"] += 1
        except NATS_ERRORS as exc:
            log.info("%-10s %s", "snapshot", f"{self.node}: entry {n} not stored: {exc!r}")

    # ---- leadership ----------------------------------------------------------------

    async def _lead(self) -> None:
        tick = self.cfg.lease / 4
        while True:
            try:
                await self._lead_once()
            except NATS_ERRORS as exc:
                log.info("%-10s %s", "lease", f"{self.node}: {exc!r}")
            if not self.primary or self._lapsed():
                await self._resync()            # a standby's view of what is out
            await asyncio.sleep(tick)

    async def _lead_once(self) -> None:
        now = self.clock()
        me = self.node.encode()
        if self.primary:
            try:
                self.revision = await self.kv.update(self.key, me, last=self.revision)
                self.renewed = now
            except KeyWrongLastSequenceError:
                self._step_down("the lease was taken")
            return
        try:
            entry = await self.kv.get(self.key)
        except (KeyNotFoundError, KeyDeletedError):     # no primary (or it resigned)
            await self._take(lambda: self.kv.create(self.key, me), now)
            return
        if entry.revision != self.seen[0]:
            self.seen = (entry.revision, now)
        elif now - self.seen[1] > self.cfg.lease:
            await self._take(lambda: self.kv.update(self.key, me, last=entry.revision), now)

    async def _take(self, cas, now: float) -> None:
        try:
            self.revision = await cas()
        except (KeyWrongLastSequenceError, APIError):
            return                          # another standby won
        self.renewed = now
        await self._resync()
        self.primary = True
        self.counts["takeovers"] += 1
        log.info("%-10s %s", "primary", f"partition {self.p}: {self.node} (term "
                 f"{self.revision}), output at {self.published}, worked {self.applied}")
        self._wake.set()

    def _lapsed(self) -> bool:
        """A primary that has not renewed its lease for ``lease`` steps down
        (True): a standby may hold it by now."""
        if self.primary and self.clock() - self.renewed > self.cfg.lease:
            self._step_down("lease not renewed in time")
            return True
        return False

    def _step_down(self, why: str) -> None:
        self.primary = False
        self.seen = (0, 0.0)
        log.info("%-10s %s", "standby", f"partition {self.p}: {self.node}: {why}")

    # ---- the edge ------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.worker.engine

    def state_hash(self) -> str:
        return self.engine.state_hash()

    def status(self) -> dict:
        """What the node is doing, for its log and the tests."""
        return {"partition": self.p, "node": self.node, "primary": self.primary,
                "applied": self.applied, "published": self.published,
                "pending": len(self.pending), "hash": self.engine.state_hash(),
                "inputs": self.worker.inputs, "duplicates": self.worker.duplicates,
                "refused": self.worker.refused, **self.counts}
