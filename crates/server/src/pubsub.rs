//! Pub/Sub delivery across worker threads: the registry of channels and patterns, and each
//! subscriber's mailbox.
//!
//! A publisher never writes to another client's socket and never waits for it. Every client
//! that can receive out-of-band messages (a subscriber, or a tracking client) owns a
//! [`Mailbox`]: a byte queue of already encoded frames plus a `Notify`. The publisher appends
//! the encoded message under the mailbox's small mutex and wakes the owner; the owner's
//! connection task, on its own worker thread, drains the queue into its socket. Queued bytes
//! (including those being written) are accounted against `client-output-buffer-limit pubsub`;
//! a subscriber over the hard limit, or over the soft limit for longer than its seconds, is
//! cut off (its socket is shut down) while the publisher carries on.
//!
//! Messages a client publishes to itself (or notifications its own command triggers) go to its
//! `pending` buffer and are written after the command's reply, as Redis 7.2 does.
//!
//! Lock order: registry shard or pattern lock, then a mailbox lock; the client registry lock
//! (to kill a slow subscriber) is taken only after both are released.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::server::{now_ms, ClientShared, Server};

/// Channel registry shards: publishers to different channels take different locks.
const SHARDS: usize = 64;

/// Subscribers of one channel or pattern, in subscription order.
type Subs = Vec<Arc<Mailbox>>;

/// One shard of a channel namespace.
type ChannelShard = RwLock<HashMap<Box<[u8]>, Subs>>;

/// The out-of-band queue of one client.
pub struct Mailbox {
    pub id: u64,
    pub shared: Arc<ClientShared>,
    queue: Mutex<Queue>,
    notify: Notify,
    /// Set when the client overran its output buffer limit: nothing more is queued.
    closed: AtomicBool,
    /// Subscription counts, for CLIENT LIST, output limits and the RESP2 context check.
    pub nsub: AtomicUsize,
    pub npsub: AtomicUsize,
    pub nssub: AtomicUsize,
}

/// Bytes held by mailbox buffers (queued, being written, spare), up to
/// [`UNCOUNTED_PER_CLIENT`] per mailbox. Eviction does not count them against maxmemory
/// (see `crate::evict::not_counted`): Redis writes its clients' replies out before it runs
/// the next command, while here a mailbox may still hold them when the next command checks
/// memory; and they are mostly the invalidations and events eviction itself produced, so
/// counting them would make eviction feed on itself until the keyspace is empty. A client
/// that does not read lets its mailbox grow past the cap, and that excess counts, as Redis
/// counts a slow client's output buffer. Process-wide, like used_memory.
pub static QUEUED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The most of one mailbox's buffers [`QUEUED_BYTES`] leaves out of eviction's count.
const UNCOUNTED_PER_CLIENT: usize = 256 * 1024;

/// A queue buffer this full is set aside as a chunk and a new one started.
const CHUNK: usize = 1 << 20;

/// Buffers of a mailbox larger than this are released once written (Redis keeps 16 KB per
/// client: PROTO_REPLY_CHUNK_BYTES).
const KEEP_BUFFER: usize = 16 * 1024;

#[derive(Default)]
struct Queue {
    /// Full chunks waiting, oldest first, before `buf`: a queue that grows large grows by
    /// chunks instead of reallocating (and copying) one buffer of twice its size.
    full: std::collections::VecDeque<Vec<u8>>,
    /// Bytes in `full`, and their buffers' capacity.
    full_len: usize,
    full_cap: usize,
    buf: Vec<u8>,
    /// The empty buffer swapped in when the owner takes `buf`.
    spare: Vec<u8>,
    /// Bytes taken by the owner and not yet written to the socket: still output memory.
    inflight: usize,
    /// Capacity of the buffer the owner took.
    inflight_cap: usize,
    /// This mailbox's share of QUEUED_BYTES.
    excluded: usize,
    /// When the queue first went over the soft limit (ms), 0 when under it.
    soft_since_ms: i64,
}

