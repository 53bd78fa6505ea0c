//! Generic keyspace commands (Redis's db.c, expire.c and OBJECT from object.c): deleting,
//! testing and renaming keys, moving them between databases, iterating the keyspace (KEYS,
//! SCAN, RANDOMKEY), flushing and swapping databases, and deadlines (EXPIRE, TTL, PERSIST...).
//!
//! Commands that name keys run with only those keys' shards locked; commands that see the
//! whole keyspace (KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB) are registered
//! with `add_all` and walk every shard.

use cinnabar_engine::db::Table;
use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::glob::{glob_match, is_literal, is_match_all};
use cinnabar_engine::{hash_key, num, Db, Entry, Error, NewValue, Result};
use rand::Rng;

use super::{cursor_arg, db_index_arg, help_reply, int_arg, is};
use crate::argv;
use crate::dispatch::{Ctx, Registry};
use crate::notify::GENERIC;

pub fn register(r: &mut Registry) {
    r.add("del", del);
    r.add("unlink", del);
    r.add("exists", exists);
    r.add("type", type_cmd);
    r.add("touch", touch);
    r.add("rename", rename);
    r.add("renamenx", renamenx);
    r.add("copy", copy);
    r.add("move", move_cmd);
    r.add_all("keys", keys);
    r.add_all("scan", scan);
    r.add_all("randomkey", randomkey);
    r.add_all("dbsize", dbsize);
    r.add_all("flushdb", flushdb);
    r.add_all("flushall", flushall);
    r.add_all("swapdb", swapdb);
    r.add("object|encoding", object_encoding);
    r.add("object|refcount", object_refcount);
    r.add("object|idletime", object_idletime);
    r.add("object|freq", object_freq);
    r.add("object|help", object_help);
    r.add("expire", expire);
    r.add("pexpire", pexpire);
    r.add("expireat", expireat);
    r.add("pexpireat", pexpireat);
    r.add("ttl", ttl);
    r.add("pttl", pttl);
    r.add("expiretime", expiretime);
    r.add("pexpiretime", pexpiretime);
    r.add("persist", persist);
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

/// How a command looks its keys up, after Redis's lookupKey flags. Every lookup removes an
/// expired key on the spot; they differ in whether they count keyspace hits/misses (reads
/// do, writes do not), whether a miss raises `keymiss` (reads do, but for OBJECT), and
/// whether they refresh the entry's access clock (everything but the introspection commands
/// does, unless the client asked for CLIENT NO-TOUCH).
#[derive(Clone, Copy)]
struct Look {
    now: i64,
    no_touch: bool,
    /// `keymiss` events are on.
    keymiss: bool,
}

impl Look {
    fn new(ctx: &Ctx) -> Look {
        let flags = ctx
            .server
            .config
            .live
            .notify_flags
            .load(std::sync::atomic::Ordering::Relaxed);
        Look {
            now: ctx.now,
            no_touch: ctx.client.no_touch,
            keymiss: flags & crate::notify::KEY_MISS != 0,
        }
    }

    fn lookup(&self, db: &mut Db, h: u64, key: &[u8], how: How) -> Option<usize> {
        let slot = db.lookup(h, key, self.now);
        if how.stats {
            match slot {
                Some(_) => db.hits += 1,
                None => {
                    db.misses += 1;
                    if how.notify && self.keymiss {
                        crate::dispatch::effects::note_keymiss(db.id, key);
                    }
                }
            }
        }
        if let (Some(s), true) = (slot, how.touch && !self.no_touch) {
            db.touch(s, self.now);
        }
        slot
    }

    /// lookupKeyRead: counts a hit or miss (`keymiss`) and refreshes the clock.
    fn read(&self, db: &mut Db, h: u64, key: &[u8]) -> Option<usize> {
        self.lookup(db, h, key, How::READ)
    }

    /// lookupKeyRead with LOOKUP_NOTOUCH (EXISTS, TYPE, TTL): counts (`keymiss` on a miss),
    /// never touches.
    fn peek(&self, db: &mut Db, h: u64, key: &[u8]) -> Option<usize> {
        self.lookup(db, h, key, How::PEEK)
    }

    /// lookupKeyRead with LOOKUP_NOTOUCH and LOOKUP_NONOTIFY (OBJECT): counts, never
    /// touches, no `keymiss`.
    fn introspect(&self, db: &mut Db, h: u64, key: &[u8]) -> Option<usize> {
        self.lookup(db, h, key, How::INTROSPECT)
    }

    /// lookupKeyWrite: no statistics, refreshes the clock.
    fn write(&self, db: &mut Db, h: u64, key: &[u8]) -> Option<usize> {
        self.lookup(db, h, key, How::WRITE)
    }
}

/// Redis's lookupKey flags, as far as they matter here.
#[derive(Clone, Copy)]
struct How {
    stats: bool,
    notify: bool,
    touch: bool,
}

impl How {
    const READ: How = How {
        stats: true,
        notify: true,
        touch: true,
    };
    const PEEK: How = How {
        stats: true,
        notify: true,
        touch: false,
    };
    const INTROSPECT: How = How {
        stats: true,
        notify: false,
        touch: false,
    };
    const WRITE: How = How {
        stats: false,
        notify: false,
        touch: true,
    };
}

/// The TYPE name of an entry's value.
fn type_name(e: &Entry) -> &'static str {
    match e.value() {
        ValueRef::Str(_) | ValueRef::Int(_) => "string",
        ValueRef::Obj(o) => o.type_name(),
    }
}

