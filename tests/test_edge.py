"""Issue 7: the Python edge a user can trust. Each test names the first-hour mistake it guards
against (the issue's first list); each failed before the change that made it pass."""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import liqsim
from liqsim import ConfigError, LiqsimError, OrderError, ScenarioError, Table

SHORT = {"trader_id": [1], "balance": [100.0], "side": ["short"], "qty": [1.0], "entry_price": [3000.0],
         "leverage": [50]}


def market() -> liqsim.Exchange:
    ex = liqsim.Exchange(venue="binance", symbol="ETHUSDT", tick_size=0.01, lot_size=0.001,
                         insurance_fund=1_000_000, mark_rule="last")
    ex.load_accounts(SHORT)
    ex.load_accounts({"trader_id": [2], "balance": [1_000_000.0]})
    # The short (1 ETH at 3,000 with 100 USDT) is liquidated near 3,087.6: 3100/1.004 (MMR 0.4%).
    ex.load_book({"side": ["ask", "ask", "ask", "bid", "bid"], "price": [3001.0, 3002.0, 3100.0, 2999.0, 2998.0],
                  "qty": [1.0, 2.0, 5.0, 1.5, 2.5]})
    ex.set_index(3000.0)
    return ex


# --- inputs: unknown columns ------------------------------------------------------------------

def test_a_size_column_is_refused_with_did_you_mean_qty():
    ex = liqsim.Exchange()
    rows = dict(SHORT)
    rows["size"] = rows.pop("qty")
    with pytest.raises(ScenarioError, match=r"unknown column 'size' \(did you mean 'qty'\?\)") as e:
        ex.load_accounts(rows)
    assert e.value.table == "accounts" and e.value.column == "size"
    assert "accepted columns" in str(e.value) and "'leverage'" in str(e.value)
    assert ex.accounts()["trader_id"].tolist() == [-1, -2]  # nothing loaded


@pytest.mark.parametrize("typo,meant", [("lev", "leverage"), ("isolated_marign", "isolated_margin")])
def test_misspelt_account_columns_are_refused(typo, meant):
    rows = dict(SHORT) | {typo: [5.0]}
    with pytest.raises(ScenarioError, match=rf"'{typo}' \(did you mean '{meant}'\?\)"):
        liqsim.Exchange().load_accounts(rows)


def test_extra_columns_ignore_lets_a_wider_table_through():
    ex = liqsim.Exchange()
    ex.load_accounts(dict(SHORT) | {"note": ["whale"]}, extra_columns="ignore")
    assert 1 in ex.accounts()["trader_id"]
    with pytest.raises(ConfigError, match="extra_columns"):
        ex.load_accounts(SHORT, extra_columns="skip")  # type: ignore[arg-type]


def test_unknown_columns_in_book_actions_and_tiers():
    with pytest.raises(ScenarioError, match="did you mean 'price'"):
        liqsim.Exchange().load_book({"side": ["bid"], "prices": [1.0], "qty": [1.0]})
    with pytest.raises(ScenarioError, match="did you mean 'qty'"):
        liqsim.OrderBook(0.01, 0.001).process({"action": ["limit"], "side": ["buy"], "price": [1.0], "quantity": [1.0]})
    with pytest.raises(ScenarioError, match="did you mean 'mmr'"):
        liqsim.Exchange(tiers={"floor": [0.0], "cap": [1e9], "mmrate": [0.01], "max_leverage": [50]})
    out = liqsim.OrderBook(0.01, 0.001).process(
        {"action": ["limit"], "side": ["buy"], "price": [1.0], "qty": [1.0], "comment": ["x"]}, extra_columns="ignore")
    assert out["orders"]["status"].tolist() == ["open"]


# --- inputs: strings, configuration, values in user units ---------------------------------------

