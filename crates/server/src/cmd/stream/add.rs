//! XADD, XTRIM, XDEL and XSETID: the commands that change a stream's entries or its ID
//! counters.
//!
//! XADD and XTRIM share Redis's option parser (streamParseAddOrTrimArgsOrReply), whose order
//! of checks decides which error a malformed command gets. An approximate trim (`~`) removes
//! whole nodes only, so its result depends on the node layout: it is propagated as the exact
//! trim it amounted to (streamRewriteApproxSpecifier / streamRewriteTrimArgument), and XADD's
//! generated ID replaces `*` / `<ms>-*`, so AOF replay rebuilds the same stream.

use cinnabar_engine::types::stream::{AddId, StreamError, StreamId, Trim, TrimStrategy};
use cinnabar_engine::{Error, Result};

use super::{clock, create_stream, find, node_limits, obeying, stream_mut, IdText};
use crate::cmd::{int_arg, is};
use crate::dispatch::Ctx;
use crate::notify::STREAM;

/// What XADD/XTRIM's options say.
struct AddTrimArgs {
    trim: Option<Trim>,
    /// Position of the MAXLEN count / MINID id argument (for the rewrite; the `~` is just
    /// before it when `approx`).
    trim_arg: usize,
    nomkstream: bool,
    /// XADD's ID argument: position and parsed form (`None` for `*`).
    id_pos: usize,
    id: Option<AddId>,
}

