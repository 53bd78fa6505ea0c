//! Lua scripting (Redis's eval.c, script.c, script_lua.c, functions.c): the script cache, the
//! per-thread Lua interpreters, and running a script or function against the keyspace.
//!
//! # Isolation
//! A script is atomic and isolated like MULTI/EXEC. Scripts run one at a time (the
//! `Scripts::run` mutex, taken by dispatch before any shard lock, as Redis runs them on its
//! one thread), but a script locks only the shards of the keys it touches: other clients keep
//! working on other keys, on every core, while it runs. The declared keys' shards are locked
//! before the script starts; a key the script did not declare is locked the first time a
//! command names it, and held until the script ends (`Locked::extend`), so nobody sees a
//! partial script even when it touches undeclared keys. A keyspace-wide command inside a
//! script (KEYS, SCAN, FLUSHALL, INFO ...) locks every shard.
//!
//! # Interpreters
//! Each worker thread has its own Lua 5.1 state, created on first use and rebuilt when the
//! script cache is flushed or the function libraries change (a generation counter). Script
//! bodies live in one server-wide cache keyed by SHA1, so EVALSHA works on any connection;
//! a thread compiles a body the first time it runs it, never again.

pub mod busy;
mod convert;
pub mod functions;
mod lua;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use lua::{check_compiles, run_function, run_script, RunKind};

/// Shebang flags of a script (`#!lua flags=no-writes,allow-oom`) or a function.
pub mod script_flags {
    pub const NO_WRITES: u32 = 1 << 0;
    pub const ALLOW_OOM: u32 = 1 << 1;
    pub const ALLOW_STALE: u32 = 1 << 2;
    pub const NO_CLUSTER: u32 = 1 << 3;
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
    /// No shebang: an EVAL script in Redis 6 compatibility mode.
    pub const EVAL_COMPAT: u32 = 1 << 5;

    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    /// Parses a comma-separated flag list; the error names the first unknown flag.
    pub fn parse_list(list: &str) -> Result<u32, String> {
        let mut flags = 0;
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match NAMES.iter().find(|(_, n)| *n == f) {
                Some((bit, _)) => flags |= bit,
                None => return Err(f.to_string()),
            }
        }
        Ok(flags)
    }
}

/// A script in the cache: its body as sent and its shebang flags.
pub struct Script {
    pub body: Box<[u8]>,
    pub flags: u32,
}

/// What is running now, for SCRIPT KILL / FUNCTION KILL and the BUSY error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Running {
    None = 0,
    Eval = 1,
    Function = 2,
}

/// The script that made the server busy, for FUNCTION STATS.
pub struct BusyInfo {
    pub name: String,
    pub command: Vec<Vec<u8>>,
    pub started: std::time::Instant,
}

/// Server-wide scripting state.
pub struct Scripts {
    /// Serialises script runs; taken before any shard lock (see the module comment).
    pub run: Mutex<()>,
    cache: RwLock<HashMap<[u8; 40], Arc<Script>, foldhash::fast::RandomState>>,
    /// Bumped when the cache is flushed or libraries change: thread interpreters older than
    /// this are rebuilt before their next run.
    generation: AtomicU64,
    /// Set while a script has run longer than `busy-reply-threshold`: other clients get -BUSY.
    pub busy: AtomicBool,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS 1: scripts may call `noscript` commands (Redis's test
    /// knob, e.g. for DEBUG PROTOCOL inside a script).
    pub allow_noscript: AtomicBool,
    /// SCRIPT KILL / FUNCTION KILL asked the running script to stop.
    kill: AtomicBool,
    running: AtomicU8,
    /// The running script has written: it can no longer be killed.
    dirty: AtomicBool,
    pub functions: RwLock<functions::Libraries>,
    /// Answers the clients of a worker stuck in a busy script.
    pub responder: busy::BusyResponder,
    /// Set while a script is busy.
    pub busy_info: Mutex<Option<BusyInfo>>,
}

static SERVERS: AtomicU64 = AtomicU64::new(1 << 32);

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            run: Mutex::new(()),
            cache: RwLock::new(HashMap::default()),
            // Unique per server in the process, so that a thread's interpreter built for one
            // server (tests run several in one process) is never taken for another's.
            generation: AtomicU64::new(SERVERS.fetch_add(1 << 32, Ordering::Relaxed)),
            busy: AtomicBool::new(false),
            allow_noscript: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            running: AtomicU8::new(Running::None as u8),
            dirty: AtomicBool::new(false),
            functions: RwLock::new(functions::Libraries::default()),
            responder: Default::default(),
            busy_info: Mutex::new(None),
        }
    }
}

