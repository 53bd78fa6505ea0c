//! Glob-style pattern matching with the exact semantics of Redis 7.2's
//! `stringmatchlen()` (used by `KEYS`, `SCAN ... MATCH`, `PSUBSCRIBE`, ...).
//!
//! Supported syntax:
//!
//! * `*` matches any sequence of bytes (runs of `*` are collapsed);
//! * `?` matches exactly one byte;
//! * `[abc]`, `[^abc]`, `[a-z]` match one byte against a class.  Ranges may be
//!   written backwards (`[z-a]` is the same as `[a-z]`), `\x` inside a class
//!   is the literal `x`, and a class without a closing `]` extends to the end
//!   of the pattern (it still matches exactly one byte);
//! * `\x` matches the literal byte `x`; a trailing lone `\` matches `\`.
//!
//! Redis quirks reproduced on purpose (they are observable by clients):
//!
//! * An **empty subject never matches a non-empty pattern**, not even `*`.
//!   (`KEYS *` and `SCAN` without `MATCH` bypass the matcher in Redis, so the
//!   caller should do the same: see [`is_match_all`].)
//! * Range bounds and the subject byte are compared as C `char`, which is
//!   signed on x86-64: bytes `0x80..=0xFF` sort *below* ASCII inside a range.
//! * With `nocase`, only ASCII letters are folded (C locale `tolower`); a byte
//!   escaped inside a class (`[\A]`) is always compared case-sensitively.
//! * Since Redis 7.2.6, a match that has to go through more than 1000 nested
//!   `*` groups fails (protection against abusive patterns).  We apply the same
//!   limit so results are identical.
//!
//! Redis matches recursively (one stack frame per `*`) with an early-exit flag
//! to avoid exponential blow-up.  We use the classic iterative algorithm with a
//! single backtrack point instead: it is `O(pattern * subject)`, needs no stack,
//! and produces the same answers (proven equivalent in the comments of
//! [`glob_match`] and checked by a property test against a literal recursive
//! reference).

/// Maximum number of nested `*` recursions Redis (>= 7.2.6) allows.
const MAX_STAR_NESTING: usize = 1000;

/// Returns true if `string` matches the glob `pattern` exactly as Redis 7.2
/// `stringmatchlen(pattern, string, nocase)` would.
///
/// Never panics and runs in `O(pattern.len() * string.len())` time in the
/// worst case, without recursion.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    // Redis' main loop only runs while both pattern and string are non-empty,
    // so an empty subject matches only the empty pattern (even "*" fails).
    if string.is_empty() {
        return pattern.is_empty();
    }
    // Every `*` group that is followed by more pattern costs Redis one level
    // of recursion on any successful path; beyond the limit Redis can never
    // report a match.
    if nested_star_groups(pattern) > MAX_STAR_NESTING {
        return false;
    }

    // For a non-empty subject, Redis' recursive definition is equivalent to
    // the textbook one ("* matches any sequence, including the empty one";
    // the only case where Redis' `*` loop does not try the empty remainder is
    // when the rest of the pattern starts with a non-star token and therefore
    // cannot match an empty string anyway).  For that definition, greedy
    // matching that only ever backtracks to the most recent `*` is exact: a
    // later `*` can absorb whatever a longer match of an earlier `*` would
    // have shifted, which is also the argument behind Redis'
    // `skipLongerMatches` flag.
    let mut pi = 0usize;
    let mut si = 0usize;
    // (pattern index just after the most recent `*` run, subject index that
    // run is currently assumed to stop at)
    let mut backtrack: Option<(usize, usize)> = None;

    loop {
        if si == string.len() {
            // Subject exhausted: only trailing stars may remain.
            while pattern.get(pi) == Some(&b'*') {
                pi += 1;
            }
            if pi == pattern.len() {
                return true;
            }
        } else if let Some(&pc) = pattern.get(pi) {
            if pc == b'*' {
                while pattern.get(pi) == Some(&b'*') {
                    pi += 1;
                }
                if pi == pattern.len() {
                    return true; // trailing `*` swallows the rest
                }
                backtrack = Some((pi, si));
                continue;
            }
            let (matched, next) = match_token(pattern, pi, string[si], nocase);
            if matched {
                pi = next;
                si += 1;
                continue;
            }
        }
        // Mismatch (or pattern exhausted with subject left): let the most
        // recent `*` swallow one more byte and retry.
        match backtrack {
            Some((star_pi, star_si)) if star_si < string.len() => {
                backtrack = Some((star_pi, star_si + 1));
                pi = star_pi;
                si = star_si + 1;
            }
            _ => return false,
        }
    }
}

