"""A partition's log entries worked in C (``fastcore.cluster.entries``) and
relayed by the gateway (``Acceptor.relay``), without NATS: the Worker
against the records applied one by one in Python (``recovery.apply``, the
engines' path before it), entries that do not read whole, and output
entries delivered to the sessions' stores."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastcore import config as _config
from fastcore.cluster.entries import Worker, messages
from fastcore.codec import Encoder, parse
from fastcore.engine import Engine
from fastcore.errors import JournalError
from fastcore.journal import Records, frames
from fastcore.recovery import apply

CONFIG = _config.load(_config.alone())
USERS = tuple(u.name for u in CONFIG.users)
T0 = 1_795_253_400_000_000_000
TS = "20261121-09:30:00"


def fix(user: int, seq: int, clordid: str, side: str = "1", px: str = "100",
        symbol: str = "ESZ6") -> bytes:
    return Encoder(USERS[user], "FASTCORE").encode(
        "D", [(11, clordid), (55, symbol), (54, side), (38, "10"), (40, "2"), (44, px),
              (60, TS), (59, "0")], seq, T0)


def entry(*records) -> bytes:
    rec = Records()
    for kind, user, data in records:
        rec.append(kind, user, T0 + rec.seq, data)
    return rec.take()


def msg_seq_num(data: bytes) -> int:
    """MsgSeqNum (34) of a FIX message's bytes, as the engines read it before."""
    i = data.find(b"\x0134=")
    j = data.find(b"\x01", i + 4)
    return int(data[i + 4:j]) if i >= 0 and data[i + 4:j].isdigit() else -1


def reference(entries: list[bytes]) -> tuple[list[list], str, list[int]]:
    """The entries worked record by record in Python: (per entry, its
    messages as (user, bytes); the state hash; last_in)."""
    engine = Engine(CONFIG)
    last_in = [0] * len(USERS)
    outs = []
    for data in entries:
        out = []
        for record in frames(data):
            if record.kind == "S":
                last_in[record.user] = 0
                continue
            if record.kind == "F":
                seq = msg_seq_num(record.data)
                if seq <= last_in[record.user]:
                    continue
                last_in[record.user] = seq
            engine, sent, _ = apply(engine, record)
            out += [(engine.sessions.index(name), msg) for name, msg in sent]
        outs.append(out)
    return outs, engine.state_hash(), last_in


# one record: ("F", user, MsgSeqNum step (0: a resend of the last), a kind of message) or ("S", user)
RECORD = st.one_of(
    st.tuples(st.just("F"), st.integers(0, 3), st.integers(0, 2),
              st.sampled_from(["buy", "sell", "unknown symbol", "bad side", "garbled"])),
    st.tuples(st.just("S"), st.integers(0, 3)))


def build(plan) -> list[bytes]:
    seqs = [1] * len(USERS)
    entries, n = [], 0
    for records in plan:
        made = []
        for r in records:
            if r[0] == "S":
                seqs[r[1]] = 1
                made.append(("S", r[1], b""))
                continue
            _, user, step, what = r
            seqs[user] += step
            n += 1
            msg = {"buy": lambda: fix(user, seqs[user], f"C{n}"),
                   "sell": lambda: fix(user, seqs[user], f"C{n}", side="2"),
                   "unknown symbol": lambda: fix(user, seqs[user], f"C{n}", symbol="ZZZ9"),
                   "bad side": lambda: fix(user, seqs[user], f"C{n}", side="9"),
                   "garbled": lambda: fix(user, seqs[user], f"C{n}")[:-4]}[what]()
            made.append(("F", user, msg))
        entries.append(entry(*made))
    return entries


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(RECORD, max_size=12), min_size=1, max_size=6))
def test_the_worker_does_what_the_records_applied_one_by_one_do(plan):
    """Any entries (orders that rest and trade, resends, session resets,
    messages the engine rejects, a garbled one): the Worker's output
    entries hold the messages of the records applied one by one, a FIX
    message whose MsgSeqNum is not above its user's last skipped, and its
    engine ends in the same state."""
    entries = build(plan)
    want, state, last_in = reference(entries)
    worker = Worker(Engine(CONFIG))
    got = [messages(worker.work(data, f"entry {k}")) for k, data in enumerate(entries, 1)]
    assert got == want
    assert worker.engine.state_hash() == state
    assert worker.last_in == last_in


def test_counts_and_last_in_carry_over_a_snapshot():
    worker = Worker(Engine(CONFIG))
    out = worker.work(entry(("F", 0, fix(0, 2, "A")), ("F", 0, fix(0, 2, "A")),
                            ("F", 1, fix(1, 5, "B", side="9"))))
    assert (worker.inputs, worker.duplicates, worker.refused) == (2, 1, 0)
    assert [(u, parse(m).get(35)) for u, m in messages(out)] == [(0, b"8"), (1, b"8")]
    assert worker.last_in == [2, 5] + [0] * (len(USERS) - 2)
    again = Worker(Engine(CONFIG), worker.last_in)
    assert messages(again.work(entry(("F", 1, fix(1, 5, "B"))))) == []
    assert again.duplicates == 1
    with pytest.raises(ValueError, match="3 users"):
        Worker(Engine(CONFIG), [0, 0, 0])


