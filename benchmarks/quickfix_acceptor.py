"""A QuickFIX acceptor that acknowledges orders: the peer fastcore's server
is measured against in the load benchmark.

    python benchmarks/quickfix_acceptor.py --port PORT --store DIR [--sessions PM1,ET1]

It is the QuickFIX C++ engine (the ``quickfix-ssl`` test extra) with a
small Python Application, run as its own process. Port 0 picks a free
port (QuickFIX needs a concrete one, so the script binds 127.0.0.1:0 first
and hands the port on). When it listens it prints one line, ``READY
<port>``, and runs until SIGTERM or SIGINT: it then logs the sessions out,
gives their clients a moment to answer, stops the acceptor and exits 0
(within about 3 s: QuickFIX's timer ticks once a second).

The sessions: FIX.4.4, SenderCompID FASTCORE, one per TargetCompID in
``--sessions`` (default PM1,ET1,ET2,ET3,ET4), ResetOnLogon=Y, HeartBtInt
the client's, all served by one SocketAcceptor thread (TCP_NODELAY, as
the load client). QuickFIX 1.15 has no setting for the address it listens
on: it binds every interface, 127.0.0.1 among them.

The Application answers, per session, keeping a dict ClOrdID -> order:

* NewOrderSingle (D): an ExecutionReport New (150=0, 39=0);
* OrderCancelRequest (F): an ExecutionReport Canceled (150=4, 39=4) for
  an order it knows, else an OrderCancelReject (434=1, 102=1 unknown
  order, 39=8, OrderID NONE);
* OrderCancelReplaceRequest (G): an ExecutionReport Replaced (150=5,
  39=0, the new quantity and price) for an order it knows, else an
  OrderCancelReject (434=2);
* any other application message: a BusinessMessageReject (380=3).

There is no matching: this is an acknowledging acceptor, a floor for
what a FIX engine costs in session and message handling alone. That is
what makes it a fair peer for fastcore's server, which does all of that
and runs an order book besides. The load client is the same for both,
and both do the same work per message:

* validate: UseDataDictionary=Y with FIX44.xml at QuickFIX's strict
  defaults, as fastcore validates against its own dictionary; every
  ExecutionReport carries all the fields FIX44.xml requires, so the
  validation passes on both sides;
* persist: QuickFIX's FileStore in DIR, the same durability class as
  fastcore's per-session file store (written, not fsynced);
* not log: no FileLog nor ScreenLog. The binding has a NullLog but no
  factory for it; an acceptor made without a log factory gives every
  session no log, which is the same thing.

The QuickFIX binding aborts the process on a C++ exception it does not
translate: ``getField`` of a field the message lacks (FieldNotFound), and
even an UnsupportedMessageType raised from ``fromApp``. So the handlers
read an optional field only after ``isSetField`` and answer an
unsupported message with a BusinessMessageReject of their own.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import os
import signal
import socket
import sys
import time

import quickfix as fix

SETTINGS = """\
[DEFAULT]
ConnectionType=acceptor
BeginString=FIX.4.4
SenderCompID=FASTCORE
SocketAcceptPort={port}
SocketReuseAddress=Y
SocketNodelay=Y
StartTime=00:00:00
EndTime=00:00:00
ResetOnLogon=Y
FileStorePath={store}
UseDataDictionary=Y
DataDictionary={dictionary}
"""
LOGOUT_WAIT = 2.0       # seconds the clients have to answer the Logout at shutdown


def fix44_xml() -> str:
    """The FIX44.xml of the quickfix-ssl wheel (a data file: <prefix>/share/quickfix)."""
    for f in importlib.metadata.files("quickfix-ssl") or ():
        if f.name == "FIX44.xml":
            return str(f.locate().resolve())
    return os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_port(port: int) -> None:
    """OSError unless QuickFIX can listen on ``port`` (every interface,
    SO_REUSEADDR): QuickFIX itself would abort the process."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", port))


def settings(port: int, store: str, targets: list[str]) -> fix.SessionSettings:
    text = SETTINGS.format(port=port, store=store, dictionary=fix44_xml())
    text += "".join(f"\n[SESSION]\nTargetCompID={target}\n" for target in targets)
    result = fix.SessionSettings()
    result.setFromString(text)
    return result


class Order:
    __slots__ = ("order_id", "symbol", "side", "qty", "ord_type", "price")

    def __init__(self, order_id: str, symbol: str, side: str, qty: str, ord_type: str,
                 price: str | None) -> None:
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.qty = qty
        self.ord_type = ord_type
        self.price = price


def optional(message: fix.Message, tag: int) -> str | None:
    return message.getField(tag) if message.isSetField(tag) else None


