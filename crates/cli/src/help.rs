//! The command help table, read from the server's `COMMAND DOCS` so that HELP,
//! hints and completion always match the server; with fallbacks for servers
//! without it. Formats follow redis-cli (`cliOutputHelp`, `hintsCallback`,
//! `completionCallback`).

use cinnabar_resp::Frame;

use crate::split::split_args;

/// One command or subcommand (`SET`, `CONFIG SET`) or a group (`@string`).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Upper-case words of the name: `["CONFIG", "SET"]`, or `["@string"]` for a group.
    pub words: Vec<String>,
    /// The words joined by spaces.
    pub full: String,
    /// The argument synopsis, e.g. `key value [NX|XX] ...`.
    pub params: String,
    pub summary: String,
    pub since: Option<String>,
    pub group: String,
    pub is_group: bool,
}

#[derive(Clone, Debug, Default)]
pub struct HelpTable {
    /// Sorted by `full`, as redis-cli sorts its table.
    pub entries: Vec<Entry>,
}

fn text(f: &Frame) -> Option<String> {
    match f {
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        Frame::Simple(s) => Some(s.clone()),
        _ => None,
    }
}

/// The (key, value) pairs of a RESP3 map or a RESP2 flat array of pairs.
fn pairs(f: &Frame) -> Vec<(&Frame, &Frame)> {
    match f {
        Frame::Map(p) => p.iter().map(|(k, v)| (k, v)).collect(),
        Frame::Array(a) => a.chunks_exact(2).map(|c| (&c[0], &c[1])).collect(),
        _ => Vec::new(),
    }
}

fn or_empty(s: &str) -> &str {
    if s.is_empty() {
        "\"\""
    } else {
        s
    }
}

/// The synopsis of a list of argument specs joined by `sep`.
fn concat_args(args: &Frame, sep: &str) -> String {
    let items: &[Frame] = match args {
        Frame::Array(a) | Frame::Set(a) => a,
        _ => &[],
    };
    items.iter().map(arg_synopsis).collect::<Vec<_>>().join(sep)
}

