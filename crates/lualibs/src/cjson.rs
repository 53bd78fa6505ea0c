//! `cjson`: lua-cjson 2.1.0 as Redis ships it. Encoding and decoding follow the C library's
//! rules byte for byte: which tables are arrays (only positive integer keys, and not "excessively
//! sparse"), numbers with `%.14g`, `/` escaped as `\/`, NUL ends the input, `\u` escapes with
//! surrogate pairs, numbers read with C's `strtod` (so hex, `inf`, `nan` are accepted while
//! `decode_invalid_numbers` is on, as by default), and the same error messages.
//!
//! Both directions are iterative (an explicit stack instead of recursion), so a script that
//! raises the depth limits cannot overflow the native stack; the C library's other limit, Lua's
//! 8000 stack slots per C call, is counted the way the C code uses slots and reported with the
//! same messages.

use crate::util::{arg_err, check_integer, check_string, fmt_g, msg_err, wrap, LResult};
use mlua::{ffi, LightUserData, Lua, MultiValue, Table, Value};
use std::ffi::{c_char, c_int};
use std::sync::{Arc, Mutex, MutexGuard};

/// Settings of one cjson module table (`cjson.new()` makes an independent one).
#[derive(Debug, Clone)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 = error, 1 = encode as `nan`/`inf`, 2 = encode as `null`.
    encode_invalid_numbers: usize,
    decode_invalid_numbers: bool,
    encode_keep_buffer: bool,
    encode_number_precision: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            encode_keep_buffer: true,
            encode_number_precision: 14,
        }
    }
}

/// Shared by the functions of one module table. A mutex (never contended: a Lua state runs one
/// script at a time) keeps the closures `Send` in case mlua's `send` feature gets enabled.
type Cfg = Arc<Mutex<Config>>;

fn lock(cfg: &Cfg) -> MutexGuard<'_, Config> {
    cfg.lock().unwrap_or_else(|p| p.into_inner())
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn one(v: Value) -> LResult<MultiValue> {
    Ok(MultiValue::from_vec(vec![v]))
}

// ===== configuration functions =====

/// `json_arg_init`: at most `n` arguments.
fn arg_init(args: &MultiValue, n: usize) -> LResult<()> {
    if args.len() > n {
        return arg_err(n as i32 + 1, "found too many arguments");
    }
    Ok(())
}

fn is_nil(args: &MultiValue, i: usize) -> bool {
    matches!(args.get(i - 1), None | Some(Value::Nil))
}

