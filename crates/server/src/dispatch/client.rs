//! Connection-local state of a client as dispatch sees it: selected database, reply mode,
//! the transaction being queued, watched keys, blocking state.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::server::ClientShared;

/// How the client wants replies (CLIENT REPLY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Suppress the reply of the next command only.
    Skip,
    /// Set by CLIENT REPLY SKIP: becomes Skip after the current command.
    SkipNext,
}

/// The id of the client that replays the AOF at start-up (connections start at 1).
pub const AOF_LOADER_ID: u64 = 0;

/// Connection-local state of a client.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    /// Set by QUIT / a fatal error: close once pending replies are written.
    pub close_after_reply: bool,
    pub no_evict: bool,
    pub no_touch: bool,
    pub shared: Arc<ClientShared>,
    pub is_local: bool,
    /// The transaction being queued, between MULTI and EXEC/DISCARD.
    pub multi: Option<Multi>,
    /// Keys this client WATCHes: (db, key, live when watched).
    pub watched: Vec<(usize, Box<[u8]>, bool)>,
    /// Set by any other client's change to a watched key: EXEC then fails.
    pub dirty: Arc<std::sync::atomic::AtomicBool>,
    /// Set by a blocking command that found nothing: the connection waits on it.
    pub blocked: Option<crate::blocking::BlockedOn>,
    /// Keys with blocked waiters that this client's writes touched, served once its locks
    /// are released.
    pub ready_keys: Vec<(usize, Vec<u8>)>,
    /// Inside EXEC: blocking commands must not block.
    pub in_exec: bool,
    /// The client a script runs its commands as (Redis's CLIENT_SCRIPT).
    pub in_script: bool,
    /// Subscriptions and the out-of-band message queue (pubsub.rs).
    pub pubsub: crate::pubsub::ClientPubSub,
    /// AOF position this client's writes reached: with `appendfsync always` its replies wait
    /// until the file is fsynced that far (crate::persist::aof).
    pub aof_seq: u64,
    /// Memory was over `maxmemory` with nothing to evict when the current command started
    /// (Redis's pre_command_oom_state): scripts refuse their first deny-oom write then.
    pub pre_oom: bool,
    /// Replication: what a replica told us (REPLCONF, PSYNC), or that this is our primary.
    pub repl: Option<Box<crate::replication::ReplClient>>,
    /// This connection is a replica's link (Redis's CLIENT_SLAVE): set once PSYNC or SYNC
    /// made it one (`replication::primary::serve`). Its commands may not touch the keyspace,
    /// and one that replies drops the link.
    pub replica_link: bool,
    /// The replication offset after this client's last write (what WAIT waits for).
    pub repl_woff: u64,
    /// The AOF position after this client's last write (what WAITAOF waits for locally).
    pub aof_woff: u64,
    /// In MONITOR mode (crate::ops::monitor) until RESET or disconnection.
    pub monitor: bool,
    /// The blocked command, for the slow log once it is unblocked (crate::ops).
    pub ops_blocked: Option<Box<crate::ops::BlockedCall>>,
    /// How long a command that blocked ran before it blocked (µs): its call is counted in
    /// INFO commandstats when it is unblocked, as Redis's updateStatsOnUnblock does.
    pub blocked_usec: u64,
    /// Set while a blocking command runs its non-blocking form (BRPOP's RPOP), which Redis
    /// does not count as a call of its own.
    pub uncounted: Uncounted,
    /// The ACL user this client runs as (None: the default user); see `crate::acl`.
    pub user: Option<Arc<crate::acl::UserHandle>>,
}

/// How a run of a blocking command's non-blocking form counts in the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uncounted {
    /// An ordinary command: counted.
    No,
    /// A waiter served later: its call is counted by its connection when it wakes; an error it ends with
    /// still counts (failed call, errorstats).
    CallOnly,
    /// Inside the blocking command's first try: the blocking command counts everything.
    Entirely,
}

impl Client {
    /// Whether this client's writes must be applied whatever this server's role: the
    /// primary's link or the AOF loader (Redis's mustObeyClient).
    pub fn must_obey(&self) -> bool {
        self.id == AOF_LOADER_ID || self.repl.as_ref().is_some_and(|r| r.is_master)
    }

