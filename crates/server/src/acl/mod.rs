//! Access control lists (Redis 7.2's ACL): the users, who each connection is authenticated
//! as, the permission check every command path makes, the ACL log, and the ACL file.
//!
//! Design rules:
//! - A connection holds the [`UserHandle`] it authenticated as (`None` is the default user).
//!   A handle is shared: ACL SETUSER replaces its definition in place, so every connection
//!   of that user sees the change at its next command, as in Redis.
//! - The hot path is a flag test: each handle mirrors "allows every command, key and
//!   channel" in an atomic, and dispatch skips the check while it is set. The default user
//!   (`allcommands allkeys allchannels` unless changed) therefore costs one load and a
//!   branch per command.
//! - `config.live.has_password` is "the default user needs AUTH" (it has a password, or is
//!   off): kept here, whenever the default user changes.
//! - This module never imports a command family; the text CLIENT LIST prints for a client,
//!   needed by ACL LOG, is the server's (`Server::client_info`, handed in at start-up).

pub mod rules;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cinnabar_commands::CommandDef;
use parking_lot::{Mutex, RwLock};

pub use rules::{Denied, RuleCtx, RuleError, User};

use crate::dispatch::Client;
use crate::server::{ClientShared, Server};

/// A user as connections hold it.
pub struct UserHandle {
    pub name: Box<[u8]>,
    def: RwLock<Arc<User>>,
    unrestricted: AtomicBool,
}

impl UserHandle {
    fn new(name: &[u8], user: User) -> Arc<UserHandle> {
        Arc::new(UserHandle {
            name: name.into(),
            unrestricted: AtomicBool::new(user.unrestricted()),
            def: RwLock::new(Arc::new(user)),
        })
    }

    /// The current definition.
    pub fn get(&self) -> Arc<User> {
        self.def.read().clone()
    }

    fn set(&self, user: User) {
        let free = user.unrestricted();
        *self.def.write() = Arc::new(user);
        self.unrestricted.store(free, Ordering::Release);
    }

    /// Whether every command, key and channel is allowed: the check can be skipped.
    #[inline]
    pub fn unrestricted(&self) -> bool {
        self.unrestricted.load(Ordering::Relaxed)
    }

    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Where a denial happened, for ACL LOG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogContext {
    Toplevel,
    Multi,
    Lua,
}

impl LogContext {
    pub fn name(self) -> &'static str {
        match self {
            LogContext::Toplevel => "toplevel",
            LogContext::Multi => "multi",
            LogContext::Lua => "lua",
        }
    }
}

/// Why an entry was logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogReason {
    Cmd,
    Key,
    Channel,
    Auth,
}

impl LogReason {
    pub fn name(self) -> &'static str {
        match self {
            LogReason::Cmd => "command",
            LogReason::Key => "key",
            LogReason::Channel => "channel",
            LogReason::Auth => "auth",
        }
    }
}

/// One ACL LOG entry; similar denials within a minute are counted in one entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: LogReason,
    pub context: LogContext,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Last update, ms since epoch.
    pub ctime: i64,
    pub cinfo: String,
    pub entry_id: u64,
    pub created: i64,
}

/// Entries within this many ms of each other with the same reason, context, object and
/// user are merged (Redis's ACL_LOG_GROUPING_MAX_TIME_DELTA).
const LOG_GROUPING_MS: i64 = 60_000;

#[derive(Default)]
struct Log {
    entries: VecDeque<LogEntry>,
    next_id: u64,
}

/// Users, the log and the denial counters.
pub struct Acl {
    users: RwLock<BTreeMap<Box<[u8]>, Arc<UserHandle>>>,
    pub default: Arc<UserHandle>,
    log: Mutex<Log>,
    pub denied_auth: AtomicU64,
    pub denied_cmd: AtomicU64,
    pub denied_key: AtomicU64,
    pub denied_channel: AtomicU64,
}

