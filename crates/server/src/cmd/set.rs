//! Set commands (Redis's t_set.c). The data structure and the set algebra live in
//! `cinnabar_engine::types::set`; this file parses arguments, finds keys, deletes keys whose
//! set became empty, and writes replies.
//!
//! Each handler records its effects as t_set.c raises them (see `dispatch::effects`): `dirty`
//! per member added, removed or popped (SMOVE one, two when the destination gained the
//! member; one per stored result), keys modified and events only when something changed, in
//! Redis's order (SMOVE: srem and del of the source, then new and sadd of the destination).
//! SPOP propagates as what it did: `SREM key member`, SREMs of up to 1024 members for a
//! count (the SPOP itself not at all), or DEL (UNLINK with lazyfree-lazy-server-del) when it
//! takes the whole set.
//!
//! Multi-key commands (SINTER, SUNION, SDIFF and friends, SMOVE) need several sets at once,
//! possibly in different shards. Rather than cloning them, each operand set is moved out of
//! its entry (an O(1) swap with an empty set) for the duration of the computation and put
//! back before the command writes anything to the keyspace; the shards are locked
//! throughout, so no other client can observe the swap.

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::glob::{glob_match, is_match_all};
use cinnabar_engine::types::set::{self, Limits, Member, Set};
use cinnabar_engine::{Db, Entry, Error, NewValue, Object, Result};
use cinnabar_resp::ReplyBuf;

use super::{int_arg, is, remove_if_empty, Look};
use crate::argv;
use crate::dispatch::{Ctx, Registry};
use crate::notify::{GENERIC, SET};

pub fn register(r: &mut Registry) {
    r.add("sadd", sadd);
    r.add("srem", srem);
    r.add("smove", smove);
    r.add("sismember", sismember);
    r.add("smismember", smismember);
    r.add("scard", scard);
    r.add("spop", spop);
    r.add("srandmember", srandmember);
    r.add("smembers", smembers);
    r.add("sinter", sinter);
    r.add("sintercard", sintercard);
    r.add("sinterstore", sinterstore);
    r.add("sunion", sunion);
    r.add("sunionstore", sunionstore);
    r.add("sdiff", sdiff);
    r.add("sdiffstore", sdiffstore);
    r.add("sscan", sscan);
}

fn set_is_empty(o: &Object) -> bool {
    matches!(o, Object::Set(s) if s.is_empty())
}

/// The conversion thresholds currently configured.
fn limits(ctx: &Ctx) -> Limits {
    let [a, b, c] = &ctx.server.config.live.set_limits;
    let get = |x: &std::sync::atomic::AtomicU64| x.load(std::sync::atomic::Ordering::Relaxed);
    Limits {
        intset_entries: get(a) as usize,
        listpack_entries: get(b) as usize,
        listpack_value: get(c) as usize,
    }
}

/// Set lookups: [`Look`] restricted to sets.
trait FindSet {
    /// Finds a live key holding a set: Ok(None) when missing, WRONGTYPE for another type.
    fn find_set(&self, db: &mut Db, h: u64, key: &[u8], read: bool) -> Result<Option<usize>>;
}

impl FindSet for Look {
    fn find_set(&self, db: &mut Db, h: u64, key: &[u8], read: bool) -> Result<Option<usize>> {
        Look::find(self, db, h, key, read, |o| matches!(o, Object::Set(_)))
    }
}

/// The set in `slot` (known to hold one).
fn set_at(db: &Db, slot: usize) -> &Set {
    match db.entry(slot).value() {
        ValueRef::Obj(Object::Set(s)) => s,
        _ => unreachable!("slot checked to hold a set"),
    }
}

fn set_at_mut(db: &mut Db, slot: usize) -> &mut Set {
    match db.entry_mut(slot).obj_mut() {
        Some(Object::Set(s)) => s,
        _ => unreachable!("slot checked to hold a set"),
    }
}

