//! Conversions between Lua values and RESP, with Redis's rules (script_lua.c):
//!
//! - command reply -> Lua: integer -> number, bulk -> string, null bulk/array -> false (RESP2)
//!   or nil (RESP3 null), array -> table, status -> `{ok=...}`, error -> `{err=...}`, and in
//!   RESP3 map -> `{map={...}}`, set -> `{set={k=true}}`, double -> `{double=n}`, boolean,
//!   big number -> `{big_number=s}`, verbatim -> `{verbatim_string={format=,string=}}`.
//! - Lua -> script reply: string -> bulk, number -> integer (truncated), true -> 1 (or a RESP3
//!   boolean after `redis.setresp(3)`), false/nil -> null, tables as above (`err` first, then
//!   `ok`, `double`, `big_number`, `verbatim_string`, `map`, `set`, else an array up to the
//!   first nil).

use cinnabar_resp::ReplyBuf;
use mlua::{ffi, Lua, Table, Value};

/// Deepest table nesting converted to a reply; deeper (or cyclic) tables get an error.
const MAX_DEPTH: usize = 500;

/// Pushes the reply at `buf[*pos..]` (as our own encoder wrote it) onto the Lua stack as one
/// value. Works on the raw stack because `redis.call` must be a C function: a Lua wrapper
/// would be tail-called by `return redis.call(...)` and hide the caller's line in errors.
///
/// # Safety
/// `l` must be a valid Lua state with room for the pushes (checked level by level).
pub unsafe fn push_reply(l: *mut ffi::lua_State, buf: &[u8], pos: &mut usize) {
    ffi::lua_checkstack(l, 4);
    let start = *pos;
    let kind = buf[start];
    let line_end = find_crlf(buf, start + 1);
    let line = &buf[start + 1..line_end];
    *pos = line_end + 2;
    let num = |l: &[u8]| -> i64 { cinnabar_engine::num::parse_i64(l).unwrap_or(0) };
    match kind {
        b'+' => {
            ffi::lua_createtable(l, 0, 1);
            push_bytes(l, line);
            ffi::lua_setfield(l, -2, c"ok".as_ptr());
        }
        b'-' => push_error_table(l, &buf[start..line_end], true),
        b':' => ffi::lua_pushnumber(l, num(line) as f64),
        b'$' => {
            let n = num(line);
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
            } else {
                push_bytes(l, &buf[*pos..*pos + n as usize]);
                *pos += n as usize + 2;
            }
        }
        b'*' | b'>' => {
            let n = num(line);
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
                return;
            }
            ffi::lua_createtable(l, n.min(1 << 20) as i32, 0);
            for i in 0..n {
                push_reply(l, buf, pos);
                ffi::lua_rawseti(l, -2, i + 1);
            }
        }
        b'~' => {
            let n = num(line);
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, n.min(1 << 20) as i32);
            for _ in 0..n {
                push_reply(l, buf, pos);
                ffi::lua_pushboolean(l, 1);
                ffi::lua_rawset(l, -3);
            }
            ffi::lua_setfield(l, -2, c"set".as_ptr());
        }
        b'%' => {
            let n = num(line);
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, n.min(1 << 20) as i32);
            for _ in 0..n {
                push_reply(l, buf, pos);
                push_reply(l, buf, pos);
                ffi::lua_rawset(l, -3);
            }
            ffi::lua_setfield(l, -2, c"map".as_ptr());
        }
        b'|' => {
            // Attributes are not shown to scripts: skip them, convert what follows.
            for _ in 0..2 * num(line) {
                push_reply(l, buf, pos);
                ffi::lua_settop(l, -2);
            }
            push_reply(l, buf, pos);
        }
        b'_' => ffi::lua_pushnil(l),
        b'#' => ffi::lua_pushboolean(l, (line == b"t") as i32),
        b',' => {
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_pushnumber(l, parse_double(line));
            ffi::lua_setfield(l, -2, c"double".as_ptr());
        }
        b'(' => {
            ffi::lua_createtable(l, 0, 1);
            push_bytes(l, line);
            ffi::lua_setfield(l, -2, c"big_number".as_ptr());
        }
        b'=' => {
            let n = num(line) as usize;
            let body = &buf[*pos..*pos + n];
            *pos += n + 2;
            let (format, text) = if n >= 4 {
                (&body[..3], &body[4..])
            } else {
                (&b"txt"[..], body)
            };
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, 2);
            push_bytes(l, format);
            ffi::lua_setfield(l, -2, c"format".as_ptr());
            push_bytes(l, text);
            ffi::lua_setfield(l, -2, c"string".as_ptr());
            ffi::lua_setfield(l, -2, c"verbatim_string".as_ptr());
        }
        _ => ffi::lua_pushnil(l),
    }
}

unsafe fn push_bytes(l: *mut ffi::lua_State, b: &[u8]) {
    ffi::lua_pushlstring(l, b.as_ptr() as *const _, b.len());
}

