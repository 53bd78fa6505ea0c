//! Connection commands: PING, ECHO, SELECT, AUTH, HELLO, QUIT, RESET and CLIENT.

use std::sync::atomic::Ordering;

use cinnabar_engine::{Error, Result};
use cinnabar_resp::Protocol;

use super::{db_index_arg, int_arg, is};
use crate::dispatch::{Ctx, Registry, ReplyMode};
use crate::pause::Purpose;
use crate::server::{now_ms, valid_client_name, ClientShared, Server};

pub fn register(r: &mut Registry) {
    r.add("ping", ping);
    r.add("echo", echo);
    r.add("select", select);
    r.add("auth", auth);
    r.add("hello", hello);
    r.add("quit", quit);
    r.add("reset", reset);
    r.add("client|id", client_id);
    r.add("client|setname", client_setname);
    r.add("client|getname", client_getname);
    r.add("client|list", client_list);
    r.add("client|info", client_info);
    r.add("client|kill", client_kill);
    r.add("client|pause", client_pause);
    r.add("client|unpause", client_unpause);
    r.add("client|reply", client_reply);
    r.add("client|no-evict", client_no_evict);
    r.add("client|no-touch", client_no_touch);
    r.add("client|setinfo", client_setinfo);
    r.add("client|help", client_help);
    r.add("client|unblock", client_unblock);
}

