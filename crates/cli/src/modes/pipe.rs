//! `--pipe`: send RESP read from stdin as fast as possible while reading the
//! replies, then an ECHO of a random 20-byte marker to know when the last reply
//! has arrived; print the summary redis-cli prints. Exit 1 if any reply was an error.

use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cinnabar_resp::Frame;

use crate::conn::Conn;

/// A random marker: time and process id mixed, no extra crate needed.
fn magic() -> [u8; 20] {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ ((std::process::id() as u64) << 32);
    let mut out = [0u8; 20];
    for b in &mut out {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    out
}

pub fn pipe_mode(conn: Conn, timeout_secs: u64) -> i32 {
    match conn.into_tls() {
        Ok((tls, received)) => pipe_tls(tls, received, timeout_secs),
        Err(conn) => pipe_plain(conn, timeout_secs),
    }
}

/// The ECHO of the marker that follows stdin (the CRLF first: if stdin ended mid-garbage,
/// the ECHO is still well formed).
fn marker_command(magic: &[u8; 20]) -> Vec<u8> {
    let mut echo = b"\r\n*2\r\n$4\r\nECHO\r\n$20\r\n".to_vec();
    echo.extend_from_slice(magic);
    echo.extend_from_slice(b"\r\n");
    echo
}

/// Counts one reply; true for the marker's (the last one).
fn count_reply(frame: Frame, magic: &[u8; 20], errors: &mut u64, replies: &mut u64) -> bool {
    match frame {
        Frame::Error(e) => {
            eprintln!("{e}");
            *errors += 1;
        }
        Frame::Bulk(b) if b.as_ref() == magic => {
            println!("Last reply received from server.");
            return true;
        }
        _ => {}
    }
    *replies += 1;
    false
}

/// `--pipe` over TLS. A TLS session cannot be written by one thread while another reads
/// it, so one thread drives the session over a non-blocking socket: it hands stdin's bytes
/// (read by a helper thread) to the session as it takes them, sends records as the socket
/// takes them, and decrypts and counts replies as they come.
fn pipe_tls(mut tls: crate::tls::TlsStream, received: Vec<u8>, timeout_secs: u64) -> i32 {
    use std::os::fd::AsRawFd;
    use std::sync::mpsc::TryRecvError;
    let fail = |what: &str, e: &dyn std::fmt::Display| -> i32 {
        eprintln!("{what}: {e}");
        1
    };
    if let Err(e) = tls.sock.set_nonblocking(true) {
        return fail("Error", &e);
    }
    let magic = magic();
    // Stdin in chunks; the channel is bounded, so stdin is read only as fast as the
    // session takes it.
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(8);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut buf = vec![0u8; 16 * 1024];
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(buf).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("Error reading from stdin: {e}");
                    std::process::exit(1);
                }
            }
        }
    });
    let (mut out, mut out_pos) = (Vec::<u8>::new(), 0usize);
    let (mut inbuf, mut in_pos) = (received, 0usize);
    let (mut errors, mut replies) = (0u64, 0u64);
    let mut eof = false;
    let mut last_read = Instant::now();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let mut progress = false;
        // stdin's next bytes, while little is waiting for the session.
        while !eof && out.len() - out_pos < 64 * 1024 {
            match rx.try_recv() {
                Ok(data) => out.extend_from_slice(&data),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    eof = true;
                    out.extend_from_slice(&marker_command(&magic));
                    println!("All data transferred. Waiting for the last reply...");
                    let _ = io::stdout().flush();
                    last_read = Instant::now();
                }
            }
        }
        if out_pos < out.len() {
            match tls.conn.writer().write(&out[out_pos..]) {
                Ok(n) => {
                    out_pos += n;
                    progress |= n > 0;
                }
                Err(e) => return fail("Error writing to the server", &e),
            }
            if out_pos == out.len() {
                out.clear();
                out_pos = 0;
            }
        }
        while tls.conn.wants_write() {
            match tls.conn.write_tls(&mut tls.sock) {
                Ok(n) => progress |= n > 0,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    return fail(
                        "Error writing to the server",
                        &crate::conn::error_reason(&e),
                    )
                }
            }
        }
        match tls.conn.read_tls(&mut tls.sock) {
            Ok(0) => {
                eprintln!("Error reading replies from server");
                return 1;
            }
            Ok(_) => {
                progress = true;
                if let Err(e) = tls.conn.process_new_packets() {
                    return fail("Error reading replies from server", &e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                eprintln!("Error reading replies from server");
                return 1;
            }
        }
        loop {
            match tls.conn.reader().read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => inbuf.extend_from_slice(&chunk[..n]),
                Err(_) => break, // WouldBlock: nothing decrypted yet
            }
        }
        loop {
            match Frame::parse(&inbuf[in_pos..]) {
                Ok(Some((frame, n))) => {
                    in_pos += n;
                    last_read = Instant::now();
                    if count_reply(frame, &magic, &mut errors, &mut replies) {
                        println!("errors: {errors}, replies: {replies}");
                        return i32::from(errors > 0);
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    eprintln!("Error reading replies from server");
                    return 1;
                }
            }
        }
        if in_pos > 0 && in_pos * 2 >= inbuf.len() {
            inbuf.drain(..in_pos);
            in_pos = 0;
        }
        if eof && timeout_secs > 0 && last_read.elapsed() > Duration::from_secs(timeout_secs) {
            eprintln!("No replies for {timeout_secs} seconds: exiting.");
            errors += 1;
            println!("errors: {errors}, replies: {replies}");
            return 1;
        }
        if !progress {
            // Wait for the socket (or, every few milliseconds, for stdin's next chunk).
            let mut events = libc::POLLIN;
            if tls.conn.wants_write() {
                events |= libc::POLLOUT;
            }
            let mut pfd = libc::pollfd {
                fd: tls.sock.as_raw_fd(),
                events,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 5) };
        }
    }
}

