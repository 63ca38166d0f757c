"""The reference order book (tests/reference/book.py) on small examples worked
by hand from the book's contract: every test asserts the exact events.

Prices and quantities are small ints (tick 1, lot 1) unless a test is about
the rules, which use the fixed-point scales of the contract.
"""

from __future__ import annotations

import pytest

from fastcore.errors import BookCorrupted

from reference.book import (
    BUY, CANCEL_ON_HALT, DAY, E_ARG, E_BAND, E_HALTED, E_LOT, E_MAX_QTY, E_MIN_QTY,
    E_QTY, E_STATE, E_TICK, E_UNKNOWN, EV_CANCEL, EV_FILL, EV_MODIFY, EV_QUEUE, EV_REST,
    FOK, GTC, GTD, IOC, MARKET, OK, R_FOK, R_HALT, R_IOC, R_MARKET, R_STP, R_USER,
    SELL, STP_CANCEL_BOTH, STP_CANCEL_INCOMING, STP_CANCEL_RESTING, STP_NONE, Book,
)
import reference.book as ref

P, Q = 10**8, 10**4                 # PX_DIGITS, QTY_DIGITS


def fill(side, id, other, price, qty, leaves, other_leaves):
    return (EV_FILL, 0, side, id, other, price, qty, leaves, other_leaves)


def rest(side, id, price, qty):
    return (EV_REST, 0, side, id, 0, price, qty, qty, 0)


def cancel(reason, side, id, price, qty):
    return (EV_CANCEL, reason, side, id, 0, price, qty, 0, 0)


def modify(side, id, price, qty):
    return (EV_MODIFY, 0, side, id, 0, price, qty, qty, 0)


def queued(side, id, price, qty):
    return (EV_QUEUE, 0, side, id, 0, price, qty, qty, 0)


def place(book, *orders):
    """Rest each (id, side, price, qty, **kw) order; their handles."""
    handles = []
    for id, side, price, qty, *kw in orders:
        h = book.new_order(id, side, price, qty, **(kw[0] if kw else {}))
        assert h > 0 and book.events() == [rest(side, id, price, qty)]
        handles.append(h)
    return handles


def test_constants():
    assert (ref.BUY, ref.SELL, ref.MARKET, ref.LIMIT) == (1, 2, 1, 2)
    assert (ref.DAY, ref.GTC, ref.IOC, ref.FOK, ref.GTD) == (0, 1, 3, 4, 6)
    assert (ref.STP_NONE, ref.STP_CANCEL_RESTING, ref.STP_CANCEL_INCOMING,
            ref.STP_CANCEL_BOTH) == (0, 1, 2, 3)
    assert ref.CANCEL_ON_HALT == 1
    assert [ref.E_UNKNOWN, ref.E_ARG, ref.E_QTY, ref.E_TICK, ref.E_LOT, ref.E_MIN_QTY,
            ref.E_MAX_QTY, ref.E_BAND, ref.E_HALTED, ref.E_STATE,
            ref.E_MEMORY] == list(range(-1, -12, -1))
    assert [ref.EV_FILL, ref.EV_REST, ref.EV_CANCEL, ref.EV_MODIFY,
            ref.EV_QUEUE] == [1, 2, 3, 4, 5]
    assert [ref.R_USER, ref.R_IOC, ref.R_FOK, ref.R_MARKET, ref.R_STP,
            ref.R_HALT] == [1, 2, 3, 4, 5, 6]
    assert [ref.OP_NEW, ref.OP_CANCEL, ref.OP_REPLACE, ref.OP_HALT, ref.OP_RESUME] == [1, 2, 3, 4, 5]
    for code, name in [(E_TICK, "tick"), (E_LOT, "lot"), (E_MIN_QTY, "min_qty"),
                       (E_MAX_QTY, "max_qty"), (E_BAND, "band"), (E_HALTED, "halted")]:
        assert ref.RULES[code] == name


