//! Per-client rate limiting for an HTTP service, with the counters in Cinnabar (or any
//! Redis) so that every instance of the service enforces one shared limit.
//!
//! The limiter is an axum middleware in front of the protected routes (`POST /login`,
//! `GET /api/hello`); `GET /health` is outside it. Every answer of a protected route carries
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a refused one is 429 with
//! `Retry-After`. See the crate's README for the algorithms and their trade-offs.

pub mod block;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod limiter;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use block::Blocker;
pub use config::{Algorithm, Config};
use db::Db;
use limiter::{Decision, Limiter, LimiterError};

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] redis::RedisError),
    #[error(transparent)]
    Limiter(#[from] LimiterError),
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    conn: Db,
    limiter: Limiter,
    blocker: Blocker,
    trust_x_forwarded_for: bool,
    fail_open: bool,
    login_user: String,
    login_password: String,
}

impl AppState {
    /// Connects to the database and sets up the configured algorithm.
    pub async fn new(config: &Config) -> Result<AppState, StartError> {
        let mut conn = Db::connect(&config.redis_url, config.redis_timeout()).await?;
        let limiter = Limiter::new(config, &mut conn).await?;
        Ok(AppState {
            conn,
            limiter,
            blocker: Blocker::new(
                &config.key_prefix,
                config.block_after,
                config.window(),
                Duration::from_secs(config.block_secs),
            ),
            trust_x_forwarded_for: config.trust_x_forwarded_for,
            fail_open: config.fail_open,
            login_user: config.login_user.clone(),
            login_password: config.login_password.clone(),
        })
    }
}

/// The routes: the protected ones behind the limiter, `/health` outside it.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/login", post(login))
        .route("/api/hello", get(hello))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit));
    Router::new()
        .merge(protected)
        .route("/health", get(health))
        .with_state(state)
}

/// Serves on `listener`, giving handlers the peer address (the client identity).
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The client as the limiter knows it, for handlers that want to show it.
#[derive(Clone)]
struct Client(String);

/// The middleware: blocked clients are refused at once; everyone else is counted, and
/// refused (with a strike towards a block) or let through. Both carry the RateLimit headers.
async fn rate_limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let client = client_ip::client_ip(&req, state.trust_x_forwarded_for);
    let mut conn = state.conn.clone();

    match state.blocker.blocked(&mut conn, &client).await {
        Ok(Some(left)) => return blocked(state.limiter.limit(), left),
        Ok(None) => {}
        Err(e) => return database_down(&state, e, req, next).await,
    }
    let decision = match state.limiter.check(&mut conn, &client).await {
        Ok(d) => d,
        Err(e) => return database_down(&state, e, req, next).await,
    };
    if !decision.allowed {
        match state.blocker.strike(&mut conn, &client).await {
            Ok(Some(block)) => {
                tracing::info!(client, secs = block.as_secs(), "client blocked");
                return blocked(decision.limit, block);
            }
            Ok(None) => {}
            // The refusal stands; only the strike is lost.
            Err(e) => tracing::warn!(error = %e, "could not record a strike"),
        }
        let retry = decision.retry_after.unwrap_or(decision.reset_after);
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({
                "status": "error",
                "error": "rate_limited",
                "message": format!("too many requests; retry in {} s", ceil_secs(retry)),
            })),
        )
            .into_response();
        set_headers(r.headers_mut(), &decision);
        set_retry_after(r.headers_mut(), retry);
        return r;
    }
    req.extensions_mut().insert(Client(client));
    let mut r = next.run(req).await;
    set_headers(r.headers_mut(), &decision);
    r
}

/// The answer to a blocked client: 429, `Retry-After` = what is left of the block.
fn blocked(limit: u64, left: Duration) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({
            "status": "error",
            "error": "blocked",
            "message": format!("too many refused requests; blocked for {} s", ceil_secs(left)),
        })),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(RATELIMIT_LIMIT, limit.into());
    h.insert(RATELIMIT_REMAINING, 0u64.into());
    h.insert(RATELIMIT_RESET, ceil_secs(left).into());
    set_retry_after(h, left);
    r
}

/// Without the database the limit cannot be checked: refuse with 503, or with
/// `--fail-open` serve the request unlimited (no RateLimit headers, since we know nothing).
async fn database_down(
    state: &AppState,
    e: redis::RedisError,
    req: Request,
    next: Next,
) -> Response {
    tracing::warn!(error = %e, fail_open = state.fail_open, "rate limit not checked");
    if state.fail_open {
        return next.run(req).await;
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "status": "error",
            "error": "limiter_unavailable",
            "message": format!("rate limiter unavailable: {e}"),
        })),
    )
        .into_response()
}

/// Whole seconds, rounded up: a client told to wait 0 s would come back too early.
fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

fn set_headers(h: &mut HeaderMap, d: &Decision) {
    h.insert(RATELIMIT_LIMIT, d.limit.into());
    h.insert(RATELIMIT_REMAINING, d.remaining.into());
    h.insert(RATELIMIT_RESET, ceil_secs(d.reset_after).into());
}

fn set_retry_after(h: &mut HeaderMap, d: Duration) {
    h.insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from(ceil_secs(d).max(1)),
    );
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

/// `POST /login`: a demonstration login (the thing attackers hammer, hence rate limited).
/// Credentials come from the configuration; a real service would check a user store.
async fn login(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<LoginRequest>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "status": "error",
                "error": "bad_request",
                "message": "body must be JSON like {\"username\":\"...\",\"password\":\"...\"}",
            })),
        )
            .into_response();
    };
    if req.username == state.login_user && req.password == state.login_password {
        (
            StatusCode::OK,
            Json(json!({"status": "ok", "user": req.username})),
        )
            .into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "status": "error",
                "error": "invalid_credentials",
                "message": "wrong user name or password",
            })),
        )
            .into_response()
    }
}

/// `GET /api/hello`: any protected API route.
async fn hello(client: Option<Extension<Client>>) -> Response {
    let client = client.map(|Extension(Client(c))| c);
    Json(json!({"status": "ok", "message": "hello", "client": client})).into_response()
}

/// `GET /health`: 200 while the database answers PING, 503 otherwise. Not rate limited.
async fn health(State(state): State<AppState>) -> Response {
    let mut conn = state.conn.clone();
    let ping: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
    match ping {
        Ok(_) => Json(json!({"status": "ok", "database": "ok"})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "database": e.to_string()})),
        )
            .into_response(),
    }
}