impl Acl {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Acl {
        let default = UserHandle::new(b"default", User::default_user());
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec().into_boxed_slice(), default.clone());
        Acl {
            users: RwLock::new(users),
            default,
            log: Mutex::new(Log::default()),
            denied_auth: AtomicU64::new(0),
            denied_cmd: AtomicU64::new(0),
            denied_key: AtomicU64::new(0),
            denied_channel: AtomicU64::new(0),
        }
    }

    /// The user a connection runs as (`None` is the default user).
    #[inline]
    pub fn user_of<'a>(&'a self, user: &'a Option<Arc<UserHandle>>) -> &'a Arc<UserHandle> {
        user.as_ref().unwrap_or(&self.default)
    }

    /// The hot-path test: true when the connection's user may run anything.
    #[inline]
    pub fn unrestricted(&self, user: &Option<Arc<UserHandle>>) -> bool {
        self.user_of(user).unrestricted()
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<UserHandle>> {
        self.users.read().get(name).cloned()
    }

    /// Every user, sorted by name.
    pub fn all(&self) -> Vec<Arc<UserHandle>> {
        self.users.read().values().cloned().collect()
    }

    /// Creates or changes a user, all rules or none (ACL SETUSER). Returns the handle and
    /// its definition before the change (None when created).
    pub fn set_user(
        &self,
        server: &Server,
        name: &[u8],
        ops: &[Vec<u8>],
    ) -> Result<(Arc<UserHandle>, Option<Arc<User>>), String> {
        let ops = rules::merge_selector_args(ops).map_err(|i| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&ops[i])
            )
        })?;
        let ctx = rule_ctx(server);
        let mut users = self.users.write();
        let existing = users.get(name).cloned();
        let mut user = match &existing {
            Some(h) => (*h.get()).clone(),
            None => User::new(ctx),
        };
        user.apply_all(&ops, ctx).map_err(|(op, e)| {
            format!(
                "Error in ACL SETUSER modifier '{}': {}",
                String::from_utf8_lossy(&op),
                e
            )
        })?;
        let result = match existing {
            Some(h) => {
                let before = h.get();
                h.set(user);
                (h, Some(before))
            }
            None => {
                let h = UserHandle::new(name, user);
                users.insert(name.into(), h.clone());
                (h, None)
            }
        };
        drop(users);
        self.sync_default(server);
        Ok(result)
    }

    /// Removes users; returns the handles removed (their connections must be closed).
    pub fn delete_users(&self, names: &[&[u8]]) -> Vec<Arc<UserHandle>> {
        let mut users = self.users.write();
        names.iter().filter_map(|n| users.remove(*n)).collect()
    }

    /// `config.live.has_password`: whether a new connection must authenticate.
    pub fn sync_default(&self, server: &Server) {
        let d = self.default.get();
        server
            .config
            .live
            .has_password
            .store(!d.nopass || !d.enabled, Ordering::Relaxed);
    }

    /// CONFIG SET requirepass (and start-up): the default user's only password, or nopass.
    pub fn set_requirepass(&self, server: &Server, pass: &str) {
        let mut u = (*self.default.get()).clone();
        let ctx = rule_ctx(server);
        u.apply(b"resetpass", ctx).expect("resetpass");
        if pass.is_empty() {
            u.apply(b"nopass", ctx).expect("nopass");
        } else {
            let mut op = b">".to_vec();
            op.extend_from_slice(pass.as_bytes());
            u.apply(&op, ctx).expect("password");
        }
        self.default.set(u);
        self.sync_default(server);
    }

    /// Checks credentials; logs a failure (reason `auth`, object the command's name).
    pub fn authenticate(
        &self,
        server: &Server,
        client: &Client,
        user: &[u8],
        pass: &[u8],
        command: &[u8],
    ) -> Option<Arc<UserHandle>> {
        match self.get(user) {
            Some(h) if h.get().password_ok(pass) => Some(h),
            _ => {
                let ctx = if client.multi.is_some() {
                    LogContext::Multi
                } else {
                    LogContext::Toplevel
                };
                self.log(
                    server,
                    &client.shared,
                    LogReason::Auth,
                    ctx,
                    command.to_vec(),
                    user.to_vec(),
                );
                None
            }
        }
    }

    /// Adds an entry to the ACL log (and counts it for INFO).
    #[cold]
    pub fn log(
        &self,
        server: &Server,
        client: &ClientShared,
        reason: LogReason,
        context: LogContext,
        object: Vec<u8>,
        username: Vec<u8>,
    ) {
        let counter = match reason {
            LogReason::Auth => &self.denied_auth,
            LogReason::Cmd => &self.denied_cmd,
            LogReason::Key => &self.denied_key,
            LogReason::Channel => &self.denied_channel,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let cinfo = (server.client_info)(server, client);
        let now = crate::server::now_ms();
        let max = server.config.get_i64("acllog-max-len").max(0) as usize;
        let mut log = self.log.lock();
        let found = log.entries.iter().take(10).position(|e| {
            e.reason == reason
                && e.context == context
                && (e.ctime - now).abs() <= LOG_GROUPING_MS
                && e.object == object
                && e.username == username
        });
        if let Some(i) = found {
            let mut e = log.entries.remove(i).expect("entry");
            e.count += 1;
            e.ctime = now;
            e.cinfo = cinfo;
            log.entries.push_front(e);
            return;
        }
        let entry_id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            ctime: now,
            cinfo,
            entry_id,
            created: now,
        });
        log.entries.truncate(max);
    }

    /// Runs `f` over the newest `count` log entries.
    pub fn with_log<R>(&self, f: impl FnOnce(&VecDeque<LogEntry>) -> R) -> R {
        f(&self.log.lock().entries)
    }

    pub fn reset_log(&self) {
        self.log.lock().entries.clear();
    }

    /// Replaces every user with those of `text` (an ACL file), or changes nothing and
    /// returns Redis's error text. The default user keeps its handle. Returns the handles
    /// that were replaced (their connections must be closed).
    pub fn load_text(
        &self,
        server: &Server,
        filename: &str,
        text: &str,
    ) -> Result<Vec<Arc<UserHandle>>, String> {
        let ctx = rule_ctx(server);
        let mut errors = String::new();
        let mut loaded: BTreeMap<Box<[u8]>, User> = BTreeMap::new();
        for (i, line) in text.split('\n').enumerate() {
            let linenum = i + 1;
            let line = line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
            if line.is_empty() {
                continue;
            }
            let argv: Vec<Vec<u8>> = line
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(|w| w.as_bytes().to_vec())
                .collect();
            if argv.is_empty() {
                continue;
            }
            if argv[0] != b"user" || argv.len() < 2 {
                errors.push_str(&format!(
                    "{filename}:{linenum} should start with user keyword followed by the username. "
                ));
                continue;
            }
            let name = &argv[1];
            if name.iter().any(|c| c.is_ascii_whitespace() || *c == 0) {
                errors.push_str(&format!(
                    "'{filename}:{linenum}: username '{}' contains invalid characters. ",
                    String::from_utf8_lossy(name)
                ));
                continue;
            }
            if loaded.contains_key(name.as_slice()) {
                errors.push_str(&format!(
                    "WARNING: Duplicate user '{}' found on line {linenum}. ",
                    String::from_utf8_lossy(name)
                ));
                continue;
            }
            let mut user = User::new(ctx);
            match rules::merge_selector_args(&argv[2..]) {
                Err(_) => errors.push_str(&format!(
                    "{filename}:{linenum}: Unmatched parenthesis in selector definition."
                )),
                Ok(ops) => {
                    let mut syntax_error = false;
                    for op in ops {
                        let op: Vec<u8> = trim_bytes(&op, b"\t\r\n").to_vec();
                        if let Err(e) = user.apply(&op, ctx) {
                            if e == RuleError::Unknown {
                                errors.push_str(&format!(
                                    "{filename}:{linenum}: Error in applying operation '{}': {e}. ",
                                    String::from_utf8_lossy(&op)
                                ));
                            } else if !syntax_error {
                                errors.push_str(&format!("{filename}:{linenum}: {e}. "));
                                syntax_error = true;
                            }
                        }
                    }
                }
            }
            loaded.insert(name.clone().into_boxed_slice(), user);
        }
        if !errors.is_empty() {
            errors.push_str(
                "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
            );
            return Err(errors);
        }
        let default_def = loaded
            .remove(b"default".as_slice())
            .unwrap_or_else(User::default_user);
        let mut users = self.users.write();
        let old: Vec<Arc<UserHandle>> = users
            .values()
            .filter(|h| !Arc::ptr_eq(h, &self.default))
            .cloned()
            .collect();
        users.clear();
        self.default.set(default_def);
        users.insert(b"default".to_vec().into_boxed_slice(), self.default.clone());
        for (name, u) in loaded {
            let h = UserHandle::new(&name, u);
            users.insert(name, h);
        }
        drop(users);
        self.sync_default(server);
        Ok(old)
    }

    /// The ACL file text: one `user name rules` line per user.
    pub fn save_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for h in self.all() {
            out.extend_from_slice(b"user ");
            out.extend_from_slice(&h.name);
            out.push(b' ');
            out.extend_from_slice(&h.get().describe());
            out.push(b'\n');
        }
        out
    }
}

