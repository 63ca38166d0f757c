"""fastcore.auditfile: audit-trail records read back, appended, queried, exported.

Records are built here with ``struct.pack(fastcore.audit.RECORD, ...)`` (``rec``),
independently of the reader; one test takes them from the real writer.
"""
import csv
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import textwrap
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, strategies as st

from fastcore import auditfile
from harness import Harness, cancel, nos, replace
from fastcore.audit import FIXED, RECORD, AuditTrail
from fastcore.auditfile import MAGIC, AuditFileError, Record, parse, query

T0 = 1_795_253_400_000_000_000          # 2026-11-21 09:30:00 UTC
TEXTS = ("CL1", "PM1", "ACC1", "ESZ6", "", "")


def rec(kind, *, exec_type=b"\0", portion=0, ts=T0, order_id=0, master_id=None, exec_id=0,
        exec_ref=0, qty=0, px=0, side=b"1", ord_type=b"2", tif=b"0", oti=b"L", source=b"Y",
        entirety=0, texts=None) -> bytes:
    """One record's bytes: qty and px in fixed point (4 and 8 decimals); an
    "I" record and a replaced one ("O", ExecType 5) get ``texts`` (default
    TEXTS), each a uint32 length and its bytes."""
    tail = b""
    if kind == b"I" or (kind == b"O" and exec_type == b"5"):
        for t in TEXTS if texts is None else texts:
            b = t.encode("latin-1")
            tail += struct.pack("<I", len(b)) + b
    return struct.pack(RECORD, FIXED + len(tail), portion, ts, order_id,
                       order_id if master_id is None else master_id, exec_id, exec_ref,
                       qty, px, kind, exec_type, side, ord_type, tif, oti, source,
                       entirety) + tail


def texts(clordid, account="ACC1", *, customer="", client_account="", symbol="ESZ6"):
    """The six texts of an order, in the order of the record."""
    return (clordid, "PM1", account, symbol, customer, client_account)


def order_in(order_id, clordid="CL1", account="ACC1", *, ts=T0, master_id=None, portion=0,
             qty=10_0000, px=100_25000000, source=b"Y", side=b"1", **kw) -> bytes:
    return rec(b"I", order_id=order_id, master_id=master_id, portion=portion, ts=ts, qty=qty,
               px=px, source=source, side=side,
               texts=(clordid, "PM1", account, "ESZ6", kw.pop("customer", ""),
                      kw.pop("client_account", "")), **kw)


def out(order_id, exec_type, exec_id, *, qty=0, px=0, exec_ref=0, ts=T0, master_id=None,
        portion=0, source=b"Y", side=b"1", texts=None) -> bytes:
    """An "O" record; a replaced one (ExecType 5) carries ``texts``."""
    return rec(b"O", exec_type=exec_type, order_id=order_id, master_id=master_id,
               portion=portion, exec_id=exec_id, exec_ref=exec_ref, qty=qty, px=px, ts=ts,
               source=source, side=side, texts=texts)


def start(ts=T0) -> bytes:
    return rec(b"S", ts=ts, side=b"\0", ord_type=b"\0", tif=b"\0", oti=b"\0", source=b"\0")


def write(path, *records: bytes) -> bytes:
    data = MAGIC + b"".join(records)
    path.write_bytes(data)
    return data


# ---------------------------------------------------------------- parsing