/// Makes room in `q.buf` for `n` more bytes without ever growing a buffer past [`CHUNK`]:
/// a buffer that would outgrow it is set aside as a full chunk and a new one of exactly
/// `CHUNK` (or `n`, if bigger) started. Below that the buffer doubles, capped at `CHUNK`. So
/// a flooded queue is made of chunks filled to their capacity: it costs what it holds (one
/// buffer doubling to twice its content would be half empty, and each doubling left the old
/// buffer to the allocator).
fn make_room(q: &mut Queue, n: usize) {
    let len = q.buf.len();
    if q.buf.capacity() - len >= n {
        return;
    }
    if len + n > CHUNK && len > 0 {
        let chunk = std::mem::replace(&mut q.buf, Vec::with_capacity(CHUNK.max(n)));
        q.full_len += chunk.len();
        q.full_cap += chunk.capacity();
        q.full.push_back(chunk);
        return;
    }
    let want = (q.buf.capacity() * 2).max(len + n).min(CHUNK.max(len + n));
    q.buf.reserve_exact(want - len);
}

impl Queue {
    /// What the output limits count: the bytes queued (and being written) while the queue's
    /// buffers are small; once they are bigger than [`KEEP_BUFFER`], what they hold
    /// allocated (chunks, the buffer being filled, the one being written), as Redis counts
    /// the allocated size of the reply blocks past its 16 KB client buffer.
    fn held(&self) -> usize {
        let bytes = self.buf.len() + self.full_len + self.inflight;
        let alloc = self.buf.capacity() + self.full_cap + self.inflight_cap;
        if alloc > KEEP_BUFFER {
            alloc.max(bytes)
        } else {
            bytes
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        QUEUED_BYTES.fetch_sub(self.queue.get_mut().excluded, Ordering::Relaxed);
    }
}

impl Mailbox {
    fn new(shared: Arc<ClientShared>) -> Mailbox {
        Mailbox {
            id: shared.id,
            shared,
            queue: Mutex::default(),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
            nsub: AtomicUsize::new(0),
            npsub: AtomicUsize::new(0),
            nssub: AtomicUsize::new(0),
        }
    }

    pub fn resp3(&self) -> bool {
        self.shared.resp.load(Ordering::Relaxed) == 3
    }

    /// Subscriptions of any kind (a "pubsub" class client when non-zero).
    pub fn subscriptions(&self) -> usize {
        self.nsub.load(Ordering::Relaxed)
            + self.npsub.load(Ordering::Relaxed)
            + self.nssub.load(Ordering::Relaxed)
    }

    /// Appends one encoded frame (`frame[0]` is patched to `>` for RESP3 clients). Returns
    /// false when this pushed the client over its output limits: the caller kills it once its
    /// registry locks are released.
    pub fn deliver(&self, frame: &[u8], server: &Server) -> bool {
        self.append(frame, self.resp3(), server)
    }

    /// Appends a frame already encoded for this client's protocol.
    pub fn deliver_raw(&self, frame: &[u8], server: &Server) -> bool {
        self.append(frame, false, server)
    }

    /// Brings this mailbox's share of QUEUED_BYTES and its owner's mailbox memory up to date
    /// (called with its lock held).
    fn recount(&self, q: &mut Queue) {
        self.shared.mailbox_mem.store(
            q.buf.capacity() + q.spare.capacity() + q.inflight_cap + q.full_cap,
            Ordering::Relaxed,
        );
        let want = (q.buf.capacity() + q.spare.capacity() + q.inflight_cap + q.full_cap)
            .min(UNCOUNTED_PER_CLIENT);
        if want != q.excluded {
            QUEUED_BYTES.fetch_add(want, Ordering::Relaxed);
            QUEUED_BYTES.fetch_sub(q.excluded, Ordering::Relaxed);
            q.excluded = want;
        }
    }

