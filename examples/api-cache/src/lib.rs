//! A read-through cache of GitHub star counts kept in Cinnabar (or any Redis).
//!
//! `POST /data` with `{"repo": "owner/name"}` answers `{"status":"ok","stars":N,"cached":B}`:
//! from the database when the entry is there, otherwise from the upstream (GitHub's REST
//! API), storing the answer with a TTL. See the crate's README for the design.
//!
//! The library holds everything (configuration, router, state) so tests and other programs
//! can run the service in-process; `main.rs` only parses flags and serves.

pub mod config;
mod db;
mod fill;
pub mod repo;
pub mod singleflight;
pub mod store;
pub mod upstream;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub use config::Config;
use fill::Filler;
pub use fill::{FillError, Filled};
use repo::RepoName;
use singleflight::{Role, SingleFlight};
use store::{Cached, Entry, Store};
use upstream::{Upstream, UpstreamError};

/// The `Cache-Status` header (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// Names this cache in `Cache-Status`.
const CACHE_NAME: &str = "cinnabar";

/// Key prefix of every key the service writes.
const KEY_PREFIX: &str = "apicache:";

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] redis::RedisError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    filler: Filler,
    flights: SingleFlight<Result<Filled, FillError>>,
}

impl AppState {
    /// Checks the configuration, connects to the database and builds the upstream client.
    pub async fn new(config: &Config) -> Result<AppState, StartError> {
        if config.ttl == 0 {
            return Err(StartError::Config("--ttl must be at least 1 second".into()));
        }
        if config.ttl_jitter >= config.ttl {
            return Err(StartError::Config(
                "--ttl-jitter must be smaller than --ttl".into(),
            ));
        }
        if config.upstream_timeout_ms == 0 {
            return Err(StartError::Config(
                "--upstream-timeout-ms must be positive".into(),
            ));
        }
        let store = Store::connect(&config.redis_url, config.redis_timeout(), KEY_PREFIX).await?;
        let upstream = Upstream::new(
            &config.upstream_url,
            config.upstream_timeout(),
            config.github_token.as_deref(),
        )?;
        Ok(AppState {
            filler: Filler {
                store,
                upstream,
                ttl: config.ttl(),
                ttl_jitter: Duration::from_secs(config.ttl_jitter),
                negative_ttl: Duration::from_secs(config.negative_ttl),
                lock_ttl: config.lock_ttl(),
            },
            flights: SingleFlight::default(),
        })
    }
}

/// The service's routes: `POST /data` and `GET /health`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/data", post(data))
        .route("/health", get(health))
        .with_state(state)
}

/// Serves on `listener` until the future is dropped or the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

#[derive(Deserialize)]
struct DataRequest {
    repo: String,
}

/// `POST /data`: validate, read the cache, fill on a miss.
async fn data(State(state): State<AppState>, body: Bytes) -> Response {
    // Through `Value` first: serde would also read a struct from an array (`["a/b"]`), and
    // the API takes an object only.
    let parsed = serde_json::from_slice::<serde_json::Value>(&body).and_then(|v| {
        if v.is_object() {
            serde_json::from_value::<DataRequest>(v)
        } else {
            Err(serde::de::Error::custom("expected an object"))
        }
    });
    let req = match parsed {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("body must be JSON like {{\"repo\":\"owner/name\"}}: {e}"),
                None,
            )
        }
    };
    let repo = match RepoName::parse(req.repo.trim()) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_repo",
                &format!("invalid repository {:?}: {e}", req.repo),
                None,
            )
        }
    };
    let id = repo.cache_id();
    match state.filler.store.get(&id).await {
        Ok(Some(entry)) => return answer_entry(&repo, entry, "hit"),
        Ok(None) => {}
        Err(e) => return cache_down(&e.to_string()),
    }
    let filler = state.filler.clone();
    let fill_repo = repo.clone();
    let (result, role) = state.flights.run(&id, move || filler.fill(fill_repo)).await;
    let collapsed = if role == Role::Follower {
        "; collapsed"
    } else {
        ""
    };
    match result {
        // Another fill (usually another instance's) stored it while we waited: its fetch
        // was reused, which is what RFC 9211 calls collapsed.
        Some(Ok(Filled::FromCache(entry))) => answer_entry(&repo, entry, "fwd=uri-miss; collapsed"),
        Some(Ok(Filled::Fetched { value, stored })) => {
            let mut status = format!("fwd=uri-miss; fwd-status={}", fwd_status(value));
            match (stored, role) {
                (Some(ttl), Role::Leader) => {
                    status.push_str(&format!("; stored; ttl={}", ttl.as_secs()))
                }
                (Some(ttl), Role::Follower) => {
                    status.push_str(&format!("; collapsed; ttl={}", ttl.as_secs()))
                }
                (None, _) => status.push_str(collapsed),
            }
            answer_value(&repo, value, false, &status)
        }
        Some(Err(e)) => fill_failed(&e, collapsed),
        None => {
            let mut r = error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the fill task failed",
                None,
            );
            set_cache_status(&mut r, "fwd=uri-miss; detail=internal");
            r
        }
    }
}

