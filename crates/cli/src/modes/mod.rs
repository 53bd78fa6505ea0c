//! redis-cli's special modes: `--pipe`, `--scan`, `--bigkeys` / `--memkeys`,
//! `--hotkeys`, `--latency` / `--latency-history` and `--stat`. Each returns the exit status.

pub mod bigkeys;
pub mod hotkeys;
pub mod latency;
pub mod pipe;
pub mod scan;
pub mod stat;

use std::sync::atomic::{AtomicBool, Ordering};

use cinnabar_resp::Frame;

use crate::conn::Conn;

/// Set by Ctrl-C in the modes that stop gracefully (scan, bigkeys): the loop ends
/// and the summary is still printed.
pub static CANCEL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    CANCEL.store(true, Ordering::SeqCst);
}

/// Make Ctrl-C stop the current loop instead of the program.
pub fn cancel_on_sigint() {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}

pub fn cancelled() -> bool {
    CANCEL.load(Ordering::SeqCst)
}

/// One SCAN step with the mode's MATCH and COUNT: the next cursor and the keys.
/// Errors are reported as redis-cli does and end the program.
pub fn scan_step(
    conn: &mut Conn,
    cursor: &[u8],
    pattern: Option<&[u8]>,
    count: Option<u64>,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut cmd: Vec<Vec<u8>> = vec![b"SCAN".to_vec(), cursor.to_vec()];
    if let Some(p) = pattern {
        cmd.push(b"MATCH".to_vec());
        cmd.push(p.to_vec());
    }
    if let Some(c) = count {
        cmd.push(b"COUNT".to_vec());
        cmd.push(c.to_string().into_bytes());
    }
    let reply = match conn.call(&cmd) {
        Ok(r) => r,
        Err(_) => {
            eprintln!("\nI/O error");
            std::process::exit(1);
        }
    };
    match reply {
        Frame::Error(e) => {
            eprintln!("SCAN error: {e}");
            std::process::exit(1);
        }
        Frame::Array(mut parts) if parts.len() == 2 => {
            let keys = match parts.pop() {
                Some(Frame::Array(keys)) => keys
                    .into_iter()
                    .filter_map(|k| match k {
                        Frame::Bulk(b) => Some(b.to_vec()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let cursor = match parts.pop() {
                Some(Frame::Bulk(b)) => b.to_vec(),
                Some(Frame::Simple(s)) => s.into_bytes(),
                _ => b"0".to_vec(),
            };
            (cursor, keys)
        }
        Frame::Array(_) => {
            eprintln!("Invalid element count from SCAN!");
            std::process::exit(1);
        }
        _ => {
            eprintln!("Non ARRAY response from SCAN!");
            std::process::exit(1);
        }
    }
}
