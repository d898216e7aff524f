"""liqsim.Exchange as a user drives it: load a market, push price, read the cascade."""

import numpy as np
import pyarrow as pa
import pytest

import liqsim
from liqsim import scenarios


def stacked_shorts_market(n_shorts=1000, insurance_fund=50_000.0, seed=3, **kwargs):
    """A thin ETH book (one 1.0 ETH ask every 0.50 up to +15%) and `n_shorts` shorts of 1 ETH
    entered at 3,000 with balances chosen so their liquidation prices stack from +0.5% to +10%."""
    rng = np.random.default_rng(seed)
    ex = liqsim.Exchange(venue="binance", symbol="ETHUSDT", tick_size=0.01, lot_size=0.001,
                         insurance_fund=insurance_fund, mark_rule="last", **kwargs)
    # Binance ETHUSDT first tier: MMR 0.4%. Short: balance + 3000 − P = 0.004 P → balance = 1.004 P − 3000.
    target = rng.uniform(3015.0, 3300.0, n_shorts)
    balance = np.round(1.004 * target - 3000.0, 2)
    ex.load_accounts({
        "trader_id": np.arange(n_shorts),
        "balance": balance,
        "side": ["short"] * n_shorts,
        "qty": np.ones(n_shorts),
        "entry_price": np.full(n_shorts, 3000.0),
        "leverage": np.full(n_shorts, 20.0),
    })
    ex.load_accounts(pa.table({"trader_id": [50_000], "balance": [10_000_000.0]}))  # the buyer, flat
    asks = np.round(np.arange(3000.5, 3450.0, 0.5), 2)
    bids = np.round(np.arange(2999.5, 2700.0, -0.5), 2)
    ex.load_book({"side": ["ask"] * len(asks) + ["bid"] * len(bids),
                  "price": np.concatenate([asks, bids]), "qty": np.ones(len(asks) + len(bids))})
    ex.set_index(3000.0)
    return ex


def test_a_market_buy_sets_off_a_multi_round_cascade_consistent_to_the_unit():
    ex = stacked_shorts_market()
    fund0 = ex.insurance_fund
    accounts0 = ex.accounts()
    out = ex.submit(50_000, "buy", 40.0)
    assert out["status"] == "filled" and out["liquidations"] > 0

    liq = ex.liquidations()
    assert liq["round"].max() >= 3, "the cascade should take several rounds"
    assert np.all(np.diff(liq["round"]) >= 0), "rounds are recorded in order"
    assert set(liq["side"]) == {"short"}
    # Insurance fund: start + Σ recorded deltas (liquidation table and insurance log agree).
    ins = ex.insurance()
    assert ex.insurance_fund == pytest.approx(fund0 + liq["insurance_delta"].sum(), abs=1e-6)
    assert ex.insurance_fund == pytest.approx(fund0 + ins["delta"].sum(), abs=1e-6)
    assert ins["balance"][-1] == pytest.approx(ex.insurance_fund, abs=1e-9)
    # Trade tape: every account's position change is the sum of its trades.
    tr = ex.trades()
    signed = np.where(tr["aggressor"] == "buy", tr["qty"], -tr["qty"])
    acc = ex.accounts()
    before = dict(zip(accounts0["trader_id"], accounts0["position"]))
    for tid, pos in zip(acc["trader_id"], acc["position"]):
        change = signed[tr["taker"] == tid].sum() - signed[tr["maker"] == tid].sum()
        assert pos - before[tid] == pytest.approx(change, abs=1e-9), tid
    # Liquidated quantity = liquidation (+ backstop/ADL) trades of the liquidated accounts.
    closing = np.isin(tr["kind"], ["liquidation", "adl", "backstop"])
    assert tr["qty"][closing].sum() == pytest.approx(liq["qty"].sum(), abs=1e-9)
    # Money is conserved exactly inside the core, and every invariant holds.
    deposits, total = ex.money()
    assert total == deposits
    ex.check_invariants()
    assert abs(acc["position"].sum()) < 1e-9
    # Every liquidated short's trigger was at or below the mark it was liquidated at.
    trig = dict(zip(accounts0["trader_id"], accounts0["liquidation_price"]))
    assert all(trig[t] <= m + 1e-9 for t, m in zip(liq["trader_id"], liq["mark"]))


