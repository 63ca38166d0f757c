"""fastcore.visibility: who sees an order, by the order-book and staged-order
rules of seed 000 (TT staged orders to execution traders with TTORD
credentials), with the default configuration and against a pure-Python
computation of the same rules over random configurations."""
from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, note, strategies as st

from fastcore.config import load
from fastcore.visibility import Visibility

ALL = ["PM1", "ET1", "ET2", "ET3", "ET4"]


@pytest.fixture(scope="module")
def vis():
    return Visibility(load())


# ---- seed 000, the default configuration -------------------------------------------

def test_default_books(vis):
    assert vis.users == tuple(ALL) and vis.gateways == ("SSE-A", "CME-A")
    assert vis.nusers == 5 and vis.nwords == 1 and vis.ngateways == 2
    books = {b: vis.book_users(i) for i, b in enumerate(vis.books)}
    assert books == {
        ("SSE-A", "TTORDAB", "001"): (["PM1", "ET1", "ET2"], ["PM1", "ET1", "ET2"]),
        ("SSE-A", "TTSSE", "SE1"): (["ET3", "ET4"], ALL),
        ("CME-A", "TTORDAB", "001"): (["PM1", "ET1", "ET2"], ["PM1", "ET1", "ET2"]),
        ("CME-A", "ABC", "ABC"): (["ET3", "ET4"], ALL),
    }


@pytest.mark.parametrize("user", ALL)
def test_child_orders_seen_by_everyone(vis, user):
    """Scenario 1 step 4: a child order on CME-A is acknowledged to ET1, ET2,
    ET3, ET4 and PM1 (standard visibility), whoever of them submits it."""
    assert vis.standard_audience(user, "CME-A") == ALL


def test_internal_staged_order(vis):
    """Scenario 1 step 2: PM1's INTERNAL staged order is acknowledged to PM1
    and to ET1 and ET2 (PM1's order book on SSE-A and CME-A), who may claim
    it; not to the exchange traders ET3 and ET4."""
    audience, workers = vis.staged_audience("PM1", "SSE-A", "CME-A", False)
    assert audience == ["PM1", "ET1", "ET2"]
    assert workers == ["ET1", "ET2"]


def test_broker_staged_order(vis):
    """Scenario 2 step 5: re-staged as BROKER it is acknowledged to PM1, ET1,
    ET2, ET3 (PM1's exchange credentials on both gateways) and ET4 (ET3's
    book); ET3 and ET4 may claim it, ET1 and ET2 no longer."""
    audience, workers = vis.staged_audience("PM1", "SSE-A", "CME-A", True)
    assert audience == ALL
    assert workers == ["ET3", "ET4"]


def test_staged_ids_are_interned(vis):
    internal = vis.staged_ids("PM1", "SSE-A", "CME-A", False)
    broker = vis.staged_ids("PM1", "SSE-A", "CME-A", True)
    assert internal == vis.staged_ids("PM1", "SSE-A", "CME-A", False)
    assert internal[0] != broker[0] and internal[1] != broker[1]
    # the BROKER audience is everyone, as a child order's
    assert broker[0] == vis.standard_id("ET1", "CME-A")
    assert vis.sees(internal[0], "ET2") and not vis.sees(internal[0], "ET3")
    assert vis.sees(broker[1], "ET4") and not vis.sees(broker[1], "PM1")


def test_permissions(vis):
    assert vis.may_create_staged("PM1") and not vis.may_manage_staged("PM1")
    for et in ALL[1:]:
        assert vis.may_manage_staged(et) and not vis.may_create_staged(et)


def test_ttord_credentials(vis):
    """PM1, ET1 and ET2 route with TTORD credentials mapped to exchange
    credentials of another book; ET3 and ET4 are exchange traders."""
    for gw in vis.gateways:
        assert [u for u in ALL if vis.is_ttord_on(u, gw)] == ["PM1", "ET1", "ET2"]


def test_unknown_names(vis):
    with pytest.raises(ValueError, match="NOPE"):
        vis.standard_audience("NOPE", "CME-A")
    with pytest.raises(ValueError, match="NOPE"):
        vis.standard_audience("PM1", "NOPE")
    with pytest.raises(ValueError, match="NOPE"):
        vis.staged_audience("PM1", "NOPE", "CME-A", False)
    with pytest.raises(ValueError):
        vis.audience(vis.naudiences)
    with pytest.raises(ValueError):
        vis._bench_compute(vis.nusers, 0, 1)
    with pytest.raises(ValueError):
        vis._bench_staged(0, 0, vis.ngateways, False, 1)