/// An integer setting in `[min, max]`; the range error always names argument 1, as in C.
fn integer_option(
    lua: &Lua,
    args: &MultiValue,
    i: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> LResult<Value> {
    if !is_nil(args, i) {
        let value = check_integer(lua, args, i)? as i32;
        if !(min <= value && value <= max) {
            return arg_err(1, format!("expected integer between {min} and {max}"));
        }
        *setting = value;
    }
    Ok(Value::Number(*setting as f64))
}

/// An enumerated setting: a boolean, or one of `options` by name. Reports false/true for the
/// first two values and the option's name beyond.
fn enum_option(
    lua: &Lua,
    args: &MultiValue,
    i: usize,
    setting: &mut usize,
    options: &[&str],
) -> LResult<Value> {
    if !is_nil(args, i) {
        if let Some(Value::Boolean(b)) = args.get(i - 1) {
            *setting = *b as usize;
        } else {
            let name = check_string(lua, args, i)?;
            let name = name.as_bytes();
            match options.iter().position(|o| o.as_bytes() == &name[..]) {
                Some(p) => *setting = p,
                None => {
                    let mut m = b"invalid option '".to_vec();
                    m.extend_from_slice(&name);
                    m.push(b'\'');
                    return arg_err(i as i32, m);
                }
            }
        }
    }
    Ok(match *setting {
        0 => Value::Boolean(false),
        1 => Value::Boolean(true),
        n => Value::String(lua.create_string(options[n])?),
    })
}

const BOOL_OPTIONS: &[&str] = &["off", "on"];

fn bool_option(lua: &Lua, args: &MultiValue, i: usize, setting: &mut bool) -> LResult<Value> {
    let mut s = *setting as usize;
    let v = enum_option(lua, args, i, &mut s, BOOL_OPTIONS)?;
    *setting = s != 0;
    Ok(v)
}

// ===== encoding =====

/// Appends `s` as a JSON string with lua-cjson's escapes (control characters, `"`, `\`, `/`
/// and DEL; bytes above 0x7f pass through).
fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

fn encode_error<T>(what: &str, reason: &str) -> LResult<T> {
    msg_err(format!("Cannot serialise {what}: {reason}"))
}

fn append_number(cfg: &Config, out: &mut Vec<u8>, n: f64) -> LResult<()> {
    match cfg.encode_invalid_numbers {
        0 if n.is_nan() || n.is_infinite() => {
            return encode_error("number", "must not be NaN or Inf");
        }
        1 if n.is_nan() => {
            out.extend_from_slice(b"nan");
            return Ok(());
        }
        2 if n.is_nan() || n.is_infinite() => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        _ => {}
    }
    out.extend_from_slice(fmt_g(n, cfg.encode_number_precision as usize).as_bytes());
    Ok(())
}

/// `lua_array_length` for the table at the top of the stack: `Some(len)` for an array, `None`
/// for an object. `max` is a C int assigned from a double; what x86-64 makes of huge keys there
/// is reproduced.
///
/// # Safety
/// `l` is a valid state with a table at the top and two free stack slots.
unsafe fn array_length(l: *mut ffi::lua_State, cfg: &Config) -> LResult<Option<i64>> {
    let mut max: i32 = 0;
    let mut items: i32 = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        let k = if ffi::lua_type(l, -2) == ffi::LUA_TNUMBER {
            ffi::lua_tonumber(l, -2)
        } else {
            0.0
        };
        if k != 0.0 && k.floor() == k && k >= 1.0 {
            if k > max as f64 {
                // C's `(int)k`: out of range gives INT_MIN (cvttsd2si), so later smaller keys
                // still win and a lone huge key makes an object.
                max = if k < 2_147_483_648.0 {
                    k as i32
                } else {
                    i32::MIN
                };
            }
            items = items.wrapping_add(1);
            ffi::lua_pop(l, 1);
            continue;
        }
        ffi::lua_pop(l, 2);
        return Ok(None);
    }
    if cfg.sparse_ratio > 0 && max > items.wrapping_mul(cfg.sparse_ratio) && max > cfg.sparse_safe {
        if !cfg.sparse_convert {
            return encode_error("table", "excessively sparse array");
        }
        return Ok(None);
    }
    Ok(if max > 0 { Some(max as i64) } else { None })
}

/// The type name Lua gives the value at `idx`.
unsafe fn type_name_at(l: *mut ffi::lua_State, idx: c_int) -> String {
    let p = ffi::lua_typename(l, ffi::lua_type(l, idx));
    std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
}

/// The bytes of the string at `idx` (which must be a string, so nothing is converted).
unsafe fn str_at<'a>(l: *mut ffi::lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    std::slice::from_raw_parts(p as *const u8, len)
}

/// A table being written. Arrays are walked by index; objects with `lua_next`, their current
/// key sitting on the Lua stack above the table.
struct EncFrame {
    array_len: Option<i64>,
    next: i64,
}

