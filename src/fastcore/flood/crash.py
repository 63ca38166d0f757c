"""Kill the server under load, again and again: nothing acknowledged is lost.

    from fastcore.flood.crash import CrashTest

    result = CrashTest("var/crash", kills=5, seed=1).run()
    assert not result.problems, result.problems

Each cycle starts ``fastcore serve`` (a subprocess) on one store and logs two
clients on: PM1 buys and ET3 sells around one price, so orders rest, trade
and fill in part. They pipeline new orders while reading the answers; after
a random number of acknowledgements, one more burst goes out and the server
is killed with SIGKILL, that burst in flight. Then ``fastcore replay --full``
rebuilds the engine from the journal offline, and the restarted server's
recovered state hash must equal that one. The clients log on where their
sequences were and ask for what they missed (the server answers from its
stores, PossDupFlag set); what they sent that the server never took they
gap-fill (those orders were never acknowledged).

After the last cycle the server is stopped cleanly, and started once more
to answer an OrderStatusRequest for every order sent. The checks:

* every order acknowledged exists, in the state and with the CumQty of the
  last report about it; no order that was not acknowledged exists;
* no ExecID is used by two messages; an order's fills add up to its CumQty
  (no fill is reported twice);
* each session's MsgSeqNums run on with no gap and never start again;
* the state hash each restart recovered equals the offline replay's.

``tools/crash_test`` runs it from the command line.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from fastcore.server.client import FixClient

LISTENING = re.compile(r"listening\s+127\.0\.0\.1:(\d+): FIX 4\.4; msgspec on port (\d+)")
STATE_HASH = re.compile(r"state hash ([0-9a-f]{32})")
SIDES = {"PM1": "1", "ET3": "2"}         # PM1 buys, ET3 sells: they trade with each other


class Serve:
    """``fastcore serve`` (a subprocess) on free ports over ``store``; its log
    (stderr) is read on a thread as it comes, so the pipe never fills."""

    def __init__(self, store: str | os.PathLike, config: str | None = None) -> None:
        cmd = [sys.executable, "-m", "fastcore.cli", "serve", "--port", "0",
               "--msgspec-port", "0", "--store", str(store)]
        self.proc = subprocess.Popen(cmd + (["--config", config] if config else []),
                                     stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self.started = threading.Event()
        self.fix_port = self.msgspec_port = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.started.wait(30) or not self.fix_port:
            self.proc.kill()
            raise RuntimeError("the server did not start:\n" + "".join(self.log))

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line)
            found = LISTENING.search(line)
            if found:
                self.fix_port, self.msgspec_port = map(int, found.groups())
                self.started.set()
        self.started.set()                          # exited

    def client(self, comp_id: str = "PM1", **kwargs) -> FixClient:
        """A FIX client of session FASTCORE->``comp_id`` (logged on by default)."""
        return FixClient("127.0.0.1", self.fix_port, comp_id, **kwargs)

    def recovered_hash(self) -> str | None:
        """The state hash of the "recovered" line of its log."""
        for line in self.log:
            if "recovered" in line:
                found = STATE_HASH.search(line)
                return found[1] if found else None
        return None

    def wait(self) -> str:
        """Wait for the exit; the whole log."""
        self.proc.wait(timeout=30)
        self.reader.join(10)
        return "".join(self.log)

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Send ``sig`` (SIGTERM: a clean stop) and wait; the whole log."""
        self.proc.send_signal(sig)
        return self.wait()

    def kill(self) -> str:
        return self.stop(signal.SIGKILL)


@dataclass
class Order:
    acked: bool = False
    status: str = ""                     # OrdStatus (39) of the last report
    cum_qty: Decimal = Decimal(0)        # CumQty (14) of the last report
    filled: Decimal = Decimal(0)         # the LastQty (32) of its fills, added up


