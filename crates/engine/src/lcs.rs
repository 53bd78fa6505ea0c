//! Longest common subsequence, with the exact semantics of Redis 7.2's `LCS`
//! command.
//!
//! Redis fills the classic `(len(a)+1) x (len(b)+1)` dynamic-programming
//! table of 32-bit lengths and walks it back from the end of both strings.
//! The walk decides *which* of several equally long subsequences is
//! reported and how the `IDX` match ranges are split, so we use the same
//! table, the same tie-breaking and the same range bookkeeping.  Matches are
//! therefore listed from the end of the strings towards the beginning.
//!
//! Memory: like Redis, the table costs `4 * (len(a)+1) * (len(b)+1)` bytes
//! and is refused when that exceeds `proto-max-bulk-len` (512 MiB by
//! default), or when it cannot be allocated.

use crate::bits::PROTO_MAX_BULK_LEN;

/// One `IDX` match: inclusive byte ranges in each string plus their length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcsMatch {
    /// `(start, end)` in the first string, inclusive.
    pub a: (usize, usize),
    /// `(start, end)` in the second string, inclusive.
    pub b: (usize, usize),
    /// Length of the match (`WITHMATCHLEN`).
    pub len: usize,
}

/// Result of [`lcs`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LcsResult {
    /// Length of the longest common subsequence (`LEN`, and `len` in `IDX`).
    pub len: usize,
    /// The subsequence itself (empty unless requested).
    pub string: Vec<u8>,
    /// Match ranges, last match first (empty unless requested), already
    /// filtered by `min_match_len`.
    pub matches: Vec<LcsMatch>,
}

/// Why `LCS` was refused, with Redis' exact messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LcsError {
    /// An input is 2^32 - 2 bytes or longer.
    #[error("ERR String too long for LCS")]
    StringTooLong,
    /// The table would exceed `proto-max-bulk-len`.
    #[error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")]
    ExceedsProtoMaxBulkLen,
    /// The table could not be allocated.
    #[error("ERR Insufficient memory, failed allocating transient memory for LCS")]
    AllocationFailed,
}

/// `LCS a b [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]` over the two string
/// values (missing keys are empty strings), with the default
/// `proto-max-bulk-len`.
///
/// * `want_string`: compute [`LcsResult::string`] (the plain `LCS` reply).
/// * `want_idx`: compute [`LcsResult::matches`] (the `IDX` reply).
/// * `min_match_len`: drop matches shorter than this (`MINMATCHLEN`; Redis
///   treats negative values as 0, and 0 keeps everything).
///
/// The length is always computed.  Option validation (e.g. `LEN` together
/// with `IDX` is an error) is the caller's job.
pub fn lcs(
    a: &[u8],
    b: &[u8],
    want_string: bool,
    want_idx: bool,
    min_match_len: usize,
) -> Result<LcsResult, LcsError> {
    lcs_with_limit(
        a,
        b,
        want_string,
        want_idx,
        min_match_len,
        PROTO_MAX_BULK_LEN,
    )
}

