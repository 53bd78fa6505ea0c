//! The Lua interpreter of a worker thread, the `redis` API scripts see, and running a script
//! or a function under the locks its caller holds.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cinnabar_commands::flags;
use cinnabar_engine::{Error, Locked, Result};
use cinnabar_resp::{Protocol, ReplyBuf};
use std::ffi::c_int;

use mlua::{
    ffi, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState,
};
use smallvec::SmallVec;

use super::convert::{error_table, lua_to_reply, push_error_table, push_reply};
use super::{script_flags, Running, Script};
use crate::dispatch::{run_called, Client, Ctx};
use crate::server::{Server, WorkerStats};

const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// Lua instructions between two checks of the running time and of SCRIPT KILL.
const HOOK_EVERY: u32 = 10_000;

/// A thread's interpreter.
pub(super) struct Vm {
    pub(super) lua: Lua,
    generation: u64,
    /// EVAL scripts compiled by this thread, by SHA1.
    scripts: HashMap<[u8; 40], Function, foldhash::fast::RandomState>,
    /// FCALL functions of the loaded libraries, by name.
    pub(super) functions: HashMap<Vec<u8>, Function, foldhash::fast::RandomState>,
    /// `xpcall(f, handler)` with Redis's error handler.
    runner: Function,
    /// Calls a function with (KEYS, ARGV) under the same handler.
    fn_runner: Function,
    /// Runs a library's code, returning the functions it registered.
    pub(super) load_library: Function,
    /// The function libraries are loaded into this interpreter.
    pub(super) functions_loaded: bool,
    runs: u32,
    /// The reply buffer of `redis.call`, kept between runs so it is not grown again each time.
    reply: ReplyBuf,
    /// `redis.call`'s argument scratch, kept between runs likewise.
    arg_bytes: Vec<u8>,
}

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    /// The script running on this thread, for `redis.call` and the timeout hook.
    static RUN: Cell<*mut RunCtx<'static, 'static>> = const { Cell::new(std::ptr::null_mut()) };
}

/// What a running script needs to execute commands.
struct RunCtx<'a, 'k> {
    server: &'a Server,
    worker: &'a WorkerStats,
    /// The script's own client: db and protocol choices inside the script do not leak out.
    client: Client,
    locked: &'a mut Locked<'k>,
    reply: ReplyBuf,
    read_only: bool,
    /// A write command has run: SCRIPT KILL can no longer stop the script.
    wrote: bool,
    /// Memory was full when the command started and the script may not ignore it: its first
    /// deny-oom command is refused (Redis's scriptVerifyOOM).
    deny_oom: bool,
    /// Called by the primary's link or the AOF loader: a read-only replica (or missing
    /// good replicas) does not refuse its writes (Redis's mustObeyClient).
    obey: bool,
    /// Keys read-only commands of the script read, while anyone tracks: the caller tracks
    /// them (Redis's call() remembers each read command's keys for the current client).
    read_keys: Vec<Vec<u8>>,
    start: Instant,
    busy_after: Option<Duration>,
    pos: Vec<usize>,
    /// Scratch for `redis.call`'s arguments, reused by every call of the run.
    arg_bytes: Vec<u8>,
    /// The script's name and the command that started it, for FUNCTION STATS.
    name: &'a str,
    command: &'a [&'a [u8]],
    /// The timeout hook has raised the SCRIPT KILL error (pcall and xpcall pass it on).
    kill_raised: bool,
    /// The worker thread and client running the script, for the busy responder.
    worker_index: usize,
    caller: u64,
}

/// EVAL or FCALL, for messages and SCRIPT KILL / FUNCTION KILL.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Eval,
    Function,
}

/// Runs `f` with this thread's interpreter, (re)building it if it is missing or stale.
pub(super) fn with_vm<R>(server: &Server, f: impl FnOnce(&mut Vm) -> Result<R>) -> Result<R> {
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        let generation = server.scripts.generation();
        if slot.as_ref().is_none_or(|vm| vm.generation != generation) {
            *slot = None;
            let vm = new_vm(server, generation)
                .map_err(|e| Error::msg(format!("ERR Error creating the Lua interpreter: {e}")))?;
            *slot = Some(vm);
        }
        f(slot.as_mut().expect("just built"))
    })
}

