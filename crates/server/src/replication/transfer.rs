//! The RDB of a full resync as a byte stream: the link's task hands the payload on as it
//! arrives, in chunks over a bounded channel, to a blocking loader thread that reads it
//! through `ChunkReader` (an `io::Read`), so that no copy of the whole transfer is ever
//! held in memory (Redis parses straight from the socket with `repl-diskless-load`).
//!
//! `Framing` finds the payload's end in the link's bytes: after `$<len>`, `len` bytes; after
//! `$EOF:<mark>`, the 40-byte mark, which is never handed on (the bytes that could be the
//! start of a mark split between two reads are held back until the next read).

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::sync::mpsc;

/// Length of the `$EOF:` mark.
pub const MARK_LEN: usize = 40;

/// Chunks in flight between the link and the loader: memory stays a few reads' worth.
pub const CHUNKS: usize = 16;

/// Where the payload ends in the link's byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `$<len>`: this many payload bytes are still to come.
    Len(u64),
    /// `$EOF:<mark>`: the payload ends where the mark is.
    Mark([u8; MARK_LEN]),
}

impl Framing {
    /// The framing a bulk header (`<len>` or `EOF:<mark>`, after the `$`) announces.
    pub fn parse(spec: &str) -> Option<Framing> {
        if let Some(mark) = spec.strip_prefix("EOF:") {
            return Some(Framing::Mark(mark.as_bytes().try_into().ok()?));
        }
        spec.parse().ok().map(Framing::Len)
    }

    pub fn is_mark(&self) -> bool {
        matches!(self, Framing::Mark(_))
    }

    /// Takes from the front of `buf` the payload bytes that can be handed on now, and says
    /// whether the payload is complete: then the end (and the mark) is consumed too and
    /// `buf` starts with what follows the payload (the replication stream).
    pub fn take(&mut self, buf: &mut BytesMut) -> (Bytes, bool) {
        match self {
            Framing::Len(left) => {
                let n = (*left).min(buf.len() as u64) as usize;
                *left -= n as u64;
                (buf.split_to(n).freeze(), *left == 0)
            }
            Framing::Mark(mark) => {
                if let Some(p) = buf.windows(MARK_LEN).position(|w| w == &mark[..]) {
                    let data = buf.split_to(p).freeze();
                    buf.advance(MARK_LEN);
                    return (data, true);
                }
                // No whole mark in `buf`: one can only start in its last MARK_LEN - 1 bytes.
                let keep = buf.len().min(MARK_LEN - 1);
                (buf.split_to(buf.len() - keep).freeze(), false)
            }
        }
    }
}

/// A channel for one payload: the link's task sends through the `ChunkSender`, the loader
/// reads from the `ChunkReader`.
pub fn channel() -> (ChunkSender, ChunkReader) {
    let (tx, rx) = mpsc::channel(CHUNKS);
    let cut = Arc::new(AtomicBool::new(false));
    (
        ChunkSender {
            tx,
            cut: cut.clone(),
            finished: false,
        },
        ChunkReader {
            rx,
            cur: Bytes::new(),
            state: End::Open,
            cut,
        },
    )
}

/// The link's half. `finish` marks the payload complete; dropped without it (a failed link,
/// or the task itself dropped), it tells the reader the transfer was cut, at once: the chunks
/// still queued are not parsed.
pub struct ChunkSender {
    tx: mpsc::Sender<Bytes>,
    cut: Arc<AtomicBool>,
    finished: bool,
}

impl ChunkSender {
    /// Queues a chunk, waiting while the channel is full; an error: the reader is gone.
    pub async fn send(&self, chunk: Bytes) -> Result<(), ()> {
        self.tx.send(chunk).await.map_err(|_| ())
    }

    /// Completes when the reader is gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    /// Tells the reader the payload is complete (an empty chunk).
    pub async fn finish(mut self) {
        let _ = self.tx.send(Bytes::new()).await;
        self.finished = true;
    }
}