# ---- matching ---------------------------------------------------------------

def test_price_then_time_priority():
    book = Book()
    h1, h2, h3 = place(book, (1, SELL, 101, 5), (2, SELL, 100, 5), (3, SELL, 100, 5))
    assert book.new_order(4, BUY, 101, 12) == 0
    assert book.events() == [
        fill(BUY, 4, 2, 100, 5, 7, 0),
        fill(BUY, 4, 3, 100, 5, 2, 0),
        fill(BUY, 4, 1, 101, 2, 0, 3),
    ]
    assert book.order(h1) == (1, SELL, 101, 3)
    assert book.order(h2) is None and book.order(h3) is None
    assert len(book) == 1
    assert book.depth() == ([], [(101, 3, 1)])


def test_a_taker_stops_at_its_limit_and_its_remainder_rests():
    book = Book()
    place(book, (1, SELL, 100, 4), (2, SELL, 102, 4))
    h = book.new_order(3, BUY, 101, 10)
    assert h > 0
    assert book.events() == [fill(BUY, 3, 1, 100, 4, 6, 0), rest(BUY, 3, 101, 6)]
    assert book.order(h) == (3, BUY, 101, 6)
    assert (book.best_bid, book.bid_qty, book.best_ask, book.ask_qty) == (101, 6, 102, 4)


def test_a_partly_filled_maker_keeps_its_place():
    book = Book()
    place(book, (1, SELL, 100, 5), (2, SELL, 100, 5))
    assert book.new_order(10, BUY, 100, 3) == 0
    assert book.events() == [fill(BUY, 10, 1, 100, 3, 0, 2)]
    assert book.new_order(11, BUY, 100, 4) == 0
    assert book.events() == [fill(BUY, 11, 1, 100, 2, 2, 0), fill(BUY, 11, 2, 100, 2, 0, 3)]


def test_a_sell_taker_takes_the_highest_bids_first():
    book = Book()
    place(book, (1, BUY, 99, 2), (2, BUY, 100, 2), (3, BUY, 98, 2))
    assert book.new_order(4, SELL, 99, 5) > 0
    assert book.events() == [
        fill(SELL, 4, 2, 100, 2, 3, 0),
        fill(SELL, 4, 1, 99, 2, 1, 0),
        rest(SELL, 4, 99, 1),
    ]
    assert book.depth() == ([(98, 2, 1)], [(99, 1, 1)])


def test_prices_may_be_zero_or_negative():
    book = Book(tick=5)
    place(book, (1, SELL, -10, 2), (2, SELL, 0, 2))
    assert book.new_order(3, BUY, -12, 1) == E_TICK
    assert book.new_order(3, BUY, 0, 3) == 0
    assert book.events() == [fill(BUY, 3, 1, -10, 2, 1, 0), fill(BUY, 3, 2, 0, 1, 0, 1)]
    assert book.new_order(4, BUY, -5, 1) > 0
    assert (book.best_bid, book.best_ask) == (-5, 0)


@pytest.mark.parametrize("tif", [DAY, GTC, IOC, GTD])
def test_market_order_remainder_is_canceled_whatever_its_tif(tif):
    book = Book(tick=5)
    place(book, (1, SELL, 100, 4), (2, SELL, 300, 1))
    # The price of a market order is ignored: not checked, 0 in its events.
    assert book.new_order(5, BUY, 7, 10, ord_type=MARKET, tif=tif) == 0
    assert book.events() == [
        fill(BUY, 5, 1, 100, 4, 6, 0),
        fill(BUY, 5, 2, 300, 1, 5, 0),
        cancel(R_MARKET, BUY, 5, 0, 5),
    ]
    assert len(book) == 0


