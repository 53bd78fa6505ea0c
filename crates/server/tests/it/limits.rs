//! Client limits as Redis 7.2: `client-output-buffer-limit normal` (hard, and soft for N
//! seconds), the limits on clients that have not authenticated, protected mode's refusal
//! text, and that the rest of the server keeps serving meanwhile.

use std::time::Duration;

use cinnabar_resp::Frame;
use cinnabar_testkit::{eventually, int, ok, text, ChildServer, RawConn, TestServer, PATIENCE};

/// The server binary as a child process (so its RSS is its own).
fn child(args: &[&str]) -> ChildServer {
    ChildServer::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_cinnabar-server")),
        args,
    )
}

/// Resident set size of a process, in bytes (from /proc).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Sets `client-output-buffer-limit` (the class and its three limits), asserting OK.
fn set_obuf_limit(r: &mut RawConn, limits: &str) {
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "client-output-buffer-limit", limits]),
        ok()
    );
}

#[test]
fn normal_hard_limit_closes_without_a_reply() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    set_obuf_limit(&mut r, "normal 100000 0 0");
    let item = "x".repeat(1000);
    for _ in 0..150 {
        r.cmd(&["LPUSH", "mylist", &item]);
    }
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "big"]), ok());
    c.send(&[b"LRANGE", b"mylist", b"0", b"-1"]);
    let (bytes, closed) = c.read_until_close(Duration::from_secs(5));
    assert!(closed, "the client is closed");
    assert!(bytes.is_empty(), "nothing of the reply was sent");
    assert!(!text(&r.cmd(&["CLIENT", "LIST"])).contains("name=big"));
    // A transaction runs completely even when its replies overflow.
    let mut t = srv.raw();
    assert_eq!(t.cmd(&["MULTI"]), ok());
    for cmd in [
        &["SET", "k2", "v2"][..],
        &["LRANGE", "mylist", "0", "-1"],
        &["SET", "k3", "v3"],
    ] {
        assert_eq!(t.cmd(cmd), Frame::Simple("QUEUED".into()));
    }
    t.send(&[b"EXEC"]);
    assert!(t.read_until_close(Duration::from_secs(5)).1);
    assert_eq!(text(&r.cmd(&["GET", "k3"])), "v3");
    // Small replies are unaffected, and the limit goes away with 0.
    assert_eq!(r.cmd(&["LLEN", "mylist"]), int(150));
    set_obuf_limit(&mut r, "normal 0 0 0");
    let mut d = srv.raw();
    let Frame::Array(all) = d.cmd(&["LRANGE", "mylist", "0", "-1"]) else {
        panic!("lrange")
    };
    assert_eq!(all.len(), 150);
}

#[test]
fn normal_soft_limit_closes_a_client_that_stays_over_it() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    // 32 MB of replies, more than the socket buffers hold, to a client that never reads.
    let item = "y".repeat(16 * 1024);
    for _ in 0..64 {
        r.cmd(&["RPUSH", "l", &item]);
    }
    set_obuf_limit(&mut r, "normal 0 100000 1");
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "slow"]), ok());
    let mut pipeline = Vec::new();
    for _ in 0..32 {
        let args: [&[u8]; 4] = [b"LRANGE", b"l", b"0", b"-1"];
        cinnabar_resp::encode_command(&args, &mut pipeline);
    }
    c.send_raw(&pipeline);
    eventually(PATIENCE, "the slow client to be closed", || {
        !text(&r.cmd(&["CLIENT", "LIST"])).contains("name=slow")
    });
    // Everyone else was served all along.
    assert_eq!(r.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn unauthenticated_clients_are_limited() {
    let srv = TestServer::with_args(&[("requirepass", "pw")]);
    let mut c = srv.raw();
    c.send_raw(b"*100\r\n");
    let (bytes, closed) = c.read_until_close(Duration::from_secs(5));
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(closed);
    let mut c = srv.raw();
    // A 512 MB bulk header with nothing after it is refused at once, not buffered.
    c.send_raw(b"*1\r\n$536870912\r\n");
    let (bytes, closed) = c.read_until_close(Duration::from_secs(5));
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    assert!(closed);
    // After AUTH, the same sizes are fine.
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["AUTH", "pw"]), ok());
    let big = "z".repeat(100_000);
    assert_eq!(c.cmd(&["SET", "k", &big]), ok());
    let args: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut cmd = vec!["RPUSH", "l"];
    cmd.extend(args.iter().map(String::as_str));
    assert_eq!(c.cmd(&cmd), int(40));
}