def test_an_order_in_words_its_texts_joined_to_every_record():
    data = (start(T0) + order_in(1, "CL-7", customer="Profile A", client_account="C-99",
                                 ts=T0 + 1, entirety=1)
            + rec(b"E", order_id=1, ts=T0 + 2, qty=10_0000, px=100_25000000)
            + out(1, b"F", 5, qty=4_0000, px=100_25000000, ts=T0 + 123_456_789))
    s, i, e, f = parse(data)
    assert (s.kind, s.event, s.run, s.order_id, s.time) == (
        "start", "", 0, 0, "2026-11-21T09:30:00.000000000Z")
    assert (s.side, s.source, s.clordid) == ("", "", "")
    assert (i.kind, i.event, i.entirety, i.qty, i.px) == ("in", "", True, "10", "100.25")
    assert (i.clordid, i.user, i.account, i.symbol, i.customer, i.client_account) == (
        "CL-7", "PM1", "ACC1", "ESZ6", "Profile A", "C-99")
    assert (i.side, i.ord_type, i.tif, i.oti, i.source) == ("1", "2", "0", "L", "Y")
    assert (e.kind, e.entirety, e.ts) == ("entered", False, T0 + 2)
    assert (f.kind, f.event, f.exec_id, f.qty, f.px) == ("out", "trade", 5, "4", "100.25")
    assert f.time == "2026-11-21T09:30:00.123456789Z"
    for r in (e, f):        # joined from the "in" record
        assert (r.clordid, r.account, r.symbol, r.customer, r.client_account) == (
            "CL-7", "ACC1", "ESZ6", "Profile A", "C-99")
        assert r.order_id == r.master_id == 1 and r.run == 0


def test_every_exec_type_has_its_event_name():
    names = {b"F": "trade", b"4": "canceled", b"C": "expired", b"8": "rejected",
             b"3": "done_for_day", b"5": "replaced", b"H": "trade_cancel",
             b"G": "trade_correct", b"D": "restated", b"Z": "Z"}
    data = start() + order_in(1) + b"".join(out(1, c, n) for n, c in enumerate(names, 1))
    got = [r.event for r in parse(data)[2:]]
    assert got == list(names.values())


def test_each_start_begins_a_run_and_joins_go_on_across_runs():
    data = (order_in(1, "OLD")                   # before any start: run 0
            + start() + order_in(1, "A") + out(1, b"4", 1, qty=10_0000)
            + start() + out(1, b"4", 1)          # a recovered order: its "in" is in run 1
            + order_in(2, "B") + out(2, b"F", 2, qty=1_0000, px=1_00000000)
            + out(7, b"4", 3))                   # no "in" record anywhere: no texts
    recs = parse(data)
    assert [(r.run, r.kind, r.clordid) for r in recs] == [
        (0, "in", "OLD"), (1, "start", ""), (1, "in", "A"), (1, "out", "A"),
        (2, "start", ""), (2, "out", "A"), (2, "in", "B"), (2, "out", "B"), (2, "out", "")]
    assert [r.run for r in parse(start() + start() + order_in(1), run=5)] == [5, 6, 6]


def test_a_clordid_names_its_order_in_later_runs_until_ids_count_again():
    """With a journal an order's records span runs (ids go on); a run whose
    first order id is not above the earlier ones' began without one (ids
    count from 1 again), so the ClOrdID no longer names the old id there."""
    data = (start() + order_in(1, "A") + order_in(2, "B")
            + start() + out(1, b"F", 1) + order_in(3, "C") + out(1, b"4", 2)   # ids go on
            + start() + order_in(1, "D") + out(1, b"4", 3))                    # from 1 again
    recs = parse(data)
    assert [(r.run, r.kind, r.event) for r in auditfile.query(recs, "A")] == [
        (0, "in", ""), (1, "out", "trade"), (1, "out", "canceled")]
    assert [(r.run, r.clordid) for r in auditfile.query(recs, "D")] == [(2, "D"), (2, "D")]


def test_a_later_in_record_of_the_same_order_is_the_one_joined():
    recs = parse(start() + order_in(3, "X1") + out(3, b"4", 1) + order_in(3, "X2")
                 + out(3, b"F", 2))
    assert [r.clordid for r in recs[1:]] == ["X1", "X1", "X2", "X2"]