def test_market_order_into_an_empty_side():
    book = Book()
    place(book, (1, BUY, 100, 4))
    assert book.new_order(2, BUY, 0, 3, ord_type=MARKET) == 0
    assert book.events() == [cancel(R_MARKET, BUY, 2, 0, 3)]
    assert book.new_order(3, SELL, 0, 3, ord_type=MARKET) == 0
    assert book.events() == [fill(SELL, 3, 1, 100, 3, 0, 1)]


def test_ioc_remainder_is_canceled():
    book = Book()
    place(book, (1, SELL, 100, 4), (2, SELL, 102, 4))
    assert book.new_order(9, BUY, 101, 10, tif=IOC) == 0
    assert book.events() == [fill(BUY, 9, 1, 100, 4, 6, 0), cancel(R_IOC, BUY, 9, 101, 6)]
    assert book.new_order(10, BUY, 102, 3, tif=IOC) == 0
    assert book.events() == [fill(BUY, 10, 2, 102, 3, 0, 1)]
    assert book.new_order(11, BUY, 101, 3, tif=IOC) == 0
    assert book.events() == [cancel(R_IOC, BUY, 11, 101, 3)]
    assert book.depth() == ([], [(102, 1, 1)])


# ---- fill or kill --------------------------------------------------------------

def test_fok_is_all_or_none():
    book = Book()
    place(book, (1, SELL, 100, 4), (2, SELL, 101, 4), (3, SELL, 102, 4))
    before = book.depth()
    assert book.new_order(9, BUY, 101, 9, tif=FOK) == 0          # 8 within its limit
    assert book.events() == [cancel(R_FOK, BUY, 9, 101, 9)]
    assert book.depth() == before
    assert book.new_order(10, BUY, 101, 8, tif=FOK) == 0
    assert book.events() == [fill(BUY, 10, 1, 100, 4, 4, 0), fill(BUY, 10, 2, 101, 4, 0, 0)]
    assert book.new_order(11, BUY, 0, 5, ord_type=MARKET, tif=FOK) == 0
    assert book.events() == [cancel(R_FOK, BUY, 11, 0, 5)]
    assert book.new_order(12, BUY, 0, 4, ord_type=MARKET, tif=FOK) == 0
    assert book.events() == [fill(BUY, 12, 3, 102, 4, 0, 0)]


def test_fok_check_skips_own_orders_under_cancel_resting():
    book = Book()
    place(book, (1, SELL, 100, 4, {"account": 7}), (2, SELL, 100, 4), (3, SELL, 101, 4))
    before = book.depth()
    kw = {"tif": FOK, "account": 7, "stp": STP_CANCEL_RESTING}
    assert book.new_order(9, BUY, 101, 9, **kw) == 0              # 12 offered, 8 counted
    assert book.events() == [cancel(R_FOK, BUY, 9, 101, 9)]
    assert book.depth() == before                                 # the check cancels nothing
    assert book.new_order(10, BUY, 101, 8, **kw) == 0
    assert book.events() == [
        cancel(R_STP, SELL, 1, 100, 4),
        fill(BUY, 10, 2, 100, 4, 4, 0),
        fill(BUY, 10, 3, 101, 4, 0, 0),
    ]


@pytest.mark.parametrize("stp", [STP_CANCEL_INCOMING, STP_CANCEL_BOTH])
def test_fok_check_stops_at_own_order_under_cancel_incoming_or_both(stp):
    book = Book()
    place(book, (1, SELL, 100, 4), (2, SELL, 100, 4, {"account": 7}), (3, SELL, 101, 4))
    kw = {"tif": FOK, "account": 7, "stp": stp}
    assert book.new_order(9, BUY, 101, 5, **kw) == 0              # 12 offered, 4 before own
    assert book.events() == [cancel(R_FOK, BUY, 9, 101, 5)]
    assert book.new_order(10, BUY, 101, 4, **kw) == 0
    assert book.events() == [fill(BUY, 10, 1, 100, 4, 0, 0)]
    assert book.depth() == ([], [(100, 4, 1), (101, 4, 1)])