/// A reply bigger than the hard limit stops growing once past it: the command stops early
/// (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER with a huge negative count would otherwise build
/// gigabytes), the client is closed without a reply, and the server's RSS stays about the
/// limit. Redis's Tcl unit/obuf-limits made a server grow to 22 GB here.
#[test]
fn huge_replies_stop_at_the_output_hard_limit() {
    let srv = child(&["--save", ""]);
    let pid = srv.child.id();
    let mut r = srv.conn();
    set_obuf_limit(&mut r, "normal 1mb 0 0");
    assert_eq!(r.cmd(&["HSET", "h", "a", "b"]), int(1));
    assert_eq!(r.cmd(&["SADD", "s", "a"]), int(1));
    assert_eq!(r.cmd(&["ZADD", "z", "1", "a"]), int(1));
    let base = rss_of(pid);
    for cmd in [
        &["HRANDFIELD", "h", "-999999999"][..],
        &["HRANDFIELD", "h", "-999999999", "WITHVALUES"],
        &["SRANDMEMBER", "s", "-999999999"],
        &["ZRANDMEMBER", "z", "-999999999"],
        &["ZRANDMEMBER", "z", "-999999999", "WITHSCORES"],
    ] {
        let mut c = srv.conn();
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        c.send(&args);
        let (bytes, closed) = c.read_until_close(PATIENCE);
        assert!(closed, "{cmd:?}: the client is closed");
        assert!(bytes.is_empty(), "{cmd:?}: nothing of the reply was sent");
        assert_eq!(r.cmd(&["PING"]), Frame::Simple("PONG".into()));
        let grown = rss_of(pid).saturating_sub(base);
        assert!(
            grown < 64 << 20,
            "{cmd:?}: RSS grew by {grown} bytes for a 1 MB limit"
        );
    }
    // KEYS stops too.
    for i in 0..2000 {
        r.cmd(&["SET", &format!("{i:0>100}"), "v"]);
    }
    set_obuf_limit(&mut r, "normal 100000 0 0");
    let mut c = srv.conn();
    c.send(&[b"KEYS", b"*"]);
    let (bytes, closed) = c.read_until_close(PATIENCE);
    assert!(closed && bytes.is_empty());
}

/// Two connections on different workers (`threads 2` hands accepted connections out in
/// turn): one runs a long command, the other watches it start.
fn sleeper(srv: &ChildServer, secs: &str) -> cinnabar_testkit::RawConn {
    let mut a = srv.conn();
    let mut b = srv.conn();
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "sleeper"]), ok());
    a.send(&[b"DEBUG", b"SLEEP", secs.as_bytes()]);
    eventually(PATIENCE, "the long command to start", || {
        text(&b.cmd(&["CLIENT", "LIST"]))
            .lines()
            .any(|l| l.contains("name=sleeper") && l.contains("cmd=debug"))
    });
    b
}

/// SIGTERM while a command runs: the server stops once the command ends (Redis handles the
/// signal at its next event-loop pass), cleanly.
#[test]
fn sigterm_during_a_long_command_stops_the_server_after_it() {
    let mut srv = child(&[
        "--threads",
        "2",
        "--enable-debug-command",
        "yes",
        "--save",
        "",
    ]);
    let _watcher = sleeper(&srv, "1");
    // SAFETY: signalling the child process this test started.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    let status = srv.wait_exit();
    assert!(status.success(), "{status:?}");
}

/// A second SIGINT means "now", as in Redis: the process exits (status 1) without waiting
/// for the command that runs.
#[test]
fn second_sigint_exits_at_once() {
    let mut srv = child(&[
        "--threads",
        "2",
        "--enable-debug-command",
        "yes",
        "--save",
        "",
    ]);
    let mut watcher = sleeper(&srv, "120");
    let pid = srv.child.id() as i32;
    // SAFETY: signalling the child process this test started.
    unsafe { libc::kill(pid, libc::SIGINT) };
    // The first signal was handled once the server closed its clients.
    let (_, closed) = watcher.read_until_close(PATIENCE);
    assert!(closed);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = srv.wait_exit();
    assert_eq!(status.code(), Some(1), "{status:?}");
}

