//! The ACL command (Redis's aclCommand): SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI,
//! CAT, GENPASS, LOG, DRYRUN, LOAD, SAVE, HELP. Users, rules and checks are `crate::acl`.

use std::sync::Arc;

use cinnabar_commands as commands;
use cinnabar_engine::{Error, Result};

use super::{int_arg, is};
use crate::acl::{self, UserHandle};
use crate::dispatch::{Ctx, Registry};
use crate::server::Server;

pub fn register(r: &mut Registry) {
    r.add_nothing("acl|setuser", setuser);
    r.add_nothing("acl|getuser", getuser);
    r.add_nothing("acl|deluser", deluser);
    r.add_nothing("acl|list", list);
    r.add_nothing("acl|users", users);
    r.add_nothing("acl|whoami", whoami);
    r.add_nothing("acl|cat", cat);
    r.add_nothing("acl|genpass", genpass);
    r.add_nothing("acl|log", log);
    r.add_nothing("acl|dryrun", dryrun);
    r.add_nothing("acl|load", load);
    r.add_nothing("acl|save", save);
    r.add_nothing("acl|help", help);
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Redis's addReplySubcommandSyntaxError, for argument counts the table's arity allows.
fn syntax_error(ctx: &Ctx) -> Error {
    Error::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        lossy(ctx.arg(1))
    ))
}

/// Errors may echo user input: CR and LF become spaces, as Redis's addReplyErrorSdsSafe.
fn safe_error(msg: String) -> Error {
    Error::msg(format!("ERR {}", msg.replace(['\r', '\n'], " ")))
}

