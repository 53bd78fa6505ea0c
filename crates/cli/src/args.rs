//! Command-line options (redis-cli's names) and the settings derived from them.

use std::ffi::OsString;
use std::io::{self, IsTerminal};

use anyhow::{bail, Context};
use clap::Parser;

use crate::format::Output;

#[derive(Parser, Debug, Default)]
#[command(
    name = "cinnabar-cli",
    disable_help_flag = true,
    args_override_self = true,
    about = "Cinnabar command-line client (redis-cli compatible)"
)]
pub struct Args {
    /// Server hostname (default: 127.0.0.1).
    #[arg(short = 'h')]
    pub host: Option<String>,
    /// Server port (default: 6379).
    #[arg(short = 'p')]
    pub port: Option<u16>,
    /// Server unix socket (overrides hostname and port).
    #[arg(short = 's')]
    pub socket: Option<String>,
    /// Password to use when connecting to the server (AUTH). The REDISCLI_AUTH
    /// environment variable is a safer way to pass it.
    #[arg(short = 'a', long = "pass")]
    pub password: Option<String>,
    /// Username for AUTH (needs -a).
    #[arg(long = "user")]
    pub user: Option<String>,
    /// Database number.
    #[arg(short = 'n')]
    pub db: Option<i64>,
    /// Server URI: redis://[user:password@]host[:port][/db]
    #[arg(short = 'u')]
    pub uri: Option<String>,
    /// Start session in RESP2 protocol mode (the default).
    #[arg(short = '2')]
    pub resp2: bool,
    /// Start session in RESP3 protocol mode (HELLO 3).
    #[arg(short = '3')]
    pub resp3: bool,
    /// Execute the command N times (negative: forever).
    #[arg(short = 'r', allow_negative_numbers = true)]
    pub repeat: Option<i64>,
    /// Wait this many seconds (may be fractional) between commands with -r, and
    /// between samples in --stat / --latency-history.
    #[arg(short = 'i')]
    pub interval: Option<f64>,
    /// Cluster mode: follow -MOVED and -ASK redirections.
    #[arg(short = 'c')]
    pub cluster: bool,
    /// Read the last argument from stdin.
    #[arg(short = 'x')]
    pub stdin_arg: bool,
    /// Read the argument equal to TAG from stdin.
    #[arg(short = 'X', value_name = "TAG")]
    pub stdin_tag: Option<String>,
    /// Delimiter between the elements of an aggregate reply in raw output (default: \n).
    #[arg(short = 'd')]
    pub mb_delim: Option<String>,
    /// Delimiter after each reply in raw output (default: \n).
    #[arg(short = 'D')]
    pub cmd_delim: Option<String>,
    /// Arguments are quoted strings, as typed in the REPL ("\x00", 'a b').
    #[arg(long = "quoted-input")]
    pub quoted_input: bool,
    /// Ask for the password on the terminal, without echo (instead of -a).
    #[arg(long)]
    pub askpass: bool,
    /// Send an EVAL of the Lua script in FILE; the command-line arguments are
    /// `key1 key2 , arg1 arg2`.
    #[arg(long, value_name = "FILE")]
    pub eval: Option<String>,
    /// Find hot keys (needs an LFU maxmemory-policy on the server).
    #[arg(long)]
    pub hotkeys: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// Exit with code 1 when the (one-shot) command replies with an error.
    #[arg(short = 'e')]
    pub errcode: bool,
    /// Use raw formatting for replies (default when stdout is not a tty).
    #[arg(long)]
    pub raw: bool,
    /// Force formatted output even when stdout is not a tty.
    #[arg(long = "no-raw")]
    pub no_raw: bool,
    /// Output in CSV format.
    #[arg(long)]
    pub csv: bool,
    /// Output in JSON format (switches to RESP3 when the server has it).
    #[arg(long)]
    pub json: bool,
    /// Same as --json, but produce ASCII-safe quoted strings.
    #[arg(long = "quoted-json")]
    pub quoted_json: bool,
    /// Pretty-print string values that hold JSON objects or arrays.
    #[arg(long)]
    pub pretty: bool,
    /// Transfer raw Redis protocol from stdin to the server.
    #[arg(long)]
    pub pipe: bool,
    /// In --pipe mode, give up after this many seconds without replies once stdin
    /// is done (0 waits forever).
    #[arg(long = "pipe-timeout", default_value_t = 30)]
    pub pipe_timeout: u64,
    /// List all keys using the SCAN command.
    #[arg(long)]
    pub scan: bool,
    /// Keys pattern for --scan, --bigkeys and --memkeys.
    #[arg(long)]
    pub pattern: Option<String>,
    /// COUNT hint for the SCAN calls of --scan, --bigkeys and --memkeys.
    #[arg(long)]
    pub count: Option<u64>,
    /// Sample keys looking for keys with many elements (complexity).
    #[arg(long)]
    pub bigkeys: bool,
    /// Sample keys looking for keys consuming a lot of memory.
    #[arg(long)]
    pub memkeys: bool,
    /// Like --memkeys, with MEMORY USAGE ... SAMPLES n.
    #[arg(long = "memkeys-samples")]
    pub memkeys_samples: Option<u64>,
    /// Continuously sample the latency of PING.
    #[arg(long)]
    pub latency: bool,
    /// Like --latency, but a new sample line every 15 seconds (or -i).
    #[arg(long = "latency-history")]
    pub latency_history: bool,
    /// Show latency as a spectrum (needs a 256-colour terminal); -r N stops after N lines.
    #[arg(long = "latency-dist")]
    pub latency_dist: bool,
    /// With --latency-dist, grey shades only.
    #[arg(long)]
    pub mono: bool,
    /// Measure the latency of this machine itself (no server) for SECS seconds.
    #[arg(long = "intrinsic-latency", value_name = "SECS")]
    pub intrinsic_latency: Option<u64>,
    /// Print rolling stats about the server: mem, clients, ... (with -r N: N lines).
    #[arg(long)]
    pub stat: bool,
    /// In the REPL, ask before KEYS / FLUSHDB / FLUSHALL when the database holds
    /// more than this many keys (0 never asks).
    #[arg(long = "confirm-above", default_value_t = 10_000)]
    pub confirm_above: u64,
    /// Don't show the warning about passwords on the command line.
    #[arg(long = "no-auth-warning")]
    pub no_auth_warning: bool,
    /// Establish a secure TLS connection.
    #[arg(long)]
    pub tls: bool,
    /// Server name indication for TLS.
    #[arg(long, value_name = "HOST")]
    pub sni: Option<String>,
    /// CA certificate file to verify with.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<String>,
    /// Directory where trusted CA certificates are stored. Without --cacert or
    /// --cacertdir, the system's CA bundle is used.
    #[arg(long, value_name = "DIR")]
    pub cacertdir: Option<String>,
    /// Allow insecure TLS connection by skipping cert validation.
    #[arg(long)]
    pub insecure: bool,
    /// Client certificate to authenticate with.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<String>,
    /// Private key file to authenticate with.
    #[arg(long, value_name = "FILE")]
    pub key: Option<String>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Command and arguments; without them, start the interactive REPL.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

/// Where to connect.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Tcp { host: String, port: u16 },
    Unix(String),
}

