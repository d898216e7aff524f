"""Issue 8 as a user meets it: values beyond the engine's limits are refused with a liqsim error
naming them, loads are all-or-nothing, far time jumps return, and nothing wraps silently."""

import time

import numpy as np
import pytest

import liqsim


def eth(**kwargs):
    return liqsim.Exchange(venue="binance", symbol="ETHUSDT", tick_size=0.01, lot_size=0.001,
                           mark_rule="last", **kwargs)


def test_an_insurance_fund_beyond_the_limit_is_refused_not_saturated():
    with pytest.raises(liqsim.LiqsimError, match="insurance_fund"):
        eth(insurance_fund=1e30)
    assert eth(insurance_fund=1e18).insurance_fund == 1e18


def test_balances_beyond_the_limit_are_refused():
    ex = eth()
    with pytest.raises(liqsim.ScenarioError) as e:
        ex.load_accounts({"trader_id": [1, 2], "balance": [1e30, 1e30]})
    assert (e.value.column, e.value.row) == ("balance", 0)
    assert len(ex.accounts()["trader_id"]) == 2  # backstop and liquidity only: nothing loaded
    ex.check_invariants()


@pytest.mark.parametrize("qty, entry, column", [(1.0, 1e30, "entry_price"), (1e15, 30_000.0, "qty")])
def test_positions_beyond_the_limits_are_refused(qty, entry, column):
    ex = eth()
    with pytest.raises(liqsim.ScenarioError) as e:
        ex.load_accounts({"trader_id": [1], "balance": [1000.0], "side": ["short"], "qty": [qty],
                          "entry_price": [entry], "leverage": [1.0]})
    assert e.value.column == column
    ex.check_invariants()


def test_a_notional_that_would_wrap_is_refused_with_the_price_in_quote_units():
    ex = liqsim.Exchange(venue="binance", symbol="X", tick_size=1.0, lot_size=1.0, mark_rule="last",
                         tiers={"floor": [0.0], "cap": [1e30], "mmr": [0.01], "max_leverage": [100]})
    ex.load_accounts({"trader_id": [1], "balance": [60.0]})
    with pytest.raises(liqsim.OrderError, match="1000000") as e:
        ex.submit(1, "buy", 1e12, price=1e15)
    assert e.value.reason == "out_of_range"
    out = ex.submit(1, "buy", 1e12, price=1e6)  # a legal price: the margin check sees the true notional
    assert out["status"] == "rejected" and out["reason"] == "insufficient_margin"
    ex.check_invariants()


def test_load_book_is_all_or_nothing():
    ex = eth()
    with pytest.raises(liqsim.ScenarioError) as e:
        ex.load_book({"side": ["ask", "bid", "bid"], "price": [3000.0, 2990.0, 3001.0], "qty": [1.0, 1.0, 1.0]})
    assert (e.value.column, e.value.row) == ("price", 2)
    assert ex.best_bid is None and ex.best_ask is None
    ex.load_book({"side": ["ask", "bid"], "price": [3000.0, 2990.0], "qty": [1.0, 1.0]})
    assert (ex.best_bid, ex.best_ask) == (2990.0, 3000.0)


def test_a_book_price_beyond_the_limit_is_named_in_quote_units():
    ex = eth()
    with pytest.raises(liqsim.ScenarioError, match=r"1000000000000 is above the largest price this market holds exactly \(1000000000\)") as e:
        ex.load_book({"side": ["ask", "ask"], "price": [3000.0, 1e12], "qty": [1.0, 1.0]})
    assert (e.value.column, e.value.row) == ("price", 1)
    assert ex.best_ask is None


def test_an_account_loaded_under_maintenance_is_liquidated_at_once():
    ex = eth(insurance_fund=1000.0)
    ex.load_book({"side": ["ask", "bid"], "price": [3010.0, 2990.0], "qty": [100.0, 100.0]})
    ex.set_index(3000.0)
    ex.load_accounts({"trader_id": [5], "balance": [50.0], "side": ["short"], "qty": [1.0],
                      "entry_price": [2900.0], "leverage": [20.0]})
    assert list(ex.liquidations()["trader_id"]) == [5]
    ex.check_invariants()


@pytest.mark.parametrize("fees, liquidation_fee", [((0.0002, 1e10), None), (None, -0.5), (None, 1.0)])
def test_fee_rates_are_range_checked(fees, liquidation_fee):
    with pytest.raises(liqsim.LiqsimError, match="fee"):
        eth(fees=fees, liquidation_fee=liquidation_fee)


def test_a_negative_qty_with_an_explicit_side_is_refused():
    with pytest.raises(liqsim.ScenarioError) as e:
        liqsim.liquidation_price("short", -1.0, 3000.0, 60.0, symbol="ETHUSDT")
    assert e.value.column == "qty"
    assert liqsim.liquidation_price("short", 1.0, 3000.0, 60.0, symbol="ETHUSDT") > 3000.0


def test_far_time_jumps_return_promptly():
    ex = eth(insurance_fund=1000.0)
    ex.load_book({"side": ["ask", "bid"], "price": [3010.0, 2990.0], "qty": [100.0, 100.0]})
    ex.load_accounts({"trader_id": [1], "balance": [100.0], "side": ["long"], "qty": [1.0],
                      "entry_price": [3000.0], "leverage": [20.0]})
    ex.set_index(3000.0)
    started = time.perf_counter()
    ex.advance_to(1_700_000_000_000_000_000)  # a 2023 timestamp in ns
    ex.advance_to(2**63 - 1)
    assert time.perf_counter() - started < 10.0
    assert ex.ts == 2**63 - 1
    ex.check_invariants()


def test_money_totals_stay_exact_at_the_largest_balances():
    ex = eth()
    ex.load_accounts({"trader_id": [1, 2], "balance": [1e18, 1e18]})
    deposits, total = ex.money()
    assert deposits == total == 2e18
    ex.check_invariants()
