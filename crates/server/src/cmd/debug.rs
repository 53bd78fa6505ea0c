//! DEBUG (the subcommands the Redis test suite and tools use) and SHUTDOWN.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cinnabar_engine::{num, Entry, Error, Result};

use super::{container_help as help, int_arg, is, lossy, unknown_subcommand};
use crate::dispatch::{Ctx, Registry};

pub fn register(r: &mut Registry) {
    r.add("debug", debug);
    r.add("shutdown", shutdown);
}

/// DEBUG subcommand [arg ...]. The dispatcher already refused it unless
/// enable-debug-command allows this client. Only the subcommands that make sense without
/// persistence or Redis's internal encodings exist; they are matched with their exact
/// argument counts as in Redis, anything else is an unknown subcommand.
fn debug(ctx: &mut Ctx) -> Result<()> {
    let sub = ctx.arg(1).to_ascii_lowercase();
    let argc = ctx.args.len();
    match (sub.as_slice(), argc) {
        (b"help", 2) => debug_help(ctx),
        (b"sleep", 3) => {
            // Like strtod: whatever does not parse sleeps 0 seconds. The sleep blocks this
            // worker thread (Redis blocks the whole server) but holds no shard lock, since
            // DEBUG is keyless, so clients on other threads carry on.
            let secs = std::str::from_utf8(ctx.arg(2))
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            if secs.is_finite() && secs > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(secs.min(1e9)));
            }
            ctx.out.ok();
        }
        (b"aof-flush-sleep", 3) => {
            // µs slept before each AOF write (Redis's test knob for the fsync barrier).
            let us = atoi(ctx.arg(2)).max(0) as u64;
            ctx.server
                .persist
                .aof
                .flush_sleep_us
                .store(us, Ordering::Relaxed);
            ctx.out.ok();
        }
        (b"set-disable-deny-scripts", 3) => {
            let on = atoi(ctx.arg(2)) != 0;
            ctx.server
                .scripts
                .allow_noscript
                .store(on, Ordering::Relaxed);
            ctx.out.ok();
        }
        (b"pause-cron", 3) => {
            let on = atoi(ctx.arg(2)) != 0;
            ctx.server.cron_paused.store(on, Ordering::Relaxed);
            ctx.out.ok();
        }
        (b"set-active-expire", 3) => {
            let on = atoi(ctx.arg(2)) != 0;
            ctx.server
                .config
                .live
                .active_expire_enabled
                .store(on, Ordering::Relaxed);
            ctx.out.ok();
        }
        (b"digest", 2) => super::digest::dataset(ctx)?,
        (b"object", 3) => super::digest::debug_object(ctx)?,
        (b"replicate", 3..) => {
            // Sends a command to the replicas only (the suite's way to test the stream).
            if ctx.server.repl.on.load(Ordering::Relaxed) {
                let unit = crate::propagate::Unit::one(ctx.client.db, &ctx.args[2..]);
                crate::replication::feed(ctx.server, &unit);
            }
            ctx.out.ok();
        }
        (b"digest-value", _) => super::digest::values(ctx)?,
        (b"advance-clock", 3) => {
            // Cinnabar's own: moves this server's clock forward by N ms (expiry, idle times)
            // so tests of time need not sleep. Absent from Redis and from DEBUG HELP.
            let ms = int_arg(ctx.arg(2))?;
            if ms < 0 {
                return Err(Error::msg("ERR the clock only moves forward"));
            }
            ctx.server.advance_clock(ms);
            ctx.out.ok();
        }
        (b"latency-delay", 4) => {
            // Cinnabar's own, for tests of the latency monitor: the timed step of event
            // <arg2> (`eviction-cycle`, `aof-fsync-always`...) takes <arg3> ms longer, 0
            // to stop. Absent from Redis and from DEBUG HELP.
            let ms = int_arg(ctx.arg(3))?;
            if ms < 0 {
                return Err(Error::msg("ERR the delay must be 0 or more milliseconds"));
            }
            ctx.server
                .ops
                .latency
                .set_delay(&lossy(ctx.arg(2)), Duration::from_millis(ms as u64));
            ctx.out.ok();
        }
        (b"log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(ctx.arg(2)));
            ctx.out.ok();
        }
        (b"error", 3) => return Err(Error::msg(lossy(ctx.arg(2)))),
        (b"protocol", 3) => debug_protocol(ctx)?,
        (b"populate", 3..=5) => debug_populate(ctx)?,
        (b"config-rewrite-force-all", 2) => {
            super::config::rewrite(ctx.server, true).map_err(|e| {
                Error::msg(format!(
                    "ERR CONFIG-REWRITE-FORCE-ALL failed: {}",
                    e.to_string().trim_start_matches("ERR ")
                ))
            })?;
            ctx.out.ok();
        }
        (b"loadaof", 2) => {
            let Some(server) = ctx.server.persist.server() else {
                return Err(Error::msg("ERR server is shutting down"));
            };
            crate::persist::aof::debug_loadaof(&server).map_err(|e| {
                tracing::warn!("DEBUG LOADAOF: {e}");
                Error::msg("ERR Error loading the AOF")
            })?;
            ctx.out.ok();
        }
        (b"reload", _) => {
            crate::persist::debug_reload(ctx.server, &ctx.args[2..])?;
            ctx.out.ok();
        }
        (b"quicklist-packed-threshold", 3) => {
            // Lists have no packed/plain node distinction here; the value is only checked.
            let ok = crate::config::parse_memory(&lossy(ctx.arg(2)))
                .is_some_and(|n| n <= (1 << 32) - (1 << 20));
            if !ok {
                return Err(Error::msg(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
                ));
            }
            ctx.out.ok();
        }
        (b"change-repl-id", 2) => {
            // A new replication id, the second one cleared (Redis's changeReplicationId and
            // clearReplicationId2): no replica can continue the old history from us.
            crate::replication::change_replid(ctx.server);
            ctx.out.ok();
        }
        // RDB checksums are always verified: accepted so test suites can set it.
        (b"set-skip-checksum-validation", 3) => ctx.out.ok(),
        (b"replybuffer", 4) => {
            let (what, value) = (ctx.arg(2), ctx.arg(3));
            if is(what, "peak-reset-time") {
                if !is(value, "never") && !is(value, "reset") {
                    int_arg(value)?;
                }
            } else if is(what, "resizing") {
                // 0: a connection keeps its reply buffer after a big batch.
                let on = atoi(value) != 0;
                ctx.server.reply_resizing.store(on, Ordering::Relaxed);
            } else {
                return Err(unknown_subcommand(ctx));
            }
            ctx.out.ok();
        }
        _ => return Err(unknown_subcommand(ctx)),
    }
    Ok(())
}