def test_user_without_credentials():
    """A user with no credentials on a gateway trades there alone: its orders
    are its own, and it is in nobody else's audience."""
    table = load().users
    users = [{"name": u.name, "staged_order_creation": u.staged_order_creation,
              "staged_order_management": u.staged_order_management,
              "credentials": {g: {"routing": c.routing, "exchange": c.exchange}
                              for g, c in u.credentials.items()}} for u in table]
    users.append({"name": "LONE", "staged_order_creation": True, "staged_order_management": True})
    users.append({"name": "HALF", "credentials": {"CME-A": {"routing": "ABC/ABC/HLF"}}})
    v = Visibility(load({"users": users}))
    assert v.standard_audience("LONE", "CME-A") == ["LONE"]
    assert v.standard_audience("LONE", "SSE-A") == ["LONE"]
    assert v.staged_audience("LONE", "SSE-A", "CME-A", False) == (["LONE"], [])
    assert v.staged_audience("LONE", "SSE-A", "CME-A", True) == (["LONE"], [])
    assert not v.is_ttord_on("LONE", "SSE-A") and not v.is_ttord_on("HALF", "CME-A")
    # HALF has an exchange trader's credential on CME-A only: ABC/ABC's book
    assert v.standard_audience("HALF", "SSE-A") == ["HALF"]
    assert v.standard_audience("HALF", "CME-A") == ALL + ["HALF"]
    assert v.standard_audience("PM1", "CME-A") == ALL + ["HALF"]
    assert v.standard_audience("PM1", "SSE-A") == ALL
    # HALF is in ABC/ABC on CME-A but in no book on SSE-A: not a broker of PM1
    assert v.staged_audience("PM1", "SSE-A", "CME-A", True) == (ALL, ["ET3", "ET4"])


# ---- interning ---------------------------------------------------------------------

def test_interning():
    v = Visibility(load())
    assert v.naudiences == 0
    a = v.intern_users(["ET2", "PM1"])
    assert a == 0 and v.naudiences == 1
    assert v.intern_users(["PM1", "ET2", "PM1"]) == a          # the same set, the same id
    empty = v.intern_users([])
    assert empty == 1 and v.audience(empty) == []
    assert v.audience(a) == ["PM1", "ET2"]                   # ascending user index
    ids = {v.standard_id(u, g) for u in ALL for g in v.gateways}
    assert ids == {2} and v.audience(2) == ALL
    assert v.naudiences == 3                                 # standard audiences are cached
    assert v._bench_compute(3, 1, 100) == 2 and v.naudiences == 3
    got = [v.intern_users(names) for names in
           (["PM1"], ["ET1"], ["PM1", "ET1"], ["ET1", "PM1"], ALL, ALL[::-1], ["ET4"])]
    assert got == [3, 4, 5, 5, 2, 2, 6]                      # new sets numbered in turn
    assert v.naudiences == 7
    assert [v.audience(i) for i in range(v.naudiences)] == [
        ["PM1", "ET2"], [], ALL, ["PM1"], ["ET1"], ["PM1", "ET1"], ["ET4"]]


