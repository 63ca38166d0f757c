"""A QuickFIX initiator trades with the server without a single Reject.

QuickFIX (the C++ engine of the test extras, ``quickfix-ssl``) runs a
SocketInitiator with two sessions, PM1 and ET1, against the server's FIX
port. It validates every message it receives against FIX44.xml (the
dictionary the wheel ships) at its strict defaults: a message that fails
never reaches ``fromApp``; QuickFIX answers it with a Reject (35=3), which
goes out through ``toAdmin`` and which the server logs as "rejected". So
the test checks that every ExecutionReport it expects arrives in
``fromApp`` with the right values, that QuickFIX sent no Reject, that it
received no Reject nor BusinessMessageReject, and that the server logged
neither a reject of its own nor one from QuickFIX.

The QuickFIX wheel aborts the process on a C++ exception it does not
translate: the callbacks only record ``message.toString()`` and the test
reads fields from that text, never with ``getField``.
"""

import glob
import importlib.metadata
import os
import sys
import threading

import pytest
import quickfix as fix
import quickfix44 as fix44
from harness import ALONE

WAIT = 5.0                       # seconds, for anything the test waits for
PM1 = fix.SessionID("FIX.4.4", "PM1", "FASTCORE")
ET1 = fix.SessionID("FIX.4.4", "ET1", "FASTCORE")


def fix44_xml() -> str:
    """The FIX44.xml of the quickfix-ssl wheel (a data file: <prefix>/share/quickfix)."""
    for f in importlib.metadata.files("quickfix-ssl") or ():
        if f.name == "FIX44.xml":
            return str(f.locate().resolve())
    return os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")


# The fields fastcore adds to FIX 4.4 ExecutionReports, as its rules of
# engagement tell a client to declare them: the FIA execution source code
# (FIX 5.0's 1031/1032, as CME and TT use them on 4.4), the order
# profile's TTCustomerName and the staged orders' tags.
EXTENSIONS = ((1031, "CustOrderHandlingInst", "MULTIPLEVALUESTRING"),
              (1032, "OrderHandlingInstSource", "INT"),
              (18218, "TTCustomerName", "STRING"),
              (9100, "StagedOrderType", "STRING"),
              (9101, "ParentOrderID", "STRING"),
              (9102, "ClaimedBy", "STRING"))


def venue_dictionary(directory) -> str:
    """QuickFIX's FIX44.xml with fastcore's extension fields declared on
    ExecutionReport; every validation stays at its strict default."""
    import xml.etree.ElementTree as ET
    tree = ET.parse(fix44_xml())
    root = tree.getroot()
    known = {f.get("number") for f in root.find("fields")}
    report = next(m for m in root.find("messages") if m.get("msgtype") == "8")
    for number, name, kind in EXTENSIONS:
        if str(number) not in known:
            ET.SubElement(root.find("fields"), "field", number=str(number), name=name, type=kind)
        ET.SubElement(report, "field", name=name, required="N")
    path = os.path.join(str(directory), "FIX44-fastcore.xml")
    tree.write(path)
    return path


def fields(raw: str) -> dict[int, str]:
    """The fields of one message (none of those exchanged here has a group)."""
    out: dict[int, str] = {}
    for field in raw.split("\x01"):
        if field:
            tag, _, value = field.partition("=")
            assert int(tag) not in out, f"tag {tag} twice in {raw!r}"
            out[int(tag)] = value
    return out


