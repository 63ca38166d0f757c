"""The write-ahead journal and crash recovery: the journal's framing (records
round-trip, torn tails cut, corruption refused), snapshots of the engine
(``state``/``restore``, damaged files skipped, pruning), recovery through the
Acceptor after a simulated crash (the engine's hash, the session stores, the
audit trail), ``fastcore replay``, and the msgspec port's inputs."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import T0, Harness, cancel, nos, replace, staged_two_fills
from serverkit import RunningServer, server_config

from fastcore import auditfile, recovery, snapshot
from fastcore.config import default_table
from fastcore.engine import Engine
from fastcore.errors import JournalError
from fastcore.journal import MAGIC, Journal, Record, crc32, records, segment_name, segments

STEP = 1_000_000                # 1 ms between the test's events
SEG = 4096                      # the smallest segment: rotation every few records


def write_records(directory, items, flush_every=None, segment_size=SEG, fsync="none"):
    """Append ``items`` [(kind, user, now, data)] to the journal in
    ``directory``, committing after each index in ``flush_every`` (a set;
    None: once at the end); returns the Records expected back."""
    expected = []
    with Journal(directory, fsync, segment_size) as j:
        for i, (kind, user, now, data) in enumerate(items):
            seq = j.append(kind, user, now, data)
            expected.append(Record(kind, seq, 0xFFFF if user < 0 else user, now, data))
            if flush_every is not None and i in flush_every:
                j.flush()
    return expected


def last_segment(directory):
    return segments(directory)[-1][1]


def record_strategy():
    return st.tuples(st.sampled_from("FMAR"), st.integers(-1, 0xFFFE),
                     st.integers(-2 ** 63, 2 ** 63 - 1), st.binary(max_size=1500))


# ---- 1. framing --------------------------------------------------------------------

@settings(max_examples=40)
@given(items=st.lists(record_strategy(), max_size=30), data=st.data())
def test_records_round_trip_across_segments_and_flush_points(items, data):
    flushes = data.draw(st.sets(st.integers(0, max(len(items) - 1, 0))))
    after = data.draw(st.integers(0, len(items)))
    with tempfile.TemporaryDirectory() as d:
        expected = write_records(d, items, flushes)
        assert list(records(d)) == expected
        assert list(records(d, after=after)) == expected[after:]
        # numbered 1, 2, ... across segments with no gap; each segment named by its first
        firsts = [first for first, _ in segments(d)]
        assert firsts[0] == 1 and firsts == sorted(firsts)
        for first, path in segments(d):
            assert os.path.basename(path) == segment_name(first)
            with open(path, "rb") as f:
                assert f.read(8) == MAGIC
        if sum(len(x[3]) for x in items) > 2 * SEG:
            assert len(firsts) > 1                        # rotation happened
        # reopened, it carries on from the last record
        with Journal(d, segment_size=SEG) as j:
            assert (j.seq, j.written, j.cut) == (len(items), len(items), 0)
            assert j.append("A", -1, 5, b"next") == len(items) + 1
        assert [r.seq for r in records(d)] == list(range(1, len(items) + 2))


def test_records_after_skips_whole_segments(tmp_path):
    items = [("F", i % 5, T0 + i, bytes([i]) * 700) for i in range(40)]
    expected = write_records(tmp_path, items, set(range(40)))
    assert len(segments(tmp_path)) >= 5
    for after in (0, 1, 5, 6, 17, 39, 40, 100):
        assert list(records(tmp_path, after=after)) == expected[after:]


@given(st.binary(max_size=3000))
def test_crc32_is_zlibs(data):
    assert crc32(data) == zlib.crc32(data)
    assert crc32(bytearray(data)) == zlib.crc32(data)


def test_each_frame_is_length_crc_then_a_msgpack_array_of_five(tmp_path):
    items = [("F", 3, T0, b"8=FIX.4.4\x01"), ("A", -1, -7, b""), ("R", 0xFFFE, 2 ** 63 - 1, b"x" * 300)]
    write_records(tmp_path, items)
    with open(last_segment(tmp_path), "rb") as f:
        data = f.read()
    assert data[:8] == MAGIC
    pos, seq = 8, 0
    for kind, user, now, payload in items:
        seq += 1
        length, crc = struct.unpack_from("<II", data, pos)
        body = data[pos + 8:pos + 8 + length]
        assert len(body) == length == 29 + len(payload)
        assert crc == zlib.crc32(body)
        assert msgspec.msgpack.decode(body) == [kind, seq, 0xFFFF if user < 0 else user, now,
                                                payload]
        pos += 8 + length
    assert pos == len(data)


def test_a_torn_tail_of_any_length_is_cut_and_appending_goes_on(tmp_path):
    items = [("F", 1, T0 + i, f"record {i}".encode() * 3) for i in range(5)]
    src = tmp_path / "src"
    expected = write_records(src, items)
    with open(last_segment(src), "rb") as f:
        whole = f.read()
    last_len = 8 + 29 + len(items[-1][3])
    start = len(whole) - last_len
    for cut_at in range(start + 1, len(whole)):          # every byte inside the last record
        d = tmp_path / f"cut{cut_at}"
        shutil.copytree(src, d)
        with open(last_segment(d), "r+b") as f:
            f.truncate(cut_at)
        assert list(records(d)) == expected[:-1]           # the reader ignores the tail too
        with Journal(d) as j:
            assert j.cut == cut_at - start
            assert j.seq == 4
            assert j.append("M", 2, T0, b"after") == 5
        assert os.path.getsize(last_segment(d)) == start + 8 + 29 + 5
        assert list(records(d)) == expected[:-1] + [Record("M", 5, 2, T0, b"after")]


@settings(max_examples=30)
@given(n=st.integers(1, 12), tail=st.binary(min_size=1, max_size=200), torn=st.booleans())
def test_garbage_after_the_last_record_is_cut(n, tail, torn):
    with tempfile.TemporaryDirectory() as d:
        expected = write_records(d, [("A", -1, i, bytes(i * 50)) for i in range(n)])
        path = last_segment(d)
        size = os.path.getsize(path)
        with open(path, "ab") as f:
            if torn:                                       # a frame header promising more
                f.write(struct.pack("<II", 1000, 0))
            f.write(tail)
            grown = f.tell()
        with Journal(d, segment_size=SEG) as j:
            assert j.cut == grown - size
            assert j.seq == n
        assert os.path.getsize(path) == size
        assert list(records(d)) == expected


def test_a_flipped_byte_in_a_middle_segment_is_corruption(tmp_path):
    write_records(tmp_path, [("F", 0, i, bytes(900)) for i in range(20)], set(range(20)))
    found = segments(tmp_path)
    assert len(found) >= 3
    first, path = found[1]
    with open(path, "rb") as f:
        data = bytearray(f.read())
    # the second record of the segment: its first payload byte of data
    second = 8 + 8 + struct.unpack_from("<I", data, 8)[0]
    data[second + 8 + 29] ^= 0x40
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(JournalError) as exc:
        list(records(tmp_path))
    assert exc.value.path == path and exc.value.offset == second
    assert path in str(exc.value) and f"at byte {second}" in str(exc.value)
    assert "CRC" in exc.value.why
    # the records before it were read; reading past it is refused too
    with pytest.raises(JournalError):
        list(records(tmp_path, after=first))


def test_a_missing_segment_is_a_gap(tmp_path):
    write_records(tmp_path, [("F", 0, i, bytes(900)) for i in range(20)], set(range(20)))
    found = segments(tmp_path)
    gone_first, gone = found[1]
    os.remove(gone)
    with pytest.raises(JournalError) as exc:
        list(records(tmp_path))
    assert exc.value.path == found[0][1]
    assert f"the next segment begins at {found[2][0]}" in exc.value.why
    with pytest.raises(JournalError) as exc:            # from after the gap's start
        list(records(tmp_path, after=gone_first))
    assert f"the next segment begins at {found[2][0]}" in exc.value.why
    os.remove(found[0][1])                              # the journal begins later now
    with pytest.raises(JournalError) as exc:
        list(records(tmp_path))
    assert exc.value.path == found[2][1] and "no record 1 " in exc.value.why
    # after the gap, the records read
    assert [r.seq for r in records(tmp_path, after=found[2][0] - 1)] == list(
        range(found[2][0], 21))


@pytest.mark.parametrize("fsync", ["none", "batch", "always"])
def test_fsync_policies(tmp_path, fsync):
    j = Journal(tmp_path, fsync)
    try:
        assert repr(j).endswith(f"({fsync})>")
        j.append("F", 0, T0, b"one")
        on_file = [r.data for r in records(tmp_path)]
        assert on_file == ([b"one"] if fsync == "always" else [])   # "always": at once
        assert j.written == (1 if fsync == "always" else 0)
        j.flush()
        assert [r.data for r in records(tmp_path)] == [b"one"] and j.written == 1
    finally:
        j.close()


def test_bad_arguments_and_a_closed_journal(tmp_path):
    with pytest.raises(ValueError, match="fsync"):
        Journal(tmp_path / "a", "sometimes")
    with pytest.raises(ValueError, match="4096"):
        Journal(tmp_path / "b", "none", 4095)
    j = Journal(tmp_path / "c")
    with pytest.raises(ValueError, match="kind"):
        j.append("X", 0, 0, b"")
    j.append("F", 0, 0, b"kept")
    j.close()
    j.close()                                            # closing twice does nothing
    j.append("F", 0, 0, b"refused")
    with pytest.raises(ValueError, match="closed"):
        j.flush()
    assert [r.data for r in records(tmp_path / "c")] == [b"kept"]
    always = Journal(tmp_path / "d", "always")
    always.close()
    with pytest.raises(ValueError, match="closed"):
        always.append("F", 0, 0, b"refused")


def test_a_corrupted_magic_in_the_last_segment_is_not_a_torn_tail(tmp_path):
    """A last segment whose first bytes are damaged but which holds records
    is corruption: neither the writer nor the reader may drop its records
    silently (only a segment shorter than its magic is a crash at its start)."""
    write_records(tmp_path, [("F", 0, i, b"x" * 10) for i in range(3)])
    path = last_segment(tmp_path)
    with open(path, "r+b") as f:
        f.write(b"G")
    with pytest.raises(JournalError) as exc:
        list(records(tmp_path))
    assert exc.value.path == path
    with pytest.raises(JournalError):
        Journal(tmp_path)
    assert os.path.getsize(path) > 8                      # nothing cut


def test_a_segment_cut_inside_its_magic_is_begun_again(tmp_path):
    write_records(tmp_path, [("F", 0, i, bytes(900)) for i in range(6)], set(range(6)))
    first, path = segments(tmp_path)[-1]
    for size in (0, 3):                                   # a crash while it was begun
        with open(path, "wb") as f:
            f.write(MAGIC[:size])
        with Journal(tmp_path, segment_size=SEG) as j:
            assert j.seq == first - 1
        with open(path, "rb") as f:
            assert f.read() == MAGIC
        assert [r.seq for r in records(tmp_path)] == list(range(1, first))


# ---- 2. snapshots --------------------------------------------------------------------

def _outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:                              # refused the same way by both
        return ("refused", type(exc).__name__, str(exc))


def aligned(engine, h, tmp_path):
    """``engine`` with the outbound MsgSeqNum counters of ``h.engine`` (the
    session layer's, not part of a snapshot): an Acceptor's ``use`` sets them
    from its stores."""
    from fastcore.server.session import Acceptor
    acceptor = Acceptor(server_config(str(tmp_path / "seqs"), journal={"enabled": False},
                                      audit={"enabled": False}))
    for name, s in acceptor.users.items():
        s.store.set_next_out(h.last_seq[name] + 1)
    acceptor.use(engine)
    return engine


def through_a_snapshot(h, tmp_path, seq=7):
    """A new engine from a snapshot file of ``h.engine``, aligned with it."""
    path = snapshot.write(tmp_path, seq, h.engine, audit_offset=123)
    snap = snapshot.read(path)
    assert (snap.seq, snap.audit_offset, snap.hash) == (seq, 123, h.engine.state_hash())
    restored = snap.engine()
    assert restored.state_hash() == h.engine.state_hash()
    direct = Engine(h.engine.config)                    # restore() of state() itself
    direct.restore(h.engine.state())
    assert direct.state_hash() == h.engine.state_hash()
    return aligned(restored, h, tmp_path)


def continue_both(h, other, steps):
    """Each step to ``h.engine`` and ``other`` at the same time: the same
    bytes back (or the same refusal), the same audit records, the same hash."""
    h.engine.audit.take()
    other.audit.take()
    sent = 0
    for step in steps:
        h.now += STEP
        if step[0] == "send":
            _, msg_type, fields, who = step
            data = h.raw(msg_type, fields, who)
            a = _outcome(lambda: h.engine.submit(data, who, h.now))
            b = _outcome(lambda: other.submit(data, who, h.now))
        else:
            _, command, args = step
            a = _outcome(lambda: h.engine.act(command, now=h.now, **args))
            b = _outcome(lambda: other.act(command, now=h.now, **args))
        assert a == b, step
        if a[0] == "ok":
            h._track(a[1])
            sent += len(a[1])
        assert other.audit.take() == h.engine.audit.take(), step
        assert other.state_hash() == h.engine.state_hash(), step
    return sent


def auto_day(h):
    """Auto mode: resting orders, a part fill, a replace, a cancel, a
    telephoned order, a halt with an order waiting, a GT order split, a
    day roll."""
    h.send("D", nos("B1", qty="10", px="4500"))
    h.send("D", nos("B2", qty="5", px="4499.75", tif="1"))
    h.send("D", nos("A1", side="2", qty="4", px="4500", tif="3"), who="ET3")   # part fills B1
    h.send("D", nos("A2", side="2", qty="7", px="4502"), who="ET3")
    h.send("G", replace("B3", "B2", "6", "4499.5", tif="1"))
    h.send("D", nos("K1", qty="2", px="4400"), who="ET4")
    h.send("F", cancel("K2", "K1", qty="2"), who="ET4")
    h.act("telephoned", order="phone", symbol="ESZ6", side="2", qty="3", px="4503",
          clordid="TEL1", session="ET2")
    h.send("D", nos("G1", symbol="CLF7", qty="100", px="60.5", tif="1"), who="ET1")
    h.act("split", symbol="CLF7", ratio="2")
    h.send("D", nos("N1", symbol="NQZ6", qty="3", px="21000", tif="1"), who="ET1")
    h.act("halt", symbol="NQZ6")
    h.send("D", nos("N2", symbol="NQZ6", side="2", qty="1", px="21000"), who="ET3")
    h.act("new_day")
    h.act("resume", symbol="NQZ6")
    h.act("halt", symbol="ZNH7")


AUTO_AFTER = [
    ("send", "D", nos("A3", side="2", qty="20", px="4499.5"), "ET3"),       # sweeps the bids
    ("send", "D", nos("B1", qty="1"), "PM1"),                               # B1 again: a duplicate
    ("send", "D", nos("TEL1", side="2", qty="3", px="4503"), "ET2"),       # the verbal order's
    ("act", "fill", {"order": "phone", "qty": "1", "px": "4503"}),
    ("send", "G", replace("B4", "B3", "8", "4499.5", tif="1"), "PM1"),
    ("send", "H", [(11, "G1"), (55, "CLF7"), (54, "1")], "ET1"),
    ("send", "D", nos("G2", symbol="CLF7", side="2", qty="200", px="30.25"), "ET3"),
    ("send", "D", nos("N3", symbol="NQZ6", side="2", qty="5", px="20999"), "ET3"),
    ("send", "D", nos("Z1", symbol="ZNH7", qty="1", px="110"), "ET4"),      # halted
    ("act", "resume", {"symbol": "ZNH7"}),
    ("act", "halt", {"symbol": "ZNH7"}),                                   # ...again
    ("act", "resume", {"symbol": "NQZ6"}),                                 # not halted: refused
    ("send", "F", cancel("X1", "A2", side="2", qty="7"), "ET3"),
    ("act", "new_day", {}),
    ("send", "D", nos("A1", side="2", qty="1", px="4600"), "ET3"),        # its ClOrdID freed
    ("act", "split", {"symbol": "CLF7", "ratio": "3:2"}),
]


def test_a_snapshot_of_an_auto_mode_engine_carries_on_identically(tmp_path):
    h = Harness(default_table())
    auto_day(h)
    restored = through_a_snapshot(h, tmp_path)
    assert len(restored.orders()) == len(h.engine.orders())
    assert continue_both(h, restored, AUTO_AFTER) >= 20


def staged_day(h):
    """Worked mode: a staged order claimed and worked in children, filled,
    busted and corrected; a telephoned order; a replaced order; a halt."""
    staged_two_fills(h)
    h.act("bust", order="C1", exec_id="E1")
    h.act("correct", order="C2", exec_id="E2", qty="20", px="4501")
    h.act("child", order="S1", by="ET1", qty="10", clordid="C3")
    h.act("telephoned", order="phone", symbol="NQZ6", side="1", qty="4", px="21000",
          clordid="TEL1", session="ET2")
    h.act("fill", order="phone", qty="1", px="21000", exec_id="P1")
    h.send("D", nos("W1", qty="10", px="4490", tif="1"), who="ET3")
    h.act("ack", order="W1")
    h.send("G", replace("W2", "W1", "12", "4491", tif="1"), who="ET3")
    h.act("accept_replace", order="W1")
    h.act("halt", symbol="CLF7")


STAGED_AFTER = [
    ("act", "ack", {"order": "C3"}),
    ("act", "fill", {"order": "C3", "qty": "10", "px": "4502", "exec_id": "E3"}),
    ("act", "bust", {"order": "C2", "exec_id": "E2"}),
    ("act", "claim", {"order": "S1", "by": "ET2"}),                 # claimed by ET1: refused
    ("act", "child", {"order": "S1", "by": "ET1", "qty": "50", "clordid": "C4"}),
    ("act", "fill", {"order": "phone", "qty": "3", "px": "21001", "exec_id": "P2"}),
    ("act", "correct", {"order": "phone", "exec_id": "P1", "qty": "1", "px": "20999"}),
    ("act", "fill", {"order": "W2", "qty": "2", "px": "4491"}),
    ("send", "G", replace("W3", "W2", "15", "4491", tif="1"), "ET3"),
    ("act", "reject_replace", {"order": "W2"}),
    ("send", "D", nos("H1", symbol="CLF7", qty="1", px="60"), "ET4"),   # halted
    ("act", "resume", {"symbol": "CLF7"}),
    ("act", "split", {"symbol": "ESZ6", "ratio": "2"}),
    ("send", "F", [(11, "S1x"), (41, "S1"), (55, "ESZ6"), (54, "1"), (38, "100"),
                   (60, "20261121-09:30:00.000")], "PM1"),
    ("act", "new_day", {}),
    ("act", "fill", {"order": "W2", "qty": "1", "px": "4491"}),
]


def test_a_snapshot_of_a_worked_engine_with_staged_orders_carries_on_identically(tmp_path):
    h = Harness({**default_table(), "mode": "worked"})
    staged_day(h)
    restored = through_a_snapshot(h, tmp_path)
    assert restored.order_state("S1") == h.engine.order_state("S1")
    assert restored.order_state("phone") == h.engine.order_state("phone") == \
        "New, Partially Filled"
    assert continue_both(h, restored, STAGED_AFTER) >= 20


def test_a_damaged_snapshot_is_skipped_for_the_previous_one(tmp_path):
    h = Harness()
    h.send("D", nos("A"))
    old = snapshot.write(tmp_path, 1, h.engine)
    h.send("D", nos("B"))
    new = snapshot.write(tmp_path, 2, h.engine, sync=False)
    assert snapshot.latest(tmp_path).seq == 2
    with open(new, "r+b") as f:
        f.seek(-5, os.SEEK_END)
        byte = f.read(1)
        f.seek(-5, os.SEEK_END)
        f.write(bytes([byte[0] ^ 1]))
    heard = []
    got = snapshot.latest(tmp_path, log=lambda path, why: heard.append((path, why)))
    assert got.seq == 1 and got == snapshot.read(old)
    assert heard == [(new, "the payload fails its CRC")]
    os.remove(old)
    assert snapshot.latest(tmp_path) is None
    assert [seq for seq, _ in snapshot.snapshots(tmp_path)] == [2]


def test_a_writer_saves_the_engine_as_it_was_at_its_start_while_it_goes_on(tmp_path):
    h = Harness()
    h.send("D", nos("A"))
    snapshot.write(tmp_path, 1, h.engine)
    snapshot.write(tmp_path, 2, h.engine)
    before = h.engine.state_hash()
    writer = snapshot.Writer.start(tmp_path, 3, h.engine, audit_offset=9, keep=2)
    h.send("D", nos("B"))                                 # the engine goes on at once
    assert writer.wait() is None and writer.poll()
    snap = snapshot.latest(tmp_path)
    assert (snap.seq, snap.audit_offset, snap.hash) == (3, 9, before)
    assert snap.engine().state_hash() == before != h.engine.state_hash()
    assert [seq for seq, _ in snapshot.snapshots(tmp_path)] == [2, 3]     # pruned to keep


def test_a_writer_that_cannot_write_says_why(tmp_path):
    h = Harness()
    not_a_directory = tmp_path / "file"
    not_a_directory.write_bytes(b"")
    writer = snapshot.Writer.start(not_a_directory, 1, h.engine)
    assert writer.wait().startswith("NotADirectoryError: ")
    assert writer.poll() and writer.wait() == writer.error          # reaped once


def test_the_server_writes_its_snapshots_in_the_background_and_logs_a_failed_one(tmp_path):
    journal = tmp_path / "store" / "journal"
    server = RunningServer(server_config(str(tmp_path / "store"),
                                         journal={"snapshot_every": 4}))
    try:
        trade(server, "A")                                # 4 records: a snapshot of them
        assert server.call(server.acceptor.reap_snapshot, True)
        assert [s for s, _ in snapshot.snapshots(journal)] == [0, 4]
        (journal / (snapshot.name(8) + ".tmp")).mkdir()   # where the next one is written
        trade(server, "B")
        assert server.call(server.acceptor.reap_snapshot, True)
        assert server.acceptor.snapshot_seq == 4
        (journal / (snapshot.name(8) + ".tmp")).rmdir()
        hash_ = server.call(server.acceptor.engine.state_hash)
    finally:
        server.stop()
    failed = [e for e in server.events if e[0] == "journal"]
    assert failed == [("journal", str(journal), "snapshot 8 not written: IsADirectoryError: "
                       f"[Errno 21] Is a directory: '{journal / snapshot.name(8)}.tmp'")]
    assert (snapshot.latest(journal).seq, snapshot.latest(journal).hash) == (8, hash_)
                                                          # the stop wrote it again


def test_read_refuses_a_truncated_snapshot_or_another_file(tmp_path):
    path = snapshot.write(tmp_path, 3, Harness().engine)
    with open(path, "rb") as f:
        data = f.read()
    for n, why in ((len(data) - 1, "payload where its header"), (snapshot.HEADER.size, "payload"),
                   (10, "no FCSNAP01"), (0, "no FCSNAP01")):
        with open(path, "wb") as f:
            f.write(data[:n])
        with pytest.raises(JournalError, match=why) as exc:
            snapshot.read(path)
        assert exc.value.path == path
    with open(path, "wb") as f:
        f.write(b"FCSNAP02" + data[8:])
    with pytest.raises(JournalError, match="no FCSNAP01"):
        snapshot.read(path)
    payload = msgspec.msgpack.encode({"seq": 1})          # whole, but not a snapshot
    with open(path, "wb") as f:
        f.write(snapshot.HEADER.pack(snapshot.MAGIC, crc32(payload), len(payload)) + payload)
    with pytest.raises(JournalError, match="not a snapshot"):
        snapshot.read(path)


def test_restore_refuses_a_state_of_another_configuration():
    h = Harness()
    h.send("D", nos("A"))
    state = h.engine.state()
    table = default_table()
    fewer = Engine({**table, "instruments": table["instruments"][:2]})
    with pytest.raises(ValueError, match="where the configuration has ESZ6, NQZ6$"):
        fewer.restore(state)
    busy = Engine(h.engine.config)
    busy.submit(h.raw("D", nos("B")), "PM1", T0)
    with pytest.raises(ValueError, match="taken inputs"):
        busy.restore(state)
    with pytest.raises(ValueError, match="layouts"):
        Engine(h.engine.config).restore({**state, "layout": [1, 2, 3]})


def test_restore_refuses_a_state_of_other_instruments():
    """As many instruments, other symbols: the books would be restored
    under the wrong symbols."""
    h = Harness()
    h.send("D", nos("A"))
    table = default_table()
    other = Engine({**table, "instruments": [{**ins, "symbol": ins["symbol"] + "X"}
                                             for ins in table["instruments"]]})
    with pytest.raises(ValueError):
        other.restore(h.engine.state())


def test_prune_keeps_the_newest_snapshots_and_the_segments_they_need(tmp_path):
    engine = Harness().engine
    write_records(tmp_path, [("F", 0, i, bytes(900)) for i in range(30)], set(range(30)))
    found = segments(tmp_path)
    assert len(found) >= 6
    for seq in (0, 5, found[3][0] - 1, found[4][0] + 1):
        snapshot.write(tmp_path, seq, engine, sync=False)
    with open(os.path.join(tmp_path, snapshot.name(99) + ".tmp"), "wb") as f:
        f.write(b"left over")
    oldest_kept = found[3][0] - 1
    gone = snapshot.prune(tmp_path, keep=2)
    doomed = [path for (first, path), (following, _) in zip(found, found[1:])
              if following - 1 <= oldest_kept]
    assert doomed == [p for _, p in found[:3]]
    assert sorted(gone) == sorted(doomed + [os.path.join(tmp_path, snapshot.name(s))
                                            for s in (0, 5)])
    assert [s for s, _ in snapshot.snapshots(tmp_path)] == [oldest_kept, found[4][0] + 1]
    assert segments(tmp_path) == found[3:]
    assert not [e for e in os.listdir(tmp_path) if e.endswith(".tmp")]
    # the journal still reads from the oldest snapshot kept
    assert [r.seq for r in records(tmp_path, after=oldest_kept)] == list(
        range(oldest_kept + 1, 31))


# ---- 3. recovery through the Acceptor ------------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "fastcore.cli", "replay", *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def running_figures(server):
    """The running server's state hash, engine counts and each order
    session's (next_in, next_out), read on its loop."""
    def read():
        a = server.acceptor
        seqs = {name: (s.store.next_in, s.store.next_out) for name, s in a.users.items()}
        return (a.engine.state_hash(), len(a.engine.orders()), int(a.engine.table.live),
                a.journal.seq, seqs)
    return server.call(read)


def trade(server, prefix):
    """PM1 and ET3 trade on ESZ6 over FIX; a cancel; each client synced."""
    with server.fix("PM1") as pm1, server.fix("ET3") as et3:
        pm1.send("D", nos(f"{prefix}B1", qty="10", px="4500"))
        pm1.wait(lambda m: m.get_str(11, None) == f"{prefix}B1")
        pm1.send("D", nos(f"{prefix}B2", qty="3", px="4499"))
        pm1.wait(lambda m: m.get_str(11, None) == f"{prefix}B2")
        et3.send("D", nos(f"{prefix}S1", side="2", qty="4", px="4500"))
        et3.wait(lambda m: m.get_str(11, None) == f"{prefix}S1" and m.get_str(150) == "F")
        pm1.send("F", cancel(f"{prefix}X2", f"{prefix}B2", qty="3"))
        pm1.wait(lambda m: m.get_str(11, None) == f"{prefix}X2")
        pm1.sync()
        et3.sync()


def test_a_crash_copy_of_the_store_recovers_the_running_engine(tmp_path):
    from fastcore.server.session import Acceptor
    store = tmp_path / "store"
    server = RunningServer(server_config(str(store)))
    try:
        trade(server, "A")
        server.call(server.acceptor.snapshot, True)        # a second snapshot, mid-run
        trade(server, "B")
        hash_, orders, live, seq, seqs = running_figures(server)
        shutil.copytree(store, tmp_path / "crash")       # the process dies here
    finally:
        server.stop()
    journal = tmp_path / "crash" / "journal"
    assert [s for s, _ in snapshot.snapshots(journal)] == [0, seq // 2]
    assert orders == 6 and seq == 8
    # offline: `fastcore replay`
    out = cli(journal)
    assert out.returncode == 0, out.stderr
    assert f"state hash {hash_}" in out.stdout
    assert f"snapshot {seq // 2}, then {seq // 2} records (4 F; 0 refused) up to record {seq}" \
        in out.stdout
    report = json.loads(cli(journal, "--json").stdout)
    assert report == {"journal": str(journal), "snapshot": seq // 2, "last_record": seq,
                      "records": seq // 2, "refused": 0, "kinds": {"F": seq // 2},
                      "state_hash": hash_, "orders": orders, "live_orders": live,
                      "last_order_id": report["last_order_id"],
                      "last_exec_id": report["last_exec_id"]}
    assert report["last_order_id"] >= orders and report["last_exec_id"] > orders
    full = json.loads(cli(journal, "--full", "--json").stdout)
    assert (full["snapshot"], full["records"], full["kinds"], full["state_hash"]) == (
        0, seq, {"F": seq}, hash_)
    assert {k: full[k] for k in ("orders", "live_orders", "last_order_id", "last_exec_id")} == \
        {k: report[k] for k in ("orders", "live_orders", "last_order_id", "last_exec_id")}
    # a server starting on it: the same engine, the sessions where they were
    with open(segments(journal)[-1][1], "ab") as f:       # a record the crash tore
        f.write(b"\x40\x00\x00")
    heard = []
    acceptor = Acceptor(server_config(str(tmp_path / "crash")), log=lambda *e: heard.append(e))
    assert ("journal", str(journal), "3 bytes of a torn record cut off") in heard
    try:
        assert acceptor.engine.state_hash() == hash_
        assert {name: (s.store.next_in, s.store.next_out)
                for name, s in acceptor.users.items()} == seqs
        assert acceptor.journal.seq == seq and acceptor.snapshot_seq == seq // 2
        assert [e for e in heard if e[0] == "recovered"] == [
            ("recovered", str(journal), f"snapshot {seq // 2} and {seq // 2} records after it "
             f"(0 refused); journal at {seq}; state hash {hash_}")]
        assert acceptor.engine.order_state("AB1", "PM1") == "New, Partially Filled"   # 4 + 4
        assert acceptor.engine.order_state("BB1", "PM1") == "New"
    finally:
        acceptor.close()
    # the trail: each order's records once, across the crash (the run's start twice)
    got = auditfile.read(tmp_path / "crash" / "audit.trail")
    ins = [r.clordid for r in got.records if r.kind == "in"]
    assert sorted(ins) == sorted(f"{p}{c}" for p in "AB" for c in ("B1", "B2", "S1"))
    assert [r.run for r in got.records if r.kind == "start"] == [0, 1]
    # and the recovered engine, closed, left a snapshot: nothing to replay now
    assert json.loads(cli(journal, "--json").stdout)["records"] == 0


def test_replay_of_a_bad_directory_exits_1(tmp_path):
    out = cli(tmp_path / "nowhere")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("fastcore replay: ") and "nowhere" in out.stderr
    (tmp_path / "empty").mkdir()
    out = cli(tmp_path / "empty")
    assert out.returncode == 1 and "no snapshot that reads whole" in out.stderr
    out = cli(tmp_path / "empty", "--full")
    assert out.returncode == 1 and "no snapshot" in out.stderr
    write_records(tmp_path / "gap", [("A", -1, i, recovery.command("new_day", {}))
                                     for i in range(300)], set(range(300)))
    snapshot.write(tmp_path / "gap", 0, Engine())
    os.remove(segments(tmp_path / "gap")[1][1])
    out = cli(tmp_path / "gap")
    assert out.returncode == 1 and "the next segment begins at" in out.stderr


def test_records_journalled_but_never_stored_are_stored_on_recovery(tmp_path):
    """A crash after the journal's commit, before the stores' flush: the
    journal has PM1's NewOrderSingle, PM1's store neither the message's
    MsgSeqNum nor its ExecutionReport. The restart stores the report (the
    client gets it resent), expects the next MsgSeqNum, and the audit trail
    has the order once."""
    from fastcore.codec import Encoder
    store = tmp_path / "store"
    config = server_config(str(store))
    server = RunningServer(config)
    try:
        with server.fix("PM1") as pm1:
            pm1.send("D", nos("A1"))
            pm1.wait(lambda m: m.get_str(11, None) == "A1")
            pm1.sync()
            last_sent = pm1.seq
        with server.fix("ET1") as et1:
            et1.sync()
        in1, out1 = server.call(lambda: (server.acceptor.users["PM1"].store.next_in,
                                         server.acceptor.users["PM1"].store.next_out))
        dc_out = server.call(lambda: server.acceptor.session("DC1").store.next_out)
    finally:
        server.stop()
    assert in1 == last_sent + 1
    journal = store / "journal"
    before = len(list(records(journal)))
    now = T0 + 10 ** 12
    user = Engine().sessions.index("PM1")
    with Journal(journal) as j:
        for i, clordid in enumerate(("A2", "A3")):
            data = Encoder("PM1", "FASTCORE").encode("D", nos(clordid, qty=str(i + 1)), in1 + i, now)
            j.append("F", user, now, data)
    server = RunningServer(config)
    try:
        in2, out2, stored = server.call(lambda: (
            server.acceptor.users["PM1"].store.next_in,
            server.acceptor.users["PM1"].store.next_out,
            server.acceptor.users["PM1"].store.get(out1)))
        assert in2 == in1 + 2                               # past the journalled MsgSeqNums
        assert out2 > out1 and [seq for seq, _ in stored] == list(range(out1, out2))
        assert server.call(lambda: server.acceptor.session("DC1").store.next_out) > dc_out
        assert server.call(lambda: server.acceptor.engine.order_state("A3", "PM1")) == "New"
        # PM1 comes back with its next MsgSeqNum and asks for what it missed
        with server.fix("PM1", reset=False, seq=in2) as pm1:
            pm1.send("2", {7: out1, 16: 0})
            resent = pm1.wait(lambda m: m.get_str(11, None) == "A3")
            got = [m for m in pm1.received if m.msg_type == "8"]
            assert [m.get_str(11) for m in got] == ["A2", "A3"]
            assert [m.get_str(43) for m in got] == ["Y", "Y"]
            assert [int(m.get_str(34)) for m in got] == list(range(out1, out1 + 2))
            assert resent.get_str(150) == "0"
            pm1.send("D", nos("A4"))                         # and carries on in sequence
            assert pm1.wait(lambda m: m.get_str(11, None) == "A4").get_str(150) == "0"
    finally:
        server.stop()
    got = auditfile.read(store / "audit.trail")
    ins = [r.clordid for r in got.records if r.kind == "in"]
    assert ins == ["A1", "A2", "A3", "A4"]
    assert len(list(records(journal))) == before + 3


def test_a_refused_input_is_replayed_as_refused(tmp_path):
    """Inputs the engine refused live (a desk command on no order, bytes
    that are no FIX message) are counted as refused on replay, and the
    engine comes out as the live one did."""
    h = Harness()
    snapshot.write(tmp_path, 0, h.engine)
    with Journal(tmp_path) as j:
        def live(kind, user, data, fn):
            j.append(kind, user, h.now, data)
            try:
                fn()
            except Exception:
                pass
            h.now += STEP
        order = h.raw("D", nos("A1"))
        live("F", 0, order, lambda: h.submit(order))
        live("A", -1, recovery.command("fill", {"order": "NOPE", "qty": "1", "px": "1"}),
             lambda: h.act("fill", order="NOPE", qty="1", px="1"))
        live("F", 0, b"8=FIX.4.4\x019=5\x01", lambda: h.engine.submit(b"8=FIX.4.4\x019=5\x01",
                                                                       "PM1", h.now))
        live("A", -1, recovery.command("fill", {"order": "A1", "qty": "4", "px": "100"}),
             lambda: h.act("fill", order="A1", qty="4", px="100"))
    done = recovery.replay(tmp_path)
    assert (done.inputs, done.refused, done.kinds) == (4, 2, {"F": 2, "A": 2})
    assert done.engine.state_hash() == h.engine.state_hash()
    assert done.engine.order_state("A1") == "New, Partially Filled"


# ---- 4. the msgspec port -------------------------------------------------------------

def test_the_msgspec_ports_inputs_are_journalled_and_replayed(tmp_path):
    """A reset, a trader's orders and an operator's desk commands (one
    refused) on the msgspec port; after a crash and a restart, the engine is
    the one the server had, the desk's fill in it."""
    from fastcore.messages import NewOrderSingle, Report
    from fastcore.server.client import ClientError, MsgClient
    store = tmp_path / "store"
    server = RunningServer(server_config(str(store)))
    try:
        with server.operator() as op:
            op.reset({"mode": "worked"})
            with MsgClient("127.0.0.1", server.msgspec_port, "PM1") as pm1:
                pm1.submit(NewOrderSingle(cl_ord_id="M1", symbol="ESZ6", side="1",
                                          order_qty=10, price=4500))
                op.act("ack", order="M1")
                op.act("fill", order="M1", qty="4", px="4500", exec_id="D1")
                with pytest.raises(ClientError, match="no such order"):
                    op.act("fill", order="NOPE", qty="1", px="1")
                pm1.submit(NewOrderSingle(cl_ord_id="M2", symbol="NQZ6", side="2",
                                          order_qty=1, price=21000))
                reports = []
                while len(reports) < 2:
                    msg = pm1.read()
                    if isinstance(msg, Report):
                        reports.append(msg)
                assert [r.fields["150"] for r in reports] == ["0", "F"]
        with server.fix("PM1") as client:                   # a FIX order after them
            client.send("D", nos("F1", qty="3"))
            client.sync()
        hash_, orders, live, seq, seqs = running_figures(server)
        shutil.copytree(store, tmp_path / "crash")
    finally:
        server.stop()
    journal = tmp_path / "crash" / "journal"
    kinds = [r.kind for r in records(journal)]
    assert kinds == ["R", "M", "A", "A", "A", "M", "F"]
    report = json.loads(cli(journal, "--json").stdout)
    assert (report["records"], report["refused"], report["state_hash"], report["orders"]) == (
        7, 1, hash_, 3)
    server = RunningServer(server_config(str(tmp_path / "crash")))
    try:
        figures = running_figures(server)
        assert figures[0] == hash_ and figures[1:4] == (orders, live, seq)
        assert figures[4] == seqs
        assert server.call(lambda: server.acceptor.engine.order_state("M1")) == \
            "New, Partially Filled"
        assert server.call(lambda: server.acceptor.engine.config.mode) == "worked"
        with server.operator() as op:                       # the desk carries on with it
            op.act("fill", order="M1", qty="6", px="4500", exec_id="D2")
        assert server.call(lambda: server.acceptor.engine.order_state("M1")) == "New, Filled"
    finally:
        server.stop()


def test_a_trader_on_the_msgspec_port_gets_reports_caused_by_others(tmp_path):
    from fastcore.messages import Report
    from fastcore.server.client import MsgClient
    server = RunningServer(server_config(str(tmp_path / "store"), mode="worked"))
    try:
        with MsgClient("127.0.0.1", server.msgspec_port, "PM1", timeout=2.0) as pm1, \
                server.operator() as op, server.fix("PM1") as fix:
            fix.send("D", nos("M1"))                         # over FIX: the trader sends nothing
            fix.sync()
            op.act("ack", order="M1")                        # the order is there: PM1 told
            msg = pm1.read()
            assert isinstance(msg, Report) and msg.fields["150"] == "0"
    finally:
        server.stop()


def test_one_writer_at_a_time(tmp_path):
    """Two servers on one journal would interleave their records: the
    second Journal is refused while the first is open, not after."""
    with Journal(tmp_path / "j") as first:
        first.append("F", 0, 1, b"x")
        with pytest.raises(JournalError, match="in use"):
            Journal(tmp_path / "j")
    with Journal(tmp_path / "j") as again:
        assert again.seq == 1