/// Creates an interpreter like Redis's: base, table, string, math and the libraries Redis
/// bundles; the `redis` table; `pcall` that unwraps error tables; Redis's error handler; and
/// global protection (reading an undefined global or assigning one is an error).
fn new_vm(server: &Server, generation: u64) -> mlua::Result<Vm> {
    // SAFETY: the debug library is needed by the error handler, which keeps a private
    // reference; the prelude removes the global `debug` before any user code runs.
    let lua = unsafe {
        Lua::unsafe_new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
            LuaOptions::new(),
        )
    };
    cinnabar_lualibs::register_all(&lua)?;
    // One generator for the process, seeded like a fresh Redis; only math.randomseed reseeds
    // it (Redis 7 no longer resets it before each script).
    cinnabar_lualibs::install_random(&lua)?;

    // SAFETY: both follow the Lua C function protocol (see `call_and_push`).
    let call = unsafe { lua.create_c_function(raw_redis_call)? };
    let pcall = unsafe { lua.create_c_function(raw_redis_pcall)? };
    let sha1hex = lua.create_function(|lua, args: MultiValue| {
        if args.len() != 1 {
            return Ok(MultiValue::from_vec(vec![Value::Table(error_table(
                lua,
                b"wrong number of arguments",
                false,
            )?)]));
        }
        let bytes = match &args[0] {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Number(n) => lua_number_text(*n),
            Value::Integer(i) => i.to_string().into_bytes(),
            _ => Vec::new(),
        };
        let hex = super::sha1_hex(&bytes);
        Ok(MultiValue::from_vec(vec![Value::String(
            lua.create_string(hex)?,
        )]))
    })?;
    let log = lua.create_function(|_, (level, msg): (i64, mlua::LuaString)| {
        let msg = String::from_utf8_lossy(&msg.as_bytes()).into_owned();
        match level {
            0 => tracing::debug!("{msg}"),
            1 => tracing::debug!("{msg}"),
            2 => tracing::info!("{msg}"),
            _ => tracing::warn!("{msg}"),
        }
        Ok(())
    })?;
    let setresp = lua.create_function(|_, n: i64| {
        with_run(|rc| {
            rc.reply.proto = if n == 3 {
                Protocol::Resp3
            } else {
                Protocol::Resp2
            };
        });
        Ok(())
    })?;
    // redis.set_repl (flags checked by the prelude): where the script's calls propagate from
    // now on; the run resets it when the script ends.
    let set_repl = lua.create_function(|_, flags: u8| {
        if with_run(|_| ()).is_some() {
            crate::dispatch::sink::set_target(flags);
        }
        Ok(())
    })?;
    // redis.acl_check_cmd: nil when no command has that name (the prelude raises Redis's
    // error), else whether the script's caller may run the command line. Unlike a refused
    // redis.call, nothing is logged (as Redis).
    let acl_check = lua.create_function(|_, args: mlua::Variadic<mlua::LuaString>| {
        Ok(with_run(|rc| {
            let owned: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
            let argv: Vec<&[u8]> = owned.iter().map(|a| a.as_slice()).collect();
            let entry = rc.server.registry.resolve(&argv).ok()?;
            // Key positions come from the key specs, which assume a valid arity.
            if !entry.def.arity_ok(argv.len()) {
                return Some(false);
            }
            if rc.server.acl.unrestricted(&rc.client.user) {
                return Some(true);
            }
            let user = rc.server.acl.user_of(&rc.client.user).get();
            Some(user.check(entry.def, &argv).is_ok())
        })
        .flatten())
    })?;
    // Raises the SCRIPT KILL error again once it was raised: pcall/xpcall call it when they
    // catch an error, so a killed script cannot catch its way out.
    let killed = lua.create_function(|_, ()| {
        if with_run(|rc| rc.kill_raised).unwrap_or(false) {
            return Err(mlua::Error::runtime(KILLED));
        }
        Ok(())
    })?;

    let prelude = lua.load(PRELUDE).set_name("=cinnabar").into_function()?;
    let (runner, fn_runner, load_library, env): (Function, Function, Function, Table) = prelude
        .call((
            call,
            pcall,
            sha1hex,
            log,
            setresp,
            set_repl,
            acl_check,
            killed,
            crate::info::REDIS_VERSION,
            redis_version_num(),
        ))?;
    let _ = server;
    // Scripts compiled from now on see the protected proxy as their globals.
    lua.set_globals(env)?;
    install_hook(&lua);
    Ok(Vm {
        lua,
        generation,
        scripts: HashMap::default(),
        functions: HashMap::default(),
        runner,
        fn_runner,
        load_library,
        functions_loaded: false,
        runs: 0,
        reply: ReplyBuf::new(Protocol::Resp2),
        arg_bytes: Vec::new(),
    })
}

fn redis_version_num() -> i64 {
    let mut n = 0i64;
    for part in crate::info::REDIS_VERSION.split('.') {
        n = (n << 8) | part.parse::<i64>().unwrap_or(0);
    }
    n
}

/// The Lua side of the API. Receives the Rust primitives, builds `redis`, replaces `pcall`,
/// defines the error handler, protects the globals, and returns the two runners.
const PRELUDE: &str = r#"
local rcall, rpcall, sha1hex, log, setresp, setrepl, acl_check, killed, version, version_num = ...
local dbg = debug
debug = nil
dofile = nil
loadfile = nil
print = nil

local error, type, select, unpack, rawget, rawset, tostring, setmetatable, xpcall =
      error, type, select, unpack, rawget, rawset, tostring, setmetatable, xpcall

local function errtab(msg)
  return {err = 'ERR ' .. msg}
end

local redis = {}
redis.call = rcall
redis.pcall = rpcall
redis.sha1hex = function(...)
  local r = sha1hex(...)
  if type(r) == 'table' then error(r, 0) end
  return r
