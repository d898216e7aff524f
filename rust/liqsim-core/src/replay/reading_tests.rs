//! The fast reading path against the plain one: the scan (`scan.rs`) against serde_json on every
//! recorded line and on mutated lines, the block reader (`lines.rs`) against a whole-file gunzip,
//! and replays on one and two threads against a reference replay built from those plain parts.

use std::io::{Read, Write};
use std::path::PathBuf;

use super::message::{parse_line_serde, Kind};
use super::*;

/// The shared recordings when present (`LIQSIM_BINANCE_L2`, or `shared/data/binance-l2` next to
/// the checkout or next to its folder of worktrees), else the slices in tests/data.
fn recordings() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs: Vec<PathBuf> = std::env::var_os("LIQSIM_BINANCE_L2").map(PathBuf::from).into_iter().collect();
    dirs.push(root.join("../shared/data/binance-l2"));
    dirs.push(root.join("../../shared/data/binance-l2"));
    dirs.push(root.join("tests/data/binance-l2"));
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "gz"))
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() {
            files.sort();
            return files;
        }
    }
    panic!("no recordings found, not even tests/data/binance-l2");
}

/// Every line of the files, by a plain whole-file gunzip: (file, 1-based line, text), empty lines
/// and trailing `\r` dropped as the reader documents.
fn plain_lines(paths: &[PathBuf]) -> Vec<(LinePosition, String)> {
    let mut out = Vec::new();
    for (file, path) in paths.iter().enumerate() {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
        let body = text.strip_suffix('\n').unwrap_or(&text);
        for (i, line) in body.split('\n').enumerate() {
            let line = line.trim_end_matches(['\r', '\n']);
            if !line.is_empty() {
                out.push((LinePosition { file, line: i as u64 + 1 }, line.to_string()));
            }
        }
    }
    out
}

fn reader_lines(paths: &[PathBuf], threads: usize) -> Vec<(LinePosition, String)> {
    let mut reader = LineReader::with_threads(paths, threads).unwrap();
    let mut out = Vec::new();
    while let Some((position, text)) = reader.next_line().unwrap() {
        out.push((position, text.to_string()));
    }
    out
}

/// The stream kind of a combined-stream line the scan handles, if it is one.
fn scanned_kind(json: &str) -> Option<Kind> {
    let stream = json.strip_prefix("{\"stream\":\"")?.split('"').next()?;
    match stream.split_once('@')?.1 {
        k if k.starts_with("depth") => Some(Kind::Depth),
        "bookTicker" => Some(Kind::BookTicker),
        "trade" => Some(Kind::Trade),
        "aggTrade" => Some(Kind::AggTrade),
        _ => None,
    }
}

/// Both decoders on one line: the same result, and the same message when it decodes.
fn assert_same_decoding(line: &str) {
    let (mut fast, mut reference) = (Message::default(), Message::default());
    let a = parse_line_with_symbol(line, &mut fast);
    let b = parse_line_serde(line, &mut reference);
    assert_eq!(a, b, "line {line:?}");
    if a.is_ok() {
        assert_eq!(fast, reference, "line {line:?}");
    }
}

#[test]
fn scan_decodes_every_recorded_line_as_serde_does_and_takes_every_one() {
    let (mut scanned, mut total) = (0usize, 0usize);
    let mut fast = Message::default();
    for path in recordings() {
        for (_, line) in plain_lines(&[path]) {
            assert_same_decoding(&line);
            total += 1;
            let json = line.split_once(' ').unwrap().1.trim();
            if let Some(kind) = scanned_kind(json) {
                // The fast path must actually be taken on what the recorder writes.
                assert_eq!(scan::decode_wrapped(kind, json, &mut fast), Some(Ok(())), "line {line:?}");
                scanned += 1;
            }
        }
    }
    // All but the REST snapshots (one or two a file).
    assert!(scanned + 10 > total && scanned > 1000, "{scanned} of {total} lines scanned");
}

