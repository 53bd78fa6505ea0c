//! Effects as data: what a command changed, recorded by its handler as it changes it.
//!
//! Redis's handlers raise their own side effects: `signalModifiedKey` (WATCH, client
//! tracking), `notifyKeyspaceEvent`, `server.dirty++`, and `rewriteClientCommandVector` /
//! `alsoPropagate` for what reaches the AOF and the replicas. Cinnabar's handlers do the same
//! through an [`Effects`] record on their `Ctx`; once the handler returns, with the command's
//! shard locks still held, one sink ([`super::sink`]) delivers the record in Redis 7.2's
//! order. Nothing downstream derives effects from a command's name or its reply bytes, so a
//! new write command is its table entry, its handler and its tests.
//!
//! Rules a handler follows (as Redis's do):
//! - every key it really changed: [`Effects::modified`] (not a no-op such as SADD of an
//!   existing member, DEL of a missing key, SETRANGE with an empty string);
//! - every keyspace event, in the order Redis raises them: [`Effects::event`] (`new` when a
//!   key is created, via [`Effects::added`]; `del` when a collection empties);
//! - the number of changes, Redis's `dirty`: [`Effects::changed`] (per element where Redis
//!   counts per element). A command that changed nothing (dirty 0) is not propagated;
//! - a command whose effect is not deterministic when replayed is propagated as what it did:
//!   [`Effects::propagate_as`] (EXPIRE as PEXPIREAT, SPOP as SREM...), [`Effects::also`]
//!   for extra commands before it, [`Effects::propagate_nothing`] to drop it.
//!
//! Recording costs nothing that no consumer wants: dispatch sets what is wanted once per
//! command from a few relaxed loads (someone WATCHes, tracks, is blocked, subscribed to
//! keyspace events; the AOF is on), and an unwanted call is a branch. The `dirty` count is
//! always kept.

use smallvec::SmallVec;

/// A command's arguments as propagated (owned: a rewrite builds new ones).
pub type Argv = Vec<Vec<u8>>;

/// Consumers of modified keys: WATCH, tracking, blocked clients.
pub const WANT_KEYS: u8 = 1 << 0;
/// The propagation stream (AOF, replicas).
pub const WANT_PROPAGATE: u8 = 1 << 1;

/// One recorded effect, in the order the handler raised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fx<'a> {
    /// Redis's signalModifiedKey.
    Modified { db: usize, key: &'a [u8] },
    /// Redis's notifyKeyspaceEvent (already filtered by the enabled classes).
    Event {
        class: u32,
        name: &'static str,
        db: usize,
        key: &'a [u8],
    },
    /// FLUSHDB (Some(db)) or FLUSHALL (None): every key of those databases changed.
    /// `watched`: the WATCHed keys that existed before the flush, (db, key).
    Flushed {
        db: Option<usize>,
        watched: Vec<(usize, Box<[u8]>)>,
    },
    /// SWAPDB: both databases changed as a whole.
    Swapped { a: usize, b: usize },
}

/// What the command itself propagates, after any [`Effects::also`] commands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Own {
    /// The command as the client sent it, if it changed something (dirty > 0).
    #[default]
    AsGiven,
    /// This instead (Redis's rewriteClientCommandVector), if it changed something.
    Rewritten(Argv),
    /// Nothing (Redis's preventCommandPropagation).
    Nothing,
}

/// The effects of one command.
#[derive(Debug, Default)]
pub struct Effects<'a> {
    want: u8,
    /// Enabled keyspace-event classes (`notify-keyspace-events`), 0 when none.
    notify: u32,
    /// Redis's `dirty`: how many changes the command made.
    pub dirty: u64,
    items: SmallVec<[Fx<'a>; 2]>,
    /// Commands propagated before the command's own (Redis's alsoPropagate): (db, argv).
    pub(super) also: Vec<(usize, Argv)>,
    pub(super) own: Own,
    /// Propagate the command even if it changed nothing (Redis's forceCommandPropagation).
    pub(super) force: bool,
}

