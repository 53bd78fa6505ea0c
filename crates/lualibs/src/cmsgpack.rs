//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis ships it.
//!
//! Packing: a table whose keys are exactly 1..n becomes an array (an empty table is an empty
//! array), any other table a map; tables nested 16 deep are written as nil (so cycles end);
//! numbers equal to their int64 truncation are integers in the smallest encoding, other numbers
//! are floats when a float holds them exactly and doubles otherwise; nil, functions and other
//! values are nil. Unpacking: every format but bin/ext, with the C library's quirks (uint64
//! above 2^63 comes back negative, the stack-slot limit on results and nesting), and its error
//! messages. Both directions work on the Lua stack like the C code, so big tables do not go
//! through mlua handles.

use crate::util::{
    arg_err, check_integer, check_string, msg_err, multi_return, opt_integer, wrap, LResult, LuaErr,
};
use mlua::{ffi, Lua, MultiValue, Table, Value};
use std::ffi::{c_char, c_int};

/// Tables nested this deep are packed as nil.
const MAX_NESTING: usize = 16;

const TOO_MANY: &str =
    "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)";

// ===== packing =====

fn put_be(out: &mut Vec<u8>, tag: u8, v: u64, bytes: usize) {
    out.push(tag);
    out.extend_from_slice(&v.to_be_bytes()[8 - bytes..]);
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        put_be(out, 0xd9, n as u64, 1);
    } else if n <= 0xffff {
        put_be(out, 0xda, n as u64, 2);
    } else {
        put_be(out, 0xdb, n as u64 & 0xffff_ffff, 4);
    }
    out.extend_from_slice(s);
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        match n {
            0..=127 => out.push(n as u8),
            128..=0xff => put_be(out, 0xcc, n as u64, 1),
            0x100..=0xffff => put_be(out, 0xcd, n as u64, 2),
            0x1_0000..=0xffff_ffff => put_be(out, 0xce, n as u64, 4),
            _ => put_be(out, 0xcf, n as u64, 8),
        }
    } else {
        match n {
            -32..=-1 => out.push(n as i8 as u8),
            -128..=-33 => put_be(out, 0xd0, n as u8 as u64, 1),
            -32768..=-129 => put_be(out, 0xd1, n as u16 as u64, 2),
            -2_147_483_648..=-32769 => put_be(out, 0xd2, n as u32 as u64, 4),
            _ => put_be(out, 0xd3, n as u64, 8),
        }
    }
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    // An "int64 equivalent" in C: not infinite and equal to its (x86) int64 truncation.
    let i = crate::util::c_f64_to_i64(n);
    if !n.is_infinite() && i as f64 == n {
        encode_int(out, i);
    } else if (n as f32) as f64 == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_len(out: &mut Vec<u8>, n: usize, fix: u8, tag16: u8, tag32: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        put_be(out, tag16, n as u64, 2);
    } else {
        put_be(out, tag32, n as u64 & 0xffff_ffff, 4);
    }
}

/// Whether the table at the top of the stack has exactly the keys 1..n (n may be 0): positive
/// numbers that fit a C int, with the largest equal to the count.
///
/// # Safety
/// `l` is valid with a table on top and two free slots.
unsafe fn is_array(l: *mut ffi::lua_State) -> bool {
    let mut count: i64 = 0;
    let mut max: f64 = 0.0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_pop(l, 1);
        let n = ffi::lua_tonumber(l, -1);
        let int_like = n.fract() == 0.0 && n <= i32::MAX as f64;
        if ffi::lua_type(l, -1) != ffi::LUA_TNUMBER || n <= 0.0 || !int_like {
            ffi::lua_pop(l, 1);
            return false;
        }
        if n > max {
            max = n;
        }
        count += 1;
    }
    max == count as f64
}