/// The lower-case hex SHA1 of `body`, as Redis names scripts.
pub fn sha1_hex(body: &[u8]) -> [u8; 40] {
    let digest = sha1_smol::Sha1::from(body).digest().bytes();
    let mut out = [0u8; 40];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}

/// Reads the `#!lua flags=...` line of a script. Returns the flags (EVAL_COMPAT when there
/// is no shebang) and the length of the shebang line (its newline is kept, so line numbers
/// in error messages stay right).
pub fn parse_shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((script_flags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for p in parts {
        match p.strip_prefix("flags=") {
            Some(list) => {
                flags |= script_flags::parse_list(list)
                    .map_err(|f| format!("Unexpected flag in script shebang: {f}"))?
            }
            None => return Err(format!("Unknown lua shebang option: {p}")),
        }
    }
    Ok((flags, end))
}

/// Redis's scriptFlagsToCmdFlags: a script that declared flags replaces the command's
/// write / deny-oom / stale flags by what its own flags imply (`no-writes` implies
/// `allow-oom`), and drops may-replicate.
pub fn script_to_command_flags(cmd_flags: u64, script: u32) -> u64 {
    use cinnabar_commands::flags as f;
    let mut out = cmd_flags & !(f::STALE | f::DENYOOM | f::WRITE | f::MAY_REPLICATE);
    if script & (script_flags::ALLOW_OOM | script_flags::NO_WRITES) == 0 {
        out |= f::DENYOOM;
    }
    if script & script_flags::NO_WRITES == 0 {
        out |= f::WRITE;
    }
    if script & script_flags::ALLOW_STALE != 0 {
        out |= f::STALE;
    }
    out
}

/// The flags Redis's processCommand checks for a command (getCommandFlags): the table's,
/// except for EVAL/EVALSHA/FCALL (and their _RO forms) of a script that declared flags,
/// whose own flags decide (see [`script_to_command_flags`]). A script not found keeps the
/// command's flags (its run will fail anyway).
pub fn command_flags(
    server: &crate::server::Server,
    def: &cinnabar_commands::CommandDef,
    args: &[&[u8]],
) -> u64 {
    let Some(arg) = args.get(1) else {
        return def.flags;
    };
    let script = match def.name {
        "eval" | "eval_ro" => match server.scripts.get(&sha1_hex(arg)) {
            Some(s) => s.flags,
            None => match parse_shebang(arg) {
                Ok((flags, _)) => flags,
                Err(_) => return def.flags,
            },
        },
        "evalsha" | "evalsha_ro" => {
            let Ok(mut sha) = <[u8; 40]>::try_from(*arg) else {
                return def.flags;
            };
            sha.make_ascii_lowercase();
            match server.scripts.get(&sha) {
                Some(s) => s.flags,
                None => return def.flags,
            }
        }
        "fcall" | "fcall_ro" => match server.scripts.functions.read().function(arg) {
            Some(flags) => flags,
            None => return def.flags,
        },
        _ => return def.flags,
    };
    if script & script_flags::EVAL_COMPAT != 0 {
        return def.flags;
    }
    script_to_command_flags(def.flags, script)
}

impl Scripts {
    /// The cached script with this SHA1 (lower-case hex).
    pub fn get(&self, sha: &[u8; 40]) -> Option<Arc<Script>> {
        self.cache.read().get(sha).cloned()
    }

    /// Adds a script whose shebang was already validated; returns its SHA1.
    pub fn insert(&self, sha: [u8; 40], body: &[u8], flags: u32) -> Arc<Script> {
        self.cache
            .write()
            .entry(sha)
            .or_insert_with(|| {
                Arc::new(Script {
                    body: body.into(),
                    flags,
                })
            })
            .clone()
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        let Ok(sha) = <[u8; 40]>::try_from(sha) else {
            return false;
        };
        self.cache
            .read()
            .contains_key(&sha.map(|b| b.to_ascii_lowercase()))
    }

    /// SCRIPT FLUSH: forgets every script; thread interpreters are rebuilt on next use.
    pub fn flush(&self) {
        self.cache.write().clear();
        self.bump_generation();
    }

    pub fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.cache.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory used by cached script bodies (INFO used_memory_scripts_eval).
    pub fn memory(&self) -> usize {
        self.cache
            .read()
            .values()
            .map(|s| s.body.len() + 40 + 64)
            .sum()
    }

    pub fn running(&self) -> Running {
        match self.running.load(Ordering::Acquire) {
            1 => Running::Eval,
            2 => Running::Function,
            _ => Running::None,
        }
    }

    /// SCRIPT KILL (`eval` true) or FUNCTION KILL: Redis's scriptKill.
    pub fn kill(&self, eval: bool) -> Result<(), &'static str> {
        let running = self.running();
        if running == Running::None || !self.busy.load(Ordering::Acquire) {
            return Err("NOTBUSY No scripts in execution right now.");
        }
        if self.dirty.load(Ordering::Acquire) {
            return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        }
        if eval && running == Running::Function {
            return Err(BUSY_FUNCTION);
        }
        if !eval && running == Running::Eval {
            return Err(BUSY_SCRIPT);
        }
        self.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// The -BUSY error for the script running now.
    pub fn busy_error(&self) -> &'static str {
        if self.running() == Running::Function {
            BUSY_FUNCTION
        } else {
            BUSY_SCRIPT
        }
    }
}

