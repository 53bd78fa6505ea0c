//! Serving the clients of a worker thread that is stuck in a slow script.
//!
//! A script runs on the worker thread of the client that sent it, and that thread serves no
//! other connection until the script ends. Clients on other workers get `-BUSY` from
//! dispatch. For the clients of the stuck worker (all of them, with one worker thread) Redis
//! keeps answering from inside the script; here a dedicated thread does it: once a script has
//! run past `busy-reply-threshold`, the busy responder polls the stuck worker's idle
//! connections (and, when the stuck worker runs the acceptor, the listening sockets), answers
//! SCRIPT KILL, FUNCTION KILL, FUNCTION STATS, HELLO, MULTI/EXEC and SHUTDOWN NOSAVE, and
//! `-BUSY` to everything else, except the commands Redis allows that need the connection's
//! own state (AUTH, QUIT, RESET, WATCH...): those are left, with what follows them, for the
//! connection to run when the script ends.
//!
//! A TLS client is read and answered through its session, which its connection publishes
//! while it waits for bytes (`net::stream::read_tls_parked`): records are decrypted and
//! replies encrypted with the session's keys, exactly as the connection would, so the session
//! goes on when it is handed back. TLS sockets accepted while worker 0 is stuck wait for the
//! script to end (their handshake runs on a worker).
//!
//! Only connections parked in a read with nothing buffered are touched, so replies never
//! interleave with a half-written one and no half-parsed command is split. Bytes left over
//! (the start of a command not complete yet) go back to the connection's stash, which it
//! reads before its next bytes; sockets accepted meanwhile are handed to a worker afterwards.
//! The script's thread waits, when the script ends, until the responder has let go of every
//! socket, so the two never read the same socket at once.

use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cinnabar_resp::{parse_command, Argv, Limits};
use parking_lot::{Condvar, Mutex};

use crate::net::stream::ParkedTls;
use crate::server::{ClientShared, Server};

/// How long one poll of the stuck worker's sockets waits; also the most a slow script's end
/// is delayed by the hand-back.
const POLL_MS: i32 = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Idle,
    /// A script running on `worker` for client `caller` is past the threshold.
    Busy {
        worker: usize,
        caller: u64,
    },
    /// The script ended: the responder hands everything back, then goes Idle.
    Ending,
}

pub struct BusyResponder {
    state: Mutex<State>,
    changed: Condvar,
}

impl Default for BusyResponder {
    fn default() -> Self {
        BusyResponder {
            state: Mutex::new(State::Idle),
            changed: Condvar::new(),
        }
    }
}

impl BusyResponder {
    /// Called by the script's thread when its script becomes busy.
    pub fn start(&self, worker: usize, caller: u64) {
        let mut s = self.state.lock();
        *s = State::Busy { worker, caller };
        self.changed.notify_all();
    }

    /// Called by the script's thread when a busy script ends: returns once the responder has
    /// handed every socket back.
    pub fn finish(&self) {
        let mut s = self.state.lock();
        if !matches!(*s, State::Busy { .. }) {
            return;
        }
        *s = State::Ending;
        self.changed.notify_all();
        while *s != State::Idle {
            self.changed.wait(&mut s);
        }
    }
}

/// What the responder did to a connection's transaction, handed back in
/// `ClientShared::multi_handback`.
pub const MULTI_STARTED: u8 = 1;
pub const MULTI_FAILED: u8 = 2;
pub const MULTI_DISCARDED: u8 = 3;

/// A socket the responder is watching.
struct Watched {
    fd: RawFd,
    /// Accepted on the unix socket.
    unix: bool,
    /// A TLS connection's session (its socket carries records).
    tls: Option<ParkedTls>,
    /// None for a socket the responder accepted itself.
    client: Option<Arc<ClientShared>>,
    stash: Vec<u8>,
    /// Left to its connection: at end of file, on an error, or at a command that waits for
    /// the script's end (see `waits_for_the_script`). Not read again.
    released: bool,
    /// The connection's transaction as the responder sees it: None outside MULTI, else
    /// whether a command was rejected while queueing.
    multi: Option<bool>,
    /// What to hand back (one of the MULTI_* codes, 0 for nothing).
    handback: u8,
    /// The connection may run commands (AUTH is not handled here).
    authenticated: bool,
}

