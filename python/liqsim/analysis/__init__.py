"""Analysis of positioning and the tape: liquidation maps (exact and estimated), clusters, and the
standard indicators (CVD, OI/price regime, funding and basis, depth, cascade ratio).

Every function works the same on simulated and on real data; tables come back as
:class:`liqsim.Table`. Definitions and defaults: shared/MODELS.md §4–7.
"""

from .carry import basis, funding_annualized, premium_index
from .cascade import cascade_ratio, cascade_ratio_at, liquidation_distance
from .clusters import cluster_summary, find_clusters, notional_within
from .depth import depth_within
from .estimate import Heatmap, estimate_liquidation_map
from .flow import cvd, oi_regime
from .maps import LiquidationMap, liquidation_map, liquidation_prices

__all__ = [
    "Heatmap",
    "LiquidationMap",
    "basis",
    "cascade_ratio",
    "cascade_ratio_at",
    "cluster_summary",
    "cvd",
    "depth_within",
    "estimate_liquidation_map",
    "find_clusters",
    "funding_annualized",
    "liquidation_distance",
    "liquidation_map",
    "liquidation_prices",
    "notional_within",
    "oi_regime",
    "premium_index",
]
