//! L2 replay throughput on real recorded Binance data (shared/data/binance-l2, or the directory in
//! `LIQSIM_BINANCE_L2`).
//!
//! - `replay/raw_gz`: the whole path from the gzip file to the rebuilt book and its outputs
//!   (gunzip, JSON, sync rules, bookTicker check, trades, 1 s series); throughput in messages.
//!   Default threads (inflating on a second thread); `raw_gz_1_thread` all on one thread.
//! - `stage_*`: the one-thread stages of raw_gz (inflate and split lines; then decode too).
//! - `replay/decoded_diffs`: already-decoded snapshot + diffs through the sync rules into the
//!   book; throughput in level updates.
//!
//! Run: `cargo bench -p liqsim-core --profile quick --bench replay -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liqsim_core::replay::{parse_line, replay_files, LineReader, Message, ReplayOptions, Replayer};
use std::hint::black_box;
use std::path::PathBuf;

fn data_file(name: &str) -> Option<PathBuf> {
    // `../shared/data` next to the checkout (or next to the folder of worktrees).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs: Vec<PathBuf> = std::env::var_os("LIQSIM_BINANCE_L2").map(PathBuf::from).into_iter().collect();
    dirs.push(root.join("../shared/data/binance-l2"));
    dirs.push(root.join("../../shared/data/binance-l2"));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.exists())
}

fn bench_replay(c: &mut Criterion) {
    let Some(path) = data_file("btcusdt_20240808.gz") else {
        eprintln!("replay bench: no data (set LIQSIM_BINANCE_L2); skipped");
        return;
    };
    // Decode once: the raw bench's message count and the decoded bench's input.
    let mut lines = LineReader::new(&[&path]).expect("data file");
    let mut decoded: Vec<(i64, Message)> = Vec::new();
    let (mut messages, mut level_updates) = (0u64, 0u64);
    while let Some((_, text)) = lines.next_line().expect("readable") {
        let mut m = Message::default();
        let ts = parse_line(text, &mut m).expect("well-formed");
        messages += 1;
        match &m {
            Message::Depth(d) => {
                level_updates += d.levels.len() as u64;
                decoded.push((ts, m));
            }
            Message::Snapshot(_) => decoded.push((ts, m)),
            _ => {}
        }
    }

    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(messages));
    // Default threads (rayon's count: inflating on a second thread when there are 2+ cores).
    group.bench_function("raw_gz", |b| {
        b.iter(|| black_box(replay_files(&[&path], ReplayOptions::default()).expect("replay")))
    });
    group.bench_function("raw_gz_1_thread", |b| {
        let options = ReplayOptions { threads: Some(1), ..ReplayOptions::default() };
        b.iter(|| black_box(replay_files(&[&path], options.clone()).expect("replay")))
    });
    // The stages of raw_gz on their own, to see where its time goes.
    group.bench_function("stage_gunzip_lines", |b| {
        b.iter(|| {
            let mut lines = LineReader::new(&[&path]).expect("data file");
            let mut n = 0usize;
            while let Some((_, text)) = lines.next_line().expect("readable") {
                n += text.len();
            }
            black_box(n)
        })
    });
    group.bench_function("stage_gunzip_decode", |b| {
        b.iter(|| {
            let mut lines = LineReader::new(&[&path]).expect("data file");
            let mut m = Message::default();
            while let Some((_, text)) = lines.next_line().expect("readable") {
                black_box(parse_line(text, &mut m).expect("well-formed"));
            }
        })
    });
    group.throughput(Throughput::Elements(level_updates));
    group.bench_function("decoded_diffs", |b| {
        b.iter(|| {
            let options = ReplayOptions { sample_every_ns: 0, top_of_book: false, ..Default::default() };
            let mut r = Replayer::new(options, 1).expect("options");
            for (line, (ts, m)) in decoded.iter().enumerate() {
                r.on_message(*ts, liqsim_core::replay::LinePosition { file: 0, line: line as u64 }, m);
            }
            black_box(r.book().top())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_replay);
criterion_main!(benches);