// ---------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TYPE, TOUCH
// ---------------------------------------------------------------------------------------

/// DEL and UNLINK key [key ...]: the number of keys removed. An expired key counts as absent.
/// UNLINK hands big values (more than lazyfree::THRESHOLD allocations) to the background
/// free thread, so removing a huge collection does not hold the shard lock for long; DEL
/// frees in place unless `lazyfree-lazy-user-del` is set, as in Redis. Each key removed is
/// modified, raises `del` and counts as one change (Redis's delGenericCommand).
fn del(ctx: &mut Ctx) -> Result<()> {
    let (now, args) = (ctx.now, ctx.args);
    let lazy = is(ctx.arg(0), "unlink")
        || ctx
            .server
            .config
            .live
            .lazyfree_lazy_user_del
            .load(std::sync::atomic::Ordering::Relaxed);
    let mut n = 0;
    for &key in &args[1..] {
        let (db, h) = crate::key_db!(ctx, key);
        if let Some(slot) = db.lookup(h, key, now) {
            let e = db.remove_slot(slot);
            if lazy {
                cinnabar_engine::lazyfree::dispose(e);
            }
            n += 1;
            ctx.wrote(GENERIC, "del", key);
        }
    }
    ctx.out.integer(n);
    Ok(())
}

/// EXISTS key [key ...]: a key named twice counts twice, as in Redis.
fn exists(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let mut n = 0;
    for &key in &ctx.args[1..] {
        let (db, h) = crate::key_db!(ctx, key);
        if look.peek(db, h, key).is_some() {
            n += 1;
        }
    }
    ctx.out.integer(n);
    Ok(())
}

fn type_cmd(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let name = match look.peek(db, h, key) {
        Some(slot) => type_name(db.entry(slot)),
        None => "none",
    };
    ctx.out.simple(name.as_bytes());
    Ok(())
}

/// TOUCH key [key ...]: refreshes the access clock even for a CLIENT NO-TOUCH client, since
/// touching is the command's whole point.
fn touch(ctx: &mut Ctx) -> Result<()> {
    let look = Look {
        no_touch: false,
        ..Look::new(ctx)
    };
    let mut n = 0;
    for &key in &ctx.args[1..] {
        let (db, h) = crate::key_db!(ctx, key);
        if look.read(db, h, key).is_some() {
            n += 1;
        }
    }
    ctx.out.integer(n);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// RENAME, RENAMENX, COPY, MOVE
// ---------------------------------------------------------------------------------------

fn rename(ctx: &mut Ctx) -> Result<()> {
    rename_generic(ctx, false)
}

fn renamenx(ctx: &mut Ctx) -> Result<()> {
    rename_generic(ctx, true)
}

/// RENAME / RENAMENX src dst, in Redis's order: the source is looked up first (a missing
/// source is an error even when it equals the destination, `RENAME k k` of an existing key
/// changes nothing), then the destination. A lookup may lazily delete an expired key, and a
/// deletion moves another entry of the same table into the hole, so the source's slot is
/// taken again after the destination's lookup. The entry itself moves (value, deadline and
/// access bits unchanged) and replaces an existing destination, which is deleted without an
/// event of its own; as Redis's dbAdd, the destination then raises `new`, before
/// `rename_from` and `rename_to`.
fn rename_generic<'a>(ctx: &mut Ctx<'a, '_>, nx: bool) -> Result<()> {
    let look = Look::new(ctx);
    let (src, dst) = (ctx.arg(1), ctx.arg(2));
    {
        let (db, hs) = crate::key_db!(ctx, src);
        if look.write(db, hs, src).is_none() {
            return Err(Error::NoSuchKey);
        }
    }
    if src == dst {
        reply_rename(ctx, nx, 0);
        return Ok(());
    }
    let dst_exists = {
        let (db, h) = crate::key_db!(ctx, dst);
        look.write(db, h, dst).is_some()
    };
    if dst_exists && nx {
        ctx.out.integer(0);
        return Ok(());
    }
    let (db, hs) = crate::key_db!(ctx, src);
    let slot = db.find_raw(hs, src).expect("source found above");
    let entry = db.remove_slot(slot).rekey(dst);
    let (db, hd) = crate::key_db!(ctx, dst);
    // The destination is deleted, not overwritten: the moved key keeps its own access bits
    // (under LFU, `put` would carry the destination's counter over).
    if let Some(s) = db.find_raw(hd, dst) {
        cinnabar_engine::lazyfree::dispose(db.remove_slot(s));
    }
    db.insert_new(hd, entry);
    ctx.added(dst);
    ctx.modified(src);
    ctx.modified(dst);
    ctx.event(GENERIC, "rename_from", src);
    ctx.event(GENERIC, "rename_to", dst);
    ctx.dirty(1);
    reply_rename(ctx, nx, 1);
    Ok(())
}