def test_a_replaced_record_carries_the_new_texts_and_later_records_join_them():
    data = (start() + order_in(1, "A1", "ACC1") + rec(b"E", order_id=1)
            + out(1, b"5", 1, qty=5_0000, texts=texts("A2", "ACC2", customer="P2"))
            + out(1, b"F", 2, qty=1_0000, px=1_00000000)
            + out(1, b"5", 3, texts=texts("A3", "ACC2")) + out(1, b"4", 4)
            + order_in(2, "B1") + out(2, b"F", 5))         # another order: its own texts
    recs = parse(data)
    assert [(r.kind, r.event, r.clordid, r.account, r.customer) for r in recs[1:]] == [
        ("in", "", "A1", "ACC1", ""), ("entered", "", "A1", "ACC1", ""),
        ("out", "replaced", "A2", "ACC2", "P2"), ("out", "trade", "A2", "ACC2", "P2"),
        ("out", "replaced", "A3", "ACC2", ""), ("out", "canceled", "A3", "ACC2", ""),
        ("in", "", "B1", "ACC1", ""), ("out", "trade", "B1", "ACC1", "")]
    assert recs[3].qty == "5"
    assert len(out(1, b"5", 1)) == FIXED + 6 * 4 + len("".join(TEXTS))
    assert len(out(1, b"4", 1)) == FIXED            # only "in" and "replaced" carry texts


def test_query_by_the_new_clordid_of_a_replaced_order_gives_all_its_records():
    data = (start() + order_in(1, "A1") + order_in(2, "B1")
            + out(1, b"5", 1, texts=texts("A2")) + out(2, b"4", 2)
            + out(1, b"F", 3, qty=1_0000, px=1_00000000)
            + order_in(3, "C1", master_id=1, portion=1)     # a portion of order 1
            + out(1, b"5", 4, texts=texts("A3")) + out(1, b"4", 5)
            + start() + order_in(1, "Z1") + out(1, b"5", 1, texts=texts("A2")))
    recs = parse(data)
    whole = [(0, "in", ""), (0, "out", "replaced"), (0, "out", "trade"), (0, "in", ""),
             (0, "out", "replaced"), (0, "out", "canceled")]
    for clordid in ("A1", "A3"):                    # the first and the last ClOrdID
        assert [(r.run, r.kind, r.event) for r in query(recs, clordid)] == whole
    assert [(r.run, r.kind, r.event) for r in query(recs, "A2")] == whole + [
        (1, "in", ""), (1, "out", "replaced")]     # run 1's order 1 became A2 too
    assert [r.clordid for r in query(recs, "A2")] == [
        "A1", "A2", "A2", "C1", "A3", "A3", "Z1", "A2"]
    assert [r.order_id for r in query(recs, "B1")] == [2, 2]
    assert query(recs, "C1") == [recs[6]]


def test_a_text_longer_than_64_kib_round_trips(tmp_path):
    big = "x" * 70_000 + "\xe9"
    long_texts = texts("L1", big, customer="c" * 65_536, client_account="y" * 65_535)
    data = (start() + order_in(1, "L1", big, customer="c" * 65_536, client_account="y" * 65_535)
            + out(1, b"5", 1, texts=("N" * 100_000,) + long_texts[1:]) + out(1, b"4", 2))
    s, i, r, c = parse(data)
    assert (i.clordid, i.account, i.customer, i.client_account) == (
        "L1", big, "c" * 65_536, "y" * 65_535)
    assert (r.clordid, c.clordid, c.account) == ("N" * 100_000, "N" * 100_000, big)
    path = tmp_path / "a.bin"
    with auditfile.open_append(path) as fh:
        fh.write(data)
    assert auditfile.read(path) == auditfile.Trail([s, i, r, c], 0)
    assert query(auditfile.read(path).records, "N" * 100_000) == [i, r, c]


def test_decimals_are_exact_without_trailing_zeros():
    cases = [(0, 0, "0", "0"), (1, 1, "0.0001", "0.00000001"),
             (12_3400, -1_50000000, "12.34", "-1.5"),
             (2**63 - 1, -2**63, "922337203685477.5807", "-92233720368.54775808")]
    data = start() + b"".join(order_in(1, qty=q, px=p) for q, p, _, _ in cases)
    assert [(r.qty, r.px) for r in parse(data)[1:]] == [(q, p) for _, _, q, p in cases]