def test_submit_accepts_any_case_like_tables_do():
    ex = market()
    assert ex.submit(2, "Buy", 0.5)["status"] == "filled"  # type: ignore[arg-type]
    assert ex.submit(2, "SELL", 0.5, tif="IOC")["status"] == "filled"  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs,name,hint", [
    ({"venue": "binanse"}, "venue", "did you mean 'binance'"),
    ({"mark_rule": "lastt"}, "mark_rule", "did you mean 'last'"),
    ({"liquidation_limit": "bankrupt"}, "liquidation_limit", "did you mean 'bankruptcy'"),
    ({"stp": "cancel-taker"}, "stp", "did you mean 'cancel_taker'"),
])
def test_config_mistakes_are_config_errors_naming_the_parameter(kwargs, name, hint):
    with pytest.raises(ConfigError, match=hint) as e:
        liqsim.Exchange(**kwargs)
    assert e.value.parameter == name and isinstance(e.value, ValueError) and isinstance(e.value, LiqsimError)
    assert str(e.value).startswith(f"{name} must be one of")


def test_venue_and_rules_are_case_insensitive():
    ex = liqsim.Exchange(venue="Binance", mark_rule="LAST", liquidation_limit="Market", stp="NONE")  # type: ignore[arg-type]
    assert ex.venue == "binance"


def test_a_single_fee_number_is_refused_clearly():
    with pytest.raises(ConfigError, match=r"fees must be a \(maker, taker\) pair.*fees=\(0.0005, 0.0005\)"):
        liqsim.Exchange(fees=0.0005)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fees"):
        liqsim.Exchange(fees=(0.0002,))  # type: ignore[arg-type]
    assert liqsim.Exchange(fees=(0.0002, 0.0005)).venue == "binance"


def test_bad_values_are_shown_in_user_units():
    ex = market()
    with pytest.raises(OrderError) as e:
        ex.set_index(float("nan"))
    assert str(e.value) == "index price must be a finite number, got nan"
    with pytest.raises(OrderError, match=r"^price 3000.005 is not a multiple of the tick size 0.01$"):
        ex.submit(2, "buy", 1.0, price=3000.005)
    with pytest.raises(OrderError, match=r"^qty 0.0005 is not a multiple of the lot size 0.001$"):
        ex.submit(2, "buy", 0.0005)
    with pytest.raises(ConfigError, match="tick_size"):
        liqsim.OrderBook(tick_size=-1.0, lot_size=0.001)


# --- inputs: time ---------------------------------------------------------------------------

def test_advance_takes_float_seconds():
    ex = market()
    ex.advance(3600.5)
    assert ex.ts == 3_600_500_000_000


@pytest.mark.parametrize("step", [
    1_500_000_000, 1.5, dt.timedelta(seconds=1.5), np.timedelta64(1500, "ms"), pd.Timedelta(seconds=1.5),
    np.int64(1_500_000_000), np.float64(1.5),
])
def test_advance_accepts_every_duration_type(step):
    ex = market()
    ex.advance(step)
    ex.advance(step)
    assert ex.ts == 3_000_000_000


@pytest.mark.parametrize("when", [
    dt.datetime(1970, 1, 1, 0, 0, 2, tzinfo=dt.timezone.utc), dt.datetime(1970, 1, 1, 0, 0, 2),
    np.datetime64("1970-01-01T00:00:02"), pd.Timestamp("1970-01-01 00:00:02", tz="UTC"), 2_000_000_000,
])
def test_advance_to_accepts_every_time_type(when):
    ex = market()
    ex.advance_to(when)
    assert ex.ts == 2_000_000_000


def test_bad_times_are_config_errors():
    ex = market()
    with pytest.raises(ConfigError, match="a float is ambiguous"):
        ex.advance_to(1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="dt must be"):
        ex.advance(-1.0)
    with pytest.raises(ConfigError, match="dt must be"):
        ex.advance("1h")  # type: ignore[arg-type]
    ex.advance(10)
    with pytest.raises(ConfigError, match="before the exchange's clock"):
        ex.advance_to(5)
    with pytest.raises(ConfigError, match="NaT"):
        ex.advance(np.timedelta64("NaT"))


# --- the exchange as an object -------------------------------------------------------------------