class Client:
    """One FIX session's side across server restarts: its sequence numbers,
    what it received (each MsgSeqNum once) and what it knows of its orders."""

    def __init__(self, comp_id: str, run: CrashTest) -> None:
        self.comp_id = comp_id
        self.run = run
        self.fix: FixClient | None = None
        self.next_out = 1                # our next MsgSeqNum
        self.expected = 1                # the server's next MsgSeqNum
        self.waiting: dict[int, object] = {}   # above `expected`, until the gap fills
        self.asked = 0                   # the gap we sent a ResendRequest for
        self.orders: dict[str, Order] = {}
        self.statuses: dict[str, object] = {}    # ClOrdID -> the answer to its status request
        self.acks = 0
        self.synced = ""                         # the TestReqID of the last Heartbeat in sequence

    # ---- the session ------------------------------------------------------------

    def connect(self, port: int) -> None:
        first = self.next_out == 1
        self.fix = FixClient("127.0.0.1", port, self.comp_id, reset=first, seq=self.next_out,
                             logon=False, timeout=20.0)
        logon_seq = self.fix.logon(reset=first).get_int(34)
        self.next_out = self.fix.seq + 1
        early, self.fix.received = self.fix.received, []
        if first:
            self.expected = logon_seq + 1
        elif logon_seq < self.expected:
            self.run.problem(f"{self.comp_id}: the server's Logon is MsgSeqNum {logon_seq}, "
                             f"{self.expected} was due: the sequence went back")
        elif logon_seq > self.expected:
            self.waiting[logon_seq] = None       # the Logon itself: counts once the gap fills
            self.ask()
        else:
            self.expected += 1
        for m in early:                          # read with the Logon
            self.receive(m)

    def send(self, msg_type: str, fields) -> None:
        self.fix.send(msg_type, fields, seq=self.next_out)
        self.next_out += 1

    def ask(self) -> None:
        if self.asked != self.expected:
            self.asked = self.expected
            self.send("2", {7: self.expected, 16: 0})

    def new_order(self, rng: random.Random) -> None:
        clordid = f"{self.comp_id}-{len(self.orders) + 1}"
        self.orders[clordid] = Order()
        self.send("D", [(11, clordid), (55, "ESZ6"), (54, SIDES[self.comp_id]),
                        (38, str(rng.randint(1, 5))), (40, "2"),
                        (44, str(rng.choice((4499, 4500, 4500, 4501)))), (59, "0"),
                        (60, "20261121-09:30:00.000")])

    def poll(self, timeout: float = 0.0) -> bool:
        """Handle what has arrived (waiting up to ``timeout`` s for it);
        False once the connection is closed."""
        sock = self.fix.io.sock
        if not select.select([sock], [], [], timeout)[0]:
            return True
        try:
            data = sock.recv(1 << 20)
        except OSError:
            return False
        if not data:
            return False
        self.fix.io.buf += data
        batch = self.fix.parser.parse_batch(bytes(self.fix.io.buf))
        for i in range(batch.count):
            if batch.status[i] == 0:
                self.receive(batch.message(i).copy())
        del self.fix.io.buf[:batch.consumed]
        return True

    def receive(self, m) -> None:
        seq = m.get_int(34)
        if m.msg_type == "2" and m.get_str(43, "N") != "Y":
            # the server lost what we sent (it never took it): answered at once, as a
            # resend may replace the ResendRequest itself with a GapFill
            self.fix.send("4", {123: "Y", 36: self.next_out}, seq=m.get_int(7), poss_dup=True,
                          orig_sending_time=time.time_ns())
            m = None if seq != self.expected else m
            if m is None:
                self.waiting.setdefault(seq, None)
                return
        if m.msg_type == "4" and m.get_str(123, "N") == "Y":          # GapFill
            if seq == self.expected:
                self.expected = m.get_int(36)
                self.drain()
            elif seq > self.expected:
                self.waiting[seq] = m
            return
        if seq < self.expected:
            if m.get_str(43, "N") != "Y":
                self.run.problem(f"{self.comp_id}: MsgSeqNum {seq} again without PossDupFlag "
                                 f"({self.expected} was due)")
            return
        if seq > self.expected:
            self.waiting[seq] = m
            self.ask()
            return
        self.expected += 1
        self.handle(m)
        self.drain()

    def drain(self) -> None:
        while self.expected in self.waiting:
            m = self.waiting.pop(self.expected)
            if m is not None and m.msg_type == "4" and m.get_str(123, "N") == "Y":
                self.expected = m.get_int(36)
                continue
            self.expected += 1
            if m is not None:
                self.handle(m)
        for seq in [s for s in self.waiting if s < self.expected]:
            del self.waiting[seq]

    def handle(self, m) -> None:
        """A message in sequence, seen for the first time."""
        if m.msg_type == "1":
            self.send("0", {112: m.get_str(112)})
        elif m.msg_type == "0":
            self.synced = m.get_str(112, "")
        elif m.msg_type == "5":                  # the server stops: answer, as a client does
            self.send("5", {})
        elif m.msg_type == "8":
            self.run.execution(self, m)


