"""Pickling of liqsim.Exchange and liqsim.OrderBook: a compact versioned binary snapshot of the
core's state. An unpickled market continues exactly as the original would (same tables, same
bytes), pickles are deterministic, they travel through a process pool, and a damaged one raises
liqsim.SnapshotError."""

from __future__ import annotations

import concurrent.futures
import copy
import pickle
from collections.abc import Mapping
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_exchange_properties import TABLES, cases, run_case

import liqsim
from liqsim import scenarios

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
WHALE = 999_999


def demo_market() -> liqsim.Exchange:
    """The README's demo market (≈5,000 accounts, a 1,400-level book) with some of everything the
    snapshot must carry: a resting order, stops of each kind, half an interval of funding samples."""
    ex = scenarios.build_exchange(scenarios.eth_short_squeeze())
    ex.submit(WHALE, "buy", 2.0, price=3800.0)  # rests below the touch
    ex.submit_stop(WHALE, "sell", 1.0, trigger_price=3810.0)
    ex.submit_stop(WHALE, "buy", 1.0, trigger_price=3860.0, limit_price=3870.0)
    ex.submit_stop(WHALE, "sell", 1.0, trail_fraction=0.01)
    ex.submit_stop(WHALE, "sell", 1.0, trigger_price=3805.0, oco_group=7)
    ex.submit_stop(WHALE, "buy", 1.0, trigger_price=4200.0, oco_group=7)
    ex.submit_stop(WHALE, "sell", 1.0, trigger_price=3000.0)  # still waiting at the end
    ex.advance(4 * 3600.0 + 3.0)  # half a funding interval of premium samples
    return ex


def then(ex: liqsim.Exchange) -> liqsim.Exchange:
    """What both the original and its unpickled copy do next: a 1,500 ETH buy into the stacked
    shorts (a multi-round cascade), a drop through the stops, and a funding settlement."""
    ex.submit(WHALE, "buy", 1500.0)
    ex.set_index(4000.0)
    ex.submit(WHALE, "sell", 3000.0)
    ex.advance(5 * 3600.0)
    return ex


ALL_TABLES = ("trades", "liquidations", "accounts", "insurance", "adl", "funding", "stops")


def assert_same_tables(a: liqsim.Exchange, b: liqsim.Exchange) -> None:
    pairs = [(getattr(a, name)(), getattr(b, name)(), name) for name in ALL_TABLES]
    pairs += [(a.orders(side), b.orders(side), f"orders {side}") for side in ("buy", "sell")]
    for x, y, name in pairs:
        assert list(x.keys()) == list(y.keys()), name
        for col in x:
            u, v = np.asarray(x[col]), np.asarray(y[col])
            assert u.dtype == v.dtype, (name, col)
            if u.dtype == object:
                assert u.tolist() == v.tolist(), (name, col)
            else:
                assert u.tobytes() == v.tobytes(), (name, col)  # NaN bits included


def assert_same(x: object, y: object) -> None:
    """Equal results, nested tables included, to the byte (NaN bits too)."""
    if isinstance(x, Mapping):
        assert isinstance(y, Mapping) and list(x.keys()) == list(y.keys())
        for k in x:
            assert_same(x[k], y[k])
    else:
        u, v = np.asarray(x), np.asarray(y)
        assert u.dtype == v.dtype
        assert u.tolist() == v.tolist() if u.dtype == object else u.tobytes() == v.tobytes()


@pytest.fixture(scope="module")
def market() -> liqsim.Exchange:
    return demo_market()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unpickled_exchange_continues_exactly_as_the_original(market, protocol):
    original = market.copy()
    restored = pickle.loads(pickle.dumps(original, protocol=protocol))
    assert isinstance(restored, liqsim.Exchange) and repr(restored) == repr(original)
    assert_same_tables(original, restored)
    then(original)
    then(restored)
    liq = restored.liquidations()
    assert len(liq) > 100, "the cascade ran on the copy"
    stops = restored.stops()
    assert stops["status"].tolist().count("triggered") >= 3 and "cancelled" in stops["status"].tolist()
    assert len(restored.funding()) >= 1
    assert_same_tables(original, restored)
    restored.check_invariants()
    assert pickle.dumps(restored, protocol=protocol) == pickle.dumps(original, protocol=protocol)


def test_pickles_are_deterministic_bytes(market):
    a = pickle.dumps(market, protocol=5)
    assert pickle.dumps(market, protocol=5) == a
    assert pickle.dumps(demo_market(), protocol=5) == a, "an exchange built alike pickles alike"
    assert pickle.dumps(pickle.loads(a), protocol=5) == a
    # The pickle is the snapshot plus a few dozen bytes of pickle framing.
    assert len(a) < len(market._ex._snapshot()) + 200


def test_copies_are_independent(market):
    for twin in (copy.deepcopy(market), copy.copy(market), market.copy()):
        before = pickle.dumps(market)
        twin.submit(WHALE, "buy", 100.0)
        assert pickle.dumps(market) == before
        assert len(twin.trades()) > len(market.trades())