end
redis.error_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return errtab('wrong number or type of arguments')
  end
  if s:sub(1, 1) ~= '-' then s = '-' .. s end
  local sp = s:find(' ', 1, true)
  local code, msg
  if sp then code, msg = s:sub(2, sp - 1), s:sub(sp + 1) else code, msg = 'ERR', s:sub(2) end
  msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
  return {err = code .. ' ' .. msg}
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return errtab('wrong number or type of arguments')
  end
  return {ok = s}
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.log = function(...)
  local n = select('#', ...)
  if n < 2 then error(errtab('redis.log() requires two arguments or more.'), 0) end
  local level = ...
  if type(level) ~= 'number' then error(errtab('First argument must be a number (log level).'), 0) end
  if level < 0 or level > 3 then error(errtab('Invalid debug level.'), 0) end
  local parts = {}
  for i = 2, n do
    local v = select(i, ...)
    if type(v) == 'string' or type(v) == 'number' then parts[#parts + 1] = tostring(v) end
  end
  log(level, table.concat(parts, ' '))
end
redis.setresp = function(...)
  if select('#', ...) ~= 1 then error(errtab('redis.setresp() requires one argument.'), 0) end
  local n = ...
  if n ~= 2 and n ~= 3 then error(errtab('RESP version must be 2 or 3.'), 0) end
  setresp(n)
end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.set_repl = function(...)
  if select('#', ...) ~= 1 then error(errtab('redis.set_repl() requires one argument.'), 0) end
  local f = ...
  if type(f) ~= 'number' or f < 0 or f > 3 then
    error(errtab('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.'), 0)
  end
  setrepl(f - f % 1)
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = function(...)
  local name = ...
  local allowed = nil
  if select('#', ...) >= 1 and type(name) == 'string' then allowed = acl_check(...) end
  if allowed == nil then
    error(errtab('Invalid command passed to redis.acl_check_cmd()'), 0)
  end
  return allowed
end
redis.REDIS_VERSION = version
redis.REDIS_VERSION_NUM = version_num

-- Redis 7 returns a command error to pcall as its message, not as the error table. A script
-- stopped by SCRIPT KILL cannot catch that: the error goes on up.
local rawpcall, rawxpcall = pcall, xpcall
pcall = function(...)
  local res = {rawpcall(...)}
  if not res[1] then
    killed()
    if type(res[2]) == 'table' and type(rawget(res[2], 'err')) == 'string' then
      res[2] = res[2].err
    end
  end
  return unpack(res, 1, table.maxn(res) > 0 and table.maxn(res) or 1)
end
xpcall = function(...)
  local res = {rawxpcall(...)}
  if not res[1] then killed() end
  return unpack(res, 1, table.maxn(res) > 0 and table.maxn(res) or 1)
end

-- Redis's error handler: reports where in the user's code the error happened.
local function handler(err)
  local where
  for level = 2, 50 do
    local i = dbg.getinfo(level, 'nSl')
    if i == nil then break end
    if i.what ~= 'C' and i.source ~= '=cinnabar' then where = i break end
  end
  if type(err) ~= 'table' then
    local msg = tostring(err)
    msg = msg:gsub('^runtime error: ', '')
    err = {err = 'ERR ' .. msg}
  end
  if where then
    err['source'] = where.source
    err['line'] = where.currentline
  end
  return err
end

local function run(f)
  return xpcall(f, handler)
end
local function run_fn(f, keys, args)
  return xpcall(function() return f(keys, args) end, handler)
end

-- Protected tables share one metatable marker: reading it gives a read-only table, and
-- changing their metatable fails with Redis's message.
local function deny() error('Attempt to modify a readonly table', 2) end
local PROTECTED = setmetatable({}, {__newindex = deny, __metatable = false})
local getmetatable = getmetatable
rawset(_G, 'setmetatable', function(t, mt)
  if getmetatable(t) == PROTECTED then deny() end
  return setmetatable(t, mt)
end)
local function readonly(t)
  return setmetatable({}, {__index = t, __newindex = deny, __metatable = PROTECTED})
end

-- Scripts may compile source, never precompiled bytecode.
local rawloadstring, rawload = loadstring, load
local function is_binary(s) return type(s) == 'string' and s:byte(1) == 27 end
rawset(_G, 'loadstring', function(s, ...)
  if is_binary(s) then return nil, 'binary chunks are not allowed' end
  return rawloadstring(s, ...)
end)
rawset(_G, 'load', function(f, ...)
  if is_binary(f) then return nil, 'binary chunks are not allowed' end
  return rawload(f, ...)
end)

-- Library tables are read-only: scripts may not replace their functions.
_G.redis = readonly(redis)
for _, name in ipairs({'string', 'math', 'table', 'bit', 'cjson', 'cmsgpack', 'struct', 'coroutine'}) do
  local t = rawget(_G, name)
  if t ~= nil then rawset(_G, name, readonly(t)) end
end

-- Global protection, as Redis 7: scripts see an empty, read-only proxy whose reads fall
-- through to the real globals (a table, so lookups stay fast); reading an undefined global or
-- assigning any global is an error.
local real = _G
setmetatable(real, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __newindex = deny,
  __metatable = PROTECTED,
})
local env = setmetatable({}, {__index = real, __newindex = deny, __metatable = PROTECTED})
rawset(real, '_G', env)