def test_fok_counts_own_orders_without_stp():
    book = Book()
    place(book, (1, SELL, 100, 4, {"account": 7}), (2, SELL, 101, 4))
    assert book.new_order(9, BUY, 101, 8, tif=FOK, account=7) == 0
    assert book.events() == [fill(BUY, 9, 1, 100, 4, 4, 0), fill(BUY, 9, 2, 101, 4, 0, 0)]


# ---- self-trade prevention ----------------------------------------------------

def test_stp_cancel_resting_removes_own_makers_and_goes_on():
    book = Book()
    place(book, (1, SELL, 100, 3, {"account": 7}), (2, SELL, 100, 3, {"account": 5}),
          (3, SELL, 101, 3, {"account": 7}))
    h = book.new_order(9, BUY, 101, 5, account=7, stp=STP_CANCEL_RESTING)
    assert h > 0
    assert book.events() == [
        cancel(R_STP, SELL, 1, 100, 3),
        fill(BUY, 9, 2, 100, 3, 2, 0),
        cancel(R_STP, SELL, 3, 101, 3),
        rest(BUY, 9, 101, 2),
    ]
    assert book.depth() == ([(101, 2, 1)], [])


def stp_book():
    book = Book()
    place(book, (1, SELL, 100, 3, {"account": 5}), (2, SELL, 100, 3, {"account": 7}),
          (3, SELL, 101, 3, {"account": 5}))
    return book


def test_stp_cancel_incoming_cancels_the_taker_remainder():
    book = stp_book()
    assert book.new_order(9, BUY, 101, 5, account=7, stp=STP_CANCEL_INCOMING) == 0
    assert book.events() == [fill(BUY, 9, 1, 100, 3, 2, 0), cancel(R_STP, BUY, 9, 101, 2)]
    assert book.depth() == ([], [(100, 3, 1), (101, 3, 1)])


def test_stp_cancel_both_cancels_maker_then_taker():
    book = stp_book()
    assert book.new_order(9, BUY, 101, 5, account=7, stp=STP_CANCEL_BOTH) == 0
    assert book.events() == [
        fill(BUY, 9, 1, 100, 3, 2, 0),
        cancel(R_STP, SELL, 2, 100, 3),
        cancel(R_STP, BUY, 9, 101, 2),
    ]
    assert book.depth() == ([], [(101, 3, 1)])


def test_stp_market_taker_is_canceled_at_price_zero():
    book = stp_book()
    assert book.new_order(9, BUY, 0, 5, ord_type=MARKET, account=7,
                          stp=STP_CANCEL_INCOMING) == 0
    assert book.events() == [fill(BUY, 9, 1, 100, 3, 2, 0), cancel(R_STP, BUY, 9, 0, 2)]


@pytest.mark.parametrize("taker, maker", [
    ({"account": 7, "stp": STP_NONE}, {"account": 7, "stp": STP_CANCEL_BOTH}),
    ({"account": 0, "stp": STP_CANCEL_BOTH}, {"account": 0}),
    ({"account": 7, "stp": STP_CANCEL_BOTH}, {"account": 5}),
], ids=["taker-without-stp", "account-zero", "other-account"])
def test_no_stp_without_mode_account_or_match(taker, maker):
    book = Book()
    place(book, (1, SELL, 100, 3, maker))
    assert book.new_order(9, BUY, 100, 3, **taker) == 0
    assert book.events() == [fill(BUY, 9, 1, 100, 3, 0, 0)]


# ---- cancel and replace ---------------------------------------------------------

def test_cancel_order():
    book = Book()
    h, = place(book, (1, BUY, 100, 5))
    assert book.new_order(2, SELL, 100, 2) == 0
    assert book.cancel_order(h) == OK
    assert book.events() == [cancel(R_USER, BUY, 1, 100, 3)]
    assert book.cancel_order(h) == E_UNKNOWN
    assert book.events() == []
    assert book.cancel_order(0) == E_UNKNOWN
    assert len(book) == 0


