//! `struct`: Roberto Ierusalimschy's struct library (the version Redis ships), which packs Lua
//! values into binary strings and back following a format string:
//!
//! `>` big endian, `<` little endian, `![n]` maximum alignment (default 8), `x` a zero byte,
//! `b/B` signed/unsigned char, `h/H` short, `l/L` long (8 bytes), `T` size_t, `i[n]/I[n]` int of
//! n bytes (default 4, at most 32), `c[n]` n chars (pack: `c0` is the whole string; unpack: `c0`
//! takes its length from the previous number), `s` zero-terminated string, `f` float, `d`
//! double, space ignored. The C library's behaviour on x86-64 is reproduced, including its
//! lenient corners (unknown letters are size 0 in `size`, integers wider than 8 bytes).

use crate::util::{
    arg_err, as_num, c_f64_to_i64, check_number, check_string, msg_err, multi_return, opt_integer,
    to_number, wrap, LResult,
};
use mlua::{Lua, MultiValue, Table, Value};

/// Largest integer size `i[n]`/`I[n]` accepts.
const MAX_INT_SIZE: usize = 32;
/// Default of `!` without a number: the alignment of a double on x86-64.
const MAX_ALIGN: usize = 8;

/// Parsing state over the format string: position, byte order and maximum alignment.
struct Fmt<'a> {
    fmt: &'a [u8],
    pos: usize,
    little: bool,
    align: usize,
}

impl<'a> Fmt<'a> {
    /// The format ends at its end or at a NUL byte (it is a C string in the original).
    fn new(fmt: &'a [u8]) -> Self {
        let end = fmt.iter().position(|&b| b == 0).unwrap_or(fmt.len());
        Fmt {
            fmt: &fmt[..end],
            pos: 0,
            little: true,
            align: 1,
        }
    }

    fn next_opt(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.pos)?;
        self.pos += 1;
        Some(c)
    }

    /// An optional decimal count after an option, with the C library's overflow check.
    fn getnum(&mut self, default: usize) -> LResult<usize> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(&d) = self.fmt.get(self.pos).filter(|d| d.is_ascii_digit()) {
            let d = (d - b'0') as i64;
            if a > i32::MAX as i64 / 10 || a * 10 > i32::MAX as i64 - d {
                return msg_err("integral size overflow");
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a as usize)
    }

    /// Size in bytes of option `opt` (0 for options that take no room or have no fixed size).
    fn optsize(&mut self, opt: u8) -> LResult<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.getnum(1)?,
            b'i' | b'I' => {
                let sz = self.getnum(4)?;
                if sz > MAX_INT_SIZE {
                    return msg_err(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    ));
                }
                sz
            }
            _ => 0,
        })
    }

    /// Padding needed before an item of `size` bytes at offset `len`. Like the C code this uses
    /// mask arithmetic, so odd sizes such as `i3` give its (odd) results too.
    fn toalign(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
    }

    /// Endianness, alignment and spaces; anything else is an invalid option.
    fn control(&mut self, opt: u8) -> LResult<()> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' => self.little = true,
            b'!' => {
                let a = self.getnum(MAX_ALIGN)?;
                if a == 0 || a & (a - 1) != 0 {
                    return msg_err(format!("alignment {a} is not a power of 2"));
                }
                self.align = a;
            }
            _ => {
                let mut m = b"invalid format option '".to_vec();
                m.push(opt);
                m.push(b'\'');
                return arg_err(1, m);
            }
        }
        Ok(())
    }
}

/// C's `(unsigned long)d` on x86-64 as gcc compiles it (NaN gives 2^63, 2^64 and up give 0).
fn c_f64_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if d >= TWO63 {
        (c_f64_to_i64(d - TWO63) as u64) ^ (1 << 63)
    } else {
        c_f64_to_i64(d) as u64
    }
}

/// Appends `size` bytes of `value` in the requested byte order; bytes past the 8 of a long are
/// zero, as in the C code.
fn put_integer(out: &mut Vec<u8>, mut value: u64, little: bool, size: usize) {
    let start = out.len();
    out.resize(start + size, 0);
    let buf = &mut out[start..];
    for i in 0..size {
        let idx = if little { i } else { size - 1 - i };
        buf[idx] = (value & 0xff) as u8;
        value = value.checked_shr(8).unwrap_or(0);
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8], little: bool) {
    if little {
        out.extend_from_slice(bytes);
    } else {
        out.extend(bytes.iter().rev());
    }
}

