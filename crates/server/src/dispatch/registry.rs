//! The server's view of the command table: which handler runs each command, and how the
//! command locks the keyspace. Families register their handlers here (see `crate::cmd`); the
//! table itself (names, arity, flags, key specs) is `cinnabar_commands`, shared with the CLI.

use std::collections::HashMap;

use cinnabar_commands::{self as commands, CommandDef};
use cinnabar_engine::{Error, Result};

use super::Ctx;

/// A command implementation. Writes its reply into `ctx.out`; an `Err` is written as the
/// error reply by the dispatcher (and counted in `failed_calls`).
pub type Handler = fn(&mut Ctx<'_, '_>) -> Result<()>;

/// Which shards a command locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The shards of the keys named by the command's key specs (none for keyless commands).
    Keys,
    /// Every shard: commands that see the whole keyspace (KEYS, SCAN, FLUSHALL, SWAPDB...).
    All,
    /// Scripts (EVAL, FCALL...): the script mutex, then the shards of the declared keys; the
    /// script may lock more as it runs (see `crate::scripting`).
    Script,
    /// Server commands that never look at the keyspace (TIME, LASTSAVE, COMMAND): no lock,
    /// also inside a transaction or a script.
    Nothing,
}

pub struct CmdEntry {
    pub def: &'static CommandDef,
    pub handler: Handler,
    pub access: Access,
    /// Index into the per-worker statistics arrays.
    pub idx: usize,
    /// Inside EXEC or a script this command needs every shard: keyspace-wide commands, and
    /// keyless server commands (INFO, CONFIG, DEBUG, MEMORY...) that walk the shards on their
    /// own, which must not take locks out of order while the transaction holds some.
    pub tx_locks_all: bool,
    /// Inside EXEC this command needs the server alone (see `dispatch::gate`): a keyless
    /// command that changes or reads server state other clients' commands depend on, so
    /// that no command of another client may run between it and the rest of the
    /// transaction, as in single-threaded Redis. Decided from the table: keyless, not a
    /// script, and flagged `admin` or `write`, or in the `@dangerous` or `@scripting` ACL
    /// category (CONFIG, REPLICAOF, CLIENT KILL, DEBUG, FAILOVER, ACL, FLUSHALL, SCRIPT
    /// FLUSH, FUNCTION LOAD, INFO...). Pure keyless commands (PING, ECHO, TIME, SELECT,
    /// PUBLISH, CLIENT SETNAME...) stay cheap.
    pub tx_exclusive: bool,
}

/// The server's view of the command table: every command we implement, by full name.
#[derive(Default)]
pub struct Registry {
    cmds: Vec<CmdEntry>,
    by_name: HashMap<Box<[u8]>, usize, foldhash::fast::RandomState>,
    /// The per-command lookup: entry index + 1 (0: free) by [`quick_hash`] of the name's
    /// [`NameKey`], linear probing, kept at most a quarter full. A hit is one compare of two
    /// words and a length, instead of lower-casing into a buffer, hashing it fully and
    /// probing a map (see docs/ARCHITECTURE.md "Where a request's cycles go").
    quick: Vec<u16>,
    /// The keys of the full names, by entry index, for `quick`'s compares.
    keys: Vec<NameKey>,
    /// Full names (lower case), by entry index: the rest of a name longer than a key holds.
    names: Vec<Box<[u8]>>,
}

const QUICK_BITS: u32 = 12;
const QUICK_SLOTS: usize = 1 << QUICK_BITS;

/// A command name as two words and its length: its first 16 bytes, ASCII letters
/// lower-cased, packed little-endian with zero bytes after the end. Equal keys mean equal
/// names, whatever their case, for names of at most 16 bytes (all but a few commands);
/// longer names are compared in full after their keys match.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct NameKey {
    lo: u64,
    hi: u64,
    len: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Lower-cases the ASCII letters of eight packed bytes at once (other bytes unchanged).
#[inline(always)]
fn lower8(x: u64) -> u64 {
    let low7 = x & (0x7f * ONES);
    // A byte's top bit is set in `ge_a` when its low 7 bits are >= 'A', in `gt_z` when they
    // are > 'Z' (no carry crosses bytes: each sum stays below 0x100).
    let ge_a = low7 + (0x80 - u64::from(b'A')) * ONES;
    let gt_z = low7 + (0x80 - u64::from(b'Z') - 1) * ONES;
    let upper = ge_a & !gt_z & !x & (0x80 * ONES);
    x | (upper >> 2)
}

#[inline(always)]
fn read_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[inline(always)]
fn read_u32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap()))
}

/// Packs up to 8 bytes (`b.len()` in 1..=8) little-endian, zero bytes after them, with at
/// most two loads (overlapping reads, shifted so each byte lands once at its place).
#[inline(always)]
fn pack(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 4 {
        let tail = read_u32(b, n - 4) >> ((8 - n) * 8);
        read_u32(b, 0) | tail << 32
    } else {
        u64::from(b[0])
            | u64::from(b[n / 2]) << (8 * (n / 2))
            | u64::from(b[n - 1]) << (8 * (n - 1))
    }
}