fn setuser(ctx: &mut Ctx) -> Result<()> {
    let name = ctx.arg(2);
    if name.iter().any(|c| c.is_ascii_whitespace() || *c == 0) {
        return Err(Error::msg(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let ops: Vec<Vec<u8>> = ctx.args[3..].iter().map(|a| a.to_vec()).collect();
    let server = ctx.server;
    let (handle, before) = server
        .acl
        .set_user(server, name, &ops)
        .map_err(safe_error)?;
    if let Some(before) = before {
        kill_pubsub_if_needed(ctx, &handle, &before);
    }
    ctx.out.ok();
    Ok(())
}

/// Redis's ACLKillPubsubClientsIfNeeded: when a user's channel permissions shrink, its
/// subscribers whose subscriptions are no longer allowed are disconnected.
fn kill_pubsub_if_needed(ctx: &mut Ctx, handle: &Arc<UserHandle>, before: &acl::User) {
    let server = ctx.server;
    if !server.pubsub.has_subscribers() && server.pubsub.nshard_channels() == 0 {
        return;
    }
    let now = handle.get();
    if now.all_channels() {
        return;
    }
    let upcoming = now.all_channel_patterns();
    if !before.all_channels()
        && before
            .all_channel_patterns()
            .iter()
            .all(|p| upcoming.contains(p))
    {
        return;
    }
    let ids: Vec<u64> = server
        .clients
        .lock()
        .values()
        .filter(|c| {
            let u = c.user.lock();
            match &*u {
                Some(h) => Arc::ptr_eq(h, handle),
                None => Arc::ptr_eq(&server.acl.default, handle),
            }
        })
        .map(|c| c.id)
        .collect();
    let doomed = server.pubsub.clients_failing(&ids, |name, is_pattern| {
        acl::rules::channel_in_list(&upcoming, name, is_pattern)
    });
    for id in doomed {
        if id == ctx.client.id {
            ctx.client.close_after_reply = true;
        } else {
            server.kill_client(id);
        }
    }
}

fn deluser(ctx: &mut Ctx) -> Result<()> {
    let names: Vec<&[u8]> = ctx.args[2..].to_vec();
    if names.iter().any(|n| *n == b"default") {
        return Err(Error::msg("ERR The 'default' user cannot be removed"));
    }
    let removed = ctx.server.acl.delete_users(&names);
    if acl::kill_clients_of(ctx.server, &removed, ctx.client.id) {
        ctx.client.close_after_reply = true;
    }
    ctx.out.integer(removed.len() as i64);
    Ok(())
}

/// One selector's commands, keys and channels as GETUSER shows them.
fn describe_selector(out: &mut cinnabar_resp::ReplyBuf, s: &acl::rules::Selector) {
    out.bulk(b"commands");
    out.bulk(s.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(&s.describe_keys());
    out.bulk(b"channels");
    out.bulk(&s.describe_channels());
}

fn getuser(ctx: &mut Ctx) -> Result<()> {
    let Some(h) = ctx.server.acl.get(ctx.arg(2)) else {
        ctx.out.null();
        return Ok(());
    };
    let u = h.get();
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = u.flag_names();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(u.passwords.len());
    for p in &u.passwords {
        out.bulk(p.as_bytes());
    }
    describe_selector(out, u.root());
    out.bulk(b"selectors");
    out.array(u.selectors.len() - 1);
    for s in &u.selectors[1..] {
        out.map(3);
        describe_selector(out, s);
    }
    Ok(())
}

fn list(ctx: &mut Ctx) -> Result<()> {
    let users = ctx.server.acl.all();
    ctx.out.array(users.len());
    for h in users {
        let mut line = b"user ".to_vec();
        line.extend_from_slice(&h.name);
        line.push(b' ');
        line.extend_from_slice(&h.get().describe());
        ctx.out.bulk(&line);
    }
    Ok(())
}

fn users(ctx: &mut Ctx) -> Result<()> {
    let users = ctx.server.acl.all();
    ctx.out.array(users.len());
    for h in users {
        ctx.out.bulk(&h.name);
    }
    Ok(())
}

fn whoami(ctx: &mut Ctx) -> Result<()> {
    let name = ctx.server.acl.user_of(&ctx.client.user).name.clone();
    ctx.out.bulk(&name);
    Ok(())
}

fn cat(ctx: &mut Ctx) -> Result<()> {
    match ctx.args.len() {
        2 => {
            ctx.out.array(commands::acl::CATEGORIES.len());
            for (_, name) in commands::acl::CATEGORIES {
                ctx.out.bulk(name.as_bytes());
            }
        }
        3 => {
            let name = lossy(ctx.arg(2));
            let Some(cat) = commands::acl::from_name(&name) else {
                let shown: String = name.chars().take(128).collect();
                return Err(safe_error(format!("Unknown category '{shown}'")));
            };
            let names: Vec<&str> = acl::rules::ids()
                .in_category(cat)
                .map(|d| d.full_name())
                .collect();
            ctx.out.array(names.len());
            for n in names {
                ctx.out.bulk(n.as_bytes());
            }
        }
        _ => return Err(syntax_error(ctx)),
    }
    Ok(())
}

fn genpass(ctx: &mut Ctx) -> Result<()> {
    const MAX_BITS: i64 = 4096;
    let bits = match ctx.args.len() {
        2 => 256,
        3 => int_arg(ctx.arg(2))?,
        _ => return Err(syntax_error(ctx)),
    };
    if bits <= 0 || bits > MAX_BITS {
        return Err(Error::msg(format!("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {MAX_BITS}")));
    }
    let chars = ((bits + 3) / 4) as usize;
    use rand::RngCore;
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(char::from_digit((b >> 4) as u32, 16).unwrap());
        hex.push(char::from_digit((b & 15) as u32, 16).unwrap());
    }
    hex.truncate(chars);
    ctx.out.bulk(hex.as_bytes());
    Ok(())
}

fn log(ctx: &mut Ctx) -> Result<()> {
    let mut count = 10i64;
    match ctx.args.len() {
        2 => {}
        3 => {
            if is(ctx.arg(2), "reset") {
                ctx.server.acl.reset_log();
                ctx.out.ok();
                return Ok(());
            }
            count = int_arg(ctx.arg(2))?.max(0);
        }
        _ => return Err(syntax_error(ctx)),
    }
    let now = crate::server::now_ms();
    let out = &mut *ctx.out;
    ctx.server.acl.with_log(|entries| {
        let n = (count as usize).min(entries.len());
        out.array(n);
        for e in entries.iter().take(n) {
            out.map(10);
            out.bulk(b"count");
            out.integer(e.count as i64);
            out.bulk(b"reason");
            out.bulk(e.reason.name().as_bytes());
            out.bulk(b"context");
            out.bulk(e.context.name().as_bytes());
            out.bulk(b"object");
            out.bulk(&e.object);
            out.bulk(b"username");
            out.bulk(&e.username);
            out.bulk(b"age-seconds");
            out.double((now - e.ctime) as f64 / 1000.0);
            out.bulk(b"client-info");
            out.bulk(e.cinfo.as_bytes());
            out.bulk(b"entry-id");
            out.integer(e.entry_id as i64);
            out.bulk(b"timestamp-created");
            out.integer(e.created);
            out.bulk(b"timestamp-last-updated");
            out.integer(e.ctime);
        }
    });
    Ok(())
}

/// The table entry `args` name (a container's subcommand when given), as Redis's
/// lookupCommand: None when unknown.
fn lookup(args: &[&[u8]]) -> Option<&'static commands::CommandDef> {
    let def = commands::lookup(args[0])?;
    if def.subcommands.is_empty() || args.len() == 1 {
        return Some(def);
    }
    commands::lookup_sub(def, args[1])
}

fn dryrun(ctx: &mut Ctx) -> Result<()> {
    let server = ctx.server;
    let Some(h) = server.acl.get(ctx.arg(2)) else {
        return Err(safe_error(format!(
            "User '{}' not found",
            lossy(ctx.arg(2))
        )));
    };
    let args = &ctx.args[3..];
    let Some(def) = lookup(args) else {
        return Err(safe_error(format!(
            "Command '{}' not found",
            lossy(args[0])
        )));
    };
    if !def.arity_ok(args.len()) {
        return Err(Error::msg(format!(
            "ERR wrong number of arguments for '{}' command",
            def.full_name()
        )));
    }
    match h.get().check(def, args) {
        Ok(()) => ctx.out.ok(),
        Err(d) => ctx
            .out
            .bulk(acl::deny_message(d, &h.name, def, args, true).as_bytes()),
    }
    Ok(())
}

const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn aclfile(server: &Server) -> Result<String> {
    if server.config.get("aclfile").is_empty() {
        return Err(Error::msg(NO_ACLFILE));
    }
    Ok(acl::aclfile_path(server))
}

fn load(ctx: &mut Ctx) -> Result<()> {
    let server = ctx.server;
    let file = aclfile(server)?;
    let text = std::fs::read_to_string(&file).map_err(|e| {
        let why = e.to_string();
        let why = why.split(" (os error").next().unwrap_or("").to_string();
        safe_error(format!("Error loading ACLs, opening file '{file}': {why}"))
    })?;
    let old = server
        .acl
        .load_text(server, &file, &text)
        .map_err(safe_error)?;
    if acl::kill_clients_of(server, &old, ctx.client.id) {
        ctx.client.close_after_reply = true;
    }
    ctx.out.ok();
    Ok(())
}

fn save(ctx: &mut Ctx) -> Result<()> {
    let file = aclfile(ctx.server)?;
    if let Err(e) = acl::save_file(ctx.server, &file) {
        tracing::warn!("ACL SAVE to {file}: {e}");
        return Err(Error::msg("ERR There was an error trying to save the ACLs. Please check the server logs for more information"));
    }
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx) -> Result<()> {
    const LINES: &[&str] = &[
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    The command categories, or the commands of <category>.",
        "DELUSER <username> [<username> ...]",
        "    Remove users (their connections are closed).",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Tell whether the user may run the command, without running it.",
        "GETUSER <username>",
        "    The user's flags, password hashes and permissions.",
        "GENPASS [<bits>]",
        "    A random password of 256 bits, or of <bits> bits.",
        "LIST",
        "    Every user, as config file lines.",
        "LOAD",
        "    Replace the users with those of the ACL file.",
        "LOG [<count> | RESET]",
        "    Recent denials, or clear them.",
        "SAVE",
        "    Write the users to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create a user or change its attributes.",
        "USERS",
        "    The names of every user.",
        "WHOAMI",
        "    The user of this connection.",
        "HELP",
        "    Print this help.",
    ];
    super::help_reply(ctx, LINES);
    Ok(())
}