/// Recorder-shaped lines plus shapes only serde should decide: escapes, whitespace, duplicate or
/// reordered keys, nulls, missing keys, trailing keys, numbers serde refuses.
const SAMPLES: &[&str] = &[
    r#"17 {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":5,"T":4,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[["100.0","1.5"],["99.5","0"]],"a":[["101.0","0.000"]]}}"#,
    r#"1 {"stream":"btcusd_perp@bookTicker","data":{"u":7,"e":"bookTicker","s":"BTCUSD_PERP","b":"61804.7","B":"35","a":"61804.8","A":"1645","T":1,"E":2}}"#,
    r#"1 {"stream":"btcusdt@trade","data":{"e":"trade","E":9,"T":8,"s":"BTCUSDT","t":42,"p":"63943.90","q":"0.003","X":"MARKET","m":true}}"#,
    r#"1 {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":9,"a":77,"s":"BTCUSDT","p":"2.5","q":"0.5","f":1,"l":3,"T":8,"m":false}}"#,
    r#"2 { "stream" : "x@depth" , "data" : { "U" : 1 , "u" : 2 , "pu" : null , "b" : [ [ "1" , "2" ] ] , "a" : [ ] , "z" : [ { } , [ ] , -1.5e+3 , null , true ] } } "#,
    r#"2 {"stream":"x@depth","data":{"U":1,"u":2,"a":[["2","1"]],"b":[["1","1"]]}}"#,
    r#"2 {"stream":"x@depth","data":{"U":1,"u":2,"U":3,"b":[],"a":[]}}"#,
    r#"2 {"stream":"x@depth","data":{"U":1,"b":[],"a":[]}}"#,
    r#"2 {"stream":"x@depth","data":{"U":1,"u":2,"b":[],"a":[]},"extra":1}"#,
    r#"2 {"stream":"x@depth","data":{"U":1,"u":2,"b":[],"a":[],"s":"A\u0042"}}"#,
    r#"2 {"stream":"x@depth","data":{"U":1,"u":2,"b":[["1\u0030","1"]],"a":[]}}"#,
    r#"2 {"stream":"x@depth","data":{"\u0055":1,"u":2,"b":[],"a":[]}}"#,
    r#"2 {"stream":"x@depth","data":{"U":01,"u":2,"b":[],"a":[]}}"#,
    r#"2 {"stream":"x@depth","data":{"U":1.0,"u":2,"b":[],"a":[]}}"#,
    r#"2 {"stream":"x@depth","data":{"U":1,"u":9223372036854775808,"b":[],"a":[]}}"#,
    r#"2 {"stream":"x@depth","data":{"E":-1,"U":1,"u":2,"b":[],"a":[]}}"#,
    r#"2 {"stream":"x@depth","data":{"E":9223372036854775807,"U":1,"u":2,"b":[],"a":[]}}"#,
    r#"2 {"stream":"x@depth","data":{"U":1,"u":2,"b":[["1","2","3"]],"a":[]}}"#,
    r#"2 {"stream":"x@bookTicker","data":{"u":1,"b":"1","B":"1","a":"2","A":"1.000000001"}}"#,
    r#"2 {"stream":"x@trade","data":{"T":1,"t":2,"p":"1","q":"1","m":null}}"#,
    r#"2 {"stream":"x@trade","data":{"T":1,"t":2,"p":"1","q":"1","m":true,"m":false}}"#,
    r#"2 {"stream":"x@trade","data":[1,2,"1","1",true]}"#,
];

#[test]
fn scan_and_serde_agree_on_odd_lines_and_every_single_byte_mutation() {
    // Mutations of each sample and of one real diff: delete, replace or insert one byte at every
    // position, with bytes that matter to JSON. Whatever the scan accepts, serde must decode the
    // same; whatever it is unsure of falls back, so errors are serde's own.
    let real = plain_lines(&recordings()[..1])
        .into_iter()
        .map(|(_, l)| l)
        .find(|l| l.contains("@depth") && l.len() < 4000)
        .unwrap();
    let bytes: &[u8] = b"\"\\ -.e09,[]{}:nt\t\x01";
    let mut variants = 0usize;
    for line in SAMPLES.iter().copied().chain([real.as_str()]) {
        assert_same_decoding(line);
        let b = line.as_bytes();
        for i in 0..b.len() {
            let mut cases = vec![[&b[..i], &b[i + 1..]].concat()];
            for &c in bytes {
                cases.push([&b[..i], &[c], &b[i + 1..]].concat());
                cases.push([&b[..i], &[c], &b[i..]].concat());
            }
            for case in cases {
                // The samples are ASCII, so every variant is text.
                assert_same_decoding(std::str::from_utf8(&case).unwrap());
                variants += 1;
            }
        }
    }
    assert!(variants > 50_000, "{variants}");
}