/// Everything a session needs, after the options, the URI and the environment are merged.
#[derive(Clone, Debug)]
pub struct Settings {
    pub target: Target,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    /// 0: RESP2; 1: HELLO 3 required (-3); 2: HELLO 3 tried, RESP2 kept if refused (--json).
    pub resp3: u8,
    pub output: Output,
    pub pretty: bool,
    pub repeat: i64,
    /// Microseconds between repeats and samples (0: none given).
    pub interval_us: u64,
    pub errcode: bool,
    pub confirm_above: u64,
    /// Show out-of-band RESP3 pushes (only when stdout is a terminal, as redis-cli).
    pub push_output: bool,
    /// Raw output: between aggregate elements (`-d`) and after each reply (`-D`).
    pub mb_delim: Vec<u8>,
    pub cmd_delim: Vec<u8>,
    /// `-c`: follow cluster redirects.
    pub cluster: bool,
    /// `--tls` or a `rediss://` URI: connections use TLS (`crate::tls`).
    pub tls: bool,
}

impl Settings {
    /// Defaults for `target` with the other fields as redis-cli starts them.
    pub fn new(target: Target) -> Settings {
        Settings {
            target,
            user: None,
            password: None,
            db: 0,
            resp3: 0,
            output: Output::Standard,
            pretty: false,
            repeat: 1,
            interval_us: 0,
            errcode: false,
            confirm_above: 0,
            push_output: false,
            mb_delim: b"\n".to_vec(),
            cmd_delim: b"\n".to_vec(),
            cluster: false,
            tls: false,
        }
    }

