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
    // Options come before the command: a leading word that looks like an option is
    // one we do not know.
    if let Some(first) = args.command.first() {
        let first = first.to_string_lossy();
        if first.starts_with('-') && first.len() > 1 {
            eprintln!("Unrecognized option or bad number of args for: '{first}'");
            return Ok(1);
        }
    }
    if args.version {
        println!("cinnabar-cli {}", env!("CARGO_PKG_VERSION"));
        return Ok(0);
    }
    let s = settings(args)?;
    let pattern = args.pattern.as_deref().map(str::as_bytes);
    if let Some(secs) = args.intrinsic_latency {
        return Ok(modes::latency::intrinsic_latency_mode(secs));
    }
    if args.latency_dist {
        let conn = connect_or_exit(&s);
        let limit = args.repeat.filter(|&r| r > 0).map(|r| r as u64);
        return Ok(modes::latency::latency_dist_mode(
            conn, &s, args.mono, limit,
        ));
    }
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
    if args.hotkeys {
        let mut conn = connect_or_exit(&s);
        return Ok(modes::hotkeys::hotkeys_mode(
            &mut conn, &s, pattern, args.count,
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
    if args.command.is_empty() && args.eval.is_none() {
        repl(Session::new(s, true))?;
        return Ok(0);
    }
    let mut argv: Vec<Vec<u8>> = Vec::with_capacity(args.command.len() + 1);
    for a in &args.command {
        let a = a.clone().into_encoded_bytes();
        if args.quoted_input {
            // Each argument must be exactly one (possibly quoted) word.
            match cinnabar_cli::split_args(&a) {
                Some(mut words) if words.len() == 1 => argv.push(words.remove(0)),
                _ => {
                    println!("Invalid quoted string");
                    return Ok(1);
                }
            }
        } else {
            argv.push(a);
        }
    }
    if let Some(file) = &args.eval {
        let script = match std::fs::read(file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "Can't open file '{file}': {}",
                    cinnabar_cli::conn::error_reason(&e)
                );
                return Ok(1);
            }
        };
        argv = eval_argv(script, argv);
    }
    if args.stdin_arg {
        argv.push(read_stdin()?);
    } else if let Some(tag) = &args.stdin_tag {
        match argv.iter().position(|a| a == tag.as_bytes()) {
            Some(i) => argv[i] = read_stdin()?,
            None => {
                eprintln!("Using -X option but stdin tag not match.");
                return Ok(1);
            }
        }
    }
    let repeat = s.repeat;
    let mut session = Session::new(s, false);
    session.ensure_connected(true);
    Ok(match session.run(&argv, repeat) {
        Ok(()) => 0,
        Err(_) => 1,
    })
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    io::stdin()
        .read_to_end(&mut data)
        .context("reading stdin")?;
    Ok(data)
}

/// `EVAL script numkeys keys... args...` from `--eval`'s `key1 key2 , arg1 arg2`.
fn eval_argv(script: Vec<u8>, args: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let comma = args.iter().position(|a| a == b",");
    let keys = comma.unwrap_or(args.len());
    let mut argv = vec![b"EVAL".to_vec(), script, keys.to_string().into_bytes()];
    argv.extend(
        args.into_iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != comma)
            .map(|(_, a)| a),
    );
    argv
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::{ContextKind, ErrorKind};
            match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => e.exit(),
                // redis-cli's words for an unknown option or a missing value.
                ErrorKind::UnknownArgument | ErrorKind::InvalidValue => {
                    let arg = e
                        .get(ContextKind::InvalidArg)
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    let arg = arg.split(' ').next().unwrap_or("");
                    eprintln!("Unrecognized option or bad number of args for: '{arg}'");
                }
                _ => eprint!("{e}"),
            }
            return ExitCode::FAILURE;
        }
    };
    match run(&args) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