/// Packs the value at the top of the stack and pops it. Recursion is bounded by
/// [`MAX_NESTING`].
///
/// # Safety
/// `l` is valid with the value on top, inside a protected call.
unsafe fn pack_top(l: *mut ffi::lua_State, out: &mut Vec<u8>, level: usize) -> LResult<()> {
    let mut t = ffi::lua_type(l, -1);
    if t == ffi::LUA_TTABLE && level == MAX_NESTING {
        t = ffi::LUA_TNIL;
    }
    match t {
        ffi::LUA_TSTRING => {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, -1, &mut len);
            encode_bytes(out, std::slice::from_raw_parts(p as *const u8, len));
        }
        ffi::LUA_TBOOLEAN => out.push(if ffi::lua_toboolean(l, -1) != 0 {
            0xc3
        } else {
            0xc2
        }),
        ffi::LUA_TNUMBER => encode_number(out, ffi::lua_tonumber(l, -1)),
        ffi::LUA_TTABLE => {
            if ffi::lua_checkstack(l, 3) == 0 {
                return msg_err("stack overflow (in function mp_encode_lua_table_as_map)");
            }
            if is_array(l) {
                let len = ffi::lua_objlen(l, -1);
                encode_len(out, len, 0x90, 0xdc, 0xdd);
                for j in 1..=len {
                    ffi::lua_rawgeti(l, -1, j as ffi::lua_Integer);
                    pack_top(l, out, level + 1)?;
                }
            } else {
                let mut n = 0usize;
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, -2) != 0 {
                    ffi::lua_pop(l, 1);
                    n += 1;
                }
                encode_len(out, n, 0x80, 0xde, 0xdf);
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, -2) != 0 {
                    ffi::lua_pushvalue(l, -2);
                    pack_top(l, out, level + 1)?;
                    pack_top(l, out, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    ffi::lua_pop(l, 1);
    Ok(())
}

fn pack(lua: &Lua, args: MultiValue) -> LResult<MultiValue> {
    if args.is_empty() {
        return arg_err(0, "MessagePack pack needs input.");
    }
    // The arguments travel in a table so that thousands of them cost one slot on the way in;
    // the raw frame then holds them on its stack as the C function's frame does.
    let nargs = args.len();
    let list = lua.create_table_with_capacity(nargs, 0)?;
    for (i, v) in args.into_iter().enumerate() {
        list.raw_set(i + 1, v)?;
    }
    let mut out = Vec::new();
    let mut result: LResult<()> = Ok(());
    // SAFETY: protected C frame; the arguments are pushed after checking there is room (C's
    // check: the frame must fit twice the arguments); values are only read and popped, and the
    // frame is emptied at the end.
    unsafe {
        lua.exec_raw::<()>(list, |l| {
            result = (|| {
                let n = nargs as c_int;
                if 2 * nargs > crate::util::LUAI_MAXCSTACK || ffi::lua_checkstack(l, n + 1) == 0 {
                    return arg_err(0, "Too many arguments for MessagePack pack.");
                }
                for i in 1..=n {
                    ffi::lua_rawgeti(l, 1, i as ffi::lua_Integer);
                }
                for i in 2..=n + 1 {
                    ffi::lua_pushvalue(l, i);
                    pack_top(l, &mut out, 0)?;
                }
                Ok(())
            })();
            ffi::lua_settop(l, 0);
        })?;
    }
    result?;
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(&out)?,
    )]))
}

// ===== unpacking =====

/// Why decoding stopped early: not enough bytes, or a byte that starts no known format.
enum Stop {
    Eof,
    BadFormat,
    Fail(LuaErr),
}

impl From<LuaErr> for Stop {
    fn from(e: LuaErr) -> Self {
        Stop::Fail(e)
    }
}

/// A container being filled: `remaining` items not started yet; a map alternates key/value.
enum Frame {
    Array { remaining: usize, next: f64 },
    Map { remaining: usize, have_key: bool },
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    fn need(&self, n: usize) -> Result<(), Stop> {
        if self.left() < n {
            Err(Stop::Eof)
        } else {
            Ok(())
        }
    }

    /// Big-endian unsigned integer of `n` bytes at offset `at` from the current position.
    fn be(&self, at: usize, n: usize) -> u64 {
        self.data[self.pos + at..self.pos + at + n]
            .iter()
            .fold(0, |a, &b| (a << 8) | b as u64)
    }
}

/// Pushes the string of `len` bytes that starts `hdr` bytes into the cursor and consumes both.
unsafe fn push_str(
    l: *mut ffi::lua_State,
    c: &mut Cursor,
    hdr: usize,
    len: usize,
) -> Result<(), Stop> {
    c.need(hdr + len)?;
    let s = &c.data[c.pos + hdr..c.pos + hdr + len];
    ffi::lua_pushlstring(l, s.as_ptr() as *const c_char, len);
    c.pos += hdr + len;
    Ok(())
}

