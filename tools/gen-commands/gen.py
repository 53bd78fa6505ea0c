#!/usr/bin/env python3
"""Generate Cinnabar's command table from Redis 7.2 command metadata.

Usage:
    python3 tools/gen-commands/gen.py /path/to/redis/src/commands

The directory must hold Redis 7.2's per-command JSON files (``get.json``,
``config-get.json``, ...).  Only *facts* are taken from them: names, arity,
flags, ACL categories, key specs, argument structure, versions, tips and short
complexity formulas.  All prose (summaries, history entries, key spec notes and
long complexity explanations) comes from Cinnabar's own files next to the crate:

    crates/commands/summaries.tsv       name <TAB> summary
    crates/commands/history.tsv         name <TAB> version <TAB> change
    crates/commands/complexity.tsv      name <TAB> complexity
    crates/commands/keyspec_notes.tsv   name <TAB> spec index <TAB> note

The output, ``crates/commands/src/generated/table.rs``, is committed so that
building the crate never needs the JSON files.  The generator refuses to run
when our prose files and the metadata disagree (missing or stray summaries,
history versions that do not line up, long complexity text without a
rewrite), so regenerating against a newer Redis points out what to write.

Derived values are computed here exactly as Redis does at startup, so the
table is a plain constant:

* implicit ACL categories (server.c ``setImplicitACLCategories``);
* the legacy (first, last, step) key triple and the ``movablekeys`` flag
  (server.c ``populateCommandLegacyRangeSpec``).
"""

import argparse
import glob
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CRATE = os.path.join(ROOT, "crates", "commands")
OUT = os.path.join(CRATE, "src", "generated", "table.rs")

# Upstream complexity text longer than this is treated as prose and needs an override.
MAX_VERBATIM_COMPLEXITY = 100

COMMAND_FLAGS = {
    "WRITE", "READONLY", "DENYOOM", "MODULE", "ADMIN", "PUBSUB", "NOSCRIPT", "BLOCKING",
    "LOADING", "STALE", "SKIP_MONITOR", "SKIP_SLOWLOG", "ASKING", "FAST", "NO_AUTH",
    "MAY_REPLICATE", "SENTINEL", "ONLY_SENTINEL", "NO_MANDATORY_KEYS", "PROTECTED",
    "NO_ASYNC_LOADING", "NO_MULTI", "MOVABLE_KEYS", "ALLOW_BUSY", "TOUCHES_ARBITRARY_KEYS",
}
ACL_CATEGORIES = {
    "KEYSPACE", "READ", "WRITE", "SET", "SORTEDSET", "LIST", "HASH", "STRING", "BITMAP",
    "HYPERLOGLOG", "GEO", "STREAM", "PUBSUB", "ADMIN", "FAST", "SLOW", "BLOCKING",
    "DANGEROUS", "CONNECTION", "TRANSACTION", "SCRIPTING",
}
KEYSPEC_FLAGS = {
    "RO", "RW", "OW", "RM", "ACCESS", "UPDATE", "INSERT", "DELETE", "NOT_KEY", "INCOMPLETE",
    "VARIABLE_FLAGS",
}
DOC_FLAGS = {"DEPRECATED", "SYSCMD"}
GROUPS = {
    "generic": "Generic", "string": "String", "list": "List", "set": "Set",
    "sorted_set": "SortedSet", "hash": "Hash", "pubsub": "Pubsub",
    "transactions": "Transactions", "connection": "Connection", "server": "Server",
    "scripting": "Scripting", "hyperloglog": "Hyperloglog", "cluster": "Cluster",
    "sentinel": "Sentinel", "geo": "Geo", "stream": "Stream", "bitmap": "Bitmap",
}
ARG_KINDS = {
    "string": "String", "integer": "Integer", "double": "Double", "key": "Key",
    "pattern": "Pattern", "unix-time": "UnixTime", "pure-token": "PureToken",
    "oneof": "OneOf", "block": "Block",
}


def fail(msg):
    sys.exit("gen-commands: error: " + msg)


def rust_str(s):
    """A Rust string literal for s (ASCII only, which all metadata is)."""
    for ch in s:
        if not (32 <= ord(ch) < 127):
            fail("non-printable or non-ASCII character in %r" % s)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rust_opt_str(s):
    return "None" if s is None else "Some(%s)" % rust_str(s)


