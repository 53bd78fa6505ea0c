//! cinnabar-cli: redis-cli compatible client. One-shot mode when a command is given,
//! a special mode (--pipe, --scan, --bigkeys, --latency, --stat...) when asked,
//! otherwise the interactive REPL.

use std::io::{self, Read};
use std::process::ExitCode;

use anyhow::Context;
use cinnabar_cli::args::{settings, Args, Settings};
use cinnabar_cli::conn::connect;
use cinnabar_cli::modes;
use cinnabar_cli::repl::repl;
use cinnabar_cli::session::Session;
use clap::Parser;

/// Connect for a special mode, or exit 1 (the error is already printed).
fn connect_or_exit(s: &Settings) -> cinnabar_cli::conn::Conn {
    match connect(s, false) {
        Some(c) => c,
        None => std::process::exit(1),
    }
}

fn run(args: &Args) -> anyhow::Result<i32> {
    let s = settings(args)?;
    let pattern = args.pattern.as_deref().map(str::as_bytes);
    if args.latency || args.latency_history {
        let conn = connect_or_exit(&s);
        return Ok(modes::latency::latency_mode(conn, &s, args.latency_history));
    }
    if args.pipe {
        let conn = connect_or_exit(&s);
        return Ok(modes::pipe::pipe_mode(conn, args.pipe_timeout));
    }
    if args.bigkeys || args.memkeys || args.memkeys_samples.is_some() {
        let mut conn = connect_or_exit(&s);
        return Ok(modes::bigkeys::bigkeys_mode(
            &mut conn,
            &s,
            !args.bigkeys,
            args.memkeys_samples,
            pattern,
            args.count,
        ));
    }
    if args.stat {
        let conn = connect_or_exit(&s);
        let limit = args.repeat.filter(|&r| r > 0).map(|r| r as u64);
        return Ok(modes::stat::stat_mode(conn, &s, limit));
    }
    if args.scan {
        let mut conn = connect_or_exit(&s);
        return Ok(modes::scan::scan_mode(&mut conn, &s, pattern, args.count));
    }
    if args.command.is_empty() {
        repl(Session::new(s, true))?;
        return Ok(0);
    }
    let mut argv: Vec<Vec<u8>> = args
        .command
        .iter()
        .map(|a| a.clone().into_encoded_bytes())
        .collect();
    if args.stdin_arg {
        let mut data = Vec::new();
        io::stdin()
            .read_to_end(&mut data)
            .context("reading stdin")?;
        argv.push(data);
    }
    let repeat = s.repeat;
    let mut session = Session::new(s, false);
    session.ensure_connected(true);
    Ok(match session.run(&argv, repeat) {
        Ok(()) => 0,
        Err(_) => 1,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
