"""Venue rules as a user meets them: the vectorised formulas per asset and margin mode, and each
venue's close-out sequence (REFERENCE §7 for the sources)."""

import numpy as np
import pytest

import liqsim


def test_hyperliquid_isolated_positions_at_max_leverage_in_several_assets():
    # MMR = 1 / (2 × max leverage). Isolated at max leverage L, margin = Q·E / L:
    #   long  E + (P − E) = P / (2L) − E/L  →  P = E (1 − 1 / (2L − 1))
    #   short E/L + (E − P) = P / (2L)      →  P = E (1 + 1 / (2L + 1))
    # BTC 40x and ETH 25x (built-in tables, docs trading/margin-tiers), SOL 20x, DOGE 20x (given).
    side = ["long", "short", "long", "short"]
    qty = [0.5, 10.0, 100.0, 100_000.0]
    entry = np.array([60_000.0, 3_000.0, 150.0, 0.1])
    lev = np.array([40, 25, 20, 20])
    args = dict(venue="hyperliquid", symbol=["BTC", "ETH", "SOL", "DOGE"], max_leverage=[np.nan, np.nan, np.nan, 20],
                margin_mode="isolated", leverage=lev)
    lp = liqsim.liquidation_price(side, qty, entry, **args)
    sign = np.array([1, -1, 1, -1])
    want = np.where(sign > 0, entry * (1 - 1 / (2 * lev - 1)), entry * (1 + 1 / (2 * lev + 1)))
    assert lp == pytest.approx(want, rel=1e-12)
    bp = liqsim.bankruptcy_price(side, qty, entry, **args)
    assert bp == pytest.approx(entry * (1 - sign / lev), rel=1e-12)
    # REFERENCE §3 worked example (DOGE short at 20x with its own margin): 0.2097023.
    doge = liqsim.liquidation_price("short", 351, 0.14333, 25.136807, venue="hyperliquid", symbol="DOGE",
                                    max_leverage=20)
    assert float(doge) == pytest.approx(0.2097023, abs=5e-8)


def test_hyperliquid_margin_tables_per_row():
    # BTC 1.25 % to $150M then 2.5 % (deduction 1,875,000); ETH 2 % to $100M.
    mm = liqsim.maintenance_margin([1e6, 200e6, 1e6], venue="hyperliquid", symbol=["BTC", "BTC", "ETH"])
    assert mm.tolist() == pytest.approx([12_500.0, 3_125_000.0, 20_000.0])
    with pytest.raises(liqsim.LiqsimError, match="max_leverage"):
        liqsim.maintenance_margin(1e6, venue="hyperliquid", symbol="WIF")
    assert float(liqsim.maintenance_margin(1e6, venue="hyperliquid", symbol="WIF", max_leverage=5)) == 100_000.0


def test_bybit_isolated_uses_the_live_engine():
    # REFERENCE §7: long 1 BTC @ 20,000 at 50x (margin 400), MMR 0.5 % on the mark value:
    # (20,000 − 400) / 0.995 = 19,698.49 (the pre-2025 help page's 19,700 measured it on entry).
    lp = liqsim.liquidation_price("long", 1.0, 20_000.0, venue="bybit", margin_mode="isolated", leverage=50)
    assert float(lp) == pytest.approx(19_698.49, abs=0.005)
    # Extra margin 100 on top of the 400: (20,000 − 500) / 0.995.
    lp = liqsim.liquidation_price("long", 1.0, 20_000.0, 100.0, venue="bybit", margin_mode="isolated", leverage=50)
    assert float(lp) == pytest.approx(19_500 / 0.995)
    # REFERENCE §2: bankruptcy long 1 BTC @ 10,000 at 50x = 9,800; short 10,200.
    bp = liqsim.bankruptcy_price(["long", "short"], 1.0, 10_000.0, venue="bybit", margin_mode="isolated", leverage=50)
    assert bp.tolist() == pytest.approx([9_800.0, 10_200.0])


def test_a_user_tier_table_and_mixed_margin_modes():
    # REFERENCE §1 example 4 (MMR 1 %, cum 0.01): a table whose second tier starts at 2 has
    # cum = 2 × (1 % − 0.5 %) = 0.01. Short Q 1 @ 10 at 5x (WB 2) → 11.89108910891089; the same
    # position given as a cross balance of 2 gives the same price.
    tiers = {"floor": [0.0, 2.0], "cap": [2.0, 1e9], "mmr": [0.005, 0.01], "max_leverage": [125, 100]}
    lp = liqsim.liquidation_price("short", 1.0, 10.0, [np.nan, 2.0], symbol="ANYUSDT", tiers=tiers,
                                  margin_mode=["isolated", "cross"], leverage=5)
    assert lp.tolist() == pytest.approx([11.89108910891089] * 2, rel=1e-12)


def test_bad_formula_arguments_name_the_argument():
    with pytest.raises(liqsim.ScenarioError, match="leverage") as e:
        liqsim.liquidation_price("long", 1.0, 100.0, margin_mode="isolated")
    assert e.value.column == "leverage"
    with pytest.raises(liqsim.ScenarioError, match="balance"):
        liqsim.liquidation_price("long", 1.0, 100.0)
    with pytest.raises(liqsim.ScenarioError) as e:
        liqsim.liquidation_price("long", 1.0, 100.0, margin_mode="portfolio", leverage=5)
    assert e.value.column == "margin_mode"
    with pytest.raises(liqsim.ScenarioError) as e:
        liqsim.liquidation_price("long", 1.0, 100.0, 10.0, venue="hyperliquid", symbol="X", max_leverage=[2.5])
    assert e.value.column == "max_leverage"
    with pytest.raises(liqsim.LiqsimError, match="hyperliquid only"):
        liqsim.liquidation_price("long", 1.0, 100.0, 10.0, max_leverage=20)
    with pytest.raises(liqsim.LiqsimError):
        liqsim.liquidation_price("long", 1.0, 100.0, 10.0, symbol="DOGEUSDT")


