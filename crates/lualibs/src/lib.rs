//! The Lua libraries that Redis makes available to scripts (`bit`, `struct`, `cjson`,
//! `cmsgpack`) and Redis's replacement of `math.random`, implemented in Rust over `mlua`'s
//! Lua 5.1 so that scripts written for Redis 7.2 run unchanged and produce the same bytes.
//!
//! # What is implemented
//!
//! | global      | functions | behaviour matched |
//! |-------------|-----------|-------------------|
//! | `bit`       | `tobit tohex bnot band bor bxor lshift rshift arshift rol ror bswap` | LuaBitOp 1.0: numbers normalised to signed 32 bits by the 2^52+2^51 trick, shift counts masked to 5 bits, `tohex` with negative width for upper case |
//! | `struct`    | `pack unpack size` | Roberto's struct library as shipped in Redis: `< > ! x b B h H l L T i[n] I[n] c[n] s f d` and spaces, alignment with `!`, `unpack`'s start position and returned next position, the same error messages |
//! | `cjson`     | `encode decode null new encode_sparse_array encode_max_depth decode_max_depth encode_number_precision encode_keep_buffer encode_invalid_numbers decode_invalid_numbers _NAME _VERSION` | lua-cjson 2.1.0: array detection and the sparse-array ratio, `%.14g` numbers, `\/` escaping, NUL as end of input, `\u` escapes and surrogate pairs, nesting limits, every error message |
//! | `cmsgpack`  | `pack unpack unpack_one unpack_limit _NAME _VERSION _COPYRIGHT _DESCRIPTION` | lua-cmsgpack 0.4.0: array vs map detection, integer vs float vs double encoding, nesting limit 16 (deeper tables become nil), offsets of `unpack_one`/`unpack_limit`, the quirks of decoding (uint64 wraps to signed) |
//! | `math`      | `random randomseed` | Redis's `redisLrand48` generator (the 48-bit `lrand48` recurrence) and Lua 5.1's scaling of its output |
//!
//! Errors are raised as plain Lua strings, prefixed with the caller's `chunk:line:` like
//! `luaL_error` does, and argument errors read `bad argument #N to 'name' (...)` with the name
//! Lua's debug info gives the called function, so `pcall` sees exactly what it sees in Redis.
//!
//! # Random numbers
//!
//! Redis 7 keeps one generator for the whole process and never reseeds it between scripts (the
//! per-script `redisSrand48(0)` of Redis 6 is gone: its test suite checks that "random numbers
//! are random now"); only `math.randomseed` reseeds it. [`install_random`] therefore binds the
//! scripts of a `Lua` state to the process-wide generator [`Prng::global`], which starts in the
//! same state as Redis's. [`reset_random_seed`] reseeds with 0, which emulates Redis 6; a server
//! that matches Redis 7.2 does not call it. Tests and embedders that want a private sequence
//! use [`install_random_with`].
//!
//! # Notes for the scripting engine
//!
//! * Load the script chunk with the name `@user_script` (as Redis does) and errors from these
//!   libraries read `user_script:LINE: message`, exactly as in Redis; Redis then appends
//!   ` script: <sha>, on @user_script:LINE.` itself.
//! * `mlua` appends a `stack traceback:` to the message of errors that reach Rust from a chunk;
//!   Redis shows no traceback, so cut the message at `"\nstack traceback:"`.
//! * Redis makes these tables read-only (`Attempt to modify a readonly table`); that is the
//!   engine's job after [`register_all`] (which sets the globals with raw sets).
//! * The library functions work with mlua's `send` feature too.
//!
//! # Known differences from Redis
//!
//! Each is a corner no ordinary script reaches:
//! * A Lua out-of-memory error raised inside `cjson` or `cmsgpack` unwinds (longjmp) through
//!   their Rust frames and leaks their scratch buffers.
//! * `struct.pack` reading a missing argument after more than 8 KB of output: the C library then
//!   reads one of its own buffer pieces from the stack; this always reports `nil`.
//! * `cjson.encode_keep_buffer` only records the setting (it has no visible effect in C either).
//! * Undefined C conversions (huge doubles to int) are reproduced as x86-64 builds of Redis do
//!   them; Redis on other CPUs may itself differ there.

mod bit;
mod cjson;
mod cmsgpack;
mod random;
mod structlib;
mod util;

