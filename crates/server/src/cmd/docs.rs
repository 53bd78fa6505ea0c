//! The generator of docs/commands.md: every command of the Redis 7.2 table, grouped, with
//! whether this server implements it. A test checks the page against this output.

use std::fmt::Write as _;

use cinnabar_commands::{self as commands, CommandDef, Group};

use crate::dispatch::Registry;

/// Groups in the order the page lists them, with their headings.
const GROUPS: &[(Group, &str)] = &[
    (Group::Generic, "Keys (generic)"),
    (Group::String, "Strings"),
    (Group::Bitmap, "Bitmaps"),
    (Group::List, "Lists"),
    (Group::Set, "Sets"),
    (Group::SortedSet, "Sorted sets"),
    (Group::Hash, "Hashes"),
    (Group::Stream, "Streams"),
    (Group::Hyperloglog, "HyperLogLog"),
    (Group::Geo, "Geospatial"),
    (Group::Pubsub, "Pub/Sub"),
    (Group::Transactions, "Transactions"),
    (Group::Scripting, "Scripting and functions"),
    (Group::Connection, "Connection"),
    (Group::Server, "Server"),
    (Group::Cluster, "Cluster"),
    (Group::Sentinel, "Sentinel"),
    (Group::Module, "Modules"),
];

/// The text of docs/commands.md: every command of the Redis 7.2 table and its
/// subcommands, grouped, with whether `registry` implements it. A container is
/// "implemented" when all its subcommands are, "partial" when only some are. The page is
/// checked against this output by a test, which also rewrites it when asked.
pub fn commands_markdown(registry: &Registry) -> String {
    let has = |def: &CommandDef| registry.get(def.name.as_bytes()).is_some();
    let status = |def: &CommandDef| -> &'static str {
        if def.subcommands.is_empty() {
            return if has(def) { "implemented" } else { "not yet" };
        }
        let n = def.subcommands.iter().filter(|s| has(s)).count();
        match n {
            0 if has(def) => "implemented",
            0 => "not yet",
            n if n == def.subcommands.len() => "implemented",
            _ => "partial",
        }
    };
    let all = commands::all();
    let top_done = all.iter().filter(|d| status(d) == "implemented").count();
    let subs: Vec<&CommandDef> = all.iter().flat_map(|d| d.subcommands.iter()).collect();
    let subs_done = subs.iter().filter(|d| has(d)).count();

    let mut md = String::new();
    md.push_str("# Commands\n\n");
    md.push_str(
        "Every command of Redis 7.2 and whether Cinnabar implements it. This page is generated \
         from the command table (`crates/commands`) and the server's command registry; do not \
         edit it by hand. To refresh it after adding commands, run\n\n\
         ```sh\nUPDATE_DOCS=1 cargo test -p cinnabar-server --test it commands_doc\n```\n\n",
    );
    let _ = writeln!(
        md,
        "Implemented: {top_done} of {} commands and {subs_done} of {} subcommands. A container \
         command such as `CONFIG` is *partial* when only some of its subcommands are implemented.\n",
        all.len(),
        subs.len()
    );
    for &(group, heading) in GROUPS {
        let in_group: Vec<&CommandDef> = all.iter().filter(|d| d.group == group).collect();
        if in_group.is_empty() {
            continue;
        }
        let _ = writeln!(md, "## {heading}\n");
        md.push_str("| Command | Status | Since | Summary |\n| --- | --- | --- | --- |\n");
        for def in in_group {
            markdown_row(&mut md, def, status(def));
            for sub in def.subcommands {
                markdown_row(
                    &mut md,
                    sub,
                    if has(sub) { "implemented" } else { "not yet" },
                );
            }
        }
        md.push('\n');
    }
    md.pop();
    md
}

fn markdown_row(md: &mut String, def: &CommandDef, status: &str) {
    let name = def.name.replace('|', " ").to_uppercase();
    let mut summary = def.summary.replace('|', "\\|");
    if def.is_deprecated() {
        summary.push_str(" *(deprecated)*");
    }
    let _ = writeln!(md, "| `{name}` | {status} | {} | {summary} |", def.since);
}