/// The `tot-mem` CLIENT LIST shows for the client named `name` (None once it is gone).
fn tot_mem(r: &mut cinnabar_testkit::RawConn, name: &str) -> Option<u64> {
    let list = text(&r.cmd(&["CLIENT", "LIST"]));
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))?;
    let field = line.split(' ').find_map(|f| f.strip_prefix("tot-mem="))?;
    Some(field.parse().unwrap())
}

/// A named client that has sent the header of an argument of `size` bytes and half of it.
fn holding(srv: &TestServer, name: &str, size: usize, no_evict: bool) -> cinnabar_testkit::RawConn {
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", name]), ok());
    if no_evict {
        assert_eq!(c.cmd(&["CLIENT", "NO-EVICT", "on"]), ok());
    }
    let mut bytes = format!("*2\r\n$3\r\nget\r\n${size}\r\n").into_bytes();
    bytes.extend(std::iter::repeat_n(b'v', size / 2));
    c.send_raw(&bytes);
    c
}

/// `maxmemory-clients`: over the limit, the biggest clients are closed first until the rest
/// fits; CLIENT NO-EVICT protects a client; INFO counts the evictions and the clients'
/// memory; the limit may be a percentage of maxmemory.
#[test]
fn maxmemory_clients_evicts_the_biggest_clients_first() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["CLIENT", "SETNAME", "control"]), ok());
    assert_eq!(r.cmd(&["CLIENT", "NO-EVICT", "on"]), ok());
    let _small = holding(&srv, "small", 100_000, false);
    let _mid = holding(&srv, "mid", 400_000, false);
    let _big = holding(&srv, "big", 2_000_000, false);
    let _keep = holding(&srv, "keep", 3_000_000, true);
    // A big argument counts at its announced size as soon as its header arrived.
    let mut sizes = Vec::new();
    for (name, size) in [
        ("small", 100_000),
        ("mid", 400_000),
        ("big", 2_000_000),
        ("keep", 3_000_000),
    ] {
        let mem = eventually(PATIENCE, format_args!("{name} to be counted"), || {
            tot_mem(&mut r, name).filter(|&m| m >= size)
        });
        sizes.push(mem);
    }
    let total: u64 = r
        .info_field("memory", "mem_clients_normal")
        .parse()
        .unwrap();
    assert!(total >= sizes.iter().sum::<u64>(), "{total} {sizes:?}");
    // `keep` is the biggest but may not be evicted: `big` goes, the others stay.
    let limit = total - sizes[2] / 2;
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "maxmemory-clients", &limit.to_string()]),
        ok()
    );
    assert_eq!(tot_mem(&mut r, "big"), None, "the biggest evictable client");
    for name in ["small", "mid", "keep", "control"] {
        assert!(tot_mem(&mut r, name).is_some(), "{name} stays");
    }
    assert_eq!(r.info_field("stats", "evicted_clients"), "1");
    // As a percentage of maxmemory: 1% of 100 MB is less than `keep` alone holds, so every
    // evictable client goes.
    assert_eq!(
        r.cmd(&[
            "CONFIG",
            "SET",
            "maxmemory",
            "100mb",
            "maxmemory-clients",
            "1%"
        ]),
        ok()
    );
    for name in ["small", "mid"] {
        assert_eq!(tot_mem(&mut r, name), None, "{name} evicted");
    }
    assert!(tot_mem(&mut r, "keep").is_some());
    assert!(tot_mem(&mut r, "control").is_some());
    assert_eq!(r.info_field("stats", "evicted_clients"), "3");
}