pub use random::Prng;

/// Registers the globals `bit`, `struct`, `cjson` and `cmsgpack` into `lua`, as Redis does
/// when it creates its scripting state (each is a plain global table of functions).
pub fn register_all(lua: &mlua::Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    globals.raw_set("bit", bit::create(lua)?)?;
    globals.raw_set("struct", structlib::create(lua)?)?;
    globals.raw_set("cjson", cjson::create(lua)?)?;
    globals.raw_set("cmsgpack", cmsgpack::create(lua)?)?;
    Ok(())
}

/// Replaces `math.random` / `math.randomseed` with Redis's deterministic generator, bound to the
/// process-wide [`Prng::global`] (as in Redis, where the eval and function engines share one
/// generator that survives `SCRIPT FLUSH`). The `math` table must already be loaded.
pub fn install_random(lua: &mlua::Lua) -> mlua::Result<()> {
    install_random_with(lua, Prng::global())
}

/// Like [`install_random`] but with a caller-chosen generator (e.g. [`Prng::new`] for a private
/// sequence in tests).
pub fn install_random_with(lua: &mlua::Lua, prng: Prng) -> mlua::Result<()> {
    random::install(lua, prng)
}

/// Reseeds the generator installed in `lua` with 0, like Redis 6's `redisSrand48(0)` before each
/// EVAL. Redis 7.2 no longer does this (see the crate docs); does nothing if [`install_random`]
/// was not called on `lua`.
pub fn reset_random_seed(lua: &mlua::Lua) {
    if let Some(prng) = lua.app_data_ref::<Prng>() {
        prng.seed(0);
    }
}

#[cfg(test)]
mod edge_tests;

#[cfg(test)]
pub(crate) mod testutil {
    /// A Lua state with the libraries registered and `math.random` on a private generator.
    /// The chunk name is `@user_script`, as Redis names eval scripts, so error prefixes match.
    pub fn lua() -> mlua::Lua {
        let lua = mlua::Lua::new();
        super::register_all(&lua).unwrap();
        super::install_random_with(&lua, super::Prng::new()).unwrap();
        lua
    }

    /// Runs `code` as Redis would run a script body and returns its first result.
    pub fn eval<T: mlua::FromLua>(lua: &mlua::Lua, code: &str) -> T {
        match lua.load(code).set_name("@user_script").eval::<T>() {
            Ok(v) => v,
            Err(e) => panic!("script failed: {e}\n{code}"),
        }
    }

    /// Runs `code` and returns its first result converted to bytes (strings and numbers as Lua's
    /// `tostring` would show them).
    pub fn eval_bytes(lua: &mlua::Lua, code: &str) -> Vec<u8> {
        let s: mlua::LuaString = eval(lua, code);
        s.as_bytes().to_vec()
    }

    /// Runs `code` expecting an error and returns its message.
    pub fn eval_err(lua: &mlua::Lua, code: &str) -> String {
        match lua.load(code).set_name("@user_script").exec() {
            Ok(()) => panic!("script did not fail: {code}"),
            // mlua appends a traceback to errors of a chunk run from Rust; Redis does not.
            Err(mlua::Error::RuntimeError(m)) => match m.find("\nstack traceback:") {
                Some(i) => m[..i].to_string(),
                None => m,
            },
            Err(e) => panic!("unexpected error kind {e:?}"),
        }
    }

    /// The harness that produced the expected strings against a real Redis: it runs one
    /// expression under `pcall` and prints all its results (tables with sorted keys, strings
    /// with non-printable bytes as `\ddd`) or `ERR <message>`. It is one line, so the
    /// expression is on line 1 as in the `EVAL` it was recorded with.
    pub const HARNESS: &str = include_str!("test_harness.lua");

    /// Checks each `(expression, expected)` pair, where `expected` is what `EVAL "<harness>
    /// <expression> end))" 0` printed on Redis 7.0.
    pub fn check_cases(lua: &mlua::Lua, cases: &[(&str, &str)]) {
        let mut failures = Vec::new();
        for (expr, want) in cases {
            let code = format!("{} {} end))", HARNESS.trim(), expr);
            let got = String::from_utf8_lossy(&eval_bytes(lua, &code)).into_owned();
            if got != *want {
                failures.push(format!("{expr}\n    want: {want}\n    got:  {got}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} case(s) differ from Redis:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
