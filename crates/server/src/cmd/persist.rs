//! Persistence commands: SAVE, BGSAVE, DUMP, RESTORE. LASTSAVE lives with the other server
//! commands in admin.rs; the files and snapshots are in `crate::persist`.

use cinnabar_engine::rdb::{self, RestoreError};
use cinnabar_engine::{Error, Result};

use super::{int_arg, is};
use crate::argv;
use crate::dispatch::{Ctx, Registry};
use crate::notify::GENERIC;
use crate::persist::rdbfile::{self, BgsaveError};

pub fn register(r: &mut Registry) {
    r.add_all("save", save);
    r.add("bgsave", bgsave);
    r.add("dump", dump);
    r.add("restore", restore);
    r.add("bgrewriteaof", bgrewriteaof);
}

/// BGREWRITEAOF: compacts the append-only file from a fork-less snapshot.
fn bgrewriteaof(ctx: &mut Ctx) -> Result<()> {
    let Some(server) = ctx.server.persist.server() else {
        return Err(Error::msg("ERR server is shutting down"));
    };
    let aof = &ctx.server.persist.aof;
    if aof
        .rewrite_running
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return Err(Error::msg(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    match crate::persist::aof::rewrite_background(&server) {
        Ok(()) => ctx
            .out
            .simple(b"Background append only file rewriting started"),
        Err("scheduled") => ctx
            .out
            .simple(b"Background append only file rewriting scheduled"),
        Err("off") => match crate::persist::aof::rewrite_while_off(ctx.server) {
            Ok(()) => ctx
                .out
                .simple(b"Background append only file rewriting started"),
            Err(e) => {
                tracing::warn!("AOF rewrite: {e}");
                return Err(Error::msg(
                    "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
                ));
            }
        },
        Err("running") => {
            return Err(Error::msg(
                "ERR Background append only file rewriting already in progress",
            ))
        }
        Err(_) => {
            return Err(Error::msg(
                "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
            ))
        }
    }
    Ok(())
}

/// SAVE: a synchronous save with every shard locked (Redis's SAVE blocks its server too).
fn save(ctx: &mut Ctx) -> Result<()> {
    if ctx
        .server
        .persist
        .bgsave_running
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return Err(Error::msg("ERR Background save already in progress"));
    }
    match rdbfile::save_locked(ctx.server, ctx.data) {
        Ok(()) => ctx.out.ok(),
        Err(_) => ctx.out.error(b"ERR"),
    }
    Ok(())
}

/// BGSAVE [SCHEDULE].
fn bgsave(ctx: &mut Ctx) -> Result<()> {
    let schedule = match ctx.args.len() {
        1 => false,
        2 if is(ctx.arg(1), "schedule") => true,
        _ => return Err(Error::Syntax),
    };
    let Some(server) = ctx.server.persist.server() else {
        return Err(Error::msg("ERR server is shutting down"));
    };
    match rdbfile::bgsave(&server) {
        Ok(()) => ctx.out.simple(b"Background saving started"),
        Err(BgsaveError::InProgress) => {
            return Err(Error::msg("ERR Background save already in progress"))
        }
        Err(BgsaveError::Busy) if schedule => {
            ctx.server
                .persist
                .bgsave_scheduled
                .store(true, std::sync::atomic::Ordering::Relaxed);
            ctx.out.simple(b"Background saving scheduled");
        }
        Err(BgsaveError::Busy) => return Err(Error::msg(
            "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
        )),
    }
    Ok(())
}

/// DUMP key: the value in RDB format with version and CRC64, as Redis makes it.
fn dump(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    let (now, server) = (ctx.now, ctx.server);
    let opts = crate::persist::save_opts(ctx.server);
    let (db, h) = crate::key_db!(ctx, key);
    match db.lookup(h, key, now) {
        None => {
            super::read_miss(server, db, key);
            ctx.out.null();
        }
        Some(slot) => {
            db.hits += 1;
            let payload = rdb::dump(db.entry(slot).value(), &opts, now);
            ctx.out.bulk(&payload);
        }
    }
    Ok(())
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency], with
/// Redis's checks in Redis's order (options, BUSYKEY, TTL, payload footer, payload data).
///
/// Effects as Redis's restoreCommand: with REPLACE an existing key is deleted without an
/// event of its own (Redis's dbDelete, which does not look at deadlines); the restored key
/// raises `new` then `restore`, is modified and counts one change, and a relative TTL is
/// propagated as the absolute deadline it gave, with ABSTTL appended. A TTL already in the
/// past restores nothing: if REPLACE deleted a key, that is the change (modified, `del`,
/// propagated as DEL, or UNLINK under `lazyfree-lazy-server-del`).
fn restore<'a>(ctx: &mut Ctx<'a, '_>) -> Result<()> {
    let key = ctx.arg(1);
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < ctx.args.len() {
        let a = ctx.arg(j);
        let more = j + 1 < ctx.args.len();
        if is(a, "replace") {
            replace = true;
        } else if is(a, "absttl") {
            absttl = true;
        } else if is(a, "idletime") && more && freq.is_none() {
            let v = int_arg(ctx.arg(j + 1))?;
            if v < 0 {
                return Err(Error::msg("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if is(a, "freq") && more && idle.is_none() {
            let v = int_arg(ctx.arg(j + 1))?;
            if !(0..=255).contains(&v) {
                return Err(Error::msg(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let now = ctx.now;
    let lim = crate::persist::limits(ctx.server);
    let (ttl_arg, payload) = (ctx.arg(2), ctx.arg(3));
    let (db, h) = crate::key_db!(ctx, key);
    // Redis looks the key up (expiring it) only to refuse it; REPLACE deletes whatever is
    // there.
    let existing = if replace {
        db.find_raw(h, key)
    } else {
        db.lookup(h, key, now)
    };
    if !replace && existing.is_some() {
        return Err(Error::msg("BUSYKEY Target key name already exists."));
    }
    let mut ttl = int_arg(ttl_arg)?;
    if ttl < 0 {
        return Err(Error::msg("ERR Invalid TTL value, must be >= 0"));
    }
    let value = match rdb::restore(payload, &lim) {
        Ok(v) => v,
        Err(RestoreError::Footer) => {
            return Err(Error::msg("ERR DUMP payload version or checksum are wrong"))
        }
        Err(RestoreError::Format) => return Err(Error::msg("ERR Bad data format")),
    };
    let deleted = match existing {
        Some(slot) => {
            cinnabar_engine::lazyfree::dispose(db.remove_slot(slot));
            true
        }
        None => false,
    };
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(now);
    }
    if ttl != 0 && ttl <= now {
        // Already expired: nothing is restored; the key is just deleted (if REPLACE found
        // one).
        if deleted {
            ctx.wrote(GENERIC, "del", key);
            if ctx.fx.propagating() {
                let lazy = ctx.server.config.get_bool("lazyfree-lazy-server-del");
                let del: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
                ctx.fx.propagate_as(|| argv![del, key]);
            }
        }
        ctx.out.ok();
        return Ok(());
    }
    let clk = rdbfile::loaded_clock(
        &db.access,
        now,
        idle.map(|i| i as u64),
        freq.map(|f| f as u8),
    );
    let entry = rdbfile::loaded_entry(key, value, (ttl != 0).then_some(ttl), clk);
    db.insert_new(h, entry);
    ctx.added(key);
    ctx.wrote(GENERIC, "restore", key);
    if ttl != 0 && !absttl && ctx.fx.propagating() {
        // Redis's rewrite: the absolute deadline in place of the TTL, and ABSTTL at the end.
        let mut v: Vec<Vec<u8>> = ctx.args.iter().map(|a| a.to_vec()).collect();
        v[2] = itoa::Buffer::new().format(ttl).as_bytes().to_vec();
        v.push(b"ABSTTL".to_vec());
        ctx.fx.propagate_as(|| v);
    }
    ctx.out.ok();
    Ok(())
}
