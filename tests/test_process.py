"""`OrderBook.process`: whole tables of actions, every accepted input form, bad rows and bad data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from liqsim import LiqsimError, OrderBook, ScenarioError, _core

NaN = float("nan")

# A small table worked by hand (tick 0.01, lot 0.001, stp none):
#  0  limit  sell 1.0 @100.00 id 1 owner 1              -> open
#  1  limit  sell 2.0 @100.01 id 2 owner 2              -> open
#  2  limit  buy  0.5 @ 99.99 id 3 owner 3 post_only    -> open
#  3  market buy  1.5 (no price, no id, no tif) owner 4 -> id 4 (one above 3); 1.0@100.00 + 0.5@100.01, filled
#  4  cancel id 1 (no side)                             -> rejected not_open (filled at row 3)
#  5  modify id 3 qty 0.25 (no price)                   -> shrinks in place, open
#  6  limit  sell 1.0 @ 99.99 id 7 owner 5 ioc          -> 0.25@99.99 from id 3, 0.75 expires
#  7  cancel id 2                                       -> cancelled, 1.5 was open
ROWS = {
    "ts": [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000],
    "action": ["limit", "limit", "limit", "market", "cancel", "modify", "limit", "cancel"],
    "side": ["sell", "sell", "buy", "buy", None, None, "sell", None],
    "price": [100.00, 100.01, 99.99, None, None, None, 99.99, None],
    "qty": [1.0, 2.0, 0.5, 1.5, None, 0.25, 1.0, None],
    "order_id": [1, 2, 3, None, 1, 3, 7, 2],
    "owner": [1, 2, 3, 4, None, None, 5, None],
    "tif": ["gtc", "gtc", "post_only", None, None, None, "ioc", None],
}
TYPES = {
    "ts": pa.int64(),
    "action": pa.string(),
    "side": pa.string(),
    "price": pa.float64(),
    "qty": pa.float64(),
    "order_id": pa.int64(),
    "owner": pa.int64(),
    "tif": pa.string(),
}

EXPECTED = {
    "orders": {
        "order_id": [1, 2, 3, 4, 1, 3, 7, 2],
        "status": ["open", "open", "open", "filled", "rejected", "open", "expired", "cancelled"],
        "reason": ["", "", "", "", "not_open", "", "", ""],
        "filled_qty": [0.0, 0.0, 0.0, 1.5, 0.0, 0.0, 0.25, 0.0],
        # (1.0 x 100.00 + 0.5 x 100.01) / 1.5 = 150.005 / 1.5 = 100.00333...
        "avg_price": [NaN, NaN, NaN, 150.005 / 1.5, NaN, NaN, 99.99, NaN],
    },
    "trades": {
        "row": [3, 3, 6],
        "ts": [4000, 4000, 7000],
        "price": [100.00, 100.01, 99.99],
        "qty": [1.0, 0.5, 0.25],
        "aggressor": ["buy", "buy", "sell"],
        "maker_order_id": [1, 2, 3],
        "taker_order_id": [4, 4, 7],
        "maker_owner": [1, 2, 3],
        "taker_owner": [4, 4, 5],
    },
    "events": {
        "row": [0, 1, 2, 3, 4, 5, 6, 6, 7],
        "ts": [1000, 2000, 3000, 4000, 5000, 6000, 7000, 7000, 8000],
        "kind": ["accepted", "accepted", "accepted", "accepted", "rejected", "modified", "accepted", "expired", "cancelled"],
        "order_id": [1, 2, 3, 4, 1, 3, 7, 7, 2],
        "owner": [1, 2, 3, 4, -1, 3, 5, 5, 2],
        "side": ["sell", "sell", "buy", "buy", "", "buy", "sell", "sell", "sell"],
        "price": [100.00, 100.01, 99.99, NaN, NaN, 99.99, 99.99, NaN, NaN],
        "qty": [1.0, 2.0, 0.5, 1.5, 0.0, 0.25, 1.0, 0.75, 1.5],
        "reason": ["", "", "", "", "not_open", "", "", "", "user"],
    },
}

DTYPE_KIND = {  # numpy dtype kinds of the decoded output columns
    "orders": {"order_id": "i", "status": "U", "reason": "U", "filled_qty": "f", "avg_price": "f"},
    "trades": {
        "row": "i", "ts": "i", "price": "f", "qty": "f", "aggressor": "U",
        "maker_order_id": "i", "taker_order_id": "i", "maker_owner": "i", "taker_owner": "i",
    },
    "events": {
        "row": "i", "ts": "i", "kind": "U", "order_id": "i", "owner": "i",
        "side": "U", "price": "f", "qty": "f", "reason": "U",
    },
}


def new_book(stp: str = "none") -> OrderBook:
    return OrderBook(tick_size=0.01, lot_size=0.001, stp=stp)


def arrow_table(rows: dict = ROWS) -> pa.Table:
    return pa.table({k: pa.array(v, TYPES.get(k)) for k, v in rows.items()})


def assert_tape(out: dict, expected: dict = EXPECTED) -> None:
    assert set(out) == {"orders", "trades", "events"}
    for name, columns in expected.items():
        got = out[name]
        assert list(got) == list(columns), name
        for col, want in columns.items():
            arr = got[col]
            assert isinstance(arr, np.ndarray), (name, col)
            assert arr.dtype.kind == DTYPE_KIND[name][col], (name, col, arr.dtype)
            assert arr.shape == (len(want),), (name, col)
            if arr.dtype.kind == "f":
                np.testing.assert_allclose(arr, np.array(want, dtype=float), rtol=1e-12, atol=0, err_msg=f"{name}.{col}")
                assert np.array_equal(np.isnan(arr), np.isnan(np.array(want, dtype=float))), (name, col)
            else:
                assert arr.tolist() == want, (name, col, arr.tolist())


# ----------------------------------------------------------------------------------------------
# input forms


def as_record_batch():
    return pa.record_batch({k: pa.array(v, TYPES[k]) for k, v in ROWS.items()})


def as_numpy_dict():
    return {
        "ts": np.array(ROWS["ts"], dtype=np.int64),
        "action": np.array(ROWS["action"]),
        "side": np.array(ROWS["side"], dtype=object),  # None: no value
        "price": np.array([NaN if p is None else p for p in ROWS["price"]]),  # NaN: no price
        "qty": np.array([NaN if q is None else q for q in ROWS["qty"]]),  # NaN qty only on cancel rows
        "order_id": np.array([-1 if i is None else i for i in ROWS["order_id"]], dtype=np.int64),  # -1: assign
        "owner": np.array([0 if o is None else o for o in ROWS["owner"]], dtype=np.int32),
        "tif": np.array(ROWS["tif"], dtype=object),
    }


def as_list_dict():
    return {k: list(v) for k, v in ROWS.items()}


def as_dictionary_encoded():
    t = arrow_table()
    for name in ("action", "side", "tif"):
        t = t.set_column(t.column_names.index(name), name, t.column(name).dictionary_encode())
    assert pa.types.is_dictionary(t.schema.field("action").type)
    return t


def as_integer_codes():
    action = [_core.ACTION_NAMES.index(a) for a in ROWS["action"]]
    side = [None if s is None else _core.SIDE_NAMES.index(s) for s in ROWS["side"]]
    tif = [None if s is None else _core.TIF_NAMES.index(s) for s in ROWS["tif"]]
    t = arrow_table()
    t = t.set_column(t.column_names.index("action"), "action", pa.array(action, pa.uint8()))
    t = t.set_column(t.column_names.index("side"), "side", pa.array(side, pa.uint8()))
    t = t.set_column(t.column_names.index("tif"), "tif", pa.array(tif, pa.int64()))
    return t


def as_integer_codes_int16():
    t = as_integer_codes()
    for name in ("action", "side", "tif"):
        t = t.set_column(t.column_names.index(name), name, t.column(name).cast(pa.int16()))
    return t


def as_timestamp_ts():
    t = arrow_table()
    us = pa.array([v // 1000 for v in ROWS["ts"]], pa.int64()).cast(pa.timestamp("us"))
    return t.set_column(0, "ts", us)


def as_chunked():
    t = arrow_table()
    return pa.concat_tables([t.slice(0, 3), t.slice(3, 2), t.slice(5)])


def as_pandas():
    import pandas as pd  # in the test extra: never skipped
    return pd.DataFrame(as_list_dict())


def as_pandas_categorical():
    import pandas as pd  # in the test extra: never skipped
    df = pd.DataFrame(as_list_dict())
    for name in ("action", "side", "tif"):
        df[name] = df[name].astype("category")
    df["ts"] = pd.to_datetime(df["ts"], unit="ns")
    return df


@pytest.mark.parametrize(
    "make",
    [
        arrow_table,
        as_record_batch,
        as_numpy_dict,
        as_list_dict,
        as_dictionary_encoded,
        as_integer_codes,
        as_integer_codes_int16,
        as_timestamp_ts,
        as_chunked,
        as_pandas,
        as_pandas_categorical,
    ],
)
def test_hand_worked_table_in_every_form(make):
    b = new_book()
    out = b.process(make())
    assert_tape(out)
    assert b.open_orders == 0
    b.check_invariants()


def test_polars_dataframe():
    import polars as pl  # in the test extra: never skipped
    assert_tape(new_book().process(pl.DataFrame(as_list_dict(), strict=False)))


@pytest.mark.parametrize("dictionary", [False, True], ids=["plain", "dictionary"])
def test_string_view_columns(dictionary):
    # What polars hands over through the Arrow C stream interface, built with pyarrow alone.
    t = arrow_table()
    for name in ("action", "side", "tif"):
        col = t.column(name).cast(pa.string_view())
        if dictionary:
            col = col.dictionary_encode()
        t = t.set_column(t.column_names.index(name), name, col)
    assert_tape(new_book().process(t))


def test_int8_coded_side_with_nulls():
    t = as_integer_codes()
    t = t.set_column(t.column_names.index("side"), "side", t.column("side").cast(pa.int8()))
    assert t.column("side").null_count == 3
    assert_tape(new_book().process(t))


@pytest.mark.parametrize("column", ["order_id", "owner"])
def test_all_null_optional_int_column_means_not_given(column):
    rows = {"action": ["limit", "market"], "side": ["sell", "buy"], "price": [1.0, None], "qty": [1.0, 1.0],
            column: [None, None]}
    out = new_book().process(rows)
    assert out["orders"]["status"].tolist() == ["open", "filled"]
    assert out["trades"]["maker_owner"].tolist() == [0]
    assert out["orders"]["order_id"].tolist() == [0, 1]


def test_uint64_order_id_out_of_range_is_a_scenario_error():
    t = pa.table({"action": ["cancel", "cancel"], "order_id": pa.array([1, 2**63], pa.uint64())})
    with pytest.raises(ScenarioError) as e:
        new_book().process(t)
    assert (e.value.column, e.value.row) == ("order_id", 1)


def test_integer_code_out_of_range_is_a_scenario_error():
    t = as_integer_codes().set_column(2, "side", pa.array([1, 1, 0, 2, None, None, 1, None], pa.int64()))
    with pytest.raises(ScenarioError) as e:
        new_book().process(t)
    assert (e.value.column, e.value.row) == ("side", 3)


def test_timestamp_ts_comes_back_as_int64_ns():
    out = new_book().process(as_timestamp_ts())
    assert out["trades"]["ts"].dtype == np.int64
    assert out["trades"]["ts"].tolist() == [4000, 4000, 7000]
    assert out["events"]["ts"][0] == 1000
    # timezone-aware and numpy datetime64 too
    t = pa.table({
        "ts": pa.array([1_700_000_000_000], pa.timestamp("ms", tz="UTC")),
        "action": ["limit"], "side": ["buy"], "price": [1.0], "qty": [1.0],
    })
    assert new_book().process(t)["events"]["ts"].tolist() == [1_700_000_000_000_000_000]
    d = {"ts": np.array(["2024-01-01T00:00:00.000000001"], dtype="datetime64[ns]"),
         "action": ["limit"], "side": ["buy"], "price": [1.0], "qty": [1.0]}
    assert new_book().process(d)["events"]["ts"].tolist() == [1_704_067_200_000_000_001]


def test_absent_optional_columns_take_defaults():
    t = {"action": ["limit", "limit", "market"], "side": ["sell", "sell", "buy"],
         "price": [10.0, 10.5, None], "qty": [1.0, 1.0, 1.5]}
    out = new_book().process(t)
    assert out["orders"]["order_id"].tolist() == [0, 1, 2]  # assigned from 0
    assert out["orders"]["status"].tolist() == ["open", "open", "filled"]
    assert out["trades"]["ts"].tolist() == [0, 0]
    assert out["trades"]["maker_owner"].tolist() == [0, 0]
    assert out["orders"]["avg_price"][2] == pytest.approx((10.0 + 0.5 * 10.5) / 1.5)


def test_side_and_tif_aliases_and_case():
    t = {"action": ["LIMIT", "limit", "limit", "Limit"], "side": ["SELL", "ask", "s", "bid"],
         "price": [10.0, 10.5, 11.0, 9.0], "qty": [1.0, 1.0, 1.0, 1.0],
         "tif": ["GTC", "gtx", "post-only", "Post_Only"]}
    b = new_book()
    out = b.process(t)
    assert out["orders"]["status"].tolist() == ["open"] * 4
    assert (b.best_bid, b.best_ask) == (9.0, 10.0)
    # gtx / post-only really are post-only: a crossing one is rejected
    out = b.process({"action": ["limit"], "side": ["b"], "price": [10.0], "qty": [1.0], "tif": ["gtx"]})
    assert out["orders"]["reason"].tolist() == ["post_only_would_cross"]


def test_market_protection_and_modify_price_in_a_table():
    t = arrow_table({
        "action": ["limit", "limit", "limit", "market", "modify"],
        "side": ["sell", "sell", "buy", "buy", None],
        "price": [100.0, 101.0, 98.0, 100.5, 101.0],
        "qty": [1.0, 1.0, 2.0, 3.0, 2.0],
        "order_id": [1, 2, 3, 4, 3],
    })
    out = new_book().process(t)
    # market buy 3.0 protected at 100.5 takes only 1.0@100; modify of bid 3 to 2.0@101 takes ask 2 and fills
    assert out["orders"]["status"].tolist() == ["open", "open", "open", "expired", "partially_filled"]
    assert out["orders"]["filled_qty"].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert out["trades"]["row"].tolist() == [3, 4]
    assert out["trades"]["price"].tolist() == [100.0, 101.0]
    assert out["trades"]["taker_order_id"].tolist() == [4, 3]
    ev = out["events"]
    assert ev["kind"].tolist() == ["accepted", "accepted", "accepted", "accepted", "expired", "modified"]
    assert ev["qty"][4] == 2.0  # expired remainder
    assert ev["price"][5] == 101.0


def test_stp_in_a_table():
    t = arrow_table({
        "action": ["limit", "limit", "limit"],
        "side": ["sell", "sell", "buy"],
        "price": [100.0, 100.0, 100.0],
        "qty": [1.0, 1.0, 2.0],
        "order_id": [1, 2, 3],
        "owner": [7, 8, 8],
    })
    out = new_book("cancel_maker").process(t)
    assert out["trades"]["maker_order_id"].tolist() == [1]
    assert out["orders"]["status"].tolist() == ["open", "open", "partially_filled"]
    ev = out["events"]
    assert ev["kind"].tolist() == ["accepted", "accepted", "accepted", "cancelled"]
    assert (ev["order_id"][3], ev["reason"][3], ev["qty"][3]) == (2, "self_trade", 1.0)


def test_decode_names_false_gives_core_codes():
    out = new_book().process(arrow_table(), decode_names=False)
    o, tr, ev = out["orders"], out["trades"], out["events"]
    for arr in (o["status"], o["reason"], tr["aggressor"], ev["kind"], ev["side"], ev["reason"]):
        assert arr.dtype == np.uint8
    assert [_core.STATUS_NAMES[c] for c in o["status"]] == EXPECTED["orders"]["status"]
    assert [_core.REASON_NAMES[c] for c in o["reason"]] == EXPECTED["orders"]["reason"]
    assert [_core.SIDE_NAMES[c] for c in tr["aggressor"]] == EXPECTED["trades"]["aggressor"]
    assert [_core.EVENT_KIND_NAMES[c] for c in ev["kind"]] == EXPECTED["events"]["kind"]
    assert [_core.REASON_NAMES[c] for c in ev["reason"]] == EXPECTED["events"]["reason"]
    assert ev["side"].tolist()[4] == 255  # a rejected row has no side
    assert o["status"].tolist() == [_core.STATUS_NAMES.index(s) for s in EXPECTED["orders"]["status"]]
    # everything else is the same as with names
    decoded = new_book().process(arrow_table())
    for name in ("orders", "trades", "events"):
        for col, arr in out[name].items():
            if arr.dtype != np.uint8:
                np.testing.assert_array_equal(arr, decoded[name][col])


def test_empty_table():
    out = new_book().process(pa.table({"action": pa.array([], pa.string())}))
    for part in out.values():
        assert all(len(v) == 0 for v in part.values())


def test_book_state_carries_over_between_calls_and_to_the_single_api():
    b = new_book()
    b.process(arrow_table(dict(ROWS, action=["limit"] * 3, **{k: v[:3] for k, v in ROWS.items() if k != "action"})))
    assert (b.best_bid, b.best_ask, b.open_orders) == (99.99, 100.0, 3)
    out = b.submit("buy", 1.0)
    assert out["order_id"] == 4 and out["avg_price"] == 100.0
    out = b.process({"action": ["cancel", "cancel"], "order_id": [1, 2]})
    assert out["orders"]["reason"].tolist() == ["not_open", ""]


# ----------------------------------------------------------------------------------------------
# rows the market refuses: rejected, processing continues


def test_rejected_rows_with_reasons():
    t = arrow_table({
        "action": ["limit", "limit", "limit", "limit", "cancel", "limit", "limit", "limit",
                   "market", "cancel", "limit", "modify", "modify", "modify", "limit", "market"],
        "side": ["sell", "sell", "sell", "sell", None, "buy", "buy", "sell",
                 "buy", None, "buy", None, None, None, "sell", "buy"],
        "price": [100.0, 100.005, 100.0, 100.0, None, 100.0, 100.0, 101.0,
                  None, None, 99.0, None, None, 99.005, 100.0, None],
        "qty": [1.0, 1.0, 1.0005, 0.0, None, 1.0, 2.0, 1.0,
                1.0, None, 1.0, 1.0, 0.0, 1.0, -1.0, 1.0],
        "order_id": [1, 2, 3, 4, 99, 5, 6, 1,
                     None, 1, 10, 98, 10, 10, None, None],
        "tif": [None, None, None, None, None, "post_only", "fok", None,
                None, None, None, None, None, None, None, "post_only"],
    })
    b = new_book()
    out = b.process(t)
    o = out["orders"]
    assert o["reason"].tolist() == [
        "",                       # 0 rests
        "off_tick_price",         # 1 100.005
        "off_lot_qty",            # 2 1.0005
        "non_positive_qty",       # 3 qty 0
        "unknown_order",          # 4 cancel 99
        "post_only_would_cross",  # 5 buy post-only at the ask
        "fok_cannot_fill",        # 6 only 1.0 there
        "duplicate_order_id",     # 7 id 1 is open
        "",                       # 8 market buy fills id 1
        "not_open",               # 9 stale cancel of id 1
        "",                       # 10 rests
        "unknown_order",          # 11 modify 98
        "non_positive_qty",       # 12 modify to 0
        "off_tick_price",         # 13 modify to 99.005
        "non_positive_qty",       # 14 qty -1
        "invalid_time_in_force",  # 15 post-only market
    ]
    assert o["status"].tolist() == ["open"] + ["rejected"] * 7 + ["filled", "rejected", "open"] + ["rejected"] * 5
    assert o["order_id"].tolist() == [1, 2, 3, 4, 99, 5, 6, 1, 7, 1, 10, 98, 10, 10, -1, -1]
    assert out["trades"]["row"].tolist() == [8]
    ev = out["events"]
    rej = ev["kind"] == "rejected"
    assert ev["row"][rej].tolist() == [1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13, 14, 15]
    assert ev["reason"][rej].tolist() == [r for r in o["reason"].tolist() if r]
    assert (ev["owner"][rej] == -1).all() and (ev["side"][rej] == "").all() and np.isnan(ev["price"][rej]).all()
    # the book is as if only the good rows happened
    assert b.open_orders == 1 and b.orders("buy")["qty"].tolist() == [1.0] and b.best_bid == 99.0
    b.check_invariants()


# ----------------------------------------------------------------------------------------------
# data that is not data: ScenarioError naming table, column and row


def base(**over):
    rows = {
        "action": ["limit", "limit", "limit"],
        "side": ["sell", "sell", "buy"],
        "price": [100.0, 100.5, 99.0],
        "qty": [1.0, 1.0, 1.0],
    }
    rows.update(over)
    return rows


@pytest.mark.parametrize(
    "data,column,row",
    [
        (base(qty=[1.0, 1.0, NaN]), "qty", 2),
        (base(qty=[1.0, float("inf"), 1.0]), "qty", 1),
        (pa.table({"action": ["limit", "limit"], "side": ["sell", "sell"], "price": [1.0, 1.0],
                   "qty": pa.array([1.0, None], pa.float64())}), "qty", 1),
        (base(action=["limit", "buy", "limit"]), "action", 1),
        (base(action=["limit", "limit", None]), "action", 2),
        (pa.table({"action": pa.array([0, 7, 0], pa.int8()), "side": ["sell"] * 3,
                   "price": [1.0] * 3, "qty": [1.0] * 3}), "action", 1),
        (base(side=["sell", None, "buy"]), "side", 1),
        (base(side=["sell", "up", "buy"]), "side", 1),
        (base(tif=["gtc", "gtc", "gtd"]), "tif", 2),
        (base(price=[100.0, NaN, 99.0]), "price", 1),
        (base(price=[100.0, None, 99.0]), "price", 1),
        (base(order_id=[1.0, 2.5, 3.0]), "order_id", 1),
        ({"action": ["market", "limit"], "side": ["buy", "sell"], "qty": [1.0, 1.0]}, "price", 1),
        ({"action": ["cancel", "market"], "order_id": [5, -1], "qty": [NaN, 1.0]}, "side", 1),
        ({"action": ["limit", "cancel"], "side": ["buy", None], "price": [1.0, NaN], "qty": [1.0, NaN]},
         "order_id", 1),
        ({"action": ["limit"], "side": ["buy"], "price": [1.0]}, "qty", 0),
        (pa.table({"action": ["limit"], "side": ["buy"], "price": [1.0], "qty": [1.0],
                   "ts": pa.array([None], pa.timestamp("ns"))}), "ts", 0),
    ],
    ids=[
        "nan-qty", "inf-qty", "null-qty-limit", "unknown-action", "null-action", "action-code-7",
        "missing-side-limit", "unknown-side", "unknown-tif", "nan-price-limit", "null-price-limit",
        "fractional-order-id", "no-price-column", "no-side-column", "no-order-id-column",
        "no-qty-column", "null-timestamp",
    ],
)
def test_scenario_errors_name_table_column_row(data, column, row):
    with pytest.raises(ScenarioError) as e:
        new_book().process(data)
    err = e.value
    assert (err.table, err.column, err.row) == ("actions", column, row)
    assert "actions" in str(err) and column in str(err)
    assert isinstance(err, ValueError) and isinstance(err, LiqsimError)


@pytest.mark.parametrize(
    "data,column",
    [
        ({"side": ["buy"], "price": [1.0], "qty": [1.0]}, "action"),
        (base(qty=["1.0", "1.0", "2"]), "qty"),
        (base(price=["a", "b", "c"]), "price"),
        (base(order_id=["1", "2", "3"]), "order_id"),
        (base(action=[True, False, True]), "action"),
        (base(owner=[1.5, 2.0, 3.0]), "owner"),
    ],
    ids=["missing-action-column", "string-qty", "string-price", "string-order-id", "bool-action", "fractional-owner"],
)
def test_scenario_errors_about_a_whole_column(data, column):
    with pytest.raises(ScenarioError) as e:
        new_book().process(data)
    assert e.value.table == "actions"
    assert e.value.column == column
    if column != "owner":
        assert e.value.row is None


@pytest.mark.parametrize(
    "data", [42, "limit,buy,1,1", [{"action": "limit"}], None, np.zeros(3)], ids=["int", "str", "list", "none", "ndarray"]
)
def test_not_a_table(data):
    with pytest.raises(ScenarioError) as e:
        new_book().process(data)
    assert (e.value.table, e.value.column, e.value.row) == ("actions", None, None)


def test_columns_of_different_lengths():
    with pytest.raises(ScenarioError) as e:
        new_book().process({"action": ["limit", "limit"], "side": ["buy"], "price": [1.0, 1.0], "qty": [1.0, 1.0]})
    assert e.value.table == "actions"


def test_rows_before_a_bad_row_are_applied():
    b = new_book()
    with pytest.raises(ScenarioError) as e:
        b.process(base(qty=[1.0, 1.0, NaN]))
    assert e.value.row == 2
    assert (b.best_ask, b.open_orders) == (100.0, 2)
    b.check_invariants()


def test_nulls_on_rows_that_do_not_need_the_value_are_fine():
    # qty null on cancel rows, side null on cancel/modify rows, price null on market/modify rows
    t = arrow_table({
        "action": ["limit", "modify", "market", "cancel"],
        "side": ["sell", None, "buy", None],
        "price": [5.0, None, None, None],
        "qty": [2.0, 1.0, 0.5, None],
        "order_id": [1, 1, None, 1],
        "owner": [None, None, None, None],
        "tif": [None, None, None, None],
    })
    out = new_book().process(t)
    assert out["orders"]["status"].tolist() == ["open", "open", "filled", "cancelled"]
    assert out["orders"]["order_id"].tolist() == [1, 1, 2, 1]
    assert out["events"]["qty"][-1] == 0.5  # cancelled the 0.5 left
