//! A connection's query buffer, sized as Redis sizes its `querybuf`.
//!
//! The bytes read but not yet consumed are `data[start..]`. Consuming a whole batch (the usual
//! case) resets both ends to 0 without copying; leftover bytes of an incomplete command move
//! to the front only when the free space runs out. `alloc()` is the real allocation, which
//! CLIENT LIST shows as qbuf + qbuf-free.
//!
//! Sizing follows Redis 7.2 (`readQueryFromClient`, `clientsCronResizeQueryBuffer`):
//! - reads ask for 16 KiB (PROTO_IOBUF_LEN); a buffer smaller than that grows to exactly what
//!   the read needs, a bigger one grows greedily;
//! - while a bulk argument of at least 32 KiB (PROTO_MBULK_BIG_ARG) is incomplete, the buffer
//!   grows to exactly that argument's end, no more;
//! - `cron_resize` trims a buffer bigger than 32 KiB (PROTO_RESIZE_THRESHOLD) to the peak of the
//!   last period when it is more than twice that peak, and `shrink_idle` gives back all the
//!   free space of a client idle for more than 2 seconds (asked by the cron, see `Nudge`).

use std::future::Future;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use atomic_waker::AtomicWaker;

/// Bytes asked of the kernel per read (PROTO_IOBUF_LEN).
pub const IOBUF_LEN: usize = 16 * 1024;
/// A bulk argument this long gets a buffer of its exact size (PROTO_MBULK_BIG_ARG).
pub const BIG_ARG: usize = 32 * 1024;
/// Buffers above this size are trimmed to their recent peak (PROTO_RESIZE_THRESHOLD).
pub const RESIZE_THRESHOLD: usize = 32 * 1024;
/// Free space below this is never worth a resize (Redis: 4 KiB).
pub const MIN_WASTE: usize = 4 * 1024;

#[derive(Default)]
pub struct QueryBuf {
    data: Vec<u8>,
    start: usize,
    /// The most bytes held since the last `cron_resize` (Redis's querybuf_peak).
    peak: usize,
}

impl Deref for QueryBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data[self.start..]
    }
}

impl QueryBuf {
    pub fn new() -> QueryBuf {
        QueryBuf::default()
    }

    /// Bytes held: what is buffered plus the free space (qbuf + qbuf-free).
    pub fn alloc(&self) -> usize {
        self.data.capacity()
    }

    /// Bytes buffered, not yet consumed.
    pub fn held(&self) -> usize {
        self.data.len() - self.start
    }

    /// Drops the first `n` buffered bytes (consumed commands).
    pub fn advance(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.data.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    /// Appends bytes (what the busy responder kept for this connection).
    pub fn prepend(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut v = Vec::with_capacity(bytes.len() + self.held() + IOBUF_LEN);
        v.extend_from_slice(bytes);
        v.extend_from_slice(&self.data[self.start..]);
        self.data = v;
        self.start = 0;
    }

    /// Makes room for the next read, as Redis's readQueryFromClient does. `pending` is the
    /// incomplete bulk argument being read, if any (see `pending_bulk`).
    pub fn make_room(&mut self, pending: Option<PendingBulk>) {
        let held = self.held();
        let spare = self.data.capacity() - self.data.len();
        match pending {
            Some(PendingBulk { end, len }) if len >= BIG_ARG && end > held => {
                let want = end - held;
                if spare < want {
                    self.compact();
                    self.data.reserve_exact(want);
                }
                self.peak = self.peak.max(end);
            }
            _ => {
                if spare >= IOBUF_LEN / 2 {
                    return;
                }
                self.compact();
                if self.data.capacity() - self.data.len() >= IOBUF_LEN / 2 {
                    return;
                }
                if self.data.capacity() < IOBUF_LEN {
                    self.data.reserve_exact(IOBUF_LEN);
                    self.peak = self.peak.max(held + IOBUF_LEN);
                } else {
                    self.data.reserve(IOBUF_LEN);
                }
            }
        }
    }

    /// Moves the buffered bytes to the front of the allocation.
    fn compact(&mut self) {
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
    }

    /// The free space the next read may fill.
    pub fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        self.data.spare_capacity_mut()
    }

    /// Marks `n` more bytes of the free space as read.
    ///
    /// # Safety
    /// The first `n` bytes of `spare_capacity_mut()` must have been initialised.
    pub unsafe fn commit(&mut self, n: usize) {
        // SAFETY: the caller initialised them.
        unsafe { self.data.set_len(self.data.len() + n) };
        self.peak = self.peak.max(self.held());
    }

    /// One period of Redis's clientsCronResizeQueryBuffer for a client that is not idle:
    /// trims a big buffer to its recent peak (never below what it holds or the bulk it is
    /// reading) when it wastes more than half, then starts a new period.
    pub fn cron_resize(&mut self, pending: Option<PendingBulk>) -> bool {
        let alloc = self.alloc();
        let held = self.held();
        let bulk_end = pending.map_or(0, |p| p.end);
        let mut resized = false;
        if alloc - held > MIN_WASTE && alloc > RESIZE_THRESHOLD && alloc / 2 > self.peak {
            self.resize_to(held.max(self.peak).max(bulk_end));
            resized = true;
        }
        self.peak = held.max(bulk_end);
        resized
    }

