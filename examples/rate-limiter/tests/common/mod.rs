//! Shared by the rate limiter's test files: a Cinnabar server and service instances, all
//! in-process on free 127.0.0.1 ports, and checks run for every algorithm.

#![allow(dead_code)]

use std::net::SocketAddr;

use cinnabar_example_rate_limiter::{serve, Algorithm, AppState, Config};
use cinnabar_testkit::{eventually_async, TestServer, PATIENCE};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A database server for one test, never stopped.
///
/// Stopping a `TestServer` while other tests of the process run is not safe at the moment:
/// `Server::request_shutdown` wakes the workers (whose runtimes then close their
/// connections) *before* it shuts down every registered client's descriptor, so it can
/// `shutdown(2)` descriptor numbers that meanwhile belong to someone else in the process
/// (seen as "EOF on self-pipe" panics in tokio and connections of other tests dropped).
/// Leaking the servers until the process exits avoids that; tests that need the database
/// gone cut a [`Relay`] instead.
pub fn database() -> &'static TestServer {
    Box::leak(Box::new(TestServer::start()))
}

/// The database plus the service's instances (all sharing the database).
pub struct Env {
    pub db: &'static TestServer,
    pub config: Config,
    pub base: String,
    pub http: reqwest::Client,
}

/// One answer, with the headers the tests look at.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<u64>,
    pub retry_after: Option<u64>,
    pub body: Value,
}

impl Env {
    pub async fn start(algorithm: Algorithm, tune: impl FnOnce(&mut Config)) -> Env {
        let db = database();
        let mut config = Config::defaults();
        config.redis_url = db.url();
        config.algorithm = algorithm;
        config.limit = 5;
        config.window_secs = 60;
        config.gcra_burst = None;
        config.block_after = 0;
        config.block_secs = 1;
        config.trust_x_forwarded_for = false;
        config.fail_open = false;
        config.key_prefix = "ratelimit".into();
        // Generous: a loaded test machine must not turn into timeouts.
        config.redis_timeout_ms = 10_000;
        tune(&mut config);
        let base = Env::instance_with(&config).await;
        Env {
            db,
            config,
            base,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    pub async fn instance_with(config: &Config) -> String {
        let state = AppState::new(config).await.expect("service state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, state));
        format!("http://{addr}")
    }

    /// Another instance of the service on the same database.
    pub async fn instance(&self) -> String {
        Env::instance_with(&self.config).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let num = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap())
        };
        let (limit, remaining, reset, retry_after) = (
            num("ratelimit-limit"),
            num("ratelimit-remaining"),
            num("ratelimit-reset"),
            num("retry-after"),
        );
        let status = resp.status();
        let body = resp.json().await.unwrap();
        Answer {
            status,
            limit,
            remaining,
            reset,
            retry_after,
            body,
        }
    }

    /// `GET /api/hello` on instance `base`.
    pub async fn hello_at(&self, base: &str) -> Answer {
        self.send(self.http.get(format!("{base}/api/hello"))).await
    }

    pub async fn hello(&self) -> Answer {
        self.hello_at(&self.base).await
    }

    /// `GET /api/hello` claiming to come from `ip` through a proxy.
    pub async fn hello_from(&self, ip: &str) -> Answer {
        self.send(
            self.http
                .get(format!("{}/api/hello", self.base))
                .header("x-forwarded-for", ip),
        )
        .await
    }

    pub async fn login(&self, user: &str, password: &str) -> Answer {
        self.send(
            self.http
                .post(format!("{}/login", self.base))
                .json(&json!({"username": user, "password": password})),
        )
        .await
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.db.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    pub async fn pttl(&self, key: &str) -> i64 {
        let mut c = self.redis().await;
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut c)
            .await
            .unwrap()
    }

    /// Waits until `key` has expired (its TTL is what the test is about).
    pub async fn wait_expired(&self, key: &str) {
        eventually_async(PATIENCE, format_args!("{key} to expire"), || async {
            self.pttl(key).await == -2
        })
        .await;
    }
}

/// Asserts an allowed answer with its headers.
pub fn assert_allowed(a: &Answer, limit: u64, remaining: u64, window_secs: u64) {
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.limit, Some(limit), "{a:?}");
    assert_eq!(a.remaining, Some(remaining), "{a:?}");
    let reset = a.reset.expect("RateLimit-Reset");
    assert!(reset <= window_secs, "{a:?}");
    assert_eq!(a.retry_after, None, "{a:?}");
}

/// Asserts a 429 of the limiter (not a block) with its headers.
pub fn assert_limited(a: &Answer, limit: u64, window_secs: u64) {
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{a:?}");
    assert_eq!(a.body["error"], json!("rate_limited"), "{a:?}");
    assert_eq!(a.limit, Some(limit), "{a:?}");
    assert_eq!(a.remaining, Some(0), "{a:?}");
    let retry = a.retry_after.expect("Retry-After");
    assert!((1..=window_secs).contains(&retry), "{a:?}");
    assert!(a.reset.is_some(), "{a:?}");
}