class Recorder(fix.Application):
    """Records every callback as (callback, SenderCompID, fields, raw); the
    test thread waits on ``changed``."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()
        self.log: list[tuple[str, str, dict[int, str], str]] = []

    def _record(self, what: str, session_id, message=None) -> None:
        try:
            raw = message.toString() if message is not None else ""
            entry = (what, session_id.getSenderCompID().getValue(), fields(raw), raw)
        except Exception as exc:        # never let an exception into QuickFIX's thread
            entry = (what, "?", {}, f"{type(exc).__name__}: {exc}")
        with self.changed:
            self.log.append(entry)
            self.changed.notify_all()

    def onCreate(self, session_id) -> None:
        pass

    def onLogon(self, session_id) -> None:
        self._record("onLogon", session_id)

    def onLogout(self, session_id) -> None:
        self._record("onLogout", session_id)

    def toAdmin(self, message, session_id) -> None:
        self._record("toAdmin", session_id, message)

    def fromAdmin(self, message, session_id) -> None:
        self._record("fromAdmin", session_id, message)

    def toApp(self, message, session_id) -> None:
        self._record("toApp", session_id, message)

    def fromApp(self, message, session_id) -> None:
        self._record("fromApp", session_id, message)

    # ---- the test thread's side ----------------------------------------------------

    def entries(self, what: str, comp_id: str | None = None) -> list[dict[int, str]]:
        with self.changed:
            return [f for w, c, f, _ in self.log if w == what and comp_id in (None, c)]

    def transcript(self) -> str:
        with self.changed:
            return "\n".join(f"{w} {c} {raw.replace(chr(1), '|')}" for w, c, _, raw in self.log)

    def wait(self, what: str, comp_id: str, count: int) -> list[dict[int, str]]:
        """The first ``count`` entries ``what`` of ``comp_id``, once there are that many."""
        def enough() -> bool:
            return sum(1 for w, c, _, _ in self.log if w == what and c == comp_id) >= count
        with self.changed:
            arrived = self.changed.wait_for(enough, timeout=WAIT)
        assert arrived, (f"no {count} {what} for {comp_id} within {WAIT}s; QuickFIX saw:\n"
                         + self.transcript())
        return self.entries(what, comp_id)[:count]


def settings_text(port: int, directory) -> str:
    """The initiator's settings. The validation keys are written out at
    QuickFIX's own (strict) defaults, to show none is relaxed."""
    return f"""\
[DEFAULT]
ConnectionType=initiator
BeginString=FIX.4.4
TargetCompID=FASTCORE
SocketConnectHost=127.0.0.1
SocketConnectPort={port}
HeartBtInt=30
StartTime=00:00:00
EndTime=00:00:00
FileStorePath={directory / "store"}
FileLogPath={directory / "log"}
ResetOnLogon=Y
UseDataDictionary=Y
DataDictionary={venue_dictionary(directory)}
ValidateLengthAndChecksum=Y
ValidateFieldsOutOfOrder=Y
ValidateFieldsHaveValues=Y
ValidateUserDefinedFields=Y
AllowUnknownMsgFields=N
CheckCompID=Y
CheckLatency=Y
MaxLatency=120

[SESSION]
SenderCompID=PM1

[SESSION]
SenderCompID=ET1
"""


def message(cls, *values):
    msg = cls()
    for value in values:
        msg.setField(value)
    return msg


def limit_order(cl_ord_id: str, side: str, qty: int, price: float, symbol: str = "ESZ6"):
    return message(fix44.NewOrderSingle, fix.ClOrdID(cl_ord_id), fix.Side(side),
                   fix.TransactTime(), fix.OrdType(fix.OrdType_LIMIT), fix.Symbol(symbol),
                   fix.OrderQty(qty), fix.Price(price), fix.TimeInForce(fix.TimeInForce_DAY))


def check(er: dict[int, str], want: dict[int, object]) -> None:
    """``er`` is an ExecutionReport with these fields (numbers compare as numbers)."""
    assert er.get(35) == "8", er
    for tag, value in want.items():
        assert tag in er, f"tag {tag} missing from {er}"
        got = float(er[tag]) if isinstance(value, (int, float)) else er[tag]
        assert got == value, f"tag {tag}: {er[tag]!r}, expected {value!r} in {er}"


