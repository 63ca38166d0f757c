"""Secondary account lookup at the scale of a large clearing firm: ENTRIES
(100,000) secondary account names mapped to TT accounts, looked up in a
shuffled order (every lookup a cache miss of the table), through the C path
the engine takes for each order (``SecondaryAccounts.count_mapped`` runs it
over a list of names with no Python per lookup). The peer is a Python dict
of the same names, looked up in the same order: reported, not budgeted.

extra_info: ``messages`` = lookups per round (tools/bench_check's "ns/msg").
"""

import random

import pytest

from conftest import BATCH_ROUNDS, BATCH_WARMUP, QUICK

from fastcore.config import default_table
from fastcore.engine import Engine

ENTRIES = 100_000
ACCOUNTS = 100


def firm_config():
    """ENTRIES names Firm<f>User<u>Acct<i> over ACCOUNTS TT accounts, one
    profile in ten, and the wild-card names of 1,000 users."""
    entries = [{"name": f"Firm{i % 50}User{i % 1000}Acct{i}", "account": f"TT{i % ACCOUNTS}",
                "profile": "CUSTOMER A" if i % 10 == 0 else ""} for i in range(ENTRIES - 1000)]
    entries += [{"name": f"Firm{u % 50}User{u}*", "account": f"TT{u % ACCOUNTS}"}
                for u in range(1000)]
    return {"accounts": default_table()["accounts"] + [{"name": f"TT{i}"} for i in range(ACCOUNTS)],
            "order_profiles": [{"name": "CUSTOMER A"}], "secondary": {"accounts": entries}}


@pytest.fixture(scope="module")
def table():
    """The engine's map and the names, shuffled (with one in ten unknown)."""
    config = firm_config()
    maps = Engine(config).secondary
    assert maps.count == ENTRIES
    names = [e["name"].encode() for e in config["secondary"]["accounts"]]
    names += [b"Unknown%d" % i for i in range(ENTRIES // 10)]
    random.Random(7).shuffle(names)
    if QUICK:
        names = names[:20_000]
    assert maps.lookup(b"Firm10User10Acct10") == (maps.lookup(b"Firm10User10*")[0], 1)
    return maps, names


@pytest.mark.benchmark(group="accounts.secondary")
def test_secondary_lookup(benchmark, table):
    """``count_mapped`` over the shuffled names: hash, probe, compare."""
    maps, names = table
    benchmark.extra_info.update(messages=len(names), entries=ENTRIES, quick=QUICK)
    found = benchmark.pedantic(maps.count_mapped, args=(names,), rounds=BATCH_ROUNDS,
                               iterations=1, warmup_rounds=BATCH_WARMUP)
    assert found == sum(1 for n in names if not n.startswith(b"Unknown"))


@pytest.mark.benchmark(group="accounts.secondary")
def test_secondary_lookup_dict(benchmark, table):
    """The peer: a dict of the same names, the same lookups from Python."""
    maps, names = table
    d = {n: i for i, n in enumerate(names) if not n.startswith(b"Unknown")}
    benchmark.extra_info.update(messages=len(names), entries=ENTRIES, quick=QUICK)
    found = benchmark.pedantic(lambda: sum(1 for n in names if n in d), rounds=BATCH_ROUNDS,
                               iterations=1, warmup_rounds=BATCH_WARMUP)
    assert found == len(d)