def test_an_unpickled_order_book_continues_exactly():
    rng = np.random.default_rng(5)
    n = 4000
    actions = {
        "action": rng.choice(["limit"] * 6 + ["cancel"] * 3 + ["market"], n),
        "side": rng.choice(["buy", "sell"], n),
        "qty": np.round(rng.integers(1, 100, n) * 0.001, 3),
    }
    # Bids below 100 and asks above, a few crossing; 1 to 50 ticks away.
    away = np.where(actions["side"] == "buy", -1, 1) * rng.integers(-3, 50, n)
    actions["price"] = np.round(100.0 + away * 0.01, 2)
    # Cancels name ids of any age (open, filled, cancelled, never used); new orders get the next id.
    actions["order_id"] = np.where(actions["action"] == "cancel", rng.integers(0, n, n), -1)
    head = {k: v[: n // 2] for k, v in actions.items()}
    tail = {k: v[n // 2 :] for k, v in actions.items()}
    book = liqsim.OrderBook(tick_size=0.01, lot_size=0.001, stp="cancel_maker")
    book.process(head)
    assert book.open_orders > 100
    for protocol in PROTOCOLS:
        twin = pickle.loads(pickle.dumps(book, protocol=protocol))
        assert repr(twin) == repr(book)
        assert_same(book.copy().process(tail), twin.process(tail))
        twin.check_invariants()
    assert pickle.dumps(book) == pickle.dumps(pickle.loads(pickle.dumps(book)))
    again = copy.deepcopy(book)
    again.submit("buy", 1.0)
    assert again.open_orders != book.open_orders or again.best_ask != book.best_ask


def _cascade_after(blob: bytes, index: float) -> tuple[float, int, float]:
    """Runs in a worker process: one what-if (the index jumps) on the unpickled market."""
    ex = pickle.loads(blob)
    ex.set_index(index)
    liq = ex.liquidations()
    return float(ex.mark or 0.0), len(liq), float(liq["notional"].sum())


def test_what_ifs_run_in_a_process_pool(market):
    blob = pickle.dumps(market, protocol=5)
    jumps = [3900.0, 3950.0, 4000.0, 4100.0]
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        remote = list(pool.map(_cascade_after, [blob] * len(jumps), jumps))
    assert remote == [_cascade_after(blob, s) for s in jumps]
    assert remote[-1][1] > remote[0][1] > 0, "bigger jumps liquidate more"
    # The exchange object itself travels too (pickled by the pool).
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        assert pool.submit(repr, market).result() == repr(market)


def _snapshot_args(obj) -> tuple:
    restore, args = obj._ex.__reduce__() if isinstance(obj, liqsim.Exchange) else obj._book.__reduce__()
    return restore, args


def test_damaged_snapshots_raise_snapshot_error(market):
    restore, (tick, lot, snap) = _snapshot_args(market)
    assert snap[:8] == b"LIQSIMSN"
    damaged = [
        snap[:-1],  # cut short
        snap[: len(snap) // 2],
        snap[:10],
        b"",
        snap + b"\0",  # trailing garbage
        snap[:100] + bytes([snap[100] ^ 0x01]) + snap[101:],  # one bit in the payload
        snap[:8] + (2).to_bytes(2, "little") + snap[10:],  # another format version
        b"LIQSIMSX" + snap[8:],  # not our magic
    ]
    for bad in damaged:
        with pytest.raises(liqsim.SnapshotError, match="snapshot"):
            restore(tick, lot, bad)
    with pytest.raises(liqsim.SnapshotError, match="format version 2"):
        restore(tick, lot, damaged[6])
    # The other kind, and grids that do not fit the snapshot.
    book_restore, (_, _, book_snap) = _snapshot_args(liqsim.OrderBook(0.01, 0.001))
    with pytest.raises(liqsim.SnapshotError, match="holds an order book, not an exchange"):
        restore(tick, lot, book_snap)
    with pytest.raises(liqsim.SnapshotError, match="holds an exchange"):
        book_restore(tick, lot, snap)
    with pytest.raises(liqsim.SnapshotError, match="notional scale"):
        restore(0.1, lot, snap)
    with pytest.raises(liqsim.SnapshotError):
        restore(float("nan"), lot, snap)
    assert issubclass(liqsim.SnapshotError, liqsim.LiqsimError) and issubclass(liqsim.SnapshotError, ValueError)


def test_a_tampered_pickle_raises_snapshot_error(market):
    blob = pickle.dumps(market, protocol=5)
    at = blob.find(b"LIQSIMSN")
    assert at > 0
    for offset in (8, 10, 12, 20, 30, 500, 5000):  # version, kind, length, checksum, payload
        bad = bytearray(blob)
        bad[at + offset] ^= 0x40
        with pytest.raises(liqsim.SnapshotError):
            pickle.loads(bytes(bad))
    # A pickle cut short fails inside pickle itself (its own framing), before liqsim sees it.
    with pytest.raises((pickle.UnpicklingError, EOFError)):
        pickle.loads(blob[: len(blob) // 2])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases(), st.integers(0, 25), st.sampled_from([2, 5]))
def test_random_markets_continue_exactly_after_a_pickle(case, split, protocol):
    """The exchange property harness played through, and again with the rest of the case played
    on a pickled and unpickled copy taken before step ``split``: the same bytes in every table."""
    a = run_case(case, check=False)
    with mock.patch.object(liqsim.Exchange, "copy", lambda ex: pickle.loads(pickle.dumps(ex, protocol=protocol))):
        b = run_case(case, check=False, copy_at=split)
    b.check_invariants()
    for name in TABLES:
        x, y = getattr(a, name)(), getattr(b, name)()
        for col in x:
            u, v = np.asarray(x[col]), np.asarray(y[col])
            assert u.dtype == v.dtype and u.tobytes() == v.tobytes(), (name, col)
    assert pickle.dumps(a) == pickle.dumps(b)