-- Function libraries (FUNCTION LOAD): the library's code runs with an environment whose
-- `redis` offers register_function; the functions it registers keep that environment, in
-- which `redis` is the full API once loading is over.
local loading, collected = false, nil
local function register_function(...)
  if not loading then
    error(errtab('redis.register_function can only be called on FUNCTION LOAD command'), 0)
  end
  local n = select('#', ...)
  local name, callback, flags, description
  if n == 1 then
    local t = ...
    if type(t) ~= 'table' then
      error(errtab('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).'), 0)
    end
    for k, v in pairs(t) do
      if type(k) ~= 'string' then
        error(errtab('named argument key given to redis.register_function is not a string'), 0)
      elseif k == 'function_name' then
        if type(v) ~= 'string' then error(errtab('function_name argument given to redis.register_function must be a string'), 0) end
        name = v
      elseif k == 'description' then
        if type(v) ~= 'string' then error(errtab('description argument given to redis.register_function must be a string'), 0) end
        description = v
      elseif k == 'callback' then
        if type(v) ~= 'function' then error(errtab('callback argument given to redis.register_function must be a function'), 0) end
        callback = v
      elseif k == 'flags' then
        if type(v) ~= 'table' then error(errtab('flags argument to redis.register_function must be a table representing function flags'), 0) end
        flags = v
      else
        error(errtab('unknown argument given to redis.register_function'), 0)
      end
    end
    if name == nil then error(errtab('redis.register_function must get a function name argument'), 0) end
    if callback == nil then error(errtab('redis.register_function must get a callback argument'), 0) end
  elseif n == 2 then
    name, callback = ...
    if type(name) ~= 'string' then error(errtab('function_name argument given to redis.register_function must be a string'), 0) end
    if type(callback) ~= 'function' then error(errtab('callback argument given to redis.register_function must be a function'), 0) end
  else
    error(errtab('wrong number of arguments to redis.register_function'), 0)
  end
  if not name:match('^[%w_]+$') then
    error(errtab('Function names can only contain letters, numbers, or underscores(_) and must be at least one character long'), 0)
  end
  local flag_list = {}
  if flags ~= nil then
    for _, f in ipairs(flags) do
      if type(f) ~= 'string' then error(errtab('unknown flag given'), 0) end
      flag_list[#flag_list + 1] = f
    end
  end
  for _, c in ipairs(collected) do
    if c[1] == name then error(errtab('Function already exists in the library'), 0) end
  end
  collected[#collected + 1] = {name, callback, table.concat(flag_list, ','), description}
end
local load_api = {
  register_function = register_function,
  log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
}
local load_redis = setmetatable({}, {
  __index = function(_, k)
    local v = load_api[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = deny,
  __metatable = PROTECTED,
})
local full_redis = rawget(real, 'redis')
local fenv = setmetatable({}, {
  __index = function(_, k)
    if k == 'redis' then
      if loading then return load_redis end
      return full_redis
    end
    -- While a library loads, `redis` is all it sees, as in Redis.
    local v = nil
    if not loading then v = rawget(real, k) end
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = deny,
  __metatable = PROTECTED,
})
local function load_library(chunk)
  setfenv(chunk, fenv)
  loading, collected = true, {}
  local ok, err = xpcall(chunk, handler)
  local list = collected
  loading, collected = false, nil
  if not ok then return false, err end
  return true, list
end
return run, run_fn, load_library, env
"#;

/// Runs `f` with the running script's context, if a script runs on this thread.
fn with_run<R>(f: impl FnOnce(&mut RunCtx<'static, 'static>) -> R) -> Option<R> {
    let p = RUN.with(|r| r.get());
    if p.is_null() {
        return None;
    }
    // SAFETY: RUN is set by `execute_run` to a RunCtx that outlives the Lua call it wraps,
    // on this thread only, and cleared before that RunCtx is dropped. Lua callbacks are not
    // re-entered while one runs (redis.call does not call back into Lua).
    Some(f(unsafe { &mut *p }))
}

/// Lua numbers as command arguments: integers without a fraction, others in the shortest
/// form that reads back the same (Redis uses fpconv_dtoa, the same idea).
fn lua_number_text(n: f64) -> Vec<u8> {
    let mut out = Vec::new();
    write_lua_number(n, &mut out);
    out
}

/// Appends a Lua number as `lua_number_text` writes it.
fn write_lua_number(n: f64, out: &mut Vec<u8>) {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        cinnabar_engine::num::write_i64(n as i64, out);
    } else {
        cinnabar_engine::num::format_double(n, out);
    }
}

/// `redis.call` (raises command errors) and `redis.pcall` (returns them as tables), as raw C
/// functions like Redis's: a C function keeps the caller's frame on a tail call, so error
/// messages name the user's line.
unsafe extern "C-unwind" fn raw_redis_call(l: *mut ffi::lua_State) -> c_int {
    if call_and_push(l) {
        // Everything Rust allocated is dropped by now; raise the error table.
        ffi::lua_error(l);
    }
    1
}

unsafe extern "C-unwind" fn raw_redis_pcall(l: *mut ffi::lua_State) -> c_int {
    call_and_push(l);
    1
}

/// Runs the command in the Lua arguments and pushes its reply (or an error table). Returns
/// whether the pushed value is an error.
unsafe fn call_and_push(l: *mut ffi::lua_State) -> bool {
    let n = ffi::lua_gettop(l);
    if n == 0 {
        push_error_table(
            l,
            b"Please specify at least one argument for this redis lib call",
            false,
        );
        return true;
    }
    // The arguments are copied back to back into the run's scratch buffer (kept between
    // calls), so a call allocates nothing once the buffer has grown.
    let Some(mut bytes) = with_run(|rc| std::mem::take(&mut rc.arg_bytes)) else {
        push_error_table(
            l,
            b"redis.call() can only be used while a script runs",
            false,
        );
        return true;
    };
    bytes.clear();
    let mut ends: SmallVec<[usize; 8]> = SmallVec::with_capacity(n as usize);
    for i in 1..=n {
        match ffi::lua_type(l, i) {
            ffi::LUA_TNUMBER => write_lua_number(ffi::lua_tonumber(l, i), &mut bytes),
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(l, i, &mut len);
                bytes.extend_from_slice(std::slice::from_raw_parts(p as *const u8, len));
            }
            _ => {
                with_run(|rc| rc.arg_bytes = bytes);
                ffi::lua_settop(l, 0);
                push_error_table(
                    l,
                    b"Lua redis lib command arguments must be strings or integers",
                    false,
                );
                return true;
            }
        }
        ends.push(bytes.len());
    }
    ffi::lua_settop(l, 0);
    let mut start = 0;
    let argv: SmallVec<[&[u8]; 8]> = ends
        .iter()
        .map(|&end| {
            let a = &bytes[start..end];
            start = end;
            a
        })
        .collect();
    let pushed = with_run(|rc| match call_command(rc, &argv) {
        Err(msg) => {
            // The refusal was counted where it happened (Redis's scriptCall error path); the
            // table says so, so the script's own error reply does not count it again.
            push_error_table(l, msg.as_bytes(), true);
            true
        }
        Ok(()) => {
            let buf = &rc.reply.buf;
            let mut pos = 0;
            push_reply(l, buf, &mut pos);
            buf.first() == Some(&b'-')
        }
    });
    drop(argv);
    with_run(|rc| rc.arg_bytes = bytes);
    match pushed {
        Some(failed) => failed,
        None => {
            push_error_table(
                l,
                b"redis.call() can only be used while a script runs",
                false,
            );
            true
        }
    }
}

/// Checks a command called from a script (Redis's scriptCall order), locks the shards of
/// keys the script did not declare, and runs it into the script's reply buffer.
fn call_command(
    rc: &mut RunCtx<'static, 'static>,
    argv: &[&[u8]],
) -> std::result::Result<(), std::borrow::Cow<'static, str>> {
    let server = rc.server;
    // A refused call counts as an error reply and a rejected call of the command, like
    // Redis's scriptCall; messages without a code are ERR.
    let reject = |rc: &mut RunCtx, idx: Option<usize>, msg: std::borrow::Cow<'static, str>| {
        if let Some(i) = idx {
            crate::server::bump(&rc.worker.commands[i].rejected, 1);
        }
        crate::server::bump(&rc.worker.rejected_calls, 1);
        match msg.strip_prefix('-') {
            Some(coded) => rc.worker.count_error(coded.as_bytes()),
            None => rc.worker.count_error(b"ERR"),
        }
        Err(msg)
    };
    let entry = match server.registry.resolve(argv) {
        Ok(e) => e,
        Err(_) => return reject(rc, None, "Unknown Redis command called from script".into()),
    };
    let def = entry.def;
    let idx = Some(entry.idx);
    if !def.arity_ok(argv.len()) {
        return reject(
            rc,
            idx,
            "Wrong number of args calling Redis command from script".into(),
        );
    }
    if def.flags & flags::NOSCRIPT != 0 && !server.scripts.allow_noscript.load(Ordering::Relaxed) {
        return reject(
            rc,
            idx,
            "This Redis command is not allowed from script".into(),
        );
    }
    // ACLs, as the script's caller (Redis's scriptVerifyACL).
    if !server.acl.unrestricted(&rc.client.user) {
        if let Err((_, msg)) =
            crate::acl::check(server, &rc.client, def, argv, crate::acl::LogContext::Lua)
        {
            return reject(rc, idx, format!("ACL failure in script: {msg}").into());
        }
    }
    if rc.read_only && def.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        return reject(
            rc,
            idx,
            "Write commands are not allowed from read-only scripts.".into(),
        );
    }
    if rc.deny_oom && !rc.wrote && def.flags & flags::DENYOOM != 0 {
        return reject(
            rc,
            idx,
            "-OOM command not allowed when used memory > 'maxmemory'.".into(),
        );
    }
    if def.flags & flags::WRITE != 0 && server.repl.checks.load(Ordering::Relaxed) != 0 && !rc.obey
    {
        if let Some(msg) = crate::replication::script_write_denied(server) {
            return reject(rc, idx, msg.into());
        }
    }
    let remember_reads =
        def.flags & flags::READONLY != 0 && server.tracking.clients.load(Ordering::Relaxed) > 0;
    if def.flags & flags::WRITE != 0 && !rc.wrote {
        rc.wrote = true;
        server.scripts.dirty.store(true, Ordering::Release);
    }
    if entry.tx_locks_all {
        if !rc.locked.is_all() {
            rc.locked.extend_all();
        }
    } else if !rc.locked.is_all() {
        rc.pos.clear();
        if cinnabar_commands::key_positions(def, argv, &mut rc.pos).is_ok() {
            let ks = &server.keyspace;
            for &i in &rc.pos {
                rc.locked.extend(ks.shard_of_key(argv[i]));
            }
        }
    }
    rc.reply.clear();
    run_called(
        server,
        rc.worker,
        &mut rc.client,
        &mut rc.reply,
        argv,
        entry,
        rc.locked,
    );
    if crate::replication::writable::tracks(server, &rc.client, def) {
        crate::replication::writable::remember(server, rc.client.db, def, argv, rc.locked);
    }
    if remember_reads && rc.reply.buf.first() != Some(&b'-') {
        rc.pos.clear();
        if cinnabar_commands::key_positions(def, argv, &mut rc.pos).is_ok() {
            rc.read_keys
                .extend(rc.pos.iter().map(|&i| argv[i].to_vec()));
        }
    }
    Ok(())
}

