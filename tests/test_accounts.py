"""Secondary accounts (seed 001): a client's own account, named by
SecondaryAccount (18219) or made by the rule from its firm, its name and its
Account (1), is booked to the TT account of its ``[secondary]`` entry, with
the entry's order profile (TTCustomerName 18218); a wild-card user falls
back to its ``CompanyUser*`` entry; a name that maps to nothing is rejected
(OrdRejReason 15). The client gets its own Account (1) back, everyone else
who sees the order the TT account; 18219 is never sent out. Child orders of
a staged order take the claimer's customer-default account unless a 18219
of the broker's maps, and the staged order's profile unless 18218 names
another. The configuration refuses unusable entries, naming them.

The tests use seed 001's names as they are: users ``User`` (firm Client,
wild-card accounts) and ``User1`` (firm Firm1) next to the default users,
and seed 001's table written out (the default configuration only documents
it). Where the client's own account is echoed, the TT account it was booked
to is read from the engine's audit trail ("in" record: account,
client_account, customer), so that the booking is checked whoever sees the
order; the tests of what other users see share CME-A's order book
(``shared=True``). The scenario files under ``scenarios/accounts`` play the
same rules with the default users' names (they also run over the server,
whose sessions are those five).
"""
from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from fastcore.auditfile import parse as parse_audit
from fastcore.codec import parse
from fastcore.config import default_table, load, merge
from fastcore.engine import Engine
from fastcore.errors import ConfigError
from harness import Harness, cancel, nos, replace, status

SEED_ROWS = [                               # seed 001's table
    ("ClientUser*", "A.111", None),
    ("ClientUserAcct1", "12345", "CUSTOMER A"),
    ("Firm1User1Acct", "ABCDEF", "CUSTOMER A"),
]
SEED = {                                    # with its TT accounts, its profile and CUSTOMER B
    "accounts": [{"name": n} for n in ("123", "DESK-A", "BRK-A", "A.111", "12345", "ABCDEF")],
    "order_profiles": [{"name": "CUSTOMER A"}, {"name": "CUSTOMER B"}],
    "secondary": {"rule": "{company}{user}{account}",
                  "accounts": [{"name": n, "account": a, **({"profile": p} if p else {})}
                               for n, a, p in SEED_ROWS]},
}

# "User" of firm Client: secondary accounts, wild-card, may stage orders;
# shared, it is in PM1's TTORD order book (TTORDAB/001) on both gateways.
USER = {"name": "User", "firm": "Client", "secondary_accounts": True,
        "wildcard_accounts": True, "staged_order_creation": True}
USER_CREDENTIALS = {"SSE-A": {"routing": "TTORDAB/001/009", "exchange": "TTSSE/SE1/001"},
                    "CME-A": {"routing": "TTORDAB/001/009", "exchange": "ABC/ABC/ABC"}}
# "User1" of firm Firm1: secondary accounts, no wild-card; shared, in CME-A's ABC/ABC book.
USER1 = {"name": "User1", "firm": "Firm1", "secondary_accounts": True}
USER1_CREDENTIALS = {"CME-A": {"routing": "ABC/ABC/U01"}}
EVERYONE = ["PM1", "ET1", "ET2", "ET3", "ET4", "User", "User1"]
DESK = ["PM1", "ET1", "ET2", "User"]        # User's TTORD book: its INTERNAL staged order's audience

def config(mode: str = "auto", shared: bool = False, **over: Any) -> dict[str, Any]:
    """The default users, User and User1, and SEED (``over`` merged over
    it). ``shared``: with their credentials, everyone sees every order on
    CME-A; otherwise each user trades alone and gets its own reports only."""
    users = copy.deepcopy(default_table()["users"]) + [copy.deepcopy(USER), copy.deepcopy(USER1)]
    if shared:
        users[-2]["credentials"] = copy.deepcopy(USER_CREDENTIALS)
        users[-1]["credentials"] = copy.deepcopy(USER1_CREDENTIALS)
    else:
        users = [{k: v for k, v in u.items() if k != "credentials"} for u in users]
    return merge({"mode": mode, "users": users, **copy.deepcopy(SEED)}, over)


