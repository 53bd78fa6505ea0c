//! End-to-end tests: a Cinnabar server, a fake GitHub and the service, all in-process on
//! free 127.0.0.1 ports, driven over HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cinnabar_example_api_cache::{serve, AppState, Config};
use cinnabar_testkit::{eventually_async, Relay, TestServer, PATIENCE};
use serde_json::{json, Value};

/// A fake GitHub API. What it answers depends on the repository name:
/// - `missing*`: 404; `boom*`: 500; `garbage*`: 200 with a body that is not JSON;
/// - `slow*`: answers after 3 s (tests give the service a shorter timeout);
/// - anything else: 200 with `stargazers_count` = the current `stars`, after `delay_ms`.
#[derive(Clone, Default)]
struct Fake {
    calls: Arc<Mutex<HashMap<String, u64>>>,
    stars: Arc<AtomicU64>,
    delay_ms: Arc<AtomicU64>,
    last_headers: Arc<Mutex<Option<HeaderMap>>>,
}

impl Fake {
    async fn start() -> (Fake, String) {
        let fake = Fake::default();
        fake.stars.store(42, Ordering::SeqCst);
        let app = Router::new()
            .route("/repos/{owner}/{name}", get(fake_repo))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, url)
    }

    /// Upstream calls made for `owner/name`.
    fn calls(&self, repo: &str) -> u64 {
        self.calls.lock().unwrap().get(repo).copied().unwrap_or(0)
    }

    fn total_calls(&self) -> u64 {
        self.calls.lock().unwrap().values().sum()
    }
}

async fn fake_repo(
    State(fake): State<Fake>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    *fake
        .calls
        .lock()
        .unwrap()
        .entry(format!("{owner}/{name}"))
        .or_default() += 1;
    *fake.last_headers.lock().unwrap() = Some(headers);
    if name.starts_with("missing") {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response();
    }
    if name.starts_with("boom") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response();
    }
    if name.starts_with("garbage") {
        return (StatusCode::OK, "<html>not json</html>").into_response();
    }
    if name.starts_with("slow") {
        // Never answers: the service's own timeout is what the test is about.
        std::future::pending::<()>().await;
    }
    let delay = fake.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let stars = fake.stars.load(Ordering::SeqCst);
    axum::Json(json!({"full_name": format!("{owner}/{name}"), "stargazers_count": stars}))
        .into_response()
}

/// A database server for one test, never stopped.
///
/// Stopping a `TestServer` while other tests of the process run is not safe at the moment:
/// `Server::request_shutdown` wakes the workers (whose runtimes then close their
/// connections) *before* it shuts down every registered client's descriptor, so it can
/// `shutdown(2)` descriptor numbers that meanwhile belong to someone else in the process
/// (seen as "EOF on self-pipe" panics in tokio and connections of other tests dropped).
/// Leaking the servers until the process exits avoids that; tests that need the database
/// gone cut a [`Relay`] instead.
fn database() -> &'static TestServer {
    Box::leak(Box::new(TestServer::start()))
}

/// The database, the fake upstream and one service instance (more with [`Env::instance`]).
struct Env {
    db: &'static TestServer,
    fake: Fake,
    base: String,
    config: Config,
    http: reqwest::Client,
}