def test_exchange_shows_its_book():
    ex = market()
    d = ex.depth(levels=5)
    assert isinstance(d, Table)
    assert d["side"].tolist() == ["bid", "bid", "ask", "ask", "ask"]
    assert d["price"].tolist() == [2999.0, 2998.0, 3001.0, 3002.0, 3100.0]
    assert d["qty"].tolist() == [1.5, 2.5, 1.0, 2.0, 5.0]
    # 1.5 at 3,001 and 2,002: (1.0 × 3001 + 0.5 × 3002) / 1.5 = 3001.3333…
    assert ex.sweep_price("buy", 1.5) == pytest.approx((3001.0 + 0.5 * 3002.0) / 1.5, rel=1e-12)
    assert ex.sweep_price("buy", 100.0) is None
    o = ex.orders("sell")
    assert o["price"].tolist() == [3001.0, 3002.0, 3100.0] and o["owner"].tolist() == [-2, -2, -2]
    ex.submit(2, "sell", 1.0, price=3050.0)
    assert ex.orders("ask")["owner"].tolist() == [-2, -2, 2, -2]
    w = ex.depth_within(0.01)
    assert w is not None and w["ask_qty"] == pytest.approx(3.0)


def test_depth_of_uneven_sides_is_one_table_pandas_and_polars_read():
    book = liqsim.OrderBook(0.01, 0.001)
    for p in (99.0, 98.0, 97.0):
        book.submit("buy", 1.0, price=p)
    book.submit("sell", 1.0, price=101.0)
    d = book.depth()
    df = d.to_pandas()
    assert df["side"].astype(str).tolist() == ["bid", "bid", "bid", "ask"]
    assert isinstance(df["side"].dtype, pd.CategoricalDtype)
    assert d.to_polars()["price"].to_list() == [99.0, 98.0, 97.0, 101.0]
    assert pd.DataFrame(dict(d))["price"].tolist() == [99.0, 98.0, 97.0, 101.0]


def test_copy_branches_a_what_if_and_continues_exactly_as_the_original():
    ex = market()
    what_if = ex.copy()
    assert copy.deepcopy(ex).insurance_fund == ex.insurance_fund
    out = what_if.submit(2, "buy", 4.0)  # sweeps the asks to 3,100: the short is liquidated
    assert out["status"] == "filled"
    assert len(what_if.liquidations()) == 1
    assert len(ex.liquidations()) == 0 and ex.best_ask == 3001.0  # the original is untouched
    again = ex.submit(2, "buy", 4.0)  # the same action on the original gives the same outcome
    assert again == out
    for name in ("trades", "liquidations", "insurance", "accounts"):
        a, b = getattr(ex, name)(), getattr(what_if, name)()
        for col in a:
            assert a[col].tobytes() == b[col].tobytes(), (name, col)  # NaN bits included
    assert ex.money() == what_if.money()


def test_order_book_copy_is_independent():
    book = liqsim.OrderBook(0.01, 0.001)
    book.submit("sell", 1.0, price=100.0)
    twin = book.copy()
    twin.submit("buy", 1.0)
    assert book.open_orders == 1 and twin.open_orders == 0


def test_exchange_repr_is_readable():
    text = repr(market())
    assert text.startswith("<liqsim.Exchange binance ETHUSDT: mark ")
    for part in ("index 3,000.00", "bid 2,999.00 / ask 3,001.00", "2 accounts", "open interest 1.000",
                 "insurance fund 1,000,000.00"):
        assert part in text, text


# --- results ----------------------------------------------------------------------------------

def test_tapes_are_tables_with_typed_columns():
    ex = market()
    ex.submit(2, "buy", 4.0)
    for table in (ex.trades(), ex.liquidations(), ex.insurance(), ex.accounts(), ex.adl(), ex.funding()):
        assert isinstance(table, Table)
    tr = ex.trades()
    arrow = tr.to_arrow()
    assert arrow.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert pa.types.is_dictionary(arrow.schema.field("kind").type)
    df = tr.to_pandas()
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(df["aggressor"].dtype, pd.CategoricalDtype)
    pf = pl.DataFrame(tr.to_arrow())
    assert pf.schema["kind"] == pl.Categorical and pf.schema["ts"] == pl.Datetime("ns", "UTC")
    assert tr.to_polars().schema == pf.schema
    assert pa.table(tr).schema == arrow.schema  # __arrow_c_stream__
    # still a mapping of numpy arrays
    assert isinstance(tr["price"], np.ndarray) and set(tr["aggressor"]) <= {"buy", "sell"}
    assert len(tr) == len(tr["price"])


