"""The audit trail the engine writes (seed 003): timestamp in for every order
and portion, each portion's entry, every execution and cancel (timestamp
out), each record linked to its master order and portion; through a file
to ``fastcore audit``; and across a server's restarts."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from harness import T0, Harness, cancel, nos, staged_two_fills
from serverkit import RunningServer, server_config

from fastcore import auditfile
from fastcore.config import default_table

STEP = 1_000_000                # 1 ms between the test's events


def trail(h: Harness) -> list[auditfile.Record]:
    return auditfile.parse(h.engine.audit.take())


def staged_with_three_children(h: Harness) -> None:
    """PM1 stages S1 (100 at 4500, INTERNAL); ET1 claims it and works it in
    three children of 30, 30 and 40 that ET3's sells fill in the book; the
    last child is filled 20 of 40, then the staged order is canceled (its
    working child first)."""
    h.send("D", nos("S1", qty="100", px="4500", extra=[(21, "3"), (9100, "INTERNAL")]))
    h.now += STEP
    h.act("claim", order="S1", by="ET1")
    for i, qty in enumerate(("30", "30", "40"), 1):
        h.now += STEP
        h.act("child", order="S1", by="ET1", qty=qty, clordid=f"C{i}")
        h.now += STEP
        h.send("D", nos(f"X{i}", side="2", qty="30" if i < 3 else "20", px="4500", tif="3"),
               who="ET3")
    h.now += STEP
    h.send("F", [(11, "S1x"), (41, "S1"), (55, "ESZ6"), (54, "1"), (38, "100"),
                 (60, "20261121-09:30:00.000")])


def test_a_staged_order_with_three_children_every_portion_in_and_out():
    h = Harness(default_table())       # seed 000's users and books
    staged_with_three_children(h)
    records = trail(h)
    s1 = next(r for r in records if r.kind == "in" and r.clordid == "S1")
    mine = auditfile.query(records, "S1")
    assert all(r.master_id == s1.order_id for r in mine)
    # the master: received once, never entered itself (its portions are)
    master = [r for r in mine if r.order_id == s1.order_id]
    assert [(r.kind, r.event) for r in master if r.kind != "out" or r.event != "trade"] == [
        ("in", ""), ("out", "restated"), ("out", "canceled")]
    assert master[0].ts == T0 and master[0].portion == 0 and not master[0].entirety
    assert master[0].source == "W" and master[0].oti == "L" and master[0].account == "PM1"
    # each portion: in and entered at its own time, its fills out, linked by portion
    for n, qty, filled in ((1, "30", ["30"]), (2, "30", ["30"]), (3, "40", ["20"])):
        rows = [r for r in mine if r.order_id != s1.order_id and r.portion == n]
        kinds = [(r.kind, r.event) for r in rows]
        assert kinds[:2] == [("in", ""), ("entered", "")]
        assert rows[0].clordid == f"C{n}" and rows[0].qty == qty and rows[0].entirety
        assert rows[0].ts == rows[1].ts == T0 + (2 * n) * STEP     # received and entered at once
        assert rows[0].account == "DESK-A" and rows[0].source == "W"
        fills = [r for r in rows if r.event == "trade"]
        assert [r.qty for r in fills] == filled
        assert all(r.ts == T0 + (2 * n + 1) * STEP for r in fills)   # when ET3's sell traded
        # the master's fill mirrored from this portion: the same time, linked to it
        mirrored = [r for r in master if r.event == "trade" and r.portion == n]
        assert [(r.qty, r.ts) for r in mirrored] == [(r.qty, r.ts) for r in fills]
    last = [r for r in mine if r.portion == 3 and r.order_id != s1.order_id]
    assert last[-1].event == "canceled" and last[-1].ts == master[-1].ts == T0 + 8 * STEP


def test_fastcore_audit_shows_each_portion_of_a_staged_order(tmp_path):
    """The CLI over a real file: `fastcore audit FILE --order S1` lists the
    master's and each child's timestamps in and out."""
    h = Harness(default_table())
    path = tmp_path / "audit.trail"
    with auditfile.open_append(path) as fh:
        h.engine.audit.start(T0 - STEP)
        staged_with_three_children(h)
        fh.write(h.engine.audit.take())
    out = subprocess.run([sys.executable, "-m", "fastcore.cli", "audit", str(path), "--order",
                          "S1"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    ins = {r["portion"]: r for r in rows if r["kind"] == "in"}
    assert sorted(ins) == ["0", "1", "2", "3"]
    assert [ins[p]["clordid"] for p in "0123"] == ["S1", "C1", "C2", "C3"]
    for p in "123":
        outs = [r for r in rows if r["portion"] == p and r["kind"] == "out"]
        assert outs and all(r["time"].startswith("2026-11-21T09:30:00.") for r in outs)
        assert {r["event"] for r in outs} <= {"trade", "canceled"}
    jsonl = subprocess.run([sys.executable, "-m", "fastcore.cli", "audit", str(path), "--order",
                            "C2", "--format", "jsonl"], capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert {r["clordid"] for r in lines} == {"C2"} and lines[0]["kind"] == "in"


def test_order_type_indicator_entirety_and_replace():
    h = Harness()
    h.send("D", nos("L1"))
    h.send("D", nos("M1", ord_type="1", px=None, extra=[(18, "1")]), who="ET1")   # not held
    h.send("D", nos("M2", ord_type="1", px=None), who="ET2")
    h.send("G", [(11, "L2"), (41, "L1"), (55, "ESZ6"), (54, "1"), (38, "12"), (40, "2"),
                 (44, "100"), (59, "0"), (60, "20261121-09:30:00.000")])
    records = trail(h)
    ins = {r.clordid: r for r in records if r.kind == "in"}
    assert (ins["L1"].oti, ins["M1"].oti, ins["M2"].oti) == ("L", "D", "Q")
    assert ins["L1"].entirety                     # auto mode: the book takes it whole at once
    replaced = [r for r in records if r.event == "replaced"]
    assert [(r.clordid, r.qty) for r in replaced] == [("L2", "12")]
    assert auditfile.query(records, "L2") == auditfile.query(records, "L1")   # one order
    worked = Harness({"mode": "worked"})
    worked.send("D", nos("W1"))
    assert [(r.kind, r.entirety) for r in trail(worked)] == [("in", False)]  # a desk works it
    worked.act("ack", order="W1")
    assert [r.kind for r in trail(worked)] == ["entered"]


def test_a_rejected_order_leaves_no_record_and_disabled_keeps_none():
    h = Harness()
    h.send("D", nos("BAD", symbol="NOPE"))
    h.send("D", nos("A"))
    h.send("D", nos("A"))                        # a duplicate: an answer, not an event
    assert [(r.kind, r.clordid) for r in trail(h)] == [("in", "A"), ("entered", "A")]
    off = Harness({"audit": {"enabled": False}})
    off.send("D", nos("A"))
    assert len(off.engine.audit) == 0 and off.engine.audit.take() == b""


@pytest.mark.parametrize("journal", [True, False])
def test_the_trail_survives_a_restart(tmp_path, journal):
    """Two runs of a server on one store: the file keeps the first run's
    records and appends the second's after a start record. With the
    journal, order ids go on across the runs, and the first run's order is
    found by its ClOrdID in both; without it, they count from 1 again."""
    config = server_config(str(tmp_path / "store"))
    config["journal"] = {"enabled": journal}
    for run, clordid in enumerate(("R1", "R2")):
        server = RunningServer(config, "asyncio")
        try:
            with server.fix() as client:
                if run == 1:                     # the first run's order, canceled now
                    client.send("F", cancel("X1", "R1"))
                    client.wait(lambda m: m.get_str(11) == "X1")
                client.send("D", nos(clordid))
                client.wait(lambda m: m.get_str(11) == clordid)
        finally:
            server.stop()
    got = auditfile.read(tmp_path / "store" / "audit.trail")
    assert got.torn == 0
    second = ([(1, "out", "R1")] if journal else []) + [(1, "in", "R2"), (1, "entered", "R2")]
    assert [(r.run, r.kind, r.clordid) for r in got.records] == [
        (0, "start", ""), (0, "in", "R1"), (0, "entered", "R1"), (1, "start", ""), *second]
    r1, r2 = got.records[1], got.records[-2]
    if journal:
        assert (r1.order_id, r2.order_id) == (1, 2)
        assert [(r.run, r.kind) for r in auditfile.query(got.records, "R1")] == [
            (0, "in"), (0, "entered"), (1, "out")]
    else:
        assert r1.order_id == r2.order_id == 1            # ids count from 1 again
        assert [r.clordid for r in auditfile.query(got.records, "R1")] == ["R1", "R1"]


def test_a_childs_bust_and_correction_reach_its_staged_order():
    """Worked mode: a desk fills two children of a staged order, then busts
    the first fill and corrects the second; the staged order's mirrored
    fills follow (its audience told), and the average price of its account
    keeps only what stands."""
    from fastcore.pricing import average_prices
    h = Harness({**default_table(), "mode": "worked"})
    staged_two_fills(h)
    busted = h.act("bust", order="C1", exec_id="E1")
    s1 = [m for to, m in busted if to == "PM1" and m[11] == "S1"]
    assert [(m[150], m[14]) for m in s1] == [("H", "30")]          # S1's CumQty back to 30
    corrected = h.act("correct", order="C2", exec_id="E2", qty="20", px="4501")
    s1 = [m for to, m in corrected if to == "PM1" and m[11] == "S1"]
    assert [(m[150], m[32], m[31], m[14]) for m in s1] == [("G", "20", "4501", "20")]
    assert h.engine.order_state("S1") == "New, Partially Filled"
    rows = {r.account: r for r in average_prices(trail(h))}
    assert (rows["PM1"].qty, rows["PM1"].avg_px) == ("20", "4501")   # the staged order's
    assert (rows["DESK-A"].qty, rows["DESK-A"].avg_px) == ("20", "4501")   # the children's