@pytest.mark.parametrize("bad, why", [
    (rec(b"X"), "unknown kind"),
    (struct.pack("<I", 71) + bytes(68), "below 72"),
    (struct.pack("<I", 3) + b"junk", "below 72"),
    (struct.pack("<I", FIXED + 28) + rec(b"I")[4:FIXED] + struct.pack("<I", 200) + b"x" * 24,
     "an 'in' record's texts overrun"),
    (struct.pack("<I", FIXED + 24) + out(1, b"5", 1)[4:FIXED] + struct.pack("<I", 2**32 - 1)
     + bytes(20), "a 'replaced' record's texts overrun"),
    (struct.pack("<I", FIXED) + rec(b"I")[4:FIXED], "an 'in' record of 72 bytes: too short"),
    (struct.pack("<I", FIXED) + out(1, b"5", 1)[4:FIXED], "a 'replaced' record of 72 bytes"),
    (struct.pack("<I", FIXED + 2) + rec(b"E")[4:] + b"zz", "only 'in' and 'replaced'"),
    (struct.pack("<I", FIXED + 4) + out(1, b"F", 1)[4:] + bytes(4), "'out' record of 76"),
    (struct.pack("<I", FIXED + 27) + rec(b"I", texts=("",) * 6)[4:] + b"\0" * 3,
     "bytes after its texts"),
])
def test_bytes_that_are_not_records_are_refused(bad, why):
    with pytest.raises(AuditFileError, match=why) as info:
        parse(start() + bad)
    assert info.value.offset == FIXED and info.value.path is None


def test_parse_refuses_data_that_ends_inside_a_record():
    data = start() + order_in(1)
    with pytest.raises(AuditFileError, match="ends inside a record"):
        parse(data[:-1])
    assert parse(b"") == []


def test_iso_time_has_nanoseconds_in_utc():
    assert auditfile.iso_time(T0 + 123_456_789) == "2026-11-21T09:30:00.123456789Z"
    assert auditfile.iso_time(0) == "1970-01-01T00:00:00.000000000Z"
    assert auditfile.iso_time(-1) == "1969-12-31T23:59:59.999999999Z"


# ---------------------------------------------------------------- the writer

def test_records_of_the_real_writer_parse():
    trail = AuditTrail()
    trail.start(T0 + 7)
    assert len(trail) == FIXED
    (r,) = parse(trail.take())
    assert (r.kind, r.run, r.ts, r.order_id, r.time) == (
        "start", 0, T0 + 7, 0, "2026-11-21T09:30:00.000000007Z")
    assert trail.take() == b"" and len(trail) == 0
    trail.start(T0 + 8)
    trail.start(T0 + 9)
    assert [(r.run, r.ts) for r in parse(trail.take())] == [(0, T0 + 8), (1, T0 + 9)]
    off = AuditTrail(False)
    off.start(T0)
    assert off.take() == b"" and not off.enabled


def test_the_engine_records_a_replace_with_the_orders_new_texts():
    """The engine's own records of an order replaced, then canceled: the
    "replaced" record carries the new ClOrdID, joined after it; either
    ClOrdID gives the whole order."""
    h = Harness()
    h.engine.audit.start(h.now)
    h.now += 1
    order_id = int(h.one("D", nos("A", qty="10", px="100"))[37])
    h.now += 1
    h.one("G", replace("B", "A", "20", "101.5"))
    h.now += 1
    h.one("F", cancel("C", "B", qty="20"))
    recs = parse(h.engine.audit.take())
    assert [(r.kind, r.event, r.clordid, r.qty, r.px) for r in recs] == [
        ("start", "", "", "0", "0"), ("in", "", "A", "10", "100"),
        ("entered", "", "A", "10", "100"), ("out", "replaced", "B", "20", "101.5"),
        ("out", "canceled", "B", "20", "101.5")]
    assert {(r.order_id, r.user, r.symbol, r.account) for r in recs[1:]} == {
        (order_id, "PM1", "ESZ6", recs[1].account)}
    assert [r.ts for r in recs] == [T0, T0 + 1, T0 + 1, T0 + 2, T0 + 3]
    assert query(recs, "A") == query(recs, "B") == query(recs, order_id) == recs[1:]
    assert query(recs, "C") == []       # a cancel's ClOrdID names no texts


