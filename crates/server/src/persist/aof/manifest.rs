//! The manifest of the multi-part AOF (`<appendfilename>.manifest`: `file <name> seq <n> type
//! b|i` lines) and the set of files it names, written atomically.

use super::*;

/// The files of the multi-part AOF.
#[derive(Default)]
pub(super) struct Files {
    pub(super) dir: PathBuf,
    pub(super) name: String,
    pub(super) base: Option<(String, u64)>,
    pub(super) incrs: Vec<(String, u64)>,
    pub(super) current: Option<File>,
    pub(super) last_fsync: Option<Instant>,
}

impl Files {
    pub(super) fn manifest_path(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", self.name))
    }

    /// Writes the manifest atomically (temp file, fsync, rename, fsync the directory).
    pub(super) fn write_manifest(&self) -> io::Result<()> {
        let mut text = String::new();
        if let Some((b, seq)) = &self.base {
            text.push_str(&format!("file {} seq {seq} type b\n", quoted(b)));
        }
        for (i, seq) in &self.incrs {
            text.push_str(&format!("file {} seq {seq} type i\n", quoted(i)));
        }
        let tmp = self.dir.join(format!("temp-{}.manifest", self.name));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.manifest_path())?;
        File::open(&self.dir)?.sync_all()
    }

    fn next_incr_seq(&self) -> u64 {
        self.incrs.last().map_or(1, |x| x.1 + 1)
    }

    /// Starts a new incremental file and makes it the one appended to.
    pub(super) fn open_new_incr(&mut self) -> io::Result<()> {
        self.open_incr(self.next_incr_seq())
    }

    pub(super) fn open_incr(&mut self, seq: u64) -> io::Result<()> {
        let name = format!("{}.{seq}.incr.aof", self.name);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(&name))?;
        self.incrs.push((name, seq));
        self.current = Some(f);
        Ok(())
    }
}

/// Redis's MANIFEST_MAX_LINE.
const MAX_LINE: usize = 1024;

/// Parses a manifest: base and incremental files in order (history files are skipped). The
/// rules and messages are Redis 7.2's aofLoadManifestFromFile: a manifest Redis refuses is
/// refused, never half-read.
pub(super) fn read_manifest(path: &Path) -> io::Result<(Option<Named>, Vec<Named>)> {
    let bytes = std::fs::read(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "Fatal error: can't open the AOF manifest file {} for reading: {e}",
                path.display()
            ),
        )
    })?;
    parse_manifest(&bytes).map_err(|(line_no, line, err)| {
        let at = match line {
            Some(l) => format!(" (reading the manifest file, at line {line_no}: '{l}')"),
            None => String::new(),
        };
        io::Error::new(io::ErrorKind::InvalidData, format!("{err}{at}"))
    })
}