fn pack(lua: &Lua, args: &MultiValue) -> LResult<MultiValue> {
    let fmt_s = check_string(lua, args, 1)?;
    let fmt_b = fmt_s.as_bytes();
    let mut f = Fmt::new(&fmt_b);
    let mut arg = 2usize;
    let mut total = 0usize;
    let mut out = Vec::new();
    while let Some(opt) = f.next_opt() {
        let mut size = f.optsize(opt)?;
        let pad = f.toalign(total, opt, size);
        total = total.wrapping_add(pad);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, args, arg)?;
                arg += 1;
                let value = if n < 0.0 {
                    c_f64_to_i64(n) as u64
                } else {
                    c_f64_to_u64(n)
                };
                put_integer(&mut out, value, f.little, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = check_number(lua, args, arg)? as f32;
                arg += 1;
                put_bytes(&mut out, &n.to_le_bytes(), f.little);
            }
            b'd' => {
                let n = check_number(lua, args, arg)?;
                arg += 1;
                put_bytes(&mut out, &n.to_le_bytes(), f.little);
            }
            b'c' | b's' => {
                let s = check_string(lua, args, arg)?;
                arg += 1;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // The C code reports the argument after the string (it already advanced).
                    return arg_err(arg as i32, "string too short");
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => f.control(opt)?,
        }
        total = total.wrapping_add(size);
    }
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(&out)?,
    )]))
}

/// Reads a `size`-byte integer; wider than 8 bytes keeps the low 8, and the sign mask uses the
/// x86 shift-count wrap-around of the C expression.
fn get_integer(data: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    for i in 0..size {
        let b = if little { data[size - 1 - i] } else { data[i] };
        l = (l << 8) | b as u64;
    }
    if !signed {
        return l as f64;
    }
    let shift = ((size * 8).wrapping_sub(1) & 63) as u32;
    let mask = u64::MAX << shift;
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// The results of `unpack`, stored in a Lua table as they are produced (and returned with
/// `multi_return`) so that thousands of them never hold mlua handles at once. `last` is the
/// previous result, which `c0` reads as a length.
struct Results {
    table: Table,
    count: usize,
    last: Option<Value>,
}

impl Results {
    fn new(lua: &Lua) -> LResult<Self> {
        Ok(Results {
            table: lua.create_table()?,
            count: 0,
            last: None,
        })
    }

    fn push(&mut self, v: Value) -> LResult<()> {
        self.count += 1;
        self.table.raw_set(self.count, v.clone())?;
        self.last = Some(v);
        Ok(())
    }

    fn len(&self) -> usize {
        self.count
    }

    fn last(&self) -> Option<&Value> {
        self.last.as_ref()
    }

    /// Drops the last result (a `c0` length). Another result always follows, so `last` need
    /// not go back to the one before.
    fn pop(&mut self) -> LResult<()> {
        self.table.raw_set(self.count, Value::Nil)?;
        self.count -= 1;
        self.last = None;
        Ok(())
    }
}

fn unpack(lua: &Lua, args: &MultiValue) -> LResult<MultiValue> {
    let fmt_s = check_string(lua, args, 1)?;
    let data_s = check_string(lua, args, 2)?;
    let fmt_b = fmt_s.as_bytes();
    let data = data_s.as_bytes();
    let ld = data.len();
    // The position is a size_t in C: negative values wrap to huge ones and fail later.
    let start = opt_integer(lua, args, 3, 1)? as u64 as usize;
    if start == 0 {
        return arg_err(3, "offset must be 1 or greater");
    }
    let mut pos = start - 1;
    let mut f = Fmt::new(&fmt_b);
    let mut out = Results::new(lua)?;
    let fits = |pos: usize, size: usize| size <= ld && pos <= ld - size;
    while let Some(opt) = f.next_opt() {
        let mut size = f.optsize(opt)?;
        pos = pos.wrapping_add(f.toalign(pos, opt, size));
        if !fits(pos, size) {
            return arg_err(2, "data string too short");
        }
        // lua_checkstack(L, 2) in a C function whose frame holds the arguments and results.
        if args.len() + out.len() + 2 > crate::util::LUAI_MAXCSTACK {
            return msg_err("stack overflow (too many results)");
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                out.push(Value::Number(get_integer(
                    &data[pos..],
                    f.little,
                    signed,
                    size,
                )))?;
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let v = if f.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Value::Number(v as f64))?;
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let v = if f.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Value::Number(v))?;
            }
            b'c' => {
                if size == 0 {
                    // The length is the previous result, if it is (convertible to) a number.
                    let prev = match out.last() {
                        Some(v) => match as_num(v) {
                            Some(n) => Some(n),
                            None => to_number(lua, Some(v))?,
                        },
                        None => None,
                    };
                    let Some(n) = prev else {
                        return msg_err("format 'c0' needs a previous size");
                    };
                    size = c_f64_to_u64(n) as usize;
                    out.pop()?;
                    if !fits(pos, size) {
                        return arg_err(2, "data string too short");
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?))?;
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return msg_err("unfinished string in data");
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + len])?))?;
                size = len + 1;
            }
            _ => f.control(opt)?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push(Value::Number(pos.wrapping_add(1) as i64 as f64))?;
    Ok(multi_return(out.table, out.count))
}