/// True if `pattern` contains no glob metacharacter (`*`, `?`, `[`, `\`), so
/// it matches exactly one key (itself) and `KEYS`/`SCAN` can do a direct
/// lookup instead of a scan. (With `nocase == false`, which is how Redis
/// calls the matcher for keys.)
pub fn is_literal(pattern: &[u8]) -> bool {
    !pattern
        .iter()
        .any(|&c| matches!(c, b'*' | b'?' | b'[' | b'\\'))
}

/// True for the single pattern `*`, which Redis' `KEYS` and `SCAN` treat as
/// "no filter at all" *without* calling the matcher.  This matters because
/// the matcher itself rejects the empty key (see the module docs).
pub fn is_match_all(pattern: &[u8]) -> bool {
    pattern == b"*"
}

/// C-locale `tolower` on a byte.
#[inline]
fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// Matches the single non-`*` token starting at `pattern[i]` (which must be in
/// bounds) against the subject byte `c`.  Returns whether it matched and the
/// index just after the token.  The token's extent depends only on the
/// pattern, never on `c`.
fn match_token(pattern: &[u8], i: usize, c: u8, nocase: bool) -> (bool, usize) {
    let len = pattern.len();
    match pattern[i] {
        b'?' => (true, i + 1),
        b'[' => match_class(pattern, i + 1, c, nocase),
        b'\\' if len - i >= 2 => (fold(pattern[i + 1], nocase) == fold(c, nocase), i + 2),
        // A lone trailing backslash is a literal backslash.
        lit => (fold(lit, nocase) == fold(c, nocase), i + 1),
    }
}

/// Matches a character class whose body starts at `pattern[j]` (just after
/// the `[`).  Mirrors Redis' scanning rules exactly, including what happens
/// when the closing bracket is missing (the class then runs to the end of the
/// pattern).
fn match_class(pattern: &[u8], mut j: usize, c: u8, nocase: bool) -> (bool, usize) {
    let len = pattern.len();
    let negate = pattern.get(j) == Some(&b'^');
    if negate {
        j += 1;
    }
    let mut matched = false;
    let next = loop {
        let rem = len - j;
        let Some(&pc) = pattern.get(j) else {
            // Unterminated class: it consumed the whole pattern.
            break len;
        };
        if pc == b'\\' && rem >= 2 {
            // Escaped byte: compared exactly, even with `nocase` (as Redis).
            if pattern[j + 1] == c {
                matched = true;
            }
            j += 2;
        } else if pc == b']' {
            break j + 1;
        } else if rem >= 3 && pattern[j + 1] == b'-' {
            // Redis compares C `char`s: signed on x86-64.
            let mut start = i32::from(pattern[j] as i8);
            let mut end = i32::from(pattern[j + 2] as i8);
            let mut ch = i32::from(c as i8);
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            if nocase {
                start = c_tolower(start);
                end = c_tolower(end);
                ch = c_tolower(ch);
            }
            if ch >= start && ch <= end {
                matched = true;
            }
            j += 3;
        } else {
            if fold(pc, nocase) == fold(c, nocase) {
                matched = true;
            }
            j += 1;
        }
    };
    (matched != negate, next)
}

/// glibc's C-locale `tolower` applied to a signed `char` value, as Redis does
/// for range bounds.  glibc's table maps the negative values -128..=-2 to
/// their unsigned counterparts (128..=254) and leaves -1 (`EOF`) alone, which
/// changes range membership for bytes >= 0x80 under `nocase`.
#[inline]
fn c_tolower(v: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&v) {
        v + 32
    } else if (-128..=-2).contains(&v) {
        v + 256
    } else {
        v
    }
}

