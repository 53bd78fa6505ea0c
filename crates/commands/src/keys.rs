//! Key extraction from a command line, driven by the key specs.
//!
//! This follows Redis 7.2's `getKeysUsingKeySpecs` (db.c) with one
//! deliberate difference: Redis gives up on the whole command when a spec is
//! `unknown` or `INCOMPLETE` and calls a hand-written per-command procedure
//! instead. We keep the keys the usable specs give (Redis's
//! `GET_KEYSPEC_RETURN_PARTIAL` mode) and add the two per-command
//! procedures whose specs genuinely cannot find a key that is written to:
//! `SORT ... STORE dst` and `MIGRATE ... KEYS k1 k2`, and the destination of
//! `GEORADIUS[BYMEMBER] ... STORE a STORE b` (the command writes the last
//! one, the specs find the first). For every other command Redis's
//! procedures find exactly what the specs find.
//!
//! Two further differences concern malformed input, where Redis would fall
//! back to a procedure that returns no keys and let the command itself
//! fail: a `numkeys` of 0 yields no keys from that spec (not an error), and
//! a bad `numkeys` is reported with a specific [`KeysError`] so callers can
//! reply the way the command would.

use crate::{keyspec_flags, BeginSearch, CommandDef, FindKeys};

/// Why the key positions of a command line cannot be determined.
///
/// In every case the command itself would reject the arguments too.
/// `COMMAND GETKEYS` replies [`KeysError::InvalidArguments`]'s message for
/// all of them, as Redis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// A key spec points past the end of the arguments (or an empty range).
    #[error("ERR Invalid arguments specified for command")]
    InvalidArguments,
    /// The `numkeys` argument is not an integer.
    #[error("ERR value is not an integer or out of range")]
    NumKeysNotInteger,
    /// The `numkeys` argument is negative.
    #[error("ERR Number of keys can't be negative")]
    NegativeNumKeys,
    /// `numkeys` asks for more keys than there are arguments.
    #[error("ERR Number of keys can't be greater than number of args")]
    TooManyKeys,
}

impl KeysError {
    /// The error reply text (including the `ERR` prefix), as bytes for
    /// `ReplyBuf::error`.
    pub fn message(&self) -> &'static [u8] {
        match self {
            KeysError::InvalidArguments => b"ERR Invalid arguments specified for command",
            KeysError::NumKeysNotInteger => b"ERR value is not an integer or out of range",
            KeysError::NegativeNumKeys => b"ERR Number of keys can't be negative",
            KeysError::TooManyKeys => b"ERR Number of keys can't be greater than number of args",
        }
    }
}

/// Positions in `argv` (argv\[0\] is the command name; for subcommands
/// argv\[1\] is the subcommand name) of the keys of this command line, in key
/// spec order, written into `out` (which is cleared first and left empty on
/// error).
///
/// `argv` must already have passed the arity check. Positions may repeat if
/// the same argument is matched by two specs; shard channels (`NOT_KEY`
/// specs) are not keys and are skipped.
pub fn key_positions<A: AsRef<[u8]>>(
    def: &CommandDef,
    argv: &[A],
    out: &mut Vec<usize>,
) -> Result<(), KeysError> {
    out.clear();
    let result = find_keys(def, argv, |pos, _| out.push(pos));
    if result.is_err() {
        out.clear();
    }
    result
}

/// Like [`key_positions`], also giving each key's [`keyspec_flags`] (for
/// `COMMAND GETKEYSANDFLAGS` and ACL key permission checks).
pub fn key_positions_with_flags<A: AsRef<[u8]>>(
    def: &CommandDef,
    argv: &[A],
    out: &mut Vec<(usize, u64)>,
) -> Result<(), KeysError> {
    out.clear();
    let result = find_keys(def, argv, |pos, flags| out.push((pos, flags)));
    if result.is_err() {
        out.clear();
    }
    result
}

fn find_keys<A: AsRef<[u8]>>(
    def: &CommandDef,
    argv: &[A],
    mut emit: impl FnMut(usize, u64),
) -> Result<(), KeysError> {
    // i64 throughout: spec offsets are small, but numkeys is user input.
    let argc = argv.len() as i64;
    let arg = |i: i64| argv[i as usize].as_ref();

    if def.name == "migrate" {
        return migrate_keys(argv, def.key_specs[0].flags, emit);
    }

    for spec in def.key_specs {
        if spec.flags & keyspec_flags::NOT_KEY != 0 {
            continue;
        }
        let mut first = match spec.begin_search {
            BeginSearch::Index(pos) => i64::from(pos),
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => match find_keyword(argv, keyword, start_from) {
                Some(i) => i + 1,
                // No keyword, no keys from this spec (e.g. GEORADIUS without STORE).
                None => continue,
            },
            // Only a per-command procedure can find these (SORT BY/GET).
            BeginSearch::Unknown => continue,
        };
        let (last, step) = match spec.find_keys {
            FindKeys::Range {
                last_key,
                step,
                limit,
            } => {
                let last_key = i64::from(last_key);
                let last = if last_key >= 0 {
                    first + last_key
                } else if limit == 0 {
                    argc + last_key
                } else {
                    // "The first 1/limit of what follows", e.g. the stream
                    // names before the ids in XREAD ... STREAMS k1 k2 id1 id2.
                    first + ((argc - first) / i64::from(limit) + last_key)
                };
                (last, i64::from(step))
            }
            FindKeys::Keynum {
                keynum_idx,
                first_key,
                step,
            } => {
                let idx = first + i64::from(keynum_idx);
                if idx >= argc {
                    return Err(KeysError::InvalidArguments);
                }
                let numkeys = parse_i64(arg(idx)).ok_or(KeysError::NumKeysNotInteger)?;
                if numkeys < 0 {
                    return Err(KeysError::NegativeNumKeys);
                }
                first += i64::from(first_key);
                if numkeys == 0 {
                    continue;
                }
                let last = first.saturating_add(numkeys - 1);
                if last >= argc {
                    return Err(KeysError::TooManyKeys);
                }
                (last, i64::from(step))
            }
            FindKeys::Unknown => continue,
        };
        if first >= argc || last >= argc || last < first || step <= 0 {
            return Err(KeysError::InvalidArguments);
        }
        let mut i = first;
        while i <= last {
            emit(i as usize, spec.flags);
            i += step;
        }
    }

    if def.name == "sort" {
        sort_store_key(argv, emit);
    } else if def.name == "georadius" || def.name == "georadiusbymember" {
        georadius_store_key(def, argv, emit);
    }
    Ok(())
}

