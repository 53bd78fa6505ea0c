//! Scripting commands (Redis's eval.c and functions.c): EVAL, EVALSHA, EVAL_RO, EVALSHA_RO,
//! SCRIPT LOAD/EXISTS/FLUSH/KILL, FCALL, FCALL_RO and FUNCTION.
//!
//! Dispatch holds the script mutex and the declared keys' shards while these run; see
//! `crate::scripting` for how a script is isolated.

use cinnabar_engine::glob::glob_match;
use cinnabar_engine::{Error, Result};

use super::{int_arg, is};
use crate::dispatch::{Ctx, Registry};
use crate::scripting::{self, functions, script_flags};

pub fn register(r: &mut Registry) {
    r.add_script("eval", eval);
    r.add_script("evalsha", evalsha);
    r.add_script("eval_ro", eval_ro);
    r.add_script("evalsha_ro", evalsha_ro);
    r.add_script("fcall", fcall);
    r.add_script("fcall_ro", fcall_ro);
    r.add("script|load", script_load);
    r.add("script|exists", script_exists);
    r.add("script|flush", script_flush);
    r.add("script|kill", script_kill);
    r.add("script|help", script_help);
    r.add("function|load", function_load);
    r.add("function|delete", function_delete);
    r.add("function|flush", function_flush);
    r.add("function|list", function_list);
    r.add("function|stats", function_stats);
    r.add("function|kill", function_kill);
    r.add("function|dump", function_dump);
    r.add("function|restore", function_restore);
    r.add("function|help", function_help);
}

/// numkeys of EVAL/FCALL, checked against the arguments that follow it.
fn numkeys(ctx: &Ctx, fcall: bool) -> Result<usize> {
    let n = match int_arg(ctx.arg(2)) {
        Ok(n) => n,
        Err(_) if fcall => return Err(Error::msg("ERR Bad number of keys provided")),
        Err(e) => return Err(e),
    };
    if n > ctx.args.len() as i64 - 3 {
        return Err(Error::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(Error::msg("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

fn eval(ctx: &mut Ctx) -> Result<()> {
    eval_generic(ctx, false, false)
}

fn evalsha(ctx: &mut Ctx) -> Result<()> {
    eval_generic(ctx, true, false)
}

fn eval_ro(ctx: &mut Ctx) -> Result<()> {
    eval_generic(ctx, false, true)
}

fn evalsha_ro(ctx: &mut Ctx) -> Result<()> {
    eval_generic(ctx, true, true)
}

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

fn eval_generic(ctx: &mut Ctx, by_sha: bool, ro: bool) -> Result<()> {
    let nkeys = numkeys(ctx, false)?;
    let server = ctx.server;
    let (sha, script) = if by_sha {
        let given = ctx.arg(1);
        let Ok(mut sha) = <[u8; 40]>::try_from(given) else {
            return Err(Error::msg(NOSCRIPT));
        };
        sha.make_ascii_lowercase();
        match server.scripts.get(&sha) {
            Some(s) => (sha, s),
            None => return Err(Error::msg(NOSCRIPT)),
        }
    } else {
        let body = ctx.arg(1);
        let sha = scripting::sha1_hex(body);
        match server.scripts.get(&sha) {
            Some(s) => (sha, s),
            None => (sha, create(server, &sha, body)?),
        }
    };
    let args = ctx.args;
    let keys = &args[3..3 + nkeys];
    let argv = &args[3 + nkeys..];
    scripting::run_script(ctx, &sha, &script, keys, argv, ro)
}

/// Validates a new script (shebang, syntax) and adds it to the cache (luaCreateFunction).
fn create(
    server: &crate::server::Server,
    sha: &[u8; 40],
    body: &[u8],
) -> Result<std::sync::Arc<scripting::Script>> {
    let (flags, _) = scripting::parse_shebang(body).map_err(|e| Error::msg(format!("ERR {e}")))?;
    let candidate = scripting::Script {
        body: body.into(),
        flags,
    };
    scripting::check_compiles(server, sha, &candidate)?;
    Ok(server.scripts.insert(*sha, body, flags))
}

fn script_load(ctx: &mut Ctx) -> Result<()> {
    let body = ctx.arg(2);
    let sha = scripting::sha1_hex(body);
    if ctx.server.scripts.get(&sha).is_none() {
        create(ctx.server, &sha, body)?;
    }
    ctx.out.bulk(&sha);
    Ok(())
}

fn script_exists(ctx: &mut Ctx) -> Result<()> {
    let shas = &ctx.args[2..];
    ctx.out.array(shas.len());
    for sha in shas {
        ctx.out.integer(ctx.server.scripts.exists(sha) as i64);
    }
    Ok(())
}

/// SCRIPT FLUSH [ASYNC|SYNC] / FUNCTION FLUSH [ASYNC|SYNC]: the only options.
fn flush_mode(ctx: &Ctx, error: &'static str) -> Result<()> {
    match ctx.args.len() {
        2 => Ok(()),
        3 if is(ctx.arg(2), "async") || is(ctx.arg(2), "sync") => Ok(()),
        3 => Err(Error::msg(error)),
        _ => Err(Error::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            String::from_utf8_lossy(ctx.arg(1)).to_lowercase(),
            String::from_utf8_lossy(ctx.arg(0)).to_uppercase()
        ))),
    }
}

/// SCRIPT FLUSH changes no data as Redis counts it: not a change, never propagated.
fn script_flush(ctx: &mut Ctx) -> Result<()> {
    flush_mode(ctx, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")?;
    ctx.server.scripts.flush();
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx) -> Result<()> {
    ctx.server.scripts.kill(true).map_err(Error::msg)?;
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, lines: &[&str]) -> Result<()> {
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l.as_bytes());
    }
    Ok(())
}

fn script_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed (not supported by Cinnabar).",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Print this help.",
        ],
    )
}