    fn append(&self, frame: &[u8], resp3: bool, server: &Server) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return true;
        }
        let mut q = self.queue.lock();
        let was_empty = q.buf.is_empty() && q.full.is_empty();
        make_room(&mut q, frame.len());
        let start = q.buf.len();
        q.buf.extend_from_slice(frame);
        if resp3 {
            q.buf[start] = b'>';
        }
        // The limits count what the queue holds allocated, as Redis counts its reply
        // blocks (their allocated sizes): a subscriber is closed once its buffers reach the
        // limit, not only once its bytes do.
        let used = q.held() as u64;
        let over = if self.subscriptions() > 0 {
            let live = &server.config.live;
            let hard = live.pubsub_obuf_hard.load(Ordering::Relaxed);
            let soft = live.pubsub_obuf_soft.load(Ordering::Relaxed);
            let secs = live.pubsub_obuf_secs.load(Ordering::Relaxed) as i64;
            let mut over = hard > 0 && used >= hard;
            if soft > 0 && used >= soft {
                let now = now_ms();
                if q.soft_since_ms == 0 {
                    q.soft_since_ms = now;
                } else if now - q.soft_since_ms >= secs * 1000 {
                    over = true;
                }
            } else {
                q.soft_since_ms = 0;
            }
            over
        } else {
            false
        };
        if over {
            self.closed.store(true, Ordering::Relaxed);
            q.buf = Vec::new();
            q.full = Default::default();
            q.full_len = 0;
            q.full_cap = 0;
            self.recount(&mut q);
            drop(q);
            self.notify.notify_one();
            return false;
        }
        self.recount(&mut q);
        drop(q);
        if server.client_mem.limit.load(Ordering::Relaxed) != 0 {
            // The owner's memory grew: counted now, so the publisher's connection finds the
            // clients over `maxmemory-clients` after its command (see crate::climem).
            crate::climem::update(server, &self.shared);
        }
        if was_empty {
            self.notify.notify_one();
        }
        true
    }

    /// Takes the oldest full chunk, or else everything queued (swapping in the spare
    /// buffer).
    fn take(&self) -> Vec<u8> {
        let mut q = self.queue.lock();
        let data = match q.full.pop_front() {
            Some(chunk) => {
                q.full_len -= chunk.len();
                q.full_cap -= chunk.capacity();
                chunk
            }
            None => {
                let mut data = std::mem::take(&mut q.spare);
                std::mem::swap(&mut q.buf, &mut data);
                data
            }
        };
        q.inflight = data.len();
        q.inflight_cap = data.capacity();
        self.recount(&mut q);
        data
    }

    /// The owner wrote what it took: `data` comes back as the spare buffer.
    fn written(&self, mut data: Vec<u8>) {
        data.clear();
        if data.capacity() > KEEP_BUFFER {
            data = Vec::new();
        }
        let mut q = self.queue.lock();
        q.inflight = 0;
        q.inflight_cap = 0;
        if q.spare.capacity() < data.capacity() {
            q.spare = data;
        }
        let more = !q.full.is_empty() || !q.buf.is_empty();
        if !more {
            q.soft_since_ms = 0;
        }
        self.recount(&mut q);
        drop(q);
        if more {
            // What was queued meanwhile found the queue non-empty and woke nobody.
            self.notify.notify_one();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// While a subscriber's queue is over the pubsub soft limit: the instant (ms) past which
    /// it is closed if still over. Checked by the owner while it waits for its socket, so a
    /// subscriber that stopped reading is closed even when no more messages come (Redis's
    /// clientsCron check).
    fn soft_deadline_ms(&self, server: &Server) -> Option<i64> {
        let since = self.queue.lock().soft_since_ms;
        if since == 0 || self.subscriptions() == 0 {
            return None;
        }
        let secs = server.config.live.pubsub_obuf_secs.load(Ordering::Relaxed) as i64;
        Some(since + secs * 1000 + 1)
    }

    /// Whether the queue is still over the soft limit (for [`Mailbox::soft_deadline_ms`]);
    /// closes the mailbox if so.
    fn close_if_still_over_soft(&self, server: &Server) -> bool {
        let soft = server.config.live.pubsub_obuf_soft.load(Ordering::Relaxed) as usize;
        let mut q = self.queue.lock();
        let over = soft > 0 && q.soft_since_ms != 0 && q.held() >= soft;
        if over {
            self.closed.store(true, Ordering::Relaxed);
        } else {
            q.soft_since_ms = 0;
        }
        over
    }

    /// Bytes waiting (CLIENT LIST omem).
    pub fn queued(&self) -> usize {
        let q = self.queue.lock();
        q.buf.len() + q.full_len + q.inflight
    }
}

/// Connection-local pub/sub state of a client.
#[derive(Default)]
pub struct ClientPubSub {
    pub mailbox: Option<Arc<Mailbox>>,
    pub channels: BTreeSet<Box<[u8]>>,
    pub patterns: BTreeSet<Box<[u8]>>,
    pub shard_channels: BTreeSet<Box<[u8]>>,
    /// Frames for this client produced by its own command (messages it published to itself,
    /// confirmations under CLIENT REPLY OFF, invalidations): written after the reply.
    pub pending: Vec<u8>,
    /// CLIENT TRACKING options while tracking is on (tracking.rs).
    pub tracking: Option<crate::tracking::Options>,
    /// BCAST invalidations this client's command produced, sent when it ends.
    pub bcast_batch: Vec<crate::tracking::BcastItem>,
}

impl ClientPubSub {
    /// Channel and pattern subscriptions (the count SUBSCRIBE/PSUBSCRIBE reply with).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// True while subscribed to anything: in RESP2 only the subscribe commands may run.
    #[inline]
    pub fn subscribed(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty())
    }

    fn sync_counts(&self) {
        if let Some(mb) = &self.mailbox {
            mb.nsub.store(self.channels.len(), Ordering::Relaxed);
            mb.npsub.store(self.patterns.len(), Ordering::Relaxed);
            mb.nssub.store(self.shard_channels.len(), Ordering::Relaxed);
        }
    }
}