def test_interning_grows():
    """Thousands of distinct audiences over 200 users (the arenas and the
    table double several times); every one keeps its id and members."""
    v = Visibility(load({"users": [{"name": f"U{i}"} for i in range(200)]}))
    sets = [sorted({(i * 7) % 200, (i * 13 + 5) % 200, i % 200, (i // 200) % 200})
            for i in range(5000)]
    ids = [v.intern_users([f"U{u}" for u in s]) for s in sets]
    distinct = {}
    for s, i in zip(sets, ids):
        assert distinct.setdefault(tuple(s), i) == i
    assert sorted(distinct.values()) == list(range(v.naudiences))
    for s, i in zip(sets, ids):
        assert v.audience(i) == [f"U{u}" for u in s]
        assert v.intern_users([f"U{u}" for u in reversed(s)]) == i


# ---- several words: users at word boundaries ------------------------------------------

def test_word_boundaries():
    """130 users (3 words); the ones at 0, 63, 64, 127 and 129 share books on
    both gateways, 62, 65 and 128 are exchange traders (TTSSE/X, CME/X)."""
    n = 130
    desk = {0, 63, 64, 127, 129}
    brokers = {62, 65, 128}
    users = []
    for i in range(n):
        u = {"name": f"U{i:03d}"}
        if i in desk:
            u["credentials"] = {"SSE-A": {"routing": f"ORD/1/{i}", "exchange": "TTSSE/X/1"},
                                "CME-A": {"routing": f"ORD/1/{i}", "exchange": "CME/X/1"}}
            u["staged_order_creation"] = i == 0
            u["staged_order_management"] = i != 0
        elif i in brokers:
            u["credentials"] = {"SSE-A": {"routing": f"TTSSE/X/{i}"},
                                "CME-A": {"routing": f"CME/X/{i}"}}
            u["staged_order_management"] = True
        users.append(u)
    v = Visibility(load({"users": users}))
    assert v.nusers == n and v.nwords == 3
    name = [f"U{i:03d}" for i in range(n)]
    everyone = [name[i] for i in sorted(desk | brokers)]
    for i in desk | brokers:
        assert v.standard_audience(name[i], "CME-A") == everyone
    assert v.standard_audience(name[1], "CME-A") == [name[1]]
    assert v.standard_audience(name[128], "SSE-A") == everyone
    audience, workers = v.staged_audience(name[0], "SSE-A", "CME-A", False)
    assert audience == [name[i] for i in sorted(desk)]
    assert workers == [name[i] for i in sorted(desk - {0})]
    audience, workers = v.staged_audience(name[0], "SSE-A", "CME-A", True)
    assert audience == everyone
    assert workers == [name[i] for i in sorted(brokers)]
    a = v.standard_id(name[0], "CME-A")
    for i in range(n):
        assert v.sees(a, name[i]) == (i in desk | brokers)
    # an INTERNAL order by user 127: user 0 sees it but, without
    # staged_order_management, may not work it
    audience, workers = v.staged_audience(name[127], "SSE-A", "CME-A", False)
    assert audience == [name[i] for i in sorted(desk)]
    assert workers == [name[i] for i in sorted(desk - {0, 127})]


# ---- the rules against a pure-Python computation over random configurations -------

MEMBERS = ["A", "B", "TTORD"]
GROUPS = ["1", "2"]
TRADERS = ["x", "y"]

mgt = st.builds(lambda m, g, t: f"{m}/{g}/{t}", st.sampled_from(MEMBERS),
                st.sampled_from(GROUPS), st.sampled_from(TRADERS))


@st.composite
def configs(draw):
    ngw = draw(st.integers(1, 3))
    gateways = [{"name": f"G{j}", "kind": draw(st.sampled_from(["exchange", "staging"]))}
                for j in range(ngw)]
    core = draw(st.lists(st.fixed_dictionaries({
        "credentials": st.dictionaries(
            st.sampled_from([g["name"] for g in gateways]),
            st.fixed_dictionaries({"routing": mgt}, optional={"exchange": mgt}), max_size=ngw),
        "staged_order_creation": st.booleans(),
        "staged_order_management": st.booleans(),
    }), min_size=1, max_size=10))
    # users with no credentials in front, so the others sit in later words
    # or across a word boundary; a few at the end
    pad = draw(st.sampled_from([0, 0, 3, 58, 63, 64, 120, 125]))
    tail = draw(st.integers(0, 3))
    filler = [{"staged_order_management": draw(st.booleans())} for _ in range(pad + tail)]
    users = filler[:pad] + core + filler[pad:]
    for i, u in enumerate(users):
        u["name"] = f"U{i}"
    return {"gateways": gateways, "users": users, "instruments": [], "accounts": [],
            "sessions": []}


def model(config):
    """The rules in sets of names, straight from the seed's description."""
    routing, members = defaultdict(set), defaultdict(set)
    rbook, ebook = {}, {}
    for u in config.users:
        for g, c in u.credentials.items():
            r = (g, *c.routing.split("/")[:2])
            e = (g, *(c.exchange or c.routing).split("/")[:2])
            rbook[u.name, g], ebook[u.name, g] = r, e
            routing[r].add(u.name)
            members[r].add(u.name)
            members[e].add(u.name)
    managers = {u.name for u in config.users if u.staged_order_management}

    def standard(u, g):
        return {u} | members.get(rbook.get((u, g)), set()) | members.get(ebook.get((u, g)), set())

    def both(book, c, s, k):
        if (c, s) in book and (c, k) in book:
            return routing[book[c, s]] & routing[book[c, k]]
        return set()

    def staged(c, s, k, broker):
        internal = both(rbook, c, s, k)
        if not broker:
            return {c} | internal, (internal & managers) - {c}
        brokers = both(ebook, c, s, k)
        return {c} | internal | brokers, (brokers & managers) - {c}

    return standard, staged


@given(configs())
def test_rules_match_the_model(table):
    config = load(table)
    v = Visibility(config)
    standard, staged = model(config)
    names = [u.name for u in config.users]
    order = {n: i for i, n in enumerate(names)}
    gateways = [g.name for g in config.gateways]
    note(f"{len(names)} users, books {v.books}")
    by_id = {}

    def check(aid, expected):
        got = v.audience(aid)
        assert got == sorted(expected, key=order.__getitem__)
        assert by_id.setdefault(aid, frozenset(got)) == frozenset(got)

    active = [u.name for u in config.users if u.credentials] or names[:1]
    for u in active + [names[0], names[-1]]:
        for g in gateways:
            check(v.standard_id(u, g), standard(u, g))
            assert v._bench_compute(order[u], gateways.index(g), 1) == v.standard_id(u, g)
        for s in gateways:
            for k in gateways:
                for broker in (False, True):
                    aid, wid = v.staged_ids(u, s, k, broker)
                    audience, workers = staged(u, s, k, broker)
                    check(aid, audience)
                    check(wid, workers)
                    assert v._bench_staged(order[u], gateways.index(s), gateways.index(k),
                                           broker, 2) == (aid, wid)
    for u in config.users:
        for g in gateways:
            c = u.credentials.get(g)
            ttord = c is not None and c.routing.split("/")[:2] != c.exchange.split("/")[:2]
            assert v.is_ttord_on(u.name, g) == ttord
    # interning: ids dense from 0, one per distinct set
    assert sorted(by_id) == list(range(v.naudiences))
    assert len(set(by_id.values())) == len(by_id)
    for aid, members in by_id.items():
        assert v.intern_users(members) == aid
        for n in names:
            assert v.sees(aid, n) == (n in members)