    /// Gives back all the free space (a client idle for more than 2 seconds); true when
    /// anything was given back.
    pub fn shrink_idle(&mut self) -> bool {
        if self.alloc() - self.held() <= MIN_WASTE {
            return false;
        }
        self.resize_to(self.held());
        self.peak = self.held();
        true
    }

    fn resize_to(&mut self, keep: usize) {
        let mut v = Vec::new();
        if keep > 0 {
            v.reserve_exact(keep.max(self.held()));
            v.extend_from_slice(&self.data[self.start..]);
        }
        self.data = v;
        self.start = 0;
    }
}

/// An incomplete bulk argument: where it ends (just past its CRLF, counted from the first
/// buffered byte) and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingBulk {
    pub end: usize,
    pub len: usize,
}

/// The incomplete bulk argument of the incomplete multibulk command at the start of `buf`;
/// None for anything else (inline commands, headers still incomplete, malformed input left
/// to the parser).
pub fn pending_bulk(buf: &[u8]) -> Option<PendingBulk> {
    if buf.first() != Some(&b'*') {
        return None;
    }
    let (count, mut pos) = header(buf, 0)?;
    for _ in 0..count {
        if buf.get(pos) != Some(&b'$') {
            return None;
        }
        let (len, data) = header(buf, pos)?;
        let len = usize::try_from(len).ok()?;
        let end = data.checked_add(len)?.checked_add(2)?;
        if end > buf.len() {
            return Some(PendingBulk { end, len });
        }
        pos = end;
    }
    None
}

/// A `*N\r\n` / `$N\r\n` header at `pos`: its number and where the next byte starts.
fn header(buf: &[u8], pos: usize) -> Option<(i64, usize)> {
    let rest = buf.get(pos + 1..)?;
    let cr = rest.iter().take(32).position(|&b| b == b'\r')?;
    if rest.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    let n: i64 = std::str::from_utf8(&rest[..cr]).ok()?.parse().ok()?;
    (n >= 0).then_some((n, pos + 1 + cr + 2))
}

/// Wakes a connection waiting for its socket, from another thread: the cron asks an idle
/// connection to give back its query buffer's free space this way. Waiting costs two atomic
/// operations per park and nothing else.
#[derive(Default)]
pub struct Nudge {
    flag: AtomicBool,
    waker: AtomicWaker,
}

impl Nudge {
    pub fn nudge(&self) {
        self.flag.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Resolves at the next nudge (or at once if one is pending).
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.poll_wait(cx))
    }

    /// Registers `waker` for the next nudge without taking a pending one.
    pub fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// Ready (taking the nudge) if one is pending; otherwise registers `cx` for the next.
    pub fn poll_wait(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.flag.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.flag.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(q: &mut QueryBuf, bytes: &[u8]) {
        let spare = q.spare_capacity_mut();
        assert!(spare.len() >= bytes.len());
        for (d, s) in spare.iter_mut().zip(bytes) {
            d.write(*s);
        }
        // SAFETY: written above.
        unsafe { q.commit(bytes.len()) };
    }

    #[test]
    fn first_read_gets_exactly_16k_and_consuming_resets() {
        let mut q = QueryBuf::new();
        assert_eq!(q.alloc(), 0);
        q.make_room(None);
        assert_eq!(q.alloc(), IOBUF_LEN);
        fill(&mut q, b"*1\r\n$4\r\nPING\r\n");
        q.advance(14);
        assert_eq!(q.held(), 0);
        assert_eq!(q.alloc(), IOBUF_LEN);
        assert!(q.shrink_idle());
        assert_eq!(q.alloc(), 0);
    }

    #[test]
    fn big_bulk_gets_its_exact_size_and_idle_shrink_keeps_the_bytes() {
        let head = b"*3\r\n$3\r\nset\r\n$1\r\na\r\n$1000000\r\n";
        let end = head.len() + 1_000_002;
        assert_eq!(
            pending_bulk(head),
            Some(PendingBulk {
                end,
                len: 1_000_000
            })
        );
        assert_eq!(
            pending_bulk(b"*1\r\n$4\r\nPI"),
            Some(PendingBulk { end: 14, len: 4 })
        );
        assert_eq!(pending_bulk(b"*2\r\n$4\r\nPING\r\n$1"), None);
        assert_eq!(pending_bulk(b"PING"), None);
        let mut q = QueryBuf::new();
        q.make_room(None);
        fill(&mut q, head);
        q.make_room(pending_bulk(&q));
        assert!(
            q.alloc() >= 1_000_000 && q.alloc() < 1_100_000,
            "{}",
            q.alloc()
        );
        assert!(q.shrink_idle());
        assert_eq!(q.alloc(), head.len());
        assert_eq!(&q[..], &head[..]);
    }

    #[test]
    fn cron_trims_to_the_recent_peak() {
        let mut q = QueryBuf::new();
        for _ in 0..30 {
            q.make_room(None);
            let n = q.spare_capacity_mut().len().min(IOBUF_LEN);
            fill(&mut q, &vec![b'x'; n]);
        }
        let big = q.alloc();
        assert!(big > RESIZE_THRESHOLD);
        q.advance(q.held());
        assert!(
            !q.cron_resize(None),
            "the peak of this period was the big command"
        );
        q.make_room(None);
        fill(&mut q, b"*1\r\n$4\r\nPING\r\n");
        q.advance(14);
        assert!(q.cron_resize(None));
        assert!(q.alloc() > 0 && q.alloc() < big);
    }
}
