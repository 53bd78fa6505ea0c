//! Plumbing shared by the libraries: raising errors the way the C Lua API does, and reading
//! arguments with the coercions of `luaL_check*`.
//!
//! A Rust callback in mlua that fails raises a userdata error object, while the C libraries
//! raise plain strings (`luaL_error`) that scripts see through `pcall`. To give scripts the same
//! strings, every library function is a Rust function behind a small C trampoline: on failure
//! the Rust side returns a private sentinel plus the finished message, and the trampoline raises
//! that message with `lua_error`. The message already carries the `chunk:line: ` prefix that
//! `luaL_error` would add, computed from the caller's stack frame.

use mlua::{ffi, Function, LightUserData, Lua, MultiValue, Value};
use std::ffi::{c_int, c_void};

/// An error raised by a library function, in the shapes of the C API calls it emulates.
#[derive(Debug)]
pub(crate) enum LuaErr {
    /// `luaL_error`: the message gets the caller's position as prefix.
    Msg(Vec<u8>),
    /// `luaL_argerror(narg, extramsg)`: `bad argument #narg to 'name' (extramsg)`.
    Arg(i32, Vec<u8>),
    /// An error raised by Lua itself inside a C function (e.g. "table index is nil"): the
    /// message as is, without position (Lua adds none for errors inside C functions).
    Plain(Vec<u8>),
    /// An error from mlua itself (out of memory and the like), passed through unchanged.
    Lua(mlua::Error),
}

impl From<mlua::Error> for LuaErr {
    fn from(e: mlua::Error) -> Self {
        LuaErr::Lua(e)
    }
}

pub(crate) type LResult<T> = Result<T, LuaErr>;

/// Lua 5.1's limit on the stack slots a C function may use (`lua_checkstack` fails beyond it);
/// the C libraries hit it when returning very many values, and we report the same errors.
pub(crate) const LUAI_MAXCSTACK: usize = 8000;

/// Shorthand for a `luaL_error`-style error.
pub(crate) fn msg_err<T>(m: impl Into<Vec<u8>>) -> LResult<T> {
    Err(LuaErr::Msg(m.into()))
}

/// Shorthand for a `luaL_argerror`-style error.
pub(crate) fn arg_err<T>(narg: i32, m: impl Into<Vec<u8>>) -> LResult<T> {
    Err(LuaErr::Arg(narg, m.into()))
}

/// The address behind the sentinel light userdata; only its identity matters.
static SENTINEL: u8 = 0;

fn sentinel() -> Value {
    Value::LightUserData(LightUserData(&SENTINEL as *const u8 as *mut c_void))
}

fn sentinel_ptr() -> *mut c_void {
    &SENTINEL as *const u8 as *mut c_void
}

/// Marks a result list passed in a table: `(MULTI, table, n)` returns `table[1..n]`. Used by
/// functions that may return thousands of values, which would not fit mlua's handle stack.
static MULTI: u8 = 0;

fn multi_ptr() -> *mut c_void {
    &MULTI as *const u8 as *mut c_void
}

/// The return of a function whose `n` results are `table[1..n]` (see [`MULTI`]).
pub(crate) fn multi_return(table: mlua::Table, n: usize) -> MultiValue {
    MultiValue::from_vec(vec![
        Value::LightUserData(LightUserData(multi_ptr())),
        Value::Table(table),
        Value::Number(n as f64),
    ])
}