/// Starts the responder thread. It sleeps until a script becomes busy.
pub fn spawn(server: Arc<Server>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("cinnabar-busy".into())
        .spawn(move || run(&server))
}

fn run(server: &Server) {
    let responder = &server.scripts.responder;
    loop {
        let (worker, caller) = {
            let mut s = responder.state.lock();
            loop {
                if server.is_shutting_down() {
                    return;
                }
                match *s {
                    State::Busy { worker, caller } => break (worker, caller),
                    State::Ending => {
                        *s = State::Idle;
                        responder.changed.notify_all();
                    }
                    State::Idle => {
                        responder
                            .changed
                            .wait_for(&mut s, Duration::from_millis(500));
                    }
                }
            }
        };
        serve_while_busy(server, worker, caller);
        let mut s = responder.state.lock();
        *s = State::Idle;
        responder.changed.notify_all();
    }
}

/// Adds to `watched` the clients of `worker` (but the script's caller) that wait for bytes
/// with nothing buffered and are not watched yet.
fn watch_parked(server: &Server, worker: usize, caller: u64, watched: &mut Vec<Watched>) {
    let known: std::collections::HashSet<u64> = watched
        .iter()
        .filter_map(|w| w.client.as_ref().map(|c| c.id))
        .collect();
    let clients = server.clients.lock();
    let fresh = clients.values().filter(|c| {
        c.worker == worker
            && c.id != caller
            && c.fd >= 0
            && (!c.tls || !c.tls_parked.load(Ordering::Acquire).is_null())
            && c.parked.load(Ordering::Acquire)
            && c.qbuf.load(Ordering::Relaxed) == 0
            && !known.contains(&c.id)
    });
    let fresh: Vec<Watched> = fresh
        .map(|c| Watched {
            fd: c.fd,
            unix: c.unix,
            tls: c
                .tls
                .then(|| ParkedTls::new(c.tls_parked.load(Ordering::Acquire))),
            client: Some(c.clone()),
            stash: Vec::new(),
            released: false,
            multi: c.in_multi.load(Ordering::Relaxed).then_some(false),
            handback: 0,
            authenticated: c.authenticated.load(Ordering::Relaxed),
        })
        .collect();
    watched.extend(fresh);
}