fn new_set_entry(key: &[u8], s: Set, clock: u32) -> Entry {
    Entry::new(key, NewValue::Obj(Box::new(Object::Set(s))), None, clock)
}

#[inline]
fn reply_member(out: &mut ReplyBuf, m: Member) {
    match m {
        Member::Str(b) => out.bulk(b),
        Member::Int(n) => out.bulk_int(n),
    }
}

/// Writes a whole set as a RESP3 set (an array in RESP2).
fn reply_set(out: &mut ReplyBuf, s: &Set) {
    out.set(s.len());
    for m in s.iter() {
        reply_member(out, m);
    }
}

// ---------------------------------------------------------------------------------------
// SADD, SREM, SMOVE, SISMEMBER, SMISMEMBER, SCARD
// ---------------------------------------------------------------------------------------

/// SADD key member [member ...]: a new set gets the representation suited to the whole
/// batch (Redis's setTypeCreate with the argument count as size hint), an existing one is
/// converted up front if the batch cannot fit its current representation.
fn sadd(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let lim = limits(ctx);
    let key = ctx.arg(1);
    let members = &ctx.args[2..];
    let (db, h) = crate::key_db!(ctx, key);
    let (slot, created) = match look.find_set(db, h, key, false)? {
        Some(slot) => {
            set_at_mut(db, slot).reserve_for(members.len(), &lim);
            (slot, false)
        }
        None => {
            let s = Set::with_hint(members[0], members.len(), &lim);
            let slot = db.insert_new(h, new_set_entry(key, s, db.fresh_clock(look.now)));
            (slot, true)
        }
    };
    let added = set_at_mut(db, slot).add_many(members, &lim);
    ctx.out.integer(added as i64);
    // Redis's saddCommand: `new` from dbAdd, then the key and its event only if a member
    // was added; one change per member added.
    if created {
        ctx.added(key);
    }
    if added > 0 {
        ctx.modified(key);
        ctx.event(SET, "sadd", key);
    }
    ctx.dirty(added as u64);
    Ok(())
}