/// Which namespace a channel lives in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Space {
    Global,
    Shard,
}

/// The server-wide registry of subscriptions.
pub struct Hub {
    channels: Box<[ChannelShard]>,
    shard_channels: Box<[ChannelShard]>,
    /// Patterns in first-subscription order.
    patterns: RwLock<Vec<(Box<[u8]>, Subs)>>,
    /// Distinct patterns; PUBLISH skips the pattern list while it is 0.
    npatterns: AtomicUsize,
    nchannels: AtomicUsize,
    nshard_channels: AtomicUsize,
    /// Every client that has a mailbox, by id (tracking redirection, CLIENT LIST counts).
    mailboxes: Mutex<HashMap<u64, Arc<Mailbox>>>,
}

impl Default for Hub {
    fn default() -> Hub {
        let shards = || (0..SHARDS).map(|_| RwLock::default()).collect();
        Hub {
            channels: shards(),
            shard_channels: shards(),
            patterns: RwLock::default(),
            npatterns: AtomicUsize::new(0),
            nchannels: AtomicUsize::new(0),
            nshard_channels: AtomicUsize::new(0),
            mailboxes: Mutex::default(),
        }
    }
}

fn shard_of(channel: &[u8]) -> usize {
    (cinnabar_engine::hash_key(channel) as usize) & (SHARDS - 1)
}

impl Hub {
    fn space(&self, space: Space) -> (&[ChannelShard], &AtomicUsize) {
        match space {
            Space::Global => (&self.channels, &self.nchannels),
            Space::Shard => (&self.shard_channels, &self.nshard_channels),
        }
    }

    /// The client's mailbox, created (and registered) on first use.
    pub fn mailbox(&self, client: &mut crate::dispatch::Client) -> Arc<Mailbox> {
        if let Some(mb) = &client.pubsub.mailbox {
            return mb.clone();
        }
        let mb = Arc::new(Mailbox::new(client.shared.clone()));
        self.mailboxes.lock().insert(client.id, mb.clone());
        client.pubsub.mailbox = Some(mb.clone());
        mb
    }

    /// The mailbox of another client, if it has one.
    pub fn mailbox_of(&self, id: u64) -> Option<Arc<Mailbox>> {
        self.mailboxes.lock().get(&id).cloned()
    }

