"""asv benchmarks of the Python API of the order book.

The headline figure is ``ProcessTable.time_process_1m``: one call of ``OrderBook.process`` on a
1,000,000-row Arrow table (building the table is not timed; converting it is). Throughput in
actions/s = 1e6 / time. Run from this folder:

    asv run -E existing --quick --show-stderr          # against the installed package
"""

import numpy as np
import pyarrow as pa

import liqsim


def action_table(n: int, seed: int = 1) -> pa.Table:
    """A realistic mix as an Arrow table: 45% limit adds around a slowly moving mid (power-law
    distance from it), 40% cancels of earlier adds, 10% modifies, 5% IOC that cross the spread."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(4, size=n, p=[0.45, 0.40, 0.10, 0.05])
    mid = 385_000 + np.cumsum(rng.choice([-1, 0, 1], size=n, p=[0.0005, 0.999, 0.0005]))
    side = rng.integers(0, 2, size=n)
    order_id = np.arange(n, dtype=np.int64)
    # Cancels and modifies point at a recent GTC add (geometric lag, mean 500 adds back): mostly
    # still resting, sometimes already filled or cancelled, as in real order flow. A modify keeps
    # its order's side, so a re-price stays on its own side of the book.
    adds = np.flatnonzero(kind == 0)
    adds_before = np.searchsorted(adds, np.arange(n))
    lag = rng.geometric(1 / 500, size=n)
    target = adds[np.clip(adds_before - lag, 0, len(adds) - 1)]
    is_ref = ((kind == 1) | (kind == 2)) & (adds_before > 0)
    order_id = np.where(is_ref, target, order_id)
    side = np.where(is_ref, side[target], side)
    dist = np.minimum(rng.pareto(1.3, size=n), 2000).astype(np.int64)
    sign = np.where(side == 0, -1, 1)
    ticks = mid + sign * (1 + dist)
    ticks = np.where(kind == 3, mid - sign * 5, ticks)  # IOC: crosses by 5 ticks
    qty_lots = rng.integers(1, 100, size=n)
    action = np.array(["limit", "cancel", "modify", "limit"])[kind]
    tif = np.where(kind == 3, "ioc", "gtc")
    return pa.table({
        "action": pa.array(action).dictionary_encode(),
        "side": pa.array(np.array(["buy", "sell"])[side]).dictionary_encode(),
        "price": np.where(kind == 1, np.nan, ticks / 100.0),
        "qty": qty_lots / 1000.0,
        "order_id": order_id,
        "tif": pa.array(tif).dictionary_encode(),
        "owner": rng.integers(0, 50, size=n),
    })


def ack_heavy_table(n_orders: int, seed: int = 2) -> pa.Table:
    """An ack-heavy market-making flow like the public matching-engine benchmark's: every order is
    a GTC limit a few ticks from a slowly moving mid; 95% are cancelled later, 20% modified
    (re-priced or shrunk) first; 2% of messages are IOCs that cross. ~2.2 messages per order."""
    rng = np.random.default_rng(seed)
    add_t = np.arange(n_orders, dtype=np.float64)
    side = rng.integers(0, 2, size=n_orders)
    mid = 385_000 + np.cumsum(rng.choice([-1, 0, 1], size=n_orders, p=[0.001, 0.998, 0.001]))
    sign = np.where(side == 0, -1, 1)
    ticks = mid + sign * (1 + rng.geometric(0.2, size=n_orders))
    qty_lots = rng.integers(1, 100, size=n_orders)
    oid = np.arange(n_orders, dtype=np.int64)
    cancelled = rng.random(n_orders) < 0.95
    modified = rng.random(n_orders) < 0.20
    lag = rng.exponential(200.0, size=n_orders)
    mod_t = add_t + lag * rng.random(n_orders)
    can_t = add_t + lag
    n_ioc = n_orders // 50
    ioc_at = rng.integers(0, n_orders, size=n_ioc)
    ioc_side = rng.integers(0, 2, size=n_ioc)
    # kinds: 0 add, 1 modify, 2 cancel, 3 ioc
    t = np.concatenate([add_t, mod_t[modified], can_t[cancelled], ioc_at + 0.5])
    kind = np.concatenate([np.zeros(n_orders, np.int8), np.ones(modified.sum(), np.int8),
                           np.full(cancelled.sum(), 2, np.int8), np.full(n_ioc, 3, np.int8)])
    ref = np.concatenate([oid, oid[modified], oid[cancelled], np.full(n_ioc, -1)])
    order = np.argsort(t, kind="stable")
    kind, ref = kind[order], ref[order]
    ioc_rows = kind == 3
    row_side = np.where(ioc_rows, 0, side[np.maximum(ref, 0)])
    row_side[ioc_rows] = ioc_side
    mod_ticks = ticks[np.maximum(ref, 0)] + np.where(row_side == 0, -1, 1)  # step away from the mid
    ioc_ticks = mid[np.clip(t[order].astype(np.int64), 0, n_orders - 1)] + np.where(row_side == 0, 3, -3)
    price = np.select([kind == 0, kind == 1, kind == 3], [ticks[np.maximum(ref, 0)], mod_ticks, ioc_ticks], np.nan)
    qty = np.where(kind == 2, np.nan, qty_lots[np.maximum(ref, 0)]) / 1000.0
    return pa.table({
        "action": pa.DictionaryArray.from_arrays(
            pa.array(np.array([0, 2, 1, 0], np.int8)[kind]), pa.array(["limit", "cancel", "modify"])),
        "side": pa.DictionaryArray.from_arrays(pa.array(row_side.astype(np.int8)), pa.array(["buy", "sell"])),
        "price": price / 100.0,
        "qty": qty,
        "order_id": np.where(ioc_rows, -1, ref),
        "tif": pa.DictionaryArray.from_arrays(pa.array(ioc_rows.astype(np.int8)), pa.array(["gtc", "ioc"])),
    })


class ProcessAckHeavy:
    """The issue-7 budget: default ``OrderBook.process`` >= 6 M actions/s end to end on an
    ack-heavy flow (1 M orders, ~2.2 M messages). Rate = rows / time."""

    timeout = 300
    number = 1
    repeat = (3, 10, 60.0)

    def setup_cache(self):
        return ack_heavy_table(1_000_000)

    def time_process_ack_heavy(self, table):
        liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(table)

    def time_process_ack_heavy_then_read_status(self, table):
        # What a user typically does next: read the status names (built once, then cached).
        out = liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(table)
        out["orders"]["status"]


class ProcessTable:
    timeout = 300
    number = 1
    repeat = (3, 10, 60.0)

    def setup_cache(self):
        return action_table(1_000_000)

    def time_process_1m(self, table):
        liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(table)

    def time_process_1m_codes(self, table):
        liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(table, decode_names=False)

    def peakmem_process_1m(self, table):
        liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(table)


class OneAtATime:
    def setup(self):
        self.book = liqsim.OrderBook(tick_size=0.01, lot_size=0.001)
        for i in range(1000):
            self.book.submit("sell", 1.0, price=3850.01 + 0.01 * i, owner=1)
            self.book.submit("buy", 1.0, price=3849.99 - 0.01 * i, owner=1)

    def time_submit_cancel_10k(self):
        book = self.book
        for _ in range(5_000):
            out = book.submit("buy", 0.5, price=3800.00, owner=2)
            book.cancel(out["order_id"])


if __name__ == "__main__":
    # Quick figures without asv (best of 5; CPU time too, since the shared machine is noisy):
    #     python benches/benchmarks/bench_book.py
    import time

    def best_of(f, k=5):
        wall, cpu = float("inf"), float("inf")
        for _ in range(k):
            w0, c0 = time.perf_counter(), time.process_time()
            f()
            wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
        return wall, cpu

    flow = ack_heavy_table(1_000_000)
    rows = flow.num_rows

    def read_names():
        out = liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(flow)
        for table, columns in (("orders", ("status", "reason")), ("trades", ("aggressor",)),
                               ("events", ("kind", "side", "reason"))):
            for column in columns:
                out[table][column]

    for label, run in (
        ("ack-heavy process (default)", lambda: liqsim.OrderBook(tick_size=0.01, lot_size=0.001).process(flow)),
        ("  + reading every name column", read_names),
    ):
        wall, cpu = best_of(run)
        print(f"{label:32s} {rows:,} rows: wall {wall * 1e3:5.0f} ms = {rows / wall / 1e6:4.1f} M/s, "
              f"CPU {cpu * 1e3:5.0f} ms = {rows / cpu / 1e6:4.1f} M/s")