def test_the_real_writer_appended_to_a_file_reads_back(tmp_path):
    path = tmp_path / "audit.bin"
    trail = AuditTrail()
    for n in range(3):                       # three server starts
        with auditfile.open_append(path) as fh:
            trail.start(T0 + n)
            fh.write(trail.take())
    got = auditfile.read(path)
    assert got.torn == 0
    assert [(r.run, r.kind, r.ts) for r in got.records] == [(n, "start", T0 + n) for n in range(3)]


# ---------------------------------------------------------------- files

def test_read_checks_the_magic_and_reports_a_torn_tail(tmp_path):
    path = tmp_path / "a.bin"
    body = start() + order_in(1) + out(1, b"F", 1, qty=1_0000, px=5_00000000)
    write(path, body)
    whole = auditfile.read(path)
    assert whole.torn == 0 and len(whole.records) == 3
    torn_rec = order_in(2)
    write(path, body, torn_rec[:-3])
    got = auditfile.read(path)
    assert got.torn == len(torn_rec) - 3 and got.records == whole.records
    assert list(auditfile.iter_file(path)) == whole.records
    path.write_bytes(b"FCAUDIT2" + body)
    with pytest.raises(AuditFileError, match="not an audit trail") as info:
        auditfile.read(path)
    assert info.value.path == str(path)
    with pytest.raises(FileNotFoundError):
        auditfile.read(tmp_path / "missing.bin")


def test_read_reports_where_a_record_is_broken(tmp_path):
    path = tmp_path / "a.bin"
    write(path, start(), rec(b"Q"))
    with pytest.raises(AuditFileError) as info:
        auditfile.read(path)
    assert info.value.offset == len(MAGIC) + FIXED and str(path) in str(info.value)


def test_read_streams_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(auditfile, "_CHUNK", 7)     # records cut at every chunk edge
    path = tmp_path / "a.bin"
    data = write(path, start(), *(order_in(n, f"C{n}") + out(n, b"4", n) for n in range(1, 20)))
    assert auditfile.read(path).records == parse(data[len(MAGIC):])
    assert auditfile.complete_size(path) == len(data)


def test_open_append_creates_the_file_with_magic_and_flushes_each_write(tmp_path):
    path = tmp_path / "new.bin"
    with auditfile.open_append(path) as fh:
        assert path.read_bytes() == MAGIC
        fh.write(start())
        assert path.read_bytes() == MAGIC + start()      # flushed, file still open
        fh.write(order_in(1))
    assert path.read_bytes() == MAGIC + start() + order_in(1)
    path.write_bytes(b"")
    with auditfile.open_append(path) as fh:              # empty: gets MAGIC too
        fh.write(start())
    assert path.read_bytes() == MAGIC + start()
    path.write_bytes(MAGIC[:3])                          # MAGIC itself torn
    auditfile.open_append(path).close()
    assert path.read_bytes() == MAGIC


def test_open_append_cuts_a_torn_record_once_and_keeps_complete_ones(tmp_path):
    path = tmp_path / "a.bin"
    good = write(path, start(), order_in(1))
    path.write_bytes(good + order_in(2)[:40])
    assert auditfile.complete_size(path) == len(good)
    with auditfile.open_append(path) as fh:
        assert path.read_bytes() == good
        fh.write(out(1, b"4", 1))
    assert path.read_bytes() == good + out(1, b"4", 1)
    assert [r.kind for r in auditfile.read(path).records] == ["start", "in", "out"]


