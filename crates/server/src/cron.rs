//! Background work on a timer, like Redis's serverCron: the active expiry cycle.
//!
//! One thread wakes `hz` times a second. It sleeps between runs (no spinning) and takes
//! one shard lock at a time for a short sampling round, so clients are never held up for
//! long.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::server::Server;

/// Keys with a deadline checked per sampling round (Redis: ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
const KEYS_PER_LOOP: usize = 20;
/// Entries visited at most per round, so a db with few volatile keys costs bounded work.
const MAX_VISIT: usize = KEYS_PER_LOOP * 20;
/// Keep sampling a db while more than this percentage of its sample had expired.
const ACCEPTABLE_STALE_PERCENT: usize = 10;
/// Share of each cron period the cycle may use (Redis: 25%).
const CPU_PERCENT: u64 = 25;

pub fn spawn(server: Arc<Server>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("cinnabar-cron".into())
        .spawn(move || {
            let mut next_shard = 0usize;
            while !server.is_shutting_down() {
                let hz = server.config.live.hz.load(Ordering::Relaxed).clamp(1, 500);
                let period = Duration::from_micros(1_000_000 / hz);
                let started = Instant::now();
                if server.cron_paused.load(Ordering::Relaxed) {
                    std::thread::sleep(period.min(Duration::from_millis(20)));
                    continue;
                }
                crate::dispatch::sink::refresh_expiry_log(&server);
                crate::net::conn::nudge_idle(&server);
                crate::tracking::limit_table(&server);
                // A replica's keys expire only through its primary's DELs.
                if server
                    .config
                    .live
                    .active_expire_enabled
                    .load(Ordering::Relaxed)
                    && !server.repl.is_replica()
                    && server.keyspace.expiry_held_until.load(Ordering::Relaxed) <= server.now_ms()
                {
                    let budget = period * CPU_PERCENT as u32 / 100;
                    let cycle = crate::ops::latency::Timer::start(&server);
                    next_shard = active_expire_cycle(&server, next_shard, started + budget);
                    cycle.end(&server, "expire-cycle");
                }
                // Keys a writable replica's clients gave a deadline expire here, as Redis's
                // expireSlaveKeys (a primary's cycle above covers every key).
                if server.repl.is_replica()
                    && server
                        .config
                        .live
                        .active_expire_enabled
                        .load(Ordering::Relaxed)
                {
                    crate::replication::writable::expire_cycle(&server);
                }
                crate::persist::cron(&server);
                crate::replication::cron(&server);
                crate::shutdown::cron(&server);
                server.cron_runs.fetch_add(1, Ordering::Relaxed);
                let elapsed = started.elapsed();
                // Sleep in short slices so shutdown is prompt.
                let mut left = period.saturating_sub(elapsed);
                while !left.is_zero() && !server.is_shutting_down() {
                    let step = left.min(Duration::from_millis(20));
                    std::thread::sleep(step);
                    left -= step;
                }
            }
        })
}

/// Samples keys with deadlines shard by shard, starting at `first_shard`, until the
/// deadline; returns the shard to resume at. Within a db it repeats while more than
/// ACCEPTABLE_STALE_PERCENT of a sample was expired, as Redis does.
pub fn active_expire_cycle(server: &Server, first_shard: usize, deadline: Instant) -> usize {
    let ks = &server.keyspace;
    let n = ks.shard_count();
    for step in 0..n {
        let s = (first_shard + step) % n;
        // One lock to find the dbs of this shard that have anything to expire at all.
        let busy: Vec<usize> = {
            let shard = ks.lock_shard(s);
            (0..ks.databases())
                .filter(|&d| shard.dbs[d].volatile > 0 || shard.dbs[d].hashes_with_field_ttls > 0)
                .collect()
        };
        for dbi in busy {
            // Hash fields with their own deadlines (HEXPIRE): one bounded round per db.
            {
                let mut shard = ks.lock_shard(s);
                if !still_enabled(server) {
                    return s;
                }
                shard
                    .db(dbi)
                    .expire_hash_fields(server.now_ms(), MAX_VISIT, KEYS_PER_LOOP);
                expired_effects(server);
            }
            loop {
                let now = server.now_ms();
                let (checked, expired) = {
                    let mut shard = ks.lock_shard(s);
                    if !still_enabled(server) {
                        return s;
                    }
                    let db = shard.db(dbi);
                    if db.volatile == 0 {
                        break;
                    }
                    let r = db.expire_sample(now, KEYS_PER_LOOP, MAX_VISIT);
                    // Events, invalidations and DELs under the shard's lock, so each DEL
                    // reaches the stream before any later write of its key.
                    expired_effects(server);
                    r
                };
                if Instant::now() >= deadline {
                    return s;
                }
                if checked == 0 || expired * 100 <= checked * ACCEPTABLE_STALE_PERCENT {
                    break;
                }
            }
        }
    }
    first_shard
}

/// Whether active expiry is still on, read under the shard's lock before expiring in it: a
/// key written after `DEBUG SET-ACTIVE-EXPIRE 0` (or REPLICAOF) replied
/// is then never expired by a cycle that began before it, as nothing runs between two
/// commands in Redis (the write's unlock orders the flag's store before this load).
fn still_enabled(server: &Server) -> bool {
    server
        .config
        .live
        .active_expire_enabled
        .load(Ordering::Relaxed)
        && !server.repl.is_replica()
}

/// Delivers what the active cycle expired (see `dispatch::sink::expired`).
fn expired_effects(server: &Server) {
    if cinnabar_engine::db::has_expired() {
        crate::dispatch::sink::expired(server, None, crate::propagate::on(server));
    }
}
