"""Replay of recorded Binance L2 streams (liqsim.io.replay_l2 / read_binance_stream), on a slice of
real data in tests/data and, when present, on every file of the shared data set."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import liqsim
from liqsim.io import read_binance_stream, replay_l2

DATA = Path(__file__).parent / "data" / "binance-l2"
BTC = DATA / "btcusdt_20240718_head2500.gz"
COINM = DATA / "btcusd_perp_20240808_head1500.gz"
SNAPSHOT_LINE = 14  # of BTC


def shared_l2_dir() -> Path | None:
    """The full recordings: $LIQSIM_BINANCE_L2, or ../shared/data/binance-l2 next to the checkout
    (or next to the folder holding it, for worktrees)."""
    env = os.environ.get("LIQSIM_BINANCE_L2")
    root = Path(__file__).resolve().parent.parent
    for d in ([Path(env)] if env else []) + [root.parent / "shared/data/binance-l2", root.parent.parent / "shared/data/binance-l2"]:
        if d.is_dir() and any(d.glob("*.gz")):
            return d
    return None


def lines(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") as f:
        return f.read().splitlines()


def write(path: Path, content: list[bytes]) -> Path:
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join(content) + b"\n")
    return path


def test_slice_replays_in_sync_and_agrees_with_book_ticker():
    r = replay_l2(BTC)
    f = r.files
    assert bool(f["synced"][0])
    assert len(r.gaps) == 0
    assert f["aligned"][0] > 0
    assert f["matched"][0] == f["aligned"][0]  # 100% where ids align
    assert f["match_rate"][0] == 1.0
    assert r.mismatch_count == 0
    # best bid below best ask at every change of the top of book
    ok = ~np.isnan(r.top["bid"])
    assert np.all(r.top["bid"][ok] < r.top["ask"][ok])
    assert np.all(np.diff(r.top["ts"]) >= 0)
    s = r.series
    assert {"bid_qty_1pct", "bid_notional_1pct", "ask_qty_1pct", "ask_notional_1pct", "mid", "synced"} <= set(s)
    live = s["synced"]
    assert live.any() and not live[0]  # in sync only after the snapshot
    assert np.all(s["bid_notional_1pct"][live] > 0)
    assert len(r.trades) == sum(b'@trade"' in line for line in lines(BTC))
    assert set(np.unique(r.trades["side"])) <= {"buy", "sell"}
    assert pa.table(r.files).num_rows == 1


def test_read_binance_stream_decodes_every_message():
    raw = lines(BTC)
    t = read_binance_stream(BTC)
    assert len(t["book_ticker"]) == sum(b"@bookTicker" in x for x in raw)
    assert len(t["trades"]) == sum(b'@trade"' in x for x in raw)
    assert set(np.unique(t["snapshots"]["last_update_id"])) == {4984028384061}
    assert len(t["snapshots"]) == 2000  # 1,000 levels per side
    d = t["depth"]
    assert set(np.unique(d["side"])) == {"bid", "ask"}
    assert np.all(d["price"] > 0) and np.all(d["qty"] >= 0)
    assert np.all(d["first_update_id"] <= d["update_id"])
    first = raw[0].split(b" ", 1)
    assert d["ts"][0] == int(first[0])
    assert t["depth"].to_arrow().schema.field("ts").type == pa.timestamp("ns", tz="UTC")


def test_book_at_loads_into_an_exchange():
    r = replay_l2(BTC)
    t = int(r.series["ts"][r.series["synced"]][-1])
    book = r.book_at(t)
    assert list(book) == ["side", "price", "qty", "notional"]
    bids = book["price"][book["side"] == "bid"]
    asks = book["price"][book["side"] == "ask"]
    assert bids[0] == r.series["bid"][-1] or t != r.series["ts"][-1]
    assert np.all(np.diff(bids) < 0) and np.all(np.diff(asks) > 0) and bids[0] < asks[0]
    assert liqsim.io.book_grid(book) == (0.1, 0.001)  # BTCUSDT's tick and lot, from the data
    ex = liqsim.Exchange(symbol="BTCUSDT", tick_size=0.1, lot_size=0.001)
    ex.load_book(book, extra_columns="ignore")  # notional is derived: not loaded
    assert ex.best_bid == bids[0] if hasattr(ex, "best_bid") else True
    # Same book whether asked up front (book_times) or recomputed on demand.
    again = replay_l2(BTC, book_times=[t]).book_at(t)
    assert all(np.array_equal(np.asarray(book[k]), np.asarray(again[k])) for k in ("price", "qty"))
    top = r.book_at(t, levels=5)
    assert len(top) == 10


def test_book_at_refuses_times_out_of_sync_or_after_the_end():
    r = replay_l2(BTC)
    first_ts = int(lines(BTC)[0].split(b" ")[0])
    with pytest.raises(liqsim.LiqsimError, match="not in sync"):
        r.book_at(first_ts)
    with pytest.raises(liqsim.LiqsimError, match="after the end"):
        r.book_at(r.last_ts + 10**9)
    with pytest.raises(ValueError, match="'yesterday' is not an ISO time"):
        r.book_at("yesterday")
    # the same instant given as ns, ISO string, numpy and datetime
    import datetime as dt

    t = int(r.series["ts"][-1])
    iso = str(np.datetime64(t, "ns"))
    as_dt = dt.datetime.fromtimestamp(t // 10**9, tz=dt.timezone.utc)
    assert t % 10**9 == 0
    sizes = {len(r.book_at(x)) for x in (t, iso, np.datetime64(t, "ns"), as_dt)}
    assert len(sizes) == 1


def test_split_recording_is_one_stream(tmp_path):
    raw = lines(BTC)
    a = write(tmp_path / "a.gz", raw[:1200])
    b = write(tmp_path / "b.gz", raw[1200:])
    whole = replay_l2(BTC)
    split = replay_l2([a, b])
    assert len(split.gaps) == 0
    assert split.files["synced"].tolist() == [True, True]  # b has no snapshot: continues a's book
    assert int(split.files["diffs_applied"].sum()) == int(whole.files["diffs_applied"][0])
    assert int(split.files["matched"].sum()) == int(whole.files["aligned"][0])
    np.testing.assert_array_equal(split.series["bid"], whole.series["bid"])
    # b alone never reaches a snapshot-consistent point: reported, not invented.
    alone = replay_l2(b)
    assert not alone.files["synced"][0]
    assert alone.summary()["synced"] is False
    assert np.isnan(alone.series["bid"]).all()


def test_missing_diff_is_a_gap_with_its_ids_and_resyncs_at_the_next_snapshot(tmp_path):
    raw = lines(BTC)
    depth_rows = [i for i, x in enumerate(raw) if b"@depth" in x and i > SNAPSHOT_LINE + 50]
    drop = depth_rows[10]
    # Replay the snapshot again 300 lines later: Binance's procedure after a gap is a new snapshot;
    # here it is an old one, older than the diffs at hand, so it cannot resync: reported too.
    broken = raw[:drop] + raw[drop + 1 :]
    r = replay_l2(write(tmp_path / "gap.gz", broken))
    assert len(r.gaps) == 1
    g = r.gaps
    assert g["kind"][0] == "prev_id_mismatch"
    dropped = raw[drop]
    assert f'"u":{g["expected_id"][0]}'.encode() not in dropped  # expected = u before the lost diff
    assert f'"pu":{g["prev_update_id"][0]}'.encode() in raw[depth_rows[11]]
    assert not g["resynced"][0]
    assert r.mismatch_count == 0
    assert np.isnan(r.series["bid"][-1])  # out of sync to the end: no values from a broken book
    with pytest.raises(liqsim.LiqsimError, match="not in sync"):
        r.book_at(r.last_ts)


def test_gap_then_fresh_snapshot_resyncs(tmp_path):
    raw = lines(BTC)
    depth_rows = [i for i, x in enumerate(raw) if b"@depth" in x]
    k = next(i for i, row in enumerate(depth_rows) if row > SNAPSHOT_LINE + 50)
    lost, after = depth_rows[k], depth_rows[k + 1]
    # A synthetic snapshot consistent with the diff after the lost one: the book the full stream
    # had just before it, stamped with the lost diff's final id.
    full = replay_l2(BTC, book_times=[int(raw[lost].split(b" ")[0])])
    book = full.book_at(int(raw[lost].split(b" ")[0]))
    u = int(raw[lost].split(b'"u":')[1].split(b",")[0])
    bids = [[f"{p:.2f}", f"{q:.3f}"] for p, q, s in zip(book["price"], book["qty"], book["side"]) if s == "bid"]
    asks = [[f"{p:.2f}", f"{q:.3f}"] for p, q, s in zip(book["price"], book["qty"], book["side"]) if s == "ask"]
    import json

    ts = raw[after].split(b" ")[0]
    snap = ts + b" " + json.dumps({"lastUpdateId": u, "E": 0, "T": 0, "bids": bids, "asks": asks}).encode()
    broken = raw[:lost] + raw[lost + 1 : after + 1] + [snap] + raw[after + 1 :]
    r = replay_l2(write(tmp_path / "resync.gz", broken))
    assert len(r.gaps) == 1 and bool(r.gaps["resynced"][0])
    assert r.mismatch_count == 0
    assert r.files["matched"][0] > 0
    np.testing.assert_array_equal(r.series["bid"][-3:], full.series["bid"][-3:])


def test_coin_m_quantities_are_contracts():
    r = replay_l2(COINM, contract_size=100.0)
    assert bool(r.files["synced"][0]) and len(r.gaps) == 0
    assert r.files["matched"][0] == r.files["aligned"][0] > 0
    np.testing.assert_allclose(r.trades["notional"], r.trades["qty"] * 100.0)
    assert np.all(r.trades["qty"] == np.round(r.trades["qty"]))  # whole contracts
    t = int(r.series["ts"][r.series["synced"]][-1])
    book = r.book_at(t)
    np.testing.assert_allclose(book["base_qty"], book["qty"] * 100.0 / book["price"])
    assert liqsim.io.book_grid(book) == (0.1, 1.0)  # BTCUSD_PERP: 0.1 USD tick, whole contracts
    s = r.series
    live = s["synced"]
    np.testing.assert_allclose(s["bid_notional_1pct"][live], s["bid_qty_1pct"][live] * 100.0)
    with pytest.raises(ValueError, match="contract_size"):
        replay_l2(COINM, contract_size=0)


def test_bad_input_gets_clear_errors(tmp_path):
    raw = lines(BTC)[:30]
    raw[20] = raw[20][:40]  # truncated JSON
    bad = write(tmp_path / "bad.gz", raw)
    with pytest.raises(liqsim.ScenarioError, match=r"bad\.gz, line 21") as e:
        replay_l2(bad)
    assert e.value.line == 21
    raw = lines(BTC)[:30]
    raw[5] = b"12345"
    with pytest.raises(liqsim.ScenarioError, match=r"line 6: expected '<receive time ns> <JSON message>'"):
        read_binance_stream(write(tmp_path / "bad2.gz", raw))
    with pytest.raises(FileNotFoundError, match="nope.gz"):
        replay_l2(tmp_path / "nope.gz")
    not_gzip = tmp_path / "plain.gz"
    not_gzip.write_bytes(b"hello\n")
    with pytest.raises(liqsim.ScenarioError, match="plain.gz"):
        replay_l2(not_gzip)
    raw = lines(BTC)[:30]
    k = next(i for i, x in enumerate(raw) if b"btcusdt@trade" in x)
    raw[k] = raw[k].replace(b"btcusdt@trade", b"ethusdt@trade")
    with pytest.raises(liqsim.ScenarioError, match=f"line {k + 1}: the recording mixes symbols"):
        replay_l2(write(tmp_path / "mixed.gz", raw))
    with pytest.raises(ValueError, match="depth"):
        replay_l2(BTC, depth=[1.5])
    with pytest.raises(ValueError, match="sample_every"):
        replay_l2(BTC, sample_every=-1)


L2_DIR = shared_l2_dir()


@pytest.mark.skipif(L2_DIR is None, reason="shared Binance L2 recordings not found (set LIQSIM_BINANCE_L2)")
@pytest.mark.parametrize("name", sorted(p.name for p in L2_DIR.glob("*.gz")) if L2_DIR else [])
def test_every_shared_recording(name):
    """Every shared file: 100% best bid/ask agreement wherever a bookTicker aligns; gaps reported;
    a file without a snapshot is reported as never in sync (see the two-file test for its book)."""
    contract_size = 100.0 if "usd_perp" in name else None
    r = replay_l2(L2_DIR / name, contract_size=contract_size, sample_every=10.0)
    f = r.files
    print(f"{name}: {r}; gaps: {r.gaps.to_arrow().to_pylist()}")
    assert r.mismatch_count == 0, r.mismatches.to_arrow().slice(0, 5).to_pylist()
    assert f["matched"][0] == f["aligned"][0]
    assert (len(r.gaps) == 0) or {"ts", "expected_id", "first_update_id", "update_id", "kind"} <= set(r.gaps)
    if f["snapshots"][0] > 0:
        assert bool(f["synced"][0]) and f["aligned"][0] > 0
    else:
        assert not f["synced"][0] and f["aligned"][0] == 0


@pytest.mark.skipif(
    L2_DIR is None or not (L2_DIR / "btcusdt_20240719.gz").exists(), reason="shared Binance L2 recordings not found"
)
def test_shared_recording_split_across_files_is_one_stream():
    assert L2_DIR is not None
    r = replay_l2([L2_DIR / "btcusdt_20240718.gz", L2_DIR / "btcusdt_20240719.gz"], sample_every=10.0)
    assert len(r.gaps) == 0
    assert r.files["synced"].tolist() == [True, True]
    assert r.mismatch_count == 0
    assert int(r.files["aligned"][1]) > 0 and r.files["matched"][1] == r.files["aligned"][1]


from hypothesis import given, settings
from hypothesis import strategies as st

_RAW = lines(BTC)
_DIFF_LINES = [i for i, x in enumerate(_RAW) if b"@depth" in x]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(_DIFF_LINES), min_size=1, max_size=3, unique=True))
def test_losing_any_diffs_never_yields_a_wrong_book(lost):
    """Whatever diff lines of the real slice are lost, the replay never disagrees with the venue:
    either the lost diffs were not needed (before the snapshot, or stale) or a gap is reported and
    no values come from the broken book."""
    import tempfile

    kept = [x for i, x in enumerate(_RAW) if i not in set(lost)]
    with tempfile.TemporaryDirectory() as d:
        r = replay_l2(write(Path(d) / "lost.gz", kept))
    assert r.mismatch_count == 0
    # needed: diffs not older than the snapshot (even ones received before it are buffered)
    needed = [i for i in lost if int(_RAW[i].split(b'"u":')[1].split(b",")[0]) >= 4984028384061]
    whole = replay_l2(BTC)
    if any(i < _DIFF_LINES[-1] for i in needed):
        assert len(r.gaps) > 0  # a needed diff with diffs after it: the chain shows the loss
    if len(r.gaps) == 0:
        # nothing needed was lost: the same book at every common sample time
        common, mine, theirs = np.intersect1d(r.series["ts"], whole.series["ts"], return_indices=True)
        assert len(common) > 0
        np.testing.assert_array_equal(r.series["bid"][mine], whole.series["bid"][theirs])
        np.testing.assert_array_equal(r.series["ask_qty"][mine], whole.series["ask_qty"][theirs])
    else:
        assert needed, "a gap without a lost diff after the snapshot"
        first_gap = int(r.gaps["ts"][0])
        after = r.series["ts"] > first_gap
        assert np.isnan(r.series["bid"][after & ~r.series["synced"]]).all()
