//! Redis's compact blob encodings as they appear inside RDB files: listpack (written and
//! read), intset (written and read), and the older ziplist and zipmap (read only, for files
//! of Redis 2.x-6.x). Every reader checks bounds and returns `None` on malformed input
//! instead of panicking: payloads come from files and from RESTORE.

use crate::num::parse_i64;

/// One element of a listpack or ziplist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    /// The element as bytes (integers formatted in decimal, as Redis returns them).
    pub fn to_vec(&self) -> Vec<u8> {
        match *self {
            Elem::Str(s) => s.to_vec(),
            Elem::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// listpack
// ---------------------------------------------------------------------------------------

/// Builds a listpack blob: `[total bytes u32][count u16][entries][0xFF]`.
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter::new()
    }
}

impl ListpackWriter {
    pub fn new() -> ListpackWriter {
        ListpackWriter {
            buf: vec![0; 6],
            count: 0,
        }
    }

    /// Bytes of the entries so far (to decide when a quicklist node is full).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends a string, stored as an integer when it is one in canonical form (as
    /// lpAppend does, so the blob is byte-identical to what Redis would build).
    pub fn push(&mut self, s: &[u8]) {
        if s.len() <= 20 {
            if let Some(n) = parse_i64(s) {
                return self.push_int(n);
            }
        }
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xe0 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.backlen(self.buf.len() - start);
        self.count += 1;
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            self.buf.push(0xc0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
            self.buf.push(0xf1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xf2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            self.buf.push(0xf3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xf4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.backlen(self.buf.len() - start);
        self.count += 1;
    }

    /// The entry's "backlen": its own length, 7 bits per byte, readable from the right.
    fn backlen(&mut self, l: usize) {
        if l <= 127 {
            self.buf.push(l as u8);
        } else if l < 16383 {
            self.buf.push((l >> 7) as u8);
            self.buf.push((l & 127) as u8 | 128);
        } else if l < 2097151 {
            self.buf.push((l >> 14) as u8);
            self.buf.push(((l >> 7) & 127) as u8 | 128);
            self.buf.push((l & 127) as u8 | 128);
        } else if l < 268435455 {
            self.buf.push((l >> 21) as u8);
            self.buf.push(((l >> 14) & 127) as u8 | 128);
            self.buf.push(((l >> 7) & 127) as u8 | 128);
            self.buf.push((l & 127) as u8 | 128);
        } else {
            self.buf.push((l >> 28) as u8);
            self.buf.push(((l >> 21) & 127) as u8 | 128);
            self.buf.push(((l >> 14) & 127) as u8 | 128);
            self.buf.push(((l >> 7) & 127) as u8 | 128);
            self.buf.push((l & 127) as u8 | 128);
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xff);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let n = self.count.min(65535) as u16;
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Decodes every element of a listpack, in order. `None` if the blob is malformed.
pub fn listpack_elems(lp: &[u8]) -> Option<Vec<Elem<'_>>> {
    if lp.len() < 7 {
        return None;
    }
    let total = u32::from_le_bytes(lp[0..4].try_into().ok()?) as usize;
    if total != lp.len() || lp[lp.len() - 1] != 0xff {
        return None;
    }
    let declared = u16::from_le_bytes(lp[4..6].try_into().ok()?) as usize;
    let mut out = Vec::with_capacity(declared.min(65535));
    let mut p = 6;
    let end = lp.len() - 1;
    while p < end {
        let b = lp[p];
        let (elem, hdr_plus_data) = if b & 0x80 == 0 {
            (Elem::Int(b as i64), 1)
        } else if b & 0xc0 == 0x80 {
            let len = (b & 0x3f) as usize;
            (Elem::Str(lp.get(p + 1..p + 1 + len)?), 1 + len)
        } else if b & 0xe0 == 0xc0 {
            let u = ((b as u64 & 0x1f) << 8) | *lp.get(p + 1)? as u64;
            let v = if u >= 1 << 12 {
                u as i64 - (1 << 13)
            } else {
                u as i64
            };
            (Elem::Int(v), 2)
        } else if b & 0xf0 == 0xe0 {
            let len = ((b as usize & 0x0f) << 8) | *lp.get(p + 1)? as usize;
            (Elem::Str(lp.get(p + 2..p + 2 + len)?), 2 + len)
        } else {
            match b {
                0xf0 => {
                    let len = u32::from_le_bytes(lp.get(p + 1..p + 5)?.try_into().ok()?) as usize;
                    (
                        Elem::Str(lp.get(p + 5..(p + 5).checked_add(len)?)?),
                        5 + len,
                    )
                }
                0xf1 => (
                    Elem::Int(i16::from_le_bytes(lp.get(p + 1..p + 3)?.try_into().ok()?) as i64),
                    3,
                ),
                0xf2 => {
                    let s = lp.get(p + 1..p + 4)?;
                    let v = (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as i64;
                    (Elem::Int(v), 4)
                }
                0xf3 => (
                    Elem::Int(i32::from_le_bytes(lp.get(p + 1..p + 5)?.try_into().ok()?) as i64),
                    5,
                ),
                0xf4 => (
                    Elem::Int(i64::from_le_bytes(lp.get(p + 1..p + 9)?.try_into().ok()?)),
                    9,
                ),
                _ => return None,
            }
        };
        p += hdr_plus_data + backlen_size(hdr_plus_data);
        if p > end {
            return None;
        }
        out.push(elem);
    }
    if declared != 65535 && declared != out.len() {
        return None;
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// ziplist (read only)
// ---------------------------------------------------------------------------------------

/// Decodes every element of a ziplist (Redis < 7 lists, hashes and sorted sets).
pub fn ziplist_elems(zl: &[u8]) -> Option<Vec<Elem<'_>>> {
    if zl.len() < 11 {
        return None;
    }
    let total = u32::from_le_bytes(zl[0..4].try_into().ok()?) as usize;
    if total != zl.len() || zl[zl.len() - 1] != 0xff {
        return None;
    }
    let declared = u16::from_le_bytes(zl[8..10].try_into().ok()?) as usize;
    let mut out = Vec::new();
    let mut p = 10;
    let end = zl.len() - 1;
    while p < end {
        p += if zl[p] < 254 { 1 } else { 5 };
        let b = *zl.get(p)?;
        let (elem, size) = match b >> 6 {
            0 => {
                let len = (b & 0x3f) as usize;
                (Elem::Str(zl.get(p + 1..p + 1 + len)?), 1 + len)
            }
            1 => {
                let len = ((b as usize & 0x3f) << 8) | *zl.get(p + 1)? as usize;
                (Elem::Str(zl.get(p + 2..p + 2 + len)?), 2 + len)
            }
            2 => {
                let len = u32::from_be_bytes(zl.get(p + 1..p + 5)?.try_into().ok()?) as usize;
                (
                    Elem::Str(zl.get(p + 5..(p + 5).checked_add(len)?)?),
                    5 + len,
                )
            }
            _ => match b {
                0xc0 => (
                    Elem::Int(i16::from_le_bytes(zl.get(p + 1..p + 3)?.try_into().ok()?) as i64),
                    3,
                ),
                0xd0 => (
                    Elem::Int(i32::from_le_bytes(zl.get(p + 1..p + 5)?.try_into().ok()?) as i64),
                    5,
                ),
                0xe0 => (
                    Elem::Int(i64::from_le_bytes(zl.get(p + 1..p + 9)?.try_into().ok()?)),
                    9,
                ),
                0xf0 => {
                    let s = zl.get(p + 1..p + 4)?;
                    (
                        Elem::Int((i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as i64),
                        4,
                    )
                }
                0xfe => (Elem::Int(*zl.get(p + 1)? as i8 as i64), 2),
                0xf1..=0xfd => (Elem::Int((b & 0x0f) as i64 - 1), 1),
                _ => return None,
            },
        };
        p += size;
        if p > end {
            return None;
        }
        out.push(elem);
    }
    if declared != 65535 && declared != out.len() {
        return None;
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// intset
// ---------------------------------------------------------------------------------------

/// Builds an intset blob from sorted distinct integers: `[encoding u32][len u32][values]`,
/// little endian, with the narrowest width that holds every value.
pub fn intset_blob(sorted: &[i64]) -> Vec<u8> {
    let width: usize = if sorted
        .iter()
        .all(|&v| (i16::MIN as i64..=i16::MAX as i64).contains(&v))
    {
        2
    } else if sorted
        .iter()
        .all(|&v| (i32::MIN as i64..=i32::MAX as i64).contains(&v))
    {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * sorted.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Decodes an intset blob; `None` if malformed (bad width, length or order).
pub fn intset_values(blob: &[u8]) -> Option<Vec<i64>> {
    if blob.len() < 8 {
        return None;
    }
    let width = u32::from_le_bytes(blob[0..4].try_into().ok()?) as usize;
    let len = u32::from_le_bytes(blob[4..8].try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + width.checked_mul(len)? {
        return None;
    }
    let vals: Vec<i64> = blob[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            _ => i64::from_le_bytes(c.try_into().unwrap()),
        })
        .collect();
    if vals.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    Some(vals)
}

// ---------------------------------------------------------------------------------------
// zipmap (read only, Redis 2.x hashes)
// ---------------------------------------------------------------------------------------

/// Decodes a zipmap into (field, value) pairs.
pub fn zipmap_pairs(zm: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    fn len_at(zm: &[u8], p: usize) -> Option<(usize, usize)> {
        let b = *zm.get(p)?;
        match b {
            0..=253 => Some((b as usize, 1)),
            254 => Some((
                u32::from_le_bytes(zm.get(p + 1..p + 5)?.try_into().ok()?) as usize,
                5,
            )),
            _ => None,
        }
    }
    let mut out = Vec::new();
    let mut p = 1;
    loop {
        if *zm.get(p)? == 255 {
            break;
        }
        let (klen, n) = len_at(zm, p)?;
        p += n;
        let key = zm.get(p..p.checked_add(klen)?)?;
        p += klen;
        let (vlen, n) = len_at(zm, p)?;
        p += n;
        let free = *zm.get(p)? as usize;
        p += 1;
        let val = zm.get(p..p.checked_add(vlen)?)?;
        p += vlen + free;
        out.push((key, val));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trips_every_entry_kind() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let mut w = ListpackWriter::new();
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            30000,
            -30000,
            1 << 22,
            -(1 << 23),
            1 << 30,
            i64::MAX,
            i64::MIN,
        ];
        for &i in &ints {
            w.push_int(i);
        }
        w.push(b"abc");
        w.push(&mid);
        w.push(&long);
        w.push(b"12");
        w.push(b"012");
        let lp = w.finish();
        let elems = listpack_elems(&lp).unwrap();
        for (i, &v) in ints.iter().enumerate() {
            assert_eq!(elems[i], Elem::Int(v));
        }
        let n = ints.len();
        assert_eq!(elems[n], Elem::Str(b"abc"));
        assert_eq!(elems[n + 1], Elem::Str(&mid));
        assert_eq!(elems[n + 2], Elem::Str(&long));
        assert_eq!(elems[n + 3], Elem::Int(12));
        assert_eq!(elems[n + 4], Elem::Str(b"012"));
        let mut bad = lp.clone();
        bad[0] ^= 1;
        assert!(listpack_elems(&bad).is_none());
        assert!(listpack_elems(&lp[..lp.len() - 3]).is_none());
    }

    #[test]
    fn intset_round_trips_and_rejects_disorder() {
        for vals in [
            vec![1i64, 2, 3],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            assert_eq!(intset_values(&intset_blob(&vals)).unwrap(), vals);
        }
        assert!(intset_values(&intset_blob(&[3, 1])).is_none());
    }

    #[test]
    fn decodes_a_redis_ziplist() {
        // ["a", 5, -2] as ziplistPush builds it.
        let mut zl = vec![0u8; 10];
        zl.extend_from_slice(&[0x00, 0x01, b'a']);
        zl.extend_from_slice(&[0x03, 0xf6]);
        zl.extend_from_slice(&[0x02, 0xfe, 0xfe]);
        zl.push(0xff);
        let total = zl.len() as u32;
        zl[0..4].copy_from_slice(&total.to_le_bytes());
        zl[8..10].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(
            ziplist_elems(&zl).unwrap(),
            vec![Elem::Str(b"a"), Elem::Int(5), Elem::Int(-2)]
        );
    }

    #[test]
    fn decodes_a_zipmap() {
        let zm = [2u8, 1, b'f', 1, 0, b'v', 2, b'g', b'h', 0, 0, 255];
        assert_eq!(
            zipmap_pairs(&zm).unwrap(),
            vec![(&b"f"[..], &b"v"[..]), (&b"gh"[..], &b""[..])]
        );
    }
}