impl<'a> Effects<'a> {
    /// A record for one command; `want` and `notify` say what to keep.
    pub fn new(want: u8, notify: u32) -> Effects<'a> {
        Effects {
            want,
            notify,
            ..Default::default()
        }
    }

    /// Redis's signalModifiedKey: `key` in `db` changed (WATCH, tracking, blocked clients).
    #[inline]
    pub fn modified(&mut self, db: usize, key: &'a [u8]) {
        if self.want & WANT_KEYS != 0 {
            self.items.push(Fx::Modified { db, key });
        }
    }

    /// Redis's notifyKeyspaceEvent, kept only when `class` is enabled.
    #[inline]
    pub fn event(&mut self, class: u32, name: &'static str, db: usize, key: &'a [u8]) {
        if self.notify & class != 0 {
            self.items.push(Fx::Event {
                class,
                name,
                db,
                key,
            });
        }
    }

    /// A key was created (Redis's dbAdd): the `new` event.
    #[inline]
    pub fn added(&mut self, db: usize, key: &'a [u8]) {
        self.event(crate::notify::NEW, "new", db, key);
    }

    /// Redis's `server.dirty += n`.
    #[inline]
    pub fn changed(&mut self, n: u64) {
        self.dirty += n;
    }

    /// FLUSHDB (`Some(db)`) or FLUSHALL (`None`); `watched` lists the WATCHed keys that
    /// existed before the flush (see `watch::live_watched`). Always kept: a flush also
    /// empties the tracking table, whether or not anyone tracks now.
    pub fn flushed(&mut self, db: Option<usize>, watched: Vec<(usize, Box<[u8]>)>) {
        self.items.push(Fx::Flushed { db, watched });
    }

    /// Whether modified keys are wanted (someone WATCHes, tracks or blocks).
    #[inline]
    pub fn keys_wanted(&self) -> bool {
        self.want & WANT_KEYS != 0
    }

    /// SWAPDB a b.
    pub fn swapped(&mut self, a: usize, b: usize) {
        if self.want & WANT_KEYS != 0 {
            self.items.push(Fx::Swapped { a, b });
        }
    }

    /// Whether anything propagates (AOF on, replicas): build rewrites only then.
    #[inline]
    pub fn propagating(&self) -> bool {
        self.want & WANT_PROPAGATE != 0
    }

    /// Propagate what `argv` builds instead of the command as given (if it changed
    /// something). `argv` runs only while anything consumes propagation.
    #[inline]
    pub fn propagate_as(&mut self, argv: impl FnOnce() -> Argv) {
        if self.propagating() {
            self.own = Own::Rewritten(argv());
        }
    }

    /// Propagate the command (as given or rewritten) even if it changed nothing, as Redis's
    /// forceCommandPropagation (FLUSHALL of an empty server still reaches the AOF).
    pub fn propagate_always(&mut self) {
        self.force = true;
    }

    /// Propagate nothing for the command itself.
    pub fn propagate_nothing(&mut self) {
        self.own = Own::Nothing;
    }

    /// Propagate what `argv` builds, run in `db`, before the command's own propagation.
    /// `argv` runs only while anything consumes propagation.
    #[inline]
    pub fn also(&mut self, db: usize, argv: impl FnOnce() -> Argv) {
        if self.propagating() {
            self.also.push((db, argv()));
        }
    }

    /// The recorded effects, in order.
    pub fn items(&self) -> &[Fx<'a>] {
        &self.items
    }

    pub(super) fn notify_flags(&self) -> u32 {
        self.notify
    }
}

thread_local! {
    /// Keys this thread's reads missed while `keymiss` events are on ((db, key)); like lazy
    /// expiry, a side effect of lookups, delivered by the sink after the command.
    static KEYMISS: std::cell::RefCell<Vec<(usize, Vec<u8>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A read lookup missed `key` while `keymiss` events are on (Redis raises `keymiss` inside
/// lookupKeyRead).
pub fn note_keymiss(db: usize, key: &[u8]) {
    KEYMISS.with(|k| k.borrow_mut().push((db, key.to_vec())));
}

/// Takes this thread's logged misses.
pub(super) fn take_keymisses() -> Vec<(usize, Vec<u8>)> {
    KEYMISS.with(|k| std::mem::take(&mut *k.borrow_mut()))
}

/// Builds an [`Argv`] from byte-like parts: `argv![b"SET", key, value]`.
#[macro_export]
macro_rules! argv {
    ($($a:expr),* $(,)?) => {
        vec![$(AsRef::<[u8]>::as_ref(&$a).to_vec()),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwanted_effects_are_not_kept_but_dirty_is() {
        let mut fx = Effects::new(0, 0);
        fx.modified(0, b"k");
        fx.event(crate::notify::STRING, "set", 0, b"k");
        fx.changed(2);
        fx.propagate_as(|| vec![b"SET".to_vec()]);
        assert!(fx.items().is_empty());
        assert_eq!(fx.dirty, 2);
        assert_eq!(fx.own, Own::AsGiven);
    }

    #[test]
    fn events_are_filtered_by_class_and_kept_in_order() {
        let mut fx = Effects::new(WANT_KEYS, crate::notify::STRING);
        fx.modified(0, b"a");
        fx.event(crate::notify::STRING, "set", 0, b"a");
        fx.event(crate::notify::GENERIC, "expire", 0, b"a");
        fx.added(0, b"a");
        assert_eq!(
            fx.items(),
            &[
                Fx::Modified { db: 0, key: b"a" },
                Fx::Event {
                    class: crate::notify::STRING,
                    name: "set",
                    db: 0,
                    key: b"a"
                }
            ]
        );
    }
}
