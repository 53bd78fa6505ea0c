//! cinnabar-cli: redis-cli compatible client. One-shot mode when a command is given,
//! otherwise an interactive REPL.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use cinnabar_cli::conn::{error_reason, Conn};
use cinnabar_cli::{format_raw, format_tty, split_args};
use cinnabar_resp::Frame;
use clap::Parser;
use rustyline::error::ReadlineError;

#[derive(Parser, Debug)]
#[command(
    name = "cinnabar-cli",
    version,
    disable_help_flag = true,
    args_override_self = true,
    about = "Cinnabar command-line client"
)]
struct Args {
    /// Server hostname (default: 127.0.0.1).
    #[arg(short = 'h')]
    host: Option<String>,
    /// Server port (default: 6379).
    #[arg(short = 'p')]
    port: Option<u16>,
    /// Password to use when connecting to the server (AUTH).
    #[arg(short = 'a', long = "pass")]
    password: Option<String>,
    /// Username for AUTH (needs -a).
    #[arg(long = "user")]
    user: Option<String>,
    /// Database number.
    #[arg(short = 'n')]
    db: Option<i64>,
    /// Server URI: redis://[user:password@]host[:port][/db]
    #[arg(short = 'u')]
    uri: Option<String>,
    /// Start session in RESP2 protocol mode (the default).
    #[arg(short = '2')]
    resp2: bool,
    /// Start session in RESP3 protocol mode (HELLO 3).
    #[arg(short = '3')]
    resp3: bool,
    /// Read the last argument from stdin.
    #[arg(short = 'x')]
    stdin_arg: bool,
    /// Use raw formatting for replies (default when stdout is not a tty).
    #[arg(long)]
    raw: bool,
    /// Force formatted output even when stdout is not a tty.
    #[arg(long = "no-raw")]
    no_raw: bool,
    /// Don't show the warning about passwords on the command line.
    #[arg(long = "no-auth-warning")]
    no_auth_warning: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Command and arguments; without them, start the interactive REPL.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

struct Settings {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    db: i64,
    resp3: bool,
    raw: bool,
}

/// Parse `redis://[user:password@]host[:port][/db]`.
fn parse_uri(uri: &str, s: &mut Settings) -> anyhow::Result<()> {
    let Some(rest) = uri.strip_prefix("redis://") else {
        bail!("Invalid URI scheme");
    };
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (Some(a), r),
        None => (None, rest),
    };
    if let Some(auth) = auth {
        match auth.split_once(':') {
            Some((u, p)) => {
                if !u.is_empty() {
                    s.user = Some(u.to_string());
                }
                s.password = Some(p.to_string());
            }
            None => s.user = Some(auth.to_string()),
        }
    }
    let (hostport, db) = match rest.split_once('/') {
        Some((h, d)) => (h, d),
        None => (rest, ""),
    };
    if !db.is_empty() {
        s.db = db.parse().context("Invalid database number in URI")?;
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    };
    if !host.is_empty() {
        s.host = host.to_string();
    }
    if let Some(p) = port.filter(|p| !p.is_empty()) {
        s.port = p.parse().context("Invalid port in URI")?;
    }
    Ok(())
}