    /// Prompt shown in the REPL: `host:port[db]> ` or `redis /path[db]> `.
    pub fn prompt(&self, in_multi: bool) -> String {
        self.prompt_full(self.db, in_multi, false)
    }

    /// The prompt with redis-cli 7.2's `(subscribed mode)` mark when subscribed.
    /// `db` is the connection's current db.
    pub fn prompt_full(&self, db: i64, in_multi: bool, subscribed: bool) -> String {
        let mut p = match &self.target {
            Target::Unix(path) => format!("redis {path}"),
            Target::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Target::Tcp { host, port } => format!("{host}:{port}"),
        };
        if db != 0 {
            p.push_str(&format!("[{db}]"));
        }
        if in_multi {
            p.push_str("(TX)");
        }
        if subscribed {
            p.push_str("(subscribed mode)");
        }
        p.push_str("> ");
        p
    }
}

/// Parse `redis://[user:password@]host[:port][/db]` into `s`.
pub fn parse_uri(uri: &str, s: &mut Settings) -> anyhow::Result<()> {
    let rest = if let Some(rest) = uri.strip_prefix("rediss://") {
        s.tls = true;
        rest
    } else if let Some(rest) = uri.strip_prefix("redis://") {
        rest
    } else {
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
                    s.user = Some(percent_decode(u));
                }
                s.password = Some(percent_decode(p));
            }
            // Without a colon the user info is the password, as redis-cli reads it.
            None => s.password = Some(percent_decode(auth)),
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
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (h, Some(p)),
        _ => (hostport, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let (mut h, mut p) = match &s.target {
        Target::Tcp { host, port } => (host.clone(), *port),
        Target::Unix(_) => ("127.0.0.1".to_string(), 6379),
    };
    if !host.is_empty() {
        h = host.to_string();
    }
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        p = port.parse().context("Invalid port in URI")?;
    }
    s.target = Target::Tcp { host: h, port: p };
    Ok(())
}

