//! ACL users and selectors as values, the rule language that changes them (`on`, `>pass`,
//! `+@read`, `~pat`, `(...)` ...), their description (ACL LIST, ACL GETUSER) and the
//! permission check of one command line. Pure: no server state, no I/O, so the parser is
//! unit-, property- and fuzz-tested on its own.
//!
//! Design, following Redis 7.2's acl.c (facts, not code):
//! - Every command and subcommand of the table has an id; a selector holds one bit per id
//!   plus a reserved "future commands" bit that only `+@all`/`allcommands` sets, which is
//!   how a description knows whether to start from `+@all` or `-@all`.
//! - A selector also keeps the ordered text of its command rules (`command_rules`), so that
//!   ACL LIST reproduces what was set, not a recomputed equivalent.
//! - A user is a root selector plus any number of `(...)` selectors; a command is allowed
//!   when any one selector allows it (command, keys and channels together).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use cinnabar_commands::{self as commands, flags, keyspec_flags, CommandDef};

/// Bits per selector command bitmap: room for every command id, and the last bit reserved.
const BITS: usize = 1024;
const WORDS: usize = BITS / 64;
/// Set only by `+@all`/`allcommands`: the selector may run commands added later.
const FUTURE_BIT: usize = BITS - 1;

/// Key pattern permissions (`%R~`, `%W~`, `~`).
pub const PERM_READ: u8 = 1;
pub const PERM_WRITE: u8 = 2;
pub const PERM_ALL: u8 = PERM_READ | PERM_WRITE;

/// Why a rule was refused; the messages are Redis's (ACLSetUserStringError).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("Unknown command or category name in ACL")]
    Unknown,
    #[error("Syntax error")]
    Syntax,
    #[error("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")]
    KeysAfterAll,
    #[error("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")]
    ChannelsAfterAll,
    #[error("The password you are trying to remove from the user does not exist")]
    NoSuchPassword,
    #[error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")]
    BadHash,
    #[error("Duplicate user found. A user can only be defined once in config files")]
    Duplicate,
    #[error("Allowing first-arg of a subcommand is not supported")]
    SubcommandFirstArg,
}

/// Why a command was denied, in Redis's order of relevance (a later variant wins when
/// several selectors deny for different reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    /// The command itself.
    Cmd,
    /// The key at this argv position.
    Key(usize),
    /// The channel at this argv position.
    Channel(usize),
}

impl Denied {
    fn rank(&self) -> (u8, usize) {
        match *self {
            Denied::Cmd => (1, 0),
            Denied::Key(p) => (2, p),
            Denied::Channel(p) => (4, p),
        }
    }
}

/// Every command and subcommand of the table, by id.
pub struct CommandIds {
    defs: Vec<&'static CommandDef>,
    by_name: HashMap<&'static str, usize>,
}

/// The id table, built once.
pub fn ids() -> &'static CommandIds {
    static IDS: OnceLock<CommandIds> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut defs = Vec::new();
        for def in commands::all() {
            defs.push(def);
            defs.extend(def.subcommands.iter());
        }
        assert!(defs.len() < FUTURE_BIT, "ACL command bitmap too small");
        let by_name = defs.iter().enumerate().map(|(i, d)| (d.name, i)).collect();
        CommandIds { defs, by_name }
    })
}

impl CommandIds {
    /// The id of a command of the table.
    pub fn id(&self, def: &CommandDef) -> usize {
        self.by_name[def.name]
    }

    /// Redis's ACLLookupCommand: `name` or `container|sub`, case-insensitive.
    pub fn lookup(&self, name: &str) -> Option<&'static CommandDef> {
        let lower = name.to_ascii_lowercase();
        let mut parts = lower.split('|');
        let base = parts.next()?;
        let sub = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let def = commands::lookup(base.as_bytes())?;
        match sub {
            None => Some(def),
            Some(s) => {
                if def.subcommands.is_empty() {
                    return None;
                }
                commands::lookup_sub(def, s.as_bytes())
            }
        }
    }

    /// Commands of the table in `category`, containers before their subcommands.
    pub fn in_category(&self, cat: u64) -> impl Iterator<Item = &'static CommandDef> + '_ {
        self.defs.iter().copied().filter(move |d| d.acl & cat != 0)
    }
}

/// One key pattern with its permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub perms: u8,
    pub pattern: Vec<u8>,
}

impl KeyPattern {
    fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.perms {
            PERM_READ => b"%R~".as_slice(),
            PERM_WRITE => b"%W~",
            _ => b"~",
        });
        out.extend_from_slice(&self.pattern);
    }
}