/// Encodes the value at the top of the stack of `l` (a fresh C frame holding just that value,
/// like the C library's `encode`), walking tables with the stack exactly as the C code does, so
/// Lua's limit on stack slots cuts deep nesting at the same point.
///
/// # Safety
/// `l` is a valid state with the value at the top, inside a protected call.
unsafe fn encode_raw(l: *mut ffi::lua_State, cfg: &Config, out: &mut Vec<u8>) -> LResult<()> {
    let mut stack: Vec<EncFrame> = Vec::new();
    loop {
        // Write the value at the top of the stack.
        match ffi::lua_type(l, -1) {
            ffi::LUA_TSTRING => {
                append_string(out, str_at(l, -1));
                ffi::lua_pop(l, 1);
            }
            ffi::LUA_TNUMBER => {
                append_number(cfg, out, ffi::lua_tonumber(l, -1))?;
                ffi::lua_pop(l, 1);
            }
            ffi::LUA_TBOOLEAN => {
                let b = ffi::lua_toboolean(l, -1) != 0;
                out.extend_from_slice(if b { b"true" } else { b"false" });
                ffi::lua_pop(l, 1);
            }
            ffi::LUA_TNIL => {
                out.extend_from_slice(b"null");
                ffi::lua_pop(l, 1);
            }
            ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, -1).is_null() => {
                out.extend_from_slice(b"null");
                ffi::lua_pop(l, 1);
            }
            ffi::LUA_TTABLE => {
                let depth = stack.len() + 1;
                if depth > cfg.encode_max_depth as usize || ffi::lua_checkstack(l, 3) == 0 {
                    return msg_err(format!("Cannot serialise, excessive nesting ({depth})"));
                }
                let array_len = array_length(l, cfg)?;
                if array_len.is_some() {
                    out.push(b'[');
                } else {
                    out.push(b'{');
                    ffi::lua_pushnil(l);
                }
                stack.push(EncFrame { array_len, next: 1 });
            }
            _ => return encode_error(&type_name_at(l, -1), "type not supported"),
        }
        // Move to the next value to write, closing the tables that are done.
        loop {
            let Some(top) = stack.last_mut() else {
                return Ok(());
            };
            let first = top.next == 1;
            match top.array_len {
                Some(len) => {
                    if top.next <= len {
                        if !first {
                            out.push(b',');
                        }
                        ffi::lua_rawgeti(l, -1, top.next);
                        top.next += 1;
                        break;
                    }
                    out.push(b']');
                }
                None => {
                    if ffi::lua_next(l, -2) != 0 {
                        if !first {
                            out.push(b',');
                        }
                        top.next += 1;
                        match ffi::lua_type(l, -2) {
                            ffi::LUA_TSTRING => {
                                append_string(out, str_at(l, -2));
                                out.push(b':');
                            }
                            ffi::LUA_TNUMBER => {
                                out.push(b'"');
                                append_number(cfg, out, ffi::lua_tonumber(l, -2))?;
                                out.extend_from_slice(b"\":");
                            }
                            _ => {
                                return encode_error(
                                    &type_name_at(l, -2),
                                    "table key must be a number or string",
                                )
                            }
                        }
                        break;
                    }
                    out.push(b'}');
                }
            }
            // The table is finished: drop it (lua_next already removed an object's key).
            ffi::lua_pop(l, 1);
            stack.pop();
        }
    }
}

fn encode(lua: &Lua, cfg: &Cfg, mut args: MultiValue) -> LResult<MultiValue> {
    if args.len() != 1 {
        return arg_err(1, "expected 1 argument");
    }
    let value = args.pop_front().unwrap_or(Value::Nil);
    let cfg = lock(cfg).clone();
    let mut out = Vec::new();
    let mut result: LResult<()> = Ok(());
    // SAFETY: the closure runs in a protected C frame holding only `value`; it leaves the stack
    // empty, and only touches indices it pushed or checked.
    unsafe {
        lua.exec_raw::<()>(value, |l| {
            result = encode_raw(l, &cfg, &mut out);
            ffi::lua_settop(l, 0);
        })?;
    }
    result?;
    one(Value::String(lua.create_string(&out)?))
}

// ===== decoding =====

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    /// An error token; the payload is its description ("invalid token", ...).
    Error(&'static str),
}

impl Tok {
    /// How error messages name the token.
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Number => "T_NUMBER",
            Tok::Boolean => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(what) => what,
        }
    }
}

/// A token: its type, where it starts (0-based) and its value.
struct Token {
    tok: Tok,
    index: usize,
    number: f64,
    boolean: bool,
}

extern "C" {
    /// The C library's `strtod`, which lua-cjson uses for numbers (its grammar: decimal and hex
    /// floats, `inf`/`infinity`, `nan`/`nan(...)`, optional sign).
    fn strtod(nptr: *const c_char, endptr: *mut *mut c_char) -> f64;
}

/// `strtod` on the bytes at the start of `s`: the value and how many bytes it used (0 when no
/// number starts there). The candidate run is copied so the C call sees a terminated string.
fn c_strtod(s: &[u8]) -> (f64, usize) {
    let run = s
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || b"+-.()_".contains(&c)))
        .unwrap_or(s.len());
    let mut buf = Vec::with_capacity(run + 1);
    buf.extend_from_slice(&s[..run]);
    buf.push(0);
    let mut end: *mut c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; `end` points into it afterwards.
    let v = unsafe { strtod(buf.as_ptr() as *const c_char, &mut end) };
    let used = (end as usize).wrapping_sub(buf.as_ptr() as usize).min(run);
    (v, used)
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    /// Decoded text of the last string token.
    tmp: Vec<u8>,
    decode_invalid_numbers: bool,
}

