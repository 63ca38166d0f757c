"""The crash test: `fastcore serve` (a subprocess) under load from two
clients, killed with SIGKILL at random points several times and restarted
each time (``fastcore.flood.crash``; ``tools/crash_test`` runs it longer).

Nothing acknowledged is lost: every order acknowledged exists in the state
and with the CumQty of the last report about it, no order that was never
acknowledged exists, no ExecID is used twice, an order's fills add up to
its CumQty, each session's MsgSeqNums run on, and each restart's recovered
state hash is the offline replay's."""
from __future__ import annotations

import pytest

from fastcore.flood.crash import CrashTest


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path, seed):
    result = CrashTest(tmp_path / "store", kills=4, seed=seed).run()
    assert result.problems == []
    assert result.kills == 4 and result.lost == 0
    assert result.hashes_checked == 5                    # every restart, and after the clean stop
    assert result.acknowledged >= 4 * 20                 # the load reached every kill point
    assert result.fills > 0                              # orders traded, some in part


def test_a_torn_journal_record_is_cut_and_the_run_goes_on(tmp_path):
    """A kill in the middle of a journal write leaves a torn record: the
    restart cuts it (an input never answered) and the checks still hold."""
    store = tmp_path / "store"
    test = CrashTest(store, kills=1, seed=3)
    result = test.run()
    assert result.problems == []
    journal = store / "journal"
    last = sorted(journal.glob("*.wal"))[-1]
    with open(last, "ab") as f:                          # half a frame: length, CRC, 3 bytes
        f.write(b"\x40\x00\x00\x00\x01\x02\x03\x04\x95\xa1F")
    test.kills = 1
    result = test.run()
    assert result.problems == [] and result.kills == 2
    assert any("torn record cut off" in line for line in test.logs)