impl Env {
    async fn start(tune: impl FnOnce(&mut Config)) -> Env {
        let db = database();
        let (fake, upstream_url) = Fake::start().await;
        let mut config = Config::defaults();
        config.redis_url = db.url();
        config.upstream_url = upstream_url;
        config.ttl = 60;
        config.ttl_jitter = 0;
        config.negative_ttl = 10;
        config.upstream_timeout_ms = 10_000;
        config.github_token = None;
        config.lock_ttl_ms = None;
        // Generous: a loaded test machine must not turn into timeouts.
        config.redis_timeout_ms = 10_000;
        tune(&mut config);
        let base = Env::instance_with(&config).await;
        Env {
            db,
            fake,
            base,
            config,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// Starts a service with `config` on a free port; returns its base URL.
    async fn instance_with(config: &Config) -> String {
        let state = AppState::new(config).await.expect("service state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, state));
        format!("http://{addr}")
    }

    /// Another instance sharing the same database and upstream.
    async fn instance(&self) -> String {
        Env::instance_with(&self.config).await
    }

    async fn post_to(&self, base: &str, body: Value) -> (StatusCode, Option<String>, Value) {
        let resp = self
            .http
            .post(format!("{base}/data"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let cache_status = resp
            .headers()
            .get("cache-status")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = resp.json().await.unwrap();
        (status, cache_status, body)
    }

    async fn post(&self, repo: &str) -> (StatusCode, Option<String>, Value) {
        self.post_to(&self.base, json!({ "repo": repo })).await
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.db.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn db_get(&self, key: &str) -> Option<String> {
        let mut c = self.redis().await;
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut c)
            .await
            .unwrap()
    }

    async fn db_pttl(&self, key: &str) -> i64 {
        let mut c = self.redis().await;
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut c)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn miss_then_hit() {
    let env = Env::start(|_| {}).await;
    let (status, cs, body) = env.post("octo/hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"status": "ok", "stars": 42, "cached": false}));
    assert_eq!(
        cs.as_deref(),
        Some("cinnabar; fwd=uri-miss; fwd-status=200; stored; ttl=60")
    );
    // Stored as a plain number with the configured TTL.
    assert_eq!(
        env.db_get("apicache:stars:octo/hello").await.as_deref(),
        Some("42")
    );
    let pttl = env.db_pttl("apicache:stars:octo/hello").await;
    assert!(pttl > 0 && pttl <= 60_000, "{pttl}");

    let (status, cs, body) = env.post("octo/hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"status": "ok", "stars": 42, "cached": true}));
    let cs = cs.unwrap();
    let ttl: u64 = cs
        .strip_prefix("cinnabar; hit; ttl=")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{cs}"));
    assert!(ttl <= 60, "{cs}");
    // Names are case-insensitive, as on GitHub: same entry.
    let (_, _, body) = env.post("Octo/Hello").await;
    assert_eq!(body["cached"], json!(true));
    assert_eq!(env.fake.calls("octo/hello"), 1);
}

#[tokio::test]
async fn upstream_request_has_user_agent_and_token() {
    let env = Env::start(|c| c.github_token = Some("sekrit".into())).await;
    env.post("octo/ua").await;
    let headers = env.fake.last_headers.lock().unwrap().clone().unwrap();
    let ua = headers["user-agent"].to_str().unwrap();
    assert!(ua.starts_with("cinnabar-example-api-cache/"), "{ua}");
    assert_eq!(headers["authorization"], "Bearer sekrit");
    assert_eq!(headers["accept"], "application/vnd.github+json");
}

#[tokio::test]
async fn entry_expires_and_is_fetched_again() {
    let env = Env::start(|c| c.ttl = 1).await;
    let (_, cs, body) = env.post("octo/expiring").await;
    assert_eq!(body["stars"], json!(42));
    assert_eq!(
        cs.as_deref(),
        Some("cinnabar; fwd=uri-miss; fwd-status=200; stored; ttl=1")
    );
    env.fake.stars.store(43, Ordering::SeqCst);
    // The database's clock passes the entry's deadline (no waiting for the second).
    env.db.advance_clock(1_001);
    assert_eq!(env.db_pttl("apicache:stars:octo/expiring").await, -2);
    let (_, _, body) = env.post("octo/expiring").await;
    assert_eq!(body, json!({"status": "ok", "stars": 43, "cached": false}));
    assert_eq!(env.fake.calls("octo/expiring"), 2);
}

#[tokio::test]
async fn not_found_is_cached_negatively_not_as_a_number() {
    let env = Env::start(|_| {}).await;
    let (status, cs, body) = env.post("octo/missing-repo").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["status"], json!("error"));
    assert_eq!(body["error"], json!("not_found"));
    assert_eq!(body["cached"], json!(false));
    assert!(body.get("stars").is_none());
    assert_eq!(
        cs.as_deref(),
        Some("cinnabar; fwd=uri-miss; fwd-status=404; stored; ttl=10")
    );
    let stored = env
        .db_get("apicache:stars:octo/missing-repo")
        .await
        .unwrap();
    assert!(
        stored.parse::<i64>().is_err(),
        "stored as a number: {stored}"
    );
    let pttl = env.db_pttl("apicache:stars:octo/missing-repo").await;
    assert!(pttl > 0 && pttl <= 10_000, "{pttl}");

    let (status, cs, body) = env.post("octo/missing-repo").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["cached"], json!(true));
    assert!(cs.unwrap().starts_with("cinnabar; hit; ttl="));
    assert_eq!(env.fake.calls("octo/missing-repo"), 1);
}

#[tokio::test]
async fn not_found_without_negative_caching_is_not_stored() {
    let env = Env::start(|c| c.negative_ttl = 0).await;
    for _ in 0..2 {
        let (status, cs, body) = env.post("octo/missing-too").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["cached"], json!(false));
        assert_eq!(
            cs.as_deref(),
            Some("cinnabar; fwd=uri-miss; fwd-status=404")
        );
    }
    assert_eq!(env.db_get("apicache:stars:octo/missing-too").await, None);
    assert_eq!(env.fake.calls("octo/missing-too"), 2);
}

#[tokio::test]
async fn upstream_5xx_is_502_and_not_cached() {
    let env = Env::start(|_| {}).await;
    for _ in 0..2 {
        let (status, cs, body) = env.post("octo/boom").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(body["status"], json!("error"));
        assert_eq!(body["error"], json!("upstream_error"));
        assert_eq!(
            cs.as_deref(),
            Some("cinnabar; fwd=uri-miss; fwd-status=500")
        );
    }
    assert_eq!(env.db_get("apicache:stars:octo/boom").await, None);
    // The lock was released: nothing left behind.
    assert_eq!(env.db_get("apicache:lock:octo/boom").await, None);
    assert_eq!(env.fake.calls("octo/boom"), 2);
}

#[tokio::test]
async fn upstream_garbage_is_502_and_not_cached() {
    let env = Env::start(|_| {}).await;
    let (status, _, body) = env.post("octo/garbage").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], json!("upstream_bad_response"));
    assert_eq!(env.db_get("apicache:stars:octo/garbage").await, None);
}

#[tokio::test]
async fn upstream_timeout_is_504_and_not_cached() {
    let env = Env::start(|c| c.upstream_timeout_ms = 300).await;
    let (status, cs, body) = env.post("octo/slow").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"], json!("upstream_timeout"));
    assert!(
        body["message"].as_str().unwrap().contains("300 ms"),
        "{body}"
    );
    assert_eq!(
        cs.as_deref(),
        Some("cinnabar; fwd=uri-miss; detail=upstream-timeout")
    );
    assert_eq!(env.db_get("apicache:stars:octo/slow").await, None);
    assert_eq!(env.db_get("apicache:lock:octo/slow").await, None);
}

#[tokio::test]
async fn upstream_connection_refused_is_502() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = Env::start(|c| c.upstream_url = dead).await;
    let (status, cs, body) = env.post("octo/anything").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], json!("upstream_unreachable"));
    assert_eq!(
        cs.as_deref(),
        Some("cinnabar; fwd=uri-miss; detail=upstream-unreachable")
    );
    assert_eq!(env.db_get("apicache:stars:octo/anything").await, None);
}