/// The C function scripts actually call: it calls the Rust function (upvalue 1) with its own
/// arguments and, when that returned the sentinel and a message, raises the message with
/// `lua_error`. Being a C function matters twice: a Lua tail call (`return cjson.encode(x)`)
/// keeps the script's frame for C functions, so error positions and function names come out as
/// in Redis; and `lua_error` here crosses no Rust frame that owns anything.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    let nres = ffi::lua_gettop(state);
    if nres == 2
        && ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
        && ffi::lua_touserdata(state, 1) == sentinel_ptr()
    {
        // The message is on top of the stack.
        ffi::lua_error(state);
    }
    if nres == 3
        && ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
        && ffi::lua_touserdata(state, 1) == multi_ptr()
        && ffi::lua_type(state, 2) == ffi::LUA_TTABLE
    {
        // A script with the debug library could swap the Rust function for its own; never trust
        // the count beyond what the stack can really hold.
        let n = ffi::lua_tointeger(state, 3).clamp(0, c_int::MAX as ffi::lua_Integer) as c_int;
        // Keep only the table, in slot 1, so the frame is as large as the producer's was.
        ffi::lua_settop(state, 2);
        ffi::lua_replace(state, 1);
        // The producer already checked these slots fit in a C frame with the same arguments.
        if ffi::lua_checkstack(state, n) == 0 {
            ffi::lua_pushstring(state, c"stack overflow (too many results)".as_ptr());
            ffi::lua_error(state);
        }
        for i in 1..=n {
            ffi::lua_rawgeti(state, 1, i as ffi::lua_Integer);
        }
        return n;
    }
    nres
}

/// `luaL_where(L, level)`: `short_src:line: ` of the function at `level`, or nothing for C
/// functions and unknown levels.
fn where_prefix(lua: &Lua, level: usize) -> Vec<u8> {
    lua.inspect_stack(level, |d| {
        let line = d.current_line();
        let src = d.source().short_src.map(|s| s.into_owned());
        match (line, src) {
            (Some(line), Some(src)) if line > 0 => format!("{src}:{line}: ").into_bytes(),
            _ => Vec::new(),
        }
    })
    .unwrap_or_default()
}

/// Builds the final message of `err` as the C library would have raised it. Level 1 is the Lua
/// wrapper (whose name, as its caller sees it, is the name `luaL_argerror` reports) and level 2
/// the script that called it.
fn render(lua: &Lua, err: LuaErr) -> Result<Vec<u8>, mlua::Error> {
    match err {
        LuaErr::Lua(e) => Err(e),
        LuaErr::Plain(m) => Ok(m),
        LuaErr::Msg(m) => {
            let mut out = where_prefix(lua, 2);
            out.extend_from_slice(&m);
            Ok(out)
        }
        LuaErr::Arg(mut narg, m) => {
            let (name, what) = lua
                .inspect_stack(1, |d| {
                    let n = d.names();
                    (n.name.map(|s| s.into_owned()), n.name_what)
                })
                .unwrap_or((None, None));
            let mut out = where_prefix(lua, 2);
            let name = name.unwrap_or_else(|| "?".to_string());
            if what == Some("method") {
                narg -= 1;
                if narg == 0 {
                    out.extend_from_slice(format!("calling '{name}' on bad self (").as_bytes());
                    out.extend_from_slice(&m);
                    out.push(b')');
                    return Ok(out);
                }
            }
            out.extend_from_slice(format!("bad argument #{narg} to '{name}' (").as_bytes());
            out.extend_from_slice(&m);
            out.push(b')');
            Ok(out)
        }
    }
}

