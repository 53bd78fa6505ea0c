//! The interactive REPL: line editing and history (rustyline), grey hints of the
//! remaining arguments, Tab completion and syntax highlighting from the server's
//! command table, and redis-cli's prompt, Ctrl-C / Ctrl-D and `N command` repeat.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::format::Output;
use crate::help::HelpTable;
use crate::session::{install_interactive_signals, Session};
use crate::split::split_args;

/// The line editor's helper: everything it shows comes from the help table.
pub struct CliHelper {
    pub table: HelpTable,
    pub hints: bool,
    /// Colour the input line (only when it is a terminal).
    pub color: bool,
}

impl Completer for CliHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let cands = self
            .table
            .completions(&line[..pos])
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((0, cands))
    }
}

impl Hinter for CliHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if !self.hints || pos < line.len() {
            return None;
        }
        self.table.hint(line).filter(|h| !h.trim().is_empty())
    }
}

impl Highlighter for CliHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        Cow::Owned(highlight_line(&self.table, line))
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Validator for CliHelper {}
impl Helper for CliHelper {}

/// The input line with colours: the command (and subcommand) name bold yellow when
/// the server knows it, red when it does not; quoted strings green; numbers cyan.
/// The text itself is unchanged, so the display width stays the same.
pub fn highlight_line(table: &HelpTable, line: &str) -> String {
    let words = tokens(line);
    let argv: Vec<String> = words.iter().map(|&(s, e)| line[s..e].to_string()).collect();
    // The REPL's own commands count as known too.
    let local = argv.first().is_some_and(|w| {
        matches!(
            w.to_ascii_lowercase().as_str(),
            "help" | "?" | "quit" | "exit" | "clear" | "connect"
        ) || w.starts_with(':')
    });
    let n_cmd = if local { 1 } else { table.command_words(&argv) };
    let mut out = String::with_capacity(line.len() + 32);
    let mut last = 0;
    for (i, &(s, e)) in words.iter().enumerate() {
        out.push_str(&line[last..s]);
        let w = &line[s..e];
        let color = if i < n_cmd {
            "\x1b[1;33m"
        } else if i == 0 && !table.is_empty() {
            "\x1b[31m"
        } else if w.starts_with('"') || w.starts_with('\'') {
            "\x1b[32m"
        } else if w.parse::<f64>().is_ok() {
            "\x1b[36m"
        } else {
            ""
        };
        if color.is_empty() {
            out.push_str(w);
        } else {
            out.push_str(color);
            out.push_str(w);
            out.push_str("\x1b[0m");
        }
        last = e;
    }
    out.push_str(&line[last..]);
    out
}

/// Byte ranges of the words of `line`, quotes kept (unterminated quotes run to the end).
fn tokens(line: &str) -> Vec<(usize, usize)> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut quote = None;
        while i < b.len() {
            match (quote, b[i]) {
                (None, c) if c.is_ascii_whitespace() => break,
                (None, c @ (b'"' | b'\'')) => quote = Some(c),
                (Some(q), b'\\') if q == b'"' || b.get(i + 1) == Some(&b'\'') => i += 1,
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            i += 1;
        }
        out.push((start, i.min(b.len())));
    }
    out
}

