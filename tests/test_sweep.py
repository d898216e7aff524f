"""liqsim.sweep and liqsim.critical_shock, as a user runs them."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import liqsim
from test_simulation import squeeze_scenario

#: The module (the package attribute `liqsim.sweep` is the function).
SWEEP = sys.modules["liqsim.sweep"]
SHOCK = {"ts": 3.0, "side": "buy", "qty": 5.0}


def without_wall_time(t: pa.Table) -> bytes:
    """The table minus its one irreproducible column, as Arrow IPC bytes (NaN compares equal)."""
    t = t.drop_columns(["wall_time_s"]).replace_schema_metadata(None).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as writer:
        writer.write_table(t)
    return bytes(sink.getvalue())


def small_sweep(**kw: object) -> pa.Table:
    scn = squeeze_scenario(pull=False, n_shorts=100)
    return liqsim.sweep(scn, grid={"agents.market_maker.pull_move": [0.0, 0.002]}, seeds=3,
                        shocks=[None, SHOCK], progress=False, **kw)  # type: ignore[arg-type]


def test_a_row_per_combination_with_the_same_figures_as_simulate():
    scn = squeeze_scenario(pull=False, n_shorts=100)
    t = small_sweep()
    assert t.num_rows == 2 * 2 * 3
    assert t.column("run_id").to_pylist() == list(range(12))
    assert t.column("error").null_count == 12
    for name in ("agents.market_maker.pull_move", "seed", "shock", "shock_qty", "liquidated_long_notional",
                 "liquidated_short_notional", "liquidated_short_count", "peak_price", "trough_price", "final_mark",
                 "cascade_rounds", "stops_triggered", "insurance_fund_change", "adl_fills", "bid_exhausted",
                 "ask_exhausted", "events", "wall_time_s"):
        assert name in t.column_names, name
    # Run 9: pull_move 0.002, the shock, the first seed. simulate() with the same inputs agrees.
    row = t.slice(9, 1).to_pylist()[0]
    assert row["agents.market_maker.pull_move"] == 0.002 and row["shock"] == 1 and row["shock_qty"] == 5.0
    maker = scn.agents[0]
    orders = scn.orders.to_pandas()
    shock = {"ts": 3 * 10**9, "trader_id": SWEEP.SHOCK_TRADER_ID, "action": "market",
             "side": "buy", "qty": 5.0}
    merged = pd.concat([pd.DataFrame([shock]), orders]).sort_values("ts", kind="stable")
    accounts = pd.concat([scn.accounts.to_pandas(), pd.DataFrame(
        {"trader_id": [shock["trader_id"]], "balance": [1e12], "side": ["flat"], "qty": [0.0],
         "entry_price": [np.nan], "leverage": [1]})])
    direct = liqsim.simulate(scn.replace(orders=merged, accounts=accounts,
                                         agents=[dataclasses.replace(maker, pull_move=0.002)]), seed=row["seed"])
    s = direct.summary()
    assert row["liquidated_short_count"] == s["liquidated_short_count"] > 0
    assert row["liquidated_short_notional"] == pytest.approx(s["liquidated_short_notional"], rel=1e-12)
    assert row["peak_price"] == s["peak_price"]
    assert row["cascade_rounds"] == s["cascade_rounds"]
    assert row["insurance_fund_change"] == pytest.approx(s["insurance_fund_change"], abs=1e-6)
    # Without pulling, the shock adds liquidations to those the scenario's own buyer sets off.
    no_shock, shock = t.slice(0, 1).to_pylist()[0], t.slice(3, 1).to_pylist()[0]
    assert no_shock["shock"] == 0 and shock["shock"] == 1
    assert 0 < no_shock["liquidated_short_count"] < shock["liquidated_short_count"]


def test_seeds_come_from_one_root_and_results_do_not_depend_on_threads():
    one = small_sweep(threads=1, batch_size=5)
    two = small_sweep(threads=2)
    assert without_wall_time(one) == (without_wall_time(two))
    root = np.random.SeedSequence(1).spawn(3)
    expected = [int(c.generate_state(1, dtype=np.uint64)[0]) for c in root]
    assert one.column("seed").to_pylist()[:3] == expected


def test_grid_keys_are_checked_with_a_suggestion():
    scn = squeeze_scenario(pull=False, n_shorts=10)
    with pytest.raises(liqsim.ConfigError, match="market_maker"):
        liqsim.sweep(scn, grid={"agents.market_makr.pull_move": [0.01]}, progress=False)
    with pytest.raises(liqsim.ConfigError, match="pull_move"):
        liqsim.sweep(scn, grid={"agents.market_maker.pull_mov": [0.01]}, progress=False)
    with pytest.raises(liqsim.ConfigError, match="not seed, end"):
        liqsim.sweep(scn, grid={"volatility": [0.01]}, progress=False)
    with pytest.raises(liqsim.ConfigError, match="side"):
        liqsim.sweep(scn, shocks=[{"ts": 1.0, "qty": 1.0}], progress=False)
    with pytest.raises(liqsim.ConfigError, match="threads"):
        liqsim.sweep(scn, threads=-1, progress=False)
    with pytest.raises(liqsim.ConfigError, match="out="):
        liqsim.sweep(scn, resume=True, progress=False)
    with pytest.raises(liqsim.ConfigError, match="seeds"):
        liqsim.sweep(scn, seeds=0, progress=False)


def test_market_and_end_overrides_share_one_exchange_per_market():
    scn = squeeze_scenario(pull=False, n_shorts=100)
    t = liqsim.sweep(scn, grid={"market.insurance_fund": [1e6, 0.0], "end": [10.0, 30.0, 60.0]}, shocks=[SHOCK],
                     progress=False)
    assert t.num_rows == 6 and t.column("error").null_count == 6
    events = t.column("events").to_pylist()
    assert events[0] < events[1] < events[2]  # 10 s (the buyer's orders after 10 s dropped), 30 s, 60 s
    short = liqsim.simulate(scn.replace(orders=scn.orders.slice(0, 6), end=10.0))  # its orders at 5..10 s
    assert events[0] == short.events + 1  # + the shock


def test_a_failed_run_is_reported_in_its_row_and_the_others_finish():
    scn = squeeze_scenario(pull=False, n_shorts=50)
    t = liqsim.sweep(scn, grid={"market.tick_size": [0.01, -1.0]},
                     shocks=[SHOCK, {"ts": 3.0, "side": "buy", "qty": 0.0005}], progress=False)
    errors = t.column("error").to_pylist()
    assert errors[0] is None
    assert "shock_orders" in errors[1] and "qty" in errors[1] and "0.001" in errors[1]
    assert "tick_size" in errors[2] and "tick_size" in errors[3]
    assert np.isnan(t.column("peak_price").to_numpy()[2])


def test_an_interrupted_streaming_sweep_resumes_without_repeating_runs(tmp_path, monkeypatch):
    module = SWEEP
    out = tmp_path / "runs.parquet"
    real = module._run_local
    calls: list[int] = []

    def interrupted(*args, **kw):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(len(args[2]))
        return real(*args, **kw)

    monkeypatch.setattr(module, "_run_local", interrupted)
    with pytest.raises(KeyboardInterrupt):
        small_sweep(out=out, batch_size=2)
    kept = pq.read_table(out)
    assert kept.num_rows == 6 and sorted(kept.column("run_id").to_pylist()) == list(range(6))

    calls.clear()
    monkeypatch.setattr(module, "_run_local", lambda *a, **k: (calls.append(len(a[2])), real(*a, **k))[1])
    resumed = small_sweep(out=out, resume=True, batch_size=2)
    assert sum(calls) == 6  # only the runs not in the file
    assert without_wall_time(resumed) == (without_wall_time(small_sweep()))
    assert without_wall_time(pq.read_table(out).sort_by("run_id")) == (without_wall_time(resumed))
    # A different sweep does not resume from this file.
    with pytest.raises(liqsim.ConfigError, match="different sweep"):
        liqsim.sweep(squeeze_scenario(pull=False, n_shorts=100), seeds=2, out=out, resume=True, progress=False)
    # The same sweep in a file with other columns (another liqsim version): a clear error, not Arrow's.
    older = pq.read_table(out)
    pq.write_table(older.drop_columns(["backstop_notional"]).replace_schema_metadata(older.schema.metadata), out)
    with pytest.raises(liqsim.ConfigError, match="other columns"):
        small_sweep(out=out, resume=True, batch_size=2)


def test_a_process_pool_gives_the_in_process_result():
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        remote = small_sweep(executor=pool)
    assert without_wall_time(remote) == (without_wall_time(small_sweep()))


def test_a_dask_cluster_gives_the_in_process_result_byte_for_byte():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = small_sweep(executor=client.get_executor())
    local = small_sweep()
    assert remote.num_rows == 12
    assert without_wall_time(remote) == (without_wall_time(local))


def test_the_scenario_survives_the_wire():
    scn = squeeze_scenario(pull=True, n_shorts=20)
    tables, doc = SWEEP.pack_scenario(scn)
    back = SWEEP.unpack_scenario(tables, doc)
    a, b = liqsim.simulate(scn).summary(), liqsim.simulate(back).summary()
    a.pop("wall_time_s"), b.pop("wall_time_s")
    assert a == b


def test_critical_shock_brackets_the_tipping_point():
    scn = squeeze_scenario(pull=False).replace(orders=None)
    c = liqsim.critical_shock(scn, seeds=2, start_notional=1e4, tolerance=0.02)
    assert np.isfinite(c.median) and c.low <= c.median <= c.high
    qty = c.per_seed.column("critical_qty").to_pylist()[0]
    # At the critical size the shorts' buy-backs run far beyond the shock; 10% smaller, no cascade.
    t = liqsim.sweep(scn, shocks=[{"ts": 6.0, "side": "buy", "qty": q} for q in (round(qty * 0.9, 3), qty)],
                     progress=False)
    small, big = t.column("liquidated_short_notional").to_pylist()
    assert small < 0.9 * c.median < c.median < big
    assert not c.at_book_edge


def test_critical_shock_flags_an_answer_at_the_edge_of_the_book():
    # The maker pulls as the price moves and close-outs are market orders: the cascade runs
    # through every static ask.
    base = squeeze_scenario(pull=True)
    scn = base.replace(orders=None, market={**base.market, "liquidation_limit": "market"})
    c = liqsim.critical_shock(scn, seeds=2, start_notional=1e4)
    assert c.at_book_edge and "edge of the book" in repr(c)
    assert all(c.per_seed.column("at_book_edge").to_pylist())


def test_critical_shock_without_a_cascade_is_nan_and_bad_arguments_are_refused():
    scn = squeeze_scenario(pull=False, n_shorts=0).replace(orders=None)
    c = liqsim.critical_shock(scn, seeds=1, start_notional=1e4, max_notional=1e5)
    assert np.isnan(c.median) and np.isnan(c.per_seed.column("critical_notional").to_numpy()[0])
    with pytest.raises(liqsim.ConfigError, match="side"):
        liqsim.critical_shock(scn, side="long")
    with pytest.raises(liqsim.ConfigError, match="multiple"):
        liqsim.critical_shock(scn, multiple=-1.0)


def test_the_command_line_sweeps_a_saved_scenario(tmp_path, capsys):
    from liqsim.cli import main

    squeeze_scenario(pull=False, n_shorts=50).save(tmp_path / "scn")
    out = tmp_path / "runs.parquet"
    code = main(["sweep", str(tmp_path / "scn"), "--grid", "agents.market_maker.pull_move=0,0.002", "--seeds", "2",
                 "--shock", "buy=1,5", "--at", "3", "--out", str(out)])
    assert code == 0
    assert "8 runs, 0 failed" in capsys.readouterr().out
    assert pq.read_table(out).num_rows == 8
    assert main(["sweep", str(tmp_path / "scn"), "--grid", "agents.maker.pull_move=0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'market_maker'" in err
    assert main(["sweep", str(tmp_path / "nowhere")]) == 2


def test_docstring_examples_run():
    import doctest

    assert doctest.testmod(sys.modules["liqsim.sweep"], optionflags=doctest.ELLIPSIS).failed == 0


def test_a_picture_of_a_sweep(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    scn = squeeze_scenario(pull=False, n_shorts=100)
    runs = liqsim.sweep(scn, grid={"agents.market_maker.pull_move": [0.0, 0.002]}, seeds=2,
                        shocks=[{"ts": 3.0, "side": "buy", "qty": q} for q in (1.0, 5.0, 20.0)], progress=False)
    fig = liqsim.plot.sweep(runs, x="shock_qty", y="liquidated_short_notional", by="agents.market_maker.pull_move")
    out = tmp_path / "sweep.png"
    fig.savefig(out, dpi=60)
    assert out.stat().st_size > 5_000
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="not a column"):
        liqsim.plot.sweep(runs, x="size", y="liquidated_short_notional")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seeds=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=4, unique=True), data=st.data())
def test_a_run_depends_only_on_its_own_inputs(seeds, data):
    # With noise trades the seed matters; a run's row is the same whichever other runs share the
    # sweep, in whatever order, on however many threads.
    scn = squeeze_scenario(pull=False, n_shorts=50).replace(
        agents=[liqsim.agents.MarketMaker(depth_10bp=30_000), liqsim.agents.NoiseTaker(rate_per_s=5.0)], orders=None, end=10.0)
    shuffled = data.draw(st.permutations(seeds))
    threads = data.draw(st.sampled_from([1, 2]))
    a = liqsim.sweep(scn, seeds=seeds, shocks=[SHOCK], progress=False, threads=1).to_pylist()
    b = liqsim.sweep(scn, seeds=shuffled, shocks=[SHOCK], progress=False, threads=threads,
                     batch_size=data.draw(st.integers(1, 4))).to_pylist()
    by_seed = {r["seed"]: r for r in b}
    for row in a:
        other = dict(by_seed[row["seed"]])
        for r in (row, other):
            r.pop("wall_time_s"), r.pop("run_id")
        assert row == other


def test_progress_bar_only_on_a_terminal_with_tqdm(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    scn = squeeze_scenario(pull=False, n_shorts=20)
    liqsim.sweep(scn, seeds=2, progress=True)  # stderr is not a terminal under pytest: no bar
    assert "liqsim.sweep" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    liqsim.sweep(scn, seeds=2, progress=True)
    err = capsys.readouterr().err
    assert "liqsim.sweep" in err and "2/2" in err
