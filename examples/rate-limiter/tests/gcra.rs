//! GCRA through the server's native CL.THROTTLE.
//!
//! The same checks as the other algorithms (tests/limits.rs), plus GCRA's own burst setting.
//! A server without the command makes the service refuse to start (`LimiterError::NoThrottle`).

mod common;

use cinnabar_example_rate_limiter::{Algorithm, AppState, Config};
use common::*;

#[tokio::test]
async fn gcra_limits_at_the_configured_count() {
    limits_at_the_configured_count(Algorithm::Gcra).await;
}

#[tokio::test]
async fn gcra_resets_after_the_window() {
    resets_after_the_window(Algorithm::Gcra).await;
}

#[tokio::test]
async fn gcra_two_instances_share_the_limit() {
    two_instances_share_the_limit(Algorithm::Gcra).await;
}

#[tokio::test]
async fn gcra_blocks_repeat_offenders() {
    blocks_repeat_offenders(Algorithm::Gcra, "ratelimit:gcra:127.0.0.1").await;
}

#[tokio::test]
async fn gcra_burst_is_configurable() {
    // 10 per minute with no burst: one request, then one every 6 s.
    let env = Env::start(Algorithm::Gcra, |c| {
        c.limit = 10;
        c.gcra_burst = Some(0);
    })
    .await;
    let a = env.hello().await;
    assert_allowed(&a, 1, 0, 60);
    let a = env.hello().await;
    assert_limited(&a, 1, 60);
    assert!(a.retry_after.unwrap() <= 6, "{a:?}");
}

#[tokio::test]
async fn gcra_start_up_checks_for_cl_throttle() {
    let db = database();
    let mut config = Config::defaults();
    config.redis_url = db.url();
    config.algorithm = Algorithm::Gcra;
    let result = AppState::new(&config).await;
    assert!(result.is_ok(), "{:?}", result.err());
}
