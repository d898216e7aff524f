"""Real market data in: recorded Binance streams (replayed in the core) and Binance public archive
files, as :class:`liqsim.Table` s.

- :func:`read_binance_stream`, :func:`replay_l2`: recorded websocket streams (L2 diffs, snapshots,
  bookTicker, trades), gzip, one ``<ns> <JSON>`` message per line.
- :func:`read_binance_trades`, :func:`read_binance_book_depth`, :func:`read_binance_funding`,
  :func:`read_binance_klines`, :func:`read_binance_metrics`: CSV files of data.binance.vision.
"""

from ._archive import (
    read_binance_book_depth,
    read_binance_funding,
    read_binance_klines,
    read_binance_metrics,
    read_binance_trades,
)
from ._stream import L2Replay, book_grid, read_binance_stream, replay_l2

__all__ = [
    "L2Replay",
    "book_grid",
    "read_binance_book_depth",
    "read_binance_funding",
    "read_binance_klines",
    "read_binance_metrics",
    "read_binance_trades",
    "read_binance_stream",
    "replay_l2",
]