/// Pushes Redis's `{err="CODE message"}` table (luaPushErrorBuff). `from_command` marks
/// errors a command already counted in the error statistics.
///
/// # Safety
/// `l` must be a valid Lua state.
pub unsafe fn push_error_table(l: *mut ffi::lua_State, msg: &[u8], from_command: bool) {
    let text = format_error(msg);
    ffi::lua_checkstack(l, 3);
    ffi::lua_createtable(l, 0, 2);
    push_bytes(l, &text);
    ffi::lua_setfield(l, -2, c"err".as_ptr());
    if from_command {
        ffi::lua_pushboolean(l, 1);
        ffi::lua_setfield(l, -2, c"ignore_error_stats_update".as_ptr());
    }
}

fn parse_double(s: &[u8]) -> f64 {
    match s {
        b"inf" => f64::INFINITY,
        b"-inf" => f64::NEG_INFINITY,
        b"nan" => f64::NAN,
        _ => std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 1 < buf.len() && !(buf[i] == b'\r' && buf[i + 1] == b'\n') {
        i += 1;
    }
    i
}

/// The `{err="CODE message"}` table Redis builds for an error (luaPushErrorBuff): an error
/// starting with '-' keeps its own code (up to the first space), any other gets "ERR".
/// `from_command` marks errors that came from a command, already counted in the error stats.
pub fn error_table(lua: &Lua, msg: &[u8], from_command: bool) -> mlua::Result<Table> {
    let text = format_error(msg);
    let t = lua.create_table_with_capacity(0, 2)?;
    t.raw_set("err", lua.create_string(&text)?)?;
    if from_command {
        t.raw_set("ignore_error_stats_update", true)?;
    }
    Ok(t)
}

/// Redis's luaPushErrorBuff message normalisation.
pub fn format_error(msg: &[u8]) -> Vec<u8> {
    let (code, text): (&[u8], &[u8]) = match msg.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", msg),
    };
    let is_nl = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = text.iter().position(|b| !is_nl(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !is_nl(b))
        .map_or(start, |e| e + 1);
    let mut out = Vec::with_capacity(code.len() + 1 + end - start);
    out.extend_from_slice(code);
    out.push(b' ');
    out.extend_from_slice(&text[start..end]);
    out
}

/// Writes a script's return value as a reply. `script_resp3` is the protocol the script
/// chose with redis.setresp (it decides how booleans are sent), `out.proto` the caller's.
pub fn lua_to_reply(v: &Value, out: &mut ReplyBuf, script_resp3: bool) {
    to_reply(v, out, script_resp3, 0)
}

fn to_reply(v: &Value, out: &mut ReplyBuf, resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        out.error(b"ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if resp3 {
                out.boolean(*b)
            } else if *b {
                out.integer(1)
            } else {
                out.null()
            }
        }
        Value::Integer(i) => out.integer(*i),
        Value::Number(n) => out.integer(*n as i64),
        Value::Table(t) => table_to_reply(t, out, resp3, depth),
        _ => out.null(),
    }
}

fn table_to_reply(t: &Table, out: &mut ReplyBuf, resp3: bool, depth: usize) {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(e) = field("err") {
        out.error(&e.as_bytes());
        return;
    }
    if let Value::String(s) = field("ok") {
        let mut s = s.as_bytes().to_vec();
        for b in &mut s {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        out.simple(&s);
        return;
    }
    match field("double") {
        Value::Number(d) => return out.double(d),
        Value::Integer(i) => return out.double(i as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        let mut s = s.as_bytes().to_vec();
        for b in &mut s {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        out.big_number(&s);
        return;
    }
    if let Value::Table(v) = field("verbatim_string") {
        if let (Ok(Value::String(f)), Ok(Value::String(s))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            let f = f.as_bytes();
            let mut fmt = [b' '; 3];
            for (d, s) in fmt.iter_mut().zip(f.iter()) {
                *d = *s;
            }
            out.verbatim(&fmt, &s.as_bytes());
            return;
        }
    }
    if let Value::Table(m) = field("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(|p| p.ok()).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            to_reply(k, out, resp3, depth + 1);
            to_reply(v, out, resp3, depth + 1);
        }
        return;
    }
    if let Value::Table(s) = field("set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|(k, _)| k))
            .collect();
        out.set(keys.len());
        for k in &keys {
            to_reply(k, out, resp3, depth + 1);
        }
        return;
    }
    // An array: the elements up to the first nil. Counted first so the header is written
    // once, in front, with no moving of bytes afterwards.
    let mut n = 0;
    while !t.raw_get::<Value>(n + 1).unwrap_or(Value::Nil).is_nil() {
        n += 1;
    }
    out.array(n);
    for i in 1..=n {
        let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
        to_reply(&v, out, resp3, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_as_redis() {
        assert_eq!(format_error(b"-WRONGTYPE bad\r\n"), b"WRONGTYPE bad");
        assert_eq!(format_error(b"plain message"), b"ERR plain message");
        assert_eq!(format_error(b"-NOSPACE"), b"ERR NOSPACE");
    }
}
