//! Lines of several gzip files read as one stream, inflated in line-aligned blocks.
//!
//! Inflating is a third of the replay's work and independent of the rest, so with more than one
//! thread it runs on its own thread, a block ahead of the parser: blocks pass through a bounded
//! channel (at most [`QUEUE`] waiting) and come back to be refilled, so memory stays a few blocks
//! (plus the longest line) whatever the file length. One thread reads the same blocks in place.
//! Both give the same lines, line numbers and errors at the same point, since the consumer side
//! ([`LineReader::next_line`]) is the same code for both.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use flate2::read::MultiGzDecoder;

use super::{LinePosition, ReplayError};

/// Inflated bytes per block: large enough that the channel costs nothing per line (a block holds
/// ~1,000 lines of a typical recording), small enough to stay in L2 between the two threads.
const BLOCK: usize = 1 << 18;
/// Blocks waiting between the inflating thread and the parser: 2 MB of text, ~4 ms of parsing
/// and replay, so the inflating thread (twice as fast as the parser) can be off its core that
/// long on a busy machine without the parser waiting for it.
const QUEUE: usize = 8;

/// How a block ends.
enum BlockEnd {
    /// More of the same file follows.
    More,
    /// The last block of its file.
    FileEnd,
    /// The file could not be opened (the block is empty).
    OpenFailed(String),
    /// Inflating failed after the block's lines (a partial line is dropped).
    ReadFailed(String),
}

/// Whole lines of one file (the last block of a file may end without a newline).
struct Block {
    data: Vec<u8>,
    end: BlockEnd,
}

/// Inflates the files in order into line-aligned blocks.
struct BlockSource {
    paths: Vec<PathBuf>,
    file: usize,
    decoder: Option<MultiGzDecoder<File>>,
    /// Bytes after the last newline of the previous block (start of the next line).
    carry: Vec<u8>,
}

impl BlockSource {
    fn new(paths: Vec<PathBuf>) -> BlockSource {
        BlockSource { paths, file: 0, decoder: None, carry: Vec::new() }
    }

    /// The next block, filled into `buf` (whose capacity is reused); `None` after the last file.
    fn next_block(&mut self, mut buf: Vec<u8>) -> Option<Block> {
        buf.clear();
        let path = self.paths.get(self.file)?;
        let decoder = match &mut self.decoder {
            Some(d) => d,
            None => match File::open(path) {
                Ok(f) => self.decoder.insert(MultiGzDecoder::new(f)),
                Err(e) => {
                    self.file = self.paths.len();
                    return Some(Block { data: buf, end: BlockEnd::OpenFailed(e.to_string()) });
                }
            },
        };
        buf.append(&mut self.carry);
        loop {
            let before = buf.len();
            // `read_to_end` keeps what it read before an error and retries on `Interrupted`.
            let read = (&mut *decoder).take(BLOCK as u64).read_to_end(&mut buf);
            match read {
                Err(e) => {
                    let whole = memchr::memrchr(b'\n', &buf).map_or(0, |n| n + 1);
                    buf.truncate(whole);
                    self.decoder = None;
                    self.file = self.paths.len();
                    return Some(Block { data: buf, end: BlockEnd::ReadFailed(e.to_string()) });
                }
                Ok(n) if n < BLOCK => {
                    self.decoder = None;
                    self.file += 1;
                    return Some(Block { data: buf, end: BlockEnd::FileEnd });
                }
                Ok(_) => {
                    // The carry holds no newline, so the last one is in the new part; a line longer
                    // than a block grows the buffer until it ends.
                    if let Some(n) = memchr::memrchr(b'\n', &buf[before..]) {
                        self.carry.extend_from_slice(&buf[before + n + 1..]);
                        buf.truncate(before + n + 1);
                        return Some(Block { data: buf, end: BlockEnd::More });
                    }
                }
            }
        }
    }
}

/// Where blocks come from.
enum Feed {
    /// Inflated on the caller's thread when a block is needed.
    InPlace(Box<BlockSource>),
    /// Inflated ahead on a thread of its own.
    Thread { blocks: Option<Receiver<Block>>, recycle: SyncSender<Vec<u8>>, handle: Option<JoinHandle<()>> },
}

impl Feed {
    fn next_block(&mut self, used: Vec<u8>) -> Option<Block> {
        match self {
            Feed::InPlace(source) => source.next_block(used),
            Feed::Thread { blocks, recycle, handle } => {
                // The used buffer goes back to be refilled; if the return queue is full it is freed.
                let _ = recycle.try_send(used);
                match blocks.as_ref()?.recv() {
                    Ok(block) => Some(block),
                    Err(_) => {
                        // The thread has ended: after the last block, or by a panic, which must
                        // not pass for the end of the input.
                        if let Some(Err(panic)) = handle.take().map(JoinHandle::join) {
                            std::panic::resume_unwind(panic);
                        }
                        None
                    }
                }
            }
        }
    }