def test_in_place_decrease_keeps_priority():
    book = Book()
    h1, h2 = place(book, (1, BUY, 100, 5), (2, BUY, 100, 5))
    assert book.replace_order(h1, 100, 3) == h1
    assert book.events() == [modify(BUY, 1, 100, 3)]
    assert book.replace_order(h1, 100, 3) == h1                  # the same leaves: in place too
    assert book.events() == [modify(BUY, 1, 100, 3)]
    assert book.level(BUY, 100) == (8, 2)
    assert book.new_order(3, SELL, 100, 4) == 0
    assert book.events() == [fill(SELL, 3, 1, 100, 3, 1, 0), fill(SELL, 3, 2, 100, 1, 0, 4)]


def test_increase_loses_priority():
    book = Book()
    h1, h2 = place(book, (1, BUY, 100, 5), (2, BUY, 100, 5))
    assert book.replace_order(h1, 100, 6) == h1
    assert book.events() == [modify(BUY, 1, 100, 6), rest(BUY, 1, 100, 6)]
    assert book.new_order(3, SELL, 100, 6) == 0
    assert book.events() == [fill(SELL, 3, 2, 100, 5, 1, 0), fill(SELL, 3, 1, 100, 1, 0, 5)]


def test_price_move_loses_priority():
    book = Book()
    h1, h2 = place(book, (1, BUY, 100, 5), (2, BUY, 100, 5))
    assert book.replace_order(h1, 99, 2) == h1                   # a decrease, but moved
    assert book.events() == [modify(BUY, 1, 99, 2), rest(BUY, 1, 99, 2)]
    assert book.depth() == ([(100, 5, 1), (99, 2, 1)], [])
    assert book.replace_order(h1, 100, 2) == h1
    assert book.events() == [modify(BUY, 1, 100, 2), rest(BUY, 1, 100, 2)]
    assert book.new_order(3, SELL, 100, 6) == 0
    assert book.events() == [fill(SELL, 3, 2, 100, 5, 1, 0), fill(SELL, 3, 1, 100, 1, 0, 1)]
    assert book.order(h1) == (1, BUY, 100, 1)


def test_marketable_replace_trades_then_rests():
    book = Book()
    h, = place(book, (1, BUY, 100, 5))
    place(book, (5, SELL, 101, 2), (6, SELL, 102, 2), (7, SELL, 103, 2))
    assert book.replace_order(h, 102, 5) == h
    assert book.events() == [
        modify(BUY, 1, 102, 5),
        fill(BUY, 1, 5, 101, 2, 3, 0),
        fill(BUY, 1, 6, 102, 2, 1, 0),
        rest(BUY, 1, 102, 1),
    ]
    assert book.order(h) == (1, BUY, 102, 1)
    assert book.replace_order(h, 103, 2) == 0                     # traded in full
    assert book.events() == [modify(BUY, 1, 103, 2), fill(BUY, 1, 7, 103, 2, 0, 0)]
    assert book.order(h) is None
    assert book.cancel_order(h) == E_UNKNOWN
    assert book.replace_order(h, 103, 2) == E_UNKNOWN
    assert len(book) == 0


@pytest.mark.parametrize("stp, events, asks", [
    (STP_CANCEL_RESTING, [cancel(R_STP, SELL, 5, 101, 2), rest(BUY, 1, 101, 5)], []),
    (STP_CANCEL_INCOMING, [cancel(R_STP, BUY, 1, 101, 5)], [(101, 2, 1)]),
    (STP_CANCEL_BOTH, [cancel(R_STP, SELL, 5, 101, 2), cancel(R_STP, BUY, 1, 101, 5)], []),
])
def test_marketable_replace_applies_its_own_stp(stp, events, asks):
    book = Book()
    h, = place(book, (1, BUY, 100, 5, {"account": 7, "stp": stp}))
    place(book, (5, SELL, 101, 2, {"account": 7}))
    result = book.replace_order(h, 101, 5)
    assert book.events() == [modify(BUY, 1, 101, 5)] + events
    assert result == (h if stp == STP_CANCEL_RESTING else 0)
    assert book.depth()[1] == asks