def test_a_smaller_buy_stays_below_the_tipping_point():
    small = stacked_shorts_market()
    small.submit(50_000, "buy", 5.0)
    big = stacked_shorts_market()
    big.submit(50_000, "buy", 40.0)
    assert len(small.liquidations()["round"]) < len(big.liquidations()["round"])
    assert small.last < big.last


def test_same_inputs_same_bytes():
    a, b = stacked_shorts_market(), stacked_shorts_market()
    a.submit(50_000, "buy", 40.0)
    b.submit(50_000, "buy", 40.0)
    for table in ("trades", "liquidations", "accounts", "insurance", "adl"):
        ta, tb = getattr(a, table)(), getattr(b, table)()
        for col in ta:
            assert ta[col].tobytes() == tb[col].tobytes(), (table, col)


def test_closeouts_that_do_not_move_the_mark_stop_the_cascade():
    ex = stacked_shorts_market(closeouts_move_mark=False)
    ex.submit(50_000, "buy", 40.0)
    liq = ex.liquidations()
    assert liq["round"].max() == 1
    assert ex.mark < ex.last


def test_an_empty_fund_means_adl_of_profitable_longs():
    ex = liqsim.Exchange(insurance_fund=0.0, mark_rule="last")
    ex.load_accounts({
        "trader_id": [1, 2, 3],
        "balance": [60.0, 100_000.0, 100_000.0],
        "side": ["short", "long", "flat"],
        "qty": [1.0, 2.0, 0.0],
        "entry_price": [3000.0, 2900.0, np.nan],
        "leverage": [50, 5, 5],
    })
    ex.load_book({"side": ["ask", "bid"], "price": [3070.0, 2990.0], "qty": [1.0, 5.0]})
    ex.set_index(3000.0)
    # Lifts the only ask: the short's close-out finds no book, and at the 3,070 mark a takeover at its
    # bankruptcy price 3,060 would cost the empty fund 10, so it cannot accept it (REFERENCE §7).
    ex.submit(3, "buy", 1.0)
    adl = ex.adl()
    assert list(adl["trader_id"]) == [2] and list(adl["liquidated_trader_id"]) == [1]
    assert adl["qty"][0] == 1.0
    assert ex.liquidations()["kind"][0] == "adl"
    ex.check_invariants()


def test_funding_settles_zero_sum_at_the_interval():
    ex = stacked_shorts_market(n_shorts=50)
    ex.advance(8 * 3600 * 10**9)
    f = ex.funding()
    assert len(f["rate"]) == 1
    deposits, total = ex.money()
    assert total == deposits
    ex.check_invariants()
    with pytest.raises(liqsim.LiqsimError):
        ex.advance_to(0)


def test_orders_are_margin_checked():
    ex = stacked_shorts_market(n_shorts=10)
    ex.load_accounts({"trader_id": [777], "balance": [100.0], "leverage": [10.0]})
    out = ex.submit(777, "buy", 1.0, price=3001.0)
    assert (out["status"], out["reason"]) == ("rejected", "insufficient_margin")
    assert ex.submit(777, "buy", 0.3)["status"] == "filled"
    out = ex.submit(777, "buy", 0.1, reduce_only=True)
    assert out["reason"] == "reduce_only_would_increase"
    out = ex.submit(777, "sell", 5.0, reduce_only=True)
    assert out["sent_qty"] == 0.3 and out["filled"] == 0.3
    with pytest.raises(liqsim.OrderError):
        ex.submit(12345, "buy", 1.0)
    with pytest.raises(liqsim.OrderError):
        ex.submit(777, "buy", 0.0001)