    /// Inflating on a thread of its own; `None` if the thread cannot be started.
    fn spawn(paths: Vec<PathBuf>) -> Option<Feed> {
        let (block_tx, block_rx) = sync_channel::<Block>(QUEUE);
        let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(QUEUE + 2);
        let handle = std::thread::Builder::new()
            .name("liqsim-gunzip".into())
            .spawn(move || {
                let mut source = BlockSource::new(paths);
                loop {
                    let buf = match recycle_rx.try_recv() {
                        Ok(buf) => buf,
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => Vec::with_capacity(2 * BLOCK),
                    };
                    let Some(block) = source.next_block(buf) else { return };
                    let last = matches!(block.end, BlockEnd::OpenFailed(_) | BlockEnd::ReadFailed(_));
                    // A closed receiver means the reader stopped early: nothing more to do.
                    if block_tx.send(block).is_err() || last {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Feed::Thread { blocks: Some(block_rx), recycle: recycle_tx, handle: Some(handle) })
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Feed::Thread { blocks, handle, .. } = self {
            // Closing the channel ends the thread at its next send; wait for it so no thread
            // outlives the reader.
            drop(blocks.take());
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}

/// Lines of several gzip files, read as one stream.
pub struct LineReader {
    paths: Vec<PathBuf>,
    feed: Feed,
    block: Block,
    /// Read position in `block.data`.
    pos: usize,
    /// File of the current block, and lines of it read so far.
    file: usize,
    line_number: u64,
    failed: bool,
}

impl LineReader {
    /// Inflating on the caller's thread.
    pub fn new<P: AsRef<Path>>(paths: &[P]) -> Result<LineReader, ReplayError> {
        LineReader::with_threads(paths, 1)
    }

    /// With `threads` > 1, inflating runs on a second thread (one; more would not help: the
    /// parser is the other stage). The lines are the same for any count.
    pub fn with_threads<P: AsRef<Path>>(paths: &[P], threads: usize) -> Result<LineReader, ReplayError> {
        if paths.is_empty() {
            return Err(ReplayError::Config { what: "paths", message: "no file given".into() });
        }
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let threaded = if threads > 1 { Feed::spawn(paths.clone()) } else { None };
        let feed = threaded.unwrap_or_else(|| Feed::InPlace(Box::new(BlockSource::new(paths.clone()))));
        Ok(LineReader {
            paths,
            feed,
            // An empty block that has "ended" its (nonexistent) file, so the first call fetches.
            block: Block { data: Vec::new(), end: BlockEnd::More },
            pos: 0,
            file: 0,
            line_number: 0,
            failed: false,
        })
    }

    pub fn path(&self, file: usize) -> String {
        self.paths.get(file).map(|p| p.display().to_string()).unwrap_or_default()
    }

    pub fn file_count(&self) -> usize {
        self.paths.len()
    }

    /// The next non-empty line (without its newline or trailing `\r`) and its position; `None`
    /// after the last file.
    pub fn next_line(&mut self) -> Result<Option<(LinePosition, &str)>, ReplayError> {
        loop {
            if self.failed {
                return Ok(None);
            }
            if self.pos < self.block.data.len() {
                // Indices first, the borrow to return last (a borrow kept across loop iterations
                // would not pass the borrow checker).
                let data = &self.block.data;
                let start = self.pos;
                let (mut end, next) = match memchr::memchr(b'\n', &data[start..]) {
                    Some(n) => (start + n, start + n + 1),
                    None => (data.len(), data.len()),
                };
                while end > start && matches!(data[end - 1], b'\r' | b'\n') {
                    end -= 1;
                }
                self.pos = next;
                self.line_number += 1;
                if end == start {
                    continue;
                }
                let position = LinePosition { file: self.file, line: self.line_number };
                return match std::str::from_utf8(&self.block.data[start..end]) {
                    Ok(text) => Ok(Some((position, text))),
                    Err(_) => Err(ReplayError::Malformed {
                        path: self.path(position.file),
                        line: position.line,
                        message: "not UTF-8 text".into(),
                    }),
                };
            }
            match std::mem::replace(&mut self.block.end, BlockEnd::More) {
                BlockEnd::More => {}
                BlockEnd::FileEnd => {
                    self.file += 1;
                    self.line_number = 0;
                }
                BlockEnd::OpenFailed(message) => {
                    self.failed = true;
                    return Err(ReplayError::Io { path: self.path(self.file), message });
                }
                BlockEnd::ReadFailed(e) => {
                    self.failed = true;
                    return Err(ReplayError::Malformed {
                        path: self.path(self.file),
                        line: self.line_number + 1,
                        message: format!("cannot decompress: {e}"),
                    });
                }
            }
            let used = std::mem::take(&mut self.block.data);
            match self.feed.next_block(used) {
                Some(block) => {
                    self.block = block;
                    self.pos = 0;
                }
                None => return Ok(None),
            }
        }
    }
}
