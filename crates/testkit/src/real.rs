//! A real `redis-server` and `redis-cli` to compare Cinnabar with.
//!
//! Policy, the same for every comparison test:
//! - The binaries are `REDIS_SERVER` / `REDIS_CLI` when set, else `redis-server` /
//!   `redis-cli` on the PATH.
//! - A missing binary fails the test with a message saying how to provide one, unless
//!   `CINNABAR_NO_REDIS=1` (or the older `CINNABAR_NO_REDIS_ORACLE=1`) says to skip
//!   comparisons knowingly: then the test prints `SKIPPED` and returns.
//! - `REQUIRE_REDIS=1` (set by `.ci/run`) overrides the opt-out: in CI a comparison runs or
//!   fails. It also fails tests that need a newer binary than the one found (RDB version 11
//!   needs 7.2), unless `REDIS_TOO_OLD_OK=1` (set by `.ci/run` when it could not fetch a
//!   newer server); without it such a test prints `SKIPPED` and returns.
//! - Sentinel ([`RealSentinel`]) is `REDIS_SENTINEL` when set, else `redis-sentinel` next
//!   to `REDIS_SERVER`, else `redis-sentinel` on the PATH, else the redis-server binary
//!   itself started with `--sentinel` (every redis-server build contains Sentinel), so it
//!   is missing only when redis-server is, and then the same policy applies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::conn::RawConn;
use crate::server::{temp_dir, ChildServer};

/// Set (to anything but `0`) to make every comparison run or fail.
pub const REQUIRE: &str = "REQUIRE_REDIS";
/// Set (to anything but `0`) to skip comparisons when the binaries are missing.
pub const OPT_OUT: &str = "CINNABAR_NO_REDIS";
const OPT_OUT_OLD: &str = "CINNABAR_NO_REDIS_ORACLE";

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Whether `REQUIRE_REDIS` is set.
pub fn required() -> bool {
    flag(REQUIRE)
}

/// A comparison cannot run because a binary is missing: fails, or returns (and the test
/// then returns) only when skipping was asked for and `REQUIRE_REDIS` is not set.
pub fn missing(what: &str) {
    if required() {
        panic!("{what}, and {REQUIRE}=1: comparison tests must run here");
    }
    if flag(OPT_OUT) || flag(OPT_OUT_OLD) {
        eprintln!("SKIPPED: {what} ({OPT_OUT} is set)");
        return;
    }
    panic!(
        "{what}: this test compares with real Redis. Install it (Debian: apt-get install \
         redis-server redis-tools), point REDIS_SERVER / REDIS_CLI at the binaries, or set \
         {OPT_OUT}=1 to skip comparison tests"
    );
}

/// The binary found is too old for this comparison: fails under `REQUIRE_REDIS`, else
/// prints `SKIPPED` and returns.
pub fn too_old(what: &str) {
    // .ci/run sets REDIS_TOO_OLD_OK when no newer server could be fetched (no network):
    // the packaged one still runs every other comparison.
    if required() && !flag("REDIS_TOO_OLD_OK") {
        panic!("{what}, and {REQUIRE}=1: point REDIS_SERVER at a newer redis-server");
    }
    eprintln!("SKIPPED: {what} (set REDIS_SERVER to a newer redis-server)");
}

