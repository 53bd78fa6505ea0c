//! Redis's own configuration files start the server unchanged: the directives of the Redis
//! 7.2.4 test suite's `tests/assets/default.conf` (and the overrides its tests pass), and the
//! log lines its harness waits for, in their order.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cinnabar_resp::Frame;
use cinnabar_server::config::Config;
use cinnabar_testkit::RawConn;

/// The directives of Redis 7.2.4's `tests/assets/default.conf`, in its order.
const SUITE_DEFAULT_CONF: &str = "\
always-show-logo yes
notify-keyspace-events KEA
daemonize no
pidfile /var/run/redis.pid
port 6379
timeout 0
bind 127.0.0.1
loglevel verbose
logfile ''
databases 16
latency-monitor-threshold 1
repl-diskless-sync-delay 0

# Note the infrastructure in server.tcl uses a dict, we can't provide several save directives
save ''

rdbcompression yes
dbfilename dump.rdb
dir ./

slave-serve-stale-data yes
appendonly no
appendfsync everysec
no-appendfsync-on-rewrite no
activerehashing yes

enable-protected-configs yes
enable-debug-command yes
enable-module-command yes

propagation-error-behavior panic

shutdown-on-sigterm force
";

#[test]
fn suite_default_conf_is_accepted_as_is() {
    let c = Config::from_text(SUITE_DEFAULT_CONF).unwrap();
    assert_eq!(c.get("replica-serve-stale-data"), "yes");
    assert_eq!(c.get("propagation-error-behavior"), "panic");
    assert_eq!(c.get("latency-monitor-threshold"), "1");
    assert_eq!(c.get("save"), "");
    assert_eq!(c.get("logfile"), "");
}

#[test]
fn other_redis_directives_and_aliases_are_accepted() {
    let text = "\
slave-read-only yes
slave-priority 50
min-slaves-to-write 0
min-slaves-max-lag 10
repl-ping-slave-period 10
slave-lazy-flush no
slave-announce-ip 10.0.0.1
slave-announce-port 7000
replica-ignore-maxmemory yes
cluster-node-timeout 5000
cluster-config-file nodes-1.conf
cluster-slave-validity-factor 5
tls-port 0
tls-auth-clients optional
active-defrag-cycle-max 50
active-defrag-ignore-bytes 200mb
list-max-ziplist-entries 512
list-max-ziplist-value 64
lazyfree-lazy-user-flush yes
io-threads 1
repl-disable-tcp-nodelay no
acl-pubsub-default allchannels
syslog-facility local3
hz 10
";
    let c = Config::from_text(text).unwrap();
    assert_eq!(c.get("replica-priority"), "50");
    assert_eq!(c.get("replica-announce-ip"), "10.0.0.1");
    assert_eq!(c.get("replica-announce-port"), "7000");
    assert_eq!(c.get("cluster-replica-validity-factor"), "5");
    assert_eq!(c.get("active-defrag-ignore-bytes"), "209715200");
    assert_eq!(c.get("acl-pubsub-default"), "allchannels");
    // Values are still checked, as Redis does.
    assert!(Config::from_text("tls-auth-clients maybe").is_err());
    assert!(Config::from_text("active-defrag-cycle-max 100").is_err());
    assert!(Config::from_text("no-such-directive 1").is_err());
}

#[test]
fn config_get_names_aliases_and_hides_hidden_parameters() {
    let srv = cinnabar_testkit::TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "slave-serve-stale-data"]),
        Frame::Array(vec![
            Frame::Bulk(b"slave-serve-stale-data".to_vec().into()),
            Frame::Bulk(b"yes".to_vec().into()),
        ])
    );
    let Frame::Array(all) = c.cmd(&["CONFIG", "GET", "*"]) else {
        panic!("CONFIG GET * is not an array")
    };
    let names: Vec<String> = all
        .iter()
        .step_by(2)
        .map(|f| match f {
            Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("name {other:?}"),
        })
        .collect();
    for wanted in [
        "slave-read-only",
        "replica-read-only",
        "cluster-node-timeout",
        "tls-port",
        "propagation-error-behavior",
    ] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} missing");
    }
    assert!(!names.iter().any(|n| n == "watchdog-period"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "cluster-node-timeout", "1234"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "cluster-node-timeout"]),
        Frame::Array(vec![
            Frame::Bulk(b"cluster-node-timeout".to_vec().into()),
            Frame::Bulk(b"1234".to_vec().into()),
        ])
    );
}

/// Starts the binary on the suite's file, as the Tcl harness does (the file, then
/// `--name value` overrides), and checks the log lines it waits for.
#[test]
fn binary_starts_from_suite_conf_and_logs_like_redis_server() {
    let dir = std::env::temp_dir().join(format!("cinnabar-redisconf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("default.conf");
    std::fs::write(&conf, SUITE_DEFAULT_CONF).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
        .arg(&conf)
        .args(["--port", &port.to_string(), "--dir", dir.to_str().unwrap()])
        .args(["--pidfile", dir.join("pid").to_str().unwrap()])
        .args(["--appendonly", "no", "--save", "", "--loglevel", "verbose"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wanted = [
        format!(" PID: {pid}"),
        "Server initialized".to_string(),
        "Ready to accept connections".to_string(),
    ];
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while next < wanted.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("log lacks {:?} after {seen:#?}", wanted[next]);
        };
        if line.contains(&wanted[next]) {
            next += 1;
        }
        seen.push(line);
    }
    let mut c = RawConn::connect(([127, 0, 0, 1], port).into());
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        Frame::Array(vec![
            Frame::Bulk(b"notify-keyspace-events".to_vec().into()),
            Frame::Bulk(b"AKE".to_vec().into()),
        ])
    );
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "server did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn port_in_use_is_logged_as_redis_does() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", ""])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains(&format!("Failed listening on port {port} (tcp), aborting.")),
        "{log}"
    );
}

#[test]
fn percent_memory_values_as_redis() {
    let srv = cinnabar_testkit::TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-clients", "10%"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory-clients"]),
        Frame::Array(vec![
            Frame::Bulk(b"maxmemory-clients".to_vec().into()),
            Frame::Bulk(b"10%".to_vec().into()),
        ])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "10000001", "maxmemory-clients", "200%"]),
        Frame::Error("ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        Frame::Array(vec![
            Frame::Bulk(b"maxmemory".to_vec().into()),
            Frame::Bulk(b"0".to_vec().into()),
        ])
    );
}
