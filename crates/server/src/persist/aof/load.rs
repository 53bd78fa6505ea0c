//! Loading at start-up: the base file, then each incremental file's commands replayed with
//! the clock stopped at each command's own time; a truncated tail is cut off as
//! `aof-load-truncated` says, anything else malformed is fatal with its file and offset.

use super::*;

/// True when start-up should load the AOF rather than the RDB (AOF on and a manifest).
pub fn should_load(server: &Server) -> bool {
    let name = server.config.get("appendfilename");
    server.config.get_bool("appendonly")
        && (aof_dir(server).join(format!("{name}.manifest")).exists()
            || crate::persist::dir(server).join(&name).is_file())
}

/// A single-file AOF of Redis before 7.0 (`dir/appendonly.aof`, no manifest) becomes the
/// base of a multi-part AOF, as Redis's aofUpgradePrepare: moved into the AOF directory
/// under its name, with a manifest naming it. Logging then starts a first incremental file.
fn upgrade_single_file(server: &Server, dir: &Path, name: &str) -> Result<(), String> {
    let manifest = dir.join(format!("{name}.manifest"));
    let old = crate::persist::dir(server).join(name);
    if !old.is_file() {
        return Ok(());
    }
    let fail = |e: io::Error| format!("Error upgrading the single-file AOF {}: {e}", old.display());
    if manifest.exists() {
        // An upgrade cut before its rename (the manifest names the file as its only base,
        // and the directory lacks it): finished now, as Redis does.
        let interrupted = matches!(
            read_manifest(&manifest),
            Ok((Some((base, _)), incrs)) if base == name && incrs.is_empty()
        ) && !dir.join(name).exists();
        if interrupted {
            std::fs::rename(&old, dir.join(name)).map_err(fail)?;
        }
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(fail)?;
    let files = Files {
        dir: dir.to_path_buf(),
        name: name.to_string(),
        base: Some((name.to_string(), 1)),
        ..Files::default()
    };
    files.write_manifest().map_err(fail)?;
    std::fs::rename(&old, dir.join(name)).map_err(fail)?;
    tracing::info!("Successfully migrated an old-style AOF into the AOF directory");
    Ok(())
}

/// Loads base and incremental files at start-up. A truncated last command of the last file
/// is cut off (with `aof-load-truncated yes`); anything else malformed is fatal, naming the
/// file and offset, and nothing is changed on disk.
pub fn load_at_startup(server: &Server) -> Result<(), String> {
    let dir = aof_dir(server);
    let name = server.config.get("appendfilename");
    upgrade_single_file(server, &dir, &name)?;
    let manifest = dir.join(format!("{name}.manifest"));
    let (base, incrs) = read_manifest(&manifest).map_err(|e| format!("{e}"))?;
    let started = Instant::now();
    // INFO's loading figures count every file, base first, as Redis's loadAppendOnlyFiles.
    let files = base.iter().chain(incrs.iter()).map(|(f, _)| dir.join(f));
    let total: u64 = files
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    crate::persist::loading_started(server, total);
    let mut done = 0u64;
    let mut keys = 0u64;
    if let Some((b, _)) = &base {
        let path = dir.join(b);
        if b.ends_with(".rdb") {
            let f = File::open(&path).map_err(|e| cannot_open(&path, e))?;
            keys += crate::persist::rdbfile::load_stream(server, io::BufReader::new(f))
                .map_err(|e| bad_rdb(&path, e))?;
        } else {
            replay_file(server, &path, false, done)?;
        }
        done += std::fs::metadata(&path).map_or(0, |m| m.len());
    }
    let n = incrs.len();
    for (i, (f, _)) in incrs.iter().enumerate() {
        let path = dir.join(f);
        replay_file(server, &path, i + 1 == n, done)?;
        done += std::fs::metadata(&path).map_or(0, |m| m.len());
    }
    tracing::info!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    let _ = keys;
    Ok(())
}

/// One command in AOF bytes: Ok(None) at a clean end, Err(true) if cut short, Err(false)
/// if malformed.
/// Splits an incremental file's bytes into commands, as loading does, without running them:
/// the number of commands, or where it stops (offset, and whether the data is only cut
/// short rather than malformed). For the AOF fuzz target; loading uses the same parser.
pub fn scan(buf: &[u8]) -> Result<usize, (usize, bool)> {
    let (mut p, mut n) = (0, 0);
    loop {
        match parse_one(buf, p) {
            Ok(Some((spans, next))) => {
                debug_assert!(spans.iter().all(|&(a, b)| a <= b && b <= buf.len()));
                n += 1;
                p = next;
            }
            Ok(None) => return Ok(n),
            Err(truncated) => return Err((p, truncated)),
        }
    }
}

fn parse_one(buf: &[u8], mut p: usize) -> Result<Option<(Spans, usize)>, bool> {
    // Annotations (#TS:...) are skipped.
    while p < buf.len() && buf[p] == b'#' {
        match buf[p..].iter().position(|&c| c == b'\n') {
            Some(n) => p += n + 1,
            None => return Err(true),
        }
    }
    if p >= buf.len() {
        return Ok(None);
    }
    let line = |p: usize| -> Result<(i64, usize), bool> {
        let end = buf[p..].iter().position(|&c| c == b'\r').map(|n| p + n);
        let Some(end) = end else { return Err(true) };
        if end + 1 >= buf.len() {
            return Err(true);
        }
        if buf[end + 1] != b'\n' {
            return Err(false);
        }
        let n = cinnabar_engine::num::parse_i64(&buf[p + 1..end]).ok_or(false)?;
        Ok((n, end + 2))
    };
    if buf[p] != b'*' {
        return Err(false);
    }
    let (argc, mut q) = line(p)?;
    if argc < 1 {
        return Err(false);
    }
    // argc is read from the file: every argument takes at least 6 bytes ("$0\r\n\r\n"), so
    // the buffer bounds how many can really follow.
    let mut spans = Vec::with_capacity((argc as usize).min((buf.len() - q) / 6 + 1));
    for _ in 0..argc {
        if q >= buf.len() {
            return Err(true);
        }
        if buf[q] != b'$' {
            return Err(false);
        }
        let (len, r) = line(q)?;
        if len < 0 {
            return Err(false);
        }
        let end = match r.checked_add(len as usize) {
            Some(end) if buf.len().checked_sub(end).is_some_and(|room| room >= 2) => end,
            _ => return Err(true),
        };
        if &buf[end..end + 2] != b"\r\n" {
            return Err(false);
        }
        spans.push((r, end));
        q = end + 2;
    }
    Ok(Some((spans, q)))
}

/// Replays one AOF file of commands with the clock stopped (see the module docs). `before`:
/// the bytes of the files loaded before it, for INFO's loading_loaded_bytes.
/// Redis's message for an AOF file that cannot be opened.
fn cannot_open(path: &Path, e: io::Error) -> String {
    format!(
        "Fatal error: can't open the append log file {} for reading: {e}",
        path.display()
    )
}

/// Redis's message for an AOF file whose RDB part (a base, a preamble) does not load.
fn bad_rdb(path: &Path, e: impl std::fmt::Display) -> String {
    format!(
        "Bad file format reading the append only file {}: {e}",
        path.display()
    )
}

fn replay_file(server: &Server, path: &Path, last: bool, before: u64) -> Result<(), String> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| cannot_open(path, e))?;
    let shared = Arc::new(crate::server::ClientShared::new(
        0,
        String::new(),
        String::new(),
        -1,
        0,
    ));
    let mut client =
        crate::dispatch::Client::new(crate::dispatch::AOF_LOADER_ID, shared, true, true);
    client.in_exec = true;
    let mut out = cinnabar_resp::ReplyBuf::new(cinnabar_resp::Protocol::Resp2);
    // An RDB preamble (Redis's aof-use-rdb-preamble, in a base written by Redis before 7.0,
    // or in one upgraded from a single-file AOF), then commands.
    let mut p = 0usize;
    if bytes.starts_with(b"REDIS") {
        let (_, used) =
            crate::persist::rdbfile::load_stream_measured(server, io::Cursor::new(&bytes[..]))
                .map_err(|e| bad_rdb(path, e))?;
        p = used as usize;
    }
    let mut multi: Option<(usize, Vec<Spans>)> = None;
    let truncated = |at: usize| -> Result<(), String> {
        let ok = last && server.config.get_bool("aof-load-truncated");
        if !ok {
            return Err(format!(
                "Unexpected end of file reading the append only file {} at offset {at}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                path.display()
            ));
        }
        tracing::warn!(
            "!!! Warning: short read while loading the AOF file {}!!! AOF loaded anyway because aof-load-truncated is enabled; the incomplete command at offset {at} was removed",
            path.display()
        );
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| {
                f.set_len(at as u64)?;
                f.sync_all()
            })
            .map_err(|e| format!("Error truncating the AOF file {}: {e}", path.display()))
    };
    loop {
        match parse_one(&bytes, p) {
            Ok(None) => {
                if let Some((at, _)) = multi {
                    return truncated(at);
                }
                return Ok(());
            }
            Err(true) => return truncated(multi.as_ref().map_or(p, |m| m.0)),
            Err(false) => {
                return Err(format!(
                    "Bad file format reading the append only file {} at offset {p}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                    path.display()
                ))
            }
            Ok(Some((spans, next))) => {
                let name = &bytes[spans[0].0..spans[0].1];
                if name.eq_ignore_ascii_case(b"multi") {
                    multi = Some((p, Vec::new()));
                } else if name.eq_ignore_ascii_case(b"exec") {
                    if let Some((_, cmds)) = multi.take() {
                        for c in cmds {
                            run_replayed(server, &mut client, &mut out, &bytes, &c, path, p)?;
                        }
                    }
                } else if let Some((_, cmds)) = multi.as_mut() {
                    cmds.push(spans);
                } else {
                    run_replayed(server, &mut client, &mut out, &bytes, &spans, path, p)?;
                }
                p = next;
                server
                    .persist
                    .loading_loaded_bytes
                    .store(before + p as u64, Ordering::Relaxed);
                // As Redis's loadSingleAppendOnlyFile: the test knob's delay after each
                // command, and a shutdown abandons the load.
                crate::persist::key_load_delay(server);
                if server.is_shutting_down() {
                    return Err(crate::persist::load_abandoned().to_string());
                }
            }
        }
    }
}

