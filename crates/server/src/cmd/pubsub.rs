//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB. The
//! registry and delivery live in `crate::pubsub`.

use cinnabar_engine::{Error, Result};

use super::is;
use crate::dispatch::{Ctx, Registry, ReplyMode};
use crate::pubsub::Space;
use crate::server::Server;

pub fn register(r: &mut Registry) {
    r.add("subscribe", subscribe);
    r.add("unsubscribe", unsubscribe);
    r.add("psubscribe", psubscribe);
    r.add("punsubscribe", punsubscribe);
    r.add("ssubscribe", ssubscribe);
    r.add("sunsubscribe", sunsubscribe);
    r.add("publish", publish);
    r.add("spublish", spublish);
    r.add("pubsub|channels", pubsub_channels);
    r.add("pubsub|shardchannels", pubsub_shardchannels);
    r.add("pubsub|numsub", pubsub_numsub);
    r.add("pubsub|shardnumsub", pubsub_shardnumsub);
    r.add("pubsub|numpat", pubsub_numpat);
    r.add("pubsub|help", pubsub_help);
    r.add("client|tracking", client_tracking);
    r.add("client|caching", client_caching);
    r.add("client|getredir", client_getredir);
    r.add("client|trackinginfo", client_trackinginfo);
}

/// Writes one confirmation (["subscribe", channel, count] and friends) as a push. Like every
/// pub/sub frame it is delivered even under CLIENT REPLY OFF/SKIP, as in Redis.
fn confirm(ctx: &mut Ctx, kind: &[u8], channel: Option<&[u8]>, count: usize) {
    let mark = ctx.out.len();
    ctx.out.push(3);
    ctx.out.bulk(kind);
    match channel {
        Some(c) => ctx.out.bulk(c),
        None => ctx.out.null(),
    }
    ctx.out.integer(count as i64);
    if ctx.client.reply_mode != ReplyMode::On && !ctx.client.in_exec {
        ctx.client
            .pubsub
            .pending
            .extend_from_slice(&ctx.out.buf[mark..]);
        ctx.out.truncate(mark);
    }
}

fn subscribe(ctx: &mut Ctx) -> Result<()> {
    for i in 1..ctx.args.len() {
        let ch = ctx.arg(i);
        ctx.server.pubsub.subscribe(ctx.client, Space::Global, ch);
        let n = ctx.client.pubsub.count();
        confirm(ctx, b"subscribe", Some(ch), n);
    }
    Ok(())
}

fn psubscribe(ctx: &mut Ctx) -> Result<()> {
    for i in 1..ctx.args.len() {
        let p = ctx.arg(i);
        ctx.server.pubsub.psubscribe(ctx.client, p);
        let n = ctx.client.pubsub.count();
        confirm(ctx, b"psubscribe", Some(p), n);
    }
    Ok(())
}

