"""The backstop unwinder, as a user drives it: a long squeeze the insurance fund absorbs, held or sold back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import liqsim
from liqsim import agents

S = 1_000_000_000


def takeover_scenario(unwinder: agents.BackstopUnwinder | None) -> liqsim.Scenario:
    """Binance ETHUSDT, mark = last. Longs at 2,000: 10 ETH with 1,000 (bankruptcy 1,900, trigger
    ~1,907.6), 1 ETH with 160 (bankruptcy 1,840, trigger ~1,847.4), 1 ETH with 200 (bankruptcy
    1,800, trigger ~1,807.2). Bids: 0.001 at 1,850, 1 ETH at 1,845, 1,820 and 1,790, 50 ETH at
    1,700. At 1 s a seller hits the 1,850 lot: the 10 ETH long cannot be closed at or above its
    bankruptcy price and the insurance fund takes it over at 1,900."""
    accounts = pd.DataFrame(
        {
            "trader_id": [10, 11, 12, 20],
            "balance": [1000.0, 160.0, 200.0, 100_000.0],
            "side": ["long", "long", "long", "flat"],
            "qty": [10.0, 1.0, 1.0, 0.0],
            "entry_price": [2000.0, 2000.0, 2000.0, np.nan],
            "leverage": [20, 20, 20, 1],
        }
    )
    book = {"side": ["bid"] * 5 + ["ask"], "price": [1850.0, 1845.0, 1820.0, 1790.0, 1700.0, 2100.0],
            "qty": [0.001, 1.0, 1.0, 1.0, 50.0, 1.0]}
    orders = {"ts": [S], "trader_id": [20], "action": ["market"], "side": ["sell"], "qty": [0.001]}
    return liqsim.Scenario(
        market={"venue": "binance", "symbol": "ETHUSDT", "mark_rule": "last", "insurance_fund": 10_000.0},
        book=book, accounts=accounts, orders=orders, index={"ts": [0], "price": [2000.0]},
        agents=[] if unwinder is None else [unwinder], end=30.0, sample_every=1.0, seed=1,
    )


def fund_position(res: liqsim.SimulationResult) -> float:
    acc = res.accounts
    return float(acc["position"][acc["trader_id"] == -1][0])


def test_an_unwinding_fund_sells_what_it_took_over_and_carries_the_squeeze():
    held = liqsim.simulate(takeover_scenario(None), check_invariants=True)
    unwound = liqsim.simulate(takeover_scenario(agents.BackstopUnwinder(every=1.0, horizon=10.0)),
                              check_invariants=True)
    # Held: the fund keeps the 10 ETH long; nothing trades after the takeover, last stays 1,850.
    assert fund_position(held) == pytest.approx(10.0)
    assert list(held.liquidations["trader_id"]) == [10]
    assert held.series["last"][-1] == pytest.approx(1850.0)
    # Unwound 1 ETH a second: its sales walk the bids down through the two smaller longs'
    # triggers; the fund takes those over too and sells them as well, down to the 1,700 bids.
    assert fund_position(unwound) == pytest.approx(0.0)
    assert list(unwound.liquidations["trader_id"]) == [10, 11, 12]
    assert unwound.series["last"][-1] == pytest.approx(1700.0)
    assert unwound.summary()["trough_price"] < held.summary()["trough_price"]
    # Its sales are normal trades with taker -1; their PnL is on the fund's record.
    trades = unwound.trades
    mine = trades["taker"] == -1
    assert mine.sum() > 0 and set(trades["kind"][mine]) == {"normal"}
    ins = unwound.insurance
    pnl = ins["delta"][ins["reason"] == "position_pnl"]
    assert len(pnl) > 0 and pnl.sum() < 0  # bought at bankruptcy, sold lower
    assert unwound.series["insurance_fund"][-1] < held.series["insurance_fund"][-1]


def test_price_protection_stops_the_fund_at_its_limit():
    # All 10 ETH due at the first wake. 300 bp under the 1,850 mark is 1,794.50: it sells at 1,845
    # and 1,820 (the second long is taken over at 1,820); under the 1,820 mark the limit is
    # 1,765.40: it sells at 1,790 (the third long is taken over); under 1,790 it is 1,736.30, and
    # the 1,700 bids are never hit. 12 ETH taken over, 3 sold.
    protected = liqsim.simulate(
        takeover_scenario(agents.BackstopUnwinder(every=1.0, horizon=1.0, max_slippage_bp=300.0)),
        check_invariants=True,
    )
    assert np.nanmin(protected.series["last"]) == pytest.approx(1790.0)
    assert list(protected.liquidations["trader_id"]) == [10, 11, 12]
    assert fund_position(protected) == pytest.approx(9.0)


def test_the_unwinder_survives_save_and_load_with_the_same_bytes(tmp_path):
    scn = takeover_scenario(agents.BackstopUnwinder(every=0.5, horizon=20.0, participation=0.5,
                                                    max_slippage_bp=200.0, delay=2.0))
    scn.save(tmp_path / "scn")
    loaded = liqsim.Scenario.load(tmp_path / "scn")
    assert loaded.agents == scn.agents

    def run(s: liqsim.Scenario) -> bytes:
        res = liqsim.simulate(s)
        assert (res.trades["taker"] == -1).sum() > 0  # the unwinder did trade
        parts = [res.series.to_arrow(), res.trades.to_arrow(), res.insurance.to_arrow(), res.accounts.to_arrow()]
        return b"".join(_ipc(t) for t in parts)

    assert run(loaded) == run(scn)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_bad_parameters_name_the_agent_and_parameter():
    for kwargs, parameter in (
        ({"every": 0}, "backstop_unwinder.every"),
        ({"horizon": -1.0}, "backstop_unwinder.horizon"),
        ({"horizon": None}, "backstop_unwinder.horizon"),
        ({"participation": 1.5}, "backstop_unwinder.participation"),
        ({"participation": float("nan")}, "backstop_unwinder.participation"),
        ({"max_slippage_bp": -5.0}, "backstop_unwinder.max_slippage_bp"),
        ({"delay": -1.0}, "backstop_unwinder.delay"),
    ):
        with pytest.raises(liqsim.ConfigError) as err:
            agents.BackstopUnwinder(**kwargs)
        assert err.value.parameter == parameter
        assert "backstop_unwinder" in str(err.value)
    d = agents.BackstopUnwinder(horizon=None, participation=0.1).to_dict()
    assert agents.from_dict(d) == agents.BackstopUnwinder(horizon=None, participation=0.1)


def test_it_runs_on_one_market_of_a_venue():
    """The same squeeze in the ETH market of a two-market venue: the unwinder named for ETHUSDT
    sells the ETH fund's takeovers; the BTC market is untouched."""

    def scenario(unwinder: agents.BackstopUnwinder | None) -> liqsim.Scenario:
        fund = {"venue": "binance", "lot_size": 0.001, "mark_rule": "last", "insurance_fund": 10_000.0}
        markets = {"BTCUSDT": {**fund, "tick_size": 0.1}, "ETHUSDT": {**fund, "tick_size": 0.01}}
        accounts = {"symbol": ["ETHUSDT"] * 4 + ["BTCUSDT"], "trader_id": [10, 11, 12, 20, 30],
                    "balance": [1000.0, 160.0, 200.0, 100_000.0, 100_000.0],
                    "side": ["long", "long", "long", "flat", "flat"], "qty": [10.0, 1.0, 1.0, 0.0, 0.0],
                    "entry_price": [2000.0, 2000.0, 2000.0, np.nan, np.nan], "leverage": [20, 20, 20, 1, 1]}
        book = {"symbol": ["ETHUSDT"] * 6 + ["BTCUSDT"] * 2, "side": ["bid"] * 5 + ["ask", "bid", "ask"],
                "price": [1850.0, 1845.0, 1820.0, 1790.0, 1700.0, 2100.0, 49_990.0, 50_010.0],
                "qty": [0.001, 1.0, 1.0, 1.0, 50.0, 1.0, 1.0, 1.0]}
        orders = {"ts": [S], "symbol": ["ETHUSDT"], "trader_id": [20], "action": ["market"], "side": ["sell"],
                  "qty": [0.001]}
        index = {"ts": [0, 0], "symbol": ["BTCUSDT", "ETHUSDT"], "price": [50_000.0, 2000.0]}
        return liqsim.Scenario(market=markets, book=book, accounts=accounts, orders=orders, index=index,
                               agents=[] if unwinder is None else [unwinder], end=30.0, sample_every=1.0, seed=1)

    def fund(res: liqsim.SimulationResult, symbol: str) -> float:
        acc = res.accounts
        return float(acc["position"][(acc["trader_id"] == -1) & (acc["symbol"] == symbol)][0])

    held = liqsim.simulate(scenario(None), check_invariants=True)
    unwound = liqsim.simulate(scenario(agents.BackstopUnwinder(symbol="ETHUSDT", every=1.0, horizon=10.0)),
                              check_invariants=True)
    assert fund(held, "ETHUSDT") == pytest.approx(10.0)
    assert fund(unwound, "ETHUSDT") == pytest.approx(0.0) and fund(unwound, "BTCUSDT") == 0.0
    assert list(held.liquidations["trader_id"]) == [10]
    assert list(unwound.liquidations["trader_id"]) == [10, 11, 12]
    eth = unwound.series["symbol"] == "ETHUSDT"
    assert unwound.series["last"][eth][-1] == pytest.approx(1700.0)
