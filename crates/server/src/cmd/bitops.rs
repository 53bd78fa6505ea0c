//! Bitmap commands (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO.
//!
//! The bit arithmetic lives in [`cinnabar_engine::bits`]; this file looks keys up, checks
//! types, validates arguments in the order Redis does (which decides which error a client sees
//! when several arguments are wrong) and writes the replies.
//!
//! Writes go through `string::raw_string`, which turns the value into a growable
//! `Object::Str`, so a bitmap built one SETBIT at a time grows with amortised cost, and
//! integer-encoded values are edited as their decimal text, as in Redis.

use std::sync::atomic::Ordering;

use cinnabar_engine::bits::{self, BitOp, BitUnit, FieldType, Overflow};
use cinnabar_engine::{Db, Entry, Error, NewValue, Object, Result};

use super::string::raw_string;
use super::{int_arg, is, str_value};
use crate::dispatch::{Ctx, Registry};
use crate::notify::{GENERIC, STRING};
use crate::server::Server;

pub fn register(r: &mut Registry) {
    r.add("setbit", setbit);
    r.add("getbit", getbit);
    r.add("bitcount", bitcount);
    r.add("bitpos", bitpos);
    r.add("bitop", bitop);
    r.add("bitfield", bitfield);
    r.add("bitfield_ro", bitfield_ro);
}

/// `proto-max-bulk-len`, which bounds every bit offset: a bitmap may not grow past the
/// largest string a client could send.
fn max_bulk_len(ctx: &Ctx) -> u64 {
    ctx.server
        .config
        .live
        .proto_max_bulk_len
        .load(Ordering::Relaxed)
}

/// A bit offset argument (SETBIT, GETBIT), bounded by the configured `proto-max-bulk-len`
/// rather than the 512 MiB default that [`bits::parse_bit_offset`] assumes.
fn bit_offset_arg(arg: &[u8], max_bulk_len: u64) -> Result<u64> {
    bits::parse_offset_limited(arg, None, Some(max_bulk_len))
        .ok_or(Error::msg(bits::ERR_BIT_OFFSET))
}

/// Redis's lookupKeyRead: removes an expired key, counts a keyspace hit or miss (a miss
/// raises `keymiss`), and refreshes the access clock unless the client asked for CLIENT
/// NO-TOUCH.
fn lookup_read(
    server: &Server,
    db: &mut Db,
    h: u64,
    key: &[u8],
    now: i64,
    no_touch: bool,
) -> Option<usize> {
    let slot = db.lookup(h, key, now);
    match slot {
        Some(s) => {
            db.hits += 1;
            if !no_touch {
                db.touch(s, now);
            }
        }
        None => super::read_miss(server, db, key),
    }
    slot
}

/// Redis's lookupKeyWrite: like [`lookup_read`] without the hit/miss statistics.
fn lookup_write(db: &mut Db, h: u64, key: &[u8], now: i64, no_touch: bool) -> Option<usize> {
    let slot = db.lookup(h, key, now);
    if let (Some(s), false) = (slot, no_touch) {
        db.touch(s, now);
    }
    slot
}

/// A new string entry holding a bitmap. Bitmaps are edited in place, so they start out as the
/// growable `Object::Str` (Redis's "raw" encoding) rather than packed into the entry.
fn bitmap_entry(key: &[u8], bitmap: Vec<u8>, clock: u32) -> Entry {
    Entry::new(
        key,
        NewValue::Obj(Box::new(Object::Str(bitmap))),
        None,
        clock,
    )
}

// ---------------------------------------------------------------------------------------
// SETBIT, GETBIT
// ---------------------------------------------------------------------------------------

/// SETBIT key offset 0|1: the previous bit. A missing key is created (even to store a 0), and
/// the string is zero-padded up to the byte holding `offset`. As Redis's setbitCommand, the
/// command changed something (modified, `setbit`, one change) only if it created the key,
/// grew the string or flipped the bit; a created key raises `new` first.
fn setbit<'a>(ctx: &mut Ctx<'a, '_>) -> Result<()> {
    let args = ctx.args;
    let (key, now, no_touch) = (args[1], ctx.now, ctx.client.no_touch);
    // Redis validates the offset, then the value, and only then looks at the key.
    let offset = bit_offset_arg(args[2], max_bulk_len(ctx))?;
    let bit = bits::parse_bit_value(args[3]).ok_or(Error::msg(bits::ERR_BIT_VALUE))?;
    let (db, h) = crate::key_db!(ctx, key);
    let (old, created, changed) = match lookup_write(db, h, key, now, no_touch) {
        Some(slot) => {
            let bitmap = raw_string(db.entry_mut(slot))?;
            let len = bitmap.len();
            let old = bits::set_bit(bitmap, offset, bit);
            (old, false, bitmap.len() != len || old != bit)
        }
        None => {
            let mut bitmap = Vec::new();
            let old = bits::set_bit(&mut bitmap, offset, bit);
            db.insert_new(h, bitmap_entry(key, bitmap, db.fresh_clock(now)));
            (old, true, true)
        }
    };
    if created {
        ctx.added(key);
    }
    if changed {
        ctx.wrote(STRING, "setbit", key);
    }
    ctx.out.integer(i64::from(old));
    Ok(())
}