fn ssubscribe(ctx: &mut Ctx) -> Result<()> {
    if ctx.client.in_exec {
        return Err(Error::msg(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    for i in 1..ctx.args.len() {
        let ch = ctx.arg(i);
        ctx.server.pubsub.subscribe(ctx.client, Space::Shard, ch);
        let n = ctx.client.pubsub.shard_channels.len();
        confirm(ctx, b"ssubscribe", Some(ch), n);
    }
    Ok(())
}

/// UNSUBSCRIBE / SUNSUBSCRIBE [channel ...]: without arguments, every channel; with nothing to
/// drop, one confirmation with a null channel.
fn unsubscribe_in(ctx: &mut Ctx, space: Space, kind: &[u8]) {
    let count = |ctx: &Ctx| match space {
        Space::Global => ctx.client.pubsub.count(),
        Space::Shard => ctx.client.pubsub.shard_channels.len(),
    };
    let channels: Vec<Box<[u8]>> = if ctx.args.len() > 1 {
        ctx.args[1..].iter().map(|a| Box::from(*a)).collect()
    } else {
        match space {
            Space::Global => ctx.client.pubsub.channels.iter().cloned().collect(),
            Space::Shard => ctx.client.pubsub.shard_channels.iter().cloned().collect(),
        }
    };
    if channels.is_empty() {
        let n = count(ctx);
        confirm(ctx, kind, None, n);
        return;
    }
    for ch in channels {
        ctx.server.pubsub.unsubscribe(ctx.client, space, &ch);
        let n = count(ctx);
        confirm(ctx, kind, Some(&ch), n);
    }
}

fn unsubscribe(ctx: &mut Ctx) -> Result<()> {
    unsubscribe_in(ctx, Space::Global, b"unsubscribe");
    Ok(())
}

fn sunsubscribe(ctx: &mut Ctx) -> Result<()> {
    unsubscribe_in(ctx, Space::Shard, b"sunsubscribe");
    Ok(())
}

fn punsubscribe(ctx: &mut Ctx) -> Result<()> {
    let patterns: Vec<Box<[u8]>> = if ctx.args.len() > 1 {
        ctx.args[1..].iter().map(|a| Box::from(*a)).collect()
    } else {
        ctx.client.pubsub.patterns.iter().cloned().collect()
    };
    if patterns.is_empty() {
        let n = ctx.client.pubsub.count();
        confirm(ctx, b"punsubscribe", None, n);
        return Ok(());
    }
    for p in patterns {
        ctx.server.pubsub.punsubscribe(ctx.client, &p);
        let n = ctx.client.pubsub.count();
        confirm(ctx, b"punsubscribe", Some(&p), n);
    }
    Ok(())
}

fn publish(ctx: &mut Ctx) -> Result<()> {
    let n = ctx.server.pubsub.publish(
        ctx.server,
        Some(&mut *ctx.client),
        Space::Global,
        ctx.args[1],
        ctx.args[2],
    );
    ctx.out.integer(n as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx) -> Result<()> {
    let n = ctx.server.pubsub.publish(
        ctx.server,
        Some(&mut *ctx.client),
        Space::Shard,
        ctx.args[1],
        ctx.args[2],
    );
    ctx.out.integer(n as i64);
    Ok(())
}

fn channels_reply(ctx: &mut Ctx, space: Space) -> Result<()> {
    let list = ctx.server.pubsub.channels(space, ctx.args.get(2).copied());
    ctx.out.array(list.len());
    for ch in &list {
        ctx.out.bulk(ch);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx) -> Result<()> {
    channels_reply(ctx, Space::Global)
}

fn pubsub_shardchannels(ctx: &mut Ctx) -> Result<()> {
    channels_reply(ctx, Space::Shard)
}

fn numsub_reply(ctx: &mut Ctx, space: Space) -> Result<()> {
    ctx.out.array((ctx.args.len() - 2) * 2);
    for ch in &ctx.args[2..] {
        ctx.out.bulk(ch);
        ctx.out.integer(ctx.server.pubsub.numsub(space, ch) as i64);
    }
    Ok(())
}

fn pubsub_numsub(ctx: &mut Ctx) -> Result<()> {
    numsub_reply(ctx, Space::Global)
}

fn pubsub_shardnumsub(ctx: &mut Ctx) -> Result<()> {
    numsub_reply(ctx, Space::Shard)
}

fn pubsub_numpat(ctx: &mut Ctx) -> Result<()> {
    ctx.out.integer(ctx.server.pubsub.numpat() as i64);
    Ok(())
}

fn pubsub_help(ctx: &mut Ctx) -> Result<()> {
    const LINES: &[&str] = &[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Print this help.",
    ];
    super::help_reply(ctx, LINES);
    Ok(())
}

/// RESET: drop every subscription (and client tracking) without confirmations.
pub fn reset_client(ctx: &mut Ctx) {
    ctx.server.pubsub.unsubscribe_all(ctx.client);
    crate::tracking::disable(ctx.server, ctx.client);
}

/// What CLIENT LIST shows of a client's pub/sub and tracking state.
pub struct ListFields {
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    pub omem: usize,
    pub redir: i64,
    pub flags: String,
}

pub fn client_list_fields(server: &Server, id: u64) -> ListFields {
    let (sub, psub, ssub, omem) = server.pubsub.client_counts(id);
    let mut flags = String::new();
    if sub + psub + ssub > 0 {
        flags.push('P');
    }
    let (tflags, redir) = crate::tracking::list_info(server, id);
    flags.push_str(&tflags);
    ListFields {
        sub,
        psub,
        ssub,
        omem,
        redir,
        flags,
    }
}

/// True when the client has any subscription (CLIENT LIST/KILL TYPE pubsub).
pub fn is_pubsub_client(server: &Server, id: u64) -> bool {
    let (sub, psub, ssub, _) = server.pubsub.client_counts(id);
    sub + psub + ssub > 0
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP], with
/// Redis's checks in Redis's order.
fn client_tracking(ctx: &mut Ctx) -> Result<()> {
    let mut opts = crate::tracking::Options::default();
    let mut j = 3;
    while j < ctx.args.len() {
        let a = ctx.arg(j);
        let more = j + 1 < ctx.args.len();
        if is(a, "redirect") && more {
            j += 1;
            if opts.redirect != 0 {
                return Err(Error::msg(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = super::int_arg(ctx.arg(j))?;
            if id <= 0 || !ctx.server.clients.lock().contains_key(&(id as u64)) {
                return Err(Error::msg(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            opts.redirect = id as u64;
        } else if is(a, "bcast") {
            opts.bcast = true;
        } else if is(a, "optin") {
            opts.optin = true;
        } else if is(a, "optout") {
            opts.optout = true;
        } else if is(a, "noloop") {
            opts.noloop = true;
        } else if is(a, "prefix") && more {
            j += 1;
            opts.prefixes.push(ctx.arg(j).into());
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let mode = ctx.arg(2);
    if is(mode, "on") {
        if !opts.bcast && !opts.prefixes.is_empty() {
            return Err(Error::msg(
                "ERR PREFIX option requires BCAST mode to be enabled",
            ));
        }
        let current = ctx.client.pubsub.tracking.clone();
        if let Some(cur) = &current {
            if cur.bcast != opts.bcast {
                return Err(Error::msg("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return Err(Error::msg(
                "ERR OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if opts.optin && opts.optout {
            return Err(Error::msg(
                "ERR You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if let Some(cur) = &current {
            if (opts.optin && cur.optout) || (opts.optout && cur.optin) {
                return Err(Error::msg("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
        }
        if opts.bcast {
            check_prefixes(current.as_ref(), &opts.prefixes)?;
        }
        crate::tracking::enable(ctx.server, ctx.client, opts);
    } else if is(mode, "off") {
        crate::tracking::disable(ctx.server, ctx.client);
    } else {
        return Err(Error::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

/// BCAST prefixes of one client must not overlap, neither with its existing ones nor with
/// each other.
fn check_prefixes(current: Option<&crate::tracking::Options>, new: &[Box<[u8]>]) -> Result<()> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(cur) = current {
            if let Some(c) = cur
                .prefixes
                .iter()
                .find(|c| overlap(c, p) && c[..] != p[..])
            {
                return Err(Error::msg(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(c)
                )));
            }
        }
        for q in &new[i + 1..] {
            if overlap(p, q) {
                return Err(Error::msg(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(q)
                )));
            }
        }
    }
    Ok(())
}

fn client_caching(ctx: &mut Ctx) -> Result<()> {
    let Some(o) = ctx.client.pubsub.tracking.as_ref() else {
        return Err(Error::msg("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    let a = ctx.arg(2);
    if is(a, "yes") {
        if !o.optin {
            return Err(Error::msg(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(a, "no") {
        if !o.optout {
            return Err(Error::msg(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(Error::Syntax);
    }
    crate::tracking::set_caching(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

fn client_getredir(ctx: &mut Ctx) -> Result<()> {
    let n = match &ctx.client.pubsub.tracking {
        Some(o) => o.redirect as i64,
        None => -1,
    };
    ctx.out.integer(n);
    Ok(())
}

fn client_trackinginfo(ctx: &mut Ctx) -> Result<()> {
    let opts = ctx.client.pubsub.tracking.clone();
    let broken = opts.is_some() && crate::tracking::is_broken(ctx.server, ctx.client.id);
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    let mut flags: Vec<&[u8]> = Vec::new();
    match &opts {
        None => flags.push(b"off"),
        Some(o) => {
            flags.push(b"on");
            if o.bcast {
                flags.push(b"bcast");
            }
            if o.optin {
                flags.push(b"optin");
                if o.caching {
                    flags.push(b"caching-yes");
                }
            }
            if o.optout {
                flags.push(b"optout");
                if o.caching {
                    flags.push(b"caching-no");
                }
            }
            if o.noloop {
                flags.push(b"noloop");
            }
            if broken {
                flags.push(b"broken_redirect");
            }
        }
    }
    out.set(flags.len());
    for f in flags {
        out.bulk(f);
    }
    out.bulk(b"redirect");
    out.integer(opts.as_ref().map_or(-1, |o| o.redirect as i64));
    out.bulk(b"prefixes");
    let prefixes = opts.map(|o| o.prefixes).unwrap_or_default();
    out.array(prefixes.len());
    for p in &prefixes {
        out.bulk(p);
    }
    Ok(())
}
