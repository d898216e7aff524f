"""What the backstop still holds, as series columns, summary figures and sweep columns.

Hand-worked (the same takeover as the core's sim/backstop_tests.rs): Binance ETHUSDT, mark = last,
fund 10,000. Trader 10 is long 10 ETH @ 2,000 with 1,000 (bankruptcy 2,000 − 1,000 / 10 = 1,900;
trigger 19,000 / (10 × 0.996) ≈ 1,907.63). At 0.5 s a seller hits the lone 0.001 ETH bid at 1,850:
the mark (= last) falls to 1,850, the close-out at 1,900 finds no bid (the next is 1,840) and the
fund takes the 10 ETH over at 1,900: it holds +10 ETH, 10 × 1,850 = 18,500 at the mark. An
unwinder (every 1 s, horizon 10 s) sells 1 ETH a wake into the 1,840 bids from the wake that sees
the lot (1 s): at 4 s the fund holds 6 ETH, 6 × 1,840 = 11,040 at the mark (= its last sale).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import liqsim
from liqsim import agents
from liqsim.sweep import MARKET_SUMMARY_COLUMNS, SUMMARY_COLUMNS, VENUE_SUMMARY_COLUMNS

S = 1_000_000_000


def scenario(every: float | None) -> liqsim.Scenario:
    accounts = pd.DataFrame({"trader_id": [10, 20], "balance": [1000.0, 100_000.0], "side": ["long", "flat"],
                             "qty": [10.0, 0.0], "entry_price": [2000.0, np.nan], "leverage": [20, 1]})
    book = {"side": ["bid", "bid", "ask"], "price": [1850.0, 1840.0, 2100.0], "qty": [0.001, 100.0, 1.0]}
    orders = {"ts": [S // 2], "trader_id": [20], "action": ["market"], "side": ["sell"], "qty": [0.001]}
    unwinder = [] if every is None else [agents.BackstopUnwinder(every=every, horizon=10.0)]
    return liqsim.Scenario(
        market={"venue": "binance", "symbol": "ETHUSDT", "mark_rule": "last", "insurance_fund": 10_000.0},
        book=book, accounts=accounts, orders=orders, index={"ts": [0], "price": [2000.0]},
        agents=unwinder, end=4.0, sample_every=0.5, seed=1,
    )


def fund_position(res: liqsim.SimulationResult) -> float:
    acc = res.accounts
    return float(acc["position"][acc["trader_id"] == -1][0])


def test_a_held_takeover_is_in_the_series_and_the_summary() -> None:
    res = liqsim.simulate(scenario(None), check_invariants=True)
    s = res.series
    assert list(res.liquidations["trader_id"]) == [10]
    assert s["backstop_position"].tolist() == [0.0] + [10.0] * 8
    assert s["backstop_notional"].tolist() == [0.0] + [18_500.0] * 8
    summary = res.summary()
    assert (summary["backstop_position"], summary["backstop_notional"]) == (10.0, 18_500.0)
    assert fund_position(res) == 10.0


def test_an_unwinder_selling_one_eth_a_second_leaves_six() -> None:
    res = liqsim.simulate(scenario(1.0), check_invariants=True)
    s = res.series
    assert s["backstop_position"].tolist() == [0.0, 10.0, 9.0, 9.0, 8.0, 8.0, 7.0, 7.0, 6.0]
    assert s["backstop_notional"].tolist() == [0.0, 18_500.0] + [q * 1840.0 for q in (9, 9, 8, 8, 7, 7, 6)]
    summary = res.summary()
    assert (summary["backstop_position"], summary["backstop_notional"]) == (6.0, 11_040.0)
    assert fund_position(res) == 6.0


def test_the_summary_reads_the_end_not_the_last_sample() -> None:
    # Samples every 3 s: the last is at 3 s (7 ETH held); the run ends at 4 s with 6 ETH.
    res = liqsim.simulate(scenario(1.0).replace(sample_every=3.0))
    assert res.series["backstop_position"].tolist() == [0.0, 7.0]
    assert res.summary()["backstop_position"] == 6.0 == fund_position(res)


def test_sweep_columns_match_simulate() -> None:
    assert {"backstop_position", "backstop_notional"} <= set(SUMMARY_COLUMNS) & set(MARKET_SUMMARY_COLUMNS)
    assert "backstop_notional" in VENUE_SUMMARY_COLUMNS and "backstop_position" not in VENUE_SUMMARY_COLUMNS
    # every 100 s: the unwinder's only wake in the run is at 0 s, before the takeover: held.
    t = liqsim.sweep(scenario(1.0), grid={"agents.backstop_unwinder.every": [1.0, 100.0]}, progress=False)
    assert t.column("error").null_count == 2
    assert t.column("backstop_position").to_pylist() == [6.0, 10.0]
    assert t.column("backstop_notional").to_pylist() == [11_040.0, 18_500.0]


def venue_scenario() -> liqsim.Scenario:
    # The same ETHUSDT takeover and unwinder in a venue with a quiet BTCUSDT market.
    eth = scenario(1.0)
    book = {"symbol": ["ETHUSDT"] * 3 + ["BTCUSDT"] * 2, "side": ["bid", "bid", "ask", "bid", "ask"],
            "price": [1850.0, 1840.0, 2100.0, 49_000.0, 51_000.0], "qty": [0.001, 100.0, 1.0, 1.0, 1.0]}
    accounts = eth.accounts.to_pandas().assign(symbol="ETHUSDT")
    orders = eth.orders.to_pandas().assign(symbol="ETHUSDT")
    index = {"ts": [0, 0], "symbol": ["ETHUSDT", "BTCUSDT"], "price": [2000.0, 50_000.0]}
    markets = {"ETHUSDT": eth.market, "BTCUSDT": {"venue": "binance", "tick_size": 0.1, "lot_size": 0.001}}
    return liqsim.Scenario(market=markets, book=book, accounts=accounts, orders=orders, index=index,
                           agents=[agents.BackstopUnwinder(symbol="ETHUSDT", every=1.0, horizon=10.0)],
                           end=4.0, sample_every=0.5, seed=1)


def test_a_venue_has_the_holding_per_market_and_the_notional_in_total() -> None:
    scn = venue_scenario()
    res = liqsim.simulate(scn, check_invariants=True)
    s = res.series
    eth = s.codes("symbol") == scn.symbols.index("ETHUSDT")
    assert s["backstop_position"][eth].tolist() == [0.0, 10.0, 9.0, 9.0, 8.0, 8.0, 7.0, 7.0, 6.0]
    assert set(s["backstop_position"][~eth].tolist()) == {0.0}
    summary = res.summary()
    assert (summary["ETHUSDT"]["backstop_position"], summary["ETHUSDT"]["backstop_notional"]) == (6.0, 11_040.0)
    assert (summary["BTCUSDT"]["backstop_position"], summary["BTCUSDT"]["backstop_notional"]) == (0.0, 0.0)
    assert summary["venue"]["backstop_notional"] == 11_040.0 and "backstop_position" not in summary["venue"]
    t = liqsim.sweep(scn, progress=False)
    row = t.to_pylist()[0]
    assert row["error"] is None
    assert (row["ETHUSDT.backstop_position"], row["ETHUSDT.backstop_notional"]) == (6.0, 11_040.0)
    assert (row["BTCUSDT.backstop_position"], row["BTCUSDT.backstop_notional"]) == (0.0, 0.0)
    assert row["backstop_notional"] == 11_040.0 and "backstop_position" not in row