class Books(Harness):
    """A Harness that checks that no message carries SecondaryAccount
    (18219) and keeps the audit trail's records."""

    def __init__(self, config=None):
        super().__init__(config)
        self.records = []

    def _track(self, out):
        got = super()._track(out)
        for to, msg in got:
            assert 18219 not in msg, (to, msg)
        self.records += parse_audit(self.engine.audit.take())
        return got

    def booked(self, clordid: str) -> tuple[str, str | None, str | None]:
        """(TT account, the client's own account, profile) the audit trail
        recorded when the order ``clordid`` came in."""
        [rec] = [r for r in self.records if r.kind == "in" and r.clordid == clordid]
        return rec.account, rec.client_account or None, rec.customer or None


def order(clordid: str, account: str | None = None, secondary: str | None = None,
          extra: list[tuple[int, str]] | None = None, **terms: str) -> list[tuple[int, str]]:
    """A NewOrderSingle body with Account (1) and SecondaryAccount (18219) if given."""
    more = ([(1, account)] if account is not None else []) + \
        ([(18219, secondary)] if secondary is not None else []) + (extra or [])
    return nos(clordid, extra=more, **terms)


def accepted(h: Books, who: str, clordid: str, account: str | None, tt: str,
             profile: str | None, secondary: str | None = None) -> dict[int, str]:
    """``who``'s order is accepted (alone: its own report only) with its own
    Account (1) back (the TT account when it sent none) and the profile; the
    audit trail has it booked to ``tt``."""
    [(to, ack)] = h.send("D", order(clordid, account, secondary), who)
    assert (to, ack[11], ack[150], ack[39]) == (who, clordid, "0", "0")
    assert ack.get(1) == (account if account is not None else tt)
    assert ack.get(18218) == profile
    assert h.booked(clordid) == (tt, account, profile)
    return ack


def split(out, owner: str) -> tuple[dict[int, str], list[dict[int, str]]]:
    """The one message of ``out`` to ``owner``, and the others' messages."""
    mine = [m for to, m in out if to == owner]
    assert len(mine) == 1, out
    return mine[0], [m for to, m in out if to != owner]


def seen_by_all(out, owner: str, echoed: str | None, tt: str, profile: str | None) -> None:
    """Reports of an order: the owner's carries ``echoed`` (or the TT account
    when None), everyone else's the TT account ``tt``; all the profile."""
    mine, others = split(out, owner)
    assert others, "nobody else saw the order"
    assert mine.get(1) == (echoed if echoed is not None else tt)
    assert {m.get(1) for m in others} == {tt}
    assert {m.get(18218) for m in [mine, *others]} == {profile}


# ---- 1. the rule, the wild card and seed 001's rows ---------------------------------------

@pytest.mark.parametrize("who, account, tt, profile", [
    ("User", "Acct1", "12345", "CUSTOMER A"),       # ClientUserAcct1: the exact entry wins over ClientUser*
    ("User", "Acct7", "A.111", None),               # no ClientUserAcct7: the wild-card entry ClientUser*
    ("User", "ZZZ", "A.111", None),                 # one wild-card entry covers all its accounts
    ("User1", "Acct", "ABCDEF", "CUSTOMER A"),      # Firm1User1Acct
], ids=["exact-over-wildcard", "wildcard", "wildcard-other", "firm1"])
def test_the_rule_maps_a_secondary_users_account(who, account, tt, profile):
    accepted(Books(config()), who, "A1", account, tt, profile)


@pytest.mark.parametrize("name, tt, profile", SEED_ROWS)
@pytest.mark.parametrize("who", ["PM1", "ET3", "User", "User1"])
@pytest.mark.parametrize("account", ["Mine", None], ids=["own-account", "no-account"])
def test_an_explicit_secondary_account_maps_for_any_user(who, name, tt, profile, account):
    """18219 from anyone (PM1 and ET3 have no secondary accounts of their
    own) is looked up as it is, over the rule's name for a secondary user.
    An order without Account (1) has nothing to echo: its client sees the
    TT account."""
    accepted(Books(config()), who, "A1", account, tt, profile, secondary=name)


