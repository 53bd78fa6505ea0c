//! LZF compression, the format of liblzf that Redis uses for RDB strings
//! (`rdbcompression yes`). A compressed stream is a sequence of
//! - literal runs: a control byte `000LLLLL` followed by L+1 bytes, and
//! - back references: `LLLooooo [extra len] oooooooo`, copying len+2 bytes from
//!   `offset+1` bytes back; L = 7 means an extra length byte follows.

const HASH_LOG: u32 = 14;
const MAX_LIT: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

#[inline]
fn hash3(p: &[u8]) -> usize {
    let v = (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
    (v.wrapping_mul(2654435761) >> (32 - HASH_LOG)) as usize
}

/// Compresses `input`; `None` when the result would not be shorter than `max_out` bytes
/// (Redis only stores a compressed string when it saves at least 4 bytes).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n < 4 {
        return None;
    }
    let mut table = vec![usize::MAX; 1 << HASH_LOG];
    let mut out = Vec::with_capacity(max_out.min(n + n / 16 + 64));
    let mut lit_pos = 0usize;
    let mut lit = 0usize;
    out.push(0);
    let mut ip = 0usize;
    while ip + 2 < n {
        let h = hash3(&input[ip..]);
        let r = table[h];
        table[h] = ip;
        if r != usize::MAX && r < ip && ip - r - 1 < MAX_OFF && input[r..r + 3] == input[ip..ip + 3]
        {
            let off = ip - r - 1;
            let maxlen = (n - ip).min(MAX_REF);
            let mut len = 3;
            while len < maxlen && input[r + len] == input[ip + len] {
                len += 1;
            }
            if lit > 0 {
                out[lit_pos] = (lit - 1) as u8;
            } else {
                out.pop();
            }
            let l = len - 2;
            if l < 7 {
                out.push(((l << 5) | (off >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (off >> 8)) as u8);
                out.push((l - 7) as u8);
            }
            out.push(off as u8);
            // Index the positions inside the match so later data can refer to them.
            let end = ip + len;
            let mut p = ip + 1;
            while p < end && p + 2 < n {
                table[hash3(&input[p..])] = p;
                p += 1;
            }
            ip = end;
            lit_pos = out.len();
            lit = 0;
            out.push(0);
        } else {
            out.push(input[ip]);
            ip += 1;
            lit += 1;
            if lit == MAX_LIT {
                out[lit_pos] = (MAX_LIT - 1) as u8;
                lit_pos = out.len();
                lit = 0;
                out.push(0);
            }
        }
        if out.len() >= max_out {
            return None;
        }
    }
    while ip < n {
        out.push(input[ip]);
        ip += 1;
        lit += 1;
        if lit == MAX_LIT {
            out[lit_pos] = (MAX_LIT - 1) as u8;
            lit_pos = out.len();
            lit = 0;
            out.push(0);
        }
    }
    if lit > 0 {
        out[lit_pos] = (lit - 1) as u8;
    } else {
        out.pop();
    }
    (out.len() < max_out).then_some(out)
}

/// Decompresses `input` into exactly `out_len` bytes; `None` if the data is corrupt.
///
/// `out_len` comes from the file or the client, so it is not trusted for the allocation:
/// one input byte expands to at most 88 output bytes (a 3-byte back reference copies up to
/// 264), so a larger claim is corrupt, and the buffer grows only as output is produced.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if out_len > input.len().saturating_mul(88) {
        return None;
    }
    let mut out = Vec::with_capacity(out_len.min(1 << 20));
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            if ip + len > input.len() || out.len() + len > out_len {
                return None;
            }
            out.extend_from_slice(&input[ip..ip + len]);
            ip += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip)? as usize;
                ip += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            if back > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - back;
            for i in 0..len {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_repetitive_and_random_data() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"hello hello hello world world world hello world".repeat(50),
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
        ];
        let mut x: u64 = 12345;
        samples.push(
            (0..3000)
                .map(|i| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    if i % 3 == 0 {
                        b'a'
                    } else {
                        (x >> 56) as u8
                    }
                })
                .collect(),
        );
        for s in samples {
            if let Some(c) = compress(&s, s.len()) {
                assert!(c.len() < s.len());
                assert_eq!(decompress(&c, s.len()).unwrap(), s);
            }
        }
        let s = b"x".repeat(1000);
        let c = compress(&s, s.len()).unwrap();
        assert!(c.len() < 20);
    }

    #[test]
    fn a_claimed_length_beyond_the_expansion_bound_is_corrupt_not_allocated() {
        // Found by the restore_payload fuzz target: a few bytes claiming a length of
        // terabytes made the allocation itself abort the process.
        assert_eq!(decompress(&[0x00, b'a'], 1 << 40), None);
        assert_eq!(decompress(&[0x00, b'a'], usize::MAX), None);
        // The largest real expansion still decodes: one literal, then 264-byte copies.
        let data = vec![b'x'; 1 + 264 * 10];
        let packed = compress(&data, data.len()).unwrap();
        assert_eq!(decompress(&packed, data.len()).unwrap(), data);
    }

    #[test]
    fn decodes_a_known_liblzf_stream() {
        // "aaaaaaaaaa" as liblzf writes it: literal 'a', then a back reference of 9 bytes
        // at distance 1.
        let c = [0x00, b'a', 0xe0, 0x00, 0x00];
        assert_eq!(decompress(&c, 10).unwrap(), b"aaaaaaaaaa");
        assert!(decompress(&[0x20, 0x05], 10).is_none());
    }
}