class Acknowledger(fix.Application):
    """Answers D, F and G; no matching."""

    def __init__(self) -> None:
        super().__init__()
        self.books: dict[str, dict[str, Order]] = {}    # session -> ClOrdID -> order
        self.order_ids = itertools.count(1)
        self.exec_ids = itertools.count(1)

    def onCreate(self, session_id) -> None:
        self.books[session_id.toString()] = {}

    def onLogon(self, session_id) -> None:
        pass

    def onLogout(self, session_id) -> None:
        pass

    def toAdmin(self, message, session_id) -> None:
        pass

    def fromAdmin(self, message, session_id) -> None:
        pass

    def toApp(self, message, session_id) -> None:
        pass

    def fromApp(self, message, session_id) -> None:
        msg_type = message.getHeader().getField(35)
        orders = self.books[session_id.toString()]
        if msg_type == "D":
            self.new(message, orders, session_id)
        elif msg_type == "F":
            self.cancel(message, orders, session_id)
        elif msg_type == "G":
            self.replace(message, orders, session_id)
        else:
            self.business_reject(message, msg_type, session_id)

    def new(self, message, orders: dict[str, Order], session_id) -> None:
        cl_ord_id = message.getField(11)
        order = Order(f"O{next(self.order_ids)}", optional(message, 55) or "",
                      message.getField(54), optional(message, 38) or "0",
                      message.getField(40), optional(message, 44))
        orders[cl_ord_id] = order
        self.report(order, cl_ord_id, None, "0", "0", order.qty, session_id)

    def cancel(self, message, orders: dict[str, Order], session_id) -> None:
        orig = message.getField(41)
        order = orders.pop(orig, None)
        if order is None:
            self.cancel_reject(message, "1", session_id)
        else:
            self.report(order, message.getField(11), orig, "4", "4", "0", session_id)

    def replace(self, message, orders: dict[str, Order], session_id) -> None:
        orig = message.getField(41)
        order = orders.pop(orig, None)
        if order is None:
            self.cancel_reject(message, "2", session_id)
            return
        cl_ord_id = message.getField(11)
        order.qty = optional(message, 38) or order.qty
        order.ord_type = message.getField(40)
        order.price = optional(message, 44)
        orders[cl_ord_id] = order
        self.report(order, cl_ord_id, orig, "5", "0", order.qty, session_id)

    def report(self, order: Order, cl_ord_id: str, orig: str | None, exec_type: str,
               status: str, leaves: str, session_id) -> None:
        er = fix.Message()
        er.getHeader().setField(35, "8")
        er.setField(37, order.order_id)
        er.setField(17, f"E{next(self.exec_ids)}")
        er.setField(11, cl_ord_id)
        if orig is not None:
            er.setField(41, orig)
        er.setField(150, exec_type)
        er.setField(39, status)
        if order.symbol:
            er.setField(55, order.symbol)
        er.setField(54, order.side)
        er.setField(38, order.qty)
        er.setField(40, order.ord_type)
        if order.price is not None:
            er.setField(44, order.price)
        er.setField(151, leaves)
        er.setField(14, "0")
        er.setField(6, "0")
        er.setField(fix.TransactTime(3))
        fix.Session.sendToTarget(er, session_id)

    def cancel_reject(self, message, response_to: str, session_id) -> None:
        reject = fix.Message()
        reject.getHeader().setField(35, "9")
        reject.setField(37, "NONE")
        reject.setField(11, message.getField(11))
        reject.setField(41, message.getField(41))
        reject.setField(39, "8")
        reject.setField(434, response_to)
        reject.setField(102, "1")
        fix.Session.sendToTarget(reject, session_id)

    def business_reject(self, message, msg_type: str, session_id) -> None:
        reject = fix.Message()
        reject.getHeader().setField(35, "j")
        reject.setField(45, message.getHeader().getField(34))
        reject.setField(372, msg_type)
        reject.setField(380, "3")           # unsupported message type
        reject.setField(58, "Unsupported Message Type")
        fix.Session.sendToTarget(reject, session_id)


def shutdown(acceptor: fix.SocketAcceptor) -> None:
    """Log every session out, wait (bounded) for the clients' Logouts, stop."""
    for session_id in acceptor.getSessions():
        session = fix.Session.lookupSession(session_id)
        if session is not None:
            session.logout("shutting down")
    deadline = time.monotonic() + LOGOUT_WAIT
    while acceptor.isLoggedOn() and time.monotonic() < deadline:
        time.sleep(0.05)
    acceptor.stop(True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="0: a free port")
    parser.add_argument("--store", required=True, help="FileStorePath")
    parser.add_argument("--sessions", default="PM1,ET1,ET2,ET3,ET4",
                        help="TargetCompIDs, comma-separated")
    args = parser.parse_args(argv)
    port = args.port or free_port()
    try:
        check_port(port)
    except OSError as exc:
        parser.error(f"cannot listen on port {port}: {exc.strerror}")
    targets = [t for t in args.sessions.split(",") if t]
    os.makedirs(args.store, exist_ok=True)

    # The signals wait for sigwait; QuickFIX's thread inherits the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    app = Acknowledger()
    session_settings = settings(port, args.store, targets)
    acceptor = fix.SocketAcceptor(app, fix.FileStoreFactory(session_settings),
                                  session_settings)
    acceptor.start()
    print(f"READY {port}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    shutdown(acceptor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
