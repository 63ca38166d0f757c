"""The command line of the load client (``tools/flood``, ``fastcore flood``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

DESCRIPTION = """\
Load a FIX 4.4 acceptor (fastcore, QuickFIX, a broker's test environment) or
fastcore's msgspec port: N sessions log on (FIX: ResetSeqNumFlag; msgspec: a
trader's Logon), send a seeded mix of new orders, cancels, replaces and
marketable orders, all encoded before the run, and log out. The latency of
each message to its first answer (ExecutionReport or OrderCancelReject
carrying its ClOrdID; over msgspec, the Report of one) goes into an HDR
histogram; the run ends with a table of throughput and p50/p90/p99/p99.9/max
per kind.

--protocol msgspec sends the same orders as FIX for the same --seed (same
kinds, prices, quantities and ClOrdIDs), as length-prefixed msgpack frames
(fastcore.messages' NewOrderSingle, OrderCancelRequest,
OrderCancelReplaceRequest); --port then defaults to fastcore's msgspec port.

Closed loop (--window, the default): at most W unanswered messages per
session, for the most the target takes. Open loop (--rate): each message is
sent when it is due and timed from then, so a stalling target shows in the
latencies (no coordinated omission).
"""


def build_parser() -> argparse.ArgumentParser:
    from fastcore.flood.run import PORTS, PROTOCOLS, Options
    d = Options()
    ap = argparse.ArgumentParser(prog="flood", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default=d.host, help=f"the target's address (default {d.host})")
    ap.add_argument("--protocol", choices=PROTOCOLS, default=d.protocol,
                    help="what the target speaks: fix (FIX 4.4) or msgspec (fastcore's "
                    f"msgspec port) (default {d.protocol})")
    ap.add_argument("--port", type=int, metavar="PORT",
                    help="the target's port; given, it is used whatever the protocol "
                    "(default: fastcore's port of the protocol, "
                    + ", ".join(f"{p} for {name}" for name, p in PORTS.items()) + ")")
    ap.add_argument("--sessions", default=",".join(d.sessions), metavar="ID,ID,...",
                    help="the SenderCompIDs (msgspec: the users) to log on with, one "
                    f"session each (default {','.join(d.sessions)}: fastcore's default users)")
    ap.add_argument("--target", default=d.target, metavar="ID",
                    help=f"FIX: TargetCompID, the acceptor's CompID (default {d.target})")
    ap.add_argument("--password", help="Password (554) sent in each Logon (msgspec: the "
                    "Logon's password, that of the user's order session)")
    ap.add_argument("--count", type=int, default=d.count, metavar="N",
                    help=f"messages over all sessions (default {d.count:,})")
    ap.add_argument("--rate", type=float, default=d.rate, metavar="PER_S",
                    help="open loop: messages per second over all sessions")
    ap.add_argument("--window", type=int, default=d.window, metavar="W",
                    help=f"closed loop: unanswered messages per session (default {d.window})")
    ap.add_argument("--duration", type=float, default=d.duration, metavar="S",
                    help=f"stop after S seconds whatever is left (default {d.duration:g})")
    ap.add_argument("--mix", default=d.mix, metavar="KIND=W,...",
                    help=f"weights of new, cancel, replace and market (default {d.mix})")
    ap.add_argument("--seed", type=int, default=d.seed, help=f"of the mix (default {d.seed})")
    ap.add_argument("--symbol", default=d.symbol, help=f"the instrument (default {d.symbol})")
    ap.add_argument("--tick", default=d.tick, help=f"its price increment (default {d.tick})")
    ap.add_argument("--mid", default=d.mid, help=f"the price orders gather around (default {d.mid})")
    ap.add_argument("--heartbeat", type=int, default=d.heartbeat, metavar="S",
                    help=f"FIX: HeartBtInt of the Logon (default {d.heartbeat})")
    ap.add_argument("--json", action="store_true", help="print the results as JSON, no table")
    ap.add_argument("--plot", metavar="FILE.png",
                    help="draw the latency percentile distribution (needs matplotlib)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--asyncio", action="store_true", help="asyncio's event loop, not uvloop")
    return ap


def main(argv: list[str] | None = None) -> int:
    from fastcore.flood.report import plot, summary, table
    from fastcore.flood.run import FloodError, Options, flood
    from fastcore.server.app import install_uvloop
    args = build_parser().parse_args(argv)
    opts = Options(host=args.host, port=args.port, protocol=args.protocol,
                   sessions=[s.strip() for s in args.sessions.split(",") if s.strip()],
                   target=args.target, password=args.password, count=args.count,
                   rate=args.rate, window=args.window, duration=args.duration, mix=args.mix,
                   seed=args.seed, symbol=args.symbol, tick=args.tick, mid=args.mid,
                   heartbeat=args.heartbeat,
                   progress=not args.no_progress and not args.json and sys.stderr.isatty())
    if not args.asyncio:
        install_uvloop()
    try:
        result = asyncio.run(flood(opts))
    except (FloodError, ValueError) as exc:
        print(f"flood: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary(result), indent=2) if args.json else table(result))
    if args.plot:
        plot({f"{opts.host}:{opts.port} ({opts.protocol})": result}, args.plot)
    return 0 if result.missing == 0 and not result.lost else 1