/// [`lcs`] with an explicit `proto-max-bulk-len` (in bytes) bounding the
/// transient table.
pub fn lcs_with_limit(
    a: &[u8],
    b: &[u8],
    want_string: bool,
    want_idx: bool,
    min_match_len: usize,
    max_table_bytes: u64,
) -> Result<LcsResult, LcsError> {
    const LIMIT: usize = u32::MAX as usize - 1;
    if a.len() >= LIMIT || b.len() >= LIMIT {
        return Err(LcsError::StringTooLong);
    }
    let (alen, blen) = (a.len(), b.len());
    let width = blen + 1;
    let cells = (alen as u64 + 1) * (blen as u64 + 1); // < 2^64: both < 2^32
    let bytes = cells.checked_mul(4).ok_or(LcsError::AllocationFailed)?;
    if bytes > max_table_bytes {
        return Err(LcsError::ExceedsProtoMaxBulkLen);
    }
    let cells = usize::try_from(cells).map_err(|_| LcsError::AllocationFailed)?;
    let mut table: Vec<u32> = Vec::new();
    table
        .try_reserve_exact(cells)
        .map_err(|_| LcsError::AllocationFailed)?;
    table.resize(cells, 0);

    // table[i * width + j] = LCS length of a[..i] and b[..j].  Row 0 and
    // column 0 stay zero.
    for i in 1..=alen {
        let (prev, cur) = table[(i - 1) * width..(i + 1) * width].split_at_mut(width);
        let ai = a[i - 1];
        for j in 1..=blen {
            cur[j] = if ai == b[j - 1] {
                prev[j - 1] + 1
            } else {
                prev[j].max(cur[j - 1])
            };
        }
    }
    let at = |i: usize, j: usize| table[i * width + j];
    let len = at(alen, blen) as usize;

    let mut result = LcsResult {
        len,
        ..LcsResult::default()
    };
    if !want_string && !want_idx {
        return Ok(result);
    }

    // Walk back from the end.  `range` is the match currently being
    // extended backwards: (a_start, a_end, b_start, b_end).
    let mut string = vec![0u8; len];
    let mut idx = len;
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            idx -= 1;
            string[idx] = a[i - 1];
            range = Some(match range {
                None => (i - 1, i - 1, j - 1, j - 1),
                // Consecutive diagonal steps always extend the range: a
                // mismatch step in between would have closed it.
                Some((_, a_end, _, b_end)) => (i - 1, a_end, j - 1, b_end),
            });
            // Reaching the first byte of either string ends the walk.
            if i == 1 || j == 1 {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            // Move towards the larger sub-problem; ties go left (j).
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some((a_start, a_end, b_start, b_end)) = range.take() {
                let match_len = a_end - a_start + 1;
                if want_idx && match_len >= min_match_len {
                    result.matches.push(LcsMatch {
                        a: (a_start, a_end),
                        b: (b_start, b_end),
                        len: match_len,
                    });
                }
            }
        }
    }
    if want_string {
        result.string = string;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(a: (usize, usize), b: (usize, usize)) -> LcsMatch {
        LcsMatch {
            a,
            b,
            len: a.1 - a.0 + 1,
        }
    }

    #[test]
    fn redis_documentation_examples() {
        let r = lcs(b"ohmytext", b"mynewtext", true, true, 0).unwrap();
        assert_eq!(r.len, 6);
        assert_eq!(r.string, b"mytext");
        assert_eq!(r.matches, vec![m((4, 7), (5, 8)), m((2, 3), (0, 1))]);
        assert_eq!(r.matches[0].len, 4);
        assert_eq!(r.matches[1].len, 2);

        let r = lcs(b"ohmytext", b"mynewtext", false, true, 4).unwrap();
        assert_eq!(r.matches, vec![m((4, 7), (5, 8))]);
        assert!(r.string.is_empty());

        let r = lcs(b"ohmytext", b"mynewtext", false, false, 0).unwrap();
        assert_eq!(r.len, 6);
        assert!(r.string.is_empty() && r.matches.is_empty());
    }

    #[test]
    fn edge_cases() {
        let r = lcs(b"", b"", true, true, 0).unwrap();
        assert_eq!((r.len, r.string.len(), r.matches.len()), (0, 0, 0));
        let r = lcs(b"abc", b"", true, true, 0).unwrap();
        assert_eq!(r.len, 0);
        let r = lcs(b"abc", b"xyz", true, true, 0).unwrap();
        assert_eq!((r.len, r.matches.len()), (0, 0));
        let r = lcs(b"abc", b"abc", true, true, 0).unwrap();
        assert_eq!(r.string, b"abc");
        assert_eq!(r.matches, vec![m((0, 2), (0, 2))]);
        // Ties shrink b first: "ab" vs "ba" reports "b", not "a".
        let r = lcs(b"ab", b"ba", true, true, 0).unwrap();
        assert_eq!(r.string, b"b");
        assert_eq!(r.matches, vec![m((1, 1), (0, 0))]);
        let r = lcs(b"aaa", b"aa", true, true, 0).unwrap();
        assert_eq!(r.string, b"aa");
        assert_eq!(r.matches, vec![m((1, 2), (0, 1))]);
        // Binary-safe.
        let r = lcs(b"\x00\xff\x00", b"\xff\x00", true, true, 0).unwrap();
        assert_eq!(r.string, b"\xff\x00");
    }

    #[test]
    fn memory_guard() {
        // 4 * 3 * 3 = 36 bytes.
        assert!(lcs_with_limit(b"ab", b"cd", true, false, 0, 36).is_ok());
        assert_eq!(
            lcs_with_limit(b"ab", b"cd", true, false, 0, 35),
            Err(LcsError::ExceedsProtoMaxBulkLen)
        );
        assert_eq!(
            LcsError::ExceedsProtoMaxBulkLen.to_string(),
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
        );
        // 20000 x 20000 cells is ~1.6 GB: refused under the default limit.
        let big = vec![b'x'; 20_000];
        assert_eq!(
            lcs(&big, &big, true, false, 0),
            Err(LcsError::ExceedsProtoMaxBulkLen)
        );
    }

    /// Straightforward O(n*m) LCS length for cross-checking.
    fn naive_len(a: &[u8], b: &[u8]) -> usize {
        let mut prev = vec![0usize; b.len() + 1];
        for &x in a {
            let mut cur = vec![0usize; b.len() + 1];
            for (j, &y) in b.iter().enumerate() {
                cur[j + 1] = if x == y {
                    prev[j] + 1
                } else {
                    prev[j + 1].max(cur[j])
                };
            }
            prev = cur;
        }
        prev[b.len()]
    }

    fn is_subsequence(needle: &[u8], hay: &[u8]) -> bool {
        let mut it = hay.iter();
        needle.iter().all(|c| it.any(|h| h == c))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn consistent_results(
            a in proptest::collection::vec(0u8..4, 0..30),
            b in proptest::collection::vec(0u8..4, 0..30),
            min in 0usize..4,
        ) {
            let r = lcs(&a, &b, true, true, 0).unwrap();
            prop_assert_eq!(r.len, naive_len(&a, &b));
            prop_assert_eq!(r.string.len(), r.len);
            prop_assert!(is_subsequence(&r.string, &a));
            prop_assert!(is_subsequence(&r.string, &b));
            // Matches are disjoint, descending, equal in both strings, and
            // (unfiltered) cover the whole subsequence.
            let mut total = 0;
            let mut prev: Option<LcsMatch> = None;
            for mt in &r.matches {
                prop_assert_eq!(&a[mt.a.0..=mt.a.1], &b[mt.b.0..=mt.b.1]);
                prop_assert_eq!(mt.len, mt.a.1 - mt.a.0 + 1);
                if let Some(p) = prev {
                    prop_assert!(mt.a.1 < p.a.0 && mt.b.1 < p.b.0);
                }
                prev = Some(*mt);
                total += mt.len;
            }
            prop_assert_eq!(total, r.len);
            let concat: Vec<u8> = r.matches.iter().rev()
                .flat_map(|mt| a[mt.a.0..=mt.a.1].iter().copied()).collect();
            prop_assert_eq!(&concat, &r.string);
            // MINMATCHLEN only filters.
            let f = lcs(&a, &b, false, true, min).unwrap();
            let want: Vec<LcsMatch> = r.matches.iter().copied().filter(|mt| mt.len >= min).collect();
            prop_assert_eq!(f.matches, want);
        }
    }
}