/// Redis's streamParseAddOrTrimArgsOrReply. For XADD it stops at the ID argument.
fn parse_add_trim(ctx: &Ctx, xadd: bool) -> Result<AddTrimArgs> {
    let args = ctx.args;
    let argc = args.len();
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut out = AddTrimArgs {
        trim: None,
        trim_arg: 0,
        nomkstream: false,
        id_pos: argc,
        id: None,
    };
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = args[i];
        if xadd && opt == b"*" {
            out.id_pos = i;
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if strategy.is_some() {
                return Err(StreamError::MaxLenAndMinId.into());
            }
            approx = false;
            let next = args[i + 1];
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if is(opt, "maxlen") {
                let n = int_arg(args[i + 1])?;
                if n < 0 {
                    return Err(StreamError::NegativeMaxLen.into());
                }
                strategy = Some(TrimStrategy::MaxLen(n as u64));
            } else {
                strategy = Some(TrimStrategy::MinId(StreamId::parse_strict(args[i + 1], 0)?));
            }
            i += 1;
            out.trim_arg = i;
        } else if is(opt, "limit") && more > 0 {
            limit = int_arg(args[i + 1])?;
            if limit < 0 {
                return Err(StreamError::NegativeLimit.into());
            }
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            out.nomkstream = true;
        } else if xadd {
            // A syntax error or the ID.
            out.id = Some(AddId::parse(opt)?);
            out.id_pos = i;
            break;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if limit != 0 && strategy.is_none() {
        return Err(StreamError::LimitWithoutStrategy.into());
    }
    if !xadd && strategy.is_none() {
        return Err(StreamError::XtrimWithoutStrategy.into());
    }
    let limit = if obeying(ctx) {
        // Replayed: the trim was propagated exact, and LIMIT must not cut it short.
        0
    } else if limit_given {
        if !approx {
            return Err(StreamError::LimitWithoutApprox.into());
        }
        limit as u64
    } else if approx {
        node_limits(ctx).approx_trim_limit()
    } else {
        0
    };
    out.trim = strategy.map(|strategy| Trim {
        strategy,
        approx,
        limit,
    });
    Ok(out)
}

/// The argument an approximate trim is propagated with: the length it left (MAXLEN) or the
/// first ID it left, tombstones included (MINID).
fn exact_trim_arg(s: &cinnabar_engine::types::stream::Stream, t: &Trim) -> Vec<u8> {
    match t.strategy {
        TrimStrategy::MaxLen(_) => itoa::Buffer::new().format(s.len()).as_bytes().to_vec(),
        TrimStrategy::MinId(_) => s.edge_id(true, false).to_vec(),
    }
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
pub fn xadd(ctx: &mut Ctx) -> Result<()> {
    let p = parse_add_trim(ctx, true)?;
    let argc = ctx.args.len();
    let fields_at = p.id_pos + 1;
    if fields_at > argc || argc - fields_at < 2 || (argc - fields_at) % 2 == 1 {
        return Err(Error::WrongArity("xadd".into()));
    }
    let id = p.id.unwrap_or(AddId::Auto);
    if id.is_zero() {
        return Err(StreamError::IdZero.into());
    }
    let key = ctx.arg(1);
    let dbi = ctx.client.db;
    let slot = match find(ctx, key, false)? {
        Some(s) => s,
        None if p.nomkstream => {
            ctx.out.null();
            return Ok(());
        }
        None => {
            let s = create_stream(ctx, key);
            ctx.fx.added(dbi, key);
            s
        }
    };
    let limits = node_limits(ctx);
    let now = clock(ctx).max(0) as u64;
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_mut(db, slot);
    let new = s.add(id, &ctx.args[fields_at..], now, limits)?;
    let text = IdText::new(new);
    ctx.out.bulk(text.as_bytes());
    ctx.fx.modified(dbi, key);
    ctx.fx.event(STREAM, "xadd", dbi, key);
    ctx.fx.dirty += 1;
    let mut trim_arg = None;
    if let Some(t) = p.trim {
        if s.trim(t) > 0 {
            ctx.fx.event(STREAM, "xtrim", dbi, key);
        }
        if t.approx && ctx.fx.propagating() {
            trim_arg = Some(exact_trim_arg(s, &t));
        }
    }
    let id_generated = !matches!(id, AddId::Explicit(_));
    if ctx.fx.propagating() && (trim_arg.is_some() || id_generated) {
        let mut argv: Vec<Vec<u8>> = ctx.args.iter().map(|a| a.to_vec()).collect();
        if let Some(a) = trim_arg {
            argv[p.trim_arg - 1] = b"=".to_vec();
            argv[p.trim_arg] = a;
        }
        if id_generated {
            argv[p.id_pos] = text.as_bytes().to_vec();
        }
        ctx.fx.propagate_as(|| argv);
    }
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx) -> Result<()> {
    let p = parse_add_trim(ctx, false)?;
    let t = p.trim.expect("XTRIM has a strategy");
    let key = ctx.arg(1);
    let Some(slot) = find(ctx, key, false)? else {
        ctx.out.integer(0);
        return Ok(());
    };
    let dbi = ctx.client.db;
    let (db, _) = crate::key_db!(ctx, key);
    let s = stream_mut(db, slot);
    let deleted = s.trim(t);
    if deleted > 0 {
        ctx.fx.event(STREAM, "xtrim", dbi, key);
        if t.approx && ctx.fx.propagating() {
            let mut argv: Vec<Vec<u8>> = ctx.args.iter().map(|a| a.to_vec()).collect();
            argv[p.trim_arg - 1] = b"=".to_vec();
            argv[p.trim_arg] = exact_trim_arg(s, &t);
            ctx.fx.propagate_as(|| argv);
        }
        ctx.fx.modified(dbi, key);
        ctx.fx.dirty += deleted;
    }
    ctx.out.integer(deleted as i64);
    Ok(())
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx) -> Result<()> {
    let key = ctx.arg(1);
    // Redis looks the key up before it checks the IDs.
    let Some(slot) = find(ctx, key, false)? else {
        ctx.out.integer(0);
        return Ok(());
    };
    let ids = ctx.args[2..]
        .iter()
        .map(|a| StreamId::parse_strict(a, 0))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let dbi = ctx.client.db;
    let (db, _) = crate::key_db!(ctx, key);
    let deleted = stream_mut(db, slot).delete(&ids);
    if deleted > 0 {
        ctx.fx.modified(dbi, key);
        ctx.fx.event(STREAM, "xdel", dbi, key);
        ctx.fx.dirty += deleted;
    }
    ctx.out.integer(deleted as i64);
    Ok(())
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(ctx: &mut Ctx) -> Result<()> {
    let id = StreamId::parse_strict(ctx.arg(2), 0)?;
    let mut entries_added = None;
    let mut max_deleted = None;
    let argc = ctx.args.len();
    let mut i = 3;
    while i < argc {
        let more = argc - 1 - i;
        let opt = ctx.arg(i);
        if is(opt, "entriesadded") && more > 0 {
            let n = int_arg(ctx.arg(i + 1))?;
            if n < 0 {
                return Err(StreamError::NegativeEntriesAdded.into());
            }
            entries_added = Some(n as u64);
        } else if is(opt, "maxdeletedid") && more > 0 {
            let m = StreamId::parse_strict(ctx.arg(i + 1), 0)?;
            if id < m {
                return Err(StreamError::SetIdBelowGivenMaxDeleted.into());
            }
            max_deleted = Some(m);
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }
    let key = ctx.arg(1);
    let Some(slot) = find(ctx, key, false)? else {
        return Err(Error::NoSuchKey);
    };
    let dbi = ctx.client.db;
    let (db, _) = crate::key_db!(ctx, key);
    stream_mut(db, slot).set_id(id, entries_added, max_deleted)?;
    ctx.out.ok();
    ctx.fx.dirty += 1;
    ctx.fx.event(STREAM, "xsetid", dbi, key);
    Ok(())
}