    /// Subscribes; false when already subscribed.
    pub fn subscribe(&self, client: &mut crate::dispatch::Client, space: Space, ch: &[u8]) -> bool {
        let set = match space {
            Space::Global => &client.pubsub.channels,
            Space::Shard => &client.pubsub.shard_channels,
        };
        if set.contains(ch) {
            return false;
        }
        let mb = self.mailbox(client);
        let (shards, count) = self.space(space);
        let mut map = shards[shard_of(ch)].write();
        match map.get_mut(ch) {
            Some(subs) => subs.push(mb),
            None => {
                map.insert(ch.into(), vec![mb]);
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(map);
        let set = match space {
            Space::Global => &mut client.pubsub.channels,
            Space::Shard => &mut client.pubsub.shard_channels,
        };
        set.insert(ch.into());
        client.pubsub.sync_counts();
        true
    }

    /// Unsubscribes; false when not subscribed.
    pub fn unsubscribe(
        &self,
        client: &mut crate::dispatch::Client,
        space: Space,
        ch: &[u8],
    ) -> bool {
        let set = match space {
            Space::Global => &mut client.pubsub.channels,
            Space::Shard => &mut client.pubsub.shard_channels,
        };
        if !set.remove(ch) {
            return false;
        }
        let (shards, count) = self.space(space);
        let mut map = shards[shard_of(ch)].write();
        if let Some(subs) = map.get_mut(ch) {
            subs.retain(|m| m.id != client.id);
            if subs.is_empty() {
                map.remove(ch);
                count.fetch_sub(1, Ordering::Relaxed);
            }
        }
        drop(map);
        client.pubsub.sync_counts();
        true
    }

    pub fn psubscribe(&self, client: &mut crate::dispatch::Client, pat: &[u8]) -> bool {
        if client.pubsub.patterns.contains(pat) {
            return false;
        }
        let mb = self.mailbox(client);
        let mut pats = self.patterns.write();
        match pats.iter_mut().find(|(p, _)| &**p == pat) {
            Some((_, subs)) => subs.push(mb),
            None => {
                pats.push((pat.into(), vec![mb]));
                self.npatterns.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(pats);
        client.pubsub.patterns.insert(pat.into());
        client.pubsub.sync_counts();
        true
    }

    pub fn punsubscribe(&self, client: &mut crate::dispatch::Client, pat: &[u8]) -> bool {
        if !client.pubsub.patterns.remove(pat) {
            return false;
        }
        let mut pats = self.patterns.write();
        if let Some(i) = pats.iter().position(|(p, _)| &**p == pat) {
            pats[i].1.retain(|m| m.id != client.id);
            if pats[i].1.is_empty() {
                pats.remove(i);
                self.npatterns.fetch_sub(1, Ordering::Relaxed);
            }
        }
        drop(pats);
        client.pubsub.sync_counts();
        true
    }

    /// Drops every subscription and the mailbox registration of a leaving client.
    pub fn disconnect(&self, server: &Server, client: &mut crate::dispatch::Client) {
        self.unsubscribe_all(client);
        crate::tracking::disable(server, client);
        if client.pubsub.mailbox.take().is_some() {
            self.mailboxes.lock().remove(&client.id);
        }
    }

    /// Silently drops every subscription (RESET, disconnection).
    pub fn unsubscribe_all(&self, client: &mut crate::dispatch::Client) {
        for ch in std::mem::take(&mut client.pubsub.channels) {
            client.pubsub.channels.insert(ch.clone());
            self.unsubscribe(client, Space::Global, &ch);
        }
        for ch in std::mem::take(&mut client.pubsub.shard_channels) {
            client.pubsub.shard_channels.insert(ch.clone());
            self.unsubscribe(client, Space::Shard, &ch);
        }
        for p in std::mem::take(&mut client.pubsub.patterns) {
            client.pubsub.patterns.insert(p.clone());
            self.punsubscribe(client, &p);
        }
    }

    /// Publishes `msg` on `channel` and returns the number of receivers (channel subscribers
    /// plus matching pattern subscriptions). `me` is the publishing client, whose own copies
    /// go to its pending buffer rather than its mailbox.
    pub fn publish(
        &self,
        server: &Server,
        me: Option<&mut crate::dispatch::Client>,
        space: Space,
        channel: &[u8],
        msg: &[u8],
    ) -> usize {
        let mut me = me;
        let mut victims: smallvec::SmallVec<[u64; 2]> = smallvec::SmallVec::new();
        let mut receivers = 0;
        let mut frame = Vec::new();
        let (shards, count) = self.space(space);
        if count.load(Ordering::Relaxed) > 0 {
            let map = shards[shard_of(channel)].read();
            if let Some(subs) = map.get(channel) {
                let kind: &[u8] = if space == Space::Shard {
                    b"smessage"
                } else {
                    b"message"
                };
                encode(&mut frame, &[kind, channel, msg]);
                for mb in subs {
                    self.deliver_one(server, mb, &frame, &mut me, &mut victims);
                }
                receivers += subs.len();
            }
        }
        if space == Space::Global && self.npatterns.load(Ordering::Relaxed) > 0 {
            let pats = self.patterns.read();
            for (pat, subs) in pats.iter() {
                if !cinnabar_engine::glob::glob_match(pat, channel, false) {
                    continue;
                }
                frame.clear();
                encode(&mut frame, &[b"pmessage", pat, channel, msg]);
                for mb in subs {
                    self.deliver_one(server, mb, &frame, &mut me, &mut victims);
                }
                receivers += subs.len();
            }
        }
        for id in victims {
            tracing::warn!(
                "Client id={id} scheduled to be closed ASAP for overcoming of output buffer limits."
            );
            server.kill_client(id);
        }
        receivers
    }

    fn deliver_one(
        &self,
        server: &Server,
        mb: &Mailbox,
        frame: &[u8],
        me: &mut Option<&mut crate::dispatch::Client>,
        victims: &mut smallvec::SmallVec<[u64; 2]>,
    ) {
        if let Some(c) = me.as_deref_mut() {
            if c.id == mb.id {
                let start = c.pubsub.pending.len();
                c.pubsub.pending.extend_from_slice(frame);
                if mb.resp3() {
                    c.pubsub.pending[start] = b'>';
                }
                return;
            }
        }
        if !mb.deliver(frame, server) {
            victims.push(mb.id);
        }
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: active channels matching `pattern` (all when None).
    pub fn channels(&self, space: Space, pattern: Option<&[u8]>) -> Vec<Box<[u8]>> {
        let (shards, _) = self.space(space);
        let mut out = Vec::new();
        for s in shards.iter() {
            for ch in s.read().keys() {
                if pattern.is_none_or(|p| cinnabar_engine::glob::glob_match(p, ch, false)) {
                    out.push(ch.clone());
                }
            }
        }
        out
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB for one channel.
    pub fn numsub(&self, space: Space, channel: &[u8]) -> usize {
        let (shards, _) = self.space(space);
        shards[shard_of(channel)]
            .read()
            .get(channel)
            .map_or(0, |s| s.len())
    }

    /// True when anyone subscribes to any channel or pattern (keyspace events skip building
    /// their channel names otherwise).
    #[inline]
    pub fn has_subscribers(&self) -> bool {
        self.nchannels.load(Ordering::Relaxed) > 0 || self.npatterns.load(Ordering::Relaxed) > 0
    }

    pub fn numpat(&self) -> usize {
        self.npatterns.load(Ordering::Relaxed)
    }

    pub fn nchannels(&self) -> usize {
        self.nchannels.load(Ordering::Relaxed)
    }

    pub fn nshard_channels(&self) -> usize {
        self.nshard_channels.load(Ordering::Relaxed)
    }

    /// The clients among `ids` subscribed to a channel, shard channel or pattern that
    /// `allowed(name, is_pattern)` refuses (an ACL change closes them, as Redis does).
    pub fn clients_failing(&self, ids: &[u64], allowed: impl Fn(&[u8], bool) -> bool) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        let mut check = |name: &[u8], subs: &Subs, is_pattern: bool| {
            for mb in subs {
                if ids.contains(&mb.id) && !out.contains(&mb.id) && !allowed(name, is_pattern) {
                    out.push(mb.id);
                }
            }
        };
        for shards in [&self.channels, &self.shard_channels] {
            for s in shards.iter() {
                for (ch, subs) in s.read().iter() {
                    check(ch, subs, false);
                }
            }
        }
        for (pat, subs) in self.patterns.read().iter() {
            check(pat, subs, true);
        }
        out
    }

    /// (sub, psub, ssub, queued bytes) of a client, for CLIENT LIST.
    pub fn client_counts(&self, id: u64) -> (usize, usize, usize, usize) {
        match self.mailbox_of(id) {
            Some(mb) => (
                mb.nsub.load(Ordering::Relaxed),
                mb.npsub.load(Ordering::Relaxed),
                mb.nssub.load(Ordering::Relaxed),
                mb.queued(),
            ),
            None => (0, 0, 0, 0),
        }
    }
}

/// Encodes an array of bulk strings (RESP2 form; `deliver` turns it into a push for RESP3).
pub fn encode(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(parts.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for p in parts {
        out.push(b'$');
        out.extend_from_slice(n.format(p.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
}

/// Waits for the socket to become readable while forwarding whatever other clients queue in
/// this client's mailbox. Returns what the read returned; an error when the client was cut off
/// for overrunning its output limit.
pub async fn read_or_deliver<S: crate::net::stream::Stream>(
    server: &Server,
    stream: &mut S,
    rbuf: &mut crate::net::qbuf::QueryBuf,
    client: &mut crate::dispatch::Client,
    stats: &crate::server::WorkerStats,
) -> std::io::Result<usize> {
    let Some(mb) = client.pubsub.mailbox.clone() else {
        return stream.read_some(rbuf).await;
    };
    loop {
        if mb.is_closed() {
            return Err(std::io::ErrorKind::ConnectionAborted.into());
        }
        tokio::select! {
            // A TLS subscriber's session is published while it waits here (not while a
            // delivery is written below), for the busy responder.
            r = crate::net::stream::read_client(stream, rbuf, &client.shared.tls_parked) => return r,
            _ = mb.notify.notified() => {
                let data = mb.take();
                // What the mailbox holds is this client's memory (`maxmemory-clients`).
                if server.client_mem.limit.load(Ordering::Relaxed) != 0
                    && !crate::climem::check(server, &client.shared)
                {
                    mb.written(data);
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
                if mb.is_closed() {
                    mb.written(data);
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
                let res = if data.is_empty() {
                    Ok(())
                } else {
                    crate::server::bump(&stats.net_output_bytes, data.len() as u64);
                    write_watching_soft_limit(server, stream, &mb, &data).await
                };
                mb.written(data);
                res?;
            }
        }
    }
}

/// Writes what a mailbox delivered; while the subscriber is over the pubsub soft limit,
/// closes it (an error) if it still is when the limit's seconds have passed.
async fn write_watching_soft_limit<S: crate::net::stream::Stream>(
    server: &Server,
    stream: &mut S,
    mb: &Mailbox,
    data: &[u8],
) -> std::io::Result<()> {
    if server.config.live.pubsub_obuf_soft.load(Ordering::Relaxed) == 0 {
        return stream.send(data).await;
    }
    let mut pos = 0;
    while pos < data.len() {
        // Messages queued meanwhile may put the client over the limit: look again now and
        // then while the socket does not take the bytes.
        let deadline = mb.soft_deadline_ms(server);
        let wait = match deadline {
            Some(d) => Duration::from_millis((d - now_ms()).clamp(0, 100) as u64),
            None => Duration::from_millis(100),
        };
        tokio::select! {
            w = stream.write(&data[pos..]) => match w? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                n => pos += n,
            },
            _ = crate::timer::sleep(wait) => {
                if deadline.is_some_and(|d| d <= now_ms()) && mb.close_if_still_over_soft(server) {
                    tracing::warn!(
                        "Client id={} addr={} closed for overcoming of output buffer limits.",
                        mb.id,
                        mb.shared.addr
                    );
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
            }
        }
    }
    // A TLS session holds the last record until flushed (a no-op on TCP).
    stream.flush().await
}

/// The commands a RESP2 client may run while subscribed.
pub fn allowed_in_resp2_context(def: &cinnabar_commands::CommandDef) -> bool {
    matches!(
        def.name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "psubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// INFO stats fields.
pub fn info_counts(server: &crate::server::Server) -> (usize, usize, usize) {
    let h = &server.pubsub;
    (h.nchannels(), h.numpat(), h.nshard_channels())
}