/// An I/O error as C's strerror words it ("No such file or directory").
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn trim_bytes<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|c| !set.contains(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !set.contains(c))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// The rule context from the configuration (`acl-pubsub-default`).
pub fn rule_ctx(server: &Server) -> RuleCtx {
    RuleCtx {
        allchannels_default: server.config.get("acl-pubsub-default") == "allchannels",
    }
}

/// Redis's getAclErrorMessage.
pub fn deny_message(
    d: Denied,
    user: &[u8],
    def: &CommandDef,
    args: &[&[u8]],
    verbose: bool,
) -> String {
    let user = String::from_utf8_lossy(user);
    match d {
        Denied::Cmd => format!(
            "User {user} has no permissions to run the '{}' command",
            def.full_name()
        ),
        Denied::Key(p) if verbose => format!(
            "User {user} has no permissions to access the '{}' key",
            String::from_utf8_lossy(args[p])
        ),
        Denied::Key(_) => "No permissions to access a key".into(),
        Denied::Channel(p) if verbose => format!(
            "User {user} has no permissions to access the '{}' channel",
            String::from_utf8_lossy(args[p])
        ),
        Denied::Channel(_) => "No permissions to access a channel".into(),
    }
}

/// What a client refused by protected mode is told before the connection closes (Redis's
/// text, CRLF included).
pub const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode (Redis 7.2): while it is on and the default user has no password, only
/// loopback clients are served.
pub fn protected_mode_denies(
    protected: bool,
    default_nopass: bool,
    peer_is_loopback: bool,
) -> bool {
    protected && default_nopass && !peer_is_loopback
}

