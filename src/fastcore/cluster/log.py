"""The cluster's names and objects on NATS JetStream, and what its messages hold.

Per partition ``p`` (``name`` is ``cluster.name``):

* ``<name>_in_<p>``, subject ``<name>.in.<p>``: the input log. Each entry
  is one batch of the gateway: journal records (``Records.take``), the
  first input's id as its NATS message id (a retried publish is dropped by
  the stream's duplicate window).
* ``<name>_out_<p>``, subject ``<name>.out.<p>``: what the engine sent for
  each entry, entry ``n`` of the output for entry ``n`` of the input (its
  messages framed with their users: ``fastcore.cluster.entries``). Published by the primary only, with
  the message id ``<p>:<n>`` and the expected last sequence ``n - 1``: a
  second engine's publish of the same entry is a duplicate, and one whose
  view of the stream is stale is refused (``Fenced``).

And for all partitions, the key-value bucket ``<name>_leaders`` (key
``p<p>``: the primary's name; the revision is its term, renewed by
compare-and-set) and the object store ``<name>_snapshots`` (object
``p<p>``: a snapshot file's bytes, its ``seq`` the last input entry it
includes). Everything is file-backed with ``replicas`` copies.
"""

from __future__ import annotations

import asyncio
import time

import nats
from nats.js import api
from nats.js.errors import APIError, BadRequestError, NotFoundError, ServiceUnavailableError

from fastcore.config import ClusterConfig
from fastcore.errors import ClusterError

DUPLICATE_WINDOW = 120.0                # s the streams remember message ids
JS_UNAVAILABLE = 10008                  # JetStream's error code while it has no leader
NATS_ERRORS = (nats.errors.Error, asyncio.TimeoutError, OSError)
"""What a NATS call may raise when the cluster is away or slow."""


class Names:
    """The subjects, streams and buckets of one cluster."""

    def __init__(self, cfg: ClusterConfig) -> None:
        self.name = cfg.name
        self.partitions = len(cfg.partitions)
        self.leaders = f"{cfg.name}_leaders"
        self.snapshots = f"{cfg.name}_snapshots"

    def input(self, p: int) -> tuple[str, str]:
        """(stream, subject) of partition ``p``'s input log."""
        return f"{self.name}_in_{p}", f"{self.name}.in.{p}"

    def output(self, p: int) -> tuple[str, str]:
        """(stream, subject) of partition ``p``'s output."""
        return f"{self.name}_out_{p}", f"{self.name}.out.{p}"


async def connect(cfg: ClusterConfig, servers=None, name: str = "fastcore", **kw):
    """A NATS connection to the cluster (``servers``: default the
    configuration's), reconnecting for good; ClusterError when no server
    answers."""
    urls = list(servers or cfg.servers)
    if not urls:
        raise ClusterError("cluster.servers", "no NATS server to connect to")
    try:
        return await nats.connect(urls, name=name, connect_timeout=2, reconnect_time_wait=0.1,
                                  max_reconnect_attempts=-1, allow_reconnect=True,
                                  ping_interval=1, max_outstanding_pings=2, **kw)
    except (OSError, nats.errors.Error) as exc:
        raise ClusterError("nats", f"cannot connect to {', '.join(urls)}: {exc}") from None


async def retry(call, timeout: float = 30.0):
    """``await call()``, again while JetStream does not answer (a leader being
    elected, a stream just made); ClusterError after ``timeout`` s. Any
    other refusal (an APIError) is raised as it is."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except (asyncio.TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError,
                APIError) as exc:
            if isinstance(exc, APIError) and not isinstance(exc, ServiceUnavailableError) \
                    and exc.err_code != JS_UNAVAILABLE:
                raise
            if time.monotonic() > deadline:
                raise ClusterError("jetstream", f"no answer in {timeout} s: {exc!r}") from None
            await asyncio.sleep(0.1)


async def setup(js, cfg: ClusterConfig, timeout: float = 30.0) -> Names:
    """Make the streams and buckets (those that exist are kept); retried
    while JetStream elects its leaders, ClusterError after ``timeout`` s or
    when JetStream refuses them."""
    names = Names(cfg)
    try:
        await retry(lambda: _make(js, cfg, names), timeout)
    except APIError as exc:
        raise ClusterError("jetstream", str(exc)) from None
    return names


async def _make(js, cfg: ClusterConfig, names: Names) -> None:
    for p in range(names.partitions):
        for stream, subject in (names.input(p), names.output(p)):
            config = api.StreamConfig(
                name=stream, subjects=[subject], storage=api.StorageType.FILE,
                num_replicas=cfg.replicas, duplicate_window=DUPLICATE_WINDOW,
                max_msg_size=-1, discard=api.DiscardPolicy.OLD)
            try:
                await js.add_stream(config)
            except BadRequestError as exc:
                if exc.err_code != 10058:       # 10058: exists with another configuration
                    raise
                await js.update_stream(config)
    try:
        await js.key_value(names.leaders)
    except NotFoundError:
        await js.create_key_value(api.KeyValueConfig(
            bucket=names.leaders, history=1, storage=api.StorageType.FILE,
            replicas=cfg.replicas))
    try:
        await js.object_store(names.snapshots)
    except NotFoundError:
        await js.create_object_store(names.snapshots, api.ObjectStoreConfig(
            storage=api.StorageType.FILE, replicas=cfg.replicas))