def test_open_append_refuses_a_file_that_is_not_an_audit_trail(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, world\n")
    with pytest.raises(AuditFileError, match="not an audit trail"):
        auditfile.open_append(path)
    assert path.read_bytes() == b"hello, world\n"
    path.write_bytes(MAGIC + struct.pack("<I", 3) + b"junk")
    with pytest.raises(AuditFileError, match="below 72"):
        auditfile.open_append(path)
    assert path.read_bytes() == MAGIC + struct.pack("<I", 3) + b"junk"


@pytest.mark.parametrize("last, why", [
    (struct.pack("<I", 1 << 30) + rec(b"E")[4:], "'entered' record of 1073741824 bytes"),
    (struct.pack("<I", 1 << 30) + rec(b"Q")[4:], "unknown kind"),
])
def test_open_append_refuses_a_broken_length_rather_than_cut_the_file_there(tmp_path, last, why):
    """A record whose fixed part is whole is checked before the file is taken
    to end inside it: a length broken in the middle of the trail is never a
    torn tail to cut (everything after it would go)."""
    path = tmp_path / "a.bin"
    data = write(path, start(), last, order_in(1), out(1, b"F", 1))
    with pytest.raises(AuditFileError, match=why) as info:
        auditfile.open_append(path)
    assert info.value.offset == len(MAGIC) + FIXED
    assert path.read_bytes() == data
    with pytest.raises(AuditFileError, match=why):
        auditfile.read(path)


def test_open_append_locks_the_trail_while_it_is_open(tmp_path):
    path = tmp_path / "audit.bin"
    first = auditfile.open_append(path)
    first.write(start())
    with pytest.raises(AuditFileError, match="in use") as info:
        auditfile.open_append(path)             # a second writer, same process
    assert info.value.path == str(path) and "interleave" in str(info.value)
    assert path.read_bytes() == MAGIC + start()
    first.close()
    with auditfile.open_append(path) as fh:     # released on close
        fh.write(out(1, b"4", 1))
    assert path.read_bytes() == MAGIC + start() + out(1, b"4", 1)
    auditfile.read(path)                        # readers take no lock


def test_open_append_is_refused_while_another_process_appends(tmp_path):
    path = tmp_path / "audit.bin"
    script = textwrap.dedent(f"""
        import sys
        from fastcore import auditfile
        fh = auditfile.open_append({str(path)!r})
        print("open", flush=True)
        sys.stdin.readline()
        fh.close()
        print("closed", flush=True)
    """)
    other = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "open\n"
        with pytest.raises(AuditFileError, match="the trail is in use"):
            auditfile.open_append(path)
        other.stdin.write("\n")
        other.stdin.flush()
        assert other.stdout.readline() == "closed\n"
        with auditfile.open_append(path) as fh:
            fh.write(start())
    finally:
        other.kill()
        other.wait(timeout=30)
    assert auditfile.read(path).records == parse(start())


# ---------------------------------------------------------------- query

def staged_trail() -> bytes:
    """Run 0: order 1 (CL-M, a staged order) with two child orders 2 and 3,
    and an unrelated order 4. Run 1: order ids restart; order 1 is CL-M again."""
    return (start()
            + order_in(1, "CL-M", "CLIENT")
            + order_in(2, "CL-C1", "DESK", master_id=1, portion=1)
            + order_in(4, "CL-X", "OTHER")
            + order_in(3, "CL-C2", "DESK", master_id=1, portion=2)
            + out(2, b"F", 10, qty=1_0000, px=100_00000000, master_id=1, portion=1)
            + out(1, b"F", 11, qty=1_0000, px=100_00000000, portion=1)
            + out(4, b"4", 12)
            + start()
            + order_in(1, "CL-N") + order_in(2, "CL-M") + out(2, b"4", 1))


def test_query_gives_an_order_and_its_portions_by_order_id_or_clordid():
    recs = parse(staged_trail())
    by_id = query(recs, 1)
    assert [(r.run, r.order_id, r.kind) for r in by_id] == [
        (0, 1, "in"), (0, 2, "in"), (0, 3, "in"), (0, 2, "out"), (0, 1, "out"), (1, 1, "in")]
    assert query(recs, "1") == by_id
    by_clordid = query(recs, "CL-M")         # order 1 in run 0, order 2 in run 1
    assert [(r.run, r.order_id) for r in by_clordid] == [
        (0, 1), (0, 2), (0, 3), (0, 2), (0, 1), (1, 2), (1, 2)]
    assert [r.order_id for r in query(recs, "CL-C2")] == [3]
    assert query(recs, "nobody") == [] and query(recs, 99) == [] and query(recs, "99") == []


def test_query_takes_a_clordid_of_digits_as_a_clordid_first():
    recs = parse(start() + order_in(1, "2") + order_in(2, "B") + out(2, b"4", 1))
    assert [r.order_id for r in query(recs, "2")] == [1]
    assert [r.order_id for r in query(recs, 2)] == [2, 2]


# ---------------------------------------------------------------- export

def test_csv_has_a_header_and_a_row_per_record():
    recs = parse(staged_trail())
    fh = io.StringIO(newline="")
    assert auditfile.write_csv(recs, fh) == len(recs)
    fh.seek(0)
    rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(auditfile.FIELDS)
    assert auditfile.FIELDS[:8] == ("run", "time", "ts", "kind", "event", "order_id",
                                    "master_id", "portion")
    for row, r in zip(rows, recs, strict=True):
        want = {k: str(v) for k, v in msgspec.structs.asdict(r).items()}
        want["entirety"] = "1" if r.entirety else "0"
        assert row == want


def test_jsonl_has_an_object_per_record_that_decodes_back():
    recs = parse(staged_trail())
    fh = io.StringIO()
    assert auditfile.write_jsonl(recs, fh) == len(recs)
    lines = fh.getvalue().splitlines()
    assert [msgspec.json.decode(line, type=Record) for line in lines] == recs
    first = json.loads(lines[1])
    assert first["clordid"] == "CL-M" and first["qty"] == "10" and first["entirety"] is False


# ---------------------------------------------------------------- properties

record_spec = st.one_of(
    st.tuples(st.just(b"S"), st.just(b"\0")),
    st.tuples(st.just(b"I"), st.just(b"\0")),
    st.tuples(st.just(b"E"), st.just(b"\0")),
    st.tuples(st.just(b"O"), st.sampled_from(list(auditfile.EVENTS))),
).flatmap(lambda k: st.fixed_dictionaries({
    "kind": st.just(k[0]), "exec_type": st.just(k[1]),
    "order_id": st.integers(1, 4), "master_id": st.integers(1, 4),
    "portion": st.integers(0, 2**32 - 1), "ts": st.integers(0, 2**62),
    "exec_id": st.integers(0, 2**63 - 1), "exec_ref": st.integers(0, 2**63 - 1),
    "qty": st.integers(-2**63, 2**63 - 1), "px": st.integers(-2**63, 2**63 - 1),
    "side": st.sampled_from([b"1", b"2", b"\0"]), "source": st.sampled_from(list(b"WYCGHD\0")),
    "entirety": st.integers(0, 1),
    "texts": st.tuples(*[st.text(st.characters(max_codepoint=255), max_size=12)] * 6)}))
"""A record of any kind; "O" records of every ExecType, "replaced" (5) ones
with their texts."""


def _dec(value: int, digits: int) -> str:
    return format(Decimal(value).scaleb(-digits).normalize(), "f")


@given(st.lists(record_spec, max_size=25))
def test_parse_round_trips_built_records(specs):
    data = b"".join(rec(s["kind"], exec_type=s["exec_type"], order_id=s["order_id"],
                        master_id=s["master_id"], portion=s["portion"], ts=s["ts"],
                        exec_id=s["exec_id"], exec_ref=s["exec_ref"], qty=s["qty"], px=s["px"],
                        side=s["side"], source=bytes([s["source"]]), entirety=s["entirety"],
                        texts=s["texts"]) for s in specs)
    recs = parse(data)
    assert len(recs) == len(specs)
    run, seen, joins = 0, False, {}
    for s, r in zip(specs, recs):
        if s["kind"] == b"S":
            run += seen                          # the joins go on across runs
        seen = True
        if s["kind"] == b"I" or (s["kind"] == b"O" and s["exec_type"] == b"5"):
            joins[s["order_id"]] = s["texts"]
        joined = joins.get(s["order_id"], ("",) * 6) if s["kind"] != b"S" else ("",) * 6
        assert (r.clordid, r.user, r.account, r.symbol, r.customer, r.client_account) == joined
        assert r.run == run
        assert r.kind == {b"S": "start", b"I": "in", b"E": "entered", b"O": "out"}[s["kind"]]
        assert (r.event != "") == (s["kind"] == b"O")
        assert (r.order_id, r.master_id, r.portion, r.ts, r.exec_id, r.exec_ref) == (
            s["order_id"], s["master_id"], s["portion"], s["ts"], s["exec_id"], s["exec_ref"])
        assert (r.qty, r.px) == (_dec(s["qty"], 4), _dec(s["px"], 8))
        assert r.side == s["side"].strip(b"\0").decode()
        assert r.source == bytes([s["source"]]).strip(b"\0").decode()
        assert r.entirety == bool(s["entirety"])
        assert r.time.endswith(f".{s['ts'] % 10**9:09d}Z")


@given(st.lists(st.sampled_from(["start", "in", "fill", "cancel"]), min_size=1, max_size=12),
       st.data())
def test_a_torn_tail_of_any_length_is_ignored_and_cut_never_a_complete_record(kinds, data):
    make = {"start": start(), "in": order_in(1, "C" * 40), "fill": out(1, b"F", 1, qty=1),
            "cancel": out(1, b"4", 2)}
    records = [make[k] for k in kinds]
    whole = b"".join(records[:-1])
    last = records[-1]
    cut = data.draw(st.integers(1, len(last) - 1), label="bytes of the last record written")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "a.bin")
        with open(path, "wb") as fh:
            fh.write(MAGIC + whole + last[:cut])
        got = auditfile.read(path)
        assert got.torn == cut
        assert got.records == parse(whole)
        with auditfile.open_append(path) as fh:
            fh.write(last)
        with open(path, "rb") as fh:
            assert fh.read() == MAGIC + whole + last
        assert auditfile.read(path) == auditfile.Trail(parse(whole + last), 0)