/// `%XX` escapes in the user and password of a URI, as redis-cli decodes them.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Merge options, URI and environment (`REDISCLI_AUTH` when no password was given),
/// in redis-cli's order of precedence.
pub fn settings(args: &Args) -> anyhow::Result<Settings> {
    let mut s = Settings::new(Target::Tcp {
        host: "127.0.0.1".into(),
        port: 6379,
    });
    // redis-cli formats for humans only when stdout is a terminal (FAKETTY forces it).
    let tty = io::stdout().is_terminal() || std::env::var_os("FAKETTY").is_some();
    s.output = if tty { Output::Standard } else { Output::Raw };
    s.push_output = tty;
    if let Some(uri) = &args.uri {
        parse_uri(uri, &mut s)?;
    }
    if let Target::Tcp { host, port } = &mut s.target {
        if let Some(h) = &args.host {
            *host = h.clone();
        }
        if let Some(p) = args.port {
            *port = p;
        }
    }
    if let Some(path) = &args.socket {
        s.target = Target::Unix(path.clone());
    }
    if args.user.is_some() {
        s.user = args.user.clone();
    }
    if args.password.is_some() {
        s.password = args.password.clone();
    }
    if s.password.is_none() {
        s.password = std::env::var("REDISCLI_AUTH").ok();
    }
    if let Some(n) = args.db {
        s.db = n;
    }
    if args.resp3 && !args.resp2 {
        s.resp3 = 1;
    }
    if args.raw {
        s.output = Output::Raw;
    }
    if args.no_raw {
        s.output = Output::Standard;
    }
    if args.csv {
        s.output = Output::Csv;
    }
    if args.json || args.quoted_json {
        s.output = if args.json {
            Output::Json
        } else {
            Output::QuotedJson
        };
        if s.resp3 == 0 && !args.resp2 {
            s.resp3 = 2;
        }
    }
    s.pretty = args.pretty;
    s.repeat = args.repeat.unwrap_or(1);
    if let Some(i) = args.interval {
        if !(i >= 0.0 && i.is_finite()) {
            bail!("Invalid interval: {i}");
        }
        s.interval_us = (i * 1_000_000.0) as u64;
    }
    s.errcode = args.errcode;
    s.cluster = args.cluster;
    if let Some(d) = &args.mb_delim {
        s.mb_delim = d.clone().into_bytes();
    }
    if let Some(d) = &args.cmd_delim {
        s.cmd_delim = d.clone().into_bytes();
    }
    if args.askpass {
        s.password = Some(ask_password("Please input password: ")?);
    }
    s.confirm_above = args.confirm_above;
    s.tls |= args.tls;
    if s.tls {
        crate::tls::configure(&crate::tls::TlsOptions {
            cacert: args.cacert.clone(),
            cacertdir: args.cacertdir.clone(),
            cert: args.cert.clone(),
            key: args.key.clone(),
            sni: args.sni.clone(),
            insecure: args.insecure,
        })
        .context("Could not create an SSL context")?;
    }
    let cli_password =
        args.password.is_some() || args.uri.as_deref().is_some_and(|u| u.contains('@'));
    if cli_password && !args.no_auth_warning {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    Ok(s)
}

/// Read a password from the terminal with echo off (`--askpass`).
fn ask_password(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, Write};
    eprint!("{prompt}");
    let _ = io::stderr().flush();
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios calls on stdin with a zeroed struct filled by tcgetattr.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    let is_tty = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if is_tty {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = io::stdin().lock().read_line(&mut line);
    if is_tty {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
        eprintln!();
    }
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_forms() {
        let mut s = Settings::new(Target::Tcp {
            host: "127.0.0.1".into(),
            port: 6379,
        });
        parse_uri("redis://us%3Ar:p%40ss@example:7000/3", &mut s).unwrap();
        assert_eq!(s.user.as_deref(), Some("us:r"));
        assert_eq!(s.password.as_deref(), Some("p@ss"));
        assert_eq!(s.db, 3);
        assert_eq!(
            s.target,
            Target::Tcp {
                host: "example".into(),
                port: 7000
            }
        );
        let mut s = Settings::new(Target::Unix("/x".into()));
        parse_uri("redis://onlypw@h", &mut s).unwrap();
        assert_eq!(
            (s.user.as_deref(), s.password.as_deref()),
            (None, Some("onlypw"))
        );
        parse_uri("redis://:secret@[::1]:7001", &mut s).unwrap();
        assert_eq!(s.user, None);
        assert_eq!(s.password.as_deref(), Some("secret"));
        assert_eq!(
            s.target,
            Target::Tcp {
                host: "::1".into(),
                port: 7001
            }
        );
        assert_eq!(s.prompt(false), "[::1]:7001> ");
        assert!(parse_uri("http://x", &mut s).is_err());
    }

    #[test]
    fn prompts() {
        let mut s = Settings::new(Target::Tcp {
            host: "127.0.0.1".into(),
            port: 6379,
        });
        assert_eq!(s.prompt(false), "127.0.0.1:6379> ");
        s.db = 2;
        assert_eq!(s.prompt(true), "127.0.0.1:6379[2](TX)> ");
        s.target = Target::Unix("/tmp/r.sock".into());
        assert_eq!(s.prompt(false), "redis /tmp/r.sock[2]> ");
    }
}