def _squeeze(venue, symbol, fund, short_balance=585.0, **kwargs):
    """Short 19.5 ETH @ 3,000 with 585 (bankruptcy 3,030) and a long 19.5 @ 2,900 loaded; a buyer
    lifts the asks to 3,100, past the short's bankruptcy price, with nothing offered below it."""
    ex = liqsim.Exchange(venue=venue, symbol=symbol, tick_size=0.01, lot_size=0.001, insurance_fund=fund,
                         mark_rule=kwargs.pop("mark_rule", "last"), **kwargs)
    ex.load_accounts({"trader_id": [1, 2, 3], "balance": [short_balance, 100_000.0, 100_000.0],
                      "side": ["short", "long", "flat"], "qty": [19.5, 19.5, 0.0],
                      "entry_price": [3000.0, 2900.0, np.nan], "leverage": [20, 5, 5]})
    ex.load_book({"side": ["ask", "ask", "bid"], "price": [3010.0, 3100.0, 2990.0], "qty": [0.5, 1.0, 50.0]})
    ex.set_index(3000.0)
    return ex


def test_binance_a_1_usdt_fund_does_not_take_over_a_19_5_eth_bankrupt_short():
    # REFERENCE §7: ADL when the fund cannot accept the position. At the 3,100 mark a takeover at
    # 3,030 costs 70 per ETH: a 1-USDT fund affords 0.014 ETH; the rest goes to ADL at 3,030.
    ex = _squeeze("binance", "ETHUSDT", 1.0)
    ex.submit(3, "buy", 1.5)
    ex.check_invariants()
    adl = ex.adl()  # one record per step of the (assumed) tier step-down
    assert set(adl["trader_id"].tolist()) == {2} and set(adl["price"].tolist()) == {3030.0}
    taken = ex.accounts()["position"][ex.accounts()["trader_id"] == -1][0]
    assert adl["qty"].sum() - taken == pytest.approx(19.5)  # the fund holds −taken (short)
    assert -taken <= 0.014 + 1e-12
    assert ex.insurance_fund >= 0.0
    assert ex.liquidations()["kind"][0] == "adl"


def test_liquidation_limits_per_venue():
    # Binance and Bybit send limits at the bankruptcy price; Hyperliquid and dYdX market orders
    # (dYdX at its fillable price); `liquidation_limit="market"` keeps the old Binance behaviour.
    ex = _squeeze("binance", "ETHUSDT", 10_000.0)
    ex.submit(3, "buy", 0.5)  # lifts 3,010: the short (trigger 3,017.9…) is not crossed yet
    ex.submit(3, "buy", 1.0)  # 3,100: crossed; nothing offered at or below 3,030: the fund takes it
    assert ex.trades()["kind"].tolist()[-1] == "backstop"
    ex = _squeeze("binance", "ETHUSDT", 10_000.0, liquidation_limit="market")
    ex.submit(3, "buy", 0.5)
    ex.load_book({"side": ["ask"], "price": [3200.0], "qty": [100.0]})
    ex.submit(3, "buy", 1.0)
    kinds = ex.trades()["kind"]
    assert "liquidation" in kinds.tolist()  # the market order swept past bankruptcy, the fund paid
    ex.check_invariants()


def test_dydx_liquidates_one_block_at_a_time():
    # REFERENCE §7. With 1,000 the short triggers at 59,500 / (19.5 × 1.012) = 3,015.1. Index 3,025:
    # margin balance 512.5, MM 1.2 % × 58,987.5 = 707.85, fillable price 3,025 + 1.5 × 195.35 / 19.5
    # = 3,040.03 (below bankruptcy 3,051.28): 10 % = 1.95 ETH, 0.5 at 3,010 and 1.45 at 3,040.
    ex = _squeeze("dydx", "ETH-USD", 0.0, short_balance=1000.0, mark_rule=None)
    ex.load_book({"side": ["ask"], "price": [3040.0], "qty": [100.0]})
    ex.set_index(3025.0)
    liq = ex.liquidations()
    assert liq["kind"].tolist() == ["partial"] and liq["qty"].tolist() == [1.95]
    assert float(liq["avg_fill_price"][0]) == pytest.approx((0.5 * 3010 + 1.45 * 3040) / 1.95)
    ex.check_invariants()
    ex.advance(3 * 10**9)
    assert len(ex.liquidations()["qty"]) >= 2
    ex.check_invariants()


def test_any_hyperliquid_asset_by_its_max_leverage():
    ex = liqsim.Exchange(venue="hyperliquid", symbol="DOGE", tick_size=0.00001, lot_size=1.0, max_leverage=20)
    ex.load_accounts({"trader_id": [1], "balance": [25.136807], "side": ["short"], "qty": [351.0],
                      "entry_price": [0.14333], "leverage": [20]})
    # REFERENCE §3: DOGE short 351 @ 0.14333 with 25.136807 at 20x (MMR 2.5 %) → 0.2097023; the
    # exact trigger is the first tick at or above it.
    assert ex.accounts()["liquidation_price"][-1] == pytest.approx(0.20971, abs=1e-9)
    with pytest.raises(liqsim.LiqsimError, match="max_leverage"):
        liqsim.Exchange(venue="hyperliquid", symbol="DOGE")
    with pytest.raises(liqsim.LiqsimError, match="hyperliquid only"):
        liqsim.Exchange(venue="binance", max_leverage=20)
