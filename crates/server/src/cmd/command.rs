//! COMMAND and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS, GETKEYSANDFLAGS, HELP),
//! answered from the shared command table restricted to what this server implements, so a
//! client never learns of a command it cannot run.

use std::sync::OnceLock;

use cinnabar_commands::{self as commands, acl, flags, keyspec_flags, CommandDef};
use cinnabar_engine::{Error, Result};

use super::{container_help as help, is, lossy};
use crate::dispatch::{Ctx, Registry};

pub fn register(r: &mut Registry) {
    r.add_nothing("command", command);
    r.add_nothing("command|count", command_count);
    r.add_nothing("command|info", command_info);
    r.add_nothing("command|docs", command_docs);
    r.add_nothing("command|list", command_list);
    r.add_nothing("command|getkeys", command_getkeys);
    r.add_nothing("command|getkeysandflags", command_getkeysandflags);
    r.add_nothing("command|help", command_help);
}

/// The command table as this server implements it: the top-level commands present in the
/// registry, sorted by name, each container restricted to its registered subcommands (and
/// present when any is). COMMAND, COMMAND INFO/DOCS/LIST/COUNT all answer from it, so a
/// client never learns of a command it cannot run.
///
/// Every [`Registry`] comes from `crate::cmd::registry()`, which registers the same fixed set,
/// so the view is built once per process from the first registry asked about. Restricted
/// containers are copies with a filtered subcommand slice; they are leaked once (a few
/// hundred bytes) to get the `'static` lifetime the table's types require.
pub fn implemented(registry: &Registry) -> &'static [&'static CommandDef] {
    static VIEW: OnceLock<Vec<&'static CommandDef>> = OnceLock::new();
    VIEW.get_or_init(|| {
        commands::all()
            .iter()
            .filter_map(|def| {
                let registered = registry.get(def.name.as_bytes()).is_some();
                if def.subcommands.is_empty() {
                    return registered.then_some(def);
                }
                let subs: Vec<CommandDef> = def
                    .subcommands
                    .iter()
                    .filter(|s| registry.get(s.name.as_bytes()).is_some())
                    .copied()
                    .collect();
                if subs.is_empty() && !registered {
                    return None;
                }
                if subs.len() == def.subcommands.len() {
                    return Some(def);
                }
                let subcommands: &'static [CommandDef] = Box::leak(subs.into_boxed_slice());
                Some(&*Box::leak(Box::new(CommandDef {
                    subcommands,
                    ..*def
                })))
            })
            .collect()
    })
}

/// An implemented command or subcommand by full name ("get", "config|get"), as COMMAND
/// INFO and DOCS accept them.
fn implemented_by_name(registry: &Registry, name: &[u8]) -> Option<&'static CommandDef> {
    let def = commands::lookup_full(name)?;
    implemented_def(registry, def)
}