fn hexval(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

impl Parser<'_> {
    /// The byte at `i`, with the C string's terminating NUL past the end.
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        let mut v = 0;
        for k in 0..4 {
            v = (v << 4) | hexval(self.at(i + k))?;
        }
        Some(v)
    }

    /// A `\uXXXX` escape (or surrogate pair) at `pos`, appended to `tmp` as UTF-8.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut buf = [0u8; 4];
        // Every value here is a valid scalar (surrogates were paired above).
        match char::from_u32(cp) {
            Some(c) => self
                .tmp
                .extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
            None => return false,
        }
        self.pos += len;
        true
    }

    fn error_at(&self, what: &'static str) -> Token {
        Token {
            tok: Tok::Error(what),
            index: self.pos,
            number: 0.0,
            boolean: false,
        }
    }

    fn string_token(&mut self, index: usize) -> Token {
        self.pos += 1;
        self.tmp.clear();
        loop {
            let c = self.at(self.pos);
            if c == b'"' {
                break;
            }
            if c == 0 {
                return self.error_at("unexpected end of string");
            }
            let mut ch = c;
            if c == b'\\' {
                ch = match self.at(self.pos + 1) {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 8,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'f' => 12,
                    b'r' => b'\r',
                    b'u' => {
                        if self.unicode_escape() {
                            continue;
                        }
                        return self.error_at("invalid unicode escape code");
                    }
                    _ => return self.error_at("invalid escape code"),
                };
                self.pos += 1;
            }
            self.tmp.push(ch);
            self.pos += 1;
        }
        self.pos += 1;
        Token {
            tok: Tok::Str,
            index,
            number: 0.0,
            boolean: false,
        }
    }

    /// `json_is_invalid_number`: strtod accepts forms strict JSON does not (leading `+`, hex,
    /// leading zeros, inf, nan).
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        } else if c <= b'9' {
            return false;
        }
        let rest = &self.data[p.min(self.data.len())..];
        let starts = |w: &[u8]| rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(w);
        starts(b"inf") || starts(b"nan")
    }

    fn number_token(&mut self, index: usize) -> Token {
        let (v, used) = c_strtod(&self.data[self.pos.min(self.data.len())..]);
        if used == 0 {
            return self.error_at("invalid number");
        }
        self.pos += used;
        Token {
            tok: Tok::Number,
            index,
            number: v,
            boolean: false,
        }
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let simple = |tok| Token {
            tok,
            index,
            number: 0.0,
            boolean: false,
        };
        let c = self.at(self.pos);
        let tok = match c {
            b'{' => Tok::ObjBegin,
            b'}' => Tok::ObjEnd,
            b'[' => Tok::ArrBegin,
            b']' => Tok::ArrEnd,
            b',' => Tok::Comma,
            b':' => Tok::Colon,
            0 => return simple(Tok::End),
            b'"' => return self.string_token(index),
            b'-' | b'0'..=b'9' => {
                if !self.decode_invalid_numbers && self.is_invalid_number() {
                    return self.error_at("invalid number");
                }
                return self.number_token(index);
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                let rest = &self.data[self.pos..];
                if rest.starts_with(b"true") {
                    self.pos += 4;
                    return Token {
                        tok: Tok::Boolean,
                        index,
                        number: 0.0,
                        boolean: true,
                    };
                } else if rest.starts_with(b"false") {
                    self.pos += 5;
                    return Token {
                        tok: Tok::Boolean,
                        index,
                        number: 0.0,
                        boolean: false,
                    };
                } else if rest.starts_with(b"null") {
                    self.pos += 4;
                    return simple(Tok::Null);
                } else if self.decode_invalid_numbers && self.is_invalid_number() {
                    return self.number_token(index);
                }
                return self.error_at("invalid token");
            }
            _ => return self.error_at("invalid token"),
        };
        self.pos += 1;
        simple(tok)
    }
}

fn parse_error<T>(expected: &str, t: &Token) -> LResult<T> {
    msg_err(format!(
        "Expected {expected} but found {} at character {}",
        t.tok.name(),
        t.index + 1
    ))
}