def test_a_secondary_user_without_account_takes_its_wildcard_name():
    """No Account (1): the rule's name is the company and user alone
    ("ClientUser", no entry), then the wild-card one; User1 has no wild
    card, and the text names "Firm1User1"."""
    h = Books(config())
    accepted(h, "User", "A1", None, "A.111", None)
    assert_rejected(h, "User1", None, None,
                    "no TT account is mapped to the secondary account Firm1User1")


def test_a_wildcard_user_without_a_wildcard_entry_is_rejected_naming_both():
    rows = [e for e in SEED["secondary"]["accounts"] if not e["name"].endswith("*")]
    h = Books(config(secondary={"accounts": rows}))
    assert_rejected(h, "User", "Acct7", None,
                    "no TT account is mapped to the secondary account ClientUserAcct7 "
                    "or ClientUser*")
    accepted(h, "User", "A2", "Acct1", "12345", "CUSTOMER A")      # the exact entry still maps


def test_a_user_without_wildcard_accounts_has_no_fallback():
    """Even with a "Firm1User1*" entry in the table, User1 (no wild-card
    accounts) gets only its exact name looked up."""
    rows = SEED["secondary"]["accounts"] + [{"name": "Firm1User1*", "account": "123"}]
    h = Books(config(secondary={"accounts": rows}))
    assert_rejected(h, "User1", "Acct2", None,
                    "no TT account is mapped to the secondary account Firm1User1Acct2")
    accepted(h, "User1", "A2", "Acct2", "123", None, secondary="Firm1User1*")   # named, it maps


@pytest.mark.parametrize("rule, exact, wild", [
    ("{user}@{company}/{account}", "User@Client/Acct1", "User@Client/*"),
    ("{company}.{user}.{account}", "Client.User.Acct1", "Client.User.*"),
    ("X{company}{user}{account}", "XClientUserAcct1", "XClientUser*"),
])
def test_the_rule_is_configurable(rule, exact, wild):
    h = Books(config(secondary={"rule": rule, "accounts": [
        {"name": exact, "account": "12345", "profile": "CUSTOMER B"},
        {"name": wild, "account": "A.111"}]}))
    accepted(h, "User", "A1", "Acct1", "12345", "CUSTOMER B")
    accepted(h, "User", "A2", "Acct2", "A.111", None)


def test_the_wildcard_name_puts_the_star_where_the_account_goes():
    h = Books(config(secondary={"rule": "{account}-{company}{user}", "accounts": [
        {"name": "Acct1-ClientUser", "account": "12345"},
        {"name": "*-ClientUser", "account": "A.111"}]}))
    accepted(h, "User", "A1", "Acct1", "12345", None)
    accepted(h, "User", "A2", "Acct2", "A.111", None)


# ---- 2. rejects: nothing is created -------------------------------------------------------

def assert_rejected(h: Harness, who: str, account: str | None, secondary: str | None,
                    text: str) -> None:
    """The order is rejected (OrdRejReason 15) to ``who`` alone, with its
    own Account (1) and ``text``; a status request then gets the answer for
    an unknown order."""
    out = h.send("D", order("R1", account, secondary), who)
    assert [to for to, _ in out] == [who]
    rej = out[0][1]
    assert (rej[35], rej[11], rej[37], rej[150], rej[39], rej[103], rej[58]) == \
        ("8", "R1", "NONE", "8", "8", "15", text)
    assert rej.get(1) == account
    assert 18218 not in rej
    [(to, st_)] = h.send("H", status("R1"), who)
    assert (to, st_[37], st_[150], st_[39]) == (who, "NONE", "I", "8")


@pytest.mark.parametrize("who, account, secondary, text, fixed, tt", [
    ("PM1", "123", "Nope", "no TT account is mapped to the secondary account Nope",
     {"secondary": "ClientUserAcct1"}, "12345"),
    ("User", "Acct1", "ClientUser", "no TT account is mapped to the secondary account ClientUser",
     {"secondary": None}, "12345"),
    ("User1", "Acct2", None, "no TT account is mapped to the secondary account Firm1User1Acct2",
     {"account": "Acct"}, "ABCDEF"),
    ("ET3", None, "clientuseracct1", "no TT account is mapped to the secondary account "
     "clientuseracct1", {"secondary": "ClientUserAcct1"}, "12345"),
], ids=["explicit", "explicit-over-the-rule", "rule", "case-matters"])
def test_an_unmapped_account_is_rejected_and_nothing_is_created(who, account, secondary, text,
                                                                fixed, tt):
    """The ClOrdID of the reject is free: the corrected order with it is
    accepted, not a duplicate."""
    h = Books(config())
    assert_rejected(h, who, account, secondary, text)
    terms = {"account": account, "secondary": secondary, **fixed}
    accepted(h, who, "R1", terms["account"], tt, "CUSTOMER A", secondary=terms["secondary"])


