"""The per-session message store: sequence numbers and sent messages on disk,
recovery after a crash (torn tail, .seqs older than .msgs), resend ranges."""

import gc
import os
import shutil
import tempfile

import pytest
from hypothesis import given, strategies as st

from fastcore.codec import Encoder
from fastcore.server.store import FileStore

NOW = 1_700_000_000_000_000_000
ENC = Encoder("FASTCORE", "PM1")


def msg(seq, pad=0):
    """A Heartbeat numbered ``seq``; ``pad`` lengthens it (TestReqID)."""
    return ENC.heartbeat(seq, NOW, "x" * pad if pad else None)


def fill(store, first, last, pad=0):
    """Append messages first..last; returns them as [(seq, bytes)]."""
    sent = [(seq, msg(seq, pad)) for seq in range(first, last + 1)]
    for seq, data in sent:
        store.append_bytes(seq, data)
    return sent


def seqs_text(next_in, next_out, journal_seq=0):
    return b"%020d %020d %020d\n" % (next_in, next_out, journal_seq)


def msgs_file(directory, name="s"):
    return directory / f"{name}.msgs"


def seqs_file(directory, name="s"):
    return directory / f"{name}.seqs"


def open_fds():
    return len(os.listdir("/proc/self/fd"))


# ---- opening, appending, flushing -------------------------------------------------


def test_new_store_starts_at_one_in_a_created_directory(tmp_path):
    directory = tmp_path / "a" / "b"
    with FileStore(directory, "s") as store:
        assert (store.next_in, store.next_out, len(store)) == (1, 1, 0)
        assert store.get(1) == []
        assert store.path == str(msgs_file(directory))
    assert msgs_file(directory).read_bytes() == b""


def test_append_flush_reopen_round_trip(tmp_path):
    store = FileStore(tmp_path, "s")
    sent = [(seq, msg(seq, pad=seq % 7 * 5)) for seq in range(1, 21)]
    for seq, data in sent:
        store.append_bytes(seq, data)
    store.set_next_in(7)
    store.flush(fsync=True)
    assert msgs_file(tmp_path).read_bytes() == b"".join(data for _, data in sent)
    assert seqs_file(tmp_path).read_bytes() == seqs_text(7, 21)
    store.close()

    store = FileStore(tmp_path, "s")
    assert (store.next_in, store.next_out, len(store)) == (7, 21, 20)
    assert store.get(1) == sent
    store.append_bytes(21, msg(21))
    assert store.get(20) == sent[-1:] + [(21, msg(21))]
    store.close()


def test_flush_writes_only_what_was_appended_since(tmp_path):
    with FileStore(tmp_path, "s") as store:
        first = fill(store, 1, 3)
        assert msgs_file(tmp_path).read_bytes() == b""      # buffered until flush
        store.flush()
        second = fill(store, 4, 5)
        store.flush()
        store.flush()
        assert msgs_file(tmp_path).read_bytes() == b"".join(d for _, d in first + second)
        assert seqs_file(tmp_path).read_bytes() == seqs_text(1, 6)


def test_get_ranges_span_flushed_and_buffered_messages(tmp_path):
    with FileStore(tmp_path, "s") as store:
        sent = fill(store, 1, 5)
        store.flush()
        sent += fill(store, 6, 8)                            # not flushed
        assert store.get(4, 7) == sent[3:7]
        assert store.get(6) == sent[5:]
        assert store.get(6, 0) == sent[5:]
        assert store.get(1, 1) == sent[:1]
        assert store.get(0, 2) == sent[:2]
        assert store.get(8, 100) == sent[7:]
        assert store.get(9) == []
        assert store.get(5, 4) == []
        assert len(store) == 8


def test_append_refuses_a_seq_other_than_next_out(tmp_path):
    with FileStore(tmp_path, "s") as store:
        fill(store, 1, 2)
        with pytest.raises(ValueError, match="3 expected"):
            store.append_bytes(4, msg(4))
        with pytest.raises(ValueError, match="3 expected"):
            store.append_bytes(2, msg(2))
        with pytest.raises(ValueError, match="empty"):
            store.append_bytes(3, b"")
        assert (store.next_out, len(store)) == (3, 2)


def test_set_next_out_jumps_forward_leaving_a_gap(tmp_path):
    with FileStore(tmp_path, "s") as store:
        sent = fill(store, 1, 3)
        store.set_next_out(10)                               # SequenceReset
        assert store.next_out == 10
        sent += fill(store, 10, 11)
        assert [seq for seq, _ in store.get(1)] == [1, 2, 3, 10, 11]
        assert store.get(4, 9) == []
        assert store.get(3, 10) == [sent[2], sent[3]]
        with pytest.raises(ValueError, match="11 is stored"):
            store.set_next_out(11)
        with pytest.raises(ValueError):
            store.set_next_in(0)
    with FileStore(tmp_path, "s") as store:
        assert store.get(1) == sent
        assert store.next_out == 12