/// One argument's synopsis: `[EX seconds]`, `key [key ...]`, `NX|XX`...
fn arg_synopsis(spec: &Frame) -> String {
    let (mut name, mut typ, mut token) = (String::new(), String::new(), String::new());
    let (mut optional, mut multiple, mut multiple_token) = (false, false, false);
    let mut nested = None;
    for (k, v) in pairs(spec) {
        match text(k).as_deref() {
            Some("name") => name = text(v).unwrap_or_default(),
            Some("type") => typ = text(v).unwrap_or_default(),
            Some("token") => token = or_empty(&text(v).unwrap_or_default()).to_string(),
            Some("arguments") => nested = Some(v),
            Some("flags") => {
                if let Frame::Array(f) | Frame::Set(f) = v {
                    for flag in f.iter().filter_map(text) {
                        match flag.as_str() {
                            "optional" => optional = true,
                            "multiple" => multiple = true,
                            "multiple_token" => multiple_token = true,
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let repeat = match typ.as_str() {
        "oneof" => nested.map(|n| concat_args(n, "|")).unwrap_or_default(),
        "block" => nested.map(|n| concat_args(n, " ")).unwrap_or_default(),
        "pure-token" => String::new(),
        _ => or_empty(&name).to_string(),
    };
    if !token.is_empty() && typ != "pure-token" {
        token.push(' ');
    }
    let mut out = String::new();
    if optional {
        out.push('[');
    }
    out.push_str(&token);
    out.push_str(&repeat);
    if multiple {
        out.push_str(" [");
        if multiple_token {
            out.push_str(&token);
        }
        out.push_str(&repeat);
        out.push_str(" ...]");
    }
    if optional {
        out.push(']');
    }
    out
}

impl HelpTable {
    /// Build the table from a `COMMAND DOCS` reply (RESP2 or RESP3); `None` when the
    /// reply is not a table (an error from a server that lacks the subcommand).
    pub fn from_docs(reply: &Frame) -> Option<HelpTable> {
        if !matches!(reply, Frame::Map(_) | Frame::Array(_)) {
            return None;
        }
        let mut entries = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        for (name, specs) in pairs(reply) {
            let Some(name) = text(name) else { continue };
            add_entry(&mut entries, &mut groups, &name, None, specs);
        }
        for g in groups {
            entries.push(Entry {
                words: vec![format!("@{g}")],
                full: format!("@{g}"),
                params: String::new(),
                summary: String::new(),
                since: None,
                group: String::new(),
                is_group: true,
            });
        }
        entries.sort_by(|a, b| a.full.cmp(&b.full));
        Some(HelpTable { entries })
    }

    /// A table of names only, from a plain `COMMAND` reply (servers without
    /// COMMAND DOCS): enough for completion and highlighting.
    pub fn from_command(reply: &Frame) -> Option<HelpTable> {
        let Frame::Array(cmds) = reply else {
            return None;
        };
        let mut entries: Vec<Entry> = cmds
            .iter()
            .filter_map(|c| match c {
                Frame::Array(info) => info.first().and_then(text),
                _ => None,
            })
            .map(|name| {
                let up = name.to_ascii_uppercase();
                Entry {
                    words: vec![up.clone()],
                    full: up,
                    params: String::new(),
                    summary: String::new(),
                    since: None,
                    group: String::new(),
                    is_group: false,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.full.cmp(&b.full));
        Some(HelpTable { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of leading words of `argv` that name a known command or subcommand
    /// (0, 1 or 2).
    pub fn command_words(&self, argv: &[String]) -> usize {
        self.longest_match(argv).map_or(0, |e| e.words.len())
    }

    fn longest_match(&self, argv: &[String]) -> Option<&Entry> {
        let mut best: Option<&Entry> = None;
        for e in self.entries.iter().filter(|e| !e.is_group) {
            if e.words.len() <= argv.len()
                && e.words
                    .iter()
                    .zip(argv)
                    .all(|(w, a)| w.eq_ignore_ascii_case(a))
                && best.is_none_or(|b| e.words.len() > b.words.len())
            {
                best = Some(e);
            }
        }
        best
    }

    /// What `HELP args...` prints, byte for byte as redis-cli (ANSI attributes
    /// included, `\r\n` line ends). `version` is shown by a bare HELP.
    pub fn help_text(&self, args: &[String], version: &str) -> String {
        if args.is_empty() {
            return format!(
                "cinnabar-cli {version}\n\
                 To get help about Redis commands type:\n\
                 \x20     \"help @<group>\" to get a list of commands in <group>\n\
                 \x20     \"help <command>\" for help on <command>\n\
                 \x20     \"help <tab>\" to get a list of possible help topics\n\
                 \x20     \"quit\" to exit\n\
                 \n\
                 To set cinnabar-cli preferences:\n\
                 \x20     \":set hints\" enable online hints\n\
                 \x20     \":set nohints\" disable online hints\n"
            );
        }
        let group = args[0].strip_prefix('@');
        let mut out = String::new();
        for e in self.entries.iter().filter(|e| !e.is_group) {
            let show = match group {
                Some(g) => e.group.eq_ignore_ascii_case(g),
                None => {
                    args.len() <= e.words.len()
                        && args
                            .iter()
                            .zip(&e.words)
                            .all(|(a, w)| a.eq_ignore_ascii_case(w))
                }
            };
            if show {
                out.push_str(&format!(
                    "\r\n  \x1b[1m{}\x1b[0m \x1b[90m{}\x1b[0m\r\n",
                    e.full, e.params
                ));
                out.push_str(&format!("  \x1b[33msummary:\x1b[0m {}\r\n", e.summary));
                if let Some(since) = &e.since {
                    out.push_str(&format!("  \x1b[33msince:\x1b[0m {since}\r\n"));
                }
                if group.is_none() {
                    out.push_str(&format!("  \x1b[33mgroup:\x1b[0m {}\r\n", e.group));
                }
            }
        }
        out.push_str("\r\n");
        out
    }

    /// The grey hint shown after what was typed: the arguments not yet given.
    pub fn hint(&self, line: &str) -> Option<String> {
        let argv: Vec<String> = split_args(line.as_bytes())?
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect();
        if argv.is_empty() {
            return None;
        }
        let e = self.longest_match(&argv)?;
        let mut hint = e.params.as_str();
        // Drop one synopsis word per argument typed, stopping at the optional part.
        let mut to_remove = argv.len() - e.words.len();
        while to_remove > 0 && !hint.is_empty() {
            if hint.starts_with('[') {
                break;
            }
            if hint.starts_with(' ') {
                to_remove -= 1;
            }
            hint = &hint[1..];
        }
        let end_space = line.ends_with(|c: char| c.is_ascii_whitespace());
        Some(if end_space {
            hint.to_string()
        } else {
            format!(" {hint}")
        })
    }

    /// Tab completions of the whole line: command names (and `CMD SUB` pairs), and
    /// after `help `, group names too.
    pub fn completions(&self, line: &str) -> Vec<String> {
        let (start, groups_too) = if line.len() >= 5 && line[..5].eq_ignore_ascii_case("help ") {
            let rest = &line[5..];
            (line.len() - rest.trim_start().len(), true)
        } else {
            (0, false)
        };
        let typed = &line[start..];
        self.entries
            .iter()
            .filter(|e| groups_too || !e.is_group)
            .filter(|e| {
                e.full.len() >= typed.len()
                    && e.full.as_bytes()[..typed.len()].eq_ignore_ascii_case(typed.as_bytes())
            })
            .map(|e| format!("{}{}", &line[..start], e.full))
            .collect()
    }
}

fn add_entry(
    entries: &mut Vec<Entry>,
    groups: &mut Vec<String>,
    name: &str,
    sub: Option<&str>,
    specs: &Frame,
) {
    let mut words = vec![name.to_ascii_uppercase()];
    if let Some(sub) = sub {
        // Subcommand names come as "config|set".
        let s = sub.split_once('|').map_or(sub, |(_, s)| s);
        words.push(s.to_ascii_uppercase());
    }
    let mut e = Entry {
        full: words.join(" "),
        words,
        params: String::new(),
        summary: String::new(),
        since: None,
        group: String::new(),
        is_group: false,
    };
    let mut subs = Vec::new();
    for (k, v) in pairs(specs) {
        match text(k).as_deref() {
            Some("summary") => e.summary = text(v).unwrap_or_default(),
            Some("since") => e.since = text(v),
            Some("group") => {
                e.group = text(v).unwrap_or_default();
                if !groups.contains(&e.group) {
                    groups.push(e.group.clone());
                }
            }
            Some("arguments") => e.params = concat_args(v, " "),
            Some("subcommands") => {
                for (sn, sspecs) in pairs(v) {
                    if let Some(sn) = text(sn) {
                        subs.push((sn, sspecs));
                    }
                }
            }
            _ => {}
        }
    }
    entries.push(e);
    for (sn, sspecs) in subs {
        add_entry(entries, groups, name, Some(&sn), sspecs);
    }
}
