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
            text.push_str(&format!("file {b} seq {seq} type b\n"));
        }
        for (i, seq) in &self.incrs {
            text.push_str(&format!("file {i} seq {seq} type i\n"));
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

/// Parses a manifest: base and incremental files in order.
pub(super) fn read_manifest(path: &Path) -> io::Result<(Option<Named>, Vec<Named>)> {
    let text = std::fs::read_to_string(path)?;
    let mut base = None;
    let mut incrs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let get = |k: &str| {
            w.windows(2)
                .find(|p| p[0] == k)
                .map(|p| p[1].trim_matches('"'))
        };
        let (Some(file), Some(seq), Some(kind)) = (get("file"), get("seq"), get("type")) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("Invalid AOF manifest file format at line {}", n + 1),
            ));
        };
        let seq: u64 = seq.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "Invalid AOF manifest sequence")
        })?;
        match kind {
            "b" => base = Some((file.to_string(), seq)),
            "i" => incrs.push((file.to_string(), seq)),
            _ => {} // history files are not loaded
        }
    }
    Ok((base, incrs))
}
