"""asv benchmarks of the Binance L2 replay: from the raw .gz to the rebuilt book.

    asv run -E existing:$(which python) --bench bench_replay

Data: the shared recordings (``$LIQSIM_BINANCE_L2``, or ``shared/data/binance-l2`` found next to
the checkout); without them, the slice in tests/data.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import liqsim


def _data_file() -> Path:
    env = os.environ.get("LIQSIM_BINANCE_L2")
    candidates = [Path(env)] if env else []
    for parent in Path(__file__).resolve().parents:
        candidates.append(parent / "shared" / "data" / "binance-l2")
    for d in candidates:
        if (d / "btcusdt_20240808.gz").exists():
            return d / "btcusdt_20240808.gz"
    return Path(__file__).resolve().parents[2] / "tests" / "data" / "binance-l2" / "btcusdt_20240718_head2500.gz"


def _count_lines(path: Path) -> int:
    import gzip

    with gzip.open(path, "rb") as f:
        return sum(1 for _ in f)


class ReplayRaw:
    """btcusdt_20240808.gz: 93,954 messages (diffs, bookTicker, trades), 27.8 MB inflated."""

    timeout = 300

    def setup(self):
        self.path = _data_file()
        self.messages = _count_lines(self.path)

    def time_replay(self):
        """Everything: inflate, decode, sync rules, bookTicker check, trades, 1 s series."""
        liqsim.io.replay_l2(self.path)

    def time_read_stream(self):
        """Inflate and decode into tables, no replay."""
        liqsim.io.read_binance_stream(self.path)

    def track_replay_messages_per_second(self):
        """Median of 5 runs of time_replay, as messages per second."""
        times = []
        for _ in range(5):
            t = time.perf_counter()
            liqsim.io.replay_l2(self.path)
            times.append(time.perf_counter() - t)
        return self.messages / sorted(times)[2]

    track_replay_messages_per_second.unit = "messages/s"  # type: ignore[attr-defined]


class ReplayMemory:
    """Peak memory of a replay of one file vs the same recording read 4 times as one stream
    (the repeats' diffs are older than the book and dropped, but every line is read and decoded):
    flat in stream length when the two are equal."""

    timeout = 300
    params = [1, 4]
    param_names = ["copies"]

    def setup(self, copies):
        self.paths = [_data_file()] * copies

    def peakmem_replay(self, copies):
        liqsim.io.replay_l2(self.paths, sample_every=0, top_of_book=False)