def bits(prefix, names, allowed):
    for n in names:
        if n not in allowed:
            fail("unknown %s flag %s" % (prefix, n))
    return " | ".join("%s::%s" % (prefix, n) for n in names) if names else "0"


def read_tsv(name, min_cols):
    """Rows of one of our prose files; '#' lines and blank lines are comments."""
    rows = []
    with open(os.path.join(CRATE, name), encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) < min_cols or any(not c.strip() for c in cols):
                fail("%s:%d: expected %d non-empty tab-separated columns" % (name, lineno, min_cols))
            rows.append(cols)
    return rows


# ----------------------------------------------------------------------------
# Derived facts, mirroring Redis startup code.


def implicit_acl(flags, cats):
    cats = set(cats)
    if "WRITE" in flags:
        cats.add("WRITE")
    # Scripting commands are kept out of @read even when flagged readonly.
    if "READONLY" in flags and "SCRIPTING" not in cats:
        cats.add("READ")
    if "ADMIN" in flags:
        cats.update(("ADMIN", "DANGEROUS"))
    if "PUBSUB" in flags:
        cats.add("PUBSUB")
    if "FAST" in flags:
        cats.add("FAST")
    if "BLOCKING" in flags:
        cats.add("BLOCKING")
    if "FAST" not in cats:
        cats.add("SLOW")
    return cats


def legacy_range(specs):
    """Return ((first, last, step) as COMMAND INFO reports it, movablekeys)."""
    if not specs:
        return (0, 0, 0), False

    def is_index_range(s):
        return "index" in s["begin_search"] and "range" in s["find_keys"]

    if len(specs) == 1 and is_index_range(specs[0]):
        s = specs[0]
        pos = s["begin_search"]["index"]["pos"]
        rng = s["find_keys"]["range"]
        last = rng["lastkey"] + pos if rng["lastkey"] >= 0 else rng["lastkey"]
        return (pos, last, rng["step"]), "INCOMPLETE" in s["flags"]

    movable = False
    firstkey, lastkey, prev_lastkey = None, 0, 0
    for s in specs:
        if not is_index_range(s):
            movable = True
            continue
        pos = s["begin_search"]["index"]["pos"]
        rng = s["find_keys"]["range"]
        if rng["step"] != 1 or (prev_lastkey and prev_lastkey != pos - 1):
            movable = True
            continue
        if "INCOMPLETE" in s["flags"]:
            movable = True
        firstkey = pos if firstkey is None else min(firstkey, pos)
        abs_last = rng["lastkey"] + pos if rng["lastkey"] >= 0 else rng["lastkey"]
        # Redis compares as unsigned so that a negative (relative-to-end) last key wins.
        lastkey = max(lastkey, abs_last, key=lambda v: v if v >= 0 else v + (1 << 32))
        prev_lastkey = lastkey
    if firstkey is None:
        return (0, 0, 0), True
    return (firstkey, lastkey, 1), movable


# ----------------------------------------------------------------------------
# Emission


def emit_key_spec(spec, note):
    bs = spec["begin_search"]
    if "index" in bs:
        begin = "BeginSearch::Index(%d)" % bs["index"]["pos"]
    elif "keyword" in bs:
        begin = "BeginSearch::Keyword { keyword: %s, start_from: %d }" % (
            rust_str(bs["keyword"]["keyword"]), bs["keyword"]["startfrom"])
    elif "unknown" in bs:
        begin = "BeginSearch::Unknown"
    else:
        fail("bad begin_search %r" % bs)
    fk = spec["find_keys"]
    if "range" in fk:
        r = fk["range"]
        find = "FindKeys::Range { last_key: %d, step: %d, limit: %d }" % (
            r["lastkey"], r["step"], r["limit"])
    elif "keynum" in fk:
        k = fk["keynum"]
        find = "FindKeys::Keynum { keynum_idx: %d, first_key: %d, step: %d }" % (
            k["keynumidx"], k["firstkey"], k["step"])
    elif "unknown" in fk:
        find = "FindKeys::Unknown"
    else:
        fail("bad find_keys %r" % fk)
    return "KeySpec { notes: %s, flags: %s, begin_search: %s, find_keys: %s }" % (
        rust_opt_str(note), bits("ks", spec["flags"], KEYSPEC_FLAGS), begin, find)


