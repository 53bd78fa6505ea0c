//! Replication commands: REPLICAOF/SLAVEOF, ROLE, WAIT, and those replicas send their
//! primary (REPLCONF, PSYNC, SYNC). The protocol itself is `crate::replication`.

use std::sync::atomic::Ordering;

use cinnabar_engine::{Error, Result};

use super::is;
use crate::dispatch::{Ctx, Registry};
use crate::replication::{self, primary, replica, Master, ReplClient, Waiter, ONLINE};

pub fn register(r: &mut Registry) {
    r.add_nothing("replicaof", replicaof);
    r.add_nothing("slaveof", replicaof);
    r.add_nothing("role", role);
    r.add_nothing("wait", wait);
    r.add_nothing("waitaof", waitaof);
    r.add_nothing("replconf", replconf);
    r.add_nothing("psync", psync);
    r.add_nothing("sync", sync);
    r.add_nothing("failover", failover);
}

fn replicaof(ctx: &mut Ctx) -> Result<()> {
    let server = ctx.server;
    if is(ctx.arg(1), "no") && is(ctx.arg(2), "one") {
        if server.repl.is_replica() {
            replica::promote(server);
        }
        ctx.out.ok();
        return Ok(());
    }
    if ctx.client.is_replica_link() {
        return Err(Error::msg(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let port = std::str::from_utf8(ctx.arg(2))
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| Error::msg("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(ctx.arg(1)).to_string();
    if replica::replicate_from(
        server,
        Master {
            host: host.clone(),
            port: port as u16,
        },
    ) {
        tracing::info!(
            "REPLICAOF {host}:{port} enabled (user request from 'id={} addr={}')",
            ctx.client.id,
            ctx.client.shared.addr
        );
        ctx.out.ok();
    } else {
        ctx.out.simple(b"OK Already connected to specified master");
    }
    Ok(())
}

fn role(ctx: &mut Ctx) -> Result<()> {
    let r = &ctx.server.repl;
    let out = &mut *ctx.out;
    if let Some(m) = r.master.lock().clone() {
        let st = r.link_state.load(Ordering::Relaxed);
        out.array(5);
        out.bulk(b"slave");
        out.bulk(m.host.as_bytes());
        out.integer(m.port as i64);
        out.bulk(replication::role_state(st).as_bytes());
        out.integer(if st == replication::LINK_CONNECTED {
            r.master_offset.load(Ordering::Relaxed) as i64
        } else {
            -1
        });
        return Ok(());
    }
    let online: Vec<_> = r
        .replicas
        .lock()
        .iter()
        .filter(|x| x.state.load(Ordering::Relaxed) == ONLINE)
        .cloned()
        .collect();
    out.array(3);
    out.bulk(b"master");
    out.integer(r.offset() as i64);
    out.array(online.len());
    for x in online {
        out.array(3);
        out.bulk(x.ip.as_bytes());
        out.bulk(x.port.to_string().as_bytes());
        out.bulk(x.ack.load(Ordering::Relaxed).to_string().as_bytes());
    }
    Ok(())
}

/// WAIT numreplicas timeout: blocks until that many replicas acknowledged this client's
/// last write (or the timeout, in ms, passes); replies with the number that did.
fn wait(ctx: &mut Ctx) -> Result<()> {
    let server = ctx.server;
    if server.repl.is_replica() {
        return Err(Error::msg("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let numreplicas = super::int_arg(ctx.arg(1))?;
    let timeout = wait_timeout(ctx, ctx.arg(2))?;
    let offset = ctx.client.repl_woff;
    let acked = primary::acked(server, offset) as i64;
    if acked >= numreplicas || ctx.client.in_exec || ctx.client.in_script {
        ctx.out.integer(acked);
        return Ok(());
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let w = Waiter {
        offset,
        numreplicas: numreplicas as usize,
        tx,
        client_id: ctx.client.id,
        aof: None,
    };
    block_on(ctx, w, rx, timeout);
    Ok(())
}

/// A WAIT/WAITAOF timeout in ms, with Redis's errors.
fn wait_timeout(ctx: &Ctx, arg: &[u8]) -> Result<i64> {
    let timeout = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Error::msg("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(Error::msg("ERR timeout is negative"));
    }
    if timeout > 0 && timeout > i64::MAX - ctx.now {
        return Err(Error::msg("ERR timeout is out of range"));
    }
    Ok(timeout)
}

/// Blocks the client on `w` until it is satisfied or `timeout` ms pass (0: forever).
fn block_on(
    ctx: &mut Ctx,
    w: Waiter,
    rx: tokio::sync::oneshot::Receiver<crate::blocking::Wake>,
    timeout: i64,
) {
    let server = ctx.server;
    primary::add_waiter(server, w);
    ctx.client.blocked = Some(crate::blocking::BlockedOn {
        rx,
        deadline: None,
        null_on_timeout: false,
    });
    if timeout > 0 {
        if let (Ok(h), Some(srv)) = (
            tokio::runtime::Handle::try_current(),
            server.persist.server(),
        ) {
            let id = ctx.client.id;
            h.spawn(async move {
                crate::timer::sleep(std::time::Duration::from_millis(timeout as u64)).await;
                primary::end_wait(&srv, id);
            });
        }
    }
}

/// WAITAOF numlocal numreplicas timeout: blocks until this client's last write is fsynced
/// by the local AOF (numlocal 1) and by that many replicas' AOFs; replies [local, replicas].
fn waitaof(ctx: &mut Ctx) -> Result<()> {
    let server = ctx.server;
    let numlocal = super::int_arg(ctx.arg(1))?;
    if !(0..=1).contains(&numlocal) {
        return Err(Error::msg(
            "ERR value is out of range, value must between 0 and 1",
        ));
    }
    let numreplicas = super::int_arg(ctx.arg(2))?;
    if numreplicas < 0 {
        return Err(Error::msg("ERR value is out of range, must be positive"));
    }
    let timeout = wait_timeout(ctx, ctx.arg(3))?;
    if server.repl.is_replica() {
        return Err(Error::msg("ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated."));
    }
    if numlocal > 0 && !server.persist.aof.enabled() {
        return Err(Error::msg(
            "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.",
        ));
    }
    let (offset, aof_seq) = (ctx.client.repl_woff, ctx.client.aof_woff);
    let local = primary::local_synced(server, aof_seq) as i64;
    let acked = primary::aof_acked(server, offset) as i64;
    if (local >= numlocal && acked >= numreplicas) || ctx.client.in_exec || ctx.client.in_script {
        ctx.out.array(2);
        ctx.out.integer(local);
        ctx.out.integer(acked);
        return Ok(());
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let w = Waiter {
        offset,
        numreplicas: numreplicas as usize,
        tx,
        client_id: ctx.client.id,
        aof: Some((numlocal as usize, aof_seq)),
    };
    block_on(ctx, w, rx, timeout);
    Ok(())
}

fn replconf(ctx: &mut Ctx) -> Result<()> {
    let args = ctx.args;
    if args.len().is_multiple_of(2) {
        return Err(Error::Syntax);
    }
    let mut i = 1;
    while i < args.len() {
        let (opt, val) = (args[i], args[i + 1]);
        if is(opt, "listening-port") {
            let port = super::int_arg(val)?;
            ctx.client.repl.get_or_insert_default().listening_port = port as u16;
        } else if is(opt, "ip-address") {
            ctx.client.repl.get_or_insert_default().ip =
                Some(String::from_utf8_lossy(val).to_string());
        } else if is(opt, "capa") {
            let rc = ctx.client.repl.get_or_insert_default();
            if is(val, "eof") {
                rc.capa_eof = true;
            } else if is(val, "psync2") {
                rc.capa_psync2 = true;
            }
        } else if is(opt, "ack") || is(opt, "getack") || is(opt, "fack") {
            // ACKs are read by the replica's link once it is one; GETACK only matters on
            // the primary's stream. Neither is answered here.
            return Ok(());
        } else if is(opt, "rdb-only") || is(opt, "rdb-filter-only") {
        } else {
            return Err(Error::msg(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        i += 2;
    }
    ctx.out.ok();
    Ok(())
}

/// Refuses SYNC/PSYNC on a replica whose own link is down.
fn check_sync(ctx: &Ctx) -> Result<()> {
    let r = &ctx.server.repl;
    if r.is_replica() && r.link_state.load(Ordering::Relaxed) != replication::LINK_CONNECTED {
        return Err(Error::msg(
            "NOMASTERLINK Can't SYNC while not connected with my master",
        ));
    }
    Ok(())
}

/// Hands the connection to `replication::primary::serve` once this (empty) reply is out.
fn hand_over(ctx: &mut Ctx, req: Option<(String, i64)>) {
    let rc: &mut ReplClient = ctx.client.repl.get_or_insert_default();
    rc.psync = Some(req);
    ctx.client.close_after_reply = true;
}

fn psync(ctx: &mut Ctx) -> Result<()> {
    // Already a replica (or about to be one): ignored, without a reply, as in Redis.
    if ctx.client.is_replica_link() {
        return Ok(());
    }
    // Our primary hands its role over (FAILOVER): it must share our history.
    if ctx.args.len() > 3 && is(ctx.arg(3), "failover") {
        let mine = ctx.server.repl.with_ids(|i| i.replid.clone());
        if !ctx.arg(1).eq_ignore_ascii_case(mine.as_bytes()) {
            return Err(Error::msg(
                "ERR PSYNC FAILOVER replid must match my replid.",
            ));
        }
        if ctx.server.repl.is_replica() {
            tracing::info!("Failover request received for replid {mine}: becoming the primary");
            replica::promote(ctx.server);
        }
    }
    if ctx.server.repl.failover.state.load(Ordering::Relaxed) != replication::failover::NONE {
        return Err(Error::msg("NOMASTERLINK Can't SYNC while failing over"));
    }
    check_sync(ctx)?;
    let id = String::from_utf8_lossy(ctx.arg(1)).to_string();
    let off = super::int_arg(ctx.arg(2)).inspect_err(|_| {
        tracing::warn!(
            "Replica {} asks for synchronization but with a wrong offset",
            ctx.client.shared.addr
        );
    })?;
    hand_over(ctx, Some((id, off)));
    Ok(())
}

fn sync(ctx: &mut Ctx) -> Result<()> {
    // Already a replica (or about to be one): ignored, without a reply, as in Redis.
    if ctx.client.is_replica_link() {
        return Ok(());
    }
    check_sync(ctx)?;
    hand_over(ctx, None);
    Ok(())
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds].
fn failover(ctx: &mut Ctx) -> Result<()> {
    use replication::failover as fo;
    let server = ctx.server;
    if server.repl.is_replica() {
        return Err(Error::msg(
            "ERR FAILOVER is not valid when server is a replica.",
        ));
    }
    let (mut target, mut force, mut abort, mut timeout) = (None, false, false, 0i64);
    let args = ctx.args;
    let mut i = 1;
    while i < args.len() {
        if is(args[i], "to") && i + 2 < args.len() {
            let port = super::int_arg(args[i + 2])?;
            target = Some(Master {
                host: String::from_utf8_lossy(args[i + 1]).to_string(),
                port: port as u16,
            });
            i += 3;
        } else if is(args[i], "force") {
            force = true;
            i += 1;
        } else if is(args[i], "abort") {
            abort = true;
            i += 1;
        } else if is(args[i], "timeout") && i + 1 < args.len() {
            timeout = super::int_arg(args[i + 1])?;
            if timeout <= 0 {
                return Err(Error::msg("ERR FAILOVER timeout must be greater than 0"));
            }
            i += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let state = server.repl.failover.state.load(Ordering::Relaxed);
    if abort {
        if force || timeout > 0 || target.is_some() {
            return Err(Error::msg(
                "ERR FAILOVER abort cannot be used with other arguments.",
            ));
        }
        if state == fo::NONE {
            return Err(Error::msg("ERR No failover in progress."));
        }
        fo::abort(server, "Failover manually aborted");
        ctx.out.ok();
        return Ok(());
    }
    if state != fo::NONE {
        return Err(Error::msg("ERR FAILOVER already in progress."));
    }
    let replicas = server.repl.replicas.lock().clone();
    if replicas.is_empty() {
        return Err(Error::msg("ERR FAILOVER requires connected replicas."));
    }
    if force && (timeout == 0 || target.is_none()) {
        return Err(Error::msg(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    if let Some(t) = &target {
        let Some(x) = replicas.iter().find(|x| x.ip == t.host && x.port == t.port) else {
            return Err(Error::msg(
                "ERR FAILOVER target HOST and PORT is not a replica.",
            ));
        };
        if x.state.load(Ordering::Relaxed) != ONLINE {
            return Err(Error::msg("ERR FAILOVER target replica is not online."));
        }
    }
    fo::start(server, target, timeout, force);
    ctx.out.ok();
    Ok(())
}