/// An open container while decoding. Its table is on the Lua stack; an object's pending key
/// sits above it while the value is parsed, as in the C decoder.
enum DecFrame {
    Array { next: i64 },
    Object,
}

/// Pushes the value of scalar token `t` (string, number, boolean or null).
unsafe fn push_scalar(l: *mut ffi::lua_State, p: &Parser, t: &Token) {
    match t.tok {
        Tok::Str => {
            ffi::lua_pushlstring(l, p.tmp.as_ptr() as *const c_char, p.tmp.len());
        }
        Tok::Number => ffi::lua_pushnumber(l, t.number),
        Tok::Boolean => ffi::lua_pushboolean(l, t.boolean as c_int),
        _ => ffi::lua_pushlightuserdata(l, std::ptr::null_mut()),
    }
}

/// Decodes `data`, leaving the result at the top of the stack of `l` (a fresh C frame, like the
/// C library's `decode`). Containers are built on the Lua stack the way the C decoder builds
/// them, so its depth and stack-slot limits trigger at the same points.
///
/// # Safety
/// `l` is a valid state inside a protected call.
unsafe fn decode_raw(l: *mut ffi::lua_State, cfg: &Config, data: &[u8]) -> LResult<()> {
    let mut p = Parser {
        data,
        pos: 0,
        tmp: Vec::new(),
        decode_invalid_numbers: cfg.decode_invalid_numbers,
    };
    let mut stack: Vec<DecFrame> = Vec::new();
    let descend = |p: &Parser, depth: usize, slots: c_int| -> LResult<()> {
        if depth > cfg.decode_max_depth as usize || ffi::lua_checkstack(l, slots) == 0 {
            return msg_err(format!(
                "Found too many nested data structures ({depth}) at character {}",
                p.pos
            ));
        }
        Ok(())
    };
    // After an object's `{` or `,`: the key string and the colon, leaving the key pushed.
    let key_and_colon = |p: &mut Parser, t: &Token| -> LResult<()> {
        if t.tok != Tok::Str {
            return parse_error("object key string", t);
        }
        ffi::lua_pushlstring(l, p.tmp.as_ptr() as *const c_char, p.tmp.len());
        let colon = p.next_token();
        if colon.tok != Tok::Colon {
            return parse_error("colon", &colon);
        }
        Ok(())
    };
    let mut t = p.next_token();
    'value: loop {
        // Parse the value that starts with token `t`, leaving it on the stack.
        match t.tok {
            Tok::Str | Tok::Number | Tok::Boolean | Tok::Null => push_scalar(l, &p, &t),
            Tok::ObjBegin => {
                descend(&p, stack.len() + 1, 3)?;
                ffi::lua_newtable(l);
                t = p.next_token();
                if t.tok != Tok::ObjEnd {
                    key_and_colon(&mut p, &t)?;
                    stack.push(DecFrame::Object);
                    t = p.next_token();
                    continue 'value;
                }
            }
            Tok::ArrBegin => {
                descend(&p, stack.len() + 1, 2)?;
                ffi::lua_newtable(l);
                t = p.next_token();
                if t.tok != Tok::ArrEnd {
                    stack.push(DecFrame::Array { next: 1 });
                    continue 'value;
                }
            }
            _ => return parse_error("value", &t),
        }
        // Store the finished value into the open containers, closing those that end here.
        loop {
            let Some(frame) = stack.last_mut() else {
                break 'value;
            };
            match frame {
                DecFrame::Array { next } => {
                    ffi::lua_rawseti(l, -2, *next);
                    *next += 1;
                    t = p.next_token();
                    if t.tok != Tok::ArrEnd {
                        if t.tok != Tok::Comma {
                            return parse_error("comma or array end", &t);
                        }
                        t = p.next_token();
                        continue 'value;
                    }
                }
                DecFrame::Object => {
                    ffi::lua_rawset(l, -3);
                    t = p.next_token();
                    if t.tok != Tok::ObjEnd {
                        if t.tok != Tok::Comma {
                            return parse_error("comma or object end", &t);
                        }
                        t = p.next_token();
                        key_and_colon(&mut p, &t)?;
                        t = p.next_token();
                        continue 'value;
                    }
                }
            }
            // The container is complete and is now the value on top of the stack.
            stack.pop();
        }
    }
    let end = p.next_token();
    if end.tok != Tok::End {
        return parse_error("the end", &end);
    }
    Ok(())
}