# ---- 3. the client's own account on everything it gets ------------------------------------

def test_the_owner_gets_its_account_on_every_report():
    """Worked mode: acknowledgement, fill, replace, status, a duplicate
    ClOrdID, cancel, and an OrderCancelReject the engine decides alone."""
    h = Books(config("worked"))
    h.send("D", order("A1", "Acct1"), "User")
    seen = []
    seen += h.act("ack", order="A1")
    seen += h.act("fill", order="A1", qty="4", px="100")
    seen += h.send("G", replace("A2", "A1", "20", "101") + [(1, "Acct1")], "User")
    seen += h.act("pending_replace", order="A1")
    seen += h.act("accept_replace", order="A1")
    seen += h.send("H", status("A2"), "User")
    seen += h.send("D", order("A1", "Acct1"), "User")             # duplicate ClOrdID
    seen += h.send("F", cancel("A3", "A2", qty="20"), "User")
    seen += h.act("pending_cancel", order="A2")
    seen += h.act("accept_cancel", order="A2")
    assert {to for to, _ in seen} == {"User"}
    assert [m[150] for _, m in seen] == ["0", "F", "E", "5", "I", "8", "6", "4"]
    assert {(m[1], m[18218]) for _, m in seen} == {("Acct1", "CUSTOMER A")}
    assert h.booked("A1") == ("12345", "Acct1", "CUSTOMER A")
    [(to, rej)] = h.send("F", cancel("A4", "A2", qty="20") + [(1, "Acct1")], "User")
    assert (to, rej[35], rej[434], rej[1]) == ("User", "9", "1", "Acct1")
    assert "too late" in rej[58]


@pytest.mark.parametrize("kind", ["cancel", "replace"])
def test_the_desks_cancel_reject_echoes_the_clients_account(kind):
    h = Books(config("worked"))
    h.send("D", order("A1", "Acct1"), "User")
    h.act("ack", order="A1")
    if kind == "cancel":
        h.send("F", cancel("A2", "A1") + [(1, "Acct1")], "User")
    else:
        h.send("G", replace("A2", "A1", "20", "101") + [(1, "Acct1")], "User")
    [(to, rej)] = h.act(f"reject_{kind}", order="A1")
    assert (to, rej[35], rej[11]) == ("User", "9", "A2")
    assert rej.get(1) == "Acct1"


# ---- 4. what everyone else sees -------------------------------------------------------------

def test_without_an_own_account_everyone_sees_the_tt_account():
    """An order mapped by 18219 alone (no Account to echo): every copy
    carries the TT account and the profile, none 18219."""
    h = Books(config(shared=True))
    out = h.send("D", order("A1", secondary="ClientUserAcct1"), "PM1")
    assert sorted(to for to, _ in out) == sorted(EVERYONE)
    assert {(m[150], m[1], m[18218]) for _, m in out} == {("0", "12345", "CUSTOMER A")}


def test_every_copy_of_a_report_with_an_echoed_account_is_well_formed():
    """Raw bytes: each recipient's copy has exactly one CheckSum (10), last."""
    h = Harness(config(shared=True))
    out = h.engine.submit(h.raw("D", order("A1", "Acct1"), "User"), "User", h.now)
    assert len(out) == len(EVERYONE)
    for to, data in out:
        fields = data.rstrip(b"\x01").split(b"\x01")
        assert [f for f in fields if f.startswith(b"10=")] == [fields[-1]], (to, data)
        parse(data)