def test_process_results_keep_codes_until_read():
    out = liqsim.OrderBook(0.01, 0.001).process(
        {"action": ["limit", "market", "cancel"], "side": ["sell", "buy", None], "price": [100.0, None, None],
         "qty": [1.0, 0.4, None], "order_id": [None, None, 7], "ts": [1, 2, 3]})
    orders = out["orders"]
    assert orders.codes("status").dtype == np.uint8  # no strings built yet
    assert orders["status"].tolist() == ["open", "filled", "rejected"]
    assert orders["reason"].tolist() == ["", "", "unknown_order"]
    arrow = orders.to_arrow()
    assert arrow.column("reason").null_count == 2  # "no reason" is a null, not a string
    assert out["trades"].to_arrow().schema.field("ts").type == pa.timestamp("ns", tz="UTC")


def test_pandas_constructor_refuses_instead_of_silently_using_column_names():
    with pytest.raises(TypeError, match="to_pandas"):
        pd.DataFrame(liqsim.OrderBook(0.01, 0.001).depth())


def test_table_key_error_lists_the_columns():
    with pytest.raises(KeyError, match="columns: \\['side', 'level', 'price', 'qty', 'orders'\\]"):
        liqsim.OrderBook(0.01, 0.001).depth()["ask_price"]


def test_a_crossing_book_row_is_reported_at_the_users_price():
    with pytest.raises(ScenarioError, match=r"^table 'book', column 'price', row 1: buy at 100.5 crosses"):
        liqsim.Exchange().load_book({"side": ["ask", "bid"], "price": [100.0, 100.5], "qty": [1.0, 1.0]})


def test_bad_category_values_and_counts_name_what_is_accepted():
    with pytest.raises(ScenarioError, match=r"'limt' is not one of \['cancel', 'limit', 'market', 'modify'\] \(did you mean 'limit'\?\)"):
        liqsim.OrderBook(0.01, 0.001).process({"action": ["limt"], "side": ["buy"], "price": [1.0], "qty": [1.0]})
    for levels in (-1, 1.5, "3"):
        with pytest.raises(ConfigError, match="levels must be a whole number"):
            market().depth(levels)  # type: ignore[arg-type]


def test_table_shows_in_notebooks():
    html = market().depth()._repr_html_()
    assert html.startswith("<b>depth</b>") and "<table" in html and "3001.0" in html


@settings(max_examples=50, deadline=None)
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=14))
def test_any_unknown_column_is_refused_and_ignore_lets_it_through(name):
    assume(name not in liqsim.exchange.ACCOUNT_COLUMNS)
    rows = dict(SHORT) | {name: [1.0]}
    ex = liqsim.Exchange()
    with pytest.raises(ScenarioError) as e:
        ex.load_accounts(rows)
    assert e.value.column == name and repr(name) in str(e.value)
    ex.load_accounts(rows, extra_columns="ignore")
    assert ex.accounts()["trader_id"].tolist() == [-1, -2, 1]


@pytest.mark.parametrize("call,argument", [
    (lambda ex: ex.submit(2, "buy", "1"), "qty"),
    (lambda ex: ex.submit(2, "buy", 1.0, price="3000"), "price"),
    (lambda ex: ex.submit(2, "buy", True), "qty"),
    (lambda ex: ex.set_index("3000"), "index price"),
    (lambda ex: ex.sweep_price("buy", None), "qty"),
])
def test_a_non_number_names_the_argument(call, argument):
    with pytest.raises(OrderError, match=rf"^{argument} must be a number, got ") as e:
        call(market())
    assert e.value.reason == "invalid_number"


def test_a_ts_column_beyond_int64_nanoseconds_is_a_scenario_error():
    ts = pa.array([10**12], pa.timestamp("s"))  # year ~33,658
    with pytest.raises(ScenarioError, match="column 'ts'.*outside int64 nanoseconds"):
        liqsim.OrderBook(0.01, 0.001).process(
            pa.table({"action": ["limit"], "side": ["buy"], "price": [1.0], "qty": [1.0], "ts": ts}))