fn decode(lua: &Lua, cfg: &Cfg, args: MultiValue) -> LResult<MultiValue> {
    if args.len() != 1 {
        return arg_err(1, "expected 1 argument");
    }
    let cfg = lock(cfg).clone();
    let text = check_string(lua, &args, 1)?;
    let data = text.as_bytes();
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return msg_err("JSON parser does not support UTF-16 or UTF-32");
    }
    let mut result: LResult<()> = Ok(());
    // SAFETY: the closure runs in a protected C frame holding the input string (as the C
    // function's frame does); on success it leaves exactly the decoded value, otherwise nothing.
    let value = unsafe {
        lua.exec_raw::<Value>(text.clone(), |l| {
            result = decode_raw(l, &cfg, &data);
            if result.is_ok() {
                ffi::lua_replace(l, 1);
                ffi::lua_settop(l, 1);
            } else {
                ffi::lua_settop(l, 0);
            }
        })?
    };
    result?;
    one(value)
}

// ===== module =====

/// Builds a cjson module table with its own configuration (`cjson` itself and `cjson.new()`).
fn new_module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Cfg = Arc::new(Mutex::new(Config::default()));
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.raw_set("encode", wrap(lua, move |lua, a| encode(lua, &c, a))?)?;
    let c = cfg.clone();
    t.raw_set("decode", wrap(lua, move |lua, a| decode(lua, &c, a))?)?;
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        wrap(lua, move |lua, a| {
            arg_init(&a, 3)?;
            let mut cfg = lock(&c);
            let conv = bool_option(lua, &a, 1, &mut cfg.sparse_convert)?;
            let ratio = integer_option(lua, &a, 2, &mut cfg.sparse_ratio, 0, i32::MAX)?;
            let safe = integer_option(lua, &a, 3, &mut cfg.sparse_safe, 0, i32::MAX)?;
            Ok(MultiValue::from_vec(vec![conv, ratio, safe]))
        })?,
    )?;
    type IntField = fn(&mut Config) -> &mut i32;
    let int_settings: [(&str, IntField, i32, i32); 3] = [
        ("encode_max_depth", |c| &mut c.encode_max_depth, 1, i32::MAX),
        ("decode_max_depth", |c| &mut c.decode_max_depth, 1, i32::MAX),
        (
            "encode_number_precision",
            |c| &mut c.encode_number_precision,
            1,
            14,
        ),
    ];
    for (name, field, min, max) in int_settings {
        let c = cfg.clone();
        t.raw_set(
            name,
            wrap(lua, move |lua, a| {
                arg_init(&a, 1)?;
                let mut cfg = lock(&c);
                one(integer_option(lua, &a, 1, field(&mut cfg), min, max)?)
            })?,
        )?;
    }
    type BoolField = fn(&mut Config) -> &mut bool;
    let bool_settings: [(&str, BoolField); 2] = [
        ("encode_keep_buffer", |c| &mut c.encode_keep_buffer),
        ("decode_invalid_numbers", |c| &mut c.decode_invalid_numbers),
    ];
    for (name, field) in bool_settings {
        let c = cfg.clone();
        t.raw_set(
            name,
            wrap(lua, move |lua, a| {
                arg_init(&a, 1)?;
                let mut cfg = lock(&c);
                one(bool_option(lua, &a, 1, field(&mut cfg))?)
            })?,
        )?;
    }
    let c = cfg.clone();
    t.raw_set(
        "encode_invalid_numbers",
        wrap(lua, move |lua, a| {
            arg_init(&a, 1)?;
            let mut cfg = lock(&c);
            one(enum_option(
                lua,
                &a,
                1,
                &mut cfg.encode_invalid_numbers,
                &["off", "on", "null"],
            )?)
        })?,
    )?;
    t.raw_set(
        "new",
        wrap(lua, |lua, _| {
            Ok(MultiValue::from_vec(vec![Value::Table(new_module(lua)?)]))
        })?,
    )?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

pub(crate) fn create(lua: &Lua) -> mlua::Result<Table> {
    new_module(lua)
}

#[cfg(test)]
mod tests;