@pytest.mark.parametrize("who, account, secondary, tt, profile", [
    ("User", "Acct1", None, "12345", "CUSTOMER A"),
    ("User", "Acct7", None, "A.111", None),
    ("User1", "Acct", None, "ABCDEF", "CUSTOMER A"),
    ("PM1", "123", "Firm1User1Acct", "ABCDEF", "CUSTOMER A"),
], ids=["exact", "wildcard", "firm1", "explicit"])
def test_others_see_the_tt_account_the_client_its_own(who, account, secondary, tt, profile):
    h = Books(config(shared=True))
    out = h.send("D", order("A1", account, secondary), who)
    assert sorted(to for to, _ in out) == sorted(EVERYONE)
    seen_by_all(out, who, account, tt, profile)


def test_every_report_to_others_carries_the_tt_account():
    """Worked mode, shared: ack, fill, replace, cancel to everyone; a status
    request by another user of the order book (37 + 11) gets the TT account."""
    h = Books(config("worked", shared=True))
    h.send("D", order("A1", "Acct1"), "User")
    seen = h.act("ack", order="A1")
    seen += h.act("fill", order="A1", qty="4", px="100")
    h.send("G", replace("A2", "A1", "20", "101") + [(1, "Acct1")], "User")
    seen += h.act("accept_replace", order="A1")
    oid = seen[0][1][37]
    [(to, st_)] = h.send("H", status("A2") + [(37, oid)], "ET3")
    assert (to, st_[150], st_[1], st_[18218]) == ("ET3", "I", "12345", "CUSTOMER A")
    h.send("F", cancel("A3", "A2", qty="20"), "User")
    seen += h.act("accept_cancel", order="A2")
    assert [m[150] for to, m in seen if to == "User"] == ["0", "F", "5", "4"]
    assert {m[1] for to, m in seen if to == "User"} == {"Acct1"}
    assert {m[1] for to, m in seen if to != "User"} == {"12345"}
    assert len([m for to, m in seen if to != "User"]) == 4 * (len(EVERYONE) - 1)


def test_a_trade_between_two_secondary_accounts():
    """Auto mode: User (Acct1 → 12345) buys from User1 (Acct → ABCDEF);
    each gets its own account on its fill, everyone else the TT accounts."""
    h = Books(config(shared=True))
    h.send("D", order("B1", "Acct1", qty="5"), "User")
    out = h.send("D", order("S1", "Acct", side="2", qty="5"), "User1")
    fills = [(to, m) for to, m in out if m[150] == "F"]
    assert len(fills) == 2 * len(EVERYONE)
    seen_by_all([f for f in fills if f[1][11] == "B1"], "User", "Acct1", "12345", "CUSTOMER A")
    seen_by_all([f for f in fills if f[1][11] == "S1"], "User1", "Acct", "ABCDEF", "CUSTOMER A")


# ---- 5. staged orders and their children --------------------------------------------------

def stage(h: Books, who: str = "PM1", account: str | None = None,
          secondary: str | None = "ClientUserAcct1") -> list:
    """``who`` stages S1 (INTERNAL; by default for ClientUserAcct1, with no
    Account of its own), ET1 claims it; what the staging sent."""
    out = h.send("D", order("S1", account, secondary, extra=[(21, "3"), (9100, "INTERNAL")],
                            qty="100", px="4500"), who)
    assert {m[150] for _, m in out} == {"0"}
    h.act("claim", order="S1", by="ET1")
    return out


def test_a_staged_order_of_a_secondary_user_is_mapped():
    """User stages without Account (1): its wild-card entry books it to
    A.111, for its whole desk; the claim report too."""
    h = Books(config(shared=True))
    out = h.send("D", order("S1", extra=[(21, "3"), (9100, "INTERNAL")], qty="100",
                            px="4500"), "User")
    assert sorted(to for to, _ in out) == sorted(DESK)
    assert {(m[150], m[21], m[1], m.get(18218)) for _, m in out} == {("0", "3", "A.111", None)}
    out = h.act("claim", order="S1", by="ET1")
    assert {(m[150], m[1]) for _, m in out} == {("D", "A.111")} and len(out) == len(DESK)


def test_a_staged_order_of_a_secondary_user_echoes_its_account_to_it_alone():
    h = Books(config(shared=True))
    out = h.send("D", order("S1", "Acct1", extra=[(21, "3"), (9100, "INTERNAL")], qty="100",
                            px="4500"), "User")
    assert sorted(to for to, _ in out) == sorted(DESK)
    seen_by_all(out, "User", "Acct1", "12345", "CUSTOMER A")


