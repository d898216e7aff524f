//! Binding of `liqsim_core::replay`: recorded Binance streams in, numpy columns out. Reading and
//! replaying run with the GIL released; core errors become `liqsim.errors` exceptions.

use liqsim_core::replay::{self, units_to_f64, GapKind, ReplayError, ReplayOptions};
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::liqsim_error;

fn replay_error(py: Python<'_>, err: ReplayError) -> PyErr {
    match err {
        ReplayError::Malformed { ref path, line, .. } => {
            let attrs = (|| -> PyResult<Vec<(&str, Py<PyAny>)>> {
                Ok(vec![
                    ("path", path.into_pyobject(py)?.into_any().unbind()),
                    ("line", line.into_pyobject(py)?.into_any().unbind()),
                ])
            })();
            match attrs {
                Ok(attrs) => liqsim_error(py, "ScenarioError", err.to_string(), &attrs),
                Err(e) => e,
            }
        }
        ReplayError::Io { .. } | ReplayError::Config { .. } => liqsim_error(py, "LiqsimError", err.to_string(), &[]),
    }
}

fn floats(units: Vec<i64>) -> Vec<f64> {
    units.into_iter().map(units_to_f64).collect()
}

/// Every message of the files, decoded into columns (see `liqsim.io.read_binance_stream`).
#[pyfunction]
fn read_binance_stream<'py>(py: Python<'py>, paths: Vec<String>) -> PyResult<Bound<'py, PyDict>> {
    let d = py.detach(|| replay::decode_files(&paths)).map_err(|e| replay_error(py, e))?;
    let out = PyDict::new(py);

    let depth = PyDict::new(py);
    let c = d.depth;
    depth.set_item("ts", c.ts.into_pyarray(py))?;
    depth.set_item("event_time", c.event_time_ms.into_pyarray(py))?;
    depth.set_item("first_update_id", c.first_update_id.into_pyarray(py))?;
    depth.set_item("update_id", c.update_id.into_pyarray(py))?;
    depth.set_item("prev_update_id", c.prev_update_id.into_pyarray(py))?;
    depth.set_item("side", c.side.into_pyarray(py))?;
    depth.set_item("price", floats(c.price).into_pyarray(py))?;
    depth.set_item("qty", floats(c.qty).into_pyarray(py))?;
    out.set_item("depth", depth)?;

    let snapshots = PyDict::new(py);
    let c = d.snapshots;
    snapshots.set_item("ts", c.ts.into_pyarray(py))?;
    snapshots.set_item("last_update_id", c.last_update_id.into_pyarray(py))?;
    snapshots.set_item("side", c.side.into_pyarray(py))?;
    snapshots.set_item("price", floats(c.price).into_pyarray(py))?;
    snapshots.set_item("qty", floats(c.qty).into_pyarray(py))?;
    out.set_item("snapshots", snapshots)?;

    let tickers = PyDict::new(py);
    let c = d.book_ticker;
    tickers.set_item("ts", c.ts.into_pyarray(py))?;
    tickers.set_item("event_time", c.event_time_ms.into_pyarray(py))?;
    tickers.set_item("update_id", c.update_id.into_pyarray(py))?;
    tickers.set_item("bid", floats(c.bid).into_pyarray(py))?;
    tickers.set_item("bid_qty", floats(c.bid_qty).into_pyarray(py))?;
    tickers.set_item("ask", floats(c.ask).into_pyarray(py))?;
    tickers.set_item("ask_qty", floats(c.ask_qty).into_pyarray(py))?;
    out.set_item("book_ticker", tickers)?;

    let trades = PyDict::new(py);
    let c = d.trades;
    trades.set_item("ts", c.ts.into_pyarray(py))?;
    trades.set_item("trade_time", c.trade_time_ms.into_pyarray(py))?;
    trades.set_item("trade_id", c.trade_id.into_pyarray(py))?;
    trades.set_item("price", floats(c.price).into_pyarray(py))?;
    trades.set_item("qty", floats(c.qty).into_pyarray(py))?;
    trades.set_item("side", c.side.into_pyarray(py))?;
    out.set_item("trades", trades)?;
    out.set_item("skipped", d.skipped)?;
    Ok(out)
}

