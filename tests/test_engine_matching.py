"""Auto mode: the engine works orders through its books. Both sides of every
trade hear of it, the instrument's rules reject with a reason that names
them, replaces keep or lose priority as they should, self-trade prevention
follows the account, and desk commands keep the book in step."""
from __future__ import annotations

import pytest

from harness import PX, QTY, Harness, cancel, nos, replace


def book(h, symbol="ESZ6"):
    return h.engine.books[h.engine.symbols.index(symbol.encode())]


def sell(h, clordid, qty, px, who="ET1", **kw):
    return h.send("D", nos(clordid, side="2", qty=qty, px=px, **kw), who)


def test_a_trade_reaches_both_sides_with_their_own_exec_ids():
    h = Harness()
    sell(h, "S", "5", "100.25")
    out = h.send("D", nos("B", qty="3", px="100.5"))
    assert [(to, m[11], m[150], m[39]) for to, m in out] == [
        ("PM1", "B", "0", "0"), ("PM1", "B", "F", "2"), ("ET1", "S", "F", "1")]
    taker, maker = out[1][1], out[2][1]
    assert (taker[32], taker[31], taker[14], taker[151], taker[6]) == ("3", "100.25", "3", "0", "100.25")
    assert (maker[32], maker[31], maker[14], maker[151]) == ("3", "100.25", "3", "2")
    assert taker[17] != maker[17]
    b = book(h)
    assert (b.best_bid, b.best_ask, b.ask_qty, len(b)) == (None, 100_25 * PX // 100, 2 * QTY, 1)
    b.validate()


def test_price_then_time_priority_across_sessions():
    h = Harness()
    sell(h, "A", "2", "101", who="ET1")
    sell(h, "B", "2", "100.75", who="ET2")
    sell(h, "C", "2", "100.75", who="ET3")
    out = h.send("D", nos("T", qty="5", px="101"))
    fills = [(to, m[11], m[32], m[31]) for to, m in out if m[150] == "F" and to != "PM1"]
    assert fills == [("ET2", "B", "2", "100.75"), ("ET3", "C", "2", "100.75"), ("ET1", "A", "1", "101")]
    assert out[-2][1][6] == "100.8"                       # (2×100.75 + 2×100.75 + 1×101) / 5


def test_market_order_sweeps_and_cancels_the_rest():
    h = Harness()
    sell(h, "A", "2", "100")
    sell(h, "B", "2", "100.5")
    out = h.send("D", nos("M", qty="6", ord_type="1", px=None))
    mine = [(m[150], m.get(32), m.get(31), m[151]) for to, m in out if to == "PM1"]
    assert mine == [("0", None, None, "6"), ("F", "2", "100", "4"), ("F", "2", "100.5", "2"),
                    ("4", None, None, "0")]
    assert len(book(h)) == 0


@pytest.mark.parametrize("field, value, reason, rule", [
    ("px", "100.1", "99", "tick:"),
    ("qty", "2.5", "13", "lot:"),
    ("qty", "10001", "13", "max_qty:"),
])
def test_rules_reject_and_name_the_rule(field, value, reason, rule):
    h = Harness()
    msg = h.one("D", nos("R", **{field: value}))
    assert (msg[150], msg[39], msg[103]) == ("8", "8", reason)
    assert msg[58].startswith(rule)
    assert len(book(h)) == 0 and h.engine.orders().size == 0


def test_band_and_min_qty_from_the_configuration():
    h = Harness({"instruments": [{"symbol": "ESZ6", "tick": 0.25, "min_qty": 2,
                                  "band": 50, "ref_price": 6000}]})
    msg = h.one("D", nos("R1", px="5949.75"))
    assert (msg[103], msg[58]) == ("99", "band: price 5949.75 is more than 50 from the reference 6000")
    msg = h.one("D", nos("R2", qty="1", px="6000"))
    assert (msg[103], msg[58]) == ("13", "min_qty: quantity 1 is below 2")
    assert h.one("D", nos("OK", px="6050"))[150] == "0"


def test_a_decrease_keeps_priority_an_increase_loses_it():
    h = Harness()
    sell(h, "A", "5", "100")
    sell(h, "B", "5", "100", who="ET2")
    out = h.send("G", replace("A2", "A", "3", "100", side="2"), "ET1")
    assert [(m[150], m[151]) for _, m in out] == [("5", "3")]
    out = h.send("D", nos("T1", qty="1", px="100"))
    assert [m[11] for to, m in out if to != "PM1"] == ["A2"]          # A kept its place
    h.send("G", replace("A3", "A2", "6", "100", side="2"), "ET1")     # more: to the back
    out = h.send("D", nos("T2", qty="1", px="100"))
    assert [m[11] for to, m in out if to != "PM1"] == ["B"]
    book(h).validate()


def test_a_marketable_replace_trades_after_its_replaced_report():
    h = Harness()
    h.send("D", nos("B", qty="4", px="99"))
    sell(h, "S", "3", "101")
    out = h.send("G", replace("S2", "S", "3", "99", side="2"), "ET1")
    assert [(to, m[11], m[150]) for to, m in out] == [
        ("ET1", "S2", "5"), ("ET1", "S2", "F"), ("PM1", "B", "F")]
    assert out[1][1][31] == "99" and out[1][1][39] == "2"
    assert len(book(h)) == 1 and book(h).bid_qty == 1 * QTY


def test_replace_refused_by_a_rule_leaves_the_order_as_it_was():
    h = Harness()
    sell(h, "S", "3", "101")
    out = h.send("G", replace("S2", "S", "3", "101.1", side="2"), "ET1")
    assert [(m[35], m[434], m[102]) for _, m in out] == [("9", "2", "99")]
    assert out[0][1][58].startswith("tick:")
    out = h.send("G", replace("S3", "S", "3", "101", side="2", tif="3"), "ET1")
    assert out[0][1][35] == "9" and "resting limit order" in out[0][1][58]
    assert book(h).ask_qty == 3 * QTY and h.engine.order_state("S") == "New"


def test_cancel_takes_the_order_out_of_the_book():
    h = Harness()
    sell(h, "S", "3", "101")
    out = h.send("F", cancel("C", "S", side="2", qty="3"), "ET1")
    assert [(m[150], m[39]) for _, m in out] == [("4", "4")]
    assert len(book(h)) == 0
    assert h.send("D", nos("B", qty="3", px="101"))[-1][1][150] == "0"   # nothing to hit


@pytest.mark.parametrize("mode, resting, incoming", [
    ("cancel_resting", "canceled", "rests"),
    ("cancel_incoming", "rests", "canceled"),
    ("cancel_both", "canceled", "canceled"),
])
def test_self_trade_prevention_per_account(mode, resting, incoming):
    h = Harness({"matching": {"self_trade": {"ACC1": mode, "*": "none"}}})
    sell(h, "S", "2", "100", extra=[(1, "ACC1")])
    out = h.send("D", nos("B", qty="2", px="100", extra=[(1, "ACC1")]), "ET2")
    got = {m[11]: m for _, m in out if m[150] == "4"}
    assert ("S" in got) == (resting == "canceled") and ("B" in got) == (incoming == "canceled")
    assert all(m[58] == "self-trade prevention" for m in got.values())
    assert not any(m[150] == "F" for _, m in out)
    b = book(h)
    assert (b.ask_qty > 0) == (resting == "rests") and (b.bid_qty > 0) == (incoming == "rests")
    # another account trades with the resting order as usual
    if resting == "rests":
        out = h.send("D", nos("B2", qty="2", px="100", extra=[(1, "ACC2")]), "ET2")
        assert [m[150] for _, m in out] == ["0", "F", "F"]


def test_an_order_without_account_is_its_users_for_self_trade():
    h = Harness({"matching": {"self_trade": {"*": "cancel_resting"}}})
    sell(h, "S", "2", "100")
    out = h.send("D", nos("B", qty="2", px="100"), "ET1")
    assert [(m[11], m[150]) for _, m in out] == [("B", "0"), ("S", "4")]
    out = h.send("D", nos("B2", qty="2", px="101"), "ET2")   # another user
    assert [(m[11], m[150]) for _, m in out] == [("B2", "0")]  # no ask left; it rests


def test_desk_commands_keep_the_book_in_step():
    h = Harness()
    sell(h, "S", "5", "100")
    h.act("fill", order="S", qty="2", px="100")             # a fill away from the book
    assert book(h).ask_qty == 3 * QTY
    h.act("restate", order="S", reason="1", px="100.5")     # a new price: to that level
    assert book(h).best_ask == 100_50 * PX // 100
    h.act("cancel", order="S")
    assert len(book(h)) == 0
    book(h).validate()


def test_new_day_expires_day_orders_in_the_book_and_keeps_gtc():
    h = Harness()
    sell(h, "DAY", "1", "100")
    sell(h, "GTC", "1", "100.25", tif="1")
    out = h.act("new_day")
    assert [(m[11], m[150]) for _, m in out] == [("DAY", "C")]
    b = book(h)
    assert (len(b), b.best_ask) == (1, 100_25 * PX // 100)


def test_halt_queue_and_book_market_data():
    h = Harness({"matching": {"when_halted": "queue"}})
    sell(h, "S", "2", "100")
    h.act("halt", symbol="ESZ6")
    out = h.send("D", nos("B", qty="3", px="100"))
    assert [(m[150], m[39]) for _, m in out] == [("0", "0")]   # accepted, waiting
    assert book(h).queued == 1 and book(h).bid_qty == 0
    out = h.act("resume", symbol="ESZ6")
    assert [(to, m[11], m[150]) for to, m in out] == [("PM1", "B", "F"), ("ET1", "S", "F")]
    bids, asks = book(h).depth(5)
    assert bids.tolist() == [(100 * PX, 1 * QTY, 1)] and asks.tolist() == []
    tops = book(h).top_updates()
    assert tops[-1].tolist()[1:] == (100 * PX, 1 * QTY, 0, 0)


def test_the_same_input_gives_the_same_bytes():
    def run():
        h = Harness()
        for i in range(40):
            side, px = ("1", 100 - i % 3 * 0.25) if i % 2 else ("2", 99.75 + i % 4 * 0.25)
            h.send("D", nos(f"O{i}", side=side, qty=str(1 + i % 5), px=str(px),
                            tif="3" if i % 7 == 0 else "0"), ["ET1", "ET2", "PM1"][i % 3])
        return h.wire
    assert run() == run()


def test_a_cancel_for_an_order_filled_meanwhile_is_refused_too_late():
    h = Harness()
    sell(h, "S", "5", "100", who="PM1")
    h.send("D", nos("B", qty="5", px="100"), "ET1")          # fills S
    out = h.send("F", cancel("C", "S", side="2", qty="5"), "PM1")
    assert [(to, m[35], m[11], m[434], m[102], m[39]) for to, m in out] == [
        ("PM1", "9", "C", "1", "0", "2")]
    assert out[0][1][58].startswith("too late: the order is")


def test_a_replace_that_reopens_a_filled_order_puts_what_is_left_in_the_book():
    h = Harness()
    sell(h, "S", "5", "100", who="PM1")
    h.send("D", nos("B", qty="5", px="100"), "ET1")
    out = h.send("G", replace("R", "S", "7", "100", side="2"), "PM1")
    assert [(m[150], m[39], m[14], m[151]) for to, m in out] == [("5", "1", "5", "2")]
    assert (book(h).best_ask, book(h).ask_qty) == (100 * PX, 2 * QTY)
    out = h.send("D", nos("B2", qty="5", px="100"), "ET1")
    assert [(to, m[11], m[150], m[39], m.get(32)) for to, m in out if m[150] == "F"] == [
        ("ET1", "B2", "F", "1", "2"), ("PM1", "R", "F", "2", "2")]
    book(h).validate()
