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

pub fn pipe_mode(mut conn: Conn, timeout_secs: u64) -> i32 {
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
        // The CRLF first: if stdin ended mid-garbage, the ECHO is still well formed.
        let mut echo = b"\r\n*2\r\n$4\r\nECHO\r\n$20\r\n".to_vec();
        echo.extend_from_slice(&magic);
        echo.extend_from_slice(b"\r\n");
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
                replies += 1;
                match frame {
                    Frame::Error(e) => {
                        eprintln!("{e}");
                        errors += 1;
                    }
                    Frame::Bulk(b) if b.as_ref() == magic => {
                        println!("Last reply received from server.");
                        replies -= 1;
                        break;
                    }
                    _ => {}
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