#[test]
fn scan_reads_decimals_exactly_as_parse_units() {
    let numbers = [
        "0",
        "00",
        "007.50",
        "1.",
        "1.5",
        "61804.7",
        "0.00000001",
        "0.000000001",
        "1e5",
        "-1",
        "+1",
        ".5",
        "",
        "1..2",
        "1.2.3",
        " 1",
        "1 ",
        "92233720368.54775807",
        "92233720368.54775808",
        "999999999999999999",
        "9999999999999999999",
        "9999999999.99999999",
        "99999999999.9999999",
        "123456789012345678.9",
        "12345678",
        "12345678.9",
        "123456789.12345678",
        "1.12345678",
        "1.123456789",
        "100000000.00000000",
    ];
    for n in numbers {
        let line = format!(r#"1 {{"stream":"x@bookTicker","data":{{"u":1,"b":"{n}","B":"1","a":"2","A":"1"}}}}"#);
        assert_same_decoding(&line);
        let mut m = Message::default();
        let scanned = parse_line(&line, &mut m)
            .ok()
            .map(|_| matches!(m, Message::BookTicker(t) if Some(t.bid) == parse_units(n)));
        assert!(scanned.unwrap_or(parse_units(n).is_none()), "{n:?}");
    }
}

#[test]
fn block_reader_gives_the_lines_of_a_plain_gunzip_on_any_thread_count() {
    let files = recordings();
    let expected = plain_lines(&files);
    assert_eq!(reader_lines(&files, 1), expected);
    assert_eq!(reader_lines(&files, 2), expected);
}

/// The replay as it was built before the fast path: whole-file gunzip, serde_json per line, the
/// same state machine, one thread.
fn reference_replay(paths: &[PathBuf], options: ReplayOptions) -> ReplayOutput {
    let mut replayer = Replayer::new(options, paths.len()).unwrap();
    let mut message = Message::default();
    for (position, line) in plain_lines(paths) {
        let ts = parse_line_serde(&line, &mut message).unwrap().0;
        if !replayer.on_message(ts, position, &message) {
            break;
        }
    }
    replayer.finish()
}

#[test]
fn replay_on_one_or_more_threads_equals_the_reference_on_every_recording() {
    // Everything on: series with two bands, books at three times, top of book, trades.
    let options = |threads: Option<usize>, files: &[PathBuf]| {
        let first = plain_lines(&files[..1])[0].1.split_once(' ').unwrap().0.parse::<i64>().unwrap();
        ReplayOptions {
            contract_size: files[0].to_string_lossy().contains("_perp").then_some(100.0),
            depth_fractions: vec![0.001, 0.01],
            book_times: vec![first + 2_000_000_000, first + 30_000_000_000, first + 100_000_000_000],
            book_levels: 20,
            threads,
            ..ReplayOptions::default()
        }
    };
    let files = recordings();
    // Each file alone, a split recording read as one stream (btcusdt_20240718 + _20240719 when
    // the shared files are here), and a file read twice as one stream.
    let mut streams: Vec<Vec<PathBuf>> = files.iter().map(|f| vec![f.clone()]).collect();
    let symbol = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().split('_').next().unwrap().to_string();
    if let Some(w) = files.windows(2).find(|w| symbol(&w[0]) == symbol(&w[1])) {
        streams.push(w.to_vec());
    }
    streams.push(vec![files[0].clone(), files[0].clone()]);
    for stream in streams {
        // The output holds NaN (out-of-sync rows), so it is compared through its Debug text.
        let reference = format!("{:?}", reference_replay(&stream, options(Some(1), &stream)));
        for threads in [Some(1), Some(2), Some(3), None] {
            let out = replay_files(&stream, options(threads, &stream)).unwrap();
            assert!(format!("{out:?}") == reference, "{stream:?} on {threads:?} threads differs from the reference");
        }
        // Stopping early (the reading thread is then told to stop mid-file).
        let stop = |threads| ReplayOptions {
            stop_after_ns: options(threads, &stream).book_times.get(1).copied(),
            ..options(threads, &stream)
        };
        let reference = format!("{:?}", reference_replay(&stream, stop(Some(1))));
        for threads in [Some(1), Some(2)] {
            let out = replay_files(&stream, stop(threads)).unwrap();
            assert!(format!("{out:?}") == reference, "{stream:?} stopped early on {threads:?} threads");
        }
        let one = format!("{:?}", decode_files_with_threads(&stream, Some(1)).unwrap());
        assert!(format!("{:?}", decode_files_with_threads(&stream, Some(2)).unwrap()) == one, "{stream:?}");
    }
}

#[test]
fn long_lines_block_edges_and_errors_are_the_same_on_one_or_two_threads() {
    let dir = std::env::temp_dir().join(format!("liqsim-reading-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gz = |name: &str, text: &[u8]| {
        let path = dir.join(name);
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        enc.write_all(text).unwrap();
        enc.finish().unwrap();
        path
    };
    let trade = |i: usize, pad: usize| {
        format!(
            r#"{i} {{"stream":"x@trade","data":{{"T":{i},"t":{i},"s":"{}","p":"1.5","q":"2","m":false}}}}"#,
            "x".repeat(pad)
        )
    };
    // 30k lines (~3 MB: many blocks), lines of 0.6 and 1.1 MB (longer than a block), CRLF and
    // empty lines, no newline at the end.
    let mut text = String::new();
    for i in 1..=30_000 {
        let pad = match i {
            7 => 600_000,
            20_000 => 1_100_000,
            _ => i % 50,
        };
        text += &trade(i, pad);
        text += if i % 11 == 0 { "\r\n\n" } else { "\n" };
    }
    let long = gz("long.gz", text.trim_end().as_bytes());
    let files = vec![long.clone(), long.clone()];
    let expected = plain_lines(&files);
    assert_eq!(expected.len(), 60_000);
    assert_eq!(reader_lines(&files, 1), expected);
    assert_eq!(reader_lines(&files, 2), expected);
    let one = format!("{:?}", replay_files(&files, ReplayOptions { threads: Some(1), ..Default::default() }).unwrap());
    let two = format!("{:?}", replay_files(&files, ReplayOptions { threads: Some(2), ..Default::default() }).unwrap());
    assert!(one == two);

    // A file cut short: the error names the line being inflated, on both paths.
    let whole = std::fs::read(&long).unwrap();
    let cut = dir.join("cut.gz");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    // A line that does not decode, far into the second file; a missing third file.
    let mut lines: Vec<String> = (1..=9_000).map(|i| trade(i, 0)).collect();
    lines[7_999] = lines[7_999].replace(",\"m\":false", "");
    let bad = gz("bad.gz", lines.join("\n\n").as_bytes());
    let missing = dir.join("missing.gz");
    let cases: [Vec<PathBuf>; 3] = [vec![long.clone(), cut], vec![long.clone(), bad], vec![long, missing]];
    for (case, paths) in cases.iter().enumerate() {
        let errors: Vec<ReplayError> = [1, 2]
            .map(|t| replay_files(paths, ReplayOptions { threads: Some(t), ..Default::default() }).unwrap_err())
            .into();
        assert_eq!(errors[0], errors[1], "case {case}");
        match (case, &errors[0]) {
            (0, ReplayError::Malformed { path, line, message }) => {
                assert!(path.ends_with("cut.gz") && *line > 1000 && message.contains("decompress"), "{}", errors[0])
            }
            (1, ReplayError::Malformed { path, line, .. }) => assert!(path.ends_with("bad.gz") && *line == 15_999),
            (2, ReplayError::Io { path, .. }) => assert!(path.ends_with("missing.gz")),
            _ => panic!("case {case}: {}", errors[0]),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