/// A set of permissions: commands, key patterns, channel patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub root: bool,
    pub allkeys: bool,
    pub allchannels: bool,
    pub allcommands: bool,
    allowed: [u64; WORDS],
    /// Command id -> first arguments allowed of an otherwise denied command (`+select|0`).
    firstargs: BTreeMap<usize, Vec<String>>,
    pub patterns: Vec<KeyPattern>,
    pub channels: Vec<Vec<u8>>,
    /// The command rules as given, lower-cased, in order (`+get -@write +config|get`).
    command_rules: String,
}

impl Selector {
    /// An empty selector; `allchannels` per `acl-pubsub-default`.
    pub fn new(root: bool, allchannels: bool) -> Selector {
        Selector {
            root,
            allkeys: false,
            allchannels,
            allcommands: false,
            allowed: [0; WORDS],
            firstargs: BTreeMap::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
            command_rules: String::new(),
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if on {
            self.allowed[id / 64] |= 1 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1 << (id % 64));
            self.allcommands = false;
        }
    }

    /// Allows or denies a command, and a container's subcommands with it.
    fn change_perm(&mut self, def: &CommandDef, allow: bool) {
        let ids = ids();
        let id = ids.id(def);
        self.set_bit(id, allow);
        self.firstargs.remove(&id);
        for sub in def.subcommands {
            self.set_bit(ids.id(sub), allow);
        }
    }

    fn set_category(&mut self, cat: u64, allow: bool) {
        // Containers carry their own categories; their subcommands are matched on theirs.
        for def in commands::all() {
            if def.acl & cat != 0 {
                self.change_perm(def, allow);
            }
            for sub in def.subcommands {
                if sub.acl & cat != 0 {
                    self.change_perm(sub, allow);
                }
            }
        }
    }

    /// Redis's ACLUpdateCommandRules: drops earlier rules about the same command (and its
    /// subcommands when the whole command is named) and appends this one.
    fn update_rules(&mut self, rule: &str, allow: bool) {
        let rule = rule.to_ascii_lowercase();
        let kept: Vec<&str> = self
            .command_rules
            .split(' ')
            .filter(|r| !r.is_empty())
            .filter(|r| {
                let name = &r[1..];
                !(name == rule
                    || (name.len() > rule.len()
                        && name.starts_with(rule.as_str())
                        && name.as_bytes()[rule.len()] == b'|'))
            })
            .collect();
        let mut s = kept.join(" ");
        if !s.is_empty() {
            s.push(' ');
        }
        s.push(if allow { '+' } else { '-' });
        s.push_str(&rule);
        self.command_rules = s;
    }

