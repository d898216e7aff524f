"""liqsim.MultiExchange: several markets sharing cross margin (issue 14). The hand-worked numbers
are those of the core's test `an_eth_move_liquidates_the_btc_position_through_cross_margin`."""

from __future__ import annotations

import pickle

import pytest

import liqsim


def venue() -> liqsim.MultiExchange:
    """BTC (tick 0.1) MMR 0.5 %, ETH (tick 0.01) MMR 1 %, Binance rules on the index, no trading
    fees, liquidation fee 0.1 %. Trader 10: long 2 BTC @ 50,000 (sub-wallet 0), short 10 ETH @
    3,000 with 2,000 USDT in the ETH row."""

    def market(symbol: str, tick: float, mmr: float) -> liqsim.Exchange:
        return liqsim.Exchange(
            "binance",
            symbol,
            tick_size=tick,
            mark_rule="index",
            tiers={"floor": [0.0], "cap": [1e9], "mmr": [mmr], "max_leverage": [100]},
            fees=(0.0, 0.0),
            liquidation_fee=0.001,
        )

    v = liqsim.MultiExchange({"BTCUSDT": market("BTCUSDT", 0.1, 0.005), "ETHUSDT": market("ETHUSDT", 0.01, 0.01)})
    v.load_accounts(
        {
            "symbol": ["BTCUSDT", "ETHUSDT"],
            "trader_id": [10, 10],
            "balance": [0.0, 2000.0],
            "qty": [2.0, -10.0],
            "entry_price": [50000.0, 3000.0],
            "leverage": [50, 50],
        }
    )
    v.load_book("BTCUSDT", {"side": ["bid", "ask"], "price": [49990.0, 50010.0], "qty": [2.0, 2.0]})
    v.load_book("ETHUSDT", {"side": ["bid", "ask"], "price": [2990.0, 3200.0], "qty": [20.0, 20.0]})
    v.set_index("BTCUSDT", 50000.0)
    v.set_index("ETHUSDT", 3000.0)
    v.check_invariants()
    return v


def test_an_eth_move_liquidates_the_btc_position_through_cross_margin() -> None:
    v = venue()
    # ETH trigger 3,118.82 (2,000 − 10 (P − 3,000) ≤ 500 + 0.1 P): one tick below, nothing.
    v.set_index("ETHUSDT", 3118.81)
    assert len(v.liquidations()) == 0
    # ETH 3,130: the BTC leg (largest MM) is closed at the 49,990 bid, BTC never moving.
    v.set_index("ETHUSDT", 3130.0)
    v.check_invariants()
    liq = v.liquidations()
    assert list(liq["symbol"]) == ["BTCUSDT"]
    assert list(liq["trader_id"]) == [10]
    assert liq["qty"][0] == 2.0
    # Bankruptcy (100,000 − 387) / 2 = 49,806.5; the fee 0.1 % × 99,980 = 99.98 to BTC's fund.
    assert liq["bankruptcy_price"][0] == 49806.5
    assert v.market("BTCUSDT").insurance_fund == pytest.approx(99.98, abs=1e-9)
    # The BTC leg's −119.98 was filled from the ETH sub-wallet.
    t = v.transfers()
    assert (list(t["from_symbol"]), list(t["to_symbol"])) == (["ETHUSDT"], ["BTCUSDT"])
    assert t["amount"][0] == pytest.approx(119.98, abs=1e-9)
    assert v.wallet(10) == pytest.approx(1880.02, abs=1e-9)
    eth = v.market("ETHUSDT").accounts()
    row = list(eth["trader_id"]).index(10)
    assert eth["position"][row] == -10.0  # the ETH short stays open
    deposits, total = v.money()
    assert deposits == pytest.approx(total, abs=1e-9)


def test_orders_and_trades_carry_the_symbol() -> None:
    v = venue()
    out = v.submit("ETHUSDT", 10, "buy", 1.0)  # closes 1 of the 10 ETH short at the 3,200 ask
    assert out["status"] == "filled" and out["avg_price"] == 3200.0
    trades = v.trades()
    assert list(trades["symbol"]) == ["ETHUSDT"]
    v.check_invariants()