fn run_replayed(
    server: &Server,
    client: &mut crate::dispatch::Client,
    out: &mut cinnabar_resp::ReplyBuf,
    bytes: &[u8],
    spans: &[(usize, usize)],
    path: &Path,
    at: usize,
) -> Result<(), String> {
    let args: Vec<&[u8]> = spans.iter().map(|&(a, b)| &bytes[a..b]).collect();
    let entry = server.registry.resolve(&args).map_err(|e| {
        format!(
            "Unknown command '{}' reading the append only file {} at offset {at}: {e}",
            String::from_utf8_lossy(args[0]),
            path.display()
        )
    })?;
    if args[0].eq_ignore_ascii_case(b"select") {
        if let Some(n) = cinnabar_engine::num::parse_i64(args.get(1).copied().unwrap_or(b"")) {
            if n >= 0 && (n as usize) < server.keyspace.databases() {
                client.db = n as usize;
                return Ok(());
            }
        }
        return Err(format!(
            "Bad SELECT in the append only file {} at offset {at}",
            path.display()
        ));
    }
    let mut locked = match entry.access {
        crate::dispatch::Access::All => server.keyspace.lock_all(),
        // Scripts are logged as their effects: none is in the file, but treat one like any
        // command naming keys.
        crate::dispatch::Access::Nothing => server.keyspace.lock_none(),
        crate::dispatch::Access::Keys | crate::dispatch::Access::Script => {
            crate::dispatch::lock_keys(server, client.db, entry.def, &args)
        }
    };
    out.clear();
    // The clock is stopped at 0 while replaying: no key counts as expired (see module docs).
    crate::dispatch::run_locked_at(
        server,
        &server.workers[0],
        client,
        out,
        &args,
        entry,
        &mut locked,
        0,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::scan;

    // Inputs found by the aof_file fuzz target: lengths read from the file were trusted for
    // an allocation (a capacity overflow panic) and for index arithmetic.
    #[test]
    fn huge_counts_and_lengths_are_truncation_not_a_crash() {
        assert_eq!(scan(b"*8888888888888888882\r\n*("), Err((0, false)));
        assert_eq!(
            scan(b"*8888888888888888882\r\n$3\r\nSET\r\n"),
            Err((0, true))
        );
        assert_eq!(scan(b"*1\r\n$9223372036854775807\r\nab"), Err((0, true)));
        assert_eq!(
            scan(b"*1\r\n$4\r\nPING\r\n*1\r\n$99999999999\r\n"),
            Err((14, true))
        );
        assert_eq!(scan(b"*1\r\n$4\r\nPING\r\n"), Ok(1));
    }
}