def test_other_kinds_of_record_go_through_recovery_apply():
    """A reset (R) in an entry: the engine after it is a new one of the
    record's configuration (the order before it gone); a reset to other
    users is refused: the MsgSeqNums taken are per user."""
    from fastcore.recovery import reset
    worker = Worker(Engine(CONFIG))
    worker.work(entry(("F", 0, fix(0, 2, "A"))))
    assert len(worker.engine.orders()) == 1
    worker.work(entry(("R", -1, reset(CONFIG)), ("F", 0, fix(0, 3, "B"))))
    assert len(worker.engine.orders()) == 1
    assert worker.engine.order_state("B", USERS[0]) == "New"
    fewer = _config.load(_config.merge(_config.alone(), {"users": _config.alone()["users"][:2]}))
    with pytest.raises(JournalError, match="an engine of 2 users, not 5"):
        worker.work(entry(("R", -1, reset(fewer))))


def test_an_empty_entry_makes_an_empty_output():
    assert Worker(Engine(CONFIG)).work(b"") == b""


@pytest.mark.parametrize("damage, why", [
    (lambda e: e[:5], "frame header cut short"),
    (lambda e: e[:-1], "where"),
    (lambda e: e[:8] + bytes([e[8] ^ 1]) + e[9:], "fails its CRC"),
    (lambda e: e + b"\x00" * 8, "a record of 0 bytes"),
])
def test_an_entry_that_does_not_read_whole_is_a_journal_error(damage, why):
    """A cut or damaged entry: JournalError naming the entry and the byte,
    whatever reads whole before it worked."""
    good = entry(("F", 0, fix(0, 2, "A")))
    worker = Worker(Engine(CONFIG))
    with pytest.raises(JournalError, match=why) as err:
        worker.work(damage(good), "in_0 entry 9")
    assert err.value.path == "in_0 entry 9" and err.value.offset is not None


def test_a_record_framed_otherwise_is_refused():
    """A frame whose CRC holds but whose payload is not Records.add's
    fixed head (a msgpack array written some other way)."""
    from fastcore.journal import crc32
    payload = b"\x95\xa1F\x01\x00\x00\xc4\x01x" + b"\x00" * 20
    framed = struct.pack("<II", len(payload), crc32(payload)) + payload
    with pytest.raises(JournalError, match="not framed as Records.add"):
        Worker(Engine(CONFIG)).work(framed)


def test_a_record_of_an_unknown_user_is_refused():
    with pytest.raises(JournalError, match="user 9"):
        Worker(Engine(CONFIG)).work(entry(("F", 9, fix(0, 2, "A"))))


def test_messages_refuses_a_cut_entry():
    out = Worker(Engine(CONFIG)).work(entry(("F", 0, fix(0, 2, "A"))))
    assert len(messages(out)) == 1
    with pytest.raises(JournalError, match="cut short"):
        messages(out[:-1])
    with pytest.raises(JournalError, match="cut short"):
        messages(out + b"\x00\x00\x09")


# ---- the gateway's side ------------------------------------------------------------

@pytest.fixture
def gateway(tmp_path):
    from fastcore.server.session import Acceptor
    config = _config.load(_config.merge(_config.alone(), {
        "server": {"store": str(tmp_path)}, "cluster": {"enabled": True}}))
    return Acceptor(config)


def stored(acceptor, user: int) -> list[dict]:
    s = acceptor.users[USERS[user]]
    return [parse(data).to_dict() for _, data in s.store.get(1, s.store.next_out - 1)]


def test_relay_numbers_each_message_for_its_session(gateway):
    """An output entry's messages go to their users' sessions, numbered by
    each session (MsgSeqNum 1, 2, ...), their bodies as the engine wrote them."""
    worker = Worker(Engine(CONFIG))
    out = worker.work(entry(("F", 0, fix(0, 7, "A")), ("F", 1, fix(1, 3, "B", side="2")),
                            ("F", 0, fix(0, 8, "C"))))
    sent = messages(out)
    gateway.relay(out, T0)
    for user in (0, 1):
        mine = [parse(m).to_dict() for u, m in sent if u == user]
        got = stored(gateway, user)
        assert [int(m[34]) for m in got] == list(range(1, len(mine) + 1))
        assert [{t: v for t, v in m.items() if t not in (9, 10, 34, 52)} for m in got] == \
            [{t: v for t, v in m.items() if t not in (9, 10, 34, 52)} for m in mine]


@pytest.mark.parametrize("bad", [b"\x00\x00\x05\x00\x00\x00abc",       # cut short
                                 b"\x09\x00\x01\x00\x00\x00x"])        # user 9: no session
def test_relay_refuses_an_entry_that_does_not_read_whole_and_delivers_none_of_it(gateway, bad):
    good = Worker(Engine(CONFIG)).work(entry(("F", 0, fix(0, 2, "A"))))
    with pytest.raises(JournalError):
        gateway.relay(good + bad, T0)
    assert stored(gateway, 0) == []
    gateway.relay(good, T0)                 # the next entry is delivered as ever
    assert [int(m[34]) for m in stored(gateway, 0)] == [1]