/// RENAME answers OK; RENAMENX answers whether it renamed.
fn reply_rename(ctx: &mut Ctx, nx: bool, n: i64) {
    if nx {
        ctx.out.integer(n);
    } else {
        ctx.out.ok();
    }
}

/// COPY src dst [DB n] [REPLACE]. The copy is a new, independent value (a boxed object is
/// cloned), keeps the source's deadline, and starts with a fresh access clock as Redis's
/// duplicated object does. The source entry is read in full into the new entry before the
/// destination database is borrowed, so source and destination may share a shard. With
/// REPLACE an existing destination is deleted first (no event of its own); the copy raises
/// `new` and `copy_to` in the destination database, as Redis's dbAdd and copyCommand.
fn copy<'a>(ctx: &mut Ctx<'a, '_>) -> Result<()> {
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < ctx.args.len() {
        let a = ctx.arg(i);
        if is(a, "replace") {
            replace = true;
        } else if is(a, "db") && i + 1 < ctx.args.len() {
            dst_db = db_index_arg(ctx.arg(i + 1), ctx.server.keyspace.databases())?;
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    let look = Look::new(ctx);
    let (src, dst) = (ctx.arg(1), ctx.arg(2));
    if src_db == dst_db && src == dst {
        return Err(Error::msg(SAME_OBJECT));
    }
    let (db, hs) = crate::key_db!(ctx, src, src_db);
    let Some(slot) = look.read(db, hs, src) else {
        ctx.out.integer(0);
        return Ok(());
    };
    let e = db.entry(slot);
    let value = match e.value() {
        ValueRef::Str(s) => NewValue::Str(s),
        ValueRef::Int(n) => NewValue::Int(n),
        ValueRef::Obj(o) => NewValue::Obj(Box::new(o.clone())),
    };
    let copied = Entry::new(dst, value, e.expire(), db.fresh_clock(look.now));
    let (db, h) = crate::key_db!(ctx, dst, dst_db);
    if let Some(s) = look.write(db, h, dst) {
        if !replace {
            ctx.out.integer(0);
            return Ok(());
        }
        cinnabar_engine::lazyfree::dispose(db.remove_slot(s));
    }
    db.insert_new(h, copied);
    ctx.fx.added(dst_db, dst);
    ctx.fx.modified(dst_db, dst);
    ctx.fx.event(GENERIC, "copy_to", dst_db, dst);
    ctx.dirty(1);
    ctx.out.integer(1);
    Ok(())
}

/// MOVE key db: the key's hash, hence its shard, is the same in every database, so this
/// moves the entry between two databases of one locked shard. As Redis: `new` in the target
/// database, the key modified in both, then `move_from` (source db) and `move_to` (target).
fn move_cmd<'a>(ctx: &mut Ctx<'a, '_>) -> Result<()> {
    let key = ctx.arg(1);
    let dst_db = db_index_arg(ctx.arg(2), ctx.server.keyspace.databases())?;
    let src_db = ctx.client.db;
    if dst_db == src_db {
        return Err(Error::msg(SAME_OBJECT));
    }
    let look = Look::new(ctx);
    let (db, h) = crate::key_db!(ctx, key, src_db);
    if look.write(db, h, key).is_none() {
        ctx.out.integer(0);
        return Ok(());
    }
    let (target, _) = crate::key_db!(ctx, key, dst_db);
    if look.write(target, h, key).is_some() {
        ctx.out.integer(0);
        return Ok(());
    }
    // The target lookup touched another database, so the source slot is still valid, but
    // look it up again rather than carry a slot across borrows.
    let (db, _) = crate::key_db!(ctx, key, src_db);
    let slot = db.find_raw(h, key).expect("source key checked above");
    let entry = db.remove_slot(slot);
    let (target, _) = crate::key_db!(ctx, key, dst_db);
    target.insert_new(h, entry);
    ctx.fx.added(dst_db, key);
    ctx.fx.modified(src_db, key);
    ctx.fx.modified(dst_db, key);
    ctx.fx.event(GENERIC, "move_from", src_db, key);
    ctx.fx.event(GENERIC, "move_to", dst_db, key);
    ctx.dirty(1);
    ctx.out.integer(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// KEYS, SCAN, RANDOMKEY, DBSIZE
// ---------------------------------------------------------------------------------------

/// KEYS pattern. A pattern without metacharacters names at most one key, so it is a single
/// hash lookup instead of a walk over every shard. Expired keys are skipped, not deleted,
/// as Redis does (KEYS only reads).
fn keys(ctx: &mut Ctx) -> Result<()> {
    let (pattern, now, dbi) = (ctx.arg(1), ctx.now, ctx.client.db);
    if is_literal(pattern) {
        let h = hash_key(pattern);
        let db = ctx.data.db(dbi, h);
        match db.find_raw(h, pattern) {
            Some(slot) if !db.entry(slot).is_expired(now) => {
                ctx.out.array(1);
                ctx.out.bulk(pattern);
            }
            _ => ctx.out.array(0),
        }
        return Ok(());
    }
    let all = is_match_all(pattern);
    let deferred = ctx.out.deferred_array();
    let mut n = 0;
    'walk: for shard in ctx.data.shards() {
        for e in shard.dbs[dbi].table.iter() {
            if !e.is_expired(now) && (all || glob_match(pattern, e.key(), false)) {
                ctx.out.bulk(e.key());
                n += 1;
                // Past the output buffer limit the client is being closed (Redis stops too).
                if ctx.out.over_limit() {
                    break 'walk;
                }
            }
        }
    }
    ctx.out.set_deferred_array(deferred, n);
    Ok(())
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
///
/// Each shard's database keeps its entries in a dense vector where a removal moves the
/// *last* entry into the hole. SCAN walks shard 0, 1, ... and each shard's vector from the
/// end towards the start. The cursor is `(remaining << shard_bits) | shard`: `remaining` is
/// the number of slots of that shard not yet visited (slots `0..remaining`), and 0 means the
/// shard has not been started (take its current length). On resume `remaining` is clamped
/// to the current length.
///
/// Why a key present for the whole scan is always returned: the only entry that ever changes
/// slot is the *last* one, moved into the hole a removal leaves. If the hole is in the
/// visited part (`remaining..len`), the last entry is in the visited part too and stays
/// there. If the hole is in the unvisited part (`0..remaining`), the last entry either was
/// visited already (returning it again is allowed) or, when the vector is no longer than
/// `remaining` (nothing visited yet, or it shrank), is itself unvisited and lands in a
/// lower, still unvisited slot. Insertions append
/// at the end, shrinking the vector reorders nothing, and growing the hash index does not
/// touch the vector. So an unvisited key stays below `remaining` until the walk reaches it.
///
/// Expired keys met on the way are deleted, as Redis does. That is safe for the same
/// reason: deleting the slot being visited moves the last entry, which has an index at least
/// as high and so has been visited already, into a slot the walk has just passed.
///
/// COUNT is the number of slots visited per call (empty shards cost nothing), so a call
/// returns at most COUNT keys and may return none. An unknown TYPE matches nothing, as in
/// Redis 7.2.
fn scan(ctx: &mut Ctx) -> Result<()> {
    let cursor = cursor_arg(ctx.arg(1))?;
    let mut count: u64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut type_filter: Option<&[u8]> = None;
    let mut i = 2;
    while i < ctx.args.len() {
        let has_value = i + 1 < ctx.args.len();
        let a = ctx.arg(i);
        if is(a, "count") && has_value {
            let n = int_arg(ctx.arg(i + 1))?;
            if n < 1 {
                return Err(Error::Syntax);
            }
            count = n as u64;
        } else if is(a, "match") && has_value {
            let p = ctx.arg(i + 1);
            pattern = if is_match_all(p) { None } else { Some(p) };
        } else if is(a, "type") && has_value {
            type_filter = Some(ctx.arg(i + 1));
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }

    let (now, dbi) = (ctx.now, ctx.client.db);
    let nshards = ctx.data.keyspace().shard_count();
    let bits = nshards.trailing_zeros();
    let mut shard = (cursor & (nshards as u64 - 1)) as usize;
    let mut resume = cursor >> bits;
    let mut budget = count;
    let mut found: Vec<Vec<u8>> = Vec::new();
    while shard < nshards && budget > 0 {
        let db = &mut ctx
            .data
            .shard_at(shard)
            .expect("SCAN holds every shard")
            .dbs[dbi];
        let len = db.len() as u64;
        let mut remaining = if resume == 0 { len } else { resume.min(len) };
        while remaining > 0 && budget > 0 {
            remaining -= 1;
            budget -= 1;
            let slot = remaining as usize;
            let e = db.entry(slot);
            if e.is_expired(now) {
                if !db.expiry_held(now) {
                    db.remove_expired(slot);
                }
                continue;
            }
            if pattern.is_some_and(|p| !glob_match(p, e.key(), false)) {
                continue;
            }
            if type_filter.is_some_and(|t| !t.eq_ignore_ascii_case(type_name(e).as_bytes())) {
                continue;
            }
            found.push(e.key().to_vec());
        }
        if remaining == 0 {
            shard += 1;
            resume = 0;
        } else {
            resume = remaining;
        }
    }
    let next = if shard >= nshards {
        0
    } else {
        (resume << bits) | shard as u64
    };
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// RANDOMKEY: a uniformly chosen live key of the current database, or nil. A uniform slot
/// over all shards' entries is drawn; an expired key drawn is deleted and the draw repeated,
/// so the answer is uniform over live keys and the loop ends (each retry removes a key).
fn randomkey(ctx: &mut Ctx) -> Result<()> {
    let (now, dbi) = (ctx.now, ctx.client.db);
    let mut lens: Vec<usize> = ctx.data.shards().map(|s| s.dbs[dbi].len()).collect();
    let mut total: usize = lens.iter().sum();
    let mut held_draws = 0;
    let mut rng = rand::thread_rng();
    while total > 0 {
        let mut r = rng.gen_range(0..total);
        let shard = lens
            .iter()
            .position(|&n| {
                if r < n {
                    true
                } else {
                    r -= n;
                    false
                }
            })
            .expect("r < total");
        let db = &mut ctx
            .data
            .shard_at(shard)
            .expect("RANDOMKEY holds every shard")
            .dbs[dbi];
        if db.entry(r).is_expired(now) {
            if db.expiry_held(now) {
                // Held by CLIENT PAUSE: left in place and drawn again; after 100 draws of
                // held keys one is returned, as Redis's dbRandomKey does, rather than loop
                // on a database of expired keys.
                held_draws += 1;
                if held_draws >= 100 {
                    ctx.out.bulk(db.entry(r).key());
                    return Ok(());
                }
                continue;
            }
            db.remove_expired(r);
            lens[shard] -= 1;
            total -= 1;
            continue;
        }
        ctx.out.bulk(db.entry(r).key());
        return Ok(());
    }
    ctx.out.null();
    Ok(())
}

/// DBSIZE counts entries, including expired ones not reclaimed yet, as Redis does.
fn dbsize(ctx: &mut Ctx) -> Result<()> {
    let n = ctx.data.dbsize(ctx.client.db);
    ctx.out.integer(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// FLUSHDB, FLUSHALL, SWAPDB
// ---------------------------------------------------------------------------------------

/// The optional ASYNC|SYNC argument of FLUSHDB/FLUSHALL; without it, lazyfree-lazy-user-flush
/// decides. True means free asynchronously.
fn flush_mode(ctx: &Ctx) -> Result<bool> {
    match ctx.args.len() {
        1 => Ok(ctx.server.config.get_bool("lazyfree-lazy-user-flush")),
        2 if is(ctx.arg(1), "sync") => Ok(false),
        2 if is(ctx.arg(1), "async") => Ok(true),
        _ => Err(Error::Syntax),
    }
}

/// Empties `db`, handing its table to `garbage` so the caller can free it after unlocking
/// (or on another thread). Statistics (hits, misses, expired keys) are server-wide
/// counters in Redis and survive a flush.
fn empty_db(db: &mut Db, garbage: &mut Vec<Table>) {
    if !db.is_empty() {
        garbage.push(std::mem::take(&mut db.table));
    }
    db.clear();
}

/// Frees flushed tables: on a background thread for ASYNC, so the command returns at once
/// (the data is already unreachable), else right here.
fn free_tables(garbage: Vec<Table>, background: bool) {
    if garbage.is_empty() {
        return;
    }
    if background {
        cinnabar_engine::lazyfree::dispose_tables(garbage);
    } else {
        drop(garbage);
    }
}

/// FLUSHDB [ASYNC|SYNC]. As Redis's emptyData: the WATCHers of live keys are made dirty and
/// tracking clients told to flush (recorded before the data goes, while the keys are still
/// there to look at), the change count is the number of keys removed (expired ones not yet
/// reclaimed included), and the command propagates even when the database was empty.
fn flushdb(ctx: &mut Ctx) -> Result<()> {
    let background = flush_mode(ctx)?;
    let dbi = ctx.client.db;
    let watched = crate::dispatch::watch::live_watched(ctx.server, ctx.data, Some(dbi), ctx.now);
    ctx.fx.flushed(Some(dbi), watched);
    let mut garbage = Vec::new();
    let mut removed = 0;
    for shard in ctx.data.shards() {
        removed += shard.dbs[dbi].len();
        empty_db(&mut shard.dbs[dbi], &mut garbage);
    }
    free_tables(garbage, background);
    ctx.dirty(removed as u64);
    ctx.fx.propagate_always();
    ctx.out.ok();
    Ok(())
}

/// FLUSHALL [ASYNC|SYNC]: FLUSHDB for every database.
fn flushall(ctx: &mut Ctx) -> Result<()> {
    let background = flush_mode(ctx)?;
    let watched = crate::dispatch::watch::live_watched(ctx.server, ctx.data, None, ctx.now);
    ctx.fx.flushed(None, watched);
    let mut garbage = Vec::new();
    let mut removed = 0;
    for shard in ctx.data.shards() {
        for db in shard.dbs.iter_mut() {
            removed += db.len();
            empty_db(db, &mut garbage);
        }
    }
    free_tables(garbage, background);
    ctx.dirty(removed as u64);
    ctx.fx.propagate_always();
    // Redis's flushAllDataAndResetRDB kills the RDB child: a full sync's snapshot stops and
    // its replica syncs again.
    crate::replication::cancel_syncs(ctx.server);
    // With save rules, Redis's flushAllDataAndResetRDB saves the empty dataset at once, so
    // nothing counts as changed since (the removals this command is about to count
    // included).
    // A running BGSAVE is stopped first (its file would bring the keys back).
    if crate::persist::rdbfile::flushall_reset(ctx.server, ctx.data) {
        ctx.server
            .persist
            .dirty_at_last_save
            .fetch_add(removed as u64, std::sync::atomic::Ordering::Relaxed);
    }
    ctx.out.ok();
    Ok(())
}

/// A SWAPDB index: any failure to parse as a C int is reported with the command's own text.
fn swapdb_index(arg: &[u8], msg: &'static str) -> Result<i64> {
    match num::parse_i64(arg) {
        Some(n) if n >= i32::MIN as i64 && n <= i32::MAX as i64 => Ok(n),
        _ => Err(Error::msg(msg)),
    }
}

/// SWAPDB a b: every shard holds its slice of every database, so the swap is done shard by
/// shard with all shards locked; clients see it as one atomic step. Its effects on WATCH and
/// blocked clients are recorded as one `swapped` (Redis does not invalidate tracking here).
fn swapdb(ctx: &mut Ctx) -> Result<()> {
    let a = swapdb_index(ctx.arg(1), "ERR invalid first DB index")?;
    let b = swapdb_index(ctx.arg(2), "ERR invalid second DB index")?;
    let n = ctx.server.keyspace.databases() as i64;
    if a < 0 || b < 0 || a >= n || b >= n {
        return Err(Error::DbIndexOutOfRange);
    }
    if a != b {
        // Redis's dbSwapDatabases: the WATCHers of keys that exist in either database.
        ctx.fx.swapped(a as usize, b as usize);
    }
    for shard in ctx.data.shards() {
        shard.dbs.swap(a as usize, b as usize);
        // WATCH registrations and the database's number belong to the db index, not to the
        // data: put them back (the number names the db in expiry and eviction logs).
        let (x, y) = (a.min(b) as usize, a.max(b) as usize);
        if x != y {
            let (lo, hi) = shard.dbs.split_at_mut(y);
            std::mem::swap(&mut lo[x].watched, &mut hi[0].watched);
            std::mem::swap(&mut lo[x].id, &mut hi[0].id);
        }
    }
    // One change, even for SWAPDB n n, as Redis counts it.
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------

/// Strings up to this length are "embstr" in Redis (object header and bytes in one block).
const EMBSTR_SIZE_LIMIT: usize = 44;
/// Redis shares one object per integer 0..10000 (OBJ_SHARED_INTEGERS)...
const SHARED_INTEGERS: i64 = 10_000;
/// ...whose reference count reads as INT_MAX (OBJ_SHARED_REFCOUNT).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
fn lfu_policy(ctx: &Ctx) -> bool {
    ctx.server.keyspace.access.is_lfu()
}

/// OBJECT ENCODING: the encoding Redis would use for the value as we store it: "int" for
/// values kept as binary integers, "embstr" for short inline strings, "raw" for longer or
/// boxed (appended, SETRANGE'd) strings.
fn object_encoding(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(2);
    let look = Look::new(ctx);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = look.introspect(db, h, key) else {
        ctx.out.null();
        return Ok(());
    };
    let enc: &[u8] = match db.entry(slot).value() {
        ValueRef::Int(_) => b"int",
        ValueRef::Str(s) if s.len() <= EMBSTR_SIZE_LIMIT => b"embstr",
        ValueRef::Str(_) => b"raw",
        ValueRef::Obj(o) => o.encoding().as_bytes(),
    };
    ctx.out.bulk(enc);
    Ok(())
}

/// OBJECT REFCOUNT. We never share values, so the answer is 1, except where Redis would have
/// used one of its shared integer objects (0..9999 when maxmemory is unlimited or the policy
/// is neither LRU nor LFU) and answers INT_MAX: clients that compare against Redis see the
/// same number.
fn object_refcount(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(2);
    let look = Look::new(ctx);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = look.introspect(db, h, key) else {
        ctx.out.null();
        return Ok(());
    };
    let small_int =
        matches!(db.entry(slot).value(), ValueRef::Int(n) if (0..SHARED_INTEGERS).contains(&n));
    let shared = small_int && {
        let policy = ctx.server.config.get("maxmemory-policy");
        ctx.server.config.get_i64("maxmemory") == 0
            || !(policy.ends_with("-lru") || policy.ends_with("-lfu"))
    };
    ctx.out.integer(if shared { SHARED_REFCOUNT } else { 1 });
    Ok(())
}

fn object_idletime(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(2);
    let look = Look::new(ctx);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = look.introspect(db, h, key) else {
        ctx.out.null();
        return Ok(());
    };
    let idle = db.access.idle_secs(db.entry(slot).clock(), look.now);
    if lfu_policy(ctx) {
        return Err(Error::msg("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    ctx.out.integer(idle as i64);
    Ok(())
}

/// OBJECT FREQ: the key's logarithmic access counter, decayed by the minutes since its last
/// access without storing the decay (Redis's LFUDecrAndReturn).
fn object_freq(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(2);
    let look = Look::new(ctx);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = look.introspect(db, h, key) else {
        ctx.out.null();
        return Ok(());
    };
    let freq = db.access.freq(db.entry(slot).clock(), look.now);
    if !lfu_policy(ctx) {
        return Err(Error::msg("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    ctx.out.integer(freq as i64);
    Ok(())
}

fn object_help(ctx: &mut Ctx) -> Result<()> {
    help_reply(
        ctx,
        &[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Print this help.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// EXPIRE family, TTL family, PERSIST
// ---------------------------------------------------------------------------------------

/// The NX/XX/GT/LT conditions of the EXPIRE family.
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Parses the conditions after the time argument, with Redis's errors and their order:
/// an unknown word first, then the incompatible combinations.
fn expire_flags(args: &[&[u8]]) -> Result<ExpireFlags> {
    let mut f = ExpireFlags::default();
    for &a in args {
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else {
            return Err(Error::msg(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(a)
            )));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(Error::msg(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f.gt && f.lt {
        return Err(Error::msg(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

impl ExpireFlags {
    /// Whether the conditions allow replacing deadline `current` (None: no deadline, which
    /// GT and LT treat as infinite) by `when`.
    fn allow(&self, current: Option<i64>, when: i64) -> bool {
        match current {
            None => !(self.xx || self.gt),
            Some(cur) => !(self.nx || (self.gt && when <= cur) || (self.lt && when >= cur)),
        }
    }
}

fn expire(ctx: &mut Ctx) -> Result<()> {
    expire_generic(ctx, "expire", true, true)
}

fn pexpire(ctx: &mut Ctx) -> Result<()> {
    expire_generic(ctx, "pexpire", false, true)
}

fn expireat(ctx: &mut Ctx) -> Result<()> {
    expire_generic(ctx, "expireat", true, false)
}

fn pexpireat(ctx: &mut Ctx) -> Result<()> {
    expire_generic(ctx, "pexpireat", false, false)
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX|XX|GT|LT]. Negative times are
/// allowed; only an overflow of the unit conversion or of adding the current time is an
/// error. As Redis's expireGenericCommand: a deadline at or before now deletes the key (and
/// still answers 1), raising `del` and propagated as DEL (UNLINK under
/// `lazyfree-lazy-expire`); otherwise the deadline is set, raising `expire`, and propagated
/// as PEXPIREAT with the absolute deadline in milliseconds (and the same conditions).
fn expire_generic<'a>(
    ctx: &mut Ctx<'a, '_>,
    cmd: &'static str,
    secs: bool,
    relative: bool,
) -> Result<()> {
    let flags = expire_flags(&ctx.args[3..])?;
    let mut when = int_arg(ctx.arg(2))?;
    if secs {
        when = when
            .checked_mul(1000)
            .ok_or(Error::InvalidExpireTime(cmd))?;
    }
    if relative {
        when = when
            .checked_add(ctx.now)
            .ok_or(Error::InvalidExpireTime(cmd))?;
    }
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = look.write(db, h, key) else {
        ctx.out.integer(0);
        return Ok(());
    };
    if !flags.allow(db.entry(slot).expire(), when) {
        ctx.out.integer(0);
        return Ok(());
    }
    if when <= look.now {
        let lazy = ctx.server.config.get_bool("lazyfree-lazy-expire");
        let e = db.remove_slot(slot);
        if lazy {
            cinnabar_engine::lazyfree::dispose(e);
        }
        ctx.wrote(GENERIC, "del", key);
        if ctx.fx.propagating() {
            let del: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
            ctx.fx.propagate_as(|| argv![del, key]);
        }
    } else {
        db.set_expire(slot, Some(when));
        ctx.wrote(GENERIC, "expire", key);
        if cmd != "pexpireat" && ctx.fx.propagating() {
            let mut v = argv![b"PEXPIREAT", key, itoa::Buffer::new().format(when)];
            v.extend(ctx.args[3..].iter().map(|a| a.to_vec()));
            ctx.fx.propagate_as(|| v);
        }
    }
    ctx.out.integer(1);
    Ok(())
}

fn ttl(ctx: &mut Ctx) -> Result<()> {
    ttl_generic(ctx, false, false)
}

fn pttl(ctx: &mut Ctx) -> Result<()> {
    ttl_generic(ctx, true, false)
}

fn expiretime(ctx: &mut Ctx) -> Result<()> {
    ttl_generic(ctx, false, true)
}

fn pexpiretime(ctx: &mut Ctx) -> Result<()> {
    ttl_generic(ctx, true, true)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 without a deadline, else the
/// remaining time or the absolute deadline (never below 0), in seconds rounded to nearest or
/// in milliseconds.
fn ttl_generic(ctx: &mut Ctx, ms: bool, absolute: bool) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let reply = match look.peek(db, h, key) {
        None => -2,
        Some(slot) => match db.entry(slot).expire() {
            None => -1,
            Some(t) => {
                let v = if absolute { t } else { t - look.now }.max(0);
                if ms {
                    v
                } else {
                    // (v + 500) / 1000 without overflow at i64::MAX.
                    v / 1000 + i64::from(v % 1000 >= 500)
                }
            }
        },
    };
    ctx.out.integer(reply);
    Ok(())
}

/// PERSIST key: 1 if a deadline was removed (then modified, `persist`, one change).
fn persist(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let removed = match look.write(db, h, key) {
        Some(slot) if db.entry(slot).expire().is_some() => {
            db.set_expire(slot, None);
            true
        }
        _ => false,
    };
    if removed {
        ctx.wrote(GENERIC, "persist", key);
    }
    ctx.out.integer(i64::from(removed));
    Ok(())
}
