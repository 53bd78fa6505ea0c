//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB. The
//! registry and delivery live in `crate::pubsub`.

use cinnabar_engine::{Error, Result};

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

/// INFO stats fields.
pub fn info_counts(server: &Server) -> (usize, usize, usize) {
    let h = &server.pubsub;
    (h.nchannels(), h.numpat(), h.nshard_channels())
}
