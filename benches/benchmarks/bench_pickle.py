"""asv benchmarks of pickling (the core's versioned binary snapshot): the demo market (≈4,000
accounts, a 1,400-level book) and a 100k-account exchange, each way, and the pickle's size.

    asv run -E existing:$(which python) --bench bench_pickle
    python benches/benchmarks/bench_pickle.py        # the same figures, printed (median of 15)
"""

import pickle
import statistics
import time

from liqsim import scenarios


def demo_exchange():
    return scenarios.build_exchange(scenarios.eth_short_squeeze(), mark_rule="last")


def large_exchange():
    """≈100k accounts: the demo market's generator with 95,000 shorts and 30,000 longs asked for
    (the shorts already liquidatable at the start, about a quarter, are left out)."""
    return scenarios.build_exchange(scenarios.eth_short_squeeze(n_shorts=95_000, n_longs=30_000), mark_rule="last")


class PickleDemo:
    """Pickle (protocol 5) and unpickle the demo market; the pickle's size in bytes."""

    def setup(self):
        self.ex = demo_exchange()
        self.blob = pickle.dumps(self.ex, protocol=5)

    def time_dumps(self):
        pickle.dumps(self.ex, protocol=5)

    def time_loads(self):
        pickle.loads(self.blob)

    def track_bytes(self):
        return len(self.blob)


class Pickle100k:
    """The same for ≈100k accounts."""

    timeout = 300

    def setup(self):
        self.ex = large_exchange()
        self.blob = pickle.dumps(self.ex, protocol=5)

    def time_dumps(self):
        pickle.dumps(self.ex, protocol=5)

    def time_loads(self):
        pickle.loads(self.blob)

    def track_bytes(self):
        return len(self.blob)


def _median_ms(f, repeat=15):
    """Median wall and CPU time of ``f()`` in ms (CPU time is steadier on a shared machine)."""
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        f()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return f"{statistics.median(wall) * 1e3:.2f} ms wall / {statistics.median(cpu) * 1e3:.2f} ms CPU"


if __name__ == "__main__":
    for name, build in (("demo market", demo_exchange), ("100k accounts", large_exchange)):
        ex = build()
        blob = pickle.dumps(ex, protocol=5)
        dumps = _median_ms(lambda: pickle.dumps(ex, protocol=5))
        loads = _median_ms(lambda: pickle.loads(blob))
        copy = _median_ms(ex.copy)
        accounts = ex._ex.account_count - 2
        resting = len(ex.orders("buy")) + len(ex.orders("sell"))
        print(
            f"{name}: {accounts:,} accounts, {resting:,} resting orders; "
            f"pickle {len(blob):,} bytes ({len(blob) / accounts:.0f} B/account); dumps {dumps}, "
            f"loads {loads}; copy() {copy} (medians of 15)"
        )
