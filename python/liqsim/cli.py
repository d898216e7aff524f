"""The ``liqsim`` command line."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .book import OrderBook


def demo_book(mid: float = 3850.0, levels: int = 400, seed: int = 7) -> dict[str, np.ndarray]:
    """An ETH-like book as an action table: ``levels`` price levels a side, one tick apart near the
    touch and spreading out, with quantity growing away from the mid so that cumulative depth grows
    like distance^0.65 (the concave profile seen on Binance)."""
    rng = np.random.default_rng(seed)
    tick = 0.01
    # Level distances in ticks: dense near the touch, sparser further out (up to ~5% of mid).
    dist = np.unique(np.round(np.geomspace(1, 0.05 * mid / tick, levels)).astype(np.int64))
    cum = 40.0 * (dist / dist[0]) ** 0.65  # cumulative ETH within that distance
    n = len(dist)
    level_qty = np.diff(np.concatenate([[0.0], cum]))
    qty = np.maximum(np.round(np.concatenate([level_qty, level_qty]) * rng.uniform(0.7, 1.3, 2 * n), 3), 0.001)
    mid_ticks = round(mid / tick)
    price = np.concatenate([(mid_ticks - dist) * tick, (mid_ticks + dist) * tick])
    return {
        "action": np.array(["limit"] * (2 * n)),
        "side": np.array(["buy"] * n + ["sell"] * n),
        "price": np.round(price, 2),
        "qty": qty,
        "owner": np.full(2 * n, 1),
    }


def run_demo(buy_eth: float) -> int:
    t0 = time.perf_counter()
    book = OrderBook(tick_size=0.01, lot_size=0.001)
    book.process(demo_book())
    bid, ask = book.best_bid, book.best_ask
    mid = (bid + ask) / 2
    within = book.depth_within(0.01)
    print(f"ETH-like book: best bid {bid:,.2f}  best ask {ask:,.2f}  resting orders {book.open_orders}")
    print(
        f"depth within 1% of mid: bids {within['bid_qty']:,.1f} ETH (${within['bid_notional'] / 1e6:,.2f}M), "
        f"asks {within['ask_qty']:,.1f} ETH (${within['ask_notional'] / 1e6:,.2f}M)"
    )
    print(f"\nmarket buy of {buy_eth:,.0f} ETH, in slices:")
    print(f"{'slice':>5} {'bought':>9} {'avg price':>11} {'best ask after':>15} {'move':>8}")
    slice_qty = buy_eth / 5
    for i in range(5):
        out = book.submit("buy", round(slice_qty, 3), owner=2)
        after = book.best_ask
        move = (after / ask - 1) * 100 if after else float("nan")
        print(f"{i + 1:>5} {out['filled']:>9,.3f} {out['avg_price']:>11,.2f} {after or float('nan'):>15,.2f} {move:>7.2f}%")
    print(f"\n(liquidation cascades arrive with the margin engine; this demo shows the matching core)")
    print(f"done in {time.perf_counter() - t0:.3f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liqsim", description="Simulate perpetual-futures liquidation cascades.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the built-in demo market")
    demo.add_argument("--buy", type=float, default=2000.0, help="size of the market buy, in ETH (default 2000)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo(args.buy)
    return 2


if __name__ == "__main__":
    sys.exit(main())
