"""`fastcore serve` as a subprocess: clean shutdown on SIGTERM and SIGINT,
sessions resumed after a restart from their stores, and every scenario file
played over the server by `fastcore scenario --server`."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastcore.flood.crash import Serve
from fastcore.server.client import FixClient

SCENARIOS = Path(__file__).parent / "scenarios"


def order(client: FixClient, clordid: str) -> None:
    client.send("D", {11: clordid, 55: "ESZ6", 54: "1", 38: "5", 40: "2", 44: "100",
                      59: "0", 60: "20261121-09:30:00"})


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_logs_every_session_out_and_the_server_exits_cleanly(tmp_path, sig):
    server = Serve(tmp_path / "store")
    pm = server.client("PM1")
    et = server.client("ET1")
    server.proc.send_signal(sig)
    for client in (pm, et):                       # the server's Logout reaches each
        logout = client.wait(lambda m: m.msg_type == "5")
        assert logout.get_str(58) == "server shutting down"
        client.send("5")                          # answered: the server closes
    rest = server.wait()
    assert server.proc.returncode == 0
    assert "every session's store flushed" in rest
    assert "logout     FASTCORE->PM1: sent: server shutting down" in rest


def test_a_restarted_server_resumes_each_session_from_its_store(tmp_path):
    server = Serve(tmp_path / "store")
    pm = server.client("PM1")                     # Logon: in 1, out 1
    order(pm, "A1")
    order(pm, "A2")
    pm.sync()                                     # out: Logon 1, ER 2, ER 3, Heartbeat 4
    reports = pm.take()
    assert [m.get_int(34) for m in reports] == [2, 3]
    pm.logout()                                   # in: Logon 1, D 2, D 3, Test 4, Logout 5
    server.stop()

    server = Serve(tmp_path / "store")
    pm = server.client("PM1", reset=False, seq=6)
    order(pm, "A3")                               # its ER is MsgSeqNum 7: Logon 6, ER 7
    pm.sync()
    [er] = pm.take()
    assert (er.get_str(11), er.get_int(34)) == ("A3", 7)
    pm.send("2", {7: 1, 16: 0})                   # everything again: what survived the restart
    pm.sync()
    resent = pm.take(admin=True)
    kinds = [(m.msg_type, m.get_int(34), m.get_str(43, "N")) for m in resent]
    assert kinds == [("4", 1, "Y"), ("8", 2, "Y"), ("8", 3, "Y"), ("4", 4, "Y"),
                     ("8", 7, "Y"), ("4", 8, "Y")]
    assert [m.get_str(11) for m in resent if m.msg_type == "8"] == ["A1", "A2", "A3"]
    assert resent[1].get_str(122) == reports[0].get_str(52)      # OrigSendingTime
    assert [m.get_int(36) for m in resent if m.msg_type == "4"] == [2, 7, 9]
    pm.logout()
    server.stop()
    assert server.proc.returncode == 0


def test_every_scenario_plays_over_the_server(tmp_path):
    server = Serve(tmp_path / "store")
    started = time.monotonic()
    played = subprocess.run(
        [sys.executable, "-m", "fastcore.cli", "scenario", "--server",
         f"127.0.0.1:{server.fix_port}", "--operator", f"127.0.0.1:{server.msgspec_port}",
         str(SCENARIOS)], capture_output=True, text=True, timeout=300)
    server.stop()
    total = len(list(SCENARIOS.rglob("*.json")))
    assert played.stdout.splitlines()[-1] == f"{total} passed, 0 failed", played.stderr
    assert played.returncode == 0
    assert "error" not in "".join(server.log), "".join(server.log)[-2000:]
    assert time.monotonic() - started < 120