@pytest.mark.parametrize("secondary, profile, tt, customer", [
    (None, None, "DESK-A", "CUSTOMER A"),                  # the claimer's customer default; inherited
    ("Firm1User1Acct", None, "ABCDEF", "CUSTOMER A"),     # a secondary account of the broker's
    ("ClientUser*", None, "A.111", "CUSTOMER A"),         # its entry has no profile: inherited
    (None, "CUSTOMER B", "DESK-A", "CUSTOMER B"),         # another configured profile
    ("ClientUserAcct1", "CUSTOMER B", "12345", "CUSTOMER B"),
], ids=["default", "secondary", "secondary-no-profile", "profile", "both"])
def test_a_child_order_takes_its_account_and_profile(secondary, profile, tt, customer):
    h = Books(config(shared=True))
    staged = stage(h)
    assert {(m[1], m[18218]) for _, m in staged} == {("12345", "CUSTOMER A")}
    oid = staged[0][1][37]
    out = h.act("child", order="S1", by="ET1", clordid="C1", qty="30",
                secondary=secondary, profile=profile)
    acks = [(to, m) for to, m in out if m[11] == "C1"]
    assert sorted(to for to, _ in acks) == sorted(EVERYONE)
    assert {(m[150], m[1], m[18218], m[9101]) for _, m in acks} == {("0", tt, customer, oid)}
    assert h.booked("C1") == (tt, None, customer)


def test_a_child_of_a_staged_order_without_profile_has_none():
    h = Books(config(shared=True))
    stage(h, "PM1", "123", None)
    out = h.act("child", order="S1", by="ET1", clordid="C1", qty="30")
    assert {(m[1], m.get(18218)) for _, m in out} == {("DESK-A", None)}
    out = h.act("child", order="S1", by="ET1", clordid="C2", qty="30", secondary="ClientUserAcct1")
    assert {(m[1], m.get(18218)) for _, m in out} == {("12345", "CUSTOMER A")}


def test_a_secondary_claimers_child_is_not_mapped_by_the_rule():
    """ET1 with secondary accounts of its own (firm Desk, no entries): its
    own orders are rejected, its child orders take its customer-default
    account (the rule applies to a user's orders, not to children)."""
    cfg = config(shared=True)
    cfg["users"][1].update(firm="Desk", secondary_accounts=True)
    h = Books(cfg)
    stage(h, "PM1", "123", None)
    out = h.act("child", order="S1", by="ET1", clordid="C1", qty="30")
    assert {(m[150], m[1]) for _, m in out} == {("0", "DESK-A")}
    [(to, rej)] = h.send("D", order("X1", "DESK-A"), "ET1")
    assert (to, rej[150], rej[103]) == ("ET1", "8", "15")
    assert rej[58] == "no TT account is mapped to the secondary account DeskET1DESK-A"


@pytest.mark.parametrize("secondary, profile, text, reason", [
    ("Nope", None, "no TT account is mapped to the secondary account Nope", "15"),
    (None, "CUSTOMER Z", "no order profile is named CUSTOMER Z", None),
], ids=["unknown-secondary", "unknown-profile"])
def test_a_child_naming_an_unknown_account_or_profile_is_rejected(secondary, profile, text,
                                                                 reason):
    h = Books(config(shared=True))
    stage(h)
    [(to, rej)] = h.act("child", order="S1", by="ET1", clordid="C1", qty="30",
                        secondary=secondary, profile=profile)
    assert (to, rej[150], rej[39], rej[37], rej[58]) == ("ET1", "8", "8", "NONE", text)
    if reason:
        assert rej[103] == reason
    out = h.act("child", order="S1", by="ET1", clordid="C1", qty="100")   # nothing was worked
    assert {m[150] for _, m in out} == {"0"}


