//! Client-side caching (CLIENT TRACKING): which clients may cache which keys, and the
//! invalidation messages sent when those keys change.
//!
//! Two tables behind one mutex that is touched only while someone tracks (an atomic count
//! keeps every command at one relaxed load otherwise):
//! - default mode: key -> ids of clients that read it since its last invalidation (Redis's
//!   TrackingTable, shared by all databases); a write sends the key to each and forgets them;
//! - BCAST mode: prefix -> ids of clients that registered it; a write sends the key to every
//!   client whose prefix matches, batched per command (per EXEC) and prefix.
//!
//! Invalidations go through the receiving client's mailbox (pubsub.rs), never its socket: as a
//! RESP3 `>2 invalidate [keys]` push, or, with REDIRECT, to the redirect client (as a push if
//! it speaks RESP3, else as `message __redis__:invalidate [keys]` if it is subscribed). The
//! writer's own invalidations follow its reply.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use cinnabar_commands::{flags as cflags, CommandDef};
use parking_lot::Mutex;

use crate::dispatch::Client;
use crate::server::Server;

/// Per-client tracking options (CLIENT TRACKING ON ...).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Client id invalidations go to; 0 for the client itself.
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Box<[u8]>>,
    /// CLIENT CACHING yes (OPTIN) / no (OPTOUT) given for the next command.
    pub caching: bool,
}

/// The server-wide tracking tables.
#[derive(Default)]
pub struct Table {
    /// Clients with tracking on.
    pub clients: AtomicUsize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<Box<[u8]>, HashSet<u64>>,
    prefixes: HashMap<Box<[u8]>, HashSet<u64>>,
    /// Options of every tracking client, for routing invalidations.
    options: HashMap<u64, Options>,
    /// Clients whose redirect target went away (told once, shown in TRACKINGINFO).
    broken: HashSet<u64>,
}

/// Keys for one (client, prefix) pair in a BCAST batch.
type BcastGroup = (u64, Box<[u8]>, Vec<Box<[u8]>>);

/// One pending BCAST invalidation: (receiving client, matched prefix, key).
pub type BcastItem = (u64, Box<[u8]>, Box<[u8]>);

/// CLIENT TRACKING ON with these options (already validated).
pub fn enable(server: &Server, client: &mut Client, mut opts: Options) {
    let mb = server.pubsub.mailbox(client);
    drop(mb);
    let mut t = server.tracking.inner.lock();
    let was_on = client.pubsub.tracking.is_some();
    if let Some(old) = &client.pubsub.tracking {
        // Prefixes accumulate across ON calls, as in Redis; the OPTIN/OPTOUT/NOLOOP flags
        // and the redirection are replaced by the new call's (enableTracking).
        let mut all = old.prefixes.clone();
        for p in opts.prefixes.drain(..) {
            if !all.contains(&p) {
                all.push(p);
            }
        }
        opts.prefixes = all;
    }
    if opts.bcast && opts.prefixes.is_empty() {
        opts.prefixes.push(Box::from(&b""[..]));
    }
    if opts.bcast {
        for p in &opts.prefixes {
            t.prefixes.entry(p.clone()).or_default().insert(client.id);
        }
    }
    t.broken.remove(&client.id);
    t.options.insert(client.id, opts.clone());
    drop(t);
    client.pubsub.tracking = Some(opts);
    if !was_on {
        server.tracking.clients.fetch_add(1, Ordering::Relaxed);
        // Expired keys must now be heard of, to invalidate them.
        crate::dispatch::sink::refresh_expiry_log(server);
    }
}

/// Turns tracking off for a client (CLIENT TRACKING OFF, RESET, disconnection). Keys it read
/// stay in the key table until they are invalidated, as in Redis; they are skipped then.
pub fn disable(server: &Server, client: &mut Client) {
    if client.pubsub.tracking.take().is_none() {
        return;
    }
    let mut t = server.tracking.inner.lock();
    if let Some(o) = t.options.remove(&client.id) {
        for p in &o.prefixes {
            if let Some(s) = t.prefixes.get_mut(p) {
                s.remove(&client.id);
                if s.is_empty() {
                    t.prefixes.remove(p);
                }
            }
        }
    }
    t.broken.remove(&client.id);
    server.tracking.clients.fetch_sub(1, Ordering::Relaxed);
}

/// CLIENT CACHING yes|no: remembered for the next command only.
pub fn set_caching(server: &Server, client: &mut Client) {
    if let Some(o) = client.pubsub.tracking.as_mut() {
        o.caching = true;
        server
            .tracking
            .inner
            .lock()
            .options
            .insert(client.id, o.clone());
    }
}

/// Whether the client's redirect is broken (TRACKINGINFO).
pub fn is_broken(server: &Server, id: u64) -> bool {
    server.tracking.inner.lock().broken.contains(&id)
}