#[tokio::test]
async fn invalid_input_is_400() {
    let env = Env::start(|_| {}).await;
    for repo in [
        "",
        "noslash",
        "a/b/c",
        "-bad/x",
        "a/..",
        "a/b c",
        "../etc/passwd",
    ] {
        let (status, cs, body) = env.post(repo).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{repo:?}");
        assert_eq!(body["error"], json!("invalid_repo"), "{repo:?}");
        assert!(cs.is_none());
    }
    for bad in [json!({}), json!({"repo": 5}), json!(["a/b"])] {
        let (status, _, body) = env.post_to(&env.base, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"], json!("bad_request"));
    }
    let resp = env
        .http
        .post(format!("{}/data", env.base))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(env.fake.total_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_makes_one_upstream_call() {
    let env = Env::start(|_| {}).await;
    env.fake.delay_ms.store(300, Ordering::SeqCst);
    let env = Arc::new(env);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move { env.post("octo/popular").await }));
    }
    let mut stored = 0;
    for t in tasks {
        let (status, cs, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["stars"], json!(42));
        if cs.unwrap().contains("; stored") {
            stored += 1;
        }
    }
    assert_eq!(env.fake.calls("octo/popular"), 1);
    assert_eq!(stored, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_across_two_instances_makes_one_upstream_call() {
    let env = Env::start(|_| {}).await;
    env.fake.delay_ms.store(300, Ordering::SeqCst);
    let second = env.instance().await;
    let env = Arc::new(env);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let env = env.clone();
        let base = if i % 2 == 0 {
            env.base.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            env.post_to(&base, json!({"repo": "octo/shared"})).await
        }));
    }
    for t in tasks {
        let (status, _, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["stars"], json!(42));
    }
    assert_eq!(env.fake.calls("octo/shared"), 1);
}