@pytest.mark.server_config(ALONE)
def test_quickfix_initiator_trades_without_reject(server, tmp_path):
    directory = tmp_path / "quickfix"
    directory.mkdir()
    assert os.path.exists(fix44_xml()), "quickfix-ssl (a test extra) ships FIX44.xml"
    (directory / "initiator.cfg").write_text(settings_text(server.fix_port, directory))
    app = Recorder()
    settings = fix.SessionSettings(str(directory / "initiator.cfg"))
    store_factory = fix.FileStoreFactory(settings)
    log_factory = fix.FileLogFactory(settings)
    initiator = fix.SocketInitiator(app, store_factory, settings, log_factory)
    initiator.start()
    stopped = False
    try:
        app.wait("onLogon", "PM1", 1)
        app.wait("onLogon", "ET1", 1)

        # PM1 buys 5 ESZ6 at 5000.25: it rests
        fix.Session.sendToTarget(limit_order("B1", fix.Side_BUY, 5, 5000.25), PM1)
        [new] = app.wait("fromApp", "PM1", 1)
        check(new, {11: "B1", 55: "ESZ6", 54: "1", 38: 5, 44: 5000.25, 150: "0", 39: "0",
                    14: 0, 151: 5, 6: 0})
        order_id = new[37]

        # ET1 sells 3 at 5000.25: it trades 3 with PM1's order
        fix.Session.sendToTarget(limit_order("S1", fix.Side_SELL, 3, 5000.25), ET1)
        et_new, et_fill = app.wait("fromApp", "ET1", 2)
        check(et_new, {11: "S1", 55: "ESZ6", 54: "2", 38: 3, 150: "0", 39: "0", 14: 0, 151: 3})
        check(et_fill, {11: "S1", 37: et_new[37], 150: "F", 39: "2", 14: 3, 151: 0,
                        6: 5000.25, 32: 3, 31: 5000.25})
        partial = app.wait("fromApp", "PM1", 2)[1]
        check(partial, {11: "B1", 37: order_id, 150: "F", 39: "1", 14: 3, 151: 2,
                        6: 5000.25, 32: 3, 31: 5000.25})
        assert et_new[37] != order_id

        # PM1 replaces its order with one of 4 (1 left), asks its status, cancels it
        fix.Session.sendToTarget(message(
            fix44.OrderCancelReplaceRequest, fix.OrigClOrdID("B1"), fix.ClOrdID("B2"),
            fix.Side(fix.Side_BUY), fix.TransactTime(), fix.OrdType(fix.OrdType_LIMIT),
            fix.Symbol("ESZ6"), fix.OrderQty(4), fix.Price(5000.25),
            fix.TimeInForce(fix.TimeInForce_DAY)), PM1)
        replaced = app.wait("fromApp", "PM1", 3)[2]
        check(replaced, {11: "B2", 41: "B1", 37: order_id, 150: "5", 39: "1", 38: 4,
                         14: 3, 151: 1, 6: 5000.25})

        fix.Session.sendToTarget(message(
            fix44.OrderStatusRequest, fix.ClOrdID("B2"), fix.Side(fix.Side_BUY),
            fix.Symbol("ESZ6")), PM1)
        status = app.wait("fromApp", "PM1", 4)[3]
        check(status, {11: "B2", 37: order_id, 150: "I", 39: "1", 14: 3, 151: 1, 6: 5000.25})

        fix.Session.sendToTarget(message(
            fix44.OrderCancelRequest, fix.OrigClOrdID("B2"), fix.ClOrdID("B3"),
            fix.Side(fix.Side_BUY), fix.TransactTime(), fix.Symbol("ESZ6"),
            fix.OrderQty(4)), PM1)
        canceled = app.wait("fromApp", "PM1", 5)[4]
        check(canceled, {11: "B3", 41: "B2", 37: order_id, 150: "4", 39: "4", 14: 3,
                         151: 0, 6: 5000.25})

        # an order for an unknown symbol: an ExecutionReport Rejected
        fix.Session.sendToTarget(limit_order("X1", fix.Side_BUY, 1, 100.0, "ZZZZ"), PM1)
        rejected = app.wait("fromApp", "PM1", 6)[5]
        check(rejected, {11: "X1", 55: "ZZZZ", 150: "8", 39: "8", 14: 0, 151: 0})

        # log out: stop() has each session send its Logout (on the
        # initiator's one-second timer) and waits, up to 10 s, for the
        # server's answer; the sessions are logged out when it returns
        initiator.stop()
        stopped = True
        app.wait("onLogout", "PM1", 1)
        app.wait("onLogout", "ET1", 1)
    finally:
        if not stopped:
            initiator.stop(True)
        del initiator              # before the application and factories it uses

    transcript = app.transcript()
    # every message QuickFIX received passed its FIX44.xml validation (a
    # failure is answered with a Reject, sent through toAdmin), and nobody
    # rejected anything
    assert not [f for f in app.entries("toAdmin") if f.get(35) == "3"], transcript
    assert not [f for f in app.entries("fromAdmin") if f.get(35) == "3"], transcript
    assert not [f for f in app.entries("fromApp") if f.get(35) == "j"], transcript
    assert not [f for f in app.entries("toApp") if f.get(35) == "j"], transcript
    # no sequence trouble either: no ResendRequest nor SequenceReset either way
    assert {f.get(35) for f in app.entries("toAdmin")} <= {"A", "0", "5"}, transcript
    assert {f.get(35) for f in app.entries("fromAdmin")} <= {"A", "0", "1", "5"}, transcript
    # exactly what was expected reached the application, all of it ExecutionReports
    assert [f[35] for f in app.entries("toApp", "PM1")] == ["D", "G", "H", "F", "D"]
    assert [f[35] for f in app.entries("toApp", "ET1")] == ["D"]
    assert [f[35] for f in app.entries("fromApp", "PM1")] == ["8"] * 6, transcript
    assert [f[35] for f in app.entries("fromApp", "ET1")] == ["8"] * 2, transcript
    exec_ids = [f[17] for f in app.entries("fromApp")]
    assert len(set(exec_ids)) == len(exec_ids), exec_ids
    assert [w for w, *_ in app.log if w in ("onLogon", "onLogout")].count("onLogout") == 2
    # QuickFIX's event logs: no rejected or invalid message
    for path in glob.glob(str(directory / "log" / "*.event*.log")):
        with open(path) as f:
            for line in f:
                assert "reject" not in line.lower() and "invalid" not in line.lower(), \
                    f"{os.path.basename(path)}: {line}"

    events = list(server.events)
    assert not [e for e in events if e[0] in ("reject", "rejected", "refused", "garbled",
                                              "error", "gap", "timeout")], events
    assert server.call(lambda: dict(server.acceptor.counters)) == \
        {"refused_logons": 0, "garbled": 0, "errors": 0}
    for name in ("FASTCORE->PM1", "FASTCORE->ET1"):
        assert ("logon", name) in [e[:2] for e in events], events
        assert ("logout", name, "received") in events, events
        assert ("logout", name, "sent") in events, events