impl NameKey {
    /// The key of a non-empty name.
    #[inline]
    fn of(name: &[u8]) -> NameKey {
        let len = name.len();
        let (lo, hi) = if len <= 8 {
            (pack(name), 0)
        } else if len < 16 {
            (
                read_u64(name, 0),
                read_u64(name, len - 8) >> ((16 - len) * 8),
            )
        } else {
            (read_u64(name, 0), read_u64(name, 8))
        };
        NameKey {
            lo: lower8(lo),
            hi: lower8(hi),
            len,
        }
    }

    /// Fibonacci hashing of the key: the top bits of the product mix every input bit.
    #[inline]
    fn quick_hash(&self) -> usize {
        let k = self.lo ^ self.hi.rotate_left(29) ^ self.len as u64;
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - QUICK_BITS)) as usize
    }
}

impl Registry {
    /// An empty registry; `crate::cmd::registry()` fills it with every family's commands.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn insert(&mut self, full_name: &str, handler: Handler, access: Access) {
        let def = match full_name.split_once('|') {
            None => commands::lookup(full_name.as_bytes()),
            Some((parent, sub)) => commands::lookup(parent.as_bytes())
                .and_then(|p| commands::lookup_sub(p, sub.as_bytes())),
        }
        .unwrap_or_else(|| panic!("'{full_name}' is not in the command table"));
        let idx = self.cmds.len();
        let tx_locks_all = access == Access::All
            || (access == Access::Keys
                && def.first_key <= 0
                && def.flags & cinnabar_commands::flags::MOVABLE_KEYS == 0
                && def.group == cinnabar_commands::Group::Server);
        let tx_exclusive = access != Access::Script
            && def.first_key <= 0
            && def.flags & cinnabar_commands::flags::MOVABLE_KEYS == 0
            && (def.flags & (cinnabar_commands::flags::ADMIN | cinnabar_commands::flags::WRITE)
                != 0
                || def.acl
                    & (cinnabar_commands::acl::DANGEROUS | cinnabar_commands::acl::SCRIPTING)
                    != 0);
        self.cmds.push(CmdEntry {
            def,
            handler,
            access,
            idx,
            tx_locks_all,
            tx_exclusive,
        });
        let prev = self.by_name.insert(full_name.as_bytes().into(), idx);
        assert!(prev.is_none(), "'{full_name}' registered twice");
        assert!(
            idx < QUICK_SLOTS / 4,
            "too many commands for the quick lookup"
        );
        if self.quick.is_empty() {
            self.quick = vec![0; QUICK_SLOTS];
        }
        let lower = full_name
            .to_ascii_lowercase()
            .into_bytes()
            .into_boxed_slice();
        let key = NameKey::of(&lower);
        let mut pos = key.quick_hash();
        while self.quick[pos] != 0 {
            pos = (pos + 1) & (QUICK_SLOTS - 1);
        }
        self.quick[pos] = idx as u16 + 1;
        self.keys.push(key);
        self.names.push(lower);
    }

    /// Registers a command that locks the shards of its keys.
    pub fn add(&mut self, full_name: &str, handler: Handler) {
        self.insert(full_name, handler, Access::Keys);
    }

    /// Registers a script command (EVAL, FCALL ...).
    pub fn add_script(&mut self, full_name: &str, handler: Handler) {
        self.insert(full_name, handler, Access::Script);
    }

    /// Registers a server command that never touches the keyspace (see [`Access::Nothing`]).
    pub fn add_nothing(&mut self, full_name: &str, handler: Handler) {
        self.insert(full_name, handler, Access::Nothing);
    }

    /// Registers a command that locks the whole keyspace.
    pub fn add_all(&mut self, full_name: &str, handler: Handler) {
        self.insert(full_name, handler, Access::All);
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    pub fn entries(&self) -> &[CmdEntry] {
        &self.cmds
    }

    /// The entry at a registry index (as stored in queued commands and statistics).
    pub fn at(&self, idx: usize) -> &CmdEntry {
        &self.cmds[idx]
    }

    /// Looks up by full name ("get", "config|get"), case-insensitively, without allocating.
    #[inline]
    pub fn get(&self, name: &[u8]) -> Option<&CmdEntry> {
        if name.is_empty() || self.quick.is_empty() {
            return None;
        }
        let key = NameKey::of(name);
        let mut pos = key.quick_hash();
        loop {
            let i = self.quick[pos] as usize;
            if i == 0 {
                return None;
            }
            if self.keys[i - 1] == key
                && (key.len <= 16 || self.names[i - 1].eq_ignore_ascii_case(name))
            {
                return Some(&self.cmds[i - 1]);
            }
            pos = (pos + 1) & (QUICK_SLOTS - 1);
        }
    }

    /// True when the table has the command (implemented or not); used for the unknown
    /// subcommand error of container commands.
    pub fn is_container(name: &[u8]) -> bool {
        commands::lookup(name).is_some_and(|d| !d.subcommands.is_empty())
    }

    /// Finds the entry for argv: the command, or for container commands the subcommand.
    pub fn resolve(&self, args: &[&[u8]]) -> std::result::Result<&CmdEntry, Error> {
        let name = args[0];
        // "config|get" is a name inside the table (a subcommand's), never one a client may
        // send.
        let top = self.get(name).filter(|e| e.def.container.is_none());
        let is_container = match top {
            Some(e) => !e.def.subcommands.is_empty(),
            None => Registry::is_container(name),
        };
        if is_container && args.len() >= 2 {
            // "container|sub", on the stack when short (every name in the table is).
            let len = name.len() + 1 + args[1].len();
            let mut short = [0u8; 64];
            let mut long = Vec::new();
            let full: &mut [u8] = if len <= short.len() {
                &mut short[..len]
            } else {
                long.resize(len, 0);
                &mut long
            };
            full[..name.len()].copy_from_slice(name);
            full[name.len()] = b'|';
            full[name.len() + 1..].copy_from_slice(args[1]);
            if let Some(e) = self.get(full) {
                return Ok(e);
            }
            return Err(sanitized(format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                trunc(args[1], 128),
                String::from_utf8_lossy(name).to_uppercase()
            )));
        }
        match top {
            Some(e) => Ok(e),
            None if is_container => {
                // A container we know but do not implement: its arity error comes first.
                Err(Error::WrongArity(
                    String::from_utf8_lossy(name).to_lowercase(),
                ))
            }
            None => {
                let mut list = String::new();
                for a in &args[1..] {
                    if list.len() >= 128 {
                        break;
                    }
                    let room = 128 - list.len();
                    list.push('\'');
                    list.push_str(&trunc(a, room));
                    list.push_str("' ");
                }
                Err(sanitized(format!(
                    "ERR unknown command '{}', with args beginning with: {}",
                    trunc(name, 128),
                    list
                )))
            }
        }
    }
}