fn fcall(ctx: &mut Ctx) -> Result<()> {
    fcall_generic(ctx, false)
}

fn fcall_ro(ctx: &mut Ctx) -> Result<()> {
    fcall_generic(ctx, true)
}

fn fcall_generic(ctx: &mut Ctx, ro: bool) -> Result<()> {
    let nkeys = numkeys(ctx, true)?;
    let name = ctx.arg(1);
    let Some(flags) = ctx.server.scripts.functions.read().function(name) else {
        return Err(Error::msg("ERR Function not found"));
    };
    let args = ctx.args;
    let keys = &args[3..3 + nkeys];
    let argv = &args[3 + nkeys..];
    scripting::run_function(ctx, name, flags, keys, argv, ro)
}

fn function_load(ctx: &mut Ctx) -> Result<()> {
    // FUNCTION LOAD [REPLACE] code: every argument before the code must be an option.
    let last = ctx.args.len() - 1;
    let mut replace = false;
    for &opt in &ctx.args[2..last] {
        if is(opt, "replace") {
            replace = true;
        } else {
            return Err(Error::msg(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    let code = ctx.arg(last);
    let name = functions::load(ctx.server, code, replace)?;
    // Redis counts FUNCTION LOAD / DELETE / FLUSH / RESTORE as one change each, so that they
    // are propagated (as given) and count for the save rules.
    ctx.dirty(1);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn function_delete(ctx: &mut Ctx) -> Result<()> {
    let name = String::from_utf8_lossy(ctx.arg(2)).into_owned();
    if ctx.server.scripts.functions.write().remove(&name).is_none() {
        return Err(Error::msg("ERR Library not found"));
    }
    ctx.server.scripts.bump_generation();
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx) -> Result<()> {
    flush_mode(ctx, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")?;
    ctx.server.scripts.functions.write().clear();
    ctx.server.scripts.bump_generation();
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
fn function_list(ctx: &mut Ctx) -> Result<()> {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < ctx.args.len() {
        let a = ctx.arg(i);
        if is(a, "withcode") && !with_code {
            with_code = true;
        } else if is(a, "libraryname") && pattern.is_none() {
            if i + 1 >= ctx.args.len() {
                return Err(Error::msg("ERR library name argument was not given"));
            }
            pattern = Some(ctx.arg(i + 1));
            i += 1;
        } else {
            return Err(Error::msg(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let libs = ctx.server.scripts.functions.read();
    let selected: Vec<&functions::Library> = libs
        .libs
        .values()
        .filter(|l| pattern.is_none_or(|p| glob_match(p, l.name.as_bytes(), false)))
        .collect();
    let out = &mut *ctx.out;
    out.array(selected.len());
    for lib in selected {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = script_flags::NAMES
                .iter()
                .filter(|(bit, _)| f.flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.bulk(n.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn function_stats(ctx: &mut Ctx) -> Result<()> {
    scripting::write_function_stats(ctx.server, ctx.out);
    Ok(())
}

fn function_kill(ctx: &mut Ctx) -> Result<()> {
    ctx.server.scripts.kill(false).map_err(Error::msg)?;
    ctx.out.ok();
    Ok(())
}

/// FUNCTION DUMP: every library's code in Redis's payload format, so Redis can restore it.
fn function_dump(ctx: &mut Ctx) -> Result<()> {
    let libs = ctx.server.scripts.functions.read();
    let codes: Vec<&[u8]> = libs.libs.values().map(|l| l.code.as_slice()).collect();
    ctx.out.bulk(&cinnabar_engine::rdb::dump_functions(&codes));
    Ok(())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
fn function_restore(ctx: &mut Ctx) -> Result<()> {
    let policy = match ctx.args.len() {
        3 => functions::RestorePolicy::Append,
        4 if is(ctx.arg(3), "append") => functions::RestorePolicy::Append,
        4 if is(ctx.arg(3), "replace") => functions::RestorePolicy::Replace,
        4 if is(ctx.arg(3), "flush") => functions::RestorePolicy::Flush,
        4 => {
            return Err(Error::msg(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
        _ => return Err(Error::msg(
            "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP.",
        )),
    };
    let codes = cinnabar_engine::rdb::restore_functions(ctx.arg(2))
        .map_err(|_| Error::msg("ERR payload version or checksum are wrong"))?;
    functions::restore(ctx.server, codes, policy)?;
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

fn function_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this case there is no guarantee that at",
            "      the end the functions' list has no duplicates).",
            "HELP",
            "    Print this help.",
        ],
    )
}