def test_a_childs_fill_is_the_staged_orders_for_its_audience_with_its_accounts():
    """Auto mode: ET3 sells against the child; the child's fill carries
    DESK-A for everyone; the staged order's fill goes to its desk with the
    staged order's TT account and profile."""
    h = Books(config(shared=True))
    stage(h)
    h.act("child", order="S1", by="ET1", clordid="C1", qty="30")
    out = h.send("D", order("X1", "BRK-A", side="2", qty="10", px="4500"), "ET3")
    child_fills = [(to, m) for to, m in out if m[11] == "C1" and m[150] == "F"]
    staged_fills = [(to, m) for to, m in out if m[11] == "S1" and m[150] == "F"]
    assert {(m[1], m[18218]) for _, m in child_fills} == {("DESK-A", "CUSTOMER A")}
    assert len(child_fills) == len(EVERYONE)
    assert sorted(to for to, _ in staged_fills) == sorted(DESK)
    assert {(m[1], m[18218], m[14], m[151]) for _, m in staged_fills} == \
        {("12345", "CUSTOMER A", "10", "90")}


# ---- 6. the configuration -------------------------------------------------------------------

def rows(*extra: dict[str, str]) -> dict[str, Any]:
    """SEED with ``extra`` entries after its three."""
    return merge(SEED, {"secondary": {"accounts": SEED["secondary"]["accounts"] + list(extra)}})


@pytest.mark.parametrize("table, entry, why", [
    (rows({"name": "X", "account": "NOPE"}), "secondary.accounts[3].account",
     "'NOPE' is not a configured account"),
    (rows({"name": "X", "account": "123", "profile": "CUSTOMER Z"}), "secondary.accounts[3].profile",
     "'CUSTOMER Z' is not a configured order profile"),
    (rows({"name": "ClientUserAcct1", "account": "123"}), "secondary.accounts[3].name",
     "'ClientUserAcct1' appears twice"),
    (rows({"name": "", "account": "123"}), "secondary.accounts[3].name", "is not a usable name"),
    ({"secondary": {"accounts": [{"name": "X"}]}}, "secondary.accounts[0]", "account"),
    ({"secondary": {"rule": "{firm}{user}{account}"}}, "secondary.rule", "{company}"),
    ({"secondary": {"rule": "{company}{account}{account}"}}, "secondary.rule", "(once)"),
    ({"secondary": {"rule": "{company}{user"}}, "secondary.rule", "{company}{user"),
    ({"order_profiles": [{"name": "CUSTOMER A"}, {"name": "CUSTOMER A"}]},
     "order_profiles[1].name", "appears twice"),
    (merge(SEED, {"order_profiles": [{"name": "CUSTOMER B"}]}), "secondary.accounts[1].profile",
     "'CUSTOMER A' is not a configured order profile"),
    ({"users": [{"name": "U", "secondary_accounts": "yes"}]}, "users[0].secondary_accounts", ""),
], ids=["unknown-account", "unknown-profile", "duplicate-name", "empty-name", "no-account",
        "unknown-field", "account-twice", "malformed-rule", "duplicate-profile",
        "profile-removed", "flag-type"])
def test_configuration_refusals_name_the_entry(table, entry, why):
    with pytest.raises(ConfigError) as exc:
        load(table)
    assert exc.value.entry == entry, str(exc.value)
    assert why in exc.value.why
    with pytest.raises(ConfigError):
        Engine(table)


def test_seed_001s_table_loads():
    cfg = load(SEED)
    assert cfg.secondary.rule == "{company}{user}{account}"
    assert [(m.name, m.account, m.profile or None) for m in cfg.secondary.accounts] == SEED_ROWS


# ---- 7. the lookup against a reference model --------------------------------------------------

FIRMS = ["Client", "Firm1"]
NAMES = ["User", "User1"]
ACCOUNTS = ["Acct", "Acct1", "9"]
TT = ["A.111", "12345", "ABCDEF", "123"]
POOL = sorted({f + n + a for f in FIRMS for n in NAMES for a in ACCOUNTS + ["*"]})


@settings(max_examples=200)
@given(table=st.dictionaries(st.sampled_from(POOL),
                             st.tuples(st.sampled_from(TT), st.sampled_from(["", "CUSTOMER A"])),
                             max_size=8),
       firm=st.sampled_from(FIRMS), name=st.sampled_from(NAMES),
       mapped=st.booleans(), wildcard=st.booleans(),
       account=st.none() | st.sampled_from(ACCOUNTS),
       secondary=st.none() | st.sampled_from(POOL))