/// PING [message]. The table's arity (-1) lets any count through; Redis checks the upper
/// bound in the command itself.
fn ping(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() <= 2 && ctx.client.pubsub.subscribed() && ctx.out.proto == Protocol::Resp2 {
        // In the RESP2 pub/sub context PING answers like a message: ["pong", msg or ""].
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(ctx.args.get(1).copied().unwrap_or(b""));
        return Ok(());
    }
    match ctx.args.len() {
        1 => ctx.out.simple(b"PONG"),
        2 => ctx.out.bulk(ctx.arg(1)),
        _ => return Err(Error::WrongArity("ping".into())),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx) -> Result<()> {
    ctx.out.bulk(ctx.arg(1));
    Ok(())
}

fn select(ctx: &mut Ctx) -> Result<()> {
    let db = db_index_arg(ctx.arg(1), ctx.server.keyspace.databases())?;
    ctx.client.db = db;
    ctx.client.shared.db.store(db, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn auth(ctx: &mut Ctx) -> Result<()> {
    let (user, pass): (&[u8], &[u8]) = match ctx.args.len() {
        2 => (b"default", ctx.arg(1)),
        3 => (ctx.arg(1), ctx.arg(2)),
        _ => return Err(Error::Syntax),
    };
    if ctx.args.len() == 2 && ctx.server.acl.default.get().nopass {
        return Err(Error::msg("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
    }
    let name = ctx.arg(0);
    match ctx
        .server
        .acl
        .authenticate(ctx.server, ctx.client, user, pass, name)
    {
        Some(h) => {
            crate::acl::set_client_user(ctx.client, h);
            ctx.out.ok();
            Ok(())
        }
        None => Err(Error::msg(WRONGPASS)),
    }
}

/// HELLO [protover [AUTH user pass] [SETNAME name]]
fn hello(ctx: &mut Ctx) -> Result<()> {
    let mut proto = None;
    if ctx.args.len() >= 2 {
        let v = cinnabar_engine::num::parse_i64(ctx.arg(1))
            .ok_or_else(|| Error::msg("ERR Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(Error::msg("NOPROTO unsupported protocol version"));
        }
        proto = Some(v);
    }
    let mut auth: Option<(&[u8], &[u8])> = None;
    let mut setname: Option<&[u8]> = None;
    let mut i = 2;
    while i < ctx.args.len() {
        let left = ctx.args.len() - i - 1;
        if is(ctx.arg(i), "auth") && left >= 2 {
            auth = Some((ctx.arg(i + 1), ctx.arg(i + 2)));
            i += 3;
        } else if is(ctx.arg(i), "setname") && left >= 1 {
            setname = Some(ctx.arg(i + 1));
            i += 2;
        } else {
            return Err(Error::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(ctx.arg(i))
            )));
        }
    }
    if let Some((user, pass)) = auth {
        let name = ctx.arg(0);
        match ctx
            .server
            .acl
            .authenticate(ctx.server, ctx.client, user, pass, name)
        {
            Some(h) => crate::acl::set_client_user(ctx.client, h),
            None => return Err(Error::msg(WRONGPASS)),
        }
    }
    if !ctx.client.authenticated {
        return Err(Error::msg("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(name) = setname {
        if !valid_client_name(name) {
            return Err(Error::msg(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        *ctx.client.shared.name.lock() = name.to_vec();
    }
    if let Some(v) = proto {
        ctx.out.proto = if v == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        ctx.client.shared.resp.store(v as u8, Ordering::Relaxed);
        if v == 3 {
            // A RESP3 client may be sent pushes (a tracking redirect target): give it a mailbox.
            ctx.server.pubsub.mailbox(ctx.client);
        }
    }
    crate::info::hello_map(ctx.server, ctx.out, ctx.client.id);
    Ok(())
}

fn quit(ctx: &mut Ctx) -> Result<()> {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

/// RESET: back to a fresh connection's state (db 0, RESP2, replies on, no name, and
/// unauthenticated when a password is required).
fn reset(ctx: &mut Ctx) -> Result<()> {
    if ctx.client.replica_link || ctx.client.repl.as_ref().is_some_and(|r| r.is_master) {
        return Err(Error::msg("ERR can only reset normal client connections"));
    }
    if std::mem::take(&mut ctx.client.monitor) {
        ctx.server.ops.monitors.detach(ctx.client.id);
    }
    ctx.client.multi = None;
    crate::dispatch::unwatch_all(ctx.server, ctx.client);
    crate::cmd::pubsub::reset_client(ctx);
    ctx.client.db = 0;
    ctx.client.shared.db.store(0, Ordering::Relaxed);
    ctx.out.proto = Protocol::Resp2;
    ctx.client.shared.resp.store(2, Ordering::Relaxed);
    ctx.client.reply_mode = ReplyMode::On;
    ctx.client.no_evict = false;
    ctx.client.shared.no_evict.store(false, Ordering::Relaxed);
    ctx.client.no_touch = false;
    ctx.client.shared.name.lock().clear();
    // Back to the default user, authenticated only if it needs no password.
    ctx.client.user = None;
    *ctx.client.shared.user.lock() = None;
    ctx.client.authenticated = !ctx.server.config.live.has_password.load(Ordering::Relaxed);
    ctx.out.simple(b"RESET");
    Ok(())
}

fn client_id(ctx: &mut Ctx) -> Result<()> {
    ctx.out.integer(ctx.client.id as i64);
    Ok(())
}

fn client_setname(ctx: &mut Ctx) -> Result<()> {
    let name = ctx.arg(2);
    if !valid_client_name(name) {
        return Err(Error::msg(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *ctx.client.shared.name.lock() = name.to_vec();
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx) -> Result<()> {
    let name = ctx.client.shared.name.lock().clone();
    if name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(&name);
    }
    Ok(())
}

/// The caller's own figures as they are while its CLIENT LIST/INFO runs.
fn publish_self(ctx: &Ctx) {
    let c = &ctx.client.shared;
    c.argv_mem
        .store(ctx.args.iter().map(|a| a.len()).sum(), Ordering::Relaxed);
    c.rbs.store(
        c.rbs.load(Ordering::Relaxed).max(ctx.out.buf.capacity()),
        Ordering::Relaxed,
    );
}

/// One CLIENT LIST line, with Redis's field names and order.
pub fn client_line(server: &Server, c: &ClientShared) -> String {
    let now = now_ms();
    let idle = (now - c.last_interaction_ms.load(Ordering::Relaxed)).max(0) / 1000;
    let cmd = match c.last_cmd.load(Ordering::Relaxed) {
        usize::MAX => "NULL".to_string(),
        i => server
            .registry
            .entries()
            .get(i)
            .map(|e| e.def.full_name().to_string())
            .unwrap_or_else(|| "NULL".into()),
    };
    let ps = crate::cmd::pubsub::client_list_fields(server, c.id);
    let flags = {
        let mut f = c.flags.lock().clone();
        f.push_str(&ps.flags);
        if c.unix {
            f.push('U');
        }
        if f.is_empty() {
            "N".to_string()
        } else {
            f
        }
    };
    let qbuf = c.qbuf.load(Ordering::Relaxed);
    let qbuf_cap = c.qbuf_cap.load(Ordering::Relaxed).max(qbuf);
    let argv_mem = c.argv_mem.load(Ordering::Relaxed);
    let multi_mem = c.multi_mem.load(Ordering::Relaxed);
    let rbs = c.rbs.load(Ordering::Relaxed);
    let tot_mem = crate::climem::tot_mem(c);
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        String::from_utf8_lossy(&c.name.lock()),
        c.created.elapsed().as_secs(),
        idle,
        flags,
        c.db.load(Ordering::Relaxed),
        ps.sub,
        ps.psub,
        ps.ssub,
        c.multi_count.load(Ordering::Relaxed),
        qbuf,
        qbuf_cap - qbuf,
        argv_mem,
        multi_mem,
        rbs,
        c.rbp.load(Ordering::Relaxed),
        ps.omem + c.obuf_pending.load(Ordering::Relaxed),
        tot_mem,
        cmd,
        crate::acl::client_user_name(server, c),
        ps.redir,
        c.resp.load(Ordering::Relaxed),
        String::from_utf8_lossy(&c.lib_name.lock()),
        String::from_utf8_lossy(&c.lib_ver.lock()),
    )
}

/// A client's type for CLIENT LIST / CLIENT KILL TYPE, as Redis's getClientType: the
/// primary's link, a replica (not a MONITOR client, though it carries the replica flag in
/// Redis), a subscribed client, or normal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Master,
    Replica,
    Pubsub,
}

impl ClientType {
    fn parse(name: &[u8]) -> Option<ClientType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"normal" => ClientType::Normal,
            b"master" => ClientType::Master,
            b"replica" | b"slave" => ClientType::Replica,
            b"pubsub" => ClientType::Pubsub,
            _ => return None,
        })
    }

    fn of(server: &Server, c: &ClientShared) -> ClientType {
        let (master, replica) = {
            let flags = c.flags.lock();
            (flags.contains('M'), flags.contains('S'))
        };
        if master {
            ClientType::Master
        } else if replica {
            ClientType::Replica
        } else if crate::cmd::pubsub::is_pubsub_client(server, c.id) {
            ClientType::Pubsub
        } else {
            ClientType::Normal
        }
    }
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]
fn client_list(ctx: &mut Ctx) -> Result<()> {
    let mut ids: Option<Vec<u64>> = None;
    let mut kind = None;
    let mut i = 2;
    while i < ctx.args.len() {
        if is(ctx.arg(i), "type") && i + 1 < ctx.args.len() {
            let t = ctx.arg(i + 1);
            kind = Some(ClientType::parse(t).ok_or_else(|| {
                Error::msg(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                ))
            })?);
            i += 2;
        } else if is(ctx.arg(i), "id") && i + 1 < ctx.args.len() {
            let mut list = Vec::new();
            for a in &ctx.args[i + 1..] {
                let n = cinnabar_engine::num::parse_i64(a)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| Error::msg("ERR Invalid client ID"))?;
                list.push(n as u64);
            }
            ids = Some(list);
            i = ctx.args.len();
        } else {
            return Err(Error::Syntax);
        }
    }
    publish_self(ctx);
    let clients: Vec<_> = ctx.server.clients.lock().values().cloned().collect();
    let mut text = String::new();
    for c in clients {
        // Killed or evicted: gone for Redis, which frees such a client at once; here its
        // connection leaves the registry as soon as its worker gets to it.
        if c.killed.load(Ordering::Relaxed) && c.id != ctx.client.id {
            continue;
        }
        if let Some(ids) = &ids {
            if !ids.contains(&c.id) {
                continue;
            }
        }
        if let Some(k) = kind {
            if ClientType::of(ctx.server, &c) != k {
                continue;
            }
        }
        text.push_str(&client_line(ctx.server, &c));
        text.push('\n');
    }
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

fn client_info(ctx: &mut Ctx) -> Result<()> {
    publish_self(ctx);
    let mut line = client_line(ctx.server, &ctx.client.shared);
    line.push('\n');
    ctx.out.verbatim(b"txt", line.as_bytes());
    Ok(())
}

/// CLIENT KILL addr:port | CLIENT KILL [ID id] [ADDR a] [LADDR a] [USER u] [SKIPME yes|no]
/// [TYPE t] [MAXAGE s]
fn client_kill(ctx: &mut Ctx) -> Result<()> {
    let args = &ctx.args[2..];
    let clients: Vec<_> = ctx.server.clients.lock().values().cloned().collect();
    if args.len() == 1 {
        let addr = args[0];
        let target = clients.iter().find(|c| c.addr.as_bytes() == addr);
        return match target {
            Some(c) => {
                kill_client(ctx, c);
                ctx.out.ok();
                Ok(())
            }
            None => Err(Error::msg("ERR No such client")),
        };
    }
    if !args.len().is_multiple_of(2) {
        return Err(Error::Syntax);
    }
    let mut skipme = true;
    let mut filters: Vec<KillFilter> = Vec::new();
    for pair in args.chunks(2) {
        let (k, v) = (pair[0], pair[1].to_vec());
        if is(k, "id") {
            let id = cinnabar_engine::num::parse_i64(&v)
                .filter(|&n| n > 0)
                .ok_or_else(|| Error::msg("ERR client-id should be greater than 0"))?
                as u64;
            filters.push(Box::new(move |c| c.id == id));
        } else if is(k, "addr") {
            filters.push(Box::new(move |c| c.addr.as_bytes() == v.as_slice()));
        } else if is(k, "laddr") {
            filters.push(Box::new(move |c| c.laddr.as_bytes() == v.as_slice()));
        } else if is(k, "user") {
            let server = ctx.server;
            if server.acl.get(&v).is_none() {
                return Err(Error::msg(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(&v)
                )));
            }
            filters.push(Box::new(move |c| {
                crate::acl::client_user_name(server, c).as_bytes() == v.as_slice()
            }));
        } else if is(k, "type") {
            let kind = ClientType::parse(&v).ok_or_else(|| {
                Error::msg(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(&v)
                ))
            })?;
            let server = ctx.server;
            filters.push(Box::new(move |c| ClientType::of(server, c) == kind));
        } else if is(k, "skipme") {
            skipme = match v.to_ascii_lowercase().as_slice() {
                b"yes" => true,
                b"no" => false,
                _ => return Err(Error::Syntax),
            };
        } else if is(k, "maxage") {
            let age = int_arg(&v)?;
            filters.push(Box::new(move |c| {
                c.created.elapsed().as_secs() as i64 >= age
            }));
        } else {
            return Err(Error::Syntax);
        }
    }
    let mut killed = 0;
    for c in &clients {
        if skipme && c.id == ctx.client.id {
            continue;
        }
        if filters.iter().all(|f| f(c)) {
            kill_client(ctx, c);
            killed += 1;
        }
    }
    ctx.out.integer(killed);
    Ok(())
}

/// One CLIENT KILL filter: true for clients it selects.
type KillFilter<'s> = Box<dyn Fn(&ClientShared) -> bool + 's>;

fn kill_client(ctx: &mut Ctx, c: &ClientShared) {
    if c.id == ctx.client.id {
        // Killing ourselves: reply first, then close, as Redis does.
        ctx.client.close_after_reply = true;
    } else {
        ctx.server.kill_client(c.id);
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]
fn client_pause(ctx: &mut Ctx) -> Result<()> {
    let ms = int_arg(ctx.arg(2))
        .map_err(|_| Error::msg("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Error::msg("ERR timeout is negative"));
    }
    let writes_only = match ctx.args.get(3) {
        None => false,
        Some(a) if is(a, "write") => true,
        Some(a) if is(a, "all") => false,
        Some(_) => return Err(Error::msg("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let server = ctx.server;
    let until = ctx.now.saturating_add(ms);
    // A later pause never shortens an earlier one; ALL wins over WRITE while both last.
    let (cur, cur_writes) = server
        .pause
        .of(Purpose::Client, ctx.now)
        .unwrap_or((0, true));
    server.pause.set(
        &server.keyspace,
        Purpose::Client,
        cur.max(until),
        writes_only && (cur == 0 || cur_writes),
    );
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx) -> Result<()> {
    ctx.server
        .pause
        .clear(&ctx.server.keyspace, Purpose::Client);
    ctx.out.ok();
    Ok(())
}

fn client_reply(ctx: &mut Ctx) -> Result<()> {
    let a = ctx.arg(2);
    if is(a, "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if is(a, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if is(a, "skip") {
        ctx.client.reply_mode = ReplyMode::SkipNext;
    } else {
        return Err(Error::Syntax);
    }
    Ok(())
}

fn on_off(a: &[u8]) -> Result<bool> {
    if is(a, "on") {
        Ok(true)
    } else if is(a, "off") {
        Ok(false)
    } else {
        Err(Error::Syntax)
    }
}

fn client_no_evict(ctx: &mut Ctx) -> Result<()> {
    let on = on_off(ctx.arg(2))?;
    ctx.client.no_evict = on;
    ctx.client.shared.no_evict.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_no_touch(ctx: &mut Ctx) -> Result<()> {
    ctx.client.no_touch = on_off(ctx.arg(2))?;
    ctx.out.ok();
    Ok(())
}

fn client_setinfo(ctx: &mut Ctx) -> Result<()> {
    let (attr, value) = (ctx.arg(2), ctx.arg(3));
    if !value.iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        return Err(Error::msg(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr).to_lowercase()
        )));
    }
    if is(attr, "lib-name") {
        *ctx.client.shared.lib_name.lock() = value.to_vec();
    } else if is(attr, "lib-ver") {
        *ctx.client.shared.lib_ver.lock() = value.to_vec();
    } else {
        return Err(Error::msg(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    }
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if the client was blocked and is now woken.
fn client_unblock(ctx: &mut Ctx) -> Result<()> {
    let id = int_arg(ctx.arg(2))?;
    let error = match ctx.args.get(3) {
        None => false,
        Some(a) if is(a, "timeout") => false,
        Some(a) if is(a, "error") => true,
        Some(_) => {
            return Err(Error::msg(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let done = id > 0 && ctx.server.blocking.unblock(id as u64, error);
    ctx.out.integer(done as i64);
    Ok(())
}

fn client_help(ctx: &mut Ctx) -> Result<()> {
    const LINES: &[&str] = &[
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "GETNAME",
        "    Return the name of the current connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID, ADDR, LADDR, USER, TYPE, SKIPME, MAXAGE.",
        "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
        "    Return information about client connections.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend clients for <timeout> milliseconds (writes only with WRITE).",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <LIB-NAME|LIB-VER> <value>",
        "    Record the client library name or version.",
        "NO-EVICT (ON|OFF)",
        "    Protect the current client connection from eviction.",
        "NO-TOUCH (ON|OFF)",
        "    Commands of this connection do not change keys' last access time.",
        "HELP",
        "    Print this help.",
    ];
    super::help_reply(ctx, LINES);
    Ok(())
}