def test_set_next_out_without_messages_is_kept(tmp_path):
    with FileStore(tmp_path, "s") as store:
        store.set_next_out(50)
        store.set_next_in(40)
    with FileStore(tmp_path, "s") as store:
        assert (store.next_in, store.next_out, len(store)) == (40, 50, 0)
        with pytest.raises(ValueError):
            store.set_next_out(0)


# ---- recovery -----------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 5, 12, 40, -1])
def test_torn_tail_is_truncated_on_reopen(tmp_path, cut):
    with FileStore(tmp_path, "s") as store:
        sent = fill(store, 1, 3)
    whole = msgs_file(tmp_path).read_bytes()
    with open(msgs_file(tmp_path), "ab") as f:               # a crash in the middle of a write
        f.write(msg(4)[:cut])

    with FileStore(tmp_path, "s") as store:
        assert msgs_file(tmp_path).read_bytes() == whole
        assert (store.next_out, len(store)) == (4, 3)
        assert store.get(1) == sent
        sent += fill(store, 4, 4)
    with FileStore(tmp_path, "s") as store:
        assert store.get(1) == sent


def test_seqs_file_older_than_msgs_file(tmp_path):
    with FileStore(tmp_path, "s") as store:
        sent = fill(store, 1, 3)
        store.set_next_in(2)
        store.flush()
        older = seqs_file(tmp_path).read_bytes()
        sent += fill(store, 4, 6)
        store.set_next_in(5)
    seqs_file(tmp_path).write_bytes(older)                  # crashed between the two writes

    with FileStore(tmp_path, "s") as store:
        assert (store.next_in, store.next_out) == (2, 7)
        assert store.get(1) == sent

    seqs_file(tmp_path).unlink()
    with FileStore(tmp_path, "s") as store:
        assert (store.next_in, store.next_out) == (1, 7)


def test_garbled_bytes_inside_msgs_are_kept_but_not_indexed(tmp_path):
    bad_checksum = msg(2)[:-4] + b"000\x01"
    msgs_file(tmp_path).write_bytes(msg(1) + b"garbage\x01" + bad_checksum + msg(3))
    with FileStore(tmp_path, "s") as store:
        assert [seq for seq, _ in store.get(1)] == [1, 3]
        assert store.next_out == 4
        fill(store, 4, 4)
    with FileStore(tmp_path, "s") as store:
        assert store.get(1) == [(1, msg(1)), (3, msg(3)), (4, msg(4))]


def test_framed_invalid_message_is_indexed_by_its_seq(tmp_path):
    invalid = ENC.encode("D", [(11, "A1")], 1, NOW)          # NewOrderSingle without Side …
    with FileStore(tmp_path, "s") as store:
        store.append_bytes(1, invalid)
        fill(store, 2, 2)
    with FileStore(tmp_path, "s") as store:
        assert store.get(1) == [(1, invalid), (2, msg(2))]


def test_reopen_indexes_a_file_larger_than_one_read(tmp_path):
    with FileStore(tmp_path, "s") as store:
        sent = fill(store, 1, 6000, pad=300)
    assert msgs_file(tmp_path).stat().st_size > 2 << 20
    with FileStore(tmp_path, "s") as store:
        assert len(store) == 6000
        assert store.next_out == 6001
        assert store.get(1) == sent


# ---- reset, close, errors --------------------------------------------------------------


def test_reset_drops_messages_and_writes_the_numbers_at_once(tmp_path):
    with FileStore(tmp_path, "s") as store:
        fill(store, 1, 4)
        store.flush()
        fill(store, 5, 5)
        store.set_next_in(9)
        store.reset()
        assert (store.next_in, store.next_out, len(store)) == (1, 1, 0)
        assert store.get(1) == []
        assert msgs_file(tmp_path).read_bytes() == b""
        assert seqs_file(tmp_path).read_bytes() == seqs_text(1, 1)
        sent = fill(store, 1, 2)
    with FileStore(tmp_path, "s") as store:
        assert store.get(1) == sent


def test_close_is_idempotent_and_a_closed_store_refuses_work(tmp_path):
    store = FileStore(tmp_path, "s")
    fill(store, 1, 2)
    store.close()
    store.close()
    assert store.closed
    assert store.next_out == 3
    for call in (lambda: store.append_bytes(3, msg(3)), lambda: store.get(1), store.flush,
                 store.reset, lambda: store.set_next_in(2), lambda: store.set_next_out(5)):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert len(FileStore(tmp_path, "s")) == 2


def test_a_dropped_store_flushes_what_it_can(tmp_path):
    store = FileStore(tmp_path, "s")
    sent = fill(store, 1, 3)
    del store
    gc.collect()
    with FileStore(tmp_path, "s") as store:
        assert store.get(1) == sent


def test_no_file_descriptor_leaks(tmp_path):
    before = open_fds()
    for i in range(100):
        with FileStore(tmp_path, "s") as store:
            fill(store, store.next_out, store.next_out)
    for i in range(100):
        store = FileStore(tmp_path, "s")                    # dropped without close
        del store
    seqs_file(tmp_path, "bad").write_bytes(b"junk")
    for i in range(100):
        with pytest.raises(ValueError):
            FileStore(tmp_path, "bad")
    with pytest.raises(TypeError):
        FileStore(tmp_path, 0)      # refused before any file is open: closes no fd (0, stdin)
    gc.collect()
    assert open_fds() == before
    assert len(FileStore(tmp_path, "s")) == 100