/// What [`parse_manifest`] refuses: the line number, the line (when one was read) and
/// Redis's message.
type ManifestError = (usize, Option<String>, &'static str);

fn parse_manifest(bytes: &[u8]) -> Result<(Option<Named>, Vec<Named>), ManifestError> {
    if bytes.is_empty() {
        return Err((0, None, "Found an empty AOF manifest"));
    }
    let (mut base, mut incrs) = (None, Vec::new());
    let mut max_seq = 0u64;
    let mut rest = bytes;
    let mut line_no = 0;
    while !rest.is_empty() {
        line_no += 1;
        // As fgets with Redis's buffer: a line is at most MAX_LINE bytes with its newline.
        let (raw, next) = match rest.iter().take(MAX_LINE).position(|&b| b == b'\n') {
            Some(n) => (&rest[..n], &rest[n + 1..]),
            None => {
                if rest[0] == b'#' {
                    // A comment's tail, as fgets reads it in pieces.
                    let n = rest.len().min(MAX_LINE);
                    rest = &rest[n..];
                    continue;
                }
                let shown = String::from_utf8_lossy(&rest[..rest.len().min(MAX_LINE)]);
                return Err((
                    line_no,
                    Some(shown.into_owned()),
                    "The AOF manifest file contains too long line",
                ));
            }
        };
        rest = next;
        if raw.first() == Some(&b'#') {
            continue;
        }
        let line = String::from_utf8_lossy(raw)
            .trim_matches([' ', '\t', '\r'])
            .to_string();
        let invalid = |line: &str| {
            Err((
                line_no,
                Some(line.to_string()),
                "Invalid AOF manifest file format",
            ))
        };
        if line.is_empty() {
            return invalid(&line);
        }
        // Words as Redis's sdssplitargs splits them (redis.conf's rules).
        let Some(args) = crate::config::split_config_line(&line) else {
            return invalid(&line);
        };
        if args.len() < 6 || args.len() % 2 == 1 {
            return invalid(&line);
        }
        let (mut file, mut seq, mut kind) = (None, 0u64, None);
        for pair in args.chunks(2) {
            let value = &pair[1];
            if pair[0].eq_ignore_ascii_case("file") {
                if value.contains('/') {
                    return Err((line_no, Some(line), "File can't be a path, just a filename"));
                }
                file = Some(value.clone());
            } else if pair[0].eq_ignore_ascii_case("seq") {
                // atoll: leading digits, 0 when none.
                let digits: String = value.chars().take_while(|c| c.is_ascii_digit()).collect();
                seq = digits.parse().unwrap_or(0);
            } else if pair[0].eq_ignore_ascii_case("type") {
                kind = value.chars().next();
            }
        }
        let (Some(file), Some(kind)) = (file, kind) else {
            return invalid(&line);
        };
        if seq == 0 {
            return invalid(&line);
        }
        match kind {
            'b' => {
                if base.is_some() {
                    return Err((line_no, Some(line), "Found duplicate base file information"));
                }
                base = Some((file, seq));
            }
            'h' => {}
            'i' => {
                if seq <= max_seq {
                    return Err((line_no, Some(line), "Found a non-monotonic sequence number"));
                }
                max_seq = seq;
                incrs.push((file, seq));
            }
            _ => return Err((line_no, Some(line), "Unknown AOF file type")),
        }
    }
    Ok((base, incrs))
}

/// A file name as a manifest line holds it: quoted (as Redis's sdscatrepr) when it has
/// spaces, quotes or backslashes.
fn quoted(name: &str) -> String {
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        let mut q = String::from('"');
        for c in name.chars() {
            match c {
                '"' | '\\' => {
                    q.push('\\');
                    q.push(c);
                }
                '\n' => q.push_str("\\n"),
                '\t' => q.push_str("\\t"),
                '\r' => q.push_str("\\r"),
                c => q.push(c),
            }
        }
        q.push('"');
        q
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> &'static str {
        parse_manifest(text.as_bytes()).unwrap_err().2
    }

    #[test]
    fn a_manifest_redis_writes_is_read() {
        let m = "# comment\nfile appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.4.incr.aof seq 4 type i\nfile \"a b.aof\" seq 5 type i\n";
        let (base, incrs) = parse_manifest(m.as_bytes()).unwrap();
        assert_eq!(base, Some(("appendonly.aof.2.base.rdb".into(), 2)));
        assert_eq!(
            incrs,
            vec![
                ("appendonly.aof.4.incr.aof".into(), 4),
                ("a b.aof".into(), 5)
            ]
        );
    }

    #[test]
    fn redis_refusals_are_ours() {
        assert_eq!(err(""), "Found an empty AOF manifest");
        assert_eq!(
            err("file a seq 1 type i\n\nfile b seq 3 type i\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err("file a seq 2 type i\nfile b seq 1 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(
            err("file a seq 1 type b\nfile b seq 2 type b\n"),
            "Found duplicate base file information"
        );
        assert_eq!(err("file a seq 1 type x\n"), "Unknown AOF file type");
        assert_eq!(
            err("file a seq 1 typo i\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(err("file a seq 1\n"), "Invalid AOF manifest file format");
        assert_eq!(
            err("file a seq 1 type i x\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err("file dir/a seq 1 type i\n"),
            "File can't be a path, just a filename"
        );
        assert_eq!(
            err("file a seq 1 type i"),
            "The AOF manifest file contains too long line"
        );
        let long = format!("file {} seq 1 type i\n", "a".repeat(1100));
        assert_eq!(err(&long), "The AOF manifest file contains too long line");
    }

    #[test]
    fn quoted_names_read_back() {
        for name in ["plain.aof", "a b.aof", "q\"x\\y.aof"] {
            let line = format!("file {} seq 1 type i\n", quoted(name));
            let (_, incrs) = parse_manifest(line.as_bytes()).unwrap();
            assert_eq!(incrs, vec![(name.to_string(), 1)]);
        }
    }
}