/// Index just after the non-`*` token starting at `pattern[i]`.
fn token_end(pattern: &[u8], i: usize) -> usize {
    match_token(pattern, i, 0, false).1
}

/// Counts the `*` runs that are followed by at least one more token: the
/// recursion depth Redis needs to report a match.
fn nested_star_groups(pattern: &[u8]) -> usize {
    let mut count = 0;
    let mut in_star = false;
    let mut i = 0;
    while i < pattern.len() {
        if pattern[i] == b'*' {
            in_star = true;
            i += 1;
        } else {
            if in_star {
                count += 1;
                in_star = false;
            }
            i = token_end(pattern, i);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Literal recursive transcription of Redis' algorithm (without the
    /// `skipLongerMatches` optimisation or the nesting limit), exponential
    /// but obviously faithful; used as the oracle for small inputs.
    fn reference(p: &[u8], s: &[u8], nocase: bool) -> bool {
        let mut p = p;
        let mut s = s;
        while !p.is_empty() && !s.is_empty() {
            match p[0] {
                b'*' => {
                    while p.len() > 1 && p[1] == b'*' {
                        p = &p[1..];
                    }
                    if p.len() == 1 {
                        return true;
                    }
                    while !s.is_empty() {
                        if reference(&p[1..], s, nocase) {
                            return true;
                        }
                        s = &s[1..];
                    }
                    return false;
                }
                b'?' => {
                    s = &s[1..];
                    p = &p[1..];
                }
                b'[' => {
                    // Model C's NUL terminator explicitly.
                    let at = |q: &[u8], k: usize| q.get(k).copied().unwrap_or(0);
                    let mut q = &p[1..];
                    let not = !q.is_empty() && q[0] == b'^';
                    if not {
                        q = &q[1..];
                    }
                    let mut m = false;
                    let rest;
                    loop {
                        if at(q, 0) == b'\\' && q.len() >= 2 {
                            if q[1] == s[0] {
                                m = true;
                            }
                            q = &q[2..];
                        } else if !q.is_empty() && q[0] == b']' {
                            rest = &q[1..];
                            break;
                        } else if q.is_empty() {
                            rest = q;
                            break;
                        } else if q.len() >= 3 && q[1] == b'-' {
                            let (mut a, mut b) = (q[0] as i8 as i32, q[2] as i8 as i32);
                            let mut c = s[0] as i8 as i32;
                            if a > b {
                                std::mem::swap(&mut a, &mut b);
                            }
                            if nocase {
                                a = c_tolower(a);
                                b = c_tolower(b);
                                c = c_tolower(c);
                            }
                            if c >= a && c <= b {
                                m = true;
                            }
                            q = &q[3..];
                        } else {
                            if fold(q[0], nocase) == fold(s[0], nocase) {
                                m = true;
                            }
                            q = &q[1..];
                        }
                    }
                    if not {
                        m = !m;
                    }
                    if !m {
                        return false;
                    }
                    s = &s[1..];
                    p = rest;
                }
                _ => {
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                    }
                    if fold(p[0], nocase) != fold(s[0], nocase) {
                        return false;
                    }
                    s = &s[1..];
                    p = &p[1..];
                }
            }
            if s.is_empty() {
                while !p.is_empty() && p[0] == b'*' {
                    p = &p[1..];
                }
                break;
            }
        }
        p.is_empty() && s.is_empty()
    }

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    fn mi(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), true)
    }

    #[test]
    fn stars() {
        assert!(m("*", "foo"));
        assert!(m("**", "foo"));
        assert!(m("f*", "foo"));
        assert!(m("*o", "foo"));
        assert!(m("f*o", "foo"));
        assert!(m("f*o", "fo"));
        assert!(m("*foo*", "foo"));
        assert!(m("*foo*", "xxfooyy"));
        assert!(m("a*b*c", "a__b__c"));
        assert!(!m("a*b*c", "a__c__b"));
        assert!(m("foo*", "foo"));
        assert!(m("foo**", "foo"));
        assert!(!m("f*x", "foo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*a", "aaaa"));
        assert!(!m("*a", "aaab"));
    }

    #[test]
    fn empty_subject_and_pattern() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        // Redis quirk: "*" does not match the empty string.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(!m("?", ""));
        assert!(is_match_all(b"*"));
        assert!(!is_match_all(b"**"));
    }

    #[test]
    fn question_mark() {
        assert!(m("h?llo", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("???", "abc"));
        assert!(!m("???", "ab"));
        assert!(!m("???", "abcd"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        // Reversed ranges are accepted.
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("[z-a]", "m"));
        // Escapes inside classes.
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[a\\-z]", "-"));
        assert!(!m("[a\\-z]", "b"));
        // `]` right after `[` closes an empty class (never matches).
        assert!(!m("[]a]", "a"));
        assert!(!m("[]", "a"));
        // `^` alone negates the empty class: matches anything.
        assert!(m("[^]", "x"));
        // A dash at the end of a class.
        // "[ab-]": `b-]` is a (swapped) range ']'..'b' that eats the closing
        // bracket, so '-' is not in the class.
        assert!(!m("[ab-]", "-"));
        assert!(m("[ab-]", "_"));
        assert!(m("[-a]", "-"));
    }

    #[test]
    fn unterminated_class() {
        // "[" alone never matches.
        assert!(!m("[", "["));
        assert!(!m("[", "a"));
        // "[^" matches any single byte.
        assert!(m("[^", "x"));
        assert!(!m("[^", "xy"));
        // "[abc" runs to the end of the pattern.
        assert!(m("[abc", "b"));
        assert!(!m("[abc", "d"));
        assert!(!m("[abc", "bc"));
        // "[a-]" is the range ']'..'a' (swapped) with no closing bracket.
        assert!(m("[a-]", "^"));
        assert!(m("[a-]", "a"));
        assert!(!m("[a-]", "-"));
        // Trailing backslash inside a class is literal.
        assert!(m("[\\", "\\"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("\\?", "?"));
        assert!(m("\\[a]", "[a]"));
        assert!(m("a\\", "a\\"));
        assert!(m("\\\\", "\\"));
        assert!(m("\\a", "a"));
        assert!(m("*\\*", "abc*"));
        assert!(!m("*\\*", "abc"));
    }

    #[test]
    fn nocase() {
        assert!(mi("HELLO", "hello"));
        assert!(mi("h*O", "HellO"));
        assert!(mi("[A-C]", "b"));
        assert!(mi("[a-c]", "B"));
        assert!(mi("[^A]", "b"));
        assert!(!mi("[^A]", "a"));
        assert!(!m("HELLO", "hello"));
        // Escaped byte inside a class is compared case-sensitively.
        assert!(!mi("[\\A]", "a"));
        assert!(mi("[\\A]", "A"));
        // Escaped byte outside a class is folded.
        assert!(mi("\\A", "a"));
        // Range bounds are folded after swapping: [A-z] nocase is [a-z], so
        // '[' (between 'Z' and 'a') does not match.
        assert!(!mi("[A-z]", "["));
        assert!(m("[A-z]", "["));
    }

    #[test]
    fn signed_char_ranges() {
        // 0xFF is -1 as a signed char: inside [\x00-a] only for Redis on x86.
        assert!(glob_match(b"[\x01-a]", b"\x05", false));
        assert!(!glob_match(b"[\x01-a]", b"\xff", false));
        assert!(glob_match(b"[a-\xff]", b"\xff", false));
        assert!(glob_match(b"[a-\xff]", b"\x00", false));
        assert!(!glob_match(b"[a-\xff]", b"b", false));
        assert!(glob_match(b"[\x80-\xff]", b"\x90", false));
        // With nocase, glibc's tolower maps -128..=-2 to 128..=254 but keeps
        // -1 (0xFF): [z-\xff] becomes [-1, 122] and still contains '\\'...
        assert!(glob_match(b"[z-\xff]", b"\\", false));
        // ...but [\x80-z] becomes [128, 122], an empty range.
        assert!(glob_match(b"[\x80-z]", b"a", false));
        assert!(!glob_match(b"[\x80-z]", b"a", true));
    }

    #[test]
    fn binary_and_nul_bytes() {
        assert!(glob_match(b"a\0*", b"a\0bc", false));
        assert!(glob_match(b"[\0]", b"\0", false));
        assert!(glob_match(b"?", b"\0", false));
        assert!(!glob_match(b"a\0", b"a", false));
    }

    #[test]
    fn literal_detection() {
        assert!(is_literal(b"foo"));
        assert!(is_literal(b""));
        assert!(is_literal(b"a]b^c-d"));
        assert!(!is_literal(b"f*"));
        assert!(!is_literal(b"f?"));
        assert!(!is_literal(b"f[a]"));
        assert!(!is_literal(b"f\\x"));
    }

    #[test]
    fn no_exponential_blowup() {
        let subject = vec![b'a'; 100_000];
        let pattern = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let start = std::time::Instant::now();
        assert!(!glob_match(pattern, &subject, false));
        let mut ok = subject.clone();
        ok.push(b'b');
        assert!(glob_match(pattern, &ok, false));
        // Redis' own regression test pattern.
        let long = "a*".repeat(50) + "b";
        assert!(!glob_match(long.as_bytes(), &vec![b'a'; 1000], false));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn nesting_limit() {
        let s = vec![b'a'; 2000];
        let ok = "*a".repeat(1000);
        assert!(glob_match(ok.as_bytes(), &s, false));
        let too_deep = "*a".repeat(1001);
        assert!(!glob_match(too_deep.as_bytes(), &s, false));
        // A trailing star group does not count.
        let trailing = "a*".repeat(1001); // 1000 nested + 1 trailing group
        assert!(glob_match(trailing.as_bytes(), &s, false));
        let trailing = "a*".repeat(1002);
        assert!(!glob_match(trailing.as_bytes(), &s, false));
        // Escaped stars are not star groups.
        let escaped = "\\*".repeat(2000);
        assert!(glob_match(escaped.as_bytes(), &vec![b'*'; 2000], false));
    }

    #[test]
    fn exhaustive_tiny_against_reference() {
        let alpha: &[u8] = b"a*?[]^-\\";
        let subjects: &[&[u8]] = &[
            b"", b"a", b"b", b"-", b"]", b"ab", b"aa", b"a-b", b"\\", b"^a",
        ];
        let mut pat = Vec::new();
        // All patterns up to length 4 over the alphabet.
        fn rec(pat: &mut Vec<u8>, alpha: &[u8], depth: usize, f: &mut dyn FnMut(&[u8])) {
            f(pat);
            if depth == 0 {
                return;
            }
            for &c in alpha {
                pat.push(c);
                rec(pat, alpha, depth - 1, f);
                pat.pop();
            }
        }
        rec(&mut pat, alpha, 4, &mut |p| {
            for s in subjects {
                for nocase in [false, true] {
                    assert_eq!(
                        glob_match(p, s, nocase),
                        reference(p, s, nocase),
                        "pattern {:?} subject {:?}",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(s)
                    );
                }
            }
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn matches_reference(
            p in proptest::collection::vec(proptest::sample::select(b"ab*?[]^-\\A".to_vec()), 0..10),
            s in proptest::collection::vec(proptest::sample::select(b"abAB-]^\\*".to_vec()), 0..10),
            nocase in any::<bool>(),
        ) {
            prop_assert_eq!(glob_match(&p, &s, nocase), reference(&p, &s, nocase));
        }

        #[test]
        fn literal_patterns_match_only_themselves(
            p in proptest::collection::vec(any::<u8>(), 0..12),
            s in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            if is_literal(&p) {
                prop_assert!(glob_match(&p, &p, false));
                prop_assert_eq!(glob_match(&p, &s, false), p == s);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            p in proptest::collection::vec(any::<u8>(), 0..24),
            s in proptest::collection::vec(any::<u8>(), 0..24),
            nocase in any::<bool>(),
        ) {
            prop_assert_eq!(glob_match(&p, &s, nocase), reference(&p, &s, nocase));
        }
    }
}
