//! AOF helpers shared by the modules that check what reaches the log: a server with the
//! AOF on and fsync always (so the file holds every acknowledged write), and the commands
//! of its current incremental file.

use std::path::Path;

use cinnabar_resp::Frame;
use cinnabar_testkit::TestServer;

/// A server in `dir` with `appendonly yes` and `appendfsync always`, loaded.
pub fn start_aof(dir: &Path) -> TestServer {
    let d = dir.to_str().expect("utf-8 temp dir").to_string();
    let srv = TestServer::with_args(&[
        ("dir", &d),
        ("appendonly", "yes"),
        ("appendfsync", "always"),
    ]);
    srv.wait_loaded();
    srv
}

/// Commands of the newest incremental AOF file in `dir`, in order, each as its words
/// (SELECTs included).
pub fn aof_commands(dir: &Path) -> Vec<Vec<String>> {
    let m = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
        .expect("AOF manifest");
    let name = m
        .lines()
        .rfind(|l| l.ends_with("type i"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("an incremental file in the manifest")
        .to_string();
    let bytes = std::fs::read(dir.join("appendonlydir").join(name)).expect("AOF file");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((frame, n)) = Frame::parse(&bytes[at..]).expect("AOF is RESP") {
        at += n;
        let Frame::Array(items) = frame else {
            panic!("AOF entry is not an array: {frame:?}")
        };
        out.push(
            items
                .iter()
                .map(|f| match f {
                    Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("AOF word is not a bulk: {other:?}"),
                })
                .collect(),
        );
    }
    out
}