/// CLIENT LIST flags and redir field of a client.
pub fn list_info(server: &Server, id: u64) -> (String, i64) {
    if server.tracking.clients.load(Ordering::Relaxed) == 0 {
        return (String::new(), -1);
    }
    let t = server.tracking.inner.lock();
    match t.options.get(&id) {
        None => (String::new(), -1),
        Some(o) => {
            let mut f = String::from("t");
            if t.broken.contains(&id) {
                f.push('R');
            }
            if o.bcast {
                f.push('B');
            }
            (f, o.redirect as i64)
        }
    }
}

/// INFO: (tracking_clients, tracking_total_keys, tracking_total_items, tracking_total_prefixes).
pub fn info(server: &Server) -> (usize, usize, usize, usize) {
    let n = server.tracking.clients.load(Ordering::Relaxed);
    let t = server.tracking.inner.lock();
    let items = t.keys.values().map(|s| s.len()).sum();
    (n, t.keys.len(), items, t.prefixes.len())
}

/// After every command while anyone tracks: records the keys a tracking client read (a
/// read-only command, from its key specs, as Redis's trackingRememberKeys), and ends the
/// one-command life of CLIENT CACHING. Invalidations of what a write changed come from its
/// effects (`dispatch::sink`).
pub fn after_command(
    server: &Server,
    client: &mut Client,
    def: &CommandDef,
    args: &[&[u8]],
    ok: bool,
) {
    let caching_cmd = def.name == "client|caching";
    if ok
        && def.flags & cflags::READONLY != 0
        // Read-only scripts track what their commands read (see `scripting`), not themselves.
        && !matches!(def.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
    {
        let mut pos = Vec::new();
        if cinnabar_commands::key_positions(def, args, &mut pos).is_ok() {
            let keys: Vec<&[u8]> = pos.iter().map(|&i| args[i]).collect();
            remember_keys(server, client, &keys);
        }
    }
    reset_caching(server, client, caching_cmd);
}

/// Records keys a tracking client read (a read-only command, or the declared keys of a
/// script that ran a read-only command, as Redis does).
pub fn remember_keys(server: &Server, client: &Client, keys: &[&[u8]]) {
    let Some(o) = &client.pubsub.tracking else {
        return;
    };
    let wanted =
        !o.bcast && (!(o.optin || o.optout) || (o.optin && o.caching) || (o.optout && !o.caching));
    if wanted && !keys.is_empty() {
        let mut t = server.tracking.inner.lock();
        for &k in keys {
            t.keys.entry(k.into()).or_default().insert(client.id);
        }
    }
}

/// CLIENT CACHING lasts for one command (a whole transaction when given before MULTI).
fn reset_caching(server: &Server, client: &mut Client, caching_cmd: bool) {
    if !caching_cmd && !client.in_exec && client.multi.is_none() {
        if let Some(o) = client.pubsub.tracking.as_mut() {
            if o.caching {
                o.caching = false;
                let o = o.clone();
                server.tracking.inner.lock().options.insert(client.id, o);
            }
        }
    }
}

/// Invalidates one key that changed (a write, or expiry when `writer` is None).
/// `me` is the client whose command caused it (its own messages follow its reply); `by_write`
/// is false for expiry, which NOLOOP does not filter.
pub fn invalidate(server: &Server, mut writer: Option<&mut Client>, key: &[u8], by_write: bool) {
    let writer_id = if by_write {
        writer.as_ref().map(|c| c.id)
    } else {
        None
    };
    let mut t = server.tracking.inner.lock();
    let mut direct: smallvec::SmallVec<[u64; 4]> = smallvec::SmallVec::new();
    let mut bcast: Vec<BcastItem> = Vec::new();
    if !t.prefixes.is_empty() {
        for (p, ids) in &t.prefixes {
            if key.starts_with(p) {
                for &id in ids {
                    let noloop = t.options.get(&id).is_some_and(|o| o.noloop);
                    if noloop && Some(id) == writer_id {
                        continue;
                    }
                    bcast.push((id, p.clone(), key.into()));
                }
            }
        }
    }
    if let Some(ids) = t.keys.remove(key) {
        for id in ids {
            match t.options.get(&id) {
                Some(o) if !o.bcast => {
                    if o.noloop && Some(id) == writer_id {
                        continue;
                    }
                    direct.push(id);
                }
                _ => {}
            }
        }
    }
    drop(t);
    for id in direct {
        send(server, writer.as_deref_mut(), id, Some(&[key]));
    }
    if !bcast.is_empty() {
        match writer {
            // Batched until the command (or EXEC) ends, one message per client and prefix.
            Some(c) if by_write => c.pubsub.bcast_batch.extend(bcast),
            Some(c) => {
                for (id, _, k) in bcast {
                    send(server, Some(&mut *c), id, Some(&[&k]));
                }
            }
            None => {
                for (id, _, k) in bcast {
                    send(server, None, id, Some(&[&k]));
                }
            }
        }
    }
}

/// Sends the BCAST invalidations a command collected: one message per client and prefix.
pub fn flush_bcast(server: &Server, client: &mut Client) {
    let items = std::mem::take(&mut client.pubsub.bcast_batch);
    // Group by (client, prefix), keeping the first-seen order of groups and keys.
    let mut groups: Vec<BcastGroup> = Vec::new();
    for (id, prefix, key) in items {
        match groups.iter_mut().find(|g| g.0 == id && g.1 == prefix) {
            Some(g) => {
                if !g.2.contains(&key) {
                    g.2.push(key);
                }
            }
            None => groups.push((id, prefix, vec![key])),
        }
    }
    for (id, _, keys) in groups {
        let refs: Vec<&[u8]> = keys.iter().map(|k| &**k).collect();
        send(server, Some(&mut *client), id, Some(&refs));
    }
}

/// FLUSHALL / FLUSHDB (Redis's trackingInvalidateKeysOnFlush): every tracking client is
/// told to drop everything (a null key list), and the key table is emptied, also when
/// nobody tracks any more (keys read by clients that turned tracking off stay in it until
/// they change or a flush comes).
pub fn flushed(server: &Server, client: &mut Client) {
    let ids: Vec<u64> = {
        let mut t = server.tracking.inner.lock();
        if !t.keys.is_empty() {
            t.keys = HashMap::new();
        }
        t.options.keys().copied().collect()
    };
    for id in ids {
        send(server, Some(&mut *client), id, None);
    }
}

/// Sends one invalidation message to tracking client `id` (or its redirect target); `keys`
/// None means "everything" (flush). The writer's own messages go after its reply.
fn send(server: &Server, writer: Option<&mut Client>, id: u64, keys: Option<&[&[u8]]>) {
    let Some(opts) = server.tracking.inner.lock().options.get(&id).cloned() else {
        return;
    };
    let mut target = id;
    if opts.redirect != 0 {
        target = opts.redirect;
        if server.pubsub.mailbox_of(target).is_none()
            && !server.clients.lock().contains_key(&target)
        {
            // The redirect client is gone: tell a RESP3 client once.
            let first = server.tracking.inner.lock().broken.insert(id);
            if first {
                if let Some(mb) = server.pubsub.mailbox_of(id) {
                    if mb.shared.resp.load(Ordering::Relaxed) == 3 {
                        let mut f = Vec::new();
                        f.extend_from_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n:");
                        f.extend_from_slice(itoa::Buffer::new().format(target).as_bytes());
                        f.extend_from_slice(b"\r\n");
                        deliver(server, writer, &mb, &f);
                    }
                }
            }
            return;
        }
    }
    let Some(mb) = server.pubsub.mailbox_of(target) else {
        return;
    };
    let resp3 = mb.shared.resp.load(Ordering::Relaxed) == 3;
    let mut f = Vec::new();
    if resp3 {
        f.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else if opts.redirect != 0 && mb.subscriptions() > 0 {
        f.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    } else {
        return;
    }
    match keys {
        None if resp3 => f.extend_from_slice(b"_\r\n"),
        None => f.extend_from_slice(b"*-1\r\n"),
        Some(keys) => {
            let mut n = itoa::Buffer::new();
            f.push(b'*');
            f.extend_from_slice(n.format(keys.len()).as_bytes());
            f.extend_from_slice(b"\r\n");
            for k in keys {
                f.push(b'$');
                f.extend_from_slice(n.format(k.len()).as_bytes());
                f.extend_from_slice(b"\r\n");
                f.extend_from_slice(k);
                f.extend_from_slice(b"\r\n");
            }
        }
    }
    deliver(server, writer, &mb, &f);
}

fn deliver(server: &Server, writer: Option<&mut Client>, mb: &crate::pubsub::Mailbox, f: &[u8]) {
    if let Some(c) = writer {
        if c.id == mb.id {
            c.pubsub.pending.extend_from_slice(f);
            return;
        }
    }
    if !mb.deliver_raw(f, server) {
        server.kill_client(mb.id);
    }
}

/// Keeps the key table within `tracking-table-max-keys` (cron): keys beyond the limit are
/// invalidated as if they had changed, so clients drop them, as Redis does.
pub fn limit_table(server: &Server) {
    if server.tracking.clients.load(Ordering::Relaxed) == 0 {
        return;
    }
    let max = server.config.get_i64("tracking-table-max-keys");
    if max <= 0 {
        return;
    }
    let victims: Vec<Box<[u8]>> = {
        let t = server.tracking.inner.lock();
        let over = t.keys.len().saturating_sub(max as usize);
        t.keys.keys().take(over).cloned().collect()
    };
    for k in victims {
        invalidate(server, None, &k, false);
    }
}
