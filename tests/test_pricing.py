"""fastcore.pricing: average prices of an audit trail's fills, per execution source code."""
import csv
import io
import json
import subprocess
import sys
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import given, strategies as st

from fastcore.auditfile import parse
from fastcore.pricing import KEYS, AveragePrice, CommingledSources, average_prices, live_fills
from test_auditfile import order_in, out, start, texts, write

PX = 100_000_000      # 1 in fixed point: px has 8 decimals, qty 4
QTY = 10_000


def fill(order_id, exec_id, qty, px, **kw) -> bytes:
    return out(order_id, b"F", exec_id, qty=qty * QTY, px=px, **kw)


def test_fills_of_one_account_symbol_side_and_source_average_exactly():
    data = (start() + order_in(1) + fill(1, 1, 2, 100 * PX) + fill(1, 2, 1, 101 * PX)
            + order_in(2) + fill(2, 3, 1, 99 * PX + PX // 4))
    (row,) = average_prices(parse(data))
    assert row == AveragePrice(account="ACC1", symbol="ESZ6", side="1", source="Y", fills=3,
                               qty="4", avg_px="100.0625", notional="400.25")


def test_a_bust_takes_a_fill_out_and_a_correction_changes_it():
    data = (start() + order_in(1)
            + fill(1, 1, 2, 100 * PX) + fill(1, 2, 3, 110 * PX) + fill(1, 3, 5, 120 * PX)
            + out(1, b"H", 4, exec_ref=1)                             # bust fill 1
            + out(1, b"G", 5, exec_ref=2, qty=4 * QTY, px=105 * PX)   # fill 2: 4 @ 105
            + out(1, b"H", 6, exec_ref=2)            # refers to fill 2's old id: nothing
            + out(1, b"G", 7, exec_ref=5, qty=1 * QTY, px=104 * PX)   # fill 2 again: 1 @ 104
            + out(1, b"H", 8, exec_ref=3))                            # bust fill 3
    fills = live_fills(parse(data))
    assert [(f.exec_id, f.qty, f.px) for f in fills] == [(7, "1", "104")]
    (row,) = average_prices(parse(data))
    assert (row.fills, row.qty, row.avg_px) == (1, "1", "104")


def test_a_fill_corrected_to_nothing_no_longer_stands():
    data = start() + order_in(1) + fill(1, 1, 2, PX) + out(1, b"G", 2, exec_ref=1, px=PX)
    assert live_fills(parse(data)) == [] and average_prices(parse(data)) == []


def test_busts_and_corrections_refer_to_fills_of_their_run_and_order():
    data = (start() + order_in(1) + order_in(2) + fill(1, 1, 1, 10 * PX) + fill(2, 1, 1, 20 * PX)
            + out(2, b"H", 2, exec_ref=1)             # order 2's fill 1, not order 1's
            + start() + order_in(1) + fill(1, 1, 3, 30 * PX)
            + out(1, b"H", 2, exec_ref=1))            # run 1's fill, not run 0's
    assert [(f.run, f.order_id, f.px) for f in live_fills(parse(data))] == [(0, 1, "10")]


def test_different_execution_sources_are_never_comingled():
    data = (start() + order_in(1, source=b"Y") + fill(1, 1, 1, 100 * PX, source=b"Y")
            + order_in(2, "CL2", source=b"W") + fill(2, 2, 3, 104 * PX, source=b"W"))
    rows = average_prices(parse(data))
    assert [(r.source, r.qty, r.avg_px) for r in rows] == [("W", "3", "104"), ("Y", "1", "100")]
    with pytest.raises(CommingledSources) as info:
        average_prices(parse(data), by=("account", "symbol", "side"))
    assert info.value.group == {"account": "ACC1", "symbol": "ESZ6", "side": "1"}
    assert info.value.sources == ("W", "Y")
    assert "'ACC1'" in str(info.value) and "W, Y" in str(info.value)
    with pytest.raises(CommingledSources, match="all fills"):
        average_prices(parse(data), by=())


def test_fewer_keys_merge_groups_of_one_source_and_leave_the_others_none():
    data = (start() + order_in(1, "A", "ACC1", side=b"1") + fill(1, 1, 1, 100 * PX, side=b"1")
            + order_in(2, "B", "ACC2", side=b"2") + fill(2, 2, 1, 102 * PX, side=b"2"))
    assert [(r.account, r.side) for r in average_prices(parse(data))] == [
        ("ACC1", "1"), ("ACC2", "2")]
    (row,) = average_prices(parse(data), by=("symbol", "source"))
    assert (row.account, row.symbol, row.side, row.source) == (None, "ESZ6", None, "Y")
    assert (row.fills, row.qty, row.avg_px) == (2, "2", "101")
    with pytest.raises(ValueError, match="price"):
        average_prices(parse(data), by=("price",))


def test_a_staged_orders_mirrored_fills_count_under_its_own_account():
    """A staged order (CLIENT) worked by a desk through a child order (DESK):
    the child's fill and its mirror on the staged order are both fills."""
    data = (start() + order_in(1, "M", "CLIENT", source=b"W")
            + order_in(2, "C", "DESK", master_id=1, portion=1, source=b"W")
            + fill(2, 1, 2, 50 * PX, master_id=1, portion=1, source=b"W")
            + fill(1, 2, 2, 50 * PX, portion=1, source=b"W"))
    assert [(r.account, r.fills, r.qty) for r in average_prices(parse(data))] == [
        ("CLIENT", 1, "2"), ("DESK", 1, "2")]


def test_a_trade_record_without_side_or_source_takes_its_orders():
    data = (start() + order_in(1, side=b"2", source=b"H")
            + fill(1, 1, 1, PX, side=b"\0", source=b"\0"))
    (f,) = live_fills(parse(data))
    assert (f.side, f.source) == ("2", "H")


def test_fills_after_a_replace_take_the_order_as_replaced():
    """A replaced record carries the order's texts and terms after the
    replace: the fills after it are under its account, and take its source
    (its side, unset here, stays the order's)."""
    data = (start() + order_in(1, "A1", "ACC1", source=b"Y")
            + fill(1, 1, 1, 100 * PX, side=b"\0", source=b"\0")
            + out(1, b"5", 2, side=b"\0", source=b"W", texts=texts("A2", "ACC2"))
            + fill(1, 3, 2, 102 * PX, side=b"\0", source=b"\0"))
    assert [(f.clordid, f.account, f.side, f.source) for f in live_fills(parse(data))] == [
        ("A1", "ACC1", "1", "Y"), ("A2", "ACC2", "1", "W")]
    assert [(r.account, r.source, r.qty) for r in average_prices(parse(data))] == [
        ("ACC1", "Y", "1"), ("ACC2", "W", "2")]


def test_average_price_rounds_half_to_even_at_8_decimals():
    one = start() + order_in(1)
    data = one + fill(1, 1, 1, 1) + fill(1, 2, 1, 2)          # 0.000000015
    assert average_prices(parse(data))[0].avg_px == "0.00000002"
    data = one + fill(1, 1, 1, 1) + fill(1, 2, 1, 0)          # 0.000000005
    assert average_prices(parse(data))[0].avg_px == "0"
    data = one + fill(1, 1, 1, -3) + fill(1, 2, 1, 0)         # -0.000000015
    assert average_prices(parse(data))[0].avg_px == "-0.00000002"


fills_strategy = st.lists(
    st.tuples(st.integers(1, 10**9), st.integers(-10**14, 10**14),
              st.sampled_from(["ACC1", "ACC2"]), st.sampled_from([b"W", b"Y"])),
    min_size=1, max_size=30)


@given(fills_strategy)
def test_average_price_is_the_exact_weighted_mean_per_group(fills):
    data = start() + order_in(1, "A", "ACC1") + order_in(2, "B", "ACC2")
    for n, (qty, px, account, source) in enumerate(fills, 1):
        data += out(1 if account == "ACC1" else 2, b"F", n, qty=qty, px=px, source=source)
    rows = average_prices(parse(data))
    assert [(r.account, r.source) for r in rows] == sorted({(a, s.decode()) for _, _, a, s in fills})
    for row in rows:
        mine = [(q, p) for q, p, a, s in fills if (a, s.decode()) == (row.account, row.source)]
        with localcontext() as ctx:
            ctx.prec = 100
            qty = sum(Decimal(q).scaleb(-4) for q, _ in mine)
            notional = sum(Decimal(q).scaleb(-4) * Decimal(p).scaleb(-8) for q, p in mine)
            avg = (notional / qty).quantize(Decimal("1E-8"), rounding=ROUND_HALF_EVEN)
        assert row.fills == len(mine)
        assert Decimal(row.qty) == qty and Decimal(row.notional) == notional
        assert Decimal(row.avg_px) == avg
        assert "E" not in row.avg_px and not (("." in row.avg_px) and row.avg_px.endswith("0"))


@given(fills_strategy)
def test_without_source_in_by_a_mix_is_always_refused(fills):
    data = start() + order_in(1, "A", "ACC1")
    for n, (qty, px, _, source) in enumerate(fills, 1):
        data += out(1, b"F", n, qty=qty, px=px, source=source)
    sources = {s.decode() for *_, s in fills}
    try:
        rows = average_prices(parse(data), by=("account",))
    except CommingledSources as exc:
        assert len(sources) > 1 and exc.sources == tuple(sorted(sources))
    else:
        assert len(sources) == 1 and rows[0].fills == len(fills)


# ---------------------------------------------------------------- the command

def fastcore(*args):
    return subprocess.run([sys.executable, "-m", "fastcore.cli", *map(str, args)],
                          capture_output=True, timeout=60, text=True)


def trail_file(tmp_path):
    path = tmp_path / "audit.bin"
    write(path, start(), order_in(1, "A", "ACC1", source=b"Y"),
          fill(1, 1, 1, 100 * PX, source=b"Y"), fill(1, 2, 1, 101 * PX, source=b"Y"),
          order_in(2, "B", "ACC1", source=b"W"), fill(2, 3, 2, 99 * PX, source=b"W"))
    return path


def test_cli_average_prices_table_csv_and_jsonl(tmp_path):
    path = trail_file(tmp_path)
    res = fastcore("average-prices", path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["account", "symbol", "side", "source", "fills", "qty",
                                "avg_px", "notional"]
    assert lines[1].split() == ["ACC1", "ESZ6", "1", "W", "1", "2", "99", "198"]
    assert lines[2].split() == ["ACC1", "ESZ6", "1", "Y", "2", "2", "100.5", "201"]
    res = fastcore("average-prices", path, "--by", "source", "--format", "csv")
    assert res.returncode == 0, res.stderr
    assert list(csv.reader(io.StringIO(res.stdout))) == [
        ["source", "fills", "qty", "avg_px", "notional"], ["W", "1", "2", "99", "198"],
        ["Y", "2", "2", "100.5", "201"]]
    res = fastcore("average-prices", path, "--format", "jsonl")
    got = [json.loads(x) for x in res.stdout.splitlines()]
    assert [(g["source"], g["avg_px"]) for g in got] == [("W", "99"), ("Y", "100.5")]
    assert set(got[0]) == set(KEYS) | {"fills", "qty", "avg_px", "notional"}


def test_cli_average_prices_refuses_to_comingle_sources(tmp_path):
    res = fastcore("average-prices", trail_file(tmp_path), "--by", "account,symbol,side")
    assert res.returncode == 2 and res.stdout == ""
    assert "W, Y" in res.stderr and "group by source" in res.stderr
    res = fastcore("average-prices", trail_file(tmp_path), "--by", "account,colour")
    assert res.returncode == 2 and "the keys are" in res.stderr


def test_cli_average_prices_fails_on_a_missing_file_and_prints_no_rows_for_no_fills(tmp_path):
    res = fastcore("average-prices", tmp_path / "nothing.bin")
    assert res.returncode == 1 and "nothing.bin" in res.stderr
    path = tmp_path / "empty.bin"
    write(path, start(), order_in(1))
    res = fastcore("average-prices", path, "--by", "account")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["account", "fills", "qty", "avg_px", "notional"]