/// GEORADIUS and GEORADIUSBYMEMBER store into the key after the *last* STORE
/// or STOREDIST option (georadiusGeneric; Redis's `georadiusGetKeys` scans
/// the same way), while the keyword specs find the first STORE and the first
/// STOREDIST. When the option is repeated, that destination is added, so that
/// it is locked and checked by ACLs like the others (Redis's COMMAND GETKEYS
/// lists only what the specs find there).
fn georadius_store_key<A: AsRef<[u8]>>(
    def: &CommandDef,
    argv: &[A],
    mut emit: impl FnMut(usize, u64),
) {
    let mut last = None;
    let mut i = 5;
    while i < argv.len() {
        let a = argv[i].as_ref();
        if (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"))
            && i + 1 < argv.len()
        {
            last = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    let Some(pos) = last else { return };
    let found_by_specs = def.key_specs.iter().any(|spec| match spec.begin_search {
        BeginSearch::Keyword {
            keyword,
            start_from,
        } => find_keyword(argv, keyword, start_from) == Some(pos as i64 - 1),
        _ => false,
    });
    if !found_by_specs {
        emit(pos, keyspec_flags::OW | keyspec_flags::UPDATE);
    }
}

/// Redis's keyword search for `BeginSearch::Keyword`: forwards from
/// `start_from` to the second-to-last argument, or backwards from
/// `argc + start_from` down to argv\[2\] when negative. The end point itself
/// is never examined (a keyword there could not be followed by a key).
fn find_keyword<A: AsRef<[u8]>>(argv: &[A], keyword: &str, start_from: i32) -> Option<i64> {
    let argc = argv.len() as i64;
    let start_from = i64::from(start_from);
    let (start, end) = if start_from > 0 {
        (start_from, argc - 1)
    } else {
        (argc + start_from, 1)
    };
    let forward = start <= end;
    let mut i = start;
    while i != end {
        if i >= argc || i < 1 {
            break;
        }
        if argv[i as usize]
            .as_ref()
            .eq_ignore_ascii_case(keyword.as_bytes())
        {
            return Some(i);
        }
        i += if forward { 1 } else { -1 };
    }
    None
}

/// The destination of `SORT key ... STORE dst`, which may appear anywhere
/// among the options (Redis's `sortGetKeys`): skip the operands of LIMIT,
/// GET and BY so that e.g. `GET store` is not mistaken for the option, and
/// let the last STORE win.
fn sort_store_key<A: AsRef<[u8]>>(argv: &[A], mut emit: impl FnMut(usize, u64)) {
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i].as_ref();
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(pos) = store {
        emit(pos, keyspec_flags::OW | keyspec_flags::UPDATE);
    }
}

/// `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
/// [AUTH2 user pw] [KEYS k ...]` (Redis's `migrateGetKeys`): either the
/// single key at argv\[3\] or, when the KEYS option is present, the keys
/// after it (argv\[3\] must then be empty).
fn migrate_keys<A: AsRef<[u8]>>(
    argv: &[A],
    flags: u64,
    mut emit: impl FnMut(usize, u64),
) -> Result<(), KeysError> {
    if argv.len() < 6 {
        return Err(KeysError::InvalidArguments);
    }
    let mut i = 6;
    while i < argv.len() {
        let a = argv[i].as_ref();
        if a.eq_ignore_ascii_case(b"keys") {
            if !argv[3].as_ref().is_empty() {
                return Err(KeysError::InvalidArguments);
            }
            (i + 1..argv.len()).for_each(|pos| emit(pos, flags));
            return Ok(());
        } else if a.eq_ignore_ascii_case(b"auth") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            i += 2;
        }
        i += 1;
    }
    emit(3, flags);
    Ok(())
}

/// Strict decimal parse, like Redis's `string2ll`: optional `-`, no `+`,
/// no leading zeros or spaces, no overflow.
fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        // Accumulate negatively so that i64::MIN parses.
        value = value.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}
