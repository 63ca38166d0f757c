"""The ``fastcore`` command.

    fastcore serve              the FIX 4.4 server (and the msgspec port)
    fastcore flood [OPTIONS]    load a FIX 4.4 acceptor or the msgspec port and report its latencies (tools/flood)
    fastcore scenario PATH...   play scenario files against an embedded engine, or a server
    fastcore decode FILE...     pretty-print the FIX messages in files ('-' for stdin)
    fastcore audit FILE         export an audit trail (CSV, JSON Lines), or one order's records
    fastcore average-prices FILE
                                average prices of an audit trail's fills, per execution source
    fastcore replay JOURNAL     rebuild the engine from a journal offline: its state hash, counts
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from fastcore import __version__


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


def _as_wire(data: bytes) -> bytes:
    """Logs often show SOH as '|' or '^A': turn them back into SOH."""
    if b"\x01" not in data:
        data = data.replace(b"^A", b"\x01").replace(b"|", b"\x01")
    return data


def _describe(tag: int, value: bytes) -> tuple[str, str]:
    from fastcore.codec.dictionary import ENUMS, FIELDS
    name = FIELDS.get(tag, (f"<{tag}>", ""))[0]
    text = value.decode("latin-1")
    enum = ENUMS.get(tag)
    if enum:
        meaning = " ".join(enum.get(v, "?") for v in text.split(" "))
        text = f"{text} ({meaning})"
    return name, text


def cmd_decode(args: argparse.Namespace) -> int:
    from fastcore import codec
    from fastcore.codec.dictionary import MESSAGES
    parser = codec.Parser()
    failures = 0
    for path in args.files:
        data = _as_wire(_read(path))
        batch = parser.parse_batch(data)
        for i in range(batch.count):
            start, length, status = batch.offsets[i], batch.lengths[i], batch.status[i]
            raw = data[start:start + length]
            if status == 2:     # garbled: bytes dropped
                if not raw.strip():
                    continue    # line breaks between logged messages
                failures += 1
                why = codec.GARBLE_REASONS.get(batch.reasons[i], "garbled")
                print(f"# {path}@{start}: {length} bytes dropped: {why}")
                continue
            error = None
            if status == 0:
                msg = batch.message(i)
                fields, mt = msg.fields(), msg.msg_type
            else:
                failures += 1
                error = (f"{codec.REJECT_REASONS[batch.reasons[i]]}"
                         f" (tag {batch.ref_tags[i]})")
                fields = [(int(t), v) for t, _, v in
                          (f.partition(b"=") for f in raw.split(b"\x01")[2:-2] if b"=" in f)
                          if t.isdigit()]
                mt = next((v.decode("latin-1") for t, v in fields if t == 35), "?")
            if args.json:
                print(json.dumps({"offset": start, "msg_type": mt, "error": error,
                                  "fields": [[t, v.decode("latin-1")] for t, v in fields]}))
                continue
            print(f"# {path}@{start}: {MESSAGES.get(mt, '?')} ({mt}), {length} bytes"
                  + (f"  INVALID: {error}" if error else ""))
            for tag, value in fields:
                name, text = _describe(tag, value)
                print(f"  {tag:>5} {name:<24} {text}")
        if batch.consumed < len(data):
            failures += 1
            print(f"# {path}@{batch.consumed}: {len(data) - batch.consumed} bytes"
                  " of an incomplete message at the end")
    return 1 if failures and args.strict else 0


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


def cmd_serve(args: argparse.Namespace) -> int:
    from fastcore.config import load, overlay
    from fastcore.errors import ClusterError, ConfigError
    from fastcore.server import run
    over = {}
    if args.settings:
        over["settings"] = os.path.abspath(args.settings)
    for key in ("fix_port", "msgspec_port", "host", "store"):
        if getattr(args, key) is not None:
            over[key] = getattr(args, key)
    try:
        config = overlay(load(args.config), {"server": over})
    except ConfigError as exc:
        print(f"fastcore serve: configuration refused: {exc}", file=sys.stderr)
        return 2
    try:
        run(config)
    except (OSError, ClusterError) as exc:
        print(f"fastcore serve: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_scenario(args: argparse.Namespace) -> int:
    from fastcore.scenario import run_file, scenario_files
    files = scenario_files(args.paths)
    if not files:
        print("no scenario files found", file=sys.stderr)
        return 2
    server = {}
    if args.server:
        from fastcore.config import load
        operator = args.operator or (args.server[0], load(args.config).server.msgspec_port)
        server = {"server": args.server, "operator": operator, "local": args.config}
    passed = failed = 0
    for path in files:
        result = run_file(path, **server)
        print(result.line(), flush=True)
        passed += result.passed
        failed += not result.passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def _trail(command: str, path: str):
    """The records of the audit trail at ``path``, or None (said on stderr)."""
    from fastcore.auditfile import AuditFileError, read
    try:
        trail = read(path)
    except (OSError, AuditFileError) as exc:
        print(f"fastcore {command}: {exc}", file=sys.stderr)
        return None
    if trail.torn:
        print(f"fastcore {command}: {path}: {trail.torn} bytes of a torn last record "
              "ignored", file=sys.stderr)
    return trail.records


def cmd_audit(args: argparse.Namespace) -> int:
    import contextlib
    from fastcore.auditfile import query, write_csv, write_jsonl
    records = _trail("audit", args.file)
    if records is None:
        return 1
    if args.order is not None:
        records = query(records, args.order)
        if not records:
            print(f"fastcore audit: no order {args.order!r} in {args.file}", file=sys.stderr)
            return 1
    write = write_jsonl if args.format == "jsonl" else write_csv
    try:
        with (contextlib.nullcontext(sys.stdout) if args.output in (None, "-") else
              open(args.output, "w", newline="", encoding="utf-8")) as fh:
            write(records, fh)
    except OSError as exc:
        print(f"fastcore audit: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_average_prices(args: argparse.Namespace) -> int:
    import csv
    import msgspec
    from fastcore.pricing import KEYS, CommingledSources, average_prices
    by = tuple(k.strip() for k in args.by.split(",") if k.strip())
    if any(k not in KEYS for k in by):
        print(f"fastcore average-prices: --by {args.by!r}: the keys are {','.join(KEYS)}",
              file=sys.stderr)
        return 2
    records = _trail("average-prices", args.file)
    if records is None:
        return 1
    try:
        rows = average_prices(records, by)
    except CommingledSources as exc:
        print(f"fastcore average-prices: refused: {exc}", file=sys.stderr)
        return 2
    if args.format == "jsonl":
        for row in rows:
            print(msgspec.json.encode(row).decode())
        return 0
    columns = [k for k in KEYS if k in by] + ["fills", "qty", "avg_px", "notional"]
    table = [[str(getattr(row, c)) for c in columns] for row in rows]
    if args.format == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        w.writerows(table)
        return 0
    widths = [max([len(c)] + [len(t[i]) for t in table]) for i, c in enumerate(columns)]
    for line in [columns] + table:      # texts to the left, numbers to the right
        print("  ".join(v.ljust(w) if c in KEYS else v.rjust(w)
                        for v, w, c in zip(line, widths, columns)).rstrip())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from fastcore.errors import JournalError
    from fastcore.recovery import replay
    try:
        done = replay(args.journal, full=args.full,
                      log=lambda path, why: print(f"fastcore replay: {path}: skipped: {why}",
                                                  file=sys.stderr))
    except (JournalError, OSError) as exc:
        print(f"fastcore replay: {exc}", file=sys.stderr)
        return 1
    report = {"journal": args.journal, "snapshot": done.snapshot_seq, "last_record": done.seq,
              "records": done.inputs, "refused": done.refused, "kinds": done.kinds,
              "state_hash": done.engine.state_hash(), **done.counts()}
    if args.json:
        print(json.dumps(report))
        return 0
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(done.kinds.items())) or "none"
    print(f"journal {args.journal}: snapshot {done.snapshot_seq}, then {done.inputs} records "
          f"({kinds}; {done.refused} refused) up to record {done.seq}\n"
          f"state hash {report['state_hash']}\n"
          f"orders {report['orders']} ({report['live_orders']} live), last OrderID "
          f"{report['last_order_id']}, last ExecID {report['last_exec_id']}")
    return 0


def cmd_engine(args: argparse.Namespace) -> int:
    from fastcore.cluster.run import main_engine
    from fastcore.config import load, overlay
    from fastcore.errors import ClusterError, ConfigError
    over: dict = {"enabled": True}
    if args.servers:
        over["servers"] = args.servers.split(",")
    try:
        config = overlay(load(args.config), {"cluster": over})
        return main_engine(config, args.partition, args.node)
    except (ConfigError, ClusterError) as exc:
        print(f"fastcore engine: {exc}", file=sys.stderr)
        return 2


def cmd_cluster(args: argparse.Namespace) -> int:
    from fastcore.cluster.run import main_cluster
    from fastcore.errors import ClusterError, ConfigError
    try:
        return main_cluster(args.config, args.store)
    except (ConfigError, ClusterError, OSError) as exc:
        print(f"fastcore cluster: {exc}", file=sys.stderr)
        return 2


def config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE",
                   help="a TOML configuration merged over the embedded default")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["flood"]:               # its own options, --help included
        from fastcore.flood.cli import main as flood
        return flood(argv[1:])
    ap = argparse.ArgumentParser(prog="fastcore", description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="version", version=f"fastcore {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("decode", help="pretty-print FIX messages with tag names",
                       description="Pretty-print the FIX 4.4 messages in files, with tag "
                       "and value names; invalid and garbled messages are flagged. SOH may "
                       "be written as '|' or '^A'.")
    p.add_argument("files", nargs="+", metavar="FILE", help="a file of FIX messages, '-' for stdin")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when any message is invalid, garbled or incomplete")
    p.set_defaults(func=cmd_decode)
    p = sub.add_parser("scenario", help="play scenario files against an engine or a server",
                       description="Play scenario files (JSON, see scenario-format.md) "
                       "against an embedded engine, or over a running server's FIX sessions "
                       "with --server: one line per file, PASS or FAIL with the failing "
                       "step, then a count. Exit status 0 only when all pass.")
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR",
                   help="a scenario file, or a directory: every *.json under it")
    p.add_argument("--server", type=_address, metavar="HOST:PORT",
                   help="play over the FIX server there (each user logs on to its session; "
                   "an operator on the msgspec port runs the sell-side commands)")
    p.add_argument("--operator", type=_address, metavar="HOST:PORT",
                   help="the server's msgspec port (default: the server's host, the "
                   "configuration's msgspec_port)")
    p.add_argument("--config", metavar="FILE",
                   help="the server's configuration, for its sessions' CompIDs and "
                   "passwords and its operator (default: the embedded default)")
    p.set_defaults(func=cmd_scenario)
    p = sub.add_parser("serve", help="run the FIX 4.4 server",
                       description="Run the FIX 4.4 acceptor and the msgspec port over one "
                       "engine until SIGINT or SIGTERM (then Logout to every session and "
                       "the stores flushed). Each session event is logged on stderr.")
    config_option(p)
    p.add_argument("--settings", metavar="FILE",
                   help="a QuickFIX-style session settings file ([DEFAULT]/[SESSION])")
    p.add_argument("--host", help="the address to listen on (default 127.0.0.1)")
    p.add_argument("--port", dest="fix_port", type=int, metavar="PORT",
                   help="the FIX port (default 9878)")
    p.add_argument("--msgspec-port", dest="msgspec_port", type=int, metavar="PORT",
                   help="the msgspec port (default 9879)")
    p.add_argument("--store", metavar="DIR",
                   help="the directory of the session stores (default ./fastcore-store)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("cluster", help="run a cluster: NATS, two engines a partition, the gateway",
                       description="Run fastcore scaled out on this machine: three NATS "
                       "JetStream nodes on 127.0.0.1 (unless cluster.servers names yours), a "
                       "primary and a hot standby engine for each partition of "
                       "cluster.partitions, and the FIX gateway on server.fix_port, until "
                       "SIGINT or SIGTERM. See the README's scale-out section.")
    config_option(p)
    p.add_argument("--store", metavar="DIR",
                   help="the directory of the session stores, NATS files and engine logs")
    p.set_defaults(func=cmd_cluster)
    p = sub.add_parser("engine", help="run one partition's engine of a cluster",
                       description="Run the engine of one partition of a cluster (what "
                       "fastcore cluster starts, twice per partition): primary or hot "
                       "standby, by the lease in NATS.")
    p.add_argument("--partition", type=int, required=True, help="the partition (0, 1, ...)")
    p.add_argument("--node", required=True, help="this engine's name, unique in the cluster")
    p.add_argument("--servers", metavar="URLS",
                   help="NATS URLs, comma-separated (default: cluster.servers)")
    config_option(p)
    p.set_defaults(func=cmd_engine)
    p = sub.add_parser("replay", help="rebuild the engine from a journal offline",
                       description="Rebuild the engine's state from a server's journal "
                       "(server.store/journal): the latest snapshot that reads whole and the "
                       "records after it, or with --full every record from the journal's "
                       "first snapshot. Prints the state hash (the one the server logs when "
                       "it recovers) and counts. Exit 1 when the journal cannot be read.")
    p.add_argument("journal", metavar="JOURNAL", help="the journal's directory")
    p.add_argument("--full", action="store_true",
                   help="from the first snapshot kept, not the latest")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_replay)
    p = sub.add_parser("audit", help="export an audit trail, or one order's records",
                       description="Export an audit-trail file (the CME Rule 536.E records "
                       "the server appends) as CSV or JSON Lines, one row per record with "
                       "its order's ClOrdID, user, account and symbol; with --order only "
                       "every record of that order and its portions. A torn last record "
                       "is ignored (said on stderr). Exit 1 for a file that cannot be "
                       "read or is not an audit trail, or an order with no record.")
    p.add_argument("file", metavar="FILE", help="an audit-trail file")
    p.add_argument("--order", metavar="ORDER",
                   help="only this order and its portions: a ClOrdID, or an OrderID")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv",
                   help="CSV with a header row (default), or one JSON object per line")
    p.add_argument("-o", "--output", metavar="OUT", help="write to OUT (default stdout)")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("average-prices", help="average prices of an audit trail's fills",
                       description="Average prices of the fills standing in an audit-trail "
                       "file (busts taken out, corrections applied), per group of --by. "
                       "Fills of different execution source codes are never average-priced "
                       "together (FIA): without 'source' in --by, a group that would mix "
                       "them is refused with exit status 2.")
    p.add_argument("file", metavar="FILE", help="an audit-trail file")
    p.add_argument("--by", default="account,symbol,side,source", metavar="KEYS", help="comma-separated keys to group by, of account, "
                   "symbol, side, source (default: all four)")
    p.add_argument("--format", choices=("table", "csv", "jsonl"), default="table",
                   help="an aligned table (default), CSV with a header row, or JSON Lines")
    p.set_defaults(func=cmd_average_prices)
    sub.add_parser("flood", help="load a FIX 4.4 acceptor or the msgspec port (tools/flood; see fastcore flood --help)")
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:     # `fastcore decode … | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