/// C's atoi: an optional sign and leading digits, anything else ends the number.
fn atoi(b: &[u8]) -> i64 {
    let s = std::str::from_utf8(b).unwrap_or("").trim_start();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse().unwrap_or(0)
}

fn debug_help(ctx: &mut Ctx) {
    help(
        ctx,
        &[
            "AOF-FLUSH-SLEEP <microsec>",
            "    Sleep that long before each write of the AOF buffer (0: never).",
            "CHANGE-REPL-ID",
            "    Start a new replication history (new id, no second id).",
            "CONFIG-REWRITE-FORCE-ALL",
            "    Like CONFIG REWRITE but writes every parameter, defaults included.",
            "ERROR <string>",
            "    Reply with <string> as an error, to test how clients handle errors.",
            "LOADAOF",
            "    Flush the AOF buffers on disk and reload the AOF in memory.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys <prefix>:<n> (prefix 'key') holding 'value:<n>',",
            "    padded or cut to <size> bytes when given. Existing keys are left alone.",
            "PAUSE-CRON <0|1>",
            "    Stop periodic cron job processing (active expiry, query buffer resizing).",
            "PROTOCOL <type>",
            "    Reply with a sample value of a RESP type: string, integer, double, bignum,",
            "    null, array, set, map, attrib, push, verbatim, true or false.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Accepted for compatibility; the size is checked but has no effect.",
            "REPLYBUFFER PEAK-RESET-TIME <NEVER|RESET|ms> | REPLYBUFFER RESIZING <0|1>",
            "    Accepted for compatibility; reply buffers are managed per write.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Turn the background removal of expired keys off (0) or back on (1).",
            "SET-DISABLE-DENY-SCRIPTS <0|1>",
            "    Let scripts call commands that are not allowed from scripts (a test knob).",
            "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
            "    Accepted for compatibility.",
            "SLEEP <seconds>",
            "    Block this connection's thread for <seconds> (decimals allowed).",
        ],
    );
}

