//! The fixed window and sliding log algorithms, blocking, client identity, and the routes,
//! end to end over HTTP against an in-process Cinnabar server.

mod common;

use cinnabar_example_rate_limiter::{Algorithm, AppState, Config};
use cinnabar_testkit::Relay;
use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn fixed_window_limits_at_the_configured_count() {
    limits_at_the_configured_count(Algorithm::FixedWindow).await;
}

#[tokio::test]
async fn sliding_log_limits_at_the_configured_count() {
    limits_at_the_configured_count(Algorithm::SlidingLog).await;
}

#[tokio::test]
async fn fixed_window_resets_after_the_window() {
    resets_after_the_window(Algorithm::FixedWindow).await;
}

#[tokio::test]
async fn sliding_log_resets_after_the_window() {
    resets_after_the_window(Algorithm::SlidingLog).await;
}

#[tokio::test]
async fn fixed_window_two_instances_share_the_limit() {
    two_instances_share_the_limit(Algorithm::FixedWindow).await;
}

#[tokio::test]
async fn sliding_log_two_instances_share_the_limit() {
    two_instances_share_the_limit(Algorithm::SlidingLog).await;
}

#[tokio::test]
async fn fixed_window_blocks_repeat_offenders() {
    blocks_repeat_offenders(Algorithm::FixedWindow, "ratelimit:fw:127.0.0.1").await;
}

#[tokio::test]
async fn sliding_log_blocks_repeat_offenders() {
    blocks_repeat_offenders(Algorithm::SlidingLog, "ratelimit:sl:127.0.0.1").await;
}

#[tokio::test]
async fn limiter_keys_expire_by_themselves() {
    for (algorithm, key) in [
        (Algorithm::FixedWindow, "ratelimit:fw:127.0.0.1"),
        (Algorithm::SlidingLog, "ratelimit:sl:127.0.0.1"),
    ] {
        let env = Env::start(algorithm, |c| c.window_secs = 30).await;
        env.hello().await;
        let pttl = env.pttl(key).await;
        assert!((1..=30_000).contains(&pttl), "{key}: {pttl}");
    }
}

#[tokio::test]
async fn sliding_log_counts_only_allowed_requests() {
    let env = Env::start(Algorithm::SlidingLog, |c| c.limit = 3).await;
    for _ in 0..10 {
        env.hello().await;
    }
    let mut db = env.redis().await;
    let n: i64 = redis::cmd("ZCARD")
        .arg("ratelimit:sl:127.0.0.1")
        .query_async(&mut db)
        .await
        .unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_trusted() {
    // Untrusted: a client cannot escape its limit by making up addresses.
    let env = Env::start(Algorithm::FixedWindow, |c| c.limit = 2).await;
    assert_eq!(env.hello_from("127.0.0.10").await.status, StatusCode::OK);
    assert_eq!(env.hello_from("127.0.0.11").await.status, StatusCode::OK);
    assert_limited(&env.hello_from("127.0.0.12").await, 2, 60);

    // Trusted (behind our proxy): each forwarded client has its own limit.
    let env = Env::start(Algorithm::FixedWindow, |c| {
        c.limit = 2;
        c.trust_x_forwarded_for = true;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(env.hello_from("127.0.0.10").await.status, StatusCode::OK);
    }
    assert_limited(&env.hello_from("127.0.0.10").await, 2, 60);
    let a = env.hello_from("127.0.0.11").await;
    assert_allowed(&a, 2, 1, 60);
    assert_eq!(a.body["client"], json!("127.0.0.11"));
    // The last entry is the one our proxy added; earlier ones are the client's word.
    let a = env.hello_from("127.0.0.10, 127.0.0.12").await;
    assert_eq!(a.body["client"], json!("127.0.0.12"));
}

#[tokio::test]
async fn login_is_limited_and_checks_credentials() {
    let env = Env::start(Algorithm::SlidingLog, |c| c.limit = 3).await;
    let a = env.login("demo", "demo").await;
    assert_allowed(&a, 3, 2, 60);
    assert_eq!(a.body, json!({"status": "ok", "user": "demo"}));
    let a = env.login("demo", "guess").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.remaining, Some(1));
    let a = env
        .send(env.http.post(format!("{}/login", env.base)).body("nope"))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.remaining, Some(0));
    // Even the right password is refused once the limit is reached.
    assert_limited(&env.login("demo", "demo").await, 3, 60);
}

#[tokio::test]
async fn health_is_not_limited() {
    let env = Env::start(Algorithm::FixedWindow, |c| c.limit = 1).await;
    for _ in 0..5 {
        let a = env.send(env.http.get(format!("{}/health", env.base))).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body, json!({"status": "ok", "database": "ok"}));
        assert_eq!(a.limit, None);
    }
}

#[tokio::test]
async fn without_the_database_fails_closed_or_open() {
    let env = Env::start(Algorithm::FixedWindow, |_| {}).await;
    let relay = Relay::start(env.db.addr()).await;
    let via_relay = Config {
        redis_url: relay.url(),
        ..env.config.clone()
    };
    let closed = Env::instance_with(&via_relay).await;
    let open = Env::instance_with(&Config {
        fail_open: true,
        ..via_relay
    })
    .await;
    assert_allowed(&env.hello_at(&closed).await, 5, 4, 60);
    relay.cut().await;

    let a = env.hello_at(&closed).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{a:?}");
    assert_eq!(a.body["error"], json!("limiter_unavailable"));
    let a = env.send(env.http.get(format!("{closed}/health"))).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    // Failing open: served, without RateLimit headers (nothing is known).
    let a = env.hello_at(&open).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.limit, None);

    // Back: the count went on where it was (the database kept it).
    relay.restore().await;
    assert_allowed(&env.hello_at(&closed).await, 5, 3, 60);
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    let db = database();
    let mut config = Config::defaults();
    config.redis_url = db.url();
    config.limit = 0;
    assert!(AppState::new(&config).await.is_err());
    config.limit = 1;
    config.window_secs = 0;
    assert!(AppState::new(&config).await.is_err());
}