# ---------------------------------------------------------------- the command

def fastcore(*args):
    return subprocess.run([sys.executable, "-m", "fastcore.cli", *map(str, args)],
                          capture_output=True, timeout=60, text=True)


def test_cli_audit_exports_csv_and_jsonl(tmp_path):
    path = tmp_path / "audit.bin"
    write(path, staged_trail())
    res = fastcore("audit", path)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == len(parse(staged_trail())) and rows[1]["clordid"] == "CL-M"
    outfile = tmp_path / "out.jsonl"
    res = fastcore("audit", path, "--format", "jsonl", "-o", outfile)
    assert res.returncode == 0 and res.stdout == ""
    lines = outfile.read_text().splitlines()
    assert [msgspec.json.decode(x, type=Record) for x in lines] == parse(staged_trail())


def test_cli_audit_order_gives_every_timestamp_of_the_order_and_its_portions(tmp_path):
    path = tmp_path / "audit.bin"
    write(path, staged_trail())
    res = fastcore("audit", path, "--order", "CL-M", "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    got = [json.loads(x) for x in res.stdout.splitlines()]
    assert [(g["run"], g["order_id"], g["portion"]) for g in got] == [
        (0, 1, 0), (0, 2, 1), (0, 3, 2), (0, 2, 1), (0, 1, 1), (1, 2, 0), (1, 2, 0)]
    res = fastcore("audit", path, "--order", "12345")
    assert res.returncode == 1 and "12345" in res.stderr and res.stdout == ""


def test_cli_audit_fails_clearly_on_a_missing_or_foreign_file_and_warns_on_a_torn_one(tmp_path):
    res = fastcore("audit", tmp_path / "missing.bin")
    assert res.returncode == 1 and "missing.bin" in res.stderr
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not an audit file")
    res = fastcore("audit", bad)
    assert res.returncode == 1 and "not an audit trail" in res.stderr
    torn = tmp_path / "torn.bin"
    write(torn, start(), order_in(1)[:50])
    res = fastcore("audit", torn)
    assert res.returncode == 0 and "50 bytes" in res.stderr
    assert len(res.stdout.splitlines()) == 2        # the header and the start record