pub const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// FUNCTION STATS's reply; also used by the busy responder.
pub fn write_function_stats(server: &crate::server::Server, out: &mut cinnabar_resp::ReplyBuf) {
    let scripts = &server.scripts;
    let (nlibs, nfuncs) = {
        let libs = scripts.functions.read();
        (libs.libs.len(), libs.functions.len())
    };
    out.map(2);
    out.bulk(b"running_script");
    // Another client can ask only while a script is busy (FUNCTION STATS is allowed then).
    match &*scripts.busy_info.lock() {
        Some(info) if scripts.running() == Running::Function => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(info.name.as_bytes());
            out.bulk(b"command");
            out.array(info.command.len());
            for a in &info.command {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.integer(info.started.elapsed().as_millis() as i64);
        }
        _ => out.null(),
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.integer(nlibs as i64);
    out.bulk(b"functions_count");
    out.integer(nfuncs as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_redis() {
        // SHA1("return 1"), as SCRIPT LOAD reports it.
        assert_eq!(
            &sha1_hex(b"return 1"),
            b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[test]
    fn shebang_flags() {
        assert_eq!(
            parse_shebang(b"return 1").unwrap(),
            (script_flags::EVAL_COMPAT, 0)
        );
        assert_eq!(
            parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap(),
            (script_flags::NO_WRITES | script_flags::ALLOW_OOM, 31)
        );
        assert_eq!(parse_shebang(b"#!lua\nreturn 1").unwrap(), (0, 5));
        assert_eq!(
            parse_shebang(b"#!lua flags=bad\n").unwrap_err(),
            "Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            parse_shebang(b"#!python\n").unwrap_err(),
            "Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            parse_shebang(b"#!lua x=1\n").unwrap_err(),
            "Unknown lua shebang option: x=1"
        );
        assert_eq!(
            parse_shebang(b"#!lua").unwrap_err(),
            "Invalid script shebang"
        );
    }
}