def arg_fields(a):
    fields = ["name: %s" % rust_str(a["name"].lower()),
              "kind: ArgKind::%s" % ARG_KINDS[a["type"]]]
    if "token" in a:
        fields.append("token: Some(%s)" % rust_str(a["token"].upper()))
    if a.get("optional"):
        fields.append("optional: true")
    if a.get("multiple"):
        fields.append("multiple: true")
    if a.get("multiple_token"):
        fields.append("multiple_token: true")
    # Redis drops `display` for oneof/block arguments (they have no display text).
    if "display" in a and a["type"] not in ("oneof", "block"):
        fields.append("display: Some(%s)" % rust_str(a["display"].lower()))
    if "key_spec_index" in a:
        fields.append("key_spec_index: %d" % a["key_spec_index"])
    if "since" in a:
        fields.append("since: Some(%s)" % rust_str(a["since"]))
    if "deprecated_since" in a:
        fields.append("deprecated_since: Some(%s)" % rust_str(a["deprecated_since"]))
    return fields


def emit_args(field, args):
    """Lines (indented relative to the enclosing struct) for an `args`/`subargs` field."""
    if not args:
        return ["%s: &[]," % field]
    lines = ["%s: &[" % field]
    for a in args:
        fields = ", ".join(arg_fields(a))
        if a["type"] in ("oneof", "block"):
            lines.append("    Arg {")
            lines.append("        %s," % fields)
            lines.extend("        " + l for l in emit_args("subargs", a.get("arguments", [])))
            lines.append("        ..Arg::DEFAULT")
            lines.append("    },")
        else:
            lines.append("    Arg { %s, ..Arg::DEFAULT }," % fields)
    lines.append("],")
    return lines