    /// Applies one selector rule (Redis's ACLSetSelector).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || is("~*") {
            self.allkeys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.allowed = [u64::MAX; WORDS];
            self.allcommands = true;
            self.command_rules.clear();
            self.firstargs.clear();
        } else if is("nocommands") || is("-@all") {
            self.allowed = [0; WORDS];
            self.allcommands = false;
            self.command_rules.clear();
            self.firstargs.clear();
        } else if op.first() == Some(&b'~') || op.first() == Some(&b'%') {
            if self.allkeys {
                return Err(RuleError::KeysAfterAll);
            }
            let (perms, pattern) = if op[0] == b'%' {
                let mut perms = 0u8;
                let mut offset = 1;
                while offset < op.len() {
                    let c = op[offset].to_ascii_uppercase();
                    if c == b'R' && perms & PERM_READ == 0 {
                        perms |= PERM_READ;
                    } else if c == b'W' && perms & PERM_WRITE == 0 {
                        perms |= PERM_WRITE;
                    } else if op[offset] == b'~' {
                        offset += 1;
                        break;
                    } else {
                        return Err(RuleError::Syntax);
                    }
                    offset += 1;
                }
                // `%~x` or `%R` without `~`: no permission or no pattern given.
                if perms == 0 || op[offset - 1] != b'~' {
                    return Err(RuleError::Syntax);
                }
                (perms, &op[offset..])
            } else {
                (PERM_ALL, &op[1..])
            };
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
                Some(p) => p.perms |= perms,
                None => self.patterns.push(KeyPattern {
                    perms,
                    pattern: pattern.to_vec(),
                }),
            }
            self.allkeys = false;
        } else if op.first() == Some(&b'&') {
            if self.allchannels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pat = &op[1..];
            if has_spaces(pat) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pat) {
                self.channels.push(pat.to_vec());
            }
            self.allchannels = false;
        } else if op.len() >= 2 && (op[0] == b'+' || op[0] == b'-') && op[1] == b'@' {
            let allow = op[0] == b'+';
            let name = std::str::from_utf8(&op[2..]).map_err(|_| RuleError::Unknown)?;
            let cat = commands::acl::from_name(name).ok_or(RuleError::Unknown)?;
            let rule = std::str::from_utf8(&op[1..]).map_err(|_| RuleError::Unknown)?;
            self.update_rules(rule, allow);
            self.set_category(cat, allow);
        } else if op.first() == Some(&b'+') {
            let name = std::str::from_utf8(&op[1..]).map_err(|_| RuleError::Unknown)?;
            let ids = ids();
            match name.rfind('|') {
                None => {
                    let def = ids.lookup(name).ok_or(RuleError::Unknown)?;
                    self.change_perm(def, true);
                    self.update_rules(def.name, true);
                }
                Some(bar) => {
                    let (base, sub) = (&name[..bar], &name[bar + 1..]);
                    let def = ids.lookup(base).ok_or(RuleError::Unknown)?;
                    if def.container.is_some() {
                        return Err(RuleError::SubcommandFirstArg);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !def.subcommands.is_empty() {
                        let subdef = ids.lookup(name).ok_or(RuleError::Unknown)?;
                        self.change_perm(subdef, true);
                    } else {
                        // Allowing one first argument of an otherwise denied command
                        // (`+select|0`), deprecated in Redis but still honoured.
                        let list = self.firstargs.entry(ids.id(def)).or_default();
                        if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                            list.push(sub.to_string());
                        }
                    }
                    self.update_rules(name, true);
                }
            }
        } else if op.first() == Some(&b'-') {
            let name = std::str::from_utf8(&op[1..]).map_err(|_| RuleError::Unknown)?;
            let def = ids().lookup(name).ok_or(RuleError::Unknown)?;
            self.change_perm(def, false);
            self.update_rules(def.name, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// The command rules as ACL SETUSER would take them back (`+@all -debug`).
    pub fn describe_commands(&self) -> String {
        let mut s = String::from(if self.bit(FUTURE_BIT) {
            "+@all"
        } else {
            "-@all"
        });
        if !self.command_rules.is_empty() {
            s.push(' ');
            s.push_str(&self.command_rules);
        }
        s
    }

    /// Whether this selector's description does not load back to the same one, in Redis
    /// 7.2 too: a `*` pattern with every permission given as `%RW~*` (no `allkeys`) is
    /// listed as `~*`, and `~*` loads as `allkeys`, which drops the other patterns
    /// (`~a* %RW~*` lists as `~a* ~*`, which loads as `~*`).
    pub fn lists_star_among_patterns(&self) -> bool {
        !self.allkeys
            && self.patterns.len() > 1
            && self
                .patterns
                .iter()
                .any(|p| p.pattern == b"*" && p.perms == PERM_ALL)
    }

    /// The key patterns as GETUSER shows them (`~*`, or `%R~a ~b`).
    pub fn describe_keys(&self) -> Vec<u8> {
        if self.allkeys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            p.describe(&mut out);
        }
        out
    }

    /// The channel patterns as GETUSER shows them (`&*`, or `&a &b`).
    pub fn describe_channels(&self) -> Vec<u8> {
        if self.allchannels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(c);
        }
        out
    }

    /// Keys, channels and commands in ACL LIST form.
    fn describe(&self, out: &mut Vec<u8>) {
        if self.allkeys {
            out.extend_from_slice(b"~* ");
        } else {
            for p in &self.patterns {
                p.describe(out);
                out.push(b' ');
            }
        }
        if self.allchannels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands().as_bytes());
    }

    /// Whether this selector alone allows everything (the hot path skips checks then).
    fn unrestricted(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }

    fn check_key(&self, key: &[u8], spec_flags: u64) -> bool {
        if self.allkeys {
            return true;
        }
        let need = key_perms(spec_flags);
        self.patterns.iter().any(|p| {
            p.perms & need == need && cinnabar_engine::glob::glob_match(&p.pattern, key, false)
        })
    }

    /// Whether some pattern of this selector gives access to every key with the permissions
    /// `spec_flags` ask for (SORT BY/GET need that).
    fn unrestricted_keys(&self, spec_flags: u64) -> bool {
        if self.allkeys {
            return true;
        }
        let need = key_perms(spec_flags);
        self.patterns
            .iter()
            .any(|p| p.perms & need == need && p.pattern == b"*")
    }

    fn check_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.allchannels || channel_in_list(&self.channels, channel, is_pattern)
    }

    /// Redis's ACLSelectorCheckCmd.
    fn check_cmd(
        &self,
        def: &CommandDef,
        id: usize,
        args: &[&[u8]],
        keys: &mut Option<Vec<(usize, u64)>>,
    ) -> Result<(), Denied> {
        if !self.allcommands && def.flags & flags::NO_AUTH == 0 && !self.bit(id) {
            let idx = if def.container.is_some() { 2 } else { 1 };
            let ok = match (self.firstargs.get(&id), args.get(idx)) {
                (Some(list), Some(arg)) => {
                    list.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(arg))
                }
                _ => false,
            };
            if !ok {
                return Err(Denied::Cmd);
            }
        }
        if !self.allkeys && def.has_keys() {
            let keys = keys.get_or_insert_with(|| keys_with_flags(def, args));
            for &(pos, f) in keys.iter() {
                if !self.check_key(args[pos], f) {
                    return Err(Denied::Key(pos));
                }
            }
        }
        if !self.allchannels {
            let (publish, pattern, checked) = channel_kind(def);
            if checked {
                let end = if publish {
                    2.min(args.len())
                } else {
                    args.len()
                };
                for (pos, ch) in args.iter().enumerate().take(end).skip(1) {
                    if !self.check_channel(ch, pattern) {
                        return Err(Denied::Channel(pos));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Key positions and flags, with the flags that depend on the arguments where the key spec
/// says VARIABLE_FLAGS (Redis asks the command's getkeys procedure then): SET writes
/// without reading unless GET is given; BITFIELD only reads when it has only GETs.
fn keys_with_flags(def: &CommandDef, args: &[&[u8]]) -> Vec<(usize, u64)> {
    use keyspec_flags as ks;
    let mut v = Vec::new();
    let _ = commands::key_positions_with_flags(def, args, &mut v);
    let read_write = ks::RW | ks::ACCESS | ks::UPDATE;
    let flags = match def.name {
        "set" if !args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")) => {
            ks::OW | ks::UPDATE
        }
        "set" => read_write,
        "bitfield" => {
            let mut readonly = true;
            let mut i = 2;
            while i < args.len() {
                let rem = args.len() - i - 1;
                let a = args[i];
                if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
                    i += 3;
                } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
                    i += 2;
                } else {
                    readonly = false;
                    break;
                }
            }
            if readonly {
                ks::RO | ks::ACCESS
            } else {
                read_write
            }
        }
        _ => return v,
    };
    for k in &mut v {
        k.1 = flags;
    }
    v
}

/// (publishes, pattern, channel arguments are checked) for the pub/sub commands whose
/// channels ACLs govern; unsubscribing is never checked.
fn channel_kind(def: &CommandDef) -> (bool, bool, bool) {
    match def.name {
        "subscribe" | "ssubscribe" => (false, false, true),
        "psubscribe" => (false, true, true),
        "publish" | "spublish" => (true, false, true),
        _ => (false, false, false),
    }
}

/// Read/write permissions a key spec's flags need.
fn key_perms(spec_flags: u64) -> u8 {
    let mut need = 0;
    if spec_flags & keyspec_flags::ACCESS != 0 {
        need |= PERM_READ;
    }
    if spec_flags & (keyspec_flags::INSERT | keyspec_flags::DELETE | keyspec_flags::UPDATE) != 0 {
        need |= PERM_WRITE;
    }
    need
}

/// A pattern subscription must be listed literally; a channel matches any listed pattern.
pub fn channel_in_list(list: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p.as_slice() == channel
        } else {
            cinnabar_engine::glob::glob_match(p, channel, false)
        }
    })
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| c == 0 || c == b' ' || (b'\t'..=b'\r').contains(&c))
}

