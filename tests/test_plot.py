"""liqsim.plot with matplotlib's Agg backend (skipped when matplotlib is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

import liqsim
import liqsim.scenarios

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(scope="module")
def market():
    return liqsim.scenarios.eth_short_squeeze(n_shorts=400, n_longs=150)


def test_liquidation_map_picture(market, tmp_path):
    ex = liqsim.scenarios.build_exchange(market)
    m = liqsim.liquidation_map(ex, 160)
    fig = liqsim.plot.liquidation_map(m, span=0.15)
    out = tmp_path / "map.png"
    fig.savefig(out, dpi=60)
    assert out.stat().st_size > 5_000
    assert len(fig.axes) == 2  # bars + cumulative axis


def test_heatmap_picture(tmp_path):
    n = 300
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    bars = {"open": open_, "close": close, "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998, "open_interest": 1_000 + np.cumsum(rng.normal(1, 5, n))}
    hm = liqsim.estimate_liquidation_map(bars)
    fig = liqsim.plot.heatmap(hm, log=True)
    out = tmp_path / "heatmap.png"
    fig.savefig(out, dpi=60)
    assert out.stat().st_size > 5_000
    with pytest.raises(ValueError, match="side"):
        liqsim.plot.heatmap(hm, side="up")


def test_indicators_picture(tmp_path):
    n = 50
    series = {"close": np.linspace(100, 110, n), "open_interest": np.linspace(10, 12, n),
              "funding_annualized": np.full(n, 0.1095), "cvd": np.cumsum(np.ones(n)),
              "bid_depth": np.full(n, 1e6), "ask_depth": np.full(n, 9e5)}
    fig = liqsim.plot.indicators(series)
    assert len([a for a in fig.axes if a.get_ylabel()]) >= 4
    fig.savefig(tmp_path / "ind.png", dpi=50)
    with pytest.raises(ValueError, match="close"):
        liqsim.plot.indicators({"x": [1.0]})


def test_missing_matplotlib_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    m = liqsim.analysis.maps.build_map(np.array([1.0, 2.0]), np.zeros(1), np.zeros(1))
    with pytest.raises(ImportError, match=r"liqsim\[plot\]"):
        liqsim.plot.liquidation_map(m)


def test_cascade_and_compare_pictures_of_a_builtin_scenario(tmp_path):
    import dataclasses

    scn = liqsim.scenarios.load("eth-4k-squeeze")
    refill = liqsim.simulate(scn)
    fig = refill.plot(path=tmp_path / "cascade.png", title="eth-4k-squeeze")
    assert len(fig.axes) == 5 and (tmp_path / "cascade.png").stat().st_size > 20_000
    # Price, mark and index lines, and one marker series per squeezed side.
    assert len(fig.axes[0].lines) == 3 and len(fig.axes[0].collections) == 1
    maker = dataclasses.replace(scn.agents[0], pull_move=0.01, pull_window=30.0)
    pulled = liqsim.simulate(scn.replace(agents=[maker, *scn.agents[1:]]))
    fig = liqsim.plot.compare(refill, pulled, labels=("refill", "pull"), path=tmp_path / "compare.png")
    assert len(fig.axes) == 3 and [l.get_label() for l in fig.axes[0].lines] == ["refill", "pull"]
    assert (tmp_path / "compare.png").stat().st_size > 10_000