/// GETBIT key offset: 0 past the end of the string or for a missing key. The offset is
/// validated (with SETBIT's limit) even though reading far away is harmless, as Redis does.
fn getbit(ctx: &mut Ctx) -> Result<()> {
    let args = ctx.args;
    let (key, now, no_touch, server) = (args[1], ctx.now, ctx.client.no_touch, ctx.server);
    let offset = bit_offset_arg(args[2], max_bulk_len(ctx))?;
    let (db, h) = crate::key_db!(ctx, key);
    let bit = match lookup_read(server, db, h, key, now, no_touch) {
        Some(slot) => {
            let v = str_value(db.entry(slot))?;
            let mut scratch = itoa::Buffer::new();
            bits::get_bit(v.bytes(&mut scratch), offset)
        }
        None => 0,
    };
    ctx.out.integer(i64::from(bit));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// BITCOUNT, BITPOS
// ---------------------------------------------------------------------------------------

/// BITCOUNT key [start end [BYTE|BIT]].
///
/// Redis 7.2 looks the key up before it reads the range, so a missing key answers 0 and a
/// non-string answers WRONGTYPE whatever the other arguments are; only then come the integer
/// errors, the "both negative and reversed" shortcut (checked before the unit is read, so
/// `BITCOUNT k -1 -2 junk` is 0), and the syntax errors.
fn bitcount(ctx: &mut Ctx) -> Result<()> {
    let args = ctx.args;
    let (key, now, no_touch, server) = (args[1], ctx.now, ctx.client.no_touch, ctx.server);
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = lookup_read(server, db, h, key, now, no_touch) else {
        ctx.out.integer(0);
        return Ok(());
    };
    let v = str_value(db.entry(slot))?;
    let range = match args.len() {
        2 => None,
        4 | 5 => {
            let start = int_arg(args[2])?;
            let end = int_arg(args[3])?;
            if start < 0 && end < 0 && start > end {
                ctx.out.integer(0);
                return Ok(());
            }
            let unit = match args.get(4) {
                Some(u) => bits::parse_bit_unit(u).ok_or(Error::Syntax)?,
                None => BitUnit::Byte,
            };
            Some((start, end, unit))
        }
        _ => return Err(Error::Syntax),
    };
    let mut scratch = itoa::Buffer::new();
    ctx.out
        .integer(bits::bitcount(v.bytes(&mut scratch), range));
    Ok(())
}

/// BITPOS key bit [start [end [BYTE|BIT]]].
///
/// The bit argument is checked first; then a missing key is an endless run of zeros (0 when
/// looking for 0, -1 when looking for 1) without reading the range. For an existing key the
/// arguments are read in Redis's order: start, the unit, then end.
fn bitpos(ctx: &mut Ctx) -> Result<()> {
    let args = ctx.args;
    let (key, now, no_touch, server) = (args[1], ctx.now, ctx.client.no_touch, ctx.server);
    let bit = int_arg(args[2])?;
    if bit != 0 && bit != 1 {
        return Err(Error::msg(bits::ERR_BITPOS_BIT));
    }
    let (db, h) = crate::key_db!(ctx, key);
    let Some(slot) = lookup_read(server, db, h, key, now, no_touch) else {
        ctx.out.integer(if bit == 1 { -1 } else { 0 });
        return Ok(());
    };
    let v = str_value(db.entry(slot))?;
    let (start, end, unit) = match args.len() {
        3 => (None, None, BitUnit::Byte),
        4..=6 => {
            let start = int_arg(args[3])?;
            let unit = match args.get(5) {
                Some(u) => bits::parse_bit_unit(u).ok_or(Error::Syntax)?,
                None => BitUnit::Byte,
            };
            let end = args.get(4).map(|e| int_arg(e)).transpose()?;
            (Some(start), end, unit)
        }
        _ => return Err(Error::Syntax),
    };
    let mut scratch = itoa::Buffer::new();
    ctx.out.integer(bits::bitpos(
        v.bytes(&mut scratch),
        bit as u8,
        start,
        end,
        unit,
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------------------

/// BITOP AND|OR|XOR|NOT destkey key [key ...]: the length of the result, which is as long as
/// the longest source (shorter ones and missing keys read as zeros).
///
/// The sources are folded one at a time into the running result instead of being copied out
/// of the keyspace all at once (a source may live in another shard, so it cannot stay
/// borrowed): the operations are associative over zero-padded strings, and peak memory stays
/// near twice the result size however many sources there are. A non-string source fails the
/// command before anything is written. The destination is replaced whatever its type, loses
/// its TTL, and is deleted when the result is empty.
///
/// Effects as Redis's bitopCommand: a result is stored as setKey does it (`new` if the key
/// did not exist, modified) and raises `set`; an empty result deletes the destination if it
/// is there at all (Redis's dbDelete, which does not look at deadlines) and raises `del`.
/// Either is one change.
fn bitop<'a>(ctx: &mut Ctx<'a, '_>) -> Result<()> {
    let args = ctx.args;
    let (now, no_touch, server) = (ctx.now, ctx.client.no_touch, ctx.server);
    let op = bits::parse_bitop(args[1]).ok_or(Error::Syntax)?;
    if op == BitOp::Not && args.len() != 4 {
        return Err(Error::msg(bits::ERR_BITOP_NOT));
    }
    let mut result: Option<Vec<u8>> = None;
    for &key in &args[3..] {
        let (db, h) = crate::key_db!(ctx, key);
        let slot = lookup_read(server, db, h, key, now, no_touch);
        let v = match slot {
            Some(s) => Some(str_value(db.entry(s))?),
            None => None,
        };
        let mut scratch = itoa::Buffer::new();
        let src: &[u8] = v.as_ref().map_or(&[], |v| v.bytes(&mut scratch));
        result = Some(match result {
            None => bits::bitop(op, &[src]),
            Some(acc) => bits::bitop(op, &[&acc, src]),
        });
    }
    let result = result.unwrap_or_default();
    let len = result.len() as i64;
    let dest = args[2];
    let (db, h) = crate::key_db!(ctx, dest);
    if result.is_empty() {
        if let Some(slot) = db.find_raw(h, dest) {
            db.remove_slot(slot);
            ctx.wrote(GENERIC, "del", dest);
        }
    } else {
        let existed = db.lookup(h, dest, now).is_some();
        db.put(h, bitmap_entry(dest, result, db.fresh_clock(now)));
        if !existed {
            ctx.added(dest);
        }
        ctx.wrote(STRING, "set", dest);
    }
    ctx.out.integer(len);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// BITFIELD, BITFIELD_RO
// ---------------------------------------------------------------------------------------

/// One BITFIELD subcommand, with the OVERFLOW mode in force where it appeared.
struct FieldOp {
    kind: FieldKind,
    ty: FieldType,
    offset: u64,
    overflow: Overflow,
}

enum FieldKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// Parses every subcommand of `BITFIELD key ...` before anything runs, so an invalid
/// argument anywhere fails the whole command without side effects. Returns the operations and,
/// if any of them writes, the highest bit a write touches.
fn parse_field_ops(args: &[&[u8]], max_bulk_len: u64) -> Result<(Vec<FieldOp>, Option<u64>)> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = args[j];
        // The arity checks are part of the matching: "GET i8" at the end of the command is a
        // syntax error, not a missing-argument error.
        let write = if is(sub, "get") && remaining >= 2 {
            false
        } else if (is(sub, "set") || is(sub, "incrby")) && remaining >= 3 {
            true
        } else if is(sub, "overflow") && remaining >= 1 {
            overflow =
                bits::parse_overflow(args[j + 1]).ok_or(Error::msg(bits::ERR_BITFIELD_OVERFLOW))?;
            j += 2;
            continue;
        } else {
            return Err(Error::Syntax);
        };
        let ty = bits::parse_type(args[j + 1]).ok_or(Error::msg(bits::ERR_BITFIELD_TYPE))?;
        let offset = bits::parse_offset_limited(args[j + 2], Some(ty.bits()), Some(max_bulk_len))
            .ok_or(Error::msg(bits::ERR_BIT_OFFSET))?;
        let kind = if write {
            let last = offset + u64::from(ty.bits()) - 1;
            highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
            let n = int_arg(args[j + 3])?;
            if is(sub, "set") {
                FieldKind::Set(n)
            } else {
                FieldKind::IncrBy(n)
            }
        } else {
            FieldKind::Get
        };
        ops.push(FieldOp {
            kind,
            ty,
            offset,
            overflow,
        });
        j += if write { 4 } else { 3 };
    }
    Ok((ops, highest_write))
}

/// Runs `ops` on a bitmap already grown to cover every write and replies with an array of one
/// element per operation: GET and INCRBY give the field's (new) value, SET the previous one,
/// and a write refused by OVERFLOW FAIL a nil.
///
/// Returns Redis's `changes`: the writes that were not refused and changed their field, or
/// every write not refused when `grown` (the key was created or the string had to grow).
fn run_field_ops(
    bitmap: &mut Vec<u8>,
    ops: &[FieldOp],
    grown: bool,
    out: &mut cinnabar_resp::ReplyBuf,
) -> u64 {
    let mut changes = 0;
    out.array(ops.len());
    for op in ops {
        let before = match op.kind {
            FieldKind::Get => None,
            _ => Some(bits::field_get(bitmap, op.offset, op.ty)),
        };
        let reply = match op.kind {
            FieldKind::Get => Some(bits::field_get(bitmap, op.offset, op.ty)),
            FieldKind::Set(v) => bits::field_set(bitmap, op.offset, op.ty, v, op.overflow),
            FieldKind::IncrBy(n) => bits::field_incrby(bitmap, op.offset, op.ty, n, op.overflow),
        };
        if let (Some(old), Some(_)) = (before, reply) {
            if grown || bits::field_get(bitmap, op.offset, op.ty) != old {
                changes += 1;
            }
        }
        match reply {
            Some(n) => out.integer(n),
            None => out.null(),
        }
    }
    changes
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] ...
fn bitfield(ctx: &mut Ctx) -> Result<()> {
    bitfield_generic(ctx, false)
}

/// BITFIELD_RO key [GET type offset ...]: BITFIELD restricted to GET, so that it can run on
/// replicas and be routed as a read.
fn bitfield_ro(ctx: &mut Ctx) -> Result<()> {
    bitfield_generic(ctx, true)
}

/// Both BITFIELD variants, as Redis's bitfieldGeneric: parse everything, then either read (no
/// write among the subcommands: the key is never created) or make room up to the furthest
/// write and run the subcommands in order on the same string.
///
/// The string is grown before any subcommand runs, so a command whose writes all fail under
/// OVERFLOW FAIL still creates or extends the key, as in Redis. Effects, as Redis: `new` when
/// the key is created; modified, `setbit` and one change per write that changed something
/// (see [`run_field_ops`]), only if there was one. (So, as in Redis, a key created by writes
/// that all failed raises `new` but changes nothing and is not propagated.)
fn bitfield_generic<'a>(ctx: &mut Ctx<'a, '_>, read_only: bool) -> Result<()> {
    let args = ctx.args;
    let (key, now, no_touch, server) = (args[1], ctx.now, ctx.client.no_touch, ctx.server);
    let (ops, highest_write) = parse_field_ops(args, max_bulk_len(ctx))?;
    let (db, h) = crate::key_db!(ctx, key);
    match highest_write {
        None => {
            let slot = lookup_read(server, db, h, key, now, no_touch);
            let v = match slot {
                Some(s) => Some(str_value(db.entry(s))?),
                None => None,
            };
            let mut scratch = itoa::Buffer::new();
            let s: &[u8] = v.as_ref().map_or(&[], |v| v.bytes(&mut scratch));
            ctx.out.array(ops.len());
            for op in &ops {
                ctx.out.integer(bits::field_get(s, op.offset, op.ty));
            }
        }
        Some(_) if read_only => return Err(Error::msg(bits::ERR_BITFIELD_RO)),
        Some(last_bit) => {
            let (created, changes) = match lookup_write(db, h, key, now, no_touch) {
                Some(slot) => {
                    // Fails with WRONGTYPE before any part of the reply is written.
                    let bitmap = raw_string(db.entry_mut(slot))?;
                    let len = bitmap.len();
                    bits::grow_to_bit(bitmap, last_bit);
                    let grown = bitmap.len() != len;
                    (false, run_field_ops(bitmap, &ops, grown, ctx.out))
                }
                None => {
                    let mut bitmap = Vec::new();
                    bits::grow_to_bit(&mut bitmap, last_bit);
                    let changes = run_field_ops(&mut bitmap, &ops, true, ctx.out);
                    db.insert_new(h, bitmap_entry(key, bitmap, db.fresh_clock(now)));
                    (true, changes)
                }
            };
            if created {
                ctx.added(key);
            }
            if changes > 0 {
                ctx.modified(key);
                ctx.event(STRING, "setbit", key);
                ctx.dirty(changes);
            }
        }
    }
    Ok(())
}