/// Whether a new connection from a non-loopback peer must be refused now (read at accept
/// time only).
pub fn refuse_remote(server: &Server) -> bool {
    protected_mode_denies(
        server.config.get_bool("protected-mode"),
        server.acl.default.get().nopass,
        false,
    )
}

/// Why a queued command is refused at EXEC (Redis's execCommand wording).
pub fn exec_reason(d: Denied) -> &'static str {
    match d {
        Denied::Cmd => "no permission to execute the command or subcommand",
        Denied::Key(_) => "no permission to touch the specified keys",
        Denied::Channel(_) => "no permission to access one of the channels used as arguments",
    }
}

/// Checks a command line against the client's user; on denial logs it and returns the
/// denial with Redis's (non-verbose) message. Callers test [`Acl::unrestricted`] first.
#[cold]
pub fn check(
    server: &Server,
    client: &Client,
    def: &CommandDef,
    args: &[&[u8]],
    context: LogContext,
) -> Result<(), (Denied, String)> {
    check_as(server, &client.user, &client.shared, def, args, context)
}

/// [`check`] for a client known by its shared record (a blocked client being served).
#[cold]
pub fn check_as(
    server: &Server,
    user: &Option<Arc<UserHandle>>,
    shared: &ClientShared,
    def: &CommandDef,
    args: &[&[u8]],
    context: LogContext,
) -> Result<(), (Denied, String)> {
    let handle = server.acl.user_of(user);
    let user = handle.get();
    match user.check(def, args) {
        Ok(()) => Ok(()),
        Err(d) => {
            let (reason, object) = match d {
                Denied::Cmd => (LogReason::Cmd, def.full_name().as_bytes().to_vec()),
                Denied::Key(p) => (LogReason::Key, args[p].to_vec()),
                Denied::Channel(p) => (LogReason::Channel, args[p].to_vec()),
            };
            server.acl.log(
                server,
                shared,
                reason,
                context,
                object,
                handle.name.to_vec(),
            );
            Err((d, deny_message(d, &handle.name, def, args, false)))
        }
    }
}

/// Makes `client` run as `user` from now on (AUTH, HELLO AUTH).
pub fn set_client_user(client: &mut Client, user: Arc<UserHandle>) {
    *client.shared.user.lock() = Some(user.clone());
    client.user = Some(user);
    client.authenticated = true;
}

/// The name CLIENT LIST shows for a client.
pub fn client_user_name(server: &Server, c: &ClientShared) -> String {
    match &*c.user.lock() {
        Some(h) => h.name_str(),
        None => server.acl.default.name_str(),
    }
}