/// Runs `bin --version` and returns its output when it ran and succeeded.
fn version_output(bin: &Path) -> Option<String> {
    let out = Command::new(bin)
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A real `redis-server` child on a free loopback port, without persistence unless asked,
/// working in a directory of its own (so no dump.rdb another server left is loaded).
/// Killed when dropped.
pub struct RealRedis {
    server: ChildServer,
    dir: PathBuf,
    owns_dir: bool,
    pub port: u16,
    /// (major, minor) of the binary.
    pub version: (u32, u32),
    /// The unix socket, when started with [`RealRedis::start_with_socket`].
    pub socket: Option<PathBuf>,
}

impl RealRedis {
    /// The binary to compare with and its version; None when it is not installed.
    pub fn binary() -> Option<(PathBuf, (u32, u32))> {
        static FOUND: OnceLock<Option<(PathBuf, (u32, u32))>> = OnceLock::new();
        FOUND
            .get_or_init(|| {
                let bin = PathBuf::from(
                    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into()),
                );
                let s = version_output(&bin)?;
                let v = s.split("v=").nth(1)?.split_whitespace().next()?.to_string();
                let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
                Some((bin, (it.next()?, it.next()?)))
            })
            .clone()
    }

    /// Starts one with `--save '' --appendonly no` then `extra`; None only when the binary
    /// is missing and skipping is allowed (see the module's policy).
    pub fn start(extra: &[&str]) -> Option<RealRedis> {
        RealRedis::launch(None, false, extra)
    }

    /// [`RealRedis::start`] working in `dir` (its files stay there after the drop).
    pub fn start_in(dir: &Path, extra: &[&str]) -> Option<RealRedis> {
        RealRedis::launch(Some(dir), false, extra)
    }

    /// [`RealRedis::start`] also listening on a unix socket in its directory.
    pub fn start_with_socket(extra: &[&str]) -> Option<RealRedis> {
        RealRedis::launch(None, true, extra)
    }

    /// Starts the given binary (of `version`, e.g. a Redis built from source) as
    /// [`RealRedis::start`] does.
    pub fn start_binary(bin: &Path, version: (u32, u32), extra: &[&str]) -> RealRedis {
        RealRedis::launch_binary(bin, version, None, false, extra)
    }

    fn launch(dir: Option<&Path>, socket: bool, extra: &[&str]) -> Option<RealRedis> {
        let Some((bin, version)) = RealRedis::binary() else {
            missing("redis-server was not found (REDIS_SERVER or PATH)");
            return None;
        };
        Some(RealRedis::launch_binary(&bin, version, dir, socket, extra))
    }

    fn launch_binary(
        bin: &Path,
        version: (u32, u32),
        dir: Option<&Path>,
        socket: bool,
        extra: &[&str],
    ) -> RealRedis {
        let (dir, owns_dir) = match dir {
            Some(d) => (d.to_path_buf(), false),
            None => (temp_dir("real-redis"), true),
        };
        let socket = socket.then(|| dir.join("redis.sock"));
        let d = dir.to_str().expect("utf-8 temp dir");
        let mut args = vec!["--save", "", "--appendonly", "no", "--dir", d];
        let s;
        if let Some(path) = &socket {
            s = path.to_string_lossy().into_owned();
            args.extend(["--unixsocket", s.as_str()]);
        }
        args.extend_from_slice(extra);
        let server = ChildServer::start(bin, &args);
        RealRedis {
            port: server.port,
            server,
            dir,
            owns_dir,
            version,
            socket,
        }
    }

    /// Whether a binary at least `min` is there (`why` says what needs that version); when
    /// not, applies the policy for a missing or too old binary.
    pub fn available(min: (u32, u32), why: &str) -> bool {
        let Some((_, version)) = RealRedis::binary() else {
            missing("redis-server was not found (REDIS_SERVER or PATH)");
            return false;
        };
        if version >= min {
            return true;
        }
        too_old(&format!(
            "redis-server {version:?} is older than {min:?}, which {why}"
        ));
        false
    }

    /// Whether the binary is at least `min`; when not, applies the policy for too-old
    /// binaries (fails under `REQUIRE_REDIS`, else says the test is skipped).
    pub fn at_least(&self, min: (u32, u32), why: &str) -> bool {
        if self.version >= min {
            return true;
        }
        too_old(&format!(
            "redis-server {:?} is older than {min:?}, which {why}",
            self.version
        ));
        false
    }

    /// The server's process id (for its RSS).
    pub fn pid(&self) -> u32 {
        self.server.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn conn(&self) -> RawConn {
        self.server.conn()
    }

    /// Kills it with SIGKILL (its files stay as they are).
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Its working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        self.server.kill();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The real `redis-cli` to compare `cinnabar-cli` with.
pub struct RedisCli;

impl RedisCli {
    /// `REDIS_CLI`, else `redis-cli` on the PATH; None when it does not run.
    pub fn binary() -> Option<PathBuf> {
        static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
        FOUND
            .get_or_init(|| {
                let bin = PathBuf::from(
                    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into()),
                );
                version_output(&bin).map(|_| bin)
            })
            .clone()
    }

    /// The binary, or None when it is missing and skipping is allowed (the module's policy).
    pub fn find() -> Option<PathBuf> {
        let bin = RedisCli::binary();
        if bin.is_none() {
            missing("redis-cli was not found (REDIS_CLI or PATH)");
        }
        bin
    }
}

/// A real Sentinel (`redis-sentinel`, or `redis-server --sentinel`) child on a free
/// loopback port, with its config file (which Sentinel rewrites) in a directory of its own.
/// Killed when dropped.
pub struct RealSentinel {
    server: ChildServer,
    dir: PathBuf,
    pub port: u16,
}

impl RealSentinel {
    /// The binary and the arguments that put it in Sentinel mode (after the config file);
    /// None when neither a sentinel nor a redis-server binary runs.
    pub fn binary() -> Option<(PathBuf, Vec<&'static str>)> {
        static FOUND: OnceLock<Option<(PathBuf, Vec<&'static str>)>> = OnceLock::new();
        FOUND
            .get_or_init(|| {
                if let Ok(b) = std::env::var("REDIS_SENTINEL") {
                    let bin = PathBuf::from(b);
                    return version_output(&bin).map(|_| (bin, vec![]));
                }
                let mut candidates = Vec::new();
                if let Ok(server) = std::env::var("REDIS_SERVER") {
                    if let Some(dir) = Path::new(&server).parent() {
                        candidates.push(dir.join("redis-sentinel"));
                    }
                }
                candidates.push(PathBuf::from("redis-sentinel"));
                for bin in candidates {
                    if version_output(&bin).is_some() {
                        return Some((bin, vec![]));
                    }
                }
                RealRedis::binary().map(|(bin, _)| (bin, vec!["--sentinel"]))
            })
            .clone()
    }

    /// Starts one whose config file holds `conf` (its `sentinel monitor ...` lines), in a
    /// fresh directory; None only when no binary is there and skipping is allowed.
    pub fn start(conf: &str) -> Option<RealSentinel> {
        let Some((bin, mode)) = RealSentinel::binary() else {
            missing(
                "redis-sentinel was not found (REDIS_SENTINEL, next to REDIS_SERVER, PATH, \
                 or redis-server --sentinel)",
            );
            return None;
        };
        let dir = temp_dir("sentinel");
        let file = dir.join("sentinel.conf");
        // Its log goes to a file in its directory, printed if the test fails (see Drop).
        std::fs::write(
            &file,
            format!(
                "dir {}\nlogfile {}\n{conf}\n",
                dir.display(),
                dir.join("sentinel.log").display()
            ),
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        let file = file.to_str().expect("utf-8 temp dir").to_string();
        let mut lead = vec![file.as_str()];
        lead.extend(mode);
        let server = ChildServer::start_after(&bin, &lead, &[]);
        Some(RealSentinel {
            port: server.port,
            server,
            dir,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn conn(&self) -> RawConn {
        self.server.conn()
    }

    /// Its working directory (sentinel.conf).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RealSentinel {
    fn drop(&mut self) {
        self.server.kill();
        // A failing test shows what Sentinel saw and decided (+sdown, +switch-master, ...).
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("sentinel.log")).unwrap_or_default();
            eprintln!("--- sentinel log ---\n{log}--- end of sentinel log ---");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