def test_bad_scenario_tables_name_table_column_and_row():
    ex = liqsim.Exchange()
    with pytest.raises(liqsim.ScenarioError) as e:
        ex.load_accounts({"trader_id": [1, 1], "balance": [1.0, 1.0]})
    assert (e.value.table, e.value.column, e.value.row) == ("accounts", "trader_id", 1)
    with pytest.raises(liqsim.ScenarioError) as e:
        ex.load_accounts({"trader_id": [1, 2], "balance": [1.0, 1.0], "side": ["short", "sideways"], "qty": [1, 1],
                          "entry_price": [3000, 3000]})
    assert (e.value.column, e.value.row) == ("side", 1)
    with pytest.raises(liqsim.ScenarioError) as e:
        ex.load_accounts({"trader_id": [1], "balance": [1.0], "side": ["short"], "qty": [1.0],
                          "entry_price": [3000.0], "leverage": [200]})
    assert e.value.column == "leverage"
    with pytest.raises(liqsim.ScenarioError) as e:
        ex.load_book({"side": ["ask", "bid"], "price": [3000.0, 3000.005], "qty": [1.0, 1.0]})
    assert (e.value.table, e.value.column, e.value.row) == ("book", "price", 1)
    with pytest.raises(liqsim.ScenarioError) as e:
        ex.load_book({"side": ["ask", "bid"], "price": [3000.0, 3001.0], "qty": [1.0, 1.0]})
    assert (e.value.column, e.value.row) == ("price", 1)  # crosses the book loaded so far
    with pytest.raises(liqsim.ScenarioError):
        ex.load_book({"side": ["ask"], "price": [3000.0]})
    with pytest.raises(liqsim.LiqsimError):
        liqsim.Exchange(venue="kraken")
    with pytest.raises(liqsim.LiqsimError):
        liqsim.Exchange(symbol="DOGEUSDT")


def test_vectorised_formulas_match_the_reference():
    # REFERENCE §3 Hyperliquid: BTC long 0.00077 @ 62,739 with 24.137992 → 31,708.04 (at the 50x of
    # that example; today's BTC table is 40x, so the max leverage is given).
    lp = liqsim.liquidation_price("long", 0.00077, 62_739.0, 24.137992, venue="hyperliquid", symbol="BTC",
                                  max_leverage=50)
    assert float(lp) == pytest.approx(31_708.04, abs=0.01)
    # Binance ETHUSDT first tier 0.4%: short 1 @ 3,000 with 60 → 3,060 / 1.004; bankruptcy 3,060.
    lp = liqsim.liquidation_price(["short", "long"], 1.0, 3000.0, [60.0, 3000.0], symbol="ETHUSDT")
    assert lp[0] == pytest.approx(3060 / 1.004) and np.isnan(lp[1])
    bp = liqsim.bankruptcy_price("short", [1.0, 2.0], 3000.0, 60.0, symbol="ETHUSDT")
    assert list(bp) == pytest.approx([3060.0, 3030.0])
    # BTCUSDT tiers: 10k × 0.4% = 40; 100k × 0.5% − 50 = 450; 1M × 0.65% − 950 = 5,550.
    assert list(liqsim.maintenance_margin([10_000, 100_000, 1_000_000])) == pytest.approx([40, 450, 5550])
    with pytest.raises(liqsim.ScenarioError):
        liqsim.liquidation_price("up", 1.0, 3000.0, 60.0)


def test_the_built_in_market_cascades():
    ex = scenarios.build_exchange(scenarios.eth_short_squeeze(), mark_rule="last")
    ex.submit(scenarios.eth_short_squeeze()["params"]["whale_id"], "buy", 1500.0)
    assert ex.liquidations()["round"].max() >= 5
    ex.check_invariants()


def test_user_supplied_tiers_and_fees():
    # One tier at 1% MMR (max 100x), no fees: short 1 @ 3,000 with 60 → 3060 / 1.01 = 3,029.70… → 3,029.71.
    ex = liqsim.Exchange(venue="binance", symbol="ANYUSDT", tiers={"floor": [0.0], "cap": [1e12], "mmr": [0.01],
                         "max_leverage": [100]}, fees=(0.0, 0.0), liquidation_fee=0.0, mark_rule="last")
    ex.load_accounts({"trader_id": [1], "balance": [60.0], "side": ["short"], "qty": [1.0], "entry_price": [3000.0],
                      "leverage": [50]})
    assert ex.accounts()["liquidation_price"][-1] == 3029.71
    with pytest.raises(liqsim.LiqsimError):
        liqsim.Exchange(tiers={"floor": [0.0, 10.0], "cap": [5.0, 20.0], "mmr": [0.01, 0.02], "max_leverage": [100, 50]})