/// A user's definition: flags, password hashes, selectors (the root first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub enabled: bool,
    pub nopass: bool,
    pub skip_sanitize: bool,
    /// SHA-256 of each password, in lowercase hex.
    pub passwords: Vec<String>,
    pub selectors: Vec<Selector>,
}

/// Context a rule is applied in: `acl-pubsub-default` decides whether new selectors and
/// `reset` start with every channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleCtx {
    pub allchannels_default: bool,
}

impl User {
    /// A new user: off, no passwords, no permissions.
    pub fn new(ctx: RuleCtx) -> User {
        User {
            enabled: false,
            nopass: false,
            skip_sanitize: false,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, ctx.allchannels_default)],
        }
    }

    /// The default user as created at start-up: everything allowed, no password.
    pub fn default_user() -> User {
        let mut u = User::new(RuleCtx::default());
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            u.apply(op.as_bytes(), RuleCtx::default())
                .expect("default user rules");
        }
        u
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Applies one rule (Redis's ACLSetUser).
    pub fn apply(&mut self, op: &[u8], ctx: RuleCtx) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if op.is_empty() {
            return Ok(());
        }
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.skip_sanitize = true;
        } else if is("sanitize-payload") {
            self.skip_sanitize = false;
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            match self.passwords.iter().position(|p| *p == hash) {
                Some(i) => {
                    self.passwords.remove(i);
                }
                None => return Err(RuleError::NoSuchPassword),
            }
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let inner = &op[1..op.len() - 1];
            let mut sel = Selector::new(false, ctx.allchannels_default);
            for word in split_args(inner).ok_or(RuleError::Syntax)? {
                sel.apply(&word)?;
            }
            self.selectors.push(sel);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            let root = &mut self.selectors[0];
            root.allkeys = false;
            root.patterns.clear();
            root.allchannels = ctx.allchannels_default;
            root.channels.clear();
            self.enabled = false;
            self.skip_sanitize = false;
            self.selectors.truncate(1);
            self.selectors[0].apply(b"-@all")?;
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Applies rules in order, all or nothing (ACL SETUSER): on error `self` is unchanged
    /// and the rule at fault is returned with the error.
    pub fn apply_all(&mut self, ops: &[Vec<u8>], ctx: RuleCtx) -> Result<(), (Vec<u8>, RuleError)> {
        let mut staged = self.clone();
        for op in ops {
            staged.apply(op, ctx).map_err(|e| (op.clone(), e))?;
        }
        *self = staged;
        Ok(())
    }

    /// Flags in ACL LIST / GETUSER order.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        v.push(if self.skip_sanitize {
            "skip-sanitize-payload"
        } else {
            "sanitize-payload"
        });
        v
    }

    /// The rules that recreate this user, as ACL LIST and ACL SAVE write them.
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.flag_names() {
            out.extend_from_slice(f.as_bytes());
            out.push(b' ');
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        for s in &self.selectors {
            if s.root {
                s.describe(&mut out);
            } else {
                out.extend_from_slice(b" (");
                s.describe(&mut out);
                out.push(b')');
            }
        }
        out
    }

    /// Whether every command, key and channel is allowed without looking (the hot path).
    pub fn unrestricted(&self) -> bool {
        self.selectors.iter().any(Selector::unrestricted)
    }

    /// Whether `password` authenticates this user (disabled users never authenticate).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(password);
        // Every stored hash is compared in full, whatever matched first.
        self.passwords.iter().fold(false, |ok, p| {
            ok | constant_time_eq(p.as_bytes(), h.as_bytes())
        })
    }

    /// Redis's ACLCheckAllUserCommandPerm: allowed if any selector allows; otherwise the
    /// most relevant denial (channel over key over command, later argument first).
    pub fn check(&self, def: &CommandDef, args: &[&[u8]]) -> Result<(), Denied> {
        let id = ids().id(def);
        let mut keys = None;
        let mut worst = Denied::Cmd;
        for s in &self.selectors {
            match s.check_cmd(def, id, args, &mut keys) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    if d.rank() > worst.rank() {
                        worst = d;
                    }
                }
            }
        }
        Err(worst)
    }

    /// Whether some selector allows the command and all keys with `spec_flags` (SORT's
    /// BY and GET patterns).
    pub fn unrestricted_key_access(
        &self,
        def: &CommandDef,
        args: &[&[u8]],
        spec_flags: u64,
    ) -> bool {
        let id = ids().id(def);
        let mut keys = None;
        self.selectors.iter().any(|s| {
            s.check_cmd(def, id, args, &mut keys).is_ok() && s.unrestricted_keys(spec_flags)
        })
    }

    /// Whether a key may be accessed with `spec_flags` by some selector.
    pub fn key_allowed(&self, key: &[u8], spec_flags: u64) -> bool {
        self.selectors.iter().any(|s| s.check_key(key, spec_flags))
    }

    /// Whether some selector allows this channel (or literal pattern).
    pub fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.check_channel(channel, is_pattern))
    }

    /// Whether any selector allows every channel.
    pub fn all_channels(&self) -> bool {
        self.selectors.iter().any(|s| s.allchannels)
    }

    /// Every channel pattern of every selector.
    pub fn all_channel_patterns(&self) -> Vec<Vec<u8>> {
        self.selectors
            .iter()
            .flat_map(|s| s.channels.iter().cloned())
            .collect()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// SHA-256 of a password in lowercase hex, as Redis stores it.
pub fn hash_password(p: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(p);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap());
        s.push(char::from_digit((b & 15) as u32, 16).unwrap());
    }
    s
}