/// Decodes one complete value at the cursor, leaving it on the stack. Containers are handled
/// with an explicit stack of frames, their tables (and pending keys or indices) on the Lua
/// stack as the C decoder keeps them, so the same stack-slot checks fail at the same points.
///
/// # Safety
/// `l` is valid, inside a protected call.
unsafe fn decode_one(l: *mut ffi::lua_State, c: &mut Cursor) -> Result<(), Stop> {
    let mut frames: Vec<Frame> = Vec::new();
    loop {
        // Decode the value at the cursor.
        c.need(1)?;
        if ffi::lua_checkstack(l, 1) == 0 {
            return Err(LuaErr::Msg(TOO_MANY.into()).into());
        }
        let b = c.data[c.pos];
        let mut opened = None;
        match b {
            0xcc..=0xcf => {
                let n = 1usize << (b - 0xcc);
                c.need(1 + n)?;
                // Pushed as a lua_Integer: uint64 above 2^63 wraps to negative.
                ffi::lua_pushnumber(l, c.be(1, n) as i64 as f64);
                c.pos += 1 + n;
            }
            0xd0..=0xd3 => {
                let n = 1usize << (b - 0xd0);
                c.need(1 + n)?;
                let shift = 64 - 8 * n as u32;
                ffi::lua_pushnumber(l, ((c.be(1, n) << shift) as i64 >> shift) as f64);
                c.pos += 1 + n;
            }
            0xc0 => {
                ffi::lua_pushnil(l);
                c.pos += 1;
            }
            0xc2 | 0xc3 => {
                ffi::lua_pushboolean(l, (b == 0xc3) as c_int);
                c.pos += 1;
            }
            0xca => {
                c.need(5)?;
                ffi::lua_pushnumber(l, f32::from_bits(c.be(1, 4) as u32) as f64);
                c.pos += 5;
            }
            0xcb => {
                c.need(9)?;
                ffi::lua_pushnumber(l, f64::from_bits(c.be(1, 8)));
                c.pos += 9;
            }
            0xd9..=0xdb => {
                let n = 1usize << (b - 0xd9);
                c.need(1 + n)?;
                let len = c.be(1, n) as usize;
                push_str(l, c, 1 + n, len)?;
            }
            0xdc..=0xdf => {
                let n = if b & 1 == 0 { 2 } else { 4 };
                c.need(1 + n)?;
                let len = c.be(1, n) as usize;
                c.pos += 1 + n;
                opened = Some((b < 0xde, len));
            }
            0x00..=0x7f => {
                ffi::lua_pushnumber(l, b as f64);
                c.pos += 1;
            }
            0xe0..=0xff => {
                ffi::lua_pushnumber(l, b as i8 as f64);
                c.pos += 1;
            }
            0xa0..=0xbf => push_str(l, c, 1, (b & 0x1f) as usize)?,
            0x80..=0x9f => {
                c.pos += 1;
                opened = Some((b >= 0x90, (b & 0x0f) as usize));
            }
            _ => return Err(Stop::BadFormat),
        }
        if let Some((is_array, len)) = opened {
            ffi::lua_createtable(l, 0, 0);
            if is_array {
                if ffi::lua_checkstack(l, 1) == 0 {
                    return Err(LuaErr::Msg(
                        b"stack overflow (in function mp_decode_to_lua_array)".to_vec(),
                    )
                    .into());
                }
                frames.push(Frame::Array {
                    remaining: len,
                    next: 1.0,
                });
            } else {
                frames.push(Frame::Map {
                    remaining: len,
                    have_key: false,
                });
            }
        } else if !attach(l, &mut frames)? {
            return Ok(());
        }
        // Start the next item of the innermost unfinished container, closing finished ones.
        loop {
            match frames.last_mut() {
                Some(Frame::Array { remaining, next }) if *remaining > 0 => {
                    *remaining -= 1;
                    ffi::lua_pushnumber(l, *next);
                    *next += 1.0;
                    break;
                }
                Some(Frame::Map { have_key: true, .. }) => break,
                Some(Frame::Map { remaining, .. }) if *remaining > 0 => {
                    *remaining -= 1;
                    break;
                }
                Some(_) => {
                    frames.pop();
                    if !attach(l, &mut frames)? {
                        return Ok(());
                    }
                }
                None => return Ok(()),
            }
        }
    }
}