/// Compiles an EVAL body into this thread's interpreter (once per thread and generation).
fn compiled(vm: &mut Vm, sha: &[u8; 40], script: &Script) -> Result<Function> {
    if let Some(f) = vm.scripts.get(sha) {
        return Ok(f.clone());
    }
    let (_, shebang_len) =
        super::parse_shebang(&script.body).map_err(|e| Error::msg(format!("ERR {e}")))?;
    let f = compile(&vm.lua, &script.body[shebang_len..], "@user_script")
        .map_err(|e| Error::msg(format!("ERR Error compiling script (new function): {e}")))?;
    vm.scripts.insert(*sha, f.clone());
    Ok(f)
}

/// Compiles a chunk, returning Lua's own message (e.g. `user_script:1: ...`) on error.
pub(super) fn compile(lua: &Lua, body: &[u8], name: &str) -> std::result::Result<Function, String> {
    lua.load(body)
        .set_name(name)
        .set_mode(mlua::chunk::ChunkMode::Text)
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })
}

/// Compiles a script body only to report syntax errors (EVAL of a new script, SCRIPT LOAD),
/// in this thread's interpreter; it stays compiled for later runs.
pub fn check_compiles(server: &Server, sha: &[u8; 40], script: &Script) -> Result<()> {
    with_vm(server, |vm| compiled(vm, sha, script).map(|_| ()))
}

