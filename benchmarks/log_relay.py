"""A partition engine with no engine: the cluster's NATS path alone, for
benchmarks/test_cluster.py's skeleton (``test_cluster_skeleton``).

    python benchmarks/log_relay.py URL IN_STREAM IN_SUBJECT OUT_STREAM OUT_SUBJECT \\
        [--publish] [--grow 1.74]

It follows IN_STREAM from its next entry with an ordered push consumer, as
an engine follows its input log (src/fastcore/cluster/node.py: ``_entry``).
With ``--publish`` (the primary's role) it republishes each input entry
``n`` as entry ``n`` of OUT_STREAM, grown to ``grow`` times its size (the
engine's output entries, measured against its input entries), with the
message id ``0:<n>`` and the expected last sequence ``n - 1``, the
pending entries published together, one batch in flight (node.py:
``_publish``, ``_send``). Without it (the hot standby's role) it only
consumes. Nothing is decoded nor worked: what is left is what the design
costs on NATS.

Prints ``ready`` once subscribed; exits 0 on SIGTERM or SIGINT, 1 (with
the reason on stderr) on an entry out of order or a publish that fails.
Needs nats-py and uvloop only (not fastcore).
"""

import argparse
import asyncio
import collections
import signal
import sys

import nats
import uvloop
from nats.js import api

BATCH = 256                     # entries published together at most (node.py's WINDOW)


def grown(data: bytes, grow: float) -> bytes:
    """``data`` repeated up to ``grow`` times its size."""
    size = round(len(data) * grow)
    return (data * (size // max(1, len(data)) + 1))[:size]


async def relay(url, in_stream, in_subject, out_stream, out_subject, publish, grow):
    nc = await nats.connect(url, name="log_relay")
    js = nc.jetstream(timeout=5.0)
    pending = collections.deque()   # (n, payload) not yet published
    wake = asyncio.Event()
    stop = asyncio.Event()
    applied = 0                     # the last input entry taken
    failed = []

    async def entry(msg):
        nonlocal applied
        n = msg.metadata.sequence.stream
        if n <= applied:
            return                  # seen (a consumer reset)
        if applied and n != applied + 1:
            failed.append(f"{in_stream}: entry {n} after {applied}")
            stop.set()
            return
        applied = n
        if publish:
            pending.append((n, grown(msg.data, grow)))
            wake.set()

    async def publisher():
        while True:
            await wake.wait()
            wake.clear()
            while pending:
                batch = [pending.popleft() for _ in range(min(BATCH, len(pending)))]
                acks = await asyncio.gather(*(     # sent in order, acknowledged together
                    js.publish(out_subject, payload, timeout=2.0,
                               headers={"Nats-Msg-Id": f"0:{n}",
                                        "Nats-Expected-Last-Sequence": str(n - 1)})
                    for n, payload in batch), return_exceptions=True)
                for (n, _), ack in zip(batch, acks):
                    if isinstance(ack, BaseException):
                        failed.append(f"{out_stream}: entry {n}: {ack!r}")
                        stop.set()
                        return

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sub = await js.subscribe(
        in_subject, stream=in_stream, cb=entry, ordered_consumer=True, idle_heartbeat=0.25,
        config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.NEW),
        pending_msgs_limit=1 << 20, pending_bytes_limit=1 << 30)
    task = asyncio.create_task(publisher())
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sub.unsubscribe()
        await nc.close()
    if failed:
        print(failed[0], file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("in_stream")
    parser.add_argument("in_subject")
    parser.add_argument("out_stream")
    parser.add_argument("out_subject")
    parser.add_argument("--publish", action="store_true",
                        help="the primary's role: republish each entry to OUT_STREAM")
    parser.add_argument("--grow", type=float, default=1.74,
                        help="output entry size / input entry size (default 1.74)")
    a = parser.parse_args(argv)
    return uvloop.run(relay(a.url, a.in_stream, a.in_subject, a.out_stream, a.out_subject,
                            a.publish, a.grow))


if __name__ == "__main__":
    sys.exit(main())