/// The history file: `$CINNABAR_CLI_HISTFILE` (or `$REDISCLI_HISTFILE`; `/dev/null`
/// disables it), else `~/.cinnabar_cli_history`.
pub fn history_path() -> Option<PathBuf> {
    let env =
        std::env::var_os("CINNABAR_CLI_HISTFILE").or_else(|| std::env::var_os("REDISCLI_HISTFILE"));
    if let Some(p) = env {
        return (p != "/dev/null").then(|| PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cinnabar_cli_history"))
}

/// Commands whose line must not be kept in history (they carry passwords).
fn is_sensitive(argv: &[Vec<u8>]) -> bool {
    let w = |i: usize| {
        argv.get(i)
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
    };
    match w(0).as_deref() {
        Some("auth") => true,
        Some("acl") => w(1).as_deref() == Some("setuser"),
        Some("config") => {
            w(1).as_deref() == Some("set")
                && matches!(
                    w(2).as_deref(),
                    Some("masterauth" | "masteruser" | "requirepass")
                )
        }
        Some("hello") | Some("migrate") => argv
            .iter()
            .any(|a| a.eq_ignore_ascii_case(b"auth") || a.eq_ignore_ascii_case(b"auth2")),
        _ => false,
    }
}

/// For KEYS / FLUSHDB / FLUSHALL on a big database, ask first (our addition to
/// redis-cli). Returns whether to go on.
fn confirm_dangerous(
    session: &mut Session,
    rl: &mut Editor<CliHelper, DefaultHistory>,
    argv: &[Vec<u8>],
) -> bool {
    let cmd = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
    if session.settings.confirm_above == 0
        || !matches!(cmd.as_str(), "KEYS" | "FLUSHDB" | "FLUSHALL")
        || !session.ensure_connected(true)
    {
        return true;
    }
    let conn = session.conn.as_mut().expect("connected");
    let keys = if cmd == "FLUSHALL" {
        match conn.call(&["INFO", "keyspace"]) {
            Ok(cinnabar_resp::Frame::Bulk(b))
            | Ok(cinnabar_resp::Frame::Verbatim { text: b, .. }) => {
                keyspace_total(&String::from_utf8_lossy(&b))
            }
            _ => 0,
        }
    } else {
        match conn.call(&["DBSIZE"]) {
            Ok(cinnabar_resp::Frame::Integer(n)) => n.max(0) as u64,
            _ => 0,
        }
    };
    if keys <= session.settings.confirm_above {
        return true;
    }
    let question = format!(
        "Warning: {cmd} on a database of {keys} keys {}. Run it? (y/N) ",
        if cmd == "KEYS" {
            "blocks the server while it scans them all (SCAN does not)"
        } else {
            "deletes them all"
        }
    );
    let saved = rl
        .helper_mut()
        .map(|h| std::mem::replace(&mut h.hints, false));
    let answer = rl.readline(&question);
    if let (Some(h), Some(v)) = (rl.helper_mut(), saved) {
        h.hints = v;
    }
    matches!(
        answer.as_deref().map(str::trim),
        Ok("y" | "Y" | "yes" | "YES")
    )
}

/// Sum of `keys=N` over the `dbX:` lines of INFO keyspace.
pub fn keyspace_total(info: &str) -> u64 {
    info.lines()
        .filter(|l| l.starts_with("db"))
        .filter_map(|l| l.split("keys=").nth(1))
        .filter_map(|v| v.split(',').next()?.trim().parse::<u64>().ok())
        .sum()
}

/// Run the REPL until QUIT, Ctrl-D (exit 0) or Ctrl-C at the prompt (exit 0, as
/// redis-cli's line editor returns end of input).
pub fn repl(mut session: Session) -> anyhow::Result<()> {
    session.ensure_connected(false);
    let table = session.help_snapshot();
    let tty_in = io::stdin().is_terminal();
    let helper = CliHelper {
        table,
        hints: true,
        color: tty_in && io::stdout().is_terminal(),
    };
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::Circular)
        .auto_add_history(false)
        // Pasted lines run one by one, as in redis-cli: no bracketed paste (it would
        // join them into one command), and keys typed ahead are kept between lines
        // (rustyline's buffer-redux feature).
        .bracketed_paste(false)
        .build();
    let mut rl: Editor<CliHelper, DefaultHistory> = Editor::with_config(config)?;
    rl.set_helper(Some(helper));
    // After the editor: it installs its own SIGINT handler when created, and ours must
    // win outside line editing (in raw mode Ctrl-C is a key, not a signal).
    install_interactive_signals();
    // History only when typing at a terminal, as redis-cli.
    let history = if tty_in { history_path() } else { None };
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    if tty_in {
        load_preferences(&mut rl);
    }
    loop {
        if session.pubsub {
            session.wait_for_messages_or_stdin();
        }
        let line = match rl.readline(&session.prompt()) {
            Ok(line) => line,
            // Ctrl-C / Ctrl-D while subscribed leave subscribed mode (a new connection).
            Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) if session.pubsub => {
                session.conn = None;
                session.ensure_connected(false);
                continue;
            }
            Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        if line.is_empty() {
            continue;
        }
        let add_history = |rl: &mut Editor<CliHelper, DefaultHistory>| {
            if tty_in {
                let _ = rl.add_history_entry(line.as_str());
                if let Some(h) = &history {
                    let _ = rl.save_history(h);
                }
            }
        };
        let Some(mut argv) = split_args(line.as_bytes()) else {
            println!("Invalid argument(s)");
            add_history(&mut rl);
            continue;
        };
        if argv.is_empty() {
            continue;
        }
        // "N command ..." runs the command N times.
        let mut repeat = 1i64;
        if argv.len() > 1 {
            if let Ok(n) = std::str::from_utf8(&argv[0]).unwrap_or("").parse::<i64>() {
                if n <= 0 {
                    println!("Invalid redis-cli repeat command option value.");
                    continue;
                }
                repeat = n;
                argv.remove(0);
            } else if std::str::from_utf8(&argv[0])
                .unwrap_or("x")
                .bytes()
                .all(|c| c.is_ascii_digit())
            {
                println!("Invalid redis-cli repeat command option value.");
                continue;
            }
        }
        if !is_sensitive(&argv) {
            add_history(&mut rl);
        }
        let first = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        match first.as_str() {
            "quit" | "exit" => break,
            _ if first.starts_with(':') => {
                let words: Vec<String> = argv
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
                    .collect();
                match (words[0].as_str(), words.get(1).map(String::as_str)) {
                    (":set", Some("hints")) => set_hints(&mut rl, true),
                    (":set", Some("nohints")) => set_hints(&mut rl, false),
                    (":set", _) => println!(
                        "Unknown cinnabar-cli preference '{}'",
                        words.get(1).map_or("", |s| s)
                    ),
                    _ => println!("Unknown cinnabar-cli command '{}'", words[0]),
                }
                continue;
            }
            "connect" if argv.len() == 3 => {
                let host = String::from_utf8_lossy(&argv[1]).into_owned();
                let port = String::from_utf8_lossy(&argv[2]).parse().unwrap_or(0);
                session.settings.target = crate::args::Target::Tcp { host, port };
                session.conn = None;
                session.ensure_connected(false);
                let table = session.help_snapshot();
                if let Some(h) = rl.helper_mut() {
                    h.table = table;
                }
                continue;
            }
            "clear" if argv.len() == 1 => {
                let _ = rl.clear_screen();
                continue;
            }
            _ => {}
        }
        if tty_in && !confirm_dangerous(&mut session, &mut rl, &argv) {
            println!("(not run)");
            continue;
        }
        let start = Instant::now();
        let _ = session.run(&argv, repeat);
        // Started without a server: hints and completion come once it answers.
        if rl.helper().is_some_and(|h| h.table.is_empty()) && session.conn.is_some() {
            let table = session.help_snapshot();
            if let Some(h) = rl.helper_mut() {
                h.table = table;
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed >= 0.5 && session.settings.output == Output::Standard {
            println!("({elapsed:.2}s)");
        }
        let _ = io::stdout().flush();
    }
    Ok(())
}

/// Apply the `:set ...` lines of `$CINNABAR_CLI_RCFILE`, else `~/.cinnabarclirc`
/// (redis-cli's `~/.redisclirc`).
fn load_preferences(rl: &mut Editor<CliHelper, DefaultHistory>) {
    let path = std::env::var_os("CINNABAR_CLI_RCFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cinnabarclirc")));
    let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return;
    };
    for line in text.lines() {
        let words: Vec<String> = line
            .split_whitespace()
            .map(|w| w.to_ascii_lowercase())
            .collect();
        match (
            words.first().map(String::as_str),
            words.get(1).map(String::as_str),
        ) {
            (Some(":set"), Some("hints")) => set_hints(rl, true),
            (Some(":set"), Some("nohints")) => set_hints(rl, false),
            _ => {}
        }
    }
}