/// Stores the value on top of the stack into the innermost container. Returns false when there
/// is none (the value is a finished top-level value).
unsafe fn attach(l: *mut ffi::lua_State, frames: &mut [Frame]) -> Result<bool, Stop> {
    match frames.last_mut() {
        None => Ok(false),
        Some(Frame::Array { .. }) => {
            ffi::lua_rawset(l, -3);
            Ok(true)
        }
        Some(Frame::Map { have_key, .. }) => {
            if !*have_key {
                *have_key = true;
                return Ok(true);
            }
            // lua_settable would raise these itself; checked here so nothing unwinds Rust.
            match ffi::lua_type(l, -2) {
                ffi::LUA_TNIL => return Err(LuaErr::Plain(b"table index is nil".to_vec()).into()),
                ffi::LUA_TNUMBER if ffi::lua_tonumber(l, -2).is_nan() => {
                    return Err(LuaErr::Plain(b"table index is NaN".to_vec()).into())
                }
                _ => {}
            }
            ffi::lua_rawset(l, -3);
            *have_key = false;
            Ok(true)
        }
    }
}

/// `mp_unpack_full`: decodes up to `limit` values from `offset` (everything when both are 0).
/// The frame holds `args` first, as the C function's does. Results come back in a table so that
/// thousands of them need no mlua handles.
fn unpack_full(lua: &Lua, args: MultiValue, limit: i64, offset: i64) -> LResult<MultiValue> {
    let s = check_string(lua, &args, 1)?;
    let data = s.as_bytes();
    let len = data.len();
    if offset < 0 || limit < 0 {
        return msg_err(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        ));
    } else if offset as u64 > len as u64 {
        return msg_err(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        ));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut result: LResult<usize> = Ok(0);
    // SAFETY: protected C frame holding `args`; decoded values are pushed above them and moved
    // into one table, which is the frame's only result.
    let table = unsafe {
        lua.exec_raw::<Option<Table>>(args, |l| {
            // The results table takes the input string's slot (the string stays alive through
            // `s`), so the frame has exactly the slots the C function's has.
            ffi::lua_createtable(l, 0, 0);
            ffi::lua_replace(l, 1);
            let base = ffi::lua_gettop(l);
            let mut c = Cursor {
                data: &data,
                pos: offset as usize,
            };
            let mut cnt: usize = 0;
            let mut err = None;
            while c.left() > 0 && (cnt as i64) < limit {
                match decode_one(l, &mut c) {
                    Ok(()) => cnt += 1,
                    Err(Stop::Eof) => err = Some(LuaErr::Msg(b"Missing bytes in input.".to_vec())),
                    Err(Stop::BadFormat) => {
                        err = Some(LuaErr::Msg(b"Bad data format in input.".to_vec()))
                    }
                    Err(Stop::Fail(e)) => err = Some(e),
                }
                if err.is_some() {
                    break;
                }
            }
            if let Some(e) = err {
                result = Err(e);
                ffi::lua_settop(l, 0);
                return;
            }
            if !decode_all {
                if ffi::lua_checkstack(l, 1) == 0 {
                    result = msg_err("stack overflow (in function mp_unpack_full)");
                    ffi::lua_settop(l, 0);
                    return;
                }
                let next = if c.left() == 0 { -1.0 } else { c.pos as f64 };
                ffi::lua_pushnumber(l, next);
                ffi::lua_insert(l, base + 1);
                cnt += 1;
            }
            for i in (1..=cnt).rev() {
                ffi::lua_rawseti(l, 1, i as ffi::lua_Integer);
            }
            ffi::lua_settop(l, 1);
            result = Ok(cnt);
        })?
    };
    let cnt = result?;
    match table {
        Some(t) => Ok(multi_return(t, cnt)),
        None => Ok(MultiValue::new()),
    }
}

pub(crate) fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", wrap(lua, pack)?)?;
    t.raw_set("unpack", wrap(lua, |lua, a| unpack_full(lua, a, 0, 0))?)?;
    t.raw_set(
        "unpack_one",
        wrap(lua, |lua, mut a| {
            let offset = opt_integer(lua, &a, 2, 0)?;
            a.truncate(1);
            unpack_full(lua, a, 1, offset)
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        wrap(lua, |lua, mut a| {
            let limit = check_integer(lua, &a, 2)?;
            let offset = opt_integer(lua, &a, 3, 0)?;
            a.truncate(1);
            unpack_full(lua, a, limit, offset)
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

#[cfg(test)]
mod tests;