def test_corrupt_seqs_file_is_refused_naming_it(tmp_path):
    seqs_file(tmp_path).write_bytes(seqs_text(1, 5)[:-3] + b"x\n\n")
    with pytest.raises(ValueError, match="s.seqs"):
        FileStore(tmp_path, "s")
    seqs_file(tmp_path).write_bytes(seqs_text(0, 5))
    with pytest.raises(ValueError, match="s.seqs"):
        FileStore(tmp_path, "s")


def test_os_errors_name_the_file(tmp_path):
    msgs_file(tmp_path).mkdir()
    with pytest.raises(IsADirectoryError) as e:
        FileStore(tmp_path, "s")
    assert e.value.filename == str(msgs_file(tmp_path))
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(OSError) as e:
        FileStore(tmp_path / "plain", "s")
    assert "plain" in str(e.value)


@pytest.mark.parametrize("name", ["", "a/b", "a/"])
def test_session_name_must_be_a_file_name(tmp_path, name):
    with pytest.raises(ValueError, match="not a file name"):
        FileStore(tmp_path, name)


# ---- property: any sequence of operations agrees with a simple model ---------------------

ops = st.lists(st.one_of(
    st.tuples(st.just("append"), st.integers(1, 6), st.integers(0, 40)),
    st.tuples(st.just("flush")),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("crash"), st.floats(0, 1)),           # how much of the buffer was written
    st.tuples(st.just("jump"), st.integers(1, 5)),
    st.tuples(st.just("in"), st.integers(1, 50)),
    st.tuples(st.just("reset")),
    st.tuples(st.just("get"), st.integers(0, 40), st.integers(0, 40)),
), max_size=25)


@given(ops)
def test_operations_agree_with_a_model(steps):
    with tempfile.TemporaryDirectory() as tmp:
        directory = os.path.join(tmp, "0")
        store = FileStore(directory, "s")
        msgs, next_in, next_out = {}, 1, 1                 # the model
        disk = ({}, 1, 1)                                  # what the last flush left on disk
        pending = []                                       # appended since: [(seq, bytes)]
        for step in steps:
            op = step[0]
            if op == "append":
                for _ in range(step[1]):
                    data = msg(next_out, step[2])
                    store.append_bytes(next_out, data)
                    msgs[next_out] = data
                    pending.append((next_out, data))
                    next_out += 1
            elif op in ("flush", "reopen"):
                if op == "flush":
                    store.flush()
                else:
                    store.close()
                    store = FileStore(directory, "s")
                disk, pending = (dict(msgs), next_in, next_out), []
            elif op == "crash":                            # a copy of the files as a crash leaves them
                written = b"".join(data for _, data in pending)
                written = written[:int(len(written) * step[1])]
                crashed = os.path.join(tmp, str(len(os.listdir(tmp))))
                os.mkdir(crashed)
                with open(os.path.join(directory, "s.msgs"), "rb") as f:
                    on_disk = f.read()
                assert on_disk == b"".join(disk[0].values())
                with open(os.path.join(crashed, "s.msgs"), "wb") as f:
                    f.write(on_disk + written)
                shutil.copy(os.path.join(directory, "s.seqs"), crashed)
                store.close()
                store, directory = FileStore(crashed, "s"), crashed
                msgs, next_in, next_out = dict(disk[0]), disk[1], disk[2]
                for seq, data in pending:                  # the messages written whole
                    if len(written) < len(data):
                        break
                    msgs[seq] = data
                    next_out = max(next_out, seq + 1)
                    written = written[len(data):]
                disk, pending = (dict(msgs), next_in, next_out), []
            elif op == "jump":
                next_out += step[1]
                store.set_next_out(next_out)
            elif op == "in":
                next_in = step[1]
                store.set_next_in(next_in)
            elif op == "reset":
                store.reset()
                msgs, next_in, next_out = {}, 1, 1
                disk, pending = ({}, 1, 1), []
            else:
                begin, end = step[1], step[2]
                assert store.get(begin, end) == [
                    (seq, data) for seq, data in msgs.items() if begin <= seq and (end == 0 or seq <= end)]
            assert (store.next_in, store.next_out, len(store)) == (next_in, next_out, len(msgs))
        assert store.get(1) == list(msgs.items())
        store.close()


def test_journal_seq_is_kept_and_an_older_two_number_file_reads(tmp_path):
    seqs_file(tmp_path).write_bytes(b"%020d %020d\n" % (4, 9))   # before the journal
    with FileStore(tmp_path, "s") as store:
        assert (store.next_in, store.next_out, store.journal_seq) == (4, 9, 0)
        store.journal_seq = 123
        store.flush()
    assert seqs_file(tmp_path).read_bytes() == seqs_text(4, 9, 123)
    with FileStore(tmp_path, "s") as store:
        assert store.journal_seq == 123
        store.reset()                       # a session reset keeps the journal's place
        assert store.journal_seq == 123