    /// A fresh client: db 0, replies on, no transaction, nothing watched or blocked. Also used
    /// to run a blocked client's command on its behalf when it is served.
    pub fn new(id: u64, shared: Arc<ClientShared>, is_local: bool, authenticated: bool) -> Client {
        Client {
            id,
            db: 0,
            authenticated,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            no_evict: false,
            no_touch: false,
            shared,
            is_local,
            multi: None,
            watched: Vec::new(),
            dirty: Default::default(),
            blocked: None,
            ready_keys: Vec::new(),
            in_exec: false,
            in_script: false,
            pubsub: Default::default(),
            aof_seq: 0,
            pre_oom: false,
            repl: None,
            replica_link: false,
            repl_woff: 0,
            aof_woff: 0,
            monitor: false,
            ops_blocked: None,
            blocked_usec: 0,
            uncounted: Uncounted::No,
            user: None,
        }
    }
}

impl Client {
    /// Applies CLIENT REPLY to the reply a command just wrote after `mark` in `out`: kept
    /// (ON), dropped (OFF, or SKIP's one command), and SKIP armed for the next command.
    pub fn apply_reply_mode(&mut self, out: &mut cinnabar_resp::ReplyBuf, mark: usize) {
        match self.reply_mode {
            ReplyMode::On => {}
            ReplyMode::Off => out.truncate(mark),
            ReplyMode::Skip => {
                out.truncate(mark);
                self.reply_mode = ReplyMode::On;
            }
            ReplyMode::SkipNext => self.reply_mode = ReplyMode::Skip,
        }
    }

    /// A replica's link, or a connection whose SYNC/PSYNC is making it one.
    pub fn is_replica_link(&self) -> bool {
        self.replica_link || self.repl.as_ref().is_some_and(|r| r.psync.is_some())
    }

    /// Publishes the connection's buffer figures for CLIENT LIST (see
    /// `ClientShared::qbuf_cap`). Called by the connection when it parks: a few relaxed
    /// stores per read, none per command.
    pub fn publish_buffers(&self, qbuf_cap: usize, reply_cap: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.shared;
        c.qbuf_cap.store(qbuf_cap, Relaxed);
        c.rbs.store(reply_cap, Relaxed);
        let (count, mem) = match &self.multi {
            Some(m) => (
                m.queue.len() as i64,
                m.bytes.capacity() + m.queue.capacity() * std::mem::size_of::<Queued>(),
            ),
            None => (-1, 0),
        };
        c.multi_count.store(count, Relaxed);
        c.multi_mem.store(mem, Relaxed);
        // Between commands no arguments are held (Redis frees them after each command).
        c.argv_mem.store(0, Relaxed);
        use crate::climem::{PER_PREFIX, PER_SUBSCRIPTION, PER_WATCHED_KEY};
        let ps = &self.pubsub;
        let subs = ps.channels.len() + ps.patterns.len() + ps.shard_channels.len();
        let prefixes = ps.tracking.as_ref().map_or(0, |t| t.prefixes.len());
        c.extra_mem.store(
            self.watched.len() * PER_WATCHED_KEY + subs * PER_SUBSCRIPTION + prefixes * PER_PREFIX,
            Relaxed,
        );
    }
}

/// A transaction being queued. The arguments of every queued command are copied out of the
/// read buffer into one byte buffer, so queueing a command allocates nothing once the
/// buffers have grown.
#[derive(Default)]
pub struct Multi {
    pub queue: Vec<Queued>,
    /// All queued arguments, back to back; `Queued::args` are ranges into it.
    pub bytes: Vec<u8>,
    /// A command was rejected while queueing: EXEC answers EXECABORT.
    pub error: bool,
    /// Union of the queued commands' flags (Redis's mstate.cmd_flags): EXEC of a queue
    /// holding a deny-oom command is refused when memory is full.
    pub flags: u64,
    /// A queued command needs the server alone (`CmdEntry::tx_exclusive`): EXEC runs with
    /// no other command in progress anywhere (see `dispatch::gate`).
    pub exclusive: bool,
}

/// A queued command: its registry index and where its arguments are in `Multi::bytes`.
pub struct Queued {
    pub args: SmallVec<[(usize, usize); 4]>,
    pub idx: usize,
}

impl Multi {
    /// Queues a command.
    pub fn push(&mut self, idx: usize, args: &[&[u8]]) {
        if self.queue.is_empty() {
            self.queue.reserve(4);
            self.bytes.reserve(256);
        }
        let ranges = args
            .iter()
            .map(|a| {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(a);
                (start, self.bytes.len())
            })
            .collect();
        self.queue.push(Queued { args: ranges, idx });
    }

    /// The arguments of a queued command.
    pub fn args<'m>(&'m self, q: &Queued) -> SmallVec<[&'m [u8]; 16]> {
        q.args.iter().map(|&(s, e)| &self.bytes[s..e]).collect()
    }
}