fn fwd_status(value: Cached) -> u16 {
    match value {
        Cached::Stars(_) => 200,
        Cached::NotFound => 404,
    }
}

/// An answer read from the database; `how` is the `Cache-Status` part before the TTL.
fn answer_entry(repo: &RepoName, entry: Entry, how: &str) -> Response {
    let status = match entry.ttl {
        Some(ttl) => format!("{how}; ttl={}", ttl.as_secs()),
        None => how.to_string(),
    };
    answer_value(repo, entry.value, true, &status)
}

/// The answer for a value, wherever it came from: 200 with the count, or 404.
fn answer_value(repo: &RepoName, value: Cached, cached: bool, cache_status: &str) -> Response {
    let mut r = match value {
        Cached::Stars(stars) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "stars": stars, "cached": cached})),
        )
            .into_response(),
        Cached::NotFound => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("repository {repo} does not exist or is private"),
            Some(cached),
        ),
    };
    set_cache_status(&mut r, cache_status);
    r
}

/// Upstream failures: 504 for a timeout, 502 for anything else it did wrong; 503 when the
/// database failed.
fn fill_failed(e: &FillError, collapsed: &str) -> Response {
    let (code, kind, detail) = match e {
        FillError::Upstream(UpstreamError::Timeout(_)) => (
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "detail=upstream-timeout".to_string(),
        ),
        FillError::Upstream(UpstreamError::Status(s)) => (
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!("fwd-status={s}"),
        ),
        FillError::Upstream(UpstreamError::Unreachable(_)) => (
            StatusCode::BAD_GATEWAY,
            "upstream_unreachable",
            "detail=upstream-unreachable".to_string(),
        ),
        FillError::Upstream(UpstreamError::BadBody(_)) => (
            StatusCode::BAD_GATEWAY,
            "upstream_bad_response",
            "fwd-status=200; detail=bad-body".to_string(),
        ),
        FillError::LockWait(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            "fill_timeout",
            "detail=lock-wait-timeout".to_string(),
        ),
        FillError::Store(msg) => return cache_down(msg),
    };
    let mut r = error(code, kind, &e.to_string(), None);
    set_cache_status(&mut r, &format!("fwd=uri-miss; {detail}{collapsed}"));
    r
}

fn cache_down(msg: &str) -> Response {
    tracing::warn!(error = msg, "database unavailable");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "cache_unavailable",
        &format!("cache unavailable: {msg}"),
        None,
    )
}

/// An error answer: `{"status":"error","error":kind,"message":...}`, plus `cached` for
/// answers that say what the cache knows (404).
fn error(code: StatusCode, kind: &str, message: &str, cached: Option<bool>) -> Response {
    let mut body = json!({"status": "error", "error": kind, "message": message});
    if let Some(cached) = cached {
        body["cached"] = cached.into();
    }
    (code, Json(body)).into_response()
}

fn set_cache_status(r: &mut Response, rest: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("{CACHE_NAME}; {rest}")) {
        r.headers_mut().insert(CACHE_STATUS, v);
    }
}

/// `GET /health`: 200 while the database answers PING, 503 otherwise.
async fn health(State(state): State<AppState>) -> Response {
    match state.filler.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "database": "ok",
                "fills_in_flight": state.flights.in_flight(),
            })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "database": e.to_string()})),
        )
            .into_response(),
    }
}