def emit_command(cmd, prose):
    """Lines of a `CommandDef { .. }` literal, without trailing comma."""
    d = cmd["desc"]
    full = cmd["full"]
    flags = list(d.get("command_flags", []))
    (first, last, step), movable = legacy_range(d.get("key_specs", []))
    if movable:
        flags.append("MOVABLE_KEYS")
    acl = implicit_acl(flags, d.get("acl_categories", []))
    acl_sorted = sorted(acl)

    summary = prose["summaries"].pop(full, None)
    if summary is None:
        fail("no summary for %s in summaries.tsv" % full)

    complexity = d.get("complexity", "")
    override = prose["complexity"].pop(full, None)
    if override is not None:
        complexity = override
    elif len(complexity) > MAX_VERBATIM_COMPLEXITY:
        fail("complexity of %s is prose (%d chars); add a rewrite to complexity.tsv"
             % (full, len(complexity)))

    upstream_history = [h[0] for h in d.get("history", [])]
    ours = prose["history"].pop(full, [])
    if [v for v, _ in ours] != upstream_history:
        fail("history.tsv versions for %s are %r, upstream has %r"
             % (full, [v for v, _ in ours], upstream_history))

    specs = d.get("key_specs", [])
    spec_code = []
    for i, spec in enumerate(specs):
        note = prose["notes"].pop((full, i), None)
        if ("notes" in spec) != (note is not None):
            fail("keyspec_notes.tsv and upstream disagree on a note for %s spec %d" % (full, i))
        spec_code.append(emit_key_spec(spec, note))

    lines = [
        "CommandDef {",
        "    name: %s," % rust_str(full),
        "    container: %s," % rust_opt_str(cmd.get("container")),
        "    arity: %d," % d["arity"],
        "    flags: %s," % bits("flags", flags, COMMAND_FLAGS),
        "    acl: %s," % bits("acl", acl_sorted, ACL_CATEGORIES),
        "    first_key: %d, last_key: %d, step: %d," % (first, last, step),
    ]
    if spec_code:
        lines.append("    key_specs: &[")
        lines.extend("        %s," % s for s in spec_code)
        lines.append("    ],")
    else:
        lines.append("    key_specs: &[],")
    lines += [
        "    group: Group::%s," % GROUPS[cmd["group"]],
        "    since: %s," % rust_str(d["since"]),
        "    complexity: %s," % rust_str(complexity),
        "    summary: %s," % rust_str(summary),
        "    doc_flags: %s," % bits("doc", d.get("doc_flags", []), DOC_FLAGS),
        "    deprecated_since: %s," % rust_opt_str(d.get("deprecated_since")),
        "    replaced_by: %s," % rust_opt_str(d.get("replaced_by")),
        "    tips: &[%s]," % ", ".join(rust_str(t.lower()) for t in d.get("command_tips", [])),
        "    history: &[%s]," % ", ".join("(%s, %s)" % (rust_str(v), rust_str(t)) for v, t in ours),
    ]
    lines.extend("    " + l for l in emit_args("args", d.get("arguments", [])))
    subs = cmd.get("subcommands", [])
    if subs:
        lines.append("    subcommands: &[")
        for sub in subs:
            sub_lines = emit_command(sub, prose)
            sub_lines[-1] += ","
            lines.extend("        " + l for l in sub_lines)
        lines.append("    ],")
    else:
        lines.append("    subcommands: &[],")
    lines.append("}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json_dir", help="directory with Redis 7.2 src/commands/*.json")
    ap.add_argument("--out", default=OUT, help="output Rust file (default: %(default)s)")
    opts = ap.parse_args()

    files = sorted(glob.glob(os.path.join(opts.json_dir, "*.json")))
    if not files:
        fail("no JSON files in %s" % opts.json_dir)
    # Commands Cinnabar adds beyond Redis (e.g. CL.THROTTLE), described in the same JSON
    # shape; their "since" is the Cinnabar version that added them.
    files += sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                           "extra", "*.json")))

    tops, subs = {}, {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            for name, desc in json.load(f).items():
                # Sentinel-only commands do not exist in a normal server.
                if "ONLY_SENTINEL" in desc.get("command_flags", []):
                    continue
                container = desc.get("container")
                if container:
                    full = "%s|%s" % (container.lower(), name.lower())
                    entry = {"full": full, "container": container.lower(), "desc": desc}
                    subs.setdefault(container.lower(), []).append(entry)
                else:
                    tops[name.lower()] = {"full": name.lower(), "desc": desc}

    for parent, children in subs.items():
        if parent not in tops:
            fail("subcommands of unknown container %s" % parent)
        top = tops[parent]
        top["subcommands"] = sorted(children, key=lambda c: c["full"])
        for c in children:
            # Like Redis, a subcommand always belongs to its container's group.
            c["group"] = top["desc"]["group"]
    for top in tops.values():
        top["group"] = top["desc"]["group"]

    history = {}
    for name, version, text in read_tsv("history.tsv", 3):
        history.setdefault(name, []).append((version, text))
    prose = {
        "summaries": {r[0]: r[1] for r in read_tsv("summaries.tsv", 2)},
        "complexity": {r[0]: r[1] for r in read_tsv("complexity.tsv", 2)},
        "history": history,
        "notes": {(r[0], int(r[1])): r[2] for r in read_tsv("keyspec_notes.tsv", 3)},
    }

    body = []
    ordered = [tops[k] for k in sorted(tops)]
    for top in ordered:
        lines = emit_command(top, prose)
        lines[-1] += ","
        body.extend("    " + l for l in lines)

    files = {"summaries": "summaries.tsv", "complexity": "complexity.tsv",
             "history": "history.tsv", "notes": "keyspec_notes.tsv"}
    for kind, left in prose.items():
        if left:
            fail("entries in %s match no command: %s" % (files[kind], sorted(left)[:10]))

    nsubs = sum(len(t.get("subcommands", [])) for t in ordered)
    with open(opts.out, "w", encoding="utf-8") as f:
        f.write("// @generated by tools/gen-commands/gen.py from Redis 7.2 command metadata\n")
        f.write("// and crates/commands/*.tsv. Do not edit by hand; see crates/commands/README.md.\n")
        f.write("//\n// %d top-level commands, %d subcommands.\n\n" % (len(ordered), nsubs))
        f.write("use crate::keyspec_flags as ks;\n")
        f.write("use crate::{acl, doc_flags as doc, flags};\n")
        f.write("use crate::{Arg, ArgKind, BeginSearch, CommandDef, FindKeys, Group, KeySpec};\n\n")
        f.write("/// Every top-level command, sorted by name; subcommands are nested.\n")
        f.write("pub(crate) static COMMANDS: &[CommandDef] = &[\n")
        f.write("\n".join(body))
        f.write("\n];\n")
    print("wrote %s: %d commands, %d subcommands" % (os.path.relpath(opts.out, ROOT), len(ordered), nsubs))


if __name__ == "__main__":
    main()