fn set_hints(rl: &mut Editor<CliHelper, DefaultHistory>, on: bool) {
    if let Some(h) = rl.helper_mut() {
        h.hints = on;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting() {
        let t = HelpTable::from_command(&cinnabar_resp::Frame::Array(vec![
            cinnabar_resp::Frame::Array(vec![cinnabar_resp::Frame::Bulk("get".into())]),
        ]))
        .unwrap();
        assert_eq!(
            highlight_line(&t, "get \"a b\" 12 x"),
            "\x1b[1;33mget\x1b[0m \x1b[32m\"a b\"\x1b[0m \x1b[36m12\x1b[0m x"
        );
        assert_eq!(highlight_line(&t, "gte k"), "\x1b[31mgte\x1b[0m k");
        assert_eq!(highlight_line(&t, "help get"), "\x1b[1;33mhelp\x1b[0m get");
        assert_eq!(highlight_line(&HelpTable::default(), "gte k"), "gte k");
    }

    #[test]
    fn token_ranges() {
        let l = r#"set "a b" 'c\'d' 12"#;
        let t: Vec<&str> = tokens(l).into_iter().map(|(s, e)| &l[s..e]).collect();
        assert_eq!(t, vec!["set", "\"a b\"", "'c\\'d'", "12"]);
        let l = "get \"open";
        let t: Vec<&str> = tokens(l).into_iter().map(|(s, e)| &l[s..e]).collect();
        assert_eq!(t, vec!["get", "\"open"]);
    }

    #[test]
    fn sensitive_lines() {
        let a = |s: &str| split_args(s.as_bytes()).unwrap();
        assert!(is_sensitive(&a("AUTH pw")));
        assert!(is_sensitive(&a("config set requirepass x")));
        assert!(is_sensitive(&a("acl setuser bob on >pw")));
        assert!(is_sensitive(&a("hello 3 auth u p")));
        assert!(!is_sensitive(&a("config get requirepass")));
        assert!(!is_sensitive(&a("set auth x")));
    }

    #[test]
    fn keyspace_sum() {
        let info =
            "# Keyspace\r\ndb0:keys=12,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=1,avg_ttl=9\r\n";
        assert_eq!(keyspace_total(info), 17);
    }
}