# ---- rules --------------------------------------------------------------------

TICK, LOT = 25 * 10**6, 1 * Q           # 0.25 and 1 lot
REF = 100 * P


def rule_book(**kw):
    return Book(tick=TICK, lot=LOT, min_qty=2 * Q, max_qty=50 * Q, band=2 * P,
                ref_price=REF, **kw)


@pytest.mark.parametrize("args, kw, status", [
    # every order here breaks all the rules after its first failing one
    ((BUY, REF + 1, 0), {"tif": 2}, E_ARG),
    ((3, REF, 2 * Q), {}, E_ARG),
    ((BUY, REF, 2 * Q), {"ord_type": 0}, E_ARG),
    ((BUY, REF, 2 * Q), {"tif": 5}, E_ARG),
    ((BUY, REF + 1, -Q), {}, E_QTY),
    ((BUY, REF + 1, 0), {"ord_type": MARKET}, E_QTY),
    ((BUY, REF + 1, Q // 2), {}, E_TICK),
    ((BUY, REF + 3 * P, Q // 2), {}, E_LOT),
    ((BUY, REF + 3 * P, Q // 2), {"ord_type": MARKET}, E_LOT),
    ((BUY, REF + 3 * P, 1 * Q), {}, E_MIN_QTY),
    ((BUY, REF + 3 * P, 1 * Q), {"ord_type": MARKET}, E_MIN_QTY),
    ((SELL, REF + 3 * P, 51 * Q), {}, E_MAX_QTY),
    ((SELL, REF - 2 * P - TICK, 2 * Q), {}, E_BAND),
    ((SELL, REF + 2 * P + TICK, 2 * Q), {"tif": IOC}, E_BAND),
    ((SELL, REF + 2 * P, 2 * Q), {}, E_HALTED),
    ((SELL, REF + 3 * P + 1, 2 * Q), {"ord_type": MARKET}, E_HALTED),
])
def test_new_order_rules_first_failing_wins(args, kw, status):
    book = rule_book()
    assert book.halt() == 0
    assert book.new_order(1, *args, **kw) == status
    assert book.events() == [] and book.nevents == 0
    assert book.depth() == ([], []) and len(book) == 0


def test_new_order_within_the_rules():
    book = rule_book()
    assert book.new_order(1, BUY, REF - 2 * P, 2 * Q) > 0         # on the band's edge
    assert book.new_order(2, SELL, REF + 2 * P, 50 * Q) > 0
    assert book.new_order(3, SELL, REF + 9 * P + 1, 2 * Q, ord_type=MARKET) == 0
    assert book.events() == [fill(SELL, 3, 1, REF - 2 * P, 2 * Q, 0, 0)]
    book.set_reference(REF + 1 * P)
    assert book.new_order(4, BUY, REF - 2 * P, 2 * Q) == E_BAND
    assert book.new_order(5, BUY, REF + 3 * P, 2 * Q) == 0
    assert book.events() == [fill(BUY, 5, 2, REF + 2 * P, 2 * Q, 0, 48 * Q)]


def test_replace_rules_first_failing_wins():
    book = rule_book()
    h, = place(book, (1, BUY, REF, 5 * Q))
    assert book.halt() == 0
    for args, status in [
        ((h + 100, REF + 1, 0), E_UNKNOWN),
        ((h, REF + 1, 0), E_QTY),
        ((h, REF + 1, Q // 2), E_TICK),
        ((h, REF + 3 * P, Q // 2), E_LOT),
        ((h, REF + 3 * P, 51 * Q), E_MAX_QTY),
        ((h, REF + 3 * P, 1 * Q), E_BAND),                        # no min_qty check
        ((h, REF, 1 * Q), E_HALTED),
    ]:
        assert book.replace_order(*args) == status
        assert book.events() == []
        assert book.order(h) == (1, BUY, REF, 5 * Q)
    assert book.resume() == 0
    assert book.replace_order(h, REF, 1 * Q) == h                 # below min_qty is fine
    assert book.events() == [modify(BUY, 1, REF, 1 * Q)]


# ---- halt and resume ------------------------------------------------------------

def test_halt_cancels_cancel_on_halt_orders_bids_then_asks_best_first():
    book = Book()
    coh = {"flags": CANCEL_ON_HALT}
    h = place(book, (1, BUY, 100, 1, coh), (2, BUY, 101, 2), (3, BUY, 101, 3, coh),
              (4, BUY, 99, 4, coh), (5, BUY, 101, 5, coh),
              (6, SELL, 103, 6, coh), (7, SELL, 102, 7, coh), (8, SELL, 102, 8))
    assert book.halt() == 6
    assert book.events() == [
        cancel(R_HALT, BUY, 3, 101, 3),
        cancel(R_HALT, BUY, 5, 101, 5),
        cancel(R_HALT, BUY, 1, 100, 1),
        cancel(R_HALT, BUY, 4, 99, 4),
        cancel(R_HALT, SELL, 7, 102, 7),
        cancel(R_HALT, SELL, 6, 103, 6),
    ]
    assert book.depth() == ([(101, 2, 1)], [(102, 8, 1)])
    assert book.halt() == E_STATE
    assert book.events() == []
    assert book.new_order(9, BUY, 100, 1) == E_HALTED
    assert book.replace_order(h[1], 101, 1) == E_HALTED
    assert book.cancel_order(h[1]) == OK                          # cancels work while halted
    assert book.events() == [cancel(R_USER, BUY, 2, 101, 2)]
    assert book.resume() == 0
    assert book.events() == []
    assert book.resume() == E_STATE
    assert book.halt() == 0                                       # nothing left to cancel


def test_orders_queue_while_halted_and_match_at_resume_in_arrival_order():
    book = Book(queue_when_halted=True)
    place(book, (1, SELL, 100, 5))
    assert book.halt() == 0
    h2 = book.new_order(2, BUY, 100, 3)
    assert book.events() == [queued(BUY, 2, 100, 3)]
    h3 = book.new_order(3, BUY, 55, 4, ord_type=MARKET)
    assert book.events() == [queued(BUY, 3, 0, 4)]
    h4 = book.new_order(4, SELL, 99, 2)
    h5 = book.new_order(5, BUY, 100, 10, tif=FOK)
    h6 = book.new_order(6, BUY, 101, 2)
    h7 = book.new_order(7, BUY, 99, 1, tif=IOC)
    assert min(h2, h3, h4, h5, h6, h7) > 0
    assert book.new_order(8, BUY, 100, 0) == E_QTY                # the rules still apply
    assert len(book) == 1 and book.depth() == ([], [(100, 5, 1)])  # queued is not resting
    assert book.order(h3) == (3, BUY, 0, 4)
    assert book.replace_order(h2, 100, 0) == E_QTY                 # a queued order is known
    assert book.replace_order(h2, 100, 1) == E_HALTED
    assert book.cancel_order(h6) == OK
    assert book.events() == [cancel(R_USER, BUY, 6, 101, 2)]
    assert book.resume() == 6
    assert book.events() == [
        fill(BUY, 2, 1, 100, 3, 0, 2),
        fill(BUY, 3, 1, 100, 2, 2, 0),
        cancel(R_MARKET, BUY, 3, 0, 2),
        rest(SELL, 4, 99, 2),
        cancel(R_FOK, BUY, 5, 100, 10),
        fill(BUY, 7, 4, 99, 1, 0, 1),
    ]
    assert book.order(h4) == (4, SELL, 99, 1)                     # rests under its handle
    assert [book.order(h) for h in (h2, h3, h5, h6, h7)] == [None] * 5
    assert book.cancel_order(h4) == OK
    assert book.events() == [cancel(R_USER, SELL, 4, 99, 1)]


# ---- reading --------------------------------------------------------------------

def test_events_belong_to_the_last_operation():
    book = Book()
    place(book, (1, SELL, 100, 5))
    assert book.new_order(2, BUY, 100, 2) == 0
    assert book.nevents == 1
    assert book.events() == book.events() == [fill(BUY, 2, 1, 100, 2, 0, 3)]
    assert book.new_order(3, BUY, 100, 0) == E_QTY
    assert book.nevents == 0 and book.events() == []


def test_depth_level_and_len():
    book = Book()
    place(book, (1, BUY, 100, 1), (2, BUY, 98, 2), (3, BUY, 100, 3), (4, BUY, 99, 4),
          (5, SELL, 103, 5), (6, SELL, 101, 6), (7, SELL, 101, 7))
    assert book.depth() == ([(100, 4, 2), (99, 4, 1), (98, 2, 1)],
                            [(101, 13, 2), (103, 5, 1)])
    assert book.depth(1) == ([(100, 4, 2)], [(101, 13, 2)])
    assert book.level(BUY, 100) == (4, 2)
    assert book.level(SELL, 100) == (0, 0)
    assert (book.best_bid, book.bid_qty, book.best_ask, book.ask_qty) == (100, 4, 101, 13)
    assert len(book) == 7
    book.validate()
    empty = Book()
    assert (empty.best_bid, empty.bid_qty, empty.best_ask, empty.ask_qty) == (None, 0, None, 0)


def test_top_updates_one_record_per_changing_operation():
    book = Book()
    h1 = book.new_order(1, BUY, 100, 5)                           # op 1
    h2 = book.new_order(2, BUY, 99, 5)                            # op 2: below the top
    assert book.new_order(3, SELL, 101, 0) == E_QTY               # op 3: refused, counts
    h4 = book.new_order(4, SELL, 101, 2)                          # op 4
    assert book.top_updates() == [(1, 100, 5, 0, 0), (4, 100, 5, 101, 2)]
    assert book.top_updates() == []                               # read once
    book.cancel_order(h1)                                         # op 5
    book.replace_order(h2, 99, 3)                                 # op 6
    assert book.cancel_order(999) == E_UNKNOWN                    # op 7
    book.new_order(5, BUY, 98, 1)                                 # op 8
    assert book.halt() == 0 and book.resume() == 0                # ops 9, 10
    assert book.new_order(6, SELL, 99, 3) == 0                    # op 11: takes the bid
    book.cancel_order(h4)                                         # op 12: asks empty
    assert book.top_updates() == [(5, 99, 5, 101, 2), (6, 99, 3, 101, 2),
                                  (11, 98, 1, 101, 2), (12, 98, 1, 0, 0)]
    h7 = book.new_order(7, SELL, 101, 2)                          # op 13
    book.cancel_order(h7)                                         # op 14: back to op 12's top
    book.new_order(8, BUY, 98, 1)                                 # op 15: volume changes
    assert book.top_updates() == [(13, 98, 1, 101, 2), (14, 98, 1, 0, 0), (15, 98, 2, 0, 0)]


def test_validate_finds_a_crossed_book():
    book = Book()
    place(book, (1, BUY, 100, 1), (2, SELL, 101, 1))
    book.validate()
    book._book[SELL][0].price = 100
    with pytest.raises(BookCorrupted):
        book.validate()


def test_stp_outside_the_four_modes_is_outside_the_contract():
    with pytest.raises(ValueError):
        Book().new_order(1, BUY, 100, 1, stp=4)
