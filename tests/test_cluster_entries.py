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

from clusterkit import USERS, entry, fix_bytes, nos
from fastcore import config as _config
from fastcore.cluster.entries import Worker, messages
from fastcore.codec import parse
from fastcore.engine import Engine
from fastcore.errors import JournalError
from fastcore.journal import frames
from fastcore.recovery import apply

CONFIG = _config.load(_config.alone())
T0 = 1_795_253_400_000_000_000


def fix(user: int, seq: int, clordid: str, side: str = "1", px: str = "100",
        symbol: str = "ESZ6") -> bytes:
    return fix_bytes(USERS[user], seq, nos(clordid, symbol, side, px=px), now=T0)


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


# one record: ("F", user, MsgSeqNum step (0: a resend of the last), a kind of message),
# or ("S", user)
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

def gateway_at(store):
    from fastcore.server.session import Acceptor
    return Acceptor(_config.load(_config.merge(_config.alone(), {
        "server": {"store": str(store)}, "cluster": {"enabled": True}})))


@pytest.fixture
def gateway(tmp_path):
    acceptor = gateway_at(tmp_path)
    yield acceptor
    acceptor.close()


def stored(acceptor, user: int) -> list[bytes]:
    s = acceptor.users[USERS[user]]
    return [data for _, data in s.store.get(1, s.store.next_out - 1)]


def fields(messages: list[bytes]) -> list[dict]:
    """The messages' fields but those a numbering sets."""
    return [{t: v for t, v in parse(m).to_dict().items() if t not in (9, 10, 34, 49, 56)}
            for m in messages]


def three_reports() -> bytes:
    return Worker(Engine(CONFIG)).work(entry(
        ("F", 0, fix(0, 7, "A")), ("F", 1, fix(1, 3, "B", side="2")), ("F", 0, fix(0, 8, "C"))))


def test_relay_numbers_each_message_for_its_session(gateway):
    """An output entry's messages go to their users' sessions, numbered by
    each session (MsgSeqNum 1, 2, ...), their bodies and SendingTime as the
    engine wrote them; the stores count the entry in (journal_seq)."""
    out = three_reports()
    gateway.relay(out, T0 + 5, 7)
    for user in (0, 1):
        mine = [m for u, m in messages(out) if u == user]
        got = stored(gateway, user)
        assert [int(parse(m).get(34)) for m in got] == list(range(1, len(mine) + 1))
        assert fields(got) == fields(mine)
        assert gateway.users[USERS[user]].store.journal_seq == 7
    assert gateway.users[USERS[2]].store.journal_seq == 0          # not touched


@pytest.mark.parametrize("bad", [b"\x00\x00\x05\x00\x00\x00abc",       # cut short
                                 b"\x09\x00\x01\x00\x00\x00x"])        # user 9: no session
def test_relay_refuses_an_entry_that_does_not_read_whole_and_delivers_none_of_it(gateway, bad):
    good = Worker(Engine(CONFIG)).work(entry(("F", 0, fix(0, 2, "A"))))
    with pytest.raises(JournalError):
        gateway.relay(good + bad, T0, 1)
    assert stored(gateway, 0) == []
    gateway.relay(good, T0, 1)              # the next entry is delivered as ever
    assert [int(parse(m).get(34)) for m in stored(gateway, 0)] == [1]


def files(acceptor, user: int) -> dict:
    """The store files of ``user``'s session: {path: bytes}."""
    msgs = acceptor.users[USERS[user]].store.path
    seqs = msgs[:-len(".msgs")] + ".seqs"
    return {path: open(path, "rb").read() for path in (msgs, seqs)}


def put_back(saved: dict) -> None:
    for path, data in saved.items():
        with open(path, "wb") as f:
            f.write(data)


@pytest.mark.parametrize("crash", ["after every store", "before a store", "inside a store"])
def test_an_entry_relayed_again_after_a_crash_reaches_only_the_stores_that_lack_it(
        tmp_path, crash):
    """A gateway that stopped while relaying an entry (the cursors name it,
    its stores were saved one by one): relayed again (``again``) by the next
    gateway on the same stores, each message is stored once. The crash
    after every store was saved, before user 1's was (its files as they
    were), or inside it (its messages in .msgs, its .seqs not rewritten)."""
    out = three_reports()
    first = gateway_at(tmp_path)
    first.relay(Worker(Engine(CONFIG)).work(entry(("F", 1, fix(1, 2, "Z")))), T0, 1)
    before = files(first, 1)
    first.relay(out, T0 + 1, 2)
    want = {u: stored(first, u) for u in (0, 1)}
    first.close()
    if crash == "before a store":
        put_back(before)
    elif crash == "inside a store":
        put_back({p: d for p, d in before.items() if p.endswith(".seqs")})
    again = gateway_at(tmp_path)
    try:
        again.relay(out, T0 + 2, 2, again=True)
        assert {u: stored(again, u) for u in (0, 1)} == want
        numbers = [int(parse(m).get(34)) for m in stored(again, 1)]
        assert numbers == list(range(1, len(want[1]) + 1))
    finally:
        again.close()