fn valid_hash(h: &[u8]) -> Result<String, RuleError> {
    if h.len() != 64
        || !h
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

/// Redis's ACLMergeSelectorArguments: `(` ... `)` spread over several arguments become one.
/// Err carries the index of the argument that opened an unclosed selector.
pub fn merge_selector_args(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, a) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(a);
            if a.last() == Some(&b')') {
                out.push(open.take().unwrap().1);
            }
            continue;
        }
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((i, a.clone()));
            continue;
        }
        out.push(a.clone());
    }
    match open {
        Some((i, _)) => Err(i),
        None => Ok(out),
    }
}

/// Splits like Redis's sdssplitargs: spaces separate, "double" (with escapes) and 'single'
/// quotes group. None on unbalanced quotes.
pub fn split_args(s: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    // Redis splits a C string: a NUL byte ends the input. (Found by the acl_rules fuzz
    // target: a NUL ended a word without being consumed, and the loop pushed empty words
    // until memory ran out, so `ACL SETUSER u "(\0)"` killed the server.)
    let n = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    loop {
        while i < n && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                if s[i] == b'\\'
                    && i + 3 < n
                    && s[i + 1] == b'x'
                    && s[i + 2].is_ascii_hexdigit()
                    && s[i + 3].is_ascii_hexdigit()
                {
                    let h = |c: u8| (c as char).to_digit(16).unwrap() as u8;
                    cur.push(h(s[i + 2]) * 16 + h(s[i + 3]));
                    i += 3;
                } else if s[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match s[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if s[i] == b'"' {
                    if i + 1 < n && !s[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(s[i]);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                if s[i] == b'\\' && i + 1 < n && s[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if s[i] == b'\'' {
                    if i + 1 < n && !s[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(s[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match s[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_nul_byte_ends_the_split_as_in_redis() {
        assert_eq!(split_args(b"\0"), Some(vec![]));
        assert_eq!(split_args(b"0\0\0 ~a"), Some(vec![b"0".to_vec()]));
        assert_eq!(
            split_args(b"+get ~k\0x"),
            Some(vec![b"+get".to_vec(), b"~k".to_vec()])
        );
        let ctx = RuleCtx {
            allchannels_default: false,
        };
        let mut user = User::new(ctx);
        assert!(user.apply(b"(\0)", ctx).is_ok());
        assert_eq!(user.selectors.len(), 2);
    }

    /// What the acl_rules fuzz target checks: the rules in `data` (split at spaces) leave a
    /// user whose description loads back to the same description; returns both.
    fn fuzz_round_trip(data: &[u8]) -> Option<(String, String)> {
        let ctx = RuleCtx {
            allchannels_default: data.first().is_some_and(|b| b & 1 == 1),
        };
        let ops: Vec<Vec<u8>> = data.split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
        let ops = merge_selector_args(&ops).ok()?;
        let mut user = User::new(ctx);
        let _ = user.apply_all(&ops, ctx);
        for op in &ops {
            let _ = user.apply(op, ctx);
        }
        let text = user.describe();
        if user
            .selectors
            .iter()
            .any(Selector::lists_star_among_patterns)
        {
            return None;
        }
        let words: Vec<Vec<u8>> = text
            .split(|&c| c == b' ')
            .filter(|w| !w.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        let merged = merge_selector_args(&words).ok()?;
        let mut again = User::new(ctx);
        again.apply_all(&merged, ctx).ok()?;
        Some((
            String::from_utf8_lossy(&text).into_owned(),
            String::from_utf8_lossy(&again.describe()).into_owned(),
        ))
    }

    #[test]
    fn a_star_pattern_among_others_lists_as_redis_and_loads_as_allkeys() {
        let data: Vec<u8> = [
            &b"\x81n   noe  2~o noo nopASn  +go\x00\x00\x00\x00A>n  &\x06  noe   ~ nopASn  +go"[..],
            &b"\x00\x00(;\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x00()\xed\x85{\x00\x00\x0a\x0a"[..],
            &b"\x0aon >o\x0a\x0a\x0a *n >pg*e* (+se\x89 ~s*) &z*pw ~a*  R~r*\xfe\xff\xff%R~r* %"[..],
            &b"WR~*  (+set(+Dset +g~s*) & (+sset ~s*) "[..],
        ]
        .concat();
        // The user's keys are `~ ~a* %RW~*` (the last from `%WR~*`): Redis 7.2.4 lists them
        // as `~ ~a* ~*`, and `~*` loads back as allkeys. The target leaves such users out.
        let ctx = RuleCtx {
            allchannels_default: true,
        };
        let ops: Vec<Vec<u8>> = data.split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
        let ops = merge_selector_args(&ops).unwrap();
        let mut u = User::new(ctx);
        let _ = u.apply_all(&ops, ctx);
        for op in &ops {
            let _ = u.apply(op, ctx);
        }
        assert_eq!(
            String::from_utf8_lossy(&u.selectors[0].describe_keys()),
            "~ ~a* ~*"
        );
        assert!(u.selectors[0].lists_star_among_patterns());
        assert_eq!(fuzz_round_trip(&data), None);
        // The same keys on their own, with what Redis 7.2.4 answers (ACL SETUSER, ACL LIST).
        let u = user("off ~a* %RW~* &* -@all");
        assert_eq!(list(&u), "off sanitize-payload ~a* ~* &* -@all");
        assert!(u.selectors[0].lists_star_among_patterns());
        assert_eq!(list(&user(&list(&u))), "off sanitize-payload ~* &* -@all");
        let u = user("off %R~x %W~x &* -@all");
        assert_eq!(list(&u), "off sanitize-payload ~x &* -@all");
        assert!(!u.selectors[0].lists_star_among_patterns());
    }

    fn user(rules: &str) -> User {
        let mut u = User::new(RuleCtx::default());
        for r in rules.split(' ').filter(|r| !r.is_empty()) {
            u.apply(r.as_bytes(), RuleCtx::default())
                .unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        u
    }

    fn list(u: &User) -> String {
        String::from_utf8(u.describe()).unwrap()
    }

    fn cmd(name: &str) -> &'static CommandDef {
        ids().lookup(name).unwrap()
    }

    #[test]
    fn default_user_description() {
        assert_eq!(
            list(&User::default_user()),
            "on nopass sanitize-payload ~* &* +@all"
        );
        assert!(User::default_user().unrestricted());
    }

    #[test]
    fn new_user_description() {
        assert_eq!(
            list(&User::new(RuleCtx::default())),
            "off sanitize-payload resetchannels -@all"
        );
    }

    #[test]
    fn command_rules_keep_order_and_replace() {
        let u = user("+@all -get +config|get -config");
        assert_eq!(u.root().describe_commands(), "+@all -get -config");
        let u = user("-@all +get +set -get");
        assert_eq!(u.root().describe_commands(), "-@all +set -get");
        let u = user("+@read -@read +select|0");
        assert_eq!(u.root().describe_commands(), "-@all -@read +select|0");
    }

    #[test]
    fn command_bits() {
        let u = user("on nopass -@all +@string +config|get ~*");
        assert!(u.check(cmd("get"), &[b"get", b"k"]).is_ok());
        assert_eq!(
            u.check(cmd("lpush"), &[b"lpush", b"k", b"v"]),
            Err(Denied::Cmd)
        );
        assert!(u
            .check(cmd("config|get"), &[b"config", b"get", b"x"])
            .is_ok());
        assert_eq!(
            u.check(cmd("config|set"), &[b"config", b"set", b"x", b"y"]),
            Err(Denied::Cmd)
        );
        // AUTH and HELLO are always allowed.
        assert!(u.check(cmd("auth"), &[b"auth", b"x"]).is_ok());
        let u = user("+select|0 ~*");
        assert!(u.check(cmd("select"), &[b"select", b"0"]).is_ok());
        assert_eq!(u.check(cmd("select"), &[b"select", b"1"]), Err(Denied::Cmd));
    }

    #[test]
    fn key_permissions() {
        let u = user("+@all %R~read* %W~write* ~rw*");
        assert!(u.check(cmd("get"), &[b"get", b"read1"]).is_ok());
        assert_eq!(
            u.check(cmd("set"), &[b"set", b"read1", b"v"]),
            Err(Denied::Key(1))
        );
        assert!(u.check(cmd("set"), &[b"set", b"write1", b"v"]).is_ok());
        assert_eq!(
            u.check(cmd("get"), &[b"get", b"write1"]),
            Err(Denied::Key(1))
        );
        assert!(u
            .check(cmd("lmove"), &[b"lmove", b"rw", b"write", b"left", b"left"])
            .is_ok());
        assert_eq!(
            u.check(cmd("copy"), &[b"copy", b"read", b"rwx"]),
            Ok(()),
            "copy reads its source"
        );
        assert_eq!(
            u.check(cmd("mget"), &[b"mget", b"read", b"x", b"y"]),
            Err(Denied::Key(2))
        );
        assert_eq!(
            list(&u),
            "off sanitize-payload %R~read* %W~write* ~rw* resetchannels +@all"
        );
    }

    #[test]
    fn channel_permissions() {
        let u = user("+@all ~* resetchannels &news.* &lit");
        assert!(u
            .check(cmd("publish"), &[b"publish", b"news.a", b"m"])
            .is_ok());
        assert_eq!(
            u.check(cmd("publish"), &[b"publish", b"x", b"m"]),
            Err(Denied::Channel(1))
        );
        assert_eq!(
            u.check(cmd("subscribe"), &[b"subscribe", b"news.1", b"zz"]),
            Err(Denied::Channel(2))
        );
        assert!(u
            .check(cmd("psubscribe"), &[b"psubscribe", b"news.*"])
            .is_ok());
        assert_eq!(
            u.check(cmd("psubscribe"), &[b"psubscribe", b"news.a*"]),
            Err(Denied::Channel(1))
        );
        assert!(u
            .check(cmd("unsubscribe"), &[b"unsubscribe", b"zz"])
            .is_ok());
    }

    #[test]
    fn selectors_any_allows() {
        let mut u = user("on -@all +get ~a*");
        u.apply(b"(+set ~b*)", RuleCtx::default()).unwrap();
        assert!(u.check(cmd("get"), &[b"get", b"a1"]).is_ok());
        assert!(u.check(cmd("set"), &[b"set", b"b1", b"v"]).is_ok());
        assert_eq!(
            u.check(cmd("set"), &[b"set", b"a1", b"v"]),
            Err(Denied::Key(1))
        );
        assert_eq!(u.check(cmd("get"), &[b"get", b"b1"]), Err(Denied::Key(1)));
        assert_eq!(
            list(&u),
            "on sanitize-payload ~a* resetchannels -@all +get (~b* resetchannels -@all +set)"
        );
        u.apply(b"clearselectors", RuleCtx::default()).unwrap();
        assert_eq!(u.selectors.len(), 1);
    }

    #[test]
    fn rule_errors() {
        let mut u = User::new(RuleCtx::default());
        let ctx = RuleCtx::default();
        assert_eq!(u.apply(b"+nosuch", ctx), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"+@nosuch", ctx), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"-select|0", ctx), Err(RuleError::Unknown));
        assert_eq!(
            u.apply(b"+config|get|x", ctx),
            Err(RuleError::SubcommandFirstArg)
        );
        assert_eq!(u.apply(b"+debug|", ctx), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"bogus", ctx), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"#abc", ctx), Err(RuleError::BadHash));
        assert_eq!(u.apply(b"<nope", ctx), Err(RuleError::NoSuchPassword));
        assert_eq!(u.apply(b"%X~a", ctx), Err(RuleError::Syntax));
        u.apply(b"allkeys", ctx).unwrap();
        assert_eq!(u.apply(b"~a", ctx), Err(RuleError::KeysAfterAll));
        u.apply(b"allchannels", ctx).unwrap();
        assert_eq!(u.apply(b"&a", ctx), Err(RuleError::ChannelsAfterAll));
        assert_eq!(u.apply(b"(on)", ctx), Err(RuleError::Syntax));
    }

    #[test]
    fn passwords() {
        let u = user("on >secret >other <other");
        assert!(u.password_ok(b"secret"));
        assert!(!u.password_ok(b"other"));
        assert_eq!(u.passwords, vec![hash_password(b"secret")]);
        let h = hash_password(b"x");
        let mut u = user("on");
        u.apply(format!("#{h}").as_bytes(), RuleCtx::default())
            .unwrap();
        assert!(u.password_ok(b"x"));
        let u = user("off >x");
        assert!(!u.password_ok(b"x"), "disabled users never authenticate");
        assert_eq!(
            hash_password(b"foo"),
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
    }

    #[test]
    fn apply_all_is_atomic() {
        let mut u = user("on >a");
        let before = u.clone();
        let ops: Vec<Vec<u8>> = vec![b"+get".to_vec(), b"+nosuch".to_vec()];
        assert_eq!(
            u.apply_all(&ops, RuleCtx::default()),
            Err((b"+nosuch".to_vec(), RuleError::Unknown))
        );
        assert_eq!(u, before);
    }

    #[test]
    fn merge_selectors() {
        let a: Vec<Vec<u8>> = ["on", "(+get", "~a*)", "(+set)"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(
            merge_selector_args(&a).unwrap(),
            vec![b"on".to_vec(), b"(+get ~a*)".to_vec(), b"(+set)".to_vec()]
        );
        let b: Vec<Vec<u8>> = ["on", "(+get"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(merge_selector_args(&b), Err(1));
    }

    proptest! {
        /// Any byte string is accepted or refused as a rule, never a panic; an accepted
        /// rule leaves a user whose description, applied to a fresh user, describes the same.
        #[test]
        fn any_rule_round_trips(ops in proptest::collection::vec(
            prop_oneof![
                // Quotes and parentheses inside patterns do not survive ACL LIST in Redis
                // either; everything else must.
                proptest::collection::vec(
                    any::<u8>().prop_filter("not a quote", |c| !b"\"'()".contains(c)),
                    0..12,
                ),
                proptest::sample::select(vec![
                    "on", "off", "nopass", "resetpass", ">p", "<p", "+@all", "-@all", "+@read",
                    "-@write", "+get", "-get", "+config|get", "-config", "+select|0", "~a*",
                    "%R~r*", "%W~w*", "allkeys", "resetkeys", "&c*", "allchannels",
                    "resetchannels", "(+set ~s*)", "clearselectors", "reset",
                ]).prop_map(|s| s.as_bytes().to_vec()),
            ],
            0..12,
        )) {
            let ctx = RuleCtx::default();
            let mut u = User::new(ctx);
            for op in &ops {
                let _ = u.apply(op, ctx);
            }
            let text = u.describe();
            let mut again = User::new(ctx);
            let words: Vec<Vec<u8>> =
                text.split(|&c| c == b' ').filter(|w| !w.is_empty()).map(<[u8]>::to_vec).collect();
            let merged = merge_selector_args(&words).unwrap();
            for w in &merged {
                again.apply(w, ctx).unwrap();
            }
            let again_text = again.describe();
            prop_assert_eq!(
                String::from_utf8_lossy(&again_text),
                String::from_utf8_lossy(&text)
            );
            for (a, b) in again.selectors.iter().zip(&u.selectors) {
                prop_assert_eq!(a.allowed, b.allowed);
            }
        }
    }
}