/// Rebuild the book from the files read as one stream (see `liqsim.io.replay_l2`).
#[pyfunction]
#[pyo3(signature = (paths, contract_size=None, sample_every_ns=1_000_000_000, depth_fractions=vec![0.01], book_times=vec![], book_levels=0, stop_after_ns=None, top_of_book=true))]
#[allow(clippy::too_many_arguments)]
fn replay_l2<'py>(
    py: Python<'py>,
    paths: Vec<String>,
    contract_size: Option<f64>,
    sample_every_ns: i64,
    depth_fractions: Vec<f64>,
    book_times: Vec<i64>,
    book_levels: usize,
    stop_after_ns: Option<i64>,
    top_of_book: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let options = ReplayOptions {
        contract_size,
        sample_every_ns,
        depth_fractions,
        book_times,
        book_levels,
        stop_after_ns,
        top_of_book,
        ..Default::default()
    };
    let r = py.detach(|| replay::replay_files(&paths, options)).map_err(|e| replay_error(py, e))?;
    let out = PyDict::new(py);

    let top = PyDict::new(py);
    let t = r.top;
    top.set_item("ts", t.ts.into_pyarray(py))?;
    top.set_item("update_id", t.update_id.into_pyarray(py))?;
    top.set_item("bid", t.bid.into_pyarray(py))?;
    top.set_item("bid_qty", t.bid_qty.into_pyarray(py))?;
    top.set_item("ask", t.ask.into_pyarray(py))?;
    top.set_item("ask_qty", t.ask_qty.into_pyarray(py))?;
    out.set_item("top", top)?;

    let series = PyDict::new(py);
    let s = r.series;
    series.set_item("ts", s.top.ts.into_pyarray(py))?;
    series.set_item("synced", s.synced.into_pyarray(py))?;
    series.set_item("bid", s.top.bid.into_pyarray(py))?;
    series.set_item("bid_qty", s.top.bid_qty.into_pyarray(py))?;
    series.set_item("ask", s.top.ask.into_pyarray(py))?;
    series.set_item("ask_qty", s.top.ask_qty.into_pyarray(py))?;
    let bands = PyList::empty(py);
    for [bid_qty, bid_notional, ask_qty, ask_notional] in s.depth {
        let band = PyDict::new(py);
        band.set_item("bid_qty", bid_qty.into_pyarray(py))?;
        band.set_item("bid_notional", bid_notional.into_pyarray(py))?;
        band.set_item("ask_qty", ask_qty.into_pyarray(py))?;
        band.set_item("ask_notional", ask_notional.into_pyarray(py))?;
        bands.append(band)?;
    }
    series.set_item("depth", bands)?;
    out.set_item("series", series)?;

    let trades = PyDict::new(py);
    let t = r.trades;
    trades.set_item("ts", t.ts.into_pyarray(py))?;
    trades.set_item("trade_time", t.trade_time.into_pyarray(py))?;
    trades.set_item("trade_id", t.trade_id.into_pyarray(py))?;
    trades.set_item("price", t.price.into_pyarray(py))?;
    trades.set_item("qty", t.qty.into_pyarray(py))?;
    trades.set_item("notional", t.notional.into_pyarray(py))?;
    trades.set_item("side", t.side.into_pyarray(py))?;
    out.set_item("trades", trades)?;

    let gaps = PyDict::new(py);
    let g = &r.gaps;
    let id = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    gaps.set_item("ts", g.iter().map(|g| g.ts).collect::<Vec<_>>().into_pyarray(py))?;
    gaps.set_item("file", g.iter().map(|g| g.position.file as i64).collect::<Vec<_>>().into_pyarray(py))?;
    gaps.set_item("line", g.iter().map(|g| g.position.line as i64).collect::<Vec<_>>().into_pyarray(py))?;
    gaps.set_item("kind", g.iter().map(|g| g.kind as u8).collect::<Vec<_>>().into_pyarray(py))?;
    gaps.set_item("expected_id", g.iter().map(|g| id(g.expected)).collect::<Vec<_>>().into_pyarray(py))?;
    gaps.set_item("first_update_id", g.iter().map(|g| id(g.first_update_id)).collect::<Vec<_>>().into_pyarray(py))?;
    gaps.set_item("update_id", g.iter().map(|g| id(g.update_id)).collect::<Vec<_>>().into_pyarray(py))?;
    gaps.set_item(
        "prev_update_id",
        g.iter().map(|g| g.prev_update_id.map_or(-1, id)).collect::<Vec<_>>().into_pyarray(py),
    )?;
    gaps.set_item("resynced", g.iter().map(|g| g.resynced_ts.is_some()).collect::<Vec<_>>().into_pyarray(py))?;
    gaps.set_item("resynced_ts", g.iter().map(|g| g.resynced_ts.unwrap_or(0)).collect::<Vec<_>>().into_pyarray(py))?;
    out.set_item("gaps", gaps)?;
    out.set_item("gap_kind_names", GapKind::NAMES.to_vec())?;

    let files = PyDict::new(py);
    let f = &r.files;
    let col = |get: fn(&replay::FileCheck) -> u64| f.iter().map(|x| get(x) as i64).collect::<Vec<_>>();
    files.set_item("lines", col(|x| x.lines).into_pyarray(py))?;
    files.set_item("snapshots", col(|x| x.snapshots).into_pyarray(py))?;
    files.set_item("diffs", col(|x| x.diffs).into_pyarray(py))?;
    files.set_item("diffs_applied", col(|x| x.diffs_applied).into_pyarray(py))?;
    files.set_item("diffs_stale", col(|x| x.diffs_stale).into_pyarray(py))?;
    files.set_item("level_updates", col(|x| x.level_updates).into_pyarray(py))?;
    files.set_item("trades", col(|x| x.trades).into_pyarray(py))?;
    files.set_item("book_tickers", col(|x| x.book_tickers).into_pyarray(py))?;
    files.set_item("aligned", col(|x| x.aligned).into_pyarray(py))?;
    files.set_item("matched", col(|x| x.matched).into_pyarray(py))?;
    files.set_item("other", col(|x| x.other).into_pyarray(py))?;
    files.set_item("synced", f.iter().map(|x| x.first_synced_ts.is_some()).collect::<Vec<_>>().into_pyarray(py))?;
    files.set_item(
        "first_synced_ts",
        f.iter().map(|x| x.first_synced_ts.unwrap_or(0)).collect::<Vec<_>>().into_pyarray(py),
    )?;
    out.set_item("files", files)?;

    let mismatches = PyDict::new(py);
    let m = &r.mismatches;
    let top_col = |pick: fn(&replay::Mismatch) -> Option<(i64, i64)>, qty: bool| {
        m.iter().map(|x| pick(x).map_or(f64::NAN, |(p, q)| units_to_f64(if qty { q } else { p }))).collect::<Vec<_>>()
    };
    mismatches.set_item("ts", m.iter().map(|x| x.ts).collect::<Vec<_>>().into_pyarray(py))?;
    mismatches.set_item("file", m.iter().map(|x| x.position.file as i64).collect::<Vec<_>>().into_pyarray(py))?;
    mismatches.set_item("line", m.iter().map(|x| x.position.line as i64).collect::<Vec<_>>().into_pyarray(py))?;
    mismatches.set_item("update_id", m.iter().map(|x| id(x.ticker.update_id)).collect::<Vec<_>>().into_pyarray(py))?;
    mismatches
        .set_item("ticker_bid", m.iter().map(|x| units_to_f64(x.ticker.bid)).collect::<Vec<_>>().into_pyarray(py))?;
    mismatches.set_item(
        "ticker_bid_qty",
        m.iter().map(|x| units_to_f64(x.ticker.bid_qty)).collect::<Vec<_>>().into_pyarray(py),
    )?;
    mismatches
        .set_item("ticker_ask", m.iter().map(|x| units_to_f64(x.ticker.ask)).collect::<Vec<_>>().into_pyarray(py))?;
    mismatches.set_item(
        "ticker_ask_qty",
        m.iter().map(|x| units_to_f64(x.ticker.ask_qty)).collect::<Vec<_>>().into_pyarray(py),
    )?;
    mismatches.set_item("book_bid", top_col(|x| x.book.bid, false).into_pyarray(py))?;
    mismatches.set_item("book_bid_qty", top_col(|x| x.book.bid, true).into_pyarray(py))?;
    mismatches.set_item("book_ask", top_col(|x| x.book.ask, false).into_pyarray(py))?;
    mismatches.set_item("book_ask_qty", top_col(|x| x.book.ask, true).into_pyarray(py))?;
    out.set_item("mismatches", mismatches)?;
    out.set_item("mismatch_count", r.mismatch_count)?;

    let books = PyList::empty(py);
    for b in r.books {
        let d = PyDict::new(py);
        d.set_item("requested_ts", b.requested_ts)?;
        d.set_item("synced", b.synced)?;
        d.set_item("after_end", b.after_end)?;
        d.set_item("update_id", b.update_id)?;
        let (bp, bq): (Vec<f64>, Vec<f64>) = b.bids.iter().map(|(p, q)| (units_to_f64(*p), units_to_f64(*q))).unzip();
        let (ap, aq): (Vec<f64>, Vec<f64>) = b.asks.iter().map(|(p, q)| (units_to_f64(*p), units_to_f64(*q))).unzip();
        d.set_item("bid_price", bp.into_pyarray(py))?;
        d.set_item("bid_qty", bq.into_pyarray(py))?;
        d.set_item("ask_price", ap.into_pyarray(py))?;
        d.set_item("ask_qty", aq.into_pyarray(py))?;
        books.append(d)?;
    }
    out.set_item("books", books)?;
    out.set_item("first_ts", r.first_ts)?;
    out.set_item("last_ts", r.last_ts)?;
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_binance_stream, m)?)?;
    m.add_function(wrap_pyfunction!(replay_l2, m)?)?;
    Ok(())
}
