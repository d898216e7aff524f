"""Scenarios from a real book (issue 13): ``Scenario.from_book`` and ``scenarios.build(book=...)``.

The book is the replayed Binance BTCUSDT book of the slice in tests/data/binance-l2 (the first
2,500 lines of the shared ``btcusdt_20240718.gz``, 2024-07-18 23:57 UTC), at the slice's last
message: 1,422 bid and 1,350 ask levels, best bid 63,948.7, best ask 63,948.8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import liqsim
from liqsim.scenarios import CLUSTER_ID_BASE, Cluster

SLICE = Path(__file__).parent / "data" / "binance-l2" / "btcusdt_20240718_head2500.gz"
S = 1_000_000_000


@pytest.fixture(scope="module")
def book() -> liqsim.Table:
    replay = liqsim.io.replay_l2(SLICE, sample_every=0)
    assert replay.last_ts is not None
    return replay.book_at(replay.last_ts)


def _bids(book: liqsim.Table) -> tuple[np.ndarray, np.ndarray]:
    """Real bid levels best first: price, qty."""
    bid = np.asarray(book["side"]) == "bid"
    price, qty = np.asarray(book["price"])[bid], np.asarray(book["qty"])[bid]
    order = np.argsort(-price)
    return price[order], qty[order]


WHALE = {"trader_id": [1], "balance": [1e9], "margin_mode": ["cross"], "side": ["flat"], "qty": [0.0],
         "entry_price": [float("nan")], "leverage": [10], "isolated_margin": [float("nan")]}


def test_from_book_takes_the_grid_and_mid_from_the_data(book):
    scn = liqsim.Scenario.from_book(book, symbol="BTCUSDT", start=5 * S, end=60.0)
    # Binance BTCUSDT: tick 0.1, lot 0.001 (REFERENCE.md; the book's levels imply exactly these).
    assert scn.market == {"venue": "binance", "symbol": "BTCUSDT", "tick_size": 0.1, "lot_size": 0.001}
    # Mid of 63,948.7 / 63,948.8 is 63,948.75: on the 0.1 grid it rounds to 63,948.8.
    assert scn.index.to_pydict() == {"ts": [5 * S], "price": [63948.8]}
    assert len(scn.book) == len(book["price"]) and set(scn.book.column_names) == {"side", "price", "qty"}
    # Every real level is resting at the start, at its price and quantity.
    ex = liqsim.Exchange(**scn.market)
    ex.load_book(scn.book)
    assert ex.best_bid == 63948.7 and ex.best_ask == 63948.8
    depth = ex.depth(levels=3)
    bp, bq = _bids(book)
    top = np.asarray(depth["side"]) == "bid"
    assert list(depth["price"][top]) == list(bp[:3]) and list(depth["qty"][top]) == list(bq[:3])


def test_user_grid_is_checked_row_by_row(book):
    # 0.5 is not BTCUSDT's tick: the first level off it is named.
    price = np.asarray(book["price"])
    first_off = int(np.flatnonzero(np.abs(price / 0.5 - np.round(price / 0.5)) > 1e-6)[0])
    with pytest.raises(liqsim.ScenarioError) as err:
        liqsim.Scenario.from_book(book, symbol="BTCUSDT", tick_size=0.5)
    assert (err.value.table, err.value.column, err.value.row) == ("book", "price", first_off)
    assert "tick_size 0.5" in str(err.value)
    with pytest.raises(liqsim.ScenarioError, match="row 1: 0.0015 is not a multiple of lot_size 0.001"):
        liqsim.Scenario.from_book({"side": ["bid", "ask"], "price": [100.0, 100.1], "qty": [1.0, 0.0015]},
                                  symbol="BTCUSDT", lot_size=0.001)
    # A finer tick than the data's is fine (0.1 is a multiple of 0.05).
    assert liqsim.Scenario.from_book(book, symbol="BTCUSDT", tick_size=0.05).market["tick_size"] == 0.05


@pytest.mark.parametrize("table,column,row,message", [
    ({"side": ["bid", "ask"], "price": [100.2, 100.1], "qty": [1.0, 1.0]}, "price", 0, "crossed book"),
    ({"side": ["bid", "bid"], "price": [100.0, 99.9], "qty": [1.0, 1.0]}, "side", None, "bids and asks"),
    ({"side": ["bid", "ask"], "price": [100.0, 100.1], "qty": [1.0, -1.0]}, "qty", 1, "> 0"),
    ({"side": ["bid", "ask"], "price": [100.0, float("nan")], "qty": [1.0, 1.0]}, "price", 1, "> 0"),
    ({"side": ["bid", "offer"], "price": [100.0, 100.1], "qty": [1.0, 1.0]}, "side", 1, "not one of"),
    ({"side": ["bid", "ask"], "price": [100.0, 100.1], "qty": [1.0, 1.0], "qtty": [1, 1]}, "qtty", None, "unknown column"),
    ({"side": ["bid", "ask"], "price": [100.0, 100.1], "qty": [1.0, 1.0], "base_qty": [1, 1]}, "base_qty", None, "COIN-M"),
])
def test_bad_books_are_refused_naming_the_row(table, column, row, message):
    with pytest.raises(liqsim.ScenarioError, match=message) as err:
        liqsim.Scenario.from_book(table, symbol="BTCUSDT")
    assert (err.value.table, err.value.column, err.value.row) == ("book", column, row)


def test_bad_arguments_are_config_errors(book):
    with pytest.raises(liqsim.ConfigError, match="tick_size must be a finite number > 0"):
        liqsim.Scenario.from_book(book, symbol="BTCUSDT", tick_size=-0.1)
    with pytest.raises(liqsim.ConfigError, match="give tick_size as from_book's argument"):
        liqsim.Scenario.from_book(book, symbol="BTCUSDT", market={"tick_size": 0.1})
    with pytest.raises(liqsim.ConfigError, match="outside the book's touch"):
        liqsim.scenarios.build(symbol="BTCUSDT", book=book, price=60000.0)


def test_builder_places_the_population_and_clusters_around_the_real_mid(book):
    mid = 63948.8
    scn = liqsim.scenarios.build(symbol="BTCUSDT", book=book, open_interest=20e6, population=300,
                                 clusters=[Cluster("short", 5e6, 64_200.0, 64_600.0, accounts=50)], duration=30.0)
    assert scn.market["tick_size"] == 0.1 and scn.market["lot_size"] == 0.001
    assert scn.index.to_pydict()["price"] == [mid]
    assert len(scn.book) == len(book["price"])
    # Default agents on a real book: the noise taker only (no synthetic maker on top of it).
    assert [a.type for a in scn.agents] == ["noise_taker"]
    acc = {k: np.asarray(v) for k, v in scn.accounts.to_pydict().items()}
    pop = acc["trader_id"] < CLUSTER_ID_BASE
    # Entries spread around the real mid (entry_spread 3%), none left liquidatable at the start.
    assert abs(np.median(acc["entry_price"][pop]) / mid - 1) < 0.01
    side = np.where(acc["side"] == "long", "long", "short")
    backing = np.where(acc["margin_mode"] == "isolated", acc["isolated_margin"], acc["balance"])
    lp = liqsim.liquidation_price(side, acc["qty"], acc["entry_price"], backing, venue="binance", symbol="BTCUSDT")
    lp = np.where(np.isnan(lp), np.where(side == "long", 0.0, np.inf), lp)  # NaN: never liquidated
    assert np.all(np.where(side == "long", lp < mid, lp > mid))
    cl = ~pop
    assert np.all((lp[cl] > 64_200.0) & (lp[cl] < 64_600.0))
    res = liqsim.simulate(scn)
    # The noise taker's first fill is at the real touch.
    first = float(res.trades["price"][0])
    assert first in (63948.7, 63948.8)


def test_a_push_through_the_real_depth_liquidates_the_clusters_the_depth_implies(book):
    """A market sell of the bids' depth down to −0.15% of mid, on a market whose mark is the last
    price: the longs stacked between −0.10% and −0.04% go, the longs between −0.6% and −0.4% stay,
    and the fills are the real levels one by one."""
    bp, bq = _bids(book)
    mid = 63948.75
    cum = np.cumsum(bq)
    k = int(np.flatnonzero(bp >= mid * (1 - 0.0015))[-1])
    push = round(float(cum[k]), 3)  # 510.466 BTC: every real bid from 63,948.7 down to 63,853.0
    near = Cluster("long", 2e6, mid * (1 - 0.0010), mid * (1 - 0.0004), accounts=40, leverage=(10.0, 50.0))
    far = Cluster("long", 2e6, mid * (1 - 0.006), mid * (1 - 0.004), accounts=40, leverage=(10.0, 50.0))
    scn = liqsim.scenarios.build(symbol="BTCUSDT", book=book, population=0, open_interest=0, clusters=[near, far],
                                 agents=[], mark_rule="last", duration=10.0)
    acc = scn.accounts.to_pydict()
    near_qty = float(np.sum(np.asarray(acc["qty"])[np.asarray(acc["trader_id"]) < 2 * CLUSTER_ID_BASE]))
    scn = scn.replace(accounts={c: list(acc[c]) + WHALE[c] for c in acc},
                      orders={"ts": [S], "trader_id": [1], "action": ["market"], "side": ["sell"], "qty": [push]})
    res = liqsim.simulate(scn)

    # The whale's fills are the real bid levels, best first, each level's whole quantity.
    trades = res.trades
    whale = np.asarray(trades["taker"]) == 1
    assert np.asarray(trades["price"])[whale].tolist() == bp[: k + 1].tolist()
    assert np.allclose(np.asarray(trades["qty"])[whale], bq[: k + 1])
    assert np.asarray(trades["price"])[0] == 63948.7

    # Hand check with the real depth: the push leaves last at 63,853.0, below every near long's
    # liquidation price (≥ 63,884.8): all 40 go. Their close-outs sell near_qty more into the
    # bids; the depth says that much more reaches no lower than `floor`, above the far band's top
    # (63,692.96): none of the far longs goes.
    assert bp[k] < near.low
    floor = bp[int(np.searchsorted(cum, push + near_qty - 1e-9))]
    assert floor > far.high
    liquidated = set(np.asarray(res.liquidations["trader_id"]).tolist())
    assert liquidated == set(range(CLUSTER_ID_BASE, CLUSTER_ID_BASE + 40))
    assert float(np.min(np.asarray(trades["price"]))) >= floor
    ex = liqsim.Exchange(**scn.market)
    ex.load_book(scn.book)
    # sweep_price is the average over the same levels: Σ price·qty / Σ qty of levels 0..k.
    assert ex.sweep_price("sell", push) == pytest.approx(float(np.sum(bp[: k + 1] * bq[: k + 1]) / cum[k]), rel=1e-12)


def test_same_book_same_bytes(book):
    def run() -> bytes:
        scn = liqsim.scenarios.build(symbol="BTCUSDT", book=book, open_interest=10e6, population=100, duration=20.0)
        res = liqsim.simulate(scn)
        return repr([res.trades.to_arrow(), res.series.to_arrow()]).encode()

    assert run() == run()


def _shared_l2() -> Path | None:
    """The full recordings: $LIQSIM_BINANCE_L2, or ../shared/data/binance-l2 next to the checkout
    (or one level up, for a worktree)."""
    import os

    env = os.environ.get("LIQSIM_BINANCE_L2")
    root = Path(__file__).resolve().parents[1]
    for d in ([Path(env)] if env else []) + [root.parent / "shared/data/binance-l2", root.parent.parent / "shared/data/binance-l2"]:
        if (d / "btcusdt_20240808.gz").exists():
            return d
    return None


L2 = _shared_l2()


@pytest.mark.skipif(L2 is None, reason="shared Binance L2 recordings not found (set LIQSIM_BINANCE_L2)")
@pytest.mark.parametrize("files,symbol,tick,lot", [
    (["btcusdt_20240718.gz", "btcusdt_20240719.gz"], "BTCUSDT", 0.1, 0.001),  # 0719 continues 0718's book
    (["btcusdt_20240808.gz"], "BTCUSDT", 0.1, 0.001),
    (["ethusdt_20240808.gz"], "ETHUSDT", 0.01, 0.001),
])
def test_every_shared_recordings_last_book_starts_a_simulation(files, symbol, tick, lot):
    """The grid inferred from each full recording's book is the venue's (Binance: BTCUSDT 0.1 /
    0.001, ETHUSDT 0.01 / 0.001), and a noise taker's first fill is at the real touch."""
    assert L2 is not None
    replay = liqsim.io.replay_l2([L2 / f for f in files], sample_every=0, top_of_book=False)
    assert replay.last_ts is not None
    book = replay.book_at(replay.last_ts)
    scn = liqsim.Scenario.from_book(book, symbol=symbol, start=replay.last_ts, end=30.0,
                                    agents=[liqsim.agents.NoiseTaker(rate_per_s=2.0)], seed=3)
    assert (scn.market["tick_size"], scn.market["lot_size"]) == (tick, lot)
    side, price = np.asarray(book["side"]), np.asarray(book["price"])
    touch = (price[side == "bid"].max(), price[side == "ask"].min())
    res = liqsim.simulate(scn)
    assert len(res.trades) > 0 and float(res.trades["price"][0]) in touch


@pytest.mark.skipif(L2 is None, reason="shared Binance L2 recordings not found (set LIQSIM_BINANCE_L2)")
def test_a_coin_m_book_is_refused():
    assert L2 is not None
    replay = liqsim.io.replay_l2(L2 / "btcusd_perp_20240808.gz", contract_size=100.0, sample_every=0, top_of_book=False)
    assert replay.last_ts is not None
    with pytest.raises(liqsim.ScenarioError, match="COIN-M") as err:
        liqsim.Scenario.from_book(replay.book_at(replay.last_ts), symbol="BTCUSD_PERP")
    assert err.value.column == "base_qty"