impl Drop for ChunkSender {
    fn drop(&mut self) {
        if !self.finished {
            self.cut.store(true, Ordering::SeqCst);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Open,
    Complete,
    Cut,
}

/// Reads the chunks the link's task sends, blocking while none is there. The end of a
/// complete payload reads as end of file; a cut transfer (the sender gone without
/// `finish`) as an `UnexpectedEof` error. Must run outside the async runtime.
pub struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
    state: End,
    cut: Arc<AtomicBool>,
}

impl ChunkReader {
    /// The next bytes, or None at the end of a complete payload.
    fn next(&mut self) -> io::Result<Option<&mut Bytes>> {
        if self.state == End::Open && self.cut.load(Ordering::SeqCst) {
            self.state = End::Cut;
        }
        if self.state == End::Cut {
            return Err(cut());
        }
        while self.cur.is_empty() {
            match self.state {
                End::Complete => return Ok(None),
                End::Cut => return Err(cut()),
                End::Open => {}
            }
            match self.rx.blocking_recv() {
                Some(b) if b.is_empty() => self.state = End::Complete,
                Some(b) => self.cur = b,
                None => self.state = End::Cut,
            }
        }
        Ok(Some(&mut self.cur))
    }

    /// Set once the transfer is cut: a parser working from bytes it read ahead checks it
    /// between keys, to stop without finishing them.
    pub fn cut_flag(&self) -> Arc<AtomicBool> {
        self.cut.clone()
    }