fn size(lua: &Lua, args: &MultiValue) -> LResult<MultiValue> {
    let fmt_s = check_string(lua, args, 1)?;
    let fmt_b = fmt_s.as_bytes();
    let mut f = Fmt::new(&fmt_b);
    let mut pos = 0usize;
    while let Some(opt) = f.next_opt() {
        let size = f.optsize(opt)?;
        pos = pos.wrapping_add(f.toalign(pos, opt, size));
        if opt == b's' {
            return arg_err(1, "option 's' has no fixed size");
        } else if opt == b'c' && size == 0 {
            return arg_err(1, "option 'c0' has no fixed size");
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(MultiValue::from_vec(vec![Value::Number(pos as i64 as f64)]))
}

pub(crate) fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    // The C function pushes a nil marker above its arguments before reading them, so a missing
    // first argument reads as "nil" rather than "no value" in its errors.
    t.raw_set(
        "pack",
        wrap(lua, |lua, mut a| {
            a.push_back(Value::Nil);
            pack(lua, &a)
        })?,
    )?;
    t.raw_set("unpack", wrap(lua, |lua, a| unpack(lua, &a))?)?;
    t.raw_set("size", wrap(lua, |lua, a| size(lua, &a))?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval_bytes, eval_err, lua};

    const HEX: &str = "local function hex(s) local h = '' for i = 1, #s do \
                       h = h .. string.format('%02x', string.byte(s, i)) end return h end ";

    /// Hex dumps of `struct.pack` taken from Redis 7.0.
    #[test]
    fn pack_matches_redis() {
        let l = lua();
        let cases: &[(&str, &str)] = &[
            ("struct.pack('>L', 2^64)", "0000000000000000"),
            ("struct.pack('>L', 0/0)", "8000000000000000"),
            ("struct.pack('>L', 2^63)", "8000000000000000"),
            ("struct.pack('<i9', -2)", "feffffffffffffff00"),
            ("struct.pack('>I3', 2^24+5)", "000005"),
            ("struct.pack('>l', -1e300)", "8000000000000000"),
            ("struct.pack('>I', -1)", "ffffffff"),
            ("struct.pack('!4 b i', 1, 2)", "0100000002000000"),
            ("struct.pack('!2 b i3 h', 1, 2, 3)", "0100020000000300"),
            (
                "struct.pack('!8 b d', 1, 2)",
                "01000000000000000000000000000040",
            ),
            ("struct.pack('c2', 'abcdef')", "6162"),
            ("struct.pack('c0 s', 'abc', 'de')", "616263646500"),
            ("struct.pack('>f', 0.1)", "3dcccccd"),
            ("struct.pack('<d', -2.5)", "00000000000004c0"),
            ("struct.pack('>H x B', 258, 7)", "01020007"),
            ("struct.pack('c', 123)", "31"),
            ("struct.pack('b', '7')", "07"),
            ("struct.pack('>b', 300)", "2c"),
            ("struct.pack('>b', -1.7)", "ff"),
            ("struct.pack('>B', 1.7)", "01"),
        ];
        for (expr, want) in cases {
            let got = eval_bytes(&l, &format!("{HEX} return hex({expr})"));
            assert_eq!(String::from_utf8_lossy(&got), *want, "{expr}");
        }
    }

    /// `table.concat` of every value `struct.unpack` (or `struct.size`) returned, from Redis 7.0.
    #[test]
    fn unpack_and_size_match_redis() {
        let l = lua();
        let cases: &[(&str, &str)] = &[
            ("struct.unpack('>i', '\\255\\255\\255\\254')", "-2 5"),
            ("struct.unpack('<I2 b', '\\1\\2\\255')", "513 -1 4"),
            ("struct.unpack('>h', 'xx\\128\\0', 3)", "-32768 5"),
            ("struct.unpack('b c0', '\\3abcd')", "abc 5"),
            ("struct.unpack('s s', 'ab\\0c\\0')", "ab c 6"),
            (
                "struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))",
                "1 2 9",
            ),
            ("struct.unpack('>d', struct.pack('>d', 1.5))", "1.5 9"),
            (
                "struct.unpack('<f', struct.pack('<f', 0.1))",
                "0.10000000149012 5",
            ),
            (
                "struct.unpack('I9', string.rep('\\255', 9))",
                "1.844674407371e+19 10",
            ),
            ("struct.unpack('i9', string.rep('\\255', 9))", "-1 10"),
            (
                "struct.unpack('>i16', string.rep('\\0', 15) .. '\\1')",
                "1 17",
            ),
            ("struct.unpack('x', 'a')", "2"),
            ("struct.unpack('c1 c0', '3abcd')", "abc 5"),
            ("struct.unpack('c2 c0', '1.5abcd')", "5 4"),
            ("struct.unpack('b c0 b', '\\2abc')", "ab 99 5"),
            ("struct.size('>!4 b i d')", "16"),
            ("struct.size('y')", "0"),
            ("struct.size('c10 i3')", "13"),
            ("struct.size('!4 c1 i3 i')", "12"),
        ];
        for (expr, want) in cases {
            let got = eval_bytes(&l, &format!("return table.concat({{{expr}}}, ' ')"));
            assert_eq!(String::from_utf8_lossy(&got), *want, "{expr}");
        }
    }

    #[test]
    fn errors_match_redis() {
        let l = lua();
        let cases: &[(&str, &str)] = &[
            (
                "struct.pack('y', 1)",
                "bad argument #1 to 'pack' (invalid format option 'y')",
            ),
            (
                "struct.pack('c5', 'ab')",
                "bad argument #3 to 'pack' (string too short)",
            ),
            (
                "struct.pack('i', 'x')",
                "bad argument #2 to 'pack' (number expected, got string)",
            ),
            (
                "struct.pack('i')",
                "bad argument #2 to 'pack' (number expected, got nil)",
            ),
            (
                "struct.pack('i i i', 1)",
                "bad argument #3 to 'pack' (number expected, got nil)",
            ),
            (
                "struct.unpack('c3 c0', '2ab12')",
                "format 'c0' needs a previous size",
            ),
            (
                "struct.pack('i40', 1)",
                "integral size 40 is larger than limit of 32",
            ),
            ("struct.pack('!3 i', 1)", "alignment 3 is not a power of 2"),
            ("struct.pack('c99999999999', 'a')", "integral size overflow"),
            (
                "struct.pack({}, 1)",
                "bad argument #1 to 'pack' (string expected, got table)",
            ),
            (
                "struct.unpack('i', 'abc')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('b', 'abc', 0)",
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            (
                "struct.unpack('b', 'abc', -1)",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('c0', 'abc')",
                "format 'c0' needs a previous size",
            ),
            ("struct.unpack('s', 'abc')", "unfinished string in data"),
            (
                "struct.unpack('b c0', '\\9abc')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.size('s')",
                "bad argument #1 to 'size' (option 's' has no fixed size)",
            ),
            (
                "struct.size('c0')",
                "bad argument #1 to 'size' (option 'c0' has no fixed size)",
            ),
            (
                "struct.size('=')",
                "bad argument #1 to 'size' (invalid format option '=')",
            ),
        ];
        for (expr, want) in cases {
            let got = eval_err(&l, &format!("return {expr}"));
            assert_eq!(got, format!("user_script:1: {want}"), "{expr}");
        }
    }
}