/// Replies a client does not read stay pending while its connection goes on reading and
/// running its commands (as in Redis), count as its memory (CLIENT LIST omem, tot-mem), and
/// get it evicted past `maxmemory-clients`; the server serves others meanwhile.
#[test]
fn unread_replies_count_and_get_a_client_evicted() {
    use std::io::Write;
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(r.cmd(&["CLIENT", "SETNAME", "control"]), ok());
    assert_eq!(r.cmd(&["CLIENT", "NO-EVICT", "on"]), ok());
    assert_eq!(r.cmd(&["SETRANGE", "k", "200000", "v"]), int(200001));
    let mut slow = std::net::TcpStream::connect(srv.addr()).unwrap();
    slow.write_all(b"CLIENT SETNAME slow\r\n").unwrap();
    eventually(PATIENCE, "slow to connect", || {
        tot_mem(&mut r, "slow").is_some()
    });
    // Far more than the socket buffers hold.
    eventually(PATIENCE, "unread replies to pile up", || {
        let _ = slow.write_all(b"GET k\r\n");
        tot_mem(&mut r, "slow").is_some_and(|m| m > 16 << 20)
    });
    assert_eq!(r.cmd(&["CONFIG", "SET", "maxmemory-clients", "8mb"]), ok());
    assert_eq!(tot_mem(&mut r, "slow"), None);
    assert_eq!(r.info_field("stats", "evicted_clients"), "1");
    assert_eq!(r.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

/// Starts the binary with `ulimit -n` set to `soft`/`hard` and returns it with its log up to
/// the ready line.
fn spawn_with_nofile(soft: u64, hard: u64, args: &[&str]) -> (std::process::Child, Vec<String>) {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cinnabar-server"));
    cmd.args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.contains("ready to accept connections");
        log.push(line);
        if ready {
            break;
        }
    }
    assert!(
        log.last().is_some_and(|l| l.contains("ready")),
        "server did not start: {log:?}"
    );
    std::thread::spawn(move || for _ in lines {});
    (child, log)
}

/// The open-files limit of a process (soft), from /proc.
fn nofile_of(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// maxclients as Redis: `ulimit -n` is raised to maxclients + 32 when the hard limit allows
/// it; when it does not, maxclients is lowered to fit (with Redis's log lines) and CONFIG
/// SET refuses a number the system cannot hold; a client past maxclients gets Redis's error.
#[test]
fn maxclients_and_the_open_files_limit() {
    let port = cinnabar_testkit::free_port().to_string();
    let base = ["--port", &port, "--bind", "127.0.0.1", "--save", ""];
    // Room to raise: the soft limit goes up to maxclients + 32.
    let mut args = base.to_vec();
    args.extend(["--maxclients", "1000"]);
    let (mut child, _) = spawn_with_nofile(256, 4096, &args);
    assert_eq!(nofile_of(child.id()), 1032);
    let _ = child.kill();
    let _ = child.wait();

    // No room: maxclients comes down to the hard limit less 32.
    let port = cinnabar_testkit::free_port().to_string();
    let base = ["--port", &port, "--bind", "127.0.0.1", "--save", ""];
    let mut args = base.to_vec();
    args.extend(["--maxclients", "1000"]);
    let (mut child, log) = spawn_with_nofile(100, 100, &args);
    assert!(
        log.iter()
            .any(|l| l.contains("maxclients has been reduced to 68 to compensate for low ulimit")),
        "{log:?}"
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut r = cinnabar_testkit::RawConn::connect(addr);
    let Frame::Array(v) = r.cmd(&["CONFIG", "GET", "maxclients"]) else {
        panic!()
    };
    assert_eq!(text(&v[1]), "68");
    assert_eq!(
        text(&r.cmd(&["CONFIG", "SET", "maxclients", "5000"])),
        "ERR:ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with 68"
    );
    // Past maxclients: Redis's error, then the connection is closed.
    assert_eq!(r.cmd(&["CONFIG", "SET", "maxclients", "3"]), ok());
    let mut others: Vec<_> = (0..2)
        .map(|_| {
            let mut c = cinnabar_testkit::RawConn::connect(addr);
            assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
            c
        })
        .collect();
    let mut refused = cinnabar_testkit::RawConn::connect(addr);
    let (bytes, closed) = refused.read_until_close(PATIENCE);
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "-ERR max number of clients reached\r\n"
    );
    assert!(closed);
    assert_eq!(others[0].cmd(&["PING"]), Frame::Simple("PONG".into()));
    let _ = child.kill();
    let _ = child.wait();
}