/// The implemented version of a table entry, or None when this server lacks it.
fn implemented_def(registry: &Registry, def: &'static CommandDef) -> Option<&'static CommandDef> {
    match def.container {
        Some(_) => registry.get(def.name.as_bytes()).map(|e| e.def),
        None => {
            let view = implemented(registry);
            view.binary_search_by(|d| d.name.cmp(def.name))
                .ok()
                .map(|i| view[i])
        }
    }
}

/// COMMAND: the info of every implemented command.
fn command(ctx: &mut Ctx) -> Result<()> {
    let view = implemented(&ctx.server.registry);
    ctx.out.array(view.len());
    for def in view {
        commands::write_command_info(def, ctx.out);
    }
    Ok(())
}

fn command_count(ctx: &mut Ctx) -> Result<()> {
    ctx.out
        .integer(implemented(&ctx.server.registry).len() as i64);
    Ok(())
}

/// COMMAND INFO [name ...]: every command without names, else one entry per name, nil for
/// names this server does not implement.
fn command_info(ctx: &mut Ctx) -> Result<()> {
    if ctx.args.len() == 2 {
        return command(ctx);
    }
    let registry = &ctx.server.registry;
    ctx.out.array(ctx.args.len() - 2);
    for name in &ctx.args[2..] {
        match implemented_by_name(registry, name) {
            Some(def) => commands::write_command_info(def, ctx.out),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// COMMAND DOCS [name ...]: a map of name to documentation; unknown names are left out.
fn command_docs(ctx: &mut Ctx) -> Result<()> {
    let registry = &ctx.server.registry;
    let defs: Vec<&'static CommandDef> = if ctx.args.len() == 2 {
        implemented(registry).to_vec()
    } else {
        ctx.args[2..]
            .iter()
            .filter_map(|n| implemented_by_name(registry, n))
            .collect()
    };
    ctx.out.map(defs.len());
    for def in defs {
        ctx.out.bulk(def.name.as_bytes());
        commands::write_command_docs(def, ctx.out);
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: full names of
/// the implemented commands and subcommands. No modules exist, so MODULE matches nothing;
/// neither does an unknown category.
fn command_list(ctx: &mut Ctx) -> Result<()> {
    enum Filter<'a> {
        None,
        Nothing,
        Acl(u64),
        Pattern(&'a [u8]),
    }
    let mut filter = Filter::None;
    let mut i = 2;
    while i < ctx.args.len() {
        if is(ctx.arg(i), "filterby") && ctx.args.len() - i - 1 == 2 {
            let (kind, arg) = (ctx.arg(i + 1), ctx.arg(i + 2));
            filter = if is(kind, "module") {
                Filter::Nothing
            } else if is(kind, "aclcat") {
                acl::from_name(&lossy(arg)).map_or(Filter::Nothing, Filter::Acl)
            } else if is(kind, "pattern") {
                Filter::Pattern(arg)
            } else {
                return Err(Error::Syntax);
            };
            i += 3;
        } else {
            return Err(Error::Syntax);
        }
    }
    let keep = |def: &CommandDef| match filter {
        Filter::None => true,
        Filter::Nothing => false,
        Filter::Acl(cat) => def.acl & cat != 0,
        Filter::Pattern(p) => cinnabar_engine::glob::glob_match(p, def.name.as_bytes(), true),
    };
    let names: Vec<&str> = implemented(&ctx.server.registry)
        .iter()
        .flat_map(|d| std::iter::once(*d).chain(d.subcommands.iter()))
        .filter(|d| keep(d))
        .map(|d| d.name)
        .collect();
    ctx.out.array(names.len());
    for name in names {
        ctx.out.bulk(name.as_bytes());
    }
    Ok(())
}

fn command_getkeys(ctx: &mut Ctx) -> Result<()> {
    getkeys(ctx, false)
}

fn command_getkeysandflags(ctx: &mut Ctx) -> Result<()> {
    getkeys(ctx, true)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS cmd arg...: the key arguments of a command line, found
/// with the same key specs the dispatcher locks by, with Redis's checks and errors.
fn getkeys(ctx: &mut Ctx, with_flags: bool) -> Result<()> {
    let argv = &ctx.args[2..];
    let def = commands::lookup_argv(argv)
        .and_then(|d| implemented_def(&ctx.server.registry, d))
        .ok_or_else(|| Error::msg("ERR Invalid command specified"))?;
    if !def.has_keys() {
        return Err(Error::msg("ERR The command has no key arguments"));
    }
    if !def.arity_ok(argv.len()) {
        return Err(Error::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let mut keys = Vec::new();
    let found =
        commands::key_positions_with_flags(def, argv, &mut keys).is_ok() && !keys.is_empty();
    if !found {
        // Commands whose keys are optional (EVAL with no keys...) have none; for the rest
        // Redis gives one error for every way the arguments fail to name keys.
        if def.flags & flags::NO_MANDATORY_KEYS != 0 {
            ctx.out.array(0);
            return Ok(());
        }
        return Err(Error::msg("ERR Invalid arguments specified for command"));
    }
    ctx.out.array(keys.len());
    for (pos, key_flags) in keys {
        let key_flags = actual_key_flags(def, argv, key_flags);
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(argv[pos]);
            let names = keyspec_flags::names(key_flags);
            ctx.out.set(names.len());
            for n in names {
                ctx.out.simple(n.as_bytes());
            }
        } else {
            ctx.out.bulk(argv[pos]);
        }
    }
    Ok(())
}

/// Resolves a key spec marked VARIABLE_FLAGS to the flags this command line really has,
/// as Redis's per-command key procedures do: SET only reads the old value with GET, and
/// BITFIELD only writes with SET or INCRBY. Other specs' flags are already exact.
fn actual_key_flags(def: &CommandDef, argv: &[&[u8]], spec_flags: u64) -> u64 {
    use keyspec_flags::{ACCESS, OW, RO, RW, UPDATE, VARIABLE_FLAGS};
    if spec_flags & VARIABLE_FLAGS == 0 {
        return spec_flags;
    }
    match def.name {
        "set" if argv.iter().skip(3).any(|a| is(a, "get")) => RW | ACCESS | UPDATE,
        "set" => OW | UPDATE,
        "bitfield" => {
            let mut i = 2;
            let mut readonly = true;
            while i < argv.len() {
                let rem = argv.len() - i - 1;
                if is(argv[i], "get") && rem >= 2 {
                    i += 3;
                } else if is(argv[i], "overflow") && rem >= 1 {
                    i += 2;
                } else {
                    // SET, INCRBY, or a syntax error: assume a write, the safe side.
                    readonly = false;
                    break;
                }
            }
            if readonly {
                RO | ACCESS
            } else {
                RW | ACCESS | UPDATE
            }
        }
        _ => spec_flags,
    }
}

fn command_help(ctx: &mut Ctx) -> Result<()> {
    help(
        ctx,
        &[
            "(no subcommand)",
            "    Reply with the details of every command this server implements.",
            "COUNT",
            "    Reply with the number of commands this server implements.",
            "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Reply with the names of the commands, optionally only those matching a filter.",
            "INFO [<command-name> ...]",
            "    Reply with the details of the named commands (of every command without names).",
            "DOCS [<command-name> ...]",
            "    Reply with the documentation of the named commands (of every command without names).",
            "GETKEYS <full-command>",
            "    Reply with the key arguments of a full command line.",
            "GETKEYSANDFLAGS <full-command>",
            "    Reply with the key arguments of a full command line and how each key is used.",
        ],
    );
    Ok(())
}