fn settings(args: &Args) -> anyhow::Result<Settings> {
    let mut s = Settings {
        host: "127.0.0.1".into(),
        port: 6379,
        user: None,
        password: std::env::var("REDISCLI_AUTH").ok(),
        db: 0,
        resp3: false,
        raw: !io::stdout().is_terminal(),
    };
    if let Some(uri) = &args.uri {
        parse_uri(uri, &mut s)?;
    }
    if let Some(h) = &args.host {
        s.host = h.clone();
    }
    if let Some(p) = args.port {
        s.port = p;
    }
    if args.user.is_some() {
        s.user = args.user.clone();
    }
    if args.password.is_some() {
        s.password = args.password.clone();
    }
    if let Some(n) = args.db {
        s.db = n;
    }
    s.resp3 = args.resp3 && !args.resp2;
    if args.raw {
        s.raw = true;
    }
    if args.no_raw {
        s.raw = false;
    }
    let cli_password =
        args.password.is_some() || args.uri.as_deref().is_some_and(|u| u.contains('@'));
    if cli_password && !args.no_auth_warning {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    Ok(s)
}

/// Connect and run AUTH / SELECT / HELLO 3. Problems are reported on stderr.
fn connect(s: &Settings) -> Option<Conn> {
    let mut conn = match Conn::connect(&s.host, s.port) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "Could not connect to Redis at {}:{}: {}",
                s.host,
                s.port,
                error_reason(&e)
            );
            return None;
        }
    };
    let mut setup = |args: Vec<String>, what: String| -> bool {
        match conn.call(&args) {
            Ok(Frame::Error(e)) => {
                eprintln!("{what} failed: {e}");
                false
            }
            Ok(_) => true,
            Err(e) => {
                eprintln!("\nI/O error: {e}");
                false
            }
        }
    };
    if let Some(pw) = &s.password {
        let mut a = vec!["AUTH".to_string()];
        a.extend(s.user.clone());
        a.push(pw.clone());
        // Like redis-cli, a failed AUTH is reported but the session goes on.
        setup(a, "AUTH".into());
    }
    if s.db != 0
        && !setup(
            vec!["SELECT".into(), s.db.to_string()],
            format!("SELECT {}", s.db),
        )
    {
        return None;
    }
    if s.resp3 && !setup(vec!["HELLO".into(), "3".into()], "HELLO 3".into()) {
        return None;
    }
    Some(conn)
}

fn print_reply(s: &Settings, frame: &Frame) {
    let out = if s.raw {
        format_raw(frame)
    } else {
        format_tty(frame)
    };
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(&out);
    let _ = stdout.flush();
}

fn one_shot(s: &Settings, mut argv: Vec<Vec<u8>>, stdin_arg: bool) -> anyhow::Result<ExitCode> {
    if stdin_arg {
        let mut data = Vec::new();
        io::stdin()
            .read_to_end(&mut data)
            .context("reading stdin")?;
        argv.push(data);
    }
    let Some(mut conn) = connect(s) else {
        return Ok(ExitCode::FAILURE);
    };
    match conn.call(&argv) {
        Ok(frame) => {
            print_reply(s, &frame);
            // redis-cli 7.2 exits 0 even after an error reply.
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("Error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cinnabar_cli_history"))
}

fn prompt(s: &Settings, connected: bool) -> String {
    if !connected {
        return "not connected> ".into();
    }
    let host = if s.host.contains(':') {
        format!("[{}]", s.host)
    } else {
        s.host.clone()
    };
    if s.db != 0 {
        format!("{host}:{}[{}]> ", s.port, s.db)
    } else {
        format!("{host}:{}> ", s.port)
    }
}

fn repl(mut s: Settings) -> anyhow::Result<ExitCode> {
    let mut conn = connect(&s);
    let mut rl = rustyline::DefaultEditor::new()?;
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    loop {
        let line = match rl.readline(&prompt(&s, conn.is_some())) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let Some(mut argv) = split_args(line.as_bytes()) else {
            println!("Invalid argument(s)");
            continue;
        };
        if argv.is_empty() {
            continue;
        }
        let first = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        if first != "auth" {
            let _ = rl.add_history_entry(line.as_str());
            if let Some(h) = &history {
                let _ = rl.save_history(h);
            }
        }
        if first == "quit" || first == "exit" {
            break;
        }
        // "N cmd ..." repeats the command N times, as in redis-cli.
        let mut repeat = 1u64;
        if argv.len() > 1 {
            if let Ok(n) = first.parse::<u64>() {
                repeat = n;
                argv.remove(0);
            }
        }
        let cmd = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        for _ in 0..repeat {
            if conn.is_none() {
                conn = connect(&s);
                if conn.is_none() {
                    break;
                }
            }
            let c = conn.as_mut().expect("connected");
            match c.call(&argv) {
                Ok(frame) => {
                    if cmd == "select" && argv.len() == 2 && !matches!(frame, Frame::Error(_)) {
                        if let Ok(db) = String::from_utf8_lossy(&argv[1]).parse() {
                            s.db = db;
                        }
                    }
                    print_reply(&s, &frame);
                }
                Err(e) => {
                    eprintln!("Error: {e}");
                    conn = None;
                    break;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = settings(&args).and_then(|s| {
        if args.command.is_empty() {
            repl(s)
        } else {
            let argv = args
                .command
                .iter()
                .map(|a| a.clone().into_encoded_bytes())
                .collect();
            one_shot(&s, argv, args.stdin_arg)
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