    /// Writes the rest of the payload to `w`, chunk by chunk; returns its length.
    pub fn copy_to(&mut self, w: &mut impl Write) -> io::Result<u64> {
        let mut n = 0u64;
        while let Some(b) = self.next()? {
            w.write_all(b)?;
            n += b.len() as u64;
            b.clear();
        }
        Ok(n)
    }
}

fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the transfer from the primary was cut",
    )
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let Some(b) = self.next()? else {
            return Ok(0);
        };
        let n = b.len().min(out.len());
        out[..n].copy_from_slice(&b[..n]);
        b.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MARK: &[u8; MARK_LEN] = b"0123456789abcdef0123456789abcdef01234567";

    /// Feeds `wire` to `framing` in pieces cut at `cuts`, as reads from the socket would
    /// come; returns the payload handed on, whether the end was found, and what is left.
    fn run(mut framing: Framing, wire: &[u8], cuts: &[usize]) -> (Vec<u8>, bool, Vec<u8>) {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(wire.len())).collect();
        cuts.push(wire.len());
        cuts.sort_unstable();
        let mut buf = BytesMut::new();
        let mut payload = Vec::new();
        let mut from = 0;
        for c in cuts {
            buf.extend_from_slice(&wire[from..c]);
            from = c;
            let (data, done) = framing.take(&mut buf);
            payload.extend_from_slice(&data);
            if done {
                buf.extend_from_slice(&wire[from..]);
                return (payload, true, buf.to_vec());
            }
            // What is held back could only be the start of the mark.
            if framing.is_mark() {
                assert!(buf.len() < MARK_LEN);
            }
        }
        (payload, false, buf.to_vec())
    }

    #[test]
    fn the_mark_split_over_reads_is_found_and_never_handed_on() {
        let payload = b"REDIS0011 some payload bytes".to_vec();
        let mut wire = payload.clone();
        wire.extend_from_slice(MARK);
        wire.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        for cut in 0..=wire.len() {
            let (got, done, rest) = run(Framing::Mark(*MARK), &wire, &[cut]);
            assert!(done, "cut at {cut}");
            assert_eq!(got, payload, "cut at {cut}");
            assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n", "cut at {cut}");
        }
        // Byte by byte.
        let cuts: Vec<usize> = (0..wire.len()).collect();
        assert_eq!(
            run(Framing::Mark(*MARK), &wire, &cuts),
            (payload, true, b"*1\r\n$4\r\nPING\r\n".to_vec())
        );
    }

    #[test]
    fn a_length_stops_at_its_last_byte() {
        let wire = b"0123456789+stream".to_vec();
        for cut in 0..=wire.len() {
            assert_eq!(
                run(Framing::Len(10), &wire, &[cut]),
                (b"0123456789".to_vec(), true, b"+stream".to_vec())
            );
        }
        // Cut short: not complete, everything handed on.
        assert_eq!(
            run(Framing::Len(10), b"01234", &[2]),
            (b"01234".to_vec(), false, Vec::new())
        );
    }

    #[test]
    fn headers() {
        assert_eq!(Framing::parse("123"), Some(Framing::Len(123)));
        assert_eq!(
            Framing::parse(&format!("EOF:{}", std::str::from_utf8(MARK).unwrap())),
            Some(Framing::Mark(*MARK))
        );
        assert_eq!(Framing::parse("EOF:short"), None);
        assert_eq!(Framing::parse("x"), None);
    }

    #[test]
    fn the_reader_tells_a_complete_payload_from_a_cut_one() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, mut r) = channel();
        let t = std::thread::spawn(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all).map(|_| all)
        });
        rt.block_on(async {
            tx.send(Bytes::from_static(b"ab")).await.unwrap();
            tx.send(Bytes::from_static(b"cd")).await.unwrap();
            tx.finish().await;
        });
        assert_eq!(t.join().unwrap().unwrap(), b"abcd");

        // Cut with chunks still queued: they are not read.
        let (tx, mut r) = channel();
        rt.block_on(async { tx.send(Bytes::from_static(b"ab")).await.unwrap() });
        drop(tx);
        let mut buf = [0u8; 8];
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            r.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );

        // Cut while the reader waits: it wakes up.
        let (tx, mut r) = channel();
        let t = std::thread::spawn(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all).map(|_| all)
        });
        rt.block_on(async { tx.send(Bytes::from_static(b"ab")).await.unwrap() });
        drop(tx);
        let e = t.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);

        // The reader gone: the sender learns it.
        let (tx, r) = channel();
        drop(r);
        rt.block_on(async {
            tx.closed().await;
            assert!(tx.send(Bytes::from_static(b"ab")).await.is_err());
        });
    }

    proptest! {
        /// Any payload (marks' look-alikes included), any reads: exactly the payload is
        /// handed on, the mark never, and what follows the mark stays in the buffer.
        #[test]
        fn the_mark_is_held_back_across_any_reads(
            payload in proptest::collection::vec(
                prop_oneof![Just(b'0'), Just(b'1'), Just(b'2'), any::<u8>()], 0..300),
            partial in 0usize..MARK_LEN,
            tail in proptest::collection::vec(any::<u8>(), 0..60),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            // A prefix of the mark just before it, the worst case for the hold-back.
            let mut body = payload.clone();
            body.extend_from_slice(&MARK[..partial]);
            prop_assume!(!body.windows(MARK_LEN).any(|w| w == &MARK[..]));
            let mut probe = body.clone();
            probe.extend_from_slice(MARK);
            prop_assume!(probe.windows(MARK_LEN).position(|w| w == &MARK[..]) == Some(body.len()));
            let mut wire = probe;
            wire.extend_from_slice(&tail);
            let (got, done, rest) = run(Framing::Mark(*MARK), &wire, &cuts);
            prop_assert!(done);
            prop_assert_eq!(got, body);
            prop_assert_eq!(rest, tail);
        }

        #[test]
        fn a_length_is_exact_across_any_reads(
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            tail in proptest::collection::vec(any::<u8>(), 0..60),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            let mut wire = payload.clone();
            wire.extend_from_slice(&tail);
            let (got, done, rest) = run(Framing::Len(payload.len() as u64), &wire, &cuts);
            prop_assert!(done);
            prop_assert_eq!(got, payload);
            prop_assert_eq!(rest, tail);
        }
    }
}
