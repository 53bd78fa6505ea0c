//! MEMORY USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE and HELP, from the exact allocator
//! count (`crate::alloc`) and the keyspace.

use cinnabar_engine::{Error, Result};

use super::{container_help as help, int_arg, is};
use crate::dispatch::{Ctx, Registry};
use crate::info::{self};

pub fn register(r: &mut Registry) {
    r.add("memory|usage", memory_usage);
    r.add("memory|stats", memory_stats);
    r.add("memory|doctor", memory_doctor);
    r.add("memory|malloc-stats", memory_malloc_stats);
    r.add("memory|purge", memory_purge);
    r.add("memory|help", memory_help);
}

/// MEMORY USAGE key [SAMPLES count]: the entry's allocation (key, value and header in one
/// block) rounded to the allocator's size class, the value's own allocations if it has any,
/// and the key's share of the table's index and entry vector. Sizes are measured, not
/// sampled, so SAMPLES is only validated. Like Redis, a key past its deadline but not yet
/// removed is still measured.
fn memory_usage(ctx: &mut Ctx) -> Result<()> {
    let mut j = 3;
    while j < ctx.args.len() {
        if is(ctx.arg(j), "samples") && j + 1 < ctx.args.len() {
            if int_arg(ctx.arg(j + 1))? < 0 {
                return Err(Error::Syntax);
            }
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let key = ctx.arg(2);
    let (db, h) = crate::key_db!(ctx, key);
    match db.find_raw(h, key) {
        None => ctx.out.null(),
        Some(slot) => {
            let table_share = db.table.key_overhead_bytes();
            let e = db.entry(slot);
            let value = match e.value() {
                cinnabar_engine::ValueRef::Obj(o) => o.mem_usage(),
                _ => 0,
            };
            let usage = crate::alloc::good_size(e.alloc_size()) + value + table_share;
            ctx.out.integer(usage as i64);
        }
    }
    Ok(())
}

/// MEMORY STATS: Redis's fields, from the allocator's counters (see
/// [`info::MemoryFigures`]).
fn memory_stats(ctx: &mut Ctx) -> Result<()> {
    let used = crate::alloc::used();
    let ks = info::keyspace_totals(ctx.server, ctx.data, ctx.now);
    let m = info::MemoryFigures::gather(ctx.server, &ks, used);
    let dbs: Vec<(usize, u64)> = ks
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| d.keys > 0)
        .map(|(i, d)| (i, d.overhead))
        .collect();
    let out = &mut *ctx.out;
    out.map(27 + dbs.len());
    let int = |out: &mut cinnabar_resp::ReplyBuf, k: &str, v: i64| {
        out.bulk(k.as_bytes());
        out.integer(v);
    };
    let dbl = |out: &mut cinnabar_resp::ReplyBuf, k: &str, v: f64| {
        out.bulk(k.as_bytes());
        out.double(v);
    };
    int(out, "peak.allocated", m.peak as i64);
    int(out, "total.allocated", m.used as i64);
    int(out, "startup.allocated", m.startup as i64);
    for k in ["replication.backlog", "clients.slaves"] {
        int(out, k, 0);
    }
    int(out, "clients.normal", m.clients_normal as i64);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", m.aof_buffer as i64);
    int(out, "lua.caches", m.scripts as i64);
    int(out, "functions.caches", 0);
    for (i, overhead) in &dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", *overhead as i64);
        int(out, "overhead.hashtable.expires", 0);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", m.overhead as i64);
    int(out, "keys.count", m.keys as i64);
    int(out, "keys.bytes-per-key", m.bytes_per_key() as i64);
    int(out, "dataset.bytes", m.dataset as i64);
    dbl(out, "dataset.percentage", m.dataset_perc());
    dbl(out, "peak.percentage", m.peak_perc());
    int(out, "allocator.allocated", m.used as i64);
    int(out, "allocator.active", m.active as i64);
    int(out, "allocator.resident", m.active as i64);
    for (name, (ratio, bytes)) in [
        ("allocator-fragmentation", m.allocator_frag()),
        ("allocator-rss", m.allocator_rss()),
        ("rss-overhead", m.rss_overhead()),
    ] {
        dbl(out, &format!("{name}.ratio"), ratio);
        int(out, &format!("{name}.bytes"), bytes);
    }
    let (ratio, bytes) = m.fragmentation();
    dbl(out, "fragmentation", ratio);
    int(out, "fragmentation.bytes", bytes);
    Ok(())
}

/// MEMORY DOCTOR: the checks of Redis's memory doctor (little data, a past peak much higher
/// than today, fragmentation, big client buffers, many cached scripts), reported in plain
/// words with the figures behind them.
fn memory_doctor(ctx: &mut Ctx) -> Result<()> {
    let used = crate::alloc::used();
    let ks = info::keyspace_totals(ctx.server, ctx.data, ctx.now);
    let m = info::MemoryFigures::gather(ctx.server, &ks, used);
    let mut issues: Vec<String> = Vec::new();
    let text = if m.used < 5 << 20 {
        "This instance is empty or holds very little data (under 5MB): there is nothing to \
         diagnose yet. Ask again once it holds some data.\n"
            .to_string()
    } else {
        if m.peak as f64 / m.used as f64 > 1.5 {
            issues.push(format!(
                " * Peak memory: the instance once used {} (more than 150% of the {} it uses \
                 now). Freed memory is kept by the allocator for reuse; MEMORY PURGE returns \
                 what it can to the system.",
                info::bytes_to_human(m.peak),
                info::bytes_to_human(m.used)
            ));
        }
        let (frag, frag_bytes) = m.fragmentation();
        if frag > 1.4 && frag_bytes > 10 << 20 {
            issues.push(format!(
                " * High total RSS: the process's resident memory is {frag:.2} times the \
                 memory in use ({} more). After a peak this is harmless; otherwise the \
                 workload fragments the allocator's pages (see allocator_frag_ratio).",
                info::bytes_to_human(frag_bytes as u64)
            ));
        }
        let (afrag, afrag_bytes) = m.allocator_frag();
        if afrag > 1.1 && afrag_bytes > 10 << 20 {
            issues.push(format!(
                " * Allocator fragmentation: mimalloc holds {afrag:.2} times the memory in use \
                 in its pages ({} more). MEMORY PURGE releases pages that are entirely free.",
                info::bytes_to_human(afrag_bytes as u64)
            ));
        }
        let (extra, extra_bytes) = m.rss_overhead();
        if extra > 1.1 && extra_bytes > 10 << 20 {
            issues.push(format!(
                " * Process RSS overhead: {} of resident memory is outside the allocator's \
                 pages (program, thread stacks, Lua interpreters).",
                info::bytes_to_human(extra_bytes as u64)
            ));
        }
        let clients = ctx.server.clients.lock().len().max(1) as u64;
        if m.clients_normal / clients > 200 * 1024 {
            issues.push(
                " * Big client buffers: clients hold more than 200K each on average (large \
                 pipelines or replies, or slow Pub/Sub readers); CLIENT LIST shows which."
                    .to_string(),
            );
        }
        if ctx.server.scripts.len() > 1000 {
            issues.push(
                " * Many scripts: more than 1000 scripts are cached. Generated scripts should \
                 take their variable parts as KEYS and ARGV; SCRIPT FLUSH empties the cache."
                    .to_string(),
            );
        }
        if issues.is_empty() {
            "No memory issue detected in this instance.\n".to_string()
        } else {
            format!(
                "Memory issues detected in this instance:\n\n{}\n",
                issues.join("\n\n")
            )
        }
    };
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// MEMORY MALLOC-STATS: mimalloc's own statistics report.
fn memory_malloc_stats(ctx: &mut Ctx) -> Result<()> {
    let text = crate::alloc::stats_text();
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// MEMORY PURGE: asks mimalloc to return every free page to the system now.
fn memory_purge(ctx: &mut Ctx) -> Result<()> {
    crate::alloc::purge();
    ctx.out.ok();
    Ok(())
}

fn memory_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "DOCTOR",
            "    Report memory problems, if any are detected.",
            "MALLOC-STATS",
            "    Report the memory allocator's internal statistics, where supported.",
            "PURGE",
            "    Ask the allocator to return free memory to the system.",
            "STATS",
            "    Reply with a breakdown of the server's memory use.",
            "USAGE <key> [SAMPLES <count>]",
            "    Reply with the bytes used by <key> and its value.",
        ],
    );
    Ok(())
}