def test_booking_matches_a_reference_lookup(table, firm, name, mapped, wildcard, account,
                                            secondary):
    """For any table, user and order: the exact name (18219, or the rule's
    for a secondary user), then the wild-card name for a wild-card user,
    else a reject naming what was tried; a user without secondary accounts
    and no 18219 books to its Account (1) as it is."""
    users = [{"name": name, "firm": firm, "secondary_accounts": mapped,
              "wildcard_accounts": wildcard}]
    entries = [{"name": k, "account": a, "profile": p} for k, (a, p) in sorted(table.items())]
    h = Books({"mode": "auto", "users": users,
               "accounts": [{"name": a} for a in TT + ACCOUNTS],
               "order_profiles": [{"name": "CUSTOMER A"}],
               "secondary": {"rule": "{company}{user}{account}", "accounts": entries}})
    # the reference
    tried: list[str] = []
    if secondary is not None:
        tried = [secondary]
    elif mapped:
        tried = [firm + name + (account or "")] + ([firm + name + "*"] if wildcard else [])
    hit = next((table[t] for t in tried if t in table), None)
    if tried and hit is None:
        assert_rejected(h, name, account, secondary,
                        "no TT account is mapped to the secondary account " + " or ".join(tried))
    elif hit is None:                            # not mapped: Account (1) as it is (or the user's)
        [(_, ack)] = h.send("D", order("A1", account, secondary), name)
        assert (ack[150], ack.get(1), ack.get(18218)) == ("0", account, None)
        assert h.booked("A1") == (account or name, None, None)
    else:
        accepted(h, name, "A1", account, hit[0], hit[1] or None, secondary=secondary)


# ---- 8. over the real server: the order sessions and the drop copy ------------------------------

def received(client) -> list:
    client.sync()
    return client.take()


def _over_the_server(server, extra):
    """PM1 sends an order for ClientUserAcct1 (with ``extra``); ET3 and the
    drop copy DC1 are logged on. What each received."""
    dc, pm, et = server.fix("DC1"), server.fix("PM1"), server.fix("ET3")
    try:
        pm.send("D", [(11, "A1"), (18219, "ClientUserAcct1"), (55, "ESZ6"), (54, "1"),
                      (38, "5"), (40, "2"), (44, "100"), (59, "0"),
                      (60, "20261121-09:30:00")] + extra)
        return received(pm), received(et), received(dc)
    finally:
        for c in (dc, pm, et):
            c.close()


@pytest.mark.server_config(SEED)
def test_server_sessions_and_drop_copy_see_the_tt_account_never_18219(server):
    pm, et, dc = _over_the_server(server, [])
    assert [(m.get_str(11), m.get_str(1)) for m in pm + et] == [("A1", "12345")] * 2
    assert sorted(m.get_str(128) for m in dc) == ["ET1", "ET2", "ET3", "ET4", "PM1"]
    for m in pm + et + dc:
        assert 18219 not in m
        assert (m.get_str(1), m.get_str(18218)) == ("12345", "CUSTOMER A")


@pytest.mark.server_config(SEED)
def test_server_owner_gets_its_account_others_the_tt_account(server):
    pm, et, dc = _over_the_server(server, [(1, "123")])
    assert [m.get_str(1) for m in pm] == ["123"]
    assert [m.get_str(1) for m in et] == ["12345"]
    assert len(dc) == 5
    assert {m.get_str(1) for m in dc if m.get_str(128) != "PM1"} == {"12345"}


@pytest.mark.server_config({**SEED, "users": [{"name": u["name"]} for u in default_table()["users"]]})
def test_server_drop_copy_is_a_copy_of_the_owners_report(server):
    """PM1 trading alone: one report, to PM1 (its own account back) and its
    one copy on DC1: a drop copy copies what each session of its firms was
    sent (DeliverToCompID the session), so the owner's copy shows the
    client's own account; the TT account is on the copies of the other
    sessions' reports (test_server_owner_gets_its_account_others_the_tt_account)."""
    pm, et, dc = _over_the_server(server, [(1, "123")])
    assert [m.get_str(1) for m in pm] == ["123"] and et == []
    assert [m.get_str(128) for m in dc] == ["PM1"]
    assert 18219 not in dc[0]
    assert dc[0].get_str(1) == "123" and dc[0].get_str(18218) == "CUSTOMER A"