/// SREM key member [member ...]: the key goes away with its last member.
fn srem(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = look.find_set(db, h, key, false)? else {
        ctx.out.integer(0);
        return Ok(());
    };
    let s = set_at_mut(db, slot);
    let mut removed = 0;
    for m in &ctx.args[2..] {
        if s.remove(m) {
            removed += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    let emptied = remove_if_empty(db, slot, set_is_empty);
    ctx.out.integer(removed);
    if removed > 0 {
        ctx.modified(key);
        ctx.event(SET, "srem", key);
        if emptied {
            ctx.event(GENERIC, "del", key);
        }
        ctx.dirty(removed as u64);
    }
    Ok(())
}

/// SMOVE source destination member. As in Redis: a missing source answers 0 before any
/// type check, then both keys must hold sets, and moving within one key only tests
/// membership. The source is emptied (and deleted) before the destination is touched, and
/// the destination is looked up again since a deletion may move entries of its table.
fn smove(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let (src, dst, member) = (ctx.arg(1), ctx.arg(2), ctx.arg(3));
    let (db, hs) = crate::key_db!(ctx, src);
    let src_slot = db.lookup(hs, src, look.now);
    let (db, hd) = crate::key_db!(ctx, dst);
    let dst_live = db.lookup(hd, dst, look.now).is_some();
    if src_slot.is_none() {
        ctx.out.integer(0);
        return Ok(());
    }
    let (db, _) = crate::key_db!(ctx, src);
    let Some(src_slot) = look.find_set(db, hs, src, false)? else {
        unreachable!("source found above")
    };
    if dst_live {
        let (db, _) = crate::key_db!(ctx, dst);
        look.find_set(db, hd, dst, false)?;
    }
    let (db, _) = crate::key_db!(ctx, src);
    if src == dst {
        let hit = set_at(db, src_slot).contains(member);
        ctx.out.integer(hit as i64);
        return Ok(());
    }
    if !set_at_mut(db, src_slot).remove(member) {
        ctx.out.integer(0);
        return Ok(());
    }
    let emptied = remove_if_empty(db, src_slot, set_is_empty);
    let lim = limits(ctx);
    let (db, _) = crate::key_db!(ctx, dst);
    let (slot, created) = match db.find_raw(hd, dst) {
        Some(slot) => (slot, false),
        None => {
            let s = Set::with_hint(member, 1, &lim);
            let slot = db.insert_new(hd, new_set_entry(dst, s, db.fresh_clock(look.now)));
            (slot, true)
        }
    };
    let added = set_at_mut(db, slot).add(member, &lim);
    ctx.out.integer(1);
    // Redis's smoveCommand: the source's srem (and del), the destination's `new`, the source
    // modified and one change; then, only if the member was not in the destination yet,
    // one more change, the destination modified and its sadd.
    ctx.event(SET, "srem", src);
    if emptied {
        ctx.event(GENERIC, "del", src);
    }
    if created {
        ctx.added(dst);
    }
    ctx.modified(src);
    ctx.dirty(1);
    if added {
        ctx.dirty(1);
        ctx.modified(dst);
        ctx.event(SET, "sadd", dst);
    }
    Ok(())
}

fn sismember(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let (key, member) = (ctx.arg(1), ctx.arg(2));
    let (db, h) = crate::key_db!(ctx, key);
    let hit = match look.find_set(db, h, key, true)? {
        Some(slot) => set_at(db, slot).contains(member),
        None => false,
    };
    ctx.out.integer(hit as i64);
    Ok(())
}

/// SMISMEMBER key member [member ...]: a missing key is an empty set (all zeros).
fn smismember(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let slot = look.find_set(db, h, key, true)?;
    let members = &ctx.args[2..];
    ctx.out.array(members.len());
    for m in members {
        let hit = slot.is_some_and(|slot| set_at(db, slot).contains(m));
        ctx.out.integer(hit as i64);
    }
    Ok(())
}

fn scard(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let n = match look.find_set(db, h, key, true)? {
        Some(slot) => set_at(db, slot).len(),
        None => 0,
    };
    ctx.out.integer(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SPOP, SRANDMEMBER
// ---------------------------------------------------------------------------------------

/// SPOP key [count]. With a count the reply is a set; popping at least the whole set
/// replies with it (in the order SUNION would) and deletes the key.
fn spop(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() > 3 {
        return Err(Error::Syntax);
    }
    let count = match ctx.args.get(2) {
        // Redis's getPositiveLongFromObjectOrReply: one message for both failures.
        Some(a) => match int_arg(a) {
            Ok(n) if n >= 0 => Some(n as u64),
            _ => return Err(Error::msg("ERR value is out of range, must be positive")),
        },
        None => None,
    };
    let look = Look::new(ctx);
    let lim = limits(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = look.find_set(db, h, key, false)? else {
        match count {
            Some(_) => ctx.out.set(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let mut rng = rand::thread_rng();
    let s = set_at_mut(db, slot);
    match count {
        None => {
            // Redis's spopCommand: propagated as SREM of the member it popped.
            let m = s.pop_random(&mut rng);
            ctx.out.bulk(&m);
            let emptied = remove_if_empty(db, slot, set_is_empty);
            ctx.event(SET, "spop", key);
            if ctx.fx.propagating() {
                ctx.fx.propagate_as(|| argv![b"SREM", key, m]);
            }
            if emptied {
                ctx.event(GENERIC, "del", key);
            }
            ctx.modified(key);
            ctx.dirty(1);
        }
        // Nothing popped, nothing changed.
        Some(0) => ctx.out.set(0),
        Some(n) if n >= s.len() as u64 => {
            // The whole set: replied, deleted, and propagated as DEL (UNLINK with
            // lazyfree-lazy-server-del), as spopWithCountCommand does.
            let size = s.len();
            let all = set::union(&[Some(&*s)], &lim);
            reply_set(ctx.out, &all);
            db.remove_slot(slot);
            ctx.event(SET, "spop", key);
            ctx.dirty(size as u64);
            ctx.event(GENERIC, "del", key);
            if ctx.fx.propagating() {
                let lazy = ctx.server.config.get("lazyfree-lazy-server-del") == "yes";
                let del: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
                ctx.fx.propagate_as(|| argv![del, key]);
            }
            ctx.modified(key);
        }
        Some(n) => {
            // Fewer than the whole set: propagated as SREMs of up to 1024 members each
            // (alsoPropagate), the SPOP itself not at all.
            let popped = s.pop_many(n as usize, &lim, &mut rng);
            ctx.out.set(popped.len());
            for m in &popped {
                ctx.out.bulk(m);
            }
            ctx.event(SET, "spop", key);
            ctx.dirty(popped.len() as u64);
            if ctx.fx.propagating() {
                let dbi = ctx.client.db;
                for batch in popped.chunks(SPOP_BATCH) {
                    let mut argv = Vec::with_capacity(2 + batch.len());
                    argv.push(b"SREM".to_vec());
                    argv.push(key.to_vec());
                    argv.extend(batch.iter().map(|m| m.to_vec()));
                    ctx.fx.also(dbi, || argv);
                }
            }
            ctx.fx.propagate_nothing();
            ctx.modified(key);
        }
    }
    Ok(())
}

/// Members per SREM when SPOP with a count is propagated (Redis's batch size).
const SPOP_BATCH: usize = 1024;

/// SRANDMEMBER key [count]. A negative count allows repeats; its draws are streamed in
/// chunks, so a huge count needs no huge temporary vector.
fn srandmember(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() > 3 {
        return Err(Error::Syntax);
    }
    let count = match ctx.args.get(2) {
        Some(a) => {
            let n = int_arg(a)?;
            if n == i64::MIN {
                return Err(Error::msg(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            Some(n)
        }
        None => None,
    };
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = look.find_set(db, h, key, true)? else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let s = set_at(db, slot);
    let mut rng = rand::thread_rng();
    match count {
        None => reply_member(ctx.out, s.random_member(&mut rng)),
        Some(n) if n < 0 => {
            let mut left = n.unsigned_abs();
            ctx.out.array(left as usize);
            while left > 0 {
                let chunk = left.min(1024);
                for m in s.random_members(-(chunk as i64), &mut rng) {
                    reply_member(ctx.out, m);
                }
                left -= chunk;
                // Past the output buffer limit the client is being closed (Redis stops too).
                if ctx.out.over_limit() {
                    break;
                }
            }
        }
        Some(n) => {
            let picked = s.random_members(n, &mut rng);
            ctx.out.array(picked.len());
            for m in picked {
                reply_member(ctx.out, m);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SMEMBERS, SINTER, SINTERCARD, SUNION, SDIFF and the STORE forms
// ---------------------------------------------------------------------------------------

/// Operand sets moved out of their entries; see the module comment. `which[j]` is the index
/// in `sets` of the j-th named key (a key named twice shares one set), `None` if missing.
struct Operands<'a> {
    keys: Vec<&'a [u8]>,
    sets: Vec<Set>,
    which: Vec<Option<usize>>,
}

impl Operands<'_> {
    /// The operands in argument order, `None` for missing keys.
    fn list(&self) -> Vec<Option<&Set>> {
        self.which
            .iter()
            .map(|w| w.map(|i| &self.sets[i]))
            .collect()
    }

    /// Puts every set back into its key's entry.
    fn restore(self, ctx: &mut Ctx) {
        for (key, s) in self.keys.into_iter().zip(self.sets) {
            let (db, h) = crate::key_db!(ctx, key);
            let slot = db
                .find_raw(h, key)
                .expect("an operand key stays while it is taken");
            *set_at_mut(db, slot) = s;
        }
    }
}

/// Looks up `keys` (as reads) and takes their sets. On WRONGTYPE everything already taken is
/// put back and the error returned, as Redis fails on the first non-set it meets.
fn take_operands<'a>(ctx: &mut Ctx<'a, '_>, keys: &[&'a [u8]]) -> Result<Operands<'a>> {
    let look = Look::new(ctx);
    let mut ops = Operands {
        keys: Vec::new(),
        sets: Vec::new(),
        which: Vec::with_capacity(keys.len()),
    };
    for (j, &key) in keys.iter().enumerate() {
        if let Some(k) = keys[..j].iter().position(|&earlier| earlier == key) {
            let w = ops.which[k];
            ops.which.push(w);
            continue;
        }
        let (db, h) = crate::key_db!(ctx, key);
        match look.find_set(db, h, key, true) {
            Ok(Some(slot)) => {
                ops.which.push(Some(ops.sets.len()));
                ops.sets.push(std::mem::take(set_at_mut(db, slot)));
                ops.keys.push(key);
            }
            Ok(None) => ops.which.push(None),
            Err(e) => {
                ops.restore(ctx);
                return Err(e);
            }
        }
    }
    Ok(ops)
}

/// Stores `result` under `dst` (replacing any value and deadline) and replies with its size;
/// an empty result deletes `dst` and replies 0. Effects as Redis's: a stored result is
/// setKey (`new` if created, `dst` modified), then `event`, one change; an empty result that
/// deleted `dst` is one change, `dst` modified and `del`; deleting nothing changes nothing.
/// Like Redis's dbDelete, the empty result deletes `dst` even if its deadline has passed and
/// nothing has looked at it since.
fn store<'a>(ctx: &mut Ctx<'a, '_>, dst: &'a [u8], result: Set, event: &'static str) {
    let now = ctx.now;
    let (db, h) = crate::key_db!(ctx, dst);
    let n = result.len();
    ctx.out.integer(n as i64);
    if n == 0 {
        if let Some(slot) = db.find_raw(h, dst) {
            db.remove_slot(slot);
            ctx.dirty(1);
            ctx.modified(dst);
            ctx.event(GENERIC, "del", dst);
        }
    } else {
        db.lookup(h, dst, now);
        let existed = db
            .put(h, new_set_entry(dst, result, db.fresh_clock(now)))
            .is_some();
        if !existed {
            ctx.added(dst);
        }
        ctx.modified(dst);
        ctx.event(SET, event, dst);
        ctx.dirty(1);
    }
}

/// SMEMBERS key: SINTER of one key, as in Redis 7.2.
fn smembers(ctx: &mut Ctx) -> Result<()> {
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    match look.find_set(db, h, key, true)? {
        Some(slot) => reply_set(ctx.out, set_at(db, slot)),
        None => ctx.out.set(0),
    }
    Ok(())
}

/// SINTER key [key ...]: empty as soon as one key is missing (after every key's type check).
fn sinter(ctx: &mut Ctx) -> Result<()> {
    let args = ctx.args;
    let ops = take_operands(ctx, &args[1..])?;
    let list = ops.list();
    if list.iter().any(Option::is_none) {
        ctx.out.set(0);
    } else {
        let sets: Vec<&Set> = list.iter().flatten().copied().collect();
        let members = set::inter(&sets, 0);
        ctx.out.set(members.len());
        for m in members {
            reply_member(ctx.out, m);
        }
    }
    drop(list);
    ops.restore(ctx);
    Ok(())
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx) -> Result<()> {
    let numkeys = match int_arg(ctx.arg(1)) {
        Ok(n) if n >= 1 => n as usize,
        _ => return Err(Error::msg("ERR numkeys should be greater than 0")),
    };
    if numkeys > ctx.args.len() - 2 {
        return Err(Error::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < ctx.args.len() {
        if is(ctx.arg(i), "limit") && i + 1 < ctx.args.len() {
            limit = match int_arg(ctx.arg(i + 1)) {
                Ok(n) if n >= 0 => n as usize,
                _ => return Err(Error::msg("ERR LIMIT can't be negative")),
            };
            i += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let args = ctx.args;
    let ops = take_operands(ctx, &args[2..2 + numkeys])?;
    let list = ops.list();
    let n = if list.iter().any(Option::is_none) {
        0
    } else {
        let sets: Vec<&Set> = list.iter().flatten().copied().collect();
        set::inter(&sets, limit).len()
    };
    drop(list);
    ops.restore(ctx);
    ctx.out.integer(n as i64);
    Ok(())
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx) -> Result<()> {
    let lim = limits(ctx);
    let args = ctx.args;
    let ops = take_operands(ctx, &args[2..])?;
    let list = ops.list();
    let result = if list.iter().any(Option::is_none) {
        Set::default()
    } else {
        let sets: Vec<&Set> = list.iter().flatten().copied().collect();
        set::inter_store(&sets, &lim)
    };
    drop(list);
    ops.restore(ctx);
    store(ctx, ctx.arg(1), result, "sinterstore");
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Diff,
}

/// SUNION / SDIFF and their STORE forms (Redis's sunionDiffGenericCommand): the result is
/// built as a set, then either replied (in that set's order) or stored.
fn union_diff<'a>(ctx: &mut Ctx<'a, '_>, op: Op, dst: Option<&'a [u8]>) -> Result<()> {
    let lim = limits(ctx);
    let first = if dst.is_some() { 2 } else { 1 };
    let args = ctx.args;
    let ops = take_operands(ctx, &args[first..])?;
    let list = ops.list();
    let result = match op {
        Op::Union => set::union(&list, &lim),
        Op::Diff => set::diff(&list, &lim),
    };
    drop(list);
    ops.restore(ctx);
    match dst {
        Some(dst) => {
            let event = match op {
                Op::Union => "sunionstore",
                Op::Diff => "sdiffstore",
            };
            store(ctx, dst, result, event)
        }
        None => reply_set(ctx.out, &result),
    }
    Ok(())
}

fn sunion(ctx: &mut Ctx) -> Result<()> {
    union_diff(ctx, Op::Union, None)
}

fn sunionstore(ctx: &mut Ctx) -> Result<()> {
    union_diff(ctx, Op::Union, Some(ctx.arg(1)))
}

fn sdiff(ctx: &mut Ctx) -> Result<()> {
    union_diff(ctx, Op::Diff, None)
}

fn sdiffstore(ctx: &mut Ctx) -> Result<()> {
    union_diff(ctx, Op::Diff, Some(ctx.arg(1)))
}

// ---------------------------------------------------------------------------------------
// SSCAN
// ---------------------------------------------------------------------------------------

/// SSCAN key cursor [MATCH pattern] [COUNT count]. As in Redis the cursor is checked first,
/// then the key (a missing key is an empty, finished scan whatever the options), then the
/// options; TYPE is not an option here.
fn sscan(ctx: &mut Ctx) -> Result<()> {
    let cursor = super::cursor_arg(ctx.arg(2))?;
    let look = Look::new(ctx);
    let key = ctx.arg(1);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = look.find_set(db, h, key, true)? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let args = ctx.args;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        let a = args[i];
        if is(a, "count") && has_value {
            let n = int_arg(args[i + 1])?;
            if n < 1 {
                return Err(Error::Syntax);
            }
            count = n.min(usize::MAX as i64) as usize;
        } else if is(a, "match") && has_value {
            let p = args[i + 1];
            pattern = if is_match_all(p) { None } else { Some(p) };
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }
    let s = set_at(db, slot);
    let mut found: Vec<Member> = Vec::new();
    let next = s.scan(cursor, count, |m| {
        let keep = match pattern {
            Some(p) => m.with_bytes(|b| glob_match(p, b, false)),
            None => true,
        };
        if keep {
            found.push(m);
        }
    });
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(found.len());
    for m in found {
        reply_member(ctx.out, m);
    }
    Ok(())
}
