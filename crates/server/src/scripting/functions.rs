//! Redis 7 functions (functions.c, function_lua.c): libraries loaded with FUNCTION LOAD,
//! their functions called with FCALL.
//!
//! The libraries' code is kept server-wide; each thread's interpreter runs every library once
//! (after it is built, or rebuilt when the libraries change) to collect the callbacks the
//! library registers.

use std::collections::BTreeMap;

use cinnabar_engine::{Error, Result};
use mlua::{Function, Table, Value};

use super::lua::{compile, with_vm, Vm};
use super::script_flags;
use crate::server::Server;

/// How long a library's code may run while it loads (Redis's LOAD_TIMEOUT_MS).
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// A function registered by a library.
#[derive(Clone, Debug)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: u32,
}

/// A loaded library: its code (with the shebang line) and its functions.
#[derive(Clone, Debug)]
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: Vec<FunctionInfo>,
}

/// Every library, by name, and every function, by name (function names are server-wide).
#[derive(Default)]
pub struct Libraries {
    pub libs: BTreeMap<String, Library>,
    pub functions: BTreeMap<String, (String, u32)>,
}

impl Libraries {
    pub fn function(&self, name: &[u8]) -> Option<u32> {
        std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.functions.get(&n.to_ascii_lowercase()))
            .map(|(_, f)| *f)
    }

    fn add(&mut self, lib: Library) {
        for f in &lib.functions {
            self.functions
                .insert(f.name.to_ascii_lowercase(), (lib.name.clone(), f.flags));
        }
        self.libs.insert(lib.name.clone(), lib);
    }

    pub fn remove(&mut self, name: &str) -> Option<Library> {
        let lib = self.libs.remove(name)?;
        for f in &lib.functions {
            self.functions.remove(&f.name.to_ascii_lowercase());
        }
        Some(lib)
    }

    /// Every library's code, in name order (for saving and for loading interpreters).
    pub fn codes(&self) -> Vec<Vec<u8>> {
        self.libs.values().map(|l| l.code.clone()).collect()
    }

    pub fn clear(&mut self) {
        self.libs.clear();
        self.functions.clear();
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Reads `#!lua name=<lib>` from the first line (functionExtractLibMetaData).
pub fn parse_metadata(code: &[u8]) -> Result<String> {
    if !code.starts_with(b"#!") {
        return Err(Error::msg("ERR Missing library metadata"));
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err(Error::msg("ERR Invalid library metadata"));
    };
    let line = String::from_utf8_lossy(&code[..end]).into_owned();
    let parts = split_quoted(&line).ok_or_else(|| Error::msg("ERR Invalid library metadata"))?;
    let mut parts = parts.iter().map(String::as_str);
    let engine = parts.next().unwrap_or("#!");
    let engine = engine.get(2..).unwrap_or("");
    let mut name = None;
    for p in parts {
        match p.strip_prefix("name=") {
            Some(_) if name.is_some() => {
                return Err(Error::msg(
                    "ERR Invalid metadata value, name argument was given multiple times",
                ))
            }
            Some(n) => name = Some(n.to_string()),
            None => return Err(Error::msg(format!("ERR Invalid metadata value given: {p}"))),
        }
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(Error::msg(format!("ERR Engine '{engine}' not found")));
    }
    let Some(name) = name else {
        return Err(Error::msg("ERR Library name was not given"));
    };
    if !valid_name(&name) {
        return Err(Error::msg("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    Ok(name)
}

/// Splits a line into words as Redis's sdssplitargs does for the metadata line: blanks
/// separate words, and "double" or 'single' quotes group them (backslash escapes inside
/// double quotes). None for an unbalanced quote.
fn split_quoted(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        loop {
            match (quote, chars.next()) {
                (None, None) => break,
                (Some(_), None) => return None,
                (None, Some(c)) if c.is_whitespace() => break,
                (None, Some(c @ ('"' | '\''))) => quote = Some(c),
                (None, Some(c)) => word.push(c),
                (Some('"'), Some('\\')) => word.push(chars.next()?),
                (Some(q), Some(c)) if c == q => {
                    // A closing quote must end the word.
                    if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                        return None;
                    }
                    break;
                }
                (Some(_), Some(c)) => word.push(c),
            }
        }
        words.push(word);
    }
}

/// Runs a library's code in `vm`, returning its functions and their callbacks.
fn run_library(vm: &Vm, code: &[u8]) -> Result<Vec<(FunctionInfo, Function)>> {
    // The code after the metadata line, from its newline on, so line numbers stay right.
    let body = &code[code.iter().position(|&b| b == b'\n').unwrap_or(code.len())..];
    let chunk = compile(&vm.lua, body, "@user_function")
        .map_err(|e| Error::msg(format!("ERR Error compiling function: {e}")))?;
    // A library only registers functions: stop one that runs longer than Redis allows.
    let start = std::time::Instant::now();
    let _ = vm.lua.set_hook(
        mlua::HookTriggers::new().every_nth_instruction(10_000),
        move |_, _| {
            if start.elapsed() > LOAD_TIMEOUT {
                return Err(mlua::Error::runtime("FUNCTION LOAD timeout"));
            }
            Ok(mlua::VmState::Continue)
        },
    );
    let result = vm.load_library.call::<(bool, Value)>(chunk);
    super::lua::install_hook(&vm.lua);
    let (ok, res) = match result {
        Ok(r) => r,
        Err(e) if e.to_string().contains("FUNCTION LOAD timeout") => {
            return Err(Error::msg(
                "ERR Error registering functions: ERR FUNCTION LOAD timeout",
            ))
        }
        Err(e) => return Err(Error::msg(format!("ERR Error registering functions: {e}"))),
    };
    let err_text = |v: &Value| -> String {
        match v {
            Value::Error(e) if e.to_string().contains("FUNCTION LOAD timeout") => {
                "ERR FUNCTION LOAD timeout".into()
            }
            Value::Table(t) => match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "unknown error".into(),
            },
            other => format!("{other:?}"),
        }
    };
    if !ok {
        return Err(Error::msg(format!(
            "ERR Error registering functions: {}",
            err_text(&res)
        )));
    }
    let Value::Table(list) = res else {
        return Err(Error::msg("ERR No functions registered"));
    };
    let mut out = Vec::new();
    for entry in list.sequence_values::<Table>() {
        let entry = entry.map_err(|e| Error::msg(format!("ERR {e}")))?;
        let name: String = entry.raw_get(1).unwrap_or_default();
        let callback: Function = entry
            .raw_get(2)
            .map_err(|e| Error::msg(format!("ERR {e}")))?;
        let flags: String = entry.raw_get(3).unwrap_or_default();
        let description: Option<String> = entry.raw_get(4).unwrap_or(None);
        let flags = script_flags::parse_list(&flags)
            .map_err(|_| Error::msg("ERR Error registering functions: ERR unknown flag given"))?;
        out.push((
            FunctionInfo {
                name,
                description,
                flags,
            },
            callback,
        ));
    }
    if out.is_empty() {
        return Err(Error::msg("ERR No functions registered"));
    }
    Ok(out)
}

/// FUNCTION LOAD [REPLACE] code: validates and runs the library here, then publishes it.
pub fn load(server: &Server, code: &[u8], replace: bool) -> Result<String> {
    let name = parse_metadata(code)?;
    if !replace && server.scripts.functions.read().libs.contains_key(&name) {
        return Err(Error::msg(format!("ERR Library '{name}' already exists")));
    }
    let functions = with_vm(server, |vm| run_library(vm, code))?;
    let mut libs = server.scripts.functions.write();
    if !replace && libs.libs.contains_key(&name) {
        return Err(Error::msg(format!("ERR Library '{name}' already exists")));
    }
    for (f, _) in &functions {
        if let Some((owner, _)) = libs.functions.get(&f.name.to_ascii_lowercase()) {
            if *owner != name {
                return Err(Error::msg(format!(
                    "ERR Function {} already exists",
                    f.name
                )));
            }
        }
    }
    libs.remove(&name);
    libs.add(Library {
        name: name.clone(),
        code: code.to_vec(),
        functions: functions.into_iter().map(|(f, _)| f).collect(),
    });
    drop(libs);
    server.scripts.bump_generation();
    Ok(name)
}

/// Loads every library into a freshly built interpreter (once).
pub(super) fn ensure_loaded(server: &Server, vm: &mut Vm) -> Result<()> {
    if vm.functions_loaded {
        return Ok(());
    }
    let codes = server.scripts.functions.read().codes();
    for code in codes {
        for (info, f) in run_library(vm, &code)? {
            vm.functions
                .insert(info.name.to_ascii_lowercase().into_bytes(), f);
        }
    }
    vm.functions_loaded = true;
    Ok(())
}

/// Replaces or extends the libraries with `incoming` (FUNCTION RESTORE), all or nothing.
pub fn restore(server: &Server, incoming: Vec<Vec<u8>>, policy: RestorePolicy) -> Result<()> {
    // Validate every library first, in this thread's interpreter.
    let mut parsed = Vec::new();
    for code in incoming {
        let name = parse_metadata(&code)?;
        let functions = with_vm(server, |vm| run_library(vm, &code))?;
        parsed.push(Library {
            name,
            code,
            functions: functions.into_iter().map(|(f, _)| f).collect(),
        });
    }
    let mut libs = server.scripts.functions.write();
    let mut next = Libraries::default();
    if policy != RestorePolicy::Flush {
        for l in libs.libs.values() {
            next.add(l.clone());
        }
    }
    for lib in parsed {
        if next.libs.contains_key(&lib.name) {
            if policy == RestorePolicy::Append {
                return Err(Error::msg(format!(
                    "ERR Library {} already exists",
                    lib.name
                )));
            }
            next.remove(&lib.name);
        }
        for f in &lib.functions {
            if next.functions.contains_key(&f.name.to_ascii_lowercase()) {
                return Err(Error::msg(format!(
                    "ERR Function {} already exists",
                    f.name
                )));
            }
        }
        next.add(lib);
    }
    *libs = next;
    drop(libs);
    server.scripts.bump_generation();
    Ok(())
}

/// Installs the libraries read from an RDB file (start-up, DEBUG RELOAD), logging a failure
/// rather than refusing the data.
pub fn install_loaded(server: &Server, libraries: Vec<Vec<u8>>, policy: RestorePolicy) {
    let n = libraries.len();
    if let Err(e) = restore(server, libraries, policy) {
        tracing::warn!("Could not load the {n} function libraries of the RDB file: {e}");
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RestorePolicy {
    Append,
    Replace,
    Flush,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_errors_as_redis() {
        assert_eq!(parse_metadata(b"#!lua name=lib\ncode").unwrap(), "lib");
        let err = |c: &[u8]| parse_metadata(c).unwrap_err().to_string();
        assert_eq!(err(b"return 1"), "ERR Missing library metadata");
        assert_eq!(err(b"#!lua"), "ERR Invalid library metadata");
        assert_eq!(
            err(b"#!lua name=z foo=bar\n"),
            "ERR Invalid metadata value given: foo=bar"
        );
        assert_eq!(err(b"#!lua\n"), "ERR Library name was not given");
        assert_eq!(err(b"#!js name=a\n"), "ERR Engine 'js' not found");
        assert!(err(b"#!lua name=a-b\n").starts_with("ERR Library names can only"));
        assert_eq!(
            parse_metadata(b"#!lua name=\"quoted\"\n").unwrap(),
            "quoted"
        );
        assert_eq!(
            err(b"#!lua name=a name=b\n"),
            "ERR Invalid metadata value, name argument was given multiple times"
        );
    }
}
