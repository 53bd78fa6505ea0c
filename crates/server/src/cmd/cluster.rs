//! Cluster commands as a Redis 7.2 started without `cluster-enabled` answers them (CLUSTER
//! and its subcommands, READONLY, READWRITE, ASKING), and MIGRATE, which works outside
//! cluster mode: it moves keys to another server with DUMP payloads and RESTORE.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use cinnabar_commands as commands;
use cinnabar_engine::{rdb, Error, Result};

use super::{int_arg, is};
use crate::dispatch::{Ctx, Registry};
use crate::notify::GENERIC;

const DISABLED: &str = "ERR This instance has cluster support disabled";

pub fn register(r: &mut Registry) {
    r.add_nothing("cluster", disabled);
    if let Some(def) = commands::lookup(b"cluster") {
        for sub in def.subcommands {
            r.add_nothing(sub.name, disabled);
        }
    }
    r.add_nothing("readonly", disabled);
    r.add_nothing("readwrite", disabled);
    r.add_nothing("asking", disabled);
    r.add("migrate", migrate);
}

/// Every cluster command of a server without cluster support (HELP included, as in Redis).
fn disabled(_ctx: &mut Ctx) -> Result<()> {
    Err(Error::msg(DISABLED))
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
/// [AUTH2 username password] [KEYS key [key ...]], as Redis's migrateCommand: the live keys
/// are sent as RESTORE commands (with their remaining TTL) after AUTH and SELECT, on one
/// connection, each step bounded by `timeout` ms; without COPY the keys the target accepted
/// are deleted here and propagated as one DEL. No live key: +NOKEY. The connection is not
/// cached between calls (Redis keeps one for 10 s); the replies are the same.
fn migrate<'a>(ctx: &mut Ctx<'a, '_>) -> Result<()> {
    let args = ctx.args;
    let (mut copy, mut replace) = (false, false);
    let (mut user, mut pass): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let (mut first_key, mut num_keys) = (3, 1);
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = args[j];
        if is(a, "copy") {
            copy = true;
        } else if is(a, "replace") {
            replace = true;
        } else if is(a, "auth") {
            if more == 0 {
                return Err(Error::Syntax);
            }
            j += 1;
            pass = Some(args[j]);
        } else if is(a, "auth2") {
            if more < 2 {
                return Err(Error::Syntax);
            }
            user = Some(args[j + 1]);
            pass = Some(args[j + 2]);
            j += 2;
        } else if is(a, "keys") {
            if !args[3].is_empty() {
                return Err(Error::msg(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            first_key = j + 1;
            num_keys = args.len() - j - 1;
            break;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let mut timeout = int_arg(args[5])?;
    let dbid = int_arg(args[4])?;
    if timeout <= 0 {
        timeout = 1000;
    }
    let timeout = Duration::from_millis(timeout as u64);

    // The live keys, with their payloads and remaining TTLs (0: none).
    let now = ctx.now;
    let opts = crate::persist::save_opts(ctx.server);
    let mut found: Vec<(&'a [u8], Vec<u8>, i64)> = Vec::new();
    for &key in &args[first_key..first_key + num_keys] {
        let (db, h) = crate::key_db!(ctx, key);
        if let Some(slot) = db.lookup(h, key, now) {
            let e = db.entry(slot);
            let ttl = e.expire().map_or(0, |t| (t - now).max(1));
            found.push((key, rdb::dump(e.value(), &opts, now), ttl));
        }
    }
    if found.is_empty() {
        ctx.out.simple(b"NOKEY");
        return Ok(());
    }

    let mut cmd = Vec::new();
    if let Some(p) = pass {
        match user {
            Some(u) => encode(&mut cmd, &[b"AUTH", u, p]),
            None => encode(&mut cmd, &[b"AUTH", p]),
        }
    }
    encode(&mut cmd, &[b"SELECT", dbid.to_string().as_bytes()]);
    for (key, payload, ttl) in &found {
        let ttl = ttl.to_string();
        let mut parts: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), payload];
        if replace {
            parts.push(b"REPLACE");
        }
        encode(&mut cmd, &parts);
    }

    let host = String::from_utf8_lossy(args[1]).into_owned();
    let port = String::from_utf8_lossy(args[2]).into_owned();
    let Some(stream) = connect(&host, &port, timeout) else {
        return Err(Error::msg(
            "IOERR error or timeout connecting to the client",
        ));
    };
    let _ = stream.set_write_timeout(Some(timeout));
    let _ = stream.set_read_timeout(Some(timeout));
    let write_err = || Error::msg("IOERR error or timeout writing to target instance");
    let read_err = || Error::msg("IOERR error or timeout reading from target instance");
    (&stream).write_all(&cmd).map_err(|_| write_err())?;
    let mut rd = BufReader::new(&stream);
    let auth_reply = match pass {
        Some(_) => Some(read_line(&mut rd).ok_or_else(read_err)?),
        None => None,
    };
    let select_reply = read_line(&mut rd).ok_or_else(read_err)?;
    let mut target_error: Option<String> = None;
    let mut moved: Vec<&'a [u8]> = Vec::new();
    let mut socket_error = false;
    for (key, _, _) in &found {
        let Some(reply) = read_line(&mut rd) else {
            socket_error = true;
            break;
        };
        let failed = [
            auth_reply.as_deref(),
            Some(select_reply.as_str()),
            Some(&reply),
        ]
        .into_iter()
        .flatten()
        .find(|r| r.starts_with('-'));
        match failed {
            Some(e) => {
                target_error.get_or_insert_with(|| e[1..].to_string());
            }
            None => moved.push(key),
        }
    }
    if !copy && !moved.is_empty() {
        for &key in &moved {
            let (db, h) = crate::key_db!(ctx, key);
            if let Some(slot) = db.find_raw(h, key) {
                cinnabar_engine::lazyfree::dispose(db.remove_slot(slot));
                ctx.wrote(GENERIC, "del", key);
            }
        }
        if ctx.fx.propagating() {
            let mut del: Vec<Vec<u8>> = vec![b"DEL".to_vec()];
            del.extend(moved.iter().map(|k| k.to_vec()));
            ctx.fx.propagate_as(|| del);
        }
    }
    if let Some(e) = target_error {
        return Err(Error::msg(format!(
            "ERR Target instance replied with error: {e}"
        )));
    }
    if socket_error {
        return Err(read_err());
    }
    ctx.out.ok();
    Ok(())
}

fn connect(host: &str, port: &str, timeout: Duration) -> Option<TcpStream> {
    let port: u16 = port.parse().ok()?;
    let addr = (host, port).to_socket_addrs().ok()?.next()?;
    let s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    let _ = s.set_nodelay(true);
    Some(s)
}

/// One reply line (a status, error or integer reply: what AUTH, SELECT and RESTORE answer).
fn read_line(rd: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match rd.read_line(&mut line) {
        Ok(n) if n > 0 => Some(line.trim_end_matches(['\r', '\n']).to_string()),
        _ => None,
    }
}

fn encode(out: &mut Vec<u8>, parts: &[&[u8]]) {
    crate::pubsub::encode(out, parts);
}
