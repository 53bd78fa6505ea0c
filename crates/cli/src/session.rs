//! Running commands as redis-cli's `issueCommandRepeat` does: reconnecting when the
//! link is down, repeating with an interval, following SELECT / MULTI for the
//! prompt, and streaming MONITOR and SUBSCRIBE output until Ctrl-C.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use cinnabar_resp::Frame;

use crate::args::{Settings, Target};
use crate::conn::{connect_setup, Conn};
use crate::format::{format_push, format_reply_delim, wants_raw_output, Output};
use crate::help::HelpTable;

/// The socket being streamed from (MONITOR, SUBSCRIBE), or -1. Ctrl-C shuts it
/// down so the blocked read returns and the REPL goes on; outside streaming,
/// Ctrl-C ends the program with status 1, as redis-cli.
static STREAM_FD: AtomicI32 = AtomicI32::new(-1);
static STREAM_ABORTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    let fd = STREAM_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        STREAM_ABORTED.store(true, Ordering::SeqCst);
        // SAFETY: shutdown(2) is async-signal-safe; fd is a socket we own.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    } else {
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(1) };
    }
}

/// Install the interactive-mode SIGINT handler and ignore SIGPIPE (a write to a
/// dead server must turn into a reconnect, not kill us).
pub fn install_interactive_signals() {
    // SAFETY: installing plain C handlers; the handler only uses async-signal-safe calls.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Redirects followed for one command before the error is shown instead.
const MAX_REDIRECTS: u32 = 16;

/// A cluster redirect: `MOVED 3999 127.0.0.1:6381` or `ASK 3999 127.0.0.1:6381`.
#[derive(Debug, PartialEq)]
pub struct Redirect {
    pub ask: bool,
    pub slot: u32,
    pub host: String,
    pub port: u16,
}

pub fn parse_redirect(err: &str) -> Option<Redirect> {
    let mut words = err.split(' ');
    let ask = match words.next()? {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    let slot = words.next()?.parse().ok()?;
    let (host, port) = words.next()?.rsplit_once(':')?;
    Some(Redirect {
        ask,
        slot,
        host: host.to_string(),
        port: port.parse().ok()?,
    })
}

/// Why a command could not complete.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Could not connect (already reported).
    NotConnected,
    /// The link broke (reported); the connection was dropped.
    Io,
}

pub struct Session {
    pub settings: Settings,
    pub conn: Option<Conn>,
    pub interactive: bool,
    pub in_multi: bool,
    /// The db the connection is in, for the prompt.
    pub db: i64,
    /// Subscribed to channels (redis-cli 7.2's pubsub mode): messages are shown while
    /// waiting for input, and the prompt says so.
    pub pubsub: bool,
    /// The connection speaks RESP3 (pub/sub messages are pushes, not arrays).
    resp3: bool,
    pre_multi_db: i64,
    help: Option<HelpTable>,
}

fn lower(a: &[u8]) -> String {
    String::from_utf8_lossy(a).to_ascii_lowercase()
}

impl Session {
    pub fn new(settings: Settings, interactive: bool) -> Session {
        Session {
            settings,
            conn: None,
            interactive,
            in_multi: false,
            db: 0,
            pubsub: false,
            resp3: false,
            pre_multi_db: 0,
            help: None,
        }
    }

    /// Connect if not connected; `quiet` hides the failure message.
    pub fn ensure_connected(&mut self, quiet: bool) -> bool {
        if self.conn.is_none() {
            // A new connection starts in db `settings.db` (re-selected) and outside MULTI.
            self.in_multi = false;
            self.pubsub = false;
            match connect_setup(&self.settings, quiet) {
                Some(setup) => {
                    // A refused SELECT leaves the connection in db 0 (the prompt says
                    // so); the next connection tries the db again.
                    self.db = setup.db;
                    self.resp3 = setup.resp3;
                    self.conn = Some(setup.conn);
                }
                None => self.conn = None,
            }
        }
        self.conn.is_some()
    }

    pub fn prompt(&self) -> String {
        if self.conn.is_some() {
            self.settings
                .prompt_full(self.db, self.in_multi, self.pubsub)
        } else {
            "not connected> ".into()
        }
    }

    /// The help table, read from the server on first use: COMMAND DOCS, else the
    /// names from COMMAND, else empty.
    pub fn help_table(&mut self) -> &HelpTable {
        // An empty table (the server was down) is read again once connected.
        let stale = self.help.as_ref().is_some_and(|t| t.is_empty()) && self.conn.is_some();
        if self.help.is_none() || stale {
            let mut table = None;
            if self.ensure_connected(true) {
                let c = self.conn.as_mut().expect("connected");
                table = c
                    .call(&["COMMAND", "DOCS"])
                    .ok()
                    .and_then(|r| HelpTable::from_docs(&r));
                if table.is_none() {
                    table = c
                        .call(&["COMMAND"])
                        .ok()
                        .and_then(|r| HelpTable::from_command(&r));
                }
            }
            self.help = Some(table.unwrap_or_default());
        }
        self.help.as_ref().expect("just set")
    }

    /// A copy of the table, for the line editor's helper.
    pub fn help_snapshot(&mut self) -> HelpTable {
        self.help_table().clone()
    }

    fn print(&self, frame: &Frame, raw_strings: bool) {
        let out = format_reply_delim(
            frame,
            self.settings.output,
            raw_strings,
            self.settings.pretty,
            &self.settings.mb_delim,
            &self.settings.cmd_delim,
        );
        let mut stdout = io::stdout().lock();
        let _ = stdout.write_all(&out);
        let _ = stdout.flush();
    }

    /// Run `argv` `repeat` times (negative: forever), as redis-cli does for one-shot
    /// commands and REPL lines. HELP is answered locally.
    pub fn run(&mut self, argv: &[Vec<u8>], repeat: i64) -> Result<(), Failure> {
        let cmd = lower(&argv[0]);
        if cmd == "help" || cmd == "?" {
            let args: Vec<String> = argv[1..]
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let text = self
                .help_table()
                .help_text(&args, env!("CARGO_PKG_VERSION"));
            print!("{text}");
            let _ = io::stdout().flush();
            return Ok(());
        }
        if !self.ensure_connected(false) {
            return Err(Failure::NotConnected);
        }
        let raw_strings = wants_raw_output(argv);
        let is_sub = matches!(cmd.as_str(), "subscribe" | "psubscribe" | "ssubscribe");
        let is_unsub = matches!(
            cmd.as_str(),
            "unsubscribe" | "punsubscribe" | "sunsubscribe"
        );
        let mut left = repeat;
        let mut redirects = 0;
        while left != 0 {
            if left > 0 {
                left -= 1;
            }
            let conn = self.conn.as_mut().expect("connected");
            if let Err(e) = conn.send(argv) {
                return Err(self.io_failure(e));
            }
            if cmd == "monitor" {
                return self.stream(raw_strings);
            }
            // (Un)subscribe commands are confirmed by one push per channel named
            // (at least one).
            let mut expected = if is_sub || is_unsub {
                (argv.len() - 1).max(1)
            } else {
                0
            };
            let frame = loop {
                let conn = self.conn.as_mut().expect("connected");
                let frame = match conn.read_frame() {
                    Ok(f) => f,
                    // A server that shuts down as asked closes the link: not an error.
                    Err(_) if cmd == "shutdown" => {
                        self.conn = None;
                        return Ok(());
                    }
                    Err(e) => return Err(self.io_failure(e)),
                };
                if self.pubsub || expected > 0 {
                    if let Some(kind) = self.pubsub_kind(&frame) {
                        // Messages and confirmations are shown as they come.
                        self.print(&frame, false);
                        if expected > 0 && kind.eq_ignore_ascii_case(&cmd) {
                            if is_sub {
                                self.pubsub = true;
                            }
                            expected -= 1;
                            if expected == 0 {
                                break None;
                            }
                        }
                        continue;
                    }
                }
                if let Frame::Push(_) = frame {
                    // Out-of-band pushes (RESP3 invalidations) are shown apart, on a
                    // terminal, as redis-cli's push handler does.
                    if self.settings.push_output {
                        let out = format_push(&frame, self.settings.output, self.settings.pretty);
                        let mut stdout = io::stdout().lock();
                        let _ = stdout.write_all(&out);
                        let _ = stdout.flush();
                    }
                    continue;
                }
                break Some(frame);
            };
            if let Some(Frame::Error(e)) = &frame {
                if self.settings.cluster {
                    if let Some(redirect) = parse_redirect(e) {
                        redirects += 1;
                        if redirects <= MAX_REDIRECTS {
                            self.follow(redirect)?;
                            if repeat > 0 {
                                left += 1; // the redirected try does not count
                            }
                            continue;
                        }
                    }
                }
            }
            if let Some(frame) = frame {
                let is_err = matches!(frame, Frame::Error(_));
                if is_err && self.settings.errcode && !self.interactive {
                    if let Frame::Error(e) = &frame {
                        eprintln!("{e}");
                    }
                    std::process::exit(1);
                }
                self.print(&frame, raw_strings);
                self.track_state(&cmd, argv, &frame);
            }
            if self.pubsub && !self.interactive {
                // One-shot SUBSCRIBE: show messages until the link ends or Ctrl-C.
                return self.stream(false);
            }
            if self.settings.interval_us > 0 {
                std::thread::sleep(Duration::from_micros(self.settings.interval_us));
            }
        }
        Ok(())
    }

    /// For a pub/sub message or (un)subscribe confirmation, its kind ("message",
    /// "subscribe", ...): a push in RESP3, an array in RESP2, as redis-cli's isPubsubPush.
    fn pubsub_kind(&self, f: &Frame) -> Option<String> {
        let items = match (f, self.resp3) {
            (Frame::Push(items), true) | (Frame::Array(items), false) => items,
            _ => return None,
        };
        match items.first() {
            Some(Frame::Bulk(k)) if items.len() >= 3 => (k.ends_with(b"message")
                || k.ends_with(b"subscribe"))
            .then(|| String::from_utf8_lossy(k).into_owned()),
            _ => None,
        }
    }

    /// Subscribed, in the REPL: show messages until a key is pressed (then the
    /// caller reads a command) or Ctrl-C (which reconnects, leaving subscribed mode),
    /// as redis-cli 7.2's cliWaitForMessagesOrStdin.
    pub fn wait_for_messages_or_stdin(&mut self) {
        use std::io::IsTerminal;
        let show_info = self.settings.output != Output::Raw
            && (io::stdout().is_terminal() || std::env::var_os("FAKETTY").is_some());
        let color = show_info && std::env::var("TERM").is_ok_and(|t| t.contains("xterm"));
        // Any key must wake us up: no line buffering, no echo, while waiting.
        let stdin_fd = libc::STDIN_FILENO;
        // SAFETY: termios calls on stdin with a struct filled by tcgetattr.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        let tty = unsafe { libc::tcgetattr(stdin_fd, &mut saved) } == 0;
        if tty {
            let mut m = saved;
            m.c_lflag &= !(libc::ECHO | libc::ICANON);
            unsafe { libc::tcsetattr(stdin_fd, libc::TCSANOW, &m) };
        }
        STREAM_ABORTED.store(false, Ordering::SeqCst);
        while self.pubsub {
            let Some(conn) = self.conn.as_mut() else {
                break;
            };
            // Replies already buffered first.
            while let Ok(Some(f)) = conn.buffered_frame() {
                let out = format_reply_delim(
                    &f,
                    self.settings.output,
                    false,
                    self.settings.pretty,
                    &self.settings.mb_delim,
                    &self.settings.cmd_delim,
                );
                let mut stdout = io::stdout().lock();
                let _ = stdout.write_all(&out);
                let _ = stdout.flush();
            }
            if show_info {
                let (on, off) = if color {
                    ("\x1b[1;90m", "\x1b[0m")
                } else {
                    ("", "")
                };
                print!("{on}Reading messages... (press Ctrl-C to quit or any key to type command){off}\r");
                let _ = io::stdout().flush();
            }
            let fd = conn.raw_fd();
            STREAM_FD.store(fd, Ordering::SeqCst);
            let mut fds = [
                libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: stdin_fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfd entries.
            unsafe { libc::poll(fds.as_mut_ptr(), 2, 5000) };
            STREAM_FD.store(-1, Ordering::SeqCst);
            if show_info {
                print!("\x1b[K");
                let _ = io::stdout().flush();
            }
            if STREAM_ABORTED.swap(false, Ordering::SeqCst) {
                // Ctrl-C: leave subscribed mode on a fresh connection.
                self.conn = None;
                self.ensure_connected(false);
                break;
            }
            if fds[0].revents != 0 {
                let conn = self.conn.as_mut().expect("connected");
                match conn.read_frame() {
                    Ok(f) => self.print(&f, false),
                    Err(e) => {
                        let _ = self.io_failure(e);
                        break;
                    }
                }
            } else if fds[1].revents != 0 {
                break; // a key: the caller reads the command line
            }
        }
        if tty {
            // SAFETY: restoring the settings read above.
            unsafe { libc::tcsetattr(stdin_fd, libc::TCSANOW, &saved) };
        }
    }

    /// Move to the node a cluster redirect names (`-c`), as redis-cli: say so in the
    /// REPL, connect there, and send ASKING first for an ASK redirect.
    fn follow(&mut self, r: Redirect) -> Result<(), Failure> {
        if self.interactive {
            println!(
                "-> Redirected to slot [{}] located at {}:{}",
                r.slot, r.host, r.port
            );
        }
        self.settings.target = Target::Tcp {
            host: r.host,
            port: r.port,
        };
        self.conn = None;
        if !self.ensure_connected(false) {
            return Err(Failure::NotConnected);
        }
        if r.ask {
            let conn = self.conn.as_mut().expect("connected");
            match conn.call(&["ASKING"]) {
                Ok(Frame::Error(e)) => {
                    eprintln!("ASKING failed: {e}");
                    return Err(Failure::NotConnected);
                }
                Ok(_) => {}
                Err(e) => return Err(self.io_failure(e)),
            }
        }
        Ok(())
    }

    /// Follow the commands that change what the prompt shows.
    fn track_state(&mut self, cmd: &str, argv: &[Vec<u8>], frame: &Frame) {
        let ok = !matches!(frame, Frame::Error(_));
        match (cmd, argv.len()) {
            ("select", 2) if ok => {
                if let Ok(db) = String::from_utf8_lossy(&argv[1]).parse() {
                    self.settings.db = db;
                }
            }
            ("multi", 1) if ok => {
                self.in_multi = true;
                self.pre_multi_db = self.settings.db;
            }
            ("exec", 1) if self.in_multi => {
                self.in_multi = false;
                if matches!(frame, Frame::Error(_) | Frame::Null) {
                    self.settings.db = self.pre_multi_db;
                }
            }
            ("discard", 1) if ok => {
                self.in_multi = false;
                self.settings.db = self.pre_multi_db;
            }
            ("reset", 1) if ok => {
                self.in_multi = false;
                self.pubsub = false;
                self.resp3 = false;
                self.settings.db = 0;
                self.settings.resp3 = 0;
            }
            ("hello", _) => match frame {
                Frame::Map(_) => self.resp3 = true,
                Frame::Array(_) => self.resp3 = false,
                _ => {}
            },
            _ => {}
        }
        if cmd == "exec" || (ok && matches!(cmd, "select" | "discard" | "reset")) {
            self.db = self.settings.db;
        }
    }

    /// Report a broken link as redis-cli does and drop the connection. Outside the
    /// REPL that ends the program.
    fn io_failure(&mut self, e: io::Error) -> Failure {
        eprintln!("Error: {}", crate::conn::error_reason(&e));
        self.conn = None;
        if !self.interactive {
            std::process::exit(1);
        }
        Failure::Io
    }

    /// Print replies as they come (MONITOR, SUBSCRIBE) until an error reply, the
    /// server closing, or Ctrl-C (which reconnects, as redis-cli).
    fn stream(&mut self, raw_strings: bool) -> Result<(), Failure> {
        let conn = self.conn.as_mut().expect("connected");
        let fd = conn.raw_fd();
        STREAM_ABORTED.store(false, Ordering::SeqCst);
        STREAM_FD.store(fd, Ordering::SeqCst);
        let result = loop {
            match conn.read_frame() {
                Ok(frame) => {
                    let is_err = matches!(frame, Frame::Error(_));
                    let out = format_reply_delim(
                        &frame,
                        self.settings.output,
                        raw_strings,
                        self.settings.pretty,
                        &self.settings.mb_delim,
                        &self.settings.cmd_delim,
                    );
                    let mut stdout = io::stdout().lock();
                    let _ = stdout.write_all(&out);
                    let _ = stdout.flush();
                    if is_err {
                        break Ok(());
                    }
                }
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        && !STREAM_ABORTED.load(Ordering::SeqCst) => {}
                Err(e) => break Err(e),
            }
        };
        STREAM_FD.store(-1, Ordering::SeqCst);
        match result {
            Ok(()) => Ok(()),
            Err(_) if STREAM_ABORTED.swap(false, Ordering::SeqCst) => {
                self.conn = None;
                self.ensure_connected(false);
                Ok(())
            }
            Err(e) => Err(self.io_failure(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects() {
        assert_eq!(
            parse_redirect("MOVED 3999 127.0.0.1:6381"),
            Some(Redirect {
                ask: false,
                slot: 3999,
                host: "127.0.0.1".into(),
                port: 6381
            })
        );
        assert_eq!(
            parse_redirect("ASK 1 ::1:7000").map(|r| (r.ask, r.host)),
            Some((true, "::1".into()))
        );
        assert_eq!(parse_redirect("ERR MOVED"), None);
        assert_eq!(parse_redirect("MOVED x h:1"), None);
    }
}