fn trunc(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

/// Redis replaces CR and LF in error text, which may echo user input, by spaces.
fn sanitized(s: String) -> Error {
    Error::msg(s.replace(['\r', '\n'], " "))
}

#[cfg(test)]
mod quick_tests {
    use super::NameKey;

    /// A name's key lower-cases exactly the ASCII letters, every byte value at every place,
    /// and keys of names that differ otherwise differ.
    #[test]
    fn name_keys_fold_only_ascii_letters() {
        for len in 1..=20usize {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut name = vec![b'k'; len];
                    name[at] = b;
                    let mut lower = name.clone();
                    lower[at] = b.to_ascii_lowercase();
                    let key_lower = NameKey::of(&lower);
                    assert!(NameKey::of(&name) == key_lower, "{name:?}");
                    let mut other = lower.clone();
                    other[at] = b'k';
                    if other != lower && at < 16 {
                        assert!(NameKey::of(&other) != key_lower, "{name:?}");
                    }
                }
            }
        }
        assert!(NameKey::of(b"get") != NameKey::of(b"get\0"));
        assert!(NameKey::of(b"a") != NameKey::of(b"a\0\0\0\0\0\0\0\0"));
    }

    /// The quick lookup finds exactly what the full-name map holds, in any case.
    #[test]
    fn quick_lookup_agrees_with_the_name_map() {
        let r = crate::cmd::registry();
        for (name, &idx) in &r.by_name {
            let upper = name.to_ascii_uppercase();
            let mut mixed = name.to_vec();
            if let Some(b) = mixed.first_mut() {
                *b = b.to_ascii_uppercase();
            }
            for n in [&name[..], &upper, &mixed] {
                assert_eq!(
                    r.get(n).map(|e| e.idx),
                    Some(idx),
                    "{}",
                    String::from_utf8_lossy(n)
                );
            }
        }
        for miss in [
            &b""[..],
            b"g",
            b"gett",
            b"ge",
            b"get ",
            b"[et",
            b"config|",
            b"\xff\x00",
        ] {
            assert!(r.get(miss).is_none(), "{miss:?}");
        }
        let long = vec![b'a'; 300];
        assert!(r.get(&long).is_none());
        // Few collisions: on average a name is found within 1.25 probes.
        let probes: usize = r
            .names
            .iter()
            .map(|n| {
                let mut pos = super::NameKey::of(n).quick_hash();
                let mut k = 1;
                while r.names[r.quick[pos] as usize - 1] != *n {
                    pos = (pos + 1) & (super::QUICK_SLOTS - 1);
                    k += 1;
                }
                k
            })
            .sum();
        assert!(
            probes * 4 < r.names.len() * 5,
            "{probes} probes for {}",
            r.names.len()
        );
    }
}
