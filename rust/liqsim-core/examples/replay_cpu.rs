//! CPU time and wall time of the L2 replay's stages, for a machine shared with other work (where
//! criterion's wall figures swing with the load): process CPU time (all threads, from
//! `/proc/self/stat`) per run next to the wall time.
//!
//! `cargo run -p liqsim-core --release --example replay_cpu -- [FILE.gz] [RUNS] [STAGE]`
//! (default: btcusdt_20240808.gz of the shared data, 20 runs, every stage; STAGE picks the stages
//! whose name contains it, e.g. for instruction counts under `valgrind --tool=callgrind`).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use liqsim_core::replay::{parse_line, replay_files, LineReader, Message, ReplayOptions};

/// utime + stime of the process, seconds (Linux; clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// The same for the calling thread alone: with two threads, the busier one bounds the wall time
/// on an otherwise idle machine.
fn thread_cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/thread-self/stat")
}

fn stat_cpu_seconds(file: &str) -> f64 {
    let stat = std::fs::read_to_string(file).unwrap_or_default();
    // Fields after the command name (which may contain spaces) end with ')'.
    let rest = stat.rsplit_once(')').map(|r| r.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (tick(11) + tick(12)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        [root.join("../shared/data/binance-l2"), root.join("../../shared/data/binance-l2")]
            .into_iter()
            .map(|d| d.join("btcusdt_20240808.gz"))
            .find(|p| p.exists())
            .expect("no data file given and none in shared/data/binance-l2")
    });
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let only = args.next().unwrap_or_default();
    let mut messages = 0u64;
    let mut lines = LineReader::new(&[&path]).expect("data file");
    while lines.next_line().expect("readable").is_some() {
        messages += 1;
    }
    println!("{}: {messages} messages, {runs} runs each", path.display());
    let stage = |name: &str, f: &dyn Fn()| {
        if !name.contains(only.as_str()) {
            return;
        }
        f();
        let (mut walls, cpu0, main0) = (Vec::new(), cpu_seconds(), thread_cpu_seconds());
        for _ in 0..runs {
            let t = Instant::now();
            f();
            walls.push(t.elapsed().as_secs_f64());
        }
        let cpu = (cpu_seconds() - cpu0) / runs as f64;
        let main = (thread_cpu_seconds() - main0) / runs as f64;
        walls.sort_by(f64::total_cmp);
        let median = walls[runs / 2];
        println!(
            "{name:<26} wall median {:>6.1} ms (best {:>6.1}) = {:>5.2} M msgs/s; CPU {:>6.1} ms/run \
             (calling thread {:>6.1}, other threads {:>6.1})",
            median * 1e3,
            walls[0] * 1e3,
            messages as f64 / median / 1e6,
            cpu * 1e3,
            main * 1e3,
            (cpu - main) * 1e3
        );
    };
    stage("inflate + split lines", &|| {
        let mut lines = LineReader::new(&[&path]).expect("data file");
        let mut n = 0usize;
        while let Some((_, text)) = lines.next_line().expect("readable") {
            n += text.len();
        }
        black_box(n);
    });
    stage("inflate + decode", &|| {
        let mut lines = LineReader::new(&[&path]).expect("data file");
        let mut m = Message::default();
        while let Some((_, text)) = lines.next_line().expect("readable") {
            black_box(parse_line(text, &mut m).expect("well-formed"));
        }
    });
    for threads in [1, 2] {
        stage(&format!("replay, {threads} thread(s)"), &|| {
            let options = ReplayOptions { threads: Some(threads), ..ReplayOptions::default() };
            black_box(replay_files(&[&path], options).expect("replay"));
        });
    }
    // One and two threads alternately, so a change in the machine's load hits both alike.
    if "replay interleaved".contains(only.as_str()) {
        let mut walls = [Vec::new(), Vec::new()];
        for _ in 0..runs {
            for (i, threads) in [1, 2].into_iter().enumerate() {
                let t = Instant::now();
                let options = ReplayOptions { threads: Some(threads), ..ReplayOptions::default() };
                black_box(replay_files(&[&path], options).expect("replay"));
                walls[i].push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        for w in &mut walls {
            w.sort_by(f64::total_cmp);
        }
        let faster = (0..runs).filter(|&k| walls[1][k] < walls[0][k]).count();
        println!(
            "replay interleaved: 1 thread median {:.1} ms (best {:.1}), 2 threads median {:.1} ms (best {:.1}); \
             2 threads faster at {faster} of {runs} ranks",
            walls[0][runs / 2],
            walls[0][0],
            walls[1][runs / 2],
            walls[1][0]
        );
    }
}