/// DEBUG PROTOCOL type: fixed sample replies of each RESP type, for client tests. The
/// values are the ones Redis uses, so client test suites written against Redis pass.
fn debug_protocol(ctx: &mut Ctx) -> Result<()> {
    let name = ctx.arg(2).to_ascii_lowercase();
    let resp3 = ctx.out.proto == cinnabar_resp::Protocol::Resp3;
    let out = &mut *ctx.out;
    match name.as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.integer(12345),
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" | b"set" => {
            if name == b"set" {
                out.set(3);
            } else {
                out.array(3);
            }
            for i in 0..3 {
                out.integer(i);
            }
        }
        b"map" => {
            out.map(3);
            for i in 0..3 {
                out.integer(i);
                out.boolean(i == 1);
            }
        }
        b"attrib" => {
            if resp3 {
                // ReplyBuf has no attribute type: write the `|` header directly.
                out.buf.extend_from_slice(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.integer(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return Err(Error::msg("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.integer(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim(b"txt", b"This is a verbatim\nstring"),
        _ => {
            return Err(Error::msg(
                "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

/// DEBUG POPULATE count [prefix] [size]: count string keys in the current database. Each
/// key locks only its own shard (or uses it if the command already holds it), so a large
/// populate does not stop other clients.
fn debug_populate(ctx: &mut Ctx) -> Result<()> {
    let positive = |a: &[u8]| -> Result<u64> {
        let n = num::parse_i64(a).ok_or(Error::NotInteger)?;
        u64::try_from(n).map_err(|_| Error::msg("ERR value is out of range, must be positive"))
    };
    let count = positive(ctx.arg(2))?;
    let prefix = if ctx.args.len() >= 4 {
        ctx.arg(3)
    } else {
        b"key"
    };
    let size = if ctx.args.len() == 5 {
        positive(ctx.arg(4))? as usize
    } else {
        0
    };
    let (server, dbi, now) = (ctx.server, ctx.client.db, ctx.now);
    let ks = &server.keyspace;
    let mut key = Vec::with_capacity(prefix.len() + 21);
    let mut value = Vec::new();
    for j in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        let _ = write!(KeyWriter(&mut key), ":{j}");
        let h = cinnabar_engine::hash_key(&key);
        let shard_idx = cinnabar_engine::keyspace::shard_of_hash(h, ks.shard_count() - 1);
        let mut insert = |shard: &mut cinnabar_engine::Shard| {
            let db = shard.db(dbi);
            if db.lookup(h, &key, now).is_some() {
                return;
            }
            value.clear();
            let _ = write!(KeyWriter(&mut value), "value:{j}");
            if size > 0 {
                value.resize(size, 0);
            }
            db.put(
                h,
                Entry::new(
                    &key,
                    cinnabar_engine::NewValue::string(&value),
                    None,
                    db.fresh_clock(now),
                ),
            );
        };
        match ctx.data.shard_at(shard_idx) {
            Some(shard) => insert(shard),
            None => insert(&mut ks.lock_shard(shard_idx)),
        }
    }
    ctx.out.ok();
    Ok(())
}

/// `write!` into a byte vector.
struct KeyWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for KeyWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT] (see `crate::shutdown`). When the server
/// stops, the client gets no reply, as in Redis: its connection just closes. While lagging
/// replicas are waited for, it blocks; a shutdown that fails (a save error without FORCE,
/// or ABORT) answers `Errors trying to SHUTDOWN. Check logs.`.
fn shutdown(ctx: &mut Ctx) -> Result<()> {
    use crate::shutdown::{self as sd, Outcome};
    let (mut flags, mut abort) = (0u8, false);
    for a in &ctx.args[1..] {
        if is(a, "nosave") {
            flags |= sd::NOSAVE;
        } else if is(a, "save") {
            flags |= sd::SAVE;
        } else if is(a, "now") {
            flags |= sd::NOW;
        } else if is(a, "force") {
            flags |= sd::FORCE;
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(Error::Syntax);
        }
    }
    if (abort && flags != 0) || (flags & sd::SAVE != 0 && flags & sd::NOSAVE != 0) {
        return Err(Error::Syntax);
    }
    if abort {
        if sd::abort(ctx.server) {
            ctx.out.ok();
            return Ok(());
        }
        return Err(Error::msg("ERR No shutdown in progress."));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    match sd::prepare(ctx.server, flags, Some(tx)) {
        Outcome::Exit => ctx.client.close_after_reply = true,
        Outcome::Waiting => {
            ctx.client.blocked = Some(crate::blocking::BlockedOn {
                rx,
                deadline: None,
                null_on_timeout: false,
            });
        }
        Outcome::Failed => return Err(Error::msg("ERR Errors trying to SHUTDOWN. Check logs.")),
    }
    Ok(())
}
