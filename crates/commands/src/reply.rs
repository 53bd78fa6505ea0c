//! `COMMAND` / `COMMAND INFO` / `COMMAND DOCS` reply encoding.
//!
//! The shapes, field order and RESP types follow Redis 7.2's
//! `addReplyCommandInfo` and `addReplyCommandDocs` (server.c) exactly,
//! because client libraries (e.g. cluster-aware ones) parse these replies
//! positionally. Flags are simple strings inside sets, names and texts are
//! bulk strings, and maps/sets degrade to flat arrays in RESP2 through
//! [`ReplyBuf`]. The one intentional difference is ordering of
//! subcommands: Redis emits them in hash-table order, we emit them sorted.

use cinnabar_resp::ReplyBuf;

use crate::{acl, doc_flags, flags, keyspec_flags, Arg, ArgKind, BeginSearch, CommandDef};
use crate::{FindKeys, KeySpec};

/// Write the 10-element `COMMAND INFO` entry of `def`: name, arity, flags,
/// first key, last key, step, ACL categories, tips, key specs and
/// subcommands (each a nested entry of the same shape).
pub fn write_command_info(def: &CommandDef, out: &mut ReplyBuf) {
    out.array(10);
    out.bulk(def.name.as_bytes());
    out.integer(i64::from(def.arity));
    write_flag_set(out, flags::VISIBLE, def.flags);
    out.integer(i64::from(def.first_key));
    out.integer(i64::from(def.last_key));
    out.integer(i64::from(def.step));
    write_acl_categories(out, def.acl);
    out.set(def.tips.len());
    for tip in def.tips {
        out.bulk(tip.as_bytes());
    }
    out.set(def.key_specs.len());
    for spec in def.key_specs {
        write_key_spec(out, spec);
    }
    // Redis replies an empty *set* when there are no subcommands but an
    // array otherwise; mirrored for byte-exact RESP3 output.
    if def.subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(def.subcommands.len());
        for sub in def.subcommands {
            write_command_info(sub, out);
        }
    }
}