@dataclass
class Result:
    kills: int = 0
    orders_sent: int = 0
    acknowledged: int = 0
    lost: int = 0                        # acknowledged orders missing or in another state
    fills: int = 0
    seconds: float = 0.0
    hashes_checked: int = 0
    problems: list[str] = field(default_factory=list)


class CrashTest:
    """``kills`` cycles of load and SIGKILL over the store ``store``."""

    def __init__(self, store: str | os.PathLike, *, kills: int = 5, seed: int = 1,
                 acks: tuple[int, int] = (20, 300), config: str | None = None,
                 log=None) -> None:
        self.store = Path(store)
        self.kills = kills
        self.rng = random.Random(seed)
        self.acks = acks
        self.config = config
        self.log = log or (lambda text: None)
        self.result = Result()
        self.logs: list[str] = []                # the servers' logs, one after the other
        self.expected_hash: str | None = None    # the offline replay's, for the next start
        self.exec_ids: dict = {}                 # ExecID -> (OrderID, ExecType, CumQty)
        self.clients = [Client(name, self) for name in SIDES]

    def problem(self, text: str) -> None:
        if len(self.result.problems) < 50:
            self.result.problems.append(text)

    def execution(self, client: Client, m) -> None:
        exec_id, clordid = m.get_str(17, ""), m.get_str(11, "")
        what = (m.get_str(37, ""), m.get_str(150, ""), m.get_str(14, ""))
        if (client.comp_id, exec_id) in self.exec_ids or self.exec_ids.get(exec_id, what) != what:
            self.problem(f"ExecID {exec_id} used twice ({client.comp_id} {clordid})")
        self.exec_ids[exec_id] = what            # each recipient of a report gets its ExecID
        self.exec_ids[client.comp_id, exec_id] = what
        order = client.orders.get(clordid)
        if order is None:
            return                               # another user's order seen in a shared book
        exec_type = m.get_str(150, "")
        if exec_type == "I":                     # a status: checked in `verify`
            client.statuses[clordid] = m
            return
        if exec_type == "0":
            order.acked = True
            client.acks += 1
            self.result.acknowledged += 1
        if exec_type == "F":
            order.filled += Decimal(m.get_str(32))
            self.result.fills += 1
        order.status = m.get_str(39, "")
        order.cum_qty = Decimal(m.get_str(14, "0"))

    # ---- the run ---------------------------------------------------------------------

    def run(self) -> Result:
        start = time.monotonic()
        for cycle in range(self.kills):
            server = self.start()
            self.load(server)
            self.end(server, kill=True)
            self.result.kills += 1
            self.log(f"kill {cycle + 1}/{self.kills}: {self.result.orders_sent} orders sent, "
                     f"{self.result.acknowledged} acknowledged")
            self.expected_hash = self.replay()
        server = self.start()
        self.settle(server)
        self.end(server)
        self.expected_hash = self.replay()
        server = self.start()                    # once more after a clean stop
        self.verify(server)
        self.end(server)
        self.expected_hash = self.replay()       # for a next run on the same store
        self.result.seconds = time.monotonic() - start
        return self.result

    def start(self) -> Serve:
        server = Serve(self.store, self.config)
        expected, got = self.expected_hash, server.recovered_hash()
        if expected is not None:
            self.result.hashes_checked += 1
            if got != expected:
                self.problem(f"restart {self.result.kills}: recovered state hash {got}, "
                             f"the offline replay gives {expected}")
        for c in self.clients:
            c.connect(server.fix_port)
        return server

    def end(self, server: Serve, kill: bool = False) -> None:
        """SIGKILL, or SIGTERM (a clean stop); its log joins ``logs``."""
        if kill:
            server.kill()
        else:
            server.stop()
        self.logs += server.log

    def replay(self) -> str | None:
        out = subprocess.run([sys.executable, "-m", "fastcore.cli", "replay", "--full",
                              str(self.store / "journal")], capture_output=True, text=True,
                             timeout=300)
        found = STATE_HASH.search(out.stdout)
        if out.returncode or not found:
            self.problem(f"fastcore replay failed: {out.stdout}{out.stderr}")
            return None
        return found[1]

    def load(self, server: Serve) -> None:
        """Pipeline orders until a random number of acknowledgements, then
        one more burst: the server dies with it in flight."""
        target = self.rng.randint(*self.acks)
        acks = sum(c.acks for c in self.clients)
        deadline = time.monotonic() + 60
        while sum(c.acks for c in self.clients) - acks < target:
            if time.monotonic() > deadline:
                self.problem(f"no progress: {target} acknowledgements not reached in 60 s")
                break
            for c in self.clients:
                for _ in range(self.rng.randint(1, 8)):
                    c.new_order(self.rng)
                    self.result.orders_sent += 1
            for c in self.clients:
                c.poll(0.002)
        for c in self.clients:
            for _ in range(self.rng.randint(0, 40)):
                c.new_order(self.rng)
                self.result.orders_sent += 1

    def settle(self, server: Serve) -> None:
        """Read until every session has caught up: a TestRequest's Heartbeat
        has come in sequence (everything before it, resent messages too)."""
        for c in self.clients:
            test_id = f"SETTLE{c.next_out}"
            c.send("1", {112: test_id})
            deadline = time.monotonic() + 60
            while c.synced != test_id:
                if time.monotonic() > deadline or not c.poll(0.1):
                    self.problem(f"{c.comp_id}: not caught up within 60 s (MsgSeqNum "
                                 f"{c.expected} due, {sorted(c.waiting)[:5]} waiting)")
                    break

    def verify(self, server: Serve) -> None:
        """An OrderStatusRequest for every order sent; the checks."""
        for c in self.clients:
            c.statuses = {}
            for clordid in c.orders:
                c.send("H", [(11, clordid), (55, "ESZ6"), (54, SIDES[c.comp_id])])
            deadline = time.monotonic() + 60
            while len(c.statuses) < len(c.orders) and time.monotonic() < deadline:
                if not c.poll(0.1):
                    break
            for clordid, order in c.orders.items():
                m = c.statuses.get(clordid)
                if m is None:
                    self.problem(f"{clordid}: no answer to its status request")
                    continue
                unknown = m.get_str(103, "") == "5" and m.get_str(58, "") == "unknown order"
                if order.acked and unknown:
                    self.result.lost += 1
                    self.problem(f"{clordid}: acknowledged, unknown after the restarts")
                elif order.acked and (m.get_str(39) != order.status
                                      or Decimal(m.get_str(14)) != order.cum_qty):
                    self.result.lost += 1
                    self.problem(f"{clordid}: {m.get_str(39)}/{m.get_str(14)} after the "
                                 f"restarts, {order.status}/{order.cum_qty} reported before")
                elif not order.acked and not unknown:
                    self.problem(f"{clordid}: never acknowledged, yet it exists "
                                 f"({m.get_str(39)})")
                if order.filled != order.cum_qty:
                    self.problem(f"{clordid}: its fills add up to {order.filled}, its CumQty "
                                 f"is {order.cum_qty}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="crash_test", description=__doc__.split("\n\n")[2])
    p.add_argument("--kills", type=int, default=100, help="SIGKILL cycles (default 100)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--store", default="crash-store",
                   help="the server's store (emptied first; default ./crash-store)")
    p.add_argument("--config", help="a configuration file for the server")
    args = p.parse_args(argv)
    shutil.rmtree(args.store, ignore_errors=True)
    test = CrashTest(args.store, kills=args.kills, seed=args.seed, config=args.config,
                     log=lambda text: print(text, file=sys.stderr, flush=True))
    r = test.run()
    print(f"kill cycles survived: {r.kills}\norders sent: {r.orders_sent}\n"
          f"acknowledged: {r.acknowledged}\nacknowledged orders lost: {r.lost}\n"
          f"fills: {r.fills}\nrecovered state hashes checked: {r.hashes_checked}\n"
          f"problems: {len(r.problems)}\nseconds: {r.seconds:.1f}")
    for text in r.problems:
        print("  " + text)
    return 1 if r.problems else 0