/// EVAL / EVALSHA: runs a cached script with `keys` and `args` (the caller holds the script
/// mutex and the declared keys' shards) and writes its reply into `ctx.out`.
pub fn run_script(
    ctx: &mut Ctx<'_, '_>,
    sha: &[u8; 40],
    script: &Script,
    keys: &[&[u8]],
    args: &[&[u8]],
    ro: bool,
) -> Result<()> {
    let compat = script.flags & script_flags::EVAL_COMPAT != 0;
    let no_writes = !compat && script.flags & script_flags::NO_WRITES != 0;
    if !compat && !no_writes && ro {
        return Err(Error::msg(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    if !compat {
        check_oom(ctx, script.flags)?;
    }
    let allow_oom = !compat && script.flags & script_flags::ALLOW_OOM != 0;
    let server = ctx.server;
    with_vm(server, |vm| {
        let f = compiled(vm, sha, script)?;
        let lua = vm.lua.clone();
        let globals = lua.globals();
        let set = |name: &str, list: &[&[u8]]| -> mlua::Result<()> {
            let t = lua.create_table_with_capacity(list.len(), 0)?;
            for (i, a) in list.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(a)?)?;
            }
            globals.raw_set(name, t)
        };
        set("KEYS", keys)
            .and_then(|_| set("ARGV", args))
            .map_err(lua_err)?;
        let name = String::from_utf8_lossy(sha).into_owned();
        let runner = vm.runner.clone();
        execute_run(
            ctx,
            vm,
            ro || no_writes,
            allow_oom,
            RunKind::Eval,
            &name,
            |_| runner.call::<MultiValue>(f),
        )
    })
}

/// FCALL / FCALL_RO: runs a library function with KEYS and ARGV as its two arguments.
pub fn run_function(
    ctx: &mut Ctx<'_, '_>,
    name: &[u8],
    function_flags: u32,
    keys: &[&[u8]],
    args: &[&[u8]],
    ro: bool,
) -> Result<()> {
    let no_writes = function_flags & script_flags::NO_WRITES != 0;
    if !no_writes && ro {
        return Err(Error::msg(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    check_oom(ctx, function_flags)?;
    let allow_oom = function_flags & script_flags::ALLOW_OOM != 0;
    let server = ctx.server;
    with_vm(server, |vm| {
        super::functions::ensure_loaded(server, vm)?;
        let Some(f) = vm.functions.get(&name.to_ascii_lowercase()).cloned() else {
            return Err(Error::msg("ERR Function not found"));
        };
        let lua = vm.lua.clone();
        let list = |list: &[&[u8]]| -> mlua::Result<Table> {
            let t = lua.create_table_with_capacity(list.len(), 0)?;
            for (i, a) in list.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(a)?)?;
            }
            Ok(t)
        };
        let k = list(keys).map_err(lua_err)?;
        let a = list(args).map_err(lua_err)?;
        let label = String::from_utf8_lossy(name).into_owned();
        let runner = vm.fn_runner.clone();
        execute_run(
            ctx,
            vm,
            ro || no_writes,
            allow_oom,
            RunKind::Function,
            &label,
            |_| runner.call::<MultiValue>((f, k, a)),
        )
    })
}

/// A script that declared flags, without `allow-oom` or `no-writes`, does not start while
/// memory is full (Redis's scriptPrepareForRun). Reached only inside MULTI/EXEC: on its own
/// such a script is deny-oom and refused by the dispatcher before it gets here.
fn check_oom(ctx: &Ctx<'_, '_>, flags: u32) -> Result<()> {
    if ctx.client.pre_oom
        && ctx.server.evict.maxmemory.load(Ordering::Relaxed) != 0
        && flags & (script_flags::ALLOW_OOM | script_flags::NO_WRITES) == 0
    {
        return Err(Error::msg(
            "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
        ));
    }
    Ok(())
}

fn lua_err(e: mlua::Error) -> Error {
    Error::msg(format!("ERR {e}"))
}

/// The common part of EVAL and FCALL: the run context, the timeout hook, the call, and the
/// conversion of the result (or error) into the caller's reply.
#[allow(clippy::too_many_arguments)]
fn execute_run(
    ctx: &mut Ctx<'_, '_>,
    vm: &mut Vm,
    read_only: bool,
    allow_oom: bool,
    kind: RunKind,
    name: &str,
    call: impl FnOnce(&Lua) -> mlua::Result<MultiValue>,
) -> Result<()> {
    let server = ctx.server;
    let scripts = &server.scripts;
    let mut client = Client::new(
        ctx.client.id,
        ctx.client.shared.clone(),
        ctx.client.is_local,
        true,
    );
    client.db = ctx.client.db;
    client.user = ctx.client.user.clone();
    client.in_exec = true;
    client.in_script = true;
    let threshold = server
        .config
        .live
        .busy_reply_threshold_ms
        .load(Ordering::Relaxed);
    let mut rc = RunCtx {
        server,
        worker: ctx.worker,
        client,
        locked: &mut *ctx.data,
        reply: {
            let mut r = std::mem::replace(&mut vm.reply, ReplyBuf::new(Protocol::Resp2));
            r.clear();
            r.proto = Protocol::Resp2;
            r
        },
        read_only,
        wrote: false,
        obey: ctx.client.must_obey(),
        deny_oom: !allow_oom
            && ctx.client.pre_oom
            && server.evict.maxmemory.load(Ordering::Relaxed) != 0,
        read_keys: Vec::new(),
        start: Instant::now(),
        busy_after: (threshold > 0).then(|| Duration::from_millis(threshold)),
        pos: Vec::new(),
        arg_bytes: std::mem::take(&mut vm.arg_bytes),
        kill_raised: false,
        name,
        command: ctx.args,
        worker_index: ctx.client.shared.worker,
        caller: ctx.client.id,
    };
    scripts.kill.store(false, Ordering::Release);
    scripts.dirty.store(false, Ordering::Release);
    scripts.running.store(
        match kind {
            RunKind::Eval => Running::Eval as u8,
            RunKind::Function => Running::Function as u8,
        },
        Ordering::Release,
    );
    let lua = vm.lua.clone();
    // SAFETY: `rc` lives until after RUN is cleared below; the lifetimes are erased only for
    // the thread-local slot (see `with_run`).
    RUN.with(|r| r.set(std::ptr::from_mut(&mut rc).cast::<RunCtx<'static, 'static>>()));
    let result = call(&lua);
    RUN.with(|r| r.set(std::ptr::null_mut()));
    crate::dispatch::sink::set_target(crate::propagate::TO_ALL);
    if scripts.busy.load(Ordering::Acquire) {
        // Take the stuck worker's sockets back from the busy responder before serving them.
        scripts.responder.finish();
        *scripts.busy_info.lock() = None;
    }
    scripts
        .running
        .store(Running::None as u8, Ordering::Release);
    scripts.busy.store(false, Ordering::Release);
    scripts.kill.store(false, Ordering::Release);

    let RunCtx {
        mut client,
        reply,
        read_keys,
        arg_bytes,
        ..
    } = rc;
    if arg_bytes.capacity() <= 64 * 1024 {
        vm.arg_bytes = arg_bytes;
    }
    if !read_keys.is_empty() {
        let keys: Vec<&[u8]> = read_keys.iter().map(|k| k.as_slice()).collect();
        crate::tracking::remember_keys(server, ctx.client, &keys);
    }
    let script_resp3 = reply.proto == Protocol::Resp3;
    ctx.client.ready_keys.extend(client.ready_keys);
    // The script's commands ran as the caller: frames for the caller itself (messages it
    // published to itself, keyspace events, invalidations) follow its reply.
    ctx.client.pubsub.pending.append(&mut client.pubsub.pending);
    ctx.client
        .pubsub
        .bcast_batch
        .append(&mut client.pubsub.bcast_batch);
    if reply.buf.capacity() <= 64 * 1024 {
        vm.reply = reply;
    }

    vm.runs += 1;
    if vm.runs.is_multiple_of(50) {
        let _ = lua.gc_step();
    }

    let values = match result {
        Ok(v) => v,
        Err(e) if e.to_string().contains(KILLED) => {
            return Err(Error::msg(format!("ERR {KILLED} script: {name}")));
        }
        Err(e) => {
            return Err(Error::msg(format!("ERR Error running script {name}, {e}")));
        }
    };
    let mut it = values.into_iter();
    let ok = matches!(it.next(), Some(Value::Boolean(true)));
    let value = it.next().unwrap_or(Value::Nil);
    if ok {
        let mark = ctx.out.len();
        lua_to_reply(&value, ctx.out, script_resp3);
        // A script returning an error reply ({err=...}) counts in INFO errorstats, unless it
        // returns an error a command already counted (redis.pcall's table): then it is only
        // the script's failed call, as in Redis.
        if ctx.out.buf.get(mark) == Some(&b'-') {
            if counted_error(&value) {
                if let Some(e) = ctx.server.registry.get(ctx.args[0]) {
                    crate::server::bump(&ctx.worker.commands[e.idx].failed, 1);
                }
            } else {
                let end = ctx.out.buf.len();
                ctx.worker.count_error(&ctx.out.buf[mark..end]);
            }
        }
        return Ok(());
    }
    // An error that came from a command (or a refused call) was counted when it happened:
    // the script's error reply counts only as the script's failed call (Redis's
    // ERR_REPLY_FLAG_NO_STATS_UPDATE).
    if counted_error(&value) {
        crate::dispatch::error_already_counted();
    }
    Err(Error::msg(script_error_message(&value, name)))
}

/// True for an error table that carries Redis's `ignore_error_stats_update` mark.
fn counted_error(value: &Value) -> bool {
    matches!(value, Value::Table(t) if t.raw_get::<bool>("ignore_error_stats_update").unwrap_or(false))
}

/// The error reply for a failed script: `<err> script: <name>, on <source>:<line>.`
fn script_error_message(err: &Value, name: &str) -> String {
    let Value::Table(t) = err else {
        let msg = match err {
            Value::Error(e) if e.to_string().contains(KILLED) => {
                return format!("ERR {KILLED} script: {name}");
            }
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            _ => "execution failure".to_string(),
        };
        return format!("ERR Error running script {name}, {msg}");
    };
    let get = |k: &str| -> Option<String> {
        match t.raw_get::<Value>(k).ok()? {
            Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
            Value::Number(n) => Some(format!("{}", n as i64)),
            Value::Integer(i) => Some(i.to_string()),
            _ => None,
        }
    };
    let msg = get("err").unwrap_or_default();
    match (get("source"), get("line")) {
        (Some(source), Some(line)) => format!("{msg} script: {name}, on {source}:{line}."),
        _ => msg,
    }
}

/// Installs the timeout hook for good: it costs nothing between runs (no Lua runs then) and
/// saves registering it for every script.
pub(super) fn install_hook(lua: &Lua) {
    let _ = lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        timeout_hook,
    );
}

/// Called every HOOK_EVERY instructions: marks the server busy once the script has run past
/// `busy-reply-threshold`, and stops it when SCRIPT KILL / FUNCTION KILL asked.
fn timeout_hook(_lua: &Lua, _debug: &mlua::debug::Debug) -> mlua::Result<VmState> {
    let stop = with_run(|rc| {
        let scripts = &rc.server.scripts;
        if let Some(after) = rc.busy_after {
            if !scripts.busy.load(Ordering::Relaxed) && rc.start.elapsed() >= after {
                tracing::warn!(
                    "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the SCRIPT KILL command.",
                    rc.start.elapsed().as_millis()
                );
                *scripts.busy_info.lock() = Some(super::BusyInfo {
                    name: rc.name.to_string(),
                    command: rc.command.iter().map(|a| a.to_vec()).collect(),
                    started: rc.start,
                });
                scripts.busy.store(true, Ordering::Release);
                scripts.responder.start(rc.worker_index, rc.caller);
            }
        }
        // A server that is shutting down stops the script too. The error is raised once:
        // pcall and xpcall re-raise it (see the prelude), and raising it again from inside
        // the error handler would turn it into an error in error handling.
        let stop = (scripts.kill.load(Ordering::Acquire) || rc.server.is_shutting_down())
            && !rc.kill_raised;
        rc.kill_raised |= stop;
        stop
    })
    .unwrap_or(false);
    if stop {
        tracing::info!("Lua script killed by user with SCRIPT KILL.");
        return Err(mlua::Error::runtime(KILLED));
    }
    Ok(VmState::Continue)
}