/// Wraps a library function written in Rust so that it fails with a plain Lua string error.
pub(crate) fn wrap<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> LResult<MultiValue> + mlua::MaybeSend + 'static,
{
    let raw = lua.create_function(move |lua, args: MultiValue| match f(lua, args) {
        Ok(v) => Ok(v),
        Err(e) => {
            let m = render(lua, e)?;
            Ok(MultiValue::from_vec(vec![
                sentinel(),
                Value::String(lua.create_string(m)?),
            ]))
        }
    })?;
    // SAFETY: the closure runs in protected mode with exactly the one pushed argument (the raw
    // function) on the stack, which lua_pushcclosure consumes as the upvalue.
    unsafe {
        lua.exec_raw::<Function>(raw, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// `luaL_typename`: the type name of argument `v`, "no value" when absent.
pub(crate) fn typename(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::LightUserData(_)) => "userdata",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// The number stored in `v` if it is a Lua number (no string coercion).
pub(crate) fn as_num(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// `lua_tonumber` with its "is it convertible" answer: numbers, and strings Lua can convert.
pub(crate) fn to_number(lua: &Lua, v: Option<&Value>) -> LResult<Option<f64>> {
    match v {
        Some(Value::Integer(i)) => Ok(Some(*i as f64)),
        Some(Value::Number(n)) => Ok(Some(*n)),
        Some(Value::String(s)) => Ok(lua.coerce_number(Value::String(s.clone()))?),
        _ => Ok(None),
    }
}

fn type_error<T>(narg: usize, expected: &str, v: Option<&Value>) -> LResult<T> {
    arg_err(
        narg as i32,
        format!("{expected} expected, got {}", typename(v)),
    )
}

/// `luaL_checknumber` for argument `narg` (1-based).
pub(crate) fn check_number(lua: &Lua, args: &MultiValue, narg: usize) -> LResult<f64> {
    let v = args.get(narg - 1);
    match to_number(lua, v)? {
        Some(n) => Ok(n),
        None => type_error(narg, "number", v),
    }
}

/// C's `(long long)d` on x86-64: truncation, and the "integer indefinite" value for NaN and
/// out-of-range inputs (which is what Redis's build does for these undefined casts).
pub(crate) fn c_f64_to_i64(d: f64) -> i64 {
    // 2^63: the first double past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if d.is_nan() || !(-LIMIT..LIMIT).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// `luaL_checkinteger`: a number (or numeric string) truncated to `lua_Integer`.
pub(crate) fn check_integer(lua: &Lua, args: &MultiValue, narg: usize) -> LResult<i64> {
    check_number(lua, args, narg).map(c_f64_to_i64)
}

/// `luaL_checkint`: `luaL_checkinteger` then C's truncation to `int`.
pub(crate) fn check_int(lua: &Lua, args: &MultiValue, narg: usize) -> LResult<i32> {
    check_integer(lua, args, narg).map(|i| i as i32)
}

/// `luaL_optinteger`: the default when the argument is absent or nil.
pub(crate) fn opt_integer(lua: &Lua, args: &MultiValue, narg: usize, def: i64) -> LResult<i64> {
    match args.get(narg - 1) {
        None | Some(Value::Nil) => Ok(def),
        _ => check_integer(lua, args, narg),
    }
}

/// `luaL_checklstring`: a string, or a number converted the way Lua converts it (`%.14g`).
pub(crate) fn check_string(lua: &Lua, args: &MultiValue, narg: usize) -> LResult<mlua::LuaString> {
    let v = args.get(narg - 1);
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Integer(_)) | Some(Value::Number(_)) => {
            let s = lua.coerce_string(v.cloned().unwrap_or(Value::Nil))?;
            match s {
                Some(s) => Ok(s),
                None => type_error(narg, "string", v),
            }
        }
        _ => type_error(narg, "string", v),
    }
}

/// Lua 5.1's number formatting (`LUA_NUMBER_FMT`, i.e. C's `%.14g`), as `tostring` shows it.
pub(crate) fn fmt_g(n: f64, precision: usize) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf".into() } else { "inf".into() };
    }
    let p = precision.max(1);
    if n == 0.0 {
        return if n.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Integers with at most `p` digits print as themselves.
    if n.fract() == 0.0 && n.abs() < 1e15 {
        let i = n as i64;
        if (i.unsigned_abs().checked_ilog10().unwrap_or(0) as usize) < p {
            return i.to_string();
        }
    }
    // When the shortest representation that reads back as `n` has at most `p` significant
    // digits, it is also `n` rounded to `p` digits (it lies on that grid and within half an ulp
    // of `n`), so only its layout remains to be done. This avoids exact-precision formatting,
    // which is far slower.
    let short = format!("{:e}", n.abs());
    if let Some((mant, exp)) = short.split_once('e') {
        let digits: String = mant.chars().filter(|c| *c != '.').collect();
        let exp: i32 = exp.parse().unwrap_or(0);
        if digits.len() <= p {
            let mut out = String::with_capacity(digits.len() + 8);
            if n < 0.0 {
                out.push('-');
            }
            if exp < -4 || exp >= p as i32 {
                out.push_str(&digits[..1]);
                if digits.len() > 1 {
                    out.push('.');
                    out.push_str(&digits[1..]);
                }
                out.push_str(&format!(
                    "e{}{:02}",
                    if exp < 0 { '-' } else { '+' },
                    exp.unsigned_abs()
                ));
            } else if exp >= 0 {
                let int_len = exp as usize + 1;
                if digits.len() <= int_len {
                    out.push_str(&digits);
                    out.push_str(&"0".repeat(int_len - digits.len()));
                } else {
                    out.push_str(&digits[..int_len]);
                    out.push('.');
                    out.push_str(&digits[int_len..]);
                }
            } else {
                out.push_str("0.");
                out.push_str(&"0".repeat((-exp - 1) as usize));
                out.push_str(&digits);
            }
            return out;
        }
    }
    fmt_g_exact(n, p)
}

/// `%.{p}g` of a finite non-zero `n` through exact-precision formatting (the general case).
fn fmt_g_exact(n: f64, p: usize) -> String {
    // The exponent %g decides on is the one of the value rounded to `p` significant digits.
    let sci = format!("{:.*e}", p - 1, n);
    let epos = sci.rfind('e').unwrap_or(sci.len());
    let exp: i32 = sci[epos + 1..].parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mant = trim_fraction(&sci[..epos]);
        let sign = if exp < 0 { '-' } else { '+' };
        let e = exp.unsigned_abs();
        if e < 10 {
            format!("{mant}e{sign}0{e}")
        } else {
            format!("{mant}e{sign}{e}")
        }
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{n:.decimals$}")).to_string()
    }
}

/// Drops trailing zeros of a fraction, and the point if nothing follows it (`%g` without `#`).
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_g_matches_c() {
        // Expected strings are what glibc's printf("%.14g") prints.
        let cases: &[(f64, usize, &str)] = &[
            (0.1, 14, "0.1"),
            (1e15, 14, "1e+15"),
            (1e14, 14, "1e+14"),
            (123456789012345.0, 14, "1.2345678901234e+14"),
            (12345678901234.0, 14, "12345678901234"),
            (0.0001, 14, "0.0001"),
            (0.00001, 14, "1e-05"),
            (-5000.0, 14, "-5000"),
            (1023.2, 14, "1023.2"),
            (1.23456, 3, "1.23"),
            (1e100, 14, "1e+100"),
            (-0.0, 14, "-0"),
            (0.5, 1, "0.5"),
            (9.5, 1, "1e+01"),
            (2.5, 1, "2"),
            (99999.99999999999, 14, "100000"),
            (f64::INFINITY, 14, "inf"),
            (f64::NEG_INFINITY, 14, "-inf"),
        ];
        for (n, p, want) in cases {
            assert_eq!(fmt_g(*n, *p), *want, "{n} with precision {p}");
        }
    }

    /// The fast paths of `fmt_g` agree with exact-precision formatting.
    #[test]
    fn fmt_g_fast_paths_agree() {
        use proptest::prelude::*;
        let mut runner =
            proptest::test_runner::TestRunner::new(proptest::test_runner::Config::with_cases(5000));
        let values = prop_oneof![
            any::<f64>(),
            (-1_000_000i64..1_000_000, 0u32..12).prop_map(|(m, e)| m as f64 / 10f64.powi(e as i32)),
            (-(1i64 << 53)..(1i64 << 53)).prop_map(|i| i as f64),
        ];
        runner
            .run(&(values, 1usize..=14), |(n, p)| {
                if n.is_finite() && n != 0.0 {
                    prop_assert_eq!(fmt_g(n, p), fmt_g_exact(n, p), "{} at {}", n, p);
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn c_casts() {
        assert_eq!(c_f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(c_f64_to_i64(1e300), i64::MIN);
        assert_eq!(c_f64_to_i64(-3.9), -3);
    }
}