def test_bad_inputs_name_the_table_column_row_or_argument() -> None:
    v = venue()
    with pytest.raises(liqsim.ScenarioError) as e:
        v.load_accounts({"symbol": ["ETHUSDT", "XRPUSDT"], "trader_id": [1, 2], "balance": [1.0, 1.0]})
    assert (e.value.table, e.value.column, e.value.row) == ("accounts", "symbol", 1)
    with pytest.raises(liqsim.ScenarioError) as e:
        v.load_accounts(
            {
                "symbol": ["BTCUSDT", "ETHUSDT"],
                "trader_id": [3, 3],
                "balance": [1.0, 1.0],
                "margin_mode": ["cross", "isolated"],
            }
        )
    assert (e.value.column, e.value.row) == ("margin_mode", 1)
    with pytest.raises(liqsim.ScenarioError) as e:
        v.load_accounts({"symbol": ["BTCUSDT"], "trader_id": [4], "balance": [1.0], "size": [1.0]})
    assert e.value.column == "size"
    with pytest.raises(liqsim.ConfigError, match='no market "SOLUSDT"'):
        v.set_index("SOLUSDT", 100.0)
    with pytest.raises(liqsim.OrderError):
        v.submit("ETHUSDT", 999, "buy", 1.0)
    used = liqsim.Exchange("binance", "ETHUSDT")
    used.set_index(3000.0)
    with pytest.raises(liqsim.ConfigError, match="fresh Exchange"):
        liqsim.MultiExchange({"ETHUSDT": used})
    with pytest.raises(liqsim.ConfigError):
        liqsim.MultiExchange({})


def test_same_inputs_same_results_and_copies_are_independent() -> None:
    a, b = venue(), venue()
    c = a.copy()
    for v in (a, b):
        v.set_index("ETHUSDT", 3130.0)
    assert a.liquidations().to_arrow().equals(b.liquidations().to_arrow())
    assert len(c.liquidations()) == 0


def test_copies_are_deep() -> None:
    import copy

    v = venue()
    w = copy.deepcopy(v)
    w.set_index("ETHUSDT", 3130.0)
    assert (len(v.liquidations()), len(w.liquidations())) == (0, 1)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_an_unpickled_venue_continues_exactly_as_the_original(protocol: int) -> None:
    # Mid-life: an ETH move closed the BTC leg (a transfer between legs on the record), ETH moved
    # last. Pickled, the venue gives the same bytes again and the same tables after the same moves.
    v = venue()
    v.set_index("ETHUSDT", 3130.0)
    data = pickle.dumps(v, protocol=protocol)
    w = pickle.loads(data)
    assert pickle.dumps(w, protocol=protocol) == data
    assert w.symbols == v.symbols and w.wallet(10) == v.wallet(10) == pytest.approx(1880.02)
    for x in (v, w):
        x.set_index("ETHUSDT", 3170.0)
        x.advance_to(9 * 3600 * 10**9)
        x.check_invariants()
    assert len(v.liquidations()) == 2
    # The takeover's average fill price is NaN (no book fill): compare the tables as text.
    assert str(v.liquidations().to_arrow().to_pydict()) == str(w.liquidations().to_arrow().to_pydict())
    assert v.transfers().to_arrow().equals(w.transfers().to_arrow())
    assert pickle.dumps(v, protocol=protocol) == pickle.dumps(w, protocol=protocol)


def test_a_damaged_venue_pickle_raises_snapshot_error() -> None:
    v = venue()
    restore, (core,) = v.__reduce__()
    load, (grids, snapshot) = core.__reduce__()
    with pytest.raises(liqsim.SnapshotError, match="checksum"):
        load(grids, snapshot[:-1] + bytes([snapshot[-1] ^ 1]))
    with pytest.raises(liqsim.SnapshotError, match="do not match"):
        load([(0.5, 0.001), grids[1]], snapshot)
    with pytest.raises(liqsim.SnapshotError, match="not a multi-instrument venue"):
        load(grids, liqsim.Exchange("binance", "BTCUSDT")._ex._snapshot())


def test_core_account_columns_of_different_lengths_are_an_error_not_a_panic() -> None:
    """The binding picks each market's rows by index: a short column must be refused first."""
    import numpy as np

    v = venue()
    ids = np.array([5, 6], dtype=np.int64)
    short = np.array([1.0])
    columns = (ids, short, np.zeros(2, np.uint8), np.zeros(2, np.int8), np.zeros(2), np.zeros(2), np.ones(2), None)
    with pytest.raises(liqsim.ScenarioError) as e:
        v._v.load_accounts_columns(np.zeros(2, np.uint32), columns)
    assert (e.value.column, e.value.row) == ("balance", 1)
    with pytest.raises(liqsim.ScenarioError) as e:
        v._v.load_accounts_columns(np.zeros(1, np.uint32), (ids, np.ones(2)) + columns[2:])
    assert (e.value.column, e.value.row) == ("symbol", 1)