fn pipe_plain(mut conn: Conn, timeout_secs: u64) -> i32 {
    let mut writer = match conn.writer() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let magic = magic();
    // The writer thread says when stdin is done (the marker was queued).
    let (eof_tx, eof_rx) = mpsc::channel::<()>();
    let writer_thread = std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Err(e) = writer.write_all(&buf[..n]) {
                        eprintln!(
                            "Error writing to the server: {}",
                            crate::conn::error_reason(&e)
                        );
                        std::process::exit(1);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("Error reading from stdin: {e}");
                    std::process::exit(1);
                }
            }
        }
        let echo = marker_command(&magic);
        println!("All data transferred. Waiting for the last reply...");
        let _ = io::stdout().flush();
        let _ = eof_tx.send(());
        if let Err(e) = writer.write_all(&echo) {
            eprintln!(
                "Error writing to the server: {}",
                crate::conn::error_reason(&e)
            );
            std::process::exit(1);
        }
    });
    let (mut errors, mut replies) = (0u64, 0u64);
    let mut eof = false;
    let mut last_read = Instant::now();
    // Short read timeouts so the no-reply timeout can be checked.
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    loop {
        if !eof && eof_rx.try_recv().is_ok() {
            eof = true;
        }
        match conn.read_frame() {
            Ok(frame) => {
                last_read = Instant::now();
                if count_reply(frame, &magic, &mut errors, &mut replies) {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if eof
                    && timeout_secs > 0
                    && last_read.elapsed() > Duration::from_secs(timeout_secs)
                {
                    eprintln!("No replies for {timeout_secs} seconds: exiting.");
                    errors += 1;
                    break;
                }
            }
            Err(_) => {
                eprintln!("Error reading replies from server");
                std::process::exit(1);
            }
        }
    }
    let _ = writer_thread.join();
    println!("errors: {errors}, replies: {replies}");
    i32::from(errors > 0)
}