/// Write the `COMMAND DOCS` value for `def` (the map of summary, since,
/// group, complexity, doc_flags, deprecated_since, replaced_by, history,
/// arguments and subcommands; absent fields are omitted as in Redis). The
/// caller writes the command name that precedes it in the outer map.
pub fn write_command_docs(def: &CommandDef, out: &mut ReplyBuf) {
    let present = [
        !def.summary.is_empty(),
        !def.since.is_empty(),
        true, // group is always present
        !def.complexity.is_empty(),
        def.doc_flags != 0,
        def.deprecated_since.is_some(),
        def.replaced_by.is_some(),
        !def.history.is_empty(),
        !def.args.is_empty(),
        !def.subcommands.is_empty(),
    ];
    out.map(present.iter().filter(|&&p| p).count());

    if !def.summary.is_empty() {
        bulk_pair(out, "summary", def.summary);
    }
    if !def.since.is_empty() {
        bulk_pair(out, "since", def.since);
    }
    bulk_pair(out, "group", def.group.name());
    if !def.complexity.is_empty() {
        bulk_pair(out, "complexity", def.complexity);
    }
    if def.doc_flags != 0 {
        out.bulk(b"doc_flags");
        write_flag_set(out, doc_flags::NAMES, def.doc_flags);
    }
    if let Some(v) = def.deprecated_since {
        bulk_pair(out, "deprecated_since", v);
    }
    if let Some(v) = def.replaced_by {
        bulk_pair(out, "replaced_by", v);
    }
    if !def.history.is_empty() {
        out.bulk(b"history");
        out.set(def.history.len());
        for (version, change) in def.history {
            out.array(2);
            out.bulk(version.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
    if !def.args.is_empty() {
        out.bulk(b"arguments");
        write_args(out, def.args);
    }
    if !def.subcommands.is_empty() {
        out.bulk(b"subcommands");
        out.map(def.subcommands.len());
        for sub in def.subcommands {
            out.bulk(sub.name.as_bytes());
            write_command_docs(sub, out);
        }
    }
}

fn bulk_pair(out: &mut ReplyBuf, key: &str, value: &str) {
    out.bulk(key.as_bytes());
    out.bulk(value.as_bytes());
}

/// A set of simple strings naming the bits of `bits` found in `table`.
fn write_flag_set(out: &mut ReplyBuf, table: &[(u64, &str)], bits: u64) {
    out.set(table.iter().filter(|(bit, _)| bits & bit != 0).count());
    for (bit, name) in table {
        if bits & bit != 0 {
            out.simple(name.as_bytes());
        }
    }
}

/// ACL categories as a set of `@name` simple strings.
fn write_acl_categories(out: &mut ReplyBuf, bits: u64) {
    out.set(
        acl::CATEGORIES
            .iter()
            .filter(|(bit, _)| bits & bit != 0)
            .count(),
    );
    let mut buf = [0u8; 32];
    buf[0] = b'@';
    for (bit, name) in acl::CATEGORIES {
        if bits & bit != 0 {
            let len = 1 + name.len();
            buf[1..len].copy_from_slice(name.as_bytes());
            out.simple(&buf[..len]);
        }
    }
}

fn write_key_spec(out: &mut ReplyBuf, spec: &KeySpec) {
    out.map(if spec.notes.is_some() { 4 } else { 3 });
    if let Some(notes) = spec.notes {
        bulk_pair(out, "notes", notes);
    }
    out.bulk(b"flags");
    write_flag_set(out, keyspec_flags::NAMES, spec.flags);

    out.bulk(b"begin_search");
    out.map(2);
    match spec.begin_search {
        BeginSearch::Index(pos) => {
            bulk_pair(out, "type", "index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.integer(i64::from(pos));
        }
        BeginSearch::Keyword {
            keyword,
            start_from,
        } => {
            bulk_pair(out, "type", "keyword");
            out.bulk(b"spec");
            out.map(2);
            bulk_pair(out, "keyword", keyword);
            out.bulk(b"startfrom");
            out.integer(i64::from(start_from));
        }
        BeginSearch::Unknown => {
            bulk_pair(out, "type", "unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }

    out.bulk(b"find_keys");
    out.map(2);
    match spec.find_keys {
        FindKeys::Range {
            last_key,
            step,
            limit,
        } => {
            bulk_pair(out, "type", "range");
            out.bulk(b"spec");
            out.map(3);
            int_pair(out, "lastkey", last_key);
            int_pair(out, "keystep", step);
            int_pair(out, "limit", limit);
        }
        FindKeys::Keynum {
            keynum_idx,
            first_key,
            step,
        } => {
            bulk_pair(out, "type", "keynum");
            out.bulk(b"spec");
            out.map(3);
            int_pair(out, "keynumidx", keynum_idx);
            int_pair(out, "firstkey", first_key);
            int_pair(out, "keystep", step);
        }
        FindKeys::Unknown => {
            bulk_pair(out, "type", "unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
}

fn int_pair(out: &mut ReplyBuf, key: &str, value: i32) {
    out.bulk(key.as_bytes());
    out.integer(i64::from(value));
}

/// The argument list of `COMMAND DOCS` (Redis's `addReplyCommandArgList`).
fn write_args(out: &mut ReplyBuf, args: &[Arg]) {
    out.array(args.len());
    for arg in args {
        let nested = matches!(arg.kind, ArgKind::OneOf | ArgKind::Block);
        let arg_flags = [
            (arg.optional, "optional"),
            (arg.multiple, "multiple"),
            (arg.multiple_token, "multiple_token"),
        ];
        let has_flags = arg_flags.iter().any(|&(set, _)| set);
        // name, type, then display_text (scalars) or arguments (nested).
        let len = 3
            + usize::from(arg.key_spec_index != -1)
            + usize::from(arg.token.is_some())
            + usize::from(arg.since.is_some())
            + usize::from(arg.deprecated_since.is_some())
            + usize::from(has_flags);
        out.map(len);
        bulk_pair(out, "name", arg.name);
        bulk_pair(out, "type", arg.kind.name());
        if !nested {
            bulk_pair(out, "display_text", arg.display_text());
        }
        if arg.key_spec_index != -1 {
            out.bulk(b"key_spec_index");
            out.integer(i64::from(arg.key_spec_index));
        }
        if let Some(token) = arg.token {
            bulk_pair(out, "token", token);
        }
        if let Some(since) = arg.since {
            bulk_pair(out, "since", since);
        }
        if let Some(v) = arg.deprecated_since {
            bulk_pair(out, "deprecated_since", v);
        }
        if has_flags {
            out.bulk(b"flags");
            out.set(arg_flags.iter().filter(|&&(set, _)| set).count());
            for (set, name) in arg_flags {
                if set {
                    out.simple(name.as_bytes());
                }
            }
        }
        if nested {
            out.bulk(b"arguments");
            write_args(out, arg.subargs);
        }
    }
}