/// `limit` requests pass, with RateLimit-Remaining counting down; the next is refused.
pub async fn limits_at_the_configured_count(algorithm: Algorithm) {
    let env = Env::start(algorithm, |c| c.limit = 5).await;
    for remaining in (0..5).rev() {
        assert_allowed(&env.hello().await, 5, remaining, 60);
    }
    for _ in 0..3 {
        assert_limited(&env.hello().await, 5, 60);
    }
    // Other protected routes share the client's limit.
    let a = env.login("demo", "demo").await;
    assert_limited(&a, 5, 60);
}

/// After the window, the client may send again. (Three seconds: the first requests must
/// fall in one window even on a slow machine.)
pub async fn resets_after_the_window(algorithm: Algorithm) {
    let env = Env::start(algorithm, |c| {
        c.limit = 2;
        c.window_secs = 3;
    })
    .await;
    assert_eq!(env.hello().await.status, StatusCode::OK);
    assert_eq!(env.hello().await.status, StatusCode::OK);
    let refused = env.hello().await;
    assert_limited(&refused, 2, 3);
    // Retry-After is honest: that long later is enough. Every algorithm keeps time on the
    // database (key expiry, TIME, CL.THROTTLE), so its clock is moved instead of waiting.
    env.db
        .advance_clock(refused.retry_after.unwrap() * 1000 + 50);
    let a = env.hello().await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.limit, Some(2), "{a:?}");
    assert!(a.remaining.unwrap() <= 1, "{a:?}");
}

/// Requests spread over two instances are counted as one.
pub async fn two_instances_share_the_limit(algorithm: Algorithm) {
    let env = Env::start(algorithm, |c| c.limit = 6).await;
    let second = env.instance().await;
    let mut allowed = 0;
    for i in 0..12 {
        let base = if i % 2 == 0 { &env.base } else { &second };
        let a = env.hello_at(base).await;
        if a.status == StatusCode::OK {
            // The count goes down across instances: 5, 4, ... whichever instance answers.
            assert_eq!(a.remaining, Some(5 - allowed), "request {i}: {a:?}");
            allowed += 1;
        } else {
            assert_limited(&a, 6, 60);
        }
    }
    assert_eq!(allowed, 6);
}

/// N refusals within the window block the client: 429 with Retry-After = the block's TTL,
/// without the limiter being consulted; after the block's TTL the limiter answers again.
pub async fn blocks_repeat_offenders(algorithm: Algorithm, limiter_key: &str) {
    let env = Env::start(algorithm, |c| {
        c.limit = 2;
        c.window_secs = 60;
        c.block_after = 3;
        c.block_secs = 30;
    })
    .await;
    assert_eq!(env.hello().await.status, StatusCode::OK);
    assert_eq!(env.hello().await.status, StatusCode::OK);
    assert_limited(&env.hello().await, 2, 60);
    assert_limited(&env.hello().await, 2, 60);
    // The third refusal blocks.
    let a = env.hello().await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.body["error"], json!("blocked"), "{a:?}");
    assert_eq!(a.retry_after, Some(30));
    let block_key = "ratelimit:block:127.0.0.1";
    let pttl = env.pttl(block_key).await;
    assert!((1..=30_000).contains(&pttl), "{pttl}");

    // Blocked requests do not reach the limiter: its state does not change.
    let mut db = env.redis().await;
    let dump = |key: String| {
        let mut db = db.clone();
        async move {
            let v: Option<Vec<u8>> = redis::cmd("DUMP")
                .arg(key)
                .query_async(&mut db)
                .await
                .unwrap();
            v
        }
    };
    let before = dump(limiter_key.to_string()).await;
    assert!(before.is_some(), "limiter key {limiter_key} missing");
    for _ in 0..3 {
        let a = env.login("demo", "demo").await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(a.body["error"], json!("blocked"));
        let retry = a.retry_after.unwrap();
        assert!((1..=30).contains(&retry), "{a:?}");
        assert_eq!(a.reset, Some(retry));
        assert_eq!(a.remaining, Some(0));
    }
    assert_eq!(dump(limiter_key.to_string()).await, before);

    // Let the block run out sooner than 30 s, then wait for the database to expire it.
    let _: () = redis::cmd("PEXPIRE")
        .arg(block_key)
        .arg(100)
        .query_async(&mut db)
        .await
        .unwrap();
    env.wait_expired(block_key).await;
    // Unblocked: the limiter decides again (the window still runs: refused, not blocked).
    assert_limited(&env.hello().await, 2, 60);
    let _: () = redis::cmd("DEL")
        .arg(limiter_key)
        .query_async(&mut db)
        .await
        .unwrap();
    assert_allowed(&env.hello().await, 2, 1, 60);
}