fn serve_while_busy(server: &Server, worker: usize, caller: u64) {
    let mut watched = Vec::new();
    watch_parked(server, worker, caller, &mut watched);
    // The acceptor runs on worker 0: accept new clients too while it is stuck (TCP and the
    // unix socket; TLS ones wait for their worker).
    let (listeners, unix_listener): (Vec<RawFd>, Option<RawFd>) = if worker == 0 {
        let unix = server.unix_acceptor.lock().as_ref().map(|a| a.fd());
        let mut fds = server.listener_fds.lock().clone();
        fds.extend(unix);
        (fds, unix)
    } else {
        (Vec::new(), None)
    };
    let mut argv = Argv::new();
    loop {
        if *server.scripts.responder.state.lock() != (State::Busy { worker, caller }) {
            break;
        }
        if worker != 0 {
            // The acceptor (on worker 0) goes on admitting clients to the stuck worker; they
            // are registered parked, and nobody else reads them until the script ends.
            watch_parked(server, worker, caller, &mut watched);
        }
        let mut pfds: Vec<libc::pollfd> = listeners
            .iter()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .chain(
                watched
                    .iter()
                    .filter(|w| !w.released)
                    .map(|w| libc::pollfd {
                        fd: w.fd,
                        events: libc::POLLIN,
                        revents: 0,
                    }),
            )
            .collect();
        // SAFETY: pfds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, POLL_MS) };
        if n <= 0 {
            continue;
        }
        for p in &pfds {
            if p.revents == 0 {
                continue;
            }
            if listeners.contains(&p.fd) {
                // SAFETY: accepting on a listening socket we own the number of.
                let fd = unsafe {
                    libc::accept4(
                        p.fd,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    )
                };
                if fd >= 0 {
                    watched.push(Watched {
                        fd,
                        unix: unix_listener == Some(p.fd),
                        tls: None,
                        client: None,
                        stash: Vec::new(),
                        released: false,
                        multi: None,
                        handback: 0,
                        authenticated: !server.config.live.has_password.load(Ordering::Relaxed),
                    });
                }
                continue;
            }
            let Some(w) = watched.iter_mut().find(|w| w.fd == p.fd && !w.released) else {
                continue;
            };
            if w.tls.is_some() {
                let open = read_tls(w);
                if !w.stash.is_empty() && !w.released {
                    answer(server, w, &mut argv);
                }
                // End of the session or an error: left for the connection to see.
                w.released |= !open;
                continue;
            }
            let mut buf = [0u8; 16 * 1024];
            // SAFETY: reading into a local buffer from a socket that stays open: its owner
            // is parked and closes it only after leaving the clients registry, which it
            // cannot do while its worker is stuck in the script.
            let got = unsafe {
                libc::recv(
                    w.fd,
                    buf.as_mut_ptr() as *mut _,
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if got <= 0 {
                // End of file or an error: leave it for the connection to see.
                w.released = true;
                continue;
            }
            w.stash.extend_from_slice(&buf[..got as usize]);
            answer(server, w, &mut argv);
        }
    }
    // Hand everything back.
    for w in watched {
        match w.client {
            Some(c) => {
                if !w.stash.is_empty() || w.handback != 0 {
                    c.stash.lock().extend_from_slice(&w.stash);
                    c.multi_handback.store(w.handback, Ordering::Release);
                    c.has_stash.store(true, Ordering::Release);
                }
            }
            None => hand_over_accepted(server, w.fd, w.unix, w.stash, w.handback),
        }
    }
}

/// Answers every complete command in the socket's stash.
fn answer(server: &Server, w: &mut Watched, argv: &mut Argv) {
    let mut pos = 0;
    let mut out: Vec<u8> = Vec::new();
    let limits = Limits::default();
    let mut stash = std::mem::take(&mut w.stash);
    while pos < stash.len() {
        match parse_command(&stash[pos..], &limits, argv) {
            Ok(Some(n)) => {
                let frame = &stash[pos..pos + n];
                if argv.is_empty() {
                    pos += n;
                    continue;
                }
                let args: Vec<&[u8]> = argv.iter(frame).collect();
                let resp3 = w
                    .client
                    .as_ref()
                    .is_some_and(|c| c.resp.load(Ordering::Relaxed) == 3);
                if waits_for_the_script(w, &args, resp3) {
                    // This command and all after it are the connection's, once it is back.
                    w.released = true;
                    break;
                }
                pos += n;
                reply_busy(server, w, &args, resp3, &mut out);
            }
            Ok(None) => break,
            Err(e) => {
                out.extend_from_slice(format!("-ERR Protocol error: {e}\r\n").as_bytes());
                pos = stash.len();
            }
        }
    }
    stash.drain(..pos);
    w.stash = stash;
    if out.is_empty() {
        return;
    }
    if let Some(tls) = &w.tls {
        // SAFETY: the session is published and its worker is stuck (see `read_tls`).
        let session = unsafe { tls.session() };
        if session.writer().write_all(&out).is_ok() {
            flush_tls(session, w.fd);
        }
    } else {
        // SAFETY: sending from a local buffer on an open socket (see above).
        unsafe {
            libc::send(
                w.fd,
                out.as_ptr() as *const _,
                out.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
    }
}

/// The socket of a watched connection, read and written without waiting.
struct Fd(RawFd);

impl Read for Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: reading into a caller's buffer from an open socket (see `serve_while_busy`).
        let n = unsafe {
            libc::recv(
                self.0,
                buf.as_mut_ptr() as *mut _,
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Write for Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: sending a caller's buffer on an open socket (see `serve_while_busy`).
        let n = unsafe {
            libc::send(
                self.0,
                buf.as_ptr() as *const _,
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a TLS client's records into its stash, decrypted. False when the session ended
/// (close_notify, end of file, an error: the connection sees it when handed back).
fn read_tls(w: &mut Watched) -> bool {
    let Some(tls) = &w.tls else {
        return false;
    };
    // SAFETY: the connection published its session before waiting for bytes and cannot
    // withdraw it while its worker is stuck in the script; the script's thread waits for the
    // responder to let go of every connection before it goes on.
    let session = unsafe { tls.session() };
    match session.read_tls(&mut Fd(w.fd)) {
        Ok(0) => return false,
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
        Err(_) => return false,
    }
    if session.process_new_packets().is_err() {
        // The alert rustls queued goes out, as the connection would send it.
        flush_tls(session, w.fd);
        return false;
    }
    // Whatever the session has to say (a key update's answer) goes out now.
    flush_tls(session, w.fd);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match session.reader().read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => w.stash.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Sends a TLS session's pending records, waiting up to a second for a full socket (the
/// replies here are a few bytes; what is left goes out with the connection's next write).
fn flush_tls(session: &mut rustls::ServerConnection, fd: RawFd) {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while session.wants_write() {
        match session.write_tls(&mut Fd(fd)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() >= deadline {
                    return;
                }
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut p, 1, POLL_MS) };
            }
            Err(_) => return,
        }
    }
}

/// HELLO while a script is busy (Redis allows it), one that keeps the protocol and does not
/// authenticate (others wait for the script, see `waits_for_the_script`): SETNAME applies at
/// once.
fn hello_while_busy(server: &Server, w: &Watched, args: &[&[u8]], resp3: bool, out: &mut Vec<u8>) {
    let name = args.get(3).copied();
    if let Some(name) = name {
        if !crate::server::valid_client_name(name) {
            out.extend_from_slice(
                b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
            );
            return;
        }
        if let Some(c) = &w.client {
            *c.name.lock() = name.to_vec();
        }
    }
    let mut reply = cinnabar_resp::ReplyBuf::new(if resp3 {
        cinnabar_resp::Protocol::Resp3
    } else {
        cinnabar_resp::Protocol::Resp2
    });
    let id = w.client.as_ref().map_or(0, |c| c.id);
    crate::info::hello_map(server, &mut reply, id);
    out.extend_from_slice(&reply.buf);
}

/// Whether a command Redis runs during a busy script (its `allow-busy` flag) needs the
/// connection's own state, which the stuck worker owns: AUTH, a HELLO that authenticates or
/// switches protocols, QUIT, RESET, DISCARD, WATCH, UNWATCH, REPLCONF. Such a command, and
/// everything the client sent after it, is left to the connection, which runs it when the
/// script ends: the reply comes later than Redis's, and the command takes effect after the
/// script's writes, which is an order Redis could also have produced.
fn waits_for_the_script(w: &Watched, args: &[&[u8]], resp3: bool) -> bool {
    let name = args[0];
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if is("hello") {
        return !w.authenticated || hello_switches(args, resp3);
    }
    // Only these may run before authenticating (the others get -NOAUTH here).
    if is("auth") || is("quit") || is("reset") {
        return true;
    }
    w.authenticated && (is("discard") || is("watch") || is("unwatch") || is("replconf"))
}

/// Whether a HELLO asks for more than the responder can do (report, keep the protocol, set a
/// name): a protocol switch or AUTH.
fn hello_switches(args: &[&[u8]], resp3: bool) -> bool {
    let current = if resp3 { 3 } else { 2 };
    let proto_ok = args.len() < 2 || cinnabar_engine::num::parse_i64(args[1]) == Some(current);
    let simple = match &args[2.min(args.len())..] {
        [] => true,
        [opt, _] => opt.eq_ignore_ascii_case(b"setname"),
        _ => false,
    };
    !(proto_ok && simple)
}

/// The reply to one command while a script is busy. Besides the kill commands, MULTI and EXEC
/// behave as in Redis: MULTI is allowed, a command queued meanwhile is rejected with -BUSY and
/// fails the transaction, and EXEC aborts it.
fn reply_busy(server: &Server, w: &mut Watched, args: &[&[u8]], resp3: bool, out: &mut Vec<u8>) {
    let is = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    let scripts = &server.scripts;
    if !w.authenticated {
        out.extend_from_slice(b"-NOAUTH Authentication required.\r\n");
        return;
    }
    // A script replayed from the AOF: the server is loading, and says so first (Redis's
    // processCommand checks loading before a busy script).
    if server.persist.is_loading()
        && server
            .registry
            .resolve(args)
            .is_ok_and(|e| e.def.flags & cinnabar_commands::flags::LOADING == 0)
    {
        out.extend_from_slice(b"-LOADING Redis is loading the dataset in memory\r\n");
        return;
    }
    if args.len() == 1 && is(0, "multi") {
        if w.multi.is_some() {
            out.extend_from_slice(b"-ERR MULTI calls can not be nested\r\n");
        } else {
            w.multi = Some(false);
            w.handback = MULTI_STARTED;
            out.extend_from_slice(b"+OK\r\n");
        }
        return;
    }
    if w.multi.is_some() && args.len() == 1 && is(0, "exec") {
        w.multi = None;
        w.handback = MULTI_DISCARDED;
        out.extend_from_slice(b"-EXECABORT Transaction discarded because of: ");
        out.extend_from_slice(scripts.busy_error().as_bytes());
        out.extend_from_slice(b"\r\n");
        return;
    }
    if is(0, "hello") {
        hello_while_busy(server, w, args, resp3, out);
        return;
    }
    let result = if args.len() == 2 && is(0, "script") && is(1, "kill") {
        scripts.kill(true)
    } else if args.len() == 2 && is(0, "function") && is(1, "kill") {
        scripts.kill(false)
    } else if args.len() == 2 && is(0, "function") && is(1, "stats") {
        let mut reply = cinnabar_resp::ReplyBuf::new(if resp3 {
            cinnabar_resp::Protocol::Resp3
        } else {
            cinnabar_resp::Protocol::Resp2
        });
        crate::scripting::write_function_stats(server, &mut reply);
        out.extend_from_slice(&reply.buf);
        return;
    } else if is(0, "shutdown") && args.iter().any(|a| a.eq_ignore_ascii_case(b"nosave")) {
        tracing::warn!("SHUTDOWN NOSAVE while a script is busy: exiting now.");
        crate::net::stop_listening(server);
        crate::net::remove_unix_socket(server);
        std::process::exit(0);
    } else {
        if let Some(failed) = w.multi.as_mut() {
            *failed = true;
            w.handback = MULTI_FAILED;
        }
        Err(scripts.busy_error())
    };
    match result {
        Ok(()) => out.extend_from_slice(b"+OK\r\n"),
        Err(e) => {
            out.push(b'-');
            out.extend_from_slice(e.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Gives a socket the responder accepted to a worker, with the bytes it already read.
fn hand_over_accepted(server: &Server, fd: RawFd, unix: bool, stash: Vec<u8>, handback: u8) {
    let Some(handles) = server.worker_handles.get() else {
        // SAFETY: we own this descriptor (accepted above) and nobody else knows it.
        unsafe { libc::close(fd) };
        return;
    };
    let w = (fd as usize) % handles.len();
    let Some(srv) = server.self_ref.get().and_then(|w| w.upgrade()) else {
        // SAFETY: as above.
        unsafe { libc::close(fd) };
        return;
    };
    let stats = srv.workers[w].clone();
    if unix {
        // SAFETY: as above; ownership moves into the UnixStream.
        let stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
        handles[w].spawn(async move {
            if let Ok(stream) = tokio::net::UnixStream::from_std(stream) {
                crate::net::conn::serve_with(srv, stream, stats, w, stash, handback).await;
            }
        });
        return;
    }
    // SAFETY: as above; ownership moves into the TcpStream.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    handles[w].spawn(async move {
        if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
            crate::net::conn::serve_with(srv, stream, stats, w, stash, handback).await;
        }
    });
}