/// Closes the connections authenticated as any of `users`; returns true when the calling
/// client `me` is one of them (it is closed after its reply, as Redis does).
pub fn kill_clients_of(server: &Server, users: &[Arc<UserHandle>], me: u64) -> bool {
    if users.is_empty() {
        return false;
    }
    let targets: Vec<u64> = server
        .clients
        .lock()
        .values()
        .filter(|c| {
            c.user
                .lock()
                .as_ref()
                .is_some_and(|u| users.iter().any(|x| Arc::ptr_eq(x, u)))
        })
        .map(|c| c.id)
        .collect();
    let mut me_too = false;
    for id in targets {
        if id == me {
            me_too = true;
        } else {
            server.kill_client(id);
        }
    }
    me_too
}

/// The ACL file's path: a relative one is in `dir`, as Redis (which runs in `dir`) finds it.
pub fn aclfile_path(server: &Server) -> String {
    let f = server.config.get("aclfile");
    let dir = server.config.get("dir");
    if f.is_empty() || f.starts_with('/') || dir.is_empty() {
        return f;
    }
    std::path::Path::new(&dir).join(&f).display().to_string()
}

/// Start-up: `requirepass`, then `user` lines of the config file, then the ACL file; an
/// error stops the server, as in Redis.
pub fn load_at_startup(server: &Server) -> Result<(), String> {
    let acl = &server.acl;
    let pass = server.config.get("requirepass");
    acl.set_requirepass(server, &pass);
    let aclfile = aclfile_path(server);
    let lines = server.config.user_lines();
    if !aclfile.is_empty() && !lines.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let ctx = rule_ctx(server);
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for words in &lines {
        let name = words[0].as_bytes().to_vec();
        let ops: Vec<Vec<u8>> = words[1..].iter().map(|w| w.as_bytes().to_vec()).collect();
        let dup = seen.contains(&name);
        let msg = |e: &dyn std::fmt::Display| {
            format!("Error in user declaration '{}': {e}", words.join(" "))
        };
        if dup {
            return Err(msg(&RuleError::Duplicate));
        }
        seen.push(name.clone());
        if name.iter().any(|c| c.is_ascii_whitespace() || *c == 0) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        let ops = rules::merge_selector_args(&ops)
            .map_err(|_| msg(&"Unmatched parenthesis in acl selector"))?;
        let mut user = if name == b"default" {
            let mut u = (*acl.default.get()).clone();
            u.apply(b"reset", ctx).expect("reset");
            u
        } else {
            User::new(ctx)
        };
        for op in &ops {
            user.apply(op, ctx).map_err(|e| {
                format!(
                    "Error loading ACL rule '{}' for the user named '{}': {e}",
                    String::from_utf8_lossy(op),
                    words[0]
                )
            })?;
        }
        if name == b"default" {
            acl.default.set(user);
        } else {
            acl.users.write().insert(
                name.into_boxed_slice(),
                UserHandle::new(words[0].as_bytes(), user),
            );
        }
    }
    if !aclfile.is_empty() {
        let text = std::fs::read_to_string(&aclfile).map_err(|e| {
            format!(
                "Error loading ACLs, opening file '{aclfile}': {}",
                strerror(&e)
            )
        })?;
        acl.load_text(server, &aclfile, &text)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
    }
    acl.sync_default(server);
    Ok(())
}

/// Writes the ACL file atomically (temp file, fsync, rename), as ACL SAVE.
pub fn save_file(server: &Server, path: &str) -> std::io::Result<()> {
    use std::io::Write;
    let text = server.acl.save_text();
    let tmp = format!(
        "{path}.tmp-{}-{}",
        std::process::id(),
        crate::server::now_ms()
    );
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_refuses_only_remote_clients_without_password() {
        assert!(protected_mode_denies(true, true, false));
        assert!(
            !protected_mode_denies(true, true, true),
            "loopback is served"
        );
        assert!(
            !protected_mode_denies(true, false, false),
            "a password lifts it"
        );
        assert!(
            !protected_mode_denies(false, true, false),
            "protected-mode no"
        );
        assert!(PROTECTED_MODE_DENIED.starts_with(b"-DENIED Redis is running in protected mode"));
        assert!(PROTECTED_MODE_DENIED.ends_with(b"from the outside.\r\n"));
    }

    #[test]
    fn exec_reasons() {
        assert_eq!(
            exec_reason(Denied::Key(1)),
            "no permission to touch the specified keys"
        );
    }
}