#[tokio::test]
async fn waits_for_another_instances_lock_and_reads_its_value() {
    let env = Env::start(|_| {}).await;
    let mut db = env.redis().await;
    // Another instance holds the fill lock.
    let _: () = redis::cmd("SET")
        .arg("apicache:lock:octo/locked")
        .arg("someone-else")
        .arg("PX")
        .arg(10_000)
        .query_async(&mut db)
        .await
        .unwrap();
    let request = tokio::spawn({
        let http = env.http.clone();
        let base = env.base.clone();
        async move {
            http.post(format!("{base}/data"))
                .json(&json!({"repo": "octo/locked"}))
                .send()
                .await
                .unwrap()
        }
    });
    // ... and stores its value once our request is waiting for it (its fill is running).
    eventually_async(PATIENCE, "the request to start its fill", || async {
        fills_in_flight(&env).await > 0
    })
    .await;
    let _: () = redis::cmd("SET")
        .arg("apicache:stars:octo/locked")
        .arg("7")
        .arg("EX")
        .arg(30)
        .query_async(&mut db)
        .await
        .unwrap();
    let resp = request.await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cs = resp.headers()["cache-status"].to_str().unwrap().to_string();
    assert!(
        cs.starts_with("cinnabar; fwd=uri-miss; collapsed; ttl="),
        "{cs}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "stars": 7, "cached": true}));
    assert_eq!(env.fake.total_calls(), 0);
    // The other instance's lock is untouched.
    assert_eq!(
        env.db_get("apicache:lock:octo/locked").await.as_deref(),
        Some("someone-else")
    );
}

async fn fills_in_flight(env: &Env) -> u64 {
    let resp = env
        .http
        .get(format!("{}/health", env.base))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    body["fills_in_flight"].as_u64().unwrap()
}

#[tokio::test]
async fn takes_over_when_a_dead_instances_lock_expires() {
    let env = Env::start(|_| {}).await;
    let mut db = env.redis().await;
    // A lock left by an instance that died: nobody will store the value or release it.
    let _: () = redis::cmd("SET")
        .arg("apicache:lock:octo/orphan")
        .arg("dead-instance")
        .arg("PX")
        .arg(300)
        .query_async(&mut db)
        .await
        .unwrap();
    let (status, cs, body) = env.post("octo/orphan").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cached"], json!(false));
    assert!(cs.unwrap().contains("stored"));
    assert_eq!(env.fake.calls("octo/orphan"), 1);
}

#[tokio::test]
async fn ttl_jitter_spreads_expiries_below_the_ttl() {
    let env = Env::start(|c| {
        c.ttl = 60;
        c.ttl_jitter = 30;
    })
    .await;
    let mut pttls = Vec::new();
    for i in 0..20 {
        let repo = format!("octo/jitter{i}");
        let (status, _, _) = env.post(&repo).await;
        assert_eq!(status, StatusCode::OK);
        pttls.push(env.db_pttl(&format!("apicache:stars:{repo}")).await);
    }
    for p in &pttls {
        assert!((1..=60_000).contains(p), "{p}");
    }
    // 20 draws from 30 001 values: all alike only if there were no jitter.
    let first = pttls[0] / 1000;
    assert!(pttls.iter().any(|p| p / 1000 != first), "{pttls:?}");
}

#[tokio::test]
async fn health_reports_the_database() {
    let env = Env::start(|_| {}).await;
    let resp = env
        .http
        .get(format!("{}/health", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], json!("ok"));
    assert_eq!(body["database"], json!("ok"));
}

#[tokio::test]
async fn without_the_database_answers_503_then_recovers() {
    let env = Env::start(|_| {}).await;
    let relay = Relay::start(env.db.addr()).await;
    let base = Env::instance_with(&Config {
        redis_url: relay.url(),
        ..env.config.clone()
    })
    .await;
    let health = |base: String| {
        let http = env.http.clone();
        async move { http.get(format!("{base}/health")).send().await.unwrap() }
    };
    assert_eq!(health(base.clone()).await.status(), StatusCode::OK);

    // Without the database: 503 for health and for lookups, never a hang or a crash.
    relay.cut().await;
    let resp = health(base.clone()).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], json!("error"));
    let (status, _, body) = env.post_to(&base, json!({"repo": "octo/nodb"})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], json!("cache_unavailable"));
    assert_eq!(env.fake.total_calls(), 0);

    // The database is back: the service reconnects by itself, on the first request.
    relay.restore().await;
    assert_eq!(health(base.clone()).await.status(), StatusCode::OK);
    let (status, _, body) = env.post_to(&base, json!({"repo": "octo/nodb"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    let db = database();
    let mut config = Config::defaults();
    config.redis_url = db.url();
    config.ttl = 10;
    config.ttl_jitter = 10;
    assert!(AppState::new(&config).await.is_err());
    config.ttl_jitter = 0;
    config.ttl = 0;
    assert!(AppState::new(&config).await.is_err());
}
